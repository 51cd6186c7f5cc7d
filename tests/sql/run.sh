#!/bin/sh
# tests/sql/run.sh — run the SQL-level booking tests against a migrated database.
#
#   tests/sql/run.sh CONNINFO            booking_test.sql (one transaction, rolled back)
#   tests/sql/run.sh CONNINFO --stress   also the concurrency tests (pgbench); these
#                                        WRITE data (contracts 9999980000xx, adapters
#                                        stress-*): use a throwaway database
#
# CONNINFO is a libpq connection string or URI. Exits non-zero on any failure.
# Stress knobs: STRESS_SECONDS (10), STRESS_CLIENTS (8), STRESS_PARALLEL (50).
set -eu

conn=${1:?usage: tests/sql/run.sh CONNINFO [--stress]}
dir=$(cd "$(dirname "$0")" && pwd)

psql "$conn" -X -q -v ON_ERROR_STOP=1 -f "$dir/booking_test.sql"

[ "${2:-}" = "--stress" ] || exit 0

PATH=$PATH:$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
command -v pgbench >/dev/null || { echo "FAIL: pgbench not found" >&2; exit 1; }
seconds=${STRESS_SECONDS:-10}
clients=${STRESS_CLIENTS:-8}
parallel=${STRESS_PARALLEL:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

q() { psql "$conn" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

# 300 stress accounts, created once (idempotent).
q "INSERT INTO accounts (contract, holder_name, balance, monthly_fee)
   SELECT (999998000000 + i)::text, 'Stress ' || i, (i * 7919) % 100000 - 30000, 60000
     FROM generate_series(1, 300) i ON CONFLICT (contract) DO NOTHING" >/dev/null

# 1. $parallel concurrent identical book_payment calls: exactly one booked.
#    A session holding an advisory lock makes them all start together.
txn="same-$(date +%s%N)"
before=$(q "SELECT balance FROM accounts WHERE contract = '999998000001'")
psql "$conn" -X -q -At -c "SELECT pg_advisory_lock(424242), pg_sleep(2)" >/dev/null &
sleep 0.5
i=0
while [ $i -lt "$parallel" ]; do
    psql "$conn" -X -q -At -v ON_ERROR_STOP=1 \
        -c "SELECT pg_advisory_lock_shared(424242)" \
        -c "SELECT result FROM book_payment('terminal', 'stress-osmp', NULL, '$txn', '999998000001', 12345,
                 'cash', NULL, now(), md5(random()::text) || md5(random()::text), NULL)" \
        >"$tmp/same.$i" 2>&1 &
    i=$((i + 1))
done
wait
booked=$(cat "$tmp"/same.* | grep -cx booked || true)
dups=$(cat "$tmp"/same.* | grep -cx duplicate || true)
after=$(q "SELECT balance FROM accounts WHERE contract = '999998000001'")
rows=$(q "SELECT count(*) FROM payments WHERE adapter = 'stress-osmp' AND provider_txn_id = '$txn'")
echo "same txn x$parallel: booked=$booked duplicate=$dups payments=$rows balance +$((after - before))"
if [ "$booked" != 1 ] || [ "$dups" != $((parallel - 1)) ] || [ "$rows" != 1 ] || [ $((after - before)) != 12345 ]; then
    echo "FAIL: concurrent identical bookings" >&2
    cat "$tmp"/same.* | sort | uniq -c >&2
    exit 1
fi

# 1b. The same for a web payment: $parallel concurrent settle_payment calls of
#     one pending payment, racing a janitor that tries to fail it: exactly one
#     settle books, the other settles answer already, the janitor invalid_state
#     (or it wins, then every settle answers invalid_state and nothing is booked).
pid=$(q "INSERT INTO payments (account_id, amount, channel, adapter, payer_email)
         SELECT id, 54321, 'web', 'stress-web', 'stress@example.com' FROM accounts
          WHERE contract = '999998000002' RETURNING id")
q "SELECT transition_payment('$pid', 'pending', 'request', NULL, NULL)" >/dev/null
psql "$conn" -X -q -At -c "SELECT pg_advisory_lock(424243), pg_sleep(2)" >/dev/null &
sleep 0.5
i=0
while [ $i -lt "$parallel" ]; do
    psql "$conn" -X -q -At -v ON_ERROR_STOP=1 \
        -c "SELECT pg_advisory_lock_shared(424243)" \
        -c "SELECT result FROM settle_payment('$pid', 'notification', md5(random()::text) || md5(random()::text), NULL)" \
        >"$tmp/settle.$i" 2>&1 &
    i=$((i + 1))
done
psql "$conn" -X -q -At -v ON_ERROR_STOP=1 \
    -c "SELECT pg_advisory_lock_shared(424243)" \
    -c "SELECT 'janitor:' || result FROM transition_payment('$pid', 'failed', 'janitor', 'expired', NULL)" \
    >"$tmp/janitor" 2>&1 &
wait
booked=$(cat "$tmp"/settle.* | grep -cx booked || true)
already=$(cat "$tmp"/settle.* | grep -cx already || true)
invalid=$(cat "$tmp"/settle.* | grep -cx invalid_state || true)
janitor=$(grep janitor: "$tmp/janitor" || true)
st=$(q "SELECT status || ' credits=' || (SELECT count(*) FROM ledger WHERE payment_id = '$pid')
               || ' receipts=' || (SELECT count(*) FROM receipts WHERE payment_id = '$pid')
          FROM payments WHERE id = '$pid'")
echo "settle x$parallel + janitor: booked=$booked already=$already invalid_state=$invalid $janitor -> $st"
if ! { [ "$booked" = 1 ] && [ "$already" = $((parallel - 1)) ] && [ "$janitor" = janitor:invalid_state ] \
         && [ "$st" = "succeeded credits=1 receipts=1" ]; } &&
   ! { [ "$booked" = 0 ] && [ "$invalid" = "$parallel" ] && [ "$janitor" = janitor:ok ] \
         && [ "$st" = "failed credits=0 receipts=0" ]; }; then
    echo "FAIL: concurrent settle_payment" >&2
    cat "$tmp"/settle.* "$tmp/janitor" | sort | uniq -c >&2
    exit 1
fi

# 2. pgbench: distinct random txn ids over 300 accounts.
cat >"$tmp/distinct.sql" <<'SQL'
\set acc random(1, 300)
\set amt random(100, 1500000)
SELECT CASE WHEN r.result = 'booked' THEN r.result ELSE ('unexpected ' || r.result)::int::text END
  FROM book_payment('terminal', 'stress-osmp', NULL, gen_random_uuid()::text, (999998000000 + :acc)::text,
                    :amt, 'cash', 'stress@example.com', now(), md5(random()::text) || md5(random()::text),
                    '{"stress": true}') r;
SQL
# 3. pgbench: a small pool of hot txn ids retried concurrently; the contract and
#    amount derive from the txn id, so every answer must be booked or duplicate.
cat >"$tmp/hot.sql" <<'SQL'
\set t random(1, 2000)
SELECT CASE WHEN r.result IN ('booked', 'duplicate') THEN r.result ELSE ('unexpected ' || r.result)::int::text END
  FROM book_payment('terminal', 'stress-hot', NULL, :t || '-' || :run, (999998000000 + :t % 300 + 1)::text,
                    (:t * 10 + 100), 'cash', NULL, NULL, md5(random()::text) || md5(random()::text), NULL) r;
SQL

run=$(date +%s)
for script in distinct hot; do
    echo "pgbench $script: $clients clients, ${seconds}s"
    if ! pgbench "$conn" -n -f "$tmp/$script.sql" -D run="$run" -c "$clients" -j "$clients" -T "$seconds" \
            >"$tmp/$script.out" 2>&1; then
        cat "$tmp/$script.out" >&2
        echo "FAIL: pgbench $script" >&2
        exit 1
    fi
    grep -E 'number of (transactions actually processed|failed)|latency average|tps|aborted' "$tmp/$script.out" || true
    if grep -q 'aborted' "$tmp/$script.out" && ! grep -q 'aborted: 0' "$tmp/$script.out"; then
        cat "$tmp/$script.out" >&2
        echo "FAIL: pgbench $script had aborted clients" >&2
        exit 1
    fi
done

hot=$(q "SELECT count(*) || ' payments, ' || count(DISTINCT provider_txn_id) || ' distinct txn ids'
           FROM payments WHERE adapter = 'stress-hot' AND provider_txn_id LIKE '%-$run'")
echo "hot txn ids: $hot"
bad=$(q "SELECT count(*) FROM ledger_invariant_violations()")
if [ "$bad" != 0 ]; then
    q "SELECT * FROM ledger_invariant_violations() LIMIT 20" >&2
    echo "FAIL: $bad invariant violations after the stress run" >&2
    exit 1
fi
echo "ledger_invariant_violations(): 0 rows"
echo "# stress tests passed"
