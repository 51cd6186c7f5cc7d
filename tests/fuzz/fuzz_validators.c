/* fuzz_validators.c — the small validators that decide whether outside text reaches the database:
 * receipt lookup tokens, receipt numbers and payment UUIDs (receipts.c), the registry date
 * (registries.c), partner names and protocols (partners.c), and the terminals' local times
 * (term_parse_time: OSMP txn_date YYYYMMDDHHMMSS, Sber PAY_DATE DD.MM.YYYY_HH:MM:SS).
 * Property: each agrees with a reference written here — POSIX regular expressions for the shapes,
 * timegm() round trips for "a real calendar moment in 2000..2999" — on every input. */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "partners.h"
#include "ident.h"
#include "receipts.h"
#include "registries.h"
#include "terminal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { RE_TOKEN, RE_NUMBER, RE_UUID, RE_DATE, RE_NAME, RE_COMPACT, RE_SBER, RE_N };
static const char *const patterns[RE_N] = {
	"^[0-9a-f]{48}$",
	"^[0-9]{4}-[0-9]{6,12}$",
	"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
	"^[a-z0-9][a-z0-9_-]{1,62}$",
	"^[0-9]{14}$",
	"^[0-9]{2}\\.[0-9]{2}\\.[0-9]{4}_[0-9]{2}:[0-9]{2}:[0-9]{2}$",
};
static regex_t re[RE_N];

static bool matches(int i, const char *s) { return regexec(&re[i], s, 0, NULL, 0) == 0; }

/* A real moment: the fields survive timegm/gmtime unchanged. */
static bool real_moment(int y, int mo, int d, int h, int mi, int se)
{
	if (y < 2000 || y > 2999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
	time_t t = timegm(&tm);
	struct tm back;
	if (!gmtime_r(&t, &back))
		return false;
	return back.tm_year == y - 1900 && back.tm_mon == mo - 1 && back.tm_mday == d && back.tm_hour == h &&
	       back.tm_min == mi && back.tm_sec == se;
}

static int num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static void check_time(const char *s, bool sber)
{
	char out[20] = "", want[32];
	int rc = term_parse_time(s, sber, out);
	bool ok = false;
	if (matches(sber ? RE_SBER : RE_COMPACT, s)) {
		int y, mo, d, h, mi, se;
		if (sber)
			d = num(s, 2), mo = num(s + 3, 2), y = num(s + 6, 4), h = num(s + 11, 2), mi = num(s + 14, 2),
			se = num(s + 17, 2);
		else
			y = num(s, 4), mo = num(s + 4, 2), d = num(s + 6, 2), h = num(s + 8, 2), mi = num(s + 10, 2),
			se = num(s + 12, 2);
		ok = real_moment(y, mo, d, h, mi, se);
		snprintf(want, sizeof want, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, se);
	}
	if ((rc == 0) != ok || (ok && memcmp(out, want, 20) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		for (int i = 0; i < RE_N; i++)
			if (regcomp(&re[i], patterns[i], REG_EXTENDED | REG_NOSUB) != 0)
				abort();
		ready = 1;
	}
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';               /* a C string: what the validators see of a parameter */

	if (receipt_token_valid(s) != matches(RE_TOKEN, s))
		abort();
	if (receipt_number_valid(s) != matches(RE_NUMBER, s))
		abort();
	if (ident_uuid_valid(s) != matches(RE_UUID, s))
		abort();
	bool date = matches(RE_DATE, s) && real_moment(num(s, 4), num(s + 5, 2), num(s + 8, 2), 0, 0, 0);
	if ((registry_date_valid(s) != 0) != date)
		abort();
	if (partner_name_valid(s) != matches(RE_NAME, s))
		abort();
	bool proto = !strcmp(s, "osmp") || !strcmp(s, "sber-online") || !strcmp(s, "json");
	if (partner_protocol_valid(s) != proto)
		abort();
	check_time(s, false);
	check_time(s, true);
	free(s);
	return 0;
}
