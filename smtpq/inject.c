/*
 * NAME
 *	inject - put one message into the queue
 *
 * SYNOPSIS
 *	inject -c FILE [-S]
 *
 * DESCRIPTION
 *	The only program that creates queue entries (smtpq/INJECT.md is the
 *	protocol, smtpq/QUEUE.md the entry format). It reads the message on
 *	fd 0 to end of file, then the envelope (envelope.h wire format) on
 *	fd 1 to end of file, and writes one entry:
 *
 *	    1. create queue/tmp/QID with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600
 *	       (a taken name, planted or not, means a new id);
 *	    2. write the message at offset QUEUE_PAGE as it arrives, counting
 *	       its size (message_size_limit), its Received: fields (hops) and
 *	       noting its Message-ID for the log;
 *	    3. decode the envelope; write header, slots and envelope in front
 *	       of the message (or, when they do not fit in the first page,
 *	       into a second file that gets the message copied after them);
 *	    4. fsync the file, rename it to queue/new/QID without replacing
 *	       anything, fsync queue/new;
 *	    5. report "K QID" on fd 3 (when open), poke smtpq, exit 0.
 *
 *	Any failure removes the file in tmp/ and reports "Z 4.x.x text"
 *	(exit 111) or "D 5.x.x text" (exit 100).
 *
 *	With -S, fd 0 is instead a socket from one writer and inject serves
 *	every message of that writer's session, one after the other, each
 *	with the pipes it is sent (inject-serve.c); the first failure ends
 *	it as it ends a single inject.
 *
 * DIAGNOSTICS
 *	Exit 0: queued. 111: temporary (disk full 4.3.1, I/O error 4.3.0,
 *	unsafe queue folder 4.3.5, envelope cut short 4.3.0, input timeout
 *	4.4.2, out of memory, config unreadable). 100: permanent (message too
 *	big 5.3.4, malformed envelope 5.5.2). Death by a signal is temporary
 *	for the writer too: no report, no "queued".
 *
 * SECURITY
 *	Runs as the queue user (set-uid, or started by a program running as
 *	it). Set-id, it takes a -c config only if nobody but root or the
 *	queue user could have written it or a folder above it
 *	(privdrop_setuid()), and ignores MAILSTACK_NOW_OFFSET (AT_SECURE),
 *	so a local user cannot choose the queue folder, the log file or the
 *	arrival time. Both inputs are untrusted: the message is stored as
 *	opaque bytes (only scanned for two header names), the envelope is
 *	fully checked by envelope_decode(). Files are created O_EXCL |
 *	O_NOFOLLOW in folders checked for owner and mode (Q4).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "fail.h"
#include "inject.h"
#include "log.h"
#include "privdrop.h"
#include "queue.h"
#include "str.h"

/*
 * A client's SIZE counts the message as it sent it; the headers our own
 * programs add on the way in (Received:, Date:, Message-ID:) must not
 * turn a message at exactly message_size_limit into a refusal.
 */
#define INJECT_TRACE_ALLOWANCE	(64 * 1024)

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"
#define INPUT_TIMEOUT_MS	(600 * 1000)
#define READ_CHUNK	65536
#define HDR_LINE_MAX	1024	/* of a header line we look at */
#define MSGID_MAX	998
#define ID_TRIES	10

static int report_fd = -1;
static struct queue_dirs qd = { -1, { -1, -1, -1, -1, -1 }, 0 };
static int tmp_fd = -1;
static char tmp_name[QUEUE_ID_LEN + 1];
static char qid_for_log[QUEUE_ID_LEN + 1] = "-";

/* remove_tmp - drop the unfinished file in tmp/, if any */
static void
remove_tmp(void)
{
	if (tmp_fd >= 0) {
		(void)unlinkat(qd.fd[QUEUE_TMP], tmp_name, 0);
		(void)close(tmp_fd);
		tmp_fd = -1;
	}
}

