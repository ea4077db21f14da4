"""maild, the supervisor: listeners, per-connection programs, limits,
restarts, reload and stop. The programs it runs are small stand-ins here
(beside a copy of maild, where maild looks for its siblings), so these
tests show what maild itself does: the argument list and descriptors a
session gets, who is refused, what is restarted, what is left after a
stop."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SANITIZER_REPORT, require_binary

FAKE_SMTPD = """#!/bin/bash
# Stand-in session program: greet with our arguments, record our pid,
# then hold the connection until the client speaks or 30 s pass.
echo $$ >> "{pids}"
printf '220 fake %s\\r\\n' "$*"
read -t 30 line
printf '221 bye\\r\\n'
"""

FAKE_SMTPQ = """#!/bin/sh
# Stand-in daemon: record each start, run until told to stop.
echo "start $$" >> "{starts}"
trap 'echo "hup $$" >> "{starts}"' HUP
trap 'exit 0' TERM
i=0
while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class Stack:
    """A maild copy with stand-in programs in tmp, and its config."""

    def __init__(self, tmp, build_dir):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        shutil.copy(require_binary(build_dir / "bin/maild"), self.bin / "maild")
        self.pids = tmp / "session-pids"
        self.starts = tmp / "smtpq-starts"
        self.pids.touch()
        self.starts.touch()
        self.write_prog("smtpd", FAKE_SMTPD.format(pids=self.pids))
        self.write_prog("smtpq", FAKE_SMTPQ.format(starts=self.starts))
        self.port = free_port()
        self.conf = tmp / "mailstack.conf"
        self.proc = None
        self.log = tmp / "maild.stderr"
        self.configure()

    def write_prog(self, name, text):
        p = self.bin / name
        p.write_text(text)
        p.chmod(0o755)

    def configure(self, extra=""):
        self.conf.write_text(
            f"hostname = mx.truc.test\ndomains = truc.test\n"
            f"state_dir = {self.tmp}/state\nmail_dir = {self.tmp}/mail\n"
            f"log = {self.tmp}/mail.log\n"
            f"listen_smtp = 127.0.0.1:{self.port}\n"
            f"shutdown_grace = 3s\nprivilege_separation = no\n{extra}")

    def start(self, *args):
        self.proc = subprocess.Popen(
            [str(self.bin / "maild"), "-c", str(self.conf), "-f", *args],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        # Ready once it says so (a probe connection would be a session).
        assert wait_for(lambda: "event=started" in self.stderr()), self.stderr()
        return self.proc

    def accepts(self, port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def stderr(self):
        return self.log.read_text() if self.log.exists() else ""

    def session_pids(self):
        return [int(x) for x in self.pids.read_text().split()]

    def smtpq_starts(self):
        return [l.split()[1] for l in self.starts.read_text().splitlines()
                if l.startswith("start")]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def stack(tmp_path, build_dir):
    s = Stack(tmp_path, build_dir)
    yield s
    s.stop()
    for pid in s.session_pids() + [int(p) for p in s.smtpq_starts()]:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not SANITIZER_REPORT.search(s.stderr()), s.stderr()


def greet(port, source="127.0.0.1", timeout=5):
    """Connect from source; return (socket, first line)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    f = s.makefile("rb")
    line = f.readline(512).decode()
    return s, f, line


def test_a_session_gets_the_connection_and_its_arguments(stack):
    stack.start()
    s, f, line = greet(stack.port)
    assert line == f"220 fake -c {stack.conf} -m smtp\r\n"
    s.sendall(b"QUIT\r\n")
    assert f.readline(512) == b"221 bye\r\n"
    s.close()


def test_per_ip_limit_refuses_politely_and_serves_others(stack):
    stack.configure("max_sessions_per_ip = 2\n")
    stack.start()
    held = [greet(stack.port) for _ in range(2)]
    assert all(line.startswith("220 fake") for _, _, line in held)
    s, f, line = greet(stack.port)
    assert line == "421 4.7.0 Too many connections, try again later\r\n"
    assert f.readline(512) == b""          # and disconnected
    s.close()
    # Another address is still served.
    s2, f2, line2 = greet(stack.port, source="127.0.0.2")
    assert line2.startswith("220 fake")
    s2.close()
    # When one of the first two leaves, the first address is served again.
    held[0][0].sendall(b"QUIT\r\n")
    held[0][1].readline(512)
    held[0][0].close()

    def served():
        s3, f3, l3 = greet(stack.port)
        s3.close()
        return l3.startswith("220 fake")
    assert wait_for(served, timeout=5, step=0.2)
    assert "reason=max_sessions_per_ip" in stack.stderr()
    for s_, _, _ in held[1:]:
        s_.close()


def test_connection_rate_per_address(stack):
    """A flood of short connections from one address is refused politely
    past max_connection_rate; another address is still served."""
    stack.configure("max_connection_rate = 5\nmax_sessions_per_ip = 50\n")
    stack.start()
    lines = []
    for _ in range(8):
        s, f, line = greet(stack.port)
        lines.append(line)
        s.close()
    assert all(l.startswith("220 fake") for l in lines[:5]), lines
    assert lines[5:] == ["421 4.7.0 Too many connections, try again "
                         "later\r\n"] * 3, lines
    s2, f2, line2 = greet(stack.port, source="127.0.0.2")
    assert line2.startswith("220 fake")
    s2.close()
    assert "reason=max_connection_rate" in stack.stderr()


def test_total_limit_on_a_listener(stack):
    stack.configure("max_sessions = 1\nmax_sessions_per_ip = 10\n")
    stack.start()
    a = greet(stack.port)
    assert a[2].startswith("220 fake")
    b = greet(stack.port, source="127.0.0.3")
    assert b[2].startswith("421 4.7.0")
    a[0].close()
    b[0].close()


def test_the_queue_manager_is_restarted_when_it_dies(stack):
    stack.start()
    assert wait_for(lambda: len(stack.smtpq_starts()) == 1)
    first = int(stack.smtpq_starts()[0])
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: len(stack.smtpq_starts()) == 2, timeout=10)
    assert int(stack.smtpq_starts()[1]) != first
    log = stack.stderr()
    assert "event=died program=smtpq" in log and "signal 9" in log


def test_sigterm_stops_everything_within_the_grace_period(stack):
    stack.start()
    held = [greet(stack.port) for _ in range(3)]
    assert wait_for(lambda: len(stack.session_pids()) == 3)
    assert wait_for(lambda: len(stack.smtpq_starts()) == 1)
    t0 = time.monotonic()
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=15) == 0
    # The sessions held their connections: they were killed at the end of
    # the 3 s grace period, not before, and nothing is left running.
    assert 2.5 <= time.monotonic() - t0 < 10
    for pid in stack.session_pids() + [int(p) for p in stack.smtpq_starts()]:
        assert wait_for(lambda: not alive(pid), timeout=5), pid
    assert not stack.accepts(stack.port)
    assert not (stack.tmp / "state/maild.pid").exists()
    for s, _, _ in held:
        s.close()


def test_sessions_that_finish_let_maild_stop_at_once(stack):
    stack.start()
    s, f, _ = greet(stack.port)
    s.sendall(b"QUIT\r\n")
    f.readline(512)
    s.close()
    time.sleep(0.3)
    t0 = time.monotonic()
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 2.5


def test_sighup_follows_the_new_config_and_keeps_sessions(stack):
    stack.start()
    held = greet(stack.port)
    assert wait_for(lambda: len(stack.smtpq_starts()) == 1)
    new_port = free_port()
    stack.conf.write_text(stack.conf.read_text().replace(
        f"listen_smtp = 127.0.0.1:{stack.port}",
        f"listen_smtp = 127.0.0.1:{new_port}"))
    stack.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: stack.accepts(new_port))
    assert wait_for(lambda: not stack.accepts(stack.port))
    assert wait_for(lambda: "hup" in stack.starts.read_text())
    # The session from before the reload is still there.
    held[0].sendall(b"QUIT\r\n")
    assert held[1].readline(512) == b"221 bye\r\n"
    held[0].close()
    # A broken config on reload is refused and the running one kept.
    stack.conf.write_text(stack.conf.read_text() + "bogus = 1\n")
    stack.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "status=refused" in stack.stderr())
    assert "unknown key 'bogus'" in stack.stderr()
    assert stack.accepts(new_port)
    assert stack.proc.poll() is None


def test_a_second_maild_on_the_same_state_refuses(stack):
    stack.start()
    stack.port2 = free_port()
    other = stack.conf.read_text().replace(str(stack.port), str(stack.port2))
    conf2 = stack.tmp / "second.conf"
    conf2.write_text(other)
    r = subprocess.run([str(stack.bin / "maild"), "-c", str(conf2), "-f"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 111
    assert "another maild is running" in r.stderr


def test_a_port_in_use_is_a_temporary_failure(stack):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", stack.port))
        busy.listen(1)
        r = subprocess.run([str(stack.bin / "maild"), "-c", str(stack.conf),
                            "-f"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 111
    assert f"listen_smtp: cannot listen on 127.0.0.1 port {stack.port}" in r.stderr


def test_bad_config_and_missing_programs_are_refused(stack):
    stack.configure("listen_pop3 = 127.0.0.1:1\nfrobs = 2\n")
    r = subprocess.run([str(stack.bin / "maild"), "-c", str(stack.conf), "-f"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78
    assert f"{stack.conf}:10: unknown key 'frobs'" in r.stderr
    stack.configure(f"listen_pop3 = 127.0.0.1:{free_port()}\n")
    r = subprocess.run([str(stack.bin / "maild"), "-c", str(stack.conf), "-f"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78
    assert "listen_pop3 is set but pop3d is not installed" in r.stderr
    (stack.bin / "smtpq").unlink()
    stack.configure()
    r = subprocess.run([str(stack.bin / "maild"), "-c", str(stack.conf), "-f"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78
    assert "smtpq is not installed" in r.stderr


def test_without_f_it_detaches_once_serving(stack):
    r = subprocess.run([str(stack.bin / "maild"), "-c", str(stack.conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    pidfile = stack.tmp / "state/maild.pid"
    pid = int(pidfile.read_text())
    try:
        assert alive(pid)
        s, f, line = greet(stack.port)
        assert line.startswith("220 fake")
        s.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not alive(pid), timeout=10)
    assert not pidfile.exists()
