"""mailctl trace: one message's steps, gathered from a log file."""
import subprocess
from pathlib import Path

LOG = """\
2026-11-23T12:00:00.001Z maild[10]: event=started pid=10
2026-11-23T12:00:01.000Z smtpd[11]: step=2 qid=AAA1 event=queued from=<fred@truc.test> msgid=<m1@truc.test> auth=fred@truc.test
2026-11-23T12:00:01.001Z smtpd[12]: step=3 qid=BBB2 event=queued from=<x@y.test> msgid=<other@y.test>
2026-11-23T12:00:01.002Z smtpq[13]: step=4 qid=AAA1 to=<marc@truc.test> event=handed-to-deliver
2026-11-23T12:00:01.003Z deliver[14]: step=5 qid=AAA1 to=<marc@truc.test> status=delivered file="1.M2P3Q4.mx,S=10,W=11"
2026-11-23T12:00:01.004Z deliver[15]: step=5 qid=BBB2 to=<z@truc.test> status=delivered
Nov 23 12:00:02 mx smtpq[13]: qid=AAA1 event=done
2026-11-23T12:00:03.000Z smtpd[16]: step=3 qid=CCC3 helo="evil\\x1b[31m" msgid=<m1@truc.test>
this line is not ours at all
2026-11-23T12:00:04.000Z deliver[17]: step=5 qid=CCC3 status=delivered
"""


def trace(build_dir, conf, *args):
    return subprocess.run([str(Path(build_dir) / "bin/mailctl"), "-c",
                           str(conf), "trace", *args], capture_output=True,
                          text=True, timeout=60)


def make_log(tmp_path, log_target=None):
    log = tmp_path / "mail.log"
    log.write_text(LOG)
    conf = tmp_path / "mailstack.conf"
    conf.write_text(f"state_dir = {tmp_path}\nmail_dir = {tmp_path}\n"
                    f"hostname = mx.truc.test\n"
                    f"log = {log_target or log}\n")
    return conf, log


def test_trace_by_queue_id_shows_only_that_message(build_dir, tmp_path):
    conf, _ = make_log(tmp_path)
    r = trace(build_dir, conf, "AAA1")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if "qid=" in l]
    assert len(lines) == 4
    assert all("qid=AAA1" in l for l in lines)
    assert lines[0].startswith("step 2  2026-11-23T12:00:01.000Z  smtpd")
    assert lines[2].startswith("step 5") and "status=delivered" in lines[2]
    # The syslog-format line is read too, with its time and program.
    assert lines[3].startswith("        Nov 23 12:00:02  smtpq")
    assert "[x] 2  the sender's client hands it to its server" in r.stdout
    assert "[x] 5  the delivery agent stores it in the mailbox" in r.stdout
    assert "[ ] 3  server to server (SMTP)" in r.stdout


def test_trace_by_message_id_finds_every_queue_entry(build_dir, tmp_path):
    conf, _ = make_log(tmp_path)
    for want in ("<m1@truc.test>", "m1@truc.test"):
        r = trace(build_dir, conf, want)
        assert r.returncode == 0, r.stderr
        qids = {w for l in r.stdout.splitlines() for w in l.split()
                if w.startswith("qid=")}
        assert qids == {"qid=AAA1", "qid=CCC3"}
        assert "qid=BBB2" not in r.stdout


def test_escaped_peer_text_stays_escaped(build_dir, tmp_path):
    conf, _ = make_log(tmp_path)
    r = trace(build_dir, conf, "CCC3")
    assert "\x1b" not in r.stdout
    assert 'helo="evil\\x1b[31m"' in r.stdout


def test_unknown_id_and_usage(build_dir, tmp_path):
    conf, _ = make_log(tmp_path)
    r = trace(build_dir, conf, "ZZZ9")
    assert r.returncode == 67 and "nothing in" in r.stderr
    r = trace(build_dir, conf)
    assert r.returncode == 64


def test_log_file_named_on_the_command_line_or_stdin(build_dir, tmp_path):
    conf, log = make_log(tmp_path, log_target="syslog")
    r = trace(build_dir, conf, "AAA1")
    assert r.returncode == 78 and "/var/log/mail.log" in r.stderr
    r = trace(build_dir, conf, "AAA1", str(log))
    assert r.returncode == 0 and "qid=AAA1" in r.stdout
    r = subprocess.run([str(Path(build_dir) / "bin/mailctl"), "-c",
                        str(conf), "trace", "BBB2", "-"], input=LOG,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "qid=BBB2" in r.stdout
