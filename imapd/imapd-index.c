/*
 * NAME
 *	imapd-index - the per-folder UID index of a Maildir
 *
 * SYNOPSIS
 *	int index_open(int fd, struct imapd_box *b, int flags,
 *	    const char **error_r);
 *	int index_sync(struct imapd_box *b, int force, const char **error_r);
 *	void index_close(struct imapd_box *b);
 *	int index_set_flags(struct imapd_box *b, struct imapd_msg *m,
 *	    uint8_t flags, uint32_t kw, const char **error_r);
 *	int index_expunge(struct imapd_box *b, struct imapd_msg *m);
 *	int index_keyword(struct imapd_box *b, const char *name, size_t len,
 *	    int create);
 *	int index_status(int fd, ...);
 *	int index_append_uid(struct imapd_box *b, const char *file,
 *	    uint32_t *uid_r, const char **error_r);
 *	int index_write_file(struct imapd_box *b, const char *name,
 *	    const struct buf *data);
 *
 * DESCRIPTION
 *	Each folder (the Maildir itself for INBOX, ".Name" for the others)
 *	holds a binary file "imapd.index" that maps Maildir base names (the
 *	unique part of a file name before the first ',' or ':', the POP3
 *	UIDL, mailbox.h) to IMAP UIDs. Native byte order (the file never
 *	leaves the host), every field aligned:
 *
 *	    header (32 octets)
 *	      magic "MSIMAPI1" (8) | uidvalidity u32 | uidnext u32 |
 *	      first_recent u32 | records u32 | highestmodseq u64
 *	    record (32 octets + name, padded to a multiple of 8)
 *	      uid u32 | namelen u16 | rflags u16 (0, reserved) |
 *	      vsize u64 | internal date i64 | modseq u64 | base name
 *
 *	    extension (after the records; optional)
 *	      zero u32 | records u32 | magic "MSIMAPX1" (8) |
 *	      new/ stamp | cur/ stamp, each:
 *	        mtime sec i64 | mtime nsec i64 | scan sec i64 |
 *	        scan nsec i64 | inode u64
 *	      then for each record, in order: 'n' (new/) or 'c' (cur/),
 *	      the file's whole current name, NUL
 *
 *	Records are in strictly ascending UID order, every UID below
 *	uidnext. Flags are not in the index: the system flags live in the
 *	":2," info of the file name (D F R S T; other capital letters are
 *	kept as they are) and keywords as the letters a..z, named by the
 *	"dovecot-keywords" file ("N name" lines), so Dovecot reads the same
 *	tree. modseq and highestmodseq are written as 1 and reserved for
 *	CONDSTORE; the index is read with one read(2) of a compact file.
 *
 *	Unchanged folders. The extension lets a sync skip listing new/ or
 *	cur/ (getdents over the whole folder, the cost of a SELECT). A
 *	directory's stamp is its inode and mtime, taken (fstat) before a
 *	listing, and the time that listing started; the names are what the
 *	sync left behind. A sync lists a directory anyway unless its inode
 *	and mtime are still the stamp's AND the stamp is trusted: the scan
 *	started at least TRUST_SECS (2) second boundaries after the mtime,
 *	so more than one whole second. File times on Linux come from a
 *	coarse clock (a jiffy, or a second on some file systems): a file
 *	renamed into the directory in the same tick as the listing may
 *	leave the mtime as it was and still be missed by the listing; any
 *	change made after a trusted scan began gets a later mtime. So a
 *	delivery to new/ and a rename (flag change, move) or unlink
 *	(expunge) in cur/ by anyone is always seen; only a directory whose
 *	mtime is set back by hand (touch, a restore that keeps mtimes but
 *	not contents) can hide a change. A trusted stamp is kept as it is
 *	while the mtime holds, so an unchanged folder does not rewrite the
 *	index. A session also skips the whole sync (NOOP, IDLE and
 *	updates) while both of its stamps are trusted and unchanged and
 *	the index file is the same (inode, size, mtime). An index without
 *	the extension (written before it existed, or by a version that
 *	dropped it) or with one that does not match its records means
 *	"list both": the records and UIDs are kept and the next write adds
 *	it. The extension begins with a zero where a record's UID would be,
 *	so a reader that knows only records stops there, keeps every record
 *	and rewrites the file without it.
 *
 *	Concurrency. Every session that syncs or changes a folder takes an
 *	exclusive flock(2) on the folder's "imapd.lock" for the duration:
 *	reading the index, listing new/ and cur/, assigning UIDs to files
 *	it does not know (in name order, which is delivery-time order),
 *	writing the file again (through a temporary name and rename(2)),
 *	moving new/ files to cur/ (read-write sessions only) and renaming
 *	files to change flags all happen under it, so UIDs are assigned
 *	once and strictly ascending.
 *	deliver(8) takes no lock: it only adds files to new/ by rename, and
 *	a file missed by one listing is found by the next. A file that
 *	other software renames while we list may look missing: a record
 *	whose file is missing is only dropped after a second listing also
 *	misses it.
 *
 *	Damage. A file whose header is wrong is rebuilt with a new
 *	UIDVALIDITY (greater than the old one when that was readable). A
 *	record that does not parse ends the readable part: the records
 *	before it keep their UIDs, uidnext is kept above every one of
 *	them, and the file is rewritten. A file the extension names that
 *	is not there (ENOENT on open or rename) makes the next sync list
 *	both directories.
 *
 *	The lock file holds the last UIDVALIDITY given (4 octets), so that
 *	an index that is removed gets a different one even within a second.
 *
 *	\Recent: the header's first_recent is the lowest UID not yet shown
 *	as \Recent; a read-write SELECT claims the messages from there and
 *	moves first_recent to uidnext.
 *
 * DIAGNOSTICS
 *	Functions return 0 (or a count), or -1 with errno and a reason in
 *	*error_r; every failure is temporary (I/O) except E2BIG (a folder
 *	with more than IMAPD_MESSAGES_MAX messages).
 *
 * SECURITY
 *	Runs after login, inside the user's Maildir only; every file is
 *	opened with openat(O_NOFOLLOW) relative to the folder. Index
 *	contents are checked record by record before use (lengths, order,
 *	names without '/' or control characters).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "imapd.h"
#include "mailbox.h"
#include "str.h"

#define MAGIC		"MSIMAPI1"
#define HDR_SIZE	32
#define REC_FIXED	32
#define INDEX_MAX	((size_t)512 * 1024 * 1024)
#define EXT_MAGIC	"MSIMAPX1"
#define EXT_HDR		96
#define TRUST_SECS	2	/* scan start - mtime, in second boundaries */

struct hdr {
	char magic[8];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t first_recent;
	uint32_t records;
	uint64_t highestmodseq;
};

struct rec {
	uint32_t uid;
	uint16_t namelen;
	uint16_t rflags;
	uint64_t vsize;
	int64_t idate;
	uint64_t modseq;
};

/* A directory stamp as stored (see struct imapd_dirstamp). */
struct xstamp {
	int64_t mtime_sec, mtime_nsec;
	int64_t scan_sec, scan_nsec;
	uint64_t ino;
};

