/*
 * NAME
 *	authd-serve - answer one authd request
 *
 * SYNOPSIS
 *	void authd_policy_init(struct authd_policy *p);
 *	int authd_serve_init(const struct config *cfg,
 *	    const struct authd_policy *p);
 *	void authd_serve_reload(const struct config *cfg);
 *	void authd_serve(const char *line, size_t len, struct authd_answer *a);
 *
 * DESCRIPTION
 *	authd_policy_init() sets the times and limits: the ticket life
 *	AUTHD_TICKET_SECS, and throttle.h's policy (THROTTLE_LIMIT failures
 *	per client address, AUTHD_USER_LIMIT_FACTOR times that per user,
 *	forgotten THROTTLE_FORGET_SECS after the last, delays from
 *	THROTTLE_DELAY_MIN_MS doubling up to THROTTLE_DELAY_MAX_MS). For
 *	tests only, the environment variable MAILSTACK_AUTHD_TEST set to
 *	"TICKET_SECS:FORGET_SECS:DELAY_MS" replaces the ticket life, the
 *	forget time and the first delay (the longest delay is then 16 times
 *	DELAY_MS), so a test does not sleep for minutes.
 *
 *	authd_serve() parses one request line (authproto.h) and fills the
 *	answer: the reply and how long to hold it.
 *
 *	PASS. When the client address or the user has reached its limit of
 *	failures the answer is "NO throttled N" at once, N the seconds until
 *	the failures are forgotten, without looking at the password (and
 *	not counted). Otherwise the password is checked (auth_check_user()
 *	against passwd.cdb, refreshed first so that mailctl's changes count
 *	at once; an unknown user costs one hash like a known one). Right:
 *	both keys are forgotten and the answer is OK with the canonical
 *	address and a new ticket. Wrong: one failure is counted for each
 *	key and "NO auth 0" is held for the delay of the larger count. A
 *	table that cannot be read is TEMP. TICKET: authd_ticket_redeem().
 *	A request that does not parse is "NO auth 0 bad request".
 *
 *	Every answer is logged (program authd): event=login status=ok or
 *	failed, event=throttled, event=ticket, event=bad-request, with
 *	user=, ip= and service= (through log_kv: they come from clients).
 *
 * DIAGNOSTICS
 *	authd_serve_init: 0, or -1 when the password table cannot be opened
 *	yet (logged; every request retries, answering TEMP meanwhile).
 *
 * SECURITY
 *	Requests come from any local process and are parsed strictly. The
 *	password is wiped from the request as soon as it is checked. Hashes
 *	and tickets are never logged.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "authd.h"
#include "daemon.h"
#include "log.h"
#include "str.h"
#include "throttle.h"
#include "userdb.h"

static const struct config *cfg;
static struct authd_policy policy;
static struct userdb *db;

/* authd_policy_init - the defaults, or the test knob's times */
void
authd_policy_init(struct authd_policy *p)
{
	const char *env = getenv(AUTHD_TEST_ENV);
	uint64_t v[3];
	size_t i = 0;

	p->ticket_ms = AUTHD_TICKET_SECS * 1000;
	p->forget_ms = THROTTLE_FORGET_SECS * 1000;
	p->delay_min_ms = THROTTLE_DELAY_MIN_MS;
	p->delay_max_ms = THROTTLE_DELAY_MAX_MS;
	p->addr_limit = THROTTLE_LIMIT;
	p->user_limit = THROTTLE_LIMIT * AUTHD_USER_LIMIT_FACTOR;
	if (env == NULL || *env == '\0')
		return;
	while (i < 3) {
		size_t n = strcspn(env, ":");

		if (n == 0 || str_parse_u64(env, n, 100000, &v[i]) < 0)
			return;
		i++;
		env += n;
		if (*env == '\0')
			break;
		env++;
	}
	if (i != 3 || v[0] == 0 || v[1] == 0)
		return;
	p->ticket_ms = (unsigned)v[0] * 1000;
	p->forget_ms = (unsigned)v[1] * 1000;
	p->delay_min_ms = (unsigned)v[2];
	p->delay_max_ms = (unsigned)v[2] * 16;
}

