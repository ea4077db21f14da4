"""The queue's DSNs end to end: the real smtpq and remote, a fake deliver
(test_queue_lib) and a scripted next-hop SMTP server on loopback
(test_remote_fixture.FakeSMTP) reached as the relayhost.

- NOTIFY=SUCCESS relayed to a server without DSN: one "relayed" notice
  (RFC 3461 5.2.2); to a server with DSN: the parameters are passed on
  and no notice comes from us.
- A bounce of SMTPUTF8 mail takes RFC 6533's form
  (message/global-delivery-status, utf-8 address type) and is itself
  sent as SMTPUTF8 mail.
- A remote server's reply is quoted as "Diagnostic-Code: smtp; ...".
- smtpq logs UTF-8 addresses and texts as UTF-8.
Every notice is read back with Python's email package.
"""
import email
import shutil
from email import policy
from pathlib import Path

import pytest

from test_queue_lib import QueueEnv, envelope, wait_for
from test_remote_fixture import DEFAULT_CAPS, TIMEOUTS, FakeSMTP

NO_DSN_CAPS = tuple(c for c in DEFAULT_CAPS if c != "DSN")
UTF8_RCPT = "\u7528\u6237@remote.test"          # 用户@remote.test
UTF8_SENDER = "j\u00f6rg@elsewhere.test"        # jörg@elsewhere.test


@pytest.fixture
def relay(tmp_path, build_dir):
    """A factory: relay(**server_kw) gives (QueueEnv, FakeSMTP), smtpq
    with the real remote and the fake server as its relayhost."""
    made = []

    def make(**kw):
        srv = FakeSMTP("127.0.0.1", 0, name="next.remote.test", **kw)
        made.append(srv)
        env = QueueEnv(tmp_path, build_dir, domains="example.test",
                       extra_conf=TIMEOUTS +
                       f"relayhost = [127.0.0.1]:{srv.port}\n",
                       copy_remote=False)
        made.append(env)
        src = Path(build_dir) / "bin" / "remote"
        assert src.exists(), f"{src} is not built"
        shutil.copy2(src, env.bin / "remote")
        env.fake()
        return env, srv

    yield make
    for x in reversed(made):
        if isinstance(x, QueueEnv):
            x.stop_all()
        else:
            x.stop()
    for f in tmp_path.glob("smtpq-*.out"):
        assert "Sanitizer" not in f.read_text(errors="replace"), f
    errlog = tmp_path / "stderr.log"
    if errlog.exists():
        assert "Sanitizer" not in errlog.read_text(errors="replace")


def queued(env, msg, wire):
    status, report = env.inject(msg, wire)
    assert status == 0, report
    return report.split()[1]


def blocks(part):
    """The field blocks of a (global-)delivery-status part, as Messages."""
    if part.get_content_type() == "message/delivery-status":
        return part.get_payload()
    # message/global-delivery-status: the email package parses it as an
    # embedded message (first block = header, the rest = its body).
    inner = part.get_payload()[0]
    out = [inner]
    body = inner.get_payload()
    for chunk in body.replace("\r\n", "\n").split("\n\n"):
        if chunk.strip():
            out.append(email.message_from_string(chunk + "\n",
                                                 policy=policy.default))
    return out


def parse_notice(data):
    """A notice as Python's email package sees it (UTF-8 headers allowed,
    RFC 6532); checks the multipart/report structure."""
    text = data.decode("utf-8").replace("\r\n", "\n")
    m = email.message_from_string(text, policy=policy.default)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    assert not m.defects, m.defects
    parts = list(m.iter_parts())
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    for p in parts:
        assert not p.defects, p.defects
    assert parts[0].get_content_type() == "text/plain"
    b = blocks(parts[1])
    assert len(b) >= 2
    return m, parts, b[0], b[1:]


def notices(env, rcpt):
    return [d for _, d in env.deliveries(rcpt)]


def sessions_with_data(srv):
    return [s for s in srv.sessions if s.messages]


def test_success_relayed_to_a_server_without_dsn(relay):
    env, srv = relay(caps=NO_DSN_CAPS)
    env.start_smtpq()
    qid = queued(env, b"Subject: relayed\nMessage-ID: <rel@test>\n\nhi\n",
                 envelope("alice@example.test", [
                     ("bob@remote.test", "SUCCESS,FAILURE",
                      "rfc822;Bob@Remote.Test"),
                     "carol@remote.test"], envid="ENV-R1", ret="HDRS"))
    wait_for(lambda: notices(env, "alice@example.test"), 30,
             what="the relayed notice")
    wait_for(env.queue_empty, 30, what="an empty queue")
    # The next hop got the message, without any DSN parameter.
    (s,) = sessions_with_data(srv)
    assert b"Subject: relayed" in s.messages[0]
    assert not any("NOTIFY=" in l or "ORCPT=" in l or "ENVID=" in l or
                   "RET=" in l for l in s.lines), s.lines
    # Exactly one notice, for bob only (carol did not ask).
    (data,) = notices(env, "alice@example.test")
    m, parts, per_msg, per_rcpt = parse_notice(data)
    assert m["Subject"].startswith("Relayed Mail Report")
    assert parts[1].get_content_type() == "message/delivery-status"
    assert per_msg["Original-Envelope-Id"] == "ENV-R1"
    (r,) = per_rcpt
    assert r["Final-Recipient"] == "rfc822; bob@remote.test"
    assert r["Original-Recipient"] == "rfc822; Bob@Remote.Test"
    assert r["Action"] == "relayed"
    assert r["Status"].startswith("2.")
    assert r["Remote-MTA"] == "dns; 127.0.0.1"
    assert r["Diagnostic-Code"] == "smtp; 250 2.0.0 Ok: queued"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    log = env.log_text()
    assert f"qid={qid} status=notice notice=relayed" in log
    assert log.count("dsn_request=dropped") == 1      # bob, not carol
    assert "notice=success" not in log


