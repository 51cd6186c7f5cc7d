/* cashbox_sandbox.c — the built-in test cashbox (GATEWAY_FISCAL=sandbox, what `make run` uses): it
 * "fiscalises" a document at once with test data — a fiscal drive number of the test range, the
 * document's own id as its number, a fiscal sign derived from its external_id — so the whole path
 * (outbox, mail, printable receipt, QR) works without a cash register. Every receipt with such data
 * says «ТЕСТОВЫЙ ЧЕК — не является фискальным документом». */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "cashbox.h"

static void *sandbox_open(const struct config *cfg, char err[256])
{
	(void)cfg;
	(void)err;
	static int token;
	return &token;            /* nothing to hold */
}

static void sandbox_close(void *st) { (void)st; }

static void sandbox_register(void *st, const struct fiscal_doc *d, struct cashbox_result *r)
{
	(void)st;
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(d->external_id, strlen(d->external_id), md, &n, EVP_sha256(), NULL);
	uint32_t fp = ((uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3]) % 4000000000u;
	r->outcome = CB_DONE;
	snprintf(r->uuid, sizeof r->uuid, "sandbox-%lld", d->id);
	snprintf(r->fn_number, sizeof r->fn_number, "9999078902000000");
	snprintf(r->fiscal_document_number, sizeof r->fiscal_document_number, "%lld", d->id);
	snprintf(r->fiscal_document_attribute, sizeof r->fiscal_document_attribute, "%" PRIu32, fp);
	snprintf(r->fiscal_receipt_number, sizeof r->fiscal_receipt_number, "%lld", d->id);
	snprintf(r->shift_number, sizeof r->shift_number, "1");
	snprintf(r->ecr_registration_number, sizeof r->ecr_registration_number, "0000000000000000");
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(r->receipt_datetime, sizeof r->receipt_datetime, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(r->tz, sizeof r->tz, "UTC");
	snprintf(r->fns_site, sizeof r->fns_site, "www.nalog.gov.ru");
	snprintf(r->ofd_inn, sizeof r->ofd_inn, "0000000000");
	r->total = d->amount;
}

static void sandbox_report(void *st, const struct fiscal_doc *d, struct cashbox_result *r)
{
	sandbox_register(st, d, r);   /* registered and done are the same moment here */
}

const struct cashbox cashbox_sandbox = {
	.name = "sandbox",
	.test = true,
	.open = sandbox_open,
	.close = sandbox_close,
	.register_doc = sandbox_register,
	.report = sandbox_report,
};
