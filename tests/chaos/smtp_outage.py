#!/usr/bin/python3
"""SMTP outage and slow SMTP: terminals (OSMP) and a partner (JSON, each payment with the payer's
e-mail, so each books a receipt to mail) keep paying while the mail server is (1) healthy, (2) down
(connection refused), (3) up but answering every command after 2 seconds, and (4) healthy again.
No HTTP request is slowed by the mail server: the p99 latency of the pays in phases 2 and 3 stays
near the healthy baseline (a synchronous mail would add seconds). After recovery every receipt with an
address is delivered (receipts.state = 'sent', none failed), each exactly once.

    tests/chaos/smtp_outage.py [short|full]      (default: CHAOS_SCALE or short)"""
import random
import socket
import threading
import time

from chaos_lib import (Feed, Gateway, Stats, Suite, World, feed_clients, fig, ms, pct, run_suite, scale,
                       verify_books)
from smtp_server import SMTPServer

SCALE = scale()
PHASE = {"short": {"healthy": 4.0, "down": 5.0, "slow": 6.0},
         "full": {"healthy": 15.0, "down": 30.0, "slow": 40.0}}[SCALE]
SLOW_DELAY = 2.0
CLIENTS = 6
DRAIN_LIMIT = {"short": 60, "full": 180}[SCALE]

suite = Suite()
test = suite.test


