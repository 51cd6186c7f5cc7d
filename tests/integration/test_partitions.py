"""Monthly partitions (schema/021): the ledger, its fee guard, payment_events and staff_audit are
partitioned by month; a credit, fee or charge stays single across months (the guard tables); the
statement, the fee run's check and a payment's reads visit only the months they can be in (EXPLAIN of
the very SQL the gateway runs, with custom and generic plans; for the statement, a function (022),
the plans of the queries inside it); `gatewayd partitions` lists, creates
ahead and detaches for archive, carrying the archived totals so balances and the invariants still
add up; the janitor creates a missing month on its own."""
import datetime
import glob
import os
import re
import subprocess

from harness import ROOT, Gateway, Postgres, Suite, gatewayd, wait_for

suite = Suite()
test = suite.test
ADMIN = "partitions-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + ADMIN}
TZ = "Europe/Moscow"
PARENTS = ["ledger", "ledger_fee_days", "payment_events", "staff_audit"]


class Ctx:
    pass


def setup():
    c = Ctx()
    c.pg = Postgres().start()
    c.url = c.pg.url
    rc, out, err = gatewayd(["migrate"], c.url)
    assert rc == 0, err
    c.gw = Gateway(c.url, GATEWAY_ADMIN_TOKEN=ADMIN, GATEWAY_ADAPTERS="sandbox",
                   GATEWAY_SANDBOX_SECRET="partitions-sandbox-secret-0123456789", GATEWAY_PARTNER_TZ=TZ,
                   GATEWAY_JANITOR_INTERVAL="1")
    c.gw.start()
    c.n = 0
    return c


def teardown(c):
    if c:
        c.gw.stop()
        c.pg.destroy()


def q(c, sql, superuser=False):
    return c.pg.psql(sql, superuser=superuser)


