/* test-bounce - DSN notices: dates, status codes, structure, boundaries */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bounce.h"
#include "buf.h"
#include "test.h"

/* has - 1 if needle is in b */
static int
has(const struct buf *b, const char *needle)
{
	return b->data != NULL && strstr(b->data, needle) != NULL;
}

/* count - occurrences of needle in b */
static int
count(const struct buf *b, const char *needle)
{
	const char *p = b->data;
	int n = 0;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

int
main(void)
{
	char date[64], status[BOUNCE_STATUS_MAX + 1];
	const char *rest;
	struct buf out = BUF_INIT(BOUNCE_MAX);
	struct bounce b;
	struct bounce_rcpt rc[2];
	const char *orig = "From: <a@example.test>\nSubject: hi\n"
	    "Message-ID: <m@test>\n\nbody line\n";
	int eight = -1;

	TEST_BEGIN("bounce: RFC 5322 dates in UTC, locale-free");
	TEST_ASSERT_INT(bounce_date(0, date, sizeof(date)), 0);
	TEST_ASSERT_STR(date, "Thu, 1 Jan 1970 00:00:00 +0000");
	TEST_ASSERT_INT(bounce_date(1700000000, date, sizeof(date)), 0);
	TEST_ASSERT_STR(date, "Tue, 14 Nov 2023 22:13:20 +0000");
	TEST_ASSERT_INT(bounce_date(1700000000, date, 10), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_END();

	TEST_BEGIN("bounce: the header ends at the first empty line");
	TEST_ASSERT_INT(bounce_header_end("A: b\n\nbody", 10), 6);
	TEST_ASSERT_INT(bounce_header_end("A: b\r\n\r\nbody", 12), 8);
	TEST_ASSERT_INT(bounce_header_end("\nbody", 5), 1);
	TEST_ASSERT_INT(bounce_header_end("A: b\nC: d\n", 10), 10);
	TEST_ASSERT_INT(bounce_header_end("", 0), 0);
	TEST_END();

	TEST_BEGIN("bounce: status codes split from the text");
	bounce_status("5.1.1 no such user", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "5.1.1");
	TEST_ASSERT_STR(rest, "no such user");
	bounce_status("4.4.0", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "4.4.0");
	TEST_ASSERT_STR(rest, "");
	bounce_status("5.123.456 x", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "5.123.456");
	bounce_status("no code here", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "5.0.0");
	TEST_ASSERT_STR(rest, "no code here");
	bounce_status("5.1 short", BOUNCE_DELAY, status, &rest);
	TEST_ASSERT_STR(status, "4.0.0");
	bounce_status("2.0.0x", BOUNCE_SUCCESS, status, &rest);
	TEST_ASSERT_STR(status, "2.0.0");
	TEST_ASSERT_STR(rest, "2.0.0x");
	bounce_status("5.1234.1 x", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "5.0.0");
	bounce_status("3.1.1 x", BOUNCE_FAILURE, status, &rest);
	TEST_ASSERT_STR(status, "5.0.0");
	TEST_END();

	TEST_BEGIN("bounce: a failure notice has the RFC 3464 parts");
	memset(&b, 0, sizeof(b));
	rc[0].addr = "bob@example.test";
	rc[0].orcpt = "rfc822;Bob@Example.Test";
	rc[0].text = "5.1.1 <bob@example.test>: no such user";
	rc[0].last_try = 1700000100;
	rc[1].addr = "carol@remote.test";
	rc[1].orcpt = NULL;
	rc[1].text = "4.4.1 no answer";
	rc[1].last_try = 0;
	b.kind = BOUNCE_FAILURE;
	b.hostname = "mx.example.test";
	b.qid = "0123456789ABCDEF01234567";
	b.envid = "ENV-7";
	b.sender = "alice@example.test";
	b.to = "alice@example.test";
	b.arrival = 1700000000;
	b.now = 1700000200;
	b.original = orig;
	b.original_len = strlen(orig);
	b.rcpts = rc;
	b.n_rcpts = 2;
	TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
	TEST_ASSERT_INT(eight, 0);
	TEST_ASSERT(has(&out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.example.test>\n"));
	TEST_ASSERT(has(&out, "To: <alice@example.test>\n"));
	TEST_ASSERT(has(&out,
	    "Subject: Undelivered Mail Returned to Sender\n"));
	TEST_ASSERT(has(&out, "Auto-Submitted: auto-replied\n"));
	TEST_ASSERT(has(&out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\""
	    "0123456789ABCDEF01234567.0.1700000200/mx.example.test\"\n"));
	TEST_ASSERT(has(&out, "Content-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; mx.example.test\n"
	    "X-Mailstack-Queue-ID: 0123456789ABCDEF01234567\n"
	    "Original-Envelope-Id: ENV-7\n"
	    "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\n\n"
	    "Final-Recipient: rfc822; bob@example.test\n"
	    "Original-Recipient: rfc822; Bob@Example.Test\n"
	    "Action: failed\nStatus: 5.1.1\n"
	    "Diagnostic-Code: X-Mailstack; <bob@example.test>: no such user\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:15:00 +0000\n\n"
	    "Final-Recipient: rfc822; carol@remote.test\n"
	    "Action: failed\nStatus: 4.4.1\n"));
	TEST_ASSERT(has(&out, "Content-Type: message/rfc822\n\n"));
	TEST_ASSERT(has(&out, "body line\n"));
	TEST_ASSERT_INT(count(&out, "--0123456789ABCDEF01234567.0.1700000200/"
	    "mx.example.test\n"), 3);
	TEST_ASSERT(has(&out, "--0123456789ABCDEF01234567.0.1700000200/"
	    "mx.example.test--\n"));
	TEST_ASSERT(!has(&out, "\r"));
	TEST_END();

	TEST_BEGIN("bounce: headers only, delay, success");
	buf_reset(&out);
	b.headers_only = 1;
	b.kind = BOUNCE_DELAY;
	b.retry_until = 1700432000;
	b.n_rcpts = 1;
	TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
	TEST_ASSERT(has(&out, "Subject: Delayed Mail (still being retried)\n"));
	TEST_ASSERT(has(&out, "Action: delayed\n"));
	TEST_ASSERT(has(&out, "Will-Retry-Until: "));
	TEST_ASSERT(has(&out, "Content-Type: text/rfc822-headers\n"));
	TEST_ASSERT(has(&out, "Message-ID: <m@test>\n"));
	TEST_ASSERT(!has(&out, "body line"));
	TEST_ASSERT(has(&out, "THIS IS A WARNING ONLY"));
	buf_reset(&out);
	b.kind = BOUNCE_SUCCESS;
	rc[0].text = "2.0.0 delivered";
	TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
	TEST_ASSERT(has(&out, "Action: delivered\nStatus: 2.0.0\n"));
	TEST_END();

	TEST_BEGIN("bounce: the boundary never occurs in the original");
	{
		const char *evil = "Subject: x\n\n--0123456789ABCDEF01234567.0."
		    "1700000200/mx.example.test--\nand more\n";

		buf_reset(&out);
		b.kind = BOUNCE_FAILURE;
		b.headers_only = 0;
		b.original = evil;
		b.original_len = strlen(evil);
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT(has(&out,
		    "boundary=\"0123456789ABCDEF01234567.1."));
		TEST_ASSERT_INT(count(&out, "--0123456789ABCDEF01234567.1."
		    "1700000200/mx.example.test--\n"), 1);
	}
	TEST_END();

	TEST_BEGIN("bounce: 8-bit originals say so; bad input refused");
	{
		const char *latin = "Subject: x\n\n\xe9t\xe9 body";

		buf_reset(&out);
		b.original = latin;
		b.original_len = strlen(latin);
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, BOUNCE_8BIT);
		TEST_ASSERT(has(&out, "Content-Type: message/rfc822\n"
		    "Content-Transfer-Encoding: 8bit\n"));
		TEST_ASSERT(has(&out, "Content-Type: message/delivery-status\n"));
		/* An original without a final LF still closes cleanly. */
		TEST_ASSERT(has(&out, "body\n\n--"));
		b.to = NULL;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), -1);
		TEST_ASSERT_INT(errno, EINVAL);
		b.to = "alice@example.test";
		b.n_rcpts = 0;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), -1);
	}
	TEST_END();

	TEST_BEGIN("bounce: Diagnostic-Code smtp for a server's reply");
	{
		struct bounce_rcpt r3[3];

		buf_reset(&out);
		memset(r3, 0, sizeof(r3));
		r3[0].addr = "bob@remote.test";
		r3[0].text = "5.1.1 host mx.remote.test[192.0.2.1] said: 550 "
		    "5.1.1 <bob@remote.test>: no such user (in reply to RCPT "
		    "TO)";
		r3[1].addr = "dan@remote.test";
		r3[1].text = "5.0.0 host mx2.remote.test[192.0.2.2]:2525 said: "
		    "554 go away (as its greeting)";
		r3[2].addr = "eve@remote.test";
		r3[2].text = "5.6.7 host mx.remote.test[192.0.2.1] does not "
		    "support SMTPUTF8";
		b.kind = BOUNCE_FAILURE;
		b.original = orig;
		b.original_len = strlen(orig);
		b.rcpts = r3;
		b.n_rcpts = 3;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT(has(&out, "Action: failed\nStatus: 5.1.1\n"
		    "Remote-MTA: dns; mx.remote.test\n"
		    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no "
		    "such user\n"));
		TEST_ASSERT(has(&out, "Remote-MTA: dns; mx2.remote.test\n"
		    "Diagnostic-Code: smtp; 554 go away\n"));
		/* our own text about a server keeps the X- type */
		TEST_ASSERT(has(&out, "Diagnostic-Code: X-Mailstack; host "
		    "mx.remote.test[192.0.2.1] does not support SMTPUTF8\n"));
		TEST_ASSERT(!has(&out, "X-Mailstack; host mx.remote.test"
		    "[192.0.2.1] said"));
		TEST_ASSERT_INT(count(&out, "Remote-MTA: "), 2);
		b.rcpts = rc;
		b.n_rcpts = 1;
	}
	TEST_END();

	TEST_BEGIN("bounce: relayed notice (RFC 3461 5.2.2)");
	{
		struct bounce_rcpt r1;

		buf_reset(&out);
		memset(&r1, 0, sizeof(r1));
		r1.addr = "bob@remote.test";
		r1.orcpt = "rfc822;bob@remote.test";
		r1.text = "2.0.0 host mx.remote.test[192.0.2.1] said: 250 2.0.0 "
		    "Ok: queued as 1234 (in reply to end of DATA)";
		b.kind = BOUNCE_RELAYED;
		b.headers_only = 1;
		b.rcpts = &r1;
		b.n_rcpts = 1;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, 0);
		TEST_ASSERT(has(&out, "Subject: Relayed Mail Report"));
		TEST_ASSERT(has(&out, "Final-Recipient: rfc822; "
		    "bob@remote.test\nOriginal-Recipient: rfc822; "
		    "bob@remote.test\nAction: relayed\nStatus: 2.0.0\n"
		    "Remote-MTA: dns; mx.remote.test\n"
		    "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 1234\n"));
		TEST_ASSERT(has(&out, "Content-Type: message/delivery-status\n"));
		TEST_ASSERT(has(&out, "Content-Type: text/rfc822-headers\n"));
		TEST_ASSERT(has(&out, "does\nnot support delivery status "
		    "notifications"));
		TEST_ASSERT(has(&out, ".relayed.1700000200@mx.example.test>"));
		b.headers_only = 0;
		b.rcpts = rc;
	}
	TEST_END();

	TEST_BEGIN("bounce: RFC 6533 form for SMTPUTF8 mail");
	{
		struct bounce_rcpt ru;
		const char *uhead = "From: <j\xc3\xb6rg@example.test>\n"
		    "Subject: gr\xc3\xbc\xc3\x9f\n\nbody\n";

		buf_reset(&out);
		memset(&ru, 0, sizeof(ru));
		ru.addr = "\xe7\x94\xa8\xe6\x88\xb7@remote.test";
		ru.orcpt = "rfc822;\xe7\x94\xa8\xe6\x88\xb7@remote.test";
		ru.text = "5.1.1 host mx.remote.test[192.0.2.1] said: 550 "
		    "5.1.1 no such user (in reply to RCPT TO)";
		b.kind = BOUNCE_FAILURE;
		b.rcpts = &ru;
		b.n_rcpts = 1;
		b.to = "j\xc3\xb6rg@example.test";
		b.smtputf8 = 1;
		b.original = uhead;
		b.original_len = strlen(uhead);
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, BOUNCE_8BIT | BOUNCE_UTF8);
		TEST_ASSERT(has(&out, "To: <j\xc3\xb6rg@example.test>\n"));
		TEST_ASSERT(has(&out, "Content-Type: text/plain; "
		    "charset=utf-8\n"));
		TEST_ASSERT(has(&out, "Content-Type: "
		    "message/global-delivery-status\n"
		    "Content-Transfer-Encoding: 8bit\n\n"));
		TEST_ASSERT(has(&out, "Final-Recipient: utf-8; \xe7\x94\xa8"
		    "\xe6\x88\xb7@remote.test\nOriginal-Recipient: utf-8; "
		    "\xe7\x94\xa8\xe6\x88\xb7@remote.test\n"));
		TEST_ASSERT(has(&out, "Content-Type: message/global\n"
		    "Content-Transfer-Encoding: 8bit\n\nFrom: <j\xc3\xb6rg"));
		TEST_ASSERT(!has(&out, "message/delivery-status"));
		TEST_ASSERT(!has(&out, "message/rfc822"));
		/* headers only: message/global-headers */
		buf_reset(&out);
		b.headers_only = 1;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT(has(&out, "Content-Type: message/global-headers\n"));
		TEST_ASSERT(!has(&out, "text/rfc822-headers"));
		TEST_ASSERT(!has(&out, "\nbody\n"));
		/* no SMTPUTF8 flag, ASCII addresses, but a UTF-8 header */
		buf_reset(&out);
		b.smtputf8 = 0;
		b.to = "alice@example.test";
		b.rcpts = rc;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, BOUNCE_8BIT | BOUNCE_UTF8);
		TEST_ASSERT(has(&out, "message/global-delivery-status"));
		TEST_ASSERT(has(&out, "Final-Recipient: rfc822; "
		    "bob@example.test\n"));
		/* only the SMTPUTF8 flag: still the RFC 6533 form */
		buf_reset(&out);
		b.smtputf8 = 1;
		b.original = orig;
		b.original_len = strlen(orig);
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, BOUNCE_8BIT | BOUNCE_UTF8);
		TEST_ASSERT(has(&out, "message/global-headers"));
		/* nothing UTF-8 at all: plain RFC 3464 */
		buf_reset(&out);
		b.smtputf8 = 0;
		TEST_ASSERT_INT(bounce_build(&b, &out, &eight), 0);
		TEST_ASSERT_INT(eight, 0);
		TEST_ASSERT(has(&out, "Content-Type: message/delivery-status\n"
		    "\n"));
		TEST_ASSERT(has(&out, "Content-Type: text/rfc822-headers\n"));
		TEST_ASSERT(!has(&out, "global"));
		b.headers_only = 0;
	}
	TEST_END();

	TEST_BEGIN("bounce: a full buffer fails cleanly");
	{
		struct buf small = BUF_INIT(200);

		b.n_rcpts = 1;
		b.original = orig;
		b.original_len = strlen(orig);
		TEST_ASSERT_INT(bounce_build(&b, &small, &eight), -1);
		TEST_ASSERT_INT(errno, ENOBUFS);
		TEST_ASSERT_INT(small.len, 0);
		buf_free(&small);
	}
	TEST_END();

	buf_free(&out);
	return test_summary("test-bounce");
}
