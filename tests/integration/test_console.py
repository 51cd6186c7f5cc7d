"""The operator's console (/admin), checked on the server whatever a page shows: staff accounts made
by `gatewayd staff`, scrypt hashes; sign-in with the form's CSRF token, the session cookie's flags,
rotation at sign-in, revocation at sign-out and when the account is disabled, idle and absolute
timeouts; every action outside a role refused (403) and recorded; a missing or wrong CSRF token
refused; failed sign-ins limited per login and per address without hashing; find by contract, phone,
payment and receipt numbers, transaction ids, with filters and CSV; a payment's page with its events;
resend (to a real SMTP server) and partial refund through the existing paths; the audit log holds
every action of the run."""
import csv
import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import urllib.parse

from harness import PSQL, ROOT, Gateway, Postgres, Suite, error_of, gatewayd, record_exchange, wait_for
from smtp_server import SMTPServer

suite = Suite()
test = suite.test
SANDBOX = "console-sandbox-secret-0123456"


class Ctx:
    pass


class Browser:
    """A cookie jar and the session's CSRF token: what a browser keeps for the console. Each Browser
    is its own client address (through the trusted proxy 127.0.0.9 and X-Forwarded-For), so the
    per-address limit of failed sign-ins of one test does not spill into another's."""
    n = 0

    def __init__(self, gw, addr=None):
        Browser.n += 1
        self.gw = gw
        self.cookies = {}
        self.csrf = None
        self.addr = addr or "198.51.100.%d" % (Browser.n % 250 + 1)

    def request(self, method, path, body=None, headers=None, csrf=True):
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if csrf and self.csrf and method != "GET":
            h.setdefault("X-CSRF-Token", self.csrf)
        h.setdefault("X-Forwarded-For", self.addr)
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, source_address=("127.0.0.9", 0), timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            raw = r.getheaders()
        finally:
            conn.close()
        hdrs = dict((k.lower(), v) for k, v in raw)
        hdrs["set-cookie"] = [v for k, v in raw if k.lower() == "set-cookie"]
        record_exchange(method, path, r.status, hdrs, data)
        for sc in hdrs["set-cookie"]:
            name, value = sc.split(";")[0].split("=", 1)
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return r.status, hdrs, data

    def json(self, method, path, body=None, headers=None, csrf=True):
        st, h, data = self.request(method, path, body, headers, csrf)
        return st, h, json.loads(data) if data else None

    def login_form(self):
        st, h, page = self.request("GET", "/admin/login")
        assert st == 200, st
        m = re.search(rb'name="csrf" value="([0-9a-f]{32})"', page)
        assert m, page[:500]
        return m.group(1).decode()

    def sign_in(self, login, password, form_csrf=None):
        token = self.login_form() if form_csrf is None else form_csrf
        body = urllib.parse.urlencode({"login": login, "password": password, "csrf": token}).encode()
        st, h, page = self.request("POST", "/admin/login", body,
                                   {"Content-Type": "application/x-www-form-urlencoded"}, csrf=False)
        if st == 303:
            st2, _, me = self.json("GET", "/admin/api/me")
            assert st2 == 200, (st2, me)
            self.csrf = me["csrf"]
        return st, h, page


def staff(c, login, role):
    rc, out, err = gatewayd(["staff", "add", login, "--role", role], c.url)
    assert rc == 0, err
    m = re.search(r"^password:\s+(\S+)$", out, re.M)
    assert m, out
    return m.group(1)


def sql(c, q):
    return c.pg.psql(q, url=c.url)


def audit(c, since=0):
    rows = sql(c, "SELECT id, login, coalesce(role, ''), action, coalesce(object, ''), details::text FROM staff_audit "
                  "WHERE id > %d ORDER BY id" % since)
    return [dict(zip(("id", "login", "role", "action", "object", "details"), r.split("|", 5)))
            for r in rows.splitlines() if r]


def last_audit_id(c):
    return int(sql(c, "SELECT coalesce(max(id), 0) FROM staff_audit"))