def month(offset=0):
    """The first day of the UTC month `offset` months from the current one."""
    d = datetime.datetime.now(datetime.timezone.utc).date().replace(day=1)
    m = d.year * 12 + d.month - 1 + offset
    return datetime.date(m // 12, m % 12 + 1, 1)


def part(parent, offset):
    return "%s_%s" % (parent, month(offset).strftime("%Y_%m"))


def account(c, balance=0, fee=0):
    c.n += 1
    contract = "66%07d" % c.n
    q(c, "INSERT INTO accounts (contract, holder_name, status, balance, monthly_fee) "
         "VALUES ('%s', 'Абонент', 'active', %d, %d)" % (contract, balance, fee))
    return contract


def adjust_at(c, contract, amount, at):
    """An adjustment booked as if at `at` (the owner writes it the way adjust_balance does)."""
    q(c, """BEGIN; SELECT set_config('gateway.money_write', 'on', true);
            WITH a AS (UPDATE accounts SET balance = balance + %d WHERE contract = '%s' RETURNING id, balance)
            INSERT INTO ledger (account_id, kind, amount, balance_after, note, created_at)
            SELECT id, 'adjustment', %d, balance, 'test', '%s' FROM a; COMMIT""" % (amount, contract, amount, at))


def invariant_ok(c):
    v = q(c, "SELECT string_agg(problem || ': ' || detail, '; ') FROM ledger_invariant_violations()")
    assert not v, v


def pay(c, contract, amount):
    """A booking through the partner JSON-free path: book_payment as the service runs it."""
    c.n += 1
    out = q(c, "SELECT result || '|' || payment_id FROM book_payment('terminal', 'sandbox', NULL, 'part-%d', '%s', %d,"
               " 'cash', NULL, now(), md5(random()::text) || md5(random()::text), '{}'::jsonb)"
               % (c.n, contract, amount))
    result, pid = out.split("|")
    assert result == "booked", out
    return pid


# ---- the shape --------------------------------------------------------------------------------------


@test
def test_growing_tables_are_partitioned_by_month_with_a_default(c):
    rows = q(c, "SELECT parent, partition, range_from, range_to FROM partitions_list()").splitlines()
    have = {}
    for line in rows:
        parent, name, lo, hi = line.split("|")
        have.setdefault(parent, {})[name] = (lo, hi)
    assert sorted(have) == PARENTS, have
    for parent in PARENTS:
        assert have[parent][parent + "_default"] == ("DEFAULT", "DEFAULT"), have[parent]
        for k in range(0, 4):               # migrate makes this month and three ahead
            lo, hi = have[parent][part(parent, k)]
            assert lo.startswith(month(k).isoformat()) and hi.startswith(month(k + 1).isoformat()), (parent, lo, hi)
    # the ledger's months are UTC months of created_at; a row lands in its month's partition
    contract = account(c)
    adjust_at(c, contract, 500, "%s 00:00:00+00" % month(1).isoformat())
    adjust_at(c, contract, -200, "%s 23:59:59+00" % (month(1) - datetime.timedelta(days=1)).isoformat())
    adjust_at(c, contract, 100, "2001-01-01 00:00:00+00")      # no month of its own: the default keeps it
    where = q(c, "SELECT string_agg(l.tableoid::regclass::text || ':' || l.amount, ',' ORDER BY l.id) FROM ledger l"
                 " JOIN accounts a ON a.id = l.account_id WHERE a.contract = '%s'" % contract)
    assert where == "%s:500,%s:-200,ledger_default:100" % (part("ledger", 1), part("ledger", 0)), where
    invariant_ok(c)


@test
def test_a_credit_fee_or_charge_stays_single_across_months(c):
    """The guard tables hold what a partitioned unique index could not: a second credit of a payment,
    fee of an account's day or charge of an id fails whatever month its row would go to."""
    contract = account(c)
    pid = pay(c, contract, 1000)
    acc = q(c, "SELECT id FROM accounts WHERE contract = '%s'" % contract)
    later = "%s 12:00:00+00" % month(2).isoformat()
    tries = {
        "ledger_one_credit_per_payment":
            "INSERT INTO ledger (account_id, payment_id, kind, amount, balance_after, created_at)"
            " VALUES (%s, '%s', 'credit', 1000, 2000, '%s')" % (acc, pid, later),
        "ledger_fee_days":                    # the guard's partition names its own key
            "INSERT INTO ledger (account_id, kind, amount, balance_after, fee_day, created_at) VALUES"
            " (%s, 'fee', -10, 990, '2026-01-05', now()), (%s, 'fee', -10, 980, '2026-01-05', '%s')" % (acc, acc, later),
        "ledger_one_charge_per_id":
            "INSERT INTO ledger (account_id, kind, amount, balance_after, charge_id, created_at) VALUES"
            " (%s, 'charge', -10, 990, 'ch-1', now()), (%s, 'charge', -10, 980, 'ch-1', '%s')" % (acc, acc, later),
    }
    for name, sql in tries.items():
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.url, "-c", sql],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "duplicate key" in r.stderr and name in r.stderr, (name, r.stderr)
    # through the API: a repeated charge id answers as a repeat, from its guard
    body = {"charge_id": "part-charge-1", "contract": contract, "amount": "1.50", "description": "x"}
    st, h, d = c.gw.json("POST", "/v1/internal/charges", body, AUTH)
    assert st == 201, d
    st, h, d2 = c.gw.json("POST", "/v1/internal/charges", body, AUTH)
    assert st == 200 and d2 == d, (st, d2)
    st, h, d3 = c.gw.json("POST", "/v1/internal/charges", dict(body, amount="2.00"), AUTH)
    assert st == 409, (st, d3)
    invariant_ok(c)


# ---- pruning, shown by EXPLAIN ----------------------------------------------------------------------


