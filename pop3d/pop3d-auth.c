/*
 * NAME
 *	pop3d-auth - USER/PASS, AUTH PLAIN and AUTH LOGIN, with throttling
 *
 * SYNOPSIS
 *	void pop3d_cmd_user(struct pop3d *p, const struct pop3d_cmd *c);
 *	void pop3d_cmd_pass(struct pop3d *p, const struct pop3d_cmd *c);
 *	void pop3d_cmd_auth(struct pop3d *p, const struct pop3d_cmd *c);
 *
 * DESCRIPTION
 *	Credentials are taken only over TLS, unless allow_plaintext_auth is
 *	set (then the loopback tests may log in in plaintext); otherwise
 *	USER, PASS and AUTH get "-ERR [AUTH] Plaintext authentication
 *	disallowed without TLS, use STLS first" and CAPA does not offer
 *	them (RFC 2595 section 2.2, RFC 2449).
 *
 *	USER always answers +OK, whatever the name, so nobody learns which
 *	names exist; PASS checks both. AUTH (RFC 5034) offers PLAIN
 *	(RFC 4616) and LOGIN (what Outlook uses), each with or without an
 *	initial response ("=" is an empty one); "*" cancels. A PLAIN
 *	authorization identity other than the authentication identity
 *	fails: nobody logs in as somebody else. A bare "AUTH" lists the
 *	mechanisms, as older clients expect.
 *
 *	Every check goes through login(): first the throttle table
 *	(throttle.h), keyed by the client's address; a key with too many
 *	recent failures gets "-ERR [LOGIN-DELAY] ..." without its password
 *	being looked at, and the connection is closed. Then authd, through
 *	auth_login() (auth.h); authd throttles by address and by user too.
 *	A wrong password and an unknown user get the same reply, "-ERR
 *	[AUTH] Authentication failed", after the same growing delay
 *	(throttle_delay_ms of the address's failure count; SECURITY U2);
 *	the third failure on one connection closes it. A failure to check
 *	at all is "-ERR [SYS/TEMP]" and counts nothing. Success forgets
 *	the address's failures and opens the maildrop: here when pop3d runs
 *	alone, or, when authd gave a ticket and pop3d-user is installed
 *	beside pop3d, in pop3d-user (handoff.h), which runs as the mail
 *	owner while this process runs as a user that can read no mail.
 *	pop3d_handed_login() is that side: it redeems the ticket with authd
 *	and opens the maildrop.
 *
 * DIAGNOSTICS
 *	Failures are logged with the client's address and the name tried
 *	(escaped), never the password. A throttle table that cannot be used
 *	is logged and the login goes on without it (the per-connection
 *	limit still holds).
 *
 * SECURITY
 *	Passwords live in buffers that are wiped after the check. The name
 *	and the password come from the client: they are bounded
 *	(POP3D_ARG_MAX, AUTH_PASSWORD_MAX), must not hold NUL, and reach
 *	only auth_password() and userdb lookups, never a path: the mailbox
 *	path is built from the users table's canonical address.
 */
#include <sys/stat.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "handoff.h"
#include "progpath.h"
#include "log.h"
#include "pop3d.h"
#include "str.h"

#define PLAINTEXT_REFUSED \
	"-ERR [AUTH] Plaintext authentication disallowed without TLS, " \
	"use STLS first"

/* refuse_plaintext - credentials before TLS */
static void
refuse_plaintext(struct pop3d *p)
{
	pop3d_reply(p, PLAINTEXT_REFUSED);
}

/* open_throttle - the shared throttle table, once; NULL if unusable */
static struct throttle *
open_throttle(struct pop3d *p)
{
	static int tried;
	const char *error = "unknown";

	if (p->throttle != NULL || tried || !p->have_tkey)
		return p->throttle;
	tried = 1;
	p->throttle = throttle_open_state(p->cfg->state_dir, &error);
	if (p->throttle == NULL)
		pop3d_log_user(p, LOG_WARNING, "throttle-unusable",
		    " error=\"%s: %s\"", error, strerror(errno));
	return p->throttle;
}

