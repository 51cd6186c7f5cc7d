/* db.c — the asynchronous PostgreSQL pool. Each connection is a small state machine:
 *   DOWN --timer--> CONNECTING --ok--> IDLE --query--> BUSY --all results--> IDLE
 * and any failure goes back to DOWN with a reconnect timer. Connections run in libpq pipeline mode:
 * a query is sent as [Prepare + Sync, the first time on that connection] Bind/Execute ... Sync.
 * A query that writes (db_exec) gets a connection with nothing else in flight and a Sync of its
 * own, exactly one transaction as before. Short reads (db_exec_read) may share: those dispatched
 * to one connection in one loop turn go out in one write as one group ending in one Sync (the server
 * answers them in one go), and groups may queue behind other read groups, up to PIPELINE_MAX queries
 * in flight per connection. A read aborted because an earlier one of its group failed did not run:
 * it is queued again. Callers that find no connection wait in a FIFO bounded by the pool's timeout.
 *
 * Pool health, the pgbouncer way: a connection is handed out only when it has answered since the
 * last time any pool of the process lost a connection, and within CHECK_IDLE_MS; otherwise it first
 * runs a check query (and is closed if that fails), so after a database restart or failover a
 * connection that is still broken is not given a query while a good one exists. When queries wait
 * and no connection is up or on its way, one is connected at once instead of after its backoff (at
 * most every BACKOFF_MIN_MS, or at once when another pool has just connected): the database may be
 * back, and a loop that says "unreachable" while its neighbour serves makes readiness flap.
 *
 * Why one file of ~900 lines: the queue, the connections and the pipeline groups are one state
 * machine — a connection's events re-run the queue and the queue drives the connections. Split in
 * two, the halves would call each other in a loop (or through callbacks on the hottest path of every
 * request); kept whole, each transition stays one plain function call that can be read in order. */
#include "db.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define MAX_STMTS 128
#define CONNECT_TIMEOUT_MS 5000
#define QUERY_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define PIPELINE_MAX 8            /* read queries in flight on one connection */
#define GROUP_MAX 4               /* reads sent together in one group (a loop turn fills a group first) */
#define CHECK_IDLE_MS 30000       /* a connection idle longer than this is checked before reuse */

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

/* Where an in-flight query is in its stream of results. */
enum phase {
	PH_PREP,                  /* results of its Prepare, up to the NULL that ends them */
	PH_PREP_SYNC,             /* the Sync after the Prepare */
	PH_QUERY,                 /* results of its Execute, up to the NULL */
};

struct query {
	struct query *next;
	struct db_stmt *stmt;
	db_cb cb;
	void *arg;
	uint64_t enqueued_ms;
	uint64_t sent_ms;
	bool read_only;           /* db_exec_read: may share a connection and a group */
	bool internal;            /* the pool's own health check: not a caller's query */
	bool sync_after;          /* in flight: the last query of its group */
	enum phase phase;
	PGresult *prep_err;       /* its Prepare failed: answered with this instead of its own result */
	int nparams;
	char *params[];          /* nparams pointers, then the strings themselves */
};

struct qlist {
	struct query *head, *tail;
};

struct conn {
	struct db_pool *pool;
	PGconn *pg;
	enum conn_state state;
	struct event *io;         /* connecting: one-shot read or write; connected: persistent read */
	struct event *wev;        /* connected: one-shot write while libpq has unsent data */
	struct event *timer;      /* DOWN: reconnect; CONNECTING: connect deadline; BUSY: query deadline */
	int backoff_ms;
	uint64_t prepared[MAX_STMTS / 64];
	struct qlist fly;         /* sent and not answered, in the order their results come */
	int nfly;
	int syncs_due;            /* answered queries whose group's Sync is still to be read */
	bool fly_write;           /* a db_exec (not a read) is in flight: nothing may join */
	struct query *open;       /* pool_run: last query of a group not yet closed by a Sync */
	int open_n;               /* queries in that group */
	PGresult *last;
	uint64_t verified_ms;     /* when it last answered (or connected) */
	bool checking;            /* its health check is in flight */
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	int size;
	int timeout_ms;
	struct conn *conns;
	struct qlist writes;      /* waiting db_exec queries */
	struct qlist reads;       /* waiting db_exec_read queries */
	int queued;
	int running;
	struct event *kick;       /* processes the queue on the next loop turn */
	struct event *tick;       /* expires waiting queries */
	bool closing;
	uint64_t tried_ms;        /* the last connection made at once for waiting queries */
	unsigned connects_seen;   /* g_connects at that time */
};

