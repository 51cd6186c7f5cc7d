/* routes_receipts.h — handlers of the receipt routes: the public lookup by token (JSON or a printable
 * page) and the internal lookup and resend (bearer token). */
#ifndef GW_ROUTES_RECEIPTS_H
#define GW_ROUTES_RECEIPTS_H

#include "http.h"

void h_receipt_get(struct req *r);           /* GET  /v1/receipts/{token} */
void h_receipts_find(struct req *r);         /* GET  /v1/internal/receipts?payment_id=…|number=… */
void h_receipt_resend(struct req *r);        /* POST /v1/internal/receipts/{number}/resend */

#endif
