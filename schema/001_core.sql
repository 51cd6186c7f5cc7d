-- 001_core.sql — core tables of the top-up gateway and the invariants the
-- database itself enforces.
--
-- Applied by `gatewayd migrate` inside one transaction (no BEGIN/COMMIT here).
-- Only built-in PostgreSQL 15 features; money is bigint kopecks everywhere.
--
-- Invariants (checked by ledger_invariant_violations() in 002_booking.sql):
--   * for every account: balance = opening_balance + sum(ledger.amount);
--   * every succeeded/refunded payment has exactly one 'credit' ledger row
--     and exactly one receipt.
-- Money moves only through the booking functions of 002_booking.sql. The
-- guard triggers below reject a direct UPDATE of accounts.balance, a direct
-- move of a payment into 'succeeded'/'refunded' and any UPDATE/DELETE of
-- ledger rows; the booking functions lift the guard for their own
-- transaction with set_config('gateway.money_write', 'on', true).

-- ---------------------------------------------------------------------------
-- Helpers

CREATE FUNCTION money_write_allowed() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('gateway.money_write', true), '') = 'on'
$$;
COMMENT ON FUNCTION money_write_allowed() IS
    'True inside a booking function (transaction-local setting gateway.money_write = on). '
    'Guard triggers use it to reject money changes made outside the booking functions.';

-- ---------------------------------------------------------------------------
-- accounts

CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contract        text   NOT NULL UNIQUE
                    CONSTRAINT accounts_contract_format CHECK (contract ~ '^[0-9]{5,12}$'),
    phone           text   NULL
                    CONSTRAINT accounts_phone_format CHECK (phone ~ '^\+7[0-9]{10}$'),
    email           text   NULL,
    holder_name     text   NOT NULL DEFAULT '',
    status          text   NOT NULL DEFAULT 'active'
                    CONSTRAINT accounts_status_valid CHECK (status IN ('active', 'suspended', 'closed')),
    balance         bigint NOT NULL DEFAULT 0,
    monthly_fee     bigint NOT NULL DEFAULT 0
                    CONSTRAINT accounts_monthly_fee_nonneg CHECK (monthly_fee >= 0),
    opening_balance bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_phone_idx ON accounts (phone) WHERE phone IS NOT NULL;

COMMENT ON TABLE accounts IS
    'Subscribers (personal accounts). contract is the public account number. A row inserted '
    'with only contract/phone/email/holder_name/status/balance/monthly_fee is complete: '
    'opening_balance is set from balance on INSERT, so balance = opening_balance + sum(ledger.amount) '
    'holds from the first moment. balance changes only through the booking functions (ledger).';
COMMENT ON COLUMN accounts.contract IS 'Contract (personal account) number, 5..12 digits, unique.';
COMMENT ON COLUMN accounts.phone IS 'E.164 +7XXXXXXXXXX (normalized by the service); not unique: a family may hold several contracts.';
COMMENT ON COLUMN accounts.balance IS 'Kopecks; may be negative (debt). Changed only together with a ledger row.';
COMMENT ON COLUMN accounts.monthly_fee IS 'Kopecks per month; 0 = no tariff.';
COMMENT ON COLUMN accounts.opening_balance IS 'Balance at INSERT time (set by trigger, never changed); base of the ledger invariant.';

CREATE FUNCTION accounts_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.opening_balance := NEW.balance;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION accounts_before_insert() IS
    'Trigger: opening_balance := balance on INSERT, so the ledger invariant holds for imported balances.';

CREATE TRIGGER accounts_opening_balance
    BEFORE INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_before_insert();

CREATE FUNCTION accounts_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.opening_balance IS DISTINCT FROM OLD.opening_balance THEN
        RAISE EXCEPTION 'accounts.opening_balance is immutable (contract %)', OLD.contract
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.balance IS DISTINCT FROM OLD.balance AND NOT money_write_allowed() THEN
        RAISE EXCEPTION 'accounts.balance changes only through the booking functions (contract %)', OLD.contract
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Use book_payment(), settle_payment() or adjust_balance(); every balance change needs a ledger row.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION accounts_before_update() IS
    'Trigger: rejects a balance change outside the booking functions and any opening_balance change; maintains updated_at.';

CREATE TRIGGER accounts_guard
    BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_before_update();

-- ---------------------------------------------------------------------------
-- partners (terminal networks, retailers)

