/* routes_fiscal.c — the fiscal routes (see routes_fiscal.h). The callback is unsigned (ATOL Online
 * signs nothing), so it only moves the named document's report forward: a worker asks the cashbox
 * by GET at once, and only that answer is recorded. */
#include "routes_fiscal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "ident.h"
#include "routes_common.h"

#define UUID_MAX 79            /* fiscal_documents.uuid as the cashbox gives it */

static struct db_stmt q_hint = {"fiscal_callback_hint", "SELECT fiscal_callback_hint($1)", 1, 0};
static struct db_stmt q_docs = {
	"fiscal_documents_of_payment",
	"SELECT coalesce(json_agg(json_build_object("
	" 'id', id, 'kind', kind, 'refund_id', refund_id, 'generation', generation, 'external_id', external_id,"
	" 'cashbox', cashbox, 'state', state, 'superseded', superseded, 'amount', (amount / 100)::text || '.' || lpad((amount % 100)::text, 2, '0'),"
	" 'uuid', uuid, 'attempts', attempts, 'polls', polls, 'error_code', error_code, 'last_error', last_error,"
	" 'fn_number', fn_number, 'fiscal_document_number', fiscal_document_number,"
	" 'fiscal_sign', fiscal_document_attribute, 'receipt_datetime', to_char(receipt_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" 'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	") ORDER BY id), '[]')::text,"
	" EXISTS (SELECT 1 FROM payments WHERE id = $1::uuid)"
	" FROM fiscal_documents WHERE payment_id = $1::uuid",
	1, 0};
static struct db_stmt q_resend = {"fiscal_resend", "SELECT fiscal_resend($1::bigint)", 1, 0};

static void on_hint(const struct db_result *res, void *arg)
{
	struct req *r = arg;
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
		return;
	}
	bool known = strcmp(PQgetvalue(res->res, 0, 0), "t") == 0;
	http_reply_json(r, 200, json_pack("{s:b}", "accepted", known));
}

static bool uuid_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > UUID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      s[i] == '-'))
			return false;
	return true;
}

void h_fiscal_callback(struct req *r)
{
	json_t *body = req_json(r);
	if (!body)
		return;
	json_t *u = json_object_get(body, "uuid");
	const char *uuid = json_string_value(u);
	if (!uuid || strlen(uuid) != json_string_length(u) || !uuid_ok(uuid)) {
		http_reply_error(r, 400, "invalid_uuid", "the callback must name the document: {\"uuid\": \"…\"}");
		json_decref(body);
		return;
	}
	const char *p[1] = {uuid};
	db_exec(req_db(r), &q_hint, p, 1, on_hint, r);
	json_decref(body);
}

static void on_docs(const struct db_result *res, void *arg)
{
	struct req *r = arg;
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
		return;
	}
	if (strcmp(PQgetvalue(res->res, 0, 1), "t") != 0) {
		http_reply_error(r, 404, "payment_not_found", "no payment has this id");
		return;
	}
	json_t *docs = json_loads(PQgetvalue(res->res, 0, 0), 0, NULL);
	if (!docs) {
		reply_db_unavailable(r);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:o}", "documents", docs));
}

void h_fiscal_documents(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *pid;
	if (req_query(r, "payment_id", &pid) != 0) {
		http_reply_error(r, 400, "bad_query", "a parameter is given more than once or holds a NUL byte (%%00)");
		return;
	}
	if (!pid || !ident_uuid_valid(pid)) {
		http_reply_error(r, 400, "invalid_payment_id", "give payment_id, a UUID");
		return;
	}
	const char *p[1] = {pid};
	db_exec_read(req_db(r), &q_docs, p, 1, on_docs, r);
}

static void on_resend(const struct db_result *res, void *arg)
{
	struct req *r = arg;
	if (res->status != DB_OK || PQntuples(res->res) != 1) {
		reply_db_unavailable(r);
		return;
	}
	const char *v = PQgetvalue(res->res, 0, 0);
	if (strcmp(v, "resent") == 0)
		http_reply_json(r, 202, json_pack("{s:s}", "result", "resent"));
	else if (strcmp(v, "not_found") == 0)
		http_reply_error(r, 404, "document_not_found", "no fiscal document has this id");
	else
		http_reply_error(r, 409, "document_not_failed",
				 "only a document the cashbox refused (state failed) is sent again, under a new external_id");
}

void h_fiscal_resend(struct req *r)
{
	if (!require_admin(r))
		return;
	const char *id = req_param(r, 0);
	size_t n = id ? strlen(id) : 0;
	bool ok = n > 0 && n <= 18;
	for (size_t i = 0; ok && i < n; i++)
		ok = id[i] >= '0' && id[i] <= '9';
	if (!ok) {
		http_reply_error(r, 404, "document_not_found", "a fiscal document id is a number");
		return;
	}
	const char *p[1] = {id};
	db_exec(req_db(r), &q_resend, p, 1, on_resend, r);
}
