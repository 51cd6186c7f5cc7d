/* test_ratelimit.c — the per-key token buckets: keys that share a set keep their own buckets, a
 * stream of new keys cannot mint tokens, IPv6 clients count per /64, and the memory is fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

static int take_n(struct ratelimit *rl, const char *key, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += ratelimit_take(rl, key, strlen(key), NULL);
	return ok;
}

/* The defect found from outside: two colliding keys alternating got a fresh full bucket each time.
 * A limiter of one set makes every key collide. */
static void test_colliding_keys_keep_their_own_buckets(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(1, 20, 8);      /* one set of 8; about no refill */
	assert_non_null(rl);
	int ok = 0;
	for (int i = 0; i < 60; i++)
		ok += ratelimit_take(rl, (i & 1) ? "127.1.106.9" : "127.1.108.106", 11, NULL);
	assert_int_equal(ok, 40);                             /* 20 each, then refused */
	assert_int_equal(ratelimit_evictions(rl), 0);
	ratelimit_free(rl);
}

/* More keys than a set holds: a newcomer takes the fullest bucket's tokens, not a fresh burst. */
static void test_new_keys_cannot_mint_tokens(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(1, 5, 8);
	assert_non_null(rl);
	int ok = 0;
	char key[32];
	for (int round = 0; round < 50; round++)
		for (int k = 0; k < 16; k++) {     /* 16 keys through 8 buckets, over and over */
			snprintf(key, sizeof key, "10.0.0.%d", k);
			ok += ratelimit_take(rl, key, strlen(key), NULL);
		}
	/* at most what 8 buckets ever held: 8 x 5 (the refill of 1/minute is nothing here) */
	assert_true(ok <= 40);
	assert_true(ratelimit_evictions(rl) > 0);
	/* a client never seen, in a set with room, gets its burst */
	struct ratelimit *fresh = ratelimit_new(1, 5, 1 << 16);
	assert_int_equal(take_n(fresh, "192.0.2.1", 10), 5);
	assert_int_equal(take_n(fresh, "192.0.2.2", 10), 5);
	ratelimit_free(fresh);
	ratelimit_free(rl);
}

static void test_ipv6_counts_per_prefix(void **state)
{
	(void)state;
	unsigned char a[17], b[17], c[17], d[17];
	size_t na = ratelimit_addr_key("2001:db8:1:2::1", 64, a);
	size_t nb = ratelimit_addr_key("2001:db8:1:2:ffff:ffff:ffff:fffe", 64, b);
	size_t nc = ratelimit_addr_key("2001:db8:1:3::1", 64, c);
	assert_int_equal(na, 17);
	assert_true(na == nb && memcmp(a, b, na) == 0);      /* one /64: one key */
	assert_true(na == nc && memcmp(a, c, na) != 0);      /* the next /64: another */
	ratelimit_addr_key("2001:db8:1:2::1", 128, c);
	ratelimit_addr_key("2001:db8:1:2::2", 128, d);
	assert_true(memcmp(c, d, 17) != 0);                  /* /128: per address */
	ratelimit_addr_key("2001:db8:1:2::1", 48, c);
	ratelimit_addr_key("2001:db8:1:ffff::1", 48, d);
	assert_true(memcmp(c, d, 17) == 0);                  /* a configured /48 */
	/* IPv4 per address; an IPv4-mapped IPv6 peer is the same IPv4 client */
	na = ratelimit_addr_key("192.0.2.7", 64, a);
	nb = ratelimit_addr_key("::ffff:192.0.2.7", 64, b);
	assert_true(na == 5 && na == nb && memcmp(a, b, na) == 0);
	nc = ratelimit_addr_key("192.0.2.8", 64, c);
	assert_true(memcmp(a, c, nc) != 0);

	/* a client rotating through its /64 shares one bucket */
	struct ratelimit *rl = ratelimit_new(1, 10, 1 << 12);
	int ok = 0;
	char addr[64];
	for (int i = 0; i < 100; i++) {
		snprintf(addr, sizeof addr, "2001:db8:42:7:%x::%x", i, i * 7 + 1);
		ok += ratelimit_take_addr(rl, addr, 64, NULL);
	}
	assert_int_equal(ok, 10);
	ratelimit_free(rl);
}

/* The memory is what creation took, whatever clients do: a million distinct keys later, the same. */
static void test_memory_is_bounded(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(30, 10, 65536);
	assert_non_null(rl);
	size_t before = ratelimit_memory(rl);
	assert_true(before <= 65536 * 32 + 4096);           /* 32-byte buckets: 2 MiB for 65536 keys */
	char key[32];
	for (int i = 0; i < 1000000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ratelimit_take(rl, key, strlen(key), NULL);
	}
	assert_int_equal(ratelimit_memory(rl), before);
	assert_true(ratelimit_evictions(rl) >= 1000000 - 65536);
	ratelimit_free(rl);
}

static void test_peek_takes_nothing(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(1, 2, 64);
	for (int i = 0; i < 10; i++)
		assert_true(ratelimit_peek(rl, "login", 5, NULL));
	assert_int_equal(take_n(rl, "login", 5), 2);
	int retry = 0;
	assert_false(ratelimit_peek(rl, "login", 5, &retry));
	assert_true(retry >= 1);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_colliding_keys_keep_their_own_buckets),
		cmocka_unit_test(test_new_keys_cannot_mint_tokens),
		cmocka_unit_test(test_ipv6_counts_per_prefix),
		cmocka_unit_test(test_memory_is_bounded),
		cmocka_unit_test(test_peek_takes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
