/*
 * NAME
 *	smtpq - the queue manager
 *
 * SYNOPSIS
 *	smtpq -c FILE [-f]
 *
 * DESCRIPTION
 *	The only program that changes or removes queue entries once inject
 *	made them (smtpq/QUEUE.md describes the queue, its state changes
 *	and the deliver and remote interfaces). It never daemonizes (-f is
 *	accepted for symmetry with maild and changes nothing): maild runs it
 *	as a child.
 *
 *	At start it makes the queue folders if missing, refuses unsafe ones
 *	(Q4), takes the queue lock, makes the trigger FIFO, removes files
 *	that crashed injects left in tmp/ (older than 36 hours), and scans
 *	cur/, new/ and delete/. Then it loops: a trigger byte N makes it
 *	scan new/, F flushes, D carries out delete requests; due entries get
 *	a pass (smtpq-sched.c), jobs run (smtpq-job.c), notices go out
 *	(smtpq-notice.c). new/ and delete/ are also scanned every minute.
 *
 *	SIGTERM (or SIGINT): no new job starts; jobs still running after 3
 *	seconds are killed and stay pending; exit 0. SIGHUP rereads the
 *	config (see reload()) and reopens the log.
 *
 * DIAGNOSTICS
 *	Exit 0 after SIGTERM. Exit 100 when the config is invalid or a queue
 *	folder is unsafe (a symlink, foreign, group/other writable): it will
 *	not get better by itself. Exit 111 for anything temporary (another
 *	smtpq holds the lock, a folder cannot be made, out of memory).
 *
 * SECURITY
 *	Runs as the queue user, never root: it reads entries written by
 *	inject (checked completely by queue_read) and runs deliver and remote
 *	with argument lists. Nothing it reads from the trigger FIFO is more
 *	than a wake-up; names in the folders are used only when they are
 *	valid queue ids (anything else is quarantined), always relative to
 *	folder descriptors opened O_NOFOLLOW.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bounce.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "fail.h"
#include "daemon.h"
#include "log.h"
#include "privdrop.h"
#include "qconf.h"
#include "queue.h"
#include "smtpq.h"

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"
#define SMTPQ_LOCK_TRIES	40	/* 50 ms each: 2 s */

struct smtpq g;
char **smtpq_child_env;

static int sig_fd = -1;		/* the self-pipe (daemon.h) */
static struct pollfd *poll_fds;		/* the loop's, kept for reuse */
static size_t poll_cap;

/* setup_fds - fds 0-3 taken, so no file we open lands on them */
static void
setup_fds(void)
{
	daemon_fds(3);
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
}

/* child_env - PATH and the few variables a child may inherit */
static void
child_env(void)
{
	static const char *const keep[] = {
		CLOCK_ENV, "TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS",
		"LSAN_OPTIONS",
	};
	size_t i, n = 0;

	smtpq_child_env = alloc_calloc(sizeof(keep) / sizeof(keep[0]) + 2,
	    sizeof(char *));
	smtpq_child_env[n++] =
	    alloc_strdup("PATH=/usr/local/bin:/usr/bin:/bin");
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = getenv(keep[i]);
		struct buf b = BUF_INIT(8192);

		if (v == NULL || buf_printf(&b, "%s=%s", keep[i], v) < 0) {
			buf_free(&b);
			continue;
		}
		smtpq_child_env[n++] = alloc_strdup(buf_cstr(&b));
		buf_free(&b);
	}
	smtpq_child_env[n] = NULL;
}

