-- tests/sql/booking_test.sql — SQL-level tests of the money invariants and the
-- booking functions (schema/001_core.sql, schema/002_booking.sql).
--
-- Run with tests/sql/run.sh CONNINFO (psql -v ON_ERROR_STOP=1). Everything runs
-- in one transaction that is rolled back at the end: the database is left as
-- it was. Each check prints "ok - <what>" as a NOTICE; a failed check raises
-- "FAIL: <what>" and stops the run with a non-zero exit status.
-- Test data uses contracts 9999990000xx and adapters test-*, which real data
-- never uses.

\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = notice;

BEGIN;

-- ---------------------------------------------------------------------------
-- Helpers (session-private, vanish with the session)

CREATE FUNCTION pg_temp.check(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'FAIL: %', what;
    END IF;
    RAISE NOTICE 'ok - %', what;
END;
$$;

CREATE FUNCTION pg_temp.eq(got anyelement, want anyelement, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF got IS DISTINCT FROM want THEN
        RAISE EXCEPTION 'FAIL: % (got %, want %)', what, coalesce(got::text, 'NULL'), coalesce(want::text, 'NULL');
    END IF;
    RAISE NOTICE 'ok - %', what;
END;
$$;

-- Runs sql in a subtransaction and checks that it fails with the SQLSTATE
-- `state` (effects are rolled back either way).
CREATE FUNCTION pg_temp.raises(sql text, state text, what text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    got text;
    msg text;
BEGIN
    BEGIN
        EXECUTE sql;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS got = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    IF got IS NULL THEN
        RAISE EXCEPTION 'FAIL: % (no error raised by: %)', what, sql;
    END IF;
    IF got <> state THEN
        RAISE EXCEPTION 'FAIL: % (SQLSTATE % "%", want %)', what, got, msg, state;
    END IF;
    RAISE NOTICE 'ok - % (% %)', what, got, msg;
END;
$$;

CREATE FUNCTION pg_temp.tok() RETURNS text
LANGUAGE sql AS $$ SELECT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') $$;

CREATE FUNCTION pg_temp.acc(p_contract text) RETURNS accounts
LANGUAGE sql AS $$ SELECT * FROM accounts WHERE contract = p_contract $$;

CREATE FUNCTION pg_temp.writes() RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT ARRAY[(SELECT count(*) FROM payments), (SELECT count(*) FROM ledger),
                 (SELECT count(*) FROM receipts), (SELECT count(*) FROM payment_events),
                 (SELECT coalesce(sum(balance), 0) FROM accounts)::bigint]
$$;

-- Test accounts: inserted with exactly the fixed column set.
INSERT INTO accounts (contract, phone, email, holder_name, status, balance, monthly_fee) VALUES
    ('999999000001', '+79130000001', 'a1@example.com', 'Тестов Тест Тестович', 'active',     10000, 60000),
    ('999999000002', '+79130000001', NULL,             'Тестова Теста',        'active',    -30000, 45000),
    ('999999000003', NULL,           NULL,             '',                     'suspended',  5000,      0),
    ('999999000004', NULL,           NULL,             '',                     'closed',        0,      0),
    ('999999000005', '+79130000005', NULL,             '',                     'active',         0,      0);
INSERT INTO partners (name, protocol, login) VALUES
    ('test-net-a', 'osmp', 'test-login-a'),
    ('test-net-b', 'osmp', 'test-login-b');

-- ---------------------------------------------------------------------------
\echo '# accounts: defaults, constraints, guards'
DO $$
DECLARE
    a accounts;
BEGIN
    a := pg_temp.acc('999999000002');
    PERFORM pg_temp.eq(a.opening_balance, -30000::bigint, 'opening_balance is set from balance on insert');
    PERFORM pg_temp.check(a.id IS NOT NULL AND a.created_at IS NOT NULL AND a.updated_at IS NOT NULL,
                          'id and timestamps have defaults');

    INSERT INTO accounts (contract) VALUES ('999999000099');
    a := pg_temp.acc('999999000099');
    PERFORM pg_temp.check(a.status = 'active' AND a.balance = 0 AND a.monthly_fee = 0
                          AND a.holder_name = '' AND a.opening_balance = 0 AND a.phone IS NULL,
                          'an account needs only a contract');

    INSERT INTO accounts (contract, balance, opening_balance) VALUES ('999999000098', 777, 5);
    PERFORM pg_temp.eq((pg_temp.acc('999999000098')).opening_balance, 777::bigint,
                       'an explicit opening_balance is overridden by balance');

    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract) VALUES ('12a45')$q$, '23514', 'contract must be digits');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract) VALUES ('1234')$q$, '23514', 'contract has at least 5 digits');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract) VALUES ('1234567890123')$q$, '23514', 'contract has at most 12 digits');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract) VALUES ('999999000001')$q$, '23505', 'contract is unique');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract, phone) VALUES ('999999000097', '89131234567')$q$, '23514', 'phone must be +7 and 10 digits');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract, status) VALUES ('999999000097', 'deleted')$q$, '23514', 'status is active/suspended/closed');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract, monthly_fee) VALUES ('999999000097', -1)$q$, '23514', 'monthly_fee is not negative');
    PERFORM pg_temp.raises($q$INSERT INTO accounts (contract, holder_name) VALUES ('999999000097', NULL)$q$, '23502', 'holder_name is not null');

    PERFORM pg_temp.raises($q$UPDATE accounts SET balance = balance + 1 WHERE contract = '999999000001'$q$, '23000',
                           'a direct balance update is rejected');
    PERFORM pg_temp.raises($q$UPDATE accounts SET opening_balance = 1 WHERE contract = '999999000001'$q$, '23000',
                           'opening_balance is immutable');
    UPDATE accounts SET email = 'new@example.com', status = 'active', balance = balance WHERE contract = '999999000001';
    PERFORM pg_temp.eq((pg_temp.acc('999999000001')).email, 'new@example.com', 'non-money columns (and an unchanged balance) can be updated');
    UPDATE accounts SET email = 'a1@example.com' WHERE contract = '999999000001';
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# book_payment'
DO $$
DECLARE
    r   book_payment_result;
    r2  book_payment_result;
    w   bigint[];
    rc  receipts;
    ev  payment_events;
    l   ledger;
    p   payments;
    pa  bigint := (SELECT id FROM partners WHERE name = 'test-net-a');
    pb  bigint := (SELECT id FROM partners WHERE name = 'test-net-b');
