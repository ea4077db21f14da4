"""imapd's index sync: a warm SELECT that does not list an unchanged folder
must still see every change (imapd-index.c, "Unchanged folders").

The index records the inode and mtime of new/ and cur/ and when the
listing that saw them started; a folder is listed again unless its mtime
is unchanged AND that listing began two second boundaries or more after
it. File times are coarse: a change in the same clock tick as a listing
leaves the mtime as it was. The tests make that happen on purpose by
putting a directory's mtime back after a change (os.utime), which is what
a coarse clock does, and check that the change is still seen; they make a
folder's stamp trusted by moving its mtime into the past before the first
SELECT, so that the following SELECTs take the fast path, and check that
deliveries, flag changes and expunges by others are seen all the same.
"""
import imaplib
import os
import re
import struct
import subprocess
import time

import pytest

from mailstack import MailStack
from test_imapd import MSG, PASS, deliver

USERS = ["s%d@truc.test" % i for i in range(1, 22)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir):
    tmp = tmp_path_factory.mktemp("imapd-sync")
    s = MailStack(tmp, build_dir, listeners=("imap",),
                  extra="allow_plaintext_auth = yes\n")
    for u in USERS:
        s.add_user(u, PASS)
    s.start()
    yield s
    s.stop()


_next = [0]


def user(stack):
    """A fresh user whose Maildir exists (imapd makes it at login)."""
    _next[0] += 1
    u = USERS[_next[0] - 1]
    login(stack, u).logout()
    return u


def login(stack, u):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    m.login(u, PASS)
    return m


def exists(m, mailbox="INBOX", readonly=False):
    typ, data = m.select(mailbox, readonly=readonly)
    assert typ == "OK"
    return int(data[0])


def uids(m):
    typ, data = m.uid("SEARCH", "ALL")
    assert typ == "OK"
    return [int(x) for x in data[0].split()]


def noop_exists(m):
    """NOOP, then the last EXISTS the server sent (None if none)."""
    m.untagged_responses.pop("EXISTS", None)
    m.noop()
    v = m.untagged_responses.pop("EXISTS", None)
    return int(v[-1]) if v else None


