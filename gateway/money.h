/* money.h — money as int64_t kopecks: exact parsing of rouble amounts typed by
 * people or sent by partners, formatting back to "1234.50", and overflow-checked
 * arithmetic. No floating point is used anywhere. */
#ifndef GATEWAY_MONEY_H
#define GATEWAY_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest amount money_parse accepts: 1e12 roubles (sanity cap, inclusive). */
#define MONEY_MAX_KOPECKS ((int64_t)100000000000000)

/* Most integer (rouble) digits money_parse looks at before answering MONEY_RANGE. */
#define MONEY_MAX_INT_DIGITS 15

enum money_err {
    MONEY_OK = 0,
    MONEY_EMPTY,    /* NULL or zero-length input */
    MONEY_SYNTAX,   /* not of the form 123 / 123.4 / 123.45 / 123,45 */
    MONEY_FRACTION, /* more than 2 decimals */
    MONEY_RANGE,    /* too large (> MONEY_MAX_KOPECKS or > 15 integer digits) */
    MONEY_NEGATIVE  /* a leading '-' */
};

/* Parses a non-negative rouble amount into kopecks, exactly.
 * Grammar: INT [SEP FRAC] where INT is "0" or a digit 1-9 followed by digits
 * (at most MONEY_MAX_INT_DIGITS), SEP is '.' or ',', FRAC is 1-2 ASCII digits
 * ("100.5" is 10050). No sign, spaces, exponent, leading separator, trailing
 * separator, group separators, or leading zeros ("0100", "00" -> MONEY_SYNTAX).
 * "0" / "0.00" parse to 0: minimum amounts are the caller's business rule.
 * A leading '-' in front of an otherwise plausible amount gives
 * MONEY_NEGATIVE ("-", "--5" are MONEY_SYNTAX); a '+' is MONEY_SYNTAX.
 * Error precedence: EMPTY, NEGATIVE, SYNTAX, FRACTION, RANGE.
 * s is a NUL-terminated string (NULL -> MONEY_EMPTY) borrowed for the call.
 * *out_kopecks is written only on MONEY_OK; out_kopecks may be NULL to only
 * validate. */
enum money_err money_parse(const char *s, int64_t *out_kopecks);

/* Same as money_parse for exactly len bytes at s (no NUL needed at s[len]).
 * Embedded NUL bytes are MONEY_SYNTAX, so "5\0junk" cannot pass as "5".
 * len == 0 (or s == NULL) is MONEY_EMPTY. */
enum money_err money_parsen(const char *s, size_t len, int64_t *out_kopecks);

/* Returns a static English message for e, suitable for an API error
 * ("amount has more than two decimal places"); never NULL, never freed. */
const char *money_strerror(enum money_err e);

/* Bytes money_format needs: sign + 17 rouble digits + '.' + 2 + NUL fits easily. */
#define MONEY_BUFSZ 32

/* Formats kopecks as "1234.50": always two decimals, '-' for negatives, no
 * grouping; exact for the whole int64_t range including INT64_MIN
 * ("-92233720368547758.08"). The caller owns buf, which must hold MONEY_BUFSZ
 * bytes; it is NUL-terminated. Returns buf (NULL if buf is NULL). */
char *money_format(int64_t kopecks, char buf[MONEY_BUFSZ]);

/* *out = a + b. Returns false (and leaves *out untouched) on int64_t overflow. */
bool money_add(int64_t a, int64_t b, int64_t *out);

/* *out = a - b. Returns false (and leaves *out untouched) on int64_t overflow. */
bool money_sub(int64_t a, int64_t b, int64_t *out);

#endif /* GATEWAY_MONEY_H */
