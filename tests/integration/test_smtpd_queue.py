"""smtpd with the real inject(8): a message lands in the queue.

The other smtpd tests replace inject with a recorder; this one checks the
fixed interface end to end: the reply's queue id is the entry's, the
entry holds our Received: field first and the envelope smtpd wrote.
"""
import os
import re
import signal
import time

from conftest import processes, without_children
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


def test_a_message_at_exactly_the_size_limit_is_queued(smtpd):
    """SIZE counts the message as the client sends it (CR LF as two); our
    Received: field must not push a message at the limit over it."""
    limit = 4000
    srv = smtpd("smtp", inject="real",
                conf={"message_size_limit": str(limit)})
    c = srv.greeted()
    head = "Subject: at the limit\r\n\r\n"
    line = "x" * 98 + "\r\n"                          # 100 octets a line
    body = line * ((limit - len(head)) // 100)
    body += "y" * (limit - len(head) - len(body) - 2) + "\r\n"
    assert len(head + body) == limit
    code, lines = send_message(c, "a@b.example", [ALICE], head + body + ".\r\n")
    assert code == 250, lines
    code, lines = send_message(c, "a@b.example", [ALICE],
                               head + body + "z\r\n.\r\n")
    assert code == 552 and lines[0].startswith("5.3.4"), lines


def _inject_servers(root):
    """pids of inject servers (inject -S) running with root's config
    (not their children, which carry the same arguments until they end)."""
    return without_children(processes(
        lambda a: len(a) >= 4 and a[0] == b"inject" and b"-S" in a and
        str(root).encode() in a[2]))


def test_one_inject_server_takes_every_message_of_a_session(smtpd):
    """inject -S (INJECT.md): every message of a session is queued, each
    with its own id; one server serves the session; if it dies, or ends
    at a refusal, the next message is still queued; it is gone once the
    session ends."""
    srv = smtpd("smtp", inject="real")
    c = srv.greeted()
    qids = []

    def one(i):
        code, lines = send_message(
            c, "a@b.example", [ALICE],
            f"Subject: n{i}\r\nMessage-ID: <s-{i}@test>\r\n\r\nbody {i}\r\n"
            ".\r\n")
        assert code == 250, lines
        qids.append(lines[0].rsplit(" ", 1)[1])

    for i in range(3):
        one(i)
    servers = _inject_servers(srv.root)
    assert len(servers) == 1, servers
    os.kill(servers[0], signal.SIGKILL)
    # (A request sent in the instant the server is dying is lost with it:
    # that message gets 451, a temporary failure the client retries.)
    end = time.time() + 10
    while _inject_servers(srv.root) and time.time() < end:
        time.sleep(0.02)
    for i in range(3, 6):
        one(i)
    # A refused message ends the server (as it ends a single inject);
    # the next message is taken by a new one.
    for i in range(6, 11):
        code, _ = send_message(c, "a@b.example", [ALICE],
                               "Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
        assert code == 554
        one(i)
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    new = srv.root / "state" / "queue" / "new"
    assert sorted(p.name for p in new.iterdir()) == sorted(qids)
    assert len(set(qids)) == 11
    for q in qids:
        assert read_entry(new / q)["msg"].endswith(b"\n\nbody %d\n" %
                                                   qids.index(q))
    end = time.time() + 10
    while _inject_servers(srv.root) and time.time() < end:
        time.sleep(0.05)
    assert _inject_servers(srv.root) == []
