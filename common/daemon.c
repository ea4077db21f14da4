/*
 * NAME
 *	daemon - what the long-lived services share (smtpq, authd)
 *
 * DESCRIPTION
 *	See daemon.h. The signal handler only sets flags and writes to the
 *	self-pipe (async-signal-safe); everything else happens in the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

volatile sig_atomic_t daemon_got_term, daemon_got_hup;
static int sig_fds[2] = { -1, -1 };

/* daemon_die - log the fatal error and exit with kind's status */
void
daemon_die(enum fail_kind kind, const char *what, const char *why)
{
	log_event(LOG_ERR, "status=fatal kind=%s error=\"%s: %s\"",
	    fail_name(kind), what, why != NULL ? why : "");
	exit(fail_exit_status(kind));
}

/* daemon_die_temp - a temporary failure to run at all: exit 111 */
void
daemon_die_temp(const char *what, const char *why)
{
	daemon_die(FAIL_TEMP, what, why);
}

/* daemon_die_perm - the operator must fix something first: exit 100 */
void
daemon_die_perm(const char *what, const char *why)
{
	daemon_die(FAIL_PERM, what, why);
}

/* daemon_die_oom - out of memory is temporary */
void
daemon_die_oom(void)
{
	daemon_die_temp("out of memory", NULL);
}

/* on_signal - note the signal and wake the loop */
static void
on_signal(int sig)
{
	int save = errno;

	if (sig == SIGTERM || sig == SIGINT)
		daemon_got_term = 1;
	else if (sig == SIGHUP)
		daemon_got_hup = 1;
	if (write(sig_fds[1], "", 1) < 0) {
		/* The pipe is full: the loop has a wake-up pending. */
	}
	errno = save;
}

/* daemon_signals - self-pipe handlers; the pipe's read end */
int
daemon_signals(int with_chld)
{
	struct sigaction sa;

	if (pipe2(sig_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		daemon_die_temp("cannot make a pipe", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	if (with_chld)
		(void)sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	return sig_fds[0];
}

/* daemon_drain - empty the self-pipe (bounded: it is non-blocking) */
void
daemon_drain(int fd)
{
	char drain[64];
	int i;

	for (i = 0; i < 1024; i++)
		if (read(fd, drain, sizeof(drain)) <= 0)
			break;
}

/* daemon_fds - descriptors 0..last open, on /dev/null when they were not */
void
daemon_fds(int last)
{
	int fd;

	for (fd = 0; fd <= last; fd++)
		if (fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(FAIL_EXIT_TEMP);
}

