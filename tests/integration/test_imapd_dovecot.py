"""imapd against Dovecot: the same corpus, the same answers.

A private Dovecot (Debian's dovecot-imapd) runs from a dovecot.conf written
here: IMAP only on 127.0.0.1 and a free port, no TLS, a passwd-file
passdb/userdb, its base_dir, state_dir and log inside a temporary folder.
Our stack runs imapd beside it. Both get the same corpus over IMAP APPEND
(with the same flags and internal dates): 210 messages from
tests/corpus/gen_mbox.py (multipart/alternative, attachments,
forwards with message/rfc822, encoded words, 8-bit) and MALFORMED below.
Then the answers to FETCH ENVELOPE, BODYSTRUCTURE, RFC822.SIZE,
BODY[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)], BODY[n.m] (and
BODY[n.m.MIME]) for every part, and SEARCH with header, text, flag, size
and date keys are compared value by value, after parsing.

The differences that remain are EXCEPTIONS: each one says why Dovecot's
answer is not the one to copy (or why RFC 3501 allows both), and each is
asserted to still be the difference it describes, so that a change on
either side shows up here.
"""
import datetime
import mailbox
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mailstack import MAIL_GID, MAIL_UID, MailStack, free_port

DOVECOT = "/usr/sbin/dovecot"
GEN = Path(os.environ.get(
    "MAILSTACK_CORPUS_GEN",
    Path(__file__).resolve().parents[1] / "corpus/gen_mbox.py"))
COUNT, SEED = 210, 20261123
USER = "diff@truc.test"
PASS = "diff-test-pw"
IS_ROOT = os.geteuid() == 0
FIELDS = b"(FROM TO SUBJECT DATE MESSAGE-ID)"

# Broken on purpose: both servers must answer something, and the same.
MALFORMED = [
    # a multipart whose closing boundary never comes
    b"From: a@example.org\nSubject: no end\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=XX\n\n"
    b"preamble\n--XX\nContent-Type: text/plain\n\none\n--XX\n"
    b"Content-Type: text/html\n\n<p>two</p>\n",
    # multipart without a boundary parameter
    b"From: a@example.org\nSubject: no boundary\n"
    b"Content-Type: multipart/mixed\n\nbody text\n",
    # a boundary that never appears
    b"From: a@example.org\nSubject: absent boundary\n"
    b"Content-Type: multipart/alternative; boundary=\"nothere\"\n\n"
    b"just text\n",
    # a header line without a colon, then more fields
    b"From: a@example.org\nthis is not a header\nSubject: after junk\n\n"
    b"body\n",
    # no body at all, no blank line
    b"From: a@example.org\nSubject: header only\n",
    # message/rfc822 whose content is not a message
    b"From: a@example.org\nSubject: bad rfc822\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=b1\n\n--b1\n"
    b"Content-Type: message/rfc822\n\nnot a header at all\n\n--b1--\n",
    # 8-bit in header fields, unencoded
    b"From: J\xc3\xbcrgen <j@example.org>\nTo: Ren\xc3\xa9e <r@example.org>\n"
    b"Subject: gr\xc3\xbc\xc3\x9fe\n\n8-bit body \xc3\xa9\n",
    # groups, empty group, route address, comments, no display name
    b"From: (comment) a@example.org (more)\n"
    b"To: friends: b@example.org, \"C. D\" <c@example.org>;, empty:;\n"
    b"Cc: <@route.example:e@example.org>\nSubject: groups\n\nx\n",
    # encoded words everywhere, one broken
    b"From: =?utf-8?B?SsO8cmdlbg==?= <j@example.org>\n"
    b"Subject: =?utf-8?Q?caf=C3=A9?= =?bogus?X?zz?= plain\n"
    b"Content-Type: text/plain; charset=\"utf-8\"; name*=utf-8''%C3%A9.txt\n"
    b"Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 =\nsoft\n",
    # parameters: unquoted, odd case, duplicate, no value
    b"From: a@example.org\nSubject: params\nMIME-Version: 1.0\n"
    b"Content-Type: TEXT/Plain; CHARSET=US-ASCII; format=flowed; "
    b"charset=latin1; novalue\nContent-Disposition: attachment; "
    b"filename=a.txt\nContent-Language: en, fr\n"
    b"Content-Location: http://example.org/a\nContent-ID: <id1@x>\n"
    b"Content-Description: a text\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    b"\nflowed text \n",
    # nested multiparts, an empty part and a part with no header
    b"From: a@example.org\nSubject: nested\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=o\n\n--o\n"
    b"Content-Type: multipart/alternative; boundary=i\n\n--i\n\nno header\n"
    b"--i\nContent-Type: text/html\n\n\n--i--\n--o\n"
    b"Content-Type: application/octet-stream\n"
    b"Content-Transfer-Encoding: base64\n\nAAECAwQF\n--o--\nepilogue\n",
    # address oddities: no domain, quoted local part, unterminated
    b"From: \"quoted local\"@example.org\nTo: nodomain, <x@y>, "
    b"\"Unterminated <u@example.org>\nReply-To: \nSubject: addrs\n\nx\n",
    # a long folded subject and a tab-folded From
    b"From: Long\n\tName <l@example.org>\nSubject: " +
    b" ".join(b"word%d" % i for i in range(200)) + b"\n\nx\n",
]

