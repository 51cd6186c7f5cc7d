/* config.c — reads GATEWAY_* environment variables (and NAME_FILE for secrets) into struct config.
 * Every variable the service reads is listed in config_vars[], which also generates the README table. */
#include "config.h"

#include "money.h"
#include "proxy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

const struct config_var config_vars[] = {
	{"GATEWAY_LISTEN", "127.0.0.1:8080", false, "address:port of the HTTP listener (`[::1]:8080` for IPv6)"},
	{"GATEWAY_DATABASE_URL", "postgresql:///gateway", true, "libpq connection string or URI of the service role (serve and the CLI commands; never the schema owner)"},
	{"GATEWAY_MIGRATE_DATABASE_URL", "GATEWAY_DATABASE_URL", true, "libpq connection string or URI of the schema owner, used by `gatewayd migrate` only"},
	{"GATEWAY_SERVICE_ROLE", "gateway_service", false, "database role of the service: `migrate` creates it (NOLOGIN) when missing and grants it only reads and the writing functions; serve and the CLI refuse to run as the schema owner or outside this role"},
	{"GATEWAY_PUBLIC_URL", "http://127.0.0.1:8080", false, "base URL used in redirects, emails and receipt links"},
	{"GATEWAY_MAIL_URL", "file://$PWD/var/mail", false, "`smtp://host:port`, `smtps://…`, or `file:///dir` (one .eml per mail)"},
	{"GATEWAY_MAIL_FROM", "receipts@localhost", false, "sender address of receipts"},
	{"GATEWAY_MAIL_USER", "", false, "SMTP AUTH user name; unset: no AUTH"},
	{"GATEWAY_MAIL_PASSWORD", "", true, "SMTP AUTH password"},
	{"GATEWAY_MAIL_STARTTLS", "require with a user, else try", false, "`smtp://` only: `off`, `try` (when offered) or `require` STARTTLS (`smtps://` is always TLS)"},
	{"GATEWAY_MAIL_CA_FILE", "", false, "PEM CA bundle to verify the SMTP server (default: the system's)"},
	{"GATEWAY_MAIL_WORKERS", "1", false, "mailer threads of this gateway (0–16; 0: this gateway sends no mail)"},
	{"GATEWAY_MAIL_MAX_ATTEMPTS", "12", false, "delivery attempts of a receipt before it is marked failed (1–100)"},
	{"GATEWAY_MAIL_TIMEOUT_MS", "30000", false, "limit of one delivery attempt, connect to the server's last reply"},
	{"GATEWAY_MAIL_RETRY_BASE_MS", "30000", false, "delay before the first retry; doubles per attempt, with jitter"},
	{"GATEWAY_MAIL_RETRY_MAX_MS", "3600000", false, "longest delay between two attempts"},
	{"GATEWAY_RECEIPT_TZ", "Europe/Moscow", false, "time zone of the dates on receipts (e.g. `Asia/Tomsk`)"},
	{"GATEWAY_RECEIPT_ISSUER", "", false, "provider's name shown on receipts and as the sender's name of receipt mail"},
	{"GATEWAY_ADMIN_TOKEN", "", true, "bearer token of the internal API; unset: internal API off"},
	{"GATEWAY_ADAPTERS", "", false, "enabled card/wallet adapters, comma separated (`make run` enables `sandbox`; terminal protocols are always on)"},
	{"GATEWAY_THREADS", "number of cores", false, "event-loop threads (1–64)"},
	{"GATEWAY_DB_POOL", "4", false, "PostgreSQL connections per event-loop thread (1–64)"},
	{"GATEWAY_DB_TIMEOUT_MS", "5000", false, "how long a request waits for a database connection before 503"},
	{"GATEWAY_MAX_BODY", "64k", false, "largest accepted request body (bytes, k/m suffix)"},
	{"GATEWAY_SHUTDOWN_TIMEOUT", "10", false, "seconds to finish in-flight requests on SIGTERM/SIGINT"},
	{"GATEWAY_TLS_CERT", "", false, "PEM certificate chain to serve HTTPS natively (with GATEWAY_TLS_KEY)"},
	{"GATEWAY_TLS_KEY", "", true, "PEM private key for GATEWAY_TLS_CERT"},
	{"GATEWAY_TRUSTED_PROXIES", "", false, "proxies (networks or addresses, comma separated) whose `X-Forwarded-For` or PROXY header names the client; unset: the TCP peer is the client"},
	{"GATEWAY_PROXY_PROTOCOL", "off", false, "`on`: every connection starts with a PROXY protocol v1/v2 header (HAProxy `send-proxy`), believed only from GATEWAY_TRUSTED_PROXIES; a connection without one is dropped"},
	{"GATEWAY_LOG_LEVEL", "info", false, "`debug`, `info`, `warn` or `error`"},
	{"GATEWAY_AMOUNT_MIN", "1.00", false, "smallest web payment, roubles"},
	{"GATEWAY_AMOUNT_MAX", "100000.00", false, "largest web payment, roubles"},
	{"GATEWAY_RETURN_HOSTS", "host of GATEWAY_PUBLIC_URL", false, "hosts a payment's `return_url` may point to, comma separated"},
	{"GATEWAY_LOOKUP_RATE", "30", false, "account lookups per minute per client address (429 beyond)"},
	{"GATEWAY_LOOKUP_BURST", "10", false, "account lookups a client may make at once before the rate applies"},
	{"GATEWAY_PAYMENT_RATE", "20", false, "web payments a client address may create per minute (429 beyond)"},
	{"GATEWAY_PAYMENT_BURST", "10", false, "web payments a client may create at once before the rate applies"},
	{"GATEWAY_RATELIMIT_IPV6_PREFIX", "64", false, "IPv6 clients are counted per network of this many bits by the per-address limits (32–128; IPv4 per address)"},
	{"GATEWAY_PARTNER_FAIL_RATE", "30", false, "failed partner logins allowed per minute per login and per client address; as many at once; beyond, refused unchecked (a partner whose right password was seen before still gets in)"},
	{"GATEWAY_STAFF_IDLE_TIMEOUT", "1800", false, "console (/admin) sessions end after this many seconds without a request (60–86400)"},
	{"GATEWAY_STAFF_SESSION_TIMEOUT", "43200", false, "console sessions end this many seconds after sign-in whatever happens (300–604800)"},
	{"GATEWAY_STAFF_FAIL_RATE", "5", false, "failed console sign-ins allowed per minute per login and per client address; as many at once; beyond, refused unchecked (429)"},
	{"GATEWAY_SANDBOX_SECRET", "random per process", true, "HMAC key of the sandbox acquirer's notifications"},
	{"GATEWAY_FISCAL", "none", false, "fiscal receipts (54-FZ) of web payments: `none`, `atol` (ATOL Online v4), `yookassa` (YooKassa receipts its own payments) or `sandbox` (test data, marked as not fiscal)"},
	{"GATEWAY_ATOL_URL", "", false, "ATOL Online base URL, e.g. `https://online.atol.ru` (with GATEWAY_FISCAL=atol)"},
	{"GATEWAY_ATOL_LOGIN", "", false, "ATOL Online login"},
	{"GATEWAY_ATOL_PASSWORD", "", true, "ATOL Online password"},
	{"GATEWAY_ATOL_GROUP", "", false, "ATOL Online group code of the cash registers"},
	{"GATEWAY_ATOL_POLL_AFTER_MS", "300000", false, "ask ATOL for a document's result this long after registering it when no callback came (1000–86400000)"},
	{"GATEWAY_SELLER_NAME", "GATEWAY_RECEIPT_ISSUER", false, "the seller's name on every receipt"},
	{"GATEWAY_SELLER_INN", "", false, "the seller's INN (10 or 12 digits, checksum checked); on every receipt"},
	{"GATEWAY_SELLER_SNO", "", false, "taxation system: `osn`, `usn_income`, `usn_income_outcome`, `esn` or `patent`"},
	{"GATEWAY_SELLER_VAT", "none", false, "VAT of the service: `none`, `vat0`, `vat5`, `vat7`, `vat10`, `vat20`, `vat22`, `vat105`, `vat107`, `vat110`, `vat120` or `vat122`"},
	{"GATEWAY_SELLER_EMAIL", "", false, "the seller's e-mail in fiscal documents"},
	{"GATEWAY_SELLER_PAYMENT_ADDRESS", "GATEWAY_PUBLIC_URL", false, "settlement place of Internet payments (tag 1187): the site's URL"},
	{"GATEWAY_SELLER_PHONE", "", false, "the hotline on every receipt"},
	{"GATEWAY_FISCAL_ITEM", "Оплата услуг связи по договору %s", false, "the fiscal item's text; `%s` is the contract"},
	{"GATEWAY_FISCAL_PAYMENT_METHOD", "advance", false, "fiscal payment method of a top-up: `advance`, `full_prepayment` or `prepayment`"},
	{"GATEWAY_FISCAL_MAIL_WAIT_MS", "60000", false, "how long a receipt mail waits for the fiscal data; later, the mail goes and a second one brings the fiscal receipt"},
	{"GATEWAY_FISCAL_WORKERS", "1", false, "fiscal outbox threads of this gateway (0–8; 0: this gateway sends no fiscal documents)"},
	{"GATEWAY_CA_FILE", "", false, "PEM CA bundle trusted for outbound TLS to providers, besides the system store"},
	{"GATEWAY_PROVIDER_TIMEOUT_MS", "10000", false, "limit of one call to a provider's API (a create is tried up to 3 times)"},
	{"GATEWAY_RBS_URL", "", false, "RBS gateway base URL, e.g. `https://3dsec.sberbank.ru` (adapter `rbs`)"},
	{"GATEWAY_RBS_USER", "", false, "RBS API user name (`userName`)"},
	{"GATEWAY_RBS_PASSWORD", "", true, "RBS API password"},
	{"GATEWAY_RBS_CALLBACK_KEY", "", true, "key of the RBS callbacks' `checksum` (HMAC-SHA256); unsigned callbacks are ignored"},
	{"GATEWAY_YOOKASSA_URL", "https://api.yookassa.ru/v3", false, "YooKassa API base URL (adapter `yookassa`)"},
	{"GATEWAY_YOOKASSA_SHOP_ID", "", false, "YooKassa shop id (`shopId`)"},
	{"GATEWAY_YOOKASSA_SECRET_KEY", "", true, "YooKassa secret key"},
	{"GATEWAY_YOOKASSA_ALLOW_CIDRS", "", false, "networks YooKassa notifications may come from, comma separated; unset: any (they are re-read from the API anyway)"},
	{"GATEWAY_PENDING_RECHECK", "60", false, "seconds a web payment may stay unconfirmed before the janitor asks its provider (1–86400)"},
	{"GATEWAY_PENDING_EXPIRE", "3600", false, "seconds after which an unpaid web payment is canceled (1–604800; the bank's page lives as long)"},
	{"GATEWAY_JANITOR_INTERVAL", "30", false, "seconds between janitor runs on this gateway (0: no janitor here)"},
	{"GATEWAY_PARTNER_TZ", "Europe/Moscow", false, "time zone of partner registry days and of terminals' local times (`txn_date`, `PAY_DATE`); also the days of the daily fee"},
	{"GATEWAY_EVENTS", "on", false, "`on`: every payment, refund, fee, charge, adjustment, account status and receipt change writes an event (the feed `GET /v1/internal/events`, the webhooks); `off`: none"},
	{"GATEWAY_EVENTS_KEEP_DAYS", "7", false, "days events stay readable in the feed (1–3650; at least the webhooks' give-up time)"},
	{"GATEWAY_WEBHOOK_URLS", "", false, "webhook endpoints (http:// or https://, comma separated, up to 16; no credentials in them: they are stored and shown); every event is POSTed to each, in order (those waiting together: GATEWAY_WEBHOOK_BATCH)"},
	{"GATEWAY_WEBHOOK_SECRET", "", true, "signs the webhooks (`X-Signature: t=…,v1=HMAC-SHA256(secret, \"t.body\")`); at least 16 characters; required with GATEWAY_WEBHOOK_URLS"},
	{"GATEWAY_WEBHOOK_SECRETS", "", true, "per-endpoint secrets, comma separated in the order of GATEWAY_WEBHOOK_URLS; an empty entry takes GATEWAY_WEBHOOK_SECRET"},
	{"GATEWAY_WEBHOOK_WORKERS", "1", false, "webhook delivery threads of this gateway (0–8; 0: this gateway delivers none); one endpoint is served by one thread of one gateway at a time"},
	{"GATEWAY_WEBHOOK_TIMEOUT_MS", "10000", false, "one delivery, from connect to the whole answer (100–120000); later counts as failed and is repeated"},
	{"GATEWAY_WEBHOOK_GIVE_UP_AFTER", "259200", false, "seconds (from the event) a failing delivery is retried before the event is given up and listed in the failures (1–2592000; 3 days)"},
	{"GATEWAY_WEBHOOK_RETRY_MAX_MS", "600000", false, "longest pause between two attempts (1000–86400000); the pause doubles from 1 s, jittered"},
	{"GATEWAY_WEBHOOK_BATCH", "100", false, "at most this many events in one POST (1–100): the events waiting for an endpoint go together, `{\"events\": […]}`; 1 sends each alone (still in that shape)"},
	{"GATEWAY_SUSPEND_BELOW", "0", false, "kopecks: the charge run (`gatewayd charge`) suspends an active account whose balance falls below this, and a top-up back to it returns the account; empty: never suspend"},
};
const size_t config_nvars = sizeof config_vars / sizeof config_vars[0];




