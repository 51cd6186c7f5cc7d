-- 013_events.sql — what flows out to the operator's billing and the personal cabinet: one event per
-- change of money or status, written in the transaction of the change, read as an ordered feed
-- (GET /v1/internal/events) and pushed to signed webhooks (gateway/webhooks.c).
--
--   events            id (from a sequence), xid (the writing transaction), type, created_at, payload
--   event_ticks       the feed's order: a tick is a snapshot of which transactions had committed
--   event_settings    on/off (GATEWAY_EVENTS) and how long events are kept (GATEWAY_EVENTS_KEEP_DAYS)
--   webhook_endpoints one row per endpoint URL: its cursor in the feed, the lease of the gateway
--                     delivering to it, the failing event's attempts and last error, counters
--   webhook_failures  events given up after GATEWAY_WEBHOOK_GIVE_UP_AFTER (3 days) of failures
--
-- THE ORDER. Ids from a sequence are not commit order: a transaction that drew id 9 may commit after
-- one that drew id 10, so a reader who has seen 10 and asks for "after 10" would never see 9. The feed
-- is ordered the way PgQ (Skytools) orders its queues: event_tick() stores a snapshot
-- (pg_current_snapshot()); the batch of tick b is every event whose transaction is visible in b's
-- snapshot and not in the previous tick's, read in id order. A transaction still running at a tick
-- lands in a later batch, whatever its ids; a batch is final once its tick exists (a snapshot never
-- changes), so a cursor (tick, id) never skips an event. Within a batch id order is also the order of
-- causes: the writers draw an event's id after taking the account's row lock, so of two changes to one
-- account the later one has the larger id.
--
-- Who writes: booking_credit() writes payment.succeeded itself (the hot path: the values are at hand,
-- no lookup); a trigger on ledger writes the other money events (refund, fee, charge, adjustment),
-- triggers on account_status_changes, receipts and fiscal_documents the status events. No NOTIFY: a
-- notifying commit serialises all commits (see 011); readers poll the ticks.

CREATE TABLE event_settings (
    id          boolean PRIMARY KEY DEFAULT true CONSTRAINT event_settings_one_row CHECK (id),
    enabled     boolean NOT NULL DEFAULT true,
    keep_days   int     NOT NULL DEFAULT 7 CONSTRAINT event_settings_keep_range CHECK (keep_days BETWEEN 1 AND 3650),
    since_ledger_id bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO event_settings (since_ledger_id) SELECT coalesce(max(id), 0) + 1 FROM ledger;
COMMENT ON TABLE event_settings IS
    'Whether money and status changes write events (GATEWAY_EVENTS, written by gatewayd serve at start), how '
    'long they are kept (GATEWAY_EVENTS_KEEP_DAYS), and the first ledger row that has one (events began with 013).';

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8   NOT NULL DEFAULT pg_current_xact_id(),
    type        text   NOT NULL CONSTRAINT events_type_format CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    ledger_id   bigint NULL,
    payload     jsonb  NOT NULL
);
CREATE INDEX events_xid_idx ON events (xid);
COMMENT ON TABLE events IS
    'One row per change of money or status, written in the transaction of the change; read in the order of '
    'event_ticks (events_page), never by id alone. ledger_id: the ledger row of a money event.';

CREATE TABLE event_ticks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    snap        pg_snapshot NOT NULL,
    lo_id       bigint NULL,
    hi_id       bigint NULL,
    events      int    NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO event_ticks (snap) VALUES (pg_current_snapshot());
COMMENT ON TABLE event_ticks IS
    'The feed''s order: the batch of a tick = the events visible in its snapshot and not in the previous '
    'tick''s (lo_id..hi_id: their ids, events: how many). Written one at a time (event_tick), only when a '
    'batch would not be empty.';

-- ---------------------------------------------------------------------------
-- writing events

