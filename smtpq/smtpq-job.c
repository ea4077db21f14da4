/*
 * NAME
 *	smtpq-job - start deliver and remote, and apply what they report
 *
 * SYNOPSIS
 *	int job_start(struct req *r);
 *	void job_reaped(pid_t pid, int status);
 *	void job_read(struct job *j);
 *	void job_timeouts(int64_t now_ms);
 *	void job_kill_all(void);
 *	void job_result_temp(struct entry *e, size_t i, const char *text,
 *	    const char *relay, int step);
 *
 * DESCRIPTION
 *	job_start() runs one request (QUEUE.md, "smtpq -> deliver" and
 *	"smtpq -> remote"): the sibling program, found with
 *	progpath_sibling(), gets the entry opened read-only at the message
 *	on fd 0 and a pipe on fd 1; remote also gets its envelope on fd 3 (a
 *	memfd, read to end of file). Each job is its own process group, with
 *	default signal dispositions and a minimal environment.
 *
 *	job_read() collects what a job writes (bounded), job_reaped() turns
 *	its exit status and lines into per-recipient results, writes them
 *	into the entry's slots and ends the entry's pass when it was the last
 *	outstanding job. job_timeouts() kills jobs past their deadline
 *	(deliver_timeout, remote_timeout); job_kill_all() kills every job
 *	without recording anything (shutdown: they stay pending).
 *
 * DIAGNOSTICS
 *	deliver with one recipient: exit 0 delivered; 67, 65 permanent;
 *	anything else, a signal, a timeout or a program that cannot be
 *	started temporary. deliver with several recipients (up to
 *	SMTPQ_LOCAL_RCPTS): one "K|Z|D X.Y.Z text" line each, parsed as
 *	remote's (result_line()). remote: one
 *	"K|R|Z|D X.Y.Z text" line per recipient, in order (R: accepted by a
 *	next hop that could not take the recipient's DSN request, so a
 *	NOTIFY=SUCCESS recipient is owed a "relayed" notice); a recipient
 *	without a valid line is temporary. A result line whose code does not match
 *	the exit status is replaced by a generic text of the right class.
 *
 * SECURITY
 *	Runs as the queue user. Children get argument lists (execve through
 *	posix_spawn, never a shell), "--" before the recipients so that an
 *	address starting with '-' is no option, and a read-only descriptor
 *	of the entry. Their output is untrusted: bounded, parsed strictly,
 *	stored as printable ASCII.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "bounce.h"
#include "buf.h"
#include "clock.h"
#include "daemon.h"
#include "envelope.h"
#include "fail.h"
#include "log.h"
#include "progpath.h"
#include "queue.h"
#include "smtpq.h"


/* set_nonblock - O_NONBLOCK on fd */
static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* apply - record one recipient's result in its slot and the log */
static void
apply(struct entry *e, size_t i, char kind, const char *text,
    const char *relay, int step)
{
	struct queue_slot *s = &e->q.slots[i];
	const struct envelope_rcpt *rc = &e->q.env.rcpts[i];
	int64_t now = clock_now(), expiry;
	const char *status;

	if (s->attempts < QUEUE_ATTEMPTS_MAX)
		s->attempts++;
	s->last_try = now;
	queue_slot_set_text(s, text);
	switch (kind) {
	case 'K':
	case 'R':
		/*
		 * NOTIFY=SUCCESS is ours to answer for a local delivery
		 * ("delivered") and for a next hop that did not take the
		 * DSN request (R: "relayed"); a next hop that took it (K)
		 * answers it itself.
		 */
		s->state = (step == 4 || kind == 'R') &&
		    e->q.env.sender[0] != '\0' &&
		    rc->notify != ENVELOPE_NOTIFY_NEVER &&
		    (rc->notify & ENVELOPE_NOTIFY_SUCCESS) ?
		    QUEUE_S_SUCCESS : QUEUE_S_DELIVERED;
		status = "sent";
		break;
	case 'D':
		s->state = QUEUE_S_FAILED;
		status = "bounced";
		break;
	default:
		expiry = e->q.arrival + (int64_t)g.qc.lifetime;
		if (now >= expiry) {
			s->state = QUEUE_S_FAILED;
			status = "expired";
		} else {
			s->state = QUEUE_S_PENDING;
			s->next_try = now +
			    (int64_t)qconf_backoff(&g.qc, s->attempts);
			if (s->next_try > expiry)
				s->next_try = expiry;
			status = "deferred";
		}
		break;
	}
	if (queue_slot_write(e->fd, i, s) < 0)
		log_event(LOG_ERR, "qid=%s status=write-failed error=\"%s\"",
		    e->qid, strerror(errno));
	/* The log takes the text as reported (UTF-8 stays UTF-8). */
	smtpq_log_rcpt(e, i, relay, step, status, text);
}

