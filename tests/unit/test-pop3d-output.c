/*
 * NAME
 *	test-pop3d-output - CRLF conversion, dot-stuffing and TOP
 *
 * DESCRIPTION
 *	pop3d-output.c is compiled in here whole. Every conversion is also
 *	run one octet at a time, to show that the result does not depend on
 *	how the file is cut into reads, and its octet count is compared
 *	with mailbox_crlf_count(), which gives the sizes LIST reports
 *	(SECURITY.md P4).
 */
#include <string.h>

#include "../../pop3d/pop3d-output.c"
#include "mailbox.h"
#include "test.h"

static struct buf out = BUF_INIT(1 << 20);
static struct buf out1 = BUF_INIT(1 << 20);
static uint64_t octets;
static char msgid[POP3D_MSGID_MAX + 1];

/* convert - the text for message s (len n); TOP when limited */
static const char *
convert(const char *s, size_t n, int limited, uint64_t lines)
{
	struct pop3d_out o, o1;
	size_t i;

	buf_reset(&out);
	buf_reset(&out1);
	pop3d_out_init(&o, limited, lines);
	if (pop3d_out_feed(&o, s, n, &out) < 0 || pop3d_out_end(&o, &out) < 0)
		return "(error)";
	pop3d_out_init(&o1, limited, lines);
	for (i = 0; i < n; i++)
		if (pop3d_out_feed(&o1, s + i, 1, &out1) < 0)
			return "(error)";
	if (pop3d_out_end(&o1, &out1) < 0)
		return "(error)";
	if (out.len != out1.len || memcmp(out.data, out1.data, out.len) != 0)
		return "(depends on the read size)";
	octets = o.octets;
	memcpy(msgid, o.msgid, sizeof(msgid));
	return buf_cstr(&out);
}

/* crlf_size - mailbox_crlf_count of s */
static uint64_t
crlf_size(const char *s)
{
	struct mailbox_crlf c = { 0, 0 };

	mailbox_crlf_count(&c, s, strlen(s));
	return c.octets;
}

/* only_crlf - 1 if every CR and LF of s is part of a CR LF pair */
static int
only_crlf(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

/* top - TOP conversion of a C string */
static const char *
top(const char *s, uint64_t lines)
{
	return convert(s, strlen(s), 1, lines);
}

/* full - RETR conversion of a C string */
static const char *
full(const char *s)
{
	return convert(s, strlen(s), 0, 0);
}

int
main(void)
{
	static const char *p4[] = {
		"a\n.\nb\n",
		"a\n\n.\n\nb",
		"a\r.\r\nb\n",
		"a\r\n.\r\nMAIL FROM:<x@y>\r\n",
		"x\n.\r\n",
		"\r\r\n.\r\r\n",
		".\n",
		"..\n...\n",
	};
	const char *r;
	size_t i;

	TEST_BEGIN("LF, CR LF and bare CR all become CR LF");
	TEST_ASSERT_STR(full("a\nb\n"), "a\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("a\r\nb\r\n"), "a\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("a\rb\r"), "a\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("a\r\rb"), "a\r\n\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("a\n\rb"), "a\r\n\r\nb\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("a last line without its end gets one");
	TEST_ASSERT_STR(full("a\nend"), "a\r\nend\r\n.\r\n");
	TEST_ASSERT_STR(full(""), ".\r\n");
	TEST_ASSERT_INT(octets, 0);
	TEST_END();

	TEST_BEGIN("dot-stuffing (P4)");
	TEST_ASSERT_STR(full(".\n"), "..\r\n.\r\n");
	TEST_ASSERT_STR(full("a\n.\nb\n"), "a\r\n..\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("a\r.\r\nb"), "a\r\n..\r\nb\r\n.\r\n");
	TEST_ASSERT_STR(full("..x\n"), "...x\r\n.\r\n");
	TEST_ASSERT_STR(full("a.b\n"), "a.b\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("P4 inputs: CRLF only, no early terminator, sizes agree");
	for (i = 0; i < sizeof(p4) / sizeof(p4[0]); i++) {
		r = full(p4[i]);
		TEST_ASSERT(only_crlf(r));
		/* The terminator appears once, at the very end. */
		TEST_ASSERT(strstr(r, "\r\n.\r\n") == NULL ||
		    strstr(r, "\r\n.\r\n") == r + strlen(r) - 5);
		TEST_ASSERT(strncmp(r, ".\r\n", 3) != 0 || strlen(r) == 3);
		TEST_ASSERT_INT(octets, crlf_size(p4[i]));
	}
	TEST_END();

	TEST_BEGIN("octets equal the CRLF size (stuffing not counted)");
	r = full("Subject: x\n\n.\r\nb\rc\r\n");
	TEST_ASSERT_INT(octets, crlf_size("Subject: x\n\n.\r\nb\rc\r\n"));
	TEST_ASSERT_INT(strlen(r), octets + 1 + 3);
	TEST_END();

	TEST_BEGIN("TOP: header, blank line, n body lines");
	TEST_ASSERT_STR(top("A: 1\nB: 2\n\nl1\nl2\nl3\n", 0),
	    "A: 1\r\nB: 2\r\n\r\n.\r\n");
	TEST_ASSERT_STR(top("A: 1\nB: 2\n\nl1\nl2\nl3\n", 2),
	    "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n");
	TEST_ASSERT_STR(top("A: 1\nB: 2\n\nl1\nl2\nl3\n", 99),
	    "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n.\r\n");
	TEST_ASSERT_STR(top("A: 1\r\n\r\n.\r\nl2\r\n", 1),
	    "A: 1\r\n\r\n..\r\n.\r\n");
	TEST_ASSERT_STR(top("A: 1\nB: 2", 0),
	    "A: 1\r\nB: 2\r\n.\r\n");
	TEST_ASSERT_STR(top("A: 1\r\rb\n", 0), "A: 1\r\n\r\n.\r\n");
	TEST_END();

	TEST_BEGIN("Message-ID is kept for the log");
	full("Subject: a\nMessage-Id:  <x@y>\nTo: b\n\n"
	    "Message-ID: <no@body>\n");
	TEST_ASSERT_STR(msgid, "<x@y>");
	full("Message-ID:\n <folded@y>\n\n");
	TEST_ASSERT_STR(msgid, "<folded@y>");
	full("X-Message-ID: <no@no>\n\n");
	TEST_ASSERT_STR(msgid, "");
	TEST_END();

	buf_free(&out);
	buf_free(&out1);
	return test_summary("test-pop3d-output");
}
