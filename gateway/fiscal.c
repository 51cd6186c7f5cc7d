/* fiscal.c — fiscal documents (54-FZ): the fiscal kind of the outbox (outbox.c). A round gives back
 * claims whose lease expired, claims due documents (pending ones to register, registered ones whose
 * result is due), hands each to the cashbox (adapters/cashbox.h: ATOL Online, the sandbox) and records
 * the outcome through fiscal_outcome() (schema/010_fiscal.sql) while the claim is still ours. A
 * document's external_id is the cashbox's idempotency key, so a repeat after a lost answer or a
 * crash never makes a second document. */
#include "fiscal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "cashbox.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

#define BATCH 4                   /* documents claimed at once by one thread */
#define RETRY_BASE_MS 5000
#define RETRY_MAX_MS 600000

static const struct cashbox *cashbox;
static struct outbox *fiscal_outbox;
static int64_t shown[5], shown_oldest, shown_overdue;

struct worker {
	const struct config *cfg;
	void *cb;                 /* the cashbox's per-thread state */
	long long lease_ms;
};

static const char sql_recover[] = "SELECT external_id, state FROM fiscal_recover()";
static const char sql_claim[] = "SELECT coalesce(array_agg(c), '{}')::text FROM fiscal_claim($1::int, $2::bigint) c";
/* a second statement: it sees what the claim committed (see mailer.c) */
static const char sql_claimed[] =
	"SELECT id, kind, external_id, coalesce(uuid, ''), amount, coalesce(email, ''), coalesce(phone, ''), contract,"
	" attempts, polls, state, to_char(created_at AT TIME ZONE $1::text, 'DD.MM.YYYY HH24:MI:SS')"
	" FROM fiscal_documents WHERE id = ANY ($2::bigint[]) ORDER BY id";
static const char sql_outcome[] =
	"SELECT fiscal_outcome($1::bigint, $2, $3::int, $4::int, $5, $6, $7::bigint, $8::int, $9, $10::jsonb)";
static const char sql_next[] =
	"SELECT (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::bigint FROM fiscal_documents"
	" WHERE state IN ('pending', 'sending', 'registered', 'polling')";
static const char sql_gauges[] =
	"SELECT count(*) FILTER (WHERE state IN ('pending', 'sending')),"
	" count(*) FILTER (WHERE state IN ('registered', 'polling')),"
	" count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'failed' AND NOT superseded),"
	" count(*) FILTER (WHERE state = 'fail'),"
	" coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE state IN ('pending', 'sending', 'registered',"
	" 'polling')))::bigint, 0),"
	" count(*) FILTER (WHERE state IN ('registered', 'polling') AND created_at < now() - interval '"
	"32 days')"
	" FROM fiscal_documents";

static const char *outcome_name(enum cashbox_outcome o)
{
	switch (o) {
	case CB_REGISTERED: return "registered";
	case CB_WAIT: return "wait";
	case CB_DONE: return "done";
	case CB_RETRY: return "retry";
	case CB_FAILED: return "failed";
	case CB_FAIL: return "fail";
	}
	return "retry";
}

static enum metric_id outcome_metric(enum cashbox_outcome o)
{
	switch (o) {
	case CB_REGISTERED: return M_FISCAL_REGISTERED;
	case CB_WAIT: return M_FISCAL_WAIT;
	case CB_DONE: return M_FISCAL_DONE;
	case CB_FAILED: return M_FISCAL_FAILED;
	case CB_FAIL: return M_FISCAL_FAIL;
	case CB_RETRY: break;
	}
	return M_FISCAL_RETRY;
}

/* The fiscal data as fiscal_outcome() reads it. A new string (caller frees) or NULL. */
static char *data_json(const struct cashbox_result *r)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "fn_number", r->fn_number,
			      "fiscal_document_number", r->fiscal_document_number, "fiscal_document_attribute",
			      r->fiscal_document_attribute, "fiscal_receipt_number", r->fiscal_receipt_number, "shift_number",
			      r->shift_number, "ecr_registration_number", r->ecr_registration_number, "receipt_datetime",
			      r->receipt_datetime, "tz", r->tz, "fns_site", r->fns_site, "ofd_inn", r->ofd_inn, "total",
			      (json_int_t)r->total);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

