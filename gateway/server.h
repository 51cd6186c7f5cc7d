/* server.h — the HTTP service: listener, event-loop threads (each with its own evhttp and
 * database pool), routing, access log and metrics, graceful shutdown on SIGTERM/SIGINT. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stddef.h>

#include "config.h"
#include "http.h"

/* Serves until SIGTERM/SIGINT, then stops accepting, finishes in-flight requests (up to
 * cfg->shutdown_timeout seconds) and closes the pools. Each event loop gets its own context of every
 * active adapter (init before the loop starts, fini after it ends). Returns a process exit code. */
int server_run(const struct config *cfg, const struct route *routes, size_t nroutes,
	       const struct adapter *const *active, size_t nactive);

/* Work beside the HTTP loops on threads of its own (the receipt mailer). ready() runs on the main
 * thread once the listener is bound and the loops run (a gateway that cannot listen never starts
 * it); a non-zero return stops the server with exit code 1. done() runs after the loops have
 * drained, before the final "stopped" line. Set before server_run(); NULL members are skipped. */
struct server_sidecar {
	int (*ready)(const struct config *cfg);
	void (*done)(void);
};
extern struct server_sidecar server_sidecar;

#endif
