#!/usr/bin/python3
"""Database restart mid-load: PostgreSQL is stopped (fast shutdown: transactions in flight are rolled
back, connections cut) while terminals, Sberbank Online and a partner pay and web clients look up
accounts, and started again after a few seconds. During the outage every answer is a retry answer of
its protocol — OSMP result 1, Sber CODE 1, HTTP 503 with Retry-After — never an acknowledgement, never
a 500, never a final refusal of a valid request; /readyz says 503 while the database is down and 200
again within seconds of its return; gatewayd never crashes; afterwards every transaction is booked
exactly once and the ledger invariant holds.

    tests/chaos/db_restart.py [short|full]      (default: CHAOS_SCALE or short)"""
import http.client
import random
import threading
import time
import uuid

from chaos_lib import (Feed, Gateway, Stats, Suite, World, feed_clients, fig, ms, pct, run_suite, scale,
                       verify_books)

SCALE = scale()
OUTAGES = {"short": [3.0], "full": [2.0, 5.0, 8.0, 4.0]}[SCALE]
THREADS = {"short": 12, "full": 24}[SCALE]
RECOVERY_LIMIT = 5.0        # seconds from the database's return to /readyz 200 and to the next booking

suite = Suite()
test = suite.test


def prepare(c):
    c.world = World(accounts=10)
    c.gw = Gateway(c.world.url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=4, GATEWAY_DB_TIMEOUT_MS=1000,
                   GATEWAY_LOG_LEVEL="warn", GATEWAY_LOOKUP_RATE=100000, GATEWAY_LOOKUP_BURST=100000)
    c.gw.start()
    return c




class Poller(threading.Thread):
    """Asks one GET target over and over; records (t_start, t_end, status, retry_after, body)."""

    def __init__(self, port, targets, pause=0.05):
        super().__init__(daemon=True)
        self.port, self.targets, self.pause = port, targets, pause
        self.samples = []
        self.stop_flag = False

    def run(self):
        i = 0
        while not self.stop_flag:
            target = self.targets(i) if callable(self.targets) else self.targets
            i += 1
            t0 = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("GET", target)
                r = c.getresponse()
                body = r.read()
                self.samples.append((t0, time.time(), r.status, r.getheader("Retry-After"), body[:200]))
                c.close()
            except (OSError, http.client.HTTPException) as e:
                self.samples.append((t0, time.time(), "neterr", None, repr(e)))
            time.sleep(self.pause)


