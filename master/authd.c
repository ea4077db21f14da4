/*
 * NAME
 *	authd - the password service: the only reader of password hashes
 *
 * SYNOPSIS
 *	authd -c FILE [-f] [-U]
 *
 * DESCRIPTION
 *	authd checks passwords for smtpd, pop3d and imapd (and any local
 *	process) over a Unix stream socket, STATE_DIR/auth/socket, and
 *	issues the one-time tickets a post-login process redeems. The
 *	protocol is in common/authproto.h and master/AUTHD.md; the checks,
 *	throttling and logging in authd-serve.c.
 *
 *	At start it makes STATE_DIR/auth (mode 0755) if missing, removes a
 *	stale socket (one nobody answers on; a live one means another authd
 *	runs: exit 111), binds the socket and makes it mode 0666. With -U
 *	(maild gives it under privilege separation) it then becomes the
 *	user named by user_auth for good, before it reads any request. It
 *	never daemonizes (-f is accepted for symmetry with maild).
 *
 *	One process, one poll(2) loop, up to AUTHD_CONN_MAX clients at once,
 *	any number of requests per connection, one at a time: the next
 *	request is read once the reply to the last has gone out. A reply to
 *	a failed login is held for its delay on a timer in the loop, never
 *	by sleeping, so other clients are served meanwhile. A client idle
 *	for AUTHD_IDLE_MS, one that sends a line longer than
 *	AUTHPROTO_LINE_MAX, or one that stops reading is dropped.
 *
 *	SIGTERM (or SIGINT): the socket is removed, exit 0. SIGHUP rereads
 *	the config (state_dir cannot change: that needs a restart), reopens
 *	the log and the password table.
 *
 * DIAGNOSTICS
 *	Exit 0 after SIGTERM; 100 for a wrong config or usage; 111 when it
 *	cannot start for a reason that may pass (another authd, a folder or
 *	socket that cannot be made, no such user_auth with -U).
 *
 * SECURITY
 *	Reads STATE_DIR/auth/passwd.cdb (mode 0600, its own under privilege
 *	separation) and nothing else secret. Anyone on the host may connect;
 *	every request is parsed strictly (authproto.c) and gets the same
 *	throttling as a network client. Passwords are wiped from the input
 *	buffer as soon as their line is served. See authd(8).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
#include "authd.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "fail.h"
#include "log.h"
#include "privdrop.h"

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"
#define IN_MAX		(2 * AUTHPROTO_LINE_MAX)

/* One client connection. */
struct conn {
	int fd;			/* -1: free */
	struct buf in;		/* bytes read, not yet served */
	struct buf out;		/* the reply being held or written */
	int64_t send_at;	/* out may go from then on */
	int64_t idle_at;	/* dropped then, unless a reply is held */
	int close_after;	/* close once out is written */
};

static struct config cfg;
static struct conn conns[AUTHD_CONN_MAX];
static unsigned n_conns;
static int listen_fd = -1;
static int sig_fd = -1;		/* the self-pipe (daemon.h) */
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct stat sock_st;


/* live_socket - 1 if an authd answers on sock_path */
static int
live_socket(void)
{
	struct sockaddr_un sun;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, sizeof(sock_path));
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	/* EAGAIN: a full backlog, which only a live listener has. */
	r = r == 0 || errno == EAGAIN;
	(void)close(fd);
	return r;
}

/* open_socket - STATE_DIR/auth/socket, bound, mode 0666, listening */
static void
open_socket(void)
{
	struct buf dir = BUF_INIT(4096);
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;

	if (buf_printf(&dir, "%s/auth", cfg.state_dir) < 0 ||
	    (size_t)snprintf(sock_path, sizeof(sock_path), "%s/%s",
	    cfg.state_dir, AUTH_SOCKET) >= sizeof(sock_path))
		daemon_die_perm("state_dir too long for a socket path", cfg.state_dir);
	if ((mkdir(cfg.state_dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(buf_cstr(&dir), 0755) < 0 && errno != EEXIST))
		daemon_die_temp("cannot make STATE_DIR/auth", strerror(errno));
	buf_free(&dir);
	if (lstat(sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			daemon_die_perm("not a socket", sock_path);
		if (live_socket())
			daemon_die_temp("another authd is running", sock_path);
		if (unlink(sock_path) < 0)
			daemon_die_temp("cannot remove the stale socket",
			    strerror(errno));
	}
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (listen_fd < 0)
		daemon_die_temp("cannot make a socket", strerror(errno));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, sizeof(sock_path));
	old = umask(0077);	/* no one connects before the chmod */
	if (bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		(void)umask(old);
		daemon_die_temp("cannot bind the socket", strerror(e));
	}
	(void)umask(old);
	if (chmod(sock_path, 0666) < 0 || lstat(sock_path, &sock_st) < 0 ||
	    listen(listen_fd, SOMAXCONN) < 0)
		daemon_die_temp("cannot set up the socket", strerror(errno));
}

/* remove_socket - unlink the socket if it is still the one we made */
static void
remove_socket(void)
{
	struct stat st;

	if (sock_path[0] != '\0' && lstat(sock_path, &st) == 0 &&
	    st.st_ino == sock_st.st_ino && st.st_dev == sock_st.st_dev)
		(void)unlink(sock_path);
}

/* conn_close - drop a client, wiping what it sent */
static void
conn_close(struct conn *c)
{
	if (c->in.data != NULL)
		explicit_bzero(c->in.data, c->in.cap);
	buf_free(&c->in);
	buf_free(&c->out);
	(void)close(c->fd);
	c->fd = -1;
	n_conns--;
}

/* accept_clients - take every waiting client while there is room */
static void
accept_clients(int64_t now)
{
	size_t i;

	while (n_conns < AUTHD_CONN_MAX) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_event(LOG_WARNING, "event=accept-failed "
				    "error=\"%s\"", strerror(errno));
			return;
		}
		for (i = 0; i < AUTHD_CONN_MAX && conns[i].fd >= 0; i++)
			;
		conns[i].fd = fd;
		buf_init(&conns[i].in, IN_MAX);
		buf_init(&conns[i].out, AUTHPROTO_LINE_MAX);
		conns[i].send_at = 0;
		conns[i].idle_at = now + AUTHD_IDLE_MS;
		conns[i].close_after = 0;
		n_conns++;
	}
}

