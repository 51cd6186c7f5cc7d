/* webhooks.c — the events feed pushed to the operator's endpoints (GATEWAY_WEBHOOK_URLS): the webhook
 * kind of the outbox (outbox.c). The item is an endpoint, not an event: a round claims one endpoint
 * with a lease (webhook_claim, schema/013_events.sql), reads the feed after its cursor (events_page)
 * and POSTs the events in the feed's order, those waiting at once together (up to
 * GATEWAY_WEBHOOK_BATCH, as the feed's {"events": [...]}), signed Stripe's way:
 *
 *     X-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * A 2xx takes every event of the POST and moves the cursor (recorded every FLUSH_EVERY events, before
 * the lease could run out, and at the end). Anything else stops the endpoint: the cursor stays before
 * the POST's first event, which is tried again alone (so one event a receiver refuses holds up no
 * other) after a doubling, jittered pause, for up to GATEWAY_WEBHOOK_GIVE_UP_AFTER from the event's
 * creation; then it is given up (webhook_failures) and the next one goes. One gateway thread
 * holds an endpoint at a time and never starts a POST its lease might not cover, so no event is sent
 * twice at the same time; a crash repeats at most the events since the last record (at least once:
 * consumers deduplicate by event id). Thread 0 also refreshes the lag gauges and drops events older
 * than GATEWAY_EVENTS_KEEP_DAYS. */
#include "webhooks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

#define PAGE 100                  /* events read at once */
#define FLUSH_EVERY 200           /* deliveries between two records of the cursor */
#define IDLE_NEXT_MS 250          /* an endpoint with nothing to send is looked at again after this */
#define RETRY_BASE_MS 1000
#define PRUNE_EVERY_MS 600000
#define PRUNE_BATCH 10000

static struct outbox *hooks;

struct worker {
	const struct config *cfg;
	struct event_base *base;
	struct http_client *http;
	char *urls;               /* the configured URLs as a PostgreSQL array literal */
	long long lease_ms;
	uint64_t pruned_at;
};

/* One endpoint being served: its row and where the delivery stands. */
struct endpoint {
	long long id;
	int idx;                  /* in cfg->webhook_url */
	char token[33];           /* this claim's */
	long long tick, through;  /* delivered through this position */
	int unflushed;            /* deliveries not yet recorded */
	uint64_t lease_end;       /* monotonic ms: the lease surely holds until then */
};

static const char sql_claim[] =
	"SELECT id, url, cursor_tick, cursor_id FROM webhook_claim($1::text[], $2, $3::bigint, 1)";
static const char sql_page[] = "SELECT tick, event_id, body FROM events_page($1::bigint, $2::bigint, $3::int, NULL)";
static const char sql_progress[] =
	"SELECT webhook_progress($1::bigint, $2, $3::bigint, $4::bigint, $5::int, $6::bigint, $7::bigint)";
static const char sql_failed[] =
	"SELECT webhook_failed($1::bigint, $2, $3::bigint, $4::bigint, $5::int, $6::bigint, $7::bigint, $8::int, $9,"
	" $10::bigint, $11::bigint) = 'gave_up'";
static const char sql_oldest[] = "SELECT min(id) FROM event_ticks";
static const char sql_prune[] = "SELECT events_prune($1::int)";
static const char sql_gauges[] =
	"SELECT coalesce(max(extract(epoch FROM now() - e.created_at)), 0)::bigint, count(*) FILTER (WHERE w.attempts > 0)"
	"  FROM webhook_endpoints w"
	"  LEFT JOIN LATERAL (SELECT x.event_id FROM events_page(w.cursor_tick, w.cursor_id, 1, NULL) x"
	"                      WHERE x.body IS NOT NULL) p ON true"
	"  LEFT JOIN events e ON e.id = p.event_id"
	" WHERE w.url = ANY ($1::text[])";

/* ---- one POST ------------------------------------------------------------------------------- */

struct answer {
	bool done;
	enum hc_error error;
	int status;
	char message[200];
};

static void on_answer(const struct hc_response *r, void *arg)
{
	struct answer *a = arg;
	a->error = r->error;
	a->status = r->status;
	snprintf(a->message, sizeof a->message, "%s", r->message ? r->message : "");
	a->done = true;
}

