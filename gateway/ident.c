/* ident.c — parsing and checking of subscriber identifiers: contract numbers,
 * Russian phone numbers (to E.164), receipt e-mails, holder-name masking and
 * UTF-8 validation. ASCII-only character classes (no <ctype.h>, no locale). */
#include "ident.h"

#include <stdint.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Narrows [*b, *e) so that it has no leading or trailing ASCII whitespace. */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_space(s[*b]))
        (*b)++;
    while (*e > *b && is_space(s[*e - 1]))
        (*e)--;
}

static void clear_out(char *out)
{
    if (out != NULL)
        out[0] = '\0';
}

const char *ident_strerror(enum ident_err e)
{
    switch (e) {
    case IDENT_OK:
        return "ok";
    case IDENT_EMPTY:
        return "identifier is empty";
    case IDENT_SYNTAX:
        return "identifier contains characters or separators that are not allowed";
    case IDENT_LENGTH:
        return "identifier has the wrong number of digits";
    }
    return "invalid identifier";
}

/* ---- contract numbers ---------------------------------------------------- */

enum ident_err ident_contract_normalizen(const char *in, size_t len,
                                         char out[IDENT_CONTRACT_BUFSZ])
{
    size_t b = 0, e = len, i, ndig = 0;
    char digits[IDENT_CONTRACT_BUFSZ];
    bool prev_digit = false;

    clear_out(out);
    if (in == NULL)
        return IDENT_EMPTY;
    trim(in, &b, &e);
    if (b == e)
        return IDENT_EMPTY;

    for (i = b; i < e; i++) {
        char c = in[i];
        if (is_digit(c)) {
            if (ndig < IDENT_CONTRACT_MAX_DIGITS)
                digits[ndig] = c;
            ndig++;
            prev_digit = true;
        } else if (c == ' ' || c == '-') {
            if (!prev_digit)
                return IDENT_SYNTAX; /* leading or doubled separator */
            prev_digit = false;
        } else {
            return IDENT_SYNTAX;
        }
    }
    if (!prev_digit)
        return IDENT_SYNTAX; /* trailing separator */
    if (ndig < IDENT_CONTRACT_MIN_DIGITS || ndig > IDENT_CONTRACT_MAX_DIGITS)
        return IDENT_LENGTH;
    if (out != NULL) {
        memcpy(out, digits, ndig);
        out[ndig] = '\0';
    }
    return IDENT_OK;
}

enum ident_err ident_contract_normalize(const char *in, char out[IDENT_CONTRACT_BUFSZ])
{
    if (in == NULL) {
        clear_out(out);
        return IDENT_EMPTY;
    }
    return ident_contract_normalizen(in, strlen(in), out);
}

/* ---- phone numbers ------------------------------------------------------- */

/* Digits kept while scanning; more than this is a length error anyway. */
#define PHONE_MAX_DIGITS 11

enum ident_err ident_phone_normalizen(const char *in, size_t len,
                                      char out[IDENT_PHONE_BUFSZ])
{
    size_t b = 0, e = len, i, ndig = 0, paren_digits = 0;
    char digits[PHONE_MAX_DIGITS];
    const char *national;
    bool plus = false, paren_open = false, paren_used = false;

    clear_out(out);
    if (in == NULL)
        return IDENT_EMPTY;
    if (len > IDENT_PHONE_MAX_INPUT)
        return IDENT_LENGTH;
    trim(in, &b, &e);
    if (b == e)
        return IDENT_EMPTY;

    if (in[b] == '+') {
        plus = true;
        b++;
        if (b == e || in[b] != '7')
            return IDENT_SYNTAX; /* "+", "+8...", "+ 7..." */
    }

    for (i = b; i < e; i++) {
        char c = in[i];
        if (is_digit(c)) {
            if (ndig < PHONE_MAX_DIGITS)
                digits[ndig] = c;
            ndig++;
            if (paren_open)
                paren_digits++;
        } else if (c == ' ' || c == '-' || c == '.') {
            continue;
        } else if (c == '(') {
            if (paren_used)
                return IDENT_SYNTAX; /* nested or a second pair */
            paren_open = paren_used = true;
        } else if (c == ')') {
            if (!paren_open || paren_digits == 0)
                return IDENT_SYNTAX; /* unbalanced or "()" */
            paren_open = false;
        } else {
            return IDENT_SYNTAX; /* letters, NUL, second '+', tab, ... */
        }
    }
    if (paren_open)
        return IDENT_SYNTAX;

    if (plus) {
        if (ndig != 11)
            return IDENT_LENGTH;
        national = digits + 1; /* digits[0] == '7' checked above */
    } else if (ndig == 11) {
        if (digits[0] != '7' && digits[0] != '8')
            return IDENT_SYNTAX;
        national = digits + 1;
    } else if (ndig == 10) {
        national = digits;
    } else {
        return IDENT_LENGTH;
    }
    if (national[0] != '3' && national[0] != '4' && national[0] != '8' && national[0] != '9')
        return IDENT_SYNTAX;

    if (out != NULL) {
        out[0] = '+';
        out[1] = '7';
        memcpy(out + 2, national, 10);
        out[12] = '\0';
    }
    return IDENT_OK;
}

