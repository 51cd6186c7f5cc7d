-- 002_booking.sql — the booking functions: the only way money moves.
--
-- Each public function is one call = one round trip, is idempotent, and
-- returns exactly one row. Call them in READ COMMITTED (the default): the
-- ON CONFLICT wait and the re-read after it rely on a fresh snapshot per
-- statement.
--
--   book_payment()        book an already-paid terminal/partner payment
--   settle_payment()      created|pending -> succeeded for a web payment, credit it
--   transition_payment()  non-money transitions (pending, failed, canceled)
--   adjust_balance()      operator's correction (ledger 'adjustment')
--   ledger_invariant_violations()  empty = healthy
--
-- Internal: booking_credit() — credit + ledger + receipt + event, shared by
-- book_payment() and settle_payment().
--
-- Lock order everywhere: payment row (or its unique-index entry) first, then
-- the account row. The account row lock serialises bookings to one account,
-- so per account the ledger id order is the booking order.

-- ---------------------------------------------------------------------------
-- Result types

CREATE TYPE book_payment_result AS (
    result          text,         -- booked | duplicate | mismatch | account_not_found | account_inactive
    payment_id      uuid,
    payment_number  bigint,
    amount          bigint,
    contract        text,
    paid_at         timestamptz,
    balance_after   bigint,
    receipt_number  text,
    provider_time   timestamptz
);
COMMENT ON TYPE book_payment_result IS 'Row returned by book_payment().';

CREATE TYPE settle_payment_result AS (
    result          text,         -- booked | already | not_found | invalid_state
    payment_id      uuid,
    payment_number  bigint,
    amount          bigint,
    paid_at         timestamptz,
    balance_after   bigint,
    receipt_number  text
);
COMMENT ON TYPE settle_payment_result IS 'Row returned by settle_payment().';

CREATE TYPE transition_payment_result AS (
    result          text,         -- ok | already | invalid_state | not_found
    payment_id      uuid,
    payment_number  bigint,
    status          text,         -- status after the call
    previous_status text          -- status before the call
);
COMMENT ON TYPE transition_payment_result IS 'Row returned by transition_payment().';

CREATE TYPE adjust_balance_result AS (
    result          text,         -- adjusted | account_not_found
    account_id      bigint,
    ledger_id       bigint,
    amount          bigint,
    balance_after   bigint
);
COMMENT ON TYPE adjust_balance_result IS 'Row returned by adjust_balance().';

-- ---------------------------------------------------------------------------
-- Internal helpers