BEGIN
    r := book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000001', 20000, 'cash',
                      'payer@example.com', '2024-05-01 12:00:00+07', pg_temp.tok(), '{"txn_id":"T-1"}');
    PERFORM pg_temp.eq(r.result, 'booked', 'book: a new transaction is booked');
    PERFORM pg_temp.eq(r.amount, 20000::bigint, 'book: amount echoed');
    PERFORM pg_temp.eq(r.contract, '999999000001', 'book: contract echoed');
    PERFORM pg_temp.eq(r.balance_after, 30000::bigint, 'book: balance_after = old balance + amount');
    PERFORM pg_temp.eq((pg_temp.acc('999999000001')).balance, 30000::bigint, 'book: account balance credited');
    PERFORM pg_temp.eq(r.provider_time, '2024-05-01 12:00:00+07'::timestamptz, 'book: provider_time echoed');
    PERFORM pg_temp.check(r.payment_id IS NOT NULL AND r.payment_number IS NOT NULL AND r.paid_at = now(),
                          'book: payment id, number and paid_at returned');
    PERFORM pg_temp.check(r.receipt_number ~ '^[0-9]{4}-[0-9]{6,}$', 'book: receipt number looks like YYYY-NNNNNN');

    SELECT * INTO p FROM payments WHERE id = r.payment_id;
    PERFORM pg_temp.check(p.status = 'succeeded' AND p.channel = 'terminal' AND p.adapter = 'test-osmp'
                          AND p.partner_id = pa AND p.provider_txn_id = 'T-1' AND p.method = 'cash'
                          AND p.payer_email = 'payer@example.com' AND p.currency = 'RUB'
                          AND p.paid_at IS NOT NULL AND p.refunded_amount = 0 AND NOT p.flagged,
                          'book: payment row is succeeded with all fields');
    SELECT * INTO STRICT l FROM ledger WHERE payment_id = r.payment_id;
    PERFORM pg_temp.check(l.kind = 'credit' AND l.amount = 20000 AND l.balance_after = 30000
                          AND l.account_id = p.account_id, 'book: one credit ledger row with balance_after');
    SELECT * INTO STRICT rc FROM receipts WHERE payment_id = r.payment_id;
    PERFORM pg_temp.check(rc.number = r.receipt_number AND rc.state = 'pending' AND rc.email = 'payer@example.com'
                          AND rc.attempts = 0 AND rc.next_attempt_at <= now() AND length(rc.token) >= 32,
                          'book: receipt is pending for the payer''s email');
    SELECT * INTO STRICT ev FROM payment_events WHERE payment_id = r.payment_id;
    PERFORM pg_temp.check(ev.from_status IS NULL AND ev.to_status = 'succeeded' AND ev.source = 'request'
                          AND ev.raw = '{"txn_id":"T-1"}'::jsonb, 'book: event NULL -> succeeded with the raw message');

    -- retries
    w := pg_temp.writes();
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000001', 20000, 'cash',
                       'payer@example.com', '2024-05-01 12:00:00+07', pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'duplicate', 'book twice, same txn: duplicate');
    PERFORM pg_temp.check(r2.payment_id = r.payment_id AND r2.payment_number = r.payment_number
                          AND r2.paid_at = r.paid_at AND r2.receipt_number = r.receipt_number
                          AND r2.balance_after = r.balance_after AND r2.amount = r.amount
                          AND r2.contract = r.contract AND r2.provider_time = r.provider_time,
                          'duplicate returns the original payment, number, paid_at, receipt, balance_after');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'duplicate writes nothing');

    r2 := book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000001', 20001, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'mismatch', 'same txn, different amount: mismatch');
    PERFORM pg_temp.check(r2.payment_id = r.payment_id AND r2.amount = 20000,
                          'mismatch returns the existing payment''s data');
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000002', 20000, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'mismatch', 'same txn, different contract: mismatch');
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000077', 20000, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'mismatch', 'same txn, unknown contract: mismatch (not account_not_found)');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'mismatch writes nothing');

    -- same txn id in another scope is another payment
    r2 := book_payment('terminal', 'test-osmp', pb, 'T-1', '999999000001', 20000, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'booked', 'same txn id from another partner: booked separately');
    r2 := book_payment('terminal', 'test-osmp', NULL, 'T-1', '999999000001', 20000, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'booked', 'same txn id without partner: booked separately');
    r2 := book_payment('terminal', 'test-osmp', NULL, 'T-1', '999999000001', 20000, 'cash', NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'duplicate', 'same txn id without partner, again: duplicate (partner NULL = one scope)');
    r2 := book_payment('partner', 'test-json', pa, 'T-1', '999999000001', 20000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'booked', 'same txn id on another adapter: booked separately');
    PERFORM pg_temp.eq((pg_temp.acc('999999000001')).balance, 90000::bigint, 'balance = 10000 + 4 x 20000');

    -- no email
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-2', '999999000002', 12345, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq((SELECT state FROM receipts WHERE payment_id = r2.payment_id), 'no_email',
                       'book without email: receipt state no_email');
    PERFORM pg_temp.eq(r2.balance_after, -17655::bigint, 'book on a debt: balance_after = -30000 + 12345');
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-3', '999999000002', 100, NULL, '   ', NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.check((SELECT state = 'no_email' AND email IS NULL FROM receipts WHERE payment_id = r2.payment_id)
                          AND (SELECT payer_email IS NULL FROM payments WHERE id = r2.payment_id),
                          'book with a blank email: no_email, payer_email NULL');

    -- account checks
    w := pg_temp.writes();
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-4', '999999000077', 1000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.check(r2.result = 'account_not_found' AND r2.payment_id IS NULL AND r2.contract = '999999000077'
                          AND r2.amount = 1000, 'unknown contract: account_not_found');
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-6', '999999000004', 1000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'account_inactive', 'closed account: account_inactive');
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-6', '999999000004', 1000, NULL, NULL, NULL, NULL, NULL);
    PERFORM pg_temp.eq(r2.result, 'account_inactive', 'account_inactive is answered before the token is needed');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'account_not_found / account_inactive write nothing');
    -- a suspended account stays payable: the top-up is how it comes back (012_balance.sql)
    r2 := book_payment('terminal', 'test-osmp', pa, 'T-5', '999999000003', 1000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'booked', 'suspended account: booked');

    r2 := book_payment('terminal', 'test-osmp', pa, 'T-7', '999999000005', 5000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(r2.result, 'booked', 'book on account 5');
    UPDATE accounts SET status = 'suspended' WHERE contract = '999999000005';
    r := book_payment('terminal', 'test-osmp', pa, 'T-7', '999999000005', 5000, NULL, NULL, NULL, pg_temp.tok(), NULL);
    PERFORM pg_temp.check(r.result = 'duplicate' AND r.payment_id = r2.payment_id,
                          'retry after the account was suspended: still duplicate');
    UPDATE accounts SET status = 'active' WHERE contract = '999999000005';

    -- bad input is a caller bug: an error, nothing written
    w := pg_temp.writes();
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, NULL, '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '22023', 'book without txn id raises');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, '', '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '22023', 'book with an empty txn id raises');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, 'X-1', '999999000001', 0, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '22023', 'book of 0 kopecks raises');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, 'X-1', '999999000001', -5, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '22023', 'book of a negative amount raises');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, 'X-1', '999999000001', 100000000001, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '23514', 'book above 1e9 RUB violates payments_amount_range');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, 'X-1', '999999000001', 100, NULL, NULL, NULL, 'short', NULL)$q$,
                           '22023', 'book with a short receipt token raises');
    PERFORM pg_temp.raises($q$SELECT book_payment('cash', 'test-osmp', NULL, 'X-1', '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '23514', 'book with an unknown channel violates payments_channel_valid');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', NULL, repeat('x', 129), '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '23514', 'txn id longer than 128 is rejected');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'Bad Adapter', NULL, 'X-1', '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '23514', 'adapter name format is checked');
    PERFORM pg_temp.raises($q$SELECT book_payment('terminal', 'test-osmp', 987654321, 'X-1', '999999000001', 100, NULL, NULL, NULL, pg_temp.tok(), NULL)$q$,
                           '23503', 'unknown partner id violates the foreign key');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'failed calls wrote nothing');

    -- book_payment returns one row usable as a table
    PERFORM pg_temp.eq((SELECT count(*) FROM book_payment('terminal', 'test-osmp', pa, 'T-1', '999999000001', 20000,
                                                           NULL, NULL, NULL, pg_temp.tok(), NULL)), 1::bigint,
                       'SELECT * FROM book_payment(...) yields one row');
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# web payments: transition_payment and settle_payment'
DO $$
DECLARE
    acc  accounts := pg_temp.acc('999999000001');
    pid  uuid;
    pid2 uuid;
    t    transition_payment_result;
    s    settle_payment_result;
    s2   settle_payment_result;
    w    bigint[];
    p    payments;
    ev   payment_events;
