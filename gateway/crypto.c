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

void crypto_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_from_hex(const char *s, size_t slen, unsigned char *b, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -1;
		b[i] = (unsigned char)(h << 4 | l);
	}
	return 0;
}

int crypto_random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof buf || RAND_bytes(buf, (int)nbytes) != 1)
		return -1;
	crypto_hex(buf, nbytes, out);
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

int crypto_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &n) || n != 32)
		return -1;
	crypto_hex(md, n, out);
	return 0;
}

int crypto_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -1;
	crypto_hex(md, n, out);
	return 0;
}
