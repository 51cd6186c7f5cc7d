-- 014_staff.sql — the operator's console (/admin): staff accounts, their sessions and the audit log.
--
--   staff           one row per person: login, role (support | finance | admin), the scrypt hash of the
--                   password (never the password), active or disabled
--   staff_sessions  a signed-in browser: the SHA-256 of its cookie's token (never the token), the
--                   CSRF token of its forms, when it began and was last used, when it was revoked
--   staff_audit     every staff action (login, failed login, view of a subscriber's data, resend,
--                   refund, partner change, reconcile, staff change): who, when, from where, what.
--                   Append-only: no UPDATE, DELETE or TRUNCATE, not even by the owner's functions.
--
-- The service role (gatewayd serve, `gatewayd staff`) writes staff and staff_sessions directly (no
-- money there, like partners) and the audit only through staff_audit_add(), a definer that inserts.
-- A session is valid while it is not revoked, its staff is active, it was used within the idle
-- timeout and began within the absolute one (staff_session_use); disabling a staff member or resetting
-- the password revokes every session of theirs in the same statement (the trigger below).

CREATE TABLE staff (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login         text   NOT NULL UNIQUE
                  CONSTRAINT staff_login_format CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    role          text   NOT NULL
                  CONSTRAINT staff_role_valid CHECK (role IN ('support', 'finance', 'admin')),
    password_hash text   NOT NULL
                  CONSTRAINT staff_password_hash_format CHECK (password_hash ~ '^scrypt\$'),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    password_set_at timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz NULL
);
COMMENT ON TABLE staff IS
    'Support, finance and admin staff of the console (/admin). password_hash: scrypt$N$r$p$salt$key (hex), '
    'never the password; `gatewayd staff add|reset` prints a generated password once.';

CREATE TABLE staff_sessions (
    id            text   PRIMARY KEY CONSTRAINT staff_sessions_id_format CHECK (id ~ '^[0-9a-f]{64}$'),
    staff_id      bigint NOT NULL REFERENCES staff (id),
    csrf          text   NOT NULL CONSTRAINT staff_sessions_csrf_format CHECK (csrf ~ '^[0-9a-f]{32,64}$'),
    address       inet   NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz NULL
);
CREATE INDEX staff_sessions_staff_idx ON staff_sessions (staff_id) WHERE revoked_at IS NULL;
COMMENT ON TABLE staff_sessions IS
    'Signed-in browsers. id = hex SHA-256 of the session cookie''s random token (a leaked table opens no '
    'session); csrf = the token every state-changing request of the session must carry.';

CREATE TABLE staff_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    staff_id      bigint NULL REFERENCES staff (id),
    login         text   NOT NULL CONSTRAINT staff_audit_login_length CHECK (length(login) <= 100),
    role          text   NULL,
    address       inet   NULL,
    action        text   NOT NULL CONSTRAINT staff_audit_action_format CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    object        text   NULL CONSTRAINT staff_audit_object_length CHECK (length(object) <= 200),
    details       jsonb  NOT NULL DEFAULT '{}'
);
CREATE INDEX staff_audit_at_idx ON staff_audit (at);
CREATE INDEX staff_audit_staff_idx ON staff_audit (staff_id, at);
COMMENT ON TABLE staff_audit IS
    'Every staff action, append-only: who (staff_id, login as given — for a failed login the login typed), '
    'when, from where (address), what (action, object: a contract, payment, receipt, partner or staff login; '
    'details). Never a password or a secret.';

CREATE FUNCTION staff_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staff_audit is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER staff_audit_append_only
    BEFORE UPDATE OR DELETE ON staff_audit
    FOR EACH ROW EXECUTE FUNCTION staff_audit_append_only();
CREATE TRIGGER staff_audit_no_truncate
    BEFORE TRUNCATE ON staff_audit
    FOR EACH STATEMENT EXECUTE FUNCTION staff_audit_append_only();

