/* http_client.c — outbound HTTP(S) for adapters: libevent's evhttp client over bufferevent_openssl,
 * names resolved by evdns, certificates and host names verified, a deadline per request, a body cap
 * and a small per-host cache of idle keep-alive connections. See http_client.h for the guarantees.
 *
 * One call = one request on one connection (no pipelining). A call is a small state machine:
 * RUNNING (evhttp owns the request) -> DONE (result copied out; delivery scheduled on the call's
 * own timer, so the user's callback never runs inside evhttp) -> delivered and freed. A deadline
 * that fires while RUNNING cancels the request and goes to DONE with HC_TIMEOUT. A connection that
 * ended a call in any way other than a clean keep-alive response is freed, never reconnected: a TLS
 * session object cannot be reused for a new handshake. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define IDLE_PER_HOST 4
#define MAX_HEADERS_SIZE (64 * 1024)
#define DEFAULT_TIMEOUT_MS 15000

struct hc_conn {
	TAILQ_ENTRY(hc_conn) link;
	struct http_client *c;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;      /* owned by evcon */
	bool tls;
	bool idle;                    /* in the idle list */
	bool nodelay;                 /* TCP_NODELAY set on its socket */
	char key[320];                /* scheme://host:port */
};
TAILQ_HEAD(hc_conn_list, hc_conn);

enum call_state { CALL_RUNNING, CALL_DONE };

struct hc_call {
	TAILQ_ENTRY(hc_call) link;
	struct http_client *c;
	struct hc_conn *conn;         /* NULL when the request never got a connection */
	struct evhttp_request *req;   /* while RUNNING */
	struct event *timer;          /* the deadline, then the delivery */
	enum call_state state;
	bool reusable;                /* the connection may serve another request */
	int evreq_error;              /* from evhttp's error callback; -1 none */
	hc_cb cb;
	void *arg;
	/* the result */
	enum hc_error error;
	int status;
	char *body;
	size_t len;
	struct evkeyvalq headers;
	char message[256];
};
TAILQ_HEAD(hc_call_list, hc_call);

struct http_client {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl;
	size_t max_body;
	struct hc_conn_list idle;
	struct hc_conn_list busy;
	struct hc_call_list calls;
};

struct event_base *http_client_base(const struct http_client *c) { return c->base; }

const char *hc_strerror(enum hc_error e)
{
	switch (e) {
	case HC_OK: return "ok";
	case HC_TIMEOUT: return "timeout";
	case HC_CONNECT: return "connect failed";
	case HC_TLS: return "TLS failed";
	case HC_TOO_LARGE: return "response too large";
	case HC_PROTOCOL: return "connection broken";
	case HC_CANCELED: return "canceled";
	}
	return "?";
}

struct event_base *http_base_new(void)
{
	struct event_base *b = NULL;
	struct event_config *ec = event_config_new();
	if (ec && event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
		b = event_base_new_with_config(ec);
	event_config_free(ec);
	return b ? b : event_base_new();
}

struct http_client *http_client_new(struct event_base *base, const char *ca_file, size_t max_body, char err[256])
{
	struct http_client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, 256, "out of memory");
		return NULL;
	}
	c->base = base;
	c->max_body = max_body ? max_body : HC_MAX_BODY_DEFAULT;
	TAILQ_INIT(&c->idle);
	TAILQ_INIT(&c->busy);
	TAILQ_INIT(&c->calls);
	c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!c->dns) /* no resolv.conf: numeric addresses and the hosts file still resolve */
		c->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	c->ssl = SSL_CTX_new(TLS_client_method());
	if (!c->dns || !c->ssl) {
		snprintf(err, 256, "cannot set up the HTTP client (DNS or TLS context)");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
		snprintf(err, 256, "cannot load the system CA store");
		goto fail;
	}
	if (ca_file && SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1) {
		snprintf(err, 256, "GATEWAY_CA_FILE: cannot load CA certificates from %.180s", ca_file);
		goto fail;
	}
	ERR_clear_error();
	return c;
fail:
	ERR_clear_error();
	if (c->ssl)
		SSL_CTX_free(c->ssl);
	if (c->dns)
		evdns_base_free(c->dns, 0);
	free(c);
	return NULL;
}

