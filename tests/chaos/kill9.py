#!/usr/bin/python3
"""Crash: gatewayd is killed with SIGKILL every 1-2 seconds while terminal networks, Sberbank Online
and a partner keep paying, and restarted on the same port at once. The clients behave as their
protocols say: a broken connection, a timeout or a retry code means "repeat the same request later",
an OK means "acknowledged". Afterwards every acknowledged payment is booked, exactly once, with the
number it was acknowledged with; nothing is booked twice; the ledger invariant holds; every restart
came up cleanly (healthy and ready within seconds, no leftovers), and the last one stops gracefully.

    tests/chaos/kill9.py [short|full]      (default: CHAOS_SCALE or short)"""
import random
import signal
import time

from chaos_lib import (Conn, Feed, Gateway, Stats, Suite, Txn, World, feed_clients, fig, ms, pct, run_suite,
                       scale, send_until_acknowledged, verify_books, wait_http)

SCALE = scale()
KILLS = {"short": 6, "full": 40}[SCALE]
THREADS = {"short": 16, "full": 32}[SCALE]
ACCOUNTS = {"short": 8, "full": 20}[SCALE]

suite = Suite()
test = suite.test


def prepare(c):
    c.world = World(accounts=ACCOUNTS)
    c.gw = Gateway(c.world.url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=4, GATEWAY_LOG_LEVEL="warn",
                   GATEWAY_DB_TIMEOUT_MS=2000)
    c.gw.start()
    return c




@test
def test_kill_9_during_load_loses_and_doubles_nothing(c):
    feed = Feed(c.world, random.Random(int(time.time())))
    stats = Stats()
    deadline = time.time() + {"short": 120, "full": 900}[SCALE]

    t0 = time.time()
    clients = feed_clients(c.gw.port, feed, stats, deadline, THREADS, timeout=5.0, retry_delay=(0.05, 0.3))
    restarts, acked_at_kill = [], []
    rng = random.Random(1)
    try:
        for k in range(KILLS):
            time.sleep(rng.uniform(1.0, 2.0))
            acked_at_kill.append(sum(1 for t in feed.txns if t.acks))
            pid = c.gw.proc.pid
            c.gw.proc.send_signal(signal.SIGKILL)
            c.gw.proc.wait(10)
            assert c.gw.proc.returncode == -signal.SIGKILL, c.gw.proc.returncode
            k0 = time.time()
            c.gw.start(wait=False)
            assert c.gw.proc.pid != pid
            up = wait_http(c.gw.port, "/healthz", 200, 15)
            ready = wait_http(c.gw.port, "/readyz", 200, 15)
            restarts.append((up, up + ready, time.time() - k0))
    finally:
        feed.stopped = True
        for th in clients:
            th.join(max(1, deadline - time.time() + 30))
    elapsed = time.time() - t0
    assert not any(th.is_alive() for th in clients), "clients did not finish"
    f = verify_books(c.world, feed.txns, stats)
    assert stats.count("bad") == 0 and stats.count("refused") == 0, stats.problems[:10]
    ups = [r[0] for r in restarts]
    readies = [r[1] for r in restarts]
    assert max(readies) < 10, readies
    lat = stats.latencies()
    fig("%d kill -9 in %.1fs under load from %d clients; restart to /healthz mean %s, max %s; to /readyz max %s",
        len(restarts), elapsed, THREADS, ms(sum(ups) / len(ups)), ms(max(ups)), ms(max(readies)))
    fig("%d requests: %d acknowledged (%d as duplicates), %d retry answers, %d broken connections / timeouts",
        len(stats.events), stats.count("ok") + stats.count("dup"), stats.count("dup"), stats.count("retry"),
        stats.count("neterr"))
    fig("%d distinct transactions (%d copies), all acknowledged and booked once: %d payments; acknowledged before "
        "each kill: %s", f["distinct"], f["copies"], f["booked"], acked_at_kill[:8])
    fig("latency of acknowledged answers p50 %s, p99 %s", ms(pct(lat, 50)), ms(pct(lat, 99)))


@test
def test_restart_after_the_storm_is_clean(c):
    """The gateway that came up after the last kill serves, is ready and stops gracefully; its log has
    no errors besides the ones a killed peer leaves (none expected at all from the new process)."""
    assert wait_http(c.gw.port, "/readyz", 200, 10) < 10
    conn = Conn(c.gw.port)
    st, h, body = conn.request("GET", "/metrics")
    assert st == 200 and b"gateway_" in body
    conn.close()
    t = Txn(c.world.partners["qiwi"], str(int(time.time() * 1000) % 10**12), c.world.contracts[0], 12345)
    stats = Stats()
    assert send_until_acknowledged(Conn(c.gw.port), t, stats, time.time() + 10) is not None
    rc = c.gw.stop()
    assert rc == 0, rc
    errors = [r for r in c.gw.log_records() if r.get("level") == "error"]
    assert not errors, errors[:5]
    c.gw.start()     # for teardown
    fig("after %d kills: ready, one more payment booked, SIGTERM exit 0, no error lines in the log", KILLS)


if __name__ == "__main__":
    run_suite(suite, prepare)
