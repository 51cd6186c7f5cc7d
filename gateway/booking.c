/* booking.c — books cash that partners have already taken, through book_payment() (schema
 * 002_booking.sql): one prepared statement, one transaction, idempotent on (adapter, partner, txn
 * id); the database's unique index is the last guard against a double booking. Also the account
 * lookup behind a protocol's `check` and the read-back of a booked payment. */
#include "booking.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "crypto.h"
#include "db.h"

#define TS_UTC "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
#define TS_SBER "'DD.MM.YYYY_HH24:MI:SS'"
#define TS_LOCAL "'YYYY-MM-DD HH24:MI:SS'"

static struct db_stmt q_book = {
	"cash_book",
	"SELECT b.result, b.payment_id, b.payment_number, b.amount, b.contract,"
	"       to_char(b.paid_at AT TIME ZONE 'UTC', " TS_UTC "),"
	"       to_char(b.paid_at AT TIME ZONE $11::text, " TS_SBER "),"
	"       to_char(b.provider_time AT TIME ZONE $11::text, " TS_LOCAL "),"
	"       b.receipt_number, b.balance_after"
	"  FROM book_payment($1, $2, $3::bigint, $4, $5, $6::bigint, 'cash', $7,"
	"                    ($8::timestamp AT TIME ZONE $11::text), $9, $10::jsonb) b",
	11, 0};

/* A phone names one contract; a retry of a booked transaction keeps the contract it was booked on
 * even if the phone has been given to another contract since. */
static struct db_stmt q_phone = {
	"cash_phone",
	"SELECT (SELECT a.contract FROM payments p JOIN accounts a ON a.id = p.account_id"
	"         WHERE p.adapter = $2 AND COALESCE(p.partner_id, 0) = $3::bigint AND p.provider_txn_id = $4"
	"           AND a.phone = $1),"
	"       (SELECT count(*) FROM accounts WHERE phone = $1),"
	"       (SELECT min(contract) FROM accounts WHERE phone = $1)",
	4, 0};

static struct db_stmt q_find = {
	"cash_find",
	"SELECT p.id, p.number, p.amount, a.contract, p.status,"
	"       to_char(p.paid_at AT TIME ZONE 'UTC', " TS_UTC "),"
	"       to_char(p.paid_at AT TIME ZONE $4::text, " TS_SBER "),"
	"       to_char(p.provider_time AT TIME ZONE $4::text, " TS_LOCAL "),"
	"       r.number,"
	"       (SELECT l.balance_after FROM ledger l"
	"         WHERE l.payment_id = p.id AND l.kind = 'credit' AND l.created_at >= p.created_at)"
	"  FROM payments p JOIN accounts a ON a.id = p.account_id LEFT JOIN receipts r ON r.payment_id = p.id"
	" WHERE p.adapter = $1 AND COALESCE(p.partner_id, 0) = $2::bigint AND p.provider_txn_id = $3"
	"   AND p.status IN ('succeeded', 'refunded')",
	4, 0};

/* A database failure: unavailable (retry) when the server was not reachable or asked for a retry
 * (serialization failure, deadlock), failed otherwise. */
static enum cash_status db_failure(const struct db_result *r)
{
	return db_retryable(r) ? CASH_UNAVAILABLE : CASH_FAILED;
}

static void copy(char *dst, size_t n, const char *s) { snprintf(dst, n, "%s", s ? s : ""); }

static int64_t int_at(const PGresult *res, int row, int col)
{
	long long v = 0;
	return db_int64(res, row, col, &v) == 0 ? (int64_t)v : 0;
}

/* ---- booking ---------------------------------------------------------------------------------- */

struct book_ctx {
	struct db_pool *db;
	cash_cb done;
	void *arg;
	char channel[16];
	char adapter[33];
	char partner_id[24];
	char txn_id[129];
	char contract[IDENT_CONTRACT_BUFSZ];
	char phone[IDENT_PHONE_BUFSZ];
	char amount[24];
	char *email;
	char provider_time[32];
	bool has_provider_time;
	char tz[64];
	char *raw;
	char token[49];
};

static void book_free(struct book_ctx *b)
{
	free(b->email);
	free(b->raw);
	free(b);
}

static void book_fail(struct book_ctx *b, enum cash_status st, const char *reason)
{
	struct cash_outcome o;
	memset(&o, 0, sizeof o);
	o.status = st;
	o.reason = reason;
	b->done(&o, b->arg);
	book_free(b);
}

