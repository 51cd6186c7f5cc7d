/* intake.c — a watch on each connection's input buffer (an evbuffer callback, which libevent runs as
 * bytes arrive, before evhttp parses them). It takes the PROXY header off the front of the stream,
 * drops a connection whose first bytes are not one, and remembers where raw NUL bytes are in the
 * stream, so the request that carried one can be refused when evhttp hands it over. Per connection
 * it keeps a small record (made on its first bytes, freed by evhttp's close callback), found by its
 * bufferevent in a per-loop hash. */
#include "intake.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "log.h"
#include "tls.h"

#define BUCKETS 4096              /* a power of two */
#define XFF_HEADERS_MAX 16
#define NO_NUL UINT64_MAX

struct conn_ctx {
	struct conn_ctx *next;    /* in its hash bucket */
	struct bufferevent *bev;
	struct intake *in;
	uint64_t rx;              /* bytes of the stream (PROXY header excluded) that reached the input buffer */
	uint64_t nul;             /* stream offset of the first NUL not yet charged to a request, or NO_NUL */
	struct evbuffer *stash;   /* the beginning of a PROXY header, kept from evhttp until it is whole */
	bool header_done;
	bool busy;                /* we are changing the buffer ourselves */
	char addr[PROXY_ADDR_BUFSZ];   /* the PROXY header's client; "" = the TCP peer */
};

struct intake {
	const struct config *cfg;
	SSL_CTX *tls;
	struct conn_ctx *bucket[BUCKETS];
};

static _Thread_local struct intake *tl_intake;    /* the loop's intake (set on its own thread) */

static size_t slot(const struct bufferevent *bev)
{
	uint64_t h = (uint64_t)(uintptr_t)bev * 0x9E3779B97F4A7C15u;
	return (size_t)(h >> 52) & (BUCKETS - 1);
}

static struct conn_ctx *find(const struct intake *in, const struct bufferevent *bev)
{
	for (struct conn_ctx *x = in->bucket[slot(bev)]; x; x = x->next)
		if (x->bev == bev)
			return x;
	return NULL;
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn_ctx *x = arg;
	struct conn_ctx **pp = &x->in->bucket[slot(x->bev)];
	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp)
		*pp = x->next;
	if (x->stash)
		evbuffer_free(x->stash);
	free(x);
}

/* The record of a connection that has just sent its first bytes; NULL when it cannot be kept (no
 * memory, or no evhttp connection to free it with). */
static struct conn_ctx *ctx_new(struct intake *in, struct bufferevent *bev)
{
	void *evcon = NULL;
	bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);      /* evhttp's callbacks carry the connection */
	if (!evcon)
		return NULL;
	struct conn_ctx *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	if (in->cfg->proxy_protocol && !(x->stash = evbuffer_new())) {
		free(x);
		return NULL;
	}
	x->bev = bev;
	x->in = in;
	x->nul = NO_NUL;
	size_t s = slot(bev);
	x->next = in->bucket[s];
	in->bucket[s] = x;
	evhttp_connection_set_closecb(evcon, on_close, x);
	return x;
}

/* Ends a connection from inside its input callback: nothing more is read or answered, and evhttp sees
 * the end of the stream and frees the connection the usual way. */
static void drop(struct bufferevent *bev, struct evbuffer *buf, const char *why)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	void *evcon = NULL;
	bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
	char *peer = NULL;
	ev_uint16_t port = 0;
	if (evcon)
		evhttp_connection_get_peer(evcon, &peer, &port);
	log_kv(LOG_WARN, "connection dropped", "reason", why, "peer", peer, NULL);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* Notes the first raw NUL among the last fresh bytes of buf. */