/* smtpq_quarantine - move name from dirfd to corrupt/, and say why */
void
smtpq_quarantine(int dirfd, const char *name, const char *why)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX), alt = BUF_INIT(300);
	int i, r;

	r = renameat2(dirfd, name, g.qd.fd[QUEUE_CORRUPT], name,
	    RENAME_NOREPLACE);
	for (i = 1; r < 0 && errno == EEXIST && i < 100; i++) {
		buf_reset(&alt);
		if (buf_printf(&alt, "%.255s.%d", name, i) < 0)
			break;
		r = renameat2(dirfd, name, g.qd.fd[QUEUE_CORRUPT],
		    buf_cstr(&alt), RENAME_NOREPLACE);
	}
	if (queue_id_valid(name))
		(void)buf_printf(&b, "qid=%s", name);
	else {
		(void)buf_append_str(&b, "qid=-");
		(void)log_kv_str(&b, "name", name);
	}
	(void)buf_append_str(&b, r == 0 ? " status=quarantined" :
	    " status=quarantine-failed");
	(void)log_kv_str(&b, "error", why);
	log_event(LOG_ERR, "%s", buf_cstr(&b));
	buf_free(&b);
	buf_free(&alt);
}

/* smtpq_log_rcpt - one line for a recipient's result */
void
smtpq_log_rcpt(const struct entry *e, size_t i, const char *relay, int step,
    const char *status, const char *text)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX), v = BUF_INIT(1100);
	char code[BOUNCE_STATUS_MAX + 1];
	const char *rest;

	(void)buf_printf(&b, "qid=%s", e->qid);
	if (step > 0)
		(void)buf_printf(&b, " step=%d", step);
	(void)buf_printf(&b, " relay=%s", relay);
	(void)buf_printf(&v, "<%s>", e->q.env.rcpts[i].addr);
	(void)log_kv(&b, "to", v.data, v.len);
	(void)buf_printf(&b, " status=%s", status);
	bounce_status(text, BOUNCE_FAILURE, code, &rest);
	if (rest != text)
		(void)buf_printf(&b, " dsn=%s", code);
	(void)buf_printf(&b, " attempts=%u delay=%lld",
	    e->q.slots[i].attempts, (long long)(clock_now() - e->q.arrival));
	(void)log_kv_str(&b, "text", text);
	log_event(LOG_INFO, "%s", buf_cstr(&b));
	buf_free(&b);
	buf_free(&v);
}

/* open_dir_stream - a DIR for a folder fd, from its start */
static DIR *
open_dir_stream(int fd)
{
	int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 4);
	DIR *d;

	if (dupfd < 0)
		return NULL;
	d = fdopendir(dupfd);
	if (d == NULL) {
		(void)close(dupfd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* scan_cur - at start: every entry of cur/ is due now */
static void
scan_cur(void)
{
	DIR *d = open_dir_stream(g.qd.fd[QUEUE_CUR]);
	struct dirent *de;

	if (d == NULL)
		daemon_die_temp("cannot read queue/cur", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!queue_id_valid(de->d_name)) {
			smtpq_quarantine(g.qd.fd[QUEUE_CUR], de->d_name,
			    "not a queue id");
			continue;
		}
		if (sched_lookup(de->d_name) == NULL)
			(void)sched_add(de->d_name, 0);
	}
	(void)closedir(d);
}

/* scan_new - move what inject finished into cur/; it is due now */
static void
scan_new(void)
{
	DIR *d = open_dir_stream(g.qd.fd[QUEUE_NEW]);
	struct dirent *de;

	if (d == NULL) {
		log_event(LOG_ERR, "status=scan-failed error=\"queue/new: %s\"",
		    strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (!queue_id_valid(name)) {
			smtpq_quarantine(g.qd.fd[QUEUE_NEW], name,
			    "not a queue id");
			continue;
		}
		if (sched_lookup(name) != NULL) {
			smtpq_quarantine(g.qd.fd[QUEUE_NEW], name,
			    "queue id already in use");
			continue;
		}
		if (renameat2(g.qd.fd[QUEUE_NEW], name, g.qd.fd[QUEUE_CUR],
		    name, RENAME_NOREPLACE) < 0) {
			if (errno == EEXIST)
				smtpq_quarantine(g.qd.fd[QUEUE_NEW], name,
				    "queue id already in cur");
			else if (errno != ENOENT)
				log_event(LOG_ERR, "qid=%s status=move-failed "
				    "error=\"%s\"", name, strerror(errno));
			continue;
		}
		(void)sched_add(name, 0);
	}
	(void)closedir(d);
}

/* do_deletes - carry out the operator's delete requests in delete/ */
static void
do_deletes(void)
{
	DIR *d = open_dir_stream(g.qd.fd[QUEUE_DELETE]);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		struct entry *e;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (!queue_id_valid(name)) {
			(void)unlinkat(g.qd.fd[QUEUE_DELETE], name, 0);
			continue;
		}
		e = sched_lookup(name);
		if (e != NULL) {
			sched_delete(e);
			if (sched_lookup(name) != NULL)
				continue;	/* jobs running: later */
		} else if (unlinkat(g.qd.fd[QUEUE_NEW], name, 0) == 0 ||
		    unlinkat(g.qd.fd[QUEUE_CUR], name, 0) == 0)
			log_event(LOG_NOTICE, "qid=%s status=deleted "
			    "reason=\"by the operator\"", name);
		(void)unlinkat(g.qd.fd[QUEUE_DELETE], name, 0);
	}
	(void)closedir(d);
}

/* clean_tmp - remove what crashed injects left in tmp/ long ago */
static void
clean_tmp(void)
{
	DIR *d = open_dir_stream(g.qd.fd[QUEUE_TMP]);
	struct dirent *de;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(g.qd.fd[QUEUE_TMP], de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 ||
		    now - st.st_mtime < SMTPQ_TMP_MAX_AGE)
			continue;
		if (unlinkat(g.qd.fd[QUEUE_TMP], de->d_name, 0) == 0)
			log_event(LOG_NOTICE, "qid=- status=tmp-removed "
			    "name=%s", queue_id_valid(de->d_name) ?
			    de->d_name : "(invalid)");
	}
	(void)closedir(d);
}

