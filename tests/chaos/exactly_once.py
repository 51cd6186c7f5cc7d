#!/usr/bin/python3
"""Exactly once under load: thousands of concurrent terminal `pay` (OSMP, two networks whose txn ids
overlap), Sberbank Online `payment` and partner JSON requests, a large share of them duplicates
(several copies of one transaction in flight at once, OSMP copies partly with leading zeros), all on
a handful of accounts so bookings contend for the same rows. Every distinct transaction must be
booked once, every copy answered with the original payment's number, the ledger invariant must hold;
a transaction id reused for another amount or account is refused and books nothing; one transaction
sent by many clients at the same instant books once.

    tests/chaos/exactly_once.py [short|full]      (default: CHAOS_SCALE or short)"""
import random
import threading
import time

from chaos_lib import (Conn, Gateway, Stats, Suite, Txn, World, build_request, classify, fig, make_txns, ms,
                       pct, run_load, run_suite, scale, verify_books, work_items)

SCALE = scale()
DISTINCT = {"short": 2000, "full": 20000}[SCALE]
THREADS = {"short": 24, "full": 48}[SCALE]
ACCOUNTS = {"short": 8, "full": 30}[SCALE]
DEADLINE = {"short": 150, "full": 900}[SCALE]

suite = Suite()
test = suite.test


def prepare(c):
    c.world = World(accounts=ACCOUNTS)
    c.gw = Gateway(c.world.url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=6, GATEWAY_LOG_LEVEL="warn")
    c.gw.start()
    c.rng = random.Random(int(time.time()))
    c.txns = []
    return c




@test
def test_concurrent_duplicates_are_booked_once(c):
    txns = make_txns(c.world, DISTINCT, c.rng, dup_share=0.6, max_copies=5)
    items = work_items(txns, c.rng)
    stats = Stats()
    t0 = time.time()
    run_load(c.gw.port, items, THREADS, stats, t0 + DEADLINE)
    elapsed = time.time() - t0
    c.txns = txns
    f = verify_books(c.world, txns, stats)
    bad = stats.count("bad")
    assert bad == 0 and stats.count("refused") == 0, stats.problems[:10]
    lat = stats.latencies()
    by = {}
    for t in txns:
        by[t.proto] = by.get(t.proto, 0) + 1
    fig("%d requests (%d copies of %d distinct transactions: %s) from %d clients in %.1fs = %.0f req/s",
        len(stats.events), f["copies"], f["distinct"], ", ".join("%s %d" % kv for kv in sorted(by.items())), THREADS,
        elapsed, len(stats.events) / elapsed)
    fig("duplicate copies %d, answered as duplicates with the original number: %d; bookings %d; retry answers %d; "
        "network errors %d", f["copies"] - f["distinct"], f["dup_answers"], f["booked"], stats.count("retry"),
        stats.count("neterr"))
    fig("latency p50 %s, p99 %s, max %s", ms(pct(lat, 50)), ms(pct(lat, 99)), ms(max(lat)))
    assert f["booked"] == f["distinct"] == f["acked"]


@test
def test_reused_txn_id_with_other_amount_or_account_books_nothing(c):
    assert c.txns, "needs the first test"
    sample = random.Random(7).sample(c.txns, min(60, len(c.txns)))
    state = "SELECT (SELECT count(*) FROM payments) || '/' || (SELECT sum(balance) FROM accounts)"
    before = c.world.sql(state)
    conn = Conn(c.gw.port)
    refusals = {}
    for i, t in enumerate(sample):
        other = Txn(t.partner, t.txn_id, t.contract if i % 2 else c.world.contracts[(c.world.contracts.index(t.contract) + 1)
                                                                                   % len(c.world.contracts)],
                    t.kop + (1 if i % 2 else 0))
        st, h, body = conn.request(*build_request(other))
        kind, number, detail = classify(t.proto, st, h, body)
        assert kind == "refused", (t.proto, t.txn_id, kind, detail)
        refusals[t.proto] = detail if t.proto != "json" else st
        # the original still answers with its number
        st, h, body = conn.request(*build_request(t))
        kind, number, detail = classify(t.proto, st, h, body)
        assert kind in ("ok", "dup") and number == t.acks[0][0], (kind, number, t.acks)
    after = c.world.sql(state)
    assert before == after, (before, after)
    assert c.world.sql("SELECT count(*) FROM ledger_invariant_violations()") == "0"
    fig("%d reused txn ids refused (%s); payments and balances unchanged", len(sample),
        "; ".join("%s: %s" % (k, str(v)[:40]) for k, v in sorted(refusals.items())))


@test
def test_one_transaction_sent_by_many_clients_at_once_books_once(c):
    rounds = {"short": 3, "full": 20}[SCALE]
    clients = 32
    total = 0
    for r in range(rounds):
        for name in ("qiwi", "sber", "shop"):
            p = c.world.partners[name]
            tid = {"osmp": "9%09d%02d", "sber-online": "herd-%d-%d", "json": "herd:%d.%d"}[p["protocol"]] % (
                int(time.time()) % 10**9, r)
            t = Txn(p, tid, c.world.contracts[0], 4242 + r)
            barrier = threading.Barrier(clients)
            answers = []
            lock = threading.Lock()

            def one():
                conn = Conn(c.gw.port)
                req = build_request(t)
                barrier.wait()
                st, h, body = conn.request(*req)
                with lock:
                    answers.append(classify(t.proto, st, h, body))
                conn.close()

            ths = [threading.Thread(target=one) for _ in range(clients)]
            for th in ths:
                th.start()
            for th in ths:
                th.join(30)
            kinds = [a[0] for a in answers]
            numbers = {a[1] for a in answers}
            assert len(answers) == clients and set(kinds) <= {"ok", "dup", "retry"}, answers[:5]
            assert len(numbers - {None}) == 1, answers
            assert kinds.count("ok") <= 1 or p["protocol"] == "osmp", kinds   # OSMP answers 0 to every copy
            n = c.world.sql("SELECT count(*) FROM payments WHERE provider_txn_id = '%s'" % tid)
            assert n == "1", (tid, n)
            total += clients
    assert c.world.sql("SELECT count(*) FROM ledger_invariant_violations()") == "0"
    fig("%d simultaneous copies (%d clients x %d transactions): each booked once, every answer the same number",
        total, clients, rounds * 3)


if __name__ == "__main__":
    run_suite(suite, prepare)
