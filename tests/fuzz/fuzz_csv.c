/* fuzz_csv.c — the import's CSV reader on arbitrary files: no crash, bounded fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct csv_reader rd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	csv_init(&rd, f);
	char err[128];
	int r, records = 0;
	while ((r = csv_read(&rd, err)) == 1) {
		if (rd.nf < 1 || rd.nf > CSV_MAX_FIELDS)
			abort();
		for (int i = 0; i < rd.nf; i++)
			if (strlen(rd.fields[i]) >= CSV_MAX_RECORD)
				abort();
		if (++records > 1000000)
			abort();
	}
	if (r == -1 && strncmp(err, "line ", 5) != 0)
		abort();
	fclose(f);
	return 0;
}
