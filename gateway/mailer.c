/* mailer.c — the receipt mailer threads. Each thread owns one blocking PostgreSQL connection (which
 * also LISTENs on "receipts") and one mail sender (mail_send.c: a libcurl handle kept between mails,
 * so the SMTP connection is reused). A cycle: give back claims whose lease expired, claim a batch of due receipts (state
 * pending -> sending, attempts + 1, next_attempt_at = lease end) with FOR UPDATE SKIP LOCKED in one
 * autocommit statement, deliver each, record the outcome (sent / pending again with a backoff /
 * failed), then sleep in poll() on the connection's socket and a stop pipe until a NOTIFY, the next
 * due time, or shutdown. Outcomes are recorded only while the claim is still ours (same state and
 * attempt number), so a late mailer never overwrites a newer one. */
#include "mailer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/rand.h>

#include "clock.h"
#include "crypto.h"
#include "db.h"
#include "ident.h"
#include "log.h"
#include "mail_send.h"
#include "metrics.h"
#include "receipt_render.h"
#include "receipts.h"

#define BATCH 8                  /* receipts claimed at once by one thread */
#define IDLE_POLL_MS 30000       /* longest sleep: a safety net should a NOTIFY be missed */
#define GAUGES_EVERY_MS 5000     /* how often thread 0 refreshes the outbox gauges */
#define DB_RETRY_MAX_MS 30000    /* longest wait between reconnects */

struct mailer {
	const struct config *cfg;
	int idx;
	pthread_t thread;
	bool started;
	PGconn *pg;
	struct mail_sender *send;
	long long lease_ms;
	uint64_t gauges_at;
};

static struct {
	const struct config *cfg;
	int pipe[2];              /* written once at stop; stays readable, so every thread's poll wakes */
	atomic_bool stop;
	_Atomic uint64_t hard_stop_ms;   /* after this (monotonic ms), a running transfer is aborted */
	int n;
	struct mailer *m;
	bool send_ready;
	int64_t shown_pending, shown_failed;   /* gauge values published by thread 0 */
} g = {.pipe = {-1, -1}};

static bool stopping(void) { return atomic_load(&g.stop); }

long long mailer_backoff_ms(int attempts, long long base_ms, long long max_ms, uint32_t rnd)
{
	long long d = base_ms;
	for (int i = 1; i < attempts && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	long long half = d / 2;
	return d - half + (long long)(rnd % (uint64_t)(half + 1));
}

/* Sleeps up to ms, returning early at shutdown. */
static void nap(long long ms)
{
	struct pollfd p = {g.pipe[0], POLLIN, 0};
	if (!stopping())
		poll(&p, 1, (int)(ms > INT_MAX ? INT_MAX : ms));
}

/* ---- database --------------------------------------------------------------------------- */

static void db_drop(struct mailer *m)
{
	PQfinish(m->pg);
	m->pg = NULL;
}

/* One line of libpq's error text for logs. */
static void one_line(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	size_t n = strlen(dst);
	while (n && dst[n - 1] == ' ')
		dst[--n] = '\0';
}

/* libpq would print notices (e.g. "terminating connection due to administrator command") on stderr;
 * they join the JSON log instead. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	char msg[256];
	one_line(msg, sizeof msg, message);
	log_kv(LOG_INFO, "mailer: database notice", "notice", msg, NULL);
}

static int db_connect(struct mailer *m)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
			      "keepalives_count", "tcp_user_timeout", NULL};
	const char *vals[] = {m->cfg->database_url, "5", "gatewayd-mailer", "15", "5", "3", "30000", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		char msg[256];
		one_line(msg, sizeof msg, c ? PQerrorMessage(c) : "out of memory");
		log_kv(LOG_WARN, "mailer: cannot connect to the database", "error", msg, NULL);
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, on_notice, NULL);
	/* Bounded statements; LISTEN before the first claim so no NOTIFY falls between the two. */
	PGresult *r = PQexec(c, "SET statement_timeout = '30s'; SET lock_timeout = '10s'; LISTEN receipts");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char msg[256];
		one_line(msg, sizeof msg, PQresultErrorMessage(r));
		log_kv(LOG_WARN, "mailer: cannot prepare the database connection", "error", msg, NULL);
		PQclear(r);
		PQfinish(c);
		return -1;
	}
	PQclear(r);
	m->pg = c;
	return 0;
}

