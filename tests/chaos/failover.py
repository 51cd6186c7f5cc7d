#!/usr/bin/python3
"""PostgreSQL failover under load: a primary and a streaming standby (Debian's PostgreSQL 15, the same
packages as every other test), the gateway on a multi-host URL with target_session_attrs=read-write.
Terminal networks (OSMP), Sberbank Online, a partner and web clients (lookups, payment creation with
an Idempotency-Key) pay while the primary is killed with SIGKILL (the postmaster and every backend at
once, as when its machine dies) and the standby is promoted (`pg_ctl promote`, standing in for the
HA manager; PROMOTE_AFTER seconds later, the manager's detection time).

Synchronous replication (synchronous_standby_names names the standby): every acknowledged payment is
on the new primary exactly once; between the kill and the first booking on the new primary every
answer is its protocol's retry answer (OSMP result 1, Sber CODE 1, HTTP 503 with Retry-After); the
gateway recovers without a restart (/readyz 200 again, bookings resume).

Asynchronous replication (full scale only): the same run, but the standby may lag. The old primary's
data directory is then started on its own (crash recovery, no clients) and compared with the new
primary: transactions it committed that the new primary lacks are what asynchronous replication lost,
and those that had been acknowledged to a client are money a subscriber paid and the books forgot.
That figure is reported (deploy/README.md quotes it), not asserted: it is the risk being measured.
In synchronous mode the same comparison must find no acknowledged transaction missing.

    tests/chaos/failover.py [short|full]      (default: CHAOS_SCALE or short)"""
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid

from chaos_lib import (Conn, Feed, Gateway, Postgres, Stats, Suite, World, feed_clients, fig, ms, pct, scale,
                       verify_books, wait_http)

SCALE = scale()
MODES = {"short": ["sync"], "full": ["sync", "async"]}[SCALE]
THREADS = {"short": 10, "full": 20}[SCALE]
WEB_THREADS = 2
LOAD_BEFORE = {"short": 2.0, "full": 5.0}[SCALE]   # seconds of load before the kill
LOAD_AFTER = {"short": 3.0, "full": 8.0}[SCALE]    # seconds of load after the first booking on the new primary
PROMOTE_AFTER = 1.0          # seconds from the kill to `pg_ctl promote` (the HA manager's detection time)
RECOVERY_LIMIT = 15.0        # seconds from the promotion to the first booking and to /readyz 200 (wide: loaded CI)
PGBIN = "/usr/lib/postgresql/15/bin"
SECRET = "failover-sandbox-secret-0123456789"

suite = Suite()
test = suite.test


def as_postgres(args, **kw):
    """Runs a PostgreSQL tool as the cluster owner (the binaries refuse to run as root)."""
    if os.getuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, cwd="/", capture_output=True, text=True, **kw)


def postmaster_pid(datadir):
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def kill_cluster(datadir):
    """SIGKILL to the postmaster and all its backends at once: the postmaster is stopped first so it
    cannot fork while its children are listed, so no backend survives to answer a query."""
    pid = postmaster_pid(datadir)
    assert pid, "no postmaster in " + datadir
    os.kill(pid, signal.SIGSTOP)
    kids = children_of(pid)
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists("/proc/%d" % p) for p in kids + [pid]):
        time.sleep(0.01)
    return len(kids)


