/* routes_admin.c — the operator's console (/admin): sign-in and sessions, the permission and CSRF
 * checks every console route passes through, the audit of what staff do, and the JSON routes the
 * pages use: find, a payment's page, resend, refund, overview, audit, partners (and their registries)
 * and staff.
 *
 * A session is a random token in the cookie gw_staff (HttpOnly, SameSite=Strict, Path=/admin,
 * Secure under TLS); the database keeps only its SHA-256 (staff_sessions), with the CSRF token that
 * every state-changing request of the session must echo in the header X-CSRF-Token (sign-out too).
 * The sign-in form carries its own CSRF token, bound to a short-lived cookie gw_login (double
 * submit). Every check is made here, on the server, whatever a page shows:
 * no session → 401 (a page: 303 to /admin/login), a role without the permission → 403, a POST
 * without the session's CSRF token → 403. Every action is written to staff_audit before it is
 * done; when the audit cannot be written the action is not done (503). */
#include "routes_admin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <openssl/crypto.h>

#include "config.h"
#include "crypto.h"
#include "csv.h"
#include "db.h"
#include "embedded.h"
#include "html.h"
#include "ident.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "offload.h"
#include "partners.h"
#include "ratelimit.h"
#include "reconcile.h"
#include "registries.h"
#include "routes_common.h"
#include "routes_receipts.h"
#include "routes_refunds.h"
#include "routes_web.h"
#include "staff.h"

#define SESSION_COOKIE "gw_staff"
#define LOGIN_COOKIE "gw_login"

static struct db_stmt q_session = {
	"admin_session", "SELECT staff_id, login, role, csrf FROM staff_session_use($1, $2::int, $3::int)", 3, 0};
static struct db_stmt q_audit = {"admin_audit",
				 "SELECT staff_audit_add(nullif($1, '0')::bigint, $2, $3, $4::inet, $5, $6, $7::jsonb)", 7, 0};
static struct db_stmt q_staff_by_login = {
	"admin_staff_by_login", "SELECT id, role, password_hash FROM staff WHERE login = $1 AND active", 1, 0};
static struct db_stmt q_session_new = {
	"admin_session_new",
	"WITH old AS (UPDATE staff_sessions SET revoked_at = now() WHERE id = $4 AND revoked_at IS NULL RETURNING 1)"
	" INSERT INTO staff_sessions (id, staff_id, csrf, address) VALUES ($1, $2::bigint, $3, $5::inet)",
	5, 0};
static struct db_stmt q_session_end = {
	"admin_session_end", "UPDATE staff_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", 1, 0};
static struct db_stmt q_search = {"admin_search",
				  "SELECT * FROM console_search($1, $2::date, $3::date, $4, $5, $6::int, $7::boolean, $8)", 8, 0};
static struct db_stmt q_payment = {"admin_payment", "SELECT console_payment($1::uuid, $2::boolean, $3)", 3, 0};
static struct db_stmt q_overview = {"admin_overview", "SELECT console_overview($1, $2::int)", 2, 0};
static struct db_stmt q_audit_read = {"admin_audit_read",
				      "SELECT * FROM console_audit($1::date, $2::date, $3, $4, $5::int, $6)", 6, 0};

/* ---- small helpers ---------------------------------------------------------------------------- */

