"""Helpers for the pop3d tests (no tests here): a mail stack with only the
POP3 listeners, run by the real maild from the build, users made with
SHA-512-crypt hashes, and Maildirs written the way deliver writes them.

Pop3Stack   config, users table, Maildirs, maild start/stop, log reading
Pop3Conn    a POP3 client over LineConn with helpers for transcripts
free_port, wait_for, crlf_text (what a POP3 client must receive for a
stored message, before dot-stuffing)
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import LineConn, SANITIZER_REPORT, require_binary

DOMAIN = "truc.test"
USERS = {"alice": "alice-secret", "bob": "bob pass phrase", "carol": "c4rol"}


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


def crlf_text(data):
    """The CRLF text of a stored message: every LF, CR LF or bare CR is
    one CR LF (RFC 1939 section 3); a last line gets its end."""
    out = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def sha512_crypt(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input=password, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Pop3Stack:
    """maild with listen_pop3 and listen_pop3s in tmp; see module doc."""

    def __init__(self, tmp, build_dir, tls_cert, plaintext=True, extra=""):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.maild = require_binary(build_dir / "bin/maild")
        require_binary(build_dir / "bin/pop3d")
        self.tls = tls_cert
        self.state = self.tmp / "state"
        self.mail = self.tmp / "mail"
        self.logfile = self.tmp / "mail.log"
        self.conf = self.tmp / "mailstack.conf"
        self.port = free_port()
        self.port_s = free_port()
        self.counter = 0
        self.proc = None
        self.stderr_path = self.tmp / "maild.stderr"
        self.mail.mkdir(exist_ok=True)
        users = "".join(f"{u}@{DOMAIN} {sha512_crypt(p)}\n"
                        for u, p in USERS.items())
        (self.tmp / "users").write_text(users)
        for u in ("alice", "bob"):
            self.maildir(u, create=True)
        self.conf.write_text(
            f"hostname = mx.{DOMAIN}\ndomains = {DOMAIN}\n"
            f"state_dir = {self.state}\nmail_dir = {self.mail}\n"
            f"users = {self.tmp}/users\nlog = {self.logfile}\n"
            f"privilege_separation = no\n"
            f"listen_pop3 = 127.0.0.1:{self.port}\n"
            f"listen_pop3s = 127.0.0.1:{self.port_s}\n"
            f"tls_cert = {tls_cert.cert}\ntls_key = {tls_cert.key}\n"
            f"allow_plaintext_auth = {'yes' if plaintext else 'no'}\n"
            f"shutdown_grace = 2s\n{extra}")

    # --- mailboxes -----------------------------------------------------
    def maildir(self, user, create=False):
        d = self.mail / DOMAIN / user
        if create:
            for sub in ("cur", "new", "tmp"):
                (d / sub).mkdir(parents=True, exist_ok=True)
        return d

    def deliver(self, user, data, sizes=True, folder="new", info=""):
        """Write a message as deliver does (tmp/, then rename); the base
        name, which is the message's UIDL."""
        if isinstance(data, str):
            data = data.encode()
        self.counter += 1
        now = time.time()
        usec = int(now * 1e6) % 1000000
        base = (f"{int(now)}.M{usec:06d}P{os.getpid()}Q{self.counter}"
                ".test\\057host")
        name = base
        if sizes:
            # As common/maildir.c counts: each lone LF or lone CR is sent
            # as CR LF.
            vsize = (len(data) + len(re.findall(rb"(?<!\r)\n", data)) +
                     len(re.findall(rb"\r(?!\n)", data)))
            name += f",S={len(data)},W={vsize}"
        if folder == "cur":
            name += ":2," + info
        d = self.maildir(user, create=True)
        tmp = d / "tmp" / base
        tmp.write_bytes(data)
        os.rename(tmp, d / folder / name)
        return base

    def files(self, user):
        """{folder: sorted names} of a Maildir."""
        d = self.maildir(user)
        return {f: sorted(os.listdir(d / f)) for f in ("new", "cur")}

    # --- the server ----------------------------------------------------
    def start(self):
        self.proc = subprocess.Popen(
            [str(self.maild), "-c", str(self.conf), "-f"],
            stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "w"),
            start_new_session=True)
        assert wait_for(lambda: "event=started" in self.stderr()), \
            self.stderr()
        return self

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        text = self.log() + self.stderr()
        assert not SANITIZER_REPORT.search(text), text
        # A session killed by a signal (a crash, a sanitizer's abort).
        assert "event=session-died" not in text, text
        assert "Sanitizer has encountered a fatal error" not in text, text

    # --- clients ---------------------------------------------------------
    def client_context(self):
        ctx = ssl.create_default_context(cafile=str(self.tls.cert))
        return ctx

    def connect(self, tls=False, source=None, timeout=10.0):
        c = Pop3Conn(self.port_s if tls else self.port, timeout=timeout,
                     source=source)
        if tls:
            c.sock = self.client_context().wrap_socket(
                c.sock, server_hostname="localhost")
        return c


class Pop3Conn(LineConn):
    """LineConn plus POP3 helpers; every read is bounded by the timeout."""

    def __init__(self, port, timeout=10.0, source=None):
        self.buf = b""
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)

    def cmd(self, line):
        """Send one command, return the first response line (str)."""
        self.send(line + "\r\n")
        return self.readstr()

    def readline(self):
        """One line without its CR LF; EOFError at the end of input."""
        while b"\n" not in self.buf:
            assert len(self.buf) <= self.MAX_LINE, "line longer than 1 MiB"
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def multiline(self):
        """The lines of a multi-line response up to ".", unstuffed."""
        lines = []
        for _ in range(100000):
            line = self.readline()
            if line == b".":
                return lines
            lines.append(line[1:] if line.startswith(b".") else line)
        raise AssertionError("listing too long")

    def raw_until_terminator(self, limit=1 << 24):
        """Bytes of a multi-line body as sent, through "\\r\\n.\\r\\n"."""
        data = self.buf
        self.buf = b""
        while True:
            i = data.find(b"\r\n.\r\n")
            if data.startswith(b".\r\n"):
                self.buf = data[3:]
                return b".\r\n"
            if i >= 0:
                self.buf = data[i + 5:]
                return data[:i + 5]
            assert len(data) < limit, "no terminator"
            chunk = self.sock.recv(65536)
            assert chunk, "EOF before the terminator"
            data += chunk

    def login(self, user="alice", password=None):
        password = USERS[user] if password is None else password
        self.readline_greeting()
        assert self.cmd(f"USER {user}@{DOMAIN}").startswith("+OK")
        r = self.cmd(f"PASS {password}")
        assert r.startswith("+OK"), r
        return r

    def readline_greeting(self):
        g = self.readstr()
        assert g.startswith("+OK"), g
        return g

    def closed(self, timeout=10.0):
        """True once the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            for _ in range(1000):
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
        return False


@pytest.fixture
def pop3_stack(tmp_path, build_dir, tls_cert):
    """pop3_stack(plaintext=True, extra="") -> a started Pop3Stack."""
    stacks = []

    def make(plaintext=True, extra="", start=True):
        s = Pop3Stack(tmp_path / f"s{len(stacks)}", build_dir, tls_cert,
                      plaintext, extra)
        stacks.append(s)
        return s.start() if start else s

    yield make
    for s in stacks:
        s.stop()
