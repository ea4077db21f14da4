/* test-addr - SMTP paths, domains and header address lists */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "test.h"

static struct addr a;
static size_t end;
static const char *err;
static int err_no;

/* pl - addr_parse_path on s[0..len), keeping errno */
static int
pl(const char *s, size_t len, int flags)
{
	int r;

	err = NULL;
	errno = 0;
	r = addr_parse_path(s, len, flags, &a, &end, &err);
	err_no = errno;
	return r;
}

/* p - addr_parse_path on a C string */
static int
p(const char *s, int flags)
{
	return pl(s, strlen(s), flags);
}

/* fill - n copies of c at out, returns out + n */
static char *
fill(char *out, int c, size_t n)
{
	memset(out, c, n);
	return out + n;
}

/* mkdomain - a domain of exactly n octets made of labels of at most 63 */
static char *
mkdomain(char *out, size_t n)
{
	size_t rem = n, chunk;

	while (rem > 63) {
		chunk = rem - 2 < 63 ? rem - 2 : 63;
		out = fill(out, 'a', chunk);
		*out++ = '.';
		rem -= chunk + 1;
	}
	out = fill(out, 'b', rem);
	*out = '\0';
	return out;
}

/* mkpath - "<" local(ll octets) "@" domain(dl octets) ">" */
static size_t
mkpath(char *out, size_t ll, size_t dl)
{
	char *q = out;

	*q++ = '<';
	q = fill(q, 'l', ll);
	*q++ = '@';
	q = mkdomain(q, dl);
	*q++ = '>';
	*q = '\0';
	return (size_t)(q - out);
}

/* ph - addr_parse_header on a C string into a fresh list */
static int
ph(const char *s, size_t max, struct addr_hdr_list *l)
{
	const char *e = NULL;
	int r;

	addr_hdr_list_free(l);
	errno = 0;
	r = addr_parse_header(s, strlen(s), max, l, &e);
	err_no = errno;
	err = e;
	return r;
}

/* S - an entry's buf as a C string */
static const char *
S(const struct buf *b)
{
	return b->len == 0 ? "" : buf_cstr(b);
}

