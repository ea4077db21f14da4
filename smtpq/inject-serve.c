/*
 * NAME
 *	inject-serve - keep one inject ready for all of a session's messages
 *
 * SYNOPSIS
 *	int inject_serve_begin(void);
 *	void inject_serve(int ctl);
 *
 * DESCRIPTION
 *	"inject -c FILE -S" (smtpq/INJECT.md, "Serving a session"): fd 0
 *	is a SOCK_SEQPACKET socket to one writer (smtpd, for one SMTP
 *	session). inject has read its config, opened its log and checked
 *	its queue folders once, as for a single message. Before any of that
 *	inject_serve_begin() moves the socket off fd 0 and keeps 0, 1 and 3
 *	on /dev/null, so that nothing opened later (the log) can take a
 *	number a message's pipes will need; inject_serve() then waits on
 *	the socket, after sending the tag 'R' (ready) on it. Each request
 *	is the tag 'M' and three descriptors, the ends of the message,
 *	envelope and report pipes that a single inject would have on 0, 1
 *	and 3. For each, the
 *	server forks: the child puts them on 0, 1 and 3 and returns from
 *	inject_serve() to take that one message exactly as a single
 *	inject does (same checks, same report, same exit); the server only
 *	forks, never reads a message itself. So each message still has a
 *	process of its own, without an execve and a config parse for each.
 *
 *	A malformed request is dropped (its descriptors closed: the writer
 *	sees no report, a temporary failure). At end of file (the session
 *	ended) the server exits 0; children finish their message on their
 *	own. Children are not waited for (SIGCHLD ignored in the server;
 *	the writer reads each outcome from the report pipe).
 *
 * DIAGNOSTICS
 *	inject_serve_begin returns the socket, or exits 111. inject_serve
 *	returns only in a child. The server exits 0 at end of file and 111
 *	when the socket fails.
 *
 * SECURITY
 *	The socket is the writer's socketpair, inherited: nobody else can
 *	send requests. Descriptors arrive close-on-exec and are checked in
 *	number; everything else about them is checked by the single-message
 *	path, which treats them as untrusted, as always.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "fail.h"
#include "fdio.h"
#include "fdpass.h"
#include "inject.h"

/* place - descriptor from (above 3) onto to; 0 or -1 */
static int
place(int from, int to)
{
	if (dup2(from, to) < 0)
		return -1;
	(void)close(from);
	return 0;
}

/* inject_serve_begin - the socket, moved off fd 0; 0, 1, 3 kept busy */
int
inject_serve_begin(void)
{
	int ctl;

	if ((ctl = fcntl(0, F_DUPFD_CLOEXEC, 10)) < 0)
		_exit(FAIL_EXIT_TEMP);
	if (fd_hold_null(0) < 0 || fd_hold_null(1) < 0 ||
	    fd_hold_null(3) < 0)
		_exit(FAIL_EXIT_TEMP);
	return ctl;
}

/* inject_serve - see above; returns only in a child */
void
inject_serve(int ctl)
{
	int fds[FDPASS_MAX];
	size_t n, i, len;
	char tag;
	pid_t pid;

	(void)signal(SIGCHLD, SIG_IGN);
	/* Ready: the writer falls back to single injects until it has this. */
	if (fdpass_send(ctl, "R", 1, NULL, 0) < 0)
		_exit(FAIL_EXIT_TEMP);
	for (;;) {
		int r = fdpass_recv(ctl, &tag, 1, &len, fds, FDPASS_MAX, &n);

		if (r == 0)
			_exit(FAIL_EXIT_OK);
		if (r < 0) {
			if (errno == EBADMSG)
				continue;
			_exit(FAIL_EXIT_TEMP);
		}
		if (tag != 'M' || n != 3) {
			for (i = 0; i < n; i++)
				(void)close(fds[i]);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			(void)close(ctl);
			(void)signal(SIGCHLD, SIG_DFL);
			if (place(fds[0], 0) < 0 || place(fds[1], 1) < 0 ||
			    place(fds[2], 3) < 0)
				_exit(FAIL_EXIT_TEMP);
			(void)fcntl(3, F_SETFD, FD_CLOEXEC);
			return;
		}
		/* The writer sees a failed fork as a missing report. */
		for (i = 0; i < n; i++)
			(void)close(fds[i]);
	}
}
