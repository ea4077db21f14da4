/* test-io - line reading, flags, limits, timeouts, writes and TLS of io(3) */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "io.h"
#include "test.h"
#include "tls.h"

#define LINE_MAX_TEST	1000

/* A connected pair: io reads and writes end a, the test drives end b. */
struct pair {
	int a, b;
	struct io *io;
};

static char cert_path[256], key_path[256], tmp_dir[128];

/* now_ms - monotonic milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* write_all - write n bytes to a blocking fd; 0 or -1 */
static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, s, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

/* pair_open - socketpair with an io on end a */
static void
pair_open(struct pair *p, int timeout_ms)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	p->a = sv[0];
	p->b = sv[1];
	p->io = io_new(p->a, p->a, timeout_ms);
	if (p->io == NULL) {
		perror("io_new");
		exit(1);
	}
}

/* pair_feed - a pair whose peer has written data and shut down writing */
static void
pair_feed(struct pair *p, const void *data, size_t n, int timeout_ms)
{
	pair_open(p, timeout_ms);
	if (write_all(p->b, data, n) < 0 || shutdown(p->b, SHUT_WR) < 0) {
		perror("feed");
		exit(1);
	}
}

/* pair_close - free the io and close both ends */
static void
pair_close(struct pair *p)
{
	io_free(p->io);
	close(p->a);
	close(p->b);
}

/* spawn_writer - child writes data in chunks with a pause, then closes fd */
static pid_t
spawn_writer(int fd, const char *data, size_t n, size_t chunk, int pause_us)
{
	pid_t pid;
	size_t k;

	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid > 0)
		return pid;
	while (n > 0) {
		k = n < chunk ? n : chunk;
		if (write_all(fd, data, k) < 0)
			_exit(1);
		data += k;
		n -= k;
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
	}
	close(fd);
	_exit(0);
}

/* reap - wait for a child we started; its exit status or -1 */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* expect_line - read a line and compare its text and flags */
static int
expect_line(struct io *io, struct buf *line, size_t max, const char *text,
    size_t len, int flags)
{
	int f = -1, r;

	r = io_read_line(io, line, max, &f);
	if (r != 1) {
		printf("  read_line returned %d (errno %d), wanted \"%s\"\n",
		    r, errno, text);
		return 0;
	}
	if (line->len != len || memcmp(line->data == NULL ? "" : line->data,
	    text, len) != 0 || f != flags) {
		printf("  got len %zu flags %#x \"%s\", wanted len %zu flags "
		    "%#x \"%s\"\n", line->len, (unsigned)f, buf_cstr(line), len,
		    (unsigned)flags, text);
		return 0;
	}
	return 1;
}

#define EXPECT(io, line, max, lit, flags) \
	TEST_ASSERT(expect_line((io), (line), (max), (lit), \
	    sizeof(lit) - 1, (flags)))

/* expect_error - read a line, want -1 with errno err */
static int
expect_error(struct io *io, struct buf *line, size_t max, int err)
{
	int f, r;

	r = io_read_line(io, line, max, &f);
	if (r != -1 || errno != err) {
		printf("  read_line returned %d errno %d (len %zu), wanted -1 "
		    "errno %d\n", r, r < 0 ? errno : 0, line->len, err);
		return 0;
	}
	return 1;
}

static void
test_flags(void)
{
	static const char in[] = "crlf\r\nlf\nbare\rcr\r\nnul\0x\r\n"
	    "\r\n\nx\r\r\n\rlast";
	struct buf line = BUF_INIT(4096);
	struct pair p;
	int f;

	TEST_BEGIN("read_line: CRLF, LF, bare CR, NUL and EOF flags");
	pair_feed(&p, in, sizeof(in) - 1, 2000);
	EXPECT(p.io, &line, 100, "crlf", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "lf", IO_LINE_LF);
	EXPECT(p.io, &line, 100, "bare\rcr", IO_LINE_CRLF | IO_LINE_BARE_CR);
	EXPECT(p.io, &line, 100, "nul\0x", IO_LINE_CRLF | IO_LINE_NUL);
	EXPECT(p.io, &line, 100, "", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "", IO_LINE_LF);
	EXPECT(p.io, &line, 100, "x\r", IO_LINE_CRLF | IO_LINE_BARE_CR);
	EXPECT(p.io, &line, 100, "\rlast", IO_LINE_EOF | IO_LINE_BARE_CR);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 0);
	TEST_ASSERT_INT(line.len, 0);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 0);
	pair_close(&p);

	pair_feed(&p, "", 0, 2000);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 0);
	pair_close(&p);

	pair_feed(&p, "a\r", 2, 2000);	/* a CR at end of input is text */
	EXPECT(p.io, &line, 100, "a\r", IO_LINE_EOF | IO_LINE_BARE_CR);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 0);
	pair_close(&p);
	buf_free(&line);
	TEST_END();
}

