#!/usr/bin/python3
"""What the provider emulators (rbs_gateway.py, yookassa.py) share: an HTTPS server on loopback
with keep-alive, a thread per connection, counters of connections and requests, and injectable
faults — answer 500, or take the request and answer only after a delay (the answer is "lost" for a
client with a shorter timeout). Standard library only; shares no code with the gateway."""
import http.client
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.parse


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, emulator):
        self.emulator = emulator
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self.emulator.lock:
            self.emulator.connections += 1
        return sock, addr


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "emulator/1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        try:
            super().setup()
        except (ssl.SSLError, OSError):
            # a client that refused our certificate: nothing to serve
            self.rfile = self.wfile = None

    def handle(self):
        if self.rfile is None:
            return
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout):
            pass

    def finish(self):
        try:
            super().finish()
        except (ssl.SSLError, OSError, AttributeError):
            pass

    def _dispatch(self):
        em = self.server.emulator
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with em.lock:
            em.requests.append((self.command, u.path))
            em.observe(self.command, u.path, u.query, self.headers, body)
            fault = em.take_fault(self.command, u.path)
        if fault == "http500":
            return self.send_json(500, em.error_500())
        status, doc = em.handle(self.command, u.path, u.query, self.headers, body)
        if fault == "timeout":
            time.sleep(em.delay)        # the work is done; the answer comes too late
        if fault == "drop":
            self.close_connection = True
            return
        self.send_json(status, doc)

    do_GET = _dispatch
    do_POST = _dispatch

    def send_json(self, status, doc):
        data = json.dumps(doc, ensure_ascii=False).encode() if doc is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class Emulator:
    """Base: subclasses implement handle(method, path, query, headers, body) -> (status, doc)."""

    def __init__(self, certfile, keyfile, port=0):
        self.lock = threading.RLock()
        self.connections = 0
        self.requests = []
        self.faults = []            # [(method, path-substring, kind)], consumed in order
        self.delay = 3.0
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.httpd = Server(("127.0.0.1", port), Handler, self)
        self.httpd.socket = self.ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = None

    @property
    def base(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail_next(self, method, path, kind, times=1):
        """kind: http500 | timeout (processed, answered after self.delay) | drop (processed, no answer)."""
        with self.lock:
            self.faults.extend([(method, path, kind)] * times)

    def take_fault(self, method, path):
        for i, (m, p, kind) in enumerate(self.faults):
            if m == method and p in path:
                del self.faults[i]
                return kind
        return None

    def count(self, method, path_part):
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and path_part in p)

    def observe(self, method, path, query, headers, body):
        """Called for every request, faulty or not (to count idempotence keys and the like)."""

    def error_500(self):
        return {"error": "internal"}

    @staticmethod
    def call_back(url, method="POST", body=None, content_type=None):
        """Calls the merchant back (a notification / callback over plain HTTP on loopback): the
        HTTP status of its answer. A GET sends body (a query string) in the URL."""
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            if method == "GET":
                c.request("GET", u.path + ("?" + body if body else ""))
            else:
                c.request(method, u.path, body, {"Content-Type": content_type} if content_type else {})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    @classmethod
    def serve_main(cls, parser, make):
        """Command-line use: parser gets --cert/--key (and the subclass's options), make(args) builds
        the emulator; it then serves until interrupted."""
        parser.add_argument("--cert", required=True)
        parser.add_argument("--key", required=True)
        a = parser.parse_args()
        em = make(a)
        print("%s on %s" % (cls.__name__, em.base), flush=True)
        em.httpd.serve_forever()
