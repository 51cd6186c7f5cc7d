"""Web top-ups: account lookup, payments API with Idempotency-Key, the sandbox acquirer's hosted
page and signed notifications, and the state machine — against a real PostgreSQL."""
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import urllib.parse

from harness import ROOT, Gateway, Postgres, Suite, error_of, gatewayd, PSQL

suite = Suite()
test = suite.test
SECRET = "sandbox-test-secret-0123456789"
RET = "http://127.0.0.1/pay/result"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    rc, out, err = gatewayd(["migrate"], c.pg.url)
    assert rc == 0, err
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.pg.url, "-f",
                    os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
    c.gw = Gateway(c.pg.url, GATEWAY_ADAPTERS="sandbox", GATEWAY_SANDBOX_SECRET=SECRET,
                   GATEWAY_RETURN_HOSTS="127.0.0.1,shop.example.ru", GATEWAY_LOOKUP_RATE="6000",
                   GATEWAY_LOOKUP_BURST="1000")
    c.gw.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % c.gw.port
    c.gw.start()
    c.keyn = 0
    return c


def teardown(c):
    if c:
        c.gw.stop()
        c.pg.destroy()


def key(c):
    c.keyn += 1
    return "test-key-%06d-%d" % (c.keyn, os.getpid())


def create(c, amount="500.00", method="card", account=None, k=None, email="payer@example.com", ret=RET):
    body = {"account": account or {"contract": "12345"}, "amount": amount, "method": method, "email": email,
            "return_url": ret}
    return c.gw.json("POST", "/v1/payments", body, {"Idempotency-Key": k or key(c)})


def balance(c, contract="12345"):
    return int(c.pg.psql("SELECT balance FROM accounts WHERE contract = '%s'" % contract))


def pay_on_page(c, confirmation_url, card="4111 1111 1111 1111", exp="12/39", cvc="123", action="pay"):
    """What the payer does on the hosted page: open it, submit the form. Returns (status, headers, body)."""
    u = urllib.parse.urlsplit(confirmation_url)
    st, h, page = c.gw.request("GET", u.path + "?" + u.query)
    assert st == 200 and b"<form" in page, (st, page[:300])
    form = dict(urllib.parse.parse_qsl(u.query))
    form.update({"card": card, "exp": exp, "cvc": cvc, "action": action})
    return c.gw.request("POST", "/sandbox/pay", urllib.parse.urlencode(form).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})


def notify(c, body, secret=SECRET):
    raw = json.dumps(body).encode()
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return c.gw.json("POST", "/v1/notifications/sandbox", raw,
                     {"Content-Type": "application/json", "X-Sandbox-Signature": sig})


def invariant_ok(c):
    return c.pg.psql("SELECT count(*) FROM ledger_invariant_violations()") == "0"


@test
def test_lookup_by_contract_shows_what_the_form_needs(c):
    st, h, d = c.gw.json("GET", "/v1/accounts/lookup?contract=12345")
    assert st == 200, d
    assert d["holder"] == "И****в И**н И******ч", d
    assert d["status"] == "active" and d["payable"] is True
    assert d["balance"] == "150.00" and d["monthly_fee"] == "600.00"
    # 600 ₽ a month charged daily: 150 ₽ covers floor(150 * days / 600) days; next month needs 450 ₽
    import calendar
    t = time.gmtime(time.time() + 3 * 3600)
    days = calendar.monthrange(t.tm_year, t.tm_mon)[1]
    assert d["days_left"] == 150 * days // 600, d
    assert d["recommended_amount"] == "450.00", d
    assert d["contract"] == "1**45", d
    assert "phone" not in d and "email" not in d


@test
def test_lookup_by_every_phone_spelling(c):
    for spelling in ["8 (913) 123-45-67", "+7 913 1234567", "9131234567", "89131234567", "+79131234567"]:
        st, h, d = c.gw.json("GET", "/v1/accounts/lookup?" + urllib.parse.urlencode({"phone": spelling}))
        assert st == 200 and d["holder"].startswith("И****в"), (spelling, st, d)