/* failed - a wrong password or unknown user: count, wait, answer */
static void
failed(struct pop3d *p, const char *user, const char *method,
    const char *why)
{
	struct throttle *t = open_throttle(p);
	struct buf b = BUF_INIT(1024);
	unsigned n = 0;

	if (t != NULL && throttle_fail(t, p->tkey, time(NULL), &n) < 0) {
		pop3d_log_user(p, LOG_WARNING, "throttle-unusable",
		    " error=\"%s\"", strerror(errno));
		n = 0;
	}
	p->auth_fails++;
	(void)log_kv_str(&b, "tried", user);
	pop3d_log_user(p, LOG_WARNING, "auth-failed", "%s method=%s"
	    " reason=%s failures=%u", buf_cstr(&b), method, why,
	    n > 0 ? n : p->auth_fails);
	buf_free(&b);
	pop3d_flush(p);
	throttle_pause_ms(throttle_delay_ms(n > 0 ? n : p->auth_fails));
	pop3d_reply(p, "-ERR [AUTH] Authentication failed");
	if (p->auth_fails >= POP3D_AUTH_FAILS_MAX) {
		pop3d_flush(p);
		pop3d_log_user(p, LOG_WARNING, "disconnect",
		    " reason=auth-failures failures=%u", p->auth_fails);
		exit(0);
	}
}

/* finish_login - the user is known: open the maildrop ("+OK") */
static void
finish_login(struct pop3d *p, const char *name, const char *method)
{
	const char *error = NULL;
	struct userdb_user u;
	struct userdb *db;
	int r;

	/* The users table names the mailbox: its canonical address. */
	if ((db = userdb_open(p->cfg, &error)) == NULL)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, try again "
		    "later", error);
	r = userdb_user_lookup(db, name, &u, &error);
	userdb_close(db);
	if (r <= 0)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, try again "
		    "later", r < 0 ? error : "user vanished after login");
	if (str_copy(p->address, sizeof(p->address), u.address) < 0)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox",
		    "address too long");
	p->method = method;
	(void)pop3d_maildrop_open(p, u.local, u.domain);
	userdb_user_free(&u);
}

/* hand_off - pass the logged-in client to pop3d-user, if installed */
static void
hand_off(struct pop3d *p, const struct auth_reply *ar, const char *method)
{
	static struct handoff h;
	struct buf prog = BUF_INIT(4096);
	const char *error = NULL;

	if (ar->ticket[0] == '\0' ||
	    progpath_sibling(POP3D_USER_PROGRAM, &prog) < 0 ||
	    access(buf_cstr(&prog), X_OK) < 0) {
		buf_free(&prog);
		return;		/* no authd or no pop3d-user: go on here */
	}
	memset(&h, 0, sizeof(h));
	if (str_copy(h.ticket, sizeof(h.ticket), ar->ticket) < 0 ||
	    str_copy(h.client, sizeof(h.client), p->client) < 0 ||
	    str_copy(h.method, sizeof(h.method), method) < 0)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox",
		    "handoff field too long");
	pop3d_flush(p);
	if (p->throttle != NULL) {
		throttle_close(p->throttle);
		p->throttle = NULL;
	}
	if (handoff_start(p->io, buf_cstr(&prog), p->cfg->path,
	    p->implicit_tls ? "pop3s" : "pop3", &h, &error) < 0)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, try again "
		    "later", error);
	/* The relay has ended: the session is over. */
	(void)io_tls_shutdown(p->io);
	exit(0);
}

