"""inject: the round trip into the queue, refusals, disk full, Q3/Q4/Q5."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from test_queue_lib import (QueueEnv, _write, envelope, message, read_entry,
                            wait_for)


@pytest.fixture
def qenv(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir)
    yield env
    env.stop_all()
    if env.errlog.exists():
        assert "Sanitizer" not in env.errlog.read_text()


def test_round_trip_fields_intact(qenv):
    msg = message("<rt-1@test>", extra="Received: from a by b\n"
                  "Received: from c by d\n") + b"\x00binary\xff tail"
    env = envelope("alice@example.test",
                   [("bob@example.test", "SUCCESS,DELAY", "rfc822;bob@x"),
                    "carol@remote.test"],
                   envid="ENV-1", ret="HDRS", body="8BITMIME",
                   protocol="ESMTPSA", auth="alice", client="192.0.2.7",
                   helo="client.example")
    before = int(time.time())
    status, report = qenv.inject(msg, env)
    assert status == 0, qenv.errlog.read_text()
    m = re.fullmatch(r"K ([0-9A-F]{24})\n", report)
    assert m, report
    qid = m.group(1)
    assert qenv.entries("new") == [qid]
    assert qenv.entries("tmp") == []
    e = read_entry(qenv.queue / "new" / qid)
    assert e["qid"] == qid
    assert e["msg"] == msg
    assert e["hops"] == 2
    assert e["rcpts"] == ["bob@example.test", "carol@remote.test"]
    assert "Orfc822;bob@x" in e["envelope"]
    assert "DSUCCESS,DELAY" in e["envelope"]
    for rec in ("FALICE@example.test".replace("ALICE", "alice"), "EENV-1",
                "RHDRS", "B8BITMIME", "PESMTPSA", "Aalice", "I192.0.2.7",
                "Hclient.example"):
        assert rec in e["envelope"]
    assert before - 1 <= e["arrival"] <= int(time.time()) + 1
    assert all(s["state"] == "P" and s["attempts"] == 0 for s in e["slots"])
    st = os.stat(qenv.queue / "new" / qid)
    assert st.st_mode & 0o777 == 0o600
    for d in ("", "tmp", "new", "cur", "corrupt", "delete"):
        assert os.stat(qenv.queue / d).st_mode & 0o777 == 0o700
    # The log line: step 2 for authenticated submission, msgid, size.
    line = [l for l in qenv.log_text().splitlines() if qid in l][0]
    assert "step=2" in line and "msgid=<rt-1@test>" in line
    assert f"size={len(msg)}" in line and "from=<alice@example.test>" in line


def test_step_3_for_mail_from_another_mta(qenv):
    status, report = qenv.inject(message("<s3@test>"), envelope(
        "x@remote.test", ["bob@example.test"], protocol="ESMTP",
        client="198.51.100.1"))
    assert status == 0
    qid = report.split()[1]
    line = [l for l in qenv.log_text().splitlines() if qid in l][0]
    assert "step=3" in line and "client=198.51.100.1" in line


def test_many_recipients_need_a_bigger_head(qenv):
    rcpts = [f"user{i}@example.test" for i in range(300)]
    msg = message("<big@test>", body="x" * 200000 + "\n")
    status, report = qenv.inject(msg, envelope("a@example.test", rcpts))
    assert status == 0, report
    e = read_entry(qenv.queue / "new" / report.split()[1])
    assert e["rcpts"] == rcpts and e["msg"] == msg
    assert qenv.entries("tmp") == []


def test_empty_message_and_null_sender(qenv):
    status, report = qenv.inject(b"", envelope("", ["postmaster@example.test"]))
    assert status == 0
    e = read_entry(qenv.queue / "new" / report.split()[1])
    assert e["msg"] == b"" and "F" in e["envelope"]


@pytest.mark.parametrize("wire,status,code", [
    (b"V1\0Fa@b\0Tc@example.test\0", 111, "Z 4.3.0"),          # no terminator
    (b"V1\0Fa@b\0Tc@example.test\0\0junk", 100, "D 5.5.2"),    # trailing bytes
    (b"V1\0Fa@b\0\0", 100, "D 5.5.2"),                          # no recipient
    (b"Fa@b\0Tc@example.test\0\0", 100, "D 5.5.2"),             # no version
    (b"V1\0Fa@b\0Tc@exa\nmple.test\0\0", 100, "D 5.5.2"),       # LF in address
    (b"V1\0Fa@b\0Fa@b\0Tc@example.test\0\0", 100, "D 5.5.2"),   # F twice
    (b"V1\0Fa@b\0Xzz\0Tc@example.test\0\0", 100, "D 5.5.2"),    # unknown record
    (b"V1\0Fa@b\0Tc@example.test\0Dsometimes\0\0", 100, "D 5.5.2"),
    (b"", 111, "Z 4.3.0"),                                       # nothing at all
])
def test_malformed_envelopes_are_refused(qenv, wire, status, code):
    st, report = qenv.inject(message("<bad@test>"), wire)
    assert st == status, report
    assert report.startswith(code), report
    assert report.endswith("\n") and report.count("\n") == 1
    assert qenv.entries("new") == [] and qenv.entries("tmp") == []


def test_without_fd3_the_exit_status_tells(qenv, tmp_path):
    (tmp_path / "env").write_bytes(envelope("a@b.test", ["c@example.test"]))
    r = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" 1<"$2"', str(qenv.bin / "inject"),
         str(qenv.conf), str(tmp_path / "env")],
        input=b"Subject: x\n\nhi\n", capture_output=True, timeout=20,
        env=qenv.child_env())
    assert r.returncode == 0, r.stderr
    assert len(qenv.entries("new")) == 1


def test_size_limit(tmp_path, build_dir):
    """message_size_limit plus 64 KiB for the trace headers our programs add
    (a client's SIZE counts the message as it sent it): at it, accepted;
    one octet over, refused."""
    env = QueueEnv(tmp_path, build_dir, extra_conf="message_size_limit = 1000\n")
    limit = 1000 + 64 * 1024
    head = message("<at@test>", body="")
    at = head + b"x" * (limit - len(head) - 1) + b"\n"
    assert len(at) == limit
    assert env.inject(at, envelope("a@b.test", ["c@example.test"]))[0] == 0
    over = at + b"y"
    status, report = env.inject(over, envelope("a@b.test", ["c@example.test"]))
    assert status == 100
    assert report == "D 5.3.4 message too big\n"
    assert len(env.entries("new")) == 1 and env.entries("tmp") == []


def test_symlink_and_hard_link_planted_in_tmp_never_followed(qenv, tmp_path):
    """Q4: the names inject creates are O_EXCL|O_NOFOLLOW; it never writes
    through a planted link. Plant links under every name the next second
    could produce for our pid range is impossible, so plant many and check
    that none of their targets changes and the entry lands elsewhere."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    status, _ = qenv.inject(message("<p0@test>"),
                            envelope("a@b.test", ["c@example.test"]))
    assert status == 0
    tmpdir = qenv.queue / "tmp"
    # Names in tmp/ that look like queue ids, as links to the victim.
    for i in range(50):
        os.symlink(victim, tmpdir / f"{i:024X}")
        os.link(victim, tmpdir / f"{i + 100:024X}")
    for i in range(5):
        status, report = qenv.inject(message(f"<p{i + 1}@test>"),
                                     envelope("a@b.test", ["c@example.test"]))
        assert status == 0, report
    assert victim.read_text() == "precious\n"
    assert len(qenv.entries("new")) == 6


