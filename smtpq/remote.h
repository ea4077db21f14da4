/*
 * NAME
 *	remote.h - the SMTP client's shared state, between its files
 *
 * DESCRIPTION
 *	remote(8) is split by concern:
 *
 *	remote.c		main: arguments, envelope, results, die_*()
 *	remote-conf.c		settings from the config (timeouts, tables)
 *	remote-route.c		where to connect: transport table, relayhost,
 *				MX (common/dns.c), loops back to ourselves
 *	remote-policy.c		the per-destination TLS policy table
 *	remote-sasl.c		relayhost credentials and AUTH PLAIN/LOGIN
 *	remote-session.c	one SMTP session with one server address
 *	remote-data.c		the message: size, 8-bit scan, DATA encoding
 *
 *	Replies are parsed by common/smtpreply.c.
 */
#ifndef REMOTE_H
#define REMOTE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "buf.h"
#include "config.h"
#include "dns.h"
#include "envelope.h"
#include "io.h"

#define REMOTE_TEXT_MAX		900	/* octets of a result's text */
#define REMOTE_HOSTS_MAX	10	/* hosts of one route looked at */
#define REMOTE_ADDRS_MAX	16	/* addresses kept for one host */
#define REMOTE_ATTEMPTS_MAX	10	/* connections made in one run */
#define REMOTE_PEER_MAX		(DNS_NAME_MAX + 64)	/* "host[ip]:port" */
#define REMOTE_CRED_MAX		255	/* octets of a user name or password */
#define REMOTE_DATA_LINE	998	/* octets of a DATA line, CR LF aside */

/* Per-destination TLS policy (tls_policy table), weakest first. */
enum tls_level {
	TLSL_NONE = 0,		/* never STARTTLS */
	TLSL_MAY,		/* STARTTLS when offered, unverified */
	TLSL_ENCRYPT,		/* TLS required, unverified */
	TLSL_REQUIRE,		/* TLS required, certificate verified */
};

struct remote_settings {
	const char *tls_policy;		/* text table, or NULL */
	const char *tls_ca_file;	/* CA bundle, or NULL: the system's */
	const char *credentials;	/* credentials file, or NULL */
	int connect_ms;			/* per connect and TLS handshake */
	int greeting_ms;		/* greeting, EHLO, STARTTLS, AUTH */
	int mail_ms;
	int rcpt_ms;
	int data_ms;			/* the 354 */
	int block_ms;			/* each data write */
	int dot_ms;			/* the reply to "." */
	int dns_ms;			/* one DNS attempt */
};

/* One host to try: a name (or address) and its addresses. */
struct target {
	char host[DNS_NAME_MAX + 1];	/* name, or the address as text */
	int is_name;			/* host is a DNS name */
	unsigned pref;			/* MX preference (0 otherwise) */
	unsigned port;
	struct dns_addr addr[REMOTE_ADDRS_MAX];
	size_t n_addr;
};

enum route_kind {
	ROUTE_MX,		/* the domain's MX hosts */
	ROUTE_IMPLICIT,		/* no MX: the domain itself (RFC 5321 5.1) */
	ROUTE_LITERAL,		/* an address literal domain, [192.0.2.1] */
	ROUTE_TRANSPORT,	/* the transport table */
	ROUTE_RELAYHOST,	/* the relayhost */
};

struct route {
	enum route_kind kind;
	struct target t[REMOTE_HOSTS_MAX];
	size_t n;
	char fail;			/* 0, or 'Z'/'D': no target */
	char fail_text[REMOTE_TEXT_MAX];
};

struct rcpt {
	const struct envelope_rcpt *e;
	char kind;			/* 0 until known, then K, R, Z or D
					   (R: K, but its NOTIFY/ORCPT was
					   dropped: no DSN at the next hop) */
	char text[REMOTE_TEXT_MAX];	/* "X.Y.Z text" */
	char relay[REMOTE_PEER_MAX];	/* the server that said it, or "" */
	int accepted;			/* 2xx to RCPT in this session */
	int utf8;			/* the address is not ASCII */
};

