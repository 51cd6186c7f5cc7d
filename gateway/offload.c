/* offload.c — the pool and the per-loop inboxes of offload.h. One mutex guards the queue, every
 * inbox's finished list and its life: a pool thread delivers to an inbox only while it is open,
 * under the lock, and the last reference frees it. A finished job wakes its loop through a pipe. */
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "metrics.h"

#define THREADS_MAX 16

struct job {
	struct job *next;
	struct offload *o;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

struct offload {
	int pipe[2];
	struct event *ev;
	struct job *head, *tail;      /* finished, to be called back on the loop */
	bool closed;
	int refs;                     /* 1 for the loop + one per job not yet called back */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t threads[THREADS_MAX];
	int nthreads;
	bool stop;
	struct job *head, *tail;      /* queued */
	int queued;                   /* queued + running */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Drops a reference (pool.lock held); frees the inbox with its last one. */
static void unref(struct offload *o)
{
	if (--o->refs == 0)
		free(o);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.stop && !pool.head)
			pthread_cond_wait(&pool.cond, &pool.lock);
		if (pool.stop)
			break;
		struct job *j = pool.head;
		pool.head = j->next;
		if (!pool.head)
			pool.tail = NULL;
		bool skip = j->o->closed;
		pthread_mutex_unlock(&pool.lock);
		if (!skip)
			j->work(j->arg);
		metrics_add(M_PASSWORD_CHECKS_WAITING, -1);
		pthread_mutex_lock(&pool.lock);
		pool.queued--;
		struct offload *o = j->o;
		if (o->closed) {
			unref(o);
			free(j);
			continue;
		}
		j->next = NULL;
		if (o->tail)
			o->tail->next = j;
		else
			o->head = j;
		o->tail = j;
		ssize_t w = write(o->pipe[1], "x", 1);   /* a full pipe already wakes the loop */
		(void)w;
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

int offload_start(int threads)
{
	if (threads < 1 || threads > THREADS_MAX)
		return -1;
	pool.stop = false;
	/* pool threads take no signals: those belong to the server's sigwait */
	sigset_t block, old;
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = 0;
	for (int i = 0; i < threads && rc == 0; i++) {
		rc = pthread_create(&pool.threads[i], NULL, worker, NULL);
		if (rc == 0)
			pool.nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

void offload_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stop = true;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.nthreads = 0;
	pthread_mutex_lock(&pool.lock);
	while (pool.head) {
		struct job *j = pool.head;
		pool.head = j->next;
		unref(j->o);
		free(j);
		pool.queued--;
		metrics_add(M_PASSWORD_CHECKS_WAITING, -1);
	}
	pool.tail = NULL;
	pthread_mutex_unlock(&pool.lock);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct offload *o = arg;
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&pool.lock);
	struct job *j = o->head;
	o->head = o->tail = NULL;
	pthread_mutex_unlock(&pool.lock);
	while (j) {
		struct job *next = j->next;
		j->done(j->arg);
		pthread_mutex_lock(&pool.lock);
		o->refs--;             /* never the last: the loop holds its own until offload_free */
		pthread_mutex_unlock(&pool.lock);
		free(j);
		j = next;
	}
}

struct offload *offload_new(struct event_base *base)
{
	struct offload *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->refs = 1;
	if (pipe2(o->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(o);
		return NULL;
	}
	o->ev = event_new(base, o->pipe[0], EV_READ | EV_PERSIST, on_wake, o);
	if (!o->ev || event_add(o->ev, NULL) != 0) {
		if (o->ev)
			event_free(o->ev);
		close(o->pipe[0]);
		close(o->pipe[1]);
		free(o);
		return NULL;
	}
	return o;
}

void offload_free(struct offload *o)
{
	if (!o)
		return;
	event_free(o->ev);
	pthread_mutex_lock(&pool.lock);
	o->closed = true;
	close(o->pipe[0]);
	close(o->pipe[1]);
	struct job *j = o->head;       /* finished but not called back: their loop is ending */
	o->head = o->tail = NULL;
	while (j) {
		struct job *next = j->next;
		o->refs--;
		free(j);
		j = next;
	}
	unref(o);
	pthread_mutex_unlock(&pool.lock);
}

bool offload_run(struct offload *o, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return false;
	j->o = o;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&pool.lock);
	if (pool.stop || pool.nthreads == 0 || pool.queued >= OFFLOAD_QUEUE_MAX || o->closed) {
		pthread_mutex_unlock(&pool.lock);
		free(j);
		return false;
	}
	o->refs++;
	pool.queued++;
	if (pool.tail)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	metrics_add(M_PASSWORD_CHECKS_WAITING, 1);
	return true;
}
