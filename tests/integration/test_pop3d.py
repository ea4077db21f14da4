"""pop3d transcripts: every command and response code, the errors of
SECURITY.md P1-P4 and U2, the Maildir effects (UPDATE state only, seen
flag, quota), one session per mailbox, stable UIDLs, the session's fixed
view, login throttling, and confinement after login. The server is the
real maild from the build running the real pop3d on loopback."""
import os
import re
import socket
import struct
import threading
import time

import pytest

from test_pop3d_stack import (DOMAIN, USERS, crlf_text, pop3_stack,  # noqa: F401
                              wait_for)

MSG1 = b"Subject: one\nMessage-ID: <one@truc.test>\n\nfirst body\n"
MSG2 = b"Subject: two\n\nline 1\nline 2\nline 3\n"


def fill(stack, user="alice"):
    """Two messages; their base names (UIDLs)."""
    return [stack.deliver(user, MSG1), stack.deliver(user, MSG2)]


# --- AUTHORIZATION ------------------------------------------------------

def test_greeting_and_capa_before_tls(pop3_stack):
    s = pop3_stack(plaintext=False)
    c = s.connect()
    assert c.readline_greeting() == f"+OK mx.{DOMAIN} POP3 server ready"
    assert c.cmd("CAPA") == "+OK Capability list follows"
    caps = [l.decode() for l in c.multiline()]
    assert caps == ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                    "PIPELINING", "STLS",
                    "IMPLEMENTATION mailstack-pop3d"]
    # Credentials before TLS: refused, and not advertised above.
    refused = ("-ERR [AUTH] Plaintext authentication disallowed without "
               "TLS, use STLS first")
    assert c.cmd(f"USER alice@{DOMAIN}") == refused
    assert c.cmd("PASS x") == refused
    assert c.cmd("AUTH PLAIN AGFAYgB4") == refused
    assert c.cmd("AUTH") == refused
    assert c.cmd("QUIT") == "+OK Logging out"
    assert c.closed()


def test_x1_client_talking_before_greeting_dropped(pop3_stack):
    s = pop3_stack()
    c = s.connect()
    c.send("CAPA\r\n")          # at once, without waiting for +OK
    assert c.readstr() == \
        "-ERR Protocol error: client spoke before the greeting"
    assert c.closed()
    assert s.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                      r"reason=pregreet")


def test_stls_then_login(pop3_stack):
    s = pop3_stack(plaintext=False)
    fill(s)
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("STLS") == "+OK Begin TLS negotiation"
    c.starttls(s.client_context())
    assert c.cmd("CAPA").startswith("+OK")
    caps = [l.decode() for l in c.multiline()]
    assert "USER" in caps and "SASL PLAIN LOGIN" in caps
    assert "STLS" not in caps
    assert c.cmd("STLS") == "-ERR TLS is already active"
    assert c.cmd(f"USER alice@{DOMAIN}").startswith("+OK")
    assert c.cmd(f"PASS {USERS['alice']}") == \
        "+OK Logged in, 2 messages (%d octets)" % (
            len(crlf_text(MSG1)) + len(crlf_text(MSG2)))
    assert c.cmd("STAT").startswith("+OK 2 ")
    assert c.cmd("QUIT").startswith("+OK")
    assert s.wait_log(r"event=starttls client=127\.0\.0\.1 tls=\"TLS")
    assert s.wait_log(r"event=login .*step=6 method=user tls=yes "
                      r"messages=2")


def test_p1_stls_pipelined_input_discarded(pop3_stack):
    s = pop3_stack(plaintext=False)
    c = s.connect()
    c.readline_greeting()
    c.send("STLS\r\nCAPA\r\n")        # one segment
    assert c.readstr() == "+OK Begin TLS negotiation"
    c.starttls(s.client_context())    # asserts nothing else came in clear
    # The pipelined CAPA got no answer inside TLS: the first reply we see
    # is the one to our NOOP-like probe (an unknown command).
    assert c.cmd("XYZZ") == "-ERR Unknown command"
    assert c.cmd("QUIT") == "+OK Logging out"
    assert s.wait_log(r"event=stls-pipelined client=127\.0\.0\.1 "
                      r"discarded=6")


