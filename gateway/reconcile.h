/* reconcile.h — `gatewayd reconcile`: a partner's registry against ours. */
#ifndef GW_RECONCILE_H
#define GW_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

struct config;

#define RECONCILE_ERRSZ 256

/* One difference: problem is duplicate_in_theirs, other_day, missing_in_ours, missing_in_theirs,
 * amount_mismatch, account_mismatch or their_total_mismatch; amounts in kopecks (NULL: that side
 * has none). Strings are borrowed for the call; theirs may hold anything the file held. */
struct reconcile_problem {
	const char *problem, *txn, *our_id, *account;
	const int64_t *theirs, *ours;
	const char *detail;
};
typedef void (*reconcile_report_fn)(const struct reconcile_problem *p, void *arg);

struct reconcile_summary {
	size_t theirs, ours;
	int64_t their_sum, our_sum;
	long matched, missing_ours, missing_theirs, mismatched, problems;
};

/* Compares a partner's registry (the CSV in f, named fname in messages) with our payments of its days
 * (or of day when given) through db (blocking libpq: the command line, or a thread off the event
 * loops), reporting each difference to fn. Returns 0 (sum filled), 2 when the file is not a registry
 * (err says why) or 1 when the database failed (err). */
int reconcile_run(PGconn *db, long long partner_id, bool osmp, const char *day, FILE *f, const char *fname,
		  const char *tz, reconcile_report_fn fn, void *arg, struct reconcile_summary *sum,
		  char err[RECONCILE_ERRSZ]);

/* argv[1] is "reconcile". Returns a process exit code: 0 when both sides agree, 1 on differences
 * or errors (printed), 2 on a usage error. */
int reconcile_cli_main(const struct config *cfg, int argc, char **argv);

#endif
