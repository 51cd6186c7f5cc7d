#!/usr/bin/env bash
# Checks deploy/postgresql/gateway.conf (TAP): a fresh PostgreSQL 15 cluster starts with it, unchanged
# (an unknown name or a bad value stops the server), and runs with every setting as the file writes
# it (SHOW) — so a typo or a setting this version lacks fails here, not on the operator's server —
# and the durability settings are on. (The dev and test clusters include the file too, with the
# memory lines sized down: every `make test` also starts PostgreSQL with it.)
# Needs PostgreSQL 15 (deploy/dev/deps.sh build). Runs as root or not.
# Environment: DEPLOY (default deploy).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh
DEPLOY=${DEPLOY:-deploy}
CONF=$DEPLOY/postgresql/gateway.conf
PGBIN=/usr/lib/postgresql/15/bin

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
if ! deploy/dev/pg.sh init "$tmp/pg" >"$tmp/init.log" 2>&1; then
	not_ok "a fresh cluster for the check (deploy/dev/pg.sh init)" "$(tail -n 20 "$tmp/init.log")"
	tap_end
	exit
fi
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}
# the file exactly as shipped, included last (pg.sh's dev.conf is not written: pg.sh never starts it)
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
as_owner sh -c 'cat >"$1/gateway.conf" && printf "%s\n" "include = '\''gateway.conf'\''" >>"$1/postgresql.conf"' \
	sh "$tmp/pg" <"$CONF"

# started on a unix socket in the cluster's directory only (no TCP), with the file's memory as written
port=$(deploy/dev/free_port.sh)
if ! as_owner "$PGBIN/pg_ctl" start -w -t 60 -D "$tmp/pg" -l "$tmp/pg/log" -s \
	-o "-c listen_addresses='' -c unix_socket_directories='$tmp/pg' -p $port" >/dev/null 2>&1; then
	not_ok "PostgreSQL 15 starts with $CONF as shipped" "$(tail -n 20 "$tmp/pg/log")"
	tap_end
	exit
fi
trap 'as_owner "$PGBIN/pg_ctl" stop -D "$tmp/pg" -m fast -s >/dev/null 2>&1; rm -rf "$tmp"' EXIT
ok "PostgreSQL 15 starts with $CONF as shipped"
show() { as_owner "$PGBIN/psql" -X -A -t -h "$tmp/pg" -p "$port" -U postgres -d postgres -c "SHOW $1" 2>&1; }

settings=$(sed -nE 's/^([a-z_]+)[[:space:]]*=[[:space:]]*([^#[:space:]]+).*/\1 \2/p' "$CONF")
n=$(wc -l <<<"$settings")
bad=()
while read -r name want; do
	got=$(show "$name")
	[[ $got == "$want" ]] || bad+=("$name: the file says $want, PostgreSQL 15 runs with $got")
done <<<"$settings"
if [[ $n -ge 20 && ${#bad[@]} -eq 0 ]]; then
	ok "PostgreSQL 15 runs with all $n settings of $CONF as written"
else
	not_ok "PostgreSQL 15 runs with all $n settings of $CONF as written" "${bad[@]}"
fi

off=()
for name in fsync synchronous_commit full_page_writes; do
	got=$(show "$name")
	[[ $got == on ]] || off+=("$name = $got")
done
if [[ ${#off[@]} -eq 0 ]]; then
	ok "durability stays on: fsync, synchronous_commit, full_page_writes"
else
	not_ok "durability stays on: fsync, synchronous_commit, full_page_writes" "${off[@]}"
fi
tap_end
