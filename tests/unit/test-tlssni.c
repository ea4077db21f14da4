/* test-tlssni - the tls_sni table: parsing, paths, errors, name matching */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "tlssni.h"
#include "test.h"

static char dir[] = "/tmp/test-tlssni.XXXXXX";
static struct buf path = BUF_INIT(512);
static struct buf err = BUF_INIT(4096);
static struct tlssni_table t;

/* load - write text as the table and load it */
static int
load(const char *text, size_t len)
{
	int fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -2;
	n = write(fd, text, len);
	(void)close(fd);
	if (n != (ssize_t)len)
		return -2;
	tlssni_free(&t);
	buf_reset(&err);
	return tlssni_load(buf_cstr(&path), &t, &err);
}

#define LOAD(s)	load((s), sizeof(s) - 1)

/* errmsg - the expected error: the table's name, then msg */
static const char *
errmsg(const char *msg)
{
	static struct buf m = BUF_INIT(4096);

	buf_reset(&m);
	(void)buf_printf(&m, "%s%s", buf_cstr(&path), msg);
	return buf_cstr(&m);
}

/* in_dir - dir/name, as a relative path in the table becomes */
static const char *
in_dir(const char *name)
{
	static struct buf m = BUF_INIT(4096);

	buf_reset(&m);
	(void)buf_printf(&m, "%s/%s", dir, name);
	return buf_cstr(&m);
}

/* name_of - the NAME of the entry a server name picks, or "-" */
static const char *
name_of(const char *sni)
{
	int i = tlssni_match(&t, sni);

	return i < 0 ? "-" : t.v[i].name;
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	(void)buf_printf(&path, "%s/sni", dir);

	TEST_BEGIN("entries, comments, blanks, CRLF, relative paths");
	TEST_ASSERT_INT(LOAD("# certificates by name\n"
	    "\n"
	    "Mail.Alpha.TEST  alpha/cert.pem alpha/key.pem\r\n"
	    "  .beta.test\t/etc/b.pem   /etc/b.key   # trailing words\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":4: expected 'NAME CERT KEY'"));
	TEST_ASSERT_INT(LOAD("# certificates by name\n"
	    "\n"
	    "Mail.Alpha.TEST  alpha/cert.pem alpha/key.pem\r\n"
	    "  .beta.test\t/etc/b.pem   /etc/b.key\n"
	    "   # indented comment\n"
	    "mx.beta.test c k"), 0);
	TEST_ASSERT_INT(t.n, 3);
	if (t.n == 3) {
		TEST_ASSERT_STR(t.v[0].name, "mail.alpha.test");
		TEST_ASSERT_STR(t.v[0].cert, in_dir("alpha/cert.pem"));
		TEST_ASSERT_STR(t.v[0].key, in_dir("alpha/key.pem"));
		TEST_ASSERT_INT(t.v[0].line, 3);
		TEST_ASSERT_STR(t.v[1].name, ".beta.test");
		TEST_ASSERT_STR(t.v[1].cert, "/etc/b.pem");
		TEST_ASSERT_STR(t.v[1].key, "/etc/b.key");
		TEST_ASSERT_INT(t.v[1].line, 4);
		TEST_ASSERT_STR(t.v[2].key, in_dir("k"));
		TEST_ASSERT_INT(t.v[2].line, 6);
	}
	TEST_ASSERT_INT(LOAD(""), 0);
	TEST_ASSERT_INT(t.n, 0);
	TEST_END();

	TEST_BEGIN("matching: exact first, then the longest suffix");
	TEST_ASSERT_INT(LOAD("mail.alpha.test a.pem a.key\n"
	    ".beta.test b.pem b.key\n"
	    ".mx.beta.test mx.pem mx.key\n"
	    "mx.beta.test exact.pem exact.key\n"), 0);
	TEST_ASSERT_STR(name_of("mail.alpha.test"), "mail.alpha.test");
	TEST_ASSERT_STR(name_of("MAIL.ALPHA.TEST"), "mail.alpha.test");
	TEST_ASSERT_STR(name_of("mail.alpha.test."), "mail.alpha.test");
	TEST_ASSERT_STR(name_of("x.mail.alpha.test"), "-");
	TEST_ASSERT_STR(name_of("alpha.test"), "-");
	TEST_ASSERT_STR(name_of("imap.beta.test"), ".beta.test");
	TEST_ASSERT_STR(name_of("a.b.beta.test"), ".beta.test");
	TEST_ASSERT_STR(name_of("beta.test"), "-");
	TEST_ASSERT_STR(name_of("xbeta.test"), "-");
	TEST_ASSERT_STR(name_of("mx.beta.test"), "mx.beta.test");
	TEST_ASSERT_STR(name_of("in.mx.beta.test"), ".mx.beta.test");
	TEST_ASSERT_STR(name_of("unknown.example"), "-");
	TEST_ASSERT_STR(name_of(""), "-");
	TEST_ASSERT_STR(name_of("."), "-");
	TEST_ASSERT(tlssni_match(&t, NULL) == -1);
	{
		char longname[600];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		memcpy(longname + sizeof(longname) - 11, ".beta.test", 10);
		TEST_ASSERT_STR(name_of(longname), "-");
	}
	TEST_END();

	TEST_BEGIN("errors name the line");
	TEST_ASSERT_INT(LOAD("a.test c k\nfoo_bar.test c k\n"), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":2: bad name 'foo_bar.test'"));
	TEST_ASSERT_INT(LOAD("*.a.test c k\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":1: bad name '*.a.test'"));
	TEST_ASSERT_INT(LOAD("a.test. c k\n"), -1);
	TEST_ASSERT_INT(LOAD("..a.test c k\n"), -1);
	TEST_ASSERT_INT(LOAD(". c k\n"), -1);
	TEST_ASSERT_INT(LOAD("1.2.3.4 c k\n"), -1);
	TEST_ASSERT_INT(LOAD("a.test c\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":1: expected 'NAME CERT KEY'"));
	TEST_ASSERT_INT(LOAD("# one\nA.test c k\n\na.TEST d e\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":4: name 'a.test' given twice (first on line 2)"));
	TEST_ASSERT_INT(LOAD("a.test c\0 k\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":1: NUL octet in the line"));
	TEST_ASSERT_INT(LOAD("a.test c\x01 k\n"), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":1: control octet in the line"));
	TEST_ASSERT_INT(t.n, 0);	/* a failed load leaves it empty */
	TEST_END();

	TEST_BEGIN("limits: line, file, missing table");
	{
		static char big[TLSSNI_FILE_MAX + 2];

		memset(big, '#', TLSSNI_LINE_MAX + 1);
		big[TLSSNI_LINE_MAX + 1] = '\n';
		TEST_ASSERT_INT(load(big, TLSSNI_LINE_MAX + 2), -1);
		TEST_ASSERT_STR(buf_cstr(&err),
		    errmsg(":1: line longer than 4096 octets"));
		memset(big, '\n', sizeof(big));
		TEST_ASSERT_INT(load(big, sizeof(big)), -1);
		TEST_ASSERT_INT(errno, EFBIG);
	}
	(void)unlink(buf_cstr(&path));
	buf_reset(&err);
	TEST_ASSERT_INT(tlssni_load(buf_cstr(&path), &t, &err), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT(strstr(buf_cstr(&err), ": cannot open: ") != NULL);
	TEST_END();

	tlssni_free(&t);
	tlssni_free(&t);
	(void)unlink(buf_cstr(&path));
	(void)rmdir(dir);
	buf_free(&path);
	buf_free(&err);
	return test_summary("test-tlssni");
}
