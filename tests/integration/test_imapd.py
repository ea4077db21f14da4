"""imapd with Python's imaplib and raw transcripts over a real stack.

One MailStack (maild + imapd on loopback, plain and imaps) serves every test
of this module; each test uses its own user so tests do not see each
other's mail. Covers the commands imapd implements (login, STARTTLS, imaps,
SELECT/EXAMINE, LIST/LSUB/STATUS/CREATE/DELETE/RENAME/SUBSCRIBE, APPEND,
FETCH with sections and partials, STORE, SEARCH, COPY/MOVE with UIDPLUS,
EXPUNGE, UID forms, IDLE, NAMESPACE, ID, ENABLE), the SECURITY.md rows
I1-I9 and U2 as transcripts, and concurrency with deliveries written into
new/ while two sessions watch.
"""
import base64
import imaplib
import os
import re
import socket
import ssl
import time
from pathlib import Path

import pytest

from mailstack import MailStack, wait_for

PASS = "secret-pw"
MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@truc.test\r\n"
       b"Subject: hello there\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
       b"Message-ID: <m1@example.org>\r\n\r\nBody line one\r\nline two\r\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir, tls_cert):
    tmp = tmp_path_factory.mktemp("imapd")
    s = MailStack(tmp, build_dir, listeners=("imap", "imaps"), tls=tls_cert,
                  extra="allow_plaintext_auth = yes\n")
    users = ["u%d@truc.test" % i for i in range(1, 31)]
    for u in users:
        s.add_user(u, PASS)
    s.start()
    yield s
    s.stop()


_next = [0]


def user():
    _next[0] += 1
    return "u%d@truc.test" % _next[0]


def login(stack, u):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    m.login(u, PASS)
    return m


def deliver(stack, u, body, folder=""):
    """Write a message into new/ as deliver would (tmp, then rename)."""
    d = stack.maildir(u)
    if folder:
        d = d / ("." + folder)
    deliver.n += 1
    name = "%d.M%dP%dQ%d.test" % (int(time.time()), deliver.n, os.getpid(),
                                   deliver.n)
    tmp = d / "tmp" / name
    tmp.write_bytes(body.replace(b"\r\n", b"\n"))
    os.rename(tmp, d / "new" / name)
    return name


deliver.n = 0


class Raw:
    """A raw line connection for transcripts."""

    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                r, self.buf = self.buf, b""
                return r
            self.buf += d
        i = self.buf.index(b"\r\n") + 2
        r, self.buf = self.buf[:i], self.buf[i:]
        return r

    def until(self, tag):
        out = []
        for _ in range(100000):
            l = self.line()
            out.append(l)
            if l == b"" or l.startswith(tag + b" "):
                break
        return out

    def closed(self):
        try:
            for _ in range(1000):
                if self.line() == b"":
                    return True
        except OSError:
            return True
        return False

    def close(self):
        self.s.close()


def test_capability_and_login_plain(stack):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    assert "IMAP4REV1" in m.capabilities
    assert "STARTTLS" in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    typ, _ = m.login(user(), PASS)
    assert typ == "OK"
    assert m.noop()[0] == "OK"
    assert m.logout()[0] == "BYE"
    assert stack.log_lines(event="login", step="6")


def test_wrong_password_same_reply(stack):
    replies = []
    for who in (user(), "nobody@truc.test"):
        r = Raw(stack.port["imap"])
        r.send(b"a LOGIN %s wrong\r\n" % who.encode())
        replies.append(r.until(b"a")[-1])
        r.close()
    assert replies[0] == replies[1]
    assert replies[0].startswith(b"a NO [AUTHENTICATIONFAILED]")


def test_imaps_and_starttls(stack, tls_cert):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", stack.port["imaps"], ssl_context=ctx,
                          timeout=20)
    m.login(user(), PASS)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    m.starttls(ssl_context=ctx)
    m.login(user(), PASS)
    m.logout()


