/* config_events.c — the events part of the configuration (GATEWAY_EVENTS*, GATEWAY_WEBHOOK_*): read
 * and checked at start, so a webhook URL with credentials in it, a missing or short secret, or more
 * secrets than endpoints stop the gateway with one line instead of failing every delivery later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* http(s)://host[:port][/path][?query], one line, no user:password@ (the URL is stored and shown). */
static int url_ok(const char *u, char err[CONFIG_ERRSZ])
{
	size_t n = strlen(u);
	const char *rest = strncmp(u, "https://", 8) == 0 ? u + 8 : strncmp(u, "http://", 7) == 0 ? u + 7 : NULL;
	if (!rest || n > 2000 || !*rest || *rest == '/')
		return config_fail(err, "GATEWAY_WEBHOOK_URLS: \"%.60s\" is not an http:// or https:// URL", u);
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return config_fail(err, "GATEWAY_WEBHOOK_URLS: \"%.60s\": spaces or control characters", u);
	size_t host = strcspn(rest, "/?#");
	if (memchr(rest, '@', host))
		return config_fail(err, "GATEWAY_WEBHOOK_URLS: \"%.60s\": no user or password in the URL (it is stored and "
				   "shown); the signature authenticates the gateway", u);
	if (strchr(u, '#'))
		return config_fail(err, "GATEWAY_WEBHOOK_URLS: \"%.60s\": no fragment (#) in the URL", u);
	return 0;
}

/* Splits a comma-separated list into at most max new strings (empty entries kept, spaces trimmed).
 * The count, or -1 when there are more. */
static int split(const char *list, char **out, int max)
{
	int n = 0;
	for (const char *p = list;; n++) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (n >= max)
			return -1;
		if (!(out[n] = strndup(p, len)))
			return -1;
		if (!e)
			return n + 1;
		p = e + 1;
	}
}

int config_load_events(struct config *c, char err[CONFIG_ERRSZ])
{
	bool bad = false;
	char *ev = config_getvar("GATEWAY_EVENTS", false, "on", err, &bad);
	if (bad)
		return -1;
	c->events = strcmp(ev, "on") == 0;
	bool valid = c->events || strcmp(ev, "off") == 0;
	free(ev);
	if (!valid)
		return config_fail(err, "GATEWAY_EVENTS: expected on or off");
	long v;
	if (config_int_var("GATEWAY_EVENTS_KEEP_DAYS", 1, 3650, 7, &v, err) != 0)
		return -1;
	c->events_keep_days = (int)v;
	if (config_int_var("GATEWAY_WEBHOOK_WORKERS", 0, 8, 1, &v, err) != 0)
		return -1;
	c->webhook_workers = (int)v;
	if (config_int_var("GATEWAY_WEBHOOK_TIMEOUT_MS", 100, 120000, 10000, &v, err) != 0)
		return -1;
	c->webhook_timeout_ms = (int)v;
	if (config_int_var("GATEWAY_WEBHOOK_GIVE_UP_AFTER", 1, 2592000, 259200, &v, err) != 0)
		return -1;
	c->webhook_give_up_s = v;
	if (config_int_var("GATEWAY_WEBHOOK_RETRY_MAX_MS", 1000, 86400000, 600000, &v, err) != 0)
		return -1;
	c->webhook_retry_max_ms = (int)v;
	if (config_int_var("GATEWAY_WEBHOOK_BATCH", 1, WEBHOOK_BATCH_MAX, 100, &v, err) != 0)
		return -1;
	c->webhook_batch = (int)v;

	char *urls = config_getvar("GATEWAY_WEBHOOK_URLS", false, NULL, err, &bad);
	char *secret = bad ? NULL : config_getvar("GATEWAY_WEBHOOK_SECRET", true, NULL, err, &bad);
	char *secrets = bad ? NULL : config_getvar("GATEWAY_WEBHOOK_SECRETS", true, NULL, err, &bad);
	char *each[WEBHOOK_MAX] = {0};
	int ns = 0, rc = -1;
	if (bad)
		goto out;
	if (!urls) {
		if (secrets)
			config_fail(err, "GATEWAY_WEBHOOK_SECRETS without GATEWAY_WEBHOOK_URLS");
		else
			rc = 0;
		goto out;
	}
	if (!c->events) {
		config_fail(err, "GATEWAY_WEBHOOK_URLS needs GATEWAY_EVENTS=on");
		goto out;
	}
	if ((c->webhook_n = split(urls, c->webhook_url, WEBHOOK_MAX)) < 0) {
		c->webhook_n = WEBHOOK_MAX;
		config_fail(err, "GATEWAY_WEBHOOK_URLS: at most %d endpoints", WEBHOOK_MAX);
		goto out;
	}
	if (secrets && (ns = split(secrets, each, WEBHOOK_MAX)) < 0) {
		ns = WEBHOOK_MAX;
		config_fail(err, "GATEWAY_WEBHOOK_SECRETS: more secrets than endpoints");
		goto out;
	}
	if (ns > c->webhook_n) {
		config_fail(err, "GATEWAY_WEBHOOK_SECRETS: %d secrets for %d endpoints", ns, c->webhook_n);
		goto out;
	}
	for (int i = 0; i < c->webhook_n; i++) {
		if (url_ok(c->webhook_url[i], err) != 0)
			goto out;
		for (int j = 0; j < i; j++)
			if (strcmp(c->webhook_url[i], c->webhook_url[j]) == 0) {
				config_fail(err, "GATEWAY_WEBHOOK_URLS: \"%.60s\" is listed twice", c->webhook_url[i]);
				goto out;
			}
		const char *s = i < ns && *each[i] ? each[i] : secret;
		if (!s || strlen(s) < 16) {
			config_fail(err, "GATEWAY_WEBHOOK_SECRET%s: endpoint %d needs a secret of at least 16 characters",
				    i < ns ? "S" : "", i + 1);
			goto out;
		}
		if (!(c->webhook_secret[i] = strdup(s))) {
			config_fail(err, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	for (int i = 0; i < ns; i++) {
		if (each[i])
			explicit_bzero(each[i], strlen(each[i]));
		free(each[i]);
	}
	if (secret)
		explicit_bzero(secret, strlen(secret));
	if (secrets)
		explicit_bzero(secrets, strlen(secrets));
	free(secret);
	free(secrets);
	free(urls);
	return rc;
}

void config_free_events(struct config *c)
{
	for (int i = 0; i < WEBHOOK_MAX; i++) {
		free(c->webhook_url[i]);
		if (c->webhook_secret[i])
			explicit_bzero(c->webhook_secret[i], strlen(c->webhook_secret[i]));
		free(c->webhook_secret[i]);
		c->webhook_url[i] = c->webhook_secret[i] = NULL;
	}
	c->webhook_n = 0;
}
