/* db.c — the asynchronous PostgreSQL pool. Each connection is a small state machine:
 *   DOWN --timer--> CONNECTING --ok--> IDLE --query--> [PREPARING -->] BUSY --result--> IDLE
 * and any failure goes back to DOWN with a reconnect timer. One query per connection at a time;
 * callers that find no idle connection wait in a FIFO bounded by the pool's timeout. */
#include "db.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "metrics.h"

#define MAX_STMTS 128
#define CONNECT_TIMEOUT_MS 5000
#define QUERY_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_PREPARING, C_BUSY };

struct query {
	struct query *next;
	struct db_stmt *stmt;
	db_cb cb;
	void *arg;
	uint64_t enqueued_ms;
	int nparams;
	char *params[];          /* nparams pointers, then the strings themselves */
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
	struct query *q;
	PGresult *last;
};

struct db_pool {
	struct event_base *base;
	char *conninfo;
	int size;
	int timeout_ms;
	struct conn *conns;
	struct query *head, *tail;
	int queued;
	int running;
	struct event *kick;       /* processes the queue on the next loop turn */
	struct event *tick;       /* expires waiting queries */
	bool closing;
};

static _Atomic int next_stmt_id;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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

static void finish_query(struct db_pool *p, struct query *q, enum db_status st, const PGresult *res,
			 const char *sqlstate, const char *msg)
{
	struct db_result r = {st, res, sqlstate ? sqlstate : "", msg ? msg : ""};
	p->running--;
	if (st == DB_UNAVAILABLE)
		metrics_add(M_DB_UNAVAILABLE, 1);
	else if (st == DB_ERROR)
		metrics_add(M_DB_ERRORS, 1);
	q->cb(&r, q->arg);
	free(q);
}

static void conn_connect(struct conn *c);
static void conn_send(struct conn *c);
static void pool_kick(struct db_pool *p);

static void conn_set_state(struct conn *c, enum conn_state st)
{
	bool was_busy = c->state == C_BUSY || c->state == C_PREPARING;
	bool is_busy = st == C_BUSY || st == C_PREPARING;
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

/* The connection failed or was lost: report the running query as unavailable (its outcome is
 * unknown), close, and schedule a reconnect unless the pool is closing. */
static void conn_lost(struct conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	char msg[256];
	/* libpq's error text is about the connection only when the connection is bad; otherwise it may
	 * be a stale message of an earlier query */
	one_line(msg, sizeof msg, why, c->pg && PQstatus(c->pg) == CONNECTION_BAD ? PQerrorMessage(c->pg) : NULL);
	bool was_open = c->state >= C_IDLE;
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
	struct query *q = c->q;
	c->q = NULL;
	if (!p->closing) {
		struct timeval tv = ms_tv(c->backoff_ms);
		evtimer_add(c->timer, &tv);
		c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	}
	if (q)
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

/* All results of the current command have arrived. */
static void conn_done(struct conn *c)
{
	struct db_pool *p = c->pool;
	PGresult *res = c->last;
	c->last = NULL;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (c->state == C_PREPARING && st == PGRES_COMMAND_OK) {
		int id = stmt_id(c->q->stmt);
		c->prepared[id / 64] |= (uint64_t)1 << (id % 64);
		PQclear(res);
		conn_send(c);
		return;
	}
	struct query *q = c->q;
	c->q = NULL;
	evtimer_del(c->timer);
	conn_set_state(c, C_IDLE);
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
	if (c->pg && PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, "database connection broken");
		return;
	}
	pool_kick(p);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
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
	while (!PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		if (!res) {
			conn_done(c);
			return;
		}
		if (c->last)
			PQclear(c->last);
		c->last = res;
	}
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
	case C_PREPARING:
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
	evutil_socket_t fd = PQsocket(c->pg);
	c->io = event_new(p->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(p->base, fd, EV_WRITE, on_write, c);
	if (!c->io || !c->wev || event_add(c->io, NULL) != 0) {
		conn_lost(c, "cannot watch the database socket");
		return;
	}
	memset(c->prepared, 0, sizeof c->prepared);
	c->backoff_ms = BACKOFF_MIN_MS;
	conn_set_state(c, C_IDLE);
	metrics_add(M_DB_RECONNECTS, 1);
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

/* Sends c->q: prepares the statement first if this connection has not seen it. */
static void conn_send(struct conn *c)
{
	struct query *q = c->q;
	int id = stmt_id(q->stmt);
	int ok;
	if (id >= MAX_STMTS) {
		c->q = NULL;
		conn_set_state(c, C_IDLE);
		finish_query(c->pool, q, DB_ERROR, NULL, "XX000", "too many prepared statements");
		return;
	}
	if (!(c->prepared[id / 64] & ((uint64_t)1 << (id % 64)))) {
		conn_set_state(c, C_PREPARING);
		ok = PQsendPrepare(c->pg, q->stmt->name, q->stmt->sql, q->stmt->nparams, NULL);
	} else {
		conn_set_state(c, C_BUSY);
		ok = PQsendQueryPrepared(c->pg, q->stmt->name, q->nparams, (const char *const *)q->params, NULL, NULL, 0);
	}
	if (!ok) {
		conn_lost(c, "sending the query failed");
		return;
	}
	struct timeval tv = ms_tv(QUERY_TIMEOUT_MS);
	evtimer_add(c->timer, &tv);
	conn_flush(c);
}

/* Hands queued queries to idle connections; fails them when no connection can come. */
static void pool_run(struct db_pool *p)
{
	bool any_alive = false;
	for (int i = 0; i < p->size && p->head; i++) {
		struct conn *c = &p->conns[i];
		if (c->state != C_DOWN)
			any_alive = true;
		if (c->state != C_IDLE)
			continue;
		struct query *q = p->head;
		p->head = q->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		metrics_add(M_DB_QUEUE, -1);
		c->q = q;
		conn_send(c);
	}
	if (!p->head)
		return;
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].state != C_DOWN)
			any_alive = true;
	uint64_t now = now_ms();
	while (p->head && (!any_alive || p->closing || now - p->head->enqueued_ms >= (uint64_t)p->timeout_ms)) {
		struct query *q = p->head;
		p->head = q->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		metrics_add(M_DB_QUEUE, -1);
		finish_query(p, q, DB_UNAVAILABLE, NULL, NULL,
			     any_alive ? "timed out waiting for a database connection" : "the database is unreachable");
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pool_run(arg);
}

static void pool_kick(struct db_pool *p)
{
	if (p->head)
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

void db_exec(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb, void *arg)
{
	size_t bytes = sizeof(struct query) + (size_t)nparams * sizeof(char *);
	for (int i = 0; i < nparams; i++)
		if (params[i])
			bytes += strlen(params[i]) + 1;
	struct query *q = malloc(bytes);
	if (!q) {
		/* Out of memory: report through the queue path so cb still runs later, never inside db_exec. */
		log_kv(LOG_ERROR, "out of memory queuing a database query", NULL);
		abort();
	}
	q->next = NULL;
	q->stmt = stmt;
	q->cb = cb;
	q->arg = arg;
	q->enqueued_ms = now_ms();
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
	if (p->tail)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	p->queued++;
	p->running++;
	metrics_add(M_DB_QUEUE, 1);
	event_active(p->kick, EV_TIMEOUT, 0);
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
