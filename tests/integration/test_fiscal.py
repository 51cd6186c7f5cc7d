"""Fiscal receipts (54-FZ) against the ATOL Online v4 emulator over HTTPS (a test CA): the document
of a web payment and of its refund, callbacks re-read by GET, token expiry, a lost answer (33 adopts
the uuid), refusals (failed, resent under a new external_id), fiscalisation failures (fail), an
outage of the cashbox, gatewayd killed with -9 under load (exactly one document per payment and
refund), YooKassa's own receipts (GATEWAY_FISCAL=yookassa), the receipt mail and page with the
fiscal data, and the QR code read back from a Chromium screenshot by zbarimg."""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import ROOT, Gateway, Postgres, Suite, error_of, gatewayd, make_ca, make_cert, PSQL, wait_for
from smtp_server import SMTPServer

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
from atol import Atol  # noqa: E402
from yookassa import YooKassa  # noqa: E402

suite = Suite()
test = suite.test
ADMIN = "fiscal-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + ADMIN}
RET = "http://127.0.0.1/pay/result"
YK_SHOP, YK_SECRET = "100500", "test_yk_secret_key_fiscal"
ATOL_LOGIN, ATOL_PASS, GROUP, INN = "v4-online-atol-ru", "iGFFuihss-test", "v4-online-atol-ru_4179", "5544332219"
SELLER = dict(GATEWAY_SELLER_NAME="ООО «Тест-Телеком»", GATEWAY_SELLER_INN=INN, GATEWAY_SELLER_SNO="usn_income",
              GATEWAY_SELLER_VAT="none", GATEWAY_SELLER_EMAIL="kassa@telecom.example",
              GATEWAY_SELLER_PAYMENT_ADDRESS="https://pay.telecom.example", GATEWAY_SELLER_PHONE="8 800 555-35-35")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Ctx:
    pass


def prepare(url):
    rc, out, err = gatewayd(["migrate"], url)
    assert rc == 0, err
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                    os.path.join(ROOT, "deploy", "dev", "demo.sql")], check=True, capture_output=True)


def gateway(c, url=None, **env):
    e = dict(GATEWAY_ADAPTERS="yookassa", GATEWAY_CA_FILE=c.ca, GATEWAY_YOOKASSA_URL=c.yk.base + "/v3",
             GATEWAY_YOOKASSA_SHOP_ID=YK_SHOP, GATEWAY_YOOKASSA_SECRET_KEY=YK_SECRET, GATEWAY_RETURN_HOSTS="127.0.0.1",
             GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_PROVIDER_TIMEOUT_MS="1500", GATEWAY_JANITOR_INTERVAL="0",
             GATEWAY_LOOKUP_RATE="6000", GATEWAY_PAYMENT_RATE="6000", GATEWAY_PAYMENT_BURST="1000",
             GATEWAY_FISCAL="atol", GATEWAY_ATOL_URL=c.atol.base, GATEWAY_ATOL_LOGIN=ATOL_LOGIN,
             GATEWAY_ATOL_PASSWORD=ATOL_PASS, GATEWAY_ATOL_GROUP=GROUP, GATEWAY_ATOL_POLL_AFTER_MS="300000",
             GATEWAY_MAIL_URL=c.smtp.url, GATEWAY_MAIL_FROM="receipts@telecom.example",
             GATEWAY_MAIL_RETRY_BASE_MS="200", GATEWAY_MAIL_RETRY_MAX_MS="1000", GATEWAY_RECEIPT_TZ="Asia/Tomsk",
             GATEWAY_FISCAL_MAIL_WAIT_MS="60000", **SELLER)
    e.update(env)
    g = Gateway(url or c.pg.url, **e)
    g.env["GATEWAY_PUBLIC_URL"] = "http://127.0.0.1:%d" % g.port
    return g


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    prepare(c.pg.url)
    c.dir = tempfile.mkdtemp(prefix="gw-fiscal-")
    make_ca(c.dir, "ca")
    c.ca = os.path.join(c.dir, "ca.pem")
    cert = make_cert(c.dir, "cashbox", "ca", "IP:127.0.0.1,DNS:localhost")
    c.atol = Atol(*cert, login=ATOL_LOGIN, password=ATOL_PASS, group=GROUP, inn=INN).start()
    c.yk = YooKassa(*cert, shop_id=YK_SHOP, secret=YK_SECRET).start()
    c.smtp = SMTPServer().start()
    c.gw = gateway(c).start()
    c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % c.gw.port
    c.extra = []
    c.keyn = 0
    return c