int config_parse_size(const char *s, size_t max, size_t *out)
{
	if (!s || !*s)
		return -1;
	size_t len = strlen(s);
	size_t mult = 1;
	char last = s[len - 1];
	if (last == 'k' || last == 'K')
		mult = 1024;
	else if (last == 'm' || last == 'M')
		mult = 1024 * 1024;
	char num[16];
	size_t nlen = mult == 1 ? len : len - 1;
	if (nlen == 0 || nlen >= sizeof num)
		return -1;
	memcpy(num, s, nlen);
	num[nlen] = '\0';
	long v;
	if (config_parse_int(num, 1, LONG_MAX, &v) != 0)
		return -1;
	if ((size_t)v > max / mult)
		return -1;
	*out = (size_t)v * mult;
	return 0;
}

int config_parse_listen(const char *s, char *host, size_t hostsz, uint16_t *port, char err[CONFIG_ERRSZ])
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return config_fail(err, "GATEWAY_LISTEN=%.60s: expected [ipv6]:port", s);
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return config_fail(err, "GATEWAY_LISTEN=%.60s: expected host:port, e.g. 127.0.0.1:8080", s);
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostsz)
		return config_fail(err, "GATEWAY_LISTEN=%.60s: missing or too long host", s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return config_fail(err, "GATEWAY_LISTEN=%.60s: host must be a numeric IP address", s);
	long p;
	if (config_parse_int(colon + 1, 1, 65535, &p) != 0)
		return config_fail(err, "GATEWAY_LISTEN=%.60s: port must be a number 1..65535", s);
	*port = (uint16_t)p;
	return 0;
}

