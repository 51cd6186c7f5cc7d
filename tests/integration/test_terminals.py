"""Terminal networks, Sberbank Online and partner retailers: partner management, OSMP and Sber
Online (driven by the emulators in tests/emulators), the signed partner JSON API, exactly-once
booking under retries, timeouts, concurrency and a database outage, daily registries and
reconciliation — against a real PostgreSQL and gatewayd."""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

from harness import partner_creds as creds, ROOT, Gateway, Postgres, Suite, error_of, gatewayd, record_exchange, PSQL

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
import osmp_terminal  # noqa: E402
import sber_online  # noqa: E402


class OsmpTerminal(osmp_terminal.OsmpTerminal):
    """The emulator, with every answer also recorded for the contract test."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.observer = record_exchange


class SberOnline(sber_online.SberOnline):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.observer = record_exchange

suite = Suite()
test = suite.test

ACTIVE, SUSPENDED, CLOSED = "100000001", "100000002", "100000003"
SHARED_A, SHARED_B, BURST, SOLO, ODD_NAME = "100000004", "100000005", "100000006", "100000007", "100000008"
FAILING_SUM = "13.13"     # a test trigger makes the database refuse payments of this amount
TRANSIENT_SUM = "14.14"   # ... and answer "serialization failure" (retry) to this one


class Ctx:
    pass


def add_partner(c, name, protocol, *args):
    rc, out, err = gatewayd(["partner", "add", name, "--protocol", protocol] + list(args), c.url)
    assert rc == 0, (rc, out, err)
    return creds(out)


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = c.pg.url
    rc, out, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    c.pg.psql("""
        INSERT INTO accounts (contract, phone, holder_name, status, balance, monthly_fee) VALUES
          ('100000001', '+79130000001', 'Иванов Иван Иванович', 'active', 10000, 60000),
          ('100000002', '+79130000002', 'Петров Пётр', 'suspended', 0, 60000),
          ('100000003', NULL, 'Сидоров Сидор', 'closed', 0, 0),
          ('100000004', '+79130000005', 'Семья Первая', 'active', 0, 50000),
          ('100000005', '+79130000005', 'Семья Вторая', 'active', 0, 50000),
          ('100000006', '+79130000006', 'Пачка Платежей', 'active', 0, 50000),
          ('100000007', '+79130000007', 'Один Телефон', 'active', -5000, 0),
          ('100000008', NULL, 'O''Brien <Tag> & Co', 'active', 0, 0)""")
    c.pg.psql("""
        CREATE FUNCTION test_refuse_payment() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.amount = 1414 THEN
            RAISE EXCEPTION 'test trigger: could not serialize' USING ERRCODE = 'serialization_failure';
          END IF;
          RAISE EXCEPTION 'test trigger refuses this payment' USING ERRCODE = 'check_violation';
        END $$;
        CREATE TRIGGER test_refuse_payment BEFORE INSERT ON payments
          FOR EACH ROW WHEN (NEW.amount IN (1313, 1414)) EXECUTE FUNCTION test_refuse_payment();""")
    c.qiwi = add_partner(c, "qiwi", "osmp", "--cidr", "127.0.0.0/8", "--cidr", "::1/128")
    c.sber = add_partner(c, "sber", "sber-online", "--cidr", "127.0.0.1", "--min", "10.00", "--max", "5000.00")
    c.shop = add_partner(c, "shop", "json", "--min", "1.00", "--max", "5000.00")
    c.far = add_partner(c, "far-osmp", "osmp", "--cidr", "10.0.0.0/8")
    c.far_json = add_partner(c, "far-json", "json", "--cidr", "192.0.2.0/24")
    c.off = add_partner(c, "off-osmp", "osmp")
    c.gw = Gateway(c.url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=4, GATEWAY_DB_TIMEOUT_MS=2000).start()
    base = "http://127.0.0.1:%d" % c.gw.port
    c.osmp_url, c.sber_url = base + "/v1/osmp", base + "/v1/sber-online"
    c.term = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], retries=0)
    c.bank = SberOnline(c.sber_url, "sber", c.sber["password"], retries=0)
    return c


def teardown(c):
    if c:
        if getattr(c, "gw", None):
            c.gw.stop()
        c.pg.destroy()


def sql(c, q):
    return c.pg.psql(q)


def balance(c, contract):
    return int(sql(c, "SELECT balance FROM accounts WHERE contract = '%s'" % contract))


def metric(c, name, labels):
    text = c.gw.request("GET", "/metrics")[2].decode()
    line = "%s{%s} " % (name, labels)
    for l in text.splitlines():
        if l.startswith(line):
            return int(l.split()[-1])
    raise AssertionError("no metric %s%s" % (name, labels))


def refused(c, reason):
    return metric(c, "gateway_partner_auth_refused_total", 'reason="%s"' % reason)


def sign(secret, method, target, ts, body=b""):
    msg = ("%s\n%s\n%s\n" % (method, target, ts)).encode() + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def partner_call(c, method, target, body=None, login="shop", secret=None, ts=None, sig=None):
    secret = secret if secret is not None else c.shop["hmac_secret"]
    raw = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    ts = str(int(time.time())) if ts is None else str(ts)
    headers = {"X-Partner-Login": login, "X-Timestamp": ts,
               "X-Signature": sig or sign(secret, method, target, ts, raw)}
    if method == "POST":
        headers["Content-Type"] = "application/json"
    st, h, data = c.gw.request(method, target, raw if method == "POST" else None, headers)
    return st, h, data


def partner_json(c, method, target, body=None, **kw):
    st, h, data = partner_call(c, method, target, body, **kw)
    return st, h, json.loads(data) if data else None


def payments_of(c, adapter, txn):
    return int(sql(c, "SELECT count(*) FROM payments WHERE adapter = '%s' AND provider_txn_id = '%s'" % (adapter, txn)))


def today(c):
    return sql(c, "SELECT to_char(now() AT TIME ZONE 'Europe/Moscow', 'YYYY-MM-DD')")


# ---- partner management -------------------------------------------------------------------------

@test
def test_partner_add_prints_credentials_once_and_stores_only_a_hash(c):
    pw = c.qiwi["password"]
    assert len(pw) >= 32 and c.qiwi["login"] == "qiwi"
    stored = sql(c, "SELECT password_hash FROM partners WHERE name = 'qiwi'")
    assert stored.startswith("pbkdf2-sha256$10000$") and pw not in stored, stored
    assert sql(c, "SELECT hmac_secret IS NULL FROM partners WHERE name = 'qiwi'") == "t"
    assert len(c.shop["hmac_secret"]) == 64 and "password" not in c.shop
    assert sql(c, "SELECT cidrs::text FROM partners WHERE name = 'qiwi'") == "{127.0.0.0/8,::1/128}"
    assert sql(c, "SELECT min_amount || '/' || max_amount FROM partners WHERE name = 'sber'") == "1000/500000"
    rc, out, err = gatewayd(["partner", "list"], c.url)
    assert rc == 0 and "qiwi" in out and "sber-online" in out and "127.0.0.0/8" in out, out
    for secret in (pw, c.sber["password"], c.shop["hmac_secret"]):
        assert secret not in out


@test
def test_partner_add_rejects_bad_input(c):
    for args, needle in [(["partner", "add", "qiwi", "--protocol", "osmp"], "already exists"),
                         (["partner", "add", "x1", "--protocol", "ftp"], "--protocol"),
                         (["partner", "add", "x2", "--protocol", "osmp", "--cidr", "10.0.0.1/8"], "bits set"),
                         (["partner", "add", "x3", "--protocol", "osmp", "--cidr", "nonsense"], "not an IPv4"),
                         (["partner", "add", "x4", "--protocol", "osmp", "--min", "10", "--max", "5"], "--min"),
                         (["partner", "add", "Bad Name", "--protocol", "osmp"], "NAME"),
                         (["partner", "disable", "nobody"], "no partner")]:
        rc, out, err = gatewayd(args, c.url)
        assert rc != 0 and needle in err, (args, rc, out, err)
    assert sql(c, "SELECT count(*) FROM partners WHERE name LIKE 'x%'") == "0"
    rc, out, err = gatewayd(["partner", "list"], c.url, {"GATEWAY_PARTNER_TZ": "Mars/Olympus_Mons"})
    assert rc == 2 and "GATEWAY_PARTNER_TZ" in err and len(err.strip().splitlines()) == 1, (rc, err)


# ---- OSMP --------------------------------------------------------------------------------------

@test
def test_osmp_check_active_account_is_0_with_masked_holder(c):
    r = c.term.check(ACTIVE)
    assert r["http_status"] == 200 and r["result"] == 0 and "prv_txn" not in r, r
    assert r["fields"]["fio"] == "И****в И**н И******ч", r
    assert r["fields"]["rec_sum"] == "500.00", r      # fee 600.00 - balance 100.00
    assert "Иванов" not in r["raw"].decode()


@test
def test_osmp_wrong_account_format_is_4(c):
    for acc in ["12ab5", "123", "1234567890123", "", "１２３４５"]:
        assert c.term.check(acc)["result"] == 4, acc
        assert c.term.pay(acc, "10.00")["result"] == 4, acc


@test
def test_osmp_unknown_account_is_5(c):
    assert c.term.check("999999999")["result"] == 5
    txn = c.term.next_txn_id()
    assert c.term.pay("999999999", "10.00", txn_id=txn)["result"] == 5
    assert payments_of(c, "osmp", txn) == 0


@test
def test_osmp_closed_account_is_79_and_a_suspended_one_is_payable(c):
    assert c.term.check(CLOSED)["result"] == 79
    assert c.term.pay(CLOSED, "10.00")["result"] == 79
    assert sql(c, "SELECT count(*) FROM payments p JOIN accounts a ON a.id = p.account_id "
                  "WHERE a.contract = '%s'" % CLOSED) == "0"
    # a suspended subscriber tops up to come back (the operator's suspension stays: its status is theirs)
    assert c.term.check(SUSPENDED)["result"] == 0
    assert c.term.pay(SUSPENDED, "10.00")["result"] == 0
    assert sql(c, "SELECT status FROM accounts WHERE contract = '%s'" % SUSPENDED) == "suspended"


@test
def test_osmp_sum_limits_are_241_and_242(c):
    assert c.term.check(ACTIVE, "0.00")["result"] == 0          # a bare check
    r = c.term.request({"command": "check", "account": ACTIVE}, retry=False)
    assert r["result"] == 0 and r["osmp_txn_id"] == "0", r     # without txn_id and sum
    assert c.term.check(ACTIVE, "0.99")["result"] == 241
    assert c.term.check(ACTIVE, "15000.01")["result"] == 242
    assert c.term.pay(ACTIVE, "0.00")["result"] == 241
    assert c.term.pay(ACTIVE, "0.99")["result"] == 241
    assert c.term.pay(ACTIVE, "15000.01")["result"] == 242
    r = c.term.pay(ACTIVE, "15000.00")
    assert r["result"] == 0 and r["sum"] == "15000.00", r


@test
def test_osmp_malformed_requests_are_300(c):
    t = c.term
    cases = [
        {"command": "refund", "txn_id": "1", "account": ACTIVE, "sum": "1.00"},
        {"txn_id": "1", "account": ACTIVE, "sum": "1.00"},
        {"command": "pay", "txn_id": "12x", "account": ACTIVE, "sum": "1.00"},
        {"command": "pay", "txn_id": "1" * 21, "account": ACTIVE, "sum": "1.00"},
        {"command": "pay", "txn_id": "0", "account": ACTIVE, "sum": "1.00"},
        {"command": "pay", "account": ACTIVE, "sum": "1.00"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "1.005"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "-1.00"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "1e3"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "1.00", "txn_date": "20241301000000"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "1.00", "txn_date": "20230229120000"},
        {"command": "pay", "txn_id": "5", "account": ACTIVE, "sum": "1.00", "txn_date": "2024-01-01"},
    ]
    for p in cases:
        r = t.request(p, retry=False)
        assert r["result"] == 300 and r["comment"], (p, r)
    # a parameter given twice is ambiguous
    st, h, body = c.gw.request("GET", "/v1/osmp?command=pay&txn_id=6&account=%s&sum=1.00&sum=1000.00" % ACTIVE,
                               headers={"Authorization": t.auth})
    assert OsmpTerminal.parse(st, h["content-type"], body)["result"] == 300
    assert payments_of(c, "osmp", "5") == 0 and payments_of(c, "osmp", "6") == 0


@test
def test_osmp_unknown_parameters_are_ignored_and_post_form_works(c):
    r = c.term.pay(ACTIVE, "11.00", trm_id="T-1", pay_type="1", prv_id="77", data1="x")
    assert r["result"] == 0 and r["prv_txn"].isdigit(), r
    post = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], retries=0, post=True)
    r2 = post.pay(ACTIVE, "12.00")
    assert r2["result"] == 0 and int(r2["prv_txn"]) > int(r["prv_txn"]), r2


@test
def test_osmp_pay_twice_same_txn_books_once_with_same_prv_txn(c):
    before = balance(c, ACTIVE)
    txn = c.term.next_txn_id()
    r1 = c.term.pay(ACTIVE, "200.00", txn_id=txn, txn_date="20240815120133")
    r2 = c.term.pay(ACTIVE, "200.00", txn_id=txn, txn_date="20240815120133")
    r3 = c.term.pay(ACTIVE, "200.00", txn_id="000" + txn)             # leading zeros: the same number
    assert r1["result"] == r2["result"] == r3["result"] == 0, (r1, r2, r3)
    assert r1["prv_txn"] == r2["prv_txn"] == r3["prv_txn"], (r1, r2, r3)
    assert r1["osmp_txn_id"] == txn and r1["sum"] == "200.00"
    assert payments_of(c, "osmp", txn) == 1
    assert balance(c, ACTIVE) == before + 20000
    row = sql(c, "SELECT number, channel, to_char(provider_time AT TIME ZONE 'Europe/Moscow', "
                 "'YYYYMMDDHH24MISS'), (SELECT count(*) FROM receipts r WHERE r.payment_id = p.id) "
                 "FROM payments p WHERE adapter = 'osmp' AND provider_txn_id = '%s'" % txn)
    assert row == "%s|terminal|20240815120133|1" % r1["prv_txn"], row


@test
def test_osmp_same_txn_other_account_or_sum_is_300(c):
    txn = c.term.next_txn_id()
    assert c.term.pay(ACTIVE, "50.00", txn_id=txn)["result"] == 0
    before = balance(c, ACTIVE), balance(c, SOLO)
    assert c.term.pay(ACTIVE, "51.00", txn_id=txn)["result"] == 300
    assert c.term.pay(SOLO, "50.00", txn_id=txn)["result"] == 300
    assert payments_of(c, "osmp", txn) == 1
    assert (balance(c, ACTIVE), balance(c, SOLO)) == before


@test
def test_osmp_xml_is_escaped(c):
    r = c.term.check(ODD_NAME, **{"data1": "<x>&"})
    assert r["result"] == 0 and r["fields"]["fio"] == "O*****n <***> & Co", r
    raw = r["raw"].decode()
    assert "&lt;***&gt; &amp; Co" in raw and "<x>" not in raw, raw
    r = c.term.request({"command": "check", "txn_id": "<b>&</b>", "account": ACTIVE}, retry=False)
    assert r["result"] == 300 and r["osmp_txn_id"] == "<b>&</b>", r


@test
def test_osmp_retry_after_timeout_books_once(c):
    """The terminal gives up after 0.5 s while the booking waits on a lock; the gateway still books
    it; the terminal's retries get result 0 with the same prv_txn; one payment."""
    before = balance(c, ACTIVE)
    holder = subprocess.Popen([PSQL, "-X", "-q", "-d", c.url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    holder.stdin.write("BEGIN; SELECT 1 FROM accounts WHERE contract = '%s' FOR UPDATE; SELECT pg_sleep(2); COMMIT;\n"
                       % ACTIVE)
    holder.stdin.flush()
    time.sleep(0.3)
    t = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], timeout=0.5, retries=10, retry_delay=0.3)
    txn = t.next_txn_id()
    try:
        r = t.pay(ACTIVE, "77.00", txn_id=txn)
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert r["result"] == 0 and r["prv_txn"], (r, t.attempts)
    assert t.attempts[0] == "timeout" and t.attempts[-1] == 0, t.attempts
    assert payments_of(c, "osmp", txn) == 1
    assert sql(c, "SELECT number FROM payments WHERE adapter = 'osmp' AND provider_txn_id = '%s'" % txn) == r["prv_txn"]
    assert balance(c, ACTIVE) == before + 7700
    assert t.pay(ACTIVE, "77.00", txn_id=txn)["prv_txn"] == r["prv_txn"]