CREATE TABLE partners (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text    NOT NULL UNIQUE
                  CONSTRAINT partners_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    protocol      text    NOT NULL
                  CONSTRAINT partners_protocol_valid CHECK (protocol IN ('osmp', 'sber-online', 'json')),
    login         text    NOT NULL UNIQUE
                  CONSTRAINT partners_login_nonempty CHECK (login <> ''),
    password_hash text    NULL,
    hmac_secret   text    NULL,
    cidrs         cidr[]  NOT NULL DEFAULT '{}',
    min_amount    bigint  NOT NULL DEFAULT 100
                  CONSTRAINT partners_min_amount_positive CHECK (min_amount > 0),
    max_amount    bigint  NOT NULL DEFAULT 1500000,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT partners_amount_range CHECK (max_amount >= min_amount)
);
COMMENT ON TABLE partners IS
    'Terminal networks and partner retailers that call us (OSMP, Sberbank Online, partner JSON API). '
    'Credentials are stored hashed (password_hash); hmac_secret is the shared key of the JSON protocol. '
    'cidrs = allowed source networks (empty = any); min/max_amount in kopecks.';
COMMENT ON COLUMN partners.password_hash IS 'HTTP Basic password hash, format owned by the service (e.g. sha256$salt$hex). Never the password.';
COMMENT ON COLUMN partners.hmac_secret IS 'Shared HMAC-SHA256 key of the partner JSON protocol.';

-- ---------------------------------------------------------------------------
-- payments

CREATE TABLE payments (
    id              uuid   PRIMARY KEY DEFAULT gen_random_uuid(),
    number          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    account_id      bigint NOT NULL REFERENCES accounts (id),
    amount          bigint NOT NULL
                    CONSTRAINT payments_amount_range CHECK (amount > 0 AND amount <= 100000000000),
    currency        text   NOT NULL DEFAULT 'RUB'
                    CONSTRAINT payments_currency_rub CHECK (currency = 'RUB'),
    channel         text   NOT NULL
                    CONSTRAINT payments_channel_valid CHECK (channel IN ('web', 'terminal', 'partner', 'api')),
    adapter         text   NOT NULL
                    CONSTRAINT payments_adapter_format CHECK (adapter ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    partner_id      bigint NULL REFERENCES partners (id),
    method          text   NULL,
    provider_txn_id text   NULL
                    CONSTRAINT payments_provider_txn_id_length CHECK (length(provider_txn_id) BETWEEN 1 AND 128),
    status          text   NOT NULL DEFAULT 'created'
                    CONSTRAINT payments_status_valid CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'canceled', 'refunded')),
    refunded_amount bigint NOT NULL DEFAULT 0,
    payer_email     text   NULL
                    CONSTRAINT payments_payer_email_length CHECK (length(payer_email) <= 254),
    idempotency_key text   NULL,
    provider_time   timestamptz NULL,
    failure_reason  text   NULL,
    flagged         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    paid_at         timestamptz NULL,
    CONSTRAINT payments_refunded_amount_range CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    CONSTRAINT payments_paid_at_iff_paid CHECK ((paid_at IS NOT NULL) = (status IN ('succeeded', 'refunded'))),
    CONSTRAINT payments_refund_only_when_paid CHECK (refunded_amount = 0 OR status IN ('succeeded', 'refunded'))
);
-- The last guard against a double booking: one payment per provider transaction
-- (per adapter and partner). NULL provider_txn_id rows are distinct.
CREATE UNIQUE INDEX payments_provider_txn_uniq
    ON payments (adapter, (COALESCE(partner_id, 0)), provider_txn_id);
CREATE INDEX payments_provider_txn_idx ON payments (provider_txn_id) WHERE provider_txn_id IS NOT NULL;
CREATE INDEX payments_status_created_idx ON payments (status, created_at);
CREATE INDEX payments_account_idx ON payments (account_id, created_at);
CREATE INDEX payments_partner_paid_idx ON payments (partner_id, paid_at) WHERE partner_id IS NOT NULL;

COMMENT ON TABLE payments IS
    'One row per payment attempt. States: created -> pending -> succeeded | failed | canceled; '
    'succeeded -> refunded. The unique index payments_provider_txn_uniq (adapter, COALESCE(partner_id,0), '
    'provider_txn_id) guarantees a provider transaction is booked at most once. A payment enters '
    'succeeded/refunded only inside the booking functions (trigger payments_guard), together with its '
    'credit ledger row and receipt. failed/canceled are final.';
