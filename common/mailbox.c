/*
 * NAME
 *	mailbox - reading a Maildir: list, open, flag and remove messages
 *
 * SYNOPSIS
 *	int mailbox_scan(const struct maildir *md, size_t max,
 *	    struct mailbox_list *l, const char **error_r);
 *	void mailbox_list_free(struct mailbox_list *l);
 *	int mailbox_open_msg(const struct maildir *md, struct mailbox_msg *m,
 *	    const char **error_r);
 *	int mailbox_add_flag(const struct maildir *md, struct mailbox_msg *m,
 *	    char flag, const char **error_r);
 *	int mailbox_remove(const struct maildir *md, struct mailbox_msg *m,
 *	    const char **error_r);
 *	int mailbox_uid(const char *name, size_t base_len,
 *	    char out[MAILBOX_UID_MAX + 1]);
 *	int mailbox_sync_lock(const struct maildir *md, int wait_ms);
 *	void mailbox_sync_unlock(int fd);
 *	void mailbox_crlf_count(struct mailbox_crlf *c, const void *p,
 *	    size_t n);
 *	int mailbox_vsize_fd(int fd, uint64_t *size_r, uint64_t *vsize_r);
 *
 * DESCRIPTION
 *	mailbox_scan() lists the messages of one Maildir folder: first new/,
 *	then cur/, so that a message another reader moves from new/ to cur/
 *	during the scan is seen at least once; a base name seen in both is
 *	listed once (the cur/ file). Names starting with '.', and anything
 *	that is not a regular file (a symbolic link, a folder, a FIFO), are
 *	skipped; nothing is followed. Sizes come from ",S=" and ",W=" in the
 *	name, else from fstat(2) and one read of the file. The list is sorted
 *	oldest first: by the number before the first '.' of the base name
 *	and the microseconds after ".M" (the delivery time), then by the
 *	base name, so that the order is the same in every session. More
 *	than max messages is an error (E2BIG). The list is a snapshot:
 *	messages delivered after it are not in it.
 *
 *	mailbox_open_msg() opens a listed message for reading. When its file
 *	is no longer where the list says (another reader moved it to cur/ or
 *	changed its flags), the folders are searched for its base name and
 *	the list entry follows the file.
 *
 *	mailbox_add_flag() gives a message a flag (ASCII order is kept, as
 *	the Maildir specification asks): a message in new/ moves to cur/ as
 *	"NAME:2,F"; one in cur/ is renamed with F added, unless it has it.
 *	Names whose info is not ":2," (experimental semantics) are left
 *	alone. An existing file is never replaced.
 *
 *	mailbox_remove() unlinks a message, following it if it moved.
 *
 *	mailbox_sync_lock() takes the folder's sync lock (mailbox.h),
 *	creating its file (mode 0600) if needed, waiting at most wait_ms;
 *	mailbox_sync_unlock() lets it go and closes it.
 *
 *	mailbox_uid() writes the unique id of a name (see mailbox.h).
 *	mailbox_crlf_count() counts octets as CRLF text; mailbox_vsize_fd()
 *	reads a whole file to give its size and its CRLF size.
 *
 * DIAGNOSTICS
 *	mailbox_scan, mailbox_open_msg, mailbox_add_flag: 0 (open: a
 *	descriptor), or -1 with errno and a static reason in *error_r (no
 *	path: callers add what they may show). ENOENT from mailbox_open_msg
 *	and mailbox_add_flag means the message was removed by someone else
 *	(permanent for that message); E2BIG from mailbox_scan, and EINVAL for
 *	a name that would grow too long, are permanent; every other errno is
 *	a temporary failure (fail_from_errno). mailbox_remove: 1 when it
 *	removed the file, 0 when the file was already gone, -1 on error.
 *	mailbox_uid: 0, or 1 when it had to hash the base name.
 *	mailbox_sync_lock: a descriptor, or -1 with errno (EWOULDBLOCK when
 *	the wait was too long); callers may go on without the lock.
 *
 * SECURITY
 *	Runs as the mailbox owner, inside one Maildir: every name is opened
 *	relative to a folder descriptor with O_NOFOLLOW, and file names
 *	come from readdir(3) of these folders (never from a peer), so no
 *	name can reach outside them. Message files are opened O_NONBLOCK
 *	and checked to be regular files before anything reads them.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "alloc.h"
#include "mailbox.h"
#include "sha256.h"
#include "str.h"

#define OPEN_MSG_FLAGS	(O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | \
	O_NOCTTY)
#define READ_CHUNK	65536

/* mailbox_crlf_count - add the CRLF-text size of p[0..n) to c */
void
mailbox_crlf_count(struct mailbox_crlf *c, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			c->octets += 2;
			c->skip_lf = 1;
		} else if (s[i] == '\n') {
			if (!c->skip_lf)
				c->octets += 2;
			c->skip_lf = 0;
		} else {
			c->octets++;
			c->skip_lf = 0;
		}
	}
}

