"""smtpd transcripts: every command, every extension, every limit.

Each test talks SMTP to a real smtpd over a loopback socket, with the
queue replaced by the recording fake inject of test_smtpd_fixture, and
checks the replies (code and enhanced status) and what was queued.
"""
import re
import time

from test_smtpd_fixture import (DOMAIN, DOMAIN2, HOST, parse_envelope,  # noqa: F401
                                send_message, smtpd)

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def status(reply):
    """The enhanced status code of a one-line reply's text."""
    return reply[1][-1].split(" ", 1)[0]


# --- the session ---------------------------------------------------------------

def test_greeting_and_quit(smtpd):
    srv = smtpd()
    c = srv.client()
    assert c.greeting() == [f"{HOST} ESMTP mailstack"]
    code, lines = c.cmd("QUIT")
    assert code == 221 and lines[0].startswith("2.0.0 ")
    assert c.at_eof()
    assert srv.wait_sessions() == [0]
    assert "event=disconnect" in srv.log() and "reason=quit" in srv.log()


def test_helo(smtpd):
    c = smtpd().client()
    c.greeting()
    assert c.cmd("HELO") == (501, ["5.5.4 Syntax: EHLO hostname"])
    assert c.cmd("HELO client.example") == (250, [HOST])
    # A HELO session has no ESMTP: parameters are refused, no BDAT.
    assert c.code("MAIL FROM:<a@b.example> SIZE=10") == 555
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code("QUIT") == 221


