/* sber_online.c — the Sberbank Online "payment agent" protocol: the bank calls GET or POST
 * /v1/sber-online with ACTION=check&ACCOUNT=… or ACTION=payment&ACCOUNT=…&AMOUNT=…&PAY_ID=…&PAY_DATE=…
 * (parameter names and the ACTION value in any case), authenticated by its source network and
 * HTTP Basic; we answer XML <response><CODE>…</CODE><MESSAGE>…</MESSAGE>…</response>.
 *
 * CODE values we send (see openapi.yaml, "Sberbank Online codes"):
 *   0  success (check: FIO, ADDRESS, BALANCE, REC_SUM, INFO; payment: EXT_ID, REG_DATE, AMOUNT)
 *   1  temporary error: the database is unreachable — the bank repeats the request
 *   2  unknown request type (ACTION)          3  account not found
 *   4  wrong account format                   5  account not active
 *   6  wrong transaction id: PAY_ID malformed, or already used for another account or amount
 *   7  payment refused for technical reasons: not authenticated (HTTP 401/403) or the partner is
 *      disabled (HTTP 403)
 *   8  duplicate transaction: this PAY_ID was booked before; EXT_ID, REG_DATE and AMOUNT are the
 *      original payment's
 *   9  wrong amount (not an amount, or 0)     10 amount below the partner's minimum
 *   11 amount above the partner's maximum     12 wrong date (PAY_DATE, dd.MM.yyyy_HH:mm:ss)
 *   300 internal error: the database refused the booking for a reason a retry will not fix */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "accounts.h"
#include "fees.h"
#include "adapter.h"
#include "booking.h"
#include "config.h"
#include "ident.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "terminal.h"

#define ADAPTER_NAME "sber-online"
#define PAY_ID_MAX 64

enum sber_action { ACT_UNKNOWN, ACT_CHECK, ACT_PAYMENT };

static const char *const sber_actions[] = {"check", "payment", NULL};   /* in the order of enum sber_action */

struct sber_req {
	struct term_req t;            /* first: request, form, ACTION (enum sber_action) */
	char account[IDENT_CONTRACT_BUFSZ];
	char pay_id[PAY_ID_MAX + 1];
	int64_t amount;
};

/* What goes into an answer besides CODE and MESSAGE. */
struct sber_extra {
	const struct cash_account *acc;     /* check */
	const struct cash_outcome *pay;     /* payment (booked or duplicate) */
};

static void sber_answer(struct sber_req *s, int http_status, int code, const char *message,
			const struct sber_extra *ex)
{
	struct xml x;
	char m[MONEY_BUFSZ];
	xml_begin(&x);
	xml_elem_int(&x, "CODE", code);
	xml_elem(&x, "MESSAGE", message);
	if (ex && ex->acc) {
		char info[64];
		xml_elem(&x, "FIO", ex->acc->masked_name);
		xml_elem(&x, "ADDRESS", "");
		xml_elem(&x, "BALANCE", money_format(ex->acc->balance, m));
		xml_elem(&x, "REC_SUM", money_format(fees_recommended_amount(ex->acc->balance, ex->acc->monthly_fee, fees_today(),
										 s->t.min_amount, s->t.max_amount), m));
		snprintf(info, sizeof info, "Лицевой счёт %s", ex->acc->contract);
		xml_elem(&x, "INFO", info);
	}
	if (ex && ex->pay) {
		xml_elem_int(&x, "EXT_ID", ex->pay->number);
		xml_elem(&x, "REG_DATE", ex->pay->paid_at_local);
		xml_elem(&x, "AMOUNT", money_format(ex->pay->amount, m));
	}
	struct req *r = s->t.r;
	term_req_free(&s->t);
	xml_reply(r, http_status, &x);
}

static void on_checked(const struct cash_account *a, void *arg)
{
	struct sber_req *s = arg;
	struct sber_extra ex = {a, NULL};
	switch (a->status) {
	case CASH_OK: sber_answer(s, 200, 0, "Абонент найден", &ex); return;
	case CASH_NOT_FOUND: sber_answer(s, 200, 3, "Лицевой счёт не найден", NULL); return;
	case CASH_INACTIVE: sber_answer(s, 200, 5, "Лицевой счёт не активен", NULL); return;
	case CASH_UNAVAILABLE: sber_answer(s, 200, 1, "Временная ошибка, повторите запрос позже", NULL); return;
	default: sber_answer(s, 200, 300, "Внутренняя ошибка", NULL); return;
	}
}

