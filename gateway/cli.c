/* cli.c — what the operator's commands share (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registries.h"

int cli_usage(const char *text, const char *why)
{
	if (why)
		fprintf(stderr, "gatewayd: %s\n", why);
	fputs(text, stderr);
	return 2;
}

/* Runs a parameterised statement; prints the error and returns NULL on failure. */
PGresult *cli_exec(PGconn *c, const char *sql, int n, const char *const *params, const char *what)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0)
		fprintf(stderr, "gatewayd: %s: already exists\n", what);
	else
		fprintf(stderr, "gatewayd: %s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return NULL;
}

/* The partner's id and protocol by name; -1 (message printed) when there is none. */
long long cli_partner_id(PGconn *db, const char *name, char protocol[16])
{
	const char *p[1] = {name};
	PGresult *r = cli_exec(db, "SELECT id, protocol FROM partners WHERE name = $1", 1, p, "partner lookup");
	if (!r)
		return -1;
	long long id = -1;
	if (PQntuples(r) == 1) {
		id = atoll(PQgetvalue(r, 0, 0));
		snprintf(protocol, 16, "%s", PQgetvalue(r, 0, 1));
	} else {
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
	}
	PQclear(r);
	return id;
}

PGresult *cli_registry_rows(PGconn *db, long long id, const char *day, const char *tz)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", id);
	const char *p[3] = {pid, day, tz};
	return cli_exec(db, registry_sql, 3, p, "registry");
}
