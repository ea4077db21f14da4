/* test-buf - bounded buffers: growth, limits, NUL bytes, printf */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "test.h"

int
main(void)
{
	struct buf b = BUF_INIT(8);
	int i, r;

	TEST_BEGIN("buf: an unused buffer is the empty string");
	TEST_ASSERT_STR(buf_cstr(&b), "");
	TEST_ASSERT_INT(b.len, 0);
	TEST_END();

	TEST_BEGIN("buf: append up to max succeeds, one over fails unchanged");
	TEST_ASSERT_INT(buf_append(&b, "1234567", 7), 0);	/* under */
	TEST_ASSERT_INT(buf_append_char(&b, '8'), 0);		/* at */
	errno = 0;
	TEST_ASSERT_INT(buf_append_char(&b, '9'), -1);		/* over */
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT_STR(buf_cstr(&b), "12345678");
	TEST_ASSERT_INT(b.len, 8);
	TEST_END();

	TEST_BEGIN("buf: printf past max fails and leaves the buffer unchanged");
	buf_reset(&b);
	TEST_ASSERT_INT(buf_printf(&b, "%d-%s", 42, "ab"), 0);
	TEST_ASSERT_STR(buf_cstr(&b), "42-ab");
	TEST_ASSERT_INT(buf_printf(&b, "%s", "xyzw"), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT_STR(buf_cstr(&b), "42-ab");
	TEST_ASSERT_INT(buf_printf(&b, "%s", "xyz"), 0);
	TEST_ASSERT_STR(buf_cstr(&b), "42-abxyz");
	TEST_END();

	TEST_BEGIN("buf: NUL bytes are kept and reported");
	buf_reset(&b);
	TEST_ASSERT_INT(buf_append(&b, "a\0b", 3), 0);
	TEST_ASSERT_INT(b.len, 3);
	TEST_ASSERT(buf_has_nul(&b));
	TEST_ASSERT(memcmp(b.data, "a\0b", 3) == 0);
	TEST_END();

	TEST_BEGIN("buf: consume and truncate");
	TEST_ASSERT_INT(buf_set(&b, "abcdef", 6), 0);
	buf_consume(&b, 2);
	TEST_ASSERT_STR(buf_cstr(&b), "cdef");
	buf_truncate(&b, 2);
	TEST_ASSERT_STR(buf_cstr(&b), "cd");
	buf_truncate(&b, 10);
	TEST_ASSERT_STR(buf_cstr(&b), "cd");
	buf_consume(&b, 5);
	TEST_ASSERT_STR(buf_cstr(&b), "");
	TEST_ASSERT_INT(buf_set(&b, "123456789", 9), -1);
	buf_free(&b);
	TEST_END();

	TEST_BEGIN("buf: grows to a large max one byte at a time");
	buf_init(&b, 100000);
	for (i = 0, r = 0; i < 100000 && r == 0; i++)
		r = buf_append_char(&b, (char)('a' + i % 26));
	TEST_ASSERT_INT(r, 0);
	TEST_ASSERT_INT(b.len, 100000);
	TEST_ASSERT_INT(buf_append_char(&b, 'x'), -1);
	TEST_ASSERT(b.data[99999] == (char)('a' + 99999 % 26));
	TEST_ASSERT(b.data[100000] == '\0');
	buf_free(&b);
	TEST_END();

	TEST_BEGIN("buf: a huge append is refused, not overflowed");
	buf_init(&b, SIZE_MAX);
	TEST_ASSERT_INT(buf_append_char(&b, 'a'), 0);
	TEST_ASSERT_INT(buf_reserve(&b, SIZE_MAX), -1);
	TEST_ASSERT_INT(buf_reserve(&b, SIZE_MAX - 1), -1);
	TEST_ASSERT_STR(buf_cstr(&b), "a");
	buf_free(&b);
	TEST_END();

	return test_summary("test-buf");
}
