/* config.h — the service's configuration, read from GATEWAY_* environment variables. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_ERRSZ 256

struct config {
	char listen_host[64];     /* GATEWAY_LISTEN host part (numeric IPv4/IPv6) */
	uint16_t listen_port;     /* GATEWAY_LISTEN port part */
	char *database_url;       /* GATEWAY_DATABASE_URL */
	char *public_url;         /* GATEWAY_PUBLIC_URL, without trailing '/' */
	char *mail_url;           /* GATEWAY_MAIL_URL */
	char *mail_from;          /* GATEWAY_MAIL_FROM */
	char *admin_token;        /* GATEWAY_ADMIN_TOKEN(_FILE); NULL: internal API off */
	char *adapters;           /* GATEWAY_ADAPTERS, comma separated */
	char *tls_cert;           /* GATEWAY_TLS_CERT (path) */
	char *tls_key;            /* GATEWAY_TLS_KEY (path) */
	int threads;              /* GATEWAY_THREADS: event-loop threads */
	int db_pool;              /* GATEWAY_DB_POOL: connections per thread */
	size_t max_body;          /* GATEWAY_MAX_BODY: request body limit, bytes */
	int shutdown_timeout;     /* GATEWAY_SHUTDOWN_TIMEOUT: seconds to finish in-flight requests */
	int db_timeout_ms;        /* GATEWAY_DB_TIMEOUT_MS: wait for a free connection */
	char *log_level;          /* GATEWAY_LOG_LEVEL: debug|info|warn|error */
	int64_t amount_min;       /* GATEWAY_AMOUNT_MIN: smallest web payment, kopecks */
	int64_t amount_max;       /* GATEWAY_AMOUNT_MAX: largest web payment, kopecks */
	char *return_hosts;       /* GATEWAY_RETURN_HOSTS: hosts return_url may point to, comma separated */
	int lookup_rate;          /* GATEWAY_LOOKUP_RATE: account lookups per minute per client address */
	int lookup_burst;         /* GATEWAY_LOOKUP_BURST: lookups allowed at once before the rate applies */
	char *sandbox_secret;     /* GATEWAY_SANDBOX_SECRET(_FILE): signs the sandbox's notifications */
};

/* One row of the configuration reference: every variable the service reads. */
struct config_var {
	const char *name;
	const char *def;          /* default as shown to operators ("" = none) */
	bool secret;              /* may be given as NAME_FILE; never printed */
	const char *help;
};
extern const struct config_var config_vars[];
extern const size_t config_nvars;

/* Reads the environment into *c (with defaults). On error returns -1 and writes a one-line message
 * to err; *c is then freed. On success the caller owns c and releases it with config_free(). */
int config_load(struct config *c, char err[CONFIG_ERRSZ]);
void config_free(struct config *c);

/* Parses "host:port" or "[v6]:port" into host/port. Returns 0 or -1 with a message in err. */
int config_parse_listen(const char *s, char *host, size_t hostsz, uint16_t *port, char err[CONFIG_ERRSZ]);

/* Parses a positive decimal integer in [min, max]. Returns 0 or -1. */
int config_parse_int(const char *s, long min, long max, long *out);

/* Parses a size with an optional k/K/m/M suffix (1024 based). Returns 0 or -1. */
int config_parse_size(const char *s, size_t max, size_t *out);

/* Prints the configuration reference as a Markdown table (used to generate and check the README). */
void config_print_reference(void);

#endif
