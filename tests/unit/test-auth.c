/* test-auth - password hashes and checks against the users table */
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "test.h"
#include "userdb.h"

static char dir[] = "/tmp/test-auth.XXXXXX";
static struct config cfg;

/* path - dir/name in one of two static buffers */
static const char *
path(const char *name)
{
	static char p[2][512];
	static int which;

	which = !which;
	(void)snprintf(p[which], sizeof(p[which]), "%s/%s", dir, name);
	return p[which];
}

/* write_file - make dir/name hold text */
static int
write_file(const char *name, const char *text)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	(void)close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* read_file - the whole file dir/name into b */
static int
read_file(const char *name, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path(name), O_RDONLY);

	if (fd < 0)
		return -1;
	buf_reset(b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(b, chunk, (size_t)n) < 0)
			break;
	(void)close(fd);
	return n == 0 ? 0 : -1;
}

/* sha512 - a "$6$" hash of pw */
static const char *
sha512(const char *pw)
{
	static struct crypt_data d;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];

	if (crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return "";
	return crypt_rn(pw, salt, &d, sizeof(d));
}

/* now_ms - a monotonic clock in milliseconds */
static double
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
test_hashes(void)
{
	struct buf h = BUF_INIT(1024);
	const char *why;

	TEST_BEGIN("auth: new hashes are yescrypt with a random salt");
	TEST_ASSERT_INT(auth_hash_password("s3cret", 6, &h, &why), 0);
	TEST_ASSERT(strncmp(buf_cstr(&h), "$y$", 3) == 0);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "s3cret", 6), 1);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "s3cre", 5), 0);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "s3cret!", 7), 0);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "S3cret", 6), 0);
	{
		struct buf h2 = BUF_INIT(1024);

		TEST_ASSERT_INT(auth_hash_password("s3cret", 6, &h2, &why), 0);
		TEST_ASSERT(strcmp(buf_cstr(&h), buf_cstr(&h2)) != 0);
		buf_free(&h2);
	}
	TEST_END();

	TEST_BEGIN("auth: SHA-512 accepted; *, DES, garbage never match");
	TEST_ASSERT_INT(auth_check_hash(sha512("pw"), "pw", 2), 1);
	TEST_ASSERT_INT(auth_check_hash(sha512("pw"), "pW", 2), 0);
	TEST_ASSERT_INT(auth_check_hash("*", "*", 1), 0);
	TEST_ASSERT_INT(auth_check_hash("", "", 0), 0);
	TEST_ASSERT_INT(auth_check_hash(NULL, "x", 1), 0);
	TEST_ASSERT_INT(auth_check_hash("abJnggxhB/yWI", "test", 4), 0);
	TEST_ASSERT_INT(auth_check_hash("$y$garbage", "x", 1), 0);
	TEST_ASSERT_INT(auth_check_hash("!$6$x$y", "x", 1), 0);
	TEST_END();

	TEST_BEGIN("auth: NUL bytes and over-long passwords never match");
	TEST_ASSERT_INT(auth_hash_password("a\0b", 3, &h, &why), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(auth_hash_password("", 0, &h, &why), -1);
	TEST_ASSERT_INT(auth_hash_password("ab", 2, &h, &why), 0);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "ab\0c", 4), 0);
	TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), "ab", 2), 1);
	{
		char big[AUTH_PASSWORD_MAX + 1];

		memset(big, 'a', sizeof(big));
		TEST_ASSERT_INT(auth_hash_password(big, sizeof(big), &h, &why),
		    -1);
		TEST_ASSERT_INT(auth_hash_password(big, AUTH_PASSWORD_MAX, &h,
		    &why), 0);
		TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), big,
		    AUTH_PASSWORD_MAX), 1);
		TEST_ASSERT_INT(auth_check_hash(buf_cstr(&h), big,
		    sizeof(big)), 0);
	}
	TEST_END();
	buf_free(&h);
}

