/* routes_fiscal.h — the fiscal routes: the cashbox's callback (a hint only: the result is re-read
 * from the cashbox before it is trusted) and, for support, a payment's fiscal documents and the
 * resend of a refused one (bearer token). */
#ifndef GW_ROUTES_FISCAL_H
#define GW_ROUTES_FISCAL_H

#include "http.h"

void h_fiscal_callback(struct req *r);       /* POST /v1/fiscal/callback */
void h_fiscal_documents(struct req *r);      /* GET  /v1/internal/fiscal-documents?payment_id=… */
void h_fiscal_resend(struct req *r);         /* POST /v1/internal/fiscal-documents/{id}/resend */

#endif
