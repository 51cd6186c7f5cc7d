/* metrics.c — counters in C11 atomics, rendered on demand in the Prometheus text format. Each
 * thread counts in a shard of its own (so two event loops never fight over a cache line on every
 * request); a render sums the shards. Every update is a delta, gauges included, so sums are exact. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	const char *type;
	const char *help;
	const char *labels;       /* NULL, or `reason="network"`: rows sharing a name form one family */
} defs[M__COUNT] = {
	[M_HTTP_INFLIGHT] = {"gateway_http_requests_in_flight", "gauge", "HTTP requests being processed", NULL},
	[M_DB_CONNS_CONFIGURED] = {"gateway_db_pool_connections", "gauge", "PostgreSQL connections the pools may open", NULL},
	[M_DB_CONNS_OPEN] = {"gateway_db_pool_connections_open", "gauge", "PostgreSQL connections currently established", NULL},
	[M_DB_CONNS_BUSY] = {"gateway_db_pool_connections_busy", "gauge", "PostgreSQL connections running a query", NULL},
	[M_DB_QUEUE] = {"gateway_db_pool_queue_length", "gauge", "queries waiting for a free connection", NULL},
	[M_DB_ERRORS] = {"gateway_db_errors_total", "counter", "queries that ended in a PostgreSQL error", NULL},
	[M_DB_UNAVAILABLE] = {"gateway_db_unavailable_total", "counter", "queries refused or lost because the database was unreachable", NULL},
	[M_DB_RECONNECTS] = {"gateway_db_reconnects_total", "counter", "PostgreSQL connections (re)established", NULL},
#define RATE(id, limiter) [id] = {"gateway_rate_limited_total", "counter", \
	"requests refused by a rate limit, by limiter (partner_*: failed partner logins per login and per address; staff_login: failed console sign-ins)", \
	"limiter=\"" limiter "\""}
	RATE(M_RATE_LIMITED_LOOKUP, "lookup"),
	RATE(M_RATE_LIMITED_PAYMENT, "payment"),
	RATE(M_RATE_LIMITED_LOGIN, "partner_login"),
	RATE(M_RATE_LIMITED_ADDRESS, "partner_address"),
	RATE(M_RATE_LIMITED_STAFF, "staff_login"),
#undef RATE
	[M_RATELIMIT_EVICTIONS] = {"gateway_rate_limit_evictions_total", "counter",
				   "keys that took over the fullest bucket of a full set (inheriting its tokens)", NULL},
	[M_PASSWORD_CHECKS] = {"gateway_partner_password_checks_total", "counter",
			       "partner password hashes (PBKDF2) computed off the event loops, known login or not", NULL},
	[M_STAFF_PASSWORD_CHECKS] = {"gateway_staff_password_checks_total", "counter",
				     "console sign-in passwords checked (scrypt) off the event loops, known login or not", NULL},
	[M_PASSWORD_CHECKS_WAITING] = {"gateway_offload_jobs_waiting", "gauge",
				       "blocking jobs (partner password hashes) queued or running off the event loops", NULL},
	[M_NOTIFY_REJECTED] = {"gateway_notifications_rejected_total", "counter", "provider notifications that failed verification", NULL},
	[M_PAYMENTS_CREATED] = {"gateway_web_payments_created_total", "counter", "web payments handed to a provider", NULL},
	[M_PAYMENTS_PROVIDER_FAILED] = {"gateway_web_payments_provider_failed_total", "counter", "web payments the provider refused or did not answer at creation", NULL},
#define PARTNER_AUTH(id, reason) [id] = {"gateway_partner_auth_refused_total", "counter", \
	"partner requests refused by authentication, by reason", "reason=\"" reason "\""}
	PARTNER_AUTH(M_PARTNER_AUTH_MISSING, "missing"),
	PARTNER_AUTH(M_PARTNER_AUTH_CREDENTIALS, "credentials"),
	PARTNER_AUTH(M_PARTNER_AUTH_NETWORK, "network"),
	PARTNER_AUTH(M_PARTNER_AUTH_SIGNATURE, "signature"),
	PARTNER_AUTH(M_PARTNER_AUTH_TIMESTAMP, "timestamp"),
	PARTNER_AUTH(M_PARTNER_AUTH_PROTOCOL, "protocol"),
	PARTNER_AUTH(M_PARTNER_AUTH_DISABLED, "disabled"),
	PARTNER_AUTH(M_PARTNER_AUTH_THROTTLED, "throttled"),
