/* http_retry.c — a provider call repeated on transient answers (see http_retry.h). */
#include "http_retry.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#define HEADERS_MAX 16

struct retry_call {
	struct http_client *c;
	struct hc_retry policy;
	hc_retry_cb cb;
	void *arg;
	int sent;
	struct event *pause;
	struct hc_request rq;
	const char *headers[2 * HEADERS_MAX + 1];
	size_t size;                  /* of the whole block, wiped at the end */
	char text[];                  /* method, url, header names and values, body */
};

bool hc_transient(const struct hc_response *r)
{
	return r->error == HC_TIMEOUT || r->error == HC_CONNECT || r->error == HC_PROTOCOL ||
	       (r->error == HC_OK && (r->status >= 500 || r->status == 429));
}

static void call_free(struct retry_call *k)
{
	if (k->pause)
		event_free(k->pause);
	OPENSSL_cleanse(k, k->size);
	free(k);
}

static void send_once(struct retry_call *k);

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_once(arg);
}

static void on_answer(const struct hc_response *r, void *arg)
{
	struct retry_call *k = arg;
	bool again = k->policy.transient ? k->policy.transient(r, k->arg) : hc_transient(r);
	if (again && k->sent < k->policy.attempts) {
		if (!k->pause)
			k->pause = evtimer_new(http_client_base(k->c), on_pause, k);
		struct timeval tv = {0, 0};
		long us = (long)k->policy.pause_ms * 1000L * k->sent;
		tv.tv_sec = us / 1000000L;
		tv.tv_usec = (suseconds_t)(us % 1000000L);
		if (k->pause && evtimer_add(k->pause, &tv) == 0)
			return;
	}
	k->cb(r, k->sent, k->arg);
	call_free(k);
}

static void send_once(struct retry_call *k)
{
	k->sent++;
	http_client_request(k->c, &k->rq, on_answer, k);
}

/* Copies s into the block at *at; returns the copy. */
static const char *put(char **at, const char *s, size_t n)
{
	char *d = *at;
	memcpy(d, s, n);
	d[n] = '\0';
	*at += n + 1;
	return d;
}

void hc_request_retry(struct http_client *c, const struct hc_request *rq, const struct hc_retry *policy,
		      hc_retry_cb cb, void *arg)
{
	size_t nh = 0, need = strlen(rq->method) + strlen(rq->url) + rq->body_len + 3;
	while (rq->headers && rq->headers[nh])
		nh++;
	struct hc_response oom = {.error = HC_CONNECT, .body = "", .message = "out of memory"};
	if (nh % 2 != 0 || nh > 2 * HEADERS_MAX) {
		oom.message = "too many request headers";
		cb(&oom, 0, arg);
		return;
	}
	for (size_t i = 0; i < nh; i++)
		need += strlen(rq->headers[i]) + 1;
	size_t size = sizeof(struct retry_call) + need;
	struct retry_call *k = calloc(1, size);
	if (!k) {
		cb(&oom, 0, arg);
		return;
	}
	k->size = size;
	k->c = c;
	k->policy = *policy;
	if (k->policy.attempts < 1)
		k->policy.attempts = 1;
	k->cb = cb;
	k->arg = arg;
	char *at = k->text;
	k->rq = *rq;
	k->rq.method = put(&at, rq->method, strlen(rq->method));
	k->rq.url = put(&at, rq->url, strlen(rq->url));
	for (size_t i = 0; i < nh; i++)
		k->headers[i] = put(&at, rq->headers[i], strlen(rq->headers[i]));
	k->headers[nh] = NULL;
	k->rq.headers = nh ? k->headers : NULL;
	k->rq.body = rq->body ? put(&at, rq->body, rq->body_len) : NULL;
	send_once(k);
}
