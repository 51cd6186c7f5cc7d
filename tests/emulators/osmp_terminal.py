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
import sys
import time

from xml_agent import ProtocolError, XmlAgent  # noqa: F401 (ProtocolError is part of this module's face)

NON_FATAL = (1, 90)


class OsmpTerminal(XmlAgent):
    CODE = "result"
    NON_FATAL = NON_FATAL

    def __init__(self, url, login, password, timeout=5.0, retries=5, retry_delay=0.2, post=False):
        super().__init__(url, login, password, timeout, retries, retry_delay, post)
        self._txn = int(time.time() * 1000) % 10**12

    def next_txn_id(self):
        self._txn += 1
        return str(self._txn)

    @classmethod
    def read_element(cls, out, child):
        if child.tag == "fields":
            out["fields"] = {f.get("name"): (f.text or "") for f in child}
        else:
            out[child.tag] = child.text or ""

    def check(self, account, sum_="0.00", txn_id="0", retry=True, **extra):
        return self.command({"command": "check", "txn_id": txn_id, "account": account, "sum": sum_}, extra, retry)

    def pay(self, account, sum_, txn_id=None, txn_date=None, retry=True, **extra):
        return self.command({"command": "pay", "txn_id": txn_id or self.next_txn_id(),
                             "txn_date": txn_date or time.strftime("%Y%m%d%H%M%S"), "account": account, "sum": sum_},
                            extra, retry)


def main():
    ap = OsmpTerminal.cli_parser(__doc__, ["check", "pay"])
    ap.add_argument("--post", action="store_true")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("sum", nargs="?", default="0.00")
    ap.add_argument("--txn-id")
    a = ap.parse_args()
    t = OsmpTerminal(a.url, a.login, a.password, timeout=a.timeout, post=a.post)
    if a.action == "check":
        r = t.check(a.account, a.sum, txn_id=a.txn_id or "0")
    else:
        r = t.pay(a.account, a.sum, txn_id=a.txn_id)
    r.pop("raw", None)
    print(r, "attempts:", t.attempts)
    return 0 if r["result"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
