"""Receipts: the transactional outbox and its mailer (a real SMTP server, aiosmtpd), retries and
permanent failures, two gateways sharing one outbox, file:// mode, STARTTLS + AUTH, the public
receipt lookup (JSON and the printable page) and the internal lookup and resend API."""
import email
import email.policy
import email.utils
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time

from harness import ROOT, Gateway, Postgres, Suite, error_of, free_port, gatewayd, PSQL
from smtp_server import SMTPServer

suite = Suite()
test = suite.test
ADMIN = "receipts-admin-token-0123456789"
AUTH = {"Authorization": "Bearer " + ADMIN}
FROM = "receipts@gw.example"
ISSUER = "ООО «Тест-Телеком»"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# Fast retries for tests: 200 ms doubling up to 1 s.
FAST = dict(GATEWAY_MAIL_RETRY_BASE_MS="200", GATEWAY_MAIL_RETRY_MAX_MS="1000", GATEWAY_MAIL_TIMEOUT_MS="3000")


class Ctx:
    pass


def q(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def prepare_db(c, name=None):
    url = c.pg.create_db(name) if name else c.pg.url
    rc, out, err = gatewayd(["migrate"], url)
    assert rc == 0, err
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                    os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)
    return url


def gateway(url, **env):
    e = dict(GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_MAIL_FROM=FROM, GATEWAY_RECEIPT_ISSUER=ISSUER,
             GATEWAY_RECEIPT_TZ="Asia/Tomsk", GATEWAY_MAIL_MAX_ATTEMPTS="30", **FAST)
    e.update(env)
    gw = Gateway(url, **e)
    gw.env.setdefault("GATEWAY_PUBLIC_URL", "http://127.0.0.1:%d" % gw.port)
    return gw.start()


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = prepare_db(c)
    c.smtp = SMTPServer().start()
    c.gw = gateway(c.url, GATEWAY_MAIL_URL=c.smtp.url, GATEWAY_PUBLIC_URL="https://pay.example.ru")
    c.txn = 0
    c.tmp = tempfile.mkdtemp(prefix="gw-receipts-")
    return c


def teardown(c):
    if not c:
        return
    for g in (getattr(c, "gw", None),):
        if g:
            g.stop()
    if getattr(c, "smtp", None):
        c.smtp.stop()
    c.pg.destroy()
    shutil.rmtree(c.tmp, ignore_errors=True)


def book(c, email_addr="payer@example.com", amount=50000, contract="12345", method="cash", txn=None, url=None):
    """Books a terminal payment through the SQL booking function; returns (number, token, payment id)."""
    c.txn += 1
    txn = txn or "T-%d-%d" % (os.getpid(), c.txn)
    token = secrets.token_hex(24)
    out = c.pg.psql("SELECT b.result, b.receipt_number, b.payment_id FROM book_payment('terminal', 'osmp', NULL, "
                    "%s, %s, %d, %s, %s, now(), %s, '{}') b" % (q(txn), q(contract), amount, q(method),
                                                                 q(email_addr), q(token)), url=url or c.url)
    result, number, pid = out.split("|")
    assert result == "booked", out
    return number, token, pid


def receipt(c, number, url=None):
    out = c.pg.psql("SELECT state, attempts, coalesce(last_error, ''), coalesce(email, ''), resends, "
                    "sent_at IS NOT NULL FROM receipts WHERE number = %s" % q(number), url=url or c.url)
    state, attempts, err, addr, resends, sent = out.split("|")
    return dict(state=state, attempts=int(attempts), last_error=err, email=addr, resends=int(resends),
                sent=sent == "t")


def wait_receipt(c, number, cond, timeout=15, url=None):
    deadline = time.time() + timeout
    while True:
        r = receipt(c, number, url)
        if cond(r):
            return r
        if time.time() > deadline:
            raise AssertionError("receipt %s: %r" % (number, r))
        time.sleep(0.05)


def metric(gw, name, labels=""):
    st, h, body = gw.request("GET", "/metrics")
    assert st == 200
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), body.decode(), re.M)
    assert m, (name, labels)
    return int(m.group(1))


