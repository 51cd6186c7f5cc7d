"""A real SMTP server for mailer tests: Debian's aiosmtpd on 127.0.0.1, in this process.

    smtp = SMTPServer().start()          # free port; smtp.url == "smtp://127.0.0.1:PORT"
    smtp.reject("bounce")                # RCPT of an address containing "bounce" -> 550
    smtp.tempfail(2)                     # the next 2 RCPTs -> 451
    smtp.stop(); smtp.start()            # an outage on the same port
    smtp.wait_for(3)                     # the first 3 messages, parsed (email.message.EmailMessage)

With tls=(cert, key) it offers (and requires) STARTTLS; with auth=(user, password) it requires AUTH.
"""
import email
import email.policy
import logging
import ssl
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from harness import free_port

# aiosmtpd logs every refused TLS handshake with a traceback, and warns about its own legacy API.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosmtpd")


class Received:
    def __init__(self, mail_from, rcpt_tos, raw):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.raw = raw
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)

    @property
    def number(self):
        return self.msg["X-Receipt-Number"]


class _Handler:
    def __init__(self, srv):
        self.srv = srv

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.srv.lock:
            if self.srv._tempfail > 0:
                self.srv._tempfail -= 1
                return "451 4.3.0 try again later"
            if any(s in address for s in self.srv._reject):
                return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.srv.lock:
            self.srv.messages.append(Received(envelope.mail_from, envelope.rcpt_tos, envelope.content))
            self.srv.cond.notify_all()
        return "250 2.0.0 queued"


class SMTPServer:
    def __init__(self, port=None, tls=None, auth=None):
        self.port = port or free_port()
        self.url = "smtp://127.0.0.1:%d" % self.port
        self.tls = tls
        self.auth = auth
        self.messages = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._reject = set()
        self._tempfail = 0
        self.controller = None
        self.logins = 0

    def _authenticate(self, server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.auth
        if ok:
            self.logins += 1
        return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd answers 235/535 itself

    def start(self):
        kw = {}
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            kw.update(tls_context=ctx, require_starttls=True)
        if self.auth:
            kw.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=bool(self.tls))
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kw)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def reject(self, substring):
        with self.lock:
            self._reject.add(substring)

    def tempfail(self, n):
        with self.lock:
            self._tempfail = n

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_for(self, n, timeout=15):
        """Waits until at least n messages arrived; returns them (all so far)."""
        deadline = time.time() + timeout
        with self.lock:
            while len(self.messages) < n:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("SMTP server got %d of %d messages" % (len(self.messages), n))
                self.cond.wait(left)
            return list(self.messages)

    def for_number(self, number):
        with self.lock:
            return [m for m in self.messages if m.number == number]
