/* partitions_cli.c — `gatewayd partitions …` (see partitions_cli.h): lists the monthly partitions,
 * creates the missing ones ahead, and detaches old months for archiving. The database does the work
 * (partitions_list(), partitions_ensure(), partitions_detach()); this file parses, calls and prints. */
#include "partitions_cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli.h"
#include "config.h"
#include "migrations.h"
#include "registries.h"

#define NCOLS 6

static const char usage_partitions[] =
	"usage: gatewayd partitions list\n"
	"       gatewayd partitions ensure [--months N]      (N 1-36, default 3)\n"
	"       gatewayd partitions detach --before YYYY-MM\n";

/* The rows of partitions_list() in columns as wide as their widest value; counts right-aligned. */
static int partitions_list(PGconn *db)
{
	PGresult *r = cli_exec(db,
			       "SELECT parent, partition, range_from, range_to, rows_estimate, pg_size_pretty(bytes)"
			       "  FROM partitions_list()",
			       0, NULL, "partitions list");
	if (!r)
		return 1;
	static const char *const head[NCOLS] = {"PARENT", "PARTITION", "FROM", "TO", "ROWS~", "SIZE"};
	int w[NCOLS];
	for (int c = 0; c < NCOLS; c++) {
		w[c] = (int)strlen(head[c]);
		for (int i = 0; i < PQntuples(r); i++)
			if (PQgetlength(r, i, c) > w[c])
				w[c] = PQgetlength(r, i, c);
	}
	for (int i = -1; i < PQntuples(r); i++) {
		for (int c = 0; c < NCOLS; c++) {
			const char *v = i < 0 ? head[c] : PQgetvalue(r, i, c);
			printf(c >= 4 ? " %*s" : c ? " %-*s" : "%-*s", w[c], v);
		}
		putchar('\n');
	}
	if (PQntuples(r) == 0)
		printf("partitions: none (no table is partitioned)\n");
	PQclear(r);
	return 0;
}

static int partitions_ensure(PGconn *db, const char *months)
{
	const char *p[1] = {months};
	PGresult *r = cli_exec(db, "SELECT parent, partition FROM partitions_ensure($1::int)", 1, p, "partitions ensure");
	if (!r)
		return 1;
	for (int i = 0; i < PQntuples(r); i++)
		printf("created %s (of %s)\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0));
	if (PQntuples(r) == 0)
		printf("partitions: nothing to create\n");
	PQclear(r);
	return 0;
}

/* Detaches the months before `month` (YYYY-MM) in one transaction and says how to archive them. */
static int partitions_detach(PGconn *db, const char *month)
{
	char before[16];
	snprintf(before, sizeof before, "%s-01", month);
	const char *p[1] = {before};
	PGresult *r = cli_exec(db, "SELECT parent, partition, rows FROM partitions_detach($1::date)", 1, p,
			       "partitions detach");
	if (!r)
		return 1;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++)
		printf("detached %s (of %s): %s rows\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0), PQgetvalue(r, i, 2));
	if (n == 0) {
		printf("partitions: nothing to detach before %s\n", month);
	} else {
		const char *t = PQgetvalue(r, 0, 1);
		printf("The detached tables are ordinary tables now (listed in partition_archive). Archive each one,\n"
		       "then drop it, as the schema owner; for %s:\n"
		       "  pg_dump -Fc -t %s -f %s.dump \"$GATEWAY_MIGRATE_DATABASE_URL\"\n"
		       "  psql \"$GATEWAY_MIGRATE_DATABASE_URL\" -c 'DROP TABLE %s'\n",
		       t, t, t, t);
	}
	PQclear(r);
	return 0;
}

int partitions_cli_main(const struct config *cfg, int argc, char **argv)
{
	if (argc < 3)
		return cli_usage(usage_partitions, NULL);
	const char *sub = argv[2], *months = "3", *month = NULL;
	bool list = strcmp(sub, "list") == 0, ensure = strcmp(sub, "ensure") == 0, detach = strcmp(sub, "detach") == 0;
	if (!list && !ensure && !detach)
		return cli_usage(usage_partitions, "unknown partitions command");
	if (list && argc != 3)
		return cli_usage(usage_partitions, NULL);
	if (ensure && argc != 3) {
		long n;
		if (argc != 5 || strcmp(argv[3], "--months") != 0)
			return cli_usage(usage_partitions, NULL);
		if (config_parse_int(argv[4], 1, 36, &n) != 0)
			return cli_usage(usage_partitions, "--months: 1 to 36");
		months = argv[4];
	}
	if (detach) {
		char day[16];
		if (argc != 5 || strcmp(argv[3], "--before") != 0)
			return cli_usage(usage_partitions, NULL);
		month = argv[4];
		snprintf(day, sizeof day, "%.8s-01", month);
		if (strlen(month) != 7 || !registry_date_valid(day))
			return cli_usage(usage_partitions, "--before: a month, YYYY-MM (e.g. 2026-01)");
	}
	PGconn *db = migrate_connect(cfg->migrate_database_url);
	if (!db)
		return 1;
	PQsetErrorVerbosity(db, PQERRORS_TERSE);   /* the server's message, without its PL/pgSQL context */
	/* the months are UTC months: their bounds read as such whatever the server's TimeZone */
	PGresult *r = migrate_check_current(db) == 0 ? cli_exec(db, "SET TimeZone = 'UTC'", 0, NULL, "partitions") : NULL;
	int rc = !r ? 1 : list ? partitions_list(db) : ensure ? partitions_ensure(db, months) : partitions_detach(db, month);
	PQclear(r);
	PQfinish(db);
	return rc;
}
