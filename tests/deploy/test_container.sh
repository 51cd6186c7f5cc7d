#!/usr/bin/env bash
# Checks deploy/container/Containerfile without a container engine (TAP): structure (multi-stage,
# pinned Debian 12 bases, non-root numeric USER, HEALTHCHECK, ENTRYPOINT/CMD/EXPOSE, no secrets),
# the runtime stage's packages against `ldd $BUILD/gatewayd` mapped to Debian packages with
# dpkg -S (tests/deploy/container_check.py), and a dry-run `make` on exactly the files the build
# stage's COPY lines bring in.
# Environment: BUILD (default build), DEPLOY (default deploy; a copy to try a broken file on).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh
BUILD=${BUILD:-build}
GW=$BUILD/gatewayd
CF=${DEPLOY:-deploy}/container/Containerfile

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy-container.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

if [[ ! -f $CF ]]; then
	not_ok "$CF exists"
	tap_end
	exit
fi
if [[ ! -x $GW ]]; then
	not_ok "$GW exists (run make first)"
	tap_end
	exit
fi
"$GW" config >"$tmp/config.md"
helper "Containerfile checks" /usr/bin/python3 tests/deploy/container_check.py "$CF" "$GW" "$tmp/config.md" \
	"$tmp/context"
# The build stage runs `make … build/gatewayd` in /src holding only the COPY'd files. Dry-run
# make there and in the repository (fresh build directory): the source files the two runs
# would read must be the same, or the image would lack a source, a migration or a web asset.
inputs() { # inputs DIR — repository files named by a full dry-run build in DIR
	(cd "$1" && env -u BUILD make -n BUILD=.deploy-dry VERSION=test .deploy-dry/gatewayd 2>&1) |
		tr -s ' \t"=' '\n' | sort -u | while IFS= read -r f; do
			[[ -f $1/$f && $f != .deploy-dry/* ]] && printf '%s\n' "$f"
		done
}
have=$(inputs "$tmp/context")
want=$(inputs "$PWD")
if [[ -n $want && $have == "$want" ]]; then
	ok "the build stage's COPY set holds every file the build reads ($(wc -l <<<"$want") files)"
else
	not_ok "the build stage's COPY set holds every file the build reads" \
		"$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$have") | grep '^[<>]' | head -n 20)"
fi
tap_end