/* open_trigger - make and open the FIFO inject and mailctl poke */
static void
open_trigger(void)
{
	struct stat st;

	if (mkfifoat(g.qd.root, QUEUE_TRIGGER, 0600) < 0 && errno != EEXIST)
		daemon_die_temp("cannot make queue/trigger", strerror(errno));
	/* O_RDWR: we are a writer too, so it never reports hang-up. */
	g.trigger_fd = openat(g.qd.root, QUEUE_TRIGGER,
	    O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (g.trigger_fd < 0) {
		if (errno == ELOOP)
			daemon_die_perm("queue/trigger is a symlink", NULL);
		daemon_die_temp("cannot open queue/trigger", strerror(errno));
	}
	if (fstat(g.trigger_fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
		daemon_die_perm("queue/trigger is not our FIFO", NULL);
}

/* take_lock - at most one smtpq per queue */
static void
take_lock(void)
{
	int fd = openat(g.qd.root, QUEUE_LOCK,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600), tries;

	if (fd < 0)
		daemon_die_temp("cannot open queue/lock", strerror(errno));
	/*
	 * A child of an smtpq killed a moment ago may still hold the lock's
	 * file for the instant between posix_spawn's clone and its exec:
	 * wait a little before deciding that another smtpq runs.
	 */
	for (tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if (errno != EWOULDBLOCK)
			daemon_die_temp("cannot lock queue/lock", strerror(errno));
		if (tries >= SMTPQ_LOCK_TRIES)
			daemon_die_temp("another smtpq is running", NULL);
		(void)usleep(50000);
	}
	/* fd stays open (and locked) until we exit. */
}

/* read_trigger - collect what the pokes ask for */
static void
read_trigger(int *scan_r, int *flush_r, int *del_r)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(g.trigger_fd, buf, sizeof(buf)), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			if (buf[i] == QUEUE_POKE_FLUSH)
				*flush_r = 1;
			else if (buf[i] == QUEUE_POKE_DELETE)
				*del_r = 1;
			*scan_r = 1;
		}
	}
}