/* The extension's header. */
struct xhdr {
	uint32_t zero;
	uint32_t records;
	char magic[8];
	struct xstamp new, cur;
};

/* What the index file says, for one sync. */
struct irec {
	uint32_t uid;
	uint64_t vsize;
	int64_t idate;
	const char *base;
	size_t base_len;
	const char *full;	/* whole file name (extension), or NULL */
	size_t full_len;
	uint8_t in_new;
	long ent;		/* matching directory entry, -1 none */
};

/* The index file, parsed. */
struct pindex {
	struct hdr h;
	struct irec *recs;
	size_t n;
	size_t recs_end;	/* offset after the last readable record */
	int have_ext;		/* a valid extension from recs_end on */
	struct imapd_dirstamp new_st, cur_st;
};

/* One file of new/ or cur/. */
struct dent {
	uint32_t name;		/* offset in the arena */
	uint32_t base_len;
	uint8_t in_new;
	uint8_t used;
};

struct listing {
	struct dent *v;
	size_t n, cap;
	struct buf arena;
	long *hash;
	size_t hsize;
};

/* same_time - two timestamps equal */
static int
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* index_name - the current file name of m */
const char *
index_name(const struct imapd_box *b, const struct imapd_msg *m)
{
	return b->names.data + m->name;
}

