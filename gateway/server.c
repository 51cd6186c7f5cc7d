/* server.c — listener, event-loop threads, routing, access log, metrics and graceful shutdown.
 * Every worker thread runs its own event_base with an evhttp accepting on a dup() of the one
 * listening socket, and its own database pool; nothing mutable is shared between workers except
 * the atomic metrics. The main thread only waits for signals. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/rand.h>

#include "adapter.h"
#include "clock.h"
#include "db.h"
#include "http_client.h"
#include "intake.h"
#include "janitor.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "offload.h"
#include "refusals.h"
#include "tls.h"

struct worker {
	int idx;
	struct loop loop;             /* config, pool, adapter contexts, counters: what requests see */
	struct adapter_ctx *actx;     /* one per active adapter */
	const struct route *routes;
	size_t nroutes;
	const struct adapter *const *active;
	size_t nactive;
	struct janitor *janitor;      /* worker 0 only (NULL when GATEWAY_JANITOR_INTERVAL is 0) */
	struct refusals *refusals;    /* worker 0 only: partners' refused requests into the database */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct intake *intake;        /* PROXY headers, raw NUL bytes, client addresses */
	int listen_fd;            /* this worker's dup of the listener */
	int stop_pipe[2];         /* main -> worker: begin draining */
	struct event *stop_ev;
	struct event *drain_ev;   /* polls in-flight count while draining */
	uint64_t drain_deadline_us;
	uint64_t idle_since_us;   /* draining: when inflight reached 0 */
	pthread_t thread;
	uint64_t rid_seed;
	uint64_t rid_counter;
};

/* The type libevent 2.1 gives a request whose method it does not know (EVHTTP_REQ_UNKNOWN_ in its
 * http-internal.h). Allowing it lets such requests reach on_request (2.2's evhttp_set_ext_method_cmp
 * would name them; 2.1 has no such hook). */
#define METHOD_UNKNOWN (1 << 15)

static SSL_CTX *tls_ctx;          /* set when GATEWAY_TLS_CERT is: shared by every loop */
static atomic_int workers_done;
struct server_sidecar server_sidecar;

/* ---- routing ---------------------------------------------------------------------------- */

/* Matches path against pattern; on success stores decoded "{…}" segments in r->params.
 * Returns 1 on match, 0 otherwise. */
static int match(const char *pattern, const char *path, struct req *r)
{
	const char *p = pattern, *s = path;
	int n = 0;
	char *caps[REQ_MAX_PARAMS];
	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			const char *se = strchr(s, '/');
			size_t slen = se ? (size_t)(se - s) : strlen(s);
			if (!pe || slen == 0 || n >= REQ_MAX_PARAMS)
				goto no;
			size_t dlen = 0;
			char *seg = strndup(s, slen);
			char *dec = seg ? evhttp_uridecode(seg, 0, &dlen) : NULL;
			free(seg);
			if (!dec)
				goto no;
			if (strlen(dec) != dlen) {          /* %00 in a path parameter */
				free(dec);
				goto no;
			}
			caps[n++] = dec;
			p = pe + 1;
			s += slen;
		} else if (*p == *s) {
			p++;
			s++;
		} else {
			goto no;
		}
	}
	if (*p || *s)
		goto no;
	for (int i = 0; i < n; i++)
		r->params[i] = caps[i];
	r->nparams = n;
	return 1;
no:
	for (int i = 0; i < n; i++)
		free(caps[i]);
	return 0;
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "OTHER";       /* a method libevent does not know (METHOD_UNKNOWN) */
}

static int valid_rid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= 36 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
				  c == '_' || c == '.'))
			return 0;
	}
	return n >= 8;
}

/* The request's one client address (and the proxy it came through), and whether its bytes held a
 * raw NUL. */
static bool set_peer(struct worker *w, struct req *r)
{
	struct intake_view v;
	intake_request(w->intake, r->ev, &v);
	snprintf(r->peer, sizeof r->peer, "%s", v.client);
	snprintf(r->proxy, sizeof r->proxy, "%s", v.proxy);
	return !v.nul;
}

/* The request id we make: 16 lowercase hex digits ("%016llx", without printf on every request). */
static void make_rid(char out[17], uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
	out[16] = '\0';
}

