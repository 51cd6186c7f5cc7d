"""Browser tests of the pay form: starts PostgreSQL and gatewayd (sandbox acquirer), runs the
Playwright scenarios in Debian's Chromium (tests/e2e/pay_form.js, TAP), then checks in the
database what the browser did: each payment booked once, the declined one not at all, a double
click one payment. Screenshots of every step go to tests/e2e/screenshots/."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import ROOT, Gateway, Postgres, gatewayd, PSQL  # noqa: E402

SHOTS = os.path.join(ROOT, "tests", "e2e", "screenshots")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    for f in os.listdir(SHOTS):
        os.unlink(os.path.join(SHOTS, f))
    pg = Postgres().start()
    gw = None
    failed = 0
    n = 0
    try:
        rc, out, err = gatewayd(["migrate"], pg.url)
        assert rc == 0, err
        subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url, "-f",
                        os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
        gw = Gateway(pg.url, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET="e2e-sandbox-secret-0123456789")
        gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % gw.port
        gw.start()
        p = subprocess.run(["node", os.path.join(ROOT, "tests", "e2e", "pay_form.js"),
                            "http://127.0.0.1:%d" % gw.port, SHOTS], capture_output=True, text=True, timeout=600)
        ids = {}
        for line in p.stdout.splitlines():
            if line.startswith("# ids "):
                ids = json.loads(line[6:])
            elif line.startswith("1.."):
                continue
            else:
                print(line, flush=True)
            if line.startswith("ok ") or line.startswith("not ok "):
                n += 1
                failed += line.startswith("not ok ")
        if p.returncode != 0 and not failed:
            print("not ok %d - browser run exited %d: %s" % (n + 1, p.returncode, p.stderr[-500:].replace("\n", " ")))
            n += 1
            failed += 1

        def check(name, cond):
            nonlocal n, failed
            n += 1
            failed += not cond
            print("%s %d - %s" % ("ok" if cond else "not ok", n, name))

        q = lambda sql: pg.psql(sql)  # noqa: E731
        if ids.get("contract_payment"):
            check("db: the contract payment is booked once with its receipt",
                  q("SELECT p.status || '|' || (SELECT count(*) FROM ledger WHERE payment_id = p.id) || '|' || "
                    "(SELECT count(*) FROM receipts WHERE payment_id = p.id) FROM payments p WHERE id = '%s'"
                    % ids["contract_payment"]) == "succeeded|1|1")
        if ids.get("phone_payment"):
            check("db: the phone payment is booked to contract 12345 for 250.50",
                  q("SELECT a.contract || '|' || p.amount || '|' || p.status FROM payments p JOIN accounts a "
                    "ON a.id = p.account_id WHERE p.id = '%s'" % ids["phone_payment"]) == "12345|25050|succeeded")
        if ids.get("declined_payment"):
            check("db: the declined payment is failed and not booked",
                  q("SELECT p.status || '|' || (SELECT count(*) FROM ledger WHERE payment_id = p.id) FROM payments p "
                    "WHERE id = '%s'" % ids["declined_payment"]) == "failed|0")
        check("db: the double click made exactly one payment",
              q("SELECT count(*) FROM payments p JOIN accounts a ON a.id = p.account_id "
                "WHERE a.contract = '700000002'") == "1")
        check("db: the ledger invariant holds", q("SELECT count(*) FROM ledger_invariant_violations()") == "0")
    finally:
        if gw:
            gw.stop()
        pg.destroy()
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
