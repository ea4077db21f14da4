/*
 * NAME
 *	remote-data - the message: where it is, its size, and DATA encoding
 *
 * SYNOPSIS
 *	void data_init(struct dataenc *e);
 *	int data_feed(struct dataenc *e, const char *p, size_t n,
 *	    struct buf *out);
 *	int data_end(struct dataenc *e, struct buf *out);
 *	int data_open(int fd, uint64_t limit, struct msg *m,
 *	    const char **error_r);
 *	int data_scan(struct msg *m, const char **error_r);
 *	int data_send(const struct msg *m, struct io *io,
 *	    const char **error_r);
 *
 * DESCRIPTION
 *	The queue stores a message with LF line ends, as it came: a line may
 *	still end in CR LF, and a stray CR may sit anywhere. On the wire
 *	every line must end in CR LF, no line may be longer than 1000
 *	octets with its CR LF, and a line that starts with "." gets one more
 *	(RFC 5321 4.5.2), so that only the final "." line can end the data.
 *	The encoder (data_init, data_feed, data_end) does exactly that, in a
 *	stream, with no look-ahead beyond one held CR:
 *
 *	  - LF, CR LF and a bare CR each end a line; the line goes out
 *	    with CR LF. So a stored "a\r.\r\nb" becomes "a", "..", "b" and
 *	    never an end of data (SECURITY.md R2): every line the encoder
 *	    writes is checked for a leading dot after the line ends have
 *	    been decided.
 *	  - a line longer than REMOTE_DATA_LINE octets (the stuffing dot
 *	    counted) is broken there with CR LF; in the header section the
 *	    next piece starts with a space (a folded field), in the body it
 *	    is a new line (stuffed again if it starts with ".").
 *	  - a last line without a line end gets CR LF; data_end() then adds
 *	    the terminating ".\r\n".
 *
 *	It also counts the octets the message takes on the wire (CR LF
 *	included, stuffing dots and the final "." not: the SIZE parameter,
 *	RFC 1870) and notes 8-bit octets in the header (up to the first
 *	empty line) and in the body. out may be NULL to count only.
 *	NUL octets are passed on unchanged.
 *
 *	data_open() takes fd 0: a regular file (the queue entry, positioned
 *	at the message) is read in place with pread(2), from where it is
 *	positioned, so every session can send it again from the start;
 *	anything else (a pipe, when remote runs by hand) is first copied into
 *	an anonymous memory file, at most limit octets. data_scan() runs the
 *	encoder over it once to fill in size and the 8-bit flags.
 *	data_send() writes the encoded message and the final dot to io,
 *	flushing as the buffer fills.
 *
 * DIAGNOSTICS
 *	data_feed, data_end: 0, or -1/ENOBUFS when out is full.
 *	data_open, data_scan: 0, or -1 with errno and a static reason
 *	(cannot read the message, message too big): temporary. data_send:
 *	0, or -1 with errno; *error_r says whether reading the message or
 *	writing to the server failed.
 *
 * SECURITY
 *	No privileges. The message is untrusted content; the encoder keeps
 *	no state but a few flags and counters, so no input can make it
 *	buffer more than it was given.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "io.h"
#include "remote.h"

#define CHUNK	65536

/* put - emit n octets on the current line; count them when wire */
static int
put(struct dataenc *e, struct buf *out, const char *p, size_t n, int wire)
{
	if (out != NULL && buf_append(out, p, n) < 0)
		return -1;
	e->col += n;
	if (wire)
		e->wire += n;
	return 0;
}

/* line_end - end the current line with CR LF */
static int
line_end(struct dataenc *e, struct buf *out)
{
	if (out != NULL && buf_append(out, "\r\n", 2) < 0)
		return -1;
	e->wire += 2;
	if (e->in_header && e->col == 0)
		e->in_header = 0;	/* the empty line after the header */
	e->col = 0;
	e->bol = 1;
	return 0;
}

/* data_init - an encoder at the start of a message */
void
data_init(struct dataenc *e)
{
	memset(e, 0, sizeof(*e));
	e->bol = 1;
	e->in_header = 1;
}

/* data_feed - encode n octets of the stored message onto out */
int
data_feed(struct dataenc *e, const char *p, size_t n, struct buf *out)
{
	size_t i = 0, j, room;
	int eight;

	while (i < n) {
		char c = p[i];

		if (e->cr) {
			e->cr = 0;
			if (line_end(e, out) < 0)
				return -1;
			if (c == '\n') {
				i++;	/* CR LF: one line end */
				continue;
			}
			/* A bare CR ended that line; c starts the next. */
		}
		if (c == '\r') {
			e->cr = 1;
			i++;
			continue;
		}
		if (c == '\n') {
			if (line_end(e, out) < 0)
				return -1;
			i++;
			continue;
		}
		if (e->col >= REMOTE_DATA_LINE) {
			if (line_end(e, out) < 0)
				return -1;
			if (e->in_header) {
				if (put(e, out, " ", 1, 1) < 0)
					return -1;
				e->bol = 0;
			}
		}
		if (e->bol) {
			e->bol = 0;
			if (c == '.' && put(e, out, ".", 1, 0) < 0)
				return -1;
		}
		/* A run of ordinary octets, up to the line's room. */
		room = REMOTE_DATA_LINE - e->col;
		eight = 0;
		for (j = i; j < n && j - i < room && p[j] != '\r' &&
		    p[j] != '\n'; j++)
			eight |= (unsigned char)p[j] & 0x80;
		if (eight) {
			if (e->in_header)
				e->eight_header = 1;
			else
				e->eight_body = 1;
		}
		if (put(e, out, p + i, j - i, 1) < 0)
			return -1;
		i = j;
	}
	return 0;
}

