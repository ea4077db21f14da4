/*
 * NAME
 *	imapd - the IMAP server: mailbox access (steps 6 and 7)
 *
 * SYNOPSIS
 *	imapd -c FILE -m imap|imaps [-U]
 *	imapd-user -c FILE -m imap|imaps -H
 *
 *	void die_temp(struct imapd *d, const char *why);
 *	void die_io(struct imapd *d, const char *what);
 *	void die_bye(struct imapd *d, const char *text, const char *why);
 *	void imapd_send(struct imapd *d, const void *p, size_t n);
 *	void imapd_printf(struct imapd *d, const char *fmt, ...);
 *	void imapd_flush(struct imapd *d);
 *	void imapd_log(struct imapd *d, int level, const char *event,
 *	    const char *fmt, ...);
 *
 * DESCRIPTION
 *	maild(8) runs one imapd per connection, with the connection on
 *	descriptors 0 and 1. FILE is mailstack.conf(5); -m imap speaks
 *	IMAP in plaintext and offers STARTTLS, -m imaps starts TLS with the
 *	first byte. This file reads the arguments and configuration, sets
 *	up logging, TLS and the connection and hands over to the session
 *	(imapd-session.c). See imapd(8).
 *
 *	With -H the program is imapd-user, the post-login half: a login
 *	process (imapd, as user_login) started it after authd accepted a
 *	login, with the client on 0 and 1 (or a relay from its TLS) and the
 *	handoff on descriptor 3 (handoff.h). It redeems the ticket, finishes
 *	the login and runs the session. make install makes imapd-user
 *	set-uid to the mail owner; privdrop_setuid() then checks the config
 *	and keeps only those ids. Run set-uid without -H, it refuses.
 *
 *	The die_*() helpers end the session: die_temp() for a failure on
 *	our side ("* BYE [UNAVAILABLE]", exit 111), die_io() when the
 *	connection failed (nothing can be sent, exit 111), die_bye() for a
 *	client we send away ("* BYE text", exit 0).
 *
 * DIAGNOSTICS
 *	Exit 0 after LOGOUT, when the client closed the connection or was
 *	sent away; 111 after a temporary failure (I/O error, timeout, TLS
 *	failure, no memory, unreadable configuration or mailbox); 100 for a
 *	usage error. Every end of a session is logged with the client's
 *	address.
 *
 * SECURITY
 *	Before login imapd opens nothing under mail_dir: it reads the
 *	configuration and the TLS key, asks authd about passwords (auth.h)
 *	and writes the login throttle table in state_dir; under maild as
 *	root it runs as user_login, which can read no mail and no hash. After login it opens only the user's Maildir and confines
 *	itself to it (imapd-auth.c). Everything from the client is untrusted
 *	and bounded; logged peer text goes through log_kv.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fail.h"
#include "handoff.h"
#include "imapd.h"
#include "log.h"
#include "privdrop.h"
#include "str.h"
#include "tls.h"

static struct imapd *session;		/* for the out-of-memory handler */

/* die_usage - wrong arguments: say how, exit 100 */
static void __attribute__((noreturn))
die_usage(void)
{
	fprintf(stderr, "usage: imapd -c FILE -m imap|imaps\n");
	exit(FAIL_EXIT_PERM);
}

