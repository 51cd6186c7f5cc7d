/* evmem.h — libevent's allocations through a per-thread cache of small blocks (see evmem.c). */
#ifndef GW_EVMEM_H
#define GW_EVMEM_H

/* Installs the cache as libevent's allocator; call before any other libevent function. A no-op
 * under AddressSanitizer (which should see every block come and go). */
void evmem_install(void);

/* Gives this thread's cached blocks back to malloc (threads that end do it by themselves). */
void evmem_release(void);

#endif
