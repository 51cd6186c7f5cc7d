#!/usr/bin/python3
"""ATOL Online v4 (FFD 1.05) as a cloud-cashbox client sees it, over HTTPS:
POST /possystem/v4/getToken {"login","pass"} -> {"token","error":null,"timestamp"};
POST /possystem/v4/{group}/sell | sell_refund (header Token, JSON body) -> {"uuid","status":"wait"};
GET  /possystem/v4/{group}/report/{uuid} -> {"uuid","status":wait|done|fail,"error","payload"}.

What it checks and does, as the protocol description says (../shared/protocols/README.md, 5):
- tokens expire (ttl seconds, or expire_tokens() at once): code 11 ExpiredToken, HTTP 401; a wrong
  login or password is 12 / 13;
- Content-Type must be application/json (41); the group must be the account's (20);
- the document is validated: external_id <= 128, timestamp dd.mm.yyyy HH:MM:SS, client e-mail or
  phone, company inn/sno/payment_address/email, every item's name <= 128 and sum = price*quantity,
  items' sums = payments' sums = total, money with at most 2 decimals (32 otherwise);
- external_id is unique in the group forever: a repeat gets 33 with the FIRST document's uuid;
- fiscalisation takes fiscal_delay seconds: report says wait (or 34 for a report asked within
  not_processed_for seconds of registering), then done with the fiscal payload, or fail for the
  external_ids in fail_ids;
- when done, the report is POSTed to the document's callback_url (callbacks=False: none);
- injected refusals (refuse_next(code): 10/20/31/32/50 on the next sell), lost answers and slow
  answers (fail_next from https_emulator), and an outage switch (down=True: 503 to everything);
- report requests faster than 1 per second are counted in report_too_fast.

Standard library only; shares no code with the gateway. Run standalone:
    atol.py --cert c.pem --key k.pem --port 8445 --login L --password P --group G
"""
import argparse
import datetime
import json
import re
import threading
import time
import uuid as uuidlib
from decimal import Decimal

from https_emulator import Emulator

TIMESTAMP = re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$")
SNO = ("osn", "usn_income", "usn_income_outcome", "envd", "esn", "patent")
VAT = ("none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat105", "vat107", "vat110", "vat120", "vat122")
METHODS = ("full_prepayment", "prepayment", "advance", "full_payment", "partial_payment", "credit", "credit_payment")
TEXTS = {10: "Incoming request error", 11: "ExpiredToken", 12: "Wrong login", 13: "Wrong password",
         20: "Group code does not match the token", 31: "Incoming request validation error",
         32: "Validation error", 33: "IncomingExternalIdAlreadyExists", 34: "StateCheckNotFound",
         41: "Wrong Content-Type", 50: "Internal error"}
STATUS = {10: 400, 11: 401, 12: 401, 13: 401, 20: 400, 31: 400, 32: 400, 33: 400, 34: 400, 41: 415, 50: 500}


def now_text():
    return datetime.datetime.now().strftime("%d.%m.%Y %H:%M:%S")


