/*
 * NAME
 *	pop3d-session - the POP3 state machine (RFC 1939, 2449, 2595)
 *
 * SYNOPSIS
 *	void pop3d_session(struct pop3d *p);
 *	int pop3d_read_line(struct pop3d *p, struct buf *line, size_t max,
 *	    int *toolong_r);
 *	int pop3d_login_allowed(const struct pop3d *p);
 *	void pop3d_bad(struct pop3d *p, const char *reply);
 *	void pop3d_summary(const struct pop3d *p, struct buf *b);
 *
 * DESCRIPTION
 *	pop3d_session() greets the client (one that spoke before the
 *	greeting is sent away, SECURITY X1) and runs commands until QUIT, the
 *	end of the connection, or a limit. In the AUTHORIZATION state it
 *	takes CAPA, STLS, USER, PASS, AUTH and QUIT; in TRANSACTION, CAPA,
 *	STAT, LIST, RETR, TOP, UIDL, DELE, RSET, NOOP and QUIT; QUIT there
 *	enters UPDATE, the only place where anything in the Maildir changes
 *	(pop3d-maildrop.c). A connection that ends any other way changes
 *	nothing: messages marked with DELE stay (RFC 1939 section 6,
 *	SECURITY P3).
 *
 *	Commands are read one line at a time, so a reply never overtakes
 *	the command it answers and pipelined commands (RFC 2449 PIPELINING)
 *	are answered in order; replies go out together when the pipelined
 *	input runs out. pop3d_read_line() reads up to an LF (a CR before it
 *	is dropped), a byte at a time from io's buffer, so that nothing
 *	after the line is taken: what follows STLS in the same packet is
 *	still in io's buffer when io_start_tls_server() throws it away
 *	(SECURITY P1). A line longer than max is read to its end and
 *	reported with *toolong_r; one of more than POP3D_DISCARD_MAX octets
 *	ends the session at once (SECURITY P2).
 *
 *	Limits: every command line must arrive within pop3_idle_timeout
 *	(the RFC 1939 autologout timer, also a per-command deadline against
 *	a client sending one byte at a time); a TLS handshake (STLS) must
 *	end within pop3_tls_timeout; a message (RETR, TOP) must be taken at
 *	pop3_min_send_rate octets a second or better, after a grace of one
 *	pop3_idle_timeout, or the session ends as a timeout (no "-ERR" can
 *	follow a part of a message); POP3D_BAD_PREAUTH_MAX bad
 *	commands before login (POP3D_BAD_MAX after) end the session: an
 *	unknown command, a syntax error, a line too long, a command not
 *	allowed in the state. Looking up a message that does not exist is
 *	not a bad command.
 *
 *	Responses carry RFC 2449/3206 codes: [IN-USE], [LOGIN-DELAY],
 *	[SYS/TEMP], [SYS/PERM] and [AUTH] (see pop3d(8) for each case).
 *
 * DIAGNOSTICS
 *	The session ends with exit(): 0 after QUIT, at end of input, or
 *	when the client was sent away; 111 after an I/O error, a timeout or
 *	a failure on our side (die_io, die_temp).
 *
 * SECURITY
 *	Everything read here comes from the client and is bounded: lines
 *	by max, waits by the timeout and the deadline, errors by the
 *	counters. Message numbers are checked against the session's list
 *	before use.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "pop3d.h"

#define READ_CHUNK	16384

/* pop3d_login_allowed - may credentials be sent now? */
int
pop3d_login_allowed(const struct pop3d *p)
{
	return io_is_tls(p->io) || p->cfg->allow_plaintext_auth;
}

/* pop3d_read_line - one line: 1, 0 at EOF, -1 error, -2 far too long */
int
pop3d_read_line(struct pop3d *p, struct buf *line, size_t max,
    int *toolong_r)
{
	size_t total = 0;
	char c;
	int r;

	buf_reset(line);
	*toolong_r = 0;
	for (;;) {
		r = io_read(p->io, &c, 1);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;	/* a partial last line is dropped */
		if (c == '\n')
			break;
		if (++total > POP3D_DISCARD_MAX)
			return -2;
		if (*toolong_r)
			continue;
		if (line->len >= max || buf_append(line, &c, 1) < 0) {
			*toolong_r = 1;
			buf_reset(line);
		}
	}
	if (!*toolong_r && line->len > 0 && line->data[line->len - 1] == '\r')
		buf_truncate(line, line->len - 1);
	return 1;
}

