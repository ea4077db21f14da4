#!/usr/bin/python3
"""make demo: one message through the eight steps, narrated.

Fred, at truc.test, writes to Marc, at machin.test. Two complete stacks
run on loopback (truc.test on 127.0.0.2, machin.test on 127.0.0.3), each
with its own config, queue and mailboxes under one temporary folder; a
private dnsmasq on 127.0.0.1 answers their MX records; each host has a
self-signed certificate. The message is submitted as a mail client would
(port 587, STARTTLS, AUTH), crosses from one stack to the other over SMTP,
is stored in Marc's Maildir, and is read back over POP3 and over IMAP.
Each step is narrated with the protocol lines and the log lines of the
programs that did it; the end prints "mailctl trace" for the message on
both hosts.

As root the stacks use the standard ports (25, 587, 110, 143). Otherwise
they use free ports, and since mail between servers always goes to port
25, each stack gets a transport table pointing the other domain at the
other's port (the DNS answer is still shown). DEMO_KEEP=1 leaves both
stacks running to try with a real client; otherwise everything the demo
started is stopped, and it checks that nothing is left behind. Without
dnsmasq (DEMO_DNSMASQ names another binary) the demo routes by transport
tables and says so.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from mailstack import MailStack, free_port, wait_for  # noqa: E402

BUILD = Path(os.environ.get("BUILD", "build"))
BUILD = BUILD if BUILD.is_absolute() else TOP / BUILD
WIDTH = 78
TRUC, MACHIN = "127.0.0.2", "127.0.0.3"
PROGRAMS = ("maild", "smtpd", "inject", "smtpq", "remote", "deliver",
            "pop3d", "imapd", "mailctl")
ROOT = os.geteuid() == 0
# The DNS server for the demo's MX records (DEMO_DNSMASQ names another;
# a missing one makes the demo route by transport tables instead).
DNSMASQ = (os.environ.get("DEMO_DNSMASQ") or shutil.which("dnsmasq") or
           "/usr/sbin/dnsmasq")


# --- printing ---------------------------------------------------------------

def say(text=""):
    """A paragraph, wrapped to the terminal's 80 columns."""
    if not text:
        print()
        return
    for para in text.split("\n"):
        print(textwrap.fill(para, WIDTH) if para else "")


def banner(n, title):
    print()
    print(f"--- Step {n}: {title} ".ljust(WIDTH, "-"))


def line(prefix, text):
    """One protocol or log line, cut to fit."""
    text = text.rstrip("\r\n")
    room = WIDTH - len(prefix)
    print(prefix + (text if len(text) <= room else text[:room - 3] + "..."))


def wrapped(prefix, text):
    """A long line folded at spaces, continuation lines indented."""
    print(textwrap.fill(text.rstrip("\r\n"), WIDTH, initial_indent=prefix,
                        subsequent_indent=" " * (len(prefix) + 4),
                        break_on_hyphens=False) or prefix)


def log_event(stack, label, **want):
    """Wait for a log line with the fields given; print it short."""
    got = wait_for(lambda: stack.log_lines(**want), timeout=60)
    if not got:
        line(f"  [{label}] ", f"(no log line with {want} within 60 s)")
        return None
    text = got[-1]
    show_log_line(label, text)
    return text


def show_log_line(label, text):
    m = re.match(r"\S+ (\w+)\[\d+\]: (.*)", text)
    prog, fields = (m.group(1), m.group(2)) if m else ("?", text)
    wrapped(f"  [{label}] ", f"{prog}: {fields}")


# --- a protocol client that shows every line --------------------------------

