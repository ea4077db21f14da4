"""deliver(8): Maildir delivery, headers, bad input, aliases, quotas, D1-D4.

Each test writes a config, users and aliases into its tmp dir and runs the
real build/bin/deliver. When the tests run as root, mail_dir belongs to
MAIL_UID (deliver started as root switches to mail_dir's owner, and refuses
a root-owned mail_dir: SECURITY.md D3). The helpers here (DeliverEnv,
expected) are imported by the other test_deliver_*.py files.
"""
import mailbox
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SANITIZER_REPORT, require_binary

MAIL_UID = 65534        # nobody: the mail owner when the tests run as root
MAIL_GID = 65534
OTHER_UID = 65533       # another unprivileged uid, for D2
IS_ROOT = os.geteuid() == 0
SENDER = "s@remote.test"
NAME_RE = re.compile(r"^\d+\.M\d{6}P\d+Q\d+\.[^,/:]+,S=(\d+),W=(\d+)$")


def expected(msg, rcpt, sender=SENDER, eol=b"\n", sep=False):
    """The bytes deliver stores: its two fields, then the message."""
    head = (b"Return-Path: <" + sender.encode() + b">" + eol +
            b"Delivered-To: " + rcpt.encode() + eol)
    return head + (eol if sep else b"") + msg


class DeliverEnv:
    """A config with users and aliases in base, and ways to run deliver."""

    def __init__(self, base, build, users="", aliases="", extra=""):
        self.base = Path(base)
        self.build = Path(build)
        self.conf = self.base / "mailstack.conf"
        self.mail = self.base / "mail"
        self.state = self.base / "state"
        self.log = self.base / "deliver.log"
        self.mail.mkdir(exist_ok=True)
        if IS_ROOT:
            os.chown(self.mail, MAIL_UID, MAIL_GID)
        self.conf.write_text(
            "hostname = mx.truc.test\n"
            "domains = truc.test other.test\n"
            "state_dir = state\nmail_dir = mail\n"
            "users = users\naliases = aliases\n"
            f"log = {self.log}\n" + extra)
        self.write_users(users)
        self.write_aliases(aliases)

    def write_users(self, text):
        self._write_table("users", text)

    def write_aliases(self, text):
        self._write_table("aliases", text)

    def _write_table(self, name, text):
        path = self.base / name
        path.write_text(text)
        # make sure the cdb (if any) counts as older than this edit
        cdb = self.state / "tables" / f"{name}.cdb"
        if cdb.exists():
            old = time.time() - 100
            os.utime(cdb, (old, old))

    def deliver(self, rcpt, msg, sender=SENDER, qid="Q1", timeout=60,
                stdin=None, args=None):
        """Run deliver; (exit status, the stdout line, stderr)."""
        argv = [str(require_binary(self.build / "bin" / "deliver"))]
        argv += args if args is not None else \
            ["-c", str(self.conf), "-f", sender, "-q", qid, rcpt]
        if stdin is None:
            r = subprocess.run(argv, input=msg, capture_output=True,
                               timeout=timeout)
        else:
            r = subprocess.run(argv, stdin=stdin, capture_output=True,
                               timeout=timeout)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        assert not SANITIZER_REPORT.search(err), err
        assert out.endswith("\n") and out.count("\n") == 1, \
            f"not exactly one line on stdout: {out!r} ({err})"
        return r.returncode, out[:-1], err

    def maildir(self, addr):
        local, domain = addr.rsplit("@", 1)
        return self.mail / domain / local

    def files(self, addr, folder=""):
        """[(name, bytes)] in new/ and cur/ of a mailbox or folder."""
        d = self.maildir(addr) / folder if folder else self.maildir(addr)
        out = []
        for sub in ("new", "cur"):
            p = d / sub
            if p.is_dir():
                out += [(f.name, f.read_bytes()) for f in sorted(p.iterdir())]
        return out

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() \
            else ""


@pytest.fixture
def env(tmp_path, build_dir):
    """A DeliverEnv with fred and bob in truc.test, carol in other.test."""
    return DeliverEnv(tmp_path, build_dir, users=(
        "fred@truc.test *\n"
        "bob@truc.test *\n"
        "carol@other.test *\n"))


def check_names(files):
    """Every name is a unique Maildir name whose ,S= is the file's size."""
    for name, data in files:
        m = NAME_RE.match(name.split(":")[0])
        assert m, name
        assert int(m.group(1)) == len(data), name
        # W= is the size a client is sent: each lone LF or CR as CR LF.
        lone = len(re.findall(rb"(?<!\r)\n|\r(?!\n)", data))
        assert int(m.group(2)) == len(data) + lone, name


