/* fuzz_partner_auth.c — what a terminal or partner presents to authenticate: the HTTP Basic
 * Authorization header, and the X-Timestamp / X-Signature of a signed partner request.
 * Input fields (split at '\n'): Authorization, X-Timestamp, X-Signature, method, target, body (rest).
 * Properties:
 *   - partner_basic_decode accepts exactly the well-formed headers a strict decoder written here
 *     accepts ("Basic", spaces or tabs, base64 with '=' padding only at the end, "login:password"
 *     with a non-empty login, no NUL, both fitting their buffers) and yields the same login and
 *     password;
 *   - partner_signature is the HMAC-SHA256 of METHOD\nTARGET\nTIMESTAMP\nBODY, as computed here;
 *   - partner_timestamp_fresh accepts exactly 1..12 digits within PARTNER_TIMESTAMP_WINDOW of now. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_util.h"
#include "partners.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (RFC 4648 with padding; non-zero bits in the last symbol are tolerated, as most
 * decoders do). Returns the decoded length or -1. */
static int strict_b64(const char *s, size_t n, unsigned char *out)
{
	if (n == 0 || n % 4)
		return -1;
	size_t pad = 0;
	if (s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	int o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			bool padpos = i + (size_t)k >= n - pad;
			v[k] = padpos ? 0 : b64val(s[i + (size_t)k]);
			if (v[k] < 0)
				return -1;
		}
		unsigned w = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		int take = i + 4 == n ? 3 - (int)pad : 3;
		for (int k = 0; k < take; k++)
			out[o++] = (unsigned char)(w >> (16 - 8 * k));
	}
	return o;
}

/* The strict reading of an Authorization header: 0 with login/password, or -1. */
static int strict_basic(const char *h, char *login, size_t lsz, char *pw, size_t psz)
{
	if (strncasecmp(h, "Basic ", 6) != 0)
		return -1;
	const char *b = h + 6;
	while (*b == ' ' || *b == '\t')
		b++;
	size_t n = strlen(b);
	while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	if (n > 1024)
		return -1;
	unsigned char dec[1024];
	int dl = strict_b64(b, n, dec);
	if (dl <= 0 || memchr(dec, '\0', (size_t)dl))
		return -1;
	unsigned char *colon = memchr(dec, ':', (size_t)dl);
	if (!colon || colon == dec)
		return -1;
	size_t ll = (size_t)(colon - dec), pl = (size_t)dl - ll - 1;
	if (ll >= lsz || pl >= psz)
		return -1;
	memcpy(login, dec, ll);
	login[ll] = '\0';
	memcpy(pw, colon + 1, pl);
	pw[pl] = '\0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fields in;
	fz_split(&in, data, size, 6);

	/* Basic: the buffers term_authenticate uses. */
	char login[PARTNER_LOGIN_MAX + 2], pw[256], rlogin[PARTNER_LOGIN_MAX + 2], rpw[256];
	int got = partner_basic_decode(in.f[0], login, sizeof login, pw, sizeof pw);
	int want = strict_basic(in.f[0], rlogin, sizeof rlogin, rpw, sizeof rpw);
	if (got != want)
		abort();
	if (got == 0 && (strcmp(login, rlogin) != 0 || strcmp(pw, rpw) != 0 || strchr(login, ':') || !*login))
		abort();

	/* Signature over method, target, timestamp and body. */
	static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char sig[65];
	if (partner_signature(secret, in.f[3], in.f[4], in.f[1], in.f[5], in.len[5], sig) != 0)
		abort();
	size_t ml = in.len[5] + strlen(in.f[3]) + strlen(in.f[4]) + strlen(in.f[1]) + 3;
	char *msg = malloc(ml + 1);
	if (!msg)
		abort();
	int hl = sprintf(msg, "%s\n%s\n%s\n", in.f[3], in.f[4], in.f[1]);
	memcpy(msg + hl, in.f[5], in.len[5]);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, (size_t)hl + in.len[5], md, &mdlen))
		abort();
	free(msg);
	char hex[65];
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	if (strcmp(hex, sig) != 0)
		abort();

	/* Timestamp window. */
	const time_t now = 1767225600;          /* 2026-01-01 */
	const char *ts = in.f[1];
	size_t tl = strlen(ts);
	bool fresh = tl >= 1 && tl <= 12 && strspn(ts, "0123456789") == tl;
	if (fresh) {
		long long v = strtoll(ts, NULL, 10);
		fresh = v >= (long long)now - PARTNER_TIMESTAMP_WINDOW && v <= (long long)now + PARTNER_TIMESTAMP_WINDOW;
	}
	if (partner_timestamp_fresh(ts, now) != fresh)
		abort();
	fz_free(&in);
	return 0;
}
