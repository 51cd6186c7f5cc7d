/* rbs.h — the parts of the RBS adapter that unit tests check directly. The core never includes it. */
#ifndef GW_RBS_H
#define GW_RBS_H

#include <event2/keyvalq_struct.h>

/* The callback checksum: uppercase hex HMAC-SHA256 under key of every parameter except `checksum`
 * and `sign_alias`, sorted by name (byte order), written "name;value;name;value;...;".
 * Returns 0 with out (65 bytes), or -1 (no parameters, too many, or out of memory). */
int rbs_checksum(const struct evkeyvalq *params, const char *key, char out[65]);

#endif
