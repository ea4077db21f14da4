"""pop3d with real clients: Python's poplib (plaintext on loopback, STLS,
and POP3 over TLS), curl (pop3://, STLS, pop3s://), fetchmail (keep and
flush, UIDL-based) and mutt (fetch-mail, in a pseudo-terminal). Each must
get exactly the messages delivered, byte for byte up to line ends.

fetchmail and mutt come from the Debian packages of the same names; a
test whose client is not installed is skipped, saying which package."""
import os
import pty
import re
import select
import shutil
import ssl
import subprocess
import time
import poplib

import pytest

from test_pop3d_stack import (DOMAIN, USERS, crlf_text,  # noqa: F401
                              pop3_stack)

# Messages that exercise dot-stuffing, bare LF, blank lines, 8-bit text,
# a long line and a last line without its end.
MESSAGES = [
    b"From: a@example.net\nTo: alice@truc.test\nSubject: plain\n"
    b"Message-ID: <m1@example.net>\n\nHello Alice.\n",
    b"Subject: dots\n\n.\n..\n.leading dot\nend.\n",
    b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; "
    b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 "
    b"na\xc3\xafve\n\n\n" + b"x" * 900 + b"\nno final newline",
]
USER = f"alice@{DOMAIN}"
PASSWORD = USERS["alice"]


def lf(data):
    """data with every line end made LF, and a final one."""
    out = re.sub(rb"\r\n|\r", b"\n", data)
    return out if out.endswith(b"\n") or not out else out + b"\n"


def size(data):
    """The size LIST gives: CRLF text, without a final line end added."""
    return len(re.sub(rb"\r\n|\r|\n", b"\r\n", data))


def deliver_all(stack):
    return [stack.deliver("alice", m) for m in MESSAGES]


def need(program, package):
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package "
                    f"{package}; scripts/deps should install it)")
    return path


# --- Python poplib ------------------------------------------------------

def check_poplib(p):
    assert p.stat() == (len(MESSAGES), sum(size(m) for m in MESSAGES))
    _, uidls, _ = p.uidl()
    assert len(uidls) == len(MESSAGES)
    for i, m in enumerate(MESSAGES, 1):
        _, lines, octets = p.retr(i)
        assert b"\r\n".join(lines) + b"\r\n" == crlf_text(m)
    assert p.quit().startswith(b"+OK")


def test_poplib_plaintext(pop3_stack):
    s = pop3_stack(plaintext=True)
    deliver_all(s)
    p = poplib.POP3("127.0.0.1", s.port, timeout=30)
    assert "USER" in p.capa()
    p.user(USER)
    p.pass_(PASSWORD)
    check_poplib(p)
    # Seen by RETR: all three now in cur/ with the S flag.
    assert s.files("alice")["new"] == []


def test_poplib_stls(pop3_stack):
    s = pop3_stack(plaintext=False)
    deliver_all(s)
    p = poplib.POP3("127.0.0.1", s.port, timeout=30)
    assert "STLS" in p.capa()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user(USER)
    p.stls(context=s.client_context())
    assert "USER" in p.capa() and "STLS" not in p.capa()
    p.user(USER)
    p.pass_(PASSWORD)
    check_poplib(p)


def test_poplib_pop3s(pop3_stack):
    s = pop3_stack(plaintext=False)
    deliver_all(s)
    p = poplib.POP3_SSL("127.0.0.1", s.port_s, timeout=30,
                        context=s.client_context())
    p.user(USER)
    p.pass_(PASSWORD)
    check_poplib(p)


# --- curl ----------------------------------------------------------------------

def curl(stack, url, *args):
    r = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-u", f"{USER}:{PASSWORD}",
         "--cacert", str(stack.tls.cert), *args, url],
        capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


@pytest.mark.parametrize("mode", ["pop3", "stls", "pop3s"])
def test_curl(pop3_stack, mode):
    need("curl", "curl")
    s = pop3_stack(plaintext=mode == "pop3")
    deliver_all(s)
    if mode == "pop3s":
        base, extra = f"pop3s://127.0.0.1:{s.port_s}", []
    else:
        base = f"pop3://127.0.0.1:{s.port}"
        extra = ["--ssl-reqd"] if mode == "stls" else []
    listing = curl(s, base + "/", *extra)
    assert listing.splitlines() == [
        f"{i} {size(m)}".encode()
        for i, m in enumerate(MESSAGES, 1)]
    for i, m in enumerate(MESSAGES, 1):
        assert curl(s, f"{base}/{i}", *extra) == crlf_text(m)
    assert s.wait_log(r"event=login .*tls=" +
                      ("no" if mode == "pop3" else "yes"))


