/* staff_cli.c — `gatewayd staff …` (see staff_cli.h). */
#include "staff_cli.h"

#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "migrations.h"
#include "staff.h"

static const char usage_staff[] = "usage: gatewayd staff add LOGIN --role support|finance|admin\n"
				  "       gatewayd staff list\n"
				  "       gatewayd staff disable LOGIN | enable LOGIN | reset LOGIN\n";

/* The audit line of a command: done by "cli:<OS user>", from no address. */
static void audit(PGconn *db, const char *action, const char *login, const char *details)
{
	const char *user = getenv("USER");
	const struct passwd *pw = user && *user ? NULL : getpwuid(getuid());
	if (pw)
		user = pw->pw_name;
	char who[100];
	snprintf(who, sizeof who, "cli:%.60s", user && *user ? user : "unknown");
	const char *p[4] = {who, action, login, details};
	PGresult *r = cli_exec(db, "SELECT staff_audit_add(NULL, $1, NULL, NULL, $2, $3, $4::jsonb)", 4, p, "audit");
	PQclear(r);
}

static void print_password(const char *login, const char *password)
{
	printf("login:    %s\n", login);
	printf("password: %s\n", password);
	printf("Hand it to the person over a safe channel now: it is not shown again and only its scrypt hash is kept.\n");
}

static int staff_add(PGconn *db, int argc, char **argv)
{
	const char *login = argv[3], *role = NULL;
	if (!staff_login_valid(login))
		return cli_usage(usage_staff, "LOGIN: 2 to 63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit");
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc)
			return cli_usage(usage_staff, "an option is missing its value");
		if (strcmp(argv[i], "--role") != 0)
			return cli_usage(usage_staff, "unknown option");
		role = argv[i + 1];
	}
	if (!staff_role_valid(role))
		return cli_usage(usage_staff, "--role must be support, finance or admin");
	char password[21], hash[STAFF_HASH_BUFSZ];
	if (staff_password_new(password) != 0 || staff_password_hash(password, hash) != 0) {
		fprintf(stderr, "gatewayd: cannot make a password (no randomness or memory)\n");
		return 1;
	}
	const char *p[3] = {login, role, hash};
	PGresult *r = cli_exec(db, "INSERT INTO staff (login, role, password_hash) VALUES ($1, $2, $3)", 3, p,
			       "staff add (a staff member with this login)");
	if (!r) {
		OPENSSL_cleanse(password, sizeof password);
		return 1;
	}
	PQclear(r);
	char details[64];
	snprintf(details, sizeof details, "{\"role\": \"%s\"}", role);
	audit(db, "staff.add", login, details);
	printf("staff %s added: role %s\n", login, role);
	print_password(login, password);
	OPENSSL_cleanse(password, sizeof password);
	return 0;
}

static int staff_list(PGconn *db)
{
	PGresult *r = cli_exec(db,
			       "SELECT s.login, s.role, CASE WHEN s.active THEN 'active' ELSE 'disabled' END,"
			       "       to_char(s.created_at, 'YYYY-MM-DD'),"
			       "       coalesce(to_char((SELECT max(a.at) FROM staff_audit a WHERE a.staff_id = s.id"
			       "                          AND a.action = 'login'), 'YYYY-MM-DD HH24:MI'), '-')"
			       "  FROM staff s ORDER BY s.login",
			       0, NULL, "staff list");
	if (!r)
		return 1;
	printf("%-24s %-8s %-9s %-10s %s\n", "LOGIN", "ROLE", "STATE", "CREATED", "LAST LOGIN");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%-24s %-8s %-9s %-10s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		       PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	PQclear(r);
	return 0;
}

/* disable / enable / reset one login; reset prints the new password. */
static int staff_change(PGconn *db, const char *sub, const char *login)
{
	bool reset = strcmp(sub, "reset") == 0;
	char password[21] = "", hash[STAFF_HASH_BUFSZ] = "";
	if (reset && (staff_password_new(password) != 0 || staff_password_hash(password, hash) != 0)) {
		fprintf(stderr, "gatewayd: cannot make a password (no randomness or memory)\n");
		return 1;
	}
	const char *p[2] = {login, reset ? hash : NULL};
	const char *sql = reset ? "UPDATE staff SET password_hash = $2, password_set_at = now() WHERE login = $1"
		: strcmp(sub, "disable") == 0 ? "UPDATE staff SET active = false, disabled_at = now() WHERE login = $1"
					       : "UPDATE staff SET active = true, disabled_at = NULL WHERE login = $1";
	PGresult *r = cli_exec(db, sql, reset ? 2 : 1, p, "staff update");
	if (!r) {
		OPENSSL_cleanse(password, sizeof password);
		return 1;
	}
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!found) {
		fprintf(stderr, "gatewayd: no staff member with login %.63s\n", login);
		return 1;
	}
	char action[32];
	snprintf(action, sizeof action, "staff.%s", sub);
	audit(db, action, login, "{}");
	if (reset) {
		printf("staff %s: new password (every session of theirs is signed out)\n", login);
		print_password(login, password);
		OPENSSL_cleanse(password, sizeof password);
	} else {
		printf("staff %s %s%s\n", login, strcmp(sub, "disable") == 0 ? "disabled" : "enabled",
		       strcmp(sub, "disable") == 0 ? " (every session of theirs is signed out)" : "");
	}
	return 0;
}

int staff_cli_main(const struct config *cfg, int argc, char **argv)
{
	if (argc < 3)
		return cli_usage(usage_staff, NULL);
	const char *sub = argv[2];
	bool named = strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0 || strcmp(sub, "reset") == 0;
	bool add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0;
	if (!add && !list && !named)
		return cli_usage(usage_staff, "unknown staff command");
	if ((named && argc != 4) || (list && argc != 3) || (add && argc < 4))
		return cli_usage(usage_staff, NULL);
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc = add ? staff_add(db, argc, argv) : list ? staff_list(db) : staff_change(db, sub, argv[3]);
	PQfinish(db);
	return rc;
}
