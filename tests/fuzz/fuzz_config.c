/* fuzz_config.c — configuration values as an operator might mistype them: listen addresses,
 * sizes and numbers never crash and never yield values outside their range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char host[64], err[CONFIG_ERRSZ];
	uint16_t port;
	if (config_parse_listen(s, host, sizeof host, &port, err) == 0 && port == 0)
		abort();
	size_t sz;
	if (config_parse_size(s, 16 * 1024 * 1024, &sz) == 0 && (sz == 0 || sz > 16 * 1024 * 1024))
		abort();
	long v;
	if (config_parse_int(s, 1, 64, &v) == 0 && (v < 1 || v > 64))
		abort();
	free(s);
	return 0;
}