void config_free(struct config *c)
{
	config_free_fiscal(c);
	config_free_events(c);
	free(c->database_url);
	free(c->migrate_database_url);
	free(c->service_role);
	free(c->public_url);
	free(c->mail_url);
	free(c->mail_from);
	free(c->mail_user);
	free(c->mail_password);
	free(c->mail_ca_file);
	free(c->receipt_tz);
	free(c->receipt_issuer);
	free(c->admin_token);
	free(c->adapters);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->trusted_proxies);
	free(c->log_level);
	free(c->return_hosts);
	free(c->sandbox_secret);
	free(c->ca_file);
	free(c->rbs_url);
	free(c->rbs_user);
	free(c->rbs_password);
	free(c->rbs_callback_key);
	free(c->yookassa_url);
	free(c->yookassa_shop_id);
	free(c->yookassa_secret_key);
	free(c->yookassa_allow_cidrs);
	free(c->partner_tz);
	memset(c, 0, sizeof *c);
}

static char *default_mail_url(void)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return strdup("file:///tmp/gateway-mail");
	size_t n = strlen(cwd) + 32;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "file://%s/var/mail", cwd);
	return s;
}

/* Reads a rouble amount ("1.00") into kopecks. */
static int money_var(const char *name, int64_t def, int64_t *out, char err[CONFIG_ERRSZ])
{
	const char *v = getenv(name);
	if (!v || !*v) {
		*out = def;
		return 0;
	}
	if (money_parse(v, out) != MONEY_OK)
		return config_fail(err, "%s=%.40s: expected roubles like 100.00", name, v);
	return 0;
}

