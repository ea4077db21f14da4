/*
 * NAME
 *	smtpd-in - the input side of an SMTP session
 *
 * SYNOPSIS
 *	void in_init(struct smtp_in *in, struct io *io);
 *	int in_line(struct smtp_in *in, struct buf *line, size_t max,
 *	    int *flags_r);
 *	int in_avail(struct smtp_in *in, const char **p_r, size_t *n_r);
 *	void in_consume(struct smtp_in *in, size_t n);
 *	size_t in_buffered(const struct smtp_in *in);
 *	int in_pending(struct smtp_in *in);
 *	void in_discard(struct smtp_in *in);
 *
 * DESCRIPTION
 *	A buffer of IO_BUFSIZE bytes above io(3), so that the session can
 *	read command lines and raw DATA/BDAT bytes from one stream and
 *	never read a byte past what it has used: the DATA machine stops at
 *	the exact end of the data and a BDAT chunk is cut at its size, and
 *	what follows stays here for the next command.
 *
 *	in_line() reads one line like io_read_line(): text without its
 *	terminator, flags IO_LINE_CRLF, IO_LINE_LF or IO_LINE_EOF, plus
 *	IO_LINE_BARE_CR and IO_LINE_NUL. A line longer than max is read to
 *	its LF and thrown away (EMSGSIZE; no part of it is ever taken as a
 *	command, SECURITY A5), but no further than SMTPD_DISCARD_MAX octets
 *	(EFBIG: the caller hangs up, A6). line->max must exceed max.
 *
 *	in_avail() points at the buffered bytes, reading when there are
 *	none; in_consume() uses n of them. in_buffered() counts them;
 *	in_pending() also asks io whether more input is waiting (pipelining
 *	checks); in_discard() drops the buffer (STARTTLS).
 *
 *	Reads go through io_read(), which flushes buffered replies when it
 *	has to wait, so pipelined replies leave in one batch.
 *
 * DIAGNOSTICS
 *	in_line: 1 line, 0 end of input before any byte of a line, -1 with
 *	errno (EMSGSIZE, EFBIG, or io's: ETIMEDOUT, ECONNRESET, ...).
 *	in_avail: 1, 0 at end of input, -1 with io's errno.
 *
 * SECURITY
 *	No privileges; all input untrusted, all memory fixed.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "io.h"

#include "smtpd.h"

/* in_init - an empty buffer over io */
void
in_init(struct smtp_in *in, struct io *io)
{
	in->io = io;
	in->pos = in->len = 0;
	in->bytes = 0;
}

/* fill - read more into the empty buffer: >0, 0 at EOF, -1 */
static int
fill(struct smtp_in *in)
{
	int r;

	in->pos = in->len = 0;
	r = io_read(in->io, in->buf, sizeof(in->buf));
	if (r <= 0)
		return r;
	in->len = (size_t)r;
	in->bytes += (uint64_t)r;
	return r;
}

/* in_line - one line of at most max octets of text */
int
in_line(struct smtp_in *in, struct buf *line, size_t max, int *flags_r)
{
	const char *p, *nl;
	uint64_t seen = 0;
	size_t avail, seg, used;
	int got = 0, toolong = 0, flags, r;

	buf_reset(line);
	*flags_r = 0;
	for (;;) {
		if (in->pos == in->len) {
			r = fill(in);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (!got)
					return 0;
				flags = IO_LINE_EOF;
				goto done;
			}
		}
		got = 1;
		p = in->buf + in->pos;
		avail = in->len - in->pos;
		nl = memchr(p, '\n', avail);
		seg = nl != NULL ? (size_t)(nl - p) : avail;
		used = nl != NULL ? seg + 1 : seg;
		in->pos += used;
		seen += used;
		/* One octet more than max may be the CR of CR LF. */
		if (!toolong && (seg > max + 1 - line->len ||
		    buf_append(line, p, seg) < 0)) {
			toolong = 1;
			buf_reset(line);
		}
		if (toolong && seen > SMTPD_DISCARD_MAX) {
			errno = EFBIG;
			return -1;
		}
		if (nl != NULL) {
			flags = IO_LINE_LF;
			break;
		}
	}
done:
	if (toolong) {
		errno = EMSGSIZE;
		return -1;
	}
	if (flags == IO_LINE_LF && line->len > 0 &&
	    line->data[line->len - 1] == '\r') {
		buf_truncate(line, line->len - 1);
		flags = IO_LINE_CRLF;
	}
	if (line->len > max) {
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

/* in_avail - the buffered bytes, reading if there are none */
int
in_avail(struct smtp_in *in, const char **p_r, size_t *n_r)
{
	int r;

	if (in->pos == in->len) {
		r = fill(in);
		if (r <= 0)
			return r;
	}
	*p_r = in->buf + in->pos;
	*n_r = in->len - in->pos;
	return 1;
}

/* in_consume - use n buffered bytes */
void
in_consume(struct smtp_in *in, size_t n)
{
	if (n > in->len - in->pos)
		n = in->len - in->pos;
	in->pos += n;
}

/* in_buffered - bytes here and in io not yet used */
size_t
in_buffered(const struct smtp_in *in)
{
	return in->len - in->pos + io_pending(in->io);
}

/* in_pending - 1 if input is waiting (buffered or on the socket) */
int
in_pending(struct smtp_in *in)
{
	if (in->pos < in->len)
		return 1;
	return io_input_ready(in->io) == 1;
}

/* in_discard - drop what is buffered here */
void
in_discard(struct smtp_in *in)
{
	explicit_bzero(in->buf, sizeof(in->buf));
	in->pos = in->len = 0;
}
