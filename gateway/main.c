/* main.c — `gatewayd`: subcommands serve (default), migrate, partitions, accounts import, config, version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "cashbox.h"
#include "config.h"
#include "evmem.h"
#include "charge_cli.h"
#include "fiscal.h"
#include "version.h"
#include "webhooks.h"
#include "import.h"
#include "log.h"
#include "mailer.h"
#include "metrics.h"
#include "migrations.h"
#include "offload.h"
#include "partitions_cli.h"
#include "partner_cli.h"
#include "reconcile.h"
#include "routes.h"
#include "server.h"
#include "staff_cli.h"

static const char usage[] =
	"usage: gatewayd [command]\n"
	"\n"
	"commands:\n"
	"  serve                      run the HTTP service (default)\n"
	"  migrate                    apply pending schema migrations (safe to run twice or concurrently)\n"
	"  partitions list            the monthly partitions: range, estimated rows, size\n"
	"  partitions ensure [--months N]\n"
	"                             create the missing ones from this month through N ahead (1-36, default 3)\n"
	"  partitions detach --before YYYY-MM\n"
	"                             detach the months before YYYY-MM for archiving (pg_dump, then DROP TABLE)\n"
	"  accounts import [--as-of TIME] FILE.csv\n"
	"                             load or update subscribers; all rows or none (--as-of: the moment of\n"
	"                             the file's balances, required with a balance column)\n"
	"  partner add NAME --protocol osmp|sber-online|json [--login L] [--cidr CIDR]... [--min 1.00 --max 15000.00]\n"
	"              [--fiscal]      (--fiscal: our cashbox receipts the partner's cash)\n"
	"                             add a terminal network / partner; prints its credentials once\n"
	"  partner list | disable NAME | enable NAME | rotate NAME\n"
	"  staff add LOGIN --role support|finance|admin\n"
	"                             add a person of the console (/admin); prints the password once\n"
	"  staff list | disable LOGIN | enable LOGIN | reset LOGIN\n"
	"  registry --partner NAME --date YYYY-MM-DD\n"
	"                             that day's payments of a partner as CSV with totals\n"
	"  reconcile --partner NAME [--date YYYY-MM-DD] FILE.csv\n"
	"                             compare a partner's registry with ours (exit 1 when they differ)\n"
	"  charge [--date YYYY-MM-DD] [--through YYYY-MM-DD] [--jobs N]\n"
	"                             debit the daily share of the monthly fees (default: every day not\n"
	"                             yet charged, through yesterday); once per account and day\n"
	"  config                     print the configuration reference (GATEWAY_* variables)\n"
	"  version                    print the version\n"
	"\n"
	"Configuration comes from GATEWAY_* environment variables; secrets may be given as NAME_FILE.\n"
	"Run `gatewayd config` for the full list.\n";

/* Refuses to serve a database whose schema is behind this binary's migrations, or to serve (or run a
 * command) as the schema owner instead of the service role. */
static int check_database(const struct config *cfg)
{
	PGconn *c = migrate_connect(cfg->database_url);
	if (!c)
		return -1;
	int rc = migrate_check_service(c, cfg->service_role) != 0 ? -1 : migrate_check_current(c);
	PQfinish(c);
	return rc;
}

/* The outbox workers beside the HTTP loops: receipt mail and fiscal documents. */
static int sidecars_start(const struct config *cfg)
{
	if (mailer_start(cfg) != 0 || webhooks_start(cfg) != 0)
		return -1;
	return fiscal_start(cfg, cashbox_find(cfg->fiscal));
}

static void sidecars_stop(void)
{
	fiscal_stop();
	webhooks_stop();
	mailer_stop();
}

/* A function the database runs once at start; 0, or -1 with what failed on stderr. */
static int startup_call(PGconn *c, const char *sql, int n, const char *const *p, const char *what)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "gatewayd: cannot set %s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

/* Tells the database what this deployment receipts (the booking's fiscal outbox rows follow it). */
static int configure_fiscal(PGconn *c, const struct config *cfg)
{
	char wait[24];
	snprintf(wait, sizeof wait, "%ld", cfg->fiscal_mail_wait_ms);
	const char *p[2] = {cfg->fiscal, wait};
	return startup_call(c, "SELECT fiscal_configure($1, $2::bigint)", 2, p, "the fiscal mode");
}

/* The days of the daily fee are GATEWAY_PARTNER_TZ days: the database's tariff changes take effect on
 * the next such day, and the lookup's days_left counts them (fees_today() reads TZ, set here once
 * before any thread starts). */
static int configure_balance(PGconn *c, const struct config *cfg)
{
	setenv("TZ", cfg->partner_tz, 1);
	tzset();
	const char *p[1] = {cfg->partner_tz};
	return startup_call(c, "SELECT balance_configure($1)", 1, p, "the time zone of fee days");
}

/* Whether changes write events (and how long they are kept), and the webhook endpoints this gateway
 * delivers to: known to the database before the first delivery. */
static int configure_events(PGconn *c, const struct config *cfg)
{
	char keep[16];
	snprintf(keep, sizeof keep, "%d", cfg->events_keep_days);
	const char *p[2] = {cfg->events ? "true" : "false", keep};
	if (startup_call(c, "SELECT events_configure($1::boolean, $2::int)", 2, p, "the events") != 0)
		return -1;
	if (!cfg->webhook_n)
		return 0;
	char *urls = webhooks_url_array(cfg);
	const char *u[1] = {urls};
	int rc = urls ? startup_call(c, "SELECT webhook_register($1::text[])", 1, u, "the webhook endpoints") : -1;
	free(urls);
	return rc;
}

