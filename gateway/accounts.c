/* accounts.c — subscriber data: validation shared by the CSV import and the internal API, and the
 * upsert through upsert_account() (schema/003_accounts.sql), which keeps the ledger invariant when a
 * balance is corrected (an adjustment row, never a silent overwrite). */
#include "accounts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "money.h"

const char account_upsert_sql[] =
	"SELECT result, new_balance FROM upsert_account($1, $2, $3, $4, $5, $6::bigint, $7::bigint,"
	" CASE WHEN $8::text IS NULL THEN NULL"
	"      WHEN $8 ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN $8::timestamptz"
	"      ELSE $8::timestamp AT TIME ZONE $9::text END)";

static struct db_stmt q_upsert = {"account_upsert", account_upsert_sql, ACCOUNT_UPSERT_NPARAMS, 0};

static bool given(const char *s) { return s && *s; }

static int signed_money(const char *s, int64_t *out)
{
	bool neg = s[0] == '-';
	if (money_parse(neg ? s + 1 : s, out) != MONEY_OK)
		return -1;
	if (neg)
		*out = -*out;
	return 0;
}

int account_validate(const char *contract, const char *phone, const char *email, const char *holder_name,
		     const char *status, const char *monthly_fee, const char *balance, struct account_input *out,
		     char err[256])
{
	memset(out, 0, sizeof *out);
	if (!given(contract)) {
		snprintf(err, 256, "contract: required");
		return -1;
	}
	if (ident_contract_normalize(contract, out->contract) != IDENT_OK) {
		snprintf(err, 256, "contract: expected 5 to 12 digits");
		return -1;
	}
	if (given(phone) && ident_phone_normalize(phone, out->phone) != IDENT_OK) {
		snprintf(err, 256, "phone: not a Russian phone number (e.g. +7 913 123-45-67)");
		return -1;
	}
	if (given(email)) {
		if (!ident_email_valid(email)) {
			snprintf(err, 256, "email: not a valid address");
			return -1;
		}
		snprintf(out->email, sizeof out->email, "%s", email);
	}
	if (given(holder_name)) {
		size_t n = strlen(holder_name);
		if (!ident_utf8_valid(holder_name, n) || n >= sizeof out->holder_name) {
			snprintf(err, 256, "holder_name: must be UTF-8 text of at most %d characters", ACCOUNT_NAME_MAX);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)holder_name[i] < 0x20) {
				snprintf(err, 256, "holder_name: contains control characters");
				return -1;
			}
		memcpy(out->holder_name, holder_name, n + 1);
	}
	if (given(status)) {
		if (strcmp(status, "active") && strcmp(status, "suspended") && strcmp(status, "closed")) {
			snprintf(err, 256, "status: expected active, suspended or closed");
			return -1;
		}
		snprintf(out->status, sizeof out->status, "%s", status);
	}
	if (given(monthly_fee)) {
		if (money_parse(monthly_fee, &out->monthly_fee) != MONEY_OK) {
			snprintf(err, 256, "monthly_fee: expected roubles like 600 or 600.00");
			return -1;
		}
		out->has_fee = true;
	}
	if (given(balance)) {
		if (signed_money(balance, &out->balance) != 0) {
			snprintf(err, 256, "balance: expected roubles like 150.00 or -20.50");
			return -1;
		}
		out->has_balance = true;
	}
	return 0;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int account_set_as_of(struct account_input *in, const char *s, char err[256])
{
	static const char want[] = "expected a moment like 2026-12-01 00:00:00 or 2026-12-01T00:00:00+07:00";
	size_t n = s ? strlen(s) : 0;
	/* YYYY-MM-DD */
	if (n < 10 || n >= sizeof in->as_of || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		goto bad;
	int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 2000 || y > 2999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		goto bad;
	size_t i = 10;
	if (i < n) {              /* [T ]HH:MM[:SS] */
		if ((s[i] != 'T' && s[i] != ' ') || n < i + 6 || !digits(s + i + 1, 2) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2) || num(s + i + 1, 2) > 23 || num(s + i + 4, 2) > 59)
			goto bad;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || !digits(s + i + 1, 2) || num(s + i + 1, 2) > 59)
				goto bad;
			i += 3;
		}
		if (i < n) {      /* Z | +HH | +HHMM | +HH:MM */
			if (s[i] == 'Z' && i + 1 == n) {
				i++;
			} else if ((s[i] == '+' || s[i] == '-') && n >= i + 3 && digits(s + i + 1, 2) &&
				   num(s + i + 1, 2) <= 14) {
				i += 3;
				if (i < n && s[i] == ':')
					i++;
				if (i < n && (n != i + 2 || !digits(s + i, 2) || num(s + i, 2) > 59))
					goto bad;
				i = n;
			} else {
				goto bad;
			}
		}
	}
	if (i != n)
		goto bad;
	memcpy(in->as_of, s, n + 1);
	return 0;
