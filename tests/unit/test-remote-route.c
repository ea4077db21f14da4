/*
 * NAME
 *	test-remote-route - remote's routing pieces, TLS policy and SASL
 *
 * DESCRIPTION
 *	remote-route.c, remote-policy.c and remote-sasl.c are compiled in
 *	here whole (remote_log is a stub). Covered: next-hop syntax
 *	(transport entries, relayhost), the transport table with parent
 *	domains, address order (IPv6 first), "is this MX ourselves" (R3:
 *	host name, a listener's address, a wildcard listener, IPv4-mapped
 *	IPv6), TLS policy words, the credentials file (mode check, host and
 *	port matching) and base64 for AUTH.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../smtpq/remote-policy.c"
#include "../../smtpq/remote-route.c"
#include "../../smtpq/remote-sasl.c"
#include "test.h"

/* remote_log - the tests do not log */
void
remote_log(int level, const struct job *j, const char *event, ...)
{
	(void)level;
	(void)j;
	(void)event;
}

static char dir[] = "/tmp/test-remote-route.XXXXXX";

/* path - a file name in the test's folder */
static const char *
path(const char *name)
{
	static char p[512];

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* put - write text to a file of the test's folder with mode */
static void
put(const char *name, const char *text, mode_t mode)
{
	int fd;

	(void)unlink(path(name));
	fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		(void)fchmod(fd, mode);
		(void)close(fd);
	}
}

/* hp - route_parse_hostport on a C string; "host port" or "error" */
static const char *
hp(const char *s)
{
	static char out[300];
	char host[DNS_NAME_MAX + 1];
	unsigned port;

	if (route_parse_hostport(s, strlen(s), host, sizeof(host), &port) < 0)
		return "error";
	(void)snprintf(out, sizeof(out), "%s %u", host, port);
	return out;
}

/* addr - a target's address from text */
static void
addr(struct target *t, const char *text)
{
	struct dns_addr *a = &t->addr[t->n_addr++];

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->a) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, text, a->a) == 1)
		a->family = AF_INET6;
}

/* listen_on - set cfg's listen_smtp to ip:port */
static void
listen_on(struct config *cfg, const char *ip, unsigned port)
{
	struct config_listen *l = &cfg->listen_smtp;

	memset(l, 0, sizeof(*l));
	l->set = 1;
	l->port = port;
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->addr;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		(void)inet_pton(AF_INET6, ip, &s6->sin6_addr);
		l->addrlen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&l->addr;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		(void)inet_pton(AF_INET, ip, &s4->sin_addr);
		l->addrlen = sizeof(*s4);
	}
}