class Standby(Postgres):
    """A streaming standby of primary, made with pg_basebackup; started by deploy/dev/pg.sh like any
    test cluster (it finds the base backup and starts it on its own port)."""

    def __init__(self, primary, name):
        super().__init__()
        self.name = name
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        p = as_postgres([PGBIN + "/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                         "-D", self.dir, "-X", "stream", "--checkpoint=fast", "--no-sync"])
        assert p.returncode == 0, p.stderr
        conf = ("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n"
                "synchronous_standby_names = ''\n" % (primary.port, name))
        as_postgres(["sh", "-c", 'printf "%s" "$1" >>"$2/postgresql.auto.conf" && touch "$2/standby.signal"',
                     "sh", conf, self.dir]).check_returncode()


class ReplicatedWorld(World):
    """chaos_lib's world (accounts, partners) on a primary with one streaming standby."""

    def __init__(self, accounts, sync):
        self.pg = Postgres().start()
        self.standby = None
        try:
            self._populate(accounts)
            self.standby = Standby(self.pg, "standby1")
            self.standby.start()
            if sync:
                self.pg.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'", superuser=True)
                self.pg.psql("SELECT pg_reload_conf()", superuser=True)
            self.wait_streaming(sync)
        except BaseException:
            self.destroy()
            raise
        self.primary = self.pg
        self.multi_url = "postgresql://postgres@127.0.0.1:%d,127.0.0.1:%d/gateway?target_session_attrs=read-write" % (
            self.pg.port, self.standby.port)

    def wait_streaming(self, sync):
        want = "sync" if sync else "async"
        deadline = time.time() + 30
        state = ""
        while time.time() < deadline:
            state = self.pg.psql("SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication",
                                 superuser=True)
            if state == "standby1 streaming " + want:
                return
            time.sleep(0.1)
        raise AssertionError("the standby is not streaming (%s): %r" % (want, state))

    def promote(self):
        p = as_postgres([PGBIN + "/pg_ctl", "promote", "-D", self.standby.dir, "-w", "-t", "60"])
        assert p.returncode == 0, p.stdout + p.stderr
        self.pg = self.standby          # world.sql() now asks the new primary

    def old_primary_rows(self):
        """Starts the killed primary's data directory on its own (crash recovery; nobody else connects)
        and returns what it committed: {(adapter, login, txn id): number} and the web payments' keys."""
        old = self.primary
        old.port = harness_free_port()
        url = subprocess.run([os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "dev", "pg.sh"),
                              "start", old.dir, str(old.port)], check=True, capture_output=True, text=True)
        old.url = url.stdout.strip().splitlines()[-1]
        try:
            cash = old.psql("SELECT p.adapter || '|' || pa.login || '|' || p.provider_txn_id || '|' || p.number "
                            "FROM payments p JOIN partners pa ON pa.id = p.partner_id")
            web = old.psql("SELECT idempotency_key FROM payments WHERE channel = 'web'")
        finally:
            old.stop()
        rows = {}
        for line in cash.splitlines():
            a, login, tid, number = line.split("|")
            rows[(a, login, tid)] = int(number)
        return rows, set(web.split())

    def destroy(self):
        for pg in (getattr(self, "primary", None) or self.pg, self.standby):
            if pg:
                pg.destroy()


def harness_free_port():
    from harness import free_port
    return free_port()


class WebClient(threading.Thread):
    """A web shopper: creates a payment with an Idempotency-Key and repeats the very same request on
    a 503 with Retry-After (or a 409 idempotency_in_progress with Retry-After: a try cut off by the kill,
    taken over by a retry once its lease has run out) until it is acknowledged (201, or 200 replayed);
    looks accounts up between.
    Records (t0, t1, kind, detail) per answer."""

    def __init__(self, port, contracts, rng):
        super().__init__(daemon=True)
        self.port, self.contracts, self.rng = port, contracts, rng
        self.answers = []
        self.created = {}         # idempotency key -> payment id
        self.stop_flag = False

    def ask(self, conn, method, target, body=None, headers=None):
        t0 = time.time()
        try:
            st, h, data = conn.request(method, target, body, headers)
        except (OSError, http.client.HTTPException) as e:
            self.answers.append((t0, time.time(), "neterr", repr(e)))
            return None, None
        return st, (t0, h, data)

    def run(self):
        conn = Conn(self.port, timeout=10.0)
        n = 0
        while not self.stop_flag:
            n += 1
            contract = self.rng.choice(self.contracts)
            if n % 2:
                st, x = self.ask(conn, "GET", "/v1/accounts/lookup?contract=" + contract)
                if st is not None:
                    self.record(st, x, ok=(200,))
                time.sleep(0.02)
                continue
            key = "failover-%s" % uuid.uuid4().hex
            body = json.dumps({"account": {"contract": contract}, "amount": "%d.00" % self.rng.randint(10, 900),
                               "method": "card", "email": "payer@example.com",
                               "return_url": "http://127.0.0.1/return"}).encode()
            hdr = {"Content-Type": "application/json", "Idempotency-Key": key}
            deadline = time.time() + 120
            while time.time() < deadline:
                st, x = self.ask(conn, "POST", "/v1/payments", body, hdr)
                if st is None:
                    time.sleep(0.2)
                    continue
                kind = self.record(st, x, ok=(200, 201))
                if kind == "ok":
                    self.created[key] = json.loads(x[2])["id"]
                    break
                if kind != "retry":
                    break
                time.sleep(self.rng.uniform(0.1, 0.3))
            time.sleep(0.02)
        conn.close()

    def record(self, st, x, ok):
        t0, h, data = x
        if st in ok:
            kind = "ok"
        elif st == 503 and h.get("retry-after"):
            kind = "retry"
        elif st == 409 and h.get("retry-after") and b"idempotency_in_progress" in data:
            kind = "retry"      # the first try was cut off by the kill: its lease runs out, then it resumes
        else:
            kind = "bad"
        self.answers.append((t0, time.time(), kind, "%d %s" % (st, data[:160])))
        return kind


class LagSampler(threading.Thread):
    """Samples how far the standby is behind the primary while the load runs: flush_lag (the time from
    a local WAL flush to the standby's confirmation: what an asynchronous primary has acknowledged but
    the standby may not yet hold) and the WAL bytes not yet flushed there."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg = pg
        self.lag_ms, self.behind = [], []
        self.stop_flag = False

    def run(self):
        while not self.stop_flag:
            try:
                out = self.pg.psql("SELECT coalesce(extract(epoch FROM flush_lag) * 1000, 0)::numeric(12,3) || ' ' || "
                                   "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) FROM pg_stat_replication",
                                   superuser=True)
                lag, behind = out.split()
                self.lag_ms.append(float(lag))
                self.behind.append(int(float(behind)))
            except (subprocess.CalledProcessError, ValueError):
                pass
            time.sleep(0.1)


def run_failover(mode):
    """One failover under load in the given mode; returns the figures (and asserts what must hold)."""
    world = ReplicatedWorld(accounts=12, sync=(mode == "sync"))
    gw = None
    try:
        gw = Gateway(world.multi_url, GATEWAY_THREADS=2, GATEWAY_DB_POOL=4, GATEWAY_DB_TIMEOUT_MS=2000,
                     GATEWAY_LOG_LEVEL="warn", GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SECRET,
                     GATEWAY_RETURN_HOSTS="127.0.0.1", GATEWAY_PROVIDER_TIMEOUT_MS=2000)
        gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % gw.port
        gw.start()
        wait_http(gw.port, "/readyz", 200, 15)
        return drive(world, gw, mode)
    finally:
        if gw:
            gw.stop()
        world.destroy()


def drive(world, gw, mode):
    feed = Feed(world, random.Random(int(time.time())))
    stats = Stats()
    answers = []          # (t0, t1, proto, kind, detail) of every cash answer
    lock = threading.Lock()

    def record(t0, t1, t, kind, number, detail):
        with lock:
            answers.append((t0, t1, t.proto, kind, detail))

    deadline = time.time() + 180

    web = [WebClient(gw.port, world.contracts, random.Random(i)) for i in range(WEB_THREADS)]
    clients = feed_clients(gw.port, feed, stats, deadline, THREADS, retry_delay=(0.1, 0.3), on_answer=record)
    for th in web:
        th.start()
    lag = LagSampler(world.primary)
    lag.start()
    try:
        time.sleep(LOAD_BEFORE)
        lag.stop_flag = True
        lag.join(10)
        acked_before = sum(1 for t in feed.txns if t.acks)
        backends = kill_cluster(world.primary.dir)
        t_kill = time.time()         # every process of the primary is gone from here on
        time.sleep(PROMOTE_AFTER)
        t_promote0 = time.time()
        world.promote()
        t_promoted = time.time()
        assert gw.proc.poll() is None, "gatewayd died during the failover:\n" + gw.logs()[-3000:]
        # load goes on until bookings have resumed, and LOAD_AFTER seconds more
        t_limit = t_promoted + RECOVERY_LIMIT
        while time.time() < t_limit:
            with lock:
                resumed = any(a[0] >= t_kill and a[3] in ("ok", "dup") for a in answers)
            if resumed:
                break
            time.sleep(0.05)
        t_ready = t_promoted + wait_http(gw.port, "/readyz", 200, RECOVERY_LIMIT)
        time.sleep(LOAD_AFTER)
    finally:
        feed.stopped = True
        for th in clients:
            th.join(max(1, deadline - time.time() + 30))
        for w in web:
            w.stop_flag = True
        for w in web:
            w.join(150)
    assert gw.proc.poll() is None, "gatewayd died"
    problems = []
    for kind in ("bad", "refused", "neterr"):
        if stats.count(kind):
            problems.append("%d %s cash answers, e.g. %s" % (stats.count(kind), kind,
                                                             [e for e in stats.events if e[3] == kind][:3]))
    web_answers = [a for w in web for a in w.answers]
    for a in web_answers:
        if a[2] not in ("ok", "retry"):
            problems.append("web answer %s: %s" % (a[2], a[3]))
    booked_after = sorted(a[1] for a in answers if a[0] >= t_kill and a[3] in ("ok", "dup"))
    web_after = sorted(a[1] for a in web_answers if a[0] >= t_kill and a[2] == "ok")
    if not booked_after:
        problems.append("no booking after the failover")
    window_end = booked_after[0] if booked_after else time.time()
    during = {}
    for a in answers:
        if a[0] >= t_kill and a[1] < window_end:
            during[(a[2], a[3])] = during.get((a[2], a[3]), 0) + 1
    web_during = {}
    for a in web_answers:
        if a[0] >= t_kill and a[1] < window_end:
            web_during[a[2]] = web_during.get(a[2], 0) + 1

    # the books on the new primary
    lost = []
    try:
        f = verify_books(world, feed.txns, stats)
    except AssertionError as e:
        f = None
        problems.append("books on the new primary: %s" % e)
    created = {}
    for w in web:
        created.update(w.created)
    rows = world.sql("SELECT idempotency_key || ' ' || id || ' ' || count(*) OVER (PARTITION BY idempotency_key) "
                     "FROM payments WHERE channel = 'web'")
    on_new = {}
    for line in rows.splitlines():
        k, pid, n = line.split()
        if n != "1":
            problems.append("web key %s has %s payments" % (k, n))
        on_new[k] = pid
    for k, pid in created.items():
        if k not in on_new:
            lost.append(("web", k))
        elif on_new[k] != pid:
            problems.append("web key %s acknowledged as %s, stored as %s" % (k, pid, on_new[k]))

    # what the old primary committed that the new one lacks
    old_cash, old_web = world.old_primary_rows()
    new_cash = {}
    for line in world.sql("SELECT p.adapter || '|' || pa.login || '|' || p.provider_txn_id FROM payments p "
                          "JOIN partners pa ON pa.id = p.partner_id").splitlines():
        new_cash[tuple(line.split("|"))] = True
    acked_keys = {t.key: t for t in feed.txns if t.acks}
    missing_cash = [k for k in old_cash if k not in new_cash]
    missing_web = [k for k in old_web if k not in on_new]
    lost_acked = [k for k in missing_cash if k in acked_keys] + [k for k in missing_web if k in created]
    if f is None:
        # verify_books stops at the first problem; count the acknowledged cash transactions missing
        lost += [("cash", k) for k in acked_keys if k not in new_cash]

    if mode == "sync":
        if lost or lost_acked:
            problems.append("acknowledged but not on the new primary: %s" % (lost + lost_acked)[:10])
        if during and any(k != "retry" for (_, k) in during):
            problems.append("answers between the kill and the first booking: %s" % during)
        if problems:
            raise AssertionError("\n".join(problems[:20]))
    elif problems and not lost:
        raise AssertionError("\n".join(problems[:20]))

    first_booking = window_end - t_kill
    fig("%s replication: kill -9 of the primary (postmaster + %d backends) under load from %d cash and %d web "
        "clients; promote after %.1f s took %s; gatewayd not restarted", mode, backends, THREADS, WEB_THREADS,
        PROMOTE_AFTER, ms(t_promoted - t_promote0))
    fig("%s: kill -> first booking on the new primary %s (promotion began -> first booking %s); /readyz 200 %s "
        "after the promotion began; web payment created %s after the kill", mode, ms(first_booking),
        ms(window_end - t_promote0), ms(t_ready - t_promote0), ms(web_after[0] - t_kill) if web_after else "never")
    fig("%s: answers between kill and first booking: cash %s; web %s", mode,
        ", ".join("%s %s: %d" % (p, k, n) for (p, k), n in sorted(during.items())) or "none",
        ", ".join("%s: %d" % kv for kv in sorted(web_during.items())) or "none")
    n_acked = len(acked_keys) + len(created)
    fig("%s: %d acknowledged payments (%d cash before the kill, %d web); lost %d, doubled 0; of the %d payments "
        "the old primary had committed, %d are not on the new one (%d of them acknowledged)", mode, n_acked,
        acked_before, len(created), len(lost) + len(lost_acked), len(old_cash) + len(old_web),
        len(missing_cash) + len(missing_web), len(lost_acked))
    rate = acked_before / LOAD_BEFORE
    fig("%s: before the kill %.0f cash bookings/s; the standby's flush lag p50 %.2f ms, max %.2f ms; WAL not yet "
        "on the standby p50 %d bytes, max %d (%d samples)", mode, rate, pct(lag.lag_ms, 50), max(lag.lag_ms or [0]),
        pct(lag.behind, 50), max(lag.behind or [0]), len(lag.lag_ms))
    lat = stats.latencies(since=t_kill)
    fig("%s: %d cash requests in all, %d retry answers; p99 of acknowledged answers after the kill %s", mode,
        len(stats.events), stats.count("retry"), ms(pct(lat, 99)))
    return {"lost_acked": len(lost) + len(lost_acked), "first_booking": first_booking}


@test
def test_failover_sync_loses_nothing_and_answers_only_retry(c):
    run_failover("sync")


if "async" in MODES:
    @test
    def test_failover_async_measures_what_is_lost(c):
        run_failover("async")


if __name__ == "__main__":
    suite.run(None, None)
