"""deliver(8) hands copies back to the queue through the real inject(8):
remote alias targets, users' forward= addresses, and list members whose
mailbox failed; loops through the queue; inject's own refusals.

When run as root, deliver becomes the mail owner before it starts inject,
so inject runs as that uid too: the test's folder is made under /tmp with
mode 0755 (pytest's own are 0700) and state_dir belongs to the mail owner.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from test_deliver import IS_ROOT, MAIL_GID, MAIL_UID, DeliverEnv, expected
from test_queue_lib import read_entry

USERS = ("fred@truc.test * forward=ext@remote.test\n"
         "bob@truc.test *\n"
         "loopy@truc.test * forward=team@truc.test\n")
ALIASES = ("team@truc.test fred@truc.test, bob@truc.test, x@remote.test, "
           "Y@Remote.Test\n"
           "out@truc.test far@remote.test\n")


@pytest.fixture
def qenv(build_dir):
    if not os.access(build_dir / "bin" / "inject", os.X_OK):
        pytest.skip(f"{build_dir}/bin/inject is not built: the re-injection "
                    "path cannot be tested without it")
    base = Path(tempfile.mkdtemp(prefix="deliver-inject-", dir="/tmp"))
    os.chmod(base, 0o755)
    env = DeliverEnv(base, build_dir, users=USERS, aliases=ALIASES)
    for p in (env.conf, base / "users", base / "aliases"):
        os.chmod(p, 0o644)
    env.state.mkdir()
    env.log.touch()
    if IS_ROOT:          # inject runs as the mail owner: its state and log
        os.chown(env.state, MAIL_UID, MAIL_GID)
        os.chown(env.log, MAIL_UID, MAIL_GID)
    yield env
    shutil.rmtree(base, ignore_errors=True)


def queued(env):
    """[(sender, [rcpts], message bytes)] of the entries in queue/new/."""
    out = []
    new = env.state / "queue" / "new"
    for f in sorted(new.iterdir()) if new.is_dir() else []:
        e = read_entry(f)
        sender = [r[1:] for r in e["envelope"] if r.startswith("F")][0]
        out.append((sender, sorted(e["rcpts"]), e["msg"]))
    return out


def test_remote_targets_and_forwards_are_requeued(qenv):
    msg = b"Subject: to the team\n\nhello\n"
    rc, line, err = qenv.deliver("team@truc.test", msg)
    assert (rc, line) == (0, "2.0.0 delivered to team@truc.test "
                             "(2 mailboxes, 3 queued)"), err
    for who in ("fred@truc.test", "bob@truc.test"):
        assert [d for _, d in qenv.files(who)] == [
            expected(msg, "team@truc.test")]
    q = sorted(queued(qenv), key=lambda e: e[1])
    assert q == sorted([
        ("s@remote.test", ["Y@remote.test", "x@remote.test"],
         b"Delivered-To: team@truc.test\n" + msg),
        ("s@remote.test", ["ext@remote.test"],
         b"Delivered-To: team@truc.test\nDelivered-To: fred@truc.test\n" +
         msg),
    ], key=lambda e: e[1])
    log = qenv.log_text()
    assert "step=5 event=forwarded to=team@truc.test rcpts=2" in log


def test_null_sender_and_a_plain_remote_alias(qenv):
    rc, line, err = qenv.deliver("out@truc.test", b"Subject: b\n\nx\n",
                                 sender="")
    assert (rc, line) == (0, "2.0.0 delivered to out@truc.test "
                             "(1 queued)"), err
    assert queued(qenv) == [("", ["far@remote.test"],
                             b"Delivered-To: out@truc.test\nSubject: b\n\nx\n")]


def test_a_failed_member_is_requeued_alone(qenv, tmp_path):
    rc, _, _ = qenv.deliver("bob@truc.test", b"first\n")
    assert rc == 0
    tmp = qenv.maildir("bob@truc.test") / "tmp"
    tmp.rmdir()
    tmp.symlink_to(tmp_path)            # bob's mailbox now defers (D2)
    msg = b"Subject: list\n\nx\n"
    rc, line, err = qenv.deliver("team@truc.test", msg)
    assert (rc, line) == (0, "2.0.0 delivered to team@truc.test "
                             "(1 mailbox, 4 queued)"), err
    assert len(qenv.files("fred@truc.test")) == 1
    rcpts = sorted(r for _, rs, _ in queued(qenv) for r in rs)
    assert rcpts == ["Y@remote.test", "bob@truc.test", "ext@remote.test",
                     "x@remote.test"]
    # the requeued copy for bob, delivered later, is not a loop
    bobs = [m for _, rs, m in queued(qenv) if "bob@truc.test" in rs][0]
    tmp.unlink()
    tmp.mkdir(mode=0o700)
    if IS_ROOT:
        os.chown(tmp, MAIL_UID, MAIL_GID)
    rc, line, _ = qenv.deliver("bob@truc.test", bobs)
    assert rc == 0, line
    assert expected(bobs, "bob@truc.test") in [
        d for _, d in qenv.files("bob@truc.test")]


def test_forwarding_loops_through_the_queue_end(qenv):
    """Q1: loopy forwards to team; team's copy is delivered once, and a copy
    that comes back to team (it carries Delivered-To: team@) is bounced
    5.4.6 once instead of going round again."""
    msg = b"Subject: round\n\nx\n"
    rc, line, _ = qenv.deliver("loopy@truc.test", msg)
    assert rc == 0, line
    (_, rcpts, copy), = queued(qenv)
    assert rcpts == ["team@truc.test"]
    assert copy == b"Delivered-To: loopy@truc.test\n" + msg
    rc, line, _ = qenv.deliver("team@truc.test", copy)      # fine once
    assert rc == 0, line
    second = [m for _, rs, m in queued(qenv) if "x@remote.test" in rs][0]
    rc, line, _ = qenv.deliver("team@truc.test", second)    # came back
    assert (rc, line) == (65, "5.4.6 mail forwarding loop for team@truc.test")
    assert len(qenv.files("loopy@truc.test")) == 1
    assert len(qenv.files("fred@truc.test")) == 1


def test_inject_refusing_is_permanent_and_a_missing_inject_temporary(
        qenv, build_dir):
    with open(qenv.conf, "a") as f:
        f.write("message_size_limit = 1000\n")
    # over message_size_limit plus inject's 64 KiB for trace headers
    rc, line, err = qenv.deliver("out@truc.test", b"Subject: big\n\n" +
                                 b"x" * (1000 + 64 * 1024 + 1))
    assert rc == 65 and line.startswith("5.3.4 "), line + err
    assert queued(qenv) == []
    # a deliver with no inject beside it
    alone = qenv.base / "bin"
    alone.mkdir()
    shutil.copy(build_dir / "bin" / "deliver", alone / "deliver")
    env2 = DeliverEnv(qenv.base, alone.parent, users=USERS, aliases=ALIASES)
    rc, line, _ = env2.deliver("out@truc.test", b"x\n")
    assert (rc, line) == (75, "4.3.0 cannot find inject to queue forwarded "
                              "mail")