static void
test_one_byte_writes(void)
{
	static const char in[] = "HELO a\r\nMAIL FROM:<x>\nbare\rz\r\n\r";
	struct buf line = BUF_INIT(4096);
	struct pair p;
	pid_t pid;
	int f;

	TEST_BEGIN("read_line: a line split over many 1-byte writes");
	pair_open(&p, 2000);
	pid = spawn_writer(p.b, in, sizeof(in) - 1, 1, 1000);
	close(p.b);
	p.b = -1;
	EXPECT(p.io, &line, 100, "HELO a", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "MAIL FROM:<x>", IO_LINE_LF);
	EXPECT(p.io, &line, 100, "bare\rz", IO_LINE_CRLF | IO_LINE_BARE_CR);
	EXPECT(p.io, &line, 100, "\r", IO_LINE_EOF | IO_LINE_BARE_CR);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 0);
	TEST_ASSERT_INT(reap(pid), 0);
	pair_close(&p);
	buf_free(&line);
	TEST_END();
}

static void
test_cr_at_buffer_edge(void)
{
	struct buf line = BUF_INIT(100000), want = BUF_INIT(100000);
	struct buf in = BUF_INIT(100000);
	struct pair p;
	size_t i;
	int f;

	TEST_BEGIN("read_line: a CR as the last byte of a read");
	/* Line 1: its CR ends the first read, its LF starts the second. */
	for (i = 0; i < IO_BUFSIZE - 1; i++)
		buf_append_char(&in, 'a');
	buf_append_str(&in, "\r\n");
	/* Line 2: a bare CR ends the second read. */
	for (i = 0; i < IO_BUFSIZE - 2; i++)
		buf_append_char(&in, 'b');
	buf_append_str(&in, "\rX\r\nend\n");
	TEST_ASSERT_INT(in.data[IO_BUFSIZE - 1], '\r');
	TEST_ASSERT_INT(in.data[2 * IO_BUFSIZE - 1], '\r');
	pair_feed(&p, in.data, in.len, 2000);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 40000, &f), 1);
	TEST_ASSERT_INT(line.len, IO_BUFSIZE - 1);
	TEST_ASSERT_INT(f, IO_LINE_CRLF);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 40000, &f), 1);
	buf_set(&want, in.data + IO_BUFSIZE + 1, IO_BUFSIZE - 2 + 2);
	TEST_ASSERT_INT(line.len, want.len);
	TEST_ASSERT(line.len == want.len &&
	    memcmp(line.data, want.data, want.len) == 0);
	TEST_ASSERT_INT(f, IO_LINE_CRLF | IO_LINE_BARE_CR);
	EXPECT(p.io, &line, 40000, "end", IO_LINE_LF);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 40000, &f), 0);
	pair_close(&p);
	buf_free(&line);
	buf_free(&want);
	buf_free(&in);
	TEST_END();
}

static void
test_max(void)
{
	static const char in[] = "123456789\r\n1234567890\r\n12345678901\r\n"
	    "ok\r\n1234567890\rX\nok2\n1234567890\n12345678901";
	struct buf line = BUF_INIT(4096), small = BUF_INIT(5);
	struct pair p;
	int f;

	TEST_BEGIN("read_line: max-1, max, max+1; the line after is intact");
	pair_feed(&p, in, sizeof(in) - 1, 2000);
	EXPECT(p.io, &line, 10, "123456789", IO_LINE_CRLF);
	EXPECT(p.io, &line, 10, "1234567890", IO_LINE_CRLF);
	TEST_ASSERT(expect_error(p.io, &line, 10, EMSGSIZE));
	TEST_ASSERT_INT(line.len, 0);
	EXPECT(p.io, &line, 10, "ok", IO_LINE_CRLF);
	TEST_ASSERT(expect_error(p.io, &line, 10, EMSGSIZE));	/* CR */
	EXPECT(p.io, &line, 10, "ok2", IO_LINE_LF);
	EXPECT(p.io, &line, 10, "1234567890", IO_LINE_LF);
	TEST_ASSERT(expect_error(p.io, &line, 10, EMSGSIZE));	/* EOF */
	TEST_ASSERT_INT(io_read_line(p.io, &line, 10, &f), 0);
	pair_close(&p);

	/* max is lowered to line->max. */
	pair_feed(&p, "12345\n123456\nx\n", 15, 2000);
	EXPECT(p.io, &small, 100, "12345", IO_LINE_LF);
	TEST_ASSERT(expect_error(p.io, &small, 100, EMSGSIZE));
	EXPECT(p.io, &small, 100, "x", IO_LINE_LF);
	pair_close(&p);

	/* max 0 accepts empty lines only. */
	pair_feed(&p, "\r\na\r\n\n", 6, 2000);
	EXPECT(p.io, &line, 0, "", IO_LINE_CRLF);
	TEST_ASSERT(expect_error(p.io, &line, 0, EMSGSIZE));
	EXPECT(p.io, &line, 0, "", IO_LINE_LF);
	pair_close(&p);
	buf_free(&line);
	buf_free(&small);
	TEST_END();
}

