-- 022_statement.sql — the statement of an account as one function with a generic plan.
--
-- The statement (GET /v1/internal/accounts/{contract}/statement) was one prepared query in the
-- gateway that read the partitioned ledger (021) six times: the period's first and last rows, the
-- opening, the opening of an empty period, the closing and the lines. Measured at SCALE=100 (1M
-- accounts, 10 000 with a year of daily fees, 17 ledger partitions), pgbench with the gateway's
-- parameters, 4 connections:
--   * A prepared statement picks a custom or a generic plan per connection from its first five
--     parameter sets. This query's generic plan is costed over every partition, so a connection
--     could stay on custom plans: 1.1-2.5 ms of planning each call, 659-860/s instead of 2 300-3 300/s
--     on a generic plan. pgbench landed there in every run; psql's EXPLAIN, with other parameters, on
--     generic. Connections on either kind explain the p99 that doubled with partitioning (7.4 ms).
--   * The closing sat in the select list and ran once per line, each time over two partitions:
--     217 of the query's 285 buffers.
--   * ledger_archived_before() was a SQL function with a FROM clause: not inlined, so parsed and
--     planned at every call (10 % of the statement's time in perf).
--   * The opening of an empty period reads the months before it; its plan nodes were set up at every
--     call though they rarely run.
-- Here the statement is a PL/pgSQL function whose plans are generic by its SET clause (init-time
-- pruning keeps the period's months; nothing is planned per call), reading the ledger in three
-- queries: the bounds (min and max, index-only), the opening and closing rows together, and the
-- lines; the months before the period only when it is empty. ledger_archived_before() is PL/pgSQL, so
-- its query is planned once per session. Same SCALE=100 data, same pgbench, alternated rounds: 3 793/s
-- against 659/s with the plans the connections chose, 3 987/s against 3 120/s with every connection
-- forced to generic plans (tests/bench/RESULTS.md).

CREATE OR REPLACE FUNCTION ledger_archived_before() RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT max(range_to::timestamptz) FROM partition_archive WHERE parent = 'ledger');
END;
$$;

-- The statement of the account with contract p_contract for the local days p_from..p_to in p_tz: one
-- row per line (at most p_limit + 1 of them after the line id p_after), each carrying the header
-- (contract, holder, opening, closing, whether the period starts in archived months); one row with
-- NULL line columns when the page has no line; no row when there is no such account.
-- The lines are the account's rows lo..hi, the period's first and last by id: a contiguous run, so
-- closing = opening + the lines. A row is stamped with its transaction's start and numbered at insert,
-- so a row of that run may lie a moment outside the period: the lines are read with a day of slack.
-- The opening is lo's balance before it (balance_after - amount), or for an empty period the last
-- balance before it, or the opening balance and the archived total.
CREATE FUNCTION account_statement(p_contract text, p_from date, p_to date, p_tz text, p_after bigint, p_limit int)
RETURNS TABLE (contract text, holder_name text, opening bigint, closing bigint, line_id bigint, at_utc text,
               at_local text, kind text, amount bigint, balance_after bigint, note text, fee_day text,
               payment_id uuid, payment_number bigint, method text, channel text, receipt_number text,
               receipt_token text, archived boolean)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_from timestamptz := p_from::timestamp AT TIME ZONE p_tz;
    v_to   timestamptz := (p_to + 1)::timestamp AT TIME ZONE p_tz;
    v_account bigint;
    v_contract text;
    v_holder text;
    v_base bigint;
    v_archived boolean;
    v_lo bigint;
    v_hi bigint;
    v_opening bigint;
    v_closing bigint;
BEGIN
    SELECT a.id, a.contract, a.holder_name, a.opening_balance + coalesce(t.amount, 0),
           coalesce(v_from < ledger_archived_before(), false),
           b.lo, b.hi
      INTO v_account, v_contract, v_holder, v_base, v_archived, v_lo, v_hi
      FROM accounts a
      LEFT JOIN ledger_archive_totals t ON t.account_id = a.id
     CROSS JOIN LATERAL (SELECT min(l.id) AS lo, max(l.id) AS hi FROM ledger l
                          WHERE l.account_id = a.id AND l.created_at >= v_from AND l.created_at < v_to) b
     WHERE a.contract = p_contract;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_lo IS NULL THEN
        v_opening := coalesce((SELECT l.balance_after FROM ledger l
                                WHERE l.account_id = v_account AND l.created_at < v_from
                                ORDER BY l.id DESC LIMIT 1), v_base);
        v_closing := v_opening;
    ELSE
        SELECT max(l.balance_after - l.amount) FILTER (WHERE l.id = v_lo), max(l.balance_after) FILTER (WHERE l.id = v_hi)
          INTO v_opening, v_closing
          FROM ledger l
         WHERE l.account_id = v_account AND l.id IN (v_lo, v_hi) AND l.created_at >= v_from AND l.created_at < v_to;
    END IF;
    RETURN QUERY
    SELECT v_contract, v_holder, v_opening, v_closing,
           l.id, to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           to_char(l.created_at AT TIME ZONE p_tz, 'DD.MM.YYYY HH24:MI'), l.kind, l.amount, l.balance_after, l.note,
           to_char(l.fee_day, 'DD.MM.YYYY'), p.id, p.number, p.method, p.channel, rc.number, rc.token, v_archived
      FROM (SELECT) one
      LEFT JOIN LATERAL (SELECT * FROM ledger x
                          WHERE x.account_id = v_account AND x.id >= v_lo AND x.id <= v_hi
                            AND x.created_at >= (p_from - 1)::timestamp AT TIME ZONE p_tz
                            AND x.created_at < (p_to + 2)::timestamp AT TIME ZONE p_tz
                            AND x.id > p_after
                          ORDER BY x.id LIMIT p_limit + 1) l ON true
      LEFT JOIN payments p ON p.id = l.payment_id
      LEFT JOIN receipts rc ON rc.payment_id = l.payment_id
     ORDER BY l.id;
END;
$$;
