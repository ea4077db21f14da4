"""Load generators for the benchmarks: SMTP, POP3 and IMAP clients.

The same code talks to our servers and to Postfix/Dovecot. Every reply
is checked (a failed command raises ClientError: a benchmark of refused
mail means nothing), every read has a timeout, and nothing here keeps a
whole response it does not need: bodies are counted, not stored.

    smtp_send(port, jobs, sessions)      asyncio; PIPELINING when offered
    smtp_hold(port, n)                   n sessions after EHLO, held open
    pop3_retrieve_all(port, user, pw)    STAT, LIST, UIDL, RETR 1..n
    Imap(port)                           a blocking IMAP client
    imap_hold(port, n, user, pw)         n logged-in sessions, held open
"""
import asyncio
import socket

TIMEOUT = 120           # seconds for any one reply
MAX_LINE = 1 << 20      # a reply line longer than this is an error
POP3_WINDOW = 64        # RETR commands in flight when PIPELINING is offered


class ClientError(Exception):
    pass


# --- SMTP -------------------------------------------------------------------

async def _smtp_reply(r):
    """One (possibly multi-line) SMTP reply: (code, text)."""
    lines = []
    for _ in range(1000):
        line = await asyncio.wait_for(r.readline(), TIMEOUT)
        if not line.endswith(b"\n"):
            raise ClientError("smtp: connection closed")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), b"".join(lines)
    raise ClientError("smtp: endless reply")


async def _smtp_session(port, jobs, ehlo=b"load.bench.test"):
    """Send every (sender, recipients, data) of jobs on one session.
    data is CR LF ended and dot-stuffed, without the final ".". """
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=MAX_LINE)
    try:
        code, text = await _smtp_reply(r)
        if code != 220:
            raise ClientError(f"smtp greeting: {text!r}")
        w.write(b"EHLO " + ehlo + b"\r\n")
        code, text = await _smtp_reply(r)
        if code != 250:
            raise ClientError(f"smtp EHLO: {text!r}")
        pipelining = b"PIPELINING" in text.upper()
        for sender, rcpts, data in jobs:
            cmds = [b"MAIL FROM:<" + sender + b">\r\n"]
            cmds += [b"RCPT TO:<" + a + b">\r\n" for a in rcpts]
            cmds.append(b"DATA\r\n")
            if pipelining:
                w.write(b"".join(cmds))
                replies = [await _smtp_reply(r) for _ in cmds]
            else:
                replies = []
                for c in cmds:
                    w.write(c)
                    replies.append(await _smtp_reply(r))
            want = [250] * (len(cmds) - 1) + [354]
            if [c for c, _ in replies] != want:
                raise ClientError(f"smtp envelope: {replies!r}")
            w.write(data)
            w.write(b".\r\n")
            await w.drain()
            code, text = await _smtp_reply(r)
            if code != 250:
                raise ClientError(f"smtp end of data: {text!r}")
        w.write(b"QUIT\r\n")
        await _smtp_reply(r)
    finally:
        w.close()


def smtp_send(port, jobs, sessions):
    """Send jobs over `sessions` concurrent sessions (jobs dealt round
    robin); raises ClientError on the first refused command."""
    share = [jobs[i::sessions] for i in range(sessions)]

    async def main():
        await asyncio.gather(*(_smtp_session(port, s) for s in share if s))
    asyncio.run(main())


def smtp_hold(port, n, measure):
    """Open n sessions, EHLO on each, call measure() while they are all
    open, QUIT them; returns measure()'s value."""
    async def one(sem, opened):
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            code, text = await _smtp_reply(r)
            if code != 220:
                raise ClientError(f"smtp greeting: {text!r}")
            w.write(b"EHLO hold.bench.test\r\n")
            code, text = await _smtp_reply(r)
            if code != 250:
                raise ClientError(f"smtp EHLO: {text!r}")
            opened.append((r, w))

    async def main():
        sem = asyncio.Semaphore(50)
        opened = []
        try:
            await asyncio.gather(*(one(sem, opened) for _ in range(n)))
            await asyncio.sleep(1.0)        # let forks settle
            return measure()
        finally:
            for r, w in opened:
                w.write(b"QUIT\r\n")
            for r, w in opened:
                w.close()
    return asyncio.run(main())


# --- a buffered line reader shared by POP3 and IMAP --------------------------