enum ident_err ident_phone_normalize(const char *in, char out[IDENT_PHONE_BUFSZ])
{
    if (in == NULL) {
        clear_out(out);
        return IDENT_EMPTY;
    }
    /* Only look one byte past the limit: enough to say "too long". */
    return ident_phone_normalizen(in, strnlen(in, IDENT_PHONE_MAX_INPUT + 1), out);
}

/* ---- e-mail -------------------------------------------------------------- */

/* RFC 5322 atext: the characters of an unquoted local-part word. */
static bool is_atext(char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool local_part_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > IDENT_EMAIL_LOCAL_MAX)
        return false;
    if (s[0] == '.' || s[len - 1] == '.')
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i - 1] == '.')
                return false; /* ".." (i > 0: s[0] is not '.') */
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

static bool tld_valid(const char *s, size_t len)
{
    size_t i;

    /* IDN TLD in punycode, e.g. "xn--p1ai" (.рф); the label rules already hold. */
    if (len > 4 && (s[0] == 'x' || s[0] == 'X') && (s[1] == 'n' || s[1] == 'N') &&
        s[2] == '-' && s[3] == '-')
        return true;
    if (len < 2)
        return false;
    for (i = 0; i < len; i++)
        if (!is_alpha(s[i]))
            return false;
    return true;
}

static bool domain_valid(const char *s, size_t len)
{
    size_t i = 0, labels = 0;

    while (i <= len) {
        size_t start = i;
        while (i < len && s[i] != '.') {
            if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
                return false;
            i++;
        }
        /* label is [start, i) */
        if (i == start || i - start > 63)
            return false; /* empty label: leading/trailing/double dot */
        if (s[start] == '-' || s[i - 1] == '-')
            return false;
        labels++;
        if (i == len)
            return labels >= 2 && tld_valid(s + start, i - start);
        i++; /* skip '.' */
    }
    return false;
}

bool ident_email_valid(const char *s)
{
    size_t n;
    const char *at;

    if (s == NULL)
        return false;
    n = strnlen(s, IDENT_EMAIL_MAX + 1);
    if (n == 0 || n > IDENT_EMAIL_MAX)
        return false;
    at = memchr(s, '@', n);
    if (at == NULL)
        return false;
    /* A second '@' fails the domain's character check. */
    return local_part_valid(s, (size_t)(at - s)) &&
           domain_valid(at + 1, n - (size_t)(at - s) - 1);
}

/* ---- UTF-8 --------------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s (avail bytes). Returns its length (1..4) and
 * sets *cp, or returns 0 for NUL, a bad lead or continuation byte, a truncated
 * sequence, an overlong form, a surrogate or a value above U+10FFFF. */
