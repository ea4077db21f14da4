/* test-quota - Maildir++ maildirsize: sizes, parsing, recalculation */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "quota.h"
#include "test.h"

static char dir[] = "/tmp/test-quota.XXXXXX";

/* parse - quota_parse of a C string; the limit in *limit */
static int
parse(const char *text, uint64_t *limit, struct quota_usage *u)
{
	return quota_parse(text, strlen(text), limit, u);
}

/* size_of - quota_parse_size, or -1 */
static long long
size_of(const char *s)
{
	uint64_t v;

	return quota_parse_size(s, &v) < 0 ? -1 : (long long)v;
}

/* deliver_n - one message of n octets into md (folder or top) */
static int
deliver_n(struct maildir *md, size_t n)
{
	struct maildir_msg m;
	const char *why;
	char buf[1000];

	memset(buf, 'x', sizeof(buf));
	if (maildir_msg_begin(md, &m, &why) < 0)
		return -1;
	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		if (maildir_msg_write(&m, buf, k) < 0)
			return -1;
		n -= k;
	}
	return maildir_msg_commit(&m, 0, NULL, NULL, &why);
}

/* read_text - the maildirsize file of md_fd, into out */
static void
read_text(int md_fd, char *out, size_t size)
{
	int fd = openat(md_fd, QUOTA_FILE, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, out, size - 1) : -1;

	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		(void)close(fd);
}

/* rm_one - nftw callback */
static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void
test_sizes(void)
{
	TEST_BEGIN("quota: sizes with k, M, G, T suffixes");
	TEST_ASSERT_INT(size_of("0"), 0);
	TEST_ASSERT_INT(size_of("12345"), 12345);
	TEST_ASSERT_INT(size_of("10k"), 10240);
	TEST_ASSERT_INT(size_of("10K"), 10240);
	TEST_ASSERT_INT(size_of("2M"), 2 * 1024 * 1024);
	TEST_ASSERT_INT(size_of("1G"), 1024LL * 1024 * 1024);
	TEST_ASSERT_INT(size_of("3t"), 3LL * 1024 * 1024 * 1024 * 1024);
	TEST_ASSERT_INT(size_of(""), -1);
	TEST_ASSERT_INT(size_of("k"), -1);
	TEST_ASSERT_INT(size_of("-1"), -1);
	TEST_ASSERT_INT(size_of("1.5M"), -1);
	TEST_ASSERT_INT(size_of("10X"), -1);
	TEST_ASSERT_INT(size_of(" 10"), -1);
	TEST_ASSERT_INT(size_of("99999999999999999999"), -1);
	TEST_ASSERT_INT(size_of("2000000T"), -1);
	TEST_END();
}

static void
test_parse(void)
{
	struct quota_usage u;
	uint64_t limit;

	TEST_BEGIN("quota: maildirsize parses and sums");
	TEST_ASSERT_INT(parse("1000S\n10 1\n-5 -1\n300 2\n", &limit, &u), 0);
	TEST_ASSERT_INT(limit, 1000);
	TEST_ASSERT_INT(u.bytes, 305);
	TEST_ASSERT_INT(u.count, 2);
	TEST_ASSERT_INT(parse("1000S,10C\n", &limit, &u), 0);
	TEST_ASSERT_INT(limit, 1000);
	TEST_ASSERT_INT(u.bytes, 0);
	TEST_ASSERT_INT(parse("10C,2048S\n1 1\n", &limit, &u), 0);
	TEST_ASSERT_INT(limit, 2048);
	TEST_ASSERT_INT(parse("0S\n", &limit, &u), 0);
	TEST_END();

	TEST_BEGIN("quota: malformed maildirsize is refused");
	TEST_ASSERT_INT(parse("", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\n10 1", &limit, &u), -1);
	TEST_ASSERT_INT(parse("S\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("10C\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1S,2S\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S,\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\nabc\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\n1\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\n1  1\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\n--1 1\n", &limit, &u), -1);
	TEST_ASSERT_INT(parse("1000S\n4611686018427387904 1\n", &limit, &u),
	    0);
	TEST_ASSERT_INT(parse("1000S\n4611686018427387905 1\n", &limit, &u),
	    -1);
	TEST_ASSERT_INT(parse("1000S\n4611686018427387904 1\n"
	    "4611686018427387904 1\n", &limit, &u), -1);	/* overflow */
	TEST_END();

	TEST_BEGIN("quota: at the limit fits, one more octet does not");
	u.bytes = 900;
	u.count = 1;
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 100), 0);
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 101), 1);
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 0), 0);
	TEST_ASSERT_INT(quota_exceeded(0, &u, 1000000), 0);
	u.bytes = 2000;
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 0), 1);
	u.bytes = -50;	/* drift below zero counts as empty */
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 1000), 0);
	TEST_ASSERT_INT(quota_exceeded(1000, &u, 1001), 1);
	TEST_END();
}

