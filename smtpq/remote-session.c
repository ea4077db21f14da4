/*
 * NAME
 *	remote-session - one SMTP session with one server address
 *
 * SYNOPSIS
 *	int session_run(struct job *j, const struct target *t,
 *	    const struct dns_addr *a, int no_starttls);
 *
 * DESCRIPTION
 *	session_run() connects to address a of host t and tries to hand the
 *	message to it for every recipient that has no result yet:
 *
 *	  connect (remote_connect_timeout); implicit TLS first on port 465
 *	  220 greeting (remote_greeting_timeout, as for every reply up to
 *	      MAIL)
 *	  EHLO, or HELO when EHLO gets a 5xx
 *	  STARTTLS whenever offered and the policy is not "none"; after the
 *	      220 every byte already received is thrown away (a server, or
 *	      a man in the middle, that sends replies early cannot plant
 *	      them: SECURITY.md T3, CVE-2021-38371), the handshake is made,
 *	      EHLO is sent again and only the capabilities after TLS count
 *	  AUTH PLAIN (or LOGIN) when the job has credentials, only inside
 *	      TLS
 *	  checks: SMTPUTF8 needed but not offered 5.6.7; 8-bit data and no
 *	      8BITMIME 5.6.3; larger than the server's SIZE 5.3.4 (all
 *	      permanent, for every open recipient, decided before MAIL)
 *	  MAIL FROM (SIZE, BODY=8BITMIME, SMTPUTF8, RET, ENVID when
 *	      offered), one RCPT TO per open recipient (NOTIFY, ORCPT when
 *	      DSN is offered), DATA: sent in one go with PIPELINING, else
 *	      one by one
 *	  the message (remote-data.c), then the final reply
 *	  QUIT
 *
 *	Outcomes. SESSION_NEXT, with j->last_kind and j->last_text saying
 *	why, when nothing was decided for any recipient and another address
 *	may do better: the connection failed or timed out, the greeting was
 *	4xx or 5xx (a 5xx greeting is not trusted to speak for the other MX
 *	hosts: the next one is tried, and only when every one said 5xx is
 *	the result permanent), EHLO and HELO failed, TLS is required and not
 *	to be had (4.7.4 not offered or refused, 4.7.5 handshake or
 *	certificate failure: never a byte of the message in plaintext,
 *	T4), AUTH failed (4.7.8, temporary: the operator's credentials),
 *	a malformed or oversized reply (4.5.0, R1), or a 4xx to MAIL.
 *	SESSION_PLAIN when an opportunistic ("may") handshake failed: the
 *	caller connects again without STARTTLS. SESSION_DONE once the
 *	transaction has begun: every open recipient then has its result
 *	here, and the next MX is never tried for it, whatever a RCPT got.
 *
 *	Per recipient: the RCPT reply decides for a refused recipient (4xx
 *	Z, 5xx D: the others go on); for the accepted ones the DATA reply
 *	when it is not 354, else the reply to the final dot (2xx K, or R
 *	for a recipient with NOTIFY or ORCPT when the server does not offer
 *	DSN, so that its DSN request was not passed on; 4xx Z, 5xx D). A
 *	5xx to MAIL fails every recipient (D). A connection lost or a reply
 *	not received in time after MAIL was accepted leaves the recipients
 *	without a result Z 4.4.2 (after the final dot: the
 *	message may have arrived; the queue tries again, as RFC 5321 6.1
 *	accepts). A 354 with no recipient accepted gets a lone "." (RFC
 *	2920 3.1) and nothing is delivered. Result texts carry the server
 *	and its reply: "5.1.1 host mx.example[192.0.2.1] said: 550 5.1.1
 *	no such user (in reply to RCPT TO)".
 *
 *	Every reply is read line by line, each line at most
 *	SMTPREPLY_LINE_MAX octets and each reply at most SMTPREPLY_LINES_MAX
 *	lines, within the stage's timeout as a whole (io_set_deadline), so a
 *	server that trickles one byte at a time cannot hold a stage open
 *	(R3). The message data is written with remote_block_timeout for
 *	each write.
 *
 * DIAGNOSTICS
 *	Every failure here is a result, never an exit: see above. Events are
 *	logged with step=3 and qid=: connect (host, ip, port), tls (version
 *	and cipher, verified or not), starttls-injection (octets thrown
 *	away), attempt-failed (why), and the recipients' results in
 *	remote.c.
 *
 * SECURITY
 *	No privileges. Every octet from the server is untrusted: replies go
 *	through smtpreply.c, and their text reaches logs only through
 *	log_kv() and results only as printable ASCII. Credentials go only
 *	over TLS and are never logged.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "envelope.h"
#include "io.h"
#include "log.h"
#include "remote.h"
#include "smtpreply.h"
#include "str.h"
#include "utf8.h"

#define QUIT_MS		10000	/* at most this for the reply to QUIT */

