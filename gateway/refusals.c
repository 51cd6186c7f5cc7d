/* refusals.c — see refusals.h. */
#include "refusals.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"

struct slot {
	long long partner_id;
	const char *reason;       /* a literal */
	long long n;
};

static struct slot slots[REFUSALS_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void refusals_note(long long partner_id, const char *reason)
{
	pthread_mutex_lock(&lock);
	struct slot *free_ = NULL;
	for (size_t i = 0; i < REFUSALS_SLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->n && s->partner_id == partner_id && strcmp(s->reason, reason) == 0) {
			s->n++;
			pthread_mutex_unlock(&lock);
			return;
		}
		if (!s->n && !free_)
			free_ = s;
	}
	if (free_)
		*free_ = (struct slot){partner_id, reason, 1};
	pthread_mutex_unlock(&lock);
}

struct refusals {
	struct event *ev;
	struct db_pool *db;
	char tz[64];
};

static struct db_stmt q_add = {"refusals_add", "SELECT partner_refusals_add($1::bigint, $2, $3::bigint, $4)", 4, 0};

static void on_added(const struct db_result *r, void *arg)
{
	(void)arg;
	if (r->status != DB_OK)
		log_kv(LOG_WARN, "partner refusals could not be counted in the database (the log and metrics have them)",
		       "reason", r->message, NULL);
}

static void flush(struct refusals *f)
{
	struct slot taken[REFUSALS_SLOTS];
	size_t n = 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < REFUSALS_SLOTS; i++)
		if (slots[i].n) {
			taken[n++] = slots[i];
			slots[i].n = 0;
		}
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++) {
		char id[24], cnt[24];
		snprintf(id, sizeof id, "%lld", taken[i].partner_id);
		snprintf(cnt, sizeof cnt, "%lld", taken[i].n);
		const char *p[4] = {id, taken[i].reason, cnt, f->tz};
		db_exec(f->db, &q_add, p, 4, on_added, NULL);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

struct refusals *refusals_start(struct event_base *base, struct db_pool *db, const char *tz)
{
	struct refusals *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->db = db;
	snprintf(f->tz, sizeof f->tz, "%s", tz);
	struct timeval tv = {REFUSALS_FLUSH_MS / 1000, (REFUSALS_FLUSH_MS % 1000) * 1000};
	if (!(f->ev = event_new(base, -1, EV_PERSIST, on_timer, f)) || event_add(f->ev, &tv) != 0) {
		if (f->ev)
			event_free(f->ev);
		free(f);
		return NULL;
	}
	return f;
}

void refusals_stop(struct refusals *f)
{
	if (!f)
		return;
	flush(f);
	event_free(f->ev);
	free(f);
}
