/*
 * NAME
 *	linesrv - line echo server for the io(3) and tls(3) integration tests
 *
 * SYNOPSIS
 *	linesrv -p PORTFILE -m plain|tls|starttls [-c CERT -k KEY]
 *	    [-t TIMEOUT_MS] [-x MAXLINE]
 *
 * DESCRIPTION
 *	A test tool, not a product program. It listens on 127.0.0.1 on an
 *	ephemeral port, writes the port number and a newline to PORTFILE
 *	(atomically, through a rename), and serves each connection in a
 *	child process (at most MAX_CHILDREN at once; more are closed at
 *	once). In tls mode the TLS handshake comes first. Then it greets
 *	with "hello" and answers each line it reads with
 *
 *		line FLAGS LEN TEXT
 *
 *	where FLAGS is "crlf", "lf" or "eof", followed by ",barecr" and
 *	",nul" when they apply, LEN is the length of the text in bytes, and
 *	TEXT is the text with "\\", "\r", "\t" and "\0" escaped and other
 *	bytes outside printable ASCII written as "\xHH". A line longer than
 *	MAXLINE (default 1000) gets "toolong"; no input for TIMEOUT_MS
 *	(default 10000) gets "timeout" and the connection is closed.
 *
 *	Commands, matched on the exact text: "QUIT" answers "bye" and
 *	closes; "TLSINFO" answers "tlsinfo PROTOCOL CIPHER" or "notls"; in
 *	starttls mode "STARTTLS" answers "go" and starts TLS, discarding any
 *	plaintext that came after it, or answers "already" inside TLS.
 *	Every reply ends with CR LF. Replies are flushed when the input runs
 *	out, so pipelined lines get their replies in one batch.
 *
 *	It uses io(3) and tls(3) for all connection I/O. SIGTERM makes it
 *	stop its children, remove PORTFILE and exit 0.
 *
 * DIAGNOSTICS
 *	Exits 0 after SIGTERM, 100 for bad usage or a TLS context that cannot
 *	be built, 111 when it cannot listen or write PORTFILE. Connection
 *	failures only end that connection; they go to stderr.
 *
 * SECURITY
 *	Test tool: no privileges, listens on the loopback address only.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fail.h"
#include "io.h"
#include "str.h"
#include "tls.h"

#define MAX_CHILDREN	32

enum mode { MODE_PLAIN, MODE_TLS, MODE_STARTTLS };

static volatile sig_atomic_t stopping;
static pid_t children[MAX_CHILDREN];

/* usage - say how to call us and exit 100 */
static void
usage(void)
{
	fprintf(stderr, "usage: linesrv -p PORTFILE -m plain|tls|starttls "
	    "[-c CERT -k KEY] [-t TIMEOUT_MS] [-x MAXLINE]\n");
	exit(FAIL_EXIT_PERM);
}

/* on_term - SIGTERM: stop accepting and exit */
static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* parse_num - a decimal option value up to max, or usage() */
static uint64_t
parse_num(const char *s, uint64_t max)
{
	uint64_t v;

	if (str_parse_u64(s, strlen(s), max, &v) < 0)
		usage();
	return v;
}

/* flag_names - "crlf,barecr" and the like for a line's flags */
static void
flag_names(struct buf *out, int flags)
{
	if (flags & IO_LINE_CRLF)
		buf_append_str(out, "crlf");
	else if (flags & IO_LINE_LF)
		buf_append_str(out, "lf");
	else
		buf_append_str(out, "eof");
	if (flags & IO_LINE_BARE_CR)
		buf_append_str(out, ",barecr");
	if (flags & IO_LINE_NUL)
		buf_append_str(out, ",nul");
}

/* escape - append text with control and non-ASCII bytes escaped */
static void
escape(struct buf *out, const char *p, size_t n)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '\\')
			buf_append_str(out, "\\\\");
		else if (c == '\r')
			buf_append_str(out, "\\r");
		else if (c == '\n')
			buf_append_str(out, "\\n");
		else if (c == '\t')
			buf_append_str(out, "\\t");
		else if (c == '\0')
			buf_append_str(out, "\\0");
		else if (c >= 0x20 && c < 0x7f)
			buf_append_char(out, (char)c);
		else
			buf_printf(out, "\\x%02x", c);
	}
}

/* is_cmd - the line is exactly word */
static int
is_cmd(const struct buf *line, const char *word)
{
	size_t n = strlen(word);

	return line->len == n && memcmp(line->data, word, n) == 0;
}

