/* mail_send.h — how one receipt mail leaves the gateway: rendered (receipt_render.c) and handed to
 * the SMTP server with libcurl (one handle per sender, kept between mails so the connection is
 * reused), or written as one .eml file per mail for GATEWAY_MAIL_URL=file:///dir. The outbox worker
 * (mailer.c) decides when; this decides nothing but how. Blocking: call it off the event loops. */
#ifndef GW_MAIL_SEND_H
#define GW_MAIL_SEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct receipt;

enum mail_outcome {
	MAIL_SENT,       /* the server took it (or the file is written) */
	MAIL_RETRY,      /* not now: try again later */
	MAIL_FAILED,     /* never: the address or the server's final word refuses it */
};

/* Process-wide set-up for cfg's GATEWAY_MAIL_URL (libcurl, the mail directory); 0 or -1 with a
 * line on stderr. mail_send_cleanup undoes it. */
int mail_send_init(const struct config *cfg);
void mail_send_cleanup(void);

struct mail_sender;

/* A sender for one thread. A transfer still running after *hard_stop_ms (monotonic ms, 0 = never)
 * is aborted. NULL when libcurl cannot be set up. */
struct mail_sender *mail_sender_new(const struct config *cfg, const _Atomic uint64_t *hard_stop_ms);
void mail_sender_free(struct mail_sender *s);

/* Renders and sends rc's mail. err gets the reason of a failure (it may quote the server's reply,
 * which may quote the address: for the database, not the log); *loggable the part that may be
 * logged. */
enum mail_outcome mail_send(struct mail_sender *s, const struct receipt *rc, char *err, size_t errsz,
			    const char **loggable);

#endif
