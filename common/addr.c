/*
 * NAME
 *	addr - mail addresses: SMTP paths and header address lists
 *
 * SYNOPSIS
 *	int addr_parse_path(const char *s, size_t len, int flags,
 *	    struct addr *a, size_t *end_r, const char **error_r);
 *	int addr_parse_domain(const char *s, size_t len, int flags,
 *	    char domain_r[ADDR_DOMAIN_MAX + 1], int *aflags_r,
 *	    const char **error_r);
 *	int addr_format(const struct addr *a, char *out, size_t size);
 *	int addr_domain_is(const struct addr *a, const char *domain);
 *	int addr_parse_header(const char *s, size_t len, size_t max_addrs,
 *	    struct addr_hdr_list *out, const char **error_r);
 *	void addr_hdr_list_free(struct addr_hdr_list *l);
 *
 * DESCRIPTION
 *	addr_parse_path() reads one RFC 5321 Path (or the null path) from s,
 *	which must start with '<'; len is authoritative and s need not be
 *	NUL-terminated. On success *end_r is the offset just past '>', where
 *	the ESMTP parameters start. The grammar is RFC 5321 4.1.2:
 *
 *	    Path        = "<" [ A-d-l ":" ] Mailbox ">"
 *	    A-d-l       = At-domain *( "," At-domain )
 *	    Mailbox     = Local-part "@" ( Domain / address-literal )
 *	    Local-part  = Dot-string / Quoted-string
 *
 *	with RFC 6531 UTF-8 in atoms, quoted strings and domain labels when
 *	ADDR_ALLOW_UTF8 is given. On top of the grammar: the local part may
 *	not be empty (<""@x> is refused); a domain may not end in a dot and
 *	its last label may not be all digits (RFC 1123 2.1, RFC 3696 2: no
 *	top-level domain is numeric, so <v@192.0.2.1> is refused rather than
 *	left for a resolver to take as an IP address); route domains are
 *	checked like any other but may not be literals (At-domain is "@"
 *	Domain); IPv4 and IPv6 literals are checked with inet_pton() and
 *	General-address-literals are refused. "<Postmaster>" (any case, no
 *	quotes, no route) is accepted only with ADDR_ALLOW_POSTMASTER and
 *	gives local "postmaster", domain "". The local part is put in the
 *	canonical form described in addr.h.
 *
 *	addr_parse_domain() reads exactly len octets as a Domain or an
 *	address-literal, by the same rules, into domain_r.
 *
 *	addr_format() writes "local@domain" ("" for the null path, the local
 *	part alone when the domain is empty). addr_domain_is() compares the
 *	domain with a string, ignoring ASCII case.
 *
 *	addr_parse_header() reads an RFC 5322 address-list, the body of an
 *	address field after its colon, and appends one struct addr_hdr per
 *	mailbox, group start and group end to out (which must be
 *	ADDR_HDR_LIST_INIT or hold earlier results: several fields can be
 *	gathered in one list). It accepts the obsolete syntax of RFC 5322
 *	section 4.4 (CFWS around '.' and '@', obs-route, empty list
 *	elements, "." in phrases) and recovers from broken input:
 *
 *	- An entry ends at a ',' or ';' outside quotes, comments, literals
 *	  and a source route. Empty entries and comment-only entries are
 *	  dropped.
 *	- Comments nest; they are read without recursion, keeping a depth
 *	  count. Only the first comment of an entry is recorded (as the name
 *	  when there is no phrase), and text deeper than
 *	  ADDR_HDR_COMMENT_DEPTH is skipped, though its parentheses still
 *	  count. An unterminated quote, comment, literal or '<' runs to the
 *	  end of its entry (or of the input) and makes the entry invalid.
 *	- Words without '@' or '<' are a bare local part if they are a
 *	  single word or dot-separated words, else a display name alone;
 *	  either way the entry is invalid (it has no domain).
 *	- "x@y <a@b>" keeps <a@b>; text after '>' is ignored; a second '@'
 *	  or a stray special is ignored; each makes the entry invalid.
 *	- A ';' outside a group separates entries like ',' but makes the
 *	  entry it ends invalid; a ':' inside a group restarts the entry; a
 *	  group still open at the end of the input is closed by a GROUP_END
 *	  entry with valid = 0, so that starts and ends always pair up.
 *	- NUL and other control characters (but tab, CR and LF, which are
 *	  white space) are never copied and make the entry invalid. CR and
 *	  LF are dropped (unfolding); a tab inside quotes is kept in a local
 *	  part as written; in names every run of white space is one space.
 *	  Other 8-bit octets are copied unchanged; a local part or domain
 *	  that is not valid UTF-8 makes the entry invalid.
 *	- A field longer than ADDR_HDR_FIELD_MAX is cut (at a UTF-8
 *	  boundary) and the entry is invalid.
 *	- A mailbox is valid only if it has a non-empty local part and
 *	  domain, both well-formed, and nothing above went wrong.
 *
 * DIAGNOSTICS
 *	addr_parse_path, addr_parse_domain: 0, or -1 with *error_r set to a
 *	short static text fit for an SMTP reply and errno: EINVAL for a
 *	syntax error (501), ENAMETOOLONG for a local part, label, domain or
 *	path over its limit (501/553), EILSEQ for 8-bit octets without
 *	ADDR_ALLOW_UTF8 or bad UTF-8 with it (553 5.6.7). On failure *a holds
 *	empty fields and *end_r is not set. All failures are permanent.
 *	addr_format: 0, or -1/ENAMETOOLONG (out holds "") when it does not
 *	fit. addr_parse_header: 0, or -1/E2BIG (*error_r "too many
 *	addresses") when out->n reached max_addrs before the input ended;
 *	the list then holds max_addrs entries. It fails in no other way.
 *	Out of memory exits 111 through alloc(3). error_r may be NULL.
 *
 * SECURITY
 *	No privileges. Written for hostile input: every read is bounded by
 *	len, NUL is an error (paths) or an invalid character (headers) and
 *	never an end of string, all work is linear in len, and nothing
 *	recurses. The path parser never re-routes: the domain returned is
 *	always the one after the last '@' outside quotes, and '%', '!' and
 *	quoted '@' stay in the local part (SECURITY.md A4, A7, A9, A10, O1,
 *	O2, O3).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "buf.h"
#include "str.h"
#include "utf8.h"

static const char E_8BIT[] = "8-bit address without SMTPUTF8";
static const char E_DOMAIN[] = "syntax error in domain";
static const char E_LOCAL[] = "syntax error in local part";

/* seterr - set errno and *error_r, return -1 */
static int
seterr(const char **error_r, int err, const char *msg)
{
	if (error_r != NULL)
		*error_r = msg;
	errno = err;
	return -1;
}

