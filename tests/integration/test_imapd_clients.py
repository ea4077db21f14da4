"""imapd with real clients: curl (imap:// with STARTTLS-less plaintext and
imaps://), mbsync (isync: two-way sync of messages and flags), offlineimap3
and mutt (-f imaps://, in a pseudo-terminal). The mail comes in through
the real deliver(8); each client must end up with exactly the delivered
files, byte for byte (up to line ends: Maildir files hold LF, IMAP sends
CR LF), and flags set on either side must reach the other.

mbsync and offlineimap come from the Debian packages isync and
offlineimap3, mutt and curl from those of the same names; a test whose
client is not installed is skipped, saying which package."""
import imaplib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mailstack import MailStack, wait_for
from test_pop3d_clients import run_in_pty

PASS = "client-pw"
DOMAIN = "truc.test"
MESSAGES = [
    b"From: a@example.net\nTo: x@truc.test\nSubject: plain\n"
    b"Message-ID: <m1@example.net>\n\nHello.\n",
    b"Subject: dots\n\n.\n..\n.leading dot\nend.\n",
    b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; "
    b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 "
    b"na\xc3\xafve\n\n\n" + b"x" * 900 + b"\nno final newline",
    b"Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
    b"boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--b\n"
    b"Content-Type: application/octet-stream\n"
    b"Content-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n--b--\n",
]


def need(program, package):
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package "
                    f"{package}; scripts/deps should install it)")
    return path


def lf(data):
    return re.sub(rb"\r\n", b"\n", data)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir, tls_cert):
    tmp = tmp_path_factory.mktemp("imapd-clients")
    s = MailStack(tmp, build_dir, listeners=("imap", "imaps"), tls=tls_cert,
                  extra="allow_plaintext_auth = yes\n")
    for name in ("curl", "mbsync", "offlineimap", "mutt"):
        s.add_user(f"{name}@{DOMAIN}", PASS)
    s.start()
    yield s
    s.stop()


def deliver(stack, user):
    """Deliver MESSAGES with the real deliver; the stored files' bytes."""
    for i, m in enumerate(MESSAGES):
        r = subprocess.run(
            [str(stack.program("deliver")), "-c", str(stack.conf), "-f",
             "sender@example.net", "-q", "Q%d" % i, user], input=m,
            capture_output=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    files = stack.wait_for_messages(user, len(MESSAGES))
    return sorted(f.read_bytes() for f in files)


def imap(stack, user):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    m.login(user, PASS)
    return m


def server_flags(stack, user):
    """{message text (LF): set of flags} on the server."""
    m = imap(stack, user)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    m.logout()
    out = {}
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1)
            out[lf(item[1])] = set(flags.split()) - {b"\\Recent"}
    return out


def maildir_files(d):
    """{file text: Maildir info letters} of a Maildir's new/ and cur/,
    without the X-TUID field mbsync adds to every message it writes into
    a Maildir (its own marker for finding the new file's UID)."""
    out = {}
    for sub in ("new", "cur"):
        p = Path(d) / sub
        if p.is_dir():
            for f in p.iterdir():
                info = f.name.split(":2,")[1] if ":2," in f.name else ""
                out[re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"",
                           f.read_bytes(), count=1)] = info
    return out


# --- curl ------------------------------------------------------------------