# --- delivery and read-back ------------------------------------------------

def test_delivered_byte_for_byte_and_read_by_python(env):
    msgs = [
        b"From: a@remote.test\nSubject: one\n\nbody one\n",
        b"Subject: crlf\r\n\r\nline\r\n",
        b"Subject: odd\n\nbare\rCR and a NUL \x00 byte\n\x00\r\n",
        b"Subject: 8bit\n\n\xc3\xa9t\xc3\xa9 \xff\xfe\n",
    ]
    for i, msg in enumerate(msgs):
        rc, line, err = env.deliver("fred@truc.test", msg, qid=f"Q{i}")
        assert (rc, line) == (0, "2.0.0 delivered to fred@truc.test"), err
    files = env.files("fred@truc.test")
    assert len(files) == len(msgs)
    check_names(files)
    want = sorted([expected(msgs[0], "fred@truc.test"),
                   expected(msgs[1], "fred@truc.test", eol=b"\r\n"),
                   expected(msgs[2], "fred@truc.test"),
                   expected(msgs[3], "fred@truc.test")])
    assert sorted(d for _, d in files) == want

    md = mailbox.Maildir(env.maildir("fred@truc.test"), factory=None,
                         create=False)
    got = sorted(md.get_bytes(k) for k in md.keys())
    assert got == want
    m = [md[k] for k in md.keys() if b"Subject: one" in md.get_bytes(k)][0]
    assert m["Return-Path"] == f"<{SENDER}>"
    assert m["Delivered-To"] == "fred@truc.test"
    assert m.get_payload() == "body one\n"
    # Maildir++ folders came with the mailbox
    assert sorted(md.list_folders()) == ["Archive", "Drafts", "Junk",
                                         "Sent", "Trash"]
    for name, _ in files:
        st = os.stat(env.maildir("fred@truc.test") / "new" / name)
        assert stat.S_IMODE(st.st_mode) == 0o600
        if IS_ROOT:
            assert st.st_uid == MAIL_UID
    assert os.listdir(env.maildir("fred@truc.test") / "tmp") == []


def test_log_lines_carry_qid_and_steps(env):
    rc, line, _ = env.deliver("fred@truc.test", b"Subject: x\n\nx\n",
                              qid="ABC123")
    assert rc == 0
    log = env.log_text()
    assert re.search(r"deliver\[\d+\]: qid=ABC123 step=4 event=received "
                     r"from=s@remote.test to=fred@truc.test size=14", log)
    m = re.search(r"qid=ABC123 step=5 event=stored to=fred@truc.test "
                  r"user=fred@truc.test folder=INBOX file=\"([^\"]+)\" "
                  r"size=(\d+)", log)
    assert m, log
    assert (env.maildir("fred@truc.test") / "new" / m.group(1)).is_file()
    assert re.search(r"qid=ABC123 step=5 event=result to=fred@truc.test "
                     r"status=delivered", log)


def test_sender_forms(env):
    for sender, shown in (("", ""), ("<>", ""), ("<a@b.test>", "a@b.test"),
                          ("x@y.test", "x@y.test")):
        rc, _, _ = env.deliver("bob@truc.test", b"Subject: s\n\nx\n",
                               sender=sender)
        assert rc == 0
        data = [d for _, d in env.files("bob@truc.test")]
        assert expected(b"Subject: s\n\nx\n", "bob@truc.test",
                        sender=shown) in data
        for f in (env.maildir("bob@truc.test") / "new").iterdir():
            f.unlink()
    rc, line, _ = env.deliver("bob@truc.test", b"x\n", sender="a\nb@c")
    assert rc == 65 and line.startswith("5.1.7 ")
    assert env.files("bob@truc.test") == []


def test_stdin_as_a_file_from_its_offset(env, tmp_path):
    f = tmp_path / "queued"
    f.write_bytes(b"JUNK!Subject: from offset\n\nbody\n")
    with open(f, "rb") as fh:
        fh.seek(5)
        rc, line, err = env.deliver("fred@truc.test", None, stdin=fh)
    assert rc == 0, err
    assert [d for _, d in env.files("fred@truc.test")] == [
        expected(b"Subject: from offset\n\nbody\n", "fred@truc.test")]


