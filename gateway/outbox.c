/* outbox.c — the threads, connections and sleeps of outbox.h, for any kind of work. */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"

#define IDLE_POLL_MS 30000       /* longest sleep: a safety net should a NOTIFY be missed */
#define GAUGES_EVERY_MS 5000     /* how often thread 0 refreshes the kind's gauges */
#define DB_RETRY_MAX_MS 30000    /* longest wait between reconnects */

struct outbox_worker {
	struct outbox *o;
	int idx;
	pthread_t thread;
	bool started;
	PGconn *pg;
	void *st;                 /* the kind's */
	uint64_t gauges_at;
};

struct outbox {
	const struct config *cfg;
	const struct outbox_kind *k;
	int pipe[2];              /* written once at stop; stays readable, so every thread's poll wakes */
	atomic_bool stop;
	_Atomic uint64_t hard_stop_ms;
	int n;
	struct outbox_worker *w;
};

int outbox_recover(struct outbox_worker *w, const char *sql, const char *msg, const char *k0, const char *k1)
{
	PGresult *r = outbox_query(w, sql, 0, NULL);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		log_kv(LOG_WARN, msg, k0, PQgetvalue(r, i, 0), k1, PQgetvalue(r, i, 1), NULL);
	PQclear(r);
	return 0;
}

PGresult *outbox_claim(struct outbox_worker *w, const char *sql_claim, int batch, long long lease_ms,
		       const char *sql_claimed, const char *tz)
{
	char nb[16], lease[24];
	snprintf(nb, sizeof nb, "%d", batch);
	snprintf(lease, sizeof lease, "%lld", lease_ms);
	const char *claim[] = {nb, lease};
	PGresult *r = outbox_query(w, sql_claim, 2, claim);
	if (!r)
		return NULL;
	char *ids = PQntuples(r) == 1 ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	if (!ids)
		return NULL;
	const char *params[] = {tz, ids};
	r = outbox_query(w, sql_claimed, 2, params);   /* "{}": no rows, one cheap statement */
	free(ids);
	return r;
}

bool outbox_stopping(const struct outbox_worker *w) { return atomic_load(&w->o->stop); }
int outbox_index(const struct outbox_worker *w) { return w->idx; }
const _Atomic uint64_t *outbox_hard_stop(const struct outbox_worker *w) { return &w->o->hard_stop_ms; }

long long outbox_backoff_ms(int attempts, long long base_ms, long long max_ms, uint32_t rnd)
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
static void nap(struct outbox_worker *w, long long ms)
{
	struct pollfd p = {w->o->pipe[0], POLLIN, 0};
	if (!outbox_stopping(w))
		poll(&p, 1, (int)(ms > INT_MAX ? INT_MAX : ms));
}

/* ---- the connection ----------------------------------------------------------------------- */

static void db_drop(struct outbox_worker *w)
{
	PQfinish(w->pg);
	w->pg = NULL;
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
	const struct outbox *o = arg;
	char msg[256], what[64];
	one_line(msg, sizeof msg, message);
	snprintf(what, sizeof what, "%s: database notice", o->k->name);
	log_kv(LOG_INFO, what, "notice", msg, NULL);
}

static void warn(const struct outbox *o, const char *what, const char *error)
{
	char msg[256], line[96];
	one_line(msg, sizeof msg, error);
	snprintf(line, sizeof line, "%s: %s", o->k->name, what);
	log_kv(LOG_WARN, line, "error", msg, NULL);
}