/* The host part of an http(s) URL, as a new string. */
static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, ":/?#");
	return strndup(p, n);
}


/* A time zone name PostgreSQL will know: "UTC", or a file of the system's zoneinfo (which Debian's
 * PostgreSQL reads too). Checked at start-up so a typo cannot fail bookings later. */
static bool tz_valid(const char *tz)
{
	size_t n = strlen(tz);
	if (n == 0 || n > 60 || strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != n ||
	    tz[0] == '/' || strstr(tz, ".."))
		return false;
	if (strcmp(tz, "UTC") == 0)
		return true;
	char path[128];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	return access("/usr/share/zoneinfo", F_OK) != 0 || access(path, R_OK) == 0;
}

/* Trusted proxies and the PROXY protocol. */
static int config_load_proxies(struct config *c, char err[CONFIG_ERRSZ])
{
	bool bad = false;
	char *nets = config_getvar("GATEWAY_TRUSTED_PROXIES", false, NULL, err, &bad);
	char *pp = bad ? NULL : config_getvar("GATEWAY_PROXY_PROTOCOL", false, "off", err, &bad);
	int rc = -1;
	if (bad)
		goto out;
	c->trusted_proxies = calloc(1, sizeof *c->trusted_proxies);
	char why[160];
	if (!c->trusted_proxies) {
		config_fail(err, "out of memory");
		goto out;
	}
	if (proxy_nets_parse(nets, c->trusted_proxies, why) != 0) {
		config_fail(err, "%s", why);
		goto out;
	}
	if (strcmp(pp, "on") != 0 && strcmp(pp, "off") != 0) {
		config_fail(err, "GATEWAY_PROXY_PROTOCOL=%.20s: expected on or off", pp);
		goto out;
	}
	c->proxy_protocol = strcmp(pp, "on") == 0;
	if (c->proxy_protocol && c->trusted_proxies->n == 0) {
		config_fail(err, "GATEWAY_PROXY_PROTOCOL=on needs GATEWAY_TRUSTED_PROXIES (the proxies whose headers are believed)");
		goto out;
	}
	if (c->proxy_protocol && c->tls_cert) {
		config_fail(err, "GATEWAY_PROXY_PROTOCOL=on cannot be combined with GATEWAY_TLS_CERT: let the proxy terminate TLS");
		goto out;
	}
	rc = 0;
out:
	free(nets);
	free(pp);
	return rc;
}