/* die_config - the configuration cannot be used: log, tell, exit 111 */
static void __attribute__((noreturn))
die_config(int plaintext, const char *why)
{
	log_event(LOG_ERR, "event=abort error=\"%s\"", why);
	if (plaintext) {
		static const char msg[] =
		    "* BYE [UNAVAILABLE] Server configuration error\r\n";

		(void)!send(1, msg, sizeof(msg) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	exit(FAIL_EXIT_TEMP);
}

/* user_kv - " user=..." when logged in */
static void
user_kv(struct imapd *d, struct buf *b)
{
	if (d->address[0] != '\0')
		(void)log_kv_str(b, "user", d->address);
}

/* die_temp - a temporary failure on our side: BYE, log, exit 111 */
void
die_temp(struct imapd *d, const char *why)
{
	struct buf b = BUF_INIT(512);

	user_kv(d, &b);
	log_event(LOG_ERR, "event=abort client=%s%s error=\"%s\"", d->client,
	    buf_cstr(&b), why);
	buf_free(&b);
	if (d->io != NULL) {
		io_set_deadline(d->io, 5000);
		(void)io_puts(d->io, "* BYE [UNAVAILABLE] Internal error, "
		    "try again later\r\n");
		(void)io_flush(d->io);
	}
	exit(FAIL_EXIT_TEMP);
}

/* die_io - the connection failed (or timed out): log, exit 111 */
void
die_io(struct imapd *d, const char *what)
{
	int err = errno;
	struct buf b = BUF_INIT(512);

	user_kv(d, &b);
	if (err == ETIMEDOUT && d->io != NULL) {
		io_set_deadline(d->io, 2000);
		(void)io_puts(d->io, "* BYE Disconnected for inactivity\r\n");
		(void)io_flush(d->io);
	}
	(void)log_kv_str(&b, "error", d->io != NULL && err == EPROTO ?
	    io_error(d->io) : strerror(err));
	log_event(LOG_NOTICE, "event=disconnect client=%s reason=%s%s "
	    "step=7 messages=%llu octets=%llu", d->client, what, buf_cstr(&b),
	    (unsigned long long)d->sent_msgs,
	    (unsigned long long)d->sent_octets);
	buf_free(&b);
	exit(FAIL_EXIT_TEMP);
}

/* die_bye - send the client away: "* BYE text", log, exit 0 */
void
die_bye(struct imapd *d, const char *text, const char *why)
{
	struct buf b = BUF_INIT(512);

	user_kv(d, &b);
	log_event(LOG_NOTICE, "event=disconnect client=%s%s reason=%s",
	    d->client, buf_cstr(&b), why);
	buf_free(&b);
	io_set_deadline(d->io, 5000);
	(void)io_printf(d->io, "* BYE %s\r\n", text);
	(void)io_flush(d->io);
	exit(0);
}

/* die_oom - out of memory: temporary */
static void
die_oom(void)
{
	if (session != NULL)
		die_temp(session, "out of memory");
	exit(FAIL_EXIT_TEMP);
}

/* imapd_send - queue n octets for the client */
void
imapd_send(struct imapd *d, const void *p, size_t n)
{
	if (io_write(d->io, p, n) < 0)
		die_io(d, "write");
}

/* imapd_printf - queue formatted text for the client */
void
imapd_printf(struct imapd *d, const char *fmt, ...)
{
	struct buf b = BUF_INIT(IO_PRINTF_MAX);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r < 0)
		die_temp(d, "response too long");
	imapd_send(d, b.data, b.len);
	buf_free(&b);
}

/* imapd_flush - send what is queued */
void
imapd_flush(struct imapd *d)
{
	if (io_flush(d->io) < 0)
		die_io(d, "write");
}

/* imapd_log - log an event with the client, the user and more */
void
imapd_log(struct imapd *d, int level, const char *event, const char *fmt,
    ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	va_list ap;

	(void)buf_printf(&b, "event=%s client=%s", event, d->client);
	user_kv(d, &b);
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	log_event(level, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* seconds_ms - a configured duration in milliseconds, for io.h */
static int
seconds_ms(uint64_t s)
{
	return s > INT_MAX / 1000 ? INT_MAX : (int)(s * 1000);
}

/* limits_from_config - the session's limits and timeouts */
static void
limits_from_config(struct imapd_limits *lim, const struct config *cfg)
{
	lim->login_ms = seconds_ms(cfg->imap_login_timeout);
	lim->idle_ms = seconds_ms(cfg->imap_idle_timeout);
	lim->cmd_ms = seconds_ms(cfg->imap_command_timeout);
	lim->literal_max = cfg->imap_literal_max;
	lim->sessions = cfg->imap_max_sessions_per_user_ip > 1000 ? 1000 :
	    (unsigned)cfg->imap_max_sessions_per_user_ip;
}

/* handed_session - imapd-user: take the client a login process passed on */
static void __attribute__((noreturn))
handed_session(struct imapd *d)
{
	static struct handoff h;
	const char *error = NULL;

	if ((d->io = handoff_take(&h, d->lim.idle_ms, &error)) == NULL) {
		log_event(LOG_ERR, "event=handoff error=\"%s\"", error);
		exit(FAIL_EXIT_TEMP);
	}
	(void)str_copy(d->client, sizeof(d->client), h.client);
	d->handed_off = 1;
	imapd_handed_login(d, &h);
	explicit_bzero(h.ticket, sizeof(h.ticket));
	imapd_session(d);
}

/* main - arguments, configuration, log, TLS, then the session */
int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct imapd d;
	struct buf err = BUF_INIT(4096);
	const char *path = NULL, *mode = NULL, *error = NULL;
	int ch, handed = 0, drop = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "c:m:HU")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'H':
			handed = 1;
			break;
		case 'U':
			drop = 1;
			break;
		case 'm':
			mode = optarg;
			break;
		default:
			die_usage();
		}
	}
	if (path == NULL || mode == NULL || optind != argc ||
	    (strcmp(mode, "imap") != 0 && strcmp(mode, "imaps") != 0))
		die_usage();
	d.implicit_tls = strcmp(mode, "imaps") == 0;
	d.root_fd = -1;
	session = &d;
	alloc_set_oom_handler(die_oom);
	if (privdrop_post_login(path, handed, &error) < 0) {
		log_event(LOG_ERR, "event=setuid error=\"%s: %s\"", error,
		    strerror(errno));
		exit(FAIL_EXIT_TEMP);
	}

	if (config_load(path, &cfg, &err) < 0) {
		log_event(LOG_ERR, "event=config error=\"%s\"", buf_cstr(&err));
		die_config(!d.implicit_tls, "cannot load the configuration");
	}
	d.cfg = &cfg;
	limits_from_config(&d.lim, &cfg);
	if (log_open("imapd", cfg.log, &error) < 0)
		die_config(!d.implicit_tls, error);
	if (handed)
		handed_session(&d);
	d.have_tkey = throttle_peer(0, d.client, sizeof(d.client),
	    d.tkey);

	if (cfg.tls_cert != NULL && cfg.tls_key != NULL) {
		d.tls_ctx = tls_server_ctx_sni(cfg.tls_cert, cfg.tls_key,
		    cfg.tls_sni, &error);
		if (d.tls_ctx == NULL) {
			log_event(LOG_ERR, "event=tls-setup error=\"%s\"",
			    error);
			if (d.implicit_tls)
				die_config(0, "cannot load the certificate");
		}
	} else if (d.implicit_tls)
		die_config(0, "imaps needs tls_cert and tls_key");

	if (drop) {
		if (privdrop_to(cfg.user_login, &error) < 0) {
			log_event(LOG_ERR, "event=setuid error=\"%s\"", error);
			exit(FAIL_EXIT_TEMP);
		}
		d.have_tkey = 0;	/* authd throttles logins */
	}
	if ((d.io = io_new(0, 1, d.lim.login_ms)) == NULL)
		die_config(0, "cannot use the connection descriptors");
	log_event(LOG_INFO, "event=connect client=%s mode=%s", d.client, mode);
	if (d.implicit_tls) {
		io_set_timeout(d.io, IMAPD_TLS_SECS * 1000);
		if (io_start_tls_server(d.io, d.tls_ctx, &error) < 0)
			die_io(&d, "tls-handshake");
		io_set_timeout(d.io, d.lim.login_ms);
	}
	buf_free(&err);
	imapd_session(&d);
}