def test_no_notice_when_the_next_hop_takes_dsn(relay):
    env, srv = relay()
    env.start_smtpq()
    qid = queued(env, b"Subject: passed on\n\nhi\n",
                 envelope("alice@example.test", [
                     ("bob@remote.test", "SUCCESS", "rfc822;Bob@Remote.Test")],
                     envid="ENV-R2", ret="HDRS"))
    wait_for(lambda: f"qid={qid} step=3 relay=remote to=<bob@remote.test> "
             "status=sent" in env.log_text(), 30, what="the relay")
    wait_for(env.queue_empty, 30, what="an empty queue")
    (s,) = sessions_with_data(srv)
    mail = [l for l in s.lines if l.upper().startswith("MAIL FROM:")]
    rcpt = [l for l in s.lines if l.upper().startswith("RCPT TO:")]
    (mail,) = mail
    assert mail.startswith("MAIL FROM:<alice@example.test> "), mail
    assert "RET=HDRS" in mail.split() and "ENVID=ENV-R2" in mail.split()
    assert rcpt == ["RCPT TO:<bob@remote.test> NOTIFY=SUCCESS "
                    "ORCPT=rfc822;Bob@Remote.Test"], rcpt
    # The next hop answers NOTIFY=SUCCESS: nothing from us.
    assert notices(env, "alice@example.test") == []
    assert "status=notice" not in env.log_text()
    assert "dsn_request=dropped" not in env.log_text()


def rcpt_550(addr):
    if addr.startswith("\u7528") or addr.startswith("nobody"):
        return f"550 5.1.1 <{addr}>: Recipient address rejected"
    return "250 2.1.5 Ok"


def test_remote_550_quoted_as_smtp_diagnostic(relay):
    env, srv = relay(replies={"RCPT": rcpt_550})
    env.start_smtpq()
    queued(env, b"Subject: to nobody\n\nbody text\n",
           envelope("alice@example.test", ["nobody@remote.test"]))
    wait_for(lambda: notices(env, "alice@example.test"), 30,
             what="the bounce")
    (data,) = notices(env, "alice@example.test")
    m, parts, per_msg, per_rcpt = parse_notice(data)
    assert parts[1].get_content_type() == "message/delivery-status"
    (r,) = per_rcpt
    assert r["Action"] == "failed" and r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; 127.0.0.1"
    assert r["Diagnostic-Code"] == \
        "smtp; 550 5.1.1 <nobody@remote.test>: Recipient address rejected"
    assert parts[2].get_content_type() == "message/rfc822"
    assert b"body text" in data


def test_smtputf8_bounce_is_an_rfc6533_notice(relay):
    env, srv = relay(replies={"RCPT": rcpt_550})
    env.start_smtpq()
    msg = ("From: <%s>\nSubject: gr\u00fc\u00dfe\n\nHallo\n"
           % UTF8_SENDER).encode()
    qid = queued(env, msg, envelope(UTF8_SENDER, [UTF8_RCPT],
                                    smtputf8=True))
    # The bounce goes back to the (remote) sender through the same
    # server: it arrives there as SMTPUTF8 mail from <>.
    def bounce_session():
        for s in sessions_with_data(srv):
            if any(l.upper().startswith("MAIL FROM:<>") for l in s.lines):
                return s
        return None
    s = wait_for(bounce_session, 40, what="the bounce at the next hop")
    mail = [l for l in s.lines if l.upper().startswith("MAIL FROM:")]
    assert "SMTPUTF8" in mail[0].split()[1:], mail
    assert f"RCPT TO:<{UTF8_SENDER}>" in s.lines
    m, parts, per_msg, per_rcpt = parse_notice(s.messages[0])
    assert m["To"].addresses[0].addr_spec == UTF8_SENDER
    assert parts[1].get_content_type() == "message/global-delivery-status"
    (r,) = per_rcpt
    assert r["Final-Recipient"] == f"utf-8; {UTF8_RCPT}"
    assert r["Action"] == "failed" and r["Status"] == "5.1.1"
    assert r["Diagnostic-Code"].startswith("smtp; 550 5.1.1 ")
    assert parts[2].get_content_type() == "message/global"
    assert "gr\u00fc\u00dfe" in s.messages[0].decode("utf-8")
    # smtpq logs the UTF-8 address as UTF-8, not as \\x escapes.
    wait_for(env.queue_empty, 30, what="an empty queue")
    log = env.log_text()
    assert f'qid={qid} step=3 relay=remote to="<{UTF8_RCPT}>" ' \
        "status=bounced dsn=5.1.1" in log, log[-2000:]
    assert "\\xe7" not in log


def test_smtpq_logs_a_local_utf8_text_as_utf8(relay):
    env, srv = relay()
    env.start_smtpq()
    rcpt = "m\u00fcller@example.test"
    qid = queued(env, b"Subject: x\n\nhi\n",
                 envelope("alice@example.test", [rcpt], smtputf8=True))
    wait_for(env.queue_empty, 30, what="the delivery")
    log = env.log_text()
    # The fake deliver answers "2.0.0 delivered to <RCPT>".
    assert f'qid={qid} step=4 relay=deliver to="<{rcpt}>" status=sent' \
        in log, log[-2000:]
    assert f'text="2.0.0 delivered to <{rcpt}>"' in log, log[-2000:]
    lines = [l for l in log.splitlines() if f"qid={qid}" in l]
    assert all(l.count("qid=") == 1 for l in lines)
