/*
 * NAME
 *	remote - the SMTP client: a queued message to another server (step 3)
 *
 * SYNOPSIS
 *	remote -c CONFIG -q QID
 *
 * DESCRIPTION
 *	smtpq(8) runs remote for one queue entry and one destination domain
 *	(smtpq/QUEUE.md, "smtpq -> remote"):
 *
 *	  fd 0	the message as queued (LF line ends), read to end of file
 *	  fd 3	the job's envelope in the envelope.h wire format: V1, F,
 *		E/R/B/U, then the recipients (T with their O and D), all of
 *		one domain
 *	  fd 1	the results: one line per recipient, in envelope order,
 *		"K X.Y.Z text" (the next server took it, and the DSN
 *		request with it if there was one), "R X.Y.Z text" (the next
 *		server took it but does not support DSN: the recipient's
 *		NOTIFY or ORCPT could not be passed on, RFC 3461 5.2.2),
 *		"Z 4.Y.Z text" (temporary)
 *		or "D 5.Y.Z text" (permanent), each at most
 *		REMOTE_TEXT_MAX + 3 octets, the server's own reply in the text
 *
 *	QID only labels the log lines. The work, file by file (remote.h):
 *	the route (remote-route.c: transport table, relayhost, address
 *	literal, or MX with c-ares), the TLS policy for it (remote-policy.c),
 *	credentials for a smarthost (remote-sasl.c), then one SMTP session
 *	per address (remote-session.c) until one of them settles every
 *	recipient, at most REMOTE_ATTEMPTS_MAX connections in all. The
 *	message is sent CR LF and dot-stuffed (remote-data.c).
 *
 *	Decided here, before any connection: a BODY=BINARYMIME message is
 *	refused (5.6.3: remote does not speak BDAT); a recipient outside the
 *	job's domain (a bug of the caller) is deferred 4.3.0. A message
 *	"needs SMTPUTF8" when the sender or a recipient is not ASCII, or
 *	when SMTPUTF8 was requested and the header holds 8-bit octets.
 *
 *	When every address has been tried without settling the recipients,
 *	the ones left get the last failure: temporary when any attempt
 *	failed temporarily, permanent only when every server reached refused
 *	the session with a 5xx (greeting or HELO).
 *
 * DIAGNOSTICS
 *	Exit 0 after a line for every recipient. Exit 111 (every recipient
 *	then counts as temporarily failed, see QUEUE.md) when the arguments,
 *	the config or the envelope cannot be used, or memory runs out.
 *	Results, and every event of the way (route, connect, tls,
 *	attempt-failed, starttls-injection, auth, result), are logged with
 *	step=3 and qid=; values from the network are escaped by log_kv().
 *
 * SECURITY
 *	Runs as the queue's user with no privileges of its own, and needs
 *	none: it reads the config, the tables (compiling the transport and
 *	tls_policy tables into STATE_DIR/tables when stale), the credentials
 *	file, and talks to DNS and to SMTP servers. Everything received is
 *	untrusted and bounded: DNS answers (dns.c), replies (smtpreply.c),
 *	every wait (timeouts per stage). The envelope is checked by
 *	envelope_decode(); the message is only ever copied, never parsed
 *	beyond finding line ends and 8-bit octets. SIGPIPE is ignored.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "fail.h"
#include "log.h"
#include "privdrop.h"
#include "remote.h"
#include "str.h"
#include "tls.h"
#include "utf8.h"

#define ENVELOPE_FD	3
#define QID_MAX		64

static struct job job;
static size_t written;		/* result lines written so far */

/* say - a line on stderr, when there is nowhere else to say it */
static void
say(const char *msg)
{
	ssize_t w = write(2, msg, strlen(msg));

	(void)w;
}

/* die_usage - wrong arguments: the caller's bug; exit temporary */
static void __attribute__((noreturn))
die_usage(void)
{
	say("usage: remote -c CONFIG -q QID\n");
	exit(FAIL_EXIT_TEMP);
}

/* die_temp - a failure before any result can be given: exit 111 */
static void __attribute__((noreturn, format(printf, 1, 2)))
die_temp(const char *fmt, ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)log_kv_str(&b, "qid", job.qid != NULL ? job.qid : "-");
	(void)buf_append_str(&b, " step=3 event=failed");
	(void)log_kv_str(&b, "error", text);
	log_event(LOG_ERR, "%s", buf_cstr(&b));
	buf_free(&b);
	exit(FAIL_EXIT_TEMP);
}

