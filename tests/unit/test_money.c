/* test_money.c — cmocka unit tests for gateway/money.c: exhaustive tables of
 * good and bad amounts, embedded NULs, huge inputs, formatting extremes and a
 * brute-force cross-check of the parser against an independent grammar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "money.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct parse_case {
    const char *in;
    enum money_err err;
    int64_t kopecks; /* meaningful when err == MONEY_OK */
};

/* Runs a table through money_parse and money_parsen; fails naming the input. */
static void run_parse_table(const struct parse_case *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int64_t got = -777;
        int64_t got_n = -777;
        enum money_err e = money_parse(c[i].in, &got);
        enum money_err en = money_parsen(c[i].in, strlen(c[i].in), &got_n);

        if (e != c[i].err || en != c[i].err)
            fail_msg("input \"%s\": got error %d/%d, want %d", c[i].in, (int)e, (int)en,
                     (int)c[i].err);
        if (c[i].err == MONEY_OK && (got != c[i].kopecks || got_n != c[i].kopecks))
            fail_msg("input \"%s\": got %" PRId64 "/%" PRId64 ", want %" PRId64, c[i].in, got,
                     got_n, c[i].kopecks);
        if (c[i].err != MONEY_OK && (got != -777 || got_n != -777))
            fail_msg("input \"%s\": output written on error", c[i].in);
    }
}

#define RUN(table) run_parse_table((table), COUNT(table))

/* ---- accepted forms ------------------------------------------------------ */

static void test_parse_accepts_whole_roubles(void **state)
{
    static const struct parse_case t[] = {
        {"0", MONEY_OK, 0},
        {"1", MONEY_OK, 100},
        {"9", MONEY_OK, 900},
        {"10", MONEY_OK, 1000},
        {"100", MONEY_OK, 10000},
        {"1000", MONEY_OK, 100000},
        {"123456789", MONEY_OK, 12345678900},
    };
    (void)state;
    RUN(t);
}

static void test_parse_accepts_one_decimal_as_tens_of_kopecks(void **state)
{
    static const struct parse_case t[] = {
        {"100.5", MONEY_OK, 10050},
        {"100,5", MONEY_OK, 10050},
        {"0.5", MONEY_OK, 50},
        {"0,1", MONEY_OK, 10},
        {"1.0", MONEY_OK, 100},
        {"9.9", MONEY_OK, 990},
    };
    (void)state;
    RUN(t);
}

static void test_parse_accepts_two_decimals_with_dot_or_comma(void **state)
{
    static const struct parse_case t[] = {
        {"100.50", MONEY_OK, 10050},
        {"100,50", MONEY_OK, 10050},
        {"0.01", MONEY_OK, 1},
        {"0,01", MONEY_OK, 1},
        {"0.99", MONEY_OK, 99},
        {"1.00", MONEY_OK, 100},
        {"1.05", MONEY_OK, 105},
        {"12345.67", MONEY_OK, 1234567},
        {"999,99", MONEY_OK, 99999},
    };
    (void)state;
    RUN(t);
}

static void test_parse_accepts_single_zero_integer_part(void **state)
{
    static const struct parse_case t[] = {
        {"0", MONEY_OK, 0},
        {"0.00", MONEY_OK, 0},
        {"0.0", MONEY_OK, 0},
        {"0.50", MONEY_OK, 50},
        {"0,5", MONEY_OK, 50},
    };
    (void)state;
    RUN(t);
}

static void test_parse_accepts_amounts_up_to_the_cap(void **state)
{
    static const struct parse_case t[] = {
        {"1000000000000", MONEY_OK, MONEY_MAX_KOPECKS},
        {"1000000000000.00", MONEY_OK, MONEY_MAX_KOPECKS},
        {"1000000000000,0", MONEY_OK, MONEY_MAX_KOPECKS},
        {"999999999999.99", MONEY_OK, MONEY_MAX_KOPECKS - 1},
        {"999999999999", MONEY_OK, 99999999999900},
    };
    (void)state;
    RUN(t);
}

/* ---- rejected forms ------------------------------------------------------ */