/* login - check user and password; on success open the maildrop */
static void
login(struct pop3d *p, const char *user, size_t ulen, const char *pass,
    size_t plen, const char *method)
{
	struct throttle *t = open_throttle(p);
	char name[POP3D_ARG_MAX + 1];
	const char *error = NULL;
	struct auth_reply ar;
	unsigned n = 0;
	int r;

	if (ulen == 0 || str_copy_n(name, sizeof(name), user, ulen) < 0 ||
	    memchr(user, '\0', ulen) != NULL) {
		failed(p, "", method, "bad-name");
		return;
	}
	if (t != NULL) {
		r = throttle_check(t, p->tkey, time(NULL), &n);
		if (r > 0) {
			struct buf b = BUF_INIT(1024);

			(void)log_kv_str(&b, "tried", name);
			pop3d_log_user(p, LOG_WARNING, "login-refused",
			    "%s method=%s reason=throttled failures=%u",
			    buf_cstr(&b), method, n);
			buf_free(&b);
			pop3d_reply(p, "-ERR [LOGIN-DELAY] Too many failed "
			    "logins from your address, try again later");
			pop3d_flush(p);
			exit(0);
		}
		if (r < 0)
			pop3d_log_user(p, LOG_WARNING, "throttle-unusable",
			    " error=\"%s\"", strerror(errno));
	}
	r = auth_login(p->cfg, "pop3", name, pass, plen, p->client, &ar,
	    &error);
	if (r < 0) {
		pop3d_log_user(p, LOG_ERR, "auth-error", " error=\"%s\"",
		    error != NULL ? error : "unknown");
		pop3d_reply(p, "-ERR [SYS/TEMP] Temporary authentication "
		    "failure, try again later");
		return;
	}
	if (r == 0 && ar.throttled) {
		pop3d_log_user(p, LOG_WARNING, "login-refused", " method=%s "
		    "reason=throttled retry_after=%u", method,
		    ar.retry_after);
		pop3d_reply(p, "-ERR [LOGIN-DELAY] Too many failed logins, "
		    "try again later");
		pop3d_flush(p);
		exit(0);
	}
	if (r == 0) {
		failed(p, name, method, "wrong");
		return;
	}
	if (t != NULL && throttle_success(t, p->tkey, time(NULL)) < 0)
		pop3d_log_user(p, LOG_WARNING, "throttle-unusable",
		    " error=\"%s\"", strerror(errno));
	hand_off(p, &ar, method);
	finish_login(p, ar.user[0] != '\0' ? ar.user : name, method);
}

/* pop3d_handed_login - in pop3d-user: redeem the ticket, open the drop */
void
pop3d_handed_login(struct pop3d *p, const struct handoff *h)
{
	static char method[sizeof(h->method)];
	const char *error = NULL;
	struct auth_reply ar;
	int r;

	(void)str_copy(method, sizeof(method), h->method);
	r = auth_redeem(p->cfg, "pop3", h->ticket, &ar, &error);
	if (r <= 0)
		die_temp(p, "-ERR [SYS/TEMP] Temporary authentication "
		    "failure, try again later", r < 0 && error != NULL ?
		    error : "ticket not accepted");
	finish_login(p, ar.user, method);
}

/* pop3d_cmd_user - remember the name for PASS */
void
pop3d_cmd_user(struct pop3d *p, const struct pop3d_cmd *c)
{
	if (!pop3d_login_allowed(p)) {
		refuse_plaintext(p);
		return;
	}
	if (str_copy_n(p->user, sizeof(p->user), c->arg, c->arg_len) < 0) {
		pop3d_bad(p, "-ERR Syntax error");
		return;
	}
	p->have_user = 1;
	pop3d_reply(p, "+OK Send your password");
}

/* pop3d_cmd_pass - check USER's name with this password */
void
pop3d_cmd_pass(struct pop3d *p, const struct pop3d_cmd *c)
{
	char pass[POP3D_ARG_MAX + 1];

	if (!pop3d_login_allowed(p)) {
		refuse_plaintext(p);
		return;
	}
	if (!p->have_user) {
		pop3d_bad(p, "-ERR No user name given, send USER first");
		return;
	}
	p->have_user = 0;
	memcpy(pass, c->arg, c->arg_len);	/* arg_len <= POP3D_ARG_MAX */
	pass[c->arg_len] = '\0';
	login(p, p->user, strlen(p->user), pass, c->arg_len, "user");
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(p->user, sizeof(p->user));
}

/*
 * sasl_response - the client's answer to a challenge, decoded into out:
 * 1, 0 if the client cancelled or sent bad base64 (answered here)
 */