def test_unsafe_queue_folders_are_refused(qenv, tmp_path):
    """Q4: a group/world-writable or symlinked queue folder: inject refuses
    (temporary), smtpq refuses to start (exit 100)."""
    assert qenv.inject(message("<u0@test>"),
                       envelope("a@b.test", ["c@example.test"]))[0] == 0
    os.chmod(qenv.queue / "new", 0o777)
    status, report = qenv.inject(message("<u1@test>"),
                                 envelope("a@b.test", ["c@example.test"]))
    assert status == 111 and report.startswith("Z 4.3.5"), report
    r = subprocess.run([str(qenv.bin / "smtpq"), "-c", str(qenv.conf)],
                       capture_output=True, timeout=20)
    assert r.returncode == 100
    assert "group or world writable" in qenv.log_text()
    os.chmod(qenv.queue / "new", 0o700)
    # A symlinked folder.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.rename(qenv.queue / "tmp", tmp_path / "oldtmp")
    os.symlink(elsewhere, qenv.queue / "tmp")
    status, report = qenv.inject(message("<u2@test>"),
                                 envelope("a@b.test", ["c@example.test"]))
    assert status == 111 and report.startswith("Z 4.3.5"), report
    assert list(elsewhere.iterdir()) == []
    r = subprocess.run([str(qenv.bin / "smtpq"), "-c", str(qenv.conf)],
                       capture_output=True, timeout=20)
    assert r.returncode == 100


