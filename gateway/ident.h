/* ident.h — subscriber identifiers: contract numbers, Russian phone numbers
 * (normalised to E.164), receipt e-mail syntax, holder-name masking and UTF-8
 * validation. Pure functions: no allocation, no locale, no I/O. */
#ifndef GATEWAY_IDENT_H
#define GATEWAY_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ident_err {
    IDENT_OK = 0,
    IDENT_EMPTY,  /* NULL, or nothing but whitespace */
    IDENT_SYNTAX, /* a character or structure that is not allowed */
    IDENT_LENGTH  /* wrong number of digits, or input too long */
};

/* Returns a static English message for e, worded generically so it fits a
 * contract or a phone ("identifier has the wrong number of digits"); never
 * NULL, never freed. */
const char *ident_strerror(enum ident_err e);

/* Contract numbers: 5..12 digits after normalisation. */
#define IDENT_CONTRACT_MIN_DIGITS 5
#define IDENT_CONTRACT_MAX_DIGITS 12
#define IDENT_CONTRACT_BUFSZ 13

/* Normalises a contract number to digits only.
 * Accepts ASCII digits, optionally split into groups by exactly one space or
 * one '-' between two digits ("123 456 789", "123-456-789"); surrounding ASCII
 * whitespace is trimmed. Leading zeros are kept (contracts are text).
 * Anything else (letters, fullwidth digits, doubled / leading / trailing
 * separators, tabs inside) is IDENT_SYNTAX; a digit count outside 5..12 is
 * IDENT_LENGTH; SYNTAX wins over LENGTH. in is borrowed (NULL -> IDENT_EMPTY).
 * The caller owns out (IDENT_CONTRACT_BUFSZ bytes): on IDENT_OK it holds the
 * digits NUL-terminated, on any error it holds "". */
enum ident_err ident_contract_normalize(const char *in, char out[IDENT_CONTRACT_BUFSZ]);

/* Same as ident_contract_normalize for exactly len bytes at in; embedded NUL
 * bytes are IDENT_SYNTAX. */
enum ident_err ident_contract_normalizen(const char *in, size_t len,
                                         char out[IDENT_CONTRACT_BUFSZ]);

/* Longest raw phone input accepted, in bytes. */
#define IDENT_PHONE_MAX_INPUT 64
#define IDENT_PHONE_BUFSZ 13

/* Normalises a Russian phone number to E.164 "+7XXXXXXXXXX".
 * Raw input longer than IDENT_PHONE_MAX_INPUT bytes is IDENT_LENGTH. Surrounding
 * ASCII whitespace is trimmed; inside, ' ', '-', '.', '(' and ')' are separators
 * and are stripped. A '+' is allowed only as the first character and must be
 * immediately followed by '7'. Parentheses: at most one pair, not nested, not
 * empty of digits, balanced. Then the digits must be:
 *   "+7" + 10 digits, or 11 digits starting with 7 or 8, or 10 digits;
 * the 10-digit national number must start with 3, 4, 8 or 9 (Russian
 * geographic / mobile / non-geographic codes; 6xx and 7xx are Kazakhstan).
 * Wrong country code ("+8...", "1 913 ...") or national prefix is IDENT_SYNTAX;
 * any other digit count is IDENT_LENGTH; letters, NULs, a second '+', unbalanced
 * parentheses are IDENT_SYNTAX. SYNTAX wins over LENGTH.
 * in is borrowed (NULL or only whitespace -> IDENT_EMPTY). The caller owns out
 * (IDENT_PHONE_BUFSZ bytes): "+7XXXXXXXXXX" on IDENT_OK, "" on any error. */
enum ident_err ident_phone_normalize(const char *in, char out[IDENT_PHONE_BUFSZ]);

/* Same as ident_phone_normalize for exactly len bytes at in; embedded NUL
 * bytes are IDENT_SYNTAX (so "9131234567\0x" is rejected, not truncated). */
enum ident_err ident_phone_normalizen(const char *in, size_t len,
                                      char out[IDENT_PHONE_BUFSZ]);

#define IDENT_EMAIL_MAX 254
#define IDENT_EMAIL_LOCAL_MAX 64

/* Syntax check of a receipt e-mail address "local@domain" (no DNS lookup).
 * Total <= 254 bytes, local part 1..64 bytes, printable ASCII only, no spaces.
 * Local part is an RFC 5322 dot-atom (letters, digits and !#$%&'*+-/=?^_`{|}~
 * with single dots not at either end) — stricter than "printable" on purpose:
 * quotes, angle brackets, commas, backslashes etc. never reach a mail header.
 * Domain: at least two dot-separated labels of 1..63 [A-Za-z0-9-], not starting
 * or ending with '-', no trailing dot; the TLD is >= 2 letters, or an IDN TLD
 * in punycode ("xn--p1ai" for .рф). s is borrowed; NULL -> false. */
bool ident_email_valid(const char *s);

/* A Russian taxpayer number (INN) with its check digits: 10 digits (an organisation) or 12 (a person,
 * an individual entrepreneur). NULL -> false. */
bool ident_inn_valid(const char *s);

/* Masks a holder name for display, UTF-8 aware. Words are separated by ASCII
 * whitespace, which is copied unchanged. A word of >= 3 characters keeps its
 * first and last character and each character in between becomes one '*'
 * ("Иванов" -> "И****в"); words of 1-2 characters ("И.", "Ли") are kept.
 * A character is a code point plus any following combining marks
 * (U+0300..U+036F), so decomposed "й" counts once.
 * in is a NUL-terminated string, borrowed. The caller owns out (outsz bytes).
 * Returns 0 with out NUL-terminated, or -1 if in/out is NULL, in is not valid
 * UTF-8 (see ident_utf8_valid) or the result does not fit; on -1 out holds ""
 * when outsz > 0. The result is never longer than in, so outsz = strlen(in)+1
 * always suffices. */
int ident_mask_name(const char *in, char *out, size_t outsz);

/* True if the len bytes at s are valid UTF-8 (RFC 3629): no NUL bytes, no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * truncated sequences. s may be NULL only when len == 0 (empty is valid). */
bool ident_utf8_valid(const char *s, size_t len);

/* Masks a contract number for display, keeping its first and last digits (2 and 3 of 8 or more,
 * 1 and 2 of shorter ones): "123456789" -> "12****789", "12345" -> "1**45". One scheme for the
 * pay form, receipts and mails. Writes at most outsz bytes (NUL terminated). */
void ident_mask_contract(const char *contract, char *out, size_t outsz);

/* A UUID in its 36-character text form (8-4-4-4-12 hex digits, either case); false for NULL.
 * Payment ids are checked with it before any query. */
bool ident_uuid_valid(const char *s);

/* Decodes one UTF-8 sequence at s (at most avail bytes; a NUL ends it early). Returns its length
 * (1..4) and sets *cp, or 0 for NUL, a bad or truncated sequence, an overlong form, a surrogate or
 * a value above U+10FFFF. The one decoder behind name masking, log escaping and the JSON writer. */
size_t ident_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);

#endif /* GATEWAY_IDENT_H */
