/* registries.h — a partner's daily registry: the payments booked for it on one day (in the partner
 * time zone, GATEWAY_PARTNER_TZ) as CSV with a totals trailer. One SQL text and one CSV writer
 * serve both `gatewayd registry` (blocking libpq) and GET /v1/partner/registry (the async pool).
 *
 * Format (RFC 4180, UTF-8, LF line ends):
 *   partner_txn_id,our_id,date,account,amount
 *   1234567,2016,2024-05-01 12:01:33,4957835959,200.00
 *   TOTAL,1,2024-05-01,,200.00
 * our_id is our payment number (OSMP prv_txn / Sber EXT_ID); date is when we booked it, in the
 * partner time zone; the trailer gives the number of payments, the day and the sum. */
#ifndef GW_REGISTRIES_H
#define GW_REGISTRIES_H

#include <stddef.h>

#include <libpq-fe.h>

#include "booking.h"

struct db_pool;

/* The registry query: $1 partner id, $2 day (YYYY-MM-DD), $3 time zone. Columns: partner_txn_id,
 * our_id, date, account, amount (kopecks). */
extern const char registry_sql[];

/* True when s is a real calendar date "YYYY-MM-DD" (years 2000..2999). */
int registry_date_valid(const char *s);

/* Renders a result of registry_sql as the CSV above. Returns a new string (caller frees) and its
 * length, or NULL when out of memory. */
char *registry_csv(const PGresult *res, const char *day, size_t *len);

/* Fetches and renders the registry on the async pool. done(status, csv, len, arg): status CASH_OK
 * with the CSV (borrowed for the callback), CASH_UNAVAILABLE or CASH_FAILED. Called once, later. */
void registry_fetch(struct db_pool *db, long long partner_id, const char *day, const char *tz,
		    void (*done)(enum cash_status st, const char *csv, size_t len, void *arg), void *arg);

#endif
