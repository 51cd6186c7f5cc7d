/* rbs.c — the RBS acquiring gateway (the register.do / getOrderStatusExtended.do / refund.do REST
 * protocol of Sberbank, Alfa-Bank and others) for card payments. Protocol facts:
 * ../shared/protocols/README.md section 3.
 *
 * Mapping: orderNumber = our payment id without dashes (RBS allows 32 characters), amount in
 * kopecks, currency 643; dynamicCallbackUrl points at /v1/notifications/rbs; sessionTimeoutSecs is
 * GATEWAY_PENDING_EXPIRE so the bank's page dies before the janitor gives the payment up.
 *
 * Trust: a callback counts only with a valid checksum (uppercase hex HMAC-SHA256 of the sorted
 * "name;value;" pairs, compared in constant time); even then it only names the order — the core
 * re-reads getOrderStatusExtended.do before anything is booked.
 *
 * Retries: register.do is repeated (same orderNumber) after a timeout, a broken connection, a 5xx or
 * errorCode 7; if a repeat finds the number taken (errorCode 1), the earlier attempt registered the
 * order but its answer (and so the payer's form URL) is lost: the payment fails cleanly and the
 * unpaid order expires at the bank. refund.do has no idempotence key: the adapter first reads the
 * bank's refunded total (paymentAmountInfo.refundedAmount) and compares it with what we booked —
 * already covering this refund means an earlier attempt went through (it is confirmed, not sent
 * again); more than we booked otherwise means someone refunded behind our back (refused, for an
 * operator). After an unclear refund.do it reads the total again before anything is resent, so a
 * refund is never sent twice blindly. */
#include "rbs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "adapter.h"
#include "config.h"
#include "crypto.h"
#include "http_client.h"
#include "http_retry.h"
#include "log.h"

#define ATTEMPTS 3              /* per call: the first try and two repeats */
#define MAX_PARAMS 64

struct rbs {
	struct http_client *http;
	struct event_base *base;
	const char *user;
	const char *password;
	const char *key;            /* callback checksum key */
	char url[512];              /* base, without a trailing '/' */
	char callback_url[600];
	int timeout_ms;
	long session_timeout;
};

/* ---- checksum ------------------------------------------------------------------------------ */

static int cmp_kv(const void *a, const void *b)
{
	const struct evkeyval *x = *(const struct evkeyval *const *)a, *y = *(const struct evkeyval *const *)b;
	return strcmp(x->key, y->key);
}

int rbs_checksum(const struct evkeyvalq *params, const char *key, char out[65])
{
	const struct evkeyval *v[MAX_PARAMS];
	size_t n = 0;
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, params, next) {
		if (strcmp(kv->key, "checksum") == 0 || strcmp(kv->key, "sign_alias") == 0)
			continue;
		if (n == MAX_PARAMS)
			return -1;
		v[n++] = kv;
	}
	if (n == 0)
		return -1;
	qsort(v, n, sizeof v[0], cmp_kv);
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s;%s;", v[i]->key, v[i]->value);
	if (fclose(f) != 0) {
		free(s);
		return -1;
	}
	int rc = crypto_hmac_sha256_hex(key, strlen(key), s, len, out);
	free(s);
	for (char *p = out; rc == 0 && *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	return rc;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int rbs_init(struct adapter_ctx *ctx, char err[256])
{
	const struct config *cfg = ctx->cfg;
	if (!cfg->rbs_url || !cfg->rbs_user || !cfg->rbs_password || !cfg->rbs_callback_key) {
		snprintf(err, 256, "GATEWAY_RBS_URL, GATEWAY_RBS_USER, GATEWAY_RBS_PASSWORD and GATEWAY_RBS_CALLBACK_KEY are required");
		return -1;
	}
	if (strncmp(cfg->rbs_url, "https://", 8) != 0 || strlen(cfg->rbs_url) >= 480) {
		snprintf(err, 256, "GATEWAY_RBS_URL must be an https:// address");
		return -1;
	}
	if (strlen(cfg->rbs_callback_key) < 16) {
		snprintf(err, 256, "GATEWAY_RBS_CALLBACK_KEY must be at least 16 characters");
		return -1;
	}
	struct rbs *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, 256, "out of memory");
		return -1;
	}
	s->http = http_client_new(ctx->base, cfg->ca_file, 0, err);
	if (!s->http) {
		free(s);
		return -1;
	}
	s->base = ctx->base;
	s->user = cfg->rbs_user;
	s->password = cfg->rbs_password;
	s->key = cfg->rbs_callback_key;
	snprintf(s->url, sizeof s->url, "%s", cfg->rbs_url);
	for (size_t n = strlen(s->url); n > 0 && s->url[n - 1] == '/'; n--)
		s->url[n - 1] = '\0';
	snprintf(s->callback_url, sizeof s->callback_url, "%s/v1/notifications/rbs", cfg->public_url);
	s->timeout_ms = cfg->provider_timeout_ms;
	s->session_timeout = cfg->pending_expire;
	ctx->state = s;
	return 0;
}

