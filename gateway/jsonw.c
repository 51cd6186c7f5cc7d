/* jsonw.c — compact JSON, byte for byte what jansson's json_dumps(JSON_COMPACT) writes (see jsonw.h). */
#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

/* Length of the valid UTF-8 sequence at p (a NUL-terminated string), or 0. */
static size_t utf8_len_at(const unsigned char *p)
{
	uint32_t cp;
	return ident_utf8_decode(p, 4, &cp);
}

void jw_init(struct jsonw *w)
{
	w->buf = w->inline_buf;
	w->buf[0] = '\0';
	w->len = 0;
	w->cap = sizeof w->inline_buf;
	w->failed = false;
	w->depth = 0;
	w->first[0] = true;
}

void jw_free(struct jsonw *w)
{
	if (w->buf != w->inline_buf)
		free(w->buf);
	w->buf = w->inline_buf;
	w->len = 0;
	w->cap = sizeof w->inline_buf;
}

/* Room for n more bytes and the terminating NUL. */
static bool reserve(struct jsonw *w, size_t n)
{
	if (w->failed)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	size_t cap = w->cap * 2;
	while (cap < w->len + n + 1)
		cap *= 2;
	char *nb = w->buf == w->inline_buf ? malloc(cap) : realloc(w->buf, cap);
	if (!nb) {
		w->failed = true;
		return false;
	}
	if (w->buf == w->inline_buf)
		memcpy(nb, w->inline_buf, w->len);
	w->buf = nb;
	w->cap = cap;
	return true;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void string(struct jsonw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	if (!reserve(w, 6 * n + 2))             /* the worst case, so no check per byte below */
		return;
	const unsigned char *p = (const unsigned char *)s;
	char *d = w->buf + w->len;
	*d++ = '"';
	while (*p) {
		unsigned char c = *p;
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*d++ = (char)c;
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_len_at(p);
			if (!k) {
				w->failed = true;
				return;
			}
			memcpy(d, p, k);
			d += k;
			p += k;
			continue;
		}
		*d++ = '\\';
		switch (c) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			d[0] = 'u';
			d[1] = '0';
			d[2] = '0';
			d[3] = hex[c >> 4];
			d[4] = hex[c & 15];
			d += 5;
		}
		p++;
	}
	*d++ = '"';
	*d = '\0';
	w->len = (size_t)(d - w->buf);
}

/* The separator and key before a member (or element) at the current depth. */
static void member(struct jsonw *w, const char *key)
{
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
	if (key) {
		string(w, key);
		put(w, ":", 1);
	}
}

void jw_obj_begin(struct jsonw *w, const char *key)
{
	member(w, key);
	if (w->depth + 1 >= JSONW_DEPTH) {
		w->failed = true;
		return;
	}
	put(w, "{", 1);
	w->first[++w->depth] = true;
}

void jw_obj_end(struct jsonw *w)
{
	if (w->depth == 0) {
		w->failed = true;
		return;
	}
	w->depth--;
	put(w, "}", 1);
}

void jw_arr_begin(struct jsonw *w, const char *key)
{
	member(w, key);
	if (w->depth + 1 >= JSONW_DEPTH) {
		w->failed = true;
		return;
	}
	put(w, "[", 1);
	w->first[++w->depth] = true;
}

void jw_arr_end(struct jsonw *w)
{
	if (w->depth == 0) {
		w->failed = true;
		return;
	}
	w->depth--;
	put(w, "]", 1);
}

void jw_money(struct jsonw *w, const char *key, long long kopecks)
{
	member(w, key);
	char num[32];
	unsigned long long u = kopecks < 0 ? 0ULL - (unsigned long long)kopecks : (unsigned long long)kopecks;
	int n = snprintf(num, sizeof num, "%s%llu.%02llu", kopecks < 0 ? "-" : "", u / 100, u % 100);
	put(w, num, (size_t)n);
}

void jw_str(struct jsonw *w, const char *key, const char *val)
{
	member(w, key);
	if (val)
		string(w, val);
	else
		put(w, "null", 4);
}

void jw_raw(struct jsonw *w, const char *key, const char *json)
{
	member(w, key);
	put(w, json, strlen(json));
}

void jw_int(struct jsonw *w, const char *key, long long val)
{
	member(w, key);
	char rev[24], num[24];
	size_t n = 0, k = 0;
	unsigned long long u = val < 0 ? 0ULL - (unsigned long long)val : (unsigned long long)val;
	do {
		rev[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (val < 0)
		num[k++] = '-';
	while (n)
		num[k++] = rev[--n];
	put(w, num, k);
}

void jw_bool(struct jsonw *w, const char *key, bool val)
{
	member(w, key);
	put(w, val ? "true" : "false", val ? 4 : 5);
}

void jw_null(struct jsonw *w, const char *key)
{
	member(w, key);
	put(w, "null", 4);
}

const char *jw_text(const struct jsonw *w, size_t *len)
{
	if (w->failed || w->depth != 0) {
		*len = 0;
		return NULL;
	}
	*len = w->len;
	return w->buf;
}
