#!/usr/bin/python3
"""bench - our stack beside a private Postfix and Dovecot, same workloads.

Usage: bench/bench.py [--ours-only] [--only GROUPS] [--json FILE]
                      [--build DIR]

GROUPS is a comma-separated subset of fsync,smtp,pop3,imap,mem (default
all). Environment: BUILD (the build directory, default "build"),
BENCH_REPS (repetitions, default 3), BENCH_QUICK=1 (small sizes, for
development and the smoke test), BENCH_BIG=1 (add the 100 000-message
IMAP mailbox), BENCH_N (messages per SMTP case, default 500),
BENCH_CACHE (where the generated corpus is kept between runs, default
/var/tmp/mailstack-bench), BENCH_KEEP=1 (keep the temporary folder).

Each repetition runs every case against our stack and against theirs
(Postfix for SMTP, Dovecot for POP3 and IMAP), alternating which goes
first. The table gives the median of the repetitions for each, and the
ratio ours/theirs of the figure in the "unit" column: above 1 means we
did more per second (or, for memory, used more). Every reply is checked
and every count compared (messages delivered = messages sent x
recipients, FETCH responses = messages, SEARCH hits equal on both
sides); a mismatch is printed as an error and makes the exit status 1.

Everything runs on 127.0.0.1 and free ports, in one temporary folder
under /tmp; every server started is stopped at the end, on failure and
on Ctrl-C or SIGTERM too.
"""
import argparse
import json
import mailbox
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clients                                              # noqa: E402
import servers                                              # noqa: E402
from servers import DOMAIN, PASSWORD                        # noqa: E402

TOP = Path(__file__).resolve().parents[1]
GEN = TOP / "tests" / "corpus" / "gen_mbox.py"
SEED = 20261123
SMTP_USERS = [f"u{i}" for i in range(10)]
IDLE_USER = "idle"
POP_USER = "pop"
IMAP_USER = "imap"
BIG_USER = "imapbig"
SEARCH = b'SEARCH HEADER Subject "meeting"'


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"bench: {name} must be a number")


class Sizes:
    """How much of everything: the full run, or BENCH_QUICK's."""

    def __init__(self, quick):
        self.quick = quick
        self.reps = env_int("BENCH_REPS", 1 if quick else 3)
        self.smtp_n = env_int("BENCH_N", 10 if quick else 500)
        self.smtp_big_n = 2 if quick else 40
        self.sessions = (1, 4) if quick else (1, 20, 100)
        self.rcpts = (1, 3) if quick else (1, 10)
        self.box = 150 if quick else 10000
        self.big = 0 if quick or not env_int("BENCH_BIG", 0) else 100000
        self.mixed_sessions = 4 if quick else 20
        self.mixed_rounds = 5 if quick else 10
        self.imap_idle = 20 if quick else 1000
        self.smtp_idle = 10 if quick else 200
        self.fsync_seconds = 0.5 if quick else 3.0


