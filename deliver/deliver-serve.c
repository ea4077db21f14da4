/*
 * NAME
 *	deliver-serve - keep one deliver ready for all of smtpq's entries
 *
 * SYNOPSIS
 *	int deliver_serve_begin(void);
 *	char **deliver_serve(int ctl, size_t *n_r);
 *
 * DESCRIPTION
 *	"deliver -c FILE -S" (smtpq/QUEUE.md, "smtpq -> deliver"): fd 0
 *	is a SOCK_SEQPACKET socket to smtpq. deliver_serve_begin(), called
 *	before anything else opens a file, moves it off fd 0 and keeps 0
 *	and 1 on /dev/null. deliver then reads its config and opens its
 *	tables as for one delivery, and deliver_serve() sends "R" (ready)
 *	and waits for requests. Each is one packet:
 *
 *	    "D" SENDER NUL QID NUL RCPT NUL [RCPT NUL ...]
 *
 *	with two descriptors: the queue entry opened read-only at the
 *	message, and the write end of the result pipe. For each the server
 *	forks a child, answers "P" PID NUL ("P-1" NUL when it could not,
 *	or the request was malformed: its descriptors are then closed), and
 *	later, when that child has ended, "X" PID NUL STATUS NUL (the
 *	waitpid status, decimal). The child, in a process group of its own,
 *	gets the entry on fd 0 and the pipe on fd 1 and returns from
 *	deliver_serve() with the request's words (SENDER, QID, RCPT...) to
 *	deliver them exactly as "deliver -f SENDER -q QID -- RCPT..." would.
 *	So every entry still has processes of its own, without an execve
 *	and a config parse each time. At end of file on the socket the
 *	server exits 0.
 *
 * DIAGNOSTICS
 *	deliver_serve_begin returns the socket or exits 75; deliver_serve
 *	returns only in a child (NULL never); the server exits 75 when the
 *	socket fails.
 *
 * SECURITY
 *	The socket is smtpq's socketpair, inherited: nobody else sends
 *	requests. Words are checked in number and length here, and as
 *	addresses by the delivery path, as command-line arguments are.
 */
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"
#include "fail.h"
#include "fdio.h"
#include "fdpass.h"

/* A request: "D", then at most DELIVER_RCPTS_MAX + 2 words. */
#define SERVE_REQ_MAX	(64 * 1024)

static char req[SERVE_REQ_MAX + 1];
static char *words[DELIVER_RCPTS_MAX + 3];

/* deliver_serve_begin - the socket, moved off fd 0; 0 and 1 kept busy */
int
deliver_serve_begin(void)
{
	int ctl;

	if ((ctl = fcntl(0, F_DUPFD_CLOEXEC, 10)) < 0)
		_exit(FAIL_EX_TEMPFAIL);
	if (fd_hold_null(0) < 0 || fd_hold_null(1) < 0)
		_exit(FAIL_EX_TEMPFAIL);
	return ctl;
}

/* say - one packet to smtpq: tag and up to two numbers; -1 if it is gone */
static int
say(int ctl, char tag, long a, int have_b, long b)
{
	char out[64];
	int n;

	if (have_b)
		n = snprintf(out, sizeof(out), "%c%ld%c%ld", tag, a, '\0', b);
	else
		n = snprintf(out, sizeof(out), "%c%ld", tag, a);
	return fdpass_send(ctl, out, (size_t)n + 1, NULL, 0);
}

/* split - the request's words; their number, or 0 if malformed */
static size_t
split(size_t len)
{
	size_t n = 0, i = 1;

	if (len < 2 || req[0] != 'D' || req[len - 1] != '\0')
		return 0;
	while (i < len) {
		if (n >= sizeof(words) / sizeof(words[0]) - 1)
			return 0;
		words[n++] = req + i;
		i += strlen(req + i) + 1;
	}
	words[n] = NULL;
	return n >= 3 ? n : 0;
}

/* reap - tell smtpq about every child that ended */
static void
reap(int ctl)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (say(ctl, 'X', (long)pid, 1, (long)status) < 0)
			_exit(FAIL_EX_TEMPFAIL);
}

/* deliver_serve - see above; returns (in a child) the request's words */
char **
deliver_serve(int ctl, size_t *n_r)
{
	struct pollfd p[2];
	sigset_t chld, old;
	int fds[FDPASS_MAX], sfd;
	size_t n, len, nw, i;
	pid_t pid;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &old) < 0 ||
	    (sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    fdpass_send(ctl, "R", 1, NULL, 0) < 0)
		_exit(FAIL_EX_TEMPFAIL);
	for (;;) {
		p[0].fd = ctl;
		p[0].events = POLLIN;
		p[1].fd = sfd;
		p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(FAIL_EX_TEMPFAIL);
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap(ctl);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		switch (fdpass_recv(ctl, req, SERVE_REQ_MAX, &len, fds,
		    FDPASS_MAX, &n)) {
		case 0:
			_exit(0);
		case -1:
			if (errno == EBADMSG) {
				if (say(ctl, 'P', -1, 0, 0) < 0)
					_exit(FAIL_EX_TEMPFAIL);
				continue;
			}
			_exit(FAIL_EX_TEMPFAIL);
		}
		nw = split(len);
		pid = nw > 0 && n == 2 ? fork() : -1;
		if (pid == 0) {
			(void)close(ctl);
			(void)close(sfd);
			(void)sigprocmask(SIG_SETMASK, &old, NULL);
			(void)setpgid(0, 0);
			if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0)
				_exit(FAIL_EX_TEMPFAIL);
			(void)close(fds[0]);
			(void)close(fds[1]);
			*n_r = nw;
			return words;
		}
		for (i = 0; i < n; i++)
			(void)close(fds[i]);
		if (say(ctl, 'P', (long)pid, 0, 0) < 0)
			_exit(FAIL_EX_TEMPFAIL);
	}
}
