/*
 * NAME
 *	fdpass.h - send descriptors over a Unix socket, with a tag octet
 *
 * SYNOPSIS
 *	int fdpass_send(int sock, char tag, const int *fds, size_t n);
 *	int fdpass_recv(int sock, char *tag_r, int *fds, size_t max,
 *	    size_t *n_r);
 *
 * DESCRIPTION
 *	fdpass_send() sends one message on the connected socket sock (best
 *	SOCK_SEQPACKET, so that each request stays whole): the octet tag
 *	and copies of the n (at most FDPASS_MAX) descriptors fds, as
 *	SCM_RIGHTS. It never raises SIGPIPE. The caller still owns fds.
 *
 *	fdpass_recv() receives one such message: its tag, and its
 *	descriptors in fds[0..*n_r - 1], close-on-exec, now the caller's to
 *	close. A message that carried more than max descriptors, or whose
 *	control data was cut short, is refused whole: what did arrive is
 *	closed.
 *
 * DIAGNOSTICS
 *	fdpass_send: 0, or -1 with errno (EPIPE: the other end is gone).
 *	fdpass_recv: 1 a message; 0 the other end closed; -1 with errno
 *	(EBADMSG: the message was malformed or had too many descriptors).
 */
#ifndef FDPASS_H
#define FDPASS_H

#include <stddef.h>

#define FDPASS_MAX	4

int fdpass_send(int sock, char tag, const int *fds, size_t n);
int fdpass_recv(int sock, char *tag_r, int *fds, size_t max, size_t *n_r);

#endif