#undef PARTNER_AUTH
#define CASH(id, result) [id] = {"gateway_partner_payments_total", "counter", \
	"pay requests of terminal networks and partners, by booking result", "result=\"" result "\""}
	CASH(M_CASH_BOOKED, "booked"),
	CASH(M_CASH_DUPLICATE, "duplicate"),
	CASH(M_CASH_MISMATCH, "mismatch"),
#undef CASH
#define MAIL(id, result) [id] = {"gateway_receipt_mail_attempts_total", "counter", \
	"receipt mail delivery attempts, by result (retry: failed for now, tried again later)", "result=\"" result "\""}
	MAIL(M_MAIL_SENT, "sent"),
	MAIL(M_MAIL_RETRIED, "retry"),
	MAIL(M_MAIL_FAILED, "failed"),
#undef MAIL
#define OUTBOX(id, state) [id] = {"gateway_receipts", "gauge", \
	"receipts waiting for delivery or given up, by state (as of the mailer's last look)", "state=\"" state "\""}
	OUTBOX(M_RECEIPTS_PENDING, "pending"),
	OUTBOX(M_RECEIPTS_FAILED, "failed"),
#undef OUTBOX
#define JRUN(id, result) [id] = {"gateway_janitor_runs_total", "counter", \
	"janitor runs, by result (failed: the database or a provider answer cut the run short)", "result=\"" result "\""}
	JRUN(M_JANITOR_RUNS_OK, "ok"),
	JRUN(M_JANITOR_RUNS_FAILED, "failed"),
#undef JRUN
	[M_JANITOR_LAST_SUCCESS] = {"gateway_janitor_last_success_timestamp_seconds", "gauge",
				    "when the janitor last finished a run (unix time; 0: not yet)", NULL},
#define JPAY(id, action) [id] = {"gateway_janitor_payments_total", "counter", \
	"web payments the janitor settled: applied a provider status to, or expired unpaid", "action=\"" action "\""}
	JPAY(M_JANITOR_APPLIED, "applied"),
	JPAY(M_JANITOR_EXPIRED, "expired"),
#undef JPAY
	[M_PAYMENTS_UNSETTLED] = {"gateway_web_payments_unsettled", "gauge",
				  "web payments created or pending (as of the janitor's last run)", NULL},
	[M_PAYMENTS_OVERDUE] = {"gateway_web_payments_overdue", "gauge",
				"web payments still created or pending past GATEWAY_PENDING_EXPIRE (as of the janitor's last run)", NULL},
	[M_PAYMENTS_OLDEST_UNSETTLED] = {"gateway_web_payments_oldest_unsettled_age_seconds", "gauge",
					 "age of the oldest created or pending web payment (as of the janitor's last run)", NULL},
#define REFUND(id, result) [id] = {"gateway_refunds_total", "counter", \
	"refunds driven to the provider, by outcome (unknown: left pending, retried with the same key)", "result=\"" result "\""}
	REFUND(M_REFUNDS_SUCCEEDED, "succeeded"),
	REFUND(M_REFUNDS_REFUSED, "refused"),
	REFUND(M_REFUNDS_UNKNOWN, "unknown"),
#undef REFUND
#define FCALL(id, result) [id] = {"gateway_fiscal_attempts_total", "counter", \
	"calls to the cashbox by outcome (retry: again later with the same external_id; failed: refused, fix the " \
	"configuration; fail: the cashbox could not fiscalise it)", "result=\"" result "\""}
	FCALL(M_FISCAL_REGISTERED, "registered"),
	FCALL(M_FISCAL_WAIT, "wait"),
	FCALL(M_FISCAL_DONE, "done"),
	FCALL(M_FISCAL_RETRY, "retry"),
	FCALL(M_FISCAL_FAILED, "failed"),
	FCALL(M_FISCAL_FAIL, "fail"),