size_t ident_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    size_t n, k;
    uint32_t c, min;
    unsigned char b0;

    if (avail == 0)
        return 0;
    b0 = s[0];
    if (b0 == 0)
        return 0;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
        c = b0 & 0x1Fu;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        c = b0 & 0x0Fu;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        c = b0 & 0x07u;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (avail < n)
        return 0;
    for (k = 1; k < n; k++) {
        if ((s[k] & 0xC0u) != 0x80u)
            return 0;
        c = (c << 6) | (s[k] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

bool ident_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t cp;

    if (s == NULL)
        return len == 0;
    while (i < len) {
        n = ident_utf8_decode(u + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* ---- name masking -------------------------------------------------------- */

static bool is_combining_mark(uint32_t cp)
{
    return cp >= 0x300 && cp <= 0x36F;
}

/* Appends n bytes to out at *o, keeping room for the final NUL. */
static bool put(char *out, size_t outsz, size_t *o, const char *src, size_t n)
{
    if (n >= outsz - *o)
        return false;
    memcpy(out + *o, src, n);
    *o += n;
    return true;
}

/* Masks the word [w, w + wlen) (valid UTF-8, no ASCII whitespace) into out. */
static bool mask_word(const char *w, size_t wlen, char *out, size_t outsz, size_t *o)
{
    const unsigned char *u = (const unsigned char *)w;
    size_t i = 0, n, nchars = 0, first_end = 0, last_start = 0, k;
    uint32_t cp;

    while (i < wlen) {
        n = ident_utf8_decode(u + i, wlen - i, &cp);
        if (n == 0)
            return false; /* cannot happen: validated by the caller */
        if (nchars == 0 || !is_combining_mark(cp)) {
            /* a new character starts here */
            if (nchars == 1)
                first_end = i;
            last_start = i;
            nchars++;
        }
        i += n;
    }
    if (nchars < 3)
        return put(out, outsz, o, w, wlen);
    if (!put(out, outsz, o, w, first_end))
        return false;
    for (k = 0; k < nchars - 2; k++)
        if (!put(out, outsz, o, "*", 1))
            return false;
    return put(out, outsz, o, w + last_start, wlen - last_start);
}

int ident_mask_name(const char *in, char *out, size_t outsz)
{
    size_t len, i = 0, o = 0;

    if (out == NULL || outsz == 0)
        return -1;
    out[0] = '\0';
    if (in == NULL)
        return -1;
    len = strlen(in);
    if (!ident_utf8_valid(in, len))
        return -1;

    while (i < len) {
        if (is_space(in[i])) {
            if (!put(out, outsz, &o, in + i, 1))
                goto fail;
            i++;
        } else {
            size_t start = i;
            while (i < len && !is_space(in[i]))
                i++;
            if (!mask_word(in + start, i - start, out, outsz, &o))
                goto fail;
        }
    }
    out[o] = '\0';
    return 0;
fail:
    out[0] = '\0';
    return -1;
}

void ident_mask_contract(const char *contract, char *out, size_t outsz)
{
	if (!out || outsz == 0)
		return;
	size_t n = contract ? strlen(contract) : 0;
	if (n + 1 > outsz)
		n = outsz - 1;
	size_t head = n >= 8 ? 2 : 1, tail = n >= 8 ? 3 : 2;
	for (size_t i = 0; i < n; i++)
		out[i] = n > 4 && (i < head || i >= n - tail) ? contract[i] : '*';
	out[n] = '\0';
}

bool ident_uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* Check digit of the first n digits of an INN with weights w: (sum mod 11) mod 10. */
static int inn_check(const char *s, const int *w, int n)
{
	int sum = 0;
	for (int i = 0; i < n; i++)
		sum += (s[i] - '0') * w[i];
	return sum % 11 % 10;
}

bool ident_inn_valid(const char *s)
{
	static const int w10[] = {2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w11[] = {7, 2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w12[] = {3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8};
	size_t n = s ? strlen(s) : 0;
	if ((n != 10 && n != 12) || strspn(s, "0123456789") != n)
		return false;
	if (n == 10)
		return inn_check(s, w10, 9) == s[9] - '0';
	return inn_check(s, w11, 10) == s[10] - '0' && inn_check(s, w12, 11) == s[11] - '0';
}
