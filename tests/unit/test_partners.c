/* test_partners.c — the pure parts of partner authentication and the terminal protocols: networks,
 * HTTP Basic parsing, password hashes, request signatures and timestamps, protocol dates, registry
 * dates and XML escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "partners.h"
#include "registries.h"
#include "terminal.h"

static void test_networks_parse_and_match(void **state)
{
	(void)state;
	struct partner_net n;
	char err[128], text[64];
	assert_int_equal(partner_net_parse("10.0.0.0/8", &n, err), 0);
	assert_true(partner_net_contains(&n, "10.255.1.2"));
	assert_false(partner_net_contains(&n, "11.0.0.1"));
	assert_true(partner_net_contains(&n, "::ffff:10.1.2.3"));      /* IPv4-mapped peer */
	assert_false(partner_net_contains(&n, "::1"));
	assert_false(partner_net_contains(&n, "not an address"));
	partner_net_format(&n, text, sizeof text);
	assert_string_equal(text, "10.0.0.0/8");

	assert_int_equal(partner_net_parse("192.168.1.7", &n, err), 0);  /* bare address = /32 */
	assert_int_equal(n.prefix, 32);
	assert_true(partner_net_contains(&n, "192.168.1.7"));
	assert_false(partner_net_contains(&n, "192.168.1.8"));

	assert_int_equal(partner_net_parse("172.16.0.0/12", &n, err), 0);
	assert_true(partner_net_contains(&n, "172.31.255.255"));
	assert_false(partner_net_contains(&n, "172.32.0.0"));

	assert_int_equal(partner_net_parse("2001:db8::/32", &n, err), 0);
	assert_int_equal(n.family, AF_INET6);
	assert_true(partner_net_contains(&n, "2001:db8:ffff::1"));
	assert_false(partner_net_contains(&n, "2001:db9::1"));
	assert_false(partner_net_contains(&n, "32.1.13.184"));

	assert_int_equal(partner_net_parse("0.0.0.0/0", &n, err), 0);
	assert_true(partner_net_contains(&n, "203.0.113.9"));

	assert_int_equal(partner_net_parse("10.0.0.1/8", &n, err), -1);  /* host bits set */
	assert_non_null(strstr(err, "bits"));
	assert_int_equal(partner_net_parse("10.0.0.0/33", &n, err), -1);
	assert_int_equal(partner_net_parse("10.0.0.0/", &n, err), -1);
	assert_int_equal(partner_net_parse("10.0.0.0/-1", &n, err), -1);
	assert_int_equal(partner_net_parse("::/129", &n, err), -1);
	assert_int_equal(partner_net_parse("example.com", &n, err), -1);
	assert_int_equal(partner_net_parse("", &n, err), -1);
}

static void test_network_arrays_and_allow_list(void **state)
{
	(void)state;
	struct partner p;
	memset(&p, 0, sizeof p);
	assert_int_equal(partner_nets_parse_array("{}", p.cidrs, PARTNER_MAX_CIDRS), 0);
	assert_true(partner_peer_allowed(&p, "198.51.100.1"));            /* no networks: any address */
	p.ncidrs = partner_nets_parse_array("{127.0.0.0/8,::1/128}", p.cidrs, PARTNER_MAX_CIDRS);
	assert_int_equal(p.ncidrs, 2);
	assert_true(partner_peer_allowed(&p, "127.0.0.1"));
	assert_true(partner_peer_allowed(&p, "::1"));
	assert_false(partner_peer_allowed(&p, "::2"));
	assert_false(partner_peer_allowed(&p, "198.51.100.1"));
	assert_int_equal(partner_nets_parse_array("{\"10.0.0.0/8\"}", p.cidrs, PARTNER_MAX_CIDRS), 1);
	assert_int_equal(partner_nets_parse_array("{10.0.0.0/8,junk}", p.cidrs, PARTNER_MAX_CIDRS), -1);
	assert_int_equal(partner_nets_parse_array("10.0.0.0/8", p.cidrs, PARTNER_MAX_CIDRS), -1);
	assert_int_equal(partner_nets_parse_array("{1.0.0.0/8,2.0.0.0/8}", p.cidrs, 1), -1);
}

static void test_basic_header_decoding(void **state)
{
	(void)state;
	char login[64], pw[64];
	assert_int_equal(partner_basic_decode("Basic cWl3aTpzM2NyZXQ=", login, sizeof login, pw, sizeof pw), 0);
	assert_string_equal(login, "qiwi");
	assert_string_equal(pw, "s3cret");
	/* the password may contain ':' */
	assert_int_equal(partner_basic_decode("basic YTpiOmM=", login, sizeof login, pw, sizeof pw), 0);
	assert_string_equal(login, "a");
	assert_string_equal(pw, "b:c");
	assert_int_equal(partner_basic_decode("Basic YTo=", login, sizeof login, pw, sizeof pw), 0);   /* "a:" */
	assert_string_equal(pw, "");
	assert_int_equal(partner_basic_decode(NULL, login, sizeof login, pw, sizeof pw), -1);
	assert_int_equal(partner_basic_decode("Bearer abc", login, sizeof login, pw, sizeof pw), -1);
	assert_int_equal(partner_basic_decode("Basic Og==", login, sizeof login, pw, sizeof pw), -1);  /* ":" */
	assert_int_equal(partner_basic_decode("Basic bm9jb2xvbg==", login, sizeof login, pw, sizeof pw), -1);
	assert_int_equal(partner_basic_decode("Basic !!!!", login, sizeof login, pw, sizeof pw), -1);
	assert_int_equal(partner_basic_decode("Basic YQBiOmM=", login, sizeof login, pw, sizeof pw), -1); /* NUL */
	assert_int_equal(partner_basic_decode("Basic cWl3aTpzM2NyZXQ=", login, 4, pw, sizeof pw), -1);  /* too long */
}