def test_pop3s_implicit_tls(pop3_stack):
    s = pop3_stack(plaintext=False)
    fill(s)
    c = s.connect(tls=True)
    c.readline_greeting()
    assert c.cmd("CAPA").startswith("+OK")
    caps = [l.decode() for l in c.multiline()]
    assert "STLS" not in caps and "USER" in caps
    assert c.cmd("STLS") == "-ERR TLS is already active"
    assert c.cmd(f"USER alice@{DOMAIN}").startswith("+OK")
    assert c.cmd(f"PASS {USERS['alice']}").startswith("+OK Logged in, 2")
    assert c.cmd("QUIT").startswith("+OK")


def test_no_tls_configured(pop3_stack):
    s = pop3_stack(plaintext=False, start=False)
    s.conf.write_text("".join(
        l + "\n" for l in s.conf.read_text().splitlines()
        if not l.startswith(("tls_", "listen_pop3s"))))
    s.start()
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("CAPA").startswith("+OK")
    assert "STLS" not in [l.decode() for l in c.multiline()]
    assert c.cmd("STLS") == "-ERR [SYS/PERM] TLS is not available"
    assert c.cmd("USER x").startswith("-ERR [AUTH] Plaintext")
    assert c.cmd("QUIT") == "+OK Logging out"


def test_sys_temp_when_users_table_unusable(pop3_stack):
    s = pop3_stack(start=False)
    # A key given twice: the table does not compile, and no cdb exists.
    users = s.tmp / "users"
    users.write_text(users.read_text() * 2)
    s.start()
    c = s.connect()
    c.readline_greeting()
    c.cmd(f"USER alice@{DOMAIN}")
    assert c.cmd(f"PASS {USERS['alice']}") == \
        "-ERR [SYS/TEMP] Temporary authentication failure, try again later"
    # Not counted as a failed login: the connection stays usable.
    assert c.cmd("QUIT") == "+OK Logging out"
    assert s.wait_log(r"level=error event=auth-error client=127\.0\.0\.1")


