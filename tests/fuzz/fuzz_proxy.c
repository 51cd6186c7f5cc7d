/* fuzz_proxy.c — the client address behind proxies: PROXY protocol headers as the first bytes of a
 * connection (proxy_header_parse), GATEWAY_TRUSTED_PROXIES (proxy_nets_parse) and X-Forwarded-For
 * (proxy_client_addr).
 * Input: a selector byte; 0 = the rest is the first bytes of a connection; otherwise fields split
 * at '\n': peer address, trusted networks, then X-Forwarded-For header values (one per field).
 * Properties: a header is self-delimiting (a DONE header parses the same when cut to its own length
 * and every shorter cut asks for more); a DONE address is canonical IPv4/IPv6 text or empty; MORE
 * never comes back for input longer than the longest header; a prefix of a MORE input is MORE. The
 * client address is the peer when the peer is not trusted or the list is empty, and otherwise the
 * peer or an address written in the headers, in canonical form, that is untrusted unless it is the
 * peer or the walk stopped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "fuzz_util.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool canonical_ip(const char *s)
{
	unsigned char b[16];
	char back[PROXY_ADDR_BUFSZ];
	if (inet_pton(AF_INET, s, b) == 1)
		return inet_ntop(AF_INET, b, back, sizeof back) && strcmp(back, s) == 0;
	if (inet_pton(AF_INET6, s, b) == 1)
		return inet_ntop(AF_INET6, b, back, sizeof back) && strcmp(back, s) == 0;
	return false;
}

static void header(const uint8_t *p, size_t n)
{
	size_t used, u2;
	char addr[PROXY_ADDR_BUFSZ], a2[PROXY_ADDR_BUFSZ];
	enum proxy_parse r = proxy_header_parse(p, n, &used, addr);
	if (r == PROXY_DONE) {
		if (used == 0 || used > n || (addr[0] && !canonical_ip(addr)))
			abort();
		if (proxy_header_parse(p, used, &u2, a2) != PROXY_DONE || u2 != used || strcmp(a2, addr) != 0)
			abort();
		size_t cuts[] = {0, used / 2, used - 1};
		for (size_t i = 0; i < 3; i++)
			if (cuts[i] < used && proxy_header_parse(p, cuts[i], &u2, a2) != PROXY_MORE)
				abort();
	} else if (r == PROXY_MORE) {
		if (n >= PROXY_V2_MAX)
			abort();
		if (n && proxy_header_parse(p, n / 2, &u2, a2) != PROXY_MORE)
			abort();
	} else if (r != PROXY_BAD) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] == 0) {
		header(data + 1, size - 1);
		return 0;
	}
	struct fz_fields in;
	fz_split(&in, data + 1, size - 1, 8);
	struct proxy_nets t;
	char err[160] = "";
	if (proxy_nets_parse(in.f[1], &t, err) != 0) {
		if (!*err || strlen(err) >= sizeof err)
			abort();
		fz_free(&in);
		return 0;
	}
	if (t.n < 0 || t.n > PROXY_MAX_NETS)
		abort();
	const char *xff[6];
	for (int i = 0; i < 6; i++)
		xff[i] = in.f[2 + i];
	char out[PROXY_ADDR_BUFSZ];
	char peer[PROXY_ADDR_BUFSZ];
	snprintf(peer, sizeof peer, "%s", in.f[0]);
	proxy_client_addr(peer, xff, 6, &t, out);
	if (t.n == 0 || !proxy_nets_contain(&t, peer)) {
		if (strcmp(out, peer) != 0)
			abort();
	} else if (strcmp(out, peer) != 0) {
		if (!canonical_ip(out))
			abort();
		bool written = false;             /* the address appears in some header, in some spelling */
		unsigned char want[16], b[16];
		int fam = strchr(out, ':') ? AF_INET6 : AF_INET;
		inet_pton(fam, out, want);
		for (int i = 0; i < 6 && !written; i++) {
			const char *v = xff[i];
			for (const char *s = v; *s && !written; s++) {
				char tok[PROXY_ADDR_BUFSZ];
				size_t k = 0;
				while (s[k] && s[k] != ',' && s[k] != ' ' && s[k] != '\t' && s[k] != ']' && s[k] != '[' &&
				       k + 1 < sizeof tok)
					k++;
				memcpy(tok, s, k);
				tok[k] = '\0';
				char *colon = fam == AF_INET ? strchr(tok, ':') : NULL;
				if (colon)
					*colon = '\0';
				written = inet_pton(fam, tok, b) == 1 && memcmp(b, want, fam == AF_INET ? 4 : 16) == 0;
			}
		}
		if (!written)
			abort();
	}
	fz_free(&in);
	return 0;
}
