"""Security: the native TLS listener (TLS 1.2+ with modern ciphers only), per-address limits on
payment creation, secrets kept out of logs, argv and error messages, SQL-looking input refused."""
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import http.client

from harness import Gateway, Postgres, Suite, error_of, free_port, gatewayd

suite = Suite()
test = suite.test
ADMIN = "security-admin-token-0123456789"
SANDBOX = "security-sandbox-secret-0123456789"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    rc, out, err = gatewayd(["migrate"], c.pg.url)
    assert rc == 0, err
    c.pg.psql("INSERT INTO accounts (contract, holder_name, balance, monthly_fee) VALUES ('555000001', 'Тест', 0, 60000)")
    c.tmp = tempfile.mkdtemp(prefix="gw-tls-")
    c.cert = os.path.join(c.tmp, "cert.pem")
    c.key = os.path.join(c.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", c.key, "-out", c.cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return c


def teardown(c):
    if c:
        c.pg.destroy()
        subprocess.run(["rm", "-rf", c.tmp])


def tls_gateway(c, **env):
    gw = Gateway(c.pg.url, GATEWAY_TLS_CERT=c.cert, GATEWAY_TLS_KEY=c.key, **env)
    gw.start(wait=False)
    ctx = ssl.create_default_context(cafile=c.cert)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", gw.port, context=ctx, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return gw, ctx
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    raise AssertionError("no HTTPS answer:\n" + gw.logs())


@test
def test_tls_listener_serves_https(c):
    gw, ctx = tls_gateway(c)
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", gw.port, context=ctx, timeout=5)
        conn.request("GET", "/v1/accounts/lookup?contract=555000001")
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 200 and body["status"] == "active", body
        with socket.create_connection(("127.0.0.1", gw.port)) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() in ("TLSv1.2", "TLSv1.3"), t.version()
    finally:
        gw.stop()


def s_client(port, *args):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args), input="",
                       capture_output=True, text=True, timeout=10)
    return p.stdout + p.stderr


@test
def test_tls_refuses_old_protocols_and_weak_ciphers(c):
    gw, ctx = tls_gateway(c)
    try:
        # the client offers the old protocol and the server answers with a protocol_version alert (70)
        for old in ("-tls1", "-tls1_1"):
            out = s_client(gw.port, old, "-cipher", "DEFAULT@SECLEVEL=0")
            assert "alert protocol version" in out, (old, out[-400:])
        # TLS 1.2 with only non-forward-secret / CBC suites offered: handshake_failure alert (40)
        out = s_client(gw.port, "-tls1_2", "-cipher", "AES128-SHA:AES256-SHA256:DES-CBC3-SHA@SECLEVEL=0")
        assert "alert handshake failure" in out, out[-400:]
        out = s_client(gw.port, "-tls1_2")
        assert "Cipher is ECDHE-" in out and ("GCM" in out or "CHACHA20" in out), out[-600:]
        # plain HTTP to the TLS port gets no HTTP answer
        with socket.create_connection(("127.0.0.1", gw.port), timeout=3) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            assert not data.startswith(b"HTTP/1.1 200"), data
        assert gw.proc.poll() is None
    finally:
        gw.stop()


@test
def test_tls_misconfiguration_is_one_line(c):
    for env, needle in [({"GATEWAY_TLS_CERT": "/nonexistent.pem", "GATEWAY_TLS_KEY": c.key}, "GATEWAY_TLS_CERT"),
                        ({"GATEWAY_TLS_CERT": c.cert, "GATEWAY_TLS_KEY": "/nonexistent.key"}, "GATEWAY_TLS_KEY"),
                        ({"GATEWAY_TLS_CERT": c.cert}, "set together")]:
        rc, out, err = gatewayd(["serve"], c.pg.url, dict(env, GATEWAY_LISTEN="127.0.0.1:%d" % free_port()))
        lines = err.strip().splitlines()
        assert rc != 0 and len(lines) == 1 and needle in lines[0], (env, rc, err)
        assert "nonexistent.key" not in err


@test
def test_payment_creation_is_rate_limited_per_address(c):
    gw = Gateway(c.pg.url, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SANDBOX, GATEWAY_PAYMENT_RATE="60",
                 GATEWAY_PAYMENT_BURST="2", GATEWAY_RETURN_HOSTS="127.0.0.1").start()
    try:
        codes = []
        for i in range(3):
            st, h, d = gw.json("POST", "/v1/payments", {"account": {"contract": "555000001"}, "amount": "10.00",
                                                        "method": "card", "email": "a@example.com",
                                                        "return_url": "http://127.0.0.1/r"},
                               {"Idempotency-Key": "rate-key-%04d" % i})
            codes.append(st)
        assert codes[:2] == [201, 201] and codes[2] == 429, codes
        assert error_of(d)[0] == "rate_limited" and int(h["retry-after"]) >= 1, (h, d)
    finally:
        gw.stop()


@test
def test_secrets_stay_out_of_logs_argv_and_errors(c):
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(SANDBOX + "\n")
    gw = Gateway(c.pg.url, GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET_FILE=f.name,
                 GATEWAY_RETURN_HOSTS="127.0.0.1").start()
    try:
        with open("/proc/%d/cmdline" % gw.proc.pid, "rb") as cl:
            argv = cl.read()
        assert ADMIN.encode() not in argv and SANDBOX.encode() not in argv
        for token in ["", ADMIN[:-1], ADMIN + "x", "Bearer", ADMIN.upper()]:
            st, h, d = gw.json("POST", "/v1/internal/accounts", {"contract": "555000002"},
                               {"Authorization": "Bearer " + token})
            assert st == 401 and ADMIN not in json.dumps(d), d
        st, h, d = gw.json("POST", "/v1/notifications/sandbox", b'{"order":"x"}',
                           {"Content-Type": "application/json", "X-Sandbox-Signature": "0" * 64})
        assert st == 401 and SANDBOX not in json.dumps(d)
        time.sleep(0.1)
        logs = gw.logs()
        assert ADMIN not in logs and SANDBOX not in logs and "Bearer" not in logs
    finally:
        gw.stop()
        os.unlink(f.name)
    # a secret given on the command line is not a thing: configuration is the environment only
    rc, out, err = gatewayd(["serve", "--admin-token", ADMIN], c.pg.url)
    assert rc != 0 and ADMIN not in err


@test
def test_sql_looking_input_is_refused_or_inert(c):
    gw = Gateway(c.pg.url).start()
    try:
        for q in ["contract=1'%20OR%20'1'='1", "contract=12345;DROP%20TABLE%20accounts", "phone=%27%3B--"]:
            st, h, d = gw.json("GET", "/v1/accounts/lookup?" + q)
            assert st == 400, (q, st, d)
        st, h, d = gw.json("POST", "/v1/internal/accounts", {"contract": "555000003", "holder_name": "'); DROP TABLE accounts;--"},
                           {"Authorization": "Bearer nope"})
        assert st in (401, 403)
        assert c.pg.psql("SELECT count(*) FROM accounts") == "1"
    finally:
        gw.stop()


if __name__ == "__main__":
    suite.run(setup, teardown)