def teardown(c):
    if not c:
        return
    for g in [getattr(c, "gw", None)] + getattr(c, "extra", []):
        if g:
            g.stop()
    for s in ("atol", "yk", "smtp"):
        if getattr(c, s, None):
            getattr(c, s).stop()
    c.pg.destroy()
    shutil.rmtree(getattr(c, "dir", ""), ignore_errors=True)


def key(c):
    c.keyn += 1
    return "fiscal-key-%06d-%d" % (c.keyn, os.getpid())


def q(c, sql, url=None):
    return c.pg.psql(sql, url=url)


def db_of(g):
    return g.env["GATEWAY_MIGRATE_DATABASE_URL"]


def pay(c, amount="500.00", gw=None, email="payer@example.com", before_pay=None):
    """A succeeded YooKassa payment: (our id, YooKassa's id)."""
    g = gw or c.gw
    body = {"account": {"contract": "12345"}, "amount": amount, "method": "card", "email": email, "return_url": RET}
    st, h, d = g.json("POST", "/v1/payments", body, {"Idempotency-Key": key(c)})
    assert st == 201, (st, d)
    yid = q(c, "SELECT provider_txn_id FROM payments WHERE id = '%s'" % d["id"], url=db_of(g))
    if before_pay:
        before_pay(d["id"])
    c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % g.port
    assert c.yk.pay(yid) == 200
    assert q(c, "SELECT status FROM payments WHERE id = '%s'" % d["id"], url=db_of(g)) == "succeeded"
    return d["id"], yid


def refund(c, pid, amount, gw=None):
    g = gw or c.gw
    h = dict(AUTH, **{"Idempotency-Key": key(c), "Content-Type": "application/json"})
    st, hh, d = g.json("POST", "/v1/internal/payments/%s/refunds" % pid, json.dumps({"amount": amount}).encode(), h)
    assert st == 201, (st, d)
    return d["id"]


def doc(c, ext, url=None):
    """The gateway's fiscal document by external_id, as a dict (or None)."""
    out = q(c, "SELECT row_to_json(f) FROM fiscal_documents f WHERE external_id = '%s'" % ext, url=url)
    return json.loads(out) if out else None


def wait_state(c, ext, state, timeout=30.0, url=None):
    return wait_for(lambda: (doc(c, ext, url) or {}).get("state") == state and doc(c, ext, url),
                    timeout, "document %s to be %s (now %s)" % (ext, state, (doc(c, ext, url) or {}).get("state")))


def metric(gw, name, labels=""):
    st, h, body = gw.request("GET", "/metrics")
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), body.decode(), re.M)
    return float(m.group(1)) if m else None


def emulator_copies(c, ext):
    return [d for d in c.atol.documents() if d["external_id"] == ext]


# ---- the document and its life --------------------------------------------------------------------


