/* janitor.c — periodic maintenance of web payments nobody confirmed: re-reads them from their
 * provider (a lost notification must not lose a payment) and expires the abandoned ones.
 *
 * Policy, per claimed payment (created/pending, older than GATEWAY_PENDING_RECHECK):
 *   provider says succeeded / failed / canceled -> payments_apply(..., "janitor"): booked exactly
 *       once when amount and currency match, else flagged; failed/canceled recorded;
 *   provider says pending (or does not know the payment) and the payment is older than
 *       GATEWAY_PENDING_EXPIRE -> canceled ("expired"); a late success after that is flagged for an
 *       operator by the state machine, never lost;
 *   no provider id yet (the hand-off was never recorded) or an adapter that cannot be asked ->
 *       canceled once expired;
 *   provider unreachable, or an answer the state machine cannot use -> left alone, asked again later.
 * Flagged payments are an operator's (they are not asked about again), and so are those the provider
 * still cannot settle a day past twice the expiry age.
 * A run claims at most BATCH rows with FOR UPDATE SKIP LOCKED and pushes their recheck_at forward by
 * GATEWAY_PENDING_RECHECK, so concurrent janitors of several gateways take disjoint rows; the rows
 * are then handled one after another (one provider call at a time per process).
 * After a run that went through, it counts the unsettled web payments for /metrics (how many, how
 * many are overdue: past the expiry by more than two rechecks and two runs, so the janitor has had
 * its chance; the age of the oldest), and notes the time of the run.
 * First, at the first run and then at most hourly, it has the database create the monthly partitions
 * still missing for PARTITIONS_AHEAD months (partitions_ensure(), schema/021_partitions.sql; no DDL
 * when none is missing); a failure is logged and asked again at the next run, and the run goes on. */
#include "janitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "adapter.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "payments.h"

#define BATCH 50
#define PARTITIONS_AHEAD "3"          /* months of partitions kept created ahead of the current one */
#define PARTITIONS_EVERY_MS 3600000u  /* at most this often (monotonic) once they were ensured */

static struct db_stmt q_claim = {
	"janitor_claim",
	"SELECT id, adapter, provider_txn_id, status, expired FROM janitor_claim($1::text[], $2::int, $3::int, $4::int)",
	4, 0};
static struct db_stmt q_expire = {
	"janitor_expire",
	"SELECT result, status FROM transition_payment($1::uuid, 'canceled', 'janitor', $2, $3::jsonb)", 3, 0};
static struct db_stmt q_unsettled = {
	"janitor_unsettled",
	"SELECT count(*), count(*) FILTER (WHERE created_at < now() - make_interval(secs => $1::int)),"
	" coalesce(extract(epoch FROM now() - min(created_at))::bigint, 0)"
	" FROM payments WHERE status IN ('created', 'pending') AND channel = 'web'",
	1, 0};
static struct db_stmt q_partitions = {
	"janitor_partitions", "SELECT parent, partition FROM partitions_ensure(" PARTITIONS_AHEAD ")", 0, 0};

struct item {
	char id[40];
	char adapter[40];
	char provider_id[129];
	bool has_provider_id;
	bool expired;
};

struct janitor {
	struct event_base *base;
	struct db_pool *db;
	const struct config *cfg;
	struct adapter_ctx *ctxs;
	size_t nctx;
	struct event *timer;
	char adapters[512];         /* the array literal of adapters looked after, e.g. {rbs,yookassa} */
	bool running;
	bool stopping;
	struct item *items;
	int nitems;
	int next;
	int applied, expired;       /* this run's counts, for the log */
	bool failed;                /* this run was cut short (the database or a provider answer) */
	uint64_t partitions_ms;     /* mono_ms() when partitions_ensure() last went through; 0: not yet */
};

static void next_item(struct janitor *j);

static void run_done(struct janitor *j)
{
	free(j->items);
	j->items = NULL;
	j->nitems = j->next = 0;
	j->running = false;
}

static void on_unsettled(const struct db_result *r, void *arg)
{
	struct janitor *j = arg;
	long long n, overdue, oldest;
	if (r->status == DB_OK && db_int64(r->res, 0, 0, &n) == 0 && db_int64(r->res, 0, 1, &overdue) == 0 &&
	    db_int64(r->res, 0, 2, &oldest) == 0) {
		metrics_set(M_PAYMENTS_UNSETTLED, n);
		metrics_set(M_PAYMENTS_OVERDUE, overdue);
		metrics_set(M_PAYMENTS_OLDEST_UNSETTLED, oldest);
		metrics_add(M_JANITOR_RUNS_OK, 1);
		metrics_set(M_JANITOR_LAST_SUCCESS, (int64_t)time(NULL));
	} else {
		metrics_add(M_JANITOR_RUNS_FAILED, 1);
	}
	run_done(j);
}