static void on_request(struct evhttp_request *ev, void *arg)
{
	struct worker *w = arg;
	struct req *r = calloc(1, sizeof *r);
	if (!r) {
		evhttp_send_error(ev, 503, "Out of memory");
		return;
	}
	r->ev = ev;
	r->loop = &w->loop;
	r->route_idx = -1;
	r->start_us = mono_us();
	w->loop.inflight++;
	metrics_add(M_HTTP_INFLIGHT, 1);
	r->method = method_name(evhttp_request_get_command(ev));
	const char *xrid = req_header(r, "X-Request-Id");
	if (xrid && valid_rid(xrid))
		snprintf(r->rid, sizeof r->rid, "%s", xrid);
	else
		make_rid(r->rid, w->rid_seed + ++w->rid_counter);
	if (!set_peer(w, r)) {
		/* a header value would have been cut at the NUL: the message is malformed, whoever reads it */
		http_header(r, "Connection", "close");
		http_reply_error(r, 400, "bad_request", "the request holds a NUL byte");
		return;
	}
	if (strcmp(r->method, "OTHER") == 0) {
		/* libevent did not read a body it could not expect: the connection cannot go on */
		http_header(r, "Connection", "close");
		http_reply_error(r, 501, "method_not_implemented",
				 "this method is not implemented here; the API uses GET, HEAD and POST");
		return;
	}

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || path[0] != '/') {
		http_reply_error(r, 400, "bad_request", "the request target is not a valid path");
		return;
	}
	const char *q = evhttp_uri_get_query(uri);
	if (q) {
		if (http_parse_form(q, &r->query) != 0) {
			http_reply_error(r, 400, "bad_query", "the query string is malformed");
			return;
		}
		r->query_parsed = true;
	}

	const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	char allow[64] = "";
	for (size_t i = 0; i < w->nroutes; i++) {
		const struct route *rt = &w->routes[i];
		if (!match(rt->pattern, path, r))
			continue;
		if (strcmp(rt->method, m) == 0) {
			r->route = rt;
			r->route_idx = (int)i;
			break;
		}
		for (int k = 0; k < r->nparams; k++) {
			free(r->params[k]);
			r->params[k] = NULL;
		}
		r->nparams = 0;
		if (!strstr(allow, rt->method) && strlen(allow) + strlen(rt->method) + 3 < sizeof allow) {
			if (*allow)
				strcat(allow, ", ");
			strcat(allow, rt->method);
		}
	}
	if (!r->route) {
		if (*allow) {
			http_header(r, "Allow", allow);
			http_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; use %s", r->method, allow);
		} else {
			http_reply_error(r, 404, "not_found", "there is nothing at this address");
		}
		return;
	}
	if (evbuffer_get_length(evhttp_request_get_input_buffer(ev)) > w->loop.cfg->max_body) {
		http_reply_error(r, 413, "body_too_large", "the request body is larger than %zu bytes", w->loop.cfg->max_body);
		return;
	}
	r->route->fn(r);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void close_listener(evutil_socket_t fd, short what, void *arg);

static void worker_finish(struct worker *w)
{
	event_del(w->drain_ev);
	db_pool_free(w->loop.db);      /* queued queries answer 503 through their callbacks */
	w->loop.db = NULL;
	if (w->loop.inflight == 0) {
		evhttp_free(w->http);
		w->http = NULL;
	} else {
		log_kv(LOG_WARN, "shutdown timeout: abandoning in-flight requests", NULL);
	}
	event_base_loopexit(w->base, NULL);
	close_listener(-1, 0, w);   /* if on_stop's was not due yet: this loop waits no more */
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	uint64_t now = mono_us();
	bool idle = w->loop.inflight == 0 && !janitor_busy(w->janitor);
	if (idle && !w->idle_since_us)
		w->idle_since_us = now;
	/* all answered and written out (a client gone mid-write never completes: give it 1 s) */
	bool flushed = w->loop.unsent == 0 || (w->idle_since_us && now - w->idle_since_us > 1000000u);
	if ((idle && flushed) || now >= w->drain_deadline_us)
		worker_finish(w);
}

static void close_listener(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	if (w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct worker *w = arg;
	char b;
	if (read(fd, &b, 1) != 1 || w->loop.draining)
		return;
	w->loop.draining = 1;
	janitor_stop(w->janitor);
	refusals_stop(w->refusals);   /* a last flush (the log and metrics have every refusal anyway) */
	w->refusals = NULL;
	if (w->bound) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
		/* The loop applies the removal from epoll when it next waits (changelist, see worker_init);
		 * this worker's dup of the listener is closed just after, so epoll never keeps a
		 * registration of the still-open listening socket under a closed descriptor. */
		struct timeval soon = {0, 1};
		if (event_base_once(w->base, -1, EV_TIMEOUT, close_listener, w, &soon) != 0)
			close_listener(-1, 0, w);
	}
	w->drain_deadline_us = mono_us() + (uint64_t)w->loop.cfg->shutdown_timeout * 1000000u;
	struct timeval tv = {0, 20000};
	event_add(w->drain_ev, &tv);
	on_drain(-1, 0, w);
}

