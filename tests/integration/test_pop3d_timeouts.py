"""pop3d's timeouts: the RFC 1939 autologout (pop3_idle_timeout), the TLS
handshake limit (pop3_tls_timeout) and the send rate a client must keep up
during RETR (pop3_min_send_rate). Each ends the session without losing
anything: a timeout is not a QUIT, so no DELE is applied and every message
is still in the Maildir afterwards.

pop3d runs on its own here (the way maild runs it: the connection on fd 0
and 1), because the idle timer cannot be set below 10 minutes in the
config; the test-only flag -t MS sets the idle and TLS timeouts to MS
milliseconds instead (maild never passes it). Every wait is bounded.
"""
import socket
import ssl
import subprocess
import time

import pytest

from test_pop3d_stack import DOMAIN, USERS, Pop3Conn, Pop3Stack, wait_for

MSG1 = b"Subject: one\n\nfirst\n"
MSG2 = b"Subject: two\n\nsecond\n"


class Direct:
    """One pop3d per connect(), on a socket accepted here."""

    def __init__(self, stack, build_dir):
        self.stack = stack
        self.pop3d = build_dir / "bin/pop3d"
        self.procs = []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.lsock.settimeout(10)
        self.port = self.lsock.getsockname()[1]

    def connect(self, mode="pop3", test_ms=None, rcvbuf=None, timeout=10):
        """(Pop3Conn, Popen) for a new session."""
        c = Pop3Conn.__new__(Pop3Conn)
        c.buf = b""
        c.sock = socket.socket()
        if rcvbuf is not None:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        c.sock.settimeout(timeout)
        c.sock.connect(("127.0.0.1", self.port))
        conn, _ = self.lsock.accept()
        argv = [str(self.pop3d), "-c", str(self.stack.conf), "-m", mode]
        if test_ms is not None:
            argv += ["-t", str(test_ms)]
        with open(self.stack.tmp / "pop3d.stderr", "ab") as err:
            p = subprocess.Popen(argv, stdin=conn.fileno(),
                                 stdout=conn.fileno(), stderr=err,
                                 close_fds=True)
        conn.close()
        self.procs.append(p)
        return c, p

    def stop(self):
        self.lsock.close()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(5)


@pytest.fixture
def direct(tmp_path, build_dir, tls_cert):
    made = []

    def make(extra=""):
        s = Pop3Stack(tmp_path / f"s{len(made)}", build_dir, tls_cert,
                      extra=extra)
        d = Direct(s, build_dir)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()
        log = d.stack.log()
        assert "Sanitizer" not in log, log


