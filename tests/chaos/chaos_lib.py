"""Shared pieces of the chaos suites (tests/chaos/*.py): a world of accounts and partners in a private
PostgreSQL, clients of the three cash protocols that behave as their networks do (OSMP: result 1, a
timeout or a broken connection -> repeat the very same request later; result 0 -> acknowledged;
Sberbank Online: CODE 1 -> repeat, 0 / 8 -> acknowledged; partner JSON: 503 with Retry-After or a broken
connection -> repeat, 201 / 200 -> acknowledged), a load driver that records every answer, and the
checks every chaos test ends with (the ledger invariant by SQL, one payment per distinct transaction,
every acknowledged transaction booked with the number it was acknowledged with).

Scale: the first command-line argument or CHAOS_SCALE, "short" (what `make test` runs) or "full"
(`make chaos`). Figures are printed as TAP comments ("# ...").
Standard library only (Debian's /usr/bin/python3)."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import partner_creds as creds, Gateway, Postgres, Suite, gatewayd  # noqa: E402,F401


class Ctx:
    """What a chaos suite's prepare() started: c.gw (a Gateway), c.smtp, c.world, set as it goes."""


def teardown(c):
    """Stops what prepare() started, whatever it got to: the gateway, then the mail server, then
    the database of the world."""
    if c:
        if getattr(c, "gw", None):
            c.gw.stop()
        if getattr(c, "smtp", None):
            c.smtp.stop()
        if getattr(c, "world", None):
            c.world.destroy()


def run_suite(suite, prepare):
    """Runs the suite's tests on what prepare(c) starts, and stops all of it at the end, also when
    prepare fails half-way."""
    def setup():
        c = Ctx()
        try:
            prepare(c)
            return c
        except BaseException:
            teardown(c)
            raise
    suite.run(setup, teardown)


def scale():
    s = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CHAOS_SCALE", "short")
    if s not in ("short", "full"):
        raise SystemExit("scale must be short or full, not %r" % s)
    return s


def fig(fmt, *args):
    """A figure of the run, as a TAP comment."""
    print("# " + (fmt % args if args else fmt), flush=True)


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def ms(seconds):
    return "%.1f ms" % (seconds * 1000.0)


# ---- the world: database, accounts, partners -------------------------------------------------------

def contract_of(i):
    return "7%08d" % (i + 1)


class World:
    """A private PostgreSQL with the schema, `accounts` subscribers (contract_of(i)) and one partner per
    protocol (plus a second OSMP network whose txn ids overlap the first one's)."""

    def __init__(self, accounts=20):
        self.pg = Postgres().start()
        try:
            self._populate(accounts)
        except BaseException:
            self.pg.destroy()
            raise

    def _populate(self, accounts):
        self.url = self.pg.url
        rc, out, err = gatewayd(["migrate"], self.url)
        assert rc == 0, err
        self.contracts = [contract_of(i) for i in range(accounts)]
        rows = ",".join("('%s', '+7913%07d', 'Хаос Тест %d', 'active', %d, 60000)" % (c, i, i, 1000 * i)
                        for i, c in enumerate(self.contracts))
        self.pg.psql("INSERT INTO accounts (contract, phone, holder_name, status, balance, monthly_fee) VALUES " + rows)
        self.partners = {}
        for name, proto in (("qiwi", "osmp"), ("cyberplat", "osmp"), ("sber", "sber-online"), ("shop", "json")):
            rc, out, err = gatewayd(["partner", "add", name, "--protocol", proto, "--min", "1.00", "--max", "15000.00"],
                                    self.url)
            assert rc == 0, (rc, out, err)
            c = creds(out)
            c["name"], c["protocol"] = name, proto
            self.partners[name] = c
        self.opening = self.balances()

    def sql(self, q):
        return self.pg.psql(q)

    def balances(self):
        out = self.sql("SELECT contract || ' ' || balance FROM accounts ORDER BY contract")
        return {c: int(b) for c, b in (line.split() for line in out.splitlines())}

    def destroy(self):
        self.pg.destroy()


