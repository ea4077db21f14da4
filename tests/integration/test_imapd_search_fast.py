"""imapd: SEARCH on header fields reads only the header, and BODY[] is exact.

SEARCH whose keys need no more than the top-level header (HEADER, SUBJECT,
FROM, SENT*, with flags, UIDs, sizes and dates) reads each file only up to
its first empty line; BODY and TEXT read and parse all of it. These tests
put message files with awkward shapes straight into the Maildir (folded
fields, a field after a very long one, no empty line at all, bare LF and
CR LF line ends, an empty line that straddles imapd's first read, a header
of hundreds of kB) and check, with imaplib, what SEARCH finds: the right
messages, never a "field" from the body, and the same answer as the full
read gives (the same keys with BODY "" added, which matches every message
but makes imapd read and parse all of it). FETCH BODY[] and RFC822.SIZE
must be the file with every bare LF turned into CR LF, octet for octet.
"""
import imaplib
import os
import re
import time

import pytest

from mailstack import MailStack

PASS = "secret-pw"
FIRST_READ = 8192       # imapd-mailbox.c IMAPD_READ_HEAD


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir):
    tmp = tmp_path_factory.mktemp("imapd-search-fast")
    s = MailStack(tmp, build_dir, listeners=("imap",),
                  extra="allow_plaintext_auth = yes\n")
    for i in range(1, 12):
        s.add_user("f%d@truc.test" % i, PASS)
    s.start()
    yield s
    s.stop()


_next = [0]


def user():
    _next[0] += 1
    return "f%d@truc.test" % _next[0]


def login(stack, u):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=30)
    m.login(u, PASS)
    return m


def put(stack, u, raw, info=""):
    """Write raw octets as a message file in new/ (tmp, then rename)."""
    d = stack.maildir(u)
    put.n += 1
    name = "%d.M%dP%dQ%d.test%s" % (int(time.time()), put.n, os.getpid(),
                                    put.n, info)
    (d / "tmp" / name).write_bytes(raw)
    os.rename(d / "tmp" / name, d / "new" / name)
    return name


put.n = 0


