/*
 * NAME
 *	handoff - a login process hands its client to a post-login process
 *
 * DESCRIPTION
 *	See handoff.h. The relay keeps at most one buffer of client octets
 *	waiting for the post-login process and reads no more from the
 *	client until they are written, while it always takes what the
 *	post-login process sends: neither side can block the other into a
 *	deadlock, and memory stays bounded.
 *
 * SECURITY
 *	The handoff carries no password: a ticket is useless once redeemed
 *	and lives 30 seconds. handoff_recv() checks every field against its
 *	limit; the receiving side treats the handoff as untrusted input.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "io.h"
#include "handoff.h"
#include "procwait.h"
#include "str.h"

#define MAGIC		"mailstack-handoff 1\n"
#define CHILD_WAIT_MS	5000	/* for the post-login process to end */

/* handoff_encode - the handoff as bytes, into out; -1 if it cannot be */
int
handoff_encode(const struct handoff *h, struct buf *out)
{
	if (strchr(h->ticket, '\n') || strchr(h->client, '\n') ||
	    strchr(h->method, '\n') || strchr(h->tag, '\n'))
		return -1;
	if (buf_printf(out, "%s%s\n%s\n%s\n%s\n%d\n%zu\n", MAGIC, h->ticket,
	    h->client, h->method, h->tag, h->tls ? 1 : 0,
	    h->pending_len) < 0 ||
	    buf_append(out, h->pending, h->pending_len) < 0)
		return -1;
	return 0;
}

/* exec_user - run program -c config -m mode -H; returns only on failure */
static void
exec_user(const char *program, const char *config_path, const char *mode)
{
	char *argv[7];

	argv[0] = (char *)(uintptr_t)program;
	argv[1] = (char *)(uintptr_t)"-c";
	argv[2] = (char *)(uintptr_t)config_path;
	argv[3] = (char *)(uintptr_t)"-m";
	argv[4] = (char *)(uintptr_t)mode;
	argv[5] = (char *)(uintptr_t)"-H";
	argv[6] = NULL;
	execv(program, argv);
}

/* relay - copy between the TLS stream and fd until one side ends */
static void
relay(struct io *io, int fd)
{
	char up[IO_BUFSIZE], down[IO_BUFSIZE];
	size_t up_len = 0, up_pos = 0;
	struct pollfd pfd[2];
	ssize_t r;
	int n;

	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		/* Decrypted octets already here: take them without waiting. */
		if (up_len == 0 && io_pending(io) > 0) {
			n = io_read(io, up, sizeof(up));
			if (n <= 0)
				return;
			up_len = (size_t)n;
			up_pos = 0;
		}
		pfd[0].fd = up_len == 0 ? io_fd_in(io) : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN | (up_len > 0 ? POLLOUT : 0);
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(fd, down, sizeof(down));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				r = -2;
			if (r == 0 || r == -1)
				return;
			if (r > 0 && (io_write(io, down, (size_t)r) < 0 ||
			    io_flush(io) < 0))
				return;
		}
		if (up_len > 0 && (pfd[1].revents & POLLOUT)) {
			r = write(fd, up + up_pos, up_len - up_pos);
			if (r < 0 && errno != EINTR && errno != EAGAIN)
				return;
			if (r > 0) {
				up_pos += (size_t)r;
				if (up_pos == up_len)
					up_len = up_pos = 0;
			}
		}
		if (pfd[0].fd >= 0 && (pfd[0].revents &
		    (POLLIN | POLLHUP | POLLERR))) {
			n = io_read(io, up, sizeof(up));
			if (n <= 0)
				return;
			up_len = (size_t)n;
			up_pos = 0;
		}
	}
}

/* reap - wait a bounded time for the post-login process, then kill it */
static void
reap(pid_t pid)
{
	int status;

	if (procwait(pid, CHILD_WAIT_MS, &status) != 0)
		return;
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
}

