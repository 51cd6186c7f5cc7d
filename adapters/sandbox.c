/* sandbox.c — the built-in test acquirer, for development and demos (off unless GATEWAY_ADAPTERS
 * names it). It plays the provider's part end to end: create() returns the address of a hosted
 * test page served under /sandbox/pay; the payer types a test card there (4111 1111 1111 1111
 * succeeds, 4000 0000 0000 0002 is declined; Luhn checked; card data is never stored or logged);
 * the page then sends an HMAC-SHA256-signed notification to the gateway over HTTP, as a real
 * provider would, and redirects the payer to return_url. The amount 999.99 simulates the bank
 * being down when the payment is created. Refunds succeed at once (the console's and the internal
 * API's refund path can be tried in `make run`). Stateless: every link carries its own signature. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "adapter.h"
#include "config.h"
#include "crypto.h"
#include "html.h"
#include "log.h"
#include "money.h"

#define OUTAGE_AMOUNT 99999         /* 999.99 ₽: the "bank" is down at create time */
#define NOTIFY_TRIES 3

struct sandbox {
	char secret[129];
	char host[64];              /* where the gateway listens, for the notification */
	uint16_t port;
};

static char process_secret[65];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void make_process_secret(void)
{
	if (crypto_random_hex(process_secret, 32) != 0)
		process_secret[0] = '\0';
	else
		log_kv(LOG_WARN, "GATEWAY_SANDBOX_SECRET is not set: the sandbox signs with a random per-process key", NULL);
}

static int sb_init(struct adapter_ctx *ctx, char err[256])
{
	struct sandbox *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, 256, "out of memory");
		return -1;
	}
	const char *secret = ctx->cfg->sandbox_secret;
	if (!secret) {
		pthread_once(&secret_once, make_process_secret);
		secret = process_secret;
	}
	if (strlen(secret) < 16 || strlen(secret) >= sizeof s->secret) {
		free(s);
		snprintf(err, 256, "GATEWAY_SANDBOX_SECRET must be 16 to 128 characters");
		return -1;
	}
	snprintf(s->secret, sizeof s->secret, "%s", secret);
	const char *h = ctx->cfg->listen_host;
	snprintf(s->host, sizeof s->host, "%s",
		 strcmp(h, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(h, "::") == 0 ? "::1" : h);
	s->port = ctx->cfg->listen_port;
	ctx->state = s;
	return 0;
}

static void sb_fini(struct adapter_ctx *ctx)
{
	free(ctx->state);
	ctx->state = NULL;
}

/* The signature of a payment link: HMAC over its fields joined by '|'. */
static int link_sig(const struct sandbox *s, const char *o, const char *p, const char *a, const char *m, const char *r,
		    char out[65])
{
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	if (!f)
		return -1;
	fprintf(f, "%s|%s|%s|%s|%s", o, p, a, m, r);
	fclose(f);
	int rc = crypto_hmac_sha256_hex(s->secret, strlen(s->secret), msg, len, out);
	free(msg);
	return rc;
}

/* ---- create --------------------------------------------------------------------------------- */

struct deferred {
	struct adapter_reply rep;
	adapter_cb cb;
	void *arg;
};

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct deferred *d = arg;
	d->cb(&d->rep, d->arg);
	adapter_reply_clear(&d->rep);
	free(d);
}

/* A reply to give later (the provider "answers" on the next turn of the loop, never from inside the
 * call); out of memory: cb gets an unavailable reply now, and NULL is returned. */
static struct deferred *deferred_new(adapter_cb cb, void *arg)
{
	struct deferred *d = calloc(1, sizeof *d);
	if (!d) {
		struct adapter_reply rep = {.outcome = AO_UNAVAILABLE, .amount = -1};
		snprintf(rep.message, sizeof rep.message, "out of memory");
		cb(&rep, arg);
		return NULL;
	}
	d->cb = cb;
	d->arg = arg;
	return d;
}

/* Gives d's reply on the next turn of ctx's loop. */
static void deferred_send(struct adapter_ctx *ctx, struct deferred *d)
{
	struct timeval now = {0, 0};
	if (event_base_once(ctx->base, -1, EV_TIMEOUT, on_deferred, d, &now) != 0)
		on_deferred(-1, 0, d);
}