/* The value of cookie `name` in the request (copied into out, at most outsz - 1 bytes); false when absent. */
static bool cookie(struct req *r, const char *name, char *out, size_t outsz)
{
	const char *h = req_header(r, "Cookie");
	size_t nl = strlen(name);
	while (h && *h) {
		while (*h == ' ' || *h == ';')
			h++;
		const char *end = strchr(h, ';');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		if (len > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl >= outsz)
				return false;
			memcpy(out, h + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		h = end;
	}
	return false;
}

static bool hex_token(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* Served over TLS here, or through a trusted proxy that says the client used https. */
static bool secure_request(struct req *r)
{
	if (req_config(r)->tls_cert)
		return true;
	const char *p = r->proxy[0] ? req_header(r, "X-Forwarded-Proto") : NULL;
	return p && strcasecmp(p, "https") == 0;
}

static void set_cookie(struct req *r, const char *name, const char *value, int max_age, const char *path)
{
	char c[256];
	snprintf(c, sizeof c, "%s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Strict%s", name, value, path, max_age,
		 secure_request(r) ? "; Secure" : "");
	http_header(r, "Set-Cookie", c);
}

static void redirect(struct req *r, const char *to)
{
	http_header(r, "Location", to);
	http_reply_raw(r, 303, "text/plain; charset=utf-8", "", 0);
}

/* ---- a console call: the session, the permission, the CSRF token ------------------------------ */

struct admin_call;
typedef void (*admin_fn)(struct admin_call *c);

struct admin_call {
	struct req *r;            /* NULL once answered (a refusal's audit line is written after the answer) */
	struct db_pool *db;
	admin_fn fn;
	unsigned need;
	bool page;                /* a page (sign-in redirect) rather than a JSON route (401) */
	long long staff_id;
	char login[STAFF_LOGIN_MAX + 40];
	char role[16];
	unsigned perms;
	char csrf[65];
	char sid[65];             /* SHA-256 of the session token */
	char addr[48];
	/* what the handler keeps between its steps */
	admin_fn next;
	union {
		struct refund_args refund;
		struct resend_args resend;
		struct {
			char password[STAFF_PASSWORD_MAX + 1];
			char hash[STAFF_HASH_BUFSZ];
			bool verified;
			char token[65];
			char old_sid[65];
		} in;
		struct {                          /* partners and staff */
			char name[64];
			char protocol[16];
			char login[64];
			char role[16];
			char cidrs[PARTNER_MAX_CIDRS * 56 + 3];
			int64_t min, max;
			bool fiscal;
			char op[16];
			int failed;               /* the secret could not be made */
			struct partner_secret sec;
			char password[21];
			char hash[STAFF_HASH_BUFSZ];
		} m;
	} u;
};

static void call_free(struct admin_call *c)
{
	OPENSSL_cleanse(c, sizeof *c);
	free(c);
}

static void audit_written(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (res->status != DB_OK)
		log_kv(LOG_ERROR, c->r ? "console: the audit log could not be written; the action is not done"
				       : "console: the audit line of a refusal could not be written",
		       "reason", res->message, "login", c->login, NULL);
	if (!c->r) {
		call_free(c);
	} else if (res->status != DB_OK) {
		reply_db_unavailable(c->r);
		call_free(c);
	} else {
		c->next(c);
	}
}

/* Writes an audit line of c's staff member (steals details), then calls next — or answers 503 when
 * it could not be written. With c->r NULL (already answered) it only writes, then frees c. */
static void audit_then(struct admin_call *c, const char *action, const char *object, json_t *details, admin_fn next)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", c->staff_id);
	char *d = details ? json_dumps(details, JSON_COMPACT) : NULL;
	json_decref(details);
	const char *p[7] = {id, c->login, c->role[0] ? c->role : NULL, c->addr[0] ? c->addr : NULL, action, object,
			    d ? d : "{}"};
	c->next = next;
	db_exec(c->db, &q_audit, p, 7, audit_written, c);
	free(d);
}

/* Answers a refusal (403) and records it. */
static void refuse(struct admin_call *c, const char *code, const char *message, const char *why)
{
	json_t *d = json_pack("{s:s, s:s, s:s}", "method", c->r->method, "route", c->r->route->pattern, "why", why);
	http_reply_error(c->r, 403, code, "%s", message);
	c->r = NULL;
	audit_then(c, "denied", NULL, d, NULL);
}

static void not_signed_in(struct admin_call *c)
{
	if (c->page)
		redirect(c->r, "/admin/login");
	else
		http_reply_error(c->r, 401, "not_signed_in", "sign in at /admin/login (the session is missing or has ended)");
	call_free(c);
}

static void on_session(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (res->status != DB_OK) {
		reply_db_unavailable(c->r);
		call_free(c);
		return;
	}
	if (PQntuples(res->res) != 1) {
		not_signed_in(c);
		return;
	}
	db_int64(res->res, 0, 0, &c->staff_id);
	snprintf(c->login, sizeof c->login, "%s", PQgetvalue(res->res, 0, 1));
	snprintf(c->role, sizeof c->role, "%s", PQgetvalue(res->res, 0, 2));
	snprintf(c->csrf, sizeof c->csrf, "%s", PQgetvalue(res->res, 0, 3));
	c->perms = staff_role_perms(c->role);
	if ((c->perms & c->need) != c->need) {
		refuse(c, "forbidden", "your role may not do this", "role");
		return;
	}
	if (strcmp(c->r->method, "GET") != 0 && strcmp(c->r->method, "HEAD") != 0) {
		const char *given = req_header(c->r, "X-CSRF-Token");
		if (!crypto_secret_equal(given, c->csrf)) {
			refuse(c, "csrf_failed", "the request does not carry this session's CSRF token; reload the page", "csrf");
			return;
		}
	}
	c->fn(c);
}

/* Every console route starts here: the session of the request's cookie, then the permission `need`,
 * then (unless GET) the CSRF token; fn runs only when all hold and owns c from then on. */
static void admin_begin_m(struct req *r, unsigned need, bool page, admin_fn fn, const char *name, const char *op)
{
	char token[80];
	if (!cookie(r, SESSION_COOKIE, token, sizeof token) || !hex_token(token, 64)) {
		if (page)
			redirect(r, "/admin/login");
		else
			http_reply_error(r, 401, "not_signed_in", "sign in at /admin/login (the session is missing or has ended)");
		return;
	}
	struct admin_call *c = calloc(1, sizeof *c);
	if (!c) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	c->r = r;
	c->db = req_db(r);
	c->fn = fn;
	c->need = need;
	c->page = page;
	if (name)
		snprintf(c->u.m.name, sizeof c->u.m.name, "%s", name);
	if (op)
		snprintf(c->u.m.op, sizeof c->u.m.op, "%s", op);
	snprintf(c->addr, sizeof c->addr, "%s", req_client_addr(r));
	crypto_sha256_hex(token, 64, c->sid);
	OPENSSL_cleanse(token, sizeof token);
	const struct config *cfg = req_config(r);
	char idle[16], abs_[16];
	snprintf(idle, sizeof idle, "%d", cfg->staff_idle_s);
	snprintf(abs_, sizeof abs_, "%d", cfg->staff_session_s);
	const char *p[3] = {c->sid, idle, abs_};
	db_exec(c->db, &q_session, p, 3, on_session, c);
}

static void admin_begin(struct req *r, unsigned need, bool page, admin_fn fn)
{
	admin_begin_m(r, need, page, fn, NULL, NULL);
}

/* Queues work on the offload pool for c's request; when the pool is full, answers 503 busy (what
 * is busy: `what`) and returns false — the caller then frees what it made, c included. */
static bool offload_or_busy(struct admin_call *c, void (*work)(void *), void (*done)(void *), void *arg,
			    const char *what)
{
	if (offload_run(req_offload(c->r), work, done, arg))
		return true;
	http_header(c->r, "Retry-After", "1");
	http_reply_error(c->r, 503, "busy", "%s at once; try again in a second", what);
	return false;
}

/* admin_begin with the partner or staff name and the operation of the path kept in c->u.m. */
static void admin_begin_with(struct req *r, unsigned need, admin_fn fn, const char *name, const char *op)
{
	admin_begin_m(r, need, false, fn, name, op);
}

/* ---- sign-in and sign-out -------------------------------------------------------------------- */

static struct fail_limiter staff_fails;
static pthread_once_t fails_once = PTHREAD_ONCE_INIT;
static int fails_rate = 5;
/* What an unknown login's password is checked against: the same work, the same answer. */
static char dummy_hash[STAFF_HASH_BUFSZ];

static void fails_init(void)
{
	fail_limiter_init(&staff_fails, fails_rate);
	char pw[21];
	if (staff_password_new(pw) != 0 || staff_password_hash(pw, dummy_hash) != 0)
		dummy_hash[0] = '\0';
	OPENSSL_cleanse(pw, sizeof pw);
}

static const struct embedded_file *asset(const char *name)
{
	for (size_t i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].name, name) == 0)
			return &web_assets[i];
	return NULL;
}

