/*
 * NAME
 *	maild-privsep - the service users, their programs and their folders
 *
 * SYNOPSIS
 *	int privsep_active(const struct maild *m);
 *	int privsep_prepare(struct maild *m, struct buf *err);
 *
 * DESCRIPTION
 *	Privilege separation is on when maild runs as root and the config
 *	leaves privilege_separation at yes. Then every child maild starts
 *	gets -U: it reads its config and TLS key as root and, before it
 *	reads a byte from the network, becomes its service user for good
 *	(smtpd user_smtpd, smtpq user_queue, authd user_auth, pop3d and
 *	imapd user_login). The programs that cross from one user to another
 *	are set-uid, as make install leaves them: inject to user_queue,
 *	deliver, pop3d-user and imapd-user to user_mail, remote to
 *	user_remote.
 *
 *	privsep_prepare() runs at start and at each SIGHUP. It checks that
 *	every user exists and that each set-uid program is installed so
 *	(both or the start is refused, naming what is wrong), then gives
 *	the folders their owners: state_dir/queue (and everything in it)
 *	to user_queue, mode 0700; state_dir/auth to user_auth, 0755;
 *	state_dir/imapd-sessions to user_mail, 0700; mail_dir to user_mail
 *	when it is new or root's, with all it holds (Maildirs that root's
 *	mailctl made before the first start; another owner is an error:
 *	mail of some other installation). It compiles the tables while still root, so
 *	service users only ever read them.
 *
 * DIAGNOSTICS
 *	privsep_prepare: 0, or -1 with err set to one line naming the user,
 *	program or folder.
 *
 * SECURITY
 *	Runs as root in maild, on paths from the administrator's config.
 *	chown walks the queue without following symbolic links.
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "maild.h"
#include "privdrop.h"
#include "progpath.h"
#include "userdb.h"

struct user_ids {
	uid_t uid;
	gid_t gid;
};

static struct user_ids tree_ids;	/* for the nftw() callback */

/* privsep_active - 1 if maild's children change user */
int
privsep_active(const struct maild *m)
{
	return geteuid() == 0 && m->cfg.privilege_separation;
}

/* lookup - the ids of the user named by config key key */
static int
lookup(const char *key, const char *name, struct user_ids *ids,
    struct buf *err)
{
	const char *error = NULL;

	if (privdrop_lookup(name, &ids->uid, &ids->gid, &error) < 0) {
		buf_reset(err);
		(void)buf_printf(err, "%s: no system user '%s' (make install "
		    "as root creates the service users; see INSTALL, or set "
		    "privilege_separation = no)", key, name);
		return -1;
	}
	return 0;
}

/* setuid_program - program beside maild must be set-uid to ids->uid */
static int
setuid_program(const char *program, const char *user,
    const struct user_ids *ids, struct buf *err)
{
	struct buf path = BUF_INIT(4096);
	struct stat st;
	int ok;

	ok = progpath_sibling(program, &path) == 0 &&
	    stat(buf_cstr(&path), &st) == 0 && (st.st_mode & S_ISUID) &&
	    st.st_uid == ids->uid;
	if (!ok) {
		buf_reset(err);
		(void)buf_printf(err, "%s must be installed set-uid %s "
		    "(make install as root does it; see INSTALL)",
		    buf_cstr(&path), user);
	}
	buf_free(&path);
	return ok ? 0 : -1;
}

/* own_dir - make state_dir/name if missing; owner ids, mode */
static int
own_dir(const char *dir, const char *name, const struct user_ids *ids,
    mode_t mode, struct buf *err)
{
	struct buf path = BUF_INIT(4096);
	struct stat st;
	int r = -1;

	if (buf_printf(&path, "%s%s%s", dir, name[0] ? "/" : "", name) < 0)
		goto out;
	if (mkdir(buf_cstr(&path), mode) < 0 && errno != EEXIST)
		goto out;
	if (lstat(buf_cstr(&path), &st) < 0 || !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	if (lchown(buf_cstr(&path), ids->uid, ids->gid) < 0 ||
	    chmod(buf_cstr(&path), mode) < 0)
		goto out;
	r = 0;
out:
	if (r < 0) {
		buf_reset(err);
		(void)buf_printf(err, "cannot prepare %s/%s: %s", dir, name,
		    strerror(errno));
	}
	buf_free(&path);
	return r;
}

/* chown_entry - nftw() callback: give one file or folder to tree_ids */
static int
chown_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if ((st->st_uid != tree_ids.uid || st->st_gid != tree_ids.gid) &&
	    lchown(path, tree_ids.uid, tree_ids.gid) < 0)
		return 0;	/* its user names what it cannot use */
	return 0;
}

