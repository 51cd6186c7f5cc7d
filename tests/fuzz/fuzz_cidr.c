/* fuzz_cidr.c — partner source networks: `--cidr` values (partner_net_parse), PostgreSQL's cidr[]
 * text as the partner cache reads it (partner_nets_parse_array) and the peer check of every partner
 * request (partner_net_contains, partner_peer_allowed).
 * Input fields (split at '\n'): a network, a peer address, a cidr[] text (rest).
 * Properties: a parsed network has a valid family and prefix and no host bits, formats to text that
 * parses back to the same network and contains its own address; membership agrees with a bit-by-bit
 * check written here (IPv4-mapped IPv6 peers count as IPv4); an array parses to at most its capacity
 * of valid networks or is refused — and a partner with an unreadable list admits nobody. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "fuzz_util.h"
#include "partners.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ref_contains(const struct partner_net *n, const char *addr)
{
	unsigned char a[16];
	int fam;
	if (inet_pton(AF_INET, addr, a) == 1) {
		fam = AF_INET;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		fam = AF_INET6;
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (n->family == AF_INET && memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			fam = AF_INET;
		}
	} else {
		return false;
	}
	if (fam != n->family)
		return false;
	for (int i = 0; i < n->prefix; i++) {
		int m = 0x80 >> (i % 8);
		if ((a[i / 8] & m) != (n->addr[i / 8] & m))
			return false;
	}
	return true;
}

static void check_net(const struct partner_net *n)
{
	int max = n->family == AF_INET ? 32 : n->family == AF_INET6 ? 128 : -1;
	if (max < 0 || n->prefix < 0 || n->prefix > max)
		abort();
	for (int b = n->prefix; b < max; b++)
		if (n->addr[b / 8] & (0x80 >> (b % 8)))
			abort();
	char text[INET6_ADDRSTRLEN + 8], err[128];
	partner_net_format(n, text, sizeof text);
	struct partner_net back;
	if (partner_net_parse(text, &back, err) != 0 || back.family != n->family || back.prefix != n->prefix ||
	    memcmp(back.addr, n->addr, 16) != 0)
		abort();
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop(n->family, n->addr, addr, sizeof addr) || !partner_net_contains(n, addr))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fields in;
	fz_split(&in, data, size, 3);
	struct partner_net net;
	char err[128] = "";
	if (partner_net_parse(in.f[0], &net, err) == 0) {
		check_net(&net);
		if (partner_net_contains(&net, in.f[1]) != ref_contains(&net, in.f[1]))
			abort();
	} else if (!*err || strlen(err) >= sizeof err) {
		abort();
	}

	struct partner p;
	memset(&p, 0, sizeof p);
	int n = partner_nets_parse_array(in.f[2], p.cidrs, PARTNER_MAX_CIDRS);
	if (n > PARTNER_MAX_CIDRS || n < -1)
		abort();
	if (n >= 0) {
		bool any = false;
		for (int i = 0; i < n; i++) {
			check_net(&p.cidrs[i]);
			any |= ref_contains(&p.cidrs[i], in.f[1]);
		}
		p.ncidrs = n;
		if (partner_peer_allowed(&p, in.f[1]) != (n == 0 || any))
			abort();
	} else {
		/* What the partner cache does with a list it cannot read: nobody is let in. */
		p.ncidrs = 1;
		memset(&p.cidrs[0], 0, sizeof p.cidrs[0]);
		p.cidrs[0].family = -1;
		if (partner_peer_allowed(&p, in.f[1]))
			abort();
	}
	fz_free(&in);
	return 0;
}