@test
def test_concurrent_duplicate_pays_book_once(c):
    """200 pay requests over 50 txn ids from 25 threads (each txn sent 4 times at once)."""
    before = balance(c, BURST)
    base = int(time.time() * 1000) % 10**9 * 1000
    txns = [str(base + i) for i in range(50)]
    jobs = [(txn, "%d.%02d" % (10 + i % 7, i % 100)) for i, txn in enumerate(txns)] * 4
    term = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], retries=3)
    t0 = time.time()
    with ThreadPoolExecutor(25) as ex:
        results = list(ex.map(lambda j: (j[0], term.pay(BURST, j[1], txn_id=j[0])), jobs))
    elapsed = time.time() - t0
    prv = {}
    for txn, r in results:
        assert r["result"] == 0, r
        assert prv.setdefault(txn, r["prv_txn"]) == r["prv_txn"], (txn, prv[txn], r)
    assert len(set(prv.values())) == 50
    n = sql(c, "SELECT count(*) || '/' || coalesce(sum(amount), 0) FROM payments "
               "WHERE adapter = 'osmp' AND provider_txn_id IN (%s)" % ",".join("'%s'" % t for t in txns))
    total = sum(int(a.replace(".", "")) for _, a in jobs[:50])
    assert n == "50/%d" % total, n
    assert balance(c, BURST) == before + total
    assert sql(c, "SELECT count(*) FROM ledger_invariant_violations()") == "0"
    print("# burst: 200 pays over 50 txn ids in %.2fs" % elapsed)