def test_foreign_owner_refused(qenv):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown a folder to another user")
    assert qenv.inject(message("<o0@test>"),
                       envelope("a@b.test", ["c@example.test"]))[0] == 0
    os.chown(qenv.queue / "cur", 65534, 65534)
    status, report = qenv.inject(message("<o1@test>"),
                                 envelope("a@b.test", ["c@example.test"]))
    assert status == 111 and report.startswith("Z 4.3.5")
    r = subprocess.run([str(qenv.bin / "smtpq"), "-c", str(qenv.conf)],
                       capture_output=True, timeout=20)
    assert r.returncode == 100
    os.chown(qenv.queue / "cur", 0, 0)


def test_killed_inject_leaves_nothing_visible(qenv):
    msg = message("<k@test>", body="y" * 300000 + "\n")
    for frac in (0.0, 0.3, 0.9):
        status, report = qenv.inject(msg, envelope("a@b.test",
                                     ["c@example.test"]), kill_after=frac)
        assert status == -9 and report == ""
    assert qenv.entries("new") == []
    # What the dead injects left in tmp/ is never taken for an entry.


def test_clock_offset_sets_arrival(qenv):
    status, report = qenv.inject(message("<c@test>"), envelope(
        "a@b.test", ["c@example.test"]), offset=86400)
    assert status == 0
    e = read_entry(qenv.queue / "new" / report.split()[1])
    assert e["arrival"] >= int(time.time()) + 86400 - 5


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 1 MiB tmpfs for the disk-full test")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755",
                        "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_is_temporary_and_nothing_acknowledged_is_lost(
        tmp_path, build_dir, small_fs, spawn):
    """Q3: ENOSPC -> Z 4.3.1, the partial file removed; acknowledged
    entries stay intact; when space returns (smtpq delivers and removes
    entries), the queue takes messages again."""
    env = QueueEnv(tmp_path, build_dir, state_dir=small_fs / "state")
    env.fake()
    acked = {}
    refused = 0
    for i in range(40):
        msg = message(f"<full-{i}@test>", body=("z" * 60 + "\n") * 1000)
        status, report = env.inject(msg, envelope("a@b.test",
                                    ["c@example.test"]))
        if status == 0:
            acked[report.split()[1]] = msg
        else:
            assert status == 111, report
            assert report == "Z 4.3.1 insufficient system storage\n"
            refused += 1
    assert refused > 0 and len(acked) > 5
    assert env.entries("tmp") == []
    for qid, msg in acked.items():
        assert read_entry(env.queue / "new" / qid)["msg"] == msg
    # A message bigger than the whole disk.
    huge = message("<huge@test>", body="h" * (2 << 20))
    status, report = env.inject(huge, envelope("a@b.test", ["c@example.test"]))
    assert status == 111 and report.startswith("Z 4.3.1")
    assert env.entries("tmp") == []
    # Space returns: smtpq delivers everything (the spool is elsewhere).
    env.start_smtpq(spawn=spawn)
    wait_for(env.queue_empty, 30, what="queue to drain")
    got = {m for _, m in env.deliveries("c@example.test")}
    assert got == set(acked.values())
    status, report = env.inject(message("<after@test>"),
                                envelope("a@b.test", ["c@example.test"]))
    assert status == 0, report


def _as_user(uid, argv, stdin_data, env_wire, cwd):
    """Run inject as uid: message on 0, envelope on 1, report on 3."""
    scratch = Path(cwd) / f"scratch-{uid}"
    scratch.mkdir(mode=0o777, exist_ok=True)
    os.chmod(scratch, 0o777)
    (scratch / "msg").write_bytes(stdin_data)
    (scratch / "env").write_bytes(env_wire)
    rep = scratch / "report"
    r = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" <"$2" 1<"$3" 3>"$4"', argv[0],
         argv[2], str(scratch / "msg"), str(scratch / "env"), str(rep)],
        capture_output=True, timeout=20, user=uid, group=uid, cwd=cwd,
        env={"PATH": "/usr/bin:/bin"})
    return r.returncode, rep.read_text() if rep.exists() else ""


