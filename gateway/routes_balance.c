/* routes_balance.c — the balance over time (internal API, bearer token): a charge computed by the
 * operator's billing (POST /v1/internal/charges, idempotent by its charge id) and the statement of an
 * account («Детализация»: GET /v1/internal/accounts/{contract}/statement) as JSON (paged by cursor),
 * CSV (for Excel: UTF-8 with a BOM, ';' and decimal commas) or a printable Russian page. The
 * statement's lines are a contiguous run of the account's ledger, so closing = opening + the lines. */
#include "routes_balance.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "csv.h"
#include "db.h"
#include "html.h"
#include "ident.h"
#include "jsonw.h"
#include "money.h"
#include "receipt_render.h"
#include "registries.h"
#include "routes_common.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 500
#define FULL_MAX 10000          /* lines of a CSV or printable statement (the whole period at once) */

static struct db_stmt q_charge = {
	"book_charge",
	"SELECT result, ledger_id, balance_after, to_char(booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	" FROM book_charge($1, $2, $3::bigint, $4)",
	4, 0};

/* $1 contract, $2 from, $3 to (dates), $4 tz, $5 after this ledger id, $6 at most this many lines (+1) */
static struct db_stmt q_statement = {
	"account_statement",
	/* A function (022): its plans are generic by its SET clause and prune to the period's months;
	 * as a prepared query here, a connection could settle on re-planning it at every call. */
	"SELECT * FROM account_statement($1, $2::date, $3::date, $4, $5::bigint, $6::int)",
	6, 0};

enum { S_CONTRACT, S_HOLDER, S_OPENING, S_CLOSING, S_ID, S_AT, S_LOCAL, S_KIND, S_AMOUNT, S_AFTER, S_NOTE, S_FEE_DAY,
       S_PID, S_PNUM, S_METHOD, S_CHANNEL, S_RNUM, S_TOKEN, S_ARCHIVED };

/* ---- POST /v1/internal/charges -------------------------------------------------------------- */

struct charge_ctx {
	struct req *r;
	char charge_id[65], contract[IDENT_CONTRACT_BUFSZ];
	int64_t amount;
};

static void on_charge(const struct db_result *res, void *arg)
{
	struct charge_ctx *c = arg;
	struct req *r = c->r;
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
		free(c);
		return;
	}
	const PGresult *p = res->res;
	const char *result = PQgetvalue(p, 0, 0);
	if (strcmp(result, "not_found") == 0) {
		http_reply_error(r, 404, "account_not_found", "no subscriber with this contract");
	} else if (strcmp(result, "mismatch") == 0) {
		http_reply_error(r, 409, "charge_id_conflict",
				 "this charge_id was used for another charge (contract, amount or description differ)");
	} else {
		char amount[MONEY_BUFSZ], after[MONEY_BUFSZ];
		long long bal = 0;
		db_int64(p, 0, 2, &bal);
		bool replay = strcmp(result, "duplicate") == 0;
		if (replay)
			http_header(r, "Idempotent-Replayed", "true");
		http_reply_json(r, replay ? 200 : 201,
				json_pack("{s:s,s:s,s:s,s:s,s:s}", "charge_id", c->charge_id, "contract", c->contract,
					  "amount", money_format(c->amount, amount), "balance_after", money_format(bal, after),
					  "booked_at", PQgetvalue(p, 0, 3)));
	}
	free(c);
}