@test
def test_database_restart_under_load(c):
    feed = Feed(c.world, random.Random(int(time.time())))
    stats = Stats()
    answers = []          # (t0, t1, proto, kind, detail)

    def record(t0, t1, t, kind, number, detail):
        answers.append((t0, t1, t.proto, kind, detail))

    deadline = time.time() + 60 + sum(OUTAGES) * 3

    ready = Poller(c.gw.port, "/readyz")
    contracts = c.world.contracts
    web = Poller(c.gw.port, lambda i: ("/v1/accounts/lookup?contract=%s" % contracts[i % len(contracts)]) if i % 2
                 else "/v1/payments/%s" % uuid.uuid4(), pause=0.1)
    clients = feed_clients(c.gw.port, feed, stats, deadline, THREADS, pause=0.01, retry_delay=(0.1, 0.3),
                           on_answer=record)
    for th in [ready, web]:
        th.start()
    windows = []           # (t_down, t_up0, t_up)
    try:
        time.sleep(1.5)
        for d in OUTAGES:
            s0 = time.time()
            c.world.pg.stop()
            t_down = time.time()
            time.sleep(d)
            t_up0 = time.time()
            c.world.pg.start()
            t_up = time.time()
            windows.append((s0, t_down, t_up0, t_up))
            assert c.gw.proc.poll() is None, "gatewayd died during the outage:\n" + c.gw.logs()[-3000:]
            time.sleep(3.0)
    finally:
        feed.stopped = True
        for th in clients:
            th.join(max(1, deadline - time.time() + 30))
        ready.stop_flag = web.stop_flag = True
        ready.join(15)
        web.join(15)
    assert c.gw.proc.poll() is None, "gatewayd died"
    f = verify_books(c.world, feed.txns, stats)

    problems = []
    # every answer of the whole run: acknowledged or the protocol's retry answer, nothing else
    for kind in ("bad", "refused", "neterr"):
        if stats.count(kind):
            problems.append("%d %s answers, e.g. %s" % (stats.count(kind), kind,
                                                         [e for e in stats.events if e[3] == kind][:3]))
    # /readyz tells the truth while the database is up, too
    before = [smp for smp in ready.samples if smp[1] < windows[0][0]]
    if not before or any(smp[2] != 200 for smp in before):
        problems.append("/readyz before the first outage: %s" % sorted({smp[2] for smp in before}))
    recoveries, book_recoveries, during = [], [], {}
    for s0, t_down, t_up0, t_up in windows:
        # strictly inside the outage: nothing acknowledged
        inside = [a for a in answers if a[0] >= t_down and a[1] <= t_up0]
        for a in inside:
            during[(a[2], a[3])] = during.get((a[2], a[3]), 0) + 1
            if a[3] != "retry":
                problems.append("during the outage %s answered %s (%s)" % (a[2], a[3], a[4]))
        if not inside:
            problems.append("no payment request was answered during the %.1fs outage" % (t_up0 - t_down))
        # /readyz: 503 with Retry-After throughout the outage, 200 again within seconds
        rin = [s for s in ready.samples if s[0] >= t_down and s[1] <= t_up0]
        if not rin or any(s[2] != 503 or not s[3] for s in rin):
            problems.append("/readyz during the outage: %s" % sorted({(s[2], s[3]) for s in rin}))
        back = [s for s in ready.samples if s[0] >= t_up and s[2] == 200]
        if not back:
            problems.append("/readyz never 200 after the database came back")
        else:
            recoveries.append(back[0][1] - t_up)
            later = [s for s in ready.samples if s[0] >= back[0][1] and s[0] < t_up + 3.0 and s[2] != 200]
            if later:
                problems.append("/readyz flapped after recovery: %s" % later[:3])
        booked = [a for a in answers if a[0] >= t_up and a[3] in ("ok", "dup")]
        if booked:
            book_recoveries.append(booked[0][1] - t_up)
        # web: 503 + Retry-After inside, never 5xx otherwise
        for s in web.samples:
            if s[0] >= t_down and s[1] <= t_up0 and (s[2] != 503 or not s[3]):
                problems.append("web GET during the outage: %s %s" % (s[2], s[4]))
    for s in web.samples + ready.samples:
        if s[2] == "neterr" or (s[2] >= 500 and not s[3]) or (s[2] >= 500 and s[2] != 503):
            problems.append("web/readyz answer %s %s" % (s[2], s[4]))
    if recoveries and max(recoveries) > RECOVERY_LIMIT:
        problems.append("/readyz recovered only after %.1fs" % max(recoveries))
    if len(book_recoveries) < len(windows) or max(book_recoveries) > RECOVERY_LIMIT:
        problems.append("bookings resumed after %s s" % ["%.2f" % r for r in book_recoveries])
    assert not problems, "\n".join(problems[:15])

    ready_in = sum(1 for s in ready.samples for w in windows if s[0] >= w[1] and s[1] <= w[2])
    lat = stats.latencies()
    fig("%d outage(s) of %s s under load from %d clients; gatewayd stayed up", len(windows),
        "/".join("%.1f" % (w[2] - w[1]) for w in windows), THREADS)
    fig("answers during the outages: %s", ", ".join("%s %s: %d" % (p, k, n) for (p, k), n in sorted(during.items())))
    fig("/readyz: %d samples 503+Retry-After while down; back to 200 after %s; first booking after %s",
        ready_in, "/".join(ms(r) for r in recoveries), "/".join(ms(r) for r in book_recoveries))
    fig("web lookups/status during outages: %d answers, all 503 with Retry-After",
        sum(1 for s in web.samples for w in windows if s[0] >= w[1] and s[1] <= w[2]))
    fig("%d requests in all: %d acknowledged, %d retry answers; %d distinct transactions booked once (%d copies); "
        "p99 of acknowledged answers %s", len(stats.events), stats.count("ok") + stats.count("dup"),
        stats.count("retry"), f["booked"], f["copies"], ms(pct(lat, 99)))


@test
def test_readiness_does_not_flap_after_the_database_returns(c):
    """Load balancers probe /readyz on new connections, which land on any event loop. Once one loop
    has answered 200 after an outage, no loop may answer 503 again: a loop whose connections are
    still waiting out their reconnect backoff must connect when asked instead of saying 'down'.
    Probed hard (four clients, a fresh connection each time) for three seconds after the first 200,
    in rounds with different outage lengths so the loops' backoffs differ."""
    rounds = {"short": 3, "full": 6}[SCALE]
    flaps, firsts = [], []
    for k in range(rounds):
        c.world.pg.stop()
        down = time.time()
        while time.time() - down < 10:     # the gateway has seen it: 503
            st = probe(c.gw.port)
            if st == 503:
                break
            time.sleep(0.05)
        time.sleep(1.0 + 0.7 * k)          # the loops' backoffs grow to their ceiling
        c.world.pg.start()
        t_up = time.time()
        samples, lock = [], threading.Lock()
        first = [None]

        def prober():
            while time.time() - t_up < 15:
                t0 = time.time()
                st = probe(c.gw.port)
                with lock:
                    samples.append((t0, time.time(), st))
                    if st == 200 and first[0] is None:
                        first[0] = time.time()
                    if first[0] is not None and time.time() - first[0] > 3.0:
                        return
                time.sleep(0.005)

        ths = [threading.Thread(target=prober, daemon=True) for _ in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(30)
        assert first[0] is not None, "/readyz never 200 after the database came back"
        firsts.append(first[0] - t_up)
        bad = [s for s in samples if s[0] >= first[0] and s[2] != 200]
        if bad:
            flaps.append((k, len(bad), [(round(s[0] - first[0], 3), s[2]) for s in bad[:5]]))
    assert not flaps, "/readyz answered non-200 after a 200: %s" % flaps
    fig("%d database restarts: /readyz 200 after %s, never anything else for 3 s after the first 200 "
        "(4 probing clients, a new connection each probe)", rounds, "/".join(ms(f) for f in firsts))


def probe(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/readyz")
        st = conn.getresponse().status
        conn.close()
        return st
    except (OSError, http.client.HTTPException):
        return "neterr"


if __name__ == "__main__":
    run_suite(suite, prepare)
