-- 019_console_at_scale.sql — the staff console's search and overview at a million accounts.
--
-- Index review at 1M accounts and 5M payments (issue 19; figures in tests/bench/RESULTS.md): every
-- booking, lookup, receipt and registry query used its index, but the console did not.
--  * console_search (014) gathered its hits as a UNION of one branch per kind of query — contract,
--    phone, payment number, receipt number, payment id, provider's id, or "no query" — each branch
--    joined to a CTE, so the planner could not tell at plan time which of them the query fits: every
--    search read all payments. Measured: the console's default list (no query) 13.6 s, a contract
--    3.1 s, a provider's transaction id 2.4 s.
--  * The list (no query) is newest first; no index had created_at first.
--  * console_overview's totals for today and this month filter payments by paid_at: no index had it.
--
-- Now console_search builds its query for what it was given and runs it with EXECUTE ... USING,
-- which plans it with the values known: with a query, the kinds it cannot be fold away and the rest
-- are index lookups (the IN list is in the text only when there is a query: inside an OR, PostgreSQL
-- would not turn it into a join); without one, the newest payments come off a new index on
-- (created_at, number) in the list's order. Measured after, same data: the list 22 ms, a contract
-- 19 ms, a transaction id 18 ms, a phone 18 ms (psql's round trip included); a status filter that
-- matches nothing walks that index to its end (1.0 s). console_overview reads today's and this
-- month's payments through the new payments_paid_idx; a month of payments is still a month of rows
-- to add up (6.2M in the bench's data: 3.5 s).
-- payments_status_created_idx (status, created_at), which no query reads, goes; so a booking writes
-- one payment index more than before, payments_paid_idx, whose keys are the booking times (appended
-- at the index's right edge, the cheapest insert there is).

DROP INDEX payments_status_created_idx;
CREATE INDEX payments_created_idx ON payments (created_at, number);
CREATE INDEX payments_paid_idx ON payments (paid_at) WHERE paid_at IS NOT NULL;

CREATE OR REPLACE FUNCTION console_search(p_q text, p_from date, p_to date, p_channel text, p_status text,
                                          p_limit int, p_unmasked boolean, p_tz text)
RETURNS TABLE (payment_id uuid, number bigint, created_at text, paid_at text, contract text, phone text,
               amount text, amount_kopecks bigint, refunded text, channel text, method text, adapter text,
               partner text, provider_txn_id text, status text, receipt_number text, receipt_state text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_q      text := nullif(btrim(p_q), '');
    v_digits text := regexp_replace(coalesce(p_q, ''), '[^0-9]', '', 'g');
    v_phone  text;
    v_number bigint;
    v_id     uuid;
BEGIN
    v_phone := CASE WHEN length(v_digits) = 11 AND left(v_digits, 1) IN ('7', '8') THEN '+7' || right(v_digits, 10)
                    WHEN length(v_digits) = 10 THEN '+7' || v_digits END;
    IF v_q ~ '^[0-9]{1,18}$' THEN
        v_number := v_q::bigint;
    END IF;
    IF v_q ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        v_id := v_q::uuid;
    END IF;
    -- $1 query, $2 phone, $3 number, $4 id, $5 from, $6 to, $7 channel, $8 status, $9 limit, $10 unmasked, $11 tz
    RETURN QUERY EXECUTE format($q$
    SELECT p.id, p.number,
           to_char(p.created_at AT TIME ZONE $11, 'YYYY-MM-DD HH24:MI:SS'),
           to_char(p.paid_at AT TIME ZONE $11, 'YYYY-MM-DD HH24:MI:SS'),
           a.contract,
           CASE WHEN $10 THEN a.phone ELSE console_mask_phone(a.phone) END,
           kopecks_text(p.amount), p.amount, kopecks_text(p.refunded_amount), p.channel, p.method, p.adapter,
           pa.name, p.provider_txn_id, p.status, r.number, r.state
      FROM payments p
      JOIN accounts a ON a.id = p.account_id
      LEFT JOIN partners pa ON pa.id = p.partner_id
      LEFT JOIN receipts r ON r.payment_id = p.id
     WHERE %s
       AND ($5::date IS NULL OR p.created_at >= ($5::date::timestamp AT TIME ZONE $11))
       AND ($6::date IS NULL OR p.created_at < (($6::date + 1)::timestamp AT TIME ZONE $11))
       AND ($7::text IS NULL OR p.channel = $7)
       AND ($8::text IS NULL OR p.status = $8)
     ORDER BY p.created_at DESC, p.number DESC
     LIMIT greatest(1, least(coalesce($9::int, 100), 1000))
    $q$, CASE WHEN v_q IS NULL THEN 'true' ELSE $w$p.id IN (
                SELECT x.id FROM payments x JOIN accounts xa ON xa.id = x.account_id WHERE xa.contract = $1
                UNION SELECT x.id FROM payments x JOIN accounts xa ON xa.id = x.account_id
                       WHERE $2::text IS NOT NULL AND xa.phone = $2
                UNION SELECT x.id FROM payments x WHERE $3::bigint IS NOT NULL AND x.number = $3
                UNION SELECT rr.payment_id FROM receipts rr WHERE rr.number = $1
                UNION SELECT $4::uuid WHERE $4::uuid IS NOT NULL
                UNION SELECT x.id FROM payments x WHERE x.provider_txn_id = $1)$w$ END)
    USING v_q, v_phone, v_number, v_id, p_from, p_to, p_channel, p_status, p_limit, p_unmasked, p_tz;
END;
$$;