/* badbyte - the error for an unexpected octet c where msg says what broke */
static int
badbyte(unsigned char c, int flags, const char *msg, const char **error_r)
{
	if (c < 0x20 || c == 0x7f)
		return seterr(error_r, EINVAL, "invalid character in address");
	if (c >= 0x80 && (flags & ADDR_ALLOW_UTF8) == 0)
		return seterr(error_r, EILSEQ, E_8BIT);
	return seterr(error_r, EINVAL, msg);
}

/* is_atext - an RFC 5321 atext octet (ASCII only) */
static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_digit - an ASCII digit */
static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* is_letdig - an ASCII letter or digit */
static int
is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}

/* lower - ASCII lower case of one octet */
static char
lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* u8seq - length of the well-formed UTF-8 sequence at s[i], 0 if none */
static size_t
u8seq(const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i];
	size_t k;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (k > n - i || !utf8_valid(s + i, k))
		return 0;
	return k;
}

/* utf8_octets - length of the UTF-8 character at s[i], or -1 with an error */
static int
utf8_octets(const unsigned char *s, size_t i, size_t n, int flags,
    size_t *k_r, const char **error_r)
{
	if ((flags & ADDR_ALLOW_UTF8) == 0)
		return seterr(error_r, EILSEQ, E_8BIT);
	if ((*k_r = u8seq(s, i, n)) == 0)
		return seterr(error_r, EILSEQ, "invalid UTF-8 in address");
	return 0;
}

/* is_dot_string - 1 if p[0..n) is an RFC 5321 Dot-string (8-bit allowed) */
static int
is_dot_string(const char *p, size_t n)
{
	size_t i;
	int prev_dot = 1;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
		} else if (is_atext(c) || c >= 0x80) {
			prev_dot = 0;
		} else
			return 0;
	}
	return !prev_dot;
}

/* parse_literal - an address-literal at s[*ip] == '[' into out */
static int
parse_literal(const unsigned char *s, size_t n, size_t *ip, int flags,
    char out[ADDR_DOMAIN_MAX + 1], int *aflags, const char **error_r)
{
	char tmp[ADDR_DOMAIN_MAX + 1];
	unsigned char bin[16];
	size_t start = *ip, i = *ip + 1, clen, k;

	while (i < n && s[i] != ']') {
		if (s[i] < 33 || s[i] > 126 || s[i] == '[' || s[i] == '\\')
			return badbyte(s[i], flags, "bad address literal",
			    error_r);
		if (i + 2 - start > ADDR_DOMAIN_MAX)
			return seterr(error_r, ENAMETOOLONG, "domain too long");
		i++;
	}
	if (i == n)
		return seterr(error_r, EINVAL, "bad address literal");
	clen = i - start - 1;
	/* UNSAFE: the loop kept clen + 2 <= ADDR_DOMAIN_MAX < sizeof(tmp). */
	memcpy(tmp, s + start + 1, clen);
	tmp[clen] = '\0';
	if (clen >= 5 && str_eq_nocase_n(tmp, "IPv6:", 5)) {
		if (inet_pton(AF_INET6, tmp + 5, bin) != 1)
			return seterr(error_r, EINVAL, "bad address literal");
		memcpy(out, "[IPv6:", 6);
		for (k = 5; k < clen; k++)
			out[k + 1] = lower((unsigned char)tmp[k]);
	} else if (memchr(tmp, ':', clen) != NULL) {
		return seterr(error_r, EINVAL, "unsupported address literal");
	} else {
		if (inet_pton(AF_INET, tmp, bin) != 1)
			return seterr(error_r, EINVAL, "bad address literal");
		out[0] = '[';
		memcpy(out + 1, tmp, clen);
	}
	out[clen + 1] = ']';
	out[clen + 2] = '\0';
	*aflags |= ADDR_F_LITERAL;
	*ip = i + 1;
	return 0;
}

