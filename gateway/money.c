/* money.c — exact rouble-amount parsing and formatting on int64_t kopecks.
 * Pure functions, no allocation, no locale, no floating point. */
#include "money.h"

#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses an unsigned amount of exactly len bytes (no sign handling). */
static enum money_err parse_unsigned(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    size_t int_digits = 0;
    size_t frac_digits = 0;
    int64_t whole = 0;
    int64_t frac = 0;

    if (len == 0)
        return MONEY_EMPTY;

    /* Integer part: "0" or [1-9][0-9]*. Never empty. */
    if (!is_digit(s[0]))
        return MONEY_SYNTAX;
    if (s[0] == '0' && len > 1 && is_digit(s[1]))
        return MONEY_SYNTAX; /* leading zero: "0100", "00" */
    while (i < len && is_digit(s[i])) {
        if (int_digits < MONEY_MAX_INT_DIGITS)
            whole = whole * 10 + (s[i] - '0');
        int_digits++;
        i++;
    }

    /* Optional fraction: one separator then at least one digit. */
    if (i < len) {
        if (s[i] != '.' && s[i] != ',')
            return MONEY_SYNTAX;
        i++;
        if (i == len)
            return MONEY_SYNTAX; /* trailing separator: "5." */
        while (i < len && is_digit(s[i])) {
            if (frac_digits < 2)
                frac = frac * 10 + (s[i] - '0');
            frac_digits++;
            i++;
        }
        if (i != len)
            return MONEY_SYNTAX; /* second separator, letters, NUL, ... */
        if (frac_digits == 0)
            return MONEY_SYNTAX;
        if (frac_digits > 2)
            return MONEY_FRACTION;
        if (frac_digits == 1)
            frac *= 10; /* "100.5" is 50 kopecks */
    }

    if (int_digits > MONEY_MAX_INT_DIGITS)
        return MONEY_RANGE;
    /* whole < 1e15, so whole * 100 + 99 < 1e17 cannot overflow int64_t. */
    whole = whole * 100 + frac;
    if (whole > MONEY_MAX_KOPECKS)
        return MONEY_RANGE;
    if (out != NULL)
        *out = whole;
    return MONEY_OK;
}

enum money_err money_parsen(const char *s, size_t len, int64_t *out_kopecks)
{
    enum money_err e;

    if (s == NULL || len == 0)
        return MONEY_EMPTY;
    if (s[0] == '-') {
        /* A sign in front of something that looks like an amount is reported
         * as "negative", which is more helpful than "syntax". */
        e = parse_unsigned(s + 1, len - 1, NULL);
        if (e == MONEY_OK || e == MONEY_FRACTION || e == MONEY_RANGE)
            return MONEY_NEGATIVE;
        return MONEY_SYNTAX;
    }
    return parse_unsigned(s, len, out_kopecks);
}

enum money_err money_parse(const char *s, int64_t *out_kopecks)
{
    if (s == NULL)
        return MONEY_EMPTY;
    return money_parsen(s, strlen(s), out_kopecks);
}

const char *money_strerror(enum money_err e)
{
    switch (e) {
    case MONEY_OK:
        return "ok";
    case MONEY_EMPTY:
        return "amount is empty";
    case MONEY_SYNTAX:
        return "amount is not a number like 100, 100.5 or 100,50";
    case MONEY_FRACTION:
        return "amount has more than two decimal places";
    case MONEY_RANGE:
        return "amount is too large";
    case MONEY_NEGATIVE:
        return "amount must not be negative";
    }
    return "invalid amount";
}

char *money_format(int64_t kopecks, char buf[MONEY_BUFSZ])
{
    char tmp[MONEY_BUFSZ];
    size_t n = 0;
    size_t o = 0;
    uint64_t mag;

    if (buf == NULL)
        return NULL;
    /* Magnitude in unsigned arithmetic: well defined for INT64_MIN too. */
    mag = kopecks < 0 ? (uint64_t)0 - (uint64_t)kopecks : (uint64_t)kopecks;

    /* Digits in reverse: two kopeck digits, '.', then at least one rouble digit. */
    tmp[n++] = (char)('0' + (int)(mag % 10));
    mag /= 10;
    tmp[n++] = (char)('0' + (int)(mag % 10));
    mag /= 10;
    tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag != 0);

    if (kopecks < 0)
        buf[o++] = '-';
    while (n > 0)
        buf[o++] = tmp[--n];
    buf[o] = '\0';
    return buf;
}

bool money_add(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return false;
    if (out != NULL)
        *out = a + b;
    return true;
}

bool money_sub(int64_t a, int64_t b, int64_t *out)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return false;
    if (out != NULL)
        *out = a - b;
    return true;
}
