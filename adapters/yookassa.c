/* yookassa.c — YooKassa API v3: bank cards, SberPay, YooMoney and SBP with a redirect
 * confirmation. Protocol facts: ../shared/protocols/README.md section 4.
 *
 * Mapping: POST /payments with Idempotence-Key = our payment id, capture true, payment_method_data
 * by method (card -> bank_card, sberpay -> sberbank, yoomoney -> yoo_money, sbp -> sbp), metadata
 * {payment_id, payment_number}; GET /payments/{id}; POST /refunds with Idempotence-Key = the refund's
 * id. HTTP Basic auth shopId:secretKey on every call.
 *
 * Trust: notifications are not signed. They may be limited to source networks
 * (GATEWAY_YOOKASSA_ALLOW_CIDRS) and they only ever name a payment: the core re-reads it with
 * GET /payments/{id} and acts on that answer alone, whose amount and currency must match ours.
 *
 * Retries: a timeout, broken connection, 5xx, 429 or 202 is repeated with the same Idempotence-Key
 * (YooKassa answers a repeat with the original result), up to three attempts. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "adapter.h"
#include "config.h"
#include "http_client.h"
#include "http_retry.h"
#include "log.h"
#include "money.h"

#define ATTEMPTS 3
#define MAX_CIDRS 32

struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

struct ykassa {
	struct http_client *http;
	struct event_base *base;
	char url[512];              /* base, e.g. https://api.yookassa.ru/v3, without a trailing '/' */
	char *auth;                 /* "Basic base64(shopId:secretKey)" (wiped on fini) */
	int timeout_ms;
	struct cidr cidrs[MAX_CIDRS];
	int ncidrs;                 /* 0: any source */
};

/* ---- set-up ------------------------------------------------------------------------------- */

/* Parses "a.b.c.d/n, x::/n, ..." (a bare address is a /32 or /128). Returns the count or -1. */
static int parse_cidrs(const char *list, struct cidr *out, int max)
{
	int n = 0;
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " ,");
		char item[64];
		if (len >= sizeof item || n == max)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		char *slash = strchr(item, '/');
		if (slash)
			*slash = '\0';
		struct cidr *c = &out[n];
		if (inet_pton(AF_INET, item, c->addr) == 1) {
			c->family = AF_INET;
			c->bits = 32;
		} else if (inet_pton(AF_INET6, item, c->addr) == 1) {
			c->family = AF_INET6;
			c->bits = 128;
		} else {
			return -1;
		}
		if (slash) {
			char *end;
			long b = strtol(slash + 1, &end, 10);
			if (!slash[1] || *end || b < 0 || b > c->bits)
				return -1;
			c->bits = (int)b;
		}
		n++;
	}
	return n;
}

static bool cidr_match(const struct cidr *c, const unsigned char *a)
{
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, a, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (a[full] & mask);
}

