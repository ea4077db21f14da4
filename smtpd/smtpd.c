/*
 * NAME
 *	smtpd - the SMTP listener: one session on fd 0 and fd 1
 *
 * SYNOPSIS
 *	smtpd -c CONFIG -m smtp|submission|submissions [-t MS]
 *
 * DESCRIPTION
 *	maild(8) accepts a connection on one of the SMTP listeners and runs
 *	smtpd with the socket as fd 0 and fd 1 (inetd style) and the mode
 *	of that listener: smtp (port 25, mail from other MTAs, step 3),
 *	submission (587: STARTTLS and AUTH, step 2) or submissions (465:
 *	TLS from the first byte, then AUTH). smtpd reads the config, finds
 *	the client's address with getpeername(0), and runs one SMTP session
 *	(smtpd-session.c) until the client quits. Accepted messages go to
 *	the queue through inject(8), found beside smtpd's own executable.
 *
 *	-t MS sets every timeout (command, DATA, TLS handshake) to MS
 *	milliseconds; it exists for the tests and may go once the timeouts
 *	are configuration keys.
 *
 *	The die_*() functions below are the only ways a session ends other
 *	than QUIT: each logs one line, sends a last reply when one is due
 *	and can still be sent, and exits.
 *
 * DIAGNOSTICS
 *	Exit status 0: the session ended, whatever the client did (QUIT,
 *	hang-up, timeout, a limit reached, a protocol violation). 111: a
 *	temporary failure on our side (config unreadable, out of memory,
 *	TLS certificate unusable on the submissions port); the client got
 *	421 4.3.0 when possible. 100: bad usage. Events go to the log named
 *	in the config, one line each (see smtpd(8)).
 *
 * SECURITY
 *	Runs as the unprivileged user maild gives it and needs nothing
 *	more: it reads the config, the users/aliases tables (compiled cdb)
 *	and the TLS key, and runs inject. SIGPIPE is ignored. Everything
 *	from the client is hostile; see SECURITY in each smtpd-*.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "fail.h"
#include "io.h"
#include "log.h"
#include "privdrop.h"
#include "str.h"
#include "tls.h"

#include "smtpd.h"

static struct session *current;	/* for die_oom() */

/* last_reply - a final reply, if the stream still works; best effort */
static void
last_reply(struct session *s, int code, const char *status,
    const char *text)
{
	if (s == NULL || s->io == NULL)
		return;
	io_set_deadline(s->io, -1);
	io_set_timeout(s->io, 2000);
	(void)io_printf(s->io, "%d %s %s %s\r\n", code, status,
	    s->cfg->hostname, text);
	(void)io_flush(s->io);
}

/* die_usage - bad arguments: exit 100 */
static void __attribute__((noreturn))
die_usage(void)
{
	log_event(LOG_ERR, "event=usage error=\"usage: smtpd -c CONFIG -m "
	    "smtp|submission|submissions [-t MS]\"");
	exit(FAIL_EXIT_PERM);
}

/* die_config - no usable config: 421 on fd 1, exit 111 */
static void __attribute__((noreturn))
die_config(const char *why)
{
	static const char msg[] =
	    "421 4.3.0 Service temporarily unavailable\r\n";
	struct buf b = BUF_INIT(LOG_LINE_MAX);

	(void)log_kv_str(&b, "event", "config");
	(void)log_kv_str(&b, "error", why);
	log_event(LOG_ERR, "%s", buf_cstr(&b));
	if (write(1, msg, sizeof(msg) - 1) < 0)
		exit(FAIL_EXIT_TEMP);
	exit(FAIL_EXIT_TEMP);
}

/* die_oom - out of memory: 421, exit 111 */
static void __attribute__((noreturn))
die_oom(void)
{
	log_event(LOG_ERR, "event=failure error=\"out of memory\"");
	last_reply(current, 421, "4.3.0",
	    "Error: temporary failure, try again later");
	exit(FAIL_EXIT_TEMP);
}