@pytest.fixture
def world_dir():
    """A folder other users can reach (pytest's tmp_path is 0700)."""
    import shutil
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("needs root to run programs as other users")
    d = Path(tempfile.mkdtemp(prefix="queue-users-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_queue_not_writable_by_other_users(world_dir, build_dir):
    """The queue belongs to its user, mode 0700: smtpd's or remote's user
    (here uid 65533) can neither run inject into it nor write there."""
    env = QueueEnv(world_dir, build_dir)
    os.chmod(env.bin, 0o755)
    assert env.inject(message("<own@test>"),
                      envelope("a@b.test", ["c@example.test"]))[0] == 0
    os.chmod(env.conf, 0o644)
    os.chmod(env.log, 0o666)    # so that it gets as far as the queue
    status, report = _as_user(65533, [str(env.bin / "inject"), "-c",
                                      str(env.conf)],
                              message("<other@test>"),
                              envelope("a@b.test", ["c@example.test"]),
                              world_dir)
    assert status == 111, report
    assert report in ("Z 4.3.5 queue folder unsafe\n",
                      "Z 4.3.0 queue write failed\n"), report
    assert "cannot open" in env.log_text() or "unsafe" in report
    assert len(env.entries("new")) == 1
    for d in ("", "tmp", "new", "cur"):
        st = os.stat(env.queue / d)
        assert st.st_uid == 0 and st.st_mode & 0o077 == 0


def test_setuid_inject_refuses_a_config_its_caller_could_change(
        world_dir, build_dir):
    """A set-uid inject must not let its caller pick the config (queue
    folder, log file): a config in a folder the caller owns is refused."""
    env = QueueEnv(world_dir, build_dir)
    os.chmod(env.bin, 0o755)
    os.chmod(env.conf, 0o644)
    os.chmod(env.bin / "inject", 0o4755)    # set-uid root, like a queue user
    mine = world_dir / "caller"
    mine.mkdir()
    os.chown(mine, 65533, 65533)
    conf = mine / "evil.conf"
    conf.write_text(env.conf.read_text())
    os.chown(conf, 65533, 65533)
    status, report = _as_user(65533, [str(env.bin / "inject"), "-c",
                                      str(conf)],
                              message("<suid@test>"),
                              envelope("a@b.test", ["c@example.test"]),
                              world_dir)
    assert status == 111 and report.startswith(
        "Z 4.3.0 refusing the config"), report
    assert not (env.queue / "new").exists() or env.entries("new") == []
    assert not env.log.exists() or "suid" not in env.log_text()


def test_setuid_inject_takes_a_root_config_but_not_the_clock(
        world_dir, build_dir):
    """The administrator's config (root's, in root's folders) is taken;
    the test clock variable is not: the arrival time is the real one."""
    env = QueueEnv(world_dir, build_dir)
    os.chmod(env.bin, 0o755)
    os.chmod(env.conf, 0o644)
    os.chmod(env.bin / "inject", 0o4755)
    scratch = world_dir / "scratch-65533"
    scratch.mkdir(mode=0o777)
    os.chmod(scratch, 0o777)
    (scratch / "msg").write_bytes(message("<clock@test>"))
    (scratch / "env").write_bytes(envelope("a@b.test", ["c@example.test"]))
    before = time.time()
    r = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" <"$2" 1<"$3" 3>"$4"',
         str(env.bin / "inject"), str(env.conf), str(scratch / "msg"),
         str(scratch / "env"), str(scratch / "report")],
        capture_output=True, timeout=20, user=65533, group=65533,
        cwd=world_dir, env={"PATH": "/usr/bin:/bin",
                            "MAILSTACK_NOW_OFFSET": "-864000"})
    assert r.returncode == 0, (r.stderr, (scratch / "report").read_text())
    (entry,) = env.entries("new")
    arrival = read_entry(env.queue / "new" / entry)["arrival"]
    assert before - 5 <= arrival <= time.time() + 5


# --- inject -S: one server for a session's messages (INJECT.md) ----------

