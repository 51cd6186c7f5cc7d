/* janitor.h — the pending-payment janitor: every GATEWAY_JANITOR_INTERVAL seconds it takes web
 * payments that stayed created/pending longer than GATEWAY_PENDING_RECHECK, asks their provider
 * for the status and applies the answer through the one state machine (source "janitor"), and
 * cancels those still unpaid after GATEWAY_PENDING_EXPIRE. Runs on one event loop per process;
 * any number of gateways may run it: rows are claimed with FOR UPDATE SKIP LOCKED and a recheck
 * time, and applying a verdict twice books nothing twice. Hourly it also has the database create the
 * monthly partitions still missing for the coming three months (partitions_ensure()). */
#ifndef GW_JANITOR_H
#define GW_JANITOR_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct db_pool;
struct config;
struct adapter_ctx;
struct janitor;

/* Starts the timer on base. ctxs (borrowed, nctx of them) are this loop's adapter contexts; only
 * card/wallet adapters are looked after. Returns NULL when cfg->janitor_interval is 0 or on failure. */
struct janitor *janitor_start(struct event_base *base, struct db_pool *db, const struct config *cfg,
			      struct adapter_ctx *ctxs, size_t nctx);
/* No new runs; a run in progress finishes its current step and ends. */
void janitor_stop(struct janitor *j);
/* True while a run is in progress (the loop should not be torn down yet). */
bool janitor_busy(const struct janitor *j);
void janitor_free(struct janitor *j);

#endif
