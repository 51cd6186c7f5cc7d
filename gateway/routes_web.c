/* routes_web.c — the website's pay-without-login path: parse and validate, call the accounts and
 * payments services, answer. Provider-specific work happens behind the adapter interface. */
#include "routes_web.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "accounts.h"
#include "fees.h"
#include "crypto.h"
#include "embedded.h"
#include "config.h"
#include "db.h"
#include "ident.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "payments.h"
#include "ratelimit.h"
#include "registry.h"
#include "routes_common.h"

/* ---- account lookup ------------------------------------------------------------------------- */

/* Per-address limits, shared by every event loop: lookups (so numbers cannot be enumerated) and
 * payment creation (so the form cannot be used to flood providers). */
static struct ratelimit *lookup_limiter, *payment_limiter;
static pthread_once_t limiter_once = PTHREAD_ONCE_INIT;
static const struct config *limiter_cfg;

static void limiter_init(void)
{
	lookup_limiter = ratelimit_new(limiter_cfg->lookup_rate, limiter_cfg->lookup_burst, 65536);
	payment_limiter = ratelimit_new(limiter_cfg->payment_rate, limiter_cfg->payment_burst, 65536);
}

/* Takes a token from the limiter for this client; answers 429 and returns false when it is out. */
static bool allowed(struct req *r, bool lookup)
{
	limiter_cfg = req_config(r);
	pthread_once(&limiter_once, limiter_init);
	struct ratelimit *rl = lookup ? lookup_limiter : payment_limiter;
	int retry = 1;
	if (!rl || ratelimit_take_addr(rl, req_client_addr(r), limiter_cfg->ratelimit_v6_prefix, &retry))
		return true;
	char ra[16];
	snprintf(ra, sizeof ra, "%d", retry);
	metrics_add(lookup ? M_RATE_LIMITED_LOOKUP : M_RATE_LIMITED_PAYMENT, 1);
	http_header(r, "Retry-After", ra);
	http_reply_error(r, 429, "rate_limited", "too many %s from your address; try again in %d s",
			 lookup ? "lookups" : "payments", retry);
	return false;
}

static void on_lookup(enum lookup_result res, const struct account_view *v, void *arg)
{
	struct req *r = arg;
	const struct config *cfg = req_config(r);
	switch (res) {
	case LOOKUP_NOT_FOUND:
		http_reply_error(r, 404, "account_not_found", "no subscriber with this contract or phone number");
		return;
	case LOOKUP_AMBIGUOUS:
		http_reply_error(r, 409, "ambiguous_phone", "several contracts share this phone number; enter the contract number");
		return;
	case LOOKUP_UNAVAILABLE:
	case LOOKUP_FAILED:
		http_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "database_unavailable", "the lookup is temporarily unavailable; retry shortly");
		return;
	case LOOKUP_FOUND:
		break;
	}
	char bal[MONEY_BUFSZ], fee[MONEY_BUFSZ], rec[MONEY_BUFSZ], masked[IDENT_CONTRACT_BUFSZ];
	struct civil_date today = fees_today(), until;
	int64_t days = fees_days_left(v->balance, v->monthly_fee, today, &until);
	int64_t recommended = fees_recommended_amount(v->balance, v->monthly_fee, today, cfg->amount_min, cfg->amount_max);
	ident_mask_contract(v->contract, masked, sizeof masked);   /* a phone lookup must not reveal it whole */
	bool payable = strcmp(v->status, "closed") != 0;
	struct jsonw j;             /* the hot path: written directly, no jansson tree */
	jw_init(&j);
	jw_obj_begin(&j, NULL);
	jw_str(&j, "contract", masked);
	jw_str(&j, "holder", v->holder_masked);
	jw_str(&j, "status", v->status);
	jw_bool(&j, "payable", payable);
	jw_str(&j, "balance", money_format(v->balance, bal));
	jw_str(&j, "monthly_fee", money_format(v->monthly_fee, fee));
	if (days < 0) {
		jw_null(&j, "days_left");
		jw_null(&j, "paid_until");
	} else {
		char date[16];
		snprintf(date, sizeof date, "%04d-%02d-%02d", until.y, until.m, until.d);
		jw_int(&j, "days_left", days);
		jw_str(&j, "paid_until", date);
	}
	jw_str(&j, "recommended_amount", money_format(recommended, rec));
	if (strcmp(v->status, "suspended") == 0)
		jw_str(&j, "message", "Услуги приостановлены. Пополните баланс, чтобы возобновить их.");
	else if (!payable)
		jw_str(&j, "message", "Договор расторгнут: пополнение невозможно.");
	jw_obj_end(&j);
	http_reply_jw(r, 200, &j);
}