/* reap - every child that ended */
static void
reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		job_reaped(pid, status);
}

/* stop - SIGTERM: wait a little for jobs, then kill them; exit 0 */
static void __attribute__((noreturn))
stop(void)
{
	int64_t deadline = clock_mono_ms() + SMTPQ_STOP_GRACE_MS;

	g.stopping = 1;
	log_event(LOG_INFO, "status=stopping jobs=%u", g.running);
	while (g.jobs != NULL && clock_mono_ms() < deadline) {
		struct job *j;
		struct pollfd p[64];
		nfds_t n = 0;

		p[n].fd = sig_fd;
		p[n++].events = POLLIN;
		if (dserver_fd() >= 0) {
			p[n].fd = dserver_fd();
			p[n++].events = POLLIN;
		}
		for (j = g.jobs; j != NULL && n < 64; j = j->next)
			if (j->out_fd >= 0) {
				p[n].fd = j->out_fd;
				p[n++].events = POLLIN;
			}
		(void)poll(p, n, 100);
		daemon_drain(sig_fd);
		for (j = g.jobs; j != NULL; j = j->next)
			job_read(j);
		reap();
		dserver_read();
	}
	if (g.jobs != NULL) {
		struct job *j;

		log_event(LOG_NOTICE, "status=abandoning jobs=%u", g.running);
		job_kill_all();
		for (j = g.jobs; j != NULL; j = j->next)
			while (!j->served &&
			    waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
				;
	}
	dserver_stop();
	log_event(LOG_INFO, "status=stopped");
	exit(0);
}

/*
 * reload - SIGHUP: the config again, and the log
 *
 * A config that does not load is logged and the running one kept. The
 * queue settings (retries, lifetime, concurrency, timeouts), the local
 * domains and the log target follow the new file at once; jobs already
 * running finish as they started. state_dir cannot move under a running
 * smtpq (the queue and its lock live there): that needs a restart.
 */
static void
reload(void)
{
	struct config fresh;
	struct buf err = BUF_INIT(2048);
	const char *error = NULL;
	int new_log;

	if (config_load(g.cfg.path, &fresh, &err) < 0) {
		log_event(LOG_ERR, "status=reload-refused error=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return;
	}
	buf_free(&err);
	if (strcmp(fresh.state_dir, g.cfg.state_dir) != 0) {
		log_event(LOG_ERR, "status=reload-refused error=\"state_dir "
		    "changed: restart smtpq to move the queue\"");
		config_free(&fresh);
		return;
	}
	new_log = strcmp(fresh.log, g.cfg.log) != 0;
	config_free(&g.cfg);
	g.cfg = fresh;
	qconf_from_config(&g.cfg, &g.qc);
	dserver_reload();
	if (new_log) {
		log_close();
		if (log_open("smtpq", g.cfg.log, &error) < 0)
			(void)log_open("smtpq", "stderr", &error);
	} else if (log_reopen(&error) < 0)
		log_event(LOG_ERR, "status=log-reopen-failed error=\"%s\"",
		    error);
	log_event(LOG_INFO, "status=reloaded concurrency=%u "
	    "destination_concurrency=%u", g.qc.concurrency,
	    g.qc.dest_concurrency);
}

/* loop - the event loop; returns never */
static void __attribute__((noreturn))
loop(void)
{
	int64_t next_rescan = clock_mono_ms() + SMTPQ_RESCAN_SECS * 1000;
	int64_t next_clean = clock_mono_ms() + 3600 * 1000;
	struct pollfd *p = NULL;

	for (;;) {
		int do_scan = 0, do_flush = 0, do_del = 0, timeout;
		int64_t now_ms, due, wait_ms;
		struct job *j;
		nfds_t n = 0;

		daemon_drain(sig_fd);
		reap();
		if (daemon_got_hup) {
			daemon_got_hup = 0;
			reload();
		}
		if (daemon_got_term)
			stop();
		read_trigger(&do_scan, &do_flush, &do_del);
		now_ms = clock_mono_ms();
		if (now_ms >= next_rescan) {
			do_scan = do_del = 1;
			next_rescan = now_ms + SMTPQ_RESCAN_SECS * 1000;
		}
		if (now_ms >= next_clean) {
			clean_tmp();
			next_clean = now_ms + 3600 * 1000;
		}
		if (do_scan)
			scan_new();
		if (do_del)
			do_deletes();
		if (do_flush) {
			log_event(LOG_INFO, "status=flush entries=%u",
			    g.n_entries);
			sched_flush(clock_now());
		}
		sched_run_due(clock_now());
		sched_dispatch();
		now_ms = clock_mono_ms();
		job_timeouts(now_ms);

		/* How long may we sleep? */
		wait_ms = next_rescan - now_ms;
		due = sched_next_due();
		if (due != INT64_MAX) {
			int64_t d = (due - clock_now()) * 1000;

			if (d < wait_ms)
				wait_ms = d;
		}
		for (j = g.jobs; j != NULL; j = j->next)
			if (!j->timed_out && j->deadline_ms - now_ms < wait_ms)
				wait_ms = j->deadline_ms - now_ms;
		if (wait_ms < 0)
			wait_ms = 0;
		timeout = wait_ms > 60000 ? 60000 : (int)wait_ms;

		if (poll_cap < g.running + 3) {
			poll_cap = g.running + 64;
			poll_fds = alloc_reallocarray(poll_fds, poll_cap,
			    sizeof(*poll_fds));
		}
		p = poll_fds;
		p[n].fd = sig_fd;
		p[n++].events = POLLIN;
		p[n].fd = g.trigger_fd;
		p[n++].events = POLLIN;
		if (dserver_fd() >= 0) {
			p[n].fd = dserver_fd();
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
		for (j = g.jobs; j != NULL && n < poll_cap; j = j->next)
			if (j->out_fd >= 0) {
				p[n].fd = j->out_fd;
				p[n].events = POLLIN;
				p[n++].revents = 0;
			}
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			daemon_die_temp("poll failed", strerror(errno));
		for (j = g.jobs; j != NULL; j = j->next)
			if (j->out_fd >= 0)
				job_read(j);
		dserver_read();
	}
}

/* usage - wrong arguments */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: smtpq -c FILE [-f]\n");
	exit(FAIL_EXIT_PERM);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG, *error = NULL;
	struct buf err = BUF_INIT(1024);
	int c, drop = 0;

	setup_fds();
	alloc_set_oom_handler(daemon_die_oom);
	while ((c = getopt(argc, argv, "c:fU")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			break;
		case 'U':
			drop = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	sig_fd = daemon_signals(1);
	if (config_load(path, &g.cfg, &err) < 0) {
		if (fail_from_errno(errno) == FAIL_PERM)
			daemon_die_perm("config", buf_cstr(&err));
		daemon_die_temp("config", buf_cstr(&err));
	}
	if (log_open("smtpq", g.cfg.log, &error) < 0)
		daemon_die_temp("cannot open the log", error);
	if (drop && privdrop_to(g.cfg.user_queue, &error) < 0)
		daemon_die_temp("cannot become user_queue", error);
	qconf_from_config(&g.cfg, &g.qc);
	if (queue_dirs_open(g.cfg.state_dir, QUEUE_DIRS_CREATE |
	    QUEUE_DIRS_MINE, &g.qd, &error) < 0) {
		if (errno == EPERM)
			daemon_die_perm("unsafe queue", error);
		daemon_die_temp("cannot open the queue", error);
	}
	take_lock();
	open_trigger();
	child_env();
	sched_init();
	clean_tmp();
	scan_cur();
	scan_new();
	do_deletes();
	log_event(LOG_INFO, "status=started entries=%u concurrency=%u "
	    "destination_concurrency=%u", g.n_entries, g.qc.concurrency,
	    g.qc.dest_concurrency);
	buf_free(&err);
	loop();
}
