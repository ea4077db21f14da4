/*
 * NAME
 *	auth - password checks: the authd client
 *
 * SYNOPSIS
 *	int auth_login(const struct config *cfg, const char *service,
 *	    const char *user, const char *password, size_t password_len,
 *	    const char *client_ip, struct auth_reply *r,
 *	    const char **error_r);
 *	int auth_redeem(const struct config *cfg, const char *service,
 *	    const char *ticket, struct auth_reply *r, const char **error_r);
 *	int auth_password(const struct config *cfg, const char *user,
 *	    const char *password, size_t password_len,
 *	    const char *client_ip, const char **error_r);
 *	int auth_check_hash(const char *hash, const char *password,
 *	    size_t password_len);
 *	int auth_check_user(struct userdb *db, const char *user,
 *	    const char *password, size_t password_len, char *canon,
 *	    size_t canon_size, const char **error_r);
 *	int auth_hash_password(const char *password, size_t password_len,
 *	    struct buf *hash_r, const char **error_r);
 *
 * DESCRIPTION
 *	See auth.h. auth_login() and auth_redeem() connect to
 *	STATE_DIR/auth/socket (non-blocking, at most AUTH_TIMEOUT_MS), send
 *	one request line (authproto.h) and read one reply line, each wait
 *	bounded by AUTH_TIMEOUT_MS and the whole exchange by that plus
 *	THROTTLE_DELAY_MAX_MS, then close the connection.
 *
 *	check_local(), authd's own check and the stand-alone fallback, opens
 *	the password table with userdb_open_passwd() for each check (so a
 *	changed password counts at once), finds the user with
 *	userdb_user_lookup() and hands its hash, or none, to
 *	auth_check_hash(). That always runs crypt_rn(3) once: against the
 *	stored hash when it is usable, else against a fixed dummy yescrypt
 *	hash whose result is thrown away. authd keeps its handle open and
 *	calls auth_check_user() with it.
 *
 * DIAGNOSTICS
 *	auth_login, auth_password, auth_check_user: 1 right, 0 wrong,
 *	unknown or throttled, -1 temporary (with *error_r). auth_redeem: 1
 *	valid, 0 not (or no authd), -1 temporary. auth_check_hash: 1 or 0 (a password of more than
 *	AUTH_PASSWORD_MAX octets or holding a NUL byte never matches).
 *	auth_hash_password: 0, or -1 with errno and *error_r: EINVAL for an
 *	empty, over-long or NUL-holding password (permanent), anything
 *	from crypt_gensalt_rn/crypt_rn otherwise (temporary).
 *
 * SECURITY
 *	The fallback reads password hashes: only a caller allowed to read
 *	passwd.cdb (authd, or a program run on its own by its owner) gets
 *	an answer from it; others get -1. Copies of the password (the
 *	request line holds its base64) and the crypt work area are wiped
 *	with explicit_bzero() before they are freed. authd's replies are
 *	checked like any peer's (authproto_parse_reply()).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "auth.h"
#include "authproto.h"
#include "io.h"
#include "str.h"
#include "throttle.h"
#include "userdb.h"

_Static_assert(AUTH_USER_MAX == USERDB_ADDR_MAX, "AUTH_USER_MAX");
_Static_assert(AUTH_TICKET_LEN == AUTHPROTO_TICKET_LEN, "AUTH_TICKET_LEN");

/* A yescrypt hash (default cost) of a password nobody knows. */
static const char dummy_hash[] =
    "$y$j9T$IGGmzolEU03b5y5PUA3l6/$"
    "BQdOXtJwndBv2pICL.t3SPdxf2U9k2mXW680wFpnnXD";

/* hash_usable - 1 if hash is a "$id$..." crypt(3) hash we may check */
static int
hash_usable(const char *hash)
{
	return hash != NULL && hash[0] == '$' &&
	    strnlen(hash, USERDB_HASH_MAX + 1) <= USERDB_HASH_MAX;
}

/* equal_ct - 1 if a and b are equal, in time that depends on a's length */
static int
equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strnlen(b, USERDB_HASH_MAX + 1), i;
	volatile unsigned char diff = (unsigned char)(la != lb);

	for (i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ (i < lb ? b[i] : 0));
	return diff == 0;
}

/* auth_check_hash - 1 if password matches hash; always one crypt_rn */
int
auth_check_hash(const char *hash, const char *password, size_t password_len)
{
	struct crypt_data *data;
	const char *setting, *out;
	char *pw;
	int ok, pw_ok, usable = hash_usable(hash);

	pw_ok = password_len <= AUTH_PASSWORD_MAX &&
	    memchr(password, '\0', password_len) == NULL;
	/* A bad password still costs a hash, of a harmless stand-in. */
	pw = alloc_strndup(pw_ok ? password : "", pw_ok ? password_len : 0);
	setting = usable ? hash : dummy_hash;
	data = alloc_calloc(1, sizeof(*data));
	out = crypt_rn(pw, setting, data, (int)sizeof(*data));
	if (out == NULL && usable) {	/* a hash crypt cannot read */
		usable = 0;
		setting = dummy_hash;
		out = crypt_rn(pw, setting, data, (int)sizeof(*data));
	}
	ok = out != NULL && equal_ct(out, setting) && usable && pw_ok;
	explicit_bzero(pw, strlen(pw));
	free(pw);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}

