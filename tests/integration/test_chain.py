"""The whole chain, two domains (issue 10): what users of truc.test and
machin.test notice when mail crosses both servers.

    truc.test    mx.truc.test    127.X.Y.2:25  (+ submission, POP3, IMAP)
    machin.test  mx.machin.test  127.X.Y.3:25  (+ submission, POP3, IMAP)

The stacks, the MX records (dnsmasq) and the loopback network are those of
test_remote_stacks (its `dns` fixture and Stack25); both stacks live for
the whole module, so each test uses its own users or its own Subject.
One CA signs a certificate naming both hosts and both addresses, so the
real clients (swaks, mutt, fetchmail, mbsync, curl) can check it.

The bounce test here goes further than test_remote_stacks'
test_mail_to_an_unknown_user_bounces_back: it parses the DSN
(multipart/report, Status 5.1.1, the original header returned).

Needs root (port 25) and dnsmasq, like test_remote_stacks; a test whose
client is not installed is skipped, naming the Debian package.
"""
import email
import email.policy
import hashlib
import os
import pwd
import re
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from mailstack import wait_for
from test_remote_fixture import (NEED_DNSMASQ, NEED_ROOT, TIMEOUTS,
                                 make_ca_and_cert)
from test_remote_stacks import MACHIN, TRUC, Stack25, dns  # noqa: F401

pytestmark = [NEED_DNSMASQ, NEED_ROOT]

PW = {
    "fred@truc.test": "fred-secret",
    "alice@truc.test": "alice-secret",
    "marc@machin.test": "marc-secret",
    "jules@machin.test": "jules-secret",
    "big@machin.test": "big-secret",
    "paul@machin.test": "paul-secret",
    "mutt@machin.test": "mutt-secret",
}
UTF8_USER = "andré@machin.test"
LISTENERS = ("smtp", "submission", "pop3", "imap")


def need(program, package):
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package {package})")
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """(ca, cert, key): one certificate for both hosts and addresses."""
    return make_ca_and_cert(tmp_path_factory.mktemp("pki"),
                            ["mx.truc.test", "mx.machin.test", TRUC, MACHIN])


class Tls:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key


def make_stack(tmp, build_dir, pki, dns, hostname, domain, host):
    _, cert, key = pki
    s = Stack25(tmp, build_dir, hostname=hostname, domains=(domain,),
                listeners=LISTENERS, tls=Tls(cert, key), host=host,
                extra=f"dns_servers = 127.0.0.1:{dns.port}\n"
                "queue_retry_min = 1s\nqueue_retry_max = 2s\n"
                "message_size_limit = 40M\nallow_plaintext_auth = yes\n"
                + TIMEOUTS)
    for addr, pw in PW.items():
        if addr.endswith("@" + domain):
            s.add_user(addr, pw)
    return s


@pytest.fixture(scope="module")
def truc(tmp_path_factory, build_dir, pki, dns):  # noqa: F811
    s = make_stack(tmp_path_factory.mktemp("truc"), build_dir, pki, dns,
                   "mx.truc.test", "truc.test", TRUC)
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def machin(tmp_path_factory, build_dir, pki, dns):  # noqa: F811
    s = make_stack(tmp_path_factory.mktemp("machin"), build_dir, pki, dns,
                   "mx.machin.test", "machin.test", MACHIN)
    # May be refused: test_smtputf8_address says what happens then.
    s.utf8_user = s.mailctl("user", "add", UTF8_USER,
                            stdin="andre-secret\n", check=False)
    s.start()
    yield s
    s.stop()


# --- helpers -----------------------------------------------------------------

def client_ctx(pki):
    return ssl.create_default_context(cafile=str(pki[0]))


