"""Crash tests: kill -9 inject, smtpq, deliver and remote at random
moments while a bounded load runs; then count against a Message-ID
ledger: every message inject acknowledged is delivered to every
recipient, no stored copy is partial, and duplicates stay within what the
in-flight deliveries at the moments of the kills explain (QUEUE.md)."""
import os
import random
import re
import signal
import threading
import time

from test_queue_lib import QueueEnv, envelope, wait_for

N_MESSAGES = 200
CONCURRENCY = 20        # queue_concurrency default: in flight at a kill


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def test_kill_9_at_random_moments_loses_nothing(tmp_path, build_dir):
    seed = int(os.environ.get("QUEUE_CRASH_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    env = QueueEnv(tmp_path, build_dir)
    env.fake(sleep=[0, 0.04])
    lock = threading.Lock()
    state = {"smtpq": env.start_smtpq()}
    kills = {"smtpq": 0, "deliver": 0, "remote": 0, "inject": 0}
    stop = threading.Event()
    errors = []

    def killer():
        krng = random.Random(seed + 1)
        try:
            while not stop.is_set():
                time.sleep(krng.uniform(0.03, 0.2))
                with lock:
                    p = state["smtpq"]
                    if krng.random() < 0.2:
                        p.kill()
                        p.wait(5)
                        kills["smtpq"] += 1
                        state["smtpq"] = env.start_smtpq()
                        continue
                    kids = children(p.pid)
                    if not kids:
                        continue
                    victim = krng.choice(kids)
                    argv = cmdline(victim)
                    name = next((os.path.basename(a.decode()) for a in argv
                                 if a.endswith((b"/deliver", b"/remote"))),
                                None)
                    if name is None:
                        continue    # an inject for a notice: not ours
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills[name] += 1
                    except ProcessLookupError:
                        pass
        except Exception as e:      # surface it in the main thread
            errors.append(e)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    acked, sent = {}, {}
    rcpt_sets = [["a@example.test"], ["b@other.test", "c@remote.test"],
                 ["d@example.test", "e@example.test", "f@remote.test"],
                 ["g@far.test"]]
    try:
        for i in range(N_MESSAGES):
            msgid = f"<crash-{i}-{seed}@test>"
            rcpts = rng.choice(rcpt_sets)
            body = "".join(f"line {i} {j} {'x' * rng.randrange(80)}\n"
                           for j in range(rng.randrange(1, 200)))
            msg = (f"From: <sender@example.test>\nSubject: crash {i}\n"
                   f"Message-ID: {msgid}\n\n{body}").encode()
            sent[msgid] = (msg, rcpts)
            kill = rng.random()
            if kill < 0.05:
                status, report = env.inject(
                    msg, envelope("sender@example.test", rcpts),
                    kill_after=rng.random())
                kills["inject"] += 1
                assert status == -9 and report == ""
                continue
            status, report = env.inject(msg, envelope("sender@example.test",
                                                      rcpts))
            assert status == 0, report
            acked[msgid] = report.split()[1]
    finally:
        stop.set()
        t.join(10)
    assert not errors, errors
    with lock:
        if state["smtpq"].poll() is not None:
            state["smtpq"] = env.start_smtpq()

    # Killed deliveries wait for their retry: flush until the queue drains.
    def drained():
        if env.queue_empty():
            return True
        env.mailctl("queue", "flush")
        time.sleep(0.3)
        return False
    wait_for(drained, 60, step=0.1, what="the queue to drain")
    time.sleep(0.5)     # orphans of killed smtpqs finish their last writes

    count = {}
    for rcpt, data in env.deliveries():
        m = re.search(rb"^Message-ID: (<[^>]+>)$", data, re.M)
        assert m, data[:200]
        msgid = m.group(1).decode()
        msg, rcpts = sent[msgid]
        assert data == msg, f"partial or altered copy of {msgid} for {rcpt}"
        assert rcpt in rcpts
        count[(msgid, rcpt)] = count.get((msgid, rcpt), 0) + 1
    missing = [(m, r) for m in acked for r in sent[m][1]
               if count.get((m, r), 0) == 0]
    dups = sum(c - 1 for c in count.values())
    allowed = kills["smtpq"] * CONCURRENCY + kills["deliver"] + \
        kills["remote"] * 3
    summary = (f"seed={seed} acked={len(acked)} kills={kills} "
               f"deliveries={sum(count.values())} duplicates={dups} "
               f"allowed={allowed}")
    print(summary)
    assert missing == [], summary
    assert dups <= allowed, summary
    assert max(count.values()) <= 1 + kills["smtpq"] + kills["deliver"] + \
        kills["remote"]
    # Every failure was temporary: no bounce was ever sent.
    assert env.deliveries("sender@example.test") == []
    assert sum(kills.values()) >= 5, summary
    (tmp_path / "crash-summary.txt").write_text(summary + "\n")
    env.stop_all()
    with lock:
        if state["smtpq"].poll() is None:
            state["smtpq"].send_signal(signal.SIGTERM)
            state["smtpq"].wait(10)
    for f in tmp_path.glob("smtpq-*.out"):
        assert "Sanitizer" not in f.read_text(errors="replace"), f
