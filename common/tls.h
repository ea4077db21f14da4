/*
 * NAME
 *	tls.h - OpenSSL contexts for the servers and the SMTP client
 *
 * DESCRIPTION
 *	tls_server_ctx_new() and tls_client_ctx_new() build SSL_CTXs with
 *	the stack's one TLS policy (TLS 1.2 and 1.3 only, ECDHE with AEAD
 *	ciphers, no compression, no renegotiation); io_start_tls_server()
 *	and io_start_tls_client() in io.h use them; tls_server_ctx_sni()
 *	adds the certificates of a tls_sni table (tlssni.h). See tls.c.
 */
#ifndef TLS_H
#define TLS_H

#include <openssl/ssl.h>

/* Ciphers for TLS 1.2 (forward secret AEAD only) and for TLS 1.3. */
#define TLS_CIPHERS_12	"ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256"
#define TLS_CIPHERS_13	"TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
    const char **error_r);
SSL_CTX *tls_server_ctx_sni(const char *cert_file, const char *key_file,
    const char *sni_table, const char **error_r);
SSL_CTX *tls_client_ctx_new(int verify, const char *ca_file,
    const char **error_r);
void tls_ctx_free(SSL_CTX *ctx);

#endif
