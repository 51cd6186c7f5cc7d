/* test_receipts.c — cmocka unit tests for the pure parts of receipts: token / number / UUID formats,
 * contract masking, rouble formatting, RFC 2047 and base64 encoders, the rendered mail (MIME
 * structure, CRLF, headers) and page (escaping, print CSS), and the retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"
#include "mailer.h"
#include "outbox.h"
#include "receipt_render.h"
#include "receipts.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Renders into a string with f, for the FILE*-based encoders. (noinline: GCC's dangling-pointer
 * analysis mistakes open_memstream's buffer for the local that receives it.) */
__attribute__((noinline)) static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(f, arg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void enc_header(FILE *f, const void *s) { receipt_header_encode(f, s); }
static void enc_b64(FILE *f, const void *s) { receipt_base64_lines(f, s, strlen(s)); }

static int unb64(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(t, c);
	return c && p ? (int)(p - t) : -1;
}

/* Decodes base64 (no whitespace) into out; returns the length. */
static size_t b64_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i + 4 <= n; i += 4) {
		int a = unb64(s[i]), b = unb64(s[i + 1]), c = s[i + 2] == '=' ? 0 : unb64(s[i + 2]),
		    d = s[i + 3] == '=' ? 0 : unb64(s[i + 3]);
		assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
		out[o++] = (char)(v >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(v >> 8 & 255);
		if (s[i + 3] != '=')
			out[o++] = (char)(v & 255);
	}
	return o;
}

static void fill(struct receipt *rc)
{
	memset(rc, 0, sizeof *rc);
	rc->id = 7;
	strcpy(rc->number, "2026-000123");
	strcpy(rc->token, "0123456789abcdef0123456789abcdef0123456789abcdef");
	strcpy(rc->email, "payer@example.com");
	strcpy(rc->state, "sending");
	rc->attempts = 1;
	strcpy(rc->payment_id, "6f1c1b8e-4c1e-4c33-9b0e-2a7e3f0f4d11");
	rc->payment_number = 42;
	rc->amount = 123456;
	strcpy(rc->payment_status, "succeeded");
	strcpy(rc->method, "cash");
	strcpy(rc->channel, "terminal");
	strcpy(rc->provider_txn_id, "<script>&\"'");
	strcpy(rc->paid_at, "2026-03-12T07:05:00Z");
	strcpy(rc->paid_local, "12.03.2026 14:05");
	rc->tz_offset_min = 420;
	strcpy(rc->contract, "123456789");
	strcpy(rc->holder_name, "Иванов Иван");
}

/* ---- formats ---------------------------------------------------------------------------- */

static void test_token_new_is_48_lowercase_hex_and_random(void **state)
{
	(void)state;
	char a[RECEIPT_TOKEN_LEN + 1], b[RECEIPT_TOKEN_LEN + 1];
	assert_int_equal(receipt_token_new(a), 0);
	assert_int_equal(receipt_token_new(b), 0);
	assert_int_equal(strlen(a), 48);
	assert_true(receipt_token_valid(a) && receipt_token_valid(b));
	assert_string_not_equal(a, b);
}

static void test_token_valid_takes_exactly_48_lowercase_hex(void **state)
{
	(void)state;
	const char *good = "0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_true(receipt_token_valid(good));
	const char *bad[] = {NULL, "", "0123456789abcdef", "0123456789ABCDEF0123456789abcdef0123456789abcdef",
			     "0123456789abcdef0123456789abcdef0123456789abcde",
			     "0123456789abcdef0123456789abcdef0123456789abcdef0",
			     "0123456789abcdef0123456789abcdef0123456789abcdeg",
			     "0123456789abcdef0123456789abcdef0123456789abcde ", "../../../etc/passwd"};
	for (size_t i = 0; i < COUNT(bad); i++)
		if (receipt_token_valid(bad[i]))
			fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
}

static void test_number_and_uuid_formats(void **state)
{
	(void)state;
	assert_true(receipt_number_valid("2026-000123"));
	assert_true(receipt_number_valid("2026-1234567890"));
	const char *bad[] = {NULL, "", "2026-12345", "26-000123", "2026000123", "2026-00012a", "2026-000123 ",
			     "x026-000123", "2026-0001234567890"};
	for (size_t i = 0; i < COUNT(bad); i++)
		if (receipt_number_valid(bad[i]))
			fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
	assert_true(ident_uuid_valid("6f1c1b8e-4c1e-4c33-9b0e-2a7e3f0f4d11"));
	assert_true(ident_uuid_valid("6F1C1B8E-4C1E-4C33-9B0E-2A7E3F0F4D11"));
	assert_false(ident_uuid_valid("6f1c1b8e4c1e4c339b0e2a7e3f0f4d11"));
	assert_false(ident_uuid_valid("6f1c1b8e-4c1e-4c33-9b0e-2a7e3f0f4d1g"));
	assert_false(ident_uuid_valid("6f1c1b8e-4c1e-4c33-9b0e-2a7e3f0f4d1"));
	assert_false(ident_uuid_valid(NULL));
}

