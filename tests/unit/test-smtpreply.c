/*
 * NAME
 *	test-smtpreply - the SMTP reply parser of the client (smtpreply.c)
 *
 * DESCRIPTION
 *	RFC 5321 4.2 grammar and 4.5.3.1.5 length, the bounds of SECURITY.md
 *	R1 (replies "250-a\r\n250\r\n", "25\r\n", "2500 x\r\n", "250 2.0.0\r\n",
 *	100 000 lines of "250-x", one 10 KB line), enhanced status codes
 *	(RFC 3463), EHLO capabilities and the printable description.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "smtpreply.h"
#include "test.h"

/* feed - one line (a C string) into r */
static int
feed(struct smtpreply *r, const char *line)
{
	const char *why;

	return smtpreply_line(r, line, strlen(line), &why);
}

/* feed_all - lines until one is not MORE; the last result */
static int
feed_all(struct smtpreply *r, const char *const *lines)
{
	int k = -1;

	smtpreply_reset(r);
	for (; *lines != NULL; lines++) {
		k = feed(r, *lines);
		if (k != SMTPREPLY_MORE)
			break;
	}
	return k;
}

/* describe - smtpreply_describe into a static string */
static const char *
describe(const struct smtpreply *r, size_t max)
{
	static struct buf b = BUF_INIT(4096);

	buf_reset(&b);
	if (smtpreply_describe(r, &b, max) < 0)
		return "(error)";
	return buf_cstr(&b);
}

