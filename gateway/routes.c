/* routes.c — the route table and the thin handlers: parse and validate the request, call a
 * service, map the outcome to a response. No SQL here; services never see evhttp. */
#include "routes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "config.h"
#include "version.h"
#include "crypto.h"
#include "db.h"
#include "health.h"
#include "metrics.h"
#include "money.h"
#include "routes_common.h"
#include "registry.h"
#include "routes_admin.h"
#include "routes_balance.h"
#include "routes_events.h"
#include "routes_fiscal.h"
#include "routes_receipts.h"
#include "routes_refunds.h"
#include "routes_web.h"

/* ---- probes ----------------------------------------------------------------------------- */

static void h_healthz(struct req *r)
{
	static const char ok[] = "{\"status\":\"ok\"}";   /* what json_pack + json_dumps made, without them */
	http_reply_raw(r, 200, "application/json", ok, sizeof ok - 1);
}

static void on_ready(bool ok, const char *reason, void *arg)
{
	struct req *r = arg;
	if (ok) {
		http_reply_json(r, 200, json_pack("{s:s,s:s}", "status", "ready", "database", "ok"));
		return;
	}
	(void)reason;   /* logged by the pool; not for clients */
	http_header(r, "Retry-After", "1");
	http_reply_json(r, 503, json_pack("{s:{s:s,s:s},s:s,s:s}", "error", "code", "not_ready", "message",
					  "the database is not reachable", "status", "not_ready", "database",
					  "unavailable"));
}

static void h_readyz(struct req *r)
{
	health_check_db(req_db(r), on_ready, r);
}

static void h_metrics(struct req *r)
{
	size_t len;
	char *text = metrics_render(&len);
	if (!text) {
		http_reply_error(r, 503, "unavailable", "metrics could not be rendered");
		return;
	}
	http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* ---- internal API --------------------------------------------------------------------------- */

/* Reads an optional string member; false (and a 400 answered) when present but not a string. */
static bool opt_string(struct req *r, json_t *body, const char *key, const char **out)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		http_reply_error(r, 400, "invalid_field", "%s must be a string", key);
		return false;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_error(r, 400, "invalid_field", "%s contains a NUL character", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static void on_upserted(bool ok, const char *result, int64_t balance, const char *reason, void *arg)
{
	struct req *r = arg;
	(void)reason;
	if (!ok) {
		http_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "database_unavailable", "the account could not be saved now; retry later");
		return;
	}
	if (strcmp(result, "stale") == 0) {
		http_reply_error(r, 409, "stale_balance",
				 "balance_as_of is older than the balance last imported for this account; nothing was changed");
		return;
	}
	if (strcmp(result, "future") == 0) {
		http_reply_error(r, 422, "future_balance", "balance_as_of lies in the future; nothing was changed");
		return;
	}
	bool created = strcmp(result, "created") == 0;
	char bal[MONEY_BUFSZ];
	money_format(balance, bal);
	http_reply_json(r, created ? 201 : 200,
			json_pack("{s:s,s:s}", "result", created ? "created" : "updated", "balance", bal));
}

static void h_account_upsert(struct req *r)
{
	if (!require_admin(r))
		return;
	json_t *body = req_json(r);
	if (!body)
		return;
	static const char *const keys[] = {"contract", "phone",       "email",  "holder_name",
					   "status",   "monthly_fee", "balance", "balance_as_of"};
	const char *v[8];
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		size_t i = 0;
		while (i < 8 && strcmp(keys[i], key) != 0)
			i++;
		if (i == 8) {
			http_reply_error(r, 400, "unknown_field", "unknown field %.40s", key);
			goto out;
		}
	}
	for (size_t i = 0; i < 8; i++)
		if (!opt_string(r, body, keys[i], &v[i]))
			goto out;
	struct account_input in;
	char err[256];
	if (account_validate(v[0], v[1], v[2], v[3], v[4], v[5], v[6], &in, err) != 0) {
		http_reply_error(r, 400, "invalid_account", "%s", err);
		goto out;
	}
	if (in.has_balance && !v[7]) {
		http_reply_error(r, 400, "balance_as_of_required",
				 "a balance needs balance_as_of: the moment billing took it (payments booked after it are kept)");
		goto out;
	}
	if (v[7] && account_set_as_of(&in, v[7], err) != 0) {
		http_reply_error(r, 400, "invalid_account", "%s", err);
		goto out;
	}
	accounts_upsert(req_db(r), &in, req_config(r)->partner_tz, on_upserted, r);
out:
	json_decref(body);
}

static void h_version(struct req *r)
{
	http_reply_json(r, 200, json_pack("{s:s}", "version", GATEWAY_VERSION));
}

