/* fuzz_ident.c — contract, phone, email, name masking and UTF-8 checks on hostile bytes:
 * no crash, and what is accepted has the promised form and normalises to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char c[IDENT_CONTRACT_BUFSZ], c2[IDENT_CONTRACT_BUFSZ], p[IDENT_PHONE_BUFSZ], p2[IDENT_PHONE_BUFSZ];
	if (ident_contract_normalizen(s, size, c) == IDENT_OK) {
		size_t n = strlen(c);
		if (n < 5 || n > 12 || strspn(c, "0123456789") != n)
			abort();
		if (ident_contract_normalize(c, c2) != IDENT_OK || strcmp(c, c2) != 0)
			abort();
	}
	if (ident_phone_normalizen(s, size, p) == IDENT_OK) {
		if (strlen(p) != 12 || p[0] != '+' || p[1] != '7' || strspn(p + 1, "0123456789") != 11)
			abort();
		if (ident_phone_normalize(p, p2) != IDENT_OK || strcmp(p, p2) != 0)
			abort();
	}
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	(void)ident_email_valid(z);
	char masked[512];
	if (ident_mask_name(z, masked, sizeof masked) == 0) {
		if (strlen(masked) > strlen(z) || !ident_utf8_valid(masked, strlen(masked)))
			abort();
	}
	(void)ident_utf8_valid(s, size);
	free(z);
	return 0;
}