COMMENT ON COLUMN payments.number IS 'Public sequential payment number (OSMP prv_txn, Sberbank EXT_ID).';
COMMENT ON COLUMN payments.amount IS 'Kopecks, 1 .. 1e11.';
COMMENT ON COLUMN payments.adapter IS 'Adapter name: sandbox, yookassa, rbs, osmp, sber-online, partner-json ...';
COMMENT ON COLUMN payments.provider_txn_id IS 'Provider/terminal transaction id (OSMP txn_id, YooKassa payment id, RBS orderId ...).';
COMMENT ON COLUMN payments.provider_time IS 'The terminal''s own time of the transaction (e.g. OSMP txn_date), as reported.';
COMMENT ON COLUMN payments.flagged IS 'Needs an operator''s attention (e.g. money reported after the payment was failed).';
COMMENT ON COLUMN payments.paid_at IS 'When the payment was booked (set iff status is succeeded or refunded).';

CREATE FUNCTION payments_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status IN ('succeeded', 'refunded') AND NOT money_write_allowed() THEN
            RAISE EXCEPTION 'a payment is inserted as % only by book_payment()', NEW.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.refunded_amount <> 0 AND NOT money_write_allowed() THEN
            RAISE EXCEPTION 'refunded_amount is set only by the refund function'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;

    -- UPDATE
    IF NEW.id <> OLD.id OR NEW.account_id <> OLD.account_id OR NEW.amount <> OLD.amount
       OR NEW.currency <> OLD.currency THEN
        RAISE EXCEPTION 'payments.id/account_id/amount/currency are immutable (payment %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.refunded_amount <> OLD.refunded_amount AND NOT money_write_allowed() THEN
        RAISE EXCEPTION 'refunded_amount changes only through the refund function (payment %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT ((OLD.status = 'created'   AND NEW.status IN ('pending', 'succeeded', 'failed', 'canceled'))
             OR (OLD.status = 'pending'   AND NEW.status IN ('succeeded', 'failed', 'canceled'))
             OR (OLD.status = 'succeeded' AND NEW.status = 'refunded')) THEN
            RAISE EXCEPTION 'illegal payment transition % -> % (payment %)', OLD.status, NEW.status, OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.status IN ('succeeded', 'refunded') AND NOT money_write_allowed() THEN
            RAISE EXCEPTION 'payment % enters % only through the booking functions', OLD.id, NEW.status
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'Use settle_payment() (it credits the account, writes the ledger and the receipt).';
        END IF;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION payments_guard() IS
    'Trigger: enforces the payment state machine (created -> pending -> succeeded|failed|canceled, '
    'succeeded -> refunded), keeps account/amount immutable, and lets money-bearing states and '
    'refunded_amount be written only inside the booking functions; maintains updated_at.';

CREATE TRIGGER payments_guard
    BEFORE INSERT OR UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_guard();

-- ---------------------------------------------------------------------------
-- payment_events

CREATE TABLE payment_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id  uuid   NOT NULL REFERENCES payments (id),
    from_status text   NULL,
    to_status   text   NOT NULL,
    source      text   NOT NULL
                CONSTRAINT payment_events_source_valid CHECK (source IN ('request', 'notification', 'poll', 'operator', 'janitor')),
    note        text   NULL,
    raw         jsonb  NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, id);

COMMENT ON TABLE payment_events IS
    'Audit trail: one row per payment status transition with its source and the provider''s raw '
    'message (secrets and card data removed by the service). from_status NULL = creation.';
COMMENT ON COLUMN payment_events.note IS 'Free text, e.g. the failure reason given to transition_payment().';

-- ---------------------------------------------------------------------------
-- ledger

CREATE TABLE ledger (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    payment_id    uuid   NULL REFERENCES payments (id),
    kind          text   NOT NULL
                  CONSTRAINT ledger_kind_valid CHECK (kind IN ('credit', 'debit', 'adjustment')),
    amount        bigint NOT NULL
                  CONSTRAINT ledger_amount_nonzero CHECK (amount <> 0),
    balance_after bigint NOT NULL,
    note          text   NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_sign_matches_kind CHECK (
        (kind = 'credit' AND amount > 0) OR (kind = 'debit' AND amount < 0) OR kind = 'adjustment'),
    CONSTRAINT ledger_payment_required CHECK (kind = 'adjustment' OR payment_id IS NOT NULL)
);
CREATE UNIQUE INDEX ledger_one_credit_per_payment ON ledger (payment_id) WHERE kind = 'credit';
CREATE INDEX ledger_account_idx ON ledger (account_id, id);
CREATE INDEX ledger_payment_idx ON ledger (payment_id) WHERE payment_id IS NOT NULL;

