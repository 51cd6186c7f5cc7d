#!/usr/bin/python3
"""An OSMP / QIWI terminal network, as the provider sees it: it calls the provider's URL with
command=check|pay (GET, or POST form), HTTP Basic auth, and reads the XML answer. Like a real
network it repeats a request that timed out or got a non-fatal result (1, 90) with the very same
txn_id, and treats every other result as final.

Standard library only; shares no code with the gateway. Usable as a module (OsmpTerminal) or from
the command line:
    osmp_terminal.py --url http://127.0.0.1:8080/v1/osmp --login L --password P check 12345
    osmp_terminal.py ... pay 12345 200.00 --txn-id 1001
"""
import argparse
import base64
import http.client
import socket
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

NON_FATAL = (1, 90)


class ProtocolError(Exception):
    """The provider's answer is not a valid OSMP response."""


class OsmpTerminal:
    def __init__(self, url, login, password, timeout=5.0, retries=5, retry_delay=0.2, post=False):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (login, password)).encode()).decode()
        self.timeout, self.retries, self.retry_delay, self.post = timeout, retries, retry_delay, post
        self.attempts = []          # one entry per HTTP attempt: "timeout", "error" or the result code
        self.observer = None        # observer(method, target, status, headers, body) sees every answer
        self._txn = int(time.time() * 1000) % 10**12

    def next_txn_id(self):
        self._txn += 1
        return str(self._txn)

    def _once(self, params):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            body = urllib.parse.urlencode(params)
            headers = {"Authorization": self.auth}
            if self.post:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                method, target = "POST", self.path
                c.request(method, target, body=body, headers=headers)
            else:
                method, target = "GET", self.path + "?" + body
                c.request(method, target, headers=headers)
            r = c.getresponse()
            data = r.read()
            if self.observer:
                self.observer(method, target, r.status, dict((k.lower(), v) for k, v in r.getheaders()), data)
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
            raise ProtocolError("root element is %r, not response" % root.tag)
        out = {"http_status": status, "raw": data}
        for child in root:
            if child.tag == "fields":
                out["fields"] = {f.get("name"): (f.text or "") for f in child}
            else:
                out[child.tag] = child.text or ""
        if "result" not in out or not out["result"].isdigit():
            raise ProtocolError("no numeric <result>: %r" % data[:200])
        out["result"] = int(out["result"])
        return out

    def request(self, params, retry=True):
        """Sends params; repeats on timeout / connection errors / result 1 or 90 when retry is set."""
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
                self.attempts.append(resp["result"])
                if resp["result"] not in NON_FATAL or i == tries - 1:
                    return resp
                last = None
            if i < tries - 1:
                time.sleep(self.retry_delay)
        if last is not None:
            raise last
        raise AssertionError("unreachable")

    def check(self, account, sum_="0.00", txn_id="0", retry=True, **extra):
        p = {"command": "check", "txn_id": txn_id, "account": account, "sum": sum_}
        p.update(extra)
        return self.request(p, retry)

    def pay(self, account, sum_, txn_id=None, txn_date=None, retry=True, **extra):
        p = {"command": "pay", "txn_id": txn_id or self.next_txn_id(),
             "txn_date": txn_date or time.strftime("%Y%m%d%H%M%S"), "account": account, "sum": sum_}
        p.update(extra)
        return self.request(p, retry)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--login", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--post", action="store_true")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("command", choices=["check", "pay"])
    ap.add_argument("account")
    ap.add_argument("sum", nargs="?", default="0.00")
    ap.add_argument("--txn-id")
    a = ap.parse_args()
    t = OsmpTerminal(a.url, a.login, a.password, timeout=a.timeout, post=a.post)
    if a.command == "check":
        r = t.check(a.account, a.sum, txn_id=a.txn_id or "0")
    else:
        r = t.pay(a.account, a.sum, txn_id=a.txn_id)
    r.pop("raw", None)
    print(r, "attempts:", t.attempts)
    return 0 if r["result"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
