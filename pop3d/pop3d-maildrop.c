/*
 * NAME
 *	pop3d-maildrop - the user's Maildir: open, lock, confine, commit
 *
 * SYNOPSIS
 *	int pop3d_maildrop_open(struct pop3d *p, const char *local,
 *	    const char *domain);
 *	void pop3d_maildrop_update(struct pop3d *p);
 *
 * DESCRIPTION
 *	pop3d_maildrop_open() runs once, after a successful login, with the
 *	canonical (lower case) local part and domain from the users table.
 *	It opens mail_dir, then DOMAIN and LOCAL one component at a time
 *	with O_NOFOLLOW|O_DIRECTORY, so a symbolic link planted anywhere
 *	below mail_dir is refused (SECURITY D2). A mailbox that does not
 *	exist yet (nothing was ever delivered) is an empty maildrop.
 *
 *	Then the process confines itself to that one Maildir, for the rest
 *	of its life:
 *	  - started as root: chroot(2) into the Maildir, then the user and
 *	    group ids of the Maildir's owner (unless that is root itself);
 *	  - always, where the kernel has Landlock: no file access at all
 *	    except reading, creating, renaming and removing files beneath
 *	    the Maildir, and no new TCP connections or binds.
 *	Descriptors opened before (the log, the connection) keep working.
 *
 *	One session per mailbox: the Maildir's "pop3d.lock" file is locked
 *	with flock(LOCK_EX|LOCK_NB); a second session gets "-ERR [IN-USE]"
 *	and is closed. The lock goes with the process, however it ends.
 *	IMAP sessions do not take it: they may look at the Maildir at the
 *	same time, and mailbox.c follows files they rename.
 *
 *	The Maildir is then scanned once (mailbox_scan, under imapd's folder
 *	lock, mailbox.h, as are the changes at QUIT): that list is the
 *	session's view, numbered from 1, and does not change; a message
 *	delivered during the session appears in the next one.
 *
 *	pop3d_maildrop_update() is the UPDATE state, entered only by QUIT:
 *	messages marked with DELE are unlinked, and maildirsize (Maildir++
 *	quota, quota.h) is told about it when it exists; messages sent
 *	whole with RETR get the "S" (seen) flag, moving from new/ to cur/
 *	as "NAME:2,S", as Dovecot's POP3 server does; TOP changes nothing.
 *	Both folders are fsynced. Then "+OK" (or "-ERR [SYS/TEMP]" when a
 *	marked message could not be removed, RFC 1939 QUIT), a step 7 log
 *	line, and exit.
 *
 * DIAGNOSTICS
 *	pop3d_maildrop_open: 0 after "+OK" (state TRANSACTION); otherwise
 *	it does not return: "-ERR [IN-USE]" (locked), "-ERR [SYS/PERM]" (a
 *	link or a non-folder where the Maildir should be, or a mailbox too
 *	large to list), "-ERR [SYS/TEMP]" (any other failure), each logged.
 *
 * SECURITY
 *	Paths are built only from the users table's canonical address, and
 *	checked again here: no '/', no leading '.', no "..".
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "landlock.h"
#include "log.h"
#include "pop3d.h"
#include "quota.h"

#define DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* safe_component - 1 if s may be one path component under mail_dir */
static int
safe_component(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '.' || strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == '\\' ||
		    (unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/* confine - chroot and owner's ids (as root), then Landlock */
static void
confine(struct pop3d *p, int dir_fd, const struct stat *st)
{
	const char *how = "none";

	if (geteuid() == 0 && dir_fd >= 0) {
		if (LANDLOCK_SANITIZER)
			how = "sanitizer";
		else if (fchdir(dir_fd) < 0 || chroot(".") < 0 ||
		    chdir("/") < 0)
			die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox",
			    "cannot chroot into the Maildir");
		else
			how = "chroot";
		if (st->st_uid != 0) {
			if (setgroups(0, NULL) < 0 ||
			    setresgid(st->st_gid, st->st_gid, st->st_gid) < 0 ||
			    setresuid(st->st_uid, st->st_uid, st->st_uid) < 0 ||
			    geteuid() != st->st_uid)
				die_temp(p, "-ERR [SYS/TEMP] Cannot open "
				    "mailbox", "cannot become the Maildir's "
				    "owner");
			how = LANDLOCK_SANITIZER ? "sanitizer,uid" : "chroot,uid";
		}
	}
	if (landlock_fence(dir_fd, 0) == 0)
		pop3d_log_user(p, LOG_DEBUG, "confined", " how=%s,landlock",
		    how);
	else
		pop3d_log_user(p, LOG_DEBUG, "confined", " how=%s", how);
}

/* open_dir - openat a folder, mapping errors: 1 ok, 0 missing */
static int
open_dir(struct pop3d *p, int at, const char *name, int *fd_r)
{
	*fd_r = openat(at, name, DIR_FLAGS);
	if (*fd_r >= 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	if (errno == ELOOP || errno == ENOTDIR) {
		pop3d_log_user(p, LOG_ERR, "mailbox-refused",
		    " error=\"not a folder, or a symbolic link\"");
		pop3d_reply(p, "-ERR [SYS/PERM] Mailbox is not usable, "
		    "contact your administrator");
		pop3d_flush(p);
		exit(0);
	}
	die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, try again later",
	    strerror(errno));
}

/* lock_maildrop - one POP3 session per Maildir */
static void
lock_maildrop(struct pop3d *p)
{
	struct stat st;

	p->lock_fd = openat(p->md.fd, POP3D_LOCK_FILE, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (p->lock_fd < 0 || fstat(p->lock_fd, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		die_temp(p, "-ERR [SYS/TEMP] Cannot lock mailbox, try again "
		    "later", "cannot open the POP3 lock file");
	if (flock(p->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return;
	if (errno != EWOULDBLOCK)
		die_temp(p, "-ERR [SYS/TEMP] Cannot lock mailbox, try again "
		    "later", "flock failed");
	pop3d_log_user(p, LOG_NOTICE, "mailbox-in-use", " step=6");
	pop3d_reply(p, "-ERR [IN-USE] Mailbox is in use by another POP3 "
	    "session");
	pop3d_flush(p);
	exit(0);
}

/* sync_lock - imapd's folder lock (mailbox.h), or -1 after a log line */
static int
sync_lock(struct pop3d *p)
{
	int fd = mailbox_sync_lock(&p->md, MAILBOX_SYNC_WAIT_MS);

	if (fd < 0)
		pop3d_log_user(p, LOG_NOTICE, "sync-lock", " error=\"%s\"",
		    strerror(errno));
	return fd;
}

/* pop3d_maildrop_open - open, confine, lock and list the user's Maildir */
int
pop3d_maildrop_open(struct pop3d *p, const char *local, const char *domain)
{
	const char *error = NULL;
	struct stat st;
	int mfd, dfd = -1, ufd = -1, have, sync_fd, r;
	size_t n;

	memset(&st, 0, sizeof(st));
	if (!safe_component(local) || !safe_component(domain)) {
		pop3d_log_user(p, LOG_ERR, "mailbox-refused",
		    " error=\"unsafe mailbox name\"");
		pop3d_reply(p, "-ERR [SYS/PERM] Mailbox is not usable, "
		    "contact your administrator");
		pop3d_flush(p);
		exit(0);
	}
	mfd = open(p->cfg->mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0 && errno != ENOENT)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, try again "
		    "later", "cannot open mail_dir");
	have = mfd >= 0 && open_dir(p, mfd, domain, &dfd) &&
	    open_dir(p, dfd, local, &ufd);
	if (dfd >= 0)
		(void)close(dfd);
	if (mfd >= 0)
		(void)close(mfd);
	if (have && fstat(ufd, &st) < 0)
		die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox",
		    strerror(errno));
	confine(p, have ? ufd : -1, &st);
	if (have) {
		if (maildir_open(ufd, ".", &p->md, &error) < 0) {
			if (errno == ELOOP || errno == ENOTDIR ||
			    errno == ENOENT) {
				pop3d_log_user(p, LOG_ERR, "mailbox-refused",
				    " error=\"%s: %s\"", error,
				    strerror(errno));
				pop3d_reply(p, "-ERR [SYS/PERM] Mailbox is not "
				    "usable, contact your administrator");
				pop3d_flush(p);
				exit(0);
			}
			die_temp(p, "-ERR [SYS/TEMP] Cannot open mailbox, "
			    "try again later", error);
		}
		(void)close(ufd);
		p->have_md = 1;
		lock_maildrop(p);
		sync_fd = sync_lock(p);
		r = mailbox_scan(&p->md, MAILBOX_SCAN_MAX, &p->list, &error);
		mailbox_sync_unlock(sync_fd);
		if (r < 0) {
			if (errno == E2BIG) {
				pop3d_log_user(p, LOG_ERR, "mailbox-refused",
				    " error=\"%s\"", error);
				pop3d_reply(p, "-ERR [SYS/PERM] Mailbox too "
				    "large for POP3");
				pop3d_flush(p);
				exit(0);
			}
			die_temp(p, "-ERR [SYS/TEMP] Cannot read mailbox, try "
			    "again later", error);
		}
	}
	n = p->list.n > 0 ? p->list.n : 1;
	p->deleted = alloc_calloc(n, 1);
	p->retrieved = alloc_calloc(n, 1);
	p->state = POP3D_TRANSACTION;
	p->bad = 0;
	pop3d_log_user(p, LOG_INFO, "login", " step=6 method=%s tls=%s"
	    " messages=%zu octets=%llu%s", p->method,
	    io_is_tls(p->io) ? "yes" : "no", p->list.n,
	    (unsigned long long)p->list.vsize, have ? "" : " maildir=none");
	pop3d_reply(p, "+OK Logged in, %zu messages (%llu octets)",
	    p->list.n, (unsigned long long)p->list.vsize);
	return 0;
}

/* pop3d_maildrop_update - QUIT in TRANSACTION: commit, answer, exit */
void
pop3d_maildrop_update(struct pop3d *p)
{
	const char *error = NULL;
	uint64_t removed = 0, removed_size = 0, kept_size = 0;
	size_t i, failed = 0, seen = 0, kept = 0;
	int r, sync_fd = -1;

	p->state = POP3D_UPDATE;
	if (p->have_md && (p->n_deleted > 0 || p->retr_count > 0))
		sync_fd = sync_lock(p);
	for (i = 0; i < p->list.n; i++) {
		struct mailbox_msg *m = &p->list.v[i];

		if (p->deleted[i]) {
			r = mailbox_remove(&p->md, m, &error);
			if (r > 0) {
				removed++;
				removed_size += m->size;
			} else if (r < 0) {
				failed++;
				pop3d_log_user(p, LOG_ERR, "remove-failed",
				    " uidl=%s error=\"%s: %s\"", m->uid, error,
				    strerror(errno));
			}
			continue;
		}
		kept++;
		kept_size += m->vsize;
		if (p->retrieved[i]) {
			if (mailbox_add_flag(&p->md, m, 'S', &error) == 0)
				seen++;
			else if (errno != ENOENT)
				pop3d_log_user(p, LOG_WARNING, "flag-failed",
				    " uidl=%s error=\"%s: %s\"", m->uid, error,
				    strerror(errno));
		}
	}
	if (p->have_md) {
		if (removed > 0 || seen > 0) {
			(void)fsync(p->md.new_fd);
			(void)fsync(p->md.cur_fd);
		}
		if (removed > 0 && quota_update(p->md.fd,
		    -(int64_t)removed_size, -(int64_t)removed, &error) < 0)
			pop3d_log_user(p, LOG_WARNING, "quota-update",
			    " error=\"%s: %s\"", error, strerror(errno));
	}
	mailbox_sync_unlock(sync_fd);
	if (failed > 0)
		pop3d_reply(p, "-ERR [SYS/TEMP] Some deleted messages were "
		    "not removed");
	else
		pop3d_reply(p, "+OK Logging out, %llu messages deleted, %zu "
		    "left", (unsigned long long)removed, kept);
	pop3d_flush(p);
	pop3d_log_user(p, LOG_INFO, "logout", " step=7 reason=quit"
	    " retr=%llu retr_octets=%llu top=%llu top_octets=%llu"
	    " deleted=%llu deleted_size=%llu seen=%zu kept=%zu"
	    " kept_octets=%llu failed=%zu",
	    (unsigned long long)p->retr_count,
	    (unsigned long long)p->retr_octets,
	    (unsigned long long)p->top_count,
	    (unsigned long long)p->top_octets,
	    (unsigned long long)removed, (unsigned long long)removed_size,
	    seen, kept, (unsigned long long)kept_size, failed);
	exit(failed > 0 ? 111 : 0);
}
