"""The balance over time: the daily fee run (`gatewayd charge`: exact monthly sums, once per account
and day however often and however concurrently it runs, missed days caught up, tariff changes from
the next day), suspension below GATEWAY_SUSPEND_BELOW and the return after a top-up through every
channel (OSMP, Sber Online, partner JSON, web), charges from the operator's billing, the statement
(JSON paged, CSV for Excel, the printable page in Chromium) on random histories, and the lookup's
days_left / paid_until by the same rule."""
import csv
import datetime
import hashlib
import hmac
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from harness import partner_creds as creds, ROOT, Gateway, Postgres, Suite, error_of, gatewayd

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
import osmp_terminal  # noqa: E402
import sber_online  # noqa: E402

suite = Suite()
test = suite.test
ADMIN = "balance-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + ADMIN}
SECRET = "balance-sandbox-secret-0123456789"
TZ = "Europe/Moscow"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = c.pg.url
    rc, out, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    c.qiwi = creds(gatewayd(["partner", "add", "qiwi", "--protocol", "osmp"], c.url)[1])
    c.sber = creds(gatewayd(["partner", "add", "sber", "--protocol", "sber-online"], c.url)[1])
    c.shop = creds(gatewayd(["partner", "add", "shop", "--protocol", "json"], c.url)[1])
    c.gw = Gateway(c.url, GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SECRET,
                   GATEWAY_RETURN_HOSTS="127.0.0.1", GATEWAY_PARTNER_TZ=TZ)
    c.gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % c.gw.port
    c.gw.start()
    base = "http://127.0.0.1:%d" % c.gw.port
    c.term = osmp_terminal.OsmpTerminal(base + "/v1/osmp", "qiwi", c.qiwi["password"], retries=0)
    c.bank = sber_online.SberOnline(base + "/v1/sber-online", "sber", c.sber["password"], retries=0)
    c.n = 0
    c.dir = tempfile.mkdtemp(prefix="gw-balance-")
    return c


def teardown(c):
    if c:
        c.gw.stop()
        c.pg.destroy()
        shutil.rmtree(getattr(c, "dir", ""), ignore_errors=True)


def q(c, sql, url=None, superuser=False):
    return c.pg.psql(sql, url=url, superuser=superuser)


def account(c, fee, balance=0, status="active", url=None):
    """A new account (as the import makes it); returns its contract."""
    c.n += 1
    contract = "77%07d" % (c.n * 10 + random.randrange(10))
    q(c, "INSERT INTO accounts (contract, phone, holder_name, status, balance, monthly_fee) VALUES "
         "('%s', NULL, 'Абонент %d', '%s', %d, %d)" % (contract, c.n, status, balance, fee), url=url)
    return contract


def charge(c, *args, url=None, env=None):
    e = {"GATEWAY_PARTNER_TZ": TZ}
    e.update(env or {})
    rc, out, err = gatewayd(["charge"] + list(args), url or c.url, env=e, timeout=300)
    assert rc == 0, (rc, out, err)
    return out


def fees(c, contract, url=None):
    """{day: kopecks} of an account's fee lines."""
    out = q(c, "SELECT to_char(fee_day, 'YYYY-MM-DD'), -amount FROM ledger l JOIN accounts a ON a.id = l.account_id"
               " WHERE a.contract = '%s' AND l.kind = 'fee' ORDER BY fee_day" % contract, url=url)
    return {d: int(k) for d, k in (line.split("|") for line in out.splitlines() if line)}


def balance(c, contract, url=None):
    return int(q(c, "SELECT balance FROM accounts WHERE contract = '%s'" % contract, url=url))


def status(c, contract):
    return q(c, "SELECT status FROM accounts WHERE contract = '%s'" % contract)


def invariant_ok(c, url=None):
    v = q(c, "SELECT string_agg(problem || ': ' || detail, '; ') FROM ledger_invariant_violations()", url=url)
    assert not v, v
    return True


def local_today(c):
    return datetime.date.fromisoformat(q(c, "SELECT (now() AT TIME ZONE '%s')::date" % TZ))


# ---- the charge run ---------------------------------------------------------------------------------