static void on_booked(const struct db_result *r, void *arg)
{
	struct book_ctx *b = arg;
	if (r->status != DB_OK || PQntuples(r->res) != 1) {
		book_fail(b, r->status == DB_OK ? CASH_FAILED : db_failure(r),
			  r->status == DB_OK ? "book_payment returned no row" : r->message);
		return;
	}
	const PGresult *res = r->res;
	struct cash_outcome o;
	memset(&o, 0, sizeof o);
	const char *result = db_value(res, 0, 0);
	if (!result)
		result = "";
	if (strcmp(result, "booked") == 0)
		o.status = CASH_OK;
	else if (strcmp(result, "duplicate") == 0)
		o.status = CASH_DUPLICATE;
	else if (strcmp(result, "mismatch") == 0)
		o.status = CASH_MISMATCH;
	else if (strcmp(result, "account_not_found") == 0)
		o.status = CASH_NOT_FOUND;
	else if (strcmp(result, "account_inactive") == 0)
		o.status = CASH_INACTIVE;
	else
		o.status = CASH_FAILED;
	o.reason = result;
	copy(o.payment_id, sizeof o.payment_id, db_value(res, 0, 1));
	o.number = int_at(res, 0, 2);
	o.amount = int_at(res, 0, 3);
	copy(o.contract, sizeof o.contract, db_value(res, 0, 4));
	copy(o.status_text, sizeof o.status_text, o.status == CASH_OK || o.status == CASH_DUPLICATE ? "succeeded" : "");
	copy(o.paid_at, sizeof o.paid_at, db_value(res, 0, 5));
	copy(o.paid_at_local, sizeof o.paid_at_local, db_value(res, 0, 6));
	copy(o.provider_time, sizeof o.provider_time, db_value(res, 0, 7));
	copy(o.receipt_number, sizeof o.receipt_number, db_value(res, 0, 8));
	o.balance_after = int_at(res, 0, 9);
	b->done(&o, b->arg);
	book_free(b);
}

static void book_now(struct book_ctx *b)
{
	const char *p[11] = {b->channel, b->adapter, b->partner_id, b->txn_id, b->contract, b->amount, b->email,
			     b->has_provider_time ? b->provider_time : NULL, b->token, b->raw, b->tz};
	db_exec(b->db, &q_book, p, 11, on_booked, b);
}

static void on_phone(const struct db_result *r, void *arg)
{
	struct book_ctx *b = arg;
	if (r->status != DB_OK || PQntuples(r->res) != 1) {
		book_fail(b, r->status == DB_OK ? CASH_FAILED : db_failure(r),
			  r->status == DB_OK ? "phone lookup returned no row" : r->message);
		return;
	}
	const char *booked_on = db_value(r->res, 0, 0);
	int64_t n = int_at(r->res, 0, 1);
	const char *only = db_value(r->res, 0, 2);
	if (booked_on) {
		copy(b->contract, sizeof b->contract, booked_on);
	} else if (n == 0 || !only) {
		book_fail(b, CASH_NOT_FOUND, "no account has this phone");
		return;
	} else if (n > 1) {
		book_fail(b, CASH_AMBIGUOUS, "several accounts have this phone");
		return;
	} else {
		copy(b->contract, sizeof b->contract, only);
	}
	book_now(b);
}

void booking_book_cash(struct db_pool *db, const struct cash_payment *in, cash_cb done, void *arg)
{
	struct book_ctx *b = calloc(1, sizeof *b);
	if (!b) {
		struct cash_outcome o;
		memset(&o, 0, sizeof o);
		o.status = CASH_UNAVAILABLE;
		o.reason = "out of memory";
		done(&o, arg);
		return;
	}
	b->db = db;
	b->done = done;
	b->arg = arg;
	copy(b->channel, sizeof b->channel, in->channel);
	copy(b->adapter, sizeof b->adapter, in->adapter);
	snprintf(b->partner_id, sizeof b->partner_id, "%lld", in->partner_id);
	copy(b->txn_id, sizeof b->txn_id, in->txn_id);
	copy(b->contract, sizeof b->contract, in->contract);
	copy(b->phone, sizeof b->phone, in->phone);
	snprintf(b->amount, sizeof b->amount, "%" PRId64, in->amount);
	copy(b->tz, sizeof b->tz, in->tz ? in->tz : "UTC");
	if (in->provider_time && *in->provider_time) {
		copy(b->provider_time, sizeof b->provider_time, in->provider_time);
		b->has_provider_time = true;
	}
	b->email = in->email && *in->email ? strdup(in->email) : NULL;
	b->raw = in->raw ? strdup(in->raw) : NULL;
	if ((in->email && *in->email && !b->email) || (in->raw && !b->raw) || crypto_random_hex(b->token, 24) != 0) {
		/* Not even asked: nothing can have been written, so a retry is safe. */
		struct book_ctx *tmp = b;
		struct cash_outcome o;
		memset(&o, 0, sizeof o);
		o.status = CASH_UNAVAILABLE;
		o.reason = "out of memory or no randomness";
		tmp->done(&o, tmp->arg);
		book_free(tmp);
		return;
	}
	if (!in->contract || !*in->contract) {
		const char *p[4] = {b->phone, b->adapter, b->partner_id, b->txn_id};
		db_exec(db, &q_phone, p, 4, on_phone, b);
		return;
	}
	book_now(b);
}

