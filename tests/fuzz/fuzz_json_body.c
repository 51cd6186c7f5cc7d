/* fuzz_json_body.c — a payment request body: JSON parsing with duplicate keys refused, the
 * canonical request hash, the raw-message sanitizer and the account field validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "accounts.h"
#include "payments.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* True when a key that names card data survived anywhere in the tree. */
static int has_card_key(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			if (!strcasecmp(k, "cvv") || !strcasecmp(k, "pan") || !strcasecmp(k, "card") || has_card_key(x))
				return 1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if (has_card_key(x))
				return 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return 0;
	char h1[65], h2[65];
	if (payments_request_hash(j, h1) == 0) {
		json_t *copy = json_deep_copy(j);
		if (!copy || payments_request_hash(copy, h2) != 0 || strcmp(h1, h2) != 0)
			abort();
		json_decref(copy);
	}
	if (json_is_object(j)) {
		struct account_input in;
		char err[256];
		(void)account_validate(str(j, "contract"), str(j, "phone"), str(j, "email"), str(j, "holder_name"),
				       str(j, "status"), str(j, "monthly_fee"), str(j, "balance"), &in, err);
	}
	payments_sanitize(j);
	if (has_card_key(j))
		abort();
	json_decref(j);
	return 0;
}