/* open_db - open the password table if it is not open; 0 or -1 */
static int
open_db(const char **error_r)
{
	if (db != NULL)
		return 0;
	db = userdb_open_passwd(cfg, error_r);
	return db != NULL ? 0 : -1;
}

/* authd_serve_init - remember cfg and the policy, open the table */
int
authd_serve_init(const struct config *c, const struct authd_policy *p)
{
	const char *error = "";

	cfg = c;
	policy = *p;
	authd_limit_init(p);
	authd_ticket_init(p);
	if (open_db(&error) < 0) {
		log_event(LOG_WARNING, "event=table-unreadable error=\"%s\"",
		    error);
		return -1;
	}
	return 0;
}

/* authd_serve_reload - a new config: reopen the table from it */
void
authd_serve_reload(const struct config *c)
{
	const char *error = "";

	userdb_close(db);
	db = NULL;
	cfg = c;
	if (open_db(&error) < 0)
		log_event(LOG_WARNING, "event=table-unreadable error=\"%s\"",
		    error);
}

/* set_text - a reply's text */
static void
set_text(struct authproto_reply *r, const char *text)
{
	(void)str_copy(r->text, sizeof(r->text), text);
}

/* addr_key - "a:" and the client's throttle key in hex, or "a:-" */
static void
addr_key(const char *ip, char *out, size_t size)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char key[THROTTLE_KEY_LEN];
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int ok = -1;
	size_t i;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		ok = throttle_key((struct sockaddr *)&s4, sizeof(s4), key);
	} else if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		ok = throttle_key((struct sockaddr *)&s6, sizeof(s6), key);
	}
	/* UNSAFE: size is the caller's array of 2 + AUTH_USER_MAX + 1. */
	if (ok < 0 || size < 3 + 2 * THROTTLE_KEY_LEN) {
		(void)str_copy(out, size, "a:-");
		return;
	}
	out[0] = 'a';
	out[1] = ':';
	for (i = 0; i < THROTTLE_KEY_LEN; i++) {
		out[2 + 2 * i] = hexd[key[i] >> 4];
		out[3 + 2 * i] = hexd[key[i] & 15];
	}
	out[2 + 2 * THROTTLE_KEY_LEN] = '\0';
}

