/* routes_receipts.c — the receipt routes: validate, call the receipts service, answer. A token that
 * is not exactly RECEIPT_TOKEN_LEN lowercase hex is answered 404 without touching the database, the
 * same answer as an unknown token, so the lookup tells nothing about which tokens exist. */
#include "routes_receipts.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ident.h"
#include "receipt_render.h"
#include "receipts.h"
#include "routes_common.h"

/* The page is reachable only through its token: keep it out of referrers, indexes, frames and caches
 * (http_reply_raw adds Cache-Control: no-store). */
static void page_headers(struct req *r)
{
	http_header(r, "Vary", "Accept");
	http_header(r, "Referrer-Policy", "no-referrer");
	http_header(r, "X-Robots-Tag", "noindex, nofollow");
	http_header(r, "Content-Security-Policy",
		    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
		    "frame-ancestors 'none'");
}

static void html_message(struct req *r, int status, const char *title, const char *text)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf,
			 "<!DOCTYPE html>\n<html lang=\"ru\">\n<head>\n<meta charset=\"utf-8\">\n"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n"
			 "</head>\n<body style=\"font-family:Arial,sans-serif;margin:40px auto;max-width:440px;padding:0 12px\">\n"
			 "<h1 style=\"font-size:20px\">%s</h1>\n<p>%s</p>\n</body>\n</html>\n",
			 title, title, text);
	http_reply_raw(r, status, "text/html; charset=utf-8", buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : 0);
}

static void not_found(struct req *r)
{
	if (req_wants_html(r))
		html_message(r, 404, "Квитанция не найдена",
			     "По этой ссылке квитанции нет. Проверьте, что ссылка из письма скопирована полностью.");
	else
		http_reply_error(r, 404, "receipt_not_found", "no receipt has this link; check that it was copied whole");
}

static void on_public(enum receipt_status st, const struct receipt *rc, void *arg)
{
	struct req *r = arg;
	bool html = req_wants_html(r);
	if (st == RECEIPT_NOT_FOUND) {
		not_found(r);
		return;
	}
	if (st != RECEIPT_OK) {
		http_header(r, "Retry-After", "1");
		if (html)
			html_message(r, 503, "Квитанция временно недоступна", "Попробуйте открыть её через минуту.");
		else
			http_reply_error(r, 503, "database_unavailable", "the receipt cannot be read now; retry later");
		return;
	}
	r->log_payment = rc->payment_id;      /* the reply below is written before rc goes away */
	struct receipt_seller seller;
	receipt_seller_from_config(req_config(r), &seller);
	if (!html) {
		http_reply_json(r, 200, receipt_public_json(rc, &seller));
		return;
	}
	size_t len = 0;
	char *page = receipt_render_html(rc, &seller, &len);
	if (!page) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	http_reply_raw(r, 200, "text/html; charset=utf-8", page, len);
	free(page);
}

void h_receipt_get(struct req *r)
{
	page_headers(r);
	const char *token = req_param(r, 0);
	if (!receipt_token_valid(token)) {
		not_found(r);
		return;
	}
	receipts_by_token(req_db(r), req_config(r)->receipt_tz, token, on_public, r);
}

/* ---- internal ------------------------------------------------------------------------------ */

static void internal_reply(struct req *r, int ok_status, enum receipt_status st, const struct receipt *rc)
{
	switch (st) {
	case RECEIPT_OK: {
		struct receipt_seller seller;
		receipt_seller_from_config(req_config(r), &seller);
		r->log_payment = rc->payment_id;
		http_reply_json(r, ok_status, receipt_internal_json(rc, req_config(r)->public_url, &seller));
		return;
	}
	case RECEIPT_NOT_FOUND:
		http_reply_error(r, 404, "receipt_not_found", "no receipt matches");
		return;
	case RECEIPT_BUSY:
		http_header(r, "Retry-After", "30");
		http_reply_error(r, 409, "receipt_sending", "the receipt is being mailed right now; retry in a minute");
		return;
	case RECEIPT_NO_EMAIL:
		http_reply_error(r, 409, "receipt_no_email",
				 "the receipt has no e-mail address; give one as {\"email\": \"…\"}");
		return;
	case RECEIPT_UNAVAILABLE:
		break;
	}
	http_header(r, "Retry-After", "1");
	http_reply_error(r, 503, "database_unavailable", "the receipt cannot be read now; retry later");
}

static void on_found(enum receipt_status st, const struct receipt *rc, void *arg)
{
	internal_reply(arg, 200, st, rc);
}

void receipt_resend_reply(struct req *r, enum receipt_status st, const struct receipt *rc)
{
	internal_reply(r, 202, st, rc);       /* 202: queued for the mailer, not yet mailed */
}

static void on_resent(enum receipt_status st, const struct receipt *rc, void *arg)
{
	receipt_resend_reply(arg, st, rc);
}

void h_receipts_find(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *pid, *num;
	if (req_query(r, "payment_id", &pid) != 0 || req_query(r, "number", &num) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if ((pid != NULL) == (num != NULL)) {
		http_reply_error(r, 400, "bad_query", "give exactly one of payment_id or number");
		return;
	}
	if (pid && !ident_uuid_valid(pid)) {
		http_reply_error(r, 400, "invalid_payment_id", "payment_id must be a UUID");
		return;
	}
	if (num && !receipt_number_valid(num)) {
		http_reply_error(r, 400, "invalid_number", "a receipt number looks like 2026-000123");
		return;
	}
	receipts_find(req_db(r), req_config(r)->receipt_tz, pid, num, on_found, r);
}

bool receipt_resend_args(struct req *r, struct resend_args *a)
{
	memset(a, 0, sizeof *a);
	const char *num = req_param(r, 0);
	if (!receipt_number_valid(num)) {
		http_reply_error(r, 404, "receipt_not_found", "a receipt number looks like 2026-000123");
		return false;
	}
	snprintf(a->number, sizeof a->number, "%s", num);
	size_t blen = 0;
	req_body(r, &blen);
	if (blen == 0)
		return true;
	json_t *body = req_json(r);
	if (!body)
		return false;
	bool ok = false;
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		if (strcmp(key, "email") != 0) {
			http_reply_error(r, 400, "unknown_field", "unknown field \"%.40s\"", key);
			goto out;
		}
	}
	json_t *e = json_object_get(body, "email");
	if (e && !json_is_null(e)) {
		const char *email = json_string_value(e);
		if (!email || strlen(email) != json_string_length(e) || !ident_email_valid(email)) {
			http_reply_error(r, 400, "invalid_email", "email must be an address like name@example.com");
			goto out;
		}
		snprintf(a->email, sizeof a->email, "%s", email);
	}
	ok = true;
out:
	json_decref(body);
	return ok;
}

void h_receipt_resend(struct req *r)
{
	struct resend_args a;
	if (!require_admin(r) || !receipt_resend_args(r, &a))
		return;
	receipts_resend(req_db(r), req_config(r)->receipt_tz, a.number, a.email[0] ? a.email : NULL, on_resent, r);
}