static void sb_create(struct adapter_ctx *ctx, const struct adapter_payment *p, adapter_cb cb, void *arg)
{
	struct sandbox *s = ctx->state;
	struct deferred *d = deferred_new(cb, arg);
	if (!d)
		return;
	d->rep.amount = -1;
	if (p->amount == OUTAGE_AMOUNT) {
		d->rep.outcome = AO_UNAVAILABLE;
		snprintf(d->rep.code, sizeof d->rep.code, "bank_unavailable");
		snprintf(d->rep.message, sizeof d->rep.message, "sandbox: simulated outage for 999.99");
	} else {
		char order[48] = "sbx_", amount[24], sig[65];
		char *ret = evhttp_encode_uri(p->return_url);
		snprintf(amount, sizeof amount, "%lld", (long long)p->amount);
		if (crypto_random_hex(order + 4, 16) != 0 || !ret ||
		    link_sig(s, order, p->id, amount, p->method, p->return_url, sig) != 0) {
			d->rep.outcome = AO_ERROR;
			snprintf(d->rep.message, sizeof d->rep.message, "sandbox: cannot sign the link");
		} else {
			d->rep.outcome = AO_OK;
			d->rep.status = AS_PENDING;
			d->rep.amount = p->amount;
			snprintf(d->rep.currency, sizeof d->rep.currency, "RUB");
			snprintf(d->rep.provider_id, sizeof d->rep.provider_id, "%s", order);
			snprintf(d->rep.confirmation_url, sizeof d->rep.confirmation_url,
				 "%s/sandbox/pay?o=%s&p=%s&a=%s&m=%s&r=%s&s=%s", ctx->cfg->public_url, order, p->id, amount,
				 p->method, ret, sig);
			d->rep.raw = json_pack("{s:s,s:s}", "order", order, "status", "pending");
		}
		free(ret);
	}
	deferred_send(ctx, d);
}

/* ---- refund -------------------------------------------------------------------------------- */

/* The test acquirer returns the money at once (999.99 ₽: the bank is down, as at create); its refund
 * id is derived from ours, so a repeat of the same refund is the same refund. */
static void sb_refund(struct adapter_ctx *ctx, const struct adapter_refund *rf, adapter_cb cb, void *arg)
{
	struct deferred *d = deferred_new(cb, arg);
	if (!d)
		return;
	d->rep.amount = rf->amount;
	if (rf->amount == OUTAGE_AMOUNT) {
		d->rep.outcome = AO_UNAVAILABLE;
		snprintf(d->rep.code, sizeof d->rep.code, "bank_unavailable");
		snprintf(d->rep.message, sizeof d->rep.message, "sandbox: simulated outage for 999.99");
	} else {
		d->rep.outcome = AO_OK;
		d->rep.status = AS_SUCCEEDED;
		snprintf(d->rep.currency, sizeof d->rep.currency, "RUB");
		snprintf(d->rep.provider_id, sizeof d->rep.provider_id, "sbr_%.100s", rf->key ? rf->key : "");
		d->rep.raw = json_pack("{s:s,s:s,s:I}", "refund", d->rep.provider_id, "status", "succeeded", "amount",
				       (json_int_t)rf->amount);
	}
	deferred_send(ctx, d);
}

/* ---- the hosted page --------------------------------------------------------------------- */

struct link {
	const char *o, *p, *a, *m, *r, *s;
	int64_t amount;
};

/* Reads and verifies the signed link fields from q. Returns 0 when intact. */
static int read_link(struct sandbox *sb, struct evkeyvalq *q, struct link *l)
{
	l->o = evhttp_find_header(q, "o");
	l->p = evhttp_find_header(q, "p");
	l->a = evhttp_find_header(q, "a");
	l->m = evhttp_find_header(q, "m");
	l->r = evhttp_find_header(q, "r");
	l->s = evhttp_find_header(q, "s");
	if (!l->o || !l->p || !l->a || !l->m || !l->r || !l->s)
		return -1;
	char want[65];
	if (link_sig(sb, l->o, l->p, l->a, l->m, l->r, want) != 0 || !crypto_secret_equal(l->s, want))
		return -1;
	char *end;
	l->amount = strtoll(l->a, &end, 10);
	return *end || l->amount <= 0 ? -1 : 0;
}

