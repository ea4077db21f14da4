/*
 * NAME
 *	deliver-inject - hand a copy of the message back to the queue
 *
 * SYNOPSIS
 *	int reinject(struct ctx *c, const char *header, size_t header_len,
 *	    char *const *rcpts, size_t n, struct result *res);
 *
 * DESCRIPTION
 *	reinject() queues one new message: header (deliver's Delivered-To:
 *	fields) followed by the message, from the original sender, to the n
 *	addresses in rcpts. It runs inject(8), found beside this program with
 *	progpath_sibling(), as "inject -c CONFIG" with
 *
 *	    fd 0  the message (an anonymous memory file, rewound)
 *	    fd 1  the envelope (a pipe), envelope(5) wire format
 *	    fd 3  inject's report (a pipe): "K QID", "Z 4.x.x text" or
 *	          "D 5.x.x text", one line
 *
 *	and fd 2 shared. inject exits 0 (queued), 111 (temporary) or 100
 *	(permanent). Only "K" with exit 0 counts as queued; "D" with exit 100
 *	is permanent; anything else (no report, a crash, a missing inject) is
 *	temporary.
 *
 * DIAGNOSTICS
 *	0 (res: 2.0.0 with the new queue id), or -1 with res DS_TEMP (4.x.x)
 *	or DS_DATAERR (5.x.x, inject's text).
 *
 * SECURITY
 *	Runs inject with an argument list (execv), no shell, nothing from
 *	the message or envelope on its command line. inject's report is
 *	untrusted text: only printable ASCII of it is kept, at most 200
 *	octets. Our descriptors are close-on-exec.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "deliver.h"
#include "envelope.h"
#include "log.h"
#include "progpath.h"
#include "utf8.h"

#define REPORT_MAX	1024	/* octets of inject's report read */
#define REPORT_TEXT_MAX	200	/* octets of it kept */

/* write_all - write n bytes to fd, retrying EINTR and short writes */
static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* put_fd - message_copy() sink that writes to a descriptor */
static int
put_fd(void *arg, const void *p, size_t n)
{
	return write_all(*(int *)arg, p, n);
}

/* clean_text - keep printable ASCII of s (at most REPORT_TEXT_MAX) */
static void
clean_text(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s != '\0' && *s != '\n' && o + 1 < size &&
	    o < REPORT_TEXT_MAX; s++)
		if (*s >= 0x20 && *s < 0x7f)
			out[o++] = *s;
	out[o] = '\0';
}