static void test_parse_rejects_above_cap_as_range(void **state)
{
    static const struct parse_case t[] = {
        {"1000000000000.01", MONEY_RANGE, 0},
        {"1000000000001", MONEY_RANGE, 0},
        {"99999999999999.99", MONEY_RANGE, 0},
        {"99999999999999", MONEY_RANGE, 0},
        {"999999999999999", MONEY_RANGE, 0},      /* 15 integer digits */
        {"999999999999999.99", MONEY_RANGE, 0},   /* 15 digits, max fraction */
        {"1000000000000000", MONEY_RANGE, 0},     /* 16 integer digits */
        {"9223372036854775807", MONEY_RANGE, 0},  /* INT64_MAX */
        {"9223372036854775808", MONEY_RANGE, 0},  /* INT64_MAX + 1 */
        {"18446744073709551616", MONEY_RANGE, 0}, /* 2^64 */
        {"92233720368547758.07", MONEY_RANGE, 0}, /* INT64_MAX kopecks */
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_three_decimals(void **state)
{
    static const struct parse_case t[] = {
        {"1.005", MONEY_FRACTION, 0},
        {"1.000", MONEY_FRACTION, 0}, /* even trailing zeros: be exact */
        {"0,001", MONEY_FRACTION, 0},
        {"100.12345", MONEY_FRACTION, 0},
        {"0.0000000000000000000001", MONEY_FRACTION, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_empty(void **state)
{
    int64_t out = -777;

    (void)state;
    assert_int_equal(money_parse("", &out), MONEY_EMPTY);
    assert_int_equal(money_parse(NULL, &out), MONEY_EMPTY);
    assert_int_equal(money_parsen(NULL, 5, &out), MONEY_EMPTY);
    assert_int_equal(money_parsen("5", 0, &out), MONEY_EMPTY);
    assert_int_equal(out, -777);
}

static void test_parse_rejects_negative(void **state)
{
    static const struct parse_case t[] = {
        {"-1", MONEY_NEGATIVE, 0},
        {"-5", MONEY_NEGATIVE, 0},
        {"-0", MONEY_NEGATIVE, 0},
        {"-0.01", MONEY_NEGATIVE, 0},
        {"-100.50", MONEY_NEGATIVE, 0},
        {"-100,5", MONEY_NEGATIVE, 0},
        {"-1.005", MONEY_NEGATIVE, 0},               /* sign reported first */
        {"-99999999999999999999", MONEY_NEGATIVE, 0}, /* sign reported first */
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_plus_and_malformed_signs_as_syntax(void **state)
{
    static const struct parse_case t[] = {
        {"+1", MONEY_SYNTAX, 0},   {"+5", MONEY_SYNTAX, 0},  {"+0.50", MONEY_SYNTAX, 0},
        {"-", MONEY_SYNTAX, 0},    {"+", MONEY_SYNTAX, 0},   {"--5", MONEY_SYNTAX, 0},
        {"-+5", MONEY_SYNTAX, 0},  {"+-5", MONEY_SYNTAX, 0}, {"-x", MONEY_SYNTAX, 0},
        {"- 5", MONEY_SYNTAX, 0},  {"5-", MONEY_SYNTAX, 0},  {"-.5", MONEY_SYNTAX, 0},
        {"-5.", MONEY_SYNTAX, 0},  {"-05", MONEY_SYNTAX, 0}, {"\xe2\x88\x92" "5", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_leading_or_trailing_separator(void **state)
{
    static const struct parse_case t[] = {
        {".5", MONEY_SYNTAX, 0},  {",5", MONEY_SYNTAX, 0}, {".50", MONEY_SYNTAX, 0},
        {"5.", MONEY_SYNTAX, 0},  {"5,", MONEY_SYNTAX, 0}, {"100.", MONEY_SYNTAX, 0},
        {".", MONEY_SYNTAX, 0},   {",", MONEY_SYNTAX, 0},  {"..", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_grouping_and_second_separator(void **state)
{
    static const struct parse_case t[] = {
        {"1,000.00", MONEY_SYNTAX, 0}, {"1.000,00", MONEY_SYNTAX, 0}, {"1,000,000", MONEY_SYNTAX, 0},
        {"1..5", MONEY_SYNTAX, 0},     {"1.,5", MONEY_SYNTAX, 0},     {"1.2.3", MONEY_SYNTAX, 0},
        {"1 000", MONEY_SYNTAX, 0},    {"1'000", MONEY_SYNTAX, 0},    {"1_000", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_whitespace_anywhere(void **state)
{
    static const struct parse_case t[] = {
        {" 5", MONEY_SYNTAX, 0},   {"5 ", MONEY_SYNTAX, 0},    {" ", MONEY_SYNTAX, 0},
        {"\t5", MONEY_SYNTAX, 0},  {"5\n", MONEY_SYNTAX, 0},   {"5\r\n", MONEY_SYNTAX, 0},
        {"5 .50", MONEY_SYNTAX, 0}, {"5. 50", MONEY_SYNTAX, 0}, {"5\xc2\xa0", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_exponent_hex_and_special_values(void **state)
{
    static const struct parse_case t[] = {
        {"1e3", MONEY_SYNTAX, 0},   {"1E3", MONEY_SYNTAX, 0},   {"1.5e2", MONEY_SYNTAX, 0},
        {"1e-2", MONEY_SYNTAX, 0},  {"0x10", MONEY_SYNTAX, 0},  {"0X10", MONEY_SYNTAX, 0},
        {"0b101", MONEY_SYNTAX, 0}, {"0o17", MONEY_SYNTAX, 0},  {"inf", MONEY_SYNTAX, 0},
        {"nan", MONEY_SYNTAX, 0},   {"NaN", MONEY_SYNTAX, 0},   {"Infinity", MONEY_SYNTAX, 0},
        {"1.5f", MONEY_SYNTAX, 0},  {"10L", MONEY_SYNTAX, 0},   {"0x1p3", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_leading_zeros(void **state)
{
    static const struct parse_case t[] = {
        {"00", MONEY_SYNTAX, 0},    {"007", MONEY_SYNTAX, 0},   {"0100", MONEY_SYNTAX, 0},
        {"00.50", MONEY_SYNTAX, 0}, {"01,5", MONEY_SYNTAX, 0},  {"000000000001", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_non_ascii_digits(void **state)
{
    static const struct parse_case t[] = {
        {"\xef\xbc\x91\xef\xbc\x90\xef\xbc\x90", MONEY_SYNTAX, 0}, /* fullwidth "１００" */
        {"1\xef\xbc\x90\xef\xbc\x90", MONEY_SYNTAX, 0},            /* "1００" */
        {"\xd9\xa5", MONEY_SYNTAX, 0},                             /* Arabic-Indic five */
        {"\xc2\xb9", MONEY_SYNTAX, 0},                             /* superscript one */
        {"5\xef\xbc\x8e" "50", MONEY_SYNTAX, 0},                   /* fullwidth full stop */
        {"\xff", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_letters_and_currency_marks(void **state)
{
    static const struct parse_case t[] = {
        {"abc", MONEY_SYNTAX, 0},  {"5RUB", MONEY_SYNTAX, 0},  {"5\xd1\x80", MONEY_SYNTAX, 0}, /* 5р */
        {"$5", MONEY_SYNTAX, 0},   {"5\xe2\x82\xbd", MONEY_SYNTAX, 0},                         /* 5₽ */
        {"five", MONEY_SYNTAX, 0}, {"5%", MONEY_SYNTAX, 0},    {"1/2", MONEY_SYNTAX, 0},
        {"(5)", MONEY_SYNTAX, 0},  {"5.5a", MONEY_SYNTAX, 0},  {"5.a", MONEY_SYNTAX, 0},
    };
    (void)state;
    RUN(t);
}

static void test_parse_rejects_huge_digit_strings_without_overflow(void **state)
{
    char buf[2100];

    (void)state;
    memset(buf, '9', 2000);
    buf[2000] = '\0';
    assert_int_equal(money_parse(buf, NULL), MONEY_RANGE);
    strcpy(buf + 2000, ".99");
    assert_int_equal(money_parse(buf, NULL), MONEY_RANGE);
    strcpy(buf + 2000, ".999"); /* fraction error outranks range */
    assert_int_equal(money_parse(buf, NULL), MONEY_FRACTION);
    strcpy(buf + 2000, "x"); /* syntax error outranks both */
    assert_int_equal(money_parse(buf, NULL), MONEY_SYNTAX);
    memset(buf, '0', 2000); /* long leading zeros are syntax, not range */
    buf[2000] = '\0';
    assert_int_equal(money_parse(buf, NULL), MONEY_SYNTAX);
    buf[0] = '1';
    buf[1] = '.';
    buf[2] = '0';
    buf[3] = '\0';
    memset(buf + 3, '0', 2000); /* 1.000...0: fraction too long */
    buf[2003] = '\0';
    assert_int_equal(money_parse(buf, NULL), MONEY_FRACTION);
}

static void test_parsen_rejects_embedded_nul(void **state)
{
    static const char a[] = "5\0";
    static const char b[] = "5\0" "0";
    static const char c[] = "\0";
    static const char d[] = "1.5\0x";
    static const char e[] = "100\0.50";
    static const char f[] = "1.\0" "5";
    int64_t out = -777;

    (void)state;
    assert_int_equal(money_parsen(a, sizeof a - 1, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(b, sizeof b - 1, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(c, sizeof c - 1, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(d, sizeof d - 1, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(e, sizeof e - 1, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(f, sizeof f - 1, &out), MONEY_SYNTAX);
    assert_int_equal(out, -777);
    /* the NUL-terminated API sees only the prefix, by definition */
    assert_int_equal(money_parse(a, &out), MONEY_OK);
    assert_int_equal(out, 500);
}

static void test_parsen_reads_exactly_len_bytes(void **state)
{
    int64_t out = 0;
    char unterminated[4] = {'1', '.', '5', '0'}; /* no NUL: ASan would catch an overread */

    (void)state;
    assert_int_equal(money_parsen("12345", 3, &out), MONEY_OK);
    assert_int_equal(out, 12300);
    assert_int_equal(money_parsen("1.50xyz", 4, &out), MONEY_OK);
    assert_int_equal(out, 150);
    assert_int_equal(money_parsen("1.505", 4, &out), MONEY_OK);
    assert_int_equal(out, 150);
    assert_int_equal(money_parsen("5.", 2, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen(unterminated, sizeof unterminated, &out), MONEY_OK);
    assert_int_equal(out, 150);
    assert_int_equal(money_parsen(unterminated, 2, &out), MONEY_SYNTAX);
    assert_int_equal(money_parsen("-5", 1, &out), MONEY_SYNTAX);
}

static void test_parse_accepts_null_output_for_validation_only(void **state)
{
    (void)state;
    assert_int_equal(money_parse("100.50", NULL), MONEY_OK);
    assert_int_equal(money_parsen("100.50", 6, NULL), MONEY_OK);
    assert_int_equal(money_parse("1.005", NULL), MONEY_FRACTION);
}

/* ---- brute force against an independent grammar ------------------------- */

/* Reference: written differently from the parser (split on the separator
 * first, then check the pieces). Returns the error the parser must return. */
static enum money_err reference_parse(const char *s, int64_t *out)
{
    size_t len = strlen(s), i, sep = len, nsep = 0, intlen, fraclen;
    int64_t v = 0;

    if (len == 0)
        return MONEY_EMPTY;
    if (s[0] == '-') {
        int64_t dummy;
        enum money_err e = reference_parse(s + 1, &dummy);
        if (s[1] == '-' || e == MONEY_EMPTY || e == MONEY_SYNTAX)
            return MONEY_SYNTAX;
        return MONEY_NEGATIVE;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '.' || s[i] == ',') {
            nsep++;
            sep = i;
        } else if (s[i] < '0' || s[i] > '9') {
            return MONEY_SYNTAX;
        }
    }
    if (nsep > 1)
        return MONEY_SYNTAX;
    intlen = sep;
    fraclen = nsep ? len - sep - 1 : 0;
    if (intlen == 0 || (nsep && fraclen == 0))
        return MONEY_SYNTAX;
    if (intlen > 1 && s[0] == '0')
        return MONEY_SYNTAX;
    if (fraclen > 2)
        return MONEY_FRACTION;
    if (intlen > 13)
        return MONEY_RANGE;
    for (i = 0; i < intlen; i++)
        v = v * 10 + (s[i] - '0');
    v *= 100;
    if (fraclen >= 1)
        v += (s[sep + 1] - '0') * 10;
    if (fraclen == 2)
        v += s[sep + 2] - '0';
    if (v > MONEY_MAX_KOPECKS)
        return MONEY_RANGE;
    *out = v;
    return MONEY_OK;
}

static void test_parse_matches_reference_grammar_on_all_short_strings(void **state)
{
    static const char alphabet[] = "0159.,-+ e";
    const size_t na = sizeof alphabet - 1;
    char s[7];
    size_t len, k, idx[6];
    unsigned long checked = 0;

    (void)state;
    for (len = 1; len <= 6; len++) {
        memset(idx, 0, sizeof idx);
        for (;;) {
            int64_t got = -1, want = -2;
            enum money_err e, we;

            for (k = 0; k < len; k++)
                s[k] = alphabet[idx[k]];
            s[len] = '\0';
            e = money_parse(s, &got);
            we = reference_parse(s, &want);
            if (e != we || (e == MONEY_OK && got != want))
                fail_msg("input \"%s\": got %d (%" PRId64 "), reference %d (%" PRId64 ")", s,
                         (int)e, got, (int)we, want);
            checked++;
            for (k = 0; k < len; k++) {
                if (++idx[k] < na)
                    break;
                idx[k] = 0;
            }
            if (k == len)
                break;
        }
    }
    assert_true(checked > 1000000);
}

/* ---- strerror ------------------------------------------------------------ */

static void test_strerror_gives_distinct_english_message_for_each_error(void **state)
{
    static const enum money_err all[] = {MONEY_OK,       MONEY_EMPTY, MONEY_SYNTAX,
                                         MONEY_FRACTION, MONEY_RANGE, MONEY_NEGATIVE};
    size_t i, j;

    (void)state;
    for (i = 0; i < COUNT(all); i++) {
        const char *m = money_strerror(all[i]);
        assert_non_null(m);
        assert_true(strlen(m) > 1);
        for (j = 0; j < i; j++)
            assert_string_not_equal(m, money_strerror(all[j]));
    }
    assert_string_equal(money_strerror(MONEY_FRACTION), "amount has more than two decimal places");
    assert_non_null(strstr(money_strerror(MONEY_NEGATIVE), "negative"));
    assert_non_null(strstr(money_strerror(MONEY_RANGE), "too large"));
}

static void test_strerror_handles_out_of_range_value(void **state)
{
    (void)state;
    assert_non_null(money_strerror((enum money_err)99));
    assert_non_null(money_strerror((enum money_err)-1));
}

/* ---- format -------------------------------------------------------------- */

struct fmt_case {
    int64_t kopecks;
    const char *want;
};

static void run_format_table(const struct fmt_case *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char buf[MONEY_BUFSZ];
        memset(buf, 'X', sizeof buf);
        if (money_format(c[i].kopecks, buf) != buf)
            fail_msg("%" PRId64 ": did not return buf", c[i].kopecks);
        if (strcmp(buf, c[i].want) != 0)
            fail_msg("%" PRId64 ": got \"%s\", want \"%s\"", c[i].kopecks, buf, c[i].want);
    }
}

static void test_format_always_has_two_decimals(void **state)
{
    static const struct fmt_case t[] = {
        {0, "0.00"},         {1, "0.01"},          {5, "0.05"},       {10, "0.10"},
        {99, "0.99"},        {100, "1.00"},        {101, "1.01"},     {10050, "100.50"},
        {123450, "1234.50"}, {1000000, "10000.00"}, {MONEY_MAX_KOPECKS, "1000000000000.00"},
    };
    (void)state;
    run_format_table(t, COUNT(t));
}

static void test_format_prefixes_negatives_with_minus(void **state)
{
    static const struct fmt_case t[] = {
        {-1, "-0.01"},   {-10, "-0.10"},        {-99, "-0.99"},
        {-100, "-1.00"}, {-123450, "-1234.50"}, {-MONEY_MAX_KOPECKS, "-1000000000000.00"},
    };
    (void)state;
    run_format_table(t, COUNT(t));
}

static void test_format_handles_int64_extremes(void **state)
{
    static const struct fmt_case t[] = {
        {INT64_MAX, "92233720368547758.07"},
        {INT64_MIN, "-92233720368547758.08"},
        {INT64_MIN + 1, "-92233720368547758.07"},
        {INT64_MAX - 7, "92233720368547758.00"},
    };
    (void)state;
    run_format_table(t, COUNT(t));
    assert_true(strlen("-92233720368547758.08") < MONEY_BUFSZ);
}

static void test_format_with_null_buffer_returns_null(void **state)
{
    (void)state;
    assert_null(money_format(100, NULL));
}

static void test_format_then_parse_round_trips(void **state)
{
    int64_t k;

    (void)state;
    for (k = 0; k <= 200000; k++) {
        char buf[MONEY_BUFSZ];
        int64_t back = -1;
        money_format(k, buf);
        if (money_parse(buf, &back) != MONEY_OK || back != k)
            fail_msg("%" PRId64 " -> \"%s\" -> %" PRId64, k, buf, back);
    }
    for (k = MONEY_MAX_KOPECKS - 1000; k <= MONEY_MAX_KOPECKS; k++) {
        char buf[MONEY_BUFSZ];
        int64_t back = -1;
        money_format(k, buf);
        if (money_parse(buf, &back) != MONEY_OK || back != k)
            fail_msg("%" PRId64 " -> \"%s\" -> %" PRId64, k, buf, back);
    }
    for (k = -1000; k < 0; k++) {
        char buf[MONEY_BUFSZ];
        money_format(k, buf);
        assert_int_equal(money_parse(buf, NULL), MONEY_NEGATIVE);
    }
}

/* ---- checked arithmetic -------------------------------------------------- */

static void test_add_sums_or_reports_overflow(void **state)
{
    int64_t out = 42;

    (void)state;
    assert_true(money_add(100, 50, &out));
    assert_int_equal(out, 150);
    assert_true(money_add(-100, 50, &out));
    assert_int_equal(out, -50);
    assert_true(money_add(INT64_MAX, 0, &out));
    assert_true(money_add(INT64_MAX, INT64_MIN, &out));
    assert_int_equal(out, -1);
    assert_true(money_add(INT64_MIN, 0, &out));
    assert_true(money_add(INT64_MAX - 1, 1, &out));
    assert_true(money_add(1, 2, NULL));
    out = 42;
    assert_false(money_add(INT64_MAX, 1, &out));
    assert_false(money_add(1, INT64_MAX, &out));
    assert_false(money_add(INT64_MIN, -1, &out));
    assert_false(money_add(INT64_MIN, INT64_MIN, &out));
    assert_false(money_add(INT64_MAX, INT64_MAX, &out));
    assert_int_equal(out, 42);
}

static void test_sub_subtracts_or_reports_overflow(void **state)
{
    int64_t out = 42;

    (void)state;
    assert_true(money_sub(100, 50, &out));
    assert_int_equal(out, 50);
    assert_true(money_sub(50, 100, &out));
    assert_int_equal(out, -50);
    assert_true(money_sub(0, INT64_MAX, &out));
    assert_true(money_sub(-1, INT64_MIN, &out));
    assert_int_equal(out, INT64_MAX);
    assert_true(money_sub(INT64_MIN, 0, &out));
    assert_true(money_sub(3, 2, NULL));
    out = 42;
    assert_false(money_sub(0, INT64_MIN, &out));
    assert_false(money_sub(INT64_MIN, 1, &out));
    assert_false(money_sub(INT64_MAX, -1, &out));
    assert_false(money_sub(-2, INT64_MAX, &out));
    assert_int_equal(out, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_whole_roubles),
        cmocka_unit_test(test_parse_accepts_one_decimal_as_tens_of_kopecks),
        cmocka_unit_test(test_parse_accepts_two_decimals_with_dot_or_comma),
        cmocka_unit_test(test_parse_accepts_single_zero_integer_part),
        cmocka_unit_test(test_parse_accepts_amounts_up_to_the_cap),
        cmocka_unit_test(test_parse_rejects_above_cap_as_range),
        cmocka_unit_test(test_parse_rejects_three_decimals),
        cmocka_unit_test(test_parse_rejects_empty),
        cmocka_unit_test(test_parse_rejects_negative),
        cmocka_unit_test(test_parse_rejects_plus_and_malformed_signs_as_syntax),
        cmocka_unit_test(test_parse_rejects_leading_or_trailing_separator),
        cmocka_unit_test(test_parse_rejects_grouping_and_second_separator),
        cmocka_unit_test(test_parse_rejects_whitespace_anywhere),
        cmocka_unit_test(test_parse_rejects_exponent_hex_and_special_values),
        cmocka_unit_test(test_parse_rejects_leading_zeros),
        cmocka_unit_test(test_parse_rejects_non_ascii_digits),
        cmocka_unit_test(test_parse_rejects_letters_and_currency_marks),
        cmocka_unit_test(test_parse_rejects_huge_digit_strings_without_overflow),
        cmocka_unit_test(test_parsen_rejects_embedded_nul),
        cmocka_unit_test(test_parsen_reads_exactly_len_bytes),
        cmocka_unit_test(test_parse_accepts_null_output_for_validation_only),
        cmocka_unit_test(test_parse_matches_reference_grammar_on_all_short_strings),
        cmocka_unit_test(test_strerror_gives_distinct_english_message_for_each_error),
        cmocka_unit_test(test_strerror_handles_out_of_range_value),
        cmocka_unit_test(test_format_always_has_two_decimals),
        cmocka_unit_test(test_format_prefixes_negatives_with_minus),
        cmocka_unit_test(test_format_handles_int64_extremes),
        cmocka_unit_test(test_format_with_null_buffer_returns_null),
        cmocka_unit_test(test_format_then_parse_round_trips),
        cmocka_unit_test(test_add_sums_or_reports_overflow),
        cmocka_unit_test(test_sub_subtracts_or_reports_overflow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
