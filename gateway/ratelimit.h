/* ratelimit.h — per-client-address token buckets shared by all event loops. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>

struct ratelimit;

/* A limiter allowing `per_minute` requests per key on average and `burst` at once. Tracks up to
 * `slots` keys (least recently seen keys are evicted). Returns NULL on allocation failure. */
struct ratelimit *ratelimit_new(int per_minute, int burst, int slots);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token for key. True when allowed; otherwise *retry_after_s says how long until the
 * next token. Thread-safe. */
bool ratelimit_take(struct ratelimit *rl, const char *key, int *retry_after_s);

#endif
