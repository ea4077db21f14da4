"""pop3d and Dovecot (Debian's dovecot-pop3d and dovecot-imapd) on one
Maildir: Dovecot's POP3 server sends the same bytes and sizes for the
same messages; after a pop3d session, Dovecot's IMAP server sees what
pop3d did (seen flag for RETR, nothing for TOP, DELE'd messages gone); and
after Dovecot moved and flagged every file, pop3d still gives the same
UIDLs and the same messages.

Dovecot's pop3 and imap binaries run pre-authenticated on standard input
and output with a dovecot.conf written here (no daemon). They will not
open mail as root, so when the tests run as root the Maildir belongs to
uid 65534 (pop3d then takes that uid after login, as it would for any
owner); the folder is made under /tmp with mode 0755 so that uid can
reach it, and removed at the end."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from test_pop3d_stack import (DOMAIN, USERS, Pop3Stack,  # noqa: F401
                              wait_for)

POP3 = "/usr/lib/dovecot/pop3"
IMAP = "/usr/lib/dovecot/imap"
IS_ROOT = os.geteuid() == 0
UID = 65534 if IS_ROOT else os.geteuid()
GID = 65534 if IS_ROOT else os.getegid()

MESSAGES = [
    b"Subject: one\nMessage-ID: <1@example.net>\n\nbody one\n.\n..two\n",
    b"Subject: two\n\nno final newline",
    b"Subject: three\nContent-Type: text/plain; charset=utf-8\n\n"
    b"caf\xc3\xa9\n\n\nend\n",
    b"Subject: four\n\ntop only\n",
    b"Subject: five\n\nto delete\n",
]


@pytest.fixture
def stack(build_dir, tls_cert):
    for b in (POP3, IMAP):
        if not os.access(b, os.X_OK):
            pytest.skip(f"{b} is not installed (Debian packages "
                        "dovecot-pop3d and dovecot-imapd)")
    base = Path(tempfile.mkdtemp(prefix="pop3d-dovecot-", dir="/tmp"))
    os.chmod(base, 0o755)
    s = Pop3Stack(base / "stack", build_dir, tls_cert, plaintext=True)
    s.base = base
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(base, ignore_errors=True)


def give_away(path):
    """The Maildir (and Dovecot's index) to the mail user."""
    if not IS_ROOT:
        return
    os.chown(path, UID, GID)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), UID, GID)


def dovecot(s, binary, script):
    """Run Dovecot's pop3 or imap on script; its standard output."""
    conf = s.base / "dovecot.conf"
    if not conf.exists():
        idx = s.base / "index"
        idx.mkdir()
        give_away(idx)
        conf.write_text(
            f"base_dir = {s.base}/dovecot-run\n"
            f"log_path = {s.base}/dovecot.log\n"
            f"mail_location = maildir:{s.maildir('alice')}:INDEX={idx}\n"
            "pop3_uidl_format = %f\nssl = no\n"
            f"mail_uid = {UID}\nmail_gid = {GID}\n"
            "first_valid_uid = 1\nfirst_valid_gid = 1\n")
    give_away(s.maildir("alice"))
    r = subprocess.run([binary, "-c", str(conf)], input=script,
                       capture_output=True, timeout=60,
                       env={"USER": "alice", "HOME": str(s.base),
                            "PATH": os.environ.get("PATH", "/usr/bin")})
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    log = s.base / "dovecot.log"
    assert not log.exists() or "Error" not in log.read_text(), \
        log.read_text()
    return r.stdout


def pop3_responses(data, commands):
    """Split the output of a pre-authenticated Dovecot POP3 session into
    one response per command: (status line, raw multi-line body)."""
    out, rest = [], data
    for cmd in commands:
        line, rest = rest.split(b"\r\n", 1)
        body = None
        multi = cmd in ("LIST", "UIDL") or cmd.startswith(("RETR", "TOP"))
        if multi and line.startswith(b"+OK"):
            if rest.startswith(b".\r\n"):
                body, rest = b".\r\n", rest[3:]
            else:
                i = rest.index(b"\r\n.\r\n")
                body, rest = rest[:i + 5], rest[i + 5:]
        out.append((line, body))
    return out