@test
def test_lookup_errors(c):
    cases = [("contract=999999999", 404, "account_not_found"), ("contract=12a45", 400, "invalid_contract"),
             ("contract=1", 400, "invalid_contract"), ("phone=12345", 400, "invalid_phone"),
             ("phone=%2B1%20202%20555%200100", 400, "invalid_phone"), ("", 400, "invalid_account"),
             ("contract=12345&phone=9131234567", 400, "invalid_account"),
             ("contract=12345&contract=700000001", 400, "invalid_account"),
             ("contract=" + "1" * 5000, 400, "invalid_contract"), ("contract=12%0045", 400, "invalid_account"),
             ("contract=12345%00", 400, "invalid_account")]
    for q, status, code in cases:
        st, h, d = c.gw.json("GET", "/v1/accounts/lookup?" + q)
        assert st == status and error_of(d)[0] == code, (q, st, d)


@test
def test_lookup_says_suspended_and_closed(c):
    st, h, d = c.gw.json("GET", "/v1/accounts/lookup?contract=123450001")
    assert st == 200 and d["status"] == "suspended" and d["payable"] is True and "приостановлены" in d["message"]
    st, h, d = c.gw.json("GET", "/v1/accounts/lookup?contract=123450002")
    assert st == 200 and d["status"] == "closed" and d["payable"] is False and d["message"]


@test
def test_lookup_is_rate_limited_per_address(c):
    gw = Gateway(c.pg.url, GATEWAY_LOOKUP_RATE="60", GATEWAY_LOOKUP_BURST="3").start()
    try:
        codes = [gw.request("GET", "/v1/accounts/lookup?contract=12345")[0] for _ in range(3)]
        assert codes == [200, 200, 200], codes
        st, h, d = gw.json("GET", "/v1/accounts/lookup?contract=700000001")
        assert st == 429 and error_of(d)[0] == "rate_limited" and int(h["retry-after"]) >= 1, (st, h, d)
        assert 'gateway_rate_limited_total{limiter="lookup"} 1' in gw.request("GET", "/metrics")[2].decode()
    finally:
        gw.stop()


@test
def test_full_flow_card_succeeds_and_books_once(c):
    before = balance(c)
    st, h, d = create(c, "500.00")
    assert st == 201 and d["status"] == "pending" and d["confirmation_url"].startswith("http"), (st, d)
    pid = d["id"]
    st, h, _ = pay_on_page(c, d["confirmation_url"])
    assert st == 303 and h["location"] == RET + "?id=" + pid, (st, h)
    st, h, p = c.gw.json("GET", "/v1/payments/" + pid)
    assert st == 200 and p["status"] == "succeeded" and p["amount"] == "500.00" and p["method"] == "card", p
    assert p["paid_at"] and p["receipt"]["number"] and "/v1/receipts/" in p["receipt"]["url"], p
    assert balance(c) == before + 50000
    row = c.pg.psql("SELECT count(*) || '|' || sum(amount) FROM ledger WHERE payment_id = '%s'" % pid)
    assert row == "1|50000", row
    assert c.pg.psql("SELECT count(*) FROM receipts WHERE payment_id = '%s' AND email = 'payer@example.com'" % pid) == "1"
    events = c.pg.psql("SELECT string_agg(to_status || ':' || source, ',' ORDER BY id) FROM payment_events "
                       "WHERE payment_id = '%s'" % pid)
    assert events == "created:request,pending:request,succeeded:notification", events
    raw = c.pg.psql("SELECT raw->>'status' FROM payment_events WHERE payment_id = '%s' AND to_status = 'succeeded'" % pid)
    assert raw == "succeeded"
    assert invariant_ok(c)


@test
def test_card_data_is_never_stored_or_logged(c):
    st, h, d = create(c, "10.00")
    pay_on_page(c, d["confirmation_url"], card="4111111111111111", cvc="987")
    dump = subprocess.run(["/usr/lib/postgresql/15/bin/pg_dump", "-d", c.pg.url, "--data-only"],
                          capture_output=True, text=True).stdout
    assert "4111111111111111" not in dump and "4111 1111" not in dump
    time.sleep(0.1)
    assert "4111" not in c.gw.logs()


@test
def test_wallet_method_confirm_and_decline(c):
    st, h, d = create(c, "100.00", method="sberpay")
    assert st == 201, d
    st, h, _ = pay_on_page(c, d["confirmation_url"], card="", action="pay")
    assert st == 303
    assert c.gw.json("GET", "/v1/payments/" + d["id"])[2]["status"] == "succeeded"
    st, h, d = create(c, "100.00", method="sbp")
    pay_on_page(c, d["confirmation_url"], card="", action="decline")
    assert c.gw.json("GET", "/v1/payments/" + d["id"])[2]["status"] == "failed"