/* pop3d_bad - answer a bad command; too many of them end the session */
void
pop3d_bad(struct pop3d *p, const char *reply)
{
	unsigned max = p->state == POP3D_AUTHORIZATION ?
	    POP3D_BAD_PREAUTH_MAX : POP3D_BAD_MAX;

	if (++p->bad < max) {
		pop3d_reply(p, "%s", reply);
		return;
	}
	pop3d_reply(p, "-ERR Too many bad commands, closing connection");
	pop3d_flush(p);
	pop3d_log_user(p, LOG_WARNING, "disconnect", " reason=bad-commands"
	    " bad=%u", p->bad);
	exit(0);
}

/* pop3d_summary - append the step 7 fields of a session that ends */
void
pop3d_summary(const struct pop3d *p, struct buf *b)
{
	if (p->state == POP3D_AUTHORIZATION)
		return;
	(void)buf_printf(b, " step=7 retr=%llu retr_octets=%llu top=%llu"
	    " top_octets=%llu deleted=0 marked=%zu",
	    (unsigned long long)p->retr_count,
	    (unsigned long long)p->retr_octets,
	    (unsigned long long)p->top_count,
	    (unsigned long long)p->top_octets, p->n_deleted);
}

/* logout_log - log the end of a session that did not commit */
static void
logout_log(struct pop3d *p, const char *reason)
{
	struct buf b = BUF_INIT(512);

	pop3d_summary(p, &b);
	pop3d_log_user(p, LOG_INFO, "disconnect", " reason=%s%s", reason,
	    buf_cstr(&b));
	buf_free(&b);
}

/* cmd_capa - RFC 2449 capabilities for the current state */
static void
cmd_capa(struct pop3d *p)
{
	int preauth = p->state == POP3D_AUTHORIZATION;

	pop3d_reply(p, "+OK Capability list follows");
	pop3d_reply(p, "TOP");
	pop3d_reply(p, "UIDL");
	pop3d_reply(p, "RESP-CODES");
	pop3d_reply(p, "AUTH-RESP-CODE");
	pop3d_reply(p, "PIPELINING");
	if (preauth && pop3d_login_allowed(p)) {
		pop3d_reply(p, "USER");
		pop3d_reply(p, "SASL PLAIN LOGIN");
	}
	if (preauth && p->tls_ctx != NULL && !io_is_tls(p->io))
		pop3d_reply(p, "STLS");
	pop3d_reply(p, "IMPLEMENTATION %s", POP3D_IMPLEMENTATION);
	pop3d_reply(p, ".");
}

/* cmd_stls - RFC 2595: start TLS; pipelined plaintext is thrown away */
static void
cmd_stls(struct pop3d *p)
{
	const char *error = NULL;
	char desc[128];
	struct buf d = BUF_INIT(sizeof(desc));
	size_t pending;

	if (io_is_tls(p->io)) {
		pop3d_bad(p, "-ERR TLS is already active");
		return;
	}
	if (p->tls_ctx == NULL) {
		pop3d_reply(p, "-ERR [SYS/PERM] TLS is not available");
		return;
	}
	pending = io_pending(p->io);
	if (pending > 0)
		pop3d_log_user(p, LOG_WARNING, "stls-pipelined",
		    " discarded=%zu", pending);
	pop3d_reply(p, "+OK Begin TLS negotiation");
	io_set_timeout(p->io, p->tls_ms);
	io_set_deadline(p->io, p->tls_ms);
	if (io_start_tls_server(p->io, p->tls_ctx, &error) < 0)
		die_io(p, "tls-handshake");
	io_set_timeout(p->io, p->idle_ms);
	/* A new start: nothing said before TLS counts (RFC 2595 4). */
	p->have_user = 0;
	explicit_bzero(p->user, sizeof(p->user));
	(void)io_tls_describe(p->io, &d);
	pop3d_log_user(p, LOG_INFO, "starttls", " tls=\"%s\"", buf_cstr(&d));
	buf_free(&d);
}