# ---- authentication ----------------------------------------------------------------------------

@test
def test_wrong_password_is_refused_and_counted(c):
    n = refused(c, "credentials")
    bad = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"][:-1] + "x", retries=0)
    r = bad.pay(ACTIVE, "10.00")
    assert r["http_status"] == 401 and r["result"] == 8, r
    r = OsmpTerminal(c.osmp_url, "nobody", "secret", retries=0).check(ACTIVE)
    assert r["http_status"] == 401 and r["result"] == 8
    s = SberOnline(c.sber_url, "sber", "wrong", retries=0).check(ACTIVE)
    assert s["http_status"] == 401 and s["CODE"] == 7, s
    assert refused(c, "credentials") == n + 3
    m = refused(c, "missing")
    st, h, body = c.gw.request("GET", "/v1/osmp?command=check&txn_id=0&account=%s" % ACTIVE)
    assert st == 401 and "basic" in h["www-authenticate"].lower()
    assert OsmpTerminal.parse(st, h["content-type"], body)["result"] == 8
    assert refused(c, "missing") == m + 1
    recs = [r for r in c.gw.log_records() if r.get("msg") == "partner request refused"]
    assert any(r.get("reason") == "credentials" and r.get("login") == "qiwi" for r in recs), recs[-3:]


@test
def test_wrong_network_is_refused_and_counted(c):
    # the right credentials from the wrong network: refused exactly like a wrong password (the reason
    # is in the log and the metrics only), so the answer tells nothing about the login
    n = refused(c, "network")
    r = OsmpTerminal(c.osmp_url, "far-osmp", c.far["password"], retries=0).pay(ACTIVE, "10.00", txn_id="5550001")
    w = OsmpTerminal(c.osmp_url, "far-osmp", "wrong-password", retries=0).pay(ACTIVE, "10.00", txn_id="5550001")
    assert r["http_status"] == 401 and r["result"] == 8 and r["raw"] == w["raw"], (r, w)
    body = {"txn_id": "far-1", "contract": ACTIVE, "amount": "10.00"}
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body, login="far-json",
                              secret=c.far_json["hmac_secret"])
    st2, h2, doc2 = partner_json(c, "POST", "/v1/partner/payments", body, login="far-json", secret="x" * 64)
    assert st == st2 == 401 and doc == doc2 and error_of(doc)[0] == "unauthorized", (st, doc, st2, doc2)
    assert refused(c, "network") == n + 2
    assert sql(c, "SELECT count(*) FROM payments p JOIN partners pa ON pa.id = p.partner_id "
                  "WHERE pa.name LIKE 'far-%'") == "0"


