"""What the two XML agent protocols share, as an agent (a terminal network, a bank app) speaks them:
a URL of the provider called with form parameters over GET (or a POST form), HTTP Basic auth, an
XML answer <response><…/></response>, and a repeat with the very same parameters after a timeout,
a broken connection or a non-fatal code. Each protocol (osmp_terminal.py, sber_online.py) names
its code element, its non-fatal codes and how to read its elements.

Standard library only; shares no code with the gateway."""
import base64
import http.client
import socket
import time
import urllib.parse
import xml.etree.ElementTree as ET


class ProtocolError(Exception):
    """The provider's answer is not a valid response of the protocol."""


class XmlAgent:
    CODE = "result"             # the element holding the numeric result code
    NON_FATAL = ()              # codes the agent repeats with the same parameters

    def __init__(self, url, login, password, timeout=5.0, retries=5, retry_delay=0.2, post=False):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (login, password)).encode()).decode()
        self.timeout, self.retries, self.retry_delay, self.post = timeout, retries, retry_delay, post
        self.attempts = []          # one entry per HTTP attempt: "timeout", "error" or the code
        self.observer = None        # observer(method, target, status, headers, body) sees every answer

    def _once(self, params):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            body = urllib.parse.urlencode(params)
            headers = {"Authorization": self.auth}
            if self.post:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                method, target = "POST", self.path
                c.request(method, target, body=body, headers=headers)
            else:
                method, target = "GET", self.path + "?" + body
                c.request(method, target, headers=headers)
            r = c.getresponse()
            data = r.read()
            if self.observer:
                self.observer(method, target, r.status, dict((k.lower(), v) for k, v in r.getheaders()), data)
            return r.status, r.getheader("Content-Type", ""), data
        finally:
            c.close()

    @classmethod
    def read_element(cls, out, child):
        """Stores one child element of <response> in out (a protocol may read nested ones)."""
        out[child.tag] = child.text or ""

    @classmethod
    def check_answer(cls, out, data):
        """Raises ProtocolError when out lacks what every answer of the protocol carries."""
        if not out.get(cls.CODE, "").isdigit():
            raise ProtocolError("no numeric <%s>: %r" % (cls.CODE, data[:200]))

    @classmethod
    def parse(cls, status, ctype, data):
        if not ctype.startswith("text/xml"):
            raise ProtocolError("Content-Type %r is not text/xml" % ctype)
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise ProtocolError("not XML: %s: %r" % (e, data[:200]))
        if root.tag != "response":
            raise ProtocolError("root element is %r, not response" % root.tag)
        out = {"http_status": status, "raw": data}
        for child in root:
            cls.read_element(out, child)
        cls.check_answer(out, data)
        out[cls.CODE] = int(out[cls.CODE])
        return out

    def command(self, params, extra, retry=True):
        """One command of the protocol: its parameters plus whatever extra ones the caller adds."""
        p = dict(params)
        p.update(extra)
        return self.request(p, retry)

    def request(self, params, retry=True):
        """Sends params; repeats on timeout, connection errors and non-fatal codes when retry is set."""
        tries = 1 + (self.retries if retry else 0)
        last = None
        for i in range(tries):
            try:
                status, ctype, data = self._once(params)
            except (socket.timeout, TimeoutError) as e:
                self.attempts.append("timeout")
                last = e
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.attempts.append("error")
                last = e
            else:
                resp = self.parse(status, ctype, data)
                self.attempts.append(resp[self.CODE])
                if resp[self.CODE] not in self.NON_FATAL or i == tries - 1:
                    return resp
                last = None
            if i < tries - 1:
                time.sleep(self.retry_delay)
        if last is not None:
            raise last
        raise AssertionError("unreachable")

    @staticmethod
    def cli_parser(doc, actions):
        """The command line both agents take: --url, --login, --password, an action, an account."""
        import argparse
        ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--url", required=True)
        ap.add_argument("--login", required=True)
        ap.add_argument("--password", required=True)
        ap.add_argument("action", choices=actions)
        ap.add_argument("account")
        return ap
