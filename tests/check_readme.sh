#!/usr/bin/env bash
# The README's configuration table must be exactly what `gatewayd config` prints. TAP output.
#   tests/check_readme.sh           check
#   tests/check_readme.sh --update  rewrite the table in README.md from the binary
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
want=$("$BUILD/gatewayd" config)
if [[ ${1:-} == --update ]]; then
	/usr/bin/python3 - "$want" <<'PY'
import re, sys
text = open("README.md", encoding="utf-8").read()
table = sys.argv[1]
text = re.sub(r"(<!-- config:begin -->\n).*?(<!-- config:end -->)", lambda m: m.group(1) + table + "\n" + m.group(2),
              text, flags=re.S)
open("README.md", "w", encoding="utf-8").write(text)
PY
fi
have=$(sed -n '/<!-- config:begin -->/,/<!-- config:end -->/p' README.md | sed '1d;$d')
if [[ "$want" == "$have" ]]; then
	echo "ok 1 - README configuration table matches gatewayd config"
else
	echo "not ok 1 - README configuration table matches gatewayd config"
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$have") | sed 's/^/# /'
fi
echo "1..1"
