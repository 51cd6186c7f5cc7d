#!/usr/bin/python3
"""The database guards the money even from its own clients (schema/009_roles.sql): the service role
(what gatewayd serve and its commands log in as) can read but not write a row of money; a booked
payment's identity is frozen; refunds are guarded; the health check sees what the guards exist for;
imports carry the moment of their balance, so a payment booked after an export survives its import.

Each hole found from outside is reproduced as the service role and refused (permission denied), and
each kind of corruption is planted as the owner (guards lifted on purpose) and reported by
ledger_invariant_violations()."""
import os
import subprocess
import tempfile
import uuid

from harness import Gateway, Postgres, Suite, gatewayd, role_url

suite = Suite()
test = suite.test
PSQL = "/usr/lib/postgresql/15/bin/psql"
TOKEN = "a" * 40


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    rc, out, err = gatewayd(["migrate"], c.pg.url)
    assert rc == 0, err
    c.pg.psql("INSERT INTO accounts (contract, holder_name, balance, monthly_fee) VALUES "
              "('700000001', 'Guard One', 10000, 60000), ('700000002', 'Guard Two', 0, 60000)")
    c.pg.psql("INSERT INTO partners (name, protocol, login) VALUES ('guard-net', 'osmp', 'guard-net')")
    c.partner = c.pg.psql("SELECT id FROM partners WHERE name = 'guard-net'")
    return c


def teardown(c):
    if c:
        c.pg.destroy()


def service(c, sql):
    """Runs sql as the service role; (ok, output or error text)."""
    p = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", c.pg.service_url, "-c", sql],
                       capture_output=True, text=True)
    return p.returncode == 0, (p.stdout if p.returncode == 0 else p.stderr).strip()


def refused(c, sql, needle="permission denied"):
    ok, out = service(c, sql)
    assert not ok and needle in out, (sql, ok, out)


def violations(c):
    full = c.pg.psql("SELECT problem || ': ' || detail FROM ledger_invariant_violations() ORDER BY 1")
    # the check of one period (021; here the last day, which holds all of this suite's rows) finds the
    # same kinds of problem
    day = c.pg.psql("SELECT string_agg(DISTINCT problem, ',' ORDER BY problem) FROM ledger_invariant_violations("
                    "now() - interval '1 day', now() + interval '1 hour')")
    kinds = ",".join(sorted({line.split(":")[0] for line in full.splitlines()}))
    assert day == kinds, (day, full)
    return full


def book_cash(c, txn, contract="700000001", amount=5000):
    ok, out = service(c, "SELECT result || '|' || payment_id FROM book_payment('terminal', 'osmp', %s, '%s', '%s', %d, "
                         "'cash', NULL, NULL, '%s', NULL)" % (c.partner, txn, contract, amount, TOKEN + txn[-8:].zfill(8)))
    assert ok and out.startswith("booked|"), out
    return out.split("|")[1]


def book_web(c, amount=20000):
    """A succeeded web payment, through the functions the service uses."""
    key = "guard-" + uuid.uuid4().hex
    ok, out = service(c, "SELECT payment_id FROM create_web_payment('web', '%s', 'h', '700000002', NULL, %d, 'card', "
                         "'sandbox', 'p@example.com', 'http://127.0.0.1/r')" % (key, amount))
    assert ok, out
    pid = out
    ok, out = service(c, "SELECT result FROM payment_started('%s', 'prov-%s', 'https://pay/x', NULL, 201, '{}')"
                         % (pid, key))
    assert ok, out
    ok, out = service(c, "SELECT result FROM settle_payment('%s', 'notification', '%s', NULL)"
                         % (pid, (TOKEN + key)[:48]))
    assert ok and out == "booked", out
    return pid


def as_owner_unguarded(c, sql):
    """Plants corruption the way only the schema owner can: its guard triggers switched off for one
    transaction (what a bug in an owner's function, or a hand edit, could leave behind)."""
    c.pg.psql("BEGIN; SET LOCAL session_replication_role = replica; %s; COMMIT" % sql, superuser=True)


@test
def test_service_role_has_no_write_grant_on_money_tables(c):
    for table in ("accounts", "payments", "payment_events", "ledger", "receipts", "refunds", "idempotency_keys"):
        for priv in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            ok, out = service(c, "SELECT has_table_privilege('%s', '%s')" % (table, priv))
            assert ok and out == "f", (table, priv, out)
        ok, out = service(c, "SELECT has_table_privilege('%s', 'SELECT')" % table)
        assert ok and out == "t", (table, out)


