/* tls.c — native HTTPS for operators who terminate TLS at the gateway itself. TLS 1.2 and 1.3
 * only, forward-secret AEAD suites only, server's order, no renegotiation, no compression. */
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* TLS 1.2 suites (1.3 has only good ones): ECDHE key exchange with AES-GCM or ChaCha20-Poly1305. */
#define TLS12_CIPHERS                                                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"        \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static void openssl_reason(char *out, size_t n)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, out, n);
	else
		snprintf(out, n, "unknown error");
	ERR_clear_error();
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char err[256])
{
	char why[160];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, 256, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		snprintf(err, 256, "cannot set the TLS cipher list");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		openssl_reason(why, sizeof why);
		snprintf(err, 256, "GATEWAY_TLS_CERT=%.60s: cannot load the certificate: %.140s", cert_file, why);
		goto fail;
	}
	/* the key path is not echoed: it may be a credentials directory */
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		openssl_reason(why, sizeof why);
		snprintf(err, 256, "GATEWAY_TLS_KEY: cannot load the private key: %.160s", why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, 256, "GATEWAY_TLS_KEY does not match the certificate in GATEWAY_TLS_CERT");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct bufferevent *tls_accept_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	if (!ssl)
		return NULL;
	/* evhttp sets the accepted socket on the bufferevent afterwards (fd -1 here). */
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}
