/* test-config - the config reader: sample, defaults, every type, every error */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "test.h"

static char dir[] = "/tmp/test-config.XXXXXX";
static struct buf conf = BUF_INIT(512);	/* the test file's path */
static struct buf err = BUF_INIT(8192);
static struct config cfg;

/* write_file - make path hold exactly len bytes */
static int
write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	(void)close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* load_n - load len bytes of text as the config; cfg is freed first */
static int
load_n(const char *text, size_t len)
{
	config_free(&cfg);
	if (write_file(buf_cstr(&conf), text, len) < 0)
		return -2;
	buf_reset(&err);
	return config_load(buf_cstr(&conf), &cfg, &err);
}

/*
 * load - load text, after the two required keys unless it has them, and
 * before a hostname unless it has one (so the line numbers of text start
 * at 3, and the system's host name does not matter)
 */
static int
load(const char *text)
{
	static struct buf b = BUF_INIT(1 << 16);

	buf_reset(&b);
	if (strstr(text, "state_dir") == NULL)
		(void)buf_append_str(&b, "state_dir = /var/spool/ms\n");
	if (strstr(text, "mail_dir") == NULL)
		(void)buf_append_str(&b, "mail_dir = /var/mail\n");
	(void)buf_append_str(&b, text);
	if (strstr(text, "hostname") == NULL)
		(void)buf_append_str(&b, "hostname = h.test\n");
	return load_n(b.data, b.len);
}

/* load_only - load text exactly as given */
static int
load_only(const char *text)
{
	return load_n(text, strlen(text));
}

/* errmsg - the test file's name followed by msg */
static const char *
errmsg(const char *msg)
{
	static struct buf m = BUF_INIT(8192);

	buf_reset(&m);
	(void)buf_printf(&m, "%s%s", buf_cstr(&conf), msg);
	return buf_cstr(&m);
}

/* in_dir - dir + "/" + rest */
static const char *
in_dir(const char *rest)
{
	static struct buf m = BUF_INIT(8192);

	buf_reset(&m);
	(void)buf_printf(&m, "%s/%s", dir, rest);
	return buf_cstr(&m);
}

/* bad_value - key = value fails with "FILE:3: key: msg" */
static int
bad_value(const char *key, const char *value, const char *msg)
{
	struct buf text = BUF_INIT(8192), want = BUF_INIT(8192);
	int ok;

	(void)buf_printf(&text, "%s = %s\n", key, value);
	(void)buf_printf(&want, ":3: %s: %s", key, msg);
	ok = load(buf_cstr(&text)) == -1 && errno == EINVAL &&
	    strcmp(buf_cstr(&err), errmsg(buf_cstr(&want))) == 0;
	if (!ok)
		printf("  %s = %s: got '%s'\n", key, value, buf_cstr(&err));
	buf_free(&text);
	buf_free(&want);
	return ok;
}

