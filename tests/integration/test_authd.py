"""authd, the password service: its protocol over STATE_DIR/auth/socket,
its throttling and tickets, the split of the users table into users.cdb
(no hashes) and auth/passwd.cdb (0600), and authd run by maild.

authd is started alone on a temporary config (users made with mailctl
user add), with the test-only knob MAILSTACK_AUTHD_TEST
("TICKET_SECS:FORGET_SECS:DELAY_MS", see authd(8)) so that ticket expiry
and the end of a throttling period take seconds, not minutes. The maild
tests use the real stack (MailStack) and a POP3 login.
"""
import base64
import os
import poplib
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import require_binary
from mailstack import MailStack, wait_for

USER = "fred@truc.test"
PASSWORD = "s3cret pass"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def b64(s):
    return base64.b64encode(s.encode()).decode()


class AuthConn:
    """One connection to authd; request() sends a line, returns the reply
    fields. Every read is bounded."""

    def __init__(self, path, timeout=15):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def reply(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("authd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().split("\t")

    def request(self, line):
        self.send(line)
        return self.reply()

    def login(self, user, password, ip="192.0.2.1", service="imapd"):
        return self.request(f"PASS\t{service}\t{ip}\t{user}\t{b64(password)}")

    def close(self):
        self.sock.close()


class Authd:
    """authd alone on stack's config, with the test knob."""

    def __init__(self, stack, knob):
        self.stack = stack
        self.socket = stack.state / "auth" / "socket"
        env = dict(os.environ, MAILSTACK_AUTHD_TEST=knob)
        self.proc = subprocess.Popen(
            [str(stack.program("authd")), "-c", str(stack.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(stack.tmp / "authd.stderr", "w"), env=env)
        assert wait_for(lambda: "status=started" in stack.log_text()
                        or self.proc.poll() is not None), stack.log_text()
        assert self.proc.poll() is None, stack.log_text()

    def conn(self):
        return AuthConn(self.socket)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


@pytest.fixture
def stack(tmp_path, build_dir):
    s = MailStack(tmp_path, build_dir, listeners=())
    s.add_user(USER, PASSWORD)
    s.add_user("wilma@truc.test", "other one")
    return s


@pytest.fixture
def authd(stack):
    started = []

    def start(knob="30:900:250"):
        a = Authd(stack, knob)
        started.append(a)
        return a
    yield start
    for a in started:
        a.stop()


def test_right_wrong_and_unknown_users(stack, authd):
    a = authd()
    c = a.conn()
    r = c.login("Fred@Truc.TEST", PASSWORD)
    assert r[0] == "OK" and r[1] == USER and HEX32.match(r[2]), r
    # several requests on one connection; a wrong password and an
    # unknown user get the same answer
    assert c.login(USER, "wrong") == ["NO", "auth", "0",
                                      "authentication failed"]
    assert c.login("nobody@truc.test", PASSWORD) == [
        "NO", "auth", "0", "authentication failed"]
    assert c.login("fred+x@truc.test", PASSWORD)[0] == "NO"
    assert c.request("HELLO") == ["NO", "auth", "0", "bad request"]
    assert c.request(f"PASS\timapd\t192.0.2.1\t{USER}\tnot base64!") == [
        "NO", "auth", "0", "bad request"]
    assert c.login(USER, PASSWORD)[0] == "OK"
    c.close()
    log = stack.log_text()
    assert re.search(r"authd\[\d+\]: .*event=login status=failed .*"
                     r"user=nobody@truc.test ip=192.0.2.1 service=imapd", log)
    assert PASSWORD not in log and b64(PASSWORD) not in log
    a.stop()
    assert a.proc.returncode == 0
    assert not a.socket.exists()


def test_tickets_once_per_service_and_expire(stack, authd):
    a = authd("1:900:250")
    c = a.conn()
    ticket = c.login(USER, PASSWORD, service="pop3d")[2]
    assert c.request(f"TICKET\tpop3d\t{ticket}") == ["OK", USER]
    assert c.request(f"TICKET\tpop3d\t{ticket}")[:2] == ["NO", "auth"]
    # bound to its service: shown elsewhere it is refused (and burnt)
    ticket = c.login(USER, PASSWORD, service="pop3d")[2]
    assert c.request(f"TICKET\timapd\t{ticket}")[:2] == ["NO", "auth"]
    assert c.request(f"TICKET\tpop3d\t{ticket}")[:2] == ["NO", "auth"]
    # a made-up ticket
    assert c.request("TICKET\tpop3d\t" + "0" * 32)[:2] == ["NO", "auth"]
    # expiry (1 s with the knob)
    ticket = c.login(USER, PASSWORD, service="pop3d")[2]
    time.sleep(1.3)
    assert c.request(f"TICKET\tpop3d\t{ticket}")[:2] == ["NO", "auth"]
    c.close()


def test_hashes_only_in_passwd_cdb(stack, authd):
    users_cdb = (stack.state / "tables" / "users.cdb").read_bytes()
    passwd = stack.state / "auth" / "passwd.cdb"
    assert b"$y$" not in users_cdb and b"$6$" not in users_cdb
    assert b"fred@truc.test" in users_cdb
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert b"$y$" in passwd.read_bytes()
    assert "$y$" in stack.users.read_text()     # the text keeps its format
    # a hand-written $6$ hash: readers compile users.cdb without it
    crypt6 = subprocess.run(["openssl", "passwd", "-6", "hand made"],
                            capture_output=True, text=True, timeout=30)
    assert crypt6.returncode == 0
    with open(stack.users, "a") as f:
        f.write(f"hand@truc.test {crypt6.stdout.strip()} quota=1M\n")
    future = time.time() + 5
    os.utime(stack.users, (future, future))
    a = authd()
    assert a.conn().login("hand@truc.test", "hand made")[0] == "OK"
    r = stack.mailctl("user", "list")
    assert "hand@truc.test" in r.stdout and "$6$" not in r.stdout
    stack.mailctl("user", "passwd", "wilma@truc.test", stdin="new one\n")
    users_cdb = (stack.state / "tables" / "users.cdb").read_bytes()
    assert b"$y$" not in users_cdb and b"$6$" not in users_cdb
    assert b"quota=1M" in users_cdb
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert a.conn().login("wilma@truc.test", "new one")[0] == "OK"
    # mailctl check names a password table others can read, or none
    assert stack.mailctl("check", check=False).returncode == 0
    passwd.chmod(0o644)
    r = stack.mailctl("check", check=False)
    assert r.returncode == 78 and "passwd.cdb" in r.stderr and \
        "readable by others" in r.stderr, r.stderr
    passwd.unlink()
    r = stack.mailctl("check", check=False)
    assert r.returncode == 78 and "passwd.cdb: missing" in r.stderr, r.stderr


def test_brute_force_is_throttled_per_address(stack, authd):
    a = authd("30:3:10")
    c = a.conn()
    answers = [c.login(USER, f"guess{i}", ip="192.0.2.66")
               for i in range(50)]
    assert all(r[:3] == ["NO", "auth", "0"] for r in answers[:10]), answers
    assert all(r[:2] == ["NO", "throttled"] for r in answers[10:]), answers
    r = c.login(USER, PASSWORD, ip="192.0.2.66")
    assert r[:2] == ["NO", "throttled"], r
    wait = int(r[2])
    assert 1 <= wait <= 3
    # another address is not affected, for the same user either
    other = a.conn()
    assert other.login(USER, PASSWORD, ip="198.51.100.9")[0] == "OK"
    assert other.login("wilma@truc.test", "other one",
                       ip="2001:db8::5")[0] == "OK"
    assert re.search(r"event=throttled by=address .*user=fred@truc.test "
                     r"ip=192.0.2.66", stack.log_text())
    time.sleep(wait + 0.2)
    assert c.login(USER, PASSWORD, ip="192.0.2.66")[0] == "OK"
    # the success forgot the failures: a wrong one is "auth" again
    assert c.login(USER, "wrong", ip="192.0.2.66")[:2] == ["NO", "auth"]


def test_many_addresses_against_one_user_are_throttled(stack, authd):
    a = authd("30:3:10")
    c = a.conn()
    for n in range(3):
        for i in range(10):
            r = c.login(USER, f"guess{i}", ip=f"203.0.113.{n + 1}")
            assert r[:2] == ["NO", "auth"], (n, i, r)
    r = c.login(USER, PASSWORD, ip="203.0.113.99")
    assert r[:2] == ["NO", "throttled"], r
    assert c.login("wilma@truc.test", "other one",
                   ip="203.0.113.99")[0] == "OK"
    assert re.search(r"event=throttled by=user .*ip=203.0.113.99",
                     stack.log_text())


def test_a_delay_does_not_stall_other_clients(stack, authd):
    a = authd("30:900:1500")            # the first failure waits 1.5 s
    slow, fast = a.conn(), a.conn()
    t0 = time.monotonic()
    slow.send(f"PASS\timapd\t192.0.2.10\t{USER}\t{b64('wrong')}")
    time.sleep(0.2)
    assert fast.login(USER, PASSWORD, ip="192.0.2.11")[0] == "OK"
    t_fast = time.monotonic() - t0
    assert slow.reply()[:2] == ["NO", "auth"]
    t_slow = time.monotonic() - t0
    assert t_fast < 1.2 < 1.4 <= t_slow, (t_fast, t_slow)


def test_garbage_and_long_lines(stack, authd):
    a = authd()
    c = a.conn()
    c.sock.sendall(b"A" * 3000)
    assert c.reply() == ["NO", "auth", "0", "bad request"]
    with pytest.raises((EOFError, ConnectionResetError)):
        c.reply()
    c = a.conn()
    c.sock.sendall(b"PASS\timapd\t-\t\x00\t\n")
    assert c.reply()[:2] == ["NO", "auth"]
    assert c.login(USER, PASSWORD)[0] == "OK"
    # a client that says nothing does not block the others
    idle = [a.conn() for _ in range(20)]
    assert a.conn().login(USER, PASSWORD)[0] == "OK"
    for i in idle:
        i.close()
    assert a.proc.poll() is None


def test_stale_socket_and_second_authd(stack, authd):
    sock = stack.state / "auth" / "socket"
    sock.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))                   # bound, nobody listening: stale
    s.close()
    a = authd()
    assert stat.S_IMODE(sock.stat().st_mode) == 0o666
    assert a.conn().login(USER, PASSWORD)[0] == "OK"
    second = subprocess.run([str(stack.program("authd")), "-c",
                             str(stack.conf)], capture_output=True,
                            timeout=30)
    assert second.returncode == 111
    assert a.conn().login(USER, PASSWORD)[0] == "OK"


# --- through maild ----------------------------------------------------------

def pop3_login(port, user, password):
    p = poplib.POP3("127.0.0.1", port, timeout=15)
    try:
        p.user(user)
        p.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def authd_pids(stack):
    return re.findall(r"event=start program=authd pid=(\d+)",
                      stack.log_text() + stack.stderr())


def test_maild_runs_authd_and_restarts_it(tmp_path, build_dir):
    require_binary(build_dir / "bin/pop3d")
    s = MailStack(tmp_path, build_dir, listeners=("pop3",),
                  extra="allow_plaintext_auth = yes\nshutdown_grace = 2s\n")
    s.add_user(USER, PASSWORD)
    s.start()
    try:
        assert wait_for(lambda: authd_pids(s)), s.stderr()
        sock = s.state / "auth" / "socket"
        assert wait_for(sock.exists)
        assert pop3_login(s.port["pop3"], USER, PASSWORD)
        assert not pop3_login(s.port["pop3"], USER, "wrong")
        assert wait_for(lambda: re.search(
            r"authd\[\d+\]: event=login status=ok user=fred@truc.test "
            r"ip=127.0.0.1 service=pop3", s.log_text()), timeout=5), \
            s.log_text()[-3000:]

        # kill -9: maild starts it again, and logins go through it
        first = authd_pids(s)[0]
        os.kill(int(first), signal.SIGKILL)
        assert wait_for(lambda: len(authd_pids(s)) >= 2, timeout=20), \
            s.log_text()[-3000:]
        new = authd_pids(s)[-1]
        assert new != first
        assert wait_for(lambda: f"authd[{new}]: status=started" in
                        s.log_text(), timeout=10)
        assert pop3_login(s.port["pop3"], USER, PASSWORD)
        assert wait_for(lambda: re.search(
            rf"authd\[{new}\]: event=login status=ok user=fred@truc.test",
            s.log_text()), timeout=5), s.log_text()[-3000:]

        # a user added while everything runs can log in at once
        s.add_user("barney@truc.test", "rubble")
        assert pop3_login(s.port["pop3"], "barney@truc.test", "rubble")
        assert wait_for(lambda: re.search(
            rf"authd\[{new}\]: event=login status=ok "
            r"user=barney@truc.test", s.log_text()), timeout=5)
    finally:
        s.stop()
    assert not (s.state / "auth" / "socket").exists()
