"""Mails per second from the receipt outbox to a local SMTP sink (aiosmtpd in this process):
books N payments with an email (their receipts wait in the outbox), then starts a gatewayd whose
mailer drains them and times it until the sink has them all. Used by bench.py; runnable alone."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Gateway, Postgres, gatewayd  # noqa: E402
from smtp_server import SMTPServer  # noqa: E402


def measure(pg, n=2000, workers=2):
    pg.psql("INSERT INTO accounts (contract, holder_name) VALUES ('790000001', 'Почтовый Тест') ON CONFLICT DO NOTHING")
    pg.psql("""SELECT count(*) FROM (
                 SELECT book_payment('terminal', 'osmp', NULL, 'mail-' || g, '790000001', 10000, 'cash',
                                     'payer' || g || '@example.com', now(), md5(g::text) || md5(random()::text), NULL)
                   FROM generate_series(1, %d) g) b""" % n)
    smtp = SMTPServer().start()
    gw = None
    try:
        t0 = time.time()
        gw = Gateway(pg.url, GATEWAY_MAIL_URL=smtp.url, GATEWAY_MAIL_WORKERS=str(workers),
                     GATEWAY_MAIL_STARTTLS="off").start()
        deadline = t0 + 300
        while smtp.count() < n and time.time() < deadline:
            time.sleep(0.05)
        elapsed = time.time() - t0
        sent = smtp.count()
        return {"mails": sent, "seconds": elapsed, "rate": sent / elapsed if elapsed else 0.0, "workers": workers}
    finally:
        if gw:
            gw.stop()
        smtp.stop()


if __name__ == "__main__":
    pg = Postgres().start()
    try:
        rc, out, err = gatewayd(["migrate"], pg.url)
        assert rc == 0, err
        r = measure(pg, int(os.environ.get("MAILS", "2000")))
        print("%d mails in %.1f s: %.0f mails/s (%d mailer threads)" % (r["mails"], r["seconds"], r["rate"], r["workers"]))
    finally:
        pg.destroy()
