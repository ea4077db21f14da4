"""mailctl user / alias: round trips, errors, hashes, and readers that pick
changes up without a restart (userdb_refresh)."""
import ctypes
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import SANITIZER_REPORT, require_binary
from test_deliver import IS_ROOT, MAIL_UID, DeliverEnv


def crypt(password, setting):
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    out = lib.crypt(password.encode(), setting.encode())
    return out.decode() if out else None


class Ctl:
    def __init__(self, build, env):
        self.bin = str(require_binary(build / "bin" / "mailctl"))
        self.env = env

    def __call__(self, *args, stdin=b"", conf=None):
        r = subprocess.run([self.bin, "-c", str(conf or self.env.conf),
                            *args], input=stdin, capture_output=True,
                           timeout=60)
        err = r.stderr.decode(errors="replace")
        assert not SANITIZER_REPORT.search(err), err
        return r.returncode, r.stdout.decode(errors="replace"), err


@pytest.fixture
def env(tmp_path, build_dir):
    e = DeliverEnv(tmp_path, build_dir)
    (tmp_path / "users").unlink()          # mailctl makes them
    (tmp_path / "aliases").unlink()
    return e


@pytest.fixture
def ctl(build_dir, env):
    return Ctl(build_dir, env)


class Reader:
    """test-userdb --reader: a long-running userdb user."""

    def __init__(self, build, conf):
        exe = require_binary(build / "tests" / "test-userdb")
        self.p = subprocess.Popen([str(exe), "--reader", str(conf)],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert self.ask(None) == "ready"

    def ask(self, line):
        if line is not None:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=10)
        err = self.p.stderr.read()
        assert not SANITIZER_REPORT.search(err), err


@pytest.fixture
def reader(build_dir, env):
    readers = []

    def start():
        r = Reader(build_dir, env.conf)
        readers.append(r)
        return r

    yield start
    for r in readers:
        r.close()


def users_text(env):
    return (env.base / "users").read_text()


def test_user_add_passwd_del_list_round_trip(env, ctl, reader):
    rc, out, err = ctl("user", "add", "Fred@Truc.Test", stdin=b"first pw\n")
    assert rc == 0, err
    assert out == f"added user fred@truc.test (Maildir {env.mail}/truc.test/" \
                  "fred)\n"
    line = users_text(env)
    assert line.startswith("fred@truc.test $y$") and line.endswith("\n")
    hash_ = line.split()[1]
    assert "first pw" not in line
    assert crypt("first pw", hash_) == hash_
    assert crypt("first pX", hash_) != hash_
    st = os.stat(env.base / "users")
    assert stat.S_IMODE(st.st_mode) == 0o640
    # The compiled table holds no hash: every service may read it; the
    # hashes are in passwd.cdb, for authd alone.
    cdb = env.state / "tables" / "users.cdb"
    assert stat.S_IMODE(os.stat(cdb).st_mode) == 0o644
    assert b"$y$" not in cdb.read_bytes()
    hashes = env.state / "auth" / "passwd.cdb"
    assert stat.S_IMODE(os.stat(hashes).st_mode) == 0o600
    md = env.maildir("fred@truc.test")
    for sub in ("new", "cur", "tmp", ".Sent/new", ".Drafts/cur",
                ".Trash/tmp", ".Junk/new", ".Archive/new"):
        assert (md / sub).is_dir(), sub
    if IS_ROOT:
        assert all(p.lstat().st_uid == MAIL_UID for p in md.rglob("*"))

    r = reader()
    assert r.ask("rcpt fred truc.test") == "user"
    rc, _, err = ctl("user", "add", "bob@truc.test", "quota=10M",
                     "forward=a@remote.test,b@remote.test", stdin=b"pw\n")
    assert rc == 0, err
    assert r.ask("refresh") == "1"
    assert r.ask("auth bob@truc.test pw") == "1"
    assert r.ask("auth BOB@truc.test pw") == "1"
    assert r.ask("auth bob@truc.test pX") == "0"
    assert r.ask("auth nobody@truc.test pw") == "0"

    rc, out, _ = ctl("user", "list")
    assert rc == 0
    assert out == ("fred@truc.test\nbob@truc.test quota=10485760 "
                   "forward=a@remote.test,b@remote.test\n")

    rc, out, err = ctl("user", "passwd", "bob@truc.test", stdin=b"new\n")
    assert rc == 0 and out == "changed the password of bob@truc.test\n", err
    assert r.ask("refresh") == "1"
    assert r.ask("auth bob@truc.test pw") == "0"
    assert r.ask("auth bob@truc.test new") == "1"
    rc, out, _ = ctl("user", "list")
    assert "bob@truc.test quota=10485760 forward=a@remote.test," in out

    rc, out, err = ctl("user", "del", "bob@truc.test")
    assert rc == 0, err
    assert "Maildir" in out and "was kept" in out
    assert env.maildir("bob@truc.test").is_dir()
    assert r.ask("refresh") == "1"
    assert r.ask("rcpt bob truc.test") == "none"
    assert r.ask("auth bob@truc.test new") == "0"
    assert r.ask("refresh") == "0"
    rc, out, _ = ctl("user", "list")
    assert out == "fred@truc.test\n"


