/* partner_cli.c — `gatewayd partner …`, `gatewayd registry` and `gatewayd reconcile` (see
 * partner_cli.h). Credentials are generated here and printed once; only the PBKDF2 hash of a
 * password is stored (the HMAC secret of a JSON partner is stored as is: we need it to verify). */
#include "partner_cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "config.h"
#include "crypto.h"
#include "csv.h"
#include "ident.h"
#include "migrations.h"
#include "money.h"
#include "partners.h"
#include "registries.h"

static const char usage_partner[] =
	"usage: gatewayd partner add NAME --protocol osmp|sber-online|json [--login LOGIN] [--cidr CIDR]...\n"
	"                            [--min 1.00] [--max 15000.00]\n"
	"       gatewayd partner list\n"
	"       gatewayd partner disable NAME | enable NAME | rotate NAME\n";
static const char usage_registry[] = "usage: gatewayd registry --partner NAME --date YYYY-MM-DD\n";
static const char usage_reconcile[] = "usage: gatewayd reconcile --partner NAME [--date YYYY-MM-DD] FILE.csv\n";

static int usage(const char *text, const char *why)
{
	if (why)
		fprintf(stderr, "gatewayd: %s\n", why);
	fputs(text, stderr);
	return 2;
}

/* Runs a parameterised statement; prints the error and returns NULL on failure. */
static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *params, const char *what)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "23505") == 0)
		fprintf(stderr, "gatewayd: %s: already exists\n", what);
	else
		fprintf(stderr, "gatewayd: %s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return NULL;
}

static bool login_valid(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= PARTNER_LOGIN_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* New credentials for a protocol: a password (stored as its hash) or an HMAC secret. */
struct creds {
	char password[33];
	char hash[PARTNER_HASH_BUFSZ];
	char secret[65];
	bool hmac;
};

static int make_creds(const char *protocol, struct creds *c)
{
	memset(c, 0, sizeof *c);
	c->hmac = strcmp(protocol, "json") == 0;
	if (c->hmac)
		return crypto_random_hex(c->secret, 32);
	if (crypto_random_hex(c->password, 16) != 0 || partner_password_hash(c->password, c->hash) != 0)
		return -1;
	return 0;
}

static void print_creds(const char *login, const struct creds *c)
{
	printf("login:       %s\n", login);
	if (c->hmac)
		printf("hmac_secret: %s\n", c->secret);
	else
		printf("password:    %s\n", c->password);
	printf("Hand these to the partner over a safe channel now: they are not shown again%s.\n",
	       c->hmac ? "" : " and only a hash of the password is kept");
}

static int partner_add(PGconn *db, int argc, char **argv)
{
	if (argc < 4)
		return usage(usage_partner, "partner add needs a NAME");
	const char *name = argv[3], *protocol = NULL, *login = NULL;
	char cidrs[PARTNER_MAX_CIDRS * 56 + 3] = "{";
	int ncidrs = 0;
	int64_t min = 100, max = 1500000;
	if (!partner_name_valid(name))
		return usage(usage_partner, "NAME: 2 to 63 characters of a-z, 0-9, '-', '_', starting with a letter or digit");
	for (int i = 4; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!val)
			return usage(usage_partner, "an option is missing its value");
		i++;
		if (strcmp(opt, "--protocol") == 0) {
			protocol = val;
		} else if (strcmp(opt, "--login") == 0) {
			login = val;
		} else if (strcmp(opt, "--cidr") == 0) {
			struct partner_net n;
			char err[128], text[64];
			if (partner_net_parse(val, &n, err) != 0)
				return usage(usage_partner, err);
			if (ncidrs == PARTNER_MAX_CIDRS)
				return usage(usage_partner, "too many --cidr (at most 32)");
			partner_net_format(&n, text, sizeof text);
			if (ncidrs++)
				strcat(cidrs, ",");
			strcat(cidrs, text);
		} else if (strcmp(opt, "--min") == 0 || strcmp(opt, "--max") == 0) {
			int64_t *dst = opt[3] == 'i' ? &min : &max;
			if (money_parse(val, dst) != MONEY_OK)
				return usage(usage_partner, "--min/--max: an amount in roubles like 1.00 or 15000.00");
		} else {
			fprintf(stderr, "gatewayd: unknown option %.40s\n", opt);
			return usage(usage_partner, NULL);
		}
	}
	strcat(cidrs, "}");
	if (!partner_protocol_valid(protocol))
		return usage(usage_partner, "--protocol must be osmp, sber-online or json");
	if (!login)
		login = name;
	if (!login_valid(login))
		return usage(usage_partner, "--login: 1 to 63 characters of letters, digits, '.', '_', '-'");
	if (min < 1 || max < min)
		return usage(usage_partner, "--min must be at least 0.01 and not above --max");

	struct creds c;
	if (make_creds(protocol, &c) != 0) {
		fprintf(stderr, "gatewayd: cannot generate credentials (no randomness)\n");
		return 1;
	}
	char smin[24], smax[24];
	snprintf(smin, sizeof smin, "%lld", (long long)min);
	snprintf(smax, sizeof smax, "%lld", (long long)max);
	const char *p[8] = {name, protocol, login, c.hmac ? NULL : c.hash, c.hmac ? c.secret : NULL, cidrs, smin, smax};
	PGresult *r = exec(db,
			   "INSERT INTO partners (name, protocol, login, password_hash, hmac_secret, cidrs, min_amount, max_amount)"
			   " VALUES ($1, $2, $3, $4, $5, $6::cidr[], $7::bigint, $8::bigint)",
			   8, p, "partner add (a partner with this name or login)");
	if (!r) {
		OPENSSL_cleanse(&c, sizeof c);
		return 1;
	}
	PQclear(r);
	char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
	printf("partner %s added: protocol %s, amounts %s..%s, networks %s\n", name, protocol, money_format(min, a),
	       money_format(max, b), ncidrs ? cidrs : "any (no --cidr given)");
	print_creds(login, &c);
	if (!ncidrs)
		fprintf(stderr, "gatewayd: warning: no --cidr given; requests are accepted from any address\n");
	OPENSSL_cleanse(&c, sizeof c);
	return 0;
}

