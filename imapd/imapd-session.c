/*
 * NAME
 *	imapd-session - reading commands, dispatching, any-state commands
 *
 * SYNOPSIS
 *	void imapd_session(struct imapd *d);
 *	void imapd_ok(struct imapd *d, const char *fmt, ...);
 *	void imapd_no(struct imapd *d, const char *fmt, ...);
 *	void imapd_bad(struct imapd *d, const char *fmt, ...);
 *	int imapd_read_line(struct imapd *d, struct buf *line, size_t max);
 *	void imapd_capability(struct imapd *d, struct buf *out);
 *
 * DESCRIPTION
 *	imapd_session() greets the client and runs commands until LOGOUT,
 *	the end of the connection or a limit. A command is assembled in
 *	memory line by line: when a line ends with a literal announcement
 *	"{n}" the size is checked against the limit first (before login
 *	IMAPD_PREAUTH_LITERAL_MAX; after it imap_literal_max, or the
 *	APPENDLIMIT (message_size_limit) for APPEND), then "+" is sent and
 *	exactly n octets are read. Too large: "tag NO [TOOBIG]" and no "+"
 *	for a synchronising literal; "* BYE [TOOBIG]" and the end of the
 *	connection for a non-synchronising one ("{n+}", LITERAL+, whose
 *	octets are already on the way) (SECURITY I2). A whole command is at
 *	most IMAPD_CMD_MAX octets (plus the APPEND message) and holds at most
 *	IMAPD_LITERALS_MAX literals; beyond that "* BYE" (I3). Reading one
 *	command has a deadline (X2). Then imap_parse() cuts it up with its
 *	nesting and argument limits (I4) and the command runs if it is
 *	allowed in the current state.
 *
 *	Too many bad commands (IMAPD_BAD_PREAUTH_MAX before login,
 *	IMAPD_BAD_MAX after) end the session (U2).
 *
 *	STARTTLS: "OK", then io_start_tls_server(), which throws away
 *	whatever the client sent after the command in plaintext (I1).
 *	ENABLE IMAP4rev2 switches the session to RFC 9051 where it differs
 *	from RFC 3501 (d->rev2; see imapd(8) for the list).
 *	IDLE (RFC 2177) waits for "DONE" while inotify on new/ and cur/ of
 *	the selected folder wakes it to report changes; a line other than
 *	DONE is BAD and ends IDLE; IDLE ends after imap_idle_timeout (I9).
 *
 * DIAGNOSTICS
 *	I/O failures end the session through die_io().
 *
 * SECURITY
 *	Everything read here is the client's: every length is checked before
 *	memory is reserved for it.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "imapd.h"
#include "log.h"
#include "str.h"

#define S_NA	(1 << IMAPD_NOTAUTH)
#define S_AU	(1 << IMAPD_AUTH)
#define S_SE	(1 << IMAPD_SELECTED)
#define S_ANY	(S_NA | S_AU | S_SE)

/* reply - "TAG STATUS text" */
static void
reply(struct imapd *d, const char *status, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT(8192);

	(void)buf_printf(&b, "%s %s ", d->tag != NULL ? d->tag : "*", status);
	(void)buf_vprintf(&b, fmt, ap);
	(void)buf_append(&b, "\r\n", 2);
	imapd_send(d, b.data, b.len);
	buf_free(&b);
}

/* imapd_ok - tagged OK */
void
imapd_ok(struct imapd *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(d, "OK", fmt, ap);
	va_end(ap);
}

/* imapd_no - tagged NO */
void
imapd_no(struct imapd *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(d, "NO", fmt, ap);
	va_end(ap);
}

/* imapd_bad - tagged BAD; counts towards the bad command limit */
void
imapd_bad(struct imapd *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(d, "BAD", fmt, ap);
	va_end(ap);
	d->bad++;
	if (d->bad >= (d->state == IMAPD_NOTAUTH ? IMAPD_BAD_PREAUTH_MAX :
	    IMAPD_BAD_MAX))
		die_bye(d, "Too many invalid commands", "bad-commands");
}

