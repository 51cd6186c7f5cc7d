/* partner_json.c — the partner JSON API for retailers (HMAC-signed requests):
 *   POST /v1/partner/payments                   book cash taken at the partner's till
 *   GET  /v1/partner/payments/{partner_txn_id}  read it back
 *   GET  /v1/partner/registry?date=YYYY-MM-DD   the day's registry as CSV (any partner protocol)
 * Booking is idempotent on the partner's transaction id: a repeat answers 200 with the original
 * payment, the same id with another account or amount answers 409 and books nothing.
 *
 * Signature (also in openapi.yaml): headers X-Partner-Login, X-Timestamp (unix seconds, within
 * ±300 s of our clock) and X-Signature = lowercase hex HMAC-SHA256 keyed with the partner's secret
 * (the string `gatewayd partner add` printed) over
 *   METHOD "\n" PATH_WITH_QUERY "\n" X-Timestamp "\n" BODY
 * where PATH_WITH_QUERY is the request target exactly as sent and BODY the raw body bytes ("" for GET).
 * A replay within the window can only repeat an idempotent request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "booking.h"
#include "config.h"
#include "ident.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "registries.h"
#include "terminal.h"

#define ADAPTER_NAME "partner-json"
#define TXN_MAX 64

static bool txn_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n >= 1 && n <= TXN_MAX &&
	       strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-") == n;
}

/* Answers a refused authentication in the JSON error envelope. */
static void refuse_auth(struct req *r, enum partner_auth_status st)
{
	int status = term_auth_http_status(st);
	switch (st) {
	case PA_UNAVAILABLE:
		http_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "database_unavailable", "the partner could not be checked now; retry later");
		return;
	case PA_TIMESTAMP:
		http_reply_error(r, status, "stale_timestamp",
				 "X-Timestamp is more than %d seconds away from our clock (unix time in seconds expected)",
				 PARTNER_TIMESTAMP_WINDOW);
		return;
	case PA_PROTOCOL:
		http_reply_error(r, status, "forbidden", "this partner is not set up for the JSON API");
		return;
	case PA_DISABLED:
		http_reply_error(r, status, "partner_disabled", "this partner is disabled");
		return;
	case PA_MISSING:
		http_header(r, "WWW-Authenticate", "HMAC-SHA256 realm=\"partner\"");
		http_reply_error(r, status, "unauthorized",
				 "sign the request with X-Partner-Login, X-Timestamp and X-Signature");
		return;
	default:
		http_header(r, "WWW-Authenticate", "HMAC-SHA256 realm=\"partner\"");
		http_reply_error(r, status, "unauthorized", "unknown login or wrong signature");
		return;
	}
}

/* Answers with the payment (written directly: the booking's hot path). */
static void reply_payment(struct req *r, int status, const char *txn_id, const struct cash_outcome *o,
			  bool with_duplicate)
{
	char amount[MONEY_BUFSZ];
	struct jsonw j;
	jw_init(&j);
	jw_obj_begin(&j, NULL);
	jw_str(&j, "txn_id", txn_id);
	jw_str(&j, "payment_id", o->payment_id);
	jw_int(&j, "number", o->number);
	jw_str(&j, "status", *o->status_text ? o->status_text : "succeeded");
	jw_str(&j, "contract", o->contract);
	jw_str(&j, "amount", money_format(o->amount, amount));
	jw_str(&j, "paid_at", o->paid_at);
	jw_str(&j, "receipt_number", o->receipt_number);
	if (with_duplicate)
		jw_bool(&j, "duplicate", o->status == CASH_DUPLICATE);
	jw_obj_end(&j);
	http_reply_jw(r, status, &j);
}

static void reply_unavailable(struct req *r)
{
	http_header(r, "Retry-After", "1");
	http_reply_error(r, 503, "database_unavailable", "the payment could not be processed now; retry with the same txn_id");
}

/* ---- POST /v1/partner/payments ---------------------------------------------------------------- */

struct pay_req {
	struct req *r;
	char txn_id[TXN_MAX + 1];
};