static bool peer_allowed(const struct ykassa *k, const char *peer)
{
	if (k->ncidrs == 0)
		return true;
	unsigned char a[16];
	int family;
	if (inet_pton(AF_INET, peer, a) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, peer, a) == 1) {
		family = AF_INET6;
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {          /* ::ffff:a.b.c.d is an IPv4 peer */
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (int i = 0; i < k->ncidrs; i++)
		if (k->cidrs[i].family == family && cidr_match(&k->cidrs[i], a))
			return true;
	return false;
}

static int yk_init(struct adapter_ctx *ctx, char err[256])
{
	const struct config *cfg = ctx->cfg;
	if (!cfg->yookassa_shop_id || !cfg->yookassa_secret_key) {
		snprintf(err, 256, "GATEWAY_YOOKASSA_SHOP_ID and GATEWAY_YOOKASSA_SECRET_KEY are required");
		return -1;
	}
	if (strncmp(cfg->yookassa_url, "https://", 8) != 0 || strlen(cfg->yookassa_url) >= 480) {
		snprintf(err, 256, "GATEWAY_YOOKASSA_URL must be an https:// address");
		return -1;
	}
	if (strchr(cfg->yookassa_shop_id, ':') || strlen(cfg->yookassa_shop_id) > 64 ||
	    strlen(cfg->yookassa_secret_key) > 256) {
		snprintf(err, 256, "GATEWAY_YOOKASSA_SHOP_ID must not contain ':' (and the key must be at most 256 characters)");
		return -1;
	}
	struct ykassa *k = calloc(1, sizeof *k);
	if (!k) {
		snprintf(err, 256, "out of memory");
		return -1;
	}
	if (cfg->yookassa_allow_cidrs &&
	    (k->ncidrs = parse_cidrs(cfg->yookassa_allow_cidrs, k->cidrs, MAX_CIDRS)) < 0) {
		free(k);
		snprintf(err, 256, "GATEWAY_YOOKASSA_ALLOW_CIDRS: expected addresses or networks like 185.71.76.0/27, comma separated");
		return -1;
	}
	char cred[340];
	unsigned char b64[460];
	int n = snprintf(cred, sizeof cred, "%s:%s", cfg->yookassa_shop_id, cfg->yookassa_secret_key);
	EVP_EncodeBlock(b64, (const unsigned char *)cred, n);
	OPENSSL_cleanse(cred, sizeof cred);
	if (asprintf(&k->auth, "Basic %s", b64) < 0)
		k->auth = NULL;
	OPENSSL_cleanse(b64, sizeof b64);
	k->http = k->auth ? http_client_new(ctx->base, cfg->ca_file, 0, err) : NULL;
	if (!k->http) {
		if (!k->auth)
			snprintf(err, 256, "out of memory");
		free(k->auth);
		free(k);
		return -1;
	}
	k->base = ctx->base;
	snprintf(k->url, sizeof k->url, "%s", cfg->yookassa_url);
	for (size_t len = strlen(k->url); len > 0 && k->url[len - 1] == '/'; len--)
		k->url[len - 1] = '\0';
	k->timeout_ms = cfg->provider_timeout_ms;
	ctx->state = k;
	return 0;
}

static void yk_fini(struct adapter_ctx *ctx)
{
	struct ykassa *k = ctx->state;
	if (k) {
		http_client_free(k->http);
		OPENSSL_cleanse(k->auth, strlen(k->auth));
		free(k->auth);
	}
	free(k);
	ctx->state = NULL;
}

/* ---- one operation -------------------------------------------------------------------------- */

enum op_step { ST_CREATE, ST_GET, ST_REFUND };

struct op {
	struct adapter_op base;     /* first: callback, reply, release */
	struct ykassa *k;
	enum op_step step;
	int attempt;
	char method[8];
	char path[200];
	char key[80];               /* Idempotence-Key of a POST */
	char *body;
	int64_t amount;             /* create / refund: what we asked for */
};

static void op_send(struct op *op);

/* Frees what the call added to its adapter_op (the body may hold a password: wiped). */
static void op_release(struct adapter_op *base)
{
	struct op *op = (struct op *)base;
	free(op->body);
}

static void on_http(const struct hc_response *r, int attempts, void *arg);

/* Worth sending again with the same Idempotence-Key: the common rule, or 202 (YooKassa has not
 * finished the request yet and asks to repeat it). */
static bool ykassa_transient(const struct hc_response *r, void *arg)
{
	(void)arg;
	return hc_transient(r) || (r->error == HC_OK && r->status == 202);
}

static void op_send(struct op *op)
{
	char url[720];
	snprintf(url, sizeof url, "%s%s", op->k->url, op->path);
	const char *h[9] = {"Authorization", op->k->auth, "Accept", "application/json"};
	int n = 4;
	if (op->body) {
		h[n++] = "Content-Type";
		h[n++] = "application/json";
		h[n++] = "Idempotence-Key";
		h[n++] = op->key;
	}
	h[n] = NULL;
	struct hc_request rq = {op->method, url, h, op->body, op->body ? strlen(op->body) : 0, op->k->timeout_ms};
	struct hc_retry policy = {ATTEMPTS, 200, ykassa_transient};
	hc_request_retry(op->k->http, &rq, &policy, on_http, op);
}

/* An "amount": {"value": "100.00", "currency": "RUB"} into kopecks / currency; false if malformed. */
static bool read_amount(json_t *o, int64_t *kop, char cur[4])
{
	json_t *a = json_object_get(o, "amount");
	const char *v = json_string_value(json_object_get(a, "value"));
	const char *c = json_string_value(json_object_get(a, "currency"));
	if (!v || !c || strlen(c) != 3 || money_parse(v, kop) != MONEY_OK)
		return false;
	memcpy(cur, c, 4);
	return true;
}

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= 64 &&
	       strspn(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == n;
}

/* Reasons a payer or time ended the payment (canceled); anything else is a decline (failed). */
static bool cancel_not_decline(const char *reason)
{
	return reason && (strcmp(reason, "expired_on_confirmation") == 0 || strcmp(reason, "expired_on_capture") == 0 ||
			  strcmp(reason, "canceled_by_merchant") == 0);
}

/* Only what an operator needs of a payment object: no card data, no payer data. */
static json_t *sanitized(json_t *p, const char *source)
{
	json_t *o = json_pack("{s:s}", "source", source);
	static const char *const keep[] = {"id", "status", "paid", "amount", "created_at", "test", "cancellation_details",
					   "payment_id", NULL};
	for (int i = 0; o && keep[i]; i++) {
		json_t *v = json_object_get(p, keep[i]);
		if (v)
			json_object_set(o, keep[i], v);
	}
	json_t *pm = json_object_get(p, "payment_method");
	if (o && json_is_string(json_object_get(pm, "type")))
		json_object_set(o, "payment_method_type", json_object_get(pm, "type"));
	return o;
}

/* A payment object into op->base.rep (status, amount, currency, code). */
static void read_payment(struct op *op, json_t *p)
{
	const char *st = json_string_value(json_object_get(p, "status"));
	json_t *paid = json_object_get(p, "paid");
	const char *reason = json_string_value(json_object_get(json_object_get(p, "cancellation_details"), "reason"));
	if (!read_amount(p, &op->base.rep.amount, op->base.rep.currency)) {
		op->base.rep.amount = -1;
		op->base.rep.currency[0] = '\0';
	}
	if (!st)
		op->base.rep.status = AS_UNKNOWN;
	else if (strcmp(st, "pending") == 0 || strcmp(st, "waiting_for_capture") == 0)
		op->base.rep.status = AS_PENDING;   /* we always capture; waiting_for_capture would be the shop's setting */
	else if (strcmp(st, "succeeded") == 0)
		op->base.rep.status = json_is_true(paid) ? AS_SUCCEEDED : AS_UNKNOWN;
	else if (strcmp(st, "canceled") == 0)
		op->base.rep.status = cancel_not_decline(reason) ? AS_CANCELED : AS_FAILED;
	else
		op->base.rep.status = AS_UNKNOWN;
	if (reason)
		snprintf(op->base.rep.code, sizeof op->base.rep.code, "yookassa_%.50s", reason);
	snprintf(op->base.rep.message, sizeof op->base.rep.message, "yookassa status %.40s", st ? st : "?");
	adapter_reply_clear(&op->base.rep);
	op->base.rep.raw = sanitized(p, "GET /payments/{id}");
}

static void on_http(const struct hc_response *r, int attempts, void *arg)
{
	struct op *op = arg;
	op->attempt = attempts;
	bool transient = ykassa_transient(r, NULL);
	json_t *j = r->error == HC_OK ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *st = json_string_value(json_object_get(j, "status"));
	const char *ecode = json_string_value(json_object_get(j, "code"));
	char where[64];
	snprintf(where, sizeof where, "yookassa %s %s", op->method, op->step == ST_CREATE ? "/payments" :
						       op->step == ST_GET ? "/payments/{id}" : "/refunds");
	if (transient) {
		adapter_op_fail(&op->base, AO_UNAVAILABLE, "yookassa_unavailable", "%s: %s after %d attempts", where,
			r->error ? r->message : "error answers", op->attempt);
	} else if (r->error != HC_OK) {
		adapter_op_fail(&op->base, AO_ERROR, "yookassa_transport", "%s: %s", where, r->message);
	} else if (r->status != 200 || !j || !valid_id(id) || !st) {
		if (op->step == ST_GET && r->status == 404)
			adapter_op_fail(&op->base, AO_ERROR, "not_found", "%s: no such payment", where);
		else
			adapter_op_fail(&op->base, op->step == ST_REFUND && r->status == 400 ? AO_DECLINED : AO_ERROR,
				ecode ? "yookassa_error" : "yookassa_bad_answer", "%s: HTTP %d %.40s", where, r->status,
				ecode ? ecode : "");
	} else if (op->step == ST_CREATE) {
		const char *url = json_string_value(json_object_get(json_object_get(j, "confirmation"), "confirmation_url"));
		int64_t amount;
		char cur[4];
		if (strcmp(st, "canceled") == 0) {
			const char *reason =
				json_string_value(json_object_get(json_object_get(j, "cancellation_details"), "reason"));
			adapter_op_fail(&op->base, AO_DECLINED, "yookassa_declined", "yookassa canceled the payment: %.60s",
				reason ? reason : "no reason");
		} else if (!read_amount(j, &amount, cur) || amount != op->amount || strcmp(cur, "RUB") != 0) {
			adapter_op_fail(&op->base, AO_ERROR, "amount_mismatch", "yookassa answered another amount or currency");
		} else if (!url || strncmp(url, "https://", 8) != 0 || strlen(url) >= sizeof op->base.rep.confirmation_url) {
			adapter_op_fail(&op->base, AO_ERROR, "no_confirmation", "yookassa gave no redirect confirmation URL");
		} else {
			op->base.rep.status = AS_PENDING;
			op->base.rep.amount = amount;
			memcpy(op->base.rep.currency, cur, 4);
			snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", id);
			snprintf(op->base.rep.confirmation_url, sizeof op->base.rep.confirmation_url, "%s", url);
			op->base.rep.raw = sanitized(j, "POST /payments");
			adapter_op_finish(&op->base, AO_OK);
		}
	} else if (op->step == ST_GET) {
		read_payment(op, j);
		adapter_op_finish(&op->base, AO_OK);
	} else {                        /* a refund object */
		snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", id);
		op->base.rep.raw = sanitized(j, "POST /refunds");
		if (strcmp(st, "succeeded") == 0) {
			op->base.rep.status = AS_SUCCEEDED;
			if (!read_amount(j, &op->base.rep.amount, op->base.rep.currency) || op->base.rep.amount != op->amount)
				log_kv(LOG_WARN, "yookassa refund amount differs from the request", "refund", id, NULL);
			adapter_op_finish(&op->base, AO_OK);
		} else if (strcmp(st, "canceled") == 0) {
			const char *reason =
				json_string_value(json_object_get(json_object_get(j, "cancellation_details"), "reason"));
			adapter_op_fail(&op->base, AO_DECLINED, "yookassa_refund_canceled", "yookassa canceled the refund: %.60s",
				reason ? reason : "no reason");
		} else {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "yookassa_refund_pending", "yookassa has not finished the refund yet");
		}
	}
	json_decref(j);
}

