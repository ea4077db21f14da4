"""Helpers for the queue tests (issue 4): no tests live here.

QueueEnv(tmp_path, build_dir) makes a private copy of the programs in
tmp/bin (inject, smtpq, sendmail, mailctl) beside a fake `deliver` and a
fake `remote` (Python scripts, below), writes a config, and offers:

    env.inject(msg, envelope)      run inject: (exit status, report line)
    envelope(sender, rcpts, ...)   the envelope.h wire format
    env.start_smtpq(offset=0)      smtpq in the background (MAILSTACK_NOW_OFFSET)
    env.wait_log(regex, count)     wait for log lines
    env.deliveries(rcpt=None)      what the fake programs stored
    read_entry(path)               a queue entry, parsed as QUEUE.md says

The fake deliver and remote read their behaviour from tmp/fake.json:
{"rules": [[fnmatch-pattern, action], ...], "default": "ok",
 "sleep": seconds or [min, max]}; actions: ok, temp, perm, crash, hang,
exitN. "ok" stores the message in tmp/spool/RCPT/ (tmp file, then rename)
and appends a JSON line to tmp/ledger.jsonl. Every wait is bounded.
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

SLOT = 256      # QUEUE_SLOT_SIZE in common/queue.h: one recipient's slot

FAKE_COMMON = r'''
import fnmatch, json, os, random, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def rules():
    try:
        with open(os.path.join(ROOT, "fake.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}

def action_for(r, rcpt):
    for pat, act in r.get("rules", []):
        if fnmatch.fnmatch(rcpt, pat):
            return act
    return r.get("default", "ok")

def ledger(rec):
    rec["pid"] = os.getpid()
    rec["t"] = time.time()
    line = (json.dumps(rec) + "\n").encode()
    fd = os.open(os.path.join(ROOT, "ledger.jsonl"),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line)
    os.close(fd)

def nap(r):
    s = r.get("sleep", 0)
    if isinstance(s, list):
        s = random.uniform(s[0], s[1])
    if s:
        time.sleep(s)

def store(rcpt, data):
    d = os.path.join(ROOT, "spool", rcpt.lower())
    os.makedirs(d, exist_ok=True)
    name = "%d.%d.%d" % (time.time_ns(), os.getpid(), random.randrange(1 << 30))
    tmp = os.path.join(ROOT, "spool", ".tmp." + name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(d, name))
    return name
'''

FAKE_DELIVER = "#!/usr/bin/python3\n" + FAKE_COMMON + r'''
args = sys.argv[1:]
if "-S" in args:
    sys.exit(64)    # no server mode: smtpq runs one per entry instead
opts = {}
rcpt = None
rcpts = []
i = 0
while i < len(args):
    if args[i] == "--":
        rcpts = args[i + 1:]
        rcpt = rcpts[0]
        break
    opts[args[i]] = args[i + 1]
    i += 2
r = rules()
if len(rcpts) > 1:
    # several recipients: one "K|D|Z X.Y.Z text" line each, in order, as
    # the real deliver writes them (each recipient on its own, like the
    # children of the real one)
    data = sys.stdin.buffer.read()
    for rc in rcpts:
        act = action_for(r, rc)
        ledger({"prog": "deliver", "event": "start", "rcpt": rc,
                "argv": args, "qid": opts.get("-q"),
                "sender": opts.get("-f")})
        nap(r)
        rec = {"prog": "deliver", "event": "end", "rcpt": rc,
               "result": act, "qid": opts.get("-q")}
        if act == "ok":
            rec["file"] = store(rc, data)
            line = "K 2.0.0 delivered to <%s>" % rc
        elif act == "perm":
            line = "D 5.1.1 <%s>: no such user" % rc
        elif act == "hang":
            time.sleep(3600)
        elif act == "temp":
            line = "Z 4.2.1 mailbox busy, try later"
        elif act == "crash":
            line = "Z 4.3.0 deliver failed (killed by signal 9)"
        elif act.startswith("exit"):
            # the real deliver's text for a child without a valid line
            code = int(act[4:])
            line = ("D 5" if code in (65, 67) else "Z 4") + \
                ".3.0 deliver failed (exit %d)" % code
        else:
            line = "Z 4.3.0 deliver failed (exit 75)"
        ledger(rec)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    sys.exit(0)
act = action_for(r, rcpt)
ledger({"prog": "deliver", "event": "start", "rcpt": rcpt, "argv": args,
        "qid": opts.get("-q"), "sender": opts.get("-f")})
data = sys.stdin.buffer.read()
nap(r)
if act == "ok":
    name = store(rcpt, data)
    ledger({"prog": "deliver", "event": "end", "rcpt": rcpt, "result": "ok",
            "qid": opts.get("-q"), "file": name})
    print("2.0.0 delivered to <%s>" % rcpt)
    sys.exit(0)
ledger({"prog": "deliver", "event": "end", "rcpt": rcpt, "result": act,
        "qid": opts.get("-q")})
if act == "temp":
    print("4.2.1 mailbox busy, try later")
    sys.exit(75)
if act == "perm":
    print("5.1.1 <%s>: no such user" % rcpt)
    sys.exit(67)
if act == "crash":
    os.kill(os.getpid(), 9)
if act == "hang":
    time.sleep(3600)
if act.startswith("exit"):
    print("garbage line")
    sys.exit(int(act[4:]))
sys.exit(75)
'''

FAKE_REMOTE = "#!/usr/bin/python3\n" + FAKE_COMMON + r'''
args = sys.argv[1:]
env = os.read(3, 1 << 20)
while True:
    more = os.read(3, 1 << 20)
    if not more:
        break
    env += more
recs = [x.decode() for x in env.split(b"\0")]
rcpts = [x[1:] for x in recs if x.startswith("T")]
r = rules()
ledger({"prog": "remote", "event": "start", "rcpts": rcpts, "argv": args,
        "envelope": recs})
data = sys.stdin.buffer.read()
nap(r)
out = []
for rc in rcpts:
    act = action_for(r, rc)
    if act == "ok":
        store(rc, data)
        out.append("K 2.0.0 <%s> accepted by the next hop" % rc)
    elif act == "perm":
        out.append("D 5.1.1 <%s>: unknown user at the next hop" % rc)
    elif act == "crash":
        sys.stdout.write("\n".join(out) + ("\n" if out else ""))
        sys.stdout.flush()
        os.kill(os.getpid(), 9)
    else:
        out.append("Z 4.4.1 <%s>: no answer from the next hop" % rc)
ledger({"prog": "remote", "event": "end", "rcpts": rcpts, "lines": out})
sys.stdout.write("\n".join(out) + "\n")
sys.exit(0)
'''

PROGRAMS = ("inject", "smtpq", "sendmail", "mailctl")


def envelope(sender, rcpts, envid=None, ret=None, body=None, protocol=None,
             auth=None, client=None, helo=None, smtputf8=False):
    """The envelope.h wire format. rcpts: addresses, or (addr, notify,
    orcpt) tuples (notify/orcpt None when absent)."""
    out = [b"V1", b"F" + sender.encode()]
    for letter, value in (("E", envid), ("R", ret), ("B", body)):
        if value is not None:
            out.append(letter.encode() + value.encode())
    if smtputf8:
        out.append(b"U")
    for letter, value in (("H", helo), ("I", client), ("A", auth),
                          ("P", protocol)):
        if value is not None:
            out.append(letter.encode() + value.encode())
    for r in rcpts:
        if isinstance(r, str):
            r = (r, None, None)
        addr, notify, orcpt = r
        out.append(b"T" + addr.encode())
        if orcpt is not None:
            out.append(b"O" + orcpt.encode())
        if notify is not None:
            out.append(b"D" + notify.encode())
    return b"\0".join(out) + b"\0\0"


def message(msgid, subject="test", body="hello\n", extra=""):
    return (f"From: <sender@example.test>\nTo: <rcpt@example.test>\n"
            f"Subject: {subject}\nMessage-ID: {msgid}\n{extra}\n{body}"
            ).encode()


def read_entry(path):
    """Parse a queue entry exactly as smtpq/QUEUE.md describes it."""
    data = Path(path).read_bytes()
    line = data[:92]
    assert data[92:256] == b"\0" * 164, "header padding"
    f = line.decode().rstrip("\n").split(" ")
    assert f[0] == "MSQ1" and len(f) == 8, line
    qid, arrival, hops, n, envlen, msgoff, msglen = (
        f[1], int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]),
        int(f[7]))
    assert [len(x) for x in f[1:]] == [24, 12, 5, 5, 10, 12, 12]
    slots = []
    for i in range(n):
        s = data[256 + SLOT * i:256 + SLOT * (i + 1)]
        assert s[SLOT - 1:SLOT] == b"\n"
        text = s[36:SLOT - 1].rstrip(b"\0").decode()
        slots.append({"state": chr(s[0]), "flags": chr(s[2]),
                      "attempts": int(s[4:9]), "next_try": int(s[10:22]),
                      "last_try": int(s[23:35]), "text": text})
    env_off = 256 + SLOT * n
    env = data[env_off:env_off + envlen]
    assert env.endswith(b"\0\0")
    assert msgoff == (env_off + envlen + 4095) // 4096 * 4096
    assert len(data) == msgoff + msglen
    recs = [r.decode() for r in env[:-2].split(b"\0")]
    return {"qid": qid, "arrival": arrival, "hops": hops, "n": n,
            "slots": slots, "envelope": recs, "msg": data[msgoff:],
            "rcpts": [r[1:] for r in recs if r.startswith("T")]}


def wait_for(pred, timeout, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class QueueEnv:
    def __init__(self, tmp_path, build_dir, domains="example.test other.test",
                 extra_conf="", state_dir=None, copy_remote=True):
        self.root = Path(tmp_path)
        self.bin = self.root / "bin"
        self.bin.mkdir(exist_ok=True)
        for p in PROGRAMS:
            src = Path(build_dir) / "bin" / p
            if not os.access(src, os.X_OK):
                raise AssertionError(f"{src} is not built")
            shutil.copy2(src, self.bin / p)
        (self.bin / "deliver").write_text(FAKE_DELIVER)
        (self.bin / "deliver").chmod(0o755)
        if copy_remote:
            (self.bin / "remote").write_text(FAKE_REMOTE)
            (self.bin / "remote").chmod(0o755)
        self.state = Path(state_dir) if state_dir else self.root / "state"
        self.log = self.root / "mail.log"
        self.conf = self.root / "mailstack.conf"
        self.conf.write_text(
            f"hostname = mx.example.test\ndomains = {domains}\n"
            f"state_dir = {self.state}\nmail_dir = {self.root / 'mail'}\n"
            f"log = {self.log}\n{extra_conf}")
        self.queue = self.state / "queue"
        self.procs = []
        self.errlog = self.root / "stderr.log"

    # --- the fake programs ------------------------------------------------

    def fake(self, rules=(), default="ok", sleep=0):
        (self.root / "fake.json").write_text(json.dumps(
            {"rules": [list(r) for r in rules], "default": default,
             "sleep": sleep}))

    def ledger(self):
        p = self.root / "ledger.jsonl"
        if not p.exists():
            return []
        out = []
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass    # a line cut by kill -9
        return out

    def deliveries(self, rcpt=None):
        """[(rcpt, bytes)] stored by the fake deliver/remote."""
        spool = self.root / "spool"
        out = []
        if not spool.exists():
            return out
        for d in sorted(spool.iterdir()):
            if not d.is_dir() or (rcpt is not None and d.name != rcpt.lower()):
                continue
            for f in sorted(d.iterdir()):
                out.append((d.name, f.read_bytes()))
        return out

    # --- programs ------------------------------------------------------------

    def child_env(self, offset=0):
        env = dict(os.environ)
        env.pop("MAILSTACK_NOW_OFFSET", None)
        if offset:
            env["MAILSTACK_NOW_OFFSET"] = str(int(offset))
        return env

    def inject(self, msg, env, offset=0, timeout=20, kill_after=None,
               conf=None):
        """Run inject; returns (status, report). status < 0: a signal."""
        mr, mw = os.pipe()
        er, ew = os.pipe()
        rr, rw = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, mr, 0), (os.POSIX_SPAWN_DUP2, er, 1),
                   (os.POSIX_SPAWN_DUP2, rw, 3),
                   (os.POSIX_SPAWN_OPEN, 2, str(self.errlog),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)]
        pid = os.posix_spawn(str(self.bin / "inject"),
                             ["inject", "-c", str(conf or self.conf)],
                             self.child_env(offset), file_actions=actions)
        for fd in (mr, er, rw):
            os.close(fd)
        try:
            if kill_after is not None:
                cut = int(len(msg) * kill_after)
                _write(mw, msg[:cut])
                os.kill(pid, signal.SIGKILL)
            _write(mw, msg)
            os.close(mw)
            mw = -1
            _write(ew, env)
        except (BrokenPipeError, ProcessLookupError):
            pass
        finally:
            if mw >= 0:
                os.close(mw)
            os.close(ew)
        report = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([rr], [], [], 0.1)
            if r:
                chunk = os.read(rr, 4096)
                if not chunk:
                    break
                report += chunk
        os.close(rr)
        status = _wait(pid, max(0.1, deadline - time.monotonic()))
        return status, report.decode(errors="replace")

    def start_smtpq(self, offset=0, spawn=None):
        argv = [str(self.bin / "smtpq"), "-c", str(self.conf), "-f"]
        if spawn is not None:
            p = spawn(argv, env=self.child_env(offset))
            popen = p.popen
        else:
            out = open(self.root / f"smtpq-{len(self.procs)}.out", "wb")
            popen = subprocess.Popen(argv, env=self.child_env(offset),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
            out.close()
            self.procs.append(popen)
        # The log may hold lines of an earlier smtpq with the same pid.
        started = r"smtpq\[%d\]: status=started" % popen.pid
        stopped = r"smtpq\[%d\]: status=stopped" % popen.pid
        wait_for(lambda: self.count_log(started) > self.count_log(stopped)
                 or popen.poll() is not None, 10, what="smtpq start")
        assert popen.poll() is None, f"smtpq exited {popen.returncode}"
        return popen

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)

    def mailctl(self, *args, offset=0):
        return subprocess.run([str(self.bin / "mailctl"), "-c",
                               str(self.conf), *args],
                              capture_output=True, text=True, timeout=30,
                              env=self.child_env(offset))

    def sendmail(self, args, data, timeout=30):
        return subprocess.run([str(self.bin / "sendmail"), "-C",
                               str(self.conf), *args], input=data,
                              capture_output=True, timeout=timeout,
                              env=self.child_env())

    # --- logs and folders ---------------------------------------------------

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def count_log(self, regex):
        return len(re.findall(regex, self.log_text()))

    def wait_log(self, regex, count=1, timeout=10):
        wait_for(lambda: self.count_log(regex) >= count, timeout,
                 what=f"{count} log line(s) matching {regex!r}:\n"
                 f"{self.log_text()[-3000:]}")

    def entries(self, folder="cur"):
        d = self.queue / folder
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    def queue_empty(self):
        return not self.entries("new") and not self.entries("cur")


def _write(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _wait(pid, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
