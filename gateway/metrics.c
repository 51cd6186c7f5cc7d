/* metrics.c — counters in C11 atomics, rendered on demand in the Prometheus text format. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
	const char *name;
	const char *type;
	const char *help;
} defs[M__COUNT] = {
	[M_HTTP_INFLIGHT] = {"gateway_http_requests_in_flight", "gauge", "HTTP requests being processed"},
	[M_DB_CONNS_CONFIGURED] = {"gateway_db_pool_connections", "gauge", "PostgreSQL connections the pools may open"},
	[M_DB_CONNS_OPEN] = {"gateway_db_pool_connections_open", "gauge", "PostgreSQL connections currently established"},
	[M_DB_CONNS_BUSY] = {"gateway_db_pool_connections_busy", "gauge", "PostgreSQL connections running a query"},
	[M_DB_QUEUE] = {"gateway_db_pool_queue_length", "gauge", "queries waiting for a free connection"},
	[M_DB_ERRORS] = {"gateway_db_errors_total", "counter", "queries that ended in a PostgreSQL error"},
	[M_DB_UNAVAILABLE] = {"gateway_db_unavailable_total", "counter", "queries refused or lost because the database was unreachable"},
	[M_DB_RECONNECTS] = {"gateway_db_reconnects_total", "counter", "PostgreSQL connections (re)established"},
	[M_RATE_LIMITED] = {"gateway_rate_limited_total", "counter", "requests refused by a rate limit"},
	[M_NOTIFY_REJECTED] = {"gateway_notifications_rejected_total", "counter", "provider notifications that failed verification"},
	[M_PAYMENTS_CREATED] = {"gateway_web_payments_created_total", "counter", "web payments handed to a provider"},
	[M_PAYMENTS_PROVIDER_FAILED] = {"gateway_web_payments_provider_failed_total", "counter", "web payments the provider refused or did not answer at creation"},
};

static _Atomic int64_t values[M__COUNT];

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

static struct route_stats routes[METRICS_MAX_ROUTES];
static char names[METRICS_MAX_ROUTES][96];
static size_t nnames;

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
	struct route_stats *s = &routes[r];
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
	atomic_fetch_add_explicit(&values[id], delta, memory_order_relaxed);
}

int64_t metrics_get(enum metric_id id) { return atomic_load_explicit(&values[id], memory_order_relaxed); }

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
			uint64_t v = atomic_load_explicit(&routes[r].by_status[st - STATUS_MIN], memory_order_relaxed);
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
		uint64_t count = atomic_load_explicit(&routes[r].count, memory_order_relaxed);
		if (!count && r != 0)
			continue;
		uint64_t cum = 0;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load_explicit(&routes[r].buckets[b], memory_order_relaxed);
			if (b < NBUCKETS)
				fprintf(f, "gateway_http_request_duration_seconds_bucket{route=\"%s\",le=\"%llu.%06llu\"} %llu\n",
					route_name(r), (unsigned long long)(bucket_us[b] / 1000000),
					(unsigned long long)(bucket_us[b] % 1000000), (unsigned long long)cum);
			else
				fprintf(f, "gateway_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
					route_name(r), (unsigned long long)cum);
		}
		uint64_t sum = atomic_load_explicit(&routes[r].sum_us, memory_order_relaxed);
		fprintf(f, "gateway_http_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n", route_name(r),
			(unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
		fprintf(f, "gateway_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_name(r),
			(unsigned long long)count);
	}
	for (size_t i = 0; i < M__COUNT; i++)
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", defs[i].name, defs[i].help, defs[i].name, defs[i].type,
			defs[i].name, (long long)atomic_load_explicit(&values[i], memory_order_relaxed));
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
