/*
 * NAME
 *	tls - OpenSSL contexts for the servers and the SMTP client
 *
 * SYNOPSIS
 *	SSL_CTX *tls_server_ctx_new(const char *cert_file,
 *	    const char *key_file, const char **error_r);
 *	SSL_CTX *tls_server_ctx_sni(const char *cert_file,
 *	    const char *key_file, const char *sni_table,
 *	    const char **error_r);
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
 *	tls_server_ctx_sni() does the same for the default certificate
 *	and, when sni_table is not NULL, also reads that tls_sni table
 *	(tlssni.c) and builds one more context, with the same policy, for
 *	each of its lines, all at once (a process serves one connection, so
 *	the table is read once per process and a change is seen by the next
 *	connection). A server-name callback on the default context looks
 *	the name the client sent (SNI, RFC 6066 section 3) up in the table
 *	and switches the connection to that context with SSL_set_SSL_CTX();
 *	no name, or one the table does not know, keeps the default. The
 *	table and its contexts hang off the default context (ex_data) and
 *	go when it is freed. io_start_tls_server() needs no change.
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
 *	when OpenSSL cannot build a context (temporary). For the tls_sni
 *	table, the reasons of tlssni_load(), and for a pair it names
 *	"TABLE:LINE: cannot load certificate CERT: REASON" (or the key, or
 *	"does not match") with EINVAL.
 *
 * SECURITY
 *	Reads the key files, so a server builds its context before it drops
 *	privileges, or the keys are readable by its user alone. The files
 *	named are trusted configuration. The server name comes from the
 *	client: it is only looked up (tlssni_match() bounds it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "tls.h"
#include "tlssni.h"

static _Thread_local char tls_errbuf[1024];

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

/* The tls_sni table and one context per line, owned by the default one. */
struct sni {
	struct tlssni_table table;
	SSL_CTX **ctx;		/* table.n of them */
};

static int sni_index = -1;	/* ex_data slot for struct sni */

/* sni_release - free a struct sni (the ex_data free callback) */
static void
sni_release(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct sni *s = ptr;
	size_t i;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (s == NULL)
		return;
	for (i = 0; s->ctx != NULL && i < s->table.n; i++)
		SSL_CTX_free(s->ctx[i]);
	free(s->ctx);
	tlssni_free(&s->table);
	free(s);
}

/* servername - pick the context for the client's SNI; never refuses */
static int
servername(SSL *ssl, int *alert, void *arg)
{
	const struct sni *s = arg;
	const char *name;
	int i;

	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (s == NULL || name == NULL)
		return SSL_TLSEXT_ERR_OK;	/* no SNI: the default */
	i = tlssni_match(&s->table, name);
	if (i < 0)
		return SSL_TLSEXT_ERR_OK;	/* the default certificate */
	if (SSL_set_SSL_CTX(ssl, s->ctx[i]) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* sni_fail - "TABLE:LINE: what" for a pair of the table, return NULL */
static SSL_CTX *
sni_fail(SSL_CTX *ctx, struct sni *s, size_t i, const char *why,
    const char **error_r)
{
	char line[sizeof(tls_errbuf)];

	(void)snprintf(line, sizeof(line), "%s:%lu: %s", s->table.path,
	    s->table.v[i].line, why);
	(void)snprintf(tls_errbuf, sizeof(tls_errbuf), "%s", line);
	*error_r = tls_errbuf;
	SSL_CTX_free(ctx);	/* frees s as well once attached */
	errno = EINVAL;
	return NULL;
}

/* tls_server_ctx_sni - the default context plus the tls_sni table's */
SSL_CTX *
tls_server_ctx_sni(const char *cert_file, const char *key_file,
    const char *sni_table, const char **error_r)
{
	struct buf err = BUF_INIT(4096);
	SSL_CTX *ctx;
	struct sni *s;
	size_t i;
	int e;

	ctx = tls_server_ctx_new(cert_file, key_file, error_r);
	if (ctx == NULL || sni_table == NULL)
		return ctx;
	if (sni_index < 0) {
		sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    sni_release);
		if (sni_index < 0)
			return fail(ctx, ENOMEM, "cannot make a TLS context",
			    NULL, error_r);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return fail(ctx, ENOMEM, "cannot make a TLS context", NULL,
		    error_r);
	if (tlssni_load(sni_table, &s->table, &err) < 0) {
		e = errno;
		(void)snprintf(tls_errbuf, sizeof(tls_errbuf), "%s",
		    buf_cstr(&err));
		buf_free(&err);
		free(s);
		SSL_CTX_free(ctx);
		*error_r = tls_errbuf;
		errno = e;
		return NULL;
	}
	buf_free(&err);
	if (SSL_CTX_set_ex_data(ctx, sni_index, s) != 1) {
		sni_release(NULL, s, NULL, 0, 0, NULL);
		return fail(ctx, ENOMEM, "cannot make a TLS context", NULL,
		    error_r);
	}
	if (s->table.n > 0 &&
	    (s->ctx = calloc(s->table.n, sizeof(*s->ctx))) == NULL)
		return fail(ctx, ENOMEM, "cannot make a TLS context", NULL,
		    error_r);
	for (i = 0; i < s->table.n; i++) {
		const char *why;

		s->ctx[i] = tls_server_ctx_new(s->table.v[i].cert,
		    s->table.v[i].key, &why);
		if (s->ctx[i] == NULL)
			return sni_fail(ctx, s, i, why, error_r);
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, servername);
	SSL_CTX_set_tlsext_servername_arg(ctx, s);
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
