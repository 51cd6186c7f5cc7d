/* terminal.c — shared plumbing of the inbound partner protocols (see terminal.h). */
#include "terminal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>
#include <openssl/crypto.h>

#include "config.h"
#include "ident.h"
#include "log.h"
#include "metrics.h"
#include "refusals.h"

int terminal_init(struct adapter_ctx *ctx, char err[256])
{
	struct terminal_state *st = calloc(1, sizeof *st);
	if (st)
		st->partners = partner_cache_new(ctx->base, ctx->cfg->partner_fail_rate);
	if (!st || !st->partners) {
		free(st);
		snprintf(err, 256, "out of memory");
		return -1;
	}
	ctx->state = st;
	return 0;
}

void terminal_fini(struct adapter_ctx *ctx)
{
	struct terminal_state *st = ctx->state;
	if (st)
		partner_cache_free(st->partners);
	free(st);
	ctx->state = NULL;
}

/* ---- parameters ------------------------------------------------------------------------------- */

int term_form_init(struct term_form *f, struct req *r)
{
	memset(f, 0, sizeof *f);
	f->r = r;
	f->body.tqh_first = NULL;          /* TAILQ_INIT, without needing <sys/queue.h> */
	f->body.tqh_last = &f->body.tqh_first;
	if (strcmp(r->method, "POST") != 0)
		return 0;
	const char *ct = req_header(r, "Content-Type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return 0;
	size_t len;
	const char *b = req_body(r, &len);
	if (len == 0)
		return 0;
	if (memchr(b, '\0', len))
		return -1;
	char *s = malloc(len + 1);
	if (!s)
		return -1;
	memcpy(s, b, len);
	s[len] = '\0';
	int rc = http_parse_form(s, &f->body);
	free(s);
	f->has_body = true;
	return rc == 0 ? 0 : -1;
}

void term_form_free(struct term_form *f)
{
	if (f->has_body)
		evhttp_clear_headers(&f->body);
	f->has_body = false;
}

static int scan(const struct evkeyvalq *q, const char *name, bool nocase, const char **out, int found)
{
	for (struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next) {
		if (nocase ? strcasecmp(kv->key, name) != 0 : strcmp(kv->key, name) != 0)
			continue;
		if (found || !kv->value) {            /* twice, or its value held a NUL byte */
			*out = NULL;
			return -1;
		}
		*out = kv->value;
		found = 1;
	}
	return found;
}

int term_param(const struct term_form *f, const char *name, bool nocase, const char **out)
{
	*out = NULL;
	int found = 0;
	if (f->r->query_parsed && (found = scan(&f->r->query, name, nocase, out, 0)) < 0)
		return -1;
	if (f->has_body && (found = scan(&f->body, name, nocase, out, found)) < 0)
		return -1;
	return found;
}

/* ---- XML -------------------------------------------------------------------------------------- */

static void put(struct xml *x, const char *s, size_t n)
{
	if (x->oom)
		return;
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 512;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *nb = realloc(x->buf, cap);
		if (!nb) {
			x->oom = true;
			return;
		}
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, s, n);
	x->len += n;
	x->buf[x->len] = '\0';
}

void xml_raw(struct xml *x, const char *markup) { put(x, markup, strlen(markup)); }

