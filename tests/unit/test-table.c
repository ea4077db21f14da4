/* test-table - text to cdb compile, lookups, folding, errors, atomic replace */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "table.h"
#include "test.h"

static char dir[] = "/tmp/test-table.XXXXXX";
static struct buf txt = BUF_INIT(512), cdb = BUF_INIT(512);
static struct buf err = BUF_INIT(4096);

/* write_file - make path hold exactly len bytes of data */
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

/* compile - write text to the text file and compile it */
static int
compile(const char *text, int flags)
{
	if (write_file(buf_cstr(&txt), text, strlen(text)) < 0)
		return -2;
	buf_reset(&err);
	return table_compile(buf_cstr(&txt), buf_cstr(&cdb), flags, &err);
}

/* compile_n - compile len bytes of text (which may hold NULs) */
static int
compile_n(const char *text, size_t len, int flags)
{
	if (write_file(buf_cstr(&txt), text, len) < 0)
		return -2;
	buf_reset(&err);
	return table_compile(buf_cstr(&txt), buf_cstr(&cdb), flags, &err);
}

/* errmsg - the expected error: the text file's name, then msg */
static const char *
errmsg(const char *msg)
{
	static struct buf m = BUF_INIT(4096);

	buf_reset(&m);
	(void)buf_printf(&m, "%s%s", buf_cstr(&txt), msg);
	return buf_cstr(&m);
}

/* get - the value of key as a C string, "(none)" or "(error)" */
static const char *
get(struct table *t, const char *key)
{
	static struct buf v = BUF_INIT(8192);
	int r = table_lookup(t, key, strlen(key), &v);

	if (r < 0)
		return "(error)";
	if (r == 0)
		return "(none)";
	return buf_cstr(&v);
}

/* tmp_files - how many entries of dir have ".tmp." in their name */
static int
tmp_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp.") != NULL)
			n++;
	(void)closedir(d);
	return n;
}