int
main(void)
{
	char cwd[PATH_MAX], host[256];
	struct buf text = BUF_INIT(1 << 16), want = BUF_INIT(8192);
	const struct config_listen *l;
	const char *name = NULL;
	size_t i;

	if (mkdtemp(dir) == NULL || getcwd(cwd, sizeof(cwd)) == NULL) {
		printf("setup: %s\n", strerror(errno));
		return 1;
	}
	(void)buf_printf(&conf, "%s/mailstack.conf", dir);

	TEST_BEGIN("config: the sample etc/mailstack.conf loads cleanly");
	buf_reset(&err);
	TEST_ASSERT_INT(config_load("etc/mailstack.conf", &cfg, &err), 0);
	TEST_ASSERT_STR(buf_cstr(&err), "");
	TEST_ASSERT_STR(cfg.path, "etc/mailstack.conf");
	buf_reset(&want);
	(void)buf_printf(&want, "%s/etc", cwd);
	TEST_ASSERT_STR(cfg.dir, buf_cstr(&want));
	(void)buf_printf(&want, "/users");
	TEST_ASSERT_STR(cfg.users, buf_cstr(&want));
	buf_truncate(&want, want.len - strlen("/users"));
	(void)buf_printf(&want, "/tls/cert.pem");
	TEST_ASSERT_STR(cfg.tls_cert, buf_cstr(&want));
	TEST_ASSERT(cfg.hostname != NULL);
	TEST_ASSERT(cfg.state_dir != NULL && cfg.state_dir[0] == '/');
	TEST_ASSERT(cfg.mail_dir != NULL && cfg.mail_dir[0] == '/');
	TEST_ASSERT(cfg.aliases != NULL && cfg.tls_key != NULL);
	TEST_ASSERT_INT(cfg.listen_smtp.set, 1);
	TEST_ASSERT_STR(cfg.listen_smtp.host, "0.0.0.0");
	TEST_ASSERT_INT(cfg.listen_smtp.port, 25);
	TEST_ASSERT_INT(cfg.listen_imaps.port, 993);
	TEST_ASSERT(cfg.relay_networks.n >= 1);
	TEST_ASSERT_INT(cfg.message_size_limit, 52428800);
	TEST_ASSERT_INT(cfg.max_sessions, 500);
	TEST_ASSERT_INT(cfg.max_sessions_per_ip, 20);
	TEST_ASSERT_INT(cfg.shutdown_grace, 10);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 0);
	config_free(&cfg);
	config_free(&cfg);	/* twice is fine */
	TEST_END();

	TEST_BEGIN("config: defaults for everything left out");
	memset(host, 0, sizeof(host));
	TEST_ASSERT_INT(gethostname(host, sizeof(host) - 1), 0);
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] >= 'A' && host[i] <= 'Z')
			host[i] = (char)(host[i] + 'a' - 'A');
	if (load_only("state_dir = /var/spool/ms\nmail_dir = /var/mail\n")
	    == 0) {
		TEST_ASSERT_STR(buf_cstr(&err), "");
		TEST_ASSERT_STR(cfg.hostname, host);
	} else {
		/* a container may be named something that is not a DNS name */
		printf("  system host name '%s' refused: %s\n", host,
		    buf_cstr(&err));
		TEST_ASSERT(strstr(buf_cstr(&err), ": hostname not set, and "
		    "the system's host name") != NULL);
		TEST_ASSERT_INT(load(""), 0);
	}
	TEST_ASSERT_INT(cfg.domains.n, 0);
	TEST_ASSERT_STR(cfg.state_dir, "/var/spool/ms");
	TEST_ASSERT_STR(cfg.log, "syslog");
	TEST_ASSERT(cfg.users == NULL && cfg.aliases == NULL);
	TEST_ASSERT(cfg.tls_cert == NULL && cfg.tls_key == NULL);
	TEST_ASSERT(cfg.transport == NULL && cfg.relayhost.host == NULL);
	TEST_ASSERT_INT(cfg.relay_networks.n, 0);
	TEST_ASSERT_INT(cfg.dns_servers.n, 0);
	TEST_ASSERT_INT(cfg.message_size_limit, 52428800);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 0);
	for (i = 0; (l = config_listener(&cfg, i, &name)) != NULL; i++)
		TEST_ASSERT_INT(l->set, 0);
	TEST_ASSERT_INT(i, 7);
	TEST_ASSERT(config_listener(&cfg, 0, &name) == &cfg.listen_smtp);
	TEST_ASSERT_STR(name, "listen_smtp");
	TEST_ASSERT(config_listener(&cfg, 6, &name) == &cfg.listen_imaps);
	TEST_ASSERT_STR(name, "listen_imaps");
	TEST_END();

	TEST_BEGIN("config: syntax: blanks, comments, CRLF, '#' in values");
	TEST_ASSERT_INT(load_only(
	    "# a comment\n"
	    "   # an indented comment\n"
	    "\n"
	    "  \t \n"
	    "state_dir=/s\n"
	    "  mail_dir  =   /m  \t\n"
	    "log = stderr # trailing comment\n"
	    "tls_cert = /c/a#b\r\n"
	    "tls_key = /c/k\t# tab then comment\n"
	    "relayhost = # empty, with a comment\n"
	    "hostname = mx.truc.test"), 0);	/* no final LF */
	TEST_ASSERT_STR(buf_cstr(&err), "");
	TEST_ASSERT_STR(cfg.state_dir, "/s");
	TEST_ASSERT_STR(cfg.mail_dir, "/m");
	TEST_ASSERT_STR(cfg.log, "stderr");
	TEST_ASSERT_STR(cfg.tls_cert, "/c/a#b");
	TEST_ASSERT_STR(cfg.tls_key, "/c/k");
	TEST_ASSERT(cfg.relayhost.host == NULL);
	TEST_ASSERT_STR(cfg.hostname, "mx.truc.test");
	TEST_END();

	TEST_BEGIN("config: relative paths resolve against the file's folder");
	TEST_ASSERT_INT(load_only(
	    "state_dir = state\n"
	    "mail_dir = ./mail//boxes/\n"
	    "users = ../users\n"
	    "aliases = /etc/./ms//aliases\n"
	    "transport = .\n"
	    "log = log/mail.log\n"
	    "hostname = h.test\n"), 0);
	TEST_ASSERT_STR(cfg.dir, dir);
	TEST_ASSERT_STR(cfg.state_dir, in_dir("state"));
	TEST_ASSERT_STR(cfg.mail_dir, in_dir("mail/boxes"));
	TEST_ASSERT_STR(cfg.users, in_dir("../users"));
	TEST_ASSERT_STR(cfg.aliases, "/etc/ms/aliases");
	TEST_ASSERT_STR(cfg.transport, dir);
	TEST_ASSERT_STR(cfg.log, in_dir("log/mail.log"));
	/* a config named by a relative path resolves against getcwd() */
	TEST_ASSERT_INT(chdir(dir), 0);
	config_free(&cfg);
	buf_reset(&err);
	TEST_ASSERT_INT(config_load("mailstack.conf", &cfg, &err), 0);
	TEST_ASSERT_STR(cfg.dir, dir);
	TEST_ASSERT_STR(cfg.state_dir, in_dir("state"));
	TEST_ASSERT_INT(chdir(cwd), 0);
	config_free(&cfg);
	TEST_END();

	TEST_BEGIN("config: errors name the file and the line");
	TEST_ASSERT_INT(load("hostname = a.test\nfoo = bar\n"), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":4: unknown key 'foo'"));
	TEST_ASSERT(cfg.path == NULL && cfg.state_dir == NULL);
	TEST_ASSERT_INT(load("Hostname = a.test\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: unknown key 'Hostname'"));
	TEST_ASSERT_INT(load("hostname = a.test\n\n# x\nhostname = b.test\n"),
	    -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":6: key 'hostname' given twice (first on line 3)"));
	TEST_ASSERT_INT(load("relayhost =\nrelayhost = a.test\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":4: key 'relayhost' given twice (first on line 3)"));
	TEST_ASSERT_INT(load("hostname a.test\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: missing '=' (expected 'key = value')"));
	TEST_ASSERT_INT(load(" = a.test\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: missing key before '='"));
	TEST_ASSERT_INT(load("# ok\nhostname =\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":4: hostname: empty value"));
	TEST_ASSERT_INT(load("listen_smtp = 0.0.0.0:99999\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: listen_smtp: port out of range '99999'"));
	TEST_ASSERT_INT(load_n("state_dir = /s\nmail_dir = /m\0x\n", 31), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":2: NUL byte in line"));
	TEST_ASSERT_INT(load("log = a\x1b[31m\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: control character in line"));
	TEST_ASSERT_INT(load("log = a\rb\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: control character in line"));
	TEST_END();

	TEST_BEGIN("config: required keys, and files that cannot be read");
	TEST_ASSERT_INT(load_only("state_dir = /s\n"), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(": missing required key 'mail_dir'"));
	TEST_ASSERT_INT(load_only("mail_dir = /m\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(": missing required key 'state_dir'"));
	TEST_ASSERT_INT(load_only(""), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(": missing required key 'state_dir'"));
	TEST_ASSERT_INT(load_only("state_dir =\nmail_dir = /m\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":1: state_dir: empty value"));
	buf_reset(&err);
	TEST_ASSERT_INT(config_load("/nonexistent/mailstack.conf", &cfg, &err),
	    -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_STR(buf_cstr(&err), "/nonexistent/mailstack.conf: "
	    "cannot open: No such file or directory");
	buf_reset(&err);
	TEST_ASSERT_INT(config_load(dir, &cfg, &err), -1);	/* a folder */
	TEST_ASSERT_INT(errno, EISDIR);
	TEST_ASSERT(cfg.path == NULL);
	TEST_END();

	TEST_BEGIN("config: line length one under, at and over the cap");
	for (i = 0; i < 3; i++) {
		size_t len = CONFIG_LINE_MAX - 1 + i, start;
		int r;

		buf_reset(&text);
		(void)buf_append_str(&text, "state_dir = /s\n");
		start = text.len;
		(void)buf_append_char(&text, '#');
		while (text.len - start < len)
			(void)buf_append_char(&text, 'x');
		(void)buf_append_str(&text, "\nmail_dir = /m\nhostname = h\n");
		r = load_n(text.data, text.len);
		if (i < 2) {
			TEST_ASSERT_INT(r, 0);
		} else {
			TEST_ASSERT_INT(r, -1);
			TEST_ASSERT_STR(buf_cstr(&err),
			    errmsg(":2: line longer than 4096 octets"));
		}
	}
	/* a value line at the cap (its tail a comment) is read whole */
	for (i = 0; i < 2; i++) {
		size_t start;
		int r;

		buf_reset(&text);
		(void)buf_append_str(&text, "state_dir = /s\nmail_dir = /m\n");
		start = text.len;
		(void)buf_append_str(&text, "log = stderr #");
		while (text.len - start < CONFIG_LINE_MAX + i)
			(void)buf_append_char(&text, 'x');
		(void)buf_append_str(&text, "\nhostname = h\n");
		r = load_n(text.data, text.len);
		if (i == 0) {
			TEST_ASSERT_INT(r, 0);
			TEST_ASSERT_STR(cfg.log, "stderr");
		} else {
			TEST_ASSERT_INT(r, -1);
			TEST_ASSERT_STR(buf_cstr(&err),
			    errmsg(":3: line longer than 4096 octets"));
		}
	}
	TEST_END();

	TEST_BEGIN("config: hostname values");
	TEST_ASSERT_INT(load("hostname = MX.Truc.TEST\n"), 0);
	TEST_ASSERT_STR(cfg.hostname, "mx.truc.test");
	TEST_ASSERT_INT(load("hostname = localhost\n"), 0);
	TEST_ASSERT_INT(load("hostname = a-b.c0.test\n"), 0);
	TEST_ASSERT(bad_value("hostname", "-a.test",
	    "bad host name '-a.test'"));
	TEST_ASSERT(bad_value("hostname", "a-.test",
	    "bad host name 'a-.test'"));
	TEST_ASSERT(bad_value("hostname", "a..test",
	    "bad host name 'a..test'"));
	TEST_ASSERT(bad_value("hostname", "a_b.test",
	    "bad host name 'a_b.test'"));
	TEST_ASSERT(bad_value("hostname", "a.test.",
	    "bad host name 'a.test.'"));
	TEST_ASSERT(bad_value("hostname", "192.0.2.1",
	    "bad host name '192.0.2.1'"));
	TEST_ASSERT(bad_value("hostname", "a b.test",
	    "bad host name 'a b.test'"));
	TEST_ASSERT(bad_value("hostname", "\xc3\xa9.test",
	    "bad host name '\xc3\xa9.test'"));
	buf_reset(&text);
	for (i = 0; i < 63; i++)
		(void)buf_append_char(&text, 'a');
	(void)buf_append_str(&text, ".test");
	buf_reset(&want);
	(void)buf_printf(&want, "hostname = %s\n", buf_cstr(&text));
	TEST_ASSERT_INT(load(buf_cstr(&want)), 0);	/* 63-octet label */
	buf_reset(&want);
	(void)buf_printf(&want, "a%s", buf_cstr(&text));	/* 64 octets */
	TEST_ASSERT_INT(load_only(""), -1);
	buf_reset(&text);
	(void)buf_printf(&text, "bad host name '%s'", buf_cstr(&want));
	TEST_ASSERT(bad_value("hostname", buf_cstr(&want), buf_cstr(&text)));
	/* 253 octets in all is the most */
	buf_reset(&text);
	for (i = 0; i < 3; i++) {
		size_t j;

		for (j = 0; j < 63; j++)
			(void)buf_append_char(&text, 'a');
		(void)buf_append_char(&text, '.');
	}
	while (text.len < 253)
		(void)buf_append_char(&text, 'b');
	buf_reset(&want);
	(void)buf_printf(&want, "hostname = %s\n", buf_cstr(&text));
	TEST_ASSERT_INT(load(buf_cstr(&want)), 0);
	TEST_ASSERT(cfg.hostname != NULL && strlen(cfg.hostname) == 253);
	(void)buf_append_char(&text, 'b');
	buf_reset(&want);
	(void)buf_printf(&want, "bad host name '%s'", buf_cstr(&text));
	TEST_ASSERT(bad_value("hostname", buf_cstr(&text), buf_cstr(&want)));
	TEST_END();

	TEST_BEGIN("config: domain lists");
	TEST_ASSERT_INT(load("domains = truc.test\tExample.ORG  b.test\n"), 0);
	TEST_ASSERT_INT(cfg.domains.n, 3);
	TEST_ASSERT_STR(cfg.domains.n == 3 ? cfg.domains.v[1] : NULL,
	    "example.org");
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "TRUC.test"), 1);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "example.org"), 1);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "other.test"), 0);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "truc.test."), 0);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "sub.truc.test"), 0);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, ""), 0);
	buf_reset(&text);
	(void)buf_append_str(&text, "domains =");
	for (i = 0; i < 300; i++)
		(void)buf_printf(&text, " d%zu.test", i);
	(void)buf_append_char(&text, '\n');
	TEST_ASSERT_INT(load(buf_cstr(&text)), 0);
	TEST_ASSERT_INT(cfg.domains.n, 300);
	TEST_ASSERT_INT(config_is_local_domain(&cfg, "D299.TEST"), 1);
	TEST_ASSERT_INT(load("domains =\n"), 0);
	TEST_ASSERT_INT(cfg.domains.n, 0);
	TEST_ASSERT(bad_value("domains", "a.test bad_one.test",
	    "bad domain name 'bad_one.test'"));
	TEST_ASSERT(bad_value("domains", "a.test A.TEST",
	    "domain 'a.test' listed twice"));
	TEST_ASSERT(bad_value("domains", "a.test [192.0.2.1]",
	    "bad domain name '[192.0.2.1]'"));
	TEST_END();

	TEST_BEGIN("config: listeners");
	TEST_ASSERT_INT(load(
	    "listen_smtp = 127.0.0.1:2525\n"
	    "listen_submission = [::1]:2587\n"
	    "listen_pop3 = [::]:110\n"
	    "listen_imap = 0.0.0.0:143\n"
	    "listen_pop3s =\n"), 0);
	TEST_ASSERT_INT(cfg.listen_smtp.set, 1);
	TEST_ASSERT_STR(cfg.listen_smtp.host, "127.0.0.1");
	TEST_ASSERT_INT(cfg.listen_smtp.port, 2525);
	TEST_ASSERT_INT(cfg.listen_smtp.addr.ss_family, AF_INET);
	TEST_ASSERT_INT(cfg.listen_smtp.addrlen, sizeof(struct sockaddr_in));
	TEST_ASSERT_INT(ntohs(((struct sockaddr_in *)&cfg.listen_smtp.addr)
	    ->sin_port), 2525);
	TEST_ASSERT_STR(cfg.listen_submission.host, "::1");
	TEST_ASSERT_INT(cfg.listen_submission.addr.ss_family, AF_INET6);
	TEST_ASSERT_INT(cfg.listen_submission.addrlen,
	    sizeof(struct sockaddr_in6));
	TEST_ASSERT_INT(ntohs(((struct sockaddr_in6 *)
	    &cfg.listen_submission.addr)->sin6_port), 2587);
	TEST_ASSERT_STR(cfg.listen_pop3.host, "::");
	TEST_ASSERT_INT(cfg.listen_pop3s.set, 0);
	TEST_ASSERT_INT(cfg.listen_imaps.set, 0);
	TEST_ASSERT_INT(load("listen_smtp = 0.0.0.0:1\nlisten_imap = "
	    "0.0.0.0:65535\n"), 0);
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:0",
	    "port out of range '0'"));
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:65536",
	    "port out of range '65536'"));
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:99999999999999999999999",
	    "port out of range '99999999999999999999999'"));
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:smtp",
	    "bad port 'smtp'"));
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:",
	    "bad port ''"));
	TEST_ASSERT(bad_value("listen_smtp", "0.0.0.0:+25",
	    "bad port '+25'"));
	TEST_ASSERT(bad_value("listen_smtp", "127.0.0.1",
	    "missing port in '127.0.0.1' (use ADDRESS:PORT)"));
	TEST_ASSERT(bad_value("listen_smtp", "::1:25",
	    "IPv6 address needs brackets in '::1:25' (use [ADDRESS]:PORT)"));
	TEST_ASSERT(bad_value("listen_smtp", "localhost:25",
	    "host must be an IP address in 'localhost:25' "
	    "(0.0.0.0 or [::] for every address)"));
	TEST_ASSERT(bad_value("listen_smtp", "*:25",
	    "host must be an IP address in '*:25' "
	    "(0.0.0.0 or [::] for every address)"));
	TEST_ASSERT(bad_value("listen_smtp", ":25",
	    "host must be an IP address in ':25' "
	    "(0.0.0.0 or [::] for every address)"));
	TEST_ASSERT(bad_value("listen_smtp", "1.2.3:25",
	    "host must be an IP address in '1.2.3:25' "
	    "(0.0.0.0 or [::] for every address)"));
	TEST_ASSERT(bad_value("listen_smtp", "[::1]25",
	    "unexpected text after ']' in '[::1]25'"));
	TEST_ASSERT(bad_value("listen_smtp", "[::1:25",
	    "missing ']' in '[::1:25'"));
	TEST_ASSERT(bad_value("listen_smtp", "[127.0.0.1]:25",
	    "bad IPv6 address in '[127.0.0.1]:25'"));
	TEST_ASSERT(bad_value("listen_smtp", "[::1]",
	    "missing port in '[::1]' (use ADDRESS:PORT)"));
	TEST_END();

	TEST_BEGIN("config: two listeners on one address and port");
	TEST_ASSERT_INT(load("listen_smtp = 0.0.0.0:25\n"
	    "listen_imap = 0.0.0.0:25\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":4: listen_imap: address "
	    "0.0.0.0:25 already used by listen_smtp (line 3)"));
	/* reported at the later line, whatever the key order */
	TEST_ASSERT_INT(load("listen_imap = [::1]:25\n"
	    "listen_smtp = [::1]:25\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":4: listen_smtp: address "
	    "[::1]:25 already used by listen_imap (line 3)"));
	TEST_ASSERT_INT(load("listen_smtp = 127.0.0.1:25\n"
	    "listen_pop3 = 0.0.0.0:25\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":4: listen_pop3: address "
	    "0.0.0.0:25 overlaps listen_smtp = 127.0.0.1:25 (line 3)"));
	TEST_ASSERT_INT(load("listen_smtp = 0.0.0.0:25\n"
	    "listen_pop3 = [::]:25\n"
	    "listen_imap = 127.0.0.1:143\n"
	    "listen_submission = 127.0.0.2:143\n"), 0);	/* all fine */
	TEST_END();

	TEST_BEGIN("config: TLS keys go together; TLS listeners need them");
	TEST_ASSERT_INT(load("tls_cert = tls/cert.pem\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: tls_cert is set but tls_key is not"));
	TEST_ASSERT_INT(load("# x\ntls_key = tls/key.pem\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":4: tls_key is set but tls_cert is not"));
	TEST_ASSERT_INT(load("listen_imaps = 0.0.0.0:993\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: listen_imaps needs tls_cert and tls_key"));
	TEST_ASSERT_INT(load("listen_pop3s = 0.0.0.0:995\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: listen_pop3s needs tls_cert and tls_key"));
	TEST_ASSERT_INT(load("listen_submissions = 0.0.0.0:465\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: listen_submissions needs tls_cert and tls_key"));
	TEST_ASSERT_INT(load("listen_submissions = 0.0.0.0:465\n"
	    "tls_cert = c.pem\ntls_key = k.pem\n"), 0);
	TEST_ASSERT_STR(cfg.tls_cert, in_dir("c.pem"));
	TEST_ASSERT_INT(load("listen_submission = 0.0.0.0:587\n"
	    "listen_imap = 0.0.0.0:143\nlisten_pop3 = 0.0.0.0:110\n"), 0);
	TEST_END();

	TEST_BEGIN("config: relayhost");
	TEST_ASSERT_INT(load("relayhost = Smtp.Provider.example:587\n"), 0);
	TEST_ASSERT_STR(cfg.relayhost.host, "smtp.provider.example");
	TEST_ASSERT_INT(cfg.relayhost.port, 587);
	TEST_ASSERT_INT(load("relayhost = smtp.provider.example\n"), 0);
	TEST_ASSERT_INT(cfg.relayhost.port, 25);
	TEST_ASSERT_INT(load("relayhost = [smtp.provider.example]:2525\n"), 0);
	TEST_ASSERT_STR(cfg.relayhost.host, "smtp.provider.example");
	TEST_ASSERT_INT(cfg.relayhost.port, 2525);
	TEST_ASSERT_INT(load("relayhost = [2001:db8::1]:26\n"), 0);
	TEST_ASSERT_STR(cfg.relayhost.host, "2001:db8::1");
	TEST_ASSERT_INT(cfg.relayhost.port, 26);
	TEST_ASSERT_INT(load("relayhost = 192.0.2.7\n"), 0);
	TEST_ASSERT_STR(cfg.relayhost.host, "192.0.2.7");
	TEST_ASSERT(bad_value("relayhost", "smtp_x.example:25",
	    "bad host 'smtp_x.example:25'"));
	TEST_ASSERT(bad_value("relayhost", "2001:db8::1",
	    "IPv6 address needs brackets in '2001:db8::1' "
	    "(use [ADDRESS]:PORT)"));
	TEST_ASSERT(bad_value("relayhost", "a.example:0",
	    "port out of range '0'"));
	TEST_ASSERT(bad_value("relayhost", ":25", "bad host ':25'"));
	TEST_END();

	TEST_BEGIN("config: dns_servers");
	TEST_ASSERT_INT(load("dns_servers = 127.0.0.1:5353 ::1 [::1]:54 "
	    "192.0.2.53\n"), 0);
	TEST_ASSERT_INT(cfg.dns_servers.n, 4);
	if (cfg.dns_servers.n == 4) {
		TEST_ASSERT_STR(cfg.dns_servers.v[0].host, "127.0.0.1");
		TEST_ASSERT_INT(cfg.dns_servers.v[0].port, 5353);
		TEST_ASSERT_INT(cfg.dns_servers.v[0].family, AF_INET);
		TEST_ASSERT_STR(cfg.dns_servers.v[1].host, "::1");
		TEST_ASSERT_INT(cfg.dns_servers.v[1].port, 53);
		TEST_ASSERT_INT(cfg.dns_servers.v[1].family, AF_INET6);
		TEST_ASSERT_INT(cfg.dns_servers.v[2].port, 54);
		TEST_ASSERT_INT(cfg.dns_servers.v[3].port, 53);
	}
	TEST_ASSERT(bad_value("dns_servers", "127.0.0.1 dns.google",
	    "not an IP address 'dns.google'"));
	TEST_ASSERT(bad_value("dns_servers", "127.0.0.1:70000",
	    "port out of range '70000'"));
	TEST_ASSERT(bad_value("dns_servers", "[127.0.0.1]:53",
	    "bad IPv6 address in '[127.0.0.1]:53'"));
	TEST_END();

	TEST_BEGIN("config: relay_networks");
	TEST_ASSERT_INT(load("relay_networks = 127.0.0.0/8 ::1 "
	    "192.168.0.0/16\n"), 0);
	TEST_ASSERT_INT(cfg.relay_networks.n, 3);
	TEST_ASSERT(bad_value("relay_networks", "127.0.0.0/8 10.0.0.0/33",
	    "bad prefix length '33' in '10.0.0.0/33' (0-32)"));
	TEST_ASSERT(bad_value("relay_networks", "10.1.0.0/8",
	    "host bits set in '10.1.0.0/8' (network is 10.0.0.0/8)"));
	TEST_END();

	TEST_BEGIN("config: message_size_limit");
	TEST_ASSERT_INT(load("message_size_limit = 1\n"), 0);
	TEST_ASSERT_INT(cfg.message_size_limit, 1);
	TEST_ASSERT_INT(load("message_size_limit = 10M\n"), 0);
	TEST_ASSERT_INT(cfg.message_size_limit, 10485760);
	TEST_ASSERT_INT(load("message_size_limit = 512k\n"), 0);
	TEST_ASSERT_INT(cfg.message_size_limit, 524288);
	TEST_ASSERT_INT(load("message_size_limit = 2G\n"), 0);
	TEST_ASSERT(cfg.message_size_limit == CONFIG_SIZE_MAX);
	TEST_ASSERT_INT(load("message_size_limit = 2147483648\n"), 0);
	TEST_ASSERT(bad_value("message_size_limit", "2147483649",
	    "too large '2147483649' (at most 2147483648, 2G)"));
	TEST_ASSERT(bad_value("message_size_limit", "2049M",
	    "too large '2049M' (at most 2147483648, 2G)"));
	TEST_ASSERT(bad_value("message_size_limit", "3g",
	    "too large '3g' (at most 2147483648, 2G)"));
	TEST_ASSERT(bad_value("message_size_limit", "0",
	    "must be at least 1 byte '0'"));
	TEST_ASSERT(bad_value("message_size_limit", "10x",
	    "bad size '10x' (bytes, or a number with k, M or G)"));
	TEST_ASSERT(bad_value("message_size_limit", "-1",
	    "bad size '-1' (bytes, or a number with k, M or G)"));
	TEST_ASSERT(bad_value("message_size_limit", "M",
	    "bad size 'M' (bytes, or a number with k, M or G)"));
	TEST_ASSERT(bad_value("message_size_limit", "1 M",
	    "bad size '1 M' (bytes, or a number with k, M or G)"));
	TEST_ASSERT_INT(load("message_size_limit =\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":3: message_size_limit: empty value"));
	TEST_END();

	TEST_BEGIN("config: allow_plaintext_auth");
	TEST_ASSERT_INT(load("allow_plaintext_auth = yes\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 1);
	TEST_ASSERT_INT(load("allow_plaintext_auth = TRUE\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 1);
	TEST_ASSERT_INT(load("allow_plaintext_auth = 1\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 1);
	TEST_ASSERT_INT(load("allow_plaintext_auth = On\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 1);
	TEST_ASSERT_INT(load("allow_plaintext_auth = no\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 0);
	TEST_ASSERT_INT(load("allow_plaintext_auth = false\n"), 0);
	TEST_ASSERT_INT(cfg.allow_plaintext_auth, 0);
	TEST_ASSERT_INT(load("allow_plaintext_auth = 0\n"), 0);
	TEST_ASSERT_INT(load("allow_plaintext_auth = off\n"), 0);
	TEST_ASSERT(bad_value("allow_plaintext_auth", "maybe",
	    "expected yes or no, not 'maybe'"));
	TEST_ASSERT(bad_value("allow_plaintext_auth", "2",
	    "expected yes or no, not '2'"));
	TEST_END();

	TEST_BEGIN("config: counts and durations (supervisor limits)");
	TEST_ASSERT_INT(load("max_sessions = 0\n"), 0);
	TEST_ASSERT_INT(cfg.max_sessions, 0);
	TEST_ASSERT_INT(load("max_sessions_per_ip = 1000000000\n"), 0);	/* at */
	TEST_ASSERT_INT(cfg.max_sessions_per_ip, 1000000000);
	TEST_ASSERT(bad_value("max_sessions_per_ip", "1000000001",
	    "too large '1000000001' (at most 1000000000)"));		/* over */
	TEST_ASSERT(bad_value("max_sessions", "-1", "bad number '-1'"));
	TEST_ASSERT(bad_value("max_sessions", "5k", "bad number '5k'"));
	TEST_ASSERT_INT(load("shutdown_grace = 90\n"), 0);
	TEST_ASSERT_INT(cfg.shutdown_grace, 90);
	TEST_ASSERT_INT(load("shutdown_grace = 2m\n"), 0);
	TEST_ASSERT_INT(cfg.shutdown_grace, 120);
	TEST_ASSERT_INT(load("shutdown_grace = 4h\n"), 0);
	TEST_ASSERT_INT(cfg.shutdown_grace, 14400);
	TEST_ASSERT_INT(load("shutdown_grace = 5d\n"), 0);
	TEST_ASSERT_INT(cfg.shutdown_grace, 432000);
	TEST_ASSERT_INT(load("shutdown_grace = 3660d\n"), 0);		/* at */
	TEST_ASSERT(bad_value("shutdown_grace", "3661d",
	    "too long '3661d' (at most 316224000 seconds)"));	/* over */
	TEST_ASSERT(bad_value("shutdown_grace", "1y",
	    "bad duration '1y' (seconds, or a number with s, m, h, d or w)"));
	TEST_ASSERT(bad_value("shutdown_grace", "d",
	    "bad duration 'd' (seconds, or a number with s, m, h, d or w)"));
	TEST_END();

	TEST_BEGIN("config: queue keys: defaults, weeks, non-zero, back-off order");
	TEST_ASSERT_INT(load(""), 0);
	TEST_ASSERT_INT(cfg.queue_retry_min, 300);
	TEST_ASSERT_INT(cfg.queue_retry_max, 14400);
	TEST_ASSERT_INT(cfg.queue_lifetime, 432000);
	TEST_ASSERT_INT(cfg.queue_delay_warning, 14400);
	TEST_ASSERT_INT(cfg.queue_concurrency, 20);
	TEST_ASSERT_INT(cfg.queue_destination_concurrency, 10);
	TEST_ASSERT_INT(cfg.deliver_timeout, 600);
	TEST_ASSERT_INT(cfg.remote_timeout, 3600);
	TEST_ASSERT_INT(cfg.bounce_size_limit, 102400);
	TEST_ASSERT_INT(load("queue_lifetime = 2w\nqueue_delay_warning = 0\n"), 0);
	TEST_ASSERT_INT(cfg.queue_lifetime, 1209600);
	TEST_ASSERT_INT(cfg.queue_delay_warning, 0);
	TEST_ASSERT(bad_value("queue_concurrency", "0", "must be at least 1 '0'"));
	TEST_ASSERT(bad_value("queue_lifetime", "0s", "must be at least 1 '0s'"));
	TEST_ASSERT_INT(load("queue_retry_min = 1h\nqueue_retry_max = 1h\n"), 0);
	TEST_ASSERT_INT(load("queue_retry_min = 2h\n"), 0);		/* max 4h */
	TEST_ASSERT_INT(load("queue_retry_min = 5h\n"), -1);	/* over 4h */
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: queue_retry_max (14400s) "
	    "is shorter than queue_retry_min (18000s)"));
	TEST_ASSERT_INT(load("queue_retry_max = 1m\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: queue_retry_max (60s) "
	    "is shorter than queue_retry_min (300s)"));
	TEST_END();

	TEST_BEGIN("config: smtpd limits and timeouts, hop_limit");
	TEST_ASSERT_INT(load(""), 0);
	TEST_ASSERT_INT(cfg.smtpd_timeout, 300);
	TEST_ASSERT_INT(cfg.smtpd_data_timeout, 180);
	TEST_ASSERT_INT(cfg.smtpd_tls_timeout, 60);
	TEST_ASSERT_INT(cfg.smtpd_min_data_rate, 500);
	TEST_ASSERT_INT(cfg.smtpd_max_recipients, 100);
	TEST_ASSERT_INT(cfg.smtpd_max_errors, 20);
	TEST_ASSERT_INT(cfg.smtpd_max_unknown_commands, 10);
	TEST_ASSERT_INT(cfg.smtpd_max_junk_commands, 100);
	TEST_ASSERT_INT(cfg.smtpd_max_auth_failures, 3);
	TEST_ASSERT_INT(cfg.smtpd_vrfy_authenticated, 0);
	TEST_ASSERT_INT(cfg.hop_limit, 100);
	TEST_ASSERT_INT(load("smtpd_max_recipients = 100\n"), 0);	/* at */
	TEST_ASSERT_INT(load("smtpd_max_recipients = 1000\n"), 0);
	TEST_ASSERT_INT(load("smtpd_max_recipients = 99\n"), -1);	/* under */
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: smtpd_max_recipients must "
	    "be at least 100 (RFC 5321 4.5.3.1.8), not 99"));
	TEST_ASSERT_INT(load("smtpd_min_data_rate = 0\n"), 0);	/* none */
	TEST_ASSERT(bad_value("smtpd_timeout", "0", "must be at least 1 '0'"));
	TEST_ASSERT(bad_value("hop_limit", "0", "must be at least 1 '0'"));
	TEST_END();

	TEST_BEGIN("config: imapd limits and timeouts");
	TEST_ASSERT_INT(load(""), 0);
	TEST_ASSERT_INT(cfg.imap_max_sessions_per_user_ip, 10);
	TEST_ASSERT_INT(cfg.imap_idle_timeout, 1800);
	TEST_ASSERT_INT(cfg.imap_login_timeout, 60);
	TEST_ASSERT_INT(cfg.imap_command_timeout, 300);
	TEST_ASSERT_INT(cfg.imap_literal_max, 65536);
	TEST_ASSERT_INT(load("imap_login_timeout = 2s\n"
	    "imap_command_timeout = 1h\nimap_literal_max = 1M\n"
	    "imap_max_sessions_per_user_ip = 1000\n"), 0);
	TEST_ASSERT_INT(cfg.imap_login_timeout, 2);
	TEST_ASSERT_INT(cfg.imap_command_timeout, 3600);
	TEST_ASSERT_INT(cfg.imap_literal_max, 1024 * 1024);
	TEST_ASSERT_INT(cfg.imap_max_sessions_per_user_ip, 1000);
	TEST_ASSERT_INT(load("imap_idle_timeout = 30m\n"), 0);	/* at */
	TEST_ASSERT_INT(load("imap_idle_timeout = 2h\n"), 0);
	TEST_ASSERT_INT(cfg.imap_idle_timeout, 7200);
	TEST_ASSERT_INT(load("imap_idle_timeout = 29m\n"), -1);

	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: imap_idle_timeout must "
	    "be at least 30m (RFC 9051 5.4), not 1740s"));
	TEST_ASSERT_INT(load("imap_max_sessions_per_user_ip = 1001\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: "
	    "imap_max_sessions_per_user_ip must be at most 1000, not 1001"));
	TEST_ASSERT(bad_value("imap_max_sessions_per_user_ip", "0",
	    "must be at least 1 '0'"));
	TEST_ASSERT(bad_value("imap_login_timeout", "0",
	    "must be at least 1 '0'"));
	TEST_ASSERT(bad_value("imap_command_timeout", "0s",
	    "must be at least 1 '0s'"));
	TEST_ASSERT(bad_value("imap_idle_timeout", "soon", "bad duration "
	    "'soon' (seconds, or a number with s, m, h, d or w)"));
	TEST_ASSERT(bad_value("imap_literal_max", "0",
	    "must be at least 1 byte '0'"));
	TEST_ASSERT(bad_value("imap_literal_max", "3G",
	    "too large '3G' (at most 2147483648, 2G)"));
	TEST_ASSERT(bad_value("imap_max_sessions_per_user_ip", "-1",
	    "bad number '-1'"));
	TEST_END();

	TEST_BEGIN("config: remote keys");
	TEST_ASSERT_INT(load(""), 0);
	TEST_ASSERT(cfg.tls_policy == NULL && cfg.remote_credentials == NULL &&
	    cfg.remote_tls_ca_file == NULL);
	TEST_ASSERT_INT(cfg.remote_connect_timeout, 30);
	TEST_ASSERT_INT(cfg.remote_greeting_timeout, 300);
	TEST_ASSERT_INT(cfg.remote_mail_timeout, 300);
	TEST_ASSERT_INT(cfg.remote_rcpt_timeout, 300);
	TEST_ASSERT_INT(cfg.remote_data_timeout, 120);
	TEST_ASSERT_INT(cfg.remote_block_timeout, 180);
	TEST_ASSERT_INT(cfg.remote_dot_timeout, 600);
	TEST_ASSERT_INT(cfg.dns_timeout, 5);
	TEST_ASSERT_INT(load("tls_policy = tls_policy\nremote_credentials = "
	    "/etc/ms/creds\ndns_timeout = 2s\n"), 0);
	TEST_ASSERT(cfg.tls_policy != NULL && cfg.tls_policy[0] == '/');
	TEST_ASSERT_STR(cfg.remote_credentials, "/etc/ms/creds");
	TEST_ASSERT_INT(cfg.dns_timeout, 2);
	TEST_ASSERT(bad_value("remote_dot_timeout", "0", "must be at least 1 '0'"));
	TEST_END();

	TEST_BEGIN("config: log targets");
	TEST_ASSERT_INT(load("log = syslog\n"), 0);
	TEST_ASSERT_STR(cfg.log, "syslog");
	TEST_ASSERT_INT(load("log = stderr\n"), 0);
	TEST_ASSERT_STR(cfg.log, "stderr");
	TEST_ASSERT_INT(load("log = /var/log/ms.log\n"), 0);
	TEST_ASSERT_STR(cfg.log, "/var/log/ms.log");
	TEST_ASSERT_INT(load("log = ms.log\n"), 0);
	TEST_ASSERT_STR(cfg.log, in_dir("ms.log"));
	TEST_ASSERT_INT(load("log =\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":3: log: empty value"));
	TEST_END();

	TEST_BEGIN("config: a file over CONFIG_FILE_MAX is refused");
	buf_reset(&text);
	text.max = CONFIG_FILE_MAX + 100;
	while (text.len <= CONFIG_FILE_MAX)
		(void)buf_append_str(&text, "# padding padding padding\n");
	TEST_ASSERT_INT(load_n(text.data, text.len), -1);
	TEST_ASSERT_INT(errno, EFBIG);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(": file larger than "
	    "1048576 octets"));
	TEST_END();

	config_free(&cfg);
	(void)unlink(buf_cstr(&conf));
	if (rmdir(dir) < 0)
		printf("rmdir %s: %s\n", dir, strerror(errno));
	buf_free(&text);
	buf_free(&want);
	buf_free(&conf);
	buf_free(&err);
	return test_summary("test-config");
}