/* parse_domain - a Domain (or, if lit, an address-literal) at s[*ip] */
static int
parse_domain(const unsigned char *s, size_t n, size_t *ip, int flags,
    int lit, char out[ADDR_DOMAIN_MAX + 1], int *aflags,
    const char **error_r)
{
	size_t start = *ip, i = *ip, lstart, k;
	int alldigit;

	if (i < n && s[i] == '[') {
		if (!lit)
			return seterr(error_r, EINVAL,
			    "syntax error in source route");
		return parse_literal(s, n, ip, flags, out, aflags, error_r);
	}
	for (;;) {
		lstart = i;
		alldigit = 1;
		while (i < n) {
			unsigned char c = s[i];

			if (is_letdig(c) || c == '-') {
				k = 1;
				if (!is_digit(c))
					alldigit = 0;
			} else if (c >= 0x80) {
				if (utf8_octets(s, i, n, flags, &k,
				    error_r) < 0)
					return -1;
				alldigit = 0;
				*aflags |= ADDR_F_UTF8;
			} else
				break;
			if (i + k - start > ADDR_DOMAIN_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "domain too long");
			if (i + k - lstart > ADDR_LABEL_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "domain label too long");
			for (; k > 0; k--, i++)
				out[i - start] = lower(s[i]);
		}
		if (i == lstart) {
			if (i < n)
				return badbyte(s[i], flags, E_DOMAIN,
				    error_r);
			return seterr(error_r, EINVAL, E_DOMAIN);
		}
		if (s[lstart] == '-' || s[i - 1] == '-')
			return seterr(error_r, EINVAL, E_DOMAIN);
		if (i < n && s[i] == '.') {
			if (i + 1 - start > ADDR_DOMAIN_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "domain too long");
			out[i - start] = '.';
			i++;
			continue;
		}
		break;
	}
	if (alldigit)
		return seterr(error_r, EINVAL, E_DOMAIN);
	out[i - start] = '\0';
	*ip = i;
	return 0;
}

/* parse_quoted - a Quoted-string local part at s[*ip] == '"' into a */
static int
parse_quoted(const unsigned char *s, size_t n, size_t *ip, int flags,
    struct addr *a, const char **error_r)
{
	char content[ADDR_LOCAL_MAX + 1];
	size_t start = *ip, i = *ip + 1, clen = 0, k, o;

	for (;;) {
		unsigned char c;
		int qp = 0;

		if (i == n)
			return seterr(error_r, EINVAL,
			    E_LOCAL);
		c = s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 == n)
				return seterr(error_r, EINVAL,
				    E_LOCAL);
			c = s[i + 1];
			if (c < 32 || c > 126)
				return badbyte(c, flags, E_LOCAL, error_r);
			k = 2;
			qp = 1;
		} else if (c >= 32 && c <= 126) {
			k = 1;
		} else if (c >= 0x80) {
			if (utf8_octets(s, i, n, flags, &k, error_r) < 0)
				return -1;
			a->flags |= ADDR_F_UTF8;
		} else
			return badbyte(c, flags, E_LOCAL,
			    error_r);
		/* + 1 for the closing quote still to come */
		if (i + k + 1 - start > ADDR_LOCAL_MAX)
			return seterr(error_r, ENAMETOOLONG,
			    "local part too long");
		if (qp)
			content[clen++] = (char)c;
		else {
			memcpy(content + clen, s + i, k);
			clen += k;
		}
		i += k;
	}
	i++;
	if (clen == 0)
		return seterr(error_r, EINVAL, "empty local part");
	if (is_dot_string(content, clen)) {
		memcpy(a->local, content, clen);
		a->local[clen] = '\0';
	} else {
		/* UNSAFE: each escaped octet was escaped on the wire too, so
		 * the result is no longer than s[start..i), which is at most
		 * ADDR_LOCAL_MAX; the check below keeps that honest. */
		o = 0;
		a->local[o++] = '"';
		for (k = 0; k < clen; k++) {
			if (o + 3 > sizeof(a->local))
				return seterr(error_r, ENAMETOOLONG,
				    "local part too long");
			if (content[k] == '"' || content[k] == '\\')
				a->local[o++] = '\\';
			a->local[o++] = content[k];
		}
		if (o + 2 > sizeof(a->local))
			return seterr(error_r, ENAMETOOLONG,
			    "local part too long");
		a->local[o++] = '"';
		a->local[o] = '\0';
		a->flags |= ADDR_F_QUOTED;
	}
	*ip = i;
	return 0;
}

/* parse_dot_string - a Dot-string local part at s[*ip] into a */
static int
parse_dot_string(const unsigned char *s, size_t n, size_t *ip, int flags,
    struct addr *a, const char **error_r)
{
	size_t start = *ip, i = *ip, k, astart;

	for (;;) {
		astart = i;
		while (i < n) {
			unsigned char c = s[i];

			if (is_atext(c))
				k = 1;
			else if (c >= 0x80) {
				if (utf8_octets(s, i, n, flags, &k,
				    error_r) < 0)
					return -1;
				a->flags |= ADDR_F_UTF8;
			} else
				break;
			if (i + k - start > ADDR_LOCAL_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "local part too long");
			i += k;
		}
		if (i == astart) {
			if (i < n)
				return badbyte(s[i], flags,
				    E_LOCAL, error_r);
			return seterr(error_r, EINVAL,
			    E_LOCAL);
		}
		if (i < n && s[i] == '.') {
			if (i + 1 - start > ADDR_LOCAL_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "local part too long");
			i++;
			continue;
		}
		break;
	}
	memcpy(a->local, s + start, i - start);
	a->local[i - start] = '\0';
	*ip = i;
	return 0;
}

