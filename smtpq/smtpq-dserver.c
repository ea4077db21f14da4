/*
 * NAME
 *	smtpq-dserver - hand local deliveries to one long-lived deliver
 *
 * SYNOPSIS
 *	int dserver_submit(struct job *j, const char *prog, int msgfd,
 *	    int outfd);
 *	int dserver_fd(void);
 *	void dserver_read(void);
 *	void dserver_reload(void);
 *	void dserver_hung(void);
 *	void dserver_stop(void);
 *
 * DESCRIPTION
 *	"deliver -c CONFIG -S" (QUEUE.md, "smtpq -> deliver"; deliver-
 *	serve.c) takes every local delivery: smtpq sends it the sender, the
 *	queue id and the recipients with the entry's descriptor and the
 *	result pipe, and it forks a child per request, tells the child's
 *	pid ("P") and, once the child has ended, its wait status ("X"). The
 *	job then ends as if smtpq had reaped its own child (job_ended()):
 *	results, timeouts (by the pid) and logs are as with one deliver per
 *	entry, without an execve and a config parse for each.
 *
 *	dserver_submit() starts the server when there is none (and waits,
 *	bounded, for its "R"), then sends j's request; 0 when sent (j->pid
 *	is 0 until its "P"), -1 when the server cannot be used: the caller
 *	then runs a deliver of its own, which reports any error itself (a
 *	server that did not say "R" is not tried again for a minute).
 *	dserver_fd() is the socket for the main loop's poll (-1 without a
 *	server); dserver_read() takes what arrived. When the server ends
 *	(end of file, or a request it can no longer be sent), every job it
 *	had is ended as a temporary failure, its child killed when still
 *	running, always from dserver_read() in the main loop (never inside
 *	job_start(), which the scheduler calls while walking its lists);
 *	dserver_hung() does the same to a server that has not answered a
 *	request ("P") by the job's deadline. The next delivery starts a new
 *	server. dserver_reload() (SIGHUP) has the server replaced, so
 *	that deliveries read the new config, as soon as none of its jobs is
 *	running. dserver_stop() closes the socket (the server exits) at
 *	shutdown.
 *
 * DIAGNOSTICS
 *	Nothing is lost: a request not acknowledged, or a server gone, is a
 *	temporary failure of the recipients involved, retried as any other.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "fail.h"
#include "fdpass.h"
#include "log.h"
#include "procwait.h"
#include "smtpq.h"

#define READY_MS	10000	/* for the server's "R" */
#define RETRY_MS	60000	/* after a server that did not start */
#define REQ_MAX		(64 * 1024)

static int srv_fd = -1;
static pid_t srv_pid = -1;
static unsigned gen = 1;	/* the running server's; jobs carry it */
static int stale;		/* SIGHUP: replace it once idle */
static int64_t no_start_until;	/* monotonic ms */
static struct job **pending;	/* sent, waiting for their "P", in order */
static size_t npending, cappending;

/* ready - wait for the server's "R"; 0 or -1 */
static int
ready(void)
{
	struct pollfd p = { srv_fd, POLLIN, 0 };
	char tag = 0;
	size_t len, n;
	int fd;

	if (poll(&p, 1, READY_MS) <= 0 ||
	    fdpass_recv(srv_fd, &tag, 1, &len, &fd, 1, &n) != 1 ||
	    tag != 'R')
		return -1;
	if (n > 0)
		(void)close(fd);
	return 0;
}

/* start - run the server on a socketpair; 0 or -1 */
static int
start(const char *prog)
{
	char *argv[5];
	int sv[2], rc, fds[SMTPQ_SPAWN_FDS] = { -1, -1, -1, -1 };

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	argv[0] = (char *)(uintptr_t)prog;
	argv[1] = (char *)(uintptr_t)"-c";
	argv[2] = g.cfg.path;
	argv[3] = (char *)(uintptr_t)"-S";
	argv[4] = NULL;
	fds[0] = sv[1];
	rc = smtpq_spawn(prog, argv, fds, 0, &srv_pid);
	(void)close(sv[1]);
	if (rc != 0) {
		(void)close(sv[0]);
		srv_pid = -1;
		return -1;
	}
	srv_fd = sv[0];
	stale = 0;
	no_start_until = 0;
	if (ready() < 0) {
		log_event(LOG_WARNING, "status=deliver-server-failed "
		    "error=\"no ready signal\" retry_in=%ds", RETRY_MS / 1000);
		dserver_stop();
		no_start_until = clock_mono_ms() + RETRY_MS;
		return -1;
	}
	return 0;
}

/*
 * drop - forget the server (close, kill); its jobs are ended by
 * end_orphans() from the main loop, never from inside job_start()
 */
static void
drop(void)
{
	if (srv_fd < 0)
		return;
	(void)close(srv_fd);
	srv_fd = -1;
	if (srv_pid > 0)
		(void)kill(srv_pid, SIGKILL);
	/* (smtpq's SIGCHLD reaping takes the server process itself.) */
	srv_pid = -1;
	npending = 0;
	gen++;
}

/* end_orphans - jobs of a server gone: temporary failures */
static void
end_orphans(void)
{
	struct job *j, *next;

	for (j = g.jobs; j != NULL; j = next) {
		next = j->next;
		if (j->served == 0 || (srv_fd >= 0 && j->served == gen))
			continue;
		if (j->pid > 0) {
			(void)kill(-j->pid, SIGKILL);
			(void)kill(j->pid, SIGKILL);
		}
		job_ended(j, FAIL_EX_TEMPFAIL << 8);
	}
}