static void test_password_hash_round_trip(void **state)
{
	(void)state;
	char h1[PARTNER_HASH_BUFSZ], h2[PARTNER_HASH_BUFSZ];
	assert_int_equal(partner_password_hash("correct horse", h1), 0);
	assert_int_equal(partner_password_hash("correct horse", h2), 0);
	assert_memory_equal(h1, "pbkdf2-sha256$10000$", 20);
	assert_string_not_equal(h1, h2);                                 /* random salt */
	assert_null(strstr(h1, "correct"));
	assert_true(partner_password_verify("correct horse", h1));
	assert_true(partner_password_verify("correct horse", h2));
	assert_false(partner_password_verify("correct hors", h1));
	assert_false(partner_password_verify("", h1));
	assert_false(partner_password_verify("x", "sha256$x$y"));
	assert_false(partner_password_verify("x", "pbkdf2-sha256$0$00$00"));
	assert_false(partner_password_verify("x", "pbkdf2-sha256$10$zz$00"));
	assert_false(partner_password_verify("x", NULL));
	/* a hash made elsewhere (Python hashlib.pbkdf2_hmac): PBKDF2-HMAC-SHA256("pw", salt 00..0f, 1000) */
	assert_true(partner_password_verify("pw", "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
						  "69ebe085b7b1cc2dc10399570936a6f9b825889902f62730b9759c08a6718f8d"));
	assert_false(partner_password_verify("pX", "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
						   "69ebe085b7b1cc2dc10399570936a6f9b825889902f62730b9759c08a6718f8d"));
}

static void test_signature_known_vectors_and_timestamps(void **state)
{
	(void)state;
	char sig[65];
	assert_int_equal(partner_signature("secret", "POST", "/v1/partner/payments?x=1", "1700000000", "{\"a\":1}", 7, sig),
			 0);
	assert_string_equal(sig, "57dfe41e0e6468f1431fe286b02d20328490eb72de1db9c4a9f968e280d5bfd5");
	assert_int_equal(partner_signature("secret", "GET", "/v1/partner/registry?date=2024-05-01", "1700000000", "", 0,
					   sig),
			 0);
	assert_string_equal(sig, "1b4ff9745dc02df158c47a8d2417c2fa11d45ffce79cc23a42ff851c0c44ee63");

	assert_true(partner_timestamp_fresh("1700000000", 1700000000));
	assert_true(partner_timestamp_fresh("1700000300", 1700000000));
	assert_true(partner_timestamp_fresh("1699999700", 1700000000));
	assert_false(partner_timestamp_fresh("1700000301", 1700000000));
	assert_false(partner_timestamp_fresh("1699999699", 1700000000));
	assert_false(partner_timestamp_fresh("", 1700000000));
	assert_false(partner_timestamp_fresh(NULL, 1700000000));
	assert_false(partner_timestamp_fresh("17e8", 1700000000));
	assert_false(partner_timestamp_fresh("-1700000000", 1700000000));
	assert_false(partner_timestamp_fresh("1700000000000", 1700000000));   /* milliseconds */
}

static void test_protocol_dates(void **state)
{
	(void)state;
	char out[20];
	assert_int_equal(term_parse_time("20050815120133", false, out), 0);
	assert_string_equal(out, "2005-08-15 12:01:33");
	assert_int_equal(term_parse_time("20240229235959", false, out), 0);
	assert_int_equal(term_parse_time("20230229000000", false, out), -1);
	assert_int_equal(term_parse_time("20241301000000", false, out), -1);
	assert_int_equal(term_parse_time("20240101240000", false, out), -1);
	assert_int_equal(term_parse_time("2024010112000", false, out), -1);
	assert_int_equal(term_parse_time("2024-01-01 12:00", false, out), -1);
	assert_int_equal(term_parse_time("01.05.2024_10:20:30", true, out), 0);
	assert_string_equal(out, "2024-05-01 10:20:30");
	assert_int_equal(term_parse_time("31.04.2024_10:20:30", true, out), -1);
	assert_int_equal(term_parse_time("01.05.2024 10:20:30", true, out), -1);
	assert_int_equal(term_parse_time("1.05.2024_10:20:30", true, out), -1);
	assert_int_equal(term_parse_time(NULL, true, out), -1);

	assert_true(registry_date_valid("2024-02-29"));
	assert_false(registry_date_valid("2023-02-29"));
	assert_false(registry_date_valid("2024-2-01"));
	assert_false(registry_date_valid("2024-13-01"));
	assert_false(registry_date_valid("20240101"));
	assert_false(registry_date_valid("1999-12-31"));
}

static void test_xml_escaping(void **state)
{
	(void)state;
	struct xml x;
	xml_begin(&x);
	xml_elem(&x, "comment", "a<b>&\"c'\x01\tИ\xff");
	assert_non_null(x.buf);
	assert_non_null(strstr(x.buf, "<comment>a&lt;b&gt;&amp;&quot;c&apos;\t?" "?" "?</comment>"));
	free(x.buf);
	xml_begin(&x);
	xml_elem(&x, "FIO", "Иванов <И>");
	assert_non_null(strstr(x.buf, "<FIO>Иванов &lt;И&gt;</FIO>"));
	free(x.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_networks_parse_and_match),
		cmocka_unit_test(test_network_arrays_and_allow_list),
		cmocka_unit_test(test_basic_header_decoding),
		cmocka_unit_test(test_password_hash_round_trip),
		cmocka_unit_test(test_signature_known_vectors_and_timestamps),
		cmocka_unit_test(test_protocol_dates),
		cmocka_unit_test(test_xml_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
