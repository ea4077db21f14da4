/*
 * NAME
 *	pop3d-cmd - POP3 command lines and SASL data, parsed without I/O
 *
 * SYNOPSIS
 *	int pop3d_parse(const char *line, size_t len, struct pop3d_cmd *c);
 *	int pop3d_base64_decode(const char *in, size_t len, struct buf *out);
 *	int pop3d_sasl_plain(const char *data, size_t len,
 *	    const char **authz_r, size_t *authz_len_r,
 *	    const char **authc_r, size_t *authc_len_r,
 *	    const char **pass_r, size_t *pass_len_r);
 *
 * DESCRIPTION
 *	pop3d_parse() reads one command line (its CRLF already removed) as
 *	RFC 1939 and RFC 2449 describe it: a keyword of three or four
 *	letters, case ignored, then arguments separated by a space. Spaces
 *	and tabs at the end of the line are ignored, except for PASS, whose
 *	one argument is the whole rest of the line (RFC 1939 section 7:
 *	passwords may hold spaces). Pointers in c point into line.
 *
 *	    USER name          1..255 octets, no space
 *	    PASS password      1..255 octets
 *	    STAT NOOP RSET QUIT CAPA STLS    no argument
 *	    LIST [n]  UIDL [n]  RETR n  DELE n  TOP n lines
 *	    AUTH [mechanism [initial-response]]       (RFC 5034)
 *
 *	Numbers are decimal digits only (no sign, no space); one above
 *	POP3D_NUMBER_MAX (2^32 - 1) is POP3D_PARSE_RANGE with bad_num saying
 *	which. Whether message n exists is the session's business: "RETR 0"
 *	parses. A line holding a NUL, a CR or any octet outside 0x20-0x7e
 *	(PASS aside, which takes 0x20-0xff) is a syntax error. APOP is not
 *	offered, so it is an unknown command like any other word.
 *
 *	pop3d_base64_decode() decodes strict base64 (RFC 4648 section 4:
 *	length a multiple of four, '=' only at the end, no blanks) into out.
 *	"=" alone is the empty string (RFC 5034's empty initial response).
 *
 *	pop3d_sasl_plain() splits a decoded PLAIN message (RFC 4616)
 *	"authzid NUL authcid NUL password" into its three parts, each
 *	pointing into data.
 *
 * DIAGNOSTICS
 *	pop3d_parse: POP3D_PARSE_OK, _UNKNOWN, _SYNTAX or _RANGE.
 *	pop3d_base64_decode, pop3d_sasl_plain: 0, or -1 with EINVAL
 *	(malformed) or ENOBUFS (out is full).
 *
 * SECURITY
 *	Every input is untrusted and every length explicit; nothing is
 *	copied except into out, whose max bounds it.
 */
#include <errno.h>
#include <string.h>

#include "pop3d.h"
#include "sasl.h"
#include "str.h"

static const struct {
	const char *word;
	enum pop3d_cmd_id id;
} keywords[] = {
	{ "USER", POP3D_CMD_USER }, { "PASS", POP3D_CMD_PASS },
	{ "QUIT", POP3D_CMD_QUIT }, { "STAT", POP3D_CMD_STAT },
	{ "LIST", POP3D_CMD_LIST }, { "RETR", POP3D_CMD_RETR },
	{ "DELE", POP3D_CMD_DELE }, { "NOOP", POP3D_CMD_NOOP },
	{ "RSET", POP3D_CMD_RSET }, { "TOP", POP3D_CMD_TOP },
	{ "UIDL", POP3D_CMD_UIDL }, { "CAPA", POP3D_CMD_CAPA },
	{ "STLS", POP3D_CMD_STLS }, { "AUTH", POP3D_CMD_AUTH },
};

/* printable - 1 if s[0..n) is all 0x20-0x7e */
static int
printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* next_word - split off the next space-separated word of s[*pos..len) */
static int
next_word(const char *s, size_t len, size_t *pos, const char **w,
    size_t *wlen)
{
	size_t i = *pos, start;

	if (i >= len)
		return 0;
	if (s[i] != ' ')
		return -1;	/* words are separated by one space */
	i++;
	start = i;
	while (i < len && s[i] != ' ')
		i++;
	if (i == start)
		return -1;	/* two spaces in a row */
	*w = s + start;
	*wlen = i - start;
	*pos = i;
	return 1;
}

/* number - parse one message number or line count into c->num[k] */
static int
number(struct pop3d_cmd *c, int k, const char *w, size_t n)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] < '0' || w[i] > '9')
			return POP3D_PARSE_SYNTAX;
	if (str_parse_u64(w, n, POP3D_NUMBER_MAX, &v) < 0) {
		c->bad_num = k;
		return POP3D_PARSE_RANGE;
	}
	c->num[k] = (uint32_t)v;
	c->nnum = k + 1;
	return POP3D_PARSE_OK;
}

