"""Behind proxies: the client address comes from X-Forwarded-For (real nginx and HAProxy in front,
GATEWAY_TRUSTED_PROXIES=127.0.0.1) or from the PROXY protocol v1 / v2 header (HAProxy in TCP mode,
GATEWAY_PROXY_PROTOCOL=on), and only from trusted peers. Clients connect from 127.0.0.7 and 127.0.0.8
(loopback source addresses). A terminal network allowed only from 127.0.0.7 is accepted through
every proxy from there and refused from 127.0.0.8; forged headers change nothing; rate limits count
per real client; the YooKassa allow-list and the logs see the real client too."""
import base64
import http.client
import json
import socket
import time
import urllib.parse

from harness import partner_creds as creds, Gateway, Postgres, Suite, error_of, gatewayd
from proxies import HAProxy, Nginx

suite = Suite()
test = suite.test
NEAR, FAR = "127.0.0.7", "127.0.0.8"
CONTRACT = "123450001"
YK_SECRET = "proxy-test-yookassa-secret-0123456789"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.started = []
    try:
        c.pg = Postgres().start()
        c.started.append(c.pg)
        rc, out, err = gatewayd(["migrate"], c.pg.url)
        assert rc == 0, err
        c.pg.psql("INSERT INTO accounts (contract, holder_name, balance, monthly_fee) VALUES ('%s', 'Прокси Тест', 0, "
                  "60000)" % CONTRACT)
        rc, out, err = gatewayd(["partner", "add", "near-osmp", "--protocol", "osmp", "--cidr", NEAR], c.pg.url)
        assert rc == 0, err
        c.osmp = creds(out)
        # behind HTTP proxies: X-Forwarded-For from 127.0.0.1 is believed
        c.gw = Gateway(c.pg.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1", GATEWAY_LOOKUP_RATE="1", GATEWAY_LOOKUP_BURST="3",
                       GATEWAY_ADAPTERS="yookassa", GATEWAY_YOOKASSA_URL="https://127.0.0.1:9/v3",
                       GATEWAY_YOOKASSA_SHOP_ID="123456", GATEWAY_YOOKASSA_SECRET_KEY=YK_SECRET,
                       GATEWAY_YOOKASSA_ALLOW_CIDRS=NEAR + "/32", GATEWAY_PROVIDER_TIMEOUT_MS="1000").start()
        c.started.append(c.gw)
        # behind TCP proxies: every connection starts with a PROXY header
        c.pp = Gateway(c.pg.url, GATEWAY_TRUSTED_PROXIES="127.0.0.1", GATEWAY_PROXY_PROTOCOL="on")
        c.pp.start(wait=False)
        c.started.append(c.pp)
        wait_port(c.pp)
        c.nginx = Nginx(c.gw.port).start()
        c.started.append(c.nginx)
        c.haproxy = HAProxy(http_upstream=c.gw.port, pp_upstream=c.pp.port).start()
        c.started.append(c.haproxy)
        c.txn = int(time.time()) % 100000 * 1000
        return c
    except BaseException:
        teardown(c)
        raise


