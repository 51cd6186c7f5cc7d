/* registry.h — every adapter the binary knows; read only by the top layers (main, routes, janitor). */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"

extern const struct adapter *const adapters_all[];
extern const size_t adapters_count;

/* The adapter of that name, or NULL. */
const struct adapter *adapter_find(const char *name);

/* Checks a GATEWAY_ADAPTERS list: every name known and not a terminal protocol (those are always
 * mounted; partners control access). Returns 0 or -1 with a message. */
int adapters_check_enabled(const char *list, char err[256]);

/* The first enabled card/wallet adapter offering method, or NULL. */
const struct adapter *adapter_for_method(const char *enabled, const char *method);

/* True when name is in the comma-separated list. */
bool adapter_enabled(const char *list, const char *name);

#endif
