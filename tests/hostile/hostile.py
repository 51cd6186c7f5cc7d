#!/usr/bin/python3
"""Hostile input: a corpus of malformed requests (tests/hostile/corpus.py) for every route of the
route table and every protocol — huge headers and bodies, bad UTF-8, NUL bytes, overlong numbers,
negative and fractional-kopeck amounts, SQL-looking strings, duplicated parameters, wrong content
types, bad credentials — plus raw byte streams over sockets (broken request lines, bad framing,
pipelined garbage, slowloris-style partial requests). Every answer must be a 4xx (JSON routes: the
error envelope with a code and a message) or the protocol's own error code in its own format (OSMP
XML result != 0, Sber CODE != 0), never a 5xx; nothing is booked; gatewayd stays up, answers /healthz,
keeps no connections it was given up on, and never writes a secret into its log.

    tests/hostile/hostile.py            (the whole corpus; about half a minute)"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

from harness import Gateway, Postgres, Suite, gatewayd  # noqa: E402
import corpus  # noqa: E402

suite = Suite()
test = suite.test
CONTRACT = "555000111"
ADMIN = "hostile-admin-token-0123456789abcdef"
SANDBOX_SECRET = "hostile-sandbox-secret-0123456789"
RBS_KEY = "hostile-rbs-callback-key-0123456789"


class Ctx:
    pass


def creds(out):
    return dict(m.groups() for m in re.finditer(r"^(login|password|hmac_secret):\s+(\S+)$", out, re.M))


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    try:
        return prepare(c)
    except BaseException:
        if getattr(c, "gw", None):
            c.gw.stop()
        c.pg.destroy()
        raise


def prepare(c):
    rc, out, err = gatewayd(["migrate"], c.pg.url)
    assert rc == 0, err
    c.pg.psql("INSERT INTO accounts (contract, phone, email, holder_name, status, balance, monthly_fee) VALUES "
              "('%s', '+79135550111', 'h@example.com', 'Враждебный Ввод', 'active', 0, 50000)" % CONTRACT)
    c.partners = {}
    for name, proto in (("qiwi", "osmp"), ("sber", "sber-online"), ("shop", "json")):
        rc, out, err = gatewayd(["partner", "add", name, "--protocol", proto], c.pg.url)
        assert rc == 0, err
        c.partners[name] = creds(out)
    c.gw = Gateway(c.pg.url, GATEWAY_ADAPTERS="sandbox,rbs,yookassa", GATEWAY_ADMIN_TOKEN=ADMIN,
                   GATEWAY_SANDBOX_SECRET=SANDBOX_SECRET, GATEWAY_LOOKUP_RATE=100000, GATEWAY_LOOKUP_BURST=100000,
                   GATEWAY_RBS_URL="https://127.0.0.1:9", GATEWAY_RBS_USER="u", GATEWAY_RBS_PASSWORD="rbs-password-xyz",
                   GATEWAY_RBS_CALLBACK_KEY=RBS_KEY, GATEWAY_YOOKASSA_URL="https://127.0.0.1:9/v3",
                   GATEWAY_YOOKASSA_SHOP_ID="1", GATEWAY_YOOKASSA_SECRET_KEY="yk-secret-key-xyz",
                   GATEWAY_YOOKASSA_ALLOW_CIDRS="192.0.2.0/24", GATEWAY_JANITOR_INTERVAL=0,
                   GATEWAY_LOG_LEVEL="info")
    c.gw.start()
    # a console session (admin) for the /admin/api routes
    rc, out, err = gatewayd(["staff", "add", "hostile-admin", "--role", "admin"], c.pg.url)
    assert rc == 0, err
    c.staff_cookie, c.staff_csrf = console_session(c.gw, "hostile-admin", creds(out)["password"])
    c.fds0 = fd_count(c)
    c.stats = {}
    return c


def console_session(gw, login, password):
    """Signs in at /admin/login as a browser would: (the session cookie, its CSRF token)."""
    st, h, page = gw.request("GET", "/admin/login")
    form_csrf = re.search(rb'name="csrf" value="([0-9a-f]+)"', page).group(1).decode()
    bound = re.search(r"gw_login=([0-9a-f]+)", h["set-cookie"]).group(1)
    body = urllib.parse.urlencode({"login": login, "password": password, "csrf": form_csrf}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.request("POST", "/admin/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                "Cookie": "gw_login=" + bound})
    r = conn.getresponse()
    r.read()
    cookies = " ".join(v for k, v in r.getheaders() if k.lower() == "set-cookie")
    conn.close()
    assert r.status == 303, r.status
    session = re.search(r"gw_staff=([0-9a-f]{64})", cookies).group(1)
    st, h, me = gw.json("GET", "/admin/api/me", headers={"Cookie": "gw_staff=" + session})
    assert st == 200, (st, me)
    return "gw_staff=" + session, me["csrf"]


def teardown(c):
    if c:
        if getattr(c, "gw", None):
            c.gw.stop()
        c.pg.destroy()


def fd_count(c):
    return len(os.listdir("/proc/%d/fd" % c.gw.proc.pid))


# ---- sending ---------------------------------------------------------------------------------------

class Client:
    """Keep-alive connection; a request that fails on a reused connection is sent once more on a fresh
    one. Returns (status, headers, body) or ("closed", {}, reason)."""

    def __init__(self, port):
        self.port, self.c, self.used = port, None, False

    def send(self, method, path, headers, body):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                self.used = False
            try:
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                hdrs = dict((k.lower(), v) for k, v in r.getheaders())
                self.used = True
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (OSError, http.client.HTTPException) as e:
                reused = self.used
                self.close()
                if attempt == 0 and reused:
                    continue
                return "closed", {}, repr(e)
        return "closed", {}, "unreachable"

    def close(self):
        if self.c:
            self.c.close()
        self.c = None


def raw_exchange(port, data, wait=4.0, linger=0.0):
    """Sends bytes on a fresh socket and reads until the server closes or `wait` passes. Returns the
    bytes received (a send error is not fatal: the server may answer and close before reading it all)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    got = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        if linger:
            time.sleep(linger)
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not d:
                break
            got += d
    finally:
        s.close()
    return got


