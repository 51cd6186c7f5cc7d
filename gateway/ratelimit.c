/* ratelimit.c — token buckets in a fixed-size, set-associative table, shared by all event loops.
 *
 * A key is first turned into a 128-bit tag with SipHash-2-4 under a random key drawn when the
 * limiter is made (OpenSSL's SIPHASH MAC): nobody outside the process can compute which keys share
 * a set, so collisions cannot be planned, and two keys are told apart by their tags (a tag collision
 * needs 2^64 tries). A tag picks a set of WAYS buckets; a key already there keeps its bucket. A new
 * key takes a free bucket with a full burst (a client never seen). When the set is full it takes
 * the place of the fullest bucket (least recently used on a tie) and inherits that bucket's tokens,
 * never a fresh burst: a stream of new keys into one set cannot mint tokens, and the evicted client
 * lost the least. Memory is fixed at creation (ratelimit_memory()), whatever clients do.
 *
 * Client addresses are keyed by ratelimit_addr_key(): IPv4 per address, IPv6 per prefix (default
 * /64, the block one subscriber line gets), so a client cannot pick fresh addresses from its own
 * network to start over. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "clock.h"
#include "metrics.h"

#define WAYS 8
#define STRIPES 64

struct bucket {
	uint64_t tag[2];          /* 0,0 = free */
	double tokens;            /* not money: a rate, fractional tokens are fine */
	uint64_t last_us;
};

struct ratelimit {
	double per_us;            /* tokens added per microsecond */
	double burst;
	size_t sets;
	unsigned char key[16];    /* SipHash key, random per limiter */
	_Atomic uint64_t evictions;
	pthread_mutex_t locks[STRIPES];
	struct bucket *b;         /* sets * WAYS */
};

static EVP_MAC *siphash_impl;
static pthread_key_t ctx_key;     /* each thread's EVP_MAC_CTX, freed when the thread ends */
static pthread_once_t siphash_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx) { EVP_MAC_CTX_free(ctx); }

static void siphash_fetch(void)
{
	siphash_impl = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	if (pthread_key_create(&ctx_key, ctx_free) != 0)
		siphash_impl = NULL;
}

/* SipHash-2-4 with a 16-byte output; false when OpenSSL cannot (then the caller refuses nothing). */
static bool tag_of(const struct ratelimit *rl, const void *key, size_t len, uint64_t out[2])
{
	pthread_once(&siphash_once, siphash_fetch);
	if (!siphash_impl)
		return false;
	EVP_MAC_CTX *ctx = pthread_getspecific(ctx_key);
	if (!ctx && (!(ctx = EVP_MAC_CTX_new(siphash_impl)) || pthread_setspecific(ctx_key, ctx) != 0)) {
		EVP_MAC_CTX_free(ctx);
		return false;
	}
	size_t size = 16, n = 0;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_construct_end()};
	unsigned char md[16];
	if (EVP_MAC_init(ctx, rl->key, sizeof rl->key, params) != 1 || EVP_MAC_update(ctx, key, len) != 1 ||
	    EVP_MAC_final(ctx, md, &n, sizeof md) != 1 || n != 16)
		return false;
	memcpy(out, md, 16);
	if (out[0] == 0 && out[1] == 0)
		out[1] = 1;               /* 0,0 marks a free bucket */
	return true;
}

struct ratelimit *ratelimit_new(int per_minute, int burst, int entries)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	size_t sets = entries > WAYS ? (size_t)entries / WAYS : 1;
	rl->b = calloc(sets * WAYS, sizeof *rl->b);
	if (!rl->b || RAND_bytes(rl->key, sizeof rl->key) != 1) {
		free(rl->b);
		free(rl);
		return NULL;
	}
	rl->per_us = per_minute / 60e6;
	rl->burst = burst;
	rl->sets = sets;
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

size_t ratelimit_memory(const struct ratelimit *rl)
{
	return sizeof *rl + rl->sets * WAYS * sizeof(struct bucket);
}

uint64_t ratelimit_evictions(const struct ratelimit *rl) { return rl->evictions; }

static void refill(const struct ratelimit *rl, struct bucket *b, uint64_t now)
{
	b->tokens += (double)(now - b->last_us) * rl->per_us;
	if (b->tokens > rl->burst)
		b->tokens = rl->burst;
	b->last_us = now;
}

