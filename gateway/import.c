/* import.c — `gatewayd accounts import FILE.csv`: loads or updates subscribers from billing.
 * All or nothing: every row is validated (all bad rows are reported by line number) and the whole
 * file is written in one transaction, through the same upsert_account() the internal API uses. */
#include "import.h"

#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "csv.h"
#include "migrations.h"

static const char *const columns[] = {"contract", "phone", "email", "holder_name", "status", "monthly_fee", "balance"};
#define NCOLS 7
#define MAX_REPORTED 50

static int exec_simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "gatewayd: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

int accounts_import(const char *conninfo, const char *path, const char *as_of, const char *tz)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "gatewayd: cannot open %s\n", path);
		return 1;
	}
	static struct csv_reader rd;
	csv_init(&rd, f);
	char err[256];
	int rc = 1;
	PGconn *c = NULL;
	int map[NCOLS];
	for (int i = 0; i < NCOLS; i++)
		map[i] = -1;

	int got = csv_read(&rd, err);
	if (got != 1) {
		fprintf(stderr, "gatewayd: %s: %s\n", path, got == 0 ? "the file is empty; expected a header line" : err);
		goto out;
	}
	for (int i = 0; i < rd.nf; i++) {
		int k = 0;
		while (k < NCOLS && strcmp(rd.fields[i], columns[k]) != 0)
			k++;
		if (k == NCOLS) {
			fprintf(stderr, "gatewayd: %s: line 1: unknown column \"%.40s\" (known: contract, phone, email, "
					"holder_name, status, monthly_fee, balance)\n", path, rd.fields[i]);
			goto out;
		}
		if (map[k] >= 0) {
			fprintf(stderr, "gatewayd: %s: line 1: column %s appears twice\n", path, columns[k]);
			goto out;
		}
		map[k] = i;
	}
	int header_fields = rd.nf;
	if (map[0] < 0) {
		fprintf(stderr, "gatewayd: %s: line 1: the header has no contract column\n", path);
		goto out;
	}
	/* A balance is billing's at one moment: without it, the import could erase a payment booked since. */
	if (map[6] >= 0 && !as_of) {
		fprintf(stderr, "gatewayd: %s has a balance column: give the moment of the export with --as-of "
				"(e.g. --as-of '2026-12-01 00:00:00')\n", path);
		rc = 2;
		goto out;
	}

	c = migrate_connect(conninfo);
	if (!c)
		goto out;
	if (exec_simple(c, "BEGIN") != 0)
		goto out;
	long rows = 0, bad = 0, created = 0;
	for (;;) {
		got = csv_read(&rd, err);
		if (got == 0)
			break;
		if (got < 0) {
			fprintf(stderr, "gatewayd: %s: %s\n", path, err);
			bad++;
			break;               /* the reader cannot resynchronise after a syntax error */
		}
		if (rd.nf == 1 && rd.fields[0][0] == '\0')
			continue;            /* blank line */
		rows++;
		const char *v[NCOLS];
		int fields_ok = 1;
		for (int k = 0; k < NCOLS; k++)
			v[k] = map[k] >= 0 && map[k] < rd.nf ? rd.fields[map[k]] : NULL;
		if (rd.nf != header_fields) {
			if (++bad <= MAX_REPORTED)
				fprintf(stderr, "gatewayd: %s: line %ld: %d fields, the header has %d\n", path, rd.line, rd.nf,
					header_fields);
			fields_ok = 0;
		}
		struct account_input in;
		if (fields_ok && account_validate(v[0], v[1], v[2], v[3], v[4], v[5], v[6], &in, err) != 0) {
			if (++bad <= MAX_REPORTED)
				fprintf(stderr, "gatewayd: %s: line %ld: %s\n", path, rd.line, err);
			fields_ok = 0;
		}
		if (fields_ok && in.has_balance && account_set_as_of(&in, as_of, err) != 0) {
			fprintf(stderr, "gatewayd: --as-of: %s\n", err);
			bad++;
			break;
		}
		if (!fields_ok || bad)
			continue;            /* keep validating to report every bad row, but write nothing more */
		struct account_params p;
		account_params(&in, tz, &p);
		PGresult *r = PQexecParams(c, account_upsert_sql, ACCOUNT_UPSERT_NPARAMS, NULL, p.v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			if (++bad <= MAX_REPORTED)
				fprintf(stderr, "gatewayd: %s: line %ld: the database refused the row: %s", path, rd.line,
					PQresultErrorMessage(r));
		} else if (strcmp(PQgetvalue(r, 0, 0), "stale") == 0) {
			if (++bad <= MAX_REPORTED)
				fprintf(stderr, "gatewayd: %s: line %ld: contract %s: --as-of is older than the balance last "
						"imported for it; refused\n", path, rd.line, in.contract);
		} else if (strcmp(PQgetvalue(r, 0, 0), "future") == 0) {
			if (++bad <= MAX_REPORTED)
				fprintf(stderr, "gatewayd: %s: line %ld: --as-of lies in the future; refused\n", path, rd.line);
		} else if (strcmp(PQgetvalue(r, 0, 0), "created") == 0) {
			created++;
		}
		PQclear(r);
	}
	if (bad) {
		if (bad > MAX_REPORTED)
			fprintf(stderr, "gatewayd: %s: %ld more bad rows not shown\n", path, bad - MAX_REPORTED);
		fprintf(stderr, "gatewayd: %s: %ld bad rows; nothing was imported\n", path, bad);
		exec_simple(c, "ROLLBACK");
		goto out;
	}
	if (exec_simple(c, "COMMIT") != 0)
		goto out;
	printf("imported %ld accounts: %ld created, %ld updated\n", rows, created, rows - created);
	rc = 0;
out:
	PQfinish(c);
	if (f != stdin)
		fclose(f);
	return rc;
}