def test_user_errors(env, ctl):
    assert ctl("user", "add", "fred@truc.test", stdin=b"pw\n")[0] == 0
    cases = [
        (("user", "add", "fred@truc.test"), b"pw\n", 65, "exists already"),
        (("user", "add", "FRED@truc.test"), b"pw\n", 65, "exists already"),
        (("user", "add", "x@elsewhere.test"), b"pw\n", 65,
         "not one of the local domains"),
        (("user", "add", "a/b@truc.test"), b"pw\n", 65, "bad address"),
        (("user", "add", ".x@truc.test"), b"pw\n", 65, "bad address"),
        (("user", "add", "x+y@truc.test"), b"pw\n", 65, "sub-address"),
        (("user", "add", '"q r"@truc.test'), b"pw\n", 65, "quoted"),
        (("user", "add", "nodomain"), b"pw\n", 65, "bad address"),
        (("user", "add", "new@truc.test"), b"", 65, "empty password"),
        (("user", "add", "new@truc.test"), b"\n", 65, "empty password"),
        (("user", "add", "new@truc.test"), b"x" * 600 + b"\n", 65,
         "longer than"),
        (("user", "add", "new@truc.test", "quota=lots"), b"pw\n", 65,
         "bad quota"),
        (("user", "add", "new@truc.test", "forward=new@truc.test"), b"pw\n",
         65, "itself"),
        (("user", "add", "new@truc.test", "colour=red"), b"pw\n", 64,
         "unknown"),
        (("user", "passwd", "ghost@truc.test"), b"pw\n", 67, "no such user"),
        (("user", "del", "ghost@truc.test"), b"", 67, "no such user"),
        (("user",), b"", 64, "usage"),
        (("user", "frob"), b"", 64, "usage"),
        (("user", "add"), b"", 64, "usage"),
        (("user", "list", "extra"), b"", 64, "usage"),
    ]
    for args, stdin, code, text in cases:
        rc, out, err = ctl(*args, stdin=stdin)
        assert rc == code, (args, rc, out, err)
        assert text in err, (args, err)
    assert [l.split()[0] for l in users_text(env).splitlines()] == \
        ["fred@truc.test"]
    assert not (env.mail / "truc.test" / "new").exists()
    # a password with a CR LF ending is the same password
    rc, _, _ = ctl("user", "add", "crlf@truc.test", stdin=b"pw2\r\n")
    assert rc == 0
    h = [l for l in users_text(env).splitlines() if l.startswith("crlf")][0]
    assert crypt("pw2", h.split()[1]) == h.split()[1]