/*
 * imapd_capability - the capability list for now. LITERAL+ (RFC 7888)
 * stays: it is a superset of the LITERAL- that IMAP4rev2 implies, and a
 * server announces one of the two.
 */
void
imapd_capability(struct imapd *d, struct buf *out)
{
	(void)buf_append_str(out, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID "
	    "ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE "
	    "BINARY ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE");
	if (d->state == IMAPD_NOTAUTH) {
		if (!io_is_tls(d->io) && d->tls_ctx != NULL)
			(void)buf_append_str(out, " STARTTLS");
		if (imapd_login_allowed(d))
			(void)buf_append_str(out, " AUTH=PLAIN");
		else
			(void)buf_append_str(out, " LOGINDISABLED");
	} else
		(void)buf_printf(out, " APPENDLIMIT=%llu",
		    (unsigned long long)d->cfg->message_size_limit);
}

/* imapd_read_line - one line: 1, or exits at EOF/error; 0 too long */
int
imapd_read_line(struct imapd *d, struct buf *line, size_t max)
{
	int flags, r;

	r = io_read_line(d->io, line, max, &flags);
	if (r == 0) {
		imapd_log(d, LOG_INFO, "disconnect", " reason=eof step=7 "
		    "messages=%llu octets=%llu",
		    (unsigned long long)d->sent_msgs,
		    (unsigned long long)d->sent_octets);
		exit(0);
	}
	if (r < 0) {
		if (errno == EMSGSIZE)
			return 0;
		die_io(d, errno == ETIMEDOUT ? "timeout" : "read");
	}
	return 1;
}

/* literal_limit - the largest literal the command so far may announce */
static uint64_t
literal_limit(struct imapd *d, const struct buf *cmd)
{
	const char *s = cmd->data, *sp, *end = cmd->data + cmd->len;

	if (d->state == IMAPD_NOTAUTH)
		return IMAPD_PREAUTH_LITERAL_MAX;
	if (s != NULL && (sp = memchr(s, ' ', cmd->len)) != NULL &&
	    end - sp > 7 && str_eq_nocase_n(sp + 1, "APPEND ", 7))
		return d->cfg->message_size_limit;
	return d->lim.literal_max;
}

/* set_tag_of - the tag at the start of cmd, for replies; "*" if none */
static void
set_tag_of(struct imapd *d, const struct buf *cmd, char *tag, size_t size)
{
	if (cmd->data == NULL || imap_parse_tag(cmd->data, cmd->len, tag,
	    size) < 0)
		(void)str_copy(tag, size, "*");
	d->tag = tag;
}

/*
 * read_command - assemble one command with its literals in d->cmdbuf;
 * 1 when there is one, 0 when it was refused (answered here)
 */
