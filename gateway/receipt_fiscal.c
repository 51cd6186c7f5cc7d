/* receipt_fiscal.c — the seller and fiscal parts of a receipt (see receipt_fiscal.h). */
#include "receipt_fiscal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "html.h"
#include "qr.h"

void receipt_seller_from_config(const struct config *cfg, struct receipt_seller *out)
{
	out->name = cfg->seller_name;
	out->inn = cfg->seller_inn;
	out->phone = cfg->seller_phone;
	out->sno = cfg->seller_sno;
	out->vat = cfg->seller_vat;
}

static const char *sno_name(const char *s)
{
	static const char *const t[][2] = {{"osn", "ОСН"},
					   {"usn_income", "УСН доходы"},
					   {"usn_income_outcome", "УСН доходы минус расходы"},
					   {"esn", "ЕСХН"},
					   {"patent", "ПСН"}};
	for (size_t i = 0; s && i < sizeof t / sizeof t[0]; i++)
		if (strcmp(s, t[i][0]) == 0)
			return t[i][1];
	return NULL;
}

static const char *vat_name(const char *v)
{
	static const char *const t[][2] = {{"none", "без НДС"},   {"vat0", "НДС 0%"},       {"vat5", "НДС 5%"},
					   {"vat7", "НДС 7%"},    {"vat10", "НДС 10%"},     {"vat20", "НДС 20%"},
					   {"vat22", "НДС 22%"},  {"vat105", "НДС 5/105"},  {"vat107", "НДС 7/107"},
					   {"vat110", "НДС 10/110"}, {"vat120", "НДС 20/120"}, {"vat122", "НДС 22/122"}};
	for (size_t i = 0; v && i < sizeof t / sizeof t[0]; i++)
		if (strcmp(v, t[i][0]) == 0)
			return t[i][1];
	return NULL;
}

bool receipt_fiscal_done(const struct receipt *rc)
{
	return strcmp(rc->fiscal.state, "done") == 0 && *rc->fiscal.fn_number && *rc->fiscal.fd_number &&
	       *rc->fiscal.fp && *rc->fiscal.qr_time;
}

bool receipt_fiscal_followup(const struct receipt *rc)
{
	return rc->fiscal_followup && receipt_fiscal_done(rc);
}

void receipt_fiscal_qr(const struct receipt_fiscal *f, int n, char out[192])
{
	out[0] = '\0';
	if (strcmp(f->state, "done") != 0 || !*f->qr_time || f->total <= 0)
		return;
	snprintf(out, 192, "t=%s&s=%" PRId64 ".%02" PRId64 "&fn=%s&i=%s&fp=%s&n=%d", f->qr_time, f->total / 100,
		 f->total % 100, f->fn_number, f->fd_number, f->fp, n);
}

static bool test(const struct receipt *rc) { return strcmp(rc->fiscal.cashbox, "sandbox") == 0; }

static const char test_banner[] = "ТЕСТОВЫЙ ЧЕК — не является фискальным документом";

/* name/value pairs of the fiscal document, in the order printed */
struct pair {
	const char *name;
	const char *value;
};

static int fiscal_pairs(const struct receipt *rc, const struct receipt_seller *s, struct pair *p)
{
	int n = 0;
	const struct receipt_fiscal *f = &rc->fiscal;
	if (sno_name(s->sno))
		p[n++] = (struct pair){"Система налогообложения", sno_name(s->sno)};
	if (vat_name(s->vat))
		p[n++] = (struct pair){"НДС", vat_name(s->vat)};
	p[n++] = (struct pair){"Дата и время чека", f->datetime_local};
	if (*f->shift)
		p[n++] = (struct pair){"Смена №", f->shift};
	p[n++] = (struct pair){"ФН №", f->fn_number};
	p[n++] = (struct pair){"ФД №", f->fd_number};
	p[n++] = (struct pair){"ФП", f->fp};
	if (*f->ecr)
		p[n++] = (struct pair){"РН ККТ", f->ecr};
	p[n++] = (struct pair){"Сайт ФНС", *f->fns_site ? f->fns_site : "www.nalog.gov.ru"};
	return n;
}

static const char *pending_note(const struct receipt *rc)
{
	const char *st = rc->fiscal.state;
	if (!*st || receipt_fiscal_done(rc))
		return NULL;
	if (strcmp(st, "failed") == 0 || strcmp(st, "fail") == 0)
		return "Кассовый чек не сформирован; мы уже разбираемся";
	return "Кассовый чек формируется и придёт отдельным письмом";
}

void receipt_fiscal_text(FILE *f, const struct receipt *rc, const struct receipt_seller *s)
{
	if (s->name && *s->name)
		fprintf(f, "Продавец: %s\r\n", s->name);
	if (s->inn && *s->inn)
		fprintf(f, "ИНН продавца: %s\r\n", s->inn);
	if (s->phone && *s->phone)
		fprintf(f, "Горячая линия: %s\r\n", s->phone);
	const char *note = pending_note(rc);
	if (note)
		fprintf(f, "\r\n%s.\r\n", note);
	if (!receipt_fiscal_done(rc))
		return;
	fprintf(f, "\r\nКассовый чек (приход)%s%s\r\n", test(rc) ? "\r\n" : "", test(rc) ? test_banner : "");
	struct pair p[12];
	int n = fiscal_pairs(rc, s, p);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s: %s\r\n", p[i].name, p[i].value);
	char qr[192];
	receipt_fiscal_qr(&rc->fiscal, 1, qr);
	fprintf(f, "QR-код чека: %s\r\n", qr);
}

