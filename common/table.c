/*
 * NAME
 *	table - key/value tables: a text source compiled to cdb
 *
 * SYNOPSIS
 *	int table_compile(const char *text_path, const char *cdb_path,
 *	    int flags, struct buf *err);
 *	int table_compile_with(const char *text_path, const char *cdb_path,
 *	    const struct table_compile_opts *opts, struct buf *err);
 *	struct table *table_open(const char *cdb_path, const char **error_r);
 *	int table_lookup(struct table *t, const char *key, size_t keylen,
 *	    struct buf *value);
 *	int table_refresh(struct table *t);
 *	void table_close(struct table *t);
 *
 * DESCRIPTION
 *	The text format is described in table.h.
 *
 *	table_compile() reads text_path and writes cdb_path.tmp.PID (created
 *	with O_EXCL|O_NOFOLLOW; a stale file of that name, left by an
 *	earlier process with the same pid, is removed first), writes every
 *	entry with tinycdb's cdb_make, fsyncs the file, renames it over
 *	cdb_path and fsyncs the folder. A reader sees the old table or the
 *	new one, never part of one, and a reader that still has the old
 *	table open keeps reading the old file undisturbed. On any failure
 *	the temporary file is removed and cdb_path is untouched. The cdb
 *	takes the permission bits of the text file (less any execute bits),
 *	so a users file kept 0640 stays 0640 once compiled.
 *
 *	table_compile_with() is table_compile() with options: a mode for the
 *	cdb instead of the text's, an owner given to the temporary file
 *	before the rename (so the cdb never exists with another owner), and
 *	a function that gives the value to store for each entry.
 *
 *	With TABLE_FOLD_KEYS keys are folded to ASCII lower case. The flag
 *	is recorded in the cdb under a key that holds a NUL byte (no text
 *	key and no lookup key can), and table_lookup() folds the key it is
 *	given the same way, so callers never fold by hand.
 *
 *	table_open() maps the cdb with cdb_init(3) (mmap). table_lookup()
 *	copies the value of one key into value. table_refresh() stat(2)s
 *	cdb_path and, if another file now has that name or it changed in
 *	size or mtime, opens it and drops the old one: a daemon calls it
 *	before each session (or on SIGHUP) so that a recompiled table takes
 *	effect without a restart. table_close() releases everything.
 *
 * DIAGNOSTICS
 *	table_compile: 0, or -1 with errno and err set. Content errors give
 *	EINVAL and "FILE:LINE: reason" (duplicate key, over-long line, NUL
 *	byte, control character, key not UTF-8): permanent until the text is
 *	fixed. System errors (cannot open, ENOSPC, EIO) give their errno and
 *	"FILE: what: strerror": temporary.
 *	table_open: the table, or NULL with errno and a static reason in
 *	*error_r (ENOENT, EACCES, EPROTO for a file that is not a cdb).
 *	table_lookup: 1 found, 0 not found, -1 with errno (EPROTO damaged
 *	file, ENOBUFS value longer than the buffer allows): temporary.
 *	table_refresh: 1 reopened, 0 unchanged, -1 with errno when the new
 *	file cannot be opened; the old table then stays in use.
 *
 * SECURITY
 *	Needs read access to the text and write access to the cdb's folder
 *	for compiling, read access to the cdb for lookups. The text is the
 *	operator's; keys and values are checked for NUL and control bytes
 *	so that nothing read back from a table can hold one. Lookup keys
 *	come from the network and are used only as cdb keys.
 */
#include <sys/stat.h>

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "str.h"
#include "table.h"
#include "utf8.h"

/* The key holding the table's flags: the NUL keeps it out of reach. */
static const char flags_key[] = "\0flags";
#define FLAGS_KEY_LEN	(sizeof(flags_key) - 1)

struct table {
	char *path;
	int fd;
	struct cdb cdb;
	int fold;
	struct stat st;
};

/* One key seen so far while compiling, for the duplicate check. */
struct seen {
	char *key;		/* NULL: free slot */
	size_t len;
	unsigned hash;
	unsigned long line;
};

struct seen_set {
	struct seen *v;
	size_t cap;		/* a power of two */
	size_t n;
};

/* The state of one compilation. */
struct compile {
	const char *text_path;
	const char *tmp_path;
	unsigned long lineno;
	int flags;
	const struct table_compile_opts *opts;
	struct buf mapped;	/* the value opts->value made */
	struct cdb_make cm;
	struct seen_set seen;
	struct buf *err;
};

