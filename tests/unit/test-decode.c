/*
 * test-decode - Content-Transfer-Encoding decoders (decode.h)
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "decode.h"
#include "test.h"

/* dec - decode s with cte into b (reset first); the return value */
static int
dec(const char *cte, const char *s, size_t len, struct buf *b)
{
	const char *error = NULL;
	int r;

	buf_reset(b);
	errno = 0;
	r = decode_cte(cte, s, len, b, &error);
	if (r < 0 && error == NULL)
		return -2;
	return r;
}

/* is - b holds exactly the n octets at p */
static int
is(const struct buf *b, const char *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

#define DEC_OK(cte, in, want) do { \
	TEST_ASSERT_INT(dec((cte), (in), strlen(in), &b), 0); \
	TEST_ASSERT(is(&b, (want), strlen(want))); \
} while (0)

#define WORDS(in, want) do { \
	buf_reset(&b); \
	TEST_ASSERT_INT(decode_words((in), strlen(in), &b), 0); \
	TEST_ASSERT(is(&b, (want), strlen(want))); \
	if (!is(&b, (want), strlen(want))) \
		printf("  got \"%.*s\"\n", (int)b.len, b.data); \
} while (0)

int
main(void)
{
	struct buf b = BUF_INIT(1024 * 1024), small = BUF_INIT(4);
	const char *error;

	TEST_BEGIN("base64 RFC 4648 vectors");
	DEC_OK("base64", "", "");
	DEC_OK("base64", "Zg==", "f");
	DEC_OK("base64", "Zm8=", "fo");
	DEC_OK("base64", "Zm9v", "foo");
	DEC_OK("base64", "Zm9vYg==", "foob");
	DEC_OK("base64", "Zm9vYmE=", "fooba");
	DEC_OK("base64", "Zm9vYmFy", "foobar");
	TEST_END();

	TEST_BEGIN("base64 whitespace and line breaks");
	DEC_OK("base64", "Zm9v\r\nYmFy\r\n", "foobar");
	DEC_OK("base64", " Zm 9v\tYm\nFy ", "foobar");
	DEC_OK("BASE64", "Zm9vYg==\r\n", "foob");
	DEC_OK(" Base64 ", "Zm9vYg = =\r\n", "foob");
	TEST_END();

	TEST_BEGIN("base64 missing padding");
	DEC_OK("base64", "Zg", "f");
	DEC_OK("base64", "Zm8", "fo");
	DEC_OK("base64", "Zg=", "f");
	TEST_END();

	TEST_BEGIN("base64 binary output with NUL");
	TEST_ASSERT_INT(dec("base64", "AAEA/w==", 8, &b), 0);
	TEST_ASSERT(is(&b, "\0\1\0\377", 4));
	TEST_END();

	TEST_BEGIN("base64 bad characters");
	TEST_ASSERT_INT(dec("base64", "Zm9v!YmFy", 9, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "Zm9v-_", 6, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "Zm\0v", 4, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "Zg==Zg==", 8, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "Z", 1, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "Z===", 4, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	TEST_ASSERT_INT(dec("base64", "====", 4, &b), -1);
	TEST_ASSERT_INT(errno, EILSEQ);
	error = NULL;
	buf_reset(&b);
	TEST_ASSERT_INT(decode_base64("a*", 2, &b, &error), -1);
	TEST_ASSERT(error != NULL && strstr(error, "invalid") != NULL);
	TEST_END();

	TEST_BEGIN("quoted-printable RFC 2045 vectors");
	DEC_OK("quoted-printable", "caf=C3=A9", "caf\303\251");
	DEC_OK("quoted-printable", "caf=c3=a9", "caf\303\251");
	DEC_OK("quoted-printable", "a=3Db", "a=b");
	DEC_OK("quoted-printable", "line1\r\nline2\r\n", "line1\r\nline2\r\n");
	TEST_ASSERT_INT(dec("Quoted-Printable", "=00", 3, &b), 0);
	TEST_ASSERT(is(&b, "\0", 1));
	TEST_END();

	TEST_BEGIN("quoted-printable soft line breaks");
	DEC_OK("quoted-printable", "long=\r\nline", "longline");
	DEC_OK("quoted-printable", "long=\nline", "longline");
	DEC_OK("quoted-printable", "long=  \t\r\nline", "longline");
	DEC_OK("quoted-printable", "end=", "end");
	DEC_OK("quoted-printable", "end=\r\n", "end");
	DEC_OK("quoted-printable", "=", "");
	TEST_END();

	TEST_BEGIN("quoted-printable lenient bad escapes");
	DEC_OK("quoted-printable", "a=ZZb", "a=ZZb");
	DEC_OK("quoted-printable", "a=4", "a=4");
	DEC_OK("quoted-printable", "a=4x", "a=4x");
	DEC_OK("quoted-printable", "==41", "=A");
	DEC_OK("quoted-printable", "a= b", "a= b");
	TEST_END();

	TEST_BEGIN("identity encodings");
	DEC_OK("7bit", "hello\r\n", "hello\r\n");
	DEC_OK("8bit", "caf\303\251", "caf\303\251");
	DEC_OK("binary", "=41", "=41");
	DEC_OK(NULL, "x", "x");
	DEC_OK("", "x", "x");
	DEC_OK("7BIT (comment)", "x", "x");
	TEST_ASSERT_INT(dec("binary", "a\0b", 3, &b), 0);
	TEST_ASSERT(is(&b, "a\0b", 3));
	TEST_END();

	TEST_BEGIN("empty input");
	DEC_OK("base64", "", "");
	DEC_OK("base64", "\r\n", "");
	DEC_OK("quoted-printable", "", "");
	DEC_OK("8bit", "", "");
	TEST_END();

	TEST_BEGIN("unknown encoding is EINVAL");
	TEST_ASSERT_INT(dec("x-uuencode", "abc", 3, &b), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(dec("base6", "abc", 3, &b), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(dec("base64x", "abc", 3, &b), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_END();

	TEST_BEGIN("output limits");
	TEST_ASSERT_INT(dec("base64", "Zm9v", 4, &small), 0);
	TEST_ASSERT(is(&small, "foo", 3));
	TEST_ASSERT_INT(dec("base64", "Zm9vYmFy", 8, &small), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT(small.len <= 4);
	TEST_ASSERT_INT(dec("quoted-printable", "abcd", 4, &small), 0);
	TEST_ASSERT_INT(dec("quoted-printable", "abc=41=42", 9, &small), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT_INT(dec("8bit", "abcde", 5, &small), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_END();

	TEST_BEGIN("appends to existing output");
	buf_reset(&b);
	(void)buf_append_str(&b, "x");
	TEST_ASSERT_INT(decode_qp("=41", 3, &b, NULL), 0);
	TEST_ASSERT(is(&b, "xA", 2));
	TEST_END();

	TEST_BEGIN("RFC 2047 encoded words");
	WORDS("=?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve");
	WORDS("=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "caf\xc3\xa9 cr\xc3\xa8me");
	WORDS("=?ISO-8859-1?Q?a=E9b?=", "a\xc3\xa9" "b");
	WORDS("=?iso-8859-1?B?6Q==?=", "\xc3\xa9");
	WORDS("=?US-ASCII*en?Q?plain?=", "plain");
	WORDS("Re: =?UTF-8?Q?x?= tail", "Re: x tail");
	TEST_END();

	TEST_BEGIN("RFC 2047 whitespace between encoded words");
	WORDS("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab");
	WORDS("=?UTF-8?Q?a?=\r\n\t=?UTF-8?Q?b?=", "ab");
	WORDS("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b");
	WORDS("plain  words", "plain  words");
	WORDS("a\r\n b", "a b");
	TEST_END();

	TEST_BEGIN("RFC 2047 malformed words stay as they are");
	WORDS("=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=");
	WORDS("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=");
	WORDS("=?KOI8-R?Q?abc?=", "=?KOI8-R?Q?abc?=");
	WORDS("=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?=");
	WORDS("=?UTF-8?Q?=4?=", "=?UTF-8?Q?=4?=");
	WORDS("=?UTF-8?Q?abc", "=?UTF-8?Q?abc");
	WORDS("=??Q?abc?=", "=??Q?abc?=");
	WORDS("=?", "=?");
	WORDS("x=?UTF-8?Q?y?=", "xy");
	TEST_END();

	TEST_BEGIN("charset conversion");
	buf_reset(&b);
	TEST_ASSERT_INT(decode_charset("latin1", 6, "\xff\x41", 2, &b), 0);
	TEST_ASSERT(is(&b, "\xc3\xbf" "A", 3));
	buf_reset(&b);
	TEST_ASSERT_INT(decode_charset("", 0, "\xff", 1, &b), 0);
	TEST_ASSERT(is(&b, "\xff", 1));
	errno = 0;
	TEST_ASSERT_INT(decode_charset("Shift_JIS", 9, "a", 1, &b), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	buf_reset(&small);
	TEST_ASSERT_INT(decode_charset("latin1", 6, "\xe9\xe9\xe9", 3,
	    &small), -1);
	buf_reset(&small);
	TEST_ASSERT_INT(decode_words("=?UTF-8?Q?abcdefgh?=", 20, &small), -1);
	TEST_END();

	buf_free(&b);
	buf_free(&small);
	return test_summary("test-decode");
}