static struct op *op_new(struct adapter_ctx *ctx, enum op_step step, adapter_cb cb, void *arg)
{
	struct op *op = adapter_op_new(sizeof *op, cb, arg, op_release);
	if (op) {
		op->k = ctx->state;
		op->step = step;
	}
	return op;
}

/* ---- the adapter's operations ------------------------------------------------------------------ */

static const char *method_type(const char *m)
{
	if (strcmp(m, "card") == 0)
		return "bank_card";
	if (strcmp(m, "sberpay") == 0)
		return "sberbank";
	if (strcmp(m, "yoomoney") == 0)
		return "yoo_money";
	if (strcmp(m, "sbp") == 0)
		return "sbp";
	return NULL;
}

/* s cut to at most max characters (UTF-8 aware), in buf. */
static const char *utf8_cut(const char *s, size_t max, char *buf, size_t bufsz)
{
	size_t i = 0, chars = 0;
	while (s[i] && chars < max && i + 4 < bufsz) {
		size_t n = 1;
		while ((s[i + n] & 0xC0) == 0x80)
			n++;
		i += n;
		chars++;
	}
	memcpy(buf, s, i);
	buf[i] = '\0';
	return buf;
}

/* With GATEWAY_FISCAL=yookassa YooKassa makes the 54-FZ receipt itself: the request carries its
 * `receipt` (one service item for the whole amount, the buyer's e-mail). NULL when receipts are
 * made elsewhere (or not at all). */
