"""TLS on every server, through the real maild: the protocol versions and
ciphers the policy allows (common/tls.c), on the implicit-TLS ports
(submissions, pop3s, imaps) and after STARTTLS/STLS (smtp, pop3, imap);
certificates chosen by SNI from the tls_sni table; and a certificate
change picked up after SIGHUP while an older session goes on.

The client is `openssl s_client` (and Python's ssl for the SAN). So that a
refusal cannot pass vacuously, the same client settings are first shown
to complete a TLS 1.0 (and an AES-CBC) handshake with a permissive local
server; if this machine's OpenSSL cannot do that at all, those tests skip
and say why.
"""
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import warnings

import pytest

from mailstack import MailStack, wait_for

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="no openssl binary")

# listener -> the -starttls protocol of s_client, None for implicit TLS
PORTS = [("submissions", None), ("pop3s", None), ("imaps", None),
         ("smtp", "smtp"), ("pop3", "pop3"), ("imap", "imap")]
LEGACY = ["-cipher", "DEFAULT@SECLEVEL=0"]     # lets OpenSSL 3 offer TLS 1.0
NEW_RE = re.compile(r"New, (\S+), Cipher is (\S+)")
PROTO_RE = re.compile(r"^\s*Protocol\s*:\s*(\S+)", re.M)
SUBJECT_RE = re.compile(r"^subject=(.*)$", re.M)


def make_cert(d, name, tag=""):
    """A self-signed RSA certificate for name; (cert, key) paths."""
    cert, key = d / f"{name}{tag}.pem", d / f"{name}{tag}.key"
    r = subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={name}{tag}",
         "-addext", f"subjectAltName=DNS:{name}"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return cert, key


class Cert:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key


