/* proxy.h — who the client is when the gateway runs behind proxies: the PROXY protocol header (v1
 * text, v2 binary) a TCP proxy puts in front of a connection, and X-Forwarded-For as HTTP proxies
 * write it, read only from trusted proxies (GATEWAY_TRUSTED_PROXIES). Pure functions: the server
 * hands in bytes and strings, and uses the one address they yield for everything (rate limits,
 * partner networks, provider allow-lists, logs). */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "partners.h"

#define PROXY_ADDR_BUFSZ 48       /* an IPv6 address in text (INET6_ADDRSTRLEN) and room to spare */
#define PROXY_MAX_NETS 32
#define PROXY_V1_MAX 107          /* the longest v1 line, CRLF included (the specification's bound) */
#define PROXY_V2_MAX 2048         /* the longest v2 header we take: 16 bytes and addresses plus TLVs */
#define PROXY_XFF_MAX 64          /* X-Forwarded-For elements looked at, from the right */

/* The trusted proxies: networks whose forwarded headers are believed. */
struct proxy_nets {
	int n;
	struct partner_net nets[PROXY_MAX_NETS];
};

/* Parses GATEWAY_TRUSTED_PROXIES: networks or addresses separated by commas (and blanks), at most
 * PROXY_MAX_NETS; NULL or "" is the empty list. Returns 0, or -1 with a one-line reason in err. */
int proxy_nets_parse(const char *s, struct proxy_nets *out, char err[160]);
/* True when the text address addr lies in one of the networks. */
bool proxy_nets_contain(const struct proxy_nets *t, const char *addr);

enum proxy_parse {
	PROXY_DONE,               /* a whole valid header: *used bytes of it; addr set ("" = keep the TCP peer) */
	PROXY_MORE,               /* so far a valid beginning of a header: wait for more bytes */
	PROXY_BAD,                /* not a PROXY header, or a malformed one: drop the connection */
};

/* Looks at the first n bytes a connection sent. On PROXY_DONE, *used is the header's length and addr
 * the client (source) address in canonical text, or "" when the header says to keep the connection's
 * own address (v1 UNKNOWN, v2 LOCAL, or a v2 address family other than TCP over IPv4/IPv6). */
enum proxy_parse proxy_header_parse(const unsigned char *p, size_t n, size_t *used, char addr[PROXY_ADDR_BUFSZ]);

/* The client address of a request that came over a connection from conn_addr carrying the
 * X-Forwarded-For header values xff[0..nxff) (in the order received): conn_addr itself unless it is
 * a trusted proxy; otherwise the rightmost X-Forwarded-For element that is not a trusted proxy (an
 * element that is not an address ends the walk at the trusted hop that forwarded it). Canonical
 * text into out. */
void proxy_client_addr(const char *conn_addr, const char *const *xff, size_t nxff, const struct proxy_nets *trusted,
		       char out[PROXY_ADDR_BUFSZ]);

#endif