static int
read_command(struct imapd *d)
{
	static char tag[IMAP_TAG_MAX + 1];
	struct buf line = BUF_INIT(IMAPD_LINE_MAX);
	struct buf *cmd = &d->cmdbuf;
	unsigned nlit = 0;
	int first = 1;

	buf_reset(cmd);
	cmd->max = IMAPD_CMD_MAX;
	for (;;) {
		uint64_t n, limit;
		size_t start;
		int plus, r;

		if (!imapd_read_line(d, &line, IMAPD_LINE_MAX)) {
			set_tag_of(d, cmd, tag, sizeof(tag));
			buf_free(&line);
			if (first) {
				d->tag = "*";
				imapd_bad(d, "Line too long");
				return 0;
			}
			die_bye(d, "Command line too long", "line-too-long");
		}
		if (first) {
			io_set_deadline(d->io, d->lim.cmd_ms);
			first = 0;
		}
		if (buf_append(cmd, line.data, line.len) < 0) {
			set_tag_of(d, cmd, tag, sizeof(tag));
			die_bye(d, "[TOOBIG] Command too long", "command-size");
		}
		r = imap_literal_announce(line.data, line.len, &n, &plus,
		    &start);
		if (r == 0)
			break;
		limit = literal_limit(d, cmd);
		set_tag_of(d, cmd, tag, sizeof(tag));
		if (r < 0 || n > limit || ++nlit > IMAPD_LITERALS_MAX ||
		    n > cmd->max - cmd->len || cmd->max - cmd->len - n < 2) {
			buf_free(&line);
			if (plus) {
				imapd_log(d, LOG_NOTICE, "literal-refused",
				    " size=%llu", (unsigned long long)n);
				die_bye(d, "[TOOBIG] Literal too large",
				    "literal-size");
			}
			if (nlit > IMAPD_LITERALS_MAX)
				die_bye(d, "Too many literals", "literals");
			io_set_deadline(d->io, -1);
			imapd_no(d, "[TOOBIG] Literal too large");
			return 0;
		}
		if (n > IMAPD_CMD_MAX && cmd->max < n + IMAPD_CMD_MAX)
			cmd->max = (size_t)n + IMAPD_CMD_MAX;
		if (!plus) {
			imapd_send(d, "+ OK\r\n", 6);
			imapd_flush(d);
		}
		/* Slow links get time for large literals: 8 KB/s at least. */
		io_set_deadline(d->io, n / 8 >
		    (uint64_t)(INT_MAX - d->lim.cmd_ms) ? INT_MAX :
		    d->lim.cmd_ms + (int)(n / 8));
		if (buf_append(cmd, "\r\n", 2) < 0 ||
		    io_read_exact(d->io, cmd, (size_t)n) < 0) {
			if (errno == ENOBUFS)
				die_bye(d, "[TOOBIG] Command too long",
				    "command-size");
			die_io(d, errno == ETIMEDOUT ? "timeout" : "read");
		}
	}
	io_set_deadline(d->io, -1);
	buf_free(&line);
	return 1;
}

/* cmd_capability - CAPABILITY */
static void
cmd_capability(struct imapd *d)
{
	struct buf b = BUF_INIT(4096);

	imapd_capability(d, &b);
	imapd_printf(d, "* CAPABILITY %s\r\n", buf_cstr(&b));
	buf_free(&b);
	imapd_ok(d, "Capability completed");
}

/* cmd_logout - LOGOUT */
static void __attribute__((noreturn))
cmd_logout(struct imapd *d)
{
	imapd_printf(d, "* BYE Logging out\r\n");
	imapd_ok(d, "Logout completed");
	imapd_flush(d);
	imapd_log(d, LOG_INFO, "logout", " step=7 reason=logout "
	    "messages=%llu octets=%llu", (unsigned long long)d->sent_msgs,
	    (unsigned long long)d->sent_octets);
	if (io_is_tls(d->io))
		(void)io_tls_shutdown(d->io);
	exit(0);
}

/* cmd_starttls - STARTTLS (RFC 9051 6.2.1) */
static void
cmd_starttls(struct imapd *d)
{
	const char *error = NULL;

	if (d->tls_ctx == NULL || io_is_tls(d->io)) {
		imapd_bad(d, "TLS not available");
		return;
	}
	if (imap_cmd_count(&d->cmd) != 0) {
		imapd_bad(d, "STARTTLS takes no arguments");
		return;
	}
	imapd_ok(d, "Begin TLS negotiation now");
	imapd_flush(d);
	if (io_pending(d->io) > 0)
		imapd_log(d, LOG_NOTICE, "starttls-injection",
		    " octets=%zu", io_pending(d->io));
	io_set_timeout(d->io, IMAPD_TLS_SECS * 1000);
	if (io_start_tls_server(d->io, d->tls_ctx, &error) < 0)
		die_io(d, "tls-handshake");
	io_set_timeout(d->io, d->state == IMAPD_NOTAUTH ? d->lim.login_ms :
	    d->lim.idle_ms);
}

/* cmd_id - ID (RFC 2971): take the client's, give ours */
static void
cmd_id(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;

	if (c->nargs == 0 || (!imap_arg_is_nil(&c->args[0]) &&
	    c->args[0].type != IMAP_ARG_LIST) ||
	    imap_arg_next(c, 0) != c->nargs) {
		imapd_bad(d, "Syntax: ID (params) or ID NIL");
		return;
	}
	imapd_printf(d, "* ID (\"name\" \"%s\")\r\n", IMAPD_IMPLEMENTATION);
	imapd_ok(d, "ID completed");
}

