/* partner_cli.c — `gatewayd partner …` and `gatewayd registry` (see partner_cli.h; `gatewayd
 * reconcile` is reconcile.c). Credentials are generated here and printed once; only the PBKDF2 hash of a
 * password is stored (the HMAC secret of a JSON partner is stored as is: we need it to verify). */
#include "partner_cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "crypto.h"
#include "csv.h"
#include "ident.h"
#include "migrations.h"
#include "money.h"
#include "partners.h"
#include "registries.h"

static const char usage_partner[] =
	"usage: gatewayd partner add NAME --protocol osmp|sber-online|json [--login LOGIN] [--cidr CIDR]...\n"
	"                            [--min 1.00] [--max 15000.00] [--fiscal]\n"
	"         (--fiscal: the operator's cashbox receipts this partner's cash; by default its own register does)\n"
	"       gatewayd partner list\n"
	"       gatewayd partner disable NAME | enable NAME | rotate NAME\n";
static const char usage_registry[] = "usage: gatewayd registry --partner NAME --date YYYY-MM-DD\n";

static void print_creds(const char *login, const struct partner_secret *c)
{
	printf("login:       %s\n", login);
	if (c->hmac)
		printf("hmac_secret: %s\n", c->secret);
	else
		printf("password:    %s\n", c->password);
	printf("Hand these to the partner over a safe channel now: they are not shown again%s.\n",
	       c->hmac ? "" : " and only a hash of the password is kept");
}

static int partner_add(PGconn *db, int argc, char **argv)
{
	if (argc < 4)
		return cli_usage(usage_partner, "partner add needs a NAME");
	const char *name = argv[3], *protocol = NULL, *login = NULL;
	char cidrs[PARTNER_MAX_CIDRS * 56 + 3] = "{";
	int ncidrs = 0;
	int64_t min = 100, max = 1500000;
	bool fiscal = false;
	if (!partner_name_valid(name))
		return cli_usage(usage_partner, "NAME: 2 to 63 characters of a-z, 0-9, '-', '_', starting with a letter or digit");
	for (int i = 4; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--fiscal") == 0) {
			fiscal = true;
			continue;
		}
		if (!val)
			return cli_usage(usage_partner, "an option is missing its value");
		i++;
		if (strcmp(opt, "--protocol") == 0) {
			protocol = val;
		} else if (strcmp(opt, "--login") == 0) {
			login = val;
		} else if (strcmp(opt, "--cidr") == 0) {
			struct partner_net n;
			char err[128], text[64];
			if (partner_net_parse(val, &n, err) != 0)
				return cli_usage(usage_partner, err);
			if (ncidrs == PARTNER_MAX_CIDRS)
				return cli_usage(usage_partner, "too many --cidr (at most 32)");
			partner_net_format(&n, text, sizeof text);
			if (ncidrs++)
				strcat(cidrs, ",");
			strcat(cidrs, text);
		} else if (strcmp(opt, "--min") == 0 || strcmp(opt, "--max") == 0) {
			int64_t *dst = opt[3] == 'i' ? &min : &max;
			if (money_parse(val, dst) != MONEY_OK)
				return cli_usage(usage_partner, "--min/--max: an amount in roubles like 1.00 or 15000.00");
		} else {
			fprintf(stderr, "gatewayd: unknown option %.40s\n", opt);
			return cli_usage(usage_partner, NULL);
		}
	}
	strcat(cidrs, "}");
	if (!partner_protocol_valid(protocol))
		return cli_usage(usage_partner, "--protocol must be osmp, sber-online or json");
	if (!login)
		login = name;
	if (!partner_login_valid(login))
		return cli_usage(usage_partner, "--login: 1 to 63 characters of letters, digits, '.', '_', '-'");
	if (min < 1 || max < min)
		return cli_usage(usage_partner, "--min must be at least 0.01 and not above --max");

	struct partner_secret c;
	if (partner_secret_make(protocol, &c) != 0) {
		fprintf(stderr, "gatewayd: cannot generate credentials (no randomness)\n");
		return 1;
	}
	char smin[24], smax[24];
	snprintf(smin, sizeof smin, "%lld", (long long)min);
	snprintf(smax, sizeof smax, "%lld", (long long)max);
	const char *p[9] = {name,  protocol, login, c.hmac ? NULL : c.hash, c.hmac ? c.secret : NULL, cidrs, smin, smax,
			    fiscal ? "true" : "false"};
	PGresult *r = cli_exec(db, partner_insert_sql, 9, p, "partner add (a partner with this name or login)");
	if (!r) {
		OPENSSL_cleanse(&c, sizeof c);
		return 1;
	}
	PQclear(r);
	char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
	printf("partner %s added: protocol %s, amounts %s..%s, networks %s%s\n", name, protocol, money_format(min, a),
	       money_format(max, b), ncidrs ? cidrs : "any (no --cidr given)",
	       fiscal ? ", its cash receipted by our cashbox (--fiscal)" : "");
	print_creds(login, &c);
	if (!ncidrs)
		fprintf(stderr, "gatewayd: warning: no --cidr given; requests are accepted from any address\n");
	OPENSSL_cleanse(&c, sizeof c);
	return 0;
}

