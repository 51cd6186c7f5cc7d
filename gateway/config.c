/* config.c — reads GATEWAY_* environment variables (and NAME_FILE for secrets) into struct config.
 * Every variable the service reads is listed in config_vars[], which also generates the README table. */
#include "config.h"

#include "money.h"

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
	{"GATEWAY_DATABASE_URL", "postgresql:///gateway", true, "libpq connection string or URI"},
	{"GATEWAY_PUBLIC_URL", "http://127.0.0.1:8080", false, "base URL used in redirects, emails and receipt links"},
	{"GATEWAY_MAIL_URL", "file://$PWD/var/mail", false, "`smtp://host:port`, `smtps://…`, or `file:///dir` (one .eml per mail)"},
	{"GATEWAY_MAIL_FROM", "receipts@localhost", false, "sender address of receipts"},
	{"GATEWAY_ADMIN_TOKEN", "", true, "bearer token of the internal API; unset: internal API off"},
	{"GATEWAY_ADAPTERS", "", false, "enabled card/wallet adapters, comma separated (`make run` enables `sandbox`; terminal protocols are always on)"},
	{"GATEWAY_THREADS", "number of cores", false, "event-loop threads (1–64)"},
	{"GATEWAY_DB_POOL", "4", false, "PostgreSQL connections per event-loop thread (1–64)"},
	{"GATEWAY_DB_TIMEOUT_MS", "5000", false, "how long a request waits for a database connection before 503"},
	{"GATEWAY_MAX_BODY", "64k", false, "largest accepted request body (bytes, k/m suffix)"},
	{"GATEWAY_SHUTDOWN_TIMEOUT", "10", false, "seconds to finish in-flight requests on SIGTERM/SIGINT"},
	{"GATEWAY_TLS_CERT", "", false, "PEM certificate chain to serve HTTPS natively (with GATEWAY_TLS_KEY)"},
	{"GATEWAY_TLS_KEY", "", true, "PEM private key for GATEWAY_TLS_CERT"},
	{"GATEWAY_LOG_LEVEL", "info", false, "`debug`, `info`, `warn` or `error`"},
	{"GATEWAY_AMOUNT_MIN", "1.00", false, "smallest web payment, roubles"},
	{"GATEWAY_AMOUNT_MAX", "100000.00", false, "largest web payment, roubles"},
	{"GATEWAY_RETURN_HOSTS", "host of GATEWAY_PUBLIC_URL", false, "hosts a payment's `return_url` may point to, comma separated"},
	{"GATEWAY_LOOKUP_RATE", "30", false, "account lookups per minute per client address (429 beyond)"},
	{"GATEWAY_LOOKUP_BURST", "10", false, "account lookups a client may make at once before the rate applies"},
	{"GATEWAY_SANDBOX_SECRET", "random per process", true, "HMAC key of the sandbox acquirer's notifications"},
};
const size_t config_nvars = sizeof config_vars / sizeof config_vars[0];

__attribute__((format(printf, 2, 3)))
static int fail(char err[CONFIG_ERRSZ], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CONFIG_ERRSZ, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads a secret file into a new string without the trailing newline. */
static char *read_small_file(const char *path, char err[CONFIG_ERRSZ], const char *var)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fail(err, "%s: cannot read the file: %s", var, strerror(errno));
		return NULL;
	}
	char *buf = malloc(4097);
	size_t n = buf ? fread(buf, 1, 4097, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	if (n > 4096) {
		free(buf);
		fail(err, "%s: the file is larger than 4 KiB", var);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		fail(err, "%s: the file contains a NUL byte", var);
		return NULL;
	}
	return buf;
}

/* Returns a new string with the variable's value: NAME, or the contents of NAME_FILE for secrets,
 * or a copy of def (NULL def and unset: NULL). Sets *bad on error. */
