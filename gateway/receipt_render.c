/* receipt_render.c — the receipt e-mail (MIME multipart/alternative, UTF-8, Russian), the printable
 * HTML page and the JSON views. Every value that came from a payer, a terminal or a provider is
 * escaped for where it goes (HTML entities, RFC 2047 words, base64 bodies). */
#include "receipt_render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "ident.h"
#include "money.h"

/* ---- small formatters ----------------------------------------------------------------------- */

char *receipt_format_rub(int64_t kopecks, char buf[RECEIPT_RUB_BUFSZ])
{
	static const char nbsp[] = "\xC2\xA0";
	char plain[MONEY_BUFSZ];
	money_format(kopecks, plain);            /* "-1234567.50" */
	const char *p = plain;
	size_t o = 0;
	if (*p == '-')
		buf[o++] = *p++;
	const char *dot = strchr(p, '.');
	size_t ilen = dot ? (size_t)(dot - p) : strlen(p);
	for (size_t i = 0; i < ilen; i++) {
		if (i > 0 && (ilen - i) % 3 == 0) {
			memcpy(buf + o, nbsp, 2);
			o += 2;
		}
		buf[o++] = p[i];
	}
	buf[o++] = ',';
	buf[o++] = dot ? dot[1] : '0';
	buf[o++] = dot ? dot[2] : '0';
	snprintf(buf + o, RECEIPT_RUB_BUFSZ - o, "%s\xE2\x82\xBD", nbsp);    /* U+20BD ruble sign */
	return buf;
}

const char *receipt_method_name(const char *m)
{
	static const struct {
		const char *code, *name;
	} names[] = {
		{"cash", "Наличные"},
		{"card", "Банковская карта"},
		{"bank_card", "Банковская карта"},
		{"sberpay", "SberPay"},
		{"sber_pay", "SberPay"},
		{"yoomoney", "ЮMoney"},
		{"yoo_money", "ЮMoney"},
		{"sbp", "СБП (Система быстрых платежей)"},
		{"qiwi", "QIWI Кошелёк"},
		{"wallet", "Электронный кошелёк"},
	};
	if (!m || !*m)
		return "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(names[i].code, m) == 0)
			return names[i].name;
	return m;
}

static const struct {
	const char *code, *lower, *upper;
} channels[] = {
	{"web", "оплата на сайте", "Оплата на сайте"},
	{"terminal", "платёжный терминал", "Платёжный терминал"},
	{"partner", "пункт приёма платежей", "Пункт приёма платежей"},
	{"api", "API", "API"},
};

/* The row of channel code ch, or -1 (an unknown code, or none). */
static int channel_row(const char *ch)
{
	for (size_t i = 0; ch && i < sizeof channels / sizeof channels[0]; i++)
		if (strcmp(channels[i].code, ch) == 0)
			return (int)i;
	return -1;
}

const char *receipt_channel_name(const char *ch)
{
	int i = channel_row(ch);
	return i >= 0 ? channels[i].upper : "";
}

/* "Наличные, платёжный терминал"; either part may be missing. */
static void method_line(const struct receipt *rc, char *out, size_t outsz)
{
	const char *m = receipt_method_name(rc->method), *c = "";
	int i = channel_row(rc->channel);
	if (i >= 0)
		c = *m ? channels[i].lower : channels[i].upper;
	if (*m && *c)
		snprintf(out, outsz, "%s, %s", m, c);
	else
		snprintf(out, outsz, "%s", *m ? m : *c ? c : "—");
}

/* "12.03.2026 14:05 (UTC+7)". */
static void when_line(const struct receipt *rc, char *out, size_t outsz)
{
	int off = rc->tz_offset_min;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	if (off % 60)
		snprintf(out, outsz, "%s (UTC%c%d:%02d)", rc->paid_local, sign, off / 60, off % 60);
	else
		snprintf(out, outsz, "%s (UTC%c%d)", rc->paid_local, sign, off / 60);
}

static void status_line(const struct receipt *rc, char *out, size_t outsz)
{
	if (strcmp(rc->payment_status, "refunded") == 0 || rc->refunded > 0) {
		char rub[RECEIPT_RUB_BUFSZ];
		if (rc->refunded >= rc->amount)
			snprintf(out, outsz, "Платёж возвращён");
		else
			snprintf(out, outsz, "Оплачено, возвращено %s", receipt_format_rub(rc->refunded, rub));
		return;
	}
	snprintf(out, outsz, "Оплачено");
}

