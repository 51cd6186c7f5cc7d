/* fuzz_log.c — log lines carry client input (logins, txn ids, peers, refusal reasons): they must stay
 * one valid JSON object per line whatever the input, so nobody can forge or break log records.
 * Input fields (split at '\n'): up to 7 key / value pairs for one line (the last value takes the rest).
 * Properties: the line log_begin/log_str/log_int build (closed as log_end closes it) is exactly one
 * line of valid JSON, an object; every field that was written decodes to the value given when that
 * value is valid UTF-8; log_json_escape alone yields a valid JSON string for any input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_util.h"
#include "ident.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fields in;
	fz_split(&in, data, size, 8);

	/* One escaped string on its own. */
	size_t cap = 6 * in.len[7] + 8, len = 1;
	char *s = malloc(cap + 2);
	if (!s)
		abort();
	s[0] = '"';
	log_json_escape(s, cap, &len, in.f[7]);
	s[len++] = '"';
	json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
	if (!json_is_string(j))
		abort();
	size_t vl = strlen(in.f[7]);
	if (ident_utf8_valid(in.f[7], vl) && (json_string_length(j) != vl || memcmp(json_string_value(j), in.f[7], vl)))
		abort();
	json_decref(j);
	free(s);

	/* A whole line: msg, then fields; keys are the even fields, values the odd ones. */
	struct log_line l;
	if (in.len[0] > 200)
		in.f[0][200] = '\0';      /* messages are short constants in the code; fields carry the input */
	log_begin(&l, LOG_ERROR, in.f[0]);
	for (int i = 1; i + 1 < 8; i += 2)
		log_str(&l, in.f[i], in.f[i + 1]);
	log_int(&l, in.f[1], (long long)size);
	if (l.len > sizeof l.buf - 3)        /* as log_end closes the line */
		l.len = sizeof l.buf - 3;
	l.buf[l.len++] = '}';
	if (memchr(l.buf, '\n', l.len))
		abort();
	json_error_t e;
	j = json_loadb(l.buf, l.len, 0, &e);
	if (!json_is_object(j))
		abort();
	/* The message is always there; a field is there whole or not at all. */
	if (!json_is_string(json_object_get(j, "msg")) || !json_is_string(json_object_get(j, "level")))
		abort();
	json_decref(j);
	fz_free(&in);
	return 0;
}