static void page(struct req *r, int status, const struct link *l, const char *error)
{
	char *html = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&html, &len);
	if (!f) {
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	fputs("<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	      "<title>Тестовая оплата</title><style>"
	      "body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem;color:#1d2330}"
	      "h1{font-size:1.3rem}.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1.5rem}"
	      "label{display:block;margin:.8rem 0 .3rem}input{font-size:1.1rem;padding:.5rem;width:100%;box-sizing:border-box}"
	      ".row{display:flex;gap:1rem}.row>div{flex:1}button{margin-top:1.2rem;font-size:1.1rem;padding:.7rem;width:100%}"
	      ".err{color:#b00020;margin:.8rem 0}.note{color:#5a6270;font-size:.9rem;margin-top:1.5rem}"
	      ".badge{display:inline-block;background:#ffe7a3;padding:.2rem .5rem;border-radius:.3rem;font-size:.8rem}"
	      "</style></head><body><span class=\"badge\">ТЕСТОВЫЙ РЕЖИМ — деньги не списываются</span>",
	      f);
	if (!l) {
		fputs("<h1>Ссылка недействительна</h1><p>Вернитесь на страницу оплаты и начните заново.</p></body></html>", f);
	} else {
		char amt[MONEY_BUFSZ];
		bool card = strcmp(l->m, "card") == 0;
		fputs("<h1>Оплата ", f);
		fputs(card ? "банковской картой" : strcmp(l->m, "sbp") == 0 ? "через СБП" :
			     strcmp(l->m, "sberpay") == 0 ? "через SberPay" : "кошельком ЮMoney", f);
		fprintf(f, "</h1><div class=\"amount\">%s&nbsp;₽</div>", money_format(l->amount, amt));
		if (error) {
			fputs("<div class=\"err\" role=\"alert\">", f);
			html_escape(f, error);
			fputs("</div>", f);
		}
		fputs("<form method=\"post\" action=\"/sandbox/pay\">", f);
		const char *names[] = {"o", "p", "a", "m", "r", "s"};
		const char *vals[] = {l->o, l->p, l->a, l->m, l->r, l->s};
		for (int i = 0; i < 6; i++) {
			fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", names[i]);
			html_escape(f, vals[i]);
			fputs("\">", f);
		}
		if (card) {
			fputs("<label for=\"card\">Номер карты</label><input id=\"card\" name=\"card\" inputmode=\"numeric\" "
			      "autocomplete=\"off\" placeholder=\"4111 1111 1111 1111\" required>"
			      "<div class=\"row\"><div><label for=\"exp\">Срок (ММ/ГГ)</label><input id=\"exp\" name=\"exp\" "
			      "placeholder=\"12/30\" autocomplete=\"off\" required></div><div><label for=\"cvc\">CVC</label>"
			      "<input id=\"cvc\" name=\"cvc\" inputmode=\"numeric\" autocomplete=\"off\" placeholder=\"123\" "
			      "required></div></div><button type=\"submit\" name=\"action\" value=\"pay\">Оплатить</button>",
			      f);
			fputs("<p class=\"note\">Тестовые карты: 4111 1111 1111 1111 — успешная оплата; "
			      "4000 0000 0000 0002 — отказ банка. Любой будущий срок, любой CVC.</p>",
			      f);
		} else {
			fputs("<button type=\"submit\" name=\"action\" value=\"pay\">Подтвердить оплату</button>"
			      "<button type=\"submit\" name=\"action\" value=\"decline\">Отклонить</button>",
			      f);
		}
		fputs("</form></body></html>", f);
	}
	fclose(f);
	http_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
	http_header(r, "Referrer-Policy", "no-referrer");
	http_reply_raw(r, status, "text/html; charset=utf-8", html, len);
	free(html);
}

static void h_page(struct req *r)
{
	struct sandbox *sb = req_adapter_ctx(r, NULL)->state;
	struct link l;
	bool ok = r->query_parsed && read_link(sb, &r->query, &l) == 0;
	page(r, ok ? 200 : 400, ok ? &l : NULL, NULL);
}

static bool luhn_ok(const char *digits)
{
	size_t n = strlen(digits);
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = digits[n - 1 - i] - '0';
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return n >= 12 && sum % 10 == 0;
}

/* MM/YY not in the past. */
static bool expiry_ok(const char *s)
{
	if (!s || strlen(s) != 5 || s[2] != '/')
		return false;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return false;
	int mm = (s[0] - '0') * 10 + (s[1] - '0'), yy = (s[3] - '0') * 10 + (s[4] - '0');
	if (mm < 1 || mm > 12)
		return false;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int cy = tm.tm_year % 100, cm = tm.tm_mon + 1;
	return yy > cy || (yy == cy && mm >= cm);
}