/* auth_check_user - check user's password in db; 1, 0 or -1 */
int
auth_check_user(struct userdb *db, const char *user, const char *password,
    size_t password_len, char *canon, size_t canon_size,
    const char **error_r)
{
	struct userdb_user u;
	int found, ok;

	if (canon_size > 0)
		canon[0] = '\0';
	found = userdb_user_lookup(db, user, &u, error_r);
	if (found < 0)
		return -1;
	ok = auth_check_hash(found > 0 ? u.hash : NULL, password,
	    password_len);
	if (found > 0) {
		if (ok && str_copy(canon, canon_size, u.address) < 0)
			ok = 0;
		explicit_bzero(u.hash, sizeof(u.hash));
		userdb_user_free(&u);
	}
	return ok;
}

/* check_local - the stand-alone check against passwd.cdb */
static int
check_local(const struct config *cfg, const char *user,
    const char *password, size_t password_len, struct auth_reply *r,
    const char **error_r)
{
	struct userdb *db;
	int ok;

	if ((db = userdb_open_passwd(cfg, error_r)) == NULL)
		return -1;
	ok = auth_check_user(db, user, password, password_len, r->user,
	    sizeof(r->user), error_r);
	userdb_close(db);
	return ok;
}

/* connect_authd - a connected socket; -1 with errno (ENOENT: no authd) */
static int
connect_authd(const struct config *cfg, const char **error_r)
{
	struct timeval tv = { AUTH_TIMEOUT_MS / 1000, 0 };
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    cfg->state_dir, AUTH_SOCKET) >= sizeof(sun.sun_path)) {
		*error_r = "authd socket path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = "cannot make a socket";
		return -1;
	}
	/* A full backlog blocks connect(2) for at most SO_SNDTIMEO. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		e = errno;
		*error_r = "cannot set a socket timeout";
		(void)close(fd);
		errno = e;
		return -1;
	}
	do
		e = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	while (e < 0 && errno == EINTR);
	if (e == 0)
		return fd;
	e = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
	*error_r = "cannot connect to authd";
	(void)close(fd);
	errno = e;
	return -1;
}

/* ask - one exchange with authd; 1 reply in *rep, 0 no authd, -1 temp */
static int
ask(const struct config *cfg, const struct authproto_request *req,
    struct authproto_reply *rep, const char **error_r)
{
	struct buf line = BUF_INIT(AUTHPROTO_LINE_MAX);
	struct io *io;
	int fd, r = -1, flags;

	if ((fd = connect_authd(cfg, error_r)) < 0)
		return errno == ENOENT || errno == ECONNREFUSED ? 0 : -1;
	io = io_new(fd, fd, AUTH_TIMEOUT_MS);
	io_set_deadline(io, AUTH_TIMEOUT_MS + THROTTLE_DELAY_MAX_MS);
	if (authproto_format_request(req, &line) < 0)
		*error_r = "cannot make the request";
	else if (io_write(io, line.data, line.len) < 0 || io_flush(io) < 0)
		*error_r = "cannot write to authd";
	else {
		explicit_bzero(line.data, line.len);
		if (io_read_line(io, &line, AUTHPROTO_LINE_MAX - 1,
		    &flags) != 1 || flags != IO_LINE_LF)
			*error_r = "no answer from authd";
		else if (authproto_parse_reply(line.data, line.len, rep,
		    error_r) < 0)
			*error_r = "bad answer from authd";
		else
			r = 1;
	}
	if (line.data != NULL)
		explicit_bzero(line.data, line.cap);
	buf_free(&line);
	io_free(io);
	(void)close(fd);
	if (r < 0 && errno == 0)
		errno = EPROTO;
	return r;
}