static int db_connect(struct outbox_worker *w)
{
	const struct outbox *o = w->o;
	char app[64];
	snprintf(app, sizeof app, "gatewayd-%s", o->k->name);
	const char *keys[] = {"dbname", "connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
			      "keepalives_count", "tcp_user_timeout", NULL};
	const char *vals[] = {o->cfg->database_url, "5", app, "15", "5", "3", "30000", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		warn(o, "cannot connect to the database", c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, on_notice, w->o);
	/* Bounded statements; LISTEN before the first claim so no NOTIFY falls between the two. */
	char *chan = PQescapeIdentifier(c, o->k->listen, strlen(o->k->listen));
	char sql[160];
	snprintf(sql, sizeof sql, "SET statement_timeout = '30s'; SET lock_timeout = '10s'; LISTEN %s", chan ? chan : "x");
	PQfreemem(chan);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		warn(o, "cannot prepare the database connection", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
		return -1;
	}
	PQclear(r);
	w->pg = c;
	return 0;
}

PGresult *outbox_query(struct outbox_worker *w, const char *sql, int n, const char *const *params)
{
	if (!w->pg)
		return NULL;
	PGresult *r = PQexecParams(w->pg, sql, n, NULL, params, NULL, NULL, 0);
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	warn(w->o, "database statement failed", r ? PQresultErrorMessage(r) : PQerrorMessage(w->pg));
	PQclear(r);
	if (PQstatus(w->pg) != CONNECTION_OK)
		db_drop(w);
	return NULL;
}

int outbox_record(struct outbox_worker *w, const char *sql, int n, const char *const *params, long long ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
	for (int tries = 0;; tries++) {
		if (w->pg || db_connect(w) == 0) {
			PGresult *r = outbox_query(w, sql, n, params);
			if (r) {
				int ours = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
				PQclear(r);
				return ours;
			}
		}
		if (mono_ms() > deadline || (outbox_stopping(w) && tries >= 2))
			return -1;
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
}

/* ---- the thread ----------------------------------------------------------------------------- */

static bool drain_notifies(struct outbox_worker *w)
{
	bool any = false;
	PGnotify *n;
	while (w->pg && (n = PQnotifies(w->pg))) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

/* Sleeps until a NOTIFY, the next due time, or shutdown. */
static void wait_for_work(struct outbox_worker *w)
{
	long long idle = w->o->k->idle_poll_ms > 0 ? w->o->k->idle_poll_ms : IDLE_POLL_MS, wait = idle;
	if (w->o->k->next_due_sql) {
		PGresult *r = outbox_query(w, w->o->k->next_due_sql, 0, NULL);
		long long next;
		if (r && db_int64(r, 0, 0, &next) == 0)
			wait = next < 15 ? 20 : next + 5 < idle ? next + 5 : idle;   /* never spin */
		PQclear(r);
	}
	if (w->idx == 0 && w->o->k->gauges && wait > GAUGES_EVERY_MS)
		wait = GAUGES_EVERY_MS;     /* thread 0 keeps the gauges fresh */
	if (!w->pg)
		return;
	if (PQconsumeInput(w->pg) == 0) {
		db_drop(w);
		return;
	}
	if (drain_notifies(w))
		return;
	struct pollfd p[2] = {{w->o->pipe[0], POLLIN, 0}, {PQsocket(w->pg), POLLIN, 0}};
	if (poll(p, 2, (int)wait) > 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
		if (PQconsumeInput(w->pg) == 0)
			db_drop(w);
		else
			drain_notifies(w);
	}
}

static void *worker_main(void *arg)
{
	struct outbox_worker *w = arg;
	const struct outbox_kind *k = w->o->k;
	long long backoff = 250;
	while (!outbox_stopping(w)) {
		if (!w->pg) {
			if (db_connect(w) != 0) {
				nap(w, backoff);
				backoff = backoff * 2 > DB_RETRY_MAX_MS ? DB_RETRY_MAX_MS : backoff * 2;
				continue;
			}
			backoff = 250;
		}
		int n = k->round(w, w->st);
		if (n < 0) {
			nap(w, 1000);  /* a broken connection is reopened; a failing statement is not hammered */
			continue;
		}
		if (n > 0)
			continue;
		if (w->idx == 0 && k->gauges && mono_ms() >= w->gauges_at) {
			w->gauges_at = mono_ms() + GAUGES_EVERY_MS;
			k->gauges(w, w->st);
		}
		wait_for_work(w);
	}
	if (w->pg)
		db_drop(w);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

struct outbox *outbox_start(const struct config *cfg, const struct outbox_kind *k, int threads)
{
	struct outbox *o = calloc(1, sizeof *o);
	if (!o) {
		fprintf(stderr, "gatewayd: out of memory\n");
		return NULL;
	}
	o->cfg = cfg;
	o->k = k;
	o->pipe[0] = o->pipe[1] = -1;
	atomic_store(&o->stop, false);
	atomic_store(&o->hard_stop_ms, 0);
	if (pipe2(o->pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    !(o->w = calloc(threads > 0 ? (size_t)threads : 1, sizeof *o->w))) {
		fprintf(stderr, "gatewayd: %s: %s\n", k->name, strerror(errno));
		outbox_stop(o);
		return NULL;
	}
	for (int i = 0; i < threads; i++) {
		o->w[i].o = o;
		o->w[i].idx = i;
		if (!(o->w[i].st = k->open(&o->w[i], cfg))) {
			o->n = i;
			outbox_stop(o);
			return NULL;
		}
	}
	o->n = threads;
	/* The threads inherit a mask without SIGTERM/SIGINT/SIGPIPE: those belong to the server's sigwait. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = 0;
	for (int i = 0; i < o->n && rc == 0; i++) {
		rc = pthread_create(&o->w[i].thread, NULL, worker_main, &o->w[i]);
		o->w[i].started = rc == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "gatewayd: cannot start a %s thread\n", k->name);
		outbox_stop(o);
		return NULL;
	}
	return o;
}

void outbox_stop(struct outbox *o)
{
	if (!o)
		return;
	atomic_store(&o->stop, true);
	atomic_store(&o->hard_stop_ms, mono_ms() + (uint64_t)o->cfg->shutdown_timeout * 1000u + 1);
	if (o->pipe[1] >= 0) {
		ssize_t w = write(o->pipe[1], "x", 1);
		(void)w;
	}
	for (int i = 0; i < o->n; i++) {
		if (o->w[i].started)
			pthread_join(o->w[i].thread, NULL);
		if (o->w[i].st)
			o->k->close(o->w[i].st);
	}
	free(o->w);
	for (int i = 0; i < 2; i++)
		if (o->pipe[i] >= 0)
			close(o->pipe[i]);
	free(o);
}
