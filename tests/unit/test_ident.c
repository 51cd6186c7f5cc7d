/* test_ident.c — cmocka unit tests for gateway/ident.c: tables of good and bad
 * contract numbers, phone spellings, e-mails, UTF-8 sequences and holder
 * names (Latin and Cyrillic), plus exhaustive UTF-8 checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ident.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct norm_case {
    const char *in;
    enum ident_err err;
    const char *want; /* meaningful when err == IDENT_OK */
};

typedef enum ident_err (*norm_fn)(const char *in, char *out);
typedef enum ident_err (*normn_fn)(const char *in, size_t len, char *out);

/* Runs a table through both the NUL-terminated and the length API. */
static void run_norm_table(const char *what, norm_fn f, normn_fn fn, size_t bufsz,
                           const struct norm_case *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char out[32], outn[32];
        enum ident_err e, en;

        memset(out, 'X', sizeof out);
        memset(outn, 'X', sizeof outn);
        e = f(c[i].in, out);
        en = fn(c[i].in, strlen(c[i].in), outn);
        if (e != c[i].err || en != c[i].err)
            fail_msg("%s \"%s\": got error %d/%d, want %d", what, c[i].in, (int)e, (int)en,
                     (int)c[i].err);
        if (c[i].err == IDENT_OK) {
            if (strcmp(out, c[i].want) != 0 || strcmp(outn, c[i].want) != 0)
                fail_msg("%s \"%s\": got \"%s\"/\"%s\", want \"%s\"", what, c[i].in, out, outn,
                         c[i].want);
        } else if (out[0] != '\0' || outn[0] != '\0') {
            fail_msg("%s \"%s\": out not cleared on error", what, c[i].in);
        }
        /* never writes past the documented buffer size */
        if (out[bufsz] != 'X' || outn[bufsz] != 'X')
            fail_msg("%s \"%s\": wrote past %zu bytes", what, c[i].in, bufsz);
    }
}

static enum ident_err contract_f(const char *in, char *out)
{
    return ident_contract_normalize(in, out);
}

static enum ident_err contract_fn(const char *in, size_t len, char *out)
{
    return ident_contract_normalizen(in, len, out);
}

static enum ident_err phone_f(const char *in, char *out)
{
    return ident_phone_normalize(in, out);
}

static enum ident_err phone_fn(const char *in, size_t len, char *out)
{
    return ident_phone_normalizen(in, len, out);
}

#define RUN_CONTRACT(t) \
    run_norm_table("contract", contract_f, contract_fn, IDENT_CONTRACT_BUFSZ, (t), COUNT(t))
#define RUN_PHONE(t) run_norm_table("phone", phone_f, phone_fn, IDENT_PHONE_BUFSZ, (t), COUNT(t))

/* ---- ident_strerror ------------------------------------------------------ */

static void test_strerror_gives_distinct_message_for_each_error(void **state)
{
    static const enum ident_err all[] = {IDENT_OK, IDENT_EMPTY, IDENT_SYNTAX, IDENT_LENGTH};
    size_t i, j;

    (void)state;
    for (i = 0; i < COUNT(all); i++) {
        assert_non_null(ident_strerror(all[i]));
        for (j = 0; j < i; j++)
            assert_string_not_equal(ident_strerror(all[i]), ident_strerror(all[j]));
    }
    assert_non_null(ident_strerror((enum ident_err)99));
}

/* ---- contract numbers ---------------------------------------------------- */