def parts(msg):
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    text = html = None
    for p in msg.iter_parts():
        assert p.get_content_charset() == "utf-8", p
        assert p["Content-Transfer-Encoding"] == "base64", p
        if p.get_content_type() == "text/plain":
            text = p.get_content()
        elif p.get_content_type() == "text/html":
            html = p.get_content()
    assert text and html
    return text, html


# ---- the mail ----------------------------------------------------------------------------------

@test
def test_mail_arrives_promptly_with_the_right_content(c):
    before = c.smtp.count()
    t0 = time.time()
    number, token, pid = book(c, "payer1@example.com", txn="TXN-777")
    msgs = c.smtp.wait_for(before + 1, timeout=5)
    took = time.time() - t0
    assert took < 3, "woken by NOTIFY, not by the 30 s safety poll: %.2fs" % took
    m = [x for x in msgs if x.number == number]
    assert len(m) == 1, [x.number for x in msgs]
    m = m[0]
    assert m.mail_from == FROM and m.rcpt_tos == ["payer1@example.com"], (m.mail_from, m.rcpt_tos)
    msg = m.msg
    assert msg["To"] == "payer1@example.com"
    assert msg["From"].addresses[0].display_name == ISSUER and msg["From"].addresses[0].addr_spec == FROM
    subject = str(msg["Subject"])
    assert "Квитанция № " + number in subject and "500,00" in subject and "1**45" in subject, subject
    assert "=?UTF-8?B?" in m.raw.decode("ascii"), "the raw Subject is RFC 2047 encoded"
    assert abs(email.utils.parsedate_to_datetime(msg["Date"]).timestamp() - time.time()) < 60
    assert msg["Message-ID"] == "<receipt.%s.r0@gw.example>" % number, msg["Message-ID"]
    assert msg["MIME-Version"] == "1.0" and msg["Auto-Submitted"] == "auto-generated"
    raw = m.raw.decode("ascii")
    assert all(len(line) <= 998 for line in raw.split("\r\n")), "line length"
    text, html = parts(msg)
    link = "https://pay.example.ru/v1/receipts/" + token
    for want in ("Квитанция № " + number, "500,00\u00a0₽", "Договор (лицевой счёт): 1**45",
                 "Наличные, платёжный терминал", "Номер транзакции: TXN-777", link, "Абонент: И****в И**н И******ч"):
        assert want in text, (want, text)
    assert "12345" not in text.replace(token, ""), "the contract is masked"
    assert re.search(r"Дата и время: \d\d\.\d\d\.\d{4} \d\d:\d\d \(UTC\+7\)", text), text
    assert 'href="%s"' % link in html and "1**45" in html and "TXN-777" in html
    r = receipt(c, number)
    assert r["state"] == "sent" and r["attempts"] == 1 and r["sent"] and r["last_error"] == "", r


@test
def test_receipt_json_by_token(c):
    number, token, pid = book(c, "json@example.com", amount=123456, txn="J-1", method="card")
    st, h, doc = c.gw.json("GET", "/v1/receipts/" + token)
    assert st == 200, doc
    assert doc["number"] == number and doc["amount"] == "1234.56" and doc["currency"] == "RUB", doc
    assert doc["status"] == "succeeded" and doc["method"] == "card" and doc["channel"] == "terminal", doc
    assert doc["contract"] == "1**45" and doc["provider_txn_id"] == "J-1", doc
    assert doc["holder_name"] == "И****в И**н И******ч", doc
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["paid_at"]), doc
    assert isinstance(doc["payment_number"], int)
    assert "email" not in doc and "json@example.com" not in str(doc) and token not in str(doc)
    assert h["cache-control"] == "no-store" and h["referrer-policy"] == "no-referrer", h
    assert "accept" in h.get("vary", "").lower()


