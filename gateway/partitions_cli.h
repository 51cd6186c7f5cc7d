/* partitions_cli.h — the operator's commands for the monthly partitions (schema/021_partitions.sql):
 *   gatewayd partitions list
 *   gatewayd partitions ensure [--months N]
 *   gatewayd partitions detach --before YYYY-MM
 * Run as the schema owner (GATEWAY_MIGRATE_DATABASE_URL), like migrate. Blocking libpq (command line
 * only, never on an event loop). */
#ifndef GW_PARTITIONS_CLI_H
#define GW_PARTITIONS_CLI_H

struct config;

/* argv[1] is "partitions". Returns 0, 1 (the database refused or failed: its message printed) or
 * 2 (usage). */
int partitions_cli_main(const struct config *cfg, int argc, char **argv);

#endif
