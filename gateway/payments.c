/* payments.c — the web payment service. Creating a payment is a small state machine:
 *   RESERVE (create_web_payment: key + payment 'created', one transaction)
 *     -> PROVIDER (adapter create: confirmation URL)
 *     -> SAVE (payment_started -> pending | payment_start_failed -> failed)
 *     -> answer
 * so an async callback always knows where it stands and every failure has one exit. A payment is
 * never left 'created' after the provider answered, except when the database itself is gone at the
 * SAVE step: then the client's retry with the same key takes the payment over once the first
 * request's lease has run out (RESERVE -> in_progress -> resume_web_payment -> PROVIDER again, the
 * provider deduplicating on the payment id), and the janitor expires those nobody retries. */
#include "payments.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "config.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "money.h"

#define RECEIPT_TOKEN_BYTES 24    /* 192 bits from RAND_bytes; 48 hex characters */

static struct db_stmt q_create = {
	"payment_create",
	"SELECT result, payment_id, payment_number, status_code, response, account_status"
	" FROM create_web_payment($1, $2, $3, $4, $5, $6::bigint, $7, $8, $9, $10)",
	10, 0};
static struct db_stmt q_resume = {
	"payment_resume",
	"SELECT result, payment_id, payment_number, status_code, response, account_status"
	" FROM resume_web_payment($1, $2, $3, $4::int)",
	4, 0};
static struct db_stmt q_started = {
	"payment_started", "SELECT result FROM payment_started($1::uuid, $2, $3, $4::jsonb, $5::int, $6)", 6, 0};
static struct db_stmt q_start_failed = {
	"payment_start_failed", "SELECT result FROM payment_start_failed($1::uuid, $2, $3::jsonb, $4::int, $5)", 5, 0};