/* chown_tree - everything under path (no links followed) to ids */
static void
chown_tree(const char *path, const struct user_ids *ids)
{
	tree_ids = *ids;
	(void)nftw(path, chown_entry, 16, FTW_PHYS);
}

/* prepare_mail_dir - mail_dir belongs to the mail user */
static int
prepare_mail_dir(const char *dir, const char *user,
    const struct user_ids *mail, struct buf *err)
{
	struct stat st;

	/* New, or made by root's tools (mailctl user add) before the
	   first start: everything in it is the mail user's. */
	if (mkdir(dir, 0700) == 0 || (stat(dir, &st) == 0 && st.st_uid == 0)) {
		chown_tree(dir, mail);
		return own_dir(dir, "", mail, 0700, err);
	}
	if (stat(dir, &st) < 0) {
		buf_reset(err);
		(void)buf_printf(err, "mail_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != mail->uid) {
		buf_reset(err);
		(void)buf_printf(err, "mail_dir %s belongs to uid %ld, not to "
		    "user_mail %s", dir, (long)st.st_uid, user);
		return -1;
	}
	return 0;
}

/* privsep_prepare - users, set-uid programs, folder owners, tables */
int
privsep_prepare(struct maild *m, struct buf *err)
{
	const struct config *c = &m->cfg;
	struct user_ids smtpd, queue, remote, auth, login, mail;
	struct buf path = BUF_INIT(4096);
	const char *error = NULL;
	struct userdb *db;
	struct stat st;
	int mailbox_listeners = c->listen_pop3.set || c->listen_pop3s.set ||
	    c->listen_imap.set || c->listen_imaps.set;

	if (!privsep_active(m))
		return 0;
	if (lookup("user_smtpd", c->user_smtpd, &smtpd, err) < 0 ||
	    lookup("user_queue", c->user_queue, &queue, err) < 0 ||
	    lookup("user_remote", c->user_remote, &remote, err) < 0 ||
	    lookup("user_auth", c->user_auth, &auth, err) < 0 ||
	    lookup("user_login", c->user_login, &login, err) < 0 ||
	    lookup("user_mail", c->user_mail, &mail, err) < 0)
		return -1;
	if (setuid_program("inject", c->user_queue, &queue, err) < 0 ||
	    setuid_program("deliver", c->user_mail, &mail, err) < 0 ||
	    setuid_program("remote", c->user_remote, &remote, err) < 0)
		return -1;
	if ((c->listen_pop3.set || c->listen_pop3s.set) &&
	    setuid_program("pop3d-user", c->user_mail, &mail, err) < 0)
		return -1;
	if ((c->listen_imap.set || c->listen_imaps.set) &&
	    setuid_program("imapd-user", c->user_mail, &mail, err) < 0)
		return -1;
	if (own_dir(c->state_dir, "queue", &queue, 0700, err) < 0 ||
	    own_dir(c->state_dir, "auth", &auth, 0755, err) < 0 ||
	    (mailbox_listeners && own_dir(c->state_dir, "imapd-sessions",
	    &mail, 0700, err) < 0) ||
	    prepare_mail_dir(c->mail_dir, c->user_mail, &mail, err) < 0)
		return -1;
	if (buf_printf(&path, "%s/queue", c->state_dir) == 0)
		chown_tree(buf_cstr(&path), &queue);
	buf_free(&path);
	/* The users text holds the hashes: never for every local user. */
	if (c->users != NULL && stat(c->users, &st) == 0 &&
	    (st.st_mode & S_IRWXO)) {
		if (chmod(c->users, st.st_mode & 07770) == 0)
			log_event(LOG_WARNING, "event=privsep file=%s "
			    "error=\"the users table (password hashes) was "
			    "readable by every local user; now it is not\"",
			    c->users);
	}
	/* Compile the tables now, as root; readers never need to. */
	if ((db = userdb_open(c, &error)) == NULL) {
		buf_reset(err);
		(void)buf_printf(err, "the users or aliases table: %s",
		    error != NULL ? error : "cannot be compiled");
		return -1;
	}
	userdb_close(db);
	return 0;
}
