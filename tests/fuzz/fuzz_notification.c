/* fuzz_notification.c — provider notification verification (the sandbox acquirer's signed
 * JSON): arbitrary bodies and signatures never crash, and nothing unsigned is accepted. The first
 * line of the input is the X-Sandbox-Signature header, the rest the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "crypto.h"

extern const struct adapter sandbox_adapter;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sig_header[200];

static const char *header(const struct req *r, const char *name)
{
	(void)r;
	(void)name;
	return sig_header;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static struct adapter_ctx ctx;
	static int ready;
	static const char secret[] = "fuzz-sandbox-secret-0123456789";
	if (!ready) {
		cfg.sandbox_secret = (char *)secret;
		strcpy(cfg.listen_host, "127.0.0.1");
		cfg.listen_port = 8080;
		ctx.adapter = &sandbox_adapter;
		ctx.cfg = &cfg;
		char err[256];
		if (sandbox_adapter.init(&ctx, err) != 0)
			abort();
		ready = 1;
	}
	const char *nl = memchr(data, '\n', size);
	size_t hl = nl ? (size_t)(nl - (const char *)data) : 0;
	if (hl >= sizeof sig_header)
		hl = sizeof sig_header - 1;
	memcpy(sig_header, data, hl);
	sig_header[hl] = '\0';
	const char *body = nl ? nl + 1 : (const char *)data;
	size_t blen = nl ? size - (size_t)(body - (const char *)data) : size;
	struct adapter_notification in = {body, blen, "application/json", NULL, "127.0.0.1", header, NULL};
	struct adapter_reply rep;
	memset(&rep, 0, sizeof rep);
	if (sandbox_adapter.notification(&ctx, &in, &rep) == 0) {
		/* accepted: the signature must really be the HMAC of the body */
		char want[65];
		if (crypto_hmac_sha256_hex(secret, strlen(secret), body, blen, want) != 0 || strcmp(want, sig_header) != 0)
			abort();
	}
	adapter_reply_clear(&rep);
	return 0;
}
