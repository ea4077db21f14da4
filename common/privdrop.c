/*
 * NAME
 *	privdrop - changing user: maild's children and set-uid programs
 *
 * DESCRIPTION
 *	See privdrop.h. The path check walks from the config file up to
 *	"/" with lstat(), so a symbolic link anywhere on the way is judged
 *	by its own owner, and a link as the file itself is refused.
 *
 * SECURITY
 *	A set-uid program must not be steered by its caller: the config is
 *	the only input that says where the queue, the tables and the
 *	Maildirs are, so it must come from the administrator.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"
#include "str.h"

/* privdrop_lookup - uid and primary gid of user; -1/ENOENT if unknown */
int
privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r,
    const char **error_r)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		if (errno == 0)
			errno = ENOENT;
		*error_r = "no such system user";
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

/* privdrop_become - as root, become uid/gid for good, no other groups */
int
privdrop_become(uid_t uid, gid_t gid, const char **error_r)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		*error_r = "cannot change user";
		return -1;
	}
	if (geteuid() != uid || getuid() != uid || getegid() != gid) {
		errno = EPERM;
		*error_r = "the user did not change";
		return -1;
	}
	return 0;
}

/* privdrop_to - as root, become the named user for good */
int
privdrop_to(const char *user, const char **error_r)
{
	uid_t uid;
	gid_t gid;

	if (privdrop_lookup(user, &uid, &gid, error_r) < 0)
		return -1;
	return privdrop_become(uid, gid, error_r);
}

/* safe_node - 1 if st belongs to root or owner and only they may write */
static int
safe_node(const struct stat *st, uid_t owner, int is_dir)
{
	if (st->st_uid != 0 && st->st_uid != owner)
		return 0;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 1;
	/* /tmp and the like: others may write, but not replace ours */
	return is_dir && st->st_uid == 0 && (st->st_mode & S_ISVTX);
}

/* privdrop_trusted - path and its folders writable only by root/owner */
int
privdrop_trusted(const char *path, uid_t owner, const char **error_r)
{
	char buf[PATH_MAX];
	struct stat st;
	char *slash;
	int first = 1;

	if (path[0] != '/' || str_copy(buf, sizeof(buf), path) < 0) {
		errno = EINVAL;
		*error_r = "the config path is not absolute";
		return -1;
	}
	for (;;) {
		if (lstat(buf, &st) < 0) {
			*error_r = "cannot check the config path";
			return -1;
		}
		if (first ? !S_ISREG(st.st_mode) :
		    !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
			errno = EPERM;
			*error_r = "the config is not a regular file";
			return -1;
		}
		if (!safe_node(&st, owner, S_ISDIR(st.st_mode))) {
			errno = EPERM;
			*error_r = "the config or a folder above it may be "
			    "changed by another user";
			return -1;
		}
		first = 0;
		if (strcmp(buf, "/") == 0)
			return 0;
		slash = strrchr(buf, '/');
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

/* privdrop_post_login - privdrop_setuid() for pop3d-user / imapd-user */
int
privdrop_post_login(const char *config_path, int handed,
    const char **error_r)
{
	if (privdrop_setuid(config_path, error_r) < 0)
		return -1;
	if (!handed && getuid() != geteuid()) {
		errno = EPERM;
		*error_r = "run set-uid without a handoff (-H)";
		return -1;
	}
	return 0;
}

/* privdrop_setuid - in a set-uid run: check the config, keep the new ids */
int
privdrop_setuid(const char *config_path, const char **error_r)
{
	uid_t ruid = getuid(), euid = geteuid();
	gid_t rgid = getgid(), egid = getegid();
	char abs[PATH_MAX];

	if (ruid == euid && rgid == egid)
		return 0;
	if (config_path == NULL || realpath(config_path, abs) == NULL) {
		*error_r = "cannot resolve the config path";
		return -1;
	}
	if (ruid != 0 && privdrop_trusted(abs, euid, error_r) < 0)
		return -1;
	if (setresgid(egid, egid, egid) < 0 ||
	    setresuid(euid, euid, euid) < 0) {
		*error_r = "cannot take the set-uid ids for good";
		return -1;
	}
	return 0;
}