# --- fetchmail --------------------------------------------------------------------

MDA = """import os, sys
d = sys.argv[1]
data = sys.stdin.buffer.read()
with open(os.path.join(d, "msg.%03d" % len(os.listdir(d))), "wb") as f:
    f.write(data)
"""


def fetchmail(stack, work, options):
    rc = work / "fetchmailrc"
    rc.write_text(
        f"set no syslog\nset invisible\nset idfile \"{work}/idfile\"\n"
        f"poll 127.0.0.1 service {stack.port} proto pop3 uidl\n"
        f"  user \"{USER}\" there with password \"{PASSWORD}\" "
        f"is \"root\" here\n"
        f"  options {options} sslproto '' no rewrite "
        f"mda \"python3 {work}/mda.py {work}/out\"\n")
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc), "-v"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(work)))
    # 0: mail was retrieved, 1: there was none.
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.stdout + r.stderr


def fetched(work):
    return [(work / "out" / n).read_bytes()
            for n in sorted(os.listdir(work / "out"))]


def test_fetchmail_keep_then_flush(pop3_stack, tmp_path):
    need("fetchmail", "fetchmail")
    s = pop3_stack(plaintext=True)
    work = tmp_path / "fetchmail"
    (work / "out").mkdir(parents=True)
    (work / "mda.py").write_text(MDA)
    uids = [s.deliver("alice", m) for m in MESSAGES[:2]]

    # keep: everything is fetched, nothing leaves the server.
    out = fetchmail(s, work, "keep")
    assert [lf(m) for m in fetched(work)] == [lf(m) for m in MESSAGES[:2]]
    assert len(s.files("alice")["new"] + s.files("alice")["cur"]) == 2
    assert all(u in (work / "idfile").read_text() for u in uids), out

    # keep again, one new message: UIDL says only it is new.
    s.deliver("alice", MESSAGES[2])
    out = fetchmail(s, work, "keep")
    assert [lf(m) for m in fetched(work)] == [lf(m) for m in MESSAGES], out
    assert "3 messages (2 seen)" in out or "(2 seen)" in out, out

    # flush: the old (seen) messages are deleted from the server.
    out = fetchmail(s, work, "flush")
    assert len(fetched(work)) == 3, out
    f = s.files("alice")
    assert f["new"] == [] and f["cur"] == [], out
    assert s.wait_log(r"event=logout .*deleted=3 ")


# --- mutt --------------------------------------------------------------------------

def run_in_pty(argv, env, timeout=30.0):
    """Run argv on a pseudo-terminal; its exit status (None: killed)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    end = time.monotonic() + timeout
    status = None
    try:
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    os.read(fd, 65536)
                except OSError:
                    pass        # EIO: the program closed the terminal
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                pid = None
                break
    finally:
        if pid is not None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    return status


def mbox_messages(data):
    """The messages of an mbox that mutt appended, with the header fields
    mutt adds (Status, X-Status, Content-Length, Lines) taken out."""
    msgs = []
    for part in re.split(rb"(?m)^From [^\n]*\n", data)[1:]:
        if part.endswith(b"\n\n"):
            part = part[:-1]        # the blank line mbox puts between
        head, sep, body = part.partition(b"\n\n")
        head = b"\n".join(l for l in head.split(b"\n") if not re.match(
            rb"(?i)(status|x-status|content-length|lines):", l))
        msgs.append(head + sep + body)
    return msgs


def test_mutt_fetch_mail(pop3_stack, tmp_path):
    mutt = need("mutt", "mutt")
    s = pop3_stack(plaintext=True)
    deliver_all(s)
    work = tmp_path / "mutt"
    work.mkdir()
    inbox = work / "inbox"
    inbox.write_bytes(b"")
    rc = work / "muttrc"
    rc.write_text(
        f"set folder={work}\nset spoolfile={inbox}\nset mbox_type=mbox\n"
        f"set pop_host=\"pop://alice%40{DOMAIN}@127.0.0.1:{s.port}\"\n"
        f"set pop_pass=\"{PASSWORD}\"\nset pop_delete=no\n"
        "set pop_authenticators=\"user\"\nset ssl_starttls=no\n"
        "set ssl_force_tls=no\nset move=no\nset quit=yes\n"
        "set confirmappend=no\nset mail_check=0\nset timeout=1\n")
    status = run_in_pty(
        [mutt, "-n", "-F", str(rc), "-e", "push <fetch-mail><exit>"],
        dict(os.environ, HOME=str(work), TERM="vt100"))
    assert status == 0
    assert mbox_messages(inbox.read_bytes()) == [lf(m) for m in MESSAGES]
    assert s.wait_log(r"event=logout .*retr=3 ")
