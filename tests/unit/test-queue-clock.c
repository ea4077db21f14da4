/* test-queue-clock - the movable clock of the queue (MAILSTACK_NOW_OFFSET) */
#include <sys/wait.h>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "test.h"

/* offset_with - clock_offset() in a child whose variable is value */
static long long
offset_with(const char *value)
{
	int p[2], status;
	long long got = -999;
	pid_t pid;

	if (pipe(p) < 0)
		return -999;
	pid = fork();
	if (pid == 0) {
		long long v;

		close(p[0]);
		if (value != NULL)
			setenv(CLOCK_ENV, value, 1);
		else
			unsetenv(CLOCK_ENV);
		v = clock_offset();
		/* The offset is read once: later changes do not count. */
		setenv(CLOCK_ENV, "12345", 1);
		if (clock_offset() != v)
			v = -998;
		if (write(p[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &got, sizeof(got)) != sizeof(got))
		got = -999;
	close(p[0]);
	(void)waitpid(pid, &status, 0);
	return got;
}

int
main(void)
{
	TEST_BEGIN("clock: no variable, no offset");
	TEST_ASSERT_INT(offset_with(NULL), 0);
	TEST_END();

	TEST_BEGIN("clock: positive and negative offsets");
	TEST_ASSERT_INT(offset_with("432000"), 432000);
	TEST_ASSERT_INT(offset_with("-3600"), -3600);
	TEST_ASSERT_INT(offset_with("0"), 0);
	TEST_END();

	TEST_BEGIN("clock: malformed or absurd offsets count as 0");
	TEST_ASSERT_INT(offset_with(""), 0);
	TEST_ASSERT_INT(offset_with("12x"), 0);
	TEST_ASSERT_INT(offset_with("+5"), 0);
	TEST_ASSERT_INT(offset_with(" 5"), 0);
	TEST_ASSERT_INT(offset_with("--5"), 0);
	TEST_ASSERT_INT(offset_with("99999999999999999999"), 0);
	TEST_ASSERT_INT(offset_with("400000000"), 0);	/* > 10 years */
	TEST_END();

	TEST_BEGIN("clock: clock_now is time() plus the offset");
	{
		long long before = (long long)time(NULL);
		long long now = (long long)clock_now();

		TEST_ASSERT(now >= before && now <= before + 2);
	}
	TEST_END();

	return test_summary("test-queue-clock");
}
