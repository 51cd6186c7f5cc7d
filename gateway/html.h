/* html.h — writing HTML safely: every value from outside goes through html_escape. */
#ifndef GW_HTML_H
#define GW_HTML_H

#include <stdio.h>

/* Writes s to f with & < > " ' escaped (safe in text and in quoted attribute values). */
void html_escape(FILE *f, const char *s);

#endif
