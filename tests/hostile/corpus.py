"""The hostile-input corpus: malformed requests for every route of the route table (read from the C
sources, so a new route is covered the day it is added) and raw byte streams for the HTTP layer.

Each case is a dict: name, method, path, query (list of (key, value) pairs, values already in the form
they travel: str values are percent-encoded here, bytes are sent as is), headers, body (bytes), and
`malformed` when the request is invalid for its route by construction (a protocol endpoint must then
refuse it in its own terms, never acknowledge it)."""
import base64
import json
import os
import re
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

ROUTE_RE = re.compile(r'\{"(GET|POST|PUT|DELETE|PATCH)",\s*"(/[^"]*)"')


def routes():
    """(method, pattern) of every route in gateway/routes*.c and adapters/*.c."""
    out = []
    for d in ("gateway", "adapters"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".c"):
                with open(os.path.join(ROOT, d, f), encoding="utf-8") as fh:
                    for m in ROUTE_RE.finditer(fh.read()):
                        if (m.group(1), m.group(2)) not in out:
                            out.append((m.group(1), m.group(2)))
    return out


# Values a client should never get away with, for any text parameter or JSON string field.
VALUES = [
    "", " ", "-1.00", "-0", "0", "0.00", "1.001", "0.005", "1e3", "1E+400", "NaN", "Infinity", "1,2,3", "+1",
    "١٢٣", "１２３", "9" * 400, "1" * 25 + ".99", "0x10", "1_000", "１.00", "10.5.5", ".5", "5.",
    "' OR '1'='1", "1; DROP TABLE payments;--", "12345' --", "$$; SELECT pg_sleep(5); $$",
    "<script>alert(1)</script>", "]]><x>", "&amp;&lt;", "../../etc/passwd", "%s%s%n%x", "{{7*7}}",
    "\u202e1234", "😀" * 40, "\x7f\x01\x02", "tab\there", "new\nline", "A" * 5000, "null", "true", "[]", "{}",
    "\ud7ff", "ё" * 300,
]
# Raw byte values (query strings and form bodies carry them percent-encoded).
BYTES = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80abc", b"abc\x00def", b"\x00", b"\xf4\x90\x80\x80",
         b"\xe2\x28\xa1"]

# What a path parameter can be made of (already percent-encoded where it must be).
SEGMENTS = ["%00", "..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", "%FF%FE", "a" * 3000, "%27%20OR%201%3D1", "-1",
            "9" * 200, "%E2%80%AE", "%20", "%0d%0aX-Injected:%201", "%25", "%", "%zz", "x;y=1", "%C0%AF",
            "00000000-0000-0000-0000-000000000000", "0123456789abcdef0123456789abcdef0123456789abcdef",
            "2026-999999999999", "sandbox", "osmp"]

JSON_BODIES = [
    b"", b"{", b"}", b"[]", b"null", b"\"str\"", b"42", b"{\"a\":}", b"{\"a\" 1}", b"{'a': 1}", b"{\"a\":1,}",
    b"[" * 5000 + b"]" * 5000, b"{\"a\":" * 3000 + b"1" + b"}" * 3000, b"\xef\xbb\xbf{}", b"{\"a\":\"\xff\"}",
    b"{\"a\":\"\\u0000\"}", b"{\"a\":\"\\ud800\"}", b"{\"amount\":1e400}", b"{\"amount\":\"1\",\"amount\":\"1000\"}",
    b"{\"x\":\"" + b"A" * 60000 + b"\"}", b"\x00\x00\x00", json.dumps({"k" + str(i): i for i in range(3000)}).encode(),
]

