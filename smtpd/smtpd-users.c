/*
 * NAME
 *	smtpd-users - recipients, sender ownership and passwords for smtpd
 *
 * SYNOPSIS
 *	int users_rcpt(struct session *s, const struct addr *a);
 *	int users_sender_owned(struct session *s, const struct addr *sender);
 *	int users_expn(struct session *s, const struct addr *a,
 *	    struct buf *out);
 *	int users_password(struct session *s, const char *user,
 *	    const char *pass, size_t passlen);
 *	int users_throttled(struct session *s);
 *	unsigned users_failed(struct session *s);
 *	void users_succeeded(struct session *s);
 *	void users_close(struct session *s);
 *
 * DESCRIPTION
 *	The glue between the session and common/userdb and common/auth.
 *	The tables are opened on first use and kept for the session (one
 *	connection); a failed open is tried again next time.
 *
 *	users_rcpt() says whether a local recipient exists: USERDB_USER or
 *	USERDB_ALIAS (accept), USERDB_NONE (550 5.1.1). The bare
 *	<Postmaster> (empty domain) is postmaster of the first domain.
 *
 *	users_sender_owned() says whether the authenticated user may use
 *	sender as MAIL FROM on submission: its own address (policy_sender),
 *	or an address of ours that resolves to that user - the user itself
 *	through sub-addressing (user+tag), or an alias with the user among
 *	its targets. A domain catch-all or the implicit postmaster owns
 *	nothing for anybody.
 *
 *	users_expn() appends the targets of an alias, one per line, for
 *	EXPN by an authenticated user of that domain.
 *
 *	users_password() checks a password with auth_password().
 *
 *	The login throttle (common/throttle.h, file STATE_DIR/login-throttle,
 *	shared with pop3d and imapd) counts failed logins per client address
 *	across connections: users_throttled() says whether the address is
 *	refused for now, users_failed() counts a failure and returns the
 *	delay to wait before answering, users_succeeded() forgets the
 *	address. Without a usable throttle file (logged once) logins go on,
 *	with the per-session delay and limit of smtpd-auth.c only.
 *
 * DIAGNOSTICS
 *	users_rcpt: USERDB_* or -1 (temporary: 451 4.3.0). users_sender_owned:
 *	1, 0, or -1 (temporary). users_expn: USERDB_* or -1. users_password:
 *	1 right, 0 wrong or unknown user, -1 temporary. Failures are logged.
 *
 * SECURITY
 *	Local parts and domains from the network are only ever table keys.
 *	Passwords are passed on and never logged.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "addr.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "str.h"
#include "throttle.h"
#include "userdb.h"

#include "smtpd.h"

/* db - the open tables, or NULL (logged) */
static struct userdb *
db(struct session *s)
{
	const char *why = "unknown error";

	if (s->udb == NULL) {
		s->udb = userdb_open(s->cfg, &why);
		if (s->udb == NULL)
			session_log(s, LOG_ERR, "userdb", "status", "temp",
			    "error", why, (const char *)NULL);
	}
	return s->udb;
}

/* domain_of - the domain to look up: <Postmaster> is the first one's */
static const char *
domain_of(struct session *s, const struct addr *a)
{
	if (a->domain[0] != '\0')
		return a->domain;
	return s->cfg->domains.n > 0 ? s->cfg->domains.v[0] : NULL;
}

/* users_rcpt - USERDB_NONE, USERDB_USER, USERDB_ALIAS or -1 */
int
users_rcpt(struct session *s, const struct addr *a)
{
	struct userdb *u = db(s);
	const char *domain = domain_of(s, a);

	if (domain == NULL)
		return USERDB_NONE;
	if (u == NULL)
		return -1;
	return userdb_rcpt_kind(u, a->local, domain);
}

