/* reconcile.c — `gatewayd reconcile --partner NAME [--date D] FILE.csv`: the partner's registry
 * (their CSV) against our payments of the same days; every transaction missing on either side and
 * every amount or account that differs is printed as a CSV line, and the exit code says whether any
 * was found (see reconcile.h). */
#include "reconcile.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli.h"
#include "config.h"
#include "csv.h"
#include "ident.h"
#include "migrations.h"
#include "money.h"
#include "registries.h"

static const char usage_reconcile[] = "usage: gatewayd reconcile --partner NAME [--date YYYY-MM-DD] FILE.csv\n";

struct row {
	char *txn;
	char *our_id;             /* ours: payment number; theirs: as given or "" */
	char *account;            /* "" when not given */
	char *when;               /* date column as given */
	int64_t amount;
	long line;                /* theirs: line in the file */
	bool matched;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static struct row *rows_add(struct rows *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct row *nv = realloc(rs->v, cap * sizeof *nv);
		if (!nv)
			return NULL;
		rs->v = nv;
		rs->cap = cap;
	}
	struct row *r = &rs->v[rs->n++];
	memset(r, 0, sizeof *r);
	return r;
}

static void rows_free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].txn);
		free(rs->v[i].our_id);
		free(rs->v[i].account);
		free(rs->v[i].when);
	}
	free(rs->v);
}

static int row_cmp(const void *a, const void *b) { return strcmp(((const struct row *)a)->txn, ((const struct row *)b)->txn); }

static struct row *rows_find(struct rows *rs, const char *txn)
{
	struct row key = {.txn = (char *)(uintptr_t)txn};
	return rs->n ? bsearch(&key, rs->v, rs->n, sizeof *rs->v, row_cmp) : NULL;   /* no rows: no array */
}