/* busy - 1 if a job of the server's is still running */
static int
busy(void)
{
	const struct job *j;

	for (j = g.jobs; j != NULL; j = j->next)
		if (j->served == gen)
			return 1;
	return 0;
}

/* dserver_reload - SIGHUP: a new server (new config) once idle */
void
dserver_reload(void)
{
	stale = 1;
	no_start_until = 0;
}

/* dserver_submit - see above; 0 sent, -1 run deliver yourself */
int
dserver_submit(struct job *j, const char *prog, int msgfd, int outfd)
{
	struct buf req = BUF_INIT(REQ_MAX);
	int fds[2];
	size_t i;
	int r;

	if (stale && srv_fd >= 0 && !busy())
		dserver_stop();
	if (srv_fd < 0 && (clock_mono_ms() < no_start_until ||
	    start(prog) < 0))
		return -1;
	if (buf_append(&req, "D", 1) < 0 ||
	    buf_append(&req, j->e->q.env.sender,
	    strlen(j->e->q.env.sender) + 1) < 0 ||
	    buf_append(&req, j->e->qid, strlen(j->e->qid) + 1) < 0) {
		buf_free(&req);
		return -1;
	}
	for (i = 0; i < j->n; i++) {
		const char *a = j->e->q.env.rcpts[j->rcpts[i]].addr;

		if (buf_append(&req, a, strlen(a) + 1) < 0) {
			buf_free(&req);
			return -1;
		}
	}
	fds[0] = msgfd;
	fds[1] = outfd;
	r = fdpass_send(srv_fd, req.data, req.len, fds, 2);
	buf_free(&req);
	if (r < 0) {
		log_event(LOG_WARNING, "status=deliver-server-ended "
		    "error=\"%s\"", strerror(errno));
		drop();
		return -1;
	}
	if (npending == cappending) {
		cappending = cappending ? cappending * 2 : 16;
		pending = alloc_reallocarray(pending, cappending,
		    sizeof(*pending));
	}
	pending[npending++] = j;
	j->served = gen;
	j->pid = 0;
	return 0;
}

/* dserver_hung - a request had no "P" by its deadline: give up on it */
void
dserver_hung(void)
{
	log_event(LOG_WARNING, "status=deliver-server-hung jobs=%zu",
	    npending);
	drop();
	end_orphans();
}

/* dserver_fd - the socket to poll, or -1 */
int
dserver_fd(void)
{
	return srv_fd;
}

/* number - a decimal (with '-') at p, within len; 0 or -1 */
static int
number(const char *p, size_t len, long *v)
{
	char tmp[32], *end;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	errno = 0;
	*v = strtol(tmp, &end, 10);
	return errno == 0 && *end == '\0' && end != tmp ? 0 : -1;
}

/* on_pid - "P" PID: the oldest request's child (or -1: not started) */
static void
on_pid(long pid)
{
	struct job *j;

	if (npending == 0)
		return;
	j = pending[0];
	memmove(pending, pending + 1, (npending - 1) * sizeof(*pending));
	npending--;
	if (pid <= 0) {
		log_event(LOG_ERR, "qid=%s status=spawn-failed "
		    "program=deliver error=\"the deliver server could not "
		    "start it\"", j->e->qid);
		job_ended(j, FAIL_EX_TEMPFAIL << 8);
		return;
	}
	j->pid = (pid_t)pid;
}

/* on_exit_status - "X" PID NUL STATUS: that child ended */
static void
on_exit_status(long pid, long status)
{
	struct job *j;

	for (j = g.jobs; j != NULL; j = j->next)
		if (j->served == gen && j->pid == (pid_t)pid) {
			job_ended(j, (int)status);
			return;
		}
}

/* dserver_read - take every packet the server has sent */
void
dserver_read(void)
{
	char buf[64];
	size_t len, n, i;
	int fds[FDPASS_MAX], r;
	long a, b;

	end_orphans();
	while (srv_fd >= 0) {
		struct pollfd p = { srv_fd, POLLIN, 0 };

		if (poll(&p, 1, 0) <= 0)
			return;
		r = fdpass_recv(srv_fd, buf, sizeof(buf) - 1, &len, fds,
		    FDPASS_MAX, &n);
		for (i = 0; i < n; i++)
			(void)close(fds[i]);
		if (r <= 0) {
			if (r < 0 && errno == EBADMSG)
				continue;
			log_event(LOG_WARNING, "status=deliver-server-ended "
			    "jobs=%zu", npending);
			drop();
			end_orphans();
			return;
		}
		buf[len] = '\0';
		if (len >= 3 && buf[0] == 'P' && buf[len - 1] == '\0' &&
		    number(buf + 1, len - 2, &a) == 0)
			on_pid(a);
		else if (len >= 5 && buf[0] == 'X' && buf[len - 1] == '\0') {
			size_t k = strlen(buf + 1);

			if (2 + k < len && number(buf + 1, k, &a) == 0 &&
			    number(buf + 2 + k, len - 3 - k, &b) == 0)
				on_exit_status(a, b);
		}
	}
}

/* dserver_stop - close the socket: the server exits; reap it */
void
dserver_stop(void)
{
	int status;

	if (srv_fd >= 0) {
		(void)close(srv_fd);
		srv_fd = -1;
		gen++;
	}
	if (srv_pid > 0 && procwait(srv_pid, 1000, &status) == 0)
		(void)kill(srv_pid, SIGKILL);
	srv_pid = -1;
}
