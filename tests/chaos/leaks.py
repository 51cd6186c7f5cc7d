#!/usr/bin/python3
"""Leaks under load: a gatewayd serves a few thousand mixed requests — web lookups, web payments paid
on the sandbox's hosted page (its signed notification, the settlement, the receipt mailed over SMTP),
payment status, receipts as JSON and HTML, the internal API, OSMP / Sber Online / partner JSON pays
with duplicates, registries, a slice of the hostile corpus — and a database outage in the middle (the
pool's reconnect and error paths), then stops with SIGTERM. Checked by
  - LeakSanitizer: a gatewayd built with ASan + UBSan (`make BUILD=build/asan SAN=1 all`) reports
    nothing at exit (any sanitizer report in its log fails the test), and
  - valgrind --leak-check=full on the normal build: no definitely or indirectly lost block, no error;
plus the resident set size of the second half of the load against the first (a leak grows it).

    tests/chaos/leaks.py [short|full] [asan|valgrind|both]
short: valgrind on $BUILD/gatewayd (or LeakSanitizer when $BUILD is itself a sanitizer build, as under
`make asan`), ~600 requests; full (`make chaos`): both, ~5000 requests under ASan."""
import base64
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

from chaos_lib import (Conn, Gateway, Suite, Txn, World, build_request, classify, fig, harness, run_suite,
                       scale)
from smtp_server import SMTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
import corpus  # noqa: E402

SCALE = scale()
TOOL = sys.argv[2] if len(sys.argv) > 2 else None
SECRET = "leaks-sandbox-secret-0123456789"
ADMIN = "leaks-admin-token-0123456789abcdef"
ASAN_GATEWAYD = os.path.join(harness.ROOT, "build", "asan", "gatewayd")

suite = Suite()
test = suite.test


def is_sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"AddressSanitizer" in f.read()
    except OSError:
        return False


def tools():
    if TOOL in ("asan", "valgrind"):
        return [TOOL]
    if TOOL == "both" or SCALE == "full":
        return ["asan", "valgrind"]
    return ["asan"] if is_sanitized(harness.GATEWAYD) else ["valgrind"]


class ToolGateway(Gateway):
    """A Gateway run under valgrind, or from another binary; start() waits longer (valgrind is slow)."""

    def __init__(self, db_url, binary, valgrind_log=None, **env):
        super().__init__(db_url, **env)
        self.binary, self.valgrind_log = binary, valgrind_log

    def start(self, wait=True):
        cmd = [self.binary, "serve"]
        if self.valgrind_log:
            cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99", "--num-callers=40",
                   "--log-file=" + self.valgrind_log] + cmd
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gatewayd exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if self.request("GET", "/healthz", timeout=5)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gatewayd did not answer /healthz:\n" + self.logs())


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def prepare(c):
    c.world = World(accounts=6)
    c.world.sql("UPDATE accounts SET email = 'acc@example.com'")
    c.smtp = SMTPServer().start()


