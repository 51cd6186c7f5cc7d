"""Integration-test harness: a private PostgreSQL per suite, gatewayd processes on free ports,
HTTP helpers and TAP output. Standard library only (Debian's /usr/bin/python3)."""
import atexit
import http.client
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
GATEWAYD = os.path.join(BUILD, "gatewayd")
PG_SH = os.path.join(ROOT, "deploy", "dev", "pg.sh")
PSQL = "/usr/lib/postgresql/15/bin/psql"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONTRACT_DIR = os.environ.get("CONTRACT_DIR", os.path.join(BUILD, "test-logs", "contract"))


def record_exchange(method, path, status, headers, body):
    """Every response a test sees is kept, so tests/contract/validate.js can check it against
    openapi.yaml: the spec cannot claim what the service does not do."""
    try:
        os.makedirs(CONTRACT_DIR, exist_ok=True)
        rec = {"method": method, "path": path.split("?", 1)[0], "status": status,
               "content_type": headers.get("content-type", ""), "suite": os.path.basename(sys.argv[0])}
        if rec["content_type"].startswith("application/json") and body:
            try:
                rec["body"] = json.loads(body)
            except ValueError:
                rec["body_invalid"] = body[:200].decode("utf-8", "replace")
        name = "%s-%d.jsonl" % (os.path.splitext(rec["suite"])[0], os.getpid())
        with open(os.path.join(CONTRACT_DIR, name), "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    except OSError:
        pass


def record_webhook(name, body):
    """A webhook the gateway sent (a body a test's receiver got): validate.js checks it against the
    spec's `webhooks: {name}` request body."""
    try:
        os.makedirs(CONTRACT_DIR, exist_ok=True)
        rec = {"webhook": name, "body": body, "suite": os.path.basename(sys.argv[0])}
        name = "%s-%d.jsonl" % (os.path.splitext(rec["suite"])[0], os.getpid())
        with open(os.path.join(CONTRACT_DIR, name), "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    except OSError:
        pass


SECRETS_LIST = os.path.join(BUILD, "test-logs", "secrets.list")


def note_secret(value):
    """Remembers a secret a test used; tests/secrets_scan.sh fails the run if any log, mail or
    recorded response contains one."""
    if value and len(value) >= 8:
        os.makedirs(os.path.dirname(SECRETS_LIST), exist_ok=True)
        with open(SECRETS_LIST, "a", encoding="utf-8") as f:
            f.write(value + "\n")


OWNER_ROLE = "gateway_owner"        # owns the schema; `gatewayd migrate` runs as it (deploy/dev/pg.sh)
SERVICE_ROLE = "gateway_service"    # what gatewayd serve and its commands run as


def role_url(url, role):
    """The same database as another role (the private clusters trust local logins)."""
    scheme, rest = url.split("://", 1)
    return "%s://%s@%s" % (scheme, role, rest.split("@", 1)[1] if "@" in rest else rest)


def service_url(url):
    """Where gatewayd serve and its commands connect: the service role, never the owner."""
    return role_url(url, SERVICE_ROLE) if url and "://" in url else url


class Postgres:
    """A throwaway cluster under a temp dir, started on a free port; stop() removes it. url is the
    schema owner's (what tests use to inspect and plant data); service_url the service role's."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gw-pg-")
        self.port = free_port()
        self.url = None

    def start(self):
        # stopped and removed at exit even when a teardown fails before it gets here
        atexit.register(self.destroy)
        out = subprocess.run([PG_SH, "start", self.dir, str(self.port)], check=True,
                             capture_output=True, text=True)
        self.url = out.stdout.strip().splitlines()[-1]
        return self

    def stop(self):
        subprocess.run([PG_SH, "stop", self.dir], capture_output=True)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def service_url(self):
        return service_url(self.url)

    @property
    def super_url(self):
        return role_url(self.url, "postgres")

    def create_db(self, name):
        self.psql("CREATE DATABASE %s" % name, db="postgres")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def psql(self, sql, db=None, url=None, superuser=False, notices=False):
        """The result of sql, unaligned; with notices, what the server sent as NOTICEs instead."""
        base = self.super_url if superuser else self.url
        target = url or (base if db is None else base.rsplit("/", 1)[0] + "/" + db)
        out = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", target, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stderr if notices else out.stdout.strip()


class Gateway:
    """A gatewayd process with its stderr collected in a file."""

    def __init__(self, db_url, **env):
        self.port = free_port()
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("GATEWAY_"):
                del self.env[k]
        self.env.update({
            "GATEWAY_LISTEN": "127.0.0.1:%d" % self.port,
            "GATEWAY_DATABASE_URL": service_url(db_url),
            "GATEWAY_MIGRATE_DATABASE_URL": db_url,
            "GATEWAY_THREADS": "2",
            "GATEWAY_DB_POOL": "2",
            # receipts of test gateways stay out of the developer's var/mail
            "GATEWAY_MAIL_URL": "file://" + os.path.join(BUILD, "test-logs", "mail"),
            # every test client is 127.0.0.1: the per-address limits are tested where they are meant
            "GATEWAY_LOOKUP_RATE": "100000", "GATEWAY_LOOKUP_BURST": "100000",
            "GATEWAY_PAYMENT_RATE": "100000", "GATEWAY_PAYMENT_BURST": "100000",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        for k, v in self.env.items():
            if k.startswith("GATEWAY_") and not k.endswith("_FILE") and \
                    any(w in k for w in ("SECRET", "TOKEN", "PASSWORD")):
                note_secret(v)
        logdir = os.path.join(BUILD, "test-logs")
        os.makedirs(logdir, exist_ok=True)
        self.log = tempfile.NamedTemporaryFile(prefix="gatewayd-", suffix=".jsonl", dir=logdir, delete=False)
        self.proc = None

    def start(self, wait=True):
        self.proc = subprocess.Popen([GATEWAYD, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        if wait:
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("gatewayd exited with %s:\n%s" % (self.proc.returncode, self.logs()))
                try:
                    if self.request("GET", "/healthz")[0] == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise RuntimeError("gatewayd did not answer /healthz:\n" + self.logs())
        return self

    def logs(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_records(self):
        return [json.loads(line) for line in self.logs().splitlines() if line.strip()]

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.check_sanitizers()
        return self.proc.returncode if self.proc else None

    def check_sanitizers(self):
        """Under `make asan` a sanitizer report in the log fails the suite."""
        text = self.logs()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                i = text.index(marker)
                raise AssertionError("sanitizer report in gatewayd log:\n" + text[max(0, i - 200):i + 3000])

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = dict((k.lower(), v) for k, v in r.getheaders())
            record_exchange(method, path, r.status, hdrs, data)
            return r.status, hdrs, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            raise AssertionError("not JSON (%d): %r" % (status, data[:200]))
        return status, hdrs, doc


def gatewayd(args, db_url=None, env=None, input=None, timeout=60):
    """Runs a gatewayd subcommand; returns (rc, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    if db_url:
        # as deployed: the owner's URL for migrate, the service role's for everything else
        e["GATEWAY_DATABASE_URL"] = service_url(db_url)
        e["GATEWAY_MIGRATE_DATABASE_URL"] = db_url
    e.update(env or {})
    p = subprocess.run([GATEWAYD] + args, env=e, capture_output=True, text=True, input=input, timeout=timeout)
    for m in re.finditer(r"^(?:password|hmac_secret):\s+(\S+)", p.stdout, re.M):
        note_secret(m.group(1))          # partner credentials printed once by `partner add/rotate`
    return p.returncode, p.stdout, p.stderr


def partner_creds(out):
    """The credentials `gatewayd partner add/rotate` printed: {"login": …, "password" | "hmac_secret": …}."""
    return dict(re.findall(r"^(login|password|hmac_secret):\s+(\S+)$", out, re.M))


class Suite:
    """Collects test functions and prints TAP."""

    def __init__(self):
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def run(self, setup=None, teardown=None):
        n = 0
        failed = 0
        ctx = None
        try:
            ctx = setup() if setup else None
            only = os.environ.get("TEST_ONLY")      # run the tests whose name holds this, for working on one
            for fn in self.tests:
                if only and only not in fn.__name__:
                    continue
                n += 1
                t0 = time.time()
                try:
                    fn(ctx)
                    print("ok %d - %s (%.2fs)" % (n, fn.__name__, time.time() - t0), flush=True)
                except Exception:
                    failed += 1
                    print("not ok %d - %s" % (n, fn.__name__), flush=True)
                    for line in traceback.format_exc().splitlines()[-12:]:
                        print("# " + line, flush=True)
        finally:
            if teardown:
                teardown(ctx)
        print("1..%d" % n)
        sys.exit(1 if failed else 0)


def wait_for(fn, timeout=30.0, what="condition", every=0.1):
    """fn() until it returns something true (returned), at most timeout seconds; what (or what())
    names the condition in the failure."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + (what() if callable(what) else what))
        time.sleep(every)


def error_of(doc):
    """Asserts the JSON error envelope and returns (code, message)."""
    assert isinstance(doc, dict) and set(doc) >= {"error"}, doc
    e = doc["error"]
    assert isinstance(e.get("code"), str) and e["code"], doc
    assert isinstance(e.get("message"), str) and e["message"], doc
    return e["code"], e["message"]


# ---- a test CA and server certificates (openssl CLI) for the HTTPS emulators ----------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=%s" % name, "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, name, ca, san):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\n" % san)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=%s" % name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
