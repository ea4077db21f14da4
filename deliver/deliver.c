/*
 * NAME
 *	deliver - the local delivery agent: a message into Maildirs
 *
 * SYNOPSIS
 *	deliver -c FILE [-f SENDER] [-q QID] [--] RCPT
 *	deliver -c FILE [-f SENDER] [-q QID] [--] RCPT1 RCPT2 ...
 *	deliver -c FILE -S
 *
 * DESCRIPTION
 *	Reads one message on standard input (as queued: LF line endings,
 *	perhaps with CR LF or bare CR from odd senders; stored as given) and
 *	delivers it to RCPT, one address in a local domain (with or without
 *	<>), from SENDER (default: the null sender). QID only labels the log
 *	lines. The recipient is resolved through the users and aliases
 *	tables (userdb(3)); each mailbox it comes to gets one copy with
 *
 *	    Return-Path: <SENDER>
 *	    Delivered-To: RCPT
 *
 *	before the message (and an empty line after them when the message
 *	has no header at all); remote alias targets and users' forward=
 *	addresses get a copy through inject(8) with Delivered-To: fields
 *	only. See deliver(8) for the rules, deliver-expand.c for aliases,
 *	deliver-mailbox.c for Maildirs and quotas.
 *
 *	Partial results: when the recipient comes to more than one target
 *	and some mailbox copies could not be written, those mailboxes are
 *	queued again through inject (each then retried, and bounced, on its
 *	own) and the recipient counts as delivered; when nothing at all was
 *	written the first failure is the result. A temporary failure of
 *	inject after mailbox copies were written makes the queue retry the
 *	whole recipient, so those mailboxes may see the message twice (as
 *	with qmail and Postfix); the log names what was written.
 *
 *	Output: exactly one line on standard output, an enhanced status
 *	code and text ("2.0.0 delivered to fred@truc.test", "4.2.2 mailbox
 *	full: fred@truc.test", "5.1.1 no such user: x@truc.test", "5.4.6
 *	mail forwarding loop for fred@truc.test"), and the exit status.
 *
 *	Several recipients (at most DELIVER_RCPTS_MAX): setup and the
 *	message once, then per recipient, one after the other, a child
 *	that runs the one-recipient path (deliver_one()) with its stdout on
 *	a pipe; the parent writes "K|D|Z X.Y.Z text" for each, in order
 *	(K: exit 0; D: 67 or 65; Z: anything else; a missing or malformed
 *	child line becomes a generic text of that class) and exits 0. A
 *	failure before the first child gives every recipient its line. One
 *	DELIVER_TIMEOUT bounds the whole run: at expiry the child is killed,
 *	each recipient without a line gets "Z 4.3.0 delivery timed out",
 *	exit 75.
 *
 * DIAGNOSTICS
 *	Exit 0 delivered (2.x.x); 75 temporary (4.x.x: tables unreadable,
 *	Maildir trouble, over quota, disk full, timeout, out of memory,
 *	bad configuration); 67 no such user or bad address (5.1.x); 73 the
 *	mailbox cannot take it (5.2.x); 65 other permanent failures (5.4.6
 *	loops, 5.5.3 too many targets, 5.3.4 too big, 5.1.7 bad sender);
 *	64 usage. Any other status (a crash) means temporary. Several
 *	recipients: 0 once each has its line; 75 at the time limit, 64
 *	usage; a missing line means temporary.
 *
 * SECURITY
 *	Runs as the mailbox owner. Started as root (an LDA for another MTA),
 *	it reads the config, opens the log, the tables and MAIL_DIR, then
 *	switches for good to the owner and group of MAIL_DIR before reading
 *	anything else; if MAIL_DIR belongs to root it refuses (4.3.0:
 *	SECURITY.md D3). The message and the arguments are untrusted: the
 *	Maildir path comes from the users table (userdb_maildir_open()),
 *	never from RCPT; header scanning is bounded (deliver-header.c). The
 *	whole run is bounded by DELIVER_TIMEOUT seconds.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "deliver.h"
#include "fail.h"
#include "log.h"
#include "privdrop.h"
#include "str.h"
#include "userdb.h"
#include "utf8.h"

#define COPY_CHUNK	65536
#define QID_MAX		64

static struct ctx ctx;
static volatile sig_atomic_t said;	/* the result line is out */