/* seterr - put a formatted message in err (if any) */
static void __attribute__((format(printf, 2, 3)))
seterr(struct buf *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	buf_reset(err);
	va_start(ap, fmt);
	(void)buf_vprintf(err, fmt, ap);
	va_end(ap);
}

/* seen_find - the slot for key: where it is, or the free one to use */
static struct seen *
seen_find(struct seen_set *s, const char *key, size_t len, unsigned hash)
{
	size_t i = hash & (s->cap - 1);

	while (s->v[i].key != NULL) {
		if (s->v[i].hash == hash && s->v[i].len == len &&
		    memcmp(s->v[i].key, key, len) == 0)
			break;
		i = (i + 1) & (s->cap - 1);
	}
	return &s->v[i];
}

/* seen_add - remember key from line; 0, or the line it was first seen on */
static unsigned long
seen_add(struct seen_set *s, const char *key, size_t len, unsigned long line)
{
	unsigned hash = cdb_hash(key, (unsigned)len);
	struct seen *slot;

	if (s->n + 1 > s->cap / 2) {
		struct seen_set bigger;
		size_t i;

		bigger.cap = s->cap == 0 ? 64 : s->cap * 2;
		bigger.v = alloc_calloc(bigger.cap, sizeof(*bigger.v));
		bigger.n = s->n;
		for (i = 0; i < s->cap; i++)
			if (s->v[i].key != NULL)
				*seen_find(&bigger, s->v[i].key, s->v[i].len,
				    s->v[i].hash) = s->v[i];
		free(s->v);
		*s = bigger;
	}
	slot = seen_find(s, key, len, hash);
	if (slot->key != NULL)
		return slot->line;
	slot->key = alloc_strndup(key, len);
	slot->len = len;
	slot->hash = hash;
	slot->line = line;
	s->n++;
	return 0;
}

/* seen_free - forget every key */
static void
seen_free(struct seen_set *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->v[i].key);
	free(s->v);
	s->v = NULL;
	s->cap = s->n = 0;
}

/* fold_ascii - ASCII lower case of n bytes, in place */
static void
fold_ascii(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (char)(p[i] + ('a' - 'A'));
}

/* compile_line - check one text line (no LF) and add its entry */
static int
compile_line(struct compile *c, char *line, size_t len)
{
	char *key, *value, *p;
	size_t klen, vlen, i;
	unsigned long first;

	if (memchr(line, '\0', len) != NULL) {
		seterr(c->err, "%s:%lu: NUL byte in line", c->text_path,
		    c->lineno);
		errno = EINVAL;
		return -1;
	}
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	key = line;
	while (*key == ' ' || *key == '\t')
		key++;
	if (*key == '\0' || *key == '#')
		return 0;
	for (p = key; *p != '\0' && *p != ' ' && *p != '\t'; p++)
		;
	klen = (size_t)(p - key);
	value = p;
	if (*value != '\0')
		*value++ = '\0';
	value = str_trim(value);
	for (i = 0; i < klen; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
			seterr(c->err, "%s:%lu: control character in key",
			    c->text_path, c->lineno);
			errno = EINVAL;
			return -1;
		}
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
			seterr(c->err, "%s:%lu: control character in value",
			    c->text_path, c->lineno);
			errno = EINVAL;
			return -1;
		}
	if (!utf8_valid(key, klen)) {
		seterr(c->err, "%s:%lu: key is not valid UTF-8",
		    c->text_path, c->lineno);
		errno = EINVAL;
		return -1;
	}
	if (c->flags & TABLE_FOLD_KEYS)
		fold_ascii(key, klen);
	first = seen_add(&c->seen, key, klen, c->lineno);
	if (first != 0) {
		seterr(c->err, "%s:%lu: duplicate key '%s' (first on line %lu)",
		    c->text_path, c->lineno, key, first);
		errno = EINVAL;
		return -1;
	}
	if (c->opts->value != NULL) {
		const char *why = "bad value";

		buf_reset(&c->mapped);
		if (c->opts->value(key, value, &c->mapped, &why) < 0) {
			seterr(c->err, "%s:%lu: %s", c->text_path, c->lineno,
			    why);
			errno = EINVAL;
			return -1;
		}
		value = c->mapped.data != NULL ? (char *)c->mapped.data : "";
		vlen = c->mapped.len;
	} else
		vlen = strlen(value);
	/* UNSAFE: both lengths are below TABLE_LINE_MAX, far from UINT_MAX. */
	if (cdb_make_add(&c->cm, key, (unsigned)klen, value,
	    (unsigned)vlen) < 0) {
		int e = errno;

		seterr(c->err, "%s: write: %s", c->tmp_path, strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

/* compile_text - read the text file line by line into the cdb */
static int
compile_text(struct compile *c, int fd)
{
	char chunk[8192];
	struct buf line;
	int toolong = 0, r = 0;
	ssize_t n;

	buf_init(&line, TABLE_LINE_MAX);
	for (;;) {
		char *p, *end;

		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			seterr(c->err, "%s: read: %s", c->text_path,
			    strerror(e));
			errno = e;
			r = -1;
			break;
		}
		if (n == 0) {
			if (line.len > 0 || toolong) {
				/* a last line without LF */
				c->lineno++;
				if (toolong)
					goto too_long;
				r = compile_line(c, line.data, line.len);
			}
			break;
		}
		p = chunk;
		end = chunk + n;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t take = (size_t)((nl != NULL ? nl : end) - p);

			if (!toolong && buf_append(&line, p, take) < 0)
				toolong = 1;
			p += take;
			if (nl == NULL)
				break;
			p++;
			c->lineno++;
			if (toolong)
				goto too_long;
			if (line.len > 0) {
				r = compile_line(c, line.data, line.len);
				if (r < 0)
					goto out;
			}
			buf_reset(&line);
		}
	}
out:
	buf_free(&line);
	return r;
too_long:
	seterr(c->err, "%s:%lu: line longer than %d octets", c->text_path,
	    c->lineno, TABLE_LINE_MAX);
	buf_free(&line);
	errno = EINVAL;
	return -1;
}