/* One row: the printable page's classes, or the mail's inline styles. */
static void row(FILE *f, bool page, const char *name, const char *value)
{
	if (page)
		fprintf(f, "<tr><th>%s</th><td>", name);
	else
		fprintf(f, "<tr><td style=\"padding:6px 12px 6px 0;color:#555;vertical-align:top\">%s</td>"
			   "<td style=\"padding:6px 0;vertical-align:top\">", name);
	html_escape(f, value);
	fputs("</td></tr>\n", f);
}

void receipt_fiscal_html(FILE *f, const struct receipt *rc, const struct receipt_seller *s, bool page)
{
	struct pair sp[3];
	int sn = 0;
	if (s->name && *s->name)
		sp[sn++] = (struct pair){"Продавец", s->name};
	if (s->inn && *s->inn)
		sp[sn++] = (struct pair){"ИНН продавца", s->inn};
	if (s->phone && *s->phone)
		sp[sn++] = (struct pair){"Горячая линия", s->phone};
	for (int i = 0; i < sn; i++)
		row(f, page, sp[i].name, sp[i].value);
	const char *note = pending_note(rc);
	if (note)
		row(f, page, "Кассовый чек", note);
	if (!receipt_fiscal_done(rc))
		return;
	fputs(page ? "</table>\n<h2 class=\"fiscal\">Кассовый чек (приход)</h2>\n"
		   : "</table>\r\n<h3 style=\"font-size:16px;margin:16px 0 4px\">Кассовый чек (приход)</h3>\r\n", f);
	if (test(rc)) {
		fputs(page ? "<p class=\"test\" role=\"note\">" : "<p style=\"color:#b00020;font-weight:bold\">", f);
		html_escape(f, test_banner);
		fputs("</p>\n", f);
	}
	fputs(page ? "<table>\n" : "<table style=\"border-collapse:collapse\">\r\n", f);
	struct pair p[12];
	int n = fiscal_pairs(rc, s, p);
	for (int i = 0; i < n; i++)
		row(f, page, p[i].name, p[i].value);
	char qr[192];
	receipt_fiscal_qr(&rc->fiscal, 1, qr);
	char *svg = qr_svg(qr, 4);
	if (svg) {
		fputs(page ? "</table>\n<figure class=\"qr\">" : "</table>\r\n<div style=\"margin:12px 0\">", f);
		fputs(svg, f);
		fputs(page ? "<figcaption>" : "<div style=\"font-size:11px;color:#555;word-break:break-all\">", f);
		html_escape(f, qr);
		fputs(page ? "</figcaption></figure>\n<table>\n" : "</div></div>\r\n<table style=\"border-collapse:collapse\">\r\n",
		      f);
		free(svg);
	}
}

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

void receipt_fiscal_json(json_t *o, const struct receipt *rc, const struct receipt_seller *s, bool internal)
{
	json_object_set_new(o, "seller",
			    json_pack("{s:o,s:o,s:o,s:o,s:o}", "name", str_or_null(s->name), "inn", str_or_null(s->inn),
				      "phone", str_or_null(s->phone), "sno", str_or_null(s->sno), "vat", str_or_null(s->vat)));
	const struct receipt_fiscal *f = &rc->fiscal;
	if (!*f->state) {
		json_object_set_new(o, "fiscal", json_null());
		return;
	}
	const char *state = strcmp(f->state, "sending") == 0 ? "pending"
			    : strcmp(f->state, "registered") == 0 || strcmp(f->state, "polling") == 0 ? "wait"
												  : f->state;
	json_t *j = json_pack("{s:s,s:b}", "state", state, "test", test(rc));
	if (receipt_fiscal_done(rc)) {
		char qr[192];
		receipt_fiscal_qr(f, 1, qr);
		json_object_set_new(j, "fn_number", json_string(f->fn_number));
		json_object_set_new(j, "fiscal_document_number", json_string(f->fd_number));
		json_object_set_new(j, "fiscal_sign", json_string(f->fp));
		json_object_set_new(j, "shift_number", str_or_null(f->shift));
		json_object_set_new(j, "kkt_registration_number", str_or_null(f->ecr));
		json_object_set_new(j, "receipt_datetime", json_string(f->datetime_local));
		json_object_set_new(j, "fns_site", str_or_null(f->fns_site));
		json_object_set_new(j, "qr", json_string(qr));
	}
	if (internal) {
		json_object_set_new(j, "cashbox", json_string(f->cashbox));
		json_object_set_new(j, "error_code", f->error_code ? json_integer(f->error_code) : json_null());
		json_object_set_new(j, "last_error", str_or_null(f->last_error));
	}
	json_object_set_new(o, "fiscal", j);
}