/* numbers - parse between min and max numbers from the rest of the line */
static int
numbers(struct pop3d_cmd *c, const char *s, size_t len, size_t pos,
    int min, int max)
{
	const char *w;
	size_t wlen;
	int k, r;

	for (k = 0; k < max; k++) {
		r = next_word(s, len, &pos, &w, &wlen);
		if (r < 0)
			return POP3D_PARSE_SYNTAX;
		if (r == 0)
			break;
		if ((r = number(c, k, w, wlen)) != POP3D_PARSE_OK)
			return r;
	}
	if (k < min || pos != len)
		return POP3D_PARSE_SYNTAX;
	return POP3D_PARSE_OK;
}

/* pop3d_parse - one command line into c */
int
pop3d_parse(const char *line, size_t len, struct pop3d_cmd *c)
{
	const char *w;
	size_t klen, i, wlen, pos;
	int r;

	memset(c, 0, sizeof(*c));
	for (klen = 0; klen < len && line[klen] != ' '; klen++)
		;
	if (klen < 3 || klen > 4)
		return POP3D_PARSE_UNKNOWN;
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strlen(keywords[i].word) == klen &&
		    str_eq_nocase_n(line, keywords[i].word, klen))
			break;
	if (i == sizeof(keywords) / sizeof(keywords[0]))
		return POP3D_PARSE_UNKNOWN;
	c->id = keywords[i].id;

	if (c->id == POP3D_CMD_PASS) {
		/* The whole rest is the password; no NUL, CR, LF or control. */
		if (klen + 1 >= len || line[klen] != ' ' ||
		    len - klen - 1 > POP3D_ARG_MAX)
			return POP3D_PARSE_SYNTAX;
		for (i = klen + 1; i < len; i++)
			if ((unsigned char)line[i] < 0x20 ||
			    (unsigned char)line[i] == 0x7f)
				return POP3D_PARSE_SYNTAX;
		c->arg = line + klen + 1;
		c->arg_len = len - klen - 1;
		return POP3D_PARSE_OK;
	}
	if (!printable(line, len))
		return POP3D_PARSE_SYNTAX;
	while (len > klen && line[len - 1] == ' ')
		len--;		/* trailing blanks (tabs are not printable) */
	pos = klen;

	switch (c->id) {
	case POP3D_CMD_USER:
		if (next_word(line, len, &pos, &w, &wlen) != 1 || pos != len ||
		    wlen > POP3D_ARG_MAX)
			return POP3D_PARSE_SYNTAX;
		c->arg = w;
		c->arg_len = wlen;
		return POP3D_PARSE_OK;
	case POP3D_CMD_AUTH:
		r = next_word(line, len, &pos, &w, &wlen);
		if (r < 0)
			return POP3D_PARSE_SYNTAX;
		if (r == 0)
			return POP3D_PARSE_OK;	/* bare AUTH: list them */
		c->arg = w;
		c->arg_len = wlen;
		r = next_word(line, len, &pos, &w, &wlen);
		if (r < 0 || pos != len)
			return POP3D_PARSE_SYNTAX;
		if (r == 1) {
			c->arg2 = w;
			c->arg2_len = wlen;
		}
		return POP3D_PARSE_OK;
	case POP3D_CMD_LIST:
	case POP3D_CMD_UIDL:
		return numbers(c, line, len, pos, 0, 1);
	case POP3D_CMD_RETR:
	case POP3D_CMD_DELE:
		return numbers(c, line, len, pos, 1, 1);
	case POP3D_CMD_TOP:
		return numbers(c, line, len, pos, 2, 2);
	default:
		return pos == len ? POP3D_PARSE_OK : POP3D_PARSE_SYNTAX;
	}
}

/* pop3d_base64_decode - strict base64 into out (appended) */
int
pop3d_base64_decode(const char *in, size_t len, struct buf *out)
{
	if (len == 1 && in[0] == '=')
		return 0;	/* RFC 5034: the empty initial response */
	return sasl_b64_decode(in, len, out);
}

/* pop3d_sasl_plain - split "authzid NUL authcid NUL password" */
int
pop3d_sasl_plain(const char *data, size_t len, const char **authz_r,
    size_t *authz_len_r, const char **authc_r, size_t *authc_len_r,
    const char **pass_r, size_t *pass_len_r)
{
	const char *n1, *n2;

	n1 = memchr(data, '\0', len);
	if (n1 == NULL)
		goto bad;
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - data));
	if (n2 == NULL || memchr(n2 + 1, '\0',
	    len - (size_t)(n2 + 1 - data)) != NULL)
		goto bad;
	*authz_r = data;
	*authz_len_r = (size_t)(n1 - data);
	*authc_r = n1 + 1;
	*authc_len_r = (size_t)(n2 - n1 - 1);
	*pass_r = n2 + 1;
	*pass_len_r = len - (size_t)(n2 + 1 - data);
	if (*authc_len_r == 0 || *pass_len_r == 0)
		goto bad;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