BEGIN
    INSERT INTO payments (account_id, amount, channel, adapter, method, payer_email, idempotency_key)
    VALUES (acc.id, 50000, 'web', 'test-web', 'bank_card', 'web@example.com', 'idem-1')
    RETURNING id INTO pid;
    SELECT * INTO p FROM payments WHERE id = pid;
    PERFORM pg_temp.check(p.status = 'created' AND p.paid_at IS NULL AND p.number IS NOT NULL,
                          'a web payment starts as created with a number');

    t := transition_payment(pid, 'pending', 'request', NULL, '{"id":"prov-1"}');
    PERFORM pg_temp.check(t.result = 'ok' AND t.status = 'pending' AND t.previous_status = 'created'
                          AND t.payment_number = p.number, 'transition created -> pending: ok');
    w := pg_temp.writes();
    t := transition_payment(pid, 'pending', 'poll', NULL, NULL);
    PERFORM pg_temp.check(t.result = 'already' AND t.status = 'pending', 'transition pending -> pending: already');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'already writes nothing');

    s := settle_payment(pid, 'notification', pg_temp.tok(), '{"event":"payment.succeeded"}');
    PERFORM pg_temp.eq(s.result, 'booked', 'settle pending: booked');
    PERFORM pg_temp.check(s.payment_id = pid AND s.payment_number = p.number AND s.amount = 50000
                          AND s.paid_at = now() AND s.receipt_number ~ '^[0-9]{4}-[0-9]{6,}$',
                          'settle returns id, number, amount, paid_at, receipt number');
    PERFORM pg_temp.eq(s.balance_after, acc.balance + 50000, 'settle: balance_after = old + amount');
    PERFORM pg_temp.eq((pg_temp.acc('999999000001')).balance, acc.balance + 50000, 'settle: account credited');
    PERFORM pg_temp.eq((SELECT status FROM payments WHERE id = pid), 'succeeded', 'settle: payment succeeded');
    PERFORM pg_temp.eq((SELECT count(*) FROM ledger WHERE payment_id = pid AND kind = 'credit'), 1::bigint,
                       'settle: one credit row');
    PERFORM pg_temp.check((SELECT email = 'web@example.com' AND state = 'pending' FROM receipts WHERE payment_id = pid),
                          'settle: receipt to payer_email, pending');
    SELECT * INTO ev FROM payment_events WHERE payment_id = pid ORDER BY id DESC LIMIT 1;
    PERFORM pg_temp.check(ev.from_status = 'pending' AND ev.to_status = 'succeeded' AND ev.source = 'notification'
                          AND ev.raw ? 'event', 'settle: event pending -> succeeded, source notification');
    PERFORM pg_temp.eq((SELECT count(*) FROM payment_events WHERE payment_id = pid), 2::bigint,
                       'web payment has 2 events (pending, succeeded)');

    w := pg_temp.writes();
    s2 := settle_payment(pid, 'poll', pg_temp.tok(), NULL);
    PERFORM pg_temp.check(s2.result = 'already' AND s2.payment_id = pid AND s2.paid_at = s.paid_at
                          AND s2.balance_after = s.balance_after AND s2.receipt_number = s.receipt_number
                          AND s2.amount = 50000, 'settle twice: already, with the original data');
    s2 := settle_payment(pid, 'poll', NULL, NULL);
    PERFORM pg_temp.eq(s2.result, 'already', 'settle of a settled payment needs no token');
    t := transition_payment(pid, 'failed', 'notification', 'late failure', NULL);
    PERFORM pg_temp.check(t.result = 'invalid_state' AND t.status = 'succeeded',
                          'late failure after success: invalid_state');
    t := transition_payment(pid, 'canceled', 'operator', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'succeeded -> canceled: invalid_state');
    t := transition_payment(pid, 'pending', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'succeeded -> pending: invalid_state');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'already / invalid_state write nothing');

    -- created -> succeeded directly, no payer email
    INSERT INTO payments (account_id, amount, channel, adapter)
    VALUES (acc.id, 777, 'web', 'test-web') RETURNING id INTO pid2;
    s := settle_payment(pid2, 'poll', pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(s.result, 'booked', 'settle created: booked');
    PERFORM pg_temp.check((SELECT state = 'no_email' FROM receipts WHERE payment_id = pid2),
                          'settle without payer email: receipt no_email');
    PERFORM pg_temp.check((SELECT from_status = 'created' AND source = 'poll' FROM payment_events WHERE payment_id = pid2),
                          'settle created: event created -> succeeded');

    -- failed and canceled are final
    INSERT INTO payments (account_id, amount, channel, adapter) VALUES (acc.id, 1000, 'web', 'test-web') RETURNING id INTO pid2;
    t := transition_payment(pid2, 'failed', 'janitor', 'expired', '{"why":"timeout"}');
    PERFORM pg_temp.check(t.result = 'ok' AND t.status = 'failed' AND t.previous_status = 'created',
                          'created -> failed: ok');
    PERFORM pg_temp.check((SELECT failure_reason = 'expired' FROM payments WHERE id = pid2)
                          AND (SELECT note = 'expired' AND source = 'janitor' FROM payment_events WHERE payment_id = pid2),
                          'failure reason stored on the payment and the event');
    w := pg_temp.writes();
    s := settle_payment(pid2, 'notification', pg_temp.tok(), NULL);
    PERFORM pg_temp.check(s.result = 'invalid_state' AND s.payment_id = pid2 AND s.paid_at IS NULL,
                          'settle of a failed payment: invalid_state');
    t := transition_payment(pid2, 'failed', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'already', 'failed -> failed: already');
    t := transition_payment(pid2, 'canceled', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'failed -> canceled: invalid_state');
    t := transition_payment(pid2, 'pending', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'failed -> pending: invalid_state');
    PERFORM pg_temp.eq(pg_temp.writes(), w, 'nothing written for a failed payment');

    INSERT INTO payments (account_id, amount, channel, adapter) VALUES (acc.id, 1000, 'web', 'test-web') RETURNING id INTO pid2;
    PERFORM transition_payment(pid2, 'pending', 'request', NULL, NULL);
    t := transition_payment(pid2, 'canceled', 'notification', 'user left', NULL);
    PERFORM pg_temp.check(t.result = 'ok' AND t.previous_status = 'pending', 'pending -> canceled: ok');
    s := settle_payment(pid2, 'poll', pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(s.result, 'invalid_state', 'settle of a canceled payment: invalid_state');
    t := transition_payment(pid2, 'failed', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'canceled -> failed: invalid_state');

    INSERT INTO payments (account_id, amount, channel, adapter) VALUES (acc.id, 1000, 'web', 'test-web') RETURNING id INTO pid2;
    PERFORM transition_payment(pid2, 'pending', 'request', NULL, NULL);
    t := transition_payment(pid2, 'failed', 'poll', 'declined', NULL);
    PERFORM pg_temp.eq(t.result, 'ok', 'pending -> failed: ok');
    t := transition_payment(pid2, 'pending', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'invalid_state', 'a payment never moves backwards (failed -> pending)');

    -- unknown ids and bad arguments
    s := settle_payment(gen_random_uuid(), 'poll', pg_temp.tok(), NULL);
    PERFORM pg_temp.eq(s.result, 'not_found', 'settle of an unknown id: not_found');
    t := transition_payment(gen_random_uuid(), 'failed', 'poll', NULL, NULL);
    PERFORM pg_temp.eq(t.result, 'not_found', 'transition of an unknown id: not_found');
    PERFORM pg_temp.raises(format('SELECT transition_payment(%L, %L, %L, NULL, NULL)', pid, 'succeeded', 'poll'),
                           '22023', 'transition to succeeded raises (money moves only via settle)');
    PERFORM pg_temp.raises(format('SELECT transition_payment(%L, %L, %L, NULL, NULL)', pid, 'refunded', 'poll'),
                           '22023', 'transition to refunded raises');
    PERFORM pg_temp.raises(format('SELECT transition_payment(%L, %L, %L, NULL, NULL)', pid, 'pending', 'bank'),
                           '22023', 'transition with an unknown source raises');
    PERFORM pg_temp.raises(format('SELECT settle_payment(%L, %L, NULL, NULL)', pid, 'bank'),
                           '22023', 'settle with an unknown source raises');
    INSERT INTO payments (account_id, amount, channel, adapter) VALUES (acc.id, 1000, 'web', 'test-web') RETURNING id INTO pid2;
    PERFORM pg_temp.raises(format('SELECT settle_payment(%L, %L, NULL, NULL)', pid2, 'poll'),
                           '22023', 'settle that books needs a receipt token');
    PERFORM pg_temp.eq((SELECT status FROM payments WHERE id = pid2), 'created', 'the failed settle left the payment created');
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# guards: money moves only through the booking functions'
DO $$
DECLARE
    acc bigint := (SELECT id FROM accounts WHERE contract = '999999000001');
    pid uuid;
    paid uuid := (SELECT id FROM payments WHERE adapter = 'test-osmp' AND provider_txn_id = 'T-1'
                   AND partner_id = (SELECT id FROM partners WHERE name = 'test-net-a'));
BEGIN
    INSERT INTO payments (account_id, amount, channel, adapter) VALUES (acc, 1000, 'web', 'test-web') RETURNING id INTO pid;

    PERFORM pg_temp.raises(format($q$UPDATE payments SET status = 'succeeded', paid_at = now() WHERE id = %L$q$, pid),
                           '23000', 'direct UPDATE to succeeded is rejected');
    PERFORM pg_temp.raises(format($q$INSERT INTO payments (account_id, amount, channel, adapter, status, paid_at)
                                    VALUES (%s, 100, 'api', 'test-web', 'succeeded', now())$q$, acc),
                           '23000', 'direct INSERT of a succeeded payment is rejected');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET status = 'refunded' WHERE id = %L$q$, paid),
                           '23000', 'direct UPDATE to refunded is rejected');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET refunded_amount = 1 WHERE id = %L$q$, paid),
                           '23000', 'direct refunded_amount change is rejected');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET amount = amount + 1 WHERE id = %L$q$, pid),
                           '23000', 'payment amount is immutable');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET account_id = account_id + 1 WHERE id = %L$q$, pid),
                           '23000', 'payment account is immutable');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET status = 'failed' WHERE id = %L$q$, paid),
                           '23000', 'direct UPDATE succeeded -> failed is rejected');
    PERFORM pg_temp.raises(format($q$UPDATE payments SET status = 'bogus' WHERE id = %L$q$, pid),
                           '23000', 'unknown status is rejected');
    UPDATE payments SET status = 'pending', provider_txn_id = 'prov-guard' WHERE id = pid;
    PERFORM pg_temp.raises(format($q$UPDATE payments SET status = 'created' WHERE id = %L$q$, pid),
                           '23000', 'direct UPDATE pending -> created is rejected');
    UPDATE payments SET flagged = true, method = 'sbp' WHERE id = paid;
    PERFORM pg_temp.check((SELECT flagged FROM payments WHERE id = paid), 'non-money columns of a booked payment can be updated');
    PERFORM pg_temp.raises(format($q$INSERT INTO payments (account_id, amount, channel, adapter, status, paid_at)
                                    VALUES (%s, 100, 'api', 'test-web', 'created', now())$q$, acc),
                           '23514', 'paid_at is set only on succeeded/refunded payments');
    PERFORM pg_temp.raises(format($q$INSERT INTO payments (account_id, amount, channel, adapter, currency)
                                    VALUES (%s, 100, 'api', 'test-web', 'USD')$q$, acc),
                           '23514', 'currency is RUB only');

    PERFORM pg_temp.raises($q$UPDATE ledger SET amount = amount + 1 WHERE id = (SELECT max(id) FROM ledger)$q$,
                           '23000', 'ledger rows cannot be updated');
    PERFORM pg_temp.raises($q$DELETE FROM ledger WHERE id = (SELECT max(id) FROM ledger)$q$,
                           '23000', 'ledger rows cannot be deleted');
    PERFORM pg_temp.raises(format($q$INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after)
                                    VALUES (%s, %L, 'credit', -5, 0)$q$, acc, pid),
                           '23514', 'a credit is positive');
    PERFORM pg_temp.raises(format($q$INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after)
                                    VALUES (%s, %L, 'debit', 5, 0)$q$, acc, pid),
                           '23514', 'a debit is negative');
    PERFORM pg_temp.raises(format($q$INSERT INTO ledger (account_id, kind, amount, balance_after)
                                    VALUES (%s, 'adjustment', 0, 0)$q$, acc),
                           '23514', 'a ledger amount is never 0');
    PERFORM pg_temp.raises(format($q$INSERT INTO ledger (account_id, kind, amount, balance_after)
                                    VALUES (%s, 'credit', 5, 0)$q$, acc),
                           '23514', 'a credit names its payment');
    PERFORM pg_temp.raises(format($q$INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after)
                                    VALUES (%s, %L, 'credit', 5, 0)$q$, acc, paid),
                           '23505', 'at most one credit row per payment');

    PERFORM pg_temp.raises(format($q$INSERT INTO receipts (payment_id, token, email, state)
                                    VALUES (%L, repeat('x', 40), NULL, 'pending')$q$, pid),
                           '23514', 'a receipt without email must be no_email');
    PERFORM pg_temp.raises(format($q$INSERT INTO receipts (payment_id, token, email, state)
                                    VALUES (%L, repeat('x', 40), 'a@b.c', 'no_email')$q$, pid),
                           '23514', 'a receipt with email cannot be no_email');
    PERFORM pg_temp.raises(format($q$INSERT INTO receipts (payment_id, token, email, state)
                                    VALUES (%L, repeat('x', 31), 'a@b.c', 'pending')$q$, pid),
                           '23514', 'a receipt token has at least 32 characters');
    PERFORM pg_temp.raises(format($q$INSERT INTO receipts (payment_id, token, email, state)
                                    VALUES (%L, repeat('x', 40), NULL, 'no_email')$q$, paid),
                           '23505', 'one receipt per payment');
    PERFORM pg_temp.raises(format($q$INSERT INTO payment_events (payment_id, to_status, source)
                                    VALUES (%L, 'pending', 'bank')$q$, pid),
                           '23514', 'event source is checked');
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# partners and idempotency keys'
DO $$
BEGIN
    PERFORM pg_temp.check((SELECT min_amount = 100 AND max_amount = 1500000 AND active AND cidrs = '{}'
                            FROM partners WHERE name = 'test-net-a'), 'partner defaults');
    PERFORM pg_temp.raises($q$INSERT INTO partners (name, protocol, login) VALUES ('Bad Name', 'osmp', 'x1')$q$,
                           '23514', 'partner name format');
    PERFORM pg_temp.raises($q$INSERT INTO partners (name, protocol, login) VALUES ('test-net-c', 'soap', 'x2')$q$,
                           '23514', 'partner protocol is osmp/sber-online/json');
    PERFORM pg_temp.raises($q$INSERT INTO partners (name, protocol, login) VALUES ('test-net-c', 'json', 'test-login-a')$q$,
                           '23505', 'partner login is unique');
    PERFORM pg_temp.raises($q$INSERT INTO partners (name, protocol, login, min_amount, max_amount) VALUES ('test-net-c', 'json', 'x3', 500, 100)$q$,
                           '23514', 'partner max_amount >= min_amount');
    INSERT INTO partners (name, protocol, login, cidrs) VALUES ('test-net-c', 'sber-online', 'x4', '{10.0.0.0/8,192.168.1.0/24}');
    PERFORM pg_temp.check((SELECT '10.1.2.3'::inet <<= ANY (cidrs) FROM partners WHERE name = 'test-net-c'),
                          'partner cidrs match addresses');

    INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('payments', 'k-1', 'h');
    PERFORM pg_temp.check((SELECT status_code IS NULL AND expires_at = now() + interval '24 hours'
                            FROM idempotency_keys WHERE scope = 'payments' AND key = 'k-1'),
                          'idempotency key: in progress, expires in 24 h');
    PERFORM pg_temp.raises($q$INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('payments', 'k-1', 'h2')$q$,
                           '23505', 'idempotency key is unique per scope');
    INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('refunds', 'k-1', 'h');
    PERFORM pg_temp.raises($q$INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('payments', '', 'h')$q$,
                           '23514', 'idempotency key is not empty');
    PERFORM pg_temp.raises(format($q$INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ('payments', %L, 'h')$q$, repeat('k', 129)),
                           '23514', 'idempotency key is at most 128 characters');
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# receipts numbering'
DO $$
DECLARE
    a text;
    b text;