static void test_contract_mask_keeps_head_and_tail(void **state)
{
	(void)state;
	const struct {
		const char *in, *out;
	} cases[] = {
		{"123456789", "12****789"}, {"12345678", "12***678"}, {"1234567", "1****67"},
		{"12345", "1**45"},         {"1234", "****"},         {"", ""},
		{"123456789012", "12*******012"},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		char out[16];
		ident_mask_contract(cases[i].in, out, sizeof out);
		assert_string_equal(out, cases[i].out);
	}
	char small[4];
	ident_mask_contract("123456789", small, sizeof small);
	assert_int_equal(strlen(small), 3);
}

static void test_rub_format_groups_with_nbsp_and_comma(void **state)
{
	(void)state;
	const struct {
		int64_t k;
		const char *out;
	} cases[] = {
		{0, "0,00\u00a0₽"},
		{50000, "500,00\u00a0₽"},
		{123456, "1\u00a0234,56\u00a0₽"},
		{100000000000, "1\u00a0000\u00a0000\u00a0000,00\u00a0₽"},
		{-150, "-1,50\u00a0₽"},
		{INT64_MAX, "92\u00a0233\u00a0720\u00a0368\u00a0547\u00a0758,07\u00a0₽"},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		char buf[RECEIPT_RUB_BUFSZ];
		assert_string_equal(receipt_format_rub(cases[i].k, buf), cases[i].out);
	}
}

static void test_method_and_channel_names(void **state)
{
	(void)state;
	assert_string_equal(receipt_method_name("cash"), "Наличные");
	assert_string_equal(receipt_method_name("sbp"), "СБП (Система быстрых платежей)");
	assert_string_equal(receipt_method_name("something-new"), "something-new");
	assert_string_equal(receipt_method_name(""), "");
	assert_string_equal(receipt_channel_name("terminal"), "Платёжный терминал");
	assert_string_equal(receipt_channel_name("nope"), "");
}

/* ---- encoders ---------------------------------------------------------------------------- */

static void test_base64_lines_match_rfc4648_vectors(void **state)
{
	(void)state;
	const struct {
		const char *in, *out;
	} v[] = {{"", ""},
		 {"f", "Zg==\r\n"},
		 {"fo", "Zm8=\r\n"},
		 {"foo", "Zm9v\r\n"},
		 {"foob", "Zm9vYg==\r\n"},
		 {"fooba", "Zm9vYmE=\r\n"},
		 {"foobar", "Zm9vYmFy\r\n"}};
	for (size_t i = 0; i < COUNT(v); i++) {
		char *s = capture(enc_b64, v[i].in);
		assert_string_equal(s, v[i].out);
		free(s);
	}
	char big[200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char *s = capture(enc_b64, big);
	for (char *line = s; *line;) {
		char *end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 76);
		line = end + 2;
	}
	free(s);
}

static void test_header_encode_keeps_ascii_and_splits_utf8_on_characters(void **state)
{
	(void)state;
	char *s = capture(enc_header, "Receipt 2026-000123");
	assert_string_equal(s, "Receipt 2026-000123");
	free(s);
	const char *ru = "Квитанция № 2026-000123: оплата 1 234,56 ₽ по договору 12****789 — ёЁ";
	s = capture(enc_header, ru);
	/* Decode every word, check each holds whole characters, and the concatenation is the input. */
	char joined[512] = "";
	size_t jl = 0;
	for (char *w = strstr(s, "=?UTF-8?B?"); w; w = strstr(w, "=?UTF-8?B?")) {
		char *end = strstr(w + 10, "?=");
		assert_non_null(end);
		assert_true(end + 2 - w <= 75);
		char part[128];
		size_t n = b64_decode(w + 10, (size_t)(end - (w + 10)), part);
		assert_true(ident_utf8_valid(part, n));
		memcpy(joined + jl, part, n);
		jl += n;
		w = end + 2;
		if (*w)
			assert_memory_equal(w, "\r\n ", 3);
	}
	joined[jl] = '\0';
	assert_string_equal(joined, ru);
	free(s);
	s = capture(enc_header, "=?looks encoded?=");
	assert_memory_equal(s, "=?UTF-8?B?", 10);
	free(s);
}

