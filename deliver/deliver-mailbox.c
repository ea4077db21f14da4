/*
 * NAME
 *	deliver-mailbox - write one copy of the message into one Maildir
 *
 * SYNOPSIS
 *	int mailbox_deliver(struct ctx *c, struct target *t);
 *
 * DESCRIPTION
 *	mailbox_deliver() opens the user's Maildir with userdb_maildir_open()
 *	(MAIL_DIR/DOMAIN/LOCAL/ of the user's canonical address, each part
 *	opened with O_NOFOLLOW; missing parts are created with the default
 *	Maildir++ folders), checks that it belongs to us, picks the folder,
 *	checks the quota, and writes deliver's own header fields and the
 *	message through maildir(3): unique name in tmp/, write, fsync,
 *	rename into new/ without replacing anything, fsync new/. Then it
 *	appends the size to maildirsize and logs step 5.
 *
 *	Folder: with a +DETAIL the message goes to the Maildir++ folder
 *	".DETAIL" when it exists (the exact name, else the first whose name
 *	matches ignoring ASCII case); a DETAIL that is not a safe name
 *	(userdb_local_ok(), and no final '.') or names no folder means INBOX
 *	(SECURITY.md D1: a bad extension goes to INBOX). A folder is never
 *	created by delivery.
 *
 *	Quota (users table quota=): the message with deliver's header fields
 *	must fit: usage + size <= quota (reaching the quota exactly is
 *	allowed). If it does not, maildirsize is recalculated once and the
 *	check repeated; still over is 4.2.2 (temporary: the user may make
 *	room, and the queue bounces once the message's queue life is over).
 *	A message larger than the whole quota can never fit: 5.2.2. The
 *	check comes before anything is written, so refusing never leaves a
 *	file anywhere.
 *
 * DIAGNOSTICS
 *	0 and t->res DS_OK, or -1 with t->res set: 4.2.0 for a Maildir owned
 *	by another uid, or with a symbolic link or a file where a folder
 *	should be (SECURITY.md D2: deferred so the operator can repair it);
 *	4.2.2 over quota (also EDQUOT); 4.3.1 disk full; 4.3.0 other system
 *	errors; 5.2.0 a users entry whose address cannot be a folder name;
 *	5.2.2 a message larger than the quota.
 *
 * SECURITY
 *	Runs as the mailbox owner (never root: deliver.c sees to it). The
 *	path comes from the users table key, never from the recipient as
 *	written; see userdb(3) and maildir(3).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "maildir.h"
#include "quota.h"
#include "str.h"
#include "userdb.h"

#define FOLDER_SCAN_MAX	10000	/* entries looked at for a folder name */

/* put_md - message_copy() sink that appends to a Maildir message */
static int
put_md(void *arg, const void *p, size_t n)
{
	return maildir_msg_write(arg, p, n);
}

/* mine - 1 if every descriptor of md belongs to the effective uid */
static int
mine(const struct maildir *md)
{
	const int fds[] = { md->fd, md->tmp_fd, md->new_fd, md->cur_fd };
	struct stat st;
	size_t i;

	for (i = 0; i < 4; i++)
		if (fstat(fds[i], &st) < 0 || st.st_uid != geteuid())
			return 0;
	return 1;
}