/*
 * cmd_enable - ENABLE (RFC 5161): IMAP4rev2 is the one capability that
 * needs enabling; "* ENABLED" lists it the first time only, unknown names
 * are ignored
 */
static void
cmd_enable(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;
	size_t i;
	int now = 0;

	if (c->nargs == 0) {
		imapd_bad(d, "ENABLE needs capability names");
		return;
	}
	for (i = 0; i < c->nargs; i = imap_arg_next(c, i))
		if (c->args[i].type != IMAP_ARG_ATOM) {
			imapd_bad(d, "Syntax error in ENABLE");
			return;
		}
	for (i = 0; i < c->nargs; i = imap_arg_next(c, i))
		if (imap_arg_is_atom(&c->args[i], "IMAP4rev2") && !d->rev2)
			d->rev2 = now = 1;
	imapd_printf(d, "* ENABLED%s\r\n", now ? " IMAP4rev2" : "");
	if (now)
		imapd_log(d, LOG_INFO, "enable", " capability=IMAP4rev2");
	imapd_ok(d, "Enabled");
}

/* cmd_namespace - NAMESPACE (RFC 2342): one personal namespace */
static void
cmd_namespace(struct imapd *d)
{
	if (imap_cmd_count(&d->cmd) != 0) {
		imapd_bad(d, "NAMESPACE takes no arguments");
		return;
	}
	imapd_printf(d, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
	imapd_ok(d, "Namespace completed");
}

/* watch_folder - inotify on new/ and cur/ of the selected folder */
static int
watch_folder(struct imapd *d)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), cwd, ok = 0;
	uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
	    IN_ATTRIB | IN_MODIFY;

	if (fd < 0)
		return -1;
	if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fchdir(d->box.fd) == 0) {
			ok = inotify_add_watch(fd, "new", mask) >= 0 &&
			    inotify_add_watch(fd, "cur", mask) >= 0;
			(void)inotify_add_watch(fd, ".", IN_MOVED_TO |
			    IN_CREATE | IN_MODIFY);
		}
		if (fchdir(cwd) < 0)
			ok = 0;
		(void)close(cwd);
	}
	if (!ok) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* cmd_idle - IDLE (RFC 2177) */
static void
cmd_idle(struct imapd *d)
{
	struct buf line = BUF_INIT(IMAPD_IDLE_LINE_MAX);
	time_t end = time(NULL) + d->lim.idle_ms / 1000;
	int ifd = -1;

	if (imap_cmd_count(&d->cmd) != 0) {
		imapd_bad(d, "IDLE takes no arguments");
		return;
	}
	if (d->state == IMAPD_SELECTED) {
		ifd = watch_folder(d);
		imapd_updates(d, 1);
	}
	imapd_printf(d, "+ idling\r\n");
	imapd_flush(d);
	for (;;) {
		struct pollfd p[2];
		int n = 1, r;
		time_t now = time(NULL);

		if (now >= end)
			die_bye(d, "Autologout, idle for too long",
			    "idle-timeout");
		if (io_pending(d->io) == 0) {
			p[0].fd = 0;
			p[0].events = POLLIN;
			p[0].revents = 0;
			if (ifd >= 0) {
				p[1].fd = ifd;
				p[1].events = POLLIN;
				p[1].revents = 0;
				n = 2;
			}
			/* Without inotify: look every 30 s. */
			r = poll(p, (nfds_t)n, (int)((end - now) > 30 ?
			    30000 : (end - now) * 1000));
			if (r < 0 && errno != EINTR)
				die_io(d, "poll");
			if (r <= 0 || (n == 2 && (p[1].revents & POLLIN))) {
				char ev[4096];

				if (ifd >= 0)
					while (read(ifd, ev, sizeof(ev)) > 0)
						;
				if (d->state == IMAPD_SELECTED) {
					/* Let a burst of renames settle. */
					struct timespec ts = { 0, 50000000 };

					(void)nanosleep(&ts, NULL);
					imapd_updates(d, 1);
					imapd_flush(d);
				}
				continue;
			}
			if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		io_set_timeout(d->io, 60000);
		if (!imapd_read_line(d, &line, IMAPD_IDLE_LINE_MAX))
			die_bye(d, "Line too long during IDLE", "idle-garbage");
		io_set_timeout(d->io, d->lim.idle_ms);
		if (line.len == 4 && str_eq_nocase_n(line.data, "DONE", 4))
			break;
		if (ifd >= 0)
			(void)close(ifd);
		buf_free(&line);
		imapd_bad(d, "Expected DONE");
		return;
	}
	if (ifd >= 0)
		(void)close(ifd);
	buf_free(&line);
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "Idle completed");
}