@test
def test_every_writer_runs_as_the_owner_with_a_fixed_search_path(c):
    bad = c.pg.psql("SELECT string_agg(p.proname, ', ') FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
                    "AND p.prosecdef AND (p.proconfig IS NULL OR NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) s "
                    "WHERE s LIKE 'search_path=pg_catalog, public%%')) ")
    assert bad == "", bad
    owners = c.pg.psql("SELECT string_agg(DISTINCT pg_get_userbyid(p.proowner), ',') FROM pg_proc p "
                       "WHERE p.pronamespace = 'public'::regnamespace")
    assert owners == "gateway_owner", owners
    n = int(c.pg.psql("SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef"))
    assert n >= 18, n
    # the functions that hand out grants are the owner's alone
    refused(c, "SELECT gateway_grant_service('gateway_service')")


@test
def test_hole_1_the_guard_flag_gives_the_service_role_nothing(c):
    # found from outside: after SET gateway.money_write = on, a plain UPDATE of a balance succeeded
    refused(c, "SET gateway.money_write = on; UPDATE accounts SET balance = balance + 100000000 "
               "WHERE contract = '700000001'")
    pid = book_cash(c, "9100001")
    refused(c, "SET gateway.money_write = on; UPDATE payments SET status = 'refunded' WHERE id = '%s'" % pid)
    ok, out = service(c, "SET gateway.money_write = on; SELECT money_write_allowed()")
    assert ok and out == "f", out
    # the owner, outside its functions, is held by the guards too: the flag needs the owner's functions
    c.pg.psql("SET gateway.money_write = on; SELECT money_write_allowed()")
    assert violations(c) == ""


@test
def test_hole_2_a_booked_payments_identity_is_frozen(c):
    pid = book_cash(c, "9100002")
    refused(c, "UPDATE payments SET provider_txn_id = '9100002-x' WHERE id = '%s'" % pid)
    refused(c, "UPDATE payments SET channel = 'web' WHERE id = '%s'" % pid)
    # even the owner, with the flag, cannot rename it: the guard trigger refuses
    for change in ("provider_txn_id = '9100002-x'", "channel = 'web'", "adapter = 'sandbox'", "partner_id = NULL",
                   "paid_at = now() - interval '1 day'"):
        p = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.pg.url, "-c",
                            "BEGIN; SET LOCAL gateway.money_write = on; UPDATE payments SET %s WHERE id = '%s'; COMMIT"
                            % (change, pid)], capture_output=True, text=True)
        assert p.returncode != 0 and ("frozen" in p.stderr or "immutable" in p.stderr), (change, p.stderr)
    # the terminal's retry of the same transaction is the same payment
    ok, out = service(c, "SELECT result FROM book_payment('terminal', 'osmp', %s, '9100002', '700000001', 5000, "
                         "'cash', NULL, NULL, '%s', NULL)" % (c.partner, TOKEN))
    assert ok and out == "duplicate", out
    # planted anyway (guards off): the health check sees it
    as_owner_unguarded(c, "UPDATE payments SET provider_txn_id = '9100002-x', channel = 'web' WHERE id = '%s'" % pid)
    v = violations(c)
    assert "identity_changed" in v and "osmp/%s/9100002/terminal" % c.partner in v, v
    as_owner_unguarded(c, "UPDATE payments SET provider_txn_id = '9100002', channel = 'terminal' WHERE id = '%s'" % pid)
    assert violations(c) == ""