static int partner_list(PGconn *db)
{
	PGresult *r = exec(db,
			   "SELECT name, protocol, login, CASE WHEN active THEN 'active' ELSE 'disabled' END, min_amount,"
			   "       max_amount, array_to_string(cidrs, ' '), to_char(created_at, 'YYYY-MM-DD')"
			   "  FROM partners ORDER BY name",
			   0, NULL, "partner list");
	if (!r)
		return 1;
	printf("%-24s %-12s %-24s %-9s %10s %10s %-10s %s\n", "NAME", "PROTOCOL", "LOGIN", "STATE", "MIN", "MAX", "CREATED",
	       "NETWORKS");
	for (int i = 0; i < PQntuples(r); i++) {
		char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
		const char *nets = PQgetvalue(r, i, 6);
		printf("%-24s %-12s %-24s %-9s %10s %10s %-10s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), money_format(atoll(PQgetvalue(r, i, 4)), a),
		       money_format(atoll(PQgetvalue(r, i, 5)), b), PQgetvalue(r, i, 7), *nets ? nets : "any");
	}
	PQclear(r);
	return 0;
}

static int partner_set_active(PGconn *db, const char *name, bool active)
{
	const char *p[2] = {name, active ? "true" : "false"};
	PGresult *r = exec(db, "UPDATE partners SET active = $2::boolean WHERE name = $1", 2, p, "partner update");
	if (!r)
		return 1;
	bool found = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!found) {
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
		return 1;
	}
	printf("partner %s %s (running gateways notice within %d seconds)\n", name, active ? "enabled" : "disabled",
	       PARTNER_CACHE_TTL);
	return 0;
}

static int partner_rotate(PGconn *db, const char *name)
{
	const char *p1[1] = {name};
	PGresult *r = exec(db, "SELECT protocol, login FROM partners WHERE name = $1", 1, p1, "partner rotate");
	if (!r)
		return 1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
		return 1;
	}
	char protocol[16], login[PARTNER_LOGIN_MAX + 1];
	snprintf(protocol, sizeof protocol, "%s", PQgetvalue(r, 0, 0));
	snprintf(login, sizeof login, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	struct creds c;
	if (make_creds(protocol, &c) != 0) {
		fprintf(stderr, "gatewayd: cannot generate credentials (no randomness)\n");
		return 1;
	}
	const char *p[3] = {name, c.hmac ? NULL : c.hash, c.hmac ? c.secret : NULL};
	r = exec(db, "UPDATE partners SET password_hash = $2, hmac_secret = $3 WHERE name = $1", 3, p, "partner rotate");
	if (!r) {
		OPENSSL_cleanse(&c, sizeof c);
		return 1;
	}
	PQclear(r);
	printf("partner %s: new credentials (the old ones stop working within %d seconds)\n", name, PARTNER_CACHE_TTL);
	print_creds(login, &c);
	OPENSSL_cleanse(&c, sizeof c);
	return 0;
}