/* ---- the notification the "provider" sends ------------------------------------------------ */

struct notify {
	struct req *r;
	struct adapter_ctx *ctx;
	char *body;
	char sig[65];
	char *return_url;
	int tries;
	struct event *retry;
};

static void send_notification(struct notify *n);

static void notify_done(struct notify *n)
{
	/* The payer goes back to the shop whatever the notification's fate: its result page polls. */
	http_header(n->r, "Location", n->return_url);
	http_reply_raw(n->r, 303, "text/plain; charset=utf-8", "", 0);
	if (n->retry)
		event_free(n->retry);
	free(n->body);
	free(n->return_url);
	free(n);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_notification(arg);
}

static void on_notified(struct evhttp_request *resp, void *arg)
{
	struct notify *n = arg;
	int code = resp ? evhttp_request_get_response_code(resp) : 0;
	if (code == 200 || ++n->tries >= NOTIFY_TRIES) {
		if (code != 200)
			log_kv(LOG_WARN, "sandbox notification not accepted", "rid", n->r->rid, NULL);
		notify_done(n);
		return;
	}
	struct timeval tv = {0, 200000};
	if (!n->retry)
		n->retry = evtimer_new(n->ctx->base, on_retry, n);
	if (!n->retry || evtimer_add(n->retry, &tv) != 0)
		notify_done(n);
}

static void send_notification(struct notify *n)
{
	struct sandbox *sb = n->ctx->state;
	struct evhttp_connection *con = evhttp_connection_base_new(n->ctx->base, NULL, sb->host, sb->port);
	struct evhttp_request *rq = con ? evhttp_request_new(on_notified, n) : NULL;
	if (!rq) {
		if (con)
			evhttp_connection_free(con);
		notify_done(n);
		return;
	}
	evhttp_connection_set_timeout(con, 5);
	struct evkeyvalq *h = evhttp_request_get_output_headers(rq);
	char host[96], len[24];
	snprintf(host, sizeof host, "%s:%u", sb->host, sb->port);
	snprintf(len, sizeof len, "%zu", strlen(n->body));
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Content-Length", len);
	evhttp_add_header(h, "X-Sandbox-Signature", n->sig);
	/* One request per connection: free_on_completion frees a connection only once it closes, and a
	 * kept-alive one would idle (two fds) until our own server's timeout, and leak at exit. */
	evhttp_add_header(h, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(rq), n->body, strlen(n->body));
	if (evhttp_make_request(con, rq, EVHTTP_REQ_POST, "/v1/notifications/sandbox") != 0) {
		evhttp_connection_free(con);
		notify_done(n);
		return;
	}
	evhttp_connection_free_on_completion(con);
}