CONTENT_TYPES = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/json; charset=utf-16", "application/jsonx", "application/json\x7f", "*/*",
                 "application/xml", "a" * 2000]

AUTH_HEADERS = [
    {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + "QUFB" * 400},
    {"Authorization": "Basic " + base64.b64encode(b"qiwi:" + b"x" * 300).decode()},
    {"Authorization": "Basic " + base64.b64encode(b":nologin").decode()},
    {"Authorization": "Basic " + base64.b64encode(b"qi\x00wi:pw").decode()},
    {"Authorization": "Basic YQ==YQ=="}, {"Authorization": "Bearer " + "a" * 5000}, {"Authorization": "Bearer"},
    {"Authorization": "Digest username=\"qiwi\""}, {"Authorization": "Basic " + base64.b64encode(b"' OR 1=1 --:x").decode()},
    {"X-Partner-Login": "a" * 1000, "X-Timestamp": "1", "X-Signature": "0" * 64},
    {"X-Partner-Login": "shop", "X-Timestamp": "99999999999999999999", "X-Signature": "f" * 64},
    {"X-Partner-Login": "shop", "X-Timestamp": "-1", "X-Signature": "zz" * 32},
    {"X-Partner-Login": "shop", "X-Timestamp": "1e10", "X-Signature": ""},
    {"X-Partner-Login": "' OR '1'='1", "X-Timestamp": "0", "X-Signature": "A" * 64},
    {"X-Partner-Login": "shop"},
]

OTHER_HEADERS = [
    {"X-Request-Id": "../../" * 50}, {"X-Request-Id": "a" * 1000}, {"Accept": "text/html"}, {"Accept": "*/*;q=" + "9" * 50},
    {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 10000}, {"Idempotency-Key": "\x7fkey-abc-def"},
    {"Idempotency-Key": "' OR 1=1 --"}, {"If-None-Match": "\"" * 500}, {"X-Forwarded-For": "1.2.3.4, " * 200},
    {"Host": "evil.example\x01"}, {"Content-Length": "0"}, {"Cookie": "a=" + "b" * 8000},
    {"User-Agent": "\xff\xfe".encode("latin-1").decode("latin-1")},
]

# Parameter names per route (what the handlers read) plus names nobody reads.
PARAMS = {
    "/v1/accounts/lookup": ["contract", "phone"],
    "/v1/internal/receipts": ["payment_id", "number"],
    "/v1/partner/registry": ["date"],
    "/pay/result": ["payment_id", "id"],
    "/sandbox/pay": ["o", "p", "a", "m", "r", "s", "action", "card", "exp", "cvc"],
    "/v1/osmp": ["command", "txn_id", "account", "sum", "txn_date"],
    "/v1/sber-online": ["ACTION", "ACCOUNT", "AMOUNT", "PAY_ID", "PAY_DATE"],
    "/v1/notifications/{adapter}": ["mdOrder", "operation", "status", "checksum", "orderNumber"],
    "/admin/api/payments": ["q", "from", "to", "channel", "status", "limit", "format"],
    "/admin/api/audit": ["from", "to", "login", "action", "limit", "format"],
    "/admin/api/registries": ["partner", "date"],
    "/admin/api/partners": ["format"],
    "/admin/api/staff": ["format"],
}
GENERIC_PARAMS = ["id", "q", "a[]", "__proto__"]

# A well-formed body of each JSON route; the corpus spoils one field at a time.
BODY_FIELDS = {
    "/v1/payments": {"account": {"contract": "555000111"}, "amount": "100.00", "method": "card",
                     "email": "payer@example.com", "return_url": "http://127.0.0.1/pay/result"},
    "/v1/internal/accounts": {"contract": "555000999", "phone": "+79135550999", "email": "x@example.com",
                              "holder_name": "Тест", "status": "active", "monthly_fee": "500.00", "balance": "0.00"},
    "/v1/partner/payments": {"txn_id": "HX-9", "contract": "555000111", "amount": "10.00", "email": "p@example.com"},
    "/v1/internal/payments/{id}/refunds": {"amount": "1.00"},
    "/v1/internal/receipts/{number}/resend": {"email": "again@example.com"},
    "/admin/api/payments/{id}/refunds": {"amount": "1.00", "reason": "hostile input"},
    "/admin/api/receipts/{number}/resend": {"email": "again@example.com"},
    "/admin/api/partners": {"name": "hostile1", "protocol": "osmp", "networks": ["127.0.0.0/8"], "min": "1.00",
                            "max": "10.00", "fiscal": False},
    "/admin/api/staff": {"login": "hostile1", "role": "support"},
}