@test
def test_partner_of_another_protocol_is_refused(c):
    n = refused(c, "protocol")
    r = OsmpTerminal(c.osmp_url, "sber", c.sber["password"], retries=0).check(ACTIVE)
    assert r["http_status"] == 403 and r["result"] == 8, r
    assert refused(c, "protocol") == n + 1


@test
def test_disabled_partner_is_refused_with_7_and_rotation_replaces_credentials(c):
    t = OsmpTerminal(c.osmp_url, "off-osmp", c.off["password"], retries=0)
    assert t.check(ACTIVE)["result"] == 0
    rc, out, err = gatewayd(["partner", "disable", "off-osmp"], c.url)
    assert rc == 0, err
    time.sleep(2.2)                                   # the per-loop partner cache lives 2 s
    n = refused(c, "disabled")
    r = t.pay(ACTIVE, "10.00")
    assert r["http_status"] == 403 and r["result"] == 7, r
    assert refused(c, "disabled") == n + 1
    rc, out, err = gatewayd(["partner", "enable", "off-osmp"], c.url)
    assert rc == 0, err
    rc, out, err = gatewayd(["partner", "rotate", "off-osmp"], c.url)
    fresh = creds(out)
    assert rc == 0 and fresh["password"] != c.off["password"], (rc, out, err)
    time.sleep(2.2)
    assert t.check(ACTIVE)["http_status"] == 401                       # the old password is gone
    new = OsmpTerminal(c.osmp_url, "off-osmp", fresh["password"], retries=0)
    assert new.pay(ACTIVE, "10.00")["result"] == 0


