"""smtpq with a fake deliver and remote: routing, limits, retries with a
moved clock, bounces (parsed by Python's email package), delay and
success notices, double bounces, the hop limit, dead destinations,
SIGTERM, quarantine (Q5) and planted links (Q4)."""
import email
import os
import shutil
import signal
import time
from email import policy

import pytest

from test_queue_lib import QueueEnv, envelope, message, read_entry, wait_for

DAY = 86400


@pytest.fixture
def qenv(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir,
                   domains="example.test other.test third.test")
    env.fake()
    yield env
    env.stop_all()
    for f in tmp_path.glob("smtpq-*.out"):
        assert "Sanitizer" not in f.read_text(errors="replace"), f
    if env.errlog.exists():
        assert "Sanitizer" not in env.errlog.read_text(errors="replace")


def restart(env, p, offset=0):
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    return env.start_smtpq(offset=offset)


def queued(env, msg, env_wire, offset=0):
    status, report = env.inject(msg, env_wire, offset=offset)
    assert status == 0, report
    return report.split()[1]


def starts(env, prog="deliver", rcpt=None):
    out = [r for r in env.ledger() if r["prog"] == prog and
           r["event"] == "start"]
    if rcpt is not None:
        out = [r for r in out if r.get("rcpt") == rcpt or
               rcpt in r.get("rcpts", [])]
    return out


def parse_report(data):
    """A notice as Python's email package sees it; checks the structure."""
    m = email.message_from_bytes(data, policy=policy.default)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    assert not m.defects, m.defects
    parts = list(m.iter_parts())
    for p in parts:
        assert not p.defects, p.defects
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2
    return m, parts, blocks[0], blocks[1:]


def test_routing_local_and_remote(qenv):
    qenv.start_smtpq()
    msg = message("<route@test>")
    qid = queued(qenv, msg, envelope(
        "-alice@example.test", [
            "bob@example.test", "carol@Other.Test", "-dash@example.test",
            ("x@remote.test", "SUCCESS,FAILURE", "rfc822;orig@x"),
            "y@remote.test", "z@far.test"],
        envid="E1", ret="HDRS"))
    wait_for(qenv.queue_empty, 15, what="delivery")
    got = {r: m for r, m in qenv.deliveries()}
    for r in ("bob@example.test", "carol@other.test", "-dash@example.test",
              "x@remote.test", "y@remote.test", "z@far.test"):
        assert got[r] == msg, r
    d = starts(qenv, "deliver", "-dash@example.test")[0]
    # -c CONFIG -f SENDER -q QID -- RCPT...: an address never becomes an
    # option; the local recipients of one domain share one deliver
    assert d["argv"] == ["-c", str(qenv.conf), "-f", "-alice@example.test",
                         "-q", qid, "--", "bob@example.test",
                         "-dash@example.test"]
    remote = starts(qenv, "remote")
    assert sorted(len(r["rcpts"]) for r in remote) == [1, 2]
    two = [r for r in remote if len(r["rcpts"]) == 2][0]
    assert two["rcpts"] == ["x@remote.test", "y@remote.test"]
    assert two["argv"] == ["-c", str(qenv.conf), "-q", qid]
    env = two["envelope"]
    assert env[:5] == ["V1", "F-alice@example.test", "EE1", "RHDRS",
                       "Tx@remote.test"]
    assert "Orfc822;orig@x" in env and "DSUCCESS,FAILURE" in env
    log = qenv.log_text()
    assert f"qid={qid} step=4 relay=deliver to=<bob@example.test> " \
        "status=sent dsn=2.0.0" in log
    assert f"qid={qid} step=3 relay=remote to=<x@remote.test> " \
        "status=sent dsn=2.0.0" in log
    assert f"qid={qid} status=removed" in log


def test_remote_missing_defers_and_keeps_the_message(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir, copy_remote=False)
    env.fake()
    try:
        env.start_smtpq()
        qid = queued(env, message("<nr@test>"),
                     envelope("a@example.test", ["b@example.test",
                                                 "c@remote.test"]))
        env.wait_log(f"qid={qid} step=3 relay=remote to=<c@remote.test> "
                     "status=deferred dsn=4.4.0")
        env.wait_log(f"qid={qid} step=4 .*status=sent")
        e = read_entry(env.queue / "cur" / qid)
        assert [s["state"] for s in e["slots"]] == ["K", "P"]
        assert e["slots"][1]["text"] == \
            "4.4.0 remote delivery not available yet"
        assert e["slots"][1]["next_try"] - e["slots"][1]["last_try"] == 300
    finally:
        env.stop_all()