/* The sign-in page with a fresh CSRF token (bound to the gw_login cookie) and an error line. */
static void login_page(struct req *r, int status, const char *error)
{
	const struct embedded_file *f = asset("admin_login.html");
	char csrf[33];
	if (!f || crypto_random_hex(csrf, 16) != 0) {
		http_reply_error(r, 503, "unavailable", "the sign-in page cannot be shown now");
		return;
	}
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	const char *p = f->data, *end = f->data + f->len;
	while (p < end) {
		const char *mark = strstr(p, "{{");
		if (!mark || mark >= end) {
			fwrite(p, 1, (size_t)(end - p), m);
			break;
		}
		fwrite(p, 1, (size_t)(mark - p), m);
		if (strncmp(mark, "{{csrf}}", 8) == 0) {
			fputs(csrf, m);
			p = mark + 8;
		} else if (strncmp(mark, "{{error}}", 9) == 0) {
			if (error)
				html_escape(m, error);
			p = mark + 9;
		} else {
			fputs("{{", m);
			p = mark + 2;
		}
	}
	if (fclose(m) != 0 || !out) {
		free(out);
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	set_cookie(r, LOGIN_COOKIE, csrf, 3600, "/admin/login");
	web_page_headers(r);
	http_reply_raw(r, status, "text/html; charset=utf-8", out, len);
	free(out);
}

void h_admin_login_page(struct req *r)
{
	login_page(r, 200, NULL);
}

static void login_failed_page(struct admin_call *c)
{
	login_page(c->r, 401, "Неверный логин или пароль.");
	call_free(c);
}

static void signed_in(struct admin_call *c)
{
	set_cookie(c->r, SESSION_COOKIE, c->u.in.token, req_config(c->r)->staff_session_s, "/admin");
	set_cookie(c->r, LOGIN_COOKIE, "", 0, "/admin/login");
	redirect(c->r, "/admin");
	call_free(c);
}

static void on_session_made(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (res->status != DB_OK) {
		reply_db_unavailable(c->r);
		call_free(c);
		return;
	}
	audit_then(c, "login", NULL, json_pack("{s:s}", "role", c->role), signed_in);
}

static void check_work(void *arg)
{
	struct admin_call *c = arg;
	c->u.in.verified = staff_password_verify(c->u.in.password, c->u.in.hash) && c->staff_id > 0;
	OPENSSL_cleanse(c->u.in.password, sizeof c->u.in.password);
	metrics_add(M_STAFF_PASSWORD_CHECKS, 1);
}

static void check_done(void *arg)
{
	struct admin_call *c = arg;
	if (!c->u.in.verified) {
		fail_limiter_count(&staff_fails, c->login, c->addr);
		audit_then(c, "login.failed", NULL, NULL, login_failed_page);
		return;
	}
	char sid[65];
	if (crypto_random_hex(c->u.in.token, 32) != 0 || crypto_random_hex(c->csrf, 16) != 0 ||
	    crypto_sha256_hex(c->u.in.token, 64, sid) != 0) {
		http_reply_error(c->r, 503, "unavailable", "no randomness for a session; try again");
		call_free(c);
		return;
	}
	char id[24];
	snprintf(id, sizeof id, "%lld", c->staff_id);
	const char *p[5] = {sid, id, c->csrf, c->u.in.old_sid[0] ? c->u.in.old_sid : NULL, c->addr[0] ? c->addr : NULL};
	db_exec(c->db, &q_session_new, p, 5, on_session_made, c);
}

static void on_staff(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (res->status != DB_OK) {
		reply_db_unavailable(c->r);
		call_free(c);
		return;
	}
	const char *hash = dummy_hash;
	if (PQntuples(res->res) == 1) {
		db_int64(res->res, 0, 0, &c->staff_id);
		snprintf(c->role, sizeof c->role, "%s", PQgetvalue(res->res, 0, 1));
		hash = PQgetvalue(res->res, 0, 2);
	}
	snprintf(c->u.in.hash, sizeof c->u.in.hash, "%s", hash);
	if (!offload_or_busy(c, check_work, check_done, c, "too many sign-ins"))
		call_free(c);
}

/* POST /admin/login: the form's login, password and csrf (form-urlencoded). */
void h_admin_login(struct req *r)
{
	fails_rate = req_config(r)->staff_fail_rate;
	pthread_once(&fails_once, fails_init);
	size_t len = 0;
	const char *body = req_body(r, &len);
	if (!body)
		body = "";
	char form[2048];
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	if (len >= sizeof form || memchr(body, '\0', len)) {
		http_reply_error(r, 400, "invalid_form", "the sign-in form is too long or malformed");
		return;
	}
	memcpy(form, body, len);
	form[len] = '\0';
	if (http_parse_form(form, &q) != 0) {
		evhttp_clear_headers(&q);
		OPENSSL_cleanse(form, sizeof form);
		http_reply_error(r, 400, "invalid_form", "the sign-in form is malformed");
		return;
	}
	OPENSSL_cleanse(form, sizeof form);
	const char *login = evhttp_find_header(&q, "login"), *password = evhttp_find_header(&q, "password");
	const char *csrf = evhttp_find_header(&q, "csrf");
	char bound[80];
	struct admin_call *c = NULL;
	if (!cookie(r, LOGIN_COOKIE, bound, sizeof bound) || !crypto_secret_equal(csrf, bound)) {
		login_page(r, 403, "Форма устарела: войдите ещё раз.");
		goto out;
	}
	if (!login || !password || !*login || !*password || strlen(login) > STAFF_LOGIN_MAX ||
	    strlen(password) > STAFF_PASSWORD_MAX) {
		login_page(r, 401, "Введите логин и пароль.");
		goto out;
	}
	const char *addr = req_client_addr(r);
	enum fail_verdict v = fail_limiter_check(&staff_fails, login, addr);
	if (v != FAIL_ALLOWED) {
		metrics_add(M_RATE_LIMITED_STAFF, 1);
		http_header(r, "Retry-After", "60");
		login_page(r, 429, v == FAIL_LOGIN_THROTTLED ? "Слишком много неудачных попыток для этого логина: подождите минуту."
							      : "Слишком много неудачных попыток с вашего адреса: подождите минуту.");
		goto out;
	}
	if (!(c = calloc(1, sizeof *c))) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		goto out;
	}
	c->r = r;
	c->db = req_db(r);
	snprintf(c->login, sizeof c->login, "%s", login);
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	snprintf(c->u.in.password, sizeof c->u.in.password, "%s", password);
	char old[80];
	if (cookie(r, SESSION_COOKIE, old, sizeof old) && hex_token(old, 64))
		crypto_sha256_hex(old, 64, c->u.in.old_sid);           /* signed in again: the old session ends */
	OPENSSL_cleanse(old, sizeof old);
	const char *p[1] = {c->login};
	db_exec(c->db, &q_staff_by_login, p, 1, on_staff, c);
out:
	/* the parsed form holds the password: wipe it before it is freed */
	for (struct evkeyval *kv = TAILQ_FIRST(&q); kv; kv = TAILQ_NEXT(kv, next))
		if (kv->value)
			OPENSSL_cleanse(kv->value, strlen(kv->value));
	evhttp_clear_headers(&q);
}

static void signed_out(struct admin_call *c)
{
	set_cookie(c->r, SESSION_COOKIE, "", 0, "/admin");
	redirect(c->r, "/admin/login");
	call_free(c);
}

static void on_session_ended(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (res->status != DB_OK) {
		reply_db_unavailable(c->r);
		call_free(c);
		return;
	}
	audit_then(c, "logout", NULL, NULL, signed_out);
}

static void logout(struct admin_call *c)
{
	const char *p[1] = {c->sid};
	db_exec(c->db, &q_session_end, p, 1, on_session_ended, c);
}

/* POST /admin/logout (X-CSRF-Token, as every POST of the console). */
void h_admin_logout(struct req *r)
{
	admin_begin(r, 0, false, logout);
}

/* ---- the pages -------------------------------------------------------------------------------- */

static void app_page(struct admin_call *c)
{
	web_send_asset(c->r, "admin.html");
	call_free(c);
}

/* GET /admin: the console (signed in) or the way to sign in. */
void h_admin_app(struct req *r)
{
	admin_begin(r, 0, true, app_page);
}

/* GET /admin/assets/{file}: the console's scripts and styles (nothing secret: no session needed). */
void h_admin_asset(struct req *r)
{
	const char *name = req_param(r, 0);
	const char *ext = name ? strrchr(name, '.') : NULL;
	if (!name || strncmp(name, "admin", 5) != 0 || !ext || (strcmp(ext, ".js") != 0 && strcmp(ext, ".css") != 0)) {
		http_reply_error(r, 404, "not_found", "there is nothing at this address");
		return;
	}
	web_send_asset(r, name);
}

/* ---- rows as JSON or CSV ---------------------------------------------------------------------- */

#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

/* Answers a result's rows: {"rows": [{column: value}]} (integers as numbers, booleans as booleans,
 * the rest as strings, NULL as null), or with format=csv a CSV file named name.csv (UTF-8, header
 * line, RFC 4180). */
static void reply_rows(struct req *r, const PGresult *res, const char *name, bool csv)
{
	int n = PQntuples(res), nf = PQnfields(res);
	if (csv) {
		char *out = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&out, &len);
		if (!m) {
			http_reply_error(r, 503, "unavailable", "out of memory");
			return;
		}
		for (int j = 0; j < nf; j++) {
			if (j)
				fputc(',', m);
			csv_write_field(m, PQfname(res, j), ',');
		}
		fputs("\r\n", m);
		for (int i = 0; i < n; i++) {
			for (int j = 0; j < nf; j++) {
				if (j)
					fputc(',', m);
				csv_write_field(m, PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j), ',');
			}
			fputs("\r\n", m);
		}
		if (fclose(m) != 0 || !out) {
			free(out);
			http_reply_error(r, 503, "unavailable", "out of memory");
			return;
		}
		char cd[120];
		snprintf(cd, sizeof cd, "attachment; filename=\"%s.csv\"", name);
		http_header(r, "Content-Disposition", cd);
		http_reply_raw(r, 200, "text/csv; charset=utf-8", out, len);
		free(out);
		return;
	}
	json_t *rows = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		for (int j = 0; j < nf; j++) {
			json_t *v;
			const char *s = PQgetvalue(res, i, j);
			Oid t = PQftype(res, j);
			if (PQgetisnull(res, i, j))
				v = json_null();
			else if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2)
				v = json_integer(strtoll(s, NULL, 10));
			else if (t == OID_BOOL)
				v = json_boolean(s[0] == 't');
			else
				v = json_string(s);
			json_object_set_new(o, PQfname(res, j), v ? v : json_null());
		}
		json_array_append_new(rows, o);
	}
	http_reply_json(r, 200, json_pack("{s:o}", "rows", rows));
}