static int vat_code(const char *vat)
{
	static const char *const codes[] = {"none",  "vat0",   "vat10",  "vat20",  "vat110", "vat120",
					    "vat5",  "vat7",   "vat105", "vat107", "vat22",  "vat122"};
	for (size_t i = 0; vat && i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(vat, codes[i]) == 0)
			return (int)i + 1;        /* YooKassa's vat_code: 1 = no VAT, 2 = 0 %, 3 = 10 %, … */
	return 1;
}

static json_t *yk_receipt(const struct config *cfg, const char *email, const char *contract, int64_t amount)
{
	if (strcmp(cfg->fiscal, "yookassa") != 0)
		return NULL;
	char name[520], value[MONEY_BUFSZ];
	if (config_fiscal_item(cfg, contract ? contract : "", name, sizeof name) != 0)
		snprintf(name, sizeof name, "Оплата услуг связи");
	const char *mode = strcmp(cfg->fiscal_payment_method, "prepayment") == 0 ? "partial_prepayment"
			   : cfg->fiscal_payment_method;
	const char *to = email && *email ? email : cfg->seller_email;
	return json_pack("{s:{s:s?},s:[{s:s,s:s,s:{s:s,s:s},s:i,s:s,s:s}]}", "customer", "email", to, "items",
			 "description", name, "quantity", "1.00", "amount", "value", money_format(amount, value),
			 "currency", "RUB", "vat_code", vat_code(cfg->seller_vat), "payment_subject", "service",
			 "payment_mode", mode);
}

