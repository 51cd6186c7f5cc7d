-- 021_partitions.sql — the tables that grow without bound, partitioned by month.
--
-- Daily fees write one ledger row per account and day: 365M rows a year at 1M accounts. The ledger,
-- the fee guard below, payment_events (one row or more per payment) and staff_audit are now
-- declaratively partitioned by month of their time column (UTC months: a fixed rule, whatever
-- GATEWAY_PARTNER_TZ says). Each has a DEFAULT partition, so a row outside the months created (a
-- backdated import, a clock far off) is kept, never refused.
--
--   partitions_ensure(n)      creates the current month's partitions and n months ahead; the
--                             janitor calls it hourly, migrate once (3 months); no DDL when nothing
--                             is missing
--   partitions_create(a, b)   the months from a to b, for data older than the current month
--   partitions_list()         every partition with its range, estimated rows and size
--   partitions_detach(before) detaches the months that end on or before `before` (a first of a month,
--                             not after the current month's): the tables stay, for pg_dump and DROP.
--                             `gatewayd partitions` is the command for all three.
--
-- Not partitioned, and why: events (the feed) and event_ticks are pruned after
-- GATEWAY_EVENTS_KEEP_DAYS; webhook_failures holds only deliveries given up after days of retries;
-- payments, receipts and refunds are one row per payment and are what every lookup by number,
-- token and provider id probes: partitioned by time, each of those probes would visit every month.
--
-- What partitioning takes from the ledger, and what replaces it:
--  * A unique index on a partitioned table must contain the partition key, so the three guards that
--    made a double credit, fee or charge impossible (unique payment_id of credits, (account_id,
--    fee_day) of fees, charge_id of charges) cannot stay on the ledger. They move to guard tables
--    written by a trigger in the same transaction as the row: ledger_credits (payment_id),
--    ledger_charges (charge_id), both one row per payment or charge like payments itself, and
--    ledger_fee_days (account_id, fee_day), itself partitioned by month of fee_day (its key is in the
--    primary key), so a year of fees is archived with its guard. The credit and charge guards keep
--    the unique indexes' names; a second fee fails on its ledger_fee_days partition's key.
--  * The primary key becomes (id, created_at), so refunds.ledger_id can no longer reference it;
--    ledger_invariant_violations() already reports a succeeded refund whose ledger row is missing or
--    is not its debit (refund_debit_mismatch).
--  * Reads that found ledger rows by a key without a time would visit every month: the fee run's
--    "already charged?" now asks ledger_fee_days (one partition), a repeated charge finds its row
--    through ledger_charges, the events feed joins a payment's credit by id and created_at (the event
--    and the row are written in one transaction: the same now()), and the reads of a payment's ledger
--    rows (a repeated booking, the console's timeline) start at the payment's created_at.
--  * Archiving ledger months carries each account's archived total forward (ledger_archive_totals):
--    balance = opening_balance + archived total + the live ledger, and the invariants check that;
--    the rows of payments created before the archive horizon are no longer checked one by one, and a
--    fee run for a day before the horizon is refused (its guard rows are archived too).
--
-- Migrating copies the rows into the new tables (measured on the bench machine: see
-- tests/bench/RESULTS.md, section "issue 19, partitions"); bookings wait meanwhile.

-- ---------------------------------------------------------------------------
-- the partition helpers

CREATE TABLE partition_archive (
    parent       text NOT NULL,
    partition    text PRIMARY KEY,
    range_to     text NOT NULL,
    rows         bigint NOT NULL,
    detached_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE partition_archive IS
    'Partitions detached by partitions_detach(): the tables stay (for pg_dump, then DROP TABLE) until an operator drops them.';

-- The month's partition of one parent, if missing; returns its name (<prefix>_YYYY_MM, the prefix
-- defaults to the parent's name), or NULL when it was there. timestamptz keys take UTC months, date
-- keys calendar months.
CREATE FUNCTION partition_month(p_parent regclass, p_month date, p_prefix text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_month date := date_trunc('month', p_month)::date;
    v_name  text := coalesce(p_prefix, (SELECT relname FROM pg_class WHERE oid = p_parent))
                    || '_' || to_char(v_month, 'YYYY_MM');
    v_type  regtype;
    v_lo    text;
    v_hi    text;
BEGIN
    IF to_regclass('public.' || quote_ident(v_name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    SELECT a.atttypid::regtype INTO v_type
      FROM pg_partitioned_table pt JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent;
    IF v_type = 'date'::regtype THEN
        v_lo := v_month::text;
        v_hi := (v_month + interval '1 month')::date::text;
    ELSIF v_type = 'timestamptz'::regtype THEN
        v_lo := v_month::text || ' 00:00:00+00';
        v_hi := (v_month + interval '1 month')::date::text || ' 00:00:00+00';
    ELSE
        RAISE EXCEPTION 'partition_month: % is not partitioned by a date or timestamptz', p_parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- CREATE ... PARTITION OF locks the parent: wait for running statements a while, never for long
    PERFORM set_config('lock_timeout', '5s', true);
    EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', v_name, p_parent, v_lo, v_hi);
    -- every partitioned table here only grows: vacuum after 1 % growth keeps the visibility map (and
    -- index-only scans, e.g. the statement's bounds) up with the month being written (020)
    EXECUTE format('ALTER TABLE public.%I SET (autovacuum_vacuum_insert_scale_factor = 0.01)', v_name);
    RETURN v_name;
END;
$$;

-- The partitions of the months from p_from to p_to that were missing, created; their names.
CREATE FUNCTION partition_months(p_parent regclass, p_from date, p_to date, p_prefix text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT n FROM generate_series(date_trunc('month', p_from), p_to, interval '1 month') m
     CROSS JOIN LATERAL partition_month(p_parent, m::date, p_prefix) n
     WHERE n IS NOT NULL
$$;

CREATE FUNCTION partitioned_tables() RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
     WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition
     ORDER BY c.relname
$$;

CREATE FUNCTION partitions_create(p_from date, p_to date)
RETURNS TABLE (parent text, partition text)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from OR p_to > p_from + interval '50 years' THEN
        RAISE EXCEPTION 'partitions_create: months % to % are not a range', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- two gateways' janitors at once: the second waits, then finds the months there
    PERFORM pg_advisory_xact_lock(hashtext('partitions_create'));
    RETURN QUERY SELECT t::text, n FROM partitioned_tables() t CROSS JOIN LATERAL partition_months(t, p_from, p_to) n;
END;
$$;

CREATE FUNCTION partitions_ensure(p_months int) RETURNS TABLE (parent text, partition text)
LANGUAGE plpgsql AS $$
DECLARE
    v_now date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    IF p_months IS NULL OR p_months < 0 OR p_months > 36 THEN
        RAISE EXCEPTION 'partitions_ensure: months ahead must be 0 to 36, got %', p_months
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT * FROM partitions_create(v_now, (v_now + p_months * interval '1 month')::date);
END;
$$;
COMMENT ON FUNCTION partitions_ensure(int) IS
    'Creates the missing monthly partitions of every partitioned table, this UTC month and p_months ahead; '
    'returns those created. The janitor calls it hourly.';

-- One partition's range: the bound's literal as text ('2026-12-01', 'MINVALUE'), 'DEFAULT' for the default.
CREATE FUNCTION partition_bounds(p_rel regclass, OUT range_from text, OUT range_to text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN b = 'DEFAULT' THEN 'DEFAULT' ELSE substring(b FROM 'FROM \(''?([^'')]*)') END,
           CASE WHEN b = 'DEFAULT' THEN 'DEFAULT' ELSE substring(b FROM 'TO \(''?([^'')]*)') END
      FROM (SELECT pg_get_expr(c.relpartbound, c.oid) AS b FROM pg_class c WHERE c.oid = p_rel) x
$$;

-- Bounds are printed in the session's time zone: UTC here, so they read the same for every caller.
CREATE FUNCTION partitions_list()
RETURNS TABLE (parent text, partition text, range_from text, range_to text, rows_estimate bigint, bytes bigint)
LANGUAGE sql STABLE SET TimeZone = 'UTC' AS $$
    SELECT t::text, c.relname::text, b.range_from, b.range_to, greatest(c.reltuples, 0)::bigint,
           pg_total_relation_size(c.oid)
      FROM partitioned_tables() t
      JOIN pg_inherits i ON i.inhparent = t
      JOIN pg_class c ON c.oid = i.inhrelid
     CROSS JOIN LATERAL partition_bounds(c.oid) b
     ORDER BY 1, b.range_from = 'DEFAULT', b.range_from
$$;

-- The ledger's archive horizon: rows created before it may be detached (NULL: nothing archived).
CREATE FUNCTION ledger_archived_before() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT max(range_to::timestamptz) FROM partition_archive WHERE parent = 'ledger'
$$;

CREATE TABLE ledger_archive_totals (
    account_id  bigint PRIMARY KEY REFERENCES accounts (id),
    amount      bigint NOT NULL,
    rows        bigint NOT NULL
);
COMMENT ON TABLE ledger_archive_totals IS
    'Per account, the sum and count of its ledger rows in detached (archived) months: '
    'balance = opening_balance + amount + sum(ledger).';

CREATE FUNCTION partitions_detach(p_before date) RETURNS TABLE (parent text, partition text, rows bigint)
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    v_now date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    r     record;
BEGIN
    IF p_before IS NULL OR p_before <> date_trunc('month', p_before)::date THEN
        RAISE EXCEPTION 'partitions_detach: % is not the first day of a month', p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_before > v_now THEN
        RAISE EXCEPTION 'partitions_detach: only months before the current one (%) can be detached, not before %',
                        to_char(v_now, 'YYYY-MM'), to_char(p_before, 'YYYY-MM')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- First the sums, each month locked against writes (SHARE: nothing can come into it meanwhile;
    -- the current months, where bookings go, are not touched); then the detaches, quick catalog
    -- changes, whose lock on the parent lasts until the commit: bookings wait only that long.
    PERFORM set_config('lock_timeout', '10s', true);
    FOR r IN SELECT l.parent, l.partition, l.range_to
               FROM partitions_list() l
              WHERE l.range_to <> 'DEFAULT' AND left(l.range_to, 10)::date <= p_before
              ORDER BY l.parent, l.range_to
    LOOP
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', r.partition);
        parent := r.parent;
        partition := r.partition;
        EXECUTE format('SELECT count(*) FROM %I', r.partition) INTO rows;
        IF r.parent = 'ledger' THEN
            EXECUTE format('INSERT INTO ledger_archive_totals (account_id, amount, rows)
                            SELECT account_id, sum(amount), count(*) FROM %I GROUP BY account_id
                            ON CONFLICT (account_id) DO UPDATE
                               SET amount = ledger_archive_totals.amount + EXCLUDED.amount,
                                   rows = ledger_archive_totals.rows + EXCLUDED.rows', r.partition);
        END IF;
        INSERT INTO partition_archive (parent, partition, range_to, rows) VALUES (r.parent, r.partition, r.range_to, rows);
        RETURN NEXT;
    END LOOP;
    FOR r IN SELECT a.parent, a.partition FROM partition_archive a
              WHERE EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = to_regclass('public.' || quote_ident(a.partition)))
    LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', r.parent, r.partition);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION partitions_detach(date) IS
    'Detaches every monthly partition that ends on or before p_before (a first of a month, not after the current '
    'month''s), ledger months with their per-account totals carried into ledger_archive_totals. Owner only.';


-- ---------------------------------------------------------------------------
-- the tables, rebuilt partitioned: same columns, checks, defaults, identity and comments; the rows
-- copied with their ids; the keys, indexes and triggers made again below (a partitioned table's
-- primary key must contain its partition key)

CREATE FUNCTION pg_temp.repartition(p_table text, p_key text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_new text := p_table || '_new';
    v_now date := (now() AT TIME ZONE 'UTC')::date;
    m     date;
BEGIN
    EXECUTE format('SELECT least(min(%I) AT TIME ZONE ''UTC'', %L)::date FROM %I', p_key, v_now, p_table) INTO m;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY '
                   'INCLUDING COMMENTS INCLUDING STORAGE) PARTITION BY RANGE (%I)', v_new, p_table, p_key);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_table || '_default', v_new);
    PERFORM count(*) FROM partition_months(v_new::regclass, m, (v_now + interval '3 months')::date, p_table);
    EXECUTE format('INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM %I ORDER BY id', v_new, p_table);
    EXECUTE format('SELECT setval(%L, coalesce((SELECT max(id) FROM %I), 0) + 1, false)',
                   pg_get_serial_sequence(v_new, 'id'), p_table);
    EXECUTE format('COMMENT ON TABLE %I IS %L', v_new, obj_description(p_table::regclass, 'pg_class'));
    EXECUTE format('DROP TABLE %I', p_table);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', v_new, p_table);
    EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', pg_get_serial_sequence(p_table, 'id'), p_table || '_id_seq');
END;
$$;

-- ledger: its guards first, filled from the rows as they are

CREATE TABLE ledger_fee_days (
    account_id  bigint NOT NULL,
    fee_day     date NOT NULL,
    ledger_id   bigint NOT NULL
) PARTITION BY RANGE (fee_day);
COMMENT ON TABLE ledger_fee_days IS
    'Guard: at most one fee row per account and day across all of the ledger''s months (written by trigger '
    'ledger_guard); partitioned by month of fee_day, archived with the ledger.';
CREATE TABLE ledger_fee_days_default PARTITION OF ledger_fee_days DEFAULT;
SELECT count(*) FROM partition_months('ledger_fee_days',
                                       least((SELECT min(fee_day) FROM ledger), (now() AT TIME ZONE 'UTC')::date),
                                       ((now() AT TIME ZONE 'UTC') + interval '3 months')::date);
INSERT INTO ledger_fee_days (account_id, fee_day, ledger_id) SELECT account_id, fee_day, id FROM ledger WHERE kind = 'fee';

CREATE TABLE ledger_credits (
    payment_id  uuid NOT NULL,
    ledger_id   bigint NOT NULL
);
COMMENT ON TABLE ledger_credits IS
    'Guard: at most one credit ledger row per payment across all of the ledger''s months (trigger ledger_guard).';
INSERT INTO ledger_credits (payment_id, ledger_id) SELECT payment_id, id FROM ledger WHERE kind = 'credit';

CREATE TABLE ledger_charges (
    charge_id   text NOT NULL,
    account_id  bigint NOT NULL,
    ledger_id   bigint NOT NULL
);
COMMENT ON TABLE ledger_charges IS
    'Guard: at most one charge ledger row per operator charge id across all of the ledger''s months '
    '(trigger ledger_guard); book_charge finds a repeated charge''s row through it.';
INSERT INTO ledger_charges (charge_id, account_id, ledger_id) SELECT charge_id, account_id, id FROM ledger WHERE kind = 'charge';

ALTER TABLE refunds DROP CONSTRAINT refunds_ledger_id_fkey;
SELECT pg_temp.repartition('ledger', 'created_at');

-- the old table's unique indexes are gone with it: their names go to the guards
ALTER TABLE ledger_fee_days ADD CONSTRAINT ledger_one_fee_per_day PRIMARY KEY (account_id, fee_day);
ALTER TABLE ledger_credits ADD CONSTRAINT ledger_one_credit_per_payment PRIMARY KEY (payment_id);
ALTER TABLE ledger_charges ADD CONSTRAINT ledger_one_charge_per_id PRIMARY KEY (charge_id);

ALTER TABLE ledger ADD PRIMARY KEY (id, created_at),
                   ADD FOREIGN KEY (account_id) REFERENCES accounts (id),
                   ADD FOREIGN KEY (payment_id) REFERENCES payments (id);
CREATE INDEX ledger_account_idx ON ledger (account_id, id) INCLUDE (created_at);
CREATE INDEX ledger_payment_idx ON ledger (payment_id) WHERE payment_id IS NOT NULL;
COMMENT ON TABLE ledger IS
    'Append-only balance history: one row per balance change, signed kopecks (credit > 0 on top-up, debit < 0 '
    'on refund and the fee and charge kinds, adjustment either way), balance_after = account balance right after '
    'this row. Partitioned by UTC month of created_at (021). At most one credit per payment, fee per account '
    'and day, charge per id: the guard tables ledger_credits, ledger_fee_days, ledger_charges. Rows are never '
    'updated or deleted (trigger ledger_append_only). Per account, id order is booking order.';

-- Writes the row's guard in the same transaction; a second credit of a payment, fee of an account's day
-- or charge of an id fails on the guard's primary key, whatever month the first is in.
CREATE FUNCTION ledger_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'credit' THEN
        INSERT INTO ledger_credits (payment_id, ledger_id) VALUES (NEW.payment_id, NEW.id);
    ELSIF NEW.kind = 'fee' THEN
        INSERT INTO ledger_fee_days (account_id, fee_day, ledger_id) VALUES (NEW.account_id, NEW.fee_day, NEW.id);
    ELSE
        INSERT INTO ledger_charges (charge_id, account_id, ledger_id) VALUES (NEW.charge_id, NEW.account_id, NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_guard
    AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind IN ('credit', 'fee', 'charge')) EXECUTE FUNCTION ledger_guard();
CREATE TRIGGER ledger_append_only
    BEFORE DELETE OR UPDATE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER fiscal_on_credit
    AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind = 'credit') EXECUTE FUNCTION fiscal_on_credit();
CREATE TRIGGER ledger_event
    AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind <> 'credit') EXECUTE FUNCTION ledger_event();

-- payment_events: one row per status change of a payment
SELECT pg_temp.repartition('payment_events', 'created_at');
ALTER TABLE payment_events ADD PRIMARY KEY (id, created_at),
                           ADD FOREIGN KEY (payment_id) REFERENCES payments (id);
CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, id);

-- staff_audit: every staff action
SELECT pg_temp.repartition('staff_audit', 'at');
ALTER TABLE staff_audit ADD PRIMARY KEY (id, at),
                        ADD FOREIGN KEY (staff_id) REFERENCES staff (id);
CREATE INDEX staff_audit_at_idx ON staff_audit (at);
CREATE INDEX staff_audit_staff_idx ON staff_audit (staff_id, at);
CREATE TRIGGER staff_audit_append_only
    BEFORE DELETE OR UPDATE ON staff_audit
    FOR EACH ROW EXECUTE FUNCTION staff_audit_append_only();
CREATE TRIGGER staff_audit_no_truncate
    BEFORE TRUNCATE ON staff_audit
    FOR EACH STATEMENT EXECUTE FUNCTION staff_audit_append_only();

-- ---------------------------------------------------------------------------
-- the readers, keyed so that they visit the months their rows can be in
--
-- pg_temp.patch replaces one piece of a function's current definition (it must be there exactly
-- once) and leaves the rest, its security and settings included, as it was.

CREATE FUNCTION pg_temp.patch(p_fn regprocedure, p_old text, p_new text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_def text := pg_get_functiondef(p_fn);
BEGIN
    IF array_length(string_to_array(v_def, p_old), 1) IS DISTINCT FROM 2 THEN
        RAISE EXCEPTION '021: % does not contain exactly once: %', p_fn, p_old;
    END IF;
    EXECUTE replace(v_def, p_old, p_new);
END;
$$;

-- a payment's rows are written at or after the payment itself
SELECT pg_temp.patch('book_payment_existing(payments, text, bigint)',
    'FROM ledger l WHERE l.payment_id = p.id AND l.kind = ''credit'';',
    'FROM ledger l WHERE l.payment_id = p.id AND l.kind = ''credit'' AND l.created_at >= p.created_at;');
SELECT pg_temp.patch('settle_payment'::regproc::regprocedure,
    'FROM ledger l WHERE l.payment_id = v_pay.id AND l.kind = ''credit'';',
    'FROM ledger l WHERE l.payment_id = v_pay.id AND l.kind = ''credit'' AND l.created_at >= v_pay.created_at;');
SELECT pg_temp.patch('console_payment'::regproc::regprocedure,
    'FROM payment_events e WHERE e.payment_id = p.id',
    'FROM payment_events e WHERE e.payment_id = p.id AND e.created_at >= p.created_at');
SELECT pg_temp.patch('console_payment'::regproc::regprocedure,
    'FROM ledger l WHERE l.payment_id = p.id',
    'FROM ledger l WHERE l.payment_id = p.id AND l.created_at >= p.created_at');
-- a payment.succeeded event and its credit row are one transaction's: the same now()
SELECT pg_temp.patch('events_page'::regproc::regprocedure,
    'l.id = e.ledger_id', 'l.id = e.ledger_id AND l.created_at = e.created_at');
-- the fee run asks the guard (one partition: fee_day is its key); days before the archive are refused
SELECT pg_temp.patch('charge_fees(date, bigint, bigint, bigint)',
    'NOT EXISTS (SELECT 1 FROM ledger l WHERE l.account_id = a.id AND l.kind = ''fee'' AND l.fee_day = p_day)',
    'NOT EXISTS (SELECT 1 FROM ledger_fee_days g WHERE g.account_id = a.id AND g.fee_day = p_day)');
SELECT pg_temp.patch('charge_fees(date, bigint, bigint, bigint)',
    '    PERFORM pg_advisory_xact_lock(hashtext(''charge_fees'')',
    '    IF p_day < (ledger_archived_before() AT TIME ZONE ''UTC'')::date THEN
        RAISE EXCEPTION ''charge_fees: % is before the archived ledger months (detached up to %)'', p_day,
                        (ledger_archived_before() AT TIME ZONE ''UTC'')::date
            USING ERRCODE = ''invalid_parameter_value'';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(''charge_fees'')');

-- A repeated charge id finds its row through the guard; a charge archived since (its row detached)
-- answers as a repeat of itself when the contract is the same, without its row's details.
CREATE OR REPLACE FUNCTION book_charge(p_charge_id text, p_contract text, p_amount bigint, p_description text)
RETURNS TABLE (result text, ledger_id bigint, balance_after bigint, booked_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_flag text := current_setting('gateway.money_write', true);
    v_acc  accounts;
BEGIN
    FOR i IN 1..2 LOOP
        RETURN QUERY
        SELECT CASE WHEN a.contract = p_contract AND (l.id IS NULL OR (l.amount = -p_amount
                         AND l.note IS NOT DISTINCT FROM p_description)) THEN 'duplicate' ELSE 'mismatch' END,
               g.ledger_id, l.balance_after, l.created_at
          FROM ledger_charges g JOIN accounts a ON a.id = g.account_id
          LEFT JOIN ledger l ON l.account_id = g.account_id AND l.id = g.ledger_id
         WHERE g.charge_id = p_charge_id;
        IF FOUND THEN
            RETURN;
        END IF;
        BEGIN
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
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            -- the same charge id booked by a concurrent request meanwhile: read it as a repeat
            PERFORM set_config('gateway.money_write', coalesce(v_flag, ''), true);
        END;
    END LOOP;
    RAISE EXCEPTION 'book_charge: charge % neither booked nor found', p_charge_id USING ERRCODE = 'serialization_failure';
END;
$$;
SELECT gateway_definer('book_charge(text, text, bigint, text)');

CREATE OR REPLACE FUNCTION account_balance_at(p_account_id bigint, p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_at < ledger_archived_before() THEN
        RAISE EXCEPTION 'the balance at % is in the archived ledger months (detached up to %)', p_at,
                        ledger_archived_before()
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (SELECT a.opening_balance + coalesce((SELECT t.amount FROM ledger_archive_totals t WHERE t.account_id = a.id), 0)
                   + coalesce((SELECT sum(l.amount) FROM ledger l
                                WHERE l.account_id = a.id AND coalesce(l.effective_at, l.created_at) <= p_at), 0)
              FROM accounts a WHERE a.id = p_account_id);
END;
$$;

-- The invariants, in three parts so that a period can be checked alone, reading only its months:
--   ledger_row_violations(from, to)      the rows created in [from, to): attached to the right payment,
--                                         credited under the identity it still has, guarded
--   payment_violations(from, to)          the payments created in [from, to): one credit, one receipt,
--                                         refunds adding up to their debits (their ledger rows are at or
--                                         after the payment: read from `from` on)
--   ledger_invariant_violations()         everything: each balance = opening + archived + the ledger,
--                                         each row's balance_after = opening + archived + the sum so far,
--                                         all rows, and the payments since the archive horizon (the rows
--                                         of older ones may be archived)
--   ledger_invariant_violations(from, to) a period: each row follows the one before it in the period,
--                                         an account whose last row is in it holds that row's balance,
--                                         its rows and its payments (EXPLAIN in test_partitions.py)
-- The links of a period's first rows to the rows before it are the whole check's.

-- One pass over the rows, each joined to its payment and to its guard row (hash joins at scale);
-- a row yields a line for each check it fails (the text is made for those only).
CREATE FUNCTION ledger_row_violations(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (problem text, account_id bigint, payment_id uuid, detail text)
LANGUAGE sql STABLE AS $$
    SELECT v.problem, l.account_id, l.payment_id,
           CASE v.problem
               WHEN 'ledger_payment_mismatch' THEN
                   format('ledger row %s (%s %s): payment %s is %s, amount %s, account %s',
                          l.id, l.kind, l.amount, p.number, p.status, p.amount, p.account_id)
               WHEN 'identity_changed' THEN
                   format('payment %s was credited as %s, is now %s', p.number, l.credited_as, payment_identity(p))
               ELSE format('ledger row %s (%s) has no row in its guard table', l.id, l.kind) END
      FROM ledger l
      LEFT JOIN payments p ON p.id = l.payment_id
      LEFT JOIN ledger_credits gc ON l.kind = 'credit' AND gc.payment_id = l.payment_id
      LEFT JOIN ledger_fee_days gf ON l.kind = 'fee' AND gf.account_id = l.account_id AND gf.fee_day = l.fee_day
      LEFT JOIN ledger_charges gh ON l.kind = 'charge' AND gh.charge_id = l.charge_id
     CROSS JOIN LATERAL (VALUES
        -- money attached to a payment that is not booked, or to the wrong account/amount
        ('ledger_payment_mismatch',
         (l.kind = 'credit' AND (p.status NOT IN ('succeeded', 'refunded') OR l.amount <> p.amount
                                 OR l.account_id <> p.account_id))
         OR (l.kind = 'debit' AND l.account_id <> p.account_id)),
        -- a credited payment whose provider identity changed since: its retry could be credited again
        ('identity_changed', l.kind = 'credit' AND l.credited_as IS DISTINCT FROM payment_identity(p)),
        -- the guards that keep a credit, fee or charge single across months
        ('ledger_guard_missing', l.kind IN ('credit', 'fee', 'charge')
                                 AND coalesce(gc.ledger_id, gf.ledger_id, gh.ledger_id) IS DISTINCT FROM l.id)
     ) v (problem, bad)
     WHERE l.created_at >= p_from AND l.created_at < p_to AND v.bad
$$;

CREATE FUNCTION payment_violations(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (problem text, account_id bigint, payment_id uuid, detail text)
LANGUAGE sql STABLE AS $$
    -- NOT MATERIALIZED, joined (not IN): planned with the rows each part gets; a materialized CTE
    -- under IN was estimated at 200 rows and probed every month's ledger once per payment (10 s of
    -- the whole check at 500k payments)
    WITH pays AS NOT MATERIALIZED (
        SELECT * FROM payments p WHERE p.created_at >= p_from AND p.created_at < p_to
    ), per_payment AS (
        SELECT l.payment_id,
               count(*) FILTER (WHERE l.kind = 'credit')           AS credits,
               coalesce(-sum(l.amount) FILTER (WHERE l.kind = 'debit'), 0) AS debited
          FROM ledger l JOIN pays p ON p.id = l.payment_id
         WHERE l.created_at >= p_from
         GROUP BY l.payment_id
    ), per_refund AS (
        SELECT f.payment_id,
               coalesce(sum(f.amount) FILTER (WHERE f.status = 'succeeded'), 0) AS succeeded,
               coalesce(sum(f.amount) FILTER (WHERE f.status = 'pending'), 0)   AS pending
          FROM refunds f JOIN pays p ON p.id = f.payment_id GROUP BY f.payment_id
    )
    -- every succeeded/refunded payment: exactly one credit, one receipt, debits = refunded_amount
    SELECT CASE WHEN coalesce(pp.credits, 0) <> 1 THEN 'credit_count'
                WHEN rc.id IS NULL THEN 'missing_receipt'
                ELSE 'refund_mismatch' END,
           p.account_id, p.id,
           format('payment %s (%s): %s credit rows, receipt %s, debited %s, refunded_amount %s',
                  p.number, p.status, coalesce(pp.credits, 0), coalesce(rc.number, 'none'),
                  coalesce(pp.debited, 0), p.refunded_amount)
      FROM pays p
      LEFT JOIN per_payment pp ON pp.payment_id = p.id
      LEFT JOIN receipts rc ON rc.payment_id = p.id
     WHERE p.status IN ('succeeded', 'refunded')
       AND (coalesce(pp.credits, 0) <> 1 OR rc.id IS NULL
            OR coalesce(pp.debited, 0) <> p.refunded_amount)
    UNION ALL
    SELECT 'receipt_unpaid', p.account_id, p.id,
           format('receipt %s for payment %s in status %s', rc.number, p.number, p.status)
      FROM receipts rc JOIN pays p ON p.id = rc.payment_id
     WHERE p.status NOT IN ('succeeded', 'refunded')
    UNION ALL
    -- refunded means all of it
    SELECT 'refunded_incomplete', p.account_id, p.id,
           format('payment %s is refunded but refunded_amount %s <> amount %s', p.number, p.refunded_amount, p.amount)
      FROM pays p
     WHERE p.status = 'refunded' AND p.refunded_amount <> p.amount
    UNION ALL
    -- the succeeded refunds add up to refunded_amount; refunded plus reserved never exceeds the payment
    SELECT CASE WHEN coalesce(pr.succeeded, 0) <> p.refunded_amount THEN 'refunds_sum_mismatch'
                ELSE 'refunds_over_paid' END,
           p.account_id, p.id,
           format('payment %s: amount %s, refunded_amount %s, succeeded refunds %s, pending refunds %s',
                  p.number, p.amount, p.refunded_amount, coalesce(pr.succeeded, 0), coalesce(pr.pending, 0))
      FROM pays p LEFT JOIN per_refund pr ON pr.payment_id = p.id
     WHERE (pr.payment_id IS NOT NULL OR p.refunded_amount <> 0)
       AND (coalesce(pr.succeeded, 0) <> p.refunded_amount
            OR p.refunded_amount + coalesce(pr.pending, 0) > p.amount)
    UNION ALL
    -- a succeeded refund has its own debit of its amount on its payment (refunds.ledger_id is no
    -- foreign key since 021: this is the check)
    SELECT 'refund_debit_mismatch', p.account_id, f.payment_id,
           format('refund %s (%s kopecks, payment %s): ledger row %s is %s',
                  f.id, f.amount, p.number, coalesce(f.ledger_id::text, 'none'),
                  CASE WHEN l.id IS NULL THEN 'missing'
                       ELSE format('%s %s of payment %s', l.kind, l.amount, coalesce(l.payment_id::text, 'none')) END)
      FROM refunds f JOIN pays p ON p.id = f.payment_id
      LEFT JOIN ledger l ON l.id = f.ledger_id AND l.payment_id = f.payment_id AND l.created_at >= p_from
     WHERE f.status = 'succeeded'
       AND (l.id IS NULL OR l.kind <> 'debit' OR l.amount <> -f.amount
            OR (SELECT count(*) FROM refunds g WHERE g.ledger_id = f.ledger_id) > 1)
$$;

CREATE OR REPLACE FUNCTION ledger_invariant_violations()
RETURNS TABLE (problem text, account_id bigint, payment_id uuid, detail text)
LANGUAGE sql STABLE AS $$
    WITH sums AS (
        SELECT l.account_id, sum(l.amount) AS total
          FROM ledger l GROUP BY l.account_id
    ), running AS (
        SELECT l.id, l.account_id, l.payment_id, l.balance_after,
               sum(l.amount) OVER (PARTITION BY l.account_id ORDER BY l.id) AS running_total
          FROM ledger l
    )
    -- balance = opening_balance + archived + sum(ledger)
    SELECT 'balance_mismatch', a.id, NULL::uuid,
           format('contract %s: balance %s <> opening %s + archived %s + ledger %s',
                  a.contract, a.balance, a.opening_balance, coalesce(t.amount, 0), coalesce(s.total, 0))
      FROM accounts a LEFT JOIN sums s ON s.account_id = a.id
      LEFT JOIN ledger_archive_totals t ON t.account_id = a.id
     WHERE a.balance <> a.opening_balance + coalesce(t.amount, 0) + coalesce(s.total, 0)
    UNION ALL
    -- each ledger row's balance_after = opening_balance + archived + running sum
    SELECT 'balance_after_mismatch', r.account_id, r.payment_id,
           format('ledger row %s: balance_after %s <> %s', r.id, r.balance_after,
                  a.opening_balance + coalesce(t.amount, 0) + r.running_total)
      FROM running r JOIN accounts a ON a.id = r.account_id
      LEFT JOIN ledger_archive_totals t ON t.account_id = a.id
     WHERE r.balance_after <> a.opening_balance + coalesce(t.amount, 0) + r.running_total
    UNION ALL
    SELECT * FROM ledger_row_violations('-infinity', 'infinity')
    UNION ALL
    SELECT * FROM payment_violations(coalesce(ledger_archived_before(), '-infinity'), 'infinity')
$$;

CREATE FUNCTION ledger_invariant_violations(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (problem text, account_id bigint, payment_id uuid, detail text)
LANGUAGE sql STABLE AS $$
    WITH span AS (
        SELECT l.id, l.account_id, l.payment_id, l.amount, l.balance_after,
               lag(l.id) OVER w AS prev_id, lag(l.balance_after) OVER w AS prev_after,
               lead(l.id) OVER w IS NULL AS last_in_span
          FROM ledger l WHERE l.created_at >= p_from AND l.created_at < p_to
        WINDOW w AS (PARTITION BY l.account_id ORDER BY l.id)
    )
    -- each row's balance_after = the one before it in the period + its amount
    SELECT 'balance_after_mismatch', s.account_id, s.payment_id,
           format('ledger row %s: balance_after %s <> %s (row %s) + %s', s.id, s.balance_after, s.prev_after,
                  s.prev_id, s.amount)
      FROM span s
     WHERE s.prev_id IS NOT NULL AND s.balance_after <> s.prev_after + s.amount
    UNION ALL
    -- an account whose last row is in the period holds that row's balance
    SELECT 'balance_mismatch', a.id, NULL::uuid,
           format('contract %s: balance %s <> balance_after %s of its last ledger row %s',
                  a.contract, a.balance, s.balance_after, s.id)
      FROM span s JOIN accounts a ON a.id = s.account_id
     WHERE s.last_in_span AND a.balance <> s.balance_after
       AND NOT EXISTS (SELECT 1 FROM ledger x WHERE x.account_id = s.account_id AND x.id > s.id
                                                AND x.created_at >= p_from)
    UNION ALL
    SELECT * FROM ledger_row_violations(p_from, p_to)
    UNION ALL
    SELECT * FROM payment_violations(p_from, p_to)
$$;
COMMENT ON FUNCTION ledger_invariant_violations(timestamptz, timestamptz) IS
    'The invariants of one period (its ledger rows and payments), reading its months only: a nightly check '
    'of yesterday. The links to the rows before the period are the whole check''s, ledger_invariant_violations().';

-- the service role (the janitor) creates partitions through these; partitions_detach runs with its
-- caller's rights, and only the tables' owner may detach
SELECT gateway_definer('partitions_ensure(int)');
SELECT gateway_definer('partitions_create(date, date)');
