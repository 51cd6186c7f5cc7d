/* routes_refunds.h — the internal refund route (bearer token). */
#ifndef GW_ROUTES_REFUNDS_H
#define GW_ROUTES_REFUNDS_H

#include <stdbool.h>

#include "http.h"
#include "refunds.h"

void h_refund_create(struct req *r);         /* POST /v1/internal/payments/{id}/refunds */

/* A refund as asked: the payment of the path, the Idempotency-Key, the body's amount (and, for the
 * console, its reason). */
struct refund_args {
	struct refund_request in;
	char adapters[512];
	char reason[301];
};
/* Validates a refund request into a (with_reason: the body must say why); false when answered. */
bool refund_args(struct req *r, struct refund_args *a, bool with_reason);
/* Starts it through the payment's adapter; done gets the verdict (201, 404, 409, 422, 502, 503).
 * a is copied. */
void refund_start(struct req *r, struct refund_args *a, payment_done done, void *arg);

#endif
