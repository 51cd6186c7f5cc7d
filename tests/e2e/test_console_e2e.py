"""Browser tests of the operator's console: starts PostgreSQL, an SMTP server and gatewayd (sandbox
acquirer), makes three staff members with `gatewayd staff add` and a paid web payment, runs the
Playwright scenarios in Debian's Chromium (tests/e2e/console.js, TAP), then checks what the browser
did: the resent receipt arrived at the SMTP server at the new address, the refund is in the ledger
once, the partner password admin rotated: the old one refused and the new one taken by the OSMP
endpoint, the audit log holds each role's actions. Screenshots go to tests/e2e/screenshots/console-*."""
import base64
import json
import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import ROOT, Gateway, Postgres, gatewayd, wait_for, PSQL  # noqa: E402
from smtp_server import SMTPServer  # noqa: E402

SHOTS = os.path.join(ROOT, "tests", "e2e", "screenshots")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    pg = Postgres().start()
    smtp = SMTPServer().start()
    gw = None
    n = failed = 0

    def check(name, cond):
        nonlocal n, failed
        n += 1
        failed += not cond
        print("%s %d - %s" % ("ok" if cond else "not ok", n, name), flush=True)
    try:
        rc, out, err = gatewayd(["migrate"], pg.url)
        assert rc == 0, err
        subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url, "-f",
                        os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
        pg.psql("UPDATE accounts SET phone = '+79131234567' WHERE contract = '12345'")
        creds = {}
        for login, role in (("sup", "support"), ("fin", "finance"), ("adm", "admin")):
            rc, out, err = gatewayd(["staff", "add", login, "--role", role], pg.url)
            assert rc == 0, err
            creds[login] = re.search(r"^password:\s+(\S+)$", out, re.M).group(1)
        rc, out, err = gatewayd(["partner", "add", "term1", "--protocol", "osmp", "--cidr", "127.0.0.0/8"], pg.url)
        assert rc == 0, err
        old = re.search(r"^password:\s+(\S+)$", out, re.M).group(1)
        gw = Gateway(pg.url, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET="e2e-console-sandbox-0123456789",
                     GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_FROM="receipts@gw.example")
        gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % gw.port
        gw.start()
        # a paid web payment of 500.00 to contract 12345 (the sandbox's hosted page, as a payer would)
        st, h, d = gw.json("POST", "/v1/payments", {"account": {"contract": "12345"}, "amount": "500.00", "method": "card",
                                                    "email": "payer@example.com", "return_url": "http://127.0.0.1/back"},
                           {"Idempotency-Key": "console-e2e-%d" % os.getpid()})
        assert st == 201, (st, d)
        pid = d["id"]
        u = urllib.parse.urlsplit(d["confirmation_url"])
        form = dict(urllib.parse.parse_qsl(u.query), card="4111 1111 1111 1111", exp="12/39", cvc="123", action="pay")
        gw.request("POST", "/sandbox/pay", urllib.parse.urlencode(form).encode(),
                   {"Content-Type": "application/x-www-form-urlencoded"})
        wait_for(lambda: pg.psql("SELECT status FROM payments WHERE id = '%s'" % pid) == "succeeded", 20, "booked")
        rec = pg.psql("SELECT number FROM receipts WHERE payment_id = '%s'" % pid)
        smtp.wait_for(1, 30)
        p = subprocess.run(["node", os.path.join(ROOT, "tests", "e2e", "console.js"), "http://127.0.0.1:%d" % gw.port,
                            SHOTS, json.dumps(creds)], capture_output=True, text=True, timeout=600)
        rotated = None
        for line in p.stdout.splitlines():
            if line.startswith("# rotated "):
                rotated = line.split()[2]
                continue
            if line.startswith("1.."):
                continue
            print(line, flush=True)
            if line.startswith("ok ") or line.startswith("not ok "):
                n += 1
                failed += line.startswith("not ok ")
        if p.returncode != 0 and not failed:
            check("browser run exited %d: %s" % (p.returncode, p.stderr[-500:].replace("\n", " ")), False)
        # what the browser did, seen from outside it
        try:
            wait_for(lambda: any("support-resend@example.net" in m.rcpt_tos for m in smtp.for_number(rec)), 30,
                     "the resent receipt")
            arrived = True
        except AssertionError:
            arrived = False
        check("smtp: the receipt support resent arrived at the new address", arrived)
        check("db: the refund finance made is one ledger debit of 150.00",
              pg.psql("SELECT string_agg(amount::text, ',') FROM ledger WHERE payment_id = '%s' AND kind = 'debit'"
                      % pid) == "-15000")
        def osmp(password):
            auth = "Basic " + base64.b64encode(("term1:%s" % password).encode()).decode()
            return gw.request("GET", "/v1/osmp?command=check&txn_id=1&account=12345&sum=10.00",
                              headers={"Authorization": auth})[0]
        try:
            wait_for(lambda: rotated and osmp(old) == 401 and osmp(rotated) == 200, 10, "the rotation to take hold")
            took = True
        except AssertionError:
            took = False
        check("osmp: after admin rotated term1's password in the browser the old one is refused, the new one works",
              took)
        acts = set(pg.psql("SELECT login || ':' || action FROM staff_audit").splitlines())
        for a in ("sup:login", "sup:receipt.resend", "sup:view.payment", "sup:logout", "fin:refund", "adm:login",
                  "adm:partner.rotate"):
            check("audit: " + a, a in acts)
        check("audit: the failed sign-in is recorded", "sup:login.failed" in acts)
    finally:
        if gw:
            gw.stop()
        smtp.stop()
        pg.destroy()
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