COMMENT ON TABLE ledger IS
    'Append-only balance history: one row per balance change, signed kopecks (credit > 0 on top-up, '
    'debit < 0 on refund, adjustment either by an operator), balance_after = account balance right after '
    'this row. At most one credit per payment (ledger_one_credit_per_payment). Rows are never updated '
    'or deleted (trigger ledger_append_only). Per account, id order is booking order.';
COMMENT ON COLUMN ledger.note IS 'Reason of an adjustment (operator''s words).';

CREATE FUNCTION ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only (% of row %)', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Correct a balance with adjust_balance(), which appends a new row.';
END;
$$;
COMMENT ON FUNCTION ledger_append_only() IS 'Trigger: rejects UPDATE and DELETE on ledger.';

CREATE TRIGGER ledger_append_only
    BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- ---------------------------------------------------------------------------
-- receipts (transactional outbox of the mailer)

CREATE SEQUENCE receipt_number_seq AS bigint;
COMMENT ON SEQUENCE receipt_number_seq IS 'Sequential part of receipt numbers (never reset; may have gaps after rollbacks).';

CREATE FUNCTION format_receipt_number(p_at timestamptz, p_n bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'Europe/Moscow', 'YYYY') || '-' ||
           lpad(p_n::text, greatest(6, length(p_n::text)), '0')
$$;
COMMENT ON FUNCTION format_receipt_number(timestamptz, bigint) IS
    'Receipt number ''YYYY-NNNNNN'': Moscow year of p_at, p_n zero-padded to at least 6 digits (never truncated).';

CREATE FUNCTION next_receipt_number() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT format_receipt_number(now(), nextval('receipt_number_seq'))
$$;
COMMENT ON FUNCTION next_receipt_number() IS
    'Next human-readable receipt number ''YYYY-NNNNNN'' (Moscow year of now() + receipt_number_seq); unique.';

CREATE TABLE receipts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number          text   NOT NULL UNIQUE DEFAULT next_receipt_number()
                    CONSTRAINT receipts_number_format CHECK (number ~ '^[0-9]{4}-[0-9]{6,}$'),
    payment_id      uuid   NOT NULL UNIQUE REFERENCES payments (id),
    token           text   NOT NULL UNIQUE
                    CONSTRAINT receipts_token_length CHECK (length(token) >= 32),
    email           text   NULL,
    state           text   NOT NULL
                    CONSTRAINT receipts_state_valid CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'no_email')),
    attempts        int    NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text   NULL,
    sent_at         timestamptz NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT receipts_no_email_iff_null CHECK ((state = 'no_email') = (email IS NULL))
);
CREATE INDEX receipts_pending_idx ON receipts (next_attempt_at) WHERE state = 'pending';

COMMENT ON TABLE receipts IS
    'One receipt per booked payment, written in the same transaction as the booking (transactional '
    'outbox): a booked payment always has its receipt, and a mail is never lost, only delayed. '
    'The mailer takes state=''pending'' rows due at next_attempt_at with FOR UPDATE SKIP LOCKED; '
    'NOTIFY receipts (payload = number) wakes it when a pending receipt appears. '
    'state ''no_email'' iff email is NULL.';
COMMENT ON COLUMN receipts.number IS 'Human-readable sequential number YYYY-NNNNNN.';
COMMENT ON COLUMN receipts.token IS 'Unguessable lookup token (from RAND_bytes, >= 32 chars); the only key of the public receipt URL.';

CREATE FUNCTION receipts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('receipts', NEW.number);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION receipts_notify() IS 'Trigger: NOTIFY receipts, <number> when a receipt becomes pending (delivered at commit).';

CREATE TRIGGER receipts_notify_insert
    AFTER INSERT ON receipts
    FOR EACH ROW WHEN (NEW.state = 'pending')
    EXECUTE FUNCTION receipts_notify();

CREATE TRIGGER receipts_notify_requeue
    AFTER UPDATE OF state ON receipts
    FOR EACH ROW WHEN (NEW.state = 'pending' AND OLD.state <> 'pending' AND OLD.state <> 'sending')
    EXECUTE FUNCTION receipts_notify();

-- ---------------------------------------------------------------------------
-- idempotency_keys

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL
                 CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 128),
    request_hash text NOT NULL,
    status_code  int  NULL,
    response     text NULL,
    payment_id   uuid NULL REFERENCES payments (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

COMMENT ON TABLE idempotency_keys IS
    'Idempotency-Key records of the HTTP API: a repeat with the same (scope, key) and the same request_hash '
    'gets the stored response; a different request_hash is a conflict. status_code NULL = first request '
    'still in progress. Rows past expires_at may be deleted.';
