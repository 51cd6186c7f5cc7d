/* ratelimit.h — token buckets per key (a client address, a login), shared by all event loops,
 * in bounded memory, keyed by a per-process secret hash so nobody can plan collisions. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A limiter allowing `per_minute` requests per key on average and `burst` at once, with room for
 * about `entries` keys (sets of 8; when a set is full a newcomer takes the place of its fullest
 * bucket and inherits its tokens). Returns NULL on allocation failure. */
struct ratelimit *ratelimit_new(int per_minute, int burst, int entries);
void ratelimit_free(struct ratelimit *rl);
/* Bytes the limiter holds, fixed at creation. */
size_t ratelimit_memory(const struct ratelimit *rl);
/* How many times a key took over another key's bucket. */
uint64_t ratelimit_evictions(const struct ratelimit *rl);

/* Takes one token for key (len bytes). True when allowed; otherwise *retry_after_s (may be NULL)
 * says how long until the next token. Thread-safe. */
bool ratelimit_take(struct ratelimit *rl, const void *key, size_t len, int *retry_after_s);
/* The same without taking a token: would one be there? */
bool ratelimit_peek(struct ratelimit *rl, const void *key, size_t len, int *retry_after_s);

/* The key of a client address: IPv4 (and IPv4-mapped IPv6) per address, IPv6 per v6_prefix bits.
 * Returns its length (at most 17). */
size_t ratelimit_addr_key(const char *addr, int v6_prefix, unsigned char out[17]);
/* ratelimit_take with that key. */
bool ratelimit_take_addr(struct ratelimit *rl, const char *addr, int v6_prefix, int *retry_after_s);


/* Failed logins counted per login and per client address (IPv6 per /64), shared by every loop: past
 * `per_minute` failures of either (a minute's worth at once), a login is refused without checking
 * its password, so a flood of wrong passwords costs almost nothing. */
struct fail_limiter {
	struct ratelimit *by_login, *by_addr;
};
/* 0, or -1 on allocation failure (the limiter then lets everything through). */
int fail_limiter_init(struct fail_limiter *f, int per_minute);
enum fail_verdict { FAIL_ALLOWED = 0, FAIL_LOGIN_THROTTLED, FAIL_ADDRESS_THROTTLED };
/* Whether a login attempt may be checked (takes nothing). */
enum fail_verdict fail_limiter_check(struct fail_limiter *f, const char *login, const char *addr);
/* Counts one failed attempt against the login and the address. */
void fail_limiter_count(struct fail_limiter *f, const char *login, const char *addr);
#endif
