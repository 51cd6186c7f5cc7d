/* fuzz_rbs.c — RBS callbacks (GET query or POSTed form to /v1/notifications/rbs) and their checksum.
 * Input: the first byte chooses query (odd) or form body (even), the rest is the text.
 * Properties:
 *   - nothing is accepted unless its checksum is the HMAC-SHA256, computed here independently, of
 *     the other parameters sorted by name ("name;value;..."), and the callback names an order with a
 *     sane id and has no repeated parameter;
 *   - the same text, signed here with the right key, is accepted exactly when it has mdOrder,
 *     operation and status once each, no parameter twice and a valid order id — the verifier neither
 *     refuses good callbacks nor lets others through; its verdict follows status/operation;
 *   - rbs_checksum itself agrees with the independent computation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "adapter.h"
#include "config.h"
#include "fuzz_util.h"
#include "rbs.h"

extern const struct adapter rbs_adapter;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char KEY[] = "fuzz-rbs-callback-key-0123456789";

static int cmp_kv(const void *a, const void *b)
{
	const struct evkeyval *x = *(const struct evkeyval *const *)a, *y = *(const struct evkeyval *const *)b;
	return strcmp(x->key, y->key);
}

/* Independent checksum: -1 when there is nothing (or too much) to sign. */
static int ref_checksum(const struct evkeyvalq *q, char out[65])
{
	const struct evkeyval *v[256];
	size_t n = 0;
	for (const struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next) {
		if (!strcmp(kv->key, "checksum") || !strcmp(kv->key, "sign_alias"))
			continue;
		if (n == 64)
			return -1;
		v[n++] = kv;
	}
	if (n == 0)
		return -1;
	qsort(v, n, sizeof v[0], cmp_kv);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]->key) + strlen(v[i]->value) + 2;
	char *s = malloc(len + 1), *w = s;
	if (!s)
		abort();
	for (size_t i = 0; i < n; i++)
		w += sprintf(w, "%s;%s;", v[i]->key, v[i]->value);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (const unsigned char *)s, len, md, &mdlen) || mdlen != 32)
		abort();
	free(s);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02X", md[i]);
	return 0;
}

static bool has_dup(const struct evkeyvalq *q)
{
	for (const struct evkeyval *a = q->tqh_first; a; a = a->next.tqe_next)
		if (fz_count(q, a->key, false) > 1)
			return true;
	return false;
}

/* The first value of k (names are case-sensitive here, unlike evhttp_find_header). */
static const char *find(const struct evkeyvalq *q, const char *k)
{
	for (const struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next)
		if (strcmp(kv->key, k) == 0)
			return kv->value;
	return NULL;
}

static bool order_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static struct adapter_ctx *ctx(void)
{
	static struct config cfg;
	static struct adapter_ctx c;
	static int ready;
	if (!ready) {
		cfg.rbs_url = (char *)"https://rbs.invalid";
		cfg.rbs_user = (char *)"user";
		cfg.rbs_password = (char *)"password";
		cfg.rbs_callback_key = (char *)KEY;
		cfg.public_url = (char *)"https://pay.example";
		cfg.provider_timeout_ms = 1000;
		cfg.pending_expire = 3600;
		c.adapter = &rbs_adapter;
		c.cfg = &cfg;
		c.base = event_base_new();
		char err[256];
		if (!c.base || rbs_adapter.init(&c, err) != 0)
			abort();
		ready = 1;
	}
	return &c;
}

/* Runs the adapter's verifier; 1 accepted (checked against the text), 0 refused. */
static int verify(const char *text, size_t len, bool query)
{
	if (query)
		len = strlen(text);     /* the server hands over the query as a C string */
	struct adapter_notification in = {query ? NULL : text, query ? 0 : len, "application/x-www-form-urlencoded",
					  query ? text : NULL, "127.0.0.1", NULL, NULL};
	struct adapter_reply rep;
	memset(&rep, 0, sizeof rep);
	int rc = rbs_adapter.notification(ctx(), &in, &rep);
	if (rc != 0) {
		adapter_reply_clear(&rep);
		return 0;
	}
	/* Accepted: re-derive everything independently. */
	struct evkeyvalq q;
	fz_queue_init(&q);
	if (memchr(text, '\0', len) || fz_nul_values(text, NULL, false) || evhttp_parse_query_str(text, &q) != 0 ||
	    has_dup(&q))
		abort();
	const char *given = find(&q, "checksum"), *md = find(&q, "mdOrder"), *op = find(&q, "operation"),
		   *st = find(&q, "status");
	char want[65];
	if (!given || !md || !op || !st || ref_checksum(&q, want) != 0 || strlen(given) != 64 || strcasecmp(given, want) != 0)
		abort();
	if (!order_ok(md) || strcmp(rep.provider_id, md) != 0)
		abort();
	enum adapter_status exp = strcmp(st, "1") != 0 ? AS_FAILED : strcmp(op, "deposited") == 0 ? AS_SUCCEEDED : AS_UNKNOWN;
	if (rep.status != exp || rep.outcome != AO_OK)
		abort();
	evhttp_clear_headers(&q);
	adapter_reply_clear(&rep);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16384)
		return 0;
	bool query = data[0] & 1;
	bool lower = data[0] & 2;
	char *text = malloc(size + 100);
	if (!text)
		abort();
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	size_t len = size - 1;
	verify(text, len, query);

	/* rbs_checksum against the independent one, on whatever the text parses to. */
	struct evkeyvalq q;
	fz_queue_init(&q);
	if (!memchr(text, '\0', len) && evhttp_parse_query_str(text, &q) == 0) {
		char a[65], b[65];
		int ra = rbs_checksum(&q, KEY, a), rb = ref_checksum(&q, b);
		if (ra != rb || (ra == 0 && strcmp(a, b) != 0))
			abort();
	}
	evhttp_clear_headers(&q);

	/* Signed with the right key: accepted exactly when the callback is well-formed. */
	if (memchr(text, '\0', len) || len > 4000)
		goto out;
	char *signed_text = malloc(len + 100);
	if (!signed_text)
		abort();
	int n = snprintf(signed_text, len + 100, "%s%schecksum=PLACEHOLDER", text, len ? "&" : "");
	fz_queue_init(&q);
	char sum[65];
	if (evhttp_parse_query_str(signed_text, &q) == 0 && ref_checksum(&q, sum) == 0) {
		if (lower)
			for (char *p = sum; *p; p++)
				if (*p >= 'A' && *p <= 'F')
					*p = (char)(*p - 'A' + 'a');
		n = snprintf(signed_text, len + 100, "%s%schecksum=%s", text, len ? "&" : "", sum);
		const char *md = find(&q, "mdOrder");
		bool expect = !has_dup(&q) && !fz_nul_values(text, NULL, false) && md && find(&q, "operation") &&
			      find(&q, "status") && order_ok(md) &&
			      (query || (size_t)n < 8192);
		if (verify(signed_text, (size_t)n, query) != (int)expect)
			abort();
	}
	evhttp_clear_headers(&q);
	free(signed_text);
out:
	free(text);
	return 0;
}