def submit(stack, pki, user, data, rcpts, sender=None, mail_options=()):
    """Submission (STARTTLS, AUTH) of raw message bytes, as an MUA."""
    with smtplib.SMTP(stack.host, stack.port["submission"], timeout=60) as c:
        c.ehlo("laptop")
        c.starttls(context=client_ctx(pki))
        c.ehlo("laptop")
        c.login(user, PW.get(user, "andre-secret"))
        crlf = re.sub(rb"\r?\n", b"\r\n", data)
        refused = c.sendmail(sender or user, rcpts, crlf,
                             mail_options=list(mail_options))
    assert refused == {}


def message(sender, to, subject, body="Hello.\n", extra=""):
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
            f"Date: Mon, 23 Nov 2026 12:00:00 +0000\n"
            f"Message-ID: <{subject.replace(' ', '-')}@chain.test>\n"
            f"{extra}\n{body}").encode()


def with_subject(stack, addr, subject):
    """The stored files of addr whose Subject is subject."""
    out = []
    for f in stack.messages(addr):
        m = email.message_from_bytes(f.read_bytes(),
                                     policy=email.policy.default)
        if m["Subject"] == subject:
            out.append(f)
    return out


def wait_subject(stack, addr, subject, n=1, timeout=60):
    got = wait_for(lambda: len(with_subject(stack, addr, subject)) >= n,
                   timeout=timeout, step=0.1)
    files = with_subject(stack, addr, subject)
    assert got, (f"{addr}: no {subject!r}\n--- log:\n"
                 f"{stack.log_text()[-4000:]}")
    return files


TRACE = re.compile(rb"(?i)(return-path|delivered-to|received):")


def strip_trace(data):
    """data (LF line ends) without the trace fields at its top."""
    data = re.sub(rb"\r\n", b"\n", data)
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and TRACE.match(lines[i]):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def lf(data):
    return re.sub(rb"\r\n", b"\n", data)


# --- 1. a reply from Marc back to Fred ----------------------------------------

def test_marc_replies_to_fred(truc, machin, pki):
    submit(truc, pki, "fred@truc.test",
           message("fred@truc.test", "marc@machin.test", "lunch",
                   "Lunch on Friday?\n"), ["marc@machin.test"])
    (f,) = wait_subject(machin, "marc@machin.test", "lunch")
    orig = email.message_from_bytes(f.read_bytes(),
                                    policy=email.policy.default)
    mid = orig["Message-ID"]
    assert mid == "<lunch@chain.test>"
    reply = message("marc@machin.test", orig["From"], "Re: lunch",
                    "> Lunch on Friday?\nYes!\n",
                    extra=f"In-Reply-To: {mid}\nReferences: {mid}\n")
    submit(machin, pki, "marc@machin.test", reply, ["fred@truc.test"])
    (r,) = wait_subject(truc, "fred@truc.test", "Re: lunch")
    m = email.message_from_bytes(r.read_bytes(), policy=email.policy.default)
    assert m["In-Reply-To"] == mid and m["References"] == mid
    assert m["From"] == "marc@machin.test"
    assert m["Return-Path"] == "<marc@machin.test>"
    assert "by mx.truc.test" in " ".join(m["Received"].split())
    assert m.get_content() == "> Lunch on Friday?\nYes!\n"
    assert strip_trace(r.read_bytes()) == reply


# --- 2. three recipients on two domains ------------------------------------