/* Reads exactly one of contract / phone from the query (or a JSON "account" object) into the
 * normalised forms; answers 400 and returns false on anything else. */
static bool account_ref(struct req *r, const char *contract, const char *phone, char c_out[IDENT_CONTRACT_BUFSZ],
			char p_out[IDENT_PHONE_BUFSZ])
{
	c_out[0] = p_out[0] = '\0';
	if ((contract != NULL) == (phone != NULL)) {
		http_reply_error(r, 400, "invalid_account", "give either a contract number or a phone number");
		return false;
	}
	if (contract && ident_contract_normalize(contract, c_out) != IDENT_OK) {
		http_reply_error(r, 400, "invalid_contract", "a contract number is 9 digits, e.g. 123456789");
		return false;
	}
	if (phone && ident_phone_normalize(phone, p_out) != IDENT_OK) {
		http_reply_error(r, 400, "invalid_phone", "not a Russian phone number; e.g. +7 913 123-45-67");
		return false;
	}
	return true;
}

void h_account_lookup(struct req *r)
{
	const char *contract, *phone;
	if (req_query(r, "contract", &contract) != 0 || req_query(r, "phone", &phone) != 0) {
		http_reply_error(r, 400, "invalid_account", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (!allowed(r, true))         /* every attempt counts, well-formed or not */
		return;
	char c[IDENT_CONTRACT_BUFSZ], p[IDENT_PHONE_BUFSZ];
	if (!account_ref(r, contract, phone, c, p))
		return;
	accounts_lookup(req_db(r), c[0] ? c : NULL, p[0] ? p : NULL, on_lookup, r);
}

/* ---- payments ----------------------------------------------------------------------------- */

static void on_payment_answer(const struct payment_answer *a, void *arg)
{
	if (a->status == 201 && !a->replay)
		metrics_add(M_PAYMENTS_CREATED, 1);
	if (a->status == 502 && !a->replay)
		metrics_add(M_PAYMENTS_PROVIDER_FAILED, 1);
	reply_payment_answer(arg, a);
}

/* return_url must be http(s) on one of GATEWAY_RETURN_HOSTS (no open redirect through us). */
static bool return_url_allowed(const char *url, const char *hosts)
{
	if (strlen(url) > PAYMENT_URL_MAX)
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
	if (!u)
		return false;
	const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u);
	bool ok = scheme && host && *host && (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0) &&
		  !evhttp_uri_get_userinfo(u) && adapter_enabled(hosts, host);
	evhttp_uri_free(u);
	return ok;
}

static const char *string_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

void h_payment_create(struct req *r)
{
	const struct config *cfg = req_config(r);
	const char *key = req_header(r, "Idempotency-Key");
	if (!key) {
		http_reply_error(r, 400, "idempotency_key_required",
				 "send an Idempotency-Key header (8-128 characters: letters, digits, - _ . :)");
		return;
	}
	if (!payments_key_valid(key)) {
		http_reply_error(r, 400, "invalid_idempotency_key",
				 "the Idempotency-Key must be 8-128 characters: letters, digits, - _ . :");
		return;
	}
	if (!allowed(r, false))
		return;
	json_t *body = req_json(r);
	if (!body)
		return;
	struct payment_create in;
	memset(&in, 0, sizeof in);
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "account") && strcmp(k, "amount") && strcmp(k, "method") && strcmp(k, "email") &&
		    strcmp(k, "return_url")) {
			http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", k);
			goto out;
		}
	}
	json_t *acc = json_object_get(body, "account");
	if (!json_is_object(acc) || json_object_size(acc) != 1 ||
	    (!json_object_get(acc, "contract") && !json_object_get(acc, "phone"))) {
		http_reply_error(r, 400, "invalid_account", "account must be {\"contract\": \"…\"} or {\"phone\": \"…\"}");
		goto out;
	}
	const char *contract = json_object_get(acc, "contract") ? string_field(acc, "contract") : NULL;
	const char *phone = json_object_get(acc, "phone") ? string_field(acc, "phone") : NULL;
	if (!contract && !phone) {
		http_reply_error(r, 400, "invalid_account", "the contract or phone must be a string");
		goto out;
	}
	if (!account_ref(r, contract, phone, in.contract, in.phone))
		goto out;

	const char *amount = string_field(body, "amount");
	if (!amount) {
		http_reply_error(r, 400, "invalid_amount", "amount is required as a string of roubles, e.g. \"500.00\"");
		goto out;
	}
	enum money_err me = money_parse(amount, &in.amount);
	if (me != MONEY_OK) {
		http_reply_error(r, 400, "invalid_amount", "amount: %s", money_strerror(me));
		goto out;
	}
	if (in.amount < cfg->amount_min || in.amount > cfg->amount_max) {
		char lo[MONEY_BUFSZ], hi[MONEY_BUFSZ];
		http_reply_error(r, 400, "amount_out_of_range", "the amount must be from %s to %s roubles",
				 money_format(cfg->amount_min, lo), money_format(cfg->amount_max, hi));
		goto out;
	}
	const char *method = string_field(body, "method");
	if (!method || strlen(method) >= sizeof in.method) {
		http_reply_error(r, 400, "invalid_method", "method is required: card, sberpay, yoomoney or sbp");
		goto out;
	}
	const struct adapter *a = adapter_for_method(cfg->adapters, method);
	struct adapter_ctx *ctx = a ? req_adapter_ctx(r, a) : NULL;
	if (!ctx) {
		http_reply_error(r, 400, "method_unavailable", "the payment method \"%s\" is not available", method);
		goto out;
	}
	snprintf(in.method, sizeof in.method, "%s", method);
	const char *email = string_field(body, "email");
	if (!email || !ident_email_valid(email)) {
		http_reply_error(r, 400, "invalid_email", "a valid email address is required for the receipt");
		goto out;
	}
	snprintf(in.email, sizeof in.email, "%s", email);
	const char *ret = string_field(body, "return_url");
	if (!ret || !return_url_allowed(ret, cfg->return_hosts)) {
		http_reply_error(r, 400, "invalid_return_url",
				 "return_url must be an http(s) address on an allowed host (%s)", cfg->return_hosts);
		goto out;
	}
	snprintf(in.return_url, sizeof in.return_url, "%s", ret);
	snprintf(in.idempotency_key, sizeof in.idempotency_key, "%s", key);
	if (payments_request_hash(body, in.request_hash) != 0) {
		http_reply_error(r, 400, "invalid_json", "the body could not be read");
		goto out;
	}
	payments_create(req_db(r), ctx, cfg, &in, on_payment_answer, r);
