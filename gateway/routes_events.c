/* routes_events.c — the events for the operator's billing and the personal cabinet (internal API,
 * bearer token): the ordered feed (GET /v1/internal/events?after=<cursor>), the webhook endpoints with
 * their delivery state, the deliveries given up, and a replay from a cursor. The order and its
 * cursor are the database's (events_page, schema/013_events.sql): a cursor "<tick>-<event id>" never
 * skips an event committed late. */
#include "routes_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "db.h"
#include "jsonw.h"
#include "routes_common.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define TYPES_MAX 20

static struct db_stmt q_page = {
	"events_page", "SELECT tick, event_id, body FROM events_page($1::bigint, $2::bigint, $3::int, $4::text[])", 4, 0};

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
static struct db_stmt q_endpoints = {
	"webhook_endpoints",
	"SELECT coalesce(json_agg(json_build_object("
	" 'id', w.id, 'url', w.url, 'cursor', w.cursor_tick || '-' || w.cursor_id,"
	" 'delivering', coalesce(w.lease_until > now(), false), 'next_attempt_at', " TS("w.next_attempt_at") ","
	" 'attempts', w.attempts, 'failing_event_id', w.failing_event_id, 'failing_since', " TS("w.failing_since") ","
	" 'last_status', w.last_status, 'last_error', w.last_error, 'last_attempt_at', " TS("w.last_attempt_at") ","
	" 'last_delivered_at', " TS("w.last_delivered_at") ", 'delivered', w.delivered, 'given_up', w.given_up,"
	" 'lag_seconds', coalesce(extract(epoch FROM now() - e.created_at)::bigint, 0)"
	") ORDER BY w.id), '[]')::text"
	" FROM webhook_endpoints w"
	" LEFT JOIN LATERAL (SELECT x.event_id FROM events_page(w.cursor_tick, w.cursor_id, 1, NULL) x"
	"                     WHERE x.body IS NOT NULL) p ON true"
	" LEFT JOIN events e ON e.id = p.event_id",
	0, 0};

static struct db_stmt q_failures = {
	"webhook_failures",
	"SELECT coalesce(json_agg(json_build_object("
	" 'id', f.id, 'endpoint_id', f.endpoint_id, 'url', w.url, 'event_id', f.event_id, 'event_type', f.event_type,"
	" 'replay_cursor', f.cursor, 'attempts', f.attempts, 'failing_since', " TS("f.failing_since") ","
	" 'last_status', f.last_status, 'last_error', f.last_error, 'given_up_at', " TS("f.given_up_at") ""
	") ORDER BY f.id), '[]')::text"
	" FROM (SELECT * FROM webhook_failures WHERE id > $1::bigint AND ($2::bigint IS NULL OR endpoint_id = $2::bigint)"
	"        ORDER BY id LIMIT $3::int) f JOIN webhook_endpoints w ON w.id = f.endpoint_id",
	3, 0};

static struct db_stmt q_replay = {"webhook_replay", "SELECT webhook_replay($1::bigint, $2::bigint, $3::bigint)", 3, 0};
#undef TS

/* "<tick>-<event id>": two decimal numbers of at most 18 digits. */
static bool cursor_parse(const char *s, char tick[20], char id[20])
{
	size_t a = strspn(s, "0123456789");
	if (a == 0 || a > 18 || s[a] != '-')
		return false;
	size_t b = strspn(s + a + 1, "0123456789");
	if (b == 0 || b > 18 || s[a + 1 + b] != '\0')
		return false;
	memcpy(tick, s, a);
	tick[a] = '\0';
	memcpy(id, s + a + 1, b);
	id[b] = '\0';
	return true;
}

/* The feed's and the replay's errors of a cursor; false when res is not one of them. */
static bool cursor_error(struct req *r, const struct db_result *res)
{
	if (res->status != DB_ERROR)
		return false;
	if (strcmp(res->sqlstate, "GW410") == 0)
		http_reply_error(r, 410, "cursor_expired",
				 "the cursor is older than the events kept (GATEWAY_EVENTS_KEEP_DAYS); start again without one");
	else if (strcmp(res->sqlstate, "GW404") == 0)
		http_reply_error(r, 400, "unknown_cursor", "no position of the feed has this cursor");
	else
		return false;
	return true;
}

static bool bad_query(struct req *r, int rc)
{
	if (rc == 0)
		return false;
	http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
	return true;
}

/* limit=1..PAGE_MAX (default PAGE_DEFAULT); false when answered with 400. */
static bool limit_param(struct req *r, char out[8])
{
	const char *v;
	if (bad_query(r, req_query(r, "limit", &v)))
		return false;
	long n = PAGE_DEFAULT;
	if (v) {
		size_t len = strspn(v, "0123456789");
		n = len > 0 && len <= 4 && !v[len] ? strtol(v, NULL, 10) : 0;
		if (n < 1 || n > PAGE_MAX) {
			http_reply_error(r, 400, "invalid_limit", "limit: a whole number from 1 to %d", PAGE_MAX);
			return false;
		}
	}
	snprintf(out, 8, "%ld", n);
	return true;
}

/* ---- GET /v1/internal/events ------------------------------------------------------------------ */