/* ---- the seller and the fiscal document (54-FZ) ------------------------------------------ */

static void fill_fiscal(struct receipt *rc, const char *cashbox)
{
	fill(rc);
	strcpy(rc->fiscal.state, "done");
	strcpy(rc->fiscal.cashbox, cashbox);
	strcpy(rc->fiscal.fn_number, "9999078900004312");
	strcpy(rc->fiscal.fd_number, "1571");
	strcpy(rc->fiscal.fp, "3208812712");
	strcpy(rc->fiscal.shift, "23");
	strcpy(rc->fiscal.ecr, "0000000001002292");
	strcpy(rc->fiscal.fns_site, "www.nalog.gov.ru");
	strcpy(rc->fiscal.datetime_local, "12.03.2026 14:05");
	strcpy(rc->fiscal.qr_time, "20260312T1405");
	rc->fiscal.total = 123456;
}

static const struct receipt_seller demo_seller = {"ООО «Связь»", "7707083893", "8 800 100-00-00", "usn_income", "none"};

static void test_fiscal_qr_string_is_exact(void **state)
{
	(void)state;
	struct receipt rc;
	fill_fiscal(&rc, "atol");
	char qr[192];
	receipt_fiscal_qr(&rc.fiscal, 1, qr);
	assert_string_equal(qr, "t=20260312T1405&s=1234.56&fn=9999078900004312&i=1571&fp=3208812712&n=1");
	rc.fiscal.total = 5;
	receipt_fiscal_qr(&rc.fiscal, 2, qr);
	assert_string_equal(qr, "t=20260312T1405&s=0.05&fn=9999078900004312&i=1571&fp=3208812712&n=2");
	strcpy(rc.fiscal.state, "wait");
	receipt_fiscal_qr(&rc.fiscal, 1, qr);
	assert_string_equal(qr, "");
}

static void test_fiscal_page_shows_document_qr_and_seller(void **state)
{
	(void)state;
	struct receipt rc;
	fill_fiscal(&rc, "atol");
	size_t len;
	char *p = receipt_render_html(&rc, &demo_seller, &len);
	const char *want[] = {"ИНН продавца</th><td>7707083893", "Горячая линия</th><td>8 800 100-00-00",
			      "УСН доходы", "без НДС", "ФН №</th><td>9999078900004312", "ФД №</th><td>1571",
			      "ФП</th><td>3208812712", "Смена №</th><td>23", "РН ККТ</th><td>0000000001002292",
			      "www.nalog.gov.ru", "<svg", "t=20260312T1405&amp;s=1234.56&amp;fn=9999078900004312"};
	for (size_t i = 0; i < COUNT(want); i++)
		if (!strstr(p, want[i]))
			fail_msg("missing %s", want[i]);
	assert_null(strstr(p, "ТЕСТОВЫЙ ЧЕК"));
	free(p);
	fill_fiscal(&rc, "sandbox");
	p = receipt_render_html(&rc, &demo_seller, &len);
	assert_non_null(strstr(p, "ТЕСТОВЫЙ ЧЕК — не является фискальным документом"));
	free(p);
}

static void test_seller_on_every_receipt_and_pending_note(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);                                    /* no fiscal document (cash at a terminal) */
	size_t len;
	char *p = receipt_render_html(&rc, &demo_seller, &len);
	assert_non_null(strstr(p, "ИНН продавца</th><td>7707083893"));
	assert_null(strstr(p, "ФН №"));
	assert_null(strstr(p, "Кассовый чек формируется"));
	free(p);
	strcpy(rc.fiscal.state, "pending");
	strcpy(rc.fiscal.cashbox, "atol");
	struct receipt_mail_opts o = {"receipts@isp.example", "ООО «Связь»", "https://pay.isp.example", "abcdef", 0,
				      &demo_seller};
	char *m = receipt_render_mail(&rc, &o, &len);
	assert_non_null(m);
	free(m);
	p = receipt_render_html(&rc, &demo_seller, &len);
	assert_non_null(strstr(p, "Кассовый чек формируется и придёт отдельным письмом"));
	free(p);
}

