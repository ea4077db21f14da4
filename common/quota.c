/*
 * NAME
 *	quota - Maildir++ quotas: the maildirsize file
 *
 * SYNOPSIS
 *	int quota_parse_size(const char *s, uint64_t *bytes_r);
 *	int quota_parse(const char *text, size_t len, uint64_t *limit_r,
 *	    struct quota_usage *u);
 *	int quota_get(int maildir_fd, uint64_t limit, struct quota_usage *u,
 *	    const char **error_r);
 *	int quota_recalc(int maildir_fd, uint64_t limit,
 *	    struct quota_usage *u, const char **error_r);
 *	int quota_update(int maildir_fd, int64_t bytes, int64_t count,
 *	    const char **error_r);
 *	int quota_exceeded(uint64_t limit, const struct quota_usage *u,
 *	    uint64_t size);
 *
 * DESCRIPTION
 *	The file format and when it is recalculated are described in
 *	quota.h. quota_parse() reads the text of a maildirsize file: the
 *	limit of its first line and the sum of the others. quota_get() reads
 *	the file of the Maildir open at maildir_fd, recalculating it when
 *	quota.h says so. quota_recalc() recalculates unconditionally.
 *	quota_update() appends one change line; it does nothing when the
 *	Maildir has no maildirsize yet (the next quota_get() counts the
 *	mailbox). quota_exceeded() says whether adding size bytes would take
 *	the usage above limit (reaching it exactly is allowed).
 *
 * DIAGNOSTICS
 *	quota_parse_size, quota_parse: 0, or -1/EINVAL (malformed, or a
 *	number beyond QUOTA_SIZE_MAX). quota_get, quota_recalc,
 *	quota_update: 0, or -1 with errno and a static reason in *error_r;
 *	all of these are temporary (I/O errors, a mailbox over
 *	QUOTA_SCAN_MAX files). quota_exceeded: 1 or 0.
 *
 * SECURITY
 *	Runs as the mailbox owner. The file sits in the user's Maildir and
 *	is parsed as untrusted: every number is range checked, the file is
 *	read up to QUOTA_FILE_MAX + 1 octets, and every name is opened with
 *	O_NOFOLLOW relative to the Maildir's descriptor.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "buf.h"
#include "maildir.h"
#include "quota.h"
#include "str.h"

#define OPEN_DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define LINE_NUM_MAX	((uint64_t)1 << 62)	/* one number in a line */

/* quota_parse_size - "10M" and the like to bytes */
int
quota_parse_size(const char *s, uint64_t *bytes_r)
{
	size_t len = strlen(s), digits = len;
	uint64_t v, mult = 1;

	if (len > 0) {
		switch (s[len - 1]) {
		case 'k': case 'K':
			mult = 1024;
			break;
		case 'm': case 'M':
			mult = 1024 * 1024;
			break;
		case 'g': case 'G':
			mult = (uint64_t)1024 * 1024 * 1024;
			break;
		case 't': case 'T':
			mult = (uint64_t)1024 * 1024 * 1024 * 1024;
			break;
		default:
			break;
		}
		if (mult != 1)
			digits--;
	}
	if (str_parse_u64(s, digits, QUOTA_SIZE_MAX, &v) < 0 ||
	    v > QUOTA_SIZE_MAX / mult) {
		errno = EINVAL;
		return -1;
	}
	*bytes_r = v * mult;
	return 0;
}

/* parse_signed - an optional '-' and digits, at most LINE_NUM_MAX */
static int
parse_signed(const char *s, size_t len, int64_t *v_r)
{
	uint64_t v;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		s++;
		len--;
	}
	if (str_parse_u64(s, len, LINE_NUM_MAX, &v) < 0)
		return -1;
	*v_r = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* parse_header - "LIMITS[,COUNTC]" in either order; the byte limit */
static int
parse_header(const char *s, size_t len, uint64_t *limit_r)
{
	int have_s = 0;
	size_t start = 0;

	*limit_r = 0;
	for (;;) {
		const char *comma = memchr(s + start, ',', len - start);
		size_t n = (comma != NULL ? (size_t)(comma - s) : len) - start;
		uint64_t v;

		if (n < 2 || str_parse_u64(s + start, n - 1, QUOTA_SIZE_MAX,
		    &v) < 0)
			return -1;
		if (s[start + n - 1] == 'S') {
			if (have_s)
				return -1;
			have_s = 1;
			*limit_r = v;
		} else if (s[start + n - 1] != 'C')
			return -1;
		if (comma == NULL)
			break;
		start += n + 1;
	}
	return have_s ? 0 : -1;
}

