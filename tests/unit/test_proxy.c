/* test_proxy.c — the client address behind proxies: PROXY protocol v1 and v2 headers (whole, cut
 * short, malformed) and X-Forwarded-For read from the right, only from trusted proxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

static enum proxy_parse parse_str(const char *s, size_t *used, char addr[PROXY_ADDR_BUFSZ])
{
	return proxy_header_parse((const unsigned char *)s, strlen(s), used, addr);
}

static void test_v1_headers(void **state)
{
	(void)state;
	size_t used;
	char addr[PROXY_ADDR_BUFSZ];
	const char *h = "PROXY TCP4 127.0.0.7 127.0.0.1 40000 8080\r\nGET / HTTP/1.1\r\n";
	assert_int_equal(parse_str(h, &used, addr), PROXY_DONE);
	assert_int_equal(used, strlen("PROXY TCP4 127.0.0.7 127.0.0.1 40000 8080\r\n"));
	assert_string_equal(addr, "127.0.0.7");
	assert_int_equal(parse_str("PROXY TCP6 2001:DB8:0::1 ::1 1 65535\r\n", &used, addr), PROXY_DONE);
	assert_string_equal(addr, "2001:db8::1");                    /* canonical text */
	assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &used, addr), PROXY_DONE);
	assert_string_equal(addr, "");
	assert_int_equal(used, 15);
	assert_int_equal(parse_str("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", &used, addr), PROXY_DONE);
	assert_string_equal(addr, "");
	/* the longest legal line is 107 bytes */
	const char *longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
			      "65535\r\n";
	assert_int_equal(strlen(longest), 104);
	assert_int_equal(parse_str(longest, &used, addr), PROXY_DONE);

	const char *bad[] = {
		"PROXY TCP4 127.0.0.7 127.0.0.1 40000\r\n",            /* a field missing */
		"PROXY TCP4 127.0.0.7 127.0.0.1 40000 8080 9\r\n",     /* one too many */
		"PROXY TCP4  127.0.0.7 127.0.0.1 40000 8080\r\n",      /* two spaces */
		"PROXY TCP4 ::1 127.0.0.1 40000 8080\r\n",             /* family mismatch */
		"PROXY TCP6 127.0.0.7 ::1 40000 8080\r\n",
		"PROXY TCP4 127.0.0.7 127.0.0.1 65536 8080\r\n",       /* port out of range */
		"PROXY TCP4 127.0.0.7 127.0.0.1 080 8080\r\n",         /* leading zero */
		"PROXY TCP4 127.0.0.7 127.0.0.1 -1 8080\r\n",
		"PROXY UDP4 127.0.0.7 127.0.0.1 1 2\r\n",
		"PROXY TCP4 127.0.0.300 127.0.0.1 1 2\r\n",
		"PROXY TCP4 127.0.0.7\t127.0.0.1 1 2\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY \r\n",
		"GET / HTTP/1.1\r\n",                                  /* no header: the connection is refused */
		"proxy TCP4 127.0.0.7 127.0.0.1 1 2\r\n",
		"PROXYTCP4 127.0.0.7 127.0.0.1 1 2\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (parse_str(bad[i], &used, addr) != PROXY_BAD)
			fail_msg("accepted: %s", bad[i]);
	}
	/* a NUL inside the line */
	const unsigned char nul[] = "PROXY TCP4 127.0.0.7\0127.0.0.1 1 2\r\n";
	assert_int_equal(proxy_header_parse(nul, sizeof nul - 1, &used, addr), PROXY_BAD);
	/* no CRLF within 107 bytes */
	char huge[200];
	memset(huge, '1', sizeof huge);
	memcpy(huge, "PROXY TCP4 ", 11);
	assert_int_equal(proxy_header_parse((unsigned char *)huge, sizeof huge, &used, addr), PROXY_BAD);
	assert_int_equal(proxy_header_parse((unsigned char *)huge, 100, &used, addr), PROXY_MORE);
}

static void test_v1_cut_short_waits_for_more(void **state)
{
	(void)state;
	const char *h = "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\n";
	size_t used;
	char addr[PROXY_ADDR_BUFSZ];
	for (size_t k = 0; k < strlen(h); k++)
		assert_int_equal(proxy_header_parse((const unsigned char *)h, k, &used, addr), PROXY_MORE);
	assert_int_equal(parse_str(h, &used, addr), PROXY_DONE);
	assert_int_equal(proxy_header_parse((const unsigned char *)"PRX", 3, &used, addr), PROXY_BAD);
}

static size_t v2(unsigned char *b, int cmd, int fam, int proto, const unsigned char *addrs, size_t alen, size_t tlv)
{
	static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = (unsigned char)(fam << 4 | proto);
	size_t len = alen + tlv;
	b[14] = (unsigned char)(len >> 8);
	b[15] = (unsigned char)len;
	memcpy(b + 16, addrs, alen);
	memset(b + 16 + alen, 0x20, tlv);
	return 16 + len;
}

