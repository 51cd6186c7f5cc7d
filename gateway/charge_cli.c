/* charge_cli.c — `gatewayd charge`: the daily subscription fee. For each day asked (by default every
 * day after the last one charged, through yesterday, in GATEWAY_PARTNER_TZ) it debits every active
 * account's share of its monthly fee with charge_fees() (schema/011_balance.sql), in batches of
 * account ids, each its own short transaction: bookings meanwhile wait at most for the batch they
 * meet. The database makes it exactly once per account and day (a unique index), so running it twice,
 * or on two hosts at once, charges nothing twice; a batch that meets a concurrent run waits for it
 * and then finds its accounts charged. */
#include "charge_cli.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "migrations.h"
#include "money.h"
#include "registries.h"

#define BATCH 10000               /* account ids per transaction */
#define MAX_JOBS 8

static const char usage_charge[] =
	"usage: gatewayd charge [--date YYYY-MM-DD] [--through YYYY-MM-DD] [--jobs N]\n"
	"  debits the daily share of every active account's monthly fee, once per account and day.\n"
	"  Without options: every day after the last one charged, through yesterday (GATEWAY_PARTNER_TZ).\n"
	"  --date D: from D (through D unless --through); --through D: up to D. Only days that are over.\n"
	"  --jobs N: batches on N connections at once (1-8, default 1: bookings meanwhile keep most of the\n"
	"  database; more finishes sooner on a quiet night).\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One value of a one-row statement into out; -1 when it failed (printed). */