/* The several-recipients form, in the parent only (many_n 0 elsewhere). */
static char *const *many_v;		/* the recipients, as given */
static size_t many_n;
static volatile sig_atomic_t many_done;	/* their lines written */
static volatile sig_atomic_t many_child;	/* the child running, or 0 */

/* A group of addresses that get one re-injected copy. */
struct batch {
	struct buf header;		/* its Delivered-To: fields */
	struct userdb_list rcpts;
};

/* write_out - write the whole line to stdout (async-signal-safe) */
static void
write_out(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* exit_code - the sysexits status for a result */
static int
exit_code(enum dstatus st)
{
	switch (st) {
	case DS_OK:
		return 0;
	case DS_NOUSER:
		return FAIL_EX_NOUSER;
	case DS_DATAERR:
		return FAIL_EX_DATAERR;
	case DS_CANTCREAT:
		return FAIL_EX_CANTCREAT;
	case DS_TEMP:
	default:
		return FAIL_EX_TEMPFAIL;
	}
}

/* result_set - a status and its text ("4.2.2 mailbox full: ...") */
void
result_set(struct result *r, enum dstatus st, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	r->st = st;
	va_start(ap, fmt);
	n = vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	if (n < 0)
		(void)str_copy(r->text, sizeof(r->text), st == DS_OK ?
		    "2.0.0 ok" : "4.3.0 internal error");
	/* one line, always */
	for (p = r->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* log_result - the step 5 line for recipient to */
static void
log_result(const char *to, const struct result *r)
{
	static const char *const names[] = { "delivered", "deferred",
	    "bounced", "bounced", "bounced" };
	struct buf b = BUF_INIT(LOG_LINE_MAX);

	(void)log_kv_str(&b, "qid", ctx.qid != NULL ? ctx.qid : "-");
	(void)log_kv_str(&b, "step", "5");
	(void)log_kv_str(&b, "event", "result");
	(void)log_kv_str(&b, "to", to[0] != '\0' ? to : "-");
	(void)log_kv_str(&b, "status", names[r->st]);
	(void)log_kv_str(&b, "dsn", r->text);
	log_event(r->st == DS_OK ? LOG_INFO : LOG_NOTICE, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* many_kind - the K/D/Z of a result in the several-recipients form */
static char
many_kind(enum dstatus st)
{
	return st == DS_OK ? 'K' : st == DS_NOUSER || st == DS_DATAERR ?
	    'D' : 'Z';
}

/* many_line - write "K|D|Z text" as one write (async-signal-safe) */
static void
many_line(char kind, const char *text, size_t len)
{
	char line[DELIVER_LINE_MAX + 1];

	if (len > DELIVER_LINE_MAX - 2)
		len = DELIVER_LINE_MAX - 2;
	line[0] = kind;
	line[1] = ' ';
	memcpy(line + 2, text, len);
	line[len + 2] = '\n';
	write_out(line, len + 3);
}

/* finish_many - the parent failed before the remaining recipients were
   tried (bad sender, message too big, ...): r for each of them, exit 0 */
static void __attribute__((noreturn))
finish_many(const struct result *r)
{
	size_t i;

	for (i = (size_t)many_done; i < many_n; i++) {
		log_result(many_v[i], r);
		many_line(many_kind(r->st), r->text, strlen(r->text));
	}
	many_done = (sig_atomic_t)many_n;
	exit(0);
}

/* finish - log the result, write the result line, exit */
static void __attribute__((noreturn))
finish(const struct result *r)
{
	if (many_n > 0)
		finish_many(r);
	log_result(ctx.rcpt, r);
	if (!said) {
		said = 1;
		write_out(r->text, strlen(r->text));
		write_out("\n", 1);
	}
	exit(exit_code(r->st));
}

/* die - finish with a status made from fmt */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(enum dstatus st, const char *fmt, ...)
{
	struct result r;
	va_list ap;
	char text[DELIVER_STATUS_MAX];

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	result_set(&r, st, "%s", text);
	finish(&r);
}

/* die_temp - a temporary failure (4.x.x, exit 75) */
#define die_temp(...)	die(DS_TEMP, __VA_ARGS__)

/* die_usage - wrong arguments: a bug of the caller, temporary */
static void __attribute__((noreturn))
die_usage(void)
{
	static const char msg[] = "4.3.5 usage: deliver -c FILE [-f SENDER] "
	    "[-q QID] RCPT ...\n";

	said = 1;
	write_out(msg, sizeof(msg) - 1);
	exit(64);
}

/* on_alarm - the run took too long: temporary, at once (several
   recipients: kill the child, Z for each recipient without a line) */
static void
on_alarm(int sig)
{
	static const char msg[] = "4.3.0 delivery timed out\n";
	static const char text[] = "4.3.0 delivery timed out";
	size_t i;

	(void)sig;
	if (many_n > 0) {
		if (many_child > 0)
			(void)kill((pid_t)many_child, SIGKILL);
		for (i = (size_t)many_done; i < many_n; i++)
			many_line('Z', text, sizeof(text) - 1);
		_exit(FAIL_EX_TEMPFAIL);
	}
	if (!said) {
		said = 1;
		write_out(msg, sizeof(msg) - 1);
	}
	_exit(FAIL_EX_TEMPFAIL);
}

/* on_oom - out of memory: temporary (several recipients: no more lines,
   the caller takes the missing ones as temporary) */
static void
on_oom(void)
{
	static const char msg[] = "4.3.0 out of memory\n";

	if (many_child > 0)
		(void)kill((pid_t)many_child, SIGKILL);
	if (!said && many_n == 0) {
		said = 1;
		write_out(msg, sizeof(msg) - 1);
	}
	_exit(FAIL_EX_TEMPFAIL);
}

/* message_copy - hand the message, in pieces, to put */
int
message_copy(struct ctx *c, int (*put)(void *, const void *, size_t),
    void *arg)
{
	static char chunk[COPY_CHUNK];
	uint64_t done = 0;

	while (done < c->msg_len) {
		size_t want = c->msg_len - done < sizeof(chunk) ?
		    (size_t)(c->msg_len - done) : sizeof(chunk);
		ssize_t n = pread(c->msg_fd, chunk, want,
		    c->msg_off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the file shrank */
			return -1;
		}
		if (put(arg, chunk, (size_t)n) < 0)
			return -1;
		done += (uint64_t)n;
	}
	return 0;
}

/* become_mail_owner - as root: switch for good to MAIL_DIR's owner */
static void
become_mail_owner(void)
{
	struct stat st;

	if (fstat(ctx.mail_dir_fd, &st) < 0)
		die_temp("4.3.0 cannot stat the mail folder");
	if (st.st_uid == 0)
		die_temp("4.3.0 refusing to deliver as root: the mail folder "
		    "belongs to root (chown it to the mail user)");
	if (setgroups(0, NULL) < 0 || setgid(st.st_gid) < 0 ||
	    setuid(st.st_uid) < 0)
		die_temp("4.3.0 cannot switch to the mail user");
	if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0)
		die_temp("4.3.0 could not give up root");
}

/* setup - config, log, tables, mail folder, privileges (a server started
   as root keeps them: each child gives them up once it has the tables) */
static void
setup(const char *path, int serving)
{
	struct buf err = BUF_INIT(1024);
	const char *why;

	if (config_load(path, &ctx.cfg, &err) < 0) {
		log_event(LOG_ERR, "event=config-error error=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		die_temp("4.3.5 deliver: bad configuration (see the log)");
	}
	buf_free(&err);
	if (log_open("deliver", ctx.cfg.log, &why) < 0)
		log_event(LOG_WARNING, "event=log-open-failed error=\"%s\"",
		    why);
	ctx.mail_dir_fd = open(ctx.cfg.mail_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (ctx.mail_dir_fd < 0)
		die_temp("4.3.0 cannot open the mail folder");
	if ((ctx.db = userdb_open(&ctx.cfg, &why)) == NULL)
		die_temp("4.3.0 %s", why);
	if (geteuid() == 0 && !serving)
		become_mail_owner();
}

/* parse_sender - SENDER with or without <>; "" for the null sender */
static const char *
parse_sender(const char *s)
{
	size_t len = strlen(s), i;
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	if (len > ADDR_PATH_MAX)
		die(DS_DATAERR, "5.1.7 sender address too long");
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    s[i] == '<' || s[i] == '>')
			die(DS_DATAERR, "5.1.7 bad sender address");
	if (!utf8_valid(s, len))
		die(DS_DATAERR, "5.1.7 bad sender address");
	return alloc_strndup(s, len);
}

/* parse_rcpt - RCPT into a, and its canonical form into ctx.rcpt; -1
   with a permanent result in r when it is no local address */
static int
parse_rcpt(const char *s, struct addr *a, struct result *r)
{
	char path[ADDR_PATH_MAX + 3];
	size_t len = strlen(s), end = 0;
	const char *why;

	ctx.rcpt[0] = '\0';
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	if (len == 0 || len > ADDR_PATH_MAX - 2) {
		result_set(r, DS_NOUSER, "5.1.3 bad recipient address: %s",
		    len == 0 ? "empty" : "too long");
		return -1;
	}
	path[0] = '<';
	memcpy(path + 1, s, len);
	path[len + 1] = '>';
	path[len + 2] = '\0';
	if (addr_parse_path(path, len + 2, ADDR_ALLOW_UTF8, a, &end,
	    &why) < 0) {
		result_set(r, DS_NOUSER, "5.1.3 bad recipient address: %s",
		    why);
		return -1;
	}
	if (end != len + 2) {
		result_set(r, DS_NOUSER, "5.1.3 bad recipient address: text "
		    "after it");
		return -1;
	}
	if (a->domain[0] == '\0') {
		result_set(r, DS_NOUSER, "5.1.3 bad recipient address: no "
		    "domain");
		return -1;
	}
	if (addr_format(a, ctx.rcpt, sizeof(ctx.rcpt)) < 0) {
		ctx.rcpt[0] = '\0';
		result_set(r, DS_NOUSER, "5.1.3 bad recipient address: too "
		    "long");
		return -1;
	}
	if (!config_is_local_domain(&ctx.cfg, a->domain)) {
		result_set(r, DS_NOUSER, "5.1.2 not a local domain: %s",
		    a->domain);
		return -1;
	}
	if (!userdb_local_ok(a->local)) {
		result_set(r, DS_NOUSER, "5.1.1 no such user: %s (local part "
		    "not allowed)", ctx.rcpt);
		return -1;
	}
	return 0;
}

/* put_file - copy sink for load_message */
static int
put_file(void *arg, const void *p, size_t n)
{
	const char *s = p;
	int fd = *(int *)arg;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* load_message - stdin as it is when a file, else a memory copy; scan */
static void
load_message(void)
{
	static char chunk[COPY_CHUNK];
	struct stat st;
	off_t off;

	hdrscan_init(&ctx.hdr);
	if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) &&
	    (off = lseek(0, 0, SEEK_CUR)) >= 0) {
		ctx.msg_fd = 0;
		ctx.msg_off = off;
		ctx.msg_len = st.st_size > off ? (uint64_t)(st.st_size - off) :
		    0;
		if (ctx.msg_len > DELIVER_MESSAGE_MAX)
			die(DS_DATAERR, "5.3.4 message too big");
		while (!ctx.hdr.done && ctx.hdr.scanned < ctx.msg_len) {
			ssize_t n = pread(0, chunk, sizeof(chunk),
			    off + (off_t)ctx.hdr.scanned);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die_temp("4.3.0 cannot read the message");
			if (n == 0)
				break;
			hdrscan_feed(&ctx.hdr, chunk, (size_t)n);
		}
		hdrscan_finish(&ctx.hdr);
		return;
	}
	ctx.msg_fd = memfd_create("deliver-message", MFD_CLOEXEC);
	if (ctx.msg_fd < 0)
		die_temp("4.3.0 cannot hold the message");
	for (;;) {
		ssize_t n = read(0, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_temp("4.3.0 cannot read the message");
		if (n == 0)
			break;
		if (ctx.msg_len + (uint64_t)n > DELIVER_MESSAGE_MAX)
			die(DS_DATAERR, "5.3.4 message too big");
		hdrscan_feed(&ctx.hdr, chunk, (size_t)n);
		if (put_file(&ctx.msg_fd, chunk, (size_t)n) < 0)
			die_temp("4.3.0 cannot hold the message");
		ctx.msg_len += (uint64_t)n;
	}
	hdrscan_finish(&ctx.hdr);
	ctx.msg_off = 0;
}

/* log_received - the step 4 line: the message reached deliver */
static void
log_received(void)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	char num[32];

	(void)snprintf(num, sizeof(num), "%llu",
	    (unsigned long long)ctx.msg_len);
	(void)log_kv_str(&b, "qid", ctx.qid);
	(void)log_kv_str(&b, "step", "4");
	(void)log_kv_str(&b, "event", "received");
	(void)log_kv_str(&b, "from", ctx.sender);
	(void)log_kv_str(&b, "to", ctx.rcpt);
	(void)log_kv_str(&b, "size", num);
	log_event(LOG_INFO, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* batch_for - the batch with this header (made if missing) */
static struct batch *
batch_for(struct batch **v, size_t *n, const struct buf *header)
{
	struct batch *b;
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*v)[i].header.len == header->len &&
		    memcmp((*v)[i].header.data, header->data,
		    header->len) == 0)
			return &(*v)[i];
	*v = alloc_reallocarray(*v, *n + 1, sizeof(**v));
	b = &(*v)[(*n)++];
	buf_init(&b->header, 4096);
	(void)buf_set(&b->header, header->data, header->len);
	b->rcpts.v = NULL;
	b->rcpts.n = 0;
	return b;
}

/* batch_add - addr into b unless there already */
static void
batch_add(struct batch *b, const char *addr)
{
	size_t i;

	for (i = 0; i < b->rcpts.n; i++)
		if (str_eq_nocase(b->rcpts.v[i], addr))
			return;
	b->rcpts.v = alloc_reallocarray(b->rcpts.v, b->rcpts.n + 1,
	    sizeof(*b->rcpts.v));
	b->rcpts.v[b->rcpts.n++] = alloc_strdup(addr);
}

/* dt_header - "Delivered-To: RCPT" and, if another, "Delivered-To: a" */
static void
dt_header(struct buf *h, const char *also)
{
	const char *eol = ctx.hdr.crlf ? "\r\n" : "\n";

	buf_reset(h);
	(void)buf_printf(h, "Delivered-To: %s%s", ctx.rcpt, eol);
	if (also != NULL && !str_eq_nocase(also, ctx.rcpt))
		(void)buf_printf(h, "Delivered-To: %s%s", also, eol);
}

/* plan_forwards - batches for remote targets, failed mailboxes and
   the forwards of the mailboxes written */
static void
plan_forwards(struct expansion *x, struct batch **v, size_t *n)
{
	struct buf h = BUF_INIT(4096);
	struct batch *b;
	size_t i, j;

	dt_header(&h, NULL);
	for (i = 0; i < x->n; i++) {
		struct target *t = &x->v[i];

		if (t->kind == T_REMOTE || !t->done) {
			b = batch_for(v, n, &h);
			batch_add(b, t->addr);
		}
	}
	for (i = 0; i < x->n; i++) {
		struct target *t = &x->v[i];

		if (t->kind != T_MAILBOX || !t->done)
			continue;
		for (j = 0; j < t->user.forwards.n; j++) {
			const char *f = t->user.forwards.v[j];

			/* a forward to itself, or to where this message
			   has been already, would only loop */
			if (str_eq_nocase(f, t->user.address) ||
			    str_eq_nocase(f, ctx.rcpt) ||
			    hdrscan_has(&ctx.hdr, f))
				continue;
			dt_header(&h, t->user.address);
			b = batch_for(v, n, &h);
			batch_add(b, f);
		}
	}
	buf_free(&h);
}

/* worst - the result when nothing was written: first temporary, else
   first failure */
static const struct result *
worst(const struct expansion *x)
{
	const struct result *first = NULL;
	size_t i;

	for (i = 0; i < x->n; i++) {
		if (x->v[i].kind != T_MAILBOX || x->v[i].done)
			continue;
		if (x->v[i].res.st == DS_TEMP)
			return &x->v[i].res;
		if (first == NULL)
			first = &x->v[i].res;
	}
	return first;
}

/* run - deliver to every target; the overall result */
static void
run(struct expansion *x, struct result *res)
{
	struct batch *v = NULL;
	struct result r;
	size_t i, n = 0, written = 0, remote = 0, queued = 0;

	for (i = 0; i < x->n; i++) {
		if (x->v[i].kind == T_REMOTE) {
			remote++;
			continue;
		}
		if (mailbox_deliver(&ctx, &x->v[i]) == 0)
			written++;
	}
	if (x->n == 1 && x->v[0].kind == T_MAILBOX && !x->v[0].done) {
		*res = x->v[0].res;
		return;
	}
	if (written == 0 && remote == 0) {
		*res = *worst(x);
		return;
	}
	plan_forwards(x, &v, &n);
	result_set(res, DS_OK, "2.0.0 delivered to %s", ctx.rcpt);
	for (i = 0; i < n; i++) {
		if (res->st == DS_OK) {
			if (reinject(&ctx, v[i].header.data, v[i].header.len,
			    v[i].rcpts.v, v[i].rcpts.n, &r) < 0)
				*res = r;
			else
				queued += v[i].rcpts.n;
		}
		buf_free(&v[i].header);
		userdb_list_free(&v[i].rcpts);
	}
	free(v);
	if (res->st == DS_OK && x->n > 1)
		result_set(res, DS_OK, "2.0.0 delivered to %s (%zu mailbox%s, "
		    "%zu queued)", ctx.rcpt, written, written == 1 ? "" :
		    "es", queued);
	else if (res->st == DS_OK && queued > 0)
		result_set(res, DS_OK, "2.0.0 delivered to %s (%zu queued)",
		    ctx.rcpt, queued);
}

/* deliver_one - the message (loaded) to the recipient in a and
   ctx.rcpt: the result line, exit */
static void __attribute__((noreturn))
deliver_one(const struct addr *a)
{
	struct expansion x;
	struct result res;
	const char *eol;

	/* deliver's own fields, in the message's line ending */
	eol = ctx.hdr.crlf ? "\r\n" : "\n";
	buf_init(&ctx.added, 2 * (ADDR_PATH_MAX + USERDB_ADDR_MAX) + 64);
	if (buf_printf(&ctx.added, "Return-Path: <%s>%sDelivered-To: %s%s",
	    ctx.sender, eol, ctx.rcpt, eol) < 0 ||
	    (!ctx.hdr.starts_with_field && !ctx.hdr.starts_with_blank &&
	    buf_append_str(&ctx.added, eol) < 0))
		die_temp("4.3.0 internal error: header too long");

	if (ctx.hdr.too_many)
		die(DS_DATAERR, "5.4.6 mail forwarding loop for %s (more than "
		    "%d Delivered-To: fields)", ctx.rcpt, DELIVER_DT_MAX);
	if (hdrscan_has(&ctx.hdr, ctx.rcpt))
		die(DS_DATAERR, "5.4.6 mail forwarding loop for %s", ctx.rcpt);
	if (expand(&ctx, a->local, a->domain, &x, &res) < 0) {
		expansion_free(&x);
		finish(&res);
	}
	run(&x, &res);
	expansion_free(&x);
	hdrscan_free(&ctx.hdr);
	buf_free(&ctx.added);
	finish(&res);
}

/* code_ok - 1 if text starts with an enhanced status code of class cls
   ("2.0.0", then a space or the end) */
static int
code_ok(const char *text, size_t len, char cls)
{
	size_t i = 2, part, digits;

	if (len < 5 || text[0] != cls || text[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (digits = 0; i < len && text[i] >= '0' && text[i] <= '9' &&
		    digits < 3; i++)
			digits++;
		if (digits == 0)
			return 0;
		if (part == 0) {
			if (i >= len || text[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len || text[i] == ' ';
}

/* child_line - read the child's output to end of file; its first line
   (at most DELIVER_LINE_MAX - 2 octets kept) into line; its length, or
   -1 when there is no complete line */
static ssize_t
child_line(int fd, char *line, size_t size)
{
	char chunk[1024];
	size_t len = 0;
	int nl = 0;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk)), k;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (k = 0; k < n && !nl; k++) {
			if (chunk[k] == '\n')
				nl = 1;
			else if (len < size)
				line[len++] = chunk[k];
		}
	}
	if (!nl)
		return -1;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return (ssize_t)len;
}

/* many_one - fork a child that delivers to the recipient parsed into a
   (and ctx.rcpt); write its line; fails only as a Z line */
static void
many_one(const struct addr *a)
{
	char line[DELIVER_LINE_MAX - 2], text[DELIVER_LINE_MAX];
	int p[2], status = 0;
	ssize_t len = -1;
	size_t k;
	pid_t pid;
	char kind = 'Z', cls = '4';
	sigset_t alrm, old;

	if (pipe2(p, O_CLOEXEC) < 0) {
		(void)snprintf(text, sizeof(text), "4.3.0 cannot make a pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		(void)close(p[0]);
		(void)close(p[1]);
		(void)snprintf(text, sizeof(text), "4.3.0 cannot fork");
		goto out;
	}
	if (pid == 0) {
		/* the child: today's single-recipient path */
		many_n = 0;
		many_child = 0;
		said = 0;
		(void)close(p[0]);
		if (p[1] != 1) {
			if (dup2(p[1], 1) < 0)
				_exit(FAIL_EX_TEMPFAIL);
			(void)close(p[1]);
		}
		deliver_one(a);
	}
	many_child = (sig_atomic_t)pid;
	(void)close(p[1]);
	len = child_line(p[0], line, sizeof(line));
	(void)close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = FAIL_EX_TEMPFAIL << 8;	/* lost: temporary */
			break;
		}
	if (WIFEXITED(status)) {
		switch (WEXITSTATUS(status)) {
		case 0:
			kind = 'K';
			cls = '2';
			break;
		case FAIL_EX_NOUSER:
		case FAIL_EX_DATAERR:
			kind = 'D';
			cls = '5';
			break;
		}
	}
	if (len >= 0 && code_ok(line, (size_t)len, cls)) {
		for (k = 0; k < (size_t)len; k++)
			if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
				line[k] = ' ';
		(void)snprintf(text, sizeof(text), "%.*s", (int)len, line);
	} else if (kind == 'K')
		(void)snprintf(text, sizeof(text), "2.0.0 delivered to %s",
		    ctx.rcpt);
	else if (WIFSIGNALED(status))
		(void)snprintf(text, sizeof(text), "%c.3.0 deliver failed "
		    "(killed by signal %d)", cls, WTERMSIG(status));
	else
		(void)snprintf(text, sizeof(text), "%c.3.0 deliver failed "
		    "(exit %d)", cls, WEXITSTATUS(status));
out:
	/* the line and the count change together: no alarm in between */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	(void)sigprocmask(SIG_BLOCK, &alrm, &old);
	many_child = 0;
	many_line(kind, text, strlen(text));
	many_done++;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* deliver_many - the message to each of rcpts[0..n-1], one child after
   the other; one line each on stdout, in order; exit 0 */
static void __attribute__((noreturn))
deliver_many(char *const *rcpts, size_t n)
{
	struct result res;
	struct addr a;
	size_t i;

	many_v = rcpts;
	many_n = n;
	said = 1;	/* the single-line handlers stay quiet */
	load_message();
	for (i = 0; i < n; i++) {
		if (parse_rcpt(rcpts[i], &a, &res) < 0) {
			log_result(ctx.rcpt[0] != '\0' ? ctx.rcpt : rcpts[i],
			    &res);
			many_line(many_kind(res.st), res.text,
			    strlen(res.text));
			many_done++;
			continue;
		}
		log_received();
		many_one(&a);
	}
	exit(0);
}

/*
 * serve - "deliver -S": wait for smtpq's requests (deliver-serve.c); in
 * each child, the request's sender, qid and recipients, with the tables
 * looked at again (a table compiled since the server started counts)
 */
static char **
serve(int ctl, const char **sender_r, const char **qid_r, size_t *n_r)
{
	char **w;
	size_t n;

	(void)alarm(0);		/* the server has no time limit */
	w = deliver_serve(ctl, &n);
	(void)alarm(DELIVER_TIMEOUT);
	*sender_r = w[0];
	*qid_r = w[1];
	*n_r = n - 2;
	if (n - 2 > DELIVER_RCPTS_MAX)
		die_usage();
	if (userdb_refresh(ctx.db) < 0) {
		if (n - 2 > 1) {
			many_v = w + 2;
			many_n = n - 2;
		}
		die_temp("4.3.0 cannot open the table");
	}
	if (geteuid() == 0)
		become_mail_owner();
	return w + 2;
}

/* main - deliver the message on stdin to RCPT ...; result lines, exit */
int
main(int argc, char **argv)
{
	const char *path = NULL, *sender = "", *qid = "-";
	struct result res;
	struct addr a;
	const char *why = NULL;
	char **rcpts;
	size_t nrcpt;
	int ch, ctl = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGALRM, on_alarm);
	(void)alarm(DELIVER_TIMEOUT);
	alloc_set_oom_handler(on_oom);
	ctx.msg_fd = ctx.mail_dir_fd = -1;
	ctx.qid = "-";
	while ((ch = getopt(argc, argv, "c:f:q:S")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case 'q':
			qid = optarg;
			break;
		case 'S':
			if (ctl < 0)
				ctl = deliver_serve_begin();
			break;
		default:
			die_usage();
		}
	}
	rcpts = argv + optind;
	nrcpt = (size_t)(argc - optind);
	if (path == NULL || (ctl < 0 && (nrcpt == 0 ||
	    nrcpt > DELIVER_RCPTS_MAX)) || (ctl >= 0 && nrcpt > 0))
		die_usage();
	if (ctl < 0 && nrcpt > 1) {
		/* Failures before the first child give every recipient
		   that result, in the several-recipients format. */
		many_v = rcpts;
		many_n = nrcpt;
	}
	/* Set-uid (the mail user): only a config the caller cannot write. */
	if (privdrop_setuid(path, &why) < 0)
		die_temp("4.3.0 refusing the config: %s", why);
	setup(path, ctl >= 0);
	if (ctl >= 0)
		rcpts = serve(ctl, &sender, &qid, &nrcpt);
	if (strnlen(qid, QID_MAX + 1) > QID_MAX || qid[0] == '\0')
		qid = "-";
	ctx.qid = qid;
	ctx.sender = parse_sender(sender);
	if (nrcpt > 1)
		deliver_many(rcpts, nrcpt);
	if (parse_rcpt(rcpts[0], &a, &res) < 0)
		finish(&res);
	load_message();
	log_received();
	deliver_one(&a);
}
