/*
 * NAME
 *	smtpq-spawn - start a program for the queue (deliver, remote, inject)
 *
 * SYNOPSIS
 *	int smtpq_spawn(const char *prog, char *const argv[],
 *	    const int fds[SMTPQ_SPAWN_FDS], int own_group, pid_t *pid_r);
 *
 * DESCRIPTION
 *	smtpq_spawn() runs prog (a path, no PATH search, no shell) with
 *	argv and smtpq's minimal child environment, with fds[i] on
 *	descriptor i for each fds[i] >= 0, every signal unblocked and
 *	SIGPIPE, SIGCHLD, SIGTERM, SIGHUP and SIGINT at their defaults, in a
 *	process group of its own when own_group (so that a timeout can kill
 *	all it started). smtpq's own descriptors are close-on-exec.
 *
 * DIAGNOSTICS
 *	0 with *pid_r, or the errno of posix_spawn (ENOENT: no program).
 */
#include <signal.h>
#include <spawn.h>

#include "smtpq.h"

extern char **smtpq_child_env;

/* smtpq_spawn - see above; 0 or an errno */
int
smtpq_spawn(const char *prog, char *const argv[],
    const int fds[SMTPQ_SPAWN_FDS], int own_group, pid_t *pid_r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t sigs;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	int i, rc;

	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < SMTPQ_SPAWN_FDS; i++)
		if (fds[i] >= 0)
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	posix_spawnattr_init(&attr);
	sigemptyset(&sigs);
	posix_spawnattr_setsigmask(&attr, &sigs);
	sigaddset(&sigs, SIGPIPE);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGINT);
	posix_spawnattr_setsigdefault(&attr, &sigs);
	if (own_group) {
		posix_spawnattr_setpgroup(&attr, 0);
		flags |= POSIX_SPAWN_SETPGROUP;
	}
	posix_spawnattr_setflags(&attr, flags);
	rc = posix_spawn(pid_r, prog, &fa, &attr, argv, smtpq_child_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}
