/* partners.c — partner records and request authentication. A per-loop cache keeps looked-up
 * partners for PARTNER_CACHE_TTL seconds (so `gatewayd partner disable` takes effect within that
 * time). A successful password check is remembered by a SHA-256 of what was presented, in the
 * loop's entry and in a table shared by every loop, so the PBKDF2 work is done once per process and
 * credential, not once per request. That work runs off the event loop (offload.c), and a login that
 * does not exist costs the same: its password is checked against a dummy hash, its signature computed
 * with a dummy key, and it gets the same 401. Failed logins are counted per login and per address;
 * past the limit they are refused without the work.
 * Credentials come first: a refusal for the source network is answered like a bad credential. */
#include "partners.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "db.h"
#include "metrics.h"
#include "offload.h"
#include "ratelimit.h"

static struct db_stmt q_by_login = {
	"partner_by_login",
	"SELECT id, name, protocol, login, password_hash, hmac_secret, cidrs::text, min_amount, max_amount, active"
	"  FROM partners WHERE login = $1",
	1, 0};

const char *partner_auth_reason(enum partner_auth_status st)
{
	switch (st) {
	case PA_OK: return "ok";
	case PA_MISSING: return "missing";
	case PA_CREDENTIALS: return "credentials";
	case PA_NETWORK: return "network";
	case PA_SIGNATURE: return "signature";
	case PA_TIMESTAMP: return "timestamp";
	case PA_PROTOCOL: return "protocol";
	case PA_DISABLED: return "disabled";
	case PA_UNAVAILABLE: return "unavailable";
	case PA_THROTTLED: return "throttled";
	}
	return "unknown";
}

