"""remote(8) against scripted SMTP servers, with dnsmasq serving real MX
records (issue 6, SECURITY.md T3, T4, R1, R2, R3).

Each test runs remote once on a message and an envelope, the way smtpq
does, and checks the result lines (one per recipient, in order), what the
scripted server saw, and the log. Scenario domains: sN.test has one MX,
mx.sN.test, at address N of this run's loopback network (NET, see
test_remote_fixture.py); a few domains have richer records. Servers listen
on port 25 (root; these tests skip otherwise) except where a transport or
relayhost names another port.
"""
import os
import re
import time

import pytest

from test_remote_fixture import (
    DROP, HANG, NEED_DNSMASQ, NEED_ROOT, Dnsmasq, FakeDNS, FakeSMTP,
    RemoteConf, a_rdata, free_port, ip, make_ca_and_cert, mx_rdata, rr,
    run_remote)

pytestmark = [NEED_DNSMASQ, NEED_ROOT]


def records():
    r = []
    for n in range(20, 90):
        r += [f"--mx-host=s{n}.test,mx.s{n}.test,10",
              f"--host-record=mx.s{n}.test,{ip(n)}"]
    r += [
        # MX order and fallback: refused, 421, accepted, never reached
        "--mx-host=order.test,mx1.order.test,10",
        "--mx-host=order.test,mx2.order.test,20",
        "--mx-host=order.test,mx3.order.test,30",
        "--mx-host=order.test,mx4.order.test,40",
        f"--host-record=mx1.order.test,{ip(11)}",
        f"--host-record=mx2.order.test,{ip(12)}",
        f"--host-record=mx3.order.test,{ip(13)}",
        f"--host-record=mx4.order.test,{ip(14)}",
        # no MX: the domain's own address
        f"--host-record=implicit.test,{ip(15)}",
        # RFC 7505
        "--mx-host=nullmx.test,.,0",
        # an MX that is a CNAME
        "--mx-host=cnmx.test,alias.cnmx.test,10",
        "--cname=alias.cnmx.test,mx.s30.test",
        # IPv6: an IPv4-mapped AAAA (still 127/8), and v6-then-v4
        "--mx-host=v6.test,mx.v6.test,10",
        f"--host-record=mx.v6.test,::ffff:{ip(31)}",
        "--mx-host=dual.test,mx.dual.test,10",
        f"--host-record=mx.dual.test,{ip(33)},::ffff:{ip(32)}",
        # 4xx to MAIL goes on to the next MX; 5xx to RCPT does not
        "--mx-host=mailnext.test,mx.s24.test,10",
        "--mx-host=mailnext.test,mx.s25.test,20",
        "--mx-host=rcptnext.test,mx.s26.test,10",
        "--mx-host=rcptnext.test,mx.s27.test,20",
        "--mx-host=g5next.test,mx.s28.test,10",
        "--mx-host=g5next.test,mx.s29.test,20",
        # loops back to ourselves (R3)
        "--mx-host=selfname.test,mx.sender.test,10",
        "--mx-host=selflow.test,mx.sender.test,10",
        "--mx-host=selflow.test,mx.s37.test,5",
        "--mx-host=selfhigh.test,mx.sender.test,5",
        "--mx-host=selfhigh.test,mx.s38.test,10",
        # a transport entry wins over this MX
        "--mx-host=trans.test,mx.trans.test,10",
        f"--host-record=mx.trans.test,{ip(41)}",
    ]
    return r


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = Dnsmasq(tmp_path_factory.mktemp("dns"), records())
    yield d
    d.stop()