class SlowSMTP:
    """A plain SMTP server that waits `delay` seconds before every reply (greeting included). A message
    counts as delivered only once its final "250" has been sent."""

    def __init__(self, port, delay):
        self.port, self.delay = port, delay
        self.delivered = []
        self.lock = threading.Lock()
        self.conns = []
        self.sock = None
        self.stopping = False

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _reply(self, s, text):
        time.sleep(self.delay)
        if self.stopping:
            raise OSError("stopping")
        s.sendall(text.encode())

    def _serve(self, s):
        f = s.makefile("rb")
        try:
            self._reply(s, "220 slow.example ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    self._reply(s, "250-slow.example\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
                elif cmd == b"DATA":
                    self._reply(s, "354 go ahead\r\n")
                    number, lines = None, 0
                    while True:
                        l2 = f.readline()
                        if not l2:
                            return
                        if l2 in (b".\r\n", b".\n"):
                            break
                        lines += 1
                        if l2.lower().startswith(b"x-receipt-number:"):
                            number = l2.split(b":", 1)[1].strip().decode()
                    self._reply(s, "250 2.0.0 queued\r\n")
                    with self.lock:
                        self.delivered.append(number)
                elif cmd == b"QUIT":
                    self._reply(s, "221 bye\r\n")
                    return
                else:               # HELO, MAIL, RCPT, RSET, NOOP
                    self._reply(s, "250 OK\r\n")
        except OSError:
            return
        finally:
            s.close()

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes the accepting thread; close alone would not
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


def prepare(c):
    c.world = World(accounts=10)
    c.smtp_port = SMTPServer().port
    c.smtp = SMTPServer(port=c.smtp_port).start()
    c.gw = Gateway(c.world.url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=4, GATEWAY_LOG_LEVEL="warn",
                   GATEWAY_MAIL_URL="smtp://127.0.0.1:%d" % c.smtp_port, GATEWAY_MAIL_STARTTLS="off",
                   GATEWAY_MAIL_WORKERS=2, GATEWAY_MAIL_RETRY_BASE_MS=300, GATEWAY_MAIL_RETRY_MAX_MS=1500,
                   GATEWAY_MAIL_TIMEOUT_MS=30000, GATEWAY_MAIL_MAX_ATTEMPTS=100)
    c.gw.start()
    return c




def pending_mail(c):
    return c.world.sql("SELECT count(*) FILTER (WHERE state NOT IN ('sent', 'no_email')) || '/' || "
                       "count(*) FILTER (WHERE state = 'failed') || '/' || count(*) FILTER (WHERE email IS NOT NULL) "
                       "FROM receipts")


@test
def test_mail_outage_and_slow_mail_do_not_slow_payments_and_lose_no_receipt(c):
    feed = Feed(c.world, random.Random(int(time.time())), mix=(("qiwi", 1), ("shop", 1)), emails=True, dup_share=0.1)
    stats = Stats()
    deadline = time.time() + sum(PHASE.values()) + 120

    clients = feed_clients(c.gw.port, feed, stats, deadline, CLIENTS, pause=0.01)
    marks = {}
    slow = None
    try:
        marks["healthy"] = time.time()
        time.sleep(PHASE["healthy"])
        c.smtp.stop()
        marks["down"] = time.time()
        time.sleep(PHASE["down"])
        slow = SlowSMTP(c.smtp_port, SLOW_DELAY).start()
        marks["slow"] = time.time()
        time.sleep(PHASE["slow"])
        marks["end"] = time.time()
    finally:
        feed.stopped = True
        for th in clients:
            th.join(60)
    waiting = pending_mail(c)
    slow.stop()
    first = c.smtp
    c.smtp = SMTPServer(port=c.smtp_port).start()
    t_back = time.time()
    while time.time() - t_back < DRAIN_LIMIT:
        left, failed, total = map(int, pending_mail(c).split("/"))
        if left == 0:
            break
        time.sleep(0.2)
    drain = time.time() - t_back
    f = verify_books(c.world, feed.txns, stats)
    left, failed, total = map(int, pending_mail(c).split("/"))
    assert left == 0 and failed == 0, "after %.0fs: %d receipts not sent, %d failed: %s" % (
        drain, left, failed, c.world.sql("SELECT string_agg(number || ' ' || state || ' #' || attempts || ' due ' || "
                                         "round(extract(epoch FROM next_attempt_at - now())) || 's', '; ') FROM "
                                         "(SELECT * FROM receipts WHERE state NOT IN ('sent', 'no_email') LIMIT 8) r"))

    # each receipt delivered exactly once (the slow server delivered some, the healthy ones the rest)
    numbers = c.world.sql("SELECT number FROM receipts WHERE email IS NOT NULL").split()
    got = [m.number for m in first.messages + c.smtp.messages] + list(slow.delivered)
    dups = [n for n in set(got) if got.count(n) > 1]
    missing = set(numbers) - set(got)
    assert not missing and not dups, (sorted(missing)[:5], dups[:5])

    phases = [("healthy", marks["healthy"], marks["down"]), ("down", marks["down"], marks["slow"]),
              ("slow", marks["slow"], marks["end"])]
    p99 = {}
    for name, a, b in phases:
        lat = stats.latencies(since=a + 0.2, until=b)
        assert len(lat) > 20, (name, len(lat))
        p99[name] = (pct(lat, 50), pct(lat, 99), max(lat), len(lat))
    base = p99["healthy"][1]
    for name in ("down", "slow"):
        limit = max(3 * base, base + 0.3)      # a mail in the request path would add seconds
        assert p99[name][1] <= limit and p99[name][1] < SLOW_DELAY / 2, \
            "pays slowed while SMTP is %s: p99 %s vs healthy %s" % (name, ms(p99[name][1]), ms(base))
    fig("pays per phase (p50 / p99 / max, count): %s", "; ".join(
        "%s %s / %s / %s, %d" % (n, ms(v[0]), ms(v[1]), ms(v[2]), v[3]) for n, v in p99.items()))
    fig("SMTP down %.0fs, then %.0fs per command for %.0fs; receipts waiting when it recovered (pending/failed/with "
        "address): %s", PHASE["down"], SLOW_DELAY, PHASE["slow"], waiting)
    fig("%d receipts with an address all sent %.1fs after recovery (%d by the slow server), none twice, none failed; "
        "%d payments booked once", total, drain, len(slow.delivered), f["booked"])


if __name__ == "__main__":
    run_suite(suite, prepare)