def test_curl_imap_and_imaps(stack):
    curl = need("curl", "curl")
    user = f"curl@{DOMAIN}"
    stored = deliver(stack, user)
    for scheme, port in (("imap", stack.port["imap"]),
                         ("imaps", stack.port["imaps"])):
        base = f"{scheme}://127.0.0.1:{port}/INBOX"
        auth = ["-u", f"{user}:{PASS}", "-k", "-s", "-S", "--max-time",
                "30"]
        r = subprocess.run([curl, *auth, base + "?ALL"],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == b"* SEARCH 1 2 3 4", r.stdout
        got = []
        for uid in range(1, len(MESSAGES) + 1):
            r = subprocess.run([curl, *auth, f"{base};UID={uid}"],
                               capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr
            got.append(r.stdout)
        # IMAP sends CR LF; the files hold LF; nothing else changes.
        assert sorted(lf(g) for g in got) == stored
        assert all(b"\n" not in g.replace(b"\r\n", b"") for g in got)


# --- mbsync -----------------------------------------------------------------

def mbsync_run(mbsync, rc, home):
    r = subprocess.run([mbsync, "-c", str(rc), "-a"], capture_output=True,
                       timeout=120, env=dict(os.environ, HOME=str(home)))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_mbsync_two_way(stack, tmp_path, tls_cert):
    mbsync = need("mbsync", "isync")
    user = f"mbsync@{DOMAIN}"
    stored = deliver(stack, user)
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""\
IMAPAccount far
Host localhost
Port {stack.port["imaps"]}
User {user}
Pass {PASS}
SSLType IMAPS
CertificateFile {tls_cert.cert}

IMAPStore far
Account far

MaildirStore near
Path {local}/
Inbox {local}/INBOX

Channel sync
Far :far:
Near :near:
Patterns INBOX
Create Near
Sync All
SyncState *
""")
    mbsync_run(mbsync, rc, tmp_path)
    files = maildir_files(local / "INBOX")
    # mbsync writes LF line ends: exactly the delivered files.
    assert sorted(files) == stored
    assert all(info == "" for info in files.values())

    # Client side: flag message 1 and mark message 2 seen.
    cur = {re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", f.read_bytes()): f
           for sub in ("new", "cur")
           for f in (local / "INBOX" / sub).iterdir()}
    f1, f2 = cur[stored[0]], cur[stored[1]]
    base1, base2 = f1.name.split(":2,")[0], f2.name.split(":2,")[0]
    f1.rename(local / "INBOX" / "cur" / (base1 + ":2,F"))
    f2.rename(local / "INBOX" / "cur" / (base2 + ":2,S"))
    # Server side: message 3 answered.
    m = imap(stack, user)
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "parts")
    n3 = data[0].split()[0]
    m.store(n3, "+FLAGS", "(\\Answered)")
    m.logout()
    mbsync_run(mbsync, rc, tmp_path)

    flags = server_flags(stack, user)
    assert flags[lf(stored[0])] == {b"\\Flagged"}
    assert flags[lf(stored[1])] == {b"\\Seen"}
    files = maildir_files(local / "INBOX")
    parts = [t for t in files if b"Subject: parts" in t]
    assert len(parts) == 1 and "R" in files[parts[0]]
    assert sorted(files) == stored      # nothing doubled, nothing lost
    # A second run with no changes changes nothing.
    mbsync_run(mbsync, rc, tmp_path)
    assert maildir_files(local / "INBOX") == files
    assert server_flags(stack, user) == flags


# --- offlineimap3 -------------------------------------------------------------

def test_offlineimap(stack, tmp_path, tls_cert):
    offlineimap = need("offlineimap", "offlineimap3")
    user = f"offlineimap@{DOMAIN}"
    stored = deliver(stack, user)
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "offlineimaprc"
    rc.write_text(f"""\
[general]
accounts = a
metadata = {tmp_path}/meta
ui = quiet

[Account a]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = {local}

[Repository far]
type = IMAP
remotehost = localhost
remoteport = {stack.port["imaps"]}
remoteuser = {user}
remotepass = {PASS}
ssl = yes
sslcacertfile = {tls_cert.cert}
folderfilter = lambda f: f == "INBOX"
""")

    def run():
        r = subprocess.run([offlineimap, "-c", str(rc), "-o", "-u", "quiet"],
                           capture_output=True, timeout=120,
                           env=dict(os.environ, HOME=str(tmp_path)))
        assert r.returncode == 0, r.stdout + r.stderr
        assert b"ERROR" not in r.stdout + r.stderr, r.stdout + r.stderr

    run()
    files = maildir_files(local / "INBOX")
    assert sorted(lf(t) for t in files) == stored

    # Seen on the client reaches the server; Flagged on the server the
    # client.
    hit = [f for sub in ("new", "cur")
           for f in (local / "INBOX" / sub).iterdir()
           if lf(f.read_bytes()) == stored[0]]
    assert len(hit) == 1
    hit[0].rename(local / "INBOX" / "cur" /
                  (hit[0].name.split(":2,")[0] + ":2,S"))
    m = imap(stack, user)
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "dots")
    m.store(data[0].split()[0], "+FLAGS", "(\\Flagged)")
    m.logout()
    run()
    flags = server_flags(stack, user)
    assert flags[lf(stored[0])] == {b"\\Seen"}
    files = maildir_files(local / "INBOX")
    dots = [t for t in files if b"Subject: dots" in t]
    assert len(dots) == 1 and "F" in files[dots[0]]
    assert sorted(lf(t) for t in files) == stored


# --- mutt -------------------------------------------------------------------

def test_mutt_imaps(stack, tmp_path, tls_cert):
    mutt = need("mutt", "mutt")
    user = f"mutt@{DOMAIN}"
    stored = deliver(stack, user)
    out = tmp_path / "saved"
    rc = tmp_path / "muttrc"
    rc.write_text(
        f"set folder={tmp_path}\nset spoolfile=\"\"\nset mbox_type=Maildir\n"
        f"set imap_user=\"{user}\"\nset imap_pass=\"{PASS}\"\n"
        f"set certificate_file={tls_cert.cert}\nset ssl_verify_host=no\n"
        "set ssl_starttls=no\nset confirmcreate=no\nset confirmappend=no\n"
        "set move=no\nset quit=yes\nset mail_check=0\nset timeout=1\n"
        "set imap_passive=yes\nset mark_old=no\nset sort=date-received\n")
    url = f"imaps://localhost:{stack.port['imaps']}/INBOX"
    # Copy every message into a local Maildir, then flag the first one.
    keys = (f"<tag-pattern>~A<enter><tag-prefix><copy-message>{out}<enter>"
            "<first-entry><flag-message><sync-mailbox><exit>")
    status = run_in_pty([mutt, "-n", "-F", str(rc), "-f", url, "-e",
                         f"push '{keys}'"],
                        dict(os.environ, HOME=str(tmp_path), TERM="vt100"),
                        timeout=60)
    assert status == 0
    files = maildir_files(out)

    def unmutt(t):
        # the header fields mutt writes on a copy (as in the pop3d test)
        head, sep, body = lf(t).partition(b"\n\n")
        head = b"\n".join(l for l in head.split(b"\n") if not re.match(
            rb"(?i)(status|x-status|content-length|lines):", l))
        return head + sep + body
    assert sorted(unmutt(t) for t in files) == stored
    flags = server_flags(stack, user)
    assert sorted(len(f) for f in flags.values()) == [0, 0, 0, 1]
    assert {b"\\Flagged"} in flags.values()
