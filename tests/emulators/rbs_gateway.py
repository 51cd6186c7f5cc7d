#!/usr/bin/python3
"""An RBS acquiring gateway (the Sberbank / Alfa-Bank REST protocol) as a merchant sees it, over
HTTPS: register.do, getOrderStatusExtended.do, refund.do (form-encoded, userName/password, JSON
answers with errorCode), a hosted payment page, and signed callbacks to the merchant
(GET dynamicCallbackUrl?mdOrder=…&orderNumber=…&operation=…&status=…&checksum=…, checksum =
uppercase hex HMAC-SHA256 of the sorted "name;value;" pairs).

Test controls (Python): pay(order_id, approve=True, notify=True), decline(...), callback(...) with
a forged checksum, report_amount[order_id] = kopecks (the bank says another amount), fail_next()
(from https_emulator: 500s, slow answers). Counters: requests, connections, numbers[orderNumber].

Standard library only; shares no code with the gateway. Run standalone:
    rbs_gateway.py --cert c.pem --key k.pem --port 8443 --user u --password p --callback-key K
"""
import argparse
import hashlib
import hmac
import time
import urllib.parse
import uuid

from https_emulator import Emulator

ERR = {
    "1": "Заказ с таким номером уже обработан",
    "3": "Неизвестная валюта",
    "4": "Не указан обязательный параметр",
    "5": "Доступ запрещён",
    "6": "Заказ не найден",
    "7": "Системная ошибка",
}


def checksum(params, key):
    s = "".join("%s;%s;" % (k, params[k]) for k in sorted(params) if k not in ("checksum", "sign_alias"))
    return hmac.new(key.encode(), s.encode(), hashlib.sha256).hexdigest().upper()