class Server:
    """inject -c CONF -S on one end of a SOCK_SEQPACKET socketpair."""

    def __init__(self, qenv):
        import socket
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_SEQPACKET)
        actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), 0),
                   (os.POSIX_SPAWN_OPEN, 2, str(qenv.errlog),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)]
        self.pid = os.posix_spawn(str(qenv.bin / "inject"),
                                  ["inject", "-c", str(qenv.conf), "-S"],
                                  qenv.child_env(0), file_actions=actions)
        theirs.close()
        self.sock.settimeout(10)
        try:
            self.greeting = self.sock.recv(16)
        except OSError:
            self.greeting = b""
        self.sock.settimeout(None)

    def send(self, msg, env, tag=b"M", nfds=3):
        """One request; the report line (b"" when none came)."""
        import socket
        mr, mw = os.pipe()
        er, ew = os.pipe()
        rr, rw = os.pipe()
        fds = [mr, er, rw][:nfds] + ([mr] * (nfds - 3) if nfds > 3 else [])
        socket.send_fds(self.sock, [tag], fds)
        for fd in (mr, er, rw):
            os.close(fd)
        try:
            _write(mw, msg)
            os.close(mw)
            mw = -1
            _write(ew, env)
        except BrokenPipeError:
            pass
        finally:
            if mw >= 0:
                os.close(mw)
            os.close(ew)
        out = b""
        with os.fdopen(rr, "rb") as f:
            out = f.read()
        return out.decode()

    status = None

    def alive(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status is None

    def close(self, timeout=10):
        """Close our end: the server must exit by itself; its status."""
        self.sock.close()
        end = time.time() + timeout
        while self.alive() and time.time() < end:
            time.sleep(0.02)
        if self.alive():
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        return self.status


def test_server_queues_each_message_of_a_session(qenv):
    srv = Server(qenv)
    assert srv.greeting == b"R"              # ready
    qids = []
    for i in range(5):
        msg = message(f"<srv-{i}@test>")
        report = srv.send(msg, envelope("a@example.test",
                                        ["bob@example.test"]))
        m = re.fullmatch(r"K ([0-9A-F]{24})\n", report)
        assert m, report
        qids.append(m.group(1))
        assert read_entry(qenv.queue / "new" / m.group(1))["msg"] == msg
        # The server itself took it (no process per message).
        line = [l for l in qenv.log_text().splitlines()
                if m.group(1) in l][0]
        assert f"inject[{srv.pid}]: qid={m.group(1)}" in line
    assert len(set(qids)) == 5
    assert sorted(qenv.entries("new")) == sorted(qids)
    assert srv.alive()
    assert srv.close() == 0
    assert qenv.entries("tmp") == []


def test_server_drops_bad_requests_and_ends_at_a_refusal(qenv):
    srv = Server(qenv)
    wire = envelope("a@example.test", ["bob@example.test"])
    # Requests that break the protocol get no report and change nothing;
    # the server goes on.
    assert srv.send(message("<tag@test>"), wire, tag=b"X") == ""
    assert srv.send(message("<two@test>"), wire, nfds=2) == ""
    assert qenv.entries("new") == []
    report = srv.send(message("<ok@test>"), wire)
    assert report.startswith("K "), report
    assert qenv.entries("new") == [report.split()[1]]
    # A refused message gets its report as from a single inject, and the
    # server ends as a single inject does, having closed its socket
    # first: the writer then starts another (test_smtpd_queue).
    report = srv.send(message("<bad@test>"), b"V1\0Fa@b\0\0")
    assert report.startswith("D 5.5.2 ") and report.count("\n") == 1, \
        report
    assert srv.close() == 100
    assert len(qenv.entries("new")) == 1 and qenv.entries("tmp") == []
    # The same for a temporary failure (an envelope cut short).
    srv = Server(qenv)
    assert srv.send(message("<cut@test>"), wire[:-1]).startswith("Z 4.3.0 ")
    assert srv.close() == 111
    assert len(qenv.entries("new")) == 1 and qenv.entries("tmp") == []


def test_server_with_a_bad_config_never_queues(qenv, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("no_such_key = 1\n")
    qenv.conf, good = bad, qenv.conf
    try:
        srv = Server(qenv)
        # It dies at start, as a single inject would: no report, no entry,
        # and not the ready octet, so smtpd runs single injects instead.
        assert srv.greeting == b""
        end = time.time() + 10
        while srv.alive() and time.time() < end:
            time.sleep(0.02)
        assert not srv.alive() and srv.status == 111
    finally:
        qenv.conf = good
    assert qenv.entries("new") == [] and qenv.entries("tmp") == []
