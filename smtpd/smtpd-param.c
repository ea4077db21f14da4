/*
 * NAME
 *	smtpd-param - ESMTP parameters of MAIL and RCPT, and xtext
 *
 * SYNOPSIS
 *	int smtp_xtext_decode(const char *s, size_t n, int utf8, char *out,
 *	    size_t outsize, size_t *outlen_r);
 *	int smtp_xtext_encode(const char *s, size_t n, struct buf *out);
 *	int smtp_mail_params(const char *s, size_t n, int flags,
 *	    uint64_t size_limit, struct smtp_mail_params *p,
 *	    struct smtp_reply *err);
 *	int smtp_rcpt_params(const char *s, size_t n, int flags,
 *	    struct smtp_rcpt_params *p, struct smtp_reply *err);
 *
 * DESCRIPTION
 *	The parameters are RFC 5321 esmtp-params: keywords (a letter or
 *	digit, then letters, digits and '-') compared without regard to
 *	case, each with an optional "=value", where a value is printable
 *	ASCII other than '=' and space (and valid UTF-8 with SMTPUTF8,
 *	RFC 6531). They are separated by spaces. Each may appear once.
 *
 *	MAIL: SIZE=digits (RFC 1870; above size_limit: 552 5.3.4),
 *	BODY=7BIT or 8BITMIME (RFC 6152; BINARYMIME is not offered),
 *	SMTPUTF8 without a value (RFC 6531), RET=FULL or HDRS and
 *	ENVID=xtext of at most 100 decoded octets (RFC 3461), and AUTH=<>
 *	or AUTH=xtext (RFC 4954, only when AUTH is offered).
 *	RCPT: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY, and
 *	ORCPT=addr-type;xtext with at most 500 decoded octets (RFC 3461).
 *
 *	smtp_xtext_decode() decodes RFC 3461 xtext: octets 33-126 but '+'
 *	and '=' stand for themselves, "+XX" (hex, either case) for the octet
 *	XX. The result may hold no control character and no NUL, whether
 *	written or encoded (SECURITY A3: "+0A" and "+00" are refused, never
 *	stripped); 8-bit octets are allowed only with utf8, and the result
 *	must then be valid UTF-8. smtp_xtext_encode() is its inverse for
 *	printable text (tests and fuzzing).
 *
 * DIAGNOSTICS
 *	0, or -1 with the reply in *err: 555 5.5.4 for a keyword that is not
 *	supported (or not offered in this session), 501 5.5.4 for a bad
 *	value or a repeated keyword, 552 5.3.4 for SIZE above the limit.
 *	smtp_xtext_decode: -1/EINVAL (bad xtext, control octet) or
 *	-1/ENAMETOOLONG (does not fit). All permanent.
 *
 * SECURITY
 *	No privileges, no I/O; hostile input, every read bounded by n. The
 *	decoded values go into the envelope, whose format forbids NUL and
 *	control characters: they are refused here, with a reply, first.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "str.h"
#include "utf8.h"

#include "smtpd.h"

/* param_err - fill *err and return -1 */
static int
param_err(struct smtp_reply *err, int code, const char *status,
    const char *text)
{
	err->code = code;
	err->status = status;
	err->text = text;
	return -1;
}

/* hexval - value of one hex digit, or -1 */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* smtp_xtext_decode - RFC 3461 xtext to text without control octets */
int
smtp_xtext_decode(const char *s, size_t n, int utf8, char *out,
    size_t outsize, size_t *outlen_r)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi, lo;

			if (n - i < 3 ||
			    (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0) {
				errno = EINVAL;
				return -1;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 3;
		} else if (c == '=' || c <= 0x20 || c == 0x7f) {
			errno = EINVAL;
			return -1;
		} else
			i++;
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
			errno = EINVAL;
			return -1;
		}
		if (o + 1 >= outsize) {
			errno = ENAMETOOLONG;
			return -1;
		}
		out[o++] = (char)c;
	}
	if (outsize == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[o] = '\0';
	if (!utf8_valid(out, o)) {
		out[0] = '\0';
		errno = EINVAL;
		return -1;
	}
	*outlen_r = o;
	return 0;
}

/* smtp_xtext_encode - append the xtext form of s[0..n) to out */
int
smtp_xtext_encode(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3];

		if (c > 0x20 && c < 0x7f && c != '+' && c != '=') {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			continue;
		}
		esc[0] = '+';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 0xf];
		if (buf_append(out, esc, 3) < 0)
			return -1;
	}
	return 0;
}

