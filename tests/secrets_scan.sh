#!/usr/bin/env bash
# After the suites: no secret a test used (tokens, passwords, HMAC keys — collected by the harness
# in build/test-logs/secrets.list) and no test card number may appear in any gatewayd log, mail or
# recorded response. TAP output.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
dir=$BUILD/test-logs
patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
{
	[[ -f $dir/secrets.list ]] && sort -u "$dir/secrets.list"
	printf '%s\n' 4111111111111111 '4111 1111 1111 1111' 4000000000000002 '4000 0000 0000 0002'
} >"$patterns"
n=0
bad=0
check() {
	local what=$1
	shift
	n=$((n + 1))
	local files
	files=$(find "$@" -type f 2>/dev/null | grep -v 'secrets.list$' || true)
	local hits=""
	[[ -n $files ]] && hits=$(printf '%s\n' "$files" | xargs grep -lF -f "$patterns" 2>/dev/null || true)
	if [[ -z $hits ]]; then
		echo "ok $n - no secret or card number in $what ($(printf '%s\n' "$files" | grep -c . ) files, $(grep -c . "$patterns") patterns)"
	else
		bad=$((bad + 1))
		echo "not ok $n - secrets or card numbers found in $what"
		printf '%s\n' "$hits" | head -5 | sed 's/^/# /'
	fi
}
check "gatewayd logs" "$dir" -name 'gatewayd-*.jsonl'
check "receipt mails" "$dir/mail"
check "recorded HTTP responses" "$dir/contract"
echo "1..$n"
[[ $bad -eq 0 ]]