/* user_sendable - 1 if user can be a user name on the wire */
static int
user_sendable(const char *user)
{
	size_t len = strnlen(user, AUTH_USER_MAX + 1), i;

	if (len == 0 || len > AUTH_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return 0;
	return 1;
}

/* auth_login - ask authd (or passwd.cdb) about user's password */
int
auth_login(const struct config *cfg, const char *service, const char *user,
    const char *password, size_t password_len, const char *client_ip,
    struct auth_reply *r, const char **error_r)
{
	struct authproto_request req;
	struct authproto_reply rep;
	int got;

	memset(r, 0, sizeof(*r));
	if (!authproto_service_ok(service)) {
		*error_r = "bad service name";
		errno = EINVAL;
		return -1;
	}
	if (!user_sendable(user)) {	/* no such user; costs a hash */
		(void)auth_check_hash(NULL, password, password_len);
		return 0;
	}
	memset(&req, 0, sizeof(req));
	req.type = AUTHPROTO_PASS;
	(void)str_copy(req.service, sizeof(req.service), service);
	if (client_ip == NULL || str_copy(req.ip, sizeof(req.ip),
	    client_ip) < 0 || strspn(req.ip, "0123456789abcdefABCDEF.:") !=
	    strlen(req.ip) || req.ip[0] == '\0')
		(void)str_copy(req.ip, sizeof(req.ip), "-");
	(void)str_copy(req.user, sizeof(req.user), user);
	/* Longer never matches; one octet more says so to authd. */
	req.password_len = password_len < sizeof(req.password) ?
	    password_len : sizeof(req.password);
	memcpy(req.password, password, req.password_len);
	got = ask(cfg, &req, &rep, error_r);
	authproto_request_wipe(&req);
	if (got == 0)
		return check_local(cfg, user, password, password_len, r,
		    error_r);
	if (got < 0)
		return -1;
	switch (rep.kind) {
	case AUTHPROTO_OK:
		(void)str_copy(r->user, sizeof(r->user), rep.user);
		(void)str_copy(r->ticket, sizeof(r->ticket), rep.ticket);
		return 1;
	case AUTHPROTO_NO:
		r->throttled = rep.throttled;
		r->retry_after = rep.wait;
		return 0;
	default:
		*error_r = "authd reports a temporary failure";
		errno = EAGAIN;
		return -1;
	}
}

/* auth_redeem - take back a ticket authd issued for service */
int
auth_redeem(const struct config *cfg, const char *service,
    const char *ticket, struct auth_reply *r, const char **error_r)
{
	struct authproto_request req;
	struct authproto_reply rep;
	int got;

	memset(r, 0, sizeof(*r));
	if (!authproto_service_ok(service)) {
		*error_r = "bad service name";
		errno = EINVAL;
		return -1;
	}
	if (!authproto_ticket_ok(ticket, strnlen(ticket,
	    AUTHPROTO_TICKET_LEN + 1))) {
		*error_r = "not a ticket";
		return 0;
	}
	memset(&req, 0, sizeof(req));
	req.type = AUTHPROTO_TICKET;
	(void)str_copy(req.service, sizeof(req.service), service);
	(void)str_copy(req.ticket, sizeof(req.ticket), ticket);
	got = ask(cfg, &req, &rep, error_r);
	if (got == 0) {
		*error_r = "no authd: tickets need authd running";
		return 0;
	}
	if (got < 0)
		return -1;
	if (rep.kind == AUTHPROTO_OK) {
		(void)str_copy(r->user, sizeof(r->user), rep.user);
		return 1;
	}
	if (rep.kind == AUTHPROTO_NO)
		return 0;
	*error_r = "authd reports a temporary failure";
	errno = EAGAIN;
	return -1;
}

/* auth_password - 1 right, 0 wrong or no such user, -1 temporary */
int
auth_password(const struct config *cfg, const char *user,
    const char *password, size_t password_len, const char *client_ip,
    const char **error_r)
{
	struct auth_reply r;
	const char *service = program_invocation_short_name;

	if (service == NULL || !authproto_service_ok(service))
		service = "other";
	return auth_login(cfg, service, user, password, password_len,
	    client_ip, &r, error_r);
}

/* auth_hash_password - a new yescrypt hash of password */
int
auth_hash_password(const char *password, size_t password_len,
    struct buf *hash_r, const char **error_r)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *out;
	char *pw;
	int r = -1;

	if (password_len == 0 || password_len > AUTH_PASSWORD_MAX ||
	    memchr(password, '\0', password_len) != NULL) {
		*error_r = password_len == 0 ? "empty password" :
		    "password too long or holding a NUL byte";
		errno = EINVAL;
		return -1;
	}
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, (int)sizeof(salt)) ==
	    NULL) {
		*error_r = "cannot make a salt";
		return -1;
	}
	pw = alloc_strndup(password, password_len);
	data = alloc_calloc(1, sizeof(*data));
	out = crypt_rn(pw, salt, data, (int)sizeof(*data));
	if (out == NULL || strncmp(out, "$y$", 3) != 0) {
		if (errno == 0)
			errno = EINVAL;
		*error_r = "cannot hash the password";
	} else if (buf_set(hash_r, out, strlen(out)) < 0)
		*error_r = "hash too long";
	else
		r = 0;
	explicit_bzero(pw, password_len);
	free(pw);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return r;
}
