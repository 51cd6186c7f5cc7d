/* http.c — request accessors and replies for route handlers (the evhttp side of a request). */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/util.h>

#include "clock.h"
#include "jsonw.h"
#include "loop.h"
#include "log.h"
#include "metrics.h"

const char *req_param(const struct req *r, int i) { return i >= 0 && i < r->nparams ? r->params[i] : NULL; }

int http_parse_form(const char *s, struct evkeyvalq *q)
{
	if (evhttp_parse_query_str(s, q) != 0)
		return -1;
	/* evhttp makes one entry per '&'-separated segment, in order (a segment without '=' or with an
	 * empty name fails the whole string rather than being skipped), and decodes values only: a value
	 * whose text holds %00 was cut at the NUL it decoded to */
	const char *seg = s;
	for (struct evkeyval *kv = q->tqh_first; kv && seg; kv = kv->next.tqe_next) {
		const char *amp = strchr(seg, '&');
		size_t n = amp ? (size_t)(amp - seg) : strlen(seg);
		const char *eq = memchr(seg, '=', n);
		if (eq && memmem(eq, n - (size_t)(eq - seg), "%00", 3)) {
			free(kv->value);
			kv->value = NULL;
		}
		seg = amp ? amp + 1 : NULL;
	}
	return 0;
}

int req_query(struct req *r, const char *name, const char **out)
{
	*out = NULL;
	if (!r->query_parsed)
		return 0;
	bool seen = false;
	for (struct evkeyval *kv = r->query.tqh_first; kv; kv = kv->next.tqe_next) {
		if (strcmp(kv->key, name) != 0)
			continue;
		if (seen || !kv->value) {
			*out = NULL;
			return -1;
		}
		seen = true;
		*out = kv->value;
	}
	return 0;
}

const char *req_client_addr(const struct req *r) { return r->peer; }