static char *getvar(const char *name, bool secret, const char *def, char err[CONFIG_ERRSZ], bool *bad)
{
	const char *v = getenv(name);
	if (v && !*v)
		v = NULL;
	if (secret) {
		char fname[96];
		snprintf(fname, sizeof fname, "%s_FILE", name);
		const char *path = getenv(fname);
		if (path && *path) {
			if (v) {
				*bad = true;
				fail(err, "%s and %s are both set; use one", name, fname);
				return NULL;
			}
			char *s = read_small_file(path, err, fname);
			if (!s)
				*bad = true;
			return s;
		}
	}
	if (!v)
		v = def;
	if (!v)
		return NULL;
	char *s = strdup(v);
	if (!s) {
		*bad = true;
		fail(err, "out of memory");
	}
	return s;
}

int config_parse_int(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	if (strlen(s) > 9)
		return -1;
	long v = strtol(s, NULL, 10);
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

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
			return fail(err, "GATEWAY_LISTEN=%.60s: expected [ipv6]:port", s);
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return fail(err, "GATEWAY_LISTEN=%.60s: expected host:port, e.g. 127.0.0.1:8080", s);
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostsz)
		return fail(err, "GATEWAY_LISTEN=%.60s: missing or too long host", s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return fail(err, "GATEWAY_LISTEN=%.60s: host must be a numeric IP address", s);
	long p;
	if (config_parse_int(colon + 1, 1, 65535, &p) != 0)
		return fail(err, "GATEWAY_LISTEN=%.60s: port must be a number 1..65535", s);
	*port = (uint16_t)p;
	return 0;
}

void config_free(struct config *c)
{
	free(c->database_url);
	free(c->public_url);
	free(c->mail_url);
	free(c->mail_from);
	free(c->admin_token);
	free(c->adapters);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->log_level);
	free(c->return_hosts);
	free(c->sandbox_secret);
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
		return fail(err, "%s=%.40s: expected roubles like 100.00", name, v);
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

static int int_var(const char *name, long min, long max, long def, long *out, char err[CONFIG_ERRSZ])
{
	const char *v = getenv(name);
	if (!v || !*v) {
		*out = def;
		return 0;
	}
	if (config_parse_int(v, min, max, out) != 0) {
		snprintf(err, CONFIG_ERRSZ, "%s=%.40s: expected a whole number %ld..%ld", name, v, min, max);
		return -1;
	}
	return 0;
}