def test_wrong_state_and_pass_before_user(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("PASS x") == "-ERR No user name given, send USER first"
    for cmd in ("STAT", "LIST", "RETR 1"):
        assert c.cmd(cmd) == "-ERR Not logged in"
    # The fifth bad command before login ends the session (U2, P2).
    assert c.cmd("DELE 1") == \
        "-ERR Too many bad commands, closing connection"
    assert c.closed()
    assert s.wait_log(r"event=disconnect client=127\.0\.0\.1 "
                      r"reason=bad-commands bad=5")

    c = s.connect()
    c.login()
    for cmd in ("USER x", "PASS y", "AUTH PLAIN", "STLS"):
        assert c.cmd(cmd) == "-ERR Already logged in"
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("QUIT").startswith("+OK")


def test_unknown_and_syntax_errors(pop3_stack):
    s = pop3_stack()
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("APOP alice c4c9334bac560ecc979e58001b3e22fb") == \
        "-ERR Unknown command"
    assert c.cmd("USER") == "-ERR Syntax error"
    assert c.cmd("CAPA x") == "-ERR Syntax error"
    assert c.cmd("QUIT now") == "-ERR Syntax error"
    assert c.cmd("QUIT") == "+OK Logging out"


def test_long_lines(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.login()
    # A 10 KB command line: -ERR, and the session goes on.
    assert c.cmd("LIST " + "1" * 10240) == "-ERR Line too long"
    assert c.cmd("STAT").startswith("+OK 2 ")
    assert c.cmd("QUIT").startswith("+OK")

    # Repeated: closed before login after POP3D_BAD_PREAUTH_MAX (5).
    c = s.connect()
    c.readline_greeting()
    for _ in range(4):
        assert c.cmd("USER " + "a" * 10240) == "-ERR Line too long"
    assert c.cmd("USER " + "a" * 10240) == \
        "-ERR Too many bad commands, closing connection"
    assert c.closed()

    # P2: "USER " + 100 KB: the cap, then the connection is closed at
    # once (no need for the line to end).
    c = s.connect()
    c.readline_greeting()
    c.send("USER " + "A" * 100000)
    assert c.readstr() == "-ERR Line too long, closing connection"
    assert c.closed()
    assert s.wait_log(r"reason=line-too-long")


def test_bad_commands_after_login(pop3_stack):
    s = pop3_stack()
    c = s.connect()
    c.login()
    for _ in range(19):
        assert c.cmd("FOO") == "-ERR Unknown command"
    # Looking up messages that do not exist is not a bad command.
    for _ in range(5):
        assert c.cmd("RETR 99") == "-ERR No such message"
    assert c.cmd("FOO") == "-ERR Too many bad commands, closing connection"
    assert c.closed()


# --- TRANSACTION ----------------------------------------------------------

def test_transaction_transcript(pop3_stack):
    s = pop3_stack()
    u1, u2 = fill(s)
    n1, n2 = len(crlf_text(MSG1)), len(crlf_text(MSG2))
    c = s.connect()
    c.login()
    assert c.cmd("STAT") == f"+OK 2 {n1 + n2}"
    assert c.cmd("LIST") == f"+OK 2 messages ({n1 + n2} octets)"
    assert c.multiline() == [f"1 {n1}".encode(), f"2 {n2}".encode()]
    assert c.cmd("LIST 2") == f"+OK 2 {n2}"
    assert c.cmd("LIST 3") == "-ERR No such message"
    assert c.cmd("UIDL") == "+OK Unique-ID listing follows"
    assert c.multiline() == [f"1 {u1}".encode(), f"2 {u2}".encode()]
    assert c.cmd("UIDL 1") == f"+OK 1 {u1}"
    assert c.cmd("RETR 1") == f"+OK {n1} octets"
    assert c.raw_until_terminator() == crlf_text(MSG1) + b".\r\n"
    assert c.cmd("TOP 2 0") == "+OK Top of message follows"
    assert c.multiline() == [b"Subject: two", b""]
    assert c.cmd("TOP 2 2") == "+OK Top of message follows"
    assert c.multiline() == [b"Subject: two", b"", b"line 1", b"line 2"]
    # The errors of SECURITY.md P2.
    assert c.cmd("RETR 0") == "-ERR No such message"
    assert c.cmd("RETR 99") == "-ERR No such message"
    assert c.cmd("RETR 4294967296") == "-ERR No such message"
    assert c.cmd("TOP 1 -1") == "-ERR Syntax error"
    assert c.cmd("TOP 1 99999999999") == "-ERR Line count too large"
    assert c.cmd("DELE 1") == "+OK Message 1 deleted"
    assert c.cmd("DELE 1") == "-ERR Message 1 already deleted"
    assert c.cmd("RETR 1") == "-ERR Message 1 already deleted"
    assert c.cmd("LIST 1") == "-ERR Message 1 already deleted"
    assert c.cmd("STAT") == f"+OK 1 {n2}"
    assert c.cmd("LIST") == f"+OK 1 messages ({n2} octets)"
    assert c.multiline() == [f"2 {n2}".encode()]
    assert c.cmd("RSET") == f"+OK 2 messages ({n1 + n2} octets)"
    assert c.cmd("STAT") == f"+OK 2 {n1 + n2}"
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("DELE 2") == "+OK Message 2 deleted"
    assert c.cmd("QUIT") == "+OK Logging out, 1 messages deleted, 1 left"
    assert c.closed()
    files = s.files("alice")
    names = files["new"] + files["cur"]
    assert len(names) == 1 and names[0].startswith(u1)
    # RETR'd: now in cur/ with the seen flag, as Dovecot does.
    assert files["cur"] == [names[0]] and names[0].endswith(":2,S")
    assert s.wait_log(r"event=retr client=127\.0\.0\.1 "
                      r"user=alice@truc\.test step=7 uidl=\S+ "
                      rf"octets={n1} msgid=<one@truc\.test>")
    assert s.wait_log(r"event=logout .*step=7 reason=quit retr=1 "
                      rf"retr_octets={n1} top=2 .* deleted=1 ")


def test_pipelining(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.readline_greeting()
    c.send(f"USER alice@{DOMAIN}\r\nPASS {USERS['alice']}\r\nSTAT\r\n"
           "LIST\r\nRETR 2\r\nNOOP\r\nQUIT\r\n")
    assert c.readstr().startswith("+OK")
    assert c.readstr().startswith("+OK Logged in")
    assert c.readstr().startswith("+OK 2 ")
    assert c.readstr().startswith("+OK 2 messages")
    assert len(c.multiline()) == 2
    assert c.readstr().startswith("+OK")
    assert c.raw_until_terminator() == crlf_text(MSG2) + b".\r\n"
    assert c.readstr() == "+OK"
    assert c.readstr().startswith("+OK Logging out")


def test_p3_dele_then_reset_keeps_message(pop3_stack):
    s = pop3_stack()
    fill(s)
    before = s.files("alice")
    c = s.connect()
    c.login()
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELE 2").startswith("+OK")
    # TCP reset without QUIT.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.sock.close()
    assert s.wait_log(r"event=disconnect .*reason=\S+ .*marked=2")
    assert s.files("alice") == before
    c = s.connect()
    c.login()
    assert c.cmd("STAT").startswith("+OK 2 ")
    assert c.cmd("QUIT").startswith("+OK")


def test_p4_dot_stuffing_and_line_ends(pop3_stack):
    s = pop3_stack()
    bodies = [b"Subject: p4\n\n.\nmiddle\n.\n",
              b"Subject: p4\n\na\n.\nMAIL FROM:<x@y>\n\n.\n\nend",
              b"Subject: p4\r\n\r\na\r.\r\nb\r\n..\r\n",
              b"Subject: p4\n\n\r\r\n.\r\r\n.",
              b""]
    for b in bodies:
        s.deliver("alice", b, sizes=b != bodies[3])
    c = s.connect()
    c.login()
    assert c.cmd("LIST").startswith("+OK 5 messages")
    sizes = [int(l.split()[1]) for l in c.multiline()]
    for i, b in enumerate(bodies, 1):
        assert c.cmd(f"RETR {i}") == f"+OK {sizes[i - 1]} octets"
        raw = c.raw_until_terminator()
        # CR and LF only as CR LF pairs, one terminator, at the end.
        assert raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n")
        assert raw.endswith(b"\r\n.\r\n") or raw == b".\r\n"
        assert b"\r\n.\r\n" not in raw[:-5]
        lines = raw[:-3].split(b"\r\n")[:-1]
        assert all(not l.startswith(b".") or l.startswith(b"..")
                   for l in lines)
        unstuffed = b"".join(
            (l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines)
        assert unstuffed == crlf_text(b)
        # The size LIST gave is the size sent (RFC 1939 5: exact size).
        if b and b[-1:] in (b"\n", b"\r"):
            assert len(unstuffed) == sizes[i - 1]
    assert c.cmd("QUIT").startswith("+OK")


# --- the Maildir ------------------------------------------------------------

def test_seen_flag_top_and_quota(pop3_stack):
    s = pop3_stack()
    u1, u2 = fill(s)
    u3 = s.deliver("alice", b"Subject: three\n\nx\n", folder="cur",
                   info="F")
    md = s.maildir("alice")
    (md / "maildirsize").write_text("1000000S\n200 3\n")
    c = s.connect()
    c.login()
    assert c.cmd("RETR 1").startswith("+OK")
    c.raw_until_terminator()
    assert c.cmd("TOP 2 1").startswith("+OK")
    c.multiline()
    assert c.cmd("RETR 3").startswith("+OK")
    c.raw_until_terminator()
    assert c.cmd("DELE 2").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    f = s.files("alice")
    assert f["new"] == []
    assert [n.split(",")[0].split(":")[0] for n in f["cur"]] == [u1, u3]
    assert f["cur"][0].endswith(":2,S") and f["cur"][1].endswith(":2,FS")
    # deliver's maildirsize learns about the removal (quota.h).
    assert (md / "maildirsize").read_text().splitlines()[-1] == \
        f"-{len(MSG2)} -1"


def test_update_waits_for_imapd_lock(pop3_stack):
    import fcntl
    s = pop3_stack()
    fill(s)
    before = s.files("alice")
    c = s.connect()
    c.login()
    c.cmd("RETR 1")
    c.raw_until_terminator()
    c.cmd("DELE 2")
    # An imapd session is changing the folder: QUIT must wait for it.
    with open(s.maildir("alice") / "imapd.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        c.send("QUIT\r\n")
        time.sleep(0.5)
        assert s.files("alice") == before
    assert c.readstr().startswith("+OK Logging out, 1 messages deleted")
    f = s.files("alice")
    assert f["new"] == [] and len(f["cur"]) == 1


def test_uidl_stable_across_sessions(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.login()
    c.cmd("UIDL")
    first = c.multiline()
    c.cmd("RETR 2")
    c.raw_until_terminator()
    c.cmd("QUIT")           # message 2 moves to cur/ with :2,S
    c = s.connect()
    c.login()
    c.cmd("UIDL")
    assert c.multiline() == first
    c.cmd("QUIT")
    # The UIDL is the Maildir base name, in new/ and in cur/ alike.
    names = s.files("alice")
    uids = sorted(l.split()[1].decode() for l in first)
    assert sorted(n.split(",")[0] for n in names["new"] + names["cur"]) \
        == uids


def test_one_session_per_mailbox(pop3_stack):
    s = pop3_stack()
    fill(s)
    a = s.connect()
    a.login()
    b = s.connect()
    b.readline_greeting()
    b.cmd(f"USER alice@{DOMAIN}")
    assert b.cmd(f"PASS {USERS['alice']}") == \
        "-ERR [IN-USE] Mailbox is in use by another POP3 session"
    assert b.closed()
    # Another mailbox is not affected.
    o = s.connect()
    o.login("bob")
    assert o.cmd("QUIT").startswith("+OK")
    assert a.cmd("QUIT").startswith("+OK")
    assert s.wait_log(r"event=logout .*user=alice")
    c = s.connect()
    c.login()
    assert c.cmd("QUIT").startswith("+OK")


def test_concurrent_delivery_not_seen_until_next_session(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.login()
    stat = c.cmd("STAT")
    c.cmd("UIDL")
    uidl = c.multiline()
    new = s.deliver("alice", b"Subject: late\n\nlate\n")
    assert c.cmd("STAT") == stat
    c.cmd("UIDL")
    assert c.multiline() == uidl
    assert c.cmd("RETR 3") == "-ERR No such message"
    c.cmd("DELE 1")
    assert c.cmd("QUIT").startswith("+OK Logging out, 1 messages deleted,"
                                    " 1 left")
    assert any(n.startswith(new) for n in s.files("alice")["new"])
    c = s.connect()
    c.login()
    assert c.cmd("STAT").startswith("+OK 2 ")
    assert c.cmd("UIDL 2") == f"+OK 2 {new}"
    c.cmd("QUIT")


def test_message_removed_by_another_reader(pop3_stack):
    s = pop3_stack()
    fill(s)
    c = s.connect()
    c.login()
    md = s.maildir("alice")
    # Another reader (an IMAP session) flags message 2, then expunges 1.
    n2 = s.files("alice")["new"][1]
    os.rename(md / "new" / n2, md / "cur" / (n2 + ":2,F"))
    os.unlink(md / "new" / s.files("alice")["new"][0])
    assert c.cmd("RETR 2").startswith("+OK")
    assert c.raw_until_terminator() == crlf_text(MSG2) + b".\r\n"
    assert c.cmd("RETR 1") == "-ERR Message 1 was removed by another client"
    c.cmd("DELE 1")
    assert c.cmd("QUIT").startswith("+OK Logging out, 0 messages deleted")
    assert s.files("alice")["cur"] == [n2 + ":2,FS"]


def test_mailbox_not_yet_created(pop3_stack):
    s = pop3_stack()
    c = s.connect()
    c.login("carol")
    assert c.cmd("STAT") == "+OK 0 0"
    assert c.cmd("LIST") == "+OK 0 messages (0 octets)"
    assert c.multiline() == []
    assert c.cmd("QUIT").startswith("+OK")
    assert s.wait_log(r"event=login .*user=carol@truc\.test .*maildir=none")


def test_symlinked_maildir_refused(pop3_stack):
    s = pop3_stack()
    fill(s)
    bob = s.maildir("bob")
    for sub in ("cur", "new", "tmp"):
        (bob / sub).rmdir()
    bob.rmdir()
    bob.symlink_to(s.maildir("alice"))
    c = s.connect()
    c.readline_greeting()
    c.cmd(f"USER bob@{DOMAIN}")
    assert c.cmd(f"PASS {USERS['bob']}") == \
        "-ERR [SYS/PERM] Mailbox is not usable, contact your administrator"
    assert c.closed()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change users")
def test_confined_after_login(pop3_stack):
    s = pop3_stack()
    fill(s)
    md = s.maildir("alice")
    for root, dirs, files in os.walk(md):
        for n in dirs + files:
            os.chown(os.path.join(root, n), 65534, 65534)
    os.chown(md, 65534, 65534)
    # A message the owner cannot read (root's, mode 0600).
    locked = s.deliver("alice", b"Subject: locked\n\nx\n")
    os.chmod(md / "new" / s.files("alice")["new"][-1], 0o600)
    c = s.connect()
    c.login()
    m = s.wait_log(r"pop3d\[(\d+)\]: level=debug event=confined "
                   r".*user=alice@truc\.test how=(\S+)")
    pid, how = int(m.group(1)), m.group(2).split(",")
    status = open(f"/proc/{pid}/status").read()
    uid_line = [l for l in status.splitlines() if l.startswith("Uid:")][0]
    assert uid_line.split()[1:] == ["65534"] * 4
    assert "uid" in how
    if "sanitizer" not in how:
        # (A sanitizer build keeps / for LeakSanitizer's /proc reads.)
        assert "chroot" in how
        assert os.readlink(f"/proc/{pid}/root") == str(md)
    if "landlock" in how:
        assert "NoNewPrivs:\t1" in status
    assert c.cmd("RETR 1").startswith("+OK")
    c.raw_until_terminator()
    assert c.cmd("UIDL 3") == f"+OK 3 {locked}"
    assert c.cmd("RETR 3") == "-ERR [SYS/TEMP] Cannot read message 3"
    assert c.cmd("QUIT").startswith("+OK")
    assert s.files("alice")["cur"][0].endswith(":2,S")
    assert s.wait_log(r"event=read-failed .*error=\"cannot open message: "
                      r"Permission denied\"")


# --- AUTH, failures and throttling ----------------------------------------------

def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def test_auth_plain_and_login(pop3_stack):
    s = pop3_stack()
    fill(s)
    user, pw = f"alice@{DOMAIN}", USERS["alice"]
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("AUTH") == "+OK Mechanisms follow"
    assert c.multiline() == [b"PLAIN", b"LOGIN"]
    assert c.cmd("AUTH CRAM-MD5") == \
        "-ERR Unsupported authentication mechanism"
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication cancelled"
    assert c.cmd("AUTH PLAIN ====") == "-ERR Invalid base64 data"
    assert c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{pw}")).startswith(
        "+OK Logged in, 2 messages")
    c.cmd("QUIT")

    c = s.connect()
    c.readline_greeting()
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(b64(f"{user}\0{user}\0{pw}")).startswith("+OK Logged in")
    c.cmd("QUIT")

    c = s.connect()
    c.readline_greeting()
    assert c.cmd("auth login") == "+ VXNlcm5hbWU6"
    assert c.cmd(b64(user)) == "+ UGFzc3dvcmQ6"
    assert c.cmd(b64(pw)).startswith("+OK Logged in")
    c.cmd("QUIT")

    c = s.connect()
    c.readline_greeting()
    assert c.cmd("AUTH LOGIN " + b64(user)) == "+ UGFzc3dvcmQ6"
    assert c.cmd(b64(pw)).startswith("+OK Logged in")
    c.cmd("QUIT")
    assert s.wait_log(r"event=login .*method=login")

    # Nobody logs in as somebody else (authzid != authcid), U1.
    c = s.connect()
    c.readline_greeting()
    assert c.cmd("AUTH PLAIN " + b64(f"bob@{DOMAIN}\0{user}\0{pw}")) == \
        "-ERR [AUTH] Authentication failed"
    c.cmd("QUIT")


def test_u2_identical_failures_then_close(pop3_stack):
    s = pop3_stack()
    c = s.connect()
    c.readline_greeting()
    c.cmd(f"USER alice@{DOMAIN}")
    wrong = c.cmd("PASS not-the-password")
    c.cmd(f"USER nobody@{DOMAIN}")
    unknown = c.cmd("PASS not-the-password")
    assert wrong == unknown == "-ERR [AUTH] Authentication failed"
    c.cmd(f"USER alice@{DOMAIN}")
    # The third failure on one connection ends it.
    assert c.cmd("PASS again-wrong") == "-ERR [AUTH] Authentication failed"
    assert c.closed()
    assert s.wait_log(r"level=warning event=auth-failed "
                      r"client=127\.0\.0\.1 tried=nobody@truc\.test "
                      r"method=user reason=wrong failures=2")
    assert s.wait_log(r"reason=auth-failures failures=3")
    assert "not-the-password" not in s.log()


def test_throttling_delays_then_refuses(pop3_stack):
    s = pop3_stack()
    user = f"alice@{DOMAIN}"

    def attempt(password, source=None):
        c = s.connect(source=source, timeout=30)
        c.readline_greeting()
        c.cmd(f"USER {user}")
        t0 = time.monotonic()
        r = c.cmd(f"PASS {password}")
        took = time.monotonic() - t0
        c.close()
        return r, took

    # Growing delays (lower bounds only: the machine may be slow).
    r1, t1 = attempt("wrong")
    r2, t2 = attempt("wrong")
    r3, t3 = attempt("wrong")
    assert r1 == r2 == r3 == "-ERR [AUTH] Authentication failed"
    assert t1 >= 0.2 and t2 >= 0.45 and t3 >= 0.95

    # Seven more at once reach THROTTLE_LIMIT (10).
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        attempt("wrong"))) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r for r, _ in results] == \
        ["-ERR [AUTH] Authentication failed"] * 7

    # Now even the right password is refused, without being checked.
    c = s.connect()
    c.readline_greeting()
    c.cmd(f"USER {user}")
    assert c.cmd(f"PASS {USERS['alice']}") == \
        ("-ERR [LOGIN-DELAY] Too many failed logins from your address, "
         "try again later")
    assert c.closed()
    assert s.wait_log(r"event=login-refused client=127\.0\.0\.1 "
                      r"tried=alice@truc\.test method=user "
                      r"reason=throttled failures=10")
    # Another client address is not affected.
    r, _ = attempt(USERS["alice"], source="127.0.0.2")
    assert r.startswith("+OK Logged in")
