/* hello.c — the bare evhttp baseline for `make bench`: one thread, one route, a fixed JSON body,
 * the same libevent the gateway uses. What /healthz is measured against.
 * usage: hello PORT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	static const char body[] = "{\"status\":\"ok\"}";
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(out, body, sizeof body - 1);
	evhttp_send_reply(req, 200, "OK", NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0) {
		fprintf(stderr, "hello: cannot bind\n");
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