static void h_pay(struct req *r)
{
	struct adapter_ctx *ctx = req_adapter_ctx(r, NULL);
	struct sandbox *sb = ctx->state;
	size_t blen;
	const char *body = req_body(r, &blen);
	char *copy = strndup(body, blen);
	struct evkeyvalq form;
	TAILQ_INIT(&form);
	if (!copy || strlen(copy) != blen || http_parse_form(copy, &form) != 0) {
		free(copy);
		evhttp_clear_headers(&form);
		page(r, 400, NULL, NULL);
		return;
	}
	free(copy);
	struct link l;
	if (read_link(sb, &form, &l) != 0) {
		evhttp_clear_headers(&form);
		page(r, 400, NULL, NULL);
		return;
	}
	const char *action = evhttp_find_header(&form, "action");
	const char *status = "succeeded", *code = "";
	if (strcmp(l.m, "card") == 0) {
		const char *card = evhttp_find_header(&form, "card");
		const char *exp = evhttp_find_header(&form, "exp");
		const char *cvc = evhttp_find_header(&form, "cvc");
		char digits[24];
		size_t nd = 0;
		bool bad = !card;
		for (const char *c = card; c && *c && !bad; c++) {
			if (*c == ' ' || *c == '-')
				continue;
			if (*c < '0' || *c > '9' || nd + 1 >= sizeof digits)
				bad = true;
			else
				digits[nd++] = *c;
		}
		digits[nd] = '\0';
		const char *error = NULL;
		if (bad || !luhn_ok(digits))
			error = "Неверный номер карты. Проверьте цифры.";
		else if (!expiry_ok(exp))
			error = "Укажите срок действия карты в формате ММ/ГГ (не в прошлом).";
		else if (!cvc || strlen(cvc) != 3 || strspn(cvc, "0123456789") != 3)
			error = "CVC — три цифры с обратной стороны карты.";
		if (error) {
			/* the page is shown again; nothing about the card leaves this function */
			page(r, 422, &l, error);
			evhttp_clear_headers(&form);
			return;
		}
		if (strcmp(digits, "4111111111111111") != 0) {
			status = "failed";
			code = "card_declined";
		}
	} else if (action && strcmp(action, "decline") == 0) {
		status = "failed";
		code = "payer_declined";
	}
	char amt[MONEY_BUFSZ];
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "order", l.o, "payment_id", l.p, "status", status, "amount",
			      money_format(l.amount, amt), "currency", "RUB");
	if (*code)
		json_object_set_new(j, "code", json_string(code));
	struct notify *n = calloc(1, sizeof *n);
	char *nbody = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!n || !nbody || crypto_hmac_sha256_hex(sb->secret, strlen(sb->secret), nbody, strlen(nbody), n->sig) != 0) {
		free(n);
		free(nbody);
		evhttp_clear_headers(&form);
		http_reply_error(r, 503, "unavailable", "the sandbox could not sign its notification");
		return;
	}
	n->r = r;
	n->ctx = ctx;
	n->body = nbody;
	n->return_url = strdup(l.r);
	evhttp_clear_headers(&form);
	if (!n->return_url) {
		free(n->body);
		free(n);
		http_reply_error(r, 503, "unavailable", "out of memory");
		return;
	}
	send_notification(n);
}

/* ---- verifying our own notification (the core's side) ------------------------------------- */

static int sb_notification(struct adapter_ctx *ctx, const struct adapter_notification *in, struct adapter_reply *out)
{
	struct sandbox *sb = ctx->state;
	const char *sig = in->header(in->req, "X-Sandbox-Signature");
	char want[65];
	if (!sig || crypto_hmac_sha256_hex(sb->secret, strlen(sb->secret), in->body, in->len, want) != 0 ||
	    !crypto_secret_equal(sig, want))
		return -1;
	json_t *j = json_loadb(in->body, in->len, JSON_REJECT_DUPLICATES, NULL);
	const char *order = json_string_value(json_object_get(j, "order"));
	const char *status = json_string_value(json_object_get(j, "status"));
	const char *amount = json_string_value(json_object_get(j, "amount"));
	const char *currency = json_string_value(json_object_get(j, "currency"));
	const char *code = json_string_value(json_object_get(j, "code"));
	int64_t kop;
	if (!order || !status || !amount || !currency || strlen(order) >= sizeof out->provider_id ||
	    money_parse(amount, &kop) != MONEY_OK || strlen(currency) != 3) {
		json_decref(j);
		return -1;
	}
	out->outcome = AO_OK;
	out->status = strcmp(status, "succeeded") == 0 ? AS_SUCCEEDED : strcmp(status, "failed") == 0 ? AS_FAILED
		      : strcmp(status, "canceled") == 0	 ? AS_CANCELED
		      : strcmp(status, "pending") == 0	 ? AS_PENDING
							 : AS_UNKNOWN;
	snprintf(out->provider_id, sizeof out->provider_id, "%s", order);
	out->amount = kop;
	snprintf(out->currency, sizeof out->currency, "%s", currency);
	if (code)
		snprintf(out->code, sizeof out->code, "%s", code);
	out->raw = j;
	return 0;
}

static const char *const sb_methods[] = {"card", "sberpay", "yoomoney", "sbp", NULL};

static const struct route sb_routes[] = {
	{"GET", "/sandbox/pay", h_page, NULL},
	{"POST", "/sandbox/pay", h_pay, NULL},
};

const struct adapter sandbox_adapter = {
	.name = "sandbox",
	.kind = ADAPTER_CARD,
	.methods = sb_methods,
	.init = sb_init,
	.fini = sb_fini,
	.create = sb_create,
	.notification = sb_notification,
	.fetch_status = NULL,
	.refund = sb_refund,
	.routes = sb_routes,
	.nroutes = sizeof sb_routes / sizeof sb_routes[0],
};
