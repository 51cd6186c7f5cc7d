/* fuzz_money.c — the amount parser: never crashes; whatever it accepts formats back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t k;
	if (money_parsen((const char *)data, size, &k) != MONEY_OK)
		return 0;
	if (k < 0 || k > MONEY_MAX_KOPECKS)
		abort();
	char buf[MONEY_BUFSZ];
	int64_t back;
	if (money_parse(money_format(k, buf), &back) != MONEY_OK || back != k)
		abort();
	return 0;
}
