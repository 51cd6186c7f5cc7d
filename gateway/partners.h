/* partners.h — terminal networks and partner retailers that call us: their records, the
 * authentication of each request (source network, then an HTTP Basic password or an HMAC-SHA256
 * signature), and the credential primitives the command line shares (password hashing, CIDR
 * parsing, signatures). Never touches evhttp: callers hand in the pieces of the request. */
#ifndef GW_PARTNERS_H
#define GW_PARTNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct db_pool;

#define PARTNER_NAME_MAX 63
#define PARTNER_LOGIN_MAX 63
#define PARTNER_MAX_CIDRS 32
/* Password hash format: pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX. */
#define PARTNER_PBKDF2_ITERATIONS 10000
#define PARTNER_HASH_BUFSZ 160
/* Accepted distance between X-Timestamp and our clock, seconds (either way). */
#define PARTNER_TIMESTAMP_WINDOW 300
/* How long a looked-up partner record is reused by one event loop, seconds. */
#define PARTNER_CACHE_TTL 2

/* An allowed source network. */
struct partner_net {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

/* A partner as the handlers see it (no secrets). */
struct partner {
	long long id;
	char name[PARTNER_NAME_MAX + 1];
	char protocol[16];        /* osmp | sber-online | json */
	char login[PARTNER_LOGIN_MAX + 1];
	bool active;
	int64_t min_amount;       /* kopecks */
	int64_t max_amount;
	int ncidrs;               /* 0 = any source address */
	struct partner_net cidrs[PARTNER_MAX_CIDRS];
};

/* Why a request was or was not let in. The refusal reasons are metric labels and log values. */
enum partner_auth_status {
	PA_OK = 0,
	PA_MISSING,               /* no credentials at all (or malformed Authorization / X-* headers) */
	PA_CREDENTIALS,           /* unknown login or wrong password */
	PA_NETWORK,               /* source address outside the partner's networks */
	PA_SIGNATURE,             /* X-Signature does not match */
	PA_TIMESTAMP,             /* authentic, but X-Timestamp is outside the window (stale or replayed) */
	PA_PROTOCOL,              /* the partner speaks another protocol than this endpoint */
	PA_DISABLED,              /* authentic, but the partner is disabled */
	PA_UNAVAILABLE,           /* the database could not be asked; retry later */
	PA_THROTTLED,             /* too many failed logins for this login or address: refused unchecked */
};

/* "network", "credentials", ... for logs and metrics. */
const char *partner_auth_reason(enum partner_auth_status st);

/* What a request presents. Strings are borrowed until the done callback has run. */
struct partner_credentials {
	bool hmac;                /* false: HTTP Basic (login, password); true: signed request */
	const char *login;
	const char *password;     /* Basic */
	const char *method;       /* HMAC: "POST" */
	const char *target;       /* HMAC: path with query, exactly as sent */
	const char *timestamp;    /* HMAC: X-Timestamp */
	const char *signature;    /* HMAC: X-Signature, hex */
	const char *body;         /* HMAC */
	size_t body_len;
	time_t now;               /* HMAC: our clock */
	const char *peer;         /* source address, text */
	const char *protocol;     /* required protocol, NULL = any */
};

/* Per-event-loop cache of partner records (not thread safe; one per loop). */
struct partner_cache;
struct event_base;
/* The cache of the loop on base; failed Basic logins are limited to fail_per_minute per login and
 * per client address (process-wide; the first cache's value counts). */
struct partner_cache *partner_cache_new(struct event_base *base, int fail_per_minute);
void partner_cache_free(struct partner_cache *pc);

typedef void (*partner_auth_cb)(enum partner_auth_status st, const struct partner *p, void *arg);

/* Authenticates a request: finds the partner by login (cached for PARTNER_CACHE_TTL seconds), checks
 * the password (PBKDF2 off the event loop; a success is remembered per loop so the hot path does not
 * rerun it) or the signature and timestamp — an unknown login costs the same and fails the same —,
 * then the source network, the protocol and the active flag.
 * done(st, p, arg) is called exactly once — possibly before this function returns (cache hit).
 * p is the partner when it was identified (NULL for PA_MISSING / unknown login / PA_UNAVAILABLE);
 * it is valid during the callback only. */
void partners_authenticate(struct partner_cache *pc, struct db_pool *db, const struct partner_credentials *cr,
			   partner_auth_cb done, void *arg);

/* ---- pure helpers (shared with the CLI, unit tested) ------------------------------------- */

/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Host bits right of the
 * prefix must be zero. Returns 0, or -1 with a one-line reason in err. */
int partner_net_parse(const char *s, struct partner_net *out, char err[128]);
/* Parses PostgreSQL's text form of a cidr[] ("{10.0.0.0/8,::1/128}"). Returns the count or -1. */
int partner_nets_parse_array(const char *s, struct partner_net *out, int max);
/* Formats a network back as text (INET6_ADDRSTRLEN + 4 bytes is enough). */
void partner_net_format(const struct partner_net *n, char *out, size_t outsz);
/* True when the text address addr lies in n (IPv4-mapped IPv6 addresses match IPv4 networks). */
bool partner_net_contains(const struct partner_net *n, const char *addr);
/* True when the partner has no networks configured or addr lies in one of them. */
bool partner_peer_allowed(const struct partner *p, const char *addr);

/* Hashes a password with PBKDF2-HMAC-SHA256 and a random salt into out (PARTNER_HASH_BUFSZ).
 * Returns 0 or -1. */
int partner_password_hash(const char *password, char out[PARTNER_HASH_BUFSZ]);
/* True when password matches the stored hash (constant-time compare). False for malformed hashes. */
bool partner_password_verify(const char *password, const char *stored);

/* Lowercase hex HMAC-SHA256(secret, METHOD "\n" TARGET "\n" TIMESTAMP "\n" BODY) into out.
 * Returns 0 or -1. */
int partner_signature(const char *secret, const char *method, const char *target, const char *timestamp,
		      const char *body, size_t body_len, char out[65]);
/* Checks X-Timestamp: 1..12 digits, within PARTNER_TIMESTAMP_WINDOW of now. */
bool partner_timestamp_fresh(const char *timestamp, time_t now);

/* Splits an "Authorization: Basic base64(login:password)" header into login and password.
 * Returns 0, or -1 when it is not a well-formed Basic header (or does not fit). */
int partner_basic_decode(const char *header, char *login, size_t loginsz, char *password, size_t passwordsz);

/* Validates a partner name (lowercase letters, digits, '-', '_'; 2..63 chars, starting with a letter
 * or digit) — the same rule as the partners table. */
bool partner_name_valid(const char *s);
/* 1 to 63 characters of letters, digits, '.', '_', '-'. */
bool partner_login_valid(const char *s);

/* New credentials of a protocol, shown once: a password (kept as its PBKDF2 hash) for osmp and
 * sber-online, an HMAC secret (kept as it is: we verify with it) for json. */
struct partner_secret {
	char password[33];
	char hash[PARTNER_HASH_BUFSZ];
	char secret[65];
	bool hmac;
};
/* 0, or -1 (no randomness, or no protocol). Wipe c with OPENSSL_cleanse after use. */
int partner_secret_make(const char *protocol, struct partner_secret *c);
/* A new partner: $1 name, $2 protocol, $3 login, $4 password hash, $5 HMAC secret, $6 cidr[] literal,
 * $7 min and $8 max kopecks, $9 fiscal (what `gatewayd partner add` and the console run). */
extern const char partner_insert_sql[];
/* True for the protocols the partners table allows. */
bool partner_protocol_valid(const char *s);

#endif
