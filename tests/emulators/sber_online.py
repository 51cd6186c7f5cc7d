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
import sys
import time
import uuid

from xml_agent import ProtocolError, XmlAgent


class SberOnline(XmlAgent):
    CODE = "CODE"
    NON_FATAL = (1,)

    def __init__(self, url, login, password, timeout=5.0, retries=5, retry_delay=0.2, upper=True):
        super().__init__(url, login, password, timeout, retries, retry_delay)
        self.upper = upper

    @staticmethod
    def pay_date(t=None):
        return time.strftime("%d.%m.%Y_%H:%M:%S", time.localtime(t))

    @classmethod
    def check_answer(cls, out, data):
        if not out.get("CODE", "").isdigit() or "MESSAGE" not in out:
            raise ProtocolError("no numeric CODE / MESSAGE: %r" % data[:200])

    def request(self, params, retry=True):
        if not self.upper:
            params = {k.lower(): v for k, v in params.items()}
        return super().request(params, retry)

    def check(self, account, retry=True, **extra):
        return self.command({"ACTION": "check", "ACCOUNT": account}, extra, retry)

    def payment(self, account, amount, pay_id=None, pay_date=None, retry=True, **extra):
        return self.command({"ACTION": "payment", "ACCOUNT": account, "AMOUNT": amount,
                             "PAY_ID": pay_id or str(uuid.uuid4().int % 10**15), "PAY_DATE": pay_date or self.pay_date()},
                            extra, retry)


def main():
    ap = SberOnline.cli_parser(__doc__, ["check", "payment"])
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
