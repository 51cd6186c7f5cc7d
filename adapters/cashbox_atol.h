/* cashbox_atol.h — the pure part of the ATOL Online v4 cashbox, for tests: the document it sends. */
#ifndef GW_CASHBOX_ATOL_H
#define GW_CASHBOX_ATOL_H

#include "cashbox.h"

struct config;

/* The body of POST …/{group}/sell (sell_refund) for d: one service item "<GATEWAY_FISCAL_ITEM>"
 * at price = sum = total = d->amount (exactly, from kopecks), one electronic payment (type 1) of
 * the same sum, the company block from the seller settings, the buyer's e-mail (or phone) as its
 * contact, and the callback URL (NULL: none). timestamp is "dd.mm.yyyy HH:MM:SS". Checked before it
 * is returned: sums equal, lengths within ATOL's limits. Returns a new string (caller frees), or NULL
 * with a one-line reason in err. */
char *atol_document(const struct config *cfg, const struct fiscal_doc *d, const char *timestamp,
		    const char *callback_url, char err[256]);

#endif