/* quota_parse - the limit and the summed usage of a maildirsize text */
int
quota_parse(const char *text, size_t len, uint64_t *limit_r,
    struct quota_usage *u)
{
	const char *p = text, *end = text + len;
	int first = 1;

	u->bytes = u->count = 0;
	if (len == 0 || text[len - 1] != '\n')
		goto bad;	/* empty, or a line still being written */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp;
		int64_t b, c;
		size_t n = (size_t)(nl - p);

		if (first) {
			if (parse_header(p, n, limit_r) < 0)
				goto bad;
			first = 0;
		} else {
			sp = memchr(p, ' ', n);
			if (sp == NULL || parse_signed(p, (size_t)(sp - p),
			    &b) < 0 || parse_signed(sp + 1,
			    (size_t)(nl - sp - 1), &c) < 0)
				goto bad;
			/* UNSAFE: each sum is checked against the int64_t
			   range before the addition that could leave it. */
			if ((b > 0 && u->bytes > INT64_MAX - b) ||
			    (b < 0 && u->bytes < INT64_MIN - b) ||
			    (c > 0 && u->count > INT64_MAX - c) ||
			    (c < 0 && u->count < INT64_MIN - c))
				goto bad;
			u->bytes += b;
			u->count += c;
		}
		p = nl + 1;
	}
	return 0;
bad:
	u->bytes = u->count = 0;
	errno = EINVAL;
	return -1;
}

/* quota_exceeded - 1 if size more bytes would go over limit */
int
quota_exceeded(uint64_t limit, const struct quota_usage *u, uint64_t size)
{
	uint64_t used;

	if (limit == 0)
		return 0;
	used = u->bytes > 0 ? (uint64_t)u->bytes : 0;
	if (used > limit)
		return 1;
	return size > limit - used;
}

/* count_dir - add the messages of dir_fd/name (new or cur) to u */
static int
count_dir(int dir_fd, const char *name, struct quota_usage *u,
    size_t *seen, const char **error_r)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dir_fd, name, OPEN_DIR_FLAGS);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = "cannot open a Maildir folder";
		return -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		*error_r = "cannot read a Maildir folder";
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct maildir_name mn;
		struct stat st;
		uint64_t size;

		if (de->d_name[0] == '.')
			continue;
		if (++*seen > QUOTA_SCAN_MAX) {
			(void)closedir(d);
			errno = EFBIG;
			*error_r = "too many messages to count";
			return -1;
		}
		if (maildir_name_parse(de->d_name, &mn) == 0 && mn.has_size)
			size = mn.size;
		else if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;
		else
			continue;	/* gone meanwhile, or not a message */
		if (size > LINE_NUM_MAX)
			size = LINE_NUM_MAX;
		if (u->bytes > INT64_MAX - (int64_t)size)
			u->bytes = INT64_MAX;
		else
			u->bytes += (int64_t)size;
		u->count++;
	}
	if (errno != 0) {
		(void)closedir(d);
		*error_r = "cannot read a Maildir folder";
		return -1;
	}
	(void)closedir(d);
	return 0;
}

/* count_folder - add new/ and cur/ of folder fd to u */
static int
count_folder(int fd, struct quota_usage *u, size_t *seen,
    const char **error_r)
{
	if (count_dir(fd, "new", u, seen, error_r) < 0 ||
	    count_dir(fd, "cur", u, seen, error_r) < 0)
		return -1;
	return 0;
}