static struct db_stmt q_view = {
	"payment_view",
	"SELECT p.id, p.number, p.status, p.amount, p.method,"
	" to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" to_char(p.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" p.failure_reason, r.number, r.token, p.refunded_amount"
	" FROM payments p LEFT JOIN receipts r ON r.payment_id = p.id WHERE p.id = $1::uuid",
	1, 0};
static struct db_stmt q_apply = {
	"payment_apply",
	"SELECT result, payment_id, payment_number, status, amount, receipt_number"
	" FROM apply_provider_status($1, $2, $3, $4::bigint, $5, $6, $7, $8, $9::jsonb)",
	9, 0};

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *error_body(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

static void answer(payment_done done, void *arg, int status, json_t *body, bool replay, const char *payment_id,
		   const char *retry_after)
{
	struct payment_answer a = {status, body, replay, payment_id, retry_after};
	done(&a, arg);
	json_decref(body);
}

void payments_sanitize(json_t *raw)
{
	static const char *const banned[] = {"card", "card_number", "pan", "cvv", "cvc", "cvv2", "cvc2", "exp",
					     "expiry", "password", "secret", "pin", NULL};
	if (json_is_object(raw)) {
		const char *key;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(raw, tmp, key, v) {
			bool bad = false;
			for (int i = 0; banned[i]; i++)
				if (strcasecmp(key, banned[i]) == 0)
					bad = true;
			if (bad)
				json_object_del(raw, key);
			else
				payments_sanitize(v);
		}
	} else if (json_is_array(raw)) {
		size_t i;
		json_t *v;
		json_array_foreach(raw, i, v) payments_sanitize(v);
	}
}

bool payments_key_valid(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n < 8 || n > PAYMENT_KEY_MAX)
		return false;
	return strspn(key, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:") == n;
}

int payments_request_hash(json_t *body, char out[65])
{
	char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!s)
		return -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ok = EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	free(s);
	if (ok != 1)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static char *raw_text(json_t *raw)
{
	if (!raw)
		return NULL;
	payments_sanitize(raw);
	return json_dumps(raw, JSON_COMPACT);
}

/* ---- create ------------------------------------------------------------------------------- */

enum create_state { CS_RESERVE, CS_PROVIDER, CS_SAVE };

struct create_op {
	enum create_state state;
	struct db_pool *db;
	struct adapter_ctx *ctx;
	const struct config *cfg;
	struct payment_create in;
	char payment_id[40];
	long long number;
	int status;               /* the answer decided before SAVE */
	json_t *body;
	bool resumed;             /* in_progress was answered once: resume_web_payment asked */
	payment_done done;
	void *arg;
};

static void create_finish(struct create_op *op, int status, json_t *body, bool replay, const char *retry_after)
{
	answer(op->done, op->arg, status, body, replay, op->payment_id[0] ? op->payment_id : NULL, retry_after);
	json_decref(op->body);
	free(op);
}

static void on_saved(const struct db_result *r, void *arg)
{
	struct create_op *op = arg;
	if (r->status != DB_OK) {
		/* The provider has the payment but we could not record it: the client retries with the
		 * same key later (in_progress until the lease runs out, then the retry resumes it). */
		log_kv(LOG_ERROR, "payment hand-off not recorded", "payment", op->payment_id, "error", r->message, NULL);
		create_finish(op, 503, error_body("database_unavailable", "the payment could not be recorded; retry later"),
			      false, "2");
		return;
	}
	json_t *body = op->body;
	op->body = NULL;
	create_finish(op, op->status, body, false, NULL);
}

static void on_provider(struct adapter_reply *rep, void *arg)
{
	struct create_op *op = arg;
	op->state = CS_SAVE;
	char *raw = raw_text(rep->raw);
	char code[8];
	if (rep->outcome == AO_OK && rep->provider_id[0] && rep->confirmation_url[0]) {
		op->status = 201;
		op->body = json_pack("{s:s,s:I,s:s,s:s}", "id", op->payment_id, "number", (json_int_t)op->number, "status",
				     "pending", "confirmation_url", rep->confirmation_url);
		char *resp = json_dumps(op->body, JSON_COMPACT);
		snprintf(code, sizeof code, "%d", op->status);
		const char *p[6] = {op->payment_id, rep->provider_id, rep->confirmation_url, raw, code, resp};
		db_exec(op->db, &q_started, p, 6, on_saved, op);
		free(resp);
	} else {
		const char *ecode, *msg;
		switch (rep->outcome) {
		case AO_DECLINED:
			ecode = "payment_declined";
			msg = "the payment provider declined the payment";
			break;
		case AO_UNAVAILABLE:
			ecode = "provider_unavailable";
			msg = "the payment provider did not answer; try again with a new Idempotency-Key";
			break;
		default:
			ecode = "provider_error";
			msg = "the payment provider refused the request";
			break;
		}
		char reason[400];
		snprintf(reason, sizeof reason, "%s: %s%s%s", ecode, rep->code[0] ? rep->code : "",
			 rep->code[0] ? " " : "", rep->message);
		log_kv(LOG_WARN, "payment provider refused to create", "payment", op->payment_id, "adapter",
		       op->ctx->adapter->name, "reason", reason, NULL);
		op->status = 502;
		op->body = json_pack("{s:{s:s,s:s},s:s,s:s}", "error", "code", ecode, "message", msg, "id",
				     op->payment_id, "status", "failed");
		char *resp = json_dumps(op->body, JSON_COMPACT);
		snprintf(code, sizeof code, "%d", op->status);
		const char *p[5] = {op->payment_id, reason, raw, code, resp};
		db_exec(op->db, &q_start_failed, p, 5, on_saved, op);
		free(resp);
	}
	free(raw);
	adapter_reply_clear(rep);
}

static void on_reserved(const struct db_result *r, void *arg)
{
	struct create_op *op = arg;
	if (r->status != DB_OK || PQntuples(r->res) != 1) {
		bool down = r->status == DB_UNAVAILABLE;
		create_finish(op, down ? 503 : 500,
			      error_body(down ? "database_unavailable" : "internal_error",
					 down ? "the payment service is temporarily unavailable; retry later"
					      : "the payment could not be created"),
			      false, down ? "2" : NULL);
		return;
	}
	const char *res = db_value(r->res, 0, 0);
	const char *pid = db_value(r->res, 0, 1);
	if (pid)
		snprintf(op->payment_id, sizeof op->payment_id, "%s", pid);
	if (strcmp(res, "replay") == 0) {
		long long code = 0;
		db_int64(r->res, 0, 3, &code);
		const char *text = db_value(r->res, 0, 4);
		json_t *body = text ? json_loads(text, 0, NULL) : NULL;
		create_finish(op, (int)code, body, true, NULL);
	} else if (strcmp(res, "conflict") == 0) {
		create_finish(op, 409,
			      error_body("idempotency_conflict",
					 "this Idempotency-Key was used with a different request; use a new key"),
			      false, NULL);
	} else if (strcmp(res, "in_progress") == 0 && !op->resumed) {
		/* the first request may have been cut off before it recorded the provider's answer: once no
		 * request can hold the key any more, this retry takes the payment over */
		op->resumed = true;
		char lease[24];
		snprintf(lease, sizeof lease, "%d", op->cfg->provider_timeout_ms * 3 + 10000);
		const char *p[4] = {"web", op->in.idempotency_key, op->in.request_hash, lease};
		db_exec(op->db, &q_resume, p, 4, on_reserved, op);
	} else if (strcmp(res, "in_progress") == 0) {
		create_finish(op, 409,
			      error_body("idempotency_in_progress",
					 "a request with this Idempotency-Key is still being processed; retry shortly"),
			      false, "1");
	} else if (strcmp(res, "account_not_found") == 0) {
		create_finish(op, 404, error_body("account_not_found", "no subscriber with this contract or phone"), false,
			      NULL);
	} else if (strcmp(res, "ambiguous_phone") == 0) {
		create_finish(op, 409,
			      error_body("ambiguous_phone",
					 "several contracts share this phone number; pay by contract number"),
			      false, NULL);
	} else if (strcmp(res, "account_closed") == 0) {
		create_finish(op, 422, error_body("account_closed", "this contract is closed and cannot be topped up"),
			      false, NULL);
	} else if (strcmp(res, "created") == 0) {
		long long n = 0;
		db_int64(r->res, 0, 2, &n);
		op->number = n;
		op->state = CS_PROVIDER;
		char ret[PAYMENT_URL_MAX + 64], desc[128];
		snprintf(ret, sizeof ret, "%s%cid=%s", op->in.return_url, strchr(op->in.return_url, '?') ? '&' : '?',
			 op->payment_id);
		snprintf(desc, sizeof desc, "Пополнение лицевого счёта, платёж № %lld", n);
		struct adapter_payment ap = {
			.id = op->payment_id,
			.number = n,
			.amount = op->in.amount,
			.method = op->in.method,
			.contract = op->in.contract[0] ? op->in.contract : NULL,
			.email = op->in.email,
			.description = desc,
			.return_url = ret,
		};
		op->ctx->adapter->create(op->ctx, &ap, on_provider, op);
	} else {
		create_finish(op, 500, error_body("internal_error", "unexpected answer from the database"), false, NULL);
	}
}

void payments_create(struct db_pool *db, struct adapter_ctx *ctx, const struct config *cfg,
		     const struct payment_create *in, payment_done done, void *arg)
{
	struct create_op *op = calloc(1, sizeof *op);
	if (!op) {
		answer(done, arg, 503, error_body("unavailable", "out of memory"), false, NULL, "1");
		return;
	}
	op->state = CS_RESERVE;
	op->db = db;
	op->ctx = ctx;
	op->cfg = cfg;
	op->in = *in;
	op->done = done;
	op->arg = arg;
	char amount[24];
	snprintf(amount, sizeof amount, "%" PRId64, in->amount);
	const char *p[10] = {"web", in->idempotency_key, in->request_hash, in->contract[0] ? in->contract : NULL,
			     in->phone[0] ? in->phone : NULL, amount, in->method, ctx->adapter->name, in->email,
			     in->return_url};
	db_exec(db, &q_create, p, 10, on_reserved, op);
}

/* ---- view --------------------------------------------------------------------------------- */

struct view_op {
	const struct config *cfg;
	payment_done done;
	void *arg;
	char id[40];
};

static void on_view(const struct db_result *r, void *arg)
{
	struct view_op *v = arg;
	if (r->status != DB_OK) {
		answer(v->done, v->arg, 503, error_body("database_unavailable", "try again shortly"), false, NULL, "1");
	} else if (PQntuples(r->res) != 1) {
		answer(v->done, v->arg, 404, error_body("payment_not_found", "no payment with this id"), false, NULL, NULL);
	} else {
		const PGresult *res = r->res;
		long long number = 0, amount = 0, refunded = 0;
		db_int64(res, 0, 1, &number);
		db_int64(res, 0, 3, &amount);
		db_int64(res, 0, 10, &refunded);
		char amt[MONEY_BUFSZ];
		money_format(amount, amt);
		json_t *j = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s}", "id", db_value(res, 0, 0), "number", (json_int_t)number,
				      "status", db_value(res, 0, 2), "amount", amt, "currency", "RUB", "created_at",
				      db_value(res, 0, 5));
		if (db_value(res, 0, 4))
			json_object_set_new(j, "method", json_string(db_value(res, 0, 4)));
		if (db_value(res, 0, 6))
			json_object_set_new(j, "paid_at", json_string(db_value(res, 0, 6)));
		if (db_value(res, 0, 7))
			json_object_set_new(j, "failure_reason", json_string(db_value(res, 0, 7)));
		if (refunded) {
			char ref[MONEY_BUFSZ];
			json_object_set_new(j, "refunded_amount", json_string(money_format(refunded, ref)));
		}
		if (db_value(res, 0, 8) && db_value(res, 0, 9)) {
			char url[1200];
			snprintf(url, sizeof url, "%s/v1/receipts/%s", v->cfg->public_url, db_value(res, 0, 9));
			json_object_set_new(j, "receipt", json_pack("{s:s,s:s}", "number", db_value(res, 0, 8), "url", url));
		}
		answer(v->done, v->arg, 200, j, false, v->id, NULL);
	}
	free(v);
}

