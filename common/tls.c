/*
 * NAME
 *	tls - OpenSSL contexts for the servers and the SMTP client
 *
 * SYNOPSIS
 *	SSL_CTX *tls_server_ctx_new(const char *cert_file,
 *	    const char *key_file, const char **error_r);
 *	SSL_CTX *tls_client_ctx_new(int verify, const char *ca_file,
 *	    const char **error_r);
 *	void tls_ctx_free(SSL_CTX *ctx);
 *
 * DESCRIPTION
 *	Both kinds of context speak TLS 1.2 and TLS 1.3 only, offer
 *	TLS_CIPHERS_12 (ECDHE key exchange with AES-GCM or ChaCha20-Poly1305)
 *	and TLS_CIPHERS_13, key exchange groups TLS_GROUPS, and refuse
 *	compression (CRIME) and renegotiation (CVE-2009-3555 and the
 *	client-initiated renegotiation DoS).
 *
 *	tls_server_ctx_new() loads a PEM certificate chain (leaf first) and
 *	a PEM private key, and checks that the key belongs to the
 *	certificate. The server's cipher order wins. Session caches and
 *	session tickets are off: each connection runs in its own process, so
 *	a cache would never be hit, and tickets would weaken forward
 *	secrecy for no gain.
 *
 *	Per-domain certificates (SNI) are not done yet. The place for them
 *	is here: keep one SSL_CTX per certificate, install a callback with
 *	SSL_CTX_set_tlsext_servername_callback() on the default context,
 *	and let it look SSL_get_servername() up and switch with
 *	SSL_set_SSL_CTX(). io_start_tls_server() needs no change.
 *
 *	tls_client_ctx_new() with verify 0 makes an opportunistic context
 *	(RFC 7435: encryption without authentication, the certificate is
 *	not checked). With verify 1 the peer's chain must verify against
 *	ca_file, or the system's trust store when ca_file is NULL, and
 *	io_start_tls_client() then also checks that it names the host.
 *
 * DIAGNOSTICS
 *	NULL with errno and *error_r, one line that includes OpenSSL's
 *	reason, in a thread-local buffer that the next call overwrites:
 *	EINVAL for a certificate, key or CA file that cannot be loaded or
 *	does not match (permanent until the configuration is fixed), ENOMEM
 *	when OpenSSL cannot build a context (temporary).
 *
 * SECURITY
 *	Reads the key file, so a server builds its context before it drops
 *	privileges, or the key is readable by its user alone. The files
 *	named are trusted configuration.
 */
#include <errno.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"

static _Thread_local char tls_errbuf[512];

/* fail - put "what: OpenSSL reason" in the error buffer, return NULL */
static SSL_CTX *
fail(SSL_CTX *ctx, int err, const char *what, const char *file,
    const char **error_r)
{
	char reason[256];
	unsigned long e;

	e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		(void)snprintf(reason, sizeof(reason), "unknown error");
	(void)snprintf(tls_errbuf, sizeof(tls_errbuf), "%s%s%s: %s", what,
	    file != NULL ? " " : "", file != NULL ? file : "", reason);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	*error_r = tls_errbuf;
	errno = err;
	return NULL;
}

/* policy - the settings servers and clients share; 0 or -1 */
static int
policy(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		return -1;
	return 0;
}

/* tls_server_ctx_new - a server context with a certificate and its key */
SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file,
    const char **error_r)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return fail(NULL, ENOMEM, "cannot make a TLS context", NULL,
		    error_r);
	if (policy(ctx) < 0)
		return fail(ctx, ENOMEM, "cannot set the TLS policy", NULL,
		    error_r);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Where SNI goes later: SSL_CTX_set_tlsext_servername_callback(). */
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return fail(ctx, EINVAL, "cannot load certificate", cert_file,
		    error_r);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		return fail(ctx, EINVAL, "cannot load private key", key_file,
		    error_r);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return fail(ctx, EINVAL, "private key does not match",
		    cert_file, error_r);
	return ctx;
}

/* tls_client_ctx_new - a client context; verify 1 checks the server */
SSL_CTX *
tls_client_ctx_new(int verify, const char *ca_file, const char **error_r)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return fail(NULL, ENOMEM, "cannot make a TLS context", NULL,
		    error_r);
	if (policy(ctx) < 0)
		return fail(ctx, ENOMEM, "cannot set the TLS policy", NULL,
		    error_r);
	if (!verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
			return fail(ctx, EINVAL, "cannot load CA file",
			    ca_file, error_r);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		return fail(ctx, EINVAL, "cannot load the system CAs", NULL,
		    error_r);
	return ctx;
}

/* tls_ctx_free - release a context (NULL is fine) */
void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
