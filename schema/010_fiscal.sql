-- 010_fiscal.sql — fiscal receipts (54-FZ): one fiscal document per succeeded payment that needs one
-- and per refund of it, written in the booking (refund) transaction as a fiscal outbox row, sent to a
-- cloud cashbox by the fiscal workers (gateway/fiscal.c), its result kept here.
--
--   fiscal_settings        what this deployment receipts: mode none | atol | yookassa | sandbox (set by
--                          `gatewayd serve` at start) and how long a receipt mail waits for the data
--   fiscal_documents       the outbox: pending -> sending -> registered -> polling -> done | fail, or
--                          failed (the cashbox refused the request itself: 10/20/31/32, a person fixes the
--                          configuration and resends it under a new external_id)
--   partners.fiscal        a partner whose cash the operator receipts (its own register does not)
--
-- Which payments: web payments (card, wallets) always when the mode is atol or sandbox; cash from a
-- partner only with partners.fiscal. yookassa: YooKassa receipts its own payments (nothing here).
-- Exactly one live document per payment (kind sell) and per refund (sell_refund): unique indexes.
-- external_id = the payment's id (the refund's id) — the cashbox's idempotency key; a later
-- generation (after a refusal of the request) appends "-2", "-3".
-- Written by triggers on ledger and refunds, so every booking path and every refund gets it in its
-- own transaction; rule of 009_roles.sql: owner-owned, writers SECURITY DEFINER.