/* index_lock - take the folder lock; 0 or -1 */
int
index_lock(struct imapd_box *b)
{
	while (flock(b->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* index_unlock - release the folder lock */
void
index_unlock(struct imapd_box *b)
{
	(void)flock(b->lock_fd, LOCK_UN);
}

/* hash_base - FNV-1a of a base name */
static size_t
hash_base(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* add_dent - one file to a listing; -1 (E2BIG, ENOMEM) on failure */
static int
add_dent(struct listing *l, const char *name, size_t len, size_t base_len,
    int in_new, const char **error_r)
{
	if (l->n >= IMAPD_MESSAGES_MAX) {
		errno = E2BIG;
		*error_r = "too many messages in the folder";
		return -1;
	}
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 256 : l->cap * 2;
		l->v = alloc_reallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].name = (uint32_t)l->arena.len;
	l->v[l->n].base_len = (uint32_t)base_len;
	l->v[l->n].in_new = (uint8_t)in_new;
	l->v[l->n].used = 0;
	if (buf_append(&l->arena, name, len) < 0 ||
	    buf_append_char(&l->arena, '\0') < 0) {
		*error_r = "out of memory";
		errno = ENOMEM;
		return -1;
	}
	l->n++;
	return 0;
}

/*
 * list_from_index - add the files of new/ (in_new) or cur/ as the index's
 * extension names them, for a directory that need not be listed
 */
static int
list_from_index(struct irec *recs, size_t nrec, int in_new,
    struct listing *l, const char **error_r)
{
	size_t i;

	for (i = 0; i < nrec; i++) {
		if (recs[i].in_new != in_new)
			continue;
		if (add_dent(l, recs[i].full, recs[i].full_len,
		    recs[i].base_len, in_new, error_r) < 0)
			return -1;
		/* Its own entry: no need to look it up. */
		recs[i].ent = (long)(l->n - 1);
		l->v[l->n - 1].used = 1;
	}
	return 0;
}

/* list_dir - add the message files of one of new/ and cur/ */
static int
list_dir(int fd, int in_new, struct listing *l, const char **error_r)
{
	struct maildir_name mn;
	struct dirent *e;
	DIR *dir;
	int dfd;

	if ((dfd = dup(fd)) < 0 || lseek(dfd, 0, SEEK_SET) < 0 ||
	    (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			(void)close(dfd);
		*error_r = "cannot list the Maildir";
		return -1;
	}
	rewinddir(dir);
	for (;;) {
		size_t len;

		errno = 0;
		if ((e = readdir(dir)) == NULL)
			break;
		if (e->d_name[0] == '.' || (e->d_type != DT_REG &&
		    e->d_type != DT_UNKNOWN))
			continue;
		len = strlen(e->d_name);
		if (maildir_name_parse(e->d_name, &mn) < 0 ||
		    strchr(e->d_name, '/') != NULL || len > MAILDIR_NAME_MAX)
			continue;
		if (add_dent(l, e->d_name, len, mn.base_len, in_new,
		    error_r) < 0) {
			int saved = errno;

			(void)closedir(dir);
			errno = saved;
			return -1;
		}
	}
	if (errno != 0) {
		int saved = errno;

		(void)closedir(dir);
		errno = saved;
		*error_r = "cannot list the Maildir";
		return -1;
	}
	(void)closedir(dir);
	return 0;
}

/* list_hash - build the base-name hash of a listing */
static void
list_hash(struct listing *l)
{
	size_t i;

	free(l->hash);
	for (l->hsize = 16; l->hsize < l->n * 2; l->hsize *= 2)
		;
	l->hash = alloc_malloc(l->hsize * sizeof(*l->hash));
	for (i = 0; i < l->hsize; i++)
		l->hash[i] = -1;
	for (i = 0; i < l->n; i++) {
		const char *s = l->arena.data + l->v[i].name;
		size_t h = hash_base(s, l->v[i].base_len) & (l->hsize - 1);

		while (l->hash[h] >= 0)
			h = (h + 1) & (l->hsize - 1);
		l->hash[h] = (long)i;
	}
}

/* list_find - the entry with this base name, -1 if none */
static long
list_find(const struct listing *l, const char *base, size_t len)
{
	size_t h = hash_base(base, len) & (l->hsize - 1);

	while (l->hash[h] >= 0) {
		const struct dent *e = &l->v[l->hash[h]];

		if (e->base_len == len && !e->used &&
		    memcmp(l->arena.data + e->name, base, len) == 0)
			return l->hash[h];
		h = (h + 1) & (l->hsize - 1);
	}
	return -1;
}

/* list_free - release a listing */
static void
list_free(struct listing *l)
{
	free(l->v);
	free(l->hash);
	buf_free(&l->arena);
	memset(l, 0, sizeof(*l));
}

/*
 * list_folder - list new/ and cur/ (or take a directory's names from the
 * index when skip_new / skip_cur) and hash them
 */
static int
list_folder(struct imapd_box *b, struct listing *l, int skip_new,
    int skip_cur, struct pindex *pi, const char **error_r)
{
	size_t i;

	for (i = 0; i < pi->n; i++)
		pi->recs[i].ent = -1;
	list_free(l);
	buf_init(&l->arena, (size_t)IMAPD_MESSAGES_MAX * 64);
	if ((skip_cur ? list_from_index(pi->recs, pi->n, 0, l, error_r) :
	    list_dir(b->md.cur_fd, 0, l, error_r)) < 0)
		return -1;
	if ((skip_new ? list_from_index(pi->recs, pi->n, 1, l, error_r) :
	    list_dir(b->md.new_fd, 1, l, error_r)) < 0)
		return -1;
	if (!skip_new || !skip_cur)
		list_hash(l);	/* not needed when nothing was listed */
	return 0;
}

/* read_index - the whole index file into data (empty if missing) */
static int
read_index(struct imapd_box *b, struct buf *data)
{
	struct stat st;
	char chunk[65536];
	ssize_t r;
	int fd;

	buf_reset(data);
	fd = openat(b->fd, IMAPD_INDEX_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return 0;	/* not a file: rebuilt */
	}
	if ((size_t)st.st_size <= INDEX_MAX)
		(void)buf_reserve(data, (size_t)st.st_size);
	for (;;) {
		/* UNSAFE: cap counts the NUL after len, so room >= 0 */
		size_t room = data->cap > data->len + 1 ?
		    data->cap - data->len - 1 : 0;

		if (room > 0)
			r = read(fd, data->data + data->len, room);
		else
			r = read(fd, chunk, sizeof(chunk));
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			(void)close(fd);
			return -1;
		}
		if (room > 0) {
			data->len += (size_t)r;
			data->data[data->len] = '\0';
		} else if (buf_append(data, chunk, (size_t)r) < 0)
			break;	/* too large: the readable part counts */
	}
	(void)close(fd);
	return 0;
}

/* name_ok - a base name from the index is safe to compare and keep */
static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MAILDIR_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '/' || s[i] == ':' || s[i] == ',')
			return 0;
	return 1;
}

/* stamp_in - a stored directory stamp */
static void
stamp_in(const struct xstamp *x, struct imapd_dirstamp *st)
{
	st->mtime.tv_sec = (time_t)x->mtime_sec;
	st->mtime.tv_nsec = (long)x->mtime_nsec;
	st->scan.tv_sec = (time_t)x->scan_sec;
	st->scan.tv_nsec = (long)x->scan_nsec;
	st->ino = (ino_t)x->ino;
}

/* stamp_out - a directory stamp as stored */
static void
stamp_out(const struct imapd_dirstamp *st, struct xstamp *x)
{
	memset(x, 0, sizeof(*x));
	x->mtime_sec = (int64_t)st->mtime.tv_sec;
	x->mtime_nsec = (int64_t)st->mtime.tv_nsec;
	x->scan_sec = (int64_t)st->scan.tv_sec;
	x->scan_nsec = (int64_t)st->scan.tv_nsec;
	x->ino = (uint64_t)st->ino;
}

/*
 * parse_ext - the extension at off for the n records of v: 1 and the
 * names filled in, or 0 (absent or not matching: list both directories)
 */
static int
parse_ext(const struct buf *data, size_t off, struct irec *v, size_t n,
    struct pindex *pi)
{
	struct xhdr x;
	const char *p, *end = data->data + data->len;
	size_t i;

	if (data->len - off < EXT_HDR)
		return 0;
	memcpy(&x, data->data + off, sizeof(x));
	if (x.zero != 0 || memcmp(x.magic, EXT_MAGIC, 8) != 0 ||
	    x.records != n)
		return 0;
	p = data->data + off + EXT_HDR;
	for (i = 0; i < n; i++) {
		const char *nul;
		size_t len, k;

		if (p >= end || (*p != 'n' && *p != 'c'))
			return 0;
		v[i].in_new = *p++ == 'n';
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			return 0;
		len = (size_t)(nul - p);
		/* The record's base name, then "," or ":" or nothing. */
		if (len < v[i].base_len || len > MAILDIR_NAME_MAX ||
		    p[0] == '.' || memcmp(p, v[i].base, v[i].base_len) != 0 ||
		    (len > v[i].base_len && p[v[i].base_len] != ',' &&
		    p[v[i].base_len] != ':'))
			return 0;
		for (k = v[i].base_len; k < len; k++)
			if (p[k] == '/')
				return 0;
		v[i].full = p;
		v[i].full_len = len;
		p = nul + 1;
	}
	if (p != end)
		return 0;
	stamp_in(&x.new, &pi->new_st);
	stamp_in(&x.cur, &pi->cur_st);
	return 1;
}

/* parse_index - header, readable records, extension; 1 if damaged */
static int
parse_index(const struct buf *data, struct pindex *pi)
{
	struct hdr *h = &pi->h;
	struct irec *v = NULL;
	size_t off = HDR_SIZE, n = 0, cap = 0;
	uint32_t last = 0;
	int damaged = 0;

	memset(pi, 0, sizeof(*pi));
	if (data->len < HDR_SIZE) {
		pi->recs_end = data->len;
		return data->len > 0;
	}
	memcpy(h, data->data, sizeof(*h));
	if (memcmp(h->magic, MAGIC, 8) != 0 || h->uidvalidity == 0 ||
	    h->uidnext == 0) {
		uint32_t old = memcmp(h->magic, MAGIC, 8) == 0 ?
		    h->uidvalidity : 0;

		memset(h, 0, sizeof(*h));
		h->uidvalidity = old;	/* a base for the new one */
		return 1;
	}
	while (off < data->len) {
		struct rec r;
		size_t len;

		if (data->len - off < REC_FIXED) {
			damaged = 1;
			break;
		}
		memcpy(&r, data->data + off, sizeof(r));
		if (r.uid == 0 && data->len - off >= EXT_HDR &&
		    memcmp(data->data + off + 8, EXT_MAGIC, 8) == 0) {
			pi->have_ext = parse_ext(data, off, v, n, pi);
			break;
		}
		len = (REC_FIXED + (size_t)r.namelen + 7) & ~(size_t)7;
		if (r.uid <= last || r.namelen == 0 ||
		    data->len - off < len ||
		    !name_ok(data->data + off + REC_FIXED, r.namelen)) {
			damaged = 1;
			break;
		}
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			v = alloc_reallocarray(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].uid = r.uid;
		v[n].vsize = r.vsize;
		v[n].idate = r.idate;
		v[n].base = data->data + off + REC_FIXED;
		v[n].base_len = r.namelen;
		v[n].ent = -1;
		last = r.uid;
		n++;
		off += len;
	}
	pi->recs_end = off;
	if (last >= h->uidnext) {
		h->uidnext = last + 1;
		damaged = 1;
	}
	if (damaged)
		pi->have_ext = 0;
	pi->recs = v;
	pi->n = n;
	return damaged;
}

/* put_rec - append one record */
static int
put_rec(struct buf *out, uint32_t uid, uint64_t vsize, int64_t idate,
    const char *base, size_t base_len)
{
	static const char zero[8];
	struct rec r;
	size_t len = (REC_FIXED + base_len + 7) & ~(size_t)7;

	memset(&r, 0, sizeof(r));
	r.uid = uid;
	r.namelen = (uint16_t)base_len;
	r.vsize = vsize;
	r.idate = idate;
	r.modseq = 1;
	if (buf_append(out, &r, sizeof(r)) < 0 ||
	    buf_append(out, base, base_len) < 0 ||
	    buf_append(out, zero, len - REC_FIXED - base_len) < 0)
		return -1;
	return 0;
}

/*
 * index_write_file - replace the folder's file name with data, through
 * "name.tmp" and rename(2) (folder lock held); 0 or -1 with errno
 */
int
index_write_file(struct imapd_box *b, const char *name,
    const struct buf *data)
{
	char tmp[64];
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}

	(void)unlinkat(b->fd, tmp, 0);
	fd = openat(b->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (off < data->len) {
		ssize_t w = write(fd, data->data + off, data->len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			(void)close(fd);
			(void)unlinkat(b->fd, tmp, 0);
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 || renameat(b->fd, tmp, b->fd, name) < 0) {
		(void)unlinkat(b->fd, tmp, 0);
		return -1;
	}
	return 0;
}

/* info_flags - flags and keyword bits from a file name's ":2," info */
static void
info_flags(const char *name, uint8_t *flags_r, uint32_t *kw_r)
{
	const char *info = strstr(name, ":2,");
	uint8_t f = 0;
	uint32_t kw = 0;

	if (info != NULL)
		for (info += 3; *info != '\0'; info++) {
			switch (*info) {
			case 'S': f |= IMAP_FL_SEEN; break;
			case 'R': f |= IMAP_FL_ANSWERED; break;
			case 'F': f |= IMAP_FL_FLAGGED; break;
			case 'T': f |= IMAP_FL_DELETED; break;
			case 'D': f |= IMAP_FL_DRAFT; break;
			default:
				if (*info >= 'a' && *info <= 'z')
					kw |= 1U << (*info - 'a');
			}
		}
	*flags_r = f;
	*kw_r = kw;
}

/* read_keywords - the keywords file, when it changed */
static void
read_keywords(struct imapd_box *b)
{
	struct buf data = BUF_INIT(65536);
	char chunk[4096];
	struct stat st;
	ssize_t r;
	size_t i;
	char *p, *end;
	int fd;

	fd = openat(b->fd, IMAPD_KEYWORDS_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || (same_time(&st.st_mtim, &b->kw_mtime) &&
	    st.st_ino == b->kw_ino)) {
		(void)close(fd);
		return;
	}
	b->kw_mtime = st.st_mtim;
	b->kw_ino = st.st_ino;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&data, chunk, (size_t)r) < 0)
			break;
	(void)close(fd);
	for (i = 0; i < b->nkw; i++)
		free(b->kw[i]);
	b->nkw = 0;
	p = data.data;
	end = p + data.len;
	while (p != NULL && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		uint64_t idx;

		if (nl == NULL)
			nl = end;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp != NULL && str_parse_u64(p, (size_t)(sp - p),
		    IMAPD_KEYWORDS_MAX - 1, &idx) == 0 && nl - sp > 1 &&
		    nl - sp < 100) {
			size_t k;

			while (b->nkw <= idx)
				b->kw[b->nkw++] = NULL;
			free(b->kw[idx]);
			b->kw[idx] = alloc_strndup(sp + 1,
			    (size_t)(nl - sp - 1));
			for (k = 0; b->kw[idx][k] != '\0'; k++)
				if ((unsigned char)b->kw[idx][k] <= 0x20 ||
				    strchr("(){%*\"\\]", b->kw[idx][k]) != NULL)
					b->kw[idx][k] = '_';
		}
		p = nl + 1;
	}
	buf_free(&data);
}

