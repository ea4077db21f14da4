"""Privilege separation, on an installed tree started by root.

`make install` into a temporary prefix creates the service users and the
set-uid programs (scripts/install-privileges); maild from that prefix then
runs every service as its own user. The tests read each process's ids
from /proc/PID/status and, taking exactly those ids in a child process,
try to open what that process must not reach: a Maildir, the password
hashes, the queue. Root only (CI runs as root); skipped otherwise.
"""
import ctypes
import imaplib
import os
import poplib
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import TOP
from mailstack import MailStack, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="privilege separation needs root")

USER = "marc@truc.test"
PASSWORD = "correct horse"


def proc_ids(pid):
    """(uid, gid, groups) of a running process, from /proc."""
    uid = gid = None
    groups = []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("Gid:"):
            gid = int(line.split()[1])
        elif line.startswith("Groups:"):
            groups = [int(g) for g in line.split()[1:]]
    return uid, gid, groups


def can_open(ids, path, mode="r"):
    """Whether a process with exactly ids could open path (in a child)."""
    uid, gid, groups = ids
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            if mode == "create":
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600)
                os.close(fd)
                os.unlink(path)
            elif os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            code = 0
        except PermissionError:
            code = 1
        except Exception:           # noqa: BLE001 - anything else: say so
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 1), f"checking {path} as {ids} failed oddly ({code})"
    return code == 0


def children(pid):
    """Every descendant pid of pid, with its program name."""
    out = {}
    todo = [pid]
    for _ in range(10000):
        if not todo:
            break
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for k in kids:
                try:
                    name = Path(f"/proc/{k}/comm").read_text().strip()
                except OSError:
                    continue
                out[int(k)] = name
                todo.append(int(k))
    return out


def settles_as(pid, user, timeout=15):
    """Whether pid becomes user: a service starts as root and changes
    user once its config and key are read (slower under sanitizers)."""
    want = uid_of(user)

    def dropped():
        try:
            return proc_ids(pid)[0] == want
        except OSError:
            return False
    return wait_for(dropped, timeout=timeout, step=0.05)


def pids_named(maild_pid, name):
    return [p for p, n in children(maild_pid).items() if n == name]


