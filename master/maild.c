/*
 * NAME
 *	maild - the supervisor: one command starts the whole stack
 *
 * SYNOPSIS
 *	maild [-c FILE] [-f]
 *
 * DESCRIPTION
 *	maild reads the config (default /etc/mailstack/mailstack.conf),
 *	refuses to start if it is wrong (naming file and line), binds every
 *	listener that is set, starts the long-lived daemons (smtpq), and
 *	then runs one process per connection: "smtpd -c FILE -m MODE" for
 *	the SMTP listeners, pop3d and imapd for theirs, with the connection
 *	on fd 0 and 1 (see maild-listen.c for the session limits).
 *
 *	Without -f, maild detaches once its listeners are bound and logs to
 *	the config's log target; with -f it stays in the foreground and logs
 *	to stderr. The children log where the config says. Either way it
 *	holds a lock on STATE_DIR/maild.pid, which names its pid, so a
 *	second maild on the same state folder refuses to start.
 *
 *	Signals: SIGHUP reloads the config (a bad new config is logged and
 *	the old one kept): listeners follow it, running sessions are left
 *	alone, and the daemons get SIGHUP (tables and certificates are read
 *	afresh by every new session). SIGTERM or SIGINT stops: the listeners
 *	close at once, the daemons get SIGTERM, running sessions may finish
 *	within shutdown_grace, then whatever is left is killed, and maild
 *	exits 0 with no child left behind.
 *
 * DIAGNOSTICS
 *	Exit 0 after a clean stop; 78 when the config is wrong or a program
 *	it needs is missing; 111 when it cannot start for a reason that may
 *	pass (a port in use, another maild running, no memory).
 *
 * SECURITY
 *	Started as root it binds the ports and starts the others. With
 *	privilege_separation (the default) each child gets -U and becomes
 *	its service user before it reads from the network; maild checks the
 *	users, the set-uid programs and the folders' owners first
 *	(maild-privsep.c, INSTALL). maild never reads from a connection. Children get argument lists
 *	built here from fixed names and the config path: no shell, nothing
 *	from the network.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "fail.h"
#include "log.h"
#include "maild.h"
#include "progpath.h"

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"
#define EXIT_CONFIG	78

static int sig_pipe[2] = { -1, -1 };
static int pid_fd = -1;
static struct buf pid_path = BUF_INIT(4096);

/* die_config - the config (or the installation) is wrong: say so, exit 78 */
static void __attribute__((noreturn))
die_config(const char *what)
{
	fprintf(stderr, "maild: %s\n", what);
	log_event(LOG_ERR, "event=abort error=\"%s\"", what);
	exit(EXIT_CONFIG);
}

/* die_temp - cannot start now, may later: say so, exit 111 */
static void __attribute__((noreturn))
die_temp(const char *what)
{
	fprintf(stderr, "maild: %s\n", what);
	log_event(LOG_ERR, "event=abort error=\"%s\"", what);
	exit(FAIL_EXIT_TEMP);
}

/* on_signal - note the signal for the main loop */
static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