static _Atomic int next_stmt_id;
static _Atomic uint64_t g_loss_ms;        /* when a pool of this process last lost an open connection */
static _Atomic unsigned g_connects;       /* connections established by every pool (news: the database is up) */
static struct db_stmt q_check = {"pool_check", "SELECT 1", 0, 0};

static struct timeval ms_tv(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return tv;
}

static int stmt_id(struct db_stmt *s)
{
	int id = atomic_load(&s->id_);
	if (id)
		return id;
	int fresh = atomic_fetch_add(&next_stmt_id, 1) + 1;
	int expected = 0;
	if (atomic_compare_exchange_strong(&s->id_, &expected, fresh))
		return fresh;
	return expected;          /* another thread won; its id stands (ours is simply unused) */
}

static void ql_push(struct qlist *l, struct query *q)
{
	q->next = NULL;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
}

static struct query *ql_pop(struct qlist *l)
{
	struct query *q = l->head;
	if (q) {
		l->head = q->next;
		if (!l->head)
			l->tail = NULL;
		q->next = NULL;
	}
	return q;
}

/* Puts the queries of front (in order) before those of l. */
static void ql_prepend(struct qlist *l, struct qlist *front)
{
	if (!front->head)
		return;
	front->tail->next = l->head;
	if (!l->tail)
		l->tail = front->tail;
	l->head = front->head;
	front->head = front->tail = NULL;
}

bool db_retryable(const struct db_result *r)
{
	return r->status == DB_UNAVAILABLE || (r->sqlstate && strncmp(r->sqlstate, "40", 2) == 0);
}

static void finish_query(struct db_pool *p, struct query *q, enum db_status st, const PGresult *res,
			 const char *sqlstate, const char *msg)
{
	struct db_result r = {st, res, sqlstate ? sqlstate : "", msg ? msg : ""};
	if (q->internal) {
		q->cb(&r, q->arg);
		if (q->prep_err)
			PQclear(q->prep_err);
		free(q);
		return;
	}
	p->running--;
	if (st == DB_UNAVAILABLE)
		metrics_add(M_DB_UNAVAILABLE, 1);
	else if (st == DB_ERROR)
		metrics_add(M_DB_ERRORS, 1);
	q->cb(&r, q->arg);
	if (q->prep_err)
		PQclear(q->prep_err);
	free(q);
}

static void conn_connect(struct conn *c);
static void pool_kick(struct db_pool *p);

static void conn_set_state(struct conn *c, enum conn_state st)
{
	bool was_busy = c->state == C_BUSY;
	bool is_busy = st == C_BUSY;
	bool was_open = c->state >= C_IDLE;
	bool is_open = st >= C_IDLE;
	if (was_busy != is_busy)
		metrics_add(M_DB_CONNS_BUSY, is_busy ? 1 : -1);
	if (was_open != is_open)
		metrics_add(M_DB_CONNS_OPEN, is_open ? 1 : -1);
	c->state = st;
}

static void conn_free_events(struct conn *c)
{
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	if (c->wev) {
		event_free(c->wev);
		c->wev = NULL;
	}
}

/* Writes "a: b" (or just a) into dst as one line: newlines from libpq messages become spaces and
 * trailing blanks go. */
static void one_line(char *dst, size_t n, const char *a, const char *b)
{
	snprintf(dst, n, "%s%s%s", a, b && *b ? ": " : "", b ? b : "");
	size_t len = strlen(dst);
	for (size_t i = 0; i < len; i++)
		if (dst[i] == '\n' || dst[i] == '\t')
			dst[i] = ' ';
	while (len > 0 && dst[len - 1] == ' ')
		dst[--len] = '\0';
}

/* The connection failed or was lost: report the queries in flight as unavailable (their outcome is
 * unknown), close, and schedule a reconnect unless the pool is closing. */