def landlock_abi():
    """The kernel's Landlock ABI version, 0 without Landlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    v = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0),
                     ctypes.c_uint32(1))
    return max(v, 0)


def uid_of(name):
    return pwd.getpwnam(name).pw_uid


@pytest.fixture(scope="module")
def installed(build_dir):
    """make install into a world-readable temporary prefix."""
    base = Path(tempfile.mkdtemp(prefix="mailstack-privsep-"))
    os.chmod(base, 0o755)
    if os.statvfs(base).f_flag & os.ST_NOSUID:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"{base.parent} is mounted nosuid: set-uid programs "
                    "cannot be tried there")
    prefix = base / "prefix"
    r = subprocess.run(["make", "-s", "install", f"BUILD={build_dir}",
                        f"PREFIX={prefix}"], cwd=TOP, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    yield base, prefix / "libexec/mailstack"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stack(installed, tls_cert):
    base, libexec = installed
    tmp = Path(tempfile.mkdtemp(dir=base))
    os.chmod(tmp, 0o755)
    # The key stays root's: the services read it before changing user.
    s = MailStack(tmp, None, bin_dir=libexec, tls=tls_cert, privsep=True,
                  listeners=("smtp", "pop3", "pop3s", "imap", "imaps"),
                  extra="allow_plaintext_auth = yes\nrelay_networks =\n")
    s.add_user(USER, PASSWORD)
    s.start()
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def deliver_one(stack, subject="privsep"):
    with smtplib.SMTP("127.0.0.1", stack.port["smtp"], timeout=10) as c:
        c.sendmail("ann@example.test", [USER],
                   f"From: ann@example.test\r\nTo: {USER}\r\n"
                   f"Subject: {subject}\r\n\r\nhello\r\n")


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_every_service_runs_as_its_own_user(stack):
    deliver_one(stack)
    msgs = stack.wait_for_messages(USER, 1)
    assert os.stat(msgs[0]).st_uid == uid_of("vmail")
    maild = stack.proc.pid
    assert proc_ids(maild)[0] == 0
    assert wait_for(lambda: pids_named(maild, "smtpq")
                    and pids_named(maild, "authd"))
    for name, user in (("smtpq", "mailq"), ("authd", "mailauth")):
        for pid in pids_named(maild, name):
            assert settles_as(pid, user), name
    # One session of each kind held open while /proc is read.
    smtp = socket.create_connection(("127.0.0.1", stack.port["smtp"]))
    pre = socket.create_connection(("127.0.0.1", stack.port["imap"]))
    try:
        assert smtp.recv(100).startswith(b"220")
        assert pre.recv(100).startswith(b"* OK")
        smtpds = wait_for(lambda: pids_named(maild, "smtpd"))
        assert smtpds and all(proc_ids(p)[0] == uid_of("mailsmtpd")
                              for p in smtpds)
        imapds = wait_for(lambda: pids_named(maild, "imapd"))
        assert imapds and all(proc_ids(p)[0] == uid_of("maillogin")
                              for p in imapds)
        queue = stack.state / "queue"
        maildir = stack.maildir(USER)
        hashes = stack.state / "auth" / "passwd.cdb"
        assert hashes.exists()
        for ids, who in ((proc_ids(smtpds[0]), "smtpd"),
                         (proc_ids(imapds[0]), "imapd before login")):
            assert not can_open(ids, maildir / "new"), who
            assert not can_open(ids, msgs[0]), who
            assert not can_open(ids, hashes), who
            assert not can_open(ids, stack.users), who
            assert not can_open(ids, queue / "new" / "x", "create"), who
        remote_ids = (uid_of("mailremote"),
                      pwd.getpwnam("mailremote").pw_gid, [])
        assert not can_open(remote_ids, queue / "new" / "x", "create")
        assert can_open((uid_of("mailq"), pwd.getpwnam("mailq").pw_gid,
                         []), queue / "new" / "x", "create")
    finally:
        smtp.close()
        pre.close()


def test_after_login_only_the_mail_user(stack):
    deliver_one(stack, "login")
    stack.wait_for_messages(USER, 1)
    maild = stack.proc.pid
    # Plaintext: the login process becomes imapd-user in place.
    plain = imaplib.IMAP4("127.0.0.1", stack.port["imap"])
    # TLS: the login process stays, relaying, beside imapd-user.
    tls = imaplib.IMAP4_SSL("127.0.0.1", stack.port["imaps"],
                            ssl_context=client_ctx())
    try:
        plain.login(USER, PASSWORD)
        tls.login(USER, PASSWORD)
        for c in (plain, tls):
            typ, data = c.select("INBOX")
            assert typ == "OK" and data[0] == b"1"
            typ, data = c.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
            assert b"Subject: login" in data[0][1]
        users = wait_for(lambda: len(pids_named(maild, "imapd-user")) == 2
                         and pids_named(maild, "imapd-user"))
        assert users, children(maild)
        vmail = uid_of("vmail")
        for pid in users:
            ids = proc_ids(pid)
            assert ids[0] == vmail
            assert not can_open(ids, stack.state / "auth" / "passwd.cdb")
            assert not can_open(ids, stack.state / "queue" / "new" / "x",
                                "create")
        relays = pids_named(maild, "imapd")
        assert len(relays) == 1 and proc_ids(relays[0])[0] == \
            uid_of("maillogin")
        # Beyond the uid: each session is fenced into its own Maildir.
        confined = [l for l in stack.log_text().splitlines()
                    if "event=confined" in l and USER in l]
        assert len(confined) >= 2, stack.log_text()[-3000:]
        if landlock_abi() > 0:
            assert all("landlock" in l for l in confined), confined
    finally:
        for c in (plain, tls):
            try:
                c.logout()
            except Exception:       # noqa: BLE001 - best effort
                pass
    # POP3 over TLS goes the same way, and sees the same mail.
    p = poplib.POP3_SSL("127.0.0.1", stack.port["pop3s"],
                        context=client_ctx())
    try:
        p.user(USER)
        p.pass_(PASSWORD)
        count, _ = p.stat()
        assert count == 1
        assert b"Subject: login" in b"\n".join(p.retr(1)[1])
        pops = pids_named(maild, "pop3d-user")
        assert pops and all(proc_ids(x)[0] == uid_of("vmail")
                            for x in pops)
    finally:
        p.quit()


def test_killed_services_come_back_as_their_users(stack):
    maild = stack.proc.pid
    for name, user in (("authd", "mailauth"), ("smtpq", "mailq")):
        (old,) = wait_for(lambda: pids_named(maild, name))
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: [p for p in pids_named(maild, name)
                                if p != old], timeout=20)
        assert new, f"{name} was not restarted"
        assert settles_as(new[0], user), name
    deliver_one(stack, "after restart")
    stack.wait_for_messages(USER, 1)
    c = imaplib.IMAP4("127.0.0.1", stack.port["imap"])
    c.login(USER, PASSWORD)
    c.logout()


def test_sigterm_leaves_no_process(stack):
    maild = stack.proc.pid
    c = imaplib.IMAP4_SSL("127.0.0.1", stack.port["imaps"],
                          ssl_context=client_ctx())
    c.login(USER, PASSWORD)
    kids = wait_for(lambda: len(children(maild)) >= 4 and children(maild))
    assert kids
    stack.proc.send_signal(signal.SIGTERM)
    stack.proc.wait(timeout=30)
    gone = wait_for(lambda: not any(Path(f"/proc/{p}").exists()
                                    for p in kids), timeout=15)
    assert gone, [p for p in kids if Path(f"/proc/{p}").exists()]


def test_missing_user_is_refused_by_name(installed, tls_cert):
    base, libexec = installed
    tmp = Path(tempfile.mkdtemp(dir=base))
    os.chmod(tmp, 0o755)
    s = MailStack(tmp, None, bin_dir=libexec, privsep=True,
                  extra="user_smtpd = nosuchuser-ms\n")
    r = subprocess.run([str(libexec / "maild"), "-c", str(s.conf), "-f"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78
    assert "user_smtpd: no system user 'nosuchuser-ms'" in r.stderr


def test_setuid_inject_refuses_a_config_its_caller_wrote(installed):
    """A local user cannot point set-uid inject at a queue of its choice."""
    base, libexec = installed
    nobody = pwd.getpwnam("nobody")
    d = Path(tempfile.mkdtemp(dir=base))
    os.chmod(d, 0o755)
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    conf = d / "evil.conf"
    conf.write_text(f"state_dir = {d}/state\nmail_dir = {d}/mail\n"
                    "log = stderr\n")
    os.chown(conf, nobody.pw_uid, nobody.pw_gid)

    def as_nobody():
        os.setgroups([])
        os.setresgid(nobody.pw_gid, nobody.pw_gid, nobody.pw_gid)
        os.setresuid(nobody.pw_uid, nobody.pw_uid, nobody.pw_uid)

    r = subprocess.run([str(libexec / "inject"), "-c", str(conf)],
                       input=b"", capture_output=True, timeout=30,
                       preexec_fn=as_nobody)
    assert b"refusing the config" in r.stderr
    # In a sanitizer build LeakSanitizer, which cannot inspect a set-uid
    # process (and ignores its options there), turns the exit into 1.
    assert r.returncode == 111 or (r.returncode == 1 and
                                   b"LeakSanitizer" in r.stderr), r.stderr
    assert not (d / "state" / "queue").exists()
    shutil.rmtree(d, ignore_errors=True)


def test_sighup_takes_a_hand_added_user(stack):
    """A user written into the users table by hand logs in after SIGHUP:
    maild compiles the tables as root and authd rereads the hashes it
    alone may read."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input="new secret\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    with open(stack.users, "a") as f:
        f.write(f"anne@truc.test {r.stdout.strip()}\n")
    stack.proc.send_signal(signal.SIGHUP)

    def logs_in():
        c = imaplib.IMAP4("127.0.0.1", stack.port["imap"])
        try:
            c.login("anne@truc.test", "new secret")
            return True
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                c.logout()
            except Exception:       # noqa: BLE001 - best effort
                pass
    assert wait_for(logs_in, timeout=15, step=0.5), stack.log_text()[-3000:]
    hashes = stack.state / "auth" / "passwd.cdb"
    assert os.stat(hashes).st_uid == uid_of("mailauth")
    assert b"$6$" not in (stack.state / "tables" / "users.cdb").read_bytes()
