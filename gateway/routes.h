/* routes.h — the route table of the public and internal HTTP API. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stddef.h>

#include "http.h"

struct adapter;

/* The service's route table: the core routes, then the inbound routes of every terminal adapter
 * and of the outbound adapters enabled in the comma-separated list. *active receives those
 * adapters. Returns a new table (caller frees it and *active), or NULL with err set. */
struct route *routes_build(const char *enabled, size_t *nroutes, const struct adapter ***active, size_t *nactive,
			   char err[256]);

#endif