static bool signature_matches(const char *given, const char expected[65])
{
	char low[64];
	if (!given || strlen(given) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		low[i] = (char)tolower((unsigned char)given[i]);
	return CRYPTO_memcmp(low, expected, 64) == 0;
}

/* ---- failed logins, the dummy, and the check off the loop ---------------------------------- */

/* Failed Basic logins, per login and per client address, shared by every loop: beyond them a login
 * is refused without computing a hash (the same 401), so a flood of wrong passwords costs almost
 * nothing; a partner whose right password was verified before, on any loop, is still let in (its
 * verifier is in `verified` below), so the flood cannot lock it out. */
static struct fail_limiter fails;
static int fail_rate = 30;
static pthread_once_t fail_once = PTHREAD_ONCE_INIT;
/* A PBKDF2 hash of a random password: what a login that does not exist is checked against. */
static char dummy_hash[PARTNER_HASH_BUFSZ];
static char dummy_secret[65];

static void fail_init(void)
{
	fail_limiter_init(&fails, fail_rate);
	unsigned char rnd[24];
	char pw[49];
	if (RAND_bytes(rnd, sizeof rnd) == 1) {
		crypto_hex(rnd, sizeof rnd, pw);
		if (partner_password_hash(pw, dummy_hash) != 0)
			dummy_hash[0] = '\0';
		OPENSSL_cleanse(pw, sizeof pw);
		crypto_hex(rnd, 16, dummy_secret);     /* never a partner's: an HMAC key nobody knows */
	}
}

/* Verified credentials, shared by every loop: a login and the SHA-256 of (login, password, hash)
 * that passed PBKDF2. A loop whose own entry has no verifier looks here before hashing, so a partner
 * verified on one loop is neither hashed again nor refused on another while its login is throttled.
 * The hash is in the digest: a rotated password's verifier matches nothing. Bounded: a newcomer
 * takes the least recently used slot. */
#define VERIFIED_SLOTS 256

static struct verified {
	char login[PARTNER_LOGIN_MAX + 1];
	unsigned char digest[32];
	uint64_t used;            /* 0: empty; else the tick of its last match or store */
} verified[VERIFIED_SLOTS];
static uint64_t verified_tick;
static pthread_mutex_t verified_mu = PTHREAD_MUTEX_INITIALIZER;

/* login's slot, else (lru) the least recently used one, else NULL. Under verified_mu. */
static struct verified *verified_slot(const char *login, bool lru)
{
	struct verified *oldest = &verified[0];
	for (int i = 0; i < VERIFIED_SLOTS; i++) {
		struct verified *v = &verified[i];
		if (v->used && strcmp(v->login, login) == 0)
			return v;
		if (v->used < oldest->used)
			oldest = v;
	}
	return lru ? oldest : NULL;
}

static void verified_put(const char *login, const unsigned char digest[32])
{
	pthread_mutex_lock(&verified_mu);
	struct verified *v = verified_slot(login, true);
	snprintf(v->login, sizeof v->login, "%s", login);
	memcpy(v->digest, digest, sizeof v->digest);
	v->used = ++verified_tick;
	pthread_mutex_unlock(&verified_mu);
}

static bool verified_has(const char *login, const unsigned char digest[32])
{
	pthread_mutex_lock(&verified_mu);
	struct verified *v = verified_slot(login, false);
	bool ok = v && CRYPTO_memcmp(v->digest, digest, sizeof v->digest) == 0;
	if (ok)
		v->used = ++verified_tick;
	pthread_mutex_unlock(&verified_mu);
	return ok;
}

/* ---- the per-loop cache and authentication --------------------------------------------------- */

#define CACHE_SLOTS 64

struct cache_entry {
	struct partner_cache *pc;
	bool used;
	bool found;               /* false: no such login (negative entry) */
	char login[PARTNER_LOGIN_MAX + 1];
	time_t fetched;           /* monotonic seconds */
	struct partner p;
	char *password_hash;
	char *hmac_secret;
	bool ok_valid;            /* ok_digest holds a verified Basic credential */
	unsigned char ok_digest[32];
};

struct partner_cache {
	struct cache_entry e[CACHE_SLOTS];
	struct offload *off;      /* this loop's inbox of password checks */
};

static time_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct partner_cache *partner_cache_new(struct event_base *base, int fail_per_minute)
{
	fail_rate = fail_per_minute;
	pthread_once(&fail_once, fail_init);
	struct partner_cache *pc = calloc(1, sizeof *pc);
	if (pc && !(pc->off = offload_new(base))) {
		free(pc);
		pc = NULL;
	}
	return pc;
}

static void entry_clear(struct cache_entry *e)
{
	if (e->password_hash) {
		OPENSSL_cleanse(e->password_hash, strlen(e->password_hash));
		free(e->password_hash);
	}
	if (e->hmac_secret) {
		OPENSSL_cleanse(e->hmac_secret, strlen(e->hmac_secret));
		free(e->hmac_secret);
	}
	OPENSSL_cleanse(e, sizeof *e);
}

void partner_cache_free(struct partner_cache *pc)
{
	if (!pc)
		return;
	offload_free(pc->off);        /* checks in flight for this loop will not call back */
	for (int i = 0; i < CACHE_SLOTS; i++)
		entry_clear(&pc->e[i]);
	free(pc);
}

static struct cache_entry *cache_find(struct partner_cache *pc, const char *login)
{
	time_t now = mono_now();
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct cache_entry *e = &pc->e[i];
		if (e->used && strcmp(e->login, login) == 0)
			return now - e->fetched < PARTNER_CACHE_TTL ? e : NULL;
	}
	return NULL;
}

/* The slot for login: its old entry (one entry per login) or the oldest slot. */
static struct cache_entry *cache_slot(struct partner_cache *pc, const char *login)
{
	struct cache_entry *oldest = &pc->e[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct cache_entry *e = &pc->e[i];
		if (e->used && strcmp(e->login, login) == 0)
			return e;
		if (!e->used)
			oldest = e;
		else if (oldest->used && e->fetched < oldest->fetched)
			oldest = e;
	}
	return oldest;
}

static void credential_digest(const char *login, const char *password, const char *hash, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	memset(out, 0, 32);
	if (!c)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, login, strlen(login) + 1);
		EVP_DigestUpdate(c, password, strlen(password) + 1);
		EVP_DigestUpdate(c, hash, strlen(hash));
		EVP_DigestFinal_ex(c, out, &n);
	}
	EVP_MD_CTX_free(c);
}

static bool throttled(const struct partner_credentials *cr)
{
	switch (fail_limiter_check(&fails, cr->login, cr->peer)) {
	case FAIL_LOGIN_THROTTLED:
		metrics_add(M_RATE_LIMITED_LOGIN, 1);
		return true;
	case FAIL_ADDRESS_THROTTLED:
		metrics_add(M_RATE_LIMITED_ADDRESS, 1);
		return true;
	default:
		return false;
	}
}