@test
def test_a_month_of_charges_adds_up_to_the_fee_exactly(c):
    fees_ = [60000, 62000, 45000, 99999, 1, 0, 123456]
    accs = {account(c, f, balance=10 ** 7): f for f in fees_}
    out = charge(c, "--date", "2026-10-01", "--through", "2026-10-31")
    assert out.count("2026-10-") == 31, out
    out = charge(c, "--date", "2026-02-01", "--through", "2026-02-28")       # 28 days
    for contract, fee in accs.items():
        f = fees(c, contract)
        oct_ = [v for d, v in f.items() if d.startswith("2026-10")]
        feb = [v for d, v in f.items() if d.startswith("2026-02")]
        assert sum(oct_) == fee and sum(feb) == fee, (fee, sum(oct_), sum(feb))
        assert len(oct_) == (31 if fee >= 31 else fee) and max(oct_ or [0]) - min(oct_ or [0]) <= 1, oct_
        assert balance(c, contract) == 10 ** 7 - 2 * fee
    # the rule: 60000 over 31 days = 1935 a day, one kopeck more on the first 15
    f = fees(c, [k for k, v in accs.items() if v == 60000][0])
    assert f["2026-10-15"] == 1936 and f["2026-10-16"] == 1935, f
    assert q(c, "SELECT daily_fee(60000, '2026-10-15'), daily_fee(60000, '2026-10-16')") == "1936|1935"
    assert invariant_ok(c)


