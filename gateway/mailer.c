/* mailer.c — receipts by mail: the mail kind of the outbox (outbox.c). A round gives back claims
 * whose lease expired, claims a batch of due receipts (state pending -> sending, attempts + 1,
 * next_attempt_at = lease end) with FOR UPDATE SKIP LOCKED in one autocommit statement, delivers each
 * through its thread's mail sender (mail_send.c: a libcurl handle kept between mails, so the SMTP
 * connection is reused) and records the outcome (sent / pending again with a backoff / failed).
 * Outcomes are recorded only while the claim is still ours (same state and attempt number), so a late
 * mailer never overwrites a newer one. */
#include "mailer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "mail_send.h"
#include "metrics.h"
#include "outbox.h"
#include "receipts.h"

#define BATCH 8                  /* receipts claimed at once by one thread */

struct mailer {
	const struct config *cfg;
	struct mail_sender *send;
	long long lease_ms;
};

static struct outbox *mail_outbox;
static bool send_ready;
static int64_t shown_pending, shown_failed;   /* gauge values published by thread 0 */

/* Every write is a function of schema/009_roles.sql: the service role writes no table itself. */
static const char sql_recover[] = "SELECT number, attempts FROM receipt_recover()";
/* Two statements, not one join: the claim runs in the function with a snapshot newer than the
 * calling statement's, which might not yet see the payment of a receipt it just claimed. */
static const char sql_claim[] = "SELECT coalesce(array_agg(id), '{}')::text FROM receipt_claim($1::int, $2::bigint)";
static const char sql_claimed[] =
	"SELECT " RECEIPT_COLUMNS " FROM receipts r JOIN payments p ON p.id = r.payment_id "
	"JOIN accounts a ON a.id = p.account_id" RECEIPT_FISCAL_JOIN "WHERE r.id = ANY ($2::bigint[])";
static const char sql_sent[] = "SELECT receipt_outcome($1::bigint, $2::int, 'sent', 0, NULL)";
static const char sql_retry[] = "SELECT receipt_outcome($1::bigint, $2::int, 'pending', $3::bigint, $4)";
static const char sql_failed[] = "SELECT receipt_outcome($1::bigint, $2::int, 'failed', 0, $3)";
static const char sql_release[] = "SELECT receipt_outcome($1::bigint, $2::int, 'released', 0, NULL)";

static const char sql_next[] =
	"SELECT (extract(epoch FROM least((SELECT min(next_attempt_at) FROM receipts WHERE state = 'pending'), "
	"(SELECT min(next_attempt_at) FROM receipts WHERE state = 'sending')) - now()) * 1000)::bigint";
static const char sql_gauges[] =
	"SELECT (SELECT count(*) FROM receipts WHERE state = 'pending'), "
	"(SELECT count(*) FROM receipts WHERE state = 'failed')";

/* Records an outcome; keeps trying through a lost connection for about half a lease, since a mail
 * that was sent but not recorded is sent again once the lease expires. */
static void record(struct outbox_worker *w, struct mailer *m, const struct receipt *rc, const char *sql,
		   const char *const *params, int n)
{
	int r = outbox_record(w, sql, n, params, m->lease_ms / 2);
	if (r == 0)
		log_kv(LOG_WARN, "mailer: the claim on the receipt expired before its outcome was recorded", "receipt",
		       rc->number, NULL);
	else if (r < 0)
		log_kv(LOG_ERROR, "mailer: could not record the receipt's delivery outcome; it may be mailed again",
		       "receipt", rc->number, NULL);
}

/* Delivers one claimed receipt and records the outcome. */
static void process(struct outbox_worker *w, struct mailer *m, const struct receipt *rc)
{
	uint64_t t0 = mono_ms();
	char err[512] = "";
	const char *loggable = "";
	enum mail_outcome out = mail_send(m->send, rc, err, sizeof err, &loggable);
	long long delay = 0;
	if (out == MAIL_RETRY && rc->attempts >= m->cfg->mail_max_attempts) {
		char last[sizeof err];
		snprintf(last, sizeof last, "%s", err);
		snprintf(err, sizeof err, "gave up after %d attempts: %.400s", rc->attempts, last);
		out = MAIL_FAILED;
	}
	char id[24], att[16], ms[24];
	snprintf(id, sizeof id, "%lld", rc->id);
	snprintf(att, sizeof att, "%d", rc->attempts);
	const char *params[4] = {id, att, NULL, NULL};
	struct log_line l;
	if (out == MAIL_SENT) {
		log_begin(&l, LOG_INFO, "receipt mailed");
		metrics_add(M_MAIL_SENT, 1);
		record(w, m, rc, sql_sent, params, 2);
	} else if (out == MAIL_RETRY) {
		uint32_t rnd = 0;
		if (RAND_bytes((unsigned char *)&rnd, sizeof rnd) != 1)
			rnd = (uint32_t)t0;
		delay = outbox_backoff_ms(rc->attempts, m->cfg->mail_retry_base_ms, m->cfg->mail_retry_max_ms, rnd);
		snprintf(ms, sizeof ms, "%lld", delay);
		params[2] = ms;
		params[3] = err;
		log_begin(&l, LOG_WARN, "receipt mail failed; will retry");
		metrics_add(M_MAIL_RETRIED, 1);
		record(w, m, rc, sql_retry, params, 4);
	} else {
		params[2] = err;
		log_begin(&l, LOG_WARN, "receipt mail failed permanently");
		metrics_add(M_MAIL_FAILED, 1);
		record(w, m, rc, sql_failed, params, 3);
	}
	/* The number, never the address: the server's reply may quote the address, so it stays in the
	 * database (internal API) and only libcurl's own message is logged. */
	log_str(&l, "receipt", rc->number);
	log_str(&l, "payment", rc->payment_id);
	log_int(&l, "attempt", rc->attempts);
	log_int(&l, "ms", (long long)(mono_ms() - t0));
	if (out != MAIL_SENT)
		log_str(&l, "error", loggable[0] ? loggable : err);
	if (out == MAIL_RETRY)
		log_int(&l, "retry_in_ms", delay);
	log_end(&l);
}