static void on_booked(const struct cash_outcome *o, void *arg)
{
	struct pay_req *p = arg;
	struct req *r = p->r;
	char txn[TXN_MAX + 1];
	snprintf(txn, sizeof txn, "%s", p->txn_id);
	free(p);
	if (*o->payment_id) {
		snprintf(r->log_id, sizeof r->log_id, "%s", o->payment_id);
		r->log_payment = r->log_id;
	}
	char amount[MONEY_BUFSZ];
	switch (o->status) {
	case CASH_OK:
	case CASH_DUPLICATE:
		metrics_add(o->status == CASH_OK ? M_CASH_BOOKED : M_CASH_DUPLICATE, 1);
		reply_payment(r, o->status == CASH_OK ? 201 : 200, txn, o, true);
		return;
	case CASH_MISMATCH:
		metrics_add(M_CASH_MISMATCH, 1);
		log_kv(LOG_WARN, "partner-json: txn_id reused with another account or amount", "rid", r->rid, "txn_id", txn,
		       "payment", o->payment_id, NULL);
		http_reply_error(r, 409, "txn_id_conflict",
				 "txn_id %s was already used for payment %lld of %s to another account or amount; nothing was booked",
				 txn, o->number, money_format(o->amount, amount));
		return;
	case CASH_NOT_FOUND:
		http_reply_error(r, 404, "account_not_found", "no subscriber has this contract or phone");
		return;
	case CASH_INACTIVE:
		http_reply_error(r, 422, "account_inactive", "the account is closed and cannot be paid");
		return;
	case CASH_AMBIGUOUS:
		http_reply_error(r, 422, "phone_ambiguous", "several contracts have this phone; send the contract number instead");
		return;
	case CASH_UNAVAILABLE:
		reply_unavailable(r);
		return;
	default:
		log_kv(LOG_ERROR, "partner-json: booking failed", "rid", r->rid, "reason", o->reason, NULL);
		http_reply_error(r, 500, "internal_error", "the payment was not booked because of an internal error");
		return;
	}
}

/* Reads an optional string member; false (and a 400 answered) when present but not a string. */
static bool str_field(struct req *r, json_t *body, const char *key, const char **out)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_error(r, 400, "invalid_field", "%s must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static void pay_run(struct req *r, const struct partner *partner)
{
	json_t *body = req_json(r);
	if (!body)
		return;
	static const char *const keys[] = {"txn_id", "contract", "phone", "amount", "email"};
	const char *v[5];
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		size_t i = 0;
		while (i < 5 && strcmp(keys[i], key) != 0)
			i++;
		if (i == 5) {
			http_reply_error(r, 400, "unknown_field", "unknown field %.40s", key);
			goto out;
		}
	}
	if (json_is_number(json_object_get(body, "amount"))) {
		http_reply_error(r, 400, "invalid_field", "amount must be a string of roubles like \"200.00\"");
		goto out;
	}
	for (size_t i = 0; i < 5; i++)
		if (!str_field(r, body, keys[i], &v[i]))
			goto out;
	if (!txn_id_valid(v[0])) {
		http_reply_error(r, 400, "invalid_field", "txn_id: 1 to %d characters of letters, digits, '.', '_', ':', '-'",
				 TXN_MAX);
		goto out;
	}
	char contract[IDENT_CONTRACT_BUFSZ] = "", phone[IDENT_PHONE_BUFSZ] = "";
	if (!v[1] == !v[2]) {
		http_reply_error(r, 400, "invalid_field", "give either contract or phone");
		goto out;
	}
	if (v[1] && ident_contract_normalize(v[1], contract) != IDENT_OK) {
		http_reply_error(r, 400, "invalid_field", "contract: expected 5 to 12 digits");
		goto out;
	}
	if (v[2] && ident_phone_normalize(v[2], phone) != IDENT_OK) {
		http_reply_error(r, 400, "invalid_field", "phone: not a Russian phone number (e.g. +7 913 123-45-67)");
		goto out;
	}
	int64_t amount;
	enum money_err me = money_parse(v[3], &amount);
	if (me != MONEY_OK) {
		http_reply_error(r, 400, "invalid_field", "amount: %s", v[3] ? money_strerror(me) : "required, e.g. \"200.00\"");
		goto out;
	}
	if (v[4] && !ident_email_valid(v[4])) {
		http_reply_error(r, 400, "invalid_field", "email: not a valid address");
		goto out;
	}
	char lim[MONEY_BUFSZ];
	if (amount < partner->min_amount) {
		http_reply_error(r, 422, "amount_too_small", "amount is below this partner's minimum of %s",
				 money_format(partner->min_amount, lim));
		goto out;
	}
	if (amount > partner->max_amount) {
		http_reply_error(r, 422, "amount_too_large", "amount is above this partner's maximum of %s",
				 money_format(partner->max_amount, lim));
		goto out;
	}
	struct pay_req *p = malloc(sizeof *p);
	if (!p) {
		reply_unavailable(r);
		goto out;
	}
	p->r = r;
	snprintf(p->txn_id, sizeof p->txn_id, "%s", v[0]);
	struct jsonw raw;
	jw_init(&raw);
	jw_obj_begin(&raw, NULL);
	jw_str(&raw, "protocol", "partner-json");
	jw_str(&raw, "partner", partner->name);
	jw_str(&raw, "txn_id", v[0]);
	jw_str(&raw, "contract", *contract ? contract : NULL);
	jw_str(&raw, "phone", *phone ? phone : NULL);
	jw_obj_end(&raw);
	size_t raw_len;
	const char *raw_text = jw_text(&raw, &raw_len);
	struct cash_payment in = {
		.channel = "partner",
		.adapter = ADAPTER_NAME,
		.partner_id = partner->id,
		.txn_id = p->txn_id,
		.contract = *contract ? contract : NULL,
		.phone = *phone ? phone : NULL,
		.amount = amount,
		.email = v[4],
		.tz = req_config(r)->partner_tz,
		.raw = raw_text,
	};
	booking_book_cash(req_db(r), &in, on_booked, p);
	jw_free(&raw);
out:
	json_decref(body);
}

