/* refunds.c — a refund is a small state machine:
 *   BEGIN (refund_begin: validate, reserve or find the key's refund)
 *     -> PROVIDER (the adapter's refund)
 *     -> BOOK (refund_succeeded: ledger debit) | REFUSED (refund_failed) | UNKNOWN (refund_unknown)
 * A refund whose outcome is unknown stays pending with its amount reserved; the client repeats the
 * request with the same Idempotency-Key to drive it again (the provider call is made safe to repeat
 * by the adapter: an idempotence key, or a comparison of refunded totals). */
#include "refunds.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "money.h"

#define COLS                                                                                                     \
	"SELECT result, refund_id, payment_id, amount, refund_status, payment_status, payment_amount,"             \
	" refunded_amount, available, adapter, provider_txn_id, provider_refund_id, failure_reason, channel,"     \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"                              \
	" (SELECT coalesce(p.payer_email, '') || ' ' || a.contract FROM payments p JOIN accounts a"              \
	" ON a.id = p.account_id WHERE p.id = payment_id)"

enum { C_RESULT, C_ID, C_PAYMENT, C_AMOUNT, C_STATUS, C_PSTATUS, C_PAMOUNT, C_REFUNDED, C_AVAILABLE, C_ADAPTER,
       C_PROVIDER_TXN, C_PROVIDER_REFUND, C_REASON, C_CHANNEL, C_CREATED, C_CONTACT };

static struct db_stmt q_begin = {
	"refund_begin", COLS " FROM refund_begin($1::uuid, $2::bigint, $3, $4::int, $5::text[])", 5, 0};
static struct db_stmt q_succeeded = {
	"refund_succeeded", COLS " FROM refund_succeeded($1::uuid, $2, $3::jsonb)", 3, 0};
static struct db_stmt q_failed = {"refund_failed", COLS " FROM refund_failed($1::uuid, $2, $3::jsonb)", 3, 0};
static struct db_stmt q_unknown = {"refund_unknown", COLS " FROM refund_unknown($1::uuid, $2)", 2, 0};

struct refund_op {
	struct db_pool *db;
	refund_resolve resolve;
	void *resolve_arg;
	payment_done done;
	void *arg;
	char refund_id[40];
	char payment_id[40];
	char adapter[40];
	char provider_txn_id[129];
	int64_t amount;
	int64_t refunded;           /* booked as refunded before this refund */
	char email[255];            /* the payer's, for a refund receipt made by the provider */
	char contract[16];
	char reason[400];           /* REFUSED / UNKNOWN: why */
};

static json_t *error_body(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

static void finish(struct refund_op *op, int status, json_t *body, bool replay, const char *retry_after)
{
	struct payment_answer a = {status, body, replay, op->payment_id[0] ? op->payment_id : NULL, retry_after};
	op->done(&a, op->arg);
	json_decref(body);
	free(op);
}

static int64_t col_int(const PGresult *res, int col)
{
	long long v = 0;
	return db_int64(res, 0, col, &v) == 0 ? (int64_t)v : 0;
}

/* The refund as the API shows it. */
static json_t *refund_json(const PGresult *res)
{
	char amt[MONEY_BUFSZ], ref[MONEY_BUFSZ];
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", db_value(res, 0, C_ID), "payment_id",
			      db_value(res, 0, C_PAYMENT), "amount", money_format(col_int(res, C_AMOUNT), amt), "currency",
			      "RUB", "status", db_value(res, 0, C_STATUS), "payment_status", db_value(res, 0, C_PSTATUS),
			      "refunded_amount", money_format(col_int(res, C_REFUNDED), ref));
	if (j && db_value(res, 0, C_PROVIDER_REFUND))
		json_object_set_new(j, "provider_refund_id", json_string(db_value(res, 0, C_PROVIDER_REFUND)));
	if (j && db_value(res, 0, C_CREATED))
		json_object_set_new(j, "created_at", json_string(db_value(res, 0, C_CREATED)));
	return j;
}

static json_t *refused_body(const PGresult *res, const char *reason)
{
	json_t *j = error_body("refund_refused", "the payment provider refused the refund; nothing was debited");
	json_object_set_new(j, "id", json_string(db_value(res, 0, C_ID)));
	json_object_set_new(j, "status", json_string("failed"));
	if (reason)
		json_object_set_new(json_object_get(j, "error"), "reason", json_string(reason));
	return j;
}

/* A database failure as the client sees it. */
static bool db_failed(struct refund_op *op, const struct db_result *r)
{
	if (r->status == DB_OK && PQntuples(r->res) == 1 && db_value(r->res, 0, C_RESULT))
		return false;
	bool down = r->status == DB_UNAVAILABLE;
	finish(op, down ? 503 : 500,
	       error_body(down ? "database_unavailable" : "internal_error",
			  down ? "the refund service is temporarily unavailable; retry with the same Idempotency-Key"
			       : "the refund could not be processed"),
	       false, down ? "2" : NULL);
	return true;
}

