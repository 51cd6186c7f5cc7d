/* receipt_fiscal.h — what a receipt says of its seller and of its fiscal document (54-FZ): the
 * seller's name, INN and hotline on every receipt; the taxation system, VAT, shift, FN, FD, FP, the
 * register's number, the fiscal date-time, the tax service's site and the QR code once the cashbox has
 * fiscalised the payment; a test banner for the sandbox cashbox. Used by the mail, the printable page
 * and the JSON (receipt_render.c). */
#ifndef GW_RECEIPT_FISCAL_H
#define GW_RECEIPT_FISCAL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "receipts.h"

struct config;

/* The seller as the configuration names it (GATEWAY_SELLER_*); members may be NULL. Borrowed. */
struct receipt_seller {
	const char *name, *inn, *phone, *sno, *vat;
};
void receipt_seller_from_config(const struct config *cfg, struct receipt_seller *out);

/* The fiscal QR string "t=YYYYMMDDTHHMM&s=RR.KK&fn=…&i=…&fp=…&n=1" into out ("" when the document is
 * not done). n: 1 for a sale (a top-up), 2 for a refund. */
void receipt_fiscal_qr(const struct receipt_fiscal *f, int n, char out[192]);
/* The fiscal document is done (the fields are there). */
bool receipt_fiscal_done(const struct receipt *rc);
/* This mail brings the fiscal data after a first one went without it (the receipt was sent before). */
bool receipt_fiscal_followup(const struct receipt *rc);

/* Lines for the plain-text mail (CRLF), rows of an HTML table (page: the printable page's classes, else
 * inline styles for mail), and the JSON members "seller" and "fiscal" added to o. */
void receipt_fiscal_text(FILE *f, const struct receipt *rc, const struct receipt_seller *s);
void receipt_fiscal_html(FILE *f, const struct receipt *rc, const struct receipt_seller *s, bool page);
void receipt_fiscal_json(json_t *o, const struct receipt *rc, const struct receipt_seller *s, bool internal);

#endif
