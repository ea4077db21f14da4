/*
 * NAME
 *	io-int.h - what io.c and iotls.c share: the stream and its waits
 *
 * DESCRIPTION
 *	Not for programs: they use io.h. io.c is the stream without TLS;
 *	iotls.c adds OpenSSL underneath through struct io_tls_ops, set on a
 *	stream when its handshake starts. Programs that never start TLS
 *	(pop3d-user, imapd-user, inject, deliver) thus never link OpenSSL,
 *	and never load it (see bench/RESULTS.md, memory).
 *
 *	The ops: read and write move at most n octets (n <= INT_MAX),
 *	waiting with ioi_wait_fd() as OpenSSL asks; pending counts the
 *	decrypted octets not yet taken; ready says whether OpenSSL holds
 *	any input at all (decrypted or not); discard drops it; describe
 *	appends "PROTOCOL CIPHER"; shutdown sends close_notify; free frees
 *	the TLS state. Failures return -1 with errno and leave the stream
 *	dead (io->dead) as io.c describes.
 */
#ifndef IO_INT_H
#define IO_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "clock.h"
#include "io.h"

struct io_tls_ops {
	ssize_t (*read)(struct io *io, void *p, size_t n);
	ssize_t (*write)(struct io *io, const void *p, size_t n);
	size_t (*pending)(const struct io *io);
	int (*ready)(const struct io *io);
	void (*discard)(struct io *io);
	int (*describe)(const struct io *io, struct buf *out);
	int (*shutdown)(struct io *io);
	void (*free)(struct io *io);
};

struct io {
	int fd_in;
	int fd_out;
	int flags_in;		/* original file status flags, or -1 */
	int flags_out;		/* same for fd_out; -1 if it is fd_in */
	int sock_out;		/* fd_out is a socket: use send() */
	int timeout_ms;		/* each wait; negative: no limit */
	int64_t deadline;	/* CLOCK_MONOTONIC ms, or -1 for none */
	void *tls;		/* the SSL, NULL until TLS starts */
	const struct io_tls_ops *tls_ops;	/* NULL without TLS */
	int dead;		/* errno of a fatal TLS failure, or 0 */
	int secure;		/* TLS ended in the process before us */
	size_t ipos;		/* next unread byte of ibuf */
	size_t ilen;		/* bytes in ibuf */
	size_t ostart;		/* first byte of obuf not yet written */
	size_t olen;		/* bytes in obuf */
	char errbuf[256];	/* io_error() text */
	char ibuf[IO_BUFSIZE];
	char obuf[IO_BUFSIZE];
};

void ioi_set_error(struct io *io, const char *what, const char *detail);
int ioi_wait_fd(struct io *io, int fd, short events, int64_t until);
int ioi_flush_before_wait(struct io *io);

#endif