static void handle(struct outbox_worker *w, struct worker *f, const struct fiscal_doc *d, const char *state)
{
	struct cashbox_result r;
	memset(&r, 0, sizeof r);
	bool registering = strcmp(state, "sending") == 0;
	if (registering)
		cashbox->register_doc(f->cb, d, &r);
	else
		cashbox->report(f->cb, d, &r);
	metrics_add(outcome_metric(r.outcome), 1);

	const char *outcome = outcome_name(r.outcome);
	long long delay = r.delay_ms;
	if (r.outcome == CB_WAIT) {
		outcome = "registered";          /* still waiting: ask again later, sooner than the first time */
		if (!delay) {
			delay = 5000LL << (d->polls < 6 ? d->polls : 6);
			if (delay > f->cfg->atol_poll_after_ms)
				delay = f->cfg->atol_poll_after_ms;
		}
	} else if (r.outcome == CB_RETRY && !delay) {
		uint32_t rnd = 0;
		RAND_bytes((unsigned char *)&rnd, sizeof rnd);
		delay = outbox_backoff_ms(registering ? d->attempts : d->polls, RETRY_BASE_MS, RETRY_MAX_MS, rnd);
	}
	char *data = r.outcome == CB_DONE ? data_json(&r) : NULL;
	char id[24], att[16], polls[16], ms[24], code[16];
	snprintf(id, sizeof id, "%lld", d->id);
	snprintf(att, sizeof att, "%d", d->attempts);
	snprintf(polls, sizeof polls, "%d", d->polls);
	snprintf(ms, sizeof ms, "%lld", delay);
	snprintf(code, sizeof code, "%d", r.code);
	const char *p[10] = {id, state, att, polls, outcome, *r.uuid ? r.uuid : NULL, ms, r.code ? code : NULL,
			     *r.error ? r.error : NULL, data};
	int rec = outbox_record(w, sql_outcome, 10, p, f->lease_ms / 2);
	free(data);

	struct log_line l;
	enum log_level lvl = r.outcome == CB_DONE || r.outcome == CB_REGISTERED || r.outcome == CB_WAIT ? LOG_INFO : LOG_WARN;
	log_begin(&l, lvl, r.outcome == CB_FAIL     ? "fiscal document failed at the cashbox"
			   : r.outcome == CB_FAILED ? "fiscal document refused by the cashbox; fix the configuration, then resend"
						    : "fiscal document");
	log_str(&l, "external_id", d->external_id);
	log_str(&l, "kind", d->kind);
	log_str(&l, "outcome", outcome_name(r.outcome));
	log_str(&l, "uuid", *r.uuid ? r.uuid : NULL);
	if (r.code)
		log_int(&l, "code", r.code);
	log_str(&l, "error", *r.error ? r.error : NULL);
	if (rec != 1)
		log_str(&l, "recorded", rec == 0 ? "no: the claim had expired" : "no: the database is away");
	log_end(&l);
}

static int recover(struct outbox_worker *w)
{
	return outbox_recover(w, sql_recover, "fiscal: a document's claim expired; it is handled again", "external_id", "state");
}

static void copy(char *dst, size_t n, const PGresult *r, int row, int col)
{
	snprintf(dst, n, "%s", PQgetvalue(r, row, col));
}

