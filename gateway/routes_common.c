/* routes_common.c — helpers shared by the route handlers (see routes_common.h). */
#include "routes_common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "crypto.h"
#include "payments.h"

/* Checks the bearer token in constant time. Answers and returns false when it does not match. */
bool require_admin(struct req *r)
{
	const char *token = req_config(r)->admin_token;
	if (!token) {
		http_reply_error(r, 403, "internal_api_disabled", "the internal API is off (GATEWAY_ADMIN_TOKEN is not set)");
		return false;
	}
	const char *h = req_header(r, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0 && crypto_secret_equal(h + 7, token))
		return true;
	http_header(r, "WWW-Authenticate", "Bearer realm=\"gateway-internal\"");
	http_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
	return false;
}

void reply_payment_answer(struct req *r, const struct payment_answer *a)
{
	if (a->replay)
		http_header(r, "Idempotent-Replayed", "true");
	if (a->retry_after)
		http_header(r, "Retry-After", a->retry_after);
	if (a->payment_id) {
		snprintf(r->log_id, sizeof r->log_id, "%s", a->payment_id);
		r->log_payment = r->log_id;
	}
	http_reply_json(r, a->status, json_incref(a->body));
}

void reply_db_unavailable(struct req *r)
{
	http_header(r, "Retry-After", "1");
	http_reply_error(r, 503, "database_unavailable", "the database is not reachable; retry later");
}