static void rbs_fini(struct adapter_ctx *ctx)
{
	struct rbs *s = ctx->state;
	if (s)
		http_client_free(s->http);
	free(s);
	ctx->state = NULL;
}

/* ---- one operation: a state machine over HTTP calls ------------------------------------------ */

enum op_step {
	ST_REGISTER,                /* create: register.do */
	ST_STATUS,                  /* fetch_status: getOrderStatusExtended.do */
	ST_REFUND_READ,             /* refund: the refunded total before */
	ST_REFUND,                  /* refund: refund.do */
	ST_REFUND_CHECK,            /* refund: the refunded total after an unclear outcome */
};

struct op {
	struct adapter_op base;     /* first: callback, reply, release */
	struct rbs *s;
	enum op_step step;
	int attempt;                /* sends of the last call (http_retry) */
	int refund_tries;           /* refund.do calls sent */
	char *form;                 /* the current call's body (holds the password: wiped before free) */
	const char *endpoint;
	char order_id[129];
	int64_t amount;             /* create: ours; refund: the refund's */
	int64_t refunded_before;    /* refund: the bank's refunded total before refund.do; -1 = not said */
	int64_t booked_refunded;    /* refund: what we have booked as refunded before this refund */
};

static void op_send(struct op *op);

/* Frees what the call added to its adapter_op (the body may hold a password: wiped). */
static void op_release(struct adapter_op *base)
{
	struct op *op = (struct op *)base;
	if (op->form) {
		OPENSSL_cleanse(op->form, strlen(op->form));
		free(op->form);
	}
}

/* Starts a call: body = credentials + the given pairs (name, value, ..., NULL). */
static int op_call(struct op *op, enum op_step step, const char *endpoint, ...)
{
	if (op->form) {
		OPENSSL_cleanse(op->form, strlen(op->form));
		free(op->form);
		op->form = NULL;
	}
	op->step = step;
	op->endpoint = endpoint;
	int rc = hc_form_add(&op->form, "userName", op->s->user) | hc_form_add(&op->form, "password", op->s->password);
	va_list ap;
	va_start(ap, endpoint);
	for (const char *k; rc == 0 && (k = va_arg(ap, const char *));) {
		const char *v = va_arg(ap, const char *);
		rc |= hc_form_add(&op->form, k, v);
	}
	va_end(ap);
	if (rc != 0) {
		adapter_op_fail(&op->base, AO_UNAVAILABLE, "out_of_memory", "rbs: out of memory");
		return -1;
	}
	op_send(op);
	return 0;
}

/* A JSON member as text: strings as they are, integers printed ("" when absent or another type). */
static const char *jtext(json_t *o, const char *key, char *buf, size_t bufsz)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		snprintf(buf, bufsz, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, bufsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		buf[0] = '\0';
	return buf;
}

/* A JSON member as kopecks (integer or digit string); -1 when absent or malformed. */
static int64_t jkop(json_t *o, const char *key)
{
	char b[32];
	jtext(o, key, b, sizeof b);
	if (!*b || strlen(b) > 15 || strspn(b, "0123456789") != strlen(b))
		return -1;
	return (int64_t)strtoll(b, NULL, 10);
}

static void on_http(const struct hc_response *r, int attempts, void *arg);

