/*
 * NAME
 *	io - buffered, timed line and byte I/O over a descriptor or TLS
 *
 * SYNOPSIS
 *	struct io *io_new(int fd_in, int fd_out, int timeout_ms);
 *	void io_free(struct io *io);
 *	void io_set_timeout(struct io *io, int timeout_ms);
 *	void io_set_deadline(struct io *io, int ms_from_now);
 *
 *	int io_read_line(struct io *io, struct buf *line, size_t max,
 *	    int *flags_r);
 *	int io_read(struct io *io, void *p, size_t n);
 *	int io_read_exact(struct io *io, struct buf *out, size_t n);
 *	size_t io_pending(const struct io *io);
 *	int io_input_ready(struct io *io);
 *	void io_discard_input(struct io *io);
 *
 *	int io_write(struct io *io, const void *p, size_t n);
 *	int io_puts(struct io *io, const char *s);
 *	int io_printf(struct io *io, const char *fmt, ...);
 *	int io_flush(struct io *io);
 *
 *	int io_start_tls_server(struct io *io, SSL_CTX *ctx,
 *	    const char **error_r);
 *	int io_start_tls_client(struct io *io, SSL_CTX *ctx, const char *sni,
 *	    const char **error_r);
 *	int io_is_tls(const struct io *io);
 *	int io_tls_describe(const struct io *io, struct buf *out);
 *	SSL *io_tls_ssl(const struct io *io);
 *	int io_tls_shutdown(struct io *io);
 *	const char *io_error(const struct io *io);
 *
 * DESCRIPTION
 *	io_new() joins an input and an output descriptor (the same socket
 *	twice, two pipes, or stdin and stdout) into one stream with an
 *	IO_BUFSIZE input buffer and an IO_BUFSIZE output buffer. Both
 *	descriptors are put into non-blocking mode; io_free() puts back the
 *	flags it changed, so call it before closing them. io_free() never
 *	closes the descriptors; it frees the TLS state without a
 *	close_notify (io_tls_shutdown() sends one) and wipes both buffers.
 *
 *	Timeouts. Every wait for the descriptors is a poll(2) of at most
 *	timeout_ms milliseconds (negative: no limit; 0: do not wait at all);
 *	EINTR is retried without extending the wait. A peer that sends one
 *	byte just inside each timeout keeps a line read going, so programs
 *	that need a bound per command (SECURITY X2) also set a deadline with
 *	io_set_deadline(): once it has passed, no wait starts and no new
 *	input is read (ETIMEDOUT), while bytes already buffered can still be
 *	read. Negative ms_from_now clears it. A TLS handshake must finish
 *	within timeout_ms as a whole. Reads and writes under TLS honour the
 *	same limits: SSL_ERROR_WANT_READ and WANT_WRITE turn into polls of
 *	the matching descriptor.
 *
 *	Input. One read(2) or SSL_read() asks for at most IO_BUFSIZE bytes
 *	and only when the input buffer is empty. When that read would have
 *	to wait and output is buffered, the output is flushed first, so a
 *	program never deadlocks waiting for the answer to a command it has
 *	not sent, and pipelined replies go out together when the client's
 *	pipelined commands run out (RFC 2920). Read functions may therefore
 *	return write errors.
 *
 *	io_read_line() reads one line into line (reset first), without its
 *	terminator, and returns 1 with *flags_r set: IO_LINE_CRLF (ended by
 *	CR LF), IO_LINE_LF (bare LF), IO_LINE_EOF (end of input without a
 *	terminator: the partial line is returned), plus IO_LINE_BARE_CR when
 *	the text holds a CR that is not part of the terminator and
 *	IO_LINE_NUL when it holds a NUL (line->len is authoritative). Only a
 *	line ended by CR LF has IO_LINE_CRLF, so a caller can tell "\n.\n",
 *	"\r.\r", "\n.\r\n" and "\r\n.\n" from "\r\n.\r\n" (SECURITY S1, S2).
 *	max is the longest text accepted, terminator excluded, and is
 *	lowered to line->max if that is smaller. A longer line fails with
 *	EMSGSIZE after the rest of it, up to and including the next LF (or
 *	end of input), has been read and thrown away, so the next call
 *	starts on a fresh line and no part of the long line is ever returned
 *	as a line (SECURITY A5). Memory stays within max plus the buffers
 *	however long the line is (A6). It returns 0 at end of input when no
 *	byte of a new line was read.
 *
 *	io_read() returns up to n buffered bytes, or does one read when none
 *	are buffered; 0 at end of input. io_read_exact() appends exactly n
 *	bytes to out (BDAT chunks, IMAP literals); it checks that they fit
 *	in out before it reads anything, and grows out only as bytes
 *	arrive. io_pending() counts the bytes buffered and not yet read,
 *	including those OpenSSL has decrypted (SMTP pipelining checks).
 *	io_input_ready() says whether a read would return at once.
 *	io_discard_input() throws buffered input away, including what
 *	OpenSSL has decrypted and not handed over yet.
 *
 *	Output. io_write(), io_puts() and io_printf() add to the output
 *	buffer and write it out when it fills up; io_flush() writes it all
 *	out. On sockets send(MSG_NOSIGNAL) is used; programs must still
 *	ignore SIGPIPE, because pipes and OpenSSL use write(2).
 *
 *	TLS (in iotls.c, apart so that programs that never start TLS do
 *	not link OpenSSL; io-int.h joins the two). io_start_tls_server()
 *	and io_start_tls_client() flush the
 *	output (the "220 Ready" must go out in plaintext), discard every
 *	byte of buffered input (CVE-2011-0411 for servers, CVE-2021-38371
 *	for clients; SECURITY T1, T3, P1, I1), then make the handshake. A
 *	caller that wants to log the injection looks at io_pending() first.
 *	The client sets sni as the server name indication unless it is an
 *	IP address, and when ctx verifies peers it also checks that the
 *	certificate names sni. io_tls_describe() appends e.g. "TLSv1.3
 *	TLS_AES_256_GCM_SHA384" to out. io_tls_ssl() gives the SSL for
 *	peer checks. io_tls_shutdown() flushes and sends close_notify.
 *
 * DIAGNOSTICS
 *	Functions return 0 (or a count, or 1 for a line) on success and -1
 *	with errno on failure: ETIMEDOUT (nothing within the timeout or
 *	past the deadline), EMSGSIZE (line too long, the stream is still
 *	usable), ENOBUFS (io_read_exact: out cannot hold n more bytes,
 *	nothing read; io_printf: text longer than IO_PRINTF_MAX), ECONNRESET
 *	(io_read_exact: end of input before n bytes; TLS: the peer closed
 *	without close_notify), EPIPE, EIO and other errno values from the
 *	system, EPROTO for TLS errors. All of these are temporary failures
 *	of the session. After any failure but EMSGSIZE and ENOBUFS the
 *	stream position is unknown and the caller should close the
 *	connection. After a TLS error, including a failed handshake, every
 *	further read and write fails with the same errno: nothing is ever
 *	sent in plaintext after STARTTLS went wrong. io_error() and error_r
 *	give one line of text (OpenSSL's reason) in a buffer owned by io.
 *	Starting TLS twice fails with EINVAL and leaves the session alone.
 *	io_new() returns NULL with errno (EBADF) if fcntl(2) fails on a
 *	descriptor.
 *
 * SECURITY
 *	No privileges. Everything read is untrusted: every read is bounded
 *	by IO_BUFSIZE, every line by max, and every wait by the timeout.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "io.h"
#include "io-int.h"
#include "str.h"


/* earliest - the earlier of two limits, where -1 means none */
static int64_t
earliest(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* past_deadline - 1 if the deadline is set and has passed */
static int
past_deadline(const struct io *io)
{
	return io->deadline >= 0 && clock_mono_ms() >= io->deadline;
}

/* set_error - put one line of text into errbuf */
void
ioi_set_error(struct io *io, const char *what, const char *detail)
{
	if (detail != NULL && *detail != '\0')
		(void)snprintf(io->errbuf, sizeof(io->errbuf), "%s: %s",
		    what, detail);
	else
		(void)snprintf(io->errbuf, sizeof(io->errbuf), "%s", what);
}

/* wait_fd - poll fd for events within the timeout, deadline and until */
int
ioi_wait_fd(struct io *io, int fd, short events, int64_t until)
{
	struct pollfd pfd;
	int64_t now, end, left;
	int r, ms;

	if (past_deadline(io)) {
		errno = ETIMEDOUT;
		return -1;
	}
	now = clock_mono_ms();
	end = io->timeout_ms >= 0 ? now + io->timeout_ms : -1;
	end = earliest(earliest(end, io->deadline), until);
	for (;;) {
		if (end < 0)
			ms = -1;
		else {
			left = end - now;
			if (left < 0)
				left = 0;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, ms);
		if (r > 0) {
			if (pfd.revents & POLLNVAL) {
				errno = EBADF;
				return -1;
			}
			/* POLLHUP and POLLERR: the next call reports them. */
			return 0;
		}
		if (r == 0) {
			now = clock_mono_ms();
			if (end >= 0 && now < end)
				continue;	/* woke early: wait the rest */
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
		now = clock_mono_ms();
	}
}

/* flush_before_wait - send buffered output before a read waits for input */
int
ioi_flush_before_wait(struct io *io)
{
	if (io->olen > io->ostart)
		return io_flush(io);
	return 0;
}

/* raw_read - one read of at most n bytes, waiting as needed; 0 at EOF */
static ssize_t
raw_read(struct io *io, void *p, size_t n)
{
	ssize_t r;

	if (n > INT_MAX)
		n = INT_MAX;
	if (io->tls_ops != NULL)
		return io->tls_ops->read(io, p, n);
	for (;;) {
		r = read(io->fd_in, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (ioi_flush_before_wait(io) < 0 ||
		    ioi_wait_fd(io, io->fd_in, POLLIN, -1) < 0)
			return -1;
	}
}

/* raw_write - one write of at most n bytes, waiting as needed */
static ssize_t
raw_write(struct io *io, const void *p, size_t n)
{
	ssize_t r;

	if (n > INT_MAX)
		n = INT_MAX;
	if (io->tls_ops != NULL)
		return io->tls_ops->write(io, p, n);
	for (;;) {
		if (io->sock_out)
			r = send(io->fd_out, p, n, MSG_NOSIGNAL);
		else
			r = write(io->fd_out, p, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (ioi_wait_fd(io, io->fd_out, POLLOUT, -1) < 0)
			return -1;
	}
}

/* fill - refill the empty input buffer: >0 bytes, 0 at EOF, -1 error */
static int
fill(struct io *io)
{
	ssize_t r;

	io->ipos = io->ilen = 0;
	if (io->dead) {
		errno = io->dead;
		return -1;
	}
	if (io->olen > io->ostart && io_input_ready(io) != 1 &&
	    io_flush(io) < 0)
		return -1;
	if (past_deadline(io)) {
		errno = ETIMEDOUT;
		return -1;
	}
	r = raw_read(io, io->ibuf, sizeof(io->ibuf));
	if (r < 0)
		return -1;
	io->ilen = (size_t)r;
	return r > 0;
}

/* set_nonblock - add O_NONBLOCK; returns the old flags or -1 */
static int
set_nonblock(int fd)
{
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fl;
}

/* restore_flags - put back the flags set_nonblock changed */
static void
restore_flags(int fd, int fl)
{
	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl);
}

/* io_new - a stream over fd_in and fd_out; NULL/errno on a bad fd */
struct io *
io_new(int fd_in, int fd_out, int timeout_ms)
{
	struct io *io;
	int type, saved;
	socklen_t len;

	io = alloc_calloc(1, sizeof(*io));
	io->fd_in = fd_in;
	io->fd_out = fd_out;
	io->flags_out = -1;
	io->flags_in = set_nonblock(fd_in);
	if (io->flags_in < 0) {
		saved = errno;
		free(io);
		errno = saved;
		return NULL;
	}
	if (fd_out != fd_in) {
		io->flags_out = set_nonblock(fd_out);
		if (io->flags_out < 0) {
			saved = errno;
			restore_flags(fd_in, io->flags_in);
			free(io);
			errno = saved;
			return NULL;
		}
	}
	len = sizeof(type);
	io->sock_out = getsockopt(fd_out, SOL_SOCKET, SO_TYPE, &type,
	    &len) == 0;
	io->timeout_ms = timeout_ms;
	io->deadline = -1;
	return io;
}

/* io_free - free the stream (and its TLS state); the fds stay open */
void
io_free(struct io *io)
{
	if (io == NULL)
		return;
	if (io->tls_ops != NULL)
		io->tls_ops->free(io);
	restore_flags(io->fd_in, io->flags_in);
	if (io->fd_out != io->fd_in)
		restore_flags(io->fd_out, io->flags_out);
	explicit_bzero(io, sizeof(*io));
	free(io);
}

/* io_set_timeout - bound each later wait to timeout_ms (negative: none) */
void
io_set_timeout(struct io *io, int timeout_ms)
{
	io->timeout_ms = timeout_ms;
}

/* io_set_deadline - no wait or new input after ms from now (<0: clear) */
void
io_set_deadline(struct io *io, int ms_from_now)
{
	io->deadline = ms_from_now < 0 ? -1 : clock_mono_ms() + ms_from_now;
}

/* io_read_line - one line without terminator; 1, 0 at EOF, -1/errno */
int
io_read_line(struct io *io, struct buf *line, size_t max, int *flags_r)
{
	const char *p, *nl;
	size_t avail, seg, used;
	int got = 0, held_cr = 0, toolong = 0, flags = 0;
	int r;

	buf_reset(line);
	*flags_r = 0;
	if (max > line->max)
		max = line->max;
	for (;;) {
		if (io->ipos == io->ilen) {
			r = fill(io);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (!got)
					return 0;
				if (held_cr && !toolong &&
				    (line->len >= max ||
				    buf_append(line, "\r", 1) < 0))
					toolong = 1;
				flags = IO_LINE_EOF;
				break;
			}
		}
		p = io->ibuf + io->ipos;
		avail = io->ilen - io->ipos;
		got = 1;
		if (held_cr) {
			held_cr = 0;
			if (p[0] == '\n') {
				io->ipos++;
				flags = IO_LINE_CRLF;
				break;
			}
			/* The CR held back last time was bare: it is text. */
			if (!toolong && (line->len >= max ||
			    buf_append(line, "\r", 1) < 0))
				toolong = 1;
		}
		nl = memchr(p, '\n', avail);
		seg = nl != NULL ? (size_t)(nl - p) : avail;
		used = nl != NULL ? seg + 1 : seg;
		if (nl != NULL) {
			flags = IO_LINE_LF;
			if (seg > 0 && p[seg - 1] == '\r') {
				seg--;
				flags = IO_LINE_CRLF;
			}
		} else if (seg > 0 && p[seg - 1] == '\r') {
			/* Maybe the CR of a CR LF split across two reads. */
			seg--;
			held_cr = 1;
		}
		/* UNSAFE: line->len <= max always holds, so no underflow. */
		if (!toolong && (seg > max - line->len ||
		    buf_append(line, p, seg) < 0))
			toolong = 1;
		io->ipos += used;
		if (nl != NULL)
			break;
	}
	if (toolong) {
		buf_reset(line);
		errno = EMSGSIZE;
		return -1;
	}
	if (line->len > 0 && memchr(line->data, '\r', line->len) != NULL)
		flags |= IO_LINE_BARE_CR;
	if (line->len > 0 && memchr(line->data, '\0', line->len) != NULL)
		flags |= IO_LINE_NUL;
	*flags_r = flags;
	return 1;
}

/* io_read - up to n bytes: buffered ones, else one read; 0 at EOF */
int
io_read(struct io *io, void *p, size_t n)
{
	size_t k;
	int r;

	if (n == 0)
		return 0;
	if (io->ipos == io->ilen) {
		r = fill(io);
		if (r <= 0)
			return r;
	}
	k = io->ilen - io->ipos;
	if (k > n)
		k = n;
	memcpy(p, io->ibuf + io->ipos, k);
	io->ipos += k;
	return (int)k;	/* k <= IO_BUFSIZE */
}

/* io_read_exact - append exactly n bytes to out; 0, or -1/errno */
int
io_read_exact(struct io *io, struct buf *out, size_t n)
{
	size_t k;
	int r;

	if (out->len > out->max || n > out->max - out->len) {
		errno = ENOBUFS;
		return -1;
	}
	while (n > 0) {
		if (io->ipos == io->ilen) {
			r = fill(io);
			if (r < 0)
				return -1;
			if (r == 0) {
				errno = ECONNRESET;
				return -1;
			}
		}
		k = io->ilen - io->ipos;
		if (k > n)
			k = n;
		if (buf_append(out, io->ibuf + io->ipos, k) < 0)
			return -1;
		io->ipos += k;
		n -= k;
	}
	return 0;
}

/* io_pending - bytes received and not yet read, OpenSSL's included */
size_t
io_pending(const struct io *io)
{
	size_t n = io->ilen - io->ipos;

	if (io->tls_ops != NULL)
		n += io->tls_ops->pending(io);
	return n;
}

/* io_input_ready - 1 if a read would not wait, 0 if it would, -1 error */
int
io_input_ready(struct io *io)
{
	struct pollfd pfd;
	int r;

	if (io->ipos < io->ilen)
		return 1;
	if (io->tls_ops != NULL && io->tls_ops->ready(io))
		return 1;
	for (;;) {
		pfd.fd = io->fd_in;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, 0);
		if (r >= 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	if (r > 0 && (pfd.revents & POLLNVAL)) {
		errno = EBADF;
		return -1;
	}
	return r > 0;
}

/* io_discard_input - drop every byte buffered here or inside OpenSSL */
void
io_discard_input(struct io *io)
{
	io->ipos = io->ilen = 0;
	if (io->tls_ops != NULL && !io->dead)
		io->tls_ops->discard(io);
}

/* io_flush - write out everything buffered, within the timeout */
int
io_flush(struct io *io)
{
	ssize_t r;

	if (io->dead) {
		errno = io->dead;
		return -1;
	}
	while (io->ostart < io->olen) {
		r = raw_write(io, io->obuf + io->ostart, io->olen - io->ostart);
		if (r < 0)
			return -1;
		io->ostart += (size_t)r;
	}
	io->ostart = io->olen = 0;
	return 0;
}

/* io_write - add n bytes to the output, writing out full buffers */
int
io_write(struct io *io, const void *p, size_t n)
{
	const char *s = p;
	size_t k;

	if (io->dead) {
		errno = io->dead;
		return -1;
	}
	while (n > 0) {
		if (io->olen == sizeof(io->obuf) && io_flush(io) < 0)
			return -1;
		k = sizeof(io->obuf) - io->olen;
		if (k > n)
			k = n;
		memcpy(io->obuf + io->olen, s, k);
		io->olen += k;
		s += k;
		n -= k;
	}
	return 0;
}

/* io_puts - add a C string to the output */
int
io_puts(struct io *io, const char *s)
{
	return io_write(io, s, strlen(s));
}

/* io_printf - add formatted text (at most IO_PRINTF_MAX bytes) */
int
io_printf(struct io *io, const char *fmt, ...)
{
	struct buf tmp;
	va_list ap;
	size_t room;
	int n, r;

	if (io->dead) {
		errno = io->dead;
		return -1;
	}
	/* First try in place: the usual short reply fits. */
	room = sizeof(io->obuf) - io->olen;
	va_start(ap, fmt);
	n = vsnprintf(io->obuf + io->olen, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)n < room) {
		io->olen += (size_t)n;
		return 0;
	}
	if (n > IO_PRINTF_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	buf_init(&tmp, IO_PRINTF_MAX);
	va_start(ap, fmt);
	r = buf_vprintf(&tmp, fmt, ap);
	va_end(ap);
	if (r == 0)
		r = io_write(io, tmp.data, tmp.len);
	buf_free(&tmp);
	return r;
}

/* io_is_tls - 1 once a TLS handshake has succeeded on the stream */
int
io_is_tls(const struct io *io)
{
	return (io->tls_ops != NULL && io->dead == 0) || io->secure;
}

/* io_set_secure - the peer is behind a TLS proxy (a login process) */
void
io_set_secure(struct io *io)
{
	io->secure = 1;
}

/* io_preload - put n bytes read by another process in front; -1/ENOBUFS */
int
io_preload(struct io *io, const void *p, size_t n)
{
	if (io->ipos != io->ilen || n > sizeof(io->ibuf)) {
		errno = ENOBUFS;
		return -1;
	}
	memcpy(io->ibuf, p, n);
	io->ipos = 0;
	io->ilen = n;
	return 0;
}

/* io_fd_in - the descriptor reads come from (for poll) */
int
io_fd_in(const struct io *io)
{
	return io->fd_in;
}

/* io_tls_describe - append "PROTOCOL CIPHER" to out; -1/EINVAL if no TLS */
int
io_tls_describe(const struct io *io, struct buf *out)
{
	if (!io_is_tls(io)) {
		errno = EINVAL;
		return -1;
	}
	if (io->tls_ops == NULL)
		return buf_printf(out, "via-login-process");
	return io->tls_ops->describe(io, out);
}

/* io_tls_shutdown - flush and send close_notify (not waiting for one) */
int
io_tls_shutdown(struct io *io)
{
	if (io->tls_ops == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (io_flush(io) < 0)
		return -1;
	return io->tls_ops->shutdown(io);
}

/* io_error - one line about the last TLS failure ("" if none) */
const char *
io_error(const struct io *io)
{
	return io->errbuf;
}