@test
def test_payment_and_refund_are_receipted_once_with_the_right_document(c):
    pid, yid = pay(c, "500.00")
    f = wait_state(c, pid, "done")
    em = emulator_copies(c, pid)
    assert len(em) == 1 and em[0]["kind"] == "sell", em
    r = em[0]["doc"]["receipt"]
    assert r["client"] == {"email": "payer@example.com"}, r
    assert r["company"] == {"email": "kassa@telecom.example", "sno": "usn_income", "inn": INN,
                            "payment_address": "https://pay.telecom.example"}, r
    item = r["items"][0]
    assert item["name"] == "Оплата услуг связи по договору 12345", item
    assert item["price"] == item["sum"] == r["total"] == 500 and item["quantity"] == 1, item
    assert item["payment_method"] == "advance" and item["payment_object"] == "service", item
    assert item["vat"] == {"type": "none"}
    assert r["payments"] == [{"type": 1, "sum": 500}], r
    assert em[0]["doc"]["service"]["callback_url"].endswith("/v1/fiscal/callback")
    # the result came by the callback (the poll is 300 s away) and was re-read by GET
    assert any(ext == pid and st == 200 for ext, st in c.atol.callbacks_sent), c.atol.callbacks_sent
    assert c.atol.count("GET", "/report/" + f["uuid"]) >= 1
    assert f["fn_number"] == "9999078900004312" and f["fiscal_document_attribute"] and f["total"] == 50000, f
    # a refund of part of it: a sell_refund of that amount, under the refund's id
    rid = refund(c, pid, "120.50")
    rf = wait_state(c, rid, "done")
    em = emulator_copies(c, rid)
    assert len(em) == 1 and em[0]["kind"] == "sell_refund" and em[0]["doc"]["receipt"]["total"] == 120.5, em
    assert rf["kind"] == "sell_refund" and rf["amount"] == 12050, rf
    assert c.atol.report_too_fast == 0, "more than one report request a second"
    # the internal list shows both
    st, h, d = c.gw.json("GET", "/v1/internal/fiscal-documents?payment_id=" + pid, None, AUTH)
    assert st == 200 and [x["kind"] for x in d["documents"]] == ["sell", "sell_refund"], d
    assert [x["state"] for x in d["documents"]] == ["done", "done"] and d["documents"][1]["amount"] == "120.50", d


@test
def test_the_mail_waits_for_the_fiscal_data_and_carries_it(c):
    addr = "fiscal-mail-%s@example.com" % secrets.token_hex(3)
    pid, yid = pay(c, "300.00", email=addr)
    f = wait_state(c, pid, "done")
    mails = wait_for(lambda: [m for m in c.smtp.messages if addr in m.rcpt_tos], 30, "the receipt mail")
    assert len(mails) == 1, len(mails)                    # the data was there in time: one mail, not two
    text = next(p.get_content() for p in mails[0].msg.iter_parts() if p.get_content_type() == "text/plain")
    for want in ("Продавец: ООО «Тест-Телеком»", "ИНН продавца: " + INN, "Горячая линия: 8 800 555-35-35",
                 "ФН №: 9999078900004312", "ФД №: " + f["fiscal_document_number"],
                 "ФП: " + f["fiscal_document_attribute"], "Система налогообложения: УСН доходы", "НДС: без НДС",
                 "&s=300.00&fn=9999078900004312&i=%s&fp=%s&n=1" % (f["fiscal_document_number"],
                                                                   f["fiscal_document_attribute"])):
        assert want in text, (want, text)
    assert "ТЕСТОВЫЙ ЧЕК" not in text
    assert q(c, "SELECT fiscal_in_mail FROM receipts WHERE payment_id = '%s'" % pid) == "t"


@test
def test_late_fiscal_data_follows_in_a_second_mail(c):
    url = c.pg.create_db("fiscal_late")
    prepare(url)
    gw = gateway(c, url=url, GATEWAY_FISCAL_MAIL_WAIT_MS="300")
    c.extra.append(gw)
    gw.start()
    c.atol.fiscal_delay = 4.0
    addr = "fiscal-late-%s@example.com" % secrets.token_hex(3)
    try:
        pid, yid = pay(c, "222.00", gw=gw, email=addr)
    finally:
        c.atol.fiscal_delay = 1.0
        c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % c.gw.port
    first = wait_for(lambda: [m for m in c.smtp.messages if addr in m.rcpt_tos], 30, "the first mail")[0]
    text = next(p.get_content() for p in first.msg.iter_parts() if p.get_content_type() == "text/plain")
    assert "ФН №" not in text and "Кассовый чек формируется и придёт отдельным письмом" in text, text
    wait_state(c, pid, "done", url=url)
    mails = wait_for(lambda: [m for m in c.smtp.messages if addr in m.rcpt_tos][1:] and
                     [m for m in c.smtp.messages if addr in m.rcpt_tos], 30, "the second mail")
    assert len(mails) == 2, len(mails)
    second = mails[1]
    text = next(p.get_content() for p in second.msg.iter_parts() if p.get_content_type() == "text/plain")
    assert "ФН №: 9999078900004312" in text and "&s=222.00&" in text, text
    assert second.msg["Subject"].startswith("Кассовый чек к квитанции") and second.msg["Message-ID"] != first.msg["Message-ID"]
    assert second.number == first.number
    time.sleep(1.5)
    assert len([m for m in c.smtp.messages if addr in m.rcpt_tos]) == 2            # and no third
    assert q(c, "SELECT state || ' ' || fiscal_in_mail || ' ' || fiscal_followup FROM receipts WHERE payment_id = '%s'"
             % pid, url=url) == "sent true false"