/* report - write one report line to fd 3, if the writer gave us one */
static void
report(const char *line)
{
	size_t n = strlen(line);

	if (report_fd < 0)
		return;
	while (n > 0) {
		ssize_t r = write(report_fd, line, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		line += r;
		n -= (size_t)r;
	}
}

/* die - remove the partial entry, report, log and exit */
static void __attribute__((noreturn))
die(enum fail_kind kind, const char *reply, const char *why)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	struct buf line = BUF_INIT(512);

	/* A server ends here: the writer must find it gone before it can
	   send the next message, so the socket closes before the report. */
	inject_serve_abandon();
	remove_tmp();
	(void)buf_printf(&line, "%c %s\n", kind == FAIL_PERM ? 'D' : 'Z',
	    reply);
	report(buf_cstr(&line));
	(void)buf_printf(&b, "qid=%s status=refused kind=%s", qid_for_log,
	    fail_name(kind));
	(void)log_kv_str(&b, "reply", reply);
	if (why != NULL)
		(void)log_kv_str(&b, "error", why);
	log_event(LOG_WARNING, "%s", buf_cstr(&b));
	exit(fail_exit_status(kind));
}

/* die_temp - temporary failure: Z reply, exit 111 */
static void __attribute__((noreturn))
die_temp(const char *reply, const char *why)
{
	die(FAIL_TEMP, reply, why);
}

/* die_perm - permanent failure: D reply, exit 100 */
static void __attribute__((noreturn))
die_perm(const char *reply, const char *why)
{
	die(FAIL_PERM, reply, why);
}

/* die_oom - out of memory is temporary */
static void
die_oom(void)
{
	die_temp("4.3.0 out of memory", "out of memory");
}

/* die_write - a failed write or sync: disk full or other I/O error */
static void __attribute__((noreturn))
die_write(const char *what)
{
	if (errno == ENOSPC || errno == EDQUOT)
		die_temp("4.3.1 insufficient system storage", what);
	die_temp("4.3.0 queue write failed", strerror(errno));
}