static void
test_huge_lines(void)
{
	struct buf line = BUF_INIT(1024 * 1024 * 1024);
	struct buf in = BUF_INIT(16 * 1024 * 1024);
	struct pair p;
	pid_t pid;
	int f;

	TEST_BEGIN("read_line: 1 MiB MAIL FROM (A5), the tail is never a line");
	buf_append_str(&in, "MAIL FROM:<");
	while (in.len < 1024 * 1024)
		buf_append_char(&in, 'A');
	buf_append_str(&in, "RCPT TO:<v@L>\r\nQUIT\r\n");
	pair_open(&p, 5000);
	pid = spawn_writer(p.b, in.data, in.len, 65536, 0);
	close(p.b);
	p.b = -1;
	TEST_ASSERT(expect_error(p.io, &line, 512, EMSGSIZE));
	TEST_ASSERT(line.cap <= 1024);
	EXPECT(p.io, &line, 512, "QUIT", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 512, &f), 0);
	TEST_ASSERT_INT(reap(pid), 0);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("read_line: 10 MB without LF keeps memory near max (A6)");
	buf_reset(&in);
	while (in.len < 10 * 1000 * 1000)
		buf_append(&in, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 40);
	buf_append_str(&in, "\r\nnext\r\n");
	pair_open(&p, 5000);
	pid = spawn_writer(p.b, in.data, in.len, 1 << 20, 0);
	close(p.b);
	p.b = -1;
	TEST_ASSERT(expect_error(p.io, &line, LINE_MAX_TEST, EMSGSIZE));
	TEST_ASSERT(line.cap <= 2 * (LINE_MAX_TEST + 1));
	EXPECT(p.io, &line, LINE_MAX_TEST, "next", IO_LINE_CRLF);
	TEST_ASSERT(line.cap <= 2 * (LINE_MAX_TEST + 1));
	TEST_ASSERT_INT(reap(pid), 0);
	pair_close(&p);

	/* The same, ended by EOF instead of LF. */
	pair_open(&p, 5000);
	pid = spawn_writer(p.b, in.data, 10 * 1000 * 1000, 1 << 20, 0);
	close(p.b);
	p.b = -1;
	TEST_ASSERT(expect_error(p.io, &line, LINE_MAX_TEST, EMSGSIZE));
	TEST_ASSERT_INT(io_read_line(p.io, &line, LINE_MAX_TEST, &f), 0);
	TEST_ASSERT(line.cap <= 2 * (LINE_MAX_TEST + 1));
	TEST_ASSERT_INT(reap(pid), 0);
	pair_close(&p);
	buf_free(&in);
	buf_free(&line);
	TEST_END();
}

static void
test_timeouts(void)
{
	struct buf line = BUF_INIT(4096);
	struct pair p;
	char trickle[100];
	long long t0, dt;
	pid_t pid;

	TEST_BEGIN("read_line: a silent peer times out (ETIMEDOUT, ~100 ms)");
	pair_open(&p, 100);
	t0 = now_ms();
	TEST_ASSERT(expect_error(p.io, &line, 100, ETIMEDOUT));
	dt = now_ms() - t0;
	TEST_ASSERT(dt >= 90 && dt < 1000);
	/* A partial line does not stop the clock either. */
	TEST_ASSERT_INT(write_all(p.b, "EHLO", 4), 0);
	t0 = now_ms();
	TEST_ASSERT(expect_error(p.io, &line, 100, ETIMEDOUT));
	dt = now_ms() - t0;
	TEST_ASSERT(dt >= 90 && dt < 1000);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("read_line: a deadline stops a slow trickle (X2)");
	pair_open(&p, 100);
	/* One byte every 30 ms keeps each 100 ms wait happy for 3 s. */
	memset(trickle, 'a', sizeof(trickle));
	pid = spawn_writer(p.b, trickle, sizeof(trickle), 1, 30000);
	io_set_deadline(p.io, 300);
	t0 = now_ms();
	TEST_ASSERT(expect_error(p.io, &line, 1000, ETIMEDOUT));
	dt = now_ms() - t0;
	TEST_ASSERT(dt >= 250 && dt < 1000);
	io_set_deadline(p.io, -1);
	kill(pid, SIGKILL);
	reap(pid);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("read_line: timeout 0 does not wait");
	pair_open(&p, 0);
	t0 = now_ms();
	TEST_ASSERT(expect_error(p.io, &line, 100, ETIMEDOUT));
	TEST_ASSERT(now_ms() - t0 < 100);
	TEST_ASSERT_INT(write_all(p.b, "x\n", 2), 0);
	EXPECT(p.io, &line, 100, "x", IO_LINE_LF);
	pair_close(&p);
	buf_free(&line);
	TEST_END();
}