/* One password check in flight. Everything it needs is copied: the cache entry may be reused for
 * another login, and the request's strings live only until its answer. */
struct check {
	struct partner_cache *pc;
	partner_auth_cb done;
	void *arg;
	bool found;
	struct partner p;
	const char *protocol;     /* a literal of the caller's */
	char login[PARTNER_LOGIN_MAX + 1];
	char peer[64];
	char password[256];
	char hash[PARTNER_HASH_BUFSZ];
	unsigned char digest[32];
	bool verified;
};

static void check_free(struct check *c)
{
	OPENSSL_cleanse(c, sizeof *c);
	free(c);
}

/* What follows a good credential: the network, the protocol, the active flag. A network refusal is
 * reported as such (logs, metrics) and answered to the client exactly like a bad credential. */
static enum partner_auth_status after_credentials(const struct partner *p, const char *peer, const char *protocol)
{
	if (!partner_peer_allowed(p, peer))
		return PA_NETWORK;
	if (protocol && strcmp(p->protocol, protocol) != 0)
		return PA_PROTOCOL;
	if (!p->active)
		return PA_DISABLED;
	return PA_OK;
}

static void check_work(void *arg)
{
	struct check *c = arg;
	c->verified = partner_password_verify(c->password, c->hash) && c->found;
	metrics_add(M_PASSWORD_CHECKS, 1);
}

static void check_done(void *arg)
{
	struct check *c = arg;
	enum partner_auth_status st;
	if (!c->verified) {
		fail_limiter_count(&fails, c->login, c->peer);
		st = PA_CREDENTIALS;
	} else {
		verified_put(c->login, c->digest);
		struct cache_entry *e = cache_find(c->pc, c->login);
		if (e && e->found && e->password_hash && strcmp(e->password_hash, c->hash) == 0) {
			memcpy(e->ok_digest, c->digest, sizeof c->digest);
			e->ok_valid = true;
		}
		st = after_credentials(&c->p, c->peer, c->protocol);
	}
	c->done(st, c->found ? &c->p : NULL, c->arg);
	check_free(c);
}

/* Checks a password against hash off the event loop (a known login's, or the dummy for an unknown
 * one: the same work and the same answer either way). */
static void check_password(struct cache_entry *e, const struct partner_credentials *cr, const char *hash,
			   const unsigned char digest[32], partner_auth_cb done, void *arg)
{
	if (throttled(cr)) {
		done(PA_THROTTLED, e->found ? &e->p : NULL, arg);
		return;
	}
	struct check *c = calloc(1, sizeof *c);
	if (!c || strlen(cr->password) >= sizeof c->password || strlen(hash) >= sizeof c->hash) {
		if (c)
			check_free(c);
		done(c ? PA_CREDENTIALS : PA_UNAVAILABLE, NULL, arg);
		return;
	}
	c->pc = e->pc;
	c->done = done;
	c->arg = arg;
	c->found = e->found;
	if (e->found)
		c->p = e->p;
	c->protocol = cr->protocol;
	snprintf(c->login, sizeof c->login, "%s", cr->login);
	snprintf(c->peer, sizeof c->peer, "%s", cr->peer ? cr->peer : "");
	snprintf(c->password, sizeof c->password, "%s", cr->password);
	snprintf(c->hash, sizeof c->hash, "%s", hash);
	memcpy(c->digest, digest, sizeof c->digest);
	if (!offload_run(e->pc->off, check_work, check_done, c)) {
		/* the pool is full (a flood): refuse like a throttled login, without the work */
		check_free(c);
		done(PA_THROTTLED, e->found ? &e->p : NULL, arg);
	}
}

