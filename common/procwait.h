/*
 * NAME
 *	procwait.h - wait a bounded time for a child process to end
 *
 * SYNOPSIS
 *	int procwait(pid_t pid, int ms, int *status_r);
 *
 * DESCRIPTION
 *	procwait() waits up to ms milliseconds for the child pid to end and
 *	reaps it, putting its waitpid() status in *status_r. It sleeps in
 *	poll(2) on a pidfd (Linux 5.3 and later), so it returns the moment
 *	the child ends; where the kernel has no pidfd it looks every
 *	millisecond, then every 10 ms, instead. It never kills: the caller
 *	decides what a child that did not end deserves.
 *
 * DIAGNOSTICS
 *	1 reaped; 0 still running after ms; -1 with errno (ECHILD: not our
 *	child, or reaped already).
 */
#ifndef PROCWAIT_H
#define PROCWAIT_H

#include <sys/types.h>

int procwait(pid_t pid, int ms, int *status_r);

#endif
