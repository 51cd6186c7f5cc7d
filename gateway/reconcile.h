/* reconcile.h — `gatewayd reconcile`: a partner's registry against ours. */
#ifndef GW_RECONCILE_H
#define GW_RECONCILE_H

struct config;

/* argv[1] is "reconcile". Returns a process exit code: 0 when both sides agree, 1 on differences
 * or errors (printed), 2 on a usage error. */
int reconcile_cli_main(const struct config *cfg, int argc, char **argv);

#endif
