"""common/io and common/tls over real sockets, through tests/tools/linesrv.

SECURITY.md rows: S1/S2 (line flags), A5 (over-long line), X2 (timeouts),
T1/P1/I1 (plaintext injected before STARTTLS is never answered inside TLS).
"""
import socket
import ssl
import time

import pytest

from conftest import require_binary


@pytest.fixture
def linesrv(build_dir, spawn, tmp_path, tls_cert):
    binary = require_binary(build_dir / "tests/tools/linesrv")

    def start(mode="plain", timeout_ms=5000, maxline=1000):
        portfile = tmp_path / f"linesrv-{mode}.port"
        argv = [binary, "-p", portfile, "-m", mode, "-t", str(timeout_ms),
                "-x", str(maxline)]
        if mode != "plain":
            argv += ["-c", tls_cert.cert, "-k", tls_cert.key]
        return spawn(argv, portfile=portfile).port

    return start


def client_context(tls_cert, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(tls_cert.cert))
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


# --- plain -------------------------------------------------------------------

def test_plain_flags(linesrv, connect):
    c = connect(linesrv())
    assert c.readstr() == "hello"
    c.send(b"crlf\r\nlf\nbare\rcr\r\nnul\x00x\r\n\r\ntab\there\\\xff\r\n")
    assert c.readstr() == "line crlf 4 crlf"
    assert c.readstr() == "line lf 2 lf"
    assert c.readstr() == "line crlf,barecr 7 bare\\rcr"
    assert c.readstr() == "line crlf,nul 5 nul\\0x"
    assert c.readstr() == "line crlf 0 "
    assert c.readstr() == "line crlf 10 tab\\there\\\\\\xff"
    c.send(b"TLSINFO\r\n")
    assert c.readstr() == "notls"
    c.send(b"last")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.readstr() == "line eof 4 last"
    assert c.at_eof()


def test_plain_overlong_line_then_normal_line(linesrv, connect):
    c = connect(linesrv(maxline=64))
    assert c.readstr() == "hello"
    c.send(b"A" * 64 + b"\r\n" + b"B" * 65 + b"\r\n")
    assert c.readstr() == "line crlf 64 " + "A" * 64
    assert c.readstr() == "toolong"
    # SECURITY A5: 1 MiB without CRLF; the tail is never read as a command.
    c.send(b"MAIL FROM:<" + b"A" * (1 << 20) + b"RCPT TO:<v@L>\r\nNOOP\r\n")
    assert c.readstr() == "toolong"
    assert c.readstr() == "line crlf 4 NOOP"
    c.send(b"QUIT\r\n")
    assert c.readstr() == "bye"
    assert c.at_eof()


@pytest.mark.parametrize("fake", [
    b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\r.\r\n", b"\r\n.\n",
    b"\r\n.\r", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n", b"\n.\r\n", b"\r\n\x00.\r\n",
])
def test_plain_fake_data_ends_are_told_apart(linesrv, connect, fake):
    """S1/S2: only "\\r\\n.\\r\\n" gives a crlf "." right after a crlf line."""
    c = connect(linesrv())
    assert c.readstr() == "hello"
    body = (b"Subject: t\r\n\r\nhi" + fake + b"MAIL FROM:<s@x>\r\n"
            b"RCPT TO:<v@L>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
    c.send(body + b"QUIT\r\n")
    replies = []
    while True:
        r = c.readstr()
        assert r != "", "connection closed before bye"
        if r == "bye":
            break
        replies.append(r)
    ends = [i for i, r in enumerate(replies)
            if r == "line crlf 1 ." and i > 0
            and replies[i - 1].startswith("line crlf ")]
    assert ends == [len(replies) - 1], replies


def test_plain_timeout_closes(linesrv, connect):
    c = connect(linesrv(timeout_ms=300))
    assert c.readstr() == "hello"
    t0 = time.monotonic()
    c.send(b"EHL")      # a partial line does not stop the clock
    assert c.readstr() == "timeout"
    assert 0.25 <= time.monotonic() - t0 < 3
    assert c.at_eof()


# --- implicit TLS --------------------------------------------------------------

@pytest.mark.parametrize("version,name", [
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
    (ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
])
def test_tls_handshake_and_tlsinfo(linesrv, connect, tls_cert, version, name):
    c = connect(linesrv("tls"))
    c.starttls(client_context(tls_cert, version))
    assert c.sock.version() == name
    assert c.readstr() == "hello"
    c.send(b"TLSINFO\r\n")
    info = c.readstr().split()
    assert info[:2] == ["tlsinfo", name]
    assert info[2] == c.sock.cipher()[0]
    if name == "TLSv1.2":
        assert info[2].startswith("ECDHE-") and ("GCM" in info[2]
                                                 or "CHACHA20" in info[2])
    c.send(b"QUIT\r\n")
    assert c.readstr() == "bye"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1,
                                     ssl.TLSVersion.TLSv1_1])