MAX_RESPONSE = 64 << 20


class ImapError(Exception):
    pass


class Wire:
    def __init__(self, port, host="127.0.0.1", tls=False, timeout=30):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""
        self.n = 0
        self.greeting = self._line()

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise ImapError("connection closed")
        self.buf += d
        if len(self.buf) > MAX_RESPONSE:
            raise ImapError("response too large")

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        r, self.buf = self.buf[:i], self.buf[i:]
        return r

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        r, self.buf = self.buf[:n], self.buf[n:]
        return r

    def _response(self):
        """One whole response line with its literals, CRLF kept."""
        out = b""
        for _ in range(100000):
            line = self._line()
            out += line
            if line.endswith(b"}\r\n") and b"{" in line:
                size = line[line.rindex(b"{") + 1:-3].rstrip(b"+")
                if size.isdigit():
                    out += self._exact(int(size))
                    continue
            return out
        raise ImapError("too many literals")

    def command(self, text, literals=()):
        """Send "tag text"; each literal replaces one "{}" placeholder
        (sent synchronising). Returns (status line, untagged responses)."""
        self.n += 1
        tag = b"t%d" % self.n
        parts = text.split(b"{}")
        assert len(parts) == len(literals) + 1
        out = tag + b" " + parts[0]
        for lit, rest in zip(literals, parts[1:]):
            self.s.sendall(out + b"{%d}\r\n" % len(lit))
            for _ in range(1000):
                r = self._response()
                if r.startswith(b"+"):
                    break
                if r.startswith(tag + b" "):
                    return r, []
            out = lit + rest
        self.s.sendall(out + b"\r\n")
        untagged = []
        for _ in range(1000000):
            r = self._response()
            if r.startswith(tag + b" "):
                return r, untagged
            untagged.append(r)
        raise ImapError("no tagged response")

    def ok(self, text, literals=()):
        status, untagged = self.command(text, literals)
        if status.split(b" ")[1] != b"OK":
            raise ImapError(status.decode(errors="replace"))
        return untagged

    def close(self):
        try:
            self.command(b"LOGOUT")
        except (OSError, ImapError):
            pass
        self.s.close()


def parse(data, i=0):
    """The values of a response from offset i: a list."""
    out = []
    while i < len(data):
        v, i = _value(data, i)
        if v is _END:
            break
        out.append(v)
    return out


_END = object()