out:
	json_decref(body);
}

void h_payment_get(struct req *r)
{
	const char *id = req_param(r, 0);
	if (!id || !ident_uuid_valid(id)) {
		http_reply_error(r, 404, "payment_not_found", "no payment with this id");
		return;
	}
	payments_view(req_db(r), req_config(r), id, on_payment_answer, r);
}

/* ---- provider notifications ------------------------------------------------------------------ */

struct notify_op {
	struct req *r;
	const struct adapter *a;
};

static void on_verdict(struct adapter_reply *rep, void *arg)
{
	struct notify_op *n = arg;
	struct req *r = n->r;
	if (rep->outcome != AO_OK) {
		/* could not re-read the payment from the provider: ask it to repeat the notification */
		http_header(r, "Retry-After", "30");
		http_reply_error(r, 503, "provider_unavailable", "the payment status could not be confirmed; repeat later");
	} else {
		payments_apply(req_db(r), n->a->name, rep, "notification", on_payment_answer, r);
	}
	adapter_reply_clear(rep);
	free(n);
}

void h_notification(struct req *r)
{
	const struct adapter *a = adapter_find(req_param(r, 0));
	struct adapter_ctx *ctx = a ? req_adapter_ctx(r, a) : NULL;
	if (!ctx || !a->notification) {
		http_reply_error(r, 404, "unknown_adapter", "no enabled payment adapter of this name");
		return;
	}
	struct adapter_notification in;
	in.body = req_body(r, &in.len);
	in.content_type = req_header(r, "Content-Type");
	in.query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
	in.peer = r->peer;
	in.header = req_header;
	in.req = r;
	struct adapter_reply rep;
	memset(&rep, 0, sizeof rep);
	rep.amount = -1;
	if (a->notification(ctx, &in, &rep) != 0) {
		adapter_reply_clear(&rep);
		metrics_add(M_NOTIFY_REJECTED, 1);
		log_kv(LOG_WARN, "notification rejected", "adapter", a->name, "peer", r->peer, "rid", r->rid, NULL);
		http_reply_error(r, 401, "invalid_notification", "the notification could not be verified");
		return;
	}
	struct notify_op *n = malloc(sizeof *n);
	if (!n) {
		adapter_reply_clear(&rep);
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	n->r = r;
	n->a = a;
	if (a->fetch_status) {
		/* never trust the message itself when the provider can be asked: re-read the status */
		char id[sizeof rep.provider_id];
		snprintf(id, sizeof id, "%s", rep.provider_id);
		adapter_reply_clear(&rep);
		a->fetch_status(ctx, id, on_verdict, n);
	} else {
		on_verdict(&rep, n);
	}
}

/* ---- the pay form: methods and static assets ---------------------------------------------- */

void h_payment_methods(struct req *r)
{
	const struct config *cfg = req_config(r);
	static const char *const all[] = {"card", "sberpay", "yoomoney", "sbp"};
	json_t *methods = json_array();
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		const struct adapter *a = adapter_for_method(cfg->adapters, all[i]);
		if (a && req_adapter_ctx(r, a))
			json_array_append_new(methods, json_string(all[i]));
	}
	char lo[MONEY_BUFSZ], hi[MONEY_BUFSZ];
	http_reply_json(r, 200, json_pack("{s:o,s:s,s:s}", "methods", methods, "amount_min",
					  money_format(cfg->amount_min, lo), "amount_max", money_format(cfg->amount_max, hi)));
}

