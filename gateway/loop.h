/* loop.h — what an event loop offers the requests it serves: the configuration, its database pool,
 * its context of every active adapter, and the counters the server's shutdown reads. The server
 * (server.c) owns one per loop; a request (http.h) points at its loop's. It sits below both, so the
 * request helpers never call into the server. */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct db_pool;
struct offload;
struct adapter;
struct adapter_ctx;

/* An active adapter and this loop's context of it. */
struct loop_adapter {
	const struct adapter *adapter;
	struct adapter_ctx *ctx;
};

struct loop {
	const struct config *cfg;
	struct db_pool *db;
	struct offload *offload;      /* this loop's inbox of work done off it (a password hash) */
	struct loop_adapter *adapters;    /* one per active adapter */
	size_t nadapters;
	bool draining;                /* shutting down: replies say Connection: close */
	long inflight;                /* requests arrived and not yet answered */
	long unsent;                  /* replies handed to evhttp whose last byte is not written yet */
};

#endif