static void scan(struct conn_ctx *x, struct evbuffer *buf, size_t fresh)
{
	size_t len = evbuffer_get_length(buf);
	if (fresh > len)
		fresh = len;
	if (x->nul == NO_NUL && fresh) {
		struct evbuffer_ptr start;
		if (evbuffer_ptr_set(buf, &start, len - fresh, EVBUFFER_PTR_SET) == 0) {
			struct evbuffer_ptr p = evbuffer_search(buf, "", 1, &start);
			if (p.pos >= 0)
				x->nul = x->rx + (uint64_t)(p.pos - (ev_ssize_t)(len - fresh));
		}
	}
	x->rx += fresh;
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	struct intake *in = tl_intake;
	if (!info->n_added || !in)
		return;
	struct conn_ctx *x = find(in, bev);
	if (!x && !(x = ctx_new(in, bev))) {
		drop(bev, buf, "out of memory");
		return;
	}
	if (x->busy)
		return;
	size_t fresh = info->n_added;
	if (in->cfg->proxy_protocol && !x->header_done) {
		x->busy = true;
		evbuffer_prepend_buffer(buf, x->stash);
		size_t len = evbuffer_get_length(buf);
		size_t look = len < PROXY_V2_MAX ? len : PROXY_V2_MAX;
		size_t used = 0;
		const unsigned char *p = evbuffer_pullup(buf, (ev_ssize_t)look);
		enum proxy_parse r = p ? proxy_header_parse(p, look, &used, x->addr) : PROXY_BAD;
		if (r == PROXY_MORE) {
			evbuffer_remove_buffer(buf, x->stash, len);     /* evhttp sees nothing until it is whole */
		} else if (r == PROXY_BAD) {
			drop(bev, buf, "no valid PROXY protocol header (GATEWAY_PROXY_PROTOCOL=on)");
		} else {
			evbuffer_drain(buf, used);
			x->header_done = true;
		}
		x->busy = false;
		if (r != PROXY_DONE)
			return;
		fresh = evbuffer_get_length(buf);       /* all of it is new to the scan */
	}
	scan(x, buf, fresh);
}

struct intake *intake_new(const struct config *cfg, SSL_CTX *tls)
{
	struct intake *in = calloc(1, sizeof *in);
	if (in) {
		in->cfg = cfg;
		in->tls = tls;
	}
	return in;
}

void intake_free(struct intake *in)
{
	if (!in)
		return;
	/* connections evhttp has freed are gone already; any left were abandoned with their loop */
	for (size_t i = 0; i < BUCKETS; i++)
		while (in->bucket[i]) {
			struct conn_ctx *x = in->bucket[i];
			in->bucket[i] = x->next;
			if (x->stash)
				evbuffer_free(x->stash);
			free(x);
		}
	if (tl_intake == in)
		tl_intake = NULL;
	free(in);
}

struct bufferevent *intake_bev(struct event_base *base, void *arg)
{
	struct intake *in = arg;
	tl_intake = in;
	/* evhttp sets the accepted socket on the bufferevent afterwards (fd -1 here) */
	struct bufferevent *bev = in->tls ? tls_accept_bev(base, in->tls)
					  : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev && !evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev)) {
		bufferevent_free(bev);
		bev = NULL;
	}
	return bev;
}

void intake_request(struct intake *in, struct evhttp_request *ev, struct intake_view *out)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	char *peer = NULL;
	ev_uint16_t port = 0;
	if (evcon)
		evhttp_connection_get_peer(evcon, &peer, &port);
	if (!peer)
		peer = "";
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct conn_ctx *x = bev ? find(in, bev) : NULL;
	out->nul = false;
	if (x) {
		struct evbuffer *input = bufferevent_get_input(bev);
		uint64_t end = x->rx - evbuffer_get_length(input);    /* where this request's bytes end */
		if (x->nul < end) {
			out->nul = true;
			struct evbuffer_ptr p = evbuffer_search(input, "", 1, NULL);
			x->nul = p.pos >= 0 ? end + (uint64_t)p.pos : NO_NUL;
		}
	}
	const struct proxy_nets *trusted = in->cfg->trusted_proxies;
	const char *conn_addr = peer;
	if (x && x->addr[0] && proxy_nets_contain(trusted, peer))
		conn_addr = x->addr;                   /* a PROXY header is believed from trusted proxies only */
	const char *xff[XFF_HEADERS_MAX];
	size_t n = 0;
	if (trusted && trusted->n) {
		const struct evkeyvalq *h = evhttp_request_get_input_headers(ev);
		for (const struct evkeyval *kv = h->tqh_first; kv && n < XFF_HEADERS_MAX; kv = kv->next.tqe_next)
			if (strcasecmp(kv->key, "X-Forwarded-For") == 0)
				xff[n++] = kv->value;
	}
	proxy_client_addr(conn_addr, xff, n, trusted, out->client);
	out->proxy[0] = '\0';
	if (strcmp(out->client, peer) != 0)
		snprintf(out->proxy, sizeof out->proxy, "%s", peer);
}
