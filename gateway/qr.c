/* qr.c — QR codes drawn as SVG paths (see qr.h). One path for all dark modules: a few kilobytes for
 * a receipt's string, crisp at any print resolution. */
#include "qr.h"

#include <stdio.h>
#include <stdlib.h>

#include <qrencode.h>

#define QUIET 4

char *qr_svg(const char *text, int module)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q)
		return NULL;
	int n = q->width, side = (n + 2 * QUIET) * module;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		QRcode_free(q);
		return NULL;
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		   "shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR\">"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
		side, side, n + 2 * QUIET, n + 2 * QUIET);
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++)
			if (q->data[y * n + x] & 1)   /* bit 0: a dark module */
				fprintf(f, "M%d %dh1v1h-1z", x + QUIET, y + QUIET);
	fputs("\"/></svg>", f);
	QRcode_free(q);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