@test
def test_an_expired_token_is_fetched_again_mid_run(c):
    pay(c, "10.00")
    before = c.atol.token_requests
    c.atol.expire_tokens()
    pid, yid = pay(c, "11.00")
    wait_state(c, pid, "done")
    assert c.atol.expired_answers >= 1 and c.atol.token_requests == before + 1, (c.atol.expired_answers,
                                                                                  c.atol.token_requests, before)
    assert len(emulator_copies(c, pid)) == 1


@test
def test_a_lost_answer_is_repeated_and_33_adopts_the_first_document(c):
    c.atol.fail_next("POST", "/sell", "drop")
    pid, yid = pay(c, "12.00")
    f = wait_state(c, pid, "done", timeout=40)
    assert c.atol.posts[pid] >= 2, c.atol.posts[pid]       # the repeat after the lost answer got 33
    em = emulator_copies(c, pid)
    assert len(em) == 1 and em[0]["uuid"] == f["uuid"], (em, f)


@test
def test_a_refused_request_fails_with_the_reason_and_a_resend_uses_a_new_external_id(c):
    c.atol.refuse_next(32)
    pid, yid = pay(c, "13.00")
    f = wait_state(c, pid, "failed")
    assert f["error_code"] == 32 and "32" in f["last_error"], f
    assert not emulator_copies(c, pid)
    st, h, d = c.gw.json("GET", "/v1/internal/receipts?payment_id=" + pid, None, AUTH)
    assert st == 200 and d["fiscal"]["state"] == "failed" and d["fiscal"]["error_code"] == 32, d
    wait_for(lambda: (metric(c.gw, "gateway_fiscal_documents", '{state="failed"}') or 0) >= 1, 15, "failed gauge")
    st, h, d = c.gw.json("POST", "/v1/internal/fiscal-documents/%s/resend" % f["id"], None, AUTH)
    assert st == 202 and d["result"] == "resent", d
    st, h, d = c.gw.json("POST", "/v1/internal/fiscal-documents/%s/resend" % f["id"], None, AUTH)
    assert st == 409 and error_of(d)[0] == "document_not_failed", d
    g2 = wait_state(c, pid + "-2", "done")
    assert g2["generation"] == 2 and len(emulator_copies(c, pid + "-2")) == 1
    st, h, d = c.gw.json("GET", "/v1/internal/receipts?payment_id=" + pid, None, AUTH)
    assert d["fiscal"]["state"] == "done" and d["fiscal"]["fiscal_sign"] == g2["fiscal_document_attribute"], d


@test
def test_a_fiscalisation_failure_is_final_and_shows_in_metrics_and_lookup(c):
    pid, yid = pay(c, "14.00", before_pay=lambda p: c.atol.fail_ids.add(p))
    f = wait_state(c, pid, "fail")
    assert f["last_error"] and "fail" in f["last_error"], f
    wait_for(lambda: (metric(c.gw, "gateway_fiscal_documents", '{state="fail"}') or 0) >= 1, 15, "fail gauge")
    assert (metric(c.gw, "gateway_fiscal_attempts_total", '{result="fail"}') or 0) >= 1
    st, h, d = c.gw.json("GET", "/v1/internal/receipts?payment_id=" + pid, None, AUTH)
    assert st == 200 and d["fiscal"]["state"] == "fail" and d["fiscal"]["last_error"], d
    st, h, d = c.gw.json("POST", "/v1/internal/fiscal-documents/%s/resend" % f["id"], None, AUTH)
    assert st == 409, d                                  # fail is final: a person decides (correction receipt)


