/* http.h — what a route handler sees of an HTTP request: path parameters, query, headers, body,
 * and the ways to answer (JSON, JSON error envelope, raw bytes). Every request is answered exactly
 * once through one of the http_reply* functions, possibly later from an async callback. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/keyvalq_struct.h>
#include <jansson.h>

struct evhttp_request;
struct loop;
struct config;
struct db_pool;
struct req;
struct adapter;
struct adapter_ctx;

typedef void (*route_fn)(struct req *r);

/* One row of the route table: method + path pattern ("{name}" matches one segment) -> handler. */
struct route {
	const char *method;       /* "GET", "POST", ... (HEAD is served by GET routes) */
	const char *pattern;      /* "/v1/payments/{id}" */
	route_fn fn;
	const struct adapter *adapter;  /* the adapter serving this route, NULL for the core (set by the table builder) */
};

#define REQ_MAX_PARAMS 4

/* Per-request state; owned by the server from the request's arrival until its reply. */
struct req {
	struct evhttp_request *ev;
	struct loop *loop;        /* the event loop serving it (loop.h) */
	const struct route *route;
	int route_idx;            /* index into the route table, -1 when none matched */
	char rid[40];             /* request id (X-Request-Id) */
	const char *method;       /* "GET", ... */
	uint64_t start_us;
	int nparams;
	char *params[REQ_MAX_PARAMS];   /* decoded path parameters (owned) */
	struct evkeyvalq query;   /* parsed query string */
	bool query_parsed;
	char peer[48];            /* the client's address (text): the TCP peer, or who a trusted proxy says */
	char proxy[48];           /* the trusted proxy it came through ("" when the client is the TCP peer) */
	bool set_cache_control;   /* the handler gave Cache-Control / Date (http_header): not defaulted */
	bool set_date;
	const char *log_payment;  /* payment id to put on the access-log line, if any (borrowed) */
	char log_id[40];          /* storage a handler may point log_payment at */
};

/* Accessors. Strings are borrowed from the request and valid until its reply. */
const char *req_param(const struct req *r, int i);
/* Query parameter by name: 0 and *out (NULL when absent); -1 when given more than once or when its
 * value holds a NUL byte once decoded (a C string would end there): the route refuses both. */
int req_query(struct req *r, const char *name, const char **out);
/* Parses a query string or an application/x-www-form-urlencoded body into q as
 * evhttp_parse_query_str does, except that a value holding a NUL byte once decoded (%00) is kept
 * with a NULL value: absent to evhttp_find_header, -1 to req_query and term_param. Returns 0 or -1
 * (malformed); q must be freed with evhttp_clear_headers either way. */
int http_parse_form(const char *s, struct evkeyvalq *q);
/* The client's address: the TCP peer, or the client a trusted proxy names (GATEWAY_TRUSTED_PROXIES).
 * Everything that asks who sent a request asks this. */
const char *req_client_addr(const struct req *r);
const char *req_header(const struct req *r, const char *name);
/* The body as one contiguous block (may contain NUL bytes); *len is its size. */
const char *req_body(struct req *r, size_t *len);
/* Parses the body as a JSON object (Content-Type must be JSON). On failure the request has
 * already been answered with 400/415 and NULL is returned; on success the caller owns the object. */
json_t *req_json(struct req *r);
/* The client accepts text/html more than JSON (for pages that have both forms). */
bool req_wants_html(const struct req *r);
struct db_pool *req_db(const struct req *r);
/* The loop's inbox of blocking work done on the offload pool (offload.h). */
struct offload *req_offload(const struct req *r);
/* This event loop's context of adapter a (NULL when a is not active); with a NULL a, the context of
 * the adapter that owns the matched route. */
struct adapter_ctx *req_adapter_ctx(const struct req *r, const struct adapter *a);
const struct config *req_config(const struct req *r);

/* Adds a response header before the reply. */
void http_header(struct req *r, const char *name, const char *value);
/* Replies with body (steals the reference); Content-Type application/json. */
void http_reply_json(struct req *r, int status, json_t *body);
/* Replies {"error":{"code":code,"message":message}}. */
void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replies with the document of a JSON writer (jsonw.h) and frees it; 503 when it failed. */
struct jsonw;
void http_reply_jw(struct req *r, int status, struct jsonw *w);
/* Replies with raw bytes of the given content type. */
void http_reply_raw(struct req *r, int status, const char *content_type, const char *data, size_t len);

#endif