/* mailbox_vsize_fd - read fd to its end: octets, and octets as CRLF text */
int
mailbox_vsize_fd(int fd, uint64_t *size_r, uint64_t *vsize_r)
{
	struct mailbox_crlf c = { 0, 0 };
	uint64_t size = 0;
	char *chunk = alloc_malloc(READ_CHUNK);
	ssize_t r;

	for (;;) {
		r = read(fd, chunk, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;

			free(chunk);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		size += (uint64_t)r;
		mailbox_crlf_count(&c, chunk, (size_t)r);
	}
	free(chunk);
	*size_r = size;
	*vsize_r = c.octets;
	return 0;
}

/* mailbox_sync_lock - the folder's sync lock, waiting at most wait_ms */
int
mailbox_sync_lock(const struct maildir *md, int wait_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct stat st;
	int fd, waited, saved;

	fd = openat(md->fd, MAILBOX_SYNC_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		errno = EINVAL;
		return -1;
	}
	for (waited = 0;; waited += 10) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if ((errno != EWOULDBLOCK && errno != EINTR) ||
		    waited >= wait_ms)
			break;
		(void)nanosleep(&ts, NULL);
	}
	saved = errno == EINTR ? EWOULDBLOCK : errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

/* mailbox_sync_unlock - let the sync lock go */
void
mailbox_sync_unlock(int fd)
{
	if (fd >= 0)
		(void)close(fd);	/* closing drops the flock */
}

/* mailbox_uid - the unique id of a file name; 1 if it had to be hashed */
int
mailbox_uid(const char *name, size_t base_len, char out[MAILBOX_UID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[SHA256_LEN];
	unsigned int mdlen = SHA256_LEN, k;
	size_t i;
	int plain = base_len >= 1 && base_len <= MAILBOX_UID_MAX;

	for (i = 0; plain && i < base_len; i++)
		if ((unsigned char)name[i] < 0x21 ||
		    (unsigned char)name[i] > 0x7e)
			plain = 0;
	if (plain) {
		memcpy(out, name, base_len);
		out[base_len] = '\0';
		return 0;
	}
	sha256(name, base_len, md);
	out[0] = 'H';
	for (k = 0; k < mdlen; k++) {
		out[1 + 2 * k] = hex[md[k] >> 4];
		out[2 + 2 * k] = hex[md[k] & 15];
	}
	out[1 + 2 * mdlen] = '\0';
	return 1;
}

/* open_dir - a fresh descriptor for reading folder fd (own offset) */
static DIR *
open_dir(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (dfd < 0)
		return NULL;
	if ((d = fdopendir(dfd)) == NULL) {
		int saved = errno;

		(void)close(dfd);
		errno = saved;
	}
	return d;
}

/* is_regular - 1 if entry e of folder fd is a regular file (no following) */
static int
is_regular(int fd, const struct dirent *e)
{
	struct stat st;

	if (e->d_type == DT_REG)
		return 1;
	if (e->d_type != DT_UNKNOWN)
		return 0;
	return fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

/* open_regular - open name in folder fd for reading; must be a regular file */
static int
open_regular(int fd, const char *name, struct stat *st)
{
	int mfd = openat(fd, name, OPEN_MSG_FLAGS);

	if (mfd < 0)
		return -1;
	if (fstat(mfd, st) < 0 || !S_ISREG(st->st_mode)) {
		(void)close(mfd);
		errno = EINVAL;
		return -1;
	}
	return mfd;
}

/* fill_sizes - size and vsize of a new entry; 0, 1 if gone, -1 on error */
static int
fill_sizes(int fd, struct mailbox_msg *m, const struct maildir_name *mn)
{
	struct stat st;
	uint64_t size;
	int mfd, saved;

	m->size = mn->size;
	m->vsize = mn->vsize;
	if (mn->has_size && mn->has_vsize)
		return 0;
	if ((mfd = open_regular(fd, m->name, &st)) < 0)
		return errno == ENOENT || errno == EINVAL || errno == ELOOP ?
		    1 : -1;
	if (!mn->has_vsize) {
		if (mailbox_vsize_fd(mfd, &size, &m->vsize) < 0) {
			saved = errno;
			(void)close(mfd);
			errno = saved;
			return -1;
		}
		if (!mn->has_size)
			m->size = size;
	} else
		m->size = (uint64_t)st.st_size;
	(void)close(mfd);
	return 0;
}

/* add_folder - append the messages of one folder to l */
static int
add_folder(int fd, int in_new, size_t max, struct mailbox_list *l,
    size_t *cap, const char **error_r)
{
	struct maildir_name mn;
	struct dirent *e;
	DIR *d;
	int r, saved;

	if ((d = open_dir(fd)) == NULL) {
		*error_r = "cannot read Maildir folder";
		return -1;
	}
	for (;;) {
		struct mailbox_msg *m;

		errno = 0;
		if ((e = readdir(d)) == NULL)
			break;
		if (e->d_name[0] == '.' || !is_regular(fd, e) ||
		    maildir_name_parse(e->d_name, &mn) < 0)
			continue;
		if (l->n >= max) {
			(void)closedir(d);
			errno = E2BIG;
			*error_r = "too many messages in the Maildir";
			return -1;
		}
		if (l->n == *cap) {
			*cap = *cap == 0 ? 64 : *cap * 2;
			l->v = alloc_reallocarray(l->v, *cap, sizeof(*l->v));
		}
		m = &l->v[l->n];
		memset(m, 0, sizeof(*m));
		m->name = alloc_strdup(e->d_name);
		m->base_len = mn.base_len;
		m->in_new = in_new;
		if ((r = fill_sizes(fd, m, &mn)) != 0) {
			free(m->name);
			if (r > 0)
				continue;	/* gone, or not a file */
			saved = errno;
			(void)closedir(d);
			errno = saved;
			*error_r = "cannot read message in Maildir";
			return -1;
		}
		(void)mailbox_uid(m->name, m->base_len, m->uid);
		l->n++;
	}
	saved = errno;
	(void)closedir(d);
	if (saved != 0) {
		errno = saved;
		*error_r = "cannot read Maildir folder";
		return -1;
	}
	return 0;
}

/*
 * base_time - delivery time in microseconds from a base name
 * "SECONDS.MUSEC...": 0 when it does not start with digits, seconds alone
 * when no ".M" follows
 */
static uint64_t
base_time(const struct mailbox_msg *m)
{
	uint64_t t = 0, us = 0;
	size_t i, k;

	for (i = 0; i < m->base_len && i < 12 && m->name[i] >= '0' &&
	    m->name[i] <= '9'; i++)
		t = t * 10 + (uint64_t)(m->name[i] - '0');
	if (i + 1 < m->base_len && m->name[i] == '.' && m->name[i + 1] == 'M')
		for (k = i + 2; k < m->base_len && k < i + 8 &&
		    m->name[k] >= '0' && m->name[k] <= '9'; k++)
			us = us * 10 + (uint64_t)(m->name[k] - '0');
	return t * 1000000 + (us < 1000000 ? us : 999999);
}

/* cmp_base - compare two base names as byte strings */
static int
cmp_base(const struct mailbox_msg *a, const struct mailbox_msg *b)
{
	size_t n = a->base_len < b->base_len ? a->base_len : b->base_len;
	int c = memcmp(a->name, b->name, n);

	if (c != 0)
		return c;
	return a->base_len < b->base_len ? -1 : a->base_len > b->base_len;
}

/* cmp_msg - qsort order: delivery time, base name, cur/ before new/ */
static int
cmp_msg(const void *pa, const void *pb)
{
	const struct mailbox_msg *a = pa, *b = pb;
	uint64_t ta = base_time(a), tb = base_time(b);
	int c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	if ((c = cmp_base(a, b)) != 0)
		return c;
	return a->in_new - b->in_new;
}

/* mailbox_scan - list the messages of a Maildir folder, oldest first */
int
mailbox_scan(const struct maildir *md, size_t max, struct mailbox_list *l,
    const char **error_r)
{
	size_t cap = 0, i, o;

	memset(l, 0, sizeof(*l));
	if (add_folder(md->new_fd, 1, max, l, &cap, error_r) < 0 ||
	    add_folder(md->cur_fd, 0, max, l, &cap, error_r) < 0) {
		int saved = errno;

		mailbox_list_free(l);
		errno = saved;
		return -1;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_msg);
	/* One entry per base name: the cur/ one sorts first. */
	for (i = 0, o = 0; i < l->n; i++) {
		if (o > 0 && cmp_base(&l->v[o - 1], &l->v[i]) == 0) {
			free(l->v[i].name);
			continue;
		}
		l->v[o++] = l->v[i];
	}
	l->n = o;
	l->vsize = 0;
	for (i = 0; i < l->n; i++)
		l->vsize += l->v[i].vsize;
	return 0;
}

/* mailbox_list_free - release a list */
void
mailbox_list_free(struct mailbox_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* same_base - 1 if file name has the base name of m */
static int
same_base(const char *name, const struct mailbox_msg *m)
{
	char c;

	if (strncmp(name, m->name, m->base_len) != 0)
		return 0;
	c = name[m->base_len];
	return c == '\0' || c == ',' || c == ':';
}

/* find_in - look for m's base name in folder fd; 1 found, 0 not, -1 error */
static int
find_in(int fd, struct mailbox_msg *m, int in_new)
{
	struct dirent *e;
	DIR *d;
	int found = 0, saved;

	if ((d = open_dir(fd)) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((e = readdir(d)) == NULL)
			break;
		if (e->d_name[0] == '.' || !same_base(e->d_name, m) ||
		    !is_regular(fd, e))
			continue;
		free(m->name);
		m->name = alloc_strdup(e->d_name);
		m->in_new = in_new;
		found = 1;
		break;
	}
	saved = errno;
	(void)closedir(d);
	if (!found && saved != 0) {
		errno = saved;
		return -1;
	}
	return found;
}

/* relocate - find where m's file went; 1 found, 0 gone, -1 error */
static int
relocate(const struct maildir *md, struct mailbox_msg *m)
{
	int r = find_in(md->cur_fd, m, 0);

	if (r == 0 && m->in_new)
		r = find_in(md->new_fd, m, 1);
	return r;
}

/* folder_fd - the descriptor of the folder m is in */
static int
folder_fd(const struct maildir *md, const struct mailbox_msg *m)
{
	return m->in_new ? md->new_fd : md->cur_fd;
}

/* mailbox_open_msg - open a listed message for reading; a descriptor */
int
mailbox_open_msg(const struct maildir *md, struct mailbox_msg *m,
    const char **error_r)
{
	struct stat st;
	int fd, r;

	fd = open_regular(folder_fd(md, m), m->name, &st);
	if (fd < 0 && errno == ENOENT) {
		if ((r = relocate(md, m)) < 0) {
			*error_r = "cannot read Maildir folder";
			return -1;
		}
		if (r == 0) {
			errno = ENOENT;
			*error_r = "message was removed";
			return -1;
		}
		fd = open_regular(folder_fd(md, m), m->name, &st);
	}
	if (fd < 0) {
		*error_r = errno == ENOENT ? "message was removed" :
		    "cannot open message";
		return -1;
	}
	return fd;
}

/* flagged_name - name with flag added to its ":2," info; 1 if unchanged */
static int
flagged_name(const struct mailbox_msg *m, char flag, char *out, size_t size)
{
	const char *colon = strchr(m->name, ':');
	char flags[64];
	size_t plen, n = 0, i;
	const char *f;
	int w;

	if (colon != NULL && strncmp(colon, ":2,", 3) != 0)
		return 1;	/* info we do not understand: leave it */
	f = colon != NULL ? colon + 3 : "";
	if (strchr(f, flag) != NULL)
		return 1;
	plen = colon != NULL ? (size_t)(colon - m->name) : strlen(m->name);
	for (i = 0; f[i] != '\0'; i++) {
		if (n + 2 >= sizeof(flags)) {
			errno = EINVAL;
			return -1;
		}
		if (flag != '\0' && f[i] > flag) {
			flags[n++] = flag;
			flag = '\0';
		}
		flags[n++] = f[i];
	}
	if (flag != '\0')
		flags[n++] = flag;
	flags[n] = '\0';
	w = snprintf(out, size, "%.*s:2,%s", (int)plen, m->name, flags);
	if (w < 0 || (size_t)w >= size) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* move_noreplace - rename without ever replacing a file */
static int
move_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
	if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(from_fd, from, to_fd, to, 0) < 0)
		return -1;
	if (unlinkat(from_fd, from, 0) < 0) {
		int saved = errno;

		(void)unlinkat(to_fd, to, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/* mailbox_add_flag - give m a flag; new/ moves to cur/ */
int
mailbox_add_flag(const struct maildir *md, struct mailbox_msg *m, char flag,
    const char **error_r)
{
	char to[MAILDIR_NAME_MAX + 1];
	int tries, r;

	for (tries = 0; tries < 2; tries++) {
		if ((r = flagged_name(m, flag, to, sizeof(to))) < 0) {
			*error_r = "Maildir file name too long";
			return -1;
		}
		if (r > 0 && !m->in_new)
			return 0;
		if (r > 0 && str_copy(to, sizeof(to), m->name) < 0) {
			*error_r = "Maildir file name too long";
			return -1;
		}
		if (move_noreplace(folder_fd(md, m), m->name, md->cur_fd,
		    to) == 0) {
			free(m->name);
			m->name = alloc_strdup(to);
			m->in_new = 0;
			return 0;
		}
		if (errno != ENOENT) {
			*error_r = "cannot rename message";
			return -1;
		}
		if ((r = relocate(md, m)) <= 0) {
			*error_r = r < 0 ? "cannot read Maildir folder" :
			    "message was removed";
			if (r == 0)
				errno = ENOENT;
			return -1;
		}
	}
	errno = EAGAIN;
	*error_r = "message keeps moving";
	return -1;
}

/* mailbox_remove - unlink m; 1 removed, 0 already gone, -1 error */
int
mailbox_remove(const struct maildir *md, struct mailbox_msg *m,
    const char **error_r)
{
	int tries, r;

	for (tries = 0; tries < 2; tries++) {
		if (unlinkat(folder_fd(md, m), m->name, 0) == 0)
			return 1;
		if (errno != ENOENT) {
			*error_r = "cannot remove message";
			return -1;
		}
		if ((r = relocate(md, m)) < 0) {
			*error_r = "cannot read Maildir folder";
			return -1;
		}
		if (r == 0)
			return 0;
	}
	errno = EAGAIN;
	*error_r = "message keeps moving";
	return -1;
}