def test_three_recipients_two_domains_one_copy_each(truc, machin, pki):
    rcpts = ["marc@machin.test", "jules@machin.test", "alice@truc.test"]
    data = message("fred@truc.test", ", ".join(rcpts), "to three",
                   "One message, three readers.\n")
    submit(truc, pki, "fred@truc.test", data, rcpts)
    for stack, addr in ((machin, rcpts[0]), (machin, rcpts[1]),
                        (truc, rcpts[2])):
        wait_subject(stack, addr, "to three")
    # Both queues are done with the message (every recipient settled,
    # the job removed): no second copy can still be on its way.
    qids = {}
    for stack in (truc, machin):
        def jobs(stack=stack):
            return re.findall(r"qid=(\S+) step=\d status=queued .*"
                              r"msgid=<to-three@chain\.test>",
                              stack.log_text())
        qids[stack.hostname] = wait_for(jobs, timeout=10)
        for qid in qids[stack.hostname]:
            assert wait_for(lambda: stack.log_lines(qid=qid,
                                                    status="removed"),
                            timeout=20), stack.log_text()[-3000:]
    # One job at truc; one SMTP transaction (one job) at machin for both
    # of its recipients.
    assert len(qids["mx.truc.test"]) == 1, qids
    assert len(qids["mx.machin.test"]) == 1, qids
    for stack, addr in ((machin, rcpts[0]), (machin, rcpts[1]),
                        (truc, rcpts[2])):
        files = with_subject(stack, addr, "to three")
        assert len(files) == 1, (addr, files)
        assert strip_trace(files[0].read_bytes()) == data
        m = email.message_from_bytes(files[0].read_bytes())
        assert m["Delivered-To"] == addr
    assert with_subject(truc, "fred@truc.test", "to three") == []


# --- 3. an unknown recipient far away: a bounce in Fred's INBOX ----------------

def test_unknown_far_recipient_bounces_to_fred(truc, machin, pki):
    data = message("fred@truc.test", "nobody@machin.test", "to nobody",
                   "Is anybody there?\n", extra="X-Probe: original-header\n")
    submit(truc, pki, "fred@truc.test", data, ["nobody@machin.test"])

    def bounces():
        out = []
        for f in truc.messages("fred@truc.test"):
            m = email.message_from_bytes(f.read_bytes(),
                                         policy=email.policy.default)
            if m.get_content_type() == "multipart/report" and \
                    b"<to-nobody@chain.test>" in f.read_bytes():
                out.append(m)
        return out

    assert wait_for(bounces, timeout=60, step=0.1), truc.log_text()[-4000:]
    (b,) = bounces()
    assert b.get_param("report-type") == "delivery-status"
    assert b["Return-Path"] in ("<>", None)
    assert b["To"] and "fred@truc.test" in b["To"]
    parts = list(b.iter_parts())
    assert len(parts) >= 2
    assert parts[0].get_content_maintype() == "text"
    assert "nobody@machin.test" in parts[0].get_content()
    status = parts[1]
    assert status.get_content_type() == "message/delivery-status"
    # Per-recipient fields: the second block of the delivery-status part.
    text = status.as_string()
    assert re.search(r"(?mi)^Final-Recipient:\s*rfc822;\s*nobody@machin\.test",
                     text), text
    assert re.search(r"(?mi)^Action:\s*failed", text), text
    assert re.search(r"(?mi)^Status:\s*5\.1\.1", text), text
    # The far end's own reply, and who gave it.
    diag = re.search(r"(?mi)^Diagnostic-Code:(.*(?:\n[ \t].*)*)", text)
    assert diag, text
    diag = " ".join(diag.group(1).split())
    assert diag.startswith("smtp;") and "550 5.1.1" in diag, diag
    assert re.search(r"(?mi)^Remote-MTA:\s*dns;\s*mx\.machin\.test", text), \
        text
    # The original (its header at least) comes back.
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    orig = parts[2]
    assert orig.get_content_type() in ("message/rfc822",
                                       "text/rfc822-headers")
    otext = orig.as_string()
    assert "X-Probe: original-header" in otext
    assert "Message-ID: <to-nobody@chain.test>" in otext
    assert "Subject: to nobody" in otext
    assert machin.messages("nobody@machin.test") == []


# --- 4. a 20 MB attachment ---------------------------------------------------------

