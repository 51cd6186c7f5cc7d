#!/usr/bin/env bash
# Deployment checks (TAP, one sequence): deploy/systemd (test_systemd.sh), deploy/container
# (test_container.sh), deploy/k8s (test_k8s.sh), deploy/monitoring (test_monitoring.sh),
# deploy/postgresql (test_postgresql.sh). Exits non-zero when any check fails.
# Needs $BUILD/gatewayd (make), systemd-analyze, strace and prometheus (deploy/dev/deps.sh test),
# the npm tools (deploy/dev/deps.sh npm). Runs as root or not; about 25 s.
# Environment: BUILD (default build), DEPLOY (default deploy: point it at a copy to try changes).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh

for t in tests/deploy/test_systemd.sh tests/deploy/test_container.sh tests/deploy/test_k8s.sh \
	tests/deploy/test_monitoring.sh tests/deploy/test_postgresql.sh; do
	printf '# %s\n' "$t"
	out=$("$t" 2>&1)
	rc=$?
	before=$TAP_FAILED
	relay < <(sed -E 's/^(not ok|ok) [0-9]+ - /\1 - /; /^1\.\.[0-9]+$/d' <<<"$out")
	if [[ $rc -ne 0 && $TAP_FAILED -eq $before ]]; then
		not_ok "$t exited with status $rc" "$(tail -n 10 <<<"$out")"
	fi
done
tap_end
