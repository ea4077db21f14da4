/*
 * NAME
 *	test-pop3d-parse - pop3d's command parser, base64 and SASL PLAIN
 *
 * DESCRIPTION
 *	pop3d-cmd.c has no I/O, so it is compiled in here whole. The cases
 *	follow RFC 1939, 2449 and 5034 and SECURITY.md P2.
 */
#include <errno.h>
#include <string.h>

#include "../../pop3d/pop3d-cmd.c"
#include "test.h"

/* parse - pop3d_parse on a C string */
static int
parse(const char *s, struct pop3d_cmd *c)
{
	return pop3d_parse(s, strlen(s), c);
}

/* arg_is - c's argument equals s */
static int
arg_is(const struct pop3d_cmd *c, const char *s)
{
	return c->arg != NULL && c->arg_len == strlen(s) &&
	    memcmp(c->arg, s, c->arg_len) == 0;
}

int
main(void)
{
	struct pop3d_cmd c;
	struct buf b = BUF_INIT(4096);
	const char *z, *a, *pw;
	size_t zl, al, pl;
	char big[600];

	TEST_BEGIN("keywords, any case, no argument");
	TEST_ASSERT_INT(parse("STAT", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_STAT);
	TEST_ASSERT_INT(parse("quit", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_QUIT);
	TEST_ASSERT_INT(parse("CaPa", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_CAPA);
	TEST_ASSERT_INT(parse("NOOP  ", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(parse("STLS", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_STLS);
	TEST_ASSERT_INT(parse("RSET x", &c), POP3D_PARSE_SYNTAX);
	TEST_END();

	TEST_BEGIN("unknown commands, APOP not offered");
	TEST_ASSERT_INT(parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb",
	    &c), POP3D_PARSE_UNKNOWN);
	TEST_ASSERT_INT(parse("", &c), POP3D_PARSE_UNKNOWN);
	TEST_ASSERT_INT(parse("ST", &c), POP3D_PARSE_UNKNOWN);
	TEST_ASSERT_INT(parse("STATS", &c), POP3D_PARSE_UNKNOWN);
	TEST_ASSERT_INT(parse(" STAT", &c), POP3D_PARSE_UNKNOWN);
	TEST_ASSERT_INT(parse("XTND XMIT", &c), POP3D_PARSE_UNKNOWN);
	TEST_END();

	TEST_BEGIN("message numbers");
	TEST_ASSERT_INT(parse("RETR 1", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_RETR);
	TEST_ASSERT_INT(c.nnum, 1);
	TEST_ASSERT_INT(c.num[0], 1);
	TEST_ASSERT_INT(parse("RETR 0", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.num[0], 0);
	TEST_ASSERT_INT(parse("RETR 4294967295", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.num[0], 4294967295U);
	TEST_ASSERT_INT(parse("RETR 4294967296", &c), POP3D_PARSE_RANGE);
	TEST_ASSERT_INT(c.bad_num, 0);
	TEST_ASSERT_INT(parse("RETR 18446744073709551616", &c),
	    POP3D_PARSE_RANGE);
	TEST_ASSERT_INT(parse("RETR -1", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("RETR +1", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("RETR 1x", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("RETR", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("RETR 1 2", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("RETR  1", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("DELE 7", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.id, POP3D_CMD_DELE);
	TEST_ASSERT_INT(parse("LIST", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.nnum, 0);
	TEST_ASSERT_INT(parse("LIST 3", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.nnum, 1);
	TEST_ASSERT_INT(parse("UIDL 2 ", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.num[0], 2);
	TEST_ASSERT_INT(parse("UIDL 2 3", &c), POP3D_PARSE_SYNTAX);
	TEST_END();

	TEST_BEGIN("TOP n lines");
	TEST_ASSERT_INT(parse("TOP 1 10", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(c.nnum, 2);
	TEST_ASSERT_INT(c.num[1], 10);
	TEST_ASSERT_INT(parse("TOP 1 0", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(parse("TOP 1 -1", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("TOP 1 99999999999", &c), POP3D_PARSE_RANGE);
	TEST_ASSERT_INT(c.bad_num, 1);
	TEST_ASSERT_INT(parse("TOP 99999999999 1", &c), POP3D_PARSE_RANGE);
	TEST_ASSERT_INT(c.bad_num, 0);
	TEST_ASSERT_INT(parse("TOP 1", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("TOP", &c), POP3D_PARSE_SYNTAX);
	TEST_END();

	TEST_BEGIN("USER and PASS");
	TEST_ASSERT_INT(parse("USER alice@truc.test", &c), POP3D_PARSE_OK);
	TEST_ASSERT(arg_is(&c, "alice@truc.test"));
	TEST_ASSERT_INT(parse("USER", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("USER a b", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("PASS two words ", &c), POP3D_PARSE_OK);
	TEST_ASSERT(arg_is(&c, "two words "));
	TEST_ASSERT_INT(parse("PASS", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("PASS ", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("PASS caf\xc3\xa9", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(pop3d_parse("PASS a\0b", 8, &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("PASS a\rb", &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(pop3d_parse("USER a\0b", 8, &c), POP3D_PARSE_SYNTAX);
	TEST_ASSERT_INT(parse("USER \xc3\xa9", &c), POP3D_PARSE_SYNTAX);
	memset(big, 'a', sizeof(big));
	memcpy(big, "USER ", 5);
	TEST_ASSERT_INT(pop3d_parse(big, 5 + 255, &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(pop3d_parse(big, 5 + 256, &c), POP3D_PARSE_SYNTAX);
	memcpy(big, "PASS ", 5);
	TEST_ASSERT_INT(pop3d_parse(big, 5 + 255, &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(pop3d_parse(big, 5 + 256, &c), POP3D_PARSE_SYNTAX);
	TEST_END();

	TEST_BEGIN("AUTH");
	TEST_ASSERT_INT(parse("AUTH", &c), POP3D_PARSE_OK);
	TEST_ASSERT(c.arg == NULL);
	TEST_ASSERT_INT(parse("AUTH PLAIN", &c), POP3D_PARSE_OK);
	TEST_ASSERT(arg_is(&c, "PLAIN"));
	TEST_ASSERT(c.arg2 == NULL);
	TEST_ASSERT_INT(parse("AUTH PLAIN AGFAYg==", &c), POP3D_PARSE_OK);
	TEST_ASSERT(c.arg2 != NULL && c.arg2_len == 8);
	TEST_ASSERT_INT(parse("AUTH PLAIN =", &c), POP3D_PARSE_OK);
	TEST_ASSERT_INT(parse("AUTH PLAIN a b", &c), POP3D_PARSE_SYNTAX);
	TEST_END();

	TEST_BEGIN("base64, strict");
	buf_reset(&b);
	TEST_ASSERT_INT(pop3d_base64_decode("AGFAYgB4", 8, &b), 0);
	TEST_ASSERT(b.len == 6 && memcmp(b.data, "\0a@b\0x", 6) == 0);
	buf_reset(&b);
	TEST_ASSERT_INT(pop3d_base64_decode("YQ==", 4, &b), 0);
	TEST_ASSERT(b.len == 1 && b.data[0] == 'a');
	buf_reset(&b);
	TEST_ASSERT_INT(pop3d_base64_decode("YWI=", 4, &b), 0);
	TEST_ASSERT(b.len == 2 && memcmp(b.data, "ab", 2) == 0);
	buf_reset(&b);
	TEST_ASSERT_INT(pop3d_base64_decode("=", 1, &b), 0);
	TEST_ASSERT_INT(b.len, 0);
	TEST_ASSERT_INT(pop3d_base64_decode("====", 4, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("YQ=", 3, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("Y===", 4, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("YQ==YQ==", 8, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("YR==", 4, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("Y Q=", 4, &b), -1);
	TEST_ASSERT_INT(pop3d_base64_decode("YQ=a", 4, &b), -1);
	TEST_END();

	TEST_BEGIN("SASL PLAIN message");
	TEST_ASSERT_INT(pop3d_sasl_plain("\0u@d\0pw", 7, &z, &zl, &a, &al,
	    &pw, &pl), 0);
	TEST_ASSERT(zl == 0 && al == 3 && pl == 2);
	TEST_ASSERT(memcmp(a, "u@d", 3) == 0 && memcmp(pw, "pw", 2) == 0);
	TEST_ASSERT_INT(pop3d_sasl_plain("z\0u\0p w", 7, &z, &zl, &a, &al,
	    &pw, &pl), 0);
	TEST_ASSERT(zl == 1 && pl == 3);
	TEST_ASSERT_INT(pop3d_sasl_plain("\0u\0", 3, &z, &zl, &a, &al, &pw,
	    &pl), -1);
	TEST_ASSERT_INT(pop3d_sasl_plain("\0\0p", 3, &z, &zl, &a, &al, &pw,
	    &pl), -1);
	TEST_ASSERT_INT(pop3d_sasl_plain("u\0p", 3, &z, &zl, &a, &al, &pw,
	    &pl), -1);
	TEST_ASSERT_INT(pop3d_sasl_plain("\0u\0p\0q", 6, &z, &zl, &a, &al,
	    &pw, &pl), -1);
	TEST_ASSERT_INT(pop3d_sasl_plain("", 0, &z, &zl, &a, &al, &pw, &pl),
	    -1);
	TEST_END();

	buf_free(&b);
	return test_summary("test-pop3d-parse");
}