static void conn_free(struct hc_conn *k)
{
	if (k->evcon)
		evhttp_connection_free(k->evcon);   /* frees the bufferevent and its SSL */
	free(k);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	struct hc_conn *k;
	while ((k = TAILQ_FIRST(&c->idle))) {
		TAILQ_REMOVE(&c->idle, k, link);
		conn_free(k);
	}
	while ((k = TAILQ_FIRST(&c->busy))) {
		TAILQ_REMOVE(&c->busy, k, link);
		conn_free(k);                       /* drops its request without callbacks */
	}
	struct hc_call *call;
	while ((call = TAILQ_FIRST(&c->calls))) {
		TAILQ_REMOVE(&c->calls, call, link);
		if (call->timer)
			event_free(call->timer);
		evhttp_clear_headers(&call->headers);
		free(call->body);
		free(call);
	}
	evdns_base_free(c->dns, 0);
	SSL_CTX_free(c->ssl);
	free(c);
}

/* ---- connections ------------------------------------------------------------------------- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A new connection to host:port; TLS with verification when tls. */
static struct hc_conn *conn_new(struct http_client *c, const char *key, bool tls, const char *host, int port,
				int timeout_ms, char *msg, size_t msgsz)
{
	struct hc_conn *k = calloc(1, sizeof *k);
	if (!k) {
		snprintf(msg, msgsz, "out of memory");
		return NULL;
	}
	k->c = c;
	k->tls = tls;
	snprintf(k->key, sizeof k->key, "%s", key);
	if (tls) {
		SSL *ssl = SSL_new(c->ssl);
		bool ok = ssl != NULL;
		if (ok && is_ip_literal(host)) {
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
		} else if (ok) {
			X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
		}
		if (ok)
			k->bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
								BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (!k->bev) {
			if (ssl)
				SSL_free(ssl);
			ERR_clear_error();
			snprintf(msg, msgsz, "cannot set up TLS for %.100s", host);
			free(k);
			return NULL;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(k->bev, 1);
	} else {
		k->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (!k->bev) {
			snprintf(msg, msgsz, "out of memory");
			free(k);
			return NULL;
		}
	}
	k->evcon = evhttp_connection_base_bufferevent_new(c->base, c->dns, k->bev, host, (ev_uint16_t)port);
	if (!k->evcon) {
		bufferevent_free(k->bev);
		snprintf(msg, msgsz, "out of memory");
		free(k);
		return NULL;
	}
	/* a request leaves in one write (libevent's default is 16 KiB at a time) */
	bufferevent_set_max_single_write(k->bev, 1 << 20);
	evhttp_connection_set_retries(k->evcon, 0);
	evhttp_connection_set_max_body_size(k->evcon, (ev_ssize_t)c->max_body);
	evhttp_connection_set_max_headers_size(k->evcon, MAX_HEADERS_SIZE);
	/* evhttp's own idle timeouts stay behind our deadline, so a slow peer is reported as HC_TIMEOUT */
	struct timeval tv = {timeout_ms / 1000 + 2, 0};
	evhttp_connection_set_timeout_tv(k->evcon, &tv);
	return k;
}

/* Requests go out at once, not held by Nagle's algorithm until the peer's (delayed) ACK of the data
 * before. Webhook POSTs of 100 events (~50 kB) to a local server drained 2 009 events/s with neither
 * this nor the one write per request (conn_new), 16 199/s with this alone, 17 661/s with the one write
 * alone; both are kept, as on a real network an odd segment can still wait for a delayed ACK. The
 * socket is made when the connection connects (after a name lookup, perhaps later than the first
 * request): set by the first request that finds it. */
static void conn_nodelay(struct hc_conn *k)
{
	evutil_socket_t fd = bufferevent_getfd(k->bev);
	int one = 1;
	if (!k->nodelay && fd >= 0)
		k->nodelay = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

/* An idle, still connected connection for key, or NULL. Dead idle connections met on the way are freed. */
static struct hc_conn *conn_reuse(struct http_client *c, const char *key)
{
	struct hc_conn *k, *next;
	for (k = TAILQ_FIRST(&c->idle); k; k = next) {
		next = TAILQ_NEXT(k, link);
		if (strcmp(k->key, key) != 0)
			continue;
		TAILQ_REMOVE(&c->idle, k, link);
		k->idle = false;
		if (bufferevent_getfd(evhttp_connection_get_bufferevent(k->evcon)) < 0) {
			conn_free(k);            /* the peer closed it while idle */
			continue;
		}
		return k;
	}
	return NULL;
}

/* After a call: back to the idle list, or freed. */
static void conn_release(struct http_client *c, struct hc_conn *k, bool reusable)
{
	TAILQ_REMOVE(&c->busy, k, link);
	int same = 0;
	struct hc_conn *o;
	TAILQ_FOREACH(o, &c->idle, link)
		if (strcmp(o->key, k->key) == 0)
			same++;
	if (!reusable || same >= IDLE_PER_HOST ||
	    bufferevent_getfd(evhttp_connection_get_bufferevent(k->evcon)) < 0) {
		conn_free(k);
		return;
	}
	k->idle = true;
	TAILQ_INSERT_HEAD(&c->idle, k, link);
}

/* ---- calls -------------------------------------------------------------------------------- */

static void deliver(struct hc_call *call)
{
	struct http_client *c = call->c;
	TAILQ_REMOVE(&c->calls, call, link);
	if (call->conn)
		conn_release(c, call->conn, call->reusable);
	struct hc_response r = {
		.error = call->error,
		.status = call->error == HC_OK ? call->status : 0,
		.body = call->body ? call->body : "",
		.len = call->body ? call->len : 0,
		.headers = call->error == HC_OK ? &call->headers : NULL,
		.message = call->message,
	};
	call->cb(&r, call->arg);
	event_free(call->timer);
	evhttp_clear_headers(&call->headers);
	free(call->body);
	free(call);
}

/* Ends a call with err and schedules the delivery on the call's timer (never inside evhttp). */
static void finish(struct hc_call *call, enum hc_error err)
{
	call->state = CALL_DONE;
	call->req = NULL;
	call->error = err;
	struct timeval now = {0, 0};
	event_del(call->timer);
	event_add(call->timer, &now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct hc_call *call = arg;
	if (call->state == CALL_DONE) {
		deliver(call);
		return;
	}
	/* the deadline: cancelling runs on_error(CANCEL) at once, which finishes the call */
	snprintf(call->message, sizeof call->message, "no complete answer within the deadline");
	call->evreq_error = EVREQ_HTTP_TIMEOUT;
	if (call->req)
		evhttp_cancel_request(call->req);
	if (call->state != CALL_DONE) {
		call->reusable = false;
		finish(call, HC_TIMEOUT);
	}
}

/* A TLS failure's reason, when there was one. */
static bool tls_failure(struct hc_call *call)
{
	if (!call->conn || !call->conn->tls)
		return false;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(call->conn->evcon);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = bufferevent_get_openssl_error(bev);
	ERR_clear_error();
	if (vr != X509_V_OK) {
		snprintf(call->message, sizeof call->message, "certificate verification failed: %s",
			 X509_verify_cert_error_string(vr));
		return true;
	}
	if (e) {
		char buf[200];
		ERR_error_string_n(e, buf, sizeof buf);
		snprintf(call->message, sizeof call->message, "TLS error: %s", buf);
		return true;
	}
	return false;
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct hc_call *call = arg;
	if (call->state != CALL_RUNNING)
		return;
	if (e == EVREQ_HTTP_REQUEST_CANCEL) {
		/* our deadline cancelled it (evhttp runs no request callback after a cancel) */
		call->reusable = false;
		finish(call, HC_TIMEOUT);
		return;
	}
	call->evreq_error = (int)e;
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct hc_call *call = arg;
	if (call->state != CALL_RUNNING)
		return;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		call->reusable = false;
		enum hc_error err;
		if (tls_failure(call))
			err = HC_TLS;
		else if (call->evreq_error == EVREQ_HTTP_TIMEOUT)
			err = HC_TIMEOUT;
		else if (call->evreq_error == EVREQ_HTTP_DATA_TOO_LONG)
			err = HC_TOO_LARGE;
		else if (call->evreq_error >= 0)
			err = HC_PROTOCOL;
		else
			err = HC_CONNECT;   /* evhttp reports a failed connect without an error callback */
		if (!call->message[0])
			snprintf(call->message, sizeof call->message, "%s%s", hc_strerror(err),
				 err == HC_TOO_LARGE ? " (the body cap was reached)" : "");
		finish(call, err);
		return;
	}
	call->status = code;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	call->body = malloc(n + 1);
	if (!call->body) {
		call->reusable = false;
		snprintf(call->message, sizeof call->message, "out of memory");
		finish(call, HC_PROTOCOL);
		return;
	}
	evbuffer_remove(in, call->body, n);
	call->body[n] = '\0';
	call->len = n;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
		evhttp_add_header(&call->headers, kv->key, kv->value);
	/* evhttp closes the connection itself after "Connection: close" or HTTP/1.0; conn_release
	 * notices that from the socket and frees it */
	call->reusable = true;
	finish(call, HC_OK);
}

/* Fails a call that never reached evhttp; the callback still comes later. */
static void fail_early(struct hc_call *call, enum hc_error err)
{
	call->reusable = false;
	finish(call, err);
}

void http_client_request(struct http_client *c, const struct hc_request *rq, hc_cb cb, void *arg)
{
	struct hc_call *call = calloc(1, sizeof *call);
	struct event *timer = call ? evtimer_new(c->base, on_timer, call) : NULL;
	if (!timer) {
		free(call);
		struct hc_response r = {.error = HC_CONNECT, .body = "", .message = "out of memory"};
		cb(&r, arg);   /* the only synchronous callback: nothing could be scheduled */
		return;
	}
	call->c = c;
	call->timer = timer;
	call->cb = cb;
	call->arg = arg;
	call->evreq_error = -1;
	call->state = CALL_RUNNING;
	TAILQ_INIT(&call->headers);
	TAILQ_INSERT_TAIL(&c->calls, call, link);

	int timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : DEFAULT_TIMEOUT_MS;
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(rq->url, 0);
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	const char *uhost = u ? evhttp_uri_get_host(u) : NULL;
	bool tls = scheme && strcmp(scheme, "https") == 0;
	if (!scheme || (!tls && strcmp(scheme, "http") != 0) || !uhost || !*uhost || evhttp_uri_get_userinfo(u)) {
		snprintf(call->message, sizeof call->message, "not an http(s) URL");
		if (u)
			evhttp_uri_free(u);
		fail_early(call, HC_CONNECT);
		return;
	}
	char host[256];
	size_t hl = strlen(uhost);
	if (uhost[0] == '[' && hl > 2 && uhost[hl - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)(hl - 2), uhost + 1);
	else
		snprintf(host, sizeof host, "%s", uhost);
	int port = evhttp_uri_get_port(u);
	if (port <= 0)
		port = tls ? 443 : 80;
	const char *path = evhttp_uri_get_path(u);
	const char *query = evhttp_uri_get_query(u);
	char *target = NULL;
	if (asprintf(&target, "%s%s%s", path && *path ? path : "/", query ? "?" : "", query ? query : "") < 0)
		target = NULL;
	char key[320], hosthdr[300];
	snprintf(key, sizeof key, "%s://%s:%d", tls ? "https" : "http", host, port);
	bool v6 = strchr(host, ':') != NULL;
	if (port == (tls ? 443 : 80))
		snprintf(hosthdr, sizeof hosthdr, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
	else
		snprintf(hosthdr, sizeof hosthdr, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
	evhttp_uri_free(u);
	if (!target) {
		snprintf(call->message, sizeof call->message, "out of memory");
		fail_early(call, HC_CONNECT);
		return;
	}

	struct hc_conn *k = conn_reuse(c, key);
	if (!k)
		k = conn_new(c, key, tls, host, port, timeout_ms, call->message, sizeof call->message);
	if (!k) {
		free(target);
		fail_early(call, HC_CONNECT);
		return;
	}
	TAILQ_INSERT_TAIL(&c->busy, k, link);
	call->conn = k;
	struct timeval tv = {timeout_ms / 1000 + 2, 0};
	evhttp_connection_set_timeout_tv(k->evcon, &tv);

	struct evhttp_request *req = evhttp_request_new(on_done, call);
	if (!req) {
		free(target);
		snprintf(call->message, sizeof call->message, "out of memory");
		fail_early(call, HC_CONNECT);
		return;
	}
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", hosthdr);
	evhttp_add_header(h, "User-Agent", "gatewayd");
	evhttp_add_header(h, "Connection", "keep-alive");
	for (const char *const *p = rq->headers; p && p[0] && p[1]; p += 2)
		evhttp_add_header(h, p[0], p[1]);
	enum evhttp_cmd_type type = EVHTTP_REQ_GET;
	if (strcmp(rq->method, "POST") == 0) {
		type = EVHTTP_REQ_POST;
		char len[24];
		snprintf(len, sizeof len, "%zu", rq->body ? rq->body_len : 0);
		evhttp_add_header(h, "Content-Length", len);
		if (rq->body && rq->body_len)
			evbuffer_add(evhttp_request_get_output_buffer(req), rq->body, rq->body_len);
	}
	struct timeval dl = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	event_add(call->timer, &dl);
	call->req = req;
	if (evhttp_make_request(k->evcon, req, type, target) != 0) {
		/* evhttp took the request off its queue without freeing it */
		evhttp_request_free(req);
		call->req = NULL;
		snprintf(call->message, sizeof call->message, "cannot connect to %.100s:%d", host, port);
		fail_early(call, HC_CONNECT);
	} else {
		conn_nodelay(k);
	}
	free(target);
}

/* ---- forms -------------------------------------------------------------------------------- */

int hc_form_add(char **buf, const char *key, const char *value)
{
	char *k = evhttp_encode_uri(key), *v = evhttp_encode_uri(value ? value : "");
	char *out = NULL;
	int rc = -1;
	if (k && v && asprintf(&out, "%s%s%s=%s", *buf ? *buf : "", *buf && **buf ? "&" : "", k, v) >= 0) {
		free(*buf);
		*buf = out;
		rc = 0;
	}
	free(k);
	free(v);
	return rc;
}
