#!/usr/bin/python3
"""The reference consumer of the gateway's events: what the operator's billing (or the personal
cabinet) does with them, in a page of Python.

It takes events two ways — as webhooks (an HTTP server: POST / with X-Signature, the body
{"events": [...]} like a page of the feed) or from the feed (GET /v1/internal/events?after=<cursor>)
— and applies each, in order, to a toy billing table, idempotently by the event's id: the event id
and the balance change are written in one transaction, so a repeat (the gateway delivers at least
once) changes nothing. A webhook whose signature does not verify (a tampered body, another secret, a
stale timestamp) is refused with 400 and applied nowhere.

    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Run it alone (secrets from the environment, never the command line):
    WEBHOOK_SECRET=… reference_consumer.py --listen 127.0.0.1:9000 --db billing.sqlite
or read the feed:
    GATEWAY_ADMIN_TOKEN=… reference_consumer.py --feed http://127.0.0.1:8080 --db billing.sqlite
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import socket
import sqlite3
import threading
import time
import urllib.request

TOLERANCE = 300          # seconds a signature's timestamp may be off (replays of old bodies are refused)

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (event_id INTEGER PRIMARY KEY, type TEXT NOT NULL, cursor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (contract TEXT PRIMARY KEY, kopecks INTEGER NOT NULL,
                                     last_balance_after INTEGER NOT NULL, events INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (contract TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL);
"""


def verify(secret, header, body, now=None):
    """True when header is a valid signature of body under secret, made within TOLERANCE seconds."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (AttributeError, KeyError, ValueError):
        return False
    if abs((now or time.time()) - t) > TOLERANCE:
        return False
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, given)


class Billing:
    """The toy billing table: balances by contract, kept from the money events."""

    def __init__(self, path=":memory:"):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def apply(self, event):
        """Applies one event once; returns False when it was applied before (a repeat)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute("INSERT OR IGNORE INTO applied (event_id, type, cursor) VALUES (?, ?, ?)",
                                      (event["id"], event["type"], event["cursor"]))
                if cur.rowcount == 0:
                    self.db.execute("ROLLBACK")
                    return False
                d = event["data"]
                if "delta_kopecks" in d:          # payment.succeeded / refunded, account.charged / adjusted
                    self.db.execute(
                        "INSERT INTO balances (contract, kopecks, last_balance_after, events) VALUES (?, ?, ?, 1)"
                        " ON CONFLICT (contract) DO UPDATE SET kopecks = kopecks + excluded.kopecks,"
                        " last_balance_after = excluded.last_balance_after, events = events + 1",
                        (d["contract"], d["delta_kopecks"], d["balance_after_kopecks"]))
                elif event["type"] in ("account.suspended", "account.reactivated") or "status" in d:
                    self.db.execute("INSERT INTO statuses (contract, status) VALUES (?, ?)"
                                    " ON CONFLICT (contract) DO UPDATE SET status = excluded.status",
                                    (d["contract"], d["status"]))
                self.db.execute("INSERT INTO position (id, cursor) VALUES (1, ?)"
                                " ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor", (event["cursor"],))
                self.db.execute("COMMIT")
                return True
            except Exception:
                self.db.execute("ROLLBACK")
                raise

    def cursor(self):
        with self.lock:
            row = self.db.execute("SELECT cursor FROM position").fetchone()
        return row[0] if row else None

    def balances(self):
        with self.lock:
            return {c: (k, last) for c, k, last in self.db.execute(
                "SELECT contract, kopecks, last_balance_after FROM balances")}

    def applied_ids(self):
        with self.lock:
            return [r[0] for r in self.db.execute("SELECT event_id FROM applied ORDER BY event_id")]


