/*
 * NAME
 *	fdio.h - plain descriptors: write all of a buffer, hold a number
 *
 * DESCRIPTION
 *	fd_write_all() writes n octets to fd through short writes and EINTR.
 *	fd_hold_null() puts /dev/null on descriptor fd (close-on-exec), so
 *	that no file opened later takes that number: a server that will
 *	later put descriptors it is sent on 0, 1 or 3 holds them first.
 *	It is apart from io.h so that programs without TLS (inject, deliver)
 *	do not load OpenSSL for it: every process start counts.
 *
 * DIAGNOSTICS
 *	0, or -1 with errno (a write of 0 octets counts as EIO).
 */
#ifndef FDIO_H
#define FDIO_H

#include <stddef.h>

int fd_write_all(int fd, const void *p, size_t n);
int fd_hold_null(int fd);

#endif
