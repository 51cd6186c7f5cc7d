/* receipts.c — the receipts service: token and number formats, reading a receipt row, and the
 * asynchronous lookups and resend that the HTTP routes call. All receipt SQL of the HTTP path is here;
 * the mailer's own statements live in mailer.c. */
#include "receipts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"

int receipt_token_new(char out[RECEIPT_TOKEN_LEN + 1])
{
	return crypto_random_hex(out, RECEIPT_TOKEN_BYTES);
}

bool receipt_token_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = 0;
	for (; s[n]; n++) {
		if (n >= RECEIPT_TOKEN_LEN)
			return false;
		char c = s[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n == RECEIPT_TOKEN_LEN;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool receipt_number_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	return n >= 11 && n <= 17 && s[4] == '-' && digits(s, 4) && digits(s + 5, n - 5);
}

/* ---- reading a row ------------------------------------------------------------------------ */

enum {
	C_ID, C_NUMBER, C_TOKEN, C_EMAIL, C_STATE, C_ATTEMPTS, C_RESENDS, C_LAST_ERROR, C_NEXT_AT, C_SENT_AT,
	C_CREATED_AT, C_PAY_ID, C_PAY_NUMBER, C_AMOUNT, C_REFUNDED, C_PAY_STATUS, C_METHOD, C_CHANNEL, C_ADAPTER,
	C_TXN, C_PAID_AT, C_PAID_LOCAL, C_TZ_OFFSET, C_CONTRACT, C_HOLDER, C_F_STATE, C_F_CASHBOX, C_F_FN, C_F_FD,
	C_F_FP, C_F_SHIFT, C_F_ECR, C_F_FNS, C_F_OFD, C_F_LOCAL, C_F_QRTIME, C_F_TOTAL, C_F_CODE, C_F_ERROR, C_FOLLOWUP, C__COUNT
};

/* Copies a text value, cut at a UTF-8 character boundary when it does not fit. */
static void copy(char *dst, size_t cap, const PGresult *res, int row, int col)
{
	const char *v = db_value(res, row, col);
	size_t n = v ? strlen(v) : 0;
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

int receipt_from_row(const PGresult *res, int row, struct receipt *out)
{
	memset(out, 0, sizeof *out);
	if (PQnfields(res) < C__COUNT || row >= PQntuples(res))
		return -1;
	long long v;
	if (db_int64(res, row, C_ID, &out->id) != 0 || db_int64(res, row, C_AMOUNT, &v) != 0)
		return -1;
	out->amount = v;
	if (db_int64(res, row, C_REFUNDED, &v) == 0)
		out->refunded = v;
	if (db_int64(res, row, C_ATTEMPTS, &v) == 0)
		out->attempts = (int)v;
	if (db_int64(res, row, C_RESENDS, &v) == 0)
		out->resends = (int)v;
	if (db_int64(res, row, C_TZ_OFFSET, &v) == 0)
		out->tz_offset_min = (int)v;
	db_int64(res, row, C_PAY_NUMBER, &out->payment_number);
	copy(out->number, sizeof out->number, res, row, C_NUMBER);
	copy(out->token, sizeof out->token, res, row, C_TOKEN);
	copy(out->email, sizeof out->email, res, row, C_EMAIL);
	copy(out->state, sizeof out->state, res, row, C_STATE);
	copy(out->last_error, sizeof out->last_error, res, row, C_LAST_ERROR);
	copy(out->next_attempt_at, sizeof out->next_attempt_at, res, row, C_NEXT_AT);
	copy(out->sent_at, sizeof out->sent_at, res, row, C_SENT_AT);
	copy(out->created_at, sizeof out->created_at, res, row, C_CREATED_AT);
	copy(out->payment_id, sizeof out->payment_id, res, row, C_PAY_ID);
	copy(out->payment_status, sizeof out->payment_status, res, row, C_PAY_STATUS);
	copy(out->method, sizeof out->method, res, row, C_METHOD);
	copy(out->channel, sizeof out->channel, res, row, C_CHANNEL);
	copy(out->adapter, sizeof out->adapter, res, row, C_ADAPTER);
	copy(out->provider_txn_id, sizeof out->provider_txn_id, res, row, C_TXN);
	copy(out->paid_at, sizeof out->paid_at, res, row, C_PAID_AT);
	copy(out->paid_local, sizeof out->paid_local, res, row, C_PAID_LOCAL);
	copy(out->contract, sizeof out->contract, res, row, C_CONTRACT);
	copy(out->holder_name, sizeof out->holder_name, res, row, C_HOLDER);
	struct receipt_fiscal *fd = &out->fiscal;
	copy(fd->state, sizeof fd->state, res, row, C_F_STATE);
	copy(fd->cashbox, sizeof fd->cashbox, res, row, C_F_CASHBOX);
	copy(fd->fn_number, sizeof fd->fn_number, res, row, C_F_FN);
	copy(fd->fd_number, sizeof fd->fd_number, res, row, C_F_FD);
	copy(fd->fp, sizeof fd->fp, res, row, C_F_FP);
	copy(fd->shift, sizeof fd->shift, res, row, C_F_SHIFT);
	copy(fd->ecr, sizeof fd->ecr, res, row, C_F_ECR);
	copy(fd->fns_site, sizeof fd->fns_site, res, row, C_F_FNS);
	copy(fd->ofd_inn, sizeof fd->ofd_inn, res, row, C_F_OFD);
	copy(fd->datetime_local, sizeof fd->datetime_local, res, row, C_F_LOCAL);
	copy(fd->qr_time, sizeof fd->qr_time, res, row, C_F_QRTIME);
	copy(fd->last_error, sizeof fd->last_error, res, row, C_F_ERROR);
	if (db_int64(res, row, C_F_TOTAL, &v) == 0)
		fd->total = v;
	if (db_int64(res, row, C_F_CODE, &v) == 0)
		fd->error_code = (int)v;
	out->fiscal_followup = strcmp(PQgetvalue(res, row, C_FOLLOWUP), "t") == 0;
	return 0;
}

/* ---- asynchronous lookups ------------------------------------------------------------------ */

#define FROM_RECEIPT " FROM receipts r JOIN payments p ON p.id = r.payment_id JOIN accounts a ON a.id = p.account_id " \
	RECEIPT_FISCAL_JOIN

static struct db_stmt q_by_token = {"receipt_by_token", "SELECT " RECEIPT_COLUMNS FROM_RECEIPT "WHERE r.token = $2",
				    2, 0};
static struct db_stmt q_by_payment = {
	"receipt_by_payment", "SELECT " RECEIPT_COLUMNS FROM_RECEIPT "WHERE r.payment_id = $2::uuid", 2, 0};
static struct db_stmt q_by_number = {"receipt_by_number", "SELECT " RECEIPT_COLUMNS FROM_RECEIPT "WHERE r.number = $2",
				     2, 0};

/* receipt_resend() locks the receipt first, so a mailer's claim (which changes state to 'sending') and
 * a resend never interleave; the last column is the state before the resend. */
static struct db_stmt q_resend = {
	"receipt_resend",
	"SELECT " RECEIPT_COLUMNS ", t.prev_state FROM receipt_resend($2, $3) t "
	"LEFT JOIN LATERAL (SELECT (t.rec).*) r ON (t.rec).id IS NOT NULL "
	"LEFT JOIN payments p ON p.id = r.payment_id LEFT JOIN accounts a ON a.id = p.account_id" RECEIPT_FISCAL_JOIN,
	3, 0};

struct lookup {
	receipt_cb done;
	void *arg;
	bool resend;
};

static void on_result(const struct db_result *dr, void *arg)
{
	struct lookup *l = arg;
	receipt_cb done = l->done;
	void *darg = l->arg;
	bool resend = l->resend;
	free(l);
	if (dr->status != DB_OK) {
		done(RECEIPT_UNAVAILABLE, NULL, darg);
		return;
	}
	if (PQntuples(dr->res) == 0) {
		done(RECEIPT_NOT_FOUND, NULL, darg);
		return;
	}
	struct receipt *rc = malloc(sizeof *rc);
	if (!rc) {
		done(RECEIPT_UNAVAILABLE, NULL, darg);
		return;
	}
	if (receipt_from_row(dr->res, 0, rc) != 0) {
		if (resend) {
			const char *old = db_value(dr->res, 0, C__COUNT);
			done(old && strcmp(old, "sending") == 0 ? RECEIPT_BUSY : RECEIPT_NO_EMAIL, NULL, darg);
		} else {
			done(RECEIPT_UNAVAILABLE, NULL, darg);
		}
		free(rc);
		return;
	}
	done(RECEIPT_OK, rc, darg);
	free(rc);
}

static void run(struct db_pool *db, struct db_stmt *stmt, const char *const *params, int n, bool resend,
		receipt_cb done, void *arg)
{
	struct lookup *l = malloc(sizeof *l);
	if (!l) {
		done(RECEIPT_UNAVAILABLE, NULL, arg);
		return;
	}
	l->done = done;
	l->arg = arg;
	l->resend = resend;
	db_exec(db, stmt, params, n, on_result, l);
}

void receipts_by_token(struct db_pool *db, const char *tz, const char *token, receipt_cb done, void *arg)
{
	const char *params[] = {tz, token};
	run(db, &q_by_token, params, 2, false, done, arg);
}

void receipts_find(struct db_pool *db, const char *tz, const char *payment_id, const char *number, receipt_cb done,
		   void *arg)
{
	const char *params[] = {tz, payment_id ? payment_id : number};
	run(db, payment_id ? &q_by_payment : &q_by_number, params, 2, false, done, arg);
}

void receipts_resend(struct db_pool *db, const char *tz, const char *number, const char *email, receipt_cb done,
		     void *arg)
{
	const char *params[] = {tz, number, email};
	run(db, &q_resend, params, 3, true, done, arg);
}