/* The run is over: log what it did, and count the unsettled payments when it went through. */
static void run_end(struct janitor *j)
{
	if (j->applied || j->expired) {
		char a[16], e[16], n[16];
		snprintf(a, sizeof a, "%d", j->applied);
		snprintf(e, sizeof e, "%d", j->expired);
		snprintf(n, sizeof n, "%d", j->nitems);
		log_kv(LOG_INFO, "janitor run", "checked", n, "applied", a, "expired", e, NULL);
	}
	if (j->failed || j->stopping) {     /* a run cut short by shutdown is not a failure */
		if (j->failed)
			metrics_add(M_JANITOR_RUNS_FAILED, 1);
		run_done(j);
		return;
	}
	char overdue[24];
	snprintf(overdue, sizeof overdue, "%ld",
		 j->cfg->pending_expire + 2 * j->cfg->pending_recheck + 2L * j->cfg->janitor_interval);
	const char *p[1] = {overdue};
	db_exec(j->db, &q_unsettled, p, 1, on_unsettled, j);
}

static struct adapter_ctx *ctx_of(struct janitor *j, const char *name)
{
	for (size_t i = 0; i < j->nctx; i++)
		if (j->ctxs[i].adapter && strcmp(j->ctxs[i].adapter->name, name) == 0)
			return &j->ctxs[i];
	return NULL;
}

static void on_expired(const struct db_result *r, void *arg)
{
	struct janitor *j = arg;
	struct item *it = &j->items[j->next - 1];
	if (r->status != DB_OK) {
		j->failed = true;
		run_end(j);             /* the database is away: try again next run */
		return;
	}
	const char *res = db_value(r->res, 0, 0);
	if (res && strcmp(res, "ok") == 0) {
		j->expired++;
		metrics_add(M_JANITOR_EXPIRED, 1);
		log_kv(LOG_INFO, "payment expired unpaid", "payment", it->id, "adapter", it->adapter, NULL);
	}
	next_item(j);
}

static void expire(struct janitor *j, struct item *it, const char *why)
{
	char reason[200];
	snprintf(reason, sizeof reason, "expired: %s within %ld s", why, j->cfg->pending_expire);
	const char *p[3] = {it->id, reason, NULL};
	db_exec(j->db, &q_expire, p, 3, on_expired, j);
}

static void on_applied(const struct payment_answer *a, void *arg)
{
	struct janitor *j = arg;
	struct item *it = &j->items[j->next - 1];
	if (a->status == 200) {
		const char *result = json_string_value(json_object_get(a->body, "result"));
		if (result && (strcmp(result, "booked") == 0 || strcmp(result, "ok") == 0 || strcmp(result, "flagged") == 0)) {
			j->applied++;
			metrics_add(M_JANITOR_APPLIED, 1);
		}
	} else {
		log_kv(LOG_WARN, "janitor could not apply a provider status", "payment", it->id, NULL);
	}
	if (a->status == 503)
		j->failed = true;
	if (a->status == 503 || j->stopping)
		run_end(j);
	else
		next_item(j);
}

static void on_status(struct adapter_reply *rep, void *arg)
{
	struct janitor *j = arg;
	struct item *it = &j->items[j->next - 1];
	if (j->stopping) {
		run_end(j);
		return;
	}
	if (rep->outcome == AO_OK && (rep->status == AS_SUCCEEDED || rep->status == AS_FAILED || rep->status == AS_CANCELED)) {
		/* the provider's id is the one we asked about, whatever the reply says */
		snprintf(rep->provider_id, sizeof rep->provider_id, "%s", it->provider_id);
		payments_apply(j->db, it->adapter, rep, "janitor", on_applied, j);
	} else if (it->expired && rep->outcome == AO_OK && rep->status == AS_PENDING) {
		expire(j, it, "not paid");
	} else if (it->expired && rep->outcome == AO_ERROR && strcmp(rep->code, "not_found") == 0) {
		expire(j, it, "unknown to the provider, not paid");
	} else {
		if (rep->outcome != AO_OK || rep->status == AS_UNKNOWN)
			log_kv(LOG_WARN, "janitor: the provider status is not usable now", "payment", it->id, "adapter",
			       it->adapter, "reason", rep->message, NULL);
		next_item(j);
	}
}