/* cmd_noop - NOOP and CHECK: report changes */
static void
cmd_noop(struct imapd *d)
{
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "%s completed", d->cmd.name);
}

/* dispatch - run the parsed command d->cmd */
static void
dispatch(struct imapd *d)
{
	static const struct {
		const char *name;
		int states;
	} table[] = {
		{ "CAPABILITY", S_ANY }, { "NOOP", S_ANY }, { "LOGOUT", S_ANY },
		{ "ID", S_ANY }, { "STARTTLS", S_NA }, { "LOGIN", S_NA },
		{ "AUTHENTICATE", S_NA }, { "ENABLE", S_AU | S_SE },
		{ "NAMESPACE", S_AU | S_SE }, { "SELECT", S_AU | S_SE },
		{ "EXAMINE", S_AU | S_SE }, { "CREATE", S_AU | S_SE },
		{ "DELETE", S_AU | S_SE }, { "RENAME", S_AU | S_SE },
		{ "SUBSCRIBE", S_AU | S_SE }, { "UNSUBSCRIBE", S_AU | S_SE },
		{ "LIST", S_AU | S_SE }, { "LSUB", S_AU | S_SE },
		{ "STATUS", S_AU | S_SE }, { "APPEND", S_AU | S_SE },
		{ "IDLE", S_AU | S_SE }, { "CHECK", S_SE }, { "CLOSE", S_SE },
		{ "UNSELECT", S_SE }, { "EXPUNGE", S_SE }, { "SEARCH", S_SE },
		{ "FETCH", S_SE }, { "STORE", S_SE }, { "COPY", S_SE },
		{ "MOVE", S_SE }, { "UID", S_SE },
	};
	struct imap_cmd *c = &d->cmd;
	const char *n = c->name;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(n, table[i].name) == 0)
			break;
	if (i == sizeof(table) / sizeof(table[0])) {
		imapd_bad(d, "Unknown command");
		return;
	}
	if (!(table[i].states & (1 << d->state))) {
		imapd_bad(d, "Command not allowed %s",
		    d->state == IMAPD_NOTAUTH ? "before login" :
		    d->state == IMAPD_AUTH ? "without a selected mailbox" :
		    "now");
		return;
	}
	if (strcmp(n, "CAPABILITY") == 0)
		cmd_capability(d);
	else if (strcmp(n, "NOOP") == 0 || strcmp(n, "CHECK") == 0)
		cmd_noop(d);
	else if (strcmp(n, "LOGOUT") == 0)
		cmd_logout(d);
	else if (strcmp(n, "ID") == 0)
		cmd_id(d);
	else if (strcmp(n, "STARTTLS") == 0)
		cmd_starttls(d);
	else if (strcmp(n, "LOGIN") == 0)
		imapd_cmd_login(d);
	else if (strcmp(n, "AUTHENTICATE") == 0)
		imapd_cmd_authenticate(d);
	else if (strcmp(n, "ENABLE") == 0)
		cmd_enable(d);
	else if (strcmp(n, "NAMESPACE") == 0)
		cmd_namespace(d);
	else if (strcmp(n, "SELECT") == 0 || strcmp(n, "EXAMINE") == 0)
		imapd_cmd_select(d, n[0] == 'E');
	else if (strcmp(n, "CREATE") == 0)
		imapd_cmd_create(d);
	else if (strcmp(n, "DELETE") == 0)
		imapd_cmd_delete(d);
	else if (strcmp(n, "RENAME") == 0)
		imapd_cmd_rename(d);
	else if (strcmp(n, "SUBSCRIBE") == 0 || strcmp(n, "UNSUBSCRIBE") == 0)
		imapd_cmd_subscribe(d, n[0] == 'S');
	else if (strcmp(n, "LIST") == 0 || strcmp(n, "LSUB") == 0)
		imapd_cmd_list(d, n[1] == 'S');
	else if (strcmp(n, "STATUS") == 0)
		imapd_cmd_status(d);
	else if (strcmp(n, "APPEND") == 0)
		imapd_cmd_append(d);
	else if (strcmp(n, "IDLE") == 0)
		cmd_idle(d);
	else if (strcmp(n, "CLOSE") == 0 || strcmp(n, "UNSELECT") == 0)
		imapd_cmd_close(d, n[0] == 'C');
	else if (strcmp(n, "EXPUNGE") == 0)
		imapd_cmd_expunge(d, 0);
	else if (strcmp(n, "SEARCH") == 0)
		imapd_cmd_search(d, 0);
	else if (strcmp(n, "FETCH") == 0)
		imapd_cmd_fetch(d, 0);
	else if (strcmp(n, "STORE") == 0)
		imapd_cmd_store(d, 0);
	else if (strcmp(n, "COPY") == 0 || strcmp(n, "MOVE") == 0)
		imapd_cmd_copy(d, 0, n[0] == 'M');
	else if (strcmp(n, "UID") == 0) {
		const struct imap_arg *a = c->nargs > 0 ? &c->args[0] : NULL;
		char sub[16];

		if (a == NULL || a->type != IMAP_ARG_ATOM || a->len >= 16) {
			imapd_bad(d, "UID needs a command");
			return;
		}
		memcpy(sub, a->s, a->len);
		sub[a->len] = '\0';
		/* The subcommand's arguments start at args[1]. */
		c->args++;
		c->nargs--;
		if (str_eq_nocase(sub, "FETCH"))
			imapd_cmd_fetch(d, 1);
		else if (str_eq_nocase(sub, "SEARCH"))
			imapd_cmd_search(d, 1);
		else if (str_eq_nocase(sub, "STORE"))
			imapd_cmd_store(d, 1);
		else if (str_eq_nocase(sub, "COPY"))
			imapd_cmd_copy(d, 1, 0);
		else if (str_eq_nocase(sub, "MOVE"))
			imapd_cmd_copy(d, 1, 1);
		else if (str_eq_nocase(sub, "EXPUNGE"))
			imapd_cmd_expunge(d, 1);
		else
			imapd_bad(d, "Unknown UID command");
		c->args--;
		c->nargs++;
	}
}

