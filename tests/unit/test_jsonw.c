/* test_jsonw.c — cmocka unit tests for gateway/jsonw.c: the writer must produce exactly the bytes
 * jansson's json_dumps(JSON_COMPACT) makes of the same members (it replaces jansson on hot paths),
 * and fail exactly where json_string / json_pack refuse a string (invalid UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonw.h"

/* Writes {"k":s,"n":i,"b":true,"z":null,"o":{"s":s}} both ways and compares. */
static void same_as_jansson(const char *s, long long i)
{
	json_t *js = json_string(s);
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_str(&w, "k", s);
	jw_int(&w, "n", i);
	jw_bool(&w, "b", true);
	jw_bool(&w, "f", false);
	jw_null(&w, "z");
	jw_str(&w, "nul", NULL);
	jw_obj_begin(&w, "o");
	jw_str(&w, "s", s);
	jw_obj_end(&w);
	jw_obj_end(&w);
	size_t len;
	const char *got = jw_text(&w, &len);
	if (!js) {
		if (got)
			fail_msg("jansson refuses %s but jsonw wrote %s", s, got);
		jw_free(&w);
		return;
	}
	json_t *doc = json_pack("{s:O,s:I,s:b,s:b,s:n,s:n,s:{s:O}}", "k", js, "n", (json_int_t)i, "b", 1, "f", 0, "z",
				"nul", "o", "s", js);
	json_decref(js);
	assert_non_null(doc);
	char *want = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_non_null(want);
	if (!got)
		fail_msg("jsonw failed on a string jansson accepts: %s", want);
	if (len != strlen(want) || memcmp(got, want, len) != 0 || got[len] != '\0')
		fail_msg("jsonw %.*s\njansson %s", (int)len, got, want);
	free(want);
	jw_free(&w);
}

static void test_strings_and_numbers(void **state)
{
	(void)state;
	static const char *const strings[] = {
		"", "ok", "a \"quoted\" \\ back/slash", "tab\there\nnew\rline\bback\fform",
		"\x01\x02\x1f\x7f end", "Услуги приостановлены. Пополните баланс", "А*****т 4", "emoji \xF0\x9F\x98\x80",
		"\xE2\x80\xA8 line separator", "80****005",
		/* invalid UTF-8: jansson refuses these, so must jsonw */
		"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "cut \xD0", "\x80 lone",
	};
	static const long long ints[] = {0, 1, -1, 42, 9223372036854775807LL, -9223372036854775807LL - 1};
	for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
		for (size_t n = 0; n < sizeof ints / sizeof ints[0]; n++)
			same_as_jansson(strings[k], ints[n]);
}

/* Every single byte, and every byte pair after a lead byte, as a one-character string. */
static void test_every_byte(void **state)
{
	(void)state;
	char s[4] = {0};
	for (int a = 1; a < 256; a++) {
		s[0] = (char)a;
		s[1] = 0;
		same_as_jansson(s, 0);
		for (int b = 1; b < 256; b += 7) {
			s[1] = (char)b;
			s[2] = 0;
			same_as_jansson(s, 0);
		}
	}
}

static void test_grows_past_the_inline_buffer(void **state)
{
	(void)state;
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[100] = '\n';
	same_as_jansson(big, 7);
}

static void test_unbalanced_fails(void **state)
{
	(void)state;
	struct jsonw w;
	size_t len;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	assert_null(jw_text(&w, &len));
	jw_free(&w);
	jw_init(&w);
	for (int i = 0; i < JSONW_DEPTH + 1; i++)
		jw_obj_begin(&w, "a");
	for (int i = 0; i < JSONW_DEPTH + 1; i++)
		jw_obj_end(&w);
	assert_null(jw_text(&w, &len));
	jw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_and_numbers),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_grows_past_the_inline_buffer),
		cmocka_unit_test(test_unbalanced_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