/* parse_path - the body of addr_parse_path; a is already cleared */
static int
parse_path(const unsigned char *s, size_t n, int flags, struct addr *a,
    size_t *end_r, const char **error_r)
{
	char route[ADDR_DOMAIN_MAX + 1];
	size_t i = 1, lstart;
	int rflags = 0;

	if (n == 0 || s[0] != '<')
		return seterr(error_r, EINVAL, "path must begin with <");
	if (n > 1 && s[1] == '>') {
		if ((flags & ADDR_ALLOW_NULL) == 0)
			return seterr(error_r, EINVAL, "null path not allowed");
		a->flags = ADDR_F_NULL;
		*end_r = 2;
		return 0;
	}
	if (i < n && s[i] == '@') {
		for (;;) {
			i++;	/* the '@' */
			if (parse_domain(s, n, &i, flags, 0, route, &rflags,
			    error_r) < 0)
				return -1;
			if (i > ADDR_PATH_MAX)
				return seterr(error_r, ENAMETOOLONG,
				    "path too long");
			if (i + 1 < n && s[i] == ',' && s[i + 1] == '@') {
				i++;
				continue;
			}
			if (i < n && s[i] == ':') {
				i++;
				break;
			}
			if (i < n)
				return badbyte(s[i], flags,
				    "syntax error in source route", error_r);
			return seterr(error_r, EINVAL,
			    "syntax error in source route");
		}
		a->flags |= ADDR_F_ROUTE;	/* UTF-8 in it is not kept */
	}
	if (i == n)
		return seterr(error_r, EINVAL, "syntax error in address");
	lstart = i;
	if (s[i] == '"') {
		if (parse_quoted(s, n, &i, flags, a, error_r) < 0)
			return -1;
	} else if (parse_dot_string(s, n, &i, flags, a, error_r) < 0)
		return -1;
	if (i == n)
		return seterr(error_r, EINVAL, "missing > at end of path");
	if (s[i] == '>') {
		if ((flags & ADDR_ALLOW_POSTMASTER) &&
		    (a->flags & ADDR_F_ROUTE) == 0 && i - lstart == 10 &&
		    str_eq_nocase_n((const char *)s + lstart, "postmaster",
		    10)) {
			memcpy(a->local, "postmaster", sizeof("postmaster"));
			a->flags = 0;
			*end_r = i + 1;
			return 0;
		}
		return seterr(error_r, EINVAL, "missing domain in address");
	}
	if (s[i] != '@')
		return badbyte(s[i], flags, "syntax error in address", error_r);
	i++;
	if (parse_domain(s, n, &i, flags, 1, a->domain, &a->flags,
	    error_r) < 0)
		return -1;
	if (i == n)
		return seterr(error_r, EINVAL, "missing > at end of path");
	if (s[i] != '>')
		return badbyte(s[i], flags, "syntax error in address", error_r);
	i++;
	if (i > ADDR_PATH_MAX)
		return seterr(error_r, ENAMETOOLONG, "path too long");
	*end_r = i;
	return 0;
}

/* addr_parse_path - one RFC 5321 Path starting at s[0] == '<' */
int
addr_parse_path(const char *s, size_t len, int flags, struct addr *a,
    size_t *end_r, const char **error_r)
{
	size_t end = 0;

	memset(a, 0, sizeof(*a));
	if (parse_path((const unsigned char *)s, len, flags, a, &end,
	    error_r) < 0) {
		memset(a, 0, sizeof(*a));
		return -1;
	}
	*end_r = end;
	return 0;
}

/* addr_parse_domain - exactly len octets as a Domain or address-literal */
int
addr_parse_domain(const char *s, size_t len, int flags,
    char domain_r[ADDR_DOMAIN_MAX + 1], int *aflags_r, const char **error_r)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	int aflags = 0;

	domain_r[0] = '\0';
	if (parse_domain(u, len, &i, flags, 1, domain_r, &aflags,
	    error_r) < 0) {
		domain_r[0] = '\0';
		return -1;
	}
	if (i != len) {
		domain_r[0] = '\0';
		if (u[i] == '.')
			return seterr(error_r, EINVAL,
			    E_DOMAIN);
		return badbyte(u[i], flags, E_DOMAIN, error_r);
	}
	if (aflags_r != NULL)
		*aflags_r = aflags;
	return 0;
}

