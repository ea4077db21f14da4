/* test-fdpass - descriptors across a socketpair: whole, refused, at EOF */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"
#include "test.h"

/* open_fds - the number of open descriptors below 1024 */
static int
open_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

int
main(void)
{
	int sv[2], p[2], fds[FDPASS_MAX], many[FDPASS_MAX + 1], i, before;
	size_t n = 99, len = 0;
	char tag = 0, buf[8], big[64];

	TEST_BEGIN("fdpass: three descriptors and a tag arrive, usable");
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	TEST_ASSERT(pipe(p) == 0);
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = p[1];
	TEST_ASSERT_INT(fdpass_send(sv[0], "M", 1, fds, 3), 0);
	(void)close(p[0]);
	(void)close(p[1]);
	memset(fds, -1, sizeof(fds));
	TEST_ASSERT_INT(fdpass_recv(sv[1], &tag, 1, &len, fds, FDPASS_MAX, &n), 1);
	TEST_ASSERT_INT((int)n, 3);
	TEST_ASSERT(tag == 'M');
	TEST_ASSERT(fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
	TEST_ASSERT_INT((int)write(fds[1], "hi", 2), 2);
	TEST_ASSERT_INT((int)read(fds[0], buf, sizeof(buf)), 2);
	TEST_ASSERT(memcmp(buf, "hi", 2) == 0);
	for (i = 0; i < 3; i++)
		(void)close(fds[i]);
	TEST_END();

	TEST_BEGIN("fdpass: a tag alone");
	TEST_ASSERT_INT(fdpass_send(sv[0], "R", 1, NULL, 0), 0);
	TEST_ASSERT_INT(fdpass_recv(sv[1], &tag, 1, &len, fds, FDPASS_MAX, &n), 1);
	TEST_ASSERT_INT((int)n, 0);
	TEST_ASSERT(tag == 'R');
	TEST_END();

	TEST_BEGIN("fdpass: octets with no descriptor; too long is refused");
	TEST_ASSERT_INT(fdpass_send(sv[0], "Dabc\0def", 8, NULL, 0), 0);
	TEST_ASSERT_INT(fdpass_recv(sv[1], big, sizeof(big), &len, fds,
	    FDPASS_MAX, &n), 1);
	TEST_ASSERT_INT((int)len, 8);
	TEST_ASSERT(memcmp(big, "Dabc\0def", 8) == 0);
	TEST_ASSERT_INT(fdpass_send(sv[0], big, sizeof(big), NULL, 0), 0);
	errno = 0;
	TEST_ASSERT_INT(fdpass_recv(sv[1], buf, sizeof(buf), &len, fds,
	    FDPASS_MAX, &n), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	TEST_END();

	TEST_BEGIN("fdpass: more than the receiver takes is refused, closed");
	TEST_ASSERT(pipe(p) == 0);
	for (i = 0; i < 3; i++)
		many[i] = p[0];
	TEST_ASSERT_INT(fdpass_send(sv[0], "M", 1, many, 3), 0);
	(void)close(p[0]);
	(void)close(p[1]);
	before = open_fds();
	errno = 0;
	TEST_ASSERT_INT(fdpass_recv(sv[1], &tag, 1, &len, fds, 2, &n), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	TEST_ASSERT_INT((int)n, 0);
	TEST_ASSERT_INT(open_fds(), before);	/* nothing left open */
	TEST_ASSERT_INT(fdpass_send(sv[0], "M", 1, many, FDPASS_MAX + 1), -1);
	TEST_END();

	TEST_BEGIN("fdpass: end of file, then EPIPE for the sender");
	(void)close(sv[0]);
	TEST_ASSERT_INT(fdpass_recv(sv[1], &tag, 1, &len, fds, FDPASS_MAX, &n), 0);
	errno = 0;
	TEST_ASSERT_INT(fdpass_send(sv[1], "M", 1, NULL, 0), -1);
	TEST_ASSERT_INT(errno, EPIPE);
	(void)close(sv[1]);
	TEST_END();
	return test_summary("test-fdpass");
}
