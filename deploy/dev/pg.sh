#!/usr/bin/env bash
# Private PostgreSQL 15 cluster for development and tests.
#
# Usage:
#   deploy/dev/pg.sh init   DIR         create the cluster in DIR (no-op if it exists)
#   deploy/dev/pg.sh start  DIR PORT    start it on 127.0.0.1:PORT (initializing DIR
#                                       first if needed), wait until it answers,
#                                       create the roles and database "gateway";
#                                       prints the schema owner's URL
#   deploy/dev/pg.sh stop   DIR         fast shutdown (no-op if not running)
#   deploy/dev/pg.sh url    DIR [PORT]  prints the owner's libpq URI (PORT defaults
#                                       to the port the running cluster listens on)
#   deploy/dev/pg.sh service-url DIR [PORT]
#                                       the same for the service role
#   deploy/dev/pg.sh status DIR         "running on port N (pid P)" / "stopped";
#                                       exit 0 running, 3 stopped, 4 no cluster
#
# Settings: deploy/postgresql/gateway.conf (the production file), then the dev overrides that size
# memory and WAL down; DEV_PG_SHARED_BUFFERS (default 128MB) sets shared_buffers, e.g. for `make bench`.
#
# Only stdout carries the URL (start, url) or the state (status); progress and
# errors go to stderr, so `URL=$(deploy/dev/pg.sh start var/pg 5433)` works.
#
# The cluster listens on 127.0.0.1 only, with trust authentication (initdb
# -A trust): fine for a dev box / CI sandbox, never for anything else. The
# unix socket lives in DIR itself. The server log is DIR/log. fsync stays on:
# tests should see the same durability behaviour as production.
#
# Two roles, as in production (README "Database roles"): gateway_owner owns the
# database and its schema (`gatewayd migrate` runs as it; CREATEROLE so migrate can
# create the service role, CREATEDB for the tests' extra databases) and the
# service role (GATEWAY_SERVICE_ROLE, default gateway_service) that `gatewayd
# serve` and the CLI use; here it may log in (trust), in production it gets its
# own password or a login role as a member. Neither is a superuser.
#
# PostgreSQL refuses to run as root. When this script runs as root, DIR is
# owned by the `postgres` system user (from Debian's postgresql-common) and
# initdb / pg_ctl run through `runuser -u postgres --`; otherwise everything
# runs as the calling user.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
GATEWAY_CONF=$(dirname -- "$(realpath -- "$0")")/../postgresql/gateway.conf
PROG=${0##*/}
DB_NAME=gateway
DB_USER=postgres                 # the superuser: creates roles and the database
OWNER=gateway_owner
SERVICE=${GATEWAY_SERVICE_ROLE:-gateway_service}
START_TIMEOUT=30

usage() {
    sed -n '4,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

note() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir_arg=$2
port=${3:-}

case $cmd in
    init | stop | status) [[ $# -eq 2 ]] || usage ;;
    start) [[ $# -eq 3 ]] || usage ;;
    url | service-url) [[ $# -eq 2 || $# -eq 3 ]] || usage ;;
    *) usage ;;
esac
if [[ -n $port ]] && ! [[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]]; then
    die "bad port: $port"
fi

[[ -x $PGBIN/pg_ctl ]] || die "PostgreSQL 15 not found in $PGBIN (run deploy/dev/deps.sh build)"

# Absolute path, so the script works from any cwd and the server (which
# chdirs into its data directory) sees the same path.
DIR=$(realpath -m -- "$dir_arg")
[[ $DIR != / ]] || die "refusing to use / as the cluster directory"
case $DIR in
    *\'* | *$'\n'*) die "DIR must not contain quotes or newlines: $DIR" ;;
esac
LOG=$DIR/log

if [[ $(id -u) -eq 0 ]]; then
    getent passwd postgres >/dev/null || die "running as root but there is no 'postgres' user (install postgresql-15: deploy/dev/deps.sh build)"
    AS_ROOT=1
else
    AS_ROOT=0
fi

# Run a command as the cluster's owner. cd / first: the caller's cwd (e.g.
# /root) may be unreadable for postgres, which makes initdb/psql complain.
as_pg() {
    if [[ $AS_ROOT -eq 1 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

is_cluster() { [[ -f $DIR/PG_VERSION ]]; }

# Prints the port of the running postmaster (line 4 of postmaster.pid), or
# fails when the cluster is not running.
running_port() {
    is_cluster || return 1
    as_pg "$PGBIN/pg_ctl" status -D "$DIR" >/dev/null 2>&1 || return 1
    local p
    p=$(sed -n 4p "$DIR/postmaster.pid" 2>/dev/null) || return 1
    [[ $p =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$p"
}

print_url() {
    printf 'postgresql://%s@127.0.0.1:%s/%s\n' "${2:-$OWNER}" "$1" "$DB_NAME"
}

# When running as root, the postgres user must be able to traverse every
# parent of DIR (e.g. for /work/main/var/pg: /, /work, /work/main, /work/main/var).
# We walk from / down and add only the search bit (o+x, not o+r: nobody can
# list those directories because of it) to each directory postgres cannot
# enter yet, and say so on stderr. On a normal Debian box with umask 022
# (and for anything under /tmp) nothing needs changing; it matters for trees
# created with umask 077 or checked out under a private home such as /root.
ensure_parents_traversable() {
    [[ $AS_ROOT -eq 1 ]] || return 0
    local parent path="" part
    parent=$(dirname -- "$DIR")
    local -a parts
    IFS=/ read -r -a parts <<<"${parent#/}"
    if ! runuser -u postgres -- test -x /; then
        chmod o+x / && note "chmod o+x / (so user postgres can reach $DIR)"
    fi
    for part in "${parts[@]}"; do
        [[ -n $part ]] || continue
        path=$path/$part
        if ! (cd / && runuser -u postgres -- test -x "$path"); then
            chmod o+x -- "$path"
            note "chmod o+x $path (so user postgres can reach $DIR)"
        fi
    done
}

# Creates DIR (if missing) owned by the cluster user, mode 0700.
prepare_dir() {
    mkdir -p -- "$DIR"
    if [[ $AS_ROOT -eq 1 ]]; then
        ensure_parents_traversable
        if [[ $(stat -c %U -- "$DIR") != postgres ]]; then
            chown -R postgres:postgres -- "$DIR"
        fi
    fi
    chmod 700 -- "$DIR"
}

# Serialize init/start/stop on the same DIR (parallel make targets, etc.).
# The lock is a flock on DIR itself, on fd 9; fd 9 is closed for pg_ctl start
# so the postmaster does not inherit (and keep) the lock.
take_lock() {
    command -v flock >/dev/null || return 0
    exec 9<"$DIR"
    flock 9
}

pick_locale() {
    if locale -a 2>/dev/null | grep -Eqi '^c\.utf-?8$'; then
        echo C.UTF-8
    else
        note "locale C.UTF-8 not available, using C"
        echo C
    fi
}

do_init() {
    prepare_dir
    take_lock
    if is_cluster; then
        return 0
    fi
    if [[ -n $(ls -A -- "$DIR") ]]; then
        die "$DIR is not empty and holds no PostgreSQL cluster; refusing to initialize it"
    fi
    local loc out
    loc=$(pick_locale)
    note "initializing PostgreSQL 15 cluster in $DIR"
    if ! out=$(as_pg "$PGBIN/initdb" -D "$DIR" -A trust -U "$DB_USER" -E UTF8 \
        --locale="$loc" 2>&1); then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
    # All of our settings live in DIR/dev.conf, rewritten at each start (it
    # carries the port); postgresql.conf includes it last so it wins.
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    as_pg sh -c 'cat >>"$1"' sh "$DIR/postgresql.conf" <<'EOF'

# deploy/dev/pg.sh: the dev settings are in dev.conf (rewritten at each start)
include_if_exists = 'dev.conf'
EOF
}

write_dev_conf() {
    local p=$1 sockdir=$DIR
    # A unix socket path must fit in sun_path (107 bytes incl. ".s.PGSQL.PORT").
    if ((${#DIR} + ${#p} + 10 > 107)); then
        note "path too long for a unix socket, TCP only: $DIR"
        sockdir=
    fi
    # The production settings first (a copy: the server's user may not read the checkout), then
    # what only fits a dedicated database server, sized down: several of these clusters run at
    # once on one machine, and each throwaway cluster would keep up to min_wal_size of WAL.
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    as_pg sh -c 'cat >"$1"' sh "$DIR/gateway.conf" <"$GATEWAY_CONF"
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    as_pg sh -c 'cat >"$1"' sh "$DIR/dev.conf" <<EOF
# Written by deploy/dev/pg.sh at each start; edits are lost.
include = 'gateway.conf'
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$sockdir'
shared_buffers = ${DEV_PG_SHARED_BUFFERS:-128MB}
effective_cache_size = 1GB
maintenance_work_mem = 256MB
max_connections = 200
max_wal_size = 1GB
min_wal_size = 80MB
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
}

log_tail() {
    if [[ -r $LOG ]]; then
        echo "--- last lines of $LOG ---" >&2
        tail -n 25 -- "$LOG" >&2
    fi
}

ensure_roles() {
    local p=$1 i
    [[ $SERVICE =~ ^[a-z0-9_]{1,63}$ ]] || die "GATEWAY_SERVICE_ROLE: a role name of lowercase letters, digits and _"
    for i in 1 2 3; do
        # concurrent starts may race to create a role: check again on failure
        if as_pg "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$p" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 \
            -c "DO \$\$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$OWNER') THEN
                      CREATE ROLE $OWNER LOGIN CREATEROLE CREATEDB;
                  END IF;
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$SERVICE') THEN
                      CREATE ROLE $SERVICE LOGIN;
                  END IF;
                END \$\$" >/dev/null 2>&1; then
            return 0
        fi
        sleep "0.$i"
    done
    die "could not create the roles $OWNER and $SERVICE"
}

ensure_database() {
    local p=$1 exists i owner
    ensure_roles "$p"
    for i in 1 2 3; do
        exists=$(as_pg "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$p" -U "$DB_USER" -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ||
            die "cannot query databases on port $p"
        if [[ $exists == 1 ]]; then
            owner=$(as_pg "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$p" -U "$DB_USER" -d postgres -tAc \
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$DB_NAME'")
            [[ $owner == "$OWNER" ]] ||
                die "database $DB_NAME in $DIR is owned by $owner, not $OWNER (made before the two roles): stop it and remove $DIR"
            return 0
        fi
        # Another start may create it at the same moment: check again on failure.
        if as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$p" -U "$DB_USER" -O "$OWNER" "$DB_NAME" 2>/dev/null; then
            return 0
        fi
        sleep "0.$i"
    done
    die "could not create database $DB_NAME"
}

do_start() {
    local p=$1 rp
    if ! is_cluster; then
        do_init
    else
        prepare_dir
        take_lock
    fi
    if rp=$(running_port); then
        if [[ $rp != "$p" ]]; then
            note "already running on port $rp (not $p); using it"
        fi
        ensure_database "$rp"
        print_url "$rp"
        return 0
    fi
    write_dev_conf "$p"
    note "starting PostgreSQL 15 ($DIR) on 127.0.0.1:$p, log $LOG"
    # -W: don't let pg_ctl wait; we poll pg_isready ourselves (with our timeout
    # and a useful error). The postmaster's output goes to DIR/log, so it holds
    # none of our file descriptors (and 9<&- drops the lock fd).
    if ! as_pg "$PGBIN/pg_ctl" start -W -D "$DIR" -l "$LOG" -s 9<&- </dev/null >/dev/null 2>&1; then
        log_tail
        die "pg_ctl start failed"
    fi
    local started=$SECONDS
    while :; do
        if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$p" -U "$DB_USER" -t 2; then
            break
        fi
        if ((SECONDS - started >= START_TIMEOUT)); then
            log_tail
            die "PostgreSQL did not accept connections on 127.0.0.1:$p within ${START_TIMEOUT}s"
        fi
        sleep 0.2
        # After a grace second (for postmaster.pid to appear), fail fast if
        # the postmaster is gone: port in use, bad setting, no memory...
        if ((SECONDS - started >= 1)) &&
            ! as_pg "$PGBIN/pg_ctl" status -D "$DIR" >/dev/null 2>&1; then
            log_tail
            die "PostgreSQL exited during startup"
        fi
    done
    ensure_database "$p"
    print_url "$p"
}

do_stop() {
    if ! is_cluster; then
        note "no cluster in $DIR"
        return 0
    fi
    take_lock
    if ! running_port >/dev/null; then
        return 0
    fi
    note "stopping PostgreSQL ($DIR)"
    if ! as_pg "$PGBIN/pg_ctl" stop -D "$DIR" -m fast -w -t 60 -s; then
        log_tail
        die "pg_ctl stop failed"
    fi
}

do_status() {
    if ! is_cluster; then
        echo "no cluster in $DIR"
        return 4
    fi
    local rp pid
    if rp=$(running_port); then
        pid=$(sed -n 1p "$DIR/postmaster.pid" 2>/dev/null || true)
        echo "running on port $rp (pid $pid)"
        return 0
    fi
    echo "stopped"
    return 3
}

do_url() {
    local p=${1:-}
    if [[ -z $p ]]; then
        p=$(running_port) || die "no port given and the cluster in $DIR is not running"
    fi
    print_url "$p" "${2:-$OWNER}"
}

case $cmd in
    init) do_init ;;
    start) do_start "$port" ;;
    stop) do_stop ;;
    status) do_status ;;
    url) do_url "$port" ;;
    service-url) do_url "$port" "$SERVICE" ;;
esac
