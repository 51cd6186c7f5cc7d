/* routes_common.h — what several route handlers share: the internal API's bearer-token check, and a
 * payment service's verdict turned into an HTTP answer. Below the route table (routes.c) and the
 * handler files, so they never call each other in a circle. */
#ifndef GW_ROUTES_COMMON_H
#define GW_ROUTES_COMMON_H

#include <stdbool.h>

#include "http.h"

struct payment_answer;

/* For internal-API handlers: checks the bearer token (GATEWAY_ADMIN_TOKEN) in constant time. Answers
 * 401/403 and returns false when it does not match. */
bool require_admin(struct req *r);
/* 503 database_unavailable with Retry-After: the database did not answer (retry later). */
void reply_db_unavailable(struct req *r);

/* Answers a verdict of the payments or refunds service: its status and body, with
 * Idempotent-Replayed and Retry-After when it says so; the access-log line names the payment. */
void reply_payment_answer(struct req *r, const struct payment_answer *a);

#endif
