#!/usr/bin/env bash
# Lints openapi.yaml with Redocly (installed under tests/node_modules by deploy/dev/deps.sh npm).
# Errors and warnings both fail. TAP output.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=$(tests/node_modules/.bin/redocly lint --config tests/redocly.yaml openapi.yaml 2>&1)
rc=$?
if [[ $rc -eq 0 ]] && ! grep -qE 'You have [0-9]+ warning' <<<"$out"; then
	echo "ok 1 - openapi.yaml passes redocly lint without warnings"
else
	echo "not ok 1 - openapi.yaml passes redocly lint without warnings"
	printf '%s\n' "$out" | sed 's/^/# /' | tail -n 60
fi
echo "1..1"