@test
def test_hole_3_refunds_are_guarded_and_checked(c):
    pid = book_web(c, 20000)
    ok, out = service(c, "SELECT result || '|' || refund_id FROM refund_begin('%s', 5000, 'guard-r1', 60, "
                         "ARRAY['sandbox'])" % pid)
    assert ok and out.startswith("started|"), out
    rid = out.split("|")[1]
    # the service role cannot mark it succeeded (and so free the reservation) by hand
    refused(c, "UPDATE refunds SET status = 'succeeded' WHERE id = '%s'" % rid)
    refused(c, "DELETE FROM refunds WHERE id = '%s'" % rid)
    # nor can the owner outside refund_succeeded(): the trigger refuses
    p = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.pg.url, "-c",
                        "UPDATE refunds SET status = 'succeeded', ledger_id = (SELECT max(id) FROM ledger) "
                        "WHERE id = '%s'" % rid], capture_output=True, text=True)
    assert p.returncode != 0 and "refund_succeeded" in p.stderr, p.stderr
    ok, out = service(c, "SELECT result FROM refund_succeeded('%s', 'prov-r1', NULL)" % rid)
    assert ok and out == "booked", out
    assert violations(c) == ""
    p = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.pg.url, "-c",
                        "UPDATE refunds SET amount = 1 WHERE id = '%s'" % rid], capture_output=True, text=True)
    assert p.returncode != 0 and "frozen" in p.stderr, p.stderr

    # planted: a second refund marked succeeded against an unrelated ledger row
    ok, out = service(c, "SELECT result || '|' || refund_id FROM refund_begin('%s', 3000, 'guard-r2', 60, "
                         "ARRAY['sandbox'])" % pid)
    assert ok and out.startswith("started|"), out
    rid2 = out.split("|")[1]
    as_owner_unguarded(c, "UPDATE refunds SET status = 'succeeded', ledger_id = (SELECT min(id) FROM ledger) "
                          "WHERE id = '%s'" % rid2)
    v = violations(c)
    assert "refund_debit_mismatch" in v and "refunds_sum_mismatch" in v, v
    as_owner_unguarded(c, "UPDATE refunds SET status = 'failed', ledger_id = NULL WHERE id = '%s'" % rid2)
    assert violations(c) == ""

    # planted: refunded with refunded_amount <> amount (no debit)
    pid2 = book_web(c, 7000)
    as_owner_unguarded(c, "UPDATE payments SET status = 'refunded' WHERE id = '%s'" % pid2)
    v = violations(c)
    assert "refunded_incomplete" in v, v
    as_owner_unguarded(c, "UPDATE payments SET status = 'succeeded' WHERE id = '%s'" % pid2)

    # planted: refunded plus reserved above what was paid
    ok, out = service(c, "SELECT result FROM refund_begin('%s', 7000, 'guard-r3', 60, ARRAY['sandbox'])" % pid2)
    assert ok and out == "started", out
    as_owner_unguarded(c, "INSERT INTO refunds (payment_id, key, amount) VALUES ('%s', 'guard-r4', 100)" % pid2)
    v = violations(c)
    assert "refunds_over_paid" in v, v
    as_owner_unguarded(c, "DELETE FROM refunds WHERE key = 'guard-r4'")
    assert violations(c) == ""


@test
def test_hole_4_an_import_keeps_payments_booked_after_its_export(c):
    # billing exports the balance (100.00) at T0; a terminal payment of 50.00 is booked after T0;
    # then the export is imported: the payment must survive
    c.pg.psql("INSERT INTO accounts (contract, holder_name, balance) VALUES ('700000003', 'Race', 10000)")
    t0 = c.pg.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    t0 = t0[:19] + "Z"
    c.pg.psql("SELECT pg_sleep(1.1)")
    book_cash(c, "9100004", "700000003", 5000)
    f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
    f.write("contract,holder_name,balance\n700000003,Race,120.00\n")
    f.close()
    rc, out, err = gatewayd(["accounts", "import", f.name], c.pg.url)
    assert rc == 2 and "--as-of" in err and len(err.strip().splitlines()) == 1, (rc, err)
    rc, out, err = gatewayd(["accounts", "import", "--as-of", t0, f.name], c.pg.url)
    assert rc == 0, err
    # billing said 120.00 at T0 (we had 100.00 then): +20.00; the 50.00 paid after T0 stays
    assert c.pg.psql("SELECT balance FROM accounts WHERE contract = '700000003'") == "17000"
    # the same export again changes nothing; an older one is refused by line
    rc, out, err = gatewayd(["accounts", "import", "--as-of", t0, f.name], c.pg.url)
    assert rc == 0, err
    assert c.pg.psql("SELECT balance FROM accounts WHERE contract = '700000003'") == "17000"
    rc, out, err = gatewayd(["accounts", "import", "--as-of", "2020-01-01 00:00:00", f.name], c.pg.url)
    assert rc == 1 and "line 2" in err and "older" in err, (rc, err)
    rc, out, err = gatewayd(["accounts", "import", "--as-of", "2999-01-01 00:00:00", f.name], c.pg.url)
    assert rc == 1 and "future" in err, (rc, err)
    rc, out, err = gatewayd(["accounts", "import", "--as-of", "yesterday", f.name], c.pg.url)
    assert rc == 1 and "balance_as_of" in err, (rc, err)
    assert c.pg.psql("SELECT balance FROM accounts WHERE contract = '700000003'") == "17000"
    assert violations(c) == ""
    os.unlink(f.name)


