/* fees.h — the daily share of a monthly fee and what a balance pays for, by the rule the charge run
 * books (schema/011_balance.sql, daily_fee()): a month of N days charges fee / N kopecks a day and
 * one kopeck more on its first fee mod N days, so a month adds up to the fee exactly. Pure functions
 * of a civil date; the caller says which day is today (GATEWAY_PARTNER_TZ). */
#ifndef GW_FEES_H
#define GW_FEES_H

#include <stdint.h>

struct civil_date {
	int y, m, d;              /* 2026, 1..12, 1..31 */
};

int fees_days_in_month(int y, int m);
/* The share of monthly_fee charged for day d of a month of ndays days. */
int64_t fees_daily_share(int64_t monthly_fee, int d, int ndays);
/* How many days from today (included) the balance pays for, day by day in order, at most 3660; -1
 * when there is no fee. *until is the first day it no longer pays for (today + days). */
int64_t fees_days_left(int64_t balance, int64_t monthly_fee, struct civil_date today, struct civil_date *until);
/* What to pay to cover the month from today (today up to the same day next month, excluded) on top of
 * the balance, up to whole roubles, within [min, max]; the monthly fee when the balance already covers
 * it; with no fee, the debt or min. */
int64_t fees_recommended_amount(int64_t balance, int64_t monthly_fee, struct civil_date today, int64_t min,
				int64_t max);
/* Today in the process's local time zone (serve sets TZ to GATEWAY_PARTNER_TZ at start). */
struct civil_date fees_today(void);
struct civil_date fees_add_days(struct civil_date c, int64_t days);

#endif