def test_authenticate_plain_sasl_ir(stack):
    import base64
    u = user()
    r = Raw(stack.port["imap"])
    tok = base64.b64encode(b"\0" + u.encode() + b"\0" + PASS.encode())
    r.send(b"a AUTHENTICATE PLAIN " + tok + b"\r\n")
    assert r.until(b"a")[-1].startswith(b"a OK")
    r.close()
    r = Raw(stack.port["imap"])
    r.send(b"b AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith(b"+")
    r.send(tok + b"\r\n")
    assert r.until(b"b")[-1].startswith(b"b OK")
    r.close()


def test_append_fetch_store_search(stack):
    u = user()
    m = login(stack, u)
    typ, data = m.append("INBOX", r"(\Flagged $Label1)",
                         imaplib.Time2Internaldate(784111777), MSG)
    assert typ == "OK"
    assert b"APPENDUID" in data[0]
    m.select("INBOX")
    typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    line = data[0].decode()
    assert "\\Flagged" in line and "$Label1" in line
    assert "RFC822.SIZE %d" % len(MSG) in line
    assert "06-Nov-1994 08:49:37 +0000" in line
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject From)])")
    assert data[0][1] == (b"From: Alice <alice@example.org>\r\n"
                          b"Subject: hello there\r\n\r\n")
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT]<5.8>)")
    assert data[0][1] == b"line one"
    typ, data = m.fetch("1", "(ENVELOPE)")
    env = data[0].decode()
    assert '"hello there"' in env and '"alice" "example.org"' in env
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    assert '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit"' in \
        data[0].decode()
    # BODY[] without PEEK sets \Seen.
    typ, data = m.fetch("1", "(BODY[1])")
    assert data[0][1] == b"Body line one\r\nline two\r\n"
    assert m.search(None, "SEEN")[1] == [b"1"]
    typ, data = m.store("1", "+FLAGS", r"(\Deleted)")
    assert "\\Deleted" in data[0].decode()
    assert m.search(None, "DELETED")[1] == [b"1"]
    assert m.search(None, "FROM", "alice")[1] == [b"1"]
    assert m.search(None, "SUBJECT", "nothing")[1] == [b""]
    assert m.search(None, "OR", "BODY", "two", "TO", "zzz")[1] == [b"1"]
    assert m.search(None, "NOT", "LARGER", "100000")[1] == [b"1"]
    assert m.search(None, "SENTON", "7-Feb-1994")[1] == [b"1"]
    assert m.uid("SEARCH", "ALL")[1][0] != b""
    typ, data = m.expunge()
    assert data == [b"1"]
    assert m.select("INBOX")[1] == [b"0"]
    m.logout()
    # The flags are in the Maildir file name, keywords in the keywords file.
    d = stack.maildir(u)
    assert "$Label1" in (d / "dovecot-keywords").read_text()