/* die_temp - a temporary failure on our side: 421 4.3.0, exit 111 */
void
die_temp(struct session *s, const char *what, const char *detail)
{
	session_log(s, LOG_ERR, "failure", "what", what, "error", detail,
	    (const char *)NULL);
	last_reply(s, 421, "4.3.0", "Error: temporary failure, try again "
	    "later");
	session_end(s, what);
	exit(FAIL_EXIT_TEMP);
}

/* die_timeout - the client was too slow: 421 4.4.2, exit 0 */
void
die_timeout(struct session *s)
{
	last_reply(s, 421, "4.4.2", "Error: timeout exceeded");
	session_end(s, "timeout");
	exit(FAIL_EXIT_OK);
}

/* die_hangup - a last reply, then close: limits and violations; exit 0 */
void
die_hangup(struct session *s, int code, const char *status, const char *text,
    const char *why)
{
	if (s->io != NULL) {
		io_set_deadline(s->io, -1);
		io_set_timeout(s->io, 2000);
		(void)io_printf(s->io, "%d %s %s\r\n", code, status, text);
	}
	session_end(s, why);
	exit(FAIL_EXIT_OK);
}

/* die_gone - the client went away or the stream broke: exit 0 */
void
die_gone(struct session *s, const char *why)
{
	session_end(s, why);
	exit(FAIL_EXIT_OK);
}

/* parse_mode - the -m argument */
static int
parse_mode(const char *m)
{
	if (strcmp(m, "smtp") == 0)
		return SMTPD_MODE_SMTP;
	if (strcmp(m, "submission") == 0)
		return SMTPD_MODE_SUBMISSION;
	if (strcmp(m, "submissions") == 0)
		return SMTPD_MODE_SUBMISSIONS;
	return -1;
}

