/* fiscal.h — the fiscal workers: fiscal documents (54-FZ) from the fiscal outbox to the cashbox. */
#ifndef GW_FISCAL_H
#define GW_FISCAL_H

struct config;
struct cashbox;

/* Starts cfg->fiscal_workers threads sending documents to cb (none when cb is NULL: GATEWAY_FISCAL
 * none or yookassa). Call before server_run(); 0, or -1 with a line on stderr. */
int fiscal_start(const struct config *cfg, const struct cashbox *cb);
/* Stops and joins them; a document in hand is finished and recorded. Safe when nothing started. */
void fiscal_stop(void);

#endif
