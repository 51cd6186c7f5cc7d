"""Real reverse proxies in front of a test gateway: Debian's nginx (HTTP, X-Forwarded-For) and HAProxy
(HTTP with X-Forwarded-For, or TCP with the PROXY protocol v1 / v2). Each is started by the test on
free ports of 127.0.0.1, in the foreground with its files in a temporary directory, and stopped (and
its directory removed) by stop(). Standard library only."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port


def wait_listening(port, proc, log, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the proxy exited with %s:\n%s" % (proc.returncode, read(log)))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the proxy does not listen on %d:\n%s" % (port, read(log)))


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]
    except OSError:
        return ""


class Proxy:
    """Base: a proxy process with a config file in its own directory."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)
        self.log = os.path.join(self.dir, "log")
        self.proc = None
        self.ports = {}

    def _start(self, argv):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, cwd=self.dir)
        for port in self.ports.values():
            wait_listening(port, self.proc, self.log)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Nginx(Proxy):
    """nginx as an HTTP reverse proxy to 127.0.0.1:upstream, appending the client to
    X-Forwarded-For ($proxy_add_x_forwarded_for), keep-alive to the upstream."""

    def __init__(self, upstream):
        super().__init__("gw-nginx-")
        self.port = free_port()
        self.ports = {"http": self.port}
        d = self.dir
        conf = """
daemon off;
master_process off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    upstream gateway { server 127.0.0.1:%(up)d; keepalive 8; }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
""" % {"d": d, "up": upstream, "port": self.port}
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)

    def start(self):
        return self._start(["nginx", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
                            "-e", self.log])


class HAProxy(Proxy):
    """HAProxy with one frontend per mode: "http" (HTTP mode, option forwardfor) to http_upstream,
    "v1" / "v2" (TCP mode, send-proxy / send-proxy-v2) to pp_upstream."""

    def __init__(self, http_upstream=None, pp_upstream=None):
        super().__init__("gw-haproxy-")
        parts = ["global\n    maxconn 256\n",
                 "defaults\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"]
        if http_upstream:
            self.ports["http"] = free_port()
            parts.append("frontend http_in\n    mode http\n    bind 127.0.0.1:%d\n    option forwardfor\n"
                         "    default_backend http_gw\n"
                         "backend http_gw\n    mode http\n    server gw 127.0.0.1:%d\n"
                         % (self.ports["http"], http_upstream))
        if pp_upstream:
            for name, opt in (("v1", "send-proxy"), ("v2", "send-proxy-v2")):
                self.ports[name] = free_port()
                parts.append("frontend %s_in\n    mode tcp\n    bind 127.0.0.1:%d\n    default_backend %s_gw\n"
                             "backend %s_gw\n    mode tcp\n    server gw 127.0.0.1:%d %s\n"
                             % (name, self.ports[name], name, name, pp_upstream, opt))
        with open(os.path.join(self.dir, "haproxy.cfg"), "w") as f:
            f.write("".join(parts))

    def start(self):
        return self._start(["haproxy", "-db", "-f", os.path.join(self.dir, "haproxy.cfg")])