/* serve_lines - answer the next buffered request if no reply is held */
static void
serve_lines(struct conn *c, int64_t now)
{
	struct authd_answer a;
	char *nl;
	size_t len;

	if (c->out.len > 0 || c->close_after)
		return;
	nl = c->in.len > 0 ? memchr(c->in.data, '\n', c->in.len) : NULL;
	if (nl == NULL) {
		if (c->in.len >= AUTHPROTO_LINE_MAX) {	/* garbage */
			log_event(LOG_WARNING, "event=bad-request "
			    "error=\"line too long\"");
			(void)buf_append_str(&c->out,
			    "NO\tauth\t0\tbad request\n");
			c->send_at = now;
			c->close_after = 1;
		}
		return;
	}
	len = (size_t)(nl - c->in.data);
	authd_serve(c->in.data, len, &a);
	explicit_bzero(c->in.data, len + 1);
	buf_consume(&c->in, len + 1);
	if (authproto_format_reply(&a.reply, &c->out) < 0) {
		/* never: authd-serve fills only valid replies */
		(void)buf_append_str(&c->out, "TEMP\tinternal error\n");
		c->close_after = 1;
	}
	/* The delay counts from when the answer is ready. */
	c->send_at = clock_mono_ms() + a.delay_ms;
	explicit_bzero(&a, sizeof(a));
}

/* conn_write - write the due reply; -1 when the client is gone */
static int
conn_write(struct conn *c, int64_t now)
{
	ssize_t n;

	if (c->out.len == 0 || now < c->send_at)
		return 0;
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	buf_consume(&c->out, (size_t)n);
	c->idle_at = now + AUTHD_IDLE_MS;
	return 0;
}

