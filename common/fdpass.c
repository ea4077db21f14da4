/*
 * fdpass.c - send descriptors over a Unix socket, with a few octets
 * (fdpass.h)
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"

union fdpass_cmsg {
	struct cmsghdr h;
	char space[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
};

/* fdpass_send - see fdpass.h; 0 or -1 with errno */
int
fdpass_send(int sock, const void *data, size_t len, const int *fds,
    size_t n)
{
	union fdpass_cmsg cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t r;

	if (n > FDPASS_MAX || len == 0) {
		errno = EINVAL;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		mh.msg_control = cm.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r >= 0 && (size_t)r != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* close_all - close the descriptors a control message brought */
static void
close_all(struct msghdr *mh)
{
	struct cmsghdr *c;
	size_t i, k;
	int fd;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			(void)close(fd);
		}
	}
}

/* fdpass_recv - see fdpass.h; 1, 0 at end, or -1 with errno */
int
fdpass_recv(int sock, void *buf, size_t size, size_t *len_r, int *fds,
    size_t max, size_t *n_r)
{
	union fdpass_cmsg cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	size_t k;
	ssize_t r;

	*n_r = 0;
	*len_r = 0;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = size;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.space;
	mh.msg_controllen = sizeof(cm.space);
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return (int)r;
	c = CMSG_FIRSTHDR(&mh);
	k = c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS ?
	    (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || k > max ||
	    (c != NULL && CMSG_NXTHDR(&mh, c) != NULL)) {
		close_all(&mh);
		errno = EBADMSG;
		return -1;
	}
	if (k > 0)
		memcpy(fds, CMSG_DATA(c), sizeof(int) * k);
	*n_r = k;
	*len_r = (size_t)r;
	return 1;
}
