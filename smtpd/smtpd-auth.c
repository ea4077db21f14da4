/*
 * NAME
 *	smtpd-auth - the AUTH command of smtpd(8) (RFC 4954)
 *
 * SYNOPSIS
 *	void session_auth(struct session *s, const struct smtp_cmd *cmd);
 *
 * DESCRIPTION
 *	AUTH is offered on the submission listeners only, after TLS (or
 *	without it when allow_plaintext_auth is set, for loopback tests),
 *	and once per session. Mechanisms: PLAIN (RFC 4616), with or without
 *	an initial response ("=" is an empty one), and LOGIN (the
 *	"Username:"/"Password:" exchange, an initial response being the
 *	user name). A client answers a challenge with one line of base64, at
 *	most 12288 octets, or "*" to cancel.
 *
 *	Every attempt starts from nothing: no state survives a failed or
 *	cancelled exchange (SECURITY U1). Passwords live in stack buffers
 *	that are wiped before the function returns.
 *
 *	A wrong password or an unknown user get the same reply, 535 5.7.8,
 *	after a delay that doubles with each failure, in this session
 *	(auth_delay_ms, then twice that, ...) or from this address in all
 *	sessions (the login throttle, smtpd-users.c), whichever is longer;
 *	the max_auth_fail-th failure ends the session with 421 4.7.0, and an
 *	address with too many recent failures gets 454 4.7.0 without its
 *	password being looked at (U2). auth_password() itself costs the
 *	same for an unknown user and a wrong password.
 *
 * DIAGNOSTICS
 *	Replies: 235 2.7.0 success; 334 challenges; 501 5.5.4 syntax, 501
 *	5.5.2 bad base64 or PLAIN message, 501 5.7.0 cancelled, 500 5.5.2
 *	response too long; 502 5.5.1 not on this port; 503 5.5.1 out of
 *	sequence (before EHLO, after AUTH, inside a transaction); 504 5.5.4
 *	unknown mechanism; 530 5.7.0 TLS first (T2); 535 5.7.8 bad
 *	credentials; 454 4.7.0 temporary failure of the password check, or
 *	too many failures from this address.
 *
 * SECURITY
 *	The password never reaches a log; the user name only escaped.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "io.h"
#include "str.h"
#include "throttle.h"

#include "smtpd.h"

#define DECODED_MAX	(SASL_USER_MAX * 2 + SASL_PASS_MAX + 8)

/* read_response - one SASL response line, decoded into out; 0, -1 replied */
static int
read_response(struct session *s, struct buf *out)
{
	int flags;

	buf_reset(out);
	if (session_read_line(s, SMTPD_AUTH_TEXT_MAX, s->opt->timeout_ms,
	    &flags) < 0) {
		session_reply(s, 500, "5.5.2", "Error: response too long");
		return -1;
	}
	if (s->line.len == 1 && s->line.data[0] == '*') {
		session_reply(s, 501, "5.7.0", "Authentication cancelled");
		return -1;
	}
	if (sasl_b64_decode(s->line.data, s->line.len, out) < 0) {
		session_reply(s, 501, "5.5.2", "Error: invalid base64 data");
		return -1;
	}
	return 0;
}

/* mech_is - 1 if the mechanism name m[0..n) is name (any case) */
static int
mech_is(const char *m, size_t n, const char *name)
{
	return strlen(name) == n && str_eq_nocase_n(m, name, n);
}

/* failed - count a failure, delay, reply 535; the last one hangs up */
static void
failed(struct session *s, const char *user)
{
	unsigned ms = s->opt->auth_delay_ms, i, tms;

	if (s->auth_failures < UINT32_MAX)
		s->auth_failures++;
	for (i = 1; i < s->auth_failures && ms < 8000; i++)
		ms *= 2;
	tms = users_failed(s);		/* this address, all sessions */
	if (tms > ms)
		ms = tms;
	session_log(s, LOG_NOTICE, "auth", "user", user, "status", "fail",
	    (const char *)NULL);
	throttle_pause_ms(ms);
	session_reply(s, 535, "5.7.8",
	    "Error: authentication credentials invalid");
	if (s->auth_failures >= s->opt->max_auth_fail)
		die_hangup(s, 421, "4.7.0",
		    "Error: too many failed authentications", "auth-failures");
}