def test_folders(stack):
    u = user()
    m = login(stack, u)
    typ, data = m.list()
    text = b"\n".join(data).decode()
    for name, attr in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                       ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                       ("Archive", "\\Archive")):
        assert re.search(r'\(.*%s.*\) "\." "?%s"?' % (re.escape(attr), name),
                         text), text
    assert m.create("Work")[0] == "OK"
    assert m.create("Work.2024")[0] == "OK"
    assert m.create("Work")[0] == "NO"
    typ, data = m.list('""', "Work*")
    text = b"\n".join(data).decode()
    assert "\\HasChildren" in text and "Work.2024" in text
    assert (stack.maildir(u) / ".Work.2024" / "cur").is_dir()
    assert m.rename("Work", "Job")[0] == "OK"
    assert (stack.maildir(u) / ".Job.2024").is_dir()
    assert m.subscribe("Job")[0] == "OK"
    typ, data = m.lsub()
    assert b'"Job"' in b"".join(data)
    assert m.unsubscribe("Job")[0] == "OK"
    m.append("Job", None, None, MSG)
    typ, data = m.status("Job", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    assert b"MESSAGES 1" in data[0] and b"UNSEEN 1" in data[0]
    assert m.delete("Job")[0] == "OK"
    assert not (stack.maildir(u) / ".Job").exists()
    assert m.delete("INBOX")[0] == "NO"
    typ, data = m.namespace()
    assert b'(("" ".")) NIL NIL' in data[0]
    m.logout()


def test_copy_move_uidplus(stack):
    u = user()
    m = login(stack, u)
    for i in range(3):
        m.append("INBOX", None, None, MSG.replace(b"one", b"n%d" % i))
    m.select("INBOX")
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = m.uid("MOVE", "3", "Trash")
    assert typ == "OK"
    assert m.select("INBOX")[1] == [b"2"]
    assert m.select("Archive")[1] == [b"2"]
    assert m.select("Trash")[1] == [b"1"]
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    assert b"n2" in data[0][1]
    m.select("INBOX")
    m.store("1", "+FLAGS", r"\Deleted")
    typ, data = m.uid("EXPUNGE", "1:*")
    assert typ == "OK"
    assert m.copy("1", "NoSuchBox")[0] == "NO"
    m.logout()


def test_examine_is_read_only(stack):
    u = user()
    m = login(stack, u)
    m.append("INBOX", None, None, MSG)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    assert m.store("1", "+FLAGS", r"\Seen")[0] == "NO"
    m.fetch("1", "(BODY[])")
    m.select("INBOX")
    assert m.search(None, "UNSEEN")[1] == [b"1"]
    m.logout()


def test_idle_and_concurrent_delivery(stack):
    u = user()
    a = login(stack, u)
    b = login(stack, u)
    a.select("INBOX")
    b.select("INBOX")
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN %s %s\r\n" % (u.encode(), PASS.encode()))
    r.until(b"a")
    r.send(b"b SELECT INBOX\r\n")
    r.until(b"b")
    r.send(b"c IDLE\r\n")
    assert r.line().startswith(b"+")
    deliver(stack, u, MSG)
    line = r.line()
    for _ in range(5):
        if b"EXISTS" in line:
            break
        line = r.line()
    assert b"* 1 EXISTS" in line
    r.send(b"DONE\r\n")
    assert r.until(b"c")[-1].startswith(b"c OK")
    # Deliveries while both sessions append: UIDs strictly ascending, unique.
    for i in range(20):
        deliver(stack, u, MSG)
        (a if i % 2 else b).append("INBOX", None, None, MSG)
    uids = []
    for s in (a, b):
        s.noop()
        typ, data = s.uid("SEARCH", "ALL")
        uids.append([int(x) for x in data[0].split()])
    assert uids[0] == uids[1]
    assert len(uids[0]) == 41 and uids[0] == sorted(set(uids[0]))
    # Flags changed by one session reach the other.
    b.untagged_responses.pop("FETCH", None)
    a.store("1", "+FLAGS", r"\Flagged")
    b.noop()
    assert any(b"\\Flagged" in x for x in b.untagged_responses["FETCH"])
    # Expunge in one session, the other learns at NOOP; UIDs never reused.
    a.store("1:5", "+FLAGS", r"\Deleted")
    a.expunge()
    typ, data = b.noop()
    b.uid("SEARCH", "ALL")
    deliver(stack, u, MSG)
    typ, data = b.noop()
    typ, data = b.uid("SEARCH", "ALL")
    new = [int(x) for x in data[0].split()]
    assert len(new) == 37 and max(new) > max(uids[0])
    assert not set(new[-1:]) & set(uids[0])
    for s in (a, b):
        s.logout()
    r.close()


def test_index_rebuilt_keeps_uids(stack):
    u = user()
    m = login(stack, u)
    for _ in range(3):
        m.append("INBOX", None, None, MSG)
    m.select("INBOX")
    before = m.uid("SEARCH", "ALL")[1][0]
    typ, data = m.status("INBOX", "(UIDVALIDITY)")
    m.logout()
    idx = stack.maildir(u) / "imapd.index"
    raw = idx.read_bytes()
    idx.write_bytes(raw + b"\x07garbage")          # damaged tail
    m = login(stack, u)
    m.select("INBOX")
    assert m.uid("SEARCH", "ALL")[1][0] == before
    assert m.status("INBOX", "(UIDVALIDITY)")[1] == data
    m.logout()
    idx.unlink()                                    # missing: new UIDVALIDITY
    m = login(stack, u)
    m.select("INBOX")
    assert m.status("INBOX", "(UIDVALIDITY)")[1] != data
    assert len(m.uid("SEARCH", "ALL")[1][0].split()) == 3
    m.logout()


# --- SECURITY.md transcripts ------------------------------------------------

def test_i1_starttls_injection_and_logindisabled(stack, tmp_path, build_dir,
                                                 tls_cert):
    s = MailStack(tmp_path, build_dir, listeners=("imap",), tls=tls_cert)
    s.add_user("v@truc.test", PASS)
    s.start()
    try:
        r = Raw(s.port["imap"])
        assert b"LOGINDISABLED" in r.greeting
        r.send(b"x LOGIN v@truc.test " + PASS.encode() + b"\r\n")
        assert r.until(b"x")[-1].startswith(b"x NO [PRIVACYREQUIRED]")
        r.send(b"a STARTTLS\r\nb NOOP\r\n")
        assert r.until(b"a")[-1].startswith(b"a OK")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        r.s = ctx.wrap_socket(r.s)
        r.buf = b""
        r.send(b"c CAPABILITY\r\n")
        out = r.until(b"c")
        assert not any(l.startswith(b"b ") for l in out), out
        assert b"AUTH=PLAIN" in out[0]
        r.send(b"d LOGIN v@truc.test " + PASS.encode() + b"\r\n")
        assert r.until(b"d")[-1].startswith(b"d OK")
        r.close()
    finally:
        s.stop()


def test_i2_huge_literals(stack):
    u = user()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN {100000000}\r\n")
    assert r.line().startswith(b"a NO [TOOBIG]")
    r.send(b"b LOGIN %s %s\r\n" % (u.encode(), PASS.encode()))
    assert r.until(b"b")[-1].startswith(b"b OK")
    for lit in (b"{4294967296}", b"{18446744073709551616}"):
        r.send(b"c APPEND INBOX " + lit + b"\r\n")
        l = r.line()
        assert l.startswith(b"c NO [TOOBIG]"), l
    r.send(b"d APPEND INBOX {4294967296+}\r\n")
    assert r.line().startswith(b"* BYE [TOOBIG]")
    assert r.closed()


def test_i3_many_literals(stack):
    u = user()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN %s %s\r\n" % (u.encode(), PASS.encode()))
    r.until(b"a")
    r.send(b"b APPEND INBOX {1+}\r\nx" + b" {1+}\r\nx" * 2000 + b"\r\n")
    out = r.until(b"b")
    # BYE, then the connection closes (the BYE may be lost to the reset).
    assert out[-1] in (b"",) or out[-1].startswith(b"* BYE")
    assert r.closed()


def test_i4_nesting(stack):
    r = Raw(stack.port["imap"])
    r.send(b"a NOOP " + b"(" * 4000 + b")" * 4000 + b"\r\n")
    assert r.line().startswith(b"a BAD")
    r.send(b"b LOGIN %s %s\r\n" % (user().encode(), PASS.encode()))
    r.until(b"b")
    r.send(b"c SELECT INBOX\r\n")
    r.until(b"c")
    r.send(b"d SEARCH " + b"(" * 20000 + b"ALL" + b")" * 20000 + b"\r\n")
    assert r.line().startswith(b"d BAD")
    r.send(b"e SEARCH " + b"NOT " * 10000 + b"ALL\r\n")
    assert r.line().startswith(b"e BAD")
    r.send(b"f NOOP\r\n")
    assert r.line().startswith(b"f OK")
    r.close()


def test_i5_sequence_sets(stack):
    u = user()
    m = login(stack, u)
    for _ in range(10):
        m.append("INBOX", None, None, MSG)
    m.logout()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (u.encode(),
                                                    PASS.encode()))
    r.until(b"b")
    t = time.monotonic()
    r.send(b"c FETCH 1:4294967295 FLAGS\r\n")
    assert r.until(b"c")[-1].startswith(b"c BAD")
    r.send(b"c2 UID FETCH 1:4294967295 FLAGS\r\n")
    out = r.until(b"c2")
    assert out[-1].startswith(b"c2 OK") and len(out) == 11
    assert time.monotonic() - t < 10
    for bad in (b"0", b"4294967296", b"1:0", b"*:0"):
        r.send(b"d FETCH " + bad + b" FLAGS\r\n")
        assert r.until(b"d")[-1].startswith(b"d BAD"), bad
    r.send(b"e FETCH " + b"1:*," * 16000 + b"1 FLAGS\r\n")
    out = r.until(b"e")
    assert out[-1].startswith(b"e OK") or out[-1].startswith(b"e BAD")
    r.send(b"f NOOP\r\n")
    assert r.until(b"f")[-1].startswith(b"f OK")
    r.close()


