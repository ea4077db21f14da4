"""The build, install and set-up scripts, as an administrator meets them."""
import os
import re
import stat
import subprocess
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("BUILD", "build")

# STYLE.md bans unbounded string functions and the shell.
BANNED = re.compile(
    r"\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|"
    r"scanf|sscanf|fscanf|system|popen)\s*\(")


def strip_comments_and_strings(src):
    """C source with comments and string/char literals blanked out."""
    pattern = re.compile(
        r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
        re.S)
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), src)


def c_sources():
    """Every C source of the tree: git's list, or a walk outside a checkout."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others",
                          "--exclude-standard", "*.c", "*.h"],
                         cwd=TOP, capture_output=True, text=True)
    if out.returncode == 0:
        return [TOP / p for p in out.stdout.split()]
    return [p for p in TOP.rglob("*.[ch]")
            if not p.relative_to(TOP).parts[0].startswith("build")]


def test_tree_has_no_banned_calls():
    sources = c_sources()
    assert sources, "no C sources found"
    offenders = []
    for path in sources:
        code = strip_comments_and_strings(path.read_text(errors="replace"))
        for lineno, line in enumerate(code.splitlines(), 1):
            if BANNED.search(line):
                offenders.append(f"{path.relative_to(TOP)}:{lineno}: {line.strip()}")
    assert offenders == []


def test_banned_call_check_catches_a_call():
    code = strip_comments_and_strings(
        '/* strcpy( in a comment */ x = "sprintf(" ; strcat(a, b);\n')
    assert BANNED.findall(code) == ["strcat"]


def test_install_into_destdir(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "--no-print-directory", f"BUILD={BUILD}",
                        f"DESTDIR={dest}", "PREFIX=/usr", "install"],
                       cwd=TOP, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    share = dest / "usr/share/mailstack"
    for name in ("mailstack.conf", "users", "aliases"):
        assert (share / name).is_file()
        assert (share / name).read_bytes() == (TOP / "etc" / name).read_bytes()
    assert os.access(share / "make-snakeoil", os.X_OK)
    assert (dest / "usr/share/man/man5/mailstack.conf.5").is_file()
    # Every built program is installed; the ones people type are linked
    # into sbin and resolve to the installed program.
    libexec = dest / "usr/libexec/mailstack"
    built = sorted(p.name for p in (Path(TOP / BUILD) / "bin").iterdir())
    assert "mailctl" in built
    assert sorted(p.name for p in libexec.iterdir()) == built
    link = dest / "usr/sbin/mailctl"
    assert link.is_symlink() and link.resolve() == (libexec / "mailctl").resolve()


def fake_tools(tmp_path, uid):
    """A PATH prefix where dpkg-query finds nothing and id says uid."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (bindir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bindir / "apt-get").write_text("#!/bin/sh\necho apt-get was run >&2\nexit 99\n")
    for f in bindir.iterdir():
        f.chmod(0o755)
    return f"{bindir}:{os.environ['PATH']}"


def test_deps_names_missing_packages_when_not_root(tmp_path):
    env = dict(os.environ, PATH=fake_tools(tmp_path, 1000))
    r = subprocess.run([str(TOP / "scripts/deps"), "check"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "apt-get was run" not in r.stderr
    for pkg in ("libssl-dev", "libc-ares-dev", "libcdb-dev", "python3-pytest"):
        assert pkg in r.stderr
    assert "apt-get install" in r.stderr


def test_deps_installs_as_root_and_reports_failure(tmp_path):
    env = dict(os.environ, PATH=fake_tools(tmp_path, 0),
               POLICY_RC_D=str(tmp_path / "policy-rc.d"))
    r = subprocess.run([str(TOP / "scripts/deps"), "build"], env=env,
                       capture_output=True, text=True, timeout=60)
    # The fake apt-get fails: the script must say so and fail, not go on.
    assert r.returncode != 0
    assert "apt-get was run" in r.stderr
    assert "installing:" in r.stdout
    # The temporary policy that keeps services from starting is gone again.
    assert not (tmp_path / "policy-rc.d").exists()


def test_deps_refuses_unknown_group():
    r = subprocess.run([str(TOP / "scripts/deps"), "everything"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown group" in r.stderr


def test_make_snakeoil_makes_a_usable_pair(tmp_path):
    r = subprocess.run([str(TOP / "etc/make-snakeoil"), str(tmp_path),
                        "mx.truc.test"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    subj = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout",
                           "-subject", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert "mx.truc.test" in subj
    # The key belongs to the certificate.
    pub_cert = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout",
                               "-pubkey"], capture_output=True, text=True,
                              check=True).stdout
    pub_key = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"],
                             capture_output=True, text=True, check=True).stdout
    assert pub_cert == pub_key