/* libevent's own warnings join the JSON log. */
static void on_event_log(int severity, const char *msg)
{
	log_kv(severity >= EVENT_LOG_ERR ? LOG_ERROR : severity >= EVENT_LOG_WARN ? LOG_WARN : LOG_DEBUG, msg, NULL);
}

static int serve(const struct config *cfg)
{
	evmem_install();              /* evhttp's many small blocks per request through a per-thread cache */
	char err[256];
	size_t nroutes = 0, nactive = 0;
	const struct adapter **active = NULL;
	struct route *table = routes_build(cfg->adapters, &nroutes, &active, &nactive, err);
	if (!table) {
		fprintf(stderr, "gatewayd: %s\n", err);
		return 2;
	}
	PGconn *c = check_database(cfg) == 0 ? migrate_connect(cfg->database_url) : NULL;
	int fc = c ? configure_fiscal(c, cfg) : -1;
	if (fc == 0)
		fc = configure_balance(c, cfg);
	if (fc == 0)
		fc = configure_events(c, cfg);
	PQfinish(c);
	if (fc != 0) {
		free(table);
		free(active);
		return 1;
	}
	event_set_log_callback(on_event_log);
	for (size_t i = 0; i < nroutes; i++)
		metrics_add_route(i, table[i].method, table[i].pattern);
	/* The mailer starts once the gateway listens and stops after the HTTP drain. */
	server_sidecar = (struct server_sidecar){sidecars_start, sidecars_stop};
	/* password hashes (partner logins) run on one thread off the event loops: however many arrive,
	 * they take at most one core, and the failed-login limits keep them few */
	if (offload_start(1) != 0) {
		fprintf(stderr, "gatewayd: cannot start the password-check threads\n");
		free(table);
		free(active);
		return 1;
	}
	int rc = server_run(cfg, table, nroutes, active, nactive);
	offload_stop();
	free(table);
	free(active);
	evmem_release();
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "serve";
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0) {
			fputs(usage, stdout);
			return 0;
		}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("gatewayd %s\n", GATEWAY_VERSION);
		return 0;
	}
	if (strcmp(cmd, "config") == 0) {
		config_print_reference();
		return 0;
	}
	bool partner_cmd = strcmp(cmd, "partner") == 0 || strcmp(cmd, "registry") == 0 || strcmp(cmd, "reconcile") == 0;
	int known = strcmp(cmd, "serve") == 0 || strcmp(cmd, "migrate") == 0 || strcmp(cmd, "accounts") == 0 ||
		    strcmp(cmd, "charge") == 0 || strcmp(cmd, "staff") == 0 || strcmp(cmd, "partitions") == 0 || partner_cmd;
	if (!known) {
		fprintf(stderr, "gatewayd: unknown command \"%.40s\"\n%s", cmd, usage);
		return 2;
	}
	const char *as_of = NULL;
	if (strcmp(cmd, "accounts") == 0) {
		bool ok = argc >= 4 && strcmp(argv[2], "import") == 0;
		if (ok && argc == 6 && strcmp(argv[3], "--as-of") == 0)
			as_of = argv[4];
		else if (ok && argc != 4)
			ok = false;
		if (!ok || (argv[argc - 1][0] == '-' && argv[argc - 1][1] != '\0')) {
			fprintf(stderr, "gatewayd: usage: gatewayd accounts import [--as-of TIME] FILE.csv\n");
			return 2;
		}
	}
	if ((strcmp(cmd, "serve") == 0 || strcmp(cmd, "migrate") == 0) && argc > 2) {
		fprintf(stderr, "gatewayd: %s takes no arguments (configuration is in GATEWAY_* variables)\n", cmd);
		return 2;
	}

	struct config cfg;
	char err[CONFIG_ERRSZ];
	if (config_load(&cfg, err) != 0) {
		fprintf(stderr, "gatewayd: %s\n", err);
		return 2;
	}
	log_set_level((enum log_level)log_parse_level(cfg.log_level));
	int rc;
	if (strcmp(cmd, "migrate") == 0) {
		rc = migrate_run(cfg.migrate_database_url, cfg.service_role, 0);
	} else if (strcmp(cmd, "partitions") == 0) {      /* the schema owner's, like migrate */
		rc = partitions_cli_main(&cfg, argc, argv);
	} else if (strcmp(cmd, "serve") != 0 && check_database(&cfg) != 0) {
		rc = 1;
	} else if (strcmp(cmd, "accounts") == 0) {
		rc = accounts_import(cfg.database_url, argv[argc - 1], as_of, cfg.partner_tz);
	} else if (strcmp(cmd, "reconcile") == 0) {
		rc = reconcile_cli_main(&cfg, argc, argv);
	} else if (strcmp(cmd, "charge") == 0) {
		rc = charge_cli_main(&cfg, argc, argv);
	} else if (strcmp(cmd, "staff") == 0) {
		rc = staff_cli_main(&cfg, argc, argv);
	} else if (partner_cmd) {
		rc = partner_cli_main(&cfg, argc, argv);
	} else {
		rc = serve(&cfg);
	}
	config_free(&cfg);
	return rc;
}
