/* partner_cli.h — the operator's commands for terminal networks and partner retailers:
 *   gatewayd partner add NAME --protocol osmp|sber-online|json [--login LOGIN] [--cidr CIDR]...
 *                              [--min 1.00] [--max 15000.00]
 *   gatewayd partner list | disable NAME | enable NAME | rotate NAME
 *   gatewayd registry --partner NAME --date YYYY-MM-DD
 * (`gatewayd reconcile` is reconcile.h.) Blocking libpq (command line only, never on an event loop). */
#ifndef GW_PARTNER_CLI_H
#define GW_PARTNER_CLI_H

struct config;

/* argv[1] is "partner", "registry" or "reconcile". Returns a process exit code: 0 success
 * (reconcile: no differences), 1 failure (reconcile: differences found), 2 usage or input error. */
int partner_cli_main(const struct config *cfg, int argc, char **argv);

#endif