/* die_nomem - out of memory: temporary, whatever was going on */
static void __attribute__((noreturn))
die_nomem(void)
{
	say("remote: out of memory\n");
	_exit(FAIL_EXIT_TEMP);
}

/* remote_log - "qid= step=3 event=EVENT" and key, value pairs, NULL ended */
void
remote_log(int level, const struct job *j, const char *event, ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	const char *k, *v;
	va_list ap;

	(void)log_kv_str(&b, "qid", j->qid != NULL ? j->qid : "-");
	(void)buf_append_str(&b, " step=3");
	(void)log_kv_str(&b, "event", event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		(void)log_kv_str(&b, k, v);
	}
	va_end(ap);
	/* The leading space of the first pair is not wanted. */
	log_event(level, "%s", b.data != NULL ? b.data + 1 : "");
	buf_free(&b);
}

/* remote_set - recipient r's result: kind and one printable line */
void
remote_set(struct rcpt *r, char kind, const char *relay, const char *fmt,
    ...)
{
	va_list ap;
	char *p;

	r->kind = kind;
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	for (p = r->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	(void)str_copy(r->relay, sizeof(r->relay), relay != NULL ? relay : "");
}

/* remote_fail - every recipient without a result gets this one */
void
remote_fail(struct job *j, char kind, const char *fmt, ...)
{
	char text[REMOTE_TEXT_MAX];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < j->n; i++)
		if (j->rcpts[i].kind == 0)
			remote_set(&j->rcpts[i], kind, NULL, "%s", text);
}

/* write_all - the whole of p to fd 1 (a gone reader is not our problem) */
static void
write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* remote_output - write and log every result known, in envelope order */
void
remote_output(struct job *j)
{
	struct buf line = BUF_INIT(REMOTE_TEXT_MAX + 8), to = BUF_INIT(1100);
	char dsn[16];
	size_t k;

	for (; written < j->n && j->rcpts[written].kind != 0; written++) {
		struct rcpt *r = &j->rcpts[written];

		buf_reset(&line);
		(void)buf_printf(&line, "%c %s\n", r->kind, r->text);
		write_all(line.data, line.len);
		buf_reset(&to);
		(void)buf_printf(&to, "<%s>", r->e->addr);
		for (k = 0; k < sizeof(dsn) - 1 && r->text[k] != '\0' &&
		    r->text[k] != ' '; k++)
			dsn[k] = r->text[k];
		dsn[k] = '\0';
		if (r->kind == 'R')
			remote_log(LOG_INFO, j, "result", "to", buf_cstr(&to),
			    "status", "sent", "relay", r->relay[0] != '\0' ?
			    r->relay : "none", "dsn", dsn, "dsn_request",
			    "dropped", "text", r->text, (char *)NULL);
		else if (r->kind == 'K')
			remote_log(LOG_INFO, j, "result", "to", buf_cstr(&to),
			    "status", "sent", "relay", r->relay[0] != '\0' ?
			    r->relay : "none", "dsn", dsn, "text", r->text,
			    (char *)NULL);
		else
			remote_log(LOG_NOTICE, j, "result", "to",
			    buf_cstr(&to), "status", r->kind == 'D' ?
			    "bounced" : "deferred", "relay", r->relay[0] !=
			    '\0' ? r->relay : "none", "dsn", dsn, "text",
			    r->text, (char *)NULL);
	}
	buf_free(&line);
	buf_free(&to);
}