@test
def test_receipt_page_is_printable_russian_and_escaped(c):
    c.pg.psql("INSERT INTO accounts (contract, holder_name, status) VALUES ('99999', '<b>Злой</b> \"Хакер\"', "
              "'active') ON CONFLICT DO NOTHING")
    evil = "<script>alert(\"x\")</script>&'"
    number, token, pid = book(c, "page@example.com", contract="99999", txn=evil, method="qiwi")
    st, h, body = c.gw.request("GET", "/v1/receipts/" + token, headers=HTML)
    assert st == 200, body
    assert h["content-type"] == "text/html; charset=utf-8", h
    assert "default-src 'none'" in h["content-security-policy"] and h["cache-control"] == "no-store"
    assert h.get("x-robots-tag", "").startswith("noindex")
    page = body.decode("utf-8")
    assert "<script" not in page and "<b>" not in page, "values are escaped"
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;" in page, page
    assert "&lt;*********&gt;" in page, "masked holder, escaped"
    for want in ('<html lang="ru">', "Квитанция об оплате", "№ " + number, "500,00\u00a0₽", "QIWI Кошелёк",
                 "@page", "@media print", "max-width:100mm", "9**99"):
        assert want in page, want
    # The same receipt's mail escapes it too.
    deadline = time.time() + 10
    while not c.smtp.for_number(number) and time.time() < deadline:
        time.sleep(0.05)
    text, html = parts(c.smtp.for_number(number)[0].msg)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert evil in text, "plain text carries the value as is"
    # JSON unless HTML is preferred.
    st, h, doc = c.gw.json("GET", "/v1/receipts/" + token, headers={"Accept": "application/json, text/html"})
    assert st == 200 and doc["provider_txn_id"] == evil, doc


@test
def test_unknown_and_malformed_tokens_are_404(c):
    number, token, pid = book(c, None)
    unknown = secrets.token_hex(24)
    for t in (unknown, token.upper(), token + "0", token[:-1], "g" * 48, "abc", "0" * 47 + "%20",
              token[:24] + "%2F" + token[24:]):
        st, h, doc = c.gw.json("GET", "/v1/receipts/" + t)
        assert st == 404, (t, st, doc)
        assert error_of(doc)[0] == "receipt_not_found", (t, doc)
        st, h, body = c.gw.request("GET", "/v1/receipts/" + t, headers=HTML)
        assert st == 404 and h["content-type"].startswith("text/html") and "Квитанция не найдена" in body.decode()
    st, h, doc = c.gw.json("GET", "/v1/receipts/" + "%00" * 24)
    assert st == 404, (st, doc)
    st, h, doc = c.gw.json("GET", "/v1/receipts/" + token)
    assert st == 200 and doc["number"] == number, "a receipt without an address is still printable"
    assert receipt(c, number)["state"] == "no_email"


# ---- internal API ------------------------------------------------------------------------------

@test
def test_internal_api_requires_the_bearer_token(c):
    number, token, pid = book(c, "auth@example.com")
    for hdrs in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": ADMIN}):
        st, h, doc = c.gw.json("GET", "/v1/internal/receipts?number=" + number, headers=hdrs)
        assert st == 401 and error_of(doc)[0] == "unauthorized", (hdrs, st, doc)
        assert "bearer" in h.get("www-authenticate", "").lower()
        st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, headers=hdrs)
        assert st == 401, (st, doc)


@test
def test_internal_lookup_by_payment_id_or_number(c):
    number, token, pid = book(c, "support@example.com", amount=70000)
    wait_receipt(c, number, lambda r: r["state"] == "sent")
    st, h, a = c.gw.json("GET", "/v1/internal/receipts?payment_id=" + pid, headers=AUTH)
    assert st == 200, a
    st, h, b = c.gw.json("GET", "/v1/internal/receipts?number=" + number, headers=AUTH)
    assert st == 200 and a == b, (a, b)
    assert a["number"] == number and a["payment_id"] == pid and a["state"] == "sent" and a["attempts"] == 1, a
    assert a["email"] == "support@example.com" and a["last_error"] is None and a["sent_at"], a
    assert a["url"] == "https://pay.example.ru/v1/receipts/" + token and a["amount"] == "700.00", a
    assert a["contract"] == "12345" and a["next_attempt_at"] is None, a
    st, h, doc = c.gw.json("GET", "/v1/internal/receipts?payment_id=" + pid.upper(), headers=AUTH)
    assert st == 200 and doc["number"] == number
    bad = [("", "bad_query"), ("?number=%s&payment_id=%s" % (number, pid), "bad_query"),
           ("?number=%s&number=%s" % (number, number), "bad_query"), ("?payment_id=123", "invalid_payment_id"),
           ("?number=26-1", "invalid_number"), ("?number=2026-000001%27", "invalid_number")]
    for qs, code in bad:
        st, h, doc = c.gw.json("GET", "/v1/internal/receipts" + qs, headers=AUTH)
        assert st == 400 and error_of(doc)[0] == code, (qs, st, doc)
    for qs in ("?number=1999-000001", "?payment_id=00000000-0000-4000-8000-000000000000"):
        st, h, doc = c.gw.json("GET", "/v1/internal/receipts" + qs, headers=AUTH)
        assert st == 404 and error_of(doc)[0] == "receipt_not_found", (qs, doc)


