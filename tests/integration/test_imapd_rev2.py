"""imapd: IMAP4rev2 (RFC 9051) and the extensions it folds in.

One MailStack (maild + imapd on loopback) serves the module; each test has
its own user. Raw transcripts check what a client sees: the capability
list, ENABLE IMAP4rev2 and what changes with it (no RECENT, no \\Recent,
ESEARCH for SEARCH, a LIST line in SELECT, \\NonExistent), ESEARCH RETURN
options (RFC 4731) and SEARCHRES "$" (RFC 5182), LIST-EXTENDED selection
and return options (RFC 5258, RFC 6154) and LIST-STATUS (RFC 5819), STATUS
SIZE and DELETED, literal limits with LITERAL+, and SEARCH over decoded
text: base64 and quoted-printable bodies, ISO-8859-1 parts and RFC 2047
encoded words in headers, compared without regard to case.
"""
import base64
import imaplib
import re

import pytest

from mailstack import MailStack
from test_imapd import Raw, deliver

PASS = "secret-pw"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir):
    tmp = tmp_path_factory.mktemp("imapd-rev2")
    s = MailStack(tmp, build_dir, listeners=("imap",),
                  extra="allow_plaintext_auth = yes\n")
    for i in range(1, 21):
        s.add_user("r%d@truc.test" % i, PASS)
    s.start()
    yield s
    s.stop()


_next = [0]


def user():
    _next[0] += 1
    return "r%d@truc.test" % _next[0]


class Session(Raw):
    """A logged-in raw session that numbers its own tags."""

    def __init__(self, stack, u):
        super().__init__(stack.port["imap"])
        self.n = 0
        out = self.cmd("LOGIN %s %s" % (u, PASS))
        assert out[-1].split(b" ")[1] == b"OK", out

    def cmd(self, text, data=b""):
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + text.encode() + b"\r\n" + data)
        out = self.until(tag)
        self.last = out[-1]
        return out

    def ok(self, text):
        out = self.cmd(text)
        assert out[-1].split(b" ")[1] == b"OK", out
        return out


def tag_of(out):
    return out[-1].split(b" ")[0].decode()


def untagged(out, word):
    """The untagged lines whose response name is word."""
    r = []
    for l in out:
        parts = l.rstrip(b"\r\n").split(b" ")
        if len(parts) > 1 and parts[0] == b"*" and (
                parts[1] == word or (len(parts) > 2 and parts[2] == word)):
            r.append(l.rstrip(b"\r\n"))
    return r