static void test_a_followup_mail_is_the_fiscal_receipt_with_its_own_id(void **state)
{
	(void)state;
	struct receipt rc;
	fill_fiscal(&rc, "atol");
	struct receipt_mail_opts o = {"receipts@isp.example", "ООО «Связь»", "https://pay.isp.example", "abcdef", 0,
				      &demo_seller};
	size_t len;
	char s[256], *m = receipt_render_mail(&rc, &o, &len);
	assert_non_null(strstr(m, "Message-ID: <receipt.2026-000123.r0@isp.example>"));
	free(m);
	receipt_mail_subject(&rc, s, sizeof s);
	assert_true(strncmp(s, "Квитанция № 2026-000123", strlen("Квитанция № 2026-000123")) == 0);
	rc.fiscal_followup = true;
	m = receipt_render_mail(&rc, &o, &len);
	assert_non_null(strstr(m, "Message-ID: <receipt.2026-000123.r0.f@isp.example>"));
	free(m);
	receipt_mail_subject(&rc, s, sizeof s);
	assert_true(strncmp(s, "Кассовый чек к квитанции № 2026-000123", strlen("Кассовый чек к квитанции № 2026-000123")) == 0);
}

static void test_fiscal_json_fields(void **state)
{
	(void)state;
	struct receipt rc;
	fill_fiscal(&rc, "sandbox");
	json_t *j = receipt_public_json(&rc, &demo_seller);
	json_t *s = json_object_get(j, "seller");
	assert_string_equal(json_string_value(json_object_get(s, "inn")), "7707083893");
	json_t *f = json_object_get(j, "fiscal");
	assert_string_equal(json_string_value(json_object_get(f, "state")), "done");
	assert_true(json_is_true(json_object_get(f, "test")));
	assert_string_equal(json_string_value(json_object_get(f, "fiscal_sign")), "3208812712");
	assert_string_equal(json_string_value(json_object_get(f, "qr")),
			    "t=20260312T1405&s=1234.56&fn=9999078900004312&i=1571&fp=3208812712&n=1");
	assert_null(json_object_get(f, "last_error"));
	json_decref(j);
	strcpy(rc.fiscal.state, "failed");
	rc.fiscal.error_code = 32;
	strcpy(rc.fiscal.last_error, "ИНН не совпадает");
	j = receipt_internal_json(&rc, "https://pay.example", &demo_seller);
	f = json_object_get(j, "fiscal");
	assert_string_equal(json_string_value(json_object_get(f, "state")), "failed");
	assert_int_equal(json_integer_value(json_object_get(f, "error_code")), 32);
	assert_null(json_object_get(f, "fn_number"));
	json_decref(j);
	fill(&rc);
	j = receipt_public_json(&rc, &demo_seller);
	assert_true(json_is_null(json_object_get(j, "fiscal")));
	json_decref(j);
}

/* ---- the mail and the page ---------------------------------------------------------------- */

static void test_mail_is_crlf_multipart_with_required_headers(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);
	struct receipt_mail_opts o = {"receipts@isp.example", "ООО «Связь»", "https://pay.isp.example", "abcdef", 0, NULL};
	size_t len = 0;
	char *m = receipt_render_mail(&rc, &o, &len);
	assert_non_null(m);
	assert_int_equal(strlen(m), len);
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\n')
			assert_true(i > 0 && m[i - 1] == '\r');
		assert_true((unsigned char)m[i] < 0x80);        /* 7-bit clean: everything else is encoded */
	}
	const char *want[] = {"\r\nTo: payer@example.com\r\n", "\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n",
			      "\r\nMessage-ID: <receipt.2026-000123.r0@isp.example>\r\n", "\r\nMIME-Version: 1.0\r\n",
			      "Content-Type: multipart/alternative; boundary=\"=_receipt_abcdef\"\r\n",
			      ("\r\n--=_receipt_abcdef\r\nContent-Type: text/plain; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n"),
			      "\r\n--=_receipt_abcdef\r\nContent-Type: text/html; charset=utf-8\r\n",
			      "\r\n--=_receipt_abcdef--\r\n", "Subject: =?UTF-8?B?", "X-Receipt-Number: 2026-000123\r\n"};
	for (size_t i = 0; i < COUNT(want); i++)
		if (!strstr(m, want[i]))
			fail_msg("missing %s", want[i]);
	assert_memory_equal(m, "From: =?UTF-8?B?", 16);
	assert_non_null(strstr(m, "?= <receipts@isp.example>\r\n"));
	rc.resends = 3;
	free(m);
	m = receipt_render_mail(&rc, &o, &len);
	assert_non_null(strstr(m, "Message-ID: <receipt.2026-000123.r3@isp.example>"));
	free(m);
}

static void test_subject_names_number_amount_and_masked_contract(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);
	char s[256];
	receipt_mail_subject(&rc, s, sizeof s);
	assert_string_equal(s, "Квитанция № 2026-000123: оплата 1\u00a0234,56\u00a0₽ по договору 12****789");
}

