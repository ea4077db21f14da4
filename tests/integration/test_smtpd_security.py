"""smtpd against the rows of SECURITY.md that target it.

S1-S4 (smuggling, pipelining, BDAT), T1-T2 (STARTTLS), A1-A10 (bad input
and limits), U1-U2 (AUTH), X1-X2 (talkers before the greeting, slow
clients). The open-relay rows O1-O3 are in test_smtpd_relay.py. Every
test checks the reply and that nothing was queued that should not be.
"""
import base64
import socket
import time

from test_smtpd_fixture import (DOMAIN, PASSWORD, plain_auth,  # noqa: F401
                                send_message, smtpd, tls_context)

ALICE = f"alice@{DOMAIN}"
SMUGGLED = (b"MAIL FROM:<s@x.example>\r\nRCPT TO:<alice@local.example>\r\n"
            b"DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")


def open_data(c):
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    assert c.code("DATA") == 354


# --- S1, S2: SMTP smuggling ---------------------------------------------------------

def test_s1_bare_lf_end_never_ends_the_data(smtpd):
    srv = smtpd()
    c = srv.greeted()
    for fake in (b"\n.\n", b"\n.\r\n"):
        open_data(c)
        c.send(b"Subject: t\r\n\r\nhi" + fake + SMUGGLED)
        # One reply for the whole thing: the message is refused...
        assert c.reply() == (554, [
            "5.6.0 Error: bare CR or LF in message; lines must end with "
            "CRLF (RFC 5321 2.3.8)"])
        # ...and the "commands" inside it were never run.
        assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    assert srv.messages() == []


