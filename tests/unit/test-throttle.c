/*
 * NAME
 *	test-throttle - login throttling: keys, delays, refusal, forgetting
 *
 * DESCRIPTION
 *	Uses a table file in a temporary folder and a clock passed in, so
 *	no case waits. Two handles on one file stand for two server
 *	processes.
 */
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "throttle.h"
#include "test.h"

/* key4 - the key of an IPv4 address */
static void
key4(const char *ip, unsigned char *key)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	(void)inet_pton(AF_INET, ip, &sin.sin_addr);
	(void)throttle_key((struct sockaddr *)&sin, sizeof(sin), key);
}

/* key6 - the key of an IPv6 address */
static void
key6(const char *ip, unsigned char *key)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	(void)inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	(void)throttle_key((struct sockaddr *)&sin6, sizeof(sin6), key);
}

int
main(void)
{
	char dir[] = "/tmp/test-throttle.XXXXXX", path[256];
	unsigned char a[THROTTLE_KEY_LEN], b[THROTTLE_KEY_LEN];
	unsigned char c[THROTTLE_KEY_LEN], d[THROTTLE_KEY_LEN];
	struct throttle *t, *t2;
	const char *error = NULL;
	time_t now = 1800000000;
	unsigned n, i;
	struct stat st;
	int fd;

	if (mkdtemp(dir) == NULL)
		return 2;
	(void)snprintf(path, sizeof(path), "%s/login-throttle", dir);

	TEST_BEGIN("keys: IPv4, IPv4-mapped IPv6, IPv6 /64");
	key4("192.0.2.7", a);
	key6("::ffff:192.0.2.7", b);
	TEST_ASSERT(memcmp(a, b, THROTTLE_KEY_LEN) == 0);
	key6("2001:db8:1:2:aaaa::1", c);
	key6("2001:db8:1:2:bbbb::9", d);
	TEST_ASSERT(memcmp(c, d, THROTTLE_KEY_LEN) == 0);
	key6("2001:db8:1:3::1", d);
	TEST_ASSERT(memcmp(c, d, THROTTLE_KEY_LEN) != 0);
	key4("192.0.2.8", b);
	TEST_ASSERT(memcmp(a, b, THROTTLE_KEY_LEN) != 0);
	TEST_END();

	TEST_BEGIN("delays grow and stop growing");
	TEST_ASSERT_INT(throttle_delay_ms(0), 0);
	TEST_ASSERT_INT(throttle_delay_ms(1), THROTTLE_DELAY_MIN_MS);
	TEST_ASSERT_INT(throttle_delay_ms(2), 2 * THROTTLE_DELAY_MIN_MS);
	TEST_ASSERT_INT(throttle_delay_ms(3), 4 * THROTTLE_DELAY_MIN_MS);
	TEST_ASSERT_INT(throttle_delay_ms(50), THROTTLE_DELAY_MAX_MS);
	TEST_ASSERT_INT(throttle_delay_ms(4000000000U), THROTTLE_DELAY_MAX_MS);
	TEST_END();

	TEST_BEGIN("a new table: made with mode 0600, nobody refused");
	t = throttle_open(path, &error);
	TEST_ASSERT(t != NULL);
	if (t == NULL)
		return test_summary("test-throttle");
	TEST_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	TEST_ASSERT_INT(throttle_check(t, a, now, &n), 0);
	TEST_ASSERT_INT(n, 0);
	TEST_END();

	TEST_BEGIN("failures count across handles; refusal at the limit");
	t2 = throttle_open(path, &error);
	TEST_ASSERT(t2 != NULL);
	for (i = 1; i < THROTTLE_LIMIT; i++) {
		TEST_ASSERT_INT(throttle_fail(i % 2 ? t : t2, a, now, &n), 0);
		TEST_ASSERT_INT(n, i);
		TEST_ASSERT_INT(throttle_check(t, a, now, &n), 0);
	}
	TEST_ASSERT_INT(throttle_fail(t2, a, now, &n), 0);
	TEST_ASSERT_INT(n, THROTTLE_LIMIT);
	TEST_ASSERT_INT(throttle_check(t, a, now, &n), 1);
	TEST_ASSERT_INT(throttle_check(t2, a, now + 60, &n), 1);
	/* Another address is not affected. */
	TEST_ASSERT_INT(throttle_check(t, b, now, &n), 0);
	TEST_END();

	TEST_BEGIN("failures are forgotten after THROTTLE_FORGET_SECS");
	TEST_ASSERT_INT(throttle_check(t, a, now + THROTTLE_FORGET_SECS, &n),
	    1);
	TEST_ASSERT_INT(throttle_check(t, a,
	    now + THROTTLE_FORGET_SECS + 1, &n), 0);
	TEST_ASSERT_INT(n, 0);
	TEST_ASSERT_INT(throttle_fail(t, a, now + THROTTLE_FORGET_SECS + 1,
	    &n), 0);
	TEST_ASSERT_INT(n, 1);
	TEST_END();

	TEST_BEGIN("a successful login forgets the failures");
	TEST_ASSERT_INT(throttle_fail(t, b, now, &n), 0);
	TEST_ASSERT_INT(throttle_fail(t, b, now, &n), 0);
	TEST_ASSERT_INT(n, 2);
	TEST_ASSERT_INT(throttle_success(t2, b, now), 0);
	TEST_ASSERT_INT(throttle_fail(t, b, now, &n), 0);
	TEST_ASSERT_INT(n, 1);
	TEST_END();

	TEST_BEGIN("many addresses: the table stays bounded and works");
	for (i = 0; i < 3 * THROTTLE_SLOTS; i++) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(0x0a000000U + i);
		(void)throttle_key((struct sockaddr *)&sin, sizeof(sin), d);
		if (throttle_fail(t, d, now, &n) < 0 || n != 1)
			break;
	}
	TEST_ASSERT_INT(i, 3 * THROTTLE_SLOTS);
	TEST_ASSERT(stat(path, &st) == 0 &&
	    st.st_size == 32 + THROTTLE_SLOTS * 32);
	TEST_END();

	TEST_BEGIN("a damaged file is rewritten empty");
	throttle_close(t);
	throttle_close(t2);
	fd = open(path, O_WRONLY | O_TRUNC);
	(void)!write(fd, "garbage", 7);
	(void)close(fd);
	t = throttle_open(path, &error);
	TEST_ASSERT(t != NULL);
	if (t != NULL) {
		TEST_ASSERT_INT(throttle_check(t, a, now, &n), 0);
		TEST_ASSERT_INT(n, 0);
		throttle_close(t);
	}
	TEST_END();

	TEST_BEGIN("a symbolic link is not followed");
	(void)unlink(path);
	(void)!symlink("/etc/passwd", path);
	TEST_ASSERT(throttle_open(path, &error) == NULL);
	(void)unlink(path);
	TEST_END();

	(void)rmdir(dir);
	TEST_BEGIN("throttle: a failure's pause lasts as long as asked");
	{
		struct timespec t0, t1;
		long long ms;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		throttle_pause_ms(150);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		TEST_ASSERT(ms >= 149 && ms < 5000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		throttle_pause_ms(0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		TEST_ASSERT(t1.tv_sec - t0.tv_sec < 2);
	}
	TEST_END();

	return test_summary("test-throttle");
}
