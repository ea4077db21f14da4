/*
 * NAME
 *	smtpd-inject - hand a message to inject(8) and read its report
 *
 * SYNOPSIS
 *	int inject_start(struct inject *inj, const char *prog,
 *	    const char *config, int timeout_ms, const char **error_r);
 *	int inject_write(struct inject *inj, const char *p, size_t n);
 *	int inject_finish(struct inject *inj, const char *env, size_t envlen,
 *	    struct inject_result *res);
 *	void inject_abort(struct inject *inj);
 *
 * DESCRIPTION
 *	The protocol is smtpq/INJECT.md. inject_start() runs
 *	"inject -c CONFIG" (prog is its path, from progpath_sibling) with
 *	three pipes: fd 0 the message, fd 1 the envelope, fd 3 the report;
 *	fd 2 is smtpd's own. A fourth, close-on-exec pipe tells the parent
 *	whether execve() worked, so a missing or broken inject is known
 *	before the client is told 354. The child gets SIGPIPE back to its
 *	default and only the descriptors named above. First, though, it
 *	hands the three pipe ends to the session's inject server
 *	("inject -S", INJECT.md "Serving a session"), started at the
 *	session's first message (its "R" awaited) and again, once, when it
 *	has gone; only when no server can be had does it run one inject for
 *	the message. The server ends with smtpd (end of file on its socket).
 *
 *	inject_write() streams message bytes (buffered, each wait bounded
 *	by timeout_ms). After the first failure (inject died: EPIPE, or
 *	stopped reading: ETIMEDOUT) it only returns -1; the caller keeps
 *	reading the client's data and answers 451.
 *
 *	inject_finish() flushes and closes the message pipe, then writes
 *	the envelope and closes that pipe - the envelope coming last is what
 *	says the message is complete - then reads the one report line and
 *	reaps the child, everything within timeout_ms. res->kind is 'K'
 *	(with qid), 'Z' or 'D' (with status and text), or 0 when no valid
 *	report came (no line, a malformed line, a crash): the caller must
 *	then say 451, never 250.
 *
 *	inject_abort() gives up: it closes the pipes without an envelope, so
 *	inject cannot queue anything (an unterminated envelope is a
 *	temporary failure to it), waits a little for it and kills it if it
 *	has not gone. With the session's server it waits, as long, for the
 *	report pipe's end of file: that failure ends the server, which
 *	closes its socket first, so the next message goes to a new one.
 *
 * DIAGNOSTICS
 *	inject_start: 0, or -1 with a static reason (pipe, fork or execve
 *	failed: temporary). inject_write: 0 or -1 (temporary). inject_finish:
 *	0 with res filled; the outcome is in res.
 *
 * SECURITY
 *	execve() with an argument list; no shell, no PATH search, nothing
 *	from the client on the command line. The report is parsed strictly
 *	(one line, bounded, known letters and status codes only).
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "fdpass.h"
#include "io.h"
#include "procwait.h"

#include "smtpd.h"

extern char **environ;

/* close_fd - close *fd if open and mark it closed */
static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd);
		*fd = -1;
	}
}

/*
 * child - put fd0, fd1 and fd3 in place and run inject (with -S when
 * serve); never returns. On failure the errno goes to the status pipe.
 */
static void
child(const char *prog, const char *config, int serve, int fd0, int fd1,
    int fd3, int status)
{
	char *argv[5];
	int a, b, c, e, argc = 0;

	(void)signal(SIGPIPE, SIG_DFL);
	/* Move out of the way of 0, 1 and 3 first, then into place. */
	a = fcntl(fd0, F_DUPFD_CLOEXEC, 10);
	b = fcntl(fd1, F_DUPFD_CLOEXEC, 10);
	c = fcntl(fd3, F_DUPFD_CLOEXEC, 10);
	if (a < 0 || b < 0 || c < 0 || dup2(a, 0) < 0 || dup2(b, 1) < 0 ||
	    dup2(c, 3) < 0)
		goto fail;
	argv[argc++] = (char *)(uintptr_t)"inject";
	argv[argc++] = (char *)(uintptr_t)"-c";
	argv[argc++] = (char *)(uintptr_t)config;
	if (serve)
		argv[argc++] = (char *)(uintptr_t)"-S";
	argv[argc] = NULL;
	(void)execve(prog, argv, environ);
fail:
	e = errno;
	if (write(status, &e, sizeof(e)) < 0)
		_exit(111);
	_exit(111);
}

