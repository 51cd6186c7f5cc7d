/* config_env.c — reading GATEWAY_* variables: a value, its _FILE twin for secrets, whole numbers in a
 * range. Below config.c and the loaders split from it (config_fiscal.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int config_fail(char err[CONFIG_ERRSZ], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CONFIG_ERRSZ, fmt, ap);
	va_end(ap);
	return -1;
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

/* Reads a secret file into a new string without the trailing newline. */
static char *read_small_file(const char *path, char err[CONFIG_ERRSZ], const char *var)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		config_fail(err, "%s: cannot read the file: %s", var, strerror(errno));
		return NULL;
	}
	char *buf = malloc(4097);
	size_t n = buf ? fread(buf, 1, 4097, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	if (n > 4096) {
		free(buf);
		config_fail(err, "%s: the file is larger than 4 KiB", var);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		config_fail(err, "%s: the file contains a NUL byte", var);
		return NULL;
	}
	return buf;
}

/* Returns a new string with the variable's value: NAME, or the contents of NAME_FILE for secrets,
 * or a copy of def (NULL def and unset: NULL). Sets *bad on error. */
char *config_getvar(const char *name, bool secret, const char *def, char err[CONFIG_ERRSZ], bool *bad)
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
				config_fail(err, "%s and %s are both set; use one", name, fname);
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
		config_fail(err, "out of memory");
	}
	return s;
}

int config_int_var(const char *name, long min, long max, long def, long *out, char err[CONFIG_ERRSZ])
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