static int round_(struct outbox_worker *w, void *st)
{
	struct worker *f = st;
	if (recover(w) != 0)
		return -1;
	PGresult *r = outbox_claim(w, sql_claim, BATCH, f->lease_ms, sql_claimed, f->cfg->receipt_tz);
	if (!r)
		return -1;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct fiscal_doc d;
		char state[16];
		memset(&d, 0, sizeof d);
		long long v = 0;
		db_int64(r, i, 0, &d.id);
		copy(d.kind, sizeof d.kind, r, i, 1);
		copy(d.external_id, sizeof d.external_id, r, i, 2);
		copy(d.uuid, sizeof d.uuid, r, i, 3);
		db_int64(r, i, 4, &v);
		d.amount = v;
		copy(d.email, sizeof d.email, r, i, 5);
		copy(d.phone, sizeof d.phone, r, i, 6);
		copy(d.contract, sizeof d.contract, r, i, 7);
		db_int64(r, i, 8, &v);
		d.attempts = (int)v;
		db_int64(r, i, 9, &v);
		d.polls = (int)v;
		copy(state, sizeof state, r, i, 10);
		copy(d.timestamp, sizeof d.timestamp, r, i, 11);
		if (outbox_stopping(w))
			continue;                 /* its lease expires and a worker takes it again */
		handle(w, f, &d, state);
	}
	PQclear(r);
	return n;
}

static void gauges(struct outbox_worker *w, void *st)
{
	(void)st;
	PGresult *r = outbox_query(w, sql_gauges, 0, NULL);
	static const enum metric_id ids[5] = {M_FISCAL_DOCS_PENDING, M_FISCAL_DOCS_REGISTERED, M_FISCAL_DOCS_DONE,
					      M_FISCAL_DOCS_FAILED, M_FISCAL_DOCS_FAIL};
	if (r && PQntuples(r) == 1) {
		for (int i = 0; i < 5; i++) {
			long long v = 0;
			db_int64(r, 0, i, &v);
			metrics_add(ids[i], v - shown[i]);
			shown[i] = v;
		}
		long long v = 0;
		db_int64(r, 0, 5, &v);
		metrics_add(M_FISCAL_OLDEST_UNFINISHED, v - shown_oldest);
		shown_oldest = v;
		v = 0;
		db_int64(r, 0, 6, &v);
		metrics_add(M_FISCAL_OVERDUE, v - shown_overdue);
		shown_overdue = v;
	}
	PQclear(r);
}

static void *open_(struct outbox_worker *w, const struct config *cfg)
{
	(void)w;
	struct worker *f = calloc(1, sizeof *f);
	char err[256] = "";
	if (!f || !(f->cb = cashbox->open(cfg, err))) {
		fprintf(stderr, "gatewayd: fiscal: %s\n", *err ? err : "out of memory");
		free(f);
		return NULL;
	}
	f->cfg = cfg;
	/* a batch of documents, each up to two calls of the provider timeout, plus the report pacing */
	f->lease_ms = (long long)BATCH * (2LL * cfg->provider_timeout_ms + 2000) + 60000;
	return f;
}

static void close_(void *st)
{
	struct worker *f = st;
	cashbox->close(f->cb);
	free(f);
}

static const struct outbox_kind fiscal_kind = {
	.name = "fiscal",
	.listen = "fiscal",
	.idle_poll_ms = 1000,        /* new documents are not announced (see schema/011_fiscal_lean.sql) */
	.next_due_sql = sql_next,
	.open = open_,
	.close = close_,
	.round = round_,
	.gauges = gauges,
};

int fiscal_start(const struct config *cfg, const struct cashbox *cb)
{
	cashbox = cb;
	if (!cb) {
		log_kv(LOG_INFO, "fiscal documents: none sent by this gateway", "mode", cfg->fiscal, NULL);
		return 0;
	}
	if (cfg->fiscal_workers == 0) {
		log_kv(LOG_INFO, "fiscal workers off on this gateway (GATEWAY_FISCAL_WORKERS=0)", NULL);
		return 0;
	}
	if (!(fiscal_outbox = outbox_start(cfg, &fiscal_kind, cfg->fiscal_workers)))
		return -1;
	char n[8];
	snprintf(n, sizeof n, "%d", cfg->fiscal_workers);
	log_kv(LOG_INFO, "fiscal workers started", "workers", n, "cashbox", cb->name, NULL);
	return 0;
}

void fiscal_stop(void)
{
	if (!fiscal_outbox)
		return;
	outbox_stop(fiscal_outbox);
	fiscal_outbox = NULL;
	log_kv(LOG_INFO, "fiscal workers stopped", NULL);
}