static void
test_read_exact(void)
{
	static const char in[] = "BDAT 10\r\n0123456789QUIT\r\n";
	struct buf out = BUF_INIT(100000), line = BUF_INIT(4096);
	struct buf big = BUF_INIT(100000), tiny = BUF_INIT(4);
	struct pair p;
	char c[8];
	size_t i;
	pid_t pid;

	TEST_BEGIN("read_exact: from the buffer, across reads, short EOF");
	pair_feed(&p, in, sizeof(in) - 1, 2000);
	EXPECT(p.io, &line, 100, "BDAT 10", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_pending(p.io), 16);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 10), 0);
	TEST_ASSERT_STR(buf_cstr(&out), "0123456789");
	/* ENOBUFS before anything is read: the stream is unchanged. */
	TEST_ASSERT_INT(io_read_exact(p.io, &tiny, 5), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT_INT(tiny.len, 0);
	EXPECT(p.io, &line, 100, "QUIT", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 0), 0);
	pair_close(&p);

	/* 40000 bytes arriving in 4 KiB pieces, after a buffered line. */
	buf_append_str(&big, "X\r\n");
	for (i = 0; i < 40000; i++)
		buf_append_char(&big, (char)('0' + i % 61));
	buf_append_str(&big, "END\r\n");
	pair_open(&p, 2000);
	pid = spawn_writer(p.b, big.data, big.len, 4096, 500);
	close(p.b);
	p.b = -1;
	EXPECT(p.io, &line, 100, "X", IO_LINE_CRLF);
	buf_reset(&out);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 40000), 0);
	TEST_ASSERT(out.len == 40000 &&
	    memcmp(out.data, big.data + 3, 40000) == 0);
	EXPECT(p.io, &line, 100, "END", IO_LINE_CRLF);
	TEST_ASSERT_INT(reap(pid), 0);
	pair_close(&p);

	/* The peer closes after 3 of 10 bytes. */
	pair_feed(&p, "abc", 3, 2000);
	buf_reset(&out);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 10), -1);
	TEST_ASSERT_INT(errno, ECONNRESET);
	pair_close(&p);

	/* A silent peer. */
	pair_open(&p, 100);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 10), -1);
	TEST_ASSERT_INT(errno, ETIMEDOUT);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("read: buffered bytes first, then one read, 0 at EOF");
	pair_feed(&p, "hello\nworld", 11, 2000);
	EXPECT(p.io, &line, 100, "hello", IO_LINE_LF);
	TEST_ASSERT_INT(io_read(p.io, c, 3), 3);
	TEST_ASSERT(memcmp(c, "wor", 3) == 0);
	TEST_ASSERT_INT(io_read(p.io, c, sizeof(c)), 2);
	TEST_ASSERT(memcmp(c, "ld", 2) == 0);
	TEST_ASSERT_INT(io_read(p.io, c, sizeof(c)), 0);
	pair_close(&p);
	buf_free(&out);
	buf_free(&line);
	buf_free(&big);
	TEST_END();
}

static void
test_pending_discard(void)
{
	static const char in[] = "EHLO x\r\nMAIL FROM:<a@b>\r\n";
	struct buf line = BUF_INIT(4096);
	struct pair p;

	TEST_BEGIN("pending: two pipelined lines, input_ready");
	pair_open(&p, 2000);
	TEST_ASSERT_INT(io_input_ready(p.io), 0);
	TEST_ASSERT_INT(write_all(p.b, in, sizeof(in) - 1), 0);
	TEST_ASSERT_INT(io_input_ready(p.io), 1);
	EXPECT(p.io, &line, 100, "EHLO x", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_pending(p.io), 17);
	TEST_ASSERT_INT(io_input_ready(p.io), 1);
	EXPECT(p.io, &line, 100, "MAIL FROM:<a@b>", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_pending(p.io), 0);
	TEST_ASSERT_INT(io_input_ready(p.io), 0);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("discard_input: buffered plaintext is gone (T1)");
	pair_open(&p, 2000);
	TEST_ASSERT_INT(write_all(p.b, "STARTTLS\r\nINJECTED\r\n", 20), 0);
	EXPECT(p.io, &line, 100, "STARTTLS", IO_LINE_CRLF);
	TEST_ASSERT_INT(io_pending(p.io), 10);
	io_discard_input(p.io);
	TEST_ASSERT_INT(io_pending(p.io), 0);
	TEST_ASSERT_INT(write_all(p.b, "AFTER\r\n", 7), 0);
	EXPECT(p.io, &line, 100, "AFTER", IO_LINE_CRLF);
	pair_close(&p);
	buf_free(&line);
	TEST_END();
}