@test
def test_resend_to_a_new_address(c):
    number, token, pid = book(c, "old@example.com")
    wait_receipt(c, number, lambda r: r["state"] == "sent")
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, {"email": "new@example.com"},
                           headers=AUTH)
    assert st == 202 and doc["state"] == "pending" and doc["email"] == "new@example.com", doc
    assert doc["attempts"] == 0 and doc["resends"] == 1, doc
    r = wait_receipt(c, number, lambda r: r["state"] == "sent", timeout=5)
    assert r["email"] == "new@example.com" and r["attempts"] == 1, r
    got = c.smtp.for_number(number)
    assert [m.rcpt_tos for m in got] == [["old@example.com"], ["new@example.com"]], [m.rcpt_tos for m in got]
    assert got[1].msg["Message-ID"] == "<receipt.%s.r1@gw.example>" % number, "a resend is a new mail"
    # Without a body: again, to the address on file.
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, headers=AUTH)
    assert st == 202, doc
    wait_receipt(c, number, lambda r: r["state"] == "sent" and r["resends"] == 2, timeout=5)
    deadline = time.time() + 5
    while len(c.smtp.for_number(number)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert c.smtp.for_number(number)[2].rcpt_tos == ["new@example.com"]
    # Refusals.
    cases = [({"email": "not an address"}, 400, "invalid_email"), ({"email": 5}, 400, "invalid_email"),
             ({"email": "a@b.ru", "x": 1}, 400, "unknown_field")]
    for body, code, err in cases:
        st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, body, headers=AUTH)
        assert st == code and error_of(doc)[0] == err, (body, st, doc)
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/1999-000001/resend", headers=AUTH)
    assert st == 404 and error_of(doc)[0] == "receipt_not_found"
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/nonsense/resend", headers=AUTH)
    assert st == 404
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, b"email=x@y.ru",
                           headers=dict(AUTH, **{"Content-Type": "application/x-www-form-urlencoded"}))
    assert st == 415, doc


@test
def test_resend_gives_a_receipt_without_address_one(c):
    number, token, pid = book(c, None)
    assert receipt(c, number)["state"] == "no_email"
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, headers=AUTH)
    assert st == 409 and error_of(doc)[0] == "receipt_no_email", doc
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % number, {"email": "late@example.com"},
                           headers=AUTH)
    assert st == 202 and doc["email"] == "late@example.com", doc
    wait_receipt(c, number, lambda r: r["state"] == "sent", timeout=5)
    assert [m.rcpt_tos for m in c.smtp.for_number(number)] == [["late@example.com"]]


# ---- failures ----------------------------------------------------------------------------------

@test
def test_smtp_outage_is_retried_then_delivered(c):
    retries = metric(c.gw, "gateway_receipt_mail_attempts_total", '{result="retry"}')
    c.smtp.stop()
    try:
        number, token, pid = book(c, "outage@example.com")
        r = wait_receipt(c, number, lambda r: r["attempts"] >= 3 and r["state"] == "pending", timeout=10)
        assert "connect" in r["last_error"].lower(), r
        st, h, doc = c.gw.json("GET", "/v1/internal/receipts?number=" + number, headers=AUTH)
        assert doc["state"] == "pending" and doc["last_error"] and doc["next_attempt_at"], doc
        assert metric(c.gw, "gateway_receipt_mail_attempts_total", '{result="retry"}') >= retries + 2
    finally:
        c.smtp.start()
    r = wait_receipt(c, number, lambda r: r["state"] == "sent", timeout=10)
    assert r["last_error"] == "" and r["attempts"] >= 3, r
    assert len(c.smtp.for_number(number)) == 1