/* count_all - the usage of the Maildir and every Maildir++ folder */
static int
count_all(int maildir_fd, struct quota_usage *u, const char **error_r)
{
	struct dirent *de;
	size_t seen = 0, folders = 0;
	DIR *d;
	int fd;

	u->bytes = u->count = 0;
	if (count_folder(maildir_fd, u, &seen, error_r) < 0)
		return -1;
	if ((fd = openat(maildir_fd, ".", OPEN_DIR_FLAGS)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		*error_r = "cannot read the Maildir";
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		int ffd;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (++folders > QUOTA_FOLDERS_MAX) {
			(void)closedir(d);
			errno = EFBIG;
			*error_r = "too many folders to count";
			return -1;
		}
		ffd = openat(dirfd(d), de->d_name, OPEN_DIR_FLAGS);
		if (ffd < 0)
			continue;	/* a file, a link, or gone */
		if (count_folder(ffd, u, &seen, error_r) < 0) {
			(void)close(ffd);
			(void)closedir(d);
			return -1;
		}
		(void)close(ffd);
	}
	if (errno != 0) {
		(void)closedir(d);
		*error_r = "cannot read the Maildir";
		return -1;
	}
	(void)closedir(d);
	return 0;
}

/* quota_recalc - count the mailbox and replace maildirsize */
int
quota_recalc(int maildir_fd, uint64_t limit, struct quota_usage *u,
    const char **error_r)
{
	struct timespec now;
	char name[128], text[128];
	int tmp_fd, fd, n, len, saved;

	if (count_all(maildir_fd, u, error_r) < 0)
		return -1;
	if ((tmp_fd = openat(maildir_fd, "tmp", OPEN_DIR_FLAGS)) < 0) {
		*error_r = "cannot open Maildir tmp";
		return -1;
	}
	(void)clock_gettime(CLOCK_REALTIME, &now);
	n = snprintf(name, sizeof(name), "%lld.M%06ldP%ld.maildirsize",
	    (long long)now.tv_sec, now.tv_nsec / 1000, (long)getpid());
	len = snprintf(text, sizeof(text), "%lluS\n%lld %lld\n",
	    (unsigned long long)limit, (long long)u->bytes,
	    (long long)u->count);
	if (n < 0 || (size_t)n >= sizeof(name) || len < 0 ||
	    (size_t)len >= sizeof(text)) {
		(void)close(tmp_fd);
		errno = ENAMETOOLONG;
		*error_r = "maildirsize name too long";
		return -1;
	}
	fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		saved = errno;
		(void)close(tmp_fd);
		errno = saved;
		*error_r = "cannot create maildirsize";
		return -1;
	}
	if (fd_write_all(fd, text, (size_t)len) < 0 || fsync(fd) < 0) {
		saved = errno;
		(void)close(fd);
		(void)unlinkat(tmp_fd, name, 0);
		(void)close(tmp_fd);
		errno = saved;
		*error_r = "cannot write maildirsize";
		return -1;
	}
	(void)close(fd);
	if (renameat(tmp_fd, name, maildir_fd, QUOTA_FILE) < 0) {
		saved = errno;
		(void)unlinkat(tmp_fd, name, 0);
		(void)close(tmp_fd);
		errno = saved;
		*error_r = "cannot rename maildirsize";
		return -1;
	}
	(void)close(tmp_fd);
	return 0;
}

/* quota_get - the usage from maildirsize, recalculated when stale */
int
quota_get(int maildir_fd, uint64_t limit, struct quota_usage *u,
    const char **error_r)
{
	char text[QUOTA_FILE_MAX + 1];
	struct stat st;
	uint64_t file_limit;
	size_t len = 0;
	int fd;

	fd = openat(maildir_fd, QUOTA_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return quota_recalc(maildir_fd, limit, u, error_r);
		*error_r = "cannot open maildirsize";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return quota_recalc(maildir_fd, limit, u, error_r);
	}
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			(void)close(fd);
			*error_r = "cannot read maildirsize";
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	if (len >= QUOTA_FILE_MAX ||
	    quota_parse(text, len, &file_limit, u) < 0 ||
	    file_limit != limit)
		return quota_recalc(maildir_fd, limit, u, error_r);
	if (quota_exceeded(limit, u, 0) &&
	    time(NULL) - st.st_mtime > QUOTA_STALE_SECS)
		return quota_recalc(maildir_fd, limit, u, error_r);
	return 0;
}

/* quota_update - append "BYTES COUNT" to maildirsize if it exists */
int
quota_update(int maildir_fd, int64_t bytes, int64_t count,
    const char **error_r)
{
	char line[64];
	int fd, n, saved;

	fd = openat(maildir_fd, QUOTA_FILE, O_WRONLY | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = "cannot open maildirsize";
		return -1;
	}
	n = snprintf(line, sizeof(line), "%lld %lld\n", (long long)bytes,
	    (long long)count);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		(void)close(fd);
		errno = EINVAL;
		*error_r = "bad maildirsize line";
		return -1;
	}
	/* One write on O_APPEND: lines of concurrent writers never mix. */
	errno = EIO;	/* what a short write leaves */
	if (write(fd, line, (size_t)n) != n) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		*error_r = "cannot write maildirsize";
		return -1;
	}
	(void)close(fd);
	return 0;
}