def test_help_and_missing_tables(env, ctl, tmp_path):
    r = subprocess.run([ctl.bin, "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    for text in ("user add ADDR", "user passwd ADDR", "user del ADDR",
                 "user list", "alias add ADDR TARGET...", "alias del ADDR",
                 "alias list"):
        assert text in r.stdout
    conf = tmp_path / "nousers.conf"
    conf.write_text("domains = truc.test\nstate_dir = state\n"
                    "mail_dir = mail\n")
    rc, _, err = ctl("user", "list", conf=conf)
    assert rc == 78 and "no \"users\" table" in err
    rc, _, err = ctl("alias", "list", conf=conf)
    assert rc == 78


def test_alias_add_del_list_and_deliver_sees_it(env, ctl):
    assert ctl("user", "add", "fred@truc.test", stdin=b"pw\n")[0] == 0
    assert ctl("user", "add", "bob@truc.test", stdin=b"pw\n")[0] == 0
    rc, out, err = ctl("alias", "add", "team@Truc.Test", "fred@truc.test",
                       "BOB@truc.test,x@remote.test", "fred@truc.test")
    assert rc == 0 and out == "added alias team@truc.test\n", err
    rc, out, err = ctl("alias", "add", "@other.test", "fred@truc.test")
    assert rc == 0, err
    rc, out, err = ctl("alias", "add", "soon@truc.test", "later@truc.test")
    assert rc == 0 and "later@truc.test does not exist" in err
    rc, out, _ = ctl("alias", "list")
    assert out == ("team@truc.test fred@truc.test, BOB@truc.test, "
                   "x@remote.test\n@other.test fred@truc.test\n"
                   "soon@truc.test later@truc.test\n")
    rc, line, err = env.deliver("anyone@other.test", b"Subject: c\n\nx\n")
    assert rc == 0, line + err
    assert len(env.files("fred@truc.test")) == 1
    for args, code, text in [
            (("alias", "add", "team@truc.test", "bob@truc.test"), 65,
             "exists already"),
            (("alias", "add", "fred@truc.test", "bob@truc.test"), 65,
             "is a user"),
            (("alias", "add", "me@truc.test", "ME@truc.test"), 65,
             "its own target"),
            (("alias", "add", "me@truc.test", "not an address"), 65,
             "bad target"),
            (("alias", "add", "me@remote.test", "fred@truc.test"), 65,
             "not one of the local domains"),
            (("alias", "add", "@remote.test", "fred@truc.test"), 65,
             "not one of the local domains"),
            (("alias", "add", "me@truc.test"), 64, "usage"),
            (("alias", "del", "ghost@truc.test"), 67, "no such alias"),
            (("alias", "passwd", "team@truc.test"), 64, "usage")]:
        rc, out, err = ctl(*args)
        assert rc == code, (args, rc, err)
        assert text in err, (args, err)
    rc, _, err = ctl("user", "add", "team@truc.test", stdin=b"pw\n")
    assert rc == 65 and "is an alias" in err
    # a list too long for one table line is refused with advice
    many = [f"member{i:04d}@remote.test" for i in range(250)]
    rc, _, err = ctl("alias", "add", "big@truc.test", *many)
    assert rc == 65 and "sub-lists" in err
    rc, out, err = ctl("alias", "del", "team@truc.test")
    assert rc == 0 and out == "deleted alias team@truc.test\n", err
    rc, out, _ = ctl("alias", "list")
    assert "team@" not in out
    rc, line, _ = env.deliver("team@truc.test", b"x\n")
    assert rc == 67


def test_a_running_reader_sees_aliases_change(env, ctl, reader):
    r = reader()
    assert r.ask("rcpt list truc.test") == "none"
    assert ctl("alias", "add", "list@truc.test", "x@remote.test")[0] == 0
    assert r.ask("rcpt list truc.test") == "none"       # until refreshed
    assert r.ask("refresh") == "1"
    assert r.ask("rcpt list truc.test") == "alias"
    assert r.ask("rcpt list+tag truc.test") == "alias"
    assert r.ask("rcpt postmaster truc.test") == "user"
    assert ctl("alias", "del", "list@truc.test")[0] == 0
    assert r.ask("refresh") == "1"
    assert r.ask("rcpt list truc.test") == "none"


def test_broken_hand_edit_is_reported_and_nothing_changes(env, ctl):
    assert ctl("user", "add", "fred@truc.test", stdin=b"pw\n")[0] == 0
    with open(env.base / "users", "a") as f:
        f.write("# a hand edit\nfred@truc.test *\n")
    before = users_text(env)
    rc, _, err = ctl("user", "add", "bob@truc.test", stdin=b"pw\n")
    assert rc == 78, err
    assert f"{env.base}/users:3: duplicate key" in err
    assert ".tmp." not in err
    assert users_text(env) == before
    assert [p for p in os.listdir(env.base) if ".tmp." in p] == []


def test_parallel_adds_lose_nothing(env, ctl):
    def add(i):
        return ctl("user", "add", f"u{i}@truc.test", stdin=b"pw\n")[0]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(add, range(12))) == [0] * 12
    names = sorted(l.split()[0] for l in users_text(env).splitlines())
    assert names == sorted(f"u{i}@truc.test" for i in range(12))
