#!/usr/bin/python3
"""profile - where our stack spends the time of one benchmark case.

Usage: bench/profile.py fsyncs
       bench/profile.py smtp [N SESSIONS RCPTS]
       bench/profile.py pop3|imap-select|imap-search|imap-envelope|
                        imap-body [N]

Starts our stack alone (as bench/bench.py does), prepares the case, and
runs it twice: once under `perf record -a -g` (the whole machine, so
that processes forked during the case are seen; the report keeps only
our programs: maild, smtpd, inject, smtpq, deliver, pop3d, imapd), and
once under `strace -f -c` attached to maild and every process under it
(system calls: counts and time). Prints the top functions by program and the system call table.
Needs perf (Debian's linux-perf) and strace; as root.

"fsyncs" instead counts who calls fsync(2) and fdatasync(2), in our
stack and in a private Postfix, for 10 messages of 2 recipients each over
one SMTP session (strace -f on every process of each server): the
durability each one gives, measured rather than read in manuals.

The perf data stays in $BENCH_PROFILE_DIR (default /tmp/mailstack-perf)
for `perf report -i DIR/perf.data`.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench                                                # noqa: E402
import clients                                              # noqa: E402
import servers                                              # noqa: E402
from servers import DOMAIN, PASSWORD                        # noqa: E402

OURS = "maild,smtpd,inject,smtpq,deliver,pop3d,imapd"
COMMANDS = {"imap-select": b"SELECT INBOX",
            "imap-search": bench.SEARCH,
            "imap-envelope": b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
            "imap-body": b"FETCH 1:* (BODY.PEEK[])"}


def workload(kind, ours, args):
    """A function that runs the case once, after what it needs is set."""
    if kind == "smtp":
        n, sessions, rcpts = (list(map(int, args)) + [300, 20, 1][len(args):])
        res = bench.Results()

        def run():
            r = bench.smtp_case(ours, n, 5 * 1024, sessions, rcpts, res,
                                "profile")
            print(f"profile: {n} messages, {sessions} sessions, {rcpts} "
                  f"rcpt: {r and round(r[0], 1)} msg/s end to end")
        return run
    n = int(args[0]) if args else 10000
    pool = bench.corpus_pool(n)
    user = bench.POP_USER if kind == "pop3" else bench.IMAP_USER
    bench.fill_maildir(ours.maildir(user), pool)
    if kind == "pop3":
        def run():
            t0 = time.monotonic()
            got, _ = clients.pop3_retrieve_all(
                ours.port["pop3"], f"{user}@{DOMAIN}", PASSWORD)
            print(f"profile: pop3 {got} msgs in "
                  f"{time.monotonic() - t0:.2f} s")
        return run
    cmd = COMMANDS[kind]
    c = bench.imap_login(ours, user)             # build the index first
    c.command(b"SELECT INBOX")
    c.logout()

    def run():
        c = bench.imap_login(ours, user)
        c.command(b"SELECT INBOX")
        t0 = time.monotonic()
        for _ in range(3):
            c.command(cmd)
        print(f"profile: 3 x {cmd.decode()}: "
              f"{(time.monotonic() - t0) / 3:.3f} s each")
        c.logout()
    return run


def count_fsyncs(build, base):
    """Print the fsync(2) calls of each program of ours and Postfix's."""
    import re
    for srv in (servers.Ours(base, build, bench.SMTP_USERS),
                servers.Postfix(base, bench.SMTP_USERS)):
        try:
            srv.start()
            time.sleep(1)
            log = base / f"{srv.name}.strace"
            st = subprocess.Popen(
                ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,execve",
                 "-o", str(log), "-p", ",".join(map(str, srv.pids()))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)
            jobs = [(b"load@example.org",
                     [b"u0@" + DOMAIN.encode(), b"u1@" + DOMAIN.encode()],
                     bench.make_message(i, 5120)) for i in range(10)]
            clients.smtp_send(srv.port["smtp"], jobs, 1)
            end = time.monotonic() + 30
            while bench.delivered(srv) < 20 and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(1)
            names = {p: Path(f"/proc/{p}/comm").read_text().strip()
                     for p in map(str, srv.pids())
                     if Path(f"/proc/{p}/comm").exists()}
            st.terminate()
            st.wait(30)
            count = {}
            for line in log.read_text().splitlines():
                m = re.match(r'(\d+)\s+(\w+)\("?([^",)]*)', line)
                if not m:
                    continue
                pid, call, arg = m.groups()
                if call == "execve":
                    names[pid] = os.path.basename(arg)
                elif call in ("fsync", "fdatasync"):
                    name = names.get(pid, "?")
                    count[name] = count.get(name, 0) + 1
            print(f"{srv.name}: {bench.delivered(srv)} of 20 delivered; "
                  f"fsyncs: {count} (total {sum(count.values())})")
        finally:
            srv.stop()


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "fsyncs":
        build = Path(os.environ.get("BUILD", "build"))
        base = Path(tempfile.mkdtemp(prefix="mailstack-bench-", dir="/tmp"))
        os.chmod(base, 0o755)
        try:
            count_fsyncs(build if build.is_absolute() else bench.TOP / build,
                         base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in ("smtp", "pop3",
                                                  *COMMANDS):
        sys.exit(__doc__.split("\n\n")[1])
    kind, args = sys.argv[1], sys.argv[2:]
    out = Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp/mailstack-perf"))
    out.mkdir(parents=True, exist_ok=True)
    build = Path(os.environ.get("BUILD", "build"))
    if not build.is_absolute():
        build = bench.TOP / build
    bench.raise_nofile()
    base = Path(tempfile.mkdtemp(prefix="mailstack-bench-", dir="/tmp"))
    os.chmod(base, 0o755)
    ours = servers.Ours(base, build, bench.SMTP_USERS + [
        bench.POP_USER, bench.IMAP_USER])
    try:
        ours.start()
        run = workload(kind, ours, args)
        run()                                       # warm up
        perf = subprocess.Popen(
            ["perf", "record", "-a", "-g", "-q", "-o",
             str(out / "perf.data")], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        run()
        perf.send_signal(2)
        perf.wait(60)
        rep = subprocess.run(
            ["perf", "report", "-i", str(out / "perf.data"), "--stdio",
             "--no-children", "--comms", OURS, "--sort", "comm,dso,sym",
             "-g", "none", "--percent-limit", "1"],
            capture_output=True, text=True, timeout=600)
        lines = [l for l in rep.stdout.splitlines()
                 if l.strip() and not l.startswith("#")]
        print("profile: perf, our processes only (% of all samples):")
        print("\n".join(lines[:40]))
        st = subprocess.Popen(
            ["strace", "-f", "-c", "-S", "time", "-o",
             str(out / "strace.txt"), "-p",
             ",".join(str(p) for p in ours.pids())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        run()
        st.terminate()
        st.wait(60)
        print("profile: system calls of maild and its children "
              "(strace -f -c, slowed by strace):")
        print("\n".join((out / "strace.txt").read_text()
                        .splitlines()[:22]))
    finally:
        ours.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
