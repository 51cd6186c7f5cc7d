# shellcheck shell=bash
# tap.sh — TAP helpers for the deploy checks (sourced, not run).
#   ok DESC / not_ok DESC [DIAG...] / check DESC CMD... / helper DESC CMD... / tap_end
# `helper` runs a Python or Node checker that prints "ok - …" / "not ok - …" / "# …"
# lines and renumbers them into this script's sequence (a checker that exits
# non-zero without reporting a failure counts as one). tap_end prints the plan and
# returns non-zero when any check failed.
TAP_N=0
TAP_FAILED=0

ok() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	shift
	local d
	for d in "$@"; do
		printf '%s\n' "$d" | sed 's/^/#   /'
	done
}

# check DESC CMD...: ok when CMD exits 0; otherwise not ok with CMD's output as diagnostics.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc" "$(printf '%s\n' "$out" | tail -n 30)"
	fi
}

relay() {
	local line
	while IFS= read -r line; do
		case $line in
		'ok - '*) ok "${line#ok - }" ;;
		'not ok - '*) not_ok "${line#not ok - }" ;;
		'#'*) printf '%s\n' "$line" ;;
		'') ;;
		*) printf '# %s\n' "$line" ;;
		esac
	done
}

# helper DESC CMD...
helper() {
	local desc=$1 out rc before=$TAP_FAILED
	shift
	out=$("$@" 2>&1)
	rc=$?
	relay <<<"$out"
	if [[ $rc -ne 0 && $TAP_FAILED -eq $before ]]; then
		not_ok "$desc (checker exited with status $rc)" "$(printf '%s\n' "$out" | tail -n 20)"
	fi
}

tap_end() {
	printf '1..%d\n' "$TAP_N"
	[[ $TAP_FAILED -eq 0 ]]
}