/* sync_dir - fsync the folder holding path */
static int
sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r;

	if (slash == NULL)
		dir = alloc_strdup(".");
	else if (slash == path)
		dir = alloc_strdup("/");
	else
		dir = alloc_strndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	if (r < 0 && errno == EINVAL)	/* no fsync for folders here */
		r = 0;
	(void)close(fd);
	return r;
}

/* table_compile - compile the text table into cdb_path, atomically */
int
table_compile(const char *text_path, const char *cdb_path, int flags,
    struct buf *err)
{
	struct table_compile_opts opts;

	memset(&opts, 0, sizeof(opts));
	opts.flags = flags;
	opts.mode = -1;
	opts.uid = (uid_t)-1;
	opts.gid = (gid_t)-1;
	return table_compile_with(text_path, cdb_path, &opts, err);
}

/* table_compile_with - table_compile with a mode, owner and value map */
int
table_compile_with(const char *text_path, const char *cdb_path,
    const struct table_compile_opts *opts, struct buf *err)
{
	int flags = opts->flags;
	struct compile c;
	struct stat st;
	struct buf tmp = BUF_INIT(8192);
	const char *what;
	int in = -1, out = -1, e, started = 0;
	char fl[8] = "";
	size_t fllen = 0;

	memset(&c, 0, sizeof(c));
	c.text_path = text_path;
	c.flags = flags;
	c.opts = opts;
	buf_init(&c.mapped, TABLE_LINE_MAX);
	c.err = err;

	in = open(text_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0 || fstat(in, &st) < 0) {
		e = errno;
		seterr(err, "%s: cannot open: %s", text_path, strerror(e));
		if (in >= 0)
			(void)close(in);
		errno = e;
		return -1;
	}
	if (buf_printf(&tmp, "%s.tmp.%ld", cdb_path, (long)getpid()) < 0) {
		e = errno;
		seterr(err, "%s: name too long", cdb_path);
		(void)close(in);
		errno = e;
		return -1;
	}
	c.tmp_path = buf_cstr(&tmp);
	out = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (out < 0 && errno == EEXIST && unlink(buf_cstr(&tmp)) == 0)
		out = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		e = errno;
		seterr(err, "%s: cannot create: %s", buf_cstr(&tmp),
		    strerror(e));
		(void)close(in);
		buf_free(&tmp);
		errno = e;
		return -1;
	}

	what = "write";
	if (fchmod(out, opts->mode >= 0 ? (mode_t)opts->mode & 0666 :
	    st.st_mode & 0666) < 0 ||
	    ((opts->uid != (uid_t)-1 || opts->gid != (gid_t)-1) &&
	    fchown(out, opts->uid, opts->gid) < 0) ||
	    cdb_make_start(&c.cm, out) < 0)
		goto sys_fail;
	started = 1;
	if (flags & TABLE_FOLD_KEYS) {
		memcpy(fl, "fold", 4);
		fllen = 4;
	}
	if (cdb_make_add(&c.cm, flags_key, FLAGS_KEY_LEN, fl,
	    (unsigned)fllen) < 0)
		goto sys_fail;
	if (compile_text(&c, in) < 0)
		goto fail;
	started = 0;
	if (cdb_make_finish(&c.cm) < 0)
		goto sys_fail;
	what = "fsync";
	if (fsync(out) < 0)
		goto sys_fail;
	what = "close";
	e = close(out);
	out = -1;
	if (e < 0)
		goto sys_fail;
	what = "rename";
	if (rename(buf_cstr(&tmp), cdb_path) < 0)
		goto sys_fail;
	seen_free(&c.seen);
	buf_free(&c.mapped);
	(void)close(in);
	buf_free(&tmp);
	if (sync_dir(cdb_path) < 0) {
		e = errno;
		seterr(err, "%s: fsync of folder: %s", cdb_path, strerror(e));
		errno = e;
		return -1;
	}
	return 0;

