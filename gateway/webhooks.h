/* webhooks.h — the webhook workers: the events feed POSTed, signed and in order, to every endpoint of
 * GATEWAY_WEBHOOK_URLS; also where old events are dropped (GATEWAY_EVENTS_KEEP_DAYS). */
#ifndef GW_WEBHOOKS_H
#define GW_WEBHOOKS_H

struct config;

/* Starts cfg->webhook_workers threads (one, for the pruning, when no endpoint is configured; none with
 * GATEWAY_EVENTS=off or GATEWAY_WEBHOOK_WORKERS=0). Call before server_run(); 0, or -1 with a line on
 * stderr. */
int webhooks_start(const struct config *cfg);
/* Stops and joins them; the cursor of an endpoint in hand is recorded. Safe when nothing started. */
void webhooks_stop(void);
/* GATEWAY_WEBHOOK_URLS as a PostgreSQL array literal ({"u1","u2"}, " and \\ escaped): a new string or NULL. */
char *webhooks_url_array(const struct config *cfg);

#endif