static void answer(struct cache_entry *e, const struct partner_credentials *cr, partner_auth_cb done, void *arg)
{
	const struct partner *p = e->found ? &e->p : NULL;
	if (cr->hmac) {
		/* an unknown login's signature is computed too, with a key nobody has */
		const char *secret = e->found && e->hmac_secret && *e->hmac_secret ? e->hmac_secret : dummy_secret;
		char want[65];
		if (partner_signature(secret, cr->method, cr->target, cr->timestamp, cr->body, cr->body_len, want) != 0) {
			done(PA_UNAVAILABLE, NULL, arg);
			return;
		}
		if (!signature_matches(cr->signature, want) || secret == dummy_secret) {
			done(e->found ? PA_SIGNATURE : PA_CREDENTIALS, p, arg);
			return;
		}
		if (!partner_timestamp_fresh(cr->timestamp, cr->now)) {
			done(PA_TIMESTAMP, p, arg);
			return;
		}
		done(after_credentials(&e->p, cr->peer, cr->protocol), p, arg);
		return;
	}
	const char *hash = e->found && e->password_hash && *e->password_hash ? e->password_hash : dummy_hash;
	unsigned char d[32];
	credential_digest(cr->login, cr->password, hash, d);
	if (e->found && hash != dummy_hash &&
	    ((e->ok_valid && CRYPTO_memcmp(d, e->ok_digest, sizeof d) == 0) || verified_has(cr->login, d))) {
		memcpy(e->ok_digest, d, sizeof d);
		e->ok_valid = true;
		done(after_credentials(&e->p, cr->peer, cr->protocol), p, arg);
		return;
	}
	check_password(e, cr, hash, d, done, arg);
}

struct lookup {
	struct partner_cache *pc;
	const struct partner_credentials *cr;
	partner_auth_cb done;
	void *arg;
};

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static void on_partner(const struct db_result *r, void *arg)
{
	struct lookup *lk = arg;
	const struct partner_credentials *cr = lk->cr;
	if (r->status != DB_OK || PQntuples(r->res) > 1) {
		lk->done(PA_UNAVAILABLE, NULL, lk->arg);
		free(lk);
		return;
	}
	struct cache_entry *e = cache_slot(lk->pc, cr->login);
	entry_clear(e);           /* a refreshed entry learns its verifier again from `verified` */
	e->pc = lk->pc;
	e->used = true;
	snprintf(e->login, sizeof e->login, "%s", cr->login);
	e->fetched = mono_now();
	if (PQntuples(r->res) == 1) {
		const PGresult *res = r->res;
		long long v;
		struct partner *p = &e->p;
		e->found = true;
		if (db_int64(res, 0, 0, &v) == 0)
			p->id = v;
		snprintf(p->name, sizeof p->name, "%s", db_value(res, 0, 1) ? db_value(res, 0, 1) : "");
		snprintf(p->protocol, sizeof p->protocol, "%s", db_value(res, 0, 2) ? db_value(res, 0, 2) : "");
		snprintf(p->login, sizeof p->login, "%s", cr->login);
		e->password_hash = dup_or_null(db_value(res, 0, 4));
		e->hmac_secret = dup_or_null(db_value(res, 0, 5));
		int n = partner_nets_parse_array(db_value(res, 0, 6), p->cidrs, PARTNER_MAX_CIDRS);
		if (n < 0) {
			/* A list we cannot read must not open the door to every address. */
			p->ncidrs = 1;
			memset(&p->cidrs[0], 0, sizeof p->cidrs[0]);
			p->cidrs[0].family = -1;
		} else {
			p->ncidrs = n;
		}
		if (db_int64(res, 0, 7, &v) == 0)
			p->min_amount = v;
		if (db_int64(res, 0, 8, &v) == 0)
			p->max_amount = v;
		const char *act = db_value(res, 0, 9);
		p->active = act && act[0] == 't';
	}
	answer(e, cr, lk->done, lk->arg);
	free(lk);
}

void partners_authenticate(struct partner_cache *pc, struct db_pool *db, const struct partner_credentials *cr,
			   partner_auth_cb done, void *arg)
{
	if (!cr->login || !*cr->login || strlen(cr->login) > PARTNER_LOGIN_MAX ||
	    (cr->hmac ? (!cr->signature || !cr->timestamp || !cr->method || !cr->target) : !cr->password)) {
		done(PA_MISSING, NULL, arg);
		return;
	}
	struct cache_entry *e = cache_find(pc, cr->login);
	if (e) {
		answer(e, cr, done, arg);
		return;
	}
	struct lookup *lk = malloc(sizeof *lk);
	if (!lk) {
		done(PA_UNAVAILABLE, NULL, arg);
		return;
	}
	lk->pc = pc;
	lk->cr = cr;
	lk->done = done;
	lk->arg = arg;
	const char *params[1] = {cr->login};
	db_exec(db, &q_by_login, params, 1, on_partner, lk);
}