/* log_request - one event about req with user=, ip=, service= */
static void __attribute__((format(printf, 3, 4)))
log_request(int level, const struct authproto_request *req,
    const char *fmt, ...)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (req->type == AUTHPROTO_PASS) {
		(void)log_kv_str(&b, "user", req->user);
		(void)log_kv_str(&b, "ip", req->ip);
	}
	(void)log_kv_str(&b, "service", req->service);
	log_event(level, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* delay_for - how long to hold the answer after failure n */
static unsigned
delay_for(unsigned n)
{
	unsigned ms = policy.delay_min_ms;

	if (n == 0)
		return 0;
	while (--n > 0 && ms < policy.delay_max_ms)
		ms *= 2;
	return ms < policy.delay_max_ms ? ms : policy.delay_max_ms;
}

/* serve_pass - a PASS request */
static void
serve_pass(struct authproto_request *req, struct authd_answer *a)
{
	struct authproto_reply *r = &a->reply;
	char akey[2 + AUTH_USER_MAX + 1], ukey[2 + AUTH_USER_MAX + 1];
	unsigned fa, fu, wa, wu, na, nu;
	int64_t now = clock_mono_ms();
	const char *error = "";
	int ok;

	addr_key(req->ip, akey, sizeof(akey));
	ukey[0] = 'u';
	ukey[1] = ':';
	(void)str_copy(ukey + 2, sizeof(ukey) - 2, req->user);
	str_lower(ukey);
	wa = authd_limit_check(akey, now, policy.addr_limit, &fa);
	wu = authd_limit_check(ukey, now, policy.user_limit, &fu);
	if (wa > 0 || wu > 0) {
		unsigned ms = wa > wu ? wa : wu;

		r->kind = AUTHPROTO_NO;
		r->throttled = 1;
		r->wait = (ms + 999) / 1000;
		set_text(r, "too many failed logins, try later");
		log_request(LOG_WARNING, req, "event=throttled by=%s "
		    "wait=%u failures=%u", wa > 0 ? "address" : "user",
		    r->wait, wa > 0 ? fa : fu);
		return;
	}
	if (open_db(&error) == 0 && userdb_refresh(db) < 0)
		error = "cannot reopen the password table";
	ok = db == NULL ? -1 : auth_check_user(db, req->user, req->password,
	    req->password_len, r->user, sizeof(r->user), &error);
	explicit_bzero(req->password, sizeof(req->password));
	if (ok < 0) {
		r->kind = AUTHPROTO_TEMP;
		set_text(r, "password table unreadable, try later");
		log_request(LOG_ERR, req, "event=login status=temp "
		    "error=\"%s\"", error);
		return;
	}
	if (ok > 0) {
		authd_limit_forget(akey);
		authd_limit_forget(ukey);
		if (authd_ticket_issue(req->service, r->user, now,
		    r->ticket) < 0) {
			memset(r, 0, sizeof(*r));
			r->kind = AUTHPROTO_TEMP;
			set_text(r, "no randomness for a ticket, try later");
			log_request(LOG_ERR, req, "event=login status=temp "
			    "error=\"getrandom failed\"");
			return;
		}
		r->kind = AUTHPROTO_OK;
		log_request(LOG_INFO, req, "event=login status=ok");
		return;
	}
	na = authd_limit_fail(akey, now);
	nu = authd_limit_fail(ukey, now);
	r->kind = AUTHPROTO_NO;
	set_text(r, "authentication failed");
	a->delay_ms = delay_for(na > nu ? na : nu);
	log_request(LOG_WARNING, req, "event=login status=failed "
	    "failures=%u user_failures=%u delay_ms=%u", na, nu, a->delay_ms);
}

/* serve_ticket - a TICKET request */
static void
serve_ticket(const struct authproto_request *req, struct authd_answer *a)
{
	struct authproto_reply *r = &a->reply;
	struct buf b = BUF_INIT(LOG_LINE_MAX);

	if (authd_ticket_redeem(req->service, req->ticket, clock_mono_ms(),
	    r->user, sizeof(r->user))) {
		r->kind = AUTHPROTO_OK;
		(void)buf_append_str(&b, "event=ticket status=ok");
		(void)log_kv_str(&b, "user", r->user);
	} else {
		r->kind = AUTHPROTO_NO;
		set_text(r, "invalid ticket");
		(void)buf_append_str(&b, "event=ticket status=refused");
	}
	(void)log_kv_str(&b, "service", req->service);
	log_event(r->kind == AUTHPROTO_OK ? LOG_INFO : LOG_WARNING, "%s",
	    buf_cstr(&b));
	buf_free(&b);
}

/* authd_serve - the answer to one request line */
void
authd_serve(const char *line, size_t len, struct authd_answer *a)
{
	struct authproto_request req;
	const char *why = "";

	memset(a, 0, sizeof(*a));
	if (authproto_parse_request(line, len, &req, &why) < 0) {
		a->reply.kind = AUTHPROTO_NO;
		set_text(&a->reply, "bad request");
		log_event(LOG_WARNING, "event=bad-request error=\"%s\"", why);
		return;
	}
	if (req.type == AUTHPROTO_PASS)
		serve_pass(&req, a);
	else
		serve_ticket(&req, a);
	authproto_request_wipe(&req);
}
