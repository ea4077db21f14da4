/* test-smtp-cmd - smtpd's command line and ESMTP parameter parsers */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "test.h"

#include "../../smtpd/smtpd-cmd.c"
#include "../../smtpd/smtpd-param.c"

static struct smtp_cmd cmd;
static struct smtp_reply err;
static struct addr a;
static struct smtp_mail_params mp;
static struct smtp_rcpt_params rp;

/* parse - smtp_cmd_parse on a C string */
static enum smtp_verb
parse(const char *s)
{
	(void)smtp_cmd_parse(s, strlen(s), &cmd);
	return cmd.verb;
}

/* arg_is - the parsed argument equals s */
static int
arg_is(const char *s)
{
	return cmd.arglen == strlen(s) && memcmp(cmd.arg, s, cmd.arglen) == 0;
}

/* check - smtp_check_line after parsing; the reply code or 0 */
static int
check(const char *s, size_t len)
{
	(void)smtp_cmd_parse(s, len, &cmd);
	memset(&err, 0, sizeof(err));
	return smtp_check_line(s, len, &cmd, &err) < 0 ? err.code : 0;
}

#define CHK(lit)	check((lit), sizeof(lit) - 1)

/* mail - smtp_parse_mail; the reply code or 0 */
static int
mail(const char *s, int flags)
{
	memset(&err, 0, sizeof(err));
	return smtp_parse_mail(s, strlen(s), flags, 1000, &a, &mp, &err) < 0 ?
	    err.code : 0;
}

/* rcpt - smtp_parse_rcpt; the reply code or 0 */
static int
rcpt(const char *s, int flags)
{
	memset(&err, 0, sizeof(err));
	return smtp_parse_rcpt(s, strlen(s), flags, &a, &rp, &err) < 0 ?
	    err.code : 0;
}

/* bdat - smtp_parse_bdat; -1 malformed, else the size (LAST in *last) */
static int64_t
bdat(const char *s, int *last)
{
	uint64_t size;

	if (smtp_parse_bdat(s, strlen(s), &size, last) < 0)
		return -1;
	return (int64_t)size;
}

/* xt - decode xtext into out; -1 or the decoded length */
static long
xt(const char *s, int utf8, char *out, size_t size)
{
	size_t n;

	return smtp_xtext_decode(s, strlen(s), utf8, out, size, &n) < 0 ?
	    -1 : (long)n;
}

