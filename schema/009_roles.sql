-- 009_roles.sql — the database guards the money even from its own clients.
--
-- Two roles. The schema OWNER runs `gatewayd migrate` and owns every table and function. The
-- SERVICE role (GATEWAY_SERVICE_ROLE, default gateway_service; `gatewayd serve` and the CLI
-- commands log in as it or as a member of it) may read, but it cannot write a single row of money
-- or status: it has no INSERT / UPDATE / DELETE on accounts, payments, payment_events, ledger,
-- receipts, refunds or idempotency_keys. Every change goes through a function that is
-- SECURITY DEFINER (it runs as the owner), with a fixed search_path, and that validates what it is
-- asked to do. The guard triggers then check that the writer is the owner, not a setting any
-- session could set.
--
-- THE RULE, for this and every later migration:
--   * a new table is owned by the owner; the service role gets SELECT only (gateway_grant_service()
--     grants it on every table; list a table in v_direct below only when it holds no money or
--     status and say why);
--   * every function that writes is SECURITY DEFINER with
--     SET search_path = pg_catalog, public, pg_temp  (use gateway_definer() below or write it out);
--   * helpers that a definer function calls stay SECURITY INVOKER: called by the service role
--     directly they run with its rights, which write nothing.
-- `gatewayd migrate` calls gateway_grant_service(role) after every run, so grants are never
-- forgotten: a migration cannot leave a table writable or a function unexecutable.
--
-- Also here: the identity of a booked payment frozen (adapter, partner, provider transaction,
-- channel, amount, account, paid_at), a guard on refunds, a health check that sees refunds and
-- changed identities, imports that carry the time of their balance (upsert_account(..., as_of)),
-- and the mailer's and janitor's writes as functions.

-- ---------------------------------------------------------------------------
-- who may write money: the owner, inside its functions

CREATE OR REPLACE FUNCTION money_write_allowed() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('gateway.money_write', true), '') = 'on'
       AND current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = 'public.accounts'::regclass)
$$;
COMMENT ON FUNCTION money_write_allowed() IS
    'True inside a booking function: the transaction-local setting gateway.money_write = on AND the '
    'current user is the schema owner (a SECURITY DEFINER function runs as it). A session of the service '
    'role that sets the flag gains nothing: it is not the owner (and has no write grants anyway).';

-- Marks a function as an API writer: runs as the owner, with a search_path nobody can plant in.
CREATE FUNCTION gateway_definer(p_fn regprocedure) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp', p_fn);
END;
$$;
COMMENT ON FUNCTION gateway_definer(regprocedure) IS
    'Migrations: makes a writer function SECURITY DEFINER with search_path pg_catalog, public, pg_temp.';

-- ---------------------------------------------------------------------------
-- frozen identity of a booked payment; the credit row remembers what was credited

ALTER TABLE ledger ADD COLUMN credited_as text NULL,
                   ADD COLUMN effective_at timestamptz NULL;
COMMENT ON COLUMN ledger.credited_as IS
    'Credit rows: the payment''s identity when it was credited (adapter/partner/provider_txn_id/channel); '
    'the health check reports a payment whose identity differs since.';
COMMENT ON COLUMN ledger.effective_at IS
    'Adjustments from an import: the moment of the billing balance they correct to (the import''s '
    '--as-of); other rows take effect at created_at.';

CREATE FUNCTION payment_identity(p payments) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT p.adapter || '/' || coalesce(p.partner_id::text, '-') || '/' || coalesce(p.provider_txn_id, '-')
           || '/' || p.channel
$$;
COMMENT ON FUNCTION payment_identity(payments) IS
    'adapter/partner_id/provider_txn_id/channel of a payment: what its credit ledger row records.';

ALTER TABLE ledger DISABLE TRIGGER ledger_append_only;
UPDATE ledger l SET credited_as = payment_identity(p) FROM payments p WHERE p.id = l.payment_id AND l.kind = 'credit';
ALTER TABLE ledger ENABLE TRIGGER ledger_append_only;

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
    -- The row lock taken here serialises concurrent bookings to one account.
    UPDATE accounts SET balance = balance + p_amount
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

