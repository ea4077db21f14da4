/*
 * NAME
 *	fdpass.h - send descriptors over a Unix socket, with a few octets
 *
 * SYNOPSIS
 *	int fdpass_send(int sock, const void *data, size_t len,
 *	    const int *fds, size_t n);
 *	int fdpass_recv(int sock, void *buf, size_t size, size_t *len_r,
 *	    int *fds, size_t max, size_t *n_r);
 *
 * DESCRIPTION
 *	fdpass_send() sends one message on the connected socket sock (a
 *	SOCK_SEQPACKET socket, so that each message stays whole): the len
 *	(at least 1) octets data and copies of the n (at most FDPASS_MAX)
 *	descriptors fds, as SCM_RIGHTS. It never raises SIGPIPE. The caller
 *	still owns fds. The first octet is a tag by convention.
 *
 *	fdpass_recv() receives one such message: its octets into buf (at
 *	most size, their number in *len_r) and its descriptors in
 *	fds[0..*n_r - 1], close-on-exec, now the caller's to close. A
 *	message longer than size, with more than max descriptors, or whose
 *	control data was cut short, is refused whole: what did arrive is
 *	closed.
 *
 * DIAGNOSTICS
 *	fdpass_send: 0, or -1 with errno (EPIPE: the other end is gone).
 *	fdpass_recv: 1 a message; 0 the other end closed; -1 with errno
 *	(EBADMSG: the message was too long, had too many descriptors, or
 *	was cut short).
 */
#ifndef FDPASS_H
#define FDPASS_H

#include <stddef.h>

#define FDPASS_MAX	4

int fdpass_send(int sock, const void *data, size_t len, const int *fds,
    size_t n);
int fdpass_recv(int sock, void *buf, size_t size, size_t *len_r, int *fds,
    size_t max, size_t *n_r);

#endif
