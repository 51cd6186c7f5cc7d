/* receipt_render.h — a receipt as people and programs see it: the e-mail (MIME, UTF-8, Russian), the
 * printable HTML page, the public and internal JSON, and the small encoders they need. Pure functions:
 * no I/O, no database, no clock (the caller passes the time). */
#ifndef GW_RECEIPT_RENDER_H
#define GW_RECEIPT_RENDER_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "receipt_fiscal.h"
#include "receipts.h"


/* Formats kopecks the Russian way for people: "1 234,50 ₽" (U+00A0 between thousands and before the
 * sign). buf must hold RECEIPT_RUB_BUFSZ bytes. Returns buf. */
#define RECEIPT_RUB_BUFSZ 64
char *receipt_format_rub(int64_t kopecks, char buf[RECEIPT_RUB_BUFSZ]);

/* Russian name of a payment method / channel for the receipt ("cash" -> "Наличные"); unknown
 * methods are shown as given. Returns a static string or m itself. */
const char *receipt_method_name(const char *m);
const char *receipt_channel_name(const char *ch);

/* Encodes a header value as RFC 2047 UTF-8 "B" encoded-words folded with CRLF SP, never splitting a
 * UTF-8 character; plain printable ASCII is written unchanged. Appends to f. */
void receipt_header_encode(FILE *f, const char *s);

/* Appends the base64 of len bytes at data to f in lines of 76 characters ending in CRLF. */
void receipt_base64_lines(FILE *f, const unsigned char *data, size_t len);

/* What the mail needs besides the receipt. All borrowed. */
struct receipt_mail_opts {
	const char *from;          /* envelope/header sender address */
	const char *issuer;        /* display name of the sender and issuer line; "" or NULL = none */
	const char *public_url;    /* base of the printable receipt link, no trailing '/' */
	const char *boundary_seed; /* random hex making the MIME boundary unique */
	time_t now;                /* Date header */
	const struct receipt_seller *seller;   /* the seller block (may be NULL) */
};

/* Renders the complete RFC 5322 message (headers and a multipart/alternative body of text/plain and
 * text/html, both UTF-8 base64, CRLF line ends) for rc->email. The Message-ID is derived from the
 * receipt number and rc->resends, so a retry of the same mail carries the same id and a receiving
 * system can drop the duplicate. Returns a new string (caller frees) and its length in *len, or NULL
 * when out of memory. */
char *receipt_render_mail(const struct receipt *rc, const struct receipt_mail_opts *o, size_t *len);

/* The subject line (UTF-8, unencoded) into out. */
void receipt_mail_subject(const struct receipt *rc, char *out, size_t outsz);

/* The printable HTML page (Russian, print CSS for A4 and 80 mm roll printers; every value escaped).
 * Returns a new string (caller frees) and its length, or NULL when out of memory. */
char *receipt_render_html(const struct receipt *rc, const struct receipt_seller *seller, size_t *len);

/* The public JSON (masked contract and holder, no e-mail, no delivery details). New reference. */
json_t *receipt_public_json(const struct receipt *rc, const struct receipt_seller *seller);

/* The internal JSON for support: delivery state, attempts, last error, e-mail, the printable URL. */
json_t *receipt_internal_json(const struct receipt *rc, const char *public_url, const struct receipt_seller *seller);

#endif
