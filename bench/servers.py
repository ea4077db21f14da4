"""Private server instances for the benchmarks: ours, Postfix, Dovecot.

Every instance lives in one temporary folder, listens on 127.0.0.1 and
free ports, and is stopped by stop() (which is safe to call twice and
after a failed start). Nothing here touches the system's own Postfix or
Dovecot configuration, and no system service is started.

    Ours(base, build, users)     maild -c CONF -f (tests/integration/
                                 mailstack.py), privilege_separation = no
    Postfix(base, users)         postfix -c DIR start; virtual(8) delivery
                                 to Maildir under DIR/mail/DOMAIN/USER/
    Dovecot(base, users)         dovecot -F -c CONF; IMAP and POP3, homes
                                 DIR/dmail/USER (maildir:~)

Each has maildir(user) (the folder the server reads or writes for that
user), pids() (the server's processes: the root process and all its
descendants) and the ports it listens on.
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "integration"))
from mailstack import MAIL_GID, MAIL_UID, MailStack, free_port  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "bench-pw"
IS_ROOT = os.geteuid() == 0
POSTFIX = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"


def mail_ids():
    """The uid and gid that own mailboxes: nobody as root, else us."""
    if IS_ROOT:
        return MAIL_UID, MAIL_GID
    return os.geteuid(), os.getegid()


def chown_tree(path):
    """Give a mailbox tree to the mailbox owner (root only)."""
    if not IS_ROOT:
        return
    uid, gid = mail_ids()
    for dirpath, dirs, files in os.walk(path):
        os.lchown(dirpath, uid, gid)
        for n in files:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def make_maildir(path):
    for sub in ("cur", "new", "tmp"):
        (Path(path) / sub).mkdir(parents=True, exist_ok=True)
    chown_tree(path)


def descendants(root):
    """root and every process below it (from /proc, one pass)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def pss_kb(pids):
    """Sum of Pss (kB) over pids' smaps_rollup; gone processes count 0."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def wait_port(port, timeout=20.0, host="127.0.0.1"):
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Ours:
    """Our stack: maild with smtpd, the queue, deliver, pop3d, imapd."""
    name = "ours"

    def __init__(self, base, build, users):
        self.base = Path(base) / "ours"
        self.base.mkdir(parents=True)
        extra = ("allow_plaintext_auth = yes\n"
                 "max_sessions = 5000\n"
                 "max_sessions_per_ip = 5000\n"
                 "max_connection_rate = 0\n"
                 "imap_max_sessions_per_user_ip = 1000\n"
                 "smtpd_max_recipients = 1000\n")
        self.stack = MailStack(self.base, build, hostname="mx." + DOMAIN,
                               domains=(DOMAIN,),
                               listeners=("smtp", "pop3", "imap"),
                               extra=extra)
        # The build tree has no set-uid programs: no privilege separation
        # (newer mailstack.py writes this line itself).
        if "privilege_separation" not in self.stack.conf.read_text():
            self.stack.write_config(extra + "privilege_separation = no\n")
        self.users = list(users)
        self.port = dict(self.stack.port)

    def start(self):
        for u in self.users:
            self.stack.add_user(f"{u}@{DOMAIN}", PASSWORD)
            make_maildir(self.maildir(u))
        self.stack.start()
        for p in self.port.values():
            if not wait_port(p):
                raise RuntimeError(f"ours: port {p} not answering\n"
                                   + self.stack.stderr()[-2000:])
        return self

    def maildir(self, user):
        return self.stack.mail / DOMAIN / user

    def root_pid(self):
        return self.stack.proc.pid

    def pids(self):
        return descendants(self.root_pid())

    def stop(self):
        if self.stack.proc is None:
            return
        try:
            self.stack.stop()
        except AssertionError as e:
            print(f"bench: ours: {str(e)[:500]}", file=sys.stderr)
        self.stack.proc = None


MAIN_CF = """\
# Private Postfix for the benchmarks (bench/servers.py). Defaults apart
# from paths, the loopback listener, virtual delivery to Maildir, and
# limits raised so 200 sessions from one address are allowed.
compatibility_level = 3.6
config_directory = {d}/etc
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = mx.postfix.{domain}
mydomain = postfix.{domain}
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
default_process_limit = 400
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_recipient_limit = 1000
message_size_limit = 52428800
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = texthash:{d}/etc/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
virtual_mailbox_limit = 0
"""

# Every service as in Debian's master.cf, but the smtp listener on our
# port, no chroot (the private paths are not set up for one).
MASTER_CF = """\
{addr} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix: smtpd on a loopback port, virtual to Maildir."""
    name = "postfix"

    def __init__(self, base, users):
        if not os.access(POSTFIX, os.X_OK):
            raise RuntimeError("postfix is not installed (scripts/deps bench)")
        if not IS_ROOT:
            raise RuntimeError("a private Postfix needs root (its daemons "
                               "run as the postfix user)")
        self.d = Path(base) / "postfix"
        self.users = list(users)
        self.port = {"smtp": free_port()}
        self.started = False

    def _postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", str(self.d / "etc"), *args],
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)}: {r.stdout}"
                               f"{r.stderr}{self.log_tail()}")
        return r

    def start(self):
        d = self.d
        for sub in ("etc", "queue", "data", "mail"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)
        uid, gid = mail_ids()
        (d / "etc" / "main.cf").write_text(MAIN_CF.format(
            d=d, domain=DOMAIN, uid=uid, gid=gid))
        (d / "etc" / "master.cf").write_text(MASTER_CF.format(
            addr=f"127.0.0.1:{self.port['smtp']}"))
        (d / "etc" / "vmailbox").write_text("".join(
            f"{u}@{DOMAIN} {DOMAIN}/{u}/\n" for u in self.users))
        pf = pwd.getpwnam("postfix")
        os.chown(d / "data", pf.pw_uid, pf.pw_gid)
        for u in self.users:
            make_maildir(self.maildir(u))
        chown_tree(d / "mail")
        self.started = True
        self._postfix("start")
        if not wait_port(self.port["smtp"]):
            raise RuntimeError("postfix: smtp port not answering"
                               + self.log_tail())
        return self

    def log_tail(self):
        try:
            return "\n" + (self.d / "maillog").read_text(
                errors="replace")[-3000:]
        except OSError:
            return ""

    def maildir(self, user):
        return self.d / "mail" / DOMAIN / user

    def root_pid(self):
        try:
            return int((self.d / "queue" / "pid" / "master.pid")
                       .read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        p = self.root_pid()
        return descendants(p) if p else []

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.root_pid()
        r = self._postfix("stop", check=False)
        if pid:
            end = time.monotonic() + 20
            while time.monotonic() < end and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            if os.path.exists(f"/proc/{pid}"):
                print(f"bench: postfix stop failed ({r.stderr.strip()}); "
                      f"killing master {pid}", file=sys.stderr)
                for p in descendants(pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass


class Dovecot:
    """A private Dovecot: IMAP and POP3 on loopback ports, Maildir homes."""
    name = "dovecot"

    def __init__(self, base, users):
        if not os.access(DOVECOT, os.X_OK):
            raise RuntimeError("dovecot is not installed (scripts/deps bench)")
        self.d = Path(base) / "dovecot"
        self.users = list(users)
        self.port = {"imap": free_port(), "pop3": free_port()}
        self.proc = None

    def maildir(self, user):
        return self.d / "dmail" / user

    def start(self):
        d = self.d
        (d / "dmail").mkdir(parents=True)
        for sub in ("run", "state"):
            (d / sub).mkdir()
        os.chmod(d, 0o755)
        uid, gid = mail_ids()
        (d / "passwd").write_text("".join(
            f"{u}@{DOMAIN}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::"
            f"{self.maildir(u)}::\n" for u in self.users))
        for u in self.users:
            make_maildir(self.maildir(u))
        chown_tree(d / "dmail")
        users = ""
        if not IS_ROOT:
            me = pwd.getpwuid(os.geteuid()).pw_name
            users = (f"default_internal_user = {me}\n"
                     f"default_login_user = {me}\n")
        conf = d / "dovecot.conf"
        conf.write_text(f"""\