bad:
	snprintf(err, 256, "balance_as_of: %s", want);
	return -1;
}

void account_params(const struct account_input *in, const char *tz, struct account_params *p)
{
	snprintf(p->fee, sizeof p->fee, "%" PRId64, in->monthly_fee);
	snprintf(p->balance, sizeof p->balance, "%" PRId64, in->balance);
	p->v[0] = in->contract;
	p->v[1] = *in->phone ? in->phone : NULL;
	p->v[2] = *in->email ? in->email : NULL;
	p->v[3] = *in->holder_name ? in->holder_name : NULL;
	p->v[4] = *in->status ? in->status : NULL;
	p->v[5] = in->has_fee ? p->fee : NULL;
	p->v[6] = in->has_balance ? p->balance : NULL;
	p->v[7] = *in->as_of ? in->as_of : NULL;
	p->v[8] = tz;
}

struct upsert_ctx {
	void (*done)(bool ok, const char *result, int64_t balance, const char *reason, void *arg);
	void *arg;
};

static void on_upsert(const struct db_result *r, void *arg)
{
	struct upsert_ctx *u = arg;
	long long bal = 0;
	if (r->status != DB_OK || PQntuples(r->res) != 1 || db_int64(r->res, 0, 1, &bal) != 0) {
		u->done(false, "", 0, r->status == DB_OK ? "unexpected answer from the database" : r->message, u->arg);
	} else {
		const char *res = db_value(r->res, 0, 0);
		u->done(true, res ? res : "", (int64_t)bal, "", u->arg);
	}
	free(u);
}

void accounts_upsert(struct db_pool *db, const struct account_input *in, const char *tz,
		     void (*done)(bool ok, const char *result, int64_t balance, const char *reason, void *arg),
		     void *arg)
{
	struct upsert_ctx *u = malloc(sizeof *u);
	if (!u) {
		done(false, "", 0, "out of memory", arg);
		return;
	}
	u->done = done;
	u->arg = arg;
	struct account_params p;
	account_params(in, tz, &p);
	db_exec(db, &q_upsert, p.v, ACCOUNT_UPSERT_NPARAMS, on_upsert, u);
}

/* ---- lookup (the pay form, and a cash protocol's check) ------------------------------------------------------------- */

static struct db_stmt q_by_contract = {
	"account_by_contract",
	"SELECT contract, holder_name, status, balance, monthly_fee FROM accounts WHERE contract = $1", 1, 0};
/* Open contracts first: a phone shared by an open and a closed contract means the open one. */
static struct db_stmt q_by_phone = {
	"account_by_phone",
	"SELECT contract, holder_name, status, balance, monthly_fee FROM accounts WHERE phone = $1"
	" ORDER BY status = 'closed', contract LIMIT 3",
	1, 0};

struct lookup_ctx {
	void (*done)(enum lookup_result res, const struct account_view *v, void *arg);
	void *arg;
};

static void on_lookup(const struct db_result *r, void *arg)
{
	struct lookup_ctx *l = arg;
	struct account_view v;
	memset(&v, 0, sizeof v);
	enum lookup_result res;
	if (r->status != DB_OK) {
		res = db_retryable(r) ? LOOKUP_UNAVAILABLE : LOOKUP_FAILED;
	} else if (PQntuples(r->res) == 0) {
		res = LOOKUP_NOT_FOUND;
	} else if (PQntuples(r->res) > 1 && strcmp(db_value(r->res, 1, 2), "closed") != 0) {
		res = LOOKUP_AMBIGUOUS;
	} else {
		long long bal = 0, fee = 0;
		snprintf(v.contract, sizeof v.contract, "%s", db_value(r->res, 0, 0));
		if (ident_mask_name(db_value(r->res, 0, 1), v.holder_masked, sizeof v.holder_masked) != 0)
			v.holder_masked[0] = '\0';
		snprintf(v.status, sizeof v.status, "%s", db_value(r->res, 0, 2));
		db_int64(r->res, 0, 3, &bal);
		db_int64(r->res, 0, 4, &fee);
		v.balance = bal;
		v.monthly_fee = fee;
		res = LOOKUP_FOUND;
	}
	l->done(res, res == LOOKUP_FOUND ? &v : NULL, l->arg);
	free(l);
}

void accounts_lookup(struct db_pool *db, const char *contract, const char *phone,
		     void (*done)(enum lookup_result res, const struct account_view *v, void *arg), void *arg)
{
	struct lookup_ctx *l = malloc(sizeof *l);
	if (!l) {
		done(LOOKUP_UNAVAILABLE, NULL, arg);
		return;
	}
	l->done = done;
	l->arg = arg;
	const char *param = contract ? contract : phone;
	db_exec_read(db, contract ? &q_by_contract : &q_by_phone, &param, 1, on_lookup, l);
}
