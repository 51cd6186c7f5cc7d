/* fuzz_query.c — request targets as the server reads them: libevent's URI parser (as evhttp runs it
 * on every request line), the query string parsed into parameters, and req_query(), which every
 * route uses to read a parameter and which must call a repeated one ambiguous.
 * Input: a request target ("/v1/accounts/lookup?contract=...").
 * Properties: req_query answers -1 exactly when the name is given more than once or its value holds
 * a NUL byte once decoded (%00: a C string would end there), otherwise the one value (or NULL when
 * absent); the values the lookup and receipt routes read are then validated
 * without crashing (contract/phone normalisation, receipt number / UUID shape). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "fuzz_util.h"
#include "http.h"
#include "ident.h"
#include "receipts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(struct req *r, const char *q, const char *name)
{
	const char *v = (const char *)1;
	int rc = req_query(r, name, &v);
	int n = r->query_parsed ? fz_count(&r->query, name, false) : 0;
	int nul = fz_nul_values(q, name, false);
	if (n > 1 || nul ? rc != -1 || v : (rc != 0 || (n == 0) != (v == NULL)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = malloc(size + 1);
	if (!target)
		abort();
	memcpy(target, data, size);
	target[size] = '\0';
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	struct req r;
	memset(&r, 0, sizeof r);
	fz_queue_init(&r.query);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	if (q && http_parse_form(q, &r.query) == 0)
		r.query_parsed = true;
	if (r.query_parsed) {
		for (struct evkeyval *kv = r.query.tqh_first; kv; kv = kv->next.tqe_next)
			check_name(&r, q, kv->key);
		static const char *const names[] = {"contract", "phone", "payment_id", "number", "date", "", "CONTRACT"};
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			check_name(&r, q, names[i]);
		const char *v;
		char out[IDENT_CONTRACT_BUFSZ > IDENT_PHONE_BUFSZ ? IDENT_CONTRACT_BUFSZ : IDENT_PHONE_BUFSZ];
		if (req_query(&r, "contract", &v) == 0 && v && ident_contract_normalize(v, out) == IDENT_OK &&
		    strspn(out, "0123456789") != strlen(out))
			abort();
		if (req_query(&r, "phone", &v) == 0 && v && ident_phone_normalize(v, out) == IDENT_OK &&
		    (strlen(out) != 12 || strncmp(out, "+7", 2) != 0))
			abort();
		if (req_query(&r, "number", &v) == 0 && v && receipt_number_valid(v) && strlen(v) > 17)
			abort();
		if (req_query(&r, "payment_id", &v) == 0 && v && ident_uuid_valid(v) && strlen(v) != 36)
			abort();
		evhttp_clear_headers(&r.query);
	}
	if (uri)
		evhttp_uri_free(uri);
	free(target);
	return 0;
}