BEGIN
    a := next_receipt_number();
    b := next_receipt_number();
    PERFORM pg_temp.check(a ~ '^[0-9]{4}-[0-9]{6,}$' AND b ~ '^[0-9]{4}-[0-9]{6,}$', 'receipt numbers are YYYY-NNNNNN');
    PERFORM pg_temp.eq(left(a, 4), to_char(now() AT TIME ZONE 'Europe/Moscow', 'YYYY'), 'receipt year is the Moscow year');
    PERFORM pg_temp.check(split_part(b, '-', 2)::bigint = split_part(a, '-', 2)::bigint + 1, 'receipt numbers are sequential');
    PERFORM pg_temp.eq((SELECT count(*) FROM pg_trigger WHERE tgname = 'receipts_notify_insert' AND tgenabled = 'O'), 1::bigint,
                       'NOTIFY receipts trigger is installed and enabled');
END;
$$;
DO $$ BEGIN
    PERFORM pg_temp.eq(format_receipt_number('2024-12-31 21:30:00+00', 42), '2025-000042',
                       'receipt year is the Moscow year (21:30 UTC on Dec 31 is already next year in Moscow)');
    PERFORM pg_temp.eq(format_receipt_number('2024-06-01 12:00:00+03', 1234567), '2024-1234567',
                       'receipt numbers grow past 6 digits without truncation');
