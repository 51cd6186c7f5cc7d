-- 007_refunds.sql — refunds of web payments through their provider, and the janitor's
-- bookkeeping of payments nobody confirmed.
--
--   refunds                one row per refund request (Idempotency-Key), pending until the
--                          provider answers; the money moves only when it says succeeded
--   refund_begin()         validates and reserves a refund (or finds the one under this key)
--   refund_succeeded()     the provider refunded: ledger debit, refunded_amount, status, event
--   refund_failed()        the provider refused: the reservation is released, event recorded
--   refund_unknown()       the outcome is unknown: stays pending, may be driven again (same key)
--   payments.recheck_at    when the janitor may next ask the provider about a payment
--
-- Semantics: a refund never exceeds what was paid (amount - refunded_amount - pending refunds);
-- a partial refund keeps the payment 'succeeded' with refunded_amount > 0; the payment becomes
-- 'refunded' when refunded_amount reaches amount. Cash (terminal / partner) payments are refused:
-- their refunds go through the terminal network. The account's balance may go negative.

ALTER TABLE payments ADD COLUMN recheck_at timestamptz NULL;
COMMENT ON COLUMN payments.recheck_at IS
    'Janitor: not before this time is the provider asked again about this created/pending web payment.';
CREATE INDEX payments_unsettled_idx ON payments (created_at) WHERE status IN ('created', 'pending');

CREATE TABLE refunds (
    id                 uuid   PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_id         uuid   NOT NULL REFERENCES payments (id),
    key                text   NOT NULL UNIQUE
                       CONSTRAINT refunds_key_length CHECK (length(key) BETWEEN 1 AND 128),
    requested          bigint NULL
                       CONSTRAINT refunds_requested_positive CHECK (requested > 0),
    amount             bigint NOT NULL
                       CONSTRAINT refunds_amount_positive CHECK (amount > 0),
    status             text   NOT NULL DEFAULT 'pending'
                       CONSTRAINT refunds_status_valid CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_refund_id text   NULL,
    failure_reason     text   NULL,
    ledger_id          bigint NULL REFERENCES ledger (id),
    locked_until       timestamptz NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_booked_iff_succeeded CHECK ((ledger_id IS NOT NULL) = (status = 'succeeded'))
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id, created_at);
COMMENT ON TABLE refunds IS
    'Refunds of web payments, one per Idempotency-Key (key, unique). requested NULL = "the rest". '
    'pending = the provider has not (knowingly) refunded yet; its amount is reserved. succeeded = the '
    'provider refunded and the ledger debit (ledger_id) is booked. failed = the provider refused. '
    'locked_until: a provider call for this refund is in flight; nobody else drives it before then.';

CREATE TYPE refund_result AS (
    result             text,    -- started | existing | conflict | in_progress | not_found | cash_refused |
                                -- not_refundable | unsupported | exceeds | nothing_left |
                                -- booked | already | refused | unknown | invalid_state
    refund_id          uuid,
    payment_id         uuid,
    amount             bigint,  -- the refund's
    refund_status      text,
    payment_status     text,
    payment_amount     bigint,
    refunded_amount    bigint,  -- of the payment, after the call
    available          bigint,  -- still refundable (amount - refunded - pending)
    adapter            text,
    provider_txn_id    text,
    provider_refund_id text,
    failure_reason     text,
    channel            text,
    created_at         timestamptz
);
COMMENT ON TYPE refund_result IS 'Row returned by the refund_*() functions.';

CREATE FUNCTION refund_view(p_refund_id uuid, p_result text)
RETURNS refund_result
LANGUAGE sql STABLE AS $$
    SELECT p_result, f.id, p.id, f.amount, f.status, p.status, p.amount, p.refunded_amount,
           p.amount - p.refunded_amount
             - coalesce((SELECT sum(o.amount) FROM refunds o WHERE o.payment_id = p.id AND o.status = 'pending'), 0),
           p.adapter, p.provider_txn_id, f.provider_refund_id, f.failure_reason, p.channel, f.created_at
      FROM refunds f JOIN payments p ON p.id = f.payment_id
     WHERE f.id = p_refund_id
$$;
COMMENT ON FUNCTION refund_view(uuid, text) IS 'Internal: a refund and its payment as a refund_result row.';

CREATE FUNCTION refund_begin(
    p_payment_id uuid,
    p_amount     bigint,    -- NULL: the rest
    p_key        text,
    p_lease_secs int,
    p_adapters   text[])  -- adapters that can refund on this gateway
