/*
 * NAME
 *	test-authd-proto - unit tests for the authd request and reply lines
 *	(authproto(3))
 *
 * DESCRIPTION
 *	Parses and formats requests and replies: the forms AUTHD.md gives,
 *	round trips (passwords of any octets included), and the limits:
 *	line length, field counts, service, address, user and ticket
 *	syntax, base64 strictness and the password length.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authproto.h"
#include "buf.h"
#include "test.h"

/* parse_req - authproto_parse_request of a C string */
static int
parse_req(const char *line, struct authproto_request *r)
{
	const char *why;

	return authproto_parse_request(line, strlen(line), r, &why);
}

/* parse_rep - authproto_parse_reply of a C string */
static int
parse_rep(const char *line, struct authproto_reply *r)
{
	const char *why;

	return authproto_parse_reply(line, strlen(line), r, &why);
}

static void
test_requests(void)
{
	struct authproto_request r;
	char big[AUTHPROTO_LINE_MAX + 16];

	TEST_BEGIN("authproto: PASS and TICKET requests parse");
	TEST_ASSERT_INT(parse_req("PASS\timapd\t192.0.2.1\tfred@a.test\t"
	    "c2VjcmV0", &r), 0);
	TEST_ASSERT_INT(r.type, AUTHPROTO_PASS);
	TEST_ASSERT_STR(r.service, "imapd");
	TEST_ASSERT_STR(r.ip, "192.0.2.1");
	TEST_ASSERT_STR(r.user, "fred@a.test");
	TEST_ASSERT_INT(r.password_len, 6);
	TEST_ASSERT(memcmp(r.password, "secret", 6) == 0);
	TEST_ASSERT_INT(parse_req("PASS\tpop3d\t2001:db8::1\tx\t", &r), 0);
	TEST_ASSERT_INT(r.password_len, 0);
	TEST_ASSERT_INT(parse_req("PASS\tsmtpd\t-\tx\tAA==", &r), 0);
	TEST_ASSERT_INT(r.password_len, 1);
	TEST_ASSERT_INT(r.password[0], 0);	/* any octet, NUL too */
	TEST_ASSERT_INT(parse_req("TICKET\timapd\t"
	    "0123456789abcdef0123456789abcdef", &r), 0);
	TEST_ASSERT_INT(r.type, AUTHPROTO_TICKET);
	TEST_ASSERT_STR(r.ticket, "0123456789abcdef0123456789abcdef");
	TEST_END();

	TEST_BEGIN("authproto: malformed requests are refused");
	TEST_ASSERT_INT(parse_req("", &r), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(parse_req("PASS", &r), -1);
	TEST_ASSERT_INT(parse_req("pass\timapd\t-\tx\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx\t\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\tIMAPD\t-\tx\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\t\t-\tx\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t\tx\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t1.2.3.4 \tx\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\t\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\ta\rb\t", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx\tc2VjcmV0\r", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx\tc2VjcmV", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx\tc2VjcmV0=", &r), -1);
	TEST_ASSERT_INT(parse_req("PASS\timapd\t-\tx\tAB==", &r), -1);
	TEST_ASSERT_INT(parse_req("TICKET\timapd\t"
	    "0123456789ABCDEF0123456789abcdef", &r), -1);
	TEST_ASSERT_INT(parse_req("TICKET\timapd\t"
	    "0123456789abcdef0123456789abcde", &r), -1);
	TEST_ASSERT_INT(parse_req("TICKET\timapd", &r), -1);
	TEST_ASSERT_INT(authproto_parse_request("PASS\0\timapd\t-\tx\t", 14,
	    &r, &(const char *){ NULL }), -1);
	TEST_END();

	TEST_BEGIN("authproto: the limits of a request");
	memset(big, 'a', sizeof(big));
	/* A service of 32 octets is fine, 33 is not. */
	(void)snprintf(big, sizeof(big), "PASS\t%.32s\t-\tx\t",
	    "abcdefghijklmnopqrstuvwxyz012345");
	TEST_ASSERT_INT(parse_req(big, &r), 0);
	(void)snprintf(big, sizeof(big), "PASS\t%.33s\t-\tx\t",
	    "abcdefghijklmnopqrstuvwxyz0123456");
	TEST_ASSERT_INT(parse_req(big, &r), -1);
	/* A user of AUTH_USER_MAX octets is fine, one more is not. */
	memcpy(big, "PASS\tx\t-\t", 9);
	memset(big + 9, 'u', AUTH_USER_MAX);
	big[9 + AUTH_USER_MAX] = '\t';
	big[10 + AUTH_USER_MAX] = '\0';
	TEST_ASSERT_INT(parse_req(big, &r), 0);
	memset(big + 9, 'u', AUTH_USER_MAX + 1);
	big[10 + AUTH_USER_MAX] = '\t';
	big[11 + AUTH_USER_MAX] = '\0';
	TEST_ASSERT_INT(parse_req(big, &r), -1);
	/* A password of AUTHPROTO_PASSWORD_MAX octets (684 of base64). */
	memcpy(big, "PASS\tx\t-\tu\t", 11);
	memset(big + 11, 'A', 683);
	big[11 + 683] = '=';
	big[11 + 684] = '\0';
	TEST_ASSERT_INT(parse_req(big, &r), 0);
	TEST_ASSERT_INT(r.password_len, AUTHPROTO_PASSWORD_MAX);
	big[11 + 683] = 'A';	/* 513 octets */
	TEST_ASSERT_INT(parse_req(big, &r), -1);
	memset(big + 11, 'A', 688);
	big[11 + 688] = '\0';
	TEST_ASSERT_INT(parse_req(big, &r), -1);
	/* A line of AUTHPROTO_LINE_MAX octets without its LF is too long. */
	memset(big, 'A', AUTHPROTO_LINE_MAX);
	TEST_ASSERT_INT(authproto_parse_request(big, AUTHPROTO_LINE_MAX, &r,
	    &(const char *){ NULL }), -1);
	TEST_END();
}

static void
test_format_request(void)
{
	struct authproto_request r, back;
	struct buf out = BUF_INIT(4096);
	const char *why;
	size_t i;

	TEST_BEGIN("authproto: requests round trip, any password octets");
	memset(&r, 0, sizeof(r));
	r.type = AUTHPROTO_PASS;
	(void)snprintf(r.service, sizeof(r.service), "pop3d");
	(void)snprintf(r.ip, sizeof(r.ip), "2001:db8::7");
	(void)snprintf(r.user, sizeof(r.user), "\xc3\xa9lodie@a.test");
	for (i = 0; i < sizeof(r.password); i++)
		r.password[i] = (char)(i * 7);
	for (r.password_len = 0; r.password_len <= sizeof(r.password);
	    r.password_len += 101) {
		buf_reset(&out);
		TEST_ASSERT_INT(authproto_format_request(&r, &out), 0);
		TEST_ASSERT(out.len <= AUTHPROTO_LINE_MAX);
		TEST_ASSERT(out.data[out.len - 1] == '\n');
		TEST_ASSERT_INT(authproto_parse_request(out.data, out.len - 1,
		    &back, &why), 0);
		TEST_ASSERT_INT(back.password_len, r.password_len);
		TEST_ASSERT(memcmp(back.password, r.password,
		    r.password_len) == 0);
		TEST_ASSERT_STR(back.user, r.user);
		TEST_ASSERT_STR(back.ip, r.ip);
	}
	buf_reset(&out);
	r.password_len = 6;
	memcpy(r.password, "secret", 6);
	TEST_ASSERT_INT(authproto_format_request(&r, &out), 0);
	TEST_ASSERT_STR(buf_cstr(&out), "PASS\tpop3d\t2001:db8::7\t"
	    "\xc3\xa9lodie@a.test\tc2VjcmV0\n");
	authproto_request_wipe(&r);
	TEST_ASSERT_INT(r.password[0], 0);
	TEST_END();

	TEST_BEGIN("authproto: a request that would not parse is not written");
	memset(&r, 0, sizeof(r));
	r.type = AUTHPROTO_PASS;
	(void)snprintf(r.service, sizeof(r.service), "imapd");
	(void)snprintf(r.ip, sizeof(r.ip), "-");
	(void)snprintf(r.user, sizeof(r.user), "a\tb");
	buf_reset(&out);
	TEST_ASSERT_INT(authproto_format_request(&r, &out), -1);
	TEST_ASSERT_INT(out.len, 0);
	(void)snprintf(r.user, sizeof(r.user), "ab");
	(void)snprintf(r.service, sizeof(r.service), "Imapd");
	TEST_ASSERT_INT(authproto_format_request(&r, &out), -1);
	r.type = AUTHPROTO_TICKET;
	(void)snprintf(r.service, sizeof(r.service), "imapd");
	(void)snprintf(r.ticket, sizeof(r.ticket), "xyz");
	TEST_ASSERT_INT(authproto_format_request(&r, &out), -1);
	(void)snprintf(r.ticket, sizeof(r.ticket),
	    "00112233445566778899aabbccddeeff");
	TEST_ASSERT_INT(authproto_format_request(&r, &out), 0);
	TEST_ASSERT_STR(buf_cstr(&out),
	    "TICKET\timapd\t00112233445566778899aabbccddeeff\n");
	TEST_END();
	buf_free(&out);
}

static void
test_replies(void)
{
	struct authproto_reply r, back;
	struct buf out = BUF_INIT(4096);
	const char *why;

	TEST_BEGIN("authproto: replies parse");
	TEST_ASSERT_INT(parse_rep("OK\tfred@a.test\t"
	    "00112233445566778899aabbccddeeff", &r), 0);
	TEST_ASSERT_INT(r.kind, AUTHPROTO_OK);
	TEST_ASSERT_STR(r.user, "fred@a.test");
	TEST_ASSERT_STR(r.ticket, "00112233445566778899aabbccddeeff");
	TEST_ASSERT_INT(parse_rep("OK\tfred@a.test", &r), 0);
	TEST_ASSERT_STR(r.ticket, "");
	TEST_ASSERT_INT(parse_rep("NO\tthrottled\t900\ttoo many", &r), 0);
	TEST_ASSERT_INT(r.kind, AUTHPROTO_NO);
	TEST_ASSERT_INT(r.throttled, 1);
	TEST_ASSERT_INT(r.wait, 900);
	TEST_ASSERT_STR(r.text, "too many");
	TEST_ASSERT_INT(parse_rep("NO\tauth\t0\t", &r), 0);
	TEST_ASSERT_INT(r.throttled, 0);
	TEST_ASSERT_INT(parse_rep("TEMP\ttable unreadable", &r), 0);
	TEST_ASSERT_INT(r.kind, AUTHPROTO_TEMP);
	TEST_END();

	TEST_BEGIN("authproto: malformed replies are refused");
	TEST_ASSERT_INT(parse_rep("OK", &r), -1);
	TEST_ASSERT_INT(parse_rep("OK\t", &r), -1);
	TEST_ASSERT_INT(parse_rep("OK\tfred\tnot-a-ticket", &r), -1);
	TEST_ASSERT_INT(parse_rep("NO\tmaybe\t0\tx", &r), -1);
	TEST_ASSERT_INT(parse_rep("NO\tauth\t-1\tx", &r), -1);
	TEST_ASSERT_INT(parse_rep("NO\tauth\t86401\tx", &r), -1);
	TEST_ASSERT_INT(parse_rep("NO\tauth\t0", &r), -1);
	TEST_ASSERT_INT(parse_rep("NO\tauth\t0\tx\ty", &r), -1);
	TEST_ASSERT_INT(parse_rep("TEMP", &r), -1);
	TEST_ASSERT_INT(parse_rep("TEMP\ta\x01", &r), -1);
	TEST_ASSERT_INT(parse_rep("YES\tfred", &r), -1);
	TEST_END();

	TEST_BEGIN("authproto: replies round trip; bad fields are not written");
	memset(&r, 0, sizeof(r));
	r.kind = AUTHPROTO_NO;
	r.throttled = 1;
	r.wait = 12;
	(void)snprintf(r.text, sizeof(r.text), "too many failed logins");
	TEST_ASSERT_INT(authproto_format_reply(&r, &out), 0);
	TEST_ASSERT_STR(buf_cstr(&out),
	    "NO\tthrottled\t12\ttoo many failed logins\n");
	TEST_ASSERT_INT(authproto_parse_reply(out.data, out.len - 1, &back,
	    &why), 0);
	TEST_ASSERT_INT(back.wait, 12);
	buf_reset(&out);
	r.wait = AUTHPROTO_WAIT_MAX + 1;
	TEST_ASSERT_INT(authproto_format_reply(&r, &out), -1);
	memset(&r, 0, sizeof(r));
	r.kind = AUTHPROTO_OK;
	(void)snprintf(r.user, sizeof(r.user), "fred@a.test");
	TEST_ASSERT_INT(authproto_format_reply(&r, &out), 0);
	TEST_ASSERT_STR(buf_cstr(&out), "OK\tfred@a.test\n");
	(void)snprintf(r.user, sizeof(r.user), "fr\ted");
	TEST_ASSERT_INT(authproto_format_reply(&r, &out), -1);
	memset(&r, 0, sizeof(r));
	r.kind = AUTHPROTO_TEMP;
	(void)snprintf(r.text, sizeof(r.text), "a\nb");
	TEST_ASSERT_INT(authproto_format_reply(&r, &out), -1);
	TEST_END();
	buf_free(&out);
}

int
main(void)
{
	test_requests();
	test_format_request();
	test_replies();
	return test_summary("test-authd-proto");
}
