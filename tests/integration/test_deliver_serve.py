"""deliver -S: one long-lived deliver for all of smtpq's local deliveries.

QUEUE.md ("smtpq -> deliver", the deliver server): smtpq sends each
request (sender, queue id, recipients, the entry's descriptor and the
result pipe) over a SOCK_SEQPACKET socket; the server forks a child for
it, answers "P" PID and, once the child has ended, "X" PID STATUS. The
protocol is driven directly here, then through smtpq: what a user
notices is that every message is in its Maildir exactly once, a user
added while the server runs gets mail, a server killed mid-run loses
nothing, and a deliver that cannot serve still delivers.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import processes, require_binary, without_children
from test_deliver import DeliverEnv, expected
from test_deliver_many import (maildir_files, qenv,  # noqa: F401
                               real_deliver_queue)
from test_queue_lib import envelope, message, wait_for

SENDER = "s@remote.test"


class Server:
    """deliver -c CONF -S on one end of a SOCK_SEQPACKET socketpair."""

    def __init__(self, env):
        self.env = env
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_SEQPACKET)
        argv = [str(require_binary(env.build / "bin" / "deliver")),
                "-c", str(env.conf), "-S"]
        self.err = open(env.base / "server.err", "ab")
        self.proc = subprocess.Popen(argv, stdin=theirs.fileno(),
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        theirs.close()
        self.sock.settimeout(20)
        try:
            self.greeting = self.sock.recv(64)
        except OSError:
            self.greeting = b""

    def packet(self):
        return self.sock.recv(64)

    def request(self, words, msg, nfds=2, tag=b"D"):
        """Send one request; (the "P" answer, the result pipe's text)."""
        data = tag + b"".join(w.encode() + b"\0" for w in words)
        path = self.env.base / f"entry-{time.monotonic_ns()}"
        path.write_bytes(msg)
        entry = os.open(path, os.O_RDONLY)
        r, w = os.pipe()
        socket.send_fds(self.sock, [data], [entry, w][:nfds])
        os.close(entry)
        os.close(w)
        answer = self.packet()
        with os.fdopen(r, "rb") as f:
            out = f.read().decode()
        return answer, out

    def close(self):
        self.sock.close()
        try:
            return self.proc.wait(10)
        finally:
            self.err.close()


@pytest.fixture
def denv(tmp_path, build_dir):
    return DeliverEnv(tmp_path, build_dir, users=(
        "fred@truc.test *\n"
        "bob@truc.test *\n"))


def exit_of(packet, pid):
    """The status of an "X" packet for pid."""
    m = re.fullmatch(rb"X(\d+)\0(\d+)\0", packet)
    assert m and int(m.group(1)) == pid, packet
    return os.waitstatus_to_exitcode(int(m.group(2)))


def test_requests_are_delivered_with_pid_and_status(denv):
    srv = Server(denv)
    assert srv.greeting == b"R"
    msg = b"Subject: one\n\nbody\n"
    answer, out = srv.request([SENDER, "QS1", "fred@truc.test"], msg)
    m = re.fullmatch(rb"P(\d+)\0", answer)
    assert m, answer
    pid = int(m.group(1))
    assert pid != srv.proc.pid
    assert exit_of(srv.packet(), pid) == 0
    assert out.startswith("2.0.0 "), out
    assert [d for _, d in denv.files("fred@truc.test")] == \
        [expected(msg, "fred@truc.test")]
    assert re.search(r"deliver\[%d\]: qid=QS1 step=4" % pid,
                     denv.log_text())
    # Several recipients: one line each, as "deliver -- R1 R2" writes.
    answer, out = srv.request(["", "QS2", "bob@truc.test", "nobody@truc.test"],
                              msg)
    pid = int(re.fullmatch(rb"P(\d+)\0", answer).group(1))
    assert exit_of(srv.packet(), pid) == 0
    lines = out.splitlines()
    assert lines[0].startswith("K 2.0.0 ") and \
        lines[1].startswith("D 5.1.1 "), lines
    assert [d for _, d in denv.files("bob@truc.test")] == \
        [expected(msg, "bob@truc.test", sender="")]
    assert srv.close() == 0


def test_a_user_added_while_it_runs_gets_mail(denv):
    srv = Server(denv)
    assert srv.greeting == b"R"
    msg = b"Subject: new user\n\nhi\n"
    answer, out = srv.request([SENDER, "QS3", "new@truc.test"], msg)
    assert out.startswith("5.1.1 "), out
    srv.packet()
    denv.write_users("fred@truc.test *\nbob@truc.test *\nnew@truc.test *\n")
    # (a compile by mailctl, as root would do it; the text is newer)
    subprocess.run([str(require_binary(denv.build / "bin" / "mailctl")),
                    "-c", str(denv.conf), "check"], capture_output=True,
                   timeout=30)
    answer, out = srv.request([SENDER, "QS4", "new@truc.test"], msg)
    srv.packet()
    assert out.startswith("2.0.0 "), out
    assert len(denv.files("new@truc.test")) == 1
    assert srv.close() == 0


def test_bad_requests_answer_p_minus_one_and_change_nothing(denv):
    srv = Server(denv)
    msg = b"Subject: x\n\ny\n"
    assert srv.request([SENDER, "QS5", "fred@truc.test"], msg,
                       nfds=1)[0] == b"P-1\0"
    assert srv.request([SENDER, "QS6"], msg)[0] == b"P-1\0"
    assert srv.request([SENDER, "QS7", "fred@truc.test"], msg,
                       tag=b"Z")[0] == b"P-1\0"
    assert denv.files("fred@truc.test") == []
    answer, out = srv.request([SENDER, "QS8", "fred@truc.test"], msg)
    assert answer.startswith(b"P") and answer != b"P-1\0"
    srv.packet()
    assert out.startswith("2.0.0 ") and len(denv.files("fred@truc.test")) == 1
    assert srv.close() == 0


def test_a_bad_config_never_says_ready(denv, tmp_path):
    denv.conf.write_text("no_such_key = 1\n")
    srv = Server(denv)
    assert srv.greeting == b""
    assert srv.close() != 0


# --- through smtpq -----------------------------------------------------------

def deliver_servers(root):
    """pids of deliver servers (deliver ... -S) with root's config (not
    their children, which carry the same arguments until they end)."""
    return without_children(processes(
        lambda a: a[0].endswith(b"/deliver") and b"-S" in a and
        str(root).encode() in b" ".join(a)))


def send(qenv, n, tag):
    qids = []
    for i in range(n):
        status, report = qenv.inject(message(f"<{tag}-{i}@test>"),
                                     envelope(SENDER, ["u1@truc.test"]))
        assert status == 0, report
        qids.append(report.split()[1])
    return qids


def test_smtpq_uses_one_server_and_survives_its_death(qenv):  # noqa: F811
    qenv.start_smtpq()
    send(qenv, 5, "a")
    wait_for(qenv.queue_empty, 30, what="the first five")
    servers = deliver_servers(qenv.root)
    assert len(servers) == 1, servers
    assert len(maildir_files(qenv, "u1@truc.test")) == 5
    os.kill(servers[0], signal.SIGKILL)
    # (Gone before the next jobs: one sent to it in the instant it dies
    # would be a temporary failure, retried minutes later; see below for
    # deliveries in flight.)
    wait_for(lambda: servers[0] not in deliver_servers(qenv.root), 10,
             what="the killed server to go")
    send(qenv, 5, "b")
    wait_for(qenv.queue_empty, 60, what="five more after the kill")
    got = maildir_files(qenv, "u1@truc.test")
    assert len(got) == 10
    ids = sorted(re.search(rb"Message-ID: <([ab]-\d)@test>", m).group(1)
                 for m in got)
    assert ids == sorted([b"a-%d" % i for i in range(5)] +
                         [b"b-%d" % i for i in range(5)])
    new = deliver_servers(qenv.root)
    assert len(new) == 1 and new != servers
    qenv.stop_all()
    wait_for(lambda: deliver_servers(qenv.root) == [], 10,
             what="the server to end with smtpq")


def test_a_deliver_without_server_mode_still_delivers(qenv):  # noqa: F811
    """A deliver that does not say "R" (here a wrapper that refuses -S):
    smtpq runs one per entry, and says so once in its log."""
    real = qenv.bin / "deliver.real"
    shutil.move(qenv.bin / "deliver", real)
    wrapper = qenv.bin / "deliver"
    wrapper.write_text("#!/bin/sh\n"
                       "for a; do [ \"$a\" = -S ] && exit 64; done\n"
                       f"exec {real} \"$@\"\n")
    wrapper.chmod(0o755)
    qenv.start_smtpq()
    send(qenv, 3, "c")
    wait_for(qenv.queue_empty, 30, what="three without a server")
    assert len(maildir_files(qenv, "u1@truc.test")) == 3
    assert qenv.log_text().count("status=deliver-server-failed") == 1


@pytest.fixture
def fast_retry(tmp_path, build_dir):
    """As qenv, with retries after 1 s."""
    yield from real_deliver_queue(tmp_path, build_dir,
                                  "queue_retry_min = 1s\n"
                                  "queue_retry_max = 1s\n")


def test_server_killed_with_deliveries_in_flight_loses_nothing(fast_retry):
    """The server dies while smtpq has jobs with it: they are temporary
    failures, retried (by a new server), and every message arrives."""
    qenv = fast_retry
    qenv.start_smtpq()
    send(qenv, 1, "warm")
    wait_for(qenv.queue_empty, 30, what="the first message")
    servers = deliver_servers(qenv.root)
    assert len(servers) == 1
    qids = []
    for i in range(40):
        status, report = qenv.inject(
            message(f"<k-{i}@test>"),
            envelope(SENDER, [f"u{j}@truc.test" for j in range(10)]))
        assert status == 0, report
        qids.append(report.split()[1])
        if i == 5:
            os.kill(servers[0], signal.SIGKILL)
    wait_for(qenv.queue_empty, 60, what="every message after the kill")
    for j in range(10):
        got = maildir_files(qenv, f"u{j}@truc.test")
        ids = {re.search(rb"Message-ID: <(k-\d+)@test>", m).group(1)
               for m in got if b"<k-" in m}
        assert ids == {b"k-%d" % i for i in range(40)}, j
    assert "status=deliver-server-ended" in qenv.log_text()