int
main(void)
{
	struct table *t, *t2;
	const char *error = NULL;
	struct buf text = BUF_INIT(8 << 20), small = BUF_INIT(3);
	struct stat st;
	char key[64];
	int i, ok;

	if (mkdtemp(dir) == NULL) {
		printf("mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	(void)buf_printf(&txt, "%s/aliases", dir);
	(void)buf_printf(&cdb, "%s/aliases.cdb", dir);

	TEST_BEGIN("table: compile and look up");
	TEST_ASSERT_INT(compile(
	    "# comment\n"
	    "\n"
	    "   # indented comment\n"
	    "postmaster@a.test alice@a.test\n"
	    "team@a.test\talice@a.test, bob@b.test  \n"
	    "  empty@a.test   \n"
	    "crlf@a.test x\r\n"
	    "Case@a.test y\n"
	    "last@a.test no newline", 0), 0);
	TEST_ASSERT_STR(buf_cstr(&err), "");
	t = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t != NULL);
	TEST_ASSERT_STR(get(t, "postmaster@a.test"), "alice@a.test");
	TEST_ASSERT_STR(get(t, "team@a.test"), "alice@a.test, bob@b.test");
	TEST_ASSERT_STR(get(t, "empty@a.test"), "");
	TEST_ASSERT_STR(get(t, "crlf@a.test"), "x");
	TEST_ASSERT_STR(get(t, "last@a.test"), "no newline");
	TEST_ASSERT_STR(get(t, "Case@a.test"), "y");
	TEST_ASSERT_STR(get(t, "case@a.test"), "(none)");
	TEST_ASSERT_STR(get(t, "nobody@a.test"), "(none)");
	TEST_ASSERT_STR(get(t, "#"), "(none)");
	TEST_ASSERT_STR(get(t, ""), "(none)");
	TEST_ASSERT_INT(table_lookup(t, "\0flags", 6, &small), 0);
	TEST_ASSERT_INT(table_lookup(t, "crlf@a.test\0x", 13, &small), 0);
	TEST_ASSERT_INT(table_lookup(t, "team@a.test", 11, &small), -1);
	TEST_ASSERT_INT(errno, ENOBUFS);
	TEST_ASSERT_INT(tmp_files(), 0);
	table_close(t);
	TEST_END();

	TEST_BEGIN("table: TABLE_FOLD_KEYS folds keys at compile and lookup");
	TEST_ASSERT_INT(compile("Alice@Example.TEST v1\nbob@x.test v2\n",
	    TABLE_FOLD_KEYS), 0);
	t = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t != NULL);
	TEST_ASSERT_STR(get(t, "alice@example.test"), "v1");
	TEST_ASSERT_STR(get(t, "ALICE@EXAMPLE.TEST"), "v1");
	TEST_ASSERT_STR(get(t, "BOB@X.test"), "v2");
	TEST_ASSERT_STR(get(t, "\xc3\x89@x.test"), "(none)");
	table_close(t);
	TEST_ASSERT_INT(compile("a v\nA w\n", TABLE_FOLD_KEYS), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":2: duplicate key 'a' (first on line 1)"));
	TEST_END();

	TEST_BEGIN("table: content errors name the file and line");
	TEST_ASSERT_INT(compile("a 1\nb 2\n\n# c\na 3\n", 0), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":5: duplicate key 'a' (first on line 1)"));
	TEST_ASSERT_INT(compile_n("a 1\nb x\0y\n", 10, 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":2: NUL byte in line"));
	TEST_ASSERT_INT(compile("a 1\nb\x1b 2\n", 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":2: control character in key"));
	TEST_ASSERT_INT(compile("a 1\r\r\n", 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":1: control character in value"));
	TEST_ASSERT_INT(compile("a x\ry\n", 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":1: control character in value"));
	TEST_ASSERT_INT(compile("ok 1\n\xc0\xaf@x 2\n", 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(":2: key is not valid UTF-8"));
	TEST_ASSERT_INT(compile("\xc3\xa9@x 2\n", 0), 0);	/* UTF-8 */
	TEST_ASSERT_INT(tmp_files(), 0);
	TEST_END();

	TEST_BEGIN("table: line length at, one under and one over the cap");
	for (i = 0; i < 3; i++) {
		size_t len = TABLE_LINE_MAX - 1 + (size_t)i;

		buf_reset(&text);
		(void)buf_append_str(&text, "first 1\nk ");
		while (text.len < 8 + len)
			(void)buf_append_char(&text, 'v');
		(void)buf_append_str(&text, i == 2 ? "\nafter 2\n" : "\n");
		ok = compile(buf_cstr(&text), 0);
		if (i < 2)
			TEST_ASSERT_INT(ok, 0);
		else {
			TEST_ASSERT_INT(ok, -1);
			TEST_ASSERT_STR(buf_cstr(&err),
			    errmsg(":2: line longer than 4096 octets"));
		}
	}
	/* an over-long last line without LF, and a short file after it */
	buf_truncate(&text, text.len - strlen("\nafter 2\n"));
	TEST_ASSERT_INT(compile(buf_cstr(&text), 0), -1);
	TEST_ASSERT_STR(buf_cstr(&err),
	    errmsg(":2: line longer than 4096 octets"));
	/* the CR of a CRLF counts: it is part of the line */
	buf_truncate(&text, text.len - 1);
	(void)buf_append_str(&text, "\r\n");
	TEST_ASSERT_INT(compile(buf_cstr(&text), 0), -1);
	buf_truncate(&text, text.len - 3);
	(void)buf_append_str(&text, "\r\n");
	TEST_ASSERT_INT(compile(buf_cstr(&text), 0), 0);
	TEST_ASSERT_INT(tmp_files(), 0);
	TEST_END();

	TEST_BEGIN("table: system errors, and nothing left behind");
	buf_reset(&err);
	TEST_ASSERT_INT(table_compile("/nonexistent/users", buf_cstr(&cdb), 0,
	    &err), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_STR(buf_cstr(&err),
	    "/nonexistent/users: cannot open: No such file or directory");
	TEST_ASSERT_INT(table_compile(buf_cstr(&txt), "/nonexistent/x.cdb", 0,
	    &err), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT(table_open("/nonexistent/x.cdb", &error) == NULL);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_STR(error, "cannot open the table");
	TEST_ASSERT_INT(write_file(buf_cstr(&txt), "not a cdb\n", 10), 0);
	TEST_ASSERT(table_open(buf_cstr(&txt), &error) == NULL);
	TEST_ASSERT_STR(error, "not a cdb file");
	TEST_ASSERT_INT(tmp_files(), 0);
	TEST_END();

	TEST_BEGIN("table: the cdb keeps the text file's permissions");
	TEST_ASSERT_INT(compile("u $y$hash\n", 0), 0);
	TEST_ASSERT_INT(chmod(buf_cstr(&txt), 0640), 0);
	TEST_ASSERT_INT(table_compile(buf_cstr(&txt), buf_cstr(&cdb), 0,
	    &err), 0);
	TEST_ASSERT_INT(stat(buf_cstr(&cdb), &st), 0);
	TEST_ASSERT_INT(st.st_mode & 0777, 0640);
	TEST_ASSERT_INT(chmod(buf_cstr(&txt), 0644), 0);
	TEST_END();

	TEST_BEGIN("table: atomic replace and table_refresh");
	TEST_ASSERT_INT(compile("alice@a.test old\ngone@a.test x\n", 0), 0);
	t = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t != NULL);
	TEST_ASSERT_STR(get(t, "alice@a.test"), "old");
	TEST_ASSERT_INT(table_refresh(t), 0);	/* unchanged */
	TEST_ASSERT_INT(compile("alice@a.test new\nbob@a.test b\n", 0), 0);
	/* the open reader still reads the old table, whole */
	TEST_ASSERT_STR(get(t, "alice@a.test"), "old");
	TEST_ASSERT_STR(get(t, "gone@a.test"), "x");
	TEST_ASSERT_STR(get(t, "bob@a.test"), "(none)");
	/* a new reader sees the new one */
	t2 = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t2 != NULL);
	TEST_ASSERT_STR(get(t2, "alice@a.test"), "new");
	TEST_ASSERT_INT(table_refresh(t), 1);
	TEST_ASSERT_STR(get(t, "alice@a.test"), "new");
	TEST_ASSERT_STR(get(t, "gone@a.test"), "(none)");
	TEST_ASSERT_STR(get(t, "bob@a.test"), "b");
	TEST_ASSERT_INT(table_refresh(t), 0);
	/* a failed compile leaves the table as it was */
	TEST_ASSERT_INT(compile("alice@a.test broken\nalice@a.test again\n",
	    0), -1);
	TEST_ASSERT_INT(table_refresh(t), 0);
	TEST_ASSERT_STR(get(t, "alice@a.test"), "new");
	TEST_ASSERT_INT(tmp_files(), 0);
	/* the file vanishes: refresh fails, the old table keeps working */
	TEST_ASSERT_INT(unlink(buf_cstr(&cdb)), 0);
	TEST_ASSERT_INT(table_refresh(t), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_STR(get(t, "alice@a.test"), "new");
	table_close(t);
	table_close(t2);
	table_close(NULL);
	TEST_END();

	TEST_BEGIN("table: a stale temporary file of our pid is replaced");
	{
		struct buf stale = BUF_INIT(512);

		(void)buf_printf(&stale, "%s.tmp.%ld", buf_cstr(&cdb),
		    (long)getpid());
		TEST_ASSERT_INT(write_file(buf_cstr(&stale), "junk", 4), 0);
		TEST_ASSERT_INT(compile("k v\n", 0), 0);
		TEST_ASSERT_INT(tmp_files(), 0);
		buf_free(&stale);
	}
	TEST_END();

	TEST_BEGIN("table: the samples etc/users and etc/aliases compile");
	TEST_ASSERT_INT(table_compile("etc/users", buf_cstr(&cdb),
	    TABLE_FOLD_KEYS, &err), 0);
	TEST_ASSERT_STR(buf_cstr(&err), "");
	TEST_ASSERT_INT(table_compile("etc/aliases", buf_cstr(&cdb),
	    TABLE_FOLD_KEYS, &err), 0);
	TEST_ASSERT_STR(buf_cstr(&err), "");
	t = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t != NULL);
	if (t != NULL)
		TEST_ASSERT_STR(get(t, "postmaster@example.test"), "(none)");
	table_close(t);
	TEST_END();

	TEST_BEGIN("table: 20000 entries compile and all look up");
	buf_reset(&text);
	for (i = 0; i < 20000; i++)
		(void)buf_printf(&text, "user%d@Big.Test value-%d\n", i, i);
	TEST_ASSERT_INT(compile(buf_cstr(&text), TABLE_FOLD_KEYS), 0);
	t = table_open(buf_cstr(&cdb), &error);
	TEST_ASSERT(t != NULL);
	ok = 1;
	for (i = 0; t != NULL && i < 20000; i++) {
		char want[32];

		(void)snprintf(key, sizeof(key), "USER%d@big.test", i);
		(void)snprintf(want, sizeof(want), "value-%d", i);
		if (strcmp(get(t, key), want) != 0)
			ok = 0;
	}
	TEST_ASSERT(ok);
	TEST_ASSERT_STR(get(t, "user20000@big.test"), "(none)");
	table_close(t);
	(void)buf_printf(&text, "user19999@big.test dup\n");
	TEST_ASSERT_INT(compile(buf_cstr(&text), TABLE_FOLD_KEYS), -1);
	TEST_ASSERT_STR(buf_cstr(&err), errmsg(
	    ":20001: duplicate key 'user19999@big.test' "
	    "(first on line 20000)"));
	TEST_END();

	(void)unlink(buf_cstr(&txt));
	(void)unlink(buf_cstr(&cdb));
	if (rmdir(dir) < 0)
		printf("rmdir %s: %s\n", dir, strerror(errno));
	buf_free(&text);
	buf_free(&small);
	buf_free(&txt);
	buf_free(&cdb);
	buf_free(&err);
	return test_summary("test-table");
}