/* get_msg - message number k of c, or NULL after the -ERR */
static struct mailbox_msg *
get_msg(struct pop3d *p, const struct pop3d_cmd *c, int k, size_t *idx_r)
{
	uint32_t n = c->num[k];

	if (n == 0 || n > p->list.n) {
		pop3d_reply(p, "-ERR No such message");
		return NULL;
	}
	if (p->deleted[n - 1]) {
		pop3d_reply(p, "-ERR Message %u already deleted", n);
		return NULL;
	}
	*idx_r = n - 1;
	return &p->list.v[n - 1];
}

/* cmd_stat - "+OK count octets" of the messages not deleted */
static void
cmd_stat(struct pop3d *p)
{
	pop3d_reply(p, "+OK %zu %llu", p->list.n - p->n_deleted,
	    (unsigned long long)(p->list.vsize - p->deleted_vsize));
}

/* cmd_list - sizes, or with UIDL the unique ids */
static void
cmd_list(struct pop3d *p, const struct pop3d_cmd *c, int uidl)
{
	struct mailbox_msg *m;
	size_t i;

	if (c->nnum == 1) {
		if ((m = get_msg(p, c, 0, &i)) == NULL)
			return;
		if (uidl)
			pop3d_reply(p, "+OK %zu %s", i + 1, m->uid);
		else
			pop3d_reply(p, "+OK %zu %llu", i + 1,
			    (unsigned long long)m->vsize);
		return;
	}
	if (uidl)
		pop3d_reply(p, "+OK Unique-ID listing follows");
	else
		pop3d_reply(p, "+OK %zu messages (%llu octets)",
		    p->list.n - p->n_deleted,
		    (unsigned long long)(p->list.vsize - p->deleted_vsize));
	for (i = 0; i < p->list.n; i++) {
		if (p->deleted[i])
			continue;
		if (uidl)
			pop3d_reply(p, "%zu %s", i + 1, p->list.v[i].uid);
		else
			pop3d_reply(p, "%zu %llu", i + 1,
			    (unsigned long long)p->list.v[i].vsize);
	}
	pop3d_reply(p, ".");
}

/*
 * send_deadline - ms a client may take for size octets: the idle time
 * plus size at pop3_min_send_rate; -1 (no deadline, only the idle
 * timeout on each write) when the rate is 0
 */
