/*
 * NAME
 *	imapd-auth - LOGIN and AUTHENTICATE PLAIN; opening the user's Maildir
 *
 * SYNOPSIS
 *	void imapd_cmd_login(struct imapd *d);
 *	void imapd_cmd_authenticate(struct imapd *d);
 *	int imapd_login_allowed(const struct imapd *d);
 *	void imapd_handed_login(struct imapd *d, const struct handoff *h);
 *
 * DESCRIPTION
 *	Credentials are taken only over TLS, or in plaintext when the
 *	configuration says allow_plaintext_auth (loopback testing); before
 *	that CAPABILITY says LOGINDISABLED and LOGIN/AUTHENTICATE answer
 *	"NO [PRIVACYREQUIRED]" (SECURITY I1). AUTHENTICATE PLAIN takes an
 *	initial response (SASL-IR, RFC 4959) or asks for one with "+ ".
 *
 *	Every failure waits as the shared login throttle (throttle.h) says
 *	and gets the same "NO [AUTHENTICATIONFAILED]" whether the user
 *	exists or not; an address with too many recent failures is refused
 *	without a password check; IMAPD_AUTH_FAILS_MAX failures end the
 *	connection (U2).
 *
 *	Passwords go to authd (auth.h). When authd answers with a ticket
 *	and imapd-user is installed beside imapd, the logged-in client is
 *	handed to it (handoff.h): this process runs as a user that can read
 *	no mail, imapd-user as the mail owner. imapd_handed_login() is the
 *	other side, in imapd-user: it redeems the ticket with authd and
 *	finishes the login below. Without authd (imapd run alone) the
 *	login finishes here.
 *
 *	After a good password: at most imap_max_sessions_per_user_ip sessions
 *	of one user from one address (I9; flock()ed slot files in
 *	state_dir/imapd-sessions, held until the process ends), then the
 *	Maildir MAIL_DIR/DOMAIN/LOCAL/ is opened component by component
 *	with O_NOFOLLOW (created with its default folders when missing) and
 *	the process confines itself to it: chroot and the owner's ids when
 *	root, and a Landlock ruleset where the kernel has one (I6).
 *
 * DIAGNOSTICS
 *	A users table that cannot be read is "NO [UNAVAILABLE]"; a Maildir
 *	that cannot be opened ends the session (die_temp).
 *
 * SECURITY
 *	Passwords are wiped after use and never logged; the name tried is
 *	logged escaped.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "handoff.h"
#include "landlock.h"
#include "progpath.h"
#include "imapd.h"
#include "sasl.h"
#include "sha256.h"
#include "log.h"
#include "str.h"
#include "userdb.h"

#define NAME_MAX_LEN	320

/* imapd_login_allowed - may credentials be sent now? */
int
imapd_login_allowed(const struct imapd *d)
{
	return io_is_tls(d->io) || d->cfg->allow_plaintext_auth;
}

/* open_throttle - the shared throttle table, once; NULL if unusable */
static struct throttle *
open_throttle(struct imapd *d)
{
	static int tried;
	const char *error = NULL;

	if (d->throttle != NULL || tried || !d->have_tkey)
		return d->throttle;
	tried = 1;
	d->throttle = throttle_open_state(d->cfg->state_dir, &error);
	if (d->throttle == NULL)
		imapd_log(d, LOG_WARNING, "throttle-unusable",
		    " error=\"%s\"", error != NULL ? error : "unknown");
	return d->throttle;
}

/* failed - a wrong password or unknown user: count, wait, answer */
static void
failed(struct imapd *d, const char *user, const char *method,
    const char *why)
{
	struct throttle *t = open_throttle(d);
	struct buf b = BUF_INIT(1024);
	unsigned n = 0;

	if (t != NULL && throttle_fail(t, d->tkey, time(NULL), &n) < 0)
		n = 0;
	d->auth_fails++;
	(void)log_kv_str(&b, "tried", user);
	imapd_log(d, LOG_WARNING, "auth-failed", "%s method=%s reason=%s "
	    "failures=%u", buf_cstr(&b), method, why,
	    n > 0 ? n : d->auth_fails);
	buf_free(&b);
	imapd_flush(d);
	throttle_pause_ms(throttle_delay_ms(n > 0 ? n : d->auth_fails));
	imapd_no(d, "[AUTHENTICATIONFAILED] Authentication failed");
	if (d->auth_fails >= IMAPD_AUTH_FAILS_MAX)
		die_bye(d, "Too many failed logins", "auth-failures");
}