@test
def test_bad_signature_and_stale_timestamp_are_refused_and_counted(c):
    body = {"txn_id": "sig-1", "contract": ACTIVE, "amount": "10.00"}
    n_sig, n_ts = refused(c, "signature"), refused(c, "timestamp")
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body, secret="0" * 64)
    assert st == 401 and error_of(doc)[0] == "unauthorized", (st, doc)
    # a body changed after signing
    ts = str(int(time.time()))
    good = sign(c.shop["hmac_secret"], "POST", "/v1/partner/payments", ts, json.dumps(body).encode())
    st, h, data = c.gw.request("POST", "/v1/partner/payments",
                               json.dumps(dict(body, amount="1000.00")).encode(),
                               {"Content-Type": "application/json", "X-Partner-Login": "shop", "X-Timestamp": ts,
                                "X-Signature": good})
    assert st == 401, data
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body, ts=int(time.time()) - 301)
    assert st == 401 and error_of(doc)[0] == "stale_timestamp", (st, doc)
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body, ts=int(time.time()) + 400)
    assert st == 401 and error_of(doc)[0] == "stale_timestamp", (st, doc)
    assert refused(c, "signature") == n_sig + 2 and refused(c, "timestamp") == n_ts + 2
    assert payments_of(c, "partner-json", "sig-1") == 0
    st, h, data = c.gw.request("POST", "/v1/partner/payments", json.dumps(body).encode(),
                               {"Content-Type": "application/json"})
    assert st == 401 and error_of(json.loads(data))[0] == "unauthorized"


# ---- Sberbank Online ------------------------------------------------------------------------------

@test
def test_sber_check_is_0_with_fio_balance_and_rec_sum(c):
    r = c.bank.check(ACTIVE)
    assert r["CODE"] == 0 and r["FIO"] == "И****в И**н И******ч", r
    assert re.match(r"^-?\d+\.\d\d$", r["BALANCE"]) and r["REC_SUM"], r
    assert r["INFO"].endswith(ACTIVE) and "ADDRESS" in r
    low = SberOnline(c.sber_url, "sber", c.sber["password"], retries=0, upper=False)
    assert low.check(ACTIVE)["CODE"] == 0                              # names in any case
    assert c.bank.request({"ACTION": "CHECK", "ACCOUNT": ACTIVE}, retry=False)["CODE"] == 0


@test
def test_sber_codes_of_bad_requests(c):
    b = c.bank
    cases = [
        ({"ACTION": "refund", "ACCOUNT": ACTIVE}, 2),
        ({"ACCOUNT": ACTIVE}, 2),
        ({"ACTION": "check", "ACCOUNT": "999999999"}, 3),
        ({"ACTION": "check", "ACCOUNT": "12ab"}, 4),
        ({"ACTION": "check", "ACCOUNT": CLOSED}, 5),
    ]
    for p, code in cases:
        r = b.request(p, retry=False)
        assert r["CODE"] == code and r["MESSAGE"], (p, r)
    pay = lambda **kw: b.payment(**dict({"account": ACTIVE, "amount": "100.00", "retry": False}, **kw))  # noqa: E731
    assert pay(account="999999999")["CODE"] == 3
    assert pay(account="1-2")["CODE"] == 4
    assert pay(account=CLOSED)["CODE"] == 5
    assert pay(pay_id="bad id!")["CODE"] == 6
    assert pay(pay_id="x" * 65)["CODE"] == 6
    assert pay(amount="abc")["CODE"] == 9
    assert pay(amount="0.00")["CODE"] == 9
    assert pay(amount="9.99")["CODE"] == 10
    assert pay(amount="5000.01")["CODE"] == 11
    assert pay(pay_date="31.02.2024_10:00:00")["CODE"] == 12
    assert pay(pay_date="2024-01-01 10:00:00")["CODE"] == 12
    assert sql(c, "SELECT count(*) FROM payments WHERE adapter = 'sber-online'") == "0"


