/* cashbox_atol.c — ATOL Online v4 (FFD 1.05): the cloud cashbox behind GATEWAY_FISCAL=atol.
 *
 * A worker thread gets its own event base and HTTPS client (gateway/http_client.c) and calls it
 * synchronously: a request goes through the one retry helper (http_retry.h, the same external_id on
 * every repeat), and the thread runs the loop until the answer. The token (24 h) is one per gateway,
 * shared by the threads, fetched again on ExpiredToken (11). Register: 33 adopts the first
 * document's uuid; 10/20/31/32/41 are refusals of the request (failed: fix the configuration);
 * 50, 5xx and timeouts are repeated later with the same external_id. Report: wait, done (the fiscal
 * data), fail; 34 means "not processed yet". At most one report request per second per group, as
 * ATOL asks. Facts: ../shared/protocols/README.md section 5. */
#include "cashbox_atol.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "config.h"
#include "http_client.h"
#include "http_retry.h"
#include "jsonw.h"

#define REPORT_GAP_MS 1010         /* "at most 1 report request per second" (+ a margin for the clocks) */

struct atol {
	const struct config *cfg;
	struct event_base *base;
	struct http_client *http;
};

/* One token per gateway; a generation tells a thread that another has fetched a new one. */
static struct {
	pthread_mutex_t lock;
	char token[256];
	uint64_t last_report_ms;
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the document ------------------------------------------------------------------------- */

char *atol_document(const struct config *cfg, const struct fiscal_doc *d, const char *timestamp,
		    const char *callback_url, char err[256])
{
	char name[520];
	if (config_fiscal_item(cfg, d->contract, name, sizeof name) != 0) {
		snprintf(err, 256, "the item's text is longer than %d characters", FISCAL_ITEM_MAX);
		return NULL;
	}
	size_t el = strlen(d->external_id);
	if (el == 0 || el > 128) {
		snprintf(err, 256, "external_id must have 1 to 128 characters");
		return NULL;
	}
	if (d->amount <= 0 || d->amount > 100000000000LL) {
		snprintf(err, 256, "the amount %" PRId64 " is out of range", d->amount);
		return NULL;
	}
	if (!*d->email && !*d->phone && !cfg->seller_email) {
		snprintf(err, 256, "no contact of the buyer (tag 1008): neither e-mail nor phone");
		return NULL;
	}
	/* one item of quantity 1: price = sum = total = the one payment, all the same kopecks */
	int64_t price = d->amount, sum = price * 1, total = sum, paid = d->amount;
	if (sum != total || paid != total) {
		snprintf(err, 256, "the sums do not agree");
		return NULL;
	}
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_str(&w, "external_id", d->external_id);
	jw_str(&w, "timestamp", timestamp);
	if (callback_url) {
		jw_obj_begin(&w, "service");
		jw_str(&w, "callback_url", callback_url);
		jw_obj_end(&w);
	}
	jw_obj_begin(&w, "receipt");
	jw_obj_begin(&w, "client");
	if (*d->email)
		jw_str(&w, "email", d->email);
	else if (*d->phone)
		jw_str(&w, "phone", d->phone);
	else
		jw_str(&w, "email", cfg->seller_email);   /* no contact given: the seller's own address */
	jw_obj_end(&w);
	jw_obj_begin(&w, "company");
	jw_str(&w, "email", cfg->seller_email);
	jw_str(&w, "sno", cfg->seller_sno);
	jw_str(&w, "inn", cfg->seller_inn);
	jw_str(&w, "payment_address", cfg->seller_payment_address);
	jw_obj_end(&w);
	jw_arr_begin(&w, "items");
	jw_obj_begin(&w, NULL);
	jw_str(&w, "name", name);
	jw_money(&w, "price", price);
	jw_int(&w, "quantity", 1);
	jw_money(&w, "sum", sum);
	jw_str(&w, "measurement_unit", "усл.");
	jw_str(&w, "payment_method", cfg->fiscal_payment_method);
	jw_str(&w, "payment_object", "service");
	jw_obj_begin(&w, "vat");
	jw_str(&w, "type", cfg->seller_vat);
	jw_obj_end(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_arr_begin(&w, "payments");
	jw_obj_begin(&w, NULL);
	jw_int(&w, "type", 1);                         /* electronic */
	jw_money(&w, "sum", paid);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_money(&w, "total", total);
	jw_obj_end(&w);
	jw_obj_end(&w);
	size_t len;
	const char *text = jw_text(&w, &len);
	char *out = text ? strdup(text) : NULL;
	jw_free(&w);
	if (!out)
		snprintf(err, 256, "the document could not be written (a text is not UTF-8, or no memory)");
	return out;
}

/* ---- calls -------------------------------------------------------------------------------- */

struct answer {
	bool done;
	enum hc_error error;
	int status;
	json_t *json;             /* the body, when it is a JSON object */
	char message[160];
};

static void on_answer(const struct hc_response *r, int attempts, void *arg)
{
	(void)attempts;
	struct answer *a = arg;
	a->done = true;
	a->error = r->error;
	a->status = r->status;
	snprintf(a->message, sizeof a->message, "%s", r->message ? r->message : "");
	if (r->error == HC_OK) {
		json_t *j = json_loadb(r->body, r->len, 0, NULL);
		if (json_is_object(j))
			a->json = j;
		else
			json_decref(j);
	}
}

/* A call, answered before it returns. The same bytes are repeated on a transient failure. */
static void call(struct atol *a, const char *method, const char *path, const char *body, const char *token,
		 struct answer *out)
{
	char url[600];
	snprintf(url, sizeof url, "%s%s", a->cfg->atol_url, path);
	const char *h[7] = {"Content-Type", "application/json; charset=utf-8", "Accept", "application/json"};
	int n = 4;
	if (token) {
		h[n++] = "Token";
		h[n++] = token;
	}
	h[n] = NULL;
	struct hc_request rq = {method, url, h, body, body ? strlen(body) : 0, a->cfg->provider_timeout_ms};
	struct hc_retry policy = {2, 500, NULL};
	memset(out, 0, sizeof *out);
	hc_request_retry(a->http, &rq, &policy, on_answer, out);
	while (!out->done)
		event_base_loop(a->base, EVLOOP_ONCE);
}

/* The ATOL error code of an answer (0 none). */
static int error_code(const struct answer *r)
{
	json_t *e = json_object_get(r->json, "error");
	json_t *c = json_object_get(e, "code");
	return json_is_integer(c) ? (int)json_integer_value(c) : 0;
}

static const char *error_text(const struct answer *r)
{
	const char *t = json_string_value(json_object_get(json_object_get(r->json, "error"), "text"));
	return t ? t : "";
}

/* The gateway's token (fetched when there is none, or again when force). 0, or -1 with r filled. */
static int get_token(struct atol *a, bool force, char token[256], struct cashbox_result *r)
{
	pthread_mutex_lock(&shared.lock);
	if (!force && shared.token[0]) {
		memcpy(token, shared.token, 256);
		pthread_mutex_unlock(&shared.lock);
		return 0;
	}
	pthread_mutex_unlock(&shared.lock);
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_str(&w, "login", a->cfg->atol_login);
	jw_str(&w, "pass", a->cfg->atol_password);
	jw_obj_end(&w);
	size_t len;
	const char *body = jw_text(&w, &len);
	struct answer ans;
	call(a, "POST", "/possystem/v4/getToken", body ? body : "{}", NULL, &ans);
	OPENSSL_cleanse(w.buf, w.len);
	jw_free(&w);
	const char *t = json_string_value(json_object_get(ans.json, "token"));
	int rc = -1;
	if (ans.error == HC_OK && t && *t && strlen(t) < 256 && !json_is_object(json_object_get(ans.json, "error"))) {
		pthread_mutex_lock(&shared.lock);
		snprintf(shared.token, sizeof shared.token, "%s", t);
		memcpy(token, shared.token, 256);
		pthread_mutex_unlock(&shared.lock);
		rc = 0;
	} else {
		r->outcome = CB_RETRY;        /* wrong login (12) is a configuration an operator fixes: keep trying */
		r->code = error_code(&ans);
		snprintf(r->error, sizeof r->error, "atol getToken: %s %s", ans.error ? ans.message : "refused",
			 error_text(&ans));
	}
	json_decref(ans.json);
	return rc;
}

/* A call with the token, once more with a fresh one when ATOL says it expired. */
static int call_with_token(struct atol *a, const char *method, const char *path, const char *body,
			   struct answer *ans, struct cashbox_result *r)
{
	char token[256];
	for (int i = 0; i < 2; i++) {
		if (get_token(a, i > 0, token, r) != 0)
			return -1;
		call(a, method, path, body, token, ans);
		OPENSSL_cleanse(token, sizeof token);
		if (error_code(ans) != 11 && !(ans->error == HC_OK && ans->status == 401 && error_code(ans) == 0))
			return 0;
		json_decref(ans->json);
		ans->json = NULL;
	}
	r->outcome = CB_RETRY;
	r->code = 11;
	snprintf(r->error, sizeof r->error, "atol: the token expired again right after it was fetched");
	return -1;
}

/* ---- the cashbox -------------------------------------------------------------------------- */

static void *atol_open(const struct config *cfg, char err[256])
{
	struct atol *a = calloc(1, sizeof *a);
	if (!a || !(a->base = http_base_new()) || !(a->http = http_client_new(a->base, cfg->ca_file, 0, err))) {
		if (a && a->base)
			event_base_free(a->base);
		free(a);
		if (err[0] == '\0')
			snprintf(err, 256, "out of memory");
		return NULL;
	}
	a->cfg = cfg;
	return a;
}

static void atol_close(void *st)
{
	struct atol *a = st;
	http_client_free(a->http);
	event_base_free(a->base);
	free(a);
}

static void set_error(struct cashbox_result *r, enum cashbox_outcome o, int code, const char *what,
		      const struct answer *ans)
{
	r->outcome = o;
	r->code = code;
	if (ans->error != HC_OK)
		snprintf(r->error, sizeof r->error, "atol %s: %s", what, ans->message);
	else
		snprintf(r->error, sizeof r->error, "atol %s: HTTP %d, error %d %.180s", what, ans->status, code,
			 error_text(ans));
}

static void atol_register(void *st, const struct fiscal_doc *d, struct cashbox_result *r)
{
	struct atol *a = st;
	char err[256] = "", cb[512], path[300];
	snprintf(cb, sizeof cb, "%s/v1/fiscal/callback", a->cfg->public_url);
	char *doc = atol_document(a->cfg, d, d->timestamp, cb, err);
	if (!doc) {
		r->outcome = CB_FAILED;
		snprintf(r->error, sizeof r->error, "the document was not sent: %s", err);
		return;
	}
	snprintf(path, sizeof path, "/possystem/v4/%s/%s", a->cfg->atol_group, d->kind);
	struct answer ans;
	int rc = call_with_token(a, "POST", path, doc, &ans, r);
	free(doc);
	if (rc != 0)
		return;
	int code = error_code(&ans);
	const char *uuid = json_string_value(json_object_get(ans.json, "uuid"));
	bool uuid_ok = uuid && *uuid && strlen(uuid) < sizeof r->uuid;
	if (ans.error == HC_OK && ans.status == 200 && !code && uuid_ok) {
		r->outcome = CB_REGISTERED;
		snprintf(r->uuid, sizeof r->uuid, "%s", uuid);
		r->delay_ms = a->cfg->atol_poll_after_ms;
	} else if (code == 33 && uuid_ok) {
		/* an earlier attempt was registered, its answer lost: that document is ours */
		r->outcome = CB_REGISTERED;
		snprintf(r->uuid, sizeof r->uuid, "%s", uuid);
		r->delay_ms = 1000;
		snprintf(r->error, sizeof r->error, "atol: external_id already registered (33); its uuid adopted");
	} else if (code == 10 || code == 20 || code == 31 || code == 32 || code == 41) {
		set_error(r, CB_FAILED, code, d->kind, &ans);
	} else {
		set_error(r, CB_RETRY, code, d->kind, &ans);    /* 50, 5xx, timeouts, anything unknown */
	}
	json_decref(ans.json);
}

/* Copies a payload string (or number) into a field; false when it is missing. */
static bool field(json_t *payload, const char *key, char *out, size_t outsz)
{
	json_t *v = json_object_get(payload, key);
	if (json_is_string(v) && strlen(json_string_value(v)) < outsz)
		snprintf(out, outsz, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, outsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		return false;
	return true;
}

/* "dd.mm.yyyy HH:MM:SS" -> "yyyy-mm-dd HH:MM:SS"; false when it is not that. */
static bool iso_datetime(const char *s, char out[24])
{
	int dd, mm, yy, h, mi, se;
	char tail;
	if (!s || strlen(s) != 19 || sscanf(s, "%2d.%2d.%4d %2d:%2d:%2d%c", &dd, &mm, &yy, &h, &mi, &se, &tail) != 6 ||
	    dd < 1 || dd > 31 || mm < 1 || mm > 12 || yy < 2000 || h > 23 || mi > 59 || se > 59)
		return false;
	char buf[64];
	snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", yy, mm, dd, h, mi, se);
	memcpy(out, buf, 20);
	return true;
}

static void atol_report(void *st, const struct fiscal_doc *d, struct cashbox_result *r)
{
	struct atol *a = st;
	/* at most one report request per second per group (per gateway: gateways do not coordinate) */
	pthread_mutex_lock(&shared.lock);
	uint64_t now = mono_ms(), next = shared.last_report_ms + REPORT_GAP_MS;
	shared.last_report_ms = now >= next ? now : next;
	pthread_mutex_unlock(&shared.lock);
	if (now < next) {
		struct timespec ts = {(time_t)((next - now) / 1000), (long)((next - now) % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	char path[300];
	snprintf(path, sizeof path, "/possystem/v4/%s/report/%s", a->cfg->atol_group, d->uuid);
	struct answer ans;
	if (call_with_token(a, "GET", path, NULL, &ans, r) != 0)
		return;
	int code = error_code(&ans);
	const char *status = json_string_value(json_object_get(ans.json, "status"));
	json_t *p = json_object_get(ans.json, "payload");
	snprintf(r->uuid, sizeof r->uuid, "%s", d->uuid);
	if (ans.error == HC_OK && status && strcmp(status, "done") == 0 && json_is_object(p)) {
		/* payload.total is a JSON number: jansson would read it as a double, and no floating point
		 * touches money here — the document's total is ours, d->amount, and the fiscal sign vouches
		 * for it */
		bool ok = field(p, "fn_number", r->fn_number, sizeof r->fn_number) &&
			  field(p, "fiscal_document_number", r->fiscal_document_number, sizeof r->fiscal_document_number) &&
			  field(p, "fiscal_document_attribute", r->fiscal_document_attribute,
				sizeof r->fiscal_document_attribute) &&
			  iso_datetime(json_string_value(json_object_get(p, "receipt_datetime")), r->receipt_datetime);
		field(p, "fiscal_receipt_number", r->fiscal_receipt_number, sizeof r->fiscal_receipt_number);
		field(p, "shift_number", r->shift_number, sizeof r->shift_number);
		field(p, "ecr_registration_number", r->ecr_registration_number, sizeof r->ecr_registration_number);
		field(p, "fns_site", r->fns_site, sizeof r->fns_site);
		field(p, "ofd_inn", r->ofd_inn, sizeof r->ofd_inn);
		r->total = d->amount;
		snprintf(r->tz, sizeof r->tz, "%s", a->cfg->receipt_tz);
		if (ok) {
			r->outcome = CB_DONE;
		} else {
			r->outcome = CB_RETRY;    /* a report we cannot read is not trusted: ask again */
			snprintf(r->error, sizeof r->error, "atol report: done, but the payload is incomplete");
		}
	} else if (ans.error == HC_OK && status && strcmp(status, "fail") == 0) {
		set_error(r, CB_FAIL, code, "report (fail)", &ans);
	} else if (ans.error == HC_OK && ((status && strcmp(status, "wait") == 0) || code == 34)) {
		r->outcome = CB_WAIT;
		snprintf(r->error, sizeof r->error, "atol: %s", code == 34 ? "not processed yet (34)" : "wait");
	} else {
		set_error(r, CB_RETRY, code, "report", &ans);
	}
	json_decref(ans.json);
}

const struct cashbox cashbox_atol = {
	.name = "atol",
	.test = false,
	.open = atol_open,
	.close = atol_close,
	.register_doc = atol_register,
	.report = atol_report,
};
