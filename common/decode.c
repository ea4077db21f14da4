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
 *	int decode_charset(const char *charset, size_t cs_len,
 *	    const char *in, size_t len, struct buf *out);
 *	int decode_words(const char *in, size_t len, struct buf *out);
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
 *	decode_charset() appends in converted from the charset named by
 *	the cs_len octets at charset to UTF-8: UTF-8 and US-ASCII (and no
 *	name at all) are copied as they are, ISO-8859-1 (also "latin1",
 *	"iso8859-1", "iso_8859-1") and windows-1252 (its C1 range read as
 *	ISO-8859-1) are widened octet by octet. Other charsets are EINVAL.
 *
 *	decode_words() appends a header field's value with its RFC 2047
 *	encoded words ("=?charset?B?...?=" and "=?charset?Q?...?=", an
 *	RFC 2231 "*language" suffix of the charset ignored) decoded and
 *	converted to UTF-8 by decode_charset(). Whitespace between two
 *	encoded words is dropped (RFC 2047 6.2); CR and LF are dropped
 *	(the value is unfolded). A word that is malformed, holds a space,
 *	names an unknown charset or does not decode stays as it stands,
 *	so nothing fails but memory: it is meant for matching (SEARCH),
 *	not for display.
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
 *	buf's limit. The CTE decoders' output is never larger than their
 *	input; decode_charset() and decode_words() at most double it.
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

/* charset_kind - 0 UTF-8/US-ASCII/none, 1 Latin-1 family, -1 unknown */
static int
charset_kind(const char *cs, size_t n)
{
	static const char *const same[] = { "utf-8", "utf8", "us-ascii",
	    "ascii" };
	static const char *const latin1[] = { "iso-8859-1", "iso8859-1",
	    "iso_8859-1", "latin1", "windows-1252", "cp1252" };
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strlen(same[i]) == n && str_eq_nocase_n(cs, same[i], n))
			return 0;
	for (i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++)
		if (strlen(latin1[i]) == n && str_eq_nocase_n(cs, latin1[i], n))
			return 1;
	return -1;
}

/* decode_charset - append in, from charset to UTF-8; -1 EINVAL unknown */
int
decode_charset(const char *charset, size_t cs_len, const char *in,
    size_t len, struct buf *out)
{
	int kind = charset_kind(charset, cs_len);
	size_t i;

	if (kind < 0) {
		errno = EINVAL;
		return -1;
	}
	if (kind == 0)
		return len == 0 ? 0 : buf_append(out, in, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int r;

		if (c < 0x80)
			r = buf_append_char(out, (char)c);
		else {
			char two[2];

			two[0] = (char)(0xc0 | (c >> 6));
			two[1] = (char)(0x80 | (c & 0x3f));
			r = buf_append(out, two, 2);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

/* q_word - decode RFC 2047 "Q" text: '_' is a space, "=XX" an octet */
static int
q_word(const char *in, size_t len, struct buf *out)
{
	size_t i;
	int h, l;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '_')
			c = ' ';
		else if (c == '=') {
			if (i + 2 >= len || (h = hex_value((unsigned char)
			    in[i + 1])) < 0 || (l = hex_value((unsigned char)
			    in[i + 2])) < 0) {
				errno = EILSEQ;
				return -1;
			}
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (buf_append_char(out, c) < 0)
			return -1;
	}
	return 0;
}

/*
 * encoded_word - an encoded word at in[0..len): its length, with the
 * decoded UTF-8 appended to out; 0 if there is none (out unchanged), -1
 * when memory or out's limit runs out
 */
static size_t
encoded_word(const char *in, size_t len, struct buf *out, int *fail_r)
{
	struct buf raw = BUF_INIT(out->max);
	const char *cs, *text, *end;
	size_t cs_len, i, mark = out->len;
	char enc;
	int r;

	*fail_r = 0;
	if (len < 8 || in[0] != '=' || in[1] != '?')
		return 0;
	cs = in + 2;
	for (i = 2; i < len && in[i] != '?'; i++)
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n')
			return 0;
	if (i + 3 >= len || in[i + 2] != '?')
		return 0;
	cs_len = (size_t)(in + i - cs);
	enc = in[i + 1];
	text = in + i + 3;
	end = NULL;
	for (i += 3; i + 1 < len; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n')
			return 0;
		if (in[i] == '?' && in[i + 1] == '=') {
			end = in + i;
			break;
		}
	}
	if (end == NULL || cs_len == 0)
		return 0;
	/* RFC 2231 5: "charset*language". */
	if (memchr(cs, '*', cs_len) != NULL)
		cs_len = (size_t)((const char *)memchr(cs, '*', cs_len) - cs);
	if (enc == 'B' || enc == 'b')
		r = decode_base64(text, (size_t)(end - text), &raw, NULL);
	else if (enc == 'Q' || enc == 'q')
		r = q_word(text, (size_t)(end - text), &raw);
	else {
		buf_free(&raw);
		return 0;
	}
	if (r == 0)
		r = decode_charset(cs, cs_len, raw.data != NULL ? raw.data :
		    "", raw.len, out);
	if (r < 0) {
		*fail_r = errno == ENOMEM || errno == ENOBUFS;
		out->len = mark;
		buf_free(&raw);
		return 0;
	}
	buf_free(&raw);
	return (size_t)(end + 2 - in);
}

/* decode_words - append a header value with encoded words decoded */
int
decode_words(const char *in, size_t len, struct buf *out)
{
	size_t i = 0, n, ws_start = 0, ws_len = 0;
	int after_word = 0, fail;

	while (i < len) {
		char c = in[i];

		if (c == '\r' || c == '\n') {
			i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			/* Held back: dropped if an encoded word follows one. */
			if (ws_len == 0)
				ws_start = out->len;
			if (buf_append_char(out, c) < 0)
				return -1;
			ws_len++;
			i++;
			continue;
		}
		if (c == '=' && i + 1 < len && in[i + 1] == '?') {
			size_t mark = out->len;

			n = encoded_word(in + i, len - i, out, &fail);
			if (fail)
				return -1;
			if (n > 0) {
				if (after_word && ws_len > 0) {
					/* Drop the whitespace in between. */
					memmove(out->data + ws_start,
					    out->data + mark, out->len - mark);
					out->len -= ws_len;
				}
				after_word = 1;
				ws_len = 0;
				i += n;
				continue;
			}
		}
		if (buf_append_char(out, c) < 0)
			return -1;
		after_word = 0;
		ws_len = 0;
		i++;
	}
	return 0;
}
