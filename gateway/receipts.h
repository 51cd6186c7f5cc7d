/* receipts.h — receipts (the transactional outbox of the mailer): lookup tokens, receipt numbers,
 * the receipt as one struct read from a row, and the asynchronous lookups and resend behind the HTTP
 * routes. The receipt row itself is written by the booking functions in the booking transaction. */
#ifndef GW_RECEIPTS_H
#define GW_RECEIPTS_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct db_pool;

/* A lookup token is 24 bytes of OpenSSL RAND_bytes (192 bits) as 48 lowercase hex characters. */
#define RECEIPT_TOKEN_BYTES 24
#define RECEIPT_TOKEN_LEN (2 * RECEIPT_TOKEN_BYTES)

/* Writes a new lookup token into out (RECEIPT_TOKEN_LEN + 1 bytes). Every booking caller passes one
 * of these to book_payment()/settle_payment(). Returns 0, or -1 when the RNG failed (book nothing). */
int receipt_token_new(char out[RECEIPT_TOKEN_LEN + 1]);

/* True for exactly RECEIPT_TOKEN_LEN lowercase hex characters: anything else is answered 404 without
 * a database query. NULL -> false. */
bool receipt_token_valid(const char *s);

/* True for a receipt number "YYYY-NNNNNN" (4 digits, '-', 6..12 digits). NULL -> false. */
bool receipt_number_valid(const char *s);


/* One receipt with what the mail, the page and the APIs show of its payment and account. Strings are
 * NUL-terminated copies ("" for SQL NULL), truncated to the buffer when longer. */
struct receipt {
	long long id;
	char number[24];
	char token[129];
	char email[255];           /* "" = none */
	char state[12];            /* pending | sending | sent | failed | no_email */
	int attempts;
	int resends;
	char last_error[512];
	char next_attempt_at[32];  /* ISO 8601 UTC, "" = none */
	char sent_at[32];
	bool fiscal_followup;      /* a mail without the fiscal data went out; the next one brings it */
	char created_at[32];
	char payment_id[40];
	long long payment_number;
	int64_t amount;            /* kopecks */
	int64_t refunded;          /* kopecks */
	char payment_status[16];   /* succeeded | refunded */
	char method[128];
	char channel[16];
	char adapter[40];
	char provider_txn_id[520];
	char paid_at[32];          /* ISO 8601 UTC */
	char paid_local[24];       /* "DD.MM.YYYY HH:MI" in the receipt time zone */
	int tz_offset_min;         /* that time zone's UTC offset at paid_at, minutes */
	char contract[16];
	char holder_name[804];
	struct receipt_fiscal {    /* the payment's fiscal document (54-FZ); state "" = none */
		char state[12];    /* pending | sending | registered | polling | done | failed | fail */
		char cashbox[12];  /* atol | sandbox (a sandbox document is a test, not fiscal) */
		char fn_number[24];
		char fd_number[24];        /* fiscal_document_number */
		char fp[24];               /* fiscal_document_attribute: the fiscal sign */
		char shift[24];
		char ecr[24];              /* the register's registration number (KKT) */
		char fns_site[64];
		char ofd_inn[16];
		char datetime_local[24];   /* "DD.MM.YYYY HH:MI" in the receipt time zone */
		char qr_time[16];          /* "YYYYMMDDTHHMM" */
		int64_t total;             /* kopecks */
		int error_code;
		char last_error[256];
	} fiscal;
};

/* The columns receipt_from_row() reads, for any statement over "receipts r JOIN payments p JOIN
 * accounts a" whose $1 is the receipt time zone (text, e.g. 'Europe/Moscow'). */
#define RECEIPT_ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define RECEIPT_COLUMNS                                                                                         \
	"r.id, r.number, r.token, r.email, r.state, r.attempts, r.resends, r.last_error, "                      \
	RECEIPT_ISO("r.next_attempt_at") ", " RECEIPT_ISO("r.sent_at") ", " RECEIPT_ISO("r.created_at") ", "     \
	"p.id, p.number, p.amount, p.refunded_amount, p.status, p.method, p.channel, p.adapter, "               \
	"p.provider_txn_id, " RECEIPT_ISO("coalesce(p.paid_at, r.created_at)") ", "                             \
	"to_char(coalesce(p.paid_at, r.created_at) AT TIME ZONE $1::text, 'DD.MM.YYYY HH24:MI'), "              \
	"(extract(epoch FROM (coalesce(p.paid_at, r.created_at) AT TIME ZONE $1::text) - "                      \
	"(coalesce(p.paid_at, r.created_at) AT TIME ZONE 'UTC')) / 60)::int, "                                  \
	"a.contract, a.holder_name, "                                                                           \
	"f.state, f.cashbox, f.fn_number, f.fiscal_document_number, f.fiscal_document_attribute, f.shift_number, " \
	"f.ecr_registration_number, f.fns_site, f.ofd_inn, "                                                     \
	"to_char(f.receipt_datetime AT TIME ZONE $1::text, 'DD.MM.YYYY HH24:MI'), "                              \
	"to_char(f.receipt_datetime AT TIME ZONE $1::text, 'YYYYMMDD\"T\"HH24MI'), f.total, f.error_code, f.last_error, " \
	"r.fiscal_followup"
/* The join RECEIPT_COLUMNS needs beside receipts r and payments p: the payment's live fiscal document. */
#define RECEIPT_FISCAL_JOIN " LEFT JOIN fiscal_documents f ON f.payment_id = r.payment_id AND f.kind = 'sell' AND NOT f.superseded "

/* Reads row `row` of a result selecting RECEIPT_COLUMNS (first) into *out. Returns 0, or -1 when the
 * row does not have those columns. */
int receipt_from_row(const PGresult *res, int row, struct receipt *out);

enum receipt_status {
	RECEIPT_OK = 0,
	RECEIPT_NOT_FOUND,
	RECEIPT_UNAVAILABLE,       /* the database could not answer; retry later */
	RECEIPT_BUSY,              /* resend: a mailer is sending it right now */
	RECEIPT_NO_EMAIL,          /* resend: the receipt has no address and none was given */
};

/* rc is borrowed for the duration of the callback (NULL unless RECEIPT_OK). Called once, later. */
typedef void (*receipt_cb)(enum receipt_status st, const struct receipt *rc, void *arg);

/* Looks a receipt up by its token (validated by the caller with receipt_token_valid). tz is the receipt
 * time zone (copied). */
void receipts_by_token(struct db_pool *db, const char *tz, const char *token, receipt_cb done, void *arg);

/* Looks a receipt up by payment id (a valid UUID) or by number: exactly one of them non-NULL. */
void receipts_find(struct db_pool *db, const char *tz, const char *payment_id, const char *number, receipt_cb done,
		   void *arg);

/* Puts receipt `number` back to pending with a fresh attempt budget (optionally to a new, already
 * validated address) and wakes the mailers. Refused while it is being sent (RECEIPT_BUSY) and for a
 * receipt without an address when none is given (RECEIPT_NO_EMAIL). On RECEIPT_OK rc holds the updated
 * receipt. */
void receipts_resend(struct db_pool *db, const char *tz, const char *number, const char *email, receipt_cb done,
		     void *arg);

#endif
