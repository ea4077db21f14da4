"""The benchmark driver (bench/bench.py) still runs: quickest mode, ours only.

No timing is asserted here (numbers belong in bench/RESULTS.md, never in
tests). What is asserted is what would make the benchmark lie: every SMTP
case delivers exactly the copies it sent (messages x recipients, counted
as files in the Maildirs), POP3 and IMAP produced a figure for each case
(the driver itself checks STAT, EXISTS and the FETCH response counts and
reports a mismatch as an error), and the driver stopped every server it
started. Postfix and Dovecot are not needed (--ours-only).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TOP, require_binary


def test_bench_driver_quick_ours_only(build_dir, tmp_path):
    for p in ("maild", "smtpd", "inject", "smtpq", "deliver", "pop3d",
              "imapd", "mailctl"):
        require_binary(build_dir / "bin" / p)
    out = tmp_path / "bench.json"
    env = dict(os.environ, BUILD=str(build_dir), BENCH_QUICK="1",
               BENCH_REPS="1", BENCH_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, str(TOP / "bench" / "bench.py"), "--ours-only",
         "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["errors"] == []

    # 2 session counts x 2 recipient counts of 5 KB, and the 1 MB case.
    counts = res["counts"]
    assert len(counts) == 5, counts
    for c in counts:
        assert c["server"] == "ours"
        assert c["sent"] > 0 and c["delivered"] == c["sent"], c

    groups = {}
    for row in res["rows"]:
        assert set(row["values"]) <= {"ours", "machine"}, row
        assert all(v > 0 for vs in row["values"].values() for v in vs), row
        groups.setdefault(row["group"], []).append(row["case"])
    assert len(groups["smtp"]) == 5
    assert len(groups["pop3"]) == 2
    # SELECT cold, warm, warm on an unchanged folder, FLAGS,
    # ENVELOPE+BODYSTRUCTURE, BODY[], SEARCH, and the mixed workload.
    assert len(groups["imap"]) == 8, groups["imap"]
    assert len(groups["mem"]) == 4
    assert len(groups["fsync"]) == 1

    # Every process the driver started is gone: no maild left running
    # with a configuration under the driver's temporary folder.
    for line in r.stdout.splitlines():
        if line.startswith("bench:") and " in /tmp/mailstack-bench-" in line:
            base = line.rsplit(" in ", 1)[1]
            break
    else:
        raise AssertionError("the driver did not name its folder")
    left = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if base.encode() in cmd:
                left.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    assert left == []
    assert not Path(base).exists()