CREATE OR REPLACE FUNCTION payments_guard() RETURNS trigger
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
    -- a provider transaction, once named, is the payment's identity: renaming it would let a
    -- terminal's retry of the same transaction be credited a second time
    IF OLD.provider_txn_id IS NOT NULL AND NEW.provider_txn_id IS DISTINCT FROM OLD.provider_txn_id THEN
        RAISE EXCEPTION 'payments.provider_txn_id is immutable once set (payment %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status IN ('succeeded', 'refunded')
       AND (NEW.adapter <> OLD.adapter OR NEW.partner_id IS DISTINCT FROM OLD.partner_id
            OR NEW.channel <> OLD.channel OR NEW.paid_at IS DISTINCT FROM OLD.paid_at) THEN
        RAISE EXCEPTION 'a booked payment''s adapter/partner/channel/paid_at are frozen (payment %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.refunded_amount <> OLD.refunded_amount AND NOT money_write_allowed() THEN
        RAISE EXCEPTION 'refunded_amount changes only through the refund function (payment %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.refunded_amount < OLD.refunded_amount THEN
        RAISE EXCEPTION 'refunded_amount never decreases (payment %)', OLD.id
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
    'succeeded -> refunded), keeps account/amount immutable, provider_txn_id once set, and a booked '
    'payment''s adapter/partner/channel/paid_at; money-bearing states and refunded_amount (never '
    'decreasing) only inside the booking functions; maintains updated_at.';

-- ---------------------------------------------------------------------------
-- refunds: status only forward, amounts and links frozen

CREATE FUNCTION refunds_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'refunds are never deleted (refund %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' OR NEW.ledger_id IS NOT NULL THEN
            RAISE EXCEPTION 'a refund starts pending, without a ledger row'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.payment_id <> OLD.payment_id OR NEW.key <> OLD.key
       OR NEW.requested IS DISTINCT FROM OLD.requested OR NEW.amount <> OLD.amount
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'a refund''s payment, key and amounts are frozen (refund %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status <> 'pending' AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'refund % is % for good', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.ledger_id IS NOT NULL AND NEW.ledger_id IS DISTINCT FROM OLD.ledger_id THEN
        RAISE EXCEPTION 'a booked refund''s ledger row is frozen (refund %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.provider_refund_id IS NOT NULL AND NEW.provider_refund_id IS DISTINCT FROM OLD.provider_refund_id THEN
        RAISE EXCEPTION 'a refund''s provider id is frozen once set (refund %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'succeeded' AND OLD.status <> 'succeeded' AND NOT money_write_allowed() THEN
        RAISE EXCEPTION 'refund % succeeds only through refund_succeeded()', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION refunds_guard() IS
    'Trigger: refunds start pending; pending -> succeeded (only inside refund_succeeded) | failed, both '
    'final; payment, key, amounts, ledger row and provider id frozen once set; never deleted.';
CREATE TRIGGER refunds_guard
    BEFORE INSERT OR UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_guard();

-- refund_succeeded() lifts the guard for its own transaction (it was written before the guard)
CREATE OR REPLACE FUNCTION refund_succeeded(p_refund_id uuid, p_provider_refund_id text, p_raw jsonb)
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
    UPDATE refunds SET status = 'succeeded', provider_refund_id = p_provider_refund_id, ledger_id = v_ledger,
                       failure_reason = NULL, locked_until = NULL, updated_at = now()
     WHERE id = v_ref.id;
    PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);

    INSERT INTO payment_events (payment_id, from_status, to_status, source, note, raw)
    VALUES (v_pay.id, v_pay.status, v_to, 'operator',
            format('refund %s: %s kopecks (%s of %s refunded)', v_ref.id, v_ref.amount,
                   v_pay.refunded_amount + v_ref.amount, v_pay.amount), p_raw);
    RETURN refund_view(v_ref.id, 'booked');
