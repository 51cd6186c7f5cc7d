/* outbox.h — one outbox worker for every kind of work that leaves the gateway after a commit (receipt
 * mail, fiscal documents, ...). A row is written in the business transaction; worker threads, off the
 * HTTP loops, claim due rows with FOR UPDATE SKIP LOCKED and a lease (so any number of gateways can
 * run them), hand each to the kind's sender, record the outcome while the claim is still theirs,
 * retry with jittered backoff, and sleep until a NOTIFY on the kind's channel, the next due time or
 * shutdown. This file is the machine; a kind (mailer.c, fiscal.c) is a small struct of callbacks.
 *
 * Each thread owns one blocking PostgreSQL connection (LISTENing on the channel before its first
 * claim, so no NOTIFY falls between the two), reopened with backoff when lost. */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct config;
struct outbox;
struct outbox_worker;

struct outbox_kind {
	const char *name;          /* "mailer", "fiscal": in logs and the connection's application_name */
	const char *listen;        /* NOTIFY channel that says work is due */
	/* Longest sleep while idle (0: 30 s, a safety net should a NOTIFY be missed). A kind whose new
	 * items are not announced (NOTIFY serialises the committing transactions: too dear per booking)
	 * looks this often. */
	long long idle_poll_ms;
	/* One bigint: milliseconds until the next item is due (NULL when none). */
	const char *next_due_sql;
	/* A thread's own state (a libcurl handle, an HTTP client); NULL: the outbox does not start. */
	void *(*open)(struct outbox_worker *w, const struct config *cfg);
	void (*close)(void *st);
	/* One round: give back expired claims, claim due items, handle and record each. Returns the
	 * number of items claimed, or -1 on a database error (the thread pauses and reconnects). */
	int (*round)(struct outbox_worker *w, void *st);
	/* Thread 0, every few seconds while idle: refresh the kind's gauges (may be NULL). */
	void (*gauges)(struct outbox_worker *w, void *st);
};

/* Starts `threads` workers of kind k (none when 0; NULL and a line on stderr on failure). cfg and k
 * must outlive outbox_stop. */
struct outbox *outbox_start(const struct config *cfg, const struct outbox_kind *k, int threads);
/* Asks the threads to stop and joins them: an item being handled is finished and recorded (aborted
 * only once GATEWAY_SHUTDOWN_TIMEOUT has passed, see outbox_hard_stop). NULL is fine. */
void outbox_stop(struct outbox *o);

/* ---- for the kinds' callbacks ------------------------------------------------------------- */

/* Runs a statement that returns rows; the result (caller clears) or NULL (logged; a broken connection
 * is dropped and reopened by the next round). */
PGresult *outbox_query(struct outbox_worker *w, const char *sql, int n, const char *const *params);
/* Records an outcome with sql (a function answering one boolean: was the claim still ours?), trying
 * through a lost connection for up to ms. Returns 1 recorded, 0 recorded but the claim had
 * expired (another worker may have it), -1 not recorded. */
int outbox_record(struct outbox_worker *w, const char *sql, int n, const char *const *params, long long ms);
/* Claims due items and reads them: sql_claim($1 batch, $2 lease ms) answers one text, the claimed
 * ids as an array literal; sql_claimed($1 tz, $2 those ids) then reads them in a second statement
 * (it sees what the claim committed; one joined statement could miss rows committed after its
 * snapshot). The rows (caller clears; none when nothing was due) or NULL on a database error (the
 * claims, if any, expire and are recovered). */
PGresult *outbox_claim(struct outbox_worker *w, const char *sql_claim, int batch, long long lease_ms,
		       const char *sql_claimed, const char *tz);
/* Gives back claims whose lease expired (their worker died or hung): sql returns two text columns
 * per item given back, logged as a warning `msg` with the keys k0 and k1. 0, or -1 on a database error. */
int outbox_recover(struct outbox_worker *w, const char *sql, const char *msg, const char *k0, const char *k1);
bool outbox_stopping(const struct outbox_worker *w);
int outbox_index(const struct outbox_worker *w);
/* Monotonic ms after which a transfer still running should be aborted (0 = not shutting down). */
const _Atomic uint64_t *outbox_hard_stop(const struct outbox_worker *w);

/* Delay before the next attempt after `attempts` failed ones (>= 1): base * 2^(attempts-1), at most
 * max, then jittered into its upper half by rnd (a random number). */
long long outbox_backoff_ms(int attempts, long long base_ms, long long max_ms, uint32_t rnd);

#endif
