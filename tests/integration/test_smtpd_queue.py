"""smtpd with the real inject(8): a message lands in the queue.

The other smtpd tests replace inject with a recorder; this one checks the
fixed interface end to end: the reply's queue id is the entry's, the
entry holds our Received: field first and the envelope smtpd wrote.
"""
import re

from test_queue_lib import read_entry
from test_smtpd_fixture import DOMAIN, send_message, smtpd  # noqa: F401

ALICE = f"alice@{DOMAIN}"


def test_real_inject_queues_the_message(smtpd):
    srv = smtpd("smtp", inject="real")
    c = srv.greeted()
    code, lines = send_message(
        c, "a@b.example", [ALICE, f"bob@{DOMAIN}"],
        "Subject: real\r\nMessage-ID: <real-1@test>\r\n\r\nhello\r\n"
        "..dot\r\n.\r\n")
    assert code == 250, lines
    m = re.fullmatch(r"2\.0\.0 Ok: queued as (\S+)", lines[0])
    assert m, lines
    qid = m.group(1)
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    entry = read_entry(srv.root / "state" / "queue" / "new" / qid)
    assert entry["qid"] == qid
    assert entry["msg"].startswith(b"Received: from client.example "
                                   b"([127.0.0.1])\n")
    assert entry["msg"].endswith(b"\n\nhello\n.dot\n")
    assert entry["rcpts"] == [ALICE, f"bob@{DOMAIN}"]
    assert entry["hops"] == 1
    for rec in ("Fa@b.example", "Hclient.example", "I127.0.0.1", "PESMTP"):
        assert rec in entry["envelope"], rec
    assert f"qid={qid}" in srv.log()


def test_real_inject_nothing_queued_for_a_refused_message(smtpd):
    srv = smtpd("smtp", inject="real")
    c = srv.greeted()
    code, _ = send_message(c, "a@b.example", [ALICE],
                           "Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
    assert code == 554
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    q = srv.root / "state" / "queue"
    for d in ("new", "tmp", "cur"):
        assert not (q / d).exists() or list((q / d).iterdir()) == []
