/* refusals.h — refused requests of known partners, counted in memory by every event loop and added to
 * partner_refusals (schema/016_partner_refusals.sql) by loop 0 every few seconds, for the console's
 * overview. Bounded: at most REFUSALS_SLOTS partner/reason pairs wait between two flushes; beyond, the
 * count goes to the log and the metrics only. */
#ifndef GW_REFUSALS_H
#define GW_REFUSALS_H

struct db_pool;
struct event_base;

#define REFUSALS_SLOTS 256
#define REFUSALS_FLUSH_MS 5000

/* Counts one refused request of partner_id for reason (a literal such as "credentials"). Thread-safe. */
void refusals_note(long long partner_id, const char *reason);

/* Starts flushing the counts into the database every REFUSALS_FLUSH_MS on base (loop 0). Returns an
 * opaque handle for refusals_stop, or NULL. */
struct refusals *refusals_start(struct event_base *base, struct db_pool *db, const char *tz);
/* Flushes what is counted and stops. */
void refusals_stop(struct refusals *f);

#endif
