/* staff.h — the console's people (schema/014_staff.sql): logins, roles and what each role may do,
 * and their passwords hashed with scrypt (memory-hard, from OpenSSL: no new dependency). */
#ifndef GW_STAFF_H
#define GW_STAFF_H

#include <stdbool.h>

#define STAFF_LOGIN_MAX 63
#define STAFF_HASH_BUFSZ 160
#define STAFF_PASSWORD_MAX 200
/* scrypt N = 2^15, r = 8, p = 1: 32 MiB and some tens of milliseconds a check (RFC 7914's
 * interactive-login figures, doubled); a check runs off the event loops (offload.c). */
#define STAFF_SCRYPT_LOG2N 15
#define STAFF_SCRYPT_R 8
#define STAFF_SCRYPT_P 1

/* What a role may do. A route names the permission it needs; the server refuses the rest (403). */
enum staff_perm {
	PERM_VIEW = 1,            /* find payments, read a payment's page and the overview */
	PERM_RESEND = 2,          /* send a receipt again */
	PERM_REFUND = 4,          /* refund a payment */
	PERM_REGISTRY = 8,        /* download partners' registries, reconcile an uploaded one */
	PERM_UNMASKED = 16,       /* see a subscriber's phone and e-mail in full */
	PERM_PARTNERS = 32,       /* add, disable, enable, rotate partners */
	PERM_STAFF = 64,          /* manage staff */
	PERM_AUDIT = 128,         /* read the audit log */
};

/* The permissions of a role name (0 for an unknown one). */
unsigned staff_role_perms(const char *role);
bool staff_role_valid(const char *role);
/* 2..63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit. */
bool staff_login_valid(const char *login);

/* Hashes a password (scrypt, random salt) into out: "scrypt$<log2 N>$<r>$<p>$<salt hex>$<key hex>".
 * 0 or -1. */
int staff_password_hash(const char *password, char out[STAFF_HASH_BUFSZ]);
/* True when password matches the stored hash (constant-time compare); false for a malformed hash. */
bool staff_password_verify(const char *password, const char *stored);
/* A new password to hand out: 20 characters of an alphabet without look-alikes. 0 or -1. */
int staff_password_new(char out[21]);

#endif
