/*
 * NAME
 *	test-dns - DNS answer parsing, MX ordering, and the c-ares wrapper
 *
 * DESCRIPTION
 *	Answers are built here octet by octet: MX, null MX (RFC 7505), CNAME
 *	chains and loops, compression pointers (backwards, forwards, loops),
 *	records that do not fit their type (a 1-octet MX, an A of 5 octets,
 *	an MX naming an IP address), truncated messages (SECURITY.md R3).
 *	dns_mx_order() is checked for order and for the shuffle of equal
 *	preferences; dns_run() against a resolver that never answers must
 *	end DNS_TEMP within its limit.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "test.h"

struct pkt {
	unsigned char b[4096];
	size_t n;
	size_t an_at;		/* offset of ANCOUNT */
};

/* u16 - append a 16-bit number */
static void
u16(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (unsigned char)(v >> 8);
	p->b[p->n++] = (unsigned char)v;
}

/* raw - append octets */
static void
raw(struct pkt *p, const void *s, size_t n)
{
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

/* name - append a name in labels ("" is the root) */
static void
name(struct pkt *p, const char *s)
{
	const char *dot;
	size_t n;

	while (*s != '\0') {
		dot = strchr(s, '.');
		n = dot != NULL ? (size_t)(dot - s) : strlen(s);
		p->b[p->n++] = (unsigned char)n;
		raw(p, s, n);
		s += n + (dot != NULL);
	}
	p->b[p->n++] = 0;
}

/* start - header (response, an answers) and the question qname/qtype */
static void
start(struct pkt *p, const char *qname, unsigned qtype, unsigned an)
{
	memset(p, 0, sizeof(*p));
	u16(p, 0x1234);
	u16(p, 0x8180);
	u16(p, 1);
	p->an_at = p->n;
	u16(p, an);
	u16(p, 0);
	u16(p, 0);
	name(p, qname);
	u16(p, qtype);
	u16(p, 1);
}

/* rr_head - owner (at offset ptr if nonzero), type, class IN, ttl, rdlen */
static void
rr_head(struct pkt *p, const char *owner, unsigned ptr, unsigned type,
    unsigned rdlen)
{
	if (ptr != 0)
		u16(p, 0xc000 | ptr);
	else
		name(p, owner);
	u16(p, type);
	u16(p, 1);
	u16(p, 0);
	u16(p, 300);
	u16(p, rdlen);
}

/* mx - an MX record for owner (via pointer 12: the question's name) */
static void
mx(struct pkt *p, unsigned pref, const char *host)
{
	size_t at;

	rr_head(p, NULL, 12, 15, 0);
	at = p->n - 2;
	u16(p, pref);
	name(p, host);
	p->b[at] = (unsigned char)((p->n - at - 2) >> 8);
	p->b[at + 1] = (unsigned char)(p->n - at - 2);
}

/* cname - a CNAME record owner -> target */
static void
cname(struct pkt *p, const char *owner, const char *target)
{
	size_t at;

	rr_head(p, owner, 0, 5, 0);
	at = p->n - 2;
	name(p, target);
	p->b[at] = (unsigned char)((p->n - at - 2) >> 8);
	p->b[at + 1] = (unsigned char)(p->n - at - 2);
}

/* a4 - an A record */
static void
a4(struct pkt *p, const char *owner, const char *addr)
{
	unsigned char a[4];

	(void)inet_pton(AF_INET, addr, a);
	rr_head(p, owner, 0, 1, 4);
	raw(p, a, 4);
}

/* parse - dns_parse_answer on p */
static int
parse(const struct pkt *p, const char *qname, int qtype,
    struct dns_answer *ans)
{
	const char *why;

	return dns_parse_answer(p->b, p->n, qname, qtype, ans, &why);
}

/* fixed - a "random" source that always says k (bounded) */
static uint32_t fixed_k;
static uint32_t
fixed(uint32_t bound)
{
	return fixed_k < bound ? fixed_k : bound - 1;
}

/* now_ms - the monotonic clock */
static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(void)
{
	static struct pkt p;
	static struct dns_answer ans;
	struct dns_mx m[6];
	char text[64];
	int i, first_a = 0, first_b = 0;

	TEST_BEGIN("MX records, lower-cased, in answer order");
	start(&p, "example.org", 15, 2);
	mx(&p, 20, "MX2.Example.ORG");
	mx(&p, 10, "mx1.example.org");
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 2);
	TEST_ASSERT_INT(ans.mx[0].pref, 20);
	TEST_ASSERT_STR(ans.mx[0].host, "mx2.example.org");
	TEST_ASSERT_STR(ans.mx[1].host, "mx1.example.org");
	TEST_ASSERT_INT(ans.malformed, 0);
	TEST_ASSERT_STR(ans.name, "example.org");
	TEST_END();

	TEST_BEGIN("null MX: MX 0 . is kept as the empty host (RFC 7505)");
	start(&p, "null.example", 15, 1);
	mx(&p, 0, "");
	TEST_ASSERT_INT(parse(&p, "null.example.", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 1);
	TEST_ASSERT_STR(ans.mx[0].host, "");
	TEST_END();

	TEST_BEGIN("R3: a 1-octet MX record is skipped, the others kept");
	start(&p, "example.org", 15, 2);
	rr_head(&p, NULL, 12, 15, 1);
	p.b[p.n++] = 7;
	mx(&p, 10, "good.example.org");
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 1);
	TEST_ASSERT_STR(ans.mx[0].host, "good.example.org");
	TEST_ASSERT_INT(ans.malformed, 1);
	TEST_END();

	TEST_BEGIN("an MX whose name runs past its data, or stops short");
	start(&p, "example.org", 15, 2);
	rr_head(&p, NULL, 12, 15, 4);	/* says 4, holds 2 + 5 */
	u16(&p, 5);
	name(&p, "abc");
	mx(&p, 10, "ok.example.org");
	/* The lying rdlength makes the next record start inside the name:
	 * whatever parses from there, no bad host may come out. */
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	for (i = 0; i < (int)ans.n_mx; i++)
		TEST_ASSERT(dns_is_hostname(ans.mx[i].host) ||
		    ans.mx[i].host[0] == '\0');
	TEST_ASSERT(ans.malformed >= 1);
	TEST_END();

	TEST_BEGIN("an MX naming an IPv4 address or an odd label is skipped");
	start(&p, "example.org", 15, 3);
	mx(&p, 10, "192.0.2.1");
	mx(&p, 20, "a b.example.org");
	mx(&p, 30, "fine.example.org");
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 1);
	TEST_ASSERT_STR(ans.mx[0].host, "fine.example.org");
	TEST_ASSERT_INT(ans.malformed, 2);
	TEST_END();

	TEST_BEGIN("CNAME chain followed inside the answer");
	start(&p, "alias.example", 1, 3);
	cname(&p, "alias.example", "Middle.Example");
	cname(&p, "middle.example", "real.example");
	a4(&p, "real.example", "192.0.2.7");
	TEST_ASSERT_INT(parse(&p, "ALIAS.example", 1, &ans), 0);
	TEST_ASSERT_INT(ans.cnames, 2);
	TEST_ASSERT_STR(ans.name, "real.example");
	TEST_ASSERT_INT(ans.n_addr, 1);
	TEST_ASSERT(ans.addr[0].family == AF_INET);
	TEST_ASSERT(dns_addr_format(&ans.addr[0], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "192.0.2.7");
	TEST_END();

	TEST_BEGIN("records of a name outside the chain are not used");
	start(&p, "a.example", 1, 2);
	a4(&p, "other.example", "192.0.2.9");
	a4(&p, "a.example", "192.0.2.10");
	TEST_ASSERT_INT(parse(&p, "a.example", 1, &ans), 0);
	TEST_ASSERT_INT(ans.n_addr, 1);
	TEST_ASSERT(dns_addr_format(&ans.addr[0], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "192.0.2.10");
	TEST_END();

	TEST_BEGIN("R3: a CNAME loop ends, marked");
	start(&p, "a.example", 15, 2);
	cname(&p, "a.example", "b.example");
	cname(&p, "b.example", "a.example");
	TEST_ASSERT_INT(parse(&p, "a.example", 15, &ans), 0);
	TEST_ASSERT_INT(ans.cname_loop, 1);
	TEST_ASSERT_INT(ans.n_mx, 0);
	TEST_END();

	TEST_BEGIN("CNAME only, no record at its end: no data");
	start(&p, "cn.example", 15, 1);
	cname(&p, "cn.example", "mx.example");
	TEST_ASSERT_INT(parse(&p, "cn.example", 15, &ans), 0);
	TEST_ASSERT_INT(ans.cname_loop, 0);
	TEST_ASSERT_INT(ans.n_mx, 0);
	TEST_ASSERT_STR(ans.name, "mx.example");
	TEST_END();

	TEST_BEGIN("A and AAAA of the wrong length are skipped");
	start(&p, "h.example", 1, 2);
	rr_head(&p, "h.example", 0, 1, 5);
	raw(&p, "\x7f\x00\x00\x01\x01", 5);
	a4(&p, "h.example", "192.0.2.3");
	TEST_ASSERT_INT(parse(&p, "h.example", 1, &ans), 0);
	TEST_ASSERT_INT(ans.n_addr, 1);
	TEST_ASSERT_INT(ans.malformed, 1);
	start(&p, "h.example", 28, 1);
	rr_head(&p, "h.example", 0, 28, 16);
	raw(&p, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	TEST_ASSERT_INT(parse(&p, "h.example", 28, &ans), 0);
	TEST_ASSERT_INT(ans.n_addr, 1);
	TEST_ASSERT(ans.addr[0].family == AF_INET6);
	TEST_ASSERT(dns_addr_format(&ans.addr[0], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "2001:db8::1");
	TEST_END();

	TEST_BEGIN("class other than IN is ignored");
	start(&p, "h.example", 1, 1);
	rr_head(&p, "h.example", 0, 1, 4);
	p.b[p.n - 7] = 3;	/* class CH */
	raw(&p, "\xc0\x00\x02\x01", 4);
	TEST_ASSERT_INT(parse(&p, "h.example", 1, &ans), 0);
	TEST_ASSERT_INT(ans.n_addr, 0);
	TEST_END();

	TEST_BEGIN("compression: a forward pointer or a self pointer stops");
	start(&p, "example.org", 15, 2);
	mx(&p, 10, "a.example.org");
	u16(&p, 0xc000 | (unsigned)(p.n + 0));	/* points at itself */
	u16(&p, 15);
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 1);
	TEST_ASSERT_INT(ans.malformed, 1);
	start(&p, "example.org", 15, 1);
	u16(&p, 0xc000 | (unsigned)(p.n + 2));	/* points forward */
	p.b[p.n++] = 0;
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 0);
	TEST_END();

	TEST_BEGIN("a message cut inside a record keeps what came before");
	start(&p, "example.org", 15, 3);
	mx(&p, 10, "a.example.org");
	mx(&p, 20, "b.example.org");
	p.n -= 4;
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, 1);
	TEST_ASSERT_INT(ans.malformed, 2);
	TEST_END();

	TEST_BEGIN("not a response, or shorter than a header: refused");
	start(&p, "example.org", 15, 0);
	p.b[2] = 0x01;
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), -1);
	p.n = 11;
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), -1);
	start(&p, "example.org", 15, 0);
	p.n -= 3;	/* question cut */
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), -1);
	TEST_END();

	TEST_BEGIN("more records than kept: bounded");
	start(&p, "example.org", 15, 40);
	for (i = 0; i < 40; i++) {
		char h[32];

		(void)snprintf(h, sizeof(h), "mx%d.example.org", i);
		mx(&p, (unsigned)i, h);
	}
	TEST_ASSERT_INT(parse(&p, "example.org", 15, &ans), 0);
	TEST_ASSERT_INT(ans.n_mx, DNS_MX_MAX);
	TEST_END();

	TEST_BEGIN("dns_mx_order: by preference, stable for a fixed source");
	memset(m, 0, sizeof(m));
	m[0].pref = 30;
	(void)snprintf(m[0].host, sizeof(m[0].host), "c");
	m[1].pref = 10;
	(void)snprintf(m[1].host, sizeof(m[1].host), "a");
	m[2].pref = 20;
	(void)snprintf(m[2].host, sizeof(m[2].host), "b");
	fixed_k = 0;
	dns_mx_order(m, 3, fixed);
	TEST_ASSERT_STR(m[0].host, "a");
	TEST_ASSERT_STR(m[1].host, "b");
	TEST_ASSERT_STR(m[2].host, "c");
	TEST_END();

	TEST_BEGIN("dns_mx_order: equal preferences are shuffled");
	for (i = 0; i < 400; i++) {
		memset(m, 0, sizeof(m));
		m[0].pref = 10;
		(void)snprintf(m[0].host, sizeof(m[0].host), "a");
		m[1].pref = 10;
		(void)snprintf(m[1].host, sizeof(m[1].host), "b");
		m[2].pref = 5;
		(void)snprintf(m[2].host, sizeof(m[2].host), "first");
		m[3].pref = 99;
		(void)snprintf(m[3].host, sizeof(m[3].host), "last");
		dns_mx_order(m, 4, NULL);
		TEST_ASSERT_STR(m[0].host, "first");
		TEST_ASSERT_STR(m[3].host, "last");
		if (strcmp(m[1].host, "a") == 0)
			first_a++;
		else
			first_b++;
	}
	/* 400 fair coin tosses: both sides come up (p of failing < 1e-100) */
	TEST_ASSERT(first_a > 50 && first_b > 50);
	/* A fixed source picks a fixed permutation. */
	memset(m, 0, sizeof(m));
	for (i = 0; i < 3; i++) {
		m[i].pref = 1;
		m[i].host[0] = (char)('x' + i);
	}
	fixed_k = 0;
	dns_mx_order(m, 3, fixed);
	TEST_ASSERT_STR(m[0].host, "y");
	TEST_ASSERT_STR(m[1].host, "z");
	TEST_ASSERT_STR(m[2].host, "x");
	TEST_END();

	TEST_BEGIN("host name syntax and name comparison");
	TEST_ASSERT(dns_is_hostname("mx.example.org"));
	TEST_ASSERT(dns_is_hostname("mx.example.org."));
	TEST_ASSERT(dns_is_hostname("_srv.x-y.example"));
	TEST_ASSERT(!dns_is_hostname(""));
	TEST_ASSERT(!dns_is_hostname("."));
	TEST_ASSERT(!dns_is_hostname("a..b"));
	TEST_ASSERT(!dns_is_hostname("a b"));
	TEST_ASSERT(!dns_is_hostname("[127.0.0.1]"));
	TEST_ASSERT(!dns_is_hostname("a/b"));
	TEST_ASSERT(dns_name_eq("MX.Example.org.", "mx.example.ORG"));
	TEST_ASSERT(!dns_name_eq("mx.example.org", "mx.example.or"));
	TEST_END();

	TEST_BEGIN("dns_run: a silent resolver is temporary, bounded");
	{
		struct config_server srv;
		struct config_servers list = { &srv, 1 };
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);
		struct dns_query q[2];
		struct dns *d;
		const char *why = NULL;
		long long t0, t1;
		int fd;

		/* A bound UDP socket nobody reads: queries vanish. */
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		TEST_ASSERT(bind(fd, (struct sockaddr *)&sin,
		    sizeof(sin)) == 0);
		TEST_ASSERT(getsockname(fd, (struct sockaddr *)&sin,
		    &len) == 0);
		memset(&srv, 0, sizeof(srv));
		srv.family = AF_INET;
		(void)snprintf(srv.host, sizeof(srv.host), "127.0.0.1");
		srv.port = ntohs(sin.sin_port);
		d = dns_open(&list, 200, 2, &why);
		TEST_ASSERT(d != NULL);
		memset(q, 0, sizeof(q));
		q[0].name = "example.test";
		q[0].type = DNS_TYPE_MX;
		q[1].name = "mx.example.test";
		q[1].type = DNS_TYPE_A;
		t0 = now_ms();
		TEST_ASSERT_INT(dns_run(d, q, 2, 5000), 0);
		t1 = now_ms();
		TEST_ASSERT_INT(q[0].status, DNS_TEMP);
		TEST_ASSERT_INT(q[1].status, DNS_TEMP);
		TEST_ASSERT(q[0].ans == NULL && q[1].ans == NULL);
		TEST_ASSERT(t1 - t0 < 4000);
		/* A limit shorter than c-ares's own timeouts cancels. */
		t0 = now_ms();
		TEST_ASSERT_INT(dns_run(d, q, 1, 100), 0);
		t1 = now_ms();
		TEST_ASSERT_INT(q[0].status, DNS_TEMP);
		TEST_ASSERT(t1 - t0 < 2000);
		dns_close(d);
		(void)close(fd);
	}
	TEST_END();

	return test_summary("test-dns");
}
