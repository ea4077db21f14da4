/*
 * NAME
 *	decode.c - Content-Transfer-Encoding decoders (RFC 2045)
 *
 * SYNOPSIS
 *	#include "decode.h"
 *
 *	int decode_cte(const char *cte, const char *in, size_t len,
 *	    struct buf *out, const char **error_r);
 *	int decode_b64_value(unsigned char c);
 *	int decode_base64(const char *in, size_t len, struct buf *out,
 *	    const char **error_r);
 *	int decode_qp(const char *in, size_t len, struct buf *out,
 *	    const char **error_r);
 *
 * DESCRIPTION
 *	decode_cte() appends to out the len octets at in decoded from the
 *	Content-Transfer-Encoding named by cte (a C string, compared without
 *	regard to case, surrounding whitespace and a trailing comment or
 *	parameter ignored). NULL or an empty name means 7bit. "7bit",
 *	"8bit" and "binary" are the identity.
 *
 *	decode_b64_value() is the value (0-63) of one character of the
 *	base64 alphabet, or -1; the strict decoder of SASL responses
 *	(common/sasl.c) uses it too.
 *
 *	decode_base64() ignores whitespace and line breaks (SP, HTAB, CR,
 *	LF, VT, FF). Anything after the '=' padding other than more '=' and
 *	whitespace is an error, as is any octet outside the base64
 *	alphabet and a lone sextet at the end. Missing padding is accepted.
 *
 *	decode_qp() turns "=XX" (either case of hex digits) into the octet,
 *	removes soft line breaks ("=" followed by optional trailing
 *	whitespace and CRLF or LF, or "=" at the very end), and, leniently
 *	as RFC 2045 6.7 suggests, copies any other "=" sequence as it
 *	stands. Trailing whitespace before a line break is kept (it is not
 *	removed, since the stored text is what the sender wrote).
 *
 * DIAGNOSTICS
 *	All return 0 on success. On failure they return -1 with errno set
 *	and *error_r (if error_r is not NULL) pointing to a static message:
 *	EINVAL for an encoding decode_cte() does not know (IMAP answers
 *	"NO [UNKNOWN-CTE]"), EILSEQ for input that cannot be decoded,
 *	ENOBUFS when out would grow past its limit, ENOMEM when memory runs
 *	out. On failure out may hold part of the decoded data.
 *
 * SECURITY
 *	No state outside the arguments; input is any octets, including NUL,
 *	and is read only within [in, in + len). Output is bounded by the
 *	buf's limit, and is never larger than the input.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "buf.h"
#include "decode.h"
#include "str.h"

#define ERR(msg, e) do {			\
	if (error_r != NULL)			\
		*error_r = (msg);		\
	errno = (e);				\
	return -1;				\
} while (0)

/* decode_b64_value - the sextet of a base64 character, -1 if not one */
int
decode_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* is_space - whitespace or a line break, ignored in base64 */
static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f';
}

/* hex_value - the value of a hex digit of either case, -1 if not one */
static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* out_fail - the error for a failed buf append */
static int
out_fail(const char **error_r)
{
	int e = errno;

	if (e == ENOBUFS)
		ERR("decoded data too large", ENOBUFS);
	ERR("out of memory", e != 0 ? e : ENOMEM);
}

/* decode_base64 - append the base64 data at in decoded to out */
int
decode_base64(const char *in, size_t len, struct buf *out,
    const char **error_r)
{
	unsigned char q[3];
	unsigned long acc = 0;
	size_t i, n = 0, ql;
	int v, padded = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (is_space(c))
			continue;
		if (c == '=') {
			if (n == 0 && !padded)
				ERR("base64: misplaced '='", EILSEQ);
			padded = 1;
			continue;
		}
		if (padded)
			ERR("base64: data after '=' padding", EILSEQ);
		if ((v = decode_b64_value(c)) < 0)
			ERR("base64: invalid character", EILSEQ);
		acc = (acc << 6) | (unsigned long)v;
		if (++n == 4) {
			q[0] = (unsigned char)(acc >> 16);
			q[1] = (unsigned char)(acc >> 8);
			q[2] = (unsigned char)acc;
			if (buf_append(out, q, 3) < 0)
				return out_fail(error_r);
			acc = 0;
			n = 0;
		}
	}
	if (n == 1)
		ERR("base64: truncated data", EILSEQ);
	if (n == 0)
		return 0;
	/* Two sextets give one octet, three give two. */
	acc <<= 6 * (4 - n);
	q[0] = (unsigned char)(acc >> 16);
	q[1] = (unsigned char)(acc >> 8);
	ql = n - 1;
	if (buf_append(out, q, ql) < 0)
		return out_fail(error_r);
	return 0;
}

/* soft_break - octets of a soft line break at in[i] ('='), 0 if none */
static size_t
soft_break(const char *in, size_t len, size_t i)
{
	size_t j = i + 1;

	while (j < len && (in[j] == ' ' || in[j] == '\t'))
		j++;
	if (j == len)
		return j - i;
	if (in[j] == '\n')
		return j + 1 - i;
	if (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')
		return j + 2 - i;
	if (in[j] == '\r' && j + 1 == len)
		return j + 1 - i;
	return 0;
}

/* decode_qp - append the quoted-printable data at in decoded to out */
int
decode_qp(const char *in, size_t len, struct buf *out, const char **error_r)
{
	size_t i = 0, run, k;
	int h, l;

	while (i < len) {
		const char *eq = memchr(in + i, '=', len - i);

		run = eq != NULL ? (size_t)(eq - (in + i)) : len - i;
		if (run > 0 && buf_append(out, in + i, run) < 0)
			return out_fail(error_r);
		i += run;
		if (i >= len)
			break;
		/* in[i] == '=' */
		if (i + 2 < len && (h = hex_value((unsigned char)in[i + 1]))
		    >= 0 && (l = hex_value((unsigned char)in[i + 2])) >= 0) {
			if (buf_append_char(out, (char)(h << 4 | l)) < 0)
				return out_fail(error_r);
			i += 3;
			continue;
		}
		if ((k = soft_break(in, len, i)) > 0) {
			i += k;
			continue;
		}
		/* Not a valid escape: keep the '=' as it stands. */
		if (buf_append_char(out, '=') < 0)
			return out_fail(error_r);
		i++;
	}
	return 0;
}

/* decode_cte - append in decoded from the encoding named cte to out */
int
decode_cte(const char *cte, const char *in, size_t len, struct buf *out,
    const char **error_r)
{
	const char *s = cte != NULL ? cte : "";
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	for (n = 0; s[n] != '\0' && s[n] != ' ' && s[n] != '\t' &&
	    s[n] != '\r' && s[n] != '\n' && s[n] != ';' && s[n] != '('; n++)
		;
	if (n == 0 || (n == 4 && str_eq_nocase_n(s, "7bit", 4)) ||
	    (n == 4 && str_eq_nocase_n(s, "8bit", 4)) ||
	    (n == 6 && str_eq_nocase_n(s, "binary", 6))) {
		if (len > 0 && buf_append(out, in, len) < 0)
			return out_fail(error_r);
		return 0;
	}
	if (n == 6 && str_eq_nocase_n(s, "base64", 6))
		return decode_base64(in, len, out, error_r);
	if (n == 16 && str_eq_nocase_n(s, "quoted-printable", 16))
		return decode_qp(in, len, out, error_r);
	ERR("unknown Content-Transfer-Encoding", EINVAL);
}
