"""Fixtures and helpers for the remote(8) tests (no tests of its own).

remote is the SMTP client: smtpq runs it with the message on fd 0, the
job's envelope on fd 3, and reads one result line per recipient on fd 1.
These helpers play every other part:

    Dnsmasq(tmp, records)      dnsmasq in the foreground on 127.0.0.1 and a
                               free port, serving only the records given
    FakeDNS(handler)           a scripted UDP DNS server (SERVFAIL, silence,
                               malformed records, CNAME loops)
    FakeSMTP(ip, port, ...)    a scripted SMTP server on one loopback
                               address: replies per stage, STARTTLS, AUTH,
                               hanging, dropping, raw (malformed) replies;
                               it records every session and message
    run_remote(...)            remote on a message and an envelope; returns
                               the result lines and the log

Loopback only: every address is in 127.0.0.0/8. Scripted servers use one
random 127.X.Y.0/24 per test run (NET), so two runs at once do not meet;
port 25 needs root, and the tests that bind it skip when not root. Every
wait is bounded and every process and thread is stopped at teardown.
"""
import os
import random
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import SANITIZER_REPORT, require_binary

DNSMASQ = "/usr/sbin/dnsmasq"
IS_ROOT = os.geteuid() == 0
NEED_ROOT = pytest.mark.skipif(
    not IS_ROOT, reason="binds port 25 on 127.x.y.z loopback addresses, "
    "which needs root (CI and the dev machine run as root)")
NEED_DNSMASQ = pytest.mark.skipif(
    not os.access(DNSMASQ, os.X_OK),
    reason="dnsmasq is not installed (Debian: dnsmasq-base)")

NET = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."

# Short timeouts: a dead server costs seconds, not RFC minutes. Generous
# enough for a loaded machine and a sanitizer build.
TIMEOUTS = """\
remote_connect_timeout = 5s
remote_greeting_timeout = 5s
remote_mail_timeout = 5s
remote_rcpt_timeout = 5s
remote_data_timeout = 5s
remote_block_timeout = 5s
remote_dot_timeout = 5s
dns_timeout = 1s
"""

HANG = "<hang>"      # never answer (until the client goes away)
DROP = "<drop>"      # close the connection instead of answering


def ip(n):
    """The n-th address of this run's test network."""
    return f"{NET}{n}"


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=15.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


# --- DNS ----------------------------------------------------------------------

class Dnsmasq:
    """dnsmasq -k on 127.0.0.1:port with --no-resolv --no-hosts: only the
    records given (a list of dnsmasq options like "--mx-host=a,b,10")
    exist; every other name under .test is NXDOMAIN (--local=/test/)."""

    def __init__(self, tmp, records):
        self.port = free_port(kind=socket.SOCK_DGRAM)
        self.log = Path(tmp) / "dnsmasq.log"
        argv = [DNSMASQ, "-k", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--local=/test/", "--cache-size=0",
                f"--log-facility={self.log}", "--user=root"]
        self.proc = subprocess.Popen(argv + list(records),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        # Ready once it answers a query.
        ok = wait_for(lambda: self.proc.poll() is not None or
                      self._answers(), timeout=10)
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq did not start: " +
                                 self.proc.stderr.read().decode())
        assert ok, "dnsmasq does not answer"

    def _answers(self):
        q = dns_query(0x1234, "probe.test", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return len(s.recv(4096)) >= 12
            except OSError:
                return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr.close()


def dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(qid, name, qtype):
    return (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) +
            dns_name(name) + struct.pack(">HH", qtype, 1))


def rr(name, rtype, rdata, ttl=60, raw_name=None):
    owner = raw_name if raw_name is not None else dns_name(name)
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def mx_rdata(pref, host):
    return struct.pack(">H", pref) + dns_name(host)


def a_rdata(addr):
    return socket.inet_aton(addr)