void payments_view(struct db_pool *db, const struct config *cfg, const char *id, payment_done done, void *arg)
{
	struct view_op *v = calloc(1, sizeof *v);
	if (!v) {
		answer(done, arg, 503, error_body("unavailable", "out of memory"), false, NULL, "1");
		return;
	}
	v->cfg = cfg;
	v->done = done;
	v->arg = arg;
	snprintf(v->id, sizeof v->id, "%s", id);
	const char *p[1] = {id};
	db_exec(db, &q_view, p, 1, on_view, v);
}

/* ---- apply a provider's verdict ------------------------------------------------------------ */

struct apply_op {
	payment_done done;
	void *arg;
	char payment_id[40];
};

static void on_applied(const struct db_result *r, void *arg)
{
	struct apply_op *a = arg;
	if (r->status != DB_OK || PQntuples(r->res) != 1) {
		bool down = r->status == DB_UNAVAILABLE;
		/* 5xx makes a provider repeat the notification later: nothing is lost. */
		answer(a->done, a->arg, 503, error_body(down ? "database_unavailable" : "internal_error", "retry later"),
		       false, NULL, "5");
	} else if (strcmp(db_value(r->res, 0, 0), "not_found") == 0) {
		answer(a->done, a->arg, 404, error_body("payment_not_found", "no payment with this provider id"), false, NULL,
		       NULL);
	} else {
		snprintf(a->payment_id, sizeof a->payment_id, "%s", db_value(r->res, 0, 1));
		json_t *j = json_pack("{s:s,s:s,s:s}", "result", db_value(r->res, 0, 0), "payment_id",
				      db_value(r->res, 0, 1), "status", db_value(r->res, 0, 3));
		log_kv(LOG_INFO, "provider verdict applied", "payment", a->payment_id, "result", db_value(r->res, 0, 0),
		       "status", db_value(r->res, 0, 3), NULL);
		answer(a->done, a->arg, 200, j, false, a->payment_id, NULL);
	}
	free(a);
}