static void test_contract_accepts_plain_digits(void **state)
{
    static const struct norm_case t[] = {
        {"123456789", IDENT_OK, "123456789"},
        {"12345", IDENT_OK, "12345"},
        {"000012345", IDENT_OK, "000012345"},
        {"123456789012", IDENT_OK, "123456789012"},
        {"00000", IDENT_OK, "00000"},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_accepts_space_or_dash_between_groups(void **state)
{
    static const struct norm_case t[] = {
        {"123 456 789", IDENT_OK, "123456789"},
        {"123-456-789", IDENT_OK, "123456789"},
        {"123 456-789", IDENT_OK, "123456789"},
        {"12 345", IDENT_OK, "12345"},
        {"1-2-3-4-5", IDENT_OK, "12345"},
        {"1 2 3 4 5 6 7 8 9 0 1 2", IDENT_OK, "123456789012"},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_trims_surrounding_whitespace(void **state)
{
    static const struct norm_case t[] = {
        {"  123456789  ", IDENT_OK, "123456789"},
        {"\t123456789\n", IDENT_OK, "123456789"},
        {" 123 456 789\r\n", IDENT_OK, "123456789"},
        {"\v\f12345 ", IDENT_OK, "12345"},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_rejects_wrong_digit_count_as_length(void **state)
{
    static const struct norm_case t[] = {
        {"1", IDENT_LENGTH, NULL},
        {"1234", IDENT_LENGTH, NULL},
        {"12-34", IDENT_LENGTH, NULL},
        {"1234567890123", IDENT_LENGTH, NULL},
        {"123 456 789 0123", IDENT_LENGTH, NULL},
        {"99999999999999999999999999999999999999999999999999", IDENT_LENGTH, NULL},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_rejects_letters_and_non_ascii_digits(void **state)
{
    static const struct norm_case t[] = {
        {"12345a", IDENT_SYNTAX, NULL},
        {"No 12345", IDENT_SYNTAX, NULL},
        {"\xe2\x84\x96" "12345", IDENT_SYNTAX, NULL}, /* "№12345" */
        {"abcde", IDENT_SYNTAX, NULL},
        {"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95", IDENT_SYNTAX, NULL},
        {"1234x", IDENT_SYNTAX, NULL}, /* syntax outranks length */
        {"+12345", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_rejects_doubled_leading_or_trailing_separator(void **state)
{
    static const struct norm_case t[] = {
        {"123  456", IDENT_SYNTAX, NULL},  {"123--456", IDENT_SYNTAX, NULL},
        {"123 -456", IDENT_SYNTAX, NULL},  {"123- 456", IDENT_SYNTAX, NULL},
        {"-123456", IDENT_SYNTAX, NULL},   {"123456-", IDENT_SYNTAX, NULL},
        {"- 123456", IDENT_SYNTAX, NULL},  {"-", IDENT_SYNTAX, NULL},
        {"123456 -", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_rejects_other_separators(void **state)
{
    static const struct norm_case t[] = {
        {"123.456.789", IDENT_SYNTAX, NULL}, {"123/456", IDENT_SYNTAX, NULL},
        {"123_456", IDENT_SYNTAX, NULL},     {"123\t456", IDENT_SYNTAX, NULL},
        {"123,456", IDENT_SYNTAX, NULL},     {"123\xc2\xa0" "456", IDENT_SYNTAX, NULL},
        {"(123)456", IDENT_SYNTAX, NULL},    {"123\n456", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_CONTRACT(t);
}

static void test_contract_rejects_empty_and_blank(void **state)
{
    static const struct norm_case t[] = {
        {"", IDENT_EMPTY, NULL},
        {"   ", IDENT_EMPTY, NULL},
        {"\t\r\n", IDENT_EMPTY, NULL},
    };
    char out[IDENT_CONTRACT_BUFSZ] = "junk";

    (void)state;
    RUN_CONTRACT(t);
    assert_int_equal(ident_contract_normalize(NULL, out), IDENT_EMPTY);
    assert_string_equal(out, "");
    assert_int_equal(ident_contract_normalizen(NULL, 5, out), IDENT_EMPTY);
}

static void test_contract_normalizen_rejects_embedded_nul(void **state)
{
    static const char a[] = "12345\0";
    static const char b[] = "123\0" "45";
    static const char c[] = "\0" "12345";
    char out[IDENT_CONTRACT_BUFSZ];

    (void)state;
    assert_int_equal(ident_contract_normalizen(a, sizeof a - 1, out), IDENT_SYNTAX);
    assert_int_equal(ident_contract_normalizen(b, sizeof b - 1, out), IDENT_SYNTAX);
    assert_int_equal(ident_contract_normalizen(c, sizeof c - 1, out), IDENT_SYNTAX);
    assert_string_equal(out, "");
    assert_int_equal(ident_contract_normalizen("123456789xyz", 9, out), IDENT_OK);
    assert_string_equal(out, "123456789");
}

/* ---- phone numbers ------------------------------------------------------- */

static void test_phone_accepts_every_common_spelling(void **state)
{
    static const struct norm_case t[] = {
        {"8 (913) 123-45-67", IDENT_OK, "+79131234567"},
        {"+7 913 1234567", IDENT_OK, "+79131234567"},
        {"9131234567", IDENT_OK, "+79131234567"},
        {"89131234567", IDENT_OK, "+79131234567"},
        {"+79131234567", IDENT_OK, "+79131234567"},
        {"7 913 123 45 67", IDENT_OK, "+79131234567"},
        {"8-913-123-45-67", IDENT_OK, "+79131234567"},
        {"(913)123-45-67", IDENT_OK, "+79131234567"},
        {"+7(913)123-45-67", IDENT_OK, "+79131234567"},
        {"79131234567", IDENT_OK, "+79131234567"},
        {"8.913.123.45.67", IDENT_OK, "+79131234567"},
        {"8(913)1234567", IDENT_OK, "+79131234567"},
        {"+7 (913) 123 45 67", IDENT_OK, "+79131234567"},
        {"+7-913-123-45-67", IDENT_OK, "+79131234567"},
        {"8 913 123 45 67", IDENT_OK, "+79131234567"},
        {"8 9 1 3 1 2 3 4 5 6 7", IDENT_OK, "+79131234567"},
        {"8 - 913 - 123 - 45 - 67", IDENT_OK, "+79131234567"},
        {"(8913) 123-45-67", IDENT_OK, "+79131234567"},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_trims_surrounding_whitespace(void **state)
{
    static const struct norm_case t[] = {
        {"  +7 913 123-45-67\n", IDENT_OK, "+79131234567"},
        {"\t89131234567\r\n", IDENT_OK, "+79131234567"},
        {" 9131234567 ", IDENT_OK, "+79131234567"},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_accepts_landline_and_toll_free_codes(void **state)
{
    static const struct norm_case t[] = {
        {"(3822) 12-34-56", IDENT_OK, "+73822123456"},  /* Tomsk */
        {"8 (3822) 123456", IDENT_OK, "+73822123456"},
        {"4951234567", IDENT_OK, "+74951234567"},       /* Moscow */
        {"+7 495 123-45-67", IDENT_OK, "+74951234567"},
        {"8 800 555-35-35", IDENT_OK, "+78005553535"},  /* toll free */
        {"8005553535", IDENT_OK, "+78005553535"},
        {"+7 999 000 00 00", IDENT_OK, "+79990000000"},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_country_code_other_than_7(void **state)
{
    static const struct norm_case t[] = {
        {"+89131234567", IDENT_SYNTAX, NULL},
        {"+8 913 123-45-67", IDENT_SYNTAX, NULL},
        {"+1 913 123 4567", IDENT_SYNTAX, NULL},
        {"+380441234567", IDENT_SYNTAX, NULL},
        {"+", IDENT_SYNTAX, NULL},
        {"+ 7 913 123 45 67", IDENT_SYNTAX, NULL},
        {"+(7)9131234567", IDENT_SYNTAX, NULL},
        {"19131234567", IDENT_SYNTAX, NULL},
        {"99131234567", IDENT_SYNTAX, NULL},
        {"09131234567", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_non_russian_area_codes(void **state)
{
    static const struct norm_case t[] = {
        {"0131234567", IDENT_SYNTAX, NULL},   {"1131234567", IDENT_SYNTAX, NULL},
        {"2131234567", IDENT_SYNTAX, NULL},   {"5131234567", IDENT_SYNTAX, NULL},
        {"6131234567", IDENT_SYNTAX, NULL},   {"7131234567", IDENT_SYNTAX, NULL},
        {"+77011234567", IDENT_SYNTAX, NULL}, /* Kazakhstan mobile */
        {"87011234567", IDENT_SYNTAX, NULL},  {"77011234567", IDENT_SYNTAX, NULL},
        {"+76001234567", IDENT_SYNTAX, NULL}, {"80131234567", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_misplaced_or_repeated_plus(void **state)
{
    static const struct norm_case t[] = {
        {"8+9131234567", IDENT_SYNTAX, NULL},   {"++79131234567", IDENT_SYNTAX, NULL},
        {"+7+9131234567", IDENT_SYNTAX, NULL},  {"79131234567+", IDENT_SYNTAX, NULL},
        {"(+7) 913 1234567", IDENT_SYNTAX, NULL}, {"+7 913 123+45+67", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_letters_and_other_characters(void **state)
{
    static const struct norm_case t[] = {
        {"8913123456a", IDENT_SYNTAX, NULL},
        {"+7 913 CALL-NOW", IDENT_SYNTAX, NULL},
        {"tel:+79131234567", IDENT_SYNTAX, NULL},
        {"8 913 123 45 67 ext 1", IDENT_SYNTAX, NULL},
        {"8/913/1234567", IDENT_SYNTAX, NULL},
        {"8_913_1234567", IDENT_SYNTAX, NULL},
        {"8,913,1234567", IDENT_SYNTAX, NULL},
        {"8\t913\t1234567", IDENT_SYNTAX, NULL},
        {"8 913 123\n45 67", IDENT_SYNTAX, NULL},
        {"8\xc2\xa0" "9131234567", IDENT_SYNTAX, NULL},           /* NBSP */
        {"\xef\xbc\x98\xef\xbc\x99\xef\xbc\x91\xef\xbc\x93" "1234567", IDENT_SYNTAX, NULL},
        {"8 (913) 123-45-6\xd0\xb7", IDENT_SYNTAX, NULL},        /* Cyrillic з */
        {"x", IDENT_SYNTAX, NULL},
        {"913123456x7", IDENT_SYNTAX, NULL}, /* syntax outranks a right count */
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_unbalanced_or_extra_parentheses(void **state)
{
    static const struct norm_case t[] = {
        {"8 (913 123-45-67", IDENT_SYNTAX, NULL},
        {"8 913) 123-45-67", IDENT_SYNTAX, NULL},
        {"((913)) 1234567", IDENT_SYNTAX, NULL},
        {"8 (913) (123) 45 67", IDENT_SYNTAX, NULL},
        {")913( 1234567", IDENT_SYNTAX, NULL},
        {"()9131234567", IDENT_SYNTAX, NULL},
        {"8 ( ) 9131234567", IDENT_SYNTAX, NULL},
        {"89131234567(", IDENT_SYNTAX, NULL},
        {"(89131234567", IDENT_SYNTAX, NULL},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_wrong_digit_count_as_length(void **state)
{
    static const struct norm_case t[] = {
        {"913123456", IDENT_LENGTH, NULL},      /* 9 */
        {"913123456789", IDENT_LENGTH, NULL},   /* 12 */
        {"+7913123456", IDENT_LENGTH, NULL},    /* +7 and 9 */
        {"+791312345678", IDENT_LENGTH, NULL},  /* +7 and 11 */
        {"+7", IDENT_LENGTH, NULL},
        {"123", IDENT_LENGTH, NULL},
        {"8 (913) 123-45-678", IDENT_LENGTH, NULL},
        {"-", IDENT_LENGTH, NULL},              /* no digits at all */
        {"89131234567 89131234567", IDENT_LENGTH, NULL},
        {"1234567890123456789012345678901234567890", IDENT_LENGTH, NULL},
    };
    (void)state;
    RUN_PHONE(t);
}

static void test_phone_rejects_input_longer_than_64_bytes(void **state)
{
    char in[200];
    char out[IDENT_PHONE_BUFSZ];

    (void)state;
    /* 12 bytes of number + 52 spaces = 64: accepted */
    memset(in, ' ', sizeof in);
    memcpy(in, "+79131234567", 12);
    in[64] = '\0';
    assert_int_equal(ident_phone_normalize(in, out), IDENT_OK);
    assert_string_equal(out, "+79131234567");
    assert_int_equal(ident_phone_normalizen(in, 64, out), IDENT_OK);
    /* 65 bytes: too long, even though only whitespace follows */
    in[64] = ' ';
    in[65] = '\0';
    assert_int_equal(ident_phone_normalize(in, out), IDENT_LENGTH);
    assert_string_equal(out, "");
    assert_int_equal(ident_phone_normalizen(in, 65, out), IDENT_LENGTH);
    /* separators count towards the limit too */
    memset(in, '-', sizeof in);
    memcpy(in, "89131234567", 11);
    in[199] = '\0';
    assert_int_equal(ident_phone_normalize(in, out), IDENT_LENGTH);
    /* 65 whitespace bytes: length is checked before trimming */
    memset(in, ' ', 65);
    in[65] = '\0';
    assert_int_equal(ident_phone_normalize(in, out), IDENT_LENGTH);
}

static void test_phone_rejects_empty_and_blank(void **state)
{
    static const struct norm_case t[] = {
        {"", IDENT_EMPTY, NULL},
        {"   ", IDENT_EMPTY, NULL},
        {"\r\n\t", IDENT_EMPTY, NULL},
    };
    char out[IDENT_PHONE_BUFSZ] = "junk";

    (void)state;
    RUN_PHONE(t);
    assert_int_equal(ident_phone_normalize(NULL, out), IDENT_EMPTY);
    assert_string_equal(out, "");
    assert_int_equal(ident_phone_normalizen(NULL, 3, out), IDENT_EMPTY);
}

static void test_phone_normalizen_rejects_embedded_nul(void **state)
{
    static const char a[] = "9131234567\0";
    static const char b[] = "9131234567\0" "89";
    static const char c[] = "913\0" "1234567";
    static const char d[] = "\0" "+79131234567";
    char out[IDENT_PHONE_BUFSZ];

    (void)state;
    assert_int_equal(ident_phone_normalizen(a, sizeof a - 1, out), IDENT_SYNTAX);
    assert_int_equal(ident_phone_normalizen(b, sizeof b - 1, out), IDENT_SYNTAX);
    assert_int_equal(ident_phone_normalizen(c, sizeof c - 1, out), IDENT_SYNTAX);
    assert_int_equal(ident_phone_normalizen(d, sizeof d - 1, out), IDENT_SYNTAX);
    assert_string_equal(out, "");
    assert_int_equal(ident_phone_normalizen("89131234567999", 11, out), IDENT_OK);
    assert_string_equal(out, "+79131234567");
}

/* ---- e-mail -------------------------------------------------------------- */

static void test_email_accepts_ordinary_addresses(void **state)
{
    static const char *const good[] = {
        "user@example.com",
        "ivan.petrov@mail.ru",
        "a@b.co",
        "first+tag@sub.domain.org",
        "o'brien@example.com",
        "user_name-1@ex-ample.ru",
        "UPPER@EXAMPLE.COM",
        "1234@123.ru",
        "x@a-b-c.d-e.info",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        "x@xn--80a1acny.xn--p1ai", /* почта.рф in punycode */
        "user@example.xn--p1ai",
        "a.b.c@d.e.ru",
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(good); i++)
        if (!ident_email_valid(good[i]))
            fail_msg("\"%s\" should be valid", good[i]);
}

static void test_email_rejects_malformed_addresses(void **state)
{
    static const char *const bad[] = {
        "",
        "plain",
        "@example.com",
        "user@",
        "@",
        "user@localhost",
        "user@example",
        "user@example.c",
        "user@example.123",
        "user@example.r2",
        "user@example.xn--",
        "user@-example.com",
        "user@example-.com",
        "user@.example.com",
        "user@example..com",
        "user@example.com.",
        "user@exa_mple.com",
        "user name@example.com",
        "user@exa mple.com",
        " user@example.com",
        "user@example.com ",
        "a@b@example.com",
        "user@@example.com",
        ".user@example.com",
        "user.@example.com",
        "us..er@example.com",
        "\"quoted\"@example.com",
        "user<x>@example.com",
        "<user@example.com>",
        "user,x@example.com",
        "user;x@example.com",
        "us\\er@example.com",
        "user@example.com\r\nBcc: victim@example.org",
        "user@example.com\n",
        "user\x01@example.com",
        "user\x7f@example.com",
        "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.com",   /* иван@ */
        "user@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84", /* пример.рф */
        "user@[127.0.0.1]",
        "user@127.0.0.1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(bad); i++)
        if (ident_email_valid(bad[i]))
            fail_msg("\"%s\" should be invalid", bad[i]);
    assert_false(ident_email_valid(NULL));
}

static void test_email_enforces_length_limits(void **state)
{
    char s[400];
    size_t dl;

    (void)state;
    /* local part: 64 ok, 65 not */
    memset(s, 'a', 64);
    strcpy(s + 64, "@example.com");
    assert_true(ident_email_valid(s));
    memset(s, 'a', 65);
    strcpy(s + 65, "@example.com");
    assert_false(ident_email_valid(s));

    /* domain label: 63 ok, 64 not */
    strcpy(s, "a@");
    memset(s + 2, 'b', 63);
    strcpy(s + 65, ".ru");
    assert_true(ident_email_valid(s));
    strcpy(s, "a@");
    memset(s + 2, 'b', 64);
    strcpy(s + 66, ".ru");
    assert_false(ident_email_valid(s));

    /* total: "a@" + labels of 49 'c' + "." ... + "ddd.ru", exactly 254 bytes */
    strcpy(s, "a@");
    dl = 2;
    while (dl + 50 + 3 <= 254) {
        memset(s + dl, 'c', 49);
        s[dl + 49] = '.';
        dl += 50;
    }
    memset(s + dl, 'd', 254 - 3 - dl);
    strcpy(s + 251, ".ru");
    assert_int_equal(strlen(s), 254);
    assert_true(ident_email_valid(s));
    /* 255: one more character in the first label */
    memmove(s + 3, s + 2, 253);
    s[2] = 'c';
    assert_int_equal(strlen(s), 255);
    assert_false(ident_email_valid(s));
}

/* ---- UTF-8 --------------------------------------------------------------- */

static void test_utf8_accepts_valid_sequences(void **state)
{
    static const char *const good[] = {
        "",
        "plain ascii ~!",
        "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\xd0\xbe\xd0\xb2", /* Иванов */
        "\xd1\x91\xd0\x81",                                 /* ёЁ */
        "\xc2\x80",                                         /* U+0080 */
        "\xdf\xbf",                                         /* U+07FF */
        "\xe0\xa0\x80",                                     /* U+0800 */
        "\xe2\x82\xac",                                     /* € */
        "\xed\x9f\xbf",                                     /* U+D7FF */
        "\xee\x80\x80",                                     /* U+E000 */
        "\xef\xbf\xbd",                                     /* U+FFFD */
        "\xef\xbf\xbf",                                     /* U+FFFF */
        "\xf0\x90\x80\x80",                                 /* U+10000 */
        "\xf0\x9d\x84\x9e",                                 /* 𝄞 */
        "\xf4\x8f\xbf\xbf",                                 /* U+10FFFF */
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(good); i++)
        if (!ident_utf8_valid(good[i], strlen(good[i])))
            fail_msg("case %zu should be valid UTF-8", i);
    assert_true(ident_utf8_valid(NULL, 0));
}

static void test_utf8_rejects_invalid_sequences(void **state)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xbf",
        "\xc0\x80",         /* overlong NUL */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x80\x80\xaf", /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
        "\xed\xa0\x80",     /* U+D800 surrogate */
        "\xed\xbf\xbf",     /* U+DFFF surrogate */
        "\xed\xa0\xbd\xed\xb2\xa9", /* CESU-8 pair */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xfe",
        "\xff",
        "\xd0",             /* truncated */
        "\xe2\x82",
        "\xf0\x9d\x84",
        "\xd0\x41",          /* missing continuation ("A") */
        "\xe2\x28\xa1",
        "ab\xd0",           /* truncated at end */
        "\xd0\x98\x98",     /* stray continuation after a good char */
    };
    static const char with_nul[] = "ab\0cd";
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(bad); i++)
        if (ident_utf8_valid(bad[i], strlen(bad[i])))
            fail_msg("case %zu should be invalid UTF-8", i);
    assert_false(ident_utf8_valid(with_nul, sizeof with_nul - 1));
    assert_false(ident_utf8_valid("\0", 1));
    assert_false(ident_utf8_valid(NULL, 1));
    /* only len bytes are looked at */
    assert_true(ident_utf8_valid("ab\xd0", 2));
    assert_false(ident_utf8_valid("\xd0\x98", 1));
}

/* Independent encoder used by the exhaustive test. */
static size_t encode_utf8(uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_utf8_accepts_every_scalar_value_and_no_surrogate(void **state)
{
    uint32_t cp;
    unsigned char b[4];

    (void)state;
    for (cp = 1; cp <= 0x10FFFF; cp++) {
        size_t n = encode_utf8(cp, b);
        bool want = !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ident_utf8_valid((const char *)b, n) != want)
            fail_msg("U+%04X: got %d", (unsigned)cp, (int)!want);
    }
}

static void test_utf8_classifies_every_two_byte_string(void **state)
{
    unsigned a, c;

    (void)state;
    for (a = 0; a < 256; a++) {
        for (c = 0; c < 256; c++) {
            unsigned char b[2] = {(unsigned char)a, (unsigned char)c};
            bool want = (a >= 0x01 && a <= 0x7F && c >= 0x01 && c <= 0x7F) ||
                        (a >= 0xC2 && a <= 0xDF && c >= 0x80 && c <= 0xBF);
            if (ident_utf8_valid((const char *)b, 2) != want)
                fail_msg("%02X %02X: got %d", a, c, (int)!want);
        }
    }
}

/* ---- name masking -------------------------------------------------------- */

struct mask_case {
    const char *in;
    const char *want;
};

static void run_mask_table(const struct mask_case *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char out[256];
        char exact[256];
        size_t need = strlen(t[i].want) + 1;

        memset(out, 'X', sizeof out);
        if (ident_mask_name(t[i].in, out, sizeof out) != 0 || strcmp(out, t[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", t[i].in, out, t[i].want);
        /* an exactly sized buffer is enough, one byte less is not */
        if (ident_mask_name(t[i].in, exact, need) != 0 || strcmp(exact, t[i].want) != 0)
            fail_msg("\"%s\": exact-size buffer failed", t[i].in);
        if (need > 1) {
            memset(exact, 'X', sizeof exact);
            if (ident_mask_name(t[i].in, exact, need - 1) != -1 || exact[0] != '\0')
                fail_msg("\"%s\": short buffer accepted", t[i].in);
            if (exact[need - 1] != 'X')
                fail_msg("\"%s\": wrote past outsz", t[i].in);
        }
        /* the documented bound strlen(in) + 1 always suffices */
        if (ident_mask_name(t[i].in, exact, strlen(t[i].in) + 1) != 0)
            fail_msg("\"%s\": strlen(in)+1 was not enough", t[i].in);
    }
}

static void test_mask_keeps_first_and_last_cyrillic_letter(void **state)
{
    static const struct mask_case t[] = {
        /* Иванов -> И****в */
        {"\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\xd0\xbe\xd0\xb2", "\xd0\x98****\xd0\xb2"},
        /* Иванов И. И. -> И****в И. И. */
        {"\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\xd0\xbe\xd0\xb2 \xd0\x98. \xd0\x98.",
         "\xd0\x98****\xd0\xb2 \xd0\x98. \xd0\x98."},
        /* Петрова Анна Сергеевна -> П*****а А**а С*******а */
        {"\xd0\x9f\xd0\xb5\xd1\x82\xd1\x80\xd0\xbe\xd0\xb2\xd0\xb0 "
         "\xd0\x90\xd0\xbd\xd0\xbd\xd0\xb0 "
         "\xd0\xa1\xd0\xb5\xd1\x80\xd0\xb3\xd0\xb5\xd0\xb5\xd0\xb2\xd0\xbd\xd0\xb0",
         "\xd0\x9f*****\xd0\xb0 \xd0\x90**\xd0\xb0 \xd0\xa1*******\xd0\xb0"},
        /* Ким -> К*м */
        {"\xd0\x9a\xd0\xb8\xd0\xbc", "\xd0\x9a*\xd0\xbc"},
        /* Ёжиков Ёж -> Ё****в Ёж */
        {"\xd0\x81\xd0\xb6\xd0\xb8\xd0\xba\xd0\xbe\xd0\xb2 \xd0\x81\xd0\xb6",
         "\xd0\x81****\xd0\xb2 \xd0\x81\xd0\xb6"},
    };
    (void)state;
    run_mask_table(t, COUNT(t));
}

static void test_mask_keeps_one_and_two_character_words(void **state)
{
    static const struct mask_case t[] = {
        {"\xd0\x98.", "\xd0\x98."},           /* И. */
        {"\xd0\x9b\xd0\xb8", "\xd0\x9b\xd0\xb8"}, /* Ли */
        {"\xd0\xaf", "\xd0\xaf"},             /* Я */
        {"A", "A"},
        {"Li Wu", "Li Wu"},
        {"J. R. R.", "J. R. R."},
    };
    (void)state;
    run_mask_table(t, COUNT(t));
}

static void test_mask_handles_latin_names(void **state)
{
    static const struct mask_case t[] = {
        {"John Smith", "J**n S***h"},
        {"Bob", "B*b"},
        {"O'Neil", "O****l"},
        {"Anna-Maria", "A********a"}, /* a hyphenated name is one word */
        {"Ivanov I. I.", "I****v I. I."},
    };
    (void)state;
    run_mask_table(t, COUNT(t));
}

static void test_mask_preserves_whitespace_runs(void **state)
{
    static const struct mask_case t[] = {
        {"", ""},
        {"   ", "   "},
        {"  John  Smith  ", "  J**n  S***h  "},
        {"John\tSmith\n", "J**n\tS***h\n"},
    };
    (void)state;
    run_mask_table(t, COUNT(t));
}

static void test_mask_counts_characters_not_bytes(void **state)
{
    static const struct mask_case t[] = {
        /* 4-byte characters: three emoji -> first * last */
        {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
         "\xf0\x9f\x98\x80*\xf0\x9f\x98\x80"},
        /* mixed widths: "aЖ€b" -> "a**b" */
        {"a\xd0\x96\xe2\x82\xac" "b", "a**b"},
        /* Андрей with decomposed й (и + U+0306): 6 characters, mark kept on last */
        {"\xd0\x90\xd0\xbd\xd0\xb4\xd1\x80\xd0\xb5\xd0\xb8\xcc\x86",
         "\xd0\x90****\xd0\xb8\xcc\x86"},
        /* decomposed Ё (Е + U+0308) at the start stays whole: Ёлкин -> Ё***н */
        {"\xd0\x95\xcc\x88\xd0\xbb\xd0\xba\xd0\xb8\xd0\xbd",
         "\xd0\x95\xcc\x88***\xd0\xbd"},
        /* two characters with a combining mark in between is still 2 characters */
        {"\xd0\x98\xcc\x86\xd0\xb0", "\xd0\x98\xcc\x86\xd0\xb0"},
    };
    (void)state;
    run_mask_table(t, COUNT(t));
}

static void test_mask_rejects_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xd0",
        "\xd0\x98\xd0\xb2\xff\xd0\xb0",  /* Ив\xFFа */
        "John \x80Smith",
        "\xc0\xaf",
        "\xed\xa0\x80",
        "\xf4\x90\x80\x80",
        "Smith\xe2\x82",
    };
    size_t i;

    (void)state;
    for (i = 0; i < COUNT(bad); i++) {
        char out[64];
        memset(out, 'X', sizeof out);
        if (ident_mask_name(bad[i], out, sizeof out) != -1)
            fail_msg("case %zu: invalid UTF-8 accepted", i);
        if (out[0] != '\0')
            fail_msg("case %zu: out not cleared", i);
    }
}

static void test_mask_rejects_null_arguments_and_zero_size(void **state)
{
    char out[16] = "junk";

    (void)state;
    assert_int_equal(ident_mask_name(NULL, out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(ident_mask_name("John", NULL, 16), -1);
    memcpy(out, "junk", 5);
    assert_int_equal(ident_mask_name("John", out, 0), -1);
    assert_string_equal(out, "junk"); /* outsz 0: nothing written */
    assert_int_equal(ident_mask_name("", out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(ident_mask_name("A", out, 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_gives_distinct_message_for_each_error),
        cmocka_unit_test(test_contract_accepts_plain_digits),
        cmocka_unit_test(test_contract_accepts_space_or_dash_between_groups),
        cmocka_unit_test(test_contract_trims_surrounding_whitespace),
        cmocka_unit_test(test_contract_rejects_wrong_digit_count_as_length),
        cmocka_unit_test(test_contract_rejects_letters_and_non_ascii_digits),
        cmocka_unit_test(test_contract_rejects_doubled_leading_or_trailing_separator),
        cmocka_unit_test(test_contract_rejects_other_separators),
        cmocka_unit_test(test_contract_rejects_empty_and_blank),
        cmocka_unit_test(test_contract_normalizen_rejects_embedded_nul),
        cmocka_unit_test(test_phone_accepts_every_common_spelling),
        cmocka_unit_test(test_phone_trims_surrounding_whitespace),
        cmocka_unit_test(test_phone_accepts_landline_and_toll_free_codes),
        cmocka_unit_test(test_phone_rejects_country_code_other_than_7),
        cmocka_unit_test(test_phone_rejects_non_russian_area_codes),
        cmocka_unit_test(test_phone_rejects_misplaced_or_repeated_plus),
        cmocka_unit_test(test_phone_rejects_letters_and_other_characters),
        cmocka_unit_test(test_phone_rejects_unbalanced_or_extra_parentheses),
        cmocka_unit_test(test_phone_rejects_wrong_digit_count_as_length),
        cmocka_unit_test(test_phone_rejects_input_longer_than_64_bytes),
        cmocka_unit_test(test_phone_rejects_empty_and_blank),
        cmocka_unit_test(test_phone_normalizen_rejects_embedded_nul),
        cmocka_unit_test(test_email_accepts_ordinary_addresses),
        cmocka_unit_test(test_email_rejects_malformed_addresses),
        cmocka_unit_test(test_email_enforces_length_limits),
        cmocka_unit_test(test_utf8_accepts_valid_sequences),
        cmocka_unit_test(test_utf8_rejects_invalid_sequences),
        cmocka_unit_test(test_utf8_accepts_every_scalar_value_and_no_surrogate),
        cmocka_unit_test(test_utf8_classifies_every_two_byte_string),
        cmocka_unit_test(test_mask_keeps_first_and_last_cyrillic_letter),
        cmocka_unit_test(test_mask_keeps_one_and_two_character_words),
        cmocka_unit_test(test_mask_handles_latin_names),
        cmocka_unit_test(test_mask_preserves_whitespace_runs),
        cmocka_unit_test(test_mask_counts_characters_not_bytes),
        cmocka_unit_test(test_mask_rejects_invalid_utf8),
        cmocka_unit_test(test_mask_rejects_null_arguments_and_zero_size),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
