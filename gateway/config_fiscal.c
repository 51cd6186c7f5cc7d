/* config_fiscal.c — the fiscal part of the configuration (GATEWAY_FISCAL, GATEWAY_ATOL_*,
 * GATEWAY_SELLER_*, GATEWAY_FISCAL_*): read and checked at start, so a wrong INN, taxation system or
 * VAT rate stops the gateway with one line instead of failing documents at the cashbox later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ident.h"

static bool one_of(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(v, *list) == 0)
			return true;
	return false;
}

static bool one_line(const char *v, size_t max) { return strlen(v) <= max && !strpbrk(v, "\r\n\t"); }

int config_load_fiscal(struct config *c, char err[CONFIG_ERRSZ])
{
	static const char *const modes[] = {"none", "atol", "yookassa", "sandbox", NULL};
	static const char *const snos[] = {"osn", "usn_income", "usn_income_outcome", "esn", "patent", NULL};
	static const char *const vats[] = {"none",   "vat0",   "vat5",   "vat7",   "vat10",  "vat20", "vat22",
					   "vat105", "vat107", "vat110", "vat120", "vat122", NULL};
	static const char *const methods[] = {"advance", "full_prepayment", "prepayment", NULL};
	bool bad = false;
#define VAR(field, name, secret, def)                                                \
	do {                                                                        \
		if (!bad)                                                           \
			c->field = config_getvar(name, secret, def, err, &bad);     \
	} while (0)
	VAR(fiscal, "GATEWAY_FISCAL", false, "none");
	VAR(atol_url, "GATEWAY_ATOL_URL", false, NULL);
	VAR(atol_login, "GATEWAY_ATOL_LOGIN", false, NULL);
	VAR(atol_password, "GATEWAY_ATOL_PASSWORD", true, NULL);
	VAR(atol_group, "GATEWAY_ATOL_GROUP", false, NULL);
	VAR(seller_name, "GATEWAY_SELLER_NAME", false, c->receipt_issuer);
	VAR(seller_inn, "GATEWAY_SELLER_INN", false, NULL);
	VAR(seller_sno, "GATEWAY_SELLER_SNO", false, NULL);
	VAR(seller_vat, "GATEWAY_SELLER_VAT", false, "none");
	VAR(seller_email, "GATEWAY_SELLER_EMAIL", false, NULL);
	VAR(seller_payment_address, "GATEWAY_SELLER_PAYMENT_ADDRESS", false, c->public_url);
	VAR(seller_phone, "GATEWAY_SELLER_PHONE", false, NULL);
	VAR(fiscal_item, "GATEWAY_FISCAL_ITEM", false, "Оплата услуг связи по договору %s");
	VAR(fiscal_payment_method, "GATEWAY_FISCAL_PAYMENT_METHOD", false, "advance");
#undef VAR
	if (bad)
		return -1;
	long v;
	if (config_int_var("GATEWAY_ATOL_POLL_AFTER_MS", 1000, 86400000, 300000, &v, err) != 0)
		return -1;
	c->atol_poll_after_ms = v;
	if (config_int_var("GATEWAY_FISCAL_MAIL_WAIT_MS", 0, 86400000, 60000, &v, err) != 0)
		return -1;
	c->fiscal_mail_wait_ms = v;
	if (config_int_var("GATEWAY_FISCAL_WORKERS", 0, 8, 1, &v, err) != 0)
		return -1;
	c->fiscal_workers = (int)v;

	if (!one_of(c->fiscal, modes)) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_FISCAL=%.20s: expected none, atol, yookassa or sandbox", c->fiscal);
		return -1;
	}
	if (c->seller_inn && !ident_inn_valid(c->seller_inn)) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_SELLER_INN=%.20s: not a valid INN (10 or 12 digits with their check digits)",
			 c->seller_inn);
		return -1;
	}
	if (c->seller_sno && !one_of(c->seller_sno, snos)) {
		snprintf(err, CONFIG_ERRSZ,
			 "GATEWAY_SELLER_SNO=%.30s: expected osn, usn_income, usn_income_outcome, esn or patent", c->seller_sno);
		return -1;
	}
	if (!one_of(c->seller_vat, vats)) {
		snprintf(err, CONFIG_ERRSZ,
			 "GATEWAY_SELLER_VAT=%.20s: expected none, vat0, vat5, vat7, vat10, vat20, vat22, vat105, vat107, "
			 "vat110, vat120 or vat122", c->seller_vat);
		return -1;
	}
	if (!one_of(c->fiscal_payment_method, methods)) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_FISCAL_PAYMENT_METHOD=%.30s: expected advance, full_prepayment or prepayment",
			 c->fiscal_payment_method);
		return -1;
	}
	const char *p = strchr(c->fiscal_item, '%');
	if (!one_line(c->fiscal_item, 200) || !p || p[1] != 's' || strchr(p + 2, '%')) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_FISCAL_ITEM: one line with exactly one %%s (the contract) expected");
		return -1;
	}
	if ((c->seller_name && !one_line(c->seller_name, 200)) || (c->seller_phone && !one_line(c->seller_phone, 40))) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_SELLER_NAME / GATEWAY_SELLER_PHONE: one short line expected");
		return -1;
	}
	if (c->seller_email && !ident_email_valid(c->seller_email)) {
		snprintf(err, CONFIG_ERRSZ, "GATEWAY_SELLER_EMAIL=%.60s: not a valid address", c->seller_email);
		return -1;
	}
	if (strcmp(c->fiscal, "atol") == 0 || strcmp(c->fiscal, "yookassa") == 0 || strcmp(c->fiscal, "sandbox") == 0) {
		/* a fiscal document names the seller: without these every one would be refused */
		const char *missing = !c->seller_inn ? "GATEWAY_SELLER_INN" : !c->seller_sno ? "GATEWAY_SELLER_SNO"
				      : !c->seller_name ? "GATEWAY_SELLER_NAME" : !c->seller_email ? "GATEWAY_SELLER_EMAIL" : NULL;
		if (missing && strcmp(c->fiscal, "yookassa") != 0) {
			snprintf(err, CONFIG_ERRSZ, "GATEWAY_FISCAL=%s needs %s", c->fiscal, missing);
			return -1;
		}
	}
	if (strcmp(c->fiscal, "atol") == 0) {
		const char *missing = !c->atol_url ? "GATEWAY_ATOL_URL" : !c->atol_login ? "GATEWAY_ATOL_LOGIN"
				      : !c->atol_password ? "GATEWAY_ATOL_PASSWORD" : !c->atol_group ? "GATEWAY_ATOL_GROUP" : NULL;
		if (missing) {
			snprintf(err, CONFIG_ERRSZ, "GATEWAY_FISCAL=atol needs %s", missing);
			return -1;
		}
		if (strncmp(c->atol_url, "https://", 8) != 0) {
			snprintf(err, CONFIG_ERRSZ, "GATEWAY_ATOL_URL=%.60s: expected an https:// URL", c->atol_url);
			return -1;
		}
		if (strlen(c->atol_group) > 100 || strspn(c->atol_group, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
							   strlen(c->atol_group)) {
			snprintf(err, CONFIG_ERRSZ, "GATEWAY_ATOL_GROUP: letters, digits, '-', '_' and '.' expected");
			return -1;
		}
		size_t n = strlen(c->atol_url);
		while (n > 0 && c->atol_url[n - 1] == '/')
			c->atol_url[--n] = '\0';
	}
	return 0;
}

int config_fiscal_item(const struct config *c, const char *contract, char *out, size_t outsz)
{
	const char *pct = strstr(c->fiscal_item, "%s");      /* exactly one, checked at start */
	int n = pct ? snprintf(out, outsz, "%.*s%s%s", (int)(pct - c->fiscal_item), c->fiscal_item, contract, pct + 2)
		    : snprintf(out, outsz, "%s", c->fiscal_item);
	if (n < 0 || (size_t)n >= outsz || !ident_utf8_valid(out, (size_t)n))
		return -1;
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		if ((*p & 0xC0) != 0x80)
			chars++;
	return chars <= FISCAL_ITEM_MAX ? 0 : -1;
}

void config_free_fiscal(struct config *c)
{
	free(c->fiscal);
	free(c->atol_url);
	free(c->atol_login);
	free(c->atol_password);
	free(c->atol_group);
	free(c->seller_name);
	free(c->seller_inn);
	free(c->seller_sno);
	free(c->seller_vat);
	free(c->seller_email);
	free(c->seller_payment_address);
	free(c->seller_phone);
	free(c->fiscal_item);
	free(c->fiscal_payment_method);
}
