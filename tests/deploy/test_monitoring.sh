#!/usr/bin/env bash
# Checks deploy/monitoring/ (TAP): the alert rules with promtool (check and unit tests), the Grafana
# dashboard's structure, and both against a live gatewayd scraped by a real Prometheus
# (tests/deploy/monitoring_check.py). Needs promtool and prometheus (Debian's prometheus package,
# deploy/dev/deps.sh test) and $BUILD/gatewayd.
# Environment: BUILD (default build), DEPLOY (default deploy; a copy to try broken rules on).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh
BUILD=${BUILD:-build}
DEPLOY=${DEPLOY:-deploy}
export BUILD

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	not_ok "promtool and prometheus are installed (deploy/dev/deps.sh test)"
	tap_end
	exit
fi
if [[ ! -x $BUILD/gatewayd ]]; then
	not_ok "$BUILD/gatewayd exists (run make first)"
	tap_end
	exit
fi
helper "monitoring" /usr/bin/python3 tests/deploy/monitoring_check.py "$DEPLOY"
tap_end