int
main(void)
{
	struct config cfg;
	struct target t;
	struct cred c;
	struct table *tab;
	struct buf v = BUF_INIT(4096), b = BUF_INIT(4096);
	enum tls_level lvl;
	const char *why;
	char text[64];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	TEST_BEGIN("next hops: HOST[:PORT], [HOST][:PORT], bare IPv6");
	TEST_ASSERT_STR(hp("mx.example.org"), "mx.example.org 25");
	TEST_ASSERT_STR(hp("mx.example.org:2525"), "mx.example.org 2525");
	TEST_ASSERT_STR(hp("192.0.2.1:587"), "192.0.2.1 587");
	TEST_ASSERT_STR(hp("[192.0.2.1]"), "192.0.2.1 25");
	TEST_ASSERT_STR(hp("[2001:db8::1]:465"), "2001:db8::1 465");
	TEST_ASSERT_STR(hp("2001:db8::1"), "2001:db8::1 25");
	TEST_ASSERT_STR(hp("[mx.example.org]:26"), "mx.example.org 26");
	TEST_ASSERT_STR(hp(""), "error");
	TEST_ASSERT_STR(hp("mx.example.org:0"), "error");
	TEST_ASSERT_STR(hp("mx.example.org:65536"), "error");
	TEST_ASSERT_STR(hp("mx.example.org:"), "error");
	TEST_ASSERT_STR(hp("mx.example.org:x"), "error");
	TEST_ASSERT_STR(hp("[192.0.2.1"), "error");
	TEST_ASSERT_STR(hp("[192.0.2.1]x"), "error");
	TEST_ASSERT_STR(hp("bad host:25"), "error");
	TEST_ASSERT_STR(hp("a/b"), "error");
	TEST_ASSERT_STR(hp("2001:db8::zz"), "error");
	TEST_END();

	TEST_BEGIN("IPv6 addresses first, each family in DNS order");
	memset(&t, 0, sizeof(t));
	addr(&t, "192.0.2.1");
	addr(&t, "2001:db8::1");
	addr(&t, "192.0.2.2");
	addr(&t, "2001:db8::2");
	route_order_addrs(&t);
	TEST_ASSERT(dns_addr_format(&t.addr[0], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "2001:db8::1");
	TEST_ASSERT(dns_addr_format(&t.addr[1], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "2001:db8::2");
	TEST_ASSERT(dns_addr_format(&t.addr[2], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "192.0.2.1");
	TEST_ASSERT(dns_addr_format(&t.addr[3], text, sizeof(text)) == 0);
	TEST_ASSERT_STR(text, "192.0.2.2");
	TEST_END();

	TEST_BEGIN("R3: the MX is ourselves by name or by address");
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = (char *)(uintptr_t)"mx.truc.test";
	memset(&t, 0, sizeof(t));
	(void)snprintf(t.host, sizeof(t.host), "MX.Truc.Test.");
	t.is_name = 1;
	TEST_ASSERT(route_is_self(&cfg, &t));
	(void)snprintf(t.host, sizeof(t.host), "mx.machin.test");
	addr(&t, "127.0.0.3");
	TEST_ASSERT(!route_is_self(&cfg, &t));
	listen_on(&cfg, "127.0.0.3", 2525);	/* the port does not matter */
	TEST_ASSERT(route_is_self(&cfg, &t));
	listen_on(&cfg, "127.0.0.4", 25);
	TEST_ASSERT(!route_is_self(&cfg, &t));
	/* An IPv4-mapped IPv6 address is the IPv4 address. */
	memset(&t, 0, sizeof(t));
	addr(&t, "::ffff:127.0.0.4");
	TEST_ASSERT(route_is_self(&cfg, &t));
	/* A wildcard listener: every address of the machine is ours. */
	listen_on(&cfg, "0.0.0.0", 25);
	memset(&t, 0, sizeof(t));
	addr(&t, "127.0.0.1");
	TEST_ASSERT(route_is_self(&cfg, &t));
	memset(&t, 0, sizeof(t));
	addr(&t, "192.0.2.55");
	TEST_ASSERT(!route_is_self(&cfg, &t));
	TEST_END();

	TEST_BEGIN("the transport table: domain, then parents, compiled");
	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = (char *)(uintptr_t)dir;
	put("transport", "# routes\nexample.org [192.0.2.1]:2525\n"
	    ".lan mail.lan:26\nExact.Test relay.test\n", 0644);
	TEST_ASSERT_INT(route_table_open(&cfg, path("transport"), "transport",
	    &tab, &why), 0);
	TEST_ASSERT(tab != NULL);
	TEST_ASSERT_INT(route_table_lookup(tab, "example.org", &v), 1);
	TEST_ASSERT_STR(buf_cstr(&v), "[192.0.2.1]:2525");
	TEST_ASSERT_INT(route_table_lookup(tab, "sub.example.org", &v), 0);
	TEST_ASSERT_INT(route_table_lookup(tab, "a.b.lan", &v), 1);
	TEST_ASSERT_STR(buf_cstr(&v), "mail.lan:26");
	TEST_ASSERT_INT(route_table_lookup(tab, "lan", &v), 0);
	TEST_ASSERT_INT(route_table_lookup(tab, "exact.test", &v), 1);
	TEST_ASSERT_INT(route_table_lookup(tab, "other.test", &v), 0);
	table_close(tab);
	/* The text changes: the next open compiles it again. */
	sleep(1);
	put("transport", "other.test x.test\n", 0644);
	TEST_ASSERT_INT(route_table_open(&cfg, path("transport"), "transport",
	    &tab, &why), 0);
	TEST_ASSERT_INT(route_table_lookup(tab, "other.test", &v), 1);
	TEST_ASSERT_INT(route_table_lookup(tab, "example.org", &v), 0);
	table_close(tab);
	/* No table configured, or never written: empty. */
	TEST_ASSERT_INT(route_table_open(&cfg, NULL, "transport", &tab, &why),
	    0);
	TEST_ASSERT(tab == NULL);
	TEST_ASSERT_INT(route_table_open(&cfg, path("nothing"), "nothing",
	    &tab, &why), 0);
	TEST_ASSERT(tab == NULL);
	TEST_END();

	TEST_BEGIN("TLS policy words; unknown words are errors, never may");
	TEST_ASSERT_INT(policy_parse("may", 3, &lvl), 0);
	TEST_ASSERT_INT(lvl, TLSL_MAY);
	TEST_ASSERT_INT(policy_parse(" Require ", 9, &lvl), 0);
	TEST_ASSERT_INT(lvl, TLSL_REQUIRE);
	TEST_ASSERT_INT(policy_parse("encrypt", 7, &lvl), 0);
	TEST_ASSERT_INT(lvl, TLSL_ENCRYPT);
	TEST_ASSERT_INT(policy_parse("none", 4, &lvl), 0);
	TEST_ASSERT_INT(lvl, TLSL_NONE);
	TEST_ASSERT_INT(policy_parse("dane", 4, &lvl), -1);
	TEST_ASSERT_INT(policy_parse("", 0, &lvl), -1);
	TEST_ASSERT_INT(policy_parse("may encrypt", 11, &lvl), -1);
	TEST_ASSERT_STR(policy_name(TLSL_REQUIRE), "require");
	TEST_END();

	TEST_BEGIN("credentials: mode, host and port matching");
	put("creds", "# smarthosts\n"
	    "smtp.example.org  alice  pass word with spaces  \n"
	    "smtp.example.org:465 alice465 secret465\n"
	    "[192.0.2.1]:587 bob p\r\n", 0600);
	TEST_ASSERT_INT(sasl_find(path("creds"), "SMTP.example.org", 587, &c,
	    &why), 1);
	TEST_ASSERT_STR(c.user, "alice");
	TEST_ASSERT_STR(c.pass, "pass word with spaces");
	TEST_ASSERT_INT(sasl_find(path("creds"), "smtp.example.org", 465, &c,
	    &why), 1);
	TEST_ASSERT_STR(c.user, "alice465");
	TEST_ASSERT_INT(sasl_find(path("creds"), "192.0.2.1", 587, &c, &why),
	    1);
	TEST_ASSERT_STR(c.pass, "p");
	TEST_ASSERT_INT(sasl_find(path("creds"), "192.0.2.1", 25, &c, &why), 0);
	TEST_ASSERT_STR(c.user, "");
	TEST_ASSERT_INT(sasl_find(path("creds"), "nope.example", 25, &c, &why),
	    0);
	put("creds", "smtp.example.org alice secret\n", 0644);
	TEST_ASSERT_INT(sasl_find(path("creds"), "smtp.example.org", 25, &c,
	    &why), -1);
	TEST_ASSERT_INT(errno, EPERM);
	put("creds", "smtp.example.org alice\n", 0640);
	TEST_ASSERT_INT(sasl_find(path("creds"), "smtp.example.org", 25, &c,
	    &why), -1);
	TEST_ASSERT_INT(sasl_find(path("absent"), "smtp.example.org", 25, &c,
	    &why), -1);
	TEST_END();

	TEST_BEGIN("base64 (RFC 4648 vectors) and the PLAIN response");
	buf_reset(&b);
	TEST_ASSERT(sasl_base64("", 0, &b) == 0);
	TEST_ASSERT_INT(b.len, 0);
	buf_reset(&b);
	TEST_ASSERT(sasl_base64("f", 1, &b) == 0);
	TEST_ASSERT_STR(buf_cstr(&b), "Zg==");
	buf_reset(&b);
	TEST_ASSERT(sasl_base64("fo", 2, &b) == 0);
	TEST_ASSERT_STR(buf_cstr(&b), "Zm8=");
	buf_reset(&b);
	TEST_ASSERT(sasl_base64("foobar", 6, &b) == 0);
	TEST_ASSERT_STR(buf_cstr(&b), "Zm9vYmFy");
	memset(&c, 0, sizeof(c));
	(void)snprintf(c.user, sizeof(c.user), "tim");
	(void)snprintf(c.pass, sizeof(c.pass), "tanstaaftanstaaf");
	buf_reset(&b);
	TEST_ASSERT(sasl_plain(&c, &b) == 0);
	TEST_ASSERT_STR(buf_cstr(&b), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	TEST_END();

	(void)unlink(path("transport"));
	(void)unlink(path("creds"));
	(void)unlink(path("tables/transport.cdb"));
	(void)unlink(path("tables/nothing.cdb"));
	(void)rmdir(path("tables"));
	(void)rmdir(dir);
	buf_free(&v);
	buf_free(&b);
	return test_summary("test-remote-route");
}
