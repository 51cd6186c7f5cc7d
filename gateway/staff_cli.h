/* staff_cli.h — the operator's commands for the console's people:
 *   gatewayd staff add LOGIN --role support|finance|admin   (prints a generated password once)
 *   gatewayd staff list | disable LOGIN | enable LOGIN | reset LOGIN
 * Each is recorded in the audit log as done by "cli:<OS user>". Blocking libpq (command line only). */
#ifndef GW_STAFF_CLI_H
#define GW_STAFF_CLI_H

struct config;

/* argv[1] is "staff". Returns 0, 1 (failure) or 2 (usage). */
int staff_cli_main(const struct config *cfg, int argc, char **argv);

#endif
