/*
 * NAME
 *	maildir - Maildir primitives: open, create, deliver, parse names
 *
 * SYNOPSIS
 *	int maildir_create(int parent_fd, const char *name, mode_t mode,
 *	    const char **error_r);
 *	int maildir_create_folder(int maildir_fd, const char *folder,
 *	    mode_t mode, const char **error_r);
 *	int maildir_open(int parent_fd, const char *name, struct maildir *md,
 *	    const char **error_r);
 *	void maildir_close(struct maildir *md);
 *	int maildir_msg_begin(struct maildir *md, struct maildir_msg *m,
 *	    const char **error_r);
 *	int maildir_msg_write(struct maildir_msg *m, const void *p, size_t n);
 *	int maildir_msg_commit(struct maildir_msg *m, int to_cur,
 *	    const char *flags, struct buf *name_r, const char **error_r);
 *	void maildir_msg_abort(struct maildir_msg *m);
 *	int maildir_host_escape(const char *host, char *out, size_t size);
 *	int maildir_name_parse(const char *name, struct maildir_name *out);
 *
 * DESCRIPTION
 *	maildir_create() makes parent/name with tmp/, new/ and cur/ (what
 *	exists already is kept) and fsyncs what it made. maildir_create_folder()
 *	does the same for a Maildir++ folder ".Name" inside a Maildir and adds
 *	its "maildirfolder" file; the folder name must start with '.', and
 *	may not hold '/' or "..", or any control character.
 *
 *	maildir_open() opens parent/name and its three subfolders; name is
 *	one path component (or "." for parent itself) and is never followed
 *	through a symbolic link, nor are tmp/, new/ and cur/.
 *
 *	Delivery: maildir_msg_begin() creates a file with a unique name in
 *	tmp/ (O_EXCL, O_NOFOLLOW, mode 0600); maildir_msg_write() appends to
 *	it through a buffer, counting bytes and lone LFs and CRs (each is
 *	CR LF for POP3 and IMAP clients); maildir_msg_commit()
 *	flushes, fsyncs and closes the file, renames it into new/ (or cur/
 *	with ":2,FLAGS" when to_cur) without ever replacing an existing file,
 *	and fsyncs that folder. Only then has the message been delivered.
 *	maildir_msg_abort() removes the file from tmp/. After commit or abort
 *	the struct may be used again.
 *
 *	maildir_name_parse() reads ,S= and ,W= sizes and the ":2," flags back
 *	out of a file name.
 *
 * DIAGNOSTICS
 *	Functions return 0, or -1 with errno set and *error_r naming the step
 *	that failed (no path: callers add what they may show). Every failure
 *	of open, write, fsync or rename is temporary (fail_from_errno); a
 *	symbolic link where a folder should be (ELOOP, ENOTDIR) and a bad
 *	folder name (EINVAL) are permanent. maildir_msg_write() fails only on
 *	write errors (temporary); the caller then aborts. A commit that
 *	fails has removed the tmp/ file.
 *
 * SECURITY
 *	Runs as the mailbox owner. Every name is opened relative to a folder
 *	descriptor with O_NOFOLLOW, so a link planted in the Maildir cannot
 *	redirect a write (SECURITY.md D2). Names are made here, never taken
 *	from the message or the envelope.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "maildir.h"
#include "str.h"

#define OPEN_DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define BEGIN_TRIES	100

static unsigned long delivery_counter;

/* mkdir_here - mkdirat that accepts an existing folder; 1 if it made one */
static int
mkdir_here(int fd, const char *name, mode_t mode)
{
	if (mkdirat(fd, name, mode) == 0)
		return 1;
	return errno == EEXIST ? 0 : -1;
}