def test_unknown_user_and_foreign_domain(env):
    rc, line, _ = env.deliver("nobody@truc.test", b"x\n")
    assert (rc, line) == (67, "5.1.1 no such user: nobody@truc.test")
    rc, line, _ = env.deliver("fred@elsewhere.test", b"x\n")
    assert rc == 67 and line.startswith("5.1.2 ")
    assert not (env.mail / "truc.test" / "nobody").exists()
    assert not (env.mail / "elsewhere.test").exists()


def test_usage_and_bad_config(env, build_dir):
    rc, line, _ = env.deliver("", b"", args=[])
    assert rc == 64 and line.startswith("4.3.5 usage")
    rc, line, _ = env.deliver("", b"", args=["-c", str(env.conf)])
    assert rc == 64
    bad = env.base / "bad.conf"
    bad.write_text("nonsense = 1\n")
    rc, line, _ = env.deliver("", b"x\n", args=["-c", str(bad),
                                                "fred@truc.test"])
    assert rc == 75 and line.startswith("4.3.5 ")
    assert str(bad) not in line          # no paths in the status line


# --- bad input ---------------------------------------------------------------

def test_message_without_header_gets_a_separator(env):
    for msg in (b"hello, no header here\n", b"", b"From me: not a header\n",
                b" leading blank\n"):
        rc, _, _ = env.deliver("fred@truc.test", msg)
        assert rc == 0
    for msg in (b"\nbody after an empty line\n", b"\r\nbody\r\n"):
        rc, _, _ = env.deliver("fred@truc.test", msg)
        assert rc == 0
    data = sorted(d for _, d in env.files("fred@truc.test"))
    want = sorted([
        expected(b"hello, no header here\n", "fred@truc.test", sep=True),
        expected(b"", "fred@truc.test", sep=True),
        expected(b"From me: not a header\n", "fred@truc.test", sep=True),
        expected(b" leading blank\n", "fred@truc.test", sep=True),
        expected(b"\nbody after an empty line\n", "fred@truc.test"),
        expected(b"\r\nbody\r\n", "fred@truc.test", eol=b"\r\n"),
    ])
    assert data == want
    md = mailbox.Maildir(env.maildir("fred@truc.test"), create=False)
    for k in md.keys():
        m = md[k]
        assert m["Delivered-To"] == "fred@truc.test"
        assert not m.defects, m.defects


def test_ten_megabyte_header(env):
    big = b"X-Big: " + b"a" * (10 * 1024 * 1024) + b"\n"
    msgs = [
        b"Subject: big\n" + big + b"\nbody\n",
        # a Delivered-To: beyond the scan limit is not looked at
        b"Subject: big\n" + big + b"Delivered-To: fred@truc.test\n\nb\n",
        # one 10 MB folded field
        b"Subject: folded\nX-F: a\n" + b" b\n" * (3 * 1024 * 1024) + b"\nx\n",
    ]
    for msg in msgs:
        t0 = time.monotonic()
        rc, line, err = env.deliver("fred@truc.test", msg)
        assert rc == 0, line + err
        assert time.monotonic() - t0 < 20
    data = sorted(d for _, d in env.files("fred@truc.test"))
    assert data == sorted(expected(m, "fred@truc.test") for m in msgs)
    check_names(env.files("fred@truc.test"))


def test_bad_recipients_never_leave_mail_dir(env):
    """SECURITY.md D1: clear errors, nothing outside mail_dir."""
    env.write_aliases("@truc.test fred@truc.test\n")   # even with a catch-all
    before = set(p for p in env.base.rglob("*"))
    bad = ["../../etc/x@truc.test", ".@truc.test", "a/b@truc.test",
           "u+../../x@truc.test", "u+.Trash/../..@truc.test",
           "a\x01b@truc.test", "..@truc.test", ".hidden@truc.test",
           "a\\b@truc.test", '"../x"@truc.test', '"a/b"@truc.test',
           "fred@truc.test/../x", "fred@../truc.test", "@truc.test",
           "fred", "fred@", "a\x7fb@truc.test", "a b@truc.test"]
    for rcpt in bad:
        rc, line, _ = env.deliver(rcpt, b"Subject: evil\n\nx\n")
        assert rc == 67, (rcpt, rc, line)
        assert re.match(r"5\.1\.[0-9] \S", line), (rcpt, line)
    after = set(p for p in env.base.rglob("*"))
    new = sorted(str(p.relative_to(env.base)) for p in after - before)
    assert all(p.startswith(("state/", "deliver.log", "mail/truc.test"))
               or p == "state" for p in new), new
    assert env.files("fred@truc.test") == []
    # and the catch-all still works for a sane local part
    rc, _, _ = env.deliver("random@truc.test", b"Subject: ok\n\nx\n")
    assert rc == 0 and len(env.files("fred@truc.test")) == 1