static void
test_write(void)
{
	struct buf line = BUF_INIT(100000), big = BUF_INIT(100000);
	struct buf out = BUF_INIT(100000);
	struct io *x, *y, *w;
	struct pair p;
	int a[2], b[2], sv[2];
	long long t0, dt;
	size_t i, total;
	char chunk[65536];
	int r;

	TEST_BEGIN("write, printf, flush: round trip over a socket");
	pair_open(&p, 2000);
	w = io_new(p.b, p.b, 2000);
	TEST_ASSERT(w != NULL);
	TEST_ASSERT_INT(io_write(w, "abc", 3), 0);
	TEST_ASSERT_INT(io_printf(w, "%d %s\r\n", 250, "ok"), 0);
	TEST_ASSERT_INT(io_puts(w, "second\n"), 0);
	TEST_ASSERT_INT(io_input_ready(p.io), 0);	/* still buffered */
	TEST_ASSERT_INT(io_flush(w), 0);
	EXPECT(p.io, &line, 100, "abc250 ok", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "second", IO_LINE_LF);
	/* printf longer than the buffer. */
	for (i = 0; i < 40000; i++)
		buf_append_char(&big, (char)('a' + i % 26));
	TEST_ASSERT_INT(io_printf(w, "<%s>", big.data), 0);
	TEST_ASSERT_INT(io_flush(w), 0);
	TEST_ASSERT_INT(io_read_exact(p.io, &out, 40002), 0);
	TEST_ASSERT(out.len == 40002 && out.data[0] == '<' &&
	    memcmp(out.data + 1, big.data, 40000) == 0 &&
	    out.data[40001] == '>');
	io_free(w);
	pair_close(&p);
	TEST_END();

	TEST_BEGIN("write: a read flushes pending output before it waits");
	if (pipe(a) < 0 || pipe(b) < 0)
		exit(1);
	x = io_new(a[0], b[1], 100);	/* like stdin + stdout */
	y = io_new(b[0], a[1], 100);
	TEST_ASSERT(x != NULL && y != NULL);
	TEST_ASSERT_INT(io_puts(x, "ping\n"), 0);
	TEST_ASSERT_INT(io_input_ready(y), 0);
	TEST_ASSERT(expect_error(x, &line, 100, ETIMEDOUT));
	EXPECT(y, &line, 100, "ping", IO_LINE_LF);
	TEST_ASSERT_INT(io_puts(y, "pong\r\n"), 0);
	TEST_ASSERT_INT(io_flush(y), 0);
	EXPECT(x, &line, 100, "pong", IO_LINE_CRLF);
	io_free(x);
	io_free(y);
	close(b[0]);
	/* A pipe with no reader: EPIPE (SIGPIPE is ignored by main). */
	x = io_new(a[0], b[1], 100);
	TEST_ASSERT_INT(io_puts(x, "lost\n"), 0);
	TEST_ASSERT_INT(io_flush(x), -1);
	TEST_ASSERT_INT(errno, EPIPE);
	io_free(x);
	close(a[0]);
	close(a[1]);
	close(b[1]);
	TEST_END();

	TEST_BEGIN("flush: a peer that never reads makes it time out");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		exit(1);
	w = io_new(sv[0], sv[0], 100);
	memset(chunk, 'x', sizeof(chunk));
	t0 = now_ms();
	r = 0;
	for (total = 0; total < 64 * 1024 * 1024 && r == 0;
	    total += sizeof(chunk))
		r = io_write(w, chunk, sizeof(chunk));
	if (r == 0)
		r = io_flush(w);
	TEST_ASSERT_INT(r, -1);
	TEST_ASSERT_INT(errno, ETIMEDOUT);
	dt = now_ms() - t0;
	TEST_ASSERT(dt >= 90 && dt < 1000);
	io_free(w);
	close(sv[0]);
	close(sv[1]);
	buf_free(&line);
	buf_free(&big);
	buf_free(&out);
	TEST_END();
}

static void
test_write_no_sigpipe(void)
{
	struct pair p;

	/* Runs before main ignores SIGPIPE: send() must not raise it. */
	TEST_BEGIN("flush: a closed socket peer gives EPIPE, no SIGPIPE");
	pair_open(&p, 1000);
	close(p.b);
	p.b = -1;
	TEST_ASSERT_INT(io_puts(p.io, "lost\r\n"), 0);
	TEST_ASSERT_INT(io_flush(p.io), -1);
	TEST_ASSERT(errno == EPIPE || errno == ECONNRESET);
	pair_close(&p);
	TEST_END();
}

/*
 * count_ends - read a DATA body, count the lines "." that really end it:
 * "." ended by CRLF, right after a line ended by CRLF (or at the start).
 */
static int
count_ends(const char *data, size_t n, int *dots_r)
{
	struct buf line = BUF_INIT(4096);
	struct pair p;
	int f, prev = IO_LINE_CRLF, ends = 0;

	*dots_r = 0;
	pair_feed(&p, data, n, 2000);
	while (io_read_line(p.io, &line, 1000, &f) == 1) {
		if (line.len == 1 && line.data[0] == '.') {
			(*dots_r)++;
			if (f == IO_LINE_CRLF && prev == IO_LINE_CRLF)
				ends++;
		}
		prev = f;
	}
	pair_close(&p);
	buf_free(&line);
	return ends;
}