def s_client(port, *args, starttls=None, servername=None):
    """Run s_client to 127.0.0.1:port with stdin at EOF; (protocol or
    None, cipher, subject, all output)."""
    argv = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}"]
    if starttls is not None:
        argv += ["-starttls", starttls]
    if servername is not None:
        argv += ["-servername", servername]
    else:
        argv += ["-noservername"]
    r = subprocess.run(argv + list(args), input=b"", capture_output=True,
                       timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    # "New, VERSION, Cipher is NAME": VERSION is the cipher's, so the
    # protocol comes from the session's "Protocol :" line (printed when
    # there is a session to print; TLS 1.3 without tickets has none, and
    # its ciphers all say TLSv1.3).
    m = NEW_RE.search(out)
    p = PROTO_RE.search(out)
    ok = m is not None and m.group(1) != "(NONE)"
    proto = (p.group(1) if p else m.group(1)) if ok else None
    cipher = m.group(2) if ok else None
    s = SUBJECT_RE.search(out)
    return proto, cipher, s.group(1).strip() if s else None, out


class PermissiveServer:
    """A Python TLS server that takes TLS 1.0 up and any cipher, to prove
    that a client setting really offers what the stack refuses."""

    def __init__(self, cert, ciphers="ALL@SECLEVEL=0"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx.set_ciphers(ciphers)
        self.ctx.load_cert_chain(str(cert.cert), str(cert.key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.versions = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        c.settimeout(20)
        try:
            with self.ctx.wrap_socket(c, server_side=True) as s:
                self.versions.append(s.version())
        except (ssl.SSLError, OSError) as e:
            self.versions.append(f"error: {e}")

    def close(self):
        self.thread.join(25)
        self.sock.close()


def client_offers(cert, *args):
    """(protocol as the server saw it, cipher) the s_client settings
    args reach with a server that allows everything, or skip if OpenSSL
    here cannot."""
    try:
        srv = PermissiveServer(cert)
    except (ssl.SSLError, ValueError) as e:
        pytest.skip(f"this OpenSSL cannot run a TLS 1.0 server: {e}")
    proto, cipher, _, out = s_client(srv.port, *args)
    srv.close()
    if proto is None:
        pytest.skip(f"this OpenSSL cannot offer {' '.join(args)}: "
                    f"{out[-400:]}")
    assert srv.versions == [proto], (srv.versions, proto)
    return proto, cipher


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    c = {n: Cert(*make_cert(d, n)) for n in
         ("default.truc.test", "mail.alpha.test", "any.beta.test",
          "imap.beta.test")}
    return d, c


def write_sni(path, lines):
    path.write_text("# NAME CERT KEY\n" + "".join(
        f"{n} {c.cert} {c.key}\n" for n, c in lines))


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir, certs):
    d, c = certs
    tmp = tmp_path_factory.mktemp("stack")
    sni = tmp / "sni"
    write_sni(sni, [("mail.alpha.test", c["mail.alpha.test"]),
                    (".beta.test", c["any.beta.test"]),
                    ("imap.beta.test", c["imap.beta.test"])])
    s = MailStack(tmp, build_dir, tls=c["default.truc.test"],
                  listeners=[p for p, _ in PORTS],
                  extra=f"tls_sni = {sni}\n")
    s.start()
    yield s
    s.stop()


# --- protocol versions ---------------------------------------------------

@pytest.mark.parametrize("listener,starttls", PORTS)
@pytest.mark.parametrize("flag,expect", [("-tls1_2", "TLSv1.2"),
                                         ("-tls1_3", "TLSv1.3")])
def test_tls12_and_13_accepted(stack, listener, starttls, flag, expect):
    proto, cipher, subject, out = s_client(stack.port[listener], flag,
                                           starttls=starttls)
    assert proto == expect, out[-2000:]
    assert subject == "CN = default.truc.test", out[-2000:]
    # AEAD only (TLS 1.3 suites are all AEAD).
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher


@pytest.mark.parametrize("listener,starttls", PORTS)
@pytest.mark.parametrize("flag,version", [("-tls1", "TLSv1"),
                                          ("-tls1_1", "TLSv1.1")])
def test_tls10_and_11_refused(stack, certs, listener, starttls, flag,
                              version):
    _, c = certs
    # The very same client settings do speak the old version...
    proto, _ = client_offers(c["default.truc.test"], flag, *LEGACY)
    assert proto == version
    # ...and our server refuses it with a protocol_version alert.
    proto, _, _, out = s_client(stack.port[listener], flag, *LEGACY,
                                starttls=starttls)
    assert proto is None, out[-2000:]
    assert "alert protocol version" in out, out[-2000:]


@pytest.mark.parametrize("listener,starttls", [("pop3s", None),
                                               ("smtp", "smtp")])
@pytest.mark.parametrize("cipher", ["AES128-SHA", "ECDHE-RSA-AES128-SHA",
                                    "ECDHE-RSA-AES256-SHA384"])
def test_cipher_outside_policy_refused(stack, certs, listener, starttls,
                                       cipher):
    _, c = certs
    args = ["-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0"]
    proto, got = client_offers(c["default.truc.test"], *args)
    assert (proto, got) == ("TLSv1.2", cipher)
    proto, _, _, out = s_client(stack.port[listener], *args,
                                starttls=starttls)
    assert proto is None, out[-2000:]
    assert "alert handshake failure" in out, out[-2000:]
    # A policy cipher with the same client goes through.
    proto, got, _, out = s_client(stack.port[listener], "-tls1_2",
                                  "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                                  starttls=starttls)
    assert (proto, got) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"), out


# --- SNI -----------------------------------------------------------------

SNI_CASES = [
    ("mail.alpha.test", "mail.alpha.test"),     # exact
    ("MAIL.Alpha.Test", "mail.alpha.test"),     # case does not matter
    ("pop.beta.test", "any.beta.test"),         # .suffix
    ("a.b.beta.test", "any.beta.test"),         # any depth
    ("imap.beta.test", "imap.beta.test"),       # exact beats suffix
    ("beta.test", "default.truc.test"),         # .suffix is not the name
    ("unknown.example", "default.truc.test"),   # unknown: the default
    (None, "default.truc.test"),                # no SNI: the default
]


@pytest.mark.parametrize("listener,starttls", PORTS)
def test_sni_picks_certificate(stack, listener, starttls):
    for name, want in SNI_CASES:
        for flag in ("-tls1_2", "-tls1_3"):
            proto, _, subject, out = s_client(
                stack.port[listener], flag, starttls=starttls,
                servername=name)
            assert proto is not None, (name, out[-2000:])
            assert subject == f"CN = {want}", (name, flag, subject)


def peer_san(port, name, certs):
    """The subjectAltName a verifying Python client sees on an implicit
    TLS port when it sends SNI name."""
    d, _ = certs
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    for pem in d.glob("*.pem"):
        ctx.load_verify_locations(str(pem))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            return [v for k, v in s.getpeercert()["subjectAltName"]
                    if k == "DNS"]


def test_sni_san_seen_by_python_client(stack, certs):
    for listener in ("submissions", "pop3s", "imaps"):
        port = stack.port[listener]
        assert peer_san(port, "mail.alpha.test", certs) == \
            ["mail.alpha.test"]
        assert peer_san(port, "smtp.beta.test", certs) == ["any.beta.test"]
        assert peer_san(port, "other.example", certs) == \
            ["default.truc.test"]


# --- configuration errors and mailctl check ------------------------------

def test_mailctl_check_validates_sni(tmp_path, build_dir, certs):
    _, c = certs
    sni = tmp_path / "sni"
    s = MailStack(tmp_path, build_dir, tls=c["default.truc.test"],
                  listeners=["pop3s"], extra=f"tls_sni = {sni}\n")
    s.state.mkdir(exist_ok=True)
    write_sni(sni, [("mail.alpha.test", c["mail.alpha.test"])])
    r = s.mailctl("check", check=False)
    assert r.returncode == 0, r.stderr
    # A key that belongs to another certificate, an unreadable file.
    wrong = Cert(c["mail.alpha.test"].cert, c["any.beta.test"].key)
    missing = Cert(tmp_path / "nope.pem", c["any.beta.test"].key)
    write_sni(sni, [("mail.alpha.test", wrong), (".beta.test", missing)])
    r = s.mailctl("check", check=False)
    assert r.returncode == 78, r.stderr
    assert re.search(rf"^{re.escape(str(sni))}:2: mail\.alpha\.test: .*"
                     r"(key values mismatch|does not match)", r.stderr,
                     re.M), r.stderr
    assert re.search(rf"^{re.escape(str(sni))}:3: \.beta\.test: cannot "
                     rf"load certificate {re.escape(str(missing.cert))}",
                     r.stderr, re.M), r.stderr
    # A bad line: FILE:LINE and why.
    sni.write_text("mail.alpha.test only-a-cert.pem\n")
    r = s.mailctl("check", check=False)
    assert r.returncode == 78
    assert f"{sni}:1: expected 'NAME CERT KEY'" in r.stderr
    # tls_sni without a default certificate does not load at all.
    s.tls = None
    s.port = {}
    s.write_config()
    r = s.mailctl("check", check=False)
    assert r.returncode != 0
    assert "tls_sni needs tls_cert and tls_key" in r.stderr + r.stdout


def test_server_with_bad_sni_table_refuses_tls(tmp_path, build_dir, certs):
    """A broken table is a configuration error: the implicit-TLS port
    closes (pop3d logs FILE:LINE), nothing is served with a wrong cert."""
    _, c = certs
    sni = tmp_path / "sni"
    sni.write_text("good.test x y\nbad_name z w\n")
    s = MailStack(tmp_path, build_dir, tls=c["default.truc.test"],
                  listeners=["pop3s"], extra=f"tls_sni = {sni}\n")
    s.start()
    try:
        proto, _, _, out = s_client(s.port["pop3s"], "-tls1_2")
        assert proto is None, out[-2000:]
        assert wait_for(lambda: f"{sni}:2: bad name 'bad_name'"
                        in s.log_text(), timeout=10), s.log_text()
    finally:
        s.stop()


# --- reload ----------------------------------------------------------------

def test_reload_new_certificates_old_session_kept(tmp_path, build_dir,
                                                  certs):
    d = tmp_path / "tls"
    d.mkdir()
    dflt = Cert(*make_cert(d, "default.truc.test", "-v1"))
    alpha1 = Cert(*make_cert(d, "mail.alpha.test", "-v1"))
    live = Cert(d / "live.pem", d / "live.key")       # tls_cert/tls_key
    shutil.copy(dflt.cert, live.cert)
    shutil.copy(dflt.key, live.key)
    sni = d / "sni"
    write_sni(sni, [("mail.alpha.test", alpha1)])
    s = MailStack(tmp_path, build_dir, tls=live, listeners=["pop3s",
                                                            "imap"],
                  extra=f"tls_sni = {sni}\n")
    s.start()
    try:
        pop = s.port["pop3s"]
        assert s_client(pop, servername=None)[2] == \
            "CN = default.truc.test-v1"
        assert s_client(pop, servername="mail.alpha.test")[2] == \
            "CN = mail.alpha.test-v1"

        # A session opened before the reload (STARTTLS on imap).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", s.port["imap"]),
                                       timeout=10)
        f = raw.makefile("rb")
        assert f.readline().startswith(b"* OK")
        raw.sendall(b"a STARTTLS\r\n")
        assert f.readline().startswith(b"a OK")
        old = ctx.wrap_socket(raw, server_hostname="mail.alpha.test")
        fo = old.makefile("rb")
        old.sendall(b"b NOOP\r\n")
        assert fo.readline().startswith(b"b OK")

        # New files in place (the default replaced where it lies, the
        # table pointing to a new pair), then SIGHUP.
        dflt2 = Cert(*make_cert(d, "default.truc.test", "-v2"))
        alpha2 = Cert(*make_cert(d, "mail.alpha.test", "-v2"))
        beta2 = Cert(*make_cert(d, "mail.beta.test", "-v2"))
        shutil.copy(dflt2.cert, live.cert)
        shutil.copy(dflt2.key, live.key)
        write_sni(sni, [("mail.alpha.test", alpha2),
                        (".beta.test", beta2)])
        s.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "event=reload status=ok" in s.log_text()
                        + s.stderr(), timeout=10), s.stderr()

        assert s_client(pop, servername=None)[2] == \
            "CN = default.truc.test-v2"
        assert s_client(pop, servername="mail.alpha.test")[2] == \
            "CN = mail.alpha.test-v2"
        assert s_client(pop, servername="x.beta.test")[2] == \
            "CN = mail.beta.test-v2"

        # The old session still works, on its old certificate.
        old.sendall(b"c NOOP\r\n")
        assert fo.readline().startswith(b"c OK")
        der = old.getpeercert(binary_form=True)
        assert der == ssl.PEM_cert_to_DER_cert(alpha1.cert.read_text())
        old.sendall(b"d LOGOUT\r\n")
        assert fo.readline().startswith(b"* BYE")
        old.close()
    finally:
        s.stop()