static void test_page_escapes_values_and_has_print_css(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);
	strcpy(rc.method, "<img src=x>");
	size_t len = 0;
	struct receipt_seller seller = {.name = "<Провайдер & Ко>"};
	char *p = receipt_render_html(&rc, &seller, &len);
	assert_non_null(p);
	assert_null(strstr(p, "<script"));
	assert_null(strstr(p, "<img"));
	assert_non_null(strstr(p, "&lt;script&gt;&amp;&quot;&#39;"));
	assert_non_null(strstr(p, "&lt;Провайдер &amp; Ко&gt;"));
	assert_non_null(strstr(p, "12****789"));
	assert_null(strstr(p, "123456789"));
	assert_non_null(strstr(p, "14:05 (UTC+7)"));
	assert_non_null(strstr(p, "@page"));
	assert_non_null(strstr(p, "@media print and (max-width:100mm)"));
	assert_non_null(strstr(p, "<html lang=\"ru\">"));
	free(p);
}

static void test_refund_status_is_shown(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);
	strcpy(rc.payment_status, "refunded");
	rc.refunded = 23456;
	size_t len;
	char *p = receipt_render_html(&rc, NULL, &len);
	assert_non_null(strstr(p, "Оплачено, возвращено 234,56\u00a0₽"));
	free(p);
	rc.refunded = rc.amount;
	p = receipt_render_html(&rc, NULL, &len);
	assert_non_null(strstr(p, "Платёж возвращён"));
	free(p);
}

static void test_public_json_hides_delivery_and_masks(void **state)
{
	(void)state;
	struct receipt rc;
	fill(&rc);
	json_t *j = receipt_public_json(&rc, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "amount")), "1234.56");
	assert_string_equal(json_string_value(json_object_get(j, "contract")), "12****789");
	assert_string_equal(json_string_value(json_object_get(j, "holder_name")), "И****в И**н");
	assert_null(json_object_get(j, "email"));
	assert_null(json_object_get(j, "token"));
	json_decref(j);
	j = receipt_internal_json(&rc, "https://pay.example", NULL);
	assert_string_equal(json_string_value(json_object_get(j, "url")),
			    "https://pay.example/v1/receipts/0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(j, "email")), "payer@example.com");
	json_decref(j);
}

/* ---- backoff ---------------------------------------------------------------------------- */

static void test_backoff_doubles_with_equal_jitter_and_a_cap(void **state)
{
	(void)state;
	for (int a = 1; a <= 40; a++) {
		long long d = 30000;
		for (int i = 1; i < a && d < 3600000; i++)
			d *= 2;
		if (d > 3600000)
			d = 3600000;
		assert_int_equal(outbox_backoff_ms(a, 30000, 3600000, 0), d - d / 2);
		assert_int_equal(outbox_backoff_ms(a, 30000, 3600000, (uint32_t)(d / 2)), d);
		for (uint32_t r = 1; r < 4000000000u; r += 123456789u) {
			long long v = outbox_backoff_ms(a, 30000, 3600000, r);
			assert_true(v >= d - d / 2 && v <= d);
		}
	}
	assert_int_equal(outbox_backoff_ms(1, 200, 1000, 0), 100);
	assert_int_equal(outbox_backoff_ms(100, 200, 1000, 0), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_new_is_48_lowercase_hex_and_random),
		cmocka_unit_test(test_token_valid_takes_exactly_48_lowercase_hex),
		cmocka_unit_test(test_number_and_uuid_formats),
		cmocka_unit_test(test_contract_mask_keeps_head_and_tail),
		cmocka_unit_test(test_rub_format_groups_with_nbsp_and_comma),
		cmocka_unit_test(test_method_and_channel_names),
		cmocka_unit_test(test_base64_lines_match_rfc4648_vectors),
		cmocka_unit_test(test_header_encode_keeps_ascii_and_splits_utf8_on_characters),
		cmocka_unit_test(test_mail_is_crlf_multipart_with_required_headers),
		cmocka_unit_test(test_subject_names_number_amount_and_masked_contract),
		cmocka_unit_test(test_page_escapes_values_and_has_print_css),
		cmocka_unit_test(test_refund_status_is_shown),
		cmocka_unit_test(test_public_json_hides_delivery_and_masks),
		cmocka_unit_test(test_fiscal_qr_string_is_exact),
		cmocka_unit_test(test_fiscal_page_shows_document_qr_and_seller),
		cmocka_unit_test(test_seller_on_every_receipt_and_pending_note),
		cmocka_unit_test(test_fiscal_json_fields),
		cmocka_unit_test(test_a_followup_mail_is_the_fiscal_receipt_with_its_own_id),
		cmocka_unit_test(test_backoff_doubles_with_equal_jitter_and_a_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