/* qid_ok - 1 if the queue id is safe to log bare */
static int
qid_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= QID_MAX || !((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return 0;
	return i > 0;
}

/* read_envelope - the job's envelope from fd 3 */
static void
read_envelope(struct job *j)
{
	struct buf b = BUF_INIT(ENVELOPE_WIRE_MAX);
	const char *why;
	char tmp[65536];
	size_t used;
	ssize_t r;

	for (;;) {
		r = read(ENVELOPE_FD, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die_temp("cannot read the envelope on fd 3: %s",
			    strerror(errno));
		if (r == 0)
			break;
		if (buf_append(&b, tmp, (size_t)r) < 0)
			die_temp("envelope too big");
	}
	envelope_init(&j->env);
	if (envelope_decode(b.data != NULL ? b.data : "", b.len, &j->env,
	    &used, &why) < 0)
		die_temp("bad envelope: %s", why);
	if (used != b.len)
		die_temp("bad envelope: bytes after its end");
	if (j->env.n_rcpts == 0)
		die_temp("bad envelope: no recipient");
	buf_free(&b);
}

/* domain_of - the domain of addr, lower case, no final dot; 0 or -1 */
static int
domain_of(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (at == NULL || at[1] == '\0')
		return -1;
	n = strlen(at + 1);
	if (n > 1 && at[n] == '.')
		n--;
	if (str_copy_n(out, size, at + 1, n) < 0)
		return -1;
	str_lower(out);
	return 0;
}

/* setup_rcpts - one struct rcpt per envelope recipient; the domain */
static void
setup_rcpts(struct job *j)
{
	char d[ADDR_DOMAIN_MAX + 1];
	size_t i;

	j->n = j->env.n_rcpts;
	j->rcpts = alloc_calloc(j->n, sizeof(*j->rcpts));
	for (i = 0; i < j->n; i++) {
		struct rcpt *r = &j->rcpts[i];

		r->e = &j->env.rcpts[i];
		r->utf8 = !utf8_is_ascii(r->e->addr, strlen(r->e->addr));
		if (domain_of(r->e->addr, d, sizeof(d)) < 0) {
			remote_set(r, 'Z', NULL, "4.3.0 recipient without a "
			    "domain given to remote");
			continue;
		}
		if (j->domain[0] == '\0')
			(void)str_copy(j->domain, sizeof(j->domain), d);
		else if (strcmp(d, j->domain) != 0)
			remote_set(r, 'Z', NULL, "4.3.0 recipient not in this "
			    "job's domain %s", j->domain);
		if (r->utf8)
			j->needs_utf8 = 1;
	}
	if (!utf8_is_ascii(j->env.sender, strlen(j->env.sender)))
		j->needs_utf8 = 1;
}

/* route_name - a word for the log */
static const char *
route_name(enum route_kind k)
{
	switch (k) {
	case ROUTE_MX:
		return "mx";
	case ROUTE_IMPLICIT:
		return "implicit-mx";
	case ROUTE_LITERAL:
		return "literal";
	case ROUTE_TRANSPORT:
		return "transport";
	case ROUTE_RELAYHOST:
		return "relayhost";
	}
	return "?";
}

/* choose_tls - the TLS policy and the credentials for this route */
static int
choose_tls(struct job *j, const struct route *r)
{
	const char *why = NULL;
	int found, override = r->kind == ROUTE_TRANSPORT ||
	    r->kind == ROUTE_RELAYHOST;

	j->tls = TLSL_MAY;
	found = policy_lookup(j, j->domain, &j->tls, &why);
	if (found == 0 && override && r->n > 0)
		found = policy_lookup(j, r->t[0].host, &j->tls, &why);
	if (found < 0) {
		remote_fail(j, 'Z', "4.3.5 %s", why);
		return -1;
	}
	if (override && r->n > 0 && j->set.credentials != NULL) {
		found = sasl_find(j->set.credentials, r->t[0].host,
		    r->t[0].port, &j->cred, &why);
		if (found < 0) {
			remote_log(LOG_ERR, j, "credentials-failed", "error",
			    why, (char *)NULL);
			remote_fail(j, 'Z', "4.3.5 cannot use the credentials "
			    "file: %s", why);
			return -1;
		}
		if (found > 0) {
			j->have_cred = 1;
			if (j->tls < TLSL_ENCRYPT)
				j->tls = TLSL_ENCRYPT;	/* never in plaintext */
		}
	}
	return 0;
}

/* log_route - the hosts about to be tried */
static void
log_route(struct job *j, const struct route *r)
{
	struct buf hosts = BUF_INIT(4096);
	char pref[16];
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (i > 0)
			(void)buf_append_char(&hosts, ' ');
		(void)buf_append_str(&hosts, r->t[i].host);
		if (r->kind == ROUTE_MX) {
			(void)snprintf(pref, sizeof(pref), "/%u", r->t[i].pref);
			(void)buf_append_str(&hosts, pref);
		}
	}
	remote_log(LOG_INFO, j, "route", "domain", j->domain, "route",
	    route_name(r->kind), "hosts", buf_cstr(&hosts), "tls",
	    policy_name(j->tls), (char *)NULL);
	buf_free(&hosts);
}

/* deliver - try the route's addresses until every recipient is settled */
static void
deliver(struct job *j, struct route *r)
{
	size_t i, k;
	int attempts = 0, rc;

	for (i = 0; i < r->n; i++)
		for (k = 0; k < r->t[i].n_addr; k++) {
			if (attempts++ >= REMOTE_ATTEMPTS_MAX)
				goto out;
			rc = session_run(j, &r->t[i], &r->t[i].addr[k], 0);
			if (rc == SESSION_PLAIN && attempts++ <
			    REMOTE_ATTEMPTS_MAX)
				rc = session_run(j, &r->t[i], &r->t[i].addr[k],
				    1);
			if (rc == SESSION_DONE)
				return;
		}
out:
	if (j->last_kind == 0)
		remote_fail(j, 'Z', "4.4.0 no server of %s could be tried",
		    j->domain);
	else
		remote_fail(j, j->any_temp ? 'Z' : j->last_kind, "%s",
		    j->last_text);
}

/* run - everything between reading the envelope and the results */
static void
run(struct job *j)
{
	struct route r;
	const char *why;

	if (data_open(0, CONFIG_SIZE_MAX, &j->msg, &why) < 0 ||
	    data_scan(&j->msg, &why) < 0) {
		remote_log(LOG_ERR, j, "failed", "error", why, (char *)NULL);
		remote_fail(j, 'Z', "4.3.0 %s", why);
		return;
	}
	if (j->env.smtputf8 && j->msg.eight_header)
		j->needs_utf8 = 1;
	if (j->env.body != NULL && str_eq_nocase(j->env.body, "BINARYMIME")) {
		remote_fail(j, 'D', "5.6.3 BINARYMIME messages cannot be "
		    "relayed (no BDAT support)");
		return;
	}
	if (j->domain[0] == '\0')
		return;		/* no recipient with a domain: all set */
	route_find(j, &r);
	if (r.fail) {
		remote_log(LOG_NOTICE, j, "route-failed", "domain", j->domain,
		    "error", r.fail_text, (char *)NULL);
		remote_fail(j, r.fail, "%s", r.fail_text);
		return;
	}
	j->route = r.kind;
	if (choose_tls(j, &r) < 0)
		return;
	log_route(j, &r);
	deliver(j, &r);
}

int
main(int argc, char **argv)
{
	struct buf err = BUF_INIT(1024);
	struct config cfg;
	const char *conf = NULL, *why, *perr = NULL;
	int c;

	(void)signal(SIGPIPE, SIG_IGN);
	alloc_set_oom_handler(die_nomem);
	while ((c = getopt(argc, argv, "c:q:")) != -1)
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'q':
			job.qid = optarg;
			break;
		default:
			die_usage();
		}
	if (optind != argc || conf == NULL || job.qid == NULL ||
	    !qid_ok(job.qid))
		die_usage();
	/* Set-uid (the remote user): only a config the caller cannot write. */
	if (privdrop_setuid(conf, &perr) < 0) {
		(void)log_open("remote", "stderr", &why);
		die_temp("refusing the config: %s", perr);
	}
	if (config_load(conf, &cfg, &err) < 0) {
		(void)log_open("remote", "stderr", &why);
		die_temp("%s", buf_cstr(&err));
	}
	if (log_open("remote", cfg.log, &why) < 0)
		(void)log_open("remote", "stderr", &why);
	job.cfg = &cfg;
	settings_load(&cfg, &job.set);
	read_envelope(&job);
	setup_rcpts(&job);
	run(&job);
	remote_fail(&job, 'Z', "4.3.0 no result");	/* never, in theory */
	remote_output(&job);
	tls_ctx_free(job.ctx[0]);
	tls_ctx_free(job.ctx[1]);
	explicit_bzero(&job.cred, sizeof(job.cred));
	if (job.msg.fd > 0)
		(void)close(job.msg.fd);
	free(job.rcpts);
	envelope_free(&job.env);
	config_free(&cfg);
	buf_free(&err);
	log_close();
	return 0;
}