/* The body of a POST: {"events":[...]} of the page's rows from..to-1 (their bodies, as the feed's). */
static char *batch_body(const PGresult *r, int from, int to, size_t *len)
{
	static const char head[] = "{\"events\":[", tail[] = "]}";
	size_t n = sizeof head - 1 + sizeof tail;
	for (int i = from; i < to; i++)
		n += (size_t)PQgetlength(r, i, 2) + 1;
	char *b = malloc(n), *o = b;
	if (!b)
		return NULL;
	memcpy(o, head, sizeof head - 1);
	o += sizeof head - 1;
	for (int i = from; i < to; i++) {
		if (i > from)
			*o++ = ',';
		size_t l = (size_t)PQgetlength(r, i, 2);
		memcpy(o, PQgetvalue(r, i, 2), l);
		o += l;
	}
	memcpy(o, tail, sizeof tail);
	*len = (size_t)(o - b) + sizeof tail - 1;
	return b;
}

/* Signs and POSTs a body (NULL: out of memory, a failed attempt); answers before it returns. */
static void post(struct worker *k, const struct endpoint *ep, const char *body, size_t bl, struct answer *a)
{
	const char *secret = k->cfg->webhook_secret[ep->idx];
	char t[24], mac[65], sig[120];
	snprintf(t, sizeof t, "%lld", (long long)time(NULL));
	size_t tl = strlen(t);
	char *signed_ = body ? malloc(tl + 1 + bl + 1) : NULL;
	memset(a, 0, sizeof *a);
	if (!signed_) {
		a->done = true;
		a->error = HC_PROTOCOL;
		snprintf(a->message, sizeof a->message, "out of memory");
		return;
	}
	memcpy(signed_, t, tl);
	signed_[tl] = '.';
	memcpy(signed_ + tl + 1, body, bl);
	int rc = crypto_hmac_sha256_hex(secret, strlen(secret), signed_, tl + 1 + bl, mac);
	free(signed_);
	if (rc != 0) {
		a->done = true;
		a->error = HC_PROTOCOL;
		snprintf(a->message, sizeof a->message, "cannot sign");
		return;
	}
	snprintf(sig, sizeof sig, "t=%s,v1=%s", t, mac);
	const char *h[] = {"Content-Type", "application/json", "X-Signature", sig, "User-Agent", "gatewayd-webhooks",
			   NULL};
	struct hc_request rq = {"POST", k->cfg->webhook_url[ep->idx], h, body, bl, k->cfg->webhook_timeout_ms};
	http_client_request(k->http, &rq, on_answer, a);
	while (!a->done)
		event_base_loop(k->base, EVLOOP_ONCE);
}

/* ---- records ---------------------------------------------------------------------------------- */

/* Records the cursor; next_ms < 0 keeps the claim (and extends the lease), else gives it back with the
 * next look in next_ms. False when the claim is no longer ours. */
static bool record(struct outbox_worker *w, struct worker *k, struct endpoint *ep, long long next_ms)
{
	char id[24], tick[24], thr[24], n[16], lease[24], next[24];
	snprintf(id, sizeof id, "%lld", ep->id);
	snprintf(tick, sizeof tick, "%lld", ep->tick);
	snprintf(thr, sizeof thr, "%lld", ep->through);
	snprintf(n, sizeof n, "%d", ep->unflushed);
	snprintf(lease, sizeof lease, "%lld", k->lease_ms);
	snprintf(next, sizeof next, "%lld", next_ms);
	const char *p[7] = {id, ep->token, tick, thr, n, lease, next_ms < 0 ? NULL : next};
	uint64_t at = mono_ms();
	int rc = outbox_record(w, sql_progress, 7, p, k->lease_ms / 4);
	if (rc == 1) {
		ep->unflushed = 0;
		ep->lease_end = at + (uint64_t)k->lease_ms - 1000;
		return true;
	}
	log_kv(LOG_WARN, rc == 0 ? "webhooks: the endpoint's claim was lost; another worker goes on from the last record"
				 : "webhooks: the cursor could not be recorded; the events since the last record will be sent again",
	       "url", k->cfg->webhook_url[ep->idx], NULL);
	return false;
}