/* The partner's id and protocol by name; -1 (message printed) when there is none. */
static long long partner_id(PGconn *db, const char *name, char protocol[16])
{
	const char *p[1] = {name};
	PGresult *r = exec(db, "SELECT id, protocol FROM partners WHERE name = $1", 1, p, "partner lookup");
	if (!r)
		return -1;
	long long id = -1;
	if (PQntuples(r) == 1) {
		id = atoll(PQgetvalue(r, 0, 0));
		snprintf(protocol, 16, "%s", PQgetvalue(r, 0, 1));
	} else {
		fprintf(stderr, "gatewayd: no partner named %.63s\n", name);
	}
	PQclear(r);
	return id;
}

static PGresult *registry_rows(PGconn *db, long long id, const char *day, const char *tz)
{
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", id);
	const char *p[3] = {pid, day, tz};
	return exec(db, registry_sql, 3, p, "registry");
}

static int cmd_registry(const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *day = NULL;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage(usage_registry, "an option is missing its value");
		if (strcmp(argv[i], "--partner") == 0)
			name = argv[i + 1];
		else if (strcmp(argv[i], "--date") == 0)
			day = argv[i + 1];
		else
			return usage(usage_registry, "unknown option");
	}
	if (!name || !day)
		return usage(usage_registry, "--partner and --date are required");
	if (!registry_date_valid(day))
		return usage(usage_registry, "--date: a date YYYY-MM-DD");
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc = 1;
	char protocol[16];
	long long id = partner_id(db, name, protocol);
	PGresult *r = id > 0 ? registry_rows(db, id, day, cfg->partner_tz) : NULL;
	if (r) {
		size_t len = 0;
		char *csv = registry_csv(r, day, &len);
		if (csv && fwrite(csv, 1, len, stdout) == len && fflush(stdout) == 0)
			rc = 0;
		free(csv);
		PQclear(r);
	}
	PQfinish(db);
	return rc;
}

/* ---- reconcile --------------------------------------------------------------------------------- */

struct row {
	char *txn;
	char *our_id;             /* ours: payment number; theirs: as given or "" */
	char *account;            /* "" when not given */
	char *when;               /* date column as given */
	int64_t amount;
	long line;                /* theirs: line in the file */
	bool matched;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static struct row *rows_add(struct rows *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct row *nv = realloc(rs->v, cap * sizeof *nv);
		if (!nv)
			return NULL;
		rs->v = nv;
		rs->cap = cap;
	}
	struct row *r = &rs->v[rs->n++];
	memset(r, 0, sizeof *r);
	return r;
}

static void rows_free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].txn);
		free(rs->v[i].our_id);
		free(rs->v[i].account);
		free(rs->v[i].when);
	}
	free(rs->v);
}

static int row_cmp(const void *a, const void *b) { return strcmp(((const struct row *)a)->txn, ((const struct row *)b)->txn); }

static struct row *rows_find(struct rows *rs, const char *txn)
{
	struct row key = {.txn = (char *)(uintptr_t)txn};
	return bsearch(&key, rs->v, rs->n, sizeof *rs->v, row_cmp);
}

