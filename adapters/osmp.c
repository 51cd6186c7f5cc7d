/* osmp.c — the OSMP / QIWI terminal protocol: the network calls GET or POST /v1/osmp with
 * command=check|pay, txn_id, account, sum (and txn_date on pay), authenticated by its source
 * network and HTTP Basic; we answer XML. The cash is already taken, so `pay` books synchronously
 * and exactly once: a repeat of a txn_id answers 0 with the same prv_txn, a txn_id reused for
 * another account or sum answers 300.
 *
 * result codes we send (see openapi.yaml, "OSMP result codes"):
 *   0   OK (check: the account can be paid; pay: booked now or before)
 *   1   temporary error (pay while the database is unreachable) — the network repeats the pay
 *   4   wrong account format                 5   account not found
 *   7   payment refused by provider: the partner is disabled (HTTP 403)
 *   8   refused for technical reasons: not authenticated (HTTP 401/403), or the database refused
 *       the booking for a reason a retry will not fix (nothing was booked)
 *   79  account closed (a suspended one stays payable: the top-up brings it back)
 *   241 sum below the partner's minimum (or 0.00 on pay)   242 sum above the partner's maximum
 *   243 cannot check the account now (check while the database is unreachable)
 *   300 other error: unknown command, bad txn_id / sum / txn_date, txn_id reused with another
 *       account or sum
 *   90 (payment not finished) is never sent: booking is synchronous. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "accounts.h"
#include "fees.h"
#include "adapter.h"
#include "booking.h"
#include "config.h"
#include "ident.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "terminal.h"

#define ADAPTER_NAME "osmp"

enum osmp_cmd { CMD_UNKNOWN, CMD_CHECK, CMD_PAY };

static const char *const osmp_cmds[] = {"check", "pay", NULL};   /* in the order of enum osmp_cmd */

struct osmp_req {
	struct term_req t;            /* first: request, form, command (enum osmp_cmd) */
	const char *txn_raw;          /* borrowed from the request */
	char txn_id[24];              /* normalised (no leading zeros) */
	char account[IDENT_CONTRACT_BUFSZ];
	bool has_sum;
	int64_t sum;
	char sum_text[MONEY_BUFSZ];
	char prv_txn[24];
};

/* Answers and frees o. */
static void osmp_answer(struct osmp_req *o, int http_status, int result, const char *comment,
			const struct cash_account *acc)
{
	struct xml x;
	xml_begin(&x);
	xml_elem(&x, "osmp_txn_id", *o->txn_id ? o->txn_id : o->txn_raw ? o->txn_raw : "");
	if (*o->prv_txn)
		xml_elem(&x, "prv_txn", o->prv_txn);
	if (o->has_sum)
		xml_elem(&x, "sum", o->sum_text);
	xml_elem_int(&x, "result", result);
	xml_elem(&x, "comment", comment);
	if (acc) {
		char rec[MONEY_BUFSZ];
		xml_raw(&x, "<fields><field1 name=\"fio\">");
		xml_text(&x, acc->masked_name);
		xml_raw(&x, "</field1><field2 name=\"rec_sum\">");
		xml_text(&x, money_format(fees_recommended_amount(acc->balance, acc->monthly_fee, fees_today(), o->t.min_amount,
								      o->t.max_amount), rec));
		xml_raw(&x, "</field2></fields>");
	}
	struct req *r = o->t.r;
	term_req_free(&o->t);
	xml_reply(r, http_status, &x);
}

static void on_checked(const struct cash_account *a, void *arg)
{
	struct osmp_req *o = arg;
	switch (a->status) {
	case CASH_OK: osmp_answer(o, 200, 0, "OK", a); return;
	case CASH_NOT_FOUND: osmp_answer(o, 200, 5, "account not found", NULL); return;
	case CASH_INACTIVE: osmp_answer(o, 200, 79, "account is closed", NULL); return;
	case CASH_UNAVAILABLE: osmp_answer(o, 200, 243, "cannot check the account now; try again later", NULL); return;
	default: osmp_answer(o, 200, 8, "refused for technical reasons", NULL); return;
	}
}

static void on_paid(const struct cash_outcome *b, void *arg)
{
	struct osmp_req *o = arg;
	struct req *r = o->t.r;
	if (*b->payment_id) {
		snprintf(r->log_id, sizeof r->log_id, "%s", b->payment_id);
		r->log_payment = r->log_id;
	}
	switch (b->status) {
	case CASH_OK:
	case CASH_DUPLICATE:
		metrics_add(b->status == CASH_OK ? M_CASH_BOOKED : M_CASH_DUPLICATE, 1);
		snprintf(o->prv_txn, sizeof o->prv_txn, "%lld", b->number);
		osmp_answer(o, 200, 0, "OK", NULL);
		return;
	case CASH_MISMATCH:
		metrics_add(M_CASH_MISMATCH, 1);
		log_kv(LOG_WARN, "osmp: txn_id reused with another account or sum", "rid", r->rid, "txn_id", o->txn_id,
		       "payment", b->payment_id, NULL);
		osmp_answer(o, 200, 300, "txn_id was already used for another account or sum", NULL);
		return;
	case CASH_NOT_FOUND: osmp_answer(o, 200, 5, "account not found", NULL); return;
	case CASH_INACTIVE: osmp_answer(o, 200, 79, "account is closed", NULL); return;
	case CASH_UNAVAILABLE:
		log_kv(LOG_WARN, "osmp: booking unavailable, the network will retry", "rid", r->rid, "reason", b->reason,
		       NULL);
		osmp_answer(o, 200, 1, "temporary error; repeat the request later", NULL);
		return;
	default:
		log_kv(LOG_ERROR, "osmp: booking failed", "rid", r->rid, "reason", b->reason, NULL);
		osmp_answer(o, 200, 8, "refused for technical reasons", NULL);
		return;
	}
}

