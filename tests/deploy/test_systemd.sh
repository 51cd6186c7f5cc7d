#!/usr/bin/env bash
# Checks deploy/systemd/ (TAP):
#  - systemd-analyze verify of both units (and the credentials drop-in) in a scratch root that holds
#    /usr/local/bin/gatewayd: verify resolves ExecStart= against --root, and it exits 0 on
#    parse warnings ("Unknown key …, ignoring"), so any output at all counts as a failure;
#  - systemd-analyze security --offline: exposure under 2.0 and nothing flagged beyond network access;
#  - the directives the deployment relies on (tests/deploy/systemd_check.py static);
#  - gatewayd run the way the units run it — the sample gatewayd.env, secrets as *_FILE, an
#    unprivileged user — under strace, against a private PostgreSQL: migrate, serve, a few
#    requests, SIGTERM. Every system call, socket family, mapping and file write it made must
#    fit the units' SystemCallFilter=, RestrictAddressFamilies=, MemoryDenyWriteExecute=,
#    ProtectSystem=strict and ProcSubset=pid (nothing here can start the units for real:
#    systemd is not PID 1).
# Environment: BUILD (default build), DEPLOY (default deploy; a copy to try broken units on).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
. tests/deploy/tap.sh
BUILD=${BUILD:-build}
DEPLOY=${DEPLOY:-deploy}
PY=/usr/bin/python3
PSQL=/usr/lib/postgresql/15/bin/psql
GW=$BUILD/gatewayd
UNITS=(gatewayd.service gatewayd-migrate.service gatewayd-charge.service)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy-systemd.XXXXXX")
chmod 755 "$tmp"
gw_pid='' pg_started=''
cleanup() {
	[[ -n $gw_pid ]] && kill -KILL "$gw_pid" 2>/dev/null
	[[ -n $pg_started ]] && deploy/dev/pg.sh stop "$tmp/pg" >/dev/null 2>&1
	chmod -R u+rwX -- "$tmp" 2>/dev/null
	rm -rf -- "$tmp"
}
trap cleanup EXIT

if [[ ! -x $GW ]]; then
	not_ok "$GW exists (run make first)"
	tap_end
	exit
fi
"$GW" config >"$tmp/config.md"

# --- systemd-analyze verify ---------------------------------------------------------------
root=$tmp/root
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system/gatewayd.service.d" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"   # sysinit.target, network-online.target, …
cp "$GW" "$root/usr/local/bin/gatewayd"
for u in "${UNITS[@]}"; do
	cp "$DEPLOY/systemd/$u" "$root/etc/systemd/system/"
done
verify() {
	local out
	out=$(systemd-analyze verify --root="$root" --man=no --recursive-errors=no "$@" 2>&1) || {
		printf '%s\n' "$out"
		return 1
	}
	[[ -z $out ]] || {
		printf '%s\n' "$out"
		return 1
	}
}
cp "$DEPLOY/systemd/gatewayd-charge.timer" "$root/etc/systemd/system/"
check "systemd-analyze verify ${UNITS[*]} gatewayd-charge.timer: no error, no warning" verify "${UNITS[@]}" gatewayd-charge.timer
sed 's/^#\(LoadCredential\|Environment\)=/\1=/' "$DEPLOY"/systemd/credentials.conf.example \
	>"$root/etc/systemd/system/gatewayd.service.d/credentials.conf"
check "systemd-analyze verify gatewayd.service with credentials.conf.example as a drop-in (all lines on)" \
	verify gatewayd.service

# --- systemd-analyze security ---------------------------------------------------------------
for u in "${UNITS[@]}"; do
	rm -f "$root/etc/systemd/system/gatewayd.service.d/credentials.conf"
	if systemd-analyze security --offline=true --root="$root" --threshold=20 --no-pager "$u" \
		>"$tmp/$u.security" 2>&1; then
		ok "$u: systemd-analyze security exposure $(grep -o 'exposure level for [^:]*: [0-9.]* [A-Z]*' \
			"$tmp/$u.security" | sed 's/.*: //') (at most 2.0)"
	else
		not_ok "$u: systemd-analyze security exposure at most 2.0" "$(grep -E '✗|Overall' "$tmp/$u.security")"
	fi
	systemd-analyze security --offline=true --root="$root" --json=short "$u" >"$tmp/$u.json" 2>"$tmp/$u.err"
	helper "$u: security verdicts" "$PY" tests/deploy/systemd_check.py security "$u" "$tmp/$u.json"
done

# --- directives, credentials, sample environment file ----------------------------------------
helper "unit directives" "$PY" tests/deploy/systemd_check.py static "$DEPLOY/systemd" "$tmp/config.md"

# --- gatewayd under strace, configured like the units -----------------------------------------
if ! command -v strace >/dev/null; then
	not_ok "strace is installed (deploy/dev/deps.sh test)"
	tap_end
	exit
fi
port=$(deploy/dev/free_port.sh)
if ! url=$(deploy/dev/pg.sh start "$tmp/pg" "$port" 2>"$tmp/pg.err"); then
	not_ok "private PostgreSQL starts" "$(tail -n 5 "$tmp/pg.err")"
	tap_end
	exit
fi
pg_started=1

# The environment systemd would give: gatewayd.env's assignments, secrets as files (the
# credentials directory), nothing else; run as an unprivileged user, like User=gatewayd.
creds=$tmp/credentials
mkdir -p "$creds"
printf '%s\n' "$url" >"$creds/migrate_database_url" # the schema owner, for migrate
deploy/dev/pg.sh service-url "$tmp/pg" >"$creds/database_url"   # the service role, for serve
printf 'deploy-test-admin-token-%s\n' "$RANDOM$RANDOM" >"$creds/admin_token"
# As root, gatewayd runs as `nobody` (strace -u); otherwise as the calling user.
as_user=()
if [[ $(id -u) -eq 0 ]]; then
	as_user=(-u nobody)
	chown -R nobody "$creds"
