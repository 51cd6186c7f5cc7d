-- 012_balance.sql — the balance over time: daily subscription fees, charges booked by the operator's
-- billing, suspension below a threshold and the return after a top-up, and what the statement reads.
--
--   ledger kinds fee       the day's share of the monthly fee (fee_day), at most one per account and day
--                          (unique index: a second run, or two at once, cannot charge a day twice)
--                charge    a debit the operator's billing computed itself (charge_id: its idempotency key)
--   account_fees           the monthly fee by the day it applies from (a change applies from the next day)
--   accounts.auto_suspended_below
--                          set when the charge run suspended the account (the threshold it used): a
--                          booking that lifts the balance to it reactivates the account; an operator's
--                          suspension (any other status change) clears it and stays
--   account_status_changes every status change with its cause (charge_run, payment, operator)
--   balance_settings       the local time zone of days (GATEWAY_PARTNER_TZ), set by serve and the charge run
--
-- The daily share: a month of N days and a fee of F kopecks charges F / N kopecks a day (integer
-- division), and the first F mod N days of the month one kopeck more; the month adds up to F exactly.
-- The C side (gateway/fees.c) uses the same rule for days_left and paid_until.

-- ---------------------------------------------------------------------------
-- ledger: two more kinds

ALTER TABLE ledger DROP CONSTRAINT ledger_kind_valid,
                   DROP CONSTRAINT ledger_sign_matches_kind,
                   DROP CONSTRAINT ledger_payment_required;
ALTER TABLE ledger ADD COLUMN fee_day date NULL,
                   ADD COLUMN charge_id text NULL;
