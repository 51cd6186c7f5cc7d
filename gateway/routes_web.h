/* routes_web.h — handlers of the pay-without-login path: account lookup, payments, notifications. */
#ifndef GW_ROUTES_WEB_H
#define GW_ROUTES_WEB_H

#include "http.h"

void h_account_lookup(struct req *r);
void h_payment_create(struct req *r);
void h_payment_get(struct req *r);
void h_notification(struct req *r);
void h_payment_methods(struct req *r);
void h_pay_form(struct req *r);
void h_pay_result(struct req *r);
void h_pay_asset(struct req *r);
/* Answers an embedded web file (gateway/web/) with its type, ETag, CSP and framing headers; 404 when
 * there is none by that name. */
void web_send_asset(struct req *r, const char *name);
/* The headers of every page of ours: a strict Content-Security-Policy, no framing, same-origin referrers. */
void web_page_headers(struct req *r);

#endif