/* job_result_temp - a temporary result for recipient i (no job ran) */
void
job_result_temp(struct entry *e, size_t i, const char *text,
    const char *relay, int step)
{
	apply(e, i, 'Z', text, relay, step);
}

/* finish - after every recipient of a request got its result */
static void
finish(struct entry *e, struct dest *d, const size_t *rcpts, size_t n,
    int dead_check)
{
	size_t i;
	int done = 0, any = 0;

	for (i = 0; i < n; i++) {
		char st = e->q.slots[rcpts[i]].state;

		if (st != QUEUE_S_PENDING)
			done = 1;
		if (st == QUEUE_S_DELIVERED || st == QUEUE_S_SUCCESS ||
		    (st == QUEUE_S_FAILED &&
		    e->q.slots[rcpts[i]].text[0] == '5'))
			any = 1;
	}
	if (done)
		sched_sync_if_needed(e);
	if (dead_check && !d->local) {
		if (any) {
			d->fails = 0;
			d->dead_until = 0;
		} else if (n > 0) {
			if (d->fails < 64)
				d->fails++;
			d->dead_until = clock_now() +
			    (int64_t)qconf_backoff(&g.qc, d->fails);
			log_event(LOG_NOTICE, "dest=%s status=dead fails=%u "
			    "until=%lld", d->name[0] != '\0' ? d->name : "-",
			    d->fails, (long long)d->dead_until);
		}
	}
	e->busy--;
	if (e->busy == 0)
		sched_pass_end(e);
}

/* fail_request - every recipient of r temporary, without a job */
static void
fail_request(struct req *r, const char *text, int dead_check)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		apply(r->e, r->rcpts[i], 'Z', text,
		    r->d->local ? "deliver" : "remote", r->d->local ? 4 : 3);
	finish(r->e, r->d, r->rcpts, r->n, dead_check);
	free(r->rcpts);
	free(r);
}

