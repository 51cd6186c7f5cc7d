/* jsonw.h — a small writer of compact JSON for fixed-shape responses on hot paths (the account
 * lookup, error envelopes, partner bookings), where building a jansson tree only to dump it costs
 * more than the rest of the request. The bytes are those json_dumps(…, JSON_COMPACT) makes of the
 * same members in the same order: '"', '\\' and control characters escaped as jansson does
 * (\b \f \n \r \t, else \u00XX), everything else, UTF-8 included, as is. A string that is not valid
 * UTF-8 (which json_string / json_pack would refuse) fails the whole document, like theirs. */
#ifndef GW_JSONW_H
#define GW_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#define JSONW_DEPTH 8

struct jsonw {
	char *buf;                /* inline or heap */
	size_t len, cap;
	bool failed;              /* out of memory, invalid UTF-8, or nesting too deep */
	int depth;
	bool first[JSONW_DEPTH];  /* no member written yet at this depth */
	char inline_buf[512];
};

void jw_init(struct jsonw *w);
/* Object members. key NULL: an array element / the top-level value. A NULL string value is a JSON null. */
void jw_obj_begin(struct jsonw *w, const char *key);
void jw_obj_end(struct jsonw *w);
void jw_arr_begin(struct jsonw *w, const char *key);
void jw_arr_end(struct jsonw *w);
/* Kopecks as an exact JSON number of roubles with two decimals (100050 -> 1000.50); never a double. */
void jw_money(struct jsonw *w, const char *key, long long kopecks);
void jw_str(struct jsonw *w, const char *key, const char *val);
void jw_int(struct jsonw *w, const char *key, long long val);
void jw_bool(struct jsonw *w, const char *key, bool val);
void jw_null(struct jsonw *w, const char *key);
/* A value that is JSON text already (the database's json_build_object), written as it is. */
void jw_raw(struct jsonw *w, const char *key, const char *json);
/* The document (NUL-terminated) and its length, or NULL when it failed. Valid until jw_free. */
const char *jw_text(const struct jsonw *w, size_t *len);
void jw_free(struct jsonw *w);

#endif
