/* routes_admin.h — the operator's console under /admin (see routes_admin.c). */
#ifndef GW_ROUTES_ADMIN_H
#define GW_ROUTES_ADMIN_H

#include "http.h"

void h_admin_login_page(struct req *r);      /* GET  /admin/login */
void h_admin_login(struct req *r);           /* POST /admin/login (form: login, password, csrf) */
void h_admin_logout(struct req *r);          /* POST /admin/logout */
void h_admin_app(struct req *r);             /* GET  /admin */
void h_admin_asset(struct req *r);           /* GET  /admin/assets/{file} */
void h_admin_me(struct req *r);              /* GET  /admin/api/me */
void h_admin_search(struct req *r);          /* GET  /admin/api/payments */
void h_admin_payment(struct req *r);         /* GET  /admin/api/payments/{id} */
void h_admin_resend(struct req *r);          /* POST /admin/api/receipts/{number}/resend */
void h_admin_refund(struct req *r);          /* POST /admin/api/payments/{id}/refunds */
void h_admin_overview(struct req *r);        /* GET  /admin/api/overview */
void h_admin_audit(struct req *r);           /* GET  /admin/api/audit */
void h_admin_partners(struct req *r);        /* GET  /admin/api/partners */
void h_admin_partner_add(struct req *r);     /* POST /admin/api/partners */
void h_admin_partner_change(struct req *r);  /* POST /admin/api/partners/{name}/{op} */
void h_admin_registry(struct req *r);        /* GET  /admin/api/registries */
void h_admin_reconcile(struct req *r);       /* POST /admin/api/reconcile */
void h_admin_staff(struct req *r);           /* GET  /admin/api/staff */
void h_admin_staff_add(struct req *r);       /* POST /admin/api/staff */
void h_admin_staff_change(struct req *r);    /* POST /admin/api/staff/{login}/{op} */

#endif
