/* test-smtp-data - smtpd's DATA/BDAT byte machine and header filter */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "test.h"

#include "../../smtpd/smtpd-data.c"

static struct buf out = BUF_INIT(1 << 22);
static int sink_fail;

/* sink - collect the output */
static int
sink(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	if (sink_fail)
		return -1;
	return buf_append(&out, p, n);
}

static struct smtp_data d;

/* start - a fresh machine and output */
static void
start(int mode, uint64_t limit)
{
	buf_reset(&out);
	sink_fail = 0;
	smtp_data_init(&d, mode, limit, 100, sink, NULL);
}

/* feed - the whole of s in one piece; returns the bytes used */
static size_t
feed(const char *s, size_t n)
{
	return smtp_data_feed(&d, s, n);
}

/* feed1 - s one byte at a time, as long as the machine takes them */
static size_t
feed1(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && !d.done; i++)
		if (smtp_data_feed(&d, s + i, 1) != 1)
			break;
	return i;
}

/* out_is - the output so far equals s */
static int
out_is(const char *s)
{
	return out.len == strlen(s) && (out.len == 0 ||
	    memcmp(out.data, s, out.len) == 0);
}

#define FEED(lit)	feed((lit), sizeof(lit) - 1)
#define FEED1(lit)	feed1((lit), sizeof(lit) - 1)