@test
def test_running_twice_or_twice_at_once_charges_each_day_once(c):
    url = c.pg.create_db("charge_twice")
    rc, out, err = gatewayd(["migrate"], url)
    assert rc == 0, err
    q(c, "INSERT INTO accounts (contract, holder_name, balance, monthly_fee)"
         " SELECT (880000000 + g)::text, 'A' || g, 1000000, 30000 + g FROM generate_series(1, 6000) g", url=url)
    results = []

    def run(*jobs):
        results.append(charge(c, "--date", "2026-11-01", "--through", "2026-11-05", *jobs, url=url))

    ts = [threading.Thread(target=run), threading.Thread(target=run, args=("--jobs", "3"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    again = charge(c, "--date", "2026-11-01", "--through", "2026-11-05", url=url)
    rows = q(c, "SELECT count(*), count(DISTINCT (account_id, fee_day)), sum(-amount) FROM ledger WHERE kind = 'fee'",
             url=url).split("|")
    expected = int(q(c, "SELECT sum(daily_fee(monthly_fee, d::date)) FROM accounts,"
                        " generate_series('2026-11-01'::date, '2026-11-05', '1 day') d", url=url))
    assert rows[0] == rows[1] == str(6000 * 5) and int(rows[2]) == expected, (rows, expected)
    # the second run (at once, or after) charged nothing the first had
    charged = [sum(int(line.split(" accounts")[0].split(": ")[1]) for line in r.splitlines() if "accounts charged" in line)
               for r in results + [again]]
    assert sum(charged) == 6000 * 5 and charged[2] == 0, charged
    assert invariant_ok(c, url)


@test
def test_missed_days_are_caught_up_and_future_days_refused(c):
    url = c.pg.create_db("charge_missed")
    rc, out, err = gatewayd(["migrate"], url)
    assert rc == 0, err
    contract = account(c, 30000, balance=100000, url=url)
    today = local_today(c)
    first = today - datetime.timedelta(days=4)
    charge(c, "--date", first.isoformat(), url=url)
    out = charge(c, url=url)                     # no options: the days after the last run, through yesterday
    days = sorted(fees(c, contract, url=url))
    want = [(first + datetime.timedelta(days=i)).isoformat() for i in range(4)]
    assert days == want, (days, want, out)
    out = charge(c, url=url)
    assert "nothing to charge" in out, out
    out = charge(c, "--date", today.isoformat(), url=url)     # today is not over
    assert "nothing to charge" in out and today.isoformat() not in fees(c, contract, url=url)
    rc, out, err = gatewayd(["charge", "--date", "2026-13-01"], url)
    assert rc == 2 and "YYYY-MM-DD" in err, (rc, err)


@test
def test_a_tariff_change_applies_from_the_next_day(c):
    contract = account(c, 30000, balance=10 ** 6)
    # the history of a change made on 15 September: from the 16th the new fee
    # (written as the change of that day would have left it: the superuser, with the guard off)
    q(c, "SET session_replication_role = replica;"
         " UPDATE accounts SET monthly_fee = 60000, fee_from = '2026-09-16' WHERE contract = '%s';"
         " INSERT INTO account_fees (account_id, valid_from, monthly_fee) SELECT id, '2026-09-16', 60000"
         " FROM accounts WHERE contract = '%s'" % (contract, contract), superuser=True)
    charge(c, "--date", "2026-09-01", "--through", "2026-09-30")
    f = fees(c, contract)
    assert all(f["2026-09-%02d" % d] == 1000 for d in range(1, 16)), f
    assert all(f["2026-09-%02d" % d] == 2000 for d in range(16, 31)), f
    # a change through the internal API today is recorded for tomorrow
    st, h, d = c.gw.json("POST", "/v1/internal/accounts", {"contract": contract, "monthly_fee": "900.00"}, AUTH)
    assert st == 200, d
    tomorrow = (local_today(c) + datetime.timedelta(days=1)).isoformat()
    row = q(c, "SELECT to_char(valid_from, 'YYYY-MM-DD'), f.monthly_fee FROM account_fees f JOIN accounts a"
               " ON a.id = f.account_id WHERE a.contract = '%s' ORDER BY valid_from DESC LIMIT 1" % contract)
    assert row == "%s|90000" % tomorrow, row
    # a day before the change is still charged at the old fee
    yesterday = (local_today(c) - datetime.timedelta(days=1)).isoformat()
    charge(c, "--date", yesterday)
    assert fees(c, contract)[yesterday] == int(q(c, "SELECT daily_fee(60000, '%s')" % yesterday))
    assert invariant_ok(c)


# ---- suspension and return ---------------------------------------------------------------------------


def suspended_by_charge(c, fee=60000, balance_=1000):
    contract = account(c, fee, balance=balance_)
    day = (local_today(c) - datetime.timedelta(days=1)).isoformat()
    out = charge(c, "--date", day, env={"GATEWAY_SUSPEND_BELOW": "0"})
    assert status(c, contract) == "suspended", out
    assert q(c, "SELECT cause FROM account_status_changes s JOIN accounts a ON a.id = s.account_id"
                " WHERE a.contract = '%s' ORDER BY s.id DESC LIMIT 1" % contract) == "charge_run"
    return contract


def last_cause(c, contract):
    return q(c, "SELECT new_status || ':' || cause FROM account_status_changes s JOIN accounts a ON a.id = s.account_id"
                " WHERE a.contract = '%s' ORDER BY s.id DESC LIMIT 1" % contract)


def pay_web(c, contract, amount):
    body = {"account": {"contract": contract}, "amount": amount, "method": "card", "email": "p@example.com",
            "return_url": "http://127.0.0.1/pay/result"}
    c.n += 1
    st, h, d = c.gw.json("POST", "/v1/payments", body, {"Idempotency-Key": "bal-%d-%d" % (os.getpid(), c.n)})
    assert st == 201, d
    u = urllib.parse.urlsplit(d["confirmation_url"])
    form = dict(urllib.parse.parse_qsl(u.query))
    form.update({"card": "4111 1111 1111 1111", "exp": "12/39", "cvc": "123", "action": "pay"})
    c.gw.request("POST", "/sandbox/pay", urllib.parse.urlencode(form).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert q(c, "SELECT status FROM payments WHERE id = '%s'" % d["id"]) == "succeeded"


def pay_partner(c, contract, amount):
    c.n += 1
    body = json.dumps({"txn_id": "bal-%d-%d" % (os.getpid(), c.n), "contract": contract, "amount": amount}).encode()
    ts = str(int(time.time()))
    sig = hmac.new(c.shop["hmac_secret"].encode(), ("POST\n/v1/partner/payments\n%s\n" % ts).encode() + body,
                   hashlib.sha256).hexdigest()
    st, h, d = c.gw.request("POST", "/v1/partner/payments", body, {"Content-Type": "application/json",
                                                                    "X-Partner-Login": "shop", "X-Timestamp": ts,
                                                                    "X-Signature": sig})
    assert st == 201, (st, d)


@test
def test_suspended_below_the_threshold_and_back_after_a_top_up_through_every_channel(c):
    ways = {
        "osmp": lambda contract: c.term.pay(contract, "100.00")["result"] == 0,
        "sber-online": lambda contract: c.bank.payment(contract, "100.00")["CODE"] == 0,
        "partner-json": lambda contract: pay_partner(c, contract, "100.00") is None,
        "web": lambda contract: pay_web(c, contract, "100.00") is None,
    }
    for name, pay in ways.items():
        contract = suspended_by_charge(c)
        st, h, d = c.gw.json("GET", "/v1/accounts/lookup?contract=" + contract)
        assert d["status"] == "suspended" and d["payable"] is True, d         # still payable
        assert pay(contract), name
        assert status(c, contract) == "active", (name, balance(c, contract))
        assert last_cause(c, contract) == "active:payment", name
    # a top-up that leaves the balance below the threshold keeps it suspended
    contract = suspended_by_charge(c, balance_=0)
    c.term.pay(contract, "1.00")
    assert status(c, contract) == "suspended"
    c.term.pay(contract, "100.00")
    assert status(c, contract) == "active"
    assert invariant_ok(c)


@test
def test_an_account_the_operator_suspended_stays_suspended(c):
    contract = account(c, 60000, balance=-5000, status="suspended")
    c.term.pay(contract, "1000.00")
    assert status(c, contract) == "suspended" and balance(c, contract) == 95000
    # the operator suspends one the charge run had suspended: the top-up no longer lifts it
    contract = suspended_by_charge(c)
    st, h, d = c.gw.json("POST", "/v1/internal/accounts", {"contract": contract, "status": "active"}, AUTH)
    st, h, d = c.gw.json("POST", "/v1/internal/accounts", {"contract": contract, "status": "suspended"}, AUTH)
    assert st == 200 and last_cause(c, contract) == "suspended:operator", d
    c.term.pay(contract, "1000.00")
    assert status(c, contract) == "suspended"
    # with GATEWAY_SUSPEND_BELOW empty the run suspends nobody
    contract = account(c, 60000, balance=0)
    charge(c, "--date", "2026-08-01", env={"GATEWAY_SUSPEND_BELOW": ""})
    assert status(c, contract) == "active" and balance(c, contract) < 0


# ---- charges from the operator's billing -----------------------------------------------------------


@test
def test_a_billing_charge_is_booked_once_by_its_id(c):
    contract = account(c, 0, balance=50000)
    body = {"charge_id": "bill-2026-12-%d" % os.getpid(), "contract": contract, "amount": "120.50",
            "description": "Аренда роутера за ноябрь"}
    st, h, d = c.gw.json("POST", "/v1/internal/charges", body, AUTH)
    assert st == 201 and d["balance_after"] == "379.50" and d["amount"] == "120.50", d
    st, h, d2 = c.gw.json("POST", "/v1/internal/charges", body, AUTH)
    assert st == 200 and h.get("idempotent-replayed") == "true" and d2 == d, (st, h, d2)
    st, h, d = c.gw.json("POST", "/v1/internal/charges", dict(body, amount="1.00"), AUTH)
    assert st == 409 and error_of(d)[0] == "charge_id_conflict", d
    assert balance(c, contract) == 37950
    st, h, d = c.gw.json("POST", "/v1/internal/charges", dict(body, charge_id="x-1", contract="999999999"), AUTH)
    assert st == 404 and error_of(d)[0] == "account_not_found", d
    for bad, code in [({"amount": "-1.00"}, "invalid_amount"), ({"amount": 5}, "invalid_amount"),
                      ({"charge_id": "a b"}, "invalid_charge_id"), ({"contract": "12x"}, "invalid_contract"),
                      ({"description": ""}, "invalid_description"), ({"extra": 1}, "unknown_field")]:
        st, h, d = c.gw.json("POST", "/v1/internal/charges", {**body, "charge_id": "bad-1", **bad}, AUTH)
        assert st == 400 and error_of(d)[0] == code, (bad, st, d)
    st, h, d = c.gw.json("POST", "/v1/internal/charges", body, {"Authorization": "Bearer nope"})
    assert st == 401, d
    assert invariant_ok(c)


# ---- the statement ----------------------------------------------------------------------------------


def spread(c, contract, days):
    """Spreads the account's ledger lines over the last `days` days in booking order (test only: the
    superuser rewrites created_at with the append-only trigger off)."""
    q(c, """SET session_replication_role = replica;
            WITH l AS (SELECT l.id, row_number() OVER (ORDER BY l.id) AS n, count(*) OVER () AS t
                         FROM ledger l JOIN accounts a ON a.id = l.account_id WHERE a.contract = '%s')
            UPDATE ledger x SET created_at = now() - interval '%d days' + (l.n::float / l.t) * interval '%d days'
              FROM l WHERE x.id = l.id""" % (contract, days, days - 1), superuser=True)


def statement(c, contract, frm, to, **kw):
    qs = urllib.parse.urlencode(dict(kw, **{"from": frm, "to": to}))
    return c.gw.request("GET", "/v1/internal/accounts/%s/statement?%s" % (contract, qs), headers=AUTH)


def all_pages(c, contract, frm, to, limit):
    lines, cursor, first = [], None, None
    while True:
        kw = {"limit": limit}
        if cursor:
            kw["cursor"] = cursor
        st, h, body = statement(c, contract, frm, to, **kw)
        assert st == 200, body
        d = json.loads(body)
        first = first or d
        assert (d["opening_balance"], d["closing_balance"]) == (first["opening_balance"], first["closing_balance"])
        lines += d["lines"]
        cursor = d["next_cursor"]
        if not cursor:
            return first, lines


def kop(s):
    r, _, k = s.lstrip("-").partition(".")
    v = int(r) * 100 + int(k)
    return -v if s.startswith("-") else v


@test
def test_statement_totals_hold_on_random_histories(c):
    rnd = random.Random(20261205)
    for h in range(3):
        contract = account(c, 30000 + rnd.randrange(40000), balance=rnd.randrange(-50000, 50000))
        for i in range(rnd.randrange(15, 40)):
            op = rnd.random()
            if op < 0.5:
                c.term.pay(contract, "%d.%02d" % (rnd.randrange(1, 900), rnd.randrange(100)))
            elif op < 0.7:
                c.n += 1
                c.gw.json("POST", "/v1/internal/charges", {"charge_id": "rh-%d-%d" % (os.getpid(), c.n),
                                                           "contract": contract, "amount": "%d.00" % rnd.randrange(1, 300),
                                                           "description": "Услуга %d" % i}, AUTH)
            elif op < 0.85:
                q(c, "SELECT adjust_balance('%s', %d, 'тест')" % (contract, rnd.choice([-1, 1]) * rnd.randrange(1, 9999)))
            else:
                charge(c, "--date", "2025-%02d-%02d" % (rnd.randrange(1, 13), rnd.randrange(1, 29)))
        spread(c, contract, 40)
        today = local_today(c)
        truth = q(c, "SELECT string_agg(l.amount::text, ',' ORDER BY l.id) FROM ledger l JOIN accounts a"
                     " ON a.id = l.account_id WHERE a.contract = '%s'" % contract).split(",")
        for _ in range(6):
            a = today - datetime.timedelta(days=rnd.randrange(0, 45))
            b = a + datetime.timedelta(days=rnd.randrange(0, 20))
            first, lines = all_pages(c, contract, a.isoformat(), b.isoformat(), rnd.choice([1, 3, 7, 100]))
            opening, closing = kop(first["opening_balance"]), kop(first["closing_balance"])
            assert closing == opening + sum(kop(l["amount"]) for l in lines), (contract, a, b)
            run = opening
            for l in lines:
                run += kop(l["amount"])
                assert kop(l["balance_after"]) == run, l
            ids = [l["id"] for l in lines]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # the whole history: every line once, the truth of the ledger
        first, lines = all_pages(c, contract, (today - datetime.timedelta(days=60)).isoformat(), today.isoformat(), 500)
        assert [str(kop(l["amount"])) for l in lines] == truth
        assert kop(first["closing_balance"]) == balance(c, contract)


@test
def test_statement_lines_say_what_happened_and_link_the_receipt(c):
    contract = account(c, 31000, balance=0)
    c.term.pay(contract, "500.00")
    charge(c, "--date", (local_today(c) - datetime.timedelta(days=1)).isoformat())
    today = local_today(c).isoformat()
    st, h, body = statement(c, contract, today, today)
    d = json.loads(body)
    kinds = [l["kind"] for l in d["lines"]]
    assert kinds == ["payment", "fee"], d
    pay, fee = d["lines"]
    assert pay["payment"]["receipt_url"].startswith("http://127.0.0.1:%d/v1/receipts/" % c.gw.port), pay
    assert "Наличные" in pay["description"] or "платёж №" in pay["description"], pay
    assert fee["description"].startswith("Абонентская плата за ") and fee["amount"] == "-10.00", fee
    st, h, body = statement(c, contract, today, "2020-01-01")
    assert st == 400 and error_of(json.loads(body))[0] == "invalid_period"
    st, h, body = statement(c, "999999999", today, today)
    assert st == 404
    st, h, body = c.gw.request("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s" % (contract, today, today))
    assert st == 401


@test
def test_statement_csv_opens_in_excel_and_the_page_prints_in_chromium(c):
    contract = account(c, 31000, balance=12345)
    c.term.pay(contract, "1234.56")
    charge(c, "--date", (local_today(c) - datetime.timedelta(days=1)).isoformat())
    today = local_today(c).isoformat()
    st, h, body = c.gw.request("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s" % (contract, today, today),
                               headers=dict(AUTH, Accept="text/csv"))
    assert st == 200 and h["content-type"].startswith("text/csv"), h
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]                 # Excel reads UTF-8 with the BOM
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    assert rows[0] == ["Детализация по договору", contract] and rows[2] == ["Входящий остаток, руб.", "123,45"], rows
    table = rows[rows.index(["Дата и время", "Операция", "Сумма, руб.", "Остаток, руб.", "Номер платежа",
                             "Квитанция"]) + 1:]
    amounts = [r[2] for r in table if len(r) == 6]
    assert amounts == ["1234,56", "-10,00"], table
    assert rows[-1] == ["Исходящий остаток, руб.", "1348,01"], rows[-1]
    if not CHROMIUM:
        raise AssertionError("chromium is missing (deploy/dev/deps.sh installs it)")
    # the printable page, as a browser renders it (the admin token goes as a header: a local proxy
    # page would be a second server; the page's own text is what matters)
    st, h, page = c.gw.request("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s&format=html"
                               % (contract, today, today), headers=AUTH)
    assert st == 200 and h["content-type"].startswith("text/html"), h
    path = os.path.join(c.dir, "statement.html")
    with open(path, "wb") as f:
        f.write(page)
    prof = tempfile.mkdtemp(prefix="chromium-", dir=c.dir)
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + prof,
                          "--dump-dom", "file://" + path], capture_output=True, text=True, timeout=120).stdout
    dom = dom.replace("&nbsp;", "\u00a0")
    for want in ("Детализация по договору " + contract, "Входящий остаток", "123,45\u00a0₽", "1\u00a0234,56\u00a0₽",
                 "Абонентская плата за", "-10,00\u00a0₽", "Исходящий остаток",
                 "1\u00a0348,01\u00a0₽"):
        assert want in dom, (want, dom[:3000])


# ---- the lookup -----------------------------------------------------------------------------------


@test
def test_lookup_days_left_and_paid_until_follow_the_charges(c):
    for fee, bal in [(60000, 15000), (31000, 1000), (45000, 0), (99999, 250000), (0, 100)]:
        contract = account(c, fee, balance=bal)
        st, h, d = c.gw.json("GET", "/v1/accounts/lookup?contract=" + contract)
        assert st == 200, d
        if fee == 0:
            assert d["days_left"] is None and d["paid_until"] is None, d
            continue
        today = local_today(c)
        n = d["days_left"]
        assert d["paid_until"] == (today + datetime.timedelta(days=n)).isoformat(), d
        # the shares the charge run will book for today .. today + n - 1 fit; one more day does not
        paid = int(q(c, "SELECT coalesce(sum(daily_fee(%d, d::date)), 0) FROM generate_series('%s'::date, '%s'::date - 1,"
                        " '1 day') d" % (fee, today, today + datetime.timedelta(days=n))))
        nxt = int(q(c, "SELECT daily_fee(%d, '%s')" % (fee, today + datetime.timedelta(days=n))))
        assert paid <= bal < paid + nxt, (fee, bal, n, paid, nxt)


if __name__ == "__main__":
    suite.run(setup, teardown)