@test
def test_cashbox_outage_then_every_document_once(c):
    # FISCAL_OUTAGE_SECONDS=600 is the ten-minute version; after it, a document waits at most for its
    # next attempt (the backoff tops at 10 minutes)
    outage = float(os.environ.get("FISCAL_OUTAGE_SECONDS", "2"))
    c.atol.down = True
    t0 = time.time()
    pids = []
    while True:
        pids.append(pay(c, "%d.00" % (20 + len(pids)))[0])
        if len(pids) >= 5 and time.time() - t0 >= outage:
            break
        time.sleep(min(5.0, outage / 10))
    wait_for(lambda: all((doc(c, p) or {}).get("attempts", 0) >= 1 for p in pids), 30, "attempts in the outage")
    assert all(doc(c, p)["state"] in ("pending", "sending") for p in pids)
    c.atol.down = False
    for p in pids:
        wait_state(c, p, "done", timeout=60 if outage < 60 else 720)
        assert len(emulator_copies(c, p)) == 1
    attempts = [doc(c, p)["attempts"] for p in pids]
    assert max(attempts) >= 2
    print("# outage of %.0f s: %d documents, attempts per document %d..%d, each once at the cashbox"
          % (time.time() - t0 if outage < 60 else outage, len(pids), min(attempts), max(attempts)))


@test
def test_callback_is_only_a_hint(c):
    st, h, d = c.gw.json("POST", "/v1/fiscal/callback", b'{"uuid": "no-such-document"}',
                         {"Content-Type": "application/json"})
    assert st == 200 and d == {"accepted": False}, d
    st, h, d = c.gw.json("POST", "/v1/fiscal/callback", b'{"uuid": "<script>"}', {"Content-Type": "application/json"})
    assert st == 400 and error_of(d)[0] == "invalid_uuid", d
    st, h, d = c.gw.json("POST", "/v1/fiscal/callback", b'not json', {"Content-Type": "application/json"})
    assert st == 400, d
    # a forged "done" for a real document changes nothing: the worker asks the cashbox
    c.atol.callbacks = False
    c.atol.fiscal_delay = 5.0
    try:
        pid, yid = pay(c, "15.00")
        f = wait_state(c, pid, "registered")
        forged = {"uuid": f["uuid"], "status": "done", "payload": {"fn_number": "1111111111111111",
                                                                  "fiscal_document_number": 1,
                                                                  "fiscal_document_attribute": 1}}
        st, h, d = c.gw.json("POST", "/v1/fiscal/callback", json.dumps(forged).encode(),
                             {"Content-Type": "application/json"})
        assert st == 200 and d == {"accepted": True}, d
        wait_for(lambda: c.atol.count("GET", "/report/" + f["uuid"]) >= 1, 15, "the re-read")
        assert doc(c, pid)["state"] != "done" or doc(c, pid)["fn_number"] == "9999078900004312"
        # the cashbox's own word, asked for again after the hint
        time.sleep(5.5)
        c.gw.json("POST", "/v1/fiscal/callback", json.dumps({"uuid": f["uuid"]}).encode(),
                  {"Content-Type": "application/json"})
        f = wait_state(c, pid, "done")
        assert f["fn_number"] == "9999078900004312", f
    finally:
        c.atol.callbacks = True
        c.atol.fiscal_delay = 1.0


@test
def test_partner_cash_is_receipted_only_for_a_fiscal_partner(c):
    rc, out, err = gatewayd(["partner", "add", "fiscal-shop", "--protocol", "json", "--fiscal"], c.pg.url)
    assert rc == 0 and "--fiscal" in out, (out, err)
    rc, out, err = gatewayd(["partner", "add", "plain-shop", "--protocol", "json"], c.pg.url)
    assert rc == 0, err
    ids = {}
    for name in ("fiscal-shop", "plain-shop"):
        txn = "P-%s-%d" % (name, os.getpid())
        out = q(c, "SELECT b.payment_id FROM partners p, book_payment('partner', 'json', p.id, '%s', '12345', 7000,"
                   " 'cash', NULL, now(), '%s', '{}') b WHERE p.name = '%s'" % (txn, secrets.token_hex(24), name))
        ids[name] = out
    f = wait_state(c, ids["fiscal-shop"], "done")
    em = emulator_copies(c, ids["fiscal-shop"])
    # no e-mail given at the shop: the account's phone is the buyer's contact (tag 1008)
    assert len(em) == 1 and em[0]["doc"]["receipt"]["client"] == {"phone": "+79131234567"}, em
    assert f["email"] is None
    assert doc(c, ids["plain-shop"]) is None
    assert q(c, "SELECT count(*) FROM fiscal_documents WHERE payment_id IN (SELECT id FROM payments WHERE"
                " channel = 'terminal')") == "0"