class Talk:
    """A line-protocol client that prints C: and S: lines."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.file = self.sock.makefile("rb")
        self.host = host

    def send(self, text, shown=None):
        line("  C: ", shown if shown is not None else text)
        self.sock.sendall(text.encode() + b"\r\n")

    def recv(self, show=True):
        """One line from the server, without its end; None at end of input."""
        raw = self.file.readline(8192).decode("utf-8", "replace")
        if not raw:
            return None
        if show:
            line("  S: ", raw)
        return raw.rstrip("\r\n")

    def smtp_reply(self):
        lines = [self.recv() or "000 (connection closed)"]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.recv() or "000 (connection closed)")
        return int(lines[-1][:3]), lines

    def starttls(self, servername):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE     # the demo's self-signed certs
        self.sock = ctx.wrap_socket(self.sock, server_hostname=servername)
        self.file = self.sock.makefile("rb")
        line("  ", f"(TLS: {self.sock.version()} {self.sock.cipher()[0]})")

    def close(self):
        self.sock.close()


def b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


# --- DNS: one MX query, to show the answer ------------------------------------

def mx_query(server, port, name):
    """Ask server for name's MX records; [(preference, host)]."""
    qid = os.getpid() & 0xffff
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 15, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, (server, port))
        data = s.recv(4096)
    answers = struct.unpack(">H", data[6:8])[0]

    def read_name(pos):
        labels, jumped, end = [], False, pos
        for _ in range(128):
            n = data[pos]
            if n == 0:
                pos += 1
                break
            if n & 0xc0 == 0xc0:
                if not jumped:
                    end = pos + 2
                pos = ((n & 0x3f) << 8) | data[pos + 1]
                jumped = True
                continue
            labels.append(data[pos + 1:pos + 1 + n].decode())
            pos += 1 + n
        return ".".join(labels), (end if jumped else pos)

    _, pos = read_name(12)
    pos += 4
    out = []
    for _ in range(answers):
        _, pos = read_name(pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 15:
            pref = struct.unpack(">H", data[pos:pos + 2])[0]
            host, _ = read_name(pos + 2)
            out.append((pref, host))
        pos += rdlen
    return out


class Dnsmasq:
    def __init__(self, folder, records):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
             "--no-daemon", "--listen-address=127.0.0.1",
             "--bind-interfaces", f"--port={self.port}",
             f"--pid-file={folder}/dnsmasq.pid", "--log-facility=-",
             *(["--user=root"] if ROOT else []), *records],
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "dnsmasq.log", "w"))
        ok = wait_for(lambda: self.answers(), timeout=10)
        if not ok:
            self.stop()
            raise RuntimeError("dnsmasq did not start")

    def answers(self):
        try:
            return bool(mx_query("127.0.0.1", self.port, "truc.test"))
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the two stacks ------------------------------------------------------------

class Host(MailStack):
    """A stack on its own loopback address, standard ports when root."""

    def __init__(self, folder, hostname, domain, address, extra):
        listeners = ("smtp", "submission", "pop3", "imap")
        super().__init__(folder, BUILD, hostname=hostname, domains=(domain,),
                         listeners=listeners, tls=None, host=address)
        if ROOT:
            self.port = {"smtp": 25, "submission": 587, "pop3": 110,
                         "imap": 143}
        else:
            self.port = {name: free_port(address) for name in listeners}
        tls = folder / "tls"
        subprocess.run([str(TOP / "etc/make-snakeoil"), str(tls), hostname],
                       check=True, capture_output=True)

        class Cert:
            cert, key = tls / "cert.pem", tls / "key.pem"
        self.tls = Cert
        self.write_config(extra)


def check_programs():
    missing = [p for p in PROGRAMS if not os.access(BUILD / "bin" / p, os.X_OK)]
    if missing:
        say(f"make demo: these programs are not built: {' '.join(missing)}")
        sys.exit(1)