def raw_request(method, path, headers, body):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close"]
    for k, v in headers.items():
        lines.append("%s: %s" % (k, v))
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + (body or b"")


def statuses(data):
    return [int(m.group(1)) for m in re.finditer(rb"HTTP/1\.[01] (\d{3}) ", data)]


# ---- judging an answer -------------------------------------------------------------------------------

def kind_of(pattern):
    if pattern == "/v1/osmp":
        return "osmp"
    if pattern == "/v1/sber-online":
        return "sber"
    if pattern in ("/pay", "/pay/result", "/pay/{file}", "/sandbox/pay", "/metrics", "/v1/receipts/{token}", "/admin",
                   "/admin/login", "/admin/assets/{file}"):
        return "page"
    return "json"


def judge(kind, c, st, h, body):
    """A list of problems with one answer (empty: fine)."""
    if st == "closed":
        return ["connection closed without an answer (%s)" % body]
    p = []
    ct = h.get("content-type", "")
    if st >= 500:
        p.append("status %d: %r" % (st, body[:200]))
    if ct.startswith("application/json") and body:
        try:
            doc = json.loads(body)
        except ValueError:
            return p + ["invalid JSON: %r" % body[:120]]
        if st >= 400:
            e = doc.get("error") if isinstance(doc, dict) else None
            if not (isinstance(e, dict) and isinstance(e.get("code"), str) and e["code"]
                    and isinstance(e.get("message"), str) and e["message"]):
                p.append("no error envelope: %r" % body[:200])
    elif ct.startswith("text/xml"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return p + ["invalid XML (%s): %r" % (e, body[:200])]
        field = "result" if kind == "osmp" else "CODE"
        v = root.findtext(field)
        if v is None or not v.isdigit():
            p.append("XML without a numeric <%s>: %r" % (field, body[:200]))
        elif c.get("malformed") and int(v) == 0:
            p.append("malformed request acknowledged: %r" % body[:200])
        if not root.findtext("comment" if kind == "osmp" else "MESSAGE"):
            p.append("XML refusal without a message: %r" % body[:200])
    elif st >= 400:
        # only libevent's own refusals of oversized or unparsable requests come without our envelope
        if not (st in (400, 413) and b"<HTML>" in body[:20].upper()) and kind != "page":
            p.append("%d without the JSON error envelope (%s): %r" % (st, ct, body[:120]))
    return p


def authenticate(c, pattern, case):
    """Valid credentials for the route, so a hostile request reaches the parsers behind authentication
    (unless the case is about credentials itself)."""
    h = case["headers"]
    if case["method"] == "POST" and ("/refunds" in pattern or pattern == "/v1/payments") and "Idempotency-Key" not in h:
        c.keys = getattr(c, "keys", 0) + 1
        h = dict(h, **{"Idempotency-Key": "hostile-key-%08d" % c.keys})
    if "Authorization" in h or "X-Partner-Login" in h:
        return h
    if pattern in ("/v1/osmp", "/v1/sber-online"):
        p = c.partners["qiwi" if pattern == "/v1/osmp" else "sber"]
        return dict(h, Authorization="Basic " + base64.b64encode(("%s:%s" % (p["login"], p["password"])).encode()).decode())
    if pattern.startswith("/v1/partner/"):
        shop = c.partners["shop"]
        ts = str(int(time.time()))
        sig = hmac.new(shop["hmac_secret"].encode(), ("%s\n%s\n%s\n" % (case["method"], case["path"], ts)).encode()
                       + (case["body"] or b""), hashlib.sha256).hexdigest()
        return dict(h, **{"X-Partner-Login": shop["login"], "X-Timestamp": ts, "X-Signature": sig})
    if pattern.startswith("/v1/internal/"):
        return dict(h, Authorization="Bearer " + ADMIN)
    if pattern.startswith("/admin/api/") and "Cookie" not in h and "X-CSRF-Token" not in h:
        # the console's session (not for /admin/logout: that would end it for the cases after)
        return dict(h, Cookie=c.staff_cookie, **{"X-CSRF-Token": c.staff_csrf})
    return h


def run_cases(c, cases, kind_for, pattern=None):
    cl = Client(c.gw.port)
    problems, hist = [], {}
    for case in cases:
        kind = kind_for(case)
        if pattern:
            case = dict(case, headers=authenticate(c, pattern, case))
        big = case["body"] is not None and len(case["body"]) > 1024 * 1024
        if big:
            data = raw_exchange(c.gw.port, raw_request(case["method"], case["path"], case["headers"], case["body"]))
            sts = statuses(data)
            st = sts[0] if sts else "closed"
            res = [] if st != "closed" and st < 500 else ["big body: %r" % data[:120]]
        else:
            st, h, body = cl.send(case["method"], case["path"], case["headers"], case["body"])
            res = judge(kind, case, st, h, body)
        hist[st] = hist.get(st, 0) + 1
        for r in res:
            problems.append("%s %s [%s]: %s" % (case["method"], case["path"][:80], case["name"], r))
        if len(problems) > 40:
            break
    cl.close()
    return problems, hist


def histogram(h):
    return ", ".join("%s: %d" % (k, v) for k, v in sorted(h.items(), key=lambda kv: str(kv[0])))


# ---- the tests -------------------------------------------------------------------------------------------

@test
def test_every_route_answers_hostile_requests_with_4xx_and_an_envelope(c):
    rs = corpus.routes()
    assert len(rs) >= 20 and ("POST", "/v1/osmp") in rs, rs
    total, problems, hist = 0, [], {}
    t0 = time.time()
    for method, pattern in rs:
        fills = ["sandbox", "rbs", "yookassa"] if "{adapter}" in pattern else [None]
        for f in fills:
            cases = corpus.route_cases(method, pattern, f)
            total += len(cases)
            k = kind_of(pattern)
            p, h = run_cases(c, cases, lambda case: k, pattern)
            problems += p
            for s, n in h.items():
                hist[s] = hist.get(s, 0) + n
            assert c.gw.proc.poll() is None, "gatewayd died on %s %s:\n%s" % (method, pattern, c.gw.logs()[-3000:])
    assert not problems, "\n".join(problems[:30])
    c.stats["routes"] = (len(rs), total)
    fig("%d routes from the route table, %d hostile requests in %.1fs; statuses: %s", len(rs), total,
        time.time() - t0, histogram(hist))


@test
def test_protocols_refuse_malformed_fields_in_their_own_terms(c):
    world = dict(c.partners)
    world["contract"] = CONTRACT
    cases = corpus.protocol_cases(world)
    booked0 = c.pg.psql("SELECT count(*) FROM payments WHERE status = 'succeeded'")
    problems, hist = [], {}
    for proto in ("osmp", "sber"):
        mine = [cs for k, cs in cases if k == proto]
        p, h = run_cases(c, mine, lambda case: proto)
        problems += p
        hist[proto] = h
    # signed partner JSON with one bad field each
    shop = c.partners["shop"]
    cl = Client(c.gw.port)
    jh = {}
    for name, body in corpus.json_partner_bodies(CONTRACT):
        ts = str(int(time.time()))
        sig = hmac.new(shop["hmac_secret"].encode(), ("POST\n/v1/partner/payments\n%s\n" % ts).encode() + body,
                       hashlib.sha256).hexdigest()
        st, h, data = cl.send("POST", "/v1/partner/payments", {"Content-Type": "application/json",
                                                               "X-Partner-Login": shop["login"], "X-Timestamp": ts,
                                                               "X-Signature": sig}, body)
        jh[st] = jh.get(st, 0) + 1
        pr = judge("json", {"malformed": True}, st, h, data)
        if st == "closed" or not 400 <= st < 500:
            pr.append("not refused with a 4xx")
        problems += ["partner JSON [%s]: %s" % (name, x) for x in pr]
    cl.close()
    assert not problems, "\n".join(problems[:30])
    booked = c.pg.psql("SELECT count(*) FROM payments WHERE status = 'succeeded'")
    assert booked == booked0, (booked0, booked)
    assert c.pg.psql("SELECT count(*) FROM ledger_invariant_violations()") == "0"
    fig("authenticated malformed requests: OSMP %d (%s), Sber %d (%s), partner JSON %d (%s); nothing booked",
        sum(hist["osmp"].values()), histogram(hist["osmp"]), sum(hist["sber"].values()), histogram(hist["sber"]),
        sum(jh.values()), histogram(jh))


NUL_CASES = {"NUL in header": ("4xx",), "NUL in a header we read": ("4xx",), "NUL in a body": ("4xx",)}


@test
def test_nul_bytes_in_decoded_values_are_refused(c):
    """A value that holds a NUL byte once decoded (%00) is refused with the route's own error: a C
    string would end at the NUL and see the valid value before it (contract=555000111%00 found the
    account). Each request is first sent without the %00 and must succeed, so the refusal is the NUL's.
    (The terminal protocols' fields are in the protocol corpus, test 2.)"""
    pid = c.pg.psql("SELECT payment_id FROM book_payment('terminal', 'osmp', NULL, 'hostile-nul-%d', '%s', 10000, "
                    "'cash', NULL, now(), '%s', NULL)" % (os.getpid(), CONTRACT, "n" * 48))
    number = c.pg.psql("SELECT number FROM receipts WHERE payment_id = '%s'" % pid)
    admin = {"Authorization": "Bearer " + ADMIN}
    cl = Client(c.gw.port)
    problems = []
    cases = [("/v1/accounts/lookup?contract=%s" % CONTRACT, "", {}),
             ("/v1/accounts/lookup?phone=%2B79135550111", "", {}),
             ("/v1/internal/receipts?number=" + number, "", admin),
             ("/v1/internal/receipts?payment_id=" + pid, "", admin),
             ("/v1/partner/registry?date=" + time.strftime("%Y-%m-%d"), "", None)]
    for path, _, h in cases:
        for suffix in ("", "%00", "%00x"):
            hh = h if h is not None else authenticate(c, "/v1/partner/registry", {"method": "GET", "path": path + suffix,
                                                                                   "headers": {}, "body": None})
            st, hd, body = cl.send("GET", path + suffix, hh, None)
            if suffix == "":
                if st != 200:
                    problems.append("GET %s (no NUL): %s %r" % (path, st, body[:160]))
            elif st == "closed" or not 400 <= st < 500 or judge("json", {}, st, hd, body):
                problems.append("GET %s%s: %s %r" % (path, suffix, st, body[:160]))
    # a NUL in a parameter name is no better
    st, hd, body = cl.send("GET", "/v1/accounts/lookup?contract%%00=%s" % CONTRACT, {}, None)
    if st == "closed" or not 400 <= st < 500:
        problems.append("name with %%00: %s %r" % (st, body[:160]))
    cl.close()
    assert not problems, "\n".join(problems[:20])
    fig("%%00 in a decoded value: %d JSON routes answer 4xx with the envelope (and 200 without it)", len(cases))


@test
def test_raw_http_byte_streams(c):
    problems, outcome = [], {}
    for name, data, want in corpus.RAW:
        got = raw_exchange(c.gw.port, data, wait=3.0)
        sts = statuses(got)
        first = sts[0] if sts else None
        ok = {"4xx": first is not None and 400 <= first < 500,
              "close": first is None or 400 <= first < 500,
              "ok": first is not None and first < 500,
              "501": first == 501}[want]
        # every answer of ours carries the JSON envelope (libevent's own HTML pages only for streams
        # it cannot parse as a request at all)
        if first is not None and first >= 400 and b"<HTML>" in got.upper() and want in ("501",) + NUL_CASES.get(name, ()):
            ok = False
        outcome[name] = first or "closed"
        if not ok:
            problems.append("%s: wanted %s, got %r" % (name, want, got[:160]))
        if c.gw.proc.poll() is not None:
            problems.append("gatewayd died on %s" % name)
            break
    assert not problems, "\n".join(problems)
    closed = [n for n, v in outcome.items() if v == "closed"]
    fig("%d raw streams: %s", len(corpus.RAW), ", ".join("%s %s" % (n, v) for n, v in outcome.items()))
    fig("closed without an answer (no complete request to answer): %s", ", ".join(closed) or "none")


@test
def test_pipelined_requests_and_pipelined_garbage(c):
    n = 64
    got = raw_exchange(c.gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * n + b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n", wait=5)
    assert statuses(got) == [200] * (n + 1), statuses(got)[:5]
    got = raw_exchange(c.gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01garbage\x00\xff\r\n\r\n", wait=3)
    sts = statuses(got)
    assert sts[:1] == [200] and all(400 <= s < 500 for s in sts[1:]), sts
    q = c.partners["qiwi"]
    auth = base64.b64encode(("%s:%s" % (q["login"], q["password"])).encode()).decode()
    good = ("GET /v1/osmp?command=check&txn_id=0&account=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
            % (CONTRACT, auth)).encode()
    bad = ("GET /v1/osmp?command=pay&txn_id=5&account=%s&sum=1.00 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n"
           "Connection: close\r\n\r\n" % CONTRACT).encode()
    got = raw_exchange(c.gw.port, good + bad, wait=5)
    assert statuses(got) == [200, 401], got[:300]
    assert got.count(b"<result>0</result>") == 1 and b"<result>8</result>" in got, got
    fig("%d pipelined requests answered in order; garbage after a request: %s; check + unauthenticated pay: 200, 401",
        n + 1, sts)


@test
def test_slowloris_and_slow_bodies_do_not_starve_others(c):
    n_head, n_body = 300, 50
    socks = []
    for i in range(n_head + n_body):
        s = socket.create_connection(("127.0.0.1", c.gw.port), timeout=5)
        if i < n_head:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        else:
            s.sendall(b"POST /v1/osmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 100000\r\n\r\ncommand=")
        socks.append(s)
    stop = [False]

    def trickle():
        while not stop[0]:
            for s in socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            time.sleep(0.3)

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    lat = []
    q = c.partners["qiwi"]
    auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (q["login"], q["password"])).encode()).decode()}
    cl = Client(c.gw.port)
    try:
        t_end = time.time() + 3.0
        while time.time() < t_end:
            for path, h in (("/healthz", {}), ("/v1/osmp?command=check&txn_id=0&account=" + CONTRACT, auth)):
                t0 = time.time()
                st, hd, body = cl.send("GET", path, h, None)
                lat.append(time.time() - t0)
                assert st == 200, (path, st, body)
        peak = fd_count(c)
    finally:
        stop[0] = True
        th.join(5)
        for s in socks:
            s.close()
        cl.close()
    # the server lets go of every connection the clients gave up on
    deadline = time.time() + 10
    while fd_count(c) > c.fds0 + 8 and time.time() < deadline:
        time.sleep(0.1)
    after = fd_count(c)
    assert after <= c.fds0 + 8, (c.fds0, peak, after)
    lat.sort()
    assert lat[int(len(lat) * 0.99)] < 1.0, lat[-5:]
    fig("%d slow-header and %d slow-body connections open: %d requests of others answered, p99 %.1f ms, max %.1f ms; "
        "gatewayd fds %d -> %d at peak -> %d after they closed", n_head, n_body, len(lat),
        lat[int(len(lat) * 0.99)] * 1000, lat[-1] * 1000, c.fds0, peak, after)


