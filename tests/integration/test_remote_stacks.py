"""Step 3 for real: two stacks of our own on two loopback addresses, with
dnsmasq serving their MX records (issue 6, "Must hold").

    truc.test    mx.truc.test    127.X.Y.2   (port 25; submission on a free
                                              port)
    machin.test  mx.machin.test  127.X.Y.3   (port 25, STARTTLS offered)

127.X.Y is this run's random loopback network (test_remote_fixture.NET),
not 127.0.0.2/3: make demo puts its own truc.test and machin.test on
127.0.0.2:25 and 127.0.0.3:25, and the two must be able to run at once.

Mail submitted to truc.test's stack for marc@machin.test goes smtpd ->
inject -> smtpq -> remote (MX lookup through dnsmasq, STARTTLS) ->
machin.test's smtpd -> its queue -> deliver -> marc's Maildir.

A third test puts a scripted server that drops the connection in the middle
of DATA behind an MX of its own (flaky.test): the queue defers, retries a
second later, and the message arrives exactly once.

Port 25 on these addresses needs root (CI runs as root); the tests
skip with that reason otherwise.
"""
import mailbox
import smtplib
import ssl
from email.message import EmailMessage

import pytest

from mailstack import MailStack, wait_for
from test_remote_fixture import (NEED_DNSMASQ, NEED_ROOT, Dnsmasq, FakeSMTP,
                                 ip)

pytestmark = [NEED_DNSMASQ, NEED_ROOT]

TRUC, MACHIN = ip(2), ip(3)


class Stack25(MailStack):
    """A MailStack whose MX listener is on port 25 of its own address."""

    def __init__(self, tmp, build_dir, **kw):
        super().__init__(tmp, build_dir, **kw)
        self.port["smtp"] = 25
        self.write_config()


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = Dnsmasq(tmp_path_factory.mktemp("dns"), [
        "--mx-host=truc.test,mx.truc.test,10",
        f"--host-record=mx.truc.test,{TRUC}",
        "--mx-host=machin.test,mx.machin.test,10",
        f"--host-record=mx.machin.test,{MACHIN}",
        "--mx-host=flaky.test,mx.flaky.test,10",
        f"--host-record=mx.flaky.test,{ip(90)}",
    ])
    yield d
    d.stop()


def stack(tmp, build_dir, tls_cert, dns, hostname, domain, host, extra=""):
    tmp.mkdir()
    return Stack25(tmp, build_dir, hostname=hostname, domains=(domain,),
                   listeners=("smtp", "submission"), tls=tls_cert,
                   host=host, extra=f"dns_servers = 127.0.0.1:{dns.port}\n"
                   "queue_retry_min = 1s\nqueue_retry_max = 2s\n" + extra)


@pytest.fixture
def truc(tmp_path, build_dir, tls_cert, dns):
    s = stack(tmp_path / "truc", build_dir, tls_cert, dns, "mx.truc.test",
              "truc.test", TRUC)
    s.add_user("fred@truc.test", "fred-secret")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def machin(tmp_path, build_dir, tls_cert, dns):
    s = stack(tmp_path / "machin", build_dir, tls_cert, dns,
              "mx.machin.test", "machin.test", MACHIN)
    s.add_user("marc@machin.test", "marc-secret")
    s.start()
    yield s
    s.stop()


def submit(stack, to, subject, body="Hello from truc.test.\n.\nbye\n"):
    m = EmailMessage()
    m["From"] = "fred@truc.test"
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = f"<{subject.replace(' ', '-')}@truc.test>"
    m.set_content(body)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(stack.host, stack.port["submission"], timeout=30) as c:
        c.ehlo("fred-laptop")
        c.starttls(context=ctx)
        c.ehlo("fred-laptop")
        c.login("fred@truc.test", "fred-secret")
        assert c.send_message(m) == {}


def test_mail_from_truc_arrives_at_machin_over_starttls(truc, machin):
    submit(truc, "marc@machin.test", "across the loopback")
    machin.wait_for_messages("marc@machin.test", 1, timeout=60)
    (m,) = list(mailbox.Maildir(machin.maildir("marc@machin.test"),
                                create=False))
    assert m["Subject"] == "across the loopback"
    assert m.get_payload() == "Hello from truc.test.\n.\nbye\n"
    # machin's smtpd says it got it from mx.truc.test over TLS.
    received = m.get_all("Received")
    top = " ".join(received[0].split())
    assert "from mx.truc.test" in top, received
    assert "by mx.machin.test" in top, received
    assert "with ESMTPS" in top and "TLS" in top, received
    # truc's remote logged the route, the TLS session and the result.
    assert wait_for(lambda: truc.log_lines(step=3, event="result",
                                           status="sent"), timeout=10)
    log = truc.log_text()
    assert "route=mx hosts=mx.machin.test/10" in log, log
    assert f"event=tls peer=mx.machin.test[{MACHIN}] " in log, log
    assert "to=<marc@machin.test> status=sent" in log, log


def test_mail_to_an_unknown_user_bounces_back(truc, machin):
    submit(truc, "nobody@machin.test", "to nobody")
    # machin refuses at RCPT; truc's queue bounces to fred.
    truc_msgs = truc.wait_for_messages("fred@truc.test", 1, timeout=60)
    text = truc_msgs[0].read_text(errors="replace")
    assert "nobody@machin.test" in text
    assert "5.1.1" in text
    assert machin.messages("marc@machin.test") == []


def test_drop_in_data_is_retried_and_delivered_once(truc):
    # The first session is cut after 200 octets of message data; later
    # sessions go through.
    srv = FakeSMTP(ip(90), 25, data_drop=200, data_drop_times=1)
    try:
        submit(truc, "someone@flaky.test", "flaky",
               body="x" * 60 + "\n" + "line\n" * 200)
        assert wait_for(lambda: len(srv.messages()) >= 1, timeout=60), \
            truc.log_text()[-3000:]
        assert srv.dropped == 1 and len(srv.sessions) >= 2
        assert wait_for(lambda: truc.log_lines(step=3, event="result",
                                               status="sent"), timeout=10)
        log = truc.log_text()
        assert "to=<someone@flaky.test> status=deferred" in log, log
        # Nothing more arrives: exactly one message.
        assert not wait_for(lambda: len(srv.messages()) > 1, timeout=3)
        (msg,) = srv.messages()
        assert msg.count(b"line\r\n") == 200
    finally:
        srv.stop()