/* addr_format - "local@domain" into out[size]; -1/ENAMETOOLONG if too long */
int
addr_format(const struct addr *a, char *out, size_t size)
{
	size_t ll, dl, need;

	if (size == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[0] = '\0';
	if (a->flags & ADDR_F_NULL)
		return 0;
	ll = strnlen(a->local, sizeof(a->local));
	dl = strnlen(a->domain, sizeof(a->domain));
	need = ll + (dl > 0 ? 1 + dl : 0) + 1;
	if (ll == sizeof(a->local) || dl == sizeof(a->domain) || need > size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, a->local, ll);
	if (dl > 0) {
		out[ll] = '@';
		memcpy(out + ll + 1, a->domain, dl);
	}
	out[need - 1] = '\0';
	return 0;
}

/* addr_domain_is - 1 if the domain equals domain, ignoring ASCII case */
int
addr_domain_is(const struct addr *a, const char *domain)
{
	return str_eq_nocase(a->domain, domain);
}

/*
 * The header parser. One entry is built at a time in struct hparse and
 * appended to the list when a ',' or ';' (or the end) closes it.
 */

enum {
	S_PRE,		/* phrase or local part: not yet known */
	S_ANGLE,	/* inside <...> */
	S_DOMAIN,	/* after the '@' of a bare addr-spec */
	S_POST		/* after '>' */
};

enum {
	A_START,	/* just after '<' */
	A_ROUTE,	/* in an obs-route, before its ':' */
	A_LOCAL,	/* the local part */
	A_DOMAIN	/* after '@' */
};

enum {
	T_NONE,		/* nothing yet in this part */
	T_WORD,		/* atom or quoted string */
	T_DOT,		/* "." */
	T_LIT		/* domain literal */
};

/* bits of hparse.full: fields cut at ADDR_HDR_FIELD_MAX */
#define F_NAME		0x01
#define F_LOCAL		0x02
#define F_DOMAIN	0x04
#define F_ROUTE		0x08
#define F_CMT		0x10

struct hparse {
	const unsigned char *s;
	size_t n, i;
	struct addr_hdr e;	/* the entry being built */
	struct buf cmt;		/* the entry's first comment */
	struct addr_hdr_list *out;
	size_t max;
	unsigned full;		/* F_* */
	int state;		/* S_* */
	int sub;		/* A_*, in S_ANGLE */
	int last;		/* T_* of the last token of the current part */
	int any;		/* the entry has a token other than CFWS */
	int cmt_seen;		/* the first comment was read */
	int pre_local;		/* S_PRE tokens still form word *("." word) */
	int route_dom;		/* in a route, after '@' */
	int in_group;
	int sep;		/* CFWS before the current token */
};

/* is_hatom - an octet of a header atom (8-bit allowed, '\' tolerated) */
static int
is_hatom(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (c <= 0x20 || c == 0x7f)
		return 0;
	return strchr("()<>[]:;@,.\"", c) == NULL;
}

/* is_ctl - a control character other than the white space ones */
static int
is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* is_wsp - white space, with CR and LF folded in */
static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* bufbit - the F_* bit of one of the entry's buffers */
static unsigned
bufbit(const struct hparse *h, const struct buf *b)
{
	if (b == &h->e.name)
		return F_NAME;
	if (b == &h->e.local)
		return F_LOCAL;
	if (b == &h->e.domain)
		return F_DOMAIN;
	if (b == &h->e.route)
		return F_ROUTE;
	return F_CMT;
}

/* cut_partial_utf8 - drop an incomplete UTF-8 sequence at the end of b */
static void
cut_partial_utf8(struct buf *b)
{
	size_t k, need;

	for (k = 1; k <= 4 && k <= b->len; k++) {
		unsigned char c = (unsigned char)b->data[b->len - k];

		if (c < 0x80)
			return;
		if (c >= 0xc0) {
			need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (need > k)
				buf_truncate(b, b->len - k);
			return;
		}
	}
}

/* put - append to b (NULL: discard); past the limit cut and mark full */
static void
put(struct hparse *h, struct buf *b, const void *p, size_t len)
{
	unsigned bit;
	size_t room;

	if (b == NULL || len == 0)
		return;
	bit = bufbit(h, b);
	if (h->full & bit)
		return;
	room = ADDR_HDR_FIELD_MAX - b->len;
	if (len <= room) {
		(void)buf_append(b, p, len);
		return;
	}
	(void)buf_append(b, p, room);
	cut_partial_utf8(b);
	h->full |= bit;
}

/* put_c - append one octet */
static void
put_c(struct hparse *h, struct buf *b, unsigned char c)
{
	put(h, b, &c, 1);
}

/* put_space - one space into a display text, never leading or doubled */
static void
put_space(struct hparse *h, struct buf *b)
{
	if (b != NULL && b->len > 0 && b->data[b->len - 1] != ' ')
		put_c(h, b, ' ');
}

/* trim_space - drop a trailing space from a display text */
static void
trim_space(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] == ' ')
		buf_truncate(b, b->len - 1);
}

/* clear - empty one of the entry's buffers */
static void
clear(struct hparse *h, struct buf *b)
{
	buf_reset(b);
	h->full &= ~bufbit(h, b);
}

/* comment - skip a comment at s[i] == '(', recording the entry's first */
static void
comment(struct hparse *h)
{
	struct buf *rec = h->cmt_seen ? NULL : &h->cmt;
	size_t depth = 0;

	h->cmt_seen = 1;
	while (h->i < h->n) {
		unsigned char c = h->s[h->i++];
		int deep = depth > ADDR_HDR_COMMENT_DEPTH;

		if (c == '(') {
			depth++;
			if (depth > 1 && depth <= ADDR_HDR_COMMENT_DEPTH)
				put_c(h, rec, c);
		} else if (c == ')') {
			if (depth > 1 && depth <= ADDR_HDR_COMMENT_DEPTH)
				put_c(h, rec, c);
			if (--depth == 0)
				return;
		} else if (c == '\\') {
			if (h->i == h->n)
				break;
			c = h->s[h->i++];
			if (is_ctl(c))
				h->e.valid = 0;
			else if (is_wsp(c)) {
				if (!deep)
					put_space(h, rec);
			} else if (!deep)
				put_c(h, rec, c);
		} else if (is_wsp(c)) {
			if (!deep)
				put_space(h, rec);
		} else if (is_ctl(c)) {
			h->e.valid = 0;
		} else if (!deep)
			put_c(h, rec, c);
	}
	h->e.valid = 0;		/* unterminated */
}