/* Outbound providers and the janitor. Credentials are checked by the adapters that use them. */
static int config_load_providers(struct config *c, char err[CONFIG_ERRSZ])
{
	bool bad = false;
	c->ca_file = config_getvar("GATEWAY_CA_FILE", false, NULL, err, &bad);
	if (!bad)
		c->rbs_url = config_getvar("GATEWAY_RBS_URL", false, NULL, err, &bad);
	if (!bad)
		c->rbs_user = config_getvar("GATEWAY_RBS_USER", false, NULL, err, &bad);
	if (!bad)
		c->rbs_password = config_getvar("GATEWAY_RBS_PASSWORD", true, NULL, err, &bad);
	if (!bad)
		c->rbs_callback_key = config_getvar("GATEWAY_RBS_CALLBACK_KEY", true, NULL, err, &bad);
	if (!bad)
		c->yookassa_url = config_getvar("GATEWAY_YOOKASSA_URL", false, "https://api.yookassa.ru/v3", err, &bad);
	if (!bad)
		c->yookassa_shop_id = config_getvar("GATEWAY_YOOKASSA_SHOP_ID", false, NULL, err, &bad);
	if (!bad)
		c->yookassa_secret_key = config_getvar("GATEWAY_YOOKASSA_SECRET_KEY", true, NULL, err, &bad);
	if (!bad)
		c->yookassa_allow_cidrs = config_getvar("GATEWAY_YOOKASSA_ALLOW_CIDRS", false, NULL, err, &bad);
	if (bad)
		return -1;
	long v;
	if (config_int_var("GATEWAY_PROVIDER_TIMEOUT_MS", 100, 120000, 10000, &v, err) != 0)
		return -1;
	c->provider_timeout_ms = (int)v;
	if (config_int_var("GATEWAY_PENDING_RECHECK", 1, 86400, 60, &c->pending_recheck, err) != 0 ||
	    config_int_var("GATEWAY_PENDING_EXPIRE", 1, 604800, 3600, &c->pending_expire, err) != 0 ||
	    config_int_var("GATEWAY_JANITOR_INTERVAL", 0, 86400, 30, &c->janitor_interval, err) != 0)
		return -1;
	if (c->pending_expire < c->pending_recheck)
		return config_fail(err, "GATEWAY_PENDING_EXPIRE must not be less than GATEWAY_PENDING_RECHECK");
	return 0;
}

