/* embedded.h — files compiled into the binary by gateway/embed.sh: the schema migrations and the
 * pay form's assets. */
#ifndef GW_EMBEDDED_H
#define GW_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name;         /* base name, e.g. "001_core.sql", "pay.js" */
	const char *data;         /* NUL-terminated for convenience */
	size_t len;
};

extern const struct embedded_file migrations[];
extern const size_t migrations_count;
extern const struct embedded_file web_assets[];
extern const size_t web_assets_count;

#endif
