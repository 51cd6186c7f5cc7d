/* refunds.h — refunds of web payments (schema/007_refunds.sql): reserve the amount under an
 * Idempotency-Key, ask the payment's provider, and book the ledger debit only when the provider
 * says the money went back. Full or partial; never more than paid in total; cash (terminal /
 * partner) payments are refused. Results come back as an HTTP status and a JSON body, like
 * payments.h; the service never sees evhttp. */
#ifndef GW_REFUNDS_H
#define GW_REFUNDS_H

#include <stdint.h>

#include "payments.h"

struct db_pool;
struct adapter_ctx;

struct refund_request {
	char payment_id[40];        /* a validated UUID */
	int64_t amount;             /* kopecks; 0 = everything not yet refunded */
	char key[PAYMENT_KEY_MAX + 1];
	const char *adapters;       /* array literal of the adapters able to refund here, e.g. "{rbs,yookassa}" */
	int lease_secs;             /* how long one provider call may take before another may drive the refund */
};

/* This loop's context of the named adapter (NULL when it is not active here). */
typedef struct adapter_ctx *(*refund_resolve)(const char *adapter, void *arg);

/* Refunds as asked. Calls done once, later: 201 with the refund (replay: Idempotent-Replayed),
 * or an error (404, 409, 422, 502 refused by the provider, 503 retry with the same key). */
void refunds_create(struct db_pool *db, const struct refund_request *in, refund_resolve resolve, void *resolve_arg,
		    payment_done done, void *arg);

#endif