/* One loop turn at a time, so the access-log lines of a turn leave in one write(2) before the loop
 * waits again (and before the responses of that turn reach the sockets, as before). */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	log_batch_begin();
	while (event_base_loop(w->base, EVLOOP_ONCE) == 0 && !event_base_got_exit(w->base) &&
	       !event_base_got_break(w->base))
		log_flush();
	log_batch_end();
	atomic_fetch_add(&workers_done, 1);
	return NULL;
}

static int worker_init(struct worker *w, int fd)
{
	w->listen_fd = -1;
	/* with the epoll changelist (http_base_new): 4 epoll_ctl per keep-alive request become 2-3; its one
	 * hazard, a dup()ed descriptor closed while registered, is handled in on_stop */
	w->base = http_base_new();
	w->http = w->base ? evhttp_new(w->base) : NULL;
	if (!w->http)
		return -1;
	/* Bodies above the limit are answered with a JSON 413 by on_request; far larger ones are
	 * refused by evhttp itself (its own 413) before they are read into memory. */
	evhttp_set_max_body_size(w->http, (ev_ssize_t)(w->loop.cfg->max_body * 4));
	evhttp_set_max_headers_size(w->http, 16 * 1024);
	evhttp_set_timeout(w->http, 30);
	/* Every method reaches the router: those libevent knows get 405 with Allow (or 404), so TRACE and
	 * CONNECT get a 4xx instead of libevent's own 501; a method libevent does not know comes with the
	 * type METHOD_UNKNOWN and gets our 501 with the JSON envelope. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
						    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | METHOD_UNKNOWN);
	evhttp_set_default_content_type(w->http, "application/json");
	evhttp_set_gencb(w->http, on_request, w);
	if (!(w->intake = intake_new(w->loop.cfg, tls_ctx)))
		return -1;
	evhttp_set_bevcb(w->http, intake_bev, w->intake);
	w->listen_fd = dup(fd);
	if (w->listen_fd < 0)
		return -1;
	/* As evhttp_accept_socket_with_handle does, but the descriptor stays ours to close (on_stop). */
	struct evconnlistener *lev = evconnlistener_new(w->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
						     0, w->listen_fd);
	w->bound = lev ? evhttp_bind_listener(w->http, lev) : NULL;
	if (!w->bound) {
		if (lev)
			evconnlistener_free(lev);
		return -1;
	}
	if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ | EV_PERSIST, on_stop, w);
	w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain, w);
	if (!w->stop_ev || !w->drain_ev || event_add(w->stop_ev, NULL) != 0)
		return -1;
	w->loop.db = db_pool_new(w->base, w->loop.cfg->database_url, w->loop.cfg->db_pool, w->loop.cfg->db_timeout_ms);
	if (!w->loop.db || !(w->loop.offload = offload_new(w->base)))
		return -1;
	w->actx = calloc(w->nactive ? w->nactive : 1, sizeof *w->actx);
	w->loop.adapters = calloc(w->nactive ? w->nactive : 1, sizeof *w->loop.adapters);
	if (!w->actx || !w->loop.adapters)
		return -1;
	w->loop.nadapters = w->nactive;
	for (size_t i = 0; i < w->nactive; i++) {
		struct adapter_ctx *ac = &w->actx[i];
		w->loop.adapters[i] = (struct loop_adapter){w->active[i], ac};
		ac->adapter = w->active[i];
		ac->base = w->base;
		ac->cfg = w->loop.cfg;
		char err[256] = "";
		if (ac->adapter->init && ac->adapter->init(ac, err) != 0) {
			fprintf(stderr, "gatewayd: adapter %s: %s\n", ac->adapter->name, err);
			ac->adapter = NULL;       /* not initialised: no fini */
			return -2;
		}
	}
	if (w->idx == 0 && w->loop.cfg->janitor_interval > 0 &&
	    !(w->janitor = janitor_start(w->base, w->loop.db, w->loop.cfg, w->actx, w->nactive)))
		return -1;
	if (w->idx == 0 && !(w->refusals = refusals_start(w->base, w->loop.db, w->loop.cfg->partner_tz)))
		return -1;
	unsigned char seed[8];
	if (RAND_bytes(seed, sizeof seed) != 1)
		return -1;
	memcpy(&w->rid_seed, seed, sizeof seed);
	return 0;
}

