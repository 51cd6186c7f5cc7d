/* partner_creds.c — what a partner presents, checked without the database: source networks (CIDR),
 * PBKDF2 password hashes, HMAC-SHA256 request signatures and their timestamps, HTTP Basic, names and
 * protocols. Pure functions (no loop, no cache); partners.c authenticates requests with them. */
#include "crypto.h"
#include "partners.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* ---- networks ----------------------------------------------------------------------------- */

int partner_net_parse(const char *s, struct partner_net *out, char err[128])
{
	char buf[INET6_ADDRSTRLEN + 8];
	memset(out, 0, sizeof *out);
	if (!s || !*s || strlen(s) >= sizeof buf) {
		snprintf(err, 128, "expected a network like 10.0.0.0/8 or 2001:db8::/32");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	int maxbits;
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		snprintf(err, 128, "%.60s is not an IPv4 or IPv6 network", s);
		return -1;
	}
	out->prefix = maxbits;
	if (slash) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		if (n == 0 || n > 3 || strspn(p, "0123456789") != n || atoi(p) > maxbits) {
			snprintf(err, 128, "%.60s: the prefix length must be 0..%d", s, maxbits);
			return -1;
		}
		out->prefix = atoi(p);
	}
	for (int bit = out->prefix; bit < maxbits; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			snprintf(err, 128, "%.60s has address bits set right of the /%d prefix", s, out->prefix);
			return -1;
		}
	return 0;
}

int partner_nets_parse_array(const char *s, struct partner_net *out, int max)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	if (len < 2 || s[0] != '{' || s[len - 1] != '}')
		return -1;
	int n = 0;
	const char *p = s + 1, *end = s + len - 1;
	while (p < end) {
		const char *e = p;
		while (e < end && *e != ',')
			e++;
		char item[INET6_ADDRSTRLEN + 8];
		size_t il = 0;
		for (const char *q = p; q < e && il + 1 < sizeof item; q++)
			if (*q != '"')
				item[il++] = *q;
		item[il] = '\0';
		char err[128];
		if (n >= max || partner_net_parse(item, &out[n], err) != 0)
			return -1;
		n++;
		p = e + 1;
	}
	return n;
}

void partner_net_format(const struct partner_net *n, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(n->family, n->addr, a, sizeof a))
		snprintf(a, sizeof a, "?");
	snprintf(out, outsz, "%s/%d", a, n->prefix);
}

bool partner_net_contains(const struct partner_net *n, const char *addr)
{
	unsigned char a[16];
	const unsigned char *bytes = a;
	int family;
	if (!addr)
		return false;
	if (inet_pton(AF_INET, addr, a) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		family = AF_INET6;
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (n->family == AF_INET && memcmp(a, mapped, 12) == 0) {
			family = AF_INET;
			bytes = a + 12;
		}
	} else {
		return false;
	}
	if (family != n->family)
		return false;
	int full = n->prefix / 8, rest = n->prefix % 8;
	if (memcmp(bytes, n->addr, (size_t)full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((bytes[full] & mask) != (n->addr[full] & mask))
			return false;
	}
	return true;
}

bool partner_peer_allowed(const struct partner *p, const char *addr)
{
	if (p->ncidrs == 0)
		return true;
	for (int i = 0; i < p->ncidrs; i++)
		if (partner_net_contains(&p->cidrs[i], addr))
			return true;
	return false;
}

/* ---- passwords ---------------------------------------------------------------------------- */

int partner_password_hash(const char *password, char out[PARTNER_HASH_BUFSZ])
{
	unsigned char salt[16], dk[32];
	char salt_hex[33], dk_hex[65];
	if (RAND_bytes(salt, sizeof salt) != 1 ||
	    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt, PARTNER_PBKDF2_ITERATIONS, EVP_sha256(),
			      sizeof dk, dk) != 1)
		return -1;
	crypto_hex(salt, sizeof salt, salt_hex);
	crypto_hex(dk, sizeof dk, dk_hex);
	snprintf(out, PARTNER_HASH_BUFSZ, "pbkdf2-sha256$%d$%s$%s", PARTNER_PBKDF2_ITERATIONS, salt_hex, dk_hex);
	OPENSSL_cleanse(dk, sizeof dk);
	return 0;
}

bool partner_password_verify(const char *password, const char *stored)
{
	static const char prefix[] = "pbkdf2-sha256$";
	if (!password || !stored || strncmp(stored, prefix, sizeof prefix - 1) != 0)
		return false;
	const char *it = stored + sizeof prefix - 1;
	const char *d1 = strchr(it, '$');
	const char *d2 = d1 ? strchr(d1 + 1, '$') : NULL;
	if (!d1 || !d2 || d1 == it || (size_t)(d1 - it) > 8)
		return false;
	long iter = 0;
	for (const char *p = it; p < d1; p++) {
		if (*p < '0' || *p > '9')
			return false;
		iter = iter * 10 + (*p - '0');
	}
	unsigned char salt[64], want[32], got[32];
	size_t salt_len = (size_t)(d2 - d1 - 1) / 2;
	if (iter < 1 || iter > 10000000 || salt_len == 0 || salt_len > sizeof salt ||
	    crypto_from_hex(d1 + 1, (size_t)(d2 - d1 - 1), salt, salt_len) != 0 ||
	    crypto_from_hex(d2 + 1, strlen(d2 + 1), want, sizeof want) != 0)
		return false;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iter, EVP_sha256(), sizeof got,
			      got) != 1)
		return false;
	bool ok = CRYPTO_memcmp(got, want, sizeof got) == 0;
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}