def test_i6_paths(stack):
    u = user()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN %s %s\r\n" % (u.encode(), PASS.encode()))
    r.until(b"a")
    for cmd in (b"CREATE ../../tmp/x", b"SELECT ../bob/INBOX",
                b"RENAME INBOX ../x", b"CREATE &AGE", b"CREATE ~root",
                b"CREATE a/b", b"CREATE .hidden", b"CREATE a..b",
                b'CREATE "a\x01b"'):
        r.send(b"t " + cmd + b"\r\n")
        l = r.until(b"t")[-1]
        assert l.startswith(b"t NO") or l.startswith(b"t BAD"), (cmd, l)
    r.send(b"t CREATE {3}\r\n")
    assert r.line().startswith(b"+")
    r.send(b"a\x00b\r\n")
    l = r.until(b"t")[-1]
    assert l.startswith(b"t NO") or l.startswith(b"t BAD")
    r.send(b'l LIST "" ../*\r\n')
    out = r.until(b"l")
    assert out == [b"l OK LIST completed\r\n"] or \
        not any(b"/" in x for x in out[:-1])
    r.close()
    root = stack.maildir(u)
    assert not (root.parent / "x").exists()
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) \
        == [".Archive", ".Drafts", ".Junk", ".Sent", ".Trash"]