class Results:
    """Rows of (group, case, unit, {server: [values]}), in run order."""

    def __init__(self):
        self.rows = {}
        self.errors = []
        self.notes = []
        self.counts = []            # what was sent and what arrived

    def add(self, group, case, unit, server, value):
        row = self.rows.setdefault((group, case), {"unit": unit,
                                                   "values": {}})
        row["values"].setdefault(server, []).append(value)
        print(f"  {group:5} {case:44} {server:8} {value:12.1f} {unit}",
              flush=True)

    def error(self, text):
        print(f"bench: ERROR: {text}", file=sys.stderr, flush=True)
        self.errors.append(text)

    def median(self, key, server):
        v = self.rows[key]["values"].get(server)
        return statistics.median(v) if v else None

    def table(self):
        out = ["| group | case | unit | ours | theirs | ours/theirs |",
               "|---|---|---|---:|---:|---:|"]
        for key, row in self.rows.items():
            vals = row["values"]
            if "machine" in vals:           # a bound, not a contest
                out.append(f"| {key[0]} | {key[1]} | {row['unit']} | "
                           f"{self.median(key, 'machine'):,.1f} (machine)"
                           " | - | - |")
                continue
            ours = self.median(key, "ours")
            theirs_name = next((s for s in vals if s != "ours"), None)
            theirs = self.median(key, theirs_name) if theirs_name else None
            ratio = (f"{ours / theirs:.2f}" if ours is not None and theirs
                     else "-")
            fmt = (lambda v: "-" if v is None else f"{v:,.1f}")
            who = f" ({theirs_name})" if theirs_name else ""
            out.append(f"| {key[0]} | {key[1]} | {row['unit']} | "
                       f"{fmt(ours)} | {fmt(theirs)}{who} | {ratio} |")
        return "\n".join(out)

    def targets(self):
        """The issue's targets, each with its verdict (lines of text)."""
        out = []

        def find(group, *words):
            return [k for k in self.rows if k[0] == group
                    and all(w in k[1] for w in words)]

        def pair(key):
            vals = self.rows[key]["values"]
            theirs = next((s for s in vals if s != "ours"), None)
            return (self.median(key, "ours"),
                    self.median(key, theirs) if theirs else None)

        def verdict(ok):
            return "met" if ok else "NOT met"
        fs = find("fsync")
        bound = self.median(fs[0], "machine") / 2 if fs else None
        for key in find("smtp", "20 sess, 1 rcpt", "5 KB"):
            ours, theirs = pair(key)
            if ours and theirs:
                out.append(f"SMTP 20 sessions >= 2x Postfix: {ours:.0f} vs "
                           f"{theirs:.0f} msg/s ({ours / theirs:.2f}x): "
                           f"{verdict(ours >= 2 * theirs)}")
            if ours and bound:
                out.append(f"SMTP 20 sessions within 2x of the fsync bound "
                           f"(2 fsyncs a message: {bound:.0f} msg/s): "
                           f"{ours:.0f} msg/s: {verdict(ours >= bound / 2)}")
        for group in ("pop3", "imap"):
            for key in find(group):
                ours, theirs = pair(key)
                if ours and theirs:
                    out.append(f"{group.upper()} {key[1]} >= Dovecot: "
                               f"{ours / theirs:.2f}x: "
                               f"{verdict(ours >= theirs)}")
        for key in find("mem", "idle IMAP", "PSS / session"):
            ours, theirs = pair(key)
            if ours and theirs:
                out.append(f"idle IMAP PSS/session <= Dovecot's and <= 220 "
                           f"kB: {ours:.0f} vs {theirs:.0f} kB: "
                           f"{verdict(ours <= theirs and ours <= 220)}")
        return out

    def as_json(self):
        return {"rows": [{"group": g, "case": c, **row}
                         for (g, c), row in self.rows.items()],
                "counts": self.counts, "errors": self.errors,
                "notes": self.notes}


# --- the machine ----------------------------------------------------------

def fsync_rate(where, seconds):
    """write(5 KB) + fsync + rename, one file after another, for `seconds`
    in the folder `where`: files a second."""
    d = Path(where) / "fsync-probe"
    (d / "tmp").mkdir(parents=True)
    (d / "new").mkdir()
    data = os.urandom(5120)
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        tmp = d / "tmp" / f"f{n}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, d / "new" / f"f{n}")
        n += 1
    rate = n / (time.monotonic() - t0)
    shutil.rmtree(d, ignore_errors=True)
    return rate


# --- SMTP -----------------------------------------------------------------

