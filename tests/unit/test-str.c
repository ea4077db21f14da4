/* test-str - bounded copies, number parsing, ASCII case folding, UTF-8 */
#include <errno.h>
#include <stdint.h>

#include "fail.h"
#include "str.h"
#include "test.h"
#include "utf8.h"

int
main(void)
{
	char small[4];
	char line[64];
	char *f[4];
	uint64_t v;

	TEST_BEGIN("str_copy: fits with room for the NUL, fails one over");
	TEST_ASSERT_INT(str_copy(small, sizeof(small), "abc"), 0);	/* at */
	TEST_ASSERT_STR(small, "abc");
	TEST_ASSERT_INT(str_copy(small, sizeof(small), "ab"), 0);	/* under */
	TEST_ASSERT_INT(str_copy(small, sizeof(small), "abcd"), -1);	/* over */
	TEST_ASSERT_INT(errno, ENAMETOOLONG);
	TEST_ASSERT_STR(small, "");
	TEST_ASSERT_INT(str_copy_n(small, sizeof(small), "abcdef", 3), 0);
	TEST_ASSERT_STR(small, "abc");
	TEST_END();

	TEST_BEGIN("str_parse_u64: digits only, max enforced");
	TEST_ASSERT_INT(str_parse_u64("512", 3, 512, &v), 0);
	TEST_ASSERT_INT(v, 512);
	TEST_ASSERT_INT(str_parse_u64("513", 3, 512, &v), -1);
	TEST_ASSERT_INT(errno, ERANGE);
	TEST_ASSERT_INT(str_parse_u64("2", 1, 2, &v), 0);	/* small max */
	TEST_ASSERT_INT(str_parse_u64("3", 1, 2, &v), -1);
	TEST_ASSERT_INT(errno, ERANGE);
	TEST_ASSERT_INT(str_parse_u64("0", 1, 0, &v), 0);
	TEST_ASSERT_INT(str_parse_u64("1", 1, 0, &v), -1);
	TEST_ASSERT_INT(str_parse_u64("-1", 2, 512, &v), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(str_parse_u64("+1", 2, 512, &v), -1);
	TEST_ASSERT_INT(str_parse_u64(" 1", 2, 512, &v), -1);
	TEST_ASSERT_INT(str_parse_u64("", 0, 512, &v), -1);
	TEST_ASSERT_INT(str_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
	TEST_ASSERT(v == UINT64_MAX);
	TEST_ASSERT_INT(str_parse_u64("18446744073709551616", 20, UINT64_MAX, &v), -1);
	TEST_ASSERT_INT(errno, ERANGE);
	TEST_END();

	TEST_BEGIN("str: ASCII-only case folding");
	TEST_ASSERT(str_eq_nocase("MAIL FROM", "mail from"));
	TEST_ASSERT(!str_eq_nocase("MAIL", "MAIL "));
	TEST_ASSERT(str_has_prefix_nocase("rcpt to:<a@b>", "RCPT TO:"));
	TEST_ASSERT(!str_has_prefix_nocase("RCPT", "RCPT TO:"));
	TEST_ASSERT(!str_eq_nocase("\xc9", "\xe9"));
	TEST_END();

	TEST_BEGIN("str: trim and split");
	TEST_ASSERT_INT(str_copy(line, sizeof(line), "  a \t bb  c "), 0);
	TEST_ASSERT_STR(str_trim(line), "a \t bb  c");
	TEST_ASSERT_INT(str_split_ws(line, f, 4), 3);
	TEST_ASSERT_STR(f[0], "a");
	TEST_ASSERT_STR(f[1], "bb");
	TEST_ASSERT_STR(f[2], "c");
	TEST_ASSERT_INT(str_copy(line, sizeof(line), "1 2 3 4 5"), 0);
	TEST_ASSERT_INT(str_split_ws(line, f, 4), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	TEST_END();

	TEST_BEGIN("utf8: well-formed accepted, SECURITY.md A9 sequences refused");
	TEST_ASSERT(utf8_valid("\xc3\xa9", 2));
	TEST_ASSERT(utf8_valid("\xef\xbd\x92", 3));	/* fullwidth r: valid */
	TEST_ASSERT(utf8_valid("\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
	TEST_ASSERT(!utf8_valid("\xc0\xaf", 2));	/* overlong */
	TEST_ASSERT(!utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	TEST_ASSERT(!utf8_valid("\xe2\x82", 2));	/* truncated */
	TEST_ASSERT(!utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	TEST_ASSERT(!utf8_valid("\xe0\x80\x80", 3));	/* overlong */
	TEST_ASSERT(!utf8_valid("\x80", 1));
	TEST_ASSERT(utf8_is_ascii("abc", 3));
	TEST_ASSERT(!utf8_is_ascii("\xc3\xa9", 2));
	TEST_END();

	TEST_BEGIN("fail: errno classification and exit statuses");
	TEST_ASSERT_INT(fail_from_errno(ENOSPC), FAIL_TEMP);
	TEST_ASSERT_INT(fail_from_errno(EIO), FAIL_TEMP);
	TEST_ASSERT_INT(fail_from_errno(ENOMEM), FAIL_TEMP);
	TEST_ASSERT_INT(fail_from_errno(ENAMETOOLONG), FAIL_PERM);
	TEST_ASSERT_INT(fail_exit_status(FAIL_TEMP), 111);
	TEST_ASSERT_INT(fail_exit_status(FAIL_PERM), 100);
	TEST_ASSERT_INT(fail_exit_status(FAIL_OK), 0);
	TEST_ASSERT_STR(fail_name(FAIL_PERM), "permanent");
	TEST_END();

	return test_summary("test-str");
}