static int one_value(PGconn *db, const char *sql, int n, const char *const *p, char *out, size_t outsz,
		     const char *what)
{
	PGresult *r = cli_exec(db, sql, n, p, what);
	if (!r)
		return -1;
	snprintf(out, outsz, "%s", PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return 0;
}

/* One day's run, shared by its jobs: the next batch to take and the totals. */
struct day_run {
	const struct config *cfg;
	const char *day;
	long long next, hi;
	long long charged, amount, suspended;
	int failed;
	pthread_mutex_t lock;
};

/* Takes batches until none is left (or one failed), on its own connection. */
static void *charge_batches(void *arg)
{
	struct day_run *d = arg;
	PGconn *db = migrate_connect(d->cfg->database_url);
	char below[24];
	snprintf(below, sizeof below, "%ld", d->cfg->suspend_below);
	for (;;) {
		pthread_mutex_lock(&d->lock);
		long long first = d->next;
		d->next += BATCH;
		bool done = !db || d->failed || first > d->hi;
		if (!db)
			d->failed = 1;
		pthread_mutex_unlock(&d->lock);
		if (done)
			break;
		char a[24], b[24];
		snprintf(a, sizeof a, "%lld", first);
		snprintf(b, sizeof b, "%lld", first + BATCH);
		const char *p[4] = {d->day, d->cfg->suspend_never ? NULL : below, a, b};
		PGresult *r = NULL;
		for (int attempt = 0; attempt < 3 && !r; attempt++)   /* a deadlock with a booking is retried */
			r = cli_exec(db, "SELECT charged, amount, suspended FROM charge_fees($1::date, $2::bigint, $3::bigint, $4::bigint)",
				     4, p, "charge_fees");
		pthread_mutex_lock(&d->lock);
		if (r) {
			d->charged += atoll(PQgetvalue(r, 0, 0));
			d->amount += atoll(PQgetvalue(r, 0, 1));
			d->suspended += atoll(PQgetvalue(r, 0, 2));
		} else {
			d->failed = 1;
		}
		pthread_mutex_unlock(&d->lock);
		PQclear(r);
	}
	PQfinish(db);
	return NULL;
}

/* Charges one day in batches on `jobs` connections; 0, or 1 when a batch failed (what was charged
 * stays charged, and the next run finishes the day). */
static int charge_day(PGconn *db, const struct config *cfg, const char *day, long long lo, long long hi, int jobs)
{
	struct day_run d = {.cfg = cfg, .day = day, .next = lo, .hi = hi, .lock = PTHREAD_MUTEX_INITIALIZER};
	double t0 = now_s();
	pthread_t t[MAX_JOBS];
	int started = 0;
	for (int i = 1; i < jobs; i++)
		if (pthread_create(&t[started], NULL, charge_batches, &d) == 0)
			started++;
	charge_batches(&d);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (d.failed)
		return 1;
	long long charged = d.charged, amount = d.amount, suspended = d.suspended;
	char c[24], m[24], s[24];
	snprintf(c, sizeof c, "%lld", charged);
	snprintf(m, sizeof m, "%lld", amount);
	snprintf(s, sizeof s, "%lld", suspended);
	const char *p[4] = {day, c, m, s};
	PGresult *r = cli_exec(db, "SELECT fee_run_finished($1::date, $2::bigint, $3::bigint, $4::bigint)", 4, p,
			       "fee_run_finished");
	if (!r)
		return 1;
	PQclear(r);
	char rub[MONEY_BUFSZ];
	printf("%s: %lld accounts charged %s RUB, %lld suspended (%.1f s)\n", day, charged, money_format(amount, rub),
	       suspended, now_s() - t0);
	fflush(stdout);
	return 0;
}

int charge_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char *from = NULL, *through = NULL;
	long jobs = 1;
	for (int i = 2; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--jobs") == 0) {
			if (config_parse_int(argv[++i], 1, MAX_JOBS, &jobs) != 0)
				return cli_usage(usage_charge, "--jobs: 1 to 8");
		} else if (i + 1 < argc && strcmp(argv[i], "--date") == 0) {
			from = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--through") == 0) {
			through = argv[++i];
		} else {
			return cli_usage(usage_charge, "unknown option or missing value");
		}
	}
	if ((from && !registry_date_valid(from)) || (through && !registry_date_valid(through)))
		return cli_usage(usage_charge, "a date is YYYY-MM-DD");
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc = 1;
	const char *tz[1] = {cfg->partner_tz};
	PGresult *r = cli_exec(db, "SELECT balance_configure($1)", 1, tz, "balance_configure");
	if (!r)
		goto out;
	PQclear(r);
	/* the days: [from or the day after the last run (yesterday when none)] .. [through, else from, else
	 * yesterday]; never a day that is not over yet */
	const char *p[3] = {from, through, cfg->partner_tz};
	r = cli_exec(db,
		     "WITH t AS (SELECT (now() AT TIME ZONE $3)::date AS today),"
		     " b AS (SELECT coalesce($1::date, (SELECT max(day) + 1 FROM fee_runs), t.today - 1) AS f,"
		     "              coalesce($2::date, $1::date, t.today - 1) AS l, t.today FROM t)"
		     " SELECT to_char(d, 'YYYY-MM-DD') FROM b, generate_series(b.f, least(b.l, b.today - 1), interval '1 day') d"
		     " ORDER BY d",
		     3, p, "the days to charge");
	if (!r)
		goto out;
	char lo[24] = "", hi[24] = "";
	if (one_value(db, "SELECT min(id), max(id) FROM accounts", 0, NULL, lo, sizeof lo, "accounts") != 0 ||
	    one_value(db, "SELECT max(id) FROM accounts", 0, NULL, hi, sizeof hi, "accounts") != 0) {
		PQclear(r);
		goto out;
	}
	if (PQntuples(r) == 0) {
		printf("nothing to charge: %s\n", from || through ? "the days asked for are not over yet"
							 : "every day through yesterday is charged");
		rc = 0;
	} else if (!*lo) {
		printf("no accounts\n");
		rc = 0;
	} else {
		rc = 0;
		for (int i = 0; i < PQntuples(r) && rc == 0; i++)
			rc = charge_day(db, cfg, PQgetvalue(r, i, 0), atoll(lo), atoll(hi), (int)jobs);
	}
	PQclear(r);
out:
	PQfinish(db);
	return rc;
}
