/* http_retry.h — one outbound call to a provider, sent again unchanged when its answer says "try
 * again": the one retry policy of every outbound provider (acquirers, wallets, cashboxes).
 *
 * The request is copied once and sent up to policy->attempts times, with a pause of
 * policy->pause_ms * n before the n-th repeat. Only the same bytes are repeated, so a call is safe to
 * retry exactly when the provider deduplicates it (an idempotency key, an order number, an
 * external_id) or when it only reads. Which answers are worth repeating is the caller's rule
 * (policy->transient; NULL: hc_transient). The callback runs exactly once with the last answer and
 * the number of sends. The copy is wiped before it is freed (bodies may hold credentials). */
#ifndef GW_HTTP_RETRY_H
#define GW_HTTP_RETRY_H

#include <stdbool.h>

#include "http_client.h"

struct hc_retry {
	int attempts;                 /* sends at most; < 1 counts as 1 */
	int pause_ms;                 /* before the n-th repeat: pause_ms * n */
	/* Whether this answer may be repeated as it is; arg is the call's. NULL: hc_transient. */
	bool (*transient)(const struct hc_response *r, void *arg);
};

typedef void (*hc_retry_cb)(const struct hc_response *r, int attempts, void *arg);

/* The common rule: the request may not have reached the peer, or the peer asks to come back —
 * a timeout, a failed connect, a broken connection, HTTP 5xx or 429. */
bool hc_transient(const struct hc_response *r);

/* Sends rq on c under policy; cb(arg) runs exactly once, later (or at once when out of memory). */
void hc_request_retry(struct http_client *c, const struct hc_request *rq, const struct hc_retry *policy,
		      hc_retry_cb cb, void *arg);

#endif
