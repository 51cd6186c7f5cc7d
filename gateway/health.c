/* health.c — the database check behind /readyz: a real round trip through the pool. */
#include "health.h"

#include <stdlib.h>

#include "db.h"

static struct db_stmt q_ping = {"health_ping", "SELECT 1", 0, 0};

struct ping {
	void (*done)(bool ok, const char *reason, void *arg);
	void *arg;
};

static void on_ping(const struct db_result *r, void *arg)
{
	struct ping *p = arg;
	p->done(r->status == DB_OK, r->status == DB_OK ? "" : r->message, p->arg);
	free(p);
}

void health_check_db(struct db_pool *db, void (*done)(bool ok, const char *reason, void *arg), void *arg)
{
	struct ping *p = malloc(sizeof *p);
	if (!p) {
		done(false, "out of memory", arg);
		return;
	}
	p->done = done;
	p->arg = arg;
	db_exec_read(db, &q_ping, NULL, 0, on_ping, p);
}