int
main(void)
{
	struct addr_hdr_list l = ADDR_HDR_LIST_INIT;
	char big[4096], out[400], dom[ADDR_DOMAIN_MAX + 1];
	struct buf hb = BUF_INIT(4u << 20);
	size_t k, n;
	int f;

	TEST_BEGIN("path: the course forms");
	TEST_ASSERT_INT(p("<gerard@cnam.fr>", 0), 0);
	TEST_ASSERT_STR(a.local, "gerard");
	TEST_ASSERT_STR(a.domain, "cnam.fr");
	TEST_ASSERT_INT(a.flags, 0);
	TEST_ASSERT_INT(end, 16);
	TEST_ASSERT_INT(p("<\"gerard\"@cnam.fr>", 0), 0);
	TEST_ASSERT_STR(a.local, "gerard");
	TEST_ASSERT_INT(a.flags, 0);
	TEST_ASSERT_INT(p("<gerard (x) @cnam.fr>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<gerard@[136.173.24.11]>", 0), 0);
	TEST_ASSERT_STR(a.domain, "[136.173.24.11]");
	TEST_ASSERT_INT(a.flags, ADDR_F_LITERAL);
	TEST_ASSERT_INT(p("<@ibp.fr,@uvsq.fr:gerard@cnam.fr>", 0), 0);
	TEST_ASSERT_STR(a.local, "gerard");
	TEST_ASSERT_STR(a.domain, "cnam.fr");
	TEST_ASSERT_INT(a.flags, ADDR_F_ROUTE);
	TEST_ASSERT_INT(p("<gerard%cnam.fr%uvsq.fr@ibp.fr>", 0), 0);
	TEST_ASSERT_STR(a.local, "gerard%cnam.fr%uvsq.fr");
	TEST_ASSERT_STR(a.domain, "ibp.fr");
	TEST_ASSERT_INT(p("<Gerard@CNAM.Fr>", 0), 0);
	TEST_ASSERT_STR(a.local, "Gerard");	/* local part keeps its case */
	TEST_ASSERT_STR(a.domain, "cnam.fr");
	TEST_ASSERT(addr_domain_is(&a, "Cnam.FR"));
	TEST_ASSERT(!addr_domain_is(&a, "cnam.fr."));
	TEST_END();

	TEST_BEGIN("path: quoted local parts, canonical form");
	TEST_ASSERT_INT(p("<\"ger\\ard\"@x.test>", 0), 0);	/* \a is a */
	TEST_ASSERT_STR(a.local, "gerard");
	TEST_ASSERT_INT(p("<\"a b\"@x.test>", 0), 0);
	TEST_ASSERT_STR(a.local, "\"a b\"");
	TEST_ASSERT_INT(a.flags, ADDR_F_QUOTED);
	TEST_ASSERT_INT(p("<\"a\\\"b\\\\c\\d\"@x.test>", 0), 0);
	TEST_ASSERT_STR(a.local, "\"a\\\"b\\\\cd\"");
	TEST_ASSERT_INT(p("<\".a\"@x.test>", 0), 0);	/* not a Dot-string */
	TEST_ASSERT_STR(a.local, "\".a\"");
	TEST_ASSERT_INT(p("<\"a..b\"@x.test>", 0), 0);
	TEST_ASSERT_STR(a.local, "\"a..b\"");
	TEST_ASSERT_INT(p("<\"a\tb\"@x.test>", 0), -1);	/* control */
	TEST_ASSERT_INT(err_no, EINVAL);
	/* a quoted control character */
	TEST_ASSERT_INT(p("<\"a\\\tb\"@x.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<\"ab@x.test>", 0), -1);	/* unterminated */
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a.b.c@x.test>", 0), 0);
	TEST_ASSERT_INT(p("<a..b@x.test>", 0), -1);
	TEST_ASSERT_INT(p("<.a@x.test>", 0), -1);
	TEST_ASSERT_INT(p("<a.@x.test>", 0), -1);
	TEST_ASSERT_INT(p("<!#$%&'*+-/=?^_`{|}~@x.test>", 0), 0);
	TEST_END();

	TEST_BEGIN("path: end_r, missing >, what may follow");
	TEST_ASSERT_INT(p("<a@b.test> SIZE=10", 0), 0);
	TEST_ASSERT_INT(end, 10);
	TEST_ASSERT_INT(p("<a@b.test", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_STR(err, "missing > at end of path");
	TEST_ASSERT_INT(p("a@b.test", 0), -1);
	TEST_ASSERT_INT(p("", 0), -1);
	TEST_ASSERT_INT(p("<", 0), -1);
	TEST_ASSERT_INT(p("<a@b.test >", 0), -1);
	TEST_ASSERT_INT(p("<a@b.test", 0), -1);
	TEST_ASSERT_INT(pl("<a@b.test>", 9, 0), -1);	/* len decides */
	TEST_END();

	TEST_BEGIN("path: null path and Postmaster");
	TEST_ASSERT_INT(p("<>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<> SIZE=1", ADDR_ALLOW_NULL), 0);
	TEST_ASSERT_INT(a.flags, ADDR_F_NULL);
	TEST_ASSERT_STR(a.local, "");
	TEST_ASSERT_STR(a.domain, "");
	TEST_ASSERT_INT(end, 2);
	TEST_ASSERT_INT(addr_format(&a, out, sizeof(out)), 0);
	TEST_ASSERT_STR(out, "");
	TEST_ASSERT_INT(p("<Postmaster>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<Postmaster>", ADDR_ALLOW_POSTMASTER), 0);
	TEST_ASSERT_STR(a.local, "postmaster");
	TEST_ASSERT_STR(a.domain, "");
	TEST_ASSERT_INT(a.flags, 0);
	TEST_ASSERT_INT(addr_format(&a, out, sizeof(out)), 0);
	TEST_ASSERT_STR(out, "postmaster");
	TEST_ASSERT_INT(p("<POSTMASTER>", ADDR_ALLOW_POSTMASTER), 0);
	TEST_ASSERT_STR(a.local, "postmaster");
	TEST_ASSERT_INT(p("<\"Postmaster\">", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<@a.test:Postmaster>", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<postmasters>", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<Postmaster@X.test>", ADDR_ALLOW_POSTMASTER), 0);
	TEST_ASSERT_STR(a.local, "Postmaster");
	TEST_ASSERT_STR(a.domain, "x.test");
	TEST_ASSERT_INT(p("<>", ADDR_ALLOW_POSTMASTER), -1);
	TEST_END();

	TEST_BEGIN("path: address literals");
	TEST_ASSERT_INT(p("<a@[IPv6:::1]>", 0), 0);
	TEST_ASSERT_STR(a.domain, "[IPv6:::1]");
	TEST_ASSERT_INT(a.flags, ADDR_F_LITERAL);
	TEST_ASSERT_INT(p("<a@[ipv6:2001:DB8::1]>", 0), 0);
	TEST_ASSERT_STR(a.domain, "[IPv6:2001:db8::1]");
	TEST_ASSERT_INT(p("<a@[IPv6:::ffff:192.0.2.1]>", 0), 0);
	TEST_ASSERT_INT(p("<a@[300.1.1.1]>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_STR(err, "bad address literal");
	TEST_ASSERT_INT(p("<a@[1.2.3]>", 0), -1);
	TEST_ASSERT_INT(p("<a@[1.2.3.4.5]>", 0), -1);
	TEST_ASSERT_INT(p("<a@[IPv6:1::2::3]>", 0), -1);
	TEST_ASSERT_INT(p("<a@[::1]>", 0), -1);		/* no tag: general */
	TEST_ASSERT_INT(p("<a@[x-tag:abc]>", 0), -1);
	TEST_ASSERT_STR(err, "unsupported address literal");
	TEST_ASSERT_INT(p("<a@[]>", 0), -1);
	TEST_ASSERT_INT(p("<a@[1.2.3.4>", 0), -1);
	TEST_ASSERT_INT(p("<a@[1.2.3.4]x>", 0), -1);
	TEST_ASSERT_INT(p("<a@x.[1.2.3.4]>", 0), -1);
	TEST_ASSERT_INT(pl("<a@[1.2.3.4\0]>", 14, 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_END();

	TEST_BEGIN("path: domains");
	TEST_ASSERT_INT(p("<a@localhost>", 0), 0);	/* one label */
	TEST_ASSERT_INT(p("<a@a-b.c-d.test>", 0), 0);
	TEST_ASSERT_INT(p("<a@-a.test>", 0), -1);
	TEST_ASSERT_INT(p("<a@a-.test>", 0), -1);
	TEST_ASSERT_INT(p("<a@a..test>", 0), -1);
	TEST_ASSERT_INT(p("<a@.a.test>", 0), -1);
	TEST_ASSERT_INT(p("<a@a_b.test>", 0), -1);
	TEST_ASSERT_INT(p("<a@3com.com>", 0), 0);	/* leading digit */
	TEST_ASSERT_INT(p("<a@x.123>", 0), -1);		/* numeric TLD */
	TEST_ASSERT_INT(addr_parse_domain("Mail.Example.ORG", 16, 0, dom, &f,
	    &err), 0);
	TEST_ASSERT_STR(dom, "mail.example.org");
	TEST_ASSERT_INT(f, 0);
	TEST_ASSERT_INT(addr_parse_domain("[192.0.2.1]", 11, 0, dom, &f, &err),
	    0);
	TEST_ASSERT_INT(f, ADDR_F_LITERAL);
	TEST_ASSERT_INT(addr_parse_domain("a.test.", 7, 0, dom, NULL, &err),
	    -1);
	TEST_ASSERT_INT(addr_parse_domain("a.test x", 8, 0, dom, NULL, &err),
	    -1);
	TEST_ASSERT_INT(addr_parse_domain("", 0, 0, dom, NULL, &err), -1);
	TEST_ASSERT_INT(addr_parse_domain("a\0b", 3, 0, dom, NULL, &err), -1);
	TEST_ASSERT_STR(dom, "");
	TEST_END();

	TEST_BEGIN("limits: local part 63/64/65 (SECURITY.md A7)");
	for (k = 63; k <= 65; k++) {
		char *q = big;

		*q++ = '<';
		q = fill(q, 'x', k);
		memcpy(q, "@x.test>", 9);
		TEST_ASSERT_INT(p(big, 0), k <= 64 ? 0 : -1);
		if (k <= 64)
			TEST_ASSERT_INT(strlen(a.local), k);
		else {
			TEST_ASSERT_INT(err_no, ENAMETOOLONG);
			TEST_ASSERT_STR(err, "local part too long");
		}
	}
	/* quoted: 64 octets on the wire, quotes included */
	for (k = 63; k <= 65; k++) {
		char *q = big;

		*q++ = '<';
		*q++ = '"';
		*q++ = ' ';
		q = fill(q, 'x', k - 3);
		*q++ = '"';
		memcpy(q, "@x.test>", 9);
		TEST_ASSERT_INT(p(big, 0), k <= 64 ? 0 : -1);
		if (k <= 64) {
			TEST_ASSERT_INT(strlen(a.local), k);
			TEST_ASSERT_INT(a.flags, ADDR_F_QUOTED);
		} else
			TEST_ASSERT_INT(err_no, ENAMETOOLONG);
	}
	/* the unquoted canonical form is shorter than the wire form */
	big[0] = '<';
	big[1] = '"';
	fill(big + 2, 'y', 63);
	memcpy(big + 65, "\"@x.test>", 10);
	TEST_ASSERT_INT(p(big, 0), -1);
	TEST_ASSERT_INT(err_no, ENAMETOOLONG);
	TEST_END();

	TEST_BEGIN("limits: domain 254/255/256, label 63/64 (SECURITY.md A7)");
	for (k = 254; k <= 256; k++) {
		mkdomain(big, k);
		TEST_ASSERT_INT(strlen(big), k);
		TEST_ASSERT_INT(addr_parse_domain(big, k, 0, dom, NULL, &err),
		    k <= 255 ? 0 : -1);
		if (k <= 255)
			TEST_ASSERT_INT(strlen(dom), k);
		else {
			TEST_ASSERT_INT(errno, ENAMETOOLONG);
			TEST_ASSERT_STR(err, "domain too long");
		}
	}
	/* a 256-octet domain in a path: too long either way */
	n = mkpath(big, 1, 256);
	TEST_ASSERT_INT(pl(big, n, 0), -1);
	TEST_ASSERT_INT(err_no, ENAMETOOLONG);
	TEST_ASSERT_STR(err, "domain too long");
	/* at 255 only the path limit (256) is in the way */
	n = mkpath(big, 1, 255);
	TEST_ASSERT_INT(pl(big, n, 0), -1);
	TEST_ASSERT_INT(err_no, ENAMETOOLONG);
	TEST_ASSERT_STR(err, "path too long");
	for (k = 63; k <= 64; k++) {
		char *q = fill(big, 'c', k);

		memcpy(q, ".test", 6);
		TEST_ASSERT_INT(addr_parse_domain(big, k + 5, 0, dom, NULL,
		    &err), k <= 63 ? 0 : -1);
	}
	TEST_ASSERT_INT(errno, ENAMETOOLONG);
	TEST_ASSERT_STR(err, "domain label too long");
	/* a literal counts its brackets */
	TEST_ASSERT_INT(addr_parse_domain("[IPv6:0000:0000:0000:0000:0000:0000:"
	    "0000:0001]", 46, 0, dom, NULL, &err), 0);
	TEST_ASSERT_STR(dom, "[IPv6:0000:0000:0000:0000:0000:0000:0000:0001]");
	TEST_END();

	TEST_BEGIN("limits: path 255/256/257 (SECURITY.md A7)");
	for (k = 255; k <= 257; k++) {
		n = mkpath(big, 64, k - 67);
		TEST_ASSERT_INT(n, k);
		TEST_ASSERT_INT(pl(big, n, 0), k <= 256 ? 0 : -1);
		if (k <= 256) {
			TEST_ASSERT_INT(end, k);
			TEST_ASSERT_INT(strlen(a.local), 64);
			TEST_ASSERT_INT(strlen(a.domain), k - 67);
			TEST_ASSERT_INT(addr_format(&a, out, sizeof(out)), 0);
			TEST_ASSERT_INT(strlen(out), k - 2);
			TEST_ASSERT_INT(addr_format(&a, out, k - 2), -1);
			TEST_ASSERT_INT(errno, ENAMETOOLONG);
			TEST_ASSERT_INT(addr_format(&a, out, k - 1), 0);
		} else {
			TEST_ASSERT_INT(err_no, ENAMETOOLONG);
			TEST_ASSERT_STR(err, "path too long");
		}
	}
	/* a source route counts too */
	memcpy(big, "<@r.test", 8);
	mkpath(big + 8, 10, 200);
	big[8] = ':';
	n = strlen(big);
	TEST_ASSERT_INT(n, 221);
	TEST_ASSERT_INT(pl(big, n, 0), 0);
	TEST_ASSERT_INT(a.flags, ADDR_F_ROUTE);
	TEST_ASSERT_INT(end, 221);
	/* many route hops: bounded, too long */
	k = 0;
	big[k++] = '<';
	while (k < 3000) {
		memcpy(big + k, "@r.test,", 8);
		k += 8;
	}
	memcpy(big + k - 1, ":a@b.test>", 11);
	TEST_ASSERT_INT(p(big, 0), -1);
	TEST_ASSERT_INT(err_no, ENAMETOOLONG);
	TEST_END();

	TEST_BEGIN("path: 8-bit and UTF-8 (SECURITY.md A9)");
	TEST_ASSERT_INT(p("<\xc3\xa9@x.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_STR(err, "8-bit address without SMTPUTF8");
	TEST_ASSERT_INT(p("<a@\xc3\xa9.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<\"\xc3\xa9\"@x.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<\xc3\xa9@x.test>", ADDR_ALLOW_UTF8), 0);
	TEST_ASSERT_STR(a.local, "\xc3\xa9");
	TEST_ASSERT_INT(a.flags, ADDR_F_UTF8);
	TEST_ASSERT_INT(p("<g\xc3\xa9rard@\xc3\xa9" "cole.test>",
	    ADDR_ALLOW_UTF8), 0);
	TEST_ASSERT_STR(a.domain, "\xc3\xa9" "cole.test");
	TEST_ASSERT_INT(p("<\"\xc3\xa9 x\"@x.test>", ADDR_ALLOW_UTF8), 0);
	TEST_ASSERT_STR(a.local, "\"\xc3\xa9 x\"");
	TEST_ASSERT_INT(a.flags, ADDR_F_QUOTED | ADDR_F_UTF8);
	TEST_ASSERT_INT(p("<\xc0\xaf@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<\xed\xa0\x80@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<a\xe2\x82@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<\xf4\x90\x80\x80@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<a@x.\xe2\x82>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(p("<\"\xc0\xaf\"@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	TEST_ASSERT_INT(pl("<a@x.\xe2\x82", 7, ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EILSEQ);
	/* fullwidth "root": accepted as itself, never folded to "root" */
	TEST_ASSERT_INT(p("<\xef\xbd\x92\xef\xbd\x8f\xef\xbd\x8f\xef\xbd\x94"
	    "@l.test>", ADDR_ALLOW_UTF8), 0);
	TEST_ASSERT_STR(a.local,
	    "\xef\xbd\x92\xef\xbd\x8f\xef\xbd\x8f\xef\xbd\x94");
	TEST_ASSERT_INT(p("<a@[1.2.3.4\xc3\xa9]>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a\x7f@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a\x1b@x.test>", ADDR_ALLOW_UTF8), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_END();

	TEST_BEGIN("path: NUL is an error, never an end (SECURITY.md A4)");
	TEST_ASSERT_INT(pl("<a\0b@x>", 7, 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_STR(a.local, "");
	TEST_ASSERT_INT(pl("<a@x\0.test>", 11, 0), -1);
	TEST_ASSERT_INT(pl("<\"a\0\"@x>", 8, 0), -1);
	TEST_ASSERT_INT(pl("<\"a\\\0\"@x>", 9, 0), -1);
	TEST_ASSERT_INT(pl("<\0>", 3, ADDR_ALLOW_NULL), -1);
	TEST_ASSERT_INT(pl("<a@x>\0", 6, 0), 0);	/* after '>' */
	TEST_ASSERT_INT(end, 5);
	TEST_END();

	TEST_BEGIN("path: malformed forms (SECURITY.md A10)");
	TEST_ASSERT_INT(p("<\"\">", ADDR_ALLOW_POSTMASTER | ADDR_ALLOW_NULL),
	    -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<\"\"@l.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_STR(err, "empty local part");
	TEST_ASSERT_INT(p("<@>", ADDR_ALLOW_NULL), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a@>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<@a>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("< @a>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a:@a>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<a@b@c>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<@a:>", 0), -1);
	TEST_ASSERT_INT(p("<@a,:b@c>", 0), -1);
	TEST_ASSERT_INT(p("<@a,b:c@d>", 0), -1);
	/* At-domain is "@" Domain: no literal in a route */
	TEST_ASSERT_INT(p("<@[1.2.3.4]:c@d>", 0), -1);
	TEST_ASSERT_INT(p("<<a@b>>", 0), -1);
	TEST_ASSERT_INT(p("<a@b>>", 0), 0);	/* the rest is the caller's */
	TEST_ASSERT_INT(end, 5);
	TEST_END();

	TEST_BEGIN("path: no relay tricks (SECURITY.md O1 O2 O3)");
	TEST_ASSERT_INT(p("<v%victim.example@l.test>", 0), 0);
	TEST_ASSERT_STR(a.local, "v%victim.example");
	TEST_ASSERT_STR(a.domain, "l.test");
	TEST_ASSERT_INT(p("<v%victim.example@[192.0.2.1]>", 0), 0);
	TEST_ASSERT_STR(a.domain, "[192.0.2.1]");
	TEST_ASSERT_INT(p("<\"v%victim.example\">", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<@l.test:v@victim.example>", 0), 0);
	TEST_ASSERT_STR(a.domain, "victim.example");
	TEST_ASSERT_INT(a.flags, ADDR_F_ROUTE);
	TEST_ASSERT_INT(p("<\"v@victim.example\">", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<\"v@victim.example\"@l.test>", 0), 0);
	TEST_ASSERT_STR(a.local, "\"v@victim.example\"");
	TEST_ASSERT_STR(a.domain, "l.test");
	TEST_ASSERT_INT(a.flags, ADDR_F_QUOTED);
	TEST_ASSERT_INT(p("<\"v@victim.example\"@[192.0.2.1]>", 0), 0);
	TEST_ASSERT_STR(a.domain, "[192.0.2.1]");
	TEST_ASSERT_INT(p("<v@victim.example@l.test>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<victim.example!v>", ADDR_ALLOW_NULL), -1);
	TEST_ASSERT_STR(err, "missing domain in address");
	TEST_ASSERT_INT(p("<victim.example!v>", ADDR_ALLOW_POSTMASTER), -1);
	TEST_ASSERT_INT(p("<victim.example!v@[192.0.2.1]>", 0), 0);
	TEST_ASSERT_STR(a.local, "victim.example!v");
	TEST_ASSERT_STR(a.domain, "[192.0.2.1]");
	TEST_ASSERT_INT(p("<v@l.test.>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	TEST_ASSERT_INT(p("<v@192.0.2.1>", 0), -1);
	TEST_ASSERT_INT(err_no, EINVAL);
	/* whatever parses, the domain is what follows the last '@' */
	TEST_ASSERT_INT(p("<\"a@b\"@c.test>", 0), 0);
	TEST_ASSERT_INT(addr_format(&a, out, sizeof(out)), 0);
	TEST_ASSERT_STR(out, "\"a@b\"@c.test");
	TEST_END();

	TEST_BEGIN("path: error leaves the result empty");
	TEST_ASSERT_INT(p("<abc@x.test>", 0), 0);
	end = 77;
	TEST_ASSERT_INT(p("<abc@x.test", 0), -1);
	TEST_ASSERT_STR(a.local, "");
	TEST_ASSERT_STR(a.domain, "");
	TEST_ASSERT_INT(a.flags, 0);
	TEST_ASSERT_INT(end, 77);
	TEST_ASSERT_INT(addr_parse_path("<a@b.test>", 10, 0, &a, &end, NULL),
	    0);
	TEST_ASSERT_INT(addr_parse_path("<a@b.test", 9, 0, &a, &end, NULL), -1);
	TEST_END();

	TEST_BEGIN("header: course forms");
	TEST_ASSERT_INT(ph("gerard@cnam.fr", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].kind, ADDR_HDR_MAILBOX);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].local), "gerard");
	TEST_ASSERT_STR(S(&l.v[0].domain), "cnam.fr");
	TEST_ASSERT_STR(S(&l.v[0].name), "");
	TEST_ASSERT_INT(ph("\"gerard\"@cnam.fr", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].local), "\"gerard\"");	/* as written */
	TEST_ASSERT_INT(ph("gerard (G\xc3\xa9rard Florin) @cnam.fr", 10, &l),
	    0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].local), "gerard");
	TEST_ASSERT_STR(S(&l.v[0].domain), "cnam.fr");
	TEST_ASSERT_STR(S(&l.v[0].name), "G\xc3\xa9rard Florin");
	TEST_ASSERT_INT(ph("G\xc3\xa9rard Florin <gerard@cnam.fr>", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].name), "G\xc3\xa9rard Florin");
	TEST_ASSERT_STR(S(&l.v[0].local), "gerard");
	TEST_ASSERT_STR(S(&l.v[0].domain), "cnam.fr");
	TEST_ASSERT_INT(ph("<gerard@[136.173.24.11]>", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].domain), "[136.173.24.11]");
	TEST_ASSERT_INT(ph("<@ibp.fr,@uvsq.fr:gerard@cnam.fr>", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].route), "@ibp.fr,@uvsq.fr");
	TEST_ASSERT_STR(S(&l.v[0].local), "gerard");
	TEST_ASSERT_STR(S(&l.v[0].domain), "cnam.fr");
	TEST_ASSERT_INT(ph("gerard%cnam.fr%uvsq.fr@ibp.fr", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_STR(S(&l.v[0].local), "gerard%cnam.fr%uvsq.fr");
	TEST_ASSERT_STR(S(&l.v[0].domain), "ibp.fr");
	TEST_END();

	TEST_BEGIN("header: names, quotes, comments, folding");
	TEST_ASSERT_INT(ph("\"Florin, G\xc3\xa9rard\" <gerard@cnam.fr>, "
	    "\"a,b\" <a@b.test>,c@d.test", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 3);
	TEST_ASSERT_STR(S(&l.v[0].name), "Florin, G\xc3\xa9rard");
	TEST_ASSERT_STR(S(&l.v[1].name), "a,b");
	TEST_ASSERT_STR(S(&l.v[1].local), "a");
	TEST_ASSERT_STR(S(&l.v[2].local), "c");
	TEST_ASSERT_STR(S(&l.v[2].domain), "d.test");
	for (k = 0; k < l.n; k++)
		TEST_ASSERT_INT(l.v[k].valid, 1);
	TEST_ASSERT_INT(ph("  John \t Q.  \"Public\\\"s\"\r\n  <jqp@x.test> ",
	    10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_STR(S(&l.v[0].name), "John Q. Public\"s");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(ph("=?UTF-8?Q?G=C3=A9rard?= <g@x.test>", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "=?UTF-8?Q?G=C3=A9rard?=");
	TEST_ASSERT_INT(ph("a@x.test (Alpha (nested (deep)) one)", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "Alpha (nested (deep)) one");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(ph("(first) a@x.test (second)", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "first");
	TEST_ASSERT_INT(ph("Name (comment) <a@x.test>", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "Name");
	TEST_ASSERT_INT(ph("\"a b\"@x.test", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].local), "\"a b\"");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(ph("a . b @ x . test", 10, &l), 0);	/* obsolete */
	TEST_ASSERT_STR(S(&l.v[0].local), "a.b");
	TEST_ASSERT_STR(S(&l.v[0].domain), "x.test");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(ph("\"a\"\r\n .b@x.test", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].local), "\"a\".b");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(ph(",,a@x.test,,, b@y.test,", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(ph("", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 0);
	TEST_ASSERT_INT(ph(" (only a comment) ", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 0);
	TEST_END();

	TEST_BEGIN("header: groups");
	TEST_ASSERT_INT(ph("undisclosed-recipients:;", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].kind, ADDR_HDR_GROUP_START);
	TEST_ASSERT_STR(S(&l.v[0].name), "undisclosed-recipients");
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT_INT(l.v[1].kind, ADDR_HDR_GROUP_END);
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(ph("team: a@b.test, Cee <c@d.test>; e@f.test", 10, &l),
	    0);
	TEST_ASSERT_INT(l.n, 5);
	TEST_ASSERT_INT(l.v[0].kind, ADDR_HDR_GROUP_START);
	TEST_ASSERT_STR(S(&l.v[0].name), "team");
	TEST_ASSERT_INT(l.v[1].kind, ADDR_HDR_MAILBOX);
	TEST_ASSERT_STR(S(&l.v[1].local), "a");
	TEST_ASSERT_STR(S(&l.v[2].name), "Cee");
	TEST_ASSERT_INT(l.v[3].kind, ADDR_HDR_GROUP_END);
	TEST_ASSERT_INT(l.v[4].kind, ADDR_HDR_MAILBOX);
	TEST_ASSERT_STR(S(&l.v[4].domain), "f.test");
	for (k = 0; k < l.n; k++)
		TEST_ASSERT_INT(l.v[k].valid, 1);
	/* never closed */
	TEST_ASSERT_INT(ph("\"The Team\" : a@b.test", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 3);
	TEST_ASSERT_STR(S(&l.v[0].name), "The Team");
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(l.v[2].kind, ADDR_HDR_GROUP_END);
	TEST_ASSERT_INT(l.v[2].valid, 0);
	TEST_ASSERT_INT(ph("a: b: c@d.test;", 10, &l), 0);	/* no nesting */
	TEST_ASSERT_INT(l.n, 3);
	TEST_ASSERT_INT(l.v[1].valid, 0);
	TEST_ASSERT_STR(S(&l.v[1].domain), "d.test");
	TEST_ASSERT_INT(ph("a@b.test; c@d.test", 10, &l), 0);	/* stray ';' */
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(ph(": a@b.test;", 10, &l), 0);	/* no group name */
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_END();

	TEST_BEGIN("header: broken input is kept, marked, never fatal");
	TEST_ASSERT_INT(ph("(c\\", 10, &l), 0);	/* From: (c\ at end */
	TEST_ASSERT_INT(l.n, 0);
	TEST_ASSERT_INT(ph("a@b.test (c\\", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("\"unterminated, x@y.test", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("Name <a@b.test, c@d.test", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "Name");
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(ph("a@[1.2.3.4", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("a@b@c.test", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("root", 10, &l), 0);		/* no domain */
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_STR(S(&l.v[0].local), "root");
	TEST_ASSERT_INT(ph("John Smith", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "John Smith");
	TEST_ASSERT_STR(S(&l.v[0].local), "");
	TEST_ASSERT_INT(ph("x@y.test <a@b.test>", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_STR(S(&l.v[0].local), "a");
	TEST_ASSERT_INT(ph("<a@b.test> junk \"q,q\", c@d.test", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(ph("<>", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("<postmaster>", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_STR(S(&l.v[0].local), "postmaster");
	TEST_ASSERT_INT(ph("a@b.test.", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("a..b@c.test", 10, &l), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph(")>]\\", 10, &l), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("a@b.test\xff", 10, &l), 0);	/* not UTF-8 */
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_END();

	TEST_BEGIN("header: NUL and control characters");
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(addr_parse_header("Nul\0Name <a\0b@c.test>, d@e.test",
	    31, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(l.v[0].name.len, 7);
	TEST_ASSERT(!buf_has_nul(&l.v[0].name));
	TEST_ASSERT(!buf_has_nul(&l.v[0].local));
	TEST_ASSERT_STR(S(&l.v[1].local), "d");
	TEST_ASSERT_INT(l.v[1].valid, 1);
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(addr_parse_header("\"a\0b\" <x@y.test>", 16, 10, &l,
	    &err), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "ab");
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(ph("\"a\x1b[31mb\" <x@y.test>", 10, &l), 0);
	TEST_ASSERT_STR(S(&l.v[0].name), "a[31mb");
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_END();

	TEST_BEGIN("header: comment depth beyond the limit");
	buf_reset(&hb);
	TEST_ASSERT_INT(buf_append_str(&hb, "a@b.test "), 0);
	for (k = 0; k < 40; k++)
		TEST_ASSERT_INT(buf_printf(&hb, "(%zu", k), 0);
	for (k = 0; k < 40; k++)
		TEST_ASSERT_INT(buf_append_char(&hb, ')'), 0);
	TEST_ASSERT_INT(buf_append_str(&hb, ", c@d.test"), 0);
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 1);
	TEST_ASSERT(l.v[0].name.len > 0);
	TEST_ASSERT(strstr(S(&l.v[0].name), "(31") != NULL);
	TEST_ASSERT(strstr(S(&l.v[0].name), "(32") == NULL);
	TEST_ASSERT_STR(S(&l.v[1].local), "c");
	addr_hdr_list_free(&l);
	/* 10^6 open parentheses: linear, no recursion, one invalid entry */
	buf_reset(&hb);
	TEST_ASSERT_INT(buf_append_str(&hb, "a@b.test "), 0);
	for (k = 0; k < 1000000; k++)
		TEST_ASSERT_INT(buf_append_char(&hb, '('), 0);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_END();

	TEST_BEGIN("header: field length limit, cut at a UTF-8 boundary");
	buf_reset(&hb);
	for (k = 0; k < 600; k++)
		TEST_ASSERT_INT(buf_append_str(&hb, "\xc3\xa9"), 0);
	TEST_ASSERT_INT(buf_append_str(&hb, " <a@b.test>, c@d.test"), 0);
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(l.v[0].name.len, 998);
	TEST_ASSERT_STR(S(&l.v[0].local), "a");
	TEST_ASSERT_INT(l.v[1].valid, 1);
	addr_hdr_list_free(&l);
	buf_reset(&hb);
	TEST_ASSERT_INT(buf_append_char(&hb, 'x'), 0);
	for (k = 0; k < 600; k++)
		TEST_ASSERT_INT(buf_append_str(&hb, "\xc3\xa9"), 0);
	TEST_ASSERT_INT(buf_append_str(&hb, "@b.test"), 0);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.v[0].valid, 0);
	TEST_ASSERT_INT(l.v[0].local.len, 997);	/* 998 would split é */
	TEST_ASSERT_STR(S(&l.v[0].domain), "b.test");
	/* 998 exactly is fine */
	buf_reset(&hb);
	for (k = 0; k < 998; k++)
		TEST_ASSERT_INT(buf_append_char(&hb, 'x'), 0);
	TEST_ASSERT_INT(buf_append_str(&hb, "@b.test"), 0);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 10, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 2);
	TEST_ASSERT_INT(l.v[1].valid, 1);
	TEST_ASSERT_INT(l.v[1].local.len, 998);
	TEST_END();

	TEST_BEGIN("header: 10^5 addresses, max_addrs");
	buf_reset(&hb);
	for (k = 0; k < 100000; k++)
		TEST_ASSERT_INT(buf_printf(&hb, "u%zu@x.test, ", k), 0);
	addr_hdr_list_free(&l);
	err = NULL;
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 1000, &l, &err), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	TEST_ASSERT_STR(err, "too many addresses");
	TEST_ASSERT_INT(l.n, 1000);
	TEST_ASSERT_STR(S(&l.v[999].local), "u999");
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(addr_parse_header(hb.data, hb.len, 100000, &l, &err),
	    0);
	TEST_ASSERT_INT(l.n, 100000);
	TEST_ASSERT_STR(S(&l.v[99999].local), "u99999");
	TEST_ASSERT_INT(l.v[99999].valid, 1);
	/* appending a second field counts against the same maximum */
	TEST_ASSERT_INT(addr_parse_header("z@x.test", 8, 100000, &l, &err), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	TEST_ASSERT_INT(addr_parse_header("z@x.test", 8, 100001, &l, &err), 0);
	TEST_ASSERT_INT(l.n, 100001);
	addr_hdr_list_free(&l);
	TEST_ASSERT_INT(l.n, 0);
	TEST_ASSERT(l.v == NULL);
	TEST_ASSERT_INT(addr_parse_header("a@b.test", 8, 0, &l, NULL), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	TEST_ASSERT_INT(addr_parse_header("g:;", 3, 1, &l, NULL), -1);
	TEST_ASSERT_INT(l.n, 1);
	TEST_END();

	addr_hdr_list_free(&l);
	buf_free(&hb);
	return test_summary("test-addr");
}