/* Runs sql; returns the result when its status is `want` (caller clears), else NULL (logged; the
 * connection is dropped when it broke). */
static PGresult *q(struct mailer *m, const char *sql, int n, const char *const *params, ExecStatusType want)
{
	if (!m->pg)
		return NULL;
	PGresult *r = PQexecParams(m->pg, sql, n, NULL, params, NULL, NULL, 0);
	if (r && PQresultStatus(r) == want)
		return r;
	char msg[256];
	one_line(msg, sizeof msg, r ? PQresultErrorMessage(r) : PQerrorMessage(m->pg));
	log_kv(LOG_WARN, "mailer: database statement failed", "error", msg, NULL);
	PQclear(r);
	if (PQstatus(m->pg) != CONNECTION_OK)
		db_drop(m);
	return NULL;
}

/* Every write is a function of schema/009_roles.sql: the service role writes no table itself. */
static const char sql_recover[] = "SELECT number, attempts FROM receipt_recover()";
/* Two statements, not one join: the claim runs in the function with a snapshot newer than the
 * calling statement's, which might not yet see the payment of a receipt it just claimed. */
static const char sql_claim[] = "SELECT coalesce(array_agg(id), '{}')::text FROM receipt_claim($1::int, $2::bigint)";
static const char sql_claimed[] =
	"SELECT " RECEIPT_COLUMNS " FROM receipts r JOIN payments p ON p.id = r.payment_id "
	"JOIN accounts a ON a.id = p.account_id WHERE r.id = ANY ($2::bigint[])";
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

/* Records an outcome; keeps trying through a lost connection for about a lease, since a mail that
 * was sent but not recorded is sent again once the lease expires. */
static void record(struct mailer *m, const struct receipt *rc, const char *sql, const char *const *params, int n)
{
	uint64_t deadline = mono_ms() + (uint64_t)m->lease_ms / 2;
	for (int tries = 0;; tries++) {
		if (m->pg || db_connect(m) == 0) {
			PGresult *r = q(m, sql, n, params, PGRES_TUPLES_OK);
			if (r) {
				if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0)
					log_kv(LOG_WARN, "mailer: the claim on the receipt expired before its outcome was recorded",
					       "receipt", rc->number, NULL);
				PQclear(r);
				return;
			}
		}
		if (mono_ms() > deadline || (stopping() && tries >= 2)) {
			log_kv(LOG_ERROR, "mailer: could not record the receipt's delivery outcome; it may be mailed again",
			       "receipt", rc->number, NULL);
			return;
		}
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
}