/* The day of a date field: "YYYY-MM-DD…" or "YYYYMMDD…" (OSMP txn_date); "" when neither. */
static void day_of(const char *s, char out[11])
{
	out[0] = '\0';
	if (strlen(s) >= 10 && s[4] == '-' && s[7] == '-')
		snprintf(out, 11, "%.10s", s);
	else if (strlen(s) >= 8 && strspn(s, "0123456789") >= 8)
		snprintf(out, 11, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
	if (*out && !registry_date_valid(out))
		out[0] = '\0';
}

/* Normalises an OSMP txn_id the way the adapter stores it (no leading zeros). */
static const char *txn_norm(const char *s, bool osmp)
{
	if (osmp && *s && strspn(s, "0123456789") == strlen(s))
		while (s[0] == '0' && s[1])
			s++;
	return s;
}

/* The partner's account field names our contract (in any spelling ident accepts). */
static bool same_account(const char *theirs, const char *ours)
{
	char norm[IDENT_CONTRACT_BUFSZ];
	if (ident_contract_normalize(theirs, norm) == IDENT_OK)
		return strcmp(norm, ours) == 0;
	return strcmp(theirs, ours) == 0;
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

/* Reads the partner's registry. Returns 0, or 2 with the reason printed. days collects the days seen. */
static int read_theirs(const char *path, bool osmp, struct rows *theirs, char days[][11], int *ndays, int maxdays,
		       int64_t *their_sum, bool *trailer_bad)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "gatewayd: cannot open %s\n", path);
		return 2;
	}
	static struct csv_reader rd;
	char err[128];
	int rc = 2;
	int col_txn = -1, col_id = -1, col_date = -1, col_acc = -1, col_amount = -1;
	csv_init(&rd, f);
	int got = csv_read(&rd, err);
	if (got != 1) {
		fprintf(stderr, "gatewayd: %s: %s\n", path, got == 0 ? "the file is empty" : err);
		goto out;
	}
	for (int i = 0; i < rd.nf; i++) {
		const char *h = rd.fields[i];
		if (strcmp(h, "partner_txn_id") == 0 || strcmp(h, "txn_id") == 0)
			col_txn = i;
		else if (strcmp(h, "our_id") == 0)
			col_id = i;
		else if (strcmp(h, "date") == 0)
			col_date = i;
		else if (strcmp(h, "account") == 0)
			col_acc = i;
		else if (strcmp(h, "amount") == 0 || strcmp(h, "sum") == 0)
			col_amount = i;
	}
	if (col_txn < 0 || col_amount < 0) {
		fprintf(stderr, "gatewayd: %s: line 1: the header needs partner_txn_id and amount columns "
				"(and may have our_id, date, account)\n", path);
		goto out;
	}
	long trailer_count = -1;
	int64_t trailer_sum = 0;
	for (;;) {
		got = csv_read(&rd, err);
		if (got == 0)
			break;
		if (got < 0) {
			fprintf(stderr, "gatewayd: %s: %s\n", path, err);
			goto out;
		}
		if (rd.nf == 1 && rd.fields[0][0] == '\0')
			continue;
		if (rd.nf <= col_txn || rd.nf <= col_amount) {
			fprintf(stderr, "gatewayd: %s: line %ld: too few fields\n", path, rd.line);
			goto out;
		}
		if (strcmp(rd.fields[0], "TOTAL") == 0) {
			/* TOTAL,count,date,,sum — our own trailer format */
			trailer_count = rd.nf > 1 ? atol(rd.fields[1]) : -1;
			if (rd.nf < 5 || money_parse(rd.fields[4], &trailer_sum) != MONEY_OK)
				trailer_count = -2;
			char d[11];
			if (rd.nf > 2 && (day_of(rd.fields[2], d), *d) && *ndays < maxdays) {
				int k = 0;
				while (k < *ndays && strcmp(days[k], d) != 0)
					k++;
				if (k == *ndays)
					snprintf(days[(*ndays)++], 11, "%s", d);
			}
			continue;
		}
		struct row *r = rows_add(theirs);
		if (!r) {
			fprintf(stderr, "gatewayd: out of memory\n");
			goto out;
		}
		r->line = rd.line;
		r->txn = xstrdup(txn_norm(rd.fields[col_txn], osmp));
		r->our_id = xstrdup(col_id >= 0 && col_id < rd.nf ? rd.fields[col_id] : "");
		r->when = xstrdup(col_date >= 0 && col_date < rd.nf ? rd.fields[col_date] : "");
		r->account = NULL;
		if (!r->txn || !r->our_id || !r->when) {
			fprintf(stderr, "gatewayd: out of memory\n");
			goto out;
		}
		if (!*r->txn) {
			fprintf(stderr, "gatewayd: %s: line %ld: empty partner_txn_id\n", path, rd.line);
			goto out;
		}
		if (money_parse(rd.fields[col_amount], &r->amount) != MONEY_OK) {
			fprintf(stderr, "gatewayd: %s: line %ld: amount \"%.30s\" is not an amount like 200.00\n", path, rd.line,
				rd.fields[col_amount]);
			goto out;
		}
		const char *acc = col_acc >= 0 && col_acc < rd.nf ? rd.fields[col_acc] : "";
		r->account = xstrdup(acc);
		if (!r->account) {
			fprintf(stderr, "gatewayd: out of memory\n");
			goto out;
		}
		*their_sum += r->amount;
		char d[11];
		day_of(r->when, d);
		if (*d) {
			int k = 0;
			while (k < *ndays && strcmp(days[k], d) != 0)
				k++;
			if (k == *ndays && *ndays < maxdays)
				snprintf(days[(*ndays)++], 11, "%s", d);
		}
	}
	*trailer_bad = trailer_count == -2 ||
		       (trailer_count >= 0 && (trailer_count != (long)theirs->n || trailer_sum != *their_sum));
	rc = 0;
