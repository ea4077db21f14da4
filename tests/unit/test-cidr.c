/* test-cidr - network lists: parsing, matching, v4-mapped peers, bad input */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "cidr.h"
#include "test.h"

/* sa - a socket address for a literal (v4 or v6) */
static const struct sockaddr *
sa(const char *text)
{
	static struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
			printf("  bad test address %s\n", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &s4->sin_addr) != 1)
			printf("  bad test address %s\n", text);
	}
	return (const struct sockaddr *)&ss;
}

/* matches - 1 if addr is in the list parsed from text */
static int
matches(const char *text, const char *addr)
{
	struct cidr_list l = CIDR_LIST_INIT;
	struct buf err = BUF_INIT(512);
	int r;

	if (cidr_list_parse(&l, text, &err) < 0) {
		printf("  parse failed: %s\n", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	r = cidr_match(&l, sa(addr));
	cidr_list_free(&l);
	buf_free(&err);
	return r;
}

/* bad - 1 if text is refused with EINVAL and a reason containing want */
static int
bad(const char *text, const char *want)
{
	struct cidr_list l = CIDR_LIST_INIT;
	struct buf err = BUF_INIT(512);
	int ok;

	errno = 0;
	ok = cidr_list_parse(&l, text, &err) == -1 && errno == EINVAL &&
	    l.n == 0 && strstr(buf_cstr(&err), want) != NULL;
	if (!ok)
		printf("  '%s' gave '%s'\n", text, buf_cstr(&err));
	cidr_list_free(&l);
	buf_free(&err);
	return ok;
}

int
main(void)
{
	struct cidr_list l = CIDR_LIST_INIT;
	struct buf err = BUF_INIT(512);
	struct cidr c;
	char text[CIDR_TEXT_MAX];

	TEST_BEGIN("cidr: list parse, bare addresses are /32 and /128");
	TEST_ASSERT_INT(cidr_list_parse(&l,
	    "  127.0.0.0/8\t::1/128 192.0.2.1 2001:db8::1 ", &err), 0);
	TEST_ASSERT_INT(l.n, 4);
	TEST_ASSERT_INT(l.v[0].family, AF_INET);
	TEST_ASSERT_INT(l.v[0].prefix, 8);
	TEST_ASSERT_INT(l.v[2].prefix, 32);
	TEST_ASSERT_INT(l.v[3].family, AF_INET6);
	TEST_ASSERT_INT(l.v[3].prefix, 128);
	TEST_ASSERT_INT(cidr_format(&l.v[1], text, sizeof(text)), 0);
	TEST_ASSERT_STR(text, "::1/128");
	TEST_ASSERT_INT(cidr_format(&l.v[2], text, sizeof(text)), 0);
	TEST_ASSERT_STR(text, "192.0.2.1/32");
	TEST_ASSERT_INT(cidr_list_parse(&l, "10.0.0.0/8", &err), 0);
	TEST_ASSERT_INT(l.n, 5);	/* appends */
	cidr_list_free(&l);
	TEST_ASSERT_INT(l.n, 0);
	TEST_ASSERT_INT(cidr_list_parse(&l, "", &err), 0);
	TEST_ASSERT_INT(l.n, 0);
	TEST_ASSERT_INT(cidr_match(&l, sa("127.0.0.1")), 0);
	TEST_END();

	TEST_BEGIN("cidr: IPv4 matching and boundaries");
	TEST_ASSERT_INT(matches("127.0.0.0/8", "127.0.0.1"), 1);
	TEST_ASSERT_INT(matches("127.0.0.0/8", "127.255.255.255"), 1);
	TEST_ASSERT_INT(matches("127.0.0.0/8", "128.0.0.0"), 0);
	TEST_ASSERT_INT(matches("127.0.0.0/8", "126.255.255.255"), 0);
	TEST_ASSERT_INT(matches("192.0.2.128/25", "192.0.2.128"), 1);
	TEST_ASSERT_INT(matches("192.0.2.128/25", "192.0.2.255"), 1);
	TEST_ASSERT_INT(matches("192.0.2.128/25", "192.0.2.127"), 0);
	TEST_ASSERT_INT(matches("10.1.2.3/32", "10.1.2.3"), 1);
	TEST_ASSERT_INT(matches("10.1.2.3/32", "10.1.2.2"), 0);
	TEST_ASSERT_INT(matches("10.1.2.3", "10.1.2.4"), 0);
	TEST_ASSERT_INT(matches("0.0.0.0/0", "255.255.255.255"), 1);
	TEST_ASSERT_INT(matches("0.0.0.0/0", "0.0.0.0"), 1);
	TEST_ASSERT_INT(matches("0.0.0.0/0", "2001:db8::1"), 0);
	TEST_ASSERT_INT(matches("10.0.0.0/8 192.168.0.0/16", "192.168.7.7"), 1);
	TEST_END();

	TEST_BEGIN("cidr: IPv6 matching and boundaries");
	TEST_ASSERT_INT(matches("::1/128", "::1"), 1);
	TEST_ASSERT_INT(matches("::1/128", "::2"), 0);
	TEST_ASSERT_INT(matches("::1", "::1"), 1);
	TEST_ASSERT_INT(matches("2001:db8::/32", "2001:db8:ffff::1"), 1);
	TEST_ASSERT_INT(matches("2001:db8::/32", "2001:db9::1"), 0);
	TEST_ASSERT_INT(matches("2001:db8::/33", "2001:db8:7fff::1"), 1);
	TEST_ASSERT_INT(matches("2001:db8::/33", "2001:db8:8000::1"), 0);
	TEST_ASSERT_INT(matches("::/0", "2001:db8::1"), 1);
	TEST_ASSERT_INT(matches("::/0", "127.0.0.1"), 0);
	TEST_ASSERT_INT(matches("fe80::/10", "febf::1"), 1);
	TEST_ASSERT_INT(matches("fe80::/10", "fec0::1"), 0);
	TEST_END();

	TEST_BEGIN("cidr: IPv4-mapped peers and networks");
	TEST_ASSERT_INT(matches("127.0.0.0/8", "::ffff:127.0.0.1"), 1);
	TEST_ASSERT_INT(matches("127.0.0.0/8", "::ffff:128.0.0.1"), 0);
	TEST_ASSERT_INT(matches("0.0.0.0/0", "::ffff:1.2.3.4"), 1);
	TEST_ASSERT_INT(matches("::1/128", "::ffff:0.0.0.1"), 0);
	TEST_ASSERT_INT(matches("::/0", "::ffff:1.2.3.4"), 0);
	TEST_ASSERT_INT(cidr_parse("::ffff:10.0.0.0/104", &c, &err), 0);
	TEST_ASSERT_INT(c.family, AF_INET);
	TEST_ASSERT_INT(c.prefix, 8);
	TEST_ASSERT_INT(matches("::ffff:10.0.0.0/104", "10.9.9.9"), 1);
	TEST_ASSERT_INT(matches("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"), 1);
	TEST_ASSERT_INT(matches("::ffff:10.0.0.0/104", "11.0.0.1"), 0);
	TEST_ASSERT_INT(cidr_parse("::ffff:0.0.0.0/96", &c, &err), 0);
	TEST_ASSERT_INT(c.family, AF_INET);
	TEST_ASSERT_INT(c.prefix, 0);
	TEST_ASSERT_INT(cidr_parse("::fffe:0:0/95", &c, &err), 0);
	TEST_ASSERT_INT(c.family, AF_INET6);	/* beyond ::ffff:0:0/96 */
	TEST_ASSERT_INT(matches("::fffe:0:0/95", "::ffff:1.2.3.4"), 0);
	TEST_ASSERT_INT(matches("::fffe:0:0/95", "::fffe:1.2.3.4"), 1);
	TEST_END();

	TEST_BEGIN("cidr: bad input is refused with a reason");
	TEST_ASSERT(bad("10.0.0.0/33", "bad prefix length '33'"));
	TEST_ASSERT(bad("::1/129", "bad prefix length '129'"));
	TEST_ASSERT(bad("1.2.3/8", "bad IPv4 address in '1.2.3/8'"));
	TEST_ASSERT(bad("1.2.3.4.5", "bad IPv4 address"));
	TEST_ASSERT(bad("256.0.0.0/8", "bad IPv4 address"));
	TEST_ASSERT(bad("10.0.0.0/", "bad prefix length ''"));
	TEST_ASSERT(bad("10.0.0.0/-1", "bad prefix length"));
	TEST_ASSERT(bad("10.0.0.0/+8", "bad prefix length"));
	TEST_ASSERT(bad("10.0.0.0/8/8", "bad prefix length"));
	TEST_ASSERT(bad("/8", "missing address"));
	TEST_ASSERT(bad("localhost", "bad IPv4 address"));
	TEST_ASSERT(bad("fe80::1%eth0", "bad IPv6 address"));
	TEST_ASSERT(bad("2001:db8:::1", "bad IPv6 address"));
	TEST_ASSERT(bad("10.1.2.3/8", "host bits set in '10.1.2.3/8' "
	    "(network is 10.0.0.0/8)"));
	TEST_ASSERT(bad("::1/64", "(network is ::/64)"));
	TEST_ASSERT(bad("0.0.0.1/0", "host bits set"));
	TEST_ASSERT(bad("127.0.0.0/8 10.0.0.0/33", "'33'"));
	TEST_ASSERT(bad("10.0.0.0/99999999999999999999999", "bad prefix"));
	TEST_END();

	TEST_BEGIN("cidr: a failed parse leaves the list as it was");
	TEST_ASSERT_INT(cidr_list_parse(&l, "10.0.0.0/8", &err), 0);
	TEST_ASSERT_INT(cidr_list_parse(&l, "192.0.2.0/24 junk", &err), -1);
	TEST_ASSERT_INT(l.n, 1);
	TEST_ASSERT_INT(cidr_match(&l, sa("192.0.2.1")), 0);
	TEST_ASSERT_INT(cidr_match(&l, sa("10.0.0.1")), 1);
	TEST_ASSERT_INT(cidr_match(NULL, sa("10.0.0.1")), 0);
	cidr_list_free(&l);
	TEST_END();

	TEST_BEGIN("cidr: non-IP socket addresses never match");
	{
		struct sockaddr_storage un;

		memset(&un, 0, sizeof(un));
		un.ss_family = AF_UNIX;
		TEST_ASSERT_INT(cidr_list_parse(&l, "0.0.0.0/0 ::/0", &err), 0);
		TEST_ASSERT_INT(cidr_match(&l, (struct sockaddr *)&un), 0);
		cidr_list_free(&l);
	}
	TEST_END();

	buf_free(&err);
	return test_summary("test-cidr");
}