/* make_subdirs - tmp/, new/ and cur/ inside fd; fsync fd if any was made */
static int
make_subdirs(int fd, mode_t mode, const char **error_r)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	int made = 0, r;
	size_t i;

	for (i = 0; i < 3; i++) {
		if ((r = mkdir_here(fd, sub[i], mode)) < 0) {
			*error_r = "cannot create Maildir subfolder";
			return -1;
		}
		made |= r;
	}
	if (made && fsync(fd) < 0) {
		*error_r = "cannot fsync Maildir";
		return -1;
	}
	return 0;
}

/* maildir_create - make parent/name as a Maildir (existing parts kept) */
int
maildir_create(int parent_fd, const char *name, mode_t mode,
    const char **error_r)
{
	int fd, made, r, saved;

	if (strchr(name, '/') != NULL || name[0] == '\0') {
		errno = EINVAL;
		*error_r = "bad Maildir name";
		return -1;
	}
	if ((made = mkdir_here(parent_fd, name, mode)) < 0) {
		*error_r = "cannot create Maildir";
		return -1;
	}
	if ((fd = openat(parent_fd, name, OPEN_DIR_FLAGS)) < 0) {
		*error_r = "cannot open Maildir";
		return -1;
	}
	r = make_subdirs(fd, mode, error_r);
	saved = errno;
	(void)close(fd);
	if (r == 0 && made && fsync(parent_fd) < 0) {
		*error_r = "cannot fsync Maildir parent";
		return -1;
	}
	errno = saved;
	return r;
}

