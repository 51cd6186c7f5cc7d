/* migrate.c — `gatewayd migrate`: applies the embedded schema/ migrations in order, recording each
 * (version, name, sha256) in schema_migrations. Blocking libpq: this runs before or beside the
 * service, never on its event loop. */
#include "migrations.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Any constant works; it only has to be the same for every gatewayd. */
#define MIGRATE_LOCK_KEY "7250190411"

PGconn *migrate_connect(const char *conninfo)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {conninfo, "5", "gatewayd", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		size_t n = strlen(msg);
		while (n && msg[n - 1] == ' ')
			msg[--n] = '\0';
		fprintf(stderr, "gatewayd: cannot connect to the database: %s\n", msg);
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "gatewayd: %s: %s", what, PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Finds the recorded checksum of version v in r (NULL if not applied). */
static const char *applied_sum(PGresult *r, int v)
{
	for (int i = 0; i < PQntuples(r); i++)
		if (atoi(PQgetvalue(r, i, 0)) == v)
			return PQgetvalue(r, i, 1);
	return NULL;
}

static PGresult *read_applied(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT version, checksum FROM schema_migrations ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return NULL;
	}
	return r;
}

int migrate_pending(PGconn *c)
{
	PGresult *e = PQexec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	if (PQresultStatus(e) != PGRES_TUPLES_OK) {
		fprintf(stderr, "gatewayd: cannot read the schema version: %s", PQresultErrorMessage(e));
		PQclear(e);
		return -1;
	}
	int exists = strcmp(PQgetvalue(e, 0, 0), "t") == 0;
	PQclear(e);
	if (!exists)
		return (int)migrations_count;
	PGresult *r = read_applied(c);
	if (!r) {
		fprintf(stderr, "gatewayd: cannot read schema_migrations\n");
		return -1;
	}
	int pending = 0;
	for (size_t i = 0; i < migrations_count; i++)
		if (!applied_sum(r, atoi(migrations[i].name)))
			pending++;
	PQclear(r);
	return pending;
}

int migrate_check_current(PGconn *c)
{
	int pending = migrate_pending(c);
	if (pending > 0)
		fprintf(stderr, "gatewayd: the database schema is %d migration(s) behind; run `gatewayd migrate` first\n",
			pending);
	return pending == 0 ? 0 : -1;
}

/* Creates the service role when it is missing (NOLOGIN: deployments give it LOGIN or a member) and
 * grants it exactly what gateway_grant_service() says. The owner must not be the service role. */