def max_overlap(intervals):
    ev = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in
                                                    intervals])
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def spans_by_domain(env):
    by_pid = {}
    for r in env.ledger():
        if r["prog"] == "deliver":
            by_pid.setdefault(r["pid"], {})[r["event"]] = r
    spans = {}
    for ev in by_pid.values():
        dom = ev["start"]["rcpt"].split("@")[1]
        spans.setdefault(dom, []).append((ev["start"]["t"], ev["end"]["t"]))
    return spans


@pytest.mark.parametrize("total,per_dest", [(4, 2), (5, 5)])
def test_parallelism_limits(tmp_path, build_dir, total, per_dest):
    """queue_concurrency in all, queue_destination_concurrency a domain."""
    env = QueueEnv(tmp_path, build_dir,
                   domains="example.test other.test third.test",
                   extra_conf=f"queue_concurrency = {total}\n"
                   f"queue_destination_concurrency = {per_dest}\n")
    env.fake(sleep=0.3)
    try:
        env.start_smtpq()
        for dom in ("example.test", "other.test", "third.test"):
            for i in range(6):
                queued(env, message(f"<par-{dom}-{i}@test>"),
                       envelope("a@example.test", [f"u{i}@{dom}"]))
        wait_for(env.queue_empty, 40, what="18 deliveries")
        spans = spans_by_domain(env)
        assert sum(len(v) for v in spans.values()) == 18
        everything = [s for v in spans.values() for s in v]
        assert max_overlap(everything) <= total
        assert max_overlap(everything) >= 2
        for dom, v in spans.items():
            assert max_overlap(v) <= per_dest, dom
    finally:
        env.stop_all()


def test_default_limits_hold_under_load(qenv):
    """The defaults: at most 20 jobs in all and 10 for one domain."""
    qenv.fake(sleep=0.4)
    qenv.start_smtpq()
    for dom in ("example.test", "other.test", "third.test"):
        for i in range(12):
            queued(qenv, message(f"<par-{dom}-{i}@test>"),
                   envelope("a@example.test", [f"u{i}@{dom}"]))
    wait_for(qenv.queue_empty, 40, what="36 deliveries")
    spans = spans_by_domain(qenv)
    everything = [s for v in spans.values() for s in v]
    assert 2 <= max_overlap(everything) <= 20
    for dom, v in spans.items():
        assert max_overlap(v) <= 10, dom


def test_deliver_timeout_kills_the_job_and_defers(tmp_path, build_dir):
    env = QueueEnv(tmp_path, build_dir, extra_conf="deliver_timeout = 1s\n")
    env.fake(default="hang")
    try:
        env.start_smtpq()
        qid = queued(env, message("<slow@test>"),
                     envelope("a@example.test", ["b@example.test"]))
        env.wait_log(f"qid={qid} .*status=deferred dsn=4.4.2 .*"
                     'text="4.4.2 deliver timed out"', timeout=10)
        pid = starts(env)[0]["pid"]
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                 open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5,
                 what="the hung deliver to be killed")
    finally:
        env.stop_all()


def test_retry_back_off_with_a_moved_clock(qenv):
    qenv.fake(rules=[("slow@example.test", "temp")])
    p = qenv.start_smtpq()
    qid = queued(qenv, message("<retry@test>"),
                 envelope("a@example.test", ["slow@example.test"]))
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=1")
    e = read_entry(qenv.queue / "cur" / qid)["slots"][0]
    assert e["text"] == "4.2.1 mailbox busy, try later"
    assert e["next_try"] - e["last_try"] == 300        # first retry: 5 min
    # 200 s later: not due yet.
    p = restart(qenv, p, offset=200)
    time.sleep(0.5)
    assert len(starts(qenv)) == 1
    # 310 s later: the second attempt, then 10 min.
    p = restart(qenv, p, offset=310)
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=2")
    e = read_entry(qenv.queue / "cur" / qid)["slots"][0]
    assert e["next_try"] - e["last_try"] == 600
    p = restart(qenv, p, offset=310 + 590)
    time.sleep(0.5)
    assert len(starts(qenv)) == 2
    p = restart(qenv, p, offset=310 + 610)
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=3")
    e = read_entry(qenv.queue / "cur" / qid)["slots"][0]
    assert e["next_try"] - e["last_try"] == 1200
    # Growing to hours: the 8th failure waits 4 h (the cap), not 10.7 h.
    p = restart(qenv, p, offset=DAY)
    qenv.wait_log(f"qid={qid} .*attempts=4")
    # The mailbox works again: delivered at the next due attempt.
    qenv.fake()
    restart(qenv, p, offset=DAY + 2500)
    wait_for(qenv.queue_empty, 10, what="delivery after retries")
    assert len(qenv.deliveries("slow@example.test")) == 1


