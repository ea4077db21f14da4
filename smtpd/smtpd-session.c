/*
 * NAME
 *	smtpd-session - the SMTP session state machine of smtpd(8)
 *
 * SYNOPSIS
 *	void session_run(struct session *s);
 *	void session_reply(struct session *s, int code, const char *status,
 *	    const char *fmt, ...);
 *	void session_log(struct session *s, int level, const char *event,
 *	    ...);
 *	void session_reset_txn(struct session *s);
 *	void session_end(struct session *s, const char *why);
 *	int session_read_line(struct session *s, size_t max, int timeout_ms,
 *	    int *flags_r);
 *
 * DESCRIPTION
 *	session_run() greets the client and runs commands until QUIT, end
 *	of input or a reason to hang up; it does not return. The states:
 *
 *	    connected --HELO/EHLO--> greeted --MAIL--> mail --RCPT--> rcpt
 *	    rcpt --DATA--> (data) --> greeted    rcpt --BDAT--> bdat ...
 *	    any --RSET/HELO/EHLO--> greeted (transaction dropped)
 *	    greeted --STARTTLS--> connected (inside TLS: HELO/EHLO again)
 *
 *	A command out of sequence gets 503 5.5.1 and changes nothing.
 *
 *	Modes. smtp (port 25): no AUTH; a recipient must be in one of our
 *	domains unless the client is in relay_networks (policy_rcpt).
 *	submission (587): STARTTLS, then AUTH, required before MAIL (530
 *	5.7.0). submissions (465): TLS from the first byte (smtpd.c), AUTH
 *	required. On both submission ports the sender must be the user's
 *	own (users_sender_owned), and Date: and Message-ID: are added when
 *	the message lacks them.
 *
 *	Pipelining (RFC 2920, SECURITY S3). A client that speaks before the
 *	greeting, or that sends more after a command that must end a group
 *	- any command at all before EHLO or in a HELO session, and EHLO,
 *	HELO and DATA in an EHLO session - or more after the end of DATA in
 *	a HELO session, gets 554 5.5.0 and is dropped. Input pipelined
 *	after STARTTLS is thrown away unanswered (T1). Replies are buffered
 *	and leave when the client's input runs out (io(3)).
 *
 *	Limits. Command lines as smtpd.h says (500 5.5.2 beyond; past
 *	SMTPD_DISCARD_MAX without a LF, 421 and hang up), 100 recipients
 *	(452 4.5.3 beyond), message_size_limit (552 5.3.4 at MAIL SIZE=,
 *	during DATA/BDAT, and for a BDAT chunk that cannot fit), text lines
 *	of 998 octets. Counters end the session with 421 4.7.0 when they
 *	reach their maximum: errors (every 4xx/5xx reply but 452 4.5.3),
 *	unknown commands, junk (NOOP, RSET, VRFY, EXPN, HELP, repeated
 *	HELO/EHLO and recipients over the limit; zeroed by each queued
 *	message) and failed AUTH. Timeouts (RFC 5321 4.5.3.2): each wait
 *	for a command and each whole command line are bounded by
 *	timeout_ms; inside DATA/BDAT each wait by data_timeout_ms and the
 *	whole by a deadline that moves ahead with every byte received at
 *	min_data_rate (SECURITY X2); past either: 421 4.4.2 and hang up.
 *
 *	Messages. DATA and the first BDAT start inject (smtpd-inject.c) and
 *	write our Received: field; the message streams through the DATA
 *	machine (smtpd-data.c) to inject. After the end the reply waits for
 *	inject's report: 250 2.0.0 only for "K QID".
 *
 * DIAGNOSTICS
 *	Every reply carries an enhanced status code (RFC 2034, 3463) except
 *	where RFC 2034 and RFC 4954 say none: the 220 greeting, the replies
 *	to HELO and EHLO, the 334 challenges, and 354. Out of memory, an
 *	I/O error on the client side and timeouts end the session (see
 *	smtpd.c for exit statuses).
 *
 * SECURITY
 *	Runs as smtpd's unprivileged user. Everything from the client is
 *	hostile and bounded; addresses are looked up, never interpreted.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "io.h"
#include "log.h"
#include "progpath.h"
#include "str.h"
#include "userdb.h"

#include "smtpd.h"

#define REFUSED	(SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR | \
	SMTP_DATA_E_NUL | SMTP_DATA_E_LONG_LINE | SMTP_DATA_E_TOO_BIG | \
	SMTP_DATA_E_LOOP)

static const char *const mode_names[] = { "smtp", "submission",
	"submissions" };

/* now_ms - CLOCK_MONOTONIC in milliseconds */
static int64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* session_reply - one reply line: CODE [STATUS ]TEXT CR LF */
void
session_reply(struct session *s, int code, const char *status,
    const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	s->last_code = code;
	s->last_uncounted = 0;
	if (io_printf(s->io, "%d %s%s%s\r\n", code, status != NULL ? status :
	    "", status != NULL ? " " : "", text) < 0)
		die_gone(s, "write failed");
}

/* reply_more - one line of a multi-line reply: CODE-[STATUS ]TEXT */
static void
reply_more(struct session *s, int code, const char *status,
    const char *text)
{
	if (io_printf(s->io, "%d-%s%s%s\r\n", code, status != NULL ? status :
	    "", status != NULL ? " " : "", text) < 0)
		die_gone(s, "write failed");
}

