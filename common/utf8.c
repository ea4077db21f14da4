/*
 * NAME
 *	utf8 - UTF-8 validation
 *
 * SYNOPSIS
 *	int utf8_valid(const void *p, size_t len);
 *	int utf8_is_ascii(const void *p, size_t len);
 *
 * DESCRIPTION
 *	utf8_valid() accepts exactly the well-formed sequences of RFC 3629:
 *	no overlong forms (C0 AF), no surrogates (ED A0 80), nothing above
 *	U+10FFFF (F4 90 80 80), no truncated sequence at the end. NUL is a
 *	valid code point here; callers that refuse NUL check for it apart.
 *	utf8_is_ascii() says whether every byte is below 0x80.
 *
 * DIAGNOSTICS
 *	Both return 1 (yes) or 0 (no); they cannot fail.
 *
 * SECURITY
 *	Untrusted input; reads exactly len bytes.
 */
#include "utf8.h"

/* utf8_valid - 1 if p[0..len) is well-formed UTF-8 (RFC 3629) */
int
utf8_valid(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t need, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else
			return 0;
		if (len - i - 1 < need)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += need + 1;
	}
	return 1;
}

/* utf8_is_ascii - 1 if every byte of p[0..len) is below 0x80 */
int
utf8_is_ascii(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}
