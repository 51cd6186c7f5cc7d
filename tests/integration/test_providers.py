"""Real provider adapters against their emulators over HTTPS on loopback (a test CA made with the
openssl CLI): RBS (register.do / getOrderStatusExtended.do / refund.do, checksum-signed callbacks)
and YooKassa v3 (Idempotence-Key, Basic auth, notifications re-read from the API); provider
timeouts and 5xx; TLS verification; the pending-payment janitor; refunds."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from harness import ROOT, Gateway, Postgres, Suite, error_of, gatewayd, make_ca, make_cert, PSQL, wait_for as harness_wait_for

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
from rbs_gateway import RbsGateway, checksum  # noqa: E402
from yookassa import YooKassa  # noqa: E402

suite = Suite()
test = suite.test
RET = "http://127.0.0.1/pay/result"
ADMIN = "admin-token-for-provider-tests-0123456789"
RBS_KEY = "rbs-callback-key-0123456789abcdef"
RBS_USER, RBS_PASS = "merchant-api", "rbs-secret-pass"
YK_SHOP, YK_SECRET = "100500", "test_yk_secret_key_abc"


class Ctx:
    pass


def gateway(c, **env):
    # RBS by host name (DNS name check, SNI), YooKassa by IP address (IP check)
    base = dict(GATEWAY_ADAPTERS="rbs,yookassa", GATEWAY_CA_FILE=c.ca,
                GATEWAY_RBS_URL="https://localhost:%d" % c.rbs.port,
                GATEWAY_RBS_USER=RBS_USER, GATEWAY_RBS_PASSWORD=RBS_PASS, GATEWAY_RBS_CALLBACK_KEY=RBS_KEY,
                GATEWAY_YOOKASSA_URL=c.yk.base + "/v3", GATEWAY_YOOKASSA_SHOP_ID=YK_SHOP,
                GATEWAY_YOOKASSA_SECRET_KEY=YK_SECRET, GATEWAY_RETURN_HOSTS="127.0.0.1",
                GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_PROVIDER_TIMEOUT_MS="1000", GATEWAY_JANITOR_INTERVAL="0",
                GATEWAY_LOOKUP_RATE="6000")
    base.update(env)
    g = Gateway(c.pg.url, **base)
    g.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % g.port
    return g


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    rc, out, err = gatewayd(["migrate"], c.pg.url)
    assert rc == 0, err
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.pg.url, "-f",
                    os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
    c.dir = tempfile.mkdtemp(prefix="gw-tls-")
    make_ca(c.dir, "ca")
    make_ca(c.dir, "rogue-ca")
    c.ca = os.path.join(c.dir, "ca.pem")
    good = make_cert(c.dir, "provider", "ca", "IP:127.0.0.1,DNS:localhost")
    c.untrusted = make_cert(c.dir, "untrusted", "rogue-ca", "IP:127.0.0.1,DNS:localhost")
    c.wrong_host = make_cert(c.dir, "wronghost", "ca", "DNS:wrong.example")
    c.rbs = RbsGateway(*good, user=RBS_USER, password=RBS_PASS, callback_key=RBS_KEY).start()
    c.yk = YooKassa(*good, shop_id=YK_SHOP, secret=YK_SECRET).start()
    c.rbs.delay = c.yk.delay = 2.5
    c.gw = gateway(c)
    c.gw.start()
    c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % c.gw.port
    c.extra = []
    c.keyn = 0
    return c


def teardown(c):
    if c:
        for g in [c.gw] + c.extra:
            g.stop()
        c.rbs.stop()
        c.yk.stop()
        c.pg.destroy()
        shutil.rmtree(c.dir, ignore_errors=True)      # the test CA's keys


def key(c):
    c.keyn += 1
    return "prov-key-%06d-%d" % (c.keyn, os.getpid())


def create(c, method="card", amount="500.00", gw=None, contract="12345"):
    body = {"account": {"contract": contract}, "amount": amount, "method": method, "email": "payer@example.com",
            "return_url": RET}
    return (gw or c.gw).json("POST", "/v1/payments", body, {"Idempotency-Key": key(c)})


def q(c, sql):
    return c.pg.psql(sql)


def provider_id(c, pid):
    return q(c, "SELECT provider_txn_id FROM payments WHERE id = '%s'" % pid)


def status(c, pid):
    return q(c, "SELECT status FROM payments WHERE id = '%s'" % pid)


def balance(c, contract="12345"):
    return int(q(c, "SELECT balance FROM accounts WHERE contract = '%s'" % contract))


def invariant_ok(c):
    v = q(c, "SELECT problem || ': ' || detail FROM ledger_invariant_violations()")
    assert v == "", v
    return True


def refund(c, pid, amount=None, k=None, token=ADMIN, gw=None):
    body = json.dumps({"amount": amount}).encode() if amount is not None else None
    h = {"Idempotency-Key": k or key(c), "Authorization": "Bearer " + token}
    if body:
        h["Content-Type"] = "application/json"
    return (gw or c.gw).json("POST", "/v1/internal/payments/%s/refunds" % pid, body, h)


def wait_for(fn, timeout=12.0, what="condition"):
    return harness_wait_for(fn, timeout, what, every=0.2)


def paid_rbs(c, amount="500.00"):
    st, h, d = create(c, "card", amount)
    assert st == 201, (st, d)
    oid = provider_id(c, d["id"])
    assert c.rbs.pay(oid) == 200
    assert status(c, d["id"]) == "succeeded"
    return d["id"], oid


def paid_yk(c, amount="500.00", method="sbp"):
    st, h, d = create(c, method, amount)
    assert st == 201, (st, d)
    yid = provider_id(c, d["id"])
    assert c.yk.pay(yid) == 200
    assert status(c, d["id"]) == "succeeded"
    return d["id"], yid


# ---- start-up -------------------------------------------------------------------------------


@test
def test_enabled_adapter_without_credentials_fails_start_with_one_line(c):
    for adapters, var in (("rbs", "GATEWAY_RBS_USER"), ("yookassa", "GATEWAY_YOOKASSA_SHOP_ID")):
        g = Gateway(c.pg.url, GATEWAY_ADAPTERS=adapters)
        try:
            g.start()
            raise AssertionError("started without credentials")
        except RuntimeError:
            pass
        finally:
            g.stop()
        lines = [ln for ln in g.logs().splitlines() if "adapter " + adapters in ln]
        assert len(lines) == 1 and var in lines[0], g.logs()
        assert g.proc.returncode != 0


# ---- RBS -------------------------------------------------------------------------------------


@test
def test_rbs_full_flow_registers_in_kopecks_rereads_and_books_once(c):
    before = balance(c)
    n_status = c.rbs.count("POST", "getOrderStatusExtended")
    st, h, d = create(c, "card", "500.00")
    assert st == 201, d
    assert d["confirmation_url"].startswith(c.rbs.base + "/payment/merchants/"), d
    reg = c.rbs.register_params[-1]
    assert reg["amount"] == "50000" and reg["currency"] == "643", reg
    assert reg["orderNumber"] == d["id"].replace("-", "") and len(reg["orderNumber"]) == 32, reg
    assert reg["userName"] == RBS_USER and reg["returnUrl"].startswith(RET), reg
    assert reg["dynamicCallbackUrl"] == "http://127.0.0.1:%d/v1/notifications/rbs" % c.gw.port
    oid = provider_id(c, d["id"])
    assert status(c, d["id"]) == "pending"
    assert c.rbs.pay(oid) == 200                      # signed GET callback
    assert c.rbs.count("POST", "getOrderStatusExtended") == n_status + 1   # re-read before booking
    st, h, p = c.gw.json("GET", "/v1/payments/" + d["id"])
    assert p["status"] == "succeeded" and "receipt" in p, p
    assert balance(c) == before + 50000
    assert q(c, "SELECT count(*) FROM ledger WHERE payment_id = '%s' AND kind = 'credit'" % d["id"]) == "1"
    # a repeated callback books nothing more
    assert c.rbs.callback(oid, "deposited", 1) == 200
    assert balance(c) == before + 50000
    raw = q(c, "SELECT string_agg(raw::text, ' ') FROM payment_events WHERE payment_id = '%s'" % d["id"])
    assert "4111" not in raw and "IVAN" not in raw and "maskedPan" not in raw, raw
    assert RBS_PASS not in c.gw.logs() and RBS_KEY not in c.gw.logs()
    assert invariant_ok(c)


@test
def test_rbs_post_callback_is_accepted_too(c):
    st, h, d = create(c, "card", "120.00")
    oid = provider_id(c, d["id"])
    c.rbs.pay(oid, notify=False)
    assert c.rbs.callback(oid, "deposited", 1, method="POST") == 200
    assert status(c, d["id"]) == "succeeded"


@test
def test_rbs_forged_callbacks_are_401_and_change_nothing(c):
    before = balance(c)
    st, h, d = create(c, "card", "300.00")
    oid = provider_id(c, d["id"])
    c.rbs.pay(oid, notify=False)          # paid at the bank; now the forgers talk
    assert c.rbs.callback(oid, "deposited", 1, forge="0" * 64) == 401
    assert c.rbs.callback(oid, "deposited", 1, key="not-the-key-0123456789") == 401
    assert c.rbs.callback(oid, "deposited", 1, key=False) == 401         # unsigned
    params = {"mdOrder": oid, "orderNumber": "x", "operation": "deposited", "status": "1"}
    good = checksum(params, RBS_KEY)
    params["status"] = "0"                # altered after signing
    st, h, body = c.gw.request("GET", "/v1/notifications/rbs?" + urllib.parse.urlencode(dict(params, checksum=good)))
    assert st == 401, body
    dup = "mdOrder=%s&mdOrder=%s&operation=deposited&status=1&checksum=%s" % (oid, oid, good)
    assert c.gw.request("GET", "/v1/notifications/rbs?" + dup)[0] == 401
    assert status(c, d["id"]) == "pending" and balance(c) == before
    # a correctly signed callback for an order the bank says is unpaid books nothing either
    st2, h2, d2 = create(c, "card", "310.00")
    oid2 = provider_id(c, d2["id"])
    assert c.rbs.callback(oid2, "deposited", 1) == 200
    assert status(c, d2["id"]) == "pending" and balance(c) == before


@test
def test_rbs_decline_fails_the_payment(c):
    before = balance(c)
    st, h, d = create(c, "card", "200.00")
    oid = provider_id(c, d["id"])
    assert c.rbs.pay(oid, approve=False) == 200
    st, h, p = c.gw.json("GET", "/v1/payments/" + d["id"])
    assert p["status"] == "failed" and "rbs_action_116" in p.get("failure_reason", ""), p
    assert balance(c) == before


@test
def test_rbs_wrong_amount_is_flagged_not_booked(c):
    before = balance(c)
    st, h, d = create(c, "card", "400.00")
    oid = provider_id(c, d["id"])
    c.rbs.report_amount[oid] = 100
    assert c.rbs.pay(oid) == 200
    assert status(c, d["id"]) == "pending"
    assert q(c, "SELECT flagged FROM payments WHERE id = '%s'" % d["id"]) == "t"
    assert balance(c) == before
    assert invariant_ok(c)


@test
def test_rbs_5xx_is_retried_with_the_same_order_number(c):
    c.rbs.fail_next("POST", "register.do", "http500", times=2)
    st, h, d = create(c, "card", "150.00")
    assert st == 201, d
    assert c.rbs.numbers[d["id"].replace("-", "")] == 3


@test
def test_rbs_lost_register_answer_fails_cleanly(c):
    c.rbs.fail_next("POST", "register.do", "timeout")
    t = time.time()
    st, h, d = create(c, "card", "160.00")
    assert st == 502 and error_of(d)[0] == "provider_unavailable", d
    assert time.time() - t < 6
    assert c.rbs.numbers[d["id"].replace("-", "")] == 2          # the same orderNumber, repeated once
    assert status(c, d["id"]) == "failed"
    assert "rbs_answer_lost" in q(c, "SELECT failure_reason FROM payments WHERE id = '%s'" % d["id"])


@test
def test_rbs_down_is_502_after_three_attempts(c):
    c.rbs.fail_next("POST", "register.do", "http500", times=3)
    st, h, d = create(c, "card", "170.00")
    assert st == 502 and error_of(d)[0] == "provider_unavailable", d
    assert c.rbs.numbers[d["id"].replace("-", "")] == 3
    assert status(c, d["id"]) == "failed"


# ---- YooKassa --------------------------------------------------------------------------------


@test
def test_yookassa_full_flow_with_idempotence_key_and_basic_auth(c):
    before = balance(c)
    n_get = c.yk.count("GET", "/v3/payments/")
    st, h, d = create(c, "sbp", "500.00")
    assert st == 201, d
    yid = provider_id(c, d["id"])
    assert c.yk.keys[d["id"]] == 1                               # Idempotence-Key = our payment id
    body = c.yk.bodies[-1]
    assert body["amount"] == {"value": "500.00", "currency": "RUB"} and body["capture"] is True, body
    assert body["payment_method_data"] == {"type": "sbp"}, body
    assert body["confirmation"]["type"] == "redirect" and body["confirmation"]["return_url"].startswith(RET)
    assert body["metadata"]["payment_id"] == d["id"], body
    assert d["confirmation_url"].startswith(c.yk.base + "/checkout/"), d
    assert c.yk.pay(yid) == 200
    assert c.yk.count("GET", "/v3/payments/") == n_get + 1       # re-read before booking
    assert status(c, d["id"]) == "succeeded" and balance(c) == before + 50000
    raw = q(c, "SELECT string_agg(raw::text, ' ') FROM payment_events WHERE payment_id = '%s'" % d["id"])
    assert "4444" not in raw and "555555" not in raw and "first6" not in raw, raw
    assert YK_SECRET not in c.gw.logs()
    assert invariant_ok(c)


@test
def test_yookassa_wallet_methods_map_to_payment_method_data(c):
    for method, want in (("sberpay", "sberbank"), ("yoomoney", "yoo_money")):
        st, h, d = create(c, method, "100.00")
        assert st == 201, d
        assert c.yk.bodies[-1]["payment_method_data"]["type"] == want


@test
def test_yookassa_notification_is_trusted_only_after_the_reread(c):
    before = balance(c)
    st, h, d = create(c, "sbp", "250.00")
    yid = provider_id(c, d["id"])
    forged = dict(c.yk.view(c.yk.payments[yid]), status="succeeded", paid=True)
    assert c.yk.notify(yid, "payment.succeeded", obj=forged) == 200      # the API still says pending
    assert status(c, d["id"]) == "pending" and balance(c) == before
    # nonsense and unknown payments
    st, h, body = c.gw.json("POST", "/v1/notifications/yookassa", {"type": "notification", "event": "payment.succeeded",
                                                                   "object": {"id": "../../etc"}})
    assert st == 401, body
    st, h, body = c.gw.json("POST", "/v1/notifications/yookassa",
                            {"type": "notification", "event": "payment.succeeded",
                             "object": {"id": "2419a771-000f-5000-9000-1edaf29243f2"}})
    assert st == 503 or st == 404, (st, body)      # the API does not know it: not booked
    assert balance(c) == before


@test
def test_yookassa_notification_from_a_foreign_network_is_refused(c):
    g = gateway(c, GATEWAY_YOOKASSA_ALLOW_CIDRS="185.71.76.0/27, 77.75.156.11")
    g.start()
    c.extra.append(g)
    st, h, d = create(c, "sbp", "100.00", gw=g)
    yid = provider_id(c, d["id"])
    c.yk.pay(yid, notify=False)
    assert c.yk.notify(yid, "payment.succeeded", url="http://127.0.0.1:%d/v1/notifications/yookassa" % g.port) == 401
    assert status(c, d["id"]) == "pending"
    g.stop()
    c.extra.remove(g)


@test
def test_yookassa_wrong_amount_is_flagged_not_booked(c):
    before = balance(c)
    st, h, d = create(c, "sbp", "450.00")
    yid = provider_id(c, d["id"])
    c.yk.report_amount[yid] = "45.00"
    assert c.yk.pay(yid) == 200
    assert status(c, d["id"]) == "pending"
    assert q(c, "SELECT flagged FROM payments WHERE id = '%s'" % d["id"]) == "t"
    assert balance(c) == before
    assert invariant_ok(c)


@test
def test_yookassa_decline_fails_with_the_reason(c):
    st, h, d = create(c, "yoomoney", "210.00")
    yid = provider_id(c, d["id"])
    assert c.yk.pay(yid, succeed=False) == 200
    st, h, p = c.gw.json("GET", "/v1/payments/" + d["id"])
    assert p["status"] == "failed" and "insufficient_funds" in p["failure_reason"], p
    st, h, d = create(c, "yoomoney", "211.00")
    yid = provider_id(c, d["id"])
    assert c.yk.pay(yid, succeed=False, reason="expired_on_confirmation") == 200
    assert status(c, d["id"]) == "canceled"


@test
def test_yookassa_timeout_and_500_are_retried_with_the_same_key(c):
    n = len(c.yk.payments)
    c.yk.fail_next("POST", "/v3/payments", "http500")
    c.yk.fail_next("POST", "/v3/payments", "timeout")          # taken, answered too late
    st, h, d = create(c, "sbp", "180.00")
    assert st == 201, d
    assert c.yk.keys[d["id"]] == 3, c.yk.keys[d["id"]]
    assert len(c.yk.payments) == n + 1                        # one payment at the provider
    assert d["confirmation_url"].endswith(provider_id(c, d["id"]))


@test
def test_yookassa_down_is_502_and_failed(c):
    c.yk.fail_next("POST", "/v3/payments", "http500", times=3)
    st, h, d = create(c, "sbp", "190.00")
    assert st == 502 and error_of(d)[0] == "provider_unavailable", d
    assert status(c, d["id"]) == "failed"
    assert c.yk.keys[d["id"]] == 3


@test
def test_oversized_provider_answer_is_refused_not_buffered(c):
    st, h, d = create(c, "sbp", "102.00")
    yid = provider_id(c, d["id"])
    c.yk.pay(yid, notify=False)
    c.yk.bloat[yid] = 2 * 1024 * 1024                        # over the 1 MiB cap
    small = {"id": yid, "status": "succeeded", "paid": True}
    assert c.yk.notify(yid, "payment.succeeded", obj=small) == 503   # not confirmed: YooKassa repeats it
    assert status(c, d["id"]) == "pending"
    del c.yk.bloat[yid]
    assert c.yk.notify(yid, "payment.succeeded") == 200
    assert status(c, d["id"]) == "succeeded"


@test
def test_connections_to_a_provider_are_reused(c):
    conns, reqs = c.yk.connections, len(c.yk.requests)
    for _ in range(8):
        assert create(c, "sbp", "101.00")[0] == 201
    assert len(c.yk.requests) - reqs == 8
    assert c.yk.connections - conns <= 2, c.yk.connections - conns      # at most one per event loop


# ---- TLS -------------------------------------------------------------------------------------


def tls_refused(c, cert, host="127.0.0.1"):
    em = RbsGateway(*cert, user=RBS_USER, password=RBS_PASS, callback_key=RBS_KEY).start()
    g = gateway(c, GATEWAY_RBS_URL="https://%s:%d" % (host, em.port))
    g.start()
    try:
        st, h, d = create(c, "card", "100.00", gw=g)
        assert st == 502, (st, d)
        assert status(c, d["id"]) == "failed"
        assert em.requests == [], em.requests                # nothing was sent over the bad channel
        return q(c, "SELECT failure_reason FROM payments WHERE id = '%s'" % d["id"])
    finally:
        g.stop()
        em.stop()


@test
def test_tls_certificate_from_an_unknown_ca_is_refused(c):
    reason = tls_refused(c, c.untrusted)
    assert "certificate verification failed" in reason, reason


@test
def test_tls_certificate_for_another_host_is_refused(c):
    reason = tls_refused(c, c.wrong_host)
    assert "certificate verification failed: IP address mismatch" in reason, reason
    reason = tls_refused(c, c.wrong_host, host="localhost")
    assert "certificate verification failed: hostname mismatch" in reason.lower(), reason


# ---- refunds ---------------------------------------------------------------------------------


@test
def test_refund_needs_the_bearer_token_and_a_key(c):
    pid, yid = paid_yk(c, "100.00")
    st, h, d = refund(c, pid, token="wrong")
    assert st == 401, d
    st, h, d = c.gw.json("POST", "/v1/internal/payments/%s/refunds" % pid, None, {"Authorization": "Bearer " + ADMIN})
    assert st == 400 and error_of(d)[0] == "idempotency_key_required", d
    for bad in ("0", "-5.00", "1.234", 5):
        st, h, d = refund(c, pid, amount=bad)
        assert st == 400 and error_of(d)[0] == "invalid_amount", (bad, d)
    st, h, d = refund(c, "00000000-0000-0000-0000-000000000000")
    assert st == 404 and error_of(d)[0] == "payment_not_found", d


@test
def test_yookassa_refund_partial_then_the_rest_then_nothing_left(c):
    pid, yid = paid_yk(c, "500.00")
    before = balance(c)
    st, h, d = refund(c, pid, "100.00")
    assert st == 201, d
    assert d["amount"] == "100.00" and d["status"] == "succeeded" and d["payment_status"] == "succeeded", d
    assert d["refunded_amount"] == "100.00" and d["provider_refund_id"] in c.yk.refunds, d
    assert c.yk.keys[d["id"]] == 1                              # Idempotence-Key = our refund id
    assert balance(c) == before - 10000
    st, h, p = c.gw.json("GET", "/v1/payments/" + pid)
    assert p["status"] == "succeeded" and p["refunded_amount"] == "100.00", p
    st, h, d = refund(c, pid)                                   # no amount: the rest
    assert st == 201 and d["amount"] == "400.00" and d["payment_status"] == "refunded", d
    assert balance(c) == before - 50000
    assert c.yk.payments[yid]["refunded_amount"]["value"] == "500.00"
    st, h, d = refund(c, pid, "1.00")
    assert st == 422 and error_of(d)[0] == "nothing_to_refund", d
    debits = q(c, "SELECT string_agg(amount::text, ',' ORDER BY id) FROM ledger WHERE payment_id = '%s'"
                  " AND kind = 'debit'" % pid)
    assert debits == "-10000,-40000", debits
    events = q(c, "SELECT count(*) FROM payment_events WHERE payment_id = '%s' AND note LIKE 'refund %%'" % pid)
    assert events == "2", events
    assert invariant_ok(c)


@test
def test_refund_over_the_paid_amount_is_refused(c):
    pid, yid = paid_yk(c, "300.00")
    st, h, d = refund(c, pid, "300.01")
    assert st == 422 and error_of(d)[0] == "refund_exceeds_paid" and d["available"] == "300.00", d
    assert refund(c, pid, "200.00")[0] == 201
    st, h, d = refund(c, pid, "100.01")
    assert st == 422 and d["available"] == "100.00", d
    assert q(c, "SELECT refunded_amount FROM payments WHERE id = '%s'" % pid) == "20000"
    assert invariant_ok(c)


@test
def test_refund_is_idempotent_on_its_key(c):
    pid, yid = paid_yk(c, "300.00")
    before = balance(c)
    k = key(c)
    st, h, d1 = refund(c, pid, "50.00", k=k)
    assert st == 201, d1
    st, h, d2 = refund(c, pid, "50.00", k=k)
    assert st == 201 and h.get("idempotent-replayed") == "true" and d2["id"] == d1["id"], (h, d2)
    assert balance(c) == before - 5000 and len([r for r in c.yk.refunds.values() if r["payment_id"] == yid]) == 1
    st, h, d = refund(c, pid, "60.00", k=k)
    assert st == 409 and error_of(d)[0] == "idempotency_conflict", d
    assert invariant_ok(c)


@test
def test_refund_of_cash_and_unpaid_payments_is_refused(c):
    tok = "t" * 48
    pid = q(c, "SELECT payment_id FROM book_payment('terminal', 'osmp', NULL, 'cash-refund-%d', '12345', 10000, "
               "'cash', NULL, now(), '%s', NULL)" % (os.getpid(), tok))
    st, h, d = refund(c, pid)
    assert st == 422 and error_of(d)[0] == "cash_refund_refused", d
    assert "terminal" in error_of(d)[1]
    st, h, p = create(c, "sbp", "100.00")
    st, h, d = refund(c, p["id"])
    assert st == 409 and error_of(d)[0] == "payment_not_refundable", d


@test
def test_yookassa_refund_outage_keeps_it_pending_and_the_same_key_finishes_it(c):
    pid, yid = paid_yk(c, "200.00")
    before = balance(c)
    k = key(c)
    c.yk.fail_next("POST", "/v3/refunds", "http500", times=3)
    st, h, d = refund(c, pid, "70.00", k=k)
    assert st == 503 and error_of(d)[0] == "provider_unavailable" and d["status"] == "pending", d
    assert balance(c) == before
    # reserved: the rest cannot be over-refunded meanwhile
    st, h, e = refund(c, pid, "130.01")
    assert st == 422 and e["available"] == "130.00", e
    st, h, d2 = refund(c, pid, "70.00", k=k)
    assert st == 201 and d2["id"] == d["id"], d2
    assert c.yk.keys[d["id"]] == 4                      # the same Idempotence-Key every time
    assert balance(c) == before - 7000
    assert invariant_ok(c)


@test
def test_rbs_refund_partial_full_and_unclear_answer_not_resent(c):
    pid, oid = paid_rbs(c, "600.00")
    before = balance(c)
    st, h, d = refund(c, pid, "100.00")
    assert st == 201 and d["payment_status"] == "succeeded", d
    assert c.rbs.order(oid)["refunded"] == 10000
    n = c.rbs.count("POST", "refund.do")
    c.rbs.fail_next("POST", "refund.do", "timeout")        # refunded at the bank, answer lost
    st, h, d = refund(c, pid)
    assert st == 201 and d["amount"] == "500.00" and d["payment_status"] == "refunded", d
    assert c.rbs.count("POST", "refund.do") == n + 1        # confirmed by the status, not sent twice
    assert c.rbs.order(oid)["refunded"] == 60000
    assert balance(c) == before - 60000
    assert invariant_ok(c)


# ---- the janitor (two gateways, short ages) ----------------------------------------------------


def janitors(c):
    if not getattr(c, "janitors", None):
        c.janitors = [gateway(c, GATEWAY_JANITOR_INTERVAL="1", GATEWAY_PENDING_RECHECK="1",
                              GATEWAY_PENDING_EXPIRE="5") for _ in range(2)]
        for g in c.janitors:
            g.start()
            c.extra.append(g)
    return c.janitors


@test
def test_janitor_books_payments_whose_notification_was_lost_once_across_two_gateways(c):
    pids = []
    for method in ("card", "sbp", "card", "sberpay", "card", "sbp"):
        st, h, d = create(c, method, "111.00")
        assert st == 201, d
        pid = provider_id(c, d["id"])
        if method == "card":
            c.rbs.pay(pid, notify=False)
        else:
            c.yk.pay(pid, notify=False)
        pids.append(d["id"])
    assert all(status(c, p) == "pending" for p in pids)
    janitors(c)
    wait_for(lambda: all(status(c, p) == "succeeded" for p in pids), what="janitor bookings")
    for p in pids:
        assert q(c, "SELECT count(*) FROM ledger WHERE payment_id = '%s' AND kind = 'credit'" % p) == "1"
        ev = q(c, "SELECT string_agg(source, ',') FROM payment_events WHERE payment_id = '%s'"
                  " AND to_status = 'succeeded'" % p)
        assert ev == "janitor", ev
    credited = q(c, "SELECT sum(amount) FROM ledger WHERE payment_id IN ('%s')" % "','".join(pids))
    assert credited == str(6 * 11100), credited
    assert invariant_ok(c)


@test
def test_janitor_cancels_abandoned_payments(c):
    janitors(c)
    st, h, d1 = create(c, "card", "112.00")
    st, h, d2 = create(c, "sbp", "113.00")
    wait_for(lambda: status(c, d1["id"]) == "canceled" and status(c, d2["id"]) == "canceled", timeout=15,
             what="expiry")
    reason = q(c, "SELECT failure_reason FROM payments WHERE id = '%s'" % d1["id"])
    assert reason.startswith("expired"), reason
    src = q(c, "SELECT source FROM payment_events WHERE payment_id = '%s' AND to_status = 'canceled'" % d2["id"])
    assert src == "janitor", src
    # the payer pays after all: flagged for an operator, not booked, not lost
    before = balance(c)
    oid = provider_id(c, d1["id"])
    assert c.rbs.pay(oid) == 200
    assert status(c, d1["id"]) == "canceled" and balance(c) == before
    assert q(c, "SELECT flagged FROM payments WHERE id = '%s'" % d1["id"]) == "t"
    assert invariant_ok(c)


def metrics(gw):
    st, h, body = gw.request("GET", "/metrics")
    assert st == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = int(float(value))
    return out


@test
def test_janitor_and_refunds_are_in_the_metrics(c):
    m = metrics(c.gw)
    assert m['gateway_refunds_total{result="succeeded"}'] >= 5, m
    assert m['gateway_refunds_total{result="unknown"}'] >= 1, m       # the YooKassa outage above
    assert m["gateway_refunded_kopecks_total"] >= 50000 + 20000 + 5000 + 7000 + 60000, m   # the tests above
    assert m["gateway_janitor_runs_total{result=\"ok\"}"] == 0, m    # this gateway runs no janitor
    now = time.time()
    wait_for(lambda: all(metrics(g)['gateway_janitor_runs_total{result="ok"}'] >= 2 for g in janitors(c)),
             timeout=30, what="two janitor runs")
    js = [metrics(g) for g in janitors(c)]
    assert all(now - 30 < j["gateway_janitor_last_success_timestamp_seconds"] <= time.time() + 1 for j in js), js
    assert sum(j['gateway_janitor_payments_total{action="applied"}'] for j in js) >= 6, js
    assert sum(j['gateway_janitor_payments_total{action="expired"}'] for j in js) >= 2, js
    # a payment left pending by a provider that cannot be asked: unsettled, and overdue once it is old
    st, h, d = create(c, "card", "114.00")
    assert st == 201, d
    wait_for(lambda: all(metrics(g)["gateway_web_payments_unsettled"] >= 1 for g in janitors(c)), timeout=30,
             what="unsettled")
    # flagged: an operator's, the janitor leaves it alone, and it stays overdue until someone settles it
    q(c, "UPDATE payments SET created_at = now() - interval '3 days', flagged = true WHERE id = '%s'" % d["id"])
    wait_for(lambda: all(metrics(g)["gateway_web_payments_overdue"] >= 1 and
                         metrics(g)["gateway_web_payments_oldest_unsettled_age_seconds"] >= 3 * 86400
                         for g in janitors(c)), timeout=30, what="overdue")


@test
def test_gateways_stop_cleanly_with_the_janitor_running(c):
    for g in janitors(c):
        assert g.stop() == 0, g.logs()[-2000:]
        c.extra.remove(g)
    c.janitors = None
    assert c.gw.json("GET", "/healthz")[0] == 200
    assert c.gw.stop() == 0, c.gw.logs()[-2000:]      # under sanitizers: no leak, no error at exit


if __name__ == "__main__":
    suite.run(setup, teardown)
