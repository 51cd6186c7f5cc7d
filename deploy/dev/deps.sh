#!/usr/bin/env bash
# Installs what the project needs; silent when everything is already there.
#
# Usage:
#   deploy/dev/deps.sh build   Debian packages to build and run the gateway
#   deploy/dev/deps.sh test    build set + test tools (cmocka, clang sanitizers and
#                              libFuzzer, valgrind, aiosmtpd, jq, wrk, curl, chromium, node/npm,
#                              systemd-analyze, strace, prometheus, nginx, haproxy,
#                              scan-build, shellcheck)
#   deploy/dev/deps.sh npm     npm tools (tests/package.json) into tests/node_modules
#
# Debian packages are checked with dpkg-query; only when some are missing does it
# run `apt-get update` once and install exactly those (with sudo when not root).
set -euo pipefail

PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)

BUILD_PKGS=(
    build-essential pkg-config
    libevent-dev libssl-dev libpq-dev libjansson-dev libcurl4-openssl-dev
    libqrencode-dev      # the QR code of fiscal receipts (gateway/qr.c)
    postgresql-15        # the server, for the private cluster (deploy/dev/pg.sh)
    postgresql-client-15
    ca-certificates
)
TEST_PKGS=(
    libcmocka-dev
    clang libclang-rt-14-dev # ASan/UBSan/libFuzzer runtimes for clang 14
    python3-aiosmtpd         # real SMTP server for mailer tests
    valgrind                 # tests/chaos/leaks.py: leak check of gatewayd under load
    jq wrk curl
    chromium                 # headless browser for e2e (driven by playwright-core)
    systemd strace procps    # tests/deploy: systemd-analyze verify/security, gatewayd under strace
    prometheus python3-yaml  # tests/deploy: promtool check/test of deploy/monitoring, a live Prometheus
    nginx haproxy            # tests/integration/test_proxy.py: real reverse proxies in front
    clang-tools shellcheck   # make analyze: scan-build over the build, shellcheck over the scripts
    zbar-tools               # tests/integration/test_fiscal.py: decodes the receipt's QR code from a screenshot
)

usage() {
    sed -n '4,9s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "$*"
    exit 1
}

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

apt_install() {
    local -a missing=() sudo=()
    local p log
    for p in "$@"; do
        installed "$p" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0

    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        sudo=(sudo)
    fi
    say "installing Debian packages: ${missing[*]}"
    # apt's chatter goes to a log that is shown only when something fails.
    log=$(mktemp "${TMPDIR:-/tmp}/deps-apt.XXXXXX")
    # shellcheck disable=SC2064 # expand $log now
    trap "rm -f -- '$log'" EXIT
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if ! "${sudo[@]}" "${apt[@]}" update </dev/null >"$log" 2>&1; then
        tail -n 30 -- "$log" >&2
        die "apt-get update failed"
    fi
    if ! "${sudo[@]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}" \
        </dev/null >>"$log" 2>&1; then
        tail -n 40 -- "$log" >&2
        die "apt-get install failed"
    fi
}

test_pkgs() {
    local -a pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
    # This machine may carry Node.js from elsewhere (e.g. NodeSource's nodejs,
    # which includes npm); Debian's nodejs/npm would conflict with it. Only
    # when node or npm is missing from PATH do we take Debian's.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        pkgs+=(nodejs npm)
    fi
    apt_install "${pkgs[@]}"
}

npm_tools() {
    local dir=$ROOT/tests
    local stamp=$dir/node_modules/.package-lock.json # written by every npm install/ci
    [[ -f $dir/package.json ]] || die "missing $dir/package.json"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        die "node/npm not found (run deploy/dev/deps.sh test)"
    fi
    if [[ -f $stamp && ! $dir/package.json -nt $stamp &&
        ! ($dir/package-lock.json -nt $stamp) ]]; then
        return 0
    fi
    local -a cmd
    if [[ -f $dir/package-lock.json ]]; then
        cmd=(npm ci)
    else
        cmd=(npm install)
    fi
    say "installing npm tools into tests/node_modules (${cmd[*]})"
    (cd -- "$dir" && "${cmd[@]}" --no-audit --no-fund --loglevel=error </dev/null >/dev/null) ||
        die "${cmd[*]} failed in $dir"
    # npm ci keeps file times from the tarballs; mark the install as fresh.
    touch -- "$stamp"
}

[[ $# -eq 1 ]] || usage
case $1 in
    build) apt_install "${BUILD_PKGS[@]}" ;;
    test) test_pkgs ;;
    npm) npm_tools ;;
    -h | --help) usage ;;
    *) usage ;;
esac
