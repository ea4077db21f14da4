/*
 * NAME
 *	test-remote-data - remote's DATA encoder: CR LF, dot-stuffing, limits
 *
 * DESCRIPTION
 *	remote-data.c is compiled in here whole. SECURITY.md R2: a stored
 *	"a\r.\r\nb", "a\n.\nMAIL FROM:<x@y>\n" or a line ".x" must go out as
 *	CR LF lines with every leading dot doubled, so the receiver sees one
 *	message. Beside the fixed cases, pseudo-random messages are encoded
 *	in random pieces and checked against what the wire must look like.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../smtpq/remote-data.c"
#include "test.h"

/* enc - encode s (n octets) in one go into a static string */
static const char *
enc(const char *s, size_t n, struct dataenc *e)
{
	static struct buf out = BUF_INIT(1 << 20);

	buf_reset(&out);
	data_init(e);
	if (data_feed(e, s, n, &out) < 0 || data_end(e, &out) < 0)
		return "(error)";
	return buf_cstr(&out);
}

/* encs - enc for a C string */
static const char *
encs(const char *s)
{
	struct dataenc e;

	return enc(s, strlen(s), &e);
}

/* rnd - a small deterministic generator (xorshift) */
static uint32_t rnd_state = 2463534242u;
static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/*
 * wire_ok - out is valid DATA: CR LF lines only, each at most 998
 * octets, the only "." line the last one. Returns 1 if so.
 */
static int
wire_ok(const char *out, size_t n)
{
	size_t i, col = 0, line_start = 0;

	if (n < 3 || memcmp(out + n - 3, ".\r\n", 3) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (out[i] == '\r') {
			if (i + 1 >= n || out[i + 1] != '\n')
				return 0;
			if (i - line_start == 1 && out[line_start] == '.' &&
			    i + 2 != n)
				return 0;	/* an early end of data */
			i++;
			col = 0;
			line_start = i + 1;
			continue;
		}
		if (out[i] == '\n')
			return 0;		/* bare LF */
		if (++col > REMOTE_DATA_LINE)
			return 0;
	}
	return 1;
}

/* unstuff - the message the receiver reconstructs (CR LF lines, no dot) */
static size_t
unstuff(const char *out, size_t n, char *dst)
{
	size_t i = 0, k = 0, e;

	while (i < n) {
		const char *cr = memchr(out + i, '\r', n - i);

		e = (size_t)(cr - out);
		if (e - i == 1 && out[i] == '.')
			break;
		if (out[i] == '.')
			i++;
		memcpy(dst + k, out + i, e - i);
		k += e - i;
		dst[k++] = '\n';
		i = e + 2;
	}
	return k;
}

/* canon - the input with every line end (LF, CR LF, bare CR) as LF */
static size_t
canon(const char *s, size_t n, char *dst)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			dst[k++] = '\n';
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else
			dst[k++] = s[i];
	}
	if (k > 0 && dst[k - 1] != '\n')
		dst[k++] = '\n';
	return k;
}

