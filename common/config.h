/*
 * NAME
 *	config.h - the mailstack.conf reader
 *
 * DESCRIPTION
 *	config_load() reads a mailstack.conf(5) file into a struct config.
 *	Every field is set (to its value or its default) or marked unset as
 *	described beside it. Paths are absolute: a relative path in the file
 *	is resolved against the folder of the file. Paths are checked for
 *	syntax only; whether the files exist is the program's business (and
 *	mailctl check's).
 *
 *	A program that reloads on SIGHUP loads into a second struct config
 *	and swaps it in only when config_load() succeeded.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cidr.h"

#define CONFIG_LINE_MAX		4096	/* octets a line, no LF */
#define CONFIG_FILE_MAX		(1024 * 1024)	/* octets a file */
#define CONFIG_SIZE_DEFAULT	52428800	/* message_size_limit */
#define CONFIG_SIZE_MAX		((uint64_t)2 * 1024 * 1024 * 1024)
#define CONFIG_HOST_MAX		46	/* an IP literal and NUL */
#define CONFIG_COUNT_MAX	1000000000	/* T_COUNT values */
#define CONFIG_DURATION_MAX	((uint64_t)10 * 366 * 86400)	/* ten years */

/* A listener: listen_smtp, listen_submission, ... */
struct config_listen {
	int set;			/* 0: not configured, not opened */
	char host[CONFIG_HOST_MAX];	/* IP literal, no brackets */
	unsigned port;			/* 1..65535 */
	struct sockaddr_storage addr;	/* host and port, for bind() */
	socklen_t addrlen;
};

/* relayhost: a smarthost. */
struct config_hostport {
	char *host;		/* NULL: not set; name or IP, no brackets */
	unsigned port;			/* default 25 */
};

/* One of dns_servers. */
struct config_server {
	int family;			/* AF_INET or AF_INET6 */
	char host[CONFIG_HOST_MAX];	/* IP literal, no brackets */
	unsigned port;			/* default 53 */
};

struct config_servers {
	struct config_server *v;
	size_t n;
};

struct config_strings {
	char **v;
	size_t n;
};

struct config {
	char *path;			/* the file, as given */
	char *dir;			/* its folder, absolute */

	char *hostname;			/* default: gethostname() */
	struct config_strings domains;	/* lower case; default none */
	char *state_dir;		/* required */
	char *mail_dir;			/* required */
	char *users;			/* NULL: not set */
	char *aliases;			/* NULL: not set */
	char *log;			/* syslog (default), stderr, a path */

	struct config_listen listen_smtp;
	struct config_listen listen_submission;
	struct config_listen listen_submissions;	/* needs TLS */
	struct config_listen listen_pop3;
	struct config_listen listen_pop3s;		/* needs TLS */
	struct config_listen listen_imap;
	struct config_listen listen_imaps;		/* needs TLS */

	char *tls_cert;			/* NULL: not set; both or none */
	char *tls_key;
	char *tls_sni;			/* NULL: not set; NAME CERT KEY table */
	struct cidr_list relay_networks;	/* default: none */
	struct config_hostport relayhost;
	char *transport;		/* NULL: not set */
	struct config_servers dns_servers;	/* none: the system's */
	uint64_t message_size_limit;	/* 1..CONFIG_SIZE_MAX */
	int allow_plaintext_auth;	/* 0 (default) or 1 */
	uint64_t max_sessions;		/* per listener, default 500 */
	uint64_t max_sessions_per_ip;	/* per listener and client, default 20 */
	uint64_t max_connection_rate;	/* new ones a minute per client (600) */
	uint64_t shutdown_grace;	/* seconds sessions get at SIGTERM (10) */

