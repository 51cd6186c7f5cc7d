-- 006_web_payments.sql — the web (pay-without-login) path: idempotent creation,
-- the provider hand-off, and one function that applies a provider's verdict.
--
--   create_web_payment()     Idempotency-Key + account + payment 'created', one transaction
--   payment_started()        provider accepted: provider id, confirmation URL, -> pending
--   payment_start_failed()   provider refused or unreachable: -> failed, never left dangling
--   apply_provider_status()  a notification / status poll: the state machine's single entry

ALTER TABLE payments
    ADD COLUMN return_url       text NULL CONSTRAINT payments_return_url_length CHECK (length(return_url) <= 1024),
    ADD COLUMN confirmation_url text NULL CONSTRAINT payments_confirmation_url_length CHECK (length(confirmation_url) <= 2048);
COMMENT ON COLUMN payments.return_url IS 'Where the provider sends the payer back (web payments).';
COMMENT ON COLUMN payments.confirmation_url IS 'The provider''s page where the payer confirms (web payments).';

CREATE INDEX payments_idempotency_idx ON payments (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TYPE web_payment_result AS (
    result          text,   -- created | replay | conflict | in_progress | account_not_found | ambiguous_phone | account_closed
    payment_id      uuid,
    payment_number  bigint,
    status_code     int,    -- replay: the stored HTTP status
    response        text,   -- replay: the stored body
    account_status  text
);
COMMENT ON TYPE web_payment_result IS 'Row returned by create_web_payment().';

CREATE FUNCTION create_web_payment(
    p_scope        text,
    p_key          text,
    p_request_hash text,
    p_contract     text,
    p_phone        text,
    p_amount       bigint,
    p_method       text,
    p_adapter      text,
    p_email        text,
    p_return_url   text)
RETURNS web_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r     web_payment_result;
    v_key idempotency_keys;
    v_acc accounts;
    v_n   int;
BEGIN
    -- The key row is the lock: a concurrent request with the same key waits here for our commit,
    -- then finds the row (in progress or finished) instead of creating a second payment.
    INSERT INTO idempotency_keys (scope, key, request_hash)
    VALUES (p_scope, p_key, p_request_hash)
    ON CONFLICT (scope, key) DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO v_key FROM idempotency_keys WHERE scope = p_scope AND key = p_key FOR UPDATE;
        IF v_key.expires_at < now() THEN
            UPDATE idempotency_keys
               SET request_hash = p_request_hash, status_code = NULL, response = NULL, payment_id = NULL,
                   created_at = now(), expires_at = now() + interval '24 hours'
             WHERE scope = p_scope AND key = p_key;
        ELSIF v_key.request_hash <> p_request_hash THEN
            r.result := 'conflict';
            RETURN r;
        ELSIF v_key.status_code IS NULL THEN
            r.result := 'in_progress';
            r.payment_id := v_key.payment_id;
            RETURN r;
        ELSE
            r.result := 'replay';
            r.payment_id := v_key.payment_id;
            r.status_code := v_key.status_code;
            r.response := v_key.response;
            RETURN r;
        END IF;
    END IF;

    IF p_contract IS NOT NULL THEN
        SELECT * INTO v_acc FROM accounts WHERE contract = p_contract;
        v_n := CASE WHEN FOUND THEN 1 ELSE 0 END;
    ELSE
        SELECT count(*) INTO v_n FROM accounts WHERE phone = p_phone AND status <> 'closed';
        IF v_n = 1 THEN
            SELECT * INTO v_acc FROM accounts WHERE phone = p_phone AND status <> 'closed';
        ELSIF v_n = 0 THEN
            SELECT count(*) INTO v_n FROM accounts WHERE phone = p_phone;
            IF v_n > 0 THEN
                SELECT * INTO v_acc FROM accounts WHERE phone = p_phone LIMIT 1;
                v_n := 1;
            END IF;
        END IF;
    END IF;
    -- A refused request does not consume the key: the client may fix it and retry with the same key.
    IF v_n = 0 OR v_n > 1 OR v_acc.status = 'closed' THEN
        DELETE FROM idempotency_keys WHERE scope = p_scope AND key = p_key;
        r.result := CASE WHEN v_n = 0 THEN 'account_not_found'
                         WHEN v_n > 1 THEN 'ambiguous_phone'
                         ELSE 'account_closed' END;
        r.account_status := v_acc.status;
        RETURN r;
    END IF;

    INSERT INTO payments (account_id, amount, channel, adapter, method, payer_email, idempotency_key, return_url)
    VALUES (v_acc.id, p_amount, 'web', p_adapter, p_method, p_email, p_key, p_return_url)
    RETURNING id, number INTO r.payment_id, r.payment_number;
    INSERT INTO payment_events (payment_id, from_status, to_status, source)
    VALUES (r.payment_id, NULL, 'created', 'request');
    UPDATE idempotency_keys SET payment_id = r.payment_id WHERE scope = p_scope AND key = p_key;
    r.result := 'created';
    r.account_status := v_acc.status;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION create_web_payment(text, text, text, text, text, bigint, text, text, text, text) IS
    'Creates a web payment (status created) under an Idempotency-Key, in one transaction. result: created; '
    'replay (same key and request hash, finished: stored status_code/response); conflict (same key, other '
    'request); in_progress (same key, the first request has not finished); account_not_found / '
    'ambiguous_phone (several active contracts share the phone) / account_closed — these three do not '
    'consume the key. Suspended accounts may be paid (a top-up is how they come back).';

CREATE FUNCTION payment_started(
    p_payment_id       uuid,
    p_provider_id      text,
    p_confirmation_url text,
    p_raw              jsonb,
    p_status_code      int,
    p_response         text)
RETURNS transition_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r transition_payment_result;
BEGIN
    UPDATE payments SET provider_txn_id = p_provider_id, confirmation_url = p_confirmation_url
     WHERE id = p_payment_id AND status = 'created';
    r := transition_payment(p_payment_id, 'pending', 'request', NULL, p_raw);
    UPDATE idempotency_keys SET status_code = p_status_code, response = p_response
     WHERE payment_id = p_payment_id AND status_code IS NULL;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION payment_started(uuid, text, text, jsonb, int, text) IS
    'The provider accepted the payment: stores its id and confirmation URL, created -> pending, and '
    'records the HTTP answer for Idempotency-Key replays.';

CREATE FUNCTION payment_start_failed(
    p_payment_id  uuid,
    p_reason      text,
    p_raw         jsonb,
    p_status_code int,
    p_response    text)
RETURNS transition_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r transition_payment_result;
BEGIN
    r := transition_payment(p_payment_id, 'failed', 'request', p_reason, p_raw);
    UPDATE idempotency_keys SET status_code = p_status_code, response = p_response
     WHERE payment_id = p_payment_id AND status_code IS NULL;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION payment_start_failed(uuid, text, jsonb, int, text) IS
    'The provider refused or could not be reached when the payment was created: -> failed (never left '
    'dangling), and the HTTP answer is recorded for Idempotency-Key replays.';

CREATE TYPE apply_status_result AS (
    result          text,   -- booked | already | ok | invalid_state | flagged | not_found
    payment_id      uuid,
    payment_number  bigint,
    status          text,   -- status after the call
    amount          bigint,
    receipt_number  text
);
COMMENT ON TYPE apply_status_result IS 'Row returned by apply_provider_status().';

CREATE FUNCTION apply_provider_status(
    p_adapter       text,
    p_provider_id   text,
    p_status        text,     -- succeeded | failed | canceled | pending
    p_amount        bigint,   -- as the provider reports it; NULL = not reported
    p_currency      text,     -- as the provider reports it; NULL = not reported
    p_source        text,     -- notification | poll | janitor | operator
    p_reason        text,
    p_receipt_token text,
    p_raw           jsonb)
RETURNS apply_status_result
LANGUAGE plpgsql AS $$
DECLARE
    r     apply_status_result;
    v_pay payments;
    s     settle_payment_result;
    t     transition_payment_result;
BEGIN
    SELECT * INTO v_pay FROM payments
     WHERE adapter = p_adapter AND COALESCE(partner_id, 0) = 0 AND provider_txn_id = p_provider_id
       FOR UPDATE;
    IF NOT FOUND THEN
        r.result := 'not_found';
        RETURN r;
    END IF;
    r.payment_id := v_pay.id;
    r.payment_number := v_pay.number;
    r.amount := v_pay.amount;
    r.status := v_pay.status;

    IF p_status = 'succeeded' THEN
        IF (p_amount IS NOT NULL AND p_amount <> v_pay.amount)
           OR (p_currency IS NOT NULL AND p_currency <> v_pay.currency) THEN
            -- Money that does not match ours is never booked: an operator looks at it.
            UPDATE payments SET flagged = true WHERE id = v_pay.id;
            INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
            VALUES (v_pay.id, v_pay.status, v_pay.status, p_source,
                    format('provider reports %s %s, ours is %s %s: not booked, flagged',
                           p_amount, coalesce(p_currency, '?'), v_pay.amount, v_pay.currency), p_raw);
            r.result := 'flagged';
            RETURN r;
        END IF;
        s := settle_payment(v_pay.id, p_source, p_receipt_token, p_raw);
        IF s.result = 'invalid_state' THEN
            -- The provider took money for a payment we had given up on: never silently lost.
            UPDATE payments SET flagged = true WHERE id = v_pay.id;
            INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
            VALUES (v_pay.id, v_pay.status, v_pay.status, p_source,
                    'provider reports success after the payment was ' || v_pay.status || ': flagged', p_raw);
            r.result := 'flagged';
            RETURN r;
        END IF;
        r.result := s.result;
        r.status := 'succeeded';
        r.receipt_number := s.receipt_number;
        RETURN r;
    ELSIF p_status IN ('failed', 'canceled', 'pending') THEN
        IF p_status = 'pending' AND v_pay.status <> 'created' THEN
            r.result := 'already';
            RETURN r;
        END IF;
        t := transition_payment(v_pay.id, p_status, p_source, p_reason, p_raw);
        r.result := t.result;
        r.status := t.status;
        RETURN r;
    END IF;
    RAISE EXCEPTION 'apply_provider_status: unknown provider status %', quote_literal(p_status)
        USING ERRCODE = 'invalid_parameter_value';
END;
$$;
COMMENT ON FUNCTION apply_provider_status(text, text, text, bigint, text, text, text, text, jsonb) IS
    'The one entry of the payment state machine for provider verdicts (notifications, polls): finds the '
    'payment by (adapter, provider id), books it through settle_payment() when the provider says succeeded '
    'and amount and currency match (else flags it, books nothing), or moves it to failed/canceled/pending '
    'through transition_payment(). Late and duplicate verdicts are harmless: already / invalid_state, '
    'nothing moves backwards, nothing is booked twice. Success after failure is flagged for an operator.';
