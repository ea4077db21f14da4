"""deliver(8) writes Maildirs that Dovecot (Debian's) and Python's mailbox
read the same: same messages, same bytes, same sizes, same flags, both ways.

A private Dovecot runs from a dovecot.conf written here: IMAP only, on
127.0.0.1 and a free port, no TLS, a passwd-file passdb/userdb, base_dir,
state_dir and log_path inside the test's folder; it is stopped at teardown.
Dovecot's mail processes run as the mailbox owner and open the Maildir by
path, so the test's folder is made under /tmp with mode 0755 (pytest's own
tmp folders are 0700) and removed at the end.
"""
import imaplib
import mailbox
import os
import pwd
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from test_deliver import IS_ROOT, MAIL_GID, MAIL_UID, DeliverEnv, expected

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "dovecot-test-pw"


def crlf(data):
    """What an IMAP server shows of a stored message: LF as CR LF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def open_base():
    """A folder every uid can traverse; removed at teardown."""
    d = Path(tempfile.mkdtemp(prefix="deliver-dovecot-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_dovecot_conf(base, env, port):
    me = pwd.getpwuid(os.geteuid()).pw_name
    uid, gid = (MAIL_UID, MAIL_GID) if IS_ROOT else (os.geteuid(),
                                                     os.getegid())
    home = env.maildir("fred@truc.test")
    (base / "passwd").write_text(
        f"fred@truc.test:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n")
    for d in ("dovecot-run", "dovecot-state"):
        (base / d).mkdir()
    users = "" if IS_ROOT else (f"default_internal_user = {me}\n"
                                f"default_login_user = {me}\n")
    conf = base / "dovecot.conf"
    conf.write_text(f"""\
base_dir = {base}/dovecot-run
state_dir = {base}/dovecot-state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~
first_valid_uid = 1
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
  mailbox Archive {{
    special_use = \\Archive
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
    return conf


def imap_login(port, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    m.login("fred@truc.test", PASSWORD)
    return m


def fetch_all(m):
    """{uid: (flags set, rfc822.size, body)} of the selected mailbox."""
    typ, data = m.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        head = head.decode()
        uid = int(re.search(r"UID (\d+)", head).group(1))
        flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
        size = int(re.search(r"RFC822\.SIZE (\d+)", head).group(1))
        out[uid] = (flags - {"\\Recent"}, size, body)
    return out


PY_TO_IMAP = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered",
              "T": "\\Deleted", "D": "\\Draft"}


def test_dovecot_and_python_see_the_same_mailbox(open_base, build_dir,
                                                 spawn):
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip("dovecot is not installed (scripts/deps check installs "
                    "dovecot-imapd)")
    env = DeliverEnv(open_base, build_dir, users="fred@truc.test *\n")
    for p in (open_base / "mailstack.conf", open_base / "users",
              open_base / "aliases"):
        os.chmod(p, 0o644)
    msgs = [b"From: a@remote.test\nSubject: one\n\nbody one\n",
            b"Subject: two\r\n\r\ncrlf body\r\n",
            b"Subject: three\n\nnot 7-bit: \xc3\xa9\nlast line, no LF"]
    for msg in msgs:
        rc, line, err = env.deliver("fred@truc.test", msg)
        assert rc == 0, line + err
    rc, line, err = env.deliver("fred+Sent@truc.test",
                                b"Subject: sent\n\nin .Sent\n")
    assert rc == 0, line + err

    # An MUA-style flag change: message two read and flagged (a rename
    # into cur/ with ":2,FS"; Python's mailbox would rewrite the file).
    top = env.maildir("fred@truc.test")
    for f in (top / "new").iterdir():
        if b"Subject: two" in f.read_bytes():
            f.rename(top / "cur" / (f.name + ":2,FS"))
    md = mailbox.Maildir(top, factory=None, create=False)
    py = {}
    for k in md.keys():
        m = md.get_message(k)
        py[md.get_bytes(k)] = {PY_TO_IMAP[f] for f in m.get_flags()}
    want = [expected(msgs[0], "fred@truc.test"),
            expected(msgs[1], "fred@truc.test", eol=b"\r\n"),
            expected(msgs[2], "fred@truc.test")]
    assert sorted(py) == sorted(want)

    port = free_port()
    conf = write_dovecot_conf(open_base, env, port)
    spawn([DOVECOT, "-F", "-c", str(conf)])
    m = imap_login(port)
    try:
        typ, data = m.select("INBOX")
        assert typ == "OK" and int(data[0]) == 3, data
        dv = fetch_all(m)
        assert len(dv) == 3
        by_body = {}
        for uid, (flags, size, body) in dv.items():
            by_body[body] = (uid, flags, size)
        for data, flags in py.items():
            assert crlf(data) in by_body, data
            uid, dflags, size = by_body[crlf(data)]
            assert dflags == flags, (data, dflags, flags)
            assert size == len(crlf(data))      # ,W= is what IMAP says
        # Folder and special use
        typ, lst = m.list()
        listing = b"\n".join(lst)
        assert re.search(rb"\\Sent[^\n]*\"?Sent\"?", listing), listing
        typ, data = m.select("Sent")
        assert typ == "OK" and int(data[0]) == 1
        sent = fetch_all(m)
        assert [b for _, _, b in sent.values()] == [crlf(expected(
            b"Subject: sent\n\nin .Sent\n", "fred+Sent@truc.test"))]
        # The other way: Dovecot answers message one; Python sees 'R'.
        m.select("INBOX")
        one_uid = by_body[crlf(want[0])][0]
        typ, _ = m.uid("STORE", str(one_uid), "+FLAGS", "(\\Answered)")
        assert typ == "OK"
        m.close()
    finally:
        m.logout()
    md = mailbox.Maildir(env.maildir("fred@truc.test"), factory=None,
                         create=False)
    seen = {md.get_bytes(k): md.get_message(k).get_flags() for k in md.keys()}
    assert seen[want[0]] == "R"
    assert seen[want[1]] == "FS"
    assert seen[want[2]] == ""
    # Dovecot left its index beside the messages; deliver still delivers.
    rc, line, _ = env.deliver("fred@truc.test", b"Subject: four\n\nx\n")
    assert rc == 0, line
    assert len(env.files("fred@truc.test")) == 4