/* Worth sending again unchanged: the common rule, or the bank's "system error" (errorCode 7) which
 * asks for a repeat. */
static bool rbs_transient(const struct hc_response *r, void *arg)
{
	(void)arg;
	if (hc_transient(r))
		return true;
	if (r->error != HC_OK || r->status != 200)
		return false;
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	char ec[16];
	bool again = json_is_object(j) && strcmp(jtext(j, "errorCode", ec, sizeof ec), "7") == 0;
	json_decref(j);
	return again;
}

static void op_send(struct op *op)
{
	char url[600];
	snprintf(url, sizeof url, "%s/payment/rest/%s", op->s->url, op->endpoint);
	const char *h[] = {"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json", NULL};
	struct hc_request rq = {"POST", url, h, op->form, strlen(op->form), op->s->timeout_ms};
	/* refund.do is never repeated blindly: an unclear outcome is settled by reading the order */
	struct hc_retry policy = {op->step == ST_REFUND ? 1 : ATTEMPTS, 200, rbs_transient};
	hc_request_retry(op->s->http, &rq, &policy, on_http, op);
}

/* The order's state from a getOrderStatusExtended.do answer into op->base.rep. */
static void read_status(struct op *op, json_t *j)
{
	char st[16], ac[16], cur[8], num[64];
	jtext(j, "orderStatus", st, sizeof st);
	jtext(j, "actionCode", ac, sizeof ac);
	jtext(j, "currency", cur, sizeof cur);
	jtext(j, "orderNumber", num, sizeof num);
	int s = *st && strspn(st, "0123456789") == strlen(st) ? atoi(st) : -1;
	switch (s) {
	case 0:                     /* registered, not paid */
	case 1:                     /* pre-authorised (we register one-stage payments) */
	case 5:                     /* 3-D Secure in progress */
		op->base.rep.status = AS_PENDING;
		break;
	case 2:                     /* deposited */
		op->base.rep.status = AS_SUCCEEDED;
		break;
	case 3:                     /* authorisation cancelled */
		op->base.rep.status = AS_CANCELED;
		break;
	case 6:                     /* declined */
		op->base.rep.status = AS_FAILED;
		break;
	default:                    /* 4 refunded (or anything new): not for the state machine to guess */
		op->base.rep.status = AS_UNKNOWN;
		break;
	}
	op->base.rep.amount = jkop(j, "amount");
	/* ISO 4217 numeric: 643 is the rouble; anything else (or malformed) must not match "RUB" */
	snprintf(op->base.rep.currency, sizeof op->base.rep.currency, "%.3s", strcmp(cur, "643") == 0 ? "RUB" : *cur ? cur : "");
	if (op->base.rep.status == AS_FAILED || op->base.rep.status == AS_CANCELED)
		snprintf(op->base.rep.code, sizeof op->base.rep.code, "rbs_action_%s", *ac ? ac : "unknown");
	snprintf(op->base.rep.message, sizeof op->base.rep.message, "rbs orderStatus %s actionCode %s", *st ? st : "?",
		 *ac ? ac : "?");
	adapter_reply_clear(&op->base.rep);
	/* only what an operator needs: no card holder, no masked card, no payer data */
	op->base.rep.raw = json_pack("{s:s,s:s,s:s,s:s,s:s}", "orderNumber", num, "orderStatus", st, "actionCode", ac,
				"currency", cur, "source", "getOrderStatusExtended");
	if (op->base.rep.raw && op->base.rep.amount >= 0)
		json_object_set_new(op->base.rep.raw, "amount", json_integer(op->base.rep.amount));
}

/* The refunded total in a status answer (paymentAmountInfo.refundedAmount), -1 when absent. */
static int64_t refunded_total(json_t *j)
{
	return jkop(json_object_get(j, "paymentAmountInfo"), "refundedAmount");
}

/* The refund went through. */
static void refund_done(struct op *op, const char *source)
{
	op->base.rep.status = AS_SUCCEEDED;
	op->base.rep.amount = op->amount;
	snprintf(op->base.rep.currency, sizeof op->base.rep.currency, "RUB");
	snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", op->order_id);
	op->base.rep.raw = json_pack("{s:s,s:s,s:I}", "source", source, "orderId", op->order_id, "amount", (json_int_t)op->amount);
	adapter_op_finish(&op->base, AO_OK);
}