/* Handles the next claimed payment, or ends the run. Every path continues from a callback. */
static void next_item(struct janitor *j)
{
	while (j->next < j->nitems && !j->stopping) {
		struct item *it = &j->items[j->next++];
		struct adapter_ctx *ctx = ctx_of(j, it->adapter);
		if (ctx && it->has_provider_id && ctx->adapter->fetch_status) {
			ctx->adapter->fetch_status(ctx, it->provider_id, on_status, j);
			return;
		}
		if (it->expired) {
			expire(j, it, it->has_provider_id ? "not confirmed" : "never handed to the provider");
			return;
		}
	}
	run_end(j);
}

static void on_claimed(const struct db_result *r, void *arg)
{
	struct janitor *j = arg;
	if (r->status != DB_OK || j->stopping) {
		j->failed = r->status != DB_OK;
		run_end(j);
		return;
	}
	int n = PQntuples(r->res);
	j->items = n ? calloc((size_t)n, sizeof *j->items) : NULL;
	if (!j->items) {
		j->failed = n > 0;
		run_end(j);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct item *it = &j->items[i];
		const char *pid = db_value(r->res, i, 2);
		snprintf(it->id, sizeof it->id, "%s", db_value(r->res, i, 0));
		snprintf(it->adapter, sizeof it->adapter, "%s", db_value(r->res, i, 1));
		it->has_provider_id = pid && *pid && strlen(pid) < sizeof it->provider_id;
		if (it->has_provider_id)
			snprintf(it->provider_id, sizeof it->provider_id, "%s", pid);
		const char *e = db_value(r->res, i, 4);
		it->expired = e && strcmp(e, "true") == 0;
	}
	j->nitems = n;
	j->next = 0;
	next_item(j);
}

/* The run proper: claims a batch of unconfirmed web payments. */
static void claim(struct janitor *j)
{
	char recheck[24], expire_s[24], batch[16];
	snprintf(recheck, sizeof recheck, "%ld", j->cfg->pending_recheck);
	snprintf(expire_s, sizeof expire_s, "%ld", j->cfg->pending_expire);
	snprintf(batch, sizeof batch, "%d", BATCH);
	const char *p[4] = {j->adapters, recheck, expire_s, batch};
	db_exec(j->db, &q_claim, p, 4, on_claimed, j);
}

/* partitions_ensure() answered: the created ones logged, or the failure (due again next run). */
static void on_partitions(const struct db_result *r, void *arg)
{
	struct janitor *j = arg;
	if (r->status == DB_OK) {
		j->partitions_ms = mono_ms();
		for (int i = 0; i < PQntuples(r->res); i++)
			log_kv(LOG_INFO, "partition created", "parent", db_value(r->res, i, 0), "partition",
			       db_value(r->res, i, 1), NULL);
	} else {
		log_kv(LOG_WARN, "janitor could not create the coming months' partitions", "reason", r->message, NULL);
	}
	if (j->stopping)
		run_done(j);
	else
		claim(j);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct janitor *j = arg;
	if (j->running || j->stopping)
		return;
	j->running = true;
	j->failed = false;
	j->applied = j->expired = 0;
	if (!j->partitions_ms || mono_ms() - j->partitions_ms >= PARTITIONS_EVERY_MS)
		db_exec(j->db, &q_partitions, NULL, 0, on_partitions, j);
	else
		claim(j);
}

struct janitor *janitor_start(struct event_base *base, struct db_pool *db, const struct config *cfg,
			      struct adapter_ctx *ctxs, size_t nctx)
{
	if (cfg->janitor_interval <= 0)
		return NULL;
	struct janitor *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->base = base;
	j->db = db;
	j->cfg = cfg;
	j->ctxs = ctxs;
	j->nctx = nctx;
	size_t len = 0;
	j->adapters[len++] = '{';
	for (size_t i = 0; i < nctx; i++) {
		const struct adapter *a = ctxs[i].adapter;
		if (!a || a->kind == ADAPTER_TERMINAL || strlen(a->name) + len + 3 >= sizeof j->adapters)
			continue;
		len += (size_t)snprintf(j->adapters + len, sizeof j->adapters - len, "%s%s", len > 1 ? "," : "", a->name);
	}
	j->adapters[len++] = '}';
	j->adapters[len] = '\0';
	j->timer = event_new(base, -1, EV_PERSIST, on_timer, j);
	struct timeval tv = {cfg->janitor_interval, 0};
	if (!j->timer || event_add(j->timer, &tv) != 0) {
		janitor_free(j);
		return NULL;
	}
	return j;
}

void janitor_stop(struct janitor *j)
{
	if (!j)
		return;
	j->stopping = true;
	event_del(j->timer);
}

bool janitor_busy(const struct janitor *j)
{
	return j && j->running;
}

void janitor_free(struct janitor *j)
{
	if (!j)
		return;
	if (j->timer)
		event_free(j->timer);
	free(j->items);
	free(j);
}
