"""mailctl queue: list, show, flush, delete (CONTRACT.md)."""
import re
import time

import pytest

from test_queue_lib import QueueEnv, envelope, message, read_entry, wait_for


@pytest.fixture
def qenv(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir)
    env.fake()
    yield env
    env.stop_all()


def queued(env, msg, wire):
    status, report = env.inject(msg, wire)
    assert status == 0, report
    return report.split()[1]


def test_list_empty_queue(qenv):
    r = qenv.mailctl("queue")
    assert r.returncode == 0 and r.stdout == "queue is empty\n"


def test_list_and_show(qenv):
    a = queued(qenv, message("<l1@test>", body="x" * 1000 + "\n"),
               envelope("alice@example.test", ["bob@example.test",
                                               "busy@example.test"],
                        envid="ENV-L", ret="FULL", protocol="ESMTPA",
                        auth="alice", client="192.0.2.9"))
    b = queued(qenv, message("<l2@test>"), envelope("", ["carol@remote.test"]))
    r = qenv.mailctl("queue")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "2 messages"
    head = [l for l in lines if l.startswith(a)][0]
    size = len(message("<l1@test>", body="x" * 1000 + "\n"))
    assert re.fullmatch(rf"{a}  \d+s +{size}  <alice@example.test>", head)
    assert "    pending   <bob@example.test>" in lines
    assert any(l.startswith(b) and l.endswith("<>") for l in lines)
    # Deliveries happen: one recipient delivered, one deferred.
    qenv.fake(rules=[("busy@example.test", "temp")])
    qenv.start_smtpq()
    qenv.wait_log(f"qid={a} .*to=<busy@example.test> status=deferred")
    qenv.wait_log(f"qid={a} .*to=<bob@example.test> status=sent")
    r = qenv.mailctl("queue")
    assert "    delivered <bob@example.test> attempts=1  2.0.0 delivered " \
        "to <bob@example.test>" in r.stdout
    assert re.search(r"    pending   <busy@example.test> attempts=1 "
                     r"next=(4m5\ds|5m0s)  4.2.1 mailbox busy, try later",
                     r.stdout)
    s = qenv.mailctl("queue", "show", a)
    assert s.returncode == 0, s.stderr
    out = s.stdout
    for want in (f"id: {a}", "folder: cur", "sender: <alice@example.test>",
                 "envid: ENV-L", "ret: FULL", "user: alice",
                 "protocol: ESMTPA", "client: 192.0.2.9",
                 "recipient 1: <bob@example.test>", "  state: delivered",
                 "recipient 2: <busy@example.test>", "  state: pending",
                 "  attempts: 1", "  last result: 4.2.1 mailbox busy",
                 "Message-ID: <l1@test>"):
        assert want in out, (want, out)
    assert "next try:" in out and "from now" in out


def test_show_errors(qenv):
    r = qenv.mailctl("queue", "show", "../../etc/passwd")
    assert r.returncode == 65
    queued(qenv, message("<e@test>"), envelope("a@b.test", ["c@example.test"]))
    r = qenv.mailctl("queue", "show", "0" * 24)
    assert r.returncode == 67 and "no message" in r.stderr
    r = qenv.mailctl("queue", "frobnicate")
    assert r.returncode == 64


def test_show_escapes_control_characters(qenv):
    qid = queued(qenv, b"Subject: \x1b[31mred\x07\n\nbody\n",
                 envelope("a@b.test", ["c@example.test"]))
    out = qenv.mailctl("queue", "show", qid).stdout
    assert "\x1b" not in out and "\\x1b[31mred\\x07" in out


def test_flush_retries_now(qenv):
    r = qenv.mailctl("queue", "flush")
    assert r.returncode == 0        # no queue at all: nothing to do
    qenv.fake(rules=[("busy@example.test", "temp")])
    qid = queued(qenv, message("<f@test>"),
                 envelope("a@example.test", ["busy@example.test"]))
    r = qenv.mailctl("queue", "flush")
    assert r.returncode == 75 and "not running" in r.stderr
    qenv.start_smtpq()
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=1")
    r = qenv.mailctl("queue", "flush")
    assert r.returncode == 0 and r.stdout == "flush requested\n"
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=2")
    qenv.fake()
    assert qenv.mailctl("queue", "flush").returncode == 0
    wait_for(qenv.queue_empty, 10, what="delivery after flush")


def test_delete_with_smtpq_running(qenv):
    qenv.fake(rules=[("busy@example.test", "temp")])
    qenv.start_smtpq()
    qid = queued(qenv, message("<d@test>"),
                 envelope("a@example.test", ["busy@example.test"]))
    qenv.wait_log(f"qid={qid} .*status=deferred")
    r = qenv.mailctl("queue", "delete", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{qid} deleted\n"
    assert qenv.queue_empty()
    qenv.wait_log(f"qid={qid} status=deleted")
    wait_for(lambda: qenv.entries("delete") == [], 5, what="request gone")
    r = qenv.mailctl("queue", "delete", qid)
    assert r.returncode == 67


def test_delete_while_delivering_waits_for_the_job(qenv):
    qenv.fake(sleep=1.0)
    qenv.start_smtpq()
    qid = queued(qenv, message("<dw@test>"),
                 envelope("a@example.test", ["b@example.test",
                                             "c@example.test"]))
    wait_for(lambda: [r for r in qenv.ledger() if r["event"] == "start"],
             10, what="a delivery to start")
    r = qenv.mailctl("queue", "delete", qid)
    assert r.returncode == 0, r.stderr
    wait_for(qenv.queue_empty, 10, what="the deletion")
    qenv.wait_log(f"qid={qid} status=deleted")
    assert qenv.count_log(f"qid={qid} status=removed") == 0


def test_delete_without_smtpq_is_done_at_its_start(qenv):
    qid = queued(qenv, message("<dn@test>"),
                 envelope("a@example.test", ["b@example.test"]))
    r = qenv.mailctl("queue", "delete", qid)
    assert r.returncode == 0
    assert "marked for deletion" in r.stdout
    # mailctl never removes the entry itself: only smtpq does.
    assert qenv.entries("new") == [qid]
    assert qenv.entries("delete") == [qid]
    qenv.start_smtpq()
    wait_for(qenv.queue_empty, 10, what="deletion at start")
    time.sleep(0.3)
    assert qenv.deliveries() == []
    assert qenv.entries("delete") == []
    assert read_entry  # the format helper stays importable