class Conn:
    """A socket with a receive buffer read by index, not by slicing."""

    def __init__(self, port, timeout=TIMEOUT):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        self.buf = bytearray()
        self.pos = 0
        self.received = 0

    def fill(self):
        if self.pos > (4 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        d = self.s.recv(1 << 18)
        if not d:
            raise ClientError("connection closed")
        self.received += len(d)
        self.buf += d

    def line(self):
        """The next line without its CR LF."""
        while True:
            e = self.buf.find(b"\r\n", self.pos)
            if e >= 0:
                out = bytes(self.buf[self.pos:e])
                self.pos = e + 2
                return out
            if len(self.buf) - self.pos > MAX_LINE:
                raise ClientError("line too long")
            self.fill()

    def skip_to(self, marker):
        """Drop everything up to and including marker; returns the count
        of octets dropped."""
        rel = 0                     # scanned so far, from self.pos
        while True:
            e = self.buf.find(marker, self.pos + rel)
            if e >= 0:
                n = e + len(marker) - self.pos
                self.pos = e + len(marker)
                return n
            rel = max(rel, len(self.buf) - self.pos - len(marker) + 1)
            self.fill()

    def skip(self, n):
        while len(self.buf) - self.pos < n:
            self.fill()
        self.pos += n

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


# --- POP3 -------------------------------------------------------------------

def _pop3_ok(c, what):
    line = c.line()
    if not line.startswith(b"+OK"):
        raise ClientError(f"pop3 {what}: {line!r}")
    return line


def _pop3_multi(c, what):
    """A +OK line and its multi-line body (counted); returns the octets."""
    _pop3_ok(c, what)
    c.pos -= 2                      # the CR LF ending the +OK line
    return c.skip_to(b"\r\n.\r\n")


def pop3_retrieve_all(port, user, password):
    """Log in, STAT, LIST, UIDL, RETR every message, QUIT; returns
    (messages, octets retrieved)."""
    c = Conn(port)
    try:
        _pop3_ok(c, "greeting")
        c.send(b"CAPA\r\n")
        _pop3_ok(c, "CAPA")
        caps = []
        while True:
            line = c.line()
            if line == b".":
                break
            caps.append(line.upper())
        pipelining = b"PIPELINING" in caps
        c.send(b"USER " + user.encode() + b"\r\n")
        _pop3_ok(c, "USER")
        c.send(b"PASS " + password.encode() + b"\r\n")
        _pop3_ok(c, "PASS")
        c.send(b"STAT\r\n")
        n = int(_pop3_ok(c, "STAT").split()[1])
        c.send(b"LIST\r\n")
        _pop3_multi(c, "LIST")
        c.send(b"UIDL\r\n")
        _pop3_multi(c, "UIDL")
        octets = 0
        window = POP3_WINDOW if pipelining else 1
        sent = 0
        for i in range(1, n + 1):
            while sent < min(n, i - 1 + window):
                sent += 1
                c.send(b"RETR %d\r\n" % sent)
            octets += _pop3_multi(c, f"RETR {i}")
        c.send(b"QUIT\r\n")
        _pop3_ok(c, "QUIT")
        return n, octets
    finally:
        c.close()


# --- IMAP -------------------------------------------------------------------

class Imap(Conn):
    """A blocking IMAP client that counts responses instead of keeping
    them (keep=True keeps the untagged lines, literals left out)."""

    def __init__(self, port, timeout=TIMEOUT):
        super().__init__(port, timeout)
        self.tag = 0
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise ClientError(f"imap greeting: {greeting!r}")

    def response(self, keep):
        """One response (with its literals); returns (first line, text
        kept or None)."""
        first = None
        kept = [] if keep else None
        while True:
            line = self.line()
            if first is None:
                first = line
            if keep:
                kept.append(line)
            if line.endswith(b"}"):
                o = line.rfind(b"{")
                size = line[o + 1:-1].rstrip(b"+")
                if o >= 0 and size.isdigit():
                    self.skip(int(size))
                    continue
            return first, kept

    def command(self, text, keep=False):
        """Send "tag text"; returns (untagged count, kept lines). A reply
        other than OK raises ClientError."""
        self.tag += 1
        tag = b"b%d " % self.tag
        self.send(tag + text + b"\r\n")
        count, kept = 0, []
        while True:
            first, lines = self.response(keep)
            if first.startswith(tag):
                if first[len(tag):len(tag) + 2] != b"OK":
                    raise ClientError(f"imap {text[:60]!r}: {first!r}")
                return count, kept
            count += 1
            if keep:
                kept += lines

    def login(self, user, password):
        self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))

    def logout(self):
        try:
            self.command(b"LOGOUT")
        except (OSError, ClientError):
            pass
        self.close()


def search_count(lines):
    """Numbers in the "* SEARCH" lines."""
    n = 0
    for line in lines:
        if line.upper().startswith(b"* SEARCH"):
            n += len(line.split()) - 2
    return n


def imap_hold(port, n, user, password, measure):
    """Open n sessions, LOGIN on each, call measure() while they are all
    open and logged in, then LOGOUT; returns measure()'s value."""
    async def line(r):
        ln = await asyncio.wait_for(r.readline(), TIMEOUT)
        if not ln.endswith(b"\n"):
            raise ClientError("imap: connection closed")
        return ln

    async def one(sem, opened, i):
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            g = await line(r)
            if not g.startswith(b"* OK"):
                raise ClientError(f"imap greeting {g!r}")
            w.write(b'a LOGIN "%s" "%s"\r\n' % (user.encode(),
                                                password.encode()))
            while True:
                ln = await line(r)
                if ln.startswith(b"a "):
                    if not ln.startswith(b"a OK"):
                        raise ClientError(f"imap LOGIN #{i}: {ln!r}")
                    break
            opened.append((r, w))

    async def main():
        sem = asyncio.Semaphore(20)
        opened = []
        try:
            await asyncio.gather(*(one(sem, opened, i) for i in range(n)))
            await asyncio.sleep(1.0)
            return measure()
        finally:
            for r, w in opened:
                w.write(b"z LOGOUT\r\n")
            for r, w in opened:
                w.close()
    return asyncio.run(main())