class FakeDNS:
    """UDP DNS on 127.0.0.1:port. handler(qname, qtype) returns
    "servfail", "nxdomain", "silent" (no answer), or a list of answer
    records (bytes, see rr()) for a NOERROR reply."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 17:
                continue
            qid = q[:2]
            pos, labels = 12, []
            while pos < len(q) and q[pos] != 0:
                n = q[pos]
                labels.append(q[pos + 1:pos + 1 + n].decode("latin-1"))
                pos += 1 + n
            question = q[12:pos + 5]
            qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
            qname = ".".join(labels).lower()
            self.queries.append((qname, qtype))
            what = self.handler(qname, qtype)
            if what == "silent":
                continue
            rcode, answers = 0, []
            if what == "servfail":
                rcode = 2
            elif what == "nxdomain":
                rcode = 3
            else:
                answers = what
            head = qid + struct.pack(">HHHHH", 0x8180 | rcode, 1,
                                     len(answers), 0, 0)
            try:
                self.sock.sendto(head + question + b"".join(answers), peer)
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


# --- a scripted SMTP server -----------------------------------------------------

DEFAULT_CAPS = ("PIPELINING", "SIZE 10485760", "8BITMIME",
                "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN")


class Session:
    """What one connection to a FakeSMTP saw."""

    def __init__(self):
        self.lines = []          # every command line, CR LF stripped
        self.tls = False         # TLS was up at the end
        self.tls_lines = []      # command lines received inside TLS
        self.messages = []       # message bodies (dot-unstuffed, CR LF)
        self.bad_data = []       # DATA lines not ended by CR LF, or bare CR
        self.auth = []           # (mechanism, user, password) decoded
        self.batched = None      # RCPT already buffered when MAIL was read
        self.closed_by_peer = False


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.tls = False

    def readline(self, limit=1 << 20):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                return None
            try:
                d = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            return False

    def wrap(self, ctx):
        if ctx is None:
            raise OSError("this server has no TLS")
        self.buf = b""           # plaintext sent early is thrown away (T1)
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True


class FakeSMTP:
    """A scripted SMTP server on ip:port.

    replies: stage -> reply, where stage is one of greeting, EHLO, HELO,
    STARTTLS, AUTH, MAIL, RCPT, DATA, DOT, and a reply is a string (CR LF
    added when missing; several lines allowed), bytes sent as they are,
    HANG, DROP, or a callable(argument) returning one of those (RCPT gets
    the address). caps: EHLO keywords before TLS; caps_tls after (default:
    caps without STARTTLS). tls: a (cert, key) pair, needed for STARTTLS
    and implicit_tls. data_drop: close the connection after this many
    octets of message data (in the first data_drop_times sessions that
    send data, or all of them when None). trickle: send the greeting one octet per
    trickle seconds.
    """

    def __init__(self, ip_addr, port=25, *, replies=None, caps=DEFAULT_CAPS,
                 caps_tls=None, tls=None, implicit_tls=False, data_drop=None,
                 data_drop_times=None, name="fake.test", mail_delay=0.0,
                 trickle=None):
        self.ip = ip_addr
        self.replies = dict(replies or {})
        self.caps = list(caps)
        self.caps_tls = list(caps_tls) if caps_tls is not None else [
            c for c in self.caps if c != "STARTTLS"]
        self.ctx = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        self.implicit_tls = implicit_tls
        self.data_drop = data_drop
        self.data_drop_times = data_drop_times
        self.dropped = 0
        self.name = name
        self.mail_delay = mail_delay
        self.trickle = trickle
        self.sessions = []
        self.stopping = False
        self.threads = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip_addr, port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    # --- plumbing
    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(30)
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, c):
        s = Session()
        self.sessions.append(s)
        try:
            self._handle(_Conn(c), s)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.sock.close()
        for t in self.threads:
            t.join(10)

    def reply(self, stage, arg=None, default=None):
        r = self.replies.get(stage, default)
        if callable(r):
            r = r(arg)
        return r

    def _say(self, conn, s, r):
        """Send reply r; False when the session is over."""
        if r is None:
            return True
        if r == HANG:
            # Wait (bounded) until the client gives up and closes.
            conn.sock.settimeout(60)
            try:
                while conn.sock.recv(4096):
                    pass
            except (OSError, ssl.SSLError):
                pass
            s.closed_by_peer = True
            return False
        if r == DROP:
            return False
        if isinstance(r, str):
            if not r.endswith("\r\n"):
                r += "\r\n"
            r = r.encode()
        return conn.send(r)

    def _ehlo_reply(self, conn):
        caps = self.caps_tls if conn.tls else self.caps
        if self.ctx is not None and not conn.tls and \
                "STARTTLS" not in caps and self.replies.get("offer_tls"):
            caps = caps + ["STARTTLS"]
        lines = [self.name] + list(caps)
        return "".join(f"250{'-' if i < len(lines) - 1 else ' '}{l}\r\n"
                       for i, l in enumerate(lines))

    # --- the dialogue
    def _handle(self, conn, s):
        if self.implicit_tls:
            conn.wrap(self.ctx)
            s.tls = True
        greeting = self.reply("greeting", default=f"220 {self.name} ESMTP")
        if self.trickle is not None and isinstance(greeting, str):
            for ch in (greeting + "\r\n").encode():
                if not conn.send(bytes([ch])):
                    return
                time.sleep(self.trickle)
        elif not self._say(conn, s, greeting):
            return
        while True:
            raw = conn.readline()
            if raw is None:
                s.closed_by_peer = True
                return
            line = raw[:-1] if raw.endswith(b"\r") else raw
            text = line.decode("utf-8", "replace")
            s.lines.append(text)
            if conn.tls:
                s.tls_lines.append(text)
            verb = text.split(" ", 1)[0].upper()
            arg = text[len(verb) + 1:] if " " in text else ""
            if verb == "EHLO":
                r = self.reply("EHLO", arg, default=self._ehlo_reply(conn))
            elif verb == "HELO":
                r = self.reply("HELO", arg, default=f"250 {self.name}")
            elif verb == "STARTTLS":
                r = self.reply("STARTTLS", default="220 2.0.0 Ready")
                if not self._say(conn, s, r):
                    return
                if isinstance(r, (str, bytes)) and \
                        (r[:3] == "220" or r[:3] == b"220"):
                    conn.wrap(self.ctx)
                    s.tls = True
                continue
            elif verb == "AUTH":
                r = self._auth(conn, s, arg)
                if r is False:
                    return
            elif verb == "MAIL":
                s.batched = b"RCPT" in conn.buf
                if self.mail_delay:
                    time.sleep(self.mail_delay)
                r = self.reply("MAIL", arg, default="250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = arg.split(":", 1)[1].split(">", 1)[0].lstrip("<") \
                    if ":" in arg else arg
                r = self.reply("RCPT", addr, default="250 2.1.5 Ok")
            elif verb == "DATA":
                r = self.reply("DATA", default="354 End data with .")
                if not self._say(conn, s, r):
                    return
                code = r[:3] if isinstance(r, str) else ""
                if code == "354":
                    if not self._data(conn, s):
                        return
                    r = self.reply("DOT", default="250 2.0.0 Ok: queued")
                else:
                    continue
            elif verb == "QUIT":
                conn.send("221 2.0.0 Bye\r\n")
                return
            elif verb in ("RSET", "NOOP"):
                r = "250 2.0.0 Ok"
            else:
                r = "502 5.5.2 Error: command not recognized"
            if not self._say(conn, s, r):
                return

    def _auth(self, conn, s, arg):
        import base64
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if mech == "PLAIN":
            resp = parts[1] if len(parts) > 1 else None
            if resp is None:
                conn.send("334 \r\n")
                resp = (conn.readline() or b"").strip().decode()
            try:
                _, user, pw = base64.b64decode(resp).split(b"\0")
            except Exception:
                return "501 5.5.2 bad"
            s.auth.append(("PLAIN", user.decode(), pw.decode(), conn.tls))
        elif mech == "LOGIN":
            conn.send("334 VXNlcm5hbWU6\r\n")
            u = (conn.readline() or b"").strip()
            conn.send("334 UGFzc3dvcmQ6\r\n")
            p = (conn.readline() or b"").strip()
            try:
                s.auth.append(("LOGIN", base64.b64decode(u).decode(),
                               base64.b64decode(p).decode(), conn.tls))
            except Exception:
                return "501 5.5.2 bad"
        else:
            return "504 5.5.4 mechanism not supported"
        return self.reply("AUTH", s.auth[-1], default="235 2.7.0 OK")

    def _data(self, conn, s):
        """Read message data to the final dot; False if it was cut."""
        lines, total = [], 0
        drop = self.data_drop is not None and (
            self.data_drop_times is None or
            self.dropped < self.data_drop_times)
        while True:
            raw = conn.readline(limit=1 << 22)
            if raw is None:
                s.closed_by_peer = True
                return False
            total += len(raw) + 1
            if drop and total >= self.data_drop:
                self.dropped += 1
                return False
            if not raw.endswith(b"\r") or b"\r" in raw[:-1]:
                s.bad_data.append(raw)
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line)
        s.messages.append(b"".join(l + b"\r\n" for l in lines))
        return True

    def messages(self):
        return [m for s in self.sessions for m in s.messages]


# --- running remote ---------------------------------------------------------------

def envelope(sender, rcpts, *, utf8=False, body=None, ret=None, envid=None):
    """The envelope.h wire format; rcpts are addresses or (addr, orcpt,
    notify) tuples."""
    out = b"V1\0F" + sender.encode() + b"\0"
    if envid:
        out += b"E" + envid.encode() + b"\0"
    if ret:
        out += b"R" + ret.encode() + b"\0"
    if body:
        out += b"B" + body.encode() + b"\0"
    if utf8:
        out += b"U\0"
    for r in rcpts:
        if isinstance(r, str):
            r = (r, None, None)
        out += b"T" + r[0].encode() + b"\0"
        if r[1]:
            out += b"O" + r[1].encode() + b"\0"
        if r[2]:
            out += b"D" + r[2].encode() + b"\0"
    return out + b"\0"


class RemoteConf:
    """A config for running remote by hand: its own state and log."""

    def __init__(self, tmp, dns_port, extra="", hostname="mx.sender.test",
                 timeouts=TIMEOUTS):
        self.tmp = Path(tmp)
        self.state = self.tmp / "state"
        self.mail = self.tmp / "mail"
        self.log = self.tmp / "remote.log"
        self.path = self.tmp / "mailstack.conf"
        self.state.mkdir(exist_ok=True)
        self.mail.mkdir(exist_ok=True)
        self.path.write_text(
            f"hostname = {hostname}\nstate_dir = {self.state}\n"
            f"mail_dir = {self.mail}\nlog = {self.log}\n"
            f"dns_servers = 127.0.0.1:{dns_port}\n" + timeouts + extra)

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Result:
    def __init__(self, proc, stdout, conf):
        self.status = proc.returncode
        self.lines = stdout.decode("utf-8", "replace").splitlines()
        self.conf = conf
        self.stderr = proc.stderr_text

    @property
    def kinds(self):
        return [l[:1] for l in self.lines]

    def codes(self):
        return [l[2:].split(" ", 1)[0] for l in self.lines]

    def __repr__(self):
        return (f"<remote exit {self.status}: {self.lines!r}\n--- log:\n"
                f"{self.conf.log_text()[-3000:]}\n--- stderr:\n"
                f"{self.stderr[-2000:]}>")


def run_remote(build_dir, conf, rcpts, message=b"Subject: t\n\nhello\n",
               sender="sender@sender.test", qid="REMOTETEST", timeout=90,
               **env_kw):
    """Run remote on one job; the Result (lines, status, log)."""
    remote = require_binary(Path(build_dir) / "bin" / "remote")
    tmp = conf.tmp
    msg = tmp / f"message.{time.monotonic_ns()}"
    env = tmp / f"envelope.{time.monotonic_ns()}"
    msg.write_bytes(message)
    env.write_bytes(envelope(sender, rcpts, **env_kw))
    # fd 3 is the envelope: a shell puts it there, then execs remote.
    argv = ["/bin/sh", "-c", 'exec "$0" "$@" 3<"$ENVFILE"', str(remote),
            "-c", str(conf.path), "-q", qid]
    environ = {"PATH": "/usr/bin:/bin", "ENVFILE": str(env)}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            environ[k] = os.environ[k]
    with open(msg, "rb") as m:
        p = subprocess.run(argv, stdin=m, capture_output=True, env=environ,
                           timeout=timeout)
    p.stderr_text = p.stderr.decode("utf-8", "replace")
    res = Result(p, p.stdout, conf)
    for text in (res.stderr, conf.log_text()):
        mm = SANITIZER_REPORT.search(text)
        assert mm is None, text[max(0, mm.start() - 2000):mm.start() + 4000]
    return res


# --- certificates --------------------------------------------------------------------

def make_ca_and_cert(d, names):
    """A CA and a server certificate for names (DNS or IP), signed by it.
    Returns (ca_cert, cert, key) paths."""
    d = Path(d)
    ca_key, ca = d / "ca.key", d / "ca.pem"
    key, csr, cert = d / "srv.key", d / "srv.csr", d / "srv.pem"
    ext = d / "ext.cnf"
    san = ",".join(("IP:" if n[0].isdigit() else "DNS:") + n for n in names)
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")

    def run(*argv):
        r = subprocess.run(["openssl", *argv], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
        str(ca_key), "-out", str(ca), "-subj", "/CN=Test CA", "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
        "-out", str(csr), "-subj", f"/CN={names[0]}")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey",
        str(ca_key), "-CAcreateserial", "-out", str(cert), "-days", "2",
        "-extfile", str(ext))
    return ca, cert, key