struct sess {
	struct job *j;
	const struct target *t;
	int fd;
	struct io *io;
	struct smtpreply rep;		/* the last reply */
	struct smtpreply bye;		/* the reply to QUIT, ignored */
	struct buf line;
	struct smtpcaps caps;
	int tls;		/* TLS is up */
	int esmtp;		/* EHLO was accepted */
	char ip[INET6_ADDRSTRLEN];
};

/* next - this address failed before any result: note why, try the next */
static int __attribute__((format(printf, 3, 4)))
next(struct sess *s, char kind, const char *fmt, ...)
{
	struct job *j = s->j;
	char text[REMOTE_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (kind == 'Z')
		j->any_temp = 1;
	if (kind == 'Z' || !j->any_temp) {
		j->last_kind = kind;
		(void)str_copy(j->last_text, sizeof(j->last_text), text);
	}
	remote_log(LOG_NOTICE, j, "attempt-failed", "peer", j->peer,
	    "error", text, (char *)NULL);
	return SESSION_NEXT;
}

/* status_of - the enhanced code a result of kind gets from the reply */
static void
status_of(const struct sess *s, char kind, const char *fallback,
    char st[SMTPREPLY_STATUS_MAX + 1])
{
	smtpreply_status(&s->rep, fallback, st);
	st[0] = kind == 'K' || kind == 'R' ? '2' : kind == 'D' ? '5' : '4';
}

/* said - "X.Y.Z host PEER said: CODE text (STAGE)" */
static void
said(const struct sess *s, char kind, const char *fallback,
    const char *stage, char *out, size_t size)
{
	struct buf d = BUF_INIT(SMTPREPLY_LINE_MAX + 16);
	char st[SMTPREPLY_STATUS_MAX + 1];

	status_of(s, kind, fallback, st);
	(void)smtpreply_describe(&s->rep, &d, 500);
	(void)snprintf(out, size, "%s host %s said: %s (%s)", st,
	    s->j->peer, buf_cstr(&d), stage);
	buf_free(&d);
}

/* next_reply - next() with the server's reply as the reason */
static int
next_reply(struct sess *s, char kind, const char *fallback, const char *stage)
{
	char text[REMOTE_TEXT_MAX];

	said(s, kind, fallback, stage, text, sizeof(text));
	return next(s, kind, "%s", text);
}

/* set_reply - recipient r's result from the reply to stage */
static void
set_reply(struct sess *s, struct rcpt *r, char kind, const char *fallback,
    const char *stage)
{
	char text[REMOTE_TEXT_MAX];

	said(s, kind, fallback, stage, text, sizeof(text));
	remote_set(r, kind, s->j->peer, "%s", text);
}

/* for_open - give every recipient still without a result this text */
static void __attribute__((format(printf, 4, 5)))
for_open(struct sess *s, int accepted_only, char kind, const char *fmt, ...)
{
	char text[REMOTE_TEXT_MAX];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < s->j->n; i++) {
		struct rcpt *r = &s->j->rcpts[i];

		if (r->kind == 0 && (!accepted_only || r->accepted))
			remote_set(r, kind, s->j->peer, "%s", text);
	}
}

/* accepted_reply - every accepted recipient's result from the reply */
static void
accepted_reply(struct sess *s, char kind, const char *fallback,
    const char *stage)
{
	size_t i;

	for (i = 0; i < s->j->n; i++)
		if (s->j->rcpts[i].kind == 0 && s->j->rcpts[i].accepted)
			set_reply(s, &s->j->rcpts[i], kind, fallback, stage);
}