def crlf(raw):
    """What IMAP shows of a file: every bare LF as CR LF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def ids(c):
    """Message sequence number -> the X-Id field of each message."""
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (X-Id)])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            seq = int(item[0].split()[0])
            m = re.search(rb"X-Id: *(\S+)", item[1])
            out[seq] = m.group(1).decode() if m else None
    return out


def found(c, *keys):
    """The X-Ids of the messages SEARCH keys finds."""
    keys = ['"%s"' % k if " " in k else k for k in keys]
    typ, data = c.search(None, *keys)
    assert typ == "OK", data
    seqs = [int(x) for x in data[0].split()]
    names = ids(c)
    return {names[s] for s in seqs}


def both(c, *keys):
    """found() through the header-only path and through the full read."""
    fast = found(c, *keys)
    full = found(c, *keys, "BODY", '""')
    assert fast == full, (keys, fast, full)
    return fast


def body(c, seq):
    typ, data = c.fetch(str(seq), "(RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", data
    size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0][0]).group(1))
    return size, data[0][1]


def setup_box(stack, msgs):
    """A fresh user with msgs (X-Id -> raw octets), logged in, selected."""
    u = user()
    c = login(stack, u)
    for raw in msgs.values():
        put(stack, u, raw)
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == len(msgs), data
    return c


def test_folded_and_continuation_lines(stack):
    msgs = {
        "fold": b"X-Id: fold\nFrom: a@example.org\nSubject: project\n"
                b"\tmeeting notes\n  second fold\n\nbody text\n",
        "fake": b"X-Id: fake\nX-Note: something\n Subject: meeting\n"
                b"Subject: lunch\n\nSubject: meeting\n",
        "crlf": b"X-Id: crlf\r\nSubject: weekly\r\n meeting\r\n\r\nbody\r\n",
    }
    c = setup_box(stack, msgs)
    assert both(c, "SUBJECT", "meeting") == {"fold", "crlf"}
    assert both(c, "SUBJECT", "second fold") == {"fold"}
    assert both(c, "SUBJECT", "lunch") == {"fake"}
    assert both(c, "HEADER", "X-Note", "something") == {"fake"}
    # The body's "Subject:" line is text, not a field.
    assert both(c, "NOT", "SUBJECT", "meeting") == {"fake"}
    c.logout()


def test_field_after_very_long_field_and_huge_header(stack):
    long_field = b"X-Long: " + b"a" * 20000 + b"\n"
    many = b"".join(b"X-Pad-%d: %s\n" % (i, b"p" * 70)
                    for i in range(4000))        # about 320 kB of header
    msgs = {
        "long": b"X-Id: long\nFrom: a@example.org\n" + long_field +
                b"Subject: after the long one\n\nSubject: decoy\n",
        "huge": b"X-Id: huge\n" + many + b"Subject: at the very end\n"
                b"Date: Tue, 3 Mar 2020 10:00:00 +0000\n\n"
                b"Subject: decoy\nbody\n",
        "short": b"X-Id: short\nSubject: decoy in header\n\nbody\n",
    }
    assert len(msgs["huge"]) > 40 * FIRST_READ
    c = setup_box(stack, msgs)
    assert both(c, "SUBJECT", "after the long") == {"long"}
    assert both(c, "SUBJECT", "very end") == {"huge"}
    assert both(c, "SUBJECT", "decoy") == {"short"}
    assert both(c, "HEADER", "X-Pad-3999", "ppp") == {"huge"}
    assert both(c, "SENTON", "3-Mar-2020") == {"huge"}
    assert both(c, "SENTSINCE", "1-Jan-2020", "SUBJECT", "end") == {"huge"}
    c.logout()


def test_no_empty_line_and_no_final_newline(stack):
    msgs = {
        "nosep": b"X-Id: nosep\nFrom: a@example.org\nSubject: no separator\n",
        "noeol": b"X-Id: noeol\nSubject: no final newline",
        "empty": b"\nX-Id: empty\nSubject: in the body\n",
        "cr": b"X-Id: cr\nSubject: lone cr\n\r",
        "crlfempty": b"\r\nX-Id: crlfempty\r\nSubject: in the body\r\n",
        "crcr": b"\r\r\nX-Id: crcr\nSubject: in the body\n",
        "zero": b"",
    }
    c = setup_box(stack, msgs)
    assert both(c, "SUBJECT", "separator") == {"nosep"}
    assert both(c, "SUBJECT", "final newline") == {"noeol"}
    # A message that starts with an empty line has an empty header.
    assert both(c, "SUBJECT", "in the body") == set()
    assert both(c, "SUBJECT", "lone cr") == {"cr"}
    # Some have no X-Id in their header: compare all the bodies at once.
    got = []
    for seq in ids(c):
        size, text = body(c, seq)
        assert size == len(text)
        got.append(text)
    assert sorted(got) == sorted(crlf(m) for m in msgs.values())
    c.logout()


def test_empty_line_across_first_read(stack):
    """The empty line ends just before, at and after the first read."""
    msgs = {}
    for eol in (b"\n", b"\r\n"):
        for at in range(FIRST_READ - 3, FIRST_READ + 3):
            name = "b%d%s" % (at, "c" if eol == b"\r\n" else "l")
            head = b"X-Id: " + name.encode() + eol + b"X-Pad: "
            # The empty line's first octet at offset at.
            pad = at - len(head) - len(eol)
            raw = head + b"x" * pad + eol
            assert len(raw) == at
            msgs[name] = raw + eol + b"Subject: decoy" + eol + eol + b"b" + eol
    c = setup_box(stack, msgs)
    assert both(c, "SUBJECT", "decoy") == set()
    assert both(c, "HEADER", "X-Pad", "xxx") == set(msgs)
    names = ids(c)
    for seq, name in names.items():
        size, text = body(c, seq)
        assert text == crlf(msgs[name]) and size == len(text), name
    c.logout()


def test_line_ends_and_body_exact(stack):
    text = (b"X-Id: %s\nFrom: Alice <alice@example.org>\nSubject: ends\n"
            b"Date: Mon, 7 Feb 1994 21:52:25 -0800\n\n")
    big = b"".join(b"line %d of a long body\n" % i for i in range(40000))
    msgs = {
        "lf": text % b"lf" + b"one\ntwo\n",
        "crlf": (text % b"crlf").replace(b"\n", b"\r\n") + b"one\r\ntwo\r\n",
        "mixed": b"X-Id: mixed\r\nSubject: ends\nX-A: b\r\r\n\r\n"
                 b"a\rb\n\nc\r\n\r\rd",
        "big": text % b"big" + big,                 # about 1 MB
        "nul": text % b"nul" + b"a\0b\n\0\n",
    }
    c = setup_box(stack, msgs)
    assert both(c, "SUBJECT", "ends") == set(msgs)
    assert both(c, "FROM", "alice") == set(msgs) - {"mixed"}
    assert both(c, "SENTON", "7-Feb-1994") == set(msgs) - {"mixed"}
    assert both(c, "HEADER", "X-A", "b") == {"mixed"}
    names = ids(c)
    assert set(names.values()) == set(msgs)
    for seq, name in names.items():
        size, got = body(c, seq)
        assert got == crlf(msgs[name]), name
        assert size == len(got), name
    c.logout()


def test_wrong_size_in_file_name(stack):
    """The ,W= size is only a hint for the read: BODY[] stays exact."""
    u = user()
    c = login(stack, u)
    raws = {}
    for name, w in (("w", 10), ("v", 4)):
        raws[name] = (b"X-Id: %s\nSubject: sized\n\n" % name.encode() +
                      b"body line\n" * 5000)
        put(stack, u, raws[name], ",S=%d,W=%d" % (len(raws[name]),
                                                 w * len(raws[name])
                                                 if w == 4 else w))
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 2, data
    for seq, name in ids(c).items():
        size, got = body(c, seq)
        assert got == crlf(raws[name]) and size == len(got), name
    assert both(c, "SUBJECT", "sized") == {"w", "v"}
    c.logout()


def test_index_keys_with_header_keys(stack):
    msgs = {
        "a": b"X-Id: a\nSubject: report one\n\nx\n",
        "b": b"X-Id: b\nSubject: report two\n\nx\n",
        "c": b"X-Id: c\nSubject: other\n\nreport\n",
    }
    c = setup_box(stack, msgs)
    names = ids(c)
    seq_a = [s for s, n in names.items() if n == "a"][0]
    typ, _ = c.store(str(seq_a), "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    assert both(c, "UNSEEN", "SUBJECT", "report") == {"b"}
    assert both(c, "SEEN", "SUBJECT", "report") == {"a"}
    assert both(c, "OR", "SEEN", "SUBJECT", "other") == {"a", "c"}
    assert both(c, "NOT", "SUBJECT", "report", "UNSEEN") == {"c"}
    assert found(c, "BODY", "report") == {"c"}
    assert found(c, "TEXT", "report") == {"a", "b", "c"}
    c.logout()


def uid_map(c):
    """X-Id -> UID, read from the messages."""
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (X-Id)])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            out[re.search(rb"X-Id: *(\S+)", item[1]).group(1).decode()] = uid
    return out


def uid_found(c, m, *keys, literal=None):
    """The X-Ids UID SEARCH keys finds (literal: a last UTF-8 string)."""
    if literal is not None:
        c.literal = literal
        keys = ("CHARSET", "UTF-8") + keys
    typ, data = c.uid("SEARCH", *keys)
    assert typ == "OK", data
    back = {v: k for k, v in m.items()}
    return {back[int(x)] for x in data[0].split()}


def test_header_values_are_kept_in_a_cache(stack):
    """A SEARCH on a header field keeps the values it read in the folder
    (imapd.cache.FIELD): the next SEARCH on that field, whatever the
    string, answers without reading the messages (here they are made
    unreadable to show it), new messages are read and added, and a
    damaged cache file is ignored and written again."""
    msgs = {
        "p": b"X-Id: p\nSubject: Project plan\n\nx\n",
        "q": b"X-Id: q\nSubject: =?UTF-8?Q?caf=C3=A9_meeting?=\n\nx\n",
        "r": b"X-Id: r\nFrom: someone@example.org\n\nno subject\n",
        "s": b"X-Id: s\nSubject: project\n meeting, folded\n\nx\n",
    }
    u = "f11@truc.test"
    c = login(stack, u)
    for raw in msgs.values():
        put(stack, u, raw)
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 4
    m = uid_map(c)
    assert uid_found(c, m, "SUBJECT", "project") == {"p", "s"}
    md = stack.maildir(u)
    cache = md / "imapd.cache.subject"
    assert cache.is_file()
    files = {p: p.stat().st_mode for sub in ("new", "cur")
             for p in (md / sub).iterdir()}
    for p in files:
        p.chmod(0)
    try:
        assert uid_found(c, m, "SUBJECT", "meeting") == {"q", "s"}
        assert uid_found(c, m, "SUBJECT", literal="CAFÉ M".encode()) == \
            {"q"}
        assert uid_found(c, m, "NOT", "SUBJECT", "project") == {"q", "r"}
        assert uid_found(c, m, "HEADER", "subject", '""') == \
            {"p", "q", "s"}
        # Another field is not in that cache: the messages cannot be read.
        assert uid_found(c, m, "FROM", "someone") == set()
    finally:
        for p, mode in files.items():
            p.chmod(mode)
    put(stack, u, b"X-Id: t\nSubject: late project\n\nx\n")
    c.noop()
    m = uid_map(c)
    assert uid_found(c, m, "SUBJECT", "project") == {"p", "s", "t"}
    assert uid_found(c, m, "FROM", "someone") == {"r"}
    # A damaged cache: ignored, the answer read from the files, rewritten.
    cache.write_bytes(b"MSIMAPC1" + b"\xff" * 40)
    assert uid_found(c, m, "SUBJECT", "project") == {"p", "s", "t"}
    assert cache.read_bytes()[:8] == b"MSIMAPC1" and \
        len(cache.read_bytes()) > 48
    c.logout()