static void
test_password(void)
{
	struct buf h = BUF_INIT(1024), text = BUF_INIT(4096);
	struct buf err = BUF_INIT(1024);
	struct auth_reply ar;
	struct stat st;
	const char *why;
	double t0, known, unknown;
	int i;

	TEST_BEGIN("auth: auth_password against a users table");
	TEST_ASSERT_INT(auth_hash_password("right", 5, &h, &why), 0);
	(void)buf_printf(&text, "fred@truc.test %s quota=1M\n"
	    "old@truc.test %s\nlocked@truc.test *\n", buf_cstr(&h),
	    sha512("older"));
	TEST_ASSERT_INT(write_file("users", buf_cstr(&text)), 0);
	TEST_ASSERT_INT(write_file("aliases", "al@truc.test fred@truc.test\n"),
	    0);
	TEST_ASSERT_INT(write_file("mailstack.conf", "domains = truc.test\n"
	    "state_dir = state\nmail_dir = mail\nusers = users\n"
	    "aliases = aliases\nlog = stderr\n"), 0);
	TEST_ASSERT_INT(config_load(path("mailstack.conf"), &cfg, &err), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "fred@truc.test", "right", 5,
	    "127.0.0.1", &why), 1);
	TEST_ASSERT_INT(auth_password(&cfg, "Fred@Truc.Test", "right", 5,
	    "127.0.0.1", &why), 1);
	TEST_ASSERT_INT(auth_password(&cfg, "fred@truc.test", "wrong", 5,
	    "127.0.0.1", &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "old@truc.test", "older", 5,
	    "127.0.0.1", &why), 1);
	TEST_ASSERT_INT(auth_password(&cfg, "locked@truc.test", "*", 1,
	    "127.0.0.1", &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "nobody@truc.test", "right", 5,
	    "127.0.0.1", &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "al@truc.test", "right", 5,
	    "127.0.0.1", &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "fred+x@truc.test", "right", 5,
	    "127.0.0.1", &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "fred", "right", 5, "127.0.0.1",
	    &why), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "", "", 0, "127.0.0.1", &why), 0);
	TEST_END();

	TEST_BEGIN("auth: the hashes are in passwd.cdb only, without authd");
	TEST_ASSERT_INT(auth_login(&cfg, "imapd", "Fred@Truc.Test", "right", 5,
	    "192.0.2.1", &ar, &why), 1);
	TEST_ASSERT_STR(ar.user, "fred@truc.test");
	TEST_ASSERT_STR(ar.ticket, "");		/* tickets need authd */
	TEST_ASSERT_INT(auth_redeem(&cfg, "imapd",
	    "0123456789abcdef0123456789abcdef", &ar, &why), 0);
	TEST_ASSERT_INT(auth_login(&cfg, "imapd", "fred@truc.test", "wrong", 5,
	    "192.0.2.1", &ar, &why), 0);
	TEST_ASSERT_INT(auth_login(&cfg, "BAD SERVICE", "fred@truc.test",
	    "right", 5, "192.0.2.1", &ar, &why), -1);
	TEST_ASSERT_INT(stat(path("state/auth/passwd.cdb"), &st), 0);
	TEST_ASSERT_INT(st.st_mode & 07777, 0600);
	userdb_close(userdb_open(&cfg, &why));	/* compiles users.cdb */
	TEST_ASSERT_INT(read_file("state/tables/users.cdb", &text), 0);
	TEST_ASSERT(memmem(text.data, text.len, "$y$", 3) == NULL);
	TEST_ASSERT(memmem(text.data, text.len, "$6$", 3) == NULL);
	TEST_ASSERT(memmem(text.data, text.len, "quota=1M", 8) != NULL);
	TEST_END();

	TEST_BEGIN("auth: an unknown user costs a hash like a known one");
	known = unknown = 1e9;
	for (i = 0; i < 3; i++) {
		double d;

		t0 = now_ms();
		(void)auth_password(&cfg, "fred@truc.test", "wrong", 5, NULL,
		    &why);
		d = now_ms() - t0;
		known = d < known ? d : known;
		t0 = now_ms();
		(void)auth_password(&cfg, "nobody@truc.test", "wrong", 5,
		    NULL, &why);
		d = now_ms() - t0;
		unknown = d < unknown ? d : unknown;
	}
	printf("  known user %.1f ms, unknown user %.1f ms\n", known, unknown);
	TEST_ASSERT(unknown > known * 0.5);
	TEST_ASSERT(unknown < known * 2.0);
	TEST_END();

	TEST_BEGIN("auth: a table that cannot be read is a temporary failure");
	TEST_ASSERT_INT(unlink(path("state/auth/passwd.cdb")), 0);
	TEST_ASSERT_INT(mkdir(path("state/auth/passwd.cdb"), 0755), 0);
	TEST_ASSERT_INT(chmod(path("users"), 0), 0);
	if (geteuid() != 0) {
		TEST_ASSERT_INT(auth_password(&cfg, "fred@truc.test", "right",
		    5, NULL, &why), -1);
	}
	TEST_ASSERT_INT(unlink(path("users")), 0);
	TEST_ASSERT_INT(auth_password(&cfg, "fred@truc.test", "right", 5,
	    NULL, &why), -1);
	TEST_ASSERT_INT(rmdir(path("state/auth/passwd.cdb")), 0);
	TEST_END();

	config_free(&cfg);
	buf_free(&h);
	buf_free(&text);
	buf_free(&err);
}

int
main(void)
{
	int r;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_hashes();
	test_password();
	r = test_summary("test-auth");
	(void)unlink(path("aliases"));
	(void)unlink(path("mailstack.conf"));
	(void)unlink(path("state/tables/aliases.cdb"));
	(void)unlink(path("state/tables/users.cdb"));
	(void)unlink(path("state/auth/passwd.cdb"));
	(void)rmdir(path("state/tables"));
	(void)rmdir(path("state/auth"));
	(void)rmdir(path("state"));
	if (rmdir(dir) < 0)
		printf("rmdir %s: %s\n", dir, strerror(errno));
	return r;
}