static void conn_lost(struct conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	char msg[256];
	/* libpq's error text is about the connection only when the connection is bad; otherwise it may
	 * be a stale message of an earlier query */
	one_line(msg, sizeof msg, why, c->pg && PQstatus(c->pg) == CONNECTION_BAD ? PQerrorMessage(c->pg) : NULL);
	bool was_open = c->state >= C_IDLE;
	if (was_open && !p->closing)
		atomic_store(&g_loss_ms, mono_ms());   /* the others may be broken too: check them before use */
	c->checking = false;
	conn_free_events(c);
	evtimer_del(c->timer);
	if (c->last) {
		PQclear(c->last);
		c->last = NULL;
	}
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	conn_set_state(c, C_DOWN);
	if (!p->closing && (was_open || c->backoff_ms == BACKOFF_MIN_MS))
		log_kv(LOG_WARN, "database connection lost", "reason", msg, NULL);
	struct qlist lost = c->fly;
	c->fly.head = c->fly.tail = NULL;
	c->nfly = 0;
	c->syncs_due = 0;
	c->fly_write = false;
	c->open = NULL;
	c->open_n = 0;
	if (!p->closing) {
		struct timeval tv = ms_tv(c->backoff_ms);
		evtimer_add(c->timer, &tv);
		c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	}
	struct query *q;
	while ((q = ql_pop(&lost)) != NULL)
		finish_query(p, q, DB_UNAVAILABLE, NULL, NULL, msg);
	if (!p->closing)
		pool_kick(p);
}

static void conn_flush(struct conn *c)
{
	int r = PQflush(c->pg);
	if (r < 0)
		conn_lost(c, "sending to the database failed");
	else if (r == 1)
		event_add(c->wev, NULL);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

static bool retryable_sqlstate(const char *s)
{
	/* connection exceptions, operator intervention (shutdown, cannot connect now), insufficient resources */
	return s && (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0 || strncmp(s, "53", 2) == 0);
}

static void clear_prepared(struct conn *c, struct db_stmt *stmt)
{
	int id = stmt_id(stmt);
	c->prepared[id / 64] &= ~((uint64_t)1 << (id % 64));
}

/* (Re)arms the query deadline for the oldest query in flight, or stops it when none is. */
static void arm_deadline(struct conn *c)
{
	if (!c->fly.head) {
		struct timeval full = ms_tv(QUERY_TIMEOUT_MS);
		if (c->syncs_due)
			evtimer_add(c->timer, &full);     /* only a Sync to come: it normally comes at once */
		else
			evtimer_del(c->timer);
		return;
	}
	uint64_t age = mono_ms() - c->fly.head->sent_ms;
	int left = age >= QUERY_TIMEOUT_MS ? 1 : QUERY_TIMEOUT_MS - (int)age;
	struct timeval tv = ms_tv(left);
	evtimer_add(c->timer, &tv);
}

/* All results of the command of q (the oldest in flight) have arrived: answer it, or queue it again
 * when it was only aborted (an earlier query of its group failed, so it did not run). */
static void query_done(struct conn *c, struct query *q, struct qlist *again)
{
	struct db_pool *p = c->pool;
	PGresult *res = c->last;
	c->last = NULL;
	if (q->prep_err) {            /* its Prepare failed: that error is the answer, as before */
		if (res)
			PQclear(res);
		res = q->prep_err;
		q->prep_err = NULL;
	}
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		c->verified_ms = mono_ms();
	if (st == PGRES_PIPELINE_ABORTED && q->read_only) {
		PQclear(res);
		ql_push(again, q);
		return;
	}
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		finish_query(p, q, DB_OK, res, NULL, NULL);
	} else {
		char msg[256];
		one_line(msg, sizeof msg, res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg), NULL);
		enum db_status ds = retryable_sqlstate(sqlstate) || PQstatus(c->pg) == CONNECTION_BAD ? DB_UNAVAILABLE : DB_ERROR;
		log_kv(LOG_WARN, "database query failed", "statement", q->stmt->name, "sqlstate", sqlstate ? sqlstate : "",
		       "error", msg, NULL);
		finish_query(p, q, ds, res, sqlstate, msg);
	}
	if (res)
		PQclear(res);
}