out:
	if (f != stdin)
		fclose(f);
	return rc;
}

static void report(const char *problem, const char *txn, const char *our_id, const char *account,
		   const int64_t *theirs, const int64_t *ours, const char *detail)
{
	char a[MONEY_BUFSZ] = "", b[MONEY_BUFSZ] = "";
	if (theirs)
		money_format(*theirs, a);
	if (ours)
		money_format(*ours, b);
	printf("%s,%s,%s,%s,%s,%s,%s\n", problem, txn, our_id ? our_id : "", account ? account : "", a, b,
	       detail ? detail : "");
}

/* A txn id is written into the CSV report only when it needs no quoting (ours are plain; theirs
 * are checked here). */
static const char *plain(const char *s) { return strpbrk(s, ",\"\r\n") ? "(unprintable)" : s; }

static int cmd_reconcile(const struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *day = NULL, *path = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--partner") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc)
			day = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return usage(usage_reconcile, "unknown option or missing value");
		else if (!path)
			path = argv[i];
		else
			return usage(usage_reconcile, "one FILE.csv only");
	}
	if (!name || !path)
		return usage(usage_reconcile, "--partner and FILE.csv are required");
	if (day && !registry_date_valid(day))
		return usage(usage_reconcile, "--date: a date YYYY-MM-DD");

	enum { MAXDAYS = 32 };
	char days[MAXDAYS][11];
	int ndays = 0;
	if (day)
		snprintf(days[ndays++], 11, "%s", day);

	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 2;
	int rc = 2;
	struct rows theirs = {0}, ours = {0};
	char protocol[16] = "";
	long long id = partner_id(db, name, protocol);
	if (id < 0)
		goto out;
	int64_t their_sum = 0, our_sum = 0;
	bool trailer_bad = false;
	int dummy_days = 0;
	char ignored[MAXDAYS][11];
	if (read_theirs(path, strcmp(protocol, "osmp") == 0, &theirs, day ? ignored : days, day ? &dummy_days : &ndays,
			MAXDAYS, &their_sum, &trailer_bad) != 0)
		goto out;
	if (ndays == 0) {
		fprintf(stderr, "gatewayd: %s names no day (no date column); give --date YYYY-MM-DD\n", path);
		goto out;
	}
	for (int d = 0; d < ndays; d++) {
		PGresult *r = registry_rows(db, id, days[d], cfg->partner_tz);
		if (!r)
			goto out;
		for (int i = 0; i < PQntuples(r); i++) {
			struct row *o = rows_add(&ours);
			if (!o) {
				PQclear(r);
				goto out;
			}
			o->txn = xstrdup(PQgetvalue(r, i, 0));
			o->our_id = xstrdup(PQgetvalue(r, i, 1));
			o->when = xstrdup(PQgetvalue(r, i, 2));
			o->account = xstrdup(PQgetvalue(r, i, 3));
			o->amount = atoll(PQgetvalue(r, i, 4));
			our_sum += o->amount;
		}
		PQclear(r);
	}
	qsort(ours.v, ours.n, sizeof *ours.v, row_cmp);

	printf("problem,partner_txn_id,our_id,account,their_amount,our_amount,detail\n");
	long problems = 0, matched = 0, missing_ours = 0, missing_theirs = 0, mismatched = 0;
	char pid[24];
	snprintf(pid, sizeof pid, "%lld", id);
	for (size_t i = 0; i < theirs.n; i++) {
		struct row *t = &theirs.v[i];
		const char *txn = plain(t->txn);
		struct row *o = rows_find(&ours, t->txn);
		if (o && o->matched) {
			report("duplicate_in_theirs", txn, o->our_id, plain(t->account), &t->amount, NULL, "listed twice");
			problems++;
			continue;
		}
		if (!o) {
			/* Not among our payments of those days: booked on another day, or not at all? */
			const char *p[3] = {pid, t->txn, cfg->partner_tz};
			PGresult *r = exec(db,
					   "SELECT p.number, to_char(p.paid_at AT TIME ZONE $3::text, 'YYYY-MM-DD HH24:MI:SS'),"
					   "       a.contract, p.amount"
					   "  FROM payments p JOIN accounts a ON a.id = p.account_id"
					   " WHERE p.partner_id = $1::bigint AND p.provider_txn_id = $2"
					   "   AND p.status IN ('succeeded', 'refunded')",
					   3, p, "reconcile");
			if (!r)
				goto out;
			if (PQntuples(r) == 1) {
				int64_t amount = atoll(PQgetvalue(r, 0, 3));
				char detail[64];
				snprintf(detail, sizeof detail, "booked on %s", PQgetvalue(r, 0, 1));
				report("other_day", txn, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), &t->amount, &amount, detail);
			} else {
				report("missing_in_ours", txn, NULL, plain(t->account), &t->amount, NULL, NULL);
				missing_ours++;
			}
			PQclear(r);
			problems++;
			continue;
		}
		o->matched = true;
		if (o->amount != t->amount) {
			report("amount_mismatch", txn, o->our_id, o->account, &t->amount, &o->amount, NULL);
			mismatched++;
			problems++;
		} else if (*t->account && !same_account(t->account, o->account)) {
			report("account_mismatch", txn, o->our_id, o->account, &t->amount, &o->amount, plain(t->account));
			mismatched++;
			problems++;
		} else {
			matched++;
		}
	}
	for (size_t i = 0; i < ours.n; i++) {
		struct row *o = &ours.v[i];
		if (o->matched)
			continue;
		report("missing_in_theirs", o->txn, o->our_id, o->account, NULL, &o->amount, o->when);
		missing_theirs++;
		problems++;
	}
	if (trailer_bad) {
		report("their_total_mismatch", "TOTAL", NULL, NULL, &their_sum, NULL, "the file's TOTAL line does not match its rows");
		problems++;
	}
	char a[MONEY_BUFSZ], b[MONEY_BUFSZ];
	fprintf(stderr,
		"reconcile %s: theirs %zu payments %s, ours %zu payments %s; %ld matched, %ld missing on our side, "
		"%ld missing on theirs, %ld mismatched, %ld problems\n",
		name, theirs.n, money_format(their_sum, a), ours.n, money_format(our_sum, b), matched, missing_ours,
		missing_theirs, mismatched, problems);
	rc = problems ? 1 : 0;
out:
	rows_free(&theirs);
	rows_free(&ours);
	PQfinish(db);
	return rc;
}

int partner_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argv[1];
	if (strcmp(cmd, "registry") == 0)
		return cmd_registry(cfg, argc, argv);
	if (strcmp(cmd, "reconcile") == 0)
		return cmd_reconcile(cfg, argc, argv);
	if (argc < 3)
		return usage(usage_partner, NULL);
	const char *sub = argv[2];
	bool named = strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0 || strcmp(sub, "rotate") == 0;
	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && !named)
		return usage(usage_partner, "unknown partner command");
	if ((named && argc != 4) || (strcmp(sub, "list") == 0 && argc != 3))
		return usage(usage_partner, NULL);
	PGconn *db = migrate_connect(cfg->database_url);
	if (!db)
		return 1;
	int rc;
	if (strcmp(sub, "add") == 0)
		rc = partner_add(db, argc, argv);
	else if (strcmp(sub, "list") == 0)
		rc = partner_list(db);
	else if (strcmp(sub, "rotate") == 0)
		rc = partner_rotate(db, argv[3]);
	else
		rc = partner_set_active(db, argv[3], strcmp(sub, "enable") == 0);
	PQfinish(db);
	return rc;
}