@test
def test_temporary_smtp_reply_is_retried(c):
    c.smtp.tempfail(1)
    number, token, pid = book(c, "busy@example.com")
    r = wait_receipt(c, number, lambda r: r["state"] == "sent", timeout=10)
    assert r["attempts"] == 2, r
    assert len(c.smtp.for_number(number)) == 1
    logs = [x for x in c.gw.log_records() if x.get("receipt") == number]
    assert [x["msg"] for x in logs] == ["receipt mail failed; will retry", "receipt mailed"], logs
    assert "busy@example.com" not in c.gw.logs(), "the log names the receipt, not the address"


@test
def test_permanent_smtp_failure_marks_the_receipt_failed(c):
    failed = metric(c.gw, "gateway_receipt_mail_attempts_total", '{result="failed"}')
    c.smtp.reject("bounce")
    number, token, pid = book(c, "bounce@example.com")
    r = wait_receipt(c, number, lambda r: r["state"] == "failed", timeout=10)
    assert r["attempts"] == 1 and "550" in r["last_error"], r
    st, h, doc = c.gw.json("GET", "/v1/internal/receipts?number=" + number, headers=AUTH)
    assert doc["state"] == "failed" and "550" in doc["last_error"], doc
    assert metric(c.gw, "gateway_receipt_mail_attempts_total", '{result="failed"}') == failed + 1
    deadline = time.time() + 10
    while metric(c.gw, "gateway_receipts", '{state="failed"}') < 1:
        assert time.time() < deadline, "the failed-receipts gauge follows the database"
        time.sleep(0.2)
    assert c.smtp.for_number(number) == []
    # An address no mail server could take (booked by a caller that did not check it) fails at once,
    # and never reaches a mail header.
    number, token, pid = book(c, "two words@example.com\r\nBcc: x@evil.example")
    r = wait_receipt(c, number, lambda r: r["state"] == "failed", timeout=10)
    assert r["attempts"] == 1 and "not valid" in r["last_error"], r
    assert c.smtp.for_number(number) == []


@test
def test_attempt_limit_marks_the_receipt_failed(c):
    url = prepare_db(c, "attempts")
    dead = "smtp://127.0.0.1:%d" % free_port()
    gw = gateway(url, GATEWAY_MAIL_URL=dead, GATEWAY_MAIL_MAX_ATTEMPTS="3", GATEWAY_MAIL_RETRY_BASE_MS="50",
                 GATEWAY_MAIL_RETRY_MAX_MS="100")
    try:
        number, token, pid = book(c, "nobody@example.com", url=url)
        r = wait_receipt(c, number, lambda r: r["state"] == "failed", timeout=10, url=url)
        assert r["attempts"] == 3 and r["last_error"].startswith("gave up after 3 attempts: "), r
        assert metric(gw, "gateway_receipt_mail_attempts_total", '{result="retry"}') == 2
        assert metric(gw, "gateway_receipt_mail_attempts_total", '{result="failed"}') == 1
    finally:
        assert gw.stop() == 0


@test
def test_expired_claim_is_mailed_again_and_a_live_one_is_not(c):
    a, ta, pa = book(c, "crash@example.com")
    b, tb, pb = book(c, "live@example.com")
    wait_receipt(c, a, lambda r: r["state"] == "sent")
    wait_receipt(c, b, lambda r: r["state"] == "sent")
    # As a gateway that died after the SMTP "250" but before recording 'sent' leaves it:
    c.pg.psql("UPDATE receipts SET state = 'sending', next_attempt_at = now() - interval '1 second' "
              "WHERE number = %s; UPDATE receipts SET state = 'sending', next_attempt_at = now() + interval '1 hour' "
              "WHERE number = %s; NOTIFY receipts" % (q(a), q(b)))
    r = wait_receipt(c, a, lambda r: r["state"] == "sent", timeout=5)
    assert r["attempts"] == 2, r
    copies = c.smtp.for_number(a)
    assert len(copies) == 2 and copies[0].msg["Message-ID"] == copies[1].msg["Message-ID"], \
        "the copy carries the original Message-ID"
    assert any(x.get("msg", "").startswith("mailer: a receipt's delivery was interrupted") and x.get("receipt") == a
               for x in c.gw.log_records())
    assert receipt(c, b)["state"] == "sending", "a claim within its lease is left alone"
    st, h, doc = c.gw.json("POST", "/v1/internal/receipts/%s/resend" % b, headers=AUTH)
    assert st == 409 and error_of(doc)[0] == "receipt_sending", doc
    c.pg.psql("UPDATE receipts SET state = 'sent' WHERE number = %s" % q(b))
    assert len(c.smtp.for_number(b)) == 1