/* folder_name_ok - 1 if folder is a safe Maildir++ folder name */
static int
folder_name_ok(const char *folder)
{
	const unsigned char *p = (const unsigned char *)folder;

	if (p[0] != '.' || p[1] == '\0' || strlen(folder) > MAILDIR_NAME_MAX)
		return 0;
	if (strstr(folder, "..") != NULL || strchr(folder, '/') != NULL)
		return 0;
	if (folder[strlen(folder) - 1] == '.')
		return 0;
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* maildir_create_folder - make a Maildir++ folder ".Name" inside a Maildir */
int
maildir_create_folder(int maildir_fd, const char *folder, mode_t mode,
    const char **error_r)
{
	int fd, mark;

	if (!folder_name_ok(folder)) {
		errno = EINVAL;
		*error_r = "bad folder name";
		return -1;
	}
	if (maildir_create(maildir_fd, folder, mode, error_r) < 0)
		return -1;
	if ((fd = openat(maildir_fd, folder, OPEN_DIR_FLAGS)) < 0) {
		*error_r = "cannot open folder";
		return -1;
	}
	mark = openat(fd, "maildirfolder",
	    O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (mark < 0) {
		*error_r = "cannot create maildirfolder file";
		(void)close(fd);
		return -1;
	}
	(void)close(mark);
	(void)close(fd);
	return 0;
}

/* maildir_open - open parent/name and its tmp/, new/ and cur/ */
int
maildir_open(int parent_fd, const char *name, struct maildir *md,
    const char **error_r)
{
	md->fd = md->tmp_fd = md->new_fd = md->cur_fd = -1;
	if (strchr(name, '/') != NULL || name[0] == '\0') {
		errno = EINVAL;
		*error_r = "bad Maildir name";
		return -1;
	}
	if ((md->fd = openat(parent_fd, name, OPEN_DIR_FLAGS)) < 0) {
		*error_r = "cannot open Maildir";
		return -1;
	}
	if ((md->tmp_fd = openat(md->fd, "tmp", OPEN_DIR_FLAGS)) < 0 ||
	    (md->new_fd = openat(md->fd, "new", OPEN_DIR_FLAGS)) < 0 ||
	    (md->cur_fd = openat(md->fd, "cur", OPEN_DIR_FLAGS)) < 0) {
		int saved = errno;

		*error_r = "cannot open Maildir subfolder";
		maildir_close(md);
		errno = saved;
		return -1;
	}
	return 0;
}

/* maildir_close - close the Maildir's descriptors */
void
maildir_close(struct maildir *md)
{
	int *fds[] = { &md->fd, &md->tmp_fd, &md->new_fd, &md->cur_fd };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			(void)close(*fds[i]);
		*fds[i] = -1;
	}
}

/* maildir_host_escape - host name with '/' as \057 and ':' as \072 */
int
maildir_host_escape(const char *host, char *out, size_t size)
{
	size_t o = 0;

	for (; *host != '\0'; host++) {
		const char *rep = NULL;
		size_t n = 1;

		if (*host == '/')
			rep = "\\057";
		else if (*host == ':')
			rep = "\\072";
		if (rep != NULL)
			n = 4;
		if (size - o <= n) {
			errno = ENAMETOOLONG;
			if (size > 0)
				out[0] = '\0';
			return -1;
		}
		if (rep != NULL)
			memcpy(out + o, rep, 4);
		else
			out[o] = *host;
		o += n;
	}
	if (size == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[o] = '\0';
	return 0;
}

/* this_host - the escaped host name, looked up once */
static const char *
this_host(void)
{
	static char host[128];
	char raw[64];

	if (host[0] != '\0')
		return host;
	if (gethostname(raw, sizeof(raw)) < 0)
		(void)str_copy(raw, sizeof(raw), "localhost");
	raw[sizeof(raw) - 1] = '\0';
	if (maildir_host_escape(raw, host, sizeof(host)) < 0)
		(void)str_copy(host, sizeof(host), "localhost");
	return host;
}

/* maildir_msg_begin - create a uniquely named file in tmp/ */
int
maildir_msg_begin(struct maildir *md, struct maildir_msg *m,
    const char **error_r)
{
	struct timespec now;
	int tries, n;

	m->md = md;
	m->fd = -1;
	m->size = m->bare_lf = m->bare_cr = 0;
	m->last_cr = 0;
	m->wlen = 0;
	for (tries = 0; tries < BEGIN_TRIES; tries++) {
		(void)clock_gettime(CLOCK_REALTIME, &now);
		n = snprintf(m->base, sizeof(m->base), "%lld.M%06ldP%ldQ%lu.%s",
		    (long long)now.tv_sec, now.tv_nsec / 1000, (long)getpid(),
		    ++delivery_counter, this_host());
		if (n < 0 || (size_t)n >= sizeof(m->base)) {
			errno = ENAMETOOLONG;
			*error_r = "Maildir file name too long";
			return -1;
		}
		m->fd = openat(md->tmp_fd, m->base, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (m->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	*error_r = "cannot create file in Maildir tmp";
	return -1;
}

/* flush - write out the buffered bytes */
static int
flush(struct maildir_msg *m)
{
	if (m->wlen > 0 && fd_write_all(m->fd, m->wbuf, m->wlen) < 0)
		return -1;
	m->wlen = 0;
	return 0;
}

/* maildir_msg_write - append n bytes to the message */
int
maildir_msg_write(struct maildir_msg *m, const void *p, size_t n)
{
	const char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && !m->last_cr)
			m->bare_lf++;
		else if (s[i] != '\n' && m->last_cr)
			m->bare_cr++;
		m->last_cr = s[i] == '\r';
	}
	m->size += n;
	if (n > sizeof(m->wbuf) - m->wlen) {
		if (flush(m) < 0)
			return -1;
		if (n >= sizeof(m->wbuf))
			return fd_write_all(m->fd, s, n);
	}
	memcpy(m->wbuf + m->wlen, s, n);
	m->wlen += n;
	return 0;
}

/* move_into_place - rename tmp/base to dir/name, never replacing a file */
static int
move_into_place(struct maildir_msg *m, int dir_fd, const char *name)
{
	if (renameat2(m->md->tmp_fd, m->base, dir_fd, name,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A filesystem without RENAME_NOREPLACE: link, which cannot replace. */
	if (linkat(m->md->tmp_fd, m->base, dir_fd, name, 0) < 0)
		return -1;
	(void)unlinkat(m->md->tmp_fd, m->base, 0);
	return 0;
}

/* maildir_msg_commit - fsync, move into new/ (or cur/), fsync the folder */
int
maildir_msg_commit(struct maildir_msg *m, int to_cur, const char *flags,
    struct buf *name_r, const char **error_r)
{
	char name[MAILDIR_NAME_MAX + 1];
	int dir_fd = to_cur ? m->md->cur_fd : m->md->new_fd;
	int n, saved;

	if (flush(m) < 0 || fsync(m->fd) < 0) {
		*error_r = "cannot write message to Maildir";
		goto fail;
	}
	if (close(m->fd) < 0) {
		m->fd = -1;
		*error_r = "cannot write message to Maildir";
		goto fail;
	}
	m->fd = -1;
	if (m->last_cr)
		m->bare_cr++;	/* a CR at the very end stands alone too */
	n = snprintf(name, sizeof(name), "%s,S=%llu,W=%llu%s%s", m->base,
	    (unsigned long long)m->size,
	    (unsigned long long)(m->size + m->bare_lf + m->bare_cr),
	    to_cur ? ":2," : "", to_cur && flags != NULL ? flags : "");
	if (n < 0 || (size_t)n >= sizeof(name)) {
		errno = ENAMETOOLONG;
		*error_r = "Maildir file name too long";
		goto fail;
	}
	if (move_into_place(m, dir_fd, name) < 0) {
		*error_r = "cannot move message into Maildir";
		goto fail;
	}
	if (fsync(dir_fd) < 0) {
		/* The name is in place but may not survive a crash: say so. */
		*error_r = "cannot fsync Maildir";
		saved = errno;
		(void)unlinkat(dir_fd, name, 0);
		errno = saved;
		return -1;
	}
	if (name_r != NULL && buf_set(name_r, name, (size_t)n) < 0) {
		*error_r = "Maildir file name too long";
		return -1;
	}
	return 0;
fail:
	saved = errno;
	maildir_msg_abort(m);
	errno = saved;
	return -1;
}

/* maildir_msg_abort - close and remove the file in tmp/ */
void
maildir_msg_abort(struct maildir_msg *m)
{
	if (m->fd >= 0)
		(void)close(m->fd);
	m->fd = -1;
	m->wlen = 0;
	(void)unlinkat(m->md->tmp_fd, m->base, 0);
}

/* field_u64 - parse the digits after a ",X=" field; -1 if malformed */
static int
field_u64(const char *p, size_t len, uint64_t *v)
{
	size_t n = 0;

	while (n < len && p[n] >= '0' && p[n] <= '9')
		n++;
	return str_parse_u64(p, n, UINT64_MAX, v);
}

/* maildir_name_parse - sizes and flags from a Maildir file name */
int
maildir_name_parse(const char *name, struct maildir_name *out)
{
	const char *colon = strchr(name, ':');
	size_t base_end = colon != NULL ? (size_t)(colon - name) : strlen(name);
	const char *comma = memchr(name, ',', base_end);
	size_t i;

	memset(out, 0, sizeof(*out));
	out->base_len = comma != NULL ? (size_t)(comma - name) : base_end;
	if (out->base_len == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = out->base_len; i + 3 <= base_end; i++) {
		if (name[i] != ',' || name[i + 2] != '=')
			continue;
		if (name[i + 1] == 'S' && field_u64(name + i + 3,
		    base_end - i - 3, &out->size) == 0)
			out->has_size = 1;
		else if (name[i + 1] == 'W' && field_u64(name + i + 3,
		    base_end - i - 3, &out->vsize) == 0)
			out->has_vsize = 1;
	}
	if (colon != NULL && colon[1] == '2' && colon[2] == ',') {
		if (str_copy(out->flags, sizeof(out->flags), colon + 3) < 0) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}