class Load:
    """The mixed requests; counts what it sent."""

    def __init__(self, c, gw, rng):
        self.c, self.gw, self.rng = c, gw, rng
        self.conn = Conn(gw.port, timeout=60)
        self.counts = {}
        self.keyn = 0
        self.prefix = "%d%d" % (os.getpid() % 1000, int(time.time()) % 100000)
        self.tokens = []
        self.numbers = []

    def req(self, kind, method, target, body=None, headers=None):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict({"Content-Type": "application/json"}, **(headers or {}))
        try:
            st, h, data = self.conn.request(method, target, body, headers or {})
        except OSError as e:
            raise AssertionError("%s %s: %r" % (method, target, e))
        assert st < 500 or (st == 503 and h.get("retry-after")) or kind.startswith("outage"), (kind, st, data[:200])
        return st, h, data

    def web_payment(self):
        self.keyn += 1
        contract = self.rng.choice(self.c.world.contracts)
        st, h, d = self.req("web create", "POST", "/v1/payments",
                            {"account": {"contract": contract}, "amount": "%d.00" % self.rng.randint(10, 900),
                             "method": "card", "email": "payer%d@example.com" % self.keyn,
                             "return_url": "http://127.0.0.1/pay/result"},
                            {"Idempotency-Key": "leak-key-%s-%06d" % (self.prefix, self.keyn)})
        if st != 201:
            return
        doc = json.loads(d)
        u = urllib.parse.urlsplit(doc["confirmation_url"])
        self.req("sandbox page", "GET", u.path + "?" + u.query)
        form = dict(urllib.parse.parse_qsl(u.query))
        card = "4000 0000 0000 0002" if self.rng.random() < 0.2 else "4111 1111 1111 1111"
        form.update({"card": card, "exp": "12/39", "cvc": "123", "action": "pay"})
        self.req("sandbox pay", "POST", "/sandbox/pay", urllib.parse.urlencode(form).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded"})
        st, h, d = self.req("web status", "GET", "/v1/payments/" + doc["id"])
        p = json.loads(d)
        if p.get("receipt"):
            self.tokens.append(p["receipt"]["url"].rsplit("/", 1)[1])
            self.numbers.append(p["receipt"]["number"])
        self.req("web replay", "POST", "/v1/payments", {"account": {"contract": contract}, "amount": "1.00",
                                                         "method": "card", "email": "x@example.com",
                                                         "return_url": "http://127.0.0.1/pay/result"},
                 {"Idempotency-Key": "leak-key-%s-%06d" % (self.prefix, self.keyn)})

    def cash(self, name, copies=2):
        self.keyn += 1
        p = self.c.world.partners[name]
        tid = {"osmp": "%s%06d", "sber-online": "L-%s-%d", "json": "L:%s.%d"}[p["protocol"]] % (self.prefix, self.keyn)
        t = Txn(p, tid, self.rng.choice(self.c.world.contracts), self.rng.randint(100, 90000),
                "cash%d@example.com" % self.keyn if p["protocol"] == "json" else None)
        for _ in range(copies):
            st, h, d = self.req("pay " + p["protocol"], *build_request(t))
            kind, number, detail = classify(t.proto, st, h, d)
            assert kind in ("ok", "dup", "retry"), (kind, detail)
        if p["protocol"] == "json":
            self.signed("partner get", "GET", "/v1/partner/payments/" + urllib.parse.quote(tid))

    def signed(self, kind, method, target, body=b""):
        p = self.c.world.partners["shop"]
        ts = str(int(time.time()))
        sig = hmac.new(p["hmac_secret"].encode(), ("%s\n%s\n%s\n" % (method, target, ts)).encode() + body,
                       hashlib.sha256).hexdigest()
        return self.req(kind, method, target, body or None, {"X-Partner-Login": p["login"], "X-Timestamp": ts,
                                                              "X-Signature": sig})

    def checks(self):
        q = self.c.world.partners["qiwi"]
        auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (q["login"], q["password"])).encode()).decode()}
        contract = self.rng.choice(self.c.world.contracts)
        self.req("osmp check", "GET", "/v1/osmp?command=check&txn_id=0&account=" + contract, None, auth)
        s = self.c.world.partners["sber"]
        sauth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (s["login"], s["password"])).encode()).decode()}
        self.req("sber check", "GET", "/v1/sber-online?ACTION=check&ACCOUNT=" + contract, None, sauth)
        self.req("lookup", "GET", "/v1/accounts/lookup?contract=" + contract)
        self.req("lookup", "GET", "/v1/accounts/lookup?phone=%2B7913" + "%07d" % self.rng.randint(0, 9))
        self.req("lookup", "GET", "/v1/accounts/lookup?contract=99999")

    def receipts(self):
        if not self.tokens:
            return
        tok = self.rng.choice(self.tokens)
        self.req("receipt json", "GET", "/v1/receipts/" + tok)
        self.req("receipt html", "GET", "/v1/receipts/" + tok, None, {"Accept": "text/html"})
        num = self.rng.choice(self.numbers)
        admin = {"Authorization": "Bearer " + ADMIN}
        self.req("internal receipts", "GET", "/v1/internal/receipts?number=" + num, None, admin)
        if self.rng.random() < 0.3:
            self.req("resend", "POST", "/v1/internal/receipts/%s/resend" % num, {"email": "again@example.com"}, admin)

    def misc(self):
        for path in ("/healthz", "/readyz", "/metrics", "/version", "/v1/payment-methods", "/pay", "/pay/result"):
            self.req("misc", "GET", path)
        self.signed("registry", "GET", "/v1/partner/registry?date=" + time.strftime("%Y-%m-%d"))
        self.req("internal account", "POST", "/v1/internal/accounts",
                 {"contract": "88800%04d" % (self.keyn % 10000), "holder_name": "Утечка Проверка", "balance": "10.00"},
                 {"Authorization": "Bearer " + ADMIN})

    def hostile(self, n):
        cases = []
        for method, pattern in corpus.routes():
            cs = corpus.route_cases(method, pattern)
            cases += self.rng.sample(cs, min(len(cs), max(1, n // 25)))
        for case in cases[:n]:
            if case["body"] is not None and len(case["body"]) > 100000:
                continue
            self.req("hostile", case["method"], case["path"], case["body"], case["headers"])

    def round(self):
        self.web_payment()
        for name in ("qiwi", "cyberplat", "sber", "shop"):
            self.cash(name, copies=self.rng.randint(1, 3))
        self.checks()
        self.receipts()

    def total(self):
        return sum(self.counts.values())


def run_load(c, gw, rounds):
    rng = random.Random(5)
    load = Load(c, gw, rng)
    rss = [rss_kb(gw.proc.pid)]
    load.misc()
    load.hostile(max(50, rounds * 2))
    for i in range(rounds // 2):
        load.round()
    rss.append(rss_kb(gw.proc.pid))
    # a database outage: the pool loses its connections and reconnects
    c.world.pg.stop()
    for _ in range(10):
        load.req("outage lookup", "GET", "/v1/accounts/lookup?contract=" + c.world.contracts[0])
        st, h, d = load.req("outage osmp", *build_request(Txn(c.world.partners["qiwi"], "9%s" % load.prefix,
                                                                c.world.contracts[0], 100)))
    c.world.pg.start()
    deadline = time.time() + 30
    while load.req("outage readyz", "GET", "/readyz")[0] != 200 and time.time() < deadline:
        time.sleep(0.1)
    for i in range(rounds - rounds // 2):
        load.round()
    load.misc()
    rss.append(rss_kb(gw.proc.pid))
    load.conn.close()
    return load, rss


def mail_drained(c, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if c.world.sql("SELECT count(*) FROM receipts WHERE state IN ('pending', 'sending')") == "0":
            return True
        time.sleep(0.2)
    return False


def env():
    return dict(GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SECRET, GATEWAY_ADMIN_TOKEN=ADMIN,
                GATEWAY_LOOKUP_RATE=100000, GATEWAY_LOOKUP_BURST=100000, GATEWAY_DB_TIMEOUT_MS=1000,
                GATEWAY_MAIL_STARTTLS="off", GATEWAY_MAIL_RETRY_BASE_MS=200, GATEWAY_MAIL_RETRY_MAX_MS=1000,
                GATEWAY_LOG_LEVEL="warn", GATEWAY_JANITOR_INTERVAL=1, GATEWAY_PENDING_RECHECK=1)


def start(c, binary, valgrind_log=None, asan_stats=False):
    gw = ToolGateway(c.world.url, binary, valgrind_log, GATEWAY_MAIL_URL=c.smtp.url, **env())
    if asan_stats:
        # atexit=1: ASan prints its statistics from the exit path LeakSanitizer runs in — proof it ran
        opts = gw.env.get("ASAN_OPTIONS", "")
        gw.env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=1:atexit=1"
    gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % gw.port
    gw.env["GATEWAY_RETURN_HOSTS"] = "127.0.0.1"
    return gw.start()


@test
def test_no_leak_under_load(c):
    ran = []
    for tool in tools():
        if tool == "asan":
            binary = harness.GATEWAYD if is_sanitized(harness.GATEWAYD) else ASAN_GATEWAYD
            assert is_sanitized(binary), "no ASan build at %s: run `make BUILD=build/asan SAN=1 all`" % binary
            rounds = {"short": 60, "full": 400}[SCALE]
            gw = start(c, binary, asan_stats=True)
        else:
            assert shutil.which("valgrind"), "valgrind is not installed (deploy/dev/deps.sh test)"
            binary = harness.GATEWAYD
            assert not is_sanitized(binary), "valgrind cannot run a sanitizer build"
            rounds = {"short": 25, "full": 80}[SCALE]
            vlog = os.path.join(harness.BUILD, "test-logs", "valgrind-gatewayd-%d.log" % os.getpid())
            gw = start(c, binary, vlog)
        t0 = time.time()
        try:
            load, rss = run_load(c, gw, rounds)
            drained = mail_drained(c, 60 if tool == "valgrind" else 20)
        finally:
            gw.proc.send_signal(signal.SIGTERM)
            try:
                rc = gw.proc.wait(180)
            except subprocess.TimeoutExpired:
                gw.proc.kill()
                rc = gw.proc.wait()
        elapsed = time.time() - t0
        gw.check_sanitizers()
        assert drained, "receipts still waiting for the mailer"
        summary = ""
        if tool == "valgrind":
            text = open(vlog, encoding="utf-8", errors="replace").read()
            lost = {k: re.search(r"%s lost: ([\d,]+) bytes in ([\d,]+) blocks" % k, text) for k in
                    ("definitely", "indirectly", "possibly")}
            errs = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            assert rc == 0 and errs and errs.group(1) == "0", "valgrind (exit %s):\n%s" % (rc, text[-6000:])
            summary = "; ".join("%s lost %s bytes" % (k, m.group(1) if m else "0") for k, m in lost.items()) + \
                      "; ERROR SUMMARY 0 errors (log %s)" % os.path.relpath(vlog, harness.ROOT)
        else:
            assert rc == 0, "gatewayd exit %s:\n%s" % (rc, gw.logs()[-4000:])
            stats = re.search(r"Stats: (\d+)M malloced", gw.logs())
            assert stats, "ASan's exit statistics are missing: the exit path (and LeakSanitizer) did not run"
            summary = "LeakSanitizer and UBSan silent at exit (exit path ran: ASan stats %sM malloced), exit 0" % \
                      stats.group(1)
        assert c.world.sql("SELECT count(*) FROM ledger_invariant_violations()") == "0"
        growth = rss[2] - rss[1]
        fig("%s: %d requests (%s) in %.1fs, a database outage included", tool, load.total(),
            ", ".join("%s %d" % kv for kv in sorted(load.counts.items())), elapsed)
        fig("%s: %s; RSS %d -> %d -> %d KiB (first half of the load, second half: %+d KiB)", tool, summary, rss[0],
            rss[1], rss[2], growth)
        ran.append(tool)
    assert ran


if __name__ == "__main__":
    run_suite(suite, prepare)