static enum metric_id failure_metric(const struct answer *a)
{
	return a->error == HC_OK ? M_WEBHOOK_HTTP_ERROR : a->error == HC_TIMEOUT ? M_WEBHOOK_TIMEOUT : M_WEBHOOK_NETWORK;
}

/* A failed delivery: recorded with the pause before the next attempt, or given up if it was the event
 * alone (a POST of several is never a reason to give up its first event: it goes alone next). */
static void failed(struct outbox_worker *w, struct worker *k, struct endpoint *ep, long long ev_tick,
		   const char *ev_id, int attempts, bool alone, const struct answer *a)
{
	uint32_t rnd = 0;
	RAND_bytes((unsigned char *)&rnd, sizeof rnd);
	long long delay = outbox_backoff_ms(attempts + 1, RETRY_BASE_MS, k->cfg->webhook_retry_max_ms, rnd);
	char id[24], tick[24], thr[24], n[16], etick[24], status[16], err[240], ms[24], give[24];
	snprintf(id, sizeof id, "%lld", ep->id);
	snprintf(tick, sizeof tick, "%lld", ep->tick);
	snprintf(thr, sizeof thr, "%lld", ep->through);
	snprintf(n, sizeof n, "%d", ep->unflushed);
	snprintf(etick, sizeof etick, "%lld", ev_tick);
	snprintf(status, sizeof status, "%d", a->status);
	if (a->error == HC_OK)
		snprintf(err, sizeof err, "HTTP %d", a->status);
	else
		snprintf(err, sizeof err, "%s: %s", hc_strerror(a->error), a->message);
	snprintf(ms, sizeof ms, "%lld", delay);
	snprintf(give, sizeof give, "%lld", (long long)k->cfg->webhook_give_up_s * 1000);
	const char *p[11] = {id, ep->token, tick, thr, n, etick, ev_id, a->error == HC_OK ? status : NULL, err, ms,
			     alone ? give : NULL};
	PGresult *r = NULL;
	int rc = -1;
	for (int tries = 0; tries < 3 && rc < 0; tries++) {
		if ((r = outbox_query(w, sql_failed, 11, p))) {
			rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
			PQclear(r);
		}
	}
	metrics_add(failure_metric(a), 1);
	if (rc == 1)
		metrics_add(M_WEBHOOK_GAVE_UP, 1);
	struct log_line l;
	log_begin(&l, LOG_WARN, rc == 1 ? "webhook delivery failing past GATEWAY_WEBHOOK_GIVE_UP_AFTER: event given up"
					: "webhook delivery failed; tried again later");
	log_str(&l, "url", k->cfg->webhook_url[ep->idx]);
	log_str(&l, "event_id", ev_id);
	log_str(&l, "error", err);
	if (rc != 1)
		log_int(&l, "retry_in_ms", delay);
	if (rc < 0)
		log_str(&l, "recorded", "no: the database is away (the claim expires and the event is tried again)");
	log_end(&l);
}

/* ---- an endpoint's round ------------------------------------------------------------------------ */

/* The cursor's tick was pruned (the endpoint was away longer than the events are kept): it goes on
 * from the oldest events still kept. */
static void skip_pruned(struct outbox_worker *w, struct worker *k, struct endpoint *ep)
{
	PGresult *r = outbox_query(w, sql_oldest, 0, NULL);
	long long oldest = 0;
	if (r && db_int64(r, 0, 0, &oldest) == 0 && oldest > ep->tick) {
		log_kv(LOG_ERROR, "webhooks: the endpoint's cursor is older than the events kept (GATEWAY_EVENTS_KEEP_DAYS); "
				  "it goes on from the oldest kept", "url", k->cfg->webhook_url[ep->idx], NULL);
		ep->tick = oldest;
		ep->through = 0;
		record(w, k, ep, 0);
	}
	PQclear(r);
}

