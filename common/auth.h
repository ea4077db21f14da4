/*
 * NAME
 *	auth.h - password checks against the users table
 *
 * DESCRIPTION
 *	auth_password() says whether password is right for the user whose
 *	exact address is user (a users table entry: no aliases, no
 *	sub-addressing; case ignored). It returns 1 for the right password,
 *	0 for a wrong one or an unknown user (the caller cannot tell which,
 *	and neither can a peer timing it: an unknown user, a user whose hash
 *	is "*" and a malformed hash all cost one hash computation against a
 *	fixed yescrypt hash), and -1 for a temporary failure (a table that
 *	cannot be read). client_ip is for throttling by a future authd; it
 *	is not used yet. The signature stays when authd takes the checks
 *	over.
 *
 *	Hashes are crypt(3) hashes (libxcrypt): yescrypt "$y$" (what
 *	auth_hash_password() makes) and SHA-512 "$6$" are the ones we
 *	document; any other "$id$" method libxcrypt supports is checked
 *	too. A hash not starting with '$' (DES, "*", "!...") never matches.
 *	The computed hash is compared with the stored one in constant time.
 *
 *	auth_check_hash() is the check alone, for callers that hold a hash.
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

int auth_password(const struct config *cfg, const char *user,
    const char *password, size_t password_len, const char *client_ip,
    const char **error_r);
int auth_check_hash(const char *hash, const char *password,
    size_t password_len);
int auth_hash_password(const char *password, size_t password_len,
    struct buf *hash_r, const char **error_r);

#endif