@test
def test_sber_payment_then_duplicate_8_with_original_ext_id(c):
    before = balance(c, ACTIVE)
    r1 = c.bank.payment(ACTIVE, "150.50", pay_id="77001", pay_date="01.05.2024_10:20:30")
    assert r1["CODE"] == 0 and r1["EXT_ID"].isdigit() and r1["AMOUNT"] == "150.50", r1
    assert re.match(r"^\d\d\.\d\d\.\d{4}_\d\d:\d\d:\d\d$", r1["REG_DATE"]), r1
    time.sleep(1.1)
    r2 = c.bank.payment(ACTIVE, "150.50", pay_id="77001", pay_date="01.05.2024_10:20:31")
    assert r2["CODE"] == 8, r2
    assert (r2["EXT_ID"], r2["REG_DATE"], r2["AMOUNT"]) == (r1["EXT_ID"], r1["REG_DATE"], r1["AMOUNT"]), (r1, r2)
    assert payments_of(c, "sber-online", "77001") == 1
    assert balance(c, ACTIVE) == before + 15050
    assert sql(c, "SELECT to_char(provider_time AT TIME ZONE 'Europe/Moscow', 'DD.MM.YYYY_HH24:MI:SS') "
                  "FROM payments WHERE adapter = 'sber-online' AND provider_txn_id = '77001'") == "01.05.2024_10:20:30"
    r3 = c.bank.payment(ACTIVE, "150.00", pay_id="77001", retry=False)
    assert r3["CODE"] == 6, r3
    r4 = c.bank.payment(SOLO, "150.50", pay_id="77001", retry=False)
    assert r4["CODE"] == 6, r4
    assert payments_of(c, "sber-online", "77001") == 1


@test
def test_sber_retry_after_timeout_answers_duplicate(c):
    holder = subprocess.Popen([PSQL, "-X", "-q", "-d", c.url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    holder.stdin.write("BEGIN; SELECT 1 FROM accounts WHERE contract = '%s' FOR UPDATE; SELECT pg_sleep(1.5); COMMIT;\n"
                       % SOLO)
    holder.stdin.flush()
    time.sleep(0.3)
    s = SberOnline(c.sber_url, "sber", c.sber["password"], timeout=0.5, retries=10, retry_delay=0.3)
    try:
        r = s.payment(SOLO, "20.00", pay_id="88001")
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert s.attempts[0] == "timeout" and r["CODE"] in (0, 8) and r["EXT_ID"], (r, s.attempts)
    assert payments_of(c, "sber-online", "88001") == 1


# ---- partner JSON API ------------------------------------------------------------------------------

@test
def test_json_payment_is_idempotent_on_partner_txn_id(c):
    before = balance(c, ACTIVE)
    body = {"txn_id": "S-1001", "contract": ACTIVE, "amount": "300.00"}
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body)
    assert st == 201 and doc["duplicate"] is False and doc["status"] == "succeeded", (st, doc)
    assert doc["amount"] == "300.00" and doc["contract"] == ACTIVE and doc["txn_id"] == "S-1001"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["paid_at"]) and doc["receipt_number"], doc
    st2, h, doc2 = partner_json(c, "POST", "/v1/partner/payments", body)
    assert st2 == 200 and doc2["duplicate"] is True and doc2["payment_id"] == doc["payment_id"], doc2
    assert doc2["number"] == doc["number"] and doc2["paid_at"] == doc["paid_at"]
    st3, h, doc3 = partner_json(c, "POST", "/v1/partner/payments", dict(body, amount="301.00"))
    assert st3 == 409 and error_of(doc3)[0] == "txn_id_conflict", (st3, doc3)
    assert payments_of(c, "partner-json", "S-1001") == 1 and balance(c, ACTIVE) == before + 30000
    assert sql(c, "SELECT channel FROM payments WHERE adapter = 'partner-json' AND provider_txn_id = 'S-1001'") == \
        "partner"
    st, h, got = partner_json(c, "GET", "/v1/partner/payments/S-1001")
    assert st == 200 and got["payment_id"] == doc["payment_id"] and got["amount"] == "300.00", got
    st, h, doc = partner_json(c, "GET", "/v1/partner/payments/S-nope")
    assert st == 404 and error_of(doc)[0] == "payment_not_found"


