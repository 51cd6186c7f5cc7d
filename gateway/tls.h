/* tls.h — the native HTTPS listener: an OpenSSL server context (TLS 1.2+, modern ciphers) and the
 * evhttp hook that wraps each accepted connection in it. */
#ifndef GW_TLS_H
#define GW_TLS_H

struct bufferevent;
struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

/* Loads the PEM certificate chain and private key. Returns NULL with a one-line message in err
 * (256 bytes) when they cannot be used. The context is shared by all event loops (OpenSSL's
 * SSL_CTX is thread-safe once set up). */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char err[256]);

/* evhttp_set_bevcb callback: a server-side TLS bufferevent for a new connection (arg: SSL_CTX). */
struct bufferevent *tls_accept_bev(struct event_base *base, void *arg);

#endif
