/*
 * NAME
 *	iotls - TLS under an io stream (OpenSSL)
 *
 * SYNOPSIS
 *	int io_start_tls_server(struct io *io, SSL_CTX *ctx,
 *	    const char **error_r);
 *	int io_start_tls_client(struct io *io, SSL_CTX *ctx, const char *sni,
 *	    const char **error_r);
 *	SSL *io_tls_ssl(const struct io *io);
 *
 * DESCRIPTION
 *	The TLS half of io.c (whose header comment gives the whole
 *	contract): the handshake, then struct io_tls_ops (io-int.h) for
 *	io.c's reads, writes, pending counts, close_notify and free. Apart
 *	so that a program that never starts TLS does not link OpenSSL.
 *
 * DIAGNOSTICS
 *	As io.c: -1 with errno, EPROTO for TLS errors, the stream dead.
 *
 * SECURITY
 *	Starting TLS flushes output and throws away every buffered input
 *	octet first (SECURITY T1, T3, P1, I1).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "io-int.h"
#include "str.h"

#define SSL_OF(io)	((SSL *)(io)->tls)

/* tls_failed - map an OpenSSL failure to errno and text; the io is dead */
static int
tls_failed(struct io *io, int ssl_err, const char *what)
{
	int saved = errno;
	unsigned long e;
	char detail[200];

	e = ERR_peek_error();
	detail[0] = '\0';
	if (ssl_err == SSL_ERROR_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ioi_set_error(io, what, "connection closed without close_notify");
		saved = ECONNRESET;
	} else if (ssl_err == SSL_ERROR_SYSCALL && e == 0) {
		if (saved == 0) {
			ioi_set_error(io, what, "connection closed");
			saved = ECONNRESET;
		} else
			ioi_set_error(io, what, strerror(saved));
	} else {
		if (e != 0)
			ERR_error_string_n(e, detail, sizeof(detail));
		ioi_set_error(io, what, detail[0] != '\0' ? detail :
		    "protocol error");
		saved = EPROTO;
	}
	ERR_clear_error();
	io->dead = saved;
	errno = saved;
	return -1;
}

/* tls_read - one SSL_read of at most n octets, waiting as needed */
static ssize_t
tls_read(struct io *io, void *p, size_t n)
{
	int e, err;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		e = SSL_read(SSL_OF(io), p, (int)n);
		if (e > 0)
			return e;
		err = SSL_get_error(SSL_OF(io), e);
		switch (err) {
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_WANT_READ:
			/*
			 * The socket was readable but held no application
			 * data (a TLS 1.3 session ticket, say): whatever we
			 * buffered must go out before we wait for a reply.
			 */
			if (ioi_flush_before_wait(io) < 0 ||
			    ioi_wait_fd(io, io->fd_in, POLLIN, -1) < 0)
				return -1;
			break;
		case SSL_ERROR_WANT_WRITE:
			if (ioi_wait_fd(io, io->fd_out, POLLOUT, -1) < 0)
				return -1;
			break;
		default:
			return tls_failed(io, err, "TLS read");
		}
	}
}

/* tls_write - one SSL_write of at most n octets, waiting as needed */
static ssize_t
tls_write(struct io *io, const void *p, size_t n)
{
	int e, err;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		e = SSL_write(SSL_OF(io), p, (int)n);
		if (e > 0)
			return e;
		err = SSL_get_error(SSL_OF(io), e);
		switch (err) {
		case SSL_ERROR_WANT_WRITE:
			if (ioi_wait_fd(io, io->fd_out, POLLOUT, -1) < 0)
				return -1;
			break;
		case SSL_ERROR_WANT_READ:
			if (ioi_wait_fd(io, io->fd_in, POLLIN, -1) < 0)
				return -1;
			break;
		case SSL_ERROR_ZERO_RETURN:
			ioi_set_error(io, "TLS write", "peer sent close_notify");
			io->dead = EPIPE;
			errno = EPIPE;
			return -1;
		default:
			return tls_failed(io, err, "TLS write");
		}
	}
}

/* tls_pending - decrypted octets OpenSSL holds for us */
static size_t
tls_pending(const struct io *io)
{
	int k = SSL_pending(SSL_OF(io));

	return k > 0 ? (size_t)k : 0;
}

/* tls_ready - 1 if OpenSSL holds input, decrypted or not: no wait */
static int
tls_ready(const struct io *io)
{
	return SSL_has_pending(SSL_OF(io)) ? 1 : 0;
}

/* tls_discard - drop what OpenSSL has decrypted; bounded by one record */
static void
tls_discard(struct io *io)
{
	char scratch[512];
	int i;

	for (i = 0; i < 64 && SSL_pending(SSL_OF(io)) > 0; i++)
		if (SSL_read(SSL_OF(io), scratch, sizeof(scratch)) <= 0)
			break;
	ERR_clear_error();
	explicit_bzero(scratch, sizeof(scratch));
}

/* tls_describe - append "PROTOCOL CIPHER" */
static int
tls_describe(const struct io *io, struct buf *out)
{
	const char *cipher = SSL_get_cipher_name(SSL_OF(io));

	return buf_printf(out, "%s %s", SSL_get_version(SSL_OF(io)),
	    cipher != NULL ? cipher : "unknown");
}