def test_ehlo_capabilities_per_mode(smtpd):
    srv = smtpd("smtp")
    caps = srv.greeted().ehlo()
    assert caps == ["PIPELINING", "SIZE 100000", "8BITMIME", "SMTPUTF8",
                    "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "DSN"]
    # Submission: STARTTLS, and AUTH only once TLS is up (T2).
    sub = smtpd("submission")
    c = sub.greeted()
    caps = c.ehlo()
    assert "STARTTLS" in caps and not any(x.startswith("AUTH") for x in caps)
    c.starttls()
    caps = c.ehlo()
    assert "STARTTLS" not in caps and "AUTH PLAIN LOGIN" in caps
    # Without a certificate there is no STARTTLS.
    plain = smtpd("smtp", tls=False)
    assert "STARTTLS" not in plain.greeted().ehlo()
    # allow_plaintext_auth offers AUTH before TLS (loopback testing only).
    lax = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    assert "AUTH PLAIN LOGIN" in lax.greeted().ehlo()


def test_ehlo_argument_checks(smtpd):
    c = smtpd().client()
    c.greeting()
    assert c.code("EHLO") == 501
    assert c.code("EHLO two words") == 501
    assert c.code("EHLO " + "a" * 256) == 501
    assert c.code("EHLO " + "a" * 255) == 250
    assert c.code("EHLO [127.0.0.1]") == 250


def test_commands_out_of_sequence(smtpd):
    c = smtpd().client()
    c.greeting()
    assert status(c.cmd("MAIL FROM:<a@b.example>")) == "5.5.1"
    assert c.code("MAIL FROM:<a@b.example>") == 503
    assert c.code("RCPT TO:<alice@local.example>") == 503
    assert c.code("DATA") == 503
    c.ehlo()
    assert c.code("RCPT TO:<alice@local.example>") == 503
    assert c.code("DATA") == 503
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.cmd("MAIL FROM:<a@b.example>") == (
        503, ["5.5.1 Error: nested MAIL command"])
    assert c.cmd("DATA") == (503, ["5.5.1 Error: need RCPT command"])
    # Every RCPT refused: DATA says there is no valid recipient.
    assert c.code("RCPT TO:<nobody@local.example>") == 550
    assert c.cmd("DATA") == (554, ["5.5.1 Error: no valid recipients"])
    # The transaction was left as it was: a good RCPT still works.
    assert c.code(f"RCPT TO:<{ALICE}>") == 250


def test_rset_noop_help_vrfy_expn_turn(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.cmd("RSET") == (250, ["2.0.0 Ok"])
    assert c.code(f"RCPT TO:<{ALICE}>") == 503    # RSET ended the transaction
    assert c.code("RSET x") == 501
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("NOOP anything at all") == (250, ["2.0.0 Ok"])
    code, lines = c.cmd("HELP")
    assert code == 214 and all(x.startswith("2.0.0 ") for x in lines)
    code, lines = c.cmd(f"VRFY {ALICE}")
    assert code == 252 and lines[0].startswith("2.0.0 ")
    assert c.code("VRFY <nobody@local.example>") == 252  # no user probing
    assert c.code("VRFY") == 501
    assert c.cmd("EXPN team@local.example")[0] == 550
    assert status(c.cmd("EXPN team@local.example")) == "5.7.1"
    assert c.code("EXPN") == 501
    code, lines = c.cmd("TURN")
    assert code == 502 and lines[0].startswith("5.5.1 ")
    assert "obsolete" in lines[0] and "unsafe" in lines[0]
    assert c.cmd("XYZZY") == (500, ["5.5.2 Error: command not recognized"])
    assert c.code("QUIT") == 221


def test_http_request_is_dropped(smtpd):
    c = smtpd().client()
    c.greeting()
    code, lines = c.cmd("GET / HTTP/1.1")
    assert code == 554
    assert c.at_eof()


def test_every_reply_has_an_enhanced_status_code(smtpd):
    """Except the greeting, HELO/EHLO, 334 and 354 (RFC 2034, 4954)."""
    srv = smtpd()
    c = srv.client()
    c.greeting()
    c.ehlo()
    replies = []
    for line in ["NOOP", "RSET", "VRFY x", "EXPN x", "HELP", "TURN", "FOO",
                 "MAIL FROM:<a@b.example>", "RCPT TO:<nobody@local.example>",
                 f"RCPT TO:<{ALICE}>", "RCPT TO:<v@victim.example>",
                 "MAIL FROM:<x@y.example>", "AUTH PLAIN", "STARTTLS x"]:
        replies.append(c.cmd(line))
    code, lines = c.cmd("DATA")
    assert code == 354
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    replies.append(c.reply())
    for code, lines in replies:
        for text in lines:
            assert re.match(r"^[245]\.\d{1,3}\.\d{1,3} ", text), (code, text)


# --- a message, and what reaches the queue ------------------------------------------

def test_message_reaches_queue_with_envelope(smtpd):
    srv = smtpd()
    c = srv.greeted()
    body = ("Subject: hello\r\nFrom: a@b.example\r\n\r\nline one\r\n"
            "..leading dot\r\n.\r\n")
    code, lines = send_message(c, "a@b.example", [ALICE, BOB], body)
    assert (code, lines) == (250, ["2.0.0 Ok: queued as TESTQID"])
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    [(msg, env)] = srv.messages()
    first, rest = msg.split(b"\nSubject:", 1)
    assert first.startswith(b"Received: from client.example ([127.0.0.1])\n"
                            b"\tby mx.test.example (mailstack smtpd) "
                            b"with ESMTP")
    assert b" for <" not in first    # two recipients: no "for" clause
    assert rest == (b" hello\nFrom: a@b.example\n\nline one\n"
                    b".leading dot\n")
    assert b"\r" not in msg
    assert env["F"] == "a@b.example"
    assert [r["addr"] for r in env["rcpts"]] == [ALICE, BOB]
    assert env["H"] == "client.example" and env["I"] == "127.0.0.1"
    assert env["P"] == "ESMTP" and "A" not in env
    assert "qid=TESTQID" in srv.log() and "event=queued" in srv.log()


def test_received_header_single_recipient_and_helo(smtpd):
    srv = smtpd()
    c = srv.client()
    c.greeting()
    assert c.code("HELO odd(name)\\x") == 250
    assert send_message(c, "", [ALICE], "x\r\n.\r\n")[0] == 250
    [(msg, env)] = srv.messages()
    head = msg.split(b";", 1)[0]
    # An invalid HELO is not the "from" domain; it is escaped in a comment.
    assert head.startswith(b"Received: from [127.0.0.1] "
                           b"(helo=odd\\(name\\)\\\\x)\n")
    assert b"with SMTP" in head and b"for <alice@local.example>" in head
    assert env["F"] == "" and env["P"] == "SMTP"


def test_null_sender_and_postmaster(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<>") == 250
    assert c.code("RCPT TO:<Postmaster>") == 250
    assert c.code(f"RCPT TO:<postmaster@{DOMAIN2}>") == 250
    assert c.code("DATA") == 354
    c.send("x\r\n.\r\n")
    assert c.reply()[0] == 250
    [(_, env)] = srv.messages()
    assert env["F"] == ""
    assert [r["addr"] for r in env["rcpts"]] == [
        f"postmaster@{DOMAIN}", f"postmaster@{DOMAIN2}"]


def test_aliases_and_unknown_users(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<team@{DOMAIN}>") == 250
    assert c.code(f"RCPT TO:<ALICE@{DOMAIN.upper()}>") == 250
    assert c.code(f"RCPT TO:<alice+tag@{DOMAIN}>") == 250
    assert c.cmd(f"RCPT TO:<carol@{DOMAIN}>") == (
        550, ["5.1.1 Error: user unknown"])
    assert c.code(f"RCPT TO:<alice@{DOMAIN2}>") == 550


def test_two_messages_in_one_session(smtpd):
    srv = smtpd()
    c = srv.greeted()
    for i in range(2):
        assert send_message(c, "a@b.example", [ALICE],
                            f"Subject: {i}\r\n\r\nx\r\n.\r\n")[0] == 250
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    assert len(srv.messages()) == 2
    assert "messages=2" in srv.log()


def test_empty_message(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert send_message(c, "a@b.example", [ALICE], ".\r\n")[0] == 250
    [(msg, _)] = srv.messages()
    assert msg.startswith(b"Received:")
    assert re.search(rb"; \w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}\n$", msg)


# --- ESMTP parameters ------------------------------------------------------------

def test_size_parameter_under_at_over(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example> SIZE=99999") == 250
    c.code("RSET")
    assert c.code("MAIL FROM:<a@b.example> SIZE=100000") == 250
    c.code("RSET")
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=100001") == (
        552, ["5.3.4 Error: message size exceeds fixed maximum message size"])
    assert c.code("MAIL FROM:<a@b.example> SIZE=99999999999999999999999") \
        == 552
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=12x")[0] == 501
    assert c.code("MAIL FROM:<a@b.example> SIZE") == 501


def test_message_size_under_at_over(smtpd):
    srv = smtpd()
    c = srv.greeted()
    limit = 100000

    def body(total):
        # Lines of 98 octets + CRLF = 100 on the wire; the rest on one line.
        lines, left = [], total
        while left > 1000:
            lines.append("x" * 98 + "\r\n")
            left -= 100
        lines.append("y" * (left - 2) + "\r\n")
        text = "".join(lines)
        assert len(text) == total
        return text + ".\r\n"

    assert send_message(c, "a@b.example", [ALICE], body(limit - 1))[0] == 250
    assert send_message(c, "a@b.example", [ALICE], body(limit))[0] == 250
    assert send_message(c, "a@b.example", [ALICE], body(limit + 1)) == (
        552, ["5.3.4 Error: message size exceeds fixed maximum message size"])
    # The session goes on after the refusal, and nothing was queued for it.
    assert send_message(c, "a@b.example", [ALICE], "x\r\n.\r\n")[0] == 250
    assert len(srv.messages()) == 3


def test_body_smtputf8_ret_envid(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example> BODY=BINARYMIME") == 555
    assert c.code("MAIL FROM:<a@b.example> BODY=9BIT") == 501
    assert c.code("MAIL FROM:<a@b.example> RET=ALL") == 501
    assert c.code("MAIL FROM:<a@b.example> SMTPUTF8=yes") == 501
    assert c.code("MAIL FROM:<a@b.example> BODY=7BIT BODY=7BIT") == 501
    assert c.code("MAIL FROM:<a@b.example> FOO=BAR") == 555
    assert c.code("MAIL FROM:<a@b.example> AUTH=<>") == 555   # no AUTH on 25
    assert c.code("MAIL FROM:<\u00e9@b.example>") == 553
    assert c.code("MAIL FROM:<\u00e9l\u00e8ve@b.example> BODY=8BITMIME "
                  "SMTPUTF8 RET=HDRS ENVID=id+2Bplus=") == 501  # '=' raw
    assert c.code("MAIL FROM:<\u00e9l\u00e8ve@b.example> body=8bitmime "
                  "smtputf8 ret=hdrs envid=id+2Bplus") == 250
    assert c.code("RCPT TO:<j\u00fcrgen@\u00fcber.example>") == 550  # relay
    assert c.code(f"RCPT TO:<{ALICE}> NOTIFY=SUCCESS,DELAY "
                  "ORCPT=rfc822;Alice+40local.example") == 250
    assert c.code(f"RCPT TO:<{BOB}> NOTIFY=NEVER") == 250
    assert c.code(f"RCPT TO:<{BOB}> NOTIFY=NEVER,SUCCESS") == 501
    assert c.code(f"RCPT TO:<{BOB}> ORCPT=rfc822") == 501
    assert c.code(f"RCPT TO:<{BOB}> XYZ") == 555
    assert c.code("DATA") == 354
    c.send("Subject: caf\u00e9\r\n\r\n\u00e9\r\n.\r\n")
    assert c.reply()[0] == 250
    [(msg, env)] = srv.messages()
    assert env["F"] == "\u00e9l\u00e8ve@b.example"
    assert env["U"] == "" and env["B"] == "8BITMIME"
    assert env["R"] == "HDRS" and env["E"] == "id+plus"
    assert env["rcpts"][0] == {"addr": ALICE, "D": "SUCCESS,DELAY",
                               "O": "rfc822;Alice@local.example"}
    assert env["rcpts"][1] == {"addr": BOB, "D": "NEVER"}
    assert "Subject: caf\u00e9".encode() in msg


def test_utf8_recipient_needs_smtputf8(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.cmd("RCPT TO:<\u00e9@local.example>") == (
        553, ["5.6.7 Error: address needs SMTPUTF8"])


# --- BDAT (RFC 3030) -----------------------------------------------------------------

def test_bdat_chunks(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example> BODY=8BITMIME") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    part1 = b"Subject: chunks\r\n\r\nfirst line\r"
    part2 = b"\n.\r\nsecond line"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply() == (250, [f"2.0.0 Ok: {len(part1) - 1} octets received"])
    assert c.code("NOOP") == 250
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert c.reply() == (250, ["2.0.0 Ok: queued as TESTQID"])
    assert c.code("QUIT") == 221
    [(msg, env)] = srv.messages()
    # Opaque chunks: "." is text; the missing last line end is added.
    assert msg.split(b"Subject:", 1)[1] == (
        b" chunks\n\nfirst line\n.\nsecond line\n")
    assert env["B"] == "8BITMIME"


def test_bdat_sequence_errors_still_read_the_chunk(smtpd):
    srv = smtpd()
    c = srv.client()
    c.greeting()
    c.cmd("HELO x")
    # Without EHLO: refused, but the 12 bytes are read, not run as commands.
    c.send(b"BDAT 12 LAST\r\nQUIT\r\nQUIT\r\n")
    assert c.reply() == (503, ["5.5.1 Error: send EHLO first"])
    c.ehlo()
    c.send(b"BDAT 6\r\nRSET\r\n")
    assert c.reply() == (503, ["5.5.1 Error: need MAIL command"])
    assert c.code("MAIL FROM:<a@b.example>") == 250
    c.send(b"BDAT 6\r\nRSET\r\n")
    assert c.reply() == (503, ["5.5.1 Error: need RCPT command"])
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0] == 250
    assert c.cmd("DATA") == (503, ["5.5.1 Error: DATA not allowed after BDAT"])
    assert c.code(f"RCPT TO:<{BOB}>") == 503
    assert c.code("RSET") == 250      # drops the open BDAT message
    assert c.code("QUIT") == 221
    srv.wait_sessions()
    assert srv.messages() == []


def test_bdat_empty_last_and_size(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    c.send(b"BDAT 0 LAST\r\n")
    assert c.reply()[0] == 250
    # Over the limit in one chunk: refused, the chunk skipped.
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    c.send(b"BDAT 60000\r\n" + (b"b" * 98 + b"\r\n") * 600)
    assert c.reply()[0] == 250
    c.send(b"BDAT 40001 LAST\r\n" + b"c" * 40001)
    assert c.reply() == (552, ["5.3.4 Error: message size exceeds fixed "
                               "maximum message size"])
    assert c.code("NOOP") == 250
    assert len(srv.messages()) == 1


def test_bdat_chunk_larger_than_limit_hangs_up(smtpd):
    c = smtpd().greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    c.send(b"BDAT 100001 LAST\r\n")
    assert c.reply()[0] == 552
    assert c.at_eof()


# --- pipelining (RFC 2920) ------------------------------------------------------------

def test_pipelined_transaction_in_one_write(smtpd):
    srv = smtpd()
    c = srv.greeted()
    c.send(f"MAIL FROM:<a@b.example>\r\nRCPT TO:<{ALICE}>\r\n"
           f"RCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<{BOB}>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 550, 250, 354]
    c.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<c@d.example>\r\n"
           f"RCPT TO:<{BOB}>\r\nBDAT 8 LAST\r\nx: y\r\n\r\nQUIT\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 250, 221]
    assert c.at_eof()
    srv.wait_sessions()
    msgs = srv.messages()
    assert len(msgs) == 2
    assert [r["addr"] for r in msgs[0][1]["rcpts"]] == [ALICE, BOB]


def test_whole_bdat_transaction_in_one_write(smtpd):
    srv = smtpd()
    c = srv.greeted()
    data = b"Subject: one write\r\n\r\nhello\r\n"
    c.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<%s>\r\nBDAT %d LAST\r\n%s"
           b"QUIT\r\n" % (ALICE.encode(), len(data), data))
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 221]
    srv.wait_sessions()
    assert len(srv.messages()) == 1


# --- limits ---------------------------------------------------------------------------

def test_command_line_512_513(smtpd):
    c = smtpd().greeted()
    assert c.cmd("NOOP " + "x" * 505)[0] == 250          # 512 with CRLF
    assert c.cmd("NOOP " + "x" * 506) == (500, ["5.5.2 Error: line too long"])
    assert c.code("NOOP") == 250                          # still in sync
    # MAIL after EHLO has the room of its extensions; after HELO it has not.
    long_mail = "MAIL FROM:<a@b.example> ENVID=" + "x" * 100 + " SIZE=1 " + \
        " " * 400
    assert len(long_mail) > 510
    assert c.code(long_mail) == 250
    c2 = smtpd().client()
    c2.greeting()
    c2.cmd("HELO x")
    assert c2.code("MAIL FROM:<a@b.example>" + " " * 490) == 500


def test_text_line_1000_1001(smtpd):
    srv = smtpd()
    c = srv.greeted()
    ok = "a" * 998 + "\r\n"            # 1000 octets with CRLF
    stuffed = "." + "." * 998 + "\r\n"  # a dot-stuffed 998: 1001 on the wire
    assert send_message(c, "a@b.example", [ALICE],
                        "x: y\r\n\r\n" + ok + stuffed + ".\r\n")[0] == 250
    over = "a" * 999 + "\r\n"
    assert send_message(c, "a@b.example", [ALICE], over + ".\r\n") == (
        554, ["5.6.0 Error: message line longer than 1000 octets "
              "(RFC 5321 4.5.3.1.6)"])
    [(msg, _)] = srv.messages()
    assert b"\n" + b"a" * 998 + b"\n" + b"." * 998 + b"\n" in msg


def test_recipients_100_then_452(smtpd):
    srv = smtpd()
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    c.send("".join(f"RCPT TO:<alice+{i}@{DOMAIN}>\r\n" for i in range(102)))
    codes = [c.reply() for _ in range(102)]
    assert [x[0] for x in codes[:100]] == [250] * 100
    assert codes[100] == (452, ["4.5.3 Error: too many recipients"])
    assert codes[101][0] == 452
    code, _ = c.cmd("DATA")
    assert code == 354
    c.send("x\r\n.\r\n")
    assert c.reply()[0] == 250
    [(_, env)] = srv.messages()
    assert len(env["rcpts"]) == 100


def test_error_limit_421(smtpd):
    c = smtpd().greeted()
    for _ in range(19):
        assert c.code("MAIL FROM:<bad") == 501
    code, lines = c.cmd("MAIL FROM:<bad")
    assert code == 501
    assert c.reply() == (421, ["4.7.0 Error: too many errors"])
    assert c.at_eof()


def test_unknown_command_limit_421(smtpd):
    c = smtpd().greeted()
    for _ in range(9):
        assert c.code("WHAT") == 500
    assert c.code("WHAT") == 500
    assert c.reply() == (421, ["4.7.0 Error: too many unknown commands"])
    assert c.at_eof()


def test_junk_limit_421_reset_by_a_message(smtpd):
    c = smtpd().greeted()
    c.send("NOOP\r\n" * 98)
    assert all(c.reply()[0] == 250 for _ in range(98))
    assert send_message(c, "a@b.example", [ALICE], "x\r\n.\r\n")[0] == 250
    c.send("NOOP\r\n" * 99)
    assert all(c.reply()[0] == 250 for _ in range(99))
    assert c.cmd("NOOP")[0] == 250
    assert c.reply() == (421, [
        "4.7.0 Error: too many commands without a message"])


def test_command_timeout(smtpd):
    srv = smtpd(timeout_ms=800)
    c = srv.greeted()
    t0 = time.monotonic()
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.4.2 ")
    assert 0.6 < time.monotonic() - t0 < 5
    assert c.at_eof()
    assert "reason=timeout" in srv.log()


def test_slow_command_hits_deadline(smtpd):
    """One byte just inside each timeout must not keep a line going (X2)."""
    srv = smtpd(timeout_ms=1000)
    c = srv.greeted()
    t0 = time.monotonic()
    for ch in "NOOP      ":
        c.send(ch)
        time.sleep(0.3)
        if not c.nothing_pending(0.01):
            break
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.4.2 ")
    assert time.monotonic() - t0 < 3


def test_slow_data_min_rate(smtpd):
    srv = smtpd(timeout_ms=1500)
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    assert c.code("DATA") == 354
    t0 = time.monotonic()
    # 10 bytes a second, each wait well inside the 1.5 s timeout.
    for _ in range(60):
        try:
            c.send("x" * 5)
        except OSError:
            break
        if not c.nothing_pending(0.5):
            break
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.4.2 ")
    assert time.monotonic() - t0 < 4
    assert srv.messages() == []


# --- submission: fix-ups ------------------------------------------------------------

def test_date_and_message_id_added_on_submission_only(smtpd):
    from test_smtpd_fixture import PASSWORD, plain_auth
    sub = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = sub.greeted()
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    assert send_message(c, ALICE, [BOB], "Subject: a\r\n\r\nx\r\n.\r\n")[0] \
        == 250
    assert send_message(c, ALICE, [BOB], "Subject: b\r\nDate: Mon, 1 Jan "
                        "2024 00:00:00 +0000\r\nMessage-ID: <m@x>\r\n\r\n"
                        "x\r\n.\r\n")[0] == 250
    (m1, e1), (m2, e2) = sub.messages()
    h1 = m1.split(b"\n\n", 1)[0]
    assert re.search(rb"\nDate: \w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}\n",
                     h1 + b"\n")
    assert re.search(rb"\nMessage-ID: <\d+\.\d+\.[0-9a-f]{16}@mx\.test\."
                     rb"example>$", h1)
    h2 = m2.split(b"\n\n", 1)[0]
    assert h2.count(b"Date:") == 1 and h2.count(b"Message-ID:") == 1
    assert e1["A"] == ALICE and e1["P"] == "ESMTPA"
    assert b"(authenticated user alice@local.example)" in m1
    # Port 25 leaves messages as they are.
    mx = smtpd("smtp")
    c = mx.greeted()
    assert send_message(c, "a@b.example", [ALICE], "Subject: c\r\n\r\nx\r\n"
                        ".\r\n")[0] == 250
    [(m3, _)] = mx.messages()
    assert b"Date:" not in m3 and b"Message-ID:" not in m3


def test_received_count_99_100(smtpd):
    srv = smtpd()
    c = srv.greeted()
    hops = "".join(f"Received: from h{i}.example by x; Mon, 1 Jan 2024 "
                   f"00:00:00 +0000\r\n" for i in range(99))
    assert send_message(c, "a@b.example", [ALICE],
                        hops + "Subject: x\r\n\r\nx\r\n.\r\n")[0] == 250
    hops += "received : from h99.example by x; Mon, 1 Jan 2024\r\n"
    assert send_message(c, "a@b.example", [ALICE],
                        hops + "Subject: x\r\n\r\nx\r\n.\r\n") == (
        554, ["5.4.6 Error: too many Received: headers (mail loop?)"])
    # In the body it is just text.
    assert send_message(c, "a@b.example", [ALICE], "Subject: x\r\n\r\n" +
                        hops + ".\r\n")[0] == 250
    assert len(srv.messages()) == 2


# --- inject's report --------------------------------------------------------------------

def one_message(srv):
    c = srv.greeted()
    return send_message(c, "a@b.example", [ALICE], "x\r\n.\r\n"), c


def test_inject_temporary_failure_451(smtpd):
    (reply, c) = one_message(smtpd(inject="z"))
    assert reply == (451, ["4.3.0 Error: queue failure, try again later"])
    assert c.code("NOOP") == 250


def test_inject_disk_full_452(smtpd):
    (reply, _) = one_message(smtpd(inject="z431"))
    assert reply == (452, ["4.3.1 Error: insufficient system storage"])


def test_inject_permanent_failure_554(smtpd):
    (reply, _) = one_message(smtpd(inject="d"))
    assert reply == (554, ["5.7.1 Error: message refused by the queue"])
    (reply, _) = one_message(smtpd(inject="d534"))
    assert reply[0] == 552 and reply[1][0].startswith("5.3.4 ")


def test_inject_crash_or_silence_is_never_250(smtpd):
    for kind in ("crash", "none"):
        srv = smtpd(inject=kind)
        (reply, _) = one_message(srv)
        assert reply == (451, ["4.3.0 Error: queue failure, try again later"])
        assert srv.messages() == []


def test_inject_missing_451_before_354(smtpd):
    srv = smtpd(inject="missing")
    c = srv.greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    assert c.cmd("DATA") == (451, [
        "4.3.0 Error: queue unavailable, try again later"])
    assert c.code("RCPT TO:<x@local.example>") == 503   # transaction gone
    assert "cannot run inject" in srv.log()


# --- line ends and logs ------------------------------------------------------------------

def test_bare_lf_commands_and_data_line(smtpd):
    """Commands may end in a bare LF; the data's end never may.

    A DATA line ended by a bare LF has no CR LF to start the end with, so
    an immediate ".\\r\\n" is text (and the message is then refused for
    the bare LF of its own line end, should one come).
    """
    srv = smtpd()
    c = srv.client()
    c.greeting()
    c.send("EHLO lf.example\n")
    assert c.reply()[0] == 250
    c.send(f"MAIL FROM:<a@b.example>\nRCPT TO:<{ALICE}>\n")
    assert [c.reply()[0] for _ in range(2)] == [250, 250]
    c.send("DATA\n")
    assert c.reply()[0] == 354
    c.send(".\r\nx\r\n")
    assert c.nothing_pending(0.3)          # ".\r\n" did not end the data
    c.send(".\r\n")
    assert c.reply()[0] == 250
    [(msg, _)] = srv.messages()
    assert msg.endswith(b"\nx\n") and b"\n.\n" not in msg.split(b"\n", 3)[3]


def test_smuggling_refused_inside_tls_too(smtpd):
    srv = smtpd("smtp")
    c = srv.greeted()
    c.starttls()
    c.ehlo()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    assert c.code(f"RCPT TO:<{ALICE}>") == 250
    assert c.code("DATA") == 354
    c.send(b"Subject: t\r\n\r\nhi\n.\r\nMAIL FROM:<s@x.example>\r\n"
           b"RCPT TO:<alice@local.example>\r\nDATA\r\nx\r\n.\r\n")
    assert c.reply()[0] == 554
    assert c.code("NOOP") == 250
    assert srv.messages() == []


def test_log_lines(smtpd):
    from test_smtpd_fixture import PASSWORD, plain_auth
    mx = smtpd("smtp")
    c = mx.greeted()
    assert send_message(c, "a@b.example", [ALICE], "x\r\n.\r\n")[0] == 250
    assert c.code("RCPT TO:<x@y.example>") == 503
    assert c.code("QUIT") == 221
    mx.wait_sessions()
    log = mx.log()
    for want in ("event=connect step=3 client=127.0.0.1 mode=smtp",
                 "event=ehlo step=3 client=127.0.0.1 helo=client.example",
                 "event=mail step=3 client=127.0.0.1 from=a@b.example",
                 "event=rcpt step=3 client=127.0.0.1 to=alice@local.example "
                 "status=accepted code=2.1.5",
                 "event=queued step=3 client=127.0.0.1 qid=TESTQID "
                 "from=a@b.example nrcpt=1 size=3",
                 "event=disconnect step=3 client=127.0.0.1 reason=quit "
                 "commands=6 messages=1 rcpts=1 errors=1"):
        assert want in log, want
    sub = smtpd("submission")
    c = sub.greeted()
    c.starttls()
    c.ehlo()
    assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
    assert send_message(c, ALICE, ["v@victim.example"], "x\r\n.\r\n")[0] \
        == 250
    assert c.code("QUIT") == 221
    c.close()
    sub.wait_sessions()
    log = sub.log()
    assert "event=tls step=2 client=127.0.0.1 status=ok tls=\"TLSv1." in log
    assert "event=auth step=2 client=127.0.0.1 user=alice@local.example " \
        "status=ok" in log
    assert "qid=TESTQID" in log and "user=alice@local.example" in log
    assert PASSWORD not in log


# --- limits and timeouts from the config ---------------------------------------------

def test_limits_and_timeout_come_from_the_config(smtpd):
    srv = smtpd(conf={"smtpd_max_unknown_commands": "2",
                      "smtpd_max_errors": "3",
                      "smtpd_timeout": "1s"})
    c = srv.greeted()
    assert c.code("WHAT") == 500
    assert c.code("WHAT") == 500
    assert c.reply() == (421, ["4.7.0 Error: too many unknown commands"])
    assert c.at_eof()
    c = srv.greeted()
    for _ in range(2):
        assert c.code("MAIL FROM:<bad") == 501
    assert c.code("MAIL FROM:<bad") == 501
    assert c.reply() == (421, ["4.7.0 Error: too many errors"])
    c = srv.greeted()
    t0 = time.monotonic()
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.4.2 ")
    assert 0.8 < time.monotonic() - t0 < 5


def test_more_recipients_when_configured(smtpd):
    c = smtpd(conf={"smtpd_max_recipients": "150"}).greeted()
    assert c.code("MAIL FROM:<a@b.example>") == 250
    for _ in range(150):
        assert c.code(f"RCPT TO:<{ALICE}>") == 250
    assert c.cmd(f"RCPT TO:<{ALICE}>")[0] == 452


def test_vrfy_answers_authenticated_users_when_configured(smtpd):
    from test_smtpd_fixture import PASSWORD, plain_auth
    for setting, known, unknown in (("no", 252, 252), ("yes", 250, 550)):
        sub = smtpd("submission", conf={"allow_plaintext_auth": "yes",
                                        "smtpd_vrfy_authenticated": setting})
        c = sub.greeted()
        # Never before login: no probing of who exists.
        assert c.code(f"VRFY {ALICE}") == 252
        assert c.code("AUTH PLAIN " + plain_auth(ALICE, PASSWORD)) == 235
        assert c.code(f"VRFY {BOB}") == known
        assert c.code("VRFY <nobody@local.example>") == unknown
