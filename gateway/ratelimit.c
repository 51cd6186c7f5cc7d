/* ratelimit.c — token buckets in a fixed-size table of hashed keys, guarded by striped mutexes.
 * A collision evicts the older bucket, which can only make the limiter more lenient for one key,
 * never block a client it should allow for long; memory stays bounded whatever clients do. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define STRIPES 16
#define KEYSZ 48

struct bucket {
	char key[KEYSZ];
	double tokens;            /* not money: a rate, fractional tokens are fine */
	uint64_t last_us;
};

struct ratelimit {
	double per_us;            /* tokens added per microsecond */
	double burst;
	size_t slots;
	pthread_mutex_t locks[STRIPES];
	struct bucket *b;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603u;   /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211u;
	}
	return h;
}

struct ratelimit *ratelimit_new(int per_minute, int burst, int slots)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	rl->b = calloc((size_t)slots, sizeof *rl->b);
	if (!rl->b) {
		free(rl);
		return NULL;
	}
	rl->per_us = per_minute / 60e6;
	rl->burst = burst;
	rl->slots = (size_t)slots;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rl->locks[i], NULL);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&rl->locks[i]);
	free(rl->b);
	free(rl);
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int *retry_after_s)
{
	uint64_t h = hash(key);
	size_t slot = (size_t)(h % rl->slots);
	pthread_mutex_t *m = &rl->locks[slot % STRIPES];
	uint64_t now = mono_us();
	bool ok;
	pthread_mutex_lock(m);
	struct bucket *b = &rl->b[slot];
	if (strncmp(b->key, key, KEYSZ - 1) != 0 || b->last_us == 0) {
		strncpy(b->key, key, KEYSZ - 1);
		b->key[KEYSZ - 1] = '\0';
		b->tokens = rl->burst;
		b->last_us = now;
	}
	b->tokens += (double)(now - b->last_us) * rl->per_us;
	if (b->tokens > rl->burst)
		b->tokens = rl->burst;
	b->last_us = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		ok = true;
	} else {
		double wait_us = (1.0 - b->tokens) / rl->per_us;
		*retry_after_s = (int)(wait_us / 1e6) + 1;
		ok = false;
	}
	pthread_mutex_unlock(m);
	return ok;
}