static char etags[64][20];
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void etags_init(void)
{
	for (size_t i = 0; i < web_assets_count && i < 64; i++) {
		char h[65];
		if (crypto_hmac_sha256_hex("etag", 4, web_assets[i].data, web_assets[i].len, h) == 0)
			snprintf(etags[i], sizeof etags[i], "\"%.16s\"", h);
	}
}

void web_page_headers(struct req *r)
{
	http_header(r, "Content-Security-Policy",
		    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
		    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	http_header(r, "Referrer-Policy", "same-origin");
	http_header(r, "X-Frame-Options", "DENY");
}

void web_send_asset(struct req *r, const char *name)
{
	pthread_once(&etags_once, etags_init);
	for (size_t i = 0; i < web_assets_count && i < 64; i++) {
		const struct embedded_file *f = &web_assets[i];
		if (strcmp(f->name, name) != 0)
			continue;
		const char *ext = strrchr(name, '.');
		const char *type = !ext ? "application/octet-stream"
				   : strcmp(ext, ".html") == 0 ? "text/html; charset=utf-8"
				   : strcmp(ext, ".css") == 0	? "text/css; charset=utf-8"
				   : strcmp(ext, ".js") == 0	? "text/javascript; charset=utf-8"
								: "application/octet-stream";
		http_header(r, "Cache-Control", "no-cache");
		http_header(r, "ETag", etags[i]);
		web_page_headers(r);
		const char *inm = req_header(r, "If-None-Match");
		if (inm && strcmp(inm, etags[i]) == 0) {
			http_reply_raw(r, 304, type, "", 0);
			return;
		}
		http_reply_raw(r, 200, type, f->data, f->len);
		return;
	}
	http_reply_error(r, 404, "not_found", "there is nothing at this address");
}

void h_pay_form(struct req *r) { web_send_asset(r, "pay.html"); }
void h_pay_result(struct req *r) { web_send_asset(r, "result.html"); }

void h_pay_asset(struct req *r)
{
	const char *name = req_param(r, 0);
	/* only the form's own scripts and styles; the HTML pages have their own addresses */
	const char *ext = name ? strrchr(name, '.') : NULL;
	if (!ext || (strcmp(ext, ".js") != 0 && strcmp(ext, ".css") != 0)) {
		http_reply_error(r, 404, "not_found", "there is nothing at this address");
		return;
	}
	web_send_asset(r, name);
}