static int partner_list(PGconn *db)
{
	PGresult *r = cli_exec(db,
			   "SELECT name, protocol, login, CASE WHEN active THEN 'active' ELSE 'disabled' END, min_amount,"
			   "       max_amount, array_to_string(cidrs, ' '), to_char(created_at, 'YYYY-MM-DD')"
			   "  FROM partners ORDER BY name",
			   0, NULL, "partner list");
	if (!r)
		return 1;
	printf("%-24s %-12s %-24s %-9s %10s %10s %-10s %s\n", "NAME", "PROTOCOL", "LOGIN", "STATE", "MIN", "MAX", "CREATED",
	       "NETWORKS");
	for (int i = 0; i < PQntuples(r); i++) {
		char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
		const char *nets = PQgetvalue(r, i, 6);
		printf("%-24s %-12s %-24s %-9s %10s %10s %-10s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), money_format(atoll(PQgetvalue(r, i, 4)), a),
		       money_format(atoll(PQgetvalue(r, i, 5)), b), PQgetvalue(r, i, 7), *nets ? nets : "any");
	}
	PQclear(r);
	return 0;
}

static int partner_set_active(PGconn *db, const char *name, bool active)
{
	const char *p[2] = {name, active ? "true" : "false"};
	PGresult *r = cli_exec(db, "UPDATE partners SET active = $2::boolean WHERE name = $1", 2, p, "partner update");
	if (!r)
		return 1;
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!found) {
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
		return 1;
	}
	printf("partner %s %s (running gateways notice within %d seconds)\n", name, active ? "enabled" : "disabled",
	       PARTNER_CACHE_TTL);
	return 0;
}

static int partner_rotate(PGconn *db, const char *name)
{
	const char *p1[1] = {name};
	PGresult *r = cli_exec(db, "SELECT protocol, login FROM partners WHERE name = $1", 1, p1, "partner rotate");
	if (!r)
		return 1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
		return 1;
	}
	char protocol[16], login[PARTNER_LOGIN_MAX + 1];
	snprintf(protocol, sizeof protocol, "%s", PQgetvalue(r, 0, 0));
	snprintf(login, sizeof login, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	struct partner_secret c;
	if (partner_secret_make(protocol, &c) != 0) {
		fprintf(stderr, "gatewayd: cannot generate credentials (no randomness)\n");
		return 1;
	}
	const char *p[3] = {name, c.hmac ? NULL : c.hash, c.hmac ? c.secret : NULL};
	r = cli_exec(db, "UPDATE partners SET password_hash = $2, hmac_secret = $3 WHERE name = $1", 3, p, "partner rotate");
	if (!r) {
		OPENSSL_cleanse(&c, sizeof c);
		return 1;
	}
	PQclear(r);
	printf("partner %s: new credentials (the old ones stop working within %d seconds)\n", name, PARTNER_CACHE_TTL);
	print_creds(login, &c);
	OPENSSL_cleanse(&c, sizeof c);
	return 0;
}

static int cmd_registry(const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *day = NULL;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return cli_usage(usage_registry, "an option is missing its value");
		if (strcmp(argv[i], "--partner") == 0)
			name = argv[i + 1];
		else if (strcmp(argv[i], "--date") == 0)
			day = argv[i + 1];
		else
			return cli_usage(usage_registry, "unknown option");
	}
	if (!name || !day)
		return cli_usage(usage_registry, "--partner and --date are required");
	if (!registry_date_valid(day))
		return cli_usage(usage_registry, "--date: a date YYYY-MM-DD");
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc = 1;
	char protocol[16];
	long long id = cli_partner_id(db, name, protocol);
	PGresult *r = id > 0 ? cli_registry_rows(db, id, day, cfg->partner_tz) : NULL;
	if (r) {
		size_t len = 0;
		char *csv = registry_csv(r, day, &len);
		if (csv && fwrite(csv, 1, len, stdout) == len && fflush(stdout) == 0)
			rc = 0;
		free(csv);
		PQclear(r);
	}
	PQfinish(db);
	return rc;
}

int partner_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argv[1];
	if (strcmp(cmd, "registry") == 0)
		return cmd_registry(cfg, argc, argv);
	if (argc < 3)
		return cli_usage(usage_partner, NULL);
	const char *sub = argv[2];
	bool named = strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0 || strcmp(sub, "rotate") == 0;
	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && !named)
		return cli_usage(usage_partner, "unknown partner command");
	if ((named && argc != 4) || (strcmp(sub, "list") == 0 && argc != 3))
		return cli_usage(usage_partner, NULL);
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc;
	if (strcmp(sub, "add") == 0)
		rc = partner_add(db, argc, argv);
	else if (strcmp(sub, "list") == 0)
		rc = partner_list(db);
	else if (strcmp(sub, "rotate") == 0)
		rc = partner_rotate(db, argv[3]);
	else
		rc = partner_set_active(db, argv[3], strcmp(sub, "enable") == 0);
	PQfinish(db);
	return rc;
}