def test_i7_i8_hostile_mime(stack):
    u = user()
    nested = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    body = b""
    for _ in range(5000):
        body += b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    siblings = b"Content-Type: multipart/mixed; boundary=s\r\n\r\n" + \
        b"--s\r\n\r\nx\r\n" * 100000 + b"--s--\r\n"
    rfc822 = b"Content-Type: message/rfc822\r\n\r\n" * 1000 + b"x\r\n"
    many_to = b"To: " + b", ".join(b"a%d@x" % i for i in range(100000)) + \
        b"\r\nFrom: (c\\"
    params = b"Content-Type: text/plain" + \
        b"".join(b"; p%d*0*=x" % i for i in range(10000)) + b"\r\n\r\nx"
    for msg in (nested + body, siblings, rfc822, many_to, params):
        deliver(stack, u, msg)
    m = login(stack, u)
    m.select("INBOX")
    t = time.monotonic()
    for i in range(1, 6):
        typ, data = m.fetch(str(i), "(BODYSTRUCTURE ENVELOPE)")
        assert typ == "OK"
    typ, data = m.search(None, "HEADER", "To", "a99999@x")
    assert typ == "OK"
    assert time.monotonic() - t < 60
    m.logout()


def test_i9_idle_garbage_and_bad_input(stack):
    u = user()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\nc IDLE\r\n" %
           (u.encode(), PASS.encode()))
    r.until(b"b")
    assert r.line().startswith(b"+")
    r.send(b"x" * (1024 * 1024) + b"\r\n")
    assert r.closed()
    r = Raw(stack.port["imap"])
    for cmd in (b"a FROBNICATE", b"b SELECT INBOX", b"c FETCH 1 FLAGS"):
        r.send(cmd + b"\r\n")
        assert r.line().split(b" ")[1] == b"BAD", cmd
    r.close()


def test_u2_bad_commands_disconnect(stack):
    r = Raw(stack.port["imap"])
    for i in range(20):
        r.send(b"x%d JUNK\r\n" % i)
    assert r.closed()


def test_session_cap(stack):
    u = user()
    conns = [login(stack, u) for _ in range(10)]
    with pytest.raises(imaplib.IMAP4.error):
        login(stack, u)
    for c in conns:
        c.logout()
    login(stack, u).logout()