def test_plus_detail_picks_an_existing_folder_else_inbox(env):
    cases = [("fred+Sent@truc.test", ".Sent"), ("fred+trash@truc.test",
             ".Trash"), ("fred+nofolder@truc.test", ""),
             ("fred+.Trash@truc.test", ""), ("fred+@truc.test", "")]
    for rcpt, _ in cases:
        rc, line, err = env.deliver(rcpt, f"Subject: {rcpt}\n\nx\n".encode())
        assert rc == 0, (rcpt, line, err)
        assert line == f"2.0.0 delivered to {rcpt}"
    for rcpt, folder in cases:
        where = env.files("fred@truc.test", folder)
        assert any(f"Subject: {rcpt}".encode() in d for _, d in where), rcpt
    assert len(env.files("fred@truc.test")) == 3     # the INBOX ones


# --- loops -------------------------------------------------------------------

@pytest.mark.parametrize("field", [
    b"Delivered-To: fred@truc.test\n",
    b"DELIVERED-TO:   FRED@Truc.Test  \n",
    b"Delivered-To: <fred@truc.test>\n",
    b"Delivered-To: < fred@truc.test >\n",
    b"Delivered-To:\n\tfred@truc.test\n",
    b"Delivered-To: fred@truc.test\r\n",
])
def test_delivered_to_loop_is_refused(env, field):
    msg = b"Subject: loop\n" + field + b"\nbody\n"
    rc, line, _ = env.deliver("fred@truc.test", msg)
    assert (rc, line) == (65, "5.4.6 mail forwarding loop for fred@truc.test")
    assert env.files("fred@truc.test") == []


def test_delivered_to_elsewhere_is_fine(env):
    for msg in (b"Delivered-To: bob@truc.test\n\nx\n",
                b"X-Delivered-To: fred@truc.test\n\nx\n",
                b"Subject: s\n\nDelivered-To: fred@truc.test\n",
                b"Delivered-To: fred@truc.test.evil\n\nx\n"):
        rc, line, _ = env.deliver("fred@truc.test", msg)
        assert rc == 0, (msg, line)
    assert len(env.files("fred@truc.test")) == 4


def test_too_many_delivered_to_fields(env):
    msg = b"".join(b"Delivered-To: u%d@x.test\n" % i for i in range(101))
    rc, line, _ = env.deliver("fred@truc.test", msg + b"\nx\n")
    assert rc == 65 and line.startswith("5.4.6 ")
    msg = b"".join(b"Delivered-To: u%d@x.test\n" % i for i in range(100))
    rc, line, _ = env.deliver("fred@truc.test", msg + b"\nx\n")
    assert rc == 0


# --- aliases -------------------------------------------------------------------

def test_alias_chain_and_postmaster_and_catchall(env):
    env.write_aliases(
        "a@truc.test b@truc.test\n"
        "b@truc.test c@truc.test\n"
        "c@truc.test fred+Sent@truc.test\n"
        "@other.test bob@truc.test\n")
    rc, line, err = env.deliver("A@truc.test", b"Subject: chain\n\nx\n")
    assert (rc, line) == (0, "2.0.0 delivered to A@truc.test"), err
    assert [d for _, d in env.files("fred@truc.test", ".Sent")] == [
        expected(b"Subject: chain\n\nx\n", "A@truc.test")]
    # postmaster always exists: first domain's is a mailbox of its own
    rc, line, _ = env.deliver("PostMaster@truc.test", b"Subject: pm\n\nx\n")
    assert rc == 0, line
    rc, line, _ = env.deliver("postmaster@other.test", b"Subject: pm2\n\nx\n")
    assert rc == 0, line
    pm = env.files("postmaster@truc.test")
    assert len(pm) == 2
    # the catch-all of other.test; carol is a real user there
    rc, _, _ = env.deliver("whoever@other.test", b"Subject: ca\n\nx\n")
    assert rc == 0
    rc, _, _ = env.deliver("carol@other.test", b"Subject: carol\n\nx\n")
    assert rc == 0
    assert [d for _, d in env.files("bob@truc.test")] == [
        expected(b"Subject: ca\n\nx\n", "whoever@other.test")]
    assert len(env.files("carol@other.test")) == 1