static void on_pay_auth(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg)
{
	(void)arg;
	if (st != PA_OK) {
		refuse_auth(r, st);
		return;
	}
	pay_run(r, p);
}

static void h_pay(struct req *r)
{
	term_authenticate(r, "json", on_pay_auth, NULL);
}

/* ---- GET /v1/partner/payments/{partner_txn_id} ------------------------------------------------ */

static void on_found(const struct cash_outcome *o, void *arg)
{
	struct req *r = arg;
	switch (o->status) {
	case CASH_OK:
		snprintf(r->log_id, sizeof r->log_id, "%s", o->payment_id);
		r->log_payment = r->log_id;
		reply_payment(r, 200, req_param(r, 0), o, false);
		return;
	case CASH_NOT_FOUND:
		http_reply_error(r, 404, "payment_not_found", "no payment of this partner has this txn_id");
		return;
	case CASH_UNAVAILABLE:
		http_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "database_unavailable", "the payment could not be read now; retry later");
		return;
	default:
		http_reply_error(r, 500, "internal_error", "the payment could not be read because of an internal error");
		return;
	}
}

static void on_get_auth(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg)
{
	(void)arg;
	if (st != PA_OK) {
		refuse_auth(r, st);
		return;
	}
	const char *txn = req_param(r, 0);
	if (!txn_id_valid(txn)) {
		http_reply_error(r, 400, "invalid_field", "txn_id: 1 to %d characters of letters, digits, '.', '_', ':', '-'",
				 TXN_MAX);
		return;
	}
	booking_find(req_db(r), ADAPTER_NAME, p->id, txn, req_config(r)->partner_tz, on_found, r);
}

static void h_get(struct req *r)
{
	term_authenticate(r, "json", on_get_auth, NULL);
}

/* ---- GET /v1/partner/registry ------------------------------------------------------------------ */

struct registry_req {
	struct req *r;
	char filename[128];
};

static void on_registry(enum cash_status st, const char *csv, size_t len, void *arg)
{
	struct registry_req *g = arg;
	struct req *r = g->r;
	if (st == CASH_OK) {
		char disp[160];
		snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", g->filename);
		http_header(r, "Content-Disposition", disp);
		http_reply_raw(r, 200, "text/csv; charset=utf-8", csv, len);
	} else if (st == CASH_UNAVAILABLE) {
		http_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "database_unavailable", "the registry could not be read now; retry later");
	} else {
		http_reply_error(r, 500, "internal_error", "the registry could not be read because of an internal error");
	}
	free(g);
}

static void on_registry_auth(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg)
{
	(void)arg;
	if (st != PA_OK) {
		refuse_auth(r, st);
		return;
	}
	const char *date;
	if (req_query(r, "date", &date) != 0 || !date || !registry_date_valid(date)) {
		http_reply_error(r, 400, "invalid_field", "date: one date YYYY-MM-DD is required");
		return;
	}
	struct registry_req *g = malloc(sizeof *g);
	if (!g) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	g->r = r;
	snprintf(g->filename, sizeof g->filename, "registry-%s-%s.csv", p->name, date);
	registry_fetch(req_db(r), p->id, date, req_config(r)->partner_tz, on_registry, g);
}

static void h_registry(struct req *r)
{
	term_authenticate(r, NULL, on_registry_auth, NULL);
}

static const struct route json_routes[] = {
	{"POST", "/v1/partner/payments", h_pay, NULL},
	{"GET", "/v1/partner/payments/{partner_txn_id}", h_get, NULL},
	{"GET", "/v1/partner/registry", h_registry, NULL},
};

const struct adapter partner_json_adapter = {
	.name = ADAPTER_NAME,
	.kind = ADAPTER_TERMINAL,
	.methods = NULL,
	.init = terminal_init,
	.fini = terminal_fini,
	.routes = json_routes,
	.nroutes = sizeof json_routes / sizeof json_routes[0],
};
