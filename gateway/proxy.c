/* proxy.c — the client address behind proxies: the PROXY protocol header (HAProxy's specification,
 * versions 1 and 2) and X-Forwarded-For from trusted proxies. No I/O here; see proxy.h. */
#include "proxy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

int proxy_nets_parse(const char *s, struct proxy_nets *out, char err[160])
{
	out->n = 0;
	if (!s)
		return 0;
	const char *p = s;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, ", \t");
		char item[64], why[128];
		if (len >= sizeof item) {
			snprintf(err, 160, "GATEWAY_TRUSTED_PROXIES: '%.40s...' is not a network", p);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (out->n >= PROXY_MAX_NETS) {
			snprintf(err, 160, "GATEWAY_TRUSTED_PROXIES: more than %d networks", PROXY_MAX_NETS);
			return -1;
		}
		if (partner_net_parse(item, &out->nets[out->n], why) != 0) {
			snprintf(err, 160, "GATEWAY_TRUSTED_PROXIES: %.40s: %.90s", item, why);
			return -1;
		}
		out->n++;
		p += len;
	}
	return 0;
}

bool proxy_nets_contain(const struct proxy_nets *t, const char *addr)
{
	for (int i = 0; t && i < t->n; i++)
		if (partner_net_contains(&t->nets[i], addr))
			return true;
	return false;
}

/* Canonical text of the address in s[0..n) of the given family (AF_INET, AF_INET6, or 0 for either);
 * false when it is not one. */
