/* evmem.c — a per-thread cache of small blocks in front of malloc, for libevent's allocations
 * (event_set_mem_functions). evhttp allocates and frees some forty small blocks per request — every
 * header is three (its entry, its name, its value) — and glibc's own per-thread cache keeps only
 * seven blocks per size, so most of them took the locked arena path (measured: about a tenth of a
 * /healthz request's CPU). Blocks stay ordinary malloc blocks, cached by the chunk size malloc gave
 * them, so anything may still free() them (evhttp_uridecode's result, for one); a thread's cache is
 * handed back to malloc when the thread ends. */
#include "evmem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#define EVMEM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVMEM_OFF 1
#endif
#endif

#ifdef EVMEM_OFF
void evmem_install(void) {}
void evmem_release(void) {}
#else

#define CLASSES 31                /* glibc chunk sizes 32 ... 512 bytes, in steps of 16 */
#define KEEP 256                  /* blocks kept per size per thread */

struct block {
	struct block *next;
};

static _Thread_local struct {
	struct block *head[CLASSES];
	unsigned n[CLASSES];
	bool registered;
} cache;

static pthread_key_t key;
static bool have_key;

/* The class of a block of usable size u (malloc's chunk minus its 8-byte header), or -1. */
static int class_of_usable(size_t u)
{
	size_t chunk = u + 8;
	if (chunk < 32 || chunk % 16 != 0 || chunk / 16 - 2 >= CLASSES)
		return -1;
	return (int)(chunk / 16 - 2);
}

/* The class malloc(n) would come from (glibc's request2size), or -1. */
static int class_of_request(size_t n)
{
	size_t chunk = (n + 8 + 15) & ~(size_t)15;
	if (chunk < 32)
		chunk = 32;
	if (chunk / 16 - 2 >= CLASSES)
		return -1;
	return (int)(chunk / 16 - 2);
}

void evmem_release(void)
{
	for (int c = 0; c < CLASSES; c++) {
		struct block *b = cache.head[c];
		while (b) {
			struct block *next = b->next;
			free(b);
			b = next;
		}
		cache.head[c] = NULL;
		cache.n[c] = 0;
	}
}

static void on_thread_end(void *arg)
{
	(void)arg;
	evmem_release();
}

static void *ev_malloc(size_t n)
{
	int c = class_of_request(n);
	if (c >= 0 && cache.head[c]) {
		struct block *b = cache.head[c];
		cache.head[c] = b->next;
		cache.n[c]--;
		return b;
	}
	return malloc(n);
}

static void *ev_realloc(void *p, size_t n) { return realloc(p, n); }

static void ev_free(void *p)
{
	if (!p)
		return;
	int c = class_of_usable(malloc_usable_size(p));
	if (c < 0 || cache.n[c] >= KEEP) {
		free(p);
		return;
	}
	if (!cache.registered) {               /* so that the cache goes back to malloc when the thread ends */
		cache.registered = true;
		if (have_key)
			pthread_setspecific(key, &cache);
	}
	struct block *b = p;
	b->next = cache.head[c];
	cache.head[c] = b;
	cache.n[c]++;
}

void evmem_install(void)
{
	have_key = pthread_key_create(&key, on_thread_end) == 0;
	event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
}

#endif