/* format=csv or format=json (the default); false when answered 400. */
static bool want_csv(struct req *r, bool *csv)
{
	const char *f = NULL;
	if (req_query(r, "format", &f) != 0 || (f && strcmp(f, "csv") != 0 && strcmp(f, "json") != 0)) {
		http_reply_error(r, 400, "invalid_format", "format is csv or json");
		return false;
	}
	*csv = f && strcmp(f, "csv") == 0;
	return true;
}

/* A query parameter that is a date YYYY-MM-DD (or absent); false when answered 400. */
static bool date_param(struct req *r, const char *name, const char **out)
{
	if (req_query(r, name, out) != 0 || (*out && !registry_date_valid(*out))) {
		http_reply_error(r, 400, "invalid_date", "%s must be a date like 2026-12-31", name);
		return false;
	}
	return true;
}

static bool limit_param(struct req *r, int max, char out[8])
{
	const char *l = NULL;
	if (req_query(r, "limit", &l) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return false;
	}
	long v = 100;
	if (l) {
		char *end;
		v = strtol(l, &end, 10);
		if (!*l || *end || v < 1 || v > max) {
			http_reply_error(r, 400, "invalid_limit", "limit must be 1 to %d", max);
			return false;
		}
	}
	snprintf(out, 8, "%ld", v);
	return true;
}

/* ---- me --------------------------------------------------------------------------------------- */

static void me(struct admin_call *c)
{
	static const struct {
		unsigned perm;
		const char *name;
	} names[] = {{PERM_VIEW, "view"},	{PERM_RESEND, "resend"},     {PERM_REFUND, "refund"},
		     {PERM_REGISTRY, "registry"}, {PERM_UNMASKED, "unmasked"}, {PERM_PARTNERS, "partners"},
		     {PERM_STAFF, "staff"},	{PERM_AUDIT, "audit"}};
	json_t *perms = json_array();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (c->perms & names[i].perm)
			json_array_append_new(perms, json_string(names[i].name));
	const struct config *cfg = req_config(c->r);
	http_reply_json(c->r, 200,
			json_pack("{s:s, s:s, s:o, s:s, s:i, s:i}", "login", c->login, "role", c->role, "permissions", perms,
				  "csrf", c->csrf, "idle_timeout_s", cfg->staff_idle_s, "session_timeout_s", cfg->staff_session_s));
	call_free(c);
}

void h_admin_me(struct req *r)
{
	admin_begin(r, 0, false, me);
}

/* ---- find ------------------------------------------------------------------------------------- */


struct rows_call {
	struct req *r;
	char name[40];
	bool csv;
};

static void on_rows(const struct db_result *res, void *arg)
{
	struct rows_call *rc = arg;
	if (res->status != DB_OK) {
		if (res->status == DB_ERROR && res->sqlstate && strncmp(res->sqlstate, "22", 2) == 0)
			http_reply_error(rc->r, 400, "invalid_query", "a parameter is not valid here");
		else
			reply_db_unavailable(rc->r);
	} else {
		reply_rows(rc->r, res->res, rc->name, rc->csv);
	}
	free(rc);
}

/* Runs stmt and answers its rows (JSON or CSV); c is done with. */
static void query_rows(struct admin_call *c, struct db_stmt *stmt, const char *const *p, int n, const char *name,
		       bool csv)
{
	struct rows_call *rc = calloc(1, sizeof *rc);
	if (!rc) {
		http_reply_error(c->r, 503, "unavailable", "out of memory");
		call_free(c);
		return;
	}
	rc->r = c->r;
	rc->csv = csv;
	snprintf(rc->name, sizeof rc->name, "%s", name);
	db_exec(c->db, stmt, p, n, on_rows, rc);
	call_free(c);
}

static const char *const channels[] = {"web", "terminal", "partner", "api", NULL};
static const char *const statuses[] = {"created", "pending", "succeeded", "failed", "canceled", "refunded", NULL};

static bool one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static void search_run(struct admin_call *c)
{
	struct req *r = c->r;
	const char *q = NULL, *from = NULL, *to = NULL, *channel = NULL, *status = NULL;
	char limit[8];
	bool csv = false;
	req_query(r, "q", &q);
	date_param(r, "from", &from);
	date_param(r, "to", &to);
	req_query(r, "channel", &channel);
	req_query(r, "status", &status);
	limit_param(r, 1000, limit);
	want_csv(r, &csv);
	const char *p[8] = {q && *q ? q : NULL, from, to, channel && *channel ? channel : NULL,
			    status && *status ? status : NULL, limit, (c->perms & PERM_UNMASKED) ? "true" : "false",
			    req_config(r)->receipt_tz};
	query_rows(c, &q_search, p, 8, "payments", csv);
}

static void search(struct admin_call *c)
{
	json_t *d = json_object();
	static const char *const keys[] = {"q", "from", "to", "channel", "status"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = NULL;
		if (req_query(c->r, keys[i], &v) == 0 && v && *v)
			json_object_set_new(d, keys[i], json_string(v));
	}
	audit_then(c, "search", NULL, d, search_run);
}