@test
def test_declined_card_fails_without_booking(c):
    before = balance(c)
    st, h, d = create(c, "300.00")
    st, h, _ = pay_on_page(c, d["confirmation_url"], card="4000 0000 0000 0002")
    assert st == 303
    st, h, p = c.gw.json("GET", "/v1/payments/" + d["id"])
    assert p["status"] == "failed" and "card_declined" in p["failure_reason"] and "receipt" not in p, p
    assert balance(c) == before and invariant_ok(c)


@test
def test_bad_card_number_shows_the_form_again(c):
    st, h, d = create(c, "300.00")
    for card, exp, cvc in [("4111 1111 1111 1112", "12/39", "123"), ("4111111111111111", "01/20", "123"),
                           ("4111111111111111", "12/39", "12"), ("abcd", "12/39", "123")]:
        st, h, page = pay_on_page(c, d["confirmation_url"], card=card, exp=exp, cvc=cvc)
        assert st == 422 and b'role="alert"' in page, (card, st)
    assert c.gw.json("GET", "/v1/payments/" + d["id"])[2]["status"] == "pending"


@test
def test_tampered_sandbox_link_is_refused(c):
    st, h, d = create(c, "300.00")
    url = d["confirmation_url"].replace("a=30000", "a=3")
    u = urllib.parse.urlsplit(url)
    st, h, page = c.gw.request("GET", u.path + "?" + u.query)
    assert st == 400 and "недействительна".encode() in page


@test
def test_idempotent_replay_and_conflict(c):
    k = key(c)
    st1, h1, d1 = create(c, "200.00", k=k)
    st2, h2, d2 = create(c, "200.00", k=k)
    assert st1 == st2 == 201 and d1 == d2, (d1, d2)
    assert h2.get("idempotent-replayed") == "true" and "idempotent-replayed" not in h1
    assert c.pg.psql("SELECT count(*) FROM payments WHERE idempotency_key = '%s'" % k) == "1"
    st3, h3, d3 = create(c, "201.00", k=k)
    assert st3 == 409 and error_of(d3)[0] == "idempotency_conflict", d3


@test
def test_refused_request_does_not_consume_the_key(c):
    k = key(c)
    st, h, d = create(c, account={"contract": "999999999"}, k=k)
    assert st == 404 and error_of(d)[0] == "account_not_found"
    st, h, d = create(c, account={"contract": "12345"}, k=k)
    assert st == 201, d


@test
def test_a_creation_cut_off_before_its_answer_was_recorded_is_resumed_by_the_retry(c):
    # the state a gateway leaves when it dies (or loses the database) between reserving the key and
    # recording the provider's answer: key in progress, payment 'created', no provider id
    k1, k2 = key(c), key(c)
    st, h, d = create(c, "321.00", k=k1)
    assert st == 201, d
    c.pg.psql("SELECT create_web_payment('web', '%s', (SELECT request_hash FROM idempotency_keys WHERE key = '%s'),"
              " '12345', NULL, 32100, 'card', 'sandbox', 'payer@example.com', '%s')" % (k2, k1, RET))
    pid = c.pg.psql("SELECT payment_id FROM idempotency_keys WHERE key = '%s'" % k2)
    st, h, d = create(c, "321.00", k=k2)          # the first request may still be running: wait
    assert st == 409 and error_of(d)[0] == "idempotency_in_progress" and h.get("retry-after"), (st, d)
    c.pg.psql("UPDATE idempotency_keys SET created_at = now() - interval '10 minutes' WHERE key = '%s'" % k2)
    st, h, d = create(c, "321.00", k=k2)          # its lease is over: this retry takes the payment over
    assert st == 201 and d["id"] == pid and d["confirmation_url"], (st, d)
    st, h, d2 = create(c, "321.00", k=k2)
    assert st == 201 and d2 == d and h.get("idempotent-replayed") == "true"
    assert c.pg.psql("SELECT count(*) || ' ' || min(status) FROM payments WHERE idempotency_key = '%s'" % k2) == \
        "1 pending"


@test
def test_concurrent_creates_with_one_key_make_one_payment(c):
    k = key(c)
    results = []

    def go():
        results.append(create(c, "150.00", k=k))

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r[0] for r in results)
    assert set(codes) <= {201, 409}, codes
    ids = {r[2]["id"] for r in results if r[0] == 201}
    assert len(ids) == 1, ids
    for r in results:
        if r[0] == 409:
            assert error_of(r[2])[0] == "idempotency_in_progress" and r[1].get("retry-after")
    assert c.pg.psql("SELECT count(*) FROM payments WHERE idempotency_key = '%s'" % k) == "1"