int
main(void)
{
	static char in[40000], big[5000], a[100000], b[100000];
	static struct buf out = BUF_INIT(1 << 20), out2 = BUF_INIT(1 << 20);
	struct dataenc e;
	const char *s;
	size_t i, n, k, la, lb;
	int round, fds[2];
	struct msg m;
	const char *why;

	TEST_BEGIN("LF lines become CR LF, the final dot is added");
	TEST_ASSERT_STR(encs("a\nb\n"), "a\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(encs(""), ".\r\n");
	TEST_ASSERT_STR(encs("no line end"), "no line end\r\n.\r\n");
	TEST_ASSERT_STR(encs("\n"), "\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("stored CR LF stays one line end");
	TEST_ASSERT_STR(encs("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("R2: a\\r.\\r\\nb never ends the data early");
	TEST_ASSERT_STR(encs("a\r.\r\nb"), "a\r\n..\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(encs("a\r.\rb"), "a\r\n..\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(encs("x\r\r\n"), "x\r\n\r\n.\r\n");
	TEST_ASSERT_STR(encs("x\r"), "x\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("R2: a\\n.\\nMAIL FROM:<x@y>\\n is one message");
	TEST_ASSERT_STR(encs("a\n.\nMAIL FROM:<x@y>\n"),
	    "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("R2: leading dots are doubled, others left alone");
	TEST_ASSERT_STR(encs(".x\n..y\na.b\n."), "..x\r\n...y\r\na.b\r\n..\r\n"
	    ".\r\n");
	TEST_ASSERT_STR(encs("\r\n.\r\n"), "\r\n..\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("the same output whatever the pieces (CR at a piece's end)");
	data_init(&e);
	buf_reset(&out);
	TEST_ASSERT(data_feed(&e, "a\r", 2, &out) == 0);
	TEST_ASSERT(data_feed(&e, "\n.", 2, &out) == 0);
	TEST_ASSERT(data_feed(&e, "\r", 1, &out) == 0);
	TEST_ASSERT(data_feed(&e, ".x", 2, &out) == 0);
	TEST_ASSERT(data_end(&e, &out) == 0);
	TEST_ASSERT_STR(buf_cstr(&out), "a\r\n..\r\n..x\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("the body's long lines are broken at 998 octets");
	memset(big, 'x', sizeof(big));
	memcpy(big, "S: v\n\n", 6);
	big[6 + 998] = '.';	/* a piece that would start with a dot */
	s = enc(big, 4000, &e);
	TEST_ASSERT(wire_ok(s, strlen(s)));
	TEST_ASSERT(strstr(s, "\r\n..xx") != NULL);
	TEST_END();

	TEST_BEGIN("the header's long lines are folded with a space");
	memset(big, 'h', sizeof(big));
	memcpy(big, "Subject: ", 9);
	big[2500] = '\n';
	big[2501] = '\n';
	s = enc(big, 2600, &e);
	TEST_ASSERT(wire_ok(s, strlen(s)));
	TEST_ASSERT(strncmp(strstr(s, "\r\n") + 2, " hhh", 4) == 0);
	TEST_END();

	TEST_BEGIN("the wire size counts CR LF, not the stuffing");
	(void)enc(".a\nb\n", 5, &e);
	TEST_ASSERT_INT(e.wire, 7);	/* ".a\r\n" "b\r\n" */
	(void)enc("a\r.\r\nb", 6, &e);
	TEST_ASSERT_INT(e.wire, 9);
	TEST_END();

	TEST_BEGIN("8-bit octets: header and body told apart");
	(void)enc("Subject: \xc3\xa9\n\nplain\n", 19, &e);
	TEST_ASSERT_INT(e.eight_header, 1);
	TEST_ASSERT_INT(e.eight_body, 0);
	(void)enc("Subject: plain\n\n\xc3\xa9\n", 19, &e);
	TEST_ASSERT_INT(e.eight_header, 0);
	TEST_ASSERT_INT(e.eight_body, 1);
	(void)enc("Subject: plain\n\nplain\n", 22, &e);
	TEST_ASSERT_INT(e.eight_header | e.eight_body, 0);
	TEST_END();

	TEST_BEGIN("pseudo-random messages, random pieces: valid and faithful");
	for (round = 0; round < 300; round++) {
		static const char alphabet[] = "..\r\r\n\n\nab \x80\0";

		n = rnd() % sizeof(in);
		for (i = 0; i < n; i++)
			in[i] = rnd() % 8 == 0 ? 'x' :
			    alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (round % 10 == 0)	/* some very long lines */
			for (i = 0; i < n; i++)
				in[i] = rnd() % 3000 == 0 ? '\n' : '.';
		data_init(&e);
		buf_reset(&out);
		for (i = 0; i < n; i += k) {
			k = 1 + rnd() % 700;
			if (k > n - i)
				k = n - i;
			if (data_feed(&e, in + i, k, &out) < 0)
				break;
		}
		TEST_ASSERT(data_end(&e, &out) == 0);
		TEST_ASSERT(wire_ok(out.data, out.len));
		/* One piece gives the very same octets. */
		buf_reset(&out2);
		{
			struct dataenc e2;

			data_init(&e2);
			TEST_ASSERT(data_feed(&e2, in, n, &out2) == 0);
			TEST_ASSERT(data_end(&e2, &out2) == 0);
			TEST_ASSERT(e2.wire == e.wire);
		}
		TEST_ASSERT(out.len == out2.len &&
		    memcmp(out.data, out2.data, out.len) == 0);
		/* Without broken lines the receiver gets the input back. */
		if (round % 10 != 0) {
			la = unstuff(out.data, out.len, a);
			lb = canon(in, n, b);
			TEST_ASSERT(la == lb && memcmp(a, b, la) == 0);
		}
		if (test_case_failed)
			break;
	}
	TEST_END();

	TEST_BEGIN("data_open: a pipe is copied, a file read in place");
	TEST_ASSERT(pipe(fds) == 0);
	TEST_ASSERT(write(fds[1], "Subject: x\n\n.hi\n", 16) == 16);
	(void)close(fds[1]);
	TEST_ASSERT(data_open(fds[0], 1000, &m, &why) == 0);
	TEST_ASSERT(m.fd != fds[0] && m.len == 16);
	TEST_ASSERT(data_scan(&m, &why) == 0);
	TEST_ASSERT(m.size == 19);
	(void)close(m.fd);
	(void)close(fds[0]);
	TEST_ASSERT(pipe(fds) == 0);
	TEST_ASSERT(write(fds[1], "0123456789", 10) == 10);
	(void)close(fds[1]);
	TEST_ASSERT(data_open(fds[0], 5, &m, &why) == -1);
	TEST_ASSERT_INT(errno, EFBIG);
	(void)close(fds[0]);
	{
		char path[] = "/tmp/test-remote-data.XXXXXX";
		int fd = mkstemp(path);

		TEST_ASSERT(fd >= 0);
		TEST_ASSERT(write(fd, "HEADERa\nb\n", 10) == 10);
		TEST_ASSERT(lseek(fd, 6, SEEK_SET) == 6);
		TEST_ASSERT(data_open(fd, 1000, &m, &why) == 0);
		TEST_ASSERT(m.fd == fd && m.start == 6 && m.len == 4);
		TEST_ASSERT(data_scan(&m, &why) == 0);
		TEST_ASSERT(m.size == 6);
		(void)close(fd);
		(void)unlink(path);
	}
	TEST_END();

	buf_free(&out);
	buf_free(&out2);
	return test_summary("test-remote-data");
}