/* peer_address - the client's address from fd 0, as text and sockaddr */
static void
peer_address(struct session *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(ss);
	const void *a;
	int family;

	memset(&ss, 0, sizeof(ss));
	if (getpeername(0, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return;
	s->peer = ss;
	s->have_peer = 1;
	if (ss.ss_family == AF_INET) {
		family = AF_INET;
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	} else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		family = AF_INET;
		a = &sin6->sin6_addr.s6_addr[12];
	} else {
		family = AF_INET6;
		a = &sin6->sin6_addr;
	}
	if (inet_ntop(family, a, s->client_ip, sizeof(s->client_ip)) == NULL)
		s->client_ip[0] = '\0';
}

/* seconds_ms - a duration from the config in milliseconds, at most a day */
static int
seconds_ms(uint64_t seconds)
{
	return seconds > 86400 ? 86400 * 1000 : (int)seconds * 1000;
}

/* count - a count from the config, at most a million */
static unsigned
count(uint64_t n)
{
	return n > 1000000 ? 1000000 : (unsigned)n;
}

/* opts_from_config - the session's limits and timeouts (-t overrides timeouts) */
static void
opts_from_config(struct smtpd_opts *opt, const struct config *cfg,
    int test_timeout_ms)
{
	opt->timeout_ms = seconds_ms(cfg->smtpd_timeout);
	opt->data_timeout_ms = seconds_ms(cfg->smtpd_data_timeout);
	opt->tls_timeout_ms = seconds_ms(cfg->smtpd_tls_timeout);
	if (test_timeout_ms > 0)
		opt->timeout_ms = opt->data_timeout_ms = opt->tls_timeout_ms =
		    test_timeout_ms;
	opt->min_data_rate = count(cfg->smtpd_min_data_rate);
	opt->max_rcpts = count(cfg->smtpd_max_recipients);
	opt->max_errors = count(cfg->smtpd_max_errors);
	opt->max_unknown = count(cfg->smtpd_max_unknown_commands);
	opt->max_junk = count(cfg->smtpd_max_junk_commands);
	opt->max_auth_fail = count(cfg->smtpd_max_auth_failures);
	opt->hops_max = count(cfg->hop_limit);
	opt->vrfy_auth = cfg->smtpd_vrfy_authenticated;
}

/* main - one SMTP session on fd 0 and fd 1 */
int
main(int argc, char **argv)
{
	static struct session sess;
	static struct smtpd_opts opt = {
		SMTPD_TIMEOUT_MS, SMTPD_DATA_TIMEOUT_MS, SMTPD_TLS_TIMEOUT_MS,
		SMTPD_INJECT_TIMEOUT_MS, SMTPD_MIN_DATA_RATE, SMTPD_MAX_RCPTS,
		SMTPD_MAX_ERRORS, SMTPD_MAX_UNKNOWN, SMTPD_MAX_JUNK,
		SMTPD_MAX_AUTH_FAIL, SMTPD_AUTH_DELAY_MS, SMTPD_HOPS_MAX, 0
	};
	static struct config cfg;
	struct session *s = &sess;
	struct buf err = BUF_INIT(4096);
	const char *config = NULL, *why = "";
	uint64_t ms;
	int c, mode = -1, test_timeout_ms = 0, drop = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	alloc_set_oom_handler(die_oom);
	while ((c = getopt(argc, argv, "c:m:t:U")) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'U':
			drop = 1;
			break;
		case 'm':
			mode = parse_mode(optarg);
			if (mode < 0)
				die_usage();
			break;
		case 't':
			if (str_parse_u64(optarg, strlen(optarg), 3600000,
			    &ms) < 0 || ms == 0)
				die_usage();
			test_timeout_ms = (int)ms;
			break;
		default:
			die_usage();
		}
	}
	if (config == NULL || mode < 0 || optind != argc)
		die_usage();
	if (config_load(config, &cfg, &err) < 0)
		die_config(buf_cstr(&err));
	buf_free(&err);
	opts_from_config(&opt, &cfg, test_timeout_ms);
	if (log_open("smtpd", cfg.log, &why) < 0)
		die_config(why);

	memset(s, 0, sizeof(*s));
	s->cfg = &cfg;
	s->opt = &opt;
	s->mode = mode;
	s->step = mode == SMTPD_MODE_SMTP ? 3 : 2;
	envelope_init(&s->env);
	buf_init(&s->line, SMTPD_READ_TEXT_MAX + 2);
	buf_init(&s->tmp, 64 * 1024);
	buf_init(&s->fix_date, 256);
	buf_init(&s->fix_msgid, 512);
	peer_address(s);
	current = s;
	if (cfg.tls_cert != NULL && cfg.tls_key != NULL) {
		s->tls_ctx = tls_server_ctx_sni(cfg.tls_cert, cfg.tls_key,
		    cfg.tls_sni, &why);
		if (s->tls_ctx == NULL) {
			session_log(s, LOG_ERR, "tls", "status", "temp",
			    "error", why, (const char *)NULL);
			if (mode == SMTPD_MODE_SUBMISSIONS)
				exit(FAIL_EXIT_TEMP);
		}
	}
	if (mode == SMTPD_MODE_SUBMISSIONS && s->tls_ctx == NULL) {
		session_log(s, LOG_ERR, "tls", "status", "temp", "error",
		    "submissions needs tls_cert and tls_key",
		    (const char *)NULL);
		exit(FAIL_EXIT_TEMP);
	}
	if (drop && privdrop_to(cfg.user_smtpd, &why) < 0) {
		session_log(s, LOG_ERR, "failure", "error", why,
		    (const char *)NULL);
		exit(FAIL_EXIT_TEMP);
	}
	if (drop)
		s->thr_tried = 1;	/* authd throttles logins */
	s->io = io_new(0, 1, opt.timeout_ms);
	if (s->io == NULL) {
		session_log(s, LOG_ERR, "failure", "error",
		    "fd 0 or 1 is not open", (const char *)NULL);
		exit(FAIL_EXIT_TEMP);
	}
	in_init(&s->in, s->io);
	session_run(s);
	return FAIL_EXIT_OK;
}