CREATE FUNCTION booking_check_source(p_source text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_source IS NULL OR p_source NOT IN ('request', 'notification', 'poll', 'operator', 'janitor') THEN
        RAISE EXCEPTION 'invalid event source %', coalesce(quote_literal(p_source), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$$;
COMMENT ON FUNCTION booking_check_source(text) IS
    'Internal: raises invalid_parameter_value unless the source is request|notification|poll|operator|janitor.';

CREATE FUNCTION booking_check_token(p_receipt_token text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_receipt_token IS NULL OR length(p_receipt_token) < 32 THEN
        RAISE EXCEPTION 'receipt token must be at least 32 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$$;
COMMENT ON FUNCTION booking_check_token(text) IS
    'Internal: raises invalid_parameter_value unless the receipt token has at least 32 characters.';

-- Credit a payment that the caller has just put into 'succeeded' (inserted or
-- updated, paid_at set, in this transaction, with the payment row or its
-- unique-index entry held): add the amount to the account's balance, append
-- the credit ledger row, write the receipt (outbox) and the payment event.
-- The caller must have gateway.money_write = on.
CREATE FUNCTION booking_credit(
    p_payment_id    uuid,
    p_account_id    bigint,
    p_amount        bigint,
    p_from_status   text,
    p_source        text,
    p_email         text,
    p_receipt_token text,
    p_raw           jsonb,
    OUT o_balance_after  bigint,
    OUT o_receipt_number text)
LANGUAGE plpgsql AS $$
DECLARE
    v_email text := nullif(btrim(p_email), '');
BEGIN
    -- The row lock taken here serialises concurrent bookings to one account.
    UPDATE accounts SET balance = balance + p_amount
     WHERE id = p_account_id
    RETURNING balance INTO o_balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % of payment % does not exist', p_account_id, p_payment_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after)
    VALUES (p_account_id, p_payment_id, 'credit', p_amount, o_balance_after);

    INSERT INTO receipts (payment_id, token, email, state)
    VALUES (p_payment_id, p_receipt_token, v_email,
            CASE WHEN v_email IS NULL THEN 'no_email' ELSE 'pending' END)
    RETURNING number INTO o_receipt_number;

    INSERT INTO payment_events (payment_id, from_status, to_status, source, raw)
    VALUES (p_payment_id, p_from_status, 'succeeded', p_source, p_raw);
END;
$$;
COMMENT ON FUNCTION booking_credit(uuid, bigint, bigint, text, text, text, text, jsonb) IS
    'Internal to book_payment()/settle_payment(); do not call directly. In the caller''s transaction: '
    'balance += amount (locks the account row), one credit ledger row with balance_after, the receipt '
    '(state no_email when email is NULL, else pending -> NOTIFY receipts) and the payment event to succeeded.';

-- Answer for a provider transaction that already has a payment.
CREATE FUNCTION book_payment_existing(p payments, p_contract text, p_amount bigint)
RETURNS book_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r book_payment_result;
BEGIN
    SELECT a.contract INTO r.contract FROM accounts a WHERE a.id = p.account_id;
    SELECT l.balance_after INTO r.balance_after
      FROM ledger l WHERE l.payment_id = p.id AND l.kind = 'credit';
    SELECT rc.number INTO r.receipt_number FROM receipts rc WHERE rc.payment_id = p.id;

    r.result := CASE WHEN r.contract = p_contract AND p.amount = p_amount
                          AND p.status IN ('succeeded', 'refunded')
                     THEN 'duplicate' ELSE 'mismatch' END;
    r.payment_id     := p.id;
    r.payment_number := p.number;
    r.amount         := p.amount;
    r.paid_at        := p.paid_at;
    r.provider_time  := p.provider_time;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION book_payment_existing(payments, text, bigint) IS
    'Internal to book_payment(): ''duplicate'' (same contract and amount, already booked) or ''mismatch'', '
    'with the ORIGINAL payment''s id, number, amount, contract, paid_at, balance_after, receipt number.';

-- ---------------------------------------------------------------------------
-- book_payment

CREATE FUNCTION book_payment(
    p_channel         text,
    p_adapter         text,
    p_partner_id      bigint,
    p_provider_txn_id text,
    p_contract        text,
    p_amount          bigint,
    p_method          text,
    p_email           text,
    p_provider_time   timestamptz,
    p_receipt_token   text,
    p_raw             jsonb)
RETURNS book_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r          book_payment_result;
    v_pay      payments;
    v_acc_id   bigint;
    v_acc_st   text;
    v_email    text := nullif(btrim(p_email), '');
    v_flag     text;
    v_credit   record;
BEGIN
    IF p_provider_txn_id IS NULL OR p_provider_txn_id = '' THEN
        RAISE EXCEPTION 'book_payment needs a provider transaction id'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'book_payment: amount must be positive, got %', p_amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_adapter IS NULL OR p_contract IS NULL THEN
        RAISE EXCEPTION 'book_payment: adapter and contract are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- 1. A retry of a transaction already booked answers 'duplicate' whatever
    --    happened to the account since.
    SELECT * INTO v_pay FROM payments
     WHERE adapter = p_adapter
       AND COALESCE(partner_id, 0) = COALESCE(p_partner_id, 0)
       AND provider_txn_id = p_provider_txn_id;
    IF FOUND THEN
        RETURN book_payment_existing(v_pay, p_contract, p_amount);
    END IF;

    -- 2. The account.
    SELECT id, status INTO v_acc_id, v_acc_st FROM accounts WHERE contract = p_contract;
    IF NOT FOUND OR v_acc_st <> 'active' THEN
        r.result := CASE WHEN v_acc_id IS NULL THEN 'account_not_found' ELSE 'account_inactive' END;
        r.contract := p_contract;
        r.amount := p_amount;
        r.provider_time := p_provider_time;
        RETURN r;
    END IF;

    PERFORM booking_check_token(p_receipt_token);

    -- 3. Book. A concurrent identical call waits here on the unique index
    --    until the first transaction ends, then takes the conflict branch.
    v_flag := current_setting('gateway.money_write', true);
    PERFORM set_config('gateway.money_write', 'on', true);

    INSERT INTO payments (account_id, amount, channel, adapter, partner_id, method,
                          provider_txn_id, status, payer_email, provider_time, paid_at)
    VALUES (v_acc_id, p_amount, p_channel, p_adapter, p_partner_id, p_method,
            p_provider_txn_id, 'succeeded', v_email, p_provider_time, now())
    ON CONFLICT (adapter, (COALESCE(partner_id, 0)), provider_txn_id) DO NOTHING
    RETURNING * INTO v_pay;

    IF NOT FOUND THEN
        PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
        SELECT * INTO v_pay FROM payments
         WHERE adapter = p_adapter
           AND COALESCE(partner_id, 0) = COALESCE(p_partner_id, 0)
           AND provider_txn_id = p_provider_txn_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'book_payment: conflicting payment for txn % vanished', p_provider_txn_id
                USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN book_payment_existing(v_pay, p_contract, p_amount);
    END IF;

    SELECT * INTO v_credit
      FROM booking_credit(v_pay.id, v_acc_id, p_amount, NULL, 'request',
                          v_email, p_receipt_token, p_raw);
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);

    r.result         := 'booked';
    r.payment_id     := v_pay.id;
    r.payment_number := v_pay.number;
    r.amount         := v_pay.amount;
    r.contract       := p_contract;
    r.paid_at        := v_pay.paid_at;
    r.balance_after  := v_credit.o_balance_after;
    r.receipt_number := v_credit.o_receipt_number;
    r.provider_time  := v_pay.provider_time;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION book_payment(text, text, bigint, text, text, bigint, text, text, timestamptz, text, jsonb) IS
    'Books a payment that is already paid (terminal / partner cash), idempotently, in one call. '
    'result: booked (payment succeeded + balance + credit ledger row + receipt + event, one transaction); '
    'duplicate (same adapter/partner/txn id, same contract and amount: nothing written, the ORIGINAL '
    'payment id/number/paid_at/balance_after/receipt number); mismatch (same txn id, different contract '
    'or amount, or the earlier payment is not booked: nothing written, the existing payment''s data); '
    'account_not_found / account_inactive (nothing written; a retry of a booked txn is duplicate even if '
    'the account is no longer active). Two concurrent identical calls give one booked and one duplicate. '
    'Raises invalid_parameter_value on a missing txn id, non-positive amount or short receipt token.';

-- ---------------------------------------------------------------------------
-- settle_payment

CREATE FUNCTION settle_payment(
    p_payment_id    uuid,
    p_source        text,
    p_receipt_token text,
    p_raw           jsonb)
RETURNS settle_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r        settle_payment_result;
    v_pay    payments;
    v_from   text;
    v_flag   text;
    v_credit record;
BEGIN
    PERFORM booking_check_source(p_source);

    SELECT * INTO v_pay FROM payments WHERE id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        r.result := 'not_found';
        r.payment_id := p_payment_id;
        RETURN r;
    END IF;

    r.payment_id     := v_pay.id;
    r.payment_number := v_pay.number;
    r.amount         := v_pay.amount;

    IF v_pay.status IN ('succeeded', 'refunded') THEN
        r.result  := 'already';
        r.paid_at := v_pay.paid_at;
        SELECT l.balance_after INTO r.balance_after
          FROM ledger l WHERE l.payment_id = v_pay.id AND l.kind = 'credit';
        SELECT rc.number INTO r.receipt_number FROM receipts rc WHERE rc.payment_id = v_pay.id;
        RETURN r;
    END IF;
    IF v_pay.status NOT IN ('created', 'pending') THEN
        r.result := 'invalid_state';
        RETURN r;
    END IF;

    PERFORM booking_check_token(p_receipt_token);

    v_from := v_pay.status;
    v_flag := current_setting('gateway.money_write', true);
    PERFORM set_config('gateway.money_write', 'on', true);

    UPDATE payments SET status = 'succeeded', paid_at = now()
     WHERE id = v_pay.id
    RETURNING * INTO v_pay;

    SELECT * INTO v_credit
      FROM booking_credit(v_pay.id, v_pay.account_id, v_pay.amount, v_from, p_source,
                          v_pay.payer_email, p_receipt_token, p_raw);
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);

    r.result         := 'booked';
    r.paid_at        := v_pay.paid_at;
    r.balance_after  := v_credit.o_balance_after;
    r.receipt_number := v_credit.o_receipt_number;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION settle_payment(uuid, text, text, jsonb) IS
    'Moves a web payment created|pending -> succeeded and credits it (balance, credit ledger row, receipt '
    'to payer_email, event), idempotently, in one call; locks the payment row. result: booked; already '
    '(succeeded/refunded: nothing written, original paid_at/balance_after/receipt number); not_found; '
    'invalid_state (failed/canceled: a payment never moves backwards, nothing written — the service should '
    'flag it for an operator if the provider reports money for it). The account is credited whatever its status.';

-- ---------------------------------------------------------------------------
-- transition_payment

CREATE FUNCTION transition_payment(
    p_payment_id uuid,
    p_to         text,
    p_source     text,
    p_reason     text,
    p_raw        jsonb)
RETURNS transition_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r     transition_payment_result;
    v_pay payments;
BEGIN
    IF p_to IS NULL OR p_to NOT IN ('pending', 'failed', 'canceled') THEN
        RAISE EXCEPTION 'transition_payment cannot move a payment to %', coalesce(quote_literal(p_to), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'succeeded is reached only through settle_payment()/book_payment().';
    END IF;
    PERFORM booking_check_source(p_source);

    SELECT * INTO v_pay FROM payments WHERE id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        r.result := 'not_found';
        r.payment_id := p_payment_id;
        RETURN r;
    END IF;

    r.payment_id      := v_pay.id;
    r.payment_number  := v_pay.number;
    r.previous_status := v_pay.status;
    r.status          := v_pay.status;

    IF v_pay.status = p_to THEN
        r.result := 'already';
        RETURN r;
    END IF;
    IF NOT ((v_pay.status = 'created' AND p_to = 'pending')
         OR (v_pay.status IN ('created', 'pending') AND p_to IN ('failed', 'canceled'))) THEN
        r.result := 'invalid_state';
        RETURN r;
    END IF;

    UPDATE payments
       SET status = p_to,
           failure_reason = CASE WHEN p_to IN ('failed', 'canceled')
                                 THEN coalesce(p_reason, failure_reason)
                                 ELSE failure_reason END
     WHERE id = v_pay.id;

    INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
    VALUES (v_pay.id, v_pay.status, p_to, p_source, p_reason, p_raw);

    r.result := 'ok';
    r.status := p_to;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION transition_payment(uuid, text, text, text, jsonb) IS
    'Non-money transitions, validated here: created -> pending, created|pending -> failed|canceled '
    '(reason saved as failure_reason). Locks the payment row; records a payment event. result: ok; '
    'already (already in that state, nothing written); invalid_state (any other move, e.g. a late '
    'failure after success: nothing written); not_found. Raises invalid_parameter_value for a target '
    'other than pending/failed/canceled or an unknown source.';

-- ---------------------------------------------------------------------------
-- adjust_balance (operator)

CREATE FUNCTION adjust_balance(
    p_contract text,
    p_amount   bigint,
    p_note     text)
RETURNS adjust_balance_result
LANGUAGE plpgsql AS $$
DECLARE
    r      adjust_balance_result;
    v_flag text;
BEGIN
    IF p_amount IS NULL OR p_amount = 0 THEN
        RAISE EXCEPTION 'adjust_balance: amount must be non-zero'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_note IS NULL OR btrim(p_note) = '' THEN
        RAISE EXCEPTION 'adjust_balance: a reason (note) is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_flag := current_setting('gateway.money_write', true);
    PERFORM set_config('gateway.money_write', 'on', true);
    UPDATE accounts SET balance = balance + p_amount
     WHERE contract = p_contract
    RETURNING id, balance INTO r.account_id, r.balance_after;
    IF NOT FOUND THEN
        PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
        r.result := 'account_not_found';
        RETURN r;
    END IF;

    INSERT INTO ledger (account_id, kind, amount, balance_after, note)
    VALUES (r.account_id, 'adjustment', p_amount, r.balance_after, p_note)
    RETURNING id INTO r.ledger_id;
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);

    r.result := 'adjusted';
    r.amount := p_amount;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION adjust_balance(text, bigint, text) IS
    'Operator''s balance correction: balance += amount (signed, non-zero) with an ''adjustment'' ledger row '
    'carrying the reason. Not idempotent: the caller must not retry blindly. result: adjusted | account_not_found.';

-- ---------------------------------------------------------------------------
-- ledger_invariant_violations

CREATE FUNCTION ledger_invariant_violations()
RETURNS TABLE (problem text, account_id bigint, payment_id uuid, detail text)
LANGUAGE sql STABLE AS $$
    WITH sums AS (
        SELECT l.account_id, sum(l.amount) AS total
          FROM ledger l GROUP BY l.account_id
    ), per_payment AS (
        SELECT l.payment_id,
               count(*) FILTER (WHERE l.kind = 'credit')           AS credits,
               coalesce(-sum(l.amount) FILTER (WHERE l.kind = 'debit'), 0) AS debited
          FROM ledger l WHERE l.payment_id IS NOT NULL GROUP BY l.payment_id
    ), running AS (
        SELECT l.id, l.account_id, l.payment_id, l.balance_after,
               sum(l.amount) OVER (PARTITION BY l.account_id ORDER BY l.id) AS running_total
          FROM ledger l
    )
    -- balance = opening_balance + sum(ledger)
    SELECT 'balance_mismatch', a.id, NULL::uuid,
           format('contract %s: balance %s <> opening %s + ledger %s',
                  a.contract, a.balance, a.opening_balance, coalesce(s.total, 0))
      FROM accounts a LEFT JOIN sums s ON s.account_id = a.id
     WHERE a.balance <> a.opening_balance + coalesce(s.total, 0)
    UNION ALL
    -- each ledger row's balance_after = opening_balance + running sum
    SELECT 'balance_after_mismatch', r.account_id, r.payment_id,
           format('ledger row %s: balance_after %s <> %s', r.id, r.balance_after,
                  a.opening_balance + r.running_total)
      FROM running r JOIN accounts a ON a.id = r.account_id
     WHERE r.balance_after <> a.opening_balance + r.running_total
    UNION ALL
    -- every succeeded/refunded payment: exactly one credit, one receipt, debits = refunded_amount
    SELECT CASE WHEN coalesce(pp.credits, 0) <> 1 THEN 'credit_count'
                WHEN rc.id IS NULL THEN 'missing_receipt'
                ELSE 'refund_mismatch' END,
           p.account_id, p.id,
           format('payment %s (%s): %s credit rows, receipt %s, debited %s, refunded_amount %s',
                  p.number, p.status, coalesce(pp.credits, 0), coalesce(rc.number, 'none'),
                  coalesce(pp.debited, 0), p.refunded_amount)
      FROM payments p
      LEFT JOIN per_payment pp ON pp.payment_id = p.id
      LEFT JOIN receipts rc ON rc.payment_id = p.id
     WHERE p.status IN ('succeeded', 'refunded')
       AND (coalesce(pp.credits, 0) <> 1 OR rc.id IS NULL
            OR coalesce(pp.debited, 0) <> p.refunded_amount)
    UNION ALL
    -- money or receipts attached to a payment that is not booked, or to the wrong account/amount
    SELECT 'ledger_payment_mismatch', l.account_id, l.payment_id,
           format('ledger row %s (%s %s): payment %s is %s, amount %s, account %s',
                  l.id, l.kind, l.amount, p.number, p.status, p.amount, p.account_id)
      FROM ledger l JOIN payments p ON p.id = l.payment_id
     WHERE (l.kind = 'credit' AND (p.status NOT IN ('succeeded', 'refunded')
                                   OR l.amount <> p.amount OR l.account_id <> p.account_id))
        OR (l.kind = 'debit' AND l.account_id <> p.account_id)
    UNION ALL
    SELECT 'receipt_unpaid', p.account_id, p.id,
           format('receipt %s for payment %s in status %s', rc.number, p.number, p.status)
      FROM receipts rc JOIN payments p ON p.id = rc.payment_id
     WHERE p.status NOT IN ('succeeded', 'refunded')
$$;
COMMENT ON FUNCTION ledger_invariant_violations() IS
    'Health check of the money invariants; an empty result = healthy. Reports: balance_mismatch (balance <> '
    'opening_balance + sum(ledger)), balance_after_mismatch (ledger chain broken), credit_count / '
    'missing_receipt / refund_mismatch (a succeeded/refunded payment without exactly one credit row, '
    'without a receipt, or with debits <> refunded_amount), ledger_payment_mismatch and receipt_unpaid '
    '(money or receipt attached to an unbooked payment or the wrong account/amount). Full scan: run it '
    'from monitoring or tests, not per request.';