sys_fail:
	e = errno;
	seterr(err, "%s: %s: %s", buf_cstr(&tmp), what, strerror(e));
	errno = e;
fail:
	e = errno;
	if (started)	/* the only way to free cdb_make's memory */
		(void)cdb_make_finish(&c.cm);
	if (out >= 0)
		(void)close(out);
	(void)unlink(buf_cstr(&tmp));
	(void)close(in);
	seen_free(&c.seen);
	buf_free(&c.mapped);
	buf_free(&tmp);
	errno = e;
	return -1;
}

/* open_cdb - open and map path into t's fd, cdb, fold and st */
static int
open_cdb(const char *path, int *fd_r, struct cdb *cdb, int *fold_r,
    struct stat *st)
{
	int fd, e, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || cdb_init(cdb, fd) < 0) {
		e = errno;
		(void)close(fd);
		errno = e != 0 ? e : EPROTO;
		return -1;
	}
	*fold_r = 0;
	r = cdb_find(cdb, flags_key, FLAGS_KEY_LEN);
	if (r < 0) {
		e = errno;
		cdb_free(cdb);
		(void)close(fd);
		errno = e;
		return -1;
	}
	if (r > 0 && cdb_datalen(cdb) == 4) {
		const void *p = cdb_getdata(cdb);

		if (p != NULL && memcmp(p, "fold", 4) == 0)
			*fold_r = 1;
	}
	*fd_r = fd;
	return 0;
}

/* table_open - open a compiled table for lookups */
struct table *
table_open(const char *cdb_path, const char **error_r)
{
	struct table *t;

	t = alloc_calloc(1, sizeof(*t));
	if (open_cdb(cdb_path, &t->fd, &t->cdb, &t->fold, &t->st) < 0) {
		int e = errno;

		*error_r = e == EPROTO ? "not a cdb file" :
		    "cannot open the table";
		free(t);
		errno = e;
		return NULL;
	}
	t->path = alloc_strdup(cdb_path);
	return t;
}

/* table_lookup - 1 and the value if key is in the table, 0 if not */
int
table_lookup(struct table *t, const char *key, size_t keylen,
    struct buf *value)
{
	char folded[TABLE_LINE_MAX];
	const void *data;
	int r;

	if (keylen == 0 || keylen > TABLE_LINE_MAX ||
	    memchr(key, '\0', keylen) != NULL)
		return 0;
	if (t->fold) {
		memcpy(folded, key, keylen);
		fold_ascii(folded, keylen);
		key = folded;
	}
	r = cdb_find(&t->cdb, key, (unsigned)keylen);
	if (r <= 0)
		return r;
	data = cdb_getdata(&t->cdb);
	if (data == NULL) {
		errno = EPROTO;
		return -1;
	}
	if (buf_set(value, data, cdb_datalen(&t->cdb)) < 0)
		return -1;
	return 1;
}

/* table_refresh - reopen the table if its file was replaced or changed */
int
table_refresh(struct table *t)
{
	struct stat st;
	struct cdb cdb;
	int fd, fold;

	if (stat(t->path, &st) < 0)
		return -1;
	if (st.st_dev == t->st.st_dev && st.st_ino == t->st.st_ino &&
	    st.st_size == t->st.st_size &&
	    st.st_mtim.tv_sec == t->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == t->st.st_mtim.tv_nsec)
		return 0;
	if (open_cdb(t->path, &fd, &cdb, &fold, &st) < 0)
		return -1;
	cdb_free(&t->cdb);
	(void)close(t->fd);
	t->cdb = cdb;
	t->fd = fd;
	t->fold = fold;
	t->st = st;
	return 1;
}

/* table_close - release the table */
void
table_close(struct table *t)
{
	if (t == NULL)
		return;
	cdb_free(&t->cdb);
	(void)close(t->fd);
	free(t->path);
	free(t);
}