/* The request body: b with the receipt (when there is one) as compact JSON; false (the op failed) when
 * out of memory. Takes b and receipt. */
static bool set_body(struct op *op, json_t *b, json_t *receipt)
{
	if (b && receipt)
		json_object_set_new(b, "receipt", receipt);
	else
		json_decref(receipt);
	op->body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!op->body)
		adapter_op_fail(&op->base, AO_UNAVAILABLE, "out_of_memory", "yookassa: out of memory");
	return op->body != NULL;
}

static void yk_create(struct adapter_ctx *ctx, const struct adapter_payment *p, adapter_cb cb, void *arg)
{
	struct op *op = op_new(ctx, ST_CREATE, cb, arg);
	if (!op)
		return;
	const char *type = method_type(p->method);
	if (!type) {
		adapter_op_fail(&op->base, AO_ERROR, "method_unavailable", "yookassa: no such method");
		return;
	}
	char value[MONEY_BUFSZ], number[24], desc[520];
	money_format(p->amount, value);
	snprintf(number, sizeof number, "%lld", p->number);
	json_t *b = json_pack("{s:{s:s,s:s},s:b,s:{s:s,s:s},s:{s:s},s:s,s:{s:s,s:s}}", "amount", "value", value,
			      "currency", "RUB", "capture", 1, "confirmation", "type", "redirect", "return_url",
			      p->return_url, "payment_method_data", "type", type, "description",
			      utf8_cut(p->description ? p->description : "", 128, desc, sizeof desc), "metadata",
			      "payment_id", p->id, "payment_number", number);
	if (!set_body(op, b, yk_receipt(ctx->cfg, p->email, p->contract, p->amount)))
		return;
	op->amount = p->amount;
	snprintf(op->method, sizeof op->method, "POST");
	snprintf(op->path, sizeof op->path, "/payments");
	snprintf(op->key, sizeof op->key, "%s", p->id);
	op_send(op);
}