#undef FCALL
#define FDOC(id, state) [id] = {"gateway_fiscal_documents", "gauge", \
	"fiscal documents by state (as of the fiscal workers' last look)", "state=\"" state "\""}
	FDOC(M_FISCAL_DOCS_PENDING, "pending"),
	FDOC(M_FISCAL_DOCS_REGISTERED, "wait"),
	FDOC(M_FISCAL_DOCS_DONE, "done"),
	FDOC(M_FISCAL_DOCS_FAILED, "failed"),
	FDOC(M_FISCAL_DOCS_FAIL, "fail"),
#undef FDOC
	[M_FISCAL_OLDEST_UNFINISHED] = {"gateway_fiscal_oldest_unfinished_age_seconds", "gauge",
					"age of the oldest fiscal document not yet done (0: none)", NULL},
	[M_FISCAL_OVERDUE] = {"gateway_fiscal_documents_overdue", "gauge",
			      "fiscal documents still waiting for their result after 32 days (lost at the cashbox: an alarm)", NULL},
#define HOOK(id, result) [id] = {"gateway_webhook_deliveries_total", "counter", \
	"webhook delivery attempts (POSTs, each of up to GATEWAY_WEBHOOK_BATCH events) by result " \
	"(http_error: an answer other than 2xx; timeout: no whole answer in " \
	"GATEWAY_WEBHOOK_TIMEOUT_MS; network: no connection; gave_up: an event failing past GATEWAY_WEBHOOK_GIVE_UP_AFTER)", \
	"result=\"" result "\""}
	HOOK(M_WEBHOOK_OK, "ok"),
	HOOK(M_WEBHOOK_HTTP_ERROR, "http_error"),
	HOOK(M_WEBHOOK_TIMEOUT, "timeout"),
	HOOK(M_WEBHOOK_NETWORK, "network"),
	HOOK(M_WEBHOOK_GAVE_UP, "gave_up"),
#undef HOOK
	[M_WEBHOOK_EVENTS] = {"gateway_webhook_events_delivered_total", "counter",
			      "events taken by a webhook endpoint (answered 2xx), repeats after a crash included", NULL},
	[M_WEBHOOK_LAG] = {"gateway_webhook_lag_seconds", "gauge",
			   "age of the oldest event not yet delivered to some endpoint of this gateway (0: all delivered)", NULL},
	[M_WEBHOOK_FAILING] = {"gateway_webhook_endpoints_failing", "gauge",
			       "endpoints of this gateway whose next event has failed at least once (as of the last look)", NULL},
	[M_EVENTS_PRUNED] = {"gateway_events_pruned_total", "counter", "events dropped after GATEWAY_EVENTS_KEEP_DAYS", NULL},
	[M_REFUNDED_KOPECKS] = {"gateway_refunded_kopecks_total", "counter", "money refunded and booked, in kopecks", NULL},
};


/* Latency buckets in microseconds (upper bounds); +Inf is implicit. */
static const uint64_t bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])
#define STATUS_MIN 100
#define STATUS_MAX 599

struct route_stats {
	_Atomic uint64_t by_status[STATUS_MAX - STATUS_MIN + 1];
	_Atomic uint64_t buckets[NBUCKETS + 1];
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
};

struct shard {
	struct shard *next;
	_Atomic int64_t values[M__COUNT];
	struct route_stats routes[METRICS_MAX_ROUTES];
};

static struct shard spare;                /* for a thread whose own shard could not be allocated */
static _Atomic(struct shard *) shards = &spare;
static _Thread_local struct shard *mine;
static char names[METRICS_MAX_ROUTES][96];
static size_t nnames;

/* This thread's shard, made on its first update and kept for the life of the process (threads are
 * few and made at start). */
static struct shard *my_shard(void)
{
	if (mine)
		return mine;
	struct shard *s = calloc(1, sizeof *s);
	if (!s)
		return mine = &spare;
	s->next = atomic_load(&shards);
	while (!atomic_compare_exchange_weak(&shards, &s->next, s))
		;
	return mine = s;
}

static uint64_t sum_u(size_t off)
{
	uint64_t v = 0;
	for (struct shard *s = atomic_load(&shards); s; s = s->next)
		v += atomic_load_explicit((_Atomic uint64_t *)((char *)s + off), memory_order_relaxed);
	return v;
}