/* Puts reads that did not run back at the front of the waiting reads, in their order. */
static void requeue(struct db_pool *p, struct qlist *again)
{
	for (struct query *a = again->head; a; a = a->next) {
		p->queued++;
		metrics_add(M_DB_QUEUE, 1);
	}
	ql_prepend(&p->reads, again);
}

/* Results of the queries in flight, in order. Each query's stream is [its Prepare's results, NULL,
 * Sync] (the first time on this connection), its own results, NULL, and the group's Sync when it is
 * the last of its group (counted in syncs_due once it has been answered). */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	struct db_pool *p = c->pool;
	if (!PQconsumeInput(c->pg)) {
		conn_lost(c, "reading from the database failed");
		return;
	}
	PGnotify *n;
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);
	if (c->state == C_IDLE) {
		if (PQstatus(c->pg) == CONNECTION_BAD)
			conn_lost(c, "database connection closed");
		return;
	}
	struct qlist again = {NULL, NULL};
	while ((c->fly.head || c->syncs_due) && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		struct query *q = c->fly.head;
		if (c->syncs_due || (q && q->phase == PH_PREP_SYNC)) {
			bool sync = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
			if (res)
				PQclear(res);
			if (!sync) {
				requeue(p, &again);
				conn_lost(c, "unexpected result order from the database");
				return;
			}
			if (c->syncs_due)
				c->syncs_due--;
			else
				q->phase = PH_QUERY;
		} else if (q->phase == PH_PREP) {
			if (!res) {
				q->phase = PH_PREP_SYNC;
			} else if (PQresultStatus(res) != PGRES_COMMAND_OK && !q->prep_err) {
				clear_prepared(c, q->stmt);       /* not prepared after all: the next use prepares */
				q->prep_err = res;
			} else {
				PQclear(res);
			}
		} else if (res) {
			if (c->last)
				PQclear(c->last);
			c->last = res;
		} else {                                  /* all results of q are in */
			ql_pop(&c->fly);
			c->nfly--;
			if (q->sync_after)
				c->syncs_due++;
			if (!q->read_only)
				c->fly_write = false;
			arm_deadline(c);
			query_done(c, q, &again);
			if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
				requeue(p, &again);
				if (c->pg)
					conn_lost(c, "database connection broken");
				pool_kick(p);
				return;
			}
		}
		if (!c->fly.head && !c->syncs_due)
			conn_set_state(c, C_IDLE);
	}
	requeue(p, &again);
	pool_kick(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	switch (c->state) {
	case C_DOWN:
		conn_connect(c);
		break;
	case C_CONNECTING:
		conn_lost(c, "connecting to the database timed out");
		break;
	case C_BUSY:
		conn_lost(c, "database query timed out");
		break;
	case C_IDLE:
		break;
	}
}

static void conn_established(struct conn *c)
{
	struct db_pool *p = c->pool;
	conn_free_events(c);
	evtimer_del(c->timer);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_lost(c, "cannot make the database connection non-blocking");
		return;
	}
	if (PQenterPipelineMode(c->pg) != 1) {
		conn_lost(c, "cannot enter pipeline mode on the database connection");
		return;
	}
	evutil_socket_t fd = PQsocket(c->pg);
	c->io = event_new(p->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(p->base, fd, EV_WRITE, on_write, c);
	if (!c->io || !c->wev || event_add(c->io, NULL) != 0) {
		conn_lost(c, "cannot watch the database socket");
		return;
	}
	memset(c->prepared, 0, sizeof c->prepared);
	c->syncs_due = 0;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->verified_ms = mono_ms();
	c->checking = false;
	conn_set_state(c, C_IDLE);
	metrics_add(M_DB_RECONNECTS, 1);
	p->connects_seen = atomic_fetch_add(&g_connects, 1) + 1;
	/* the database is back: the pool's other connections need not wait out their backoff */
	for (int i = 0; i < p->size; i++) {
		struct conn *o = &p->conns[i];
		if (o->state == C_DOWN && o->backoff_ms > BACKOFF_MIN_MS && !p->closing) {
			o->backoff_ms = BACKOFF_MIN_MS;
			struct timeval now = {0, 0};
			evtimer_add(o->timer, &now);
		}
	}
	pool_kick(p);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg);

