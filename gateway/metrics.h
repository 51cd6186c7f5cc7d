/* metrics.h — process-wide Prometheus metrics: HTTP requests by route and status, latency
 * histograms, and named counters/gauges other modules update. Lock-free; safe from any thread. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Named series. Add a member here and a row in metrics.c's table. */
enum metric_id {
	M_HTTP_INFLIGHT,        /* gauge */
	M_DB_CONNS_CONFIGURED,  /* gauge */
	M_DB_CONNS_OPEN,        /* gauge */
	M_DB_CONNS_BUSY,        /* gauge */
	M_DB_QUEUE,             /* gauge */
	M_DB_ERRORS,            /* counter */
	M_DB_UNAVAILABLE,       /* counter */
	M_DB_RECONNECTS,        /* counter */
	/* requests refused by a rate limit, by limiter (labelled); keys that took over another's bucket */
	M_RATE_LIMITED_LOOKUP,
	M_RATE_LIMITED_PAYMENT,
	M_RATE_LIMITED_LOGIN,
	M_RATE_LIMITED_ADDRESS,
	M_RATE_LIMITED_STAFF,
	M_RATELIMIT_EVICTIONS,
	/* partner password checks (PBKDF2) run off the event loops: done, and waiting (gauge) */
	M_PASSWORD_CHECKS,
	M_STAFF_PASSWORD_CHECKS,
	M_PASSWORD_CHECKS_WAITING,
	M_NOTIFY_REJECTED,      /* counter: provider notifications that failed verification */
	M_PAYMENTS_CREATED,     /* counter: web payments handed to a provider */
	M_PAYMENTS_PROVIDER_FAILED, /* counter: web payments the provider refused or did not answer */
	/* partner authentication refusals, one series per reason (labelled) */
	M_PARTNER_AUTH_MISSING,
	M_PARTNER_AUTH_CREDENTIALS,
	M_PARTNER_AUTH_NETWORK,
	M_PARTNER_AUTH_SIGNATURE,
	M_PARTNER_AUTH_TIMESTAMP,
	M_PARTNER_AUTH_PROTOCOL,
	M_PARTNER_AUTH_DISABLED,
	M_PARTNER_AUTH_THROTTLED,
	/* cash bookings by terminal networks and partners, by result (labelled) */
	M_CASH_BOOKED,
	M_CASH_DUPLICATE,
	M_CASH_MISMATCH,
	/* receipt mail deliveries by result (labelled), and the outbox by state (gauges, from the database) */
	M_MAIL_SENT,
	M_MAIL_RETRIED,
	M_MAIL_FAILED,
	M_RECEIPTS_PENDING,
	M_RECEIPTS_FAILED,
	/* the janitor: runs by result, the last good run (unix seconds), payments it settled, and the
	 * unsettled web payments it saw (gauges, from the database, as of its last run) */
	M_JANITOR_RUNS_OK,
	M_JANITOR_RUNS_FAILED,
	M_JANITOR_LAST_SUCCESS,
	M_JANITOR_APPLIED,
	M_JANITOR_EXPIRED,
	M_PAYMENTS_UNSETTLED,
	M_PAYMENTS_OVERDUE,
	M_PAYMENTS_OLDEST_UNSETTLED,
	/* refunds by outcome (labelled), and the amount refunded in kopecks */
	M_REFUNDS_SUCCEEDED,
	M_REFUNDS_REFUSED,
	M_REFUNDS_UNKNOWN,
	M_REFUNDED_KOPECKS,
	/* fiscal documents: calls to the cashbox by outcome (labelled), documents by state (gauges), the
	 * age of the oldest unfinished one, and those still waiting after 32 days (an alarm) */
	M_FISCAL_REGISTERED,
	M_FISCAL_WAIT,
	M_FISCAL_DONE,
	M_FISCAL_RETRY,
	M_FISCAL_FAILED,
	M_FISCAL_FAIL,
	M_FISCAL_DOCS_PENDING,
	M_FISCAL_DOCS_REGISTERED,
	M_FISCAL_DOCS_DONE,
	M_FISCAL_DOCS_FAILED,
	M_FISCAL_DOCS_FAIL,
	M_FISCAL_OLDEST_UNFINISHED,
	M_FISCAL_OVERDUE,
	/* webhook deliveries (POSTs) by result (labelled), the events they delivered, the lag of the
	 * slowest endpoint (the age of its oldest undelivered event), events given up and waiting in the
	 * feed */
	M_WEBHOOK_OK,
	M_WEBHOOK_HTTP_ERROR,
	M_WEBHOOK_TIMEOUT,
	M_WEBHOOK_NETWORK,
	M_WEBHOOK_GAVE_UP,
	M_WEBHOOK_EVENTS,
	M_WEBHOOK_LAG,
	M_WEBHOOK_FAILING,
	M_EVENTS_PRUNED,
	M__COUNT
};

#define METRICS_MAX_ROUTES 64

/* Registers the routes by their labels ("GET /healthz"; copied); index = route id. At most
 * METRICS_MAX_ROUTES - 1 routes; the last slot counts requests that matched no route. */
void metrics_add_route(size_t idx, const char *method, const char *pattern);
void metrics_request(int route, int status, uint64_t micros);  /* route < 0: unmatched */
void metrics_add(enum metric_id id, int64_t delta);
/* Sets a gauge that only one thread ever writes (the janitor's): a delta from the current sum. */
void metrics_set(enum metric_id id, int64_t value);
int64_t metrics_get(enum metric_id id);

/* Renders the Prometheus text exposition format. Returns a new string (caller frees) and its length. */
char *metrics_render(size_t *len);

#endif
