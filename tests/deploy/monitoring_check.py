#!/usr/bin/python3
"""Checks deploy/monitoring/ against a real gatewayd and a real Prometheus (Debian's prometheus
package). Prints "ok - …" / "not ok - …" / "# …" lines for tests/deploy/tap.sh.

  - promtool check rules alerts.yml; promtool test rules alerts.test.yml (every alert has a test);
  - every alert has a severity (page / ticket), a summary and a description;
  - a gatewayd on a private PostgreSQL serves /metrics that `promtool check metrics` accepts;
  - a Prometheus scraping that gatewayd every second with alerts.yml loaded: every rule evaluates
    without error, every gateway_* series the rules and the dashboard name is one the gateway
    exports, and every dashboard query runs (the Grafana variables replaced by what Grafana sends);
  - the dashboard's structure: unique panel ids, panels inside the 24-column grid and not
    overlapping, every panel and target on the ${datasource} variable, every $variable defined.

    tests/deploy/monitoring_check.py DEPLOY_DIR"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import yaml  # noqa: E402  (python3-yaml)
from harness import Gateway, Postgres, free_port, gatewayd  # noqa: E402

MON = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "deploy", "monitoring")
RULES = os.path.join(MON, "alerts.yml")
RULE_TESTS = os.path.join(MON, "alerts.test.yml")
DASHBOARD = os.path.join(MON, "grafana-dashboard.json")
failed = 0


def ok(cond, desc, diag=""):
    global failed
    if cond:
        print("ok - " + desc)
    else:
        failed += 1
        print("not ok - " + desc)
        for line in str(diag).splitlines()[:30]:
            print("#   " + line)


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    return p.returncode, p.stdout + p.stderr


def names_in(expr):
    """gateway_* series an expression reads."""
    return set(re.findall(r"\bgateway_[a-z_]+", expr))


def grafana_expr(expr):
    """What Grafana sends for an expression: its variables replaced."""
    return (expr.replace("$__rate_interval", "10s").replace("$__range", "1h")
            .replace("$instance", ".*"))


def http_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


rules_doc = yaml.safe_load(open(RULES, encoding="utf-8"))
tests_text = open(RULE_TESTS, encoding="utf-8").read()
dash = json.load(open(DASHBOARD, encoding="utf-8"))
alerts = [r for g in rules_doc["groups"] for r in g["rules"] if "alert" in r]
dash_targets = [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]

# ---- promtool ----------------------------------------------------------------------------------
rc, out = run(["promtool", "check", "rules", RULES])
ok(rc == 0, "promtool check rules alerts.yml", out)
rc, out = run(["promtool", "test", "rules", os.path.basename(RULE_TESTS)], cwd=MON)
ok(rc == 0, "promtool test rules alerts.test.yml", out)
untested = [a["alert"] for a in alerts if not re.search(r"alertname: %s\b" % re.escape(a["alert"]), tests_text)]
ok(not untested, "every alert has a unit test (%d alerts)" % len(alerts), untested)
bad = [a["alert"] for a in alerts if a.get("labels", {}).get("severity") not in ("page", "ticket")
       or not a.get("annotations", {}).get("summary") or not a.get("annotations", {}).get("description")]
ok(not bad, "every alert has a severity (page/ticket), a summary and a description", bad)

# ---- the dashboard's structure -----------------------------------------------------------------
ids = [p["id"] for p in dash["panels"]]
ok(len(ids) == len(set(ids)), "dashboard panel ids are unique", ids)
cells, overlap, outside = {}, [], []
for p in dash["panels"]:
    g = p["gridPos"]
    if g["x"] < 0 or g["x"] + g["w"] > 24:
        outside.append(p["title"])
    for cx in range(g["x"], g["x"] + g["w"]):
        for cy in range(g["y"], g["y"] + g["h"]):
            if (cx, cy) in cells:
                overlap.append((p["title"], cells[(cx, cy)]))
            cells[(cx, cy)] = p["title"]
ok(not outside and not overlap, "dashboard panels lie inside the grid without overlapping",
   "outside: %s\noverlapping: %s" % (outside, sorted(set(overlap))[:5]))
defined = {v["name"] for v in dash["templating"]["list"]}
used = set(re.findall(r"\$\{?([a-z_]+)", json.dumps(dash["panels"]))) - {"__rate_interval", "__range"}
ok(used <= defined, "every dashboard variable is defined (%s)" % ", ".join(sorted(used)), used - defined)
off_ds = [p["title"] for p in dash["panels"] if p["type"] != "row" and
          (p.get("datasource", {}).get("uid") != "${datasource}" or
           any(t.get("datasource", {}).get("uid") != "${datasource}" for t in p.get("targets", [])))]
ok(not off_ds, "every dashboard panel queries the ${datasource} variable", off_ds)

# ---- a real gatewayd and a real Prometheus -----------------------------------------------------
tmp = tempfile.mkdtemp(prefix="gw-monitoring-")
pg = gw = prom = None
try:
    pg = Postgres().start()
    rc, _, err = gatewayd(["migrate"], pg.url)
    assert rc == 0, err
    gw = Gateway(pg.url, GATEWAY_JANITOR_INTERVAL="1").start()
    for path in ("/healthz", "/readyz", "/v1/accounts/lookup?contract=1", "/metrics"):
        gw.request("GET", path)
    status, hdrs, body = gw.request("GET", "/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    ok(status == 200 and p.returncode == 0, "promtool check metrics accepts gatewayd's /metrics",
       (p.stdout + p.stderr).decode(errors="replace"))
    exported = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", body.decode(), re.M):
        exported |= {name + sfx for sfx in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}

    wanted = set()
    for a in alerts:
        wanted |= names_in(a["expr"])
    for _, e in dash_targets:
        wanted |= names_in(e)
    ok(wanted <= exported, "every gateway_* series in the rules and the dashboard is exported (%d)" % len(wanted),
       sorted(wanted - exported))

    prom_port = free_port()
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                        "rule_files": [os.path.abspath(RULES)],
                        "scrape_configs": [{"job_name": "gatewayd",
                                            "static_configs": [{"targets": ["127.0.0.1:%d" % gw.port]}]}]}, f)
    prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
    prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
                            stdout=prom_log, stderr=subprocess.STDOUT)
    api = "http://127.0.0.1:%d/api/v1/" % prom_port

    def query(expr):
        return http_json(api + "query?" + urllib.parse.urlencode({"query": expr}))

    # ready once it has scraped the gateway three times (a rate needs two samples) and evaluated the rules
    deadline, state = time.time() + 60, None
    while time.time() < deadline:
        try:
            r = query('count_over_time(up{job="gatewayd"}[1m])')
            groups = http_json(api + "rules")["data"]["groups"]
            state = (r["data"]["result"], [x.get("lastEvaluation", "") for g in groups for x in g["rules"]])
            if r["data"]["result"] and float(r["data"]["result"][0]["value"][1]) >= 3 and \
                    all(not e.startswith("0001") for e in state[1]) and state[1]:
                break
        except OSError:
            pass
        gw.request("GET", "/v1/accounts/lookup?contract=1")
        time.sleep(0.3)
    else:
        raise AssertionError("Prometheus did not scrape and evaluate in time: %r\n%s" % (
            state, open(prom_log.name).read()[-2000:]))
    up = query('up{job="gatewayd"}')["data"]["result"]
    ok(up and up[0]["value"][1] == "1", "Prometheus scrapes gatewayd (up == 1)", up)
    rules = [x for g in http_json(api + "rules")["data"]["groups"] for x in g["rules"]]
    unhealthy = [(x["name"], x.get("lastError")) for x in rules if x.get("health") != "ok"]
    ok(len(rules) == len(alerts) and not unhealthy,
       "Prometheus loads alerts.yml and evaluates every rule without error (%d)" % len(rules), unhealthy)
    firing = [x["name"] for x in rules if x.get("state") == "firing"]
    ok(not firing, "no alert fires for a healthy gateway", firing)
    missing = [n for n in sorted(wanted) if not query("count({__name__=\"%s\"})" % n)["data"]["result"]]
    ok(not missing, "every series the rules and the dashboard read is in Prometheus", missing)
    errors = []
    for title, e in dash_targets:
        try:
            r = query(grafana_expr(e))
            if r.get("status") != "success":
                errors.append((title, r))
        except urllib.error.HTTPError as ex:
            errors.append((title, e, ex.read()[:300]))
    ok(not errors, "every dashboard query runs in Prometheus (%d)" % len(dash_targets), errors)
except Exception as e:  # noqa: BLE001 — reported as a failed check
    ok(False, "monitoring checks against a live gatewayd and Prometheus ran", repr(e))
finally:
    if prom:
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
    if gw:
        gw.stop()
    if pg:
        pg.destroy()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failed else 0)
