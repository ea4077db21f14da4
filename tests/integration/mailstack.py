"""A real mail stack for integration tests: config, users, maild.

    stack = MailStack(tmp_path, build_dir, tls=tls_cert,
                      listeners=("smtp", "submission"))
    stack.add_user("marc@truc.test", "secret")
    stack.start()
    ... talk to stack.port["smtp"] ...
    stack.wait_for_messages("marc@truc.test", 1)
    stack.stop()

Everything lives under one temporary folder: the config, the tables, the
queue (state/), the mailboxes (mail/) and the log (mail.log). Ports are
free ports on 127.0.0.1. stop() sends SIGTERM, waits for maild to exit,
and fails if maild or any program left a sanitizer report in the logs.
Every wait is bounded.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

try:
    from conftest import SANITIZER_REPORT, require_binary
except ImportError:             # used outside pytest (scripts/demo.py)
    import re

    SANITIZER_REPORT = re.compile(r"ERROR: \w+Sanitizer|runtime error:")

    def require_binary(path):
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{path} is not built")
        return Path(path)

LISTENER_KEYS = {
    "smtp": "listen_smtp",
    "submission": "listen_submission",
    "submissions": "listen_submissions",
    "pop3": "listen_pop3",
    "pop3s": "listen_pop3s",
    "imap": "listen_imap",
    "imaps": "listen_imaps",
}


MAIL_UID = MAIL_GID = 65534     # nobody/nogroup: the mailbox owner as root


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=15.0, step=0.05):
    """cond() until true or timeout; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class MailStack:
    def __init__(self, tmp, build_dir, hostname="mx.truc.test",
                 domains=("truc.test",), listeners=("smtp",), tls=None,
                 host="127.0.0.1", extra="", privsep=False, bin_dir=None):
        self.tmp = Path(tmp)
        self.bin = Path(bin_dir) if bin_dir else Path(build_dir) / "bin"
        # Tests run the build tree: no set-uid programs, so as root they
        # turn privilege separation off (test_privsep.py turns it on, on
        # an installed tree).
        self.privsep = privsep
        self.hostname = hostname
        self.domains = list(domains)
        self.host = host
        self.tls = tls
        self.conf = self.tmp / "mailstack.conf"
        self.users = self.tmp / "users"
        self.aliases = self.tmp / "aliases"
        self.state = self.tmp / "state"
        self.mail = self.tmp / "mail"
        self.log = self.tmp / "mail.log"
        self.stderr_path = self.tmp / "maild.stderr"
        self.port = {name: free_port(host) for name in listeners}
        self.proc = None
        self.users.write_text("")
        self.aliases.write_text("")
        # Mailboxes belong to an unprivileged user: deliver never writes
        # as root (SECURITY.md D3) and takes mail_dir's owner when it
        # starts as root, as in a real installation (INSTALL).
        if not privsep:
            self.mail.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(self.mail, MAIL_UID, MAIL_GID)
        self.extra = extra
        self.write_config()

    def write_config(self, extra=None):
        if extra is not None:
            self.extra = extra
        lines = [
            f"hostname = {self.hostname}",
            f"domains = {' '.join(self.domains)}",
            f"state_dir = {self.state}",
            f"mail_dir = {self.mail}",
            f"users = {self.users}",
            f"aliases = {self.aliases}",
            f"log = {self.log}",
        ]
        if not self.privsep:
            lines.append("privilege_separation = no")
        for name, port in self.port.items():
            lines.append(f"{LISTENER_KEYS[name]} = {self.host}:{port}")
        if self.tls is not None:
            lines.append(f"tls_cert = {self.tls.cert}")
            lines.append(f"tls_key = {self.tls.key}")
        self.conf.write_text("\n".join(lines) + "\n" + self.extra)

    def program(self, name):
        return require_binary(self.bin / name)

    def mailctl(self, *args, stdin=None, check=True):
        r = subprocess.run([str(self.program("mailctl")), "-c",
                            str(self.conf), *args], input=stdin,
                           capture_output=True, text=True, timeout=60)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def add_user(self, address, password):
        return self.mailctl("user", "add", address, stdin=password + "\n")

    def add_alias(self, address, *targets):
        return self.mailctl("alias", "add", address, *targets)

    def start(self):
        self.proc = subprocess.Popen(
            [str(self.program("maild")), "-c", str(self.conf), "-f"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "w"))
        ok = wait_for(lambda: "event=started" in self.stderr()
                      or self.proc.poll() is not None)
        assert ok and self.proc.poll() is None, self.stderr()
        return self

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, **fields):
        """Log lines holding every key=value given (values as written)."""
        want = [f"{k}={v}" for k, v in fields.items()]
        return [l for l in self.log_text().splitlines()
                if all(w in l.split() for w in want)]

    def maildir(self, address):
        local, domain = address.lower().split("@")
        return self.mail / domain / local

    def messages(self, address, folder=""):
        """Files in new/ and cur/ of the mailbox (or of .folder)."""
        d = self.maildir(address)
        if folder:
            d = d / f".{folder}"
        out = []
        for sub in ("new", "cur"):
            if (d / sub).is_dir():
                out += sorted((d / sub).iterdir())
        return out

    def wait_for_messages(self, address, n, timeout=20, folder=""):
        got = wait_for(lambda: len(self.messages(address, folder)) >= n,
                       timeout=timeout)
        msgs = self.messages(address, folder)
        assert got and len(msgs) >= n, (
            f"{address}: {len(msgs)} of {n} messages\n--- log:\n"
            f"{self.log_text()[-4000:]}\n--- maild:\n{self.stderr()[-2000:]}")
        return msgs

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("maild did not stop within 30 s")
        for text in (self.stderr(), self.log_text()):
            m = SANITIZER_REPORT.search(text)
            assert m is None, text[max(0, m.start() - 2000):m.start() + 4000]