/* GET /admin/api/payments?q=&from=&to=&channel=&status=&limit=&format= */
void h_admin_search(struct req *r)
{
	const char *q = NULL, *from, *to, *channel = NULL, *status = NULL;
	char limit[8];
	bool csv;
	if (req_query(r, "q", &q) != 0 || req_query(r, "channel", &channel) != 0 || req_query(r, "status", &status) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (q && (strlen(q) > 100 || !ident_utf8_valid(q, strlen(q)))) {
		http_reply_error(r, 400, "invalid_q", "search for at most 100 characters of text");
		return;
	}
	if (channel && *channel && !one_of(channel, channels)) {
		http_reply_error(r, 400, "invalid_channel", "channel is web, terminal, partner or api");
		return;
	}
	if (status && *status && !one_of(status, statuses)) {
		http_reply_error(r, 400, "invalid_status", "status is created, pending, succeeded, failed, canceled or refunded");
		return;
	}
	if (!date_param(r, "from", &from) || !date_param(r, "to", &to) || !limit_param(r, 1000, limit) || !want_csv(r, &csv))
		return;
	admin_begin(r, PERM_VIEW, false, search);
}

/* ---- a payment's page --------------------------------------------------------------------------- */

static void on_payment(const struct db_result *res, void *arg)
{
	struct req *r = arg;
	if (res->status != DB_OK)
		reply_db_unavailable(r);
	else if (PQntuples(res->res) != 1 || PQgetisnull(res->res, 0, 0))
		http_reply_error(r, 404, "payment_not_found", "no payment with this id");
	else
		http_reply_raw(r, 200, "application/json", PQgetvalue(res->res, 0, 0), (size_t)PQgetlength(res->res, 0, 0));
}

static void payment_run(struct admin_call *c)
{
	const char *p[3] = {req_param(c->r, 0), (c->perms & PERM_UNMASKED) ? "true" : "false", req_config(c->r)->receipt_tz};
	db_exec(c->db, &q_payment, p, 3, on_payment, c->r);
	call_free(c);
}

static void payment(struct admin_call *c)
{
	/* a view of a subscriber's data: recorded with the payment it was */
	audit_then(c, "view.payment", req_param(c->r, 0), NULL, payment_run);
}

/* GET /admin/api/payments/{id} */
void h_admin_payment(struct req *r)
{
	const char *id = req_param(r, 0);
	if (!id || !ident_uuid_valid(id)) {
		http_reply_error(r, 404, "payment_not_found", "no payment with this id");
		return;
	}
	admin_begin(r, PERM_VIEW, false, payment);
}

/* ---- resend a receipt --------------------------------------------------------------------------- */

static void on_resent(enum receipt_status st, const struct receipt *rc, void *arg)
{
	receipt_resend_reply(arg, st, rc);
}

static void resend_run(struct admin_call *c)
{
	receipts_resend(c->db, req_config(c->r)->receipt_tz, c->u.resend.number,
			c->u.resend.email[0] ? c->u.resend.email : NULL, on_resent, c->r);
	call_free(c);
}

static void resend(struct admin_call *c)
{
	if (!receipt_resend_args(c->r, &c->u.resend)) {
		call_free(c);
		return;
	}
	json_t *d = json_object();
	if (c->u.resend.email[0])
		json_object_set_new(d, "email", json_string(c->u.resend.email));
	audit_then(c, "receipt.resend", c->u.resend.number, d, resend_run);
}

/* POST /admin/api/receipts/{number}/resend {"email"?} */
void h_admin_resend(struct req *r)
{
	admin_begin(r, PERM_RESEND, false, resend);
}

/* ---- refund ------------------------------------------------------------------------------------ */

static void on_refunded(const struct payment_answer *a, void *arg)
{
	reply_payment_answer(arg, a);
}

static void refund_run(struct admin_call *c)
{
	refund_start(c->r, &c->u.refund, on_refunded, c->r);
	call_free(c);
}

static void refund(struct admin_call *c)
{
	if (!refund_args(c->r, &c->u.refund, true)) {
		call_free(c);
		return;
	}
	json_t *d = json_pack("{s:s, s:s}", "reason", c->u.refund.reason, "idempotency_key", c->u.refund.in.key);
	if (c->u.refund.in.amount > 0)
		json_object_set_new(d, "amount_kopecks", json_integer(c->u.refund.in.amount));
	else
		json_object_set_new(d, "amount", json_string("the rest"));
	audit_then(c, "refund", c->u.refund.in.payment_id, d, refund_run);
}

/* POST /admin/api/payments/{id}/refunds {"amount"?, "reason"} with Idempotency-Key */
void h_admin_refund(struct req *r)
{
	admin_begin(r, PERM_REFUND, false, refund);
}

/* ---- overview, audit ---------------------------------------------------------------------------- */

static void overview(struct admin_call *c)
{
	const char *p[2] = {req_config(c->r)->receipt_tz, "30"};
	db_exec(c->db, &q_overview, p, 2, on_payment, c->r);
	call_free(c);
}

/* GET /admin/api/overview */
void h_admin_overview(struct req *r)
{
	admin_begin(r, PERM_VIEW, false, overview);
}

static void audit_read(struct admin_call *c)
{
	struct req *r = c->r;
	const char *from = NULL, *to = NULL, *login = NULL, *action = NULL;
	char limit[8];
	bool csv = false;
	date_param(r, "from", &from);
	date_param(r, "to", &to);
	req_query(r, "login", &login);
	req_query(r, "action", &action);
	limit_param(r, 5000, limit);
	want_csv(r, &csv);
	const char *p[6] = {from, to, login && *login ? login : NULL, action && *action ? action : NULL, limit,
			    req_config(r)->receipt_tz};
	query_rows(c, &q_audit_read, p, 6, "audit", csv);
}

/* GET /admin/api/audit?from=&to=&login=&action=&limit=&format= */
void h_admin_audit(struct req *r)
{
	const char *from, *to, *login = NULL, *action = NULL;
	char limit[8];
	bool csv;
	if (req_query(r, "login", &login) != 0 || req_query(r, "action", &action) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if ((login && strlen(login) > 100) || (action && (strlen(action) > 40 || strspn(action, "abcdefghijklmnopqrstuvwxyz_.") != strlen(action)))) {
		http_reply_error(r, 400, "invalid_filter", "login: at most 100 characters; action: letters, '_' and '.'");
		return;
	}
	if (!date_param(r, "from", &from) || !date_param(r, "to", &to) || !limit_param(r, 5000, limit) || !want_csv(r, &csv))
		return;
	admin_begin(r, PERM_AUDIT, false, audit_read);
}

/* ---- partners ------------------------------------------------------------------------------------ */

static struct db_stmt q_partners = {
	"admin_partners",
	"SELECT name, protocol, login, CASE WHEN active THEN 'active' ELSE 'disabled' END AS state,"
	"       kopecks_text(min_amount) AS min, kopecks_text(max_amount) AS max, array_to_string(cidrs, ' ') AS networks,"
	"       fiscal, to_char(created_at, 'YYYY-MM-DD') AS created"
	"  FROM partners ORDER BY name",
	0, 0};
static struct db_stmt q_partner_insert = {"admin_partner_insert", partner_insert_sql, 9, 0};
static struct db_stmt q_partner_get = {"admin_partner_get",
				       "SELECT id, protocol, login FROM partners WHERE name = $1", 1, 0};
static struct db_stmt q_partner_active = {
	"admin_partner_active", "UPDATE partners SET active = $2::boolean WHERE name = $1 RETURNING login", 2, 0};
static struct db_stmt q_partner_secret = {
	"admin_partner_secret", "UPDATE partners SET password_hash = $2, hmac_secret = $3 WHERE name = $1 RETURNING login",
	3, 0};

static void partners_list(struct admin_call *c)
{
	bool csv = false;
	want_csv(c->r, &csv);
	query_rows(c, &q_partners, NULL, 0, "partners", csv);
}

/* GET /admin/api/partners (finance, admin) */
void h_admin_partners(struct req *r)
{
	bool csv;
	if (!want_csv(r, &csv))
		return;
	admin_begin(r, PERM_REGISTRY, false, partners_list);
}

/* The answer that shows new credentials, once. */
static void reply_secret(struct admin_call *c, int status)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "name", c->u.m.name, "protocol", c->u.m.protocol, "login", c->u.m.login);
	if (c->u.m.sec.hmac)
		json_object_set_new(j, "hmac_secret", json_string(c->u.m.sec.secret));
	else
		json_object_set_new(j, "password", json_string(c->u.m.sec.password));
	http_reply_json(c->r, status, j);
	call_free(c);
}

static void secret_work(void *arg)
{
	struct admin_call *c = arg;
	c->u.m.failed = partner_secret_make(c->u.m.protocol, &c->u.m.sec) != 0;
}

static bool db_failed(struct admin_call *c, const struct db_result *res, const char *conflict)
{
	if (res->status == DB_OK)
		return false;
	if (conflict && res->status == DB_ERROR && res->sqlstate && strcmp(res->sqlstate, "23505") == 0)
		http_reply_error(c->r, 409, "already_exists", "%s", conflict);
	else if (res->status == DB_ERROR && res->sqlstate && strncmp(res->sqlstate, "22", 2) == 0)
		http_reply_error(c->r, 400, "invalid_value", "a value is not valid here");
	else
		reply_db_unavailable(c->r);
	call_free(c);
	return true;
}

static void on_partner_added(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (db_failed(c, res, "a partner with this name or login exists"))
		return;
	if (PQntuples(res->res) == 0 && strcmp(c->u.m.op, "add") != 0) {
		http_reply_error(c->r, 404, "partner_not_found", "no partner with this name");
		call_free(c);
		return;
	}
	reply_secret(c, strcmp(c->u.m.op, "add") == 0 ? 201 : 200);
}

