/*
 * procwait.c - wait a bounded time for a child process to end
 * (procwait.h)
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "procwait.h"

/* try_reap - waitpid without blocking; 1 reaped, 0 running, -1 errno */
static int
try_reap(pid_t pid, int *status_r)
{
	pid_t r;

	while ((r = waitpid(pid, status_r, WNOHANG)) < 0)
		if (errno != EINTR)
			return -1;
	return r == pid;
}

/* procwait - see procwait.h */
int
procwait(pid_t pid, int ms, int *status_r)
{
	int64_t deadline = clock_mono_ms() + (ms > 0 ? ms : 0);
	int fd, r, step = 1;

	if ((r = try_reap(pid, status_r)) != 0)
		return r;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		int64_t left = deadline - clock_mono_ms();

		if (left <= 0)
			break;
		if (fd >= 0) {
			struct pollfd p = { fd, POLLIN, 0 };

			if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
				break;
		} else {
			struct timespec ts = { 0, (long)step * 1000000L };

			(void)nanosleep(&ts, NULL);
			step = step < 10 ? step + 1 : 10;
		}
		if ((r = try_reap(pid, status_r)) != 0)
			break;
	}
	if (fd >= 0)
		(void)close(fd);
	return r != 0 ? r : try_reap(pid, status_r);
}