@test
def test_killed_with_sigkill_under_load_every_payment_and_refund_once(c):
    url = c.pg.create_db("fiscal_kill")
    prepare(url)
    # a killed gateway misses the callbacks of its documents: the poll (soon, here) finds their results
    gw = gateway(c, url=url, GATEWAY_FISCAL_WORKERS="2", GATEWAY_ATOL_POLL_AFTER_MS="3000")
    c.extra.append(gw)
    gw.start()
    rc, out, err = gatewayd(["partner", "add", "kill-shop", "--protocol", "json", "--fiscal"], url)
    assert rc == 0, err
    stop = threading.Event()
    booked = []

    errors = []

    def load():
        n = 0
        while not stop.is_set() and not errors:
            n += 1
            try:
                out = q(c, "SELECT b.payment_id FROM partners p, book_payment('partner', 'json', p.id, 'K-%d-%d',"
                           " '12345', %d, 'cash', 'k%d@example.com', now(), '%s', '{}') b"
                           " WHERE p.name = 'kill-shop'" % (os.getpid(), n, 10000 + n, n, secrets.token_hex(24)), url=url)
            except subprocess.CalledProcessError as e:
                out = "psql failed: %s" % e.stderr
            if not re.match(r"^[0-9a-f-]{36}$", out or ""):
                errors.append(out)
            booked.append(out)
            time.sleep(0.02)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    pids, refunds, kills = [], [], 0
    try:
        for round_ in range(4):
            pid, yid = pay(c, "%d.00" % (40 + round_), gw=gw)
            pids.append(pid)
            refunds.append(refund(c, pid, "1.00", gw=gw))
            # kill while documents are between the claim and the record
            wait_for(lambda: q(c, "SELECT count(*) FROM fiscal_documents WHERE state IN ('sending', 'polling')",
                               url=url) != "0", 30, "a document in flight")
            gw.stop(sig=signal.SIGKILL)
            kills += 1
            # the claims' leases run out (what the next worker waits for), then a new gatewayd goes on
            q(c, "UPDATE fiscal_documents SET next_attempt_at = now() WHERE state IN ('sending', 'polling')", url=url)
            gw.start()
    finally:
        stop.set()
        t.join()
    assert not errors and len(booked) > 20, (errors, len(booked))
    expected = set(booked) | set(pids) | set(refunds)
    wait_for(lambda: q(c, "SELECT count(*) FROM fiscal_documents WHERE state <> 'done'", url=url) == "0", 180,
             lambda: "every document done (%s)" % q(c, "SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state,"
                                                      " count(*) n FROM fiscal_documents GROUP BY state) s", url=url))
    ours = q(c, "SELECT string_agg(external_id, ',') FROM fiscal_documents", url=url).split(",")
    assert set(ours) == expected, (len(ours), len(expected))
    at_cashbox = [d["external_id"] for d in c.atol.documents() if d["external_id"] in expected]
    dups = len(at_cashbox) - len(set(at_cashbox))
    assert set(at_cashbox) == expected and dups == 0, (len(at_cashbox), len(expected), dups)
    print("# %d documents (%d payments, %d refunds), %d kills with -9, duplicates at the cashbox: %d, "
          "repeats answered 33: %d" % (len(expected), len(booked) + len(pids), len(refunds), kills, dups,
                                       sum(1 for e in expected if c.atol.posts.get(e, 0) > 1)))


