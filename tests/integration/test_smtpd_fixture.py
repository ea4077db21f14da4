"""Fixtures and helpers for the smtpd tests (no tests of its own).

smtpd runs one session per connection on fd 0/1 (inetd style). Until the
supervisor runs it, the `smtpd` fixture here plays that part: it listens on
127.0.0.1 on a free port and, for each connection, runs a copy of smtpd with
the socket as stdin and stdout. The copy lives in a private bin folder
beside a recording fake `inject` (smtpd finds inject beside its own
executable), so every test sees exactly what smtpd handed to the queue:

    srv = smtpd(mode="smtp", inject="ok", conf={...}, timeout_ms=None)
    c = srv.client()            # an SmtpClient, greeting not yet read
    srv.messages()              # [(message bytes, envelope dict)], queued
    srv.log()                   # smtpd's log file text

The fake inject reads fd 0 to EOF, then fd 1 (the envelope) to EOF, and
"queues" (records) the message only if the envelope ends with its
terminator, like the real one; then it reports on fd 3 as told: ok (K
TESTQID), z (Z 4.3.0), z431 (Z 4.3.1), d (D 5.7.1), d534 (D 5.3.4), crash
(killed by a signal, no report), none (exit 0, no report), missing (no
inject at all), or real (the real inject(8) from the build, queueing
into state/queue).

Every wait is bounded; every process is stopped at teardown, and a
sanitizer report in any smtpd log fails the test.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import SANITIZER_REPORT, require_binary

HOST = "mx.test.example"
DOMAIN = "local.example"
DOMAIN2 = "other.local.example"
PASSWORD = "s3cret-Pw"
USERS = ["alice", "bob"]

FAKE_INJECT = r"""#!/bin/sh
# fake inject for the smtpd tests: record, then report as told
rec="@REC@"
kind="@KIND@"
[ "$1" = "-c" ] && [ -n "$2" ] || { echo "usage" >&2; exit 100; }
# No server mode (-S): smtpd must then run one inject per message.
[ -z "$3" ] || { echo "usage" >&2; exit 100; }
d=$(mktemp -d "$rec/tmp.XXXXXX") || exit 111
cat > "$d/message"
cat 0<&1 > "$d/envelope"
case "$kind" in
crash) kill -9 $$ ;;
none) rm -rf "$d"; exit 0 ;;
esac
# The envelope is complete only with its terminator: NUL NUL at the end.
if [ "$(tail -c 2 "$d/envelope" | od -An -tx1 | tr -d ' \n')" != "0000" ]; then
	rm -rf "$d"
	echo "Z 4.3.0 envelope incomplete" >&3
	exit 111