def test_twenty_megabyte_attachment_crosses_intact(truc, machin, pki):
    blob = os.urandom(20 * 1024 * 1024)
    m = email.message.EmailMessage()
    m["From"] = "fred@truc.test"
    m["To"] = "big@machin.test"
    m["Subject"] = "big attachment"
    m["Message-ID"] = "<big@chain.test>"
    m["Date"] = "Mon, 23 Nov 2026 12:00:00 +0000"
    m.set_content("The file is attached.\n")
    m.add_attachment(blob, maintype="application", subtype="octet-stream",
                     filename="blob.bin")
    data = m.as_bytes(policy=email.policy.SMTP)
    assert len(data) > 27_000_000
    t0 = time.monotonic()
    submit(truc, pki, "fred@truc.test", data, ["big@machin.test"])
    (f,) = wait_subject(machin, "big@machin.test", "big attachment",
                        timeout=60)
    got = email.message_from_bytes(f.read_bytes(),
                                   policy=email.policy.default)
    (att,) = list(got.iter_attachments())
    assert att.get_filename() == "blob.bin"
    payload = att.get_content()
    assert len(payload) == len(blob)
    assert hashlib.sha256(payload).hexdigest() == \
        hashlib.sha256(blob).hexdigest()
    assert strip_trace(f.read_bytes()) == lf(data)
    assert time.monotonic() - t0 < 30


# --- 5. 8-bit and UTF-8 ------------------------------------------------------------

UTF8_BODY = "Crème brûlée, señor Müller — ça marche. 日本語 ✓\n"


def test_utf8_8bit_body_crosses(truc, machin, pki):
    data = (b"From: fred@truc.test\nTo: marc@machin.test\n"
            b"Subject: =?utf-8?q?cr=C3=A8me?=\nMIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=utf-8\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"Message-ID: <utf8-body@chain.test>\n"
            b"Date: Mon, 23 Nov 2026 12:00:00 +0000\n\n" +
            UTF8_BODY.encode())
    submit(truc, pki, "fred@truc.test", data, ["marc@machin.test"],
           mail_options=["BODY=8BITMIME"])
    (f,) = wait_subject(machin, "marc@machin.test", "crème")
    raw = f.read_bytes()
    assert strip_trace(raw) == data        # no downgrade to QP/base64
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m.get_content() == UTF8_BODY


