/* registry.c — the table of adapters. Adding an adapter is one new file plus one line here. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

extern const struct adapter sandbox_adapter;
extern const struct adapter rbs_adapter;
extern const struct adapter yookassa_adapter;
extern const struct adapter osmp_adapter;
extern const struct adapter sber_online_adapter;
extern const struct adapter partner_json_adapter;

const struct adapter *const adapters_all[] = {
	&sandbox_adapter,
	&rbs_adapter,             /* card: first enabled adapter offering a method wins */
	&yookassa_adapter,
	&osmp_adapter,
	&sber_online_adapter,
	&partner_json_adapter,
	NULL,
};
const size_t adapters_count = sizeof adapters_all / sizeof adapters_all[0] - 1;

const struct adapter *adapter_find(const char *name)
{
	for (size_t i = 0; i < adapters_count; i++)
		if (strcmp(adapters_all[i]->name, name) == 0)
			return adapters_all[i];
	return NULL;
}

const struct adapter *adapter_for_method(const char *enabled, const char *method)
{
	for (size_t i = 0; i < adapters_count; i++) {
		const struct adapter *a = adapters_all[i];
		if (a->kind == ADAPTER_TERMINAL || !a->methods || !a->create || !adapter_enabled(enabled, a->name))
			continue;
		for (const char *const *m = a->methods; *m; m++)
			if (strcmp(*m, method) == 0)
				return a;
	}
	return NULL;
}

/* The next name of a list separated by commas and/or spaces: sets *len and returns its start, or
 * NULL at the end; *p moves past it. */
static const char *next_name(const char **p, size_t *len)
{
	const char *s = *p;
	while (s && (*s == ' ' || *s == ','))
		s++;
	if (!s || !*s)
		return NULL;
	const char *e = s;
	while (*e && *e != ',' && *e != ' ')
		e++;
	*len = (size_t)(e - s);
	*p = e;
	return s;
}

bool adapter_enabled(const char *list, const char *name)
{
	size_t n = strlen(name), len;
	for (const char *p = list, *s; (s = next_name(&p, &len)) != NULL;)
		if (len == n && strncmp(s, name, n) == 0)
			return true;
	return false;
}

int adapters_check_enabled(const char *list, char err[256])
{
	size_t len;
	for (const char *p = list, *s; (s = next_name(&p, &len)) != NULL;) {
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)len, s);
		const struct adapter *a = adapter_find(name);
		if (!a) {
			snprintf(err, 256, "GATEWAY_ADAPTERS: unknown adapter \"%s\"", name);
			return -1;
		}
		if (a->kind == ADAPTER_TERMINAL) {
			snprintf(err, 256, "GATEWAY_ADAPTERS: %s is a terminal protocol; it is always on (partners control access)",
				 name);
			return -1;
		}
	}
	return 0;
}