	/* the queue (seconds, counts, bytes; see mailstack.conf(5)) */
	uint64_t queue_retry_min;		/* first retry (5m) */
	uint64_t queue_retry_max;		/* back-off cap (4h), >= min */
	uint64_t queue_lifetime;		/* then bounce (5d) */
	uint64_t queue_delay_warning;		/* DSN DELAY after (4h), 0 never */
	uint64_t queue_concurrency;		/* jobs at once (20) */
	uint64_t queue_destination_concurrency;	/* per domain (10) */
	uint64_t deliver_timeout;		/* a deliver job (10m) */
	uint64_t remote_timeout;		/* a remote job (1h) */
	uint64_t bounce_size_limit;		/* original in a bounce (100k) */
	uint64_t hop_limit;			/* Received: fields (100) */

	/* smtpd (seconds, counts) */
	uint64_t smtpd_timeout;			/* a command (5m) */
	uint64_t smtpd_data_timeout;		/* a wait in DATA/BDAT (3m) */
	uint64_t smtpd_tls_timeout;		/* a TLS handshake (1m) */
	uint64_t smtpd_min_data_rate;		/* octets/s in DATA (500), 0 none */
	uint64_t smtpd_max_recipients;		/* a message (100, >= 100) */
	uint64_t smtpd_max_errors;		/* then 421 (20) */
	uint64_t smtpd_max_unknown_commands;	/* then 421 (10) */
	uint64_t smtpd_max_junk_commands;	/* then 421 (100) */
	uint64_t smtpd_max_auth_failures;	/* then 421 (3) */
	int smtpd_vrfy_authenticated;		/* VRFY answers logged-in users */

	/* imapd (counts, seconds, bytes) */
	uint64_t imap_max_sessions_per_user_ip;	/* (10), <= 1000 */
	uint64_t imap_idle_timeout;		/* logged in (30m), >= 30m */
	uint64_t imap_login_timeout;		/* before login (1m) */
	uint64_t imap_command_timeout;		/* one command (5m) */
	uint64_t imap_literal_max;		/* not APPEND's (64k) */

	/* pop3d (seconds, octets/s) */
	uint64_t pop3_idle_timeout;		/* autologout (10m), >= 10m */
	uint64_t pop3_tls_timeout;		/* a TLS handshake (1m) */
	uint64_t pop3_min_send_rate;		/* RETR/TOP (1024), 0 none */

	/* remote: TLS, credentials, RFC 5321 4.5.3.2 timeouts (seconds) */
	char *tls_policy;			/* DOMAIN none|may|encrypt|require */
	char *remote_tls_ca_file;		/* for "require"; NULL: system's */
	char *remote_credentials;		/* HOST[:PORT] USER PASSWORD */
	uint64_t remote_connect_timeout;	/* connect + TLS (30s) */
	uint64_t remote_greeting_timeout;	/* 220, EHLO, STARTTLS, AUTH (5m) */
	uint64_t remote_mail_timeout;		/* MAIL (5m) */
	uint64_t remote_rcpt_timeout;		/* each RCPT (5m) */
	uint64_t remote_data_timeout;		/* 354 (2m) */
	uint64_t remote_block_timeout;		/* each data write (3m) */
	uint64_t remote_dot_timeout;		/* the final "." (10m) */
	uint64_t dns_timeout;			/* one query attempt (5s) */

	/* privilege separation: used only when maild runs as root */
	int privilege_separation;	/* yes (default): services as users */
	char *user_smtpd;		/* smtpd (mailsmtpd) */
	char *user_queue;		/* smtpq, inject; owns the queue (mailq) */
	char *user_remote;		/* remote (mailremote) */
	char *user_auth;		/* authd; owns the password hashes */
	char *user_login;		/* pop3d/imapd before login */
	char *user_mail;		/* owns the Maildirs (vmail) */
};

int config_load(const char *path, struct config *cfg, struct buf *err);
void config_free(struct config *cfg);
int config_is_local_domain(const struct config *cfg, const char *domain);
const struct config_listen *config_listener(const struct config *cfg,
    size_t i, const char **key_r);

#endif