@test
def test_json_payment_by_phone(c):
    before = balance(c, SOLO)
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments",
                              {"txn_id": "P-1", "phone": "8 (913) 000-00-07", "amount": "25.00",
                               "email": "payer@example.com"})
    assert st == 201 and doc["contract"] == SOLO, (st, doc)
    assert balance(c, SOLO) == before + 2500
    assert sql(c, "SELECT state FROM receipts r JOIN payments p ON p.id = r.payment_id "
                  "WHERE p.provider_txn_id = 'P-1'") in ("pending", "sending", "sent")
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments",
                              {"txn_id": "P-2", "phone": "+79130000005", "amount": "25.00"})
    assert st == 422 and error_of(doc)[0] == "phone_ambiguous", (st, doc)
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments",
                              {"txn_id": "P-3", "phone": "+79139999999", "amount": "25.00"})
    assert st == 404 and error_of(doc)[0] == "account_not_found"
    assert payments_of(c, "partner-json", "P-2") == 0


@test
def test_json_payment_errors(c):
    ok = {"txn_id": "E-1", "contract": ACTIVE, "amount": "10.00"}
    cases = [
        (dict(ok, txn_id="bad id"), 400, "invalid_field"),
        (dict(ok, txn_id=""), 400, "invalid_field"),
        (dict(ok, amount=10), 400, "invalid_field"),
        (dict(ok, amount="10.001"), 400, "invalid_field"),
        (dict(ok, contract="12x"), 400, "invalid_field"),
        (dict(ok, phone="+79130000001"), 400, "invalid_field"),
        ({"txn_id": "E-1", "amount": "10.00"}, 400, "invalid_field"),
        (dict(ok, email="nope"), 400, "invalid_field"),
        (dict(ok, extra="1"), 400, "unknown_field"),
        (dict(ok, amount="0.50"), 422, "amount_too_small"),
        (dict(ok, amount="5000.01"), 422, "amount_too_large"),
        (dict(ok, contract=CLOSED), 422, "account_inactive"),
        (dict(ok, contract="999999999"), 404, "account_not_found"),
    ]
    for body, status, code in cases:
        st, h, doc = partner_json(c, "POST", "/v1/partner/payments", body)
        assert st == status and error_of(doc)[0] == code, (body, st, doc)
    st, h, data = partner_call(c, "POST", "/v1/partner/payments", b"{not json")
    assert st == 400 and error_of(json.loads(data))[0] == "invalid_json"
    assert payments_of(c, "partner-json", "E-1") == 0


# ---- failures of the database ------------------------------------------------------------------------

@test
def test_database_refusal_is_final_technical_error(c):
    r = c.term.pay(ACTIVE, FAILING_SUM)
    assert r["result"] == 8, r
    assert c.bank.payment(ACTIVE, "13.13", retry=False)["CODE"] == 300
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", {"txn_id": "F-1", "contract": ACTIVE,
                                                                  "amount": FAILING_SUM})
    assert st == 500 and error_of(doc)[0] == "internal_error", (st, doc)
    assert sql(c, "SELECT count(*) FROM payments WHERE amount = 1313") == "0"


@test
def test_transient_database_error_is_retryable(c):
    """The partner is known, the booking itself hits a serialization failure: retry codes."""
    assert c.term.check(ACTIVE)["result"] == 0
    r = c.term.pay(ACTIVE, TRANSIENT_SUM)
    assert r["http_status"] == 200 and r["result"] == 1, r
    assert c.bank.payment(ACTIVE, TRANSIENT_SUM, retry=False)["CODE"] == 1
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", {"txn_id": "T-1", "contract": ACTIVE,
                                                                  "amount": TRANSIENT_SUM})
    assert st == 503 and h.get("retry-after") and error_of(doc)[0] == "database_unavailable", (st, doc)
    assert sql(c, "SELECT count(*) FROM payments WHERE amount = 1414") == "0"


@test
def test_database_down_gives_retryable_codes_then_books_once(c):
    t = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], retries=0)
    txn = t.next_txn_id()
    c.pg.stop()
    try:
        r = t.pay(ACTIVE, "40.00", txn_id=txn)
        assert r["http_status"] == 200 and r["result"] == 1, r
        assert t.check(ACTIVE)["result"] == 243
        assert c.bank.payment(ACTIVE, "40.00", pay_id="99001", retry=False)["CODE"] == 1
        st, h, doc = partner_json(c, "POST", "/v1/partner/payments", {"txn_id": "D-1", "contract": ACTIVE,
                                                                      "amount": "40.00"})
        assert st == 503 and h.get("retry-after") and error_of(doc)[0] == "database_unavailable", (st, h, doc)
    finally:
        c.pg.start()
    retrying = OsmpTerminal(c.osmp_url, "qiwi", c.qiwi["password"], retries=40, retry_delay=0.25)
    r = retrying.pay(ACTIVE, "40.00", txn_id=txn)
    assert r["result"] == 0 and r["prv_txn"], (r, retrying.attempts)
    assert payments_of(c, "osmp", txn) == 1
    st, h, doc = partner_json(c, "POST", "/v1/partner/payments", {"txn_id": "D-1", "contract": ACTIVE,
                                                                  "amount": "40.00"})
    assert st == 201, (st, doc)


# ---- registries and reconciliation --------------------------------------------------------------------

def registry_cli(c, name, day):
    rc, out, err = gatewayd(["registry", "--partner", name, "--date", day], c.url)
    assert rc == 0, err
    return out


