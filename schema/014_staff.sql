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
