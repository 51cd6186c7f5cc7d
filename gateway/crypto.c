/* crypto.c — OpenSSL-backed helpers; nothing here is hand-rolled cryptography. */
#include "crypto.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

bool crypto_secret_equal(const char *given, const char *expected)
{
	if (!given || !expected)
		return false;
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int al = 0, bl = 0;
	if (EVP_Digest(given, strlen(given), a, &al, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(expected, strlen(expected), b, &bl, EVP_sha256(), NULL) != 1 || al != bl)
		return false;
	return CRYPTO_memcmp(a, b, al) == 0;
}

int crypto_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[64];
	if (nbytes > sizeof buf || RAND_bytes(buf, (int)nbytes) != 1)
		return -1;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

int crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &n) || n != 32)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}