/* skip_cfws - skip white space, comments and control characters */
static void
skip_cfws(struct hparse *h)
{
	h->sep = 0;
	while (h->i < h->n) {
		unsigned char c = h->s[h->i];

		if (is_wsp(c)) {
			h->sep = 1;
			h->i++;
		} else if (c == '(') {
			h->sep = 1;
			comment(h);
		} else if (is_ctl(c)) {
			h->e.valid = 0;
			h->i++;
		} else
			break;
	}
}

/* quoted - a quoted string at s[i] == '"': raw as written, disp decoded */
static void
quoted(struct hparse *h, struct buf *raw, struct buf *disp)
{
	put_c(h, raw, '"');
	h->i++;
	while (h->i < h->n) {
		unsigned char c = h->s[h->i++];

		if (c == '"') {
			put_c(h, raw, '"');
			return;
		}
		if (c == '\\') {
			if (h->i == h->n)
				break;
			c = h->s[h->i++];
			if (is_ctl(c) || c == '\r' || c == '\n') {
				h->e.valid = 0;
				continue;
			}
			put_c(h, raw, '\\');
			put_c(h, raw, c);
			if (c == ' ' || c == '\t')
				put_space(h, disp);
			else
				put_c(h, disp, c);
		} else if (c == '\r' || c == '\n') {
			continue;	/* unfolding */
		} else if (c == ' ' || c == '\t') {
			put_c(h, raw, c);
			put_space(h, disp);
		} else if (is_ctl(c)) {
			h->e.valid = 0;
		} else {
			put_c(h, raw, c);
			put_c(h, disp, c);
		}
	}
	h->e.valid = 0;		/* unterminated */
}

/* literal - a domain literal at s[i] == '[', white space removed */
static void
literal(struct hparse *h, struct buf *raw, struct buf *disp)
{
	put_c(h, raw, '[');
	put_c(h, disp, '[');
	h->i++;
	while (h->i < h->n) {
		unsigned char c = h->s[h->i++];

		if (c == ']') {
			put_c(h, raw, c);
			put_c(h, disp, c);
			return;
		}
		if (c == '\\') {
			if (h->i == h->n)
				break;
			c = h->s[h->i++];
			if (is_ctl(c) || is_wsp(c)) {
				h->e.valid = 0;
				continue;
			}
			put_c(h, raw, '\\');
			put_c(h, disp, '\\');
		} else if (is_wsp(c)) {
			continue;
		} else if (is_ctl(c) || c == '[') {
			h->e.valid = 0;
			continue;
		}
		put_c(h, raw, c);
		put_c(h, disp, c);
	}
	h->e.valid = 0;		/* unterminated */
}

/* atom - a run of atom octets into b1 and b2 */
static void
atom(struct hparse *h, struct buf *b1, struct buf *b2)
{
	size_t start = h->i;

	while (h->i < h->n && is_hatom(h->s[h->i])) {
		if (h->s[h->i] == '\\')
			h->e.valid = 0;
		h->i++;
	}
	put(h, b1, h->s + start, h->i - start);
	put(h, b2, h->s + start, h->i - start);
}

/* is_wordish - s[i] starts an atom, quoted string, dot or literal */
static int
is_wordish(unsigned char c)
{
	return c == '"' || c == '.' || c == '[' || is_hatom(c);
}

/* part_word - the next word, dot or literal of a local part or domain */
static void
part_word(struct hparse *h, struct buf *b, int is_domain)
{
	unsigned char c = h->s[h->i];

	if (c == '.') {
		if (h->last != T_WORD)
			h->e.valid = 0;
		put_c(h, b, '.');
		h->i++;
		h->last = T_DOT;
	} else if (c == '[') {
		if (!is_domain || h->last != T_NONE)
			h->e.valid = 0;
		literal(h, b, NULL);
		h->last = T_LIT;
	} else {
		if (h->last == T_WORD || h->last == T_LIT)
			h->e.valid = 0;
		if (c == '"') {
			if (is_domain)
				h->e.valid = 0;
			quoted(h, b, NULL);
		} else
			atom(h, b, NULL);
		h->last = T_WORD;
	}
}

/* skip_token - read and drop one token that has no place */
static void
skip_token(struct hparse *h)
{
	unsigned char c = h->s[h->i];

	h->e.valid = 0;
	h->any = 1;
	if (c == '"')
		quoted(h, NULL, NULL);
	else if (c == '[')
		literal(h, NULL, NULL);
	else if (is_hatom(c))
		atom(h, NULL, NULL);
	else
		h->i++;
}