/* user_ok - a user name we will pass on: printable, not too long */
static int
user_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > SASL_USER_MAX || memchr(p, '\0', n) != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* session_auth - the AUTH command */
void
session_auth(struct session *s, const struct smtp_cmd *cmd)
{
	struct buf dec = BUF_INIT(DECODED_MAX);
	char user[SASL_USER_MAX + 1], pass[SASL_PASS_MAX + 1];
	const char *mech = cmd->arg, *init = NULL, *sp;
	size_t mlen, ilen = 0, plen = 0;
	int r;

	user[0] = '\0';
	pass[0] = '\0';
	if (s->mode == SMTPD_MODE_SMTP) {
		session_reply(s, 502, "5.5.1",
		    "Error: AUTH is not available on this port");
		return;
	}
	if (!s->esmtp) {
		session_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->authenticated) {
		session_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->in_mail) {
		session_reply(s, 503, "5.5.1",
		    "Error: AUTH not allowed in a mail transaction");
		return;
	}
	if (!s->tls && !s->cfg->allow_plaintext_auth) {
		session_reply(s, 530, "5.7.0",
		    "Must issue a STARTTLS command first");
		return;
	}
	sp = memchr(cmd->arg, ' ', cmd->arglen);
	mlen = sp != NULL ? (size_t)(sp - cmd->arg) : cmd->arglen;
	if (sp != NULL) {
		init = sp + 1;
		ilen = cmd->arglen - mlen - 1;
		if (ilen == 0 || memchr(init, ' ', ilen) != NULL) {
			session_reply(s, 501, "5.5.4",
			    "Syntax: AUTH mechanism [initial-response]");
			return;
		}
	}
	if (mlen == 0) {
		session_reply(s, 501, "5.5.4",
		    "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	if (mech_is(mech, mlen, "PLAIN")) {
		if (init == NULL) {
			session_reply(s, 334, NULL, "%s", "");
			if (read_response(s, &dec) < 0)
				goto out;
		} else if (!(ilen == 1 && init[0] == '=') &&
		    sasl_b64_decode(init, ilen, &dec) < 0) {
			session_reply(s, 501, "5.5.2",
			    "Error: invalid base64 data");
			goto out;
		}
		if (sasl_plain_split(dec.data != NULL ? dec.data : "",
		    dec.len, user, sizeof(user), pass, sizeof(pass),
		    &plen) < 0) {
			if (errno == EPERM) {
				failed(s, "(authzid mismatch)");
				goto out;
			}
			session_reply(s, 501, "5.5.2",
			    "Error: malformed PLAIN response");
			goto out;
		}
	} else if (mech_is(mech, mlen, "LOGIN")) {
		if (init == NULL) {
			session_reply(s, 334, NULL, "VXNlcm5hbWU6");
			if (read_response(s, &dec) < 0)
				goto out;
		} else if (sasl_b64_decode(init, ilen, &dec) < 0) {
			session_reply(s, 501, "5.5.2",
			    "Error: invalid base64 data");
			goto out;
		}
		if (!user_ok(dec.data != NULL ? dec.data : "", dec.len)) {
			session_reply(s, 501, "5.5.2",
			    "Error: malformed user name");
			goto out;
		}
		memcpy(user, dec.data, dec.len);
		user[dec.len] = '\0';
		session_reply(s, 334, NULL, "UGFzc3dvcmQ6");
		if (read_response(s, &dec) < 0)
			goto out;
		if (dec.len == 0 || dec.len > SASL_PASS_MAX ||
		    memchr(dec.data, '\0', dec.len) != NULL) {
			failed(s, user);
			goto out;
		}
		memcpy(pass, dec.data, dec.len);
		plen = dec.len;
		pass[plen] = '\0';
	} else {
		session_reply(s, 504, "5.5.4",
		    "Error: unrecognized authentication type");
		goto out;
	}
	if (users_throttled(s)) {
		session_log(s, LOG_NOTICE, "auth", "user", user, "status",
		    "throttled", (const char *)NULL);
		session_reply(s, 454, "4.7.0", "Error: too many failed logins "
		    "from your address, try again later");
		goto out;
	}
	r = users_password(s, user, pass, plen);
	if (r < 0) {
		session_reply(s, 454, "4.7.0",
		    "Temporary authentication failure");
	} else if (r == 0) {
		failed(s, user);
	} else {
		s->authenticated = 1;
		users_succeeded(s);
		(void)str_copy(s->auth_user, sizeof(s->auth_user), user);
		s->step = 2;
		session_log(s, LOG_INFO, "auth", "user", user, "status", "ok",
		    (const char *)NULL);
		session_reply(s, 235, "2.7.0", "Authentication successful");
	}
out:
	explicit_bzero(pass, sizeof(pass));
	if (dec.data != NULL)
		explicit_bzero(dec.data, dec.cap);
	buf_free(&dec);
}