/* io_why - a short reason for a failed read or write */
static const char *
io_why(const struct sess *s, int err)
{
	const char *e;

	if (err == ETIMEDOUT)
		return "timed out";
	if (err == EMSGSIZE)
		return "reply line too long";
	if (err == EPROTO) {
		e = io_error(s->io);
		return e[0] != '\0' ? e : "TLS error";
	}
	if (err == ECONNRESET || err == EPIPE || err == 0)
		return "lost connection";
	return strerror(err);
}

/*
 * read_into - one whole reply within ms into rep; 0, or -1 with *why_r
 * and *malformed_r set (1: the reply broke the grammar or a bound: R1).
 */
static int
read_into(struct sess *s, struct smtpreply *rep, int ms, const char **why_r,
    int *malformed_r)
{
	int flags, r, k;

	*malformed_r = 0;
	smtpreply_reset(rep);
	io_set_timeout(s->io, ms);
	io_set_deadline(s->io, ms);
	/*
	 * Send what is queued first: io flushes by itself only when its
	 * descriptor is not readable, and under TLS 1.3 it may be readable
	 * with nothing but session tickets in it.
	 */
	if (io_flush(s->io) < 0) {
		*why_r = io_why(s, errno);
		io_set_deadline(s->io, -1);
		return -1;
	}
	for (;;) {
		r = io_read_line(s->io, &s->line, SMTPREPLY_LINE_MAX, &flags);
		if (r < 0) {
			*malformed_r = errno == EMSGSIZE;
			*why_r = io_why(s, errno);
			break;
		}
		if (r == 0 || (flags & IO_LINE_EOF)) {
			r = -1;
			*why_r = "connection closed by the server";
			break;
		}
		k = smtpreply_line(rep, s->line.data != NULL ?
		    s->line.data : "", s->line.len, why_r);
		if (k < 0) {
			r = -1;
			*malformed_r = 1;
			break;
		}
		if (k == SMTPREPLY_DONE) {
			r = 0;
			break;
		}
	}
	io_set_deadline(s->io, -1);
	return r;
}

/* read_reply - read_into the session's reply */
static int
read_reply(struct sess *s, int ms, const char **why_r, int *malformed_r)
{
	return read_into(s, &s->rep, ms, why_r, malformed_r);
}

/* lost - next() for a reply that did not come (I/O or malformed) */
static int
lost(struct sess *s, const char *stage, const char *why, int malformed)
{
	if (malformed)
		return next(s, 'Z', "4.5.0 malformed reply from %s to %s: %s",
		    s->j->peer, stage, why);
	return next(s, 'Z', "4.4.2 %s: %s (waiting for %s)",
	    s->j->peer, why, stage);
}

/* vcommand - queue one command line (CR LF added), with timeout ms */
static int __attribute__((format(printf, 3, 0)))
vcommand(struct sess *s, int ms, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT(8192);
	int r;

	r = buf_vprintf(&b, fmt, ap);
	io_set_timeout(s->io, ms);
	if (r == 0)
		r = buf_append(&b, "\r\n", 2);
	if (r == 0)
		r = io_write(s->io, b.data, b.len);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);	/* AUTH lines */
	buf_free(&b);
	return r;
}

/* command - queue one command line (CR LF added), with timeout ms */
static int __attribute__((format(printf, 3, 4)))
command(struct sess *s, int ms, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vcommand(s, ms, fmt, ap);
	va_end(ap);
	return r;
}

/* talk - send one command and read its reply; 0, or -1 with why */
static int __attribute__((format(printf, 5, 6)))
talk(struct sess *s, int ms, const char **why_r, int *malformed_r,
    const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vcommand(s, ms, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*why_r = io_why(s, errno);
		*malformed_r = 0;
		return -1;
	}
	return read_reply(s, ms, why_r, malformed_r);
}