struct msg {
	int fd;				/* the message, read with pread */
	off_t start;			/* where it starts in fd */
	off_t len;			/* octets stored */
	uint64_t size;			/* octets on the wire (RFC 1870) */
	int eight_header;		/* an octet > 0x7f in the header */
	int eight_body;			/* an octet > 0x7f in the body */
};

struct cred {
	char user[REMOTE_CRED_MAX + 1];
	char pass[REMOTE_CRED_MAX + 1];
};

struct job {
	struct config *cfg;
	struct remote_settings set;
	const char *qid;
	struct envelope env;
	char domain[ADDR_DOMAIN_MAX + 1];	/* lower case, no final dot */
	struct rcpt *rcpts;
	size_t n;
	struct msg msg;
	int needs_utf8;			/* SMTPUTF8 must be offered */
	int binarymime;			/* BODY=BINARYMIME was given */
	enum route_kind route;
	enum tls_level tls;		/* the policy for this route */
	int have_cred;
	struct cred cred;		/* AUTH for the relayhost/transport */
	SSL_CTX *ctx[2];		/* [0] unverified, [1] verified */
	char last_kind;			/* the last session failure: 'Z'/'D' */
	char last_text[REMOTE_TEXT_MAX];
	int any_temp;			/* some attempt failed temporarily */
	char peer[REMOTE_PEER_MAX];	/* "host[ip]" (":port" unless 25) */
};

/* remote-session.c outcomes */
#define SESSION_DONE	0	/* every open recipient has a result */
#define SESSION_NEXT	1	/* try the next address (last_* say why) */
#define SESSION_PLAIN	2	/* TLS broke under "may": again, in plain */

/* remote.c */
void remote_set(struct rcpt *r, char kind, const char *relay,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void remote_output(struct job *j);
void remote_fail(struct job *j, char kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void remote_log(int level, const struct job *j, const char *event, ...)
    __attribute__((sentinel));

/* remote-conf.c */
void settings_load(const struct config *cfg, struct remote_settings *s);

/* remote-route.c */
void route_find(struct job *j, struct route *r);
int route_parse_hostport(const char *s, size_t len, char *host,
    size_t hostsize, unsigned *port_r);
int route_is_self(const struct config *cfg, const struct target *t);
void route_order_addrs(struct target *t);
struct table;
int route_table_open(const struct config *cfg, const char *text,
    const char *name, struct table **t_r, const char **error_r);
int route_table_lookup(struct table *t, const char *domain,
    struct buf *value);

/* remote-policy.c */
int policy_lookup(struct job *j, const char *key, enum tls_level *level_r,
    const char **error_r);
int policy_parse(const char *value, size_t len, enum tls_level *level_r);
const char *policy_name(enum tls_level level);
SSL_CTX *policy_ctx(struct job *j, int verify, const char **error_r);

/* remote-sasl.c */
int sasl_find(const char *path, const char *host, unsigned port,
    struct cred *c, const char **error_r);
int sasl_plain(const struct cred *c, struct buf *out);
int sasl_base64(const char *p, size_t n, struct buf *out);

/* remote-session.c */
int session_run(struct job *j, const struct target *t,
    const struct dns_addr *a, int no_starttls);

/* remote-data.c */
struct dataenc {
	int bol;		/* at the start of an output line */
	int cr;			/* a CR is held back */
	int in_header;		/* still in the header section */
	size_t col;		/* octets on the current output line */
	uint64_t wire;		/* octets out, stuffing dots and "." aside */
	int eight_header, eight_body;
};

void data_init(struct dataenc *e);
int data_feed(struct dataenc *e, const char *p, size_t n, struct buf *out);
int data_end(struct dataenc *e, struct buf *out);
int data_open(int fd, uint64_t limit, struct msg *m, const char **error_r);
int data_scan(struct msg *m, const char **error_r);
int data_send(const struct msg *m, struct io *io, const char **error_r);

#endif