void xml_begin(struct xml *x)
{
	memset(x, 0, sizeof *x);
	xml_raw(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>");
}

void xml_text(struct xml *x, const char *text)
{
	if (!text)
		return;
	size_t n = strlen(text);
	bool utf8 = ident_utf8_valid(text, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		switch (c) {
		case '&': xml_raw(x, "&amp;"); break;
		case '<': xml_raw(x, "&lt;"); break;
		case '>': xml_raw(x, "&gt;"); break;
		case '"': xml_raw(x, "&quot;"); break;
		case '\'': xml_raw(x, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				break;                  /* not allowed in XML 1.0 at all */
			if (c >= 0x80 && !utf8)
				put(x, "?", 1);
			else
				put(x, (const char *)&text[i], 1);
		}
	}
}

void xml_elem(struct xml *x, const char *name, const char *text)
{
	put(x, "<", 1);
	xml_raw(x, name);
	put(x, ">", 1);
	xml_text(x, text);
	put(x, "</", 2);
	xml_raw(x, name);
	put(x, ">", 1);
}

void xml_elem_int(struct xml *x, const char *name, long long v)
{
	char num[32];
	snprintf(num, sizeof num, "%lld", v);
	xml_elem(x, name, num);
}

void xml_reply(struct req *r, int status, struct xml *x)
{
	xml_raw(x, "</response>\n");
	if (x->oom) {
		static const char oom[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><result>1</result>"
					  "<CODE>1</CODE><comment>temporary error</comment></response>\n";
		http_reply_raw(r, 503, "text/xml; charset=utf-8", oom, sizeof oom - 1);
	} else {
		http_reply_raw(r, status, "text/xml; charset=utf-8", x->buf, x->len);
	}
	free(x->buf);
	memset(x, 0, sizeof *x);
}

/* ---- authentication --------------------------------------------------------------------------- */

struct auth_ctx {
	struct req *r;
	term_auth_cb done;
	void *arg;
	struct partner_credentials cr;
	char login[PARTNER_LOGIN_MAX + 2];
	char password[256];
};

int term_auth_http_status(enum partner_auth_status st)
{
	switch (st) {
	case PA_OK: return 200;
	case PA_PROTOCOL:
	case PA_DISABLED: return 403;
	case PA_UNAVAILABLE: return 503;
	case PA_MISSING:
	case PA_NETWORK:          /* answered like a bad credential: nothing tells an outsider the login exists */
	case PA_THROTTLED:
	case PA_CREDENTIALS:
	case PA_SIGNATURE:
	case PA_TIMESTAMP: return 401;
	}
	return 401;
}

static enum metric_id refusal_metric(enum partner_auth_status st)
{
	switch (st) {
	case PA_NETWORK: return M_PARTNER_AUTH_NETWORK;
	case PA_THROTTLED: return M_PARTNER_AUTH_THROTTLED;
	case PA_SIGNATURE: return M_PARTNER_AUTH_SIGNATURE;
	case PA_TIMESTAMP: return M_PARTNER_AUTH_TIMESTAMP;
	case PA_PROTOCOL: return M_PARTNER_AUTH_PROTOCOL;
	case PA_DISABLED: return M_PARTNER_AUTH_DISABLED;
	case PA_MISSING: return M_PARTNER_AUTH_MISSING;
	default: return M_PARTNER_AUTH_CREDENTIALS;
	}
}

static void on_auth(enum partner_auth_status st, const struct partner *p, void *arg)
{
	struct auth_ctx *a = arg;
	struct req *r = a->r;
	if (st != PA_OK && st != PA_UNAVAILABLE) {
		metrics_add(refusal_metric(st), 1);
		if (p)                            /* a known partner's: for the console's overview */
			refusals_note(p->id, partner_auth_reason(st));
		struct log_line l;
		log_begin(&l, LOG_WARN, "partner request refused");
		log_str(&l, "rid", r->rid);
		log_str(&l, "reason", partner_auth_reason(st));
		log_str(&l, "login", a->cr.login);
		log_str(&l, "partner", p ? p->name : NULL);
		log_str(&l, "peer", r->peer);
		log_str(&l, "route", r->route ? r->route->pattern : NULL);
		log_end(&l);
	}
	term_auth_cb done = a->done;
	void *darg = a->arg;
	OPENSSL_cleanse(a->password, sizeof a->password);
	free(a);
	/* the true reason is in the log line and the metrics above; the client learns only "not you" */
	if (st == PA_NETWORK || st == PA_THROTTLED)
		st = PA_CREDENTIALS;
	done(r, st, st == PA_OK ? p : NULL, darg);
}

void term_authenticate(struct req *r, const char *protocol, term_auth_cb done, void *arg)
{
	struct partner_cache *pc = ((struct terminal_state *)req_adapter_ctx(r, NULL)->state)->partners;
	struct auth_ctx *a = calloc(1, sizeof *a);
	if (!a) {
		done(r, PA_UNAVAILABLE, NULL, arg);
		return;
	}
	a->r = r;
	a->done = done;
	a->arg = arg;
	struct partner_credentials *cr = &a->cr;
	cr->peer = r->peer;
	cr->protocol = protocol;
	const char *login = req_header(r, "X-Partner-Login");
	if (login) {
		cr->hmac = true;
		snprintf(a->login, sizeof a->login, "%s", login);
		cr->login = a->login;
		cr->method = r->method;
		cr->target = evhttp_request_get_uri(r->ev);
		cr->timestamp = req_header(r, "X-Timestamp");
		cr->signature = req_header(r, "X-Signature");
		cr->body = req_body(r, &cr->body_len);
		cr->now = time(NULL);
	} else if (partner_basic_decode(req_header(r, "Authorization"), a->login, sizeof a->login, a->password,
					sizeof a->password) == 0) {
		cr->login = a->login;
		cr->password = a->password;
	} else {
		cr->login = NULL;     /* → PA_MISSING */
	}
	partners_authenticate(pc, req_db(r), cr, on_auth, a);
}

void *term_req_new(struct req *r, size_t size, const char *cmd_param, bool nocase, const char *const *cmds)
{
	struct term_req *t = calloc(1, size);
	if (!t) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return NULL;
	}
	t->r = r;
	t->form_ok = term_form_init(&t->form, r) == 0;
	const char *v = NULL;
	if (t->form_ok && term_param(&t->form, cmd_param, nocase, &v) == 1 && v)
		for (int i = 0; cmds[i]; i++)
			if (nocase ? strcasecmp(v, cmds[i]) == 0 : strcmp(v, cmds[i]) == 0)
				t->cmd = i + 1;
	return t;
}

void term_req_free(struct term_req *t)
{
	term_form_free(&t->form);
	free(t);
}

void term_check(struct term_req *t, const struct partner *p, const char *account, cash_account_cb done)
{
	t->min_amount = p->min_amount;
	t->max_amount = p->max_amount;
	booking_check_account(req_db(t->r), account, NULL, done, t);
}

void term_book(struct term_req *t, const struct partner *p, const char *adapter, const char *txn_id,
	       const char *account, int64_t amount, const char *when, const char *raw, cash_cb done)
{
	t->min_amount = p->min_amount;
	t->max_amount = p->max_amount;
	struct cash_payment in = {
		.channel = "terminal",
		.adapter = adapter,
		.partner_id = p->id,
		.txn_id = txn_id,
		.contract = account,
		.amount = amount,
		.provider_time = when && *when ? when : NULL,
		.tz = req_config(t->r)->partner_tz,
		.raw = raw,
	};
	booking_book_cash(req_db(t->r), &in, done, t);
}

int term_refuse(char msg[128], int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, 128, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- dates ------------------------------------------------------------------------------------ */

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int term_parse_time(const char *s, bool sber, char out[20])
{
	int y, mo, d, h, mi, se;
	if (!s)
		return -1;
	if (sber) {
		/* DD.MM.YYYY_HH:MM:SS */
		if (strlen(s) != 19 || s[2] != '.' || s[5] != '.' || s[10] != '_' || s[13] != ':' || s[16] != ':')
			return -1;
		d = digits(s, 2), mo = digits(s + 3, 2), y = digits(s + 6, 4);
		h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	} else {
		/* YYYYMMDDHHMMSS */
		if (strlen(s) != 14)
			return -1;
		y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
		h = digits(s + 8, 2), mi = digits(s + 10, 2), se = digits(s + 12, 2);
	}
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 2000 || y > 2999 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
	    se > 59)
		return -1;
	int md = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d > md)
		return -1;
	char buf[64];
	snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, se);
	memcpy(out, buf, 20);
	return 0;
}