@pytest.fixture
def servers():
    """servers(ip, **kw) -> FakeSMTP; all stopped at teardown."""
    made = []

    def make(addr, port=25, **kw):
        s = FakeSMTP(addr, port, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def conf(tmp_path, dns):
    return lambda extra="", **kw: RemoteConf(tmp_path, dns.port, extra,
                                             **kw)


def tls_pair(tls_cert):
    return (tls_cert.cert, tls_cert.key)


# --- delivery ------------------------------------------------------------------

def test_delivers_over_starttls_with_pipelining(conf, servers, tls_cert,
                                                 build_dir):
    srv = servers(ip(20), tls=tls_pair(tls_cert),
                  caps=("PIPELINING", "STARTTLS", "8BITMIME", "SIZE 100000",
                        "ENHANCEDSTATUSCODES"))
    c = conf()
    r = run_remote(build_dir, c, ["marc@s20.test", "anne@s20.test"])
    assert r.kinds == ["K", "K"], r
    assert r.codes() == ["2.0.0", "2.0.0"], r
    assert f"mx.s20.test[{ip(20)}] said: 250 2.0.0 Ok: queued" in \
        r.lines[0]
    (s,) = srv.sessions
    assert s.tls
    # EHLO again inside TLS; the whole transaction inside TLS.
    assert [l.split()[0] for l in s.lines] == [
        "EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert s.tls_lines[0].startswith("EHLO")
    assert s.tls_lines[1].startswith("MAIL FROM:<sender@sender.test>")
    assert "SIZE=" in s.tls_lines[1]
    assert s.batched, "PIPELINING offered: RCPT sent with MAIL"
    assert s.messages == [b"Subject: t\r\n\r\nhello\r\n"]
    assert not s.bad_data
    log = c.log_text()
    assert re.search(r"step=3 event=tls peer=\S+ tls=\"TLSv1\.[23] \S+\" "
                     r"verified=no", log), log
    assert "event=result to=<marc@s20.test> status=sent" in log
    assert "qid=REMOTETEST" in log


def test_mx_order_and_fallback(conf, servers, build_dir):
    # mx1 (10): nothing listens; mx2 (20): 421; mx3 (30): takes it;
    # mx4 (40) is never reached.
    s2 = servers(ip(12), replies={"greeting": "421 4.3.2 busy"})
    s3 = servers(ip(13))
    s4 = servers(ip(14))
    c = conf()
    r = run_remote(build_dir, c, ["u@order.test"])
    assert r.kinds == ["K"], r
    assert "mx3.order.test" in r.lines[0]
    assert len(s2.sessions) == 1 and s2.sessions[0].lines == ["QUIT"]
    assert len(s3.sessions) == 1 and s3.messages()
    assert s4.sessions == []
    log = c.log_text()
    assert "hosts=\"mx1.order.test/10 mx2.order.test/20 mx3.order.test/30 " \
        "mx4.order.test/40\"" in log, log
    order = [m.group(1) for m in re.finditer(
        r"event=connect peer=(mx\d)\.order\.test", log)]
    assert order == ["mx2", "mx3"], log     # mx1 refused before connect
    assert "cannot connect to mx1.order.test" in log


def test_all_mx_down_is_temporary(conf, build_dir):
    c = conf()
    r = run_remote(build_dir, c, ["a@s21.test", "b@s21.test"])
    assert r.kinds == ["Z", "Z"], r
    assert r.codes() == ["4.4.1", "4.4.1"], r


def test_implicit_mx(conf, servers, build_dir):
    srv = servers(ip(15))
    c = conf()
    r = run_remote(build_dir, c, ["u@implicit.test"])
    assert r.kinds == ["K"], r
    assert srv.messages()
    assert "route=implicit-mx" in c.log_text()


def test_null_mx_is_permanent_5_1_10(conf, build_dir):
    c = conf()
    r = run_remote(build_dir, c, ["u@nullmx.test", "v@nullmx.test"])
    assert r.kinds == ["D", "D"], r
    assert r.codes() == ["5.1.10", "5.1.10"], r
    assert "null MX" in r.lines[0]
    assert "event=connect" not in c.log_text()


def test_nxdomain_is_permanent(conf, build_dir):
    c = conf()
    r = run_remote(build_dir, c, ["u@no-such-domain.test"])
    assert r.kinds == ["D"], r
    assert r.codes() == ["5.1.2"], r


def test_mx_pointing_at_a_cname(conf, servers, build_dir):
    srv = servers(ip(30))
    r = run_remote(build_dir, conf(), ["u@cnmx.test"])
    assert r.kinds == ["K"], r
    assert srv.messages()


def test_ipv6_address_is_used(conf, servers, build_dir):
    # AAAA ::ffff:NET.31, an IPv4-mapped address: the connection is made
    # over an AF_INET6 socket and still stays on 127/8.
    srv = servers(ip(31))
    c = conf()
    r = run_remote(build_dir, c, ["u@v6.test"])
    assert r.kinds == ["K"], r
    assert srv.messages()
    assert f"ip=::ffff:{ip(31)}" in c.log_text()


def test_ipv6_first_then_ipv4(conf, servers, build_dir):
    srv = servers(ip(33))       # nothing on the AAAA's address
    c = conf()
    r = run_remote(build_dir, c, ["u@dual.test"])
    assert r.kinds == ["K"], r
    assert srv.messages()
    log = c.log_text()
    assert log.index(f"[::ffff:{ip(32)}]") < log.index(f"ip={ip(33)}"), log


# --- DNS failures -----------------------------------------------------------------

def test_dns_server_down_is_temporary(tmp_path, build_dir):
    c = RemoteConf(tmp_path, free_port(kind=__import__("socket").SOCK_DGRAM))
    t0 = time.monotonic()
    r = run_remote(build_dir, c, ["u@s20.test"])
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.3"], r
    assert time.monotonic() - t0 < 30


def test_dns_timeout_is_temporary(tmp_path, build_dir):
    dns = FakeDNS(lambda name, qtype: "silent")
    try:
        c = RemoteConf(tmp_path, dns.port)
        t0 = time.monotonic()
        r = run_remote(build_dir, c, ["u@s20.test"])
        took = time.monotonic() - t0
    finally:
        dns.stop()
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.3"], r
    assert "timeout" in r.lines[0].lower() or "timed out" in r.lines[0], r
    assert took < 30


def test_servfail_is_temporary(tmp_path, build_dir):
    dns = FakeDNS(lambda name, qtype: "servfail")
    try:
        r = run_remote(build_dir, RemoteConf(tmp_path, dns.port),
                       ["u@s20.test"])
    finally:
        dns.stop()
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.3"], r


def test_malformed_mx_record_is_skipped(tmp_path, servers, build_dir):
    srv = servers(ip(34))

    def answer(name, qtype):
        if name == "bad.test" and qtype == 15:
            return [rr(name, 15, b"\x07"),                 # 1-octet rdata
                    rr(name, 15, mx_rdata(20, "mx.bad.test"))]
        if name == "mx.bad.test" and qtype == 1:
            return [rr(name, 1, a_rdata(ip(34)))]
        return []
    dns = FakeDNS(answer)
    try:
        c = RemoteConf(tmp_path, dns.port)
        r = run_remote(build_dir, c, ["u@bad.test"])
    finally:
        dns.stop()
    assert r.kinds == ["K"], r
    assert srv.messages()
    assert "event=mx-malformed" in c.log_text()


def test_only_malformed_or_ip_mx_records(tmp_path, build_dir):
    def answer(name, qtype):
        if qtype == 15 and name == "ipmx.test":
            return [rr(name, 15, mx_rdata(10, ip(34)))]    # an IP as MX
        if qtype == 15 and name == "onebyte.test":
            return [rr(name, 15, b"\x00")]
        return []
    dns = FakeDNS(answer)
    try:
        c = RemoteConf(tmp_path, dns.port)
        r1 = run_remote(build_dir, c, ["u@ipmx.test"])
        r2 = run_remote(build_dir, c, ["u@onebyte.test"])
    finally:
        dns.stop()
    # Never the implicit MX while MX records exist; try again later.
    assert r1.kinds == ["Z"] and r1.codes() == ["4.4.4"], r1
    assert r2.kinds == ["Z"] and r2.codes() == ["4.4.4"], r2


def test_cname_loop_is_temporary(tmp_path, build_dir):
    def answer(name, qtype):
        return [rr("loop.test", 5, b"\x01b\x04loop\x04test\x00"),
                rr("b.loop.test", 5, b"\x04loop\x04test\x00")]
    dns = FakeDNS(answer)
    try:
        r = run_remote(build_dir, RemoteConf(tmp_path, dns.port),
                       ["u@loop.test"])
    finally:
        dns.stop()
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.3"], r


# --- replies at each stage -------------------------------------------------------------

@pytest.mark.parametrize("greeting,kind,code", [
    ("421 4.3.2 too busy", "Z", "4.3.2"),
    ("554 5.7.1 go away", "D", "5.7.1"),
])
def test_greeting_refusal(conf, servers, build_dir, greeting, kind, code):
    srv = servers(ip(22), replies={"greeting": greeting})
    r = run_remote(build_dir, conf(), ["u@s22.test"])
    assert r.kinds == [kind], r
    assert r.codes() == [code], r
    assert "as its greeting" in r.lines[0]
    assert srv.sessions[0].lines == ["QUIT"]


def test_5xx_greeting_then_next_mx(conf, servers, build_dir):
    servers(ip(28), replies={"greeting": "554 5.7.1 not here"})
    ok = servers(ip(29))
    r = run_remote(build_dir, conf(), ["u@g5next.test"])
    assert r.kinds == ["K"], r
    assert ok.messages()


def test_mail_4xx_goes_to_next_mx(conf, servers, build_dir):
    first = servers(ip(24), replies={"MAIL": "451 4.3.0 later"})
    second = servers(ip(25))
    r = run_remote(build_dir, conf(), ["u@mailnext.test"])
    assert r.kinds == ["K"], r
    assert first.messages() == [] and second.messages()


def test_mail_5xx_is_permanent(conf, servers, build_dir):
    servers(ip(23), replies={"MAIL": "553 5.1.8 bad sender"})
    r = run_remote(build_dir, conf(), ["a@s23.test", "b@s23.test"])
    assert r.kinds == ["D", "D"], r
    assert r.codes() == ["5.1.8", "5.1.8"], r
    assert "in reply to MAIL FROM" in r.lines[0]


def test_partial_rcpt_failure(conf, servers, build_dir):
    def rcpt(addr):
        return {"no@s40.test": "550 5.1.1 no such user",
                "full@s40.test": "452 4.2.2 mailbox full"}.get(
                    addr, "250 2.1.5 ok")
    srv = servers(ip(40), replies={"RCPT": rcpt})
    c = conf()
    r = run_remote(build_dir, c, ["yes@s40.test", "no@s40.test",
                                  "full@s40.test", "also@s40.test"])
    assert r.kinds == ["K", "D", "Z", "K"], r
    assert r.codes() == ["2.0.0", "5.1.1", "4.2.2", "2.0.0"], r
    assert "550 5.1.1 no such user (in reply to RCPT TO)" in r.lines[1]
    assert len(srv.messages()) == 1
    log = c.log_text()
    assert "to=<no@s40.test> status=bounced" in log
    assert "to=<full@s40.test> status=deferred" in log


def test_rcpt_5xx_never_tries_the_next_mx(conf, servers, build_dir):
    servers(ip(26), replies={"RCPT": "550 5.1.1 unknown"})
    second = servers(ip(27))
    r = run_remote(build_dir, conf(), ["u@rcptnext.test"])
    assert r.kinds == ["D"], r
    assert second.sessions == []


@pytest.mark.parametrize("stage,reply,kind", [
    ("DATA", "451 4.3.0 not now", "Z"),
    ("DATA", "554 5.6.0 no thanks", "D"),
    ("DOT", "452 4.3.1 disk full", "Z"),
    ("DOT", "554 5.7.1 spam", "D"),
])
def test_data_and_dot_refusals(conf, servers, build_dir, stage, reply, kind):
    srv = servers(ip(41 + ("DATA", "DOT").index(stage)),
                  replies={stage: reply, "RCPT": lambda a:
                           "550 5.1.1 no" if a.startswith("bad") else
                           "250 ok"})
    dom = f"s{41 + ('DATA', 'DOT').index(stage)}.test"
    r = run_remote(build_dir, conf(), [f"a@{dom}", f"bad@{dom}",
                                       f"b@{dom}"])
    assert r.kinds == [kind, "D", kind], r
    assert r.codes()[0] == reply.split()[1], r
    assert r.codes()[1] == "5.1.1", r
    if stage == "DATA":
        assert srv.messages() == []


def test_helo_fallback_and_no_pipelining(conf, servers, build_dir):
    srv = servers(ip(43), replies={"EHLO": "502 5.5.2 what"},
                  mail_delay=0.3)
    r = run_remote(build_dir, conf(), ["u@s43.test", "v@s43.test"])
    assert r.kinds == ["K", "K"], r
    (s,) = srv.sessions
    assert [l.split()[0] for l in s.lines[:2]] == ["EHLO", "HELO"]
    assert "SIZE=" not in s.lines[2]
    assert s.batched is False, "no PIPELINING: one command at a time"


# --- T3, T4: STARTTLS ---------------------------------------------------------------

def test_t3_starttls_response_injection(conf, servers, tls_cert, build_dir):
    srv = servers(ip(44), tls=tls_pair(tls_cert),
                  caps=("STARTTLS", "8BITMIME"),
                  caps_tls=("8BITMIME",),
                  replies={"STARTTLS":
                           b"220 Ready\r\n250-evil\r\n250 AUTH PLAIN\r\n"})
    c = conf()
    r = run_remote(build_dir, c, ["u@s44.test"])
    assert r.kinds == ["K"], r
    (s,) = srv.sessions
    # The early lines were dropped: EHLO again inside TLS, then MAIL.
    assert [l.split()[0] for l in s.tls_lines][:2] == ["EHLO", "MAIL"]
    assert not any(l.startswith("AUTH") for l in s.lines)
    assert len(s.messages) == 1
    assert re.search(r"event=starttls-injection peer=\S+ discarded=\d+",
                     c.log_text()), c.log_text()


def policy_conf(conf, tmp_path, lines, ca=None):
    p = tmp_path / "tls_policy"
    p.write_text("".join(f"{d} {w}\n" for d, w in lines))
    extra = f"tls_policy = {p}\n"
    if ca is not None:
        extra += f"remote_tls_ca_file = {ca}\n"
    return conf(extra)


def test_t4_encrypt_without_starttls_defers(conf, servers, tmp_path,
                                            build_dir):
    srv = servers(ip(45), caps=("PIPELINING", "8BITMIME"))
    c = policy_conf(conf, tmp_path, [("s45.test", "encrypt")])
    r = run_remote(build_dir, c, ["u@s45.test"])
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.7.4"], r
    assert not any(l.startswith("MAIL") for l in srv.sessions[0].lines)


def test_t4_starttls_454_defers(conf, servers, tmp_path, tls_cert,
                                build_dir):
    srv = servers(ip(46), tls=tls_pair(tls_cert),
                  caps=("STARTTLS", "8BITMIME"),
                  replies={"STARTTLS": "454 4.7.0 TLS not available"})
    c = policy_conf(conf, tmp_path, [(".s46.test", "require"),
                                     ("s46.test", "require")])
    r = run_remote(build_dir, c, ["u@s46.test"])
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.7.4"], r
    assert not any(l.startswith("MAIL") for l in srv.sessions[0].lines)


def test_require_with_a_verified_certificate(conf, servers, tmp_path,
                                             build_dir):
    ca, cert, key = make_ca_and_cert(tmp_path, ["mx.s47.test"])
    srv = servers(ip(47), tls=(cert, key),
                  caps=("STARTTLS", "PIPELINING", "8BITMIME"))
    c = policy_conf(conf, tmp_path, [("s47.test", "require")], ca=ca)
    r = run_remote(build_dir, c, ["u@s47.test"])
    assert r.kinds == ["K"], r
    assert srv.sessions[0].tls and srv.messages()
    assert "verified=yes" in c.log_text()
    assert "tls=require" in c.log_text()


def test_require_refuses_a_certificate_for_another_name(conf, servers,
                                                       tmp_path, build_dir):
    ca, cert, key = make_ca_and_cert(tmp_path, ["mx.elsewhere.test"])
    srv = servers(ip(48), tls=(cert, key), caps=("STARTTLS", "8BITMIME"))
    c = policy_conf(conf, tmp_path, [("s48.test", "require")], ca=ca)
    r = run_remote(build_dir, c, ["u@s48.test"])
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.7.5"], r
    # Never a plaintext retry, never MAIL.
    assert len(srv.sessions) == 1
    assert not any(l.startswith("MAIL") for l in srv.sessions[0].lines)


def test_opportunistic_tls_failure_retries_in_plaintext(conf, servers,
                                                        build_dir):
    # STARTTLS offered and accepted, but no TLS behind it.
    srv = servers(ip(49), caps=("STARTTLS", "8BITMIME"),
                  replies={"STARTTLS": lambda _: "220 2.0.0 go"})
    c = conf()
    r = run_remote(build_dir, c, ["u@s49.test"])
    assert r.kinds == ["K"], r
    assert len(srv.sessions) == 2
    assert "STARTTLS" not in srv.sessions[1].lines
    assert srv.sessions[1].messages
    assert "retry=plaintext" in c.log_text()


def test_policy_none_never_starttls(conf, servers, tmp_path, tls_cert,
                                   build_dir):
    srv = servers(ip(50), tls=tls_pair(tls_cert),
                  caps=("STARTTLS", "8BITMIME"))
    c = policy_conf(conf, tmp_path, [("s50.test", "none")])
    r = run_remote(build_dir, c, ["u@s50.test"])
    assert r.kinds == ["K"], r
    assert "STARTTLS" not in srv.sessions[0].lines


def test_bad_policy_word_defers(conf, tmp_path, build_dir):
    c = policy_conf(conf, tmp_path, [("s51.test", "dane")])
    r = run_remote(build_dir, c, ["u@s51.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.3.5"], r


# --- timeouts and broken connections (R3) ------------------------------------------------

def test_server_that_never_answers(conf, servers, build_dir):
    servers(ip(52), replies={"greeting": HANG})
    t0 = time.monotonic()
    r = run_remote(build_dir, conf(), ["u@s52.test"])
    took = time.monotonic() - t0
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.2"], r
    assert "timed out" in r.lines[0]
    assert took < 30


def test_one_byte_at_a_time_is_bounded(conf, servers, build_dir):
    # 2 s per octet: each read succeeds within the 5 s timeout, but the
    # greeting as a whole must come within it too.
    servers(ip(53), trickle=2.0,
            replies={"greeting": "220 " + "x" * 40})
    t0 = time.monotonic()
    r = run_remote(build_dir, conf(), ["u@s53.test"])
    assert r.kinds == ["Z"], r
    assert "timed out" in r.lines[0]
    assert time.monotonic() - t0 < 20


def test_rcpt_hang_defers(conf, servers, build_dir):
    servers(ip(54), replies={"RCPT": HANG})
    r = run_remote(build_dir, conf(), ["u@s54.test", "v@s54.test"])
    assert r.kinds == ["Z", "Z"], r


def test_drop_in_the_middle_of_data(conf, servers, build_dir):
    srv = servers(ip(55), data_drop=3000)
    body = b"Subject: big\n\n" + b"line of text\n" * 2000
    r = run_remote(build_dir, conf(), ["u@s55.test"], message=body)
    assert r.kinds == ["Z"], r
    assert r.codes() == ["4.4.2"], r
    assert srv.messages() == []


def test_drop_after_the_dot(conf, servers, build_dir):
    servers(ip(56), replies={"DOT": DROP})
    r = run_remote(build_dir, conf(), ["u@s56.test"])
    assert r.kinds == ["Z"], r
    assert "may have been delivered" in r.lines[0]


# --- R1: malformed replies ------------------------------------------------------------------

@pytest.mark.parametrize("ehlo,kind", [
    (b"250-a\r\n250\r\n", "K"),
    (b"250 2.0.0\r\n", "K"),
    (b"25\r\n", "Z"),
    (b"2500 x\r\n", "Z"),
    (b"250-x\r\n" * 100000, "Z"),
    (b"250 " + b"a" * 10240 + b"\r\n", "Z"),
    (b"250-a\r\n251 b\r\n", "Z"),
    (b"250 a\x00b\r\n", "Z"),
], ids=["continuation-then-bare", "status-only", "short", "four-digits",
        "100000-lines", "10KB-line", "code-change", "nul"])
def test_r1_malformed_ehlo_replies(conf, servers, build_dir, ehlo, kind):
    srv = servers(ip(57), replies={"EHLO": ehlo})
    t0 = time.monotonic()
    r = run_remote(build_dir, conf(), ["u@s57.test"])
    assert r.kinds == [kind], r
    if kind == "Z":
        assert r.codes() == ["4.5.0"], r
        assert srv.messages() == []
    assert time.monotonic() - t0 < 30


def test_r1_malformed_rcpt_reply(conf, servers, build_dir):
    servers(ip(58), replies={"RCPT": "2.5.0 ok"})
    r = run_remote(build_dir, conf(), ["u@s58.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.5.0"], r


# --- R2 and the message ----------------------------------------------------------------

def test_r2_body_edge_cases(conf, servers, build_dir):
    srv = servers(ip(59))
    body = (b"Subject: smuggling\n\n"
            b"a\r.\r\nb\n"
            b"a\n.\nMAIL FROM:<x@y>\nRCPT TO:<v@s59.test>\nDATA\n"
            b".x\n"
            b"..\n"
            b"x\r\n.\r\n"
            b"last line without end")
    r = run_remote(build_dir, conf(), ["u@s59.test"], message=body)
    assert r.kinds == ["K"], r
    (s,) = srv.sessions
    assert len(s.messages) == 1, s.lines
    assert [l.split()[0] for l in s.lines] == ["EHLO", "MAIL", "RCPT",
                                               "DATA", "QUIT"]
    assert not s.bad_data
    assert s.messages[0] == (
        b"Subject: smuggling\r\n\r\n"
        b"a\r\n.\r\nb\r\n"
        b"a\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<v@s59.test>\r\nDATA\r\n"
        b".x\r\n"
        b"..\r\n"
        b"x\r\n.\r\n"
        b"last line without end\r\n")


def test_long_lines_are_broken(conf, servers, build_dir):
    srv = servers(ip(60))
    body = b"Subject: " + b"s" * 1500 + b"\n\n" + b"b" * 2500 + b"\n"
    r = run_remote(build_dir, conf(), ["u@s60.test"], message=body)
    assert r.kinds == ["K"], r
    (m,) = srv.messages()
    assert all(len(l) <= 998 for l in m.split(b"\r\n"))
    assert m.split(b"\r\n\r\n", 1)[1].count(b"b") == 2500


def test_size_too_big_is_5_3_4(conf, servers, build_dir):
    srv = servers(ip(61), caps=("SIZE 100", "8BITMIME"))
    r = run_remote(build_dir, conf(), ["u@s61.test"],
                   message=b"Subject: x\n\n" + b"y" * 200 + b"\n")
    assert r.kinds == ["D"] and r.codes() == ["5.3.4"], r
    assert not any(l.startswith("MAIL") for l in srv.sessions[0].lines)


def test_smtputf8_needed_but_not_offered(conf, servers, build_dir):
    srv = servers(ip(62), caps=("8BITMIME", "PIPELINING"))
    r = run_remote(build_dir, conf(), ["u@s62.test"],
                   sender="j\u00f6rg@sender.test", utf8=True)
    assert r.kinds == ["D"] and r.codes() == ["5.6.7"], r
    assert "SMTPUTF8" in r.lines[0]
    assert not any(l.startswith("MAIL") for l in srv.sessions[0].lines)


def test_smtputf8_offered(conf, servers, build_dir):
    srv = servers(ip(63))
    r = run_remote(build_dir, conf(), ["u@s63.test"],
                   sender="j\u00f6rg@sender.test", utf8=True,
                   message="Subject: gr\u00fc\u00df\n\nhi\n".encode())
    assert r.kinds == ["K"], r
    mail = [l for l in srv.sessions[0].lines if l.startswith("MAIL")][0]
    assert "SMTPUTF8" in mail and "BODY=8BITMIME" in mail


def test_8bit_body_without_8bitmime(conf, servers, build_dir):
    servers(ip(64), caps=("PIPELINING",))
    r = run_remote(build_dir, conf(), ["u@s64.test"],
                   message="Subject: x\n\nd\u00e9j\u00e0\n".encode(),
                   body="8BITMIME")
    assert r.kinds == ["D"] and r.codes() == ["5.6.3"], r


def test_7bit_message_to_a_plain_server(conf, servers, build_dir):
    srv = servers(ip(65), caps=())
    r = run_remote(build_dir, conf(), ["u@s65.test"], body="8BITMIME")
    assert r.kinds == ["K"], r
    mail = [l for l in srv.sessions[0].lines if l.startswith("MAIL")][0]
    assert mail == "MAIL FROM:<sender@sender.test>"


def test_dsn_parameters_are_passed_on(conf, servers, build_dir):
    srv = servers(ip(66))
    r = run_remote(build_dir, conf(), [
        ("u@s66.test", "rfc822;U+1@s66.test", "SUCCESS,FAILURE")],
        ret="HDRS", envid="id=1 x")
    assert r.kinds == ["K"], r
    lines = srv.sessions[0].lines
    mail = [l for l in lines if l.startswith("MAIL")][0]
    rcpt = [l for l in lines if l.startswith("RCPT")][0]
    assert "RET=HDRS" in mail and "ENVID=id+3D1+20x" in mail, mail
    assert "NOTIFY=SUCCESS,FAILURE" in rcpt, rcpt
    assert "ORCPT=rfc822;U+2B1@s66.test" in rcpt, rcpt


def test_binarymime_is_refused(conf, build_dir):
    r = run_remote(build_dir, conf(), ["u@s67.test"], body="BINARYMIME")
    assert r.kinds == ["D"] and r.codes() == ["5.6.3"], r


def test_address_literal_domain(conf, servers, build_dir):
    srv = servers(ip(68))
    r = run_remote(build_dir, conf(), [f"u@[{ip(68)}]"])
    assert r.kinds == ["K"], r
    assert srv.messages()


# --- R3: loops back to ourselves ---------------------------------------------------------

def test_mx_at_our_own_address(conf, servers, build_dir):
    srv = servers(ip(35))
    c = conf(f"listen_smtp = {ip(35)}:{free_port()}\n")
    r = run_remote(build_dir, c, ["u@s35.test"])
    assert r.kinds == ["D"] and r.codes() == ["5.4.6"], r
    assert srv.sessions == []


def test_mx_at_our_own_name(conf, build_dir):
    r = run_remote(build_dir, conf(), ["u@selfname.test"])
    assert r.kinds == ["D"] and r.codes() == ["5.4.6"], r


def test_mx_below_ours_is_kept(conf, servers, build_dir):
    # MX 5 mx.s37 is preferred to us (MX 10 mx.sender.test): go there.
    low = servers(ip(37))
    r = run_remote(build_dir, conf(), ["u@selflow.test"])
    assert r.kinds == ["K"], r
    assert low.messages()
    # MX 10 mx.s38 is after us (MX 5): we are the best, nowhere to go.
    high = servers(ip(38))
    r = run_remote(build_dir, conf(), ["u@selfhigh.test"])
    assert r.kinds == ["D"] and r.codes() == ["5.4.6"], r
    assert high.sessions == []


# --- routing overrides: transport, relayhost with AUTH ------------------------------------

def test_transport_override(conf, servers, tmp_path, build_dir):
    port = free_port(ip(70))
    srv = servers(ip(70), port)
    mx = servers(ip(41))        # trans.test's MX: must not be used
    t = tmp_path / "transport"
    t.write_text(f"# static routes\ntrans.test [{ip(70)}]:{port}\n")
    c = conf(f"transport = {t}\n")
    r = run_remote(build_dir, c, ["u@trans.test"])
    assert r.kinds == ["K"], r
    assert srv.messages() and mx.sessions == []
    assert "route=transport" in c.log_text()
    assert (c.state / "tables" / "transport.cdb").exists()
    # A changed table is compiled again: now a bad entry, deferred.
    time.sleep(0.01)
    t.write_text("trans.test bad host:x\n")
    os.utime(t, (time.time() + 5, time.time() + 5))
    r = run_remote(build_dir, c, ["u@trans.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.3.5"], r


def creds_file(tmp_path, text, mode=0o600):
    p = tmp_path / "credentials"
    p.write_text(text)
    os.chmod(p, mode)
    return p


@pytest.mark.parametrize("mechs,mech", [("PLAIN LOGIN", "PLAIN"),
                                         ("LOGIN", "LOGIN")])
def test_relayhost_with_auth_over_starttls(conf, servers, tmp_path, tls_cert,
                                           build_dir, mechs, mech):
    port = free_port(ip(71))
    srv = servers(ip(71), port, tls=tls_pair(tls_cert),
                  caps=("STARTTLS", "PIPELINING", "8BITMIME"),
                  caps_tls=("PIPELINING", "8BITMIME", "AUTH " + mechs))
    cr = creds_file(tmp_path, f"[{ip(71)}]:{port} smart s3cret pass\n")
    c = conf(f"relayhost = [{ip(71)}]:{port}\nremote_credentials = {cr}\n")
    r = run_remote(build_dir, c, ["u@anywhere.test", "v@anywhere.test"])
    assert r.kinds == ["K", "K"], r
    (s,) = srv.sessions
    assert s.auth == [(mech, "smart", "s3cret pass", True)]
    assert s.tls_lines[1].startswith("AUTH")
    assert "route=relayhost" in c.log_text()
    assert "s3cret" not in c.log_text()


def test_relayhost_without_starttls_gets_no_password(conf, servers, tmp_path,
                                                     build_dir):
    port = free_port(ip(72))
    srv = servers(ip(72), port, caps=("AUTH PLAIN LOGIN", "8BITMIME"))
    cr = creds_file(tmp_path, f"{ip(72)} smart s3cret\n")
    c = conf(f"relayhost = {ip(72)}:{port}\nremote_credentials = {cr}\n")
    r = run_remote(build_dir, c, ["u@anywhere.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.7.4"], r
    assert srv.sessions[0].auth == []
    assert not any(l.startswith(("AUTH", "MAIL"))
                   for l in srv.sessions[0].lines)


def test_relayhost_auth_refused_defers(conf, servers, tmp_path, tls_cert,
                                       build_dir):
    port = free_port(ip(73))
    servers(ip(73), port, tls=tls_pair(tls_cert),
            caps=("STARTTLS",), caps_tls=("AUTH PLAIN",),
            replies={"AUTH": "535 5.7.8 bad credentials"})
    cr = creds_file(tmp_path, f"{ip(73)}:{port} smart wrong\n")
    c = conf(f"relayhost = [{ip(73)}]:{port}\nremote_credentials = {cr}\n")
    r = run_remote(build_dir, c, ["u@anywhere.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.7.8"], r


def test_credentials_open_to_others_are_refused(conf, tmp_path, build_dir):
    cr = creds_file(tmp_path, f"{ip(74)} smart s3cret\n", mode=0o644)
    c = conf(f"relayhost = [{ip(74)}]:2525\nremote_credentials = {cr}\n")
    r = run_remote(build_dir, c, ["u@anywhere.test"])
    assert r.kinds == ["Z"] and r.codes() == ["4.3.5"], r
    assert "event=connect" not in c.log_text()


def test_relayhost_implicit_tls_465(conf, servers, tmp_path, tls_cert,
                                    build_dir):
    srv = servers(ip(75), 465, tls=tls_pair(tls_cert), implicit_tls=True,
                  caps=("PIPELINING", "AUTH PLAIN"))
    cr = creds_file(tmp_path, f"{ip(75)}:465 smart s3cret\n")
    c = conf(f"relayhost = [{ip(75)}]:465\nremote_credentials = {cr}\n")
    r = run_remote(build_dir, c, ["u@anywhere.test"])
    assert r.kinds == ["K"], r
    (s,) = srv.sessions
    assert s.tls and s.auth == [("PLAIN", "smart", "s3cret", True)]
    assert "STARTTLS" not in s.lines
