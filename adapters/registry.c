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

bool adapter_enabled(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ')
			e++;
		if ((size_t)(e - p) == n && strncmp(p, name, n) == 0)
			return true;
		p = e;
	}
	return false;
}

int adapters_check_enabled(const char *list, char err[256])
{
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',' && *e != ' ')
			e++;
		if (e > p) {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
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
		p = e;
	}
	return 0;
}

void adapter_reply_clear(struct adapter_reply *r)
{
	if (r->raw) {
		json_decref(r->raw);
		r->raw = NULL;
	}
}