static void on_http(const struct hc_response *r, int attempts, void *arg)
{
	struct op *op = arg;
	op->attempt = attempts;
	bool transient = hc_transient(r);
	json_t *j = NULL;
	char ec[16] = "";
	if (r->error == HC_OK && r->status == 200) {
		j = json_loadb(r->body, r->len, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			j = NULL;
			transient = false;
		} else {
			jtext(j, "errorCode", ec, sizeof ec);
			if (strcmp(ec, "7") == 0)          /* "system error": the bank asks to repeat */
				transient = true;
		}
	}
	bool ok = j && (!*ec || strcmp(ec, "0") == 0);
	char em[160] = "";
	if (j)
		jtext(j, "errorMessage", em, sizeof em);

	switch (op->step) {
	case ST_REGISTER: {
		const char *oid = ok ? json_string_value(json_object_get(j, "orderId")) : NULL;
		const char *url = ok ? json_string_value(json_object_get(j, "formUrl")) : NULL;
		if (oid && url && *oid && strlen(oid) < sizeof op->base.rep.provider_id && strncmp(url, "https://", 8) == 0 &&
		    strlen(url) < sizeof op->base.rep.confirmation_url) {
			op->base.rep.status = AS_PENDING;
			op->base.rep.amount = op->amount;
			snprintf(op->base.rep.currency, sizeof op->base.rep.currency, "RUB");
			snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", oid);
			snprintf(op->base.rep.confirmation_url, sizeof op->base.rep.confirmation_url, "%s", url);
			op->base.rep.raw = json_pack("{s:s,s:s}", "orderId", oid, "source", "register");
			adapter_op_finish(&op->base, AO_OK);
		} else if (transient) {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "rbs_unavailable", "rbs register.do: %s after %d attempts",
				r->error ? r->message : "error answers", op->attempt);
		} else if (strcmp(ec, "1") == 0 && op->attempt > 1) {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "rbs_answer_lost",
				"rbs register.do: an earlier attempt registered the order but its answer was lost");
		} else if (r->error != HC_OK) {
			adapter_op_fail(&op->base, AO_ERROR, "rbs_transport", "rbs register.do: %s", r->message);
		} else {
			adapter_op_fail(&op->base, AO_ERROR, *ec ? "rbs_error" : "rbs_bad_answer", "rbs register.do: HTTP %d errorCode %s %s",
				r->status, *ec ? ec : "-", em);
		}
		break;
	}
	case ST_STATUS:
		if (ok) {
			read_status(op, j);
			adapter_op_finish(&op->base, AO_OK);
		} else if (transient) {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "rbs_unavailable", "rbs getOrderStatusExtended.do: %s",
				r->error ? r->message : "error answers");
		} else if (strcmp(ec, "6") == 0) {
			adapter_op_fail(&op->base, AO_ERROR, "not_found", "rbs: no such order");
		} else {
			adapter_op_fail(&op->base, AO_ERROR, "rbs_error", "rbs getOrderStatusExtended.do: HTTP %d errorCode %s %s", r->status,
				*ec ? ec : "-", r->error ? r->message : em);
		}
		break;
	case ST_REFUND_READ: {
		if (!ok) {
			adapter_op_fail(&op->base, transient ? AO_UNAVAILABLE : AO_ERROR, transient ? "rbs_unavailable" : "rbs_error",
				"rbs: the order could not be read before the refund (errorCode %s)", *ec ? ec : "-");
			break;
		}
		char st[8];
		jtext(j, "orderStatus", st, sizeof st);
		if (strcmp(st, "2") != 0 && strcmp(st, "4") != 0) {
			adapter_op_fail(&op->base, AO_DECLINED, "not_refundable", "rbs: the order is in status %s, not paid", *st ? st : "?");
			break;
		}
		op->refunded_before = refunded_total(j);
		if (op->refunded_before >= op->booked_refunded + op->amount) {
			/* an earlier attempt of this very refund went through but was never booked: book it now */
			refund_done(op, "refund.do (earlier attempt, confirmed by status)");
			break;
		}
		if (op->refunded_before > op->booked_refunded) {
			adapter_op_fail(&op->base, AO_DECLINED, "refund_total_mismatch",
				"rbs: the bank has refunded %" PRId64 " kopecks, we booked %" PRId64 ": reconcile first",
				op->refunded_before, op->booked_refunded);
			break;
		}
		{
			char amt[24];
			snprintf(amt, sizeof amt, "%" PRId64, op->amount);
			op->refund_tries++;
			op_call(op, ST_REFUND, "refund.do", "orderId", op->order_id, "amount", amt, NULL);
		}
		break;
	}
	case ST_REFUND:
		if (ok) {
			refund_done(op, "refund.do");
		} else if (transient && op->refunded_before >= 0) {
			/* unclear: ask the bank whether it happened before anything is sent again */
			op_call(op, ST_REFUND_CHECK, "getOrderStatusExtended.do", "orderId", op->order_id, NULL);
		} else if (transient) {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "rbs_unavailable", "rbs refund.do: %s; the outcome is unknown",
				r->error ? r->message : "error answer");
		} else {
			adapter_op_fail(&op->base, AO_DECLINED, "rbs_refund_refused", "rbs refund.do: HTTP %d errorCode %s %s", r->status,
				*ec ? ec : "-", r->error ? r->message : em);
		}
		break;
	case ST_REFUND_CHECK: {
		int64_t now = ok ? refunded_total(j) : -1;
		if (now >= 0 && now >= op->refunded_before + op->amount) {
			refund_done(op, "refund.do (confirmed by status)");
		} else if (now == op->refunded_before && op->refund_tries < ATTEMPTS) {
			char amt[24];
			snprintf(amt, sizeof amt, "%" PRId64, op->amount);
			op->refund_tries++;
			op_call(op, ST_REFUND, "refund.do", "orderId", op->order_id, "amount", amt, NULL);
		} else {
			adapter_op_fail(&op->base, AO_UNAVAILABLE, "rbs_unavailable", "rbs refund.do: the outcome is unknown");
		}
		break;
	}
	}
	json_decref(j);
}