def web_payment(c, contract="12345", amount="700.00", email="payer@example.com"):
    """A web payment paid on the sandbox's page: created, paid, booked; returns its id."""
    c.keyn += 1
    st, h, d = c.gw.json("POST", "/v1/payments", {"account": {"contract": contract}, "amount": amount, "method": "card",
                                                  "email": email, "return_url": "http://127.0.0.1/back"},
                         {"Idempotency-Key": "console-%d-%d" % (os.getpid(), c.keyn)})
    assert st == 201, (st, d)
    u = urllib.parse.urlsplit(d["confirmation_url"])
    form = dict(urllib.parse.parse_qsl(u.query))
    form.update({"card": "4111 1111 1111 1111", "exp": "12/39", "cvc": "123", "action": "pay"})
    st, h, _ = c.gw.request("POST", "/sandbox/pay", urllib.parse.urlencode(form).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert st in (200, 303), st
    wait_for(lambda: sql(c, "SELECT status FROM payments WHERE id = '%s'" % d["id"]) == "succeeded", 20, "booked")
    return d["id"]


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = c.pg.url
    rc, out, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.url, "-f",
                    os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
    sql(c, "UPDATE accounts SET phone = '+79131234567', email = 'subscriber@example.org' WHERE contract = '12345'")
    c.smtp = SMTPServer().start()
    c.gw = Gateway(c.url, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SANDBOX, GATEWAY_MAIL_URL=c.smtp.url,
                   GATEWAY_MAIL_FROM="receipts@gw.example", GATEWAY_STAFF_FAIL_RATE="3",
                   GATEWAY_TRUSTED_PROXIES="127.0.0.9/32").start()
    c.gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % c.gw.port
    c.keyn = 0
    c.pw = {"sup": staff(c, "sup", "support"), "fin": staff(c, "fin", "finance"), "adm": staff(c, "adm", "admin")}
    c.first_audit = 0
    return c


def teardown(c):
    if c:
        if getattr(c, "gw", None):
            c.gw.stop()
        if getattr(c, "smtp", None):
            c.smtp.stop()
        c.pg.destroy()


@test
def test_staff_commands_print_the_password_once_and_keep_only_a_scrypt_hash(c):
    rows = sql(c, "SELECT login, role, password_hash FROM staff ORDER BY login").splitlines()
    assert [r.split("|")[:2] for r in rows] == [["adm", "admin"], ["fin", "finance"], ["sup", "support"]], rows
    for r in rows:
        h = r.split("|")[2]
        assert re.match(r"^scrypt\$15\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$", h), h
        assert all(p not in h for p in c.pw.values())
    rc, out, err = gatewayd(["staff", "list"], c.url)
    assert rc == 0 and "sup" in out and "support" in out and all(p not in out for p in c.pw.values()), out
    for args, why in ((["staff", "add", "x1", "--role", "boss"], "--role"), (["staff", "add", "A B", "--role", "admin"], "LOGIN"),
                      (["staff", "add", "sup", "--role", "admin"], "already exists"), (["staff", "reset", "nobody"], "no staff")):
        rc, out, err = gatewayd(args, c.url)
        assert rc != 0 and why in err, (args, rc, err)
    # reset prints a new password; the old one stops working
    old = staff(c, "tmp1", "support")
    rc, out, err = gatewayd(["staff", "reset", "tmp1"], c.url)
    assert rc == 0, err
    new = re.search(r"^password:\s+(\S+)$", out, re.M).group(1)
    assert new != old
    assert Browser(c.gw).sign_in("tmp1", old)[0] == 401
    assert Browser(c.gw).sign_in("tmp1", new)[0] == 303
    acts = [(a["login"].split(":")[0], a["action"], a["object"]) for a in audit(c)]
    assert ("cli", "staff.add", "sup") in acts and ("cli", "staff.reset", "tmp1") in acts, acts


@test
def test_sign_in_sets_a_strict_session_cookie_rotated_at_each_sign_in(c):
    b = Browser(c.gw)
    st, h, page = b.request("GET", "/admin")
    assert st == 303 and h["location"] == "/admin/login", (st, h)
    st, h, d = b.json("GET", "/admin/api/me")
    assert st == 401 and error_of(d)[0] == "not_signed_in", d
    # the form's CSRF token is bound to its cookie
    token = b.login_form()
    other = Browser(c.gw)
    st, h, page = other.sign_in("sup", c.pw["sup"], form_csrf=token)     # no gw_login cookie: a forged form
    assert st == 403, st
    st, h, page = b.sign_in("sup", c.pw["sup"], form_csrf="0" * 32)
    assert st == 403, st
    st, h, page = b.sign_in("sup", c.pw["sup"])
    assert st == 303 and h["location"] == "/admin", (st, h)
    cookie = [s for s in h["set-cookie"] if s.startswith("gw_staff=")][0]
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/admin" in attrs, attrs
    assert "Secure" not in attrs, attrs                     # plain HTTP here; see the proxied sign-in below
    assert re.match(r"^gw_staff=[0-9a-f]{64}$", attrs[0]), attrs[0]
    first = b.cookies["gw_staff"]
    # the database keeps the token's SHA-256, never the token
    assert sql(c, "SELECT count(*) FROM staff_sessions WHERE id = '%s'" % hashlib.sha256(first.encode()).hexdigest()) == "1"
    assert sql(c, "SELECT count(*) FROM staff_sessions WHERE id = '%s'" % first) == "0"
    st, h, d = b.json("GET", "/admin/api/me")
    assert st == 200 and d["login"] == "sup" and d["role"] == "support" and "refund" not in d["permissions"], d
    # signing in again rotates the session: the old cookie is dead
    old = Browser(c.gw)
    old.cookies = {"gw_staff": first}
    assert b.sign_in("sup", c.pw["sup"])[0] == 303
    assert b.cookies["gw_staff"] != first
    assert old.json("GET", "/admin/api/me")[0] == 401
    assert b.json("GET", "/admin/api/me")[0] == 200
    # through a trusted proxy that says https, the cookie is Secure
    p = Browser(c.gw, addr="203.0.113.7")
    token = p.login_form()
    st, h, _ = p.request("POST", "/admin/login", urllib.parse.urlencode({"login": "sup", "password": c.pw["sup"],
                                                                         "csrf": token}).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"})
    sc = [v for v in h["set-cookie"] if v.startswith("gw_staff=")]
    assert st == 303 and sc and "Secure" in [a.strip() for a in sc[0].split(";")], (st, sc)
    assert any(a["action"] == "login" and a["login"] == "sup" for a in audit(c))
    assert sql(c, "SELECT host(address) FROM staff_audit WHERE action = 'login' ORDER BY id DESC LIMIT 1") == "203.0.113.7"


@test
def test_sign_out_disable_and_timeouts_end_the_session(c):
    b = Browser(c.gw)
    assert b.sign_in("fin", c.pw["fin"])[0] == 303
    # sign-out needs the CSRF token too
    st, h, d = b.json("POST", "/admin/logout", csrf=False)
    assert st == 403 and error_of(d)[0] == "csrf_failed", d
    cookie = b.cookies["gw_staff"]
    st, h, _ = b.request("POST", "/admin/logout")
    assert st == 303 and h["location"] == "/admin/login", st
    assert "gw_staff" not in b.cookies
    stale = Browser(c.gw)
    stale.cookies = {"gw_staff": cookie}
    assert stale.json("GET", "/admin/api/me")[0] == 401
    # disabling the account ends its sessions at once
    assert b.sign_in("fin", c.pw["fin"])[0] == 303
    assert gatewayd(["staff", "disable", "fin"], c.url)[0] == 0
    assert b.json("GET", "/admin/api/me")[0] == 401
    assert b.sign_in("fin", c.pw["fin"])[0] == 401                       # and it cannot sign in
    assert gatewayd(["staff", "enable", "fin"], c.url)[0] == 0
    assert b.sign_in("fin", c.pw["fin"])[0] == 303
    sid = hashlib.sha256(b.cookies["gw_staff"].encode()).hexdigest()
    # idle: no request for longer than GATEWAY_STAFF_IDLE_TIMEOUT (1800 s) → signed out; a page → sign-in
    sql(c, "UPDATE staff_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id = '%s'" % sid)
    assert b.json("GET", "/admin/api/me")[0] == 401
    st, h, _ = b.request("GET", "/admin")
    assert st == 303 and h["location"] == "/admin/login"
    # absolute: 12 hours after sign-in, however busy
    assert b.sign_in("fin", c.pw["fin"])[0] == 303
    sid = hashlib.sha256(b.cookies["gw_staff"].encode()).hexdigest()
    sql(c, "UPDATE staff_sessions SET created_at = now() - interval '12 hours 1 minute' WHERE id = '%s'" % sid)
    assert b.json("GET", "/admin/api/me")[0] == 401
    assert b.sign_in("fin", c.pw["fin"])[0] == 303
    assert b.json("GET", "/admin/api/me")[0] == 200


@test
def test_every_action_outside_a_role_is_refused_on_the_server_and_recorded(c):
    pid = web_payment(c)
    sup, fin, adm = Browser(c.gw), Browser(c.gw), Browser(c.gw)
    for b, who in ((sup, "sup"), (fin, "fin"), (adm, "adm")):
        assert b.sign_in(who, c.pw[who])[0] == 303
    mark = last_audit_id(c)
    refund = ("POST", "/admin/api/payments/%s/refunds" % pid, {"amount": "1.00", "reason": "forged"},
              {"Idempotency-Key": "forged-refund-0001"})
    # a support session forging a refund, reading the audit: 403 whatever the page hides
    for b, (m, path, body, h) in ((sup, refund), (sup, ("GET", "/admin/api/audit", None, None)),
                                  (fin, ("GET", "/admin/api/audit", None, None))):
        st, _, d = b.json(m, path, body, h)
        assert st == 403 and error_of(d)[0] == "forbidden", (path, st, d)
    # CSRF: missing or wrong token on a state-changing request, even for the role that may
    st, _, d = fin.json(*refund[:3], headers=refund[3], csrf=False)
    assert st == 403 and error_of(d)[0] == "csrf_failed", d
    st, _, d = fin.json(*refund[:3], headers=dict(refund[3], **{"X-CSRF-Token": "f" * 32}))
    assert st == 403 and error_of(d)[0] == "csrf_failed", d
    st, _, d = sup.json("POST", "/admin/api/receipts/2026-000001/resend", {}, {"X-CSRF-Token": fin.csrf})
    assert st == 403 and error_of(d)[0] == "csrf_failed", d      # another session's token is not this one's
    # none of them happened
    assert sql(c, "SELECT count(*) FROM refunds WHERE payment_id = '%s'" % pid) == "0"
    denied = [a for a in audit(c, mark) if a["action"] == "denied"]
    assert len(denied) == 6, denied
    assert sorted(json.loads(a["details"])["why"] for a in denied) == ["csrf", "csrf", "csrf", "role", "role", "role"]
    # every route of another role, with a valid session and its CSRF token: 403, nothing done
    csv_h = {"Content-Type": "text/csv"}
    outside = {
        sup: [refund, ("GET", "/admin/api/audit", None, None), ("GET", "/admin/api/partners", None, None),
              ("POST", "/admin/api/partners", {"name": "forged1", "protocol": "osmp"}, None),
              ("POST", "/admin/api/partners/forged1/rotate", {}, None), ("GET", "/admin/api/registries?partner=x1&date=2026-01-01", None, None),
              ("POST", "/admin/api/reconcile?partner=x1", b"partner_txn_id,amount\n", csv_h),
              ("GET", "/admin/api/staff", None, None), ("POST", "/admin/api/staff", {"login": "forged1", "role": "admin"}, None),
              ("POST", "/admin/api/staff/sup/reset", {}, None)],
        fin: [("GET", "/admin/api/audit", None, None), ("POST", "/admin/api/partners", {"name": "forged1", "protocol": "osmp"}, None),
              ("POST", "/admin/api/partners/forged1/disable", {}, None), ("GET", "/admin/api/staff", None, None),
              ("POST", "/admin/api/staff", {"login": "forged1", "role": "admin"}, None),
              ("POST", "/admin/api/staff/fin/reset", {}, None)]}
    for b, routes in outside.items():
        for m, path, body, h in routes:
            st, _, d = b.json(m, path, body, h)
            assert st == 403 and error_of(d)[0] == "forbidden", (path, st, d)
    assert sql(c, "SELECT count(*) FROM staff WHERE login = 'forged1'") == "0"
    assert sql(c, "SELECT count(*) FROM partners WHERE name = 'forged1'") == "0"
    assert len([a for a in audit(c, mark) if a["action"] == "denied"]) == 6 + 16
    # unsigned: 401 for every JSON route, 303 for the page
    anon = Browser(c.gw)
    for m, path in (("GET", "/admin/api/overview"), ("GET", "/admin/api/payments?q=12345"),
                    ("GET", "/admin/api/payments/%s" % pid), ("POST", "/admin/api/payments/%s/refunds" % pid),
                    ("POST", "/admin/api/receipts/2026-000001/resend"), ("GET", "/admin/api/audit"),
                    ("POST", "/admin/logout")):
        st, _, d = anon.json(m, path, {} if m == "POST" else None)
        assert st == 401 and error_of(d)[0] == "not_signed_in", (path, st, d)


@test
def test_failed_sign_ins_are_limited_per_login_and_per_address_without_hashing(c):
    def checks():
        st, h, body = c.gw.request("GET", "/metrics")
        m = re.search(r"^gateway_staff_password_checks_total (\S+)$", body.decode(), re.M)
        return float(m.group(1)) if m else 0.0
    mark = last_audit_id(c)
    n0 = checks()
    # per login: three failures of "adm" from three addresses, then "adm" is refused from anywhere
    codes = [Browser(c.gw).sign_in("adm", "wrong-%d" % i)[0] for i in range(3)]
    assert codes == [401, 401, 401], codes                                          # GATEWAY_STAFF_FAIL_RATE=3
    st, h, page = Browser(c.gw).sign_in("adm", c.pw["adm"])
    assert st == 429 and h.get("retry-after") == "60", st                            # even the right password waits
    assert "Слишком много" in page.decode() and "логина" in page.decode()
    assert checks() - n0 == 3, checks() - n0                                        # the refused one was not hashed
    # per address: one address trying three logins, then any login from it is refused
    b = Browser(c.gw)
    codes = [b.sign_in("nobody-%d" % i, "x")[0] for i in range(3)] + [b.sign_in("sup", c.pw["sup"])[0]]
    assert codes == [401, 401, 401, 429], codes
    assert checks() - n0 == 6, checks() - n0
    assert Browser(c.gw).sign_in("sup", c.pw["sup"])[0] == 303                       # others are not affected
    failed = [a for a in audit(c, mark) if a["action"] == "login.failed"]
    assert len(failed) == 6 and [a["login"] for a in failed[:3]] == ["adm"] * 3, failed
    assert all(json.loads(a["details"]) == {} for a in failed) and all(c.pw["adm"] not in a["details"] for a in failed)
    st, h, body = c.gw.request("GET", "/metrics")
    m = re.search(r'^gateway_rate_limited_total\{limiter="staff_login"\} (\S+)$', body.decode(), re.M)
    assert m and float(m.group(1)) == 2, m


@test
def test_find_by_anything_a_caller_says_with_filters_masks_and_csv(c):
    pid = web_payment(c, amount="123.45")
    num = sql(c, "SELECT number FROM payments WHERE id = '%s'" % pid)
    rec = sql(c, "SELECT number FROM receipts WHERE payment_id = '%s'" % pid)
    txn = sql(c, "SELECT provider_txn_id FROM payments WHERE id = '%s'" % pid)
    sup, fin = Browser(c.gw), Browser(c.gw)
    assert sup.sign_in("sup", c.pw["sup"])[0] == 303 and fin.sign_in("fin", c.pw["fin"])[0] == 303
    for q in ("12345", "+7 (913) 123-45-67", "89131234567", "9131234567", num, rec, txn, pid):
        st, _, d = sup.json("GET", "/admin/api/payments?" + urllib.parse.urlencode({"q": q}))
        assert st == 200 and pid in [r["payment_id"] for r in d["rows"]], (q, st, d)
    st, _, d = sup.json("GET", "/admin/api/payments?q=" + num)
    row = d["rows"][0]
    assert row["amount"] == "123.45" and row["amount_kopecks"] == 12345 and row["channel"] == "web", row
    assert row["phone"] == "+7 *** ***-45-67", row                     # support sees it masked
    st, _, d = fin.json("GET", "/admin/api/payments?q=" + num)
    assert d["rows"][0]["phone"] == "+79131234567", d                  # finance in full
    # filters (dates are the operator's, GATEWAY_RECEIPT_TZ: the payment's own day)
    today = row["created_at"][:10]
    st, _, d = sup.json("GET", "/admin/api/payments?q=12345&channel=terminal")
    assert st == 200 and all(r["channel"] == "terminal" for r in d["rows"]) and pid not in [r["payment_id"] for r in d["rows"]]
    st, _, d = sup.json("GET", "/admin/api/payments?q=12345&status=succeeded&from=%s&to=%s" % (today, today))
    assert st == 200 and pid in [r["payment_id"] for r in d["rows"]], d
    st, _, d = sup.json("GET", "/admin/api/payments?q=12345&from=2001-01-01&to=2001-01-02")
    assert st == 200 and d["rows"] == [], d
    # no query: every payment, newest first (019 runs it on payments_created_idx), filters still apply
    st, _, d = sup.json("GET", "/admin/api/payments?limit=1000")
    stamps = [(r["created_at"], r["number"]) for r in d["rows"]]
    assert st == 200 and pid in [r["payment_id"] for r in d["rows"]] and stamps == sorted(stamps, reverse=True), d
    st, _, d = sup.json("GET", "/admin/api/payments?channel=web&status=succeeded&from=%s&to=%s" % (today, today))
    assert st == 200 and pid in [r["payment_id"] for r in d["rows"]], d
    assert all(r["channel"] == "web" and r["status"] == "succeeded" for r in d["rows"]), d
    for bad, code in (("from=2026-13-01", "invalid_date"), ("channel=moon", "invalid_channel"),
                      ("status=paid", "invalid_status"), ("limit=0", "invalid_limit"), ("format=xml", "invalid_format"),
                      ("q=" + "1" * 101, "invalid_q")):
        st, _, d = sup.json("GET", "/admin/api/payments?" + bad)
        assert st == 400 and error_of(d)[0] == code, (bad, st, d)
    # CSV: the same rows, a header line, quoted where needed
    st, h, body = sup.request("GET", "/admin/api/payments?q=12345&format=csv")
    assert st == 200 and h["content-type"].startswith("text/csv") and "attachment" in h["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert pid in [r["payment_id"] for r in rows] and "amount" in rows[0], rows[:1]
    # a payment's page: the account masked for support, every event in order
    st, _, d = sup.json("GET", "/admin/api/payments/" + pid)
    assert st == 200 and d["payment"]["number"] == int(num) and d["account"]["contract"] == "12345", d
    assert d["account"]["phone"] == "+7 *** ***-45-67" and d["account"]["email"] == "s***@example.org", d["account"]
    kinds = [t["kind"] for t in d["timeline"]]
    assert kinds[0] == "status" and "ledger" in kinds and "mail" in kinds, kinds
    assert [t["at"] for t in d["timeline"]] == sorted(t["at"] for t in d["timeline"])
    assert d["receipt"]["number"] == rec and d["receipt"]["url"].startswith("/v1/receipts/"), d["receipt"]
    st, _, d = sup.json("GET", "/admin/api/payments/00000000-0000-4000-8000-000000000000")
    assert st == 404 and error_of(d)[0] == "payment_not_found"
    views = [a for a in audit(c) if a["action"] == "view.payment" and a["object"] == pid]
    assert views and views[0]["login"] == "sup", views


@test
def test_support_resends_a_receipt_to_a_new_address_and_finance_refunds_part(c):
    pid = web_payment(c, amount="900.00")
    rec = sql(c, "SELECT number FROM receipts WHERE payment_id = '%s'" % pid)
    wait_for(lambda: c.smtp.for_number(rec), 20, "the first receipt mail")
    sup, fin = Browser(c.gw), Browser(c.gw)
    assert sup.sign_in("sup", c.pw["sup"])[0] == 303 and fin.sign_in("fin", c.pw["fin"])[0] == 303
    st, _, d = sup.json("POST", "/admin/api/receipts/%s/resend" % rec, {"email": "new-address@example.net"})
    assert st == 202 and d["number"] == rec, (st, d)
    wait_for(lambda: any("new-address@example.net" in m.rcpt_tos for m in c.smtp.for_number(rec)), 20, "the resent mail")
    st, _, d = sup.json("POST", "/admin/api/receipts/%s/resend" % rec, {"email": "not an address"})
    assert st == 400 and error_of(d)[0] == "invalid_email"
    # finance: part of it, with a reason; the same key again is the same refund
    balance0 = int(sql(c, "SELECT balance FROM accounts WHERE contract = '12345'"))
    hdr = {"Idempotency-Key": "console-refund-%d" % os.getpid()}
    st, _, d = fin.json("POST", "/admin/api/payments/%s/refunds" % pid, {"amount": "250.00"}, hdr)
    assert st == 400 and error_of(d)[0] == "invalid_reason", d
    st, h, d = fin.json("POST", "/admin/api/payments/%s/refunds" % pid, {"amount": "250.00", "reason": "двойная оплата"}, hdr)
    assert st == 201, (st, d)
    st, h, d2 = fin.json("POST", "/admin/api/payments/%s/refunds" % pid, {"amount": "250.00", "reason": "двойная оплата"}, hdr)
    assert st == 201 and h.get("idempotent-replayed") == "true" and d2["id"] == d["id"], (st, h, d2)
    wait_for(lambda: sql(c, "SELECT status FROM refunds WHERE id = '%s'" % d["id"]) == "succeeded", 20, "the refund")
    assert sql(c, "SELECT amount FROM ledger WHERE payment_id = '%s' AND kind = 'debit'" % pid) == "-25000"
    assert int(sql(c, "SELECT balance FROM accounts WHERE contract = '12345'")) == balance0 - 25000
    st, _, page = fin.json("GET", "/admin/api/payments/" + pid)
    assert page["payment"]["refunded"] == "250.00" and page["refunds"][0]["status"] == "succeeded", page
    assert any(t["kind"] == "refund" for t in page["timeline"]) and any(t["kind"] == "ledger" and "debit" in t["what"]
                                                                       for t in page["timeline"]), page["timeline"]
    acts = [(a["login"], a["action"], a["object"]) for a in audit(c)]
    assert ("sup", "receipt.resend", rec) in acts and ("fin", "refund", pid) in acts, acts
    details = [json.loads(a["details"]) for a in audit(c) if a["action"] == "refund" and a["object"] == pid]
    assert details[0]["reason"] == "двойная оплата" and details[0]["amount_kopecks"] == 25000, details


def osmp_check(c, login, password):
    import base64
    auth = "Basic " + base64.b64encode(("%s:%s" % (login, password)).encode()).decode()
    st, h, body = c.gw.request("GET", "/v1/osmp?command=check&txn_id=1&account=12345&sum=10.00",
                               headers={"Authorization": auth})
    return st, body


@test
def test_admin_manages_partners_and_staff_and_finance_downloads_registries(c):
    adm, fin, sup = Browser(c.gw), Browser(c.gw), Browser(c.gw)
    pw = staff(c, "adm3", "admin")
    assert adm.sign_in("adm3", pw)[0] == 303 and fin.sign_in("fin", c.pw["fin"])[0] == 303
    assert sup.sign_in("sup", c.pw["sup"])[0] == 303
    new = {"name": "shop1", "protocol": "osmp", "networks": ["127.0.0.0/8"], "min": "1.00", "max": "5000.00"}
    for b in (sup, fin):
        st, _, d = b.json("POST", "/admin/api/partners", new)
        assert st == 403 and error_of(d)[0] == "forbidden", d
    st, _, d = sup.json("GET", "/admin/api/partners")
    assert st == 403, d
    for bad, why in (({"name": "X Y", "protocol": "osmp"}, "name"), ({"name": "shop2", "protocol": "ftp"}, "protocol"),
                     ({"name": "shop2", "protocol": "osmp", "networks": ["300.1.1.1/8"]}, "networks"),
                     ({"name": "shop2", "protocol": "osmp", "min": "-1"}, "min"),
                     ({"name": "shop2", "protocol": "osmp", "extra": 1}, "unknown")):
        st, _, d = adm.json("POST", "/admin/api/partners", bad)
        assert st == 400 and why in error_of(d)[1] + error_of(d)[0], (bad, d)
    st, h, d = adm.json("POST", "/admin/api/partners", new)
    assert st == 201 and d["login"] == "shop1" and len(d["password"]) == 32 and "no-store" in h["cache-control"], d
    old = d["password"]
    assert sql(c, "SELECT count(*) FROM partners WHERE name = 'shop1' AND password_hash LIKE 'pbkdf2-sha256$%'") == "1"
    assert adm.json("POST", "/admin/api/partners", new)[0] == 409
    # every refusal shop1 gets (a 401, or what a disabled partner gets) is tallied here, to be found on
    # the overview
    seen = {"old": 0, "all": 0}

    def shop1(password, which=""):
        st = osmp_check(c, "shop1", password)[0]
        seen["all"] += st != 200
        seen["old"] += st == 401 and which == "old"
        return st
    st, body = osmp_check(c, "shop1", old)
    assert st == 200 and b"<result>0</result>" in body, (st, body)
    # rotate: a new password once; the old one stops working
    st, _, d = adm.json("POST", "/admin/api/partners/shop1/rotate", {})
    assert st == 200 and d["password"] != old, d
    wait_for(lambda: shop1(old, "old") == 401, 10, "the old password refused")
    # (each event loop keeps a partner for up to 2 s: within that the new one works everywhere)
    wait_for(lambda: shop1(d["password"]) == 200, 10, "the new password accepted")
    st, _, d2 = adm.json("POST", "/admin/api/partners/shop1/disable", {})
    assert st == 200 and d2["state"] == "disabled", d2
    wait_for(lambda: shop1(d["password"]) != 200, 10, "a disabled partner refused")
    assert adm.json("POST", "/admin/api/partners/shop1/enable", {})[2]["state"] == "active"
    # The refusals are on the overview within a flush (5 s), each once. The old password's are bad
    # credentials; the others are a disabled partner, or the new password on a loop that still held
    # the old hash: how many of each depends on timing, their sum does not.
    def refused():
        return {r["reason"]: r["refused"] for r in adm.json("GET", "/admin/api/overview")[2]["partners_refused"]
                if r["partner"] == "shop1"}
    wait_for(lambda: sum(refused().values()) >= seen["all"], 20,
             lambda: "shop1's refusals on the overview: %r, seen: %r" % (refused(), seen))
    got = refused()
    assert sum(got.values()) == seen["all"] and got.get("credentials", 0) >= seen["old"] >= 1, (got, seen)
    assert set(got) <= {"credentials", "disabled"}, got
    assert adm.json("POST", "/admin/api/partners/nobody/rotate", {})[0] == 404
    assert adm.json("POST", "/admin/api/partners/shop1/delete", {})[0] == 404
    rows = {r["name"]: r for r in fin.json("GET", "/admin/api/partners")[2]["rows"]}
    assert rows["shop1"]["state"] == "active" and rows["shop1"]["networks"] == "127.0.0.0/8", rows
    # finance downloads a registry
    st, h, body = fin.request("GET", "/admin/api/registries?partner=shop1&date=2026-01-15")
    assert st == 200 and h["content-type"].startswith("text/csv") and "registry-shop1-2026-01-15" in h["content-disposition"]
    assert body.decode().splitlines() == ["partner_txn_id,our_id,date,account,amount", "TOTAL,0,2026-01-15,,0.00"], body
    assert fin.request("GET", "/admin/api/registries?partner=shop1&date=2026-02-30")[0] == 400
    assert fin.request("GET", "/admin/api/registries?partner=nobody&date=2026-01-15")[0] == 404
    assert sup.request("GET", "/admin/api/registries?partner=shop1&date=2026-01-15")[0] == 403
    # finance reconciles shop1's registry of a day: ours downloaded, then changed as a partner's would differ
    spid = sql(c, "SELECT id FROM partners WHERE name = 'shop1'")
    for i in range(4):
        assert sql(c, "SELECT result FROM book_payment('terminal', 'osmp', %s, 'R%d', '12345', %d, 'cash', NULL, now(), "
                      "md5(random()::text) || md5(random()::text), '{}')" % (spid, i + 1, 1000 * (i + 1))) == "booked"
    day = sql(c, "SELECT to_char(now() AT TIME ZONE 'Europe/Moscow', 'YYYY-MM-DD')")
    st, h, body = fin.request("GET", "/admin/api/registries?partner=shop1&date=" + day)
    lines = body.decode().splitlines()
    assert st == 200 and len(lines) == 6, lines                      # header, 4 payments, TOTAL
    planted = [lines[0], lines[2], lines[3], lines[4].rsplit(",", 1)[0] + ",999.99",
               "R99,,%s 12:00:00,12345,5.00" % day]                  # R1 dropped, R4 changed, R99 unknown
    st, _, d = fin.json("POST", "/admin/api/reconcile?partner=shop1", ("\n".join(planted) + "\n").encode(),
                        {"Content-Type": "text/csv"})
    assert st == 200, (st, d)
    found = sorted((p["problem"], p["partner_txn_id"]) for p in d["problems"])
    assert found == [("amount_mismatch", "R4"), ("missing_in_ours", "R99"), ("missing_in_theirs", "R1")], d
    assert d["summary"]["matched"] == 2 and d["summary"]["problems"] == 3 and d["summary"]["ours"] == 4, d["summary"]
    st, _, d = fin.json("POST", "/admin/api/reconcile?partner=shop1", "\n".join(lines).encode() + b"\n",
                        {"Content-Type": "text/csv"})
    assert st == 200 and d["problems"] == [] and d["summary"]["matched"] == 4, d
    for body_, ct, want in ((b"partner_txn_id,amount\n1,abc\n", "text/csv", 400), (b"", "text/csv", 400),
                            (b"x", "application/json", 415)):
        st, _, e = fin.json("POST", "/admin/api/reconcile?partner=shop1&date=" + day, body_, {"Content-Type": ct})
        assert st == want, (body_, st, e)
    assert fin.json("POST", "/admin/api/reconcile?partner=nobody", b"partner_txn_id,amount\n", {"Content-Type": "text/csv"})[0] == 404
    assert sup.json("POST", "/admin/api/reconcile?partner=shop1", b"a", {"Content-Type": "text/csv"})[0] == 403
    # staff: add (the password once), reset (the old one stops), disable (signed out); not oneself
    st, _, d = adm.json("POST", "/admin/api/staff", {"login": "newbie", "role": "support"})
    assert st == 201 and d["role"] == "support" and len(d["password"]) == 20, d
    nb = Browser(c.gw)
    assert nb.sign_in("newbie", d["password"])[0] == 303
    assert adm.json("POST", "/admin/api/staff", {"login": "newbie", "role": "support"})[0] == 409
    assert adm.json("POST", "/admin/api/staff", {"login": "x", "role": "boss"})[0] == 400
    st, _, r = adm.json("POST", "/admin/api/staff/newbie/reset", {})
    assert st == 200 and r["password"] != d["password"], r
    assert nb.json("GET", "/admin/api/me")[0] == 401                      # reset signs out everywhere
    assert Browser(c.gw).sign_in("newbie", d["password"])[0] == 401
    assert nb.sign_in("newbie", r["password"])[0] == 303
    assert adm.json("POST", "/admin/api/staff/newbie/disable", {})[2]["state"] == "disabled"
    assert nb.json("GET", "/admin/api/me")[0] == 401
    st, _, e = adm.json("POST", "/admin/api/staff/adm3/disable", {})
    assert st == 409 and error_of(e)[0] == "cannot_disable_self", e
    assert fin.json("POST", "/admin/api/staff", {"login": "evil", "role": "admin"})[0] == 403
    staff_rows = {r["login"]: r for r in adm.json("GET", "/admin/api/staff")[2]["rows"]}
    assert staff_rows["newbie"]["state"] == "disabled" and staff_rows["sup"]["role"] == "support", staff_rows
    acts = [(a["login"], a["action"], a["object"]) for a in audit(c)]
    for a in (("adm3", "partner.add", "shop1"), ("adm3", "partner.rotate", "shop1"), ("adm3", "partner.disable", "shop1"),
              ("fin", "registry.download", "shop1"), ("fin", "reconcile", "shop1"), ("adm3", "staff.add", "newbie"), ("adm3", "staff.reset", "newbie"),
              ("adm3", "staff.disable", "newbie")):
        assert a in acts, (a, acts[-20:])
    text = sql(c, "SELECT string_agg(details::text, ' ') FROM staff_audit")
    assert old not in text and d["password"] not in text and r["password"] not in text


@test
def test_overview_and_the_audit_log_hold_every_action_of_the_run(c):
    adm = Browser(c.gw)
    pw = staff(c, "adm2", "admin")                   # "adm" is still held back by the sign-in limit test
    assert adm.sign_in("adm2", pw)[0] == 303
    sql(c, "UPDATE payments SET created_at = now() - interval '2 hours' WHERE id = (SELECT id FROM payments "
           "WHERE status = 'succeeded' LIMIT 1)")
    st, _, d = adm.json("GET", "/admin/api/overview")
    assert st == 200 and d["totals"], d
    today = [t for t in d["totals"] if t["period"] == "today" and t["channel"] == "web"]
    assert today and today[0]["payments"] >= 3, d["totals"]
    st, _, d = adm.json("GET", "/admin/api/audit?limit=5000")
    assert st == 200
    actions = {r["action"] for r in d["rows"]}
    for a in ("staff.add", "staff.reset", "staff.disable", "staff.enable", "login", "login.failed", "logout", "denied",
              "search", "view.payment", "receipt.resend", "refund"):
        assert a in actions, (a, sorted(actions))
    # the audit is append-only, even for the schema owner
    for q in ("UPDATE staff_audit SET login = 'x'", "DELETE FROM staff_audit", "TRUNCATE staff_audit"):
        r = subprocess.run([PSQL, "-X", "-q", "-d", c.url, "-c", q], capture_output=True, text=True)
        assert r.returncode != 0 and "append-only" in r.stderr, (q, r.stderr)
    st, h, body = adm.request("GET", "/admin/api/audit?action=login&format=csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert st == 200 and rows and all(r["action"] in ("login", "login.failed") for r in rows), rows[:3]
    # no password, token or secret in the audit
    text = sql(c, "SELECT string_agg(login || coalesce(object, '') || details::text, ' ') FROM staff_audit")
    for p in list(c.pw.values()) + [pw]:
        assert p not in text


if __name__ == "__main__":
    suite.run(setup, teardown)
