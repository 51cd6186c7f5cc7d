/* routes.h — the route table of the public and internal HTTP API. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stddef.h>

#include "http.h"

extern const struct route routes[];
extern const size_t nroutes;
/* "GET /healthz"-style names, one per route, for metrics labels. */
extern const char *const route_names[];

#endif
