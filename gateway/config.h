/* config.h — the service's configuration, read from GATEWAY_* environment variables. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_ERRSZ 256
#define WEBHOOK_MAX 16           /* endpoints in GATEWAY_WEBHOOK_URLS */
#define WEBHOOK_BATCH_MAX 100    /* events in one webhook POST: a page of the feed (webhooks.c) */

struct proxy_nets;

struct config {
	char listen_host[64];     /* GATEWAY_LISTEN host part (numeric IPv4/IPv6) */
	uint16_t listen_port;     /* GATEWAY_LISTEN port part */
	char *database_url;       /* GATEWAY_DATABASE_URL: the service role's */
	char *migrate_database_url;   /* GATEWAY_MIGRATE_DATABASE_URL: the schema owner's (default: database_url) */
	char *service_role;       /* GATEWAY_SERVICE_ROLE */
	char *public_url;         /* GATEWAY_PUBLIC_URL, without trailing '/' */
	char *mail_url;           /* GATEWAY_MAIL_URL */
	char *mail_from;          /* GATEWAY_MAIL_FROM */
	char *mail_user;          /* GATEWAY_MAIL_USER: SMTP AUTH user; NULL: no AUTH */
	char *mail_password;      /* GATEWAY_MAIL_PASSWORD(_FILE) */
	char *mail_ca_file;       /* GATEWAY_MAIL_CA_FILE: CA bundle for the SMTP server; NULL: system */
	int mail_starttls;        /* GATEWAY_MAIL_STARTTLS: 0 off, 1 try, 2 require */
	int mail_workers;         /* GATEWAY_MAIL_WORKERS: mailer threads; 0 = this gateway sends no mail */
	int mail_max_attempts;    /* GATEWAY_MAIL_MAX_ATTEMPTS: then the receipt is failed */
	int mail_timeout_ms;      /* GATEWAY_MAIL_TIMEOUT_MS: one delivery, connect to last reply */
	int mail_retry_base_ms;   /* GATEWAY_MAIL_RETRY_BASE_MS: first retry delay (doubles per attempt) */
	int mail_retry_max_ms;    /* GATEWAY_MAIL_RETRY_MAX_MS: longest retry delay */
	char *receipt_tz;         /* GATEWAY_RECEIPT_TZ: time zone of dates on receipts */
	char *receipt_issuer;     /* GATEWAY_RECEIPT_ISSUER: provider name on receipts and in From; NULL: none */
	char *admin_token;        /* GATEWAY_ADMIN_TOKEN(_FILE); NULL: internal API off */
	char *adapters;           /* GATEWAY_ADAPTERS, comma separated */
	char *tls_cert;           /* GATEWAY_TLS_CERT (path) */
	char *tls_key;            /* GATEWAY_TLS_KEY (path) */
	struct proxy_nets *trusted_proxies;  /* GATEWAY_TRUSTED_PROXIES, parsed (never NULL once loaded) */
	bool proxy_protocol;      /* GATEWAY_PROXY_PROTOCOL=on: connections start with a PROXY header */
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
	int payment_rate;         /* GATEWAY_PAYMENT_RATE: web payments created per minute per client address */
	int payment_burst;        /* GATEWAY_PAYMENT_BURST */
	int ratelimit_v6_prefix;  /* GATEWAY_RATELIMIT_IPV6_PREFIX */
	int partner_fail_rate;    /* GATEWAY_PARTNER_FAIL_RATE: failed partner logins per minute per login / address */
	int staff_idle_s;         /* GATEWAY_STAFF_IDLE_TIMEOUT: console session idle timeout, seconds */
	int staff_session_s;      /* GATEWAY_STAFF_SESSION_TIMEOUT: console session absolute timeout, seconds */
	int staff_fail_rate;      /* GATEWAY_STAFF_FAIL_RATE: failed console sign-ins per minute per login / address */
	long suspend_below;       /* GATEWAY_SUSPEND_BELOW: kopecks; the charge run suspends below it */
	bool suspend_never;       /* GATEWAY_SUSPEND_BELOW set empty: the charge run suspends nobody */
	char *sandbox_secret;     /* GATEWAY_SANDBOX_SECRET(_FILE): signs the sandbox's notifications */
	/* outbound providers (RBS, YooKassa) and the pending-payment janitor */
	char *ca_file;            /* GATEWAY_CA_FILE: extra CA bundle for outbound TLS; NULL: system store only */
	int provider_timeout_ms;  /* GATEWAY_PROVIDER_TIMEOUT_MS: one call to a provider */
	char *rbs_url;            /* GATEWAY_RBS_URL: RBS gateway base, e.g. https://3dsec.sberbank.ru */
	char *rbs_user;           /* GATEWAY_RBS_USER */
	char *rbs_password;       /* GATEWAY_RBS_PASSWORD(_FILE) */
	char *rbs_callback_key;   /* GATEWAY_RBS_CALLBACK_KEY(_FILE): checksum key of callbacks */
	char *yookassa_url;       /* GATEWAY_YOOKASSA_URL: API base */
	char *yookassa_shop_id;   /* GATEWAY_YOOKASSA_SHOP_ID */
	char *yookassa_secret_key;   /* GATEWAY_YOOKASSA_SECRET_KEY(_FILE) */
	char *yookassa_allow_cidrs;  /* GATEWAY_YOOKASSA_ALLOW_CIDRS: notification sources; NULL: any */
	long pending_recheck;     /* GATEWAY_PENDING_RECHECK: seconds before the janitor asks the provider */
	long pending_expire;      /* GATEWAY_PENDING_EXPIRE: seconds before an unpaid payment is canceled */
	long janitor_interval;    /* GATEWAY_JANITOR_INTERVAL: seconds between janitor runs; 0: off here */
	char *partner_tz;         /* GATEWAY_PARTNER_TZ: time zone of partner registries and partners' local times */
	/* fiscal receipts (54-FZ) and the seller printed on every receipt (config_fiscal.c) */
	char *fiscal;             /* GATEWAY_FISCAL: none | atol | yookassa | sandbox */
	char *atol_url;           /* GATEWAY_ATOL_URL: base, e.g. https://online.atol.ru */
	char *atol_login;         /* GATEWAY_ATOL_LOGIN */
	char *atol_password;      /* GATEWAY_ATOL_PASSWORD(_FILE) */
	char *atol_group;         /* GATEWAY_ATOL_GROUP: the group code of the cash registers */
	long atol_poll_after_ms;  /* GATEWAY_ATOL_POLL_AFTER_MS: ask for a result this long after registering */
	char *seller_name;        /* GATEWAY_SELLER_NAME (default: GATEWAY_RECEIPT_ISSUER) */
	char *seller_inn;         /* GATEWAY_SELLER_INN: 10 or 12 digits, checksum checked */
	char *seller_sno;         /* GATEWAY_SELLER_SNO: osn | usn_income | usn_income_outcome | esn | patent */
	char *seller_vat;         /* GATEWAY_SELLER_VAT: none | vat0 | vat5 | vat7 | vat10 | vat20 | vat22 | vat105 | vat107 | vat110 | vat120 | vat122 */
	char *seller_email;       /* GATEWAY_SELLER_EMAIL */
	char *seller_payment_address;  /* GATEWAY_SELLER_PAYMENT_ADDRESS: the site's URL (tag 1187) */
	char *seller_phone;       /* GATEWAY_SELLER_PHONE: the hotline */
	char *fiscal_item;        /* GATEWAY_FISCAL_ITEM: the item's text, %s = the contract */
	char *fiscal_payment_method;  /* GATEWAY_FISCAL_PAYMENT_METHOD: advance | full_prepayment | prepayment */
	long fiscal_mail_wait_ms; /* GATEWAY_FISCAL_MAIL_WAIT_MS: how long a receipt mail waits for the fiscal data */
	int fiscal_workers;       /* GATEWAY_FISCAL_WORKERS: fiscal outbox threads of this gateway */
	/* events for the billing and the personal cabinet, and their webhooks (config_events.c) */
	bool events;              /* GATEWAY_EVENTS=on|off: money and status changes write events */
	int events_keep_days;     /* GATEWAY_EVENTS_KEEP_DAYS */
	int webhook_n;            /* endpoints in GATEWAY_WEBHOOK_URLS */
	char *webhook_url[WEBHOOK_MAX];
	char *webhook_secret[WEBHOOK_MAX];  /* its GATEWAY_WEBHOOK_SECRETS entry, else GATEWAY_WEBHOOK_SECRET */
	int webhook_workers;      /* GATEWAY_WEBHOOK_WORKERS: delivery threads of this gateway */
	int webhook_timeout_ms;   /* GATEWAY_WEBHOOK_TIMEOUT_MS: one delivery, connect to the whole answer */
	long webhook_give_up_s;   /* GATEWAY_WEBHOOK_GIVE_UP_AFTER: seconds an event is retried before it is given up */
	int webhook_retry_max_ms; /* GATEWAY_WEBHOOK_RETRY_MAX_MS: longest pause between attempts */
	int webhook_batch;        /* GATEWAY_WEBHOOK_BATCH: at most this many events in one POST */
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

/* For the loaders split out of config.c (config_fiscal.c): a variable's value as a new string (its
 * _FILE twin read when secret; def when unset; *bad and err on failure), and a bounded integer. */
/* Writes a one-line message into err and returns -1. */
__attribute__((format(printf, 2, 3))) int config_fail(char err[CONFIG_ERRSZ], const char *fmt, ...);
char *config_getvar(const char *name, bool secret, const char *def, char err[CONFIG_ERRSZ], bool *bad);
int config_int_var(const char *name, long min, long max, long def, long *out, char err[CONFIG_ERRSZ]);
int config_load_fiscal(struct config *c, char err[CONFIG_ERRSZ]);
void config_free_fiscal(struct config *c);
int config_load_events(struct config *c, char err[CONFIG_ERRSZ]);
void config_free_events(struct config *c);
/* The fiscal item's text for a contract (GATEWAY_FISCAL_ITEM with %s replaced) into out: 0, or -1
 * when it is longer than FISCAL_ITEM_MAX characters (tag 1030) or does not fit. */
#define FISCAL_ITEM_MAX 128
int config_fiscal_item(const struct config *c, const char *contract, char *out, size_t outsz);

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