/* fd_open - 1 if descriptor fd is open */
static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* setup_fds - note fd 3; make sure 0, 1 and 2 are taken */
static void
setup_fds(void)
{
	int fd;

	if (fd_open(3)) {
		report_fd = 3;
		(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	for (fd = 0; fd <= 2; fd++)
		if (!fd_open(fd) && open("/dev/null", O_RDWR) != fd)
			_exit(FAIL_EXIT_TEMP);
}

/* wait_input - wait until fd can be read; die after the input timeout */
static void
wait_input(int fd)
{
	struct pollfd p;
	int r;

	p.fd = fd;
	p.events = POLLIN;
	do
		r = poll(&p, 1, INPUT_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		die_temp("4.4.2 input timed out", "no input for 10 minutes");
}

/* read_some - read up to n octets from fd (0 at end of file) */
static ssize_t
read_some(int fd, char *p, size_t n)
{
	ssize_t r;

	for (;;) {
		wait_input(fd);
		r = read(fd, p, n);
		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

/* pwrite_all - write n octets to fd at off */
static int
pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pwrite(fd, p, n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* The header scanner: Received: count and Message-ID, across reads. */
struct scan {
	int in_header;		/* still in the header section */
	int in_msgid;		/* the current field is Message-ID */
	int have_msgid;
	unsigned hops;
	struct buf line;	/* the start of the current line */
	size_t line_len;	/* its full length so far */
	struct buf msgid;
};

/* scan_line - one complete header line (without its LF) */
static void
scan_line(struct scan *s)
{
	const char *p = buf_cstr(&s->line);
	size_t n = s->line.len;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (s->line_len == 0 || (s->line_len == 1 && p[0] == '\r')) {
		s->in_header = 0;
		return;
	}
	if (p[0] == ' ' || p[0] == '\t') {
		if (s->in_msgid)
			(void)buf_append(&s->msgid, p, n);
		return;
	}
	s->in_msgid = 0;
	if (n >= 9 && str_eq_nocase_n(p, "received:", 9)) {
		if (s->hops < QUEUE_HOPS_MAX)
			s->hops++;
	} else if (n >= 11 && str_eq_nocase_n(p, "message-id:", 11) &&
	    !s->have_msgid) {
		s->have_msgid = s->in_msgid = 1;
		(void)buf_append(&s->msgid, p + 11, n - 11);
	}
}

/* scan_feed - look at the next n octets of the message */
static void
scan_feed(struct scan *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && s->in_header; i++) {
		if (p[i] == '\n') {
			scan_line(s);
			buf_reset(&s->line);
			s->line_len = 0;
			continue;
		}
		if (s->line.len < HDR_LINE_MAX)
			(void)buf_append_char(&s->line, p[i]);
		s->line_len++;
	}
}

/* new_tmp - create a fresh file in tmp/ under a new queue id */
static int
new_tmp(char name[QUEUE_ID_LEN + 1])
{
	int i, fd;

	for (i = 0; i < ID_TRIES; i++) {
		if (queue_id_new(name) < 0)
			die_temp("4.3.0 queue write failed", "no clock");
		fd = openat(qd.fd[QUEUE_TMP], name, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			die_write("cannot create a file in queue/tmp");
		log_event(LOG_WARNING, "qid=%s status=name-taken "
		    "error=\"queue/tmp name exists, trying another\"", name);
	}
	die_temp("4.3.0 queue write failed", "no free queue id");
}

/* read_message - fd 0 into the tmp file at QUEUE_PAGE; returns the size */
static uint64_t
read_message(uint64_t limit, struct scan *sc)
{
	static char chunk[READ_CHUNK];
	uint64_t size = 0;

	if (lseek(tmp_fd, QUEUE_PAGE, SEEK_SET) < 0)
		die_write("cannot seek in the queue file");
	for (;;) {
		ssize_t r = read_some(0, chunk, READ_CHUNK);

		if (r < 0)
			die_temp("4.3.0 cannot read the message",
			    strerror(errno));
		if (r == 0)
			break;
		size += (uint64_t)r;
		if (size > limit)
			die_perm("5.3.4 message too big",
			    "message exceeds message_size_limit");
		scan_feed(sc, chunk, (size_t)r);
		if (fd_write_all(tmp_fd, chunk, (size_t)r) < 0)
			die_write("cannot write the message");
	}
	return size;
}

/* read_envelope - fd 1 to end of file, decoded into env */
static void
read_envelope(struct envelope *env, struct buf *wire)
{
	const char *error = NULL;
	size_t used = 0;
	char chunk[16384];

	for (;;) {
		ssize_t r = read_some(1, chunk, sizeof(chunk));

		if (r < 0)
			die_temp("4.3.0 cannot read the envelope",
			    strerror(errno));
		if (r == 0)
			break;
		if (buf_append(wire, chunk, (size_t)r) < 0)
			die_perm("5.5.2 malformed envelope: too long",
			    "envelope too long");
	}
	if (envelope_decode(wire->data != NULL ? wire->data : "", wire->len,
	    env, &used, &error) < 0) {
		if (errno == EAGAIN)
			die_temp("4.3.0 envelope incomplete", error);
		else {
			struct buf reply = BUF_INIT(256);

			(void)buf_printf(&reply, "5.5.2 malformed envelope: %s",
			    error);
			die_perm(buf_cstr(&reply), error);
		}
	}
	if (used != wire->len)
		die_perm("5.5.2 malformed envelope: bytes after the terminator",
		    "bytes after the envelope terminator");
}

/* copy_range - copy n octets from fd_in at off_in to fd_out at off_out */
static int
copy_range(int fd_in, uint64_t off_in, int fd_out, uint64_t off_out,
    uint64_t n)
{
	char buf[65536];

	while (n > 0) {
		loff_t in = (loff_t)off_in, out = (loff_t)off_out;
		ssize_t r = copy_file_range(fd_in, &in, fd_out, &out,
		    (size_t)(n < (1 << 30) ? n : (1 << 30)), 0);

		if (r < 0 && errno != EINTR && errno != ENOSYS &&
		    errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP)
			return -1;
		if (r <= 0) {
			/* Fall back to read and write. */
			size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);

			r = pread(fd_in, buf, want, (off_t)off_in);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r == 0)
					errno = EIO;
				return -1;
			}
			if (pwrite_all(fd_out, buf, (size_t)r,
			    (off_t)off_out) < 0)
				return -1;
		}
		off_in += (uint64_t)r;
		off_out += (uint64_t)r;
		n -= (uint64_t)r;
	}
	return 0;
}

/* write_head - put header, slots and envelope in front of the message */
static void
write_head(struct queue_entry *e, const struct buf *wire)
{
	struct buf head = BUF_INIT(QUEUE_HEAD_MAX);
	char name[QUEUE_ID_LEN + 1];
	int fd;

	if (e->msg_off == QUEUE_PAGE) {
		if (queue_head_build(e, wire->data, wire->len, &head) < 0)
			die_temp("4.3.0 queue write failed",
			    "cannot build head");
		if (pwrite_all(tmp_fd, head.data, head.len, 0) < 0)
			die_write("cannot write the entry head");
		buf_free(&head);
		return;
	}
	/* Too big for the first page: a second file, message copied. */
	fd = new_tmp(name);
	if (str_copy(e->qid, sizeof(e->qid), name) < 0 ||
	    queue_head_build(e, wire->data, wire->len, &head) < 0) {
		(void)unlinkat(qd.fd[QUEUE_TMP], name, 0);
		(void)close(fd);
		die_temp("4.3.0 queue write failed", "cannot build head");
	}
	if (pwrite_all(fd, head.data, head.len, 0) < 0 ||
	    copy_range(tmp_fd, QUEUE_PAGE, fd, e->msg_off, e->msg_len) < 0) {
		int save = errno;

		(void)unlinkat(qd.fd[QUEUE_TMP], name, 0);
		(void)close(fd);
		errno = save;
		die_write("cannot write the entry");
	}
	buf_free(&head);
	remove_tmp();
	tmp_fd = fd;
	memcpy(tmp_name, name, sizeof(tmp_name));
	memcpy(qid_for_log, name, sizeof(qid_for_log));
}

/* publish - rename tmp/QID to new/QID without replacing anything */
static int
publish(const char *name)
{
	if (renameat2(qd.fd[QUEUE_TMP], name, qd.fd[QUEUE_NEW], name,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* No RENAME_NOREPLACE here: link() never replaces either. */
	if (linkat(qd.fd[QUEUE_TMP], name, qd.fd[QUEUE_NEW], name, 0) < 0)
		return -1;
	(void)unlinkat(qd.fd[QUEUE_TMP], name, 0);
	return 0;
}

/* commit - fsync, rename into new/ (new id on a clash), fsync new/ */
static void
commit(struct queue_entry *e)
{
	int tries;

	if (fsync(tmp_fd) < 0)
		die_write("cannot sync the entry");
	for (tries = 0;; tries++) {
		char name[QUEUE_ID_LEN + 1], hdr[QUEUE_HEADER_SIZE];

		if (publish(tmp_name) == 0)
			break;
		if (errno != EEXIST || tries >= ID_TRIES)
			die_write("cannot move the entry into queue/new");
		/* The id is taken in new/: rename ours, rewrite its header. */
		if (queue_id_new(name) < 0 ||
		    renameat2(qd.fd[QUEUE_TMP], tmp_name, qd.fd[QUEUE_TMP],
		    name, RENAME_NOREPLACE) < 0)
			continue;
		memcpy(tmp_name, name, sizeof(tmp_name));
		memcpy(qid_for_log, name, sizeof(qid_for_log));
		memcpy(e->qid, name, sizeof(e->qid));
		/* Only the header holds the id (QUEUE.md: after "MSQ1 "). */
		if (pread(tmp_fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
			die_write("cannot read back the header");
		memcpy(hdr + 5, name, QUEUE_ID_LEN);
		if (pwrite_all(tmp_fd, hdr, sizeof(hdr), 0) < 0 ||
		    fsync(tmp_fd) < 0)
			die_write("cannot rewrite the header");
	}
	if (fsync(qd.fd[QUEUE_NEW]) < 0) {
		/*
		 * The name may not be on disk. Take the entry back if smtpq
		 * has not picked it up yet; if it has, it will be delivered
		 * and the writer, told "temporary", may send it again: a
		 * duplicate rather than a loss.
		 */
		int save = errno;

		(void)renameat2(qd.fd[QUEUE_NEW], tmp_name, qd.fd[QUEUE_TMP],
		    tmp_name, RENAME_NOREPLACE);
		errno = save;
		die_write("cannot sync queue/new");
	}
	(void)close(tmp_fd);
	tmp_fd = -1;
}

/* kv_addr - append " key=<addr>" to b */
static void
kv_addr(struct buf *b, const char *key, const char *addr)
{
	struct buf v = BUF_INIT(ENVELOPE_RECORD_MAX + 3);

	(void)buf_printf(&v, "<%s>", addr);
	(void)log_kv(b, key, v.data, v.len);
	buf_free(&v);
}

/* log_queued - the step 2/3 line for a queued message */
static void
log_queued(const struct queue_entry *e, const struct scan *sc)
{
	const struct envelope *env = &e->env;
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	int step = 3;

	if (env->auth_user != NULL || (env->protocol != NULL &&
	    strcmp(env->protocol, "local") == 0))
		step = 2;
	(void)buf_printf(&b, "qid=%s step=%d status=queued", e->qid, step);
	kv_addr(&b, "from", env->sender);
	(void)buf_printf(&b, " nrcpt=%zu size=%llu hops=%u", e->n_rcpts,
	    (unsigned long long)e->msg_len, e->hops);
	if (sc->have_msgid) {
		char *id = str_trim((char *)(uintptr_t)buf_cstr(&sc->msgid));

		(void)log_kv_str(&b, "msgid", id);
	}
	if (env->client_ip != NULL && env->client_ip[0] != '\0')
		(void)log_kv_str(&b, "client", env->client_ip);
	if (env->auth_user != NULL)
		(void)log_kv_str(&b, "user", env->auth_user);
	if (env->protocol != NULL)
		(void)log_kv_str(&b, "proto", env->protocol);
	log_event(LOG_INFO, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* take_one - the message on fd 0 and its envelope on fd 1 into the
   queue, the report on fd 3; returns only on success */
static void
take_one(const struct config *cfg)
{
	struct buf wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	struct queue_entry e;
	struct scan sc;
	size_t i;

	tmp_fd = new_tmp(tmp_name);
	memcpy(qid_for_log, tmp_name, sizeof(qid_for_log));
	memset(&sc, 0, sizeof(sc));
	sc.in_header = 1;
	buf_init(&sc.line, HDR_LINE_MAX);
	buf_init(&sc.msgid, MSGID_MAX);

	queue_entry_init(&e);
	e.msg_len = read_message(cfg->message_size_limit + INJECT_TRACE_ALLOWANCE,
	    &sc);
	read_envelope(&e.env, &wire);

	memcpy(e.qid, tmp_name, sizeof(e.qid));
	e.arrival = clock_now();
	if (e.arrival < 0)
		e.arrival = 0;
	e.hops = sc.hops;
	e.n_rcpts = e.env.n_rcpts;
	e.env_len = wire.len;
	e.msg_off = queue_msg_offset(e.n_rcpts, e.env_len);
	e.slots = alloc_reallocarray(NULL, e.n_rcpts, sizeof(*e.slots));
	for (i = 0; i < e.n_rcpts; i++)
		queue_slot_init(&e.slots[i]);
	write_head(&e, &wire);
	commit(&e);

	{
		struct buf line = BUF_INIT(64);

		(void)buf_printf(&line, "K %s\n", e.qid);
		report(buf_cstr(&line));
		buf_free(&line);
	}
	log_queued(&e, &sc);
	(void)queue_poke(&qd, QUEUE_POKE_NEW);

	queue_entry_free(&e);
	buf_free(&wire);
	buf_free(&sc.line);
	buf_free(&sc.msgid);
}

/* usage - wrong arguments are the caller's bug: permanent */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: inject -c FILE [-S]\n");
	die_perm("5.3.5 inject called wrongly", "usage");
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG, *error = NULL;
	struct config cfg;
	struct buf err = BUF_INIT(1024);
	int c, serve = 0, ctl = -1;

	setup_fds();
	(void)signal(SIGPIPE, SIG_IGN);
	alloc_set_oom_handler(die_oom);
	while ((c = getopt(argc, argv, "c:S")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'S':
			serve = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (serve)
		ctl = inject_serve_begin();
	/* Set-uid (the queue user): only a config the caller cannot write. */
	if (privdrop_setuid(path, &error) < 0)
		die_temp("4.3.0 refusing the config", error);
	if (config_load(path, &cfg, &err) < 0)
		die_temp("4.3.0 config error", buf_cstr(&err));
	if (log_open("inject", cfg.log, &error) < 0)
		die_temp("4.3.0 config error", error);
	if (queue_dirs_open(cfg.state_dir, QUEUE_DIRS_CREATE | QUEUE_DIRS_MINE,
	    &qd, &error) < 0) {
		if (errno == EPERM)
			die_temp("4.3.5 queue folder unsafe", error);
		die_temp("4.3.0 queue write failed", error);
	}
	if (serve) {
		inject_serve_ready(ctl);
		for (;;) {
			/* One message's pipes on 0, 1, 3; exits at the end. */
			inject_serve_next(ctl);
			report_fd = 3;
			take_one(&cfg);
			report_fd = -1;
			inject_serve_done();
		}
	}
	take_one(&cfg);
	buf_free(&err);
	queue_dirs_close(&qd);
	config_free(&cfg);
	return FAIL_EXIT_OK;
}