/* Delivers one claimed receipt and records the outcome. */
static void process(struct mailer *m, const struct receipt *rc)
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
		record(m, rc, sql_sent, params, 2);
	} else if (out == MAIL_RETRY) {
		uint32_t rnd = 0;
		if (RAND_bytes((unsigned char *)&rnd, sizeof rnd) != 1)
			rnd = (uint32_t)t0;
		delay = mailer_backoff_ms(rc->attempts, m->cfg->mail_retry_base_ms, m->cfg->mail_retry_max_ms, rnd);
		snprintf(ms, sizeof ms, "%lld", delay);
		params[2] = ms;
		params[3] = err;
		log_begin(&l, LOG_WARN, "receipt mail failed; will retry");
		metrics_add(M_MAIL_RETRIED, 1);
		record(m, rc, sql_retry, params, 4);
	} else {
		params[2] = err;
		log_begin(&l, LOG_WARN, "receipt mail failed permanently");
		metrics_add(M_MAIL_FAILED, 1);
		record(m, rc, sql_failed, params, 3);
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
static int recover(struct mailer *m)
{
	PGresult *r = q(m, sql_recover, 0, NULL, PGRES_TUPLES_OK);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		log_kv(LOG_WARN, "mailer: a receipt's delivery was interrupted; it will be mailed again", "receipt",
		       PQgetvalue(r, i, 0), "attempts", PQgetvalue(r, i, 1), NULL);
	PQclear(r);
	return 0;
}

/* One claim-and-deliver round. Returns the number of receipts claimed, or -1 on a database error. */
static int cycle(struct mailer *m)
{
	if (recover(m) != 0)
		return -1;
	char batch[8], lease[24];
	snprintf(batch, sizeof batch, "%d", BATCH);
	snprintf(lease, sizeof lease, "%lld", m->lease_ms);
	const char *claim[] = {batch, lease};
	PGresult *r = q(m, sql_claim, 2, claim, PGRES_TUPLES_OK);
	if (!r)
		return -1;
	char *ids = PQntuples(r) == 1 ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	if (!ids)
		return -1;          /* the claims (if any) expire and are recovered */
	if (strcmp(ids, "{}") == 0) {
		free(ids);
		return 0;
	}
	const char *params[] = {m->cfg->receipt_tz, ids};
	r = q(m, sql_claimed, 2, params, PGRES_TUPLES_OK);
	free(ids);
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
		if (stopping()) {
			char id[24], att[16];
			snprintf(id, sizeof id, "%lld", rcs[i].id);
			snprintf(att, sizeof att, "%d", rcs[i].attempts);
			const char *p[] = {id, att};
			PGresult *x = q(m, sql_release, 2, p, PGRES_TUPLES_OK);
			PQclear(x);
			continue;
		}
		process(m, &rcs[i]);
	}
	free(rcs);
	return n;
}

static void refresh_gauges(struct mailer *m)
{
	if (m->idx != 0 || mono_ms() < m->gauges_at)
		return;
	m->gauges_at = mono_ms() + GAUGES_EVERY_MS;
	PGresult *r = q(m, sql_gauges, 0, NULL, PGRES_TUPLES_OK);
	long long pending, failed;
	if (r && db_int64(r, 0, 0, &pending) == 0 && db_int64(r, 0, 1, &failed) == 0) {
		metrics_add(M_RECEIPTS_PENDING, pending - g.shown_pending);
		metrics_add(M_RECEIPTS_FAILED, failed - g.shown_failed);
		g.shown_pending = pending;
		g.shown_failed = failed;
	}
	PQclear(r);
}