def set_back(path, ns):
    """Put a directory's mtime back to ns, as a coarse clock would leave
    it after a change in the same tick."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, ns))


def age(maildir, seconds=30):
    """Move new/ and cur/ mtimes into the past: the next listing's stamp
    is trusted, so the SELECTs after it skip the listing."""
    t = time.time() - seconds
    for d in ("new", "cur"):
        os.utime(maildir / d, (t, t))


def run_deliver(stack, rcpt, body):
    r = subprocess.run([str(stack.program("deliver")), "-c", str(stack.conf),
                        "-f", "sender@example.org", rcpt], input=body,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_delivery_in_the_same_tick_is_seen(stack):
    """A file renamed into new/ right after a listing, with new/'s mtime
    unchanged, shows at the next SELECT and at NOOP."""
    u = user(stack)
    md = stack.maildir(u)
    deliver(stack, u, MSG)
    a = login(stack, u)
    assert exists(a, readonly=True) == 1      # lists new/ and stamps it
    mtime = os.stat(md / "new").st_mtime_ns
    deliver(stack, u, MSG)
    set_back(md / "new", mtime)               # same tick as the listing
    b = login(stack, u)
    assert exists(b, readonly=True) == 2
    assert noop_exists(a) == 2
    # And through deliver(8) itself, the same way.
    mtime = os.stat(md / "new").st_mtime_ns
    run_deliver(stack, u, b"Subject: via deliver\n\nbody\n")
    set_back(md / "new", mtime)
    assert noop_exists(a) == 3
    assert noop_exists(b) == 3
    c = login(stack, u)
    assert exists(c) == 3
    for m in (a, b, c):
        m.logout()


def test_fast_path_still_sees_deliveries(stack):
    """With trusted stamps (SELECT skips the listing) a delivery is seen by
    the next SELECT and the next NOOP, within the same second."""
    u = user(stack)
    md = stack.maildir(u)
    for _ in range(3):
        deliver(stack, u, MSG)
    m = login(stack, u)
    assert exists(m) == 3                     # moves new/ to cur/
    m.logout()
    age(md)
    a = login(stack, u)
    assert exists(a) == 3                     # listed: stamps trusted
    first = uids(a)
    b = login(stack, u)
    assert exists(b) == 3                     # fast path
    assert uids(b) == first
    deliver(stack, u, MSG)
    assert noop_exists(a) == 4
    c = login(stack, u)
    assert exists(c) == 4
    assert uids(c)[:3] == first and uids(c)[3] > max(first)
    for s in (a, b, c):
        s.logout()


def test_fast_path_is_taken(stack):
    """The documented rule, seen from outside: once a folder's stamp is
    trusted, a SELECT does not list it again while its mtime holds (here a
    file is added and the mtime put back by hand, which only a coarse
    clock or a deliberate touch can do); the moment the mtime moves, the
    file is there."""
    u = user(stack)
    md = stack.maildir(u)
    deliver(stack, u, MSG)
    m = login(stack, u)
    assert exists(m) == 1
    m.logout()
    age(md)
    m = login(stack, u)
    assert exists(m) == 1                     # trusted stamps written
    m.logout()
    mtime = os.stat(md / "new").st_mtime_ns
    deliver(stack, u, MSG)
    set_back(md / "new", mtime)
    m = login(stack, u)
    assert exists(m) == 1                     # not listed: fast path
    m.logout()
    os.utime(md / "new")                      # the mtime moves
    m = login(stack, u)
    assert exists(m) == 2
    m.logout()


def test_flag_change_by_another_session_is_seen(stack):
    u = user(stack)
    md = stack.maildir(u)
    for _ in range(2):
        deliver(stack, u, MSG)
    m = login(stack, u)
    exists(m)
    m.logout()
    age(md)
    a = login(stack, u)
    b = login(stack, u)
    assert exists(a) == 2 and exists(b) == 2
    a.store("1", "+FLAGS", r"\Flagged")       # a rename in cur/
    b.untagged_responses.pop("FETCH", None)
    b.noop()
    assert any(b"\\Flagged" in x for x in b.untagged_responses["FETCH"])
    c = login(stack, u)
    exists(c)
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Flagged" in data[0]
    c.logout()
    # Another program renames a file in cur/ (adds S).
    age(md)
    d = login(stack, u)
    exists(d)                                 # trusted stamps again
    cur = md / "cur"
    name = sorted(p.name for p in cur.iterdir())[1]
    base, _, info = name.partition(":2,")
    os.rename(cur / name, cur / (base + ":2," + "".join(sorted(info + "S"))))
    e = login(stack, u)
    exists(e)
    typ, data = e.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0]
    b.untagged_responses.pop("FETCH", None)
    b.noop()
    assert any(b"\\Seen" in x for x in b.untagged_responses["FETCH"])
    for s in (a, b, d, e):
        s.logout()


def test_expunge_by_another_session_is_seen(stack):
    u = user(stack)
    md = stack.maildir(u)
    for _ in range(4):
        deliver(stack, u, MSG)
    m = login(stack, u)
    exists(m)
    m.logout()
    age(md)
    a = login(stack, u)
    b = login(stack, u)
    assert exists(a) == 4 and exists(b) == 4
    before = uids(b)
    a.store("2", "+FLAGS", r"\Deleted")
    a.expunge()                               # an unlink in cur/
    typ, data = b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"2"]
    c = login(stack, u)
    assert exists(c) == 3
    assert uids(c) == [x for x in before if x != before[1]]
    # Another program removes a file in cur/.
    age(md)
    d = login(stack, u)
    assert exists(d) == 3
    victim = sorted((md / "cur").iterdir())[0]
    victim.unlink()
    e = login(stack, u)
    assert exists(e) == 2
    for s in (a, b, c, d, e):
        s.logout()


def test_fetch_and_store_after_renames_by_another_session(stack):
    """Session a holds a view whose file names another session has since
    changed (every file renamed by a flag change) and a delivery has
    added to. a's FETCH of every body and STORE on every message, with no
    NOOP first, must find each file under its new name without its view
    moving under the command: every body exact, every flag kept, and the
    new message shown after the command, with the next UID."""
    u = user(stack)
    n = 40
    bodies = [b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i) + b"x" * i * 97
              for i in range(n)]
    for b in bodies:
        deliver(stack, u, b)
    a = login(stack, u)
    b_ = login(stack, u)
    assert exists(a) == n and exists(b_) == n
    first = uids(a)
    typ, _ = b_.store("1:*", "+FLAGS", r"\Flagged")   # renames every file
    assert typ == "OK"
    deliver(stack, u, b"Subject: late\r\n\r\nlate\r\n")
    typ, data = a.fetch("1:%d" % n, "(BODY.PEEK[])")
    assert typ == "OK"
    got = [x[1] for x in data if isinstance(x, tuple)]
    assert sorted(got) == sorted(bodies)     # (UIDs follow file names)
    typ, data = a.store("1:%d" % n, "+FLAGS", r"\Seen")
    assert typ == "OK"
    a.noop()                   # (the EXISTS may come with FETCH or STORE)
    assert int(a.untagged_responses["EXISTS"][-1]) == n + 1
    later = uids(a)
    assert later[:n] == first and later[n] > max(first)
    c = login(stack, u)
    assert exists(c, readonly=True) == n + 1
    typ, data = c.fetch("1:%d" % n, "(FLAGS)")
    assert typ == "OK" and len(data) == n
    for x in data:
        assert b"\\Seen" in x and b"\\Flagged" in x, x
    for m in (a, b_, c):
        m.logout()


# The index file as imapd wrote it before the extension existed.
def old_index(uidvalidity, uidnext, recs):
    out = b"MSIMAPI1" + struct.pack("=IIIIQ", uidvalidity, uidnext, uidnext,
                                    len(recs), 1)
    for uid, base in recs:
        rec = struct.pack("=IHHQqQ", uid, len(base), 0, 100, 1000000000, 1)
        rec += base
        rec += b"\0" * (-len(rec) % 8)
        out += rec
    return out


def test_index_without_the_extension_still_opens(stack):
    u = user(stack)
    md = stack.maildir(u)
    names = [deliver(stack, u, MSG) for _ in range(3)]
    m = login(stack, u)
    exists(m)                                 # creates the Maildir files
    m.logout()
    idx = md / "imapd.index"
    idx.write_bytes(old_index(4242, 30, [(5, names[0].encode()),
                                         (9, names[1].encode()),
                                         (17, names[2].encode())]))
    for _ in range(2):
        m = login(stack, u)
        typ, data = m.select("INBOX")
        assert int(data[0]) == 3
        assert m.untagged_responses["UIDVALIDITY"] == [b"4242"]
        assert m.untagged_responses["UIDNEXT"] == [b"30"]
        assert uids(m) == [5, 9, 17]
        m.logout()
    assert b"MSIMAPX1" in idx.read_bytes()    # the extension was added
    # A broken extension: ignored, the folder listed, the UIDs kept.
    raw = idx.read_bytes()
    at = raw.index(b"MSIMAPX1")
    wrong = raw[:at] + raw[at:].replace(names[1].encode(),
                                        b"X" * len(names[1]), 1)
    for broken in (raw[:-5], raw[:at + 40] + b"\x01" * 60 + raw[at + 100:],
                   wrong):
        idx.write_bytes(broken)
        deliver(stack, u, MSG)
        m = login(stack, u)
        n = exists(m)
        got = uids(m)
        assert got[:3] == [5, 9, 17] and len(got) == n
        assert len(set(got)) == n and got == sorted(got)
        m.logout()
    assert len(got) == 6


def test_status_and_examine_on_the_fast_path(stack):
    """STATUS and EXAMINE use the same sync: counts stay right."""
    u = user(stack)
    md = stack.maildir(u)
    for _ in range(3):
        deliver(stack, u, MSG)
    m = login(stack, u)
    exists(m)
    m.store("1", "+FLAGS", r"\Seen")
    m.logout()
    age(md)
    m = login(stack, u)
    exists(m, readonly=True)
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
    assert re.search(rb"MESSAGES 3 UNSEEN 2", data[0]), data
    deliver(stack, u, MSG)
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
    assert re.search(rb"MESSAGES 4 UNSEEN 3", data[0]), data
    m.logout()