# ---- the three protocols ---------------------------------------------------------------------------

ADAPTER = {"osmp": "osmp", "sber-online": "sber-online", "json": "partner-json"}


class Txn:
    """One distinct cash transaction of a partner, sent `copies` times (duplicates)."""
    __slots__ = ("partner", "proto", "txn_id", "contract", "kop", "email", "copies", "acks", "lock")

    def __init__(self, partner, txn_id, contract, kop, email=None, copies=1):
        self.partner = partner
        self.proto = partner["protocol"]
        self.txn_id = txn_id
        self.contract = contract
        self.kop = kop
        self.email = email
        self.copies = copies
        self.acks = []          # (number, kind) of every acknowledged copy
        self.lock = threading.Lock()

    @property
    def amount(self):
        return "%d.%02d" % divmod(self.kop, 100)

    @property
    def key(self):
        """The transaction as the database knows it: (adapter, partner login, normalised txn id)."""
        tid = (self.txn_id.lstrip("0") or "0") if self.proto == "osmp" else self.txn_id
        return (ADAPTER[self.proto], self.partner["login"], tid)


def basic(partner):
    return "Basic " + base64.b64encode(("%s:%s" % (partner["login"], partner["password"])).encode()).decode()


def sign(secret, method, target, ts, body=b""):
    msg = ("%s\n%s\n%s\n" % (method, target, ts)).encode() + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def build_request(t, send_id=None):
    """(method, target, body, headers) of a pay / payment request for t. send_id: the txn id as written
    on the wire (OSMP duplicates may carry leading zeros)."""
    p = t.partner
    tid = send_id or t.txn_id
    if t.proto == "osmp":
        q = urllib.parse.urlencode({"command": "pay", "txn_id": tid, "account": t.contract, "sum": t.amount,
                                    "txn_date": time.strftime("%Y%m%d%H%M%S")})
        return "GET", "/v1/osmp?" + q, None, {"Authorization": basic(p)}
    if t.proto == "sber-online":
        q = urllib.parse.urlencode({"ACTION": "payment", "ACCOUNT": t.contract, "AMOUNT": t.amount, "PAY_ID": tid,
                                    "PAY_DATE": time.strftime("%d.%m.%Y_%H:%M:%S")})
        return "GET", "/v1/sber-online?" + q, None, {"Authorization": basic(p)}
    doc = {"txn_id": tid, "contract": t.contract, "amount": t.amount}
    if t.email:
        doc["email"] = t.email
    body = json.dumps(doc).encode()
    ts = str(int(time.time()))
    target = "/v1/partner/payments"
    return "POST", target, body, {"Content-Type": "application/json", "X-Partner-Login": p["login"],
                                  "X-Timestamp": ts, "X-Signature": sign(p["hmac_secret"], "POST", target, ts, body)}


def classify(proto, status, headers, body):
    """(kind, number, detail): kind is ok (booked now), dup (answered as booked before), retry (the
    protocol's retry answer), refused (a final refusal in the protocol's own terms) or bad (a 5xx or an
    answer the protocol does not allow)."""
    if proto == "json":
        if status in (200, 201):
            try:
                doc = json.loads(body)
                return ("ok" if status == 201 else "dup"), int(doc["number"]), status
            except (ValueError, KeyError, TypeError):
                return "bad", None, "unparsable %d: %r" % (status, body[:120])
        if status == 503 and headers.get("retry-after"):
            return "retry", None, 503
        if 400 <= status < 500:
            return "refused", None, "%d %s" % (status, body[:160])
        return "bad", None, "%d %r" % (status, body[:200])
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "bad", None, "not XML (%d): %r" % (status, body[:200])
    if not headers.get("content-type", "").startswith("text/xml"):
        return "bad", None, "content type %r" % headers.get("content-type")
    if proto == "osmp":
        res = root.findtext("result")
        if status != 200 or res is None or not res.isdigit():
            return ("refused" if status in (401, 403) else "bad"), None, "%d %r" % (status, body[:200])
        code = int(res)
        if code == 0:
            return "ok", int(root.findtext("prv_txn")), 0
        if code == 1:
            return "retry", None, 1
        return "refused", None, "result %d: %s" % (code, root.findtext("comment"))
    code = root.findtext("CODE")
    if status != 200 or code is None or not code.isdigit():
        return ("refused" if status in (401, 403) else "bad"), None, "%d %r" % (status, body[:200])
    code = int(code)
    if code in (0, 8):
        return ("ok" if code == 0 else "dup"), int(root.findtext("EXT_ID")), code
    if code == 1:
        return "retry", None, 1
    return "refused", None, "CODE %d: %s" % (code, root.findtext("MESSAGE"))