/* session_log - one event: key, value, ..., NULL; a NULL value is left out */
void
session_log(struct session *s, int level, const char *event, ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	const char *k, *v;
	char step[4];
	va_list ap;

	(void)snprintf(step, sizeof(step), "%d", s->step);
	(void)log_kv_str(&b, "event", event);
	(void)log_kv_str(&b, "step", step);
	(void)log_kv_str(&b, "client", s->client_ip[0] != '\0' ?
	    s->client_ip : "unknown");
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (v != NULL)
			(void)log_kv_str(&b, k, v);
	}
	va_end(ap);
	log_event(level, "%s", b.data != NULL ? b.data : "");
	buf_free(&b);
}

/* num - a number as text in out */
static const char *
num(char *out, size_t size, uint64_t n)
{
	(void)snprintf(out, size, "%llu", (unsigned long long)n);
	return out;
}

/* addr_text - an address as local@domain ("" for <>) */
static void
addr_text(const struct addr *a, char *out, size_t size)
{
	if (addr_format(a, out, size) < 0)
		out[0] = '\0';
}

/* abort_message - stop inject (nothing is queued) */
static void
abort_message(struct session *s)
{
	if (s->inj_running) {
		smtp_data_discard(&s->data);
		inject_abort(&s->inj);
		s->inj_running = 0;
	}
}

/* session_reset_txn - forget the mail transaction */
void
session_reset_txn(struct session *s)
{
	abort_message(s);
	envelope_free(&s->env);
	envelope_init(&s->env);
	memset(&s->sender, 0, sizeof(s->sender));
	memset(&s->mp, 0, sizeof(s->mp));
	s->in_mail = 0;
	s->rcpt_tried = 0;
	s->bdat = 0;
}

/*
 * linger - send FIN, then read and drop what the client still sends, for
 * at most a second and a MiB: closing a socket with unread input sends a
 * RST, which can destroy our last reply before the client reads it.
 */
static void
linger(void)
{
	char scratch[4096];
	struct pollfd pfd;
	int64_t end = now_ms() + 1000, left;
	size_t total = 0;
	ssize_t r;

	if (shutdown(1, SHUT_WR) < 0)
		return;		/* not a socket */
	while (total < 1024 * 1024 && (left = end - now_ms()) > 0) {
		pfd.fd = 0;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			return;
		r = read(0, scratch, sizeof(scratch));
		if (r <= 0 && !(r < 0 && errno == EINTR))
			return;
		if (r > 0)
			total += (size_t)r;
	}
}

/* session_end - the last log line and cleanup; the caller exits */
void
session_end(struct session *s, const char *why)
{
	char c[24], m[24], r[24], e[24], in[24];

	abort_message(s);
	session_log(s, LOG_INFO, "disconnect", "reason", why, "commands",
	    num(c, sizeof(c), s->commands), "messages",
	    num(m, sizeof(m), s->messages), "rcpts",
	    num(r, sizeof(r), s->rcpts), "errors",
	    num(e, sizeof(e), s->errors), "in",
	    num(in, sizeof(in), s->in.bytes), (const char *)NULL);
	if (s->io != NULL) {
		io_set_deadline(s->io, -1);
		io_set_timeout(s->io, 2000);
		(void)io_flush(s->io);
		if (s->tls)
			(void)io_tls_shutdown(s->io);
		linger();
	}
	envelope_free(&s->env);
	users_close(s);
}

/* session_read_line - a line into s->line; -1 only for too long */
int
session_read_line(struct session *s, size_t max, int timeout_ms,
    int *flags_r)
{
	int r;

	io_set_timeout(s->io, timeout_ms);
	io_set_deadline(s->io, timeout_ms);
	r = in_line(&s->in, &s->line, max, flags_r);
	io_set_deadline(s->io, -1);
	if (r == 0)
		die_gone(s, "client closed");
	if (r < 0) {
		if (errno == EMSGSIZE)
			return -1;
		if (errno == EFBIG)
			die_hangup(s, 421, "4.7.0",
			    "Error: line too long, closing connection",
			    "line-too-long");
		if (errno == ETIMEDOUT)
			die_timeout(s);
		die_gone(s, io_error(s->io)[0] != '\0' ? io_error(s->io) :
		    strerror(errno));
	}
	if (*flags_r & IO_LINE_EOF)
		die_gone(s, "client closed in a line");
	return 0;
}

/* auth_offered - 1 if AUTH is advertised and allowed now */
static int
auth_offered(const struct session *s)
{
	return s->mode != SMTPD_MODE_SMTP && !s->authenticated &&
	    (s->tls || s->cfg->allow_plaintext_auth);
}

/* starttls_offered - 1 if STARTTLS is advertised now */
static int
starttls_offered(const struct session *s)
{
	return s->tls_ctx != NULL && !s->tls &&
	    s->mode != SMTPD_MODE_SUBMISSIONS;
}

/* protocol - the RFC 3848 protocol name for Received: and the envelope */
static const char *
protocol(const struct session *s)
{
	if (!s->esmtp && !s->tls && !s->authenticated)
		return "SMTP";
	if (s->tls)
		return s->authenticated ? "ESMTPSA" : "ESMTPS";
	return s->authenticated ? "ESMTPA" : "ESMTP";
}

