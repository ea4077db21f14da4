"""sendmail: -t, -f, -F, -i, arguments, added headers, exit codes, -bp."""
import email
import os
import pwd
import re
from email import policy

import pytest

from test_queue_lib import QueueEnv, read_entry


@pytest.fixture
def qenv(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir)
    env.fake()
    yield env
    env.stop_all()


def only_entry(env):
    names = env.entries("new")
    assert len(names) == 1, names
    return read_entry(env.queue / "new" / names[0])


def login():
    return pwd.getpwuid(os.getuid()).pw_name


def test_arguments_and_added_headers(qenv):
    r = qenv.sendmail(["bob@example.test", "carol"],
                      b"Subject: hello\r\n\r\nline 1\r\nline 2\r\n")
    assert r.returncode == 0, r.stderr
    e = only_entry(qenv)
    assert e["rcpts"] == ["bob@example.test", "carol@example.test"]
    assert f"F{login()}@example.test" in e["envelope"]
    assert "Plocal" in e["envelope"] and f"A{login()}" in e["envelope"]
    msg = e["msg"]
    assert b"\r" not in msg
    assert msg.startswith(b"Received: by mx.example.test (mailstack "
                          b"sendmail, from userid %d);\n\t" % os.getuid())
    m = email.message_from_bytes(msg, policy=policy.default)
    assert m["Subject"] == "hello"
    assert m["From"].addresses[0].addr_spec == f"{login()}@example.test"
    assert m["Date"] is not None and m["Date"].datetime is not None
    assert re.fullmatch(r"<[0-9A-F]{24}@mx\.example\.test>",
                        m["Message-ID"])
    assert m.get_content() == "line 1\nline 2\n"
    assert e["hops"] == 1
    line = [l for l in qenv.log_text().splitlines() if e["qid"] in l][0]
    assert "step=2" in line


def test_existing_headers_are_kept(qenv):
    data = (b"From: Someone <someone@example.test>\nDate: Mon, 1 Jan 2024 "
            b"00:00:00 +0000\nMessage-ID: <keep@test>\nSubject: k\n\nb\n")
    assert qenv.sendmail(["x@example.test"], data).returncode == 0
    msg = only_entry(qenv)["msg"]
    assert msg.count(b"From:") == 1 and msg.count(b"Date:") == 1
    assert msg.count(b"Message-ID:") == 1 and b"<keep@test>" in msg


def test_t_reads_recipients_and_drops_bcc(qenv):
    data = (b"To: Bob <bob@example.test>, carol\nCc: \"D, E\" "
            b"<de@remote.test>\nBcc: hidden@example.test\nSubject: t\n\n"
            b"body\n")
    r = qenv.sendmail(["-t", "extra@example.test"], data)
    assert r.returncode == 0, r.stderr
    e = only_entry(qenv)
    assert e["rcpts"] == ["extra@example.test", "bob@example.test",
                          "carol@example.test", "de@remote.test",
                          "hidden@example.test"]
    assert b"Bcc:" not in e["msg"] and b"hidden" not in e["msg"]
    assert b"To: Bob <bob@example.test>, carol\n" in e["msg"]


def test_f_and_F_set_sender_and_from(qenv):
    r = qenv.sendmail(["-f", "robot@example.test", "-F", "The Robot",
                       "x@example.test"], b"Subject: f\n\nb\n")
    assert r.returncode == 0, r.stderr
    e = only_entry(qenv)
    assert "Frobot@example.test" in e["envelope"]
    assert b'From: "The Robot" <robot@example.test>\n' in e["msg"]


def test_null_sender(qenv):
    assert qenv.sendmail(["-f", "<>", "x@example.test"],
                         b"Subject: n\n\nb\n").returncode == 0
    assert "F" in only_entry(qenv)["envelope"]


def test_dot_ends_the_message_unless_i(qenv):
    data = b"Subject: d\n\nbefore\n.\nafter\n"
    assert qenv.sendmail(["x@example.test"], data).returncode == 0
    e = only_entry(qenv)
    assert e["msg"].endswith(b"\n\nbefore\n")
    os.unlink(qenv.queue / "new" / e["qid"])
    for flag in ("-i", "-oi"):
        assert qenv.sendmail([flag, "x@example.test"], data).returncode == 0
        e = only_entry(qenv)
        assert e["msg"].endswith(b"before\n.\nafter\n")
        os.unlink(qenv.queue / "new" / e["qid"])
    # "..": not a terminator, kept as it is (no SMTP dot-stuffing here).
    assert qenv.sendmail(["x@example.test"],
                         b"Subject: d\n\n..x\n.\r\n").returncode == 0
    assert only_entry(qenv)["msg"].endswith(b"\n\n..x\n")


