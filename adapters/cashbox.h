/* cashbox.h — the interface of a cloud cashbox (a registered cash register behind an API) that turns
 * a payment or refund into a 54-FZ fiscal document: one `const struct cashbox` per vendor (ATOL
 * Online, the built-in sandbox), listed in cashboxes.c. The fiscal workers (gateway/fiscal.c) call it
 * from their own threads, never from an HTTP loop: calls may block.
 *
 * A document is registered once under its external_id (the cashbox's idempotency key: the same
 * external_id again never makes a second document), then its result is asked for until it is done
 * or failed. */
#ifndef GW_CASHBOX_H
#define GW_CASHBOX_H

#include <stdbool.h>
#include <stdint.h>

struct config;

/* A document as the worker claimed it. */
struct fiscal_doc {
	long long id;
	char kind[16];                /* sell | sell_refund */
	char external_id[129];
	char uuid[80];                /* the cashbox's id once registered, else "" */
	int64_t amount;               /* kopecks */
	char email[255];              /* the buyer's contact (tag 1008): e-mail, or else phone */
	char phone[16];
	char contract[16];
	int attempts, polls;
	char timestamp[24];           /* when it was written, "dd.mm.yyyy HH:MM:SS" in GATEWAY_RECEIPT_TZ */
};

enum cashbox_outcome {
	CB_REGISTERED,                /* taken (uuid); ask for the result later (delay_ms) */
	CB_WAIT,                      /* not fiscalised yet; ask again later (delay_ms) */
	CB_DONE,                      /* fiscalised: the fields below */
	CB_RETRY,                     /* not now (outage, 5xx, timeout, token...): the same again later */
	CB_FAILED,                    /* the request itself was refused (configuration): a person fixes it */
	CB_FAIL,                      /* the cashbox could not fiscalise the document: final */
};

struct cashbox_result {
	enum cashbox_outcome outcome;
	char uuid[80];
	long long delay_ms;           /* CB_REGISTERED / CB_WAIT / CB_RETRY: when to come back; 0 = the caller's backoff */
	int code;                     /* the cashbox's error code (0 none) */
	char error[256];              /* one line for the document's last_error and logs */
	/* CB_DONE */
	char fn_number[24];
	char fiscal_document_number[24];
	char fiscal_document_attribute[24];
	char fiscal_receipt_number[24];
	char shift_number[24];
	char ecr_registration_number[24];
	char receipt_datetime[24];    /* "YYYY-MM-DD HH:MM:SS" in the zone tz */
	char tz[64];
	char fns_site[64];
	char ofd_inn[16];
	int64_t total;                /* kopecks */
};

struct cashbox {
	const char *name;             /* "atol", "sandbox": GATEWAY_FISCAL and fiscal_documents.cashbox */
	bool test;                    /* its documents are not fiscal (printed as a test receipt) */
	/* A worker thread's connection to the cashbox (NULL with a one-line err: the workers do not start). */
	void *(*open)(const struct config *cfg, char err[256]);
	void (*close)(void *st);
	/* Registers d (CB_REGISTERED, or CB_DONE when the cashbox answers at once). */
	void (*register_doc)(void *st, const struct fiscal_doc *d, struct cashbox_result *r);
	/* Asks for the result of a registered d (CB_DONE, CB_WAIT, CB_FAIL, CB_RETRY). */
	void (*report)(void *st, const struct fiscal_doc *d, struct cashbox_result *r);
};

/* The cashbox named name ("atol", "sandbox"), or NULL ("none", "yookassa": no cashbox here). */
const struct cashbox *cashbox_find(const char *name);

#endif