def test_smtputf8_address(truc, machin, pki):
    if machin.utf8_user.returncode != 0:
        pytest.fail("mailctl user add refused a UTF-8 local part: " +
                    machin.utf8_user.stdout + machin.utf8_user.stderr)
    data = ("From: Frédéric <fred@truc.test>\nTo: André <andré@machin.test>\n"
            "Subject: très international\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "Message-ID: <smtputf8@chain.test>\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\n\n"
            "Salut André !\n").encode()
    submit(truc, pki, "fred@truc.test", data, [UTF8_USER],
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (f,) = wait_subject(machin, UTF8_USER, "très international")
    raw = f.read_bytes()
    assert strip_trace(raw) == data
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m["Delivered-To"] == UTF8_USER
    # machin took the UTF-8 RCPT, so truc's remote relayed it with
    # SMTPUTF8 (below: without it, the address is refused).
    # (The log keeps UTF-8 as it is.)
    assert wait_for(lambda: 'to="<andr\u00e9@machin.test>" status=sent'
                    in truc.log_text(), timeout=10), truc.log_text()[-3000:]
    # Without SMTPUTF8 a UTF-8 address is refused (553 5.6.7).
    with smtplib.SMTP(machin.host, 25, timeout=30) as c:
        c.ehlo("mx.truc.test")
        c.mail("fred@truc.test")
        c.command_encoding = "utf-8"
        code, reply = c.rcpt(UTF8_USER)
    assert code == 553 and b"5.6.7" in reply, (code, reply)


# --- 6. sendmail -t on truc ---------------------------------------------------------

def test_sendmail_t_on_truc_reaches_machin(truc, machin):
    data = (b"From: fred@truc.test\nTo: marc@machin.test\n"
            b"Subject: from the shell\n\nSent with sendmail -t.\n")
    r = subprocess.run([str(truc.program("sendmail")), "-C", str(truc.conf),
                        "-t", "-i"], input=data, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    (f,) = wait_subject(machin, "marc@machin.test", "from the shell")
    m = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
    assert m.get_content() == "Sent with sendmail -t.\n"
    assert m["Message-ID"] and m["Date"]     # added by sendmail
    # Without -f the envelope sender is the user who ran sendmail.
    login = pwd.getpwuid(os.getuid()).pw_name
    assert m["Return-Path"] == f"<{login}@truc.test>"
    received = [" ".join(x.split()) for x in m.get_all("Received")]
    assert any("mailstack sendmail" in x for x in received), received
    assert any("by mx.machin.test" in x for x in received), received


# --- 7. real clients across the chain ---------------------------------------------

def swaks_send(truc, pki, to, data, tmp_path):
    swaks = need("swaks", "swaks")
    f = tmp_path / "swaks.eml"
    # swaks sends the file, then CR LF . CR LF: the file's last line end
    # would become an extra empty line.
    f.write_bytes(data[:-1] if data.endswith(b"\n") else data)
    r = subprocess.run(
        [swaks, "--server", f"{truc.host}:{truc.port['submission']}",
         "--tls", "--tls-verify", "--tls-ca-path", str(pki[0]),
         "--auth", "PLAIN", "--auth-user", "fred@truc.test",
         "--auth-password", PW["fred@truc.test"], "--ehlo", "laptop",
         "--from", "fred@truc.test", "--to", to, "--data", str(f),
         "--timeout", "30"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 " in r.stdout and "250 " in r.stdout


def fetchmail_get(machin, user, work):
    need("fetchmail", "fetchmail")
    work.mkdir()
    (work / "out").mkdir()
    (work / "mda.py").write_text(
        "import os, sys\nd = sys.argv[1]\ndata = sys.stdin.buffer.read()\n"
        "open(os.path.join(d, 'msg.%03d' % len(os.listdir(d))), 'wb')"
        ".write(data)\n")
    rc = work / "fetchmailrc"
    rc.write_text(
        f"set no syslog\nset invisible\nset idfile \"{work}/idfile\"\n"
        f"poll {machin.host} service {machin.port['pop3']} proto pop3 uidl\n"
        f"  user \"{user}\" there with password \"{PW[user]}\" "
        f"is \"root\" here\n"
        f"  options keep sslproto '' no rewrite "
        f"mda \"python3 {work}/mda.py {work}/out\"\n")
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc)], capture_output=True,
                       text=True, timeout=60,
                       env=dict(os.environ, HOME=str(work)))
    assert r.returncode == 0, r.stdout + r.stderr
    return [(work / "out" / n).read_bytes()
            for n in sorted(os.listdir(work / "out"))]


def mbsync_get(machin, pki, user, work):
    # mbsync matches the host name against DNS names only, and
    # mx.machin.test is not in the system's resolver: it is given the
    # server's certificate itself, which it trusts as it is.
    mbsync = need("mbsync", "isync")
    work.mkdir()
    local = work / "mail"
    local.mkdir()
    rc = work / "mbsyncrc"
    rc.write_text(f"""\
IMAPAccount far
Host {machin.host}
Port {machin.port["imap"]}
User {user}
Pass {PW[user]}
SSLType STARTTLS
CertificateFile {pki[1]}

IMAPStore far
Account far

MaildirStore near
Path {local}/
Inbox {local}/INBOX

Channel sync
Far :far:
Near :near:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    r = subprocess.run([mbsync, "-c", str(rc), "-a"], capture_output=True,
                       timeout=60, env=dict(os.environ, HOME=str(work)))
    assert r.returncode == 0, r.stdout + r.stderr
    out = []
    for sub in ("new", "cur"):
        for f in sorted((local / "INBOX" / sub).iterdir()):
            out.append(re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"",
                              f.read_bytes(), count=1))
    return out


def curl_get(machin, pki, user, url):
    curl = need("curl", "curl")
    r = subprocess.run([curl, "-sS", "--max-time", "30", "--ssl-reqd",
                        "--cacert", str(pki[0]), "-u", f"{user}:{PW[user]}",
                        url], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def test_swaks_then_fetchmail_mbsync_curl(truc, machin, pki, tmp_path):
    user = "paul@machin.test"
    data = ("From: Fred <fred@truc.test>\nTo: Paul <paul@machin.test>\n"
            "Subject: through swaks\nDate: Mon, 23 Nov 2026 12:00:00 +0000\n"
            "Message-ID: <swaks@chain.test>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "Line one.\n.\n..two dots\n.leading dot\n\n"
            "Grüße aus truc.test\n" + "x" * 900 + "\nlast line\n").encode()
    swaks_send(truc, pki, user, data, tmp_path)
    (f,) = wait_subject(machin, user, "through swaks")
    stored = f.read_bytes()
    assert strip_trace(stored) == data

    base_pop = f"pop3://{machin.host}:{machin.port['pop3']}"
    base_imap = f"imap://{machin.host}:{machin.port['imap']}/INBOX"
    got = {
        "fetchmail": fetchmail_get(machin, user, tmp_path / "fetchmail"),
        "mbsync": mbsync_get(machin, pki, user, tmp_path / "mbsync"),
        "curl-pop3": [curl_get(machin, pki, user, base_pop + "/1")],
        "curl-imap": [curl_get(machin, pki, user, base_imap + ";UID=1")],
    }
    for client, msgs in got.items():
        assert len(msgs) == 1, (client, msgs)
        m = lf(msgs[0])
        # Everything after the trace fields is what swaks sent; and the
        # clients get exactly the stored file (fetchmail is "invisible":
        # it adds no Received line of its own).
        assert strip_trace(m) == data, (client, m[:1000])
        assert m == stored, client


def test_mutt_submission_then_curl_imap(truc, machin, pki, tmp_path):
    mutt = need("mutt", "mutt")
    user = "mutt@machin.test"
    work = tmp_path / "mutt"
    work.mkdir()
    rc = work / "muttrc"
    rc.write_text(
        f"set from=\"fred@truc.test\"\nset realname=\"Fred\"\n"
        f"set smtp_url=\"smtp://fred%40truc.test@{truc.host}:"
        f"{truc.port['submission']}/\"\n"
        f"set smtp_pass=\"{PW['fred@truc.test']}\"\n"
        "set ssl_starttls=yes\nset ssl_force_tls=yes\n"
        f"set certificate_file=\"{pki[0]}\"\nset ssl_verify_host=no\n"
        "set record=\"\"\nset copy=no\nset charset=utf-8\n"
        "set send_charset=utf-8\nset use_from=yes\n"
        "set hostname=truc.test\nset timeout=5\n")
    body = "Written in mutt.\nSecond line, é.\n"
    r = subprocess.run([mutt, "-n", "-F", str(rc), "-s", "from mutt",
                        user], input=body.encode(), capture_output=True,
                       timeout=60, env=dict(os.environ, HOME=str(work),
                                            TERM="dumb"))
    assert r.returncode == 0, r.stdout + r.stderr
    (f,) = wait_subject(machin, user, "from mutt")
    stored = f.read_bytes()
    m = email.message_from_bytes(stored, policy=email.policy.default)
    assert m["From"].addresses[0].addr_spec == "fred@truc.test"
    assert m["To"] == user
    assert m.get_content() == body
    assert m["Return-Path"] == "<fred@truc.test>"
    # fred authenticated at truc: its Received line says so.
    received = [" ".join(x.split()) for x in m.get_all("Received")]
    assert any("by mx.truc.test" in x and "with ESMTPSA (TLS" in x and
               "fred@truc.test" in x for x in received), received
    got = curl_get(machin, pki, user,
                   f"imap://{machin.host}:{machin.port['imap']}/INBOX;UID=1")
    assert lf(got) == stored