-- A disabled staff member, or one whose password was reset, is signed out everywhere at once.
CREATE FUNCTION staff_revoke_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.active OR NEW.password_hash IS DISTINCT FROM OLD.password_hash OR NEW.role IS DISTINCT FROM OLD.role THEN
        UPDATE staff_sessions SET revoked_at = now() WHERE staff_id = NEW.id AND revoked_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER staff_revoke_sessions
    AFTER UPDATE ON staff
    FOR EACH ROW EXECUTE FUNCTION staff_revoke_sessions();

CREATE FUNCTION staff_audit_add(p_staff_id bigint, p_login text, p_role text, p_address inet, p_action text,
                                p_object text, p_details jsonb) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO staff_audit (staff_id, login, role, address, action, object, details)
    VALUES (p_staff_id, left(p_login, 100), p_role, p_address, p_action, left(p_object, 200), coalesce(p_details, '{}'))
    RETURNING id
$$;
COMMENT ON FUNCTION staff_audit_add(bigint, text, text, inet, text, text, jsonb) IS
    'Appends one action to staff_audit (the only way the service role writes it).';

-- The session of a cookie, if it is valid: touches last_seen_at (at most every 10 s, so a page''s
-- requests do not each write) and returns the staff member and the session's CSRF token.
CREATE FUNCTION staff_session_use(p_id text, p_idle_s int, p_absolute_s int)
RETURNS TABLE (staff_id bigint, login text, role text, csrf text, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    s staff_sessions;
    m staff;
BEGIN
    SELECT * INTO s FROM staff_sessions x WHERE x.id = p_id;
    IF NOT FOUND OR s.revoked_at IS NOT NULL OR s.last_seen_at < now() - p_idle_s * interval '1 second'
       OR s.created_at < now() - p_absolute_s * interval '1 second' THEN
        RETURN;
    END IF;
    SELECT * INTO m FROM staff x WHERE x.id = s.staff_id AND x.active;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF s.last_seen_at < now() - interval '10 seconds' THEN
        UPDATE staff_sessions x SET last_seen_at = now() WHERE x.id = p_id;
    END IF;
    RETURN QUERY SELECT m.id, m.login, m.role, s.csrf, s.created_at;
END;
$$;

SELECT gateway_definer(f.oid::regprocedure)
  FROM pg_proc f
 WHERE f.pronamespace = 'public'::regnamespace
   AND f.proname IN ('staff_audit_add', 'staff_revoke_sessions');

-- The grants of 009 with the console's tables: staff and staff_sessions hold no money or status of a
-- payment (`gatewayd staff` and the console's sign-in write them); staff_audit stays read-only.
CREATE OR REPLACE FUNCTION gateway_grant_service(p_role name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- Tables the service writes directly, and why: partners holds terminal networks' settings and
    -- hashed credentials; staff the console's people and their hashed passwords; staff_sessions who
    -- is signed in. No money, no status of a payment; `gatewayd partner|staff` and /admin edit them.
    v_direct text[] := ARRAY['partners', 'staff', 'staff_sessions'];
    t text;
    s text;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', p_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', p_role);
    FOREACH t IN ARRAY v_direct LOOP
        EXECUTE format('GRANT INSERT, UPDATE ON %I TO %I', t, p_role);
        s := pg_get_serial_sequence(t, 'id');
        IF s IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', s, p_role);
        END IF;
    END LOOP;
    -- Functions: the writers run as the owner (SECURITY DEFINER) and validate; every other function
    -- runs with the caller's rights, which write nothing. The grant-giving ones stay the owner's.
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', p_role);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION gateway_grant_service(name), gateway_definer(regprocedure) FROM %I',
                   p_role);
END;
$$;

-- ---------------------------------------------------------------------------
-- what the console reads (rows as text: the gateway turns them into JSON or CSV as asked)

-- A phone or an e-mail as support sees it: enough to recognise, not enough to copy.
CREATE FUNCTION console_mask_phone(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p IS NULL THEN NULL
                ELSE left(p, 2) || ' *** ***-' || substr(p, length(p) - 3, 2) || '-' || right(p, 2) END
$$;
CREATE FUNCTION console_mask_email(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p IS NULL THEN NULL
                WHEN position('@' IN p) < 2 THEN '***'
                ELSE left(p, 1) || '***' || substr(p, position('@' IN p)) END
$$;

-- One search box: a contract, a phone (any spelling with 10 or 11 digits), a payment number, a receipt
-- number (2026-000123), a payment id, a provider's or partner's transaction id; and filters. Newest
-- first, at most p_limit (1..1000).
CREATE FUNCTION console_search(p_q text, p_from date, p_to date, p_channel text, p_status text, p_limit int,
                               p_unmasked boolean, p_tz text)
RETURNS TABLE (payment_id uuid, number bigint, created_at text, paid_at text, contract text, phone text,
               amount text, amount_kopecks bigint, refunded text, channel text, method text, adapter text,
               partner text, provider_txn_id text, status text, receipt_number text, receipt_state text)
LANGUAGE sql STABLE AS $$
    WITH q AS (
        SELECT nullif(btrim(p_q), '') AS q,
               regexp_replace(coalesce(p_q, ''), '[^0-9]', '', 'g') AS digits
    ), phone AS (
        SELECT CASE WHEN length(digits) = 11 AND left(digits, 1) IN ('7', '8') THEN '+7' || right(digits, 10)
                    WHEN length(digits) = 10 THEN '+7' || digits END AS phone
          FROM q
    ), hits AS (
        SELECT p.id FROM payments p, q WHERE q.q IS NULL
        UNION SELECT p.id FROM payments p JOIN accounts a ON a.id = p.account_id, q WHERE a.contract = q.q
        UNION SELECT p.id FROM payments p JOIN accounts a ON a.id = p.account_id, phone
               WHERE phone.phone IS NOT NULL AND a.phone = phone.phone
        UNION SELECT p.id FROM payments p, q WHERE q.q ~ '^[0-9]{1,18}$' AND p.number = q.q::bigint
        UNION SELECT r.payment_id FROM receipts r, q WHERE r.number = q.q
        UNION SELECT p.id FROM payments p, q
               WHERE q.q ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' AND p.id = q.q::uuid
        UNION SELECT p.id FROM payments p, q WHERE p.provider_txn_id = q.q
    )
    SELECT p.id, p.number,
           to_char(p.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS'),
           to_char(p.paid_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS'),
           a.contract,
           CASE WHEN p_unmasked THEN a.phone ELSE console_mask_phone(a.phone) END,
           kopecks_text(p.amount), p.amount, kopecks_text(p.refunded_amount), p.channel, p.method, p.adapter,
           pa.name, p.provider_txn_id, p.status, r.number, r.state
      FROM hits h
      JOIN payments p ON p.id = h.id
      JOIN accounts a ON a.id = p.account_id
      LEFT JOIN partners pa ON pa.id = p.partner_id
      LEFT JOIN receipts r ON r.payment_id = p.id
     WHERE (p_from IS NULL OR p.created_at >= (p_from::timestamp AT TIME ZONE p_tz))
       AND (p_to IS NULL OR p.created_at < ((p_to + 1)::timestamp AT TIME ZONE p_tz))
       AND (p_channel IS NULL OR p.channel = p_channel)
       AND (p_status IS NULL OR p.status = p_status)
     ORDER BY p.created_at DESC, p.number DESC
     LIMIT greatest(1, least(coalesce(p_limit, 100), 1000))
$$;

-- A payment's page: the payment, its account (masked unless p_unmasked), its receipt, and every event
-- in order — created, provider answers and notifications, the booking, mail attempts, fiscal documents,
-- refunds. NULL when there is no such payment.
CREATE FUNCTION console_payment(p_id uuid, p_unmasked boolean, p_tz text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'payment', jsonb_build_object(
            'id', p.id, 'number', p.number, 'status', p.status, 'amount', kopecks_text(p.amount),
            'amount_kopecks', p.amount, 'refunded', kopecks_text(p.refunded_amount),
            'refundable', kopecks_text(p.amount - p.refunded_amount), 'channel', p.channel, 'method', p.method,
            'adapter', p.adapter, 'partner', pa.name, 'provider_txn_id', p.provider_txn_id,
            'failure_reason', p.failure_reason, 'flagged', p.flagged,
            'payer_email', CASE WHEN p_unmasked THEN p.payer_email ELSE console_mask_email(p.payer_email) END,
            'created_at', to_char(p.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS'),
            'paid_at', to_char(p.paid_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS')),
        'account', jsonb_build_object(
            'contract', a.contract, 'holder_name', a.holder_name, 'status', a.status,
            'balance', kopecks_text(a.balance),
            'phone', CASE WHEN p_unmasked THEN a.phone ELSE console_mask_phone(a.phone) END,
            'email', CASE WHEN p_unmasked THEN a.email ELSE console_mask_email(a.email) END),
        'receipt', (SELECT jsonb_build_object(
                        'number', r.number, 'state', r.state, 'attempts', r.attempts, 'last_error', r.last_error,
                        'sent_at', to_char(r.sent_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS'),
                        'email', CASE WHEN p_unmasked THEN r.email ELSE console_mask_email(r.email) END,
                        'url', '/v1/receipts/' || r.token)
                      FROM receipts r WHERE r.payment_id = p.id),
        'refunds', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'id', f.id, 'amount', kopecks_text(f.amount), 'status', f.status,
                        'failure_reason', f.failure_reason,
                        'created_at', to_char(f.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS')) ORDER BY f.created_at)
                      FROM refunds f WHERE f.payment_id = p.id), '[]'),
        'timeline', coalesce((SELECT jsonb_agg(t.item ORDER BY t.at, t.ord) FROM (
            SELECT e.created_at AS at, 1 AS ord,
                   jsonb_build_object('at', to_char(e.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS.MS'),
                                      'kind', 'status', 'what', coalesce(e.from_status || ' → ', '') || e.to_status,
                                      'source', e.source, 'note', e.note) AS item
              FROM payment_events e WHERE e.payment_id = p.id
            UNION ALL
            SELECT l.created_at, 2,
                   jsonb_build_object('at', to_char(l.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS.MS'),
                                      'kind', 'ledger', 'what', l.kind || ' ' || kopecks_text(l.amount),
                                      'source', 'ledger', 'note', 'balance after ' || kopecks_text(l.balance_after))
              FROM ledger l WHERE l.payment_id = p.id
            UNION ALL
            SELECT coalesce(r.sent_at, r.created_at), 3,
                   jsonb_build_object('at', to_char(coalesce(r.sent_at, r.created_at) AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS.MS'),
                                      'kind', 'mail', 'what', 'receipt ' || r.number || ' ' || r.state, 'source', 'mailer',
                                      'note', concat_ws('; ', 'attempts ' || r.attempts, r.last_error))
              FROM receipts r WHERE r.payment_id = p.id
            UNION ALL
            SELECT d.created_at, 4,
                   jsonb_build_object('at', to_char(d.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS.MS'),
                                      'kind', 'fiscal', 'what', d.kind || ' ' || d.state, 'source', 'cashbox',
                                      'note', coalesce('ФН ' || d.fn_number || ' ФД ' || d.fiscal_document_number
                                                       || ' ФП ' || d.fiscal_document_attribute, d.last_error))
              FROM fiscal_documents d WHERE d.payment_id = p.id
            UNION ALL
            SELECT f.created_at, 5,
                   jsonb_build_object('at', to_char(f.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS.MS'),
                                      'kind', 'refund', 'what', 'refund ' || kopecks_text(f.amount) || ' ' || f.status,
                                      'source', 'refunds', 'note', f.failure_reason)
              FROM refunds f WHERE f.payment_id = p.id) t), '[]'))
      FROM payments p
      JOIN accounts a ON a.id = p.account_id
      LEFT JOIN partners pa ON pa.id = p.partner_id
     WHERE p.id = p_id
$$;

-- The overview: today's and this month's totals per channel and method (succeeded payments, in the
-- operator's zone), payments left created or pending longer than p_pending_min minutes, receipts
-- failing (given up, or retried).
CREATE FUNCTION console_overview(p_tz text, p_pending_min int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT (date_trunc('day', now() AT TIME ZONE p_tz)) AT TIME ZONE p_tz AS day0,
               (date_trunc('month', now() AT TIME ZONE p_tz)) AT TIME ZONE p_tz AS month0
    )
    SELECT jsonb_build_object(
        'totals', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'period', t.period, 'channel', t.channel, 'method', t.method, 'payments', t.n,
                        'amount', kopecks_text(t.s), 'amount_kopecks', t.s) ORDER BY t.period DESC, t.channel, t.method)
                    FROM (SELECT 'today' AS period, p.channel, coalesce(p.method, '-') AS method, count(*) AS n,
                                 sum(p.amount)::bigint AS s
                            FROM payments p, bounds b
                           WHERE p.paid_at >= b.day0 AND p.status IN ('succeeded', 'refunded')
                           GROUP BY 2, 3
                          UNION ALL
                          SELECT 'month', p.channel, coalesce(p.method, '-'), count(*), sum(p.amount)::bigint
                            FROM payments p, bounds b
                           WHERE p.paid_at >= b.month0 AND p.status IN ('succeeded', 'refunded')
                           GROUP BY 2, 3) t), '[]'),
        'pending', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'payment_id', p.id, 'number', p.number, 'status', p.status, 'adapter', p.adapter,
                        'amount', kopecks_text(p.amount), 'minutes', (extract(epoch FROM now() - p.created_at) / 60)::int,
                        'created_at', to_char(p.created_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS')) ORDER BY p.created_at)
                    FROM (SELECT * FROM payments
                           WHERE status IN ('created', 'pending') AND created_at < now() - p_pending_min * interval '1 minute'
                           ORDER BY created_at LIMIT 100) p), '[]'),
        'receipts_failing', coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'number', r.number, 'payment_id', r.payment_id, 'state', r.state, 'attempts', r.attempts,
                        'last_error', r.last_error) ORDER BY r.created_at DESC)
                    FROM (SELECT * FROM receipts
                           WHERE state = 'failed' OR (state = 'pending' AND attempts > 0)
                           ORDER BY created_at DESC LIMIT 100) r), '[]'))
      FROM bounds
$$;

CREATE FUNCTION console_audit(p_from date, p_to date, p_login text, p_action text, p_limit int, p_tz text)
RETURNS TABLE (id bigint, at text, login text, role text, address text, action text, object text, details text)
LANGUAGE sql STABLE AS $$
    SELECT a.id, to_char(a.at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS'), a.login, a.role, host(a.address),
           a.action, a.object, a.details::text
      FROM staff_audit a
     WHERE (p_from IS NULL OR a.at >= (p_from::timestamp AT TIME ZONE p_tz))
       AND (p_to IS NULL OR a.at < ((p_to + 1)::timestamp AT TIME ZONE p_tz))
       AND (p_login IS NULL OR a.login = p_login)
       AND (p_action IS NULL OR a.action = p_action OR a.action LIKE p_action || '.%')
     ORDER BY a.id DESC
     LIMIT greatest(1, least(coalesce(p_limit, 200), 5000))
$$;