/* data_end - finish the last line and add the terminating dot */
int
data_end(struct dataenc *e, struct buf *out)
{
	if (e->cr) {
		e->cr = 0;
		if (line_end(e, out) < 0)
			return -1;
	}
	if (!e->bol && line_end(e, out) < 0)
		return -1;
	if (out != NULL && buf_append(out, ".\r\n", 3) < 0)
		return -1;
	return 0;
}

/* copy_in - copy fd to an anonymous file, at most limit octets */
static int
copy_in(int fd, uint64_t limit, struct msg *m, const char **error_r)
{
	char *chunk;
	uint64_t total = 0;
	ssize_t r, w;
	size_t off;
	int mfd;

	mfd = memfd_create("message", MFD_CLOEXEC);
	if (mfd < 0) {
		*error_r = "cannot make a memory file";
		return -1;
	}
	chunk = alloc_malloc(CHUNK);
	for (;;) {
		r = read(fd, chunk, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error_r = "cannot read the message";
			goto fail;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > limit) {
			*error_r = "message too big";
			errno = EFBIG;
			goto fail;
		}
		for (off = 0; off < (size_t)r; off += (size_t)w) {
			w = write(mfd, chunk + off, (size_t)r - off);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				*error_r = "cannot copy the message";
				goto fail;
			}
		}
	}
	free(chunk);
	m->fd = mfd;
	m->start = 0;
	m->len = (off_t)total;
	return 0;
fail:
	free(chunk);
	(void)close(mfd);
	return -1;
}

/* data_open - make fd 0 readable at any offset */
int
data_open(int fd, uint64_t limit, struct msg *m, const char **error_r)
{
	struct stat st;
	off_t pos;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (fstat(fd, &st) < 0) {
		*error_r = "cannot stat the message";
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		pos = lseek(fd, 0, SEEK_CUR);
		if (pos < 0 || pos > st.st_size) {
			*error_r = "cannot find the message's start";
			errno = EINVAL;
			return -1;
		}
		m->fd = fd;
		m->start = pos;
		m->len = st.st_size - pos;
		return 0;
	}
	return copy_in(fd, limit, m, error_r);
}

/* read_at - pread n octets at off; the count, or -1 */
static ssize_t
read_at(const struct msg *m, char *p, size_t n, off_t off)
{
	ssize_t r;

	do
		r = pread(m->fd, p, n, m->start + off);
	while (r < 0 && errno == EINTR);
	return r;
}

/* data_scan - the wire size and the 8-bit flags */
int
data_scan(struct msg *m, const char **error_r)
{
	struct dataenc e;
	char *chunk;
	off_t off = 0;
	ssize_t r;

	data_init(&e);
	chunk = alloc_malloc(CHUNK);
	while (off < m->len) {
		r = read_at(m, chunk, CHUNK, off);
		if (r <= 0) {
			free(chunk);
			*error_r = "cannot read the message";
			if (r == 0)
				errno = EIO;
			return -1;
		}
		(void)data_feed(&e, chunk, (size_t)r, NULL);
		off += r;
	}
	(void)data_end(&e, NULL);
	free(chunk);
	m->size = e.wire;
	m->eight_header = e.eight_header;
	m->eight_body = e.eight_body;
	return 0;
}

/* data_send - the encoded message and its final dot, onto io */
int
data_send(const struct msg *m, struct io *io, const char **error_r)
{
	struct dataenc e;
	struct buf out = BUF_INIT(4 * CHUNK);
	char *chunk;
	off_t off = 0;
	ssize_t r;
	int rc = -1;

	data_init(&e);
	chunk = alloc_malloc(CHUNK);
	while (off < m->len) {
		r = read_at(m, chunk, CHUNK, off);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			*error_r = "cannot read the message";
			goto out;
		}
		off += r;
		buf_reset(&out);
		/* UNSAFE: CHUNK octets encode to < 3 * CHUNK (CR LF, dot). */
		if (data_feed(&e, chunk, (size_t)r, &out) < 0) {
			*error_r = "cannot encode the message";
			goto out;
		}
		if (io_write(io, out.data, out.len) < 0) {
			*error_r = "lost connection while sending the message";
			goto out;
		}
	}
	buf_reset(&out);
	if (data_end(&e, &out) < 0 || io_write(io, out.data, out.len) < 0 ||
	    io_flush(io) < 0) {
		*error_r = "lost connection while sending the message";
		goto out;
	}
	rc = 0;
out:
	free(chunk);
	buf_free(&out);
	return rc;
}
