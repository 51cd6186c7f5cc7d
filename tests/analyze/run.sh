#!/usr/bin/env bash
# Static analysis as a test suite (TAP): the clang static analyzer (scan-build) over a full build of
# the gateway, shellcheck over every shell script the repository tracks, and no call loops between the
# source files of gateway/ and adapters/. Any report fails the suite.
#   tests/analyze/run.sh          (make analyze; make test runs it as the suite "analyze")
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
out=build/analyze                 # its own tree: scan-build must see every file compiled
n=0
fail=0
tap() {   # tap ok|fail description [detail lines on stdin]
	n=$((n + 1))
	if [[ $1 == ok ]]; then
		printf 'ok %d - %s\n' "$n" "$2"
	else
		printf 'not ok %d - %s\n' "$n" "$2"
		fail=1
	fi
}

rm -rf "$out"
log=$(mktemp)
scan-build -o "$out/report" --status-bugs make --no-print-directory -s BUILD="$out" all >"$log" 2>&1
rc=$?
bugs=$(grep -cE 'warning: .*\[[a-z]+\.' "$log")
if [[ $rc -eq 0 && $bugs -eq 0 ]]; then
	tap ok "scan-build: 0 reports over the whole build"
else
	tap fail "scan-build: $bugs reports (exit $rc)"
	grep -E 'warning:|error:' "$log" | sed 's/^/# /' | head -40
fi
rm -f "$log"

mapfile -t scripts < <( (git ls-files '*.sh'; git ls-files | xargs grep -lE '^#!.*(bash|/sh)' 2>/dev/null) | sort -u)
if sc=$(shellcheck "${scripts[@]}" 2>&1); then
	tap ok "shellcheck: ${#scripts[@]} scripts, 0 reports"
else
	tap fail "shellcheck: reports in the scripts"
	printf '%s\n' "$sc" | sed 's/^/# /' | head -60
fi

if cyc=$(/usr/bin/python3 tests/analyze/check_cycles.py "$out"); then
	tap ok "${cyc#ok - }"
else
	tap fail "call loops between source files"
	printf '%s\n' "$cyc" | sed 's/^/# /'
fi
printf '1..%d\n' "$n"
exit $fail