/*
 * spawn - fork and exec inject with fd0, fd1, fd3 (see child); wait, at
 * most timeout_ms, to know that execve worked. The pid, or -1 with
 * *error_r.
 */
static pid_t
spawn(const char *prog, const char *config, int serve, int fd0, int fd1,
    int fd3, int timeout_ms, const char **error_r)
{
	struct pollfd pfd;
	int st[2], e = 0, status;
	ssize_t r;
	pid_t pid;

	if (pipe2(st, O_CLOEXEC) < 0) {
		*error_r = "cannot make pipes";
		return -1;
	}
	if ((pid = fork()) < 0) {
		*error_r = "cannot fork";
		(void)close(st[0]);
		(void)close(st[1]);
		return -1;
	}
	if (pid == 0)
		child(prog, config, serve, fd0, fd1, fd3, st[1]);
	(void)close(st[1]);
	/* EOF: execve worked (the pipe closed on exec); else its errno. */
	pfd.fd = st[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) <= 0) {
		*error_r = "inject did not start";
		r = -1;
	} else {
		do
			r = read(st[0], &e, sizeof(e));
		while (r < 0 && errno == EINTR);
		if (r != 0)
			*error_r = "cannot run inject";
	}
	(void)close(st[0]);
	if (r == 0)
		return pid;
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/*
 * The session's inject server ("inject -S", INJECT.md): started at the
 * first message, then sent each message's pipes over its socket. It ends
 * when smtpd does (end of file on the socket), or is reaped by
 * server_stop() when it failed.
 */
static pid_t server_pid = -1;
static int server_fd = -1;