/* ---- signatures ---------------------------------------------------------------------------- */

/* OpenSSL's HMAC implementation, looked up once: a fetch per request (a provider lookup under locks)
 * cost as much as the HMAC itself. Kept for the life of the process. */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void) { hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL); }

int partner_signature(const char *secret, const char *method, const char *target, const char *timestamp,
		      const char *body, size_t body_len, char out[65])
{
	int rc = -1;
	pthread_once(&hmac_once, hmac_fetch);
	EVP_MAC_CTX *ctx = hmac_impl ? EVP_MAC_CTX_new(hmac_impl) : NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	if (!ctx || EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) != 1)
		goto out;
	const char *parts[] = {method, "\n", target, "\n", timestamp, "\n"};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (EVP_MAC_update(ctx, (const unsigned char *)parts[i], strlen(parts[i])) != 1)
			goto out;
	if (body_len && EVP_MAC_update(ctx, (const unsigned char *)body, body_len) != 1)
		goto out;
	if (EVP_MAC_final(ctx, md, &mdlen, sizeof md) != 1 || mdlen != 32)
		goto out;
	crypto_hex(md, 32, out);
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

bool partner_timestamp_fresh(const char *timestamp, time_t now)
{
	size_t n = timestamp ? strlen(timestamp) : 0;
	if (n == 0 || n > 12 || strspn(timestamp, "0123456789") != n)
		return false;
	long long ts = atoll(timestamp);
	long long d = ts - (long long)now;
	return d >= -PARTNER_TIMESTAMP_WINDOW && d <= PARTNER_TIMESTAMP_WINDOW;
}

/* Compares a presented hex signature with the expected one in constant time (case-insensitive). */
int partner_basic_decode(const char *header, char *login, size_t loginsz, char *password, size_t passwordsz)
{
	if (!header || strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	const char *b = header + 6;
	while (*b == ' ' || *b == '\t')
		b++;
	size_t n = strlen(b);
	while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	if (n == 0 || n % 4 != 0 || n > 1024)
		return -1;
	/* Only the base64 alphabet, padding only at the very end ("x=" alone is not padding):
	 * EVP_DecodeBlock skips whitespace and reads a '=' elsewhere as zero bits, and the length fix-up
	 * below would then count wrong. */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	const char *eq = memchr(b, '=', n);
	if (strspn(b, b64) < n || (eq && (eq < b + n - 2 || b[n - 1] != '=')))
		return -1;
	unsigned char dec[1024];
	int dl = EVP_DecodeBlock(dec, (const unsigned char *)b, (int)n);
	if (dl < 0)
		return -1;
	if (b[n - 1] == '=')
		dl--;
	if (b[n - 2] == '=')
		dl--;
	if (dl <= 0 || memchr(dec, '\0', (size_t)dl))
		return -1;
	unsigned char *colon = memchr(dec, ':', (size_t)dl);
	if (!colon || colon == dec)
		return -1;
	size_t ll = (size_t)(colon - dec), pl = (size_t)dl - ll - 1;
	if (ll >= loginsz || pl >= passwordsz) {
		OPENSSL_cleanse(dec, sizeof dec);
		return -1;
	}
	memcpy(login, dec, ll);
	login[ll] = '\0';
	memcpy(password, colon + 1, pl);
	password[pl] = '\0';
	OPENSSL_cleanse(dec, sizeof dec);
	return 0;
}

bool partner_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 2 || n > PARTNER_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

bool partner_protocol_valid(const char *s)
{
	return s && (strcmp(s, "osmp") == 0 || strcmp(s, "sber-online") == 0 || strcmp(s, "json") == 0);
}

/* ---- new credentials ------------------------------------------------------------------------ */

bool partner_login_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= PARTNER_LOGIN_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int partner_secret_make(const char *protocol, struct partner_secret *c)
{
	memset(c, 0, sizeof *c);
	if (!protocol)                /* a partner row always has one (NOT NULL); nothing to make without it */
		return -1;
	c->hmac = strcmp(protocol, "json") == 0;
	if (c->hmac)
		return crypto_random_hex(c->secret, 32);
	if (crypto_random_hex(c->password, 16) != 0 || partner_password_hash(c->password, c->hash) != 0)
		return -1;
	return 0;
}

const char partner_insert_sql[] =
	"INSERT INTO partners (name, protocol, login, password_hash, hmac_secret, cidrs, min_amount, max_amount, fiscal)"
	" VALUES ($1, $2, $3, $4, $5, $6::cidr[], $7::bigint, $8::bigint, $9::boolean)";