static int
send_deadline(const struct pop3d *p, uint64_t size)
{
	uint64_t ms;

	if (p->min_rate == 0)
		return -1;
	ms = (uint64_t)p->idle_ms + size / p->min_rate * 1000 +
	    size % p->min_rate * 1000 / p->min_rate;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* cmd_retr - RETR n, or TOP n lines (top) */
static void
cmd_retr(struct pop3d *p, const struct pop3d_cmd *c, int top)
{
	struct pop3d_out o;
	struct buf out = BUF_INIT(2 * READ_CHUNK + 16);
	struct buf lk = BUF_INIT(POP3D_MSGID_MAX * 4 + 64);
	struct mailbox_msg *m;
	const char *error = NULL;
	char *chunk;
	size_t idx;
	ssize_t r;
	int fd;

	if ((m = get_msg(p, c, 0, &idx)) == NULL)
		return;
	if ((fd = mailbox_open_msg(&p->md, m, &error)) < 0) {
		if (errno == ENOENT) {
			pop3d_log_user(p, LOG_NOTICE, "message-gone",
			    " uidl=%s", m->uid);
			pop3d_reply(p, "-ERR Message %zu was removed by "
			    "another client", idx + 1);
			return;
		}
		pop3d_log_user(p, LOG_ERR, "read-failed", " uidl=%s"
		    " error=\"%s: %s\"", m->uid, error, strerror(errno));
		pop3d_reply(p, "-ERR [SYS/TEMP] Cannot read message %zu",
		    idx + 1);
		return;
	}
	if (top)
		pop3d_reply(p, "+OK Top of message follows");
	else
		pop3d_reply(p, "+OK %llu octets",
		    (unsigned long long)m->vsize);
	io_set_deadline(p->io, send_deadline(p, m->vsize));
	pop3d_out_init(&o, top, top ? c->num[1] : 0);
	chunk = alloc_malloc(READ_CHUNK);
	while (!o.done) {
		r = read(fd, chunk, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* +OK went out: no terminator may follow now. */
			pop3d_log_user(p, LOG_ERR, "read-failed", " uidl=%s"
			    " error=\"%s\"", m->uid, strerror(errno));
			exit(111);
		}
		if (r == 0)
			break;
		if (pop3d_out_feed(&o, chunk, (size_t)r, &out) < 0)
			die_temp(p, NULL, "message output buffer");
		if (io_write(p->io, out.data, out.len) < 0)
			die_io(p, "write");
		buf_reset(&out);
	}
	free(chunk);
	(void)close(fd);
	if (pop3d_out_end(&o, &out) < 0 ||
	    io_write(p->io, out.data, out.len) < 0)
		die_io(p, "write");
	buf_free(&out);
	if (top) {
		p->top_count++;
		p->top_octets += o.octets;
		buf_free(&lk);
		return;
	}
	p->retrieved[idx] = 1;
	p->retr_count++;
	p->retr_octets += o.octets;
	if (o.msgid_len > 0)
		(void)log_kv(&lk, "msgid", o.msgid, o.msgid_len);
	pop3d_log_user(p, LOG_INFO, "retr", " step=7 uidl=%s octets=%llu%s",
	    m->uid, (unsigned long long)o.octets, buf_cstr(&lk));
	if (o.octets != m->vsize)
		pop3d_log_user(p, LOG_NOTICE, "size-mismatch", " uidl=%s"
		    " listed=%llu sent=%llu", m->uid,
		    (unsigned long long)m->vsize,
		    (unsigned long long)o.octets);
	buf_free(&lk);
}

/* cmd_dele - mark a message; it goes at QUIT */
static void
cmd_dele(struct pop3d *p, const struct pop3d_cmd *c)
{
	size_t idx;

	if (get_msg(p, c, 0, &idx) == NULL)
		return;
	p->deleted[idx] = 1;
	p->n_deleted++;
	p->deleted_vsize += p->list.v[idx].vsize;
	pop3d_reply(p, "+OK Message %zu deleted", idx + 1);
}

/* cmd_rset - unmark every message */
static void
cmd_rset(struct pop3d *p)
{
	memset(p->deleted, 0, p->list.n);
	p->n_deleted = 0;
	p->deleted_vsize = 0;
	pop3d_reply(p, "+OK %zu messages (%llu octets)", p->list.n,
	    (unsigned long long)p->list.vsize);
}

/* allowed - 1 if command id may be given in the current state */
static int
allowed(const struct pop3d *p, enum pop3d_cmd_id id)
{
	switch (id) {
	case POP3D_CMD_CAPA:
	case POP3D_CMD_QUIT:
		return 1;
	case POP3D_CMD_USER:
	case POP3D_CMD_PASS:
	case POP3D_CMD_AUTH:
	case POP3D_CMD_STLS:
		return p->state == POP3D_AUTHORIZATION;
	default:
		return p->state == POP3D_TRANSACTION;
	}
}

/* dispatch - run one parsed command */
static void
dispatch(struct pop3d *p, struct pop3d_cmd *c, int pr)
{
	if (!allowed(p, c->id)) {
		pop3d_bad(p, p->state == POP3D_AUTHORIZATION ?
		    "-ERR Not logged in" : "-ERR Already logged in");
		return;
	}
	if (pr == POP3D_PARSE_RANGE) {
		if (c->id == POP3D_CMD_TOP && c->bad_num == 1)
			pop3d_reply(p, "-ERR Line count too large");
		else
			pop3d_reply(p, "-ERR No such message");
		return;
	}
	if (pr != POP3D_PARSE_OK) {
		pop3d_bad(p, "-ERR Syntax error");
		return;
	}
	switch (c->id) {
	case POP3D_CMD_CAPA:
		cmd_capa(p);
		break;
	case POP3D_CMD_STLS:
		cmd_stls(p);
		break;
	case POP3D_CMD_USER:
		pop3d_cmd_user(p, c);
		break;
	case POP3D_CMD_PASS:
		pop3d_cmd_pass(p, c);
		break;
	case POP3D_CMD_AUTH:
		pop3d_cmd_auth(p, c);
		break;
	case POP3D_CMD_QUIT:
		if (p->state == POP3D_TRANSACTION)
			pop3d_maildrop_update(p);	/* does not return */
		pop3d_reply(p, "+OK Logging out");
		pop3d_flush(p);
		logout_log(p, "quit");
		exit(0);
	case POP3D_CMD_STAT:
		cmd_stat(p);
		break;
	case POP3D_CMD_LIST:
		cmd_list(p, c, 0);
		break;
	case POP3D_CMD_UIDL:
		cmd_list(p, c, 1);
		break;
	case POP3D_CMD_RETR:
		cmd_retr(p, c, 0);
		break;
	case POP3D_CMD_TOP:
		cmd_retr(p, c, 1);
		break;
	case POP3D_CMD_DELE:
		cmd_dele(p, c);
		break;
	case POP3D_CMD_RSET:
		cmd_rset(p);
		break;
	case POP3D_CMD_NOOP:
		pop3d_reply(p, "+OK");
		break;
	case POP3D_CMD_UNKNOWN:
		pop3d_bad(p, "-ERR Unknown command");
		break;
	}
}

/*
 * pregreet - a client that talks before the greeting is not a mail
 * client waiting for it (SECURITY X1): say so and hang up
 */
static void
pregreet(struct pop3d *p)
{
	char c;
	int r;

	if (io_input_ready(p->io) <= 0)
		return;
	r = io_read(p->io, &c, 1);
	if (r <= 0) {
		logout_log(p, "eof");
		exit(0);
	}
	pop3d_log_user(p, LOG_WARNING, "disconnect", " reason=pregreet");
	pop3d_reply(p, "-ERR Protocol error: client spoke before the "
	    "greeting");
	pop3d_flush(p);
	exit(0);
}

/* pop3d_session - greet, then run commands until the session ends */
void
pop3d_session(struct pop3d *p)
{
	struct buf line = BUF_INIT(POP3D_LINE_MAX);
	struct pop3d_cmd c;
	int r, toolong, pr;

	if (!p->handed_off) {	/* pop3d-user starts logged in */
		p->state = POP3D_AUTHORIZATION;
		if (!io_is_tls(p->io))
			pregreet(p);
		pop3d_reply(p, "+OK %s POP3 server ready",
		    p->cfg->hostname);
	}
	for (;;) {
		io_set_deadline(p->io, p->idle_ms);
		r = pop3d_read_line(p, &line, POP3D_LINE_MAX, &toolong);
		if (r == 0) {
			logout_log(p, "eof");
			exit(0);
		}
		if (r == -2) {
			pop3d_reply(p, "-ERR Line too long, closing "
			    "connection");
			pop3d_flush(p);
			pop3d_log_user(p, LOG_WARNING, "disconnect",
			    " reason=line-too-long");
			exit(0);
		}
		if (r < 0)
			die_io(p, errno == ETIMEDOUT ? "timeout" : "read");
		if (toolong) {
			pop3d_bad(p, "-ERR Line too long");
			continue;
		}
		pr = pop3d_parse(line.data != NULL ? line.data : "",
		    line.len, &c);
		if (pr == POP3D_PARSE_UNKNOWN) {
			pop3d_bad(p, "-ERR Unknown command");
			continue;
		}
		dispatch(p, &c, pr);
		if (line.data != NULL)
			explicit_bzero(line.data, line.len);
	}
}