def money(v):
    """A JSON number of roubles as exact kopecks, or None when it is not one (3 decimals, negative, text)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        return None
    d = Decimal(str(v))
    if d < 0 or d != d.quantize(Decimal("0.01")):
        return None
    return int(d * 100)


class Atol(Emulator):
    def __init__(self, certfile, keyfile, login="v4-online-atol-ru", password="iGFFuihss",
                 group="v4-online-atol-ru_4179", inn="5544332219", port=0):
        super().__init__(certfile, keyfile, port)
        self.login, self.password, self.group, self.inn = login, password, group, inn
        self.ttl = 24 * 3600.0
        self.tokens = {}                # token -> expiry (time.time())
        self.docs = {}                  # external_id -> document record (dict)
        self.by_uuid = {}
        self.fiscal_delay = 1.0
        self.not_processed_for = 0.0    # a report this soon after registering answers 34
        self.fail_ids = set()           # external_ids whose fiscalisation fails
        self.refusals = []              # codes for the next sell requests
        self.callbacks = True
        self.callbacks_sent = []        # (external_id, status of the gateway's answer or error)
        self.down = False
        self.posts = {}                 # external_id -> register requests seen (repeats included)
        self.token_requests = 0
        self.expired_answers = 0
        self.report_times = []
        self.report_too_fast = 0
        self.shift = 1
        self.fd = 100
        self.receipt_no = 0

    # -- test controls ------------------------------------------------------------------------
    def expire_tokens(self):
        with self.lock:
            for t in self.tokens:
                self.tokens[t] = 0

    def refuse_next(self, code, times=1):
        with self.lock:
            self.refusals.extend([code] * times)

    def documents(self, kind=None):
        with self.lock:
            return [d for d in self.docs.values() if kind is None or d["kind"] == kind]

    # -- answers ------------------------------------------------------------------------------
    def error(self, code, text=None, **extra):
        doc = {"error": {"error_id": str(uuidlib.uuid4()), "code": code, "text": text or TEXTS.get(code, "error"),
                         "type": "system" if code in (11, 12, 13, 20, 50) else "agent"},
               "status": "fail", "timestamp": now_text()}
        doc.update(extra)
        return STATUS.get(code, 400), doc

    def error_500(self):
        return self.error(50)[1]

    def handle(self, method, path, query, headers, body):
        with self.lock:
            if self.down:
                return 503, {"error": {"code": 50, "text": "service unavailable", "type": "system"}}
            if method == "POST" and path == "/possystem/v4/getToken":
                return self.get_token(body)
            m = re.match(r"^/possystem/v4/([^/]+)/(sell|sell_refund|report/([^/]+))$", path)
            if not m:
                return 404, {"error": {"code": 10, "text": "no such operation", "type": "system"}}
            tok = headers.get("Token")
            exp = self.tokens.get(tok)
            if exp is None:
                return self.error(11, "Token is missing or unknown")
            if exp <= time.time():
                self.expired_answers += 1
                return self.error(11)
            if m.group(1) != self.group:
                return self.error(20)
            if m.group(2).startswith("report"):
                if method != "GET":
                    return self.error(10)
                return self.report(m.group(3))
            if method != "POST":
                return self.error(10)
            if not (headers.get("Content-Type") or "").lower().startswith("application/json"):
                return self.error(41)
            return self.register(m.group(2), body)

    def get_token(self, body):
        self.token_requests += 1
        try:
            req = json.loads(body)
        except ValueError:
            return self.error(10, "body is not JSON")
        if req.get("login") != self.login:
            return self.error(12)
        if req.get("pass") != self.password:
            return self.error(13)
        t = uuidlib.uuid4().hex
        self.tokens[t] = time.time() + self.ttl
        return 200, {"token": t, "error": None, "timestamp": now_text()}

    def validate(self, doc):
        """The reason the document is refused (code 32), or None."""
        ext = doc.get("external_id")
        if not isinstance(ext, str) or not 1 <= len(ext) <= 128:
            return "external_id"
        if not isinstance(doc.get("timestamp"), str) or not TIMESTAMP.match(doc["timestamp"]):
            return "timestamp"
        r = doc.get("receipt")
        if not isinstance(r, dict):
            return "receipt"
        client = r.get("client") or {}
        if not (client.get("email") or client.get("phone")):
            return "client: email or phone (tag 1008)"
        co = r.get("company") or {}
        if co.get("inn") != self.inn:
            return "company.inn is not the register's"
        if co.get("sno") not in SNO or not co.get("payment_address") or not co.get("email"):
            return "company: sno, payment_address, email"
        items, pays = r.get("items"), r.get("payments")
        if not isinstance(items, list) or not items or not isinstance(pays, list) or not pays:
            return "items and payments"
        total = money(r.get("total"))
        if total is None or total <= 0:
            return "total"
        isum = 0
        for it in items:
            name, price, qty, s = it.get("name"), money(it.get("price")), it.get("quantity"), money(it.get("sum"))
            if not isinstance(name, str) or not 1 <= len(name) <= 128:
                return "item name (<= 128 characters)"
            if price is None or s is None or not isinstance(qty, (int, float)) or price * qty != s:
                return "item sum = price * quantity"
            if it.get("payment_method") not in METHODS or it.get("payment_object") != "service":
                return "item payment_method / payment_object"
            if (it.get("vat") or {}).get("type") not in VAT:
                return "item vat"
            isum += s
        psum = 0
        for p in pays:
            s = money(p.get("sum"))
            if s is None or p.get("type") not in range(0, 10):
                return "payments"
            psum += s
        if isum != total or psum != total:
            return "items' sums = payments' sums = total"
        return None

    def register(self, kind, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return self.error(10, "body is not JSON")
        if not isinstance(doc, dict):
            return self.error(10, "body is not a JSON object")
        ext = doc.get("external_id")
        if isinstance(ext, str):
            self.posts[ext] = self.posts.get(ext, 0) + 1
        if isinstance(ext, str) and ext in self.docs:
            return self.error(33, uuid=self.docs[ext]["uuid"])
        if self.refusals:
            code = self.refusals.pop(0)
            if code == 50:
                return self.error(50)
            return self.error(code, "%s (injected)" % TEXTS.get(code, ""))
        why = self.validate(doc)
        if why:
            return self.error(32, "Validation error: " + why)
        u = str(uuidlib.uuid4())
        rec = {"uuid": u, "kind": kind, "external_id": ext, "doc": doc, "registered": time.time(),
               "total": money(doc["receipt"]["total"]), "email": doc["receipt"]["client"].get("email"),
               "callback_url": (doc.get("service") or {}).get("callback_url"), "status": "wait", "payload": None}
        self.docs[ext] = rec
        self.by_uuid[u] = rec
        threading.Timer(self.fiscal_delay, self.fiscalise, (u,)).start()
        return 200, {"uuid": u, "status": "wait", "error": None, "timestamp": now_text()}

    def fiscalise(self, u):
        with self.lock:
            rec = self.by_uuid[u]
            if rec["external_id"] in self.fail_ids:
                rec["status"] = "fail"
                rec["error"] = {"error_id": str(uuidlib.uuid4()), "code": 1, "text": "ФН: ошибка фискализации",
                                "type": "driver"}
            else:
                self.fd += 1
                self.receipt_no += 1
                rec["status"] = "done"
                rec["payload"] = {
                    "total": rec["total"] / 100 if rec["total"] % 100 else rec["total"] // 100,
                    "fns_site": "www.nalog.gov.ru", "fn_number": "9999078900004312", "shift_number": self.shift,
                    "receipt_datetime": now_text(), "fiscal_receipt_number": self.receipt_no,
                    "fiscal_document_number": self.fd, "ecr_registration_number": "0000000001002292",
                    "fiscal_document_attribute": 3000000000 + self.fd * 7919 % 999999937,
                    "ofd_inn": "7704358518"}
            answer = self.report_doc(rec)
            url = rec["callback_url"] if self.callbacks else None
        if url:
            try:
                st = self.call_back(url, "POST", json.dumps(answer).encode(), "application/json")
            except OSError as e:
                st = str(e)
            with self.lock:
                self.callbacks_sent.append((rec["external_id"], st))

    def report_doc(self, rec):
        return {"uuid": rec["uuid"], "status": rec["status"], "error": rec.get("error"), "payload": rec["payload"],
                "timestamp": now_text(), "group_code": self.group, "daemon_code": "prod-agent-1",
                "device_code": "KSR13.11-3-1", "external_id": rec["external_id"],
                "callback_url": rec["callback_url"] or ""}

    def report(self, u):
        t = time.time()
        if self.report_times and t - self.report_times[-1] < 1.0:
            self.report_too_fast += 1
        self.report_times.append(t)
        rec = self.by_uuid.get(u)
        if rec is None:
            return self.error(34, "StateCheckNotFound: no document with this uuid")
        if rec["status"] == "wait" and t - rec["registered"] < self.not_processed_for:
            return self.error(34)
        return 200, self.report_doc(rec)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8445)
    p.add_argument("--login", default="v4-online-atol-ru")
    p.add_argument("--password", default="iGFFuihss")
    p.add_argument("--group", default="v4-online-atol-ru_4179")
    p.add_argument("--inn", default="5544332219")
    Atol.serve_main(p, lambda a: Atol(a.cert, a.key, a.login, a.password, a.group, a.inn, a.port))


if __name__ == "__main__":
    main()
