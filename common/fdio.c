/*
 * NAME
 *	fdio - writing all of a buffer to a plain descriptor
 *
 * DESCRIPTION
 *	See fdio.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fdio.h"

/* fd_write_all - n octets to fd, through short writes and EINTR */
int
fd_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* fd_hold_null - /dev/null on descriptor fd; 0 or -1 with errno */
int
fd_hold_null(int fd)
{
	int n = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (n < 0)
		return -1;
	if (n != fd) {
		if (dup3(n, fd, O_CLOEXEC) < 0) {
			(void)close(n);
			return -1;
		}
		(void)close(n);
	}
	return 0;
}
