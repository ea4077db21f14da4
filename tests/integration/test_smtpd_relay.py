"""The open-relay battery (SECURITY O1-O3) against smtpd on port 25.

Unauthenticated, from a client outside relay_networks, every way of
writing "deliver this elsewhere" - the percent hack, source routes, quoted
local parts holding '@' or '%', bang paths, address literals, trailing
dots, numeric domains, unknown domains - with every kind of sender, over
ESMTP and plain SMTP. The number of accepted combinations must be 0.
Then the controls: the same server accepts its own users, and relays for
relay_networks and for authenticated users.
"""
from test_smtpd_fixture import (DOMAIN, PASSWORD, plain_auth,  # noqa: F401
                                smtpd)

L = DOMAIN
I = "127.0.0.1"
V = "victim.example"

RECIPIENTS = [
    # O1: percent hack
    f"v%{V}@{L}", f"v%{V}@[{I}]", f'"v%{V}"', f'"v%{V}"@{L}',
    f"v%{V}@{L.upper()}", f"v%{V}%{L}@{L}",
    # O2: source routes and quoted '@'
    f"@{L}:v@{V}", f"@[{I}]:v@{V}", f"@{L},@{L}:v@{V}", f'"v@{V}"',
    f'"v@{V}"@[{I}]', f'"v@{V}"@{L}', f"v@{V}@{L}", f"v@{V}@[{I}]",
    # O3: bang paths, literals, trailing dots, numeric and unknown domains
    f"{V}!v", f"{V}!v@{L}", f"{V}!v@[{I}]", f"v@[198.51.100.9]",
    f"v@[{I}]", "v@[IPv6:::1]", f"v@{L}.", f"v@{V}.", "v@192.0.2.1",
    f"v@{V}", "v@unknown.invalid", f"v@sub.{L}", f"v@{L}x",
    f"v@{L.split('.')[0]}", f"{L}!v@{V}", f'"{V}!v"@{L}',
    f"v%{V}@{V}", f"v@{V}%{L}", f"v@[{I}].{L}", f"v@{L}:25",
]

SENDERS = ["", f"x@{L}", f"x@[{I}]", f"x@{V}", f"postmaster@{L}",
           f"v@{V}"]


def try_combinations(srv, helo, senders, recipients):
    """(accepted, tried, codes): RCPT replies of each combination."""
    accepted, tried, codes = [], 0, set()
    for sender in senders:
        # At most 15 refusals a connection: the error limit is 20.
        for i in range(0, len(recipients), 15):
            c = srv.client()
            c.greeting()
            assert c.code(f"{helo} client.example") == 250
            code, lines = c.cmd(f"MAIL FROM:<{sender}>")
            if code != 250:
                codes.add(code)
                c.close()
                continue
            for r in recipients[i:i + 15]:
                tried += 1
                code, lines = c.cmd(f"RCPT TO:<{r}>")
                codes.add(code)
                if code == 250:
                    accepted.append((sender, r))
            assert c.code("QUIT") == 221
            c.close()
    return accepted, tried, codes


def test_open_relay_battery_accepts_nothing(smtpd):
    srv = smtpd("smtp")
    accepted, tried, codes = try_combinations(srv, "EHLO", SENDERS,
                                              RECIPIENTS)
    assert tried == len(SENDERS) * len(RECIPIENTS)
    assert accepted == [], f"{len(accepted)} of {tried} accepted"
    assert codes <= {501, 550, 553}, codes
    # The same over plain SMTP (HELO).
    accepted, tried, _ = try_combinations(srv, "HELO", SENDERS[:3],
                                          RECIPIENTS)
    assert accepted == []
    srv.wait_sessions()
    assert srv.messages() == []
    assert "status=accepted" not in srv.log()


def test_relay_denied_reply(smtpd):
    c = smtpd("smtp").greeted()
    assert c.code(f"MAIL FROM:<x@{L}>") == 250
    assert c.cmd(f"RCPT TO:<v@{V}>") == (550, [
        "5.7.1 Error: relay access denied"])
    assert c.cmd(f"RCPT TO:<v%{V}@{L}>") == (550, [
        "5.1.1 Error: user unknown"])


def test_controls_local_users_and_relay_networks(smtpd):
    srv = smtpd("smtp")
    c = srv.greeted()
    assert c.code("MAIL FROM:<>") == 250
    assert c.code(f"RCPT TO:<alice@{L}>") == 250
    assert c.code(f"RCPT TO:<ALICE@{L.upper()}>") == 250
    # relay_networks lets the client relay; the decision is still made on
    # the final domain, and quoting or '%' never reroute a local address.
    rel = smtpd("smtp", conf={"relay_networks": "127.0.0.0/8 ::1/128"})
    c = rel.greeted()
    assert c.code("MAIL FROM:<x@client.example>") == 250
    assert c.code(f"RCPT TO:<v@{V}>") == 250
    assert c.code(f"RCPT TO:<v@[198.51.100.9]>") == 250
    assert c.code(f"RCPT TO:<v%{V}@{L}>") == 550
    assert c.code(f'RCPT TO:<"v@{V}"@{L}>') == 550
    assert c.code("DATA") == 354
    c.send("x\r\n.\r\n")
    assert c.reply()[0] == 250
    [(_, env)] = rel.messages()
    assert [r["addr"] for r in env["rcpts"]] == [f"v@{V}",
                                                "v@[198.51.100.9]"]
    # Another network is not enough.
    other = smtpd("smtp", conf={"relay_networks": "192.0.2.0/24"})
    c = other.greeted()
    assert c.code("MAIL FROM:<x@client.example>") == 250
    assert c.code(f"RCPT TO:<v@{V}>") == 550


def test_authenticated_submission_relays(smtpd):
    srv = smtpd("submission", conf={"allow_plaintext_auth": "yes"})
    c = srv.greeted()
    assert c.code(f"MAIL FROM:<alice@{L}>") == 530
    assert c.code("AUTH PLAIN " + plain_auth(f"alice@{L}", PASSWORD)) == 235
    assert c.code(f"MAIL FROM:<alice@{L}>") == 250
    assert c.code(f"RCPT TO:<v@{V}>") == 250
    assert c.code(f"RCPT TO:<v%{V}@{L}>") == 550    # local: no such user