/* setup_signals - the self-pipe and the handlers */
static void
setup_signals(void)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die_temp("cannot make the signal pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

/* maild_describe_status - "exit N" or "signal N" for a wait status */
void
maild_describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		(void)snprintf(out, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		(void)snprintf(out, size, "signal %d", WTERMSIG(status));
	else
		(void)snprintf(out, size, "status %d", status);
}

/* maild_spawn - run program (a session on conn_fd, or a daemon) */
pid_t
maild_spawn(struct maild *m, const char *program, const char *mode,
    int conn_fd)
{
	struct buf path = BUF_INIT(4096);
	char *argv[7];
	sigset_t none;
	pid_t pid;
	int i, n, nul, logfd;

	if (progpath_sibling(program, &path) < 0) {
		log_event(LOG_ERR, "event=spawn program=%s error=\"%s\"",
		    program, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_event(LOG_ERR, "event=spawn program=%s error=\"%s\"",
		    program, strerror(errno));
		buf_free(&path);
		return -1;
	}
	if (pid > 0) {
		buf_free(&path);
		return pid;
	}
	/* The child: default signals, the connection on 0 and 1. */
	for (i = 1; i < NSIG; i++)
		(void)signal(i, SIG_DFL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (conn_fd >= 0) {
		if (dup2(conn_fd, 0) < 0 || dup2(conn_fd, 1) < 0)
			_exit(FAIL_EXIT_TEMP);
	} else if ((nul = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(nul, 0);
		(void)dup2(nul, 1);
		if (nul > 2)
			(void)close(nul);
	}
	/* A service user may not open the log file: it gets it as 2. */
	if (privsep_active(m) && strcmp(m->cfg.log, "syslog") != 0 &&
	    strcmp(m->cfg.log, "stderr") != 0 &&
	    (logfd = open(m->cfg.log, O_WRONLY | O_APPEND | O_CREAT |
	    O_NOCTTY, 0640)) >= 0 && logfd != 2) {
		(void)dup2(logfd, 2);
		(void)close(logfd);
	}
	n = 0;
	argv[n++] = (char *)(uintptr_t)buf_cstr(&path);
	argv[n++] = (char *)(uintptr_t)"-c";
	argv[n++] = m->config_path;
	if (mode != NULL) {
		argv[n++] = (char *)(uintptr_t)"-m";
		argv[n++] = (char *)(uintptr_t)mode;
	}
	if (privsep_active(m))
		argv[n++] = (char *)(uintptr_t)"-U";
	argv[n] = NULL;
	execv(argv[0], argv);
	log_event(LOG_ERR, "event=exec program=%s error=\"%s\"", program,
	    strerror(errno));
	_exit(FAIL_EXIT_TEMP);
}

/* lock_pidfile - take STATE_DIR/maild.pid; die if another maild has it */
static void
lock_pidfile(struct maild *m)
{
	char msg[256];

	if (mkdir(m->cfg.state_dir, 0755) < 0 && errno != EEXIST) {
		(void)snprintf(msg, sizeof(msg), "cannot create %s: %s",
		    m->cfg.state_dir, strerror(errno));
		die_temp(msg);
	}
	if (buf_printf(&pid_path, "%s/maild.pid", m->cfg.state_dir) < 0)
		die_config("state_dir too long");
	pid_fd = open(buf_cstr(&pid_path), O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0644);
	if (pid_fd < 0) {
		(void)snprintf(msg, sizeof(msg), "cannot open %s: %s",
		    buf_cstr(&pid_path), strerror(errno));
		die_temp(msg);
	}
	if (flock(pid_fd, LOCK_EX | LOCK_NB) < 0) {
		(void)snprintf(msg, sizeof(msg), "another maild is running "
		    "on %s (see %s)", m->cfg.state_dir, buf_cstr(&pid_path));
		die_temp(msg);
	}
}

/* write_pid - record our pid in the locked pid file */
static void
write_pid(void)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(pid_fd, 0) == 0)
		(void)!pwrite(pid_fd, text, (size_t)n, 0);
}

/* detach - go to the background; the parent exits once we are ready */
static int
detach(void)
{
	int ready[2], nul;
	pid_t pid;
	char c;

	if (pipe2(ready, O_CLOEXEC) < 0)
		die_temp("cannot make a pipe");
	pid = fork();
	if (pid < 0)
		die_temp("cannot fork");
	if (pid > 0) {
		(void)close(ready[1]);
		/* The child writes one byte when it is serving. */
		exit(read(ready[0], &c, 1) == 1 ? 0 : FAIL_EXIT_TEMP);
	}
	(void)close(ready[0]);
	(void)setsid();
	if ((nul = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(nul, 0);
		(void)dup2(nul, 1);
		(void)dup2(nul, 2);
		if (nul > 2)
			(void)close(nul);
	}
	return ready[1];
}

/* reload - SIGHUP: a new config, if it loads */
static void
reload(struct maild *m)
{
	struct config fresh;
	struct buf err = BUF_INIT(1024);

	if (config_load(m->config_path, &fresh, &err) < 0) {
		log_event(LOG_ERR, "event=reload status=refused error=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return;
	}
	config_free(&m->cfg);
	m->cfg = fresh;
	if (privsep_prepare(m, &err) < 0)
		log_event(LOG_ERR, "event=reload status=warning error=\"%s\"",
		    buf_cstr(&err));
	listeners_reload(m);
	daemons_signal(m, SIGHUP);
	log_event(LOG_INFO, "event=reload status=ok");
	buf_free(&err);
}

/* reap - collect every exited child */
static void
reap(struct maild *m)
{
	pid_t pid;
	int status, n;

	for (n = 0; n < 100000; n++) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		if (!sessions_reap(m, pid, status))
			(void)daemons_reap(m, pid, status);
	}
}

/* now_ms - a monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* begin_stop - SIGTERM: stop accepting, ask the daemons to stop */
static void
begin_stop(struct maild *m, long long *deadline)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	*deadline = now_ms() + (long long)m->cfg.shutdown_grace * 1000;
	log_event(LOG_INFO, "event=stopping sessions=%zu grace=%llus",
	    m->n_sessions, (unsigned long long)m->cfg.shutdown_grace);
	listeners_close(m);
	daemons_signal(m, SIGTERM);
}

/* run - the main loop, until a stop has finished */
static void
run(struct maild *m)
{
	struct pollfd pfd[MAILD_LISTENERS + 1];
	int which[MAILD_LISTENERS + 1];
	long long deadline = 0;
	int killed = 0;

	for (;;) {
		int n = 0, i, timeout;
		unsigned char sigs[64];
		ssize_t got;

		if (m->stopping && m->n_sessions == 0 && daemons_running(m) == 0)
			return;
		if (m->stopping && !killed && now_ms() >= deadline) {
			log_event(LOG_WARNING, "event=grace-over sessions=%zu",
			    m->n_sessions);
			sessions_kill(m, SIGKILL);
			daemons_signal(m, SIGKILL);
			killed = 1;
		}
		daemons_start_due(m);
		pfd[n].fd = sig_pipe[0];
		pfd[n].events = POLLIN;
		which[n++] = -1;
		for (i = 0; i < MAILD_LISTENERS; i++) {
			if (m->listeners[i].fd < 0)
				continue;
			pfd[n].fd = m->listeners[i].fd;
			pfd[n].events = POLLIN;
			which[n++] = i;
		}
		timeout = daemons_next_restart(m);
		if (m->stopping && !killed) {
			long long left = deadline - now_ms();

			timeout = left < 0 ? 0 : left > 1000 ? 1000 : (int)left;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			die_temp("poll failed");
		if (pfd[0].revents & POLLIN) {
			while ((got = read(sig_pipe[0], sigs, sizeof(sigs))) > 0) {
				ssize_t k;

				for (k = 0; k < got; k++) {
					if (sigs[k] == SIGCHLD)
						reap(m);
					else if (sigs[k] == SIGHUP &&
					    !m->stopping)
						reload(m);
					else if (sigs[k] == SIGTERM ||
					    sigs[k] == SIGINT)
						begin_stop(m, &deadline);
				}
			}
		}
		reap(m);	/* a SIGCHLD may have come while we were busy */
		for (i = 1; i < n; i++)
			if (pfd[i].revents & POLLIN && !m->stopping)
				listeners_accept(m, which[i]);
	}
}

int
main(int argc, char **argv)
{
	struct maild m;
	struct buf err = BUF_INIT(2048);
	const char *path = DEFAULT_CONFIG, *logerr = NULL;
	char real[PATH_MAX];
	int c, foreground = 0, ready = -1;

	while ((c = getopt(argc, argv, "c:f")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		default:
			fprintf(stderr, "usage: maild [-c FILE] [-f]\n");
			return EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: maild [-c FILE] [-f]\n");
		return EXIT_CONFIG;
	}
	memset(&m, 0, sizeof(m));
	if (config_load(path, &m.cfg, &err) < 0)
		die_config(buf_cstr(&err));
	if (realpath(path, real) == NULL)
		die_config("cannot resolve the config path");
	m.config_path = alloc_strdup(real);
	if (log_open("maild", foreground ? "stderr" : m.cfg.log, &logerr) < 0)
		die_config(logerr);
	listeners_init(&m);
	if (listeners_check_programs(&m, &err) < 0 ||
	    daemons_init(&m, &err) < 0)
		die_config(buf_cstr(&err));
	lock_pidfile(&m);
	if (privsep_prepare(&m, &err) < 0)
		die_config(buf_cstr(&err));
	setup_signals();
	if (listeners_open(&m, &err) < 0)
		die_temp(buf_cstr(&err));
	if (!foreground)
		ready = detach();
	write_pid();
	log_event(LOG_INFO, "event=started pid=%ld config=%s", (long)getpid(),
	    m.config_path);
	if (ready >= 0) {
		(void)!write(ready, "", 1);
		(void)close(ready);
	}
	run(&m);
	log_event(LOG_INFO, "event=stopped");
	(void)unlink(buf_cstr(&pid_path));
	listeners_close(&m);
	config_free(&m.cfg);
	free(m.sessions);
	free(m.daemons);
	free(m.config_path);
	buf_free(&err);
	buf_free(&pid_path);
	return 0;
}