@test
def test_provider_failure_is_502_and_payment_failed(c):
    st, h, d = create(c, "999.99")
    assert st == 502 and error_of(d)[0] == "provider_unavailable" and d["status"] == "failed", d
    st, h, p = c.gw.json("GET", "/v1/payments/" + d["id"])
    assert p["status"] == "failed" and "provider_unavailable" in p["failure_reason"], p
    assert c.pg.psql("SELECT count(*) FROM payments WHERE status = 'created'") == "0"


@test
def test_validation_errors(c):
    cases = [({"amount": "1.005"}, "invalid_amount"), ({"amount": "-5"}, "invalid_amount"),
             ({"amount": 500}, "invalid_amount"), ({"amount": "0.50"}, "amount_out_of_range"),
             ({"amount": "100000.01"}, "amount_out_of_range"), ({"amount": "1e3"}, "invalid_amount"),
             ({"method": "bitcoin"}, "method_unavailable"), ({"email": "nope"}, "invalid_email"),
             ({"return_url": "https://evil.example.com/"}, "invalid_return_url"),
             ({"return_url": "javascript:alert(1)"}, "invalid_return_url"),
             ({"account": {"contract": "12345", "phone": "9131234567"}}, "invalid_account"),
             ({"account": {"phone": "123"}}, "invalid_phone"), ({"extra": 1}, "unknown_field")]
    base = {"account": {"contract": "12345"}, "amount": "500.00", "method": "card", "email": "a@example.com",
            "return_url": RET}
    for patch, code in cases:
        body = dict(base, **patch)
        st, h, d = c.gw.json("POST", "/v1/payments", body, {"Idempotency-Key": key(c)})
        assert st == 400 and error_of(d)[0] == code, (patch, st, d)
    st, h, d = c.gw.json("POST", "/v1/payments", base)
    assert st == 400 and error_of(d)[0] == "idempotency_key_required"
    st, h, d = c.gw.json("POST", "/v1/payments", base, {"Idempotency-Key": "short"})
    assert st == 400 and error_of(d)[0] == "invalid_idempotency_key"
    st, h, d = create(c, account={"contract": "123450002"})
    assert st == 422 and error_of(d)[0] == "account_closed"


@test
def test_unknown_payment_and_adapter(c):
    for pid in ["00000000-0000-0000-0000-000000000000", "nope", "1;DROP TABLE payments"]:
        st, h, d = c.gw.json("GET", "/v1/payments/" + urllib.parse.quote(pid))
        assert st == 404 and error_of(d)[0] == "payment_not_found", (pid, st)
    st, h, d = c.gw.json("POST", "/v1/notifications/nosuch", b"{}", {"Content-Type": "application/json"})
    assert st == 404 and error_of(d)[0] == "unknown_adapter"


@test
def test_duplicate_and_out_of_order_notifications_are_harmless(c):
    st, h, d = create(c, "700.00")
    order = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d["confirmation_url"]).query))["o"]
    before = balance(c)
    ok = {"order": order, "payment_id": d["id"], "status": "succeeded", "amount": "700.00", "currency": "RUB"}
    results = [notify(c, ok) for _ in range(3)]
    assert [r[2]["result"] for r in results] == ["booked", "already", "already"], results
    st, h, r = notify(c, dict(ok, status="failed", code="late"))
    assert st == 200 and r["result"] == "invalid_state" and r["status"] == "succeeded", r
    st, h, r = notify(c, dict(ok, status="pending"))
    assert st == 200 and r["result"] == "already"
    assert balance(c) == before + 70000
    assert c.pg.psql("SELECT status FROM payments WHERE id = '%s'" % d["id"]) == "succeeded"
    assert invariant_ok(c)


@test
def test_failure_then_late_success_is_flagged_not_booked(c):
    st, h, d = create(c, "80.00")
    order = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d["confirmation_url"]).query))["o"]
    before = balance(c)
    notify(c, {"order": order, "status": "failed", "amount": "80.00", "currency": "RUB", "code": "expired"})
    st, h, r = notify(c, {"order": order, "status": "succeeded", "amount": "80.00", "currency": "RUB"})
    assert st == 200 and r["result"] == "flagged", r
    assert c.pg.psql("SELECT status || '|' || flagged FROM payments WHERE id = '%s'" % d["id"]) == "failed|true"
    assert balance(c) == before


