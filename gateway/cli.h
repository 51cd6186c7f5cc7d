/* cli.h — what the operator's commands (partner, registry, reconcile, and later ones) share: the
 * usage message, a parameterised statement that prints its own error, a partner by name. Blocking
 * libpq: for the command line, never for an event loop. */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <libpq-fe.h>

/* Prints why (when given) and the usage text on stderr; returns the exit code 2. */
int cli_usage(const char *text, const char *why);
/* Runs a parameterised statement; prints the error (what failed) and returns NULL on failure. */
PGresult *cli_exec(PGconn *c, const char *sql, int n, const char *const *params, const char *what);
/* The partner's id and protocol by name; -1 (message printed) when there is none. */
long long cli_partner_id(PGconn *db, const char *name, char protocol[16]);
/* A partner's registry rows of one day (registries.h's query), or NULL (message printed). */
PGresult *cli_registry_rows(PGconn *db, long long id, const char *day, const char *tz);

#endif