/* quit - QUIT and a short wait for its reply; the session ends anyway */
static void
quit(struct sess *s)
{
	const char *why;
	int m, ms = s->j->set.greeting_ms < QUIT_MS ? s->j->set.greeting_ms :
	    QUIT_MS;

	/* Its own reply: what the server said before stays for the result. */
	if (command(s, ms, "QUIT") == 0 && io_flush(s->io) == 0)
		(void)read_into(s, &s->bye, ms, &why, &m);
}

/* connect_to - a TCP connection to a within the connect timeout */
static int
connect_to(struct sess *s, const struct dns_addr *a, const char **why_r)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len, elen;
	int fd, err = 0, r;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)s->t->port);
		memcpy(&in->sin_addr, a->a, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)s->t->port);
		memcpy(&in6->sin6_addr, a->a, 16);
		len = sizeof(*in6);
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why_r = strerror(errno);
		return -1;
	}
	r = connect(fd, (struct sockaddr *)(void *)&ss, len);
	if (r < 0 && errno != EINPROGRESS) {
		*why_r = strerror(errno);
		(void)close(fd);
		return -1;
	}
	if (r < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		do
			r = poll(&pfd, 1, s->j->set.connect_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			*why_r = "connection timed out";
			(void)close(fd);
			return -1;
		}
		elen = sizeof(err);
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &elen) < 0 || err != 0) {
			*why_r = strerror(r < 0 ? errno : err != 0 ? err :
			    errno);
			(void)close(fd);
			return -1;
		}
	}
	s->fd = fd;
	return 0;
}

/* start_tls - the TLS handshake on the connection; 0, or -1 and why */
static int
start_tls(struct sess *s, const char **why_r)
{
	struct job *j = s->j;
	struct buf d = BUF_INIT(256);
	int verify = j->tls == TLSL_REQUIRE;
	SSL_CTX *ctx;

	ctx = policy_ctx(j, verify, why_r);
	if (ctx == NULL)
		return -1;
	io_set_timeout(s->io, j->set.connect_ms);
	if (io_start_tls_client(s->io, ctx, s->t->host, why_r) < 0)
		return -1;
	s->tls = 1;
	(void)io_tls_describe(s->io, &d);
	remote_log(LOG_INFO, j, "tls", "peer", j->peer, "tls", buf_cstr(&d),
	    "verified", verify ? "yes" : "no", (char *)NULL);
	buf_free(&d);
	return 0;
}

/* hello - EHLO, or HELO after a 5xx; 0, or an outcome */
static int
hello(struct sess *s)
{
	struct job *j = s->j;
	const char *why;
	int m;

	s->esmtp = 0;
	memset(&s->caps, 0, sizeof(s->caps));
	if (talk(s, j->set.greeting_ms, &why, &m, "EHLO %s",
	    j->cfg->hostname) < 0)
		return lost(s, "the reply to EHLO", why, m);
	if (smtpreply_class(&s->rep) == 2) {
		s->esmtp = 1;
		smtpreply_caps(&s->rep, &s->caps);
		return 0;
	}
	if (smtpreply_class(&s->rep) != 5) {
		quit(s);
		return next_reply(s, 'Z', NULL, "in reply to EHLO");
	}
	if (talk(s, j->set.greeting_ms, &why, &m, "HELO %s",
	    j->cfg->hostname) < 0)
		return lost(s, "the reply to HELO", why, m);
	if (smtpreply_class(&s->rep) == 2)
		return 0;
	quit(s);
	return next_reply(s, smtpreply_class(&s->rep) == 5 ? 'D' : 'Z', NULL,
	    "in reply to HELO");
}

