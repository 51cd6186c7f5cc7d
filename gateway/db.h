/* db.h — asynchronous PostgreSQL access on a libevent loop: a small pool of non-blocking libpq
 * connections per event loop, prepared statements created once per connection, reconnect with
 * backoff after the server goes away. No call here blocks the loop. */
#ifndef GW_DB_H
#define GW_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct event_base;
struct db_pool;

enum db_status {
	DB_OK = 0,        /* the statement ran; res holds its result */
	DB_ERROR,         /* PostgreSQL answered with an error (sqlstate, message); nothing was committed */
	DB_UNAVAILABLE,   /* no connection within the timeout, or the connection was lost: outcome unknown, retryable */
};

struct db_result {
	enum db_status status;
	const PGresult *res;      /* DB_OK (and DB_ERROR when the server answered); valid during the callback only */
	const char *sqlstate;     /* DB_ERROR: five-character SQLSTATE; "" otherwise */
	const char *message;      /* DB_ERROR / DB_UNAVAILABLE: a one-line reason, for logs; never shown to clients */
};

typedef void (*db_cb)(const struct db_result *r, void *arg);

/* A failure worth repeating later: the database was unreachable, or the transaction lost a
 * serialization or deadlock conflict (SQLSTATE class 40). */
bool db_retryable(const struct db_result *r);

/* A statement the pool prepares on each connection before its first use. Declare them static in the
 * service that owns the SQL: `static struct db_stmt q_ping = {"ping", "SELECT 1", 0};`. */
struct db_stmt {
	const char *name;
	const char *sql;
	int nparams;
	_Atomic int id_;          /* assigned on first use; 0 = not yet */
};

/* Creates a pool of size connections on base and starts connecting. conninfo is copied.
 * timeout_ms bounds how long a query waits for a free connection. Returns NULL on allocation failure. */
struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size, int timeout_ms);

/* Runs stmt with text parameters (NULL = SQL NULL). params are copied; cb is called exactly once,
 * later, on the pool's loop — never from inside db_exec. */
void db_exec(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb, void *arg);

/* Like db_exec, for a short read-only statement (a lookup by key): it may share a connection with
 * other such reads, sent together and answered together (pipelined), which costs the server and
 * this loop far less per query under load. Never for a statement that writes or runs long: those
 * would hold up the reads queued behind them. */
void db_exec_read(struct db_pool *p, struct db_stmt *stmt, const char *const *params, int nparams, db_cb cb,
		  void *arg);

/* True when at least one connection is established. */
bool db_pool_ready(const struct db_pool *p);

/* Number of queries running or waiting. */
int db_pool_pending(const struct db_pool *p);

/* Closes every connection; queued queries get DB_UNAVAILABLE. Frees p. */
void db_pool_free(struct db_pool *p);

/* Helpers for reading a result row: text value (NULL for SQL NULL) and integer parsing. */
const char *db_value(const PGresult *res, int row, int col);
int db_int64(const PGresult *res, int row, int col, long long *out);

#endif