static void
test_smuggling(void)
{
	static const char *const fake[] = {
		"\n.\n", "\r.\r", "\r.\n", "\n.\r", "\r.\r\n", "\r\n.\n",
		"\r\n.\r", "\r\n.\r\r\n", "\r\r\n.\r\r\n", "\n.\r\n",
	};
	static const char head[] = "Subject: t\r\n\r\nhi";
	static const char tail[] = "MAIL FROM:<s@x>\r\nRCPT TO:<v@L>\r\n"
	    "DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n";
	struct buf in = BUF_INIT(4096), line = BUF_INIT(4096);
	struct pair p;
	size_t i;
	int dots, ok = 1;

	TEST_BEGIN("S1/S2: only \\r\\n.\\r\\n is a CRLF \".\" after CRLF");
	for (i = 0; i < sizeof(fake) / sizeof(fake[0]); i++) {
		buf_reset(&in);
		buf_append_str(&in, head);
		buf_append_str(&in, fake[i]);
		buf_append_str(&in, tail);
		if (count_ends(in.data, in.len, &dots) != 1) {
			printf("  fake end %zu counted as a real one\n", i);
			ok = 0;
		}
	}
	TEST_ASSERT(ok);
	/* A NUL before the dot: kept, flagged, never stripped. */
	buf_reset(&in);
	buf_append_str(&in, head);
	buf_append(&in, "\r\n\0.\r\n", 6);
	buf_append_str(&in, tail);
	TEST_ASSERT_INT(count_ends(in.data, in.len, &dots), 1);
	TEST_ASSERT_INT(dots, 1);
	/* The real end alone. */
	TEST_ASSERT_INT(count_ends("hi\r\n.\r\n", 7, &dots), 1);
	TEST_END();

	TEST_BEGIN("S1/S2: the flags of each fake end");
	pair_feed(&p, "hi\n.\nA\r\n", 8, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_LF);
	EXPECT(p.io, &line, 100, ".", IO_LINE_LF);
	pair_close(&p);
	pair_feed(&p, "hi\n.\r\nA\r\n", 9, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_LF);
	EXPECT(p.io, &line, 100, ".", IO_LINE_CRLF);	/* after LF */
	pair_close(&p);
	pair_feed(&p, "hi\r\n.\nA\r\n", 9, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, ".", IO_LINE_LF);
	pair_close(&p);
	pair_feed(&p, "hi\r.\rA\r\n", 8, 2000);
	EXPECT(p.io, &line, 100, "hi\r.\rA", IO_LINE_CRLF | IO_LINE_BARE_CR);
	pair_close(&p);
	pair_feed(&p, "hi\r\n.\r\r\nA\r\n", 11, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, ".\r", IO_LINE_CRLF | IO_LINE_BARE_CR);
	pair_close(&p);
	pair_feed(&p, "hi\r\n\0.\r\n", 8, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "\0.", IO_LINE_CRLF | IO_LINE_NUL);
	pair_close(&p);
	pair_feed(&p, "hi\r\n.\r\nMAIL\r\n", 13, 2000);
	EXPECT(p.io, &line, 100, "hi", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, ".", IO_LINE_CRLF);
	EXPECT(p.io, &line, 100, "MAIL", IO_LINE_CRLF);
	pair_close(&p);
	buf_free(&in);
	buf_free(&line);
	TEST_END();
}

/* make_cert - a self-signed P-256 certificate for localhost in tmp_dir */
static int
make_cert(void)
{
	EVP_PKEY *pkey;
	X509 *x;
	X509_NAME *name;
	FILE *fp;
	int ok = 0;

	(void)snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test-io.XXXXXX");
	if (mkdtemp(tmp_dir) == NULL)
		return -1;
	(void)snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmp_dir);
	(void)snprintf(key_path, sizeof(key_path), "%s/key.pem", tmp_dir);
	pkey = EVP_EC_gen("P-256");
	x = X509_new();
	if (pkey == NULL || x == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, pkey, EVP_sha256()) == 0)
		goto out;
	if ((fp = fopen(cert_path, "w")) == NULL)
		goto out;
	ok = PEM_write_X509(fp, x);
	ok = (fclose(fp) == 0) && ok;
	if (!ok || (fp = fopen(key_path, "w")) == NULL) {
		ok = 0;
		goto out;
	}
	ok = PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
	ok = (fclose(fp) == 0) && ok;
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

/*
 * tls_server - the child side of the TLS tests: greet, STARTTLS, then
 * answer inside TLS. Exits 0 if everything it saw was as expected.
 */
static void
tls_server(int fd)
{
	struct buf line = BUF_INIT(4096), data = BUF_INIT(200000);
	const char *err;
	SSL_CTX *ctx;
	struct io *io;
	int f, i;

	ctx = tls_server_ctx_new(cert_path, key_path, &err);
	io = io_new(fd, fd, 3000);
	if (ctx == NULL || io == NULL)
		_exit(10);
	io_puts(io, "220 hello\r\n");
	if (io_read_line(io, &line, 100, &f) != 1 ||
	    strcmp(buf_cstr(&line), "STARTTLS") != 0)
		_exit(11);
	if (io_pending(io) != 10)	/* "INJECTED\r\n" came along */
		_exit(12);
	/* Reply and injected garbage for the client in one segment (T3). */
	io_puts(io, "220 go\r\n250-evil\r\n250 AUTH PLAIN\r\n");
	if (io_start_tls_server(io, ctx, &err) < 0)
		_exit(13);	/* expected in the wrong-name test */
	if (!io_is_tls(io) || io_start_tls_server(io, ctx, &err) != -1)
		_exit(14);
	/* The first line inside TLS must be the client's, not INJECTED. */
	if (io_read_line(io, &line, 100, &f) != 1 ||
	    strcmp(buf_cstr(&line), "TLSINFO") != 0)
		_exit(15);
	buf_reset(&line);
	io_tls_describe(io, &line);
	io_printf(io, "tls %s\r\n", buf_cstr(&line));
	/* A 100000-byte chunk and a 200 KiB answer, across records. */
	if (io_read_line(io, &line, 100, &f) != 1 ||
	    io_read_exact(io, &data, 100000) < 0)
		_exit(16);
	for (i = 0; i < 100000; i++)
		if (data.data[i] != (char)('a' + i % 26))
			_exit(17);
	for (i = 0; i < 4096; i++)
		io_printf(io, "%048d\r\n", i);
	if (io_flush(io) < 0)
		_exit(18);
	/* Then stay silent until the client is gone. */
	while (io_read_line(io, &line, 100, &f) == 1)
		;
	io_free(io);
	tls_ctx_free(ctx);
	buf_free(&line);
	buf_free(&data);
	_exit(0);
}