const char *req_header(const struct req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const char *req_body(struct req *r, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	*len = evbuffer_get_length(in);
	if (*len == 0)
		return "";
	return (const char *)evbuffer_pullup(in, -1);
}

json_t *req_json(struct req *r)
{
	const char *ct = req_header(r, "Content-Type");
	if (!ct || (strncasecmp(ct, "application/json", 16) != 0 ||
		    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))) {
		http_reply_error(r, 415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
		return NULL;
	}
	size_t len;
	const char *body = req_body(r, &len);
	if (len == 0) {
		http_reply_error(r, 400, "invalid_json", "the request body is empty; a JSON object is expected");
		return NULL;
	}
	json_error_t e;
	/* JSON_REJECT_DUPLICATES: {"amount":"1","amount":"1000"} is an attack, not a request. */
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		http_reply_error(r, 400, "invalid_json", "the body is not valid JSON: %s (line %d, column %d)", e.text,
				 e.line, e.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(r, 400, "invalid_json", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

bool req_wants_html(const struct req *r)
{
	const char *a = req_header(r, "Accept");
	if (!a)
		return false;
	const char *h = strstr(a, "text/html");
	const char *j = strstr(a, "application/json");
	return h && (!j || h < j);
}

struct db_pool *req_db(const struct req *r) { return r->loop->db; }
struct offload *req_offload(const struct req *r) { return r->loop->offload; }
const struct config *req_config(const struct req *r) { return r->loop->cfg; }
struct adapter_ctx *req_adapter_ctx(const struct req *r, const struct adapter *a)
{
	if (!a)
		a = r->route ? r->route->adapter : NULL;
	for (size_t i = 0; a && i < r->loop->nadapters; i++)
		if (r->loop->adapters[i].adapter == a)
			return r->loop->adapters[i].ctx;
	return NULL;
}

void http_header(struct req *r, const char *name, const char *value)
{
	if (strcasecmp(name, "Cache-Control") == 0)
		r->set_cache_control = true;
	else if (strcasecmp(name, "Date") == 0)
		r->set_date = true;
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

/* The Date header evhttp would add to an HTTP/1.1 response, made once a second per thread instead
 * of once a response (same text, same place: after ours, before Content-Length). */
static const char *date_now(void)
{
	static _Thread_local time_t made = -1;
	static _Thread_local char text[64];
	time_t now = time(NULL);
	if (now != made) {
		struct tm tm;
		gmtime_r(&now, &tm);
		evutil_date_rfc1123(text, sizeof text, &tm);
		made = now;
	}
	return text;
}

static void on_reply_sent(struct evhttp_request *ev, void *arg)
{
	(void)ev;
	struct loop *l = arg;
	l->unsent--;
}

/* A reply is written by evhttp after evhttp_send_reply returns; the server's drain waits until the
 * loop's unsent count is 0, so that freeing evhttp cannot cut the last replies short. Only replies
 * with a live connection complete. */
static void reply_sending(struct req *r)
{
	if (evhttp_request_get_connection(r->ev)) {
		r->loop->unsent++;
		evhttp_request_set_on_complete_cb(r->ev, on_reply_sent, r->loop);
	}
}

/* The request has been answered: its access-log line and metrics, then it is freed. */
static void request_done(struct req *r, int status)
{
	struct loop *lp = r->loop;
	uint64_t us = mono_us() - r->start_us;
	metrics_request(r->route_idx, status, us);
	struct log_line l;
	log_begin(&l, status >= 500 ? LOG_WARN : LOG_INFO, "request");
	log_str(&l, "rid", r->rid);
	log_str(&l, "method", r->method);
	log_str(&l, "route", r->route ? r->route->pattern : "unmatched");
	log_str(&l, "payment", r->log_payment);
	log_int(&l, "status", status);
	log_int(&l, "us", (long long)us);
	log_str(&l, "peer", r->peer);
	log_str(&l, "proxy", r->proxy[0] ? r->proxy : NULL);
	log_end(&l);
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	if (r->query_parsed)
		evhttp_clear_headers(&r->query);
	free(r);
	lp->inflight--;
	metrics_add(M_HTTP_INFLIGHT, -1);
}

void http_reply_raw(struct req *r, int status, const char *content_type, const char *data, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Request-Id", r->rid);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (!r->set_cache_control)     /* reply headers come only through http_header: no list walk */
		evhttp_add_header(h, "Cache-Control", "no-store");
	if (r->loop->draining)
		evhttp_add_header(h, "Connection", "close");
	if (r->ev->major == 1 && r->ev->minor >= 1 && !r->set_date)
		evhttp_add_header(h, "Date", date_now());
	if (len)
		evbuffer_add(evhttp_request_get_output_buffer(r->ev), data, len);
	reply_sending(r);
	evhttp_send_reply(r->ev, status, NULL, NULL);
	request_done(r, status);
}

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

void http_reply_json(struct req *r, int status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!s) {
		http_reply_raw(r, 503, "application/json", oom_body, sizeof oom_body - 1);
		return;
	}
	http_reply_raw(r, status, "application/json", s, strlen(s));
	free(s);
}

void http_reply_jw(struct req *r, int status, struct jsonw *w)
{
	size_t len;
	const char *s = jw_text(w, &len);
	if (!s)
		http_reply_raw(r, 503, "application/json", oom_body, sizeof oom_body - 1);
	else
		http_reply_raw(r, status, "application/json", s, len);
	jw_free(w);
}

/* {"error":{"code":code,"message":msg}}; false when a string is not valid UTF-8 (or no memory). */
static bool error_doc(struct jsonw *w, const char *code, const char *msg)
{
	jw_init(w);
	jw_obj_begin(w, NULL);
	jw_obj_begin(w, "error");
	jw_str(w, "code", code);
	jw_str(w, "message", msg);
	jw_obj_end(w);
	jw_obj_end(w);
	size_t len;
	return jw_text(w, &len) != NULL;
}

void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* The message may quote client input; invalid UTF-8 is not echoed back. */
	struct jsonw w;
	if (!error_doc(&w, code, msg)) {
		jw_free(&w);
		error_doc(&w, code, "the request contains bytes that are not valid UTF-8");
	}
	http_reply_jw(r, status, &w);
}
