/*
 * NAME
 *	inject-serve - keep one inject ready for all of a session's messages
 *
 * SYNOPSIS
 *	int inject_serve_begin(void);
 *	void inject_serve_ready(int ctl);
 *	void inject_serve_next(int ctl);
 *	void inject_serve_done(void);
 *	void inject_serve_abandon(void);
 *
 * DESCRIPTION
 *	"inject -c FILE -S" (smtpq/INJECT.md, "Serving a session"): fd 0
 *	is a SOCK_SEQPACKET socket to one writer (smtpd, for one SMTP
 *	session). Before anything else opens a file, inject_serve_begin()
 *	moves the socket off fd 0 and keeps 0, 1 and 3 on /dev/null, so
 *	that nothing opened later (the log) can take a number a message's
 *	pipes will need. inject then reads its config, opens its log and
 *	checks its queue folders once, as for a single message, and
 *	inject_serve_ready() sends the tag 'R' (ready).
 *
 *	Each request is the tag 'M' and three descriptors, the ends of the
 *	message, envelope and report pipes that a single inject would have
 *	on 0, 1 and 3. inject_serve_next() waits for one and puts them
 *	there; inject takes the message exactly as a single inject does
 *	(same checks, same report), and inject_serve_done() lets go of the
 *	pipes. A failure ends the server as it ends a single inject (exit
 *	111 or 100): inject_serve_abandon(), called first thing on that
 *	path, closes the socket before the report is written, so the writer,
 *	which sends the next message only after reading that report, finds
 *	the server gone and starts another. A malformed request is dropped
 *	(its descriptors closed: the writer sees no report, a temporary
 *	failure). At end of file (the session ended) the server exits 0.
 *
 * DIAGNOSTICS
 *	inject_serve_begin returns the socket, or exits 111; the others exit
 *	111 when the socket or a descriptor fails, 0 at end of file.
 *
 * SECURITY
 *	The socket is the writer's socketpair, inherited: nobody else can
 *	send requests. Descriptors arrive close-on-exec and are checked in
 *	number; everything else about them is checked by the message path,
 *	which treats them as untrusted, as always.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fail.h"
#include "fdio.h"
#include "fdpass.h"
#include "inject.h"

static int serve_fd = -1;	/* the writer's socket, while serving */

/* inject_serve_begin - the socket, moved off fd 0; 0, 1, 3 kept busy */
int
inject_serve_begin(void)
{
	int ctl;

	if ((ctl = fcntl(0, F_DUPFD_CLOEXEC, 10)) < 0 ||
	    fd_hold_null(0) < 0 || fd_hold_null(1) < 0 ||
	    fd_hold_null(3) < 0)
		_exit(FAIL_EXIT_TEMP);
	serve_fd = ctl;
	return ctl;
}

/* inject_serve_ready - config and queue are fine: say 'R' */
void
inject_serve_ready(int ctl)
{
	if (fdpass_send(ctl, "R", 1, NULL, 0) < 0)
		exit(FAIL_EXIT_TEMP);
}

/* inject_serve_next - wait for a request; its pipes on 0, 1 and 3 */
void
inject_serve_next(int ctl)
{
	int fds[FDPASS_MAX];
	size_t n, i, len;
	char tag;

	for (;;) {
		int r = fdpass_recv(ctl, &tag, 1, &len, fds, FDPASS_MAX, &n);

		if (r == 0)
			exit(FAIL_EXIT_OK);
		if (r < 0) {
			if (errno == EBADMSG)
				continue;
			exit(FAIL_EXIT_TEMP);
		}
		if (tag == 'M' && n == 3) {
			if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 ||
			    dup2(fds[2], 3) < 0)
				exit(FAIL_EXIT_TEMP);
			for (i = 0; i < n; i++)
				(void)close(fds[i]);
			(void)fcntl(3, F_SETFD, FD_CLOEXEC);
			return;
		}
		/* The writer sees a malformed request as a missing report. */
		for (i = 0; i < n; i++)
			(void)close(fds[i]);
	}
}

/* inject_serve_done - the message is queued: let go of its pipes */
void
inject_serve_done(void)
{
	if (fd_hold_null(0) < 0 || fd_hold_null(1) < 0 ||
	    fd_hold_null(3) < 0)
		exit(FAIL_EXIT_TEMP);
}

/* inject_serve_abandon - a failure ends the server: close the socket */
void
inject_serve_abandon(void)
{
	if (serve_fd >= 0) {
		(void)close(serve_fd);
		serve_fd = -1;
	}
}
