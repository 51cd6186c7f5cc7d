/* log.h — one JSON object per line on stderr: ts, level, msg and string/number fields. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug" / "info" / "warn" / "error"; returns -1 for anything else. */
int log_parse_level(const char *s);
void log_set_level(enum log_level lvl);
int log_enabled(enum log_level lvl);

/* A line under construction: log_begin, then fields, then log_end writes it in one write(2). */
struct log_line {
	char buf[2048];
	size_t len;
	int skip;
};
void log_begin(struct log_line *l, enum log_level lvl, const char *msg);
void log_str(struct log_line *l, const char *key, const char *val);   /* val NULL: field omitted */
void log_int(struct log_line *l, const char *key, long long val);
void log_end(struct log_line *l);

/* Batching for event-loop threads: between log_batch_begin and log_batch_end, this thread's lines
 * collect in a per-thread buffer that log_flush writes (the loop calls it at the end of every turn,
 * before it waits again), and that is written early when it fills. Still one line per event; other
 * threads write each line at once. */
void log_batch_begin(void);
void log_flush(void);
void log_batch_end(void);

/* Shorthand: log_kv(LOG_INFO, "listening", "addr", "127.0.0.1:8080", NULL) — key/value string pairs, NULL ends. */
void log_kv(enum log_level lvl, const char *msg, ...);

/* Appends s to dst (capacity cap, length *len) as the inside of a JSON string; bytes >= 0x80 that
 * are not valid UTF-8 and all control characters are escaped, so the line is always valid JSON. */
void log_json_escape(char *dst, size_t cap, size_t *len, const char *s);

#endif