/* Gives claims back whose lease has expired (their mailer died or hung): the documented window in
 * which a mail can go out twice. */
static int recover(struct outbox_worker *w)
{
	return outbox_recover(w, sql_recover, "mailer: a receipt's delivery was interrupted; it will be mailed again", "receipt", "attempts");
}

/* One claim-and-deliver round. Returns the number of receipts claimed, or -1 on a database error. */
static int round_(struct outbox_worker *w, void *st)
{
	struct mailer *m = st;
	if (recover(w) != 0)
		return -1;
	PGresult *r = outbox_claim(w, sql_claim, BATCH, m->lease_ms, sql_claimed, m->cfg->receipt_tz);
	if (!r)
		return -1;
	int n = PQntuples(r);
	struct receipt *rcs = n ? calloc((size_t)n, sizeof *rcs) : NULL;
	if (n && !rcs) {
		PQclear(r);
		return -1;          /* the claims expire and are recovered */
	}
	int ok = 0;
	for (int i = 0; i < n; i++)
		if (receipt_from_row(r, i, &rcs[ok]) == 0)
			ok++;
	PQclear(r);
	for (int i = 0; i < ok; i++) {
		if (outbox_stopping(w)) {
			char id[24], att[16];
			snprintf(id, sizeof id, "%lld", rcs[i].id);
			snprintf(att, sizeof att, "%d", rcs[i].attempts);
			const char *p[] = {id, att};
			PGresult *x = outbox_query(w, sql_release, 2, p);
			PQclear(x);
			continue;
		}
		process(w, m, &rcs[i]);
	}
	free(rcs);
	return n;
}

static void gauges(struct outbox_worker *w, void *st)
{
	(void)st;
	PGresult *r = outbox_query(w, sql_gauges, 0, NULL);
	long long pending, failed;
	if (r && db_int64(r, 0, 0, &pending) == 0 && db_int64(r, 0, 1, &failed) == 0) {
		metrics_add(M_RECEIPTS_PENDING, pending - shown_pending);
		metrics_add(M_RECEIPTS_FAILED, failed - shown_failed);
		shown_pending = pending;
		shown_failed = failed;
	}
	PQclear(r);
}

static void *open_(struct outbox_worker *w, const struct config *cfg)
{
	struct mailer *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cfg = cfg;
	m->lease_ms = (long long)BATCH * cfg->mail_timeout_ms + 60000;
	if (!(m->send = mail_sender_new(cfg, outbox_hard_stop(w)))) {
		fprintf(stderr, "gatewayd: cannot set up libcurl for GATEWAY_MAIL_URL\n");
		free(m);
		return NULL;
	}
	return m;
}

static void close_(void *st)
{
	struct mailer *m = st;
	mail_sender_free(m->send);
	free(m);
}

static const struct outbox_kind mail_kind = {
	.name = "mailer",
	.listen = "receipts",
	.next_due_sql = sql_next,
	.open = open_,
	.close = close_,
	.round = round_,
	.gauges = gauges,
};

int mailer_start(const struct config *cfg)
{
	if (cfg->mail_workers == 0) {
		log_kv(LOG_INFO, "mailer off on this gateway (GATEWAY_MAIL_WORKERS=0)", NULL);
		return 0;
	}
	if (mail_send_init(cfg) != 0)
		return -1;
	send_ready = true;
	if (!(mail_outbox = outbox_start(cfg, &mail_kind, cfg->mail_workers)))
		return -1;
	char n[8];
	snprintf(n, sizeof n, "%d", cfg->mail_workers);
	log_kv(LOG_INFO, "mailer started", "workers", n, "mode",
	       strncmp(cfg->mail_url, "file://", 7) == 0 ? "file" : strncmp(cfg->mail_url, "smtps://", 8) == 0 ? "smtps" : "smtp",
	       NULL);
	return 0;
}

void mailer_stop(void)
{
	bool was = mail_outbox != NULL;
	outbox_stop(mail_outbox);
	mail_outbox = NULL;
	if (send_ready)
		mail_send_cleanup();
	send_ready = false;
	if (was)
		log_kv(LOG_INFO, "mailer stopped", NULL);
}