def test_bounce_after_queue_lifetime(qenv):
    qenv.fake(rules=[("never@remote.test", "temp")])
    p = qenv.start_smtpq()
    msg = message("<life@test>", subject="will expire")
    qid = queued(qenv, msg, envelope("alice@example.test",
                                     ["never@remote.test"], envid="LIFE-1"))
    qenv.wait_log(f"qid={qid} .*status=deferred")
    # Four days later: still deferred, no bounce.
    p = restart(qenv, p, offset=4 * DAY)
    qenv.wait_log(f"qid={qid} .*status=deferred .*attempts=2")
    assert qenv.deliveries("alice@example.test") == []
    # Five days and a bit: the last attempt fails, the sender gets a bounce.
    restart(qenv, p, offset=5 * DAY + 60)
    qenv.wait_log(f"qid={qid} .*status=expired")
    wait_for(lambda: qenv.deliveries("alice@example.test"), 10,
             what="the bounce")
    wait_for(qenv.queue_empty, 10, what="empty queue")
    (rcpt, data), = qenv.deliveries("alice@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert m["From"].addresses[0].display_name == "Mail Delivery System"
    assert m["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.test"
    assert m["To"].addresses[0].addr_spec == "alice@example.test"
    assert m["Auto-Submitted"] == "auto-replied"
    assert per_msg["Reporting-MTA"] == "dns; mx.example.test"
    assert per_msg["Original-Envelope-Id"] == "LIFE-1"
    assert per_msg["X-Mailstack-Queue-ID"] == qid
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; never@remote.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.1"
    assert "no answer" in r["Diagnostic-Code"]
    assert parts[2].get_content_type() == "message/rfc822"
    orig = parts[2].get_payload()[0]
    assert orig["Message-ID"] == "<life@test>"
    assert orig["Subject"] == "will expire"
    # Sent with the null sender.
    b = [x for x in starts(qenv, "deliver", "alice@example.test")]
    assert b and b[-1]["sender"] == ""
    assert "notice=bounce" in qenv.log_text()


def test_permanent_failure_bounce_ret_hdrs_orcpt_and_never(qenv):
    qenv.fake(rules=[("nouser@example.test", "perm"),
                     ("quiet@example.test", "perm")])
    qenv.start_smtpq()
    msg = message("<perm@test>", body="secret body\n")
    qid = queued(qenv, msg, envelope(
        "alice@example.test",
        [("nouser@example.test", None, "rfc822;NoUser@Example.Test"),
         ("quiet@example.test", "NEVER", None), "ok@example.test"],
        envid="ENV-P", ret="HDRS"))
    wait_for(qenv.queue_empty, 10, what="the bounce")
    (rcpt, data), = qenv.deliveries("alice@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert len(per_rcpt) == 1       # NOTIFY=NEVER: not reported
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; nouser@example.test"
    assert r["Original-Recipient"] == "rfc822; NoUser@Example.Test"
    assert r["Action"] == "failed" and r["Status"] == "5.1.1"
    assert r["Diagnostic-Code"].startswith("X-Mailstack;")
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"secret body" not in data and b"<perm@test>" in data
    assert len(qenv.deliveries("ok@example.test")) == 1
    assert f"qid={qid} step=4 relay=deliver to=<nouser@example.test> " \
        "status=bounced dsn=5.1.1" in qenv.log_text()


def test_success_notice(qenv):
    qenv.start_smtpq()
    queued(qenv, message("<succ@test>"), envelope(
        "alice@example.test", [("bob@example.test", "SUCCESS", None)]))
    wait_for(lambda: qenv.deliveries("alice@example.test"), 10,
             what="the success notice")
    wait_for(qenv.queue_empty, 10, what="empty queue")
    (_, data), = qenv.deliveries("alice@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert m["Subject"] == "Successful Mail Delivery Report"
    assert per_rcpt[0]["Action"] == "delivered"
    assert per_rcpt[0]["Status"] == "2.0.0"


def test_delay_notice_once_when_asked(qenv):
    qenv.fake(rules=[("late*@remote.test", "temp")])
    p = qenv.start_smtpq()
    qid = queued(qenv, message("<delay@test>"), envelope(
        "alice@example.test", [("late1@remote.test", "DELAY,FAILURE", None),
                               "late2@remote.test"]))
    qenv.wait_log(f"qid={qid} .*status=deferred")
    assert qenv.deliveries("alice@example.test") == []
    p = restart(qenv, p, offset=4 * 3600 + 60)
    wait_for(lambda: qenv.deliveries("alice@example.test"), 10,
             what="the delay notice")
    (_, data), = qenv.deliveries("alice@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert m["Subject"] == "Delayed Mail (still being retried)"
    assert len(per_rcpt) == 1       # late2 did not ask for DELAY
    assert per_rcpt[0]["Final-Recipient"] == "rfc822; late1@remote.test"
    assert per_rcpt[0]["Action"] == "delayed"
    assert per_rcpt[0]["Status"] == "4.4.1"
    assert "Will-Retry-Until" in per_rcpt[0]
    assert parts[2].get_content_type() == "text/rfc822-headers"
    e = read_entry(qenv.queue / "cur" / qid)
    assert [s["flags"] for s in e["slots"]] == ["W", "-"]
    # Later attempts: no second delay notice.
    restart(qenv, p, offset=8 * 3600)
    qenv.wait_log(f"qid={qid} .*status=deferred", count=3)
    time.sleep(0.3)
    assert len(qenv.deliveries("alice@example.test")) == 1


def test_double_bounce_goes_to_postmaster_never_back(qenv):
    qenv.fake(rules=[("bad@example.test", "perm")])
    qenv.start_smtpq()
    qid = queued(qenv, message("<dbl@test>"), envelope(
        "", ["bad@example.test"]))
    wait_for(lambda: qenv.deliveries("postmaster@example.test"), 10,
             what="the double bounce")
    wait_for(qenv.queue_empty, 10, what="empty queue")
    (_, data), = qenv.deliveries("postmaster@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert m["To"].addresses[0].addr_spec == "postmaster@example.test"
    assert per_rcpt[0]["Final-Recipient"] == "rfc822; bad@example.test"
    assert "notice=double" in qenv.log_text()
    # Nothing was ever sent to the null sender.
    assert all(r.get("rcpt") for r in starts(qenv))
    assert qid in qenv.log_text()


def test_failing_double_bounce_is_dropped(qenv):
    qenv.fake(rules=[("bad@example.test", "perm"),
                     ("postmaster@example.test", "perm")])
    qenv.start_smtpq()
    queued(qenv, message("<dbl2@test>"), envelope("", ["bad@example.test"]))
    qenv.wait_log(r"status=discarded .*undeliverable double bounce")
    wait_for(qenv.queue_empty, 10, what="empty queue")
    time.sleep(0.3)
    # bad@ once, postmaster@ once: no loop.
    assert len(starts(qenv)) == 2


def test_hop_limit_bounce(qenv):
    qenv.start_smtpq()
    hops = "".join(f"Received: from h{i} by h{i + 1}\n" for i in range(101))
    qid = queued(qenv, message("<loop@test>", extra=hops), envelope(
        "alice@example.test", ["bob@example.test"]))
    wait_for(lambda: qenv.deliveries("alice@example.test"), 10,
             what="the hop-limit bounce")
    assert qenv.deliveries("bob@example.test") == []
    assert starts(qenv, "deliver", "bob@example.test") == []
    (_, data), = qenv.deliveries("alice@example.test")
    m, parts, per_msg, per_rcpt = parse_report(data)
    assert per_rcpt[0]["Status"] == "5.4.6"
    assert "hop limit" in per_rcpt[0]["Diagnostic-Code"]
    assert f"qid={qid} relay=smtpq to=<bob@example.test> status=bounced" \
        in qenv.log_text()
    # Exactly 100 is still fine.
    hops = "".join(f"Received: from h{i} by h{i + 1}\n" for i in range(100))
    queued(qenv, message("<hundred@test>", extra=hops), envelope(
        "alice@example.test", ["carol@example.test"]))
    wait_for(lambda: qenv.deliveries("carol@example.test"), 10,
             what="delivery at 100 hops")


def test_dead_destination_is_not_hammered(qenv):
    qenv.fake(rules=[("*@dead.test", "temp")])
    qenv.start_smtpq()
    first = queued(qenv, message("<dead0@test>"),
                   envelope("a@example.test", ["x@dead.test"]))
    qenv.wait_log(f"qid={first} .*status=deferred")
    qenv.wait_log("dest=dead.test status=dead")
    later = [queued(qenv, message(f"<dead{i}@test>"),
                    envelope("a@example.test", [f"y{i}@dead.test"]))
             for i in range(1, 5)]
    time.sleep(0.5)
    assert len(starts(qenv, "remote")) == 1
    for qid in later:
        assert read_entry(qenv.queue / "cur" / qid)["slots"][0][
            "attempts"] == 0
    # A flush forgets the mark: every one is tried now.
    assert qenv.mailctl("queue", "flush").returncode == 0
    wait_for(lambda: len(starts(qenv, "remote")) == 6, 10,
             what="retries after flush")


def test_deliver_crash_timeout_and_odd_exits_are_temporary(qenv):
    qenv.fake(rules=[("crash@example.test", "crash"),
                     ("weird@example.test", "exit3"),
                     ("data@example.test", "exit65")])
    qenv.start_smtpq()
    qid = queued(qenv, message("<odd@test>"), envelope(
        "alice@example.test", ["crash@example.test", "weird@example.test",
                               "data@example.test"]))
    qenv.wait_log(f"qid={qid} .*to=<crash@example.test> status=deferred "
                  "dsn=4.3.0")
    qenv.wait_log(f"qid={qid} .*to=<weird@example.test> status=deferred "
                  r'dsn=4.3.0 .*text="4.3.0 deliver failed \(exit 3\)"')
    qenv.wait_log(f"qid={qid} .*to=<data@example.test> status=bounced "
                  r'dsn=5.3.0 .*text="5.3.0 deliver failed \(exit 65\)"')
    # The bounce for data@ is queued at the end of the pass.
    wait_for(lambda: read_entry(qenv.queue / "cur" / qid)["slots"][2][
        "state"] == "B", 10, what="the bounce to be queued")
    e = read_entry(qenv.queue / "cur" / qid)
    assert e["slots"][0]["text"] == "4.3.0 deliver failed (killed by signal 9)"
    assert [s["state"] for s in e["slots"]] == ["P", "P", "B"]


def test_sigterm_abandons_a_running_delivery_safely(qenv):
    qenv.fake(default="hang")
    p = qenv.start_smtpq()
    qid = queued(qenv, message("<term@test>"),
                 envelope("a@example.test", ["b@example.test"]))
    wait_for(lambda: starts(qenv), 10, what="deliver to start")
    pid = starts(qenv)[0]["pid"]
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert time.monotonic() - t0 < 6
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5,
             what="the abandoned deliver to die")
    e = read_entry(qenv.queue / "cur" / qid)
    assert e["slots"][0]["state"] == "P" and e["slots"][0]["attempts"] == 0
    qenv.fake()
    qenv.start_smtpq()
    wait_for(qenv.queue_empty, 10, what="delivery after restart")
    assert len(qenv.deliveries("b@example.test")) == 1


def test_quarantine_of_bad_entries_and_planted_links(qenv, tmp_path):
    """Q5: garbage, truncated and tampered entries go to corrupt/ and the
    rest is served. Q4: a symlink or hard link in the queue is never
    followed or written through."""
    good = queued(qenv, message("<good@test>"),
                  envelope("a@example.test", ["b@example.test"]))
    other = queued(qenv, message("<other@test>"),
                   envelope("a@example.test", ["c@example.test"]))
    new = qenv.queue / "new"
    cur = qenv.queue / "cur"
    data = (new / other).read_bytes()
    os.unlink(new / other)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    hard = qenv.queue / "hardvictim"
    hard.write_bytes(data)
    ids = [f"{i:024X}" for i in range(1, 8)]
    (new / ids[0]).write_bytes(b"garbage" * 100)
    (cur / ids[1]).write_bytes(data[:len(data) - 10].replace(
        other.encode(), ids[1].encode()))
    # A LF inside an address record.
    (new / ids[2]).write_bytes(data.replace(b"Tc@example.test",
                                            b"Tc@exa\nple.test").replace(
        other.encode(), ids[2].encode()))
    os.symlink(victim, new / ids[3])
    os.link(hard, new / ids[4])
    (new / "not-a-queue-id").write_bytes(data)
    # A well-formed entry under another name: id and name disagree.
    (new / ids[5]).write_bytes(data)
    qenv.start_smtpq()
    wait_for(lambda: qenv.deliveries("b@example.test"), 10,
             what="the good message")
    qenv.wait_log("status=quarantined", count=7)
    corrupt = sorted(os.listdir(qenv.queue / "corrupt"))
    assert corrupt == sorted([ids[0], ids[1], ids[2], ids[3], ids[4],
                              ids[5], "not-a-queue-id"])
    assert victim.read_text() == "precious\n"
    assert hard.read_bytes() == data
    assert qenv.deliveries("c@example.test") == []
    wait_for(qenv.queue_empty, 10, what="empty queue")
    out = qenv.mailctl("queue").stdout
    assert "7 quarantined entries" in out
    assert good in qenv.log_text()


def test_tmp_leftovers_are_cleaned_after_36_hours(qenv):
    tmp = qenv.queue / "tmp"
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    for d in (qenv.queue, tmp):
        os.chmod(d, 0o700)
    old, young = tmp / ("A" * 24), tmp / ("B" * 24)
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    t = time.time() - 37 * 3600
    os.utime(old, (t, t))
    qenv.start_smtpq()
    assert not old.exists() and young.exists()


def test_second_smtpq_refuses_to_run(qenv):
    import subprocess
    qenv.start_smtpq()
    r = subprocess.run([str(qenv.bin / "smtpq"), "-c", str(qenv.conf)],
                       capture_output=True, timeout=20)
    assert r.returncode == 111
    assert "another smtpq is running" in qenv.log_text()


def test_many_recipients_in_one_entry(qenv):
    """One entry, 150 local recipients: progress is recorded per slot."""
    qenv.start_smtpq()
    rcpts = [f"m{i}@example.test" for i in range(150)]
    qid = queued(qenv, message("<many@test>"), envelope("a@example.test",
                                                         rcpts))
    wait_for(qenv.queue_empty, 40, what="150 deliveries")
    assert len(qenv.deliveries()) == 150
    assert qenv.count_log(f"qid={qid} step=4 .*status=sent") == 150
    shutil.rmtree(qenv.root / "spool")


def test_sighup_rereads_the_config(qenv):
    """A domain made local by a config change is routed to deliver after
    SIGHUP, without a restart; a broken config is refused and the running
    one kept."""
    p = qenv.start_smtpq()
    msg = message("<before@test>")
    queued(qenv, msg, envelope("a@example.test", ["u@newly.test"]))
    wait_for(qenv.queue_empty, 15, what="delivery before the reload")
    assert starts(qenv, "remote", "u@newly.test")
    assert not starts(qenv, "deliver", "u@newly.test")

    text = qenv.conf.read_text()
    qenv.conf.write_text(text.replace("domains = example.test other.test",
                                      "domains = example.test other.test "
                                      "newly.test"))
    p.send_signal(signal.SIGHUP)
    qenv.wait_log(r"smtpq\[%d\]: status=reloaded" % p.pid)
    queued(qenv, message("<after@test>"),
           envelope("a@example.test", ["v@newly.test"]))
    wait_for(qenv.queue_empty, 15, what="delivery after the reload")
    assert starts(qenv, "deliver", "v@newly.test")
    assert not starts(qenv, "remote", "v@newly.test")

    qenv.conf.write_text(qenv.conf.read_text() + "no_such_key = 1\n")
    p.send_signal(signal.SIGHUP)
    qenv.wait_log(r"status=reload-refused .*unknown key 'no_such_key'")
    assert p.poll() is None
    # The file is valid again but without newly.test, and no SIGHUP
    # follows: smtpq still routes by the config it kept, where newly.test
    # is local. (inject needs a valid file to queue at all.)
    qenv.conf.write_text(text)
    queued(qenv, message("<still@test>"),
           envelope("a@example.test", ["w@newly.test"]))
    wait_for(qenv.queue_empty, 15, what="delivery with the kept config")
    assert starts(qenv, "deliver", "w@newly.test")