/* conn_read - read what the client sent; -1 at its end or an error */
static int
conn_read(struct conn *c, int64_t now)
{
	char chunk[AUTHPROTO_LINE_MAX];
	size_t room = c->in.max - c->in.len;
	ssize_t n;

	if (room == 0)
		return 0;
	n = read(c->fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	(void)buf_append(&c->in, chunk, (size_t)n);
	explicit_bzero(chunk, (size_t)n);
	c->idle_at = now + AUTHD_IDLE_MS;
	return 0;
}

/* conn_step - read, serve and write for one client as far as it goes */
static void
conn_step(struct conn *c, short revents, int64_t now)
{
	int rounds;

	if ((revents & POLLIN) && c->out.len == 0 && conn_read(c, now) < 0) {
		conn_close(c);
		return;
	}
	if ((revents & (POLLERR | POLLNVAL)) ||
	    ((revents & POLLHUP) && !(revents & POLLIN))) {
		conn_close(c);
		return;
	}
	/* Pipelined requests: each reply must go before the next is read. */
	for (rounds = 0; rounds < 16; rounds++) {
		size_t before = c->in.len;

		serve_lines(c, now);
		now = clock_mono_ms();
		if (conn_write(c, now) < 0) {
			conn_close(c);
			return;
		}
		if (c->out.len > 0 || c->in.len == before)
			break;
	}
	if (c->out.len == 0 && c->close_after) {
		conn_close(c);
		return;
	}
	if (c->out.len == 0 && now >= c->idle_at)
		conn_close(c);
}

/* reload - SIGHUP: the config again, the log, the password table */
static void
reload(void)
{
	struct config fresh;
	struct buf err = BUF_INIT(2048);
	const char *error = NULL;
	int new_log;

	if (config_load(cfg.path, &fresh, &err) < 0) {
		log_event(LOG_ERR, "status=reload-refused error=\"%s\"",
		    buf_cstr(&err));
		buf_free(&err);
		return;
	}
	buf_free(&err);
	if (strcmp(fresh.state_dir, cfg.state_dir) != 0) {
		log_event(LOG_ERR, "status=reload-refused error=\"state_dir "
		    "changed: restart authd to move its socket\"");
		config_free(&fresh);
		return;
	}
	new_log = strcmp(fresh.log, cfg.log) != 0;
	config_free(&cfg);
	cfg = fresh;
	if (new_log) {
		log_close();
		if (log_open("authd", cfg.log, &error) < 0)
			(void)log_open("authd", "stderr", &error);
	} else if (log_reopen(&error) < 0)
		log_event(LOG_ERR, "status=log-reopen-failed error=\"%s\"",
		    error);
	authd_serve_reload(&cfg);
	log_event(LOG_INFO, "status=reloaded");
}

/* stop - SIGTERM: remove the socket, exit 0 */
static void __attribute__((noreturn))
stop(void)
{
	size_t i;

	remove_socket();
	for (i = 0; i < AUTHD_CONN_MAX; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	log_event(LOG_INFO, "status=stopped");
	exit(0);
}

/* wait_ms - how long poll may sleep: the next held reply or idle end */
static int
wait_ms(int64_t now)
{
	int64_t best = 60000;
	size_t i;

	for (i = 0; i < AUTHD_CONN_MAX; i++) {
		const struct conn *c = &conns[i];
		int64_t d;

		if (c->fd < 0)
			continue;
		d = c->out.len > 0 ? c->send_at - now : c->idle_at - now;
		if (d < best)
			best = d;
	}
	return best < 0 ? 0 : (int)best;
}

/* loop - the event loop; returns never */
static void __attribute__((noreturn))
loop(void)
{
	static struct pollfd p[AUTHD_CONN_MAX + 2];
	static short which[AUTHD_CONN_MAX + 2];
	for (;;) {
		int64_t now = clock_mono_ms();
		nfds_t n = 0, k;
		size_t i;

		daemon_drain(sig_fd);
		if (daemon_got_term)
			stop();
		if (daemon_got_hup) {
			daemon_got_hup = 0;
			reload();
		}
		p[n].fd = sig_fd;
		p[n].events = POLLIN;
		which[n++] = -1;
		if (n_conns < AUTHD_CONN_MAX) {
			p[n].fd = listen_fd;
			p[n].events = POLLIN;
			which[n++] = -2;
		}
		for (i = 0; i < AUTHD_CONN_MAX; i++) {
			struct conn *c = &conns[i];

			if (c->fd < 0)
				continue;
			p[n].fd = c->fd;
			if (c->out.len > 0)
				p[n].events = now >= c->send_at ? POLLOUT : 0;
			else
				p[n].events = c->close_after ? 0 : POLLIN;
			which[n++] = (short)i;
		}
		if (poll(p, n, wait_ms(now)) < 0 && errno != EINTR)
			daemon_die_temp("poll failed", strerror(errno));
		now = clock_mono_ms();
		for (k = 0; k < n; k++) {
			if (which[k] == -2 && (p[k].revents & POLLIN))
				accept_clients(now);
			else if (which[k] >= 0 && conns[which[k]].fd >= 0)
				conn_step(&conns[which[k]], p[k].revents, now);
		}
	}
}

/* usage - wrong arguments */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: authd -c FILE [-f] [-U]\n");
	exit(FAIL_EXIT_PERM);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG, *error = NULL;
	struct buf err = BUF_INIT(1024);
	struct authd_policy policy;
	int c, drop = 0;
	size_t i;

	daemon_fds(2);
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
	for (i = 0; i < AUTHD_CONN_MAX; i++)
		conns[i].fd = -1;
	sig_fd = daemon_signals(0);
	if (config_load(path, &cfg, &err) < 0) {
		if (fail_from_errno(errno) == FAIL_PERM)
			daemon_die_perm("config", buf_cstr(&err));
		daemon_die_temp("config", buf_cstr(&err));
	}
	buf_free(&err);
	if (log_open("authd", cfg.log, &error) < 0)
		daemon_die_temp("cannot open the log", error);
	open_socket();
	if (drop && privdrop_to(cfg.user_auth, &error) < 0) {
		remove_socket();
		daemon_die_temp("cannot become user_auth", error);
	}
	authd_policy_init(&policy);
	(void)authd_serve_init(&cfg, &policy);
	log_event(LOG_INFO, "status=started socket=%s ticket_ms=%u "
	    "forget_ms=%u delay_ms=%u", sock_path, policy.ticket_ms,
	    policy.forget_ms, policy.delay_min_ms);
	loop();
}