#define ROUTE_OFF(r, member) (offsetof(struct shard, routes) + (r) * sizeof(struct route_stats) + \
			      offsetof(struct route_stats, member))

void metrics_add_route(size_t idx, const char *method, const char *pattern)
{
	if (idx >= METRICS_MAX_ROUTES - 1)
		return;
	snprintf(names[idx], sizeof names[idx], "%s %s", method, pattern);
	if (idx + 1 > nnames)
		nnames = idx + 1;
}

void metrics_request(int route, int status, uint64_t micros)
{
	size_t r = route >= 0 && (size_t)route < nnames ? (size_t)route : METRICS_MAX_ROUTES - 1;
	struct route_stats *s = &my_shard()->routes[r];
	if (status < STATUS_MIN || status > STATUS_MAX)
		status = 500;
	atomic_fetch_add_explicit(&s->by_status[status - STATUS_MIN], 1, memory_order_relaxed);
	size_t b = 0;
	while (b < NBUCKETS && micros > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, micros, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void metrics_add(enum metric_id id, int64_t delta)
{
	atomic_fetch_add_explicit(&my_shard()->values[id], delta, memory_order_relaxed);
}

void metrics_set(enum metric_id id, int64_t value)
{
	metrics_add(id, value - metrics_get(id));
}

int64_t metrics_get(enum metric_id id)
{
	int64_t v = 0;
	for (struct shard *s = atomic_load(&shards); s; s = s->next)
		v += atomic_load_explicit(&s->values[id], memory_order_relaxed);
	return v;
}

static const char *route_name(size_t r) { return r < nnames ? names[r] : "unmatched"; }

char *metrics_render(size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	if (!f)
		return NULL;
	fprintf(f, "# HELP gateway_http_requests_total HTTP requests answered, by route and status\n"
		   "# TYPE gateway_http_requests_total counter\n");
	for (size_t r = 0; r < METRICS_MAX_ROUTES; r++) {
		if (r >= nnames && r != METRICS_MAX_ROUTES - 1)
			continue;
		for (int st = STATUS_MIN; st <= STATUS_MAX; st++) {
			uint64_t v = sum_u(ROUTE_OFF(r, by_status) + (size_t)(st - STATUS_MIN) * sizeof(uint64_t));
			if (v)
				fprintf(f, "gateway_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_name(r), st,
					(unsigned long long)v);
		}
	}
	fprintf(f, "# HELP gateway_http_request_duration_seconds time from request to reply, by route\n"
		   "# TYPE gateway_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < METRICS_MAX_ROUTES; r++) {
		if (r >= nnames && r != METRICS_MAX_ROUTES - 1)
			continue;
		uint64_t count = sum_u(ROUTE_OFF(r, count));
		if (!count && r != 0)
			continue;
		uint64_t cum = 0;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += sum_u(ROUTE_OFF(r, buckets) + b * sizeof(uint64_t));
			if (b < NBUCKETS)
				fprintf(f, "gateway_http_request_duration_seconds_bucket{route=\"%s\",le=\"%llu.%06llu\"} %llu\n",
					route_name(r), (unsigned long long)(bucket_us[b] / 1000000),
					(unsigned long long)(bucket_us[b] % 1000000), (unsigned long long)cum);
			else
				fprintf(f, "gateway_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
					route_name(r), (unsigned long long)cum);
		}
		uint64_t sum = sum_u(ROUTE_OFF(r, sum_us));
		fprintf(f, "gateway_http_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n", route_name(r),
			(unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
		fprintf(f, "gateway_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_name(r),
			(unsigned long long)count);
	}
	for (size_t i = 0; i < M__COUNT; i++) {
		if (i == 0 || strcmp(defs[i].name, defs[i - 1].name) != 0)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", defs[i].name, defs[i].help, defs[i].name, defs[i].type);
		fprintf(f, "%s%s%s%s %lld\n", defs[i].name, defs[i].labels ? "{" : "", defs[i].labels ? defs[i].labels : "",
			defs[i].labels ? "}" : "", (long long)metrics_get((enum metric_id)i));
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
