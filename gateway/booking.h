/* booking.h — the booking service of cash that is already taken (terminal networks, the bank's app,
 * partner shops): book it exactly once through book_payment() (one call, one transaction,
 * idempotent on adapter + partner + transaction id), look an account up for a protocol's `check`,
 * and read a booked payment back by the partner's transaction id. No evhttp here; no SQL outside. */
#ifndef GW_BOOKING_H
#define GW_BOOKING_H

#include <stdint.h>

#include "accounts.h"
#include "ident.h"

struct db_pool;

/* How a call ended. */
enum cash_status {
	CASH_OK = 0,          /* booked now / account found / payment found */
	CASH_DUPLICATE,       /* the same transaction was booked before (same account and amount): the original */
	CASH_MISMATCH,        /* the transaction id is taken by another account or amount: nothing written */
	CASH_NOT_FOUND,       /* no such account (or, for booking_find, no such payment) */
	CASH_INACTIVE,        /* the account is closed (a suspended one is payable) */
	CASH_AMBIGUOUS,       /* the phone belongs to several contracts */
	CASH_UNAVAILABLE,     /* the database could not answer now; nothing is known to be written — retry */
	CASH_FAILED,          /* the database refused for a reason a retry will not fix; nothing written */
};

/* A payment to book. Strings are borrowed for the call (booking copies what it needs). */
struct cash_payment {
	const char *channel;       /* "terminal" | "partner" */
	const char *adapter;       /* "osmp" | "sber-online" | "partner-json" */
	long long partner_id;
	const char *txn_id;        /* the partner's transaction id */
	const char *contract;      /* normalised digits, or NULL when phone is given */
	const char *phone;         /* E.164, used when contract is NULL */
	int64_t amount;            /* kopecks, > 0 */
	const char *email;         /* receipt address or NULL */
	const char *provider_time; /* the partner's own time "YYYY-MM-DD HH:MM:SS" in tz, or NULL */
	const char *tz;            /* time zone of provider_time and of the local times returned */
	const char *raw;           /* JSON text kept with the payment event (no secrets), or NULL */
};

struct cash_outcome {
	enum cash_status status;
	const char *reason;             /* one line for logs (not for clients) */
	char payment_id[40];            /* uuid */
	long long number;               /* public payment number (OSMP prv_txn, Sber EXT_ID) */
	int64_t amount;                 /* kopecks: the ORIGINAL amount on CASH_DUPLICATE / CASH_MISMATCH */
	char contract[IDENT_CONTRACT_BUFSZ];
	char status_text[16];           /* payment status: succeeded | refunded (booking_find) */
	char paid_at[32];               /* RFC 3339 UTC "2024-05-01T09:00:00Z" */
	char paid_at_local[32];         /* in tz, "DD.MM.YYYY_HH:MM:SS" (the Sber Online format) */
	char provider_time[32];         /* in tz, "YYYY-MM-DD HH:MM:SS", "" when not given */
	char receipt_number[32];
	int64_t balance_after;
};

typedef void (*cash_cb)(const struct cash_outcome *o, void *arg);

/* Books in->amount on the account in one call of book_payment(). A phone is first resolved to its
 * one contract (CASH_AMBIGUOUS when it has several; a retry of a booked transaction resolves to
 * the contract it was booked on). done is called exactly once, later (immediately only when memory
 * or randomness ran out before anything was asked: CASH_UNAVAILABLE). */
void booking_book_cash(struct db_pool *db, const struct cash_payment *in, cash_cb done, void *arg);

/* What a `check` may tell about an account. */
struct cash_account {
	enum cash_status status;        /* CASH_OK, CASH_INACTIVE, CASH_NOT_FOUND, CASH_AMBIGUOUS, CASH_UNAVAILABLE, CASH_FAILED */
	char contract[IDENT_CONTRACT_BUFSZ];
	char masked_name[ACCOUNT_NAME_MAX * 4 + 1];   /* "И****в И***н И*******ч" — never the full name */
	int64_t balance;                /* kopecks, may be negative */
	int64_t monthly_fee;            /* kopecks, 0 without a tariff */
};

typedef void (*cash_account_cb)(const struct cash_account *a, void *arg);

/* Looks an account up by contract (or by phone when contract is NULL). done is called once, later
 * (immediately with CASH_UNAVAILABLE when out of memory). */
void booking_check_account(struct db_pool *db, const char *contract, const char *phone, cash_account_cb done,
			   void *arg);

/* Reads the payment booked for (adapter, partner, txn id): CASH_OK with the payment, CASH_NOT_FOUND,
 * CASH_UNAVAILABLE or CASH_FAILED. tz as in cash_payment. done is called once, later (immediately
 * with CASH_UNAVAILABLE when out of memory). */
void booking_find(struct db_pool *db, const char *adapter, long long partner_id, const char *txn_id, const char *tz,
		  cash_cb done, void *arg);

#endif