RETURNS refund_result
LANGUAGE plpgsql AS $$
DECLARE
    r       refund_result;
    v_ref   refunds;
    v_pay   payments;
    v_avail bigint;
    v_amt   bigint;
BEGIN
    IF p_amount IS NOT NULL AND p_amount <= 0 THEN
        RAISE EXCEPTION 'refund_begin: amount must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Lock order: payment, then refund rows. A concurrent request with the same key waits on the
    -- payment lock, then finds the first one's row.
    SELECT * INTO v_pay FROM payments WHERE id = p_payment_id FOR UPDATE;
    SELECT * INTO v_ref FROM refunds WHERE key = p_key FOR UPDATE;
    IF FOUND THEN
        IF v_ref.payment_id <> p_payment_id OR v_ref.requested IS DISTINCT FROM p_amount THEN
            r.result := 'conflict';
            RETURN r;
        END IF;
        IF v_ref.status = 'pending' THEN
            IF v_ref.locked_until > now() THEN
                RETURN refund_view(v_ref.id, 'in_progress');
            END IF;
            UPDATE refunds SET locked_until = now() + make_interval(secs => p_lease_secs), updated_at = now()
             WHERE id = v_ref.id;
        END IF;
        RETURN refund_view(v_ref.id, 'existing');
    END IF;

    IF v_pay.id IS NULL THEN
        r.result := 'not_found';
        RETURN r;
    END IF;
    r.payment_id := v_pay.id;
    r.payment_status := v_pay.status;
    r.payment_amount := v_pay.amount;
    r.refunded_amount := v_pay.refunded_amount;
    r.channel := v_pay.channel;
    r.adapter := v_pay.adapter;
    IF v_pay.channel IN ('terminal', 'partner') THEN
        r.result := 'cash_refused';
        RETURN r;
    END IF;
    IF v_pay.status NOT IN ('succeeded', 'refunded') THEN
        r.result := 'not_refundable';
        RETURN r;
    END IF;
    IF NOT v_pay.adapter = ANY (p_adapters) THEN
        r.result := 'unsupported';
        RETURN r;
    END IF;
    v_avail := v_pay.amount - v_pay.refunded_amount
               - coalesce((SELECT sum(amount) FROM refunds WHERE payment_id = v_pay.id AND status = 'pending'), 0);
    r.available := v_avail;
    v_amt := coalesce(p_amount, v_avail);
    IF v_avail <= 0 THEN
        r.result := 'nothing_left';
        RETURN r;
    END IF;
    IF v_amt > v_avail THEN
        r.result := 'exceeds';
        r.amount := v_amt;
        RETURN r;
    END IF;
    INSERT INTO refunds (payment_id, key, requested, amount, locked_until)
    VALUES (v_pay.id, p_key, p_amount, v_amt, now() + make_interval(secs => p_lease_secs))
    ON CONFLICT (key) DO NOTHING
    RETURNING id INTO r.refund_id;
    IF r.refund_id IS NULL THEN
        -- the same key, concurrently, for another payment (the same payment would have waited above)
        r.result := 'conflict';
        RETURN r;
    END IF;
    RETURN refund_view(r.refund_id, 'started');
END;
$$;
COMMENT ON FUNCTION refund_begin(uuid, bigint, text, int, text[]) IS
    'Starts a refund of p_amount kopecks (NULL: everything not yet refunded or reserved) under the key, '
    'in one transaction; locks the payment. result: started (a pending refund reserved; call the provider); '
    'existing (this key was used for the same payment and amount: its current state — pending ones are '
    'leased again for another provider call, succeeded/failed are final); in_progress (pending, and a '
    'provider call for it is in flight); conflict (the key belongs to another payment or amount); not_found; '
    'cash_refused (terminal/partner payment); not_refundable (not succeeded/refunded); unsupported (its '
    'adapter cannot refund here, p_adapters); nothing_left; '
    'exceeds (more than available). Nothing is written except on started/existing-pending.';

CREATE FUNCTION refund_succeeded(p_refund_id uuid, p_provider_refund_id text, p_raw jsonb)
RETURNS refund_result
LANGUAGE plpgsql AS $$
DECLARE
    v_ref    refunds;
    v_pay    payments;
    v_bal    bigint;
    v_ledger bigint;
    v_to     text;
    v_flag   text;