/* write_keywords - rewrite the keywords file (lock held) */
static int
write_keywords(struct imapd_box *b)
{
	static const char tmp[] = IMAPD_KEYWORDS_FILE ".tmp";
	struct buf data = BUF_INIT(65536);
	struct stat st;
	size_t i;
	int r;

	for (i = 0; i < b->nkw; i++)
		if (b->kw[i] != NULL)
			(void)buf_printf(&data, "%zu %s\n", i, b->kw[i]);
	(void)unlinkat(b->fd, tmp, 0);
	r = -1;
	{
		int fd = openat(b->fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd >= 0) {
			if (write(fd, data.data != NULL ? data.data : "",
			    data.len) == (ssize_t)data.len && close(fd) == 0 &&
			    renameat(b->fd, tmp, b->fd,
			    IMAPD_KEYWORDS_FILE) == 0)
				r = 0;
			else
				(void)unlinkat(b->fd, tmp, 0);
		}
	}
	if (r == 0 && fstatat(b->fd, IMAPD_KEYWORDS_FILE, &st,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		b->kw_mtime = st.st_mtim;
		b->kw_ino = st.st_ino;
	}
	buf_free(&data);
	return r;
}

/* index_keyword - the index of a keyword, created if asked; -1 if none */
int
index_keyword(struct imapd_box *b, const char *name, size_t len, int create)
{
	size_t i;
	int r;

	for (i = 0; i < b->nkw; i++)
		if (b->kw[i] != NULL && strlen(b->kw[i]) == len &&
		    str_eq_nocase_n(b->kw[i], name, len))
			return (int)i;
	if (!create || len == 0 || len > 64)
		return -1;
	if (index_lock(b) < 0)
		return -1;
	b->kw_mtime.tv_sec = 0;
	b->kw_mtime.tv_nsec = 0;
	b->kw_ino = 0;
	read_keywords(b);
	for (i = 0; i < b->nkw; i++)
		if (b->kw[i] != NULL && strlen(b->kw[i]) == len &&
		    str_eq_nocase_n(b->kw[i], name, len)) {
			index_unlock(b);
			return (int)i;
		}
	for (i = 0; i < b->nkw && b->kw[i] != NULL; i++)
		;
	if (i >= IMAPD_KEYWORDS_MAX) {
		index_unlock(b);
		return -1;
	}
	if (i == b->nkw)
		b->nkw++;
	b->kw[i] = alloc_strndup(name, len);
	r = write_keywords(b);
	index_unlock(b);
	return r < 0 ? -1 : (int)i;
}

/* file_info - vsize and internal date of a file we have no record of */
static void
file_info(struct imapd_box *b, const struct dent *e, const char *name,
    uint64_t *vsize_r, int64_t *idate_r)
{
	struct maildir_name mn;
	struct stat st;
	uint64_t size = 0, vsize = 0;
	int dfd = e->in_new ? b->md.new_fd : b->md.cur_fd, fd;

	*vsize_r = 0;
	*idate_r = time(NULL);
	if (maildir_name_parse(name, &mn) == 0 && mn.has_vsize)
		*vsize_r = mn.vsize;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0)
		*idate_r = st.st_mtim.tv_sec;
	if (!mn.has_vsize && mailbox_vsize_fd(fd, &size, &vsize) == 0)
		*vsize_r = vsize;
	(void)close(fd);
}

/* dent_cmp_ctx - the arena dent_cmp compares names in */
static const char *dent_cmp_ctx;

/* dent_cmp - order new files by name (delivery time first) */
static int
dent_cmp(const void *pa, const void *pb)
{
	const struct dent *a = *(const struct dent *const *)pa;
	const struct dent *b = *(const struct dent *const *)pb;

	return strcmp(dent_cmp_ctx + a->name, dent_cmp_ctx + b->name);
}