static void
test_files(void)
{
	struct quota_usage u;
	struct maildir md, fmd;
	const char *why;
	char text[8192];
	int top, fd, i;

	top = open(dir, O_RDONLY | O_DIRECTORY);
	TEST_BEGIN("quota: recalculation counts new/, cur/ and folders");
	TEST_ASSERT_INT(maildir_create(top, "md", 0700, &why), 0);
	TEST_ASSERT_INT(maildir_open(top, "md", &md, &why), 0);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".Sent", 0700, &why), 0);
	TEST_ASSERT_INT(maildir_open(md.fd, ".Sent", &fmd, &why), 0);
	TEST_ASSERT_INT(deliver_n(&md, 100), 0);
	TEST_ASSERT_INT(deliver_n(&md, 250), 0);
	TEST_ASSERT_INT(deliver_n(&fmd, 1000), 0);
	/* a file without ,S= is counted by its size */
	fd = openat(md.cur_fd, "1.foreign", O_WRONLY | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0 && write(fd, "12345", 5) == 5);
	(void)close(fd);
	/* tmp/ is not counted */
	fd = openat(md.tmp_fd, "2.partial", O_WRONLY | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0 && write(fd, "123", 3) == 3);
	(void)close(fd);
	TEST_ASSERT_INT(quota_get(md.fd, 10000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	TEST_ASSERT_INT(u.count, 4);
	read_text(md.fd, text, sizeof(text));
	TEST_ASSERT_STR(text, "10000S\n1355 4\n");
	TEST_END();

	TEST_BEGIN("quota: updates are appended and summed");
	TEST_ASSERT_INT(quota_update(md.fd, 500, 1, &why), 0);
	TEST_ASSERT_INT(quota_update(md.fd, -100, -1, &why), 0);
	TEST_ASSERT_INT(quota_get(md.fd, 10000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1755);
	TEST_ASSERT_INT(u.count, 4);
	read_text(md.fd, text, sizeof(text));
	TEST_ASSERT_STR(text, "10000S\n1355 4\n500 1\n-100 -1\n");
	TEST_END();

	TEST_BEGIN("quota: another limit, a big or broken file: recalculated");
	TEST_ASSERT_INT(quota_get(md.fd, 20000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	read_text(md.fd, text, sizeof(text));
	TEST_ASSERT_STR(text, "20000S\n1355 4\n");
	for (i = 0; i < 1300; i++)	/* 4 octets a line */
		TEST_ASSERT_INT(quota_update(md.fd, 1, 0, &why), 0);
	TEST_ASSERT_INT(quota_get(md.fd, 20000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	fd = openat(md.fd, QUOTA_FILE, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0 && write(fd, "garbage", 7) == 7);
	(void)close(fd);
	TEST_ASSERT_INT(quota_get(md.fd, 20000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	TEST_END();

	TEST_BEGIN("quota: over quota and stale: recalculated; else trusted");
	fd = openat(md.fd, QUOTA_FILE, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0 && write(fd, "2000S\n5000 9\n", 13) == 13);
	(void)close(fd);
	TEST_ASSERT_INT(quota_get(md.fd, 2000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 5000);	/* fresh: trusted */
	{
		struct timespec ts[2];

		(void)clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= QUOTA_STALE_SECS + 60;
		ts[1] = ts[0];
		TEST_ASSERT_INT(utimensat(md.fd, QUOTA_FILE, ts, 0), 0);
	}
	TEST_ASSERT_INT(quota_get(md.fd, 2000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	TEST_END();

	TEST_BEGIN("quota: a symlink as maildirsize is replaced, not followed");
	TEST_ASSERT_INT(unlinkat(md.fd, QUOTA_FILE, 0), 0);
	fd = openat(top, "victim", O_WRONLY | O_CREAT, 0600);
	TEST_ASSERT(fd >= 0 && write(fd, "keep", 4) == 4);
	(void)close(fd);
	TEST_ASSERT_INT(symlinkat("../victim", md.fd, QUOTA_FILE), 0);
	TEST_ASSERT_INT(quota_update(md.fd, 7, 1, &why), -1);
	TEST_ASSERT_INT(quota_get(md.fd, 3000, &u, &why), 0);
	TEST_ASSERT_INT(u.bytes, 1355);
	read_text(top, text, sizeof(text));	/* top/maildirsize: none */
	fd = openat(top, "victim", O_RDONLY);
	TEST_ASSERT(fd >= 0 && read(fd, text, sizeof(text)) == 4);
	(void)close(fd);
	TEST_END();

	TEST_BEGIN("quota: no maildirsize yet: update does nothing");
	TEST_ASSERT_INT(unlinkat(md.fd, QUOTA_FILE, 0), 0);
	TEST_ASSERT_INT(quota_update(md.fd, 7, 1, &why), 0);
	TEST_ASSERT(faccessat(md.fd, QUOTA_FILE, F_OK, 0) < 0);
	TEST_END();
	maildir_close(&fmd);
	maildir_close(&md);
	(void)close(top);
}

int
main(void)
{
	int r;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_sizes();
	test_parse();
	test_files();
	r = test_summary("test-quota");
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		printf("cannot remove %s: %s\n", dir, strerror(errno));
	return r;
}
