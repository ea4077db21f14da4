/*
 * NAME
 *	fdio.h - writing all of a buffer to a plain descriptor
 *
 * DESCRIPTION
 *	fd_write_all() writes n octets to fd through short writes and EINTR.
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

#endif