def leftovers(work):
    """Processes still running whose command line names the demo's folder
    (every program the demo started has it in its arguments)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(work).encode() in argv:
            out.append((int(pid), argv.split(b"\0")[0].decode()))
    return out


def main():
    check_programs()
    work = Path(tempfile.mkdtemp(prefix="mailstack-demo."))
    keep = os.environ.get("DEMO_KEEP") == "1"
    started = []        # dnsmasq and the stacks, stopped even on error
    finished = False
    try:
        run(work, started)
        finished = True
    finally:
        if not (keep and finished):
            for thing in reversed(started):
                try:
                    thing.stop()
                except Exception as e:  # report it, stop the rest
                    print(f"stopping {thing}: {e}", file=sys.stderr)
    if keep and finished:
        hosts = [t for t in started if isinstance(t, Host)]
        others = [t for t in started if not isinstance(t, Host)]
        print()
        say("The two stacks are still running (DEMO_KEEP=1). To try a real "
            "client such as Thunderbird, add an account for "
            "marc@machin.test, password marc-secret: IMAP server "
            f"{MACHIN} port {hosts[1].port['imap']} with STARTTLS, SMTP "
            f"server {MACHIN} port {hosts[1].port['submission']} with "
            "STARTTLS and normal password, and accept the self-signed "
            "certificate. To stop everything:")
        pids = " ".join(str(t.proc.pid) for t in hosts + others)
        print(f"  kill {pids}; rm -rf {work}")
        return 0
    left = wait_for(lambda: not leftovers(work), timeout=10) or \
        leftovers(work)
    if left is True:
        left = []
    print()
    if left:
        say(f"Left behind (a bug): {left}")
        return 1
    say("Everything the demo started has stopped, and its files are gone. "
        "To try the stacks with a real client, run DEMO_KEEP=1 make demo: "
        "they stay up, and in Thunderbird an account for marc@machin.test "
        "(password marc-secret) uses IMAP on mx.machin.test "
        f"({MACHIN}) port 143 with STARTTLS and SMTP on port 587 with "
        "STARTTLS and a normal password (ports differ when not root: the "
        "demo prints them), accepting the self-signed certificate.")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def run(work, started):
    say("Fred, at truc.test, writes to Marc, at machin.test. Two complete "
        "mail systems run on this machine's loopback: truc.test on "
        f"{TRUC} and machin.test on {MACHIN}, each started by one command "
        "(maild), each with its own queue and mailboxes under "
        f"{work}.")
    common = ("queue_retry_min = 2s\nqueue_retry_max = 10s\n"
              "allow_plaintext_auth = no\n")
    dns = None
    if os.access(DNSMASQ, os.X_OK):
        dns = Dnsmasq(work, [
            "--mx-host=truc.test,mx.truc.test,10",
            f"--host-record=mx.truc.test,{TRUC}",
            "--mx-host=machin.test,mx.machin.test,10",
            f"--host-record=mx.machin.test,{MACHIN}",
        ])
        started.append(dns)
        common += f"dns_servers = 127.0.0.1:{dns.port}\n"
    else:
        say("(dnsmasq is not installed, so there is no DNS server for the "
            "demo's domains: each stack gets a transport table naming the "
            "other's address instead of an MX lookup. Debian's "
            "dnsmasq-base package brings the real thing.)")
    (work / "truc").mkdir()
    (work / "machin").mkdir()
    truc = Host(work / "truc", "mx.truc.test", "truc.test", TRUC, common)
    machin = Host(work / "machin", "mx.machin.test", "machin.test", MACHIN,
                  common)
    hosts = [truc, machin]
    if not ROOT or dns is None:
        # Mail between servers goes to port 25, which needs root, and its
        # MX needs the DNS server: route each domain to the other stack.
        for h, other, domain in ((truc, machin, "machin.test"),
                                 (machin, truc, "truc.test")):
            (h.tmp / "transport").write_text(
                f"{domain} {other.host}:{other.port['smtp']}\n")
            h.write_config(common + f"transport = {h.tmp}/transport\n")
    truc.add_user("fred@truc.test", "fred-secret")
    machin.add_user("marc@machin.test", "marc-secret")
    truc.start()
    started.append(truc)
    machin.start()
    started.append(machin)
    say()
    say(f"mx.truc.test    {TRUC}   smtp {truc.port['smtp']}, submission "
        f"{truc.port['submission']}")
    say(f"mx.machin.test  {MACHIN}   smtp {machin.port['smtp']}, pop3 "
        f"{machin.port['pop3']}, imap {machin.port['imap']}")

    msgid = f"<demo.{int(time.time())}.{os.getpid()}@truc.test>"
    body = ("Hello Marc,\n\nthis message crossed two mail servers to reach "
            "you.\n\nFred\n")
    headers = (f"From: Fred <fred@truc.test>\nTo: Marc <marc@machin.test>\n"
               f"Subject: Hello from truc.test\nMessage-ID: {msgid}\n"
               f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n")

    banner(1, "Fred writes the message (his mail client, the MUA)")
    for h in (headers + "\n" + body).splitlines():
        line("  | ", h)

    banner(2, "his client hands it to his own server (submission)")
    say(f"The client connects to mx.truc.test port {truc.port['submission']}"
        ", switches to TLS, logs in, and sends the message:")
    t = Talk(TRUC, truc.port["submission"])
    t.smtp_reply()
    t.send("EHLO fred-laptop")
    t.smtp_reply()
    t.send("STARTTLS")
    t.smtp_reply()
    t.starttls("mx.truc.test")
    t.send("EHLO fred-laptop")
    t.smtp_reply()
    t.send("AUTH PLAIN " + b64("\0fred@truc.test\0fred-secret"),
           shown="AUTH PLAIN (Fred's name and password, base64)")
    t.smtp_reply()
    t.send("MAIL FROM:<fred@truc.test>")
    t.smtp_reply()
    t.send("RCPT TO:<marc@machin.test>")
    t.smtp_reply()
    t.send("DATA")
    t.smtp_reply()
    text = (headers + "\n" + body).replace("\n", "\r\n")
    line("  C: ", f"(the message: {len(text)} octets)")
    t.sock.sendall(text.encode())
    t.send(".")
    code, reply = t.smtp_reply()
    t.send("QUIT")
    t.smtp_reply()
    t.close()
    m = re.search(r"queued as (\S+)", reply[-1])
    qid_truc = m.group(1) if m else "?"
    say("smtpd handed the message to inject, which wrote it into the queue "
        "and made it durable before smtpd said 250:")
    log_event(truc, "truc", step=2, qid=qid_truc, status="queued")

    banner(3, "truc.test's server sends it to machin.test's (SMTP)")
    say("The queue manager (smtpq) gives it to remote, which looks up "
        "where machin.test's mail goes. The DNS answer:")
    if dns is not None:
        for pref, host in mx_query("127.0.0.1", dns.port, "machin.test"):
            line("  ", f"machin.test.  MX  {pref} {host}.   ({host} is "
                 f"{MACHIN})")
    else:
        line("  ", f"(no DNS here: the transport table says {MACHIN})")
    if not ROOT and dns is not None:
        say("(Not root, so port 25 is out of reach: a transport table sends "
            f"machin.test's mail to {MACHIN} port {machin.port['smtp']}.)")
    log_event(truc, "truc", step=3, qid=qid_truc, relay="remote",
              status="sent")
    say("remote's own account: the route it chose, the connection, TLS, "
        "and what the other server answered:")
    for text in truc.log_lines(step=3, qid=qid_truc)[:12]:
        if " remote[" in text:
            show_log_line("truc", text)
    say("On machin.test, smtpd receives it from mx.truc.test and queues it:")
    qline = log_event(machin, "machin", step=3, status="queued",
                      msgid=msgid)
    m = re.search(r"qid=(\S+)", qline or "")
    qid_machin = m.group(1) if m else "?"

    banner(4, "machin.test's server hands it to the delivery agent")
    log_event(machin, "machin", step=4, qid=qid_machin, relay="deliver")

    banner(5, "the delivery agent stores it in Marc's mailbox")
    log_event(machin, "machin", step=5, qid=qid_machin)
    files = machin.wait_for_messages("marc@machin.test", 1, timeout=60)
    say("A new file in Marc's Maildir (tmp/, then fsync, then new/):")
    line("  ", str(files[0].relative_to(work)))
    for h in files[0].read_text(errors="replace").splitlines()[:4]:
        line("  | ", h)
    line("  | ", "...")

    banner("6-7", "the access agents take it out and send it to Marc")
    say(f"POP3 (pop3d, port {machin.port['pop3']}): Marc's client logs in "
        "over TLS and lists and fetches his mail:")
    p = Talk(MACHIN, machin.port["pop3"])
    p.recv()
    p.send("STLS")
    p.recv()
    p.starttls("mx.machin.test")
    p.send("USER marc@machin.test")
    p.recv()
    p.send("PASS marc-secret", shown="PASS (Marc's password)")
    p.recv()
    p.send("STAT")
    p.recv()
    p.send("RETR 1")
    first = p.recv()
    shown = 0
    for _ in range(500):
        if not first.startswith("+OK"):
            break
        got = p.recv(show=False)
        if got is None:
            break
        if got == ".":
            line("  S: ", ".")
            break
        if got.lower().startswith(("from:", "subject:", "received:")) \
                and shown < 4:
            line("  S: ", got)
            shown += 1
        elif shown == 4:
            line("  S: ", "(... the rest of the message ...)")
            shown += 1
    p.send("QUIT")
    p.recv()
    p.close()
    say(f"IMAP (imapd, port {machin.port['imap']}): the same message, as "
        "Thunderbird or a phone would see it:")
    i = Talk(MACHIN, machin.port["imap"])
    i.recv()
    i.send("a STARTTLS")
    i.recv()
    i.starttls("mx.machin.test")
    i.send("b LOGIN marc@machin.test marc-secret",
           shown="b LOGIN marc@machin.test (password)")
    imap_wait(i, "b")
    i.send("c SELECT INBOX")
    imap_wait(i, "c")
    i.send("d FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
    imap_wait(i, "d")
    i.send("e LOGOUT")
    imap_wait(i, "e")
    i.close()
    log_event(machin, "machin", step=6, user="marc@machin.test")
    log_event(machin, "machin", step=7, user="marc@machin.test")

    banner(8, "Marc reads it")
    for h in body.splitlines():
        line("  | ", h)

    print()
    print("--- mailctl trace, on each host ".ljust(WIDTH, "-"))
    for h, name in ((truc, "truc.test"), (machin, "machin.test")):
        say(f"On {name}: mailctl -c {h.conf.relative_to(work.parent)} "
            f"trace '{msgid}'")
        r = h.mailctl("trace", msgid, check=False)
        for out in r.stdout.splitlines():
            wrapped("  ", out)


def imap_wait(talk, tag):
    """Print replies until the tagged one (bounded)."""
    for _ in range(100):
        got = talk.recv()
        if got is None or got.startswith(tag + " "):
            return got or ""
    return ""


if __name__ == "__main__":
    sys.exit(main())