static void partner_secret_done(void *arg)
{
	struct admin_call *c = arg;
	if (c->u.m.failed) {
		http_reply_error(c->r, 503, "unavailable", "no randomness for the credentials; try again");
		call_free(c);
		return;
	}
	char smin[24], smax[24];
	snprintf(smin, sizeof smin, "%lld", (long long)c->u.m.min);
	snprintf(smax, sizeof smax, "%lld", (long long)c->u.m.max);
	const struct partner_secret *k = &c->u.m.sec;
	if (strcmp(c->u.m.op, "add") == 0) {
		const char *p[9] = {c->u.m.name, c->u.m.protocol, c->u.m.login, k->hmac ? NULL : k->hash,
				    k->hmac ? k->secret : NULL, c->u.m.cidrs, smin, smax, c->u.m.fiscal ? "true" : "false"};
		db_exec(c->db, &q_partner_insert, p, 9, on_partner_added, c);
	} else {
		const char *p[3] = {c->u.m.name, k->hmac ? NULL : k->hash, k->hmac ? k->secret : NULL};
		db_exec(c->db, &q_partner_secret, p, 3, on_partner_added, c);
	}
}

static void make_secret(struct admin_call *c)
{
	if (!offload_or_busy(c, secret_work, partner_secret_done, c, "too much hashing"))
		call_free(c);
}

static void partner_add(struct admin_call *c)
{
	json_t *body = req_json(c->r);
	if (!body) {
		call_free(c);
		return;
	}
	const char *err = NULL, *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "name") && strcmp(k, "protocol") && strcmp(k, "login") && strcmp(k, "networks") &&
		    strcmp(k, "min") && strcmp(k, "max") && strcmp(k, "fiscal")) {
			http_reply_error(c->r, 400, "unknown_field", "unknown field \"%.40s\"", k);
			goto out;
		}
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *protocol = json_string_value(json_object_get(body, "protocol"));
	const char *login = json_string_value(json_object_get(body, "login"));
	json_t *nets = json_object_get(body, "networks"), *fiscal = json_object_get(body, "fiscal");
	c->u.m.min = 100;
	c->u.m.max = 1500000;
	if (!partner_name_valid(name))
		err = "name: 2 to 63 characters of a-z, 0-9, '-', '_', starting with a letter or digit";
	else if (!partner_protocol_valid(protocol))
		err = "protocol: osmp, sber-online or json";
	else if (login && !partner_login_valid(login))
		err = "login: 1 to 63 characters of letters, digits, '.', '_', '-'";
	else if (nets && (!json_is_array(nets) || json_array_size(nets) > PARTNER_MAX_CIDRS))
		err = "networks: a list of at most 32 networks like 203.0.113.0/24";
	else if (fiscal && !json_is_boolean(fiscal))
		err = "fiscal: true or false";
	for (int i = 0; !err && i < 2; i++) {
		json_t *m = json_object_get(body, i ? "max" : "min");
		const char *s = json_string_value(m);
		if (m && (!s || money_parse(s, i ? &c->u.m.max : &c->u.m.min) != MONEY_OK))
			err = "min/max: amounts in roubles like 1.00 or 15000.00";
	}
	if (!err && (c->u.m.min < 1 || c->u.m.max < c->u.m.min))
		err = "min must be at least 0.01 and not above max";
	if (err) {
		http_reply_error(c->r, 400, "invalid_partner", "%s", err);
		goto out;
	}
	size_t idx;
	size_t n = (size_t)snprintf(c->u.m.cidrs, sizeof c->u.m.cidrs, "{");
	json_array_foreach(nets, idx, v) {
		struct partner_net pn;
		char e[128], text[64];
		if (!json_is_string(v) || partner_net_parse(json_string_value(v), &pn, e) != 0) {
			http_reply_error(c->r, 400, "invalid_partner", "networks: %s", json_is_string(v) ? e : "strings");
			goto out;
		}
		partner_net_format(&pn, text, sizeof text);
		n += (size_t)snprintf(c->u.m.cidrs + n, sizeof c->u.m.cidrs - n, "%s%s", idx ? "," : "", text);
	}
	snprintf(c->u.m.cidrs + n, sizeof c->u.m.cidrs - n, "}");
	snprintf(c->u.m.name, sizeof c->u.m.name, "%s", name);
	snprintf(c->u.m.protocol, sizeof c->u.m.protocol, "%s", protocol);
	snprintf(c->u.m.login, sizeof c->u.m.login, "%s", login ? login : name);
	snprintf(c->u.m.op, sizeof c->u.m.op, "add");
	c->u.m.fiscal = json_is_true(fiscal);
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:b}", "protocol", protocol, "login", c->u.m.login, "networks",
			      c->u.m.cidrs, "amounts", "", "fiscal", c->u.m.fiscal);
	char a[MONEY_BUFSZ], b[MONEY_BUFSZ], range[2 * MONEY_BUFSZ + 4];
	snprintf(range, sizeof range, "%s..%s", money_format(c->u.m.min, a), money_format(c->u.m.max, b));
	json_object_set_new(d, "amounts", json_string(range));
	json_decref(body);
	audit_then(c, "partner.add", c->u.m.name, d, make_secret);
	return;
out:
	json_decref(body);
	call_free(c);
}

/* POST /admin/api/partners {name, protocol, login?, networks?, min?, max?, fiscal?} (admin) */
void h_admin_partner_add(struct req *r)
{
	admin_begin(r, PERM_PARTNERS, false, partner_add);
}

static void on_partner_found(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (db_failed(c, res, NULL))
		return;
	if (PQntuples(res->res) != 1) {
		http_reply_error(c->r, 404, "partner_not_found", "no partner with this name");
		call_free(c);
		return;
	}
	snprintf(c->u.m.protocol, sizeof c->u.m.protocol, "%s", PQgetvalue(res->res, 0, 1));
	snprintf(c->u.m.login, sizeof c->u.m.login, "%s", PQgetvalue(res->res, 0, 2));
	make_secret(c);
}

static void on_partner_active(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (db_failed(c, res, NULL))
		return;
	if (PQntuples(res->res) != 1)
		http_reply_error(c->r, 404, "partner_not_found", "no partner with this name");
	else
		http_reply_json(c->r, 200, json_pack("{s:s, s:s}", "name", c->u.m.name, "state",
						     strcmp(c->u.m.op, "disable") == 0 ? "disabled" : "active"));
	call_free(c);
}

static void partner_change_run(struct admin_call *c)
{
	const char *p[2] = {c->u.m.name, strcmp(c->u.m.op, "enable") == 0 ? "true" : "false"};
	if (strcmp(c->u.m.op, "rotate") == 0)
		db_exec(c->db, &q_partner_get, p, 1, on_partner_found, c);
	else
		db_exec(c->db, &q_partner_active, p, 2, on_partner_active, c);
}

static void partner_change(struct admin_call *c)
{
	char action[32];
	snprintf(action, sizeof action, "partner.%s", c->u.m.op);
	audit_then(c, action, c->u.m.name, NULL, partner_change_run);
}

/* POST /admin/api/partners/{name}/{disable|enable|rotate} (admin) */
void h_admin_partner_change(struct req *r)
{
	const char *name = req_param(r, 0), *op = req_param(r, 1);
	if (!partner_name_valid(name)) {
		http_reply_error(r, 404, "partner_not_found", "no partner with this name");
		return;
	}
	if (!op || (strcmp(op, "disable") && strcmp(op, "enable") && strcmp(op, "rotate"))) {
		http_reply_error(r, 404, "not_found", "a partner can be disabled, enabled or rotated");
		return;
	}
	char nm[64], o[16];
	snprintf(nm, sizeof nm, "%s", name);
	snprintf(o, sizeof o, "%s", op);
	admin_begin_with(r, PERM_PARTNERS, partner_change, nm, o);
}