class RbsGateway(Emulator):
    def __init__(self, certfile, keyfile, user="merchant-api", password="secret-pass", callback_key=None, port=0):
        super().__init__(certfile, keyfile, port)
        self.user = user
        self.password = password
        self.callback_key = callback_key
        self.orders = {}            # orderId -> dict
        self.by_number = {}         # orderNumber -> orderId
        self.numbers = {}           # orderNumber -> register.do calls seen (500s included)
        self.report_amount = {}     # orderId -> amount to report instead of the real one
        self.register_params = []   # every register.do form, for assertions
        self.callbacks = []         # (url, params, gateway status)

    # ---- protocol ----------------------------------------------------------------------------

    def handle(self, method, path, query, headers, body):
        if headers.get("Content-Type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        else:
            form = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if path.startswith("/payment/merchants/"):
            return 200, {"page": "payment form", "mdOrder": dict(urllib.parse.parse_qsl(query)).get("mdOrder")}
        if not path.startswith("/payment/rest/"):
            return 404, {"errorCode": "404", "errorMessage": "not found"}
        if form.get("userName") != self.user or form.get("password") != self.password:
            return 200, self.err("5")
        op = path.rsplit("/", 1)[-1]
        with self.lock:
            if op == "register.do":
                return 200, self.register(form)
            if op == "getOrderStatusExtended.do":
                return 200, self.status(form)
            if op == "refund.do":
                return 200, self.refund(form)
        return 404, {"errorCode": "404", "errorMessage": "unknown method"}

    def err(self, code, msg=None):
        return {"errorCode": code, "errorMessage": msg or ERR.get(code, "error")}

    def observe(self, method, path, query, headers, body):
        if path.endswith("/register.do"):
            num = dict(urllib.parse.parse_qsl(body.decode(errors="replace"))).get("orderNumber", "")
            self.numbers[num] = self.numbers.get(num, 0) + 1

    def register(self, f):
        self.register_params.append(dict(f))
        num = f.get("orderNumber", "")
        if not num or not f.get("amount") or not f.get("returnUrl"):
            return self.err("4")
        if len(num) > 32:
            return self.err("4", "orderNumber длиннее 32 символов")
        if not f["amount"].isdigit() or int(f["amount"]) <= 0:
            return self.err("4", "Неверная сумма")
        if f.get("currency", "643") != "643":
            return self.err("3")
        if num in self.by_number:
            return self.err("1")
        oid = str(uuid.uuid4())
        self.orders[oid] = {
            "orderId": oid, "orderNumber": num, "amount": int(f["amount"]), "status": 0, "actionCode": -100,
            "returnUrl": f["returnUrl"], "callback": f.get("dynamicCallbackUrl"), "deposited": 0, "refunded": 0,
            "date": int(time.time() * 1000),
        }
        self.by_number[num] = oid
        return {"orderId": oid, "formUrl": "%s/payment/merchants/test/payment_ru.html?mdOrder=%s" % (self.base, oid)}

    def find(self, f):
        oid = f.get("orderId") or self.by_number.get(f.get("orderNumber", ""))
        return self.orders.get(oid)

    def status(self, f):
        o = self.find(f)
        if not o:
            return self.err("6")
        state = {0: "CREATED", 2: "DEPOSITED", 3: "REVERSED", 4: "REFUNDED", 6: "DECLINED"}.get(o["status"], "CREATED")
        doc = {
            "errorCode": "0", "errorMessage": "Успешно", "orderNumber": o["orderNumber"], "orderStatus": o["status"],
            "actionCode": o["actionCode"], "actionCodeDescription": "", "amount": self.report_amount.get(
                o["orderId"], o["amount"]), "currency": "643", "date": o["date"], "ip": "10.1.2.3",
            "merchantOrderParams": [], "attributes": [{"name": "mdOrder", "value": o["orderId"]}],
            "paymentAmountInfo": {"paymentState": state, "approvedAmount": o["deposited"],
                                  "depositedAmount": o["deposited"], "refundedAmount": o["refunded"]},
        }
        if o["status"] in (2, 4, 6):
            # what a real answer carries and the gateway must never store
            doc["cardAuthInfo"] = {"maskedPan": "411111**1111", "expiration": "203012", "cardholderName": "IVAN IVANOV",
                                   "approvalCode": "123456", "pan": "4111111111111111"}
        return doc

    def refund(self, f):
        o = self.find({"orderId": f.get("orderId")})
        if not o:
            return self.err("6")
        if o["status"] not in (2, 4):
            return self.err("7", "Платёж должен быть в корректном состоянии")
        amt = f.get("amount", "")
        if not amt.isdigit() or int(amt) <= 0 or o["refunded"] + int(amt) > o["deposited"]:
            return self.err("5", "Неверная сумма возврата")
        o["refunded"] += int(amt)
        o["status"] = 4
        return {"errorCode": "0", "errorMessage": "Успешно"}

    # ---- the payer and the bank's callbacks ------------------------------------------------------

    def order(self, order_id):
        with self.lock:
            return dict(self.orders[order_id])

    def pay(self, order_id, approve=True, notify=True, key=None):
        """The payer completes the form: deposited (2), or declined (6). Returns the gateway's status."""
        with self.lock:
            o = self.orders[order_id]
            if approve:
                o["status"], o["actionCode"], o["deposited"] = 2, 0, o["amount"]
            else:
                o["status"], o["actionCode"] = 6, 116   # 116: insufficient funds
        if not notify:
            return None
        op = "deposited" if approve else "declinedByTimeout"
        return self.callback(order_id, op, 1 if approve else 0, key=key)

    def callback(self, order_id, operation, status, key=None, extra=None, forge=None, method="GET", url=None):
        """Sends a callback; key defaults to the configured one (False: unsigned); forge replaces the
        checksum."""
        with self.lock:
            o = self.orders.get(order_id, {"orderNumber": "0", "callback": None})
            target = url or o["callback"]
        params = {"mdOrder": order_id, "orderNumber": o["orderNumber"], "operation": operation,
                  "status": str(status)}
        params.update(extra or {})
        k = key if key is not None else self.callback_key
        if k:
            params["checksum"] = checksum(params, k)
        if forge is not None:
            params["checksum"] = forge
        status_code = self.call_back(target, method, urllib.parse.urlencode(params),
                                     "application/x-www-form-urlencoded")
        with self.lock:
            self.callbacks.append((target, params, status_code))
        return status_code


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--user", default="merchant-api")
    ap.add_argument("--password", default="secret-pass")
    ap.add_argument("--callback-key")
    RbsGateway.serve_main(ap, lambda a: RbsGateway(a.cert, a.key, a.user, a.password, a.callback_key, a.port))


if __name__ == "__main__":
    main()