/* server_stop - close the server's socket and reap it */
static void
server_stop(void)
{
	int status;

	close_fd(&server_fd);
	if (server_pid > 0 && procwait(server_pid, 1000, &status) == 0) {
		(void)kill(server_pid, SIGKILL);
		while (waitpid(server_pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	server_pid = -1;
}

/* ready - wait for the server's 'R' (it has its config and queue) */
static int
ready(int timeout_ms)
{
	struct pollfd pfd;
	char tag = 0;
	size_t n, len;
	int fd;

	pfd.fd = server_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) <= 0 ||
	    fdpass_recv(server_fd, &tag, 1, &len, &fd, 1, &n) != 1 ||
	    tag != 'R') {
		return -1;
	}
	if (n > 0)
		(void)close(fd);
	return 0;
}

/* server_start - run "inject -c CONFIG -S" on a socketpair; 0 or -1 */
static int
server_start(const char *prog, const char *config, int timeout_ms)
{
	static int registered;
	const char *error;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	server_pid = spawn(prog, config, 1, sv[1], sv[1], sv[1],
	    timeout_ms, &error);
	(void)close(sv[1]);
	if (server_pid < 0) {
		(void)close(sv[0]);
		return -1;
	}
	server_fd = sv[0];
	if (!registered && atexit(server_stop) == 0)
		registered = 1;
	if (ready(timeout_ms) < 0) {
		server_stop();
		return -1;
	}
	return 0;
}

/*
 * via_server - hand one message's pipes to the session's inject server,
 * starting it first if need be, once more if it has died; 0, or -1 (the
 * caller then runs a single inject, which reports any error itself)
 */
static int
via_server(struct inject *inj, const char *prog, const char *config,
    int timeout_ms)
{
	int msg[2], env[2], rep[2], fds[3], tries;

	for (tries = 0; tries < 2; tries++) {
		if (server_fd < 0 &&
		    server_start(prog, config, timeout_ms) < 0)
			return -1;
		if (pipe2(msg, O_CLOEXEC) < 0)
			return -1;
		if (pipe2(env, O_CLOEXEC) < 0) {
			(void)close(msg[0]);
			(void)close(msg[1]);
			return -1;
		}
		if (pipe2(rep, O_CLOEXEC) < 0) {
			(void)close(msg[0]);
			(void)close(msg[1]);
			(void)close(env[0]);
			(void)close(env[1]);
			return -1;
		}
		fds[0] = msg[0];
		fds[1] = env[0];
		fds[2] = rep[1];
		if (fdpass_send(server_fd, "M", 1, fds, 3) == 0) {
			(void)close(msg[0]);
			(void)close(env[0]);
			(void)close(rep[1]);
			inj->msg_fd = msg[1];
			inj->env_fd = env[1];
			inj->rep_fd = rep[0];
			return 0;
		}
		(void)close(msg[0]);
		(void)close(msg[1]);
		(void)close(env[0]);
		(void)close(env[1]);
		(void)close(rep[0]);
		(void)close(rep[1]);
		server_stop();		/* it died: one new one */
	}
	return -1;
}

/* inject_start - give the message to inject: the server, or a new one */
int
inject_start(struct inject *inj, const char *prog, const char *config,
    int timeout_ms, const char **error_r)
{
	int msg[2] = { -1, -1 }, env[2] = { -1, -1 }, rep[2] = { -1, -1 };

	memset(inj, 0, sizeof(*inj));
	inj->pid = -1;
	inj->msg_fd = inj->env_fd = inj->rep_fd = -1;
	inj->timeout_ms = timeout_ms;
	if (via_server(inj, prog, config, timeout_ms) < 0) {
		if (pipe2(msg, O_CLOEXEC) < 0 || pipe2(env, O_CLOEXEC) < 0 ||
		    pipe2(rep, O_CLOEXEC) < 0) {
			*error_r = "cannot make pipes";
			goto fail;
		}
		inj->pid = spawn(prog, config, 0, msg[0], env[0], rep[1],
		    timeout_ms, error_r);
		if (inj->pid < 0)
			goto fail;
		close_fd(&msg[0]);
		close_fd(&env[0]);
		close_fd(&rep[1]);
		inj->msg_fd = msg[1];
		inj->env_fd = env[1];
		inj->rep_fd = rep[0];
	}
	inj->msg = io_new(inj->msg_fd, inj->msg_fd, timeout_ms);
	if (inj->msg == NULL) {
		*error_r = "cannot set up the message pipe";
		inject_abort(inj);
		return -1;
	}
	return 0;
fail:
	close_fd(&msg[0]);
	close_fd(&msg[1]);
	close_fd(&env[0]);
	close_fd(&env[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	return -1;
}

/* inject_write - add message bytes; -1 once inject is gone */
int
inject_write(struct inject *inj, const char *p, size_t n)
{
	if (inj->failed || inj->msg == NULL)
		return -1;
	if (io_write(inj->msg, p, n) < 0) {
		inj->failed = errno != 0 ? errno : EIO;
		return -1;
	}
	return 0;
}

/* reap - wait at most ms for the child, then kill it; its status */
static int
reap(struct inject *inj, int ms)
{
	int status = -1;

	if (inj->pid <= 0)
		return -1;
	if (procwait(inj->pid, ms, &status) == 0) {
		(void)kill(inj->pid, SIGKILL);
		while (waitpid(inj->pid, &status, 0) < 0 && errno == EINTR)
			;
		status = -1;
	}
	inj->pid = -1;
	return status;
}

/* status_ok - 1 if s is "C.D.D" with class c ('4' or '5') */
static int
status_ok(const char *s, size_t n, char c)
{
	size_t i = 2, k;
	int part;

	if (n < 5 || s[0] != c || s[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		for (k = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			;
		if (k == 0 || k > 3)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n;
}

/* parse_report - "K QID", "Z 4.x.x text" or "D 5.x.x text" */
static void
parse_report(const char *p, size_t n, struct inject_result *res)
{
	const char *sp;
	size_t i, slen;

	res->kind = 0;
	if (n < 3 || p[1] != ' ')
		return;
	if (p[0] == 'K') {
		if (n - 2 >= sizeof(res->qid))
			return;
		for (i = 2; i < n; i++) {
			unsigned char c = (unsigned char)p[i];

			if (!((c >= '0' && c <= '9') ||
			    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    c == '.' || c == '-' || c == '_'))
				return;
		}
		memcpy(res->qid, p + 2, n - 2);
		res->qid[n - 2] = '\0';
		res->kind = 'K';
		return;
	}
	if (p[0] != 'Z' && p[0] != 'D')
		return;
	sp = memchr(p + 2, ' ', n - 2);
	slen = sp != NULL ? (size_t)(sp - p - 2) : n - 2;
	if (!status_ok(p + 2, slen, p[0] == 'Z' ? '4' : '5') ||
	    slen >= sizeof(res->status))
		return;
	memcpy(res->status, p + 2, slen);
	res->status[slen] = '\0';
	if (sp != NULL) {
		size_t tlen = n - (size_t)(sp + 1 - p);

		if (tlen >= sizeof(res->text))
			tlen = sizeof(res->text) - 1;
		for (i = 0; i < tlen; i++) {
			unsigned char c = (unsigned char)sp[1 + i];

			res->text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		res->text[tlen] = '\0';
	}
	res->kind = p[0];
}

/* write_env - the whole envelope to its pipe, within the timeout */
static int
write_env(struct inject *inj, const char *p, size_t n)
{
	struct io *io;
	int r;

	io = io_new(inj->env_fd, inj->env_fd, inj->timeout_ms);
	if (io == NULL)
		return -1;
	r = io_write(io, p, n);
	if (r == 0)
		r = io_flush(io);
	io_free(io);
	return r;
}

/* inject_finish - end the message, send the envelope, read the report */
int
inject_finish(struct inject *inj, const char *env, size_t envlen,
    struct inject_result *res)
{
	struct buf line = BUF_INIT(1024);
	struct io *io;
	int flags, r;

	memset(res, 0, sizeof(*res));
	if (inj->msg != NULL) {
		if (!inj->failed && io_flush(inj->msg) < 0)
			inj->failed = errno != 0 ? errno : EIO;
		io_free(inj->msg);
		inj->msg = NULL;
	}
	close_fd(&inj->msg_fd);
	/* Even after a failed write: inject may have a report for us. */
	if (!inj->failed && write_env(inj, env, envlen) < 0)
		inj->failed = errno != 0 ? errno : EIO;
	close_fd(&inj->env_fd);
	io = io_new(inj->rep_fd, inj->rep_fd, inj->timeout_ms);
	if (io != NULL) {
		r = io_read_line(io, &line, 512, &flags);
		if (r == 1 && (flags & (IO_LINE_LF | IO_LINE_CRLF)) &&
		    !(flags & (IO_LINE_NUL | IO_LINE_BARE_CR)))
			parse_report(line.data, line.len, res);
		io_free(io);
	}
	close_fd(&inj->rep_fd);
	res->exit_status = reap(inj, inj->timeout_ms < 10000 ?
	    inj->timeout_ms : 10000);
	buf_free(&line);
	return 0;
}

/*
 * drain - read fd to end of file, within ms: the session's inject server
 * closes its socket before it reports and ends, so once its report pipe
 * is at end of file the next message cannot be sent to a server that is
 * going away (it is refused at once, and a new server started)
 */
static void
drain(int fd, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	struct pollfd pfd;
	char buf[512];

	for (;;) {
		int64_t left = end - clock_mono_ms();
		ssize_t r;

		pfd.fd = fd;
		pfd.events = POLLIN;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

/* inject_abort - close everything without an envelope; reap inject */
void
inject_abort(struct inject *inj)
{
	if (inj->msg != NULL) {
		io_free(inj->msg);
		inj->msg = NULL;
	}
	close_fd(&inj->msg_fd);
	close_fd(&inj->env_fd);
	if (inj->pid <= 0 && inj->rep_fd >= 0)
		drain(inj->rep_fd, 2000);	/* the server's: it ends */
	close_fd(&inj->rep_fd);
	if (inj->pid > 0)
		(void)reap(inj, 2000);
}