def test_config_limits(tmp_path, build_dir):
    """imap_login_timeout, imap_command_timeout, imap_literal_max and
    imap_max_sessions_per_user_ip from mailstack.conf take effect."""
    s = MailStack(tmp_path, build_dir, listeners=("imap",),
                  extra="allow_plaintext_auth = yes\n"
                        "imap_login_timeout = 2s\n"
                        "imap_command_timeout = 2s\n"
                        "imap_literal_max = 100\n"
                        "imap_max_sessions_per_user_ip = 2\n")
    s.add_user("w@truc.test", PASS)
    s.start()
    try:
        # Silent before login: sent away after about 2 s (not 60 s).
        r = Raw(s.port["imap"])
        t0 = time.monotonic()
        first = r.line()
        assert first.startswith(b"* BYE"), first
        assert r.closed()
        assert 1.0 <= time.monotonic() - t0 < 20
        # A literal over imap_literal_max: NO [TOOBIG] and no "+".
        r = Raw(s.port["imap"])
        r.send(b"a LOGIN w@truc.test %s\r\n" % PASS.encode())
        assert r.until(b"a")[-1].startswith(b"a OK")
        r.send(b"b SELECT {101}\r\n")
        assert r.line().startswith(b"b NO [TOOBIG]")
        r.send(b"c SELECT {5}\r\n")
        assert r.line().startswith(b"+")
        r.send(b"INBOX\r\n")
        assert r.until(b"c")[-1].startswith(b"c OK")
        # A command whose literal never comes: closed after about 2 s.
        r.send(b"d SELECT {5}\r\n")
        assert r.line().startswith(b"+")
        t0 = time.monotonic()
        assert r.closed()
        assert 1.0 <= time.monotonic() - t0 < 20
        # Two sessions per user and address, not ten.
        conns = [login(s, "w@truc.test") for _ in range(2)]
        with pytest.raises(imaplib.IMAP4.error, match="LIMIT"):
            login(s, "w@truc.test")
        for c in conns:
            c.logout()
    finally:
        s.stop()
    assert "reason=too-many-sessions" in s.log_text()


def test_logs(stack):
    text = stack.log_text()
    assert re.search(r"imapd\[\d+\]: event=select .*step=6 .*mailbox=INBOX"
                     r" messages=\d+", text)
    assert re.search(r"event=logout .*step=7 .*messages=\d+ octets=\d+",
                     text)


BIN_PAYLOAD = bytes(range(256)) * 3
BIN_MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@truc.test\r\n"
           b"Subject: binary\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"caf=C3=A9 soft=\r\nbreak =3D done\r\n"
           b"--XX\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" +
           b"\r\n".join(base64.encodebytes(BIN_PAYLOAD).splitlines()) +
           b"\r\n"
           b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           b"caf\xc3\xa9 8bit\r\n"
           b"--XX\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
           b"begin 644 f\r\n`\r\nend\r\n"
           b"--XX\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           b"SGVsbG8=\r\n"
           b"--XX--\r\n")


def raw_literal(r, tag):
    """Read a tagged command's replies, following {n} and ~{n} literals."""
    out = b""
    while True:
        l = r.line()
        assert l != b""
        out += l
        m_ = re.search(rb"~?\{(\d+)\}\r\n$", l)
        if m_:
            n = int(m_.group(1))
            while len(r.buf) < n:
                r.buf += r.s.recv(65536)
            out += r.buf[:n]
            r.buf = r.buf[n:]
            continue
        if l.startswith(tag + b" "):
            return out


def test_binary_capability(stack):
    m = imaplib.IMAP4("127.0.0.1", stack.port["imap"], timeout=20)
    assert "BINARY" in m.capabilities
    m.login(user(), PASS)
    assert "BINARY" in m.capabilities or \
        b"BINARY" in m.capability()[1][0]
    m.logout()