static void connect_poll(struct conn *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->pg);
	short ev;
	switch (st) {
	case PGRES_POLLING_OK:
		conn_established(c);
		return;
	case PGRES_POLLING_READING:
		ev = EV_READ;
		break;
	case PGRES_POLLING_WRITING:
		ev = EV_WRITE;
		break;
	default:
		conn_lost(c, "cannot connect to the database");
		return;
	}
	conn_free_events(c);
	c->io = event_new(c->pool->base, PQsocket(c->pg), ev, on_connect_io, c);
	if (!c->io || event_add(c->io, NULL) != 0)
		conn_lost(c, "cannot watch the database socket");
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	connect_poll(arg);
}

/* Server notices (and the "terminating connection" message before a restart) go to the JSON log
 * instead of libpq's default of raw text on stderr. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	char msg[256];
	one_line(msg, sizeof msg, message, NULL);
	log_kv(LOG_INFO, "database notice", "notice", msg, NULL);
}

static void conn_connect(struct conn *c)
{
	c->pg = PQconnectStart(c->pool->conninfo);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, "cannot start a database connection");
		return;
	}
	PQsetNoticeProcessor(c->pg, on_notice, NULL);
	conn_set_state(c, C_CONNECTING);
	struct timeval tv = ms_tv(CONNECT_TIMEOUT_MS);
	evtimer_add(c->timer, &tv);
	connect_poll(c);
}

/* Ends c's open group with a Sync (which also hands everything queued in libpq to the socket). */
static bool close_group(struct conn *c)
{
	if (!c->open)
		return true;
	c->open->sync_after = true;
	c->open = NULL;
	c->open_n = 0;
	return PQpipelineSync(c->pg) == 1;
}

/* Queues q on c: its Prepare first if c has not seen the statement (in a group of its own, so no
 * other query's failure can abort it), then the query in c's open group. The group is closed by
 * the caller (pool_run), or here for a write, which is always alone. */
static void conn_send(struct conn *c, struct query *q)
{
	int id = stmt_id(q->stmt);
	if (id >= MAX_STMTS) {
		finish_query(c->pool, q, DB_ERROR, NULL, "XX000", "too many prepared statements");
		return;
	}
	bool ok = true;
	q->phase = PH_QUERY;
	q->sync_after = false;
	q->prep_err = NULL;
	if (!(c->prepared[id / 64] & ((uint64_t)1 << (id % 64)))) {
		ok = close_group(c) && PQsendPrepare(c->pg, q->stmt->name, q->stmt->sql, q->stmt->nparams, NULL) == 1 &&
		     PQpipelineSync(c->pg) == 1;
		c->prepared[id / 64] |= (uint64_t)1 << (id % 64);
		q->phase = PH_PREP;
	}
	ok = ok && PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams, (const char *const *)q->params, NULL, NULL, 0) == 1;
	q->sent_ms = mono_ms();
	ql_push(&c->fly, q);
	c->nfly++;
	c->open = q;
	c->open_n++;
	if (!q->read_only) {
		c->fly_write = true;
		ok = ok && close_group(c);
	}
	if (c->state != C_BUSY) {
		conn_set_state(c, C_BUSY);
		arm_deadline(c);
	}
	if (!ok)
		conn_lost(c, "sending the query failed");
}

static bool needs_check(const struct conn *c, uint64_t now)
{
	return c->verified_ms <= atomic_load(&g_loss_ms) || now - c->verified_ms > CHECK_IDLE_MS;
}

static void on_check(const struct db_result *r, void *arg)
{
	struct conn *c = arg;
	c->checking = false;
	if (r->status == DB_ERROR && c->pg)       /* it answered, but not as a healthy server does */
		conn_lost(c, "the database connection failed its check");
}

/* Sends the health check on idle connection c; c is busy (exclusively) until it answers. */
static void conn_check(struct conn *c)
{
	struct query *q = calloc(1, sizeof *q);
	if (!q) {
		conn_lost(c, "out of memory checking a database connection");
		return;
	}
	q->stmt = &q_check;
	q->cb = on_check;
	q->arg = c;
	q->internal = true;
	q->enqueued_ms = mono_ms();
	c->checking = true;
	conn_send(c, q);
}