static bool drain_notifies(struct mailer *m)
{
	bool any = false;
	PGnotify *n;
	while (m->pg && (n = PQnotifies(m->pg))) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

/* Sleeps until a NOTIFY, the next due time, or shutdown. */
static void wait_for_work(struct mailer *m)
{
	long long wait = IDLE_POLL_MS;
	PGresult *r = q(m, sql_next, 0, NULL, PGRES_TUPLES_OK);
	long long next;
	if (r && db_int64(r, 0, 0, &next) == 0)
		wait = next < 15 ? 20 : next + 5 < IDLE_POLL_MS ? next + 5 : IDLE_POLL_MS;   /* never spin */
	PQclear(r);
	if (m->idx == 0 && wait > GAUGES_EVERY_MS)
		wait = GAUGES_EVERY_MS;     /* thread 0 keeps the outbox gauges fresh */
	if (!m->pg)
		return;
	if (PQconsumeInput(m->pg) == 0) {
		db_drop(m);
		return;
	}
	if (drain_notifies(m))
		return;
	struct pollfd p[2] = {{g.pipe[0], POLLIN, 0}, {PQsocket(m->pg), POLLIN, 0}};
	if (poll(p, 2, (int)wait) > 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
		if (PQconsumeInput(m->pg) == 0)
			db_drop(m);
		else
			drain_notifies(m);
	}
}

static void *mailer_main(void *arg)
{
	struct mailer *m = arg;
	long long backoff = 250;
	while (!stopping()) {
		if (!m->pg) {
			if (db_connect(m) != 0) {
				nap(backoff);
				backoff = backoff * 2 > DB_RETRY_MAX_MS ? DB_RETRY_MAX_MS : backoff * 2;
				continue;
			}
			backoff = 250;
		}
		int n = cycle(m);
		if (n < 0) {
			nap(1000);  /* a broken connection is reopened; a failing statement is not hammered */
			continue;
		}
		if (n > 0)
			continue;
		refresh_gauges(m);
		wait_for_work(m);
	}
	if (m->pg)
		db_drop(m);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

int mailer_start(const struct config *cfg)
{
	g.cfg = cfg;
	atomic_store(&g.stop, false);
	atomic_store(&g.hard_stop_ms, 0);
	if (cfg->mail_workers == 0) {
		log_kv(LOG_INFO, "mailer off on this gateway (GATEWAY_MAIL_WORKERS=0)", NULL);
		return 0;
	}
	if (mail_send_init(cfg) != 0)
		return -1;
	g.send_ready = true;
	if (pipe2(g.pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		fprintf(stderr, "gatewayd: mailer: %s\n", strerror(errno));
		return -1;
	}
	g.m = calloc((size_t)cfg->mail_workers, sizeof *g.m);
	if (!g.m) {
		fprintf(stderr, "gatewayd: out of memory\n");
		return -1;
	}
	g.n = cfg->mail_workers;
	for (int i = 0; i < g.n; i++) {
		g.m[i].cfg = cfg;
		g.m[i].idx = i;
		g.m[i].lease_ms = (long long)BATCH * cfg->mail_timeout_ms + 60000;
		if (!(g.m[i].send = mail_sender_new(cfg, &g.hard_stop_ms))) {
			fprintf(stderr, "gatewayd: cannot set up libcurl for GATEWAY_MAIL_URL\n");
			return -1;
		}
	}
	/* The threads inherit a mask without SIGTERM/SIGINT/SIGPIPE: those belong to the server's sigwait. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = 0;
	for (int i = 0; i < g.n && rc == 0; i++) {
		rc = pthread_create(&g.m[i].thread, NULL, mailer_main, &g.m[i]);
		g.m[i].started = rc == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "gatewayd: cannot start a mailer thread\n");
		return -1;
	}
	char n[8];
	snprintf(n, sizeof n, "%d", g.n);
	log_kv(LOG_INFO, "mailer started", "workers", n, "mode",
	       strncmp(cfg->mail_url, "file://", 7) == 0 ? "file" : strncmp(cfg->mail_url, "smtps://", 8) == 0 ? "smtps" : "smtp", NULL);
	return 0;
}

void mailer_stop(void)
{
	atomic_store(&g.stop, true);
	if (g.cfg)
		atomic_store(&g.hard_stop_ms, mono_ms() + (uint64_t)g.cfg->shutdown_timeout * 1000u + 1);
	if (g.pipe[1] >= 0) {
		ssize_t w = write(g.pipe[1], "x", 1);
		(void)w;
	}
	for (int i = 0; i < g.n; i++) {
		if (g.m[i].started)
			pthread_join(g.m[i].thread, NULL);
		mail_sender_free(g.m[i].send);
	}
	free(g.m);
	g.m = NULL;
	g.n = 0;
	for (int i = 0; i < 2; i++)
		if (g.pipe[i] >= 0) {
			close(g.pipe[i]);
			g.pipe[i] = -1;
		}
	if (g.send_ready)
		mail_send_cleanup();
	g.send_ready = false;
	if (g.cfg)
		log_kv(LOG_INFO, "mailer stopped", NULL);
	g.cfg = NULL;
}