class Conn:
    """One keep-alive HTTP connection to the gateway (reopened after any error)."""

    def __init__(self, port, timeout=10.0):
        self.port, self.timeout, self.c = port, timeout, None

    def close(self):
        if self.c:
            self.c.close()
        self.c = None

    def request(self, method, target, body=None, headers=None):
        if self.c is None:
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.c.request(method, target, body=body, headers=headers or {})
            r = self.c.getresponse()
            data = r.read()
            hdrs = dict((k.lower(), v) for k, v in r.getheaders())
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return r.status, hdrs, data
        except BaseException:
            self.close()
            raise


class Stats:
    """Every exchange of a load run: (t_start, t_end, proto, kind, detail)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.problems = []

    def add(self, *ev):
        with self.lock:
            self.events.append(ev)

    def problem(self, msg):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(msg)

    def count(self, kind=None, since=None, until=None):
        return sum(1 for e in self.events if (kind is None or e[3] == kind) and (since is None or e[0] >= since)
                   and (until is None or e[1] <= until))

    def latencies(self, kinds=("ok", "dup"), since=None, until=None, proto=None):
        return [e[1] - e[0] for e in self.events if e[3] in kinds and (since is None or e[0] >= since)
                and (until is None or e[0] < until) and (proto is None or e[2] == proto)]


def send_until_acknowledged(conn, t, stats, deadline, send_id=None, retry_delay=(0.05, 0.25), on_answer=None):
    """Sends t (one copy) until the protocol acknowledges it, as the network would; returns
    (number, kind) or None when the deadline passed first. Every exchange is recorded in stats."""
    while time.time() < deadline:
        method, target, body, headers = build_request(t, send_id)
        t0 = time.time()
        try:
            status, hdrs, data = conn.request(method, target, body, headers)
        except (OSError, http.client.HTTPException) as e:
            t1 = time.time()
            stats.add(t0, t1, t.proto, "neterr", type(e).__name__)
            if on_answer:
                on_answer(t0, t1, t, "neterr", None, type(e).__name__)
            time.sleep(random.uniform(*retry_delay))
            continue
        t1 = time.time()
        kind, number, detail = classify(t.proto, status, hdrs, data)
        stats.add(t0, t1, t.proto, kind, detail)
        if on_answer:
            on_answer(t0, t1, t, kind, number, detail)
        if kind in ("ok", "dup"):
            with t.lock:
                t.acks.append((number, kind))
            return number, kind
        if kind == "retry":
            time.sleep(random.uniform(*retry_delay))
            continue
        stats.problem("%s %s copy answered %s: %s" % (t.proto, t.txn_id, kind, detail))
        return None
    stats.problem("%s %s: not acknowledged before the deadline" % (t.proto, t.txn_id))
    return None


def make_txns(world, n, rng, dup_share=0.5, max_copies=4, mix=(("qiwi", 4), ("cyberplat", 1), ("sber", 2), ("shop", 2)),
              emails=False, prefix=None):
    """n distinct transactions over the world's partners; a dup_share of them are sent 2..max_copies
    times. OSMP txn ids of the two networks overlap on purpose (they are different payments)."""
    prefix = prefix or str(int(time.time() * 1000) % 10**9)
    weights = [w for _, w in mix]
    names = [nm for nm, _ in mix]
    txns = []
    for i in range(n):
        p = world.partners[rng.choices(names, weights)[0]]
        if p["protocol"] == "osmp":
            tid = "%s%05d" % (prefix, i // 2)      # both OSMP networks use the same ids
        elif p["protocol"] == "sber-online":
            tid = "S-%s-%d" % (prefix, i)
        else:
            tid = "J:%s.%d" % (prefix, i)
        copies = rng.randint(2, max_copies) if rng.random() < dup_share else 1
        email = ("payer%d@example.com" % i) if emails and p["protocol"] == "json" else None
        txns.append(Txn(p, tid, rng.choice(world.contracts), rng.randint(100, 99999), email, copies))
    # OSMP ids must be unique per network: drop a clash of the same network
    seen, out = set(), []
    for t in txns:
        if t.key in seen:
            continue
        seen.add(t.key)
        out.append(t)
    return out


class Feed:
    """New transactions for the clients until stopped; copies of a duplicated transaction are handed to
    the next callers, so they are in flight at the same time."""

    def __init__(self, world, rng, mix=(("qiwi", 4), ("cyberplat", 1), ("sber", 2), ("shop", 2)), emails=False,
                 dup_share=0.3):
        self.world, self.rng = world, rng
        self.names = [n for n, _ in mix]
        self.weights = [w for _, w in mix]
        self.emails, self.dup_share = emails, dup_share
        self.lock = threading.Lock()
        self.pending = []
        self.txns = []
        self.stopped = False
        self.seq = 0
        self.prefix = str(int(time.time() * 10) % 10**8)

    def next(self):
        with self.lock:
            if self.pending:
                return self.pending.pop()
            if self.stopped:
                return None
            self.seq += 1
            p = self.world.partners[self.rng.choices(self.names, self.weights)[0]]
            tid = {"osmp": "%s%07d", "sber-online": "K-%s-%d", "json": "K:%s.%d"}[p["protocol"]] % (
                self.prefix, self.seq)
            copies = self.rng.randint(2, 3) if self.rng.random() < self.dup_share else 1
            email = "payer%d@example.com" % self.seq if self.emails and p["protocol"] == "json" else None
            t = Txn(p, tid, self.rng.choice(self.world.contracts), self.rng.randint(100, 50000), email, copies)
            self.txns.append(t)
            self.pending.extend([t] * (copies - 1))
            return t


def feed_clients(port, feed, stats, deadline, n, timeout=10.0, pause=0.0, **send):
    """n client threads (started) that each take transactions from feed until it is stopped and send
    every one until it is acknowledged (send_until_acknowledged's keywords in send)."""
    def client():
        conn = Conn(port, timeout=timeout)
        while True:
            t = feed.next()
            if t is None:
                break
            send_until_acknowledged(conn, t, stats, deadline, **send)
            if pause:
                time.sleep(pause)
        conn.close()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    for th in threads:
        th.start()
    return threads


def work_items(txns, rng, zero_pad=True):
    """Every copy of every transaction, shuffled; an OSMP duplicate may carry leading zeros (the same
    transaction to the protocol). Copies of a transaction are kept close so they run concurrently."""
    items = []
    for t in txns:
        for k in range(t.copies):
            send = t.txn_id
            if zero_pad and k > 0 and t.proto == "osmp" and rng.random() < 0.3:
                send = "00" + t.txn_id
            items.append((t, send))
    # shuffle in windows: copies of one txn land within a few positions of each other
    rng.shuffle(items)
    items.sort(key=lambda it: (hash(it[0].key) % 97, rng.random()))
    chunks = [items[i:i + 64] for i in range(0, len(items), 64)]
    rng.shuffle(chunks)
    return [it for ch in chunks for it in ch]


def run_load(port, items, threads, stats, deadline, retry_delay=(0.05, 0.25), timeout=10.0, on_answer=None):
    """Runs the work items on `threads` client threads (each with its own keep-alive connection)."""
    lock = threading.Lock()
    pos = [0]

    def worker():
        conn = Conn(port, timeout)
        while True:
            with lock:
                if pos[0] >= len(items):
                    break
                t, send = items[pos[0]]
                pos[0] += 1
            send_until_acknowledged(conn, t, stats, deadline, send, retry_delay, on_answer)
        conn.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join(max(1.0, deadline - time.time() + 30))
    assert not any(th.is_alive() for th in ts), "client threads did not finish"


# ---- the checks after every chaos test -------------------------------------------------------------

def verify_books(world, txns, stats, require_all_acked=True):
    """The ledger invariant by SQL; one payment per distinct transaction with the right account and
    amount; every acknowledged copy answered with the number of that one payment. Returns figures."""
    viol = world.sql("SELECT count(*) FROM ledger_invariant_violations()")
    assert viol == "0", "ledger invariant violated:\n" + world.sql(
        "SELECT problem || ': ' || detail FROM ledger_invariant_violations() LIMIT 10")
    rows = world.sql("SELECT p.adapter || '|' || pa.login || '|' || p.provider_txn_id || '|' || p.number || '|' || "
                     "p.amount || '|' || a.contract || '|' || p.status FROM payments p JOIN accounts a ON a.id = p.account_id "
                     "JOIN partners pa ON pa.id = p.partner_id")
    booked = {}
    for line in rows.splitlines():
        adapter, login, tid, number, amount, contract, status = line.split("|")
        key = (adapter, login, tid)
        assert key not in booked, "two payments for %r" % (key,)
        booked[key] = (int(number), int(amount), contract, status)
    problems = list(stats.problems)
    acked = dup_answers = 0
    for t in txns:
        b = booked.get(t.key)
        if t.acks:
            acked += 1
            if b is None:
                problems.append("%r acknowledged as %s but not booked" % (t.key, t.acks))
                continue
            numbers = {n for n, _ in t.acks}
            if numbers != {b[0]}:
                problems.append("%r answered with numbers %s, booked as %d" % (t.key, sorted(numbers), b[0]))
            if (b[1], b[2], b[3]) != (t.kop, t.contract, "succeeded"):
                problems.append("%r booked as %r, sent %d to %s" % (t.key, b, t.kop, t.contract))
            dup_answers += len(t.acks) - 1
        elif require_all_acked:
            problems.append("%r never acknowledged" % (t.key,))
    ours = {t.key for t in txns}
    extra = [k for k in booked if k not in ours]
    if extra:
        problems.append("payments nobody sent: %r" % extra[:5])
    # balances: opening + everything booked
    now = world.balances()
    want = dict(world.opening)
    for key, (number, amount, contract, status) in booked.items():
        want[contract] += amount
    if now != want:
        bad = [c for c in now if now[c] != want[c]]
        problems.append("balances differ from opening + payments on %s" % bad[:5])
    receipts = world.sql("SELECT count(*) FROM receipts r JOIN payments p ON p.id = r.payment_id WHERE p.partner_id IS NOT NULL")
    if int(receipts) != len(booked):
        problems.append("%s receipts for %d payments" % (receipts, len(booked)))
    assert not problems, "\n".join(problems[:20])
    return {"distinct": len(txns), "acked": acked, "booked": len(booked), "dup_answers": dup_answers,
            "copies": sum(t.copies for t in txns)}


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def wait_http(port, path="/healthz", want=200, timeout=15.0):
    """Seconds until GET path answers want (raises after timeout)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == want:
                c.close()
                return time.time() - t0
            c.close()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.02)
    raise AssertionError("GET %s did not answer %d within %.0fs" % (path, want, timeout))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
