-- 016_partner_refusals.sql — which partners' requests were refused, for the console's overview: per
-- partner, day (GATEWAY_PARTNER_TZ) and reason (credentials, network, signature, timestamp, protocol,
-- disabled, throttled) a count. The gateways count refusals of known partners in memory and add them
-- here every few seconds (gateway/refusals.c): a flood of refused requests costs one statement per
-- partner and reason per flush, not one per request. Refusals of unknown logins are not a partner's
-- and stay in the log and the metrics.

CREATE TABLE partner_refusals (
    partner_id bigint NOT NULL REFERENCES partners (id),
    day        date   NOT NULL,
    reason     text   NOT NULL CONSTRAINT partner_refusals_reason_format CHECK (reason ~ '^[a-z_]{1,32}$'),
    refused    bigint NOT NULL CONSTRAINT partner_refusals_refused_positive CHECK (refused > 0),
    last_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, day, reason)
);
COMMENT ON TABLE partner_refusals IS
    'Requests of known partners refused by authentication, per day (partner time zone) and reason; added to '
    'by partner_refusals_add() from each gateway''s in-memory counts.';

CREATE FUNCTION partner_refusals_add(p_partner_id bigint, p_reason text, p_refused bigint, p_tz text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO partner_refusals (partner_id, day, reason, refused)
    SELECT p_partner_id, (now() AT TIME ZONE p_tz)::date, p_reason, p_refused
     WHERE p_refused > 0 AND EXISTS (SELECT 1 FROM partners WHERE id = p_partner_id)
    ON CONFLICT (partner_id, day, reason)
    DO UPDATE SET refused = partner_refusals.refused + EXCLUDED.refused, last_at = now()
$$;

SELECT gateway_definer('partner_refusals_add(bigint, text, bigint, text)'::regprocedure);

-- The overview of 014 with the partners whose requests were refused today and yesterday.
ALTER FUNCTION console_overview(text, int) RENAME TO console_overview_014;
CREATE FUNCTION console_overview(p_tz text, p_pending_min int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT console_overview_014(p_tz, p_pending_min) || jsonb_build_object(
        'partners_refused', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'partner', p.name, 'day', r.day, 'reason', r.reason, 'refused', r.refused,
                'last_at', to_char(r.last_at AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI:SS')) ORDER BY r.day DESC, r.refused DESC)
            FROM partner_refusals r JOIN partners p ON p.id = r.partner_id
           WHERE r.day >= (now() AT TIME ZONE p_tz)::date - 1), '[]'))
$$;