/* tls_phase - STARTTLS as the policy says; 0, or an outcome */
static int
tls_phase(struct sess *s, int no_starttls)
{
	struct job *j = s->j;
	char early[32];
	const char *why;
	size_t n;
	int m, r;

	if (!s->tls && !no_starttls && j->tls != TLSL_NONE &&
	    (s->caps.flags & SMTPCAP_STARTTLS)) {
		if (talk(s, j->set.greeting_ms, &why, &m, "STARTTLS") < 0)
			return lost(s, "the reply to STARTTLS", why, m);
		if (smtpreply_class(&s->rep) == 2) {
			n = io_pending(s->io);
			if (n > 0) {
				(void)snprintf(early, sizeof(early), "%zu", n);
				remote_log(LOG_WARNING, j, "starttls-injection",
				    "peer", j->peer, "discarded", early,
				    (char *)NULL);
			}
			if (start_tls(s, &why) < 0) {
				if (j->tls == TLSL_MAY) {
					remote_log(LOG_NOTICE, j, "tls-failed",
					    "peer", j->peer, "error", why,
					    "retry", "plaintext", (char *)NULL);
					(void)next(s, 'Z', "4.7.5 TLS "
					    "handshake with %s failed: %s",
					    j->peer, why);
					return SESSION_PLAIN;
				}
				return next(s, 'Z', "4.7.5 TLS handshake "
				    "with %s failed: %s", j->peer, why);
			}
			/* Only what the server says inside TLS counts (T3). */
			r = hello(s);
			if (r != 0)
				return r;
		} else if (j->tls >= TLSL_ENCRYPT) {
			struct buf d = BUF_INIT(SMTPREPLY_LINE_MAX + 16);

			(void)smtpreply_describe(&s->rep, &d, 500);
			quit(s);
			r = next(s, 'Z', "4.7.4 TLS is required for %s, "
			    "and host %s refused STARTTLS: %s", j->domain,
			    j->peer, buf_cstr(&d));
			buf_free(&d);
			return r;
		} else
			remote_log(LOG_NOTICE, j, "starttls-refused", "peer",
			    j->peer, (char *)NULL);
	}
	if (!s->tls && j->tls >= TLSL_ENCRYPT) {
		quit(s);
		return next(s, 'Z', "4.7.4 TLS is required for %s, and host %s "
		    "does not offer STARTTLS", j->domain, j->peer);
	}
	return 0;
}

/* login - AUTH with the job's credentials; 0, or an outcome */
static int
login(struct sess *s)
{
	struct job *j = s->j;
	struct buf b = BUF_INIT(2048);
	const char *why, *mech;
	int m, r;

	if (!j->have_cred)
		return 0;
	if (!s->tls)
		return next(s, 'Z', "4.7.4 will not send credentials to %s "
		    "without TLS", j->peer);
	if (!(s->caps.auth & (SMTPCAP_AUTH_PLAIN | SMTPCAP_AUTH_LOGIN))) {
		quit(s);
		return next(s, 'Z', "4.7.4 host %s offers no AUTH PLAIN or "
		    "LOGIN", j->peer);
	}
	if (s->caps.auth & SMTPCAP_AUTH_PLAIN) {
		mech = "PLAIN";
		r = sasl_plain(&j->cred, &b);
		if (r == 0)
			r = talk(s, j->set.greeting_ms, &why, &m,
			    "AUTH PLAIN %s", buf_cstr(&b));
	} else {
		mech = "LOGIN";
		r = talk(s, j->set.greeting_ms, &why, &m, "AUTH LOGIN");
		if (r == 0 && s->rep.code == 334) {
			r = sasl_base64(j->cred.user, strlen(j->cred.user), &b);
			if (r == 0)
				r = talk(s, j->set.greeting_ms, &why, &m, "%s",
				    buf_cstr(&b));
		}
		if (r == 0 && s->rep.code == 334) {
			explicit_bzero(b.data, b.cap);
			buf_reset(&b);
			r = sasl_base64(j->cred.pass, strlen(j->cred.pass), &b);
			if (r == 0)
				r = talk(s, j->set.greeting_ms, &why, &m, "%s",
				    buf_cstr(&b));
		}
	}
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (r < 0)
		return lost(s, "the reply to AUTH", why, m);
	if (smtpreply_class(&s->rep) != 2) {
		if (s->rep.code == 334)
			(void)command(s, j->set.greeting_ms, "*");
		quit(s);
		return next_reply(s, 'Z', "4.7.8", "in reply to AUTH");
	}
	remote_log(LOG_INFO, j, "auth", "peer", j->peer, "mechanism", mech,
	    "user", j->cred.user, (char *)NULL);
	return 0;
}