static int grant_service(PGconn *c, const char *role, int quiet)
{
	const char *p[1] = {role};
	PGresult *r = PQexecParams(c, "SELECT current_user = $1::name, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
				   1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "gatewayd: cannot look up the service role: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	bool self = strcmp(PQgetvalue(r, 0, 0), "t") == 0, exists = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	PQclear(r);
	if (self) {
		fprintf(stderr, "gatewayd: GATEWAY_SERVICE_ROLE (%s) is the role migrate runs as: the service needs a role "
				"of its own that does not own the schema\n", role);
		return -1;
	}
	if (!exists) {
		char *id = PQescapeIdentifier(c, role, strlen(role));
		char sql[160];
		snprintf(sql, sizeof sql, "CREATE ROLE %s NOLOGIN", id ? id : "\"\"");
		PQfreemem(id);
		if (exec_ok(c, sql, "create the service role (the owner needs CREATEROLE, or create it beforehand)") != 0)
			return -1;
		if (!quiet)
			printf("created role %s (NOLOGIN: grant it LOGIN or make a login role a member)\n", role);
	}
	r = PQexecParams(c, "SELECT gateway_grant_service($1)", 1, NULL, p, NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "gatewayd: granting the service role failed: %s", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

int migrate_check_service(PGconn *c, const char *role)
{
	const char *p[1] = {role};
	PGresult *r = PQexecParams(
		c,
		"SELECT current_user,"
		" current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('public.accounts')),"
		" (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
		" EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AND pg_has_role(current_user, $1::name, 'MEMBER')",
		1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fprintf(stderr, "gatewayd: cannot check the database role: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	int rc = 0;
	if (strcmp(PQgetvalue(r, 0, 1), "t") == 0 || strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
		fprintf(stderr, "gatewayd: GATEWAY_DATABASE_URL logs in as %.63s, %s; the service runs as the service role "
				"(GATEWAY_SERVICE_ROLE=%s) and only migrate uses the owner (GATEWAY_MIGRATE_DATABASE_URL)\n",
			PQgetvalue(r, 0, 0), strcmp(PQgetvalue(r, 0, 2), "t") == 0 ? "a superuser" : "the schema owner",
			role);
		rc = -1;
	} else if (strcmp(PQgetvalue(r, 0, 3), "t") != 0) {
		fprintf(stderr, "gatewayd: GATEWAY_DATABASE_URL logs in as %.63s, which is not the service role %s nor a member "
				"of it; run `gatewayd migrate` and grant the role\n", PQgetvalue(r, 0, 0), role);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int migrate_run(const char *conninfo, const char *service_role, int quiet)
{
	PGconn *c = migrate_connect(conninfo);
	if (!c)
		return 1;
	int rc = 1;
	PGresult *r = NULL;
	if (exec_ok(c, "SET client_min_messages = warning", "configure session") != 0 ||
	    exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "take the migration lock") != 0)
		goto out;
	if (exec_ok(c,
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
		    " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		    "create schema_migrations") != 0)
		goto unlock;
	r = read_applied(c);
	if (!r) {
		fprintf(stderr, "gatewayd: cannot read schema_migrations\n");
		goto unlock;
	}
	int applied = 0;
	for (size_t i = 0; i < migrations_count; i++) {
		const struct embedded_file *m = &migrations[i];
		int version = atoi(m->name);      /* "006_web_payments.sql" -> 6 */
		char sum[65] = "";
		sha256_hex(m->data, m->len, sum);
		const char *have = applied_sum(r, version);
		if (have) {
			if (strcmp(have, sum) != 0) {
				fprintf(stderr,
					"gatewayd: migration %s was changed after it was applied; add a new migration instead\n",
					m->name);
				goto unlock;
			}
			continue;
		}
		if (exec_ok(c, "BEGIN", "begin") != 0)
			goto unlock;
		PGresult *x = PQexec(c, m->data);
		if (PQresultStatus(x) != PGRES_COMMAND_OK && PQresultStatus(x) != PGRES_TUPLES_OK) {
			fprintf(stderr, "gatewayd: migration %s failed: %s", m->name, PQresultErrorMessage(x));
			PQclear(x);
			exec_ok(c, "ROLLBACK", "rollback");
			goto unlock;
		}
		PQclear(x);
		char ver[16];
		snprintf(ver, sizeof ver, "%d", version);
		const char *params[3] = {ver, m->name, sum};
		x = PQexecParams(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3, NULL,
				 params, NULL, NULL, 0);
		int ins_ok = PQresultStatus(x) == PGRES_COMMAND_OK;
		if (!ins_ok)
			fprintf(stderr, "gatewayd: recording migration %s failed: %s", m->name, PQresultErrorMessage(x));
		PQclear(x);
		if (!ins_ok || exec_ok(c, "COMMIT", "commit") != 0) {
			exec_ok(c, "ROLLBACK", "rollback");
			goto unlock;
		}
		applied++;
		if (!quiet)
			printf("applied %s\n", m->name);
	}
	if (grant_service(c, service_role, quiet) != 0)
		goto unlock;
	if (!quiet)
		printf("schema is up to date (%zu migrations, %d applied now)\n", migrations_count, applied);
	rc = 0;
unlock:
	exec_ok(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "release the migration lock");
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}
