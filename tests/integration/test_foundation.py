"""Foundation: migrations, config errors, the HTTP skeleton, probes, metrics, internal account
upsert, CSV import, database restart and graceful shutdown — against a real PostgreSQL."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (ROOT, Gateway, Postgres, Suite, error_of, gatewayd, free_port, PSQL)

suite = Suite()
test = suite.test
ADMIN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + ADMIN}


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = c.pg.url
    c.gw = None
    return c


def teardown(c):
    if c and c.gw:
        c.gw.stop()
    if c:
        c.pg.destroy()


def started(c):
    if c.gw is None or c.gw.proc.poll() is not None:
        c.gw = Gateway(c.url, GATEWAY_ADMIN_TOKEN=ADMIN).start()
    return c.gw


@test
def test_serve_refuses_unmigrated_database(c):
    rc, out, err = gatewayd(["serve"], c.url, {"GATEWAY_LISTEN": "127.0.0.1:%d" % free_port()})
    assert rc != 0, (rc, err)
    assert "gatewayd migrate" in err and len(err.strip().splitlines()) == 1, err


@test
def test_migrate_applies_all_then_nothing(c):
    rc, out, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    assert "applied 001_" in out, out
    rc, out2, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    assert "applied" not in out2.replace("applied now", ""), out2
    assert "0 applied now" in out2, out2
    n = int(c.pg.psql("SELECT count(*) FROM schema_migrations"))
    files = [f for f in os.listdir(os.path.join(ROOT, "schema")) if f.endswith(".sql")]
    assert n == len(files), (n, files)


@test
def test_concurrent_migrate_is_safe(c):
    url = c.pg.create_db("race")
    procs = [subprocess.Popen([os.path.join(ROOT, os.environ.get("BUILD", "build"), "gatewayd"), "migrate"],
                              env=dict(os.environ, GATEWAY_DATABASE_URL=url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert all(r[2] == 0 for r in results), results
    applied = sum(r[0].count("applied 0") for r in results)
    files = [f for f in os.listdir(os.path.join(ROOT, "schema")) if f.endswith(".sql")]
    assert applied == len(files), results
    assert int(c.pg.psql("SELECT count(*) FROM schema_migrations", db="race")) == len(files)


@test
def test_migrate_refuses_edited_migration(c):
    c.pg.psql("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", db="race")
    rc, out, err = gatewayd(["migrate"], c.pg.url.rsplit("/", 1)[0] + "/race")
    assert rc != 0 and "changed after it was applied" in err, (rc, err)


@test
def test_demo_data_loads_twice(c):
    for _ in range(2):
        subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.url, "-f",
                        os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
    assert c.pg.psql("SELECT status FROM accounts WHERE contract = '12345'") == "active"
    assert int(c.pg.psql("SELECT count(*) FROM accounts")) >= 300


@test
def test_sql_booking_functions(c):
    url = c.pg.create_db("sqltest")
    rc, out, err = gatewayd(["migrate"], url)
    assert rc == 0, err
    p = subprocess.run([os.path.join(ROOT, "tests", "sql", "run.sh"), url, "--stress"],
                       env=dict(os.environ, STRESS_SECONDS="3", STRESS_CLIENTS="4", STRESS_PARALLEL="20"),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


@test
def test_bad_config_is_one_line_and_nonzero(c):
    cases = [
        ({"GATEWAY_LISTEN": "nonsense"}, "GATEWAY_LISTEN"),
        ({"GATEWAY_LISTEN": "127.0.0.1:99999"}, "GATEWAY_LISTEN"),
        ({"GATEWAY_LISTEN": "localhost:8080"}, "numeric IP"),
        ({"GATEWAY_THREADS": "0"}, "GATEWAY_THREADS"),
        ({"GATEWAY_MAX_BODY": "lots"}, "GATEWAY_MAX_BODY"),
        ({"GATEWAY_PUBLIC_URL": "ftp://x"}, "GATEWAY_PUBLIC_URL"),
        ({"GATEWAY_ADMIN_TOKEN": "short"}, "GATEWAY_ADMIN_TOKEN"),
        ({"GATEWAY_ADMIN_TOKEN_FILE": "/nonexistent/token"}, "GATEWAY_ADMIN_TOKEN_FILE"),
        ({"GATEWAY_DATABASE_URL": "postgresql://127.0.0.1:%d/none" % free_port()}, "cannot connect to the database"),
    ]
    for env, needle in cases:
        e = dict({"GATEWAY_LISTEN": "127.0.0.1:%d" % free_port()}, **env)
        rc, out, err = gatewayd(["serve"], env.get("GATEWAY_DATABASE_URL", c.url), e, timeout=20)
        assert rc != 0, (env, rc)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (env, err)
        assert "short" not in err or "GATEWAY_ADMIN_TOKEN is shorter" in err, err   # secrets are not echoed


@test
def test_secret_from_file(c):
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(ADMIN + "\n")
    try:
        gw = Gateway(c.url, GATEWAY_ADMIN_TOKEN_FILE=f.name).start()
        try:
            st, _, doc = gw.json("POST", "/v1/internal/accounts", {"contract": "555000111"}, AUTH)
            assert st in (200, 201), (st, doc)
            assert ADMIN not in gw.logs()
        finally:
            gw.stop()
    finally:
        os.unlink(f.name)


@test
def test_listen_port_in_use_is_reported(c):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        rc, out, err = gatewayd(["serve"], c.url, {"GATEWAY_LISTEN": "127.0.0.1:%d" % port})
        assert rc != 0 and "cannot listen" in err and len(err.strip().splitlines()) == 1, (rc, err)
    finally:
        s.close()


@test
def test_help_and_version(c):
    rc, out, err = gatewayd(["--help"])
    assert rc == 0 and "migrate" in out and "serve" in out
    rc, out, err = gatewayd(["version"])
    assert rc == 0 and out.startswith("gatewayd ")
    rc, out, err = gatewayd(["frobnicate"])
    assert rc == 2 and "unknown command" in err


@test
def test_healthz_and_readyz(c):
    gw = started(c)
    st, h, doc = gw.json("GET", "/healthz")
    assert st == 200 and doc == {"status": "ok"} and h["content-type"] == "application/json"
    st, h, doc = gw.json("GET", "/readyz")
    assert st == 200 and doc["database"] == "ok", doc
    st, h, body = gw.request("HEAD", "/healthz")
    assert st == 200 and body == b""


@test
def test_request_id_is_generated_or_echoed(c):
    gw = started(c)
    st, h, _ = gw.request("GET", "/healthz")
    assert len(h["x-request-id"]) >= 8
    st, h, _ = gw.request("GET", "/healthz", headers={"X-Request-Id": "abc-123-def"})
    assert h["x-request-id"] == "abc-123-def"
    st, h, _ = gw.request("GET", "/healthz", headers={"X-Request-Id": "bad id\" with quotes"})
    assert h["x-request-id"] != "bad id\" with quotes"


@test
def test_unknown_route_is_404_json(c):
    st, h, doc = started(c).json("GET", "/no/such/thing")
    assert st == 404 and error_of(doc)[0] == "not_found"


@test
def test_wrong_method_is_405_with_allow(c):
    st, h, doc = started(c).json("POST", "/healthz", b"{}", {"Content-Type": "application/json"})
    assert st == 405 and h["allow"] == "GET" and error_of(doc)[0] == "method_not_allowed"
    st, h, doc = started(c).json("DELETE", "/v1/internal/accounts")
    assert st == 405 and h["allow"] == "POST"


@test
def test_oversized_body_is_413_json(c):
    st, h, doc = started(c).json("POST", "/v1/internal/accounts", b"{" + b" " * 70000 + b"}",
                                 dict(AUTH, **{"Content-Type": "application/json"}))
    assert st == 413 and error_of(doc)[0] == "body_too_large", (st, doc)
    # far beyond the limit evhttp refuses on the declared length, before reading the body
    s = socket.create_connection(("127.0.0.1", started(c).port), timeout=5)
    s.sendall(b"POST /v1/internal/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1073741824\r\n\r\n{")
    head = s.recv(200)
    s.close()
    assert head.startswith(b"HTTP/1.1 413"), head


@test
def test_malformed_json_is_400_with_message(c):
    gw = started(c)
    for body in [b"{", b"[1,2]", b"nul", b"{\"contract\": \"12345\",}", b"\xff\xfe{}", b"",
                 b"{\"contract\":\"1\",\"contract\":\"2\"}"]:
        st, h, doc = gw.json("POST", "/v1/internal/accounts", body, dict(AUTH, **{"Content-Type": "application/json"}))
        code, msg = error_of(doc)
        assert st == 400 and code == "invalid_json", (body, st, doc)
    st, h, doc = gw.json("POST", "/v1/internal/accounts", b"contract=1", dict(AUTH, **{"Content-Type": "text/plain"}))
    assert st == 415 and error_of(doc)[0] == "unsupported_media_type"


@test
def test_internal_api_requires_bearer_token(c):
    gw = started(c)
    st, h, doc = gw.json("POST", "/v1/internal/accounts", {"contract": "123456789"})
    assert st == 401 and "bearer" in h["www-authenticate"].lower() and error_of(doc)[0] == "unauthorized"
    st, h, doc = gw.json("POST", "/v1/internal/accounts", {"contract": "123456789"},
                         {"Authorization": "Bearer " + ADMIN[:-1] + "x"})
    assert st == 401
    off = Gateway(c.url).start()
    try:
        st, h, doc = off.json("POST", "/v1/internal/accounts", {"contract": "123456789"}, AUTH)
        assert st == 403 and error_of(doc)[0] == "internal_api_disabled"
    finally:
        off.stop()


@test
def test_internal_account_upsert_creates_then_updates(c):
    gw = started(c)
    body = {"contract": "987 654 321", "phone": "8 (913) 555-44-33", "email": "a@example.com",
            "holder_name": "Петров Пётр Петрович", "monthly_fee": "450.00", "balance": "100.50",
            "balance_as_of": "2026-01-01T00:00:00Z"}
    st, h, doc = gw.json("POST", "/v1/internal/accounts", body, AUTH)
    assert st == 201 and doc == {"result": "created", "balance": "100.50"}, (st, doc)
    row = c.pg.psql("SELECT phone, monthly_fee, balance FROM accounts WHERE contract = '987654321'")
    assert row == "+79135554433|45000|10050", row
    st, h, doc = gw.json("POST", "/v1/internal/accounts", dict(body, balance="90.00", status="suspended",
                                                              balance_as_of="2026-01-02 00:00:00"), AUTH)
    assert st == 200 and doc == {"result": "updated", "balance": "90.00"}, (st, doc)
    assert c.pg.psql("SELECT count(*) FROM ledger l JOIN accounts a ON a.id = l.account_id "
                     "WHERE a.contract = '987654321' AND l.kind = 'adjustment' AND l.amount = -1050") == "1"
    assert c.pg.psql("SELECT count(*) FROM ledger_invariant_violations()") == "0"


@test
def test_internal_account_upsert_rejects_bad_fields(c):
    gw = started(c)
    for body, needle in [({"contract": "12a45"}, "contract"), ({"contract": "123456789", "phone": "12"}, "phone"),
                         ({"contract": "123456789", "monthly_fee": "1.005"}, "monthly_fee"),
                         ({"contract": "123456789", "status": "dead"}, "status"),
                         ({"contract": "123456789", "email": "no-at-sign"}, "email"),
                         ({"contract": 123456789}, "contract"), ({"contract": "123456789", "x": "1"}, "unknown"),
                         ({}, "contract")]:
        st, h, doc = gw.json("POST", "/v1/internal/accounts", body, AUTH)
        code, msg = error_of(doc)
        assert st == 400 and needle in msg, (body, st, doc)


@test
def test_metrics_exposes_routes_latency_and_pool(c):
    gw = started(c)
    gw.request("GET", "/healthz")
    gw.request("GET", "/nope")
    st, h, body = gw.request("GET", "/metrics")
    text = body.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert 'gateway_http_requests_total{route="GET /healthz",status="200"}' in text
    assert 'gateway_http_requests_total{route="unmatched",status="404"}' in text
    assert 'gateway_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"}' in text
    for name in ["gateway_db_pool_connections ", "gateway_db_pool_connections_open ",
                 "gateway_db_pool_connections_busy ", "gateway_db_pool_queue_length "]:
        assert ("\n" + name) in text, name
    conns = [l for l in text.splitlines() if l.startswith("gateway_db_pool_connections_open ")]
    assert int(conns[0].split()[1]) >= 1, conns


@test
def test_logs_are_json_lines_with_request_ids(c):
    gw = started(c)
    gw.request("GET", "/healthz", headers={"X-Request-Id": "log-check-0001"})
    time.sleep(0.1)
    recs = gw.log_records()
    assert all({"ts", "level", "msg"} <= set(r) for r in recs)
    mine = [r for r in recs if r.get("rid") == "log-check-0001"]
    assert mine and mine[0]["status"] == 200 and mine[0]["route"] == "/healthz", mine


@test
def test_accounts_import_all_or_nothing(c):
    good = ("contract,phone,email,holder_name,status,monthly_fee,balance\n"
            "600000001,+7 913 000-00-01,x1@example.com,\"Сидоров, Иван\",active,600.00,0\n"
            "600000002,89130000002,,Кузнецова Анна,suspended,450,-20.50\r\n")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as f:
        f.write(good)
    rc, out, err = gatewayd(["accounts", "import", "--as-of", "2026-01-01 00:00", f.name], c.url)
    assert rc == 0 and "2 accounts: 2 created" in out, (rc, out, err)
    assert c.pg.psql("SELECT holder_name || '|' || balance FROM accounts WHERE contract='600000001'") == \
        "Сидоров, Иван|0"
    bad = ("contract,phone,monthly_fee\n"
           "600000003,+79130000003,100\n"
           "60000x004,+79130000004,100\n"
           "600000005,+7913,100\n"
           "600000006,+79130000006,1.001\n")
    with open(f.name, "w") as g:
        g.write(bad)
    rc, out, err = gatewayd(["accounts", "import", "--as-of", "2026-01-01 00:00", f.name], c.url)
    os.unlink(f.name)
    assert rc != 0, out
    for line in ("line 3", "line 4", "line 5"):
        assert line in err, err
    assert "nothing was imported" in err
    assert c.pg.psql("SELECT count(*) FROM accounts WHERE contract = '600000003'") == "0"


@test
def test_readyz_follows_database_restart(c):
    gw = started(c)
    assert gw.request("GET", "/readyz")[0] == 200
    c.pg.stop()
    try:
        deadline = time.time() + 10
        st = None
        while time.time() < deadline:
            st, h, doc = gw.json("GET", "/readyz")
            if st == 503:
                break
            time.sleep(0.1)
        assert st == 503 and error_of(doc)[0] == "not_ready" and h.get("retry-after"), (st, doc)
        st, h, doc = gw.json("POST", "/v1/internal/accounts", {"contract": "555000222"}, AUTH)
        assert st == 503 and h.get("retry-after"), (st, doc)
        assert gw.json("GET", "/healthz")[0] == 200        # liveness is not readiness
    finally:
        c.pg.start()
    t0 = time.time()
    while time.time() - t0 < 10:
        if gw.request("GET", "/readyz")[0] == 200:
            break
        time.sleep(0.1)
    recovered = time.time() - t0
    assert recovered < 5, recovered
    st, h, doc = gw.json("POST", "/v1/internal/accounts", {"contract": "555000222"}, AUTH)
    assert st in (200, 201), (st, doc)
    assert gw.proc.poll() is None


@test
def test_sigterm_finishes_in_flight_request(c):
    gw = started(c)
    holder = subprocess.Popen([PSQL, "-X", "-q", "-d", c.url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    holder.stdin.write("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;\n")
    holder.stdin.flush()
    time.sleep(0.3)
    result = {}

    def slow():
        result["r"] = gw.json("POST", "/v1/internal/accounts", {"contract": "555000333"}, AUTH)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    # no longer accepting
    refused = False
    try:
        gw.request("GET", "/healthz", timeout=1)
    except OSError:
        refused = True
    t.join(10)
    holder.stdin.close()
    holder.wait(10)
    rc = gw.proc.wait(10)
    st, h, doc = result["r"]
    assert st == 201 and doc["result"] == "created", (st, doc)
    assert refused, "new connections were still accepted while draining"
    assert rc == 0, rc
    msgs = [r["msg"] for r in gw.log_records()]
    assert "shutting down: finishing in-flight requests" in msgs and msgs[-1] == "stopped", msgs[-5:]
    c.gw = None


if __name__ == "__main__":
    suite.run(setup, teardown)