/* start_tls - the TLS handshake; failure ends the session silently */
static void
start_tls(struct session *s)
{
	const char *why = "handshake failed";
	size_t dropped = in_buffered(&s->in);

	if (dropped > 0) {
		char n[24];

		session_log(s, LOG_NOTICE, "starttls-injection", "dropped",
		    num(n, sizeof(n), dropped), (const char *)NULL);
	}
	in_discard(&s->in);
	io_set_timeout(s->io, s->opt->tls_timeout_ms);
	io_set_deadline(s->io, s->opt->tls_timeout_ms);
	if (io_start_tls_server(s->io, s->tls_ctx, &why) < 0) {
		session_log(s, LOG_NOTICE, "tls", "status", "fail", "error",
		    why, (const char *)NULL);
		session_end(s, "tls failed");
		exit(0);
	}
	io_set_deadline(s->io, -1);
	s->tls = 1;
	buf_reset(&s->tmp);
	if (io_tls_describe(s->io, &s->tmp) < 0 ||
	    str_copy(s->tls_desc, sizeof(s->tls_desc), buf_cstr(&s->tmp)) < 0)
		(void)str_copy(s->tls_desc, sizeof(s->tls_desc), "TLS");
	session_log(s, LOG_INFO, "tls", "status", "ok", "tls", s->tls_desc,
	    (const char *)NULL);
}

/* sync_check - 554 5.5.0 for input pipelined where it may not be */
static void
sync_check(struct session *s, enum smtp_verb verb)
{
	int last;

	if (verb == SMTP_QUIT || verb == SMTP_STARTTLS || verb == SMTP_BDAT)
		return;
	last = !s->esmtp || verb == SMTP_EHLO || verb == SMTP_HELO ||
	    verb == SMTP_DATA;
	if (last && in_pending(&s->in))
		die_hangup(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization",
		    "improper pipelining");
}

/* count - update the counters after a command; hang up at a maximum */
static void
count(struct session *s)
{
	if (s->last_code >= 400 && s->last_code != 421) {
		if (s->last_uncounted) {
			if (s->junk < UINT32_MAX)
				s->junk++;
		} else if (s->errors < UINT32_MAX)
			s->errors++;
	}
	if (s->unknown >= s->opt->max_unknown)
		die_hangup(s, 421, "4.7.0",
		    "Error: too many unknown commands", "unknown-commands");
	if (s->errors >= s->opt->max_errors)
		die_hangup(s, 421, "4.7.0", "Error: too many errors",
		    "errors");
	if (s->junk >= s->opt->max_junk)
		die_hangup(s, 421, "4.7.0",
		    "Error: too many commands without a message", "junk");
}

/* junk - one more command that moves no message along */
static void
junk(struct session *s)
{
	if (s->junk < UINT32_MAX)
		s->junk++;
}

/* cmd_helo - HELO and EHLO */
static void
cmd_helo(struct session *s, const struct smtp_cmd *cmd, int ehlo)
{
	struct smtp_reply err;
	char helo[SMTPD_HELO_MAX + 1], line[64];

	if (smtp_parse_helo(cmd->arg, cmd->arglen, helo, sizeof(helo),
	    &err) < 0) {
		session_reply(s, err.code, err.status, "%s", err.text);
		return;
	}
	if (s->helo_done)
		junk(s);
	session_reset_txn(s);
	memcpy(s->helo, helo, sizeof(helo));
	s->helo_done = 1;
	s->esmtp = ehlo;
	session_log(s, LOG_INFO, ehlo ? "ehlo" : "helo", "helo", s->helo,
	    (const char *)NULL);
	if (!ehlo) {
		session_reply(s, 250, NULL, "%s", s->cfg->hostname);
		return;
	}
	reply_more(s, 250, NULL, s->cfg->hostname);
	reply_more(s, 250, NULL, "PIPELINING");
	(void)snprintf(line, sizeof(line), "SIZE %llu",
	    (unsigned long long)s->cfg->message_size_limit);
	reply_more(s, 250, NULL, line);
	reply_more(s, 250, NULL, "8BITMIME");
	reply_more(s, 250, NULL, "SMTPUTF8");
	reply_more(s, 250, NULL, "ENHANCEDSTATUSCODES");
	reply_more(s, 250, NULL, "CHUNKING");
	if (starttls_offered(s))
		reply_more(s, 250, NULL, "STARTTLS");
	if (auth_offered(s))
		reply_more(s, 250, NULL, "AUTH PLAIN LOGIN");
	session_reply(s, 250, NULL, "DSN");
}