static void worker_free(struct worker *w)
{
	janitor_free(w->janitor);
	refusals_stop(w->refusals);
	for (size_t i = 0; w->actx && i < w->nactive; i++)
		if (w->actx[i].adapter && w->actx[i].adapter->fini)
			w->actx[i].adapter->fini(&w->actx[i]);
	free(w->actx);
	free(w->loop.adapters);
	if (w->loop.offload)
		offload_free(w->loop.offload);
	if (w->loop.db)
		db_pool_free(w->loop.db);
	if (w->http)
		evhttp_free(w->http);
	intake_free(w->intake);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->stop_pipe[0] > 0) {
		close(w->stop_pipe[0]);
		close(w->stop_pipe[1]);
	}
	if (w->base)
		event_base_free(w->base);
}

/* Opens the listening socket; a one-line message on failure. */
static int open_listener(const struct config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cfg->listen_host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(cfg->listen_port);
		sl = sizeof *a4;
	} else if (inet_pton(AF_INET6, cfg->listen_host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(cfg->listen_port);
		sl = sizeof *a6;
	} else {
		fprintf(stderr, "gatewayd: GATEWAY_LISTEN: %s is not an IP address\n", cfg->listen_host);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		fprintf(stderr, "gatewayd: cannot listen on %s:%u: %s\n", cfg->listen_host, cfg->listen_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int server_run(const struct config *cfg, const struct route *routes, size_t nroutes,
	       const struct adapter *const *active, size_t nactive)
{
	int rc = 1;
	if (cfg->tls_cert) {
		char err[256];
		if (!(tls_ctx = tls_server_ctx(cfg->tls_cert, cfg->tls_key, err))) {
			fprintf(stderr, "gatewayd: %s\n", err);
			return 2;
		}
	}
	int fd = open_listener(cfg);
	if (fd < 0)
		return 1;

	/* Signals go to the main thread only (sigwait); workers inherit the blocked mask. */
	sigset_t set;
	signal(SIGTERM, SIG_DFL);   /* a parent may have left them ignored; sigwait needs them deliverable */
	signal(SIGINT, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct worker *ws = calloc((size_t)cfg->threads, sizeof *ws);
	if (!ws) {
		close(fd);
		return 1;
	}
	int started = 0;
	for (int i = 0; i < cfg->threads; i++) {
		ws[i].idx = i;
		ws[i].loop.cfg = cfg;
		ws[i].routes = routes;
		ws[i].nroutes = nroutes;
		ws[i].active = active;
		ws[i].nactive = nactive;
		ws[i].stop_pipe[0] = ws[i].stop_pipe[1] = -1;
		int ir = worker_init(&ws[i], fd);
		if (ir == -1)
			fprintf(stderr, "gatewayd: cannot start event loop %d: %s\n", i, strerror(errno));
		if (ir != 0)
			goto out;
	}
	close(fd);
	fd = -1;
	for (; started < cfg->threads; started++)
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
			fprintf(stderr, "gatewayd: cannot start a thread\n");
			goto stop;
		}

	char addr[96], th[16];
	snprintf(addr, sizeof addr, "%s%s%s:%u", strchr(cfg->listen_host, ':') ? "[" : "", cfg->listen_host,
		 strchr(cfg->listen_host, ':') ? "]" : "", cfg->listen_port);
	snprintf(th, sizeof th, "%d", cfg->threads);
	log_kv(LOG_INFO, "listening", "addr", addr, "threads", th, NULL);
	if (server_sidecar.ready && server_sidecar.ready(cfg) != 0)
		goto stop;

	int sig = 0;
	sigwait(&set, &sig);
	log_kv(LOG_INFO, "shutting down: finishing in-flight requests", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	rc = 0;
stop:
	for (int i = 0; i < started; i++) {
		ssize_t wr = write(ws[i].stop_pipe[1], "x", 1);
		(void)wr;
	}
	/* Wait for the workers to drain; a second signal meanwhile stops at once. */
	while (atomic_load(&workers_done) < started) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		siginfo_t si;
		int waited = sigtimedwait(&set, &si, &ts);
		if (waited == SIGINT || waited == SIGTERM) {
			log_kv(LOG_WARN, "second signal: exiting without draining", NULL);
			_exit(1);
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	if (server_sidecar.done)
		server_sidecar.done();
	log_kv(LOG_INFO, "stopped", NULL);
out:
	for (int i = 0; i < cfg->threads; i++)
		worker_free(&ws[i]);
	free(ws);
	if (fd >= 0)
		close(fd);
	return rc;
}
