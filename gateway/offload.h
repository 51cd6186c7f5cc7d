/* offload.h — blocking work (a password hash) run on a small pool of threads, its
 * result handed back to the event loop that asked, so a flood of such work cannot stall a loop.
 *
 * The pool is process-wide (offload_start before the loops run, offload_stop after they end); each
 * event loop has an inbox (offload_new on its base). work(arg) runs on a pool thread; done(arg) then
 * runs on the inbox's loop, exactly once — unless the inbox is freed first, when it never runs (the
 * loop is gone; its requests were abandoned with it). */
#ifndef GW_OFFLOAD_H
#define GW_OFFLOAD_H

#include <stdbool.h>

struct event_base;
struct offload;

/* Starts `threads` pool threads (1..16). 0 or -1. */
int offload_start(int threads);
/* Stops and joins them; queued work is dropped. */
void offload_stop(void);

/* The inbox of the loop on base; NULL on failure. */
struct offload *offload_new(struct event_base *base);
/* Closes it (on its loop's thread): work queued or running for it will not call back. */
void offload_free(struct offload *o);

/* Queues work. False when the pool is not running or its queue is full (at most `OFFLOAD_QUEUE_MAX`
 * jobs): the caller decides then, at once, without the work. */
#define OFFLOAD_QUEUE_MAX 256
bool offload_run(struct offload *o, void (*work)(void *arg), void (*done)(void *arg), void *arg);

#endif
