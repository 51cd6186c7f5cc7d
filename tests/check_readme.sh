#!/usr/bin/env bash
# The README's configuration table must be exactly what `gatewayd config` prints. TAP output.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
want=$("$BUILD/gatewayd" config)
have=$(sed -n '/<!-- config:begin -->/,/<!-- config:end -->/p' README.md | sed '1d;$d')
if [[ "$want" == "$have" ]]; then
	echo "ok 1 - README configuration table matches gatewayd config"
else
	echo "not ok 1 - README configuration table matches gatewayd config"
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$have") | sed 's/^/# /'
fi
echo "1..1"
