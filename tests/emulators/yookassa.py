#!/usr/bin/python3
"""YooKassa API v3 as a shop sees it, over HTTPS: POST /v3/payments (Idempotence-Key, HTTP Basic
shopId:secretKey, redirect confirmation), GET /v3/payments/{id}, POST /v3/refunds, error objects
{"type":"error","id","code","description"}, and notifications POSTed to the shop's URL
({"type":"notification","event":…,"object":{payment}}).

Idempotence: the same key with the same body gets the original answer (status and body), whatever
happened since; the same key with another body is invalid_request. keys[key] counts requests.

Test controls (Python): pay(id, succeed=True, notify=True), notify(id, event), report_amount[id] =
"1.00" (the API says another amount), fail_next() (from https_emulator: 500s, slow answers).

Standard library only; shares no code with the gateway. Run standalone:
    yookassa.py --cert c.pem --key k.pem --port 8444 --shop-id 123 --secret test_key --notify-url URL
"""
import argparse
import base64
import datetime
import json
import re
import uuid

from https_emulator import Emulator

METHODS = ("bank_card", "sberbank", "yoo_money", "sbp")
VALUE = re.compile(r"^[0-9]+\.[0-9]{2}$")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def kop(value):
    r, k = value.split(".")
    return int(r) * 100 + int(k)


