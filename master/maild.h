/*
 * NAME
 *	maild.h - the supervisor's shared state
 *
 * DESCRIPTION
 *	maild keeps three lists: the listeners it bound (one per listen_*
 *	key that is set), the sessions running on them (one child process
 *	per connection), and the long-lived daemons it keeps alive (smtpq).
 *	maild.c runs the loop and handles signals; maild-listen.c binds,
 *	accepts and spawns sessions; maild-daemon.c starts and restarts the
 *	daemons.
 */
#ifndef MAILD_H
#define MAILD_H

#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "config.h"

#define MAILD_LISTENERS	7	/* smtp, submission, submissions, pop3, ... */

struct maild_listener {
	const char *key;		/* "listen_smtp" */
	const char *program;		/* "smtpd" */
	const char *mode;		/* its -m argument */
	const char *busy_reply;		/* refusal line, NULL for implicit TLS */
	int fd;				/* -1 when not open */
	struct sockaddr_storage addr;	/* what fd is bound to */
	socklen_t addrlen;
};

struct maild_session {
	pid_t pid;
	int listener;			/* index into the listeners */
	struct sockaddr_storage peer;
};

struct maild_daemon {
	const char *program;		/* "smtpq" */
	pid_t pid;			/* 0 when not running */
	time_t started;
	time_t restart_at;		/* 0: no restart pending */
	unsigned failures;		/* quick deaths in a row, for back-off */
};

struct maild {
	struct config cfg;
	char *config_path;		/* absolute, passed to every child */
	struct maild_listener listeners[MAILD_LISTENERS];
	struct maild_session *sessions;
	size_t n_sessions, cap_sessions;
	struct maild_daemon *daemons;
	size_t n_daemons;
	int stopping;
};

/* maild-rate.c */
int rate_allow(struct maild *m, int listener,
    const struct sockaddr_storage *peer, time_t now);

/* maild-privsep.c */
int privsep_active(const struct maild *m);
int privsep_prepare(struct maild *m, struct buf *err);

/* maild-listen.c */
void listeners_init(struct maild *m);
int listeners_check_programs(struct maild *m, struct buf *err);
int listeners_open(struct maild *m, struct buf *err);
void listeners_reload(struct maild *m);
void listeners_close(struct maild *m);
void listeners_accept(struct maild *m, int i);
int sessions_reap(struct maild *m, pid_t pid, int status);
void sessions_kill(struct maild *m, int sig);

/* maild-daemon.c */
int daemons_init(struct maild *m, struct buf *err);
void daemons_start_due(struct maild *m);
int daemons_reap(struct maild *m, pid_t pid, int status);
int daemons_next_restart(const struct maild *m);
void daemons_signal(struct maild *m, int sig);
int daemons_running(const struct maild *m);

/* maild.c */
pid_t maild_spawn(struct maild *m, const char *program, const char *mode,
    int conn_fd);
void maild_describe_status(int status, char *out, size_t size);

#endif