@test
def test_internal_api_balance_needs_its_moment_and_keeps_later_payments(c):
    admin = {"Authorization": "Bearer guard-admin-token-0123456789"}
    gw = Gateway(c.pg.url, GATEWAY_ADMIN_TOKEN="guard-admin-token-0123456789").start()
    try:
        body = {"contract": "700000004", "holder_name": "Api", "balance": "10.00"}
        st, h, doc = gw.json("POST", "/v1/internal/accounts", body, admin)
        assert st == 400 and doc["error"]["code"] == "balance_as_of_required", (st, doc)
        st, h, doc = gw.json("POST", "/v1/internal/accounts", dict(body, balance_as_of="2026-02-30 00:00"), admin)
        assert st == 400 and "balance_as_of" in doc["error"]["message"], (st, doc)
        st, h, doc = gw.json("POST", "/v1/internal/accounts", dict(body, balance_as_of="2026-01-01T00:00:00Z"), admin)
        assert st == 201, (st, doc)
        book_cash(c, "9100005", "700000004", 2500)
        st, h, doc = gw.json("POST", "/v1/internal/accounts",
                             dict(body, balance="15.00", balance_as_of="2026-01-02 00:00:00+03:00"), admin)
        assert st == 200 and doc == {"result": "updated", "balance": "40.00"}, (st, doc)
        st, h, doc = gw.json("POST", "/v1/internal/accounts", dict(body, balance_as_of="2026-01-01 12:00"), admin)
        assert st == 409 and doc["error"]["code"] == "stale_balance", (st, doc)
        st, h, doc = gw.json("POST", "/v1/internal/accounts", dict(body, balance_as_of="2999-01-01"), admin)
        assert st == 422 and doc["error"]["code"] == "future_balance", (st, doc)
        assert violations(c) == ""
    finally:
        gw.stop()


@test
def test_serve_refuses_the_owners_url_and_a_superuser(c):
    for url, who in ((c.pg.url, "the schema owner"), (c.pg.super_url, "a superuser"),
                     (role_url(c.pg.url, "gateway_owner"), "the schema owner")):
        rc, out, err = gatewayd(["serve"], env={"GATEWAY_DATABASE_URL": url, "GATEWAY_LISTEN": "127.0.0.1:1"},
                                timeout=30)
        lines = err.strip().splitlines()
        assert rc != 0 and len(lines) == 1 and who in lines[0] and "GATEWAY_SERVICE_ROLE" in lines[0], (rc, err)
    # the CLI commands too
    rc, out, err = gatewayd(["partner", "list"], env={"GATEWAY_DATABASE_URL": c.pg.url})
    assert rc != 0 and "schema owner" in err, (rc, err)
    # and a role that is not the service role
    c.pg.psql("CREATE ROLE guard_stranger LOGIN")
    rc, out, err = gatewayd(["partner", "list"], env={"GATEWAY_DATABASE_URL": role_url(c.pg.url, "guard_stranger")})
    assert rc != 0 and "not the service role" in err, (rc, err)
    # a login role that is a member of the service role works
    c.pg.psql("CREATE ROLE guard_app LOGIN IN ROLE gateway_service")
    gw = Gateway(c.pg.url, GATEWAY_DATABASE_URL=role_url(c.pg.url, "guard_app")).start()
    try:
        assert gw.request("GET", "/readyz")[0] == 200
    finally:
        gw.stop()


@test
def test_migrate_creates_the_service_role_nologin_and_refuses_to_be_it(c):
    url = c.pg.create_db("guard_fresh")
    rc, out, err = gatewayd(["migrate"], url, {"GATEWAY_SERVICE_ROLE": "guard_svc"})
    assert rc == 0 and "created role guard_svc" in out, (rc, out, err)
    assert c.pg.psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'guard_svc'") == "f"
    rc, out, err = gatewayd(["migrate"], url, {"GATEWAY_SERVICE_ROLE": "guard_svc"})
    assert rc == 0 and "created role" not in out, (rc, out, err)
    rc, out, err = gatewayd(["migrate"], url, {"GATEWAY_SERVICE_ROLE": "gateway_owner"})
    assert rc != 0 and "role of its own" in err, (rc, err)


if __name__ == "__main__":
    suite.run(setup, teardown)
