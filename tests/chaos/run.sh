#!/usr/bin/env bash
# Runs the reliability suites in full (what `make chaos` runs): the chaos tests in tests/chaos/ at
# CHAOS_SCALE (default full) and the hostile-input corpus, printing each suite's TAP lines and
# figures as they come, then one closing line "N passed, N failed". `make test` runs the short
# versions through tests/run.sh instead.
#   tests/chaos/run.sh [short|full] [NAME...]     NAME: exactly_once kill9 db_restart smtp_outage leaks hostile
# Environment: BUILD (build directory, default build). Logs of the gateways: $BUILD/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
export BUILD
scale=${1:-${CHAOS_SCALE:-full}}
shift || true
PY=/usr/bin/python3
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(exactly_once kill9 db_restart failover smtp_outage leaks hostile)
mkdir -p "$BUILD/test-logs"

passed=0
failed=0
failures=()
for s in "${suites[@]}"; do
	if [[ $s == hostile ]]; then
		cmd=("$PY" tests/hostile/hostile.py)
	else
		cmd=("$PY" "tests/chaos/$s.py" "$scale")
	fi
	printf '== %s (%s)\n' "$s" "$scale"
	start=$SECONDS
	tap=$BUILD/test-logs/chaos-$s.tap
	"${cmd[@]}" 2>"$BUILD/test-logs/chaos-$s.err" | tee "$tap"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^ok ' "$tap")
	f=$(grep -cE '^not ok ' "$tap")
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		f=1
		printf 'not ok - %s exited with status %d (see %s)\n' "$s" "$rc" "$BUILD/test-logs/chaos-$s.err"
		tail -n 5 "$BUILD/test-logs/chaos-$s.err" | sed 's/^/   | /'
	fi
	[[ $f -gt 0 ]] && failures+=("$s")
	passed=$((passed + p))
	failed=$((failed + f))
	printf '   %d passed, %d failed (%ds)\n' "$p" "$f" $((SECONDS - start))
done
if [[ ${#failures[@]} -gt 0 ]]; then
	printf 'failed suites: %s\n' "${failures[*]}"
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