fi
chmod 500 "$creds" && chmod 400 "$creds"/*
# (LeakSanitizer cannot run under ptrace: `make asan` builds keep the rest of ASan here.)
env_args=(PATH=/usr/bin:/bin LANG=C.UTF-8 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
while IFS= read -r line; do
	[[ $line =~ ^(GATEWAY_[A-Z0-9_]+)=(.*)$ ]] || continue
	v=${BASH_REMATCH[2]}
	[[ $v == \"*\" && ${#v} -ge 2 ]] && v=${v:1:${#v}-2}
	env_args+=("${BASH_REMATCH[1]}=$v")
done <"$DEPLOY"/systemd/gatewayd.env
gw_port=$(deploy/dev/free_port.sh)
smtp_port=$(deploy/dev/free_port.sh) # nothing listens there: mail stays queued, no file written
env_args+=(GATEWAY_LISTEN="127.0.0.1:$gw_port" GATEWAY_MAIL_URL="smtp://127.0.0.1:$smtp_port"
	GATEWAY_DATABASE_URL_FILE="$creds/database_url" GATEWAY_MIGRATE_DATABASE_URL_FILE="$creds/migrate_database_url"
	GATEWAY_ADMIN_TOKEN_FILE="$creds/admin_token"
	GATEWAY_THREADS=2 GATEWAY_DB_POOL=2)
mkdir -p "$tmp/state/gatewayd"
[[ ${#as_user[@]} -eq 0 ]] || chown nobody "$tmp/state/gatewayd"
strace_gw() { # strace_gw TRACE ARGS... — gatewayd (as nobody when root) from the state directory
	(cd "$tmp/state/gatewayd" && exec env -i "${env_args[@]}" \
		strace -f -qq -o "$1" "${as_user[@]}" "$root/usr/local/bin/gatewayd" "${@:2}")
}
if strace_gw "$tmp/migrate.trace" migrate >"$tmp/migrate.log" 2>&1; then
	ok "gatewayd migrate succeeds with the sample gatewayd.env and credentials as *_FILE"
else
	not_ok "gatewayd migrate succeeds with the sample gatewayd.env and credentials as *_FILE" \
		"$(tail -n 5 "$tmp/migrate.log")"
fi
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$url" -f deploy/dev/demo.sql >"$tmp/demo.log" 2>&1 ||
	not_ok "demo data (deploy/dev/demo.sql) loads" "$(tail -n 3 "$tmp/demo.log")"

strace_gw "$tmp/serve.trace" serve >"$tmp/serve.log" 2>&1 &
strace_pid=$!
up=
for _ in $(seq 100); do
	if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$gw_port/healthz" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$strace_pid" 2>/dev/null || break
	sleep 0.1
done
# the traced gatewayd (strace's child; the path under $tmp makes the match unique)
gw_pid=$(pgrep -x -f "$root/usr/local/bin/gatewayd serve" | head -n 1)
if [[ -n $up && -n $gw_pid ]]; then
	ok "gatewayd serve starts with the sample gatewayd.env as an unprivileged user"
	base=http://127.0.0.1:$gw_port
	bad=()
	for want in "200 /healthz" "200 /readyz" "200 /metrics" "200 /pay" "200 /v1/accounts/lookup?contract=12345" \
		"404 /no-such-route"; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base${want#* }")
		[[ $code == "${want%% *}" ]] || bad+=("GET ${want#* }: HTTP $code, want ${want%% *}")
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
		-H 'Idempotency-Key: deploy-test-1' --data '{"broken json' "$base/v1/payments")
	[[ $code == 4?? ]] || bad+=("POST /v1/payments with broken JSON: HTTP $code, want 4xx")
	if ((${#bad[@]})); then
		not_ok "requests answer as expected while traced" "${bad[@]}"
	else
		ok "requests answer as expected while traced (healthz, readyz, metrics, pay, lookup, 404, bad POST)"
	fi
	start=$SECONDS
	kill -TERM "$gw_pid"
	for _ in $(seq 150); do # at most 15 s, TimeoutStopSec=
		kill -0 "$gw_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$gw_pid" 2>/dev/null; then
		kill -KILL "$gw_pid"
		wait "$strace_pid"
		not_ok "SIGTERM (KillSignal=) stops gatewayd with status 0 within TimeoutStopSec" \
			"still running after 15 s: killed"
	else
		wait "$strace_pid"
		rc=$?
		if [[ $rc -eq 0 ]]; then
			ok "SIGTERM (KillSignal=) stops gatewayd with status 0 within TimeoutStopSec ($((SECONDS - start)) s)"
		else
			not_ok "SIGTERM (KillSignal=) stops gatewayd with status 0 within TimeoutStopSec" "exit status $rc" \
				"$(tail -n 5 "$tmp/serve.log")"
		fi
	fi
	gw_pid=
else
	not_ok "gatewayd serve starts with the sample gatewayd.env as an unprivileged user" \
		"$(tail -n 5 "$tmp/serve.log")"
	[[ -n $gw_pid ]] && kill -KILL "$gw_pid" 2>/dev/null
	gw_pid=
	wait "$strace_pid" 2>/dev/null
fi
helper "gatewayd's system calls fit the sandbox" "$PY" tests/deploy/systemd_check.py trace \
	"$DEPLOY"/systemd/gatewayd.service "$tmp/migrate.trace" "$tmp/serve.trace"

tap_end