static void on_booked(const struct db_result *r, void *arg)
{
	struct refund_op *op = arg;
	if (db_failed(op, r)) {
		/* the provider refunded but the debit is not booked: the refund stays pending (leased); a
		 * repeat with the same key confirms it with the provider and books it */
		log_kv(LOG_ERROR, "refund done by the provider but not booked", "payment", op->payment_id, "refund",
		       op->refund_id, NULL);
		return;
	}
	const char *res = db_value(r->res, 0, C_RESULT);
	if (strcmp(res, "booked") == 0 || strcmp(res, "already") == 0) {
		log_kv(LOG_INFO, "refund booked", "payment", op->payment_id, "refund", op->refund_id, NULL);
		if (strcmp(res, "booked") == 0) {
			metrics_add(M_REFUNDS_SUCCEEDED, 1);
			metrics_add(M_REFUNDED_KOPECKS, op->amount);
		}
		finish(op, 201, refund_json(r->res), false, NULL);
	} else {
		log_kv(LOG_ERROR, "refund succeeded at the provider but cannot be booked", "payment", op->payment_id,
		       "refund", op->refund_id, "result", res, NULL);
		finish(op, 409, error_body("refund_conflict", "the refund cannot be booked; an operator must look at it"),
		       false, NULL);
	}
}

static void on_refused(const struct db_result *r, void *arg)
{
	struct refund_op *op = arg;
	if (db_failed(op, r))
		return;
	metrics_add(M_REFUNDS_REFUSED, 1);
	finish(op, 502, refused_body(r->res, op->reason), false, NULL);
}

static void on_unknown(const struct db_result *r, void *arg)
{
	struct refund_op *op = arg;
	if (db_failed(op, r))
		return;
	metrics_add(M_REFUNDS_UNKNOWN, 1);
	json_t *j = error_body("provider_unavailable",
			       "the payment provider did not confirm the refund; repeat the request with the same "
			       "Idempotency-Key later");
	json_object_set_new(j, "id", json_string(op->refund_id));
	json_object_set_new(j, "status", json_string("pending"));
	finish(op, 503, j, false, "30");
}

static void on_provider(struct adapter_reply *rep, void *arg)
{
	struct refund_op *op = arg;
	json_t *rawj = rep->raw ? json_deep_copy(rep->raw) : NULL;
	if (rawj)
		payments_sanitize(rawj);
	char *raw = rawj ? json_dumps(rawj, JSON_COMPACT) : NULL;
	json_decref(rawj);
	snprintf(op->reason, sizeof op->reason, "%s%s%s", rep->code, rep->code[0] && rep->message[0] ? ": " : "",
		 rep->message);
	if (rep->outcome == AO_OK && rep->status == AS_SUCCEEDED) {
		const char *p[3] = {op->refund_id, rep->provider_id[0] ? rep->provider_id : NULL, raw};
		db_exec(op->db, &q_succeeded, p, 3, on_booked, op);
	} else if (rep->outcome == AO_DECLINED || rep->outcome == AO_ERROR) {
		log_kv(LOG_WARN, "refund refused by the provider", "payment", op->payment_id, "refund", op->refund_id,
		       "reason", op->reason, NULL);
		const char *p[3] = {op->refund_id, op->reason, raw};
		db_exec(op->db, &q_failed, p, 3, on_refused, op);
	} else {
		log_kv(LOG_WARN, "refund outcome unknown", "payment", op->payment_id, "refund", op->refund_id, "reason",
		       op->reason, NULL);
		const char *p[2] = {op->refund_id, op->reason};
		db_exec(op->db, &q_unknown, p, 2, on_unknown, op);
	}
	free(raw);
}

/* PROVIDER: the reserved refund goes to the payment's adapter. */
static void drive(struct refund_op *op)
{
	struct adapter_ctx *ctx = op->resolve(op->adapter, op->resolve_arg);
	if (!ctx || !ctx->adapter->refund || !op->provider_txn_id[0]) {
		snprintf(op->reason, sizeof op->reason, "the adapter %s cannot refund here", op->adapter);
		const char *p[2] = {op->refund_id, op->reason};
		db_exec(op->db, &q_unknown, p, 2, on_unknown, op);
		return;
	}
	struct adapter_refund rf = {op->provider_txn_id, op->amount, op->refunded, op->refund_id, op->email, op->contract};
	ctx->adapter->refund(ctx, &rf, on_provider, op);
}

