/* log.c — JSON lines on stderr. Never given secrets, card data or full personal data by its callers. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_set_level(enum log_level lvl) { atomic_store(&min_level, (int)lvl); }
int log_enabled(enum log_level lvl) { return (int)lvl >= atomic_load(&min_level); }

static void put(char *dst, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n >= cap)
		n = *len + 1 < cap ? cap - *len - 1 : 0;
	memcpy(dst + *len, s, n);
	*len += n;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned cp = c & (0x7Fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

void log_json_escape(char *dst, size_t cap, size_t *len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(dst, cap, len, esc, 2);
			p++;
		} else if (*p < 0x20 || *p == 0x7F) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			put(dst, cap, len, esc, 6);
			p++;
		} else if (*p < 0x80) {
			put(dst, cap, len, (const char *)p, 1);
			p++;
		} else {
			size_t n = utf8_seq(p);
			if (n) {
				put(dst, cap, len, (const char *)p, n);
				p += n;
			} else {
				snprintf(esc, sizeof esc, "\\u%04x", *p);
				put(dst, cap, len, esc, 6);
				p++;
			}
		}
	}
}

/* A field is written whole or not at all, so a long line stays valid JSON. */
static int fits(const struct log_line *l, const char *key, const char *val)
{
	size_t worst = 6 * (strlen(key) + strlen(val)) + 8;
	return l->len + worst + 3 <= sizeof l->buf;
}

void log_begin(struct log_line *l, enum log_level lvl, const char *msg)
{
	l->len = 0;
	l->skip = !log_enabled(lvl);
	if (l->skip)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char head[96];
	int n = snprintf(head, sizeof head, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, level_names[lvl]);
	put(l->buf, sizeof l->buf, &l->len, head, (size_t)n);
	log_json_escape(l->buf, sizeof l->buf, &l->len, msg);
	put(l->buf, sizeof l->buf, &l->len, "\"", 1);
}

void log_str(struct log_line *l, const char *key, const char *val)
{
	if (l->skip || !val)
		return;
	if (!fits(l, key, val))
		return;
	put(l->buf, sizeof l->buf, &l->len, ",\"", 2);
	log_json_escape(l->buf, sizeof l->buf, &l->len, key);
	put(l->buf, sizeof l->buf, &l->len, "\":\"", 3);
	log_json_escape(l->buf, sizeof l->buf, &l->len, val);
	put(l->buf, sizeof l->buf, &l->len, "\"", 1);
}

void log_int(struct log_line *l, const char *key, long long val)
{
	if (l->skip)
		return;
	char num[32];
	int n = snprintf(num, sizeof num, "%lld", val);
	if (!fits(l, key, num))
		return;
	put(l->buf, sizeof l->buf, &l->len, ",\"", 2);
	log_json_escape(l->buf, sizeof l->buf, &l->len, key);
	put(l->buf, sizeof l->buf, &l->len, "\":", 2);
	put(l->buf, sizeof l->buf, &l->len, num, (size_t)n);
}

void log_end(struct log_line *l)
{
	if (l->skip)
		return;
	/* Room for the closing brace and newline is kept even when fields were cut. */
	if (l->len > sizeof l->buf - 3)
		l->len = sizeof l->buf - 3;
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	ssize_t w = write(STDERR_FILENO, l->buf, l->len);
	(void)w;
}

void log_kv(enum log_level lvl, const char *msg, ...)
{
	struct log_line l;
	log_begin(&l, lvl, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		log_str(&l, k, v);
	}
	va_end(ap);
	log_end(&l);
}
