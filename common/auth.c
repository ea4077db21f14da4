/*
 * NAME
 *	auth - password checks against the users table
 *
 * SYNOPSIS
 *	int auth_password(const struct config *cfg, const char *user,
 *	    const char *password, size_t password_len,
 *	    const char *client_ip, const char **error_r);
 *	int auth_check_hash(const char *hash, const char *password,
 *	    size_t password_len);
 *	int auth_hash_password(const char *password, size_t password_len,
 *	    struct buf *hash_r, const char **error_r);
 *
 * DESCRIPTION
 *	See auth.h. auth_password() opens the users table with
 *	userdb_open() for each check (so a changed password counts at
 *	once), finds the user with userdb_user_lookup() and hands its hash,
 *	or none, to auth_check_hash(). That always runs crypt_rn(3) once:
 *	against the stored hash when it is usable, else against a fixed
 *	dummy yescrypt hash whose result is thrown away.
 *
 * DIAGNOSTICS
 *	auth_password: 1 right, 0 wrong or unknown, -1 temporary (with
 *	*error_r). auth_check_hash: 1 or 0 (a password of more than
 *	AUTH_PASSWORD_MAX octets or holding a NUL byte never matches).
 *	auth_hash_password: 0, or -1 with errno and *error_r: EINVAL for an
 *	empty, over-long or NUL-holding password (permanent), anything
 *	from crypt_gensalt_rn/crypt_rn otherwise (temporary).
 *
 * SECURITY
 *	Reads password hashes: the caller must be allowed to read the users
 *	cdb. Copies of the password and the crypt work area are wiped with
 *	explicit_bzero() before they are freed.
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "userdb.h"

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

/* auth_password - 1 right, 0 wrong or no such user, -1 temporary */
int
auth_password(const struct config *cfg, const char *user,
    const char *password, size_t password_len, const char *client_ip,
    const char **error_r)
{
	struct userdb_user u;
	struct userdb *db;
	int found, ok;

	(void)client_ip;
	if ((db = userdb_open(cfg, error_r)) == NULL)
		return -1;
	found = userdb_user_lookup(db, user, &u, error_r);
	userdb_close(db);
	if (found < 0)
		return -1;
	ok = auth_check_hash(found > 0 ? u.hash : NULL, password,
	    password_len);
	if (found > 0) {
		explicit_bzero(u.hash, sizeof(u.hash));
		userdb_user_free(&u);
	}
	return ok;
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
