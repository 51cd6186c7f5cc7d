-- 005_receipts.sql — what the receipt mailer needs beyond 001_core.sql.
--
-- The mailer (gateway/mailer.c) claims due receipts with
--   UPDATE … SET state = 'sending', attempts = attempts + 1,
--                next_attempt_at = now() + lease
--   WHERE id IN (SELECT … WHERE state = 'pending' AND next_attempt_at <= now()
--                FOR UPDATE SKIP LOCKED)
-- so for a 'sending' receipt next_attempt_at is the end of the claim's lease:
-- a claim still 'sending' after it was left by a mailer that died, and goes back
-- to 'pending' (the one window in which a mail can be sent twice).

ALTER TABLE receipts ADD COLUMN resends int NOT NULL DEFAULT 0
    CONSTRAINT receipts_resends_nonneg CHECK (resends >= 0);
COMMENT ON COLUMN receipts.resends IS
    'How many times an operator asked for the receipt to be mailed again (internal API). Part of the '
    'mail''s Message-ID, so retries of one mail share an id and a resend gets a new one.';

COMMENT ON COLUMN receipts.next_attempt_at IS
    'pending: when a mailer may try next (backoff). sending: when the claim''s lease expires and the '
    'receipt goes back to pending. Other states: not used.';
COMMENT ON COLUMN receipts.attempts IS
    'Delivery attempts since the receipt was created or last resent; with state it identifies a claim, '
    'so a mailer records an outcome only for its own claim.';

-- Finding expired claims, and the outbox gauges.
CREATE INDEX receipts_sending_idx ON receipts (next_attempt_at) WHERE state = 'sending';
CREATE INDEX receipts_failed_idx ON receipts (id) WHERE state = 'failed';