def enc(v):
    return urllib.parse.quote(v, safe="") if isinstance(v, str) else urllib.parse.quote_from_bytes(v, safe="")


def fill(pattern, seg="x"):
    return re.sub(r"\{[^}]*\}", seg, pattern)


def case(name, method, path, query=None, headers=None, body=None, malformed=False, raw_query=None):
    q = raw_query if raw_query is not None else "&".join("%s=%s" % (enc(k), enc(v)) for k, v in (query or []))
    return {"name": name, "method": method, "path": path + ("?" + q if q else ""), "headers": headers or {},
            "body": body, "malformed": malformed}


def route_cases(method, pattern, fill_with=None):
    """The generic hostile cases of one route (its path parameters filled with fill_with, or a harmless
    value, where the case is not about them)."""
    out = []
    base = fill(pattern, fill_with or ("sandbox" if "{adapter}" in pattern else "x"))
    names = PARAMS.get(pattern, []) + GENERIC_PARAMS
    # path parameters
    if "{" in pattern:
        for s in SEGMENTS:
            out.append(case("segment %s" % s[:20], method, fill(pattern, s)))
    # hostile values in each parameter the route reads (and in some it does not)
    for n in names:
        for v in VALUES + BYTES:
            out.append(case("param %s=%r" % (n, v[:16]), method, base, [(n, v)], malformed=True))
    # duplicated parameters, broken query strings
    for n in names[:3]:
        out.append(case("duplicate %s" % n, method, base, [(n, "1"), (n, "2")], malformed=True))
        out.append(case("duplicate case %s" % n, method, base, [(n, "1"), (n.swapcase(), "2")], malformed=True))
    for rq in ["a", "=x", "&&", "a=1&&b=2", "a=%", "a=%zz", "a=%00", "%00=1", "a=1;b=2", "a" * 7000 + "=1", "&=&=",
               "a==b", "+=+", "a=" + "%FF" * 500]:
        out.append(case("query %r" % rq[:16], method, base, raw_query=rq, malformed=True))
    # bodies and content types
    if method in ("POST", "PUT", "PATCH"):
        for b in JSON_BODIES:
            out.append(case("json body %r" % b[:16], method, base, headers={"Content-Type": "application/json"},
                            body=b, malformed=True))
        for ct in CONTENT_TYPES:
            h = {"Content-Type": ct} if ct else {}
            out.append(case("content-type %r" % (ct or "")[:20], method, base, headers=h, body=b'{"amount":"1.00"}',
                            malformed=True))
        out.append(case("form body with NUL", method, base,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                        body=b"command=pay&txn_id=1\x00&account=1", malformed=True))
        out.append(case("body 10 MB", method, base, headers={"Content-Type": "application/json"},
                        body=b" " * (10 * 1024 * 1024), malformed=True))
    # well-formed JSON bodies with one hostile field each
    good = BODY_FIELDS.get(pattern)
    if good:
        for field in list(good):
            for v in VALUES + [1, 1.5, -1, 10**30, True, None, [], {}, ["1.00"], {"contract": "1"}]:
                d = json.loads(json.dumps(good))
                d[field] = v
                out.append(case("json field %s=%r" % (field, str(v)[:16]), method, base,
                                headers={"Content-Type": "application/json"}, body=json.dumps(d).encode(),
                                malformed=True))
            d = dict(good)
            d.pop(field)
            out.append(case("json without %s" % field, method, base, headers={"Content-Type": "application/json"},
                            body=json.dumps(d).encode(), malformed=True))
    # headers
    for h in AUTH_HEADERS + OTHER_HEADERS:
        out.append(case("header %s" % list(h)[0], method, base, headers=h, malformed=True))
    # methods the route does not have
    for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        if m != method:
            out.append(case("method %s" % m, m, base, malformed=True))
    return out