/* main - run the cases */
int
main(void)
{
	static char big[200000];
	static const char *const fakes[] = { "\r.\r", "\r.\n", "\n.\r",
	    "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n.\r\r\n", "\r\r\n.\r\r\n",
	    "\n.\n", "\n.\r\n" };
	const char *tail = "MAIL FROM:<s@x>\r\n";
	size_t i, n;
	int e;

	TEST_BEGIN("a message: CR LF to LF, dot-unstuffing, exact end");
	start(SMTP_DATA_MODE_DATA, 1000);
	n = FEED("Subject: x\r\n\r\n..a\r\n.b\r\nc\r\n.\r\nQUIT\r\n");
	TEST_ASSERT(d.done && n == 29);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("Subject: x\n\n.a\nb\nc\n"));
	TEST_ASSERT(d.size == 12 + 2 + 4 + 3 + 3);
	TEST_END();

	TEST_BEGIN("the same one byte at a time");
	start(SMTP_DATA_MODE_DATA, 1000);
	n = FEED1("Subject: x\r\n\r\n..a\r\n.b\r\nc\r\n.\r\nQUIT\r\n");
	TEST_ASSERT(d.done && n == 29);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("Subject: x\n\n.a\nb\nc\n"));
	TEST_END();

	TEST_BEGIN("empty message: the DATA line's CR LF starts the end");
	start(SMTP_DATA_MODE_DATA, 1000);
	TEST_ASSERT(FEED(".\r\nX") == 3 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out.len == 0);
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_mid_line(&d);
	TEST_ASSERT(FEED(".\r\n") == 3 && !d.done);
	TEST_ASSERT(FEED(".\r\n") == 3 && d.done);
	TEST_END();

	TEST_BEGIN("fake ends never end the data (S1, S2)");
	for (i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		struct buf in = BUF_INIT(256);

		(void)buf_append_str(&in, "Subject: t\r\n\r\nhi");
		(void)buf_append_str(&in, fakes[i]);
		(void)buf_append_str(&in, tail);
		start(SMTP_DATA_MODE_DATA, 1000);
		n = feed(in.data, in.len);
		TEST_ASSERT(n == in.len && !d.done);
		TEST_ASSERT(FEED("x\r\n.\r\n") == 6 && d.done);
		e = smtp_data_end(&d);
		TEST_ASSERT(e & (SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR));
		TEST_ASSERT(out.len < in.len);	/* output stopped */
		buf_free(&in);
	}
	start(SMTP_DATA_MODE_DATA, 1000);
	n = FEED("hi\r\n\0.\r\nx\r\n.\r\n");
	TEST_ASSERT(n == 14 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_NUL);
	TEST_END();

	TEST_BEGIN("a CR split from its LF is not bare");
	start(SMTP_DATA_MODE_DATA, 1000);
	TEST_ASSERT(FEED("a\r") == 2);
	TEST_ASSERT(FEED("\n.") == 2);
	TEST_ASSERT(FEED("\r") == 1 && !d.done);
	TEST_ASSERT(FEED("\n") == 1 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out_is("a\n"));
	TEST_END();

	TEST_BEGIN("text lines of 998 octets, not counting a stuffing dot");
	memset(big, 'a', 998);
	memcpy(big + 998, "\r\n.", 3);
	memset(big + 1001, '.', 998);
	memcpy(big + 1999, "\r\n.\r\n", 5);
	start(SMTP_DATA_MODE_DATA, 100000);
	TEST_ASSERT(feed(big, 2004) == 2004 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out.len == 998 * 2 + 2);
	memset(big, 'a', 999);
	memcpy(big + 999, "\r\n.\r\n", 5);
	start(SMTP_DATA_MODE_DATA, 100000);
	TEST_ASSERT(feed(big, 1004) == 1004 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_LONG_LINE);
	TEST_END();

	TEST_BEGIN("size limit: at and over, CR LF counted as two");
	start(SMTP_DATA_MODE_DATA, 10);
	TEST_ASSERT(FEED("12345678\r\n.\r\n") == 13);
	TEST_ASSERT(smtp_data_end(&d) == 0 && d.size == 10);
	start(SMTP_DATA_MODE_DATA, 10);
	TEST_ASSERT(FEED("123456789\r\n.\r\n") == 14 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_TOO_BIG);
	TEST_ASSERT(d.size <= 10);
	start(SMTP_DATA_MODE_DATA, 10);
	/* The stuffing dot is not counted. */
	TEST_ASSERT(FEED("..12345678\r\n.\r\n") == 15);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_TOO_BIG);
	TEST_END();

	TEST_BEGIN("BDAT: opaque chunks, CR LF across chunks, last line end");
	start(SMTP_DATA_MODE_BDAT, 1000);
	TEST_ASSERT(FEED("a\r\n.\r\nMAIL FROM:<x@y>\r") == 22);
	TEST_ASSERT(FEED("\nb") == 2 && !d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("a\n.\nMAIL FROM:<x@y>\nb\n"));
	start(SMTP_DATA_MODE_BDAT, 1000);
	TEST_ASSERT(FEED("a\r") == 2);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_BARE_CR);
	start(SMTP_DATA_MODE_BDAT, 1000);
	TEST_ASSERT(FEED("a\nb") == 3);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_BARE_LF);
	start(SMTP_DATA_MODE_BDAT, 1000);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out.len == 0);
	TEST_END();

	TEST_BEGIN("Received: fields counted in the header section only");
	n = 0;
	for (i = 0; i < 99; i++) {
		memcpy(big + n, "Received: x\r\n", 13);
		n += 13;
	}
	memcpy(big + n, "\r\nReceived: y\r\n.\r\n", 18);
	start(SMTP_DATA_MODE_DATA, 100000);
	TEST_ASSERT(feed(big, n + 18) == n + 18 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0 && d.received == 99);
	memcpy(big + n, "rEcEiVeD \t: z\r\n.\r\n", 18);
	start(SMTP_DATA_MODE_DATA, 100000);
	TEST_ASSERT(feed(big, n + 18) == n + 18);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_LOOP);
	start(SMTP_DATA_MODE_DATA, 100000);
	TEST_ASSERT(FEED("X: a\r\n Received: no\r\nReceivedX: no\r\n.\r\n") ==
	    39);
	TEST_ASSERT(smtp_data_end(&d) == 0 && d.received == 0);
	TEST_END();

	TEST_BEGIN("Date: and Message-ID: fix-ups");
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_fixups(&d, "Date: D\n", "Message-ID: <M>\n");
	TEST_ASSERT(FEED("Subject: s\r\n  folded\r\n\r\nbody\r\n.\r\n") == 33);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("Subject: s\n  folded\nDate: D\nMessage-ID: <M>\n\n"
	    "body\n"));
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_fixups(&d, "Date: D\n", "Message-ID: <M>\n");
	TEST_ASSERT(FEED("date: x\r\nMESSAGE-ID: y\r\n\r\n.\r\n") == 29);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("date: x\nMESSAGE-ID: y\n\n"));
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_fixups(&d, "Date: D\n", "Message-ID: <M>\n");
	TEST_ASSERT(FEED("A: b\r\nnot a header\r\n.\r\n") == 23);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out_is("A: b\nDate: D\nMessage-ID: <M>\nnot a header\n"));
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_fixups(&d, "Date: D\n", NULL);
	TEST_ASSERT(FEED("A: b\r\n.\r\n") == 9);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out_is("A: b\nDate: D\n"));
	start(SMTP_DATA_MODE_BDAT, 1000);
	smtp_data_fixups(&d, "Date: D\n", NULL);
	TEST_ASSERT(FEED("A: b\r\nC") == 7);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out_is("A: b\nDate: D\nC\n"));
	TEST_END();

	TEST_BEGIN("a long field name ends the header section");
	memset(big, 'N', 70);
	memcpy(big + 70, ": v\r\n.\r\n", 8);
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_fixups(&d, "Date: D\n", NULL);
	TEST_ASSERT(feed(big, 78) == 78 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == 0);
	TEST_ASSERT(out.len == 8 + 74 && memcmp(out.data, "Date: D\n", 8) == 0);
	TEST_END();

	TEST_BEGIN("a failing sink is a temporary error; output stops");
	start(SMTP_DATA_MODE_DATA, 1 << 20);
	sink_fail = 1;
	memset(big, 'x', 100000);
	for (i = 0; i < 100; i++)
		memcpy(big + i * 1000 + 998, "\r\n", 2);
	TEST_ASSERT(feed(big, 100000) == 100000);
	TEST_ASSERT(FEED(".\r\n") == 3 && d.done);
	TEST_ASSERT(smtp_data_end(&d) == SMTP_DATA_E_SINK);
	TEST_END();

	TEST_BEGIN("discard: nothing more reaches the sink");
	start(SMTP_DATA_MODE_DATA, 1000);
	smtp_data_discard(&d);
	TEST_ASSERT(FEED("abc\r\n.\r\n") == 8);
	TEST_ASSERT(smtp_data_end(&d) == 0 && out.len == 0);
	TEST_END();

	buf_free(&out);
	return test_summary("test-smtp-data");
}