/* ticket_server - a TLS server that sends TLS 1.3 session tickets */
static void __attribute__((noreturn))
ticket_server(int fd)
{
	struct buf line = BUF_INIT(4096);
	const char *err;
	SSL_CTX *ctx;
	struct io *io;
	int f;

	ctx = tls_server_ctx_new(cert_path, key_path, &err);
	io = io_new(fd, fd, 3000);
	if (ctx == NULL || io == NULL)
		_exit(10);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_num_tickets(ctx, 2);
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (io_start_tls_server(io, ctx, &err) < 0)
		_exit(11);
	if (io_read_line(io, &line, 100, &f) != 1 ||
	    strcmp(buf_cstr(&line), "PING") != 0)
		_exit(12);
	io_puts(io, "PONG\r\n");
	if (io_flush(io) < 0)
		_exit(13);
	while (io_read_line(io, &line, 100, &f) == 1)
		;
	io_free(io);
	tls_ctx_free(ctx);
	buf_free(&line);
	_exit(0);
}

/*
 * test_tls_tickets - a command buffered while only session tickets wait
 * on the socket still goes out before the reply is awaited
 */
static void
test_tls_tickets(void)
{
	struct buf line = BUF_INIT(4096);
	const char *err;
	SSL_CTX *ctx;
	struct pair p;
	pid_t pid;
	int f;

	TEST_BEGIN("tls: a buffered command goes out though tickets are waiting");
	ctx = tls_client_ctx_new(1, cert_path, &err);
	TEST_ASSERT(ctx != NULL);
	pair_open(&p, 2000);
	pid = fork();
	if (pid == 0) {
		close(p.a);
		ticket_server(p.b);
	}
	close(p.b);
	p.b = -1;
	TEST_ASSERT_INT(io_start_tls_client(p.io, ctx, "localhost", &err), 0);
	usleep(100000);		/* the tickets arrive: the socket is readable */
	io_puts(p.io, "PING\r\n");	/* buffered, not yet sent */
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 1);
	TEST_ASSERT_STR(buf_cstr(&line), "PONG");
	pair_close(&p);
	TEST_ASSERT_INT(reap(pid), 0);
	tls_ctx_free(ctx);
	buf_free(&line);
	TEST_END();
}

