/* log.c — JSON lines on stderr. Never given secrets, card data or full personal data by its callers. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ident.h"

/* Length of the valid UTF-8 sequence at p (a NUL-terminated string), or 0. */
static size_t utf8_len_at(const unsigned char *p)
{
	uint32_t cp;
	return ident_utf8_decode(p, 4, &cp);
}

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

/* Bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'. */
static bool plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

void log_json_escape(char *dst, size_t cap, size_t *len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		char esc[8];
		if (plain(*p)) {                    /* the common case: a run of plain ASCII in one copy */
			const unsigned char *q = p + 1;
			while (plain(*q))
				q++;
			put(dst, cap, len, (const char *)p, (size_t)(q - p));
			p = q;
		} else if (*p == '"' || *p == '\\') {
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
			size_t n = utf8_len_at(p);
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

/* log_json_escape without the bounds checks, for a field fits() has made room for (6 bytes per byte). */
static char *escape_to(char *d, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (plain(*p)) {
			*d++ = (char)*p++;
		} else if (*p == '"' || *p == '\\') {
			*d++ = '\\';
			*d++ = (char)*p++;
		} else {
			size_t n = *p >= 0x80 ? utf8_len_at(p) : 0;
			if (n) {
				memcpy(d, p, n);
				d += n;
				p += n;
			} else {                      /* control character, DEL or a byte that is not UTF-8: \u00xx */
				memcpy(d, "\\u00", 4);
				d[4] = hex[*p >> 4];
				d[5] = hex[*p & 15];
				d += 6;
				p++;
			}
		}
	}
	return d;
}

/* ---- batching: an event loop's lines leave in one write(2) per loop turn ---------------------- */

/* At most PIPE_BUF bytes, so one write stays atomic when stderr is a pipe shared with other threads;
 * lines are whole in it (a line is at most sizeof(struct log_line.buf) bytes). */
static _Thread_local struct {
	bool on;
	size_t len;
	char buf[4096];
} batch;

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;             /* nowhere to log to: the lines are dropped, as before */
		p += w;
		n -= (size_t)w;
	}
}

void log_batch_begin(void) { batch.on = true; }

void log_flush(void)
{
	if (batch.len) {
		write_all(batch.buf, batch.len);
		batch.len = 0;
	}
}

void log_batch_end(void)
{
	log_flush();
	batch.on = false;
}

/* A field is written whole or not at all, so a long line stays valid JSON. */
static int fits(const struct log_line *l, const char *key, const char *val)
{
	size_t worst = 6 * (strlen(key) + strlen(val)) + 8;
	return l->len + worst + 3 <= sizeof l->buf;
}

/* This thread's "{"ts":"YYYY-MM-DDTHH:MM:SS" for the second it was made in: formatted once a second. */
static _Thread_local struct {
	time_t sec;
	char text[32];
	size_t len;
} ts_cache = {-1, "", 0};

void log_begin(struct log_line *l, enum log_level lvl, const char *msg)
{
	l->len = 0;
	l->skip = !log_enabled(lvl);
	if (l->skip)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != ts_cache.sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		int n = snprintf(ts_cache.text, sizeof ts_cache.text, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d",
				 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		ts_cache.len = n > 0 && (size_t)n < sizeof ts_cache.text ? (size_t)n : 0;
		ts_cache.sec = ts.tv_sec;
	}
	put(l->buf, sizeof l->buf, &l->len, ts_cache.text, ts_cache.len);
	long ms = ts.tv_nsec / 1000000;
	char frac[5] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z'};
	put(l->buf, sizeof l->buf, &l->len, frac, sizeof frac);
	put(l->buf, sizeof l->buf, &l->len, "\",\"level\":\"", 11);
	put(l->buf, sizeof l->buf, &l->len, level_names[lvl], strlen(level_names[lvl]));
	put(l->buf, sizeof l->buf, &l->len, "\",\"msg\":\"", 9);
	log_json_escape(l->buf, sizeof l->buf, &l->len, msg);
	put(l->buf, sizeof l->buf, &l->len, "\"", 1);
}

void log_str(struct log_line *l, const char *key, const char *val)
{
	if (l->skip || !val)
		return;
	if (!fits(l, key, val))
		return;
	char *d = l->buf + l->len;        /* fits() left room for the worst case: no checks per byte */
	*d++ = ',';
	*d++ = '"';
	d = escape_to(d, key);
	memcpy(d, "\":\"", 3);
	d = escape_to(d + 3, val);
	*d++ = '"';
	l->len = (size_t)(d - l->buf);
}

void log_int(struct log_line *l, const char *key, long long val)
{
	if (l->skip)
		return;
	char num[24];
	size_t n = 0;
	unsigned long long u = val < 0 ? 0ULL - (unsigned long long)val : (unsigned long long)val;
	char rev[24];
	do {
		rev[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	size_t k = 0;
	if (val < 0)
		num[k++] = '-';
	while (n)
		num[k++] = rev[--n];
	num[k] = '\0';
	if (!fits(l, key, num))
		return;
	char *d = l->buf + l->len;
	*d++ = ',';
	*d++ = '"';
	d = escape_to(d, key);
	*d++ = '"';
	*d++ = ':';
	memcpy(d, num, k);
	l->len = (size_t)(d + k - l->buf);
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
	if (batch.on) {
		if (batch.len + l->len > sizeof batch.buf)
			log_flush();
		memcpy(batch.buf + batch.len, l->buf, l->len);
		batch.len += l->len;
		return;
	}
	write_all(l->buf, l->len);
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
