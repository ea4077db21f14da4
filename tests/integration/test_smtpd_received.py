"""The WITH clause of smtpd's Received: field (RFC 3848, RFC 6531 3.7.3).

smtpd runs with the real inject(8); the entry it queues holds our
Received: field first. Mail sent with SMTPUTF8 says UTF8SMTP (UTF8SMTPS
inside TLS), other mail ESMTP or ESMTPS, as before.
"""
import re

import pytest

from test_queue_lib import read_entry
from test_smtpd_fixture import DOMAIN, smtpd  # noqa: F401

ALICE = f"alice@{DOMAIN}"


def received_with(srv, c, mail_from, body):
    """Send one message; the protocol named in its Received: field."""
    assert c.code(mail_from) == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    code, lines = c.cmd("DATA")
    assert code == 354, lines
    c.send(body)
    code, lines = c.reply()
    assert code == 250, lines
    qid = re.fullmatch(r"2\.0\.0 Ok: queued as (\S+)", lines[0]).group(1)
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    entry = read_entry(srv.root / "state" / "queue" / "new" / qid)
    head = entry["msg"].split(b"\n\n", 1)[0].decode("utf-8")
    m = re.match(r"Received: from [^\n]*\n\tby \S+ \(mailstack smtpd\) "
                 r"with (\S+)", head)
    assert m, head
    return m.group(1), entry


@pytest.mark.parametrize("tls,utf8,want", [
    (False, True, "UTF8SMTP"),
    (True, True, "UTF8SMTPS"),
    (False, False, "ESMTP"),
    (True, False, "ESMTPS"),
])
def test_received_names_the_protocol(smtpd, tls, utf8, want):
    srv = smtpd("smtp", inject="real")
    c = srv.greeted()
    if tls:
        c.starttls()
        c.ehlo()
    sender = "j\u00f6rg@b.example" if utf8 else "a@b.example"
    mail = f"MAIL FROM:<{sender}>" + (" SMTPUTF8" if utf8 else "")
    subject = "gr\u00fc\u00dfe" if utf8 else "hello"
    proto, entry = received_with(
        srv, c, mail, f"Subject: {subject}\r\n\r\nhi\r\n.\r\n")
    assert proto == want
    assert ("U" in entry["envelope"]) == utf8