# Private Dovecot for the benchmarks (bench/servers.py): defaults apart
# from paths, loopback listeners, plaintext auth, and limits raised for
# 1000 sessions of one user from one address.
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~
first_valid_uid = 1
default_process_limit = 2000
default_client_limit = 4000
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = .
}}
protocol imap {{
  mail_max_userip_connections = 2000
}}
protocol pop3 {{
  mail_max_userip_connections = 2000
}}
service imap-login {{
  chroot =
  process_limit = 2000
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port['imap']}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  process_limit = 2000
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.port['pop3']}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap {{
  process_limit = 2000
}}
service pop3 {{
  process_limit = 2000
}}
service anvil {{
  chroot =
  client_limit = 8000
}}
service auth {{
  client_limit = 8000
}}
""")
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
            stdout=open(d / "dovecot.stdout", "w"), stderr=subprocess.STDOUT)
        for p in self.port.values():
            if not wait_port(p):
                raise RuntimeError("dovecot: port not answering\n"
                                   + self.log_tail())
        return self

    def log_tail(self):
        try:
            return (self.d / "dovecot.log").read_text(
                errors="replace")[-3000:]
        except OSError:
            return ""

    def root_pid(self):
        return self.proc.pid

    def pids(self):
        return descendants(self.proc.pid)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for p in descendants(self.proc.pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait()
        self.proc = None


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
