/* terminal.h — what the inbound partner protocols (OSMP, Sberbank Online, partner JSON) share:
 * request parameters from the query or a form body, XML answers built with escaping, and partner
 * authentication of a request (counted in metrics and logged when refused). Not an adapter itself. */
#ifndef GW_TERMINAL_H
#define GW_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/keyvalq_struct.h>

#include "adapter.h"
#include "booking.h"
#include "partners.h"

/* Per-loop state of a terminal adapter (ctx->state). */
struct terminal_state {
	struct partner_cache *partners;
};
int terminal_init(struct adapter_ctx *ctx, char err[256]);
void terminal_fini(struct adapter_ctx *ctx);

/* ---- parameters ------------------------------------------------------------------------------- */

/* The request's parameters: the query string, plus an application/x-www-form-urlencoded body. */
struct term_form {
	struct req *r;
	struct evkeyvalq body;
	bool has_body;
};
/* Reads the body of a form POST. Returns 0, or -1 when it is not valid urlencoded text. */
int term_form_init(struct term_form *f, struct req *r);
void term_form_free(struct term_form *f);
/* Finds a parameter (nocase: names compared case-insensitively). Returns 1 with *out, 0 when absent,
 * -1 when given more than once (an ambiguous request) or when its value holds a NUL byte once decoded. */
int term_param(const struct term_form *f, const char *name, bool nocase, const char **out);

/* What a form protocol's request (OSMP, Sberbank Online) starts with: the request, its decoded form
 * and which of the protocol's commands it names. The protocol's own request struct begins with it. */
struct term_req {
	struct req *r;
	struct term_form form;
	bool form_ok;             /* the form decoded */
	int cmd;                  /* 1 + the index of the command in the protocol's list; 0 = unknown or absent */
	int64_t min_amount, max_amount;   /* the partner's limits (term_check / term_book set them) */
};

/* A zeroed request struct of size bytes (starting with struct term_req) for r: the form decoded and
 * the command read from parameter cmd_param (nocase: names and values compared case-insensitively)
 * among cmds (NULL-terminated). Out of memory: 503 answered, NULL. Freed with term_req_free. */
void *term_req_new(struct req *r, size_t size, const char *cmd_param, bool nocase, const char *const *cmds);
void term_req_free(struct term_req *t);

/* A form protocol's check of an account for partner p (its limits noted in t). */
void term_check(struct term_req *t, const struct partner *p, const char *account, cash_account_cb done);
/* A form protocol's payment for partner p booked on the terminal channel: the partner's txn id, the
 * account, kopecks, the terminal's time (YYYY-MM-DD HH:MM:SS, "" when not given) and the protocol's
 * message as JSON text for the payment's events. done(arg = t) once. */
void term_book(struct term_req *t, const struct partner *p, const char *adapter, const char *txn_id,
	       const char *account, int64_t amount, const char *when, const char *raw, cash_cb done);

/* ---- XML answers ------------------------------------------------------------------------------ */

struct xml {
	char *buf;
	size_t len, cap;
	bool oom;
};
/* Starts `<?xml version="1.0" encoding="UTF-8"?>` and `<response>`. */
void xml_begin(struct xml *x);
/* Appends <name>text</name> with text escaped (control characters dropped, invalid UTF-8 as '?'). */
void xml_elem(struct xml *x, const char *name, const char *text);
void xml_elem_int(struct xml *x, const char *name, long long v);
/* Appends raw markup (only constants, never input). */
void xml_raw(struct xml *x, const char *markup);
/* Appends text escaped for element content or an attribute value. */
void xml_text(struct xml *x, const char *text);
/* Closes </response>, answers with Content-Type text/xml; charset=utf-8 and frees the buffer. */
void xml_reply(struct req *r, int status, struct xml *x);

/* ---- authentication --------------------------------------------------------------------------- */

/* done(r, st, partner, arg): PA_OK with the partner (borrowed for the callback), or a refusal —
 * already counted in gateway_partner_auth_refused_total and logged (never the secret). */
typedef void (*term_auth_cb)(struct req *r, enum partner_auth_status st, const struct partner *p, void *arg);

/* Authenticates the partner calling r: HTTP Basic, or the signed headers X-Partner-Login,
 * X-Timestamp and X-Signature when X-Partner-Login is present. protocol = the partner protocol this
 * endpoint serves (NULL: any). done may run before this returns. */
void term_authenticate(struct req *r, const char *protocol, term_auth_cb done, void *arg);

/* The HTTP status of a refusal: 401 for missing/bad credentials, signature or timestamp, 403 for
 * network/protocol/disabled, 503 when the database could not be asked. */
int term_auth_http_status(enum partner_auth_status st);

/* ---- validation shared by the protocols -------------------------------------------------------- */

/* Writes a refusal message into msg (128 bytes) and returns code — for validators that answer
 * "0 or the protocol's code". */
int term_refuse(char msg[128], int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks a local date-time "YYYYMMDDHHMMSS" (compact) or "DD.MM.YYYY_HH:MM:SS" (sber) and writes it as
 * "YYYY-MM-DD HH:MM:SS" (20 bytes). Returns 0, or -1 when it is not a real moment. */
int term_parse_time(const char *s, bool sber, char out[20]);

#endif
