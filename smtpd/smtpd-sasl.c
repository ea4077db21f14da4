/*
 * NAME
 *	smtpd-sasl - the PLAIN mechanism for smtpd's AUTH
 *
 * SYNOPSIS
 *	int sasl_plain_split(const char *p, size_t n, char *user,
 *	    size_t usize, char *pass, size_t psize, size_t *passlen_r);
 *
 * DESCRIPTION
 *	(base64 decoding is common/sasl.c's sasl_b64_decode.)
 *
 *	sasl_plain_split() splits a decoded PLAIN message (RFC 4616)
 *	"authzid NUL authcid NUL passwd" into the user (authcid) and the
 *	password. The authzid must be empty or equal to the authcid
 *	(ASCII case ignored): nobody may act as someone else (SECURITY
 *	U1). The user is 1 to usize-1 octets of valid UTF-8 without control
 *	characters; the password 1 to psize-1 octets without NUL.
 *
 * DIAGNOSTICS
 *	0, or -1: sasl_plain_split EINVAL (malformed) or EPERM (authzid is
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
