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

bool refund_args(struct req *r, struct refund_args *a, bool with_reason)
{
	memset(a, 0, sizeof *a);
	const char *id = req_param(r, 0);
	if (!id || !ident_uuid_valid(id)) {
		http_reply_error(r, 404, "payment_not_found", "no payment with this id");
		return false;
	}
	const char *key = req_header(r, "Idempotency-Key");
	if (!key || !payments_key_valid(key)) {
		http_reply_error(r, 400, key ? "invalid_idempotency_key" : "idempotency_key_required",
				 "send an Idempotency-Key header (8-128 characters: letters, digits, - _ . :)");
		return false;
	}
	snprintf(a->in.payment_id, sizeof a->in.payment_id, "%s", id);
	snprintf(a->in.key, sizeof a->in.key, "%s", key);
	size_t len;
	req_body(r, &len);
	if (len == 0 && !with_reason)
		return true;
	json_t *body = req_json(r);
	if (!body)
		return false;
	bool ok = false;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "amount") != 0 && !(with_reason && strcmp(k, "reason") == 0)) {
			http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", k);
			goto out;
		}
	}
	json_t *amount = json_object_get(body, "amount");
	if (amount && !json_is_null(amount)) {
		const char *s = json_string_value(amount);
		enum money_err me = s && strlen(s) == json_string_length(amount) ? money_parse(s, &a->in.amount) : MONEY_SYNTAX;
		if (me != MONEY_OK || a->in.amount <= 0) {
			http_reply_error(r, 400, "invalid_amount", "amount: %s",
					 me != MONEY_OK ? money_strerror(me) : "must be more than zero");
			goto out;
		}
	}
	if (with_reason) {
		json_t *reason = json_object_get(body, "reason");
		const char *s = json_string_value(reason);
		size_t n = s ? strlen(s) : 0;
		if (!s || n != json_string_length(reason) || n < 3 || n >= sizeof a->reason) {
			http_reply_error(r, 400, "invalid_reason", "reason: say why, 3 to %zu characters", sizeof a->reason - 1);
			goto out;
		}
		memcpy(a->reason, s, n + 1);
	}
	ok = true;
out:
	json_decref(body);
	return ok;
}

void refund_start(struct req *r, struct refund_args *a, payment_done done, void *arg)
{
	/* the adapters that can refund on this gateway */
	size_t n = 1;
	snprintf(a->adapters, sizeof a->adapters, "{");
	for (size_t i = 0; i < adapters_count; i++) {
		const struct adapter *ad = adapters_all[i];
		if (ad->refund && req_adapter_ctx(r, ad) && n + strlen(ad->name) + 3 < sizeof a->adapters)
			n += (size_t)snprintf(a->adapters + n, sizeof a->adapters - n, "%s%s", n > 1 ? "," : "", ad->name);
	}
	snprintf(a->adapters + n, sizeof a->adapters - n, "}");
	a->in.adapters = a->adapters;
	a->in.lease_secs = req_config(r)->provider_timeout_ms / 1000 * 20 + 30;   /* the longest RBS refund: ~15 calls */
	snprintf(r->log_id, sizeof r->log_id, "%s", a->in.payment_id);
	r->log_payment = r->log_id;
	refunds_create(req_db(r), &a->in, resolve, r, done, arg);
}

void h_refund_create(struct req *r)
{
	struct refund_args a;
	if (!require_admin(r) || !refund_args(r, &a, false))
		return;
	refund_start(r, &a, on_answer, r);
}
