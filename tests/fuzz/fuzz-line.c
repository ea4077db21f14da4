/* fuzz-line - io_read_line, io_read_exact and io_read against a model */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

#define FUZZ_MAX_INPUT	60000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * check_line - what io_read_line must have done at pos, from the bytes
 * themselves: a line ends at the first LF (CRLF if a CR precedes it) or
 * at the end; longer than max is EMSGSIZE and skips past that LF.
 * Returns the new position; aborts on any difference.
 */
static size_t
check_line(const char *d, size_t n, size_t pos, size_t max, int r, int err,
    const struct buf *line, int flags)
{
	const char *nl;
	size_t end, len;
	int want;

	if (pos == n) {
		if (r != 0)
			abort();
		return pos;
	}
	nl = memchr(d + pos, '\n', n - pos);
	if (nl != NULL) {
		end = (size_t)(nl - d) + 1;
		len = end - 1 - pos;
		want = IO_LINE_LF;
		if (len > 0 && d[pos + len - 1] == '\r') {
			len--;
			want = IO_LINE_CRLF;
		}
	} else {
		end = n;
		len = n - pos;
		want = IO_LINE_EOF;
	}
	if (len > max) {
		if (r != -1 || err != EMSGSIZE || line->len != 0)
			abort();
		return end;
	}
	if (r != 1 || line->len != len || line->len > max)
		abort();
	if (len > 0 && memcmp(line->data, d + pos, len) != 0)
		abort();
	if (len > 0 && memchr(d + pos, '\r', len) != NULL)
		want |= IO_LINE_BARE_CR;
	if (len > 0 && memchr(d + pos, '\0', len) != NULL)
		want |= IO_LINE_NUL;
	if (flags != want)
		abort();
	return end;
}

/* LLVMFuzzerTestOneInput - feed a socket, read it back in mixed ways */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 1, 512, 1000, 0 };
	struct buf line = BUF_INIT(1000), out = BUF_INIT(300);
	const char *d = (const char *)data;
	struct io *io;
	size_t n, pos = 0, round, k;
	unsigned sel;
	char small[7];
	int sv[2], bufsize = 256 * 1024, r, err, flags, done = 0;
	ssize_t w;

	n = size < FUZZ_MAX_INPUT ? size : FUZZ_MAX_INPUT;
	sel = n > 0 ? data[0] : 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize,
	    sizeof(bufsize));
	for (k = 0; k < n; k += (size_t)w) {
		w = write(sv[1], d + k, n - k);
		if (w <= 0)
			abort();
	}
	if (shutdown(sv[1], SHUT_WR) < 0)
		abort();
	io = io_new(sv[0], sv[0], 2000);
	if (io == NULL)
		abort();

	/* Every operation but the last consumes at least one byte. */
	for (round = 0; round <= n + 1 && !done; round++) {
		switch ((sel + round * 7) % 6) {
		case 0:
		case 1:
		case 2:
		case 3:
			k = maxes[(sel / 8 + round) % 4];
			flags = -1;
			r = io_read_line(io, &line, k, &flags);
			err = errno;
			pos = check_line(d, n, pos, k, r, err, &line, flags);
			done = r == 0;
			break;
		case 4:
			k = 1 + (n > 0 ? data[round % n] % 64 : 0);
			buf_reset(&out);
			r = io_read_exact(io, &out, k);
			if (k <= n - pos) {
				if (r != 0 || out.len != k ||
				    memcmp(out.data, d + pos, k) != 0)
					abort();
				pos += k;
			} else {
				if (r != -1 || errno != ECONNRESET)
					abort();
				done = 1;
			}
			break;
		default:
			r = io_read(io, small, sizeof(small));
			if (r < 0 || (size_t)r > n - pos ||
			    (r == 0 && pos != n) ||
			    (r > 0 && memcmp(small, d + pos, (size_t)r) != 0))
				abort();
			pos += (size_t)r;
			done = r == 0;
			break;
		}
		if (pos > n || io_pending(io) > n - pos)
			abort();
	}
	if (!done)
		abort();
	io_free(io);
	close(sv[0]);
	close(sv[1]);
	buf_free(&line);
	buf_free(&out);
	return 0;
}