/* move_to_cur - new/NAME becomes cur/NAME:2, (lock held) */
static void
move_to_cur(struct imapd_box *b, struct listing *l, struct dent *e)
{
	struct buf nn = BUF_INIT(MAILDIR_NAME_MAX + 8);
	const char *name = l->arena.data + e->name;

	if (buf_printf(&nn, "%s%s", name, strstr(name, ":2,") != NULL ? "" :
	    ":2,") == 0 && renameat(b->md.new_fd, name, b->md.cur_fd,
	    buf_cstr(&nn)) == 0) {
		e->in_new = 0;
		e->name = (uint32_t)l->arena.len;
		(void)buf_append(&l->arena, nn.data, nn.len + 1);
	}
	buf_free(&nn);
}

/* merge - fold the fresh view nv into the session's view */
static void
merge(struct imapd_box *b, struct imapd_msg *nv, size_t nn,
    struct buf *arena)
{
	struct imapd_msg *out;
	size_t i = 0, j = 0, n = 0, cap = b->n + nn + 1;
	uint32_t maxold = b->n > 0 ? b->v[b->n - 1].uid : 0;

	out = alloc_reallocarray(NULL, cap, sizeof(*out));
	while (i < b->n || j < nn) {
		if (j >= nn || (i < b->n && b->v[i].uid < nv[j].uid)) {
			/* Our message has no file any more. */
			out[n] = b->v[i];
			if (!out[n].gone) {
				out[n].gone = 1;
				out[n].name = (uint32_t)arena->len;
				(void)buf_append(arena, "", 1);
			} else {
				const char *s = b->names.data + b->v[i].name;

				out[n].name = (uint32_t)arena->len;
				(void)buf_append(arena, s, strlen(s) + 1);
			}
			n++;
			i++;
		} else if (i >= b->n) {
			if (b->n == 0 || nv[j].uid > maxold)
				out[n++] = nv[j];
			j++;
		} else if (b->v[i].uid == nv[j].uid) {
			out[n] = nv[j];
			out[n].flags |= b->v[i].flags & IMAP_FL_RECENT;
			out[n].gone = b->v[i].gone;
			out[n].changed = b->v[i].changed ||
			    (b->v[i].flags & ~IMAP_FL_RECENT) !=
			    (nv[j].flags & ~IMAP_FL_RECENT) ||
			    b->v[i].kw != nv[j].kw;
			n++;
			i++;
			j++;
		} else
			j++;	/* not in our view and older: not shown */
	}
	free(b->v);
	b->v = out;
	b->n = n;
	b->cap = cap;
	buf_free(&b->names);
	b->names = *arena;
	buf_init(arena, 0);
}

/* dir_stamp - inode and mtime of directory fd, listed from now on */
static void
dir_stamp(int fd, const struct timespec *now, struct imapd_dirstamp *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (fstat(fd, &sb) < 0)
		return;		/* all zero: never trusted */
	st->mtime = sb.st_mtim;
	st->ino = sb.st_ino;
	st->scan = *now;
}

/* stamp_same - the directory has the inode and mtime of the stamp */
static int
stamp_same(const struct imapd_dirstamp *a, const struct imapd_dirstamp *b)
{
	return a->ino == b->ino && same_time(&a->mtime, &b->mtime);
}

/*
 * stamp_trusted - the listing began TRUST_SECS second boundaries or more
 * after the mtime, so no change can share the mtime (see the top)
 */
static int
stamp_trusted(const struct imapd_dirstamp *st)
{
	return st->ino != 0 && st->mtime.tv_sec > 0 &&
	    (int64_t)st->scan.tv_sec - (int64_t)st->mtime.tv_sec >=
	    TRUST_SECS;
}

/*
 * stamp_next - the stamp to keep after a listing that saw now: the old
 * one while the directory is the same and it is trusted or now is not
 * (so an unchanged folder writes nothing), else now
 */
static struct imapd_dirstamp
stamp_next(int have_old, const struct imapd_dirstamp *old,
    const struct imapd_dirstamp *now)
{
	if (have_old && stamp_same(old, now) && (stamp_trusted(old) ||
	    !stamp_trusted(now)))
		return *old;
	return *now;
}