static bool charge_id_valid(const char *s, size_t n)
{
	if (n < 1 || n > 64)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

void h_charge_create(struct req *r)
{
	if (!require_admin(r))
		return;
	json_t *body = req_json(r);
	if (!body)
		return;
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		if (strcmp(key, "charge_id") != 0 && strcmp(key, "contract") != 0 && strcmp(key, "amount") != 0 &&
		    strcmp(key, "description") != 0) {
			http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", key);
			goto out;
		}
	}
	json_t *jid = json_object_get(body, "charge_id"), *jc = json_object_get(body, "contract"),
	       *ja = json_object_get(body, "amount"), *jd = json_object_get(body, "description");
	const char *id = json_string_value(jid), *desc = json_string_value(jd);
	struct charge_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		goto out;
	}
	c->r = r;
	if (!id || !charge_id_valid(id, json_string_length(jid))) {
		http_reply_error(r, 400, "invalid_charge_id", "charge_id: 1 to 64 letters, digits, '.', '_', ':' or '-'");
	} else if (!json_is_string(jc) || ident_contract_normalizen(json_string_value(jc), json_string_length(jc), c->contract) != IDENT_OK) {
		http_reply_error(r, 400, "invalid_contract", "contract: 5 to 12 digits");
	} else if (!json_is_string(ja) || money_parsen(json_string_value(ja), json_string_length(ja), &c->amount) != MONEY_OK ||
		   c->amount <= 0) {
		http_reply_error(r, 400, "invalid_amount", "amount: a positive sum in roubles as a string, like \"20.00\"");
	} else if (!desc || json_string_length(jd) == 0 || json_string_length(jd) > 400 ||
		   !ident_utf8_valid(desc, json_string_length(jd)) || strpbrk(desc, "\r\n")) {
		http_reply_error(r, 400, "invalid_description", "description: one line of up to 400 bytes, shown in the statement");
	} else {
		snprintf(c->charge_id, sizeof c->charge_id, "%s", id);
		char amount[24];
		snprintf(amount, sizeof amount, "%" PRId64, c->amount);
		const char *p[4] = {c->charge_id, c->contract, amount, desc};
		db_exec(req_db(r), &q_charge, p, 4, on_charge, c);
		goto out;
	}
	free(c);
out:
	json_decref(body);
}

/* ---- GET /v1/internal/accounts/{contract}/statement ----------------------------------------- */

enum format { F_JSON, F_CSV, F_HTML };

struct statement_ctx {
	struct req *r;
	enum format fmt;
	int limit;
	char from[11], to[11];
};

/* A line as people read it. */
struct line {
	const char *kind;                 /* payment | refund | fee | adjustment | charge */
	char text[512];
};

static void describe(const PGresult *p, int i, struct line *l)
{
	const char *kind = PQgetvalue(p, i, S_KIND), *note = PQgetisnull(p, i, S_NOTE) ? NULL : PQgetvalue(p, i, S_NOTE);
	if (strcmp(kind, "credit") == 0) {
		l->kind = "payment";
		snprintf(l->text, sizeof l->text, "Пополнение счёта: %s, %s (платёж № %s)",
			 receipt_method_name(PQgetvalue(p, i, S_METHOD)), receipt_channel_name(PQgetvalue(p, i, S_CHANNEL)),
			 PQgetvalue(p, i, S_PNUM));
	} else if (strcmp(kind, "debit") == 0) {
		l->kind = "refund";
		snprintf(l->text, sizeof l->text, "Возврат платежа № %s", PQgetvalue(p, i, S_PNUM));
	} else if (strcmp(kind, "fee") == 0) {
		l->kind = "fee";
		snprintf(l->text, sizeof l->text, "Абонентская плата за %s", PQgetvalue(p, i, S_FEE_DAY));
	} else if (strcmp(kind, "charge") == 0) {
		l->kind = "charge";
		snprintf(l->text, sizeof l->text, "%s", note && *note ? note : "Списание");
	} else {
		l->kind = "adjustment";
		snprintf(l->text, sizeof l->text, "%s",
			 note && strstr(note, "set by account import") ? "Корректировка баланса по данным биллинга"
								      : "Корректировка баланса");
	}
}

static int64_t col64(const PGresult *p, int i, int c)
{
	long long v = 0;
	db_int64(p, i, c, &v);
	return v;
}

