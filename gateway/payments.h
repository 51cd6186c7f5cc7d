/* payments.h — web payments: creation under an Idempotency-Key with the provider hand-off, the
 * public status view, and applying a provider's verdict through the one state machine
 * (apply_provider_status in schema/006). Services never see evhttp: results come back as an HTTP
 * status and a JSON body for the route to send. */
#ifndef GW_PAYMENTS_H
#define GW_PAYMENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "adapter.h"
#include "ident.h"

struct db_pool;
struct config;

#define PAYMENT_KEY_MAX 128
#define PAYMENT_URL_MAX 1024

struct payment_create {
	char contract[IDENT_CONTRACT_BUFSZ];  /* one of contract / phone is set ("" = not given) */
	char phone[IDENT_PHONE_BUFSZ];
	int64_t amount;
	char method[16];
	char email[255];
	char return_url[PAYMENT_URL_MAX + 1];
	char idempotency_key[PAYMENT_KEY_MAX + 1];
	char request_hash[65];                /* SHA-256 of the canonical request body, hex */
};

/* The outcome for the client: status (201, 409, 502, ...), the JSON body (owned by the callee;
 * the callback must not keep it), and whether it is a replay of an earlier answer. */
struct payment_answer {
	int status;
	json_t *body;
	bool replay;
	const char *payment_id;   /* for the access log, when known */
	const char *retry_after;  /* seconds, when the client should retry */
};

typedef void (*payment_done)(const struct payment_answer *a, void *arg);

/* Creates the payment with adapter ctx (which must offer in->method). Calls done once, later. */
void payments_create(struct db_pool *db, struct adapter_ctx *ctx, const struct config *cfg,
		     const struct payment_create *in, payment_done done, void *arg);

/* The public view of payment id (a validated UUID): status, amount, method, times, receipt link. */
void payments_view(struct db_pool *db, const struct config *cfg, const char *id, payment_done done, void *arg);

/* Applies a provider's verdict (from a verified notification or a status read) to the payment it
 * names: books it exactly once, moves it to failed/canceled, or flags a mismatch. source is
 * "notification", "poll" or "janitor". */
void payments_apply(struct db_pool *db, const char *adapter, const struct adapter_reply *verdict, const char *source,
		    payment_done done, void *arg);

/* Removes what must never be stored from a provider message (card data, secrets), in place. */
void payments_sanitize(json_t *raw);

/* An Idempotency-Key as this API accepts it: 8-128 characters of letters, digits and - _ . : */
bool payments_key_valid(const char *key);

/* SHA-256 hex of the canonical (sorted, compact) JSON of body. Returns 0 or -1. */
int payments_request_hash(json_t *body, char out[65]);

#endif
