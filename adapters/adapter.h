/* adapter.h — the payment adapter interface. An adapter is one `const struct adapter`: its name,
 * kind, the payment methods it offers, and callbacks, the optional ones NULL. Outbound providers
 * (card, wallet) implement create / fetch_status / notification / refund; terminal protocols and
 * hosted pages bring their own inbound routes. The core calls adapters only through this struct and
 * never includes an adapter's own header; adapters never touch the database (they call services). */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"

struct event_base;
struct config;

enum adapter_kind { ADAPTER_CARD, ADAPTER_WALLET, ADAPTER_TERMINAL };

/* What the core asks a provider to collect. Strings are borrowed for the duration of the call. */
struct adapter_payment {
	const char *id;             /* our payment id (uuid): the provider's order number / idempotence key */
	long long number;           /* our public payment number */
	int64_t amount;             /* kopecks, RUB */
	const char *method;         /* card | sberpay | yoomoney | sbp */
	const char *contract;
	const char *email;          /* may be NULL */
	const char *description;    /* e.g. "Пополнение счёта 12345" */
	const char *return_url;     /* where the payer comes back after paying */
};

/* A refund the core asks a provider for. Strings are borrowed for the duration of the call. */
struct adapter_refund {
	const char *provider_id;    /* the payment's id at the provider */
	int64_t amount;             /* kopecks to return now */
	int64_t refunded;           /* kopecks of this payment we have booked as refunded before: a provider
				     * without idempotence keys compares its own total with it */
	const char *key;            /* stable across retries of this refund (our refund id) */
	const char *email;          /* the payer's e-mail (a refund receipt's contact), may be NULL */
	const char *contract;
};

/* How a call to a provider ended. */
enum adapter_outcome {
	AO_OK = 0,                  /* the provider answered; see status */
	AO_DECLINED,                /* the provider refused this payment (final) */
	AO_UNAVAILABLE,             /* network error, timeout, 5xx: retry later with the same key */
	AO_ERROR,                   /* configuration or protocol error (final); message says what */
};

/* The provider's view of a payment. */
enum adapter_status { AS_UNKNOWN = 0, AS_PENDING, AS_SUCCEEDED, AS_FAILED, AS_CANCELED };

struct adapter_reply {
	enum adapter_outcome outcome;
	enum adapter_status status;
	char provider_id[129];      /* provider's id of the payment / order */
	char confirmation_url[2048];/* create: where to send the payer */
	int64_t amount;             /* as the provider reports it, kopecks; -1 when not reported */
	char currency[4];           /* "RUB" / "643" normalised to "RUB"; "" when not reported */
	char code[64];              /* provider's error / decline code, for failure_reason and logs */
	char message[256];          /* one line for logs (never card data or secrets) */
	json_t *raw;                /* sanitised provider message for payment_events; owned by the reply */
};

typedef void (*adapter_cb)(struct adapter_reply *r, void *arg);

/* Per event loop: an adapter's state lives here (init fills state). */
struct adapter_ctx {
	const struct adapter *adapter;
	struct event_base *base;
	const struct config *cfg;
	void *state;
};

/* An inbound notification as received on POST /v1/notifications/{adapter}. Borrowed. */
struct adapter_notification {
	const char *body;
	size_t len;
	const char *content_type;
	const char *query;          /* raw query string or NULL */
	const char *peer;           /* source address */
	const char *(*header)(const struct req *r, const char *name);   /* header(req, "X-…") */
	const struct req *req;
};

struct adapter {
	const char *name;
	enum adapter_kind kind;
	const char *const *methods; /* NULL-terminated; NULL for terminal protocols */

	/* Reads GATEWAY_<NAME>_* settings and prepares per-loop state. Returns 0, or -1 with err set. */
	int (*init)(struct adapter_ctx *ctx, char err[256]);
	void (*fini)(struct adapter_ctx *ctx);

	/* Registers the payment with the provider; reply carries provider_id and confirmation_url. */
	void (*create)(struct adapter_ctx *ctx, const struct adapter_payment *p, adapter_cb cb, void *arg);
	/* Verifies a notification. Returns 0 when it is authentic, with out->provider_id naming the
	 * payment (and out->status/amount/currency/raw as the message says); -1 to reject it. When the
	 * adapter has fetch_status the core re-reads the status from the provider and acts on that
	 * alone; otherwise (a signed notification is the provider's word) it acts on out. */
	int (*notification)(struct adapter_ctx *ctx, const struct adapter_notification *n, struct adapter_reply *out);
	/* Reads the provider's current status of a payment. */
	void (*fetch_status)(struct adapter_ctx *ctx, const char *provider_id, adapter_cb cb, void *arg);
	/* Refunds rf->amount kopecks of a payment; on AO_OK with AS_SUCCEEDED the money went back. */
	void (*refund)(struct adapter_ctx *ctx, const struct adapter_refund *rf, adapter_cb cb, void *arg);

	/* Inbound HTTP routes the adapter serves (terminal protocols, hosted test pages). */
	const struct route *routes;
	size_t nroutes;
};

/* Frees what a reply owns (raw). */
void adapter_reply_clear(struct adapter_reply *r);

/* One call of an outbound provider in flight: the caller's callback, the reply being filled, and how
 * the adapter frees what it added. An adapter's per-call struct starts with it. */
struct adapter_op {
	adapter_cb cb;
	void *arg;
	struct adapter_reply rep;      /* amount starts at -1 (not reported) */
	void (*release)(struct adapter_op *op);   /* frees the adapter's own members (may be NULL) */
};

/* A zeroed block of size bytes (an adapter struct that starts with struct adapter_op). When out of
 * memory, cb is answered at once with AO_UNAVAILABLE and NULL is returned. */
void *adapter_op_new(size_t size, adapter_cb cb, void *arg, void (*release)(struct adapter_op *op));
/* Answers the caller with the reply and outcome, then frees the operation. */
void adapter_op_finish(struct adapter_op *op, enum adapter_outcome outcome);
/* The same with the reply's code and a one-line message (printf format). */
void adapter_op_fail(struct adapter_op *op, enum adapter_outcome outcome, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
