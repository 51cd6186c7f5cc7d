#!/usr/bin/env bash
# Runs every test suite and prints one closing line "N passed, N failed".
# Each suite speaks TAP ("ok …" / "not ok …" lines); a suite that exits non-zero without
# reporting a failure counts as one failure of its own.
#   tests/run.sh              all suites
#   tests/run.sh unit         only suites whose name contains "unit"
# Environment: BUILD (build directory, default build); SAN=1 (make asan: the same suites against the
# sanitizer build, without those that do not run gatewayd or run what the plain pass already ran
# sanitized: the fuzz smoke (its targets are sanitizer builds), static analysis, lint and docs checks).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
filter=${1:-}
PY=/usr/bin/python3
log_dir=$BUILD/test-logs
rm -rf "$log_dir"
mkdir -p "$log_dir"

passed=0
failed=0
failures=()

SAN=${SAN:-}
run_suite() {
	local name=$1
	shift
	[[ -n $filter && $name != *"$filter"* ]] && return 0
	if [[ $SAN == 1 ]]; then
		case $name in fuzz-smoke | analyze | openapi-lint | readme-config) return 0 ;; esac
	fi
	local out="$log_dir/$name.tap"
	local start=$SECONDS
	printf '== %s\n' "$name"
	"$@" >"$out" 2>"$log_dir/$name.err"
	local rc=$?
	local p f
	p=$(grep -cE '^ok ' "$out")
	f=$(grep -cE '^not ok ' "$out")
	grep -E '^(not ok|# )' "$out" | sed 's/^/   /'
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		f=1
		printf '   not ok - %s exited with status %d (see %s)\n' "$name" "$rc" "$log_dir/$name.err"
		tail -n 5 "$log_dir/$name.err" | sed 's/^/   | /'
	fi
	[[ $f -gt 0 ]] && failures+=("$name")
	passed=$((passed + p))
	failed=$((failed + f))
	printf '   %d passed, %d failed (%ds)\n' "$p" "$f" $((SECONDS - start))
}

for t in "$BUILD"/tests/test_*; do
	[[ -x $t ]] || continue
	run_suite "unit-$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
done
run_suite integration-foundation "$PY" tests/integration/test_foundation.py
run_suite integration-web "$PY" tests/integration/test_web.py
run_suite integration-providers "$PY" tests/integration/test_providers.py
run_suite integration-receipts "$PY" tests/integration/test_receipts.py
run_suite integration-terminals "$PY" tests/integration/test_terminals.py
run_suite integration-security "$PY" tests/integration/test_security.py
run_suite integration-proxy "$PY" tests/integration/test_proxy.py
run_suite integration-guard "$PY" tests/integration/test_guard.py
run_suite integration-abuse "$PY" tests/integration/test_abuse.py
run_suite integration-fiscal "$PY" tests/integration/test_fiscal.py
run_suite integration-balance "$PY" tests/integration/test_balance.py
run_suite integration-events "$PY" tests/integration/test_events.py
run_suite integration-console "$PY" tests/integration/test_console.py
run_suite integration-partitions "$PY" tests/integration/test_partitions.py
run_suite chaos-exactly-once "$PY" tests/chaos/exactly_once.py short
run_suite chaos-kill9 "$PY" tests/chaos/kill9.py short
run_suite chaos-db-restart "$PY" tests/chaos/db_restart.py short
run_suite chaos-failover "$PY" tests/chaos/failover.py short
run_suite chaos-smtp-outage "$PY" tests/chaos/smtp_outage.py short
run_suite chaos-leaks "$PY" tests/chaos/leaks.py short
run_suite hostile "$PY" tests/hostile/hostile.py
run_suite e2e-browser "$PY" tests/e2e/test_e2e.py
run_suite e2e-console "$PY" tests/e2e/test_console_e2e.py
run_suite fuzz-smoke tests/fuzz/run.sh build/fuzz 3
run_suite openapi-lint tests/lint_openapi.sh
run_suite analyze tests/analyze/run.sh
run_suite contract node tests/contract/validate.js "$BUILD/test-logs/contract"
run_suite readme-config tests/check_readme.sh
run_suite deploy tests/deploy/run.sh
run_suite secrets-scan tests/secrets_scan.sh   # last: reads what every suite left in test-logs

if [[ ${#failures[@]} -gt 0 ]]; then
	printf 'failed suites: %s (logs in %s)\n' "${failures[*]}" "$log_dir"
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