/* serve - one connection, from greeting to close */
static void
serve(int fd, enum mode mode, SSL_CTX *ctx, int timeout_ms, size_t maxline)
{
	struct buf line = BUF_INIT(maxline), reply;
	const char *err;
	struct io *io;
	int r, flags;

	/* UNSAFE: maxline is at most 1 MiB, so 4 * maxline cannot overflow. */
	buf_init(&reply, 4 * maxline + 64);
	io = io_new(fd, fd, timeout_ms);
	if (io == NULL) {
		perror("linesrv: io_new");
		return;
	}
	if (mode == MODE_TLS && io_start_tls_server(io, ctx, &err) < 0) {
		fprintf(stderr, "linesrv: %s\n", err);
		goto done;
	}
	io_puts(io, "hello\r\n");
	for (;;) {
		r = io_read_line(io, &line, maxline, &flags);
		if (r == 0)
			break;
		if (r < 0 && errno == EMSGSIZE) {
			if (io_puts(io, "toolong\r\n") < 0)
				break;
			continue;
		}
		if (r < 0) {
			if (errno == ETIMEDOUT) {
				io_puts(io, "timeout\r\n");
				io_flush(io);
			} else if (io_error(io)[0] != '\0')
				fprintf(stderr, "linesrv: %s\n", io_error(io));
			break;
		}
		buf_reset(&reply);
		if (is_cmd(&line, "QUIT")) {
			io_puts(io, "bye\r\n");
			break;
		} else if (is_cmd(&line, "TLSINFO")) {
			if (io_is_tls(io)) {
				buf_append_str(&reply, "tlsinfo ");
				io_tls_describe(io, &reply);
			} else
				buf_append_str(&reply, "notls");
		} else if (mode == MODE_STARTTLS &&
		    is_cmd(&line, "STARTTLS")) {
			if (io_is_tls(io))
				buf_append_str(&reply, "already");
			else {
				io_puts(io, "go\r\n");
				if (io_start_tls_server(io, ctx, &err) < 0) {
					fprintf(stderr, "linesrv: %s\n", err);
					break;
				}
				continue;
			}
		} else {
			buf_append_str(&reply, "line ");
			flag_names(&reply, flags);
			buf_printf(&reply, " %zu ", line.len);
			escape(&reply, line.data, line.len);
		}
		buf_append_str(&reply, "\r\n");
		if (io_write(io, reply.data, reply.len) < 0)
			break;
	}
	if (io_flush(io) == 0 && io_is_tls(io))
		(void)io_tls_shutdown(io);
done:
	io_free(io);
	buf_free(&line);
	buf_free(&reply);
}

/* write_port - put "PORT\n" into path through a temporary file */
static int
write_port(const char *path, unsigned port)
{
	struct buf tmp = BUF_INIT(4096), text = BUF_INIT(32);
	int fd, ok;

	if (buf_printf(&tmp, "%s.tmp", path) < 0 ||
	    buf_printf(&text, "%u\n", port) < 0)
		return -1;
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, text.data, text.len) == (ssize_t)text.len;
	ok = close(fd) == 0 && ok;
	ok = ok && rename(tmp.data, path) == 0;
	buf_free(&tmp);
	buf_free(&text);
	return ok ? 0 : -1;
}

/* reap - collect finished children without waiting */
static void
reap(void)
{
	pid_t pid;
	int i;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (i = 0; i < MAX_CHILDREN; i++)
			if (children[i] == pid)
				children[i] = 0;
}

/* stop_children - SIGTERM each child we started, then wait for it */
static void
stop_children(void)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			kill(children[i], SIGTERM);
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			while (waitpid(children[i], NULL, 0) < 0 &&
			    errno == EINTR)
				;
			children[i] = 0;
		}
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *cert = NULL, *key = NULL, *err;
	struct sockaddr_in sin;
	struct sigaction sa;
	sigset_t block, old;
	struct pollfd pfd;
	enum mode mode = MODE_PLAIN;
	SSL_CTX *ctx = NULL;
	socklen_t len;
	size_t maxline = 1000;
	int timeout_ms = 10000;
	int c, lfd, fd, one = 1, slot, i;
	pid_t pid;

	while ((c = getopt(argc, argv, "p:m:c:k:t:x:")) != -1) {
		switch (c) {
		case 'p':
			portfile = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "plain") == 0)
				mode = MODE_PLAIN;
			else if (strcmp(optarg, "tls") == 0)
				mode = MODE_TLS;
			else if (strcmp(optarg, "starttls") == 0)
				mode = MODE_STARTTLS;
			else
				usage();
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 't':
			timeout_ms = (int)parse_num(optarg, 3600 * 1000);
			break;
		case 'x':
			maxline = (size_t)parse_num(optarg, 1024 * 1024);
			break;
		default:
			usage();
		}
	}
	if (portfile == NULL || optind != argc)
		usage();
	if (mode != MODE_PLAIN) {
		if (cert == NULL || key == NULL)
			usage();
		ctx = tls_server_ctx_new(cert, key, &err);
		if (ctx == NULL) {
			fprintf(stderr, "linesrv: %s\n", err);
			return FAIL_EXIT_PERM;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("linesrv: socket");
		return FAIL_EXIT_TEMP;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	len = sizeof(sin);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
		perror("linesrv: listen");
		return FAIL_EXIT_TEMP;
	}
	if (write_port(portfile, ntohs(sin.sin_port)) < 0) {
		perror("linesrv: port file");
		return FAIL_EXIT_TEMP;
	}

	while (!stopping) {
		reap();
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		slot = -1;
		for (i = 0; i < MAX_CHILDREN && slot < 0; i++)
			if (children[i] == 0)
				slot = i;
		if (slot < 0) {
			close(fd);	/* bounded: too many at once */
			continue;
		}
		/* The child must not run on_term: block SIGTERM over fork. */
		sigprocmask(SIG_BLOCK, &block, &old);
		pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			serve(fd, mode, ctx, timeout_ms, maxline);
			close(fd);
			_exit(0);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid > 0)
			children[slot] = pid;
		else
			perror("linesrv: fork");
		close(fd);
	}
	stop_children();
	close(lfd);
	unlink(portfile);
	tls_ctx_free(ctx);
	return 0;
}
