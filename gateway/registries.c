/* registries.c — daily partner registries: the query and the CSV writer (see registries.h). */
#include "registries.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "db.h"
#include "money.h"

const char registry_sql[] =
	"SELECT p.provider_txn_id, p.number, to_char(p.paid_at AT TIME ZONE $3::text, 'YYYY-MM-DD HH24:MI:SS'),"
	"       a.contract, p.amount"
	"  FROM payments p JOIN accounts a ON a.id = p.account_id"
	" WHERE p.partner_id = $1::bigint"
	"   AND p.paid_at >= ($2::date::timestamp AT TIME ZONE $3::text)"
	"   AND p.paid_at < (($2::date + 1)::timestamp AT TIME ZONE $3::text)"
	"   AND p.status IN ('succeeded', 'refunded')"
	" ORDER BY p.paid_at, p.number";

static struct db_stmt q_registry = {"partner_registry", registry_sql, 3, 0};

int registry_date_valid(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1)
		return 0;
	int md = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return d <= md;
}

/* Writes one CSV field, quoted when it holds a separator, quote or line break. */
char *registry_csv(const PGresult *res, const char *day, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	if (!f)
		return NULL;
	fputs("partner_txn_id,our_id,date,account,amount\n", f);
	int64_t sum = 0;
	int n = PQntuples(res);
	char money[MONEY_BUFSZ];
	for (int i = 0; i < n; i++) {
		long long amount = 0;
		db_int64(res, i, 4, &amount);
		sum += amount;
		csv_write_field(f, db_value(res, i, 0), ',');
		fputc(',', f);
		csv_write_field(f, db_value(res, i, 1), ',');
		fputc(',', f);
		csv_write_field(f, db_value(res, i, 2), ',');
		fputc(',', f);
		csv_write_field(f, db_value(res, i, 3), ',');
		fputc(',', f);
		fputs(money_format(amount, money), f);
		fputc('\n', f);
	}
	fprintf(f, "TOTAL,%d,%s,,%s\n", n, day, money_format(sum, money));
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

struct fetch_ctx {
	void (*done)(enum cash_status st, const char *csv, size_t len, void *arg);
	void *arg;
	char day[11];
};

static void on_registry(const struct db_result *r, void *arg)
{
	struct fetch_ctx *c = arg;
	if (r->status != DB_OK) {
		bool retry = db_retryable(r);
		c->done(retry ? CASH_UNAVAILABLE : CASH_FAILED, NULL, 0, c->arg);
	} else {
		size_t len = 0;
		char *csv = registry_csv(r->res, c->day, &len);
		c->done(csv ? CASH_OK : CASH_UNAVAILABLE, csv, len, c->arg);
		free(csv);
	}
	free(c);
}

void registry_fetch(struct db_pool *db, long long partner_id, const char *day, const char *tz,
		    void (*done)(enum cash_status st, const char *csv, size_t len, void *arg), void *arg)
{
	struct fetch_ctx *c = malloc(sizeof *c);
	if (!c) {
		done(CASH_UNAVAILABLE, NULL, 0, arg);
		return;
	}
	c->done = done;
	c->arg = arg;
	snprintf(c->day, sizeof c->day, "%s", day);
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", partner_id);
	const char *p[3] = {pid, day, tz};
	db_exec(db, &q_registry, p, 3, on_registry, c);
}