int
main(void)
{
	struct smtpreply r;
	struct smtpcaps caps;
	char st[SMTPREPLY_STATUS_MAX + 1], big[20000];
	const char *why = NULL;
	int i, k;

	smtpreply_init(&r);

	TEST_BEGIN("one line reply");
	TEST_ASSERT_INT(feed(&r, "250 ok"), SMTPREPLY_DONE);
	TEST_ASSERT_INT(r.code, 250);
	TEST_ASSERT_INT(smtpreply_class(&r), 2);
	TEST_ASSERT_STR(buf_cstr(&r.text), "ok");
	TEST_ASSERT_STR(r.status, "");
	TEST_END();

	TEST_BEGIN("multi-line reply, text kept line by line");
	smtpreply_reset(&r);
	TEST_ASSERT_INT(feed(&r, "250-first"), SMTPREPLY_MORE);
	TEST_ASSERT_INT(smtpreply_class(&r), 0);
	TEST_ASSERT_INT(feed(&r, "250-second"), SMTPREPLY_MORE);
	TEST_ASSERT_INT(feed(&r, "250 third"), SMTPREPLY_DONE);
	TEST_ASSERT_STR(buf_cstr(&r.text), "first\nsecond\nthird");
	TEST_ASSERT_INT(r.lines, 3);
	TEST_END();

	TEST_BEGIN("R1: 250-a then a bare 250 is a complete reply");
	{
		static const char *const l[] = { "250-a", "250", NULL };

		TEST_ASSERT_INT(feed_all(&r, l), SMTPREPLY_DONE);
		TEST_ASSERT_INT(r.code, 250);
		TEST_ASSERT_STR(buf_cstr(&r.text), "a\n");
	}
	TEST_END();

	TEST_BEGIN("R1: 250 2.0.0 alone, enhanced code and no text");
	smtpreply_reset(&r);
	TEST_ASSERT_INT(feed(&r, "250 2.0.0"), SMTPREPLY_DONE);
	TEST_ASSERT_STR(r.status, "2.0.0");
	TEST_END();

	TEST_BEGIN("R1: malformed codes and separators");
	{
		static const char *const bad[] = { "25", "2", "", "2500 x",
		    "250x", "250\tx", "150 x", "650 x", "260 x", "2a0 x",
		    " 250 x", "-250 x", "25 0", "099 x", NULL };

		for (i = 0; bad[i] != NULL; i++) {
			smtpreply_reset(&r);
			errno = 0;
			k = smtpreply_line(&r, bad[i], strlen(bad[i]), &why);
			TEST_ASSERT_INT(k, -1);
			TEST_ASSERT_INT(errno, EPROTO);
		}
	}
	TEST_END();

	TEST_BEGIN("every code from 200 to 559 is accepted");
	for (i = 200; i <= 559; i++) {
		char line[8];

		if (i % 100 >= 60)
			continue;
		line[0] = (char)('0' + i / 100);
		line[1] = (char)('0' + i / 10 % 10);
		line[2] = (char)('0' + i % 10);
		line[3] = '\0';
		smtpreply_reset(&r);
		TEST_ASSERT_INT(feed(&r, line), SMTPREPLY_DONE);
		TEST_ASSERT_INT(r.code, i);
	}
	TEST_END();

	TEST_BEGIN("the code may not change within a reply");
	smtpreply_reset(&r);
	TEST_ASSERT_INT(feed(&r, "250-a"), SMTPREPLY_MORE);
	TEST_ASSERT_INT(feed(&r, "251 b"), -1);
	TEST_END();

	TEST_BEGIN("no line after the last one");
	smtpreply_reset(&r);
	TEST_ASSERT_INT(feed(&r, "250 a"), SMTPREPLY_DONE);
	TEST_ASSERT_INT(feed(&r, "250 b"), -1);
	TEST_END();

	TEST_BEGIN("R1: at most SMTPREPLY_LINES_MAX lines (100 000 x 250-x)");
	smtpreply_reset(&r);
	for (i = 0, k = SMTPREPLY_MORE; i < 100000 && k == SMTPREPLY_MORE;
	    i++)
		k = feed(&r, "250-x");
	TEST_ASSERT_INT(k, -1);
	TEST_ASSERT_INT(i, SMTPREPLY_LINES_MAX + 1);
	TEST_ASSERT(r.text.len <= SMTPREPLY_LINES_MAX * 2);
	smtpreply_reset(&r);
	for (i = 0; i < SMTPREPLY_LINES_MAX - 1; i++)
		TEST_ASSERT_INT(feed(&r, "250-x"), SMTPREPLY_MORE);
	TEST_ASSERT_INT(feed(&r, "250 x"), SMTPREPLY_DONE);
	TEST_END();

	TEST_BEGIN("R1: a line of 510 octets passes, 511 and 10 KB do not");
	memset(big, 'a', sizeof(big));
	memcpy(big, "250 ", 4);
	smtpreply_reset(&r);
	TEST_ASSERT_INT(smtpreply_line(&r, big, SMTPREPLY_LINE_MAX, &why),
	    SMTPREPLY_DONE);
	smtpreply_reset(&r);
	TEST_ASSERT_INT(smtpreply_line(&r, big, SMTPREPLY_LINE_MAX + 1, &why),
	    -1);
	smtpreply_reset(&r);
	TEST_ASSERT_INT(smtpreply_line(&r, big, 10240, &why), -1);
	TEST_END();

	TEST_BEGIN("NUL refused, control octets kept as '?'");
	smtpreply_reset(&r);
	TEST_ASSERT_INT(smtpreply_line(&r, "250 a\0b", 7, &why), -1);
	smtpreply_reset(&r);
	TEST_ASSERT_INT(feed(&r, "250 a\001b\033[31m\tc\r"), SMTPREPLY_DONE);
	TEST_ASSERT_STR(buf_cstr(&r.text), "a?b?[31m\tc?");
	TEST_END();

	TEST_BEGIN("enhanced status codes (RFC 3463)");
	{
		static const struct {
			const char *line, *status;
		} c[] = {
			{ "550 5.1.1 no such user", "5.1.1" },
			{ "550 5.1.10 null MX", "5.1.10" },
			{ "452 4.5.3 too many", "4.5.3" },
			{ "250 2.0.0", "2.0.0" },
			{ "250 2.999.999 x", "2.999.999" },
			{ "550 4.1.1 class differs", "" },
			{ "550 5.1.1234 x", "" },
			{ "550 5.1000.1 x", "" },
			{ "550 5.1.1x", "" },
			{ "550 5..1 x", "" },
			{ "550 3.1.1 x", "" },
			{ "550 no code", "" },
			{ "550 5.1", "" },
		};

		for (i = 0; i < (int)(sizeof(c) / sizeof(c[0])); i++) {
			smtpreply_reset(&r);
			TEST_ASSERT_INT(feed(&r, c[i].line), SMTPREPLY_DONE);
			TEST_ASSERT_STR(r.status, c[i].status);
		}
	}
	TEST_END();

	TEST_BEGIN("smtpreply_status: the reply's code, a fallback, or C.0.0");
	smtpreply_reset(&r);
	(void)feed(&r, "550 5.7.1 denied");
	smtpreply_status(&r, "5.1.1", st);
	TEST_ASSERT_STR(st, "5.7.1");
	smtpreply_reset(&r);
	(void)feed(&r, "550 denied");
	smtpreply_status(&r, "5.1.1", st);
	TEST_ASSERT_STR(st, "5.1.1");
	smtpreply_status(&r, "4.7.8", st);
	TEST_ASSERT_STR(st, "5.0.0");
	smtpreply_status(&r, NULL, st);
	TEST_ASSERT_STR(st, "5.0.0");
	smtpreply_status(&r, "5.1.1 junk", st);
	TEST_ASSERT_STR(st, "5.0.0");
	smtpreply_reset(&r);
	(void)feed(&r, "421 busy");
	smtpreply_status(&r, NULL, st);
	TEST_ASSERT_STR(st, "4.0.0");
	TEST_END();

	TEST_BEGIN("EHLO capabilities");
	{
		static const char *const l[] = { "250-mx.example PIPELINING",
		    "250-pipelining", "250-SIZE 52428800", "250-8BITMIME",
		    "250-STARTTLS", "250-AUTH CRAM-MD5 login Plain",
		    "250-ENHANCEDSTATUSCODES", "250-DSN", "250-CHUNKING",
		    "250-BINARYMIME", "250-XFOO bar", "250 SMTPUTF8", NULL };

		TEST_ASSERT_INT(feed_all(&r, l), SMTPREPLY_DONE);
		smtpreply_caps(&r, &caps);
		TEST_ASSERT_INT(caps.flags, SMTPCAP_PIPELINING |
		    SMTPCAP_SIZE | SMTPCAP_8BITMIME | SMTPCAP_STARTTLS |
		    SMTPCAP_AUTH | SMTPCAP_ENHANCED | SMTPCAP_DSN |
		    SMTPCAP_CHUNKING | SMTPCAP_BINARYMIME | SMTPCAP_SMTPUTF8);
		TEST_ASSERT(caps.size == 52428800);
		TEST_ASSERT_INT(caps.auth, SMTPCAP_AUTH_PLAIN |
		    SMTPCAP_AUTH_LOGIN);
	}
	TEST_END();

	TEST_BEGIN("EHLO: the first line is the name, never a capability");
	{
		static const char *const l[] = { "250 STARTTLS", NULL };
		static const char *const l2[] = { "250-x", "250-SIZE",
		    "250-AUTH=LOGIN", "250 SIZE junk", NULL };

		(void)feed_all(&r, l);
		smtpreply_caps(&r, &caps);
		TEST_ASSERT_INT(caps.flags, 0);
		(void)feed_all(&r, l2);
		smtpreply_caps(&r, &caps);
		TEST_ASSERT_INT(caps.flags, SMTPCAP_SIZE | SMTPCAP_AUTH);
		TEST_ASSERT(caps.size == 0);
		TEST_ASSERT_INT(caps.auth, SMTPCAP_AUTH_LOGIN);
	}
	TEST_END();

	TEST_BEGIN("T3: what a reply says is only what its lines say");
	{
		/* The STARTTLS reply alone; "250 AUTH PLAIN" after it is
		 * another reply (and remote throws it away unread). */
		smtpreply_reset(&r);
		TEST_ASSERT_INT(feed(&r, "220 Ready"), SMTPREPLY_DONE);
		smtpreply_caps(&r, &caps);
		TEST_ASSERT_INT(caps.flags, 0);
	}
	TEST_END();

	TEST_BEGIN("describe: one printable line, cut with ...");
	{
		static const char *const l[] = { "550-5.1.1 first",
		    "550 second \xc3\xa9", NULL };

		(void)feed_all(&r, l);
		TEST_ASSERT_STR(describe(&r, 200),
		    "550 5.1.1 first second ??");
		TEST_ASSERT_STR(describe(&r, 12), "550 5.1.1...");
		TEST_ASSERT(strlen(describe(&r, 12)) == 12);
		smtpreply_reset(&r);
		(void)feed(&r, "250");
		TEST_ASSERT_STR(describe(&r, 100), "250");
	}
	TEST_END();

	smtpreply_free(&r);
	return test_summary("test-smtpreply");
}