def protocol_cases(world):
    """Authenticated requests to the terminal protocols with one field malformed each: they must be
    refused in the protocol's own terms (OSMP result != 0, Sber CODE != 0, JSON 4xx)."""
    out = []
    q = world["qiwi"]
    osmp_auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (q["login"], q["password"])).encode()).decode()}
    good = {"command": "pay", "txn_id": "777000111", "account": world["contract"], "sum": "10.00",
            "txn_date": "20260101120000"}
    bad_fields = {
        "command": ["PAY", "pay ", "refund", "", "check;pay"],
        "txn_id": ["-1", "0", "1.5", "1e5", "9" * 21, "12a", " 1", "0x1F", "' OR 1=1"],
        "account": ["1234", "9" * 13, "12 345 abc", "-12345", "12345' --", "１２３４５"],
        "sum": ["-10.00", "10.001", "0.00", "1e3", "10,5,0", "NaN", "99999999999999999999.99", "15000.01", "0.99"],
        "txn_date": ["20261301000000", "20260230120000", "2026-01-01", "99999999999999", "-1"],
    }
    for field, values in bad_fields.items():
        for v in values:
            for byte_variant in (False, True):
                p = dict(good)
                p[field] = v.encode() + b"\xff" if byte_variant else v
                out.append(("osmp", case("osmp %s=%r%s" % (field, v[:12], " +0xff" if byte_variant else ""), "GET",
                                         "/v1/osmp", list(p.items()), osmp_auth, malformed=True)))
    # a valid value with a NUL after it (%00): a C string would end at the NUL and see a valid value
    for field in good:
        p = dict(good, txn_id="900010")
        p[field] = p[field] + "\x00"
        out.append(("osmp", case("osmp %s=%s%%00" % (field, p[field][:-1]), "GET", "/v1/osmp", list(p.items()),
                                 osmp_auth, malformed=True)))
        out.append(("osmp", case("osmp form %s with %%00" % field, "POST", "/v1/osmp", None,
                                 dict(osmp_auth, **{"Content-Type": "application/x-www-form-urlencoded"}),
                                 urllib.parse.urlencode(p).encode(), malformed=True)))
    for dup in ("txn_id", "sum", "account", "command"):
        qs = list(good.items()) + [(dup, good[dup] if dup != "sum" else "20.00")]
        out.append(("osmp", case("osmp duplicate %s" % dup, "GET", "/v1/osmp", qs, osmp_auth, malformed=True)))
    out.append(("osmp", case("osmp query and form both carry sum", "POST", "/v1/osmp", [("sum", "1.00")],
                             dict(osmp_auth, **{"Content-Type": "application/x-www-form-urlencoded"}),
                             urllib.parse.urlencode(good).encode(), malformed=True)))
    s = world["sber"]
    sber_auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (s["login"], s["password"])).encode()).decode()}
    sgood = {"ACTION": "payment", "ACCOUNT": world["contract"], "AMOUNT": "10.00", "PAY_ID": "hx-1",
             "PAY_DATE": "01.01.2026_12:00:00"}
    sbad = {
        "ACTION": ["pay", "", "CHECKX"],
        "ACCOUNT": ["1", "x" * 20, "12345;--"],
        "AMOUNT": ["-1", "0", "0.001", "1e9", "10000000.00"],
        "PAY_ID": ["", "a" * 65, "a b", "a/b", "' OR 1=1", "идентификатор"],
        "PAY_DATE": ["32.01.2026_12:00:00", "01.13.2026_00:00:00", "29.02.2025_00:00:00", "01.01.2026 12:00:00", "x"],
    }
    for field, values in sbad.items():
        for v in values:
            p = dict(sgood)
            p[field] = v
            out.append(("sber", case("sber %s=%r" % (field, v[:12]), "GET", "/v1/sber-online", list(p.items()), sber_auth,
                                     malformed=True)))
    for field in sgood:
        p = dict(sgood, PAY_ID="hx-nul-1")
        p[field] = p[field] + "\x00"
        out.append(("sber", case("sber %s=%s%%00" % (field, p[field][:-1]), "GET", "/v1/sber-online", list(p.items()),
                                 sber_auth, malformed=True)))
    for dup in ("PAY_ID", "amount"):
        qs = list(sgood.items()) + [(dup, "2")]
        out.append(("sber", case("sber duplicate %s" % dup, "GET", "/v1/sber-online", qs, sber_auth, malformed=True)))
    return out


