/* routes_events.h — the events feed and the webhooks, internal API (bearer token). */
#ifndef GW_ROUTES_EVENTS_H
#define GW_ROUTES_EVENTS_H

#include "http.h"

void h_events(struct req *r);                /* GET  /v1/internal/events */
void h_webhooks(struct req *r);              /* GET  /v1/internal/webhooks */
void h_webhook_failures(struct req *r);      /* GET  /v1/internal/webhooks/failures */
void h_webhook_replay(struct req *r);        /* POST /v1/internal/webhooks/{id}/replay */

#endif