int config_load(struct config *c, char err[CONFIG_ERRSZ])
{
	bool bad = false;
	memset(c, 0, sizeof *c);
	err[0] = '\0';

	char *listen = config_getvar("GATEWAY_LISTEN", false, "127.0.0.1:8080", err, &bad);
	if (listen && config_parse_listen(listen, c->listen_host, sizeof c->listen_host, &c->listen_port, err) != 0)
		bad = true;
	free(listen);
	if (bad)
		goto fail;

	c->database_url = config_getvar("GATEWAY_DATABASE_URL", true, "postgresql:///gateway", err, &bad);
	if (bad)
		goto fail;
	c->migrate_database_url = config_getvar("GATEWAY_MIGRATE_DATABASE_URL", true, c->database_url, err, &bad);
	if (bad)
		goto fail;
	c->service_role = config_getvar("GATEWAY_SERVICE_ROLE", false, "gateway_service", err, &bad);
	if (bad)
		goto fail;
	if (!*c->service_role || strlen(c->service_role) > 63 ||
	    strspn(c->service_role, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(c->service_role)) {
		config_fail(err, "GATEWAY_SERVICE_ROLE: a role name of 1 to 63 lowercase letters, digits and _");
		goto fail;
	}
	c->public_url = config_getvar("GATEWAY_PUBLIC_URL", false, "http://127.0.0.1:8080", err, &bad);
	if (bad)
		goto fail;
	size_t plen = strlen(c->public_url);
	while (plen > 0 && c->public_url[plen - 1] == '/')
		c->public_url[--plen] = '\0';
	if (strncmp(c->public_url, "http://", 7) != 0 && strncmp(c->public_url, "https://", 8) != 0) {
		config_fail(err, "GATEWAY_PUBLIC_URL=%.60s: must start with http:// or https://", c->public_url);
		goto fail;
	}
	c->mail_url = config_getvar("GATEWAY_MAIL_URL", false, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->mail_url && !(c->mail_url = default_mail_url()))
		goto fail;
	if (strncmp(c->mail_url, "smtp://", 7) != 0 && strncmp(c->mail_url, "smtps://", 8) != 0 &&
	    strncmp(c->mail_url, "file:///", 8) != 0) {
		config_fail(err, "GATEWAY_MAIL_URL=%.60s: expected smtp://host:port, smtps://host:port or file:///dir", c->mail_url);
		goto fail;
	}
	c->mail_from = config_getvar("GATEWAY_MAIL_FROM", false, "receipts@localhost", err, &bad);
	if (bad)
		goto fail;
	c->admin_token = config_getvar("GATEWAY_ADMIN_TOKEN", true, NULL, err, &bad);
	if (bad)
		goto fail;
	if (c->admin_token && strlen(c->admin_token) < 16) {
		config_fail(err, "GATEWAY_ADMIN_TOKEN is shorter than 16 characters; use a long random token");
		goto fail;
	}
	c->adapters = config_getvar("GATEWAY_ADAPTERS", false, "", err, &bad);
	if (bad)
		goto fail;
	c->tls_cert = config_getvar("GATEWAY_TLS_CERT", false, NULL, err, &bad);
	if (bad)
		goto fail;
	c->tls_key = config_getvar("GATEWAY_TLS_KEY", true, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->tls_cert != !c->tls_key) {
		config_fail(err, "GATEWAY_TLS_CERT and GATEWAY_TLS_KEY must be set together");
		goto fail;
	}
	if (config_load_proxies(c, err) != 0)
		goto fail;
	c->log_level = config_getvar("GATEWAY_LOG_LEVEL", false, "info", err, &bad);
	if (bad)
		goto fail;
	if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") && strcmp(c->log_level, "warn") &&
	    strcmp(c->log_level, "error")) {
		config_fail(err, "GATEWAY_LOG_LEVEL=%.20s: expected debug, info, warn or error", c->log_level);
		goto fail;
	}

	if (money_var("GATEWAY_AMOUNT_MIN", 100, &c->amount_min, err) != 0 ||
	    money_var("GATEWAY_AMOUNT_MAX", 10000000, &c->amount_max, err) != 0)
		goto fail;
	if (c->amount_min < 1 || c->amount_max < c->amount_min) {
		config_fail(err, "GATEWAY_AMOUNT_MIN must be at least 0.01 and not above GATEWAY_AMOUNT_MAX");
		goto fail;
	}
	c->return_hosts = config_getvar("GATEWAY_RETURN_HOSTS", false, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->return_hosts && !(c->return_hosts = url_host(c->public_url)))
		goto fail;
	c->sandbox_secret = config_getvar("GATEWAY_SANDBOX_SECRET", true, NULL, err, &bad);
	if (bad)
		goto fail;
	if (config_load_providers(c, err) != 0)
		goto fail;
	c->partner_tz = config_getvar("GATEWAY_PARTNER_TZ", false, "Europe/Moscow", err, &bad);
	if (bad)
		goto fail;
	if (!tz_valid(c->partner_tz)) {
		config_fail(err, "GATEWAY_PARTNER_TZ=%.60s: expected a time zone name such as Europe/Moscow or Asia/Tomsk", c->partner_tz);
		goto fail;
	}

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 64)
		ncpu = 64;
	long v;
	if (config_int_var("GATEWAY_THREADS", 1, 64, ncpu, &v, err) != 0)
		goto fail;
	c->threads = (int)v;
	if (config_int_var("GATEWAY_DB_POOL", 1, 64, 4, &v, err) != 0)
		goto fail;
	c->db_pool = (int)v;
	if (config_int_var("GATEWAY_DB_TIMEOUT_MS", 10, 600000, 5000, &v, err) != 0)
		goto fail;
	c->db_timeout_ms = (int)v;
	if (config_int_var("GATEWAY_SHUTDOWN_TIMEOUT", 0, 3600, 10, &v, err) != 0)
		goto fail;
	c->shutdown_timeout = (int)v;
	/* up to 1e8: a load test from one address (make bench) must be able to stay under the limit */
	if (config_int_var("GATEWAY_LOOKUP_RATE", 1, 100000000, 30, &v, err) != 0)
		goto fail;
	c->lookup_rate = (int)v;
	if (config_int_var("GATEWAY_LOOKUP_BURST", 1, 100000000, 10, &v, err) != 0)
		goto fail;
	c->lookup_burst = (int)v;
	if (config_int_var("GATEWAY_PAYMENT_RATE", 1, 100000, 20, &v, err) != 0)
		goto fail;
	c->payment_rate = (int)v;
	if (config_int_var("GATEWAY_PAYMENT_BURST", 1, 100000, 10, &v, err) != 0)
		goto fail;
	c->payment_burst = (int)v;
	if (config_int_var("GATEWAY_RATELIMIT_IPV6_PREFIX", 32, 128, 64, &v, err) != 0)
		goto fail;
	c->ratelimit_v6_prefix = (int)v;
	if (config_int_var("GATEWAY_PARTNER_FAIL_RATE", 1, 100000, 30, &v, err) != 0)
		goto fail;
	c->partner_fail_rate = (int)v;
	if (config_int_var("GATEWAY_STAFF_IDLE_TIMEOUT", 60, 86400, 1800, &v, err) != 0)
		goto fail;
	c->staff_idle_s = (int)v;
	if (config_int_var("GATEWAY_STAFF_SESSION_TIMEOUT", 300, 604800, 43200, &v, err) != 0)
		goto fail;
	c->staff_session_s = (int)v;
	if (config_int_var("GATEWAY_STAFF_FAIL_RATE", 1, 100000, 5, &v, err) != 0)
		goto fail;
	c->staff_fail_rate = (int)v;
	{
		const char *sb = getenv("GATEWAY_SUSPEND_BELOW");
		c->suspend_never = sb && !*sb;
		if (!c->suspend_never && config_int_var("GATEWAY_SUSPEND_BELOW", -100000000000L, 100000000000L, 0, &v, err) != 0)
			goto fail;
		c->suspend_below = c->suspend_never ? 0 : v;
	}
	/* Receipts and the mailer. */
	c->mail_user = config_getvar("GATEWAY_MAIL_USER", false, NULL, err, &bad);
	if (!bad)
		c->mail_password = config_getvar("GATEWAY_MAIL_PASSWORD", true, NULL, err, &bad);
	if (!bad)
		c->mail_ca_file = config_getvar("GATEWAY_MAIL_CA_FILE", false, NULL, err, &bad);
	if (!bad)
		c->receipt_tz = config_getvar("GATEWAY_RECEIPT_TZ", false, "Europe/Moscow", err, &bad);
	if (!bad)
		c->receipt_issuer = config_getvar("GATEWAY_RECEIPT_ISSUER", false, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->mail_user != !c->mail_password) {
		config_fail(err, "GATEWAY_MAIL_USER and GATEWAY_MAIL_PASSWORD must be set together");
		goto fail;
	}
	if (!tz_valid(c->receipt_tz)) {
		config_fail(err, "GATEWAY_RECEIPT_TZ=%.60s: expected a time zone name such as Europe/Moscow or Asia/Tomsk", c->receipt_tz);
		goto fail;
	}
	if (strpbrk(c->mail_from, " \t\r\n<>\"(),;:\\") || !strchr(c->mail_from, '@') || c->mail_from[0] == '@' ||
	    strchr(c->mail_from, '@')[1] == '\0' || strchr(c->mail_from, '@') != strrchr(c->mail_from, '@')) {
		config_fail(err, "GATEWAY_MAIL_FROM=%.60s: expected a bare address like receipts@example.com", c->mail_from);
		goto fail;
	}
	if (c->receipt_issuer && (strlen(c->receipt_issuer) > 200 || strpbrk(c->receipt_issuer, "\r\n"))) {
		config_fail(err, "GATEWAY_RECEIPT_ISSUER: one line of at most 200 bytes expected");
		goto fail;
	}
	const char *tls = getenv("GATEWAY_MAIL_STARTTLS");
	if (!tls || !*tls)
		c->mail_starttls = c->mail_user ? 2 : 1;
	else if (strcmp(tls, "off") == 0)
		c->mail_starttls = 0;
	else if (strcmp(tls, "try") == 0)
		c->mail_starttls = 1;
	else if (strcmp(tls, "require") == 0)
		c->mail_starttls = 2;
	else {
		config_fail(err, "GATEWAY_MAIL_STARTTLS=%.20s: expected off, try or require", tls);
		goto fail;
	}
	if (config_int_var("GATEWAY_MAIL_WORKERS", 0, 16, 1, &v, err) != 0)
		goto fail;
	c->mail_workers = (int)v;
	if (config_int_var("GATEWAY_MAIL_MAX_ATTEMPTS", 1, 100, 12, &v, err) != 0)
		goto fail;
	c->mail_max_attempts = (int)v;
	if (config_int_var("GATEWAY_MAIL_TIMEOUT_MS", 100, 600000, 30000, &v, err) != 0)
		goto fail;
	c->mail_timeout_ms = (int)v;
	if (config_int_var("GATEWAY_MAIL_RETRY_BASE_MS", 10, 86400000, 30000, &v, err) != 0)
		goto fail;
	c->mail_retry_base_ms = (int)v;
	if (config_int_var("GATEWAY_MAIL_RETRY_MAX_MS", 10, 86400000, 3600000, &v, err) != 0)
		goto fail;
	c->mail_retry_max_ms = (int)v;
	if (c->mail_retry_max_ms < c->mail_retry_base_ms) {
		config_fail(err, "GATEWAY_MAIL_RETRY_MAX_MS must not be less than GATEWAY_MAIL_RETRY_BASE_MS");
		goto fail;
	}
	const char *mb = getenv("GATEWAY_MAX_BODY");
	c->max_body = 64 * 1024;
	if (mb && *mb && config_parse_size(mb, 16 * 1024 * 1024, &c->max_body) != 0) {
		config_fail(err, "GATEWAY_MAX_BODY=%.40s: expected a size like 65536, 64k or 1m (at most 16m)", mb);
		goto fail;
	}
	if (config_load_fiscal(c, err) != 0 || config_load_events(c, err) != 0)
		goto fail;
	return 0;
fail:
	config_free(c);
	return -1;
}

void config_print_reference(void)
{
	printf("| variable | default | meaning |\n| --- | --- | --- |\n");
	for (size_t i = 0; i < config_nvars; i++) {
		const struct config_var *v = &config_vars[i];
		printf("| `%s`%s | %s%s%s | %s |\n", v->name, v->secret ? " (or `_FILE`)" : "", *v->def ? "`" : "",
		       *v->def ? v->def : "(none)", *v->def ? "`" : "", v->help);
	}
}