static void test_v2_headers(void **state)
{
	(void)state;
	unsigned char b[4096];
	size_t used;
	char addr[PROXY_ADDR_BUFSZ];
	const unsigned char ip4[12] = {127, 0, 0, 8, 127, 0, 0, 1, 0x9c, 0x40, 0x1f, 0x90};
	size_t n = v2(b, 1, 1, 1, ip4, sizeof ip4, 0);
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_DONE);
	assert_int_equal(used, 28);
	assert_string_equal(addr, "127.0.0.8");
	for (size_t k = 0; k < n; k++)
		assert_int_equal(proxy_header_parse(b, k, &used, addr), PROXY_MORE);
	/* TLVs after the addresses are skipped */
	n = v2(b, 1, 1, 1, ip4, sizeof ip4, 30);
	assert_int_equal(proxy_header_parse(b, n + 5, &used, addr), PROXY_DONE);
	assert_int_equal(used, 58);
	unsigned char ip6[36] = {0x20, 0x01, 0x0d, 0xb8};
	ip6[15] = 9;
	n = v2(b, 1, 2, 1, ip6, sizeof ip6, 0);
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_DONE);
	assert_string_equal(addr, "2001:db8::9");
	/* LOCAL (the proxy's own health check), UDP and UNIX: keep the connection's address */
	n = v2(b, 0, 0, 0, ip4, 0, 0);
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_DONE);
	assert_string_equal(addr, "");
	assert_int_equal(used, 16);
	n = v2(b, 1, 1, 2, ip4, sizeof ip4, 0);
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_DONE);
	assert_string_equal(addr, "");
	unsigned char unixa[216] = {0};
	n = v2(b, 1, 3, 1, unixa, sizeof unixa, 0);
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_DONE);
	assert_string_equal(addr, "");
	/* malformed */
	n = v2(b, 1, 1, 1, ip4, 8, 0);                                     /* addresses cut short */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
	n = v2(b, 2, 1, 1, ip4, sizeof ip4, 0);                            /* unknown command */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
	n = v2(b, 1, 4, 1, ip4, sizeof ip4, 0);                            /* unknown family */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
	n = v2(b, 1, 1, 1, ip4, sizeof ip4, 0);
	b[12] = 0x11;                                                      /* version 1 in a v2 header */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
	n = v2(b, 1, 1, 1, ip4, sizeof ip4, 0);
	b[14] = 0x10;                                                      /* 4 KiB of TLVs: too long */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
	n = v2(b, 1, 1, 1, ip4, sizeof ip4, 0);
	b[5] = 0x0C;                                                       /* a signature byte wrong */
	assert_int_equal(proxy_header_parse(b, n, &used, addr), PROXY_BAD);
}

static void test_trusted_networks(void **state)
{
	(void)state;
	struct proxy_nets t;
	char err[160];
	assert_int_equal(proxy_nets_parse("10.0.0.0/8, 127.0.0.1 ,::1", &t, err), 0);
	assert_int_equal(t.n, 3);
	assert_true(proxy_nets_contain(&t, "10.9.9.9"));
	assert_true(proxy_nets_contain(&t, "::1"));
	assert_false(proxy_nets_contain(&t, "127.0.0.2"));
	assert_int_equal(proxy_nets_parse("", &t, err), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(proxy_nets_parse(NULL, &t, err), 0);
	assert_int_equal(proxy_nets_parse("10.0.0.1/8", &t, err), -1);
	assert_non_null(strstr(err, "GATEWAY_TRUSTED_PROXIES"));
	assert_int_equal(proxy_nets_parse("proxy.example.com", &t, err), -1);
}

static const char *client(const char *peer, const char *trusted, const char *const *xff, size_t n)
{
	static char out[PROXY_ADDR_BUFSZ];
	struct proxy_nets t;
	char err[160];
	assert_int_equal(proxy_nets_parse(trusted, &t, err), 0);
	proxy_client_addr(peer, xff, n, &t, out);
	return out;
}

static void test_forwarded_for_from_the_right(void **state)
{
	(void)state;
	const char *one[] = {"203.0.113.5"};
	/* untrusted peer: its header means nothing */
	assert_string_equal(client("198.51.100.1", "10.0.0.0/8", one, 1), "198.51.100.1");
	assert_string_equal(client("198.51.100.1", "", one, 1), "198.51.100.1");
	/* trusted peer: the rightmost untrusted element */
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", one, 1), "203.0.113.5");
	const char *chain[] = {"1.1.1.1, 203.0.113.5, 10.0.0.3"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", chain, 1), "203.0.113.5");      /* forged 1.1.1.1 ignored */
	/* several headers are one list, in order */
	const char *split[] = {"1.1.1.1", "203.0.113.5", "10.0.0.3 , 10.0.0.4"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", split, 3), "203.0.113.5");
	/* all trusted: the leftmost */
	const char *inside[] = {"10.1.1.1,10.0.0.3"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", inside, 1), "10.1.1.1");
	/* no header from a trusted peer: the peer */
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", NULL, 0), "10.0.0.2");
	/* ports and brackets, canonical output */
	const char *ports[] = {"[2001:DB8::7]:443"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", ports, 1), "2001:db8::7");
	const char *p4[] = {"192.0.2.9:5000"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", p4, 1), "192.0.2.9");
	const char *bare6[] = {" 2001:db8::8 "};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", bare6, 1), "2001:db8::8");
	/* garbage stops the walk at the trusted hop that forwarded it */
	const char *junk[] = {"203.0.113.5, unknown, 10.0.0.3"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", junk, 1), "10.0.0.3");
	const char *junk2[] = {"203.0.113.5, not-an-address"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", junk2, 1), "10.0.0.2");
	const char *badport[] = {"192.0.2.9:99999"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", badport, 1), "10.0.0.2");
	/* empty elements are skipped */
	const char *empty[] = {"203.0.113.5,, ,"};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", empty, 1), "203.0.113.5");
	/* a very long chain of trusted hops: the walk stops after PROXY_XFF_MAX elements */
	char many[2048] = "203.0.113.5";
	for (int i = 0; i < 100; i++)
		strcat(many, ",10.0.0.9");
	const char *long_chain[] = {many};
	assert_string_equal(client("10.0.0.2", "10.0.0.0/8", long_chain, 1), "10.0.0.9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_headers),
		cmocka_unit_test(test_v1_cut_short_waits_for_more),
		cmocka_unit_test(test_v2_headers),
		cmocka_unit_test(test_trusted_networks),
		cmocka_unit_test(test_forwarded_for_from_the_right),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