int config_load(struct config *c, char err[CONFIG_ERRSZ])
{
	bool bad = false;
	memset(c, 0, sizeof *c);
	err[0] = '\0';

	char *listen = getvar("GATEWAY_LISTEN", false, "127.0.0.1:8080", err, &bad);
	if (listen && config_parse_listen(listen, c->listen_host, sizeof c->listen_host, &c->listen_port, err) != 0)
		bad = true;
	free(listen);
	if (bad)
		goto fail;

	c->database_url = getvar("GATEWAY_DATABASE_URL", true, "postgresql:///gateway", err, &bad);
	if (bad)
		goto fail;
	c->public_url = getvar("GATEWAY_PUBLIC_URL", false, "http://127.0.0.1:8080", err, &bad);
	if (bad)
		goto fail;
	size_t plen = strlen(c->public_url);
	while (plen > 0 && c->public_url[plen - 1] == '/')
		c->public_url[--plen] = '\0';
	if (strncmp(c->public_url, "http://", 7) != 0 && strncmp(c->public_url, "https://", 8) != 0) {
		fail(err, "GATEWAY_PUBLIC_URL=%.60s: must start with http:// or https://", c->public_url);
		goto fail;
	}
	c->mail_url = getvar("GATEWAY_MAIL_URL", false, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->mail_url && !(c->mail_url = default_mail_url()))
		goto fail;
	if (strncmp(c->mail_url, "smtp://", 7) != 0 && strncmp(c->mail_url, "smtps://", 8) != 0 &&
	    strncmp(c->mail_url, "file:///", 8) != 0) {
		fail(err, "GATEWAY_MAIL_URL=%.60s: expected smtp://host:port, smtps://host:port or file:///dir", c->mail_url);
		goto fail;
	}
	c->mail_from = getvar("GATEWAY_MAIL_FROM", false, "receipts@localhost", err, &bad);
	if (bad)
		goto fail;
	c->admin_token = getvar("GATEWAY_ADMIN_TOKEN", true, NULL, err, &bad);
	if (bad)
		goto fail;
	if (c->admin_token && strlen(c->admin_token) < 16) {
		fail(err, "GATEWAY_ADMIN_TOKEN is shorter than 16 characters; use a long random token");
		goto fail;
	}
	c->adapters = getvar("GATEWAY_ADAPTERS", false, "", err, &bad);
	if (bad)
		goto fail;
	c->tls_cert = getvar("GATEWAY_TLS_CERT", false, NULL, err, &bad);
	if (bad)
		goto fail;
	c->tls_key = getvar("GATEWAY_TLS_KEY", true, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->tls_cert != !c->tls_key) {
		fail(err, "GATEWAY_TLS_CERT and GATEWAY_TLS_KEY must be set together");
		goto fail;
	}
	c->log_level = getvar("GATEWAY_LOG_LEVEL", false, "info", err, &bad);
	if (bad)
		goto fail;
	if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") && strcmp(c->log_level, "warn") &&
	    strcmp(c->log_level, "error")) {
		fail(err, "GATEWAY_LOG_LEVEL=%.20s: expected debug, info, warn or error", c->log_level);
		goto fail;
	}

	if (money_var("GATEWAY_AMOUNT_MIN", 100, &c->amount_min, err) != 0 ||
	    money_var("GATEWAY_AMOUNT_MAX", 10000000, &c->amount_max, err) != 0)
		goto fail;
	if (c->amount_min < 1 || c->amount_max < c->amount_min) {
		fail(err, "GATEWAY_AMOUNT_MIN must be at least 0.01 and not above GATEWAY_AMOUNT_MAX");
		goto fail;
	}
	c->return_hosts = getvar("GATEWAY_RETURN_HOSTS", false, NULL, err, &bad);
	if (bad)
		goto fail;
	if (!c->return_hosts && !(c->return_hosts = url_host(c->public_url)))
		goto fail;
	c->sandbox_secret = getvar("GATEWAY_SANDBOX_SECRET", true, NULL, err, &bad);
	if (bad)
		goto fail;

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 64)
		ncpu = 64;
	long v;
	if (int_var("GATEWAY_THREADS", 1, 64, ncpu, &v, err) != 0)
		goto fail;
	c->threads = (int)v;
	if (int_var("GATEWAY_DB_POOL", 1, 64, 4, &v, err) != 0)
		goto fail;
	c->db_pool = (int)v;
	if (int_var("GATEWAY_DB_TIMEOUT_MS", 10, 600000, 5000, &v, err) != 0)
		goto fail;
	c->db_timeout_ms = (int)v;
	if (int_var("GATEWAY_SHUTDOWN_TIMEOUT", 0, 3600, 10, &v, err) != 0)
		goto fail;
	c->shutdown_timeout = (int)v;
	if (int_var("GATEWAY_LOOKUP_RATE", 1, 100000, 30, &v, err) != 0)
		goto fail;
	c->lookup_rate = (int)v;
	if (int_var("GATEWAY_LOOKUP_BURST", 1, 100000, 10, &v, err) != 0)
		goto fail;
	c->lookup_burst = (int)v;
	const char *mb = getenv("GATEWAY_MAX_BODY");
	c->max_body = 64 * 1024;
	if (mb && *mb && config_parse_size(mb, 16 * 1024 * 1024, &c->max_body) != 0) {
		fail(err, "GATEWAY_MAX_BODY=%.40s: expected a size like 65536, 64k or 1m (at most 16m)", mb);
		goto fail;
	}
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
