/*
 * NAME
 *	auth.h - password checks: the authd client
 *
 * DESCRIPTION
 *	auth_login() asks authd(8) whether password is right for the user
 *	whose exact address is user (a users table entry: no aliases, no
 *	sub-addressing; case ignored), on behalf of a client at client_ip
 *	(text; NULL when there is none) using service (smtpd, pop3d,
 *	imapd, ...: 1-32 of a-z 0-9 . _ -). It returns 1 for the right
 *	password, with the canonical address in r->user and in r->ticket a
 *	one-time ticket (32 lower-case hex digits, valid 30 seconds, for
 *	this service only) that a post-login process redeems with
 *	auth_redeem() instead of seeing the password; 0 for a wrong one,
 *	an unknown user (the caller cannot tell which, and neither can a
 *	peer timing it: an unknown user, a user whose hash is "*" and a
 *	malformed hash all cost one hash computation against a fixed
 *	yescrypt hash) or a refusal by authd's throttling (r->throttled
 *	set, r->retry_after the seconds to wait); -1 for a temporary
 *	failure (authd or the table cannot be read, a timeout), with a
 *	reason in *error_r. authd answers a failure late (its throttling),
 *	so the call may take a few seconds; it never waits longer than
 *	AUTH_TIMEOUT_MS plus THROTTLE_DELAY_MAX_MS.
 *
 *	auth_redeem() takes a ticket back: 1 with r->user when it is valid
 *	for service (and then it is used up), 0 when not, -1 temporary.
 *
 *	Without authd. When STATE_DIR/auth/socket does not exist or nobody
 *	listens on it (ENOENT, ECONNREFUSED: a program run on its own, as
 *	the tests do), auth_login() checks the password itself against
 *	STATE_DIR/auth/passwd.cdb (userdb_open_passwd(), compiled from the
 *	users text when stale), with no throttling of its own and no ticket
 *	(r->ticket is ""), and auth_redeem() returns 0: a post-login
 *	hand-off needs authd running.
 *
 *	auth_password() is auth_login() for callers that want neither the
 *	ticket nor the throttling details; its service is the program's
 *	name (program_invocation_short_name).
 *
 *	Hashes are crypt(3) hashes (libxcrypt): yescrypt "$y$" (what
 *	auth_hash_password() makes) and SHA-512 "$6$" are the ones we
 *	document; any other "$id$" method libxcrypt supports is checked
 *	too. A hash not starting with '$' (DES, "*", "!...") never matches.
 *	The computed hash is compared with the stored one in constant time.
 *
 *	auth_check_hash() is the check alone, for callers that hold a hash.
 *	auth_check_user() is the whole check against a password table opened
 *	with userdb_open_passwd() (authd's, and the fallback's): 1 with the
 *	canonical address in canon, 0, or -1 temporary.
 *	auth_hash_password() makes a new yescrypt hash with a random salt
 *	(crypt_gensalt_rn with default cost).
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

/* Octets; longer never matches. libxcrypt takes CRYPT_MAX_PASSPHRASE_SIZE
   (512) with its NUL. */
#define AUTH_PASSWORD_MAX	511

/* Octets of a user name: local@domain at most, as USERDB_ADDR_MAX. */
#define AUTH_USER_MAX		320

#define AUTH_SOCKET		"auth/socket"	/* in STATE_DIR */
#define AUTH_TIMEOUT_MS		10000	/* connect, and each wait */
#define AUTH_TICKET_LEN		32

struct userdb;

struct auth_reply {
	char user[AUTH_USER_MAX + 1];		/* canonical address */
	char ticket[AUTH_TICKET_LEN + 1];	/* "" when none */
	unsigned retry_after;			/* seconds, when refused */
	int throttled;				/* refused without a check */
};

int auth_login(const struct config *cfg, const char *service,
    const char *user, const char *password, size_t password_len,
    const char *client_ip, struct auth_reply *r, const char **error_r);
int auth_redeem(const struct config *cfg, const char *service,
    const char *ticket, struct auth_reply *r, const char **error_r);
int auth_password(const struct config *cfg, const char *user,
    const char *password, size_t password_len, const char *client_ip,
    const char **error_r);
int auth_check_hash(const char *hash, const char *password,
    size_t password_len);
int auth_check_user(struct userdb *db, const char *user,
    const char *password, size_t password_len, char *canon,
    size_t canon_size, const char **error_r);
int auth_hash_password(const char *password, size_t password_len,
    struct buf *hash_r, const char **error_r);

#endif