static struct op *op_new(struct adapter_ctx *ctx, adapter_cb cb, void *arg)
{
	struct op *op = adapter_op_new(sizeof *op, cb, arg, op_release);
	if (op) {
		op->s = ctx->state;
		op->refunded_before = -1;
	}
	return op;
}

/* ---- the adapter's operations ------------------------------------------------------------------ */

static void rbs_create(struct adapter_ctx *ctx, const struct adapter_payment *p, adapter_cb cb, void *arg)
{
	struct op *op = op_new(ctx, cb, arg);
	if (!op)
		return;
	struct rbs *s = op->s;
	char number[40], amount[24], timeout[16];
	size_t n = 0;
	for (const char *c = p->id; *c && n + 1 < sizeof number; c++)
		if (*c != '-')
			number[n++] = *c;
	number[n] = '\0';
	snprintf(amount, sizeof amount, "%" PRId64, p->amount);
	snprintf(timeout, sizeof timeout, "%ld", s->session_timeout);
	char params[160];
	snprintf(params, sizeof params, "{\"payment_id\":\"%s\",\"payment_number\":\"%lld\"}", p->id, p->number);
	op->amount = p->amount;
	op_call(op, ST_REGISTER, "register.do", "orderNumber", number, "amount", amount, "currency", "643", "returnUrl",
		p->return_url, "failUrl", p->return_url, "description", p->description ? p->description : "", "language",
		"ru", "sessionTimeoutSecs", timeout, "jsonParams", params, "dynamicCallbackUrl", s->callback_url, NULL);
}

static bool valid_order_id(const char *id)
{
	size_t n = strlen(id);
	return n > 0 && n < 129 && strspn(id, "0123456789abcdefABCDEF-_") == n;
}