@test
def test_still_alive_healthy_and_no_secret_in_the_log(c):
    assert c.gw.proc.poll() is None
    cl = Client(c.gw.port)
    assert cl.send("GET", "/healthz", {}, None)[0] == 200
    assert cl.send("GET", "/readyz", {}, None)[0] == 200
    cl.close()
    c.gw.check_sanitizers()
    log = c.gw.logs()
    secrets = [ADMIN, SANDBOX_SECRET, RBS_KEY, "rbs-password-xyz", "yk-secret-key-xyz"]
    for p in c.partners.values():
        secrets += [v for k, v in p.items() if k in ("password", "hmac_secret")]
    leaked = [s[:6] + "…" for s in secrets if s in log]
    assert not leaked, leaked
    lines = log.splitlines()
    bad = [l for l in lines if l.strip() and not l.startswith("{")]
    for l in lines[:5000]:
        if l.startswith("{"):
            json.loads(l)            # every log line stays one JSON object, whatever the input was
    assert not bad, bad[:3]
    assert c.pg.psql("SELECT count(*) FROM ledger_invariant_violations()") == "0"
    fig("gatewayd alive after the corpus; /healthz and /readyz 200; %d log lines, all JSON; none of %d secrets in "
        "the log; ledger invariant holds", len(lines), len(secrets))


def fig(fmt, *a):
    print("# " + (fmt % a if a else fmt), flush=True)


if __name__ == "__main__":
    suite.run(setup, teardown)
