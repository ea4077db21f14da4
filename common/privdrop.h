/*
 * NAME
 *	privdrop.h - changing user: maild's children and set-uid programs
 *
 * DESCRIPTION
 *	privdrop_become() is for a root process: it takes the uid and
 *	primary gid for good and drops every supplementary group.
 *	privdrop_to() does the same for a user name: the services maild
 *	starts with -U call it once their config, log and TLS key are
 *	loaded, before they read anything from the network.
 *
 *	privdrop_setuid() is called first thing by the programs an
 *	installation makes set-uid (inject as the queue user; deliver,
 *	pop3d-user and imapd-user as the mail user; remote as the remote
 *	user; see INSTALL). When the real and effective ids are the same it
 *	does nothing. Otherwise the program was started by another user: it
 *	refuses a config file that user could have written (the file and
 *	every folder above it must belong to root or to the effective user
 *	and be writable by nobody else, a sticky folder owned by root
 *	excepted), then makes the real and saved ids the effective ones, so
 *	nothing can switch back to the caller's. Environment knobs are read
 *	with secure_getenv(), which ignores them in such a process.
 *	privdrop_post_login() is the same for pop3d and imapd, which may
 *	run set-uid only as the post-login half (handed: started with -H);
 *	set-uid without it they refuse (EPERM).
 *
 * DIAGNOSTICS
 *	Both return 0, or -1 with errno and *error_r (a fixed text):
 *	ENOENT no such user, EPERM an untrusted config, others from the
 *	system calls. Callers treat -1 as a temporary failure.
 */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <sys/types.h>

int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r,
    const char **error_r);
int privdrop_become(uid_t uid, gid_t gid, const char **error_r);
int privdrop_to(const char *user, const char **error_r);
int privdrop_setuid(const char *config_path, const char **error_r);
int privdrop_post_login(const char *config_path, int handed,
    const char **error_r);
int privdrop_trusted(const char *path, uid_t owner, const char **error_r);

#endif