static int
sasl_response(struct pop3d *p, const char *challenge, struct buf *out)
{
	struct buf line = BUF_INIT(POP3D_SASL_LINE_MAX);
	int r, toolong;

	pop3d_reply(p, "+ %s", challenge);
	io_set_deadline(p->io, p->idle_ms);
	r = pop3d_read_line(p, &line, POP3D_SASL_LINE_MAX, &toolong);
	if (r == 0) {
		pop3d_log_user(p, LOG_INFO, "disconnect", " reason=eof");
		exit(0);
	}
	if (r == -2) {
		pop3d_reply(p, "-ERR Line too long, closing connection");
		pop3d_flush(p);
		exit(0);
	}
	if (r < 0)
		die_io(p, errno == ETIMEDOUT ? "timeout" : "read");
	if (toolong) {
		pop3d_bad(p, "-ERR Line too long");
		return 0;
	}
	if (line.len == 1 && line.data[0] == '*') {
		buf_free(&line);
		pop3d_reply(p, "-ERR Authentication cancelled");
		return 0;
	}
	r = pop3d_base64_decode(line.data != NULL ? line.data : "", line.len,
	    out);
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	buf_free(&line);
	if (r < 0) {
		pop3d_bad(p, "-ERR Invalid base64 data");
		return 0;
	}
	return 1;
}

/* initial - decode an initial response (RFC 5034); 0 if bad (answered) */
static int
initial(struct pop3d *p, const struct pop3d_cmd *c, struct buf *out)
{
	if (pop3d_base64_decode(c->arg2, c->arg2_len, out) < 0) {
		pop3d_bad(p, "-ERR Invalid base64 data");
		return 0;
	}
	return 1;
}

/* auth_plain - AUTH PLAIN [initial-response] */
static void
auth_plain(struct pop3d *p, const struct pop3d_cmd *c)
{
	struct buf msg = BUF_INIT(POP3D_SASL_LINE_MAX);
	const char *authz, *authc, *pass;
	size_t authz_len, authc_len, pass_len;
	char name[POP3D_ARG_MAX + 1];

	if (c->arg2 != NULL ? !initial(p, c, &msg) :
	    !sasl_response(p, "", &msg))
		goto done;
	if (pop3d_sasl_plain(msg.data != NULL ? msg.data : "", msg.len,
	    &authz, &authz_len, &authc, &authc_len, &pass, &pass_len) < 0) {
		failed(p, "", "plain", "malformed");
		goto done;
	}
	if (authc_len > POP3D_ARG_MAX) {
		failed(p, "", "plain", "bad-name");
		goto done;
	}
	memcpy(name, authc, authc_len);
	name[authc_len] = '\0';
	if (authz_len > 0 && (authz_len != authc_len ||
	    !str_eq_nocase_n(authz, authc, authc_len))) {
		failed(p, name, "plain", "authzid");
		goto done;
	}
	login(p, authc, authc_len, pass, pass_len, "plain");
done:
	if (msg.data != NULL)
		explicit_bzero(msg.data, msg.len);
	buf_free(&msg);
}

/* mech_login - AUTH LOGIN [initial-response]: name, then password */
static void
mech_login(struct pop3d *p, const struct pop3d_cmd *c)
{
	struct buf name = BUF_INIT(POP3D_ARG_MAX);
	struct buf pass = BUF_INIT(AUTH_PASSWORD_MAX);

	/* "VXNlcm5hbWU6" is "Username:", "UGFzc3dvcmQ6" "Password:". */
	if (c->arg2 != NULL ? !initial(p, c, &name) :
	    !sasl_response(p, "VXNlcm5hbWU6", &name))
		goto done;
	if (!sasl_response(p, "UGFzc3dvcmQ6", &pass))
		goto done;
	login(p, name.data != NULL ? name.data : "", name.len,
	    pass.data != NULL ? pass.data : "", pass.len, "login");
done:
	if (pass.data != NULL)
		explicit_bzero(pass.data, pass.len);
	buf_free(&pass);
	buf_free(&name);
}

/* pop3d_cmd_auth - RFC 5034 AUTH */
void
pop3d_cmd_auth(struct pop3d *p, const struct pop3d_cmd *c)
{
	if (!pop3d_login_allowed(p)) {
		refuse_plaintext(p);
		return;
	}
	if (c->arg == NULL) {
		pop3d_reply(p, "+OK Mechanisms follow");
		pop3d_reply(p, "PLAIN");
		pop3d_reply(p, "LOGIN");
		pop3d_reply(p, ".");
		return;
	}
	if (c->arg_len == 5 && str_eq_nocase_n(c->arg, "PLAIN", 5))
		auth_plain(p, c);
	else if (c->arg_len == 5 && str_eq_nocase_n(c->arg, "LOGIN", 5))
		mech_login(p, c);
	else
		pop3d_reply(p, "-ERR Unsupported authentication mechanism");
}
