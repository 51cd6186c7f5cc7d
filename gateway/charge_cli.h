/* charge_cli.h — `gatewayd charge`: the daily subscription fee run (see charge_cli.c). */
#ifndef GW_CHARGE_CLI_H
#define GW_CHARGE_CLI_H

struct config;

/* argv[1] is "charge". Returns the exit code. */
int charge_cli_main(const struct config *cfg, int argc, char **argv);

#endif