/* handoff_start - start the post-login program with the connection */
int
handoff_start(struct io *io, const char *program, const char *config_path,
    const char *mode, struct handoff *h, const char **error_r)
{
	struct buf data = BUF_INIT(HANDOFF_MAX);
	int pfd[2], sp[2];
	size_t n;
	pid_t pid;

	h->tls = io_is_tls(io);
	h->pending_len = 0;
	if (!h->tls && (n = io_pending(io)) > 0) {
		if (n > sizeof(h->pending)) {
			*error_r = "too much pipelined input at login";
			return -1;
		}
		if (io_read(io, h->pending, n) != (int)n) {
			*error_r = "cannot take the pipelined input";
			return -1;
		}
		h->pending_len = n;
	}
	if (handoff_encode(h, &data) < 0) {
		*error_r = "handoff too long";
		buf_free(&data);
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		*error_r = "cannot make the handoff pipe";
		buf_free(&data);
		return -1;
	}
	/* The whole handoff fits in a pipe: write it, then start. */
	if (fd_write_all(pfd[1], data.data, data.len) < 0) {
		*error_r = "cannot write the handoff";
		goto fail;
	}
	(void)close(pfd[1]);
	pfd[1] = -1;
	buf_free(&data);
	if (!h->tls) {
		if (io_flush(io) < 0 || dup2(pfd[0], HANDOFF_FD) < 0) {
			*error_r = "cannot pass the connection on";
			goto fail;
		}
		exec_user(program, config_path, mode);
		*error_r = "cannot start the post-login program";
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		*error_r = "cannot make the relay socket";
		goto fail;
	}
	if ((pid = fork()) < 0) {
		(void)close(sp[0]);
		(void)close(sp[1]);
		*error_r = "cannot fork the post-login process";
		goto fail;
	}
	if (pid == 0) {
		if (dup2(sp[1], 0) >= 0 && dup2(sp[1], 1) >= 0 &&
		    dup2(pfd[0], HANDOFF_FD) >= 0)
			exec_user(program, config_path, mode);
		_exit(75);
	}
	(void)close(sp[1]);
	(void)close(pfd[0]);
	/* The relay lives as long as the session: give back what the
	   login stage used and freed. */
	(void)malloc_trim(0);
	relay(io, sp[0]);
	(void)close(sp[0]);
	reap(pid);
	return 0;
fail:
	buf_free(&data);
	(void)close(pfd[0]);
	if (pfd[1] >= 0)
		(void)close(pfd[1]);
	return -1;
}

/* handoff_take - the post-login side: the handoff, then the connection */
struct io *
handoff_take(struct handoff *h, int timeout_ms, const char **error_r)
{
	struct io *io;

	if (handoff_recv(HANDOFF_FD, h, error_r) < 0)
		return NULL;
	(void)close(HANDOFF_FD);
	if ((io = io_new(0, 1, timeout_ms)) == NULL) {
		*error_r = "cannot use the connection descriptors";
		return NULL;
	}
	if (h->tls)
		io_set_secure(io);
	if (io_preload(io, h->pending, h->pending_len) < 0) {
		io_free(io);
		*error_r = "cannot take the pipelined input";
		return NULL;
	}
	return io;
}

/* field - the next LF-ended field of at most size-1 octets, into out */
static int
field(const char **p, const char *end, char *out, size_t size)
{
	const char *lf = memchr(*p, '\n', (size_t)(end - *p));

	if (lf == NULL || (size_t)(lf - *p) >= size ||
	    memchr(*p, '\0', (size_t)(lf - *p)) != NULL)
		return -1;
	memcpy(out, *p, (size_t)(lf - *p));
	out[lf - *p] = '\0';
	*p = lf + 1;
	return 0;
}

/* handoff_parse - check and take apart len octets of a handoff */
int
handoff_parse(const char *data, size_t len, struct handoff *h,
    const char **error_r)
{
	char tls[4], count[16];
	const char *p = data, *end = data + len;
	unsigned long n;
	char *e;

	/* Not memset(h): the pending area is touched only as far as used,
	   so an idle session does not keep 16 KiB of zeros resident. */
	h->ticket[0] = h->client[0] = h->method[0] = h->tag[0] = '\0';
	h->tls = 0;
	h->pending_len = 0;
	if (len > HANDOFF_MAX) {
		*error_r = "handoff too long";
		return -1;
	}
	if (len < sizeof(MAGIC) - 1 || memcmp(p, MAGIC, sizeof(MAGIC) - 1)) {
		*error_r = "no handoff";
		return -1;
	}
	p += sizeof(MAGIC) - 1;
	if (field(&p, end, h->ticket, sizeof(h->ticket)) < 0 ||
	    field(&p, end, h->client, sizeof(h->client)) < 0 ||
	    field(&p, end, h->method, sizeof(h->method)) < 0 ||
	    field(&p, end, h->tag, sizeof(h->tag)) < 0 ||
	    field(&p, end, tls, sizeof(tls)) < 0 ||
	    field(&p, end, count, sizeof(count)) < 0 ||
	    (strcmp(tls, "0") != 0 && strcmp(tls, "1") != 0) ||
	    count[0] < '0' || count[0] > '9') {
		*error_r = "malformed handoff";
		return -1;
	}
	errno = 0;
	n = strtoul(count, &e, 10);
	if (errno != 0 || *e != '\0' || n > sizeof(h->pending) ||
	    n != (size_t)(end - p)) {
		*error_r = "malformed handoff";
		return -1;
	}
	h->tls = tls[0] == '1';
	memcpy(h->pending, p, n);
	h->pending_len = n;
	return 0;
}

/* handoff_recv - read the whole handoff from fd, then check it */
int
handoff_recv(int fd, struct handoff *h, const char **error_r)
{
	static char data[HANDOFF_MAX + 1];
	size_t len = 0;
	ssize_t r;

	for (;;) {
		r = read(fd, data + len, sizeof(data) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error_r = "cannot read the handoff";
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof(data)) {
			*error_r = "handoff too long";
			return -1;
		}
	}
	return handoff_parse(data, len, h, error_r);
}