END $$;

-- ---------------------------------------------------------------------------
\echo '# adjust_balance'
DO $$
DECLARE
    r   adjust_balance_result;
    bal bigint := (pg_temp.acc('999999000005')).balance;
BEGIN
    r := adjust_balance('999999000005', -2500, 'wrong tariff in May');
    PERFORM pg_temp.check(r.result = 'adjusted' AND r.amount = -2500 AND r.balance_after = bal - 2500
                          AND r.ledger_id IS NOT NULL, 'adjust_balance: debit adjustment');
    PERFORM pg_temp.check((SELECT kind = 'adjustment' AND note = 'wrong tariff in May' AND payment_id IS NULL
                            FROM ledger WHERE id = r.ledger_id), 'adjustment ledger row carries the reason');
    r := adjust_balance('999999000005', 1000, 'goodwill');
    PERFORM pg_temp.eq((pg_temp.acc('999999000005')).balance, bal - 1500, 'adjust_balance: credit adjustment');
    r := adjust_balance('999999000077', 1000, 'nobody');
    PERFORM pg_temp.eq(r.result, 'account_not_found', 'adjust_balance: unknown contract');
    PERFORM pg_temp.raises($q$SELECT adjust_balance('999999000005', 0, 'zero')$q$, '22023', 'adjust_balance of 0 raises');
    PERFORM pg_temp.raises($q$SELECT adjust_balance('999999000005', 10, ' ')$q$, '22023', 'adjust_balance needs a reason');
    PERFORM pg_temp.raises($q$UPDATE accounts SET balance = 0 WHERE contract = '999999000005'$q$, '23000',
                           'the guard is back on after adjust_balance in the same transaction');
    PERFORM pg_temp.eq(coalesce(current_setting('gateway.money_write', true), ''), '', 'booking functions leave gateway.money_write off');