/* checks - what must hold before MAIL; 0, or SESSION_DONE (all D) */
static int
checks(struct sess *s)
{
	struct job *j = s->j;

	if (j->needs_utf8 && !(s->caps.flags & SMTPCAP_SMTPUTF8)) {
		for_open(s, 0, 'D', "5.6.7 host %s does not support SMTPUTF8, "
		    "which this message needs (non-ASCII addresses or header "
		    "fields)", j->peer);
		quit(s);
		return SESSION_DONE;
	}
	if ((j->msg.eight_header || j->msg.eight_body) &&
	    !(s->caps.flags & SMTPCAP_8BITMIME)) {
		for_open(s, 0, 'D', "5.6.3 the message holds 8-bit data and "
		    "host %s does not support 8BITMIME", j->peer);
		quit(s);
		return SESSION_DONE;
	}
	if ((s->caps.flags & SMTPCAP_SIZE) && s->caps.size > 0 &&
	    j->msg.size > s->caps.size) {
		for_open(s, 0, 'D', "5.3.4 message size %llu exceeds the limit "
		    "%llu of host %s", (unsigned long long)j->msg.size,
		    (unsigned long long)s->caps.size, j->peer);
		quit(s);
		return SESSION_DONE;
	}
	return 0;
}

/* xtext - append s as RFC 3461 xtext */
static int
xtext(struct buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 33 && *p <= 126 && *p != '+' && *p != '=') {
			if (buf_append_char(b, (char)*p) < 0)
				return -1;
		} else if (buf_printf(b, "+%02X", *p) < 0)
			return -1;
	}
	return 0;
}

/* mail_params - the MAIL FROM parameters this server can take */
static int
mail_params(struct sess *s, struct buf *b)
{
	struct job *j = s->j;
	unsigned f = s->caps.flags;
	int r = 0;

	if (f & SMTPCAP_SIZE)
		r |= buf_printf(b, " SIZE=%llu",
		    (unsigned long long)j->msg.size);
	if ((f & SMTPCAP_8BITMIME) && (j->msg.eight_header ||
	    j->msg.eight_body || (j->env.body != NULL &&
	    str_eq_nocase(j->env.body, "8BITMIME"))))
		r |= buf_append_str(b, " BODY=8BITMIME");
	if ((f & SMTPCAP_SMTPUTF8) && (j->needs_utf8 || j->env.smtputf8))
		r |= buf_append_str(b, " SMTPUTF8");
	if (f & SMTPCAP_DSN) {
		if (j->env.ret != NULL)
			r |= buf_printf(b, " RET=%s", j->env.ret);
		if (j->env.envid != NULL) {
			r |= buf_append_str(b, " ENVID=");
			r |= xtext(b, j->env.envid);
		}
	}
	return r < 0 ? -1 : 0;
}

/* rcpt_params - the RCPT TO parameters for recipient r */
static int
rcpt_params(struct sess *s, const struct rcpt *rc, struct buf *b)
{
	const char *semi;
	int r = 0;

	if (!(s->caps.flags & SMTPCAP_DSN))
		return 0;
	if (rc->e->notify != ENVELOPE_NOTIFY_DEFAULT) {
		r |= buf_append_str(b, " NOTIFY=");
		r |= envelope_notify_format(rc->e->notify, b);
	}
	if (rc->e->orcpt != NULL &&
	    (semi = strchr(rc->e->orcpt, ';')) != NULL) {
		r |= buf_printf(b, " ORCPT=%.*s;", (int)(semi - rc->e->orcpt),
		    rc->e->orcpt);
		r |= xtext(b, semi + 1);
	}
	return r < 0 ? -1 : 0;
}

/* send_rcpt - queue RCPT TO for recipient r */
static int
send_rcpt(struct sess *s, const struct rcpt *r)
{
	struct buf p = BUF_INIT(4096);
	int rc;

	rc = rcpt_params(s, r, &p);
	if (rc == 0)
		rc = command(s, s->j->set.rcpt_ms, "RCPT TO:<%s>%s", r->e->addr,
		    buf_cstr(&p));
	buf_free(&p);
	return rc;
}

/*
 * dsn_dropped - K becomes R for each accepted recipient that carried a
 * DSN request (NOTIFY or ORCPT) to a server that does not offer DSN:
 * the request ends here (RFC 3461 5.2.2) and smtpq owes the answer
 */
