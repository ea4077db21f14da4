"""One real message from an SMTP client into a Maildir, through the real
programs started by maild: smtpd -> inject -> queue -> smtpq -> deliver ->
Maildir, and what the logs say about each step."""
import email.policy
import mailbox
import re
import smtplib
import ssl
from email.message import EmailMessage

import pytest

from mailstack import MailStack, wait_for


@pytest.fixture
def stack(tmp_path, build_dir, tls_cert):
    s = MailStack(tmp_path, build_dir, domains=("truc.test",),
                  listeners=("smtp", "submission"), tls=tls_cert)
    s.add_user("marc@truc.test", "marc-secret")
    s.add_user("fred@truc.test", "fred-secret")
    s.start()
    yield s
    s.stop()


def message(sender, rcpt, subject, body):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = rcpt
    m["Subject"] = subject
    m["Message-ID"] = f"<{subject.replace(' ', '-')}@test.invalid>"
    m["Date"] = "Mon, 23 Nov 2026 12:00:00 +0000"
    m.set_content(body)
    return m


def queued_id(reply):
    m = re.search(rb"queued as (\S+)", reply)
    assert m, reply
    return m.group(1).decode()


def test_mail_from_another_server_lands_in_the_maildir(stack):
    msg = message("someone@elsewhere.test", "marc@truc.test",
                  "hello from outside", "Line one.\n.\nA dot line above.\n")
    with smtplib.SMTP("127.0.0.1", stack.port["smtp"], timeout=30) as c:
        code, _ = c.ehlo("mx.elsewhere.test")
        assert code == 250
        c.mail("someone@elsewhere.test")
        c.rcpt("marc@truc.test")
        code, reply = c.data(msg.as_bytes(policy=email.policy.SMTP))
    assert code == 250
    qid = queued_id(reply)

    files = stack.wait_for_messages("marc@truc.test", 1)
    md = mailbox.Maildir(stack.maildir("marc@truc.test"), create=False)
    got = list(md)
    assert len(got) == 1
    m = got[0]
    assert m["Subject"] == "hello from outside"
    assert m["Return-Path"] == "<someone@elsewhere.test>"
    assert m["Delivered-To"] == "marc@truc.test"
    received = m.get_all("Received")
    assert received and "mx.elsewhere.test" in received[0]
    # The body arrives byte for byte, the dot line unstuffed.
    assert m.get_payload() == "Line one.\n.\nA dot line above.\n"
    assert files[0].stat().st_size > 0

    # Steps 3 (received from another MTA), 4 (handed to deliver) and 5
    # (stored) are each logged with the queue id.
    assert wait_for(lambda: stack.log_lines(qid=qid, step=5))
    for step in (3, 4, 5):
        assert stack.log_lines(qid=qid, step=step), (step, stack.log_text())


def test_submission_with_starttls_and_auth(stack):
    msg = message("fred@truc.test", "marc@truc.test", "submitted",
                  "From Fred, over 587.\n")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", stack.port["submission"], timeout=30) as c:
        c.ehlo("fred-laptop")
        c.starttls(context=ctx)
        c.ehlo("fred-laptop")
        c.login("fred@truc.test", "fred-secret")
        refused = c.send_message(msg)
    assert refused == {}
    stack.wait_for_messages("marc@truc.test", 1)
    m = next(iter(mailbox.Maildir(stack.maildir("marc@truc.test"),
                                  create=False)))
    assert m["Subject"] == "submitted"
    assert "fred@truc.test" in m["Received"]      # authenticated user
    assert wait_for(lambda: stack.log_lines(step=2))


def test_unknown_local_recipient_is_refused_and_nothing_is_queued(stack):
    with smtplib.SMTP("127.0.0.1", stack.port["smtp"], timeout=30) as c:
        c.ehlo("mx.elsewhere.test")
        c.mail("someone@elsewhere.test")
        code, reply = c.rcpt("nobody@truc.test")
    assert code == 550 and b"5.1.1" in reply
    assert stack.messages("marc@truc.test") == []


def test_relaying_is_refused_on_port_25(stack):
    with smtplib.SMTP("127.0.0.1", stack.port["smtp"], timeout=30) as c:
        c.ehlo("mx.elsewhere.test")
        c.mail("someone@elsewhere.test")
        code, reply = c.rcpt("victim@victim.example")
    assert code in (550, 554) and b"5.7.1" in reply


def test_many_messages_in_one_session_all_arrive(stack):
    with smtplib.SMTP("127.0.0.1", stack.port["smtp"], timeout=30) as c:
        c.ehlo("mx.elsewhere.test")
        for i in range(20):
            c.sendmail("someone@elsewhere.test", ["marc@truc.test"],
                       message("someone@elsewhere.test", "marc@truc.test",
                               f"number {i}", f"body {i}\n").as_bytes(
                                   policy=email.policy.SMTP))
    files = stack.wait_for_messages("marc@truc.test", 20)
    assert len(files) == 20
    subjects = sorted(m["Subject"] for m in
                      mailbox.Maildir(stack.maildir("marc@truc.test"),
                                      create=False))
    assert subjects == sorted(f"number {i}" for i in range(20))