/* The bucket of tag in its set (locked by the caller), made when missing. */
static struct bucket *find(struct ratelimit *rl, struct bucket *set, const uint64_t tag[2], uint64_t now)
{
	struct bucket *free_b = NULL, *victim = NULL;
	for (int i = 0; i < WAYS; i++) {
		struct bucket *b = &set[i];
		if (b->tag[0] == tag[0] && b->tag[1] == tag[1])
			return b;
		if (b->tag[0] == 0 && b->tag[1] == 0) {
			if (!free_b)
				free_b = b;
			continue;
		}
		refill(rl, b, now);
		if (!victim || b->tokens > victim->tokens || (b->tokens == victim->tokens && b->last_us < victim->last_us))
			victim = b;
	}
	if (free_b) {
		free_b->tag[0] = tag[0];
		free_b->tag[1] = tag[1];
		free_b->tokens = rl->burst;
		free_b->last_us = now;
		return free_b;
	}
	/* the newcomer inherits the evicted bucket's tokens (already refilled to now) */
	victim->tag[0] = tag[0];
	victim->tag[1] = tag[1];
	atomic_fetch_add(&rl->evictions, 1);
	metrics_add(M_RATELIMIT_EVICTIONS, 1);
	return victim;
}

static bool take(struct ratelimit *rl, const void *key, size_t len, bool consume, int *retry_after_s)
{
	uint64_t tag[2];
	if (!tag_of(rl, key, len, tag))
		return true;              /* no hash, no limit (OpenSSL broken): never lock clients out */
	size_t set = (size_t)(tag[0] % rl->sets);
	pthread_mutex_t *m = &rl->locks[set % STRIPES];
	uint64_t now = mono_us();
	bool ok;
	pthread_mutex_lock(m);
	struct bucket *b = find(rl, &rl->b[set * WAYS], tag, now);
	refill(rl, b, now);
	if (b->tokens >= 1.0) {
		if (consume)
			b->tokens -= 1.0;
		ok = true;
	} else {
		double wait_us = (1.0 - b->tokens) / rl->per_us;
		if (retry_after_s)
			*retry_after_s = (int)(wait_us / 1e6) + 1;
		ok = false;
	}
	pthread_mutex_unlock(m);
	return ok;
}

bool ratelimit_take(struct ratelimit *rl, const void *key, size_t len, int *retry_after_s)
{
	return take(rl, key, len, true, retry_after_s);
}

bool ratelimit_peek(struct ratelimit *rl, const void *key, size_t len, int *retry_after_s)
{
	return take(rl, key, len, false, retry_after_s);
}

size_t ratelimit_addr_key(const char *addr, int v6_prefix, unsigned char out[17])
{
	unsigned char a[16];
	memset(out, 0, 17);
	if (inet_pton(AF_INET, addr, a) == 1) {
		out[0] = 4;
		memcpy(out + 1, a, 4);
		return 5;
	}
	if (inet_pton(AF_INET6, addr, a) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {         /* ::ffff:a.b.c.d is the IPv4 client */
			out[0] = 4;
			memcpy(out + 1, a + 12, 4);
			return 5;
		}
		if (v6_prefix < 0)
			v6_prefix = 0;
		if (v6_prefix > 128)
			v6_prefix = 128;
		out[0] = 6;
		for (int i = 0; i < 16; i++) {
			int bits = v6_prefix - i * 8;
			out[1 + i] = bits >= 8 ? a[i] : bits <= 0 ? 0 : (unsigned char)(a[i] & (0xff << (8 - bits)));
		}
		return 17;
	}
	size_t n = strnlen(addr, 16);              /* not an address (a unix socket?): its text */
	out[0] = 0;
	memcpy(out + 1, addr, n);
	return 1 + n;
}

bool ratelimit_take_addr(struct ratelimit *rl, const char *addr, int v6_prefix, int *retry_after_s)
{
	unsigned char k[17];
	size_t n = ratelimit_addr_key(addr, v6_prefix, k);
	return ratelimit_take(rl, k, n, retry_after_s);
}

/* ---- failed logins --------------------------------------------------------------------------- */

int fail_limiter_init(struct fail_limiter *f, int per_minute)
{
	f->by_login = ratelimit_new(per_minute, per_minute, 16384);
	f->by_addr = ratelimit_new(per_minute, per_minute, 16384);
	return f->by_login && f->by_addr ? 0 : -1;
}

enum fail_verdict fail_limiter_check(struct fail_limiter *f, const char *login, const char *addr)
{
	unsigned char k[17];
	size_t n = ratelimit_addr_key(addr ? addr : "", 64, k);
	if (f->by_login && !ratelimit_peek(f->by_login, login, strlen(login), NULL))
		return FAIL_LOGIN_THROTTLED;
	if (f->by_addr && !ratelimit_peek(f->by_addr, k, n, NULL))
		return FAIL_ADDRESS_THROTTLED;
	return FAIL_ALLOWED;
}

void fail_limiter_count(struct fail_limiter *f, const char *login, const char *addr)
{
	unsigned char k[17];
	size_t n = ratelimit_addr_key(addr ? addr : "", 64, k);
	if (f->by_login)
		ratelimit_take(f->by_login, login, strlen(login), NULL);
	if (f->by_addr)
		ratelimit_take(f->by_addr, k, n, NULL);
}