/* ---- registries ---------------------------------------------------------------------------------- */

static void on_registry(enum cash_status st, const char *csv, size_t len, void *arg)
{
	struct admin_call *c = arg;
	if (st != CASH_OK) {
		reply_db_unavailable(c->r);
	} else {
		char cd[140];
		snprintf(cd, sizeof cd, "attachment; filename=\"registry-%s-%s.csv\"", c->u.m.name, c->u.m.op);
		http_header(c->r, "Content-Disposition", cd);
		http_reply_raw(c->r, 200, "text/csv; charset=utf-8", csv, len);
	}
	call_free(c);
}

static void on_registry_partner(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (db_failed(c, res, NULL))
		return;
	if (PQntuples(res->res) != 1) {
		http_reply_error(c->r, 404, "partner_not_found", "no partner with this name");
		call_free(c);
		return;
	}
	long long id = 0;
	db_int64(res->res, 0, 0, &id);
	registry_fetch(c->db, id, c->u.m.op, req_config(c->r)->partner_tz, on_registry, c);
}

static void registry_run(struct admin_call *c)
{
	const char *p[1] = {c->u.m.name};
	db_exec(c->db, &q_partner_get, p, 1, on_registry_partner, c);
}

static void registry(struct admin_call *c)
{
	audit_then(c, "registry.download", c->u.m.name, json_pack("{s:s}", "date", c->u.m.op), registry_run);
}

/* GET /admin/api/registries?partner=NAME&date=YYYY-MM-DD (finance, admin): the partner's registry CSV */
void h_admin_registry(struct req *r)
{
	const char *name = NULL, *day = NULL;
	if (req_query(r, "partner", &name) != 0 || req_query(r, "date", &day) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (!partner_name_valid(name)) {
		http_reply_error(r, 400, "invalid_partner", "partner: the partner's name");
		return;
	}
	if (!day || !registry_date_valid(day)) {
		http_reply_error(r, 400, "invalid_date", "date must be a date like 2026-12-31");
		return;
	}
	char nm[64], d[16];
	snprintf(nm, sizeof nm, "%s", name);
	snprintf(d, sizeof d, "%s", day);
	admin_begin_with(r, PERM_REGISTRY, registry, nm, d);
}

/* ---- reconcile an uploaded registry --------------------------------------------------------------- */

/* The comparison of `gatewayd reconcile` (reconcile.c), run on the offload pool with a connection of
 * its own (blocking libpq, never on an event loop); reconciling is rare and a registry is a few
 * thousand lines. */
struct reconcile_job {
	struct admin_call *c;
	char *csv;
	size_t len;
	char conninfo[1024];
	char tz[64];
	int rc;                   /* reconcile_run's, or 1 (database) / 3 (no such partner) */
	char err[RECONCILE_ERRSZ];
	struct reconcile_summary sum;
	json_t *problems;
};

static void add_problem(const struct reconcile_problem *p, void *arg)
{
	struct reconcile_job *j = arg;
	char a[MONEY_BUFSZ] = "", b[MONEY_BUFSZ] = "";
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "problem", p->problem, "partner_txn_id",
			      ident_utf8_valid(p->txn, strlen(p->txn)) ? p->txn : NULL, "our_id",
			      p->our_id && *p->our_id ? p->our_id : NULL, "account",
			      p->account && *p->account && ident_utf8_valid(p->account, strlen(p->account)) ? p->account : NULL,
			      "their_amount", p->theirs ? money_format(*p->theirs, a) : NULL, "our_amount",
			      p->ours ? money_format(*p->ours, b) : NULL, "detail",
			      p->detail && ident_utf8_valid(p->detail, strlen(p->detail)) ? p->detail : NULL);
	if (o && json_array_size(j->problems) < 10000)
		json_array_append_new(j->problems, o);
	else
		json_decref(o);
}

static void reconcile_work(void *arg)
{
	struct reconcile_job *j = arg;
	j->rc = 1;
	PGconn *db = PQconnectdb(j->conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		snprintf(j->err, sizeof j->err, "the database cannot be reached");
		PQfinish(db);
		return;
	}
	const char *p[1] = {j->c->u.m.name};
	PGresult *r = PQexecParams(db, "SELECT id, protocol FROM partners WHERE name = $1", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		j->rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 3 : 1;
		PQclear(r);
		PQfinish(db);
		return;
	}
	long long id = atoll(PQgetvalue(r, 0, 0));
	bool osmp = strcmp(PQgetvalue(r, 0, 1), "osmp") == 0;
	PQclear(r);
	FILE *f = fmemopen(j->csv, j->len, "rb");
	if (f) {
		j->rc = reconcile_run(db, id, osmp, j->c->u.m.op[0] ? j->c->u.m.op : NULL, f, "the file", j->tz, add_problem,
				      j, &j->sum, j->err);
		fclose(f);
	}
	PQfinish(db);
}

static void reconcile_done(void *arg)
{
	struct reconcile_job *j = arg;
	struct admin_call *c = j->c;
	if (j->rc == 3) {
		http_reply_error(c->r, 404, "partner_not_found", "no partner with this name");
	} else if (j->rc == 2) {
		http_reply_error(c->r, 400, "invalid_registry", "%s", j->err);
	} else if (j->rc != 0) {
		log_kv(LOG_ERROR, "console: reconcile failed", "reason", j->err, NULL);
		reply_db_unavailable(c->r);
	} else {
		char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
		json_t *sum = json_pack("{s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "theirs", (json_int_t)j->sum.theirs,
					"their_total", money_format(j->sum.their_sum, a), "ours", (json_int_t)j->sum.ours,
					"our_total", money_format(j->sum.our_sum, b), "matched", (json_int_t)j->sum.matched,
					"missing_in_ours", (json_int_t)j->sum.missing_ours, "missing_in_theirs",
					(json_int_t)j->sum.missing_theirs, "mismatched", (json_int_t)j->sum.mismatched,
					"problems", (json_int_t)j->sum.problems);
		http_reply_json(c->r, 200, json_pack("{s:s, s:o, s:O}", "partner", c->u.m.name, "summary", sum,
						     "problems", j->problems));
	}
	json_decref(j->problems);
	free(j->csv);
	free(j);
	call_free(c);
}

static void reconcile_start(struct admin_call *c)
{
	size_t len = 0;
	const char *body = req_body(c->r, &len);
	struct reconcile_job *j = calloc(1, sizeof *j);
	if (!j || !(j->csv = malloc(len ? len : 1)) || !(j->problems = json_array())) {
		if (j)
			free(j->csv);
		free(j);
		http_reply_error(c->r, 503, "unavailable", "out of memory");
		call_free(c);
		return;
	}
	memcpy(j->csv, body, len);
	j->len = len;
	j->c = c;
	const struct config *cfg = req_config(c->r);
	snprintf(j->conninfo, sizeof j->conninfo, "%s", cfg->database_url);
	snprintf(j->tz, sizeof j->tz, "%s", cfg->partner_tz);
	if (!offload_or_busy(c, reconcile_work, reconcile_done, j, "too much work off the loops")) {
		json_decref(j->problems);
		free(j->csv);
		free(j);
		call_free(c);
	}
}

static void reconcile(struct admin_call *c)
{
	json_t *d = json_pack("{s:s}", "date", c->u.m.op[0] ? c->u.m.op : "from the file");
	audit_then(c, "reconcile", c->u.m.name, d, reconcile_start);
}