def test_binary_fetch(stack):
    u = user()
    m = login(stack, u)
    assert m.append("INBOX", None, None, BIN_MSG)[0] == "OK"
    m.select("INBOX")
    # QP part, decoded, PEEK leaves \Seen alone.
    typ, data = m._simple_command("FETCH", "1", "(BINARY.PEEK[1])")
    assert typ == "OK"
    typ, data = m._untagged_response(typ, data, "FETCH")
    assert data[0][0].endswith(b"BINARY[1] {22}")
    assert data[0][1] == b"caf\xc3\xa9 softbreak = done"
    assert m.search(None, "SEEN")[1] == [b""]
    # 8bit part as it is.
    typ, data = m.fetch("1", "(BINARY.PEEK[3])")
    assert data[0][1] == b"caf\xc3\xa9 8bit"
    # base64 part without NUL octets: an ordinary literal.
    typ, data = m.fetch("1", "(BINARY.PEEK[5])")
    assert data[0][1] == b"Hello"
    # Sizes are decoded sizes.
    typ, data = m.fetch("1", "(BINARY.SIZE[1] BINARY.SIZE[2] "
                        "BINARY.SIZE[3] BINARY.SIZE[5])")
    line = data[0].decode()
    assert "BINARY.SIZE[1] 22" in line
    assert "BINARY.SIZE[2] %d" % len(BIN_PAYLOAD) in line
    assert "BINARY.SIZE[3] 10" in line
    assert "BINARY.SIZE[5] 5" in line
    # Partial of the decoded data, by UID too.
    typ, data = m.uid("FETCH", "1:*", "(BINARY.PEEK[1]<3.5>)")
    assert typ == "OK"
    assert data[0][0].endswith(b"BINARY[1]<3> {5}")
    assert data[0][1] == b"\xc3\xa9 so"
    typ, data = m.fetch("1", "(BINARY.PEEK[5]<10.5>)")
    assert data[0][1] == b""
    assert m.search(None, "SEEN")[1] == [b""]
    # BINARY without PEEK sets \Seen.
    typ, data = m.fetch("1", "(BINARY[3])")
    assert data[0][1] == b"caf\xc3\xa9 8bit"
    assert "\\Seen" in data[0][0].decode() or \
        "\\Seen" in data[1].decode()
    assert m.search(None, "SEEN")[1] == [b"1"]
    m.logout()


def test_binary_literal8_and_unknown_cte(stack):
    u = user()
    m = login(stack, u)
    assert m.append("INBOX", None, None, BIN_MSG)[0] == "OK"
    m.logout()
    r = Raw(stack.port["imap"])
    r.send(b"a LOGIN " + u.encode() + b" " + PASS.encode() + b"\r\n")
    assert r.until(b"a")[-1].startswith(b"a OK")
    r.send(b"b SELECT INBOX\r\n")
    assert r.until(b"b")[-1].startswith(b"b OK")
    # The base64 attachment holds NUL octets: literal8.
    r.send(b"c FETCH 1 (BINARY.PEEK[2])\r\n")
    out = raw_literal(r, b"c")
    hdr = b"* 1 FETCH (BINARY[2] ~{%d}\r\n" % len(BIN_PAYLOAD)
    assert out.startswith(hdr)
    assert out[len(hdr):len(hdr) + len(BIN_PAYLOAD)] == BIN_PAYLOAD
    assert out.endswith(b"c OK Fetch completed\r\n")
    # A partial without NUL is an ordinary literal.
    r.send(b"d FETCH 1 (BINARY.PEEK[2]<65.3>)\r\n")
    out = raw_literal(r, b"d")
    assert out.startswith(b"* 1 FETCH (BINARY[2]<65> {3}\r\nABC)")
    # An unknown Content-Transfer-Encoding, for data and for size.
    r.send(b"e FETCH 1 (BINARY.PEEK[4])\r\n")
    out = r.until(b"e")
    assert out[-1].startswith(b"e NO [UNKNOWN-CTE]")
    assert not any(l.startswith(b"* 1 FETCH") for l in out)
    r.send(b"f FETCH 1 (BINARY.SIZE[4])\r\n")
    assert r.until(b"f")[-1].startswith(b"f NO [UNKNOWN-CTE]")
    # A failed BINARY does not set \Seen.
    r.send(b"g FETCH 1 (BINARY[4])\r\n")
    assert r.until(b"g")[-1].startswith(b"g NO [UNKNOWN-CTE]")
    r.send(b"h FETCH 1 (FLAGS)\r\n")
    out = r.until(b"h")
    assert b"\\Seen" not in out[0]
    # BINARY takes part numbers only; BINARY.SIZE takes no partial.
    r.send(b"i FETCH 1 (BINARY[1.TEXT])\r\n")
    assert r.until(b"i")[-1].startswith(b"i BAD")
    r.send(b"j LOGOUT\r\n")
    r.close()