/* entry_reset - start a new entry */
static void
entry_reset(struct hparse *h)
{
	clear(h, &h->e.name);
	clear(h, &h->e.route);
	clear(h, &h->e.local);
	clear(h, &h->e.domain);
	clear(h, &h->cmt);
	h->full = 0;
	h->e.kind = ADDR_HDR_MAILBOX;
	h->e.valid = 1;
	h->state = S_PRE;
	h->sub = A_START;
	h->last = T_NONE;
	h->any = 0;
	h->cmt_seen = 0;
	h->pre_local = 1;
	h->route_dom = 0;
}

/* emit - append the entry as it is to the list; -1/E2BIG when full */
static int
emit(struct hparse *h)
{
	struct addr_hdr_list *l = h->out;

	if (l->n >= h->max) {
		errno = E2BIG;
		return -1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap < 8 ? 8 : l->cap * 2;

		l->v = alloc_reallocarray(l->v, cap, sizeof(*l->v));
		l->cap = cap;
	}
	if (h->full)
		h->e.valid = 0;
	l->v[l->n++] = h->e;
	buf_init(&h->e.name, ADDR_HDR_FIELD_MAX);
	buf_init(&h->e.route, ADDR_HDR_FIELD_MAX);
	buf_init(&h->e.local, ADDR_HDR_FIELD_MAX);
	buf_init(&h->e.domain, ADDR_HDR_FIELD_MAX);
	entry_reset(h);
	return 0;
}

/* end_entry - close the entry being built (if any) as a mailbox */
static int
end_entry(struct hparse *h)
{
	struct addr_hdr *e = &h->e;

	if (!h->any) {
		entry_reset(h);
		return 0;
	}
	switch (h->state) {
	case S_PRE:
		/* no '@' and no '<': a bare local part or a lone name */
		if (h->pre_local && h->last == T_WORD) {
			clear(h, &e->name);
		} else
			clear(h, &e->local);
		e->valid = 0;
		break;
	case S_ANGLE:
		e->valid = 0;	/* unterminated */
		break;
	case S_DOMAIN:
		if (h->last != T_WORD && h->last != T_LIT)
			e->valid = 0;
		break;
	default:
		break;
	}
	if (e->local.len == 0 || e->domain.len == 0 ||
	    !utf8_valid(e->local.data, e->local.len) ||
	    !utf8_valid(e->domain.data, e->domain.len))
		e->valid = 0;
	trim_space(&e->name);
	trim_space(&h->cmt);
	if (e->name.len == 0 && h->cmt.len > 0) {
		(void)buf_set(&e->name, h->cmt.data, h->cmt.len);
		if (h->full & F_CMT)
			h->full |= F_NAME;
	}
	h->full &= ~F_CMT;
	e->kind = ADDR_HDR_MAILBOX;
	return emit(h);
}

/* end_group - a ';': close the entry, then the group */
static int
end_group(struct hparse *h)
{
	if (!h->in_group) {
		h->e.valid = 0;
		return end_entry(h);
	}
	if (end_entry(h) < 0)
		return -1;
	h->in_group = 0;
	h->e.kind = ADDR_HDR_GROUP_END;
	return emit(h);
}

/* start_group - a ':' after a phrase */
static int
start_group(struct hparse *h)
{
	if (h->in_group) {
		/* groups do not nest: drop what came before */
		clear(h, &h->e.name);
		clear(h, &h->e.local);
		h->e.valid = 0;
		h->any = 1;
		h->last = T_NONE;
		h->pre_local = 1;
		return 0;
	}
	trim_space(&h->e.name);
	if (h->e.name.len == 0)
		h->e.valid = 0;
	clear(h, &h->e.local);
	h->full &= ~F_CMT;
	h->e.kind = ADDR_HDR_GROUP_START;
	h->in_group = 1;
	return emit(h);
}

/* step_pre - one token before any '<' or '@' */
static int
step_pre(struct hparse *h, unsigned char c)
{
	if (c != ',' && c != ';' && c != ':')
		h->any = 1;
	if (c == '.') {
		if (h->last != T_WORD)
			h->pre_local = 0;
		if (h->sep)
			put_space(h, &h->e.name);
		put_c(h, &h->e.name, '.');
		put_c(h, &h->e.local, '.');
		h->i++;
		h->last = T_DOT;
		return 0;
	}
	if (c == '[') {
		h->pre_local = 0;
		h->e.valid = 0;
		if (h->sep)
			put_space(h, &h->e.name);
		literal(h, &h->e.local, &h->e.name);
		h->last = T_LIT;
		return 0;
	}
	if (c == '"' || is_hatom(c)) {
		if (h->last != T_NONE && h->last != T_DOT)
			h->pre_local = 0;
		if (h->sep)
			put_space(h, &h->e.name);
		if (c == '"')
			quoted(h, &h->e.local, &h->e.name);
		else
			atom(h, &h->e.local, &h->e.name);
		h->last = T_WORD;
		return 0;
	}
	h->i++;
	switch (c) {
	case '<':
		clear(h, &h->e.local);
		h->state = S_ANGLE;
		h->sub = A_START;
		h->last = T_NONE;
		return 0;
	case '@':
		if (!h->pre_local || h->last != T_WORD)
			h->e.valid = 0;
		clear(h, &h->e.name);
		h->state = S_DOMAIN;
		h->last = T_NONE;
		return 0;
	case ':':
		return start_group(h);
	case ',':
		return end_entry(h);
	case ';':
		return end_group(h);
	default:
		h->e.valid = 0;		/* '>', ']', ')' or '\' */
		return 0;
	}
}

