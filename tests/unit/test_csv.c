/* test_csv.c — the strict CSV reader behind `gatewayd accounts import`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

static struct csv_reader rd;

static FILE *from(const char *s, size_t n)
{
	FILE *f = fmemopen((void *)s, n, "r");
	assert_non_null(f);
	csv_init(&rd, f);
	return f;
}

static void test_reads_quoted_commas_quotes_and_newlines(void **state)
{
	(void)state;
	const char s[] = "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",,x\n";
	FILE *f = from(s, sizeof s - 1);
	char err[128];
	assert_int_equal(csv_read(&rd, err), 1);
	assert_int_equal(rd.nf, 3);
	assert_string_equal(rd.fields[0], "a");
	assert_string_equal(rd.fields[1], "b,c");
	assert_string_equal(rd.fields[2], "say \"hi\"");
	assert_int_equal(rd.line, 1);
	assert_int_equal(csv_read(&rd, err), 1);
	assert_int_equal(rd.nf, 3);
	assert_string_equal(rd.fields[0], "multi\nline");
	assert_string_equal(rd.fields[1], "");
	assert_int_equal(rd.line, 2);
	assert_int_equal(csv_read(&rd, err), 0);
	fclose(f);
}

static void test_skips_utf8_bom_and_counts_lines(void **state)
{
	(void)state;
	const char s[] = "\xEF\xBB\xBF" "contract\n12345\n700000001";
	FILE *f = from(s, sizeof s - 1);
	char err[128];
	assert_int_equal(csv_read(&rd, err), 1);
	assert_string_equal(rd.fields[0], "contract");
	assert_int_equal(csv_read(&rd, err), 1);
	assert_int_equal(rd.line, 2);
	assert_int_equal(csv_read(&rd, err), 1);
	assert_string_equal(rd.fields[0], "700000001");
	assert_int_equal(rd.line, 3);
	assert_int_equal(csv_read(&rd, err), 0);
	fclose(f);
}

static void expect_error(const char *s, size_t n, const char *needle)
{
	FILE *f = from(s, n);
	char err[128] = "";
	int r;
	while ((r = csv_read(&rd, err)) == 1)
		;
	fclose(f);
	if (r != -1)
		fail_msg("no error for %s", needle);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_rejects_malformed_input_with_line_numbers(void **state)
{
	(void)state;
	expect_error("a\n\"open", 7, "line 2: unterminated");
	expect_error("a\"b\n", 4, "quote inside");
	expect_error("\"a\"b\n", 5, "after a closing quote");
	expect_error("a\rb\n", 4, "carriage return");
	expect_error("ok\na\0b\n", 7, "line 2: NUL");
	char many[200];
	memset(many, ',', 40);
	many[40] = '\n';
	expect_error(many, 41, "more than");
}

static void test_rejects_overlong_record(void **state)
{
	(void)state;
	static char big[CSV_MAX_RECORD + 10];
	memset(big, 'x', sizeof big);
	expect_error(big, sizeof big, "longer than");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_quoted_commas_quotes_and_newlines),
		cmocka_unit_test(test_skips_utf8_bom_and_counts_lines),
		cmocka_unit_test(test_rejects_malformed_input_with_line_numbers),
		cmocka_unit_test(test_rejects_overlong_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