def _value(d, i):
    n = len(d)
    while i < n and d[i:i + 1] in (b" ", b"\r", b"\n"):
        i += 1
    if i >= n:
        return _END, i
    c = d[i:i + 1]
    if c == b")":
        return _END, i + 1
    if c == b"(":
        lst = []
        i += 1
        while True:
            v, i = _value(d, i)
            if v is _END:
                return lst, i
            lst.append(v)
    if c == b'"':
        j = i + 1
        s = bytearray()
        while d[j:j + 1] != b'"':
            if d[j:j + 1] == b"\\":
                j += 1
            s += d[j:j + 1]
            j += 1
        return bytes(s), j + 1
    if c == b"{":
        j = d.index(b"}", i)
        size = int(d[i + 1:j].rstrip(b"+"))
        start = j + 3
        return d[start:start + size], start + size
    j = i
    depth = 0
    while j < n:
        ch = d[j:j + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in (b" ", b"(", b")", b"\r"):
            break
        j += 1
    atom = d[i:j]
    return (None if atom.upper() == b"NIL" else atom), j


def fetch_items(untagged):
    """{seq: {ITEM: value}} from untagged FETCH responses."""
    out = {}
    for r in untagged:
        v = parse(r)
        if len(v) >= 4 and v[0] == b"*" and v[2].upper() == b"FETCH":
            items = v[3]
            d = out.setdefault(int(v[1]), {})
            for k, val in zip(items[::2], items[1::2]):
                d[k.upper()] = val
    return out


def search_result(untagged):
    """The numbers of an untagged SEARCH response, as a set."""
    s = set()
    for r in untagged:
        v = parse(r)
        if len(v) >= 2 and v[0] == b"*" and v[1].upper() == b"SEARCH":
            s.update(int(x) for x in v[2:])
    return s

def corpus():
    """The messages, CR LF ended, in APPEND order."""
    if not GEN.exists():
        pytest.skip(f"{GEN} (the corpus generator) is not here")
    tmp = Path(tempfile.mkdtemp(prefix="imapd-corpus-"))
    try:
        subprocess.run([sys.executable, str(GEN), str(tmp / "mbox"),
                        str(COUNT), str(SEED)], check=True, timeout=60)
        mb = mailbox.mbox(str(tmp / "mbox"), create=False)
        msgs = [mb.get_bytes(k) for k in mb.keys()]
        mb.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    msgs += MALFORMED
    return [re.sub(rb"\r?\n", b"\r\n", m) for m in msgs]


def flags_of(i):
    """Deterministic flags for message i: every flag search has hits."""
    f = []
    for n, flag in ((3, b"\\Seen"), (5, b"\\Flagged"), (7, b"\\Answered"),
                    (11, b"\\Draft"), (13, b"\\Deleted"), (4, b"$Work")):
        if i % n == 0:
            f.append(flag)
    return b"(" + b" ".join(f) + b")"


def idate_of(i):
    t = datetime.datetime(2025, 1, 1, 12, 0, 0) + datetime.timedelta(
        hours=36 * i)
    return t.strftime("%d-%b-%Y %H:%M:%S +0000").encode()


def write_dovecot_conf(base, port):
    home = base / "dmail"
    home.mkdir()
    uid, gid = (MAIL_UID, MAIL_GID) if IS_ROOT else (os.geteuid(),
                                                     os.getegid())
    os.chown(home, uid, gid)
    (base / "passwd").write_text(
        f"{USER}:{{PLAIN}}{PASS}:{uid}:{gid}::{home}::\n")
    for d in ("run", "state"):
        (base / d).mkdir()
    users = ""
    if not IS_ROOT:
        import pwd
        me = pwd.getpwuid(os.geteuid()).pw_name
        users = (f"default_internal_user = {me}\n"
                 f"default_login_user = {me}\n")
    conf = base / "dovecot.conf"
    conf.write_text(f"""\
base_dir = {base}/run
state_dir = {base}/state
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
}}
service imap-login {{
  chroot =
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
""")
    return conf


def connect(port, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            w = Wire(port)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    w.ok(b'LOGIN "%s" "%s"' % (USER.encode(), PASS.encode()))
    return w


def sections(body, prefix=()):
    """Every part's section number of a parsed BODYSTRUCTURE."""
    out = []
    if isinstance(body[0], list):
        for i, child in enumerate(b for b in body if isinstance(b, list)):
            sec = prefix + (i + 1,)
            out.append(sec)
            out += sections(child, sec) if isinstance(child[0], list) or \
                is_message(child) else []
        return out
    if not prefix:
        out.append((1,))
        if is_message(body):
            out += sections(body, (1,))
        return out
    if is_message(body):
        inner = body[7]
        if isinstance(inner[0], list):
            out += sections(inner, prefix)
        else:
            out.append(prefix + (1,))
    return out


def is_message(body):
    return (isinstance(body[0], bytes) and body[0].lower() == b"message" and
            isinstance(body[1], bytes) and body[1].lower() == b"rfc822" and
            len(body) > 9)


SEARCHES = [
    b"ALL", b"SEEN", b"UNSEEN", b"FLAGGED", b"UNFLAGGED", b"ANSWERED",
    b"UNANSWERED", b"DELETED", b"UNDELETED", b"DRAFT", b"UNDRAFT",
    b"KEYWORD $Work", b"UNKEYWORD $Work", b"OLD", b"NOT NEW",
    b'FROM "corp.example"', b'FROM "martin"', b'TO "carol"', b'CC "example"',
    b'BCC "x"', b'SUBJECT "Re:"', b'SUBJECT "meeting"',
    b'HEADER Message-ID "corp.example"', b'HEADER In-Reply-To ""',
    b'HEADER Content-Type "multipart"', b'HEADER X-Nothing ""',
    b'BODY "the"', b'BODY "invoice"', b'TEXT "budget"', b'TEXT "boundary"',
    b"LARGER 10000", b"SMALLER 3000", b"LARGER 100000",
    b"SINCE 1-Jun-2025", b"BEFORE 1-Mar-2025", b"ON 10-Jan-2025",
    b"SENTSINCE 1-Apr-2025", b"SENTBEFORE 1-Mar-2025", b"SENTON 3-Jan-2025",
    b'OR FROM "alice" SUBJECT "release"', b"NOT SEEN FLAGGED",
    b"OR (SEEN FLAGGED) (DELETED SMALLER 5000)", b"1:50 SEEN",
    b"UID 10:20,30", b"NOT (OR DRAFT ANSWERED)",
]


def collect(w, n):
    """Everything compared, from one server."""
    w.ok(b"SELECT INBOX")
    meta = fetch_items(w.ok(
        b"FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE FLAGS "
        b"BODY.PEEK[HEADER.FIELDS " + FIELDS + b"])"))
    assert sorted(meta) == list(range(1, n + 1))
    parts = {}
    for seq in range(1, n + 1):
        secs = sections(meta[seq][b"BODYSTRUCTURE"])
        names = []
        for s in secs:
            num = ".".join(str(x) for x in s).encode()
            names += [b"BODY.PEEK[" + num + b"]",
                      b"BODY.PEEK[" + num + b".MIME]"]
        got = fetch_items(w.ok(b"FETCH %d (%s)" % (seq, b" ".join(names))))
        parts[seq] = got.get(seq, {})
    searches = {k: search_result(w.ok(b"SEARCH " + k)) for k in SEARCHES}
    return meta, parts, searches, collect_ext(w)


# SEARCH keys with UTF-8 text (sent as literals with CHARSET UTF-8): the
# corpus has it in quoted-printable and base64 bodies and in RFC 2047
# encoded words; the text must match decoded, case ignored for ASCII and
# Latin-1 letters.
DECODED_SEARCHES = [
    (b"BODY", "café crème"), (b"BODY", "Schöne Grüße"),
    (b"BODY", "CAFÉ CRÈME"), (b"BODY", "NAÏVE"), (b"BODY", "ünïcödé"),
    (b"BODY", "日本語"), (b"TEXT", "½ price"),
    (b"SUBJECT", "Grüße aus"), (b"SUBJECT", "RÉUNION"),
    (b"SUBJECT", "Отчёт"), (b"FROM", "Jürgen"), (b"FROM", "MÜLLER"),
    (b"FROM", "søren"), (b"TEXT", "Ólafur"),
]

ESEARCHES = [
    b"RETURN (MIN MAX COUNT) FLAGGED", b"RETURN (ALL) UNSEEN",
    b"RETURN () SMALLER 3000", b"RETURN (COUNT) SUBJECT \"nothing-at-all\"",
    b"RETURN (MIN MAX ALL COUNT) NOT DELETED",
]

# Diff.Gone is created, subscribed and deleted: a subscription without a
# mailbox (Dovecot refuses to subscribe a name that does not exist).
FOLDERS = [b"Diff", b"Diff.Sub", b"Diff.Other", b"Diff.Sub.Deep", b"Diff.Gone"]
SUBSCRIBE = [b"Diff.Sub", b"Diff.Gone", b"Diff.Sub.Deep"]
LISTS = [
    b'LIST (SUBSCRIBED) "" "Diff*"',
    b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Diff.%"',
    b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Diff"',
    b'LIST "" "Diff*" RETURN (SUBSCRIBED CHILDREN)',
    b'LIST "" ("Diff" "Diff.Sub") RETURN (STATUS (MESSAGES UNSEEN))',
]


def esearch_items(untagged):
    """The result items of an untagged ESEARCH (after the TAG), as pairs."""
    for r in untagged:
        v = parse(r)
        if len(v) >= 2 and v[0] == b"*" and v[1].upper() == b"ESEARCH":
            items = v[3:] if len(v) > 2 and isinstance(v[2], list) else v[2:]
            if items and items[0] == b"UID":
                items = items[1:]
            return sorted(zip(items[::2], items[1::2]))
    return None


def list_items(untagged, children):
    """LIST and STATUS answers as comparable tuples. Without RETURN
    (CHILDREN) Dovecot leaves out \\HasChildren and \\HasNoChildren and we
    send them (RFC 5258 4 lets a server send them unasked): not compared."""
    out = set()
    for r in untagged:
        v = parse(r)
        if len(v) >= 5 and v[1] == b"LIST":
            attrs = tuple(sorted(a.lower() for a in v[2] if children or
                                 a.lower() not in (b"\\haschildren",
                                                   b"\\hasnochildren")))
            out.add((b"LIST", v[4], attrs, repr(v[5:]).encode()))
        elif len(v) >= 4 and v[1] == b"STATUS":
            out.add((b"STATUS", v[2], repr(v[3]).encode()))
    return out


def collect_ext(w):
    """Decoded SEARCH, ESEARCH and LIST-EXTENDED answers."""
    dec = {}
    for key, text in DECODED_SEARCHES:
        dec[(key, text)] = search_result(w.ok(
            b"SEARCH CHARSET UTF-8 " + key + b" {}", [text.encode()]))
    es = {k: esearch_items(w.ok(b"SEARCH " + k)) for k in ESEARCHES}
    for f in FOLDERS:
        w.ok(b"CREATE " + f)
    for f in SUBSCRIBE:
        w.ok(b"SUBSCRIBE " + f)
    w.ok(b"DELETE Diff.Gone")
    w.ok(b'APPEND Diff.Sub {}', [b"Subject: x\r\n\r\nbody\r\n"])
    lists = {k: list_items(w.ok(k), b"CHILDREN" in k) for k in LISTS}
    return dec, es, lists


@pytest.fixture(scope="module")
def both(tmp_path_factory, build_dir):
    if not os.access(DOVECOT, os.X_OK):
        pytest.skip("dovecot is not installed (Debian dovecot-imapd)")
    msgs = corpus()
    base = Path(tempfile.mkdtemp(prefix="imapd-dovecot-", dir="/tmp"))
    os.chmod(base, 0o755)
    s = MailStack(tmp_path_factory.mktemp("imapd-diff"), build_dir,
                  listeners=("imap",), extra="allow_plaintext_auth = yes\n")
    s.add_user(USER, PASS)
    s.start()
    port = free_port()
    conf = write_dovecot_conf(base, port)
    dv = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        out = {}
        for name, p in (("imapd", s.port["imap"]), ("dovecot", port)):
            w = connect(p)
            for i, m in enumerate(msgs):
                w.ok(b'APPEND INBOX %s "%s" {}' % (flags_of(i), idate_of(i)),
                     [m])
            out[name] = collect(w, len(msgs))
            w.close()
        yield out["imapd"], out["dovecot"], msgs
    finally:
        dv.terminate()
        try:
            dv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            dv.kill()
            dv.wait()
        s.stop()
        shutil.rmtree(base, ignore_errors=True)



def malformed(j):
    """The sequence number of MALFORMED[j]."""
    return COUNT + 1 + j


def no_date(msgs):
    return {i + 1 for i, m in enumerate(msgs)
            if not re.search(rb"(?im)^date:", m.split(b"\r\n\r\n")[0])}


def _rfc822_empty_body(o, t):
    # BODYSTRUCTURE of the message/rfc822 part: only size and lines differ
    if isinstance(o, list) and isinstance(o[0], list):
        o, t = o[0], t[0]
        return (o[6], o[9], t[6], t[9]) == (b"21", b"1", b"23", b"2") and \
            o[:6] + o[7:9] + o[10:] == t[:6] + t[7:9] + t[10:]
    return t == o + b"\r\n"           # BODY[1]


# Where imapd and Dovecot answer differently on purpose: (sequence number,
# item) -> (why, check(ours, theirs) that the difference is this one).
EXCEPTIONS = {
    # "Content-Type: message/rfc822" whose content is one bad header line,
    # a blank line and the delimiter. RFC 2046 5.1.1: the CRLF before a
    # delimiter belongs to the delimiter, so the part is 21 octets and 1
    # line; Dovecot takes that CRLF as the end of the inner header and
    # counts it into the part (23 octets, 2 lines).
    (malformed(5), b"BODYSTRUCTURE"): (
        "CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)",
        _rfc822_empty_body),
    (malformed(5), b"BODY[1]"): (
        "CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)",
        _rfc822_empty_body),
    # "--i--CRLF--o": a nested close delimiter followed at once by the
    # outer delimiter. The one CRLF is the outer delimiter's (RFC 2046
    # 5.1.1); Dovecot also leaves it at the end of the inner multipart.
    (malformed(10), b"BODY[1]"): (
        "CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)",
        lambda o, t: t == o + b"\r\n"),
    # "From: (comment) a@example.org (more)": RFC 3501 does not say which
    # comment is the personal name; common.addr takes the first comment
    # (what a reader sees first), Dovecot the last.
    (malformed(7), b"ENVELOPE"): (
        "either comment may be the name (RFC 3501 7.4.2 is silent)",
        lambda o, t: o[2][0][0] == b"comment" and t[2][0][0] == b"more" and
        o[5:] == t[5:]),
    # "From: \"quoted local\"@example.org": imapd keeps the quotes of the
    # local part, so that mailbox "@" host is a valid address again
    # (RFC 5322 3.4.1); Dovecot strips them and a client that joins the
    # parts builds an invalid address.
    (malformed(11), b"ENVELOPE"): (
        "quotes kept so the address can be rebuilt (RFC 5322 3.4.1)",
        lambda o, t: o[2][0][2] == b'"quoted local"' and
        t[2][0][2] == b"quoted local" and o[5:] == t[5:]),
}
# SENTBEFORE: a message without a Date: field has no sent date, so it
# matches no SENT* key (RFC 9051 6.4.4 defines them by the Date: field);
# Dovecot takes such a message as sent on 1970-01-01.
SEARCH_EXCEPTIONS = {b"SENTBEFORE 1-Mar-2025": "no Date: field, no sent date"}


def compare(ours, theirs):
    """The unexplained differences, and the exceptions that were seen."""
    bad, used = [], set()
    for seq in sorted(set(ours) | set(theirs)):
        o, t = ours.get(seq, {}), theirs.get(seq, {})
        for k in sorted(set(o) | set(t)):
            a, b = o.get(k), t.get(k)
            if k == b"FLAGS":
                a, b = set(a or ()), set(b or ())
            if a == b:
                continue
            ex = EXCEPTIONS.get((seq, k))
            if ex is not None and ex[1](a, b):
                used.add((seq, k))
                continue
            bad.append((seq, k, a, b))
    return bad, used


def test_corpus_is_varied(both):
    ours, _, msgs = both
    assert len(msgs) >= 200
    text = b"".join(msgs).lower()
    for what in (b"=?utf-8?", b"message/rfc822", b"multipart/alternative",
                 b"multipart/mixed", b"content-disposition: attachment",
                 b"base64", b"quoted-printable", b"in-reply-to:"):
        assert what in text, what
    assert re.search(rb"[\x80-\xff]", text)
    nested = [s for s, v in ours[0].items()
              if b"rfc822" in repr(v[b"BODYSTRUCTURE"]).lower().encode()]
    assert len(nested) >= 5


def test_envelope_bodystructure_size_headers(both):
    ours, theirs, _ = both
    bad, used = compare(ours[0], theirs[0])
    assert not bad, bad[:5]
    assert {k for k in EXCEPTIONS if k[1] in (b"BODYSTRUCTURE",
            b"ENVELOPE")} == {k for k in used}


def test_every_part(both):
    ours, theirs, _ = both
    n = sum(len(v) for v in ours[1].values())
    assert n > 2 * len(ours[1])           # parts and their MIME headers
    bad, used = compare(ours[1], theirs[1])
    assert not bad, bad[:5]
    assert {k for k in EXCEPTIONS if k[1].startswith(b"BODY[")} == used


def test_search_decoded(both):
    ours, theirs, msgs = both
    for k in DECODED_SEARCHES:
        o, t = ours[3][0][k], theirs[3][0][k]
        assert o == t, (k, sorted(o ^ t)[:20])
    # Each key finds something: the corpus has the text in every form.
    assert all(ours[3][0][k] for k in DECODED_SEARCHES), \
        [k for k in DECODED_SEARCHES if not ours[3][0][k]]


def test_esearch(both):
    ours, theirs, _ = both
    for k in ESEARCHES:
        assert ours[3][1][k] is not None, k
        assert ours[3][1][k] == theirs[3][1][k], k


def test_list_extended(both):
    ours, theirs, _ = both
    for k in LISTS:
        assert ours[3][2][k], k
        assert ours[3][2][k] == theirs[3][2][k], (k, ours[3][2][k] ^
                                                  theirs[3][2][k])


def test_search(both):
    ours, theirs, msgs = both
    for key in SEARCHES:
        o, t = ours[2][key], theirs[2][key]
        if key in SEARCH_EXCEPTIONS:
            assert o < t and t - o == no_date(msgs), key
        else:
            assert o == t, (key, sorted(o ^ t)[:20])
    # Each key but these selects something (OLD: every message is \Recent
    # to the session that appended it).
    empty = {b"OLD", b'BCC "x"', b'HEADER X-Nothing ""'}
    assert [k for k in SEARCHES if not ours[2][k]] == \
        [k for k in SEARCHES if k in empty]
    everything = set(range(1, len(msgs) + 1))
    assert [k for k in SEARCHES if ours[2][k] == everything] == \
        [b"ALL"]