/* confine - chroot and the owner's ids (as root), then Landlock */
static void
confine(struct imapd *d, int dir_fd)
{
	struct stat st;
	const char *how = "none";

	if (fstat(dir_fd, &st) < 0)
		die_temp(d, "cannot stat the Maildir");
	if (geteuid() == 0) {
		if (LANDLOCK_SANITIZER) {
			if (fchdir(dir_fd) < 0)
				die_temp(d, "cannot enter the Maildir");
			how = "sanitizer";
		} else if (fchdir(dir_fd) < 0 || chroot(".") < 0 ||
		    chdir("/") < 0)
			die_temp(d, "cannot chroot into the Maildir");
		else
			how = "chroot";
		if (st.st_uid != 0) {
			if (setgroups(0, NULL) < 0 ||
			    setresgid(st.st_gid, st.st_gid, st.st_gid) < 0 ||
			    setresuid(st.st_uid, st.st_uid, st.st_uid) < 0 ||
			    geteuid() != st.st_uid)
				die_temp(d, "cannot become the Maildir's "
				    "owner");
			how = LANDLOCK_SANITIZER ? "sanitizer,uid" :
			    "chroot,uid";
		}
	} else if (fchdir(dir_fd) < 0)
		die_temp(d, "cannot enter the Maildir");
	imapd_log(d, LOG_DEBUG, "confined", " how=%s%s", how,
	    landlock_fence(dir_fd, LANDLOCK_DIRS) == 0 ? ",landlock" : "");
}