/* idx_stat - inode, mtime and size of the index file (zero if none) */
static void
idx_stat(struct imapd_box *b, ino_t *ino, struct timespec *mtime,
    off_t *size)
{
	struct stat st;

	*ino = 0;
	memset(mtime, 0, sizeof(*mtime));
	*size = -1;
	if (fstatat(b->fd, IMAPD_INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*ino = st.st_ino;
		*mtime = st.st_mtim;
		*size = st.st_size;
	}
}

/* ext_hdr - the extension's header for nn records and these stamps */
static void
ext_hdr(struct xhdr *x, const struct imapd_dirstamp *nst,
    const struct imapd_dirstamp *cst, size_t nn)
{
	memset(x, 0, sizeof(*x));
	x->records = (uint32_t)nn;
	memcpy(x->magic, EXT_MAGIC, 8);
	stamp_out(nst, &x->new);
	stamp_out(cst, &x->cur);
}

/*
 * ext_same - the extension old (len octets) is what put_ext would write,
 * compared in place (an unchanged folder builds nothing)
 */
static int
ext_same(const char *old, size_t len, const struct imapd_dirstamp *nst,
    const struct imapd_dirstamp *cst, const struct imapd_msg *nv, size_t nn,
    const struct buf *arena)
{
	struct xhdr x;
	size_t i, off = EXT_HDR;

	ext_hdr(&x, nst, cst, nn);
	if (len < EXT_HDR || memcmp(old, &x, sizeof(x)) != 0)
		return 0;
	for (i = 0; i < nn; i++) {
		const char *name = arena->data + nv[i].name;
		size_t n = strlen(name) + 1;

		/* UNSAFE: off <= len holds at the top of every round */
		if (len - off < n + 1 || old[off] != (nv[i].in_new ? 'n' : 'c') ||
		    memcmp(old + off + 1, name, n) != 0)
			return 0;
		off += n + 1;
	}
	return off == len;
}

/* put_ext - the extension for the view nv (names in arena) */
static int
put_ext(struct buf *out, const struct imapd_dirstamp *nst,
    const struct imapd_dirstamp *cst, const struct imapd_msg *nv, size_t nn,
    const struct buf *arena)
{
	struct xhdr x;
	size_t i;

	ext_hdr(&x, nst, cst, nn);
	if (buf_append(out, &x, sizeof(x)) < 0)
		return -1;
	for (i = 0; i < nn; i++) {
		const char *name = arena->data + nv[i].name;

		if (buf_append_char(out, nv[i].in_new ? 'n' : 'c') < 0 ||
		    buf_append(out, name, strlen(name) + 1) < 0)
			return -1;
	}
	return 0;
}

/* sync_locked - the sync proper, folder lock held */
static int
sync_locked(struct imapd_box *b, int claim_recent, int full,
    const char **error_r)
{
	struct buf data = BUF_INIT(INDEX_MAX), add = BUF_INIT(INDEX_MAX);
	struct buf arena = BUF_INIT((size_t)IMAPD_MESSAGES_MAX * 64);
	struct buf ext = BUF_INIT(INDEX_MAX);
	struct listing l;
	struct pindex pi;
	struct irec *recs = NULL;
	struct dent **fresh = NULL;
	struct imapd_msg *nv = NULL;
	struct imapd_dirstamp nst, cst;
	struct timespec t0;
	struct hdr h;
	size_t nrec = 0, i, nfresh = 0, dead = 0, nn = 0;
	int damaged, rewrite, ret = -1, pass, skip_new, skip_cur;

	memset(&l, 0, sizeof(l));
	memset(&pi, 0, sizeof(pi));
	/* The stamps first: a change after them shows in the next ones. */
	if (clock_gettime(CLOCK_REALTIME, &t0) < 0)
		memset(&t0, 0, sizeof(t0));
	dir_stamp(b->md.new_fd, &t0, &nst);
	dir_stamp(b->md.cur_fd, &t0, &cst);
	if (read_index(b, &data) < 0) {
		*error_r = "cannot read the index";
		goto out;
	}
	damaged = parse_index(&data, &pi);
	h = pi.h;
	recs = pi.recs;
	nrec = pi.n;
	skip_new = !full && pi.have_ext && stamp_same(&pi.new_st, &nst) &&
	    stamp_trusted(&pi.new_st);
	skip_cur = !full && pi.have_ext && stamp_same(&pi.cur_st, &cst) &&
	    stamp_trusted(&pi.cur_st);
	if (h.uidnext == 0) {
		/*
		 * New or unreadable: a new UIDVALIDITY, above the old one and
		 * above the last one given here (kept in the lock file).
		 */
		uint32_t now = (uint32_t)time(NULL), last = 0;

		if (pread(b->lock_fd, &last, sizeof(last), 0) !=
		    (ssize_t)sizeof(last))
			last = 0;
		if (last > h.uidvalidity)
			h.uidvalidity = last;
		memcpy(h.magic, MAGIC, 8);
		h.uidvalidity = h.uidvalidity >= now ? h.uidvalidity + 1 : now;
		(void)!pwrite(b->lock_fd, &h.uidvalidity,
		    sizeof(h.uidvalidity), 0);
		if (h.uidvalidity == 0)
			h.uidvalidity = 1;
		h.uidnext = 1;
		h.first_recent = 1;
		h.highestmodseq = 1;
		damaged = 1;
	}
	for (pass = 0; pass < 2; pass++) {
		if (pass > 0)
			skip_new = skip_cur = 0;	/* list both now */
		if (list_folder(b, &l, skip_new, skip_cur, &pi, error_r) < 0)
			goto out;
		dead = 0;
		for (i = 0; i < nrec; i++) {
			if (recs[i].ent < 0 && l.hash != NULL)
				recs[i].ent = list_find(&l, recs[i].base,
				    recs[i].base_len);
			if (recs[i].ent >= 0)
				l.v[recs[i].ent].used = 1;
			else
				dead++;
		}
		if (dead == 0)
			break;
	}
	/* Files without a record, in delivery order, get new UIDs. */
	fresh = alloc_reallocarray(NULL, l.n + 1, sizeof(*fresh));
	for (i = 0; i < l.n; i++)
		if (!l.v[i].used)
			fresh[nfresh++] = &l.v[i];
	dent_cmp_ctx = l.arena.data;
	if (nfresh > 1)
		qsort(fresh, nfresh, sizeof(*fresh), dent_cmp);
	rewrite = damaged || dead > 0;
	nv = alloc_reallocarray(NULL, nrec + nfresh + 1, sizeof(*nv));
	for (i = 0; i < nrec + nfresh; i++) {
		struct dent *e;
		struct imapd_msg *m = &nv[nn];
		const char *name;

		memset(m, 0, sizeof(*m));
		if (i < nrec) {
			if (recs[i].ent < 0)
				continue;
			e = &l.v[recs[i].ent];
			m->uid = recs[i].uid;
			m->vsize = recs[i].vsize;
			m->idate = recs[i].idate;
		} else {
			e = fresh[i - nrec];
			if (h.uidnext == UINT32_MAX) {
				*error_r = "UIDs exhausted";
				errno = EOVERFLOW;
				goto out;
			}
			m->uid = h.uidnext++;
			name = l.arena.data + e->name;
			file_info(b, e, name, &m->vsize, &m->idate);
			if (put_rec(&add, m->uid, m->vsize, m->idate, name,
			    e->base_len) < 0) {
				*error_r = "index too large";
				errno = E2BIG;
				goto out;
			}
		}
		if (e->in_new && claim_recent)
			move_to_cur(b, &l, e);
		name = l.arena.data + e->name;
		info_flags(name, &m->flags, &m->kw);
		m->in_new = e->in_new;
		m->name = (uint32_t)arena.len;
		if (buf_append(&arena, name, strlen(name) + 1) < 0) {
			*error_r = "out of memory";
			errno = ENOMEM;
			goto out;
		}
		if (claim_recent && m->uid >= h.first_recent)
			m->flags |= IMAP_FL_RECENT;
		nn++;
	}
	if (claim_recent && h.first_recent < h.uidnext) {
		h.first_recent = h.uidnext;
		if (!rewrite && add.len == 0)
			rewrite = 1;
	}
	h.records = (uint32_t)nn;
	/* A directory listed now gets a fresh stamp, unless the same. */
	nst = stamp_next(pi.have_ext, &pi.new_st, &nst);
	cst = stamp_next(pi.have_ext, &pi.cur_st, &cst);
	/*
	 * Unchanged records and extension: nothing to write. Records the
	 * same but names or stamps not (flags changed, files moved to
	 * cur/): the extension is only worth writing when it brings a
	 * trusted stamp it did not have, one that lets a later sync skip a
	 * listing; the one in the file still holds for the stamps it has.
	 */
	if (!pi.have_ext)
		rewrite = 1;
	else if (!rewrite && add.len == 0 && !ext_same(data.data +
	    pi.recs_end, data.len - pi.recs_end, &nst, &cst, nv, nn,
	    &arena) && ((stamp_trusted(&nst) && !stamp_same(&nst,
	    &pi.new_st)) || (stamp_trusted(&cst) && !stamp_same(&cst,
	    &pi.cur_st))))
		rewrite = 1;
	if (rewrite || add.len > 0) {
		if (put_ext(&ext, &nst, &cst, nv, nn, &arena) < 0) {
			*error_r = "index too large";
			errno = E2BIG;
			goto out;
		}
		struct buf file = BUF_INIT(INDEX_MAX);
		size_t k;
		int r = buf_append(&file, &h, sizeof(h));

		for (k = 0; k < nrec && r == 0; k++)
			if (recs[k].ent >= 0)
				r = put_rec(&file, recs[k].uid, recs[k].vsize,
				    recs[k].idate, recs[k].base,
				    recs[k].base_len);
		if (r < 0 || buf_append(&file, add.data, add.len) < 0 ||
		    buf_append(&file, ext.data, ext.len) < 0) {
			buf_free(&file);
			*error_r = "index too large";
			errno = E2BIG;
			goto out;
		}
		if (index_write_file(b, IMAPD_INDEX_FILE, &file) < 0) {
			buf_free(&file);
			*error_r = "cannot write the index";
			goto out;
		}
		buf_free(&file);
	}
	b->new_st = nst;
	b->cur_st = cst;
	b->uidvalidity = h.uidvalidity;
	b->uidnext = h.uidnext;
	b->highestmodseq = h.highestmodseq;
	merge(b, nv, nn, &arena);
	b->recent = 0;
	for (i = 0; i < b->n; i++)
		if (b->v[i].flags & IMAP_FL_RECENT)
			b->recent++;
	ret = 0;
out:
	buf_free(&ext);
	free(nv);
	free(fresh);
	free(recs);
	list_free(&l);
	buf_free(&arena);
	buf_free(&add);
	buf_free(&data);
	return ret;
}

/* index_sync - bring the session's view up to date with the folder */
int
index_sync(struct imapd_box *b, int force, const char **error_r)
{
	int r;

	if (!force && b->synced && stamp_trusted(&b->new_st) &&
	    stamp_trusted(&b->cur_st)) {
		struct imapd_dirstamp nst, cst;
		struct timespec im;
		ino_t ino;
		off_t isize;

		dir_stamp(b->md.new_fd, &b->new_st.scan, &nst);
		dir_stamp(b->md.cur_fd, &b->cur_st.scan, &cst);
		idx_stat(b, &ino, &im, &isize);
		if (stamp_same(&nst, &b->new_st) &&
		    stamp_same(&cst, &b->cur_st) && ino == b->idx_ino &&
		    same_time(&im, &b->idx_mtime) && isize == b->idx_size) {
			read_keywords(b);
			return 0;
		}
	}
	if (index_lock(b) < 0) {
		*error_r = "cannot lock the folder";
		return -1;
	}
	read_keywords(b);
	r = sync_locked(b, b->claim_recent, force == IMAPD_SYNC_FULL,
	    error_r);
	if (r == 0) {
		idx_stat(b, &b->idx_ino, &b->idx_mtime, &b->idx_size);
		b->synced = 1;
	}
	index_unlock(b);
	return r;
}

/* index_open - open folder fd's Maildir, its lock and index; sync */
int
index_open(int fd, struct imapd_box *b, int flags, const char **error_r)
{
	memset(b, 0, sizeof(*b));
	b->lock_fd = -1;
	b->fd = -1;
	b->md.fd = b->md.tmp_fd = b->md.new_fd = b->md.cur_fd = -1;
	if (maildir_open(fd, ".", &b->md, error_r) < 0)
		return -1;
	b->fd = b->md.fd;
	b->readonly = (flags & IMAPD_OPEN_READONLY) != 0;
	b->lock_fd = openat(b->fd, IMAPD_LOCK_FILE, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (b->lock_fd < 0) {
		*error_r = "cannot open the folder lock";
		maildir_close(&b->md);
		return -1;
	}
	buf_init(&b->names, (size_t)IMAPD_MESSAGES_MAX * 64);
	b->claim_recent = (flags & IMAPD_OPEN_RECENT) && !b->readonly;
	if (index_sync(b, 1, error_r) < 0) {
		index_close(b);
		return -1;
	}
	return 0;
}

/* index_close - release everything of b */
void
index_close(struct imapd_box *b)
{
	size_t i;

	if (b->lock_fd >= 0)
		(void)close(b->lock_fd);
	if (b->md.fd >= 0)
		maildir_close(&b->md);
	for (i = 0; i < b->nkw; i++)
		free(b->kw[i]);
	free(b->v);
	buf_free(&b->names);
	memset(b, 0, sizeof(*b));
	b->lock_fd = b->fd = -1;
	b->md.fd = -1;
}

/* imapd_info_letters - ":2," letters for flags and keywords, others kept */
void
imapd_info_letters(const char *old, uint8_t flags, uint32_t kw, char *out,
    size_t size)
{
	char letters[64];
	size_t n = 0, i, j;
	const char *info = strstr(old, ":2,");
	int c;

	if (info != NULL)
		for (info += 3; *info != '\0' && n < 32; info++)
			if (*info >= 'A' && *info <= 'Z' &&
			    strchr("DFRST", *info) == NULL)
				letters[n++] = *info;
	if (flags & IMAP_FL_DRAFT)
		letters[n++] = 'D';
	if (flags & IMAP_FL_FLAGGED)
		letters[n++] = 'F';
	if (flags & IMAP_FL_ANSWERED)
		letters[n++] = 'R';
	if (flags & IMAP_FL_SEEN)
		letters[n++] = 'S';
	if (flags & IMAP_FL_DELETED)
		letters[n++] = 'T';
	for (i = 0; i < IMAPD_KEYWORDS_MAX; i++)
		if (kw & (1U << i))
			letters[n++] = (char)('a' + i);
	/* ASCII order, each letter once. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && letters[j - 1] > letters[j]; j--) {
			c = letters[j];
			letters[j] = letters[j - 1];
			letters[j - 1] = (char)c;
		}
	for (i = 0, j = 0; i < n && j + 1 < size; i++)
		if (i == 0 || letters[i] != letters[i - 1])
			out[j++] = letters[i];
	out[j] = '\0';
}

/* rename_flags - one rename attempt; 0, or -1 with errno */
static int
rename_flags(struct imapd_box *b, struct imapd_msg *m, uint8_t flags,
    uint32_t kw)
{
	const char *old = index_name(b, m);
	const char *colon = strchr(old, ':');
	size_t blen = colon != NULL ? (size_t)(colon - old) : strlen(old);
	char info[64];
	struct buf nn = BUF_INIT(MAILDIR_NAME_MAX + 70);
	int r;

	imapd_info_letters(old, flags, kw, info, sizeof(info));
	if (buf_append(&nn, old, blen) < 0 ||
	    buf_printf(&nn, ":2,%s", info) < 0) {
		buf_free(&nn);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (m->in_new || strcmp(old, buf_cstr(&nn)) != 0) {
		r = renameat(m->in_new ? b->md.new_fd : b->md.cur_fd, old,
		    b->md.cur_fd, buf_cstr(&nn));
		if (r < 0) {
			buf_free(&nn);
			return -1;
		}
	}
	m->name = (uint32_t)b->names.len;
	(void)buf_append(&b->names, nn.data, nn.len + 1);
	m->in_new = 0;
	buf_free(&nn);
	return 0;
}

/*
 * relocate - find m's file again after someone else renamed it (new
 * flags, or new/ to cur/), by its base name in cur/ then new/. No sync:
 * the view array is not reallocated, so the caller's pointers into it
 * (a FETCH or STORE walking the view) stay valid, and sequence numbers
 * stay as they are until the next sync reports what changed. 0; -1 with
 * ENOENT when no file has that base name (expunged: the next sync
 * reports it), or another errno when a directory cannot be read.
 */
static int
relocate(struct imapd_box *b, struct imapd_msg *m)
{
	char base[MAILDIR_NAME_MAX + 1];
	const char *old = index_name(b, m);
	size_t blen = strcspn(old, ":");
	struct dirent *e;
	DIR *dir;
	int pass, dfd;

	if (blen == 0 || blen >= sizeof(base)) {
		errno = ENOENT;
		return -1;
	}
	memcpy(base, old, blen);	/* old moves when names grows */
	base[blen] = '\0';
	for (pass = 0; pass < 2; pass++) {
		int in_new = pass == 1;

		if ((dfd = dup(in_new ? b->md.new_fd : b->md.cur_fd)) < 0)
			return -1;
		if (lseek(dfd, 0, SEEK_SET) < 0 ||
		    (dir = fdopendir(dfd)) == NULL) {
			(void)close(dfd);
			return -1;
		}
		rewinddir(dir);
		while ((e = readdir(dir)) != NULL) {
			size_t len;

			if (strncmp(e->d_name, base, blen) != 0 ||
			    (e->d_name[blen] != '\0' &&
			    e->d_name[blen] != ':'))
				continue;
			len = strlen(e->d_name);
			m->name = (uint32_t)b->names.len;
			if (buf_append(&b->names, e->d_name, len + 1) < 0) {
				(void)closedir(dir);
				errno = ENOMEM;
				return -1;
			}
			m->in_new = (uint8_t)in_new;
			(void)closedir(dir);
			return 0;
		}
		(void)closedir(dir);
	}
	errno = ENOENT;
	return -1;
}

/*
 * index_set_flags - give m these flags and keywords by renaming its file;
 * 0, or -1 (ENOENT: the message is gone)
 */
int
index_set_flags(struct imapd_box *b, struct imapd_msg *m, uint8_t flags,
    uint32_t kw, const char **error_r)
{
	uint8_t recent = m->flags & IMAP_FL_RECENT;
	int r;

	if (m->gone) {
		errno = ENOENT;
		*error_r = "message expunged";
		return -1;
	}
	if (index_lock(b) < 0) {
		*error_r = "cannot lock the folder";
		return -1;
	}
	r = rename_flags(b, m, flags, kw);
	if (r < 0 && errno == ENOENT) {
		/* Renamed by someone else: find its new name, try again. */
		r = relocate(b, m);
		if (r < 0 && errno == ENOENT) {
			index_unlock(b);
			*error_r = "message expunged";
			return -1;
		}
		if (r == 0)
			r = rename_flags(b, m, flags, kw);
	}
	index_unlock(b);
	if (r < 0) {
		*error_r = "cannot rename the message file";
		return -1;
	}
	m->flags = (uint8_t)((flags & ~IMAP_FL_RECENT) | recent);
	m->kw = kw;
	return 0;
}

/* index_open_msg - open m's file for reading; fd, or -1 */
int
index_open_msg(struct imapd_box *b, struct imapd_msg *m)
{
	int fd, tries;

	if (m->gone) {
		errno = ENOENT;
		return -1;
	}
	/* Renamed (flags changed elsewhere): look again, a few times, as
	 * another session may rename it again between look and open. */
	for (tries = 0; tries < 4; tries++) {
		if (tries > 0 && relocate(b, m) < 0)
			return -1;
		fd = openat(m->in_new ? b->md.new_fd : b->md.cur_fd,
		    index_name(b, m), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return -1;
}

/* index_expunge - remove m's file (the next sync reports it) */
int
index_expunge(struct imapd_box *b, struct imapd_msg *m)
{
	int r;

	if (m->gone)
		return 0;
	if (index_lock(b) < 0)
		return -1;
	r = unlinkat(m->in_new ? b->md.new_fd : b->md.cur_fd,
	    index_name(b, m), 0);
	index_unlock(b);
	if (r < 0 && errno == ENOENT)
		return 0;
	return r;
}

/* index_flags_string - "\Seen \Answered kw" for FLAGS */
int
index_flags_string(const struct imapd_box *b, uint8_t flags, uint32_t kw,
    struct buf *out)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} sys[] = {
		{ IMAP_FL_SEEN, "\\Seen" }, { IMAP_FL_ANSWERED, "\\Answered" },
		{ IMAP_FL_FLAGGED, "\\Flagged" },
		{ IMAP_FL_DELETED, "\\Deleted" }, { IMAP_FL_DRAFT, "\\Draft" },
		{ IMAP_FL_RECENT, "\\Recent" },
	};
	size_t i;
	int first = 1, r = 0;

	r |= buf_append_char(out, '(');
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (flags & sys[i].bit) {
			r |= buf_printf(out, "%s%s", first ? "" : " ",
			    sys[i].name);
			first = 0;
		}
	for (i = 0; i < IMAPD_KEYWORDS_MAX; i++)
		if ((kw & (1U << i)) && i < b->nkw && b->kw[i] != NULL) {
			r |= buf_printf(out, "%s%s", first ? "" : " ",
			    b->kw[i]);
			first = 0;
		}
	r |= buf_append_char(out, ')');
	return r < 0 ? -1 : 0;
}

/* index_status - STATUS counts of the folder at fd */
int
index_status(int fd, uint32_t *uidvalidity_r, uint32_t *uidnext_r,
    size_t *messages_r, size_t *unseen_r, size_t *recent_r,
    uint64_t *size_r, size_t *deleted_r, const char **error_r)
{
	struct imapd_box b;
	size_t i;

	if (index_open(fd, &b, 0, error_r) < 0)
		return -1;
	*uidvalidity_r = b.uidvalidity;
	*uidnext_r = b.uidnext;
	*messages_r = b.n;
	*unseen_r = *recent_r = *deleted_r = 0;
	*size_r = 0;
	for (i = 0; i < b.n; i++) {
		if (!(b.v[i].flags & IMAP_FL_SEEN))
			(*unseen_r)++;
		if (b.v[i].flags & IMAP_FL_DELETED)
			(*deleted_r)++;
		*size_r += b.v[i].vsize;
	}
	index_close(&b);
	return 0;
}

/* index_append_uid - the UID the folder gave file (a name in cur/) */
int
index_append_uid(struct imapd_box *b, const char *file, uint32_t *uid_r,
    const char **error_r)
{
	size_t i, blen;
	const char *colon = strchr(file, ':'), *comma;

	blen = colon != NULL ? (size_t)(colon - file) : strlen(file);
	comma = memchr(file, ',', blen);
	if (comma != NULL)
		blen = (size_t)(comma - file);
	if (index_sync(b, 1, error_r) < 0)
		return -1;
	for (i = b->n; i > 0; i--) {
		const char *name = index_name(b, &b->v[i - 1]);

		if (strncmp(name, file, blen) == 0 && (name[blen] == ',' ||
		    name[blen] == ':' || name[blen] == '\0')) {
			*uid_r = b->v[i - 1].uid;
			return 0;
		}
	}
	*error_r = "appended message not found";
	errno = ENOENT;
	return -1;
}
