/*
 * NAME
 *	pop3d - the POP3 server: mailbox retrieval (steps 6 and 7)
 *
 * SYNOPSIS
 *	pop3d -c FILE -m pop3|pop3s [-t MS] [-U]
 *	pop3d-user -c FILE -m pop3|pop3s -H
 *
 *	void die_temp(struct pop3d *p, const char *reply, const char *why);
 *	void die_io(struct pop3d *p, const char *what);
 *	void pop3d_reply(struct pop3d *p, const char *fmt, ...);
 *	void pop3d_flush(struct pop3d *p);
 *	void pop3d_log_user(struct pop3d *p, int level, const char *event,
 *	    const char *fmt, ...);
 *
 * DESCRIPTION
 *	maild(8) runs one pop3d per connection, with the connection on
 *	descriptors 0 and 1. FILE is mailstack.conf(5); -m pop3 speaks POP3
 *	in plaintext and offers STLS (RFC 2595), -m pop3s starts TLS with
 *	the first byte. This file reads the arguments and the configuration,
 *	sets up logging, TLS and the connection, and hands over to the
 *	session (pop3d-session.c). See pop3d(8) for the protocol.
 *
 *	The timeouts come from pop3_idle_timeout, pop3_tls_timeout and
 *	pop3_min_send_rate. -t MS, for the tests only (maild never passes
 *	it), sets the idle and TLS timeouts to MS milliseconds instead,
 *	below the 10 minutes RFC 1939 requires of the idle timer, so that a
 *	test need not wait that long. The certificates are tls_cert/tls_key
 *	and, for the names in it, the tls_sni table (tls.c).
 *
 *	The die_*() helpers end the session: die_temp() for a failure on our
 *	side (it sends REPLY, if any, then exits 111), die_io() when the
 *	connection itself failed (nothing can be sent). pop3d_reply() sends
 *	one response line (CRLF added); output is buffered and goes out when
 *	the client's pipelined commands run out, or at pop3d_flush().
 *
 * DIAGNOSTICS
 *	Exit 0 after QUIT or when the client closed the connection or was
 *	sent away (bad commands, failed logins, mailbox in use); 111 after
 *	a temporary failure (I/O error, timeout, TLS failure, no memory,
 *	unreadable configuration or mailbox); 100 for a usage error.
 *	Every end of a session is logged with the client's address.
 *
 * SECURITY
 *	Before login pop3d opens nothing under mail_dir; it reads the
 *	configuration and the TLS key, asks authd about passwords (auth.h)
 *	and, run alone, writes the login throttle table in state_dir; with
 *	-U (maild as root) it runs as user_login, which can read no mail and
 *	no hash, and a login goes on in pop3d-user (-H, set-uid to the mail
 *	user, handoff.h), which redeems authd's ticket. After login it opens
 *	only the user's
 *	Maildir and confines itself to it (pop3d-maildrop.c): chroot and
 *	the Maildir owner's user id when started as root, and a Landlock
 *	ruleset where the kernel has one. Everything from the client is
 *	untrusted and bounded (pop3d-cmd.c, pop3d-session.c); logged peer
 *	text goes through log_kv.
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
#include "log.h"
#include "privdrop.h"
#include "pop3d.h"
#include "str.h"
#include "tls.h"

#define EXIT_USAGE	FAIL_EXIT_PERM

static struct pop3d *session;		/* for the out-of-memory handler */

/* die_usage - wrong arguments: say how, exit 100 */
static void __attribute__((noreturn))
die_usage(void)
{
	fprintf(stderr, "usage: pop3d -c FILE -m pop3|pop3s [-t MS]\n");
	exit(EXIT_USAGE);
}

