/* routes_receipts.h — handlers of the receipt routes: the public lookup by token (JSON or a printable
 * page) and the internal lookup and resend (bearer token). */
#ifndef GW_ROUTES_RECEIPTS_H
#define GW_ROUTES_RECEIPTS_H

#include <stdbool.h>

#include "http.h"
#include "ident.h"
#include "receipts.h"

void h_receipt_get(struct req *r);           /* GET  /v1/receipts/{token} */
void h_receipts_find(struct req *r);         /* GET  /v1/internal/receipts?payment_id=…|number=… */
void h_receipt_resend(struct req *r);        /* POST /v1/internal/receipts/{number}/resend */

/* A resend as asked: the receipt number of the path, the optional {"email": …} of the body. */
struct resend_args {
	char number[32];
	char email[IDENT_EMAIL_MAX + 1];          /* "" when none was given */
};
/* Validates a resend request into a; false when it was answered (404, 400, 415). */
bool receipt_resend_args(struct req *r, struct resend_args *a);
/* Answers receipts_resend's verdict: 202 with the receipt, or 404 / 409 / 503. */
void receipt_resend_reply(struct req *r, enum receipt_status st, const struct receipt *rc);

#endif
