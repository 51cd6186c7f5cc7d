/* fuzz_yookassa.c — YooKassa notifications (POST /v1/notifications/yookassa): the source-network
 * check (GATEWAY_YOOKASSA_ALLOW_CIDRS, IPv4, IPv6 and IPv4-mapped peers) and the JSON body.
 * Input: line 1 the peer address, the rest the body.
 * Properties: a notification is accepted exactly when the peer lies in an allowed network (decided
 * here independently) and the body is a JSON object without repeated keys, of type "notification",
 * whose event is payment.* (naming object.id) or refund.* (naming object.payment_id) with an id of
 * 1..64 safe characters; then the reply names that id and claims no status of its own (the core
 * re-reads the payment from the API). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <jansson.h>

#include "adapter.h"
#include "config.h"
#include "fuzz_util.h"
#include "log.h"

extern const struct adapter yookassa_adapter;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CIDRS[] = "185.71.76.0/27, 77.75.156.11,77.75.154.128/25 ,2a02:5180::/32,127.0.0.0/8";

static struct adapter_ctx *ctx(void)
{
	static struct config cfg;
	static struct adapter_ctx c;
	static int ready;
	if (!ready) {
		log_set_level(LOG_ERROR);
		cfg.yookassa_url = (char *)"https://yookassa.invalid/v3";
		cfg.yookassa_shop_id = (char *)"123456";
		cfg.yookassa_secret_key = (char *)"test_secret";
		cfg.yookassa_allow_cidrs = (char *)CIDRS;
		cfg.provider_timeout_ms = 1000;
		c.adapter = &yookassa_adapter;
		c.cfg = &cfg;
		c.base = event_base_new();
		char err[256];
		if (!c.base || yookassa_adapter.init(&c, err) != 0)
			abort();
		ready = 1;
	}
	return &c;
}

/* Independent membership: bit by bit. */
static bool in_net(const unsigned char *a, const unsigned char *net, int bits)
{
	for (int i = 0; i < bits; i++) {
		int m = 0x80 >> (i % 8);
		if ((a[i / 8] & m) != (net[i / 8] & m))
			return false;
	}
	return true;
}

static bool ref_allowed(const char *peer)
{
	unsigned char a[16], n[16];
	if (inet_pton(AF_INET6, peer, a) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) != 0) {
			inet_pton(AF_INET6, "2a02:5180::", n);
			return in_net(a, n, 32);
		}
		memmove(a, a + 12, 4);
	} else if (inet_pton(AF_INET, peer, a) != 1) {
		return false;
	}
	static const struct {
		const char *net;
		int bits;
	} v4[] = {{"185.71.76.0", 27}, {"77.75.156.11", 32}, {"77.75.154.128", 25}, {"127.0.0.0", 8}};
	for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
		inet_pton(AF_INET, v4[i].net, n);
		if (in_net(a, n, v4[i].bits))
			return true;
	}
	return false;
}

static bool id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fields in;
	fz_split(&in, data, size, 2);
	struct adapter_notification n = {in.f[1], in.len[1], "application/json", NULL, in.f[0], NULL, NULL};
	struct adapter_reply rep;
	memset(&rep, 0, sizeof rep);
	int rc = yookassa_adapter.notification(ctx(), &n, &rep);

	const char *want = NULL;
	json_t *j = json_loadb(in.f[1], in.len[1], JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j) && ref_allowed(in.f[0])) {
		const char *type = json_string_value(json_object_get(j, "type"));
		const char *event = json_string_value(json_object_get(j, "event"));
		json_t *obj = json_object_get(j, "object");
		if (type && event && !strcmp(type, "notification") && json_is_object(obj)) {
			if (!strncmp(event, "payment.", 8))
				want = json_string_value(json_object_get(obj, "id"));
			else if (!strncmp(event, "refund.", 7))
				want = json_string_value(json_object_get(obj, "payment_id"));
		}
		if (!id_ok(want))
			want = NULL;
	}
	if ((rc == 0) != (want != NULL))
		abort();
	if (rc == 0 && (strcmp(rep.provider_id, want) != 0 || rep.status != AS_UNKNOWN || rep.outcome != AO_OK))
		abort();
	json_decref(j);
	adapter_reply_clear(&rep);
	fz_free(&in);
	return 0;
}