/* Checks the parameters of the command. Returns 0, or the result code to refuse with and a
 * message in msg. */
static int osmp_validate(struct osmp_req *o, const struct partner *p, char when[20], char msg[128])
{
	const char *v;
	if (!o->t.form_ok)
		return term_refuse(msg, 300, "the form body is not valid urlencoded text");
	if (o->t.cmd == CMD_UNKNOWN)
		return term_refuse(msg, 300, "unknown command; expected check or pay");

	int got = term_param(&o->t.form, "txn_id", false, &v);
	if (got == 0 && o->t.cmd == CMD_CHECK) {
		got = 1;              /* a bare account check may come without a transaction */
		v = "0";
	}
	size_t n = v ? strlen(v) : 0;
	if (got != 1 || n == 0 || n > 20 || strspn(v, "0123456789") != n)
		return term_refuse(msg, 300, "txn_id must be 1 to 20 digits");
	while (n > 1 && *v == '0') {
		v++;
		n--;
	}
	snprintf(o->txn_id, sizeof o->txn_id, "%s", v);
	if (o->t.cmd == CMD_PAY && strcmp(o->txn_id, "0") == 0)
		return term_refuse(msg, 300, "txn_id 0 cannot be paid");

	got = term_param(&o->t.form, "account", false, &v);
	if (got != 1 || ident_contract_normalize(v, o->account) != IDENT_OK)
		return term_refuse(msg, 4, "wrong account format: expected the contract number, 5 to 12 digits");

	got = term_param(&o->t.form, "sum", false, &v);
	if (got < 0 || (got == 0 && o->t.cmd == CMD_PAY))
		return term_refuse(msg, 300, "sum is required, e.g. 200.00");
	if (got == 1) {
		if (money_parse(v, &o->sum) != MONEY_OK)
			return term_refuse(msg, 300, "sum must be an amount like 200.00");
		o->has_sum = true;
		money_format(o->sum, o->sum_text);
	}
	char lim[MONEY_BUFSZ];
	if ((o->t.cmd == CMD_PAY || o->sum > 0) && o->sum < p->min_amount)
		return term_refuse(msg, 241, "sum is below the minimum of %s", money_format(p->min_amount, lim));
	if ((o->t.cmd == CMD_PAY || o->sum > 0) && o->sum > p->max_amount)
		return term_refuse(msg, 242, "sum is above the maximum of %s", money_format(p->max_amount, lim));

	when[0] = '\0';
	if (o->t.cmd == CMD_PAY) {
		got = term_param(&o->t.form, "txn_date", false, &v);
		if (got < 0 || (got == 1 && term_parse_time(v, false, when) != 0))
			return term_refuse(msg, 300, "txn_date must be YYYYMMDDHHMMSS");
	}
	return 0;
}

/* Runs the command; answers on every path. */
static void osmp_run(struct osmp_req *o, const struct partner *p)
{
	char when[20] = "", msg[128];
	int refuse = osmp_validate(o, p, when, msg);
	if (refuse) {
		osmp_answer(o, 200, refuse, msg, NULL);
		return;
	}
	if (o->t.cmd == CMD_CHECK) {
		term_check(&o->t, p, o->account, on_checked);
		return;
	}
	struct jsonw raw;
	jw_init(&raw);
	jw_obj_begin(&raw, NULL);
	jw_str(&raw, "protocol", "osmp");
	jw_str(&raw, "partner", p->name);
	jw_str(&raw, "command", "pay");
	jw_str(&raw, "txn_id", o->txn_id);
	jw_str(&raw, "account", o->account);
	jw_str(&raw, "txn_date", *when ? when : NULL);
	jw_obj_end(&raw);
	size_t raw_len;
	term_book(&o->t, p, ADAPTER_NAME, o->txn_id, o->account, o->sum, when, jw_text(&raw, &raw_len), on_paid);
	jw_free(&raw);
}

static void on_auth(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg)
{
	struct osmp_req *o = arg;
	(void)r;
	switch (st) {
	case PA_OK:
		osmp_run(o, p);
		return;
	case PA_UNAVAILABLE:
		if (o->t.cmd == CMD_CHECK)
			osmp_answer(o, 200, 243, "cannot check the account now; try again later", NULL);
		else
			osmp_answer(o, 200, 1, "temporary error; repeat the request later", NULL);
		return;
	case PA_DISABLED:
		osmp_answer(o, term_auth_http_status(st), 7, "payments from this partner are refused", NULL);
		return;
	default:
		if (term_auth_http_status(st) == 401)
			http_header(o->t.r, "WWW-Authenticate", "Basic realm=\"osmp\", charset=\"UTF-8\"");
		osmp_answer(o, term_auth_http_status(st), 8, "access denied", NULL);
		return;
	}
}

static void h_osmp(struct req *r)
{
	struct osmp_req *o = term_req_new(r, sizeof *o, "command", false, osmp_cmds);
	if (!o)
		return;
	term_param(&o->t.form, "txn_id", false, &o->txn_raw);
	term_authenticate(r, "osmp", on_auth, o);
}

static const struct route osmp_routes[] = {
	{"GET", "/v1/osmp", h_osmp, NULL},
	{"POST", "/v1/osmp", h_osmp, NULL},
};

const struct adapter osmp_adapter = {
	.name = ADAPTER_NAME,
	.kind = ADAPTER_TERMINAL,
	.methods = NULL,
	.init = terminal_init,
	.fini = terminal_fini,
	.routes = osmp_routes,
	.nroutes = sizeof osmp_routes / sizeof osmp_routes[0],
};
