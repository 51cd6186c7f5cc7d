/* test_accounts.c — what the pay form shows: days of service left, the recommended amount, and
 * the validation shared by the import and the internal API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "accounts.h"
#include "fees.h"
#include "payments.h"

static const struct civil_date dec5 = {2026, 12, 5}, feb1 = {2027, 2, 1};

static void test_a_month_of_daily_shares_adds_up_to_the_fee(void **state)
{
	(void)state;
	const int64_t fees[] = {0, 1, 30, 31, 60000, 60001, 45000, 99999, 123456789};
	for (int y = 2024; y <= 2026; y++)
		for (int m = 1; m <= 12; m++)
			for (size_t i = 0; i < sizeof fees / sizeof fees[0]; i++) {
				int n = fees_days_in_month(y, m);
				int64_t sum = 0, lo = INT64_MAX, hi = 0;
				for (int d = 1; d <= n; d++) {
					int64_t share = fees_daily_share(fees[i], d, n);
					sum += share;
					lo = share < lo ? share : lo;
					hi = share > hi ? share : hi;
				}
				assert_int_equal(sum, fees[i]);              /* never a kopeck lost or doubled */
				assert_true(hi - lo <= 1);                    /* equal shares, to the kopeck */
			}
	assert_int_equal(fees_days_in_month(2028, 2), 29);
	assert_int_equal(fees_days_in_month(2100, 2), 28);
	assert_int_equal(fees_daily_share(60000, 1, 31), 1936);       /* 60000 = 31 * 1935 + 15 */
	assert_int_equal(fees_daily_share(60000, 15, 31), 1936);
	assert_int_equal(fees_daily_share(60000, 16, 31), 1935);
}

static void test_days_left_follows_the_daily_shares(void **state)
{
	(void)state;
	struct civil_date until;
	/* 5 December: shares of 1936 up to the 15th, then 1935 */
	assert_int_equal(fees_days_left(15000, 60000, dec5, &until), 7);
	assert_true(until.y == 2026 && until.m == 12 && until.d == 12);
	assert_int_equal(fees_days_left(1935, 60000, dec5, &until), 0);   /* less than today's share */
	assert_int_equal(fees_days_left(1936, 60000, dec5, &until), 1);
	assert_int_equal(fees_days_left(0, 60000, dec5, &until), 0);
	assert_int_equal(fees_days_left(-5000, 60000, dec5, &until), 0);  /* a debt covers nothing */
	assert_int_equal(fees_days_left(15000, 0, dec5, &until), -1);     /* no tariff */
	/* the rest of December (5..31: 11 * 1936 + 16 * 1935 = 52256) and all of January (60000) */
	assert_int_equal(fees_days_left(52256 + 60000, 60000, dec5, &until), 27 + 31);
	assert_true(until.y == 2027 && until.m == 2 && until.d == 1);
	assert_int_equal(fees_days_left(52256 + 60000 - 1, 60000, dec5, &until), 27 + 30);
	/* February 2027 has 28 days: 60000 = 28 * 2142 + 24 */
	assert_int_equal(fees_days_left(2143 * 24, 60000, feb1, &until), 24);
	assert_true(fees_days_left(INT64_MAX / 2, 1, dec5, &until) == 3660);   /* bounded, no overflow */
}

static void test_recommended_amount_covers_a_month_from_today_in_whole_roubles(void **state)
{
	(void)state;
	const int64_t min = 100, max = 10000000;
	/* 5 Dec .. 4 Jan: 11 * 1936 + 16 * 1935 + 4 * 1936 = 60000 */
	assert_int_equal(fees_recommended_amount(15000, 60000, dec5, min, max), 45000);
	assert_int_equal(fees_recommended_amount(15050, 60000, dec5, min, max), 45000);  /* 449.50 -> 450 */
	assert_int_equal(fees_recommended_amount(15001, 60000, dec5, min, max), 45000);  /* 449.99 -> 450 */
	assert_int_equal(fees_recommended_amount(-12000, 45000, dec5, min, max), 57000); /* the debt too */
	assert_int_equal(fees_recommended_amount(70000, 60000, dec5, min, max), 60000);  /* covered: a month ahead */
	assert_int_equal(fees_recommended_amount(59990, 60000, dec5, min, max), 100);    /* 0.10 -> 1 rouble */
	assert_int_equal(fees_recommended_amount(0, 0, dec5, min, max), min);            /* no tariff */
	assert_int_equal(fees_recommended_amount(-2550, 0, dec5, min, max), 2600);       /* no tariff, a debt */
	assert_int_equal(fees_recommended_amount(-50000000, 60000, dec5, min, max), max); /* capped */
	assert_int_equal(fees_recommended_amount(0, 60000, dec5, 100000, max), 100000);   /* raised to min */
	/* 1 Feb .. 28 Feb 2027 is the whole month: exactly the fee */
	assert_int_equal(fees_recommended_amount(0, 60000, feb1, min, max), 60000);
}