def value(kopecks):
    return "%d.%02d" % (kopecks // 100, kopecks % 100)


class YooKassa(Emulator):
    def __init__(self, certfile, keyfile, shop_id="100500", secret="test_secret_key", notify_url=None, port=0):
        super().__init__(certfile, keyfile, port)
        self.shop_id = shop_id
        self.secret = secret
        self.notify_url = notify_url
        self.payments = {}
        self.refunds = {}
        self.keys = {}              # Idempotence-Key -> requests seen (500s included)
        self.answers = {}           # Idempotence-Key -> (body hash, status, doc)
        self.report_amount = {}     # payment id -> value string to report instead
        self.bloat = {}             # payment id -> bytes of padding in GET answers (a misbehaving API)
        self.bodies = []            # every POST /payments body, for assertions
        self.notified = []          # (event, id, gateway status)
        self.receipts_required = False   # the shop receipts through YooKassa (54-FZ): every request needs `receipt`
        self.receipts = []          # (payment or refund id, receipt object) for assertions

    def error(self, status, code, description, parameter=None):
        doc = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
        if parameter:
            doc["parameter"] = parameter
        return status, doc

    def error_500(self):
        return self.error(500, "internal_server_error", "Internal server error")[1]

    # ---- protocol ----------------------------------------------------------------------------

    def handle(self, method, path, query, headers, body):
        auth = headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(("%s:%s" % (self.shop_id, self.secret)).encode()).decode()
        if auth != want:
            return self.error(401, "invalid_credentials", "Authentication by given credentials failed")
        with self.lock:
            m = re.fullmatch(r"/v3/payments/([A-Za-z0-9-]+)", path)
            if method == "GET" and m:
                p = self.payments.get(m.group(1))
                if not p:
                    return self.error(404, "not_found", "Payment not found")
                return 200, self.view(p)
            if method == "POST" and path in ("/v3/payments", "/v3/refunds"):
                key = headers.get("Idempotence-Key")
                if not key or len(key) > 64:
                    return self.error(400, "invalid_request", "Idempotence key is required (up to 64 characters)",
                                      "Idempotence-Key")
                digest = (path, body)
                if key in self.answers:
                    seen, status, doc = self.answers[key]
                    if seen != digest:
                        return self.error(400, "invalid_request", "Idempotence key duplicated with other parameters")
                    return status, doc
                try:
                    req = json.loads(body)
                except ValueError:
                    return self.error(400, "invalid_request", "Request body is not JSON")
                status, doc = self.create(req) if path == "/v3/payments" else self.refund(req)
                if status < 500:
                    self.answers[key] = (digest, status, doc)
                return status, doc
        return self.error(404, "not_found", "Unknown endpoint")

    def observe(self, method, path, query, headers, body):
        key = headers.get("Idempotence-Key")
        if method == "POST" and key:
            self.keys[key] = self.keys.get(key, 0) + 1

    def view(self, p):
        doc = json.loads(json.dumps(p))
        if p["id"] in self.report_amount:
            doc["amount"]["value"] = self.report_amount[p["id"]]
        if p["id"] in self.bloat:
            doc["description"] = "x" * self.bloat[p["id"]]
        return doc

    def check_receipt(self, r, amount):
        """The error answer for a wrong or missing 54-FZ receipt object, or None."""
        rc = r.get("receipt")
        if rc is None:
            return self.error(400, "invalid_request", "Receipt is missing", "receipt") if self.receipts_required else None
        cust = rc.get("customer") or {}
        if not (cust.get("email") or cust.get("phone")):
            return self.error(400, "invalid_request", "Receipt customer contact is missing", "receipt.customer")
        items = rc.get("items")
        if not isinstance(items, list) or not items:
            return self.error(400, "invalid_request", "Receipt items are missing", "receipt.items")
        total = 0
        for it in items:
            a = it.get("amount") or {}
            q = str(it.get("quantity", ""))
            if not VALUE.match(str(a.get("value", ""))) or a.get("currency") != "RUB" or not VALUE.match(q):
                return self.error(400, "invalid_request", "Receipt item amount", "receipt.items.amount")
            if not 1 <= len(it.get("description", "")) <= 128 or it.get("vat_code") not in range(1, 13):
                return self.error(400, "invalid_request", "Receipt item description or vat_code", "receipt.items")
            total += kop(a["value"]) * kop(q) // 100
        if total != kop(amount):
            return self.error(400, "invalid_request", "Receipt items do not add up to the amount", "receipt.items")
        return None

    def create(self, r):
        if not isinstance(r, dict):
            return self.error(400, "invalid_request", "Body must be an object")
        a = r.get("amount") or {}
        if not VALUE.match(str(a.get("value", ""))) or a.get("currency") != "RUB":
            return self.error(400, "invalid_request", "Invalid amount", "amount")
        bad = self.check_receipt(r, a["value"])
        if bad:
            return bad
        c = r.get("confirmation") or {}
        if c.get("type") != "redirect" or not str(c.get("return_url", "")).startswith(("http://", "https://")):
            return self.error(400, "invalid_request", "Invalid confirmation", "confirmation")
        pm = r.get("payment_method_data") or {}
        if pm.get("type") not in METHODS:
            return self.error(400, "invalid_request", "Invalid payment_method_data.type", "payment_method_data.type")
        if len(r.get("description", "")) > 128:
            return self.error(400, "invalid_request", "Description is too long", "description")
        pid = "%08x-000f-5000-9000-%012x" % (uuid.uuid4().int >> 96, uuid.uuid4().int >> 80)
        p = {
            "id": pid, "status": "pending", "paid": False,
            "amount": {"value": a["value"], "currency": "RUB"},
            "confirmation": {"type": "redirect", "return_url": c["return_url"],
                             "confirmation_url": "%s/checkout/payments/v2/contract?orderId=%s" % (self.base, pid)},
            "created_at": now(), "description": r.get("description", ""), "metadata": r.get("metadata", {}),
            "recipient": {"account_id": self.shop_id, "gateway_id": "1"}, "refundable": False, "test": True,
            "payment_method": {"type": pm["type"], "id": pid, "saved": False},
            "capture": r.get("capture"),
        }
        self.payments[pid] = p
        self.bodies.append(r)
        if "receipt" in r:
            self.receipts.append((pid, r["receipt"]))
        return 200, json.loads(json.dumps(p))

    def refund(self, r):
        p = self.payments.get((r or {}).get("payment_id", ""))
        if not p:
            return self.error(404, "not_found", "Payment not found", "payment_id")
        a = r.get("amount") or {}
        if not VALUE.match(str(a.get("value", ""))) or a.get("currency") != "RUB":
            return self.error(400, "invalid_request", "Invalid amount", "amount")
        if p["status"] != "succeeded":
            return self.error(400, "invalid_request", "Payment is not succeeded", "payment_id")
        bad = self.check_receipt(r, a["value"])
        if bad:
            return bad
        refunded = kop(p.get("refunded_amount", {}).get("value", "0.00"))
        if refunded + kop(a["value"]) > kop(p["amount"]["value"]):
            return self.error(400, "invalid_request", "Refund amount exceeds the payment", "amount")
        p["refunded_amount"] = {"value": value(refunded + kop(a["value"])), "currency": "RUB"}
        rid = "%08x-0015-5000-8000-%012x" % (uuid.uuid4().int >> 96, uuid.uuid4().int >> 80)
        rf = {"id": rid, "payment_id": p["id"], "status": "succeeded", "created_at": now(),
              "amount": {"value": a["value"], "currency": "RUB"}}
        self.refunds[rid] = rf
        if "receipt" in r:
            self.receipts.append((rid, r["receipt"]))
        return 200, dict(rf)

    # ---- the payer and the notifications -------------------------------------------------------

    def pay(self, pid, succeed=True, notify=True, reason="insufficient_funds"):
        with self.lock:
            p = self.payments[pid]
            if succeed:
                p.update(status="succeeded", paid=True, captured_at=now(), refundable=True,
                         income_amount=dict(p["amount"]))
                p["payment_method"].update(title="Bank card *4444",
                                           card={"first6": "555555", "last4": "4444", "expiry_month": "07",
                                                 "expiry_year": "2030", "card_type": "MasterCard"})
            else:
                p.update(status="canceled", paid=False,
                         cancellation_details={"party": "payment_network", "reason": reason})
        if notify:
            return self.notify(pid, "payment.succeeded" if succeed else "payment.canceled")
        return None

    def notify(self, pid, event, obj=None, url=None):
        with self.lock:
            doc = {"type": "notification", "event": event, "object": obj or self.view(self.payments[pid])}
        status = self.call_back(url or self.notify_url, "POST", json.dumps(doc).encode(), "application/json")
        with self.lock:
            self.notified.append((event, pid, status))
        return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8444)
    ap.add_argument("--shop-id", default="100500")
    ap.add_argument("--secret", default="test_secret_key")
    ap.add_argument("--notify-url")
    YooKassa.serve_main(ap, lambda a: YooKassa(a.cert, a.key, a.shop_id, a.secret, a.notify_url, a.port))


if __name__ == "__main__":
    main()