static void
dsn_dropped(struct sess *s)
{
	size_t i;

	if (s->caps.flags & SMTPCAP_DSN)
		return;
	for (i = 0; i < s->j->n; i++) {
		struct rcpt *r = &s->j->rcpts[i];

		if (r->kind == 'K' && r->accepted &&
		    (r->e->notify != ENVELOPE_NOTIFY_DEFAULT ||
		    r->e->orcpt != NULL))
			r->kind = 'R';
	}
}

/* after_dot - the result of the whole transaction from the final reply */
static void
after_dot(struct sess *s)
{
	const char *why;
	int m;

	if (read_reply(s, s->j->set.dot_ms, &why, &m) < 0) {
		for_open(s, 1, 'Z', "4.4.2 %s: %s (waiting for the reply to "
		    "end of DATA; the message may have been delivered)",
		    s->j->peer, why);
		return;
	}
	switch (smtpreply_class(&s->rep)) {
	case 2:
		accepted_reply(s, 'K', NULL, "in reply to end of DATA");
		dsn_dropped(s);
		break;
	case 5:
		accepted_reply(s, 'D', NULL, "in reply to end of DATA");
		break;
	case 4:
		accepted_reply(s, 'Z', NULL, "in reply to end of DATA");
		break;
	default:
		accepted_reply(s, 'Z', "4.5.0", "in reply to end of DATA");
		break;
	}
	remote_output(s->j);
}

/* transaction - MAIL, RCPT, DATA and the message; an outcome */
static int
transaction(struct sess *s)
{
	struct job *j = s->j;
	struct buf p = BUF_INIT(4096);
	const char *why = NULL;
	size_t i, n_acc = 0;
	int m, r, piped = (s->caps.flags & SMTPCAP_PIPELINING) != 0;

	r = mail_params(s, &p);
	if (r == 0)
		r = command(s, j->set.mail_ms, "MAIL FROM:<%s>%s",
		    j->env.sender, buf_cstr(&p));
	buf_free(&p);
	for (i = 0; r == 0 && piped && i < j->n; i++)
		if (j->rcpts[i].kind == 0)
			r = send_rcpt(s, &j->rcpts[i]);
	if (r == 0 && piped)
		r = command(s, j->set.data_ms, "DATA");
	if (r < 0)
		return lost(s, "the reply to MAIL FROM", io_why(s, errno), 0);
	if (read_reply(s, j->set.mail_ms, &why, &m) < 0)
		return lost(s, "the reply to MAIL FROM", why, m);
	switch (smtpreply_class(&s->rep)) {
	case 2:
		break;
	case 5:
		for (i = 0; i < j->n; i++)
			if (j->rcpts[i].kind == 0)
				set_reply(s, &j->rcpts[i], 'D', NULL,
				    "in reply to MAIL FROM");
		quit(s);
		return SESSION_DONE;
	default:
		quit(s);
		return next_reply(s, 'Z', NULL, "in reply to MAIL FROM");
	}
	for (i = 0; i < j->n; i++) {
		struct rcpt *rc = &j->rcpts[i];

		if (rc->kind != 0)
			continue;
		why = NULL;
		m = 0;
		if ((!piped && send_rcpt(s, rc) < 0) ||
		    read_reply(s, j->set.rcpt_ms, &why, &m) < 0) {
			if (why == NULL)
				why = io_why(s, errno);
			for_open(s, 0, 'Z', "%s %s: %s (waiting for the reply "
			    "to RCPT TO)", m ? "4.5.0" : "4.4.2", j->peer, why);
			return SESSION_DONE;
		}
		switch (smtpreply_class(&s->rep)) {
		case 2:
			rc->accepted = 1;
			n_acc++;
			break;
		case 5:
			set_reply(s, rc, 'D', NULL, "in reply to RCPT TO");
			break;
		case 4:
			set_reply(s, rc, 'Z', NULL, "in reply to RCPT TO");
			break;
		default:
			set_reply(s, rc, 'Z', "4.5.0", "in reply to RCPT TO");
			break;
		}
	}
	if (!piped) {
		if (n_acc == 0) {
			quit(s);
			return SESSION_DONE;
		}
		if (command(s, j->set.data_ms, "DATA") < 0) {
			for_open(s, 1, 'Z', "4.4.2 %s: %s (sending DATA)",
			    j->peer, io_why(s, errno));
			return SESSION_DONE;
		}
	}
	if (read_reply(s, j->set.data_ms, &why, &m) < 0) {
		for_open(s, 1, 'Z', "%s %s: %s (waiting for the reply to DATA)",
		    m ? "4.5.0" : "4.4.2", j->peer, why);
		return SESSION_DONE;
	}
	if (smtpreply_class(&s->rep) != 3) {
		accepted_reply(s, smtpreply_class(&s->rep) == 5 ? 'D' : 'Z',
		    smtpreply_class(&s->rep) == 2 ? "4.5.0" : NULL,
		    "in reply to DATA");
		quit(s);
		return SESSION_DONE;
	}
	if (n_acc == 0) {
		/* 354 with no recipient accepted: end it, send nothing. */
		if (command(s, j->set.dot_ms, ".") == 0)
			(void)read_reply(s, j->set.dot_ms, &why, &m);
		quit(s);
		return SESSION_DONE;
	}
	io_set_timeout(s->io, j->set.block_ms);
	if (data_send(&j->msg, s->io, &why) < 0) {
		for_open(s, 1, 'Z', "4.4.2 %s: %s", j->peer, why);
		return SESSION_DONE;
	}
	after_dot(s);
	quit(s);
	return SESSION_DONE;
}