def wait_exit(p, timeout):
    """pop3d's exit status; fails if it is still running after timeout."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pop3d still running after {timeout} s")


def test_idle_client_logged_out_nothing_deleted(direct):
    d = direct()
    names = [d.stack.deliver("alice", MSG1), d.stack.deliver("alice", MSG2)]
    before = d.stack.files("alice")
    c, p = d.connect(test_ms=1000)
    c.login("alice")
    assert c.cmd("DELE 1") == "+OK Message 1 deleted"
    start = time.monotonic()
    # Silent now: the autologout timer ends the session with a clear line.
    assert c.readstr() == "-ERR Disconnected for inactivity"
    assert c.closed()
    took = time.monotonic() - start
    assert 0.8 <= took < 8, took
    assert wait_exit(p, 10) == 111
    assert d.stack.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                            r"reason=timeout .*user=alice@truc\.test|"
                            r"event=disconnect client=127\.0\.0\.1 "
                            r"user=alice@truc\.test reason=timeout")
    # A timeout is not a QUIT: the DELE was not applied.
    assert d.stack.files("alice") == before
    for n in names:
        assert any(f.startswith(n) for f in before["new"] + before["cur"])


def test_idle_before_login(direct):
    d = direct()
    c, p = d.connect(test_ms=500)
    c.readline_greeting()
    assert c.readstr() == "-ERR Disconnected for inactivity"
    assert c.closed()
    assert wait_exit(p, 10) == 111


def test_idle_timeout_has_rfc1939_floor(direct):
    d = direct(extra="pop3_idle_timeout = 5m\n")
    c, p = d.connect()
    # The config is refused: a temporary error, never a 5 minute timer.
    assert c.readstr() == "-ERR [SYS/TEMP] Server configuration error"
    assert wait_exit(p, 10) == 111
    # Logged before the log is open: on standard error.
    err = (d.stack.tmp / "pop3d.stderr").read_text(errors="replace")
    assert "pop3_idle_timeout must be at least 10m (RFC 1939 3), " \
        "not 300s" in err + d.stack.log(), err


def test_stalled_implicit_tls_handshake_dropped(direct):
    """pop3_tls_timeout from the config (no -t): a client that opens the
    pop3s port and never finishes the handshake is dropped."""
    d = direct(extra="pop3_tls_timeout = 1s\n")
    d.stack.deliver("alice", MSG1)
    before = d.stack.files("alice")
    for partial in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        c, p = d.connect(mode="pop3s")
        c.sock.sendall(partial)
        start = time.monotonic()
        assert c.closed(timeout=10)
        assert time.monotonic() - start < 8
        assert wait_exit(p, 10) == 111
    assert d.stack.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                            r"reason=tls-handshake")
    assert d.stack.files("alice") == before


def test_stalled_stls_handshake_dropped(direct):
    d = direct()
    c, p = d.connect(test_ms=1000)
    c.readline_greeting()
    assert c.cmd("STLS") == "+OK Begin TLS negotiation"
    start = time.monotonic()
    assert c.closed(timeout=10)             # we never send a ClientHello
    assert time.monotonic() - start < 8
    assert wait_exit(p, 10) == 111
    assert d.stack.wait_log(r"reason=tls-handshake")
    # With a client that does speak TLS, the same server goes on.
    c, p = d.connect(test_ms=2000)
    c.readline_greeting()
    assert c.cmd("STLS") == "+OK Begin TLS negotiation"
    ctx = ssl.create_default_context(cafile=str(d.stack.tls.cert))
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    assert c.cmd(f"USER alice@{DOMAIN}").startswith("+OK")
    assert c.cmd(f"PASS {USERS['alice']}").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    assert wait_exit(p, 10) == 0


BIG = (b"Subject: big\n\n" + b"x" * 76 + b"\n") * (12 * 1024 * 1024 // 78)


def test_client_not_reading_retr_dropped(direct):
    """A client that asks for a large message and never reads it: pop3d
    gives up (it does not hang), and nothing is lost."""
    d = direct(extra="pop3_min_send_rate = 4194304\n")
    big = d.stack.deliver("alice", BIG)
    d.stack.deliver("alice", MSG2)
    before = d.stack.files("alice")
    c, p = d.connect(test_ms=1000, rcvbuf=4096, timeout=30)
    c.login("alice")
    assert c.cmd("DELE 2").startswith("+OK")
    c.send("RETR 1\r\n")
    start = time.monotonic()
    # Read nothing. pop3d must end by itself: the idle timeout on each
    # write and the rate deadline (1 s + 12 MiB at 4 MiB/s) both bound it.
    status = wait_exit(p, 30)
    took = time.monotonic() - start
    assert status == 111 and took < 20, (status, took)
    assert d.stack.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                            r".*reason=write .*error=\"Connection timed out\""
                            r"|event=disconnect client=127\.0\.0\.1 "
                            r"user=alice@truc\.test reason=write")
    # The client got a part of the message, never the end of it.
    c.sock.settimeout(5)
    got = b""
    try:
        while len(got) < 2 * len(BIG):
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    assert got.startswith(b"+OK ")
    assert not got.endswith(b"\r\n.\r\n")
    assert d.stack.files("alice") == before
    assert any(f.startswith(big) for f in before["new"] + before["cur"])


def test_client_reading_retr_in_time_gets_it(direct):
    """The same limits let a client that reads at once take it all."""
    d = direct(extra="pop3_min_send_rate = 4194304\n")
    d.stack.deliver("alice", BIG)
    c, p = d.connect(test_ms=1000, timeout=30)
    c.login("alice")
    c.send("RETR 1\r\n")
    parts, total, tail = [c.buf], len(c.buf), c.buf[-5:]
    c.buf = b""
    while not tail.endswith(b"\r\n.\r\n"):
        assert total < 4 * len(BIG), "no terminator"
        chunk = c.sock.recv(1 << 20)
        assert chunk, "EOF before the terminator"
        parts.append(chunk)
        total += len(chunk)
        tail = (tail + chunk)[-5:]
    data = b"".join(parts)
    assert data.startswith(b"+OK ")
    assert data.count(b"\r\n") >= BIG.count(b"\n") + 2
    assert c.cmd("QUIT").startswith("+OK")
    assert wait_exit(p, 10) == 0


def test_client_reading_too_slowly_dropped(direct):
    """pop3_min_send_rate itself: a client that keeps reading, but at
    1 MiB/s where 8 MiB/s is asked, is dropped once the message's
    deadline (idle time + size / rate = 5 s + 1.5 s) has passed, long
    before it could have taken the whole message."""
    d = direct(extra="pop3_min_send_rate = 8388608\n")
    d.stack.deliver("alice", BIG)
    before = d.stack.files("alice")
    c, p = d.connect(test_ms=5000, timeout=30)
    c.login("alice")
    c.send("RETR 1\r\n")
    start = time.monotonic()
    got, last, ended = len(c.buf), start, None
    c.sock.settimeout(1)
    while time.monotonic() - start < 25:
        try:
            chunk = c.sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            ended = time.monotonic() - start
            break
        got += len(chunk)
        last = time.monotonic()
        time.sleep(0.0625)              # 64 KiB every 1/16 s: 1 MiB/s
    assert ended is not None, "pop3d did not drop the slow reader"
    assert 5.5 < ended < 15, ended
    # It was reading all along (no pause of a whole idle timeout).
    assert start + ended - last < 2.5
    assert got < len(BIG)
    assert wait_exit(p, 10) == 111
    assert d.stack.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                            r".*reason=write")
    assert d.stack.files("alice") == before
