"""make demo: the eight steps narrated end to end, twice in a row, with
nothing left running and every line fitting an 80-column terminal."""
import os
import subprocess
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not Path("/usr/sbin/dnsmasq").exists(),
    reason="dnsmasq (Debian dnsmasq-base) is not installed")


def run_demo(build_dir, **extra):
    env = dict(os.environ, BUILD=str(build_dir), **extra)
    env.pop("DEMO_KEEP", None)
    return subprocess.run(["/usr/bin/python3", str(TOP / "scripts/demo.py")],
                          env=env, capture_output=True, text=True,
                          timeout=240)


def test_demo_runs_twice_and_leaves_nothing_behind(build_dir):
    for attempt in (1, 2):
        r = run_demo(build_dir)
        out = r.stdout
        assert r.returncode == 0, (attempt, out[-3000:], r.stderr[-3000:])
        for n in ("1", "2", "3", "4", "5", "6-7", "8"):
            assert f"--- Step {n}:" in out, n
        # The protocol lines of each step, as the course shows them.
        assert "C: MAIL FROM:<fred@truc.test>" in out
        assert "S: 354 " in out and "Ok: queued as" in out
        assert "machin.test.  MX  10 mx.machin.test." in out
        assert "status=delivered" in out
        assert "S: +OK 1 " in out                     # POP3 STAT
        assert "c OK [READ-WRITE] Select completed" in out
        # mailctl trace saw the message on both hosts.
        assert out.count("as the log of this host tells it") == 2
        assert "[x] 2  the sender's client hands it to its server" in out
        assert "[x] 5  the delivery agent stores it in the mailbox" in out
        assert "Everything the demo started has stopped" in out
        assert max(len(l) for l in out.splitlines()) <= 80


def test_demo_without_dnsmasq_routes_by_transport_and_says_so(build_dir):
    r = run_demo(build_dir, DEMO_DNSMASQ="/nonexistent/dnsmasq")
    out = r.stdout
    assert r.returncode == 0, (out[-3000:], r.stderr[-3000:])
    assert "dnsmasq is not installed" in out
    assert "(no DNS here: the transport table says 127.0.0.3)" in out
    assert "MX  10" not in out
    assert "[x] 5  the delivery agent stores it in the mailbox" in out
    assert "Everything the demo started has stopped" in out
