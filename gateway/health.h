/* health.h — readiness of the service's dependencies (the database). */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <stdbool.h>

struct db_pool;

/* Runs a trivial query through the pool; done(ok, reason, arg) is called once, later. */
void health_check_db(struct db_pool *db, void (*done)(bool ok, const char *reason, void *arg), void *arg);

#endif