static void test_validate_normalises_and_names_the_bad_field(void **state)
{
	(void)state;
	struct account_input in;
	char err[256];
	assert_int_equal(account_validate("123 456 789", "8 (913) 123-45-67", "a@example.com", "Иванов Иван", "active",
					  "600", "-20.50", &in, err),
			 0);
	assert_string_equal(in.contract, "123456789");
	assert_string_equal(in.phone, "+79131234567");
	assert_true(in.has_fee && in.monthly_fee == 60000);
	assert_true(in.has_balance && in.balance == -2050);
	static const char *const bad[][8] = {
		{NULL, NULL, NULL, NULL, NULL, NULL, NULL, "contract"},
		{"12a", NULL, NULL, NULL, NULL, NULL, NULL, "contract"},
		{"123456789", "12", NULL, NULL, NULL, NULL, NULL, "phone"},
		{"123456789", NULL, "x@", NULL, NULL, NULL, NULL, "email"},
		{"123456789", NULL, NULL, "bad\x01name", NULL, NULL, NULL, "holder_name"},
		{"123456789", NULL, NULL, "\xff\xfe", NULL, NULL, NULL, "holder_name"},
		{"123456789", NULL, NULL, NULL, "frozen", NULL, NULL, "status"},
		{"123456789", NULL, NULL, NULL, NULL, "-1", NULL, "monthly_fee"},
		{"123456789", NULL, NULL, NULL, NULL, NULL, "1.001", "balance"},
		{"123456789", NULL, NULL, NULL, NULL, NULL, "--1", "balance"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (account_validate(bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], bad[i][5], bad[i][6], &in,
				     err) == 0)
			fail_msg("case %zu accepted", i);
		if (strncmp(err, bad[i][7], strlen(bad[i][7])) != 0)
			fail_msg("case %zu: \"%s\" does not name %s", i, err, bad[i][7]);
	}
}

static void test_request_hash_ignores_key_order_and_spacing(void **state)
{
	(void)state;
	json_t *a = json_loads("{\"amount\":\"500.00\",\"account\":{\"contract\":\"12345\"}}", 0, NULL);
	json_t *b = json_loads("{ \"account\" : {\"contract\":\"12345\"}, \"amount\":\"500.00\" }", 0, NULL);
	json_t *c = json_loads("{\"amount\":\"500.01\",\"account\":{\"contract\":\"12345\"}}", 0, NULL);
	char ha[65], hb[65], hc[65];
	assert_int_equal(payments_request_hash(a, ha), 0);
	assert_int_equal(payments_request_hash(b, hb), 0);
	assert_int_equal(payments_request_hash(c, hc), 0);
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_sanitize_removes_card_data_everywhere(void **state)
{
	(void)state;
	json_t *j = json_loads("{\"id\":\"x\",\"card\":{\"first6\":\"411111\"},\"payment_method\":{\"CVV\":\"123\","
			       "\"title\":\"Visa\",\"items\":[{\"pan\":\"4111111111111111\",\"ok\":1}]},\"password\":\"p\"}",
			       0, NULL);
	payments_sanitize(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"id\":\"x\",\"payment_method\":{\"items\":[{\"ok\":1}],\"title\":\"Visa\"}}");
	free(s);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_month_of_daily_shares_adds_up_to_the_fee),
		cmocka_unit_test(test_days_left_follows_the_daily_shares),
		cmocka_unit_test(test_recommended_amount_covers_a_month_from_today_in_whole_roubles),
		cmocka_unit_test(test_validate_normalises_and_names_the_bad_field),
		cmocka_unit_test(test_request_hash_ignores_key_order_and_spacing),
		cmocka_unit_test(test_sanitize_removes_card_data_everywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