def msg(subject, body=b"hello\r\n", extra=b""):
    return (b"From: Alice <alice@example.org>\r\nTo: bob@truc.test\r\n"
            b"Subject: " + subject + b"\r\n" + extra +
            b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n" + body)


def test_capability_and_enable(stack):
    s = Session(stack, user())
    caps = untagged(s.ok("CAPABILITY"), b"CAPABILITY")[0].split(b" ")
    for c in (b"IMAP4rev1", b"IMAP4rev2", b"ESEARCH", b"SEARCHRES",
              b"LIST-EXTENDED", b"LIST-STATUS", b"STATUS=SIZE",
              b"SPECIAL-USE", b"UNSELECT", b"MOVE", b"NAMESPACE",
              b"LITERAL+"):
        assert c in caps
    # RFC 7888: LITERAL+ or LITERAL-, never both.
    assert b"LITERAL-" not in caps
    out = s.ok("ENABLE IMAP4rev2")
    assert untagged(out, b"ENABLED") == [b"* ENABLED IMAP4rev2"]
    # Enabling again lists nothing; unknown names are ignored.
    out = s.ok("ENABLE IMAP4rev2 X-UNKNOWN")
    assert untagged(out, b"ENABLED") == [b"* ENABLED"]
    s.close()


def test_rev2_select_recent_and_search(stack):
    u = user()
    for i in range(3):
        deliver(stack, u, msg(b"m%d" % i))
    # rev1 first: RECENT, \Recent and SEARCH as RFC 3501 has them.
    s = Session(stack, u)
    out = s.ok("SELECT INBOX")
    assert untagged(out, b"RECENT") == [b"* 3 RECENT"]
    assert any(b"[UNSEEN 1]" in l for l in out)
    out = s.ok("FETCH 1 FLAGS")
    assert b"\\Recent" in out[0]
    assert untagged(s.ok("SEARCH ALL"), b"SEARCH") == [b"* SEARCH 1 2 3"]
    s.close()
    s = Session(stack, u)
    s.ok("ENABLE IMAP4rev2")
    deliver(stack, u, msg(b"m3"))
    out = s.ok("SELECT INBOX")
    assert untagged(out, b"RECENT") == []
    assert not any(b"[UNSEEN" in l for l in out)
    assert untagged(out, b"EXISTS") == [b"* 4 EXISTS"]
    assert untagged(out, b"LIST") == [b'* LIST (\\HasNoChildren) "." "INBOX"']
    out = s.ok("FETCH 4 FLAGS")
    assert b"\\Recent" not in out[0] and b"FLAGS ()" in out[0]
    # SEARCH answers ESEARCH (RETURN (ALL) by default).
    out = s.ok("SEARCH ALL")
    assert untagged(out, b"SEARCH") == []
    assert untagged(out, b"ESEARCH") == [
        b'* ESEARCH (TAG "%s") ALL 1:4' % tag_of(out).encode()]
    out = s.ok("UID SEARCH SUBJECT nomatch")
    assert untagged(out, b"ESEARCH") == [
        b'* ESEARCH (TAG "%s") UID' % tag_of(out).encode()]
    # New mail: EXISTS but no RECENT.
    deliver(stack, u, msg(b"m4"))
    out = s.ok("NOOP")
    assert untagged(out, b"EXISTS") == [b"* 5 EXISTS"]
    assert untagged(out, b"RECENT") == []
    # STATUS RECENT is gone from IMAP4rev2; DELETED and SIZE are there.
    s.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    s.cmd("STATUS INBOX (RECENT)")
    assert s.last.split(b" ")[1] == b"BAD"
    out = s.ok("STATUS INBOX (MESSAGES DELETED SIZE)")
    m = re.match(rb"\* STATUS \"INBOX\" \(MESSAGES 5 DELETED 1 SIZE (\d+)\)",
                 untagged(out, b"STATUS")[0])
    assert m and int(m.group(1)) == 5 * len(msg(b"m0"))
    s.close()


def test_esearch_return_options(stack):
    u = user()
    s = Session(stack, u)
    for i in range(6):
        s.cmd("APPEND INBOX {%d+}" % len(msg(b"e%d" % i)),
              msg(b"e%d" % i) + b"\r\n")
        assert s.last.split(b" ")[1] == b"OK"
    s.ok("SELECT INBOX")
    s.ok("STORE 2,4:5 +FLAGS.SILENT (\\Flagged)")
    out = s.ok("SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED")
    tag = out[-1].split(b" ")[0].decode()
    assert untagged(out, b"ESEARCH") == [
        ('* ESEARCH (TAG "%s") MIN 2 MAX 5 ALL 2,4:5 COUNT 3' % tag).encode()]
    out = s.ok("UID SEARCH RETURN (COUNT) UNFLAGGED")
    tag = out[-1].split(b" ")[0].decode()
    assert untagged(out, b"ESEARCH") == [
        ('* ESEARCH (TAG "%s") UID COUNT 3' % tag).encode()]
    out = s.ok("SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nothing")
    tag = out[-1].split(b" ")[0].decode()
    assert untagged(out, b"ESEARCH") == [
        ('* ESEARCH (TAG "%s") COUNT 0' % tag).encode()]
    out = s.ok("SEARCH RETURN () 1:3")
    assert untagged(out, b"ESEARCH")[0].endswith(b" ALL 1:3")
    s.cmd("SEARCH RETURN (PARTIAL 1:2) ALL")
    assert s.last.split(b" ")[1] == b"BAD"
    # Without RETURN and without IMAP4rev2: the old SEARCH reply.
    assert untagged(s.ok("SEARCH FLAGGED"), b"SEARCH") == [
        b"* SEARCH 2 4 5"]
    s.close()


def test_searchres_saved_result(stack):
    u = user()
    for i in range(5):
        deliver(stack, u, msg(b"s%d" % i))
    s = Session(stack, u)
    s.ok("SELECT INBOX")
    s.ok("STORE 1,3 +FLAGS.SILENT (\\Answered)")
    # SAVE alone: no ESEARCH.
    out = s.ok("SEARCH RETURN (SAVE) ANSWERED")
    assert untagged(out, b"ESEARCH") == [] and untagged(out, b"SEARCH") == []
    out = s.ok("FETCH $ (UID FLAGS)")
    assert [l.split(b" ")[1] for l in untagged(out, b"FETCH")] == [b"1", b"3"]
    s.ok("STORE $ +FLAGS.SILENT (\\Seen)")
    assert untagged(s.ok("SEARCH SEEN"), b"SEARCH") == [b"* SEARCH 1 3"]
    assert untagged(s.ok("SEARCH NOT $"), b"SEARCH") == [b"* SEARCH 2 4 5"]
    assert untagged(s.ok("UID SEARCH UID $"), b"SEARCH")[0].count(b" ") == 3
    # MIN without ALL saves only the lowest.
    s.ok("SEARCH RETURN (SAVE MIN) ALL")
    assert untagged(s.ok("SEARCH $"), b"SEARCH") == [b"* SEARCH 1"]
    s.ok("SEARCH RETURN (SAVE) 2:3")
    out = s.ok("COPY $ INBOX")
    assert b"[COPYUID " in out[-1]
    assert untagged(out, b"EXISTS") == [b"* 7 EXISTS"]
    # The saved result follows messages through EXPUNGE (it holds UIDs).
    s.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    s.ok("EXPUNGE")
    assert untagged(s.ok("SEARCH $"), b"SEARCH") == [b"* SEARCH 2"]
    # A SEARCH ... SAVE that fails empties it (RFC 5182 2.1).
    s.ok("SEARCH RETURN (SAVE) ALL")
    s.cmd("SEARCH RETURN (SAVE) BOGUSKEY")
    assert s.last.split(b" ")[1] == b"BAD"
    assert untagged(s.ok("SEARCH $"), b"SEARCH") == [b"* SEARCH"]
    # Closing the mailbox forgets it.
    s.ok("SEARCH RETURN (SAVE) ALL")
    s.ok("UNSELECT")
    s.ok("SELECT INBOX")
    assert untagged(s.ok("SEARCH $"), b"SEARCH") == [b"* SEARCH"]
    s.close()


def test_list_extended(stack):
    u = user()
    s = Session(stack, u)
    for f in ("Work", "Work.2024", "Old"):
        s.ok("CREATE %s" % f)
    s.ok("SUBSCRIBE INBOX")
    s.ok("SUBSCRIBE Work.2024")
    s.ok("SUBSCRIBE Gone")          # subscribed, never created
    out = s.ok('LIST (SUBSCRIBED) "" "*"')
    lines = sorted(untagged(out, b"LIST"))
    assert lines == sorted([
        b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"',
        b'* LIST (\\HasNoChildren \\Subscribed) "." "Work.2024"',
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." "Gone"',
    ])
    out = s.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    lines = sorted(untagged(out, b"LIST"))
    assert lines == sorted([
        b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"',
        b'* LIST (\\HasChildren) "." "Work" ("CHILDINFO" ("SUBSCRIBED"))',
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." "Gone"',
    ])
    s.cmd('LIST (RECURSIVEMATCH) "" "*"')
    assert s.last.split(b" ")[1] == b"BAD"
    # New users get the five special-use folders.
    out = s.ok('LIST (SPECIAL-USE) "" "*"')
    assert sorted(untagged(out, b"LIST")) == sorted([
        b'* LIST (\\HasNoChildren \\%s) "." "%s"' % (n, n)
        for n in (b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive")])
    out = s.ok('LIST "" ("INBOX" "Work*") RETURN (SUBSCRIBED CHILDREN)')
    assert sorted(untagged(out, b"LIST")) == sorted([
        b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"',
        b'* LIST (\\HasChildren) "." "Work"',
        b'* LIST (\\HasNoChildren \\Subscribed) "." "Work.2024"'])
    out = s.ok('LIST "" "%" RETURN (SPECIAL-USE)')
    assert b'* LIST (\\HasNoChildren \\Sent) "." "Sent"' in \
        untagged(out, b"LIST")
    s.cmd('LIST "" "*" RETURN (BOGUS)')
    assert s.last.split(b" ")[1] == b"BAD"
    s.cmd('LIST (BOGUS) "" "*"')
    assert s.last.split(b" ")[1] == b"BAD"
    s.close()


def test_list_status(stack):
    u = user()
    deliver(stack, u, msg(b"a"))
    deliver(stack, u, msg(b"b"))
    s = Session(stack, u)
    s.ok("CREATE Box")
    s.ok("CREATE Par.Kid")
    out = s.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    st = untagged(out, b"STATUS")
    assert b'* STATUS "INBOX" (MESSAGES 2 UNSEEN 2 SIZE %d)' % (
        2 * len(msg(b"a"))) in st
    assert b'* STATUS "Box" (MESSAGES 0 UNSEEN 0 SIZE 0)' in st
    assert b'* STATUS "Par.Kid" (MESSAGES 0 UNSEEN 0 SIZE 0)' in st
    # No STATUS for a level that is no mailbox; each STATUS follows its LIST.
    assert not any(b" Par (" in l for l in st)
    names = [l for l in out if l.startswith((b"* LIST", b"* STATUS"))]
    for i, l in enumerate(names):
        if l.startswith(b"* STATUS"):
            assert names[i - 1].startswith(b"* LIST")
    s.cmd('LIST "" "*" RETURN (STATUS (BOGUS))')
    assert s.last.split(b" ")[1] == b"BAD"
    s.close()


def test_rev2_list_nonexistent_parent(stack):
    u = user()
    s = Session(stack, u)
    s.ok("CREATE A.B")
    out = s.ok('LIST "" "A"')
    assert untagged(out, b"LIST") == [b'* LIST (\\Noselect \\HasChildren) "." "A"']
    s.ok("ENABLE IMAP4rev2")
    out = s.ok('LIST "" "A"')
    assert untagged(out, b"LIST") == [
        b'* LIST (\\NonExistent \\HasChildren) "." "A"']
    s.close()


def test_literal_limits(stack):
    s = Session(stack, user())
    s.ok("ENABLE IMAP4rev2")
    # A non-synchronising literal within the limit works (LITERAL+).
    s.cmd('CREATE {5+}', b"Small\r\n")
    assert s.last.split(b" ")[1] == b"OK"
    # A synchronising one too large gets NO [TOOBIG] and no "+".
    s.n += 1
    s.send(b"t%d CREATE {4294967296}\r\n" % s.n)
    l = s.line()
    assert l.startswith(b"t%d NO [TOOBIG]" % s.n)
    # A non-synchronising one too large ends the session.
    s.send(b"x CREATE {4294967296+}\r\n")
    l = s.line()
    assert l.startswith(b"* BYE [TOOBIG]")
    assert s.closed()


B64_BODY = base64.encodebytes("Grüße aus Köln, café\r\n".encode())
LATIN1_QP = b"Caf=E9 cr=E8me br=FBl=E9e, =C9COLE\r\n"
MIME_MSG = (
    b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\n"
    b"To: bob@truc.test\r\n"
    b"Subject: =?UTF-8?B?w4lsw6h2ZQ==?= =?ISO-8859-1?Q?d=E9j=E0?= vu\r\n"
    b"X-Tag: =?utf-8?q?tag_value?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=xx\r\n\r\n"
    b"--xx\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" +
    B64_BODY.replace(b"\n", b"\r\n") +
    b"--xx\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + LATIN1_QP +
    b"--xx\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: =?UTF-8?Q?inner_s=C3=BCbject?=\r\n\r\ninner body\r\n"
    b"--xx\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" +
    base64.encodebytes(b"secretattachmentword").replace(b"\n", b"\r\n") +
    b"--xx--\r\n")


@pytest.fixture(scope="module")
def mime_user(stack):
    u = user()
    s = Session(stack, u)
    s.cmd("APPEND INBOX {%d+}" % len(MIME_MSG), MIME_MSG + b"\r\n")
    assert s.last.split(b" ")[1] == b"OK"
    s.cmd("APPEND INBOX {%d+}" % len(msg(b"other")), msg(b"other") + b"\r\n")
    s.close()
    return u


@pytest.mark.parametrize("key,text,hit", [
    ("BODY", "grüße", True),
    ("BODY", "GRÜSSE", False),
    ("BODY", "GRÜßE AUS", True),       # Ü folds to ü
    ("BODY", "CAFÉ", True),
    ("BODY", "crème brûlée", True),    # ISO-8859-1 quoted-printable
    ("BODY", "école", True),           # É in Latin-1 folds too
    ("BODY", "=E9", False),            # the encoded form is not searched
    ("BODY", "inner body", True),
    ("BODY", "inner Sübject", True),   # an attached message's header
    ("BODY", "secretattachmentword", False),  # not a text part
    ("BODY", "w4lsw6h2ZQ", False),
    ("SUBJECT", "élèvedéjà vu", True),  # space between words dropped
    ("SUBJECT", "ÉLÈVE", True),
    ("SUBJECT", "=?UTF-8", False),
    ("FROM", "jürgen", True),
    ("HEADER X-Tag", "TAG VALUE", True),
    ("TEXT", "ÉlèveDéjà", True),
    ("TEXT", "köln", True),
    ("TEXT", "nowhere", False),
])
def test_search_decoded(stack, mime_user, key, text, hit):
    s = Session(stack, mime_user)
    s.ok("EXAMINE INBOX")
    t = text.encode()
    out = s.cmd("SEARCH CHARSET UTF-8 %s {%d+}" % (key, len(t)),
                t + b"\r\n")
    assert s.last.split(b" ")[1] == b"OK", out
    assert untagged(out, b"SEARCH") == [b"* SEARCH 1" if hit else b"* SEARCH"]
    s.close()


def test_search_decoded_imaplib(stack):
    """The same through Python's imaplib, as a client would send it."""
    u = user()
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    m.login(u, PASS)
    m.append("INBOX", None, None, MIME_MSG)
    m.append("INBOX", None, None, msg(b"plain"))
    m.select("INBOX")
    m.literal = "café".encode()
    typ, data = m.search("UTF-8", "BODY")
    assert typ == "OK" and data == [b"1"]
    typ, data = m.search(None, "SUBJECT", "plain")
    assert data == [b"2"]
    m.logout()


def test_binary_decoded_once_same_answer(stack):
    """BINARY and BINARY.SIZE agree, and the decoded octets are right."""
    u = user()
    s = Session(stack, u)
    s.cmd("APPEND INBOX {%d+}" % len(MIME_MSG), MIME_MSG + b"\r\n")
    s.ok("SELECT INBOX")
    out = s.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.SIZE[2])")
    text = b"".join(out)
    want = "Grüße aus Köln, café\r\n".encode()
    assert b"BINARY.SIZE[1] %d" % len(want) in text
    assert b"BINARY[1] {%d}\r\n" % len(want) + want in text
    # The CRLF before a boundary belongs to the boundary (RFC 2046).
    assert b"BINARY.SIZE[2] %d" % len(
        b"Caf\xe9 cr\xe8me br\xfbl\xe9e, \xc9COLE") in text
    s.close()


def test_rev2_utf8_mailbox_names(stack):
    """After ENABLE IMAP4rev2 names are UTF-8 on the wire (RFC 9051 5.1),
    modified UTF-7 on disk and for IMAP4rev1 sessions."""
    u = user()
    s = Session(stack, u)
    s.ok("ENABLE IMAP4rev2")
    name = "Entwürfe & Co".encode()
    s.cmd("CREATE {%d+}" % len(name), name + b"\r\n")
    assert s.last.split(b" ")[1] == b"OK", s.last
    assert (stack.maildir(u) / ".Entw&APw-rfe &- Co" / "cur").is_dir()
    out = s.ok('LIST "" "Entw*"')
    assert b"".join(out).count(name) == 1
    assert b"&APw-" not in b"".join(out)
    out = s.cmd("SELECT {%d+}" % len(name), name + b"\r\n")
    assert s.last.split(b" ")[1] == b"OK"
    # SELECT's LIST line names the mailbox in UTF-8 (as a literal).
    lst = [l for l in out if l.startswith(b"* LIST ")]
    assert len(lst) == 1 and out[out.index(lst[0]) + 1].startswith(name)
    out = s.cmd("STATUS {%d+}" % len(name), name + b" (MESSAGES)\r\n")
    assert name in b"".join(out) and b"MESSAGES 0" in b"".join(out)
    # A name that is not UTF-8 is refused.
    s.cmd("CREATE {3+}", b"a\xffb\r\n")
    assert s.last.split(b" ")[1] == b"NO"
    s.close()
    r1 = Session(stack, u)
    out = r1.ok('LIST "" "Entw*"')
    assert untagged(out, b"LIST") == [
        b'* LIST (\\HasNoChildren) "." "Entw&APw-rfe &- Co"']
    r1.close()


def test_list_patterns_cannot_run_away(stack):
    """Many wildcards against a long name: linear matching, quick answer;
    and LIST-EXTENDED pattern lists obey the same wildcard rules."""
    import time
    s = Session(stack, user())
    s.ok("CREATE " + "a" * 150)
    s.ok("CREATE x.y.z")
    pat = "*a" * 49 + "%b"
    t = time.monotonic()
    out = s.ok('LIST "" ("%s" "%s")' % (pat, pat[:-2] + "*"))
    assert time.monotonic() - t < 5
    assert untagged(out, b"LIST") == [
        b'* LIST (\\HasNoChildren) "." "%s"' % (b"a" * 150)]
    out = s.ok('LIST "" ("x.%" "%.%.z" "x%z")')
    assert sorted(untagged(out, b"LIST")) == sorted([
        b'* LIST (\\Noselect \\HasChildren) "." "x.y"',
        b'* LIST (\\HasNoChildren) "." "x.y.z"'])
    s.close()
