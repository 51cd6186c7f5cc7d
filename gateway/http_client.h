/* http_client.h — outbound HTTP(S) on an event loop, for adapters talking to providers.
 *
 * Guarantees: nothing here blocks the loop (names resolve through evdns); https:// peers are
 * verified against the system CA store plus an optional extra CA file, with the host name (or IP
 * address) of the URL checked against the certificate and sent as SNI; TLS 1.2 or newer; every
 * request has a deadline covering connect, TLS handshake, send and the whole response; response
 * bodies larger than the cap are refused, not buffered; idle keep-alive connections are reused per
 * host:port (a few per host) and never reconnected with a used TLS session; the callback runs exactly
 * once, later, on the client's loop — never from inside http_client_request. One client per event
 * loop; not thread-safe. The client does not retry: callers decide (only they know whether a
 * request is idempotent) through http_retry.h. */
#ifndef GW_HTTP_CLIENT_H
#define GW_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct evkeyvalq;
struct http_client;

#define HC_MAX_BODY_DEFAULT (1024 * 1024)

enum hc_error {
	HC_OK = 0,          /* an HTTP response arrived (any status) */
	HC_TIMEOUT,         /* the deadline passed: the request may or may not have reached the peer */
	HC_CONNECT,         /* name resolution or TCP connect failed: the request never left */
	HC_TLS,             /* the handshake failed (certificate not trusted, wrong host name, ...): never left */
	HC_TOO_LARGE,       /* the response exceeded the body cap */
	HC_PROTOCOL,        /* the connection broke or the answer was not HTTP: outcome unknown */
	HC_CANCELED,        /* the client was freed while the request was in flight */
};

struct hc_request {
	const char *method;           /* "GET" or "POST" */
	const char *url;              /* absolute http:// or https:// URL; borrowed for the call */
	const char *const *headers;   /* name, value, name, value, ..., NULL; may be NULL */
	const char *body;             /* request body (POST), may be NULL */
	size_t body_len;
	int timeout_ms;               /* deadline of the whole exchange; <= 0: 15 s */
};

struct hc_response {
	enum hc_error error;
	int status;                   /* HTTP status when error == HC_OK, else 0 */
	const char *body;             /* NUL-terminated copy of the body ("" when none); valid during the callback */
	size_t len;
	const struct evkeyvalq *headers;   /* response headers; valid during the callback; NULL on error */
	const char *message;          /* one line for logs: what went wrong ("" when error == HC_OK) */
};

typedef void (*hc_cb)(const struct hc_response *r, void *arg);

/* A new event base for a thread doing HTTP — a client's (webhooks, cashbox) or a server loop's: with
 * epoll's changelist, which folds the several enable/disable calls a connection makes in one loop turn
 * into at most one epoll_ctl (a webhook POST made 4; syscalls are dear on this kind of virtual
 * machine). Its one hazard, a dup()ed descriptor closed while registered, is the caller's to avoid.
 * NULL when out of memory. */
struct event_base *http_base_new(void);

/* A client on base. ca_file (may be NULL) is a PEM bundle trusted in addition to the system store.
 * max_body caps response bodies (0: HC_MAX_BODY_DEFAULT). Returns NULL with a one-line err. */
struct http_client *http_client_new(struct event_base *base, const char *ca_file, size_t max_body, char err[256]);

/* Closes every connection. Requests still in flight are dropped without their callbacks (call this
 * only after the loop's work has drained). */
void http_client_free(struct http_client *c);

/* Sends rq; cb(arg) is called exactly once, later. Strings in rq are copied. */
void http_client_request(struct http_client *c, const struct hc_request *rq, hc_cb cb, void *arg);

/* The event loop the client runs on (for callers that schedule their own timers beside it). */
struct event_base *http_client_base(const struct http_client *c);

/* Appends key=value to a form body being built in *buf (a new string; the caller frees it),
 * percent-encoding both. Returns 0, or -1 on allocation failure. */
int hc_form_add(char **buf, const char *key, const char *value);

/* A human-readable name of an error, for logs. */
const char *hc_strerror(enum hc_error e);

#endif
