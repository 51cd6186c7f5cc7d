/* fees.c — the daily fee rule in C (see fees.h). */
#include "fees.h"

#include <time.h>

int fees_days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[(m - 1) % 12];
}

int64_t fees_daily_share(int64_t monthly_fee, int d, int ndays)
{
	return monthly_fee / ndays + (d <= monthly_fee % ndays ? 1 : 0);
}

struct civil_date fees_add_days(struct civil_date c, int64_t days)
{
	while (days > 0) {
		int n = fees_days_in_month(c.y, c.m);
		if (c.d + days <= n) {
			c.d += (int)days;
			break;
		}
		days -= n - c.d + 1;
		c.d = 1;
		if (++c.m > 12) {
			c.m = 1;
			c.y++;
		}
	}
	return c;
}

#define MAX_DAYS 3660

int64_t fees_days_left(int64_t balance, int64_t monthly_fee, struct civil_date today, struct civil_date *until)
{
	*until = today;
	if (monthly_fee <= 0)
		return -1;
	int64_t days = 0;
	struct civil_date c = today;
	while (days < MAX_DAYS) {
		int n = fees_days_in_month(c.y, c.m);
		/* the rest of this month at once when it is paid for whole */
		int64_t extra = monthly_fee % n - c.d + 1, rest_days = n - c.d + 1;
		int64_t rest = monthly_fee / n * rest_days + (extra > 0 ? extra : 0);
		if (balance >= rest) {
			balance -= rest;
			days += rest_days;
			c = fees_add_days(c, rest_days);
			continue;
		}
		while (balance >= fees_daily_share(monthly_fee, c.d, n)) {
			balance -= fees_daily_share(monthly_fee, c.d, n);
			days++;
			c.d++;
		}
		break;
	}
	if (days > MAX_DAYS)
		days = MAX_DAYS;
	*until = fees_add_days(today, days);
	return days;
}

int64_t fees_recommended_amount(int64_t balance, int64_t monthly_fee, struct civil_date today, int64_t min,
				int64_t max)
{
	int64_t need;
	if (monthly_fee <= 0) {
		need = balance < 0 ? -balance : min;
	} else {
		/* the shares from today up to the same day next month */
		int64_t month = 0;
		struct civil_date c = today, end = today;
		end.m = today.m == 12 ? 1 : today.m + 1;
		end.y = today.m == 12 ? today.y + 1 : today.y;
		if (end.d > fees_days_in_month(end.y, end.m))
			end.d = fees_days_in_month(end.y, end.m);
		while (c.y != end.y || c.m != end.m || c.d != end.d) {
			month += fees_daily_share(monthly_fee, c.d, fees_days_in_month(c.y, c.m));
			c = fees_add_days(c, 1);
		}
		need = balance >= month || balance > INT64_MAX / 2 ? monthly_fee : month - balance;
	}
	if (need > max)
		need = max;
	if (need % 100)
		need += 100 - need % 100;             /* up to whole roubles */
	if (need < min)
		need = min;
	if (need > max)
		need = max;
	return need;
}

struct civil_date fees_today(void)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	return (struct civil_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}
