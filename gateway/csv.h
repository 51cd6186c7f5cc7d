/* csv.h — a strict RFC 4180 reader (quotes, doubled quotes, CRLF or LF, UTF-8 BOM) for imports. */
#ifndef GW_CSV_H
#define GW_CSV_H

#include <stdio.h>

#define CSV_MAX_FIELDS 32
#define CSV_MAX_RECORD 65536

struct csv_reader {
	FILE *f;                  /* borrowed */
	long line;                /* line where the last record started (1-based) */
	long next_line;
	char buf[CSV_MAX_RECORD];
	size_t off[CSV_MAX_FIELDS];
	char *fields[CSV_MAX_FIELDS];
	int nf;
	int started;
};

void csv_init(struct csv_reader *rd, FILE *f);
/* Reads the next record into rd->fields[0..nf). Returns 1, 0 at end of file, or -1 with a reason in err
 * (unterminated quote, text after a closing quote, NUL byte, too many fields, record too long). */
int csv_read(struct csv_reader *rd, char err[128]);

/* Writes one field for a file separated by sep (',' or ';'): as it is, or quoted with '"' doubled
 * when it holds sep, a quote or a line break (RFC 4180). NULL is an empty field. */
void csv_write_field(FILE *f, const char *s, char sep);

#endif