/* envelope_fd - a memfd holding the envelope of a remote request */
static int
envelope_fd(const struct req *r)
{
	const struct envelope *src = &r->e->q.env;
	struct envelope env;
	struct buf wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	size_t i, off = 0;
	int fd = -1;

	envelope_init(&env);
	env.sender = src->sender;
	env.envid = src->envid;
	env.ret = src->ret;
	env.body = src->body;
	env.smtputf8 = src->smtputf8;
	for (i = 0; i < r->n; i++) {
		const struct envelope_rcpt *rc = &src->rcpts[r->rcpts[i]];

		if (envelope_add_rcpt(&env, rc->addr, rc->orcpt,
		    rc->notify) < 0)
			goto out;
	}
	if (envelope_encode(&env, &wire) < 0)
		goto out;
	fd = memfd_create("envelope", MFD_CLOEXEC);
	if (fd < 0)
		goto out;
	while (off < wire.len) {
		ssize_t w = write(fd, wire.data + off, wire.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			(void)close(fd);
			fd = -1;
			goto out;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		(void)close(fd);
		fd = -1;
	}
out:
	/* The strings belong to src: free only what envelope_add_rcpt made. */
	for (i = 0; i < env.n_rcpts; i++) {
		free(env.rcpts[i].addr);
		free(env.rcpts[i].orcpt);
	}
	free(env.rcpts);
	buf_free(&wire);
	return fd;
}

/* job_start - run request r; its results come later via job_reaped */
int
job_start(struct req *r)
{
	struct entry *e = r->e;
	struct dest *d = r->d;
	const char *prog = d->local ? "deliver" : "remote";
	struct buf path = BUF_INIT(4096);
	char **argv;
	size_t i;
	int msgfd = -1, envfd = -1, outp[2] = { -1, -1 }, rc, argc = 0;
	int fds[SMTPQ_SPAWN_FDS];
	pid_t pid;
	struct job *j;

	if (progpath_sibling(prog, &path) < 0) {
		fail_request(r, "4.3.0 cannot find the delivery program", 0);
		buf_free(&path);
		return -1;
	}
	msgfd = openat(g.qd.fd[QUEUE_CUR], e->qid,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (msgfd < 0 || lseek(msgfd, (off_t)e->q.msg_off, SEEK_SET) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0 ||
	    (!d->local && (envfd = envelope_fd(r)) < 0)) {
		log_event(LOG_ERR, "qid=%s status=spawn-failed error=\"%s\"",
		    e->qid, strerror(errno));
		if (msgfd >= 0)
			(void)close(msgfd);
		if (outp[0] >= 0) {
			(void)close(outp[0]);
			(void)close(outp[1]);
		}
		fail_request(r, "4.3.0 cannot start the delivery", 0);
		buf_free(&path);
		return -1;
	}
	j = alloc_calloc(1, sizeof(*j));
	j->e = e;
	j->d = d;
	j->rcpts = r->rcpts;
	j->n = r->n;
	if (d->local && dserver_submit(j, buf_cstr(&path), msgfd,
	    outp[1]) == 0) {
		(void)close(msgfd);
		(void)close(outp[1]);
		buf_free(&path);
		goto started;
	}
	/* 7 for program and options, "--", the recipients, NULL */
	argv = alloc_reallocarray(NULL, 9 + r->n, sizeof(*argv));
	argv[argc++] = (char *)(uintptr_t)buf_cstr(&path);
	argv[argc++] = (char *)(uintptr_t)"-c";
	argv[argc++] = g.cfg.path;
	if (d->local) {
		argv[argc++] = (char *)(uintptr_t)"-f";
		argv[argc++] = e->q.env.sender;
	}
	argv[argc++] = (char *)(uintptr_t)"-q";
	argv[argc++] = e->qid;
	if (d->local) {
		argv[argc++] = (char *)(uintptr_t)"--";
		for (i = 0; i < r->n; i++)
			argv[argc++] = e->q.env.rcpts[r->rcpts[i]].addr;
	}
	argv[argc] = NULL;

	fds[0] = msgfd;
	fds[1] = outp[1];
	fds[2] = -1;
	fds[3] = envfd;
	rc = smtpq_spawn(buf_cstr(&path), argv, fds, 1, &pid);
	free(argv);
	(void)close(msgfd);
	(void)close(outp[1]);
	if (envfd >= 0)
		(void)close(envfd);
	if (rc != 0) {
		free(j);
		(void)close(outp[0]);
		if (rc == ENOENT && !d->local)
			fail_request(r,
			    "4.4.0 remote delivery not available yet", 0);
		else {
			log_event(LOG_ERR, "qid=%s status=spawn-failed "
			    "program=%s error=\"%s\"", e->qid, prog,
			    strerror(rc));
			fail_request(r, rc == ENOENT ?
			    "4.3.0 deliver not available" :
			    "4.3.0 cannot start the delivery", 0);
		}
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	j->pid = pid;
started:
	set_nonblock(outp[0]);
	j->out_fd = outp[0];
	buf_init(&j->out, (SMTPQ_LINE_MAX + 2) * r->n);
	j->deadline_ms = clock_mono_ms() + 1000 * (int64_t)(d->local ?
	    g.qc.deliver_timeout : g.qc.remote_timeout);
	j->next = g.jobs;
	g.jobs = j;
	g.running++;
	d->running++;
	free(r);
	return 0;
}

/* job_read - take what the job wrote; close its pipe at EOF or the cap */
void
job_read(struct job *j)
{
	char chunk[4096];

	while (j->out_fd >= 0) {
		ssize_t n = read(j->out_fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || buf_append(&j->out, chunk, (size_t)n) < 0) {
			(void)close(j->out_fd);
			j->out_fd = -1;
		}
	}
}

/* line_at - line i (0-based) of out into text; 0 if there is none */
static int
line_at(const struct buf *out, size_t i, struct buf *text)
{
	const char *p = out->data, *end = out->data + out->len, *nl;

	if (p == NULL)
		return 0;
	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return 0;	/* an unfinished line does not count */
		if (i == 0)
			break;
		i--;
		p = nl + 1;
	}
	buf_reset(text);
	if ((size_t)(nl - p) > SMTPQ_LINE_MAX)
		nl = p + SMTPQ_LINE_MAX;
	if (buf_append(text, p, (size_t)(nl - p)) < 0)
		return 0;
	if (text->len > 0 && text->data[text->len - 1] == '\r')
		buf_truncate(text, text->len - 1);
	return !buf_has_nul(text);
}

/* has_code - 1 if text starts with an enhanced code of class c */
static int
has_code(const char *text, char c)
{
	char status[BOUNCE_STATUS_MAX + 1];
	const char *rest;

	if (text[0] != c)
		return 0;
	bounce_status(text, BOUNCE_FAILURE, status, &rest);
	return rest != text;
}

/* why_failed - "exit N", "signal N" or "timeout" for a status */
static void
why_failed(const struct job *j, int status, char *out, size_t size)
{
	if (j->timed_out)
		(void)snprintf(out, size, "timed out");
	else if (WIFSIGNALED(status))
		(void)snprintf(out, size, "killed by signal %d",
		    WTERMSIG(status));
	else
		(void)snprintf(out, size, "exit %d", WEXITSTATUS(status));
}

/* results_deliver - one deliver job's result */
static void
results_deliver(struct job *j, int status)
{
	struct buf line = BUF_INIT(SMTPQ_LINE_MAX + 1);
	char why[64], text[SMTPQ_LINE_MAX + 64];
	char kind = 'Z', cls = '4';

	if (!j->timed_out && WIFEXITED(status)) {
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
	why_failed(j, status, why, sizeof(why));
	if (line_at(&j->out, 0, &line) && has_code(buf_cstr(&line), cls))
		(void)snprintf(text, sizeof(text), "%s", buf_cstr(&line));
	else if (kind == 'K')
		(void)snprintf(text, sizeof(text), "2.0.0 delivered");
	else if (j->timed_out)
		(void)snprintf(text, sizeof(text), "4.4.2 deliver timed out");
	else
		(void)snprintf(text, sizeof(text), "%c.3.0 deliver failed (%s)",
		    cls, why);
	apply(j->e, j->rcpts[0], kind, text, "deliver", 4);
	buf_free(&line);
}

/*
 * result_line - line i of a job that writes one "K|R|Z|D X.Y.Z text" line
 * per recipient: its kind (R only when allow_r) and text into line; 0 when
 * the line is missing, unfinished, or not of that form.
 */
static int
result_line(const struct buf *out, size_t i, int allow_r, char *kind,
    struct buf *line, const char **text)
{
	const char *p;
	char k, cls;

	if (!line_at(out, i, line))
		return 0;
	p = buf_cstr(line);
	k = p[0];
	cls = k == 'K' || k == 'R' ? '2' : k == 'D' ? '5' : '4';
	if (!(k == 'K' || k == 'Z' || k == 'D' || (allow_r && k == 'R')) ||
	    p[1] != ' ' || !has_code(p + 2, cls))
		return 0;
	*kind = k;
	*text = p + 2;
	return 1;
}

/*
 * results_lines - one line per recipient, in order (remote, or deliver
 * with several recipients); a recipient from the first missing or bad
 * line on is temporary with a generic text.
 */
static void
results_lines(struct job *j, int status)
{
	struct buf line = BUF_INIT(SMTPQ_LINE_MAX + 1);
	const char *relay = j->d->local ? "deliver" : "remote", *p;
	char why[64], text[128], kind;
	int step = j->d->local ? 4 : 3, valid = 1;
	size_t i;

	why_failed(j, status, why, sizeof(why));
	for (i = 0; i < j->n; i++) {
		if (valid && result_line(&j->out, i, !j->d->local, &kind,
		    &line, &p)) {
			apply(j->e, j->rcpts[i], kind, p, relay, step);
			continue;
		}
		valid = 0;
		if (!j->d->local)
			(void)snprintf(text, sizeof(text),
			    "4.4.0 remote failed (%s)", why);
		else if (j->timed_out)
			(void)snprintf(text, sizeof(text),
			    "4.4.2 deliver timed out");
		else
			(void)snprintf(text, sizeof(text),
			    "4.3.0 deliver failed (%s)", why);
		apply(j->e, j->rcpts[i], 'Z', text, relay, step);
	}
	buf_free(&line);
}

/* job_reaped - our child pid ended with status: record, end its job */
void
job_reaped(pid_t pid, int status)
{
	struct job *j;

	for (j = g.jobs; j != NULL; j = j->next)
		if (!j->served && j->pid == pid) {
			job_ended(j, status);
			return;
		}
	/* an inject for a notice, the deliver server, or unknown */
}

/* job_ended - j's process ended with status: record, end the job */
void
job_ended(struct job *j, int status)
{
	struct job **pp;

	for (pp = &g.jobs; *pp != NULL && *pp != j; pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return;
	*pp = j->next;
	job_read(j);
	if (j->out_fd >= 0)
		(void)close(j->out_fd);
	g.running--;
	j->d->running--;
	sched_dest_done(j->d);
	if (j->d->local && j->n == 1)
		results_deliver(j, status);
	else
		results_lines(j, status);
	finish(j->e, j->d, j->rcpts, j->n, 1);
	buf_free(&j->out);
	free(j->rcpts);
	free(j);
}

/* job_timeouts - kill every job past its deadline */
void
job_timeouts(int64_t now_ms)
{
	struct job *j;
	int hung = 0;

	for (j = g.jobs; j != NULL; j = j->next)
		if (j->served && j->pid == 0 && now_ms >= j->deadline_ms)
			hung = 1;
	if (hung)
		dserver_hung();		/* ends its jobs: the list changes */
	for (j = g.jobs; j != NULL; j = j->next)
		if (!j->timed_out && now_ms >= j->deadline_ms && j->pid > 0) {
			j->timed_out = 1;
			(void)kill(-j->pid, SIGKILL);
			(void)kill(j->pid, SIGKILL);
		}
}

/* job_kill_all - stop every job; nothing is recorded, all stay pending */
void
job_kill_all(void)
{
	struct job *j;

	for (j = g.jobs; j != NULL; j = j->next) {
		if (j->pid <= 0)
			continue;	/* the deliver server's, not started */
		(void)kill(-j->pid, SIGKILL);
		(void)kill(j->pid, SIGKILL);
	}
}