CREATE TABLE fiscal_settings (
    id           boolean PRIMARY KEY DEFAULT true CONSTRAINT fiscal_settings_one_row CHECK (id),
    mode         text NOT NULL DEFAULT 'none'
                 CONSTRAINT fiscal_settings_mode_valid CHECK (mode IN ('none', 'atol', 'yookassa', 'sandbox')),
    mail_wait_ms bigint NOT NULL DEFAULT 60000 CONSTRAINT fiscal_settings_wait_range CHECK (mail_wait_ms >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fiscal_settings DEFAULT VALUES;
COMMENT ON TABLE fiscal_settings IS
    'The fiscal mode of the deployment (GATEWAY_FISCAL, written by gatewayd serve at start) and how long a '
    'receipt mail waits for the fiscal data (GATEWAY_FISCAL_MAIL_WAIT).';

ALTER TABLE partners ADD COLUMN fiscal boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN partners.fiscal IS
    'The operator receipts this partner''s cash (gatewayd partner add --fiscal); normally the agent''s own register does.';

CREATE TABLE fiscal_documents (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id                uuid   NOT NULL REFERENCES payments (id),
    refund_id                 uuid   NULL REFERENCES refunds (id),
    kind                      text   NOT NULL CONSTRAINT fiscal_documents_kind_valid CHECK (kind IN ('sell', 'sell_refund')),
    generation                int    NOT NULL DEFAULT 1,
    superseded                boolean NOT NULL DEFAULT false,
    external_id               text   NOT NULL UNIQUE CONSTRAINT fiscal_documents_external_id_length
                                     CHECK (length(external_id) BETWEEN 1 AND 128),
    cashbox                   text   NOT NULL CONSTRAINT fiscal_documents_cashbox_valid CHECK (cashbox IN ('atol', 'sandbox')),
    amount                    bigint NOT NULL CONSTRAINT fiscal_documents_amount_positive CHECK (amount > 0),
    email                     text   NULL,
    phone                     text   NULL,
    contract                  text   NOT NULL,
    state                     text   NOT NULL DEFAULT 'pending' CONSTRAINT fiscal_documents_state_valid
                                     CHECK (state IN ('pending', 'sending', 'registered', 'polling', 'done', 'failed', 'fail')),
    uuid                      text   NULL,
    attempts                  int    NOT NULL DEFAULT 0,
    polls                     int    NOT NULL DEFAULT 0,
    next_attempt_at           timestamptz NOT NULL DEFAULT now(),
    error_code                int    NULL,
    last_error                text   NULL,
    fn_number                 text   NULL,
    fiscal_document_number    text   NULL,
    fiscal_document_attribute text   NULL,
    fiscal_receipt_number     text   NULL,
    shift_number              text   NULL,
    ecr_registration_number   text   NULL,
    receipt_datetime          timestamptz NULL,
    fns_site                  text   NULL,
    ofd_inn                   text   NULL,
    total                     bigint NULL,
    registered_at             timestamptz NULL,
    done_at                   timestamptz NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fiscal_documents_refund_iff_kind CHECK ((refund_id IS NOT NULL) = (kind = 'sell_refund')),
    CONSTRAINT fiscal_documents_done_has_data CHECK (state <> 'done' OR (fn_number IS NOT NULL AND fiscal_document_number IS NOT NULL
                                                                         AND fiscal_document_attribute IS NOT NULL))
);
CREATE UNIQUE INDEX fiscal_documents_one_sell ON fiscal_documents (payment_id) WHERE kind = 'sell' AND NOT superseded;
CREATE UNIQUE INDEX fiscal_documents_one_refund ON fiscal_documents (refund_id) WHERE kind = 'sell_refund' AND NOT superseded;
CREATE INDEX fiscal_documents_due_idx ON fiscal_documents (next_attempt_at)
    WHERE state IN ('pending', 'sending', 'registered', 'polling');
CREATE INDEX fiscal_documents_uuid_idx ON fiscal_documents (uuid) WHERE uuid IS NOT NULL;
COMMENT ON TABLE fiscal_documents IS
    'Fiscal outbox: one live document per payment (sell) and per refund (sell_refund). States: pending (to '
    'register) -> sending (claimed, lease in next_attempt_at) -> registered (the cashbox has it, uuid; result '
    'asked for at next_attempt_at) -> polling (claimed) -> done (fiscal data) | fail (the cashbox could not, '
    'final: a person looks); failed: the request itself was refused (bad configuration), resent under a new '
    'external_id by fiscal_resend().';

ALTER TABLE receipts ADD COLUMN fiscal_in_mail boolean NOT NULL DEFAULT false,
                     ADD COLUMN fiscal_followup boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN receipts.fiscal_in_mail IS 'The last mail claimed carried the fiscal data.';
COMMENT ON COLUMN receipts.fiscal_followup IS 'The fiscal data came after a mail without it: a second mail follows.';

-- ---------------------------------------------------------------------------
-- the outbox rows, written in the booking and refund transactions

-- A credit is a booking: receipt it when the deployment says so.
CREATE FUNCTION fiscal_on_credit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_mode text;
    v_pay  payments;
    v_acc  accounts;
    v_fiscal boolean;
BEGIN
    SELECT mode INTO v_mode FROM fiscal_settings;
    IF v_mode NOT IN ('atol', 'sandbox') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_pay FROM payments WHERE id = NEW.payment_id;
    IF v_pay.channel <> 'web' THEN
        SELECT fiscal INTO v_fiscal FROM partners WHERE id = v_pay.partner_id;
        IF NOT coalesce(v_fiscal, false) THEN
            RETURN NULL;         -- the agent's own register receipts its cash
        END IF;
    END IF;
    SELECT * INTO v_acc FROM accounts WHERE id = v_pay.account_id;
    INSERT INTO fiscal_documents (payment_id, kind, external_id, cashbox, amount, email, phone, contract)
    VALUES (v_pay.id, 'sell', v_pay.id::text, v_mode, NEW.amount, nullif(btrim(v_pay.payer_email), ''),
            v_acc.phone, v_acc.contract);
    PERFORM pg_notify('fiscal', v_pay.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER fiscal_on_credit
    AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind = 'credit')
    EXECUTE FUNCTION fiscal_on_credit();

-- The receipt mail of a payment being receipted waits for the fiscal data, up to mail_wait_ms.
CREATE FUNCTION fiscal_receipt_wait() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'pending' AND EXISTS (SELECT 1 FROM fiscal_documents f
                                          WHERE f.payment_id = NEW.payment_id AND f.kind = 'sell' AND NOT f.superseded) THEN
        NEW.next_attempt_at := now() + (SELECT mail_wait_ms FROM fiscal_settings) * interval '1 millisecond';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER fiscal_receipt_wait
    BEFORE INSERT ON receipts
    FOR EACH ROW EXECUTE FUNCTION fiscal_receipt_wait();

-- A succeeded refund of a receipted payment gets its sell_refund for the refunded amount.
CREATE FUNCTION fiscal_on_refund() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_sell fiscal_documents;
BEGIN
    SELECT * INTO v_sell FROM fiscal_documents
     WHERE payment_id = NEW.payment_id AND kind = 'sell' AND NOT superseded;
    IF NOT FOUND THEN
        RETURN NULL;             -- the payment was not receipted here
    END IF;
    INSERT INTO fiscal_documents (payment_id, refund_id, kind, external_id, cashbox, amount, email, phone, contract)
    VALUES (NEW.payment_id, NEW.id, 'sell_refund', NEW.id::text, v_sell.cashbox, NEW.amount, v_sell.email,
            v_sell.phone, v_sell.contract);
    PERFORM pg_notify('fiscal', NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER fiscal_on_refund
    AFTER UPDATE OF status ON refunds
    FOR EACH ROW WHEN (NEW.status = 'succeeded' AND OLD.status <> 'succeeded')
    EXECUTE FUNCTION fiscal_on_refund();

-- ---------------------------------------------------------------------------
-- the workers' functions

CREATE FUNCTION fiscal_configure(p_mode text, p_mail_wait_ms bigint) RETURNS void
LANGUAGE sql AS $$
    UPDATE fiscal_settings SET mode = p_mode, mail_wait_ms = p_mail_wait_ms, updated_at = now()
     WHERE mode IS DISTINCT FROM p_mode OR mail_wait_ms IS DISTINCT FROM p_mail_wait_ms
$$;
COMMENT ON FUNCTION fiscal_configure(text, bigint) IS 'gatewayd serve at start: the fiscal mode and the mail wait.';

CREATE FUNCTION fiscal_recover()
RETURNS TABLE (external_id text, state text)
LANGUAGE sql AS $$
    UPDATE fiscal_documents SET state = CASE state WHEN 'sending' THEN 'pending' ELSE 'registered' END,
           next_attempt_at = now(), updated_at = now(),
           last_error = 'the worker was interrupted (it stopped or lost the database); trying again'
     WHERE id IN (SELECT id FROM fiscal_documents WHERE state IN ('sending', 'polling') AND next_attempt_at < now()
                  FOR UPDATE SKIP LOCKED)
    RETURNING external_id, state
$$;
COMMENT ON FUNCTION fiscal_recover() IS 'Fiscal workers: gives back claims whose lease expired.';

CREATE FUNCTION fiscal_claim(p_limit int, p_lease_ms bigint)
RETURNS SETOF bigint
LANGUAGE sql AS $$
    WITH c AS (SELECT id FROM fiscal_documents
                WHERE state IN ('pending', 'registered') AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE fiscal_documents x
       SET state = CASE x.state WHEN 'pending' THEN 'sending' ELSE 'polling' END,
           attempts = x.attempts + CASE x.state WHEN 'pending' THEN 1 ELSE 0 END,
           polls = x.polls + CASE x.state WHEN 'registered' THEN 1 ELSE 0 END,
           next_attempt_at = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
      FROM c WHERE x.id = c.id
    RETURNING x.id
$$;
COMMENT ON FUNCTION fiscal_claim(int, bigint) IS
    'Fiscal workers: claims due documents (pending -> sending to register, registered -> polling to ask for '
    'the result) with SKIP LOCKED and a lease; returns their ids (read them in a second statement).';

-- One function for every outcome, so the claim check (still ours?) and the follow-ups live in one place.
--   p_outcome registered: the cashbox took it (p_uuid), ask for the result after p_delay_ms
--             retry:      back to pending (sending) or registered (polling), after p_delay_ms, with the error
--             done:       the fiscal data (p_data, JSON of the report's payload; receipt_datetime as
--                         YYYY-MM-DD HH:MM:SS in the time zone named by p_data->>'tz')
--             failed:     the request was refused (p_code, p_error): not registered, a person must look
--             fail:       the cashbox could not fiscalise it: final
CREATE FUNCTION fiscal_outcome(p_id bigint, p_state text, p_attempts int, p_polls int, p_outcome text,
                               p_uuid text, p_delay_ms bigint, p_code int, p_error text, p_data jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v fiscal_documents;
BEGIN
    SELECT * INTO v FROM fiscal_documents WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR v.state <> p_state OR v.attempts <> p_attempts OR v.polls <> p_polls THEN
        RETURN false;            -- the claim expired: another worker has it
    END IF;
    IF p_outcome = 'registered' THEN
        UPDATE fiscal_documents SET state = 'registered', uuid = coalesce(p_uuid, uuid),
               registered_at = coalesce(registered_at, now()), error_code = NULL, last_error = p_error,
               next_attempt_at = now() + p_delay_ms * interval '1 millisecond', updated_at = now()
         WHERE id = p_id;
    ELSIF p_outcome = 'retry' THEN
        UPDATE fiscal_documents SET state = CASE v.state WHEN 'sending' THEN 'pending' ELSE 'registered' END,
               error_code = p_code, last_error = p_error,
               next_attempt_at = now() + p_delay_ms * interval '1 millisecond', updated_at = now()
         WHERE id = p_id;
    ELSIF p_outcome = 'done' THEN
        UPDATE fiscal_documents SET state = 'done', error_code = NULL, last_error = NULL, done_at = now(),
               fn_number = p_data->>'fn_number',
               fiscal_document_number = p_data->>'fiscal_document_number',
               fiscal_document_attribute = p_data->>'fiscal_document_attribute',
               fiscal_receipt_number = p_data->>'fiscal_receipt_number',
               shift_number = p_data->>'shift_number',
               ecr_registration_number = p_data->>'ecr_registration_number',
               receipt_datetime = (p_data->>'receipt_datetime')::timestamp AT TIME ZONE (p_data->>'tz'),
               fns_site = p_data->>'fns_site', ofd_inn = p_data->>'ofd_inn',
               total = (p_data->>'total')::bigint, updated_at = now()
         WHERE id = p_id;
        IF v.kind = 'sell' THEN
            -- the receipt mail: goes out now with the data, or (already sent without it) once more
            UPDATE receipts r
               SET next_attempt_at = CASE WHEN r.state = 'pending' THEN now() ELSE r.next_attempt_at END,
                   fiscal_followup = r.state IN ('sent', 'sending') AND NOT r.fiscal_in_mail,
                   state = CASE WHEN r.state = 'sent' AND NOT r.fiscal_in_mail THEN 'pending' ELSE r.state END
             WHERE r.payment_id = v.payment_id AND r.email IS NOT NULL;
            PERFORM pg_notify('receipts', v.payment_id::text);
        END IF;
    ELSIF p_outcome IN ('failed', 'fail') THEN
        UPDATE fiscal_documents SET state = p_outcome, error_code = p_code, last_error = p_error, updated_at = now()
         WHERE id = p_id;
    ELSE
        RAISE EXCEPTION 'fiscal_outcome: unknown outcome %', p_outcome USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION fiscal_outcome(bigint, text, int, int, text, text, bigint, int, text, jsonb) IS
    'Fiscal workers: records an outcome while the claim is still ours (same state, attempts and polls); false '
    'otherwise. done also releases or re-queues the receipt mail.';

-- The cashbox's callback names a document: ask for its result now (the callback itself is not trusted).
CREATE FUNCTION fiscal_callback_hint(p_uuid text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fiscal_documents SET next_attempt_at = now(), updated_at = now()
     WHERE uuid = p_uuid AND state = 'registered';
    IF FOUND THEN
        PERFORM pg_notify('fiscal', p_uuid);
    END IF;
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION fiscal_callback_hint(text) IS
    'A cashbox callback named this uuid: the workers re-read its result by GET at once (true: a document waits for it).';

-- After a refusal of the request (failed) and a fix of the configuration: the same document again
-- under a new external_id (the old one is spent at the cashbox).
CREATE FUNCTION fiscal_resend(p_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v fiscal_documents;
    v_ext text;
BEGIN
    SELECT * INTO v FROM fiscal_documents WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF v.state <> 'failed' OR v.superseded THEN
        RETURN 'invalid_state';
    END IF;
    v_ext := coalesce(v.refund_id, v.payment_id)::text || '-' || (v.generation + 1);
    UPDATE fiscal_documents SET superseded = true, updated_at = now() WHERE id = p_id;
    INSERT INTO fiscal_documents (payment_id, refund_id, kind, generation, external_id, cashbox, amount, email, phone,
                                  contract)
    VALUES (v.payment_id, v.refund_id, v.kind, v.generation + 1, v_ext, v.cashbox, v.amount, v.email, v.phone,
            v.contract);
    PERFORM pg_notify('fiscal', v_ext);
    RETURN 'resent';
END;
$$;
COMMENT ON FUNCTION fiscal_resend(bigint) IS
    'Resends a failed (refused) fiscal document as the next generation under a new external_id. '
    'result: resent | not_found | invalid_state.';

-- A receipt mail claimed now carries the fiscal data when it is there; a follow-up is then settled.
CREATE OR REPLACE FUNCTION receipt_claim(p_limit int, p_lease_ms bigint)
RETURNS SETOF receipts
LANGUAGE sql AS $$
    WITH c AS (SELECT id FROM receipts WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE receipts x SET state = 'sending', attempts = x.attempts + 1,
           next_attempt_at = now() + p_lease_ms * interval '1 millisecond',
           fiscal_in_mail = EXISTS (SELECT 1 FROM fiscal_documents f WHERE f.payment_id = x.payment_id
                                       AND f.kind = 'sell' AND NOT f.superseded AND f.state = 'done'),
           fiscal_followup = x.fiscal_followup AND NOT EXISTS (
               SELECT 1 FROM fiscal_documents f WHERE f.payment_id = x.payment_id
                  AND f.kind = 'sell' AND NOT f.superseded AND f.state = 'done')
      FROM c WHERE x.id = c.id
    RETURNING x.*
$$;

CREATE OR REPLACE FUNCTION receipt_outcome(p_id bigint, p_attempt int, p_state text, p_delay_ms bigint, p_error text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_state = 'sent' THEN
        -- the fiscal data came while this mail (without it) was on its way: a second mail follows
        UPDATE receipts SET state = CASE WHEN fiscal_followup THEN 'pending' ELSE 'sent' END,
               sent_at = now(), last_error = NULL, next_attempt_at = now()
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'pending' THEN
        UPDATE receipts SET state = 'pending', next_attempt_at = now() + p_delay_ms * interval '1 millisecond',
               last_error = p_error
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'failed' THEN
        UPDATE receipts SET state = 'failed', last_error = p_error
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'released' THEN
        UPDATE receipts SET state = 'pending', attempts = attempts - 1, next_attempt_at = now()
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSE
        RAISE EXCEPTION 'receipt_outcome: unknown state %', p_state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN FOUND;
END;
$$;

SELECT gateway_definer(f.oid::regprocedure)
  FROM pg_proc f
 WHERE f.pronamespace = 'public'::regnamespace
   AND f.proname IN ('fiscal_configure', 'fiscal_recover', 'fiscal_claim', 'fiscal_outcome', 'fiscal_callback_hint',
                     'fiscal_resend', 'receipt_claim', 'receipt_outcome');