/* make_message - header and message in an anonymous file, rewound */
static int
make_message(struct ctx *c, const char *header, size_t header_len)
{
	int fd = memfd_create("deliver-reinject", MFD_CLOEXEC), e;

	if (fd < 0)
		return -1;
	if (write_all(fd, header, header_len) < 0 ||
	    message_copy(c, put_fd, &fd) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		e = errno;
		(void)close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* make_envelope - the wire envelope: original sender, the rcpts */
static int
make_envelope(struct ctx *c, char *const *rcpts, size_t n, struct buf *out)
{
	struct envelope env;
	size_t i;
	int r;

	envelope_init(&env);
	env.sender = alloc_strdup(c->sender);
	env.smtputf8 = !utf8_is_ascii(c->sender, strlen(c->sender));
	for (i = 0; i < n; i++) {
		if (envelope_add_rcpt(&env, rcpts[i], NULL,
		    ENVELOPE_NOTIFY_DEFAULT) < 0) {
			envelope_free(&env);
			return -1;
		}
		if (!utf8_is_ascii(rcpts[i], strlen(rcpts[i])))
			env.smtputf8 = 1;
	}
	r = envelope_encode(&env, out);
	envelope_free(&env);
	return r;
}

/* run_inject - start inject on msg_fd; its envelope and report pipes */
static pid_t
run_inject(struct ctx *c, const char *path, int msg_fd, int *env_w,
    int *rep_r)
{
	int envp[2], repp[2];
	pid_t pid;

	if (pipe2(envp, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(repp, O_CLOEXEC) < 0) {
		(void)close(envp[0]);
		(void)close(envp[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		static char arg0[] = "inject", arg1[] = "-c";
		char *argv[4];
		int m, e, r;

		/* Move the sources above 3 first so that no dup2 below can
		   clobber one that is still needed. */
		m = fcntl(msg_fd, F_DUPFD_CLOEXEC, 10);
		e = fcntl(envp[0], F_DUPFD_CLOEXEC, 10);
		r = fcntl(repp[1], F_DUPFD_CLOEXEC, 10);
		if (m < 0 || e < 0 || r < 0 || dup2(m, 0) < 0 ||
		    dup2(e, 1) < 0 || dup2(r, 3) < 0)
			_exit(111);
		argv[0] = arg0;
		argv[1] = arg1;
		argv[2] = c->cfg.path;
		argv[3] = NULL;
		(void)signal(SIGPIPE, SIG_DFL);
		(void)signal(SIGALRM, SIG_DFL);
		execv(path, argv);
		_exit(111);
	}
	(void)close(envp[0]);
	(void)close(repp[1]);
	if (pid < 0) {
		(void)close(envp[1]);
		(void)close(repp[0]);
		return -1;
	}
	*env_w = envp[1];
	*rep_r = repp[0];
	return pid;
}

/* read_report - up to REPORT_MAX octets from fd, until EOF */
static void
read_report(int fd, struct buf *out)
{
	char chunk[256];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len < REPORT_MAX)
			(void)buf_append(out, chunk, (size_t)n);
	}
}

/* log_forwarded - the step 5 line for a queued copy */
static void
log_forwarded(struct ctx *c, size_t n, const char *qid, const char *status)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	char num[32];

	(void)snprintf(num, sizeof(num), "%zu", n);
	(void)log_kv_str(&b, "qid", c->qid);
	(void)log_kv_str(&b, "step", "5");
	(void)log_kv_str(&b, "event", "forwarded");
	(void)log_kv_str(&b, "to", c->rcpt);
	(void)log_kv_str(&b, "rcpts", num);
	(void)log_kv_str(&b, "new_qid", qid);
	(void)log_kv_str(&b, "status", status);
	log_event(LOG_INFO, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* reinject - queue header + message for rcpts through inject(8) */
int
reinject(struct ctx *c, const char *header, size_t header_len,
    char *const *rcpts, size_t n, struct result *res)
{
	struct buf path = BUF_INIT(4096), wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	struct buf report = BUF_INIT(REPORT_MAX + 256);
	char text[REPORT_TEXT_MAX + 1];
	const char *line;
	int msg_fd = -1, env_w = -1, rep_r = -1, status = -1, r = -1;
	pid_t pid;

	if (progpath_sibling("inject", &path) < 0 ||
	    access(buf_cstr(&path), X_OK) < 0) {
		result_set(res, DS_TEMP, "4.3.0 cannot find inject to queue "
		    "forwarded mail");
		goto out;
	}
	if (make_envelope(c, rcpts, n, &wire) < 0) {
		result_set(res, DS_TEMP, "4.3.0 cannot make the envelope of "
		    "forwarded mail");
		goto out;
	}
	if ((msg_fd = make_message(c, header, header_len)) < 0) {
		result_set(res, DS_TEMP, "4.3.0 cannot copy forwarded mail");
		goto out;
	}
	pid = run_inject(c, buf_cstr(&path), msg_fd, &env_w, &rep_r);
	if (pid < 0) {
		result_set(res, DS_TEMP, "4.3.0 cannot run inject");
		goto out;
	}
	/* inject may stop reading early (and say why on fd 3): EPIPE here
	   is not an error of ours, its report decides. */
	(void)write_all(env_w, wire.data, wire.len);
	(void)close(env_w);
	env_w = -1;
	read_report(rep_r, &report);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	line = buf_cstr(&report);
	clean_text(line + (report.len >= 2 ? 2 : report.len), text,
	    sizeof(text));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    report.len >= 2 && line[0] == 'K' && line[1] == ' ') {
		result_set(res, DS_OK, "2.0.0 queued as %s", text);
		r = 0;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 100 &&
	    report.len >= 2 && line[0] == 'D' && text[0] == '5' &&
	    text[1] == '.')
		result_set(res, DS_DATAERR, "%s", text);
	else if (report.len >= 2 && line[0] == 'Z' && text[0] == '4' &&
	    text[1] == '.')
		result_set(res, DS_TEMP, "%s", text);
	else
		result_set(res, DS_TEMP, "4.3.0 cannot queue forwarded mail "
		    "(inject status %d)", WIFEXITED(status) ?
		    WEXITSTATUS(status) : -1);
	log_forwarded(c, n, r == 0 ? text : "-", res->text);
out:
	if (msg_fd >= 0)
		(void)close(msg_fd);
	if (env_w >= 0)
		(void)close(env_w);
	if (rep_r >= 0)
		(void)close(rep_r);
	buf_free(&path);
	buf_free(&wire);
	buf_free(&report);
	return r;
}