/* main - run the cases */
int
main(void)
{
	char out[256];
	struct buf b = BUF_INIT(1024);
	int last = -1;

	TEST_BEGIN("verbs in any case, argument after spaces, trailing spaces");
	TEST_ASSERT(parse("helo x") == SMTP_HELO && arg_is("x"));
	TEST_ASSERT(parse("EhLo   a.example  ") == SMTP_EHLO &&
	    arg_is("a.example"));
	TEST_ASSERT(parse("MAIL FROM:<a@b>") == SMTP_MAIL &&
	    arg_is("FROM:<a@b>"));
	TEST_ASSERT(parse("STARTTLS") == SMTP_STARTTLS && arg_is(""));
	TEST_ASSERT(parse("QUIT ") == SMTP_QUIT && arg_is(""));
	TEST_ASSERT(parse("BDAT 5 LAST") == SMTP_BDAT);
	TEST_ASSERT(parse("TURN") == SMTP_TURN);
	TEST_ASSERT(parse("GET / HTTP/1.0") == SMTP_HTTP);
	TEST_ASSERT(parse("POST /x") == SMTP_HTTP);
	TEST_END();

	TEST_BEGIN("unknown verbs");
	TEST_ASSERT(parse("") == SMTP_UNKNOWN);
	TEST_ASSERT(parse(" HELO x") == SMTP_UNKNOWN);
	TEST_ASSERT(parse("HELOX") == SMTP_UNKNOWN);
	TEST_ASSERT(parse("MAIL:FROM") == SMTP_UNKNOWN);
	TEST_ASSERT(parse("HELO\tx") == SMTP_UNKNOWN);
	TEST_ASSERT(parse("STARTTL") == SMTP_UNKNOWN);
	TEST_ASSERT(parse("ETRN x") == SMTP_UNKNOWN);
	TEST_END();

	TEST_BEGIN("command line lengths");
	TEST_ASSERT(smtp_cmd_text_max(SMTP_NOOP, 1) == 510);
	TEST_ASSERT(smtp_cmd_text_max(SMTP_MAIL, 0) == 510);
	TEST_ASSERT(smtp_cmd_text_max(SMTP_MAIL, 1) > 1000);
	TEST_ASSERT(smtp_cmd_text_max(SMTP_RCPT, 1) == 1010);
	TEST_ASSERT(smtp_cmd_text_max(SMTP_AUTH, 0) == 12288);
	TEST_END();

	TEST_BEGIN("NUL, control characters and 8-bit text (A4, A9)");
	TEST_ASSERT(CHK("NOOP") == 0);
	TEST_ASSERT(CHK("MAIL FROM:<a\0b@x>") == 501);
	TEST_ASSERT(strcmp(err.status, "5.5.2") == 0);
	TEST_ASSERT(CHK("NO\0OP") == 500);
	TEST_ASSERT(CHK("EHLO x\x1b[31m") == 501);
	TEST_ASSERT(CHK("NOOP\ta") == 500);	/* "NOOP\t" is no verb */
	TEST_ASSERT(CHK("NOOP a\rb") == 501);
	TEST_ASSERT(CHK("NOOP \x7f") == 501);
	TEST_ASSERT(CHK("MAIL FROM:<\xc3\xa9@x>") == 0);
	TEST_ASSERT(CHK("RCPT TO:<\xc3\xa9@x>") == 0);
	TEST_ASSERT(CHK("EHLO \xc3\xa9") == 501);
	TEST_ASSERT(CHK("X \xc3\xa9") == 500);
	TEST_ASSERT(CHK("MAIL FROM:<\xc0\xaf@x>") == 500);
	TEST_ASSERT(CHK("MAIL FROM:<\xed\xa0\x80@x>") == 500);
	TEST_ASSERT(CHK("MAIL FROM:<\xe2\x82") == 500);
	TEST_ASSERT(CHK("MAIL FROM:<\xf4\x90\x80\x80>") == 500);
	TEST_END();

	TEST_BEGIN("HELO/EHLO argument");
	TEST_ASSERT(smtp_parse_helo("a.example", 9, out, sizeof(out),
	    &err) == 0 && strcmp(out, "a.example") == 0);
	TEST_ASSERT(smtp_parse_helo("[127.0.0.1]", 11, out, sizeof(out),
	    &err) == 0);
	TEST_ASSERT(smtp_parse_helo("", 0, out, sizeof(out), &err) < 0 &&
	    err.code == 501);
	TEST_ASSERT(smtp_parse_helo("a b", 3, out, sizeof(out), &err) < 0);
	memset(out, 'x', 256);
	TEST_ASSERT(smtp_parse_helo(out, 255, out + 0, sizeof(out), &err) ==
	    0);
	memset(out, 'x', 256);
	TEST_ASSERT(smtp_parse_helo(out, 256, out, sizeof(out), &err) < 0);
	TEST_END();

	TEST_BEGIN("MAIL FROM: paths");
	TEST_ASSERT(mail("FROM:<a@b.example>", 0) == 0);
	TEST_ASSERT(strcmp(a.local, "a") == 0 &&
	    strcmp(a.domain, "b.example") == 0);
	TEST_ASSERT(mail("from: <A@B.Example>", 0) == 0 &&
	    strcmp(a.domain, "b.example") == 0);
	TEST_ASSERT(mail("FROM:<>", 0) == 0 && (a.flags & ADDR_F_NULL));
	TEST_ASSERT(mail("FROM:<@r.example:a@b.example>", 0) == 0 &&
	    (a.flags & ADDR_F_ROUTE) && strcmp(a.domain, "b.example") == 0);
	TEST_ASSERT(mail("FROM:a@b.example", 0) == 501);
	TEST_ASSERT(strcmp(err.status, "5.1.7") == 0);
	TEST_ASSERT(mail("TO:<a@b.example>", 0) == 501);
	TEST_ASSERT(strcmp(err.status, "5.5.4") == 0);
	TEST_ASSERT(mail("FROM:<;sleep 66;>", 0) == 501);	/* A1 */
	TEST_ASSERT(mail("FROM:<a@b.example>x", 1) == 501);
	/* A9 */
	TEST_ASSERT(mail("FROM:<\xc3\xa9@b.example>", 1) == 553);
	TEST_ASSERT(strcmp(err.status, "5.6.7") == 0);
	TEST_ASSERT(mail("FROM:<\xc3\xa9@b.example> SMTPUTF8", 1) == 0);
	TEST_ASSERT(mail("FROM:<a@b.example> SIZE=1", 0) == 555);
	TEST_END();

	TEST_BEGIN("MAIL parameters");
	TEST_ASSERT(mail("FROM:<a@b> SIZE=1000", 1) == 0 && mp.has_size &&
	    mp.size == 1000);
	TEST_ASSERT(mail("FROM:<a@b> SIZE=1001", 1) == 552);
	TEST_ASSERT(strcmp(err.status, "5.3.4") == 0);
	TEST_ASSERT(mail("FROM:<a@b> SIZE=18446744073709551616", 1) == 552);
	TEST_ASSERT(mail("FROM:<a@b> SIZE=-1", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> SIZE=", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> BODY=8bitmime", 1) == 0 &&
	    mp.body == SMTP_BODY_8BITMIME);
	TEST_ASSERT(mail("FROM:<a@b> BODY=7BIT", 1) == 0 &&
	    mp.body == SMTP_BODY_7BIT);
	TEST_ASSERT(mail("FROM:<a@b> BODY=BINARYMIME", 1) == 555);
	TEST_ASSERT(mail("FROM:<a@b> RET=FULL ENVID=x+2By", 1) == 0 &&
	    mp.ret == SMTP_RET_FULL && strcmp(mp.envid, "x+y") == 0);
	TEST_ASSERT(mail("FROM:<a@b> RET=HDRS  SIZE=5", 1) == 0 &&
	    mp.ret == SMTP_RET_HDRS && mp.size == 5);
	TEST_ASSERT(mail("FROM:<a@b> SIZE=5 SIZE=5", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> AUTH=<>", 1) == 555);
	TEST_ASSERT(mail("FROM:<a@b> AUTH=<>", 1 | SMTP_P_AUTH) == 0 &&
	    strcmp(mp.auth, "<>") == 0);
	TEST_ASSERT(mail("FROM:<a@b> AUTH=a+40b", 1 | SMTP_P_AUTH) == 0 &&
	    strcmp(mp.auth, "a@b") == 0);
	TEST_ASSERT(mail("FROM:<a@b> AUTH=<x+0AX:+20y>", 1 | SMTP_P_AUTH) ==
	    501);					/* A3 */
	TEST_ASSERT(mail("FROM:<a@b> ENVID=a+0D+0Ab", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> FOO", 1) == 555);
	TEST_ASSERT(mail("FROM:<a@b> -X", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> SMTPUTF8=1", 1) == 501);
	TEST_ASSERT(mail("FROM:<a@b> SIZE==5", 1) == 501);
	memset(out, 0, sizeof(out));
	memcpy(out, "FROM:<a@b> ENVID=", 17);
	memset(out + 17, 'e', 100);
	TEST_ASSERT(mail(out, 1) == 0);
	out[117] = 'e';
	TEST_ASSERT(mail(out, 1) == 501);
	TEST_END();

	TEST_BEGIN("RCPT TO: paths and parameters");
	TEST_ASSERT(rcpt("TO:<u@l.example>", 1) == 0);
	TEST_ASSERT(rcpt("TO:<Postmaster>", 1) == 0 &&
	    strcmp(a.local, "postmaster") == 0 && a.domain[0] == '\0');
	TEST_ASSERT(rcpt("TO:<>", 1) == 501);
	TEST_ASSERT(strcmp(err.status, "5.1.3") == 0);
	TEST_ASSERT(rcpt("TO:<u@l> NOTIFY=SUCCESS,FAILURE", 1) == 0 &&
	    rp.notify == (ENVELOPE_NOTIFY_SUCCESS | ENVELOPE_NOTIFY_FAILURE));
	TEST_ASSERT(rcpt("TO:<u@l> NOTIFY=NEVER,DELAY", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> NOTIFY=", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> ORCPT=rfc822;u+40l", 1) == 0 &&
	    rp.has_orcpt && strcmp(rp.orcpt, "rfc822;u@l") == 0);
	TEST_ASSERT(rcpt("TO:<u@l> ORCPT=rfc822;a+0Ab@c", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> ORCPT=;x", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> ORCPT=rfc822;", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> ORCPT=x;a ORCPT=x;a", 1) == 501);
	TEST_ASSERT(rcpt("TO:<u@l> SIZE=1", 1) == 555);
	TEST_ASSERT(rcpt("TO:<u@l> NOTIFY=NEVER", 0) == 555);
	TEST_ASSERT(rcpt("TO:<\xc3\xa9@l>", 1) == 553);
	TEST_ASSERT(rcpt("TO:<\xc3\xa9@l>", 1 | SMTP_P_UTF8) == 0);
	/* Routing syntax stays where it is (O1-O3). */
	TEST_ASSERT(rcpt("TO:<v%victim.example@l.example>", 1) == 0 &&
	    strcmp(a.local, "v%victim.example") == 0 &&
	    strcmp(a.domain, "l.example") == 0);
	TEST_ASSERT(rcpt("TO:<@l.example:v@victim.example>", 1) == 0 &&
	    strcmp(a.domain, "victim.example") == 0);
	TEST_ASSERT(rcpt("TO:<\"v@victim.example\"@l.example>", 1) == 0 &&
	    strcmp(a.domain, "l.example") == 0 && (a.flags & ADDR_F_QUOTED));
	TEST_ASSERT(rcpt("TO:<victim.example!v>", 1) == 501);
	TEST_ASSERT(rcpt("TO:<v@l.example.>", 1) == 501);
	TEST_ASSERT(rcpt("TO:<v@192.0.2.1>", 1) == 501);
	TEST_ASSERT(rcpt("TO:<a@b@c>", 1) == 501);
	TEST_ASSERT(rcpt("TO:<\"\">", 1) == 501);
	TEST_ASSERT(rcpt("TO:< @a>", 1) == 501);
	TEST_END();

	TEST_BEGIN("BDAT arguments (S4)");
	TEST_ASSERT(bdat("0", &last) == 0 && last == 0);
	TEST_ASSERT(bdat("86 LAST", &last) == 86 && last == 1);
	TEST_ASSERT(bdat("86 last", &last) == 86 && last == 1);
	TEST_ASSERT(bdat("86   LAST", &last) == 86 && last == 1);
	{
		uint64_t big = 0;

		TEST_ASSERT(smtp_parse_bdat("18446744073709551615", 20, &big,
		    &last) == 0 && big == UINT64_MAX);
	}
	TEST_ASSERT(bdat("18446744073709551616", &last) == -1);
	TEST_ASSERT(bdat("-1", &last) == -1);
	TEST_ASSERT(bdat("5 FOO", &last) == -1);
	TEST_ASSERT(bdat("5 LASTX", &last) == -1);
	TEST_ASSERT(bdat("", &last) == -1);
	TEST_ASSERT(bdat("+5", &last) == -1);
	TEST_ASSERT(bdat("5x", &last) == -1);
	TEST_ASSERT(bdat("000000000000000000000005", &last) == -1);
	TEST_END();

	TEST_BEGIN("xtext");
	TEST_ASSERT(xt("abc", 0, out, sizeof(out)) == 3);
	TEST_ASSERT(xt("a+2Bb+3Dc", 0, out, sizeof(out)) == 5 &&
	    strcmp(out, "a+b=c") == 0);
	TEST_ASSERT(xt("a+2bb", 0, out, sizeof(out)) == 3);
	TEST_ASSERT(xt("a+0A", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+00", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+7F", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+2", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+GG", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a=b", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a b", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+C3+A9", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("a+C3+A9", 1, out, sizeof(out)) == 3);
	TEST_ASSERT(xt("a+C3", 1, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("\xc3\xa9", 1, out, sizeof(out)) == 2);
	TEST_ASSERT(xt("\xc3\xa9", 0, out, sizeof(out)) == -1);
	TEST_ASSERT(xt("abcd", 0, out, 4) == -1 && errno == ENAMETOOLONG);
	TEST_ASSERT(xt("abc", 0, out, 4) == 3);
	TEST_ASSERT(smtp_xtext_encode("a+b=c d\x01", 8, &b) == 0 &&
	    strcmp(buf_cstr(&b), "a+2Bb+3Dc+20d+01") == 0);
	TEST_END();

	TEST_BEGIN("VRFY/EXPN argument");
	TEST_ASSERT(smtp_parse_vrfy("a@b.example", 11, 0, &a) == 0 &&
	    strcmp(a.local, "a") == 0);
	TEST_ASSERT(smtp_parse_vrfy("<a@b.example>", 13, 0, &a) == 0);
	TEST_ASSERT(smtp_parse_vrfy("<a@b.example> x", 15, 0, &a) < 0);
	TEST_ASSERT(smtp_parse_vrfy("John Smith", 10, 0, &a) < 0);
	TEST_END();

	buf_free(&b);
	return test_summary("test-smtp-cmd");
}
