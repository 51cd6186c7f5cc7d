/* test_rbs.c — the RBS callback checksum: parameters sorted by name, "name;value;" each, checksum
 * and sign_alias left out, uppercase hex HMAC-SHA256. Vectors computed independently (Python hmac). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "rbs.h"

#define KEY "rbs-callback-key-0123456789abcdef"

static void test_checksum_sorts_names_and_ends_with_semicolon(void **state)
{
	(void)state;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	/* in the order a bank may send them; checksum itself never counts */
	evhttp_add_header(&q, "orderNumber", "10747");
	evhttp_add_header(&q, "mdOrder", "70906e55-7114-41d6-8332-4609dc6590f4");
	evhttp_add_header(&q, "checksum", "IGNORED");
	evhttp_add_header(&q, "operation", "deposited");
	evhttp_add_header(&q, "status", "1");
	evhttp_add_header(&q, "amount", "50000");
	char out[65];
	assert_int_equal(rbs_checksum(&q, KEY, out), 0);
	assert_string_equal(out, "76EFC970158B1866D10A52AC704D876BEAC45F730B2F8D598944887B94471D79");
	evhttp_clear_headers(&q);
}

static void test_checksum_leaves_out_sign_alias(void **state)
{
	(void)state;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	evhttp_add_header(&q, "status", "0");
	evhttp_add_header(&q, "sign_alias", "SHA-256");
	evhttp_add_header(&q, "operation", "approved");
	evhttp_add_header(&q, "mdOrder", "a");
	char out[65];
	assert_int_equal(rbs_checksum(&q, KEY, out), 0);
	assert_string_equal(out, "CA87A89D65BD5BA98A62AC9824420223F14F1880CF4BAA4929A91CDD54A81C7C");
	/* one changed value changes everything */
	evhttp_remove_header(&q, "status");
	evhttp_add_header(&q, "status", "1");
	assert_int_equal(rbs_checksum(&q, KEY, out), 0);
	assert_string_not_equal(out, "CA87A89D65BD5BA98A62AC9824420223F14F1880CF4BAA4929A91CDD54A81C7C");
	evhttp_clear_headers(&q);
}

static void test_checksum_refuses_empty_input(void **state)
{
	(void)state;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	char out[65];
	assert_int_equal(rbs_checksum(&q, KEY, out), -1);
	evhttp_add_header(&q, "checksum", "X");
	assert_int_equal(rbs_checksum(&q, KEY, out), -1);
	evhttp_clear_headers(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_sorts_names_and_ends_with_semicolon),
		cmocka_unit_test(test_checksum_leaves_out_sign_alias),
		cmocka_unit_test(test_checksum_refuses_empty_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