/* die_config - the configuration cannot be used: log, tell, exit 111 */
static void __attribute__((noreturn))
die_config(int plaintext, const char *why)
{
	log_event(LOG_ERR, "event=abort error=\"%s\"", why);
	if (plaintext) {
		static const char msg[] =
		    "-ERR [SYS/TEMP] Server configuration error\r\n";

		(void)!send(1, msg, sizeof(msg) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	exit(FAIL_EXIT_TEMP);
}

/* die_temp - a temporary failure on our side: reply, log, exit 111 */
void
die_temp(struct pop3d *p, const char *reply, const char *why)
{
	struct buf b = BUF_INIT(512);

	if (p->address[0] != '\0')
		(void)log_kv_str(&b, "user", p->address);
	log_event(LOG_ERR, "event=abort client=%s%s error=\"%s\"", p->client,
	    buf_cstr(&b), why);
	buf_free(&b);
	if (reply != NULL && p->io != NULL) {
		io_set_deadline(p->io, 5000);
		(void)io_printf(p->io, "%s\r\n", reply);
		(void)io_flush(p->io);
	}
	exit(FAIL_EXIT_TEMP);
}

/* die_io - the connection failed (or timed out): log, exit 111 */
void
die_io(struct pop3d *p, const char *what)
{
	int err = errno;
	struct buf b = BUF_INIT(512);

	if (p->address[0] != '\0')
		(void)log_kv_str(&b, "user", p->address);
	if (err == ETIMEDOUT && p->io != NULL) {
		/* RFC 1939 autologout: say why, if the client still listens. */
		io_set_deadline(p->io, 2000);
		(void)io_puts(p->io,
		    "-ERR Disconnected for inactivity\r\n");
		(void)io_flush(p->io);
	}
	(void)log_kv_str(&b, "error", p->io != NULL && err == EPROTO ?
	    io_error(p->io) : strerror(err));
	pop3d_summary(p, &b);
	log_event(LOG_NOTICE, "event=disconnect client=%s reason=%s%s",
	    p->client, what, buf_cstr(&b));
	buf_free(&b);
	exit(FAIL_EXIT_TEMP);
}

/* die_oom - out of memory: temporary, tell the client */
static void
die_oom(void)
{
	if (session != NULL)
		die_temp(session, "-ERR [SYS/TEMP] Out of memory",
		    "out of memory");
	exit(FAIL_EXIT_TEMP);
}

/* pop3d_reply - send one response line (CRLF added) */
void
pop3d_reply(struct pop3d *p, const char *fmt, ...)
{
	struct buf b = BUF_INIT(1024);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r < 0 || buf_append(&b, "\r\n", 2) < 0)
		die_temp(p, "-ERR [SYS/TEMP] Internal error",
		    "response too long");
	if (io_write(p->io, b.data, b.len) < 0)
		die_io(p, "write");
	buf_free(&b);
}

/* pop3d_flush - send what is buffered now */
void
pop3d_flush(struct pop3d *p)
{
	if (io_flush(p->io) < 0)
		die_io(p, "write");
}

/* pop3d_log_user - log an event with the client and user, and more */
void
pop3d_log_user(struct pop3d *p, int level, const char *event,
    const char *fmt, ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	va_list ap;

	(void)buf_printf(&b, "event=%s client=%s", event, p->client);
	if (p->address[0] != '\0')
		(void)log_kv_str(&b, "user", p->address);
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	log_event(level, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* seconds_ms - a duration from the config in ms, capped at INT_MAX */
static int
seconds_ms(uint64_t secs)
{
	return secs > (uint64_t)INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

/* handed_session - pop3d-user: take the client a login process passed on */
static void __attribute__((noreturn))
handed_session(struct pop3d *p)
{
	static struct handoff h;
	const char *error = NULL;

	if ((p->io = handoff_take(&h, p->idle_ms, &error)) == NULL) {
		log_event(LOG_ERR, "event=handoff error=\"%s\"", error);
		exit(FAIL_EXIT_TEMP);
	}
	(void)str_copy(p->client, sizeof(p->client), h.client);
	p->handed_off = 1;
	pop3d_handed_login(p, &h);
	explicit_bzero(h.ticket, sizeof(h.ticket));
	pop3d_session(p);
}

/* main - arguments, configuration, log, TLS, then the session */
int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct pop3d p;
	struct buf err = BUF_INIT(4096);
	const char *path = NULL, *mode = NULL, *error = NULL;
	uint64_t test_ms = 0;
	int ch, handed = 0, drop = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "c:m:t:HU")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'H':
			handed = 1;
			break;
		case 'U':
			drop = 1;
			break;
		case 't':
			if (str_parse_u64(optarg, strlen(optarg),
			    POP3D_TEST_MS_MAX, &test_ms) < 0 || test_ms == 0)
				die_usage();
			break;
		default:
			die_usage();
		}
	}
	if (path == NULL || mode == NULL || optind != argc ||
	    (strcmp(mode, "pop3") != 0 && strcmp(mode, "pop3s") != 0))
		die_usage();
	p.implicit_tls = strcmp(mode, "pop3s") == 0;
	p.lock_fd = -1;
	session = &p;
	alloc_set_oom_handler(die_oom);
	if (privdrop_post_login(path, handed, &error) < 0) {
		log_event(LOG_ERR, "event=setuid error=\"%s: %s\"", error,
		    strerror(errno));
		exit(FAIL_EXIT_TEMP);
	}

	if (config_load(path, &cfg, &err) < 0) {
		log_event(LOG_ERR, "event=config error=\"%s\"", buf_cstr(&err));
		die_config(!p.implicit_tls, "cannot load the configuration");
	}
	p.cfg = &cfg;
	p.idle_ms = test_ms > 0 ? (int)test_ms :
	    seconds_ms(cfg.pop3_idle_timeout);
	p.tls_ms = test_ms > 0 ? (int)test_ms :
	    seconds_ms(cfg.pop3_tls_timeout);
	p.min_rate = cfg.pop3_min_send_rate;
	if (log_open("pop3d", cfg.log, &error) < 0)
		die_config(!p.implicit_tls, error);
	if (handed)
		handed_session(&p);
	p.have_tkey = throttle_peer(0, p.client, sizeof(p.client),
	    p.tkey);

	if (cfg.tls_cert != NULL && cfg.tls_key != NULL) {
		p.tls_ctx = tls_server_ctx_sni(cfg.tls_cert, cfg.tls_key,
		    cfg.tls_sni, &error);
		if (p.tls_ctx == NULL) {
			log_event(LOG_ERR, "event=tls-setup error=\"%s\"",
			    error);
			if (p.implicit_tls)
				die_config(0, "cannot load the certificate");
		}
	} else if (p.implicit_tls)
		die_config(0, "pop3s needs tls_cert and tls_key");

	if (drop) {
		if (privdrop_to(cfg.user_login, &error) < 0) {
			log_event(LOG_ERR, "event=setuid error=\"%s\"", error);
			exit(FAIL_EXIT_TEMP);
		}
		p.have_tkey = 0;	/* authd throttles logins */
	}
	if ((p.io = io_new(0, 1, p.idle_ms)) == NULL)
		die_config(0, "cannot use the connection descriptors");
	log_event(LOG_INFO, "event=connect client=%s mode=%s", p.client, mode);
	if (p.implicit_tls) {
		io_set_timeout(p.io, p.tls_ms);
		if (io_start_tls_server(p.io, p.tls_ctx, &error) < 0)
			die_io(&p, "tls-handshake");
		io_set_timeout(p.io, p.idle_ms);
	}
	buf_free(&err);
	pop3d_session(&p);
}