static void on_begun(const struct db_result *r, void *arg)
{
	struct refund_op *op = arg;
	if (db_failed(op, r))
		return;
	const PGresult *res = r->res;
	const char *result = db_value(res, 0, C_RESULT);
	char avail[MONEY_BUFSZ], msg[200];
	if (strcmp(result, "started") == 0 ||
	    (strcmp(result, "existing") == 0 && strcmp(db_value(res, 0, C_STATUS), "pending") == 0)) {
		snprintf(op->refund_id, sizeof op->refund_id, "%s", db_value(res, 0, C_ID));
		snprintf(op->adapter, sizeof op->adapter, "%s", db_value(res, 0, C_ADAPTER));
		snprintf(op->provider_txn_id, sizeof op->provider_txn_id, "%s",
			 db_value(res, 0, C_PROVIDER_TXN) ? db_value(res, 0, C_PROVIDER_TXN) : "");
		op->amount = col_int(res, C_AMOUNT);
		op->refunded = col_int(res, C_REFUNDED);
		const char *contact = db_value(res, 0, C_CONTACT);      /* "email contract" */
		const char *sp = contact ? strrchr(contact, ' ') : NULL;
		if (sp && (size_t)(sp - contact) < sizeof op->email && strlen(sp + 1) < sizeof op->contract) {
			snprintf(op->email, sizeof op->email, "%.*s", (int)(sp - contact), contact);
			snprintf(op->contract, sizeof op->contract, "%s", sp + 1);
		}
		drive(op);
	} else if (strcmp(result, "existing") == 0 && strcmp(db_value(res, 0, C_STATUS), "succeeded") == 0) {
		finish(op, 201, refund_json(res), true, NULL);
	} else if (strcmp(result, "existing") == 0) {
		finish(op, 502, refused_body(res, db_value(res, 0, C_REASON)), true, NULL);
	} else if (strcmp(result, "not_found") == 0) {
		finish(op, 404, error_body("payment_not_found", "no payment with this id"), false, NULL);
	} else if (strcmp(result, "conflict") == 0) {
		finish(op, 409,
		       error_body("idempotency_conflict",
				  "this Idempotency-Key was used for another refund (payment or amount); use a new key"),
		       false, NULL);
	} else if (strcmp(result, "in_progress") == 0) {
		finish(op, 409,
		       error_body("refund_in_progress", "this refund is being processed right now; retry shortly"),
		       false, "5");
	} else if (strcmp(result, "cash_refused") == 0) {
		finish(op, 422,
		       error_body("cash_refund_refused",
				  "this payment was made in cash through a terminal network or partner; cash is refunded "
				  "through that network, not by this gateway"),
		       false, NULL);
	} else if (strcmp(result, "not_refundable") == 0) {
		snprintf(msg, sizeof msg, "only a succeeded payment can be refunded; this one is %s",
			 db_value(res, 0, C_PSTATUS));
		finish(op, 409, error_body("payment_not_refundable", msg), false, NULL);
	} else if (strcmp(result, "unsupported") == 0) {
		snprintf(msg, sizeof msg, "the provider of this payment (%s) cannot refund through this gateway",
			 db_value(res, 0, C_ADAPTER));
		finish(op, 422, error_body("refund_unsupported", msg), false, NULL);
	} else if (strcmp(result, "nothing_left") == 0) {
		finish(op, 422,
		       error_body("nothing_to_refund",
				  "the payment is already refunded in full (or the rest is being refunded)"),
		       false, NULL);
	} else if (strcmp(result, "exceeds") == 0) {
		snprintf(msg, sizeof msg, "a refund cannot exceed what was paid: at most %s can be refunded",
			 money_format(col_int(res, C_AVAILABLE), avail));
		json_t *j = error_body("refund_exceeds_paid", msg);
		json_object_set_new(j, "available", json_string(avail));
		finish(op, 422, j, false, NULL);
	} else {
		finish(op, 500, error_body("internal_error", "unexpected answer from the database"), false, NULL);
	}
}

void refunds_create(struct db_pool *db, const struct refund_request *in, refund_resolve resolve, void *resolve_arg,
		    payment_done done, void *arg)
{
	struct refund_op *op = calloc(1, sizeof *op);
	if (!op) {
		json_t *j = error_body("unavailable", "out of memory");
		struct payment_answer a = {503, j, false, NULL, "1"};
		done(&a, arg);
		json_decref(j);
		return;
	}
	op->db = db;
	op->resolve = resolve;
	op->resolve_arg = resolve_arg;
	op->done = done;
	op->arg = arg;
	snprintf(op->payment_id, sizeof op->payment_id, "%s", in->payment_id);
	char amount[24], lease[16];
	snprintf(amount, sizeof amount, "%" PRId64, in->amount);
	snprintf(lease, sizeof lease, "%d", in->lease_secs);
	const char *p[5] = {in->payment_id, in->amount > 0 ? amount : NULL, in->key, lease, in->adapters};
	db_exec(db, &q_begin, p, 5, on_begun, op);
}