ALTER TABLE ledger
    ADD CONSTRAINT ledger_kind_valid CHECK (kind IN ('credit', 'debit', 'adjustment', 'fee', 'charge')),
    ADD CONSTRAINT ledger_sign_matches_kind CHECK (
        (kind = 'credit' AND amount > 0) OR (kind IN ('debit', 'fee', 'charge') AND amount < 0) OR kind = 'adjustment'),
    ADD CONSTRAINT ledger_payment_required CHECK ((kind IN ('credit', 'debit')) = (payment_id IS NOT NULL)),
    ADD CONSTRAINT ledger_fee_day_iff_fee CHECK ((kind = 'fee') = (fee_day IS NOT NULL)),
    ADD CONSTRAINT ledger_charge_id_iff_charge CHECK ((kind = 'charge') = (charge_id IS NOT NULL)),
    ADD CONSTRAINT ledger_charge_id_length CHECK (length(charge_id) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX ledger_one_fee_per_day ON ledger (account_id, fee_day) WHERE kind = 'fee';
CREATE UNIQUE INDEX ledger_one_charge_per_id ON ledger (charge_id) WHERE kind = 'charge';
COMMENT ON COLUMN ledger.fee_day IS 'Fee rows: the local day whose share of the monthly fee this is (one per account and day).';
COMMENT ON COLUMN ledger.charge_id IS 'Charge rows: the operator billing''s id of the charge (its idempotency key).';

-- ---------------------------------------------------------------------------
-- settings, tariffs, status history

CREATE TABLE balance_settings (
    id            boolean PRIMARY KEY DEFAULT true CONSTRAINT balance_settings_one_row CHECK (id),
    tz            text NOT NULL DEFAULT 'Europe/Moscow',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO balance_settings DEFAULT VALUES;
COMMENT ON TABLE balance_settings IS 'The time zone of fee days (GATEWAY_PARTNER_TZ), as the gateway last said.';

CREATE TABLE account_fees (
    account_id   bigint NOT NULL REFERENCES accounts (id),
    valid_from   date   NOT NULL,
    monthly_fee  bigint NOT NULL CONSTRAINT account_fees_nonneg CHECK (monthly_fee >= 0),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, valid_from)
);
COMMENT ON TABLE account_fees IS
    'The monthly fee by the local day it applies from: a change of accounts.monthly_fee applies from the next '
    'day (''-infinity'' = since ever). The charge run of day D takes the row with the latest valid_from <= D.';
INSERT INTO account_fees (account_id, valid_from, monthly_fee)
SELECT id, '-infinity', monthly_fee FROM accounts;

ALTER TABLE accounts ADD COLUMN auto_suspended_below bigint NULL,
                     ADD COLUMN fee_from date NULL;
COMMENT ON COLUMN accounts.fee_from IS
    'The local day monthly_fee applies from (NULL: since ever). The charge run reads account_fees only for a '
    'day before it, so the usual account costs it no lookup.';
COMMENT ON COLUMN accounts.auto_suspended_below IS
    'Set by the charge run when it suspended the account (the threshold it used, kopecks): a booking that '
    'lifts the balance to it reactivates the account. NULL: not suspended by us (an operator''s suspension stays).';

CREATE TABLE account_status_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    old_status  text   NOT NULL,
    new_status  text   NOT NULL,
    cause       text   NOT NULL CONSTRAINT account_status_changes_cause_valid
                       CHECK (cause IN ('charge_run', 'payment', 'operator')),
    balance     bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_status_changes_account_idx ON account_status_changes (account_id, id);
COMMENT ON TABLE account_status_changes IS
    'Every change of accounts.status: charge_run (suspended below GATEWAY_SUSPEND_BELOW), payment (back to '
    'active after a top-up), operator (import, internal API, anything else).';

-- accounts_guard (001) also keeps the status history and the tariff days.
CREATE OR REPLACE FUNCTION accounts_before_update() RETURNS trigger
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
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status = 'suspended' AND NEW.auto_suspended_below IS NOT NULL
           AND OLD.auto_suspended_below IS NULL THEN
            INSERT INTO account_status_changes (account_id, old_status, new_status, cause, balance)
            VALUES (OLD.id, OLD.status, NEW.status, 'charge_run', NEW.balance);
        ELSIF NEW.status = 'active' AND OLD.auto_suspended_below IS NOT NULL AND NEW.auto_suspended_below IS NULL
              AND NEW.balance IS DISTINCT FROM OLD.balance THEN
            INSERT INTO account_status_changes (account_id, old_status, new_status, cause, balance)
            VALUES (OLD.id, OLD.status, NEW.status, 'payment', NEW.balance);
        ELSE
            NEW.auto_suspended_below := NULL;     -- the operator's word: not ours to undo
            INSERT INTO account_status_changes (account_id, old_status, new_status, cause, balance)
            VALUES (OLD.id, OLD.status, NEW.status, 'operator', NEW.balance);
        END IF;
    END IF;
    IF NEW.monthly_fee IS DISTINCT FROM OLD.monthly_fee THEN
        NEW.fee_from := (now() AT TIME ZONE (SELECT tz FROM balance_settings))::date + 1;
        INSERT INTO account_fees (account_id, valid_from, monthly_fee)
        VALUES (OLD.id, NEW.fee_from, NEW.monthly_fee)
        ON CONFLICT (account_id, valid_from) DO UPDATE SET monthly_fee = EXCLUDED.monthly_fee, changed_at = now();
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE FUNCTION accounts_fee_since_ever() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_fees (account_id, valid_from, monthly_fee) VALUES (NEW.id, '-infinity', NEW.monthly_fee);
    RETURN NULL;
END;
$$;
CREATE TRIGGER accounts_fee_since_ever
    AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_fee_since_ever();

-- ---------------------------------------------------------------------------
-- a booking lifts an account the charge run suspended

CREATE OR REPLACE FUNCTION booking_credit(
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
    -- The row lock taken here serialises concurrent bookings to one account. An account the charge
    -- run suspended comes back when the balance reaches the threshold it was suspended below.
    UPDATE accounts
       SET balance = balance + p_amount,
           status = CASE WHEN auto_suspended_below IS NOT NULL AND status = 'suspended'
                              AND balance + p_amount >= auto_suspended_below THEN 'active' ELSE status END,
           auto_suspended_below = CASE WHEN auto_suspended_below IS NOT NULL AND status = 'suspended'
                                            AND balance + p_amount >= auto_suspended_below THEN NULL
                                       ELSE auto_suspended_below END
     WHERE id = p_account_id
    RETURNING balance INTO o_balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % of payment % does not exist', p_account_id, p_payment_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after, credited_as)
    SELECT p_account_id, p_payment_id, 'credit', p_amount, o_balance_after, payment_identity(p)
      FROM payments p WHERE p.id = p_payment_id;

    INSERT INTO receipts (payment_id, token, email, state)
    VALUES (p_payment_id, p_receipt_token, v_email,
            CASE WHEN v_email IS NULL THEN 'no_email' ELSE 'pending' END)
    RETURNING number INTO o_receipt_number;

    INSERT INTO payment_events (payment_id, from_status, to_status, source, raw)
    VALUES (p_payment_id, p_from_status, 'succeeded', p_source, p_raw);
END;
$$;

-- Cash is taken for a suspended account too (the top-up is how it comes back); only a closed one is
-- refused. The rest of book_payment is 002's.
CREATE OR REPLACE FUNCTION book_payment(
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
    IF NOT FOUND OR v_acc_st = 'closed' THEN          -- a suspended account stays payable (012)
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

-- ---------------------------------------------------------------------------
-- the daily share and the charge run

CREATE FUNCTION daily_fee(p_monthly_fee bigint, p_day date) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_monthly_fee / n + CASE WHEN extract(day FROM p_day)::int <= p_monthly_fee % n THEN 1 ELSE 0 END
      FROM (SELECT extract(day FROM date_trunc('month', p_day) + interval '1 month' - interval '1 day')::int AS n) m
$$;
COMMENT ON FUNCTION daily_fee(bigint, date) IS
    'The share of a monthly fee charged for one day: fee / N for a month of N days, one kopeck more on the '
    'first fee mod N days; a month adds up to the fee exactly.';

CREATE FUNCTION balance_configure(p_tz text) RETURNS void
LANGUAGE sql AS $$
    UPDATE balance_settings SET tz = p_tz, updated_at = now() WHERE tz IS DISTINCT FROM p_tz
$$;

-- One batch of the charge run: the accounts with p_first_id <= id < p_last_id. Its own transaction,
-- short, so bookings are held up only by the batch they meet. The ledger's unique index
-- (account_id, fee_day) is the guard: a day charged twice would fail the whole batch, never book.
CREATE FUNCTION charge_fees(p_day date, p_suspend_below bigint, p_first_id bigint, p_last_id bigint)
RETURNS TABLE (charged bigint, amount bigint, suspended bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_flag text := current_setting('gateway.money_write', true);
    v_tz   text := (SELECT tz FROM balance_settings);
    v_due  timestamptz;
BEGIN
    -- two runs at once: the second waits here for the first's batch, then finds it done
    PERFORM pg_advisory_xact_lock(hashtext('charge_fees'), hashtext(p_day::text || ':' || p_first_id));
    v_due := (p_day + 1)::timestamp AT TIME ZONE v_tz;      -- the day's share is due when the day ends
    PERFORM set_config('gateway.money_write', 'on', true);
    RETURN QUERY
    WITH due AS (
        SELECT a.id,
               daily_fee(CASE WHEN a.fee_from IS NULL OR a.fee_from <= p_day THEN a.monthly_fee
                              ELSE coalesce((SELECT x.monthly_fee FROM account_fees x
                                              WHERE x.account_id = a.id AND x.valid_from <= p_day
                                              ORDER BY x.valid_from DESC LIMIT 1), 0) END, p_day) AS fee
          FROM accounts a
         WHERE a.id >= p_first_id AND a.id < p_last_id
           AND a.status = 'active'
           AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.account_id = a.id AND l.kind = 'fee' AND l.fee_day = p_day)
    ), upd AS (
        UPDATE accounts a
           SET balance = a.balance - d.fee,
               status = CASE WHEN p_suspend_below IS NOT NULL AND a.balance - d.fee < p_suspend_below
                             THEN 'suspended' ELSE a.status END,
               auto_suspended_below = CASE WHEN p_suspend_below IS NOT NULL AND a.balance - d.fee < p_suspend_below
                                           THEN p_suspend_below ELSE a.auto_suspended_below END
          FROM due d
         WHERE a.id = d.id AND d.fee > 0
        RETURNING a.id, a.balance, d.fee, a.status
    ), led AS (
        INSERT INTO ledger (account_id, kind, amount, balance_after, fee_day, effective_at, note)
        SELECT u.id, 'fee', -u.fee, u.balance, p_day, v_due, NULL FROM upd u
        RETURNING 1
    )
    SELECT count(*), coalesce(sum(u.fee), 0)::bigint, count(*) FILTER (WHERE u.status = 'suspended')
      FROM upd u;
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
END;
$$;
COMMENT ON FUNCTION charge_fees(date, bigint, bigint, bigint) IS
    'Charge run, one batch of account ids: debits the day''s share of the monthly fee (the tariff in force '
    'that day) from every active account, once (ledger_one_fee_per_day), and suspends the '
    'ones whose balance falls below p_suspend_below (NULL: never). Returns charged accounts, kopecks, suspended.';

-- The days a run covers by default: from the day after the last one charged (by any run) to yesterday.
CREATE TABLE fee_runs (
    day          date PRIMARY KEY,
    charged      bigint NOT NULL,
    amount       bigint NOT NULL,
    suspended    bigint NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE fee_runs IS 'Days whose charge run finished (all batches); the next run starts after the last.';

CREATE FUNCTION fee_run_finished(p_day date, p_charged bigint, p_amount bigint, p_suspended bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO fee_runs (day, charged, amount, suspended) VALUES (p_day, p_charged, p_amount, p_suspended)
    ON CONFLICT (day) DO UPDATE SET charged = fee_runs.charged + EXCLUDED.charged,
                                    amount = fee_runs.amount + EXCLUDED.amount,
                                    suspended = fee_runs.suspended + EXCLUDED.suspended, finished_at = now()
$$;

-- ---------------------------------------------------------------------------
-- a charge the operator's billing computed (POST /v1/internal/charges)

CREATE FUNCTION book_charge(p_charge_id text, p_contract text, p_amount bigint, p_description text)
RETURNS TABLE (result text, ledger_id bigint, balance_after bigint, booked_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_flag text := current_setting('gateway.money_write', true);
    v_acc  accounts;
    v_old  ledger;
BEGIN
    SELECT * INTO v_old FROM ledger l WHERE l.kind = 'charge' AND l.charge_id = p_charge_id;
    IF FOUND THEN
        SELECT * INTO v_acc FROM accounts a WHERE a.id = v_old.account_id;
        result := CASE WHEN v_acc.contract = p_contract AND v_old.amount = -p_amount
                            AND v_old.note IS NOT DISTINCT FROM p_description THEN 'duplicate' ELSE 'mismatch' END;
        ledger_id := v_old.id;
        balance_after := v_old.balance_after;
        booked_at := v_old.created_at;
        RETURN NEXT;
        RETURN;
    END IF;
    PERFORM set_config('gateway.money_write', 'on', true);
    UPDATE accounts a SET balance = a.balance - p_amount WHERE a.contract = p_contract
    RETURNING a.* INTO v_acc;
    IF NOT FOUND THEN
        PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
        result := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO ledger (account_id, kind, amount, balance_after, charge_id, note)
    VALUES (v_acc.id, 'charge', -p_amount, v_acc.balance, p_charge_id, p_description)
    RETURNING id, ledger.balance_after, created_at INTO ledger_id, balance_after, booked_at;
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
    result := 'booked';
    RETURN NEXT;
EXCEPTION WHEN unique_violation THEN
    -- the same charge id booked by a concurrent request meanwhile: answer as a repeat
    RETURN QUERY SELECT CASE WHEN a.contract = p_contract AND l.amount = -p_amount
                                  AND l.note IS NOT DISTINCT FROM p_description THEN 'duplicate' ELSE 'mismatch' END,
                        l.id, l.balance_after, l.created_at
                   FROM ledger l JOIN accounts a ON a.id = l.account_id
                  WHERE l.kind = 'charge' AND l.charge_id = p_charge_id;
END;
$$;
COMMENT ON FUNCTION book_charge(text, text, bigint, text) IS
    'Books a debit computed by the operator''s billing, once per charge id: booked | duplicate (the same '
    'again) | mismatch (the id was used for another charge) | not_found.';

-- ---------------------------------------------------------------------------
-- (fiscal, 010) the mail that brings the fiscal data after a first one went without it says so: the
-- claim keeps fiscal_followup, the mailer renders such a mail as the fiscal receipt (its own
-- Message-ID and subject), and 'sent' settles it.

CREATE OR REPLACE FUNCTION receipt_claim(p_limit int, p_lease_ms bigint)
RETURNS SETOF receipts
LANGUAGE sql AS $$
    WITH c AS (SELECT id FROM receipts WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE receipts x SET state = 'sending', attempts = x.attempts + 1,
           next_attempt_at = now() + p_lease_ms * interval '1 millisecond',
           fiscal_in_mail = EXISTS (SELECT 1 FROM fiscal_documents f WHERE f.payment_id = x.payment_id
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
        UPDATE receipts SET state = CASE WHEN fiscal_followup AND NOT fiscal_in_mail THEN 'pending' ELSE 'sent' END,
               fiscal_followup = fiscal_followup AND NOT fiscal_in_mail,
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
   AND f.proname IN ('charge_fees', 'fee_run_finished', 'book_charge', 'balance_configure', 'book_payment',
                     'receipt_claim', 'receipt_outcome');
