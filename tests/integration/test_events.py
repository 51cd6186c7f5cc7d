"""Events for the billing system and the personal cabinet: one event per change of money or status,
written in the transaction of the change; the ordered feed (never skips an event committed late —
proved with transactions that commit out of order on purpose); signed webhooks delivered in order,
at least once, the events waiting together in one POST, through a receiver that is down, answers
500, is slow or answers too late, across a kill -9 of the gateway and with two gateways sharing one
endpoint; given-up deliveries listed and replayed, an event the receiver refuses given up alone;
signatures checked by an independent implementation (Python's hmac, in the reference consumer),
which refuses a tampered body."""
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from harness import PSQL, Gateway, Postgres, Suite, error_of, gatewayd, record_webhook, wait_for

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_consumer as rc  # noqa: E402

suite = Suite()
test = suite.test
ADMIN = "events-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + ADMIN}
SECRET = "events-webhook-secret-0123456789"
SECRET2 = "events-other-endpoint-secret-98765"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.n = 0
    c.gws = []
    return c


def teardown(c):
    if c:
        for g in c.gws:
            g.stop()
        c.pg.destroy()


def fresh_db(c, name):
    url = c.pg.create_db(name)
    rc_, out, err = gatewayd(["migrate"], url)
    assert rc_ == 0, err
    return url


def gateway(c, url, **env):
    e = dict(GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET="events-sandbox-secret-0123",
             GATEWAY_WEBHOOK_TIMEOUT_MS="1000", GATEWAY_WEBHOOK_RETRY_MAX_MS="1500")
    e.update(env)
    g = Gateway(url, **e)
    c.gws.append(g)
    return g.start()


def q(c, url, sql):
    return c.pg.psql(sql, url=url)


def account(c, url, balance=0, monthly_fee=0):
    c.n += 1
    contract = "55%07d" % c.n
    q(c, url, "INSERT INTO accounts (contract, holder_name, balance, monthly_fee) VALUES ('%s', 'Абонент', %d, %d)"
      % (contract, balance, monthly_fee))
    return contract


def book_sql(c, contract, amount, email="NULL"):
    c.n += 1
    return ("SELECT (book_payment('terminal', 'osmp', NULL, 'ev-%d-%d', '%s', %d, 'cash', %s, now(), "
            "md5(random()::text) || md5(random()::text), '{}')).result;" % (os.getpid(), c.n, contract, amount, email))


def feed_all(g, after=None, limit=100, types=None, want=0):
    """Every event of the feed after `after`, page by page: (events, the cursor at the end). With
    want, reads again until at least that many came (a commit shows in the feed with the next tick,
    which is at most 100 ms after the last one)."""
    deadline = time.time() + 60
    while True:
        out, cur = feed_pages(g, after, limit, types)
        if len(out) >= want or time.time() > deadline:
            return out, cur
        time.sleep(0.05)


def feed_pages(g, after, limit, types):
    out, cur = [], after
    for _ in range(10000):
        path = "/v1/internal/events?limit=%d" % limit + ("&after=" + cur if cur else "") + \
               ("&types=" + types if types else "")
        st, h, d = g.json("GET", path, headers=AUTH)
        assert st == 200, d
        out += d["events"]
        cur = d["next_cursor"]
        if not d["has_more"]:
            return out, cur
    raise AssertionError("the feed did not end")


def db_events(c, url):
    out = q(c, url, "SELECT id FROM events ORDER BY id")
    return [int(x) for x in out.split()]


def gateway_balances(c, url):
    out = q(c, url, "SELECT contract, balance FROM accounts")
    return {k: int(v) for k, v in (line.split("|") for line in out.splitlines() if line)}


def metric(g, name, labels=""):
    st, h, body = g.request("GET", "/metrics")
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), body.decode(), re.M)
    return float(m.group(1)) if m else None