/* session - the whole conversation with one address */
static int
session(struct sess *s, const struct dns_addr *a, int no_starttls)
{
	struct job *j = s->j;
	const char *why;
	int m, r;

	if (connect_to(s, a, &why) < 0)
		return next(s, 'Z', "4.4.1 cannot connect to %s: %s", j->peer,
		    why);
	remote_log(LOG_INFO, j, "connect", "peer", j->peer, "host",
	    s->t->host, "ip", s->ip, (char *)NULL);
	s->io = io_new(s->fd, s->fd, j->set.greeting_ms);
	if (s->io == NULL)
		return next(s, 'Z', "4.3.0 cannot use the connection to %s",
		    j->peer);
	if (s->t->port == 465 && start_tls(s, &why) < 0)
		return next(s, 'Z', "4.7.5 TLS handshake with %s failed: %s",
		    j->peer, why);
	if (read_reply(s, j->set.greeting_ms, &why, &m) < 0)
		return lost(s, "the greeting", why, m);
	if (smtpreply_class(&s->rep) != 2) {
		r = smtpreply_class(&s->rep) == 5 ? 'D' : 'Z';
		quit(s);
		return next_reply(s, (char)r, NULL, "as its greeting");
	}
	if ((r = hello(s)) != 0 || (r = tls_phase(s, no_starttls)) != 0 ||
	    (r = login(s)) != 0 || (r = checks(s)) != 0)
		return r;
	return transaction(s);
}

/* session_run - try to hand the message to address a of host t */
int
session_run(struct job *j, const struct target *t, const struct dns_addr *a,
    int no_starttls)
{
	struct sess s;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	s.j = j;
	s.t = t;
	s.fd = -1;
	if (dns_addr_format(a, s.ip, sizeof(s.ip)) < 0)
		(void)str_copy(s.ip, sizeof(s.ip), "?");
	/* "host[ip]", with ":port" only when it is not 25. */
	if (t->port == 25)
		(void)snprintf(j->peer, sizeof(j->peer), "%s[%s]", t->host,
		    s.ip);
	else
		(void)snprintf(j->peer, sizeof(j->peer), "%s[%s]:%u", t->host,
		    s.ip, t->port);
	smtpreply_init(&s.rep);
	smtpreply_init(&s.bye);
	buf_init(&s.line, SMTPREPLY_LINE_MAX + 1);
	for (i = 0; i < j->n; i++)
		j->rcpts[i].accepted = 0;
	rc = session(&s, a, no_starttls);
	io_free(s.io);
	if (s.fd >= 0)
		(void)close(s.fd);
	smtpreply_free(&s.rep);
	smtpreply_free(&s.bye);
	buf_free(&s.line);
	return rc;
}