/* The connection a waiting query goes to, or NULL: a write needs a connection with nothing in
 * flight; a read takes the least loaded connection where only reads are in flight — an idle one only
 * while writes wait, so that busy connections drain and no write waits behind a stream of reads. */
static struct conn *pick(struct db_pool *p, bool read_only)
{
	struct conn *best = NULL;
	if (read_only && !p->writes.head)     /* first fill the group this turn has begun: one write, one wake-up */
		for (int i = 0; i < p->size; i++) {
			struct conn *c = &p->conns[i];
			if (c->open && c->open_n < GROUP_MAX && c->nfly < PIPELINE_MAX && !c->fly_write)
				return c;
		}
	for (int i = 0; i < p->size; i++) {
		struct conn *c = &p->conns[i];
		if (c->state == C_IDLE && (!read_only || !p->writes.head))
			return c;
		if (!read_only || p->writes.head || c->state != C_BUSY || c->fly_write || c->nfly >= PIPELINE_MAX)
			continue;
		if (!best || c->nfly + c->syncs_due < best->nfly + best->syncs_due)
			best = c;
	}
	return best;
}

static void fail_waiting(struct db_pool *p, struct qlist *l, bool any_alive, uint64_t now)
{
	while (l->head && (!any_alive || p->closing || now - l->head->enqueued_ms >= (uint64_t)p->timeout_ms)) {
		struct query *q = ql_pop(l);
		p->queued--;
		metrics_add(M_DB_QUEUE, -1);
		finish_query(p, q, DB_UNAVAILABLE, NULL, NULL,
			     any_alive ? "timed out waiting for a database connection" : "the database is unreachable");
	}
}

/* Hands waiting queries to connections (writes first: they need an idle one; reads can share), then
 * closes each group with a Sync; fails waiting queries when no connection can come in time. */
static void pool_run(struct db_pool *p)
{
	struct conn *c;
	uint64_t now = mono_ms();
	if (p->writes.head || p->reads.head)
		for (int i = 0; i < p->size; i++) {
			c = &p->conns[i];
			if (c->state == C_IDLE && needs_check(c, now))
				conn_check(c);
		}
	while (p->writes.head && (c = pick(p, false)) != NULL) {
		struct query *q = ql_pop(&p->writes);
		p->queued--;
		metrics_add(M_DB_QUEUE, -1);
		conn_send(c, q);
	}
	while (p->reads.head && (c = pick(p, true)) != NULL) {
		struct query *q = ql_pop(&p->reads);
		p->queued--;
		metrics_add(M_DB_QUEUE, -1);
		conn_send(c, q);
	}
	for (int i = 0; i < p->size; i++) {
		c = &p->conns[i];
		if (c->open && !close_group(c)) {
			conn_lost(c, "sending the query failed");
			continue;
		}
		if (c->pg && c->state == C_BUSY)
			conn_flush(c);
	}
	if (!p->writes.head && !p->reads.head)
		return;
	bool any_alive = false;
	struct conn *down = NULL;
	for (int i = 0; i < p->size; i++) {
		if (p->conns[i].state != C_DOWN)
			any_alive = true;
		else if (!down)
			down = &p->conns[i];
	}
	/* nothing up or connecting: try one now rather than answer "unreachable" for a database that may
	 * be back (at most every BACKOFF_MIN_MS, unless another pool has connected since) */
	if (!any_alive && down && !p->closing &&
	    (now - p->tried_ms >= BACKOFF_MIN_MS || atomic_load(&g_connects) != p->connects_seen)) {
		p->tried_ms = now;
		p->connects_seen = atomic_load(&g_connects);
		evtimer_del(down->timer);
		conn_connect(down);
		any_alive = down->state != C_DOWN;
	}
	fail_waiting(p, &p->writes, any_alive, now);
	fail_waiting(p, &p->reads, any_alive, now);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pool_run(arg);
}