void payments_apply(struct db_pool *db, const char *adapter, const struct adapter_reply *v, const char *source,
		    payment_done done, void *arg)
{
	static const char *const names[] = {[AS_UNKNOWN] = NULL, [AS_PENDING] = "pending", [AS_SUCCEEDED] = "succeeded",
					    [AS_FAILED] = "failed", [AS_CANCELED] = "canceled"};
	const char *status = names[v->status];
	if (!status) {
		answer(done, arg, 400, error_body("invalid_notification", "the provider status is unknown"), false, NULL,
		       NULL);
		return;
	}
	struct apply_op *a = calloc(1, sizeof *a);
	if (!a) {
		answer(done, arg, 503, error_body("unavailable", "out of memory"), false, NULL, "1");
		return;
	}
	a->done = done;
	a->arg = arg;
	char amount[24], token[2 * RECEIPT_TOKEN_BYTES + 1], reason[400];
	snprintf(amount, sizeof amount, "%" PRId64, v->amount);
	if (crypto_random_hex(token, RECEIPT_TOKEN_BYTES) != 0) {
		free(a);
		answer(done, arg, 503, error_body("unavailable", "the random generator failed"), false, NULL, "1");
		return;
	}
	snprintf(reason, sizeof reason, "%s%s%s", v->code, v->code[0] && v->message[0] ? ": " : "", v->message);
	json_t *rawj = v->raw ? json_deep_copy(v->raw) : NULL;
	char *raw = raw_text(rawj);
	json_decref(rawj);
	const char *p[9] = {adapter, v->provider_id, status, v->amount >= 0 ? amount : NULL,
			    v->currency[0] ? v->currency : NULL, source, reason[0] ? reason : NULL, token, raw};
	db_exec(db, &q_apply, p, 9, on_applied, a);
	free(raw);
}