CREATE FUNCTION kopecks_text(p bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p < 0 THEN '-' ELSE '' END || (abs(p) / 100)::text || '.' || lpad((abs(p) % 100)::text, 2, '0')
$$;
COMMENT ON FUNCTION kopecks_text(bigint) IS 'Kopecks as the API writes money: "1234.50", "-0.07".';

CREATE FUNCTION event_time(p timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
COMMENT ON FUNCTION event_time(timestamptz) IS 'A moment as events write it: UTC, microseconds, "Z" (whatever the session''s TimeZone).';

CREATE FUNCTION events_enabled() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT enabled FROM event_settings $$;

-- The money part of a payload: the change (signed) and the balance after it, as kopecks and as text.
CREATE FUNCTION event_money(p_contract text, p_amount bigint, p_balance_after bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('contract', p_contract,
                              'amount', kopecks_text(abs(p_amount)), 'amount_kopecks', abs(p_amount),
                              'delta_kopecks', p_amount,
                              'balance_after', kopecks_text(p_balance_after), 'balance_after_kopecks', p_balance_after)
$$;

-- booking_credit of 012 with the payment.succeeded event (the values at hand: no lookup).
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
    v_email    text := nullif(btrim(p_email), '');
    v_contract text;
    v_pay      payments;
    v_ledger   bigint;
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
    RETURNING balance, contract INTO o_balance_after, v_contract;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % of payment % does not exist', p_account_id, p_payment_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    SELECT * INTO v_pay FROM payments WHERE id = p_payment_id;
    INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after, credited_as)
    VALUES (p_account_id, p_payment_id, 'credit', p_amount, o_balance_after, payment_identity(v_pay))
    RETURNING id INTO v_ledger;

    INSERT INTO receipts (payment_id, token, email, state)
    VALUES (p_payment_id, p_receipt_token, v_email,
            CASE WHEN v_email IS NULL THEN 'no_email' ELSE 'pending' END)
    RETURNING number INTO o_receipt_number;

    INSERT INTO payment_events (payment_id, from_status, to_status, source, raw)
    VALUES (p_payment_id, p_from_status, 'succeeded', p_source, p_raw);

    IF events_enabled() THEN
        INSERT INTO events (type, ledger_id, payload)
        VALUES ('payment.succeeded', v_ledger,
                event_money(v_contract, p_amount, o_balance_after) || jsonb_build_object(
                    'payment_id', p_payment_id, 'payment_number', v_pay.number, 'receipt_number', o_receipt_number,
                    'channel', v_pay.channel, 'method', v_pay.method, 'paid_at', event_time(coalesce(v_pay.paid_at, now()))));
    END IF;
END;
$$;

-- Every other ledger row (refund, fee, charge, adjustment): its event, from the row and the account.
CREATE FUNCTION ledger_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_contract text;
    v_extra    jsonb;
    v_type     text;
BEGIN
    IF NOT events_enabled() THEN
        RETURN NULL;
    END IF;
    SELECT contract INTO v_contract FROM accounts WHERE id = NEW.account_id;
    IF NEW.kind = 'debit' THEN
        v_type := 'payment.refunded';
        SELECT jsonb_build_object('payment_id', p.id, 'payment_number', p.number, 'channel', p.channel,
                                  'method', p.method, 'refund_id', substring(NEW.note FROM '^refund (.*)$'))
          INTO v_extra FROM payments p WHERE p.id = NEW.payment_id;
    ELSIF NEW.kind = 'fee' THEN
        v_type := 'account.charged';
        v_extra := jsonb_build_object('kind', 'fee', 'fee_day', NEW.fee_day);
    ELSIF NEW.kind = 'charge' THEN
        v_type := 'account.charged';
        v_extra := jsonb_build_object('kind', 'charge', 'charge_id', NEW.charge_id, 'description', NEW.note);
    ELSE
        v_type := 'account.adjusted';
        v_extra := jsonb_build_object('reason', NEW.note, 'effective_at', event_time(coalesce(NEW.effective_at, NEW.created_at)));
    END IF;
    INSERT INTO events (type, ledger_id, payload)
    VALUES (v_type, NEW.id, event_money(v_contract, NEW.amount, NEW.balance_after) || coalesce(v_extra, '{}'));
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_event
    AFTER INSERT ON ledger
    FOR EACH ROW WHEN (NEW.kind <> 'credit')
    EXECUTE FUNCTION ledger_event();

CREATE FUNCTION account_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF events_enabled() THEN
        INSERT INTO events (type, payload)
        SELECT CASE NEW.new_status WHEN 'suspended' THEN 'account.suspended'
                                   WHEN 'active' THEN 'account.reactivated'
                                   ELSE 'account.' || NEW.new_status END,
               jsonb_build_object('contract', a.contract, 'old_status', NEW.old_status, 'status', NEW.new_status,
                                  'cause', NEW.cause, 'balance', kopecks_text(NEW.balance),
                                  'balance_kopecks', NEW.balance)
          FROM accounts a WHERE a.id = NEW.account_id;
    END IF;
    RETURN NULL;
END;
$$;
-- Deferred to the commit: the status follows, in the feed, the change that caused it (the charge run
-- updates the balance and the status before it writes the fee's ledger row).
CREATE CONSTRAINT TRIGGER account_status_event
    AFTER INSERT ON account_status_changes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION account_status_event();

-- A receipt mail sent (again, for the follow-up with the fiscal data) or given up.
CREATE FUNCTION receipt_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF events_enabled() THEN
        INSERT INTO events (type, payload)
        SELECT CASE WHEN NEW.state = 'failed' THEN 'receipt.failed' ELSE 'receipt.sent' END,
               jsonb_build_object('contract', a.contract, 'receipt_number', NEW.number, 'payment_id', p.id,
                                  'payment_number', p.number, 'attempts', NEW.attempts,
                                  'error', CASE WHEN NEW.state = 'failed' THEN NEW.last_error END)
          FROM payments p JOIN accounts a ON a.id = p.account_id
         WHERE p.id = NEW.payment_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER receipt_event
    AFTER UPDATE ON receipts
    FOR EACH ROW WHEN ((NEW.sent_at IS DISTINCT FROM OLD.sent_at AND NEW.sent_at IS NOT NULL)
                       OR (NEW.state = 'failed' AND OLD.state <> 'failed'))
    EXECUTE FUNCTION receipt_event();

-- A fiscal document registered with its fiscal data, or failed for good.
CREATE FUNCTION fiscal_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF events_enabled() THEN
        INSERT INTO events (type, payload)
        VALUES (CASE WHEN NEW.state = 'done' THEN 'fiscal_receipt.registered' ELSE 'fiscal_receipt.failed' END,
                jsonb_build_object('contract', NEW.contract, 'payment_id', NEW.payment_id, 'refund_id', NEW.refund_id,
                                   'kind', NEW.kind, 'external_id', NEW.external_id,
                                   'amount', kopecks_text(NEW.amount), 'amount_kopecks', NEW.amount,
                                   'fn_number', NEW.fn_number, 'fiscal_document_number', NEW.fiscal_document_number,
                                   'fiscal_document_attribute', NEW.fiscal_document_attribute,
                                   'error', CASE WHEN NEW.state <> 'done' THEN NEW.last_error END));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER fiscal_event
    AFTER UPDATE ON fiscal_documents
    FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state AND NEW.state IN ('done', 'fail', 'failed'))
    EXECUTE FUNCTION fiscal_event();

CREATE FUNCTION events_configure(p_enabled boolean, p_keep_days int) RETURNS void
LANGUAGE sql AS $$
    UPDATE event_settings SET enabled = p_enabled, keep_days = p_keep_days, updated_at = now()
     WHERE enabled IS DISTINCT FROM p_enabled OR keep_days IS DISTINCT FROM p_keep_days
$$;

-- Every ledger row since events began has its event (a path that forgot one would show here).
CREATE FUNCTION event_invariant_violations()
RETURNS TABLE (ledger_id bigint, kind text, account_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT l.id, l.kind, l.account_id FROM ledger l
     WHERE l.id >= (SELECT since_ledger_id FROM event_settings)
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ledger_id = l.id)
       AND (SELECT enabled FROM event_settings)
$$;

-- ---------------------------------------------------------------------------
-- the order: ticks, pages, pruning

-- A new tick when the last one is at least p_min_gap_ms old and some committed event is not in it;
-- one ticker at a time (the next one's snapshot is taken after this one commits, so snapshots only
-- grow). Returns the newest tick's id.
CREATE FUNCTION event_tick(p_min_gap_ms int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_last event_ticks;
    v_snap pg_snapshot;
    v_lo   bigint;
    v_hi   bigint;
    v_n    int;
    v_id   bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('gateway.event_tick')) THEN
        RETURN (SELECT max(id) FROM event_ticks);
    END IF;
    SELECT * INTO v_last FROM event_ticks ORDER BY id DESC LIMIT 1;
    IF v_last.created_at > clock_timestamp() - p_min_gap_ms * interval '1 millisecond' THEN
        RETURN v_last.id;
    END IF;
    v_snap := pg_current_snapshot();
    SELECT min(id), max(id), count(*) INTO v_lo, v_hi, v_n
      FROM events
     WHERE xid >= pg_snapshot_xmin(v_last.snap) AND xid < pg_snapshot_xmax(v_snap)
       AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_last.snap);
    IF v_n = 0 THEN
        RETURN v_last.id;
    END IF;
    INSERT INTO event_ticks (snap, lo_id, hi_id, events) VALUES (v_snap, v_lo, v_hi, v_n) RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;

-- The feed after the position (p_tick, p_after): up to p_limit events of the types asked (NULL: all),
-- batch after batch, each with the position it leaves the reader at (tick, event_id, body). When the
-- batches run out before the limit, a last row without a body gives the position at the end.
-- SQLSTATE GW410: the tick was pruned (the cursor is older than the events kept); GW404: no such tick.
CREATE FUNCTION events_page(p_tick bigint, p_after bigint, p_limit int, p_types text[])
RETURNS TABLE (tick bigint, event_id bigint, body text)
LANGUAGE plpgsql AS $$
DECLARE
    a       event_ticks;
    b       event_ticks;
    v_after bigint := coalesce(p_after, 0);
    v_n     int := 0;
    v_steps int := 0;
    r       record;
BEGIN
    IF p_tick IS NULL THEN
        SELECT * INTO a FROM event_ticks ORDER BY id LIMIT 1;
        v_after := 0;
    ELSE
        SELECT * INTO a FROM event_ticks t WHERE t.id = p_tick;
        IF NOT FOUND THEN
            IF p_tick < (SELECT min(t.id) FROM event_ticks t) THEN
                RAISE EXCEPTION 'the cursor is older than the events kept' USING ERRCODE = 'GW410';
            END IF;
            RAISE EXCEPTION 'no such cursor' USING ERRCODE = 'GW404';
        END IF;
    END IF;
    LOOP
        SELECT * INTO b FROM event_ticks t WHERE t.id > a.id ORDER BY t.id LIMIT 1;
        IF NOT FOUND THEN
            PERFORM event_tick(100);
            SELECT * INTO b FROM event_ticks t WHERE t.id > a.id ORDER BY t.id LIMIT 1;
            EXIT WHEN NOT FOUND;
        END IF;
        FOR r IN
            SELECT e.id, e.type, e.created_at, e.payload FROM events e
             WHERE e.id > greatest(v_after, b.lo_id - 1) AND e.id <= b.hi_id
               AND e.xid >= pg_snapshot_xmin(a.snap) AND e.xid < pg_snapshot_xmax(b.snap)
               AND pg_visible_in_snapshot(e.xid, b.snap) AND NOT pg_visible_in_snapshot(e.xid, a.snap)
               AND (p_types IS NULL OR e.type = ANY (p_types))
             ORDER BY e.id
             LIMIT p_limit - v_n
        LOOP
            tick := a.id;
            event_id := r.id;
            body := json_build_object('id', r.id, 'type', r.type,
                                      'created_at', event_time(r.created_at),
                                      'cursor', a.id || '-' || r.id, 'data', r.payload)::text;
            RETURN NEXT;
            v_n := v_n + 1;
        END LOOP;
        IF v_n >= p_limit THEN
            RETURN;
        END IF;
        a := b;
        v_after := 0;
        v_steps := v_steps + 1;
        EXIT WHEN v_steps >= 1000;      -- bounded work per call; the position below says where it stopped
    END LOOP;
    tick := a.id;
    event_id := 0;
    body := NULL;
    RETURN NEXT;
END;
$$;

-- Drops ticks and events older than keep_days (the newest such tick stays: the oldest position a
-- cursor may still hold). At most p_limit events a call. Returns the events deleted.
CREATE FUNCTION events_prune(p_limit int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_keep event_ticks;
    v_n    bigint;
BEGIN
    SELECT * INTO v_keep FROM event_ticks
     WHERE created_at < now() - (SELECT keep_days FROM event_settings) * interval '1 day'
     ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    DELETE FROM event_ticks WHERE id < v_keep.id;
    DELETE FROM events WHERE id IN (SELECT id FROM events WHERE xid < pg_snapshot_xmin(v_keep.snap) LIMIT p_limit);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END;
$$;

-- ---------------------------------------------------------------------------
-- webhooks: one cursor per endpoint, one gateway at a time delivering to it (a lease)

CREATE TABLE webhook_endpoints (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url              text   NOT NULL UNIQUE CONSTRAINT webhook_endpoints_url_length CHECK (length(url) BETWEEN 8 AND 2000),
    cursor_tick      bigint NOT NULL,
    cursor_id        bigint NOT NULL DEFAULT 0,
    claimed_by       text   NULL,
    lease_until      timestamptz NULL,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    attempts         int    NOT NULL DEFAULT 0,
    failing_event_id bigint NULL,
    failing_since    timestamptz NULL,
    last_status      int    NULL,
    last_error       text   NULL,
    last_attempt_at  timestamptz NULL,
    last_delivered_at timestamptz NULL,
    delivered        bigint NOT NULL DEFAULT 0,
    given_up         bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE webhook_endpoints IS
    'Every webhook URL a gateway was configured with (GATEWAY_WEBHOOK_URLS; no secret here: they stay in the '
    'gateways'' configuration). cursor_tick/cursor_id: the feed position delivered through. claimed_by and '
    'lease_until: the worker delivering now (one at a time, so in order and never one event twice at once). '
    'attempts, failing_*, last_*: the event being retried. delivered, given_up: counters.';

CREATE TABLE webhook_failures (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id),
    event_id         bigint NOT NULL,
    event_type       text   NULL,
    cursor           text   NOT NULL,
    attempts         int    NOT NULL,
    failing_since    timestamptz NULL,
    last_status      int    NULL,
    last_error       text   NULL,
    given_up_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_failures_endpoint_idx ON webhook_failures (endpoint_id, id);
COMMENT ON TABLE webhook_failures IS
    'Deliveries given up: the event, the cursor to replay from (the position just before it), the attempts and '
    'the last error.';

-- Adds the endpoints not known yet, starting at the newest tick (what is committed from now on).
CREATE FUNCTION webhook_register(p_urls text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_endpoints (url, cursor_tick)
    SELECT u, (SELECT max(id) FROM event_ticks) FROM unnest(p_urls) u
    ON CONFLICT (url) DO NOTHING
$$;

-- Claims up to p_limit due endpoints among p_urls (those whose lease is free or expired) for p_token.
CREATE FUNCTION webhook_claim(p_urls text[], p_token text, p_lease_ms bigint, p_limit int)
RETURNS SETOF webhook_endpoints
LANGUAGE sql AS $$
    WITH c AS (
        SELECT id FROM webhook_endpoints
         WHERE url = ANY (p_urls) AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
         ORDER BY next_attempt_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED)
    UPDATE webhook_endpoints w SET claimed_by = p_token, lease_until = now() + p_lease_ms * interval '1 millisecond'
      FROM c WHERE w.id = c.id
    RETURNING w.*
$$;

-- Delivered through (p_tick, p_event_id): the cursor moves, the lease is extended by p_lease_ms, or
-- given back when p_next_ms is not NULL (the next look in that many ms). False: the claim is no
-- longer ours (nothing recorded).
CREATE FUNCTION webhook_progress(p_id bigint, p_token text, p_tick bigint, p_event_id bigint, p_delivered int,
                                 p_lease_ms bigint, p_next_ms bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_endpoints
       SET cursor_tick = p_tick, cursor_id = p_event_id, delivered = delivered + p_delivered,
           last_delivered_at = CASE WHEN p_delivered > 0 THEN now() ELSE last_delivered_at END,
           attempts = CASE WHEN p_delivered > 0 THEN 0 ELSE attempts END,
           failing_event_id = CASE WHEN p_delivered > 0 THEN NULL ELSE failing_event_id END,
           failing_since = CASE WHEN p_delivered > 0 THEN NULL ELSE failing_since END,
           claimed_by = CASE WHEN p_next_ms IS NULL THEN claimed_by END,
           lease_until = CASE WHEN p_next_ms IS NULL THEN now() + p_lease_ms * interval '1 millisecond' END,
           next_attempt_at = CASE WHEN p_next_ms IS NULL THEN next_attempt_at
                                  ELSE now() + p_next_ms * interval '1 millisecond' END,
           updated_at = now()
     WHERE id = p_id AND claimed_by = p_token;
    RETURN FOUND;
END;
$$;

-- A delivery of event p_event_id (at position p_event_tick) failed; the cursor first moves to what was
-- delivered before it (p_tick, p_through, p_delivered of them). The claim is given back with the next
-- attempt in p_delay_ms — or, when the event is older than p_give_up_ms, the event is given up
-- (webhook_failures) and the cursor moves past it. Returns retry | gave_up | lost (the claim is not ours).
CREATE FUNCTION webhook_failed(p_id bigint, p_token text, p_tick bigint, p_through bigint, p_delivered int,
                               p_event_tick bigint, p_event_id bigint, p_status int, p_error text,
                               p_delay_ms bigint, p_give_up_ms bigint)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    w       webhook_endpoints;
    v_ev    events;
    v_first timestamptz;
BEGIN
    SELECT * INTO w FROM webhook_endpoints WHERE id = p_id AND claimed_by = p_token FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    SELECT * INTO v_ev FROM events WHERE id = p_event_id;
    v_first := CASE WHEN w.failing_event_id = p_event_id AND p_delivered = 0 THEN w.failing_since ELSE now() END;
    IF v_ev.created_at IS NULL OR v_ev.created_at < now() - p_give_up_ms * interval '1 millisecond' THEN
        INSERT INTO webhook_failures (endpoint_id, event_id, event_type, cursor, attempts, failing_since, last_status, last_error)
        VALUES (p_id, p_event_id, v_ev.type, p_tick || '-' || p_through,
                CASE WHEN w.failing_event_id = p_event_id AND p_delivered = 0 THEN w.attempts ELSE 0 END + 1,
                v_first, p_status, left(p_error, 500));
        UPDATE webhook_endpoints
           SET cursor_tick = p_event_tick, cursor_id = p_event_id, delivered = delivered + p_delivered,
               given_up = given_up + 1, attempts = 0, failing_event_id = NULL, failing_since = NULL,
               last_status = p_status, last_error = left(p_error, 500), last_attempt_at = now(),
               claimed_by = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
         WHERE id = p_id;
        RETURN 'gave_up';
    END IF;
    UPDATE webhook_endpoints
       SET cursor_tick = p_tick, cursor_id = p_through, delivered = delivered + p_delivered,
           attempts = CASE WHEN w.failing_event_id = p_event_id AND p_delivered = 0 THEN w.attempts ELSE 0 END + 1,
           failing_event_id = p_event_id, failing_since = v_first,
           last_status = p_status, last_error = left(p_error, 500), last_attempt_at = now(),
           claimed_by = NULL, lease_until = NULL, next_attempt_at = now() + p_delay_ms * interval '1 millisecond',
           updated_at = now()
     WHERE id = p_id;
    RETURN 'retry';
END;
$$;

-- The operator's replay: the endpoint delivers again from the position given (a cursor of the feed or
-- of webhook_failures), at once. False: no such endpoint.
CREATE FUNCTION webhook_replay(p_id bigint, p_tick bigint, p_event_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_ticks WHERE id = p_tick) THEN
        RAISE EXCEPTION 'no such cursor' USING ERRCODE = CASE WHEN p_tick < (SELECT min(id) FROM event_ticks)
                                                            THEN 'GW410' ELSE 'GW404' END;
    END IF;
    UPDATE webhook_endpoints
       SET cursor_tick = p_tick, cursor_id = p_event_id, attempts = 0, failing_event_id = NULL,
           failing_since = NULL, next_attempt_at = now(), updated_at = now()
     WHERE id = p_id;
    RETURN FOUND;
END;
$$;

SELECT gateway_definer(f.oid::regprocedure)
  FROM pg_proc f
 WHERE f.pronamespace = 'public'::regnamespace
   AND f.proname IN ('ledger_event', 'account_status_event', 'receipt_event', 'fiscal_event',
                     'events_configure', 'event_tick', 'events_page', 'events_prune', 'webhook_register',
                     'webhook_claim', 'webhook_progress', 'webhook_failed', 'webhook_replay');