static void pool_kick(struct db_pool *p)
{
	if (p->writes.head || p->reads.head)
		event_active(p->kick, EV_TIMEOUT, 0);
}

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size, int timeout_ms)
{
	struct db_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->base = base;
	p->size = size;
	p->timeout_ms = timeout_ms;
	p->conninfo = strdup(conninfo);
	p->conns = calloc((size_t)size, sizeof *p->conns);
	p->kick = event_new(base, -1, 0, on_kick, p);
	p->tick = event_new(base, -1, EV_PERSIST, on_kick, p);
	if (!p->conninfo || !p->conns || !p->kick || !p->tick)
		goto fail;
	struct timeval tv = ms_tv(100);
	event_add(p->tick, &tv);
	for (int i = 0; i < size; i++) {
		struct conn *c = &p->conns[i];
		c->pool = p;
		c->backoff_ms = BACKOFF_MIN_MS;
		c->timer = evtimer_new(base, on_timer, c);
		if (!c->timer)
			goto fail;
	}
	metrics_add(M_DB_CONNS_CONFIGURED, size);
	for (int i = 0; i < size; i++)
		conn_connect(&p->conns[i]);
	return p;
fail:
	p->size = 0;
	if (p->conns)
		for (int i = 0; i < size; i++)
			if (p->conns[i].timer)
				event_free(p->conns[i].timer);
	if (p->kick)
		event_free(p->kick);
	if (p->tick)
		event_free(p->tick);
	free(p->conns);
	free(p->conninfo);
	free(p);
	return NULL;
}

static void enqueue(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb,
		    void *arg, bool read_only)
{
	size_t bytes = sizeof(struct query) + (size_t)nparams * sizeof(char *);
	for (int i = 0; i < nparams; i++)
		if (params[i])
			bytes += strlen(params[i]) + 1;
	struct query *q = malloc(bytes);
	if (!q) {
		/* Out of memory: report through the queue path so cb still runs later, never inside db_exec. */
		log_kv(LOG_ERROR, "out of memory queuing a database query", NULL);
		log_flush();
		abort();
	}
	q->next = NULL;
	q->stmt = stmt;
	q->cb = cb;
	q->arg = arg;
	q->enqueued_ms = mono_ms();
	q->sent_ms = 0;
	q->read_only = read_only;
	q->internal = false;
	q->sync_after = false;
	q->phase = PH_QUERY;
	q->prep_err = NULL;
	q->nparams = nparams;
	char *dst = (char *)&q->params[nparams];
	for (int i = 0; i < nparams; i++) {
		if (!params[i]) {
			q->params[i] = NULL;
			continue;
		}
		size_t n = strlen(params[i]) + 1;
		memcpy(dst, params[i], n);
		q->params[i] = dst;
		dst += n;
	}
	ql_push(read_only ? &p->reads : &p->writes, q);
	p->queued++;
	p->running++;
	metrics_add(M_DB_QUEUE, 1);
	event_active(p->kick, EV_TIMEOUT, 0);
}

void db_exec(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb, void *arg)
{
	enqueue(p, stmt, params, nparams, cb, arg, false);
}

void db_exec_read(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb, void *arg)
{
	enqueue(p, stmt, params, nparams, cb, arg, true);
}

bool db_pool_ready(const struct db_pool *p)
{
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].state >= C_IDLE)
			return true;
	return false;
}

int db_pool_pending(const struct db_pool *p) { return p->running; }

void db_pool_free(struct db_pool *p)
{
	if (!p)
		return;
	p->closing = true;
	for (int i = 0; i < p->size; i++) {
		struct conn *c = &p->conns[i];
		if (c->state != C_DOWN)
			conn_lost(c, "shutting down");
		evtimer_del(c->timer);
	}
	pool_run(p);
	for (int i = 0; i < p->size; i++)
		event_free(p->conns[i].timer);
	metrics_add(M_DB_CONNS_CONFIGURED, -p->size);
	event_free(p->kick);
	event_free(p->tick);
	free(p->conns);
	free(p->conninfo);
	free(p);
}

const char *db_value(const PGresult *res, int row, int col)
{
	if (row >= PQntuples(res) || col >= PQnfields(res) || PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

int db_int64(const PGresult *res, int row, int col, long long *out)
{
	const char *v = db_value(res, row, col);
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end)
		return -1;
	*out = x;
	return 0;
}