@test
def test_registry_totals_match_the_ledger(c):
    day = today(c)
    out = registry_cli(c, "qiwi", day)
    lines = out.splitlines()
    assert lines[0] == "partner_txn_id,our_id,date,account,amount", lines[0]
    rows = [l.split(",") for l in lines[1:-1]]
    total = lines[-1].split(",")
    assert total[0] == "TOTAL" and total[2] == day, total
    want = sql(c, "SELECT count(*) || '|' || sum(p.amount) || '|' || sum(l.amount) "
                  "FROM payments p JOIN partners pa ON pa.id = p.partner_id "
                  "JOIN ledger l ON l.payment_id = p.id AND l.kind = 'credit' WHERE pa.name = 'qiwi'")
    n, s_pay, s_ledger = want.split("|")
    assert int(total[1]) == len(rows) == int(n) > 50, (total, n)
    assert int(total[4].replace(".", "")) == int(s_pay) == int(s_ledger), (total, want)
    assert sum(int(r[4].replace(".", "")) for r in rows) == int(s_pay)
    assert all(r[2].startswith(day) and r[3].isdigit() for r in rows)
    empty = registry_cli(c, "qiwi", "2001-01-01").splitlines()
    assert empty == ["partner_txn_id,our_id,date,account,amount", "TOTAL,0,2001-01-01,,0.00"], empty
    rc, out, err = gatewayd(["registry", "--partner", "qiwi", "--date", "2024-02-30"], c.url)
    assert rc == 2 and "--date" in err


@test
def test_registry_over_http_for_signed_and_basic_partners(c):
    day = today(c)
    target = "/v1/partner/registry?date=" + day
    st, h, data = partner_call(c, "GET", target)
    assert st == 200 and h["content-type"].startswith("text/csv"), (st, data[:200])
    assert data.decode() == registry_cli(c, "shop", day)
    st, h, data = c.gw.request("GET", target, headers={"Authorization": c.term.auth})
    assert st == 200 and data.decode() == registry_cli(c, "qiwi", day)
    st, h, data = partner_call(c, "GET", "/v1/partner/registry?date=yesterday")
    assert st == 400 and error_of(json.loads(data))[0] == "invalid_field"
    st, h, data = c.gw.request("GET", target)
    assert st == 401


@test
def test_reconcile_finds_planted_differences(c):
    day = today(c)
    ours = registry_cli(c, "qiwi", day).splitlines()
    header, rows, total = ours[0], ours[1:-1], ours[-1]
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("\n".join(ours) + "\n")
    try:
        rc, out, err = gatewayd(["reconcile", "--partner", "qiwi", f.name], c.url)
        assert rc == 0 and out.strip() == "problem,partner_txn_id,our_id,account,their_amount,our_amount,detail", \
            (rc, out, err)
        assert "0 problems" in err, err
        dropped = rows[0].split(",")
        changed = rows[1].split(",")
        planted = [r for r in rows[2:]]
        planted.append(",".join([changed[0], changed[1], changed[2], changed[3], "999.99"]))
        planted.append("424242424242,,%s 12:00:00,%s,10.00" % (day, ACTIVE))
        with open(f.name, "w") as g:
            g.write(header + "\n" + "\n".join(planted) + "\n")
        rc, out, err = gatewayd(["reconcile", "--partner", "qiwi", f.name], c.url)
        assert rc == 1, (rc, out, err)
        found = sorted(l.split(",")[:2] for l in out.splitlines()[1:])
        assert found == sorted([["amount_mismatch", changed[0]], ["missing_in_ours", "424242424242"],
                                ["missing_in_theirs", dropped[0]]]), out
        mism = [l for l in out.splitlines() if l.startswith("amount_mismatch")][0].split(",")
        assert mism[4] == "999.99" and mism[5] == changed[4], mism
        # a trailer that does not add up is reported too
        with open(f.name, "w") as g:
            g.write("\n".join([header] + rows + [total.replace("TOTAL,%s" % len(rows), "TOTAL,%d" % (len(rows) + 1))])
                    + "\n")
        rc, out, err = gatewayd(["reconcile", "--partner", "qiwi", f.name], c.url)
        assert rc == 1 and "their_total_mismatch" in out, out
        with open(f.name, "w") as g:
            g.write("partner_txn_id,amount\n1,abc\n")
        rc, out, err = gatewayd(["reconcile", "--partner", "qiwi", "--date", day, f.name], c.url)
        assert rc == 2 and "line 2" in err, err
    finally:
        os.unlink(f.name)


@test
def test_no_secret_or_full_name_in_logs(c):
    logs = c.gw.logs()
    for secret in (c.qiwi["password"], c.sber["password"], c.shop["hmac_secret"], c.far["password"]):
        assert secret not in logs
    assert "Иванов" not in logs
    assert sql(c, "SELECT count(*) FROM ledger_invariant_violations()") == "0"
    assert sql(c, "SELECT count(*) FROM payment_events e JOIN payments p ON p.id = e.payment_id "
                  "WHERE p.adapter IN ('osmp', 'sber-online', 'partner-json') AND e.raw::text ~ 'password|secret'") == "0"


if __name__ == "__main__":
    suite.run(setup, teardown)