@test
def test_yookassa_makes_its_own_receipts(c):
    url = c.pg.create_db("fiscal_yk")
    prepare(url)
    gw = gateway(c, url=url, GATEWAY_FISCAL="yookassa")
    c.extra.append(gw)
    gw.start()
    c.yk.receipts_required = True
    n_atol = len(c.atol.requests)
    try:
        pid, yid = pay(c, "250.00", gw=gw)
        rid = refund(c, pid, "50.00", gw=gw)
    finally:
        c.yk.receipts_required = False
        c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % c.gw.port
    receipts = dict(c.yk.receipts)
    r = receipts[yid]
    assert r["customer"] == {"email": "payer@example.com"}, r
    assert r["items"] == [{"description": "Оплата услуг связи по договору 12345", "quantity": "1.00",
                           "amount": {"value": "250.00", "currency": "RUB"}, "vat_code": 1,
                           "payment_subject": "service", "payment_mode": "advance"}], r
    yrid = q(c, "SELECT provider_refund_id FROM refunds WHERE id = '%s'" % rid, url=url)
    rr = receipts[yrid]
    assert rr["items"][0]["amount"] == {"value": "50.00", "currency": "RUB"} and rr["customer"] == r["customer"], rr
    assert q(c, "SELECT count(*) FROM fiscal_documents", url=url) == "0"
    assert len(c.atol.requests) == n_atol


@test
def test_sandbox_cashbox_receipts_at_once_marked_as_a_test(c):
    url = c.pg.create_db("fiscal_sandbox")
    prepare(url)
    gw = gateway(c, url=url, GATEWAY_FISCAL="sandbox")
    c.extra.append(gw)
    gw.start()
    n_atol = len(c.atol.requests)
    try:
        pid, yid = pay(c, "99.00", gw=gw)
    finally:
        c.yk.notify_url = "http://127.0.0.1:%d/v1/notifications/yookassa" % c.gw.port
    f = wait_state(c, pid, "done", url=url)
    assert f["cashbox"] == "sandbox" and f["fn_number"].startswith("9999"), f
    token = q(c, "SELECT token FROM receipts WHERE payment_id = '%s'" % pid, url=url)
    st, h, page = gw.request("GET", "/v1/receipts/" + token, headers={"Accept": "text/html"})
    page = page.decode()
    assert st == 200 and "ТЕСТОВЫЙ ЧЕК — не является фискальным документом" in page and "<svg" in page, page[:500]
    st, h, d = gw.json("GET", "/v1/receipts/" + token)
    assert d["fiscal"]["test"] is True and d["fiscal"]["state"] == "done", d
    assert len(c.atol.requests) == n_atol


# ---- the printable receipt in a browser ------------------------------------------------------------


@test
def test_printable_receipt_shows_fiscal_data_and_a_qr_that_decodes(c):
    assert CHROMIUM, "chromium is missing (deploy/dev/deps.sh installs it)"
    assert shutil.which("zbarimg"), "zbarimg is missing (zbar-tools)"
    pid, yid = pay(c, "777.70")
    f = wait_state(c, pid, "done")
    token = q(c, "SELECT token FROM receipts WHERE payment_id = '%s'" % pid)
    t = q(c, "SELECT to_char(receipt_datetime AT TIME ZONE 'Asia/Tomsk', 'YYYYMMDD\"T\"HH24MI') FROM fiscal_documents"
             " WHERE external_id = '%s'" % pid)
    want = "t=%s&s=777.70&fn=9999078900004312&i=%s&fp=%s&n=1" % (t, f["fiscal_document_number"],
                                                                 f["fiscal_document_attribute"])
    url = "http://127.0.0.1:%d/v1/receipts/%s" % (c.gw.port, token)
    prof = tempfile.mkdtemp(prefix="gw-chromium-", dir=c.dir)
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + prof,
            "--no-first-run", "--hide-scrollbars"]
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    for w in ("ФН №", "9999078900004312", "ФП", f["fiscal_document_attribute"], "ИНН продавца", INN,
              "8 800 555-35-35", "www.nalog.gov.ru", "УСН доходы", "Кассовый чек"):
        assert w in dom, (w, dom[:2000])
    png = os.path.join(c.dir, "receipt.png")
    subprocess.run(base + ["--screenshot=" + png, "--window-size=900,2200", url], capture_output=True, timeout=120)
    assert os.path.exists(png), "no screenshot"
    out = subprocess.run(["zbarimg", "-q", "--raw", png], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == want, (out.stdout, out.stderr, want)
    # the public JSON carries the same
    st, h, d = c.gw.json("GET", "/v1/receipts/" + token)
    assert st == 200 and d["fiscal"]["qr"] == want and d["seller"]["inn"] == INN, d


if __name__ == "__main__":
    suite.run(setup, teardown)