class Receiver:
    """The webhook endpoint. mode: "ok" answers 204; "fail" answers 500; "slow" waits `delay` seconds
    and answers 204; "late" waits `delay` seconds (past the gateway's timeout) and answers 200. Every
    event delivered is kept in `seen` (event id, whether it was applied now, how many events its
    request carried), in arrival order, the first body of each event in `events`, the first few
    request bodies in `bodies`, and every request's (arrived, answered) monotonic times in `spans`."""

    def __init__(self, secret, billing=None, host="127.0.0.1", port=0):
        self.secret = secret
        self.billing = billing or Billing()
        self.mode = "ok"
        self.delay = 0.0
        self.seen = []
        self.spans = []
        self.events = {}
        self.bodies = []
        self.refused = 0
        self.host = host
        self.port = port
        self.server = None
        self.conns = set()
        self.lock = threading.Lock()

    def start(self):
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with me.lock:
                    me.conns.add(self.connection)

            def finish(self):
                with me.lock:
                    me.conns.discard(self.connection)
                super().finish()

            def do_POST(self):
                t0 = time.monotonic()
                try:
                    self.handle_delivery()
                finally:
                    with me.lock:
                        me.spans.append((t0, time.monotonic()))

            def handle_delivery(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode, delay = me.mode, me.delay
                if mode in ("slow", "late"):
                    time.sleep(delay)
                if mode == "fail":
                    return self.answer(500, b'{"error":"billing is busy"}')
                if not verify(me.secret, self.headers.get("X-Signature", ""), body):
                    with me.lock:
                        me.refused += 1
                    return self.answer(400, b'{"error":"bad signature"}')
                doc = json.loads(body)
                events = doc["events"]
                for event in events:              # in order; a repeat of an applied one changes nothing
                    try:
                        applied = me.billing.apply(event)
                    except Exception as e:        # not taken: this event and those after it come again
                        return self.answer(500, json.dumps({"error": str(e), "event": event["id"]}).encode())
                    with me.lock:
                        me.seen.append((event["id"], applied, len(events)))
                        me.events.setdefault(event["id"], event)
                with me.lock:
                    if len(me.bodies) < 50:
                        me.bodies.append(doc)
                self.answer(200 if mode == "late" else 204, b"")

            def answer(self, status, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass          # the gateway gave up waiting ("late")

        self.server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down: the port refuses connections until start() again (same port), and the kept-alive
        ones are cut."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            conns, self.conns = list(self.conns), set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def url(self):
        return "http://%s:%d/hook" % (self.host, self.port)

    def first_seen_order(self):
        with self.lock:
            out, known = [], set()
            for eid, _, _ in self.seen:
                if eid not in known:
                    known.add(eid)
                    out.append(eid)
            return out


def read_feed(base, token, billing, types=None, limit=500):
    """Reads the feed from the billing's last position to its end, applying every event; returns how
    many were new."""
    new = 0
    while True:
        q = "limit=%d" % limit
        if billing.cursor():
            q += "&after=" + billing.cursor()
        if types:
            q += "&types=" + ",".join(types)
        rq = urllib.request.Request(base + "/v1/internal/events?" + q, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(rq, timeout=30) as r:
            page = json.load(r)
        for e in page["events"]:
            new += billing.apply(e)
        if not page["events"] and page["next_cursor"] and page["next_cursor"] != billing.cursor():
            with billing.lock:
                billing.db.execute("INSERT INTO position (id, cursor) VALUES (1, ?) ON CONFLICT (id)"
                                   " DO UPDATE SET cursor = excluded.cursor", (page["next_cursor"],))
        if not page["has_more"]:
            return new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="billing.sqlite")
    ap.add_argument("--listen", help="host:port to receive webhooks on")
    ap.add_argument("--feed", help="the gateway's base URL, to read the feed instead (token: $GATEWAY_ADMIN_TOKEN)")
    a = ap.parse_args()
    billing = Billing(a.db)
    if a.feed:
        while True:
            read_feed(a.feed, os.environ["GATEWAY_ADMIN_TOKEN"], billing)
            time.sleep(1)
    if not a.listen:
        ap.error("--listen or --feed")
    host, port = a.listen.rsplit(":", 1)
    Receiver(os.environ["WEBHOOK_SECRET"], billing, host, int(port)).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
