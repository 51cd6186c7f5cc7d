/* routes_balance.h — the balance over time, internal API: charges booked for the operator's billing
 * and the account statement («Детализация») as JSON, CSV or a printable page. */
#ifndef GW_ROUTES_BALANCE_H
#define GW_ROUTES_BALANCE_H

#include "http.h"

void h_charge_create(struct req *r);         /* POST /v1/internal/charges */
void h_statement(struct req *r);             /* GET  /v1/internal/accounts/{contract}/statement */

#endif