/* ---- account lookup --------------------------------------------------------------------------- */

struct account_ctx {
	cash_account_cb done;
	void *arg;
};

/* The pay form's lookup (accounts.c), told as a cash `check` sees it. */
static void on_account(enum lookup_result res, const struct account_view *v, void *arg)
{
	struct account_ctx *c = arg;
	struct cash_account a;
	memset(&a, 0, sizeof a);
	switch (res) {
	case LOOKUP_FOUND:
		a.status = strcmp(v->status, "closed") != 0 ? CASH_OK : CASH_INACTIVE;   /* suspended: still payable */
		copy(a.contract, sizeof a.contract, v->contract);
		copy(a.masked_name, sizeof a.masked_name, v->holder_masked);
		a.balance = v->balance;
		a.monthly_fee = v->monthly_fee;
		break;
	case LOOKUP_NOT_FOUND: a.status = CASH_NOT_FOUND; break;
	case LOOKUP_AMBIGUOUS: a.status = CASH_AMBIGUOUS; break;
	case LOOKUP_UNAVAILABLE: a.status = CASH_UNAVAILABLE; break;
	case LOOKUP_FAILED: a.status = CASH_FAILED; break;
	}
	c->done(&a, c->arg);
	free(c);
}

void booking_check_account(struct db_pool *db, const char *contract, const char *phone, cash_account_cb done,
			   void *arg)
{
	struct account_ctx *c = malloc(sizeof *c);
	if (!c) {
		struct cash_account a;
		memset(&a, 0, sizeof a);
		a.status = CASH_UNAVAILABLE;
		done(&a, arg);
		return;
	}
	c->done = done;
	c->arg = arg;
	accounts_lookup(db, contract && *contract ? contract : NULL, phone, on_account, c);
}

/* ---- read back -------------------------------------------------------------------------------- */

struct find_ctx {
	cash_cb done;
	void *arg;
};

static void on_found(const struct db_result *r, void *arg)
{
	struct find_ctx *c = arg;
	struct cash_outcome o;
	memset(&o, 0, sizeof o);
	if (r->status != DB_OK) {
		o.status = db_failure(r);
		o.reason = r->message;
	} else if (PQntuples(r->res) != 1) {
		o.status = CASH_NOT_FOUND;
		o.reason = "no such payment";
	} else {
		const PGresult *res = r->res;
		o.status = CASH_OK;
		o.reason = "found";
		copy(o.payment_id, sizeof o.payment_id, db_value(res, 0, 0));
		o.number = int_at(res, 0, 1);
		o.amount = int_at(res, 0, 2);
		copy(o.contract, sizeof o.contract, db_value(res, 0, 3));
		copy(o.status_text, sizeof o.status_text, db_value(res, 0, 4));
		copy(o.paid_at, sizeof o.paid_at, db_value(res, 0, 5));
		copy(o.paid_at_local, sizeof o.paid_at_local, db_value(res, 0, 6));
		copy(o.provider_time, sizeof o.provider_time, db_value(res, 0, 7));
		copy(o.receipt_number, sizeof o.receipt_number, db_value(res, 0, 8));
		o.balance_after = int_at(res, 0, 9);
	}
	c->done(&o, c->arg);
	free(c);
}

void booking_find(struct db_pool *db, const char *adapter, long long partner_id, const char *txn_id, const char *tz,
		  cash_cb done, void *arg)
{
	struct find_ctx *c = malloc(sizeof *c);
	if (!c) {
		struct cash_outcome o;
		memset(&o, 0, sizeof o);
		o.status = CASH_UNAVAILABLE;
		o.reason = "out of memory";
		done(&o, arg);
		return;
	}
	c->done = done;
	c->arg = arg;
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", partner_id);
	const char *p[4] = {adapter, pid, txn_id, tz ? tz : "UTC"};
	db_exec(db, &q_find, p, 4, on_found, c);
}