static void on_paid(const struct cash_outcome *b, void *arg)
{
	struct sber_req *s = arg;
	struct req *r = s->t.r;
	struct sber_extra ex = {NULL, b};
	if (*b->payment_id) {
		snprintf(r->log_id, sizeof r->log_id, "%s", b->payment_id);
		r->log_payment = r->log_id;
	}
	switch (b->status) {
	case CASH_OK:
		metrics_add(M_CASH_BOOKED, 1);
		sber_answer(s, 200, 0, "Платёж принят", &ex);
		return;
	case CASH_DUPLICATE:
		metrics_add(M_CASH_DUPLICATE, 1);
		sber_answer(s, 200, 8, "Платёж с таким PAY_ID уже принят", &ex);
		return;
	case CASH_MISMATCH:
		metrics_add(M_CASH_MISMATCH, 1);
		log_kv(LOG_WARN, "sber-online: PAY_ID reused with another account or amount", "rid", r->rid, "pay_id",
		       s->pay_id, "payment", b->payment_id, NULL);
		sber_answer(s, 200, 6, "PAY_ID уже использован для другого счёта или суммы", NULL);
		return;
	case CASH_NOT_FOUND: sber_answer(s, 200, 3, "Лицевой счёт не найден", NULL); return;
	case CASH_INACTIVE: sber_answer(s, 200, 5, "Лицевой счёт не активен", NULL); return;
	case CASH_UNAVAILABLE:
		log_kv(LOG_WARN, "sber-online: booking unavailable, the bank will retry", "rid", r->rid, "reason",
		       b->reason, NULL);
		sber_answer(s, 200, 1, "Временная ошибка, повторите запрос позже", NULL);
		return;
	default:
		log_kv(LOG_ERROR, "sber-online: booking failed", "rid", r->rid, "reason", b->reason, NULL);
		sber_answer(s, 200, 300, "Внутренняя ошибка", NULL);
		return;
	}
}

/* Checks the parameters of the request. Returns 0, or the CODE to refuse with and a message. */
static int sber_validate(struct sber_req *s, const struct partner *p, char when[20], char msg[128])
{
	const char *v;
	if (!s->t.form_ok || s->t.cmd == ACT_UNKNOWN)
		return term_refuse(msg, 2, "Неизвестный тип запроса: ACTION должен быть check или payment");
	int got = term_param(&s->t.form, "ACCOUNT", true, &v);
	if (got != 1 || ident_contract_normalize(v, s->account) != IDENT_OK)
		return term_refuse(msg, 4, "Неверный формат лицевого счёта: номер договора, от 5 до 12 цифр");
	if (s->t.cmd == ACT_CHECK)
		return 0;

	got = term_param(&s->t.form, "PAY_ID", true, &v);
	size_t n = v ? strlen(v) : 0;
	if (got != 1 || n == 0 || n > PAY_ID_MAX ||
	    strspn(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != n)
		return term_refuse(msg, 6, "Неверный идентификатор транзакции PAY_ID");
	memcpy(s->pay_id, v, n + 1);

	got = term_param(&s->t.form, "AMOUNT", true, &v);
	if (got != 1 || money_parse(v, &s->amount) != MONEY_OK || s->amount == 0)
		return term_refuse(msg, 9, "Неверная сумма AMOUNT");
	char lim[MONEY_BUFSZ];
	if (s->amount < p->min_amount)
		return term_refuse(msg, 10, "Сумма меньше минимальной (%s)", money_format(p->min_amount, lim));
	if (s->amount > p->max_amount)
		return term_refuse(msg, 11, "Сумма больше максимальной (%s)", money_format(p->max_amount, lim));

	got = term_param(&s->t.form, "PAY_DATE", true, &v);
	if (got != 1 || term_parse_time(v, true, when) != 0)
		return term_refuse(msg, 12, "Неверная дата PAY_DATE: ожидается dd.MM.yyyy_HH:mm:ss");
	return 0;
}

static void sber_run(struct sber_req *s, const struct partner *p)
{
	char when[20] = "", msg[128];
	int refuse = sber_validate(s, p, when, msg);
	if (refuse) {
		sber_answer(s, 200, refuse, msg, NULL);
		return;
	}
	if (s->t.cmd == ACT_CHECK) {
		term_check(&s->t, p, s->account, on_checked);
		return;
	}
	json_t *raw = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "protocol", "sber-online", "partner", p->name, "action",
				"payment", "pay_id", s->pay_id, "account", s->account, "pay_date", when);
	char *raw_text = raw ? json_dumps(raw, JSON_COMPACT) : NULL;
	json_decref(raw);
	term_book(&s->t, p, ADAPTER_NAME, s->pay_id, s->account, s->amount, when, raw_text, on_paid);
	free(raw_text);
}

static void on_auth(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg)
{
	struct sber_req *s = arg;
	switch (st) {
	case PA_OK:
		sber_run(s, p);
		return;
	case PA_UNAVAILABLE:
		sber_answer(s, 200, 1, "Временная ошибка, повторите запрос позже", NULL);
		return;
	case PA_DISABLED:
		sber_answer(s, term_auth_http_status(st), 7, "Платежи от этого агента не принимаются", NULL);
		return;
	default:
		if (term_auth_http_status(st) == 401)
			http_header(r, "WWW-Authenticate", "Basic realm=\"sber-online\", charset=\"UTF-8\"");
		sber_answer(s, term_auth_http_status(st), 7, "Доступ запрещён", NULL);
		return;
	}
}

static void h_sber(struct req *r)
{
	struct sber_req *s = term_req_new(r, sizeof *s, "ACTION", true, sber_actions);
	if (s)
		term_authenticate(r, "sber-online", on_auth, s);
}

static const struct route sber_routes[] = {
	{"GET", "/v1/sber-online", h_sber, NULL},
	{"POST", "/v1/sber-online", h_sber, NULL},
};

const struct adapter sber_online_adapter = {
	.name = ADAPTER_NAME,
	.kind = ADAPTER_TERMINAL,
	.methods = NULL,
	.init = terminal_init,
	.fini = terminal_fini,
	.routes = sber_routes,
	.nroutes = sizeof sber_routes / sizeof sber_routes[0],
};
