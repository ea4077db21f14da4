/*
 * NAME
 *	daemon.h - what the long-lived services share (smtpq, authd)
 *
 * DESCRIPTION
 *	daemon_die() logs "status=fatal kind=... error=..." and exits with
 *	the status of the failure's kind (fail.h): daemon_die_temp() 111,
 *	daemon_die_perm() 100; daemon_die_oom() is the allocation handler.
 *
 *	daemon_signals() installs handlers for SIGTERM, SIGINT and SIGHUP
 *	(and SIGCHLD when asked) that set daemon_got_term / daemon_got_hup
 *	and write one octet to a non-blocking self-pipe, whose read end it
 *	returns for the main loop to poll; daemon_drain() empties it.
 *	SIGPIPE is ignored.
 *
 *	daemon_fds() makes sure descriptors 0..last are open (on /dev/null
 *	if not), so no socket or file a daemon opens lands on them.
 *
 * DIAGNOSTICS
 *	daemon_signals dies (temporary) when it cannot make its pipe;
 *	daemon_fds exits 111 when a descriptor cannot be filled.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <signal.h>
#include <stdint.h>

#include "clock.h"
#include "fail.h"

extern volatile sig_atomic_t daemon_got_term, daemon_got_hup;

void daemon_die(enum fail_kind kind, const char *what, const char *why)
    __attribute__((noreturn));
void daemon_die_temp(const char *what, const char *why)
    __attribute__((noreturn));
void daemon_die_perm(const char *what, const char *why)
    __attribute__((noreturn));
void daemon_die_oom(void);
int daemon_signals(int with_chld);
void daemon_drain(int fd);
void daemon_fds(int last);

#endif