/* The day of a date field: "YYYY-MM-DD…" or "YYYYMMDD…" (OSMP txn_date); "" when neither. */
static void day_of(const char *s, char out[11])
{
	out[0] = '\0';
	if (strlen(s) >= 10 && s[4] == '-' && s[7] == '-')
		snprintf(out, 11, "%.10s", s);
	else if (strlen(s) >= 8 && strspn(s, "0123456789") >= 8)
		snprintf(out, 11, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
	if (*out && !registry_date_valid(out))
		out[0] = '\0';
}

/* Normalises an OSMP txn_id the way the adapter stores it (no leading zeros). */
static const char *txn_norm(const char *s, bool osmp)
{
	if (osmp && *s && strspn(s, "0123456789") == strlen(s))
		while (s[0] == '0' && s[1])
			s++;
	return s;
}

/* The partner's account field names our contract (in any spelling ident accepts). */
static bool same_account(const char *theirs, const char *ours)
{
	char norm[IDENT_CONTRACT_BUFSZ];
	if (ident_contract_normalize(theirs, norm) == IDENT_OK)
		return strcmp(norm, ours) == 0;
	return strcmp(theirs, ours) == 0;
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

/* Reads the partner's registry from f (named path in messages). Returns 0, or 2 with the reason in
 * err. days collects the days seen. */
static int read_theirs(FILE *f, const char *path, bool osmp, struct rows *theirs, char days[][11], int *ndays,
		       int maxdays, int64_t *their_sum, bool *trailer_bad, char err_out[RECONCILE_ERRSZ])
{
	struct csv_reader *rd = malloc(sizeof *rd);     /* 64 KB of buffer: not on a thread's stack */
	if (!rd) {
		snprintf(err_out, RECONCILE_ERRSZ, "out of memory");
		return 2;
	}
	char err[128];
	int rc = 2;
	int col_txn = -1, col_id = -1, col_date = -1, col_acc = -1, col_amount = -1;
	csv_init(rd, f);
	int got = csv_read(rd, err);
	if (got != 1) {
		snprintf(err_out, RECONCILE_ERRSZ, "%s: %s", path, got == 0 ? "the file is empty" : err);
		goto out;
	}
	for (int i = 0; i < rd->nf; i++) {
		const char *h = rd->fields[i];
		if (strcmp(h, "partner_txn_id") == 0 || strcmp(h, "txn_id") == 0)
			col_txn = i;
		else if (strcmp(h, "our_id") == 0)
			col_id = i;
		else if (strcmp(h, "date") == 0)
			col_date = i;
		else if (strcmp(h, "account") == 0)
			col_acc = i;
		else if (strcmp(h, "amount") == 0 || strcmp(h, "sum") == 0)
			col_amount = i;
	}
	if (col_txn < 0 || col_amount < 0) {
		snprintf(err_out, RECONCILE_ERRSZ, "%s: line 1: the header needs partner_txn_id and amount columns "
				"(and may have our_id, date, account)", path);
		goto out;
	}
	long trailer_count = -1;
	int64_t trailer_sum = 0;
	for (;;) {
		got = csv_read(rd, err);
		if (got == 0)
			break;
		if (got < 0) {
			snprintf(err_out, RECONCILE_ERRSZ, "%s: %s", path, err);
			goto out;
		}
		if (rd->nf == 1 && rd->fields[0][0] == '\0')
			continue;
		if (rd->nf <= col_txn || rd->nf <= col_amount) {
			snprintf(err_out, RECONCILE_ERRSZ, "%s: line %ld: too few fields", path, rd->line);
			goto out;
		}
		if (strcmp(rd->fields[0], "TOTAL") == 0) {
			/* TOTAL,count,date,,sum — our own trailer format */
			trailer_count = rd->nf > 1 ? atol(rd->fields[1]) : -1;
			if (rd->nf < 5 || money_parse(rd->fields[4], &trailer_sum) != MONEY_OK)
				trailer_count = -2;
			char d[11];
			if (rd->nf > 2 && (day_of(rd->fields[2], d), *d) && *ndays < maxdays) {
				int k = 0;
				while (k < *ndays && strcmp(days[k], d) != 0)
					k++;
				if (k == *ndays)
					snprintf(days[(*ndays)++], 11, "%s", d);
			}
			continue;
		}
		struct row *r = rows_add(theirs);
		if (!r) {
			snprintf(err_out, RECONCILE_ERRSZ, "out of memory");
			goto out;
		}
		r->line = rd->line;
		r->txn = xstrdup(txn_norm(rd->fields[col_txn], osmp));
		r->our_id = xstrdup(col_id >= 0 && col_id < rd->nf ? rd->fields[col_id] : "");
		r->when = xstrdup(col_date >= 0 && col_date < rd->nf ? rd->fields[col_date] : "");
		r->account = NULL;
		if (!r->txn || !r->our_id || !r->when) {
			snprintf(err_out, RECONCILE_ERRSZ, "out of memory");
			goto out;
		}
		if (!*r->txn) {
			snprintf(err_out, RECONCILE_ERRSZ, "%s: line %ld: empty partner_txn_id", path, rd->line);
			goto out;
		}
		if (money_parse(rd->fields[col_amount], &r->amount) != MONEY_OK) {
			snprintf(err_out, RECONCILE_ERRSZ, "%s: line %ld: amount \"%.30s\" is not an amount like 200.00", path, rd->line,
				rd->fields[col_amount]);
			goto out;
		}
		const char *acc = col_acc >= 0 && col_acc < rd->nf ? rd->fields[col_acc] : "";
		r->account = xstrdup(acc);
		if (!r->account) {
			snprintf(err_out, RECONCILE_ERRSZ, "out of memory");
			goto out;
		}
		*their_sum += r->amount;
		char d[11];
		day_of(r->when, d);
		if (*d) {
			int k = 0;
			while (k < *ndays && strcmp(days[k], d) != 0)
				k++;
			if (k == *ndays && *ndays < maxdays)
				snprintf(days[(*ndays)++], 11, "%s", d);
		}
	}
	*trailer_bad = trailer_count == -2 ||
		       (trailer_count >= 0 && (trailer_count != (long)theirs->n || trailer_sum != *their_sum));
	rc = 0;
out:
	free(rd);
	return rc;
}

static void report(reconcile_report_fn fn, void *arg, const char *problem, const char *txn, const char *our_id,
		   const char *account, const int64_t *theirs, const int64_t *ours, const char *detail)
{
	struct reconcile_problem p = {problem, txn, our_id, account, theirs, ours, detail};
	fn(&p, arg);
}

/* A statement of reconcile_run: the result, or NULL with the reason in err (nothing printed: it also
 * runs inside the service, whose log lines are JSON). */
static PGresult *run_sql(PGconn *db, const char *sql, int n, const char *const *p, char err[RECONCILE_ERRSZ])
{
	PGresult *r = PQexecParams(db, sql, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	snprintf(err, RECONCILE_ERRSZ, "the database: %s", PQresultErrorMessage(r));
	err[strcspn(err, "\n")] = '\0';
	PQclear(r);
	return NULL;
}

int reconcile_run(PGconn *db, long long partner_id, bool osmp, const char *day, FILE *f, const char *fname,
		  const char *tz, reconcile_report_fn fn, void *arg, struct reconcile_summary *sum,
		  char err[RECONCILE_ERRSZ])
{
	enum { MAXDAYS = 32 };
	char days[MAXDAYS][11];
	int ndays = 0;
	memset(sum, 0, sizeof *sum);
	err[0] = '\0';
	if (day)
		snprintf(days[ndays++], 11, "%s", day);
	int rc = 2;
	struct rows theirs = {0}, ours = {0};
	bool trailer_bad = false;
	int dummy_days = 0;
	char ignored[MAXDAYS][11];
	if (read_theirs(f, fname, osmp, &theirs, day ? ignored : days, day ? &dummy_days : &ndays, MAXDAYS,
			&sum->their_sum, &trailer_bad, err) != 0)
		goto out;
	if (ndays == 0) {
		snprintf(err, RECONCILE_ERRSZ, "%s names no day (no date column); give the date", fname);
		goto out;
	}
	rc = 1;
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", partner_id);
	for (int d = 0; d < ndays; d++) {
		const char *rp[3] = {pid, days[d], tz};
		PGresult *r = run_sql(db, registry_sql, 3, rp, err);
		if (!r)
			goto out;
		for (int i = 0; i < PQntuples(r); i++) {
			struct row *o = rows_add(&ours);
			if (!o) {
				PQclear(r);
				snprintf(err, RECONCILE_ERRSZ, "out of memory");
				goto out;
			}
			o->txn = xstrdup(PQgetvalue(r, i, 0));
			o->our_id = xstrdup(PQgetvalue(r, i, 1));
			o->when = xstrdup(PQgetvalue(r, i, 2));
			o->account = xstrdup(PQgetvalue(r, i, 3));
			o->amount = atoll(PQgetvalue(r, i, 4));
			sum->our_sum += o->amount;
		}
		PQclear(r);
	}
	if (ours.n)                   /* no rows: no array (qsort wants one even for zero) */
		qsort(ours.v, ours.n, sizeof *ours.v, row_cmp);
	sum->theirs = theirs.n;
	sum->ours = ours.n;
	for (size_t i = 0; i < theirs.n; i++) {
		struct row *t = &theirs.v[i];
		struct row *o = rows_find(&ours, t->txn);
		if (o && o->matched) {
			report(fn, arg, "duplicate_in_theirs", t->txn, o->our_id, t->account, &t->amount, NULL, "listed twice");
			sum->problems++;
			continue;
		}
		if (!o) {
			/* Not among our payments of those days: booked on another day, or not at all? */
			const char *p[3] = {pid, t->txn, tz};
			PGresult *r = run_sql(db,
					      "SELECT p.number, to_char(p.paid_at AT TIME ZONE $3::text, 'YYYY-MM-DD HH24:MI:SS'),"
					      "       a.contract, p.amount"
					      "  FROM payments p JOIN accounts a ON a.id = p.account_id"
					      " WHERE p.partner_id = $1::bigint AND p.provider_txn_id = $2"
					      "   AND p.status IN ('succeeded', 'refunded')",
					      3, p, err);
			if (!r)
				goto out;
			if (PQntuples(r) == 1) {
				int64_t amount = atoll(PQgetvalue(r, 0, 3));
				char detail[64];
				snprintf(detail, sizeof detail, "booked on %s", PQgetvalue(r, 0, 1));
				report(fn, arg, "other_day", t->txn, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), &t->amount, &amount,
				       detail);
			} else {
				report(fn, arg, "missing_in_ours", t->txn, NULL, t->account, &t->amount, NULL, NULL);
				sum->missing_ours++;
			}
			PQclear(r);
			sum->problems++;
			continue;
		}
		o->matched = true;
		if (o->amount != t->amount) {
			report(fn, arg, "amount_mismatch", t->txn, o->our_id, o->account, &t->amount, &o->amount, NULL);
			sum->mismatched++;
			sum->problems++;
		} else if (*t->account && !same_account(t->account, o->account)) {
			report(fn, arg, "account_mismatch", t->txn, o->our_id, o->account, &t->amount, &o->amount, t->account);
			sum->mismatched++;
			sum->problems++;
		} else {
			sum->matched++;
		}
	}
	for (size_t i = 0; i < ours.n; i++) {
		struct row *o = &ours.v[i];
		if (o->matched)
			continue;
		report(fn, arg, "missing_in_theirs", o->txn, o->our_id, o->account, NULL, &o->amount, o->when);
		sum->missing_theirs++;
		sum->problems++;
	}
	if (trailer_bad) {
		report(fn, arg, "their_total_mismatch", "TOTAL", NULL, NULL, &sum->their_sum, NULL,
		       "the file's TOTAL line does not match its rows");
		sum->problems++;
	}
	rc = 0;
out:
	rows_free(&theirs);
	rows_free(&ours);
	return rc;
}

/* A field of theirs is written into the CSV report only when it needs no quoting (ours are plain). */
static const char *plain(const char *s) { return s && strpbrk(s, ",\"\r\n") ? "(unprintable)" : s ? s : ""; }

static void print_problem(const struct reconcile_problem *p, void *arg)
{
	(void)arg;
	char a[MONEY_BUFSZ] = "", b[MONEY_BUFSZ] = "";
	if (p->theirs)
		money_format(*p->theirs, a);
	if (p->ours)
		money_format(*p->ours, b);
	printf("%s,%s,%s,%s,%s,%s,%s\n", p->problem, plain(p->txn), plain(p->our_id), plain(p->account), a, b,
	       plain(p->detail));
}

int reconcile_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *day = NULL, *path = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--partner") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc)
			day = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return cli_usage(usage_reconcile, "unknown option or missing value");
		else if (!path)
			path = argv[i];
		else
			return cli_usage(usage_reconcile, "one FILE.csv only");
	}
	if (!name || !path)
		return cli_usage(usage_reconcile, "--partner and FILE.csv are required");
	if (day && !registry_date_valid(day))
		return cli_usage(usage_reconcile, "--date: a date YYYY-MM-DD");
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 2;
	int rc = 2;
	char protocol[16] = "";
	long long id = cli_partner_id(db, name, protocol);
	FILE *f = NULL;
	if (id < 0)
		goto out;
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "gatewayd: cannot open %s\n", path);
		goto out;
	}
	printf("problem,partner_txn_id,our_id,account,their_amount,our_amount,detail\n");
	struct reconcile_summary sum;
	char err[RECONCILE_ERRSZ];
	int r = reconcile_run(db, id, strcmp(protocol, "osmp") == 0, day, f, path, cfg->partner_tz, print_problem, NULL,
			      &sum, err);
	if (r != 0) {
		fprintf(stderr, "gatewayd: %s%s\n", err, r == 2 && strstr(err, "names no day") ? " (--date YYYY-MM-DD)" : "");
		rc = 2;
		goto out;
	}
	char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
	fprintf(stderr,
		"reconcile %s: theirs %zu payments %s, ours %zu payments %s; %ld matched, %ld missing on our side, "
		"%ld missing on theirs, %ld mismatched, %ld problems\n",
		name, sum.theirs, money_format(sum.their_sum, a), sum.ours, money_format(sum.our_sum, b), sum.matched,
		sum.missing_ours, sum.missing_theirs, sum.mismatched, sum.problems);
	rc = sum.problems ? 1 : 0;
out:
	if (f && f != stdin)
		fclose(f);
	PQfinish(db);
	return rc;
}
