/* intake.h — what happens to a connection's bytes before evhttp parses them, and what a request
 * learns from that: the PROXY protocol header (GATEWAY_PROXY_PROTOCOL=on) is taken off the front
 * of each connection; raw NUL bytes are noted (no request we serve may carry one: a C string would
 * end there, and a header would be cut short silently); and each request's client address is made
 * from the TCP peer, the PROXY header and X-Forwarded-For as GATEWAY_TRUSTED_PROXIES allows. One
 * intake per event loop; nothing here is shared between loops. */
#ifndef GW_INTAKE_H
#define GW_INTAKE_H

#include <stdbool.h>

#include "proxy.h"

struct bufferevent;
struct config;
struct event_base;
struct evhttp_request;
typedef struct ssl_ctx_st SSL_CTX;

struct intake;

/* A new intake for one event loop; tls (may be NULL) wraps each connection in TLS. NULL on no memory. */
struct intake *intake_new(const struct config *cfg, SSL_CTX *tls);
/* Frees it; connections still open keep nothing of it (call after evhttp_free). */
void intake_free(struct intake *in);

/* The evhttp_set_bevcb callback (arg: the loop's intake): the connection's bufferevent, watched. */
struct bufferevent *intake_bev(struct event_base *base, void *arg);

/* What the connection says about a request just parsed: the client address (canonical text) and, when
 * it differs from the TCP peer, the proxy it came through; nul is true when the request's own bytes
 * held a raw NUL byte. */
struct intake_view {
	char client[PROXY_ADDR_BUFSZ];
	char proxy[PROXY_ADDR_BUFSZ];    /* "" when the client is the TCP peer */
	bool nul;
};
void intake_request(struct intake *in, struct evhttp_request *ev, struct intake_view *out);

#endif