# ---- scale-out, file mode, TLS -----------------------------------------------------------------

@test
def test_two_gateways_mail_each_receipt_exactly_once(c):
    url = prepare_db(c, "pair")
    smtp = SMTPServer().start()
    gws = [gateway(url, GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_WORKERS="2") for _ in range(2)]
    try:
        n = 200
        out = c.pg.psql("SELECT count(*) FROM (SELECT (book_payment('terminal', 'osmp', NULL, 'P-' || g, '12345', "
                        "10000 + g, 'cash', 'p' || g || '@example.com', now(), md5(g::text) || "
                        "substr(md5('x' || g), 1, 16), '{}')).result FROM generate_series(1, %d) g) b "
                        "WHERE result = 'booked'" % n, url=url)
        assert int(out) == n
        smtp.wait_for(n, timeout=30)
        time.sleep(0.5)
        numbers = [m.number for m in smtp.messages]
        assert len(numbers) == n and len(set(numbers)) == n, "each receipt mailed exactly once"
        assert all(m.rcpt_tos == [m.msg["To"]] for m in smtp.messages)
        assert c.pg.psql("SELECT count(*) FILTER (WHERE state = 'sent' AND attempts = 1) FROM receipts",
                         url=url) == str(n)
        per = [sum(1 for x in g.log_records() if x.get("msg") == "receipt mailed") for g in gws]
        assert sum(per) == n and all(p > 0 for p in per), per
    finally:
        for g in gws:
            g.stop()
        smtp.stop()


@test
def test_file_mode_writes_one_eml_per_mail(c):
    url = prepare_db(c, "files")
    d = os.path.join(c.tmp, "mail", "out")       # created by the gateway
    gw = gateway(url, GATEWAY_MAIL_URL="file://" + d)
    try:
        booked = [book(c, addr, url=url) for addr in ("f1@example.com", "f2@example.com", None)]
        for number, token, pid in booked[:2]:
            wait_receipt(c, number, lambda r: r["state"] == "sent", url=url)
        files = sorted(os.listdir(d))
        assert files == sorted(n + ".eml" for n, t, p in booked[:2]), files
        for (number, token, pid), addr in zip(booked, ("f1@example.com", "f2@example.com")):
            with open(os.path.join(d, number + ".eml"), "rb") as f:
                raw = f.read()
            assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends"
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert msg["To"] == addr and "Квитанция № " + number in str(msg["Subject"]), msg["Subject"]
            assert msg["X-Receipt-Number"] == number
            text, html = parts(msg)
            assert token in text
        st, h, doc = gw.json("POST", "/v1/internal/receipts/%s/resend" % booked[0][0],
                             {"email": "f3@example.com"}, headers=AUTH)
        assert st == 202, doc
        wait_receipt(c, booked[0][0], lambda r: r["state"] == "sent" and r["resends"] == 1, url=url)
        path = os.path.join(d, booked[0][0] + ".r1.eml")
        with open(path, "rb") as f:
            assert email.message_from_bytes(f.read(), policy=email.policy.default)["To"] == "f3@example.com"
        assert len(os.listdir(d)) == 3, os.listdir(d)
        t0 = time.time()
        assert gw.stop() == 0 and time.time() - t0 < 5
        assert "mailer stopped" in gw.logs()
    finally:
        gw.stop()


