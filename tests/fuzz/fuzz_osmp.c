/* fuzz_osmp.c — the OSMP terminal protocol's parameters: the query string and urlencoded form body
 * as the server parses them, parameter lookup (a repeated parameter is ambiguous), and the command
 * validation of check / pay (txn_id, account, sum, txn_date, the partner's limits) — plus the XML
 * answer built from whatever the terminal sent.
 * Input: line 1 the query string, the rest the form body (empty: none).
 * Properties: whatever validates has the promised shape (txn_id 1..20 digits without leading zeros,
 * not 0 on pay; a contract of 5..12 digits; a sum that formats back to itself and lies within the
 * partner's limits; a txn_date that is a real moment); a refusal is one of the documented codes with a
 * message; the XML answer never carries markup or invalid UTF-8 from the input.
 *
 * The validator is static in adapters/osmp.c, so this target compiles that file in (its one global,
 * the adapter struct, renamed so it does not clash with the linked copy). */
#define osmp_adapter fuzz_osmp_adapter_copy
#include "osmp.c"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_xml(const char *raw_txn, const char *msg)
{
	struct xml x;
	xml_begin(&x);
	size_t start = x.len;
	xml_elem(&x, "osmp_txn_id", raw_txn ? raw_txn : "");
	xml_elem(&x, "comment", msg);
	if (x.oom)
		abort();
	/* Between the tags we wrote, only escaped text. */
	const char *p = x.buf + start + strlen("<osmp_txn_id>");
	const char *e = strstr(p, "</osmp_txn_id><comment>");
	if (!e || !fz_xml_text_safe(p, (size_t)(e - p)))
		abort();
	p = e + strlen("</osmp_txn_id><comment>");
	e = strstr(p, "</comment>");
	if (!e || !fz_xml_text_safe(p, (size_t)(e - p)) || strcmp(e, "</comment>") != 0)
		abort();
	free(x.buf);
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
			goto out;               /* the server answers 400 bad_query */
		r.query_parsed = true;
	}
	struct osmp_req *o = calloc(1, sizeof *o);
	if (!o)
		abort();
	o->t.r = &r;
	o->t.form.r = &r;
	fz_queue_init(&o->t.form.body);
	o->t.form_ok = true;
	if (in.len[1]) {              /* as term_form_init reads a form body */
		o->t.form_ok = memchr(in.f[1], '\0', in.len[1]) == NULL &&
			     http_parse_form(in.f[1], &o->t.form.body) == 0;
		o->t.form.has_body = true;
	}

	/* term_param: 1 with the value when given once, -1 when given more than once or when a value holds
	 * a NUL byte once decoded, 0 when absent. */
	static const char *const names[] = {"command", "txn_id", "account", "sum", "txn_date"};
	for (size_t i = 0; o->t.form_ok && i < sizeof names / sizeof names[0]; i++) {
		const char *v;
		int n = fz_count(&r.query, names[i], false) + (o->t.form.has_body ? fz_count(&o->t.form.body, names[i], false) : 0);
		int got = term_param(&o->t.form, names[i], false, &v);
		int nul = (r.query_parsed ? fz_nul_values(in.f[0], names[i], false) : 0) +
			  (o->t.form.has_body ? fz_nul_values(in.f[1], names[i], false) : 0);
		if (nul ? got != -1 || v
			: (n == 0 && (got != 0 || v)) || (n == 1 && (got != 1 || !v)) || (n > 1 && got != -1))
			abort();
	}

	const char *cmd = NULL;
	if (o->t.form_ok && term_param(&o->t.form, "command", false, &cmd) == 1 && cmd) {
		if (strcmp(cmd, "check") == 0)
			o->t.cmd = CMD_CHECK;
		else if (strcmp(cmd, "pay") == 0)
			o->t.cmd = CMD_PAY;
	}
	term_param(&o->t.form, "txn_id", false, &o->txn_raw);

	struct partner p;
	memset(&p, 0, sizeof p);
	p.min_amount = 100;           /* 1.00 */
	p.max_amount = 1500000;       /* 15000.00 */
	char when[20] = "", msg[128] = "";
	int rc = osmp_validate(o, &p, when, msg);
	if (rc == 0) {
		size_t n = strlen(o->txn_id);
		if (o->t.cmd == CMD_UNKNOWN || n == 0 || n > 20 || strspn(o->txn_id, "0123456789") != n ||
		    (n > 1 && o->txn_id[0] == '0') || (o->t.cmd == CMD_PAY && strcmp(o->txn_id, "0") == 0))
			abort();
		n = strlen(o->account);
		if (n < 5 || n > 12 || strspn(o->account, "0123456789") != n)
			abort();
		if (o->t.cmd == CMD_PAY && !o->has_sum)
			abort();
		if (o->has_sum) {
			int64_t back;
			char buf[MONEY_BUFSZ];
			if (strcmp(money_format(o->sum, buf), o->sum_text) != 0 || money_parse(o->sum_text, &back) != MONEY_OK ||
			    back != o->sum)
				abort();
			if ((o->t.cmd == CMD_PAY || o->sum > 0) && (o->sum < p.min_amount || o->sum > p.max_amount))
				abort();
		}
		if (*when && !fz_sql_time_shape(when))
			abort();
		if (o->t.cmd == CMD_CHECK && *when)
			abort();
	} else {
		if (rc != 300 && rc != 4 && rc != 241 && rc != 242)
			abort();
		if (!*msg || strlen(msg) >= sizeof msg)
			abort();
	}
	check_xml(o->txn_raw, rc ? msg : "OK");
	term_form_free(&o->t.form);
	free(o);
out:
	evhttp_clear_headers(&r.query);
	fz_free(&in);
	return 0;
}
