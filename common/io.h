/*
 * NAME
 *	io.h - buffered, timed line and byte I/O over a descriptor or TLS
 *
 * DESCRIPTION
 *	A struct io joins an input descriptor and an output descriptor (one
 *	socket twice, two pipes, or stdin and stdout) with an input buffer,
 *	an output buffer, a timeout that bounds every wait, and optionally
 *	an OpenSSL connection underneath, so that protocol code is the same
 *	with and without TLS. See io.c for the full contract.
 *
 *	Programs must ignore SIGPIPE (or block it): a write to a closed pipe
 *	otherwise kills them. On sockets io uses send(MSG_NOSIGNAL) and the
 *	signal never comes, but OpenSSL and pipes do not go through send().
 */
#ifndef IO_H
#define IO_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"

/* Size of each of the two buffers; one read never asks for more. */
#define IO_BUFSIZE	16384

/* Longest text one io_printf() call may produce. */
#define IO_PRINTF_MAX	(1024 * 1024)

/* How io_read_line() found a line to end; more than one may be set. */
#define IO_LINE_CRLF	0x01	/* ended by CR LF */
#define IO_LINE_LF	0x02	/* ended by a bare LF */
#define IO_LINE_EOF	0x04	/* ended by end of input */
#define IO_LINE_BARE_CR	0x08	/* the text holds a CR */
#define IO_LINE_NUL	0x10	/* the text holds a NUL byte */

struct io;

/* Set up, tear down; io_free() does not close the fds (see io.c). */
struct io *io_new(int fd_in, int fd_out, int timeout_ms);
void io_free(struct io *io);
void io_set_timeout(struct io *io, int timeout_ms);	/* each wait */
void io_set_deadline(struct io *io, int ms_from_now);	/* <0: none */

/* Input: 1 (line) or a count, 0 at EOF, -1 with errno. */
int io_read_line(struct io *io, struct buf *line, size_t max, int *flags_r);
int io_read(struct io *io, void *p, size_t n);
int io_read_exact(struct io *io, struct buf *out, size_t n);
size_t io_pending(const struct io *io);
int io_input_ready(struct io *io);
void io_discard_input(struct io *io);

/* Output: buffered; 0 or -1 with errno. */
int io_write(struct io *io, const void *p, size_t n);
int io_puts(struct io *io, const char *s);
int io_printf(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int io_flush(struct io *io);

/* TLS: STARTTLS-style upgrade (buffered input is discarded first). */
int io_start_tls_server(struct io *io, SSL_CTX *ctx, const char **error_r);
int io_start_tls_client(struct io *io, SSL_CTX *ctx, const char *sni,
    const char **error_r);
int io_is_tls(const struct io *io);
void io_set_secure(struct io *io);
int io_preload(struct io *io, const void *p, size_t n);
int io_fd_in(const struct io *io);
int io_tls_describe(const struct io *io, struct buf *out);
SSL *io_tls_ssl(const struct io *io);
int io_tls_shutdown(struct io *io);
const char *io_error(const struct io *io);

#endif