def test_tls_old_versions_refused(linesrv, connect, tls_cert, version):
    port = linesrv("tls")
    ctx = client_context(tls_cert, version)
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("the local OpenSSL cannot lower its security level")
    c = connect(port)
    with pytest.raises(ssl.SSLError) as e:
        c.starttls(ctx)
        c.readline()
    reason = e.value.reason or ""
    if reason in ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE",
                  "UNSUPPORTED_PROTOCOL") and "alert" not in str(e.value):
        pytest.skip(f"this client cannot offer {version.name}: {e.value}")
    # The client offered the old version and the server said no.
    assert reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value


def test_tls_lines_and_pipelining(linesrv, connect, tls_cert):
    c = connect(linesrv("tls", maxline=100))
    c.starttls(client_context(tls_cert))
    assert c.readstr() == "hello"
    c.send(b"a\nb\rc\r\n" + b"X" * 101 + b"\r\nok\r\n")
    assert c.readstr() == "line lf 1 a"
    assert c.readstr() == "line crlf,barecr 3 b\\rc"
    assert c.readstr() == "toolong"
    assert c.readstr() == "line crlf 2 ok"
    # 3000 pipelined lines in one write: ~150 KB of replies come back.
    c.send(b"".join(b"%050d\r\n" % i for i in range(3000)))
    for i in range(3000):
        assert c.readstr() == "line crlf 50 %050d" % i
    c.send(b"QUIT\r\n")
    assert c.readstr() == "bye"


def test_tls_handshake_timeout(linesrv, connect):
    c = connect(linesrv("tls", timeout_ms=300))
    t0 = time.monotonic()
    assert c.at_eof()   # no ClientHello: the server gives up and closes
    assert time.monotonic() - t0 < 3


# --- STARTTLS ------------------------------------------------------------------

def test_starttls_discards_injected_plaintext(linesrv, connect, tls_cert):
    """T1/P1/I1: nothing sent with STARTTLS is answered inside TLS."""
    c = connect(linesrv("starttls"))
    assert c.readstr() == "hello"
    c.send(b"TLSINFO\r\n")
    assert c.readstr() == "notls"
    c.send(b"STARTTLS\r\nINJECTED\r\n")     # one segment
    assert c.readstr() == "go"
    c.starttls(client_context(tls_cert))
    c.send(b"TLSINFO\r\n")
    first = c.readstr()
    assert "INJECTED" not in first
    info = first.split()
    assert info[0] == "tlsinfo"
    assert info[1] in ("TLSv1.2", "TLSv1.3")
    assert info[2].startswith("TLS_") or info[2].startswith("ECDHE-")
    c.send(b"STARTTLS\r\nx\r\nQUIT\r\n")
    assert c.readstr() == "already"
    assert c.readstr() == "line crlf 1 x"
    assert c.readstr() == "bye"


def test_starttls_plain_lines_before_tls(linesrv, connect, tls_cert):
    c = connect(linesrv("starttls"))
    assert c.readstr() == "hello"
    c.send(b"EHLO x\r\nSTARTTLS\r\n")
    assert c.readstr() == "line crlf 6 EHLO x"
    assert c.readstr() == "go"
    c.starttls(client_context(tls_cert))
    c.send(b"EHLO y\r\n")
    assert c.readstr() == "line crlf 6 EHLO y"