/* One parameter, split: keyword and value (value NULL when absent). */
struct param {
	const char *key;
	size_t keylen;
	const char *val;
	size_t vallen;
};

/* next_param - split the next parameter off s[*ip..n); 0, 1 done, -1 bad */
static int
next_param(const char *s, size_t n, size_t *ip, int utf8, struct param *pm)
{
	size_t i = *ip, start;

	while (i < n && s[i] == ' ')
		i++;
	if (i == n) {
		*ip = i;
		return 1;
	}
	start = i;
	while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
	    (s[i] == '-' && i > start)))
		i++;
	if (i == start)
		return -1;
	pm->key = s + start;
	pm->keylen = i - start;
	pm->val = NULL;
	pm->vallen = 0;
	if (i < n && s[i] == '=') {
		i++;
		start = i;
		while (i < n && s[i] != ' ') {
			unsigned char c = (unsigned char)s[i];

			if (c < 0x21 || c == '=' || c == 0x7f ||
			    (c >= 0x80 && !utf8))
				return -1;
			i++;
		}
		if (i == start)
			return -1;
		pm->val = s + start;
		pm->vallen = i - start;
	}
	if (i < n && s[i] != ' ')
		return -1;
	*ip = i;
	return 0;
}

/* is_key - 1 if the parameter's keyword is word (any case) */
static int
is_key(const struct param *pm, const char *word)
{
	return strlen(word) == pm->keylen &&
	    str_eq_nocase_n(pm->key, word, pm->keylen);
}

/* is_val - 1 if the parameter's value is word (any case) */
static int
is_val(const struct param *pm, const char *word)
{
	return pm->val != NULL && strlen(word) == pm->vallen &&
	    str_eq_nocase_n(pm->val, word, pm->vallen);
}

/* has_smtputf8 - 1 if the list holds the SMTPUTF8 keyword */
static int
has_smtputf8(const char *s, size_t n)
{
	struct param pm;
	size_t i = 0;

	while (next_param(s, n, &i, 1, &pm) == 0)
		if (is_key(&pm, "SMTPUTF8"))
			return 1;
	return 0;
}

/* mail_one - apply one MAIL parameter */
static int
mail_one(const struct param *pm, int flags, uint64_t size_limit, int *seen,
    struct smtp_mail_params *p, struct smtp_reply *err)
{
	static const char *const keys[] = { "SIZE", "BODY", "SMTPUTF8",
	    "RET", "ENVID", "AUTH" };
	size_t k, len;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (is_key(pm, keys[k]))
			break;
	if (k == sizeof(keys) / sizeof(keys[0]) ||
	    (k == 5 && !(flags & SMTP_P_AUTH)))
		return param_err(err, 555, "5.5.4",
		    "Error: unsupported MAIL parameter");
	if (*seen & (1 << k))
		return param_err(err, 501, "5.5.4",
		    "Syntax error: MAIL parameter given twice");
	*seen |= 1 << k;
	switch (k) {
	case 0:
		if (pm->val == NULL)
			return param_err(err, 501, "5.5.4",
			    "Syntax error: SIZE needs a value");
		if (str_parse_u64(pm->val, pm->vallen, UINT64_MAX,
		    &p->size) < 0) {
			if (errno == ERANGE)
				return param_err(err, 552, "5.3.4",
				    "Error: message size exceeds fixed "
				    "maximum message size");
			return param_err(err, 501, "5.5.4",
			    "Syntax error: bad SIZE value");
		}
		if (p->size > size_limit)
			return param_err(err, 552, "5.3.4",
			    "Error: message size exceeds fixed maximum "
			    "message size");
		p->has_size = 1;
		return 0;
	case 1:
		if (is_val(pm, "7BIT"))
			p->body = SMTP_BODY_7BIT;
		else if (is_val(pm, "8BITMIME"))
			p->body = SMTP_BODY_8BITMIME;
		else if (is_val(pm, "BINARYMIME"))
			return param_err(err, 555, "5.5.4",
			    "Error: BODY=BINARYMIME is not supported");
		else
			return param_err(err, 501, "5.5.4",
			    "Syntax error: bad BODY value");
		return 0;
	case 2:
		if (pm->val != NULL)
			return param_err(err, 501, "5.5.4",
			    "Syntax error: SMTPUTF8 takes no value");
		p->smtputf8 = 1;
		return 0;
	case 3:
		if (is_val(pm, "FULL"))
			p->ret = SMTP_RET_FULL;
		else if (is_val(pm, "HDRS"))
			p->ret = SMTP_RET_HDRS;
		else
			return param_err(err, 501, "5.5.4",
			    "Syntax error: bad RET value");
		return 0;
	case 4:
		if (pm->val == NULL || smtp_xtext_decode(pm->val, pm->vallen,
		    p->smtputf8, p->envid, sizeof(p->envid), &len) < 0 ||
		    len == 0)
			return param_err(err, 501, "5.5.4",
			    "Syntax error: bad ENVID value");
		p->has_envid = 1;
		return 0;
	default:
		if (is_val(pm, "<>")) {
			memcpy(p->auth, "<>", 3);
		} else if (pm->val == NULL || smtp_xtext_decode(pm->val,
		    pm->vallen, p->smtputf8, p->auth, sizeof(p->auth),
		    &len) < 0 || len == 0)
			return param_err(err, 501, "5.5.4",
			    "Syntax error: bad AUTH value");
		p->has_auth = 1;
		return 0;
	}
}