/* step_angle - one token inside <...> */
static int
step_angle(struct hparse *h, unsigned char c)
{
	switch (c) {
	case '>':
		h->i++;
		if (h->sub != A_DOMAIN ||
		    (h->last != T_WORD && h->last != T_LIT))
			h->e.valid = 0;
		h->state = S_POST;
		return 0;
	case ',':
		h->i++;
		if (h->sub == A_START || h->sub == A_ROUTE) {
			h->sub = A_ROUTE;
			h->route_dom = 0;
			put_c(h, &h->e.route, ',');
			return 0;
		}
		h->e.valid = 0;		/* unterminated '<' */
		return end_entry(h);
	case ';':
		h->i++;
		h->e.valid = 0;
		return end_group(h);
	case ':':
		h->i++;
		if (h->sub == A_ROUTE) {
			h->sub = A_LOCAL;
			h->last = T_NONE;
		} else
			h->e.valid = 0;
		return 0;
	case '@':
		h->i++;
		if (h->sub == A_START)
			h->sub = A_ROUTE;
		if (h->sub == A_ROUTE) {
			put_c(h, &h->e.route, '@');
			h->route_dom = 1;
			h->last = T_NONE;
		} else if (h->sub == A_LOCAL) {
			if (h->last != T_WORD)
				h->e.valid = 0;
			h->sub = A_DOMAIN;
			h->last = T_NONE;
		} else
			h->e.valid = 0;
		return 0;
	default:
		break;
	}
	if (!is_wordish(c)) {
		h->e.valid = 0;		/* '<', ']', ')' */
		h->i++;
		return 0;
	}
	if (h->sub == A_ROUTE) {
		if (h->route_dom) {
			part_word(h, &h->e.route, 1);
			return 0;
		}
		h->e.valid = 0;		/* route without its ':' */
		h->sub = A_LOCAL;
		h->last = T_NONE;
	}
	if (h->sub == A_START) {
		h->sub = A_LOCAL;
		h->last = T_NONE;
	}
	if (h->sub == A_LOCAL)
		part_word(h, &h->e.local, 0);
	else
		part_word(h, &h->e.domain, 1);
	return 0;
}

/* step_domain - one token after the '@' of a bare addr-spec */
static int
step_domain(struct hparse *h, unsigned char c)
{
	if (is_wordish(c)) {
		part_word(h, &h->e.domain, 1);
		return 0;
	}
	h->i++;
	switch (c) {
	case ',':
		return end_entry(h);
	case ';':
		return end_group(h);
	case '<':
		/* "x@y <a@b>": the angle address wins */
		h->e.valid = 0;
		clear(h, &h->e.local);
		clear(h, &h->e.domain);
		h->state = S_ANGLE;
		h->sub = A_START;
		h->last = T_NONE;
		return 0;
	default:
		h->e.valid = 0;
		return 0;
	}
}

/* step - dispatch one token at s[i] */
static int
step(struct hparse *h)
{
	unsigned char c = h->s[h->i];

	switch (h->state) {
	case S_PRE:
		return step_pre(h, c);
	case S_ANGLE:
		return step_angle(h, c);
	case S_DOMAIN:
		return step_domain(h, c);
	default:
		if (c == ',') {
			h->i++;
			return end_entry(h);
		}
		if (c == ';') {
			h->i++;
			return end_group(h);
		}
		skip_token(h);
		return 0;
	}
}

/* addr_parse_header - append the entries of an address-list to out */
int
addr_parse_header(const char *s, size_t len, size_t max_addrs,
    struct addr_hdr_list *out, const char **error_r)
{
	struct hparse h;
	int r = 0;

	memset(&h, 0, sizeof(h));
	h.s = (const unsigned char *)s;
	h.n = len;
	h.out = out;
	h.max = max_addrs;
	buf_init(&h.e.name, ADDR_HDR_FIELD_MAX);
	buf_init(&h.e.route, ADDR_HDR_FIELD_MAX);
	buf_init(&h.e.local, ADDR_HDR_FIELD_MAX);
	buf_init(&h.e.domain, ADDR_HDR_FIELD_MAX);
	buf_init(&h.cmt, ADDR_HDR_FIELD_MAX);
	entry_reset(&h);
	for (;;) {
		skip_cfws(&h);
		if (h.i >= h.n)
			break;
		if ((r = step(&h)) < 0)
			break;
	}
	if (r == 0)
		r = end_entry(&h);
	if (r == 0 && h.in_group) {
		h.in_group = 0;
		h.e.kind = ADDR_HDR_GROUP_END;
		h.e.valid = 0;
		r = emit(&h);
	}
	buf_free(&h.e.name);
	buf_free(&h.e.route);
	buf_free(&h.e.local);
	buf_free(&h.e.domain);
	buf_free(&h.cmt);
	if (r < 0)
		return seterr(error_r, E2BIG, "too many addresses");
	return 0;
}

/* addr_hdr_list_free - release every entry and the list itself */
void
addr_hdr_list_free(struct addr_hdr_list *l)
{
	size_t k;

	for (k = 0; k < l->n; k++) {
		buf_free(&l->v[k].name);
		buf_free(&l->v[k].route);
		buf_free(&l->v[k].local);
		buf_free(&l->v[k].domain);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
}
