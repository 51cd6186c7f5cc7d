/* accounts.h — subscribers: validation of account data (shared by the CSV import and the
 * internal API) and the asynchronous upsert through the upsert_account() SQL function. */
#ifndef GW_ACCOUNTS_H
#define GW_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ident.h"

struct db_pool;

#define ACCOUNT_NAME_MAX 200
#define ACCOUNT_EMAIL_MAX 254

struct account_input {
	char contract[IDENT_CONTRACT_BUFSZ];
	char phone[IDENT_PHONE_BUFSZ];        /* "" = none */
	char email[ACCOUNT_EMAIL_MAX + 1];    /* "" = none */
	char holder_name[ACCOUNT_NAME_MAX * 4 + 1];
	char status[16];                      /* "" = keep / default active */
	bool has_fee;
	int64_t monthly_fee;
	bool has_balance;
	int64_t balance;
	char as_of[40];                       /* the moment of the balance (account_set_as_of); "" = none */
};

/* Validates and normalises one subscriber given as text fields (NULL or "" = not given; contract is
 * required; money in roubles like "600.00"). Returns 0, or -1 with a one-line reason in err naming
 * the field. */
int account_validate(const char *contract, const char *phone, const char *email, const char *holder_name,
		     const char *status, const char *monthly_fee, const char *balance, struct account_input *out,
		     char err[256]);

/* The SQL both the import and the API run, and its parameters from a validated input. */
/* The moment billing took the balance: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (or with T), optionally
 * with "Z" or an offset "+07:00"; without one it is local time in the tz given to account_params.
 * Returns 0, or -1 with a one-line reason in err. */
int account_set_as_of(struct account_input *in, const char *as_of, char err[256]);

/* The upsert statement and its parameters (shared by the CSV import and the internal API). Its
 * first column is created | updated | stale (an older export than the last imported one) | future. */
extern const char account_upsert_sql[];
#define ACCOUNT_UPSERT_NPARAMS 9
struct account_params {
	char fee[24], balance[24];
	const char *v[ACCOUNT_UPSERT_NPARAMS];
};
void account_params(const struct account_input *in, const char *tz, struct account_params *p);

/* Creates or updates the subscriber. done(ok, result, balance_kopecks, arg): result as the upsert
 * statement's; ok false when the database was unavailable or refused (reason set). Called once, later. */
void accounts_upsert(struct db_pool *db, const struct account_input *in, const char *tz,
		     void (*done)(bool ok, const char *result, int64_t balance, const char *reason, void *arg),
		     void *arg);

/* What the pay form may see of a subscriber. */
struct account_view {
	char contract[IDENT_CONTRACT_BUFSZ];
	char holder_masked[ACCOUNT_NAME_MAX * 4 + 1];
	char status[16];
	int64_t balance;
	int64_t monthly_fee;
};

/* UNAVAILABLE: try again later (database unreachable or a conflict); FAILED: the database refused. */
enum lookup_result { LOOKUP_FOUND, LOOKUP_NOT_FOUND, LOOKUP_AMBIGUOUS, LOOKUP_UNAVAILABLE, LOOKUP_FAILED };

/* Finds a subscriber by normalised contract or, when contract is NULL, by E.164 phone. A phone
 * shared by several open contracts is LOOKUP_AMBIGUOUS (the payer must give the contract). The view
 * is valid during the callback. Called once, later. */
void accounts_lookup(struct db_pool *db, const char *contract, const char *phone,
		     void (*done)(enum lookup_result res, const struct account_view *v, void *arg), void *arg);

#endif