END;
$$;

-- ---------------------------------------------------------------------------
-- imports carry the time of their balance

ALTER TABLE accounts ADD COLUMN balance_as_of timestamptz NULL;
COMMENT ON COLUMN accounts.balance_as_of IS
    'The moment of the billing balance last imported (upsert_account''s p_balance_as_of); an import of an '
    'older moment is refused.';

-- Our balance as of a moment: the opening balance plus every ledger row in effect by then (an
-- import's adjustment takes effect at the moment it corrects to).
CREATE FUNCTION account_balance_at(p_account_id bigint, p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT a.opening_balance + coalesce((SELECT sum(l.amount) FROM ledger l
                                          WHERE l.account_id = a.id
                                            AND coalesce(l.effective_at, l.created_at) <= p_at), 0)
      FROM accounts a WHERE a.id = p_account_id
$$;
COMMENT ON FUNCTION account_balance_at(bigint, timestamptz) IS
    'Balance of the account as of p_at: opening balance + ledger rows in effect by then.';

DROP FUNCTION upsert_account(text, text, text, text, text, bigint, bigint);
CREATE FUNCTION upsert_account(
    p_contract       text,
    p_phone          text,
    p_email          text,
    p_holder_name    text,
    p_status         text,
    p_monthly_fee    bigint,
    p_balance        bigint,
    p_balance_as_of  timestamptz)
RETURNS TABLE (result text, new_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_acc  accounts;
    v_then bigint;
    v_bal  bigint;
    v_flag text;
    v_led  bigint;
BEGIN
    IF p_balance IS NOT NULL AND p_balance_as_of IS NULL THEN
        RAISE EXCEPTION 'upsert_account: a balance needs the moment it was taken (p_balance_as_of)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_balance_as_of > now() + interval '5 minutes' THEN
        result := 'future';          -- a balance of a moment still to come: a mistake, nothing changes
        new_balance := coalesce((SELECT a.balance FROM accounts a WHERE a.contract = p_contract), 0);
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO accounts (contract, phone, email, holder_name, status, monthly_fee, balance, balance_as_of)
    VALUES (p_contract, p_phone, p_email, coalesce(p_holder_name, ''), coalesce(p_status, 'active'),
            coalesce(p_monthly_fee, 0), coalesce(p_balance, 0), p_balance_as_of)
    ON CONFLICT (contract) DO NOTHING
    RETURNING accounts.balance INTO v_bal;
    IF FOUND THEN
        result := 'created';
        new_balance := v_bal;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT * INTO v_acc FROM accounts WHERE contract = p_contract FOR UPDATE;
    IF p_balance IS NOT NULL AND v_acc.balance_as_of IS NOT NULL AND p_balance_as_of < v_acc.balance_as_of THEN
        result := 'stale';           -- an export older than the one already imported: nothing changes
        new_balance := v_acc.balance;
        RETURN NEXT;
        RETURN;
    END IF;

    UPDATE accounts a
       SET phone         = coalesce(p_phone, a.phone),
           email         = coalesce(p_email, a.email),
           holder_name   = coalesce(p_holder_name, a.holder_name),
           status        = coalesce(p_status, a.status),
           monthly_fee   = coalesce(p_monthly_fee, a.monthly_fee),
           balance_as_of = coalesce(p_balance_as_of, a.balance_as_of)
     WHERE a.id = v_acc.id
    RETURNING a.balance INTO v_bal;

    -- Billing says the balance was p_balance at p_balance_as_of. What we booked after that moment
    -- (payments, refunds) stays: the correction is billing's balance minus ours as of that moment.
    IF p_balance IS NOT NULL THEN
        v_then := account_balance_at(v_acc.id, p_balance_as_of);
        IF p_balance <> v_then THEN
            v_flag := current_setting('gateway.money_write', true);
            PERFORM set_config('gateway.money_write', 'on', true);
            UPDATE accounts SET balance = balance + (p_balance - v_then) WHERE id = v_acc.id
            RETURNING balance INTO v_bal;
            INSERT INTO ledger (account_id, kind, amount, balance_after, note, effective_at)
            VALUES (v_acc.id, 'adjustment', p_balance - v_then, v_bal,
                    format('balance %s as of %s set by account import', p_balance, p_balance_as_of), p_balance_as_of)
            RETURNING id INTO v_led;
            PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
        END IF;
    END IF;
    result := 'updated';
    new_balance := v_bal;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION upsert_account(text, text, text, text, text, bigint, bigint, timestamptz) IS
    'Creates the subscriber (result created; balance becomes the opening balance) or updates the given '
    'fields, NULL meaning keep (result updated). A balance comes with the moment billing took it: the '
    'adjustment booked is that balance minus ours as of that moment, so payments booked after it survive; '
    'an export older than the last imported one is refused (result stale), one from the future too (result '
    'future); nothing changes then.';

-- ---------------------------------------------------------------------------
-- the health check also sees refunds and changed identities

CREATE OR REPLACE FUNCTION ledger_invariant_violations()
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
    ), per_refund AS (
        SELECT f.payment_id,
               coalesce(sum(f.amount) FILTER (WHERE f.status = 'succeeded'), 0) AS succeeded,
               coalesce(sum(f.amount) FILTER (WHERE f.status = 'pending'), 0)   AS pending
          FROM refunds f GROUP BY f.payment_id
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
    UNION ALL
    -- refunded means all of it
    SELECT 'refunded_incomplete', p.account_id, p.id,
           format('payment %s is refunded but refunded_amount %s <> amount %s', p.number, p.refunded_amount, p.amount)
      FROM payments p
     WHERE p.status = 'refunded' AND p.refunded_amount <> p.amount
    UNION ALL
    -- the succeeded refunds add up to refunded_amount; refunded plus reserved never exceeds the payment
    SELECT CASE WHEN coalesce(pr.succeeded, 0) <> p.refunded_amount THEN 'refunds_sum_mismatch'
                ELSE 'refunds_over_paid' END,
           p.account_id, p.id,
           format('payment %s: amount %s, refunded_amount %s, succeeded refunds %s, pending refunds %s',
                  p.number, p.amount, p.refunded_amount, coalesce(pr.succeeded, 0), coalesce(pr.pending, 0))
      FROM payments p LEFT JOIN per_refund pr ON pr.payment_id = p.id
     WHERE (pr.payment_id IS NOT NULL OR p.refunded_amount <> 0)
       AND (coalesce(pr.succeeded, 0) <> p.refunded_amount
            OR p.refunded_amount + coalesce(pr.pending, 0) > p.amount)
    UNION ALL
    -- a succeeded refund has its own debit of its amount on its payment
    SELECT 'refund_debit_mismatch', p.account_id, f.payment_id,
           format('refund %s (%s kopecks, payment %s): ledger row %s is %s',
                  f.id, f.amount, p.number, coalesce(f.ledger_id::text, 'none'),
                  CASE WHEN l.id IS NULL THEN 'missing'
                       ELSE format('%s %s of payment %s', l.kind, l.amount, coalesce(l.payment_id::text, 'none')) END)
      FROM refunds f JOIN payments p ON p.id = f.payment_id
      LEFT JOIN ledger l ON l.id = f.ledger_id
     WHERE f.status = 'succeeded'
       AND (l.id IS NULL OR l.kind <> 'debit' OR l.amount <> -f.amount OR l.payment_id IS DISTINCT FROM f.payment_id
            OR (SELECT count(*) FROM refunds g WHERE g.ledger_id = f.ledger_id) > 1)
    UNION ALL
    -- a credited payment whose provider identity changed since: its retry could be credited again
    SELECT 'identity_changed', p.account_id, p.id,
           format('payment %s was credited as %s, is now %s', p.number, l.credited_as, payment_identity(p))
      FROM ledger l JOIN payments p ON p.id = l.payment_id
     WHERE l.kind = 'credit' AND l.credited_as IS DISTINCT FROM payment_identity(p)
$$;
COMMENT ON FUNCTION ledger_invariant_violations() IS
    'Health check of the money invariants; an empty result = healthy. Reports: balance_mismatch, '
    'balance_after_mismatch, credit_count / missing_receipt / refund_mismatch (a booked payment without '
    'exactly one credit, without a receipt, or with debits <> refunded_amount), ledger_payment_mismatch, '
    'receipt_unpaid, refunded_incomplete (refunded without refunded_amount = amount), refunds_sum_mismatch '
    '(succeeded refunds <> refunded_amount), refunds_over_paid (refunded + pending > amount), '
    'refund_debit_mismatch (a succeeded refund without its own matching debit), identity_changed (a '
    'credited payment''s adapter/partner/provider_txn_id/channel differ from what was credited). Full '
    'scan: run it from monitoring or tests, not per request.';

-- ---------------------------------------------------------------------------
-- the mailer's and the janitor's writes, as functions

CREATE FUNCTION receipt_recover()
RETURNS TABLE (number text, attempts int)
LANGUAGE sql AS $$
    UPDATE receipts SET state = 'pending', next_attempt_at = now(),
           last_error = 'the delivery was interrupted (a mailer stopped or lost the database); sending again'
     WHERE id IN (SELECT id FROM receipts WHERE state = 'sending' AND next_attempt_at < now()
                  FOR UPDATE SKIP LOCKED)
    RETURNING number, attempts
$$;
COMMENT ON FUNCTION receipt_recover() IS
    'Mailer: gives back claims whose lease expired (their mailer died or hung).';

CREATE FUNCTION receipt_claim(p_limit int, p_lease_ms bigint)
RETURNS SETOF receipts
LANGUAGE sql AS $$
    WITH c AS (SELECT id FROM receipts WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE receipts x SET state = 'sending', attempts = x.attempts + 1,
           next_attempt_at = now() + p_lease_ms * interval '1 millisecond'
      FROM c WHERE x.id = c.id
    RETURNING x.*
$$;
COMMENT ON FUNCTION receipt_claim(int, bigint) IS
    'Mailer: claims up to p_limit due receipts (pending -> sending, attempts + 1, lease) with SKIP LOCKED.';

CREATE FUNCTION receipt_outcome(p_id bigint, p_attempt int, p_state text, p_delay_ms bigint, p_error text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_state = 'sent' THEN
        UPDATE receipts SET state = 'sent', sent_at = now(), last_error = NULL
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'pending' THEN          -- try again after p_delay_ms
        UPDATE receipts SET state = 'pending', next_attempt_at = now() + p_delay_ms * interval '1 millisecond',
               last_error = p_error
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'failed' THEN
        UPDATE receipts SET state = 'failed', last_error = p_error
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSIF p_state = 'released' THEN         -- not tried at all (shutdown): the attempt does not count
        UPDATE receipts SET state = 'pending', attempts = attempts - 1, next_attempt_at = now()
         WHERE id = p_id AND state = 'sending' AND attempts = p_attempt;
    ELSE
        RAISE EXCEPTION 'receipt_outcome: unknown state %', p_state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION receipt_outcome(bigint, int, text, bigint, text) IS
    'Mailer: records an attempt''s outcome (sent | pending after p_delay_ms | failed | released) while the '
    'claim is still ours (same state and attempt number); false when it no longer is.';

CREATE FUNCTION receipt_resend(p_number text, p_email text)
RETURNS TABLE (rec receipts, prev_state text)
LANGUAGE plpgsql AS $$
DECLARE
    v receipts;
BEGIN
    SELECT * INTO v FROM receipts WHERE number = p_number FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    prev_state := v.state;
    IF v.state <> 'sending' AND coalesce(p_email, v.email) IS NOT NULL THEN
        UPDATE receipts r SET state = 'pending', email = coalesce(p_email, r.email), attempts = 0,
               next_attempt_at = now(), last_error = NULL, resends = r.resends + 1
         WHERE r.id = v.id
        RETURNING r.* INTO rec;
        PERFORM pg_notify('receipts', rec.number);
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION receipt_resend(text, text) IS
    'Internal API: queues a receipt''s mail again (optionally to a new address). rec is the receipt after '
    'the change, NULL when nothing changed (a mailer is sending it, or there is no address); prev_state its '
    'state before. No row: no such receipt.';

CREATE FUNCTION janitor_claim(p_adapters text[], p_after int, p_expire int, p_limit int)
RETURNS TABLE (id uuid, adapter text, provider_txn_id text, status text, expired text)
LANGUAGE sql AS $$
    WITH c AS (
        SELECT p.id FROM payments p
         WHERE p.status IN ('created', 'pending') AND p.channel = 'web' AND p.adapter = ANY (p_adapters)
           AND p.created_at < now() - make_interval(secs => p_after)
           AND p.created_at > now() - make_interval(secs => 2 * p_expire + 86400)
           AND NOT p.flagged
           AND (p.recheck_at IS NULL OR p.recheck_at <= now())
         ORDER BY p.created_at LIMIT p_limit
           FOR UPDATE SKIP LOCKED)
    UPDATE payments p SET recheck_at = now() + make_interval(secs => p_after)
      FROM c WHERE p.id = c.id
    RETURNING p.id, p.adapter, p.provider_txn_id, p.status,
              (p.created_at < now() - make_interval(secs => p_expire))::text
$$;
COMMENT ON FUNCTION janitor_claim(text[], int, int, int) IS
    'Janitor: claims stale created/pending web payments of the given adapters (not asked again for p_after '
    'seconds), SKIP LOCKED; expired = older than p_expire seconds.';

-- ---------------------------------------------------------------------------
-- every writer runs as the owner

SELECT gateway_definer(f.oid::regprocedure)
  FROM pg_proc f
 WHERE f.pronamespace = 'public'::regnamespace
   AND f.proname IN ('book_payment', 'settle_payment', 'transition_payment', 'upsert_account',
                     'create_web_payment', 'resume_web_payment', 'payment_started', 'payment_start_failed',
                     'apply_provider_status', 'refund_begin', 'refund_succeeded', 'refund_failed', 'refund_unknown',
                     'receipt_recover', 'receipt_claim', 'receipt_outcome', 'receipt_resend', 'janitor_claim');

-- ---------------------------------------------------------------------------
-- the grants, applied by `gatewayd migrate` after every run

CREATE FUNCTION gateway_grant_service(p_role name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- Tables the service writes directly, and why: partners holds terminal networks' settings and
    -- hashed credentials (no money, no status of a payment); `gatewayd partner` edits it.
    v_direct text[] := ARRAY['partners'];
    t text;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', p_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', p_role);
    FOREACH t IN ARRAY v_direct LOOP
        EXECUTE format('GRANT INSERT, UPDATE ON %I TO %I', t, p_role);
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', pg_get_serial_sequence(t, 'id'), p_role);
    END LOOP;
    -- Functions: the writers run as the owner (SECURITY DEFINER) and validate; every other function
    -- runs with the caller's rights, which write nothing. The grant-giving ones stay the owner's.
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', p_role);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION gateway_grant_service(name), gateway_definer(regprocedure) FROM %I',
                   p_role);
END;
$$;
COMMENT ON FUNCTION gateway_grant_service(name) IS
    'Gives the service role exactly what it needs: SELECT on every table, INSERT/UPDATE on the tables named '
    'inside (no money there), EXECUTE on the functions; nothing else. Run by `gatewayd migrate` after '
    'every run (idempotent).';