static void on_page(const struct db_result *res, void *arg)
{
	struct req *r = arg;
	if (cursor_error(r, res))
		return;
	if (res->status != DB_OK) {
		reply_db_unavailable(r);
		return;
	}
	const PGresult *p = res->res;
	int n = PQntuples(p);
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_arr_begin(&w, "events");
	for (int i = 0; i < n; i++)
		if (!PQgetisnull(p, i, 2))
			jw_raw(&w, NULL, PQgetvalue(p, i, 2));
	jw_arr_end(&w);
	char next[48] = "";
	if (n > 0)
		snprintf(next, sizeof next, "%s-%s", PQgetvalue(p, n - 1, 0), PQgetvalue(p, n - 1, 1));
	jw_str(&w, "next_cursor", next);
	/* a page that ends with the position at the end of the feed has nothing more now */
	jw_bool(&w, "has_more", n > 0 && !PQgetisnull(p, n - 1, 2));
	jw_obj_end(&w);
	http_reply_jw(r, 200, &w);
}

void h_events(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *after, *types;
	char tick[20] = "", id[20] = "0", limit[8];
	if (bad_query(r, req_query(r, "after", &after)) || bad_query(r, req_query(r, "types", &types)) ||
	    !limit_param(r, limit))
		return;
	if (after && *after && !cursor_parse(after, tick, id)) {
		http_reply_error(r, 400, "invalid_cursor", "after: a cursor of this feed, like \"12-3456\" (next_cursor of a page)");
		return;
	}
	char arr[TYPES_MAX * 48 + 4];
	if (types) {
		/* types=payment.succeeded,account.charged -> {payment.succeeded,account.charged} */
		size_t n = strlen(types), commas = 0;
		bool ok = n > 0 && n < TYPES_MAX * 44 && strspn(types, "abcdefghijklmnopqrstuvwxyz_.,") == n;
		for (const char *t = types; ok && *t; t++)
			commas += *t == ',';
		for (const char *t = types; ok;) {
			size_t len = strcspn(t, ","), dot = strcspn(t, ".");
			ok = len > 2 && len <= 40 && dot > 0 && dot + 1 < len && !memchr(t + dot + 1, '.', len - dot - 1);
			if (!t[len])
				break;
			t += len + 1;
		}
		if (!ok || commas >= TYPES_MAX) {
			http_reply_error(r, 400, "invalid_types",
					 "types: up to %d event types, comma separated, like payment.succeeded,account.charged", TYPES_MAX);
			return;
		}
		snprintf(arr, sizeof arr, "{%s}", types);
	}
	const char *p[4] = {*tick ? tick : NULL, id, limit, types ? arr : NULL};
	db_exec(req_db(r), &q_page, p, 4, on_page, r);
}

/* ---- the webhooks ------------------------------------------------------------------------------ */

/* One row, one JSON text column: {key: that}. */
static void on_list(struct req *r, const struct db_result *res, const char *key)
{
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
		return;
	}
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_raw(&w, key, PQgetvalue(res->res, 0, 0));
	jw_obj_end(&w);
	http_reply_jw(r, 200, &w);
}

static void on_endpoints(const struct db_result *res, void *arg) { on_list(arg, res, "endpoints"); }
static void on_failures(const struct db_result *res, void *arg) { on_list(arg, res, "failures"); }

void h_webhooks(struct req *r)
{
	if (!require_admin(r))
		return;
	db_exec(req_db(r), &q_endpoints, NULL, 0, on_endpoints, r);
}

static bool id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 18 && strspn(s, "0123456789") == n;
}

void h_webhook_failures(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *endpoint, *after;
	char limit[8];
	if (bad_query(r, req_query(r, "endpoint_id", &endpoint)) || bad_query(r, req_query(r, "after_id", &after)) ||
	    !limit_param(r, limit))
		return;
	if ((endpoint && !id_ok(endpoint)) || (after && !id_ok(after))) {
		http_reply_error(r, 400, "invalid_id", "endpoint_id and after_id: whole numbers");
		return;
	}
	const char *p[3] = {after ? after : "0", endpoint, limit};
	db_exec(req_db(r), &q_failures, p, 3, on_failures, r);
}

struct replay {
	struct req *r;
	char cursor[48];
};

static void on_replay(const struct db_result *res, void *arg)
{
	struct replay *c = arg;
	struct req *r = c->r;
	if (cursor_error(r, res)) {
	} else if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
	} else if (strcmp(PQgetvalue(res->res, 0, 0), "t") != 0) {
		http_reply_error(r, 404, "endpoint_not_found", "no webhook endpoint has this id");
	} else {
		long long id = strtoll(req_param(r, 0), NULL, 10);
		http_reply_json(r, 200, json_pack("{s:I,s:s}", "endpoint_id", (json_int_t)id, "cursor", c->cursor));
	}
	free(c);
}

void h_webhook_replay(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *id = req_param(r, 0);
	if (!id_ok(id)) {
		http_reply_error(r, 404, "endpoint_not_found", "no webhook endpoint has this id");
		return;
	}
	json_t *body = req_json(r);
	if (!body)
		return;
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		if (strcmp(key, "after") != 0) {
			http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", key);
			json_decref(body);
			return;
		}
	}
	json_t *ja = json_object_get(body, "after");
	const char *after = json_string_value(ja);
	char tick[20], ev[20];
	struct replay *c = NULL;
	if (!after || strlen(after) != json_string_length(ja) || !cursor_parse(after, tick, ev)) {
		http_reply_error(r, 400, "invalid_cursor",
				 "after: the cursor to deliver from, like \"12-3456\" (a feed cursor or a failure's replay_cursor)");
	} else if (!(c = calloc(1, sizeof *c))) {
		http_reply_error(r, 503, "unavailable", "out of memory");
	} else {
		c->r = r;
		snprintf(c->cursor, sizeof c->cursor, "%s", after);
		const char *p[3] = {id, tick, ev};
		db_exec(req_db(r), &q_replay, p, 3, on_replay, c);
	}
	json_decref(body);
}
