/*
 * NAME
 *	sasl - base64 as SASL exchanges carry it
 *
 * SYNOPSIS
 *	int sasl_b64_decode(const char *s, size_t n, struct buf *out);
 *
 * DESCRIPTION
 *	sasl_b64_decode() decodes strict RFC 4648 base64 (the alphabet
 *	A-Z a-z 0-9 + /, a length that is a multiple of four, "=" padding
 *	only at the end, padding bits zero, no white space) and appends the
 *	octets to out. An empty input is an empty result. smtpd (AUTH,
 *	RFC 4954), pop3d (AUTH, RFC 5034) and imapd (AUTHENTICATE, RFC 9051)
 *	all decode their clients' responses with it, so a response is
 *	accepted or refused the same way by each.
 *
 * DIAGNOSTICS
 *	0, or -1 with errno EINVAL (not base64) or ENOBUFS (out is full);
 *	out then holds what was decoded before the error. The caller
 *	answers with its protocol's syntax error; all permanent.
 *
 * SECURITY
 *	No privileges, no I/O. The input carries a password: callers wipe
 *	their buffers; nothing here copies it anywhere but out.
 */
#include <errno.h>

#include "buf.h"
#include "decode.h"
#include "sasl.h"

/* sasl_b64_decode - strict base64 of s[0..n), appended to out */
int
sasl_b64_decode(const char *s, size_t n, struct buf *out)
{
	size_t i, k;

	if (n % 4 != 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		unsigned long w;
		char o[3];

		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];

			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = decode_b64_value(c)) < 0) {
				errno = EINVAL;
				return -1;
			}
		}
		w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
		    ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		o[0] = (char)((w >> 16) & 0xff);
		o[1] = (char)((w >> 8) & 0xff);
		o[2] = (char)(w & 0xff);
		/* Padding bits must be zero: one encoding per value. */
		if ((pad == 1 && (w & 0xff) != 0) ||
		    (pad == 2 && (w & 0xffff) != 0)) {
			errno = EINVAL;
			return -1;
		}
		if (buf_append(out, o, (size_t)(3 - pad)) < 0)
			return -1;
	}
	return 0;
}
