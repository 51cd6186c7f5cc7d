/* routes_refunds.h — the internal refund route (bearer token). */
#ifndef GW_ROUTES_REFUNDS_H
#define GW_ROUTES_REFUNDS_H

#include "http.h"

void h_refund_create(struct req *r);         /* POST /v1/internal/payments/{id}/refunds */

#endif
