"""deliver(8) under load: parallel deliveries and kill -9 at random points."""
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import SANITIZER_REPORT, require_binary
from test_deliver import NAME_RE, DeliverEnv, check_names, expected


def message(i, body=b""):
    return (b"Message-ID: <%d@stress.test>\nSubject: n%d\n\n" % (i, i) +
            body + b"end %d\n" % i)


def test_200_parallel_deliveries_none_lost_no_collision(tmp_path, build_dir):
    env = DeliverEnv(tmp_path, build_dir, users="fred@truc.test *\n")
    deliver = str(require_binary(build_dir / "bin" / "deliver"))

    def one(i):
        r = subprocess.run([deliver, "-c", str(env.conf), "-f", "s@remote.test",
                            "-q", f"P{i}", "fred@truc.test"],
                           input=message(i), capture_output=True, timeout=60)
        return i, r.returncode, r.stdout, r.stderr

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(200)))
    elapsed = time.monotonic() - t0
    for i, rc, out, err in results:
        assert rc == 0 and out == b"2.0.0 delivered to fred@truc.test\n", \
            (i, out, err)
        assert not SANITIZER_REPORT.search(err.decode(errors="replace"))
    files = env.files("fred@truc.test")
    assert len(files) == 200
    check_names(files)
    bases = [name.split(",")[0] for name, _ in files]
    assert len(set(bases)) == 200
    got = sorted(d for _, d in files)
    assert got == sorted(expected(message(i), "fred@truc.test")
                         for i in range(200))
    assert elapsed < 60


def test_kill_9_never_leaves_a_partial_message(tmp_path, build_dir):
    """kill -9 at random points: new/ and cur/ hold whole messages only."""
    env = DeliverEnv(tmp_path, build_dir,
                     users="fred@truc.test * quota=1G\n")
    deliver = str(require_binary(build_dir / "bin" / "deliver"))
    body = b"".join(b"line %07d of a long message body\n" % n
                    for n in range(60000))          # about 2 MB
    rng = random.Random(5)
    argv = [deliver, "-c", str(env.conf), "-f", "s@remote.test",
            "fred@truc.test"]

    # how long one delivery takes here, to spread the kills over it
    src = tmp_path / "m-timing"
    src.write_bytes(message(10**6, body))
    with open(src, "rb") as fh:
        t0 = time.monotonic()
        subprocess.run(argv, stdin=fh, capture_output=True, timeout=60)
        one = time.monotonic() - t0
    killed = finished = 0
    for i in range(40):
        data = message(i, body)
        use_pipe = i % 2 == 1
        if use_pipe:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        else:
            src = tmp_path / f"m{i}"
            src.write_bytes(data)
            with open(src, "rb") as fh:
                p = subprocess.Popen(argv, stdin=fh,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            if use_pipe:
                cut = rng.randrange(len(data))
                try:
                    p.stdin.write(data[:cut])
                    p.stdin.flush()
                except BrokenPipeError:
                    pass
            time.sleep(rng.uniform(0, one * 1.2))
            if use_pipe and p.poll() is None:
                try:
                    p.stdin.write(data[cut:])
                    p.stdin.close()
                except BrokenPipeError:
                    pass
                time.sleep(rng.uniform(0, one * 0.6))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                killed += 1
            else:
                finished += 1
        finally:
            if p.stdin is not None and not p.stdin.closed:
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass
            p.wait(timeout=30)
    assert killed >= 5, (killed, finished)
    whole = {expected(message(i, body), "fred@truc.test") for i in range(40)}
    whole.add(expected(message(10**6, body), "fred@truc.test"))
    files = env.files("fred@truc.test")
    check_names(files)          # every ,S= matches the bytes on disk
    for name, d in files:
        assert d in whole, (name, len(d))
    # the mailbox still takes mail afterwards
    rc, line, _ = env.deliver("fred@truc.test", message(999))
    assert rc == 0, line
    for name in os.listdir(env.maildir("fred@truc.test") / "new"):
        assert NAME_RE.match(name), name
    assert any(d.endswith(b"end 999\n") for _, d in env.files("fred@truc.test"))
