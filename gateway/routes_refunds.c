/* routes_refunds.c — POST /v1/internal/payments/{id}/refunds: check the bearer token, the
 * Idempotency-Key and the body ({"amount": "100.00"}, or nothing for the rest), then the refunds
 * service does the work through the payment's adapter. */
#include "routes_refunds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ident.h"
#include "money.h"
#include "refunds.h"
#include "registry.h"
#include "routes_common.h"

static struct adapter_ctx *resolve(const char *name, void *arg)
{
	const struct adapter *a = adapter_find(name);
	return a ? req_adapter_ctx(arg, a) : NULL;
}

static void on_answer(const struct payment_answer *a, void *arg)
{
	reply_payment_answer(arg, a);
}

void h_refund_create(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *id = req_param(r, 0);
	if (!id || !ident_uuid_valid(id)) {
		http_reply_error(r, 404, "payment_not_found", "no payment with this id");
		return;
	}
	const char *key = req_header(r, "Idempotency-Key");
	if (!key || !payments_key_valid(key)) {
		http_reply_error(r, 400, key ? "invalid_idempotency_key" : "idempotency_key_required",
				 "send an Idempotency-Key header (8-128 characters: letters, digits, - _ . :)");
		return;
	}
	struct refund_request in;
	memset(&in, 0, sizeof in);
	size_t len;
	req_body(r, &len);
	if (len > 0) {
		json_t *body = req_json(r);
		if (!body)
			return;
		const char *k;
		json_t *v;
		json_object_foreach(body, k, v) {
			if (strcmp(k, "amount") != 0) {
				http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", k);
				json_decref(body);
				return;
			}
		}
		json_t *amount = json_object_get(body, "amount");
		if (amount && !json_is_null(amount)) {
			const char *s = json_string_value(amount);
			enum money_err me = s && strlen(s) == json_string_length(amount) ? money_parse(s, &in.amount) : MONEY_SYNTAX;
			if (me != MONEY_OK || in.amount <= 0) {
				http_reply_error(r, 400, "invalid_amount", "amount: %s",
						 me != MONEY_OK ? money_strerror(me) : "must be more than zero");
				json_decref(body);
				return;
			}
		}
		json_decref(body);
	}
	/* the adapters that can refund on this gateway */
	char list[512] = "{";
	size_t n = 1;
	for (size_t i = 0; i < adapters_count; i++) {
		const struct adapter *a = adapters_all[i];
		if (a->refund && req_adapter_ctx(r, a) && n + strlen(a->name) + 3 < sizeof list)
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n > 1 ? "," : "", a->name);
	}
	snprintf(list + n, sizeof list - n, "}");
	const struct config *cfg = req_config(r);
	snprintf(in.payment_id, sizeof in.payment_id, "%s", id);
	snprintf(in.key, sizeof in.key, "%s", key);
	in.adapters = list;
	in.lease_secs = cfg->provider_timeout_ms / 1000 * 20 + 30;   /* the longest RBS refund: ~15 calls */
	snprintf(r->log_id, sizeof r->log_id, "%s", id);
	r->log_payment = r->log_id;
	refunds_create(req_db(r), &in, resolve, r, on_answer, r);
}