END;
$$;

-- ---------------------------------------------------------------------------
\echo '# ledger_invariant_violations'
DO $$
DECLARE
    n      bigint;
    probs  text[];
    acc    bigint := (SELECT id FROM accounts WHERE contract = '999999000002');
BEGIN
    SELECT count(*) INTO n FROM ledger_invariant_violations();
    PERFORM pg_temp.eq(n, 0::bigint, 'invariants hold after all the bookings above');
    PERFORM pg_temp.eq((SELECT balance FROM accounts WHERE id = acc),
                       (SELECT (opening_balance + sum(l.amount))::bigint FROM accounts a JOIN ledger l ON l.account_id = a.id
                         WHERE a.id = acc GROUP BY a.opening_balance),
                       'balance = opening_balance + sum(ledger) (account 2, by hand)');

    -- Break each invariant inside a subtransaction, look, roll back.
    BEGIN
        PERFORM set_config('gateway.money_write', 'on', true);
        UPDATE accounts SET balance = balance + 1 WHERE id = acc;
        SELECT array_agg(problem ORDER BY problem) INTO probs FROM ledger_invariant_violations() v WHERE v.account_id = acc;
        RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM pg_temp.eq(probs, ARRAY['balance_mismatch'], 'detects a balance changed without a ledger row');

    BEGIN
        PERFORM set_config('gateway.money_write', 'on', true);
        INSERT INTO payments (account_id, amount, channel, adapter, status, paid_at)
        VALUES (acc, 100, 'api', 'test-web', 'succeeded', now());
        SELECT array_agg(problem ORDER BY problem) INTO probs FROM ledger_invariant_violations() v WHERE v.account_id = acc;
        RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM pg_temp.eq(probs, ARRAY['credit_count'], 'detects a succeeded payment without a credit row');

    BEGIN
        DELETE FROM receipts WHERE payment_id = (SELECT id FROM payments WHERE account_id = acc AND provider_txn_id = 'T-2');
        SELECT array_agg(problem ORDER BY problem) INTO probs FROM ledger_invariant_violations() v WHERE v.account_id = acc;
        RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM pg_temp.eq(probs, ARRAY['missing_receipt'], 'detects a booked payment without a receipt');

    BEGIN
        ALTER TABLE ledger DISABLE TRIGGER ledger_append_only;
        UPDATE ledger SET balance_after = balance_after + 1
         WHERE id = (SELECT min(id) FROM ledger WHERE account_id = acc);
        SELECT array_agg(problem ORDER BY problem) INTO probs FROM ledger_invariant_violations() v WHERE v.account_id = acc;
        RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM pg_temp.eq(probs, ARRAY['balance_after_mismatch'], 'detects a broken balance_after chain');

    BEGIN
        ALTER TABLE ledger DISABLE TRIGGER ledger_append_only;
        UPDATE ledger SET amount = amount + 1, balance_after = balance_after + 1
         WHERE id = (SELECT max(id) FROM ledger WHERE account_id = acc);
        PERFORM set_config('gateway.money_write', 'on', true);
        UPDATE accounts SET balance = balance + 1 WHERE id = acc;
        SELECT array_agg(problem ORDER BY problem) INTO probs FROM ledger_invariant_violations() v WHERE v.account_id = acc;
        RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM pg_temp.eq(probs, ARRAY['ledger_payment_mismatch'], 'detects a credit that differs from its payment');

    SELECT count(*) INTO n FROM ledger_invariant_violations();
    PERFORM pg_temp.eq(n, 0::bigint, 'invariants hold again after the rollbacks');
    PERFORM pg_temp.eq(coalesce(current_setting('gateway.money_write', true), ''), '', 'guard flag rolled back with the subtransactions');
END;
$$;

\echo '# all booking tests passed'
ROLLBACK;
