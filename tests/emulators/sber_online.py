#!/usr/bin/python3
"""Sberbank Online as a payment agent: it calls the provider with ACTION=check&ACCOUNT=… and
ACTION=payment&ACCOUNT=…&AMOUNT=…&PAY_ID=…&PAY_DATE=dd.MM.yyyy_HH:mm:ss (GET), HTTP Basic auth,
and reads <response><CODE>…</CODE><MESSAGE>…</MESSAGE>…</response>. A timeout or CODE 1
(temporary error) is repeated with the same PAY_ID; CODE 8 (duplicate) is a success carrying the
original EXT_ID / REG_DATE / AMOUNT; everything else is final.

Standard library only; shares no code with the gateway. Usable as a module (SberOnline) or:
    sber_online.py --url http://127.0.0.1:8080/v1/sber-online --login L --password P check 12345
    sber_online.py ... payment 12345 200.00 --pay-id 77001
"""
import argparse
import base64
import http.client
import socket
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET


class ProtocolError(Exception):
    """The provider's answer is not a valid Sberbank Online response."""


class SberOnline:
    def __init__(self, url, login, password, timeout=5.0, retries=5, retry_delay=0.2, upper=True):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (login, password)).encode()).decode()
        self.timeout, self.retries, self.retry_delay, self.upper = timeout, retries, retry_delay, upper
        self.attempts = []
        self.observer = None        # observer(method, target, status, headers, body) sees every answer

    @staticmethod
    def pay_date(t=None):
        return time.strftime("%d.%m.%Y_%H:%M:%S", time.localtime(t))

    def _once(self, params):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            target = self.path + "?" + urllib.parse.urlencode(params)
            c.request("GET", target, headers={"Authorization": self.auth})
            r = c.getresponse()
            data = r.read()
            if self.observer:
                self.observer("GET", target, r.status, dict((k.lower(), v) for k, v in r.getheaders()), data)
            return r.status, r.getheader("Content-Type", ""), data
        finally:
            c.close()

    @staticmethod
    def parse(status, ctype, data):
        if not ctype.startswith("text/xml"):
            raise ProtocolError("Content-Type %r is not text/xml" % ctype)
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise ProtocolError("not XML: %s: %r" % (e, data[:200]))
        if root.tag != "response":
            raise ProtocolError("root element is %r" % root.tag)
        out = {"http_status": status, "raw": data}
        for child in root:
            out[child.tag] = child.text or ""
        if not out.get("CODE", "").isdigit() or "MESSAGE" not in out:
            raise ProtocolError("no numeric CODE / MESSAGE: %r" % data[:200])
        out["CODE"] = int(out["CODE"])
        return out

    def request(self, params, retry=True):
        if not self.upper:
            params = {k.lower(): v for k, v in params.items()}
        tries = 1 + (self.retries if retry else 0)
        last = None
        for i in range(tries):
            try:
                status, ctype, data = self._once(params)
            except (socket.timeout, TimeoutError) as e:
                self.attempts.append("timeout")
                last = e
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.attempts.append("error")
                last = e
            else:
                resp = self.parse(status, ctype, data)
                self.attempts.append(resp["CODE"])
                if resp["CODE"] != 1 or i == tries - 1:
                    return resp
                last = None
            if i < tries - 1:
                time.sleep(self.retry_delay)
        if last is not None:
            raise last
        raise AssertionError("unreachable")

    def check(self, account, retry=True, **extra):
        p = {"ACTION": "check", "ACCOUNT": account}
        p.update(extra)
        return self.request(p, retry)

    def payment(self, account, amount, pay_id=None, pay_date=None, retry=True, **extra):
        p = {"ACTION": "payment", "ACCOUNT": account, "AMOUNT": amount,
             "PAY_ID": pay_id or str(uuid.uuid4().int % 10**15), "PAY_DATE": pay_date or self.pay_date()}
        p.update(extra)
        return self.request(p, retry)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--login", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("action", choices=["check", "payment"])
    ap.add_argument("account")
    ap.add_argument("amount", nargs="?")
    ap.add_argument("--pay-id")
    a = ap.parse_args()
    s = SberOnline(a.url, a.login, a.password)
    r = s.check(a.account) if a.action == "check" else s.payment(a.account, a.amount, pay_id=a.pay_id)
    r.pop("raw", None)
    print(r, "attempts:", s.attempts)
    return 0 if r["CODE"] in (0, 8) else 1


if __name__ == "__main__":
    sys.exit(main())