@test
def test_starttls_auth_and_connection_reuse(c):
    url = prepare_db(c, "tls")
    cert, key = os.path.join(c.tmp, "cert.pem"), os.path.join(c.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    pw = os.path.join(c.tmp, "mailpw")
    with open(pw, "w") as f:
        f.write("s3cret-pass\n")
    smtp = SMTPServer(tls=(cert, key), auth=("gw-user", "s3cret-pass")).start()
    gw = gateway(url, GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_USER="gw-user", GATEWAY_MAIL_PASSWORD_FILE=pw,
                 GATEWAY_MAIL_CA_FILE=cert)
    try:
        first = book(c, "tls1@example.com", url=url)[0]
        wait_receipt(c, first, lambda r: r["state"] == "sent", url=url)
        second = book(c, "tls2@example.com", url=url)[0]
        wait_receipt(c, second, lambda r: r["state"] == "sent", url=url)
        assert [m.number for m in smtp.messages] == [first, second]
        assert smtp.logins == 1, "the second mail reused the TLS connection (%d logins)" % smtp.logins
        assert "s3cret-pass" not in gw.logs()
    finally:
        gw.stop()
    # A wrong password is a configuration problem: retried, not given up at once.
    with open(pw, "w") as f:
        f.write("wrong-pass\n")
    gw = gateway(url, GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_USER="gw-user", GATEWAY_MAIL_PASSWORD_FILE=pw,
                 GATEWAY_MAIL_CA_FILE=cert)
    try:
        number = book(c, "tls3@example.com", url=url)[0]
        r = wait_receipt(c, number, lambda r: r["attempts"] >= 2, url=url)
        assert r["state"] in ("pending", "sending") and "535" in r["last_error"], r
    finally:
        gw.stop()
    # Without the CA the server's certificate is not trusted: nothing is sent in the clear.
    gw = gateway(url, GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_USER="gw-user", GATEWAY_MAIL_PASSWORD_FILE=pw)
    try:
        number = book(c, "tls4@example.com", url=url)[0]
        r = wait_receipt(c, number, lambda r: r["attempts"] >= 1 and r["last_error"], url=url)
        assert "certificate" in r["last_error"].lower() or "ssl" in r["last_error"].lower(), r
    finally:
        gw.stop()
        smtp.stop()


# ---- configuration and metrics -----------------------------------------------------------------

@test
def test_bad_mail_settings_are_refused_at_start(c):
    cases = [({"GATEWAY_MAIL_STARTTLS": "maybe"}, "GATEWAY_MAIL_STARTTLS"),
             ({"GATEWAY_MAIL_MAX_ATTEMPTS": "0"}, "GATEWAY_MAIL_MAX_ATTEMPTS"),
             ({"GATEWAY_MAIL_WORKERS": "99"}, "GATEWAY_MAIL_WORKERS"),
             ({"GATEWAY_RECEIPT_TZ": "Mars/Olympus"}, "GATEWAY_RECEIPT_TZ"),
             ({"GATEWAY_MAIL_USER": "u"}, "GATEWAY_MAIL_PASSWORD"),
             ({"GATEWAY_MAIL_FROM": "Receipts <r@x.ru>"}, "GATEWAY_MAIL_FROM"),
             ({"GATEWAY_MAIL_RETRY_BASE_MS": "5000", "GATEWAY_MAIL_RETRY_MAX_MS": "1000"}, "GATEWAY_MAIL_RETRY_MAX_MS")]
    for env, name in cases:
        env = dict(env, GATEWAY_LISTEN="127.0.0.1:%d" % free_port())
        rc, out, err = gatewayd(["serve"], c.url, env)
        assert rc == 2 and name in err and len(err.strip().splitlines()) == 1, (env, rc, err)


@test
def test_metrics_expose_mail_counters_and_outbox_gauges(c):
    st, h, body = c.gw.request("GET", "/metrics")
    text = body.decode()
    for series in ('gateway_receipt_mail_attempts_total{result="sent"}',
                   'gateway_receipt_mail_attempts_total{result="retry"}',
                   'gateway_receipt_mail_attempts_total{result="failed"}',
                   'gateway_receipts{state="pending"}', 'gateway_receipts{state="failed"}'):
        assert series in text, series
    assert text.count("# TYPE gateway_receipt_mail_attempts_total counter") == 1
    assert metric(c.gw, "gateway_receipt_mail_attempts_total", '{result="sent"}') >= 5


@test
def test_sigterm_stops_the_mailers_cleanly(c):
    t0 = time.time()
    assert c.gw.stop() == 0
    assert time.time() - t0 < 5
    assert "mailer stopped" in c.gw.logs()
    assert not [x for x in c.gw.log_records() if x.get("level") == "error"], "no errors in the main gateway's log"
    c.gw = None


if __name__ == "__main__":
    suite.run(setup, teardown)