static void yk_fetch_status(struct adapter_ctx *ctx, const char *provider_id, adapter_cb cb, void *arg)
{
	struct op *op = op_new(ctx, ST_GET, cb, arg);
	if (!op)
		return;
	if (!valid_id(provider_id)) {
		adapter_op_fail(&op->base, AO_ERROR, "not_found", "yookassa: not a payment id");
		return;
	}
	snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", provider_id);
	snprintf(op->method, sizeof op->method, "GET");
	snprintf(op->path, sizeof op->path, "/payments/%s", provider_id);
	op_send(op);
}

static void yk_refund(struct adapter_ctx *ctx, const struct adapter_refund *rf, adapter_cb cb, void *arg)
{
	const char *provider_id = rf->provider_id, *key = rf->key;
	int64_t amount = rf->amount;
	struct op *op = op_new(ctx, ST_REFUND, cb, arg);
	if (!op)
		return;
	if (!valid_id(provider_id) || amount <= 0 || !key || strlen(key) > 64) {
		adapter_op_fail(&op->base, AO_ERROR, "invalid_refund", "yookassa: bad payment id, amount or key");
		return;
	}
	char value[MONEY_BUFSZ];
	money_format(amount, value);
	json_t *b = json_pack("{s:s,s:{s:s,s:s}}", "payment_id", provider_id, "amount", "value", value, "currency", "RUB");
	if (!set_body(op, b, yk_receipt(ctx->cfg, rf->email, rf->contract, rf->amount)))
		return;
	op->amount = amount;
	snprintf(op->method, sizeof op->method, "POST");
	snprintf(op->path, sizeof op->path, "/refunds");
	snprintf(op->key, sizeof op->key, "%s", key);
	op_send(op);
}

/* ---- notifications -------------------------------------------------------------------------- */

static int yk_notification(struct adapter_ctx *ctx, const struct adapter_notification *in, struct adapter_reply *out)
{
	struct ykassa *k = ctx->state;
	if (!peer_allowed(k, in->peer)) {
		log_kv(LOG_WARN, "yookassa notification from a network not in GATEWAY_YOOKASSA_ALLOW_CIDRS", "peer", in->peer,
		       NULL);
		return -1;
	}
	json_t *j = json_loadb(in->body, in->len, JSON_REJECT_DUPLICATES, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *event = json_string_value(json_object_get(j, "event"));
	json_t *obj = json_object_get(j, "object");
	const char *id = NULL;
	if (type && event && strcmp(type, "notification") == 0 && json_is_object(obj)) {
		if (strncmp(event, "payment.", 8) == 0)
			id = json_string_value(json_object_get(obj, "id"));
		else if (strncmp(event, "refund.", 7) == 0)   /* names its payment: the re-read is harmless */
			id = json_string_value(json_object_get(obj, "payment_id"));
	}
	if (!valid_id(id)) {
		json_decref(j);
		return -1;
	}
	out->outcome = AO_OK;
	out->status = AS_UNKNOWN;   /* the message's own word counts for nothing: the core re-reads */
	snprintf(out->provider_id, sizeof out->provider_id, "%s", id);
	out->raw = json_pack("{s:s,s:s}", "event", event, "id", id);
	json_decref(j);
	return 0;
}

static const char *const yk_methods[] = {"card", "sberpay", "yoomoney", "sbp", NULL};

const struct adapter yookassa_adapter = {
	.name = "yookassa",
	.kind = ADAPTER_WALLET,
	.methods = yk_methods,
	.init = yk_init,
	.fini = yk_fini,
	.create = yk_create,
	.notification = yk_notification,
	.fetch_status = yk_fetch_status,
	.refund = yk_refund,
	.routes = NULL,
	.nroutes = 0,
};
