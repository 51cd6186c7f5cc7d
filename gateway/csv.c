/* csv.c — strict CSV reading; anything ambiguous is an error with a line number, never a guess. */
#include "csv.h"

#include <string.h>

void csv_init(struct csv_reader *rd, FILE *f)
{
	memset(rd, 0, sizeof *rd);
	rd->f = f;
	rd->next_line = 1;
}

int csv_read(struct csv_reader *rd, char err[128])
{
	size_t len = 0;
	int nf = 0;
	int c;
	enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st = FIELD_START;
	rd->line = rd->next_line;
	if (!rd->started) {
		rd->started = 1;
		int a = getc(rd->f), b = a == 0xEF ? getc(rd->f) : EOF, d = b == 0xBB ? getc(rd->f) : EOF;
		if (!(a == 0xEF && b == 0xBB && d == 0xBF)) {
			if (d != EOF)
				ungetc(d, rd->f);
			if (b != EOF && b != 0xBB)
				ungetc(b, rd->f);
			else if (b == 0xBB) {
				snprintf(err, 128, "line 1: broken byte order mark");
				return -1;
			}
			if (a != EOF && a != 0xEF)
				ungetc(a, rd->f);
			else if (a == 0xEF) {
				snprintf(err, 128, "line 1: broken byte order mark");
				return -1;
			}
		}
	}
	c = getc(rd->f);
	if (c == EOF)
		return 0;
	rd->off[nf] = 0;
	for (;; c = getc(rd->f)) {
		if (c == '\0') {
			snprintf(err, 128, "line %ld: NUL byte", rd->next_line);
			return -1;
		}
		if (len + 2 >= sizeof rd->buf) {
			snprintf(err, 128, "line %ld: record longer than %d bytes", rd->line, CSV_MAX_RECORD);
			return -1;
		}
		if (st == QUOTED) {
			if (c == EOF) {
				snprintf(err, 128, "line %ld: unterminated quoted field", rd->line);
				return -1;
			}
			if (c == '"')
				st = QUOTE_IN_QUOTED;
			else {
				if (c == '\n')
					rd->next_line++;
				rd->buf[len++] = (char)c;
			}
			continue;
		}
		if (st == QUOTE_IN_QUOTED && c == '"') {
			rd->buf[len++] = '"';
			st = QUOTED;
			continue;
		}
		if (c == '\r') {
			int n = getc(rd->f);
			if (n != '\n') {
				snprintf(err, 128, "line %ld: carriage return without line feed", rd->next_line);
				return -1;
			}
			c = '\n';
		}
		if (c == ',' || c == '\n' || c == EOF) {
			rd->buf[len++] = '\0';
			nf++;
			if (c == ',') {
				if (nf >= CSV_MAX_FIELDS) {
					snprintf(err, 128, "line %ld: more than %d fields", rd->line, CSV_MAX_FIELDS);
					return -1;
				}
				rd->off[nf] = len;
				st = FIELD_START;
				continue;
			}
			if (c == '\n')
				rd->next_line++;
			break;
		}
		if (st == QUOTE_IN_QUOTED) {
			snprintf(err, 128, "line %ld: text after a closing quote", rd->line);
			return -1;
		}
		if (c == '"') {
			if (st != FIELD_START) {
				snprintf(err, 128, "line %ld: quote inside an unquoted field", rd->line);
				return -1;
			}
			st = QUOTED;
			continue;
		}
		st = UNQUOTED;
		rd->buf[len++] = (char)c;
	}
	for (int i = 0; i < nf; i++)
		rd->fields[i] = rd->buf + rd->off[i];
	rd->nf = nf;
	return 1;
}

void csv_write_field(FILE *f, const char *s, char sep)
{
	const char special[] = {sep, '"', '\r', '\n', '\0'};
	if (!s)
		s = "";
	if (strpbrk(s, special) == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