def test_alias_loops_are_bounced_once_and_deliver_nothing(env):
    env.write_aliases(
        "x@truc.test y@truc.test\n"
        "y@truc.test fred@truc.test, x@truc.test\n"
        "self@truc.test SELF@truc.test\n"
        "list@truc.test bob@truc.test, sub@truc.test\n"
        "sub@truc.test list@truc.test\n")
    for rcpt in ("x@truc.test", "self@truc.test", "list@truc.test"):
        rc, line, _ = env.deliver(rcpt, b"Subject: loop\n\nx\n")
        assert rc == 65, (rcpt, line)
        assert line.startswith("5.4.6 alias loop for " + rcpt), line
    assert env.files("fred@truc.test") == []
    assert env.files("bob@truc.test") == []


def test_alias_depth_limit(env):
    chain = "".join(f"d{i}@truc.test d{i + 1}@truc.test\n" for i in range(11))
    env.write_aliases(chain + "d11@truc.test fred@truc.test\n")
    rc, line, _ = env.deliver("d2@truc.test", b"x\n")    # 10 aliases: ok
    assert rc == 0, line
    rc, line, _ = env.deliver("d1@truc.test", b"x\n")    # 11: too deep
    assert rc == 65 and line.startswith("5.4.6 aliases nested"), line
    assert len(env.files("fred@truc.test")) == 1


def test_list_of_100_members(env):
    env.write_users("".join(f"m{i:03d}@truc.test *\n" for i in range(100)) +
                    "fred@truc.test *\n")
    half = ", ".join(f"m{i:03d}@truc.test" for i in range(50))
    rest = ", ".join(f"m{i:03d}@truc.test" for i in range(50, 100))
    env.write_aliases(
        f"list@truc.test {half}, {rest}\n"
        # a diamond: fred twice through two sub-lists, one copy
        "both@truc.test s1@truc.test, s2@truc.test, ghost@truc.test\n"
        "s1@truc.test fred@truc.test\ns2@truc.test FRED@truc.test\n"
        "ghosts@truc.test ghost1@truc.test, ghost2@truc.test\n")
    t0 = time.monotonic()
    rc, line, err = env.deliver("list@truc.test", b"Subject: all\n\nhi\n")
    assert (rc, line) == (0, "2.0.0 delivered to list@truc.test "
                             "(100 mailboxes, 0 queued)"), err
    assert time.monotonic() - t0 < 30
    for i in range(100):
        assert [d for _, d in env.files(f"m{i:03d}@truc.test")] == [
            expected(b"Subject: all\n\nhi\n", "list@truc.test")]
    rc, line, _ = env.deliver("both@truc.test", b"x\n")
    assert rc == 0, line
    assert len(env.files("fred@truc.test")) == 1
    assert "alias-target-missing target=ghost@truc.test" in env.log_text()
    rc, line, _ = env.deliver("ghosts@truc.test", b"x\n")
    assert rc == 67 and line.startswith("5.1.1 no such user: ghosts@"), line


def test_member_already_delivered_to_is_skipped(env):
    env.write_aliases("team@truc.test fred@truc.test, bob@truc.test\n"
                      "solo@truc.test bob@truc.test\n")
    msg = b"Delivered-To: bob@truc.test\nSubject: s\n\nx\n"
    rc, line, _ = env.deliver("team@truc.test", msg)
    assert rc == 0, line
    assert len(env.files("fred@truc.test")) == 1
    assert env.files("bob@truc.test") == []
    rc, line, _ = env.deliver("solo@truc.test", msg)
    assert (rc, line) == (65, "5.4.6 mail forwarding loop for solo@truc.test")


def test_broken_table_entry_defers(env):
    env.write_users("fred@truc.test * quota=lots\n")
    rc, line, _ = env.deliver("fred@truc.test", b"x\n")
    assert rc == 75 and line.startswith("4.3.0 "), line


# --- quota ---------------------------------------------------------------------

