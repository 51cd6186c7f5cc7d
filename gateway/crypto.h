/* crypto.h — small wrappers over OpenSSL: constant-time secret comparison, random tokens. */
#ifndef GW_CRYPTO_H
#define GW_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* True when given equals expected. Compares SHA-256 digests with CRYPTO_memcmp, so the time taken
 * depends on neither the secret's content nor its length. NULL given is never equal. */
bool crypto_secret_equal(const char *given, const char *expected);

/* Writes 2*nbytes lowercase hex characters of OpenSSL RAND_bytes output plus NUL into out
 * (size >= 2*nbytes+1). Returns 0, or -1 if the RNG failed. */
int crypto_random_hex(char *out, size_t nbytes);

/* Writes the lowercase hex HMAC-SHA256 of data under key (64 characters + NUL) into out.
 * Returns 0, or -1 on failure. */
int crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65]);

/* n bytes as lowercase hex into out (2n + 1 bytes). */
void crypto_hex(const unsigned char *b, size_t n, char *out);
/* Decodes exactly 2*n hex characters (slen) of s into b. 0, or -1 when s is not that. */
int crypto_from_hex(const char *s, size_t slen, unsigned char *b, size_t n);
/* The lowercase hex SHA-256 of len bytes (64 characters + NUL). 0 or -1. */
int crypto_sha256_hex(const void *data, size_t len, char out[65]);
#endif