/* POST /admin/api/reconcile?partner=NAME[&date=YYYY-MM-DD], the partner's registry (text/csv) as the
 * body (finance, admin): the differences from ours, as `gatewayd reconcile` finds them. */
void h_admin_reconcile(struct req *r)
{
	const char *name = NULL, *day = NULL;
	if (req_query(r, "partner", &name) != 0 || req_query(r, "date", &day) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (!partner_name_valid(name)) {
		http_reply_error(r, 400, "invalid_partner", "partner: the partner's name");
		return;
	}
	if (day && *day && !registry_date_valid(day)) {
		http_reply_error(r, 400, "invalid_date", "date must be a date like 2026-12-31");
		return;
	}
	const char *ct = req_header(r, "Content-Type");
	if (!ct || (strncasecmp(ct, "text/csv", 8) != 0 && strncasecmp(ct, "text/plain", 10) != 0)) {
		http_reply_error(r, 415, "unsupported_media_type", "send the registry as text/csv");
		return;
	}
	size_t len = 0;
	req_body(r, &len);
	if (len == 0) {
		http_reply_error(r, 400, "invalid_registry", "the registry is empty");
		return;
	}
	char nm[64], d[16] = "";
	snprintf(nm, sizeof nm, "%s", name);
	if (day)
		snprintf(d, sizeof d, "%s", day);
	admin_begin_with(r, PERM_REGISTRY, reconcile, nm, d);
}

/* ---- staff -------------------------------------------------------------------------------------- */

static struct db_stmt q_staff = {
	"admin_staff",
	"SELECT s.login, s.role, CASE WHEN s.active THEN 'active' ELSE 'disabled' END AS state,"
	"       to_char(s.created_at, 'YYYY-MM-DD') AS created,"
	"       (SELECT to_char(max(a.at), 'YYYY-MM-DD HH24:MI') FROM staff_audit a WHERE a.staff_id = s.id AND a.action = 'login')"
	"         AS last_login"
	"  FROM staff s ORDER BY s.login",
	0, 0};
static struct db_stmt q_staff_insert = {
	"admin_staff_insert", "INSERT INTO staff (login, role, password_hash) VALUES ($1, $2, $3) RETURNING login", 3, 0};
static struct db_stmt q_staff_reset = {
	"admin_staff_reset",
	"UPDATE staff SET password_hash = $2, password_set_at = now() WHERE login = $1 RETURNING login", 2, 0};
static struct db_stmt q_staff_active = {
	"admin_staff_active",
	"UPDATE staff SET active = $2::boolean, disabled_at = CASE WHEN $2::boolean THEN NULL ELSE now() END"
	" WHERE login = $1 RETURNING login",
	2, 0};

static void staff_list(struct admin_call *c)
{
	bool csv = false;
	want_csv(c->r, &csv);
	query_rows(c, &q_staff, NULL, 0, "staff", csv);
}

/* GET /admin/api/staff (admin) */
void h_admin_staff(struct req *r)
{
	bool csv;
	if (!want_csv(r, &csv))
		return;
	admin_begin(r, PERM_STAFF, false, staff_list);
}

static void on_staff_changed(const struct db_result *res, void *arg)
{
	struct admin_call *c = arg;
	if (db_failed(c, res, "a staff member with this login exists"))
		return;
	if (PQntuples(res->res) != 1) {
		http_reply_error(c->r, 404, "staff_not_found", "no staff member with this login");
	} else {
		json_t *j = json_pack("{s:s}", "login", c->u.m.name);
		if (c->u.m.password[0])
			json_object_set_new(j, "password", json_string(c->u.m.password));     /* shown once */
		if (c->u.m.role[0])
			json_object_set_new(j, "role", json_string(c->u.m.role));
		if (strcmp(c->u.m.op, "disable") == 0 || strcmp(c->u.m.op, "enable") == 0)
			json_object_set_new(j, "state", json_string(c->u.m.op[0] == 'd' ? "disabled" : "active"));
		http_reply_json(c->r, strcmp(c->u.m.op, "add") == 0 ? 201 : 200, j);
	}
	call_free(c);
}

static void password_work(void *arg)
{
	struct admin_call *c = arg;
	c->u.m.failed = staff_password_new(c->u.m.password) != 0 || staff_password_hash(c->u.m.password, c->u.m.hash) != 0;
}

static void password_done(void *arg)
{
	struct admin_call *c = arg;
	if (c->u.m.failed) {
		http_reply_error(c->r, 503, "unavailable", "no randomness for a password; try again");
		call_free(c);
		return;
	}
	if (strcmp(c->u.m.op, "add") == 0) {
		const char *p[3] = {c->u.m.name, c->u.m.role, c->u.m.hash};
		db_exec(c->db, &q_staff_insert, p, 3, on_staff_changed, c);
	} else {
		const char *p[2] = {c->u.m.name, c->u.m.hash};
		db_exec(c->db, &q_staff_reset, p, 2, on_staff_changed, c);
	}
}

static void staff_change_run(struct admin_call *c)
{
	if (strcmp(c->u.m.op, "add") == 0 || strcmp(c->u.m.op, "reset") == 0) {
		if (!offload_or_busy(c, password_work, password_done, c, "too much hashing"))
			call_free(c);
		return;
	}
	const char *p[2] = {c->u.m.name, strcmp(c->u.m.op, "enable") == 0 ? "true" : "false"};
	db_exec(c->db, &q_staff_active, p, 2, on_staff_changed, c);
}

static void staff_change(struct admin_call *c)
{
	char action[32];
	snprintf(action, sizeof action, "staff.%s", c->u.m.op);
	if (strcmp(c->u.m.op, "add") == 0) {
		json_t *body = req_json(c->r);
		if (!body) {
			call_free(c);
			return;
		}
		const char *login = json_string_value(json_object_get(body, "login"));
		const char *role = json_string_value(json_object_get(body, "role"));
		bool ok = json_object_size(body) == 2 && staff_login_valid(login) && staff_role_valid(role);
		if (ok) {
			snprintf(c->u.m.name, sizeof c->u.m.name, "%s", login);
			snprintf(c->u.m.role, sizeof c->u.m.role, "%s", role);
		}
		json_decref(body);
		if (!ok) {
			http_reply_error(c->r, 400, "invalid_staff",
					 "give {\"login\": 2-63 characters of a-z 0-9 . _ -, \"role\": support, finance or admin}");
			call_free(c);
			return;
		}
		audit_then(c, action, c->u.m.name, json_pack("{s:s}", "role", c->u.m.role), staff_change_run);
		return;
	}
	if (strcmp(c->u.m.name, c->login) == 0 && strcmp(c->u.m.op, "disable") == 0) {
		http_reply_error(c->r, 409, "cannot_disable_self", "an admin cannot disable their own account");
		call_free(c);
		return;
	}
	audit_then(c, action, c->u.m.name, NULL, staff_change_run);
}

/* POST /admin/api/staff {login, role} (admin) */
void h_admin_staff_add(struct req *r)
{
	admin_begin_with(r, PERM_STAFF, staff_change, "", "add");
}

/* POST /admin/api/staff/{login}/{disable|enable|reset} (admin) */
void h_admin_staff_change(struct req *r)
{
	const char *login = req_param(r, 0), *op = req_param(r, 1);
	if (!staff_login_valid(login)) {
		http_reply_error(r, 404, "staff_not_found", "no staff member with this login");
		return;
	}
	if (!op || (strcmp(op, "disable") && strcmp(op, "enable") && strcmp(op, "reset"))) {
		http_reply_error(r, 404, "not_found", "a staff member can be disabled, enabled or reset");
		return;
	}
	admin_begin_with(r, PERM_STAFF, staff_change, login, op);
}
