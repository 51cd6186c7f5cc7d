/* fuzz_util.h — small helpers shared by the libFuzzer targets (header-only, static functions).
 * Inputs that carry several fields are split at '\n': field i is a NUL-terminated copy, the last
 * field takes the rest of the input (newlines included). */
#ifndef GW_FUZZ_UTIL_H
#define GW_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ident.h"

struct fz_fields {
	char *buf;
	int n;
	char *f[8];
	size_t len[8];
};

/* Splits data into at most max (<= 8) fields; missing fields are "". Embedded NUL bytes stay in the
 * copies (len[] tells the real size; C-string users see a prefix, as a C parser would). */
static inline void fz_split(struct fz_fields *s, const uint8_t *data, size_t size, int max)
{
	s->buf = malloc(size + (size_t)max + 1);
	if (!s->buf)
		abort();
	char *w = s->buf;
	size_t i = 0;
	s->n = 0;
	for (int k = 0; k < max; k++) {
		s->f[k] = w;
		size_t start = i;
		if (k < max - 1) {
			while (i < size && data[i] != '\n')
				i++;
		} else {
			i = size;
		}
		size_t n = i - start;
		memcpy(w, data + start, n);
		w[n] = '\0';
		s->len[k] = n;
		w += n + 1;
		if (i < size)
			i++;                /* the '\n' */
		s->n++;
	}
}

static inline void fz_free(struct fz_fields *s) { free(s->buf); }

static inline void fz_queue_init(struct evkeyvalq *q)
{
	q->tqh_first = NULL;
	q->tqh_last = &q->tqh_first;
}

/* How many '&'-separated segments of the query or form text s are named name (raw, as evhttp keeps
 * names; any name when name is NULL) and carry a value that decodes, '+' as a space, to text holding a
 * NUL byte: what http_parse_form must turn into a refusal. Decoded independently of it. */
static inline int fz_nul_values(const char *s, const char *name, bool nocase)
{
	int n = 0;
	while (s && *s) {
		const char *amp = strchr(s, '&');
		size_t len = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		if (eq) {
			size_t klen = (size_t)(eq - s);
			bool named = !name || (strlen(name) == klen && (nocase ? strncasecmp(s, name, klen) == 0
									       : strncmp(s, name, klen) == 0));
			char *v = strndup(eq + 1, len - klen - 1);
			size_t dlen = 0;
			char *d = v ? evhttp_uridecode(v, 1, &dlen) : NULL;
			if (named && d && strlen(d) != dlen)
				n++;
			free(d);
			free(v);
		}
		s = amp ? amp + 1 : NULL;
	}
	return n;
}

/* Counts the entries of q named name (case-insensitively when nocase). */
static inline int fz_count(const struct evkeyvalq *q, const char *name, bool nocase)
{
	int n = 0;
	for (const struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next)
		if (nocase ? strcasecmp(kv->key, name) == 0 : strcmp(kv->key, name) == 0)
			n++;
	return n;
}

/* The text of an XML element as xml_text() wrote it: valid UTF-8, no markup characters except the
 * five predefined entities, no control characters XML 1.0 forbids. */
static inline bool fz_xml_text_safe(const char *s, size_t n)
{
	if (!ident_utf8_valid(s, n))
		return false;
	static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '<' || c == '>' || c == '"' || c == '\'')
			return false;
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
		if (c == '&') {
			bool ok = false;
			for (size_t e = 0; e < 5 && !ok; e++)
				ok = strncmp(s + i, ents[e], strlen(ents[e])) == 0;
			if (!ok)
				return false;
		}
	}
	return true;
}

/* True when s is a "YYYY-MM-DD HH:MM:SS" of digits and separators. */
static inline bool fz_sql_time_shape(const char *s)
{
	if (strlen(s) != 19)
		return false;
	for (int i = 0; i < 19; i++) {
		char want = i == 4 || i == 7 ? '-' : i == 10 ? ' ' : i == 13 || i == 16 ? ':' : '#';
		if (want == '#' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != want)
			return false;
	}
	return true;
}

#endif