def test_quota_under_at_over(env):
    msg = b"Subject: q\n\n" + b"x" * 988
    size = len(expected(msg, "q@truc.test"))
    env.write_users(f"q@truc.test * quota={3 * size}\n")
    for i in range(3):                       # under, under, exactly at
        rc, line, _ = env.deliver("q@truc.test", msg)
        assert rc == 0, (i, line)
    rc, line, _ = env.deliver("q@truc.test", msg)   # over
    assert (rc, line) == (75, "4.2.2 mailbox full: q@truc.test")
    md = env.maildir("q@truc.test")
    assert len(env.files("q@truc.test")) == 3
    assert os.listdir(md / "tmp") == []
    text = (md / "maildirsize").read_text()
    lines = text.splitlines()
    assert lines[0] == f"{3 * size}S"
    assert sum(int(x.split()[0]) for x in lines[1:]) == 3 * size
    # a tiny message does not fit either
    rc, line, _ = env.deliver("q@truc.test", b"")
    assert rc == 75
    # room made behind maildirsize's back: recounted, accepted
    (md / "new" / env.files("q@truc.test")[0][0]).unlink()
    rc, line, _ = env.deliver("q@truc.test", msg)
    assert rc == 0, line
    assert len(env.files("q@truc.test")) == 3


def test_quota_message_bigger_than_the_remaining_space(env):
    env.write_users("r@truc.test * quota=5000\n")
    head = len(expected(b"X: y\n\n", "r@truc.test"))

    def sized(total, c):
        """a message that is stored as exactly total octets"""
        return b"X: y\n\n" + c * (total - head)

    rc, _, _ = env.deliver("r@truc.test", sized(3000, b"a"))
    assert rc == 0
    rc, line, _ = env.deliver("r@truc.test", sized(2500, b"b"))
    assert (rc, line) == (75, "4.2.2 mailbox full: r@truc.test")
    rc, line, _ = env.deliver("r@truc.test", sized(2001, b"c"))
    assert (rc, line) == (75, "4.2.2 mailbox full: r@truc.test")
    rc, line, _ = env.deliver("r@truc.test", sized(2000, b"c"))
    assert rc == 0, line                     # exactly fills it
    rc, line, _ = env.deliver("r@truc.test", sized(6000, b"d"))
    assert (rc, line) == (73, "5.2.2 message larger than the mailbox quota: "
                              "r@truc.test")
    data = sorted(d for _, d in env.files("r@truc.test"))
    assert sorted(len(d) for d in data) == [2000, 3000]
    assert os.listdir(env.maildir("r@truc.test") / "tmp") == []


# --- SECURITY.md D2, D3 ---------------------------------------------------------

def test_symlinked_tmp_or_domain_defers_and_writes_nothing(env, tmp_path):
    rc, _, _ = env.deliver("fred@truc.test", b"first\n")
    assert rc == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    if IS_ROOT:
        os.chown(victim, MAIL_UID, MAIL_GID)
    tmp = env.maildir("fred@truc.test") / "tmp"
    tmp.rmdir()
    tmp.symlink_to(victim)
    rc, line, _ = env.deliver("fred@truc.test", b"second\n")
    assert rc == 75 and line.startswith("4.2.0 "), line
    assert os.listdir(victim) == []
    # a whole domain folder replaced by a link
    (env.mail / "other.test").symlink_to(victim)
    rc, line, _ = env.deliver("carol@other.test", b"x\n")
    assert rc == 75 and line.startswith("4.2.0 "), line
    assert os.listdir(victim) == []


@pytest.mark.skipif(not IS_ROOT, reason="needs root to make a Maildir that "
                    "belongs to another uid")
def test_maildir_of_another_uid_defers(env):
    rc, _, _ = env.deliver("fred@truc.test", b"first\n")
    assert rc == 0
    md = env.maildir("fred@truc.test")
    for p in [md] + [md / s for s in ("tmp", "new", "cur")]:
        os.chown(p, OTHER_UID, OTHER_UID)
        os.chmod(p, 0o777)      # reachable: only the owner check stops it
    rc, line, _ = env.deliver("fred@truc.test", b"second\n")
    assert (rc, line) == (75, "4.2.0 mailbox owned by another user: "
                              "fred@truc.test")
    assert len(env.files("fred@truc.test")) == 1


@pytest.mark.skipif(not IS_ROOT, reason="needs root: checks that deliver "
                    "started as root never writes as root")
def test_root_owned_mail_dir_is_refused(env):
    """SECURITY.md D3: nothing is delivered or run as uid 0."""
    os.chown(env.mail, 0, 0)
    rc, line, _ = env.deliver("fred@truc.test", b"x\n")
    assert rc == 75 and line.startswith("4.3.0 refusing to deliver as root")
    assert not (env.mail / "truc.test").exists()
    os.chown(env.mail, MAIL_UID, MAIL_GID)
    rc, line, _ = env.deliver("fred@truc.test", b"x\n")
    assert rc == 0
    for p in env.maildir("fred@truc.test").rglob("*"):
        assert p.lstat().st_uid == MAIL_UID, p
