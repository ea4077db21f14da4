"""mailctl check and the command-line surface of mailctl."""
import os
import subprocess
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def mailctl(build_dir, *args, stdin=None):
    return subprocess.run([str(Path(build_dir) / "bin/mailctl"), *args],
                          input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_check_of_the_sample_config_names_what_is_missing(build_dir):
    """The sample is valid syntax; what it names does not exist in the tree."""
    conf = TOP / "etc/mailstack.conf"
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    assert f"{conf}: tls_cert/tls_key: cannot load certificate " \
        f"{TOP}/etc/tls/cert.pem" in r.stderr
    assert f"{conf}: state_dir {TOP}/etc/state: No such file" in r.stderr
    assert "mailctl: check: 3 problems" in r.stderr


def setup_site(tmp_path, users="", aliases=""):
    """A complete small site: folders, a certificate, tables."""
    (tmp_path / "state").mkdir()
    (tmp_path / "mail").mkdir()
    if os.geteuid() == 0:
        os.chown(tmp_path / "mail", 65534, 65534)
    subprocess.run([str(TOP / "etc/make-snakeoil"), str(tmp_path / "tls"),
                    "mx.truc.test"], check=True, capture_output=True)
    (tmp_path / "users").write_text(users)
    (tmp_path / "aliases").write_text(aliases)
    conf = tmp_path / "mailstack.conf"
    conf.write_text("hostname = mx.truc.test\ndomains = truc.test\n"
                    "state_dir = state\nmail_dir = mail\nusers = users\n"
                    "aliases = aliases\ntls_cert = tls/cert.pem\n"
                    "tls_key = tls/key.pem\n")
    return conf


GOOD_HASH = "$6$saltsalt$" + "x" * 86


def test_check_accepts_a_complete_site(build_dir, tmp_path):
    conf = setup_site(tmp_path, users=f"fred@truc.test {GOOD_HASH} "
                      "quota=1G\n# comment\n\nmarc@truc.test *\n",
                      aliases="postmaster@truc.test fred@truc.test\n"
                      "@truc.test marc@truc.test\n")
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_check_names_each_bad_table_line(build_dir, tmp_path):
    conf = setup_site(
        tmp_path,
        users=(f"fred@truc.test {GOOD_HASH}\n"
               f"fred@truc.test {GOOD_HASH}\n"              # 2: duplicate
               "alice@elsewhere.test *\n"                   # 3: not local
               "bob@truc.test plaintextpassword\n"          # 4: not a hash
               f"carol@truc.test {GOOD_HASH} quota=lots\n"  # 5: bad quota
               "<bad address *\n"),                         # 6: address
        aliases=("list@truc.test fred@truc.test,,\n"        # 1: targets
                 "@other.test fred@truc.test\n"))           # 2: catch-all
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    users, aliases = tmp_path / "users", tmp_path / "aliases"
    err = r.stderr
    assert f"{users}:2:" in err and "duplicate" in err
    assert f"{users}:3: 'alice@elsewhere.test' is not in a local domain" in err
    assert f"{users}:4: bob@truc.test: the password is not a crypt(3) hash" \
        in err
    assert f"{users}:5: carol@truc.test:" in err
    assert f"{users}:6: bad address" in err
    assert f"{aliases}:1: list@truc.test:" in err
    assert f"{aliases}:2: catch-all '@other.test' is not for a local domain" \
        in err
    # Nothing was compiled into the real state folder.
    assert list((tmp_path / "state").iterdir()) == []


def test_check_finds_a_key_that_is_not_the_certificates(build_dir, tmp_path):
    conf = setup_site(tmp_path)
    subprocess.run([str(TOP / "etc/make-snakeoil"), str(tmp_path / "other"),
                    "other.test"], check=True, capture_output=True)
    (tmp_path / "tls/key.pem").write_bytes(
        (tmp_path / "other/key.pem").read_bytes())
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    assert "tls_cert/tls_key: cannot load private key" in r.stderr
    assert "key values mismatch" in r.stderr


def test_check_refuses_a_mail_dir_owned_by_root(build_dir, tmp_path):
    if os.geteuid() != 0:
        return      # only root can make a root-owned folder here
    conf = setup_site(tmp_path)
    os.chown(tmp_path / "mail", 0, 0)
    r = mailctl(build_dir, "-c", str(conf), "check")
    assert r.returncode == 78
    assert "belongs to root: deliver never writes as root" in r.stderr


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