static void rbs_fetch_status(struct adapter_ctx *ctx, const char *provider_id, adapter_cb cb, void *arg)
{
	struct op *op = op_new(ctx, cb, arg);
	if (!op)
		return;
	if (!valid_order_id(provider_id)) {
		adapter_op_fail(&op->base, AO_ERROR, "not_found", "rbs: not an order id");
		return;
	}
	snprintf(op->base.rep.provider_id, sizeof op->base.rep.provider_id, "%s", provider_id);
	op_call(op, ST_STATUS, "getOrderStatusExtended.do", "orderId", provider_id, NULL);
}

/* refund.do has no idempotence key (rf->key is unused): see the top of the file. */
static void rbs_refund(struct adapter_ctx *ctx, const struct adapter_refund *rf, adapter_cb cb, void *arg)
{
	struct op *op = op_new(ctx, cb, arg);
	if (!op)
		return;
	if (!valid_order_id(rf->provider_id) || rf->amount <= 0 || rf->refunded < 0) {
		adapter_op_fail(&op->base, AO_ERROR, "invalid_refund", "rbs: bad order id or amount");
		return;
	}
	snprintf(op->order_id, sizeof op->order_id, "%s", rf->provider_id);
	op->amount = rf->amount;
	op->booked_refunded = rf->refunded;
	op_call(op, ST_REFUND_READ, "getOrderStatusExtended.do", "orderId", rf->provider_id, NULL);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

static int rbs_notification(struct adapter_ctx *ctx, const struct adapter_notification *in, struct adapter_reply *out)
{
	struct rbs *s = ctx->state;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	char *text = NULL;
	if (in->query && *in->query) {
		text = strdup(in->query);
	} else if (in->len > 0 && in->len < 8192) {         /* a POSTed form */
		text = strndup(in->body, in->len);
		if (text && strlen(text) != in->len) {           /* a NUL byte inside */
			free(text);
			text = NULL;
		}
	}
	if (!text || http_parse_form(text, &q) != 0) {
		free(text);
		evhttp_clear_headers(&q);
		return -1;
	}
	free(text);
	int rc = -1;
	const char *given = NULL, *md = NULL, *op = NULL, *st = NULL;
	struct evkeyval *kv, *o;
	TAILQ_FOREACH(kv, &q, next) {
		if (!kv->value)
			goto out;           /* a value that held a NUL byte */
		for (o = TAILQ_FIRST(&q); o != kv; o = TAILQ_NEXT(o, next))
			if (strcmp(o->key, kv->key) == 0)
				goto out;       /* a repeated parameter: ambiguous, refused */
		if (strcmp(kv->key, "checksum") == 0)
			given = kv->value;
		else if (strcmp(kv->key, "mdOrder") == 0)
			md = kv->value;
		else if (strcmp(kv->key, "operation") == 0)
			op = kv->value;
		else if (strcmp(kv->key, "status") == 0)
			st = kv->value;
	}
	if (!given || !md || !op || !st || strlen(given) != 64)
		goto out;
	char want[65], norm[65];
	for (int i = 0; i < 64; i++)
		norm[i] = (given[i] >= 'a' && given[i] <= 'f') ? (char)(given[i] - 'a' + 'A') : given[i];
	norm[64] = '\0';
	if (rbs_checksum(&q, s->key, want) != 0 || !crypto_secret_equal(norm, want) || !valid_order_id(md))
		goto out;
	out->outcome = AO_OK;
	snprintf(out->provider_id, sizeof out->provider_id, "%s", md);
	bool success = strcmp(st, "1") == 0;
	out->status = !success ? AS_FAILED : strcmp(op, "deposited") == 0 ? AS_SUCCEEDED : AS_UNKNOWN;
	out->raw = json_pack("{s:s,s:s,s:s}", "mdOrder", md, "operation", op, "status", st);
	rc = 0;
out:
	evhttp_clear_headers(&q);
	return rc;
}

static const char *const rbs_methods[] = {"card", NULL};

const struct adapter rbs_adapter = {
	.name = "rbs",
	.kind = ADAPTER_CARD,
	.methods = rbs_methods,
	.init = rbs_init,
	.fini = rbs_fini,
	.create = rbs_create,
	.notification = rbs_notification,
	.fetch_status = rbs_fetch_status,
	.refund = rbs_refund,
	.routes = NULL,
	.nroutes = 0,
};
