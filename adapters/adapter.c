/* adapter.c — the helpers every adapter shares: a reply's ownership and the life of one outbound
 * provider call (adapter.h). The table of adapters is registry.c. */
#include "adapter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void adapter_reply_clear(struct adapter_reply *r)
{
	if (r->raw) {
		json_decref(r->raw);
		r->raw = NULL;
	}
}

void *adapter_op_new(size_t size, adapter_cb cb, void *arg, void (*release)(struct adapter_op *op))
{
	struct adapter_op *op = calloc(1, size);
	if (!op) {
		struct adapter_reply rep = {.outcome = AO_UNAVAILABLE, .amount = -1};
		snprintf(rep.message, sizeof rep.message, "out of memory");
		cb(&rep, arg);
		return NULL;
	}
	op->cb = cb;
	op->arg = arg;
	op->rep.amount = -1;
	op->release = release;
	return op;
}

void adapter_op_finish(struct adapter_op *op, enum adapter_outcome outcome)
{
	op->rep.outcome = outcome;
	op->cb(&op->rep, op->arg);
	adapter_reply_clear(&op->rep);
	if (op->release)
		op->release(op);
	free(op);
}

void adapter_op_fail(struct adapter_op *op, enum adapter_outcome outcome, const char *code, const char *fmt, ...)
{
	snprintf(op->rep.code, sizeof op->rep.code, "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(op->rep.message, sizeof op->rep.message, fmt, ap);
	va_end(ap);
	adapter_op_finish(op, outcome);
}