/* cmd_mail - MAIL FROM */
static void
cmd_mail(struct session *s, const struct smtp_cmd *cmd)
{
	struct smtp_reply err;
	struct addr a;
	struct smtp_mail_params mp;
	char from[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2], size[24];
	int flags = 0, r;

	if (!s->helo_done) {
		session_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->in_mail) {
		session_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (s->mode != SMTPD_MODE_SMTP && !s->authenticated) {
		session_reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (s->esmtp)
		flags |= SMTP_P_ESMTP;
	if (s->mode != SMTPD_MODE_SMTP)
		flags |= SMTP_P_AUTH;
	if (smtp_parse_mail(cmd->arg, cmd->arglen, flags,
	    s->cfg->message_size_limit, &a, &mp, &err) < 0) {
		session_log(s, LOG_INFO, "mail", "arg", buf_cstr(&s->line),
		    "status", "refused", "code", err.status,
		    (const char *)NULL);
		session_reply(s, err.code, err.status, "%s", err.text);
		return;
	}
	addr_text(&a, from, sizeof(from));
	if (s->mode != SMTPD_MODE_SMTP) {
		r = users_sender_owned(s, &a);
		if (r < 0) {
			session_reply(s, 451, "4.3.0",
			    "Error: temporary lookup failure");
			return;
		}
		if (r == 0) {
			session_log(s, LOG_NOTICE, "mail", "from", from,
			    "user", s->auth_user, "status", "refused", "code",
			    "5.7.1", (const char *)NULL);
			session_reply(s, 553, "5.7.1", "Error: sender address "
			    "not owned by the authenticated user");
			return;
		}
	}
	session_reset_txn(s);
	s->in_mail = 1;
	s->sender = a;
	s->mp = mp;
	session_log(s, LOG_INFO, "mail", "from", from, "size",
	    mp.has_size ? num(size, sizeof(size), mp.size) : NULL,
	    (const char *)NULL);
	session_reply(s, 250, "2.1.0", "Ok");
}

/* rcpt_refused - log and answer a refused recipient */
static void
rcpt_refused(struct session *s, const char *to, int code, const char *status,
    const char *text)
{
	session_log(s, LOG_INFO, "rcpt", "to", to, "status", "refused",
	    "code", status, (const char *)NULL);
	session_reply(s, code, status, "%s", text);
}

/* cmd_rcpt - RCPT TO */
static void
cmd_rcpt(struct session *s, const struct smtp_cmd *cmd)
{
	struct smtp_reply err;
	struct smtp_rcpt_params rp;
	struct addr a;
	char to[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	int flags = 0, kind;

	if (!s->in_mail) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->bdat) {
		session_reply(s, 503, "5.5.1",
		    "Error: RCPT not allowed after BDAT");
		return;
	}
	if (s->esmtp)
		flags |= SMTP_P_ESMTP;
	if (s->mp.smtputf8)
		flags |= SMTP_P_UTF8;
	if (s->rcpt_tried < UINT32_MAX)
		s->rcpt_tried++;
	if (smtp_parse_rcpt(cmd->arg, cmd->arglen, flags, &a, &rp,
	    &err) < 0) {
		rcpt_refused(s, buf_cstr(&s->line), err.code, err.status,
		    err.text);
		return;
	}
	if (a.domain[0] == '\0') {
		/* <Postmaster>: the first domain's (RFC 5321 4.5.1). */
		if (s->cfg->domains.n == 0) {
			rcpt_refused(s, "postmaster", 550, "5.1.1",
			    "Error: user unknown");
			return;
		}
		(void)snprintf(to, sizeof(to), "postmaster@%s",
		    s->cfg->domains.v[0]);
	} else
		addr_text(&a, to, sizeof(to));
	if (s->env.n_rcpts >= s->opt->max_rcpts) {
		rcpt_refused(s, to, 452, "4.5.3", "Error: too many recipients");
		s->last_uncounted = 1;
		return;
	}
	switch (policy_rcpt(s->cfg, &a, s->have_peer ?
	    (const struct sockaddr *)&s->peer : NULL, s->authenticated)) {
	case POLICY_DENIED:
		rcpt_refused(s, to, 550, "5.7.1", "Error: relay access denied");
		return;
	case POLICY_LOCAL:
		kind = users_rcpt(s, &a);
		if (kind < 0) {
			rcpt_refused(s, to, 451, "4.3.0",
			    "Error: temporary lookup failure");
			return;
		}
		if (kind == USERDB_NONE) {
			rcpt_refused(s, to, 550, "5.1.1",
			    "Error: user unknown");
			return;
		}
		break;
	default:
		break;
	}
	if (envelope_add_rcpt(&s->env, to, rp.has_orcpt ? rp.orcpt : NULL,
	    rp.notify) < 0) {
		rcpt_refused(s, to, 452, "4.5.3", "Error: too many recipients");
		s->last_uncounted = 1;
		return;
	}
	session_log(s, LOG_INFO, "rcpt", "to", to, "status", "accepted",
	    "code", "2.1.5", (const char *)NULL);
	session_reply(s, 250, "2.1.5", "Ok");
}

/* sink - the DATA machine's output goes to inject */
static int
sink(void *ctx, const char *p, size_t n)
{
	struct session *s = ctx;

	return inject_write(&s->inj, p, n);
}

/* message_begin - start inject and write Received:; -1 if it cannot */
static int
message_begin(struct session *s, int mode)
{
	struct buf path = BUF_INIT(4096);
	struct received_info ri;
	const char *why = "";
	int r;

	if (progpath_sibling("inject", &path) < 0) {
		session_log(s, LOG_ERR, "inject", "status", "temp", "error",
		    "cannot find inject", (const char *)NULL);
		buf_free(&path);
		return -1;
	}
	r = inject_start(&s->inj, buf_cstr(&path), s->cfg->path,
	    s->opt->inject_timeout_ms, &why);
	buf_free(&path);
	if (r < 0) {
		session_log(s, LOG_ERR, "inject", "status", "temp", "error",
		    why, (const char *)NULL);
		return -1;
	}
	s->inj_running = 1;
	smtp_data_init(&s->data, mode, s->cfg->message_size_limit,
	    s->opt->hops_max, sink, s);
	if (s->mode != SMTPD_MODE_SMTP) {
		buf_reset(&s->fix_date);
		buf_reset(&s->fix_msgid);
		if (received_date(time(NULL), &s->fix_date) < 0 ||
		    received_msgid(s->cfg->hostname, &s->fix_msgid) < 0) {
			abort_message(s);
			return -1;
		}
		smtp_data_fixups(&s->data, buf_cstr(&s->fix_date),
		    buf_cstr(&s->fix_msgid));
	}
	memset(&ri, 0, sizeof(ri));
	ri.helo = s->helo;
	ri.client_ip = s->client_ip;
	ri.hostname = s->cfg->hostname;
	ri.protocol = protocol(s);
	ri.tls = s->tls ? s->tls_desc : NULL;
	ri.auth_user = s->authenticated ? s->auth_user : NULL;
	ri.rcpt = s->env.n_rcpts == 1 ? s->env.rcpts[0].addr : NULL;
	ri.smtputf8 = s->mp.smtputf8;
	ri.when = time(NULL);
	buf_reset(&s->tmp);
	if (received_header(&ri, &s->tmp) < 0 ||
	    inject_write(&s->inj, s->tmp.data, s->tmp.len) < 0) {
		abort_message(s);
		return -1;
	}
	return 0;
}

/* build_envelope - the envelope records of this message into out */
static int
build_envelope(struct session *s, struct buf *out)
{
	struct envelope *e = &s->env;
	char from[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];

	addr_text(&s->sender, from, sizeof(from));
	free(e->sender);
	e->sender = alloc_strdup(from);
	free(e->envid);
	e->envid = s->mp.has_envid ? alloc_strdup(s->mp.envid) : NULL;
	free(e->ret);
	e->ret = s->mp.ret == SMTP_RET_FULL ? alloc_strdup("FULL") :
	    s->mp.ret == SMTP_RET_HDRS ? alloc_strdup("HDRS") : NULL;
	free(e->body);
	e->body = s->mp.body == SMTP_BODY_7BIT ? alloc_strdup("7BIT") :
	    s->mp.body == SMTP_BODY_8BITMIME ? alloc_strdup("8BITMIME") :
	    NULL;
	e->smtputf8 = s->mp.smtputf8;
	free(e->helo);
	e->helo = s->helo[0] != '\0' ? alloc_strdup(s->helo) : NULL;
	free(e->client_ip);
	e->client_ip = s->client_ip[0] != '\0' ?
	    alloc_strdup(s->client_ip) : NULL;
	free(e->auth_user);
	e->auth_user = s->authenticated ? alloc_strdup(s->auth_user) : NULL;
	free(e->protocol);
	e->protocol = alloc_strdup(protocol(s));
	return envelope_encode(e, out);
}

/* refusal - the reply for a message the DATA machine refused */
static void
refusal(struct session *s, int errors)
{
	const char *why, *code = "5.6.0";

	if (errors & SMTP_DATA_E_TOO_BIG) {
		why = "too big";
		code = "5.3.4";
		session_reply(s, 552, "5.3.4", "Error: message size exceeds "
		    "fixed maximum message size");
	} else if (errors & (SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR)) {
		why = errors & SMTP_DATA_E_BARE_LF ? "bare LF" : "bare CR";
		session_reply(s, 554, "5.6.0", "Error: bare CR or LF in "
		    "message; lines must end with CRLF (RFC 5321 2.3.8)");
	} else if (errors & SMTP_DATA_E_NUL) {
		why = "NUL";
		session_reply(s, 554, "5.6.0",
		    "Error: NUL character in message");
	} else if (errors & SMTP_DATA_E_LONG_LINE) {
		why = "line too long";
		session_reply(s, 554, "5.6.0", "Error: message line longer "
		    "than 1000 octets (RFC 5321 4.5.3.1.6)");
	} else {
		why = "loop";
		code = "5.4.6";
		session_reply(s, 554, "5.4.6",
		    "Error: too many Received: headers (mail loop?)");
	}
	session_log(s, LOG_NOTICE, "data", "status", "refused", "error", why,
	    "code", code, (const char *)NULL);
}

/* message_finish - end the message and answer it; resets the transaction */
static void
message_finish(struct session *s)
{
	struct buf env = BUF_INIT(ENVELOPE_WIRE_MAX);
	struct inject_result res;
	char from[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2], n[24], sz[24];
	int errors;

	errors = smtp_data_end(&s->data);
	if (errors & REFUSED) {
		abort_message(s);
		refusal(s, errors);
		session_reset_txn(s);
		return;
	}
	(void)io_flush(s->io);
	if (build_envelope(s, &env) < 0) {
		session_log(s, LOG_ERR, "data", "status", "temp", "error",
		    "cannot encode the envelope", (const char *)NULL);
		abort_message(s);
		buf_free(&env);
		session_reply(s, 451, "4.3.0",
		    "Error: queue failure, try again later");
		session_reset_txn(s);
		return;
	}
	(void)inject_finish(&s->inj, env.data, env.len, &res);
	s->inj_running = 0;
	buf_free(&env);
	addr_text(&s->sender, from, sizeof(from));
	num(n, sizeof(n), s->env.n_rcpts);
	num(sz, sizeof(sz), s->data.size);
	if (res.kind == 'K') {
		if (s->messages < ULONG_MAX)
			s->messages++;
		s->rcpts += s->env.n_rcpts;
		s->junk = 0;
		session_log(s, LOG_INFO, "queued", "qid", res.qid, "from",
		    from, "nrcpt", n, "size", sz, "tls", s->tls ?
		    s->tls_desc : NULL, "user", s->authenticated ?
		    s->auth_user : NULL, (const char *)NULL);
		session_reply(s, 250, "2.0.0", "Ok: queued as %s", res.qid);
	} else if (res.kind == 'Z' && strcmp(res.status, "4.3.1") == 0) {
		session_log(s, LOG_WARNING, "data", "status", "temp", "code",
		    res.status, "error", res.text, (const char *)NULL);
		session_reply(s, 452, "4.3.1",
		    "Error: insufficient system storage");
	} else if (res.kind == 'D') {
		session_log(s, LOG_NOTICE, "data", "status", "refused",
		    "code", res.status, "error", res.text, (const char *)NULL);
		if (strcmp(res.status, "5.3.4") == 0)
			session_reply(s, 552, "5.3.4", "Error: message size "
			    "exceeds fixed maximum message size");
		else
			session_reply(s, 554, res.status,
			    "Error: message refused by the queue");
	} else {
		session_log(s, LOG_WARNING, "data", "status", "temp", "code",
		    res.kind == 'Z' ? res.status : "4.3.0", "error",
		    res.kind == 'Z' ? res.text : "no report from inject",
		    (const char *)NULL);
		session_reply(s, 451, "4.3.0",
		    "Error: queue failure, try again later");
	}
	session_reset_txn(s);
}

/* rate_start - the deadline of a DATA/BDAT transfer */
static void
rate_start(struct session *s, int64_t *deadline)
{
	io_set_timeout(s->io, s->opt->data_timeout_ms);
	*deadline = now_ms() + s->opt->data_timeout_ms;
	io_set_deadline(s->io, s->opt->data_timeout_ms);
}

/* rate_credit - n more bytes arrived: move the deadline ahead */
static void
rate_credit(struct session *s, int64_t *deadline, size_t n)
{
	int64_t now = now_ms(), cap = now + s->opt->data_timeout_ms;

	if (s->opt->min_data_rate > 0)
		*deadline += (int64_t)((uint64_t)n * 1000 /
		    s->opt->min_data_rate);
	if (*deadline > cap)
		*deadline = cap;
	io_set_deadline(s->io, *deadline > now ? (int)(*deadline - now) : 0);
}

/* data_input - more bytes inside DATA/BDAT; hangs up on EOF or timeout */
static void
data_input(struct session *s, const char **p, size_t *n)
{
	int r = in_avail(&s->in, p, n);

	if (r > 0)
		return;
	abort_message(s);
	if (r == 0)
		die_gone(s, "client closed in DATA");
	if (errno == ETIMEDOUT)
		die_timeout(s);
	die_gone(s, io_error(s->io)[0] != '\0' ? io_error(s->io) :
	    strerror(errno));
}

/* cmd_data - DATA */
static void
cmd_data(struct session *s, const struct smtp_cmd *cmd, int lflags)
{
	int64_t deadline;
	const char *p;
	size_t n, k;

	if (cmd->arglen > 0) {
		session_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (!s->in_mail) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->bdat) {
		session_reply(s, 503, "5.5.1",
		    "Error: DATA not allowed after BDAT");
		return;
	}
	if (s->env.n_rcpts == 0) {
		if (s->rcpt_tried > 0)
			session_reply(s, 554, "5.5.1",
			    "Error: no valid recipients");
		else
			session_reply(s, 503, "5.5.1",
			    "Error: need RCPT command");
		return;
	}
	if (message_begin(s, SMTP_DATA_MODE_DATA) < 0) {
		session_reply(s, 451, "4.3.0",
		    "Error: queue unavailable, try again later");
		session_reset_txn(s);
		return;
	}
	/* The first CR LF of the end is the DATA line's own, if it had one. */
	if (!(lflags & IO_LINE_CRLF))
		smtp_data_mid_line(&s->data);
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	rate_start(s, &deadline);
	while (!s->data.done) {
		data_input(s, &p, &n);
		k = smtp_data_feed(&s->data, p, n);
		in_consume(&s->in, k);
		rate_credit(s, &deadline, k);
	}
	io_set_deadline(s->io, -1);
	if (!s->esmtp && in_pending(&s->in)) {
		abort_message(s);
		die_hangup(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization",
		    "pipelining after DATA");
	}
	message_finish(s);
}

/* skip_bytes - read and drop n bytes of a refused BDAT chunk */
static void
skip_bytes(struct session *s, uint64_t n)
{
	int64_t deadline;
	const char *p;
	size_t avail;

	rate_start(s, &deadline);
	while (n > 0) {
		data_input(s, &p, &avail);
		if (avail > n)
			avail = (size_t)n;
		in_consume(&s->in, avail);
		n -= avail;
		rate_credit(s, &deadline, avail);
	}
	io_set_deadline(s->io, -1);
}

/* read_chunk - n bytes of a BDAT chunk through the DATA machine */
static void
read_chunk(struct session *s, uint64_t n)
{
	int64_t deadline;
	const char *p;
	size_t avail, k;

	rate_start(s, &deadline);
	while (n > 0) {
		data_input(s, &p, &avail);
		if (avail > n)
			avail = (size_t)n;
		k = smtp_data_feed(&s->data, p, avail);
		in_consume(&s->in, k);
		n -= k;
		rate_credit(s, &deadline, k);
	}
	io_set_deadline(s->io, -1);
}

/* cmd_bdat - BDAT (RFC 3030): the chunk is always read, never parsed */
static void
cmd_bdat(struct session *s, const struct smtp_cmd *cmd)
{
	struct smtp_reply err = { 0, NULL, NULL };
	uint64_t size, limit = s->cfg->message_size_limit, have;
	char got[24];
	int last;

	if (smtp_parse_bdat(cmd->arg, cmd->arglen, &size, &last) < 0)
		die_hangup(s, 501, "5.5.4",
		    "Syntax: BDAT chunk-size [LAST], closing connection",
		    "malformed BDAT");
	have = s->bdat ? s->data.size : 0;
	if (!s->esmtp)
		err = (struct smtp_reply){ 503, "5.5.1",
		    "Error: send EHLO first" };
	else if (!s->in_mail)
		err = (struct smtp_reply){ 503, "5.5.1",
		    "Error: need MAIL command" };
	else if (s->env.n_rcpts == 0)
		err = s->rcpt_tried > 0 ?
		    (struct smtp_reply){ 554, "5.5.1",
		    "Error: no valid recipients" } :
		    (struct smtp_reply){ 503, "5.5.1",
		    "Error: need RCPT command" };
	else if (size > limit || have > limit - size)
		err = (struct smtp_reply){ 552, "5.3.4", "Error: message "
		    "size exceeds fixed maximum message size" };
	if (err.code != 0) {
		if (size > limit)
			die_hangup(s, err.code, err.status, err.text,
			    "BDAT chunk too big to skip");
		skip_bytes(s, size);
		if (err.code == 552) {
			abort_message(s);
			session_reset_txn(s);
		}
		session_reply(s, err.code, err.status, "%s", err.text);
		return;
	}
	if (!s->bdat) {
		if (message_begin(s, SMTP_DATA_MODE_BDAT) < 0) {
			skip_bytes(s, size);
			session_reply(s, 451, "4.3.0",
			    "Error: queue unavailable, try again later");
			session_reset_txn(s);
			return;
		}
		s->bdat = 1;
	}
	read_chunk(s, size);
	if (last || (s->data.errors & REFUSED)) {
		message_finish(s);
		return;
	}
	session_reply(s, 250, "2.0.0", "Ok: %s octets received",
	    num(got, sizeof(got), s->data.size));
}

/* cmd_starttls - STARTTLS (RFC 3207) */
static void
cmd_starttls(struct session *s, const struct smtp_cmd *cmd)
{
	if (s->tls) {
		session_reply(s, 554, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->tls_ctx == NULL) {
		session_reply(s, s->cfg->tls_cert != NULL ? 454 : 502,
		    s->cfg->tls_cert != NULL ? "4.7.0" : "5.5.1",
		    "Error: TLS not available");
		return;
	}
	if (cmd->arglen > 0) {
		session_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (!s->esmtp) {
		session_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->in_mail) {
		session_reply(s, 503, "5.5.1",
		    "Error: STARTTLS not allowed in a mail transaction");
		return;
	}
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	start_tls(s);
	/* RFC 3207 4.2: forget everything the client said before. */
	session_reset_txn(s);
	s->helo_done = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->authenticated = 0;
	s->auth_user[0] = '\0';
}

/* cmd_vrfy - VRFY: 252 unless configured to answer authenticated users */
static void
cmd_vrfy(struct session *s, const struct smtp_cmd *cmd)
{
	struct addr a;
	int kind;

	junk(s);
	if (cmd->arglen == 0) {
		session_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	if (s->opt->vrfy_auth && s->authenticated &&
	    smtp_parse_vrfy(cmd->arg, cmd->arglen, SMTP_P_UTF8, &a) == 0 &&
	    policy_rcpt(s->cfg, &a, NULL, 0) == POLICY_LOCAL) {
		kind = users_rcpt(s, &a);
		if (kind < 0)
			session_reply(s, 451, "4.3.0",
			    "Error: temporary lookup failure");
		else if (kind == USERDB_NONE)
			session_reply(s, 550, "5.1.1", "Error: user unknown");
		else
			session_reply(s, 250, "2.1.5", "Ok");
		return;
	}
	session_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

/* cmd_expn - EXPN: only an authenticated user, only its own domain */
static void
cmd_expn(struct session *s, const struct smtp_cmd *cmd)
{
	struct addr a;
	const char *at, *p, *nl;
	int kind;

	junk(s);
	if (cmd->arglen == 0) {
		session_reply(s, 501, "5.5.4", "Syntax: EXPN list");
		return;
	}
	if (!s->authenticated) {
		session_reply(s, 550, "5.7.1",
		    "Error: EXPN is for authenticated users only");
		return;
	}
	if (smtp_parse_vrfy(cmd->arg, cmd->arglen, SMTP_P_UTF8, &a) < 0) {
		session_reply(s, 501, "5.1.3", "Syntax error in address");
		return;
	}
	at = strrchr(s->auth_user, '@');
	if (at == NULL || a.domain[0] == '\0' ||
	    !str_eq_nocase(at + 1, a.domain)) {
		session_reply(s, 550, "5.7.1",
		    "Error: EXPN only for lists of your own domain");
		return;
	}
	buf_reset(&s->tmp);
	kind = users_expn(s, &a, &s->tmp);
	if (kind < 0) {
		session_reply(s, 451, "4.3.0",
		    "Error: temporary lookup failure");
		return;
	}
	if (kind == USERDB_NONE || s->tmp.len == 0) {
		session_reply(s, 550, "5.1.1", "Error: no such list");
		return;
	}
	p = s->tmp.data;
	for (;;) {
		char line[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];

		nl = strchr(p, '\n');
		(void)snprintf(line, sizeof(line), "<%.*s>",
		    (int)(nl != NULL ? nl - p : (ptrdiff_t)strlen(p)), p);
		if (nl == NULL || nl[1] == '\0') {
			session_reply(s, 250, "2.1.5", "%s", line);
			return;
		}
		reply_more(s, 250, "2.1.5", line);
		p = nl + 1;
	}
}

/* cmd_help - HELP */
static void
cmd_help(struct session *s)
{
	junk(s);
	reply_more(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT");
	reply_more(s, 214, "2.0.0", "VRFY EXPN HELP STARTTLS AUTH");
	session_reply(s, 214, "2.0.0", "See RFC 5321; mailstack smtpd(8)");
}

/* command - read one command line and run it */
static void
command(struct session *s)
{
	struct smtp_reply err;
	struct smtp_cmd cmd;
	int flags;

	if (session_read_line(s, SMTPD_READ_TEXT_MAX, s->opt->timeout_ms,
	    &flags) < 0) {
		session_reply(s, 500, "5.5.2", "Error: line too long");
		return;
	}
	if (s->commands < ULONG_MAX)
		s->commands++;
	(void)smtp_cmd_parse(s->line.data != NULL ? s->line.data : "",
	    s->line.len, &cmd);
	if (s->line.len > smtp_cmd_text_max(cmd.verb, s->esmtp)) {
		session_reply(s, 500, "5.5.2", "Error: line too long");
		return;
	}
	if (smtp_check_line(s->line.data, s->line.len, &cmd, &err) < 0) {
		if (cmd.verb == SMTP_UNKNOWN && s->unknown < UINT32_MAX)
			s->unknown++;
		session_reply(s, err.code, err.status, "%s", err.text);
		return;
	}
	sync_check(s, cmd.verb);
	switch (cmd.verb) {
	case SMTP_HELO:
		cmd_helo(s, &cmd, 0);
		break;
	case SMTP_EHLO:
		cmd_helo(s, &cmd, 1);
		break;
	case SMTP_MAIL:
		cmd_mail(s, &cmd);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, &cmd);
		break;
	case SMTP_DATA:
		cmd_data(s, &cmd, flags);
		break;
	case SMTP_BDAT:
		cmd_bdat(s, &cmd);
		break;
	case SMTP_RSET:
		junk(s);
		if (cmd.arglen > 0) {
			session_reply(s, 501, "5.5.4", "Syntax: RSET");
			break;
		}
		session_reset_txn(s);
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_NOOP:
		junk(s);
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_VRFY:
		cmd_vrfy(s, &cmd);
		break;
	case SMTP_EXPN:
		cmd_expn(s, &cmd);
		break;
	case SMTP_HELP:
		cmd_help(s);
		break;
	case SMTP_QUIT:
		session_reply(s, 221, "2.0.0", "%s closing connection",
		    s->cfg->hostname);
		session_end(s, "quit");
		exit(0);
	case SMTP_TURN:
		session_reply(s, 502, "5.5.1", "Error: TURN is obsolete and "
		    "unsafe (RFC 2821 removed it): it would hand this host's "
		    "queued mail to an unauthenticated client");
		break;
	case SMTP_STARTTLS:
		cmd_starttls(s, &cmd);
		break;
	case SMTP_AUTH:
		session_auth(s, &cmd);
		break;
	case SMTP_HTTP:
		die_hangup(s, 554, "5.5.2", "Error: this is an SMTP server, "
		    "not a web server", "http");
	default:
		if (s->unknown < UINT32_MAX)
			s->unknown++;
		session_reply(s, 500, "5.5.2", "Error: command not recognized");
		break;
	}
}

/* session_run - greet, then serve commands; never returns */
void
session_run(struct session *s)
{
	session_log(s, LOG_INFO, "connect", "mode", mode_names[s->mode],
	    (const char *)NULL);
	if (s->mode == SMTPD_MODE_SUBMISSIONS)
		start_tls(s);
	/* A client that talks first is not waiting for us: SECURITY X1. */
	if (in_pending(&s->in))
		die_hangup(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization", "pregreet");
	session_reply(s, 220, NULL, "%s ESMTP mailstack", s->cfg->hostname);
	for (;;) {
		command(s);
		count(s);
	}
}