static void serve_endpoint(struct outbox_worker *w, struct worker *k, struct endpoint *ep, int attempts,
			   long long failing_id)
{
	for (;;) {
		char tick[24], thr[24], lim[8];
		snprintf(tick, sizeof tick, "%lld", ep->tick);
		snprintf(thr, sizeof thr, "%lld", ep->through);
		snprintf(lim, sizeof lim, "%d", PAGE);
		const char *p[3] = {tick, thr, lim};
		PGresult *r = outbox_query(w, sql_page, 3, p);
		if (!r) {
			skip_pruned(w, k, ep);
			return;             /* the claim expires; the round after the reconnect takes it again */
		}
		int n = PQntuples(r), sent = 0;
		for (int i = 0; i < n;) {
			long long at = 0, id = 0;
			db_int64(r, i, 0, &at);
			db_int64(r, i, 1, &id);
			if (PQgetisnull(r, i, 2)) {          /* the end of the feed */
				ep->tick = at;
				ep->through = 0;
				PQclear(r);
				record(w, k, ep, IDLE_NEXT_MS);
				return;
			}
			if (outbox_stopping(w)) {
				PQclear(r);
				record(w, k, ep, 0);
				return;
			}
			if (mono_ms() + (uint64_t)k->cfg->webhook_timeout_ms + 2000 > ep->lease_end && !record(w, k, ep, -1)) {
				PQclear(r);
				return;
			}
			/* the events waiting, up to a batch; a failing one is tried alone */
			bool retry = id == failing_id && sent == 0;
			int to = i + 1;
			while (!retry && to < n && to - i < k->cfg->webhook_batch && !PQgetisnull(r, to, 2))
				to++;
			size_t bl = 0;
			char *body = batch_body(r, i, to, &bl);
			struct answer a;
			post(k, ep, body, bl, &a);
			free(body);
			if (a.error == HC_OK && a.status >= 200 && a.status < 300) {
				metrics_add(M_WEBHOOK_OK, 1);
				metrics_add(M_WEBHOOK_EVENTS, to - i);
				db_int64(r, to - 1, 0, &ep->tick);
				db_int64(r, to - 1, 1, &ep->through);
				ep->unflushed += to - i;
				sent += to - i;
				i = to;
				if (ep->unflushed >= FLUSH_EVERY && !record(w, k, ep, -1)) {
					PQclear(r);
					return;
				}
				continue;
			}
			failed(w, k, ep, at, PQgetvalue(r, i, 1), retry ? attempts : 0, to == i + 1, &a);
			PQclear(r);
			return;
		}
		PQclear(r);
		if (n == 0) {                                /* cannot happen: the page ends with a position */
			record(w, k, ep, IDLE_NEXT_MS);
			return;
		}
	}
}

static int round_(struct outbox_worker *w, void *st)
{
	struct worker *k = st;
	if (!k->cfg->webhook_n)
		return 0;
	struct endpoint ep;
	memset(&ep, 0, sizeof ep);
	if (crypto_random_hex(ep.token, 16) != 0)
		return -1;
	char lease[24];
	snprintf(lease, sizeof lease, "%lld", k->lease_ms);
	const char *p[3] = {k->urls, ep.token, lease};
	uint64_t at = mono_ms();
	PGresult *r = outbox_query(w, sql_claim, 3, p);
	if (!r)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return 0;
	}
	db_int64(r, 0, 0, &ep.id);
	ep.idx = -1;
	for (int i = 0; i < k->cfg->webhook_n; i++)
		if (strcmp(k->cfg->webhook_url[i], PQgetvalue(r, 0, 1)) == 0)
			ep.idx = i;
	db_int64(r, 0, 2, &ep.tick);
	db_int64(r, 0, 3, &ep.through);
	PQclear(r);
	ep.lease_end = at + (uint64_t)k->lease_ms - 1000;
	if (ep.idx < 0)
		return 1;                                    /* cannot be: claimed by our URLs; its lease expires */
	/* the failing event's attempts so far, for the pause after the next failure */
	char id[24];
	snprintf(id, sizeof id, "%lld", ep.id);
	const char *q[1] = {id};
	long long attempts = 0, failing = 0;
	r = outbox_query(w, "SELECT attempts, coalesce(failing_event_id, 0) FROM webhook_endpoints WHERE id = $1::bigint",
			 1, q);
	if (r && PQntuples(r) == 1) {
		db_int64(r, 0, 0, &attempts);
		db_int64(r, 0, 1, &failing);
	}
	PQclear(r);
	serve_endpoint(w, k, &ep, (int)attempts, failing);
	return 1;
}

/* ---- gauges and pruning (thread 0) ---------------------------------------------------------------- */

