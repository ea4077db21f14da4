"""mailctl check and the command-line surface of mailctl."""
import os
import subprocess
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def mailctl(build_dir, *args, stdin=None):
    return subprocess.run([str(Path(build_dir) / "bin/mailctl"), *args],
                          input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_check_accepts_the_sample_config(build_dir):
    r = mailctl(build_dir, "-c", str(TOP / "etc/mailstack.conf"), "check")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_check_names_file_and_line_of_an_unknown_key(build_dir, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"state_dir = {tmp_path}\nmail_dir = {tmp_path}\n"
                    "# a comment\nrelay_hosts = 10.0.0.0/8\n")
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    assert f"{conf}:4: unknown key 'relay_hosts'" in r.stderr


def test_check_names_a_bad_value(build_dir, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"state_dir = {tmp_path}\nmail_dir = {tmp_path}\n"
                    "listen_smtp = 127.0.0.1:99999\n")
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    assert f"{conf}:3:" in r.stderr and "99999" in r.stderr


def test_missing_config_is_a_config_error(build_dir, tmp_path):
    r = mailctl(build_dir, "-c", str(tmp_path / "none.conf"), "check")
    assert r.returncode == 78
    assert "none.conf" in r.stderr


def test_unknown_command_and_help(build_dir):
    r = mailctl(build_dir, "-c", str(TOP / "etc/mailstack.conf"), "frobnicate")
    assert r.returncode == 64
    assert "unknown command 'frobnicate'" in r.stderr
    r = mailctl(build_dir, "--help")
    assert r.returncode == 0
    assert "check" in r.stdout and "usage: mailctl" in r.stdout
