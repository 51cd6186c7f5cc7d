-- 008_resume_web_payment.sql — a web payment whose creating request was cut off (the gateway
-- died, or lost the database, between reserving the Idempotency-Key and recording the
-- provider's answer) can be finished by the client's retry with the same key.
--
-- Without this the key stays "in progress" until it expires (24 h): every retry answers 409
-- idempotency_in_progress, and the payer cannot pay. create_web_payment() answers in_progress;
-- the service then asks resume_web_payment(): once the key is older than the longest life of a
-- creating request (p_lease_ms, from the provider timeout and its attempts), no request holds it
-- any more, and a payment still 'created' (the provider's answer was never recorded) is handed to
-- the retry, which calls the provider again with the same payment id — every provider
-- deduplicates on it (YooKassa's Idempotence-Key, RBS orderNumber, the sandbox's signed link).

CREATE FUNCTION resume_web_payment(
    p_scope        text,
    p_key          text,
    p_request_hash text,
    p_lease_ms     int)
RETURNS web_payment_result
LANGUAGE plpgsql AS $$
DECLARE
    r     web_payment_result;
    v_key idempotency_keys;
    v_pay payments;
BEGIN
    r.result := 'in_progress';
    SELECT * INTO v_key FROM idempotency_keys WHERE scope = p_scope AND key = p_key FOR UPDATE;
    IF NOT FOUND OR v_key.status_code IS NOT NULL OR v_key.request_hash <> p_request_hash
       OR v_key.payment_id IS NULL
       OR v_key.created_at > now() - make_interval(secs => p_lease_ms / 1000.0) THEN
        r.payment_id := v_key.payment_id;
        RETURN r;
    END IF;
    SELECT * INTO v_pay FROM payments WHERE id = v_key.payment_id FOR UPDATE;
    r.payment_id := v_pay.id;
    IF v_pay.status <> 'created' THEN
        RETURN r;
    END IF;
    -- the retry holds the key now, for one more lease
    UPDATE idempotency_keys SET created_at = now() WHERE scope = p_scope AND key = p_key;
    INSERT INTO payment_events (payment_id, from_status, to_status, source, note)
    VALUES (v_pay.id, 'created', 'created', 'request', 'resumed by a retry of the same Idempotency-Key');
    r.result := 'created';
    r.payment_number := v_pay.number;
    SELECT status INTO r.account_status FROM accounts WHERE id = v_pay.account_id;
    RETURN r;
END;
$$;
COMMENT ON FUNCTION resume_web_payment(text, text, text, int) IS
    'A retry of a web payment whose creating request was cut off: created (call the provider again '
    'for payment_id) once the key is older than p_lease_ms and the payment is still created; else in_progress.';