def test_s2_fake_ends_give_at_most_one_message(smtpd):
    fakes = [b"\r.\r", b"\r.\n", b"\n.\r", b"\r.\r\n", b"\r\n.\n",
             b"\r\n.\r", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n", b"\r\n\x00.\r\n"]
    srv = smtpd()
    for fake in fakes:
        c = srv.greeted()
        open_data(c)
        c.send(b"Subject: t\r\n\r\nhi" + fake + SMUGGLED)
        code, lines = c.reply()
        assert code == 554 and lines[0].startswith("5.6.0 "), (fake, lines)
        assert c.cmd("NOOP")[0] == 250, fake
        c.close()
    srv.wait_sessions()
    assert srv.messages() == []
    # The same carrier with a real end is one message, smuggled text included.
    c = srv.greeted()
    open_data(c)
    c.send(b"Subject: t\r\n\r\nhi\r\n..\r\n" + SMUGGLED)
    assert c.reply()[0] == 250
    assert c.cmd("NOOP")[0] == 250
    [(msg, _)] = srv.messages()
    assert msg.endswith(b"hi\n.\nMAIL FROM:<s@x.example>\nRCPT TO:<alice@"
                        b"local.example>\nDATA\nSubject: smuggled\n\nx\n")


# --- S3: pipelining where it is not allowed ------------------------------------------

def test_s3_pipelining_after_data_without_pipelining(smtpd):
    srv = smtpd()
    c = srv.client()
    c.greeting()
    assert c.code("HELO client.example") == 250      # no PIPELINING
    open_data(c)
    c.send(b"x\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@local.example>"
           b"\r\n")
    assert c.reply() == (554, ["5.5.0 Error: SMTP protocol synchronization"])
    assert c.at_eof()
    srv.wait_sessions()
    assert srv.messages() == []


def test_s3_pipelining_before_ehlo_or_after_data_command(smtpd):
    srv = smtpd()
    c = srv.client()
    c.greeting()
    c.send("EHLO x\r\nMAIL FROM:<a@b.example>\r\n")
    assert c.reply()[0] == 554
    assert c.at_eof()
    c = srv.greeted()
    c.send(f"MAIL FROM:<a@b.example>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n"
           "Subject: too early\r\n\r\nx\r\n.\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 554]
    assert c.at_eof()
    srv.wait_sessions()
    assert srv.messages() == []


def test_x1_s3_talking_before_the_greeting(smtpd):
    srv = smtpd()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"EHLO x\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data == b"554 5.5.0 Error: SMTP protocol synchronization\r\n"
    s.close()
    assert "reason=pregreet" in srv.log()


# --- S4: BDAT -------------------------------------------------------------------------

def test_s4_bdat_chunk_is_opaque(smtpd):
    srv = smtpd()
    c = srv.greeted()
    chunk = (b"Subject: b\r\n\r\nhello\r\n.\r\nMAIL FROM:<s@x.example>\r\n"
             b"RCPT TO:<v@local.example>\r\nDATA\r\n")
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    assert c.reply() == (250, ["2.0.0 Ok: queued as TESTQID"])
    assert c.cmd("NOOP")[0] == 250
    [(msg, _)] = srv.messages()
    assert msg.endswith(b"hello\n.\nMAIL FROM:<s@x.example>\nRCPT TO:"
                        b"<v@local.example>\nDATA\n")


def test_s4_malformed_bdat_hangs_up(smtpd):
    srv = smtpd()
    for arg in ("-1", "18446744073709551616", "5 FOO", "", "5 LAST x",
                "0x10", "5  LASTING"):
        c = srv.greeted()
        assert c.code("MAIL FROM:<a@b.example>") == 250
        assert c.code(f"RCPT TO:<{ALICE}>") == 250
        c.send(f"BDAT {arg}\r\nhello".encode())
        code, lines = c.reply()
        assert code == 501 and lines[0].startswith("5.5.4 "), arg
        assert c.at_eof(), arg
    srv.wait_sessions()
    assert srv.messages() == []


# --- T1, T2: STARTTLS --------------------------------------------------------------------

def test_t1_plaintext_after_starttls_is_discarded(smtpd):
    srv = smtpd("submission")
    c = srv.greeted()
    c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.example>\r\n")
    assert c.reply() == (220, ["2.0.0 Ready to start TLS"])
    c.sock = tls_context().wrap_socket(c.sock, server_hostname="localhost")
    # No answer to RSET or MAIL inside TLS.
    assert c.nothing_pending(0.5)
    # The session was reset: EHLO is required again.
    assert c.cmd("MAIL FROM:<evil@x.example>") == (
        503, ["5.5.1 Error: send HELO/EHLO first"])
    c.ehlo()
    assert c.cmd("STARTTLS") == (554, ["5.5.1 Error: TLS already active"])
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    assert "event=starttls-injection" in srv.log()


def test_t1_starttls_resets_authentication_and_transaction(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    assert c.code(f"MAIL FROM:<{ALICE}>") == 250
    assert c.cmd("STARTTLS")[0] == 503       # not inside a transaction
    assert c.code("RSET") == 250
    c.starttls()
    c.ehlo()
    assert c.cmd(f"MAIL FROM:<{ALICE}>") == (
        530, ["5.7.0 Authentication required"])


def test_t2_auth_needs_tls_on_submission(smtpd):
    srv = smtpd("submission")
    c = srv.greeted()
    caps = c.ehlo()
    assert not any(x.startswith("AUTH") for x in caps)
    assert c.cmd("AUTH PLAIN AHUAcA==") == (
        530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("MAIL FROM:<a@b.example>") == (
        530, ["5.7.0 Authentication required"])


def test_tls_handshake_garbage_and_timeout(smtpd):
    srv = smtpd("submissions", timeout_ms=1000)
    # Garbage instead of a ClientHello: closed, nothing in plaintext.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"EHLO x\r\n")
    data = s.recv(4096)
    assert not data.startswith((b"2", b"4", b"5")), data   # no SMTP reply
    s.close()
    # Half a handshake: closed at the handshake timeout (X2).
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.monotonic()
    s.sendall(b"\x16\x03\x01\x00\x50")
    assert s.recv(4096) == b""
    assert time.monotonic() - t0 < 4
    s.close()
    srv.wait_sessions()


# --- A1-A10: addresses and other bad input ---------------------------------------------

def test_a1_a2_no_shell_no_expansion(smtpd):
    srv = smtpd()
    c = srv.greeted()
    t0 = time.monotonic()
    assert c.code("MAIL FROM:<;sleep 66;>") == 501
    assert c.code("MAIL FROM:<`sleep 66`@b.example>") == 501
    assert c.code("MAIL FROM:<`id`|sh@b.example>") == 250
    code, lines = c.cmd("RCPT TO:<${run{\\x2Fbin\\x2Fsh\\t-c\\t\\x22id"
                        "\\x22}}@local.example>")
    assert code == 501
    assert c.cmd("RCPT TO:<${run{/bin/sh}}@local.example>") == (
        550, ["5.1.1 Error: user unknown"])
    assert c.cmd("RCPT TO:<$(id)@local.example>")[0] == 501
    assert time.monotonic() - t0 < 5
    assert srv.messages() == []


def test_a3_xtext_control_characters_refused(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    for params in ("AUTH=<x+0AX:+20y>", "ENVID=a+0D+0Ab", "ENVID=a+00b",
                   "AUTH=a+7Fb", "ENVID=a+2"):
        assert c.cmd(f"MAIL FROM:<{ALICE}> {params}")[1][0].startswith(
            "5.5.4 "), params
    assert c.cmd(f"MAIL FROM:<{ALICE}> AUTH=<>")[0] == 250
    for params in ("ORCPT=rfc822;a+0Ab@c", "ORCPT=rfc822;a+00@c",
                   "ORCPT=rfc822;a+7F", "ORCPT=rfc822;a b"):
        code, lines = c.cmd(f"RCPT TO:<bob@{DOMAIN}> {params}")
        assert code in (501, 555) and lines[0].startswith("5.5.4 "), params
    assert c.code("DATA") == 554       # no valid recipient: nothing got in
    assert srv.messages() == []


def test_a4_nul_and_escapes(smtpd):
    srv = smtpd()
    c = srv.client()
    c.greeting()
    c.send(b"EHLO a\x00b\r\n")
    assert c.reply()[0] == 501
    c.send(b"EHLO x\x1b[31m\r\n")
    assert c.reply()[0] == 501
    assert c.code("EHLO ok.example") == 250
    c.send(b"MAIL FROM:<a\x00b@x.example>\r\n")
    assert c.reply() == (501, ["5.5.2 Syntax error: NUL character in "
                               "command"])
    c.send(b"NO\x00OP\r\n")
    assert c.reply()[0] == 500
    c.send(b"MAIL FROM:<a\tb@x.example>\r\n")
    assert c.reply()[0] == 501
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    log = srv.log()
    assert "\x1b" not in log and "\x00" not in log


def test_a5_megabyte_line_is_skipped_whole(smtpd):
    srv = smtpd()
    c = srv.greeted()
    c.send(b"MAIL FROM:<" + b"A" * (1 << 20) + b"RCPT TO:<v@local.example>"
           b"\r\nNOOP\r\n")
    assert c.reply() == (500, ["5.5.2 Error: line too long"])
    # The tail was not run as a command: the next reply is NOOP's.
    assert c.reply() == (250, ["2.0.0 Ok"])
    assert c.code("MAIL FROM:<a@b.example>") == 250


def test_a6_endless_line_hangs_up_at_the_cap(smtpd):
    srv = smtpd()
    c = srv.greeted()
    chunk = b"x" * (1 << 20)
    try:
        for _ in range(17):
            c.send(chunk)
    except OSError:
        pass
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.7.0 ")
    assert c.at_eof()


def test_a7_address_lengths(smtpd):
    c = smtpd().greeted()
    local64, local65 = "l" * 64, "l" * 65
    assert c.code(f"MAIL FROM:<{local64}@b.example>") == 250
    c.code("RSET")
    assert c.cmd(f"MAIL FROM:<{local65}@b.example>")[0] == 501
    # A path of 256 octets with its brackets, then 257.
    dom = "d" * 63 + "." + "e" * 63 + "." + "f" * 63 + "." + "g" * 60
    path256 = f"<a@{dom}>"
    assert len(path256) == 256
    assert c.code(f"MAIL FROM:{path256}") == 250
    c.code("RSET")
    assert c.cmd(f"MAIL FROM:<ab@{dom}>")[0] == 501
    # A domain of 255 octets (EHLO), then 256.
    dom255 = "h" * 63 + "." + "i" * 63 + "." + "j" * 63 + "." + "k" * 63
    assert len(dom255) == 255
    assert c.code(f"EHLO {dom255}") == 250
    assert c.code(f"EHLO {dom255}x") == 501
    assert c.code(f"RCPT TO:<a@{dom}>") == 503   # EHLO ended the txn


def test_a8_recipients_then_many_more(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    c.send("".join(f"RCPT TO:<alice+{i}@{DOMAIN}>\r\n" for i in range(200)))
    replies = [c.reply() for _ in range(201)]
    assert [r[0] for r in replies[:100]] == [250] * 100
    assert all(r == (452, ["4.5.3 Error: too many recipients"])
               for r in replies[100:200])
    assert replies[200] == (421, [
        "4.7.0 Error: too many commands without a message"])
    assert c.at_eof()


def test_a9_utf8(smtpd):
    c = smtpd().greeted()
    c.send(b"MAIL FROM:<\xc3\xa9@x.example>\r\n")
    assert c.reply() == (553, ["5.6.7 Error: address needs SMTPUTF8"])
    for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"):
        c.send(b"MAIL FROM:<a" + bad + b"@x.example> SMTPUTF8\r\n")
        assert c.reply() == (500, ["5.5.2 Syntax error: invalid UTF-8 in "
                                   "command"]), bad
    assert c.code("MAIL FROM:<a@x.example> SMTPUTF8") == 250
    # Fullwidth letters are other letters: no folding onto alice or root.
    for who in ("\uff41\uff4c\uff49\uff43\uff45", "\uff52\uff4f\uff4f\uff54"):
        assert c.cmd(f"RCPT TO:<{who}@{DOMAIN}>") == (
            550, ["5.1.1 Error: user unknown"])
    assert c.code(f"RCPT TO:<{ALICE}>") == 250


def test_a10_degenerate_paths(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    for path in ('<"">', f'<""@{DOMAIN}>', "<@>", "<a@>", "<@a>", "< @a>",
                 "<a:@a>", "<a@b@c>", "<>", "<", ">", "", "<a@b.example"):
        code, _ = c.cmd(f"RCPT TO:{path}")
        assert code in (501, 550, 553), path
    assert c.cmd("NOOP")[0] == 250


# --- U1, U2: AUTH --------------------------------------------------------------------------

def test_u1_malformed_auth(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.cmd("AUTH PLAIN ====") == (501, ["5.5.2 Error: invalid base64 "
                                              "data"])
    assert c.cmd("AUTH PLAIN " + "QUFB" * 5000) == (
        500, ["5.5.2 Error: line too long"])
    c.send("AUTH CRAM-MD5\r\n*\r\n")
    assert c.reply() == (504, ["5.5.4 Error: unrecognized authentication "
                               "type"])
    assert c.reply()[0] == 500                     # "*" is no command
    assert c.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
    assert c.cmd("*") == (501, ["5.7.0 Authentication cancelled"])
    assert c.cmd("AUTH PLAIN") == (334, [""])
    assert c.cmd("not base64!") == (501, ["5.5.2 Error: invalid base64 "
                                          "data"])
    # Nobody acts as someone else: authzid must be empty or the user.
    assert c.cmd("AUTH PLAIN " + plain_auth(ALICE, PASSWORD,
                                            authzid=f"bob@{DOMAIN}"))[0] == 535
    # Fresh state each time: a good exchange still works.
    assert c.cmd("AUTH LOGIN " + base64.b64encode(ALICE.encode()).decode()) \
        == (334, ["UGFzc3dvcmQ6"])
    assert c.cmd(base64.b64encode(PASSWORD.encode()).decode()) == (
        235, ["2.7.0 Authentication successful"])
    assert c.cmd("AUTH PLAIN " + plain_auth(ALICE, PASSWORD))[0] == 503


def test_u2_failures_look_alike_and_slow_down(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    times, replies = [], []
    for user, pw in ((ALICE, "wrong"), (f"nobody@{DOMAIN}", PASSWORD),
                     (ALICE, "wrong again")):
        t0 = time.monotonic()
        replies.append(c.cmd("AUTH PLAIN " + plain_auth(user, pw)))
        times.append(time.monotonic() - t0)
    assert replies == [(535, ["5.7.8 Error: authentication credentials "
                              "invalid"])] * 3
    assert times[0] >= 0.24 and times[1] >= 0.49 and times[2] >= 0.99
    assert c.reply() == (421, ["4.7.0 Error: too many failed "
                               "authentications"])
    assert c.at_eof()
    # The next session from this address starts where that one stopped...
    c = srv.greeted()
    t0 = time.monotonic()
    assert c.cmd("AUTH PLAIN " + plain_auth(ALICE, "x"))[0] == 535
    assert time.monotonic() - t0 >= 1.99
    # ...and the right password still works and clears the count.
    assert c.cmd("AUTH PLAIN " + plain_auth(ALICE, PASSWORD))[0] == 235
    assert PASSWORD not in srv.log()