static bool canonical(const char *s, size_t n, int family, char out[PROXY_ADDR_BUFSZ])
{
	char buf[PROXY_ADDR_BUFSZ];
	unsigned char bin[16];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (family != AF_INET6 && inet_pton(AF_INET, buf, bin) == 1)
		return inet_ntop(AF_INET, bin, out, PROXY_ADDR_BUFSZ) != NULL;
	if (family != AF_INET && inet_pton(AF_INET6, buf, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, PROXY_ADDR_BUFSZ) != NULL;
	return false;
}

/* A decimal port without sign or leading zero, 0..65535. */
static bool port_ok(const char *s, size_t n)
{
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

/* "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 …" or "PROXY UNKNOWN[ anything]\r\n". */
static enum proxy_parse parse_v1(const unsigned char *p, size_t n, size_t *used, char addr[PROXY_ADDR_BUFSZ])
{
	size_t lim = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
	size_t end = 0;
	while (end + 1 < lim && !(p[end] == '\r' && p[end + 1] == '\n'))
		end++;
	if (end + 1 >= lim)
		return n < PROXY_V1_MAX ? PROXY_MORE : PROXY_BAD;
	for (size_t i = 0; i < end; i++)               /* printable ASCII only, no NUL */
		if (p[i] < 0x20 || p[i] > 0x7e)
			return PROXY_BAD;
	const char *line = (const char *)p + 6;
	size_t len = end - 6;
	*used = end + 2;
	if (len >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (len == 7 || line[7] == ' ')) {
		addr[0] = '\0';
		return PROXY_DONE;
	}
	/* exactly five fields separated by single spaces */
	const char *f[5];
	size_t fl[5];
	size_t k = 0, i = 0;
	while (k < 5) {
		f[k] = line + i;
		size_t s = i;
		while (i < len && line[i] != ' ')
			i++;
		fl[k] = i - s;
		if (fl[k] == 0)
			return PROXY_BAD;
		k++;
		if (i == len)
			break;
		i++;                                  /* the space */
	}
	if (k != 5 || i != len)
		return PROXY_BAD;
	int family;
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		family = AF_INET;
	else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return PROXY_BAD;
	char dst[PROXY_ADDR_BUFSZ];
	if (!canonical(f[1], fl[1], family, addr) || !canonical(f[2], fl[2], family, dst) || !port_ok(f[3], fl[3]) ||
	    !port_ok(f[4], fl[4]))
		return PROXY_BAD;
	return PROXY_DONE;
}

static enum proxy_parse parse_v2(const unsigned char *p, size_t n, size_t *used, char addr[PROXY_ADDR_BUFSZ])
{
	if (n < 16)
		return PROXY_MORE;
	unsigned ver = p[12] >> 4, cmd = p[12] & 0x0F, fam = p[13] >> 4, proto = p[13] & 0x0F;
	size_t len = ((size_t)p[14] << 8) | p[15];
	if (ver != 2 || cmd > 1 || fam > 3 || proto > 2 || 16 + len > PROXY_V2_MAX)
		return PROXY_BAD;
	size_t need = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
	if (len < need)
		return PROXY_BAD;
	if (n < 16 + len)
		return PROXY_MORE;
	*used = 16 + len;
	addr[0] = '\0';
	if (cmd == 0 || proto != 1 || (fam != 1 && fam != 2))
		return PROXY_DONE;                    /* LOCAL, or not TCP over IP: the connection's own address */
	if (!inet_ntop(fam == 1 ? AF_INET : AF_INET6, p + 16, addr, PROXY_ADDR_BUFSZ))
		return PROXY_BAD;
	return PROXY_DONE;
}

enum proxy_parse proxy_header_parse(const unsigned char *p, size_t n, size_t *used, char addr[PROXY_ADDR_BUFSZ])
{
	*used = 0;
	addr[0] = '\0';
	if (n == 0)
		return PROXY_MORE;
	if (p[0] == v2_sig[0]) {
		size_t k = n < sizeof v2_sig ? n : sizeof v2_sig;
		if (memcmp(p, v2_sig, k) != 0)
			return PROXY_BAD;
		return k < sizeof v2_sig ? PROXY_MORE : parse_v2(p, n, used, addr);
	}
	size_t k = n < 6 ? n : 6;
	if (memcmp(p, v1_sig, k) != 0)
		return PROXY_BAD;
	return k < 6 ? PROXY_MORE : parse_v1(p, n, used, addr);
}

/* The element of an X-Forwarded-For list in s[0..n), blanks trimmed: "192.0.2.1", "192.0.2.1:5000",
 * "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:5000"; false when it is none of those. */
static bool xff_element(const char *s, size_t n, char out[PROXY_ADDR_BUFSZ])
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		size_t rest = n - (size_t)(close - s) - 1;
		if (rest && (close[1] != ':' || !port_ok(close + 2, rest - 1)))
			return false;
		return canonical(s + 1, (size_t)(close - s) - 1, AF_INET6, out);
	}
	const char *colon = memchr(s, ':', n);
	if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {      /* one colon: IPv4:port */
		size_t alen = (size_t)(colon - s);
		return port_ok(colon + 1, n - alen - 1) && canonical(s, alen, AF_INET, out);
	}
	return canonical(s, n, 0, out);
}

void proxy_client_addr(const char *conn_addr, const char *const *xff, size_t nxff, const struct proxy_nets *trusted,
		       char out[PROXY_ADDR_BUFSZ])
{
	snprintf(out, PROXY_ADDR_BUFSZ, "%s", conn_addr ? conn_addr : "");
	if (!trusted || trusted->n == 0 || !proxy_nets_contain(trusted, out))
		return;
	int seen = 0;
	/* right to left: the last header first, each from its end */
	for (size_t h = nxff; h-- > 0;) {
		const char *v = xff[h];
		if (!v)
			continue;
		size_t end = strlen(v);
		for (;;) {
			size_t start = end;
			while (start > 0 && v[start - 1] != ',')
				start--;
			char a[PROXY_ADDR_BUFSZ];
			bool blank = strspn(v + start, " \t") >= end - start;
			if (!blank) {
				if (++seen > PROXY_XFF_MAX || !xff_element(v + start, end - start, a))
					return;                /* the trusted hop that forwarded it */
				snprintf(out, PROXY_ADDR_BUFSZ, "%s", a);
				if (!proxy_nets_contain(trusted, out))
					return;
			}
			if (start == 0)
				break;
			end = start - 1;
		}
	}
}
