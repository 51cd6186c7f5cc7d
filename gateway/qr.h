/* qr.h — a QR code as inline SVG (libqrencode), for the fiscal receipt's QR (tag 1196). */
#ifndef GW_QR_H
#define GW_QR_H

/* An <svg> of text's QR code (error correction M, a 4-module quiet zone), module px each. A new
 * string (caller frees), or NULL when text cannot be encoded or memory runs out. */
char *qr_svg(const char *text, int module);

#endif