def c_statement(name, source="routes_balance.c"):
    """The SQL of a db_stmt in the gateway's source, as the gateway prepares it."""
    src = open(os.path.join(ROOT, "gateway", source)).read()
    body = re.search(r'\{\s*"%s",(.*?),\s*\d+, 0\};' % name, src, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    macros = {}                         # string macros the SQL is glued from, e.g. TS_UTC
    for h in glob.glob(os.path.join(ROOT, "gateway", "*.[ch]")):
        text = open(h, encoding="utf-8").read()
        macros.update(re.findall(r'^#define (\w+) ("(?:[^"\\]|\\.)*")\s*$', text, re.M))
    parts = []
    for lit, ident in re.findall(r'"((?:[^"\\]|\\.)*)"|\b([A-Z_][A-Z0-9_]*)\b', body):
        lit = lit if ident == "" else macros[ident][1:-1]
        parts.append(bytes(lit, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8"))
    return "".join(parts)


def partitions_in(plan):
    """The partitions a plan read (EXPLAIN ANALYZE: a node never executed read nothing)."""
    return set(re.findall(r"\b((?:ledger|ledger_fee_days|payment_events|staff_audit)_(?:\d{4}_\d{2}|default))\b",
                          "\n".join(line for line in plan.splitlines() if "never executed" not in line)))


def explain(c, prepare, execute, generic):
    mode = "force_generic_plan" if generic else "force_custom_plan"
    return q(c, "SET plan_cache_mode = %s; %s; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) %s"
                % (mode, prepare, execute))


def nested_plans(c, call, times=1, role="gateway_service"):
    """The plans of every statement a function runs (auto_explain, sent to the client as NOTICEs), as
    the service role runs it, `times` calls in one session: EXPLAIN shows only the function's call."""
    plans = c.pg.psql("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
                      " SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;"
                      " SET auto_explain.log_timing = off; SET auto_explain.log_level = notice;"
                      " SET client_min_messages = notice; SET ROLE %s; %s"
                      % (role, " ".join(["SELECT count(*) FROM %s;" % call] * times)), superuser=True, notices=True)
    assert "Query Text" in plans, plans
    return plans


@test
def test_the_statement_reads_only_the_months_of_its_period(c):
    q(c, "SELECT * FROM partitions_create('%s', '%s')" % (month(-5), month(-1)))     # months of older data
    contract = account(c)
    for k in (-3, -2, -1, 0):                     # a row in each of four months
        adjust_at(c, contract, 1000 + k, "%s 12:00:00+00" % (month(k) + datetime.timedelta(days=14)).isoformat())
    # the gateway calls the function (022), whose plans are generic: the plans of its statements
    assert c_statement("account_statement").startswith("SELECT * FROM account_statement(")
    # inside month -2 (with the day of slack, -2 only); an empty period late in month -1
    full = (month(-2) + datetime.timedelta(days=2), month(-1) - datetime.timedelta(days=3))
    empty = (month(-1) + datetime.timedelta(days=20), month(0) - datetime.timedelta(days=3))

    def call(period):
        return "account_statement('%s', '%s', '%s', '%s', 0, 100)" % (contract, period[0], period[1], TZ)

    def statement(period):
        st, h, d = c.gw.json("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s" % (contract, *period),
                             headers=AUTH)
        assert st == 200, d
        return d

    plans = nested_plans(c, call(full), times=2)  # a session's first call, then its cached plans
    assert plans.count("FROM ledger l") >= 4 and plans.count("FROM ledger x") == 2, plans   # both calls
    assert partitions_in(plans) == {part("ledger", -2)}, plans
    # an empty period reads back to the last row before it, and nothing after it
    plans = nested_plans(c, call(empty))
    assert part("ledger", -1) in partitions_in(plans) and part("ledger", 0) not in partitions_in(plans), plans
    # and it is still right: one line, the opening is the balance before it, in JSON as in the API
    d = statement(full)
    assert [l["amount"] for l in d["lines"]] == ["9.98"], d
    assert (d["opening_balance"], d["closing_balance"]) == ("9.97", "19.95"), d
    d = statement(empty)
    assert d["lines"] == [] and d["opening_balance"] == d["closing_balance"] == "29.94", d


@test
def test_the_fee_run_check_and_a_payments_reads_prune(c):
    plan = explain(c, "PREPARE f(bigint, date) AS SELECT 1 FROM ledger_fee_days g WHERE g.account_id = $1 AND g.fee_day = $2",
                   "EXECUTE f(1, '%s')" % (month(1) + datetime.timedelta(days=9)), True)
    assert partitions_in(plan) == {part("ledger_fee_days", 1)}, plan
    q(c, "DEALLOCATE ALL")
    # a payment's credit (a repeated booking, the partners' find, the console's timeline) is read
    # from the payment's created_at on: the months before are not read (the cash find, as the gateway
    # runs it)
    contract = account(c)
    pay(c, contract, 700)
    sql = c_statement("cash_find", "booking.c")
    for generic in (False, True):
        plan = explain(c, "PREPARE p(text, bigint, text, text) AS " + sql,
                       "EXECUTE p('sandbox', 0, 'part-%d', '%s')" % (c.n, TZ), generic)
        seen = partitions_in(plan)
        assert part("ledger", 0) in seen and part("ledger", -1) not in seen, (generic, plan)
        q(c, "DEALLOCATE ALL")


@test
def test_the_invariants_of_a_period_read_its_months_and_find_what_is_in_it(c):
    q(c, "SELECT * FROM partitions_create('%s', '%s')" % (month(-5), month(-1)))
    contract = account(c)
    for day in (4, 9):
        adjust_at(c, contract, 300 + day, "%s 12:00:00+00" % (month(-1) + datetime.timedelta(days=day)).isoformat())
    period = "'%s 00:00:00+00', '%s 00:00:00+00'" % (month(-1), month(0))
    plan = q(c, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM ledger_invariant_violations(%s)"
                % period)
    seen = partitions_in(plan)
    older = {part("ledger", k) for k in range(-5, -1)}
    assert part("ledger", -1) in seen and not seen & older, (seen, plan)
    check = "SELECT string_agg(problem, ',' ORDER BY problem) FROM ledger_invariant_violations(%s)"
    assert q(c, check % period) == "", q(c, check % period)
    # planted (guards off): the second row of the period no longer follows the first
    q(c, "SET session_replication_role = replica; UPDATE ledger SET balance_after = balance_after + 1"
         " WHERE account_id = (SELECT id FROM accounts WHERE contract = '%s') AND amount = 309" % contract, superuser=True)
    assert q(c, check % period) == "balance_after_mismatch,balance_mismatch", q(c, check % period)
    earlier = "'%s 00:00:00+00', '%s 00:00:00+00'" % (month(-2), month(-1))
    assert q(c, check % earlier) == ""
    q(c, "SET session_replication_role = replica; UPDATE ledger SET balance_after = balance_after - 1"
         " WHERE account_id = (SELECT id FROM accounts WHERE contract = '%s') AND amount = 309" % contract, superuser=True)
    invariant_ok(c)


# ---- ahead, by command and by the janitor -------------------------------------------------------------


@test
def test_partitions_command_lists_and_creates_ahead(c):
    rc, out, err = gatewayd(["partitions", "ensure", "--months", "5"], c.url)
    assert rc == 0, err
    for parent in PARENTS:
        for k in (4, 5):
            assert part(parent, k) in out, (parent, k, out)
    rc, out, err = gatewayd(["partitions", "ensure", "--months", "5"], c.url)
    assert rc == 0 and "nothing to create" in out, out
    rc, out, err = gatewayd(["partitions", "list"], c.url)
    assert rc == 0 and part("ledger", 5) in out and "ledger_default" in out, out
    for bad in (["partitions", "detach", "--before", "2026-13"], ["partitions", "detach"],
                ["partitions", "ensure", "--months", "0x3"], ["partitions", "frobnicate"]):
        rc, out, err = gatewayd(bad, c.url)
        assert rc == 2, (bad, rc, out, err)


@test
def test_the_janitor_creates_a_missing_month(c):
    """At its first run (then hourly): a gateway started while a month is missing creates it."""
    victim = part("payment_events", 3)
    c.gw.stop()
    q(c, "DROP TABLE %s" % victim)
    c.gw.start()
    wait_for(lambda: q(c, "SELECT to_regclass('%s') IS NOT NULL" % victim) == "t", timeout=60,
             what="the janitor to create %s again" % victim)
    assert "partition created" in c.gw.logs(), c.gw.logs()[-2000:]


# ---- archive -------------------------------------------------------------------------------------------


@test
def test_detach_archives_old_months_and_the_balances_still_add_up(c):
    contract = account(c, balance=10000)
    old = month(-4) + datetime.timedelta(days=3)
    q(c, "SELECT * FROM partitions_create('%s', '%s')" % (month(-5), month(-1)))
    adjust_at(c, contract, 2500, "%s 10:00:00+00" % old)
    adjust_at(c, contract, -700, "%s 10:00:00+00" % (month(-3) + datetime.timedelta(days=1)))
    pid = pay(c, contract, 1200)
    invariant_ok(c)
    bal = q(c, "SELECT balance FROM accounts WHERE contract = '%s'" % contract)

    rc, out, err = gatewayd(["partitions", "detach", "--before", month(1).strftime("%Y-%m")], c.url)
    assert rc != 0 and rc != 2 and ("current" in err or "current" in out), (rc, out, err)
    before = month(-3).strftime("%Y-%m")
    rc, out, err = gatewayd(["partitions", "detach", "--before", before], c.url)
    assert rc == 0, (rc, out, err)
    assert part("ledger", -4) in out and "pg_dump" in out, out
    listed = q(c, "SELECT string_agg(partition, ',') FROM partitions_list()")
    assert part("ledger", -4) not in listed and part("ledger", -3) in listed, listed
    # the detached month is a table of its own now, for pg_dump and DROP; once dropped, a later
    # detach goes on without it
    assert q(c, "SELECT count(*) FROM %s" % part("ledger", -4)) == "1"
    q(c, "DROP TABLE %s" % part("ledger", -4))
    rc, out, err = gatewayd(["partitions", "detach", "--before", month(-4).strftime("%Y-%m")], c.url)
    assert rc == 0 and "nothing to detach" in out, (rc, out, err)
    archived = q(c, "SELECT t.amount FROM ledger_archive_totals t JOIN accounts a ON a.id = t.account_id"
                    " WHERE a.contract = '%s'" % contract)
    assert archived == "2500", archived
    invariant_ok(c)
    assert q(c, "SELECT balance FROM accounts WHERE contract = '%s'" % contract) == bal
    # the statement of the live months opens from the archived total (from the 2nd: the months are
    # UTC months, and the 1st's first hours in Moscow are in the archived one)
    frm, to = month(-3) + datetime.timedelta(days=1), datetime.datetime.now(datetime.timezone.utc).date()
    st, h, d = c.gw.json("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s" % (contract, frm, to), headers=AUTH)
    assert st == 200 and d["opening_balance"] == "125.00" and d["closing_balance"] == "130.00", d
    st, h, d = c.gw.json("GET", "/v1/internal/accounts/%s/statement?from=%s&to=%s" % (contract, old, to), headers=AUTH)
    assert st == 422 and d["error"]["code"] == "period_archived", (st, d)
    # a fee run for a day of the archived months is refused; a repeated booking still is one
    r = subprocess.run([os.path.join(ROOT, "build", "gatewayd"), "charge", "--date", str(old)],
                       env=dict(os.environ, GATEWAY_DATABASE_URL=c.pg.service_url, GATEWAY_PARTNER_TZ=TZ),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "archived" in r.stderr, (r.returncode, r.stdout, r.stderr)
    again = q(c, "SELECT result FROM book_payment('terminal', 'sandbox', NULL, 'part-%d', '%s', 1200,"
                 " 'cash', NULL, now(), md5('x') || md5('y'), '{}'::jsonb)" % (c.n, contract))
    assert again == "duplicate", (again, pid)


if __name__ == "__main__":
    suite.run(setup, teardown)
