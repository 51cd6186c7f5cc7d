#!/usr/bin/env bash
# Lints openapi.yaml with Redocly (installed under tests/node_modules by deploy/dev/deps.sh npm). TAP output.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(tests/node_modules/.bin/redocly lint --format=stylish openapi.yaml 2>&1)
rc=$?
if [[ $rc -eq 0 ]]; then
	echo "ok 1 - openapi.yaml passes redocly lint"
else
	echo "not ok 1 - openapi.yaml passes redocly lint"
	printf '%s\n' "$out" | sed 's/^/# /' | tail -n 40
fi
echo "1..1"