/* session_slot - one of the user's per-address session slots, or exit */
static void
session_slot(struct imapd *d)
{
	uint8_t md[SHA256_LEN];
	unsigned i;
	struct buf key = BUF_INIT(1024), path = BUF_INIT(4096);
	char hex[17];
	int dfd, fd;

	(void)buf_printf(&key, "%s\n%s", d->address, d->client);
	sha256(key.data, key.len, md);
	for (i = 0; i < 8; i++) {
		hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hex[16] = '\0';
	(void)buf_printf(&path, "%s/imapd-sessions", d->cfg->state_dir);
	(void)mkdir(buf_cstr(&path), 0700);
	dfd = open(buf_cstr(&path), O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd < 0)
		goto out;	/* no slots: not worth refusing the login */
	for (i = 0; i < d->lim.sessions; i++) {
		buf_reset(&path);
		(void)buf_printf(&path, "%s.%u", hex, i);
		fd = openat(dfd, buf_cstr(&path), O_RDWR | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			(void)close(dfd);
			goto out;	/* held until the process ends */
		}
		(void)close(fd);
	}
	(void)close(dfd);
	imapd_log(d, LOG_NOTICE, "login-refused", " reason=too-many-sessions");
	imapd_no(d, "[LIMIT] Too many sessions for this user from your "
	    "address");
	imapd_flush(d);
	die_bye(d, "Too many sessions", "session-limit");
out:
	buf_free(&key);
	buf_free(&path);
}

/* open_maildir - open (or create) and confine to the user's Maildir */
static void
open_maildir(struct imapd *d, const struct userdb_user *u)
{
	struct maildir md;
	const char *error = NULL;
	int mfd;

	mfd = open(d->cfg->mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0 && errno == ENOENT && mkdir(d->cfg->mail_dir, 0755) == 0)
		mfd = open(d->cfg->mail_dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	if (mfd < 0)
		die_temp(d, "cannot open mail_dir");
	if (userdb_maildir_open(mfd, u, USERDB_MD_CREATE, &md, &error) < 0) {
		(void)close(mfd);
		imapd_log(d, LOG_ERR, "mailbox-refused", " error=\"%s\"",
		    error != NULL ? error : "unknown");
		die_temp(d, "cannot open the Maildir");
	}
	(void)close(mfd);
	if ((d->root_fd = dup(md.fd)) < 0)
		die_temp(d, "cannot open the Maildir");
	maildir_close(&md);
	confine(d, d->root_fd);
}

/* finish_login - the user is known: slot, Maildir, state AUTH, OK */
static void
finish_login(struct imapd *d, const char *name, const char *method)
{
	const char *error = NULL;
	struct userdb_user u;
	struct userdb *db;
	int r;

	if ((db = userdb_open(d->cfg, &error)) == NULL)
		die_temp(d, error);
	r = userdb_user_lookup(db, name, &u, &error);
	userdb_close(db);
	if (r <= 0)
		die_temp(d, r < 0 ? error : "user vanished after login");
	if (str_copy(d->address, sizeof(d->address), u.address) < 0)
		die_temp(d, "address too long");
	session_slot(d);
	open_maildir(d, &u);
	userdb_user_free(&u);
	if (d->throttle != NULL) {
		throttle_close(d->throttle);
		d->throttle = NULL;
	}
	d->method = method;
	d->state = IMAPD_AUTH;
	d->bad = 0;
	io_set_timeout(d->io, d->lim.idle_ms);
	imapd_log(d, LOG_INFO, "login", " step=6 method=%s tls=%s", method,
	    io_is_tls(d->io) ? "yes" : "no");
	{
		struct buf b = BUF_INIT(4096);

		imapd_capability(d, &b);
		imapd_ok(d, "[CAPABILITY %s] Logged in", buf_cstr(&b));
		buf_free(&b);
	}
}

/* hand_off - pass the logged-in client to imapd-user, if installed */
static void
hand_off(struct imapd *d, const struct auth_reply *ar, const char *method)
{
	static struct handoff h;
	struct buf prog = BUF_INIT(4096);
	const char *error = NULL;

	if (ar->ticket[0] == '\0' ||
	    progpath_sibling(IMAPD_USER_PROGRAM, &prog) < 0 ||
	    access(buf_cstr(&prog), X_OK) < 0) {
		buf_free(&prog);
		return;		/* no authd or no imapd-user: go on here */
	}
	memset(&h, 0, sizeof(h));
	if (str_copy(h.ticket, sizeof(h.ticket), ar->ticket) < 0 ||
	    str_copy(h.client, sizeof(h.client), d->client) < 0 ||
	    str_copy(h.method, sizeof(h.method), method) < 0 ||
	    str_copy(h.tag, sizeof(h.tag), d->tag) < 0)
		die_temp(d, "handoff field too long");
	imapd_flush(d);
	io_set_timeout(d->io, d->lim.idle_ms);
	if (d->throttle != NULL) {
		throttle_close(d->throttle);
		d->throttle = NULL;
	}
	if (handoff_start(d->io, buf_cstr(&prog), d->cfg->path,
	    d->implicit_tls ? "imaps" : "imap", &h, &error) < 0) {
		imapd_log(d, LOG_ERR, "handoff-failed", " error=\"%s\"",
		    error);
		die_temp(d, "cannot start the session");
	}
	/* The relay has ended: the session is over. */
	(void)io_tls_shutdown(d->io);
	exit(0);
}

/* login - check user and password; on success enter state AUTH */
static void
login(struct imapd *d, const char *user, size_t ulen, const char *pass,
    size_t plen, const char *method)
{
	struct throttle *t = open_throttle(d);
	char name[NAME_MAX_LEN + 1];
	const char *error = NULL;
	struct auth_reply ar;
	unsigned n = 0;
	int r;

	if (ulen == 0 || memchr(user, '\0', ulen) != NULL ||
	    str_copy_n(name, sizeof(name), user, ulen) < 0) {
		failed(d, "", method, "bad-name");
		return;
	}
	if (t != NULL && throttle_check(t, d->tkey, time(NULL), &n) > 0) {
		struct buf b = BUF_INIT(1024);

		(void)log_kv_str(&b, "tried", name);
		imapd_log(d, LOG_WARNING, "login-refused", "%s method=%s "
		    "reason=throttled failures=%u", buf_cstr(&b), method, n);
		buf_free(&b);
		imapd_no(d, "[UNAVAILABLE] Too many failed logins from your "
		    "address, try again later");
		imapd_flush(d);
		die_bye(d, "Too many failed logins", "throttled");
	}
	r = auth_login(d->cfg, "imap", name, pass, plen, d->client, &ar,
	    &error);
	if (r < 0) {
		imapd_log(d, LOG_ERR, "auth-error", " error=\"%s\"",
		    error != NULL ? error : "unknown");
		imapd_no(d, "[UNAVAILABLE] Temporary authentication failure");
		return;
	}
	if (r == 0 && ar.throttled) {
		imapd_log(d, LOG_WARNING, "login-refused", " method=%s "
		    "reason=throttled retry_after=%u", method,
		    ar.retry_after);
		imapd_no(d, "[UNAVAILABLE] Too many failed logins, try again "
		    "later");
		imapd_flush(d);
		die_bye(d, "Too many failed logins", "throttled");
	}
	if (r == 0) {
		failed(d, name, method, "wrong");
		return;
	}
	if (t != NULL)
		(void)throttle_success(t, d->tkey, time(NULL));
	hand_off(d, &ar, method);
	finish_login(d, ar.user[0] != '\0' ? ar.user : name, method);
}

/* imapd_handed_login - in imapd-user: redeem the ticket, then log in */
void
imapd_handed_login(struct imapd *d, const struct handoff *h)
{
	static char tag[IMAP_TAG_MAX + 1];
	static char method[sizeof(h->method)];
	const char *error = NULL;
	struct auth_reply ar;
	int r;

	(void)str_copy(tag, sizeof(tag), h->tag[0] != '\0' ? h->tag : "*");
	(void)str_copy(method, sizeof(method), h->method);
	d->tag = tag;
	r = auth_redeem(d->cfg, "imap", h->ticket, &ar, &error);
	if (r <= 0) {
		imapd_log(d, LOG_ERR, "handoff-refused", " error=\"%s\"",
		    r < 0 && error != NULL ? error : "ticket not accepted");
		imapd_no(d, "[UNAVAILABLE] Temporary authentication failure");
		imapd_flush(d);
		die_bye(d, "Try again later", "handoff-refused");
	}
	finish_login(d, ar.user, method);
}

/* imapd_cmd_login - LOGIN user password */
void
imapd_cmd_login(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;

	if (!imapd_login_allowed(d)) {
		imapd_no(d, "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (imap_cmd_count(c) != 2 || !imap_arg_is_string(&c->args[0]) ||
	    !imap_arg_is_string(&c->args[1])) {
		imapd_bad(d, "Syntax: LOGIN user password");
		return;
	}
	login(d, c->args[0].s, c->args[0].len, c->args[1].s, c->args[1].len,
	    "login");
	explicit_bzero(c->args[1].s, c->args[1].len);
}

/* imapd_cmd_authenticate - AUTHENTICATE PLAIN [initial-response] */
void
imapd_cmd_authenticate(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;
	struct buf line = BUF_INIT(8192), msg = BUF_INIT(8192);
	const char *data, *z1, *z2;
	size_t len;

	if (!imapd_login_allowed(d)) {
		imapd_no(d, "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (imap_cmd_count(c) < 1 || imap_cmd_count(c) > 2 ||
	    c->args[0].type != IMAP_ARG_ATOM ||
	    (c->nargs == 2 && c->args[1].type != IMAP_ARG_ATOM)) {
		imapd_bad(d, "Syntax: AUTHENTICATE mechanism [response]");
		return;
	}
	if (!imap_arg_is_atom(&c->args[0], "PLAIN")) {
		imapd_no(d, "Unsupported authentication mechanism");
		return;
	}
	if (c->nargs == 2) {
		data = c->args[1].s;
		len = c->args[1].len;
	} else {
		imapd_send(d, "+ \r\n", 4);
		imapd_flush(d);
		if (!imapd_read_line(d, &line, 8192)) {
			imapd_bad(d, "Response too long");
			goto done;
		}
		data = line.data != NULL ? line.data : "";
		len = line.len;
	}
	if (len == 1 && data[0] == '*') {
		imapd_bad(d, "Authentication cancelled");
		goto done;
	}
	if (len == 1 && data[0] == '=')
		len = 0;
	if (sasl_b64_decode(data, len, &msg) < 0) {
		imapd_bad(d, "Invalid base64 data");
		goto done;
	}
	/* authzid NUL authcid NUL password */
	if (msg.len == 0 || (z1 = memchr(msg.data, '\0', msg.len)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', msg.len - (size_t)(z1 + 1 -
	    msg.data))) == NULL) {
		failed(d, "", "plain", "malformed");
		goto done;
	}
	if (z1 != msg.data && ((size_t)(z1 - msg.data) != (size_t)(z2 - z1 - 1) ||
	    !str_eq_nocase_n(msg.data, z1 + 1, (size_t)(z2 - z1 - 1)))) {
		failed(d, "", "plain", "authzid");
		goto done;
	}
	login(d, z1 + 1, (size_t)(z2 - z1 - 1), z2 + 1,
	    msg.len - (size_t)(z2 + 1 - msg.data), "plain");
done:
	if (msg.data != NULL)
		explicit_bzero(msg.data, msg.len);
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	buf_free(&msg);
	buf_free(&line);
}