/* find_folder - the entry of md matching name ignoring case, into out */
static int
find_folder(int md_fd, const char *name, char *out, size_t size)
{
	struct dirent *de;
	size_t seen = 0;
	DIR *d;
	int fd, found = 0;

	if ((fd = openat(md_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return 0;
	}
	while (!found && seen++ < FOLDER_SCAN_MAX && (de = readdir(d)) != NULL)
		if (str_eq_nocase(de->d_name, name) &&
		    str_copy(out, size, de->d_name) == 0)
			found = 1;
	(void)closedir(d);
	return found;
}

/* open_folder - the Maildir++ folder for detail; 1 if there is one */
static int
open_folder(const struct maildir *md, const char *detail,
    struct maildir *fmd, char *name, size_t size)
{
	char want[ADDR_LOCAL_MAX + 2];
	const char *why;
	size_t len = strlen(detail);

	if (!userdb_local_ok(detail) || detail[len - 1] == '.')
		return 0;
	want[0] = '.';
	(void)str_copy(want + 1, sizeof(want) - 1, detail);
	if (maildir_open(md->fd, want, fmd, &why) == 0)
		(void)str_copy(name, size, want);
	else if (errno != ENOENT || !find_folder(md->fd, want, name, size) ||
	    maildir_open(md->fd, name, fmd, &why) < 0)
		return 0;
	if (!mine(fmd)) {
		maildir_close(fmd);
		return 0;
	}
	return 1;
}

/* write_failed - the result for a failed write or commit */
static void
write_failed(struct target *t, int e, const char *why)
{
	if (e == EDQUOT)
		result_set(&t->res, DS_TEMP, "4.2.2 mailbox full: %s",
		    t->user.address);
	else if (e == ENOSPC)
		result_set(&t->res, DS_TEMP, "4.3.1 mail system full");
	else
		result_set(&t->res, DS_TEMP, "4.3.0 %s: %s", why,
		    t->user.address);
}

/* open_failed - the result for a Maildir that cannot be opened */
static void
open_failed(struct target *t, int e)
{
	const char *a = t->user.address;

	switch (e) {
	case EINVAL:
		result_set(&t->res, DS_CANTCREAT,
		    "5.2.0 mailbox name not allowed: %s", a);
		break;
	case EPERM:
		result_set(&t->res, DS_TEMP,
		    "4.2.0 mailbox owned by another user: %s", a);
		break;
	case ELOOP:
	case ENOTDIR:
		result_set(&t->res, DS_TEMP,
		    "4.2.0 mailbox has a link or file where a folder should "
		    "be: %s", a);
		break;
	case ENOSPC:
		result_set(&t->res, DS_TEMP, "4.3.1 mail system full");
		break;
	default:
		result_set(&t->res, DS_TEMP, "4.2.0 cannot open mailbox: %s",
		    a);
		break;
	}
}

/* check_quota - 0 if size more bytes fit the user's quota, else -1 */
static int
check_quota(struct ctx *c, struct target *t, int md_fd, uint64_t size)
{
	struct quota_usage u;
	const char *why;
	uint64_t q = t->user.quota;

	(void)c;
	if (q == 0)
		return 0;
	if (size > q) {
		result_set(&t->res, DS_CANTCREAT,
		    "5.2.2 message larger than the mailbox quota: %s",
		    t->user.address);
		return -1;
	}
	if (quota_get(md_fd, q, &u, &why) < 0) {
		result_set(&t->res, DS_TEMP, "4.2.0 %s: %s", why,
		    t->user.address);
		return -1;
	}
	if (!quota_exceeded(q, &u, size))
		return 0;
	/* maildirsize may lag behind expunges: count before refusing */
	if (quota_recalc(md_fd, q, &u, &why) < 0) {
		result_set(&t->res, DS_TEMP, "4.2.0 %s: %s", why,
		    t->user.address);
		return -1;
	}
	if (!quota_exceeded(q, &u, size))
		return 0;
	result_set(&t->res, DS_TEMP, "4.2.2 mailbox full: %s",
	    t->user.address);
	return -1;
}

/* log_stored - the step 5 line for one stored copy */
static void
log_stored(struct ctx *c, struct target *t, const char *folder,
    const char *file, uint64_t size)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);
	char num[32];

	(void)snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
	(void)log_kv_str(&b, "qid", c->qid);
	(void)log_kv_str(&b, "step", "5");
	(void)log_kv_str(&b, "event", "stored");
	(void)log_kv_str(&b, "to", c->rcpt);
	(void)log_kv_str(&b, "user", t->user.address);
	(void)log_kv_str(&b, "folder", folder);
	(void)log_kv_str(&b, "file", file);
	(void)log_kv_str(&b, "size", num);
	log_event(LOG_INFO, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* log_quota_error - maildirsize could not be updated (it self-heals) */
static void
log_quota_error(struct ctx *c, struct target *t, const char *why)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);

	(void)log_kv_str(&b, "qid", c->qid);
	(void)log_kv_str(&b, "step", "5");
	(void)log_kv_str(&b, "event", "quota-update-failed");
	(void)log_kv_str(&b, "user", t->user.address);
	(void)log_kv_str(&b, "error", why);
	log_event(LOG_WARNING, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* mailbox_deliver - one copy into t's Maildir */
int
mailbox_deliver(struct ctx *c, struct target *t)
{
	struct maildir md, fmd, *dst = &md;
	struct maildir_msg m;
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX + 1);
	char folder[ADDR_LOCAL_MAX + 2];
	uint64_t size = c->added.len + c->msg_len;
	const char *why;
	int e, r = -1;

	(void)str_copy(folder, sizeof(folder), "INBOX");
	fmd.fd = -1;
	if (userdb_maildir_open(c->mail_dir_fd, &t->user, USERDB_MD_CREATE |
	    USERDB_MD_OWNER, &md, &why) < 0) {
		open_failed(t, errno);
		return -1;
	}
	if (t->detail[0] != '\0' && open_folder(&md, t->detail, &fmd,
	    folder, sizeof(folder)))
		dst = &fmd;
	if (check_quota(c, t, md.fd, size) < 0)
		goto out;
	if (maildir_msg_begin(dst, &m, &why) < 0) {
		write_failed(t, errno, why);
		goto out;
	}
	if (maildir_msg_write(&m, c->added.data, c->added.len) < 0 ||
	    message_copy(c, put_md, &m) < 0) {
		e = errno;
		maildir_msg_abort(&m);
		write_failed(t, e, "cannot write to the mailbox");
		goto out;
	}
	if (maildir_msg_commit(&m, 0, NULL, &name, &why) < 0) {
		write_failed(t, errno, why);
		goto out;
	}
	if (t->user.quota > 0 && quota_update(md.fd, (int64_t)size, 1,
	    &why) < 0)
		log_quota_error(c, t, why);
	log_stored(c, t, folder, buf_cstr(&name), size);
	t->done = 1;
	result_set(&t->res, DS_OK, "2.0.0 delivered to %s", t->user.address);
	r = 0;
out:
	if (fmd.fd >= 0)
		maildir_close(&fmd);
	maildir_close(&md);
	buf_free(&name);
	return r;
}