static void
test_tls(void)
{
	struct buf line = BUF_INIT(4096), data = BUF_INIT(200000);
	char want[64], longname[300];
	const char *err;
	SSL_CTX *ctx, *bare;
	struct pair p;
	long long t0;
	pid_t pid;
	int i, f, ok;

	TEST_BEGIN("tls: STARTTLS drops injected plaintext both ways (T1, T3)");
	if (make_cert() < 0) {
		printf("  cannot make a test certificate\n");
		TEST_ASSERT(0);
		TEST_END();
		return;
	}
	ctx = tls_client_ctx_new(1, cert_path, &err);
	TEST_ASSERT(ctx != NULL);
	pair_open(&p, 3000);
	pid = fork();
	if (pid == 0) {
		close(p.a);
		tls_server(p.b);
	}
	close(p.b);
	p.b = -1;
	EXPECT(p.io, &line, 100, "220 hello", IO_LINE_CRLF);
	io_puts(p.io, "STARTTLS\r\nINJECTED\r\n");
	EXPECT(p.io, &line, 100, "220 go", IO_LINE_CRLF);
	TEST_ASSERT(io_pending(p.io) > 0);	/* the evil capabilities */
	TEST_ASSERT_INT(io_start_tls_client(p.io, ctx, "localhost", &err), 0);
	TEST_ASSERT(io_is_tls(p.io));
	TEST_ASSERT_INT(io_pending(p.io), 0);
	io_puts(p.io, "TLSINFO\r\n");
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), 1);
	TEST_ASSERT(strncmp(buf_cstr(&line), "tls TLSv1.3 TLS_", 16) == 0);
	buf_reset(&line);
	TEST_ASSERT_INT(io_tls_describe(p.io, &line), 0);
	TEST_ASSERT(strncmp(buf_cstr(&line), "TLSv1.3 TLS_", 12) == 0);
	TEST_END();

	TEST_BEGIN("tls: big transfers both ways, then a timeout inside TLS");
	io_puts(p.io, "BDAT 100000\r\n");
	for (i = 0; i < 100000; i++)
		io_write(p.io, &"abcdefghijklmnopqrstuvwxyz"[i % 26], 1);
	ok = 1;
	for (i = 0; i < 4096 && ok; i++) {
		(void)snprintf(want, sizeof(want), "%048d", i);
		ok = io_read_line(p.io, &line, 100, &f) == 1 &&
		    f == IO_LINE_CRLF && strcmp(buf_cstr(&line), want) == 0;
	}
	TEST_ASSERT(ok);
	io_set_timeout(p.io, 100);
	t0 = now_ms();
	TEST_ASSERT(expect_error(p.io, &line, 100, ETIMEDOUT));
	TEST_ASSERT(now_ms() - t0 < 1000);
	TEST_ASSERT_INT(io_tls_shutdown(p.io), 0);
	pair_close(&p);
	TEST_ASSERT_INT(reap(pid), 0);
	TEST_END();

	TEST_BEGIN("tls: a certificate for another name fails verification");
	pair_open(&p, 3000);
	pid = fork();
	if (pid == 0) {
		close(p.a);
		tls_server(p.b);
	}
	close(p.b);
	p.b = -1;
	EXPECT(p.io, &line, 100, "220 hello", IO_LINE_CRLF);
	io_puts(p.io, "STARTTLS\r\nINJECTED\r\n");
	EXPECT(p.io, &line, 100, "220 go", IO_LINE_CRLF);
	err = NULL;
	TEST_ASSERT_INT(io_start_tls_client(p.io, ctx, "mx.other.test", &err),
	    -1);
	TEST_ASSERT_INT(errno, EPROTO);
	TEST_ASSERT(err != NULL && strstr(err, "certificate") != NULL);
	/* Nothing goes out in plaintext after a failed handshake. */
	TEST_ASSERT_INT(io_puts(p.io, "MAIL FROM:<a@b>\r\n"), -1);
	TEST_ASSERT_INT(io_flush(p.io), -1);
	TEST_ASSERT_INT(io_read_line(p.io, &line, 100, &f), -1);
	TEST_ASSERT(!io_is_tls(p.io));
	pair_close(&p);
	reap(pid);
	TEST_END();

	TEST_BEGIN("tls: failed handshakes, then no plaintext goes out");
	bare = SSL_CTX_new(TLS_server_method());
	pair_open(&p, 100);
	t0 = now_ms();
	TEST_ASSERT_INT(io_start_tls_server(p.io, bare, &err), -1);
	TEST_ASSERT_INT(errno, ETIMEDOUT);
	TEST_ASSERT(now_ms() - t0 < 1000);
	TEST_ASSERT(strstr(io_error(p.io), "timed out") != NULL);
	pair_close(&p);
	pair_open(&p, 100);
	t0 = now_ms();
	TEST_ASSERT_INT(io_start_tls_client(p.io, ctx, "localhost", &err), -1);
	TEST_ASSERT_INT(errno, ETIMEDOUT);
	TEST_ASSERT(now_ms() - t0 < 1000);
	pair_close(&p);
	pair_open(&p, 100);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	TEST_ASSERT_INT(io_start_tls_client(p.io, ctx, longname, &err), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(io_puts(p.io, "plain\r\n"), -1);
	pair_close(&p);
	pair_open(&p, 1000);
	TEST_ASSERT_INT(write_all(p.b, "EHLO x\r\nEHLO y\r\n", 16), 0);
	TEST_ASSERT_INT(io_start_tls_server(p.io, bare, &err), -1);
	TEST_ASSERT_INT(errno, EPROTO);
	TEST_ASSERT_INT(io_puts(p.io, "250 ok\r\n"), -1);
	pair_close(&p);
	SSL_CTX_free(bare);
	TEST_END();

	TEST_BEGIN("tls: contexts refuse a missing or mismatched key");
	err = NULL;
	TEST_ASSERT(tls_server_ctx_new(cert_path, "/nonexistent/key.pem",
	    &err) == NULL);
	TEST_ASSERT(err != NULL && strstr(err, "private key") != NULL);
	TEST_ASSERT(tls_server_ctx_new("/nonexistent/c.pem", key_path,
	    &err) == NULL);
	TEST_ASSERT(tls_client_ctx_new(1, "/nonexistent/ca.pem", &err) ==
	    NULL);
	TEST_ASSERT(err != NULL && strchr(err, '\n') == NULL);
	TEST_END();

	test_tls_tickets();
	tls_ctx_free(ctx);
	buf_free(&line);
	buf_free(&data);
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmp_dir);
}

int
main(void)
{
	test_write_no_sigpipe();
	signal(SIGPIPE, SIG_IGN);
	test_flags();
	test_one_byte_writes();
	test_cr_at_buffer_edge();
	test_max();
	test_huge_lines();
	test_timeouts();
	test_read_exact();
	test_pending_discard();
	test_write();
	test_smuggling();
	test_tls();
	return test_summary("test-io");
}
