"""deliver(8) with several recipients, directly and through the queue.

`deliver -c CONFIG -f SENDER -q QID -- RCPT1 RCPT2 ...` does its setup and
reads the message once, then delivers to each recipient in turn and writes
one `K|D|Z X.Y.Z text` line per recipient, in order (QUEUE.md, "smtpq ->
deliver"). smtpq hands all the local recipients of an entry (up to 50) to
one deliver process.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import SANITIZER_REPORT, require_binary
from test_deliver import DeliverEnv, IS_ROOT, MAIL_GID, MAIL_UID, expected
from test_queue_lib import QueueEnv, envelope, message, wait_for

SENDER = "s@remote.test"
RECEIVED = r"deliver\[(\d+)\]: qid=%s step=4 event=received"


def run_many(env, rcpts, msg, qid="QM1"):
    """Run deliver with several recipients: (exit status, [lines])."""
    argv = [str(require_binary(env.build / "bin" / "deliver")), "-c",
            str(env.conf), "-f", SENDER, "-q", qid, "--", *rcpts]
    r = subprocess.run(argv, input=msg, capture_output=True, timeout=60)
    err = r.stderr.decode("utf-8", "replace")
    assert not SANITIZER_REPORT.search(err), err
    out = r.stdout.decode("utf-8", "replace")
    assert out.endswith("\n"), (out, err)
    return r.returncode, out[:-1].split("\n")


@pytest.fixture
def denv(tmp_path, build_dir):
    return DeliverEnv(tmp_path, build_dir, users=(
        "fred@truc.test *\n"
        "bob@truc.test *\n"))


def test_three_recipients_one_line_each_in_order(denv):
    msg = b"Subject: many\n\nto three\n"
    rc, lines = run_many(denv, ["fred@truc.test", "nobody@truc.test",
                                "<Bob@truc.test>"], msg)
    assert rc == 0
    assert lines == ["K 2.0.0 delivered to fred@truc.test",
                     "D 5.1.1 no such user: nobody@truc.test",
                     "K 2.0.0 delivered to Bob@truc.test"], lines
    for rcpt, shown in (("fred@truc.test", "fred@truc.test"),
                        ("bob@truc.test", "Bob@truc.test")):
        files = denv.files(rcpt)
        assert [d for _, d in files] == [expected(msg, shown)], rcpt
    assert not denv.maildir("nobody@truc.test").exists()
    # one process received the message for the two real addresses and
    # the unknown one
    pids = set(re.findall(RECEIVED % "QM1", denv.log_text()))
    assert len(pids) == 1, denv.log_text()
    assert len(re.findall(RECEIVED % "QM1", denv.log_text())) == 3


def test_over_quota_bad_address_and_foreign_domain(denv):
    msg = b"Subject: q\n\n" + b"x" * 500 + b"\n"
    size = len(expected(msg, "q@truc.test"))
    denv.write_users("fred@truc.test *\nq@truc.test * quota=%d\n"
                     "tiny@truc.test * quota=10\n" % size)
    rc, lines = run_many(denv, ["q@truc.test"], msg, qid="QM0")
    assert rc == 0 and lines == ["2.0.0 delivered to q@truc.test"]
    rc, lines = run_many(denv, ["q@truc.test", "not an address",
                                "x@elsewhere.test", "tiny@truc.test",
                                "fred@truc.test"], msg)
    assert rc == 0
    assert lines[0] == "Z 4.2.2 mailbox full: q@truc.test", lines
    assert lines[1].startswith("D 5.1.3 bad recipient address"), lines
    assert lines[2] == "D 5.1.2 not a local domain: elsewhere.test", lines
    # exit 73 (5.2.2) is temporary for the queue: a generic 4.x.x text
    assert lines[3] == "Z 4.3.0 deliver failed (exit 73)", lines
    assert lines[4] == "K 2.0.0 delivered to fred@truc.test", lines
    assert len(lines) == 5
    assert denv.files("tiny@truc.test") == []
    assert len(denv.files("q@truc.test")) == 1
    assert [d for _, d in denv.files("fred@truc.test")] == \
        [expected(msg, "fred@truc.test")]


def test_one_recipient_form_is_unchanged(denv):
    rc, lines = run_many(denv, ["fred@truc.test"], b"Subject: one\n\nx\n")
    assert (rc, lines) == (0, ["2.0.0 delivered to fred@truc.test"])
    rc, lines = run_many(denv, ["nobody@truc.test"], b"x\n")
    assert (rc, lines) == (67, ["5.1.1 no such user: nobody@truc.test"])


def test_failure_before_the_children_gives_every_recipient_a_line(denv):
    rc, lines = run_many(denv, ["fred@truc.test", "bob@truc.test"], b"x\n")
    assert rc == 0
    argv = [str(denv.build / "bin" / "deliver"), "-c", str(denv.conf),
            "-f", "bad\nsender", "--", "fred@truc.test", "bob@truc.test"]
    r = subprocess.run(argv, input=b"x\n", capture_output=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.decode() == ("D 5.1.7 bad sender address\n"
                                 "D 5.1.7 bad sender address\n")


# --- through the queue --------------------------------------------------------

def real_deliver_queue(tmp_path, build_dir, extra=""):
    """A QueueEnv with the real deliver and users u0..u9 in truc.test;
    a generator: the environment, then its checks at the end."""
    env = QueueEnv(tmp_path, build_dir, domains="truc.test",
                   extra_conf=f"users = {tmp_path / 'users'}\n" + extra)
    shutil.copy2(require_binary(build_dir / "bin" / "deliver"),
                 env.bin / "deliver")
    mail = tmp_path / "mail"
    mail.mkdir()
    if IS_ROOT:
        os.chown(mail, MAIL_UID, MAIL_GID)
    (tmp_path / "users").write_text(
        "".join(f"u{i}@truc.test *\n" for i in range(10)))
    env.fake()
    yield env
    env.stop_all()
    for f in tmp_path.glob("smtpq-*.out"):
        assert "Sanitizer" not in f.read_text(errors="replace"), f
    if env.errlog.exists():
        assert "Sanitizer" not in env.errlog.read_text(errors="replace")


@pytest.fixture
def qenv(tmp_path, build_dir):
    """QueueEnv with the real deliver and a users table in truc.test."""
    yield from real_deliver_queue(tmp_path, build_dir)


def maildir_files(env, addr):
    local, domain = addr.split("@")
    out = []
    for sub in ("new", "cur"):
        d = env.root / "mail" / domain / local / sub
        if d.is_dir():
            out += [p.read_bytes() for p in d.iterdir()]
    return out


def test_ten_local_recipients_one_deliver_process(qenv):
    qenv.start_smtpq()
    rcpts = [f"u{i}@truc.test" for i in range(10)]
    msg = message("<ten@test>")
    status, report = qenv.inject(msg, envelope(SENDER, rcpts))
    assert status == 0, report
    qid = report.split()[1]
    wait_for(qenv.queue_empty, 30, what="delivery to 10 recipients")
    for r in rcpts:
        got = maildir_files(qenv, r)
        assert got == [expected(msg, r)], r
    log = qenv.log_text()
    pids = re.findall(RECEIVED % qid, log)
    assert len(pids) == 10 and len(set(pids)) == 1, log
    for r in rcpts:
        assert re.search(f"qid={qid} step=4 relay=deliver to=<{r}> "
                         r"status=sent dsn=2\.0\.0 attempts=1 delay=\d+ "
                         f"text=\"2.0.0 delivered to {r}\"", log), r


def test_good_and_unknown_recipients_one_bounce(qenv):
    qenv.start_smtpq()
    rcpts = ["u1@truc.test", "nobody@truc.test", "u2@truc.test",
             "ghost@truc.test", "u3@truc.test"]
    msg = message("<mix@test>")
    status, report = qenv.inject(msg, envelope(SENDER, rcpts))
    assert status == 0, report
    qid = report.split()[1]
    wait_for(lambda: qenv.queue_empty() and qenv.deliveries(SENDER), 30,
             what="delivery and the bounce")
    for r in ("u1@truc.test", "u2@truc.test", "u3@truc.test"):
        assert maildir_files(qenv, r) == [expected(msg, r)], r
    log = qenv.log_text()
    for r in ("nobody@truc.test", "ghost@truc.test"):
        assert f"qid={qid} step=4 relay=deliver to=<{r}> status=bounced " \
            f"dsn=5.1.1 attempts=1" in log, r
    (to, bounce), = qenv.deliveries(SENDER)     # one bounce for both
    assert b"nobody@truc.test" in bounce and b"ghost@truc.test" in bounce
    assert b"u1@truc.test" not in bounce.split(b"\n\n", 1)[0]
    assert len(set(re.findall(RECEIVED % qid, log))) == 1