/* users_sender_owned - 1 if the authenticated user owns sender */
int
users_sender_owned(struct session *s, const struct addr *sender)
{
	struct userdb_result r;
	struct userdb *u;
	const char *why = "";
	size_t i;
	int owned = 0;

	if (policy_sender(s->auth_user, sender))
		return 1;
	if (sender->domain[0] == '\0' || (sender->flags & ADDR_F_LITERAL) ||
	    !config_is_local_domain(s->cfg, sender->domain))
		return 0;
	if ((u = db(s)) == NULL)
		return -1;
	memset(&r, 0, sizeof(r));
	if (userdb_resolve(u, sender->local, sender->domain, &r, &why) < 0) {
		session_log(s, LOG_ERR, "userdb", "status", "temp", "error",
		    why, (const char *)NULL);
		userdb_result_free(&r);
		return -1;
	}
	if (r.via == USERDB_VIA_CATCHALL || r.via == USERDB_VIA_POSTMASTER)
		owned = 0;
	else if (r.kind == USERDB_USER)
		owned = str_eq_nocase(r.user.address, s->auth_user);
	else if (r.kind == USERDB_ALIAS)
		for (i = 0; i < r.targets.n && !owned; i++)
			owned = str_eq_nocase(r.targets.v[i], s->auth_user);
	userdb_result_free(&r);
	return owned;
}

/* users_expn - the members of an alias, one per line, into out */
int
users_expn(struct session *s, const struct addr *a, struct buf *out)
{
	struct userdb_result r;
	struct userdb *u;
	const char *why = "", *domain = domain_of(s, a);
	size_t i;
	int kind;

	if (domain == NULL)
		return USERDB_NONE;
	if ((u = db(s)) == NULL)
		return -1;
	memset(&r, 0, sizeof(r));
	if (userdb_resolve(u, a->local, domain, &r, &why) < 0) {
		session_log(s, LOG_ERR, "userdb", "status", "temp", "error",
		    why, (const char *)NULL);
		userdb_result_free(&r);
		return -1;
	}
	kind = r.kind;
	if (r.via == USERDB_VIA_CATCHALL)
		kind = USERDB_NONE;	/* a catch-all is not a list */
	if (kind == USERDB_ALIAS)
		for (i = 0; i < r.targets.n; i++)
			(void)buf_printf(out, "%s\n", r.targets.v[i]);
	else if (kind == USERDB_USER)
		(void)buf_printf(out, "%s\n", r.user.address);
	userdb_result_free(&r);
	return kind;
}

/* users_password - 1 right, 0 wrong, -1 temporary */
int
users_password(struct session *s, const char *user, const char *pass,
    size_t passlen)
{
	const char *why = "unknown error";
	int r;

	r = auth_password(s->cfg, user, pass, passlen, s->client_ip, &why);
	if (r < 0)
		session_log(s, LOG_ERR, "auth", "user", user, "status", "temp",
		    "error", why, (const char *)NULL);
	return r;
}

/* thr - the throttle table and this client's key, or NULL */
static struct throttle *
thr(struct session *s, unsigned char key[THROTTLE_KEY_LEN])
{
	const char *why = "unknown error";

	if (!s->have_peer || throttle_key((const struct sockaddr *)&s->peer,
	    sizeof(s->peer), key) < 0)
		return NULL;
	if (s->thr == NULL && !s->thr_tried) {
		s->thr_tried = 1;
		s->thr = throttle_open_state(s->cfg->state_dir, &why);
		if (s->thr == NULL)
			session_log(s, LOG_WARNING, "throttle", "status",
			    "unusable", "error", why, (const char *)NULL);
	}
	return s->thr;
}

/* users_throttled - 1 if this client may not try to log in now */
int
users_throttled(struct session *s)
{
	unsigned char key[THROTTLE_KEY_LEN];
	struct throttle *t = thr(s, key);
	unsigned failures;

	if (t == NULL)
		return 0;
	return throttle_check(t, key, time(NULL), &failures) == 1;
}

/* users_failed - count a failed login; the delay before the reply */
unsigned
users_failed(struct session *s)
{
	unsigned char key[THROTTLE_KEY_LEN];
	struct throttle *t = thr(s, key);
	unsigned failures;

	if (t == NULL || throttle_fail(t, key, time(NULL), &failures) < 0)
		return 0;
	return throttle_delay_ms(failures);
}

/* users_succeeded - a login worked: forget this client's failures */
void
users_succeeded(struct session *s)
{
	unsigned char key[THROTTLE_KEY_LEN];
	struct throttle *t = thr(s, key);

	if (t != NULL)
		(void)throttle_success(t, key, time(NULL));
}

/* users_close - close the tables */
void
users_close(struct session *s)
{
	if (s->udb != NULL) {
		userdb_close(s->udb);
		s->udb = NULL;
	}
	if (s->thr != NULL) {
		throttle_close(s->thr);
		s->thr = NULL;
	}
}