def make_message(i, size):
    """A CR LF ended, dot-stuffed message of about `size` octets."""
    head = (f"From: Load <load@example.org>\r\n"
            f"To: bench <u0@{DOMAIN}>\r\n"
            f"Subject: bench message {i}\r\n"
            f"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
            f"Message-ID: <bench.{i}.{size}@load.example.org>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    rnd = random.Random(i)
    words = b"the mail queue message server folder invoice meeting " \
            b"report budget release patch deploy ticket backup".split()
    lines, total = [], len(head)
    while total < size:
        line = b" ".join(rnd.choice(words) for _ in range(11))[:70] + b"\r\n"
        lines.append(line)
        total += len(line)
    return head + b"".join(lines)


def delivered(srv):
    n = 0
    for u in SMTP_USERS:
        for sub in ("new", "cur"):
            try:
                n += len(os.listdir(srv.maildir(u) / sub))
            except FileNotFoundError:
                pass
    return n


def clear_mailboxes(srv):
    for u in SMTP_USERS:
        for sub in ("new", "cur"):
            d = srv.maildir(u) / sub
            for name in os.listdir(d):
                try:
                    os.unlink(d / name)
                except FileNotFoundError:
                    pass


def smtp_case(srv, n, size, sessions, rcpts, res, case):
    """Send n messages to rcpts users each over `sessions` sessions; time
    until every copy is a file in a Maildir. Returns messages a second."""
    clear_mailboxes(srv)
    jobs = []
    for i in range(n):
        to = [f"u{(i + k) % 10}@{DOMAIN}".encode() for k in range(rcpts)]
        jobs.append((b"load@example.org", to, make_message(i, size)))
    want = n * rcpts
    t0 = time.monotonic()
    clients.smtp_send(srv.port["smtp"], jobs, sessions)
    t_sent = time.monotonic()
    limit = t_sent + max(60.0, want / 20.0)
    while delivered(srv) < want and time.monotonic() < limit:
        time.sleep(0.01)
    t1 = time.monotonic()
    got = delivered(srv)
    res.counts.append({"case": case, "server": srv.name, "sent": want,
                       "delivered": got})
    if got != want:
        res.error(f"smtp {case} {srv.name}: {got} of {want} messages "
                  f"delivered within {t1 - t_sent:.0f} s after sending")
        return None
    return n / (t1 - t0), n / (t_sent - t0)


def bench_smtp(sz, pairs, res):
    cases = [(s, r, 5 * 1024, sz.smtp_n) for s in sz.sessions
             for r in sz.rcpts]
    cases.append((sz.sessions[-1] if sz.quick else 20, 1, 1 << 20,
                   sz.smtp_big_n))
    for rep in range(sz.reps):
        for sessions, rcpts, size, n in cases:
            kb = "5 KB" if size < (1 << 20) else "1 MB"
            case = f"{n} x {kb}, {sessions} sess, {rcpts} rcpt"
            for srv in order(pairs["smtp"], rep):
                r = smtp_case(srv, n, size, sessions, rcpts, res, case)
                if r is not None:
                    res.add("smtp", case + " (end to end)", "msg/s",
                            srv.name, r[0])


# --- the mailboxes for POP3 and IMAP ---------------------------------------

def corpus_pool(count):
    """A folder of `count` Maildir files (Maildir names with S= and W=,
    in cur/ with no flags), generated once by tests/corpus/gen_mbox.py
    and kept in BENCH_CACHE."""
    cache = Path(os.environ.get("BENCH_CACHE", "/var/tmp/mailstack-bench"))
    pool = cache / f"pool-{count}-{SEED}"
    if (pool / "done").exists():
        return pool
    shutil.rmtree(pool, ignore_errors=True)
    (pool / "cur").mkdir(parents=True)
    os.chmod(cache, 0o755)
    print(f"bench: generating a {count}-message corpus in {pool} "
          f"(once; about 6 s per 1000 messages)", flush=True)
    mbox = pool / "mbox"
    subprocess.run([sys.executable, str(GEN), str(mbox), str(count),
                    str(SEED)], check=True, timeout=3600)
    mb = mailbox.mbox(str(mbox), create=False)
    for i, key in enumerate(mb.keys()):
        data = mb.get_bytes(key)
        vsize = len(data) + data.count(b"\n")
        name = (f"{1700000000 + i}.M{i}P1Q1.bench,S={len(data)},"
                f"W={vsize}:2,")
        (pool / "cur" / name).write_bytes(data)
    mb.close()
    mbox.unlink()
    servers.chown_tree(pool / "cur")
    (pool / "done").write_text("")
    return pool


def fill_maildir(dest, pool, copies=1):
    """Hard-link the pool's files into dest/cur (`copies` times each,
    under distinct names); returns the message count."""
    names = sorted(os.listdir(pool / "cur"))
    n = 0
    for r in range(copies):
        for name in names:
            new = name.replace("P1Q1.", f"P1Q1R{r}.") if copies > 1 else name
            os.link(pool / "cur" / name, dest / "cur" / new)
            n += 1
    return n


def reset_index(srv, user):
    """Remove everything but cur/ new/ tmp/ from the Maildir's top: the
    server's index files, so the next SELECT builds them (cold)."""
    top = srv.maildir(user)
    for e in os.scandir(top):
        if e.name not in ("cur", "new", "tmp"):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)