static void masked_holder(const struct receipt *rc, char *out, size_t outsz)
{
	if (ident_mask_name(rc->holder_name, out, outsz) != 0)
		out[0] = '\0';
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_put(FILE *f, const unsigned char *d, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		fputc(b64[(v >> 18) & 63], f);
		fputc(b64[(v >> 12) & 63], f);
		fputc(i + 1 < n ? b64[(v >> 6) & 63] : '=', f);
		fputc(i + 2 < n ? b64[v & 63] : '=', f);
	}
}

void receipt_base64_lines(FILE *f, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i += 57) {       /* 57 bytes -> 76 characters */
		base64_put(f, data + i, len - i < 57 ? len - i : 57);
		fputs("\r\n", f);
	}
}

static bool plain_header_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
			return false;
	return true;
}

/* Writes s as encoded-words of at most 39 bytes of whole UTF-8 characters each. */
static void encoded_words(FILE *f, const char *s)
{
	size_t n = strlen(s), i = 0;
	bool first = true;
	while (i < n || first) {
		size_t take = n - i < 39 ? n - i : 39;
		while (take > 0 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
			take--;                      /* never cut a character in two */
		if (take == 0 && i < n)
			take = n - i < 39 ? n - i : 39;
		fputs(first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?", f);
		base64_put(f, (const unsigned char *)s + i, take);
		fputs("?=", f);
		i += take;
		first = false;
	}
}

void receipt_header_encode(FILE *f, const char *s)
{
	if (plain_header_text(s) && strlen(s) <= 900 && !strstr(s, "=?"))
		fputs(s, f);
	else
		encoded_words(f, s);
}

/* ---- the mail ---------------------------------------------------------------------------- */

void receipt_mail_subject(const struct receipt *rc, char *out, size_t outsz)
{
	char rub[RECEIPT_RUB_BUFSZ], contract[16];
	ident_mask_contract(rc->contract, contract, sizeof contract);
	snprintf(out, outsz, "%s № %s: оплата %s по договору %s",
		 receipt_fiscal_followup(rc) ? "Кассовый чек к квитанции" : "Квитанция", rc->number,
		 receipt_format_rub(rc->amount, rub), contract);
}

/* The domain of the sender for the Message-ID: letters, digits, '.', '-' only; else "localhost". */
static void msgid_domain(const char *from, char *out, size_t outsz)
{
	const char *at = from ? strrchr(from, '@') : NULL;
	snprintf(out, outsz, "%s", at && at[1] ? at + 1 : "localhost");
	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-')) {
			snprintf(out, outsz, "localhost");
			return;
		}
}

static char *text_body(const struct receipt *rc, const struct receipt_mail_opts *o, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	char rub[RECEIPT_RUB_BUFSZ], contract[16], method[256], when[64], status[128], holder[sizeof rc->holder_name];
	ident_mask_contract(rc->contract, contract, sizeof contract);
	method_line(rc, method, sizeof method);
	when_line(rc, when, sizeof when);
	status_line(rc, status, sizeof status);
	masked_holder(rc, holder, sizeof holder);
	fprintf(f, "Здравствуйте!\r\n\r\nПлатёж зачислен на лицевой счёт. Спасибо!\r\n\r\n");
	fprintf(f, "Квитанция № %s\r\n", rc->number);
	fprintf(f, "Сумма: %s\r\n", receipt_format_rub(rc->amount, rub));
	fprintf(f, "Договор (лицевой счёт): %s\r\n", contract);
	if (*holder)
		fprintf(f, "Абонент: %s\r\n", holder);
	fprintf(f, "Дата и время: %s\r\n", when);
	fprintf(f, "Способ оплаты: %s\r\n", method);
	fprintf(f, "Номер платежа: %lld\r\n", rc->payment_number);
	if (*rc->provider_txn_id)
		fprintf(f, "Номер транзакции: %s\r\n", rc->provider_txn_id);
	fprintf(f, "Статус: %s\r\n", status);
	if (o->seller)
		receipt_fiscal_text(f, rc, o->seller);
	fprintf(f, "\r\nКвитанция для просмотра и печати:\r\n%s/v1/receipts/%s\r\n", o->public_url, rc->token);
	fprintf(f, "\r\n-- \r\n");
	if (o->issuer && *o->issuer)
		fprintf(f, "%s\r\n", o->issuer);
	fprintf(f, "Письмо отправлено автоматически, отвечать на него не нужно.\r\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void html_row(FILE *f, const char *name, const char *value)
{
	fprintf(f, "<tr><td style=\"padding:6px 12px 6px 0;color:#555;vertical-align:top\">%s</td>"
		   "<td style=\"padding:6px 0;vertical-align:top\">", name);
	html_escape(f, value);
	fputs("</td></tr>\r\n", f);
}

static char *html_body(const struct receipt *rc, const struct receipt_mail_opts *o, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	char rub[RECEIPT_RUB_BUFSZ], contract[16], method[256], when[64], status[128], num[32],
		holder[sizeof rc->holder_name];
	ident_mask_contract(rc->contract, contract, sizeof contract);
	method_line(rc, method, sizeof method);
	when_line(rc, when, sizeof when);
	status_line(rc, status, sizeof status);
	masked_holder(rc, holder, sizeof holder);
	snprintf(num, sizeof num, "%lld", rc->payment_number);
	fputs("<!DOCTYPE html>\r\n<html lang=\"ru\"><head><meta charset=\"utf-8\"><title>Квитанция № ", f);
	html_escape(f, rc->number);
	fputs("</title></head>\r\n<body style=\"margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;"
	      "font-size:15px;color:#111\">\r\n<div style=\"max-width:480px\">\r\n", f);
	if (o->issuer && *o->issuer) {
		fputs("<p style=\"color:#555;margin:0 0 8px\">", f);
		html_escape(f, o->issuer);
		fputs("</p>\r\n", f);
	}
	fputs("<p>Здравствуйте!</p>\r\n<p>Платёж зачислен на лицевой счёт. Спасибо!</p>\r\n"
	      "<h2 style=\"font-size:18px;margin:16px 0 4px\">Квитанция № ", f);
	html_escape(f, rc->number);
	fputs("</h2>\r\n<p style=\"font-size:24px;font-weight:bold;margin:4px 0 12px\">", f);
	html_escape(f, receipt_format_rub(rc->amount, rub));
	fputs("</p>\r\n<table style=\"border-collapse:collapse\">\r\n", f);
	html_row(f, "Договор (лицевой счёт)", contract);
	if (*holder)
		html_row(f, "Абонент", holder);
	html_row(f, "Дата и время", when);
	html_row(f, "Способ оплаты", method);
	html_row(f, "Номер платежа", num);
	if (*rc->provider_txn_id)
		html_row(f, "Номер транзакции", rc->provider_txn_id);
	html_row(f, "Статус", status);
	if (o->seller)
		receipt_fiscal_html(f, rc, o->seller, false);
	fputs("</table>\r\n<p style=\"margin:20px 0\"><a href=\"", f);
	html_escape(f, o->public_url);
	fputs("/v1/receipts/", f);
	html_escape(f, rc->token);
	fputs("\" style=\"color:#0b57d0\">Открыть квитанцию для печати</a></p>\r\n"
	      "<p style=\"color:#777;font-size:12px\">Письмо отправлено автоматически, отвечать на него не нужно.</p>\r\n"
	      "</div>\r\n</body></html>\r\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *receipt_render_mail(const struct receipt *rc, const struct receipt_mail_opts *o, size_t *len)
{
	size_t tlen = 0, hlen = 0;
	char *text = text_body(rc, o, &tlen);
	char *html = text ? html_body(rc, o, &hlen) : NULL;
	char *buf = NULL;
	FILE *f = html ? open_memstream(&buf, len) : NULL;
	if (!f) {
		free(text);
		free(html);
		return NULL;
	}
	char subject[512], date[64], domain[256], boundary[96];
	struct tm tm;
	gmtime_r(&o->now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	receipt_mail_subject(rc, subject, sizeof subject);
	msgid_domain(o->from, domain, sizeof domain);
	snprintf(boundary, sizeof boundary, "=_receipt_%.40s", o->boundary_seed ? o->boundary_seed : "0");

	fputs("From: ", f);
	if (o->issuer && *o->issuer) {
		encoded_words(f, o->issuer);
		fprintf(f, " <%s>\r\n", o->from);
	} else {
		fprintf(f, "%s\r\n", o->from);
	}
	fprintf(f, "To: %s\r\n", rc->email);
	fputs("Subject: ", f);
	receipt_header_encode(f, subject);
	fprintf(f, "\r\nDate: %s\r\n", date);
	/* the fiscal receipt following a first mail without it is another message (".f") */
	fprintf(f, "Message-ID: <receipt.%s.r%d%s@%s>\r\n", rc->number, rc->resends,
		receipt_fiscal_followup(rc) ? ".f" : "", domain);
	fprintf(f, "MIME-Version: 1.0\r\n"
		   "Auto-Submitted: auto-generated\r\n"
		   "Content-Language: ru\r\n"
		   "X-Receipt-Number: %s\r\n"
		   "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
		   "\r\n"
		   "This is a multi-part message in MIME format.\r\n"
		   "\r\n--%s\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: base64\r\n\r\n",
		rc->number, boundary, boundary);
	receipt_base64_lines(f, (const unsigned char *)text, tlen);
	fprintf(f, "\r\n--%s\r\n"
		   "Content-Type: text/html; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: base64\r\n\r\n",
		boundary);
	receipt_base64_lines(f, (const unsigned char *)html, hlen);
	fprintf(f, "\r\n--%s--\r\n", boundary);
	free(text);
	free(html);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the printable page -------------------------------------------------------------------- */

/* One narrow column: centred on A4, the full width of an 80 mm roll. The paper size is left to the
 * printer dialog on purpose: `@page { size: A4 }` would lock Chrome's paper choice and make roll
 * printers unusable; the narrow layout switches on by the page width instead. */
static const char page_css[] =
	"@page{margin:12mm}"
	"*{box-sizing:border-box}"
	"body{margin:0;padding:24px 12px;background:#eef0f3;color:#111;"
	"font:15px/1.45 -apple-system,\"Segoe UI\",Roboto,Arial,sans-serif}"
	".receipt{max-width:440px;margin:0 auto;background:#fff;padding:24px 22px;border-radius:6px;"
	"box-shadow:0 1px 4px rgba(0,0,0,.15)}"
	".issuer{margin:0 0 12px;color:#555;font-size:13px}"
	"h1{font-size:20px;margin:0}"
	".number{margin:2px 0 0;color:#444}"
	".amount{font-size:28px;font-weight:700;margin:14px 0}"
	"table{width:100%;border-collapse:collapse}"
	"th,td{text-align:left;vertical-align:top;padding:6px 0;border-top:1px dashed #bbb}"
	"th{font-weight:400;color:#555;width:45%;padding-right:10px}"
	"td{word-break:break-word}"
	".foot{margin:16px 0 0;font-size:12px;color:#666}"
	".hint{text-align:center;color:#555;font-size:13px;margin:14px 0 0}"
	"h2.fiscal{font-size:16px;margin:18px 0 4px}"
	".test{color:#b00020;font-weight:700;margin:4px 0 8px}"
	".qr{margin:12px 0 0;text-align:center}.qr svg{width:148px;height:148px}"
	".qr figcaption{font-size:11px;color:#555;word-break:break-all}"
	"@media print{"
	"body{background:#fff;padding:0;font-size:11pt;color:#000}"
	".receipt{max-width:110mm;box-shadow:none;border-radius:0;padding:0}"
	".no-print{display:none}"
	"th,td{border-top:1px dashed #777}"
	"}"
	"@media print and (max-width:100mm){"
	"@page{margin:2mm}"
	"body{font-size:9pt;line-height:1.3}"
	".receipt{max-width:none}"
	"h1{font-size:11pt}.number{font-size:9pt}"
	".amount{font-size:14pt;margin:6px 0}"
	"th{width:42%}th,td{padding:3px 0}"
	"}";

static void page_row(FILE *f, const char *name, const char *value)
{
	fprintf(f, "<tr><th>%s</th><td>", name);
	html_escape(f, value);
	fputs("</td></tr>\n", f);
}

char *receipt_render_html(const struct receipt *rc, const struct receipt_seller *seller, size_t *len)
{
	const char *issuer = seller ? seller->name : NULL;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	char rub[RECEIPT_RUB_BUFSZ], contract[16], method[256], when[64], status[128], num[32], date[16],
		holder[sizeof rc->holder_name];
	ident_mask_contract(rc->contract, contract, sizeof contract);
	method_line(rc, method, sizeof method);
	when_line(rc, when, sizeof when);
	status_line(rc, status, sizeof status);
	masked_holder(rc, holder, sizeof holder);
	snprintf(num, sizeof num, "%lld", rc->payment_number);
	snprintf(date, sizeof date, "%.10s", rc->paid_local);

	fputs("<!DOCTYPE html>\n<html lang=\"ru\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>Квитанция № ", f);
	html_escape(f, rc->number);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<main class=\"receipt\">\n", page_css);
	if (issuer && *issuer) {
		fputs("<p class=\"issuer\">", f);
		html_escape(f, issuer);
		fputs("</p>\n", f);
	}
	fputs("<h1>Квитанция об оплате</h1>\n<p class=\"number\">№ ", f);
	html_escape(f, rc->number);
	fputs(" от ", f);
	html_escape(f, date);
	fputs("</p>\n<p class=\"amount\">", f);
	html_escape(f, receipt_format_rub(rc->amount, rub));
	fputs("</p>\n<table>\n", f);
	page_row(f, "Статус", status);
	page_row(f, "Дата и время", when);
	page_row(f, "Договор (лицевой счёт)", contract);
	if (*holder)
		page_row(f, "Абонент", holder);
	page_row(f, "Способ оплаты", method);
	page_row(f, "Номер платежа", num);
	if (*rc->provider_txn_id)
		page_row(f, "Номер транзакции", rc->provider_txn_id);
	if (seller)
		receipt_fiscal_html(f, rc, seller, true);
	fputs("</table>\n<p class=\"foot\">Квитанция сформирована автоматически и подтверждает зачисление "
	      "платежа на лицевой счёт.</p>\n</main>\n"
	      "<p class=\"hint no-print\">Чтобы распечатать квитанцию, нажмите Ctrl+P (⌘P на Mac).</p>\n"
	      "</body>\n</html>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

json_t *receipt_public_json(const struct receipt *rc, const struct receipt_seller *seller)
{
	json_t *o;
	char amount[MONEY_BUFSZ], refunded[MONEY_BUFSZ], contract[16], holder[sizeof rc->holder_name];
	ident_mask_contract(rc->contract, contract, sizeof contract);
	masked_holder(rc, holder, sizeof holder);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:I,s:o,s:s}", "number", rc->number, "status",
			 rc->payment_status, "amount", money_format(rc->amount, amount), "refunded_amount",
			 money_format(rc->refunded, refunded), "currency", "RUB", "method", str_or_null(rc->method),
			 "channel", str_or_null(rc->channel), "contract", contract, "holder_name", str_or_null(holder),
			 "payment_number", (json_int_t)rc->payment_number, "provider_txn_id",
			 str_or_null(rc->provider_txn_id), "paid_at", rc->paid_at);
	if (o && seller)
		receipt_fiscal_json(o, rc, seller, false);
	return o;
}

json_t *receipt_internal_json(const struct receipt *rc, const char *public_url, const struct receipt_seller *seller)
{
	char amount[MONEY_BUFSZ], url[512];
	snprintf(url, sizeof url, "%s/v1/receipts/%s", public_url, rc->token);
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:o,s:s,s:i,s:o,s:o,s:o,s:s,s:i,s:s,s:s}", "number", rc->number,
			 "payment_id", rc->payment_id, "payment_number", (json_int_t)rc->payment_number, "amount",
			 money_format(rc->amount, amount), "contract", rc->contract, "paid_at", rc->paid_at, "email",
			 str_or_null(rc->email), "state", rc->state, "attempts", rc->attempts, "last_error",
			 str_or_null(rc->last_error), "next_attempt_at",
			 strcmp(rc->state, "pending") == 0 ? str_or_null(rc->next_attempt_at) : json_null(), "sent_at",
			 str_or_null(rc->sent_at), "created_at", rc->created_at, "resends", rc->resends, "url", url,
			 "status", rc->payment_status);
	if (o && seller)
		receipt_fiscal_json(o, rc, seller, true);
	return o;
}
