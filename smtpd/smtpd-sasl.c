/*
 * NAME
 *	smtpd-sasl - base64 and the PLAIN mechanism for smtpd's AUTH
 *
 * SYNOPSIS
 *	int sasl_b64_decode(const char *s, size_t n, struct buf *out);
 *	int sasl_plain_split(const char *p, size_t n, char *user,
 *	    size_t usize, char *pass, size_t psize, size_t *passlen_r);
 *
 * DESCRIPTION
 *	sasl_b64_decode() decodes strict RFC 4648 base64 (the alphabet
 *	A-Z a-z 0-9 + /, a length that is a multiple of four, "=" padding
 *	only at the end, no white space) and appends the octets to out.
 *	An empty input is an empty result.
 *
 *	sasl_plain_split() splits a decoded PLAIN message (RFC 4616)
 *	"authzid NUL authcid NUL passwd" into the user (authcid) and the
 *	password. The authzid must be empty or equal to the authcid
 *	(ASCII case ignored): nobody may act as someone else (SECURITY
 *	U1). The user is 1 to usize-1 octets of valid UTF-8 without control
 *	characters; the password 1 to psize-1 octets without NUL.
 *
 * DIAGNOSTICS
 *	0, or -1: sasl_b64_decode EINVAL (not base64) or ENOBUFS (out is
 *	full); sasl_plain_split EINVAL (malformed) or EPERM (authzid is
 *	another identity). The caller answers 501 or 535; all permanent.
 *
 * SECURITY
 *	No privileges, no I/O. The input carries a password: callers wipe
 *	their buffers; nothing here copies it anywhere but pass.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "utf8.h"

#include "smtpd.h"

/* b64val - value of one base64 character, or -1 */
static int
b64val(unsigned char c)
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
			if (pad > 0 || (v[k] = b64val(c)) < 0) {
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

/* user_ok - 1 for a printable, valid UTF-8 user name */
static int
user_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return utf8_valid(p, n);
}

/* sasl_plain_split - authzid NUL authcid NUL passwd into user and pass */
int
sasl_plain_split(const char *p, size_t n, char *user, size_t usize,
    char *pass, size_t psize, size_t *passlen_r)
{
	const char *nul1, *nul2, *authcid, *pw;
	size_t zlen, clen, plen;

	user[0] = '\0';
	nul1 = memchr(p, '\0', n);
	if (nul1 == NULL)
		goto bad;
	zlen = (size_t)(nul1 - p);
	authcid = nul1 + 1;
	nul2 = memchr(authcid, '\0', n - zlen - 1);
	if (nul2 == NULL)
		goto bad;
	clen = (size_t)(nul2 - authcid);
	pw = nul2 + 1;
	plen = n - zlen - clen - 2;
	if (!user_ok(authcid, clen) || clen >= usize || plen == 0 ||
	    plen >= psize || memchr(pw, '\0', plen) != NULL)
		goto bad;
	if (zlen > 0 && (zlen != clen || !str_eq_nocase_n(p, authcid,
	    clen))) {
		errno = EPERM;
		return -1;
	}
	memcpy(user, authcid, clen);
	user[clen] = '\0';
	memcpy(pass, pw, plen);
	pass[plen] = '\0';
	*passlen_r = plen;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