fi
case "$kind" in
ok) mv "$d" "$rec/msg.$(date +%s%N).$$"; echo "K TESTQID" >&3; exit 0 ;;
z) rm -rf "$d"; echo "Z 4.3.0 queue write failed" >&3; exit 111 ;;
z431) rm -rf "$d"; echo "Z 4.3.1 insufficient system storage" >&3; exit 111 ;;
d) rm -rf "$d"; echo "D 5.7.1 refused by policy" >&3; exit 100 ;;
d534) rm -rf "$d"; echo "D 5.3.4 message too big" >&3; exit 100 ;;
esac
exit 111
"""


def hash_password(pw):
    r = subprocess.run(["openssl", "passwd", "-6", "-salt", "testsalt", pw],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def parse_envelope(data):
    """The envelope records as a dict; T/O/D records in a 'rcpts' list."""
    assert data.endswith(b"\x00\x00"), data
    env = {"rcpts": []}
    for rec in data[:-1].split(b"\x00")[:-1]:
        t, text = chr(rec[0]), rec[1:].decode("utf-8")
        if t == "T":
            env["rcpts"].append({"addr": text})
        elif t in "OD":
            env["rcpts"][-1][t] = text
        else:
            assert t not in env, f"record {t} twice"
            env[t] = text
    return env


class SmtpClient:
    """A bounded line client that reads whole SMTP replies."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def _line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise AssertionError("reply line longer than 1 MiB")
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest if rest else None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        assert line.endswith(b"\r"), f"reply line without CR: {line!r}"
        return line[:-1]

    def reply(self):
        """(code, [text lines]) of one reply; (None, []) at EOF."""
        lines = []
        while True:
            line = self._line()
            if line is None:
                return (None, lines)
            text = line.decode("utf-8", "replace")
            assert re.match(r"^\d{3}[ -]", text), f"bad reply {text!r}"
            lines.append(text[4:])
            if text[3] == " ":
                if text[:3] == "221" and \
                        not isinstance(self.sock, ssl.SSLSocket):
                    # QUIT: no more from us, so smtpd need not linger.
                    try:
                        self.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return (int(text[:3]), lines)

    def code(self, line):
        return self.cmd(line)[0]

    def greeting(self):
        code, lines = self.reply()
        assert code == 220, lines
        return lines

    def ehlo(self, name="client.example"):
        code, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return lines[1:]

    def starttls(self, ctx=None):
        code, lines = self.cmd("STARTTLS")
        assert code == 220, lines
        assert self.buf == b"", "plaintext after the TLS go-ahead"
        if ctx is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def at_eof(self, timeout=5.0):
        """True if the server closed with nothing more to say."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def nothing_pending(self, wait=0.3):
        """True if no bytes arrive within wait seconds (connection open)."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except (socket.timeout, TimeoutError):
            return True
        finally:
            self.sock.settimeout(10.0)
        self.buf += data
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SmtpdServer:
    """A listener on 127.0.0.1 that runs one smtpd per connection."""

    def __init__(self, root, smtpd_bin, mode, inject, conf, timeout_ms,
                 tls_cert):
        self.root = root
        self.mode = mode
        self.timeout_ms = timeout_ms
        self.bin = root / "bin"
        self.bin.mkdir()
        self.rec = root / "queue"
        self.rec.mkdir()
        self.smtpd = self.bin / "smtpd"
        shutil.copy2(smtpd_bin, self.smtpd)
        if isinstance(inject, Path):
            shutil.copy2(inject, self.bin / "inject")    # the real one
        elif inject != "missing":
            script = FAKE_INJECT.replace("@REC@", str(self.rec))
            script = script.replace("@KIND@", inject)
            (self.bin / "inject").write_text(script)
            (self.bin / "inject").chmod(0o755)
        self.logfile = root / "smtpd.log"
        self.errlog = root / "stderr.log"
        self.conf = root / "mailstack.conf"
        self.write_config(conf, tls_cert)
        self.procs = []
        self.lock = threading.Lock()
        self.stopping = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def write_config(self, extra, tls_cert):
        h = hash_password(PASSWORD)
        users = "".join(f"{u}@{DOMAIN} {h}\n" for u in USERS)
        (self.root / "users").write_text(users)
        (self.root / "aliases").write_text(
            f"team@{DOMAIN} alice@{DOMAIN}, bob@{DOMAIN}\n"
            f"info@{DOMAIN} alice@{DOMAIN}\n"
            f"list@{DOMAIN} carol@elsewhere.example\n")
        conf = {
            "hostname": HOST,
            "domains": f"{DOMAIN} {DOMAIN2}",
            "state_dir": "state",
            "mail_dir": "mail",
            "users": "users",
            "aliases": "aliases",
            "log": str(self.logfile),
            "message_size_limit": "100000",
        }
        if tls_cert is not None:
            conf["tls_cert"] = str(tls_cert.cert)
            conf["tls_key"] = str(tls_cert.key)
        conf.update(extra)
        text = "".join(f"{k} = {v}\n" for k, v in conf.items()
                       if v is not None)
        self.conf.write_text(text)

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            argv = [str(self.smtpd), "-c", str(self.conf), "-m", self.mode]
            if self.timeout_ms is not None:
                argv += ["-t", str(self.timeout_ms)]
            with open(self.errlog, "ab") as err:
                p = subprocess.Popen(argv, stdin=conn.fileno(),
                                     stdout=conn.fileno(), stderr=err,
                                     close_fds=True)
            conn.close()
            with self.lock:
                self.procs.append(p)

    def client(self, timeout=10.0):
        return SmtpClient(self.port, timeout)

    def greeted(self, ehlo=True):
        c = self.client()
        c.greeting()
        if ehlo:
            c.ehlo()
        return c

    def messages(self):
        out = []
        for d in sorted(self.rec.glob("msg.*")):
            env = parse_envelope((d / "envelope").read_bytes())
            out.append(((d / "message").read_bytes(), env))
        return out

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_sessions(self, timeout=10.0):
        """Wait until every smtpd started so far has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(p.poll() is not None for p in self.procs):
                    return [p.returncode for p in self.procs]
            time.sleep(0.02)
        raise AssertionError("an smtpd session did not end in time")

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.lsock.close()
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def sanitizer_reports(self):
        text = ""
        for f in (self.errlog, self.logfile):
            try:
                text += f.read_text(errors="replace")
            except FileNotFoundError:
                pass
        return text if SANITIZER_REPORT.search(text) else ""


@pytest.fixture
def smtpd(build_dir, tmp_path, tls_cert):
    """smtpd(mode, inject, conf, timeout_ms, tls) -> SmtpdServer."""
    binary = require_binary(build_dir / "bin/smtpd")
    servers = []

    def start(mode="smtp", inject="ok", conf=None, timeout_ms=None,
              tls=True):
        root = tmp_path / f"srv{len(servers)}"
        root.mkdir()
        if inject == "real":
            inject = require_binary(build_dir / "bin/inject")
        srv = SmtpdServer(root, binary, mode, inject, conf or {},
                          timeout_ms, tls_cert if tls else None)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
    reports = [s.sanitizer_reports() for s in servers]
    reports = [r for r in reports if r]
    assert not reports, "\n".join(reports)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def plain_auth(user, pw, authzid=""):
    import base64
    return base64.b64encode(f"{authzid}\0{user}\0{pw}".encode()).decode()


def send_message(c, sender, rcpts, body, expect_data=354):
    """One transaction; returns the final reply (code, lines)."""
    assert c.code(f"MAIL FROM:<{sender}>") == 250
    for r in rcpts:
        assert c.code(f"RCPT TO:<{r}>") == 250
    code, lines = c.cmd("DATA")
    assert code == expect_data, lines
    if code != 354:
        return code, lines
    c.send(body)
    return c.reply()
