"""Fixtures and helpers shared by the integration tests.

build_dir   the build directory (env BUILD, default "build"), absolute
tls_cert    a self-signed certificate and key for "localhost" (session)
spawn       start a program, wait for its port file, always stop it
connect     open a line-protocol connection to 127.0.0.1:port

Helpers (import them with "from conftest import ..."): require_binary,
Proc, LineConn. Every wait here is bounded.
"""
import os
import re
import signal
import socket
import subprocess
import time
from collections import namedtuple
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]

TlsCert = namedtuple("TlsCert", "cert key")

SANITIZER_REPORT = re.compile(r"ERROR: \w+Sanitizer|runtime error:")


def processes(match):
    """pids of running processes whose argument list (bytes) match()."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if match(argv):
            out.append(int(d))
    return out


def without_children(pids):
    """pids, less those whose parent is among them (a server's forks)."""
    def ppid(p):
        try:
            st = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return int(st[st.rindex(")") + 2:].split()[1])
    return [p for p in pids if ppid(p) not in pids]


def require_binary(path):
    """Fail (not skip: a missing build is a broken build) unless path runs."""
    path = Path(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built; run make BUILD="
                    f"{os.environ.get('BUILD', 'build')} test-programs")
    return path


@pytest.fixture(scope="session")
def build_dir():
    b = Path(os.environ.get("BUILD", "build"))
    return b if b.is_absolute() else TOP / b


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-days", "2", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return TlsCert(cert, key)


class Proc:
    """A started program: popen, port (when it wrote a port file), log."""

    def __init__(self, argv, portfile, log, env, cwd):
        self.argv = [str(a) for a in argv]
        self.portfile = Path(portfile) if portfile is not None else None
        self.log = Path(log)
        self.port = None
        with open(self.log, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True)

    def wait_port(self, timeout):
        """Wait for a complete port file ("PORT\\n"); fail if it dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.argv[0]} exited {self.popen.returncode}"
                            f" before writing its port file: {self.output()}")
            try:
                text = self.portfile.read_text()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n") and text.strip().isdigit():
                self.port = int(text)
                return self.port
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"{self.argv[0]}: no port file after {timeout}s: "
                    f"{self.output()}")

    def output(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL to the session we started; returns status."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout)
        return self.popen.returncode


@pytest.fixture
def spawn(tmp_path):
    """spawn(argv, portfile=None, wait=10, env=None, cwd=None) -> Proc.

    With a portfile, waits (at most wait seconds) until the program has
    written its port into it. Every process is stopped at teardown.
    """
    procs = []

    def start(argv, portfile=None, wait=10, env=None, cwd=None):
        log = tmp_path / f"{Path(str(argv[0])).name}-{len(procs)}.log"
        p = Proc(argv, portfile, log, env, cwd)
        procs.append(p)
        if portfile is not None:
            p.wait_port(wait)
        return p

    yield start
    for p in procs:
        p.stop()
    # A sanitizer report in any log (a forked child's included) is a failure.
    reports = [f"{p.log}:\n{p.output()}" for p in procs
               if SANITIZER_REPORT.search(p.output())]
    assert not reports, "\n".join(reports)


class LineConn:
    """A client for line protocols, plain or TLS, with bounded reads."""

    MAX_LINE = 1 << 20

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        """One line without its CR LF; b"" at EOF with nothing buffered."""
        while b"\n" not in self.buf:
            if len(self.buf) > self.MAX_LINE:
                raise AssertionError("line longer than 1 MiB")
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def readstr(self):
        return self.readline().decode("latin-1")

    def at_eof(self):
        """True if the peer closed (EOF or reset) with nothing buffered."""
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def starttls(self, context, server_hostname="localhost"):
        assert self.buf == b"", f"plaintext after the TLS go-ahead: {self.buf!r}"
        self.sock = context.wrap_socket(self.sock,
                                        server_hostname=server_hostname)

    def close(self):
        self.sock.close()


@pytest.fixture
def connect():
    """connect(port, timeout=5) -> LineConn; closed at teardown."""
    conns = []

    def open_conn(port, host="127.0.0.1", timeout=5.0):
        c = LineConn(port, host, timeout)
        conns.append(c)
        return c

    yield open_conn
    for c in conns:
        try:
            c.close()
        except OSError:
            pass
