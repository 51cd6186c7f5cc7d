#!/usr/bin/env bash
# `make run`: a private PostgreSQL under var/pg, migrations, demo data, and gatewayd on
# 127.0.0.1:8080 with the sandbox adapter and receipts written to var/mail/.
# Ctrl-C stops the gateway and then the database it started.
# Environment: GATEWAY_* as usual (e.g. GATEWAY_LISTEN), PGPORT for the private cluster (54329).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
port=${PGPORT:-54329}
pgdir=$root/var/pg
mkdir -p var/mail

url=$(deploy/dev/pg.sh start "$pgdir" "$port")
started_pg=1
cleanup() {
	if [[ ${started_pg:-0} == 1 ]]; then
		echo "stopping PostgreSQL ($pgdir)" >&2
		deploy/dev/pg.sh stop "$pgdir" || true
	fi
}
trap cleanup EXIT

# Two roles (README "Database roles"): migrate and the demo data as the schema owner, the
# service as the service role.
export GATEWAY_MIGRATE_DATABASE_URL=${GATEWAY_MIGRATE_DATABASE_URL:-$url}
export GATEWAY_DATABASE_URL=${GATEWAY_DATABASE_URL:-$(deploy/dev/pg.sh service-url "$pgdir")}
export GATEWAY_LISTEN=${GATEWAY_LISTEN:-127.0.0.1:8080}
export GATEWAY_PUBLIC_URL=${GATEWAY_PUBLIC_URL:-http://$GATEWAY_LISTEN}
export GATEWAY_MAIL_URL=${GATEWAY_MAIL_URL:-file://$root/var/mail}
export GATEWAY_ADAPTERS=${GATEWAY_ADAPTERS:-sandbox}
export GATEWAY_SANDBOX_SECRET=${GATEWAY_SANDBOX_SECRET:-dev-sandbox-secret-not-for-production}
# fiscal receipts from the built-in test cashbox (printed as «ТЕСТОВЫЙ ЧЕК»), the demo seller
export GATEWAY_FISCAL=${GATEWAY_FISCAL:-sandbox}
export GATEWAY_SELLER_NAME=${GATEWAY_SELLER_NAME:-ООО «Демо-Телеком»}
export GATEWAY_SELLER_INN=${GATEWAY_SELLER_INN:-7707083893}
export GATEWAY_SELLER_SNO=${GATEWAY_SELLER_SNO:-usn_income}
export GATEWAY_SELLER_VAT=${GATEWAY_SELLER_VAT:-none}
export GATEWAY_SELLER_EMAIL=${GATEWAY_SELLER_EMAIL:-kassa@demo-telecom.example}
export GATEWAY_SELLER_PHONE=${GATEWAY_SELLER_PHONE:-8 800 000-00-00}
export GATEWAY_FISCAL_MAIL_WAIT_MS=${GATEWAY_FISCAL_MAIL_WAIT_MS:-10000}

build/gatewayd migrate
/usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -d "$GATEWAY_MIGRATE_DATABASE_URL" -f deploy/dev/demo.sql
echo "demo contract 12345 loaded; serving on http://$GATEWAY_LISTEN/ (Ctrl-C stops)" >&2
# The gateway handles Ctrl-C itself (graceful drain) and exits 0; then the EXIT trap stops PostgreSQL.
build/gatewayd serve