/* imapd_session - greet, then run commands until the end */
void
imapd_session(struct imapd *d)
{
	const char *error;
	char tag[IMAP_TAG_MAX + 1];

	buf_init(&d->cmdbuf, IMAPD_CMD_MAX);
	if (!d->handed_off) {
		struct buf b = BUF_INIT(4096);

		imapd_capability(d, &b);
		imapd_printf(d, "* OK [CAPABILITY %s] %s ready\r\n",
		    buf_cstr(&b), IMAPD_IMPLEMENTATION);
		buf_free(&b);
	}
	for (;;) {
		d->tag = "*";
		if (!read_command(d))
			continue;
		if (imap_parse(d->cmdbuf.data, d->cmdbuf.len, &d->cmd,
		    &error) < 0) {
			if (d->cmd.tag != NULL &&
			    str_copy(tag, sizeof(tag), d->cmd.tag) == 0)
				d->tag = tag;
			else
				set_tag_of(d, &d->cmdbuf, tag, sizeof(tag));
			imapd_bad(d, "%s%s", errno == E2BIG ? "[LIMIT] " : "",
			    error);
			continue;
		}
		if (str_copy(tag, sizeof(tag), d->cmd.tag) < 0)
			continue;
		d->tag = tag;
		dispatch(d);
		/* Shrink the command buffer after a large APPEND. */
		if (d->cmdbuf.cap > 2 * IMAPD_LINE_MAX) {
			buf_free(&d->cmdbuf);
			buf_init(&d->cmdbuf, IMAPD_CMD_MAX);
		}
		if (d->cmd.cap > 256)
			imap_cmd_free(&d->cmd);
	}
}