static const struct route core_routes[] = {
	{"GET", "/healthz", h_healthz, NULL},
	{"GET", "/readyz", h_readyz, NULL},
	{"GET", "/metrics", h_metrics, NULL},
	{"GET", "/version", h_version, NULL},
	{"POST", "/v1/internal/accounts", h_account_upsert, NULL},
	{"GET", "/v1/accounts/lookup", h_account_lookup, NULL},
	{"POST", "/v1/payments", h_payment_create, NULL},
	{"GET", "/v1/payments/{id}", h_payment_get, NULL},
	{"POST", "/v1/notifications/{adapter}", h_notification, NULL},
	{"GET", "/v1/notifications/{adapter}", h_notification, NULL},   /* RBS callbacks are GETs */
	{"POST", "/v1/internal/payments/{id}/refunds", h_refund_create, NULL},
	{"GET", "/v1/payment-methods", h_payment_methods, NULL},
	{"GET", "/pay", h_pay_form, NULL},
	{"GET", "/pay/result", h_pay_result, NULL},
	{"GET", "/pay/{file}", h_pay_asset, NULL},
	{"GET", "/v1/receipts/{token}", h_receipt_get, NULL},
	{"GET", "/v1/internal/receipts", h_receipts_find, NULL},
	{"POST", "/v1/internal/receipts/{number}/resend", h_receipt_resend, NULL},
	{"POST", "/v1/fiscal/callback", h_fiscal_callback, NULL},
	{"POST", "/v1/internal/charges", h_charge_create, NULL},
	{"GET", "/v1/internal/accounts/{contract}/statement", h_statement, NULL},
	{"GET", "/v1/internal/fiscal-documents", h_fiscal_documents, NULL},
	{"POST", "/v1/internal/fiscal-documents/{id}/resend", h_fiscal_resend, NULL},
	{"GET", "/v1/internal/events", h_events, NULL},
	{"GET", "/v1/internal/webhooks", h_webhooks, NULL},
	{"GET", "/v1/internal/webhooks/failures", h_webhook_failures, NULL},
	{"POST", "/v1/internal/webhooks/{id}/replay", h_webhook_replay, NULL},
	{"GET", "/admin", h_admin_app, NULL},
	{"GET", "/admin/login", h_admin_login_page, NULL},
	{"POST", "/admin/login", h_admin_login, NULL},
	{"POST", "/admin/logout", h_admin_logout, NULL},
	{"GET", "/admin/assets/{file}", h_admin_asset, NULL},
	{"GET", "/admin/api/me", h_admin_me, NULL},
	{"GET", "/admin/api/overview", h_admin_overview, NULL},
	{"GET", "/admin/api/payments", h_admin_search, NULL},
	{"GET", "/admin/api/payments/{id}", h_admin_payment, NULL},
	{"POST", "/admin/api/payments/{id}/refunds", h_admin_refund, NULL},
	{"POST", "/admin/api/receipts/{number}/resend", h_admin_resend, NULL},
	{"GET", "/admin/api/audit", h_admin_audit, NULL},
	{"GET", "/admin/api/partners", h_admin_partners, NULL},
	{"POST", "/admin/api/partners", h_admin_partner_add, NULL},
	{"POST", "/admin/api/partners/{name}/{op}", h_admin_partner_change, NULL},
	{"GET", "/admin/api/registries", h_admin_registry, NULL},
	{"POST", "/admin/api/reconcile", h_admin_reconcile, NULL},
	{"GET", "/admin/api/staff", h_admin_staff, NULL},
	{"POST", "/admin/api/staff", h_admin_staff_add, NULL},
	{"POST", "/admin/api/staff/{login}/{op}", h_admin_staff_change, NULL},
};

struct route *routes_build(const char *enabled, size_t *nroutes, const struct adapter ***active, size_t *nactive,
			   char err[256])
{
	if (adapters_check_enabled(enabled, err) != 0)
		return NULL;
	size_t ncore = sizeof core_routes / sizeof core_routes[0];
	size_t n = ncore, na = 0;
	for (size_t i = 0; i < adapters_count; i++) {
		const struct adapter *a = adapters_all[i];
		if (a->kind == ADAPTER_TERMINAL || adapter_enabled(enabled, a->name)) {
			n += a->nroutes;
			na++;
		}
	}
	struct route *t = calloc(n, sizeof *t);
	const struct adapter **act = calloc(na ? na : 1, sizeof *act);
	if (!t || !act) {
		free(t);
		free(act);
		snprintf(err, 256, "out of memory");
		return NULL;
	}
	memcpy(t, core_routes, sizeof core_routes);
	size_t k = ncore, ka = 0;
	for (size_t i = 0; i < adapters_count; i++) {
		const struct adapter *a = adapters_all[i];
		if (!(a->kind == ADAPTER_TERMINAL || adapter_enabled(enabled, a->name)))
			continue;
		act[ka++] = a;
		for (size_t j = 0; j < a->nroutes; j++) {
			t[k] = a->routes[j];
			t[k++].adapter = a;
		}
	}
	*nroutes = n;
	*active = act;
	*nactive = na;
	return t;
}