def base(name):
    return name.split(",")[0].split(":")[0]


def ours(s, retr=(), top=(), dele=()):
    """A pop3d session: {base: (size, raw RETR)} and the base UIDLs."""
    c = s.connect()
    c.login()
    c.cmd("UIDL")
    uidl = {int(n): u.decode() for n, u in
            (l.split() for l in c.multiline())}
    c.cmd("LIST")
    sizes = {int(n): int(z) for n, z in (l.split() for l in c.multiline())}
    got = {}
    for n in retr:
        assert c.cmd(f"RETR {n}").startswith("+OK")
        got[uidl[n]] = (sizes[n], c.raw_until_terminator())
    for n in top:
        assert c.cmd(f"TOP {n} 0").startswith("+OK")
        c.multiline()
    for n in dele:
        assert c.cmd(f"DELE {n}").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    assert c.closed()
    return got, uidl


def imap_flags(s):
    """{subject: set of flags} as Dovecot's IMAP server sees INBOX."""
    out = dovecot(s, IMAP, b"a SELECT INBOX\r\n"
                  b"b FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
                  b"\r\nc LOGOUT\r\n")
    flags = {}
    for m in re.finditer(rb"\* \d+ FETCH \(FLAGS \(([^)]*)\) BODY\[HEADER"
                         rb"\.FIELDS \(SUBJECT\)\] \{\d+\}\r\n"
                         rb"Subject: (\w+)", out):
        flags[m.group(2).decode()] = set(m.group(1).decode().split())
    return flags


def test_same_bytes_and_flags_as_dovecot(stack):
    s = stack
    for m in MESSAGES:
        s.deliver("alice", m)
    give_away(s.maildir("alice"))
    s.start()

    # pop3d: RETR 1-3, TOP 4, DELE 5, QUIT.
    got, uidl = ours(s, retr=(1, 2, 3), top=(4,), dele=(5,))
    assert len(uidl) == 5

    # Dovecot's IMAP sees the seen flags pop3d set, and the deletion.
    flags = imap_flags(s)
    assert sorted(flags) == ["four", "one", "three", "two"]
    assert all("\\Seen" in flags[k] for k in ("one", "two", "three"))
    assert "\\Seen" not in flags["four"]

    # Dovecot's POP3 server sends the same bytes and sizes.
    cmds = ["UIDL", "LIST"] + [f"RETR {i}" for i in range(1, 5)] + ["QUIT"]
    resp = pop3_responses(
        dovecot(s, POP3, "".join(c + "\r\n" for c in cmds).encode()), cmds)
    d_uidl = {int(n): base(u.decode()) for n, u in
              (l.split() for l in resp[0][1].split(b"\r\n")[:-2])}
    d_size = {int(n): int(z) for n, z in
              (l.split() for l in resp[1][1].split(b"\r\n")[:-2])}
    assert sorted(d_uidl.values()) == sorted(
        u for n, u in uidl.items() if n != 5)
    compared = 0
    for i in range(1, 5):
        b = d_uidl[i]
        status, body = resp[1 + i]
        assert status.startswith(b"+OK"), status
        if b in got:
            assert (d_size[i], body) == got[b], b
            compared += 1
    assert compared == 3

    # Dovecot has moved every file to cur/; now flag them all.
    dovecot(s, IMAP, b"a SELECT INBOX\r\nb STORE 1:* +FLAGS (\\Flagged)"
            b"\r\nc LOGOUT\r\n")
    f = s.files("alice")
    assert f["new"] == [] and all(":2,F" in n for n in f["cur"])

    # pop3d: same UIDLs, same messages, and RETR adds S to F.
    got2, uidl2 = ours(s, retr=(1, 2, 3, 4))
    assert sorted(uidl2.values()) == sorted(d_uidl.values())
    for b, v in got.items():
        assert got2[b] == v
    f = s.files("alice")
    assert len(f["cur"]) == 4 and all(n.endswith(":2,FS") for n in f["cur"])
    flags = imap_flags(s)
    assert all(v >= {"\\Seen", "\\Flagged"} for v in flags.values())