BEGIN
    SELECT p.* INTO v_pay FROM payments p JOIN refunds f ON f.payment_id = p.id
     WHERE f.id = p_refund_id FOR UPDATE OF p;
    SELECT * INTO v_ref FROM refunds WHERE id = p_refund_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN refund_view(p_refund_id, 'not_found');
    END IF;
    IF v_ref.status = 'succeeded' THEN
        RETURN refund_view(v_ref.id, 'already');
    END IF;
    IF v_ref.status <> 'pending' OR v_pay.refunded_amount + v_ref.amount > v_pay.amount THEN
        RETURN refund_view(v_ref.id, 'invalid_state');
    END IF;

    v_flag := current_setting('gateway.money_write', true);
    PERFORM set_config('gateway.money_write', 'on', true);
    UPDATE accounts SET balance = balance - v_ref.amount WHERE id = v_pay.account_id
    RETURNING balance INTO v_bal;
    INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after, note)
    VALUES (v_pay.account_id, v_pay.id, 'debit', -v_ref.amount, v_bal, 'refund ' || v_ref.id)
    RETURNING id INTO v_ledger;
    v_to := CASE WHEN v_pay.refunded_amount + v_ref.amount = v_pay.amount THEN 'refunded' ELSE v_pay.status END;
    UPDATE payments SET refunded_amount = refunded_amount + v_ref.amount, status = v_to WHERE id = v_pay.id;
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);

    UPDATE refunds SET status = 'succeeded', provider_refund_id = p_provider_refund_id, ledger_id = v_ledger,
                       failure_reason = NULL, locked_until = NULL, updated_at = now()
     WHERE id = v_ref.id;
    INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
    VALUES (v_pay.id, v_pay.status, v_to, 'operator',
            format('refund %s: %s kopecks (%s of %s refunded)', v_ref.id, v_ref.amount,
                   v_pay.refunded_amount + v_ref.amount, v_pay.amount), p_raw);
    RETURN refund_view(v_ref.id, 'booked');
END;
$$;
COMMENT ON FUNCTION refund_succeeded(uuid, text, jsonb) IS
    'The provider refunded: debits the account (ledger kind debit, negative amount, balance_after), '
    'adds to payments.refunded_amount, moves succeeded -> refunded when everything is refunded, records '
    'a payment event (source operator) and marks the refund succeeded — one transaction, idempotent. '
    'result: booked | already | invalid_state (failed refund, or it would exceed the payment) | not_found.';

CREATE FUNCTION refund_failed(p_refund_id uuid, p_reason text, p_raw jsonb)
RETURNS refund_result
LANGUAGE plpgsql AS $$
DECLARE
    v_ref refunds;
    v_pay payments;
BEGIN
    SELECT * INTO v_ref FROM refunds WHERE id = p_refund_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN refund_view(p_refund_id, 'not_found');
    END IF;
    IF v_ref.status <> 'pending' THEN
        RETURN refund_view(v_ref.id, CASE WHEN v_ref.status = 'failed' THEN 'already' ELSE 'invalid_state' END);
    END IF;
    SELECT * INTO v_pay FROM payments WHERE id = v_ref.payment_id;
    UPDATE refunds SET status = 'failed', failure_reason = p_reason, locked_until = NULL, updated_at = now()
     WHERE id = v_ref.id;
    INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
    VALUES (v_pay.id, v_pay.status, v_pay.status, 'operator',
            format('refund %s of %s kopecks refused by the provider: %s', v_ref.id, v_ref.amount, p_reason), p_raw);
    RETURN refund_view(v_ref.id, 'refused');
END;
$$;
COMMENT ON FUNCTION refund_failed(uuid, text, jsonb) IS
    'The provider refused the refund: the refund is failed (its reservation released), an event records '
    'why. Nothing about money changes. result: refused | already | invalid_state | not_found.';

CREATE FUNCTION refund_unknown(p_refund_id uuid, p_reason text)
RETURNS refund_result
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE refunds SET failure_reason = p_reason, locked_until = NULL, updated_at = now()
     WHERE id = p_refund_id AND status = 'pending';
    RETURN refund_view(p_refund_id, 'unknown');
END;
$$;
COMMENT ON FUNCTION refund_unknown(uuid, text) IS
    'The provider could not be reached or its answer was unclear: the refund stays pending (amount '
    'reserved) with the reason, and the lease is released so a retry with the same key drives it again.';