/* smtp_mail_params - the parameters of MAIL FROM */
int
smtp_mail_params(const char *s, size_t n, int flags, uint64_t size_limit,
    struct smtp_mail_params *p, struct smtp_reply *err)
{
	struct param pm;
	size_t i = 0;
	int r, seen = 0;

	memset(p, 0, sizeof(*p));
	p->smtputf8 = has_smtputf8(s, n);
	for (;;) {
		r = next_param(s, n, &i, p->smtputf8, &pm);
		if (r == 1)
			break;
		if (r < 0)
			return param_err(err, 501, "5.5.4",
			    "Syntax error in MAIL parameters");
		if (mail_one(&pm, flags, size_limit, &seen, p, err) < 0)
			return -1;
	}
	return 0;
}

/* orcpt - "addr-type;xtext" into p->orcpt as "addr-type;decoded" */
static int
orcpt(const struct param *pm, int utf8, struct smtp_rcpt_params *p)
{
	const char *semi;
	size_t tlen, len, k;

	if (pm->val == NULL)
		return -1;
	semi = memchr(pm->val, ';', pm->vallen);
	if (semi == NULL)
		return -1;
	tlen = (size_t)(semi - pm->val);
	if (tlen == 0 || tlen > 20)
		return -1;
	for (k = 0; k < tlen; k++) {
		unsigned char c = (unsigned char)pm->val[k];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return -1;
	}
	memcpy(p->orcpt, pm->val, tlen);
	p->orcpt[tlen] = ';';
	if (smtp_xtext_decode(semi + 1, pm->vallen - tlen - 1, utf8,
	    p->orcpt + tlen + 1, SMTPD_ORCPT_MAX + 1, &len) < 0 || len == 0) {
		p->orcpt[0] = '\0';
		return -1;
	}
	return 0;
}

/* smtp_rcpt_params - the parameters of RCPT TO */
int
smtp_rcpt_params(const char *s, size_t n, int flags,
    struct smtp_rcpt_params *p, struct smtp_reply *err)
{
	struct param pm;
	char word[64];
	size_t i = 0;
	int r, utf8 = (flags & SMTP_P_UTF8) != 0;

	memset(p, 0, sizeof(*p));
	for (;;) {
		r = next_param(s, n, &i, utf8, &pm);
		if (r == 1)
			break;
		if (r < 0)
			return param_err(err, 501, "5.5.4",
			    "Syntax error in RCPT parameters");
		if (is_key(&pm, "NOTIFY")) {
			if (p->notify != 0)
				return param_err(err, 501, "5.5.4",
				    "Syntax error: NOTIFY given twice");
			if (pm.val == NULL || str_copy_n(word, sizeof(word),
			    pm.val, pm.vallen) < 0 ||
			    envelope_notify_parse(word, &p->notify) < 0 ||
			    p->notify == 0)
				return param_err(err, 501, "5.5.4",
				    "Syntax error: bad NOTIFY value");
		} else if (is_key(&pm, "ORCPT")) {
			if (p->has_orcpt)
				return param_err(err, 501, "5.5.4",
				    "Syntax error: ORCPT given twice");
			if (orcpt(&pm, utf8, p) < 0)
				return param_err(err, 501, "5.5.4",
				    "Syntax error: bad ORCPT value");
			p->has_orcpt = 1;
		} else
			return param_err(err, 555, "5.5.4",
			    "Error: unsupported RCPT parameter");
	}
	return 0;
}