def json_partner_bodies(contract):
    """Signed partner JSON bodies with one field malformed each (signed by the suite)."""
    good = {"txn_id": "HX-1", "contract": contract, "amount": "10.00"}
    out = []
    for field, values in {"txn_id": ["", "a" * 65, "a b", "a/b", 5, None, ["x"], "' OR 1=1 --"],
                          "contract": ["1", "12345' --", 12345, {"a": 1}, "\u0000"],
                          "amount": ["-1.00", "0.001", 10, 1e400, "1e3", "", "99999999999999.99", "0"],
                          "email": ["not-an-email", "a@" + "b" * 300, 5, "x@y\u0000z"],
                          "extra": ["x"]}.items():
        for v in values:
            d = dict(good)
            if v is None:
                d.pop(field, None)
            else:
                d[field] = v
            try:
                body = json.dumps(d).encode()
            except ValueError:
                continue
            out.append(("json %s=%r" % (field, str(v)[:12]), body))
    out.append(("json phone and contract", json.dumps(dict(good, phone="+79130000000")).encode()))
    out.append(("json duplicate amount", b'{"txn_id":"HX-2","contract":"%s","amount":"1.00","amount":"1000.00"}'
                % contract.encode()))
    return out


# ---- raw byte streams for the HTTP layer ----------------------------------------------------------

RAW = [
    # name, bytes, what is acceptable: "4xx" (a status line < 500), "close" (4xx or closed without answer),
    # "ok" (a 2xx/3xx/4xx answer), "501" (a method name nobody implements: 501 with the JSON envelope)
    ("unknown method", b"FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "501"),
    ("unknown method with a body", b"BREW /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "501"),
    ("TRACE", b"TRACE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("header 70 KB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "4xx"),
    ("2000 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
     + b"\r\n", "4xx"),
    ("request line 100 KB", b"GET /healthz?" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("HTTP/0.9", b"GET /healthz\r\n\r\n", "4xx"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "4xx"),
    ("NUL in request line", b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("NUL in header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n", "4xx"),
    ("NUL in a header we read", b"GET /v1/accounts/lookup?contract=555000111 HTTP/1.1\r\nHost: x\r\n"
     b"X-Request-Id: abcdefgh\x00zzz\r\nConnection: close\r\n\r\n", "4xx"),
    ("NUL in a body", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Idempotency-Key: hostile-nul-body\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{\x00}", "4xx"),
    ("raw UTF-8 in path", "GET /v1/receipts/квитанция HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), "4xx"),
    ("raw 0xff in path", b"GET /v1/payments/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("Content-Length -1", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "4xx"),
    ("Content-Length huge", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", "4xx"),
    ("Content-Length text", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", "4xx"),
    ("two Content-Lengths", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
     b"Connection: close\r\n\r\n{}x", "4xx"),
    ("CL and chunked", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
     b"Connection: close\r\n\r\n0\r\n\r\n", "4xx"),
    ("bad chunk size", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
     b"zz\r\n", "close"),
    ("huge chunk size", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
     b"ffffffffffffffff\r\n", "close"),
    ("negative chunk size", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
     b"-5\r\nabc\r\n0\r\n\r\n", "close"),
    ("binary garbage", bytes(range(256)) * 2 + b"\r\n\r\n", "4xx"),
    ("TLS ClientHello on plain HTTP", bytes.fromhex("16030100a5010000a10303") + bytes(150), "close"),
    ("empty lines", b"\r\n\r\n\r\n", "close"),
    ("LF only", b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n", "ok"),
    ("header without colon", b"GET /healthz HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n", "4xx"),
    ("folded header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n", "ok"),
    ("absolute URI", b"GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "ok"),
    ("asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("spaces in target", b"GET /v1/accounts/lookup?contract=1 2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("backslashes", b"GET /pay/..\\..\\etc\\passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("encoded traversal", b"GET /pay/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "4xx"),
    ("body larger than Content-Length", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\nIdempotency-Key: hostile-key-1\r\n\r\n{}GET /healthz HTTP/1.1\r\n\r\n", "4xx"),
    ("Expect 100-continue with a huge body", b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
     b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n", "close"),
]