def wait_port(gw, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert gw.proc.poll() is None, gw.logs()
        try:
            socket.create_connection(("127.0.0.1", gw.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gatewayd does not listen:\n" + gw.logs())


def teardown(c):
    for s in reversed(getattr(c, "started", [])):
        try:
            s.stop() if not isinstance(s, Postgres) else s.destroy()
        except Exception as e:  # noqa: BLE001 — the others must still stop
            print("# teardown: %r" % e)


def request(port, method, target, source, headers=None, body=None):
    """One request over a new connection from the given loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def osmp_check(c, port, source, headers=None):
    c.txn += 1
    q = urllib.parse.urlencode({"command": "check", "txn_id": str(c.txn), "account": CONTRACT, "sum": "10.00"})
    auth = base64.b64encode(("%s:%s" % (c.osmp["login"], c.osmp["password"])).encode()).decode()
    h = {"Authorization": "Basic " + auth}
    h.update(headers or {})
    st, hdrs, body = request(port, "GET", "/v1/osmp?" + q, source, h)
    return st, body.decode()


def accepted(st, body):
    return st == 200 and "<result>0</result>" in body


def metrics_text(gw):
    if gw.env.get("GATEWAY_PROXY_PROTOCOL") == "on":          # it speaks only to proxies
        out = raw(gw.port, b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n", source="127.0.0.1")
        assert out.startswith(b"HTTP/1.1 200"), out[:200]
        return out.split(b"\r\n\r\n", 1)[1].decode()
    return gw.request("GET", "/metrics")[2].decode()


def refused_network(gw):
    body = metrics_text(gw)
    for line in body.splitlines():
        if line.startswith('gateway_partner_auth_refused_total{reason="network"} '):
            return int(line.split()[-1])
    raise AssertionError("no network refusal metric")


def assert_near_only(c, gw, port, via):
    before = refused_network(gw)
    st, body = osmp_check(c, port, NEAR)
    assert accepted(st, body), (via, st, body)
    st, body = osmp_check(c, port, FAR)
    assert not accepted(st, body), (via, st, body)
    assert refused_network(gw) == before + 1, via


@test
def test_nginx_passes_the_real_client_to_partner_networks(c):
    assert_near_only(c, c.gw, c.nginx.port, "nginx")


@test
def test_haproxy_http_mode_passes_the_real_client(c):
    assert_near_only(c, c.gw, c.haproxy.ports["http"], "haproxy http")


@test
def test_haproxy_proxy_protocol_v1_passes_the_real_client(c):
    assert_near_only(c, c.pp, c.haproxy.ports["v1"], "haproxy send-proxy")


@test
def test_haproxy_proxy_protocol_v2_passes_the_real_client(c):
    assert_near_only(c, c.pp, c.haproxy.ports["v2"], "haproxy send-proxy-v2")


@test
def test_forged_forwarded_for_straight_to_the_gateway_changes_nothing(c):
    before = refused_network(c.gw)
    for xff in (NEAR, "%s, %s" % (NEAR, NEAR), "127.0.0.1"):
        st, body = osmp_check(c, c.gw.port, FAR, {"X-Forwarded-For": xff})
        assert not accepted(st, body), (xff, st, body)
    assert refused_network(c.gw) == before + 3
    # from the allowed address itself the header does not matter either
    st, body = osmp_check(c, c.gw.port, NEAR, {"X-Forwarded-For": FAR})
    assert accepted(st, body), body


@test
def test_forged_forwarded_for_through_the_proxy_is_not_believed(c):
    for port, via in ((c.nginx.port, "nginx"), (c.haproxy.ports["http"], "haproxy")):
        st, body = osmp_check(c, port, FAR, {"X-Forwarded-For": NEAR})
        assert not accepted(st, body), (via, st, body)


def raw(port, data, source=FAR):
    """Sends bytes on a new connection; returns what came back before the gateway closed it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                x = s.recv(65536)
            except ConnectionResetError:
                break
            if not x:
                break
            out += x
        return out
    finally:
        s.close()


@test
def test_proxy_protocol_gateway_drops_connections_without_the_header(c):
    assert raw(c.pp.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == b""
    assert raw(c.pp.port, b"PROXY TCP4 127.0.0.7 127.0.0.1 1 2\r\n") == b""          # cut off: no request
    assert raw(c.pp.port, b"PROXY TCP4 nonsense\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    ok = raw(c.pp.port, b"PROXY TCP4 127.0.0.7 127.0.0.1 1 2\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n", source="127.0.0.1")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:200]


@test
def test_proxy_protocol_header_from_an_untrusted_peer_is_not_believed(c):
    before = refused_network(c.pp)
    c.txn += 1
    auth = base64.b64encode(("%s:%s" % (c.osmp["login"], c.osmp["password"])).encode())
    out = raw(c.pp.port, b"PROXY TCP4 127.0.0.7 127.0.0.1 1 2\r\nGET /v1/osmp?command=check&txn_id=%d&account=%s"
                         b"&sum=10.00 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n"
              % (c.txn, CONTRACT.encode(), auth), source=FAR)
    assert b"<result>0</result>" not in out, out[:300]
    assert refused_network(c.pp) == before + 1


@test
def test_rate_limits_count_per_client_through_the_proxy(c):
    target = "/v1/accounts/lookup?contract=" + CONTRACT
    codes = [request(c.nginx.port, "GET", target, NEAR)[0] for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429, codes
    st, h, body = request(c.nginx.port, "GET", target, FAR)          # another client behind the same proxy
    assert st == 200, (st, body)
    st, h, body = request(c.haproxy.ports["http"], "GET", target, NEAR)   # the same client through another
    assert st == 429, (st, body)


@test
def test_yookassa_allow_list_sees_the_client_through_the_proxy(c):
    doc = json.dumps({"type": "notification", "event": "payment.succeeded",
                      "object": {"id": "2c5a1f7e-000f-5000-8000-1b2f3e4d5c6b"}}).encode()
    hdr = {"Content-Type": "application/json"}
    st, h, body = request(c.nginx.port, "POST", "/v1/notifications/yookassa", FAR, hdr, doc)
    assert st == 401 and error_of(json.loads(body))[0] == "invalid_notification", (st, body)
    # from the allowed network the notification gets past the allow-list to the re-read (the API is away)
    st, h, body = request(c.nginx.port, "POST", "/v1/notifications/yookassa", NEAR, hdr, doc)
    assert st == 503 and error_of(json.loads(body))[0] == "provider_unavailable", (st, body)


@test
def test_logs_name_the_real_client_and_the_proxy(c):
    request(c.nginx.port, "GET", "/healthz", NEAR, {"X-Request-Id": "proxy-log-check-1"})
    deadline = time.time() + 10
    while time.time() < deadline:
        recs = [r for r in c.gw.log_records() if r.get("rid") == "proxy-log-check-1" and r.get("msg") == "request"]
        if recs:
            break
        time.sleep(0.1)
    assert recs and recs[0]["peer"] == NEAR and recs[0].get("proxy") == "127.0.0.1", recs
    refusals = [r for r in c.gw.log_records() if r.get("msg") == "partner request refused"]
    assert refusals and all(r["peer"] == FAR for r in refusals), refusals[-3:]


if __name__ == "__main__":
    suite.run(setup, teardown)