# --- POP3 -----------------------------------------------------------------

def bench_pop3(sz, pairs, res, n):
    case = f"{n} msgs: LIST, UIDL, RETR all"
    for rep in range(sz.reps):
        for srv in order(pairs["pop3"], rep):
            t0 = time.monotonic()
            got, octets = clients.pop3_retrieve_all(
                srv.port["pop3"], f"{POP_USER}@{DOMAIN}", PASSWORD)
            dt = time.monotonic() - t0
            if got != n:
                res.error(f"pop3 {srv.name}: STAT says {got}, not {n}")
            res.add("pop3", case, "msg/s", srv.name, got / dt)
            res.add("pop3", case + " (octets)", "MB/s", srv.name,
                    octets / dt / 1e6)


# --- IMAP -----------------------------------------------------------------

def imap_login(srv, user):
    c = clients.Imap(srv.port["imap"])
    c.login(f"{user}@{DOMAIN}", PASSWORD)
    return c


def exists(lines):
    for line in lines:
        p = line.split()
        if len(p) == 3 and p[2].upper() == b"EXISTS":
            return int(p[1])
    return None


def timed(fn):
    t0 = time.monotonic()
    v = fn()
    return time.monotonic() - t0, v


def imap_box(srv, user, n, res, rep, searches):
    """Every single-session IMAP case on one mailbox of n messages."""
    label = f"{n} msgs"
    reset_index(srv, user)
    c = imap_login(srv, user)
    dt, (_, lines) = timed(lambda: c.command(b"SELECT INBOX", keep=True))
    if exists(lines) != n:
        res.error(f"imap {srv.name}: SELECT says {exists(lines)} EXISTS, "
                  f"not {n}")
    res.add("imap", f"{label}: SELECT cold (index build)", "sel/s",
            srv.name, 1 / dt)
    c.logout()
    c = imap_login(srv, user)
    dt, _ = timed(lambda: c.command(b"SELECT INBOX"))
    res.add("imap", f"{label}: SELECT warm", "sel/s", srv.name, 1 / dt)
    # The usual case for a client: a folder that has not changed for a
    # while, opened again (a server may trust the folders' mtimes once a
    # listing began well after them; right after a change it must list
    # them, which the case above measures). One untimed SELECT after the
    # pause lets either server take that listing.
    c.logout()
    time.sleep(3)
    c = imap_login(srv, user)
    c.command(b"SELECT INBOX")
    c.logout()
    c = imap_login(srv, user)
    dt, _ = timed(lambda: c.command(b"SELECT INBOX"))
    res.add("imap", f"{label}: SELECT warm, folder unchanged for 3 s",
            "sel/s", srv.name, 1 / dt)
    for what, cmd in (("UID FETCH 1:* (FLAGS)", b"UID FETCH 1:* (FLAGS)"),
                      ("FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
                       b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")):
        dt, (count, _) = timed(lambda: c.command(cmd))
        if count != n:
            res.error(f"imap {srv.name} {what}: {count} responses, not {n}")
        res.add("imap", f"{label}: {what}", "msg/s", srv.name, n / dt)
    before = c.received
    dt, (count, _) = timed(lambda: c.command(b"FETCH 1:* (BODY.PEEK[])"))
    if count != n:
        res.error(f"imap {srv.name} BODY[]: {count} responses, not {n}")
    res.add("imap", f"{label}: FETCH 1:* BODY.PEEK[]", "MB/s", srv.name,
            (c.received - before) / dt / 1e6)
    dt, (_, lines) = timed(lambda: c.command(SEARCH, keep=True))
    hits = clients.search_count(lines)
    searches.setdefault((n, rep), {})[srv.name] = hits
    res.add("imap", f"{label}: {SEARCH.decode()}", "search/s", srv.name,
            1 / dt)
    c.logout()


def mixed_session(srv, user, n, seed, rounds, out, errors):
    """One client of the mixed workload: each round fetches 20 messages'
    FLAGS and ENVELOPE, one whole message, searches a subject word,
    flags and unflags one message, and NOOPs. Counts commands."""
    rnd = random.Random(seed)
    try:
        c = imap_login(srv, user)
        c.command(b"SELECT INBOX")
        cmds = 1
        for _ in range(rounds):
            a = rnd.randint(1, max(1, n - 20))
            m = rnd.randint(1, n)
            word = rnd.choice([b"meeting", b"budget", b"report", b"release"])
            for cmd in (b"FETCH %d:%d (FLAGS ENVELOPE)" % (a, a + 19),
                        b"FETCH %d (BODY.PEEK[])" % m,
                        b'SEARCH SUBJECT "%s"' % word,
                        b"STORE %d +FLAGS.SILENT (\\Flagged)" % m,
                        b"STORE %d -FLAGS.SILENT (\\Flagged)" % m,
                        b"NOOP"):
                c.command(cmd)
                cmds += 1
        c.logout()
        out.append(cmds)
    except Exception as e:                  # reported, not lost in a thread
        errors.append(f"{type(e).__name__}: {e}")


def imap_mixed(sz, srv, user, n, res):
    out, errors = [], []
    threads = [threading.Thread(target=mixed_session,
                                args=(srv, user, n, s, sz.mixed_rounds,
                                      out, errors))
               for s in range(sz.mixed_sessions)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    dt = time.monotonic() - t0
    if errors or len(out) != len(threads):
        res.error(f"imap mixed {srv.name}: {errors[:3]}")
        return
    res.add("imap", f"{n} msgs: {sz.mixed_sessions} sessions mixed "
            f"(fetch/search/store)", "cmd/s", srv.name, sum(out) / dt)


def bench_imap(sz, pairs, res, boxes):
    searches = {}
    for rep in range(sz.reps):
        for user, n in boxes:
            for srv in order(pairs["imap"], rep):
                imap_box(srv, user, n, res, rep, searches)
        for srv in order(pairs["imap"], rep):
            imap_mixed(sz, srv, IMAP_USER, boxes[0][1], res)
    for (n, rep), hits in searches.items():
        if len(set(hits.values())) > 1:
            res.error(f"imap SEARCH on {n} msgs differs: {hits}")


# --- memory ---------------------------------------------------------------

def measure(srv):
    """(PSS in kB, process count) of a server's process tree."""
    pids = srv.pids()
    return servers.pss_kb(pids), len(pids)


def bench_mem(sz, pairs, res):
    for rep in range(sz.reps):
        for srv in order(pairs["imap"], rep):
            base = servers.pss_kb(srv.pids())
            total, procs = clients.imap_hold(
                srv.port["imap"], sz.imap_idle, f"{IDLE_USER}@{DOMAIN}",
                PASSWORD, lambda: measure(srv))
            res.notes.append(f"{sz.imap_idle} idle IMAP sessions, "
                             f"{srv.name}: {procs} processes, {total} kB")
            res.add("mem", f"{sz.imap_idle} idle IMAP sessions: PSS / "
                    "session", "kB", srv.name, total / sz.imap_idle)
            res.add("mem", f"{sz.imap_idle} idle IMAP sessions: (PSS - "
                    "idle server) / session", "kB", srv.name,
                    (total - base) / sz.imap_idle)
        for srv in order(pairs["smtp"], rep):
            base = servers.pss_kb(srv.pids())
            total, procs = clients.smtp_hold(
                srv.port["smtp"], sz.smtp_idle, lambda: measure(srv))
            res.notes.append(f"{sz.smtp_idle} SMTP sessions, "
                             f"{srv.name}: {procs} processes, {total} kB")
            # No "minus the idle server" figure here: Postfix keeps the
            # smtpd processes of earlier cases alive (max_idle), so its
            # idle server already holds some of the 200.
            res.add("mem", f"{sz.smtp_idle} SMTP sessions: PSS total",
                    "kB", srv.name, total)
            res.add("mem", f"{sz.smtp_idle} SMTP sessions: PSS / session",
                    "kB", srv.name, total / sz.smtp_idle)


# --- the run --------------------------------------------------------------

def order(pair, rep):
    """The servers of a pair, ours first on even repetitions."""
    return pair if rep % 2 == 0 else list(reversed(pair))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine():
    def read(p):
        try:
            return Path(p).read_text()
        except OSError:
            return ""
    mem = next((l.split()[1] for l in read("/proc/meminfo").splitlines()
                if l.startswith("MemTotal:")), "?")
    model = next((l.split(":", 1)[1].strip() for l in
                  read("/proc/cpuinfo").splitlines()
                  if l.startswith("model name")), "?")
    return (f"{os.cpu_count()} CPUs ({model}), {int(mem) // 1024} MiB, "
            f"Linux {os.uname().release}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours-only", action="store_true",
                    help="only our stack (no Postfix, no Dovecot)")
    ap.add_argument("--only", default="fsync,smtp,pop3,imap,mem",
                    help="groups to run: fsync,smtp,pop3,imap,mem")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    args = ap.parse_args()
    groups = set(args.only.split(","))
    unknown = groups - {"fsync", "smtp", "pop3", "imap", "mem"}
    if unknown:
        ap.error(f"unknown groups: {','.join(sorted(unknown))}")
    build = Path(args.build)
    if not build.is_absolute():
        build = TOP / build
    sz = Sizes(os.environ.get("BENCH_QUICK") == "1")
    raise_nofile()

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    res = Results()
    base = Path(tempfile.mkdtemp(prefix="mailstack-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    started = []
    print(f"bench: {machine()}; {sz.reps} repetition(s)"
          f"{', quick' if sz.quick else ''}; in {base}", flush=True)
    try:
        users = SMTP_USERS + [IDLE_USER, POP_USER, IMAP_USER, BIG_USER]
        ours = servers.Ours(base, build, users)
        started.append(ours)
        ours.start()
        pairs = {"smtp": [ours], "pop3": [ours], "imap": [ours]}
        if not args.ours_only:
            if groups & {"smtp", "mem"}:
                pf = servers.Postfix(base, SMTP_USERS)
                started.append(pf)
                pf.start()
                pairs["smtp"].append(pf)
            if groups & {"pop3", "imap", "mem"}:
                dv = servers.Dovecot(base, [IDLE_USER, POP_USER, IMAP_USER,
                                            BIG_USER])
                started.append(dv)
                dv.start()
                pairs["pop3"].append(dv)
                pairs["imap"].append(dv)
        if "fsync" in groups:
            rate = fsync_rate(base, sz.fsync_seconds)
            res.add("fsync", "write 5 KB + fsync + rename, one at a time",
                    "files/s", "machine", rate)
        if "smtp" in groups:
            print("bench: SMTP end to end", flush=True)
            bench_smtp(sz, pairs, res)
        boxes = []
        if groups & {"pop3", "imap"}:
            pool = corpus_pool(sz.box)
            for srv in pairs["imap"]:
                n = fill_maildir(srv.maildir(POP_USER), pool)
                fill_maildir(srv.maildir(IMAP_USER), pool)
                boxes = [(IMAP_USER, n)]
                if sz.big:
                    nb = fill_maildir(srv.maildir(BIG_USER), pool,
                                      copies=sz.big // sz.box)
                    boxes.append((BIG_USER, nb))
        if "pop3" in groups:
            print("bench: POP3", flush=True)
            bench_pop3(sz, pairs, res, boxes[0][1])
        if "imap" in groups:
            print("bench: IMAP", flush=True)
            bench_imap(sz, pairs, res, boxes)
        if "mem" in groups:
            print("bench: memory", flush=True)
            bench_mem(sz, pairs, res)
    except KeyboardInterrupt:
        res.error("interrupted")
    except (clients.ClientError, RuntimeError, OSError,
            subprocess.SubprocessError) as e:
        res.error(f"{type(e).__name__}: {e}")
    finally:
        for srv in reversed(started):
            try:
                srv.stop()
            except Exception as e:          # stop the others all the same
                print(f"bench: stopping {srv.name}: {e}", file=sys.stderr)
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(res.table())
    print()
    print("Targets:", *res.targets(), sep="\n  ")
    if res.notes:
        print("\nNotes:", *res.notes, sep="\n  ")
    if res.errors:
        print(f"\nbench: {len(res.errors)} error(s):", *res.errors,
              sep="\n  ")
    if args.json:
        out = res.as_json()
        out["machine"] = machine()
        out["reps"] = sz.reps
        out["targets"] = res.targets()
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 1 if res.errors else 0


if __name__ == "__main__":
    sys.exit(main())
