"""Real clients against smtpd: Python's smtplib and swaks.

Port 25 plain and with STARTTLS, submission (587) with STARTTLS and AUTH
PLAIN / LOGIN, submissions (465) with TLS from the first byte, pipelining,
SMTPUTF8; and what an authenticated user may put in MAIL FROM.
"""
import smtplib
import ssl
import subprocess
from email.message import EmailMessage

import pytest

from test_smtpd_fixture import (DOMAIN, PASSWORD, plain_auth,  # noqa: F401
                                smtpd, tls_context)

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def message(subject, sender=ALICE, to=BOB):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m.set_content("Hello.\n.leading dot\n")
    return m


def swaks(port, *args):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(port), "--timeout", "10", *args],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    if "requires Net::SSLeay" in out:
        pytest.fail("swaks cannot do TLS: install libnet-ssleay-perl")
    return r.returncode, out


# --- smtplib -----------------------------------------------------------------------

def test_smtplib_port25_plain_and_starttls(smtpd):
    srv = smtpd("smtp")
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.ehlo("client.example")
        assert s.has_extn("pipelining") and s.has_extn("chunking")
        refused = s.send_message(message("plain"), from_addr="a@b.example",
                                 to_addrs=[ALICE])
        assert refused == {}
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        s.send_message(message("tls"), from_addr="a@b.example",
                       to_addrs=[ALICE])
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.send_message(message("relay"), from_addr="a@b.example",
                           to_addrs=["v@victim.example"])
    srv.wait_sessions()
    (m1, e1), (m2, e2) = srv.messages()
    assert e1["P"] == "ESMTP" and e2["P"] == "ESMTPS"
    assert b"with ESMTPS (TLSv1.3 TLS_" in m2 or b"with ESMTPS (TLSv1.2 " in m2
    assert b"\n.leading dot\n" in m1


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtplib_submission_starttls_auth(smtpd, mech):
    srv = smtpd("submission")
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.ehlo("mua.example")
        assert not s.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(ALICE, [BOB], "Subject: x\r\n\r\nx\r\n")
        assert e.value.smtp_code == 530
        s.starttls(context=tls_context())
        s.ehlo("mua.example")
        assert s.has_extn("auth")
        s.user, s.password = ALICE, PASSWORD
        s.auth(mech, getattr(s, "auth_" + mech.lower()),
               initial_response_ok=(mech == "PLAIN"))
        s.send_message(message("submitted"), to_addrs=[BOB,
                                                       "carol@elsewhere.example"])
    srv.wait_sessions()
    [(msg, env)] = srv.messages()
    assert env["A"] == ALICE and env["P"] == "ESMTPSA" and env["F"] == ALICE
    assert [r["addr"] for r in env["rcpts"]] == [BOB,
                                                 "carol@elsewhere.example"]
    assert b"(authenticated user alice@local.example)" in msg
    assert b"\nMessage-ID: <" in msg.split(b"\n\n")[0]   # fixed up


def test_smtplib_submissions_implicit_tls(smtpd):
    srv = smtpd("submissions")
    with smtplib.SMTP_SSL("127.0.0.1", srv.port, timeout=10,
                          context=tls_context()) as s:
        s.ehlo("mua.example")
        assert not s.has_extn("starttls") and s.has_extn("auth")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ALICE, "wrong")
        assert e.value.smtp_code == 535
        s.login(ALICE, PASSWORD)
        s.send_message(message("465"))
    srv.wait_sessions()
    [(msg, env)] = srv.messages()
    assert env["P"] == "ESMTPSA"


def test_smtplib_smtputf8(smtpd):
    srv = smtpd("smtp")
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.ehlo("client.example")
        s.sendmail("j\u00fcrgen@b.example", [ALICE],
                   "Subject: \u00fc\r\n\r\n\u00fc\r\n".encode(),
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [(msg, env)] = srv.messages()
    assert env["U"] == "" and env["F"] == "j\u00fcrgen@b.example"


def test_sender_ownership_on_submission(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    for sender, code in ((ALICE, 250), ("Alice@LOCAL.example", 250),
                         (f"alice+tag@{DOMAIN}", 250), (f"info@{DOMAIN}", 250),
                         (f"team@{DOMAIN}", 250), ("", 250),
                         (BOB, 553), (f"list@{DOMAIN}", 553),
                         ("alice@elsewhere.example", 553),
                         (f"postmaster@{DOMAIN}", 553)):
        got, lines = c.cmd(f"MAIL FROM:<{sender}>")
        assert got == code, (sender, lines)
        if code == 553:
            assert lines[0].startswith("5.7.1 ")
        c.code("RSET")


def test_expn_for_authenticated_users_of_the_domain(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.code(f"EXPN team@{DOMAIN}") == 550
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    assert c.cmd(f"EXPN team@{DOMAIN}") == (250, [f"2.1.5 <{ALICE}>",
                                                  f"2.1.5 <{BOB}>"])
    assert c.cmd(f"EXPN <{ALICE}>") == (250, [f"2.1.5 <{ALICE}>"])
    assert c.cmd(f"EXPN nolist@{DOMAIN}")[0] == 550
    assert c.cmd("EXPN team@elsewhere.example")[0] == 550


# --- swaks --------------------------------------------------------------------------

def test_swaks_port25(smtpd):
    srv = smtpd("smtp")
    rc, out = swaks(srv.port, "--from", "a@b.example", "--to", ALICE,
                    "--helo", "swaks.example")
    assert rc == 0, out
    rc, out = swaks(srv.port, "--from", "a@b.example", "--to",
                    "v@victim.example")
    assert rc != 0 and "550 5.7.1" in out
    [(msg, env)] = srv.messages()
    assert env["H"] == "swaks.example"


def test_swaks_pipelining(smtpd):
    srv = smtpd("smtp")
    rc, out = swaks(srv.port, "--pipeline", "--from", "a@b.example", "--to",
                    f"{ALICE},{BOB}")
    assert rc == 0, out
    [(_, env)] = srv.messages()
    assert len(env["rcpts"]) == 2


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_submission_starttls_auth(smtpd, mech):
    srv = smtpd("submission")
    rc, out = swaks(srv.port, "--tls", "--auth", mech, "--auth-user", ALICE,
                    "--auth-password", PASSWORD, "--from", ALICE, "--to",
                    "carol@elsewhere.example")
    assert rc == 0, out
    rc, out = swaks(srv.port, "--tls", "--auth", mech, "--auth-user", ALICE,
                    "--auth-password", "wrong", "--from", ALICE, "--to", BOB)
    assert rc != 0 and "535 5.7.8" in out
    assert len(srv.messages()) == 1


def test_swaks_submissions_tls_on_connect(smtpd):
    srv = smtpd("submissions")
    rc, out = swaks(srv.port, "--tls-on-connect", "--auth", "PLAIN",
                    "--auth-user", ALICE, "--auth-password", PASSWORD,
                    "--from", ALICE, "--to", BOB)
    assert rc == 0, out
    assert len(srv.messages()) == 1


def test_swaks_without_starttls_cannot_auth(smtpd):
    srv = smtpd("submission")
    rc, out = swaks(srv.port, "--auth", "PLAIN", "--auth-user", ALICE,
                    "--auth-password", PASSWORD, "--from", ALICE, "--to", BOB)
    assert rc != 0
    assert srv.messages() == []
