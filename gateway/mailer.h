/* mailer.h — the receipt mailer: worker threads that take due receipts from the outbox (the receipts
 * table) with FOR UPDATE SKIP LOCKED, so any number of gateways may run them, render the mail and
 * deliver it with libcurl's SMTP (or write .eml files), retrying with exponential backoff and jitter.
 * They block on their own PostgreSQL connection and sockets, never on the HTTP event loops, and are
 * woken by NOTIFY receipts when a receipt becomes pending.
 *
 * Delivery guarantee: a pending receipt is mailed at least once, or ends 'failed' with its last error.
 * It is mailed twice only when a gateway dies (or loses the database for longer than the claim's lease)
 * between the SMTP server's "250" after DATA and the commit that records 'sent': the claim's lease
 * then expires and another mailer sends it again — with the same Message-ID, so the receiving
 * system may drop the copy. */
#ifndef GW_MAILER_H
#define GW_MAILER_H

#include <stdint.h>

#include "config.h"

/* Starts cfg->mail_workers mailer threads (none when 0). cfg must outlive mailer_stop(). Call before
 * server_run(): the threads block SIGTERM/SIGINT/SIGPIPE so those reach the server's sigwait. Returns
 * 0, or -1 with a one-line reason on stderr. */
int mailer_start(const struct config *cfg);

/* Asks the threads to stop and joins them: a mail being sent is finished and recorded (aborted only
 * after cfg->shutdown_timeout seconds), claimed mails not yet started go back to pending. Safe to call
 * when mailer_start() started nothing or failed. */
void mailer_stop(void);

#endif