def test_header_without_empty_line_and_8bit_and_dsn_options(qenv):
    r = qenv.sendmail(["-N", "success,delay", "-R", "hdrs", "-V", "ENV9",
                       "x@example.test"],
                      "Subject: s\nthis line is body: \u00e9t\u00e9\n"
                      .encode())
    assert r.returncode == 0, r.stderr
    e = only_entry(qenv)
    assert "B8BITMIME" in e["envelope"] and "RHDRS" in e["envelope"]
    assert "EENV9" in e["envelope"] and "DSUCCESS,DELAY" in e["envelope"]
    m = email.message_from_bytes(e["msg"], policy=policy.default)
    assert m["Subject"] == "s"
    assert "this line is body" in m.get_content()


@pytest.mark.parametrize("args,data,status,text", [
    ([], b"Subject: x\n\nb\n", 64, "no recipients"),
    (["-t"], b"Subject: x\n\nb\n", 65, "no recipient addresses"),
    (["bad@@example.test"], b"x\n", 65, "bad recipient address"),
    (["-f", "a b@c", "x@example.test"], b"x\n", 65, "bad sender"),
    (["-Z", "x@example.test"], b"x\n", 64, "unknown option"),
    (["-bs"], b"", 64, "only -bm"),
    (["-N", "sometimes", "x@example.test"], b"x\n", 64, "bad -N"),
])
def test_exit_codes(qenv, args, data, status, text):
    r = qenv.sendmail(args, data)
    assert r.returncode == status, (r.returncode, r.stderr)
    assert text in r.stderr.decode()
    assert qenv.entries("new") == []


def test_exit_codes_from_inject(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir,
                   extra_conf="message_size_limit = 2000\n")
    # over message_size_limit plus inject's 64 KiB for trace headers
    r = env.sendmail(["x@example.test"], b"Subject: big\n\n" +
                     b"x" * (2000 + 64 * 1024 + 1))
    assert r.returncode == 65 and b"5.3.4" in r.stderr
    assert env.sendmail(["x@example.test"], b"Subject: s\n\nb\n"
                        ).returncode == 0
    os.chmod(env.queue / "new", 0o777)     # unsafe: inject refuses, temporary
    r = env.sendmail(["x@example.test"], b"Subject: s\n\nb\n")
    assert r.returncode == 75 and b"4.3.5" in r.stderr
    os.chmod(env.queue / "new", 0o700)
    r = env.sendmail(["-C", str(tmp_path / "nope.conf"), "x@example.test"],
                     b"x\n")
    assert r.returncode == 78


def test_mailq_and_q_and_newaliases(qenv):
    assert qenv.sendmail(["x@example.test"], b"Subject: q\n\nb\n"
                         ).returncode == 0
    r = qenv.sendmail(["-bp"], b"")
    assert r.returncode == 0 and b"<x@example.test>" in r.stdout
    os.symlink(qenv.bin / "sendmail", qenv.bin / "mailq")
    import subprocess
    r = subprocess.run([str(qenv.bin / "mailq"), "-C", str(qenv.conf)],
                       capture_output=True, timeout=20)
    assert r.returncode == 0 and b"1 message" in r.stdout
    r = qenv.sendmail(["-q"], b"")
    assert r.returncode == 75       # smtpq not running
    qenv.start_smtpq()
    wait = qenv.sendmail(["-q"], b"")
    assert wait.returncode == 0
    r = qenv.sendmail(["-bi"], b"")
    assert r.returncode == 0 and b"nothing to do" in r.stdout


def test_sendmail_to_mailbox_end_to_end(qenv):
    from test_queue_lib import wait_for
    qenv.start_smtpq()
    r = qenv.sendmail(["-t"], b"To: bob@example.test\nSubject: e2e\n\nhi\n")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: qenv.deliveries("bob@example.test"), 10,
             what="delivery")
    (_, data), = qenv.deliveries("bob@example.test")
    assert data.endswith(b"Subject: e2e\n") is False and data.endswith(b"hi\n")