class Session:
    """A psql session whose transactions the test opens and commits when it likes."""

    def __init__(self, url):
        self.p = subprocess.Popen([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, sql):
        self.p.stdin.write(sql + "\n\\echo __done__\n")
        self.p.stdin.flush()
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError("psql ended: " + " ".join(lines))
            if line.strip() == "__done__":
                return lines
            lines.append(line.strip())

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


class Load:
    """Bookings (and now and then an adjustment) in the background, one transaction each."""

    def __init__(self, c, url, contracts, pause=0.01):
        self.stop_ = threading.Event()
        self.s = Session(url)
        self.c, self.contracts, self.pause, self.n = c, contracts, pause, 0
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop_.is_set():
            k = random.choice(self.contracts)
            if self.n % 7 == 3:
                self.s.run("SELECT (adjust_balance('%s', -%d, 'correction')).result;" % (k, random.randint(1, 500)))
            else:
                self.s.run(book_sql(self.c, k, random.randint(100, 100000)))
            self.n += 1
            time.sleep(self.pause)

    def stop(self):
        self.stop_.set()
        self.t.join(30)
        self.s.close()
        return self.n


# ---- the events ------------------------------------------------------------------------------------

@test
def test_every_change_writes_its_event_in_the_same_transaction(c):
    url = fresh_db(c, "ev_kinds")
    g = gateway(c, url)
    k = account(c, url)
    assert q(c, url, book_sql(c, k, 30000)) == "booked"
    st, h, d = g.json("POST", "/v1/internal/charges", {"charge_id": "tv-1", "contract": k, "amount": "50.00",
                                                       "description": "Пакет ТВ"}, AUTH)
    assert st == 201, d
    q(c, url, "SELECT adjust_balance('%s', -700, 'перерасчёт')" % k)
    q(c, url, "UPDATE accounts SET status = 'suspended' WHERE contract = '%s'" % k)   # the operator's
    # a change that rolls back leaves no event
    q(c, url, "BEGIN; %s ROLLBACK;" % book_sql(c, k, 100))
    evs, end = feed_all(g, want=4)
    types = [e["type"] for e in evs]
    assert types == ["payment.succeeded", "account.charged", "account.adjusted", "account.suspended"], types
    pay = evs[0]["data"]
    assert pay["contract"] == k and pay["amount"] == "300.00" and pay["amount_kopecks"] == 30000, pay
    assert pay["balance_after_kopecks"] == 30000 and pay["balance_after"] == "300.00" and pay["channel"] == "terminal"
    assert re.match(r"^\d{4}-\d{6}$", pay["receipt_number"]) and pay["payment_number"] >= 1, pay
    ch = evs[1]["data"]
    assert ch["kind"] == "charge" and ch["charge_id"] == "tv-1" and ch["delta_kopecks"] == -5000, ch
    assert ch["balance_after_kopecks"] == 25000 and ch["description"] == "Пакет ТВ", ch
    assert evs[2]["data"]["delta_kopecks"] == -700 and evs[2]["data"]["balance_after"] == "243.00", evs[2]
    assert evs[3]["data"]["status"] == "suspended" and evs[3]["data"]["cause"] == "operator", evs[3]
    for e in evs:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", e["created_at"]), e
        assert re.match(r"^\d+-\d+$", e["cursor"]) and e["id"] > 0, e
    # every ledger row since events began has its event
    assert q(c, url, "SELECT count(*) FROM event_invariant_violations()") == "0"
    # the daily fee run: one account.charged per fee line, and the suspension below the threshold
    k2 = account(c, url, balance=100, monthly_fee=31000)     # from the start: a fee set today counts from today
    day = q(c, url, "SELECT (now() AT TIME ZONE 'Europe/Moscow')::date - 1")
    rc_, out, err = gatewayd(["charge", "--date", day], url, env={"GATEWAY_SUSPEND_BELOW": "0"})
    assert rc_ == 0, err
    evs2, end2 = feed_all(g, after=end, want=2)
    mine = [(e["type"], e["data"].get("kind")) for e in evs2 if e["data"].get("contract") == k2]
    assert mine == [("account.charged", "fee"), ("account.suspended", None)], mine
    assert [e for e in evs2 if e["data"].get("contract") == k2][0]["data"]["fee_day"] == day
    # a top-up brings it back: payment.succeeded, then account.reactivated
    assert q(c, url, book_sql(c, k2, 5000)) == "booked"
    evs3, _ = feed_all(g, after=end2, want=2)
    assert [e["type"] for e in evs3] == ["payment.succeeded", "account.reactivated"], evs3
    assert q(c, url, "SELECT count(*) FROM event_invariant_violations()") == "0"


@test
def test_the_feed_pages_filters_and_refuses_bad_cursors(c):
    url = fresh_db(c, "ev_feed")
    g = gateway(c, url)
    ks = [account(c, url) for _ in range(3)]
    for i in range(25):
        q(c, url, book_sql(c, ks[i % 3], 100 + i))
        if i % 5 == 0:
            q(c, url, "SELECT adjust_balance('%s', 10, 'x')" % ks[0])
    whole, end = feed_all(g, limit=1000, want=30)
    assert len(whole) == 30 and [e["id"] for e in whole] == db_events(c, url), whole
    paged, end2 = feed_all(g, limit=4)
    assert [e["id"] for e in paged] == [e["id"] for e in whole] and end2 == end
    adj, _ = feed_all(g, limit=2, types="account.adjusted")
    assert [e["id"] for e in adj] == [e["id"] for e in whole if e["type"] == "account.adjusted"] and len(adj) == 5
    # from a cursor in the middle: the rest, exactly
    mid = whole[11]["cursor"]
    rest, _ = feed_all(g, after=mid, limit=7)
    assert [e["id"] for e in rest] == [e["id"] for e in whole[12:]]
    # at the end: nothing, the same position, no more
    st, h, d = g.json("GET", "/v1/internal/events?after=" + end, headers=AUTH)
    assert st == 200 and d["events"] == [] and d["next_cursor"] == end and d["has_more"] is False, d
    for path, code in (("?after=abc", "invalid_cursor"), ("?after=1-", "invalid_cursor"),
                       ("?after=999999-1", "unknown_cursor"), ("?limit=0", "invalid_limit"),
                       ("?limit=1001", "invalid_limit"), ("?types=payment", "invalid_types"),
                       ("?types=Payment.succeeded", "invalid_types"), ("?after=1-1&after=1-2", "bad_query")):
        st, h, d = g.json("GET", "/v1/internal/events" + path, headers=AUTH)
        assert st == 400 and error_of(d)[0] == code, (path, st, d)
    st, h, d = g.json("GET", "/v1/internal/events")
    assert st == 401, d
    # the reference consumer, run as the README shows, reads the whole feed into its billing table
    db = os.path.join(tempfile.mkdtemp(prefix="gw-billing-"), "billing.sqlite")

    def billing_rows(sql):
        if not os.path.exists(db):
            return []
        con = sqlite3.connect(db, timeout=30)
        try:
            return con.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []                                      # not created yet
        finally:
            con.close()
    p = subprocess.Popen(["/usr/bin/python3", rc.__file__, "--feed", "http://127.0.0.1:%d" % g.port, "--db", db],
                         env=dict(os.environ, GATEWAY_ADMIN_TOKEN=ADMIN))
    try:
        wait_for(lambda: len(billing_rows("SELECT event_id FROM applied")) == 30, 60, "the consumer's 30 events")
    finally:
        p.kill()
        p.wait()
    mine = dict(billing_rows("SELECT contract, kopecks FROM balances"))
    assert mine == {k: v for k, v in gateway_balances(c, url).items() if k in ks}, mine
    shutil.rmtree(os.path.dirname(db))
    # pruned: a cursor older than the events kept is 410, and a reader starts again without one
    q(c, url, "UPDATE event_ticks SET created_at = created_at - interval '30 days'")
    q(c, url, "SELECT events_prune(100000)")
    first_tick = whole[0]["cursor"].split("-")[0]
    st, h, d = g.json("GET", "/v1/internal/events?after=%s-0" % (int(first_tick) - 1), headers=AUTH)
    assert st == 410 and error_of(d)[0] == "cursor_expired", d


@test
def test_the_feed_never_skips_an_event_committed_out_of_order(c):
    """Long and short transactions interleaved on purpose: a long one draws its event id first and
    commits after shorter ones with larger ids were read. A reader that followed ids alone would skip
    the long ones; the feed's reader sees every event exactly once."""
    url = fresh_db(c, "ev_order")
    g = gateway(c, url)
    ks = [account(c, url) for _ in range(6)]
    seen, cursor, late = [], None, 0
    stop = threading.Event()
    lock = threading.Lock()

    def reader():
        nonlocal cursor, late
        while not stop.is_set():
            evs, cur = feed_all(g, after=cursor, limit=3)
            with lock:
                for e in evs:
                    if seen and e["id"] < max(seen):
                        late += 1              # committed after a larger id was read
                    seen.append(e["id"])
                cursor = cur
            time.sleep(0.02)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    longs = [Session(url) for _ in range(4)]
    short = Session(url)
    try:
        for rnd in range(6):
            for i, s in enumerate(longs):       # each draws an event id and holds its transaction
                s.run("BEGIN;")                 # (and its account's row lock: accounts of its own)
                s.run(book_sql(c, ks[i], 1000))
            for _ in range(5):                  # shorter ones commit with larger ids, and are read
                short.run(book_sql(c, random.choice(ks[4:]), 100))
            n_before = len(db_events(c, url))
            wait_for(lambda: len(seen) >= n_before, 30, "the reader to see the committed events")
            for s in random.sample(longs, len(longs)):      # then the long ones commit, in a random order
                s.run("COMMIT;")
                short.run(book_sql(c, random.choice(ks[4:]), 100))
        total = len(db_events(c, url))
        wait_for(lambda: len(seen) >= total, 30, "the reader to see all %d events" % total)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
        for s in longs + [short]:
            s.close()
    assert sorted(seen) == db_events(c, url), "missed or repeated: %s" % (
        set(db_events(c, url)) ^ set(seen))
    assert len(seen) == len(set(seen))
    assert late >= 6 * 4 - 2, "the test did not commit out of order (%d late)" % late
    print("# %d events read once each, %d of them committed after a larger id had been read" % (len(seen), late))


# ---- webhooks ---------------------------------------------------------------------------------------

@test
def test_webhooks_arrive_in_order_through_a_receiver_down_failing_slow_and_late(c):
    url = fresh_db(c, "ev_hooks")
    recv = rc.Receiver(SECRET).start()
    port = recv.port
    env = dict(GATEWAY_WEBHOOK_URLS=recv.url, GATEWAY_WEBHOOK_SECRET=SECRET, GATEWAY_WEBHOOK_WORKERS="2")
    g1 = gateway(c, url, **env)
    g2 = gateway(c, url, **env)
    ks = [account(c, url) for _ in range(8)]
    load = Load(c, url, ks, pause=0.02)
    try:
        wait_for(lambda: len(recv.seen) >= 20, 30, "the first deliveries")
        recv.stop()                                        # down: connections refused
        time.sleep(3)
        recv.port = port
        recv.start()
        recv.mode = "fail"                                 # 500
        time.sleep(3)
        recv.mode, recv.delay = "slow", 0.3                # slow but in time
        time.sleep(3)
        recv.mode, recv.delay = "late", 2.0                # 200 after the gateway's 1 s timeout
        time.sleep(4)
        recv.mode = "ok"                                   # back
        time.sleep(1)
    finally:
        n = load.stop()
    assert n > 50, n
    total = db_events(c, url)
    wait_for(lambda: len(set(recv.first_seen_order())) >= len(total), 120,
             "every event delivered (%d of %d)" % (len(recv.first_seen_order()), len(total)))
    order = recv.first_seen_order()
    feed, _ = feed_all(g1, limit=1000, want=len(total))
    assert order == [e["id"] for e in feed], "not in the feed's order"
    assert sorted(order) == total
    for b in recv.bodies:
        record_webhook("events", b)                        # the contract test checks them against the spec
    # the consumer's balances are the gateway's (accounts started at 0)
    mine = recv.billing.balances()
    theirs = gateway_balances(c, url)
    for k in ks:
        if k in mine:
            assert mine[k][0] == theirs[k] and mine[k][1] == theirs[k], (k, mine[k], theirs[k])
    # two gateways x 2 workers share the endpoint: never two requests in flight at once. A request is
    # in flight from its arrival until it is answered or the gateway's 1 s timeout abandons it (a
    # "late" answer still being written then is no longer waited for; the retry follows after a
    # backoff of at least 0.5 s).
    overlaps, busy_until = [], 0.0
    for t0, t1 in sorted((t0, min(t1, t0 + 1.0)) for t0, t1 in recv.spans):
        if t0 < busy_until:
            overlaps.append((t0, busy_until))
        busy_until = max(busy_until, t1)
    assert not overlaps, "requests in flight at once: %s" % overlaps[:5]
    # what the gateways say about it
    res = {r: sum(metric(g, "gateway_webhook_deliveries_total", '{result="%s"}' % r) or 0 for g in (g1, g2))
           for r in ("ok", "http_error", "timeout", "network")}
    taken = sum(metric(g, "gateway_webhook_events_delivered_total") or 0 for g in (g1, g2))
    assert res["ok"] > 0 and res["http_error"] > 0 and res["timeout"] > 0 and res["network"] > 0, res
    assert taken >= len(total), (taken, len(total))
    # the events waiting at once went together (a backlog built while the receiver was away)
    per_request = [n for _, _, n in recv.seen]
    assert max(per_request) > 1 and res["ok"] < taken, (max(per_request), res, taken)
    print("# %d events delivered in order by two gateways through down/500/slow/late phases; attempts %s;"
          " %d requests, never two in flight; up to %d events in one" % (
              len(total), {k: int(v) for k, v in res.items()}, len(recv.spans), max(per_request)))
    st, h, d = g1.json("GET", "/v1/internal/webhooks", headers=AUTH)
    assert st == 200 and len(d["endpoints"]) == 1, d
    ep = d["endpoints"][0]
    assert ep["url"] == recv.url and ep["delivered"] >= len(total) and ep["given_up"] == 0, ep
    wait_for(lambda: g1.json("GET", "/v1/internal/webhooks", headers=AUTH)[2]["endpoints"][0]["lag_seconds"] == 0,
             30, "no lag")
    wait_for(lambda: metric(g1, "gateway_webhook_lag_seconds") == 0, 30, "the lag gauge at 0")
    assert recv.refused == 0
    recv.stop()


@test
def test_a_gateway_killed_with_sigkill_during_delivery_loses_nothing(c):
    url = fresh_db(c, "ev_kill")
    recv = rc.Receiver(SECRET).start()
    # small batches to a slowish receiver, so a backlog stands and each kill lands mid-delivery
    recv.mode, recv.delay = "slow", 0.01
    env = dict(GATEWAY_WEBHOOK_URLS=recv.url, GATEWAY_WEBHOOK_SECRET=SECRET, GATEWAY_WEBHOOK_BATCH="5")
    g = gateway(c, url, **env)
    ks = [account(c, url) for _ in range(5)]
    load = Load(c, url, ks, pause=0.005)
    try:
        for _ in range(3):
            have = len(recv.seen)
            # the killed gateway's claim lapses (its lease: 2 x 1 s timeout + 8 s) before deliveries go on
            wait_for(lambda: len(recv.seen) >= have + 30, 90, "deliveries under way")
            g.proc.send_signal(signal.SIGKILL)
            g.proc.wait(30)
            time.sleep(0.5)
            g.start()
    finally:
        load.stop()
    total = db_events(c, url)
    wait_for(lambda: len(recv.first_seen_order()) >= len(total), 120,
             "every event delivered after the kills (%d of %d)" % (len(recv.first_seen_order()), len(total)))
    assert sorted(recv.first_seen_order()) == total
    feed, _ = feed_all(g, limit=1000, want=len(total))
    assert recv.first_seen_order() == [e["id"] for e in feed]
    repeats = len(recv.seen) - len(total)
    assert all(applied for eid, applied, _ in recv.seen[:1]) and repeats >= 0
    assert repeats <= 3 * 200 + 3 * 100, repeats          # at most the unrecorded tail of each kill
    print("# 3 kills -9 while delivering: %d events, all delivered in order, %d sent again" % (len(total), repeats))
    mine, theirs = recv.billing.balances(), gateway_balances(c, url)
    assert all(mine[k][0] == theirs[k] for k in mine), (mine, theirs)
    recv.stop()


@test
def test_signatures_verify_with_pythons_hmac_and_a_tampered_body_is_refused(c):
    url = fresh_db(c, "ev_sign")
    raw = []
    a = rc.Receiver(SECRET).start()
    b = rc.Receiver(SECRET2).start()                    # a per-endpoint secret
    orig = a.billing.apply

    def keep(event):
        raw.append(event)
        return orig(event)
    a.billing.apply = keep
    g = gateway(c, url, GATEWAY_WEBHOOK_URLS="%s, %s" % (a.url, b.url), GATEWAY_WEBHOOK_SECRET=SECRET,
                GATEWAY_WEBHOOK_SECRETS=",%s" % SECRET2)
    k = account(c, url)
    q(c, url, book_sql(c, k, 12345))
    wait_for(lambda: a.seen and b.seen, 30, "both endpoints")
    assert a.refused == 0 and b.refused == 0            # each verified with its own secret

    # the wire, signed by hand: what any other language would do (README: Python and PHP)
    import http.client
    capture = {}

    spy = rc.Receiver(SECRET).start()
    orig_verify = rc.verify

    def grab(secret, header, body, now=None):
        capture.update(header=header, body=body)
        return orig_verify(secret, header, body, now)
    rc.verify = grab
    try:
        st, h, d = g.json("POST", "/v1/internal/webhooks/%s/replay" % endpoint_id(g, a.url), {"after": "1-0"}, AUTH)
        assert st == 200, d
        wait_for(lambda: capture, 30, "a captured delivery")
    finally:
        rc.verify = orig_verify
    t, v1 = re.match(r"^t=(\d+),v1=([0-9a-f]{64})$", capture["header"]).groups()
    assert abs(int(t) - time.time()) < 600
    assert hmac.compare_digest(hmac.new(SECRET.encode(), t.encode() + b"." + capture["body"], hashlib.sha256).hexdigest(), v1)
    ev, = json.loads(capture["body"])["events"]
    assert ev["type"] == "payment.succeeded" and ev["data"]["amount_kopecks"] == 12345

    def post(body, header):
        conn = http.client.HTTPConnection("127.0.0.1", spy.port, timeout=10)
        conn.request("POST", "/hook", body=body, headers={"X-Signature": header, "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status
    tampered = capture["body"].replace(b"12345", b"99999")
    assert post(tampered, capture["header"]) == 400                       # the body changed
    assert post(capture["body"], capture["header"].replace("v1=", "v1=0")[:-1]) == 400
    other = hmac.new(b"not-the-secret-at-all", t.encode() + b"." + capture["body"], hashlib.sha256).hexdigest()
    assert post(capture["body"], "t=%s,v1=%s" % (t, other)) == 400        # another secret
    old = str(int(time.time()) - 3600)
    stale = hmac.new(SECRET.encode(), old.encode() + b"." + capture["body"], hashlib.sha256).hexdigest()
    assert post(capture["body"], "t=%s,v1=%s" % (old, stale)) == 400      # an old signature replayed
    assert spy.refused == 4 and spy.billing.balances() == {}
    assert post(capture["body"], capture["header"]) in (200, 204)         # the original is fine
    for r in (a, b, spy):
        r.stop()


def endpoint_id(g, u):
    st, h, d = g.json("GET", "/v1/internal/webhooks", headers=AUTH)
    assert st == 200, d
    return [e["id"] for e in d["endpoints"] if e["url"] == u][0]


def failures(g, eid):
    """The events endpoint eid gave up, as GET /v1/internal/webhooks/failures lists them."""
    st, h, d = g.json("GET", "/v1/internal/webhooks/failures?endpoint_id=%d" % eid, headers=AUTH)
    assert st == 200, d
    return d["failures"]


@test
def test_a_failing_event_is_given_up_listed_and_replayed_from_its_cursor(c):
    url = fresh_db(c, "ev_giveup")
    recv = rc.Receiver(SECRET).start()
    recv.mode = "fail"
    g = gateway(c, url, GATEWAY_WEBHOOK_URLS=recv.url, GATEWAY_WEBHOOK_SECRET=SECRET,
                GATEWAY_WEBHOOK_GIVE_UP_AFTER="2", GATEWAY_WEBHOOK_RETRY_MAX_MS="1000")
    k = account(c, url)
    for _ in range(3):
        q(c, url, book_sql(c, k, 1000))
    eid = endpoint_id(g, recv.url)

    wait_for(lambda: len(failures(g, eid)) >= 3, 60, "three events given up")
    fs = failures(g, eid)
    assert [f["event_id"] for f in fs] == db_events(c, url)[:3], fs
    assert all(f["attempts"] >= 1 and f["last_status"] == 500 and f["last_error"] == "HTTP 500" for f in fs), fs
    st, h, d = g.json("GET", "/v1/internal/webhooks", headers=AUTH)
    assert d["endpoints"][0]["given_up"] >= 3, d
    assert (metric(g, "gateway_webhook_deliveries_total", '{result="gave_up"}') or 0) >= 3
    recv.mode = "ok"
    q(c, url, book_sql(c, k, 2000))
    wait_for(lambda: len(recv.seen) >= 1, 30, "the next event, once the receiver is back")
    assert [s[0] for s in recv.seen] == db_events(c, url)[3:4]
    # the operator replays from the first failure: the three given up, then the one already there (again)
    st, h, d = g.json("POST", "/v1/internal/webhooks/%d/replay" % eid, {"after": fs[0]["replay_cursor"]}, AUTH)
    assert st == 200 and d["cursor"] == fs[0]["replay_cursor"], d
    wait_for(lambda: len(recv.seen) >= 5, 30, "the replay")
    assert [s[0] for s in recv.seen] == db_events(c, url)[3:4] + db_events(c, url)
    assert recv.billing.balances()[k][0] == 5000 == int(q(c, url, "SELECT balance FROM accounts WHERE contract = '%s'" % k))
    for body, code, status in (({"after": "x"}, "invalid_cursor", 400), ({"after": "99999-0"}, "unknown_cursor", 400),
                               ({"from": "1-0"}, "unknown_field", 400)):
        st, h, d = g.json("POST", "/v1/internal/webhooks/%d/replay" % eid, body, AUTH)
        assert st == status and error_of(d)[0] == code, (body, st, d)
    st, h, d = g.json("POST", "/v1/internal/webhooks/424242/replay", {"after": "1-0"}, AUTH)
    assert st == 404 and error_of(d)[0] == "endpoint_not_found", d
    recv.stop()


@test
def test_an_event_the_receiver_refuses_is_given_up_alone_and_the_rest_delivered_in_batches(c):
    url = fresh_db(c, "ev_poison")
    recv = rc.Receiver(SECRET).start()
    k = account(c, url)
    for i in range(12):
        q(c, url, book_sql(c, k, 100 + i))
    evs = db_events(c, url)
    poison = evs[5]
    orig = recv.billing.apply

    def refuse(event):                                  # the receiver cannot take this one event
        if event["id"] == poison:
            raise ValueError("cannot apply")
        return orig(event)
    recv.billing.apply = refuse
    g = gateway(c, url, GATEWAY_WEBHOOK_URLS=recv.url, GATEWAY_WEBHOOK_SECRET=SECRET, GATEWAY_WEBHOOK_BATCH="4",
                GATEWAY_WEBHOOK_GIVE_UP_AFTER="2", GATEWAY_WEBHOOK_RETRY_MAX_MS="1000")
    eid = endpoint_id(g, recv.url)

    wait_for(lambda: set(evs) - {poison} <= {s[0] for s in recv.seen}, 60, "every other event delivered")
    assert [f["event_id"] for f in failures(g, eid)] == [poison], failures(g, eid)
    # batches of at most 4; after a refused one its first event goes alone: the poison is given up by
    # itself, the events after it go on in batches, and those the receiver took before it come again
    assert max(n for _, _, n in recv.seen) == 4, recv.seen
    assert [s[0] for s in recv.seen if s[1]] == [e for e in evs if e != poison], recv.seen
    assert recv.billing.balances()[k][0] == sum(100 + i for i in range(12)) - (100 + 5)
    recv.stop()


@test
def test_events_off_writes_none_and_webhook_settings_are_checked_at_start(c):
    url = fresh_db(c, "ev_off")
    g = gateway(c, url, GATEWAY_EVENTS="off")
    k = account(c, url)
    q(c, url, book_sql(c, k, 100))
    assert q(c, url, "SELECT count(*) FROM events") == "0"
    g.stop()
    c.gws.remove(g)
    for env, words in (({"GATEWAY_WEBHOOK_URLS": "http://127.0.0.1:1/x"}, "GATEWAY_WEBHOOK_SECRET"),
                       ({"GATEWAY_WEBHOOK_URLS": "ftp://x/y", "GATEWAY_WEBHOOK_SECRET": SECRET}, "not an http"),
                       ({"GATEWAY_WEBHOOK_URLS": "https://u:p@x/y", "GATEWAY_WEBHOOK_SECRET": SECRET}, "no user"),
                       ({"GATEWAY_WEBHOOK_URLS": "http://x/a,http://x/a", "GATEWAY_WEBHOOK_SECRET": SECRET}, "twice"),
                       ({"GATEWAY_WEBHOOK_URLS": "http://x/a", "GATEWAY_WEBHOOK_SECRET": "short"}, "16 characters"),
                       ({"GATEWAY_WEBHOOK_URLS": "http://x/a", "GATEWAY_WEBHOOK_SECRET": SECRET,
                         "GATEWAY_WEBHOOK_SECRETS": "%s,%s" % (SECRET, SECRET)}, "2 secrets for 1"),
                       ({"GATEWAY_WEBHOOK_URLS": "http://x/a", "GATEWAY_WEBHOOK_SECRET": SECRET,
                         "GATEWAY_EVENTS": "off"}, "GATEWAY_EVENTS=on"),
                       ({"GATEWAY_WEBHOOK_BATCH": "101"}, "GATEWAY_WEBHOOK_BATCH"),
                       ({"GATEWAY_EVENTS": "maybe"}, "on or off")):
        bad = Gateway(url, GATEWAY_ADMIN_TOKEN=ADMIN, **env)
        bad.start(wait=False)
        bad.proc.wait(30)
        assert bad.proc.returncode != 0 and words in bad.logs(), (env, bad.logs())
        assert "SECRET" not in env or env.get("GATEWAY_WEBHOOK_SECRET", "") == "short" or SECRET not in bad.logs()


if __name__ == "__main__":
    suite.run(setup, teardown)
