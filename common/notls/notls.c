/*
 * NAME
 *	notls - TLS that is never there, for pop3d-user and imapd-user
 *
 * DESCRIPTION
 *	The post-login programs are pop3d and imapd linked with this file
 *	ahead of the common library: the login process holds the TLS
 *	session (handoff.h), so these programs never make a handshake or
 *	load a certificate, and linking this instead of tls.c and iotls.c
 *	keeps OpenSSL out of them altogether: several hundred kilobytes of
 *	relocated library data less in every logged-in session. Each
 *	function fails as its real one does when TLS cannot be had, so a
 *	STARTTLS reaching them is refused ("TLS not available") rather than
 *	crashing; it cannot happen after a login anyway.
 *
 * DIAGNOSTICS
 *	Every function fails: NULL or -1 with errno EPROTONOSUPPORT and an
 *	error text.
 */
#include <errno.h>
#include <stddef.h>

#include "io.h"
#include "tls.h"

static const char why[] = "TLS not available in a post-login process";

/* tls_server_ctx_new - none: NULL */
SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file,
    const char **error_r)
{
	(void)cert_file;
	(void)key_file;
	*error_r = why;
	errno = EPROTONOSUPPORT;
	return NULL;
}

/* tls_server_ctx_sni - none: NULL */
SSL_CTX *
tls_server_ctx_sni(const char *cert_file, const char *key_file,
    const char *sni_table, const char **error_r)
{
	(void)sni_table;
	return tls_server_ctx_new(cert_file, key_file, error_r);
}

/* tls_ctx_free - nothing to free */
void
tls_ctx_free(SSL_CTX *ctx)
{
	(void)ctx;
}

/* io_start_tls_server - refused; the stream stays as it was */
int
io_start_tls_server(struct io *io, SSL_CTX *ctx, const char **error_r)
{
	(void)io;
	(void)ctx;
	*error_r = why;
	errno = EPROTONOSUPPORT;
	return -1;
}