static void reply_json(struct statement_ctx *s, const PGresult *p, int n, bool more)
{
	struct req *r = s->r;
	char m1[MONEY_BUFSZ], m2[MONEY_BUFSZ], url[600];
	struct jsonw w;
	jw_init(&w);
	jw_obj_begin(&w, NULL);
	jw_str(&w, "contract", PQgetvalue(p, 0, S_CONTRACT));
	jw_str(&w, "holder_name", PQgetvalue(p, 0, S_HOLDER));
	jw_str(&w, "from", s->from);
	jw_str(&w, "to", s->to);
	jw_str(&w, "currency", "RUB");
	jw_str(&w, "opening_balance", money_format(col64(p, 0, S_OPENING), m1));
	jw_str(&w, "closing_balance", money_format(col64(p, 0, S_CLOSING), m2));
	jw_arr_begin(&w, "lines");
	for (int i = 0; i < n; i++) {
		struct line l;
		describe(p, i, &l);
		jw_obj_begin(&w, NULL);
		jw_int(&w, "id", col64(p, i, S_ID));
		jw_str(&w, "at", PQgetvalue(p, i, S_AT));
		jw_str(&w, "local_time", PQgetvalue(p, i, S_LOCAL));
		jw_str(&w, "kind", l.kind);
		jw_str(&w, "description", l.text);
		jw_str(&w, "amount", money_format(col64(p, i, S_AMOUNT), m1));
		jw_str(&w, "balance_after", money_format(col64(p, i, S_AFTER), m2));
		if (!PQgetisnull(p, i, S_PID)) {
			jw_obj_begin(&w, "payment");
			jw_str(&w, "id", PQgetvalue(p, i, S_PID));
			jw_int(&w, "number", col64(p, i, S_PNUM));
			jw_str(&w, "method", PQgetvalue(p, i, S_METHOD));
			jw_str(&w, "channel", PQgetvalue(p, i, S_CHANNEL));
			if (!PQgetisnull(p, i, S_RNUM)) {
				snprintf(url, sizeof url, "%s/v1/receipts/%s", req_config(r)->public_url, PQgetvalue(p, i, S_TOKEN));
				jw_str(&w, "receipt_number", PQgetvalue(p, i, S_RNUM));
				jw_str(&w, "receipt_url", url);
			}
			jw_obj_end(&w);
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	if (more) {
		char cur[24];
		snprintf(cur, sizeof cur, "%lld", (long long)col64(p, n - 1, S_ID));
		jw_str(&w, "next_cursor", cur);
	} else {
		jw_null(&w, "next_cursor");
	}
	jw_obj_end(&w);
	http_reply_jw(r, 200, &w);
}

/* Money for a Russian Excel: "-1234,56". */
static const char *csv_money(int64_t k, char buf[MONEY_BUFSZ])
{
	money_format(k, buf);
	char *dot = strchr(buf, '.');
	if (dot)
		*dot = ',';
	return buf;
}

static void dmy(const char *iso, char out[11])
{
	snprintf(out, 11, "%.2s.%.2s.%.4s", iso + 8, iso + 5, iso);
}

/* The whole period as CSV into f; d1, d2 the period's days as dd.mm.yyyy. */
static void write_csv(FILE *f, const PGresult *p, int n, const char *d1, const char *d2)
{
	char m1[MONEY_BUFSZ], m2[MONEY_BUFSZ];
	fputs("\xEF\xBB\xBF", f);                 /* the BOM: Excel reads the file as UTF-8 */
	fprintf(f, "Детализация по договору;%s\r\nПериод;%s — %s\r\nВходящий остаток, руб.;%s\r\n\r\n",
		PQgetvalue(p, 0, S_CONTRACT), d1, d2, csv_money(col64(p, 0, S_OPENING), m1));
	fputs("Дата и время;Операция;Сумма, руб.;Остаток, руб.;Номер платежа;Квитанция\r\n", f);
	for (int i = 0; i < n; i++) {
		struct line l;
		describe(p, i, &l);
		csv_write_field(f, PQgetvalue(p, i, S_LOCAL), ';');
		fputc(';', f);
		csv_write_field(f, l.text, ';');
		fprintf(f, ";%s;%s;", csv_money(col64(p, i, S_AMOUNT), m1), csv_money(col64(p, i, S_AFTER), m2));
		if (!PQgetisnull(p, i, S_PID))
			fputs(PQgetvalue(p, i, S_PNUM), f);
		fputc(';', f);
		if (!PQgetisnull(p, i, S_RNUM))
			fputs(PQgetvalue(p, i, S_RNUM), f);
		fputs("\r\n", f);
	}
	fprintf(f, "\r\nИсходящий остаток, руб.;%s\r\n", csv_money(col64(p, 0, S_CLOSING), m1));
}

static const char page_css[] =
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1a1a1a;background:#f3f4f6;"
	"margin:0;padding:24px}main{max-width:900px;margin:0 auto;background:#fff;padding:28px 32px;border-radius:8px;"
	"box-shadow:0 1px 4px rgba(0,0,0,.08)}h1{font-size:22px;margin:0 0 4px}p.sub{color:#555;margin:0 0 18px}"
	"table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid #e5e7eb;"
	"text-align:left;vertical-align:top;font-size:14px}td.num,th.num{text-align:right;white-space:nowrap}"
	"tr.total td{font-weight:600;border-bottom:none}.neg{color:#b00020}"
	"@page{size:A4;margin:14mm}@media print{body{background:#fff;padding:0}main{box-shadow:none;padding:0}}";

/* The whole period as the printable page into f. */
static void write_html(FILE *f, const PGresult *p, int n, const char *d1, const char *d2)
{
	char rub[RECEIPT_RUB_BUFSZ];
	fprintf(f, "<!doctype html>\n<html lang=\"ru\">\n<head><meta charset=\"utf-8\"><title>Детализация по договору ");
	html_escape(f, PQgetvalue(p, 0, S_CONTRACT));
	fprintf(f, "</title><style>%s</style></head>\n<body><main>\n<h1>Детализация по договору ", page_css);
	html_escape(f, PQgetvalue(p, 0, S_CONTRACT));
	fputs("</h1>\n<p class=\"sub\">", f);
	html_escape(f, PQgetvalue(p, 0, S_HOLDER));
	fprintf(f, " · период с %s по %s</p>\n<table>\n<thead><tr><th>Дата и время</th><th>Операция</th>"
		   "<th class=\"num\">Сумма</th><th class=\"num\">Остаток</th></tr></thead>\n<tbody>\n",
		d1, d2);
	fprintf(f, "<tr class=\"total\"><td></td><td>Входящий остаток</td><td></td><td class=\"num\">%s</td></tr>\n",
		receipt_format_rub(col64(p, 0, S_OPENING), rub));
	for (int i = 0; i < n; i++) {
		struct line l;
		describe(p, i, &l);
		int64_t amount = col64(p, i, S_AMOUNT);
		fputs("<tr><td>", f);
		html_escape(f, PQgetvalue(p, i, S_LOCAL));
		fputs("</td><td>", f);
		html_escape(f, l.text);
		fprintf(f, "</td><td class=\"num%s\">%s</td>", amount < 0 ? " neg" : "", receipt_format_rub(amount, rub));
		fprintf(f, "<td class=\"num\">%s</td></tr>\n", receipt_format_rub(col64(p, i, S_AFTER), rub));
	}
	fprintf(f, "<tr class=\"total\"><td></td><td>Исходящий остаток</td><td></td><td class=\"num\">%s</td></tr>\n",
		receipt_format_rub(col64(p, 0, S_CLOSING), rub));
	fputs("</tbody></table>\n</main></body></html>\n", f);
}

/* The CSV or the printable page of the whole period, written into memory, then answered. */
static void reply_document(struct statement_ctx *s, const PGresult *p, int n)
{
	char *buf = NULL, d1[11], d2[11];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		http_reply_error(s->r, 503, "unavailable", "out of memory");
		return;
	}
	dmy(s->from, d1);
	dmy(s->to, d2);
	if (s->fmt == F_CSV)
		write_csv(f, p, n, d1, d2);
	else
		write_html(f, p, n, d1, d2);
	fclose(f);
	if (s->fmt == F_CSV) {
		char disp[128];
		snprintf(disp, sizeof disp, "attachment; filename=\"statement-%s-%s-%s.csv\"",
			 PQgetvalue(p, 0, S_CONTRACT), s->from, s->to);
		http_header(s->r, "Content-Disposition", disp);
	}
	http_reply_raw(s->r, 200, s->fmt == F_CSV ? "text/csv; charset=utf-8" : "text/html; charset=utf-8", buf, len);
	free(buf);
}

static void on_statement(const struct db_result *res, void *arg)
{
	struct statement_ctx *s = arg;
	struct req *r = s->r;
	if (res->status != DB_OK) {
		reply_db_unavailable(r);
		free(s);
		return;
	}
	const PGresult *p = res->res;
	int rows = PQntuples(p);
	if (rows == 0) {
		http_reply_error(r, 404, "account_not_found", "no subscriber with this contract");
		free(s);
		return;
	}
	if (strcmp(PQgetvalue(p, 0, S_ARCHIVED), "t") == 0) {
		/* its rows were detached (gatewayd partitions detach): the database no longer holds them */
		http_reply_error(r, 422, "period_archived",
				 "the period starts in ledger months that were archived: ask for a period after them");
		free(s);
		return;
	}
	int n = PQgetisnull(p, 0, S_ID) ? 0 : rows;      /* one row of NULL lines: an empty period */
	bool more = n > s->limit;
	if (more)
		n = s->limit;
	if (s->fmt == F_JSON)
		reply_json(s, p, n, more);
	else if (more)
		http_reply_error(r, 422, "statement_too_long",
				 "more than %d lines in the period: choose a shorter one, or page through the JSON", FULL_MAX);
	else
		reply_document(s, p, n);
	free(s);
}

void h_statement(struct req *r)
{
	if (!require_admin(r))
		return;
	char contract[IDENT_CONTRACT_BUFSZ];
	if (ident_contract_normalize(req_param(r, 0), contract) != IDENT_OK) {
		http_reply_error(r, 404, "account_not_found", "a contract is 5 to 12 digits");
		return;
	}
	const char *from, *to, *cursor, *limit, *format;
	if (req_query(r, "from", &from) != 0 || req_query(r, "to", &to) != 0 || req_query(r, "cursor", &cursor) != 0 ||
	    req_query(r, "limit", &limit) != 0 || req_query(r, "format", &format) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (!from || !to || !registry_date_valid(from) || !registry_date_valid(to) || strcmp(from, to) > 0) {
		http_reply_error(r, 400, "invalid_period", "give from=YYYY-MM-DD and to=YYYY-MM-DD, from not after to");
		return;
	}
	long lim = PAGE_DEFAULT, cur = 0;
	if (limit && config_parse_int(limit, 1, PAGE_MAX, &lim) != 0) {
		http_reply_error(r, 400, "invalid_limit", "limit: 1 to %d lines", PAGE_MAX);
		return;
	}
	if (cursor && config_parse_int(cursor, 0, 0x7fffffffffffffffL, &cur) != 0) {
		http_reply_error(r, 400, "invalid_cursor", "cursor: the next_cursor of the previous page");
		return;
	}
	enum format fmt = F_JSON;
	const char *accept = req_header(r, "Accept");
	if (format ? strcmp(format, "csv") == 0 : accept && strstr(accept, "text/csv"))
		fmt = F_CSV;
	else if (format ? strcmp(format, "html") == 0 : req_wants_html(r))
		fmt = F_HTML;
	else if (format && strcmp(format, "json") != 0) {
		http_reply_error(r, 400, "invalid_format", "format: json, csv or html (or say it with Accept)");
		return;
	}
	struct statement_ctx *s = calloc(1, sizeof *s);
	if (!s) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	s->r = r;
	s->fmt = fmt;
	s->limit = fmt == F_JSON ? (int)lim : FULL_MAX;
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->to, sizeof s->to, "%s", to);
	char after[24], lims[16];
	snprintf(after, sizeof after, "%ld", fmt == F_JSON ? cur : 0L);
	snprintf(lims, sizeof lims, "%d", s->limit);
	const char *p[6] = {contract, from, to, req_config(r)->receipt_tz, after, lims};
	db_exec(req_db(r), &q_statement, p, 6, on_statement, s);
}
