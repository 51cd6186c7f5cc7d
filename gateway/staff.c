/* staff.c — see staff.h. */
#include "staff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto.h"

static const struct {
	const char *name;
	unsigned perms;
} roles[] = {
	{"support", PERM_VIEW | PERM_RESEND},
	{"finance", PERM_VIEW | PERM_RESEND | PERM_REFUND | PERM_REGISTRY | PERM_UNMASKED},
	{"admin", PERM_VIEW | PERM_RESEND | PERM_REFUND | PERM_REGISTRY | PERM_UNMASKED | PERM_PARTNERS | PERM_STAFF |
			  PERM_AUDIT},
};

unsigned staff_role_perms(const char *role)
{
	for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].perms;
	return 0;
}

bool staff_role_valid(const char *role)
{
	return staff_role_perms(role) != 0;
}

bool staff_login_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 2 && n <= STAFF_LOGIN_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n &&
	       s[0] != '.' && s[0] != '_' && s[0] != '-';
}

static int scrypt(const char *password, const unsigned char *salt, size_t salt_len, int log2n, int r, int p,
		  unsigned char *key, size_t key_len)
{
	uint64_t n = (uint64_t)1 << log2n;
	uint64_t maxmem = 128 * n * (uint64_t)r * (uint64_t)p + (16u << 20);
	return EVP_PBE_scrypt(password, strlen(password), salt, salt_len, n, (uint64_t)r, (uint64_t)p, maxmem, key,
			      key_len) == 1
		       ? 0
		       : -1;
}

int staff_password_hash(const char *password, char out[STAFF_HASH_BUFSZ])
{
	unsigned char salt[16], key[32];
	char salt_hex[33], key_hex[65];
	if (!password || RAND_bytes(salt, sizeof salt) != 1 ||
	    scrypt(password, salt, sizeof salt, STAFF_SCRYPT_LOG2N, STAFF_SCRYPT_R, STAFF_SCRYPT_P, key, sizeof key) != 0)
		return -1;
	crypto_hex(salt, sizeof salt, salt_hex);
	crypto_hex(key, sizeof key, key_hex);
	snprintf(out, STAFF_HASH_BUFSZ, "scrypt$%d$%d$%d$%s$%s", STAFF_SCRYPT_LOG2N, STAFF_SCRYPT_R, STAFF_SCRYPT_P,
		 salt_hex, key_hex);
	OPENSSL_cleanse(key, sizeof key);
	return 0;
}

bool staff_password_verify(const char *password, const char *stored)
{
	int log2n = 0, r = 0, p = 0, used = 0;
	char salt_hex[65], key_hex[65];
	if (!password || !stored || strlen(stored) >= STAFF_HASH_BUFSZ ||
	    sscanf(stored, "scrypt$%2d$%2d$%2d$%64[0-9a-f]$%64[0-9a-f]%n", &log2n, &r, &p, salt_hex, key_hex, &used) != 5 ||
	    stored[used] != '\0' || log2n < 10 || log2n > 20 || r < 1 || r > 16 || p < 1 || p > 4)
		return false;
	unsigned char salt[32], want[32], got[32];
	size_t salt_len = strlen(salt_hex) / 2;
	if (salt_len < 8 || crypto_from_hex(salt_hex, strlen(salt_hex), salt, salt_len) != 0 ||
	    crypto_from_hex(key_hex, strlen(key_hex), want, sizeof want) != 0)
		return false;
	if (scrypt(password, salt, salt_len, log2n, r, p, got, sizeof got) != 0)
		return false;
	bool ok = CRYPTO_memcmp(got, want, sizeof got) == 0;
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}

int staff_password_new(char out[21])
{
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";   /* 55 */
	unsigned char b[20];
	for (size_t i = 0; i < 20;) {
		if (RAND_bytes(b, sizeof b) != 1)
			return -1;
		for (size_t j = 0; j < sizeof b && i < 20; j++)
			if (b[j] < 220)                       /* 4 x 55: no bias */
				out[i++] = alphabet[b[j] % 55];
	}
	out[20] = '\0';
	OPENSSL_cleanse(b, sizeof b);
	return 0;
}
