/* fuzz_sber.c — the Sberbank Online protocol's parameters (names in any case): ACTION, ACCOUNT,
 * PAY_ID, AMOUNT, PAY_DATE from the query string and the urlencoded form body, the validation of
 * check / payment, and the XML answer.
 * Input: line 1 the query string, the rest the form body (empty: none).
 * Properties: a validated payment has a contract of 5..12 digits, a PAY_ID of 1..64 safe characters,
 * an amount above zero within the partner's limits that formats back to itself, and a PAY_DATE that
 * is a real moment which converts back to the text that was sent; a parameter given twice (in any
 * case, query or body) never validates; a refusal is one of the documented CODEs with a message; the
 * XML never carries markup or invalid UTF-8 from the input.
 *
 * The validator is static in adapters/sber_online.c, so this target compiles that file in (its one
 * global, the adapter struct, renamed so it does not clash with the linked copy). */
#define sber_online_adapter fuzz_sber_online_adapter_copy
#include "sber_online.c"

#include <stdio.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_nocase(const struct sber_req *s, const char *name)
{
	return fz_count(&s->t.r->query, name, true) + (s->t.form.has_body ? fz_count(&s->t.form.body, name, true) : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fields in;
	fz_split(&in, data, size, 2);
	struct req r;
	memset(&r, 0, sizeof r);
	r.method = in.len[1] ? "POST" : "GET";
	fz_queue_init(&r.query);
	if (in.len[0]) {
		if (http_parse_form(in.f[0], &r.query) != 0)
			goto out;
		r.query_parsed = true;
	}
	struct sber_req *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->t.r = &r;
	s->t.form.r = &r;
	fz_queue_init(&s->t.form.body);
	s->t.form_ok = true;
	if (in.len[1]) {
		s->t.form_ok = memchr(in.f[1], '\0', in.len[1]) == NULL &&
			     http_parse_form(in.f[1], &s->t.form.body) == 0;
		s->t.form.has_body = true;
	}
	const char *act = NULL;
	if (s->t.form_ok && term_param(&s->t.form, "ACTION", true, &act) == 1 && act) {
		if (strcasecmp(act, "check") == 0)
			s->t.cmd = ACT_CHECK;
		else if (strcasecmp(act, "payment") == 0)
			s->t.cmd = ACT_PAYMENT;
	}
	struct partner p;
	memset(&p, 0, sizeof p);
	p.min_amount = 1000;          /* 10.00 */
	p.max_amount = 500000;        /* 5000.00 */
	char when[20] = "", msg[128] = "";
	int rc = sber_validate(s, &p, when, msg);
	if (rc == 0) {
		if (s->t.cmd == ACT_UNKNOWN || !s->t.form_ok || count_nocase(s, "ACTION") != 1 || count_nocase(s, "ACCOUNT") != 1)
			abort();
		/* nothing it read held a NUL byte once decoded (a C string would have seen a valid prefix) */
		static const char *const read[] = {"ACTION", "ACCOUNT", "PAY_ID", "AMOUNT", "PAY_DATE"};
		for (size_t i = 0; i < (s->t.cmd == ACT_PAYMENT ? 5u : 2u); i++)
			if ((r.query_parsed ? fz_nul_values(in.f[0], read[i], true) : 0) +
			    (s->t.form.has_body ? fz_nul_values(in.f[1], read[i], true) : 0))
				abort();
		size_t n = strlen(s->account);
		if (n < 5 || n > 12 || strspn(s->account, "0123456789") != n)
			abort();
		if (s->t.cmd == ACT_PAYMENT) {
			n = strlen(s->pay_id);
			if (n == 0 || n > PAY_ID_MAX ||
			    strspn(s->pay_id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != n)
				abort();
			if (s->amount <= 0 || s->amount < p.min_amount || s->amount > p.max_amount)
				abort();
			if (count_nocase(s, "PAY_ID") != 1 || count_nocase(s, "AMOUNT") != 1 || count_nocase(s, "PAY_DATE") != 1)
				abort();
			if (!fz_sql_time_shape(when))
				abort();
			/* The moment converts back to what the bank sent. */
			const char *pd;
			if (term_param(&s->t.form, "PAY_DATE", true, &pd) != 1)
				abort();
			char back[32];
			snprintf(back, sizeof back, "%.2s.%.2s.%.4s_%.2s:%.2s:%.2s", when + 8, when + 5, when, when + 11, when + 14,
				 when + 17);
			if (strcmp(back, pd) != 0)
				abort();
		}
	} else {
		static const int codes[] = {2, 4, 6, 9, 10, 11, 12};
		bool known = false;
		for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
			known |= rc == codes[i];
		if (!known || !*msg || !ident_utf8_valid(msg, strlen(msg)))
			abort();
	}
	/* The answer with the message (and, as the adapter never does, the raw PAY_ID) as text. */
	const char *raw = NULL;
	term_param(&s->t.form, "PAY_ID", true, &raw);
	struct xml x;
	xml_begin(&x);
	size_t start = x.len;
	xml_elem(&x, "MESSAGE", raw ? raw : msg);
	if (x.oom)
		abort();
	const char *t = x.buf + start + strlen("<MESSAGE>");
	const char *e = strstr(t, "</MESSAGE>");
	if (!e || strcmp(e, "</MESSAGE>") != 0 || !fz_xml_text_safe(t, (size_t)(e - t)))
		abort();
	free(x.buf);
	term_form_free(&s->t.form);
	free(s);
out:
	evhttp_clear_headers(&r.query);
	fz_free(&in);
	return 0;
}