static void gauges(struct outbox_worker *w, void *st)
{
	struct worker *k = st;
	if (mono_ms() >= k->pruned_at) {
		k->pruned_at = mono_ms() + PRUNE_EVERY_MS;
		char lim[16];
		snprintf(lim, sizeof lim, "%d", PRUNE_BATCH);
		const char *p[1] = {lim};
		for (int i = 0; i < 100 && !outbox_stopping(w); i++) {
			PGresult *r = outbox_query(w, sql_prune, 1, p);
			long long n = 0;
			if (r)
				db_int64(r, 0, 0, &n);
			PQclear(r);
			metrics_add(M_EVENTS_PRUNED, n);
			if (n < PRUNE_BATCH)
				break;
		}
	}
	if (!k->cfg->webhook_n)
		return;
	const char *p[1] = {k->urls};
	PGresult *r = outbox_query(w, sql_gauges, 1, p);
	long long lag = 0, failing = 0;
	if (r && PQntuples(r) == 1) {
		db_int64(r, 0, 0, &lag);
		db_int64(r, 0, 1, &failing);
		metrics_set(M_WEBHOOK_LAG, lag);
		metrics_set(M_WEBHOOK_FAILING, failing);
	}
	PQclear(r);
}

/* ---- the kind ------------------------------------------------------------------------------------- */

char *webhooks_url_array(const struct config *cfg)
{
	size_t cap = 3;
	for (int i = 0; i < cfg->webhook_n; i++)
		cap += 2 * strlen(cfg->webhook_url[i]) + 3;
	char *s = malloc(cap), *o = s;
	if (!s)
		return NULL;
	*o++ = '{';
	for (int i = 0; i < cfg->webhook_n; i++) {
		if (i)
			*o++ = ',';
		*o++ = '"';
		for (const char *c = cfg->webhook_url[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*o++ = '\\';
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return s;
}

static void close_(void *st)
{
	struct worker *k = st;
	if (k->http)
		http_client_free(k->http);
	if (k->base)
		event_base_free(k->base);
	free(k->urls);
	free(k);
}

static void *open_(struct outbox_worker *w, const struct config *cfg)
{
	(void)w;
	struct worker *k = calloc(1, sizeof *k);
	char err[256] = "";
	if (!k || !(k->urls = webhooks_url_array(cfg)) || !(k->base = http_base_new()) ||
	    !(k->http = http_client_new(k->base, cfg->ca_file, 0, err))) {
		fprintf(stderr, "gatewayd: webhooks: %s\n", *err ? err : "out of memory");
		if (k)
			close_(k);
		return NULL;
	}
	k->cfg = cfg;
	/* a POST is only started with its whole timeout (and a margin) left on the lease, which is renewed
	 * as it runs low; short, so an endpoint whose gateway was killed waits little for another one */
	k->lease_ms = 2LL * cfg->webhook_timeout_ms + 8000;
	return k;
}

static const struct outbox_kind webhook_kind = {
	.name = "webhooks",
	.listen = "webhooks",       /* nothing announces events (see schema/013_events.sql): the workers look */
	.idle_poll_ms = IDLE_NEXT_MS,
	.next_due_sql = NULL,
	.open = open_,
	.close = close_,
	.round = round_,
	.gauges = gauges,
};

int webhooks_start(const struct config *cfg)
{
	if (!cfg->events)
		return 0;
	if (cfg->webhook_workers == 0) {
		log_kv(LOG_INFO, "webhook workers off on this gateway (GATEWAY_WEBHOOK_WORKERS=0)", NULL);
		return 0;
	}
	if (!(hooks = outbox_start(cfg, &webhook_kind, cfg->webhook_n ? cfg->webhook_workers : 1)))
		return -1;
	char n[8], e[8];
	snprintf(n, sizeof n, "%d", cfg->webhook_n ? cfg->webhook_workers : 1);
	snprintf(e, sizeof e, "%d", cfg->webhook_n);
	log_kv(LOG_INFO, "webhook workers started", "workers", n, "endpoints", e, NULL);
	return 0;
}

void webhooks_stop(void)
{
	if (!hooks)
		return;
	outbox_stop(hooks);
	hooks = NULL;
	log_kv(LOG_INFO, "webhook workers stopped", NULL);
}