/* tls_shutdown - send close_notify (output already flushed) */
static int
tls_shutdown(struct io *io)
{
	int64_t until;
	int r, err;

	until = io->timeout_ms >= 0 ? clock_mono_ms() + io->timeout_ms : -1;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_shutdown(SSL_OF(io));
		if (r >= 0)
			return 0;
		err = SSL_get_error(SSL_OF(io), r);
		if (err == SSL_ERROR_WANT_WRITE) {
			if (ioi_wait_fd(io, io->fd_out, POLLOUT, until) < 0)
				return -1;
			continue;
		}
		if (err == SSL_ERROR_WANT_READ) {
			if (ioi_wait_fd(io, io->fd_in, POLLIN, until) < 0)
				return -1;
			continue;
		}
		return tls_failed(io, err, "TLS shutdown");
	}
}

/* tls_free - free the SSL */
static void
tls_free(struct io *io)
{
	SSL_free(SSL_OF(io));
	io->tls = NULL;
}

static const struct io_tls_ops ops = {
	tls_read, tls_write, tls_pending, tls_ready, tls_discard,
	tls_describe, tls_shutdown, tls_free,
};

/* handshake - run SSL_accept or SSL_connect to the end within timeout */
static int
handshake(struct io *io, int server)
{
	int64_t until;
	int r, err;

	until = io->timeout_ms >= 0 ? clock_mono_ms() + io->timeout_ms : -1;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = server ? SSL_accept(SSL_OF(io)) : SSL_connect(SSL_OF(io));
		if (r == 1)
			return 0;
		err = SSL_get_error(SSL_OF(io), r);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			if (ioi_wait_fd(io, err == SSL_ERROR_WANT_READ ?
			    io->fd_in : io->fd_out, err == SSL_ERROR_WANT_READ ?
			    POLLIN : POLLOUT, until) < 0) {
				ioi_set_error(io, "TLS handshake", errno ==
				    ETIMEDOUT ? "timed out" : strerror(errno));
				io->dead = errno;
				return -1;
			}
			continue;
		}
		return tls_failed(io, err, "TLS handshake");
	}
}

/* is_ip_literal - 1 if s is an IPv4 or IPv6 address */
static int
is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* start_tls - discard plaintext input, then handshake on the stream */
static int
start_tls(struct io *io, SSL_CTX *ctx, int server, const char *sni,
    const char **error_r)
{
	char name[256];
	int ok;

	if (io->tls_ops != NULL || io->dead) {
		ioi_set_error(io, io->tls_ops != NULL ? "TLS already started" :
		    "stream failed before TLS", NULL);
		*error_r = io->errbuf;
		errno = EINVAL;
		return -1;
	}
	/* From here on a failure leaves the stream dead: no plaintext. */
	if (io_flush(io) < 0) {
		ioi_set_error(io, "write before TLS", strerror(errno));
		*error_r = io->errbuf;
		io->dead = errno;
		return -1;
	}
	/* A writable copy of sni: OpenSSL's macro casts away const. */
	if (sni != NULL && str_copy(name, sizeof(name), sni) < 0) {
		ioi_set_error(io, "TLS setup", "server name too long");
		*error_r = io->errbuf;
		io->dead = errno = EINVAL;
		return -1;
	}
	io_discard_input(io);
	ERR_clear_error();
	io->tls = SSL_new(ctx);
	if (io->tls == NULL) {
		*error_r = io->errbuf;
		return tls_failed(io, SSL_ERROR_SSL, "SSL_new");
	}
	io->tls_ops = &ops;	/* from here io_free() frees it */
	if (io->fd_in == io->fd_out)
		ok = SSL_set_fd(SSL_OF(io), io->fd_in);
	else
		ok = SSL_set_rfd(SSL_OF(io), io->fd_in) &&
		    SSL_set_wfd(SSL_OF(io), io->fd_out);
	/* RELEASE_BUFFERS: an idle connection keeps no record buffers. */
	SSL_set_mode(SSL_OF(io), SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (ok && !server && sni != NULL && *sni != '\0') {
		if (!is_ip_literal(sni))
			ok = SSL_set_tlsext_host_name(SSL_OF(io), name);
		if (ok && (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER)) {
			SSL_set_hostflags(SSL_OF(io),
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (is_ip_literal(sni))
				ok = X509_VERIFY_PARAM_set1_ip_asc(
				    SSL_get0_param(SSL_OF(io)), sni);
			else
				ok = SSL_set1_host(SSL_OF(io), sni);
		}
	}
	if (!ok) {
		(void)tls_failed(io, SSL_ERROR_SSL, "TLS setup");
		*error_r = io->errbuf;
		return -1;
	}
	if (server)
		SSL_set_accept_state(SSL_OF(io));
	else
		SSL_set_connect_state(SSL_OF(io));
	if (handshake(io, server) < 0) {
		*error_r = io->errbuf;
		return -1;
	}
	return 0;
}

/* io_start_tls_server - drop plaintext input, accept a TLS handshake */
int
io_start_tls_server(struct io *io, SSL_CTX *ctx, const char **error_r)
{
	return start_tls(io, ctx, 1, NULL, error_r);
}

/* io_start_tls_client - drop plaintext input, make a TLS handshake */
int
io_start_tls_client(struct io *io, SSL_CTX *ctx, const char *sni,
    const char **error_r)
{
	return start_tls(io, ctx, 0, sni, error_r);
}

/* io_tls_ssl - the OpenSSL connection, or NULL before TLS */
SSL *
io_tls_ssl(const struct io *io)
{
	return io->tls_ops != NULL ? SSL_OF(io) : NULL;
}