@test
def test_amount_mismatch_is_flagged_not_booked(c):
    st, h, d = create(c, "90.00")
    order = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d["confirmation_url"]).query))["o"]
    before = balance(c)
    st, h, r = notify(c, {"order": order, "status": "succeeded", "amount": "9.00", "currency": "RUB"})
    assert r["result"] == "flagged", r
    assert c.pg.psql("SELECT status || '|' || flagged FROM payments WHERE id = '%s'" % d["id"]) == "pending|true"
    assert balance(c) == before


@test
def test_forged_notification_is_rejected_without_state_change(c):
    st, h, d = create(c, "60.00")
    order = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d["confirmation_url"]).query))["o"]
    body = {"order": order, "status": "succeeded", "amount": "60.00", "currency": "RUB"}
    for secret in ["wrong-secret-wrong-secret", ""]:
        st, h, r = notify(c, body, secret=secret or "x")
        assert st == 401 and error_of(r)[0] == "invalid_notification", r
    st, h, r = c.gw.json("POST", "/v1/notifications/sandbox", json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
    assert st == 401
    assert c.pg.psql("SELECT status FROM payments WHERE id = '%s'" % d["id"]) == "pending"
    m = c.gw.request("GET", "/metrics")[2].decode()
    n = [l for l in m.splitlines() if l.startswith("gateway_notifications_rejected_total ")]
    assert int(n[0].split()[1]) >= 3, n


@test
def test_pay_by_phone(c):
    st, h, d = create(c, "120.00", account={"phone": "8 913 123 45 67"})
    assert st == 201, d
    pay_on_page(c, d["confirmation_url"])
    assert c.pg.psql("SELECT a.contract FROM payments p JOIN accounts a ON a.id = p.account_id "
                     "WHERE p.id = '%s' AND p.status = 'succeeded'" % d["id"]) == "12345"


@test
def test_sandbox_is_off_unless_enabled(c):
    gw = Gateway(c.pg.url).start()
    try:
        st, h, d = gw.json("POST", "/v1/payments", {"account": {"contract": "12345"}, "amount": "5.00",
                                                    "method": "card", "email": "a@example.com",
                                                    "return_url": "http://127.0.0.1/x"},
                           {"Idempotency-Key": "off-key-0001"})
        assert st == 400 and error_of(d)[0] == "method_unavailable", d
        assert gw.request("GET", "/sandbox/pay")[0] == 404
    finally:
        gw.stop()


@test
def test_pipelined_lookups_answer_each_request_and_survive_errors(c):
    """Lookups share database connections (pipelined reads): with many concurrent lookups on one
    connection every request still gets its own account; a read that fails (lock timeout while the
    table is locked) fails only itself — those queued behind it are sent again — every request is
    answered, and afterwards lookups work as before."""
    url = c.pg.url + ("&" if "?" in c.pg.url else "?") + "options=-c%20lock_timeout%3D100ms"
    gw = Gateway(url, GATEWAY_THREADS="1", GATEWAY_DB_POOL="1", GATEWAY_LOOKUP_RATE="100000",
                 GATEWAY_LOOKUP_BURST="100000").start()

    def run(threads, each):
        out = []

        def worker(t):
            for k in range(each):
                contract = str(700000001 + (t * each + k) % 300)
                st, h, d = gw.json("GET", "/v1/accounts/lookup?contract=" + contract)
                out.append((contract, st, d))
        ths = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        return out

    try:
        got = run(16, 25)
        wrong = [(ct, st, d) for ct, st, d in got if st != 200 or d["contract"] != ct[:2] + "****" + ct[-3:]]
        assert len(got) == 400 and not wrong, wrong[:3]
        locker = subprocess.Popen([PSQL, "-X", "-q", "-d", c.pg.url, "-c",
                                   "BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;"],
                                  stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        during = run(16, 3)
        locker.wait()
        codes = sorted({st for _, st, _ in during})
        assert set(codes) <= {200, 503} and 503 in codes, codes
        assert all(error_of(d)[0] == "database_unavailable" for _, st, d in during if st == 503)
        after = run(8, 10)
        assert all(st == 200 and d["contract"] == ct[:2] + "****" + ct[-3:] for ct, st, d in after), after[:3]
        failed = [r for r in gw.log_records() if r.get("msg") == "database query failed"]
        assert failed and all(r.get("sqlstate") == "55P03" for r in failed), failed[:3]
        assert not [r for r in gw.log_records() if r.get("msg") == "database connection lost"]
    finally:
        gw.stop()


if __name__ == "__main__":
    suite.run(setup, teardown)
