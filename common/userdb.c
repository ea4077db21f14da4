/*
 * NAME
 *	userdb - the users and aliases tables: who gets mail here
 *
 * SYNOPSIS
 *	struct userdb *userdb_open(const struct config *cfg,
 *	    const char **error_r);
 *	struct userdb *userdb_open_passwd(const struct config *cfg,
 *	    const char **error_r);
 *	int userdb_rcpt_kind(struct userdb *db, const char *local,
 *	    const char *domain);
 *	int userdb_resolve(struct userdb *db, const char *local,
 *	    const char *domain, struct userdb_result *r,
 *	    const char **error_r);
 *	int userdb_user_lookup(struct userdb *db, const char *address,
 *	    struct userdb_user *u, const char **error_r);
 *	int userdb_refresh(struct userdb *db);
 *	void userdb_close(struct userdb *db);
 *	void userdb_result_free(struct userdb_result *r);
 *	void userdb_user_free(struct userdb_user *u);
 *	int userdb_table_paths(const struct config *cfg, int which,
 *	    struct buf *text_r, struct buf *cdb_r);
 *	int userdb_compile(const char *text_path, const char *cdb_path,
 *	    struct buf *err);
 *	int userdb_compile_users(const struct config *cfg,
 *	    const char *text_path, struct buf *err);
 *	void userdb_auth_owner(const struct config *cfg, uid_t *uid_r,
 *	    gid_t *gid_r);
 *	int userdb_local_ok(const char *local);
 *	int userdb_parse_user(const char *value, struct userdb_user *u,
 *	    const char **error_r);
 *	int userdb_parse_targets(const char *value, struct userdb_list *l,
 *	    const char **error_r);
 *	int userdb_parse_address(const char *s, size_t len, char *out,
 *	    size_t size, const char **error_r);
 *	void userdb_list_free(struct userdb_list *l);
 *	int userdb_maildir_open(int mail_dir_fd, const struct userdb_user *u,
 *	    int flags, struct maildir *md, const char **error_r);
 *
 * DESCRIPTION
 *	The tables, their formats, when they are compiled and the order in
 *	which a recipient is resolved are described in userdb.h.
 *
 *	userdb_rcpt_kind() answers smtpd's question at RCPT time: USERDB_NONE,
 *	USERDB_USER or USERDB_ALIAS (-1: temporary failure). userdb_resolve()
 *	says the same with the entry itself: the user's record, or the
 *	alias's targets. userdb_user_lookup() finds a user by its exact
 *	address (no sub-addressing, no aliases: for logins). The records
 *	must be released with userdb_result_free() / userdb_user_free().
 *
 *	userdb_table_paths() names a table's text and cdb files
 *	(USERDB_PASSWD: the users text and STATE_DIR/auth/passwd.cdb);
 *	userdb_compile() compiles one as it is (and, as root, gives the cdb
 *	the owner and group of the text): aliases, or any other table;
 *	userdb_compile_users() compiles a users text into passwd.cdb, then
 *	users.cdb without the hashes (see userdb.h); userdb_auth_owner()
 *	names the account passwd.cdb belongs to. userdb_open_passwd() opens
 *	the password table alone, for userdb_user_lookup(). userdb_local_ok() says whether a local part
 *	is safe to look up and, for an entry of the users table, to use as
 *	a folder name. userdb_parse_user() reads a users value ("HASH
 *	[quota=SIZE] [forward=ADDR,...]"); userdb_parse_targets() a comma
 *	separated list of addresses; userdb_parse_address() one address
 *	(RFC 5321 syntax, UTF-8 allowed) into its canonical "local@domain".
 *
 * DIAGNOSTICS
 *	See userdb.h. Every failure to read a table is temporary; an entry
 *	that does not parse is reported as -1/EINVAL (the operator must fix
 *	the table; callers defer rather than bounce).
 *
 * SECURITY
 *	Library code: no privileges of its own. Lookup keys are untrusted
 *	and only ever used as cdb keys, after userdb_local_ok().
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "quota.h"
#include "str.h"
#include "table.h"
#include "userdb.h"

struct dbtable {
	int which;		/* USERDB_USERS, USERDB_ALIASES or _PASSWD */
	const struct config *cfg;
	char *text;		/* the text file; NULL: not configured */
	char *cdb;		/* its compiled form */
	struct table *t;	/* NULL: empty (or not configured) */
};

struct userdb {
	const struct config *cfg;
	struct dbtable tab[3];	/* USERDB_USERS, USERDB_ALIASES, _PASSWD */
};

static const char *const table_names[3] = { "users", "aliases",
    "passwd" };

const char *const userdb_default_folders[] = {
	".Sent", ".Drafts", ".Trash", ".Junk", ".Archive", NULL
};

#define OPEN_DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define MAILBOX_MODE	0700

/* fold - ASCII lower case, in place */
static void
fold(char *s)
{
	str_lower(s);
}

/* userdb_table_paths - the text and cdb paths of a table */
int
userdb_table_paths(const struct config *cfg, int which, struct buf *text_r,
    struct buf *cdb_r)
{
	const char *text = which == USERDB_ALIASES ? cfg->aliases :
	    cfg->users;

	if (text == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (text_r != NULL && buf_set(text_r, text, strlen(text)) < 0)
		return -1;
	if (cdb_r != NULL) {
		buf_reset(cdb_r);
		if (buf_printf(cdb_r, "%s/%s/%s.cdb", cfg->state_dir,
		    which == USERDB_PASSWD ? "auth" : "tables",
		    table_names[which]) < 0)
			return -1;
	}
	return 0;
}

/* userdb_auth_owner - uid and gid of the user_auth account, or root's */
void
userdb_auth_owner(const struct config *cfg, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw = cfg->user_auth != NULL ?
	    getpwnam(cfg->user_auth) : NULL;

	*uid_r = pw != NULL ? pw->pw_uid : 0;
	*gid_r = pw != NULL ? pw->pw_gid : 0;
}

/* mkdir_upto - mkdir path[0..len) unless it exists */
static int
mkdir_upto(const char *path, size_t len)
{
	struct buf dir = BUF_INIT(4096);
	int r = 0;

	if (buf_set(&dir, path, len) < 0 ||
	    (mkdir(buf_cstr(&dir), 0755) < 0 && errno != EEXIST))
		r = -1;
	buf_free(&dir);
	return r;
}

/* ensure_dirs - make STATE_DIR and STATE_DIR/tables (the cdb's folder) */
static int
ensure_dirs(const char *cdb_path)
{
	const char *slash = strrchr(cdb_path, '/'), *p;

	if (slash == NULL || slash == cdb_path)
		return 0;
	for (p = slash - 1; p > cdb_path && *p != '/'; p--)
		;
	if (p > cdb_path && mkdir_upto(cdb_path, (size_t)(p - cdb_path)) < 0)
		return -1;
	return mkdir_upto(cdb_path, (size_t)(slash - cdb_path));
}

/* hash_field - the length of value's first field (the password hash) */
static size_t
hash_field(const char *value)
{
	size_t n = 0;

	while (value[n] != '\0' && value[n] != ' ' && value[n] != '\t')
		n++;
	return n;
}

/* value_no_hash - a users value with its hash replaced by "*" */
static int
value_no_hash(const char *key, const char *value, struct buf *out,
    const char **why)
{
	size_t n = hash_field(value);

	(void)key;
	if (n == 0)	/* no hash at all: left for the parser to refuse */
		return buf_set(out, value, strlen(value)) < 0 ? -1 : 0;
	if (buf_append_char(out, '*') < 0 ||
	    buf_append_str(out, value + n) < 0) {
		*why = "users entry too long";
		return -1;
	}
	return 0;
}

/* value_hash - a users value's hash alone ("*" when there is none) */
static int
value_hash(const char *key, const char *value, struct buf *out,
    const char **why)
{
	size_t n = hash_field(value);

	(void)key;
	if (n > USERDB_HASH_MAX) {
		*why = "password hash too long";
		return -1;
	}
	if (n == 0)
		return buf_set(out, "*", 1);
	return buf_set(out, value, n);
}

/* compile_split - users text to users.cdb (no hashes) or passwd.cdb */
static int
compile_split(const struct config *cfg, int which, const char *text_path,
    const char *cdb_path, struct buf *err)
{
	struct table_compile_opts o;
	struct stat st;
	uid_t uid;
	gid_t gid;

	memset(&o, 0, sizeof(o));
	o.flags = TABLE_FOLD_KEYS;
	o.mode = -1;
	o.uid = (uid_t)-1;
	o.gid = (gid_t)-1;
	o.value = which == USERDB_PASSWD ? value_hash : value_no_hash;
	if (which == USERDB_PASSWD) {
		o.mode = 0600;
		if (geteuid() == 0) {
			userdb_auth_owner(cfg, &uid, &gid);
			o.uid = uid;
			o.gid = gid;
		}
	} else {
		/* No hashes in it: every service reads it, whatever the
		   text's mode (which keeps the hashes from others). */
		o.mode = 0644;
		if (geteuid() == 0 && stat(text_path, &st) == 0) {
			o.uid = st.st_uid;
			o.gid = st.st_gid;
		}
	}
	if (ensure_dirs(cdb_path) < 0) {
		int e = errno;

		if (err != NULL) {
			buf_reset(err);
			(void)buf_printf(err, "%s: cannot create its "
			    "folder: %s", cdb_path, strerror(e));
		}
		errno = e;
		return -1;
	}
	if (which == USERDB_PASSWD && geteuid() == 0) {
		struct buf dir = BUF_INIT(4096);
		const char *slash = strrchr(cdb_path, '/');

		/* authd makes its socket and recompiles in STATE_DIR/auth */
		if (buf_set(&dir, cdb_path, (size_t)(slash - cdb_path)) == 0 &&
		    lchown(buf_cstr(&dir), o.uid, o.gid) < 0) {
			/* root's then: authd cannot recompile, mailctl can */
		}
		buf_free(&dir);
	}
	return table_compile_with(text_path, cdb_path, &o, err);
}

/* userdb_compile_users - a users text into users.cdb and passwd.cdb */
int
userdb_compile_users(const struct config *cfg, const char *text_path,
    struct buf *err)
{
	struct buf cdb = BUF_INIT(4096);
	int r = -1;

	if (userdb_table_paths(cfg, USERDB_PASSWD, NULL, &cdb) == 0 &&
	    compile_split(cfg, USERDB_PASSWD, text_path, buf_cstr(&cdb),
	    err) == 0 && userdb_table_paths(cfg, USERDB_USERS, NULL,
	    &cdb) == 0 && compile_split(cfg, USERDB_USERS, text_path,
	    buf_cstr(&cdb), err) == 0)
		r = 0;
	else if (err != NULL && err->len == 0) {
		int e = errno;

		(void)buf_printf(err, "%s: cannot name the compiled tables",
		    text_path);
		errno = e;
	}
	buf_free(&cdb);
	return r;
}

/* userdb_compile - compile a text table into its cdb, owned like the text */
int
userdb_compile(const char *text_path, const char *cdb_path, struct buf *err)
{
	struct stat st;

	if (ensure_dirs(cdb_path) < 0) {
		int e = errno;

		if (err != NULL) {
			buf_reset(err);
			(void)buf_printf(err, "%s: cannot create its "
			    "folder: %s", cdb_path, strerror(e));
		}
		errno = e;
		return -1;
	}
	if (table_compile(text_path, cdb_path, TABLE_FOLD_KEYS, err) < 0)
		return -1;
	if (geteuid() == 0 && stat(text_path, &st) == 0 &&
	    lchown(cdb_path, st.st_uid, st.st_gid) < 0)
		return 0;	/* compiled; readers may lack access: theirs */
	return 0;
}

/* mtime_before - 1 if a was last modified before b */
static int
mtime_before(const struct stat *a, const struct stat *b)
{
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec)
		return a->st_mtim.tv_sec < b->st_mtim.tv_sec;
	return a->st_mtim.tv_nsec < b->st_mtim.tv_nsec;
}

/* stale - 1 if the text exists and its cdb is missing or older */
static int
stale(const struct dbtable *tab, int *text_exists_r)
{
	struct stat ts, cs;

	*text_exists_r = stat(tab->text, &ts) == 0;
	if (!*text_exists_r)
		return 0;
	if (stat(tab->cdb, &cs) < 0)
		return 1;
	return mtime_before(&cs, &ts);
}

/* compile_table - compile tab's text into its cdb, split for users */
static void
compile_table(const struct dbtable *tab)
{
	if (tab->which == USERDB_ALIASES)
		(void)userdb_compile(tab->text, tab->cdb, NULL);
	else
		(void)compile_split(tab->cfg, tab->which, tab->text, tab->cdb,
		    NULL);
}

/* open_table - compile if stale, then map the cdb (NULL t: empty) */
static int
open_table(struct dbtable *tab, const char **error_r)
{
	int text_exists;

	tab->t = NULL;
	if (tab->text == NULL)
		return 0;
	if (stale(tab, &text_exists))
		compile_table(tab);
	tab->t = table_open(tab->cdb, error_r);
	if (tab->t != NULL)
		return 0;
	if (errno == ENOENT && !text_exists)
		return 0;	/* never written: an empty table */
	if (errno == ENOENT)
		*error_r = "cannot compile a table (see mailctl check)";
	return -1;
}

/* open_tables - a handle on the tables first..last (compiling as needed) */
static struct userdb *
open_tables(const struct config *cfg, int first, int last,
    const char **error_r)
{
	struct userdb *db = alloc_calloc(1, sizeof(*db));
	struct buf text = BUF_INIT(4096), cdb = BUF_INIT(4096);
	int i;

	db->cfg = cfg;
	for (i = 0; i < 3; i++) {
		db->tab[i].which = i;
		db->tab[i].cfg = cfg;
	}
	for (i = first; i <= last; i++) {
		if (userdb_table_paths(cfg, i, &text, &cdb) < 0) {
			if (errno == ENOENT)
				continue;
			*error_r = "table path too long";
			goto fail;
		}
		db->tab[i].text = alloc_strdup(buf_cstr(&text));
		db->tab[i].cdb = alloc_strdup(buf_cstr(&cdb));
		if (open_table(&db->tab[i], error_r) < 0)
			goto fail;
	}
	buf_free(&text);
	buf_free(&cdb);
	return db;
fail:
	i = errno;
	buf_free(&text);
	buf_free(&cdb);
	userdb_close(db);
	errno = i;
	return NULL;
}

/* userdb_open - open (compiling as needed) the users and aliases tables */
struct userdb *
userdb_open(const struct config *cfg, const char **error_r)
{
	struct dbtable pw;
	struct buf cdb = BUF_INIT(4096);
	int text_exists;

	/* Root (maild at start, mailctl) also brings passwd.cdb up to date:
	   under privilege separation authd cannot read the users text. */
	if (geteuid() == 0 && cfg->users != NULL &&
	    userdb_table_paths(cfg, USERDB_PASSWD, NULL, &cdb) == 0) {
		memset(&pw, 0, sizeof(pw));
		pw.which = USERDB_PASSWD;
		pw.cfg = cfg;
		pw.text = cfg->users;
		pw.cdb = (char *)(uintptr_t)buf_cstr(&cdb);
		if (stale(&pw, &text_exists))
			compile_table(&pw);
	}
	buf_free(&cdb);
	return open_tables(cfg, USERDB_USERS, USERDB_ALIASES, error_r);
}

/* userdb_open_passwd - open (compiling as needed) the password table */
struct userdb *
userdb_open_passwd(const struct config *cfg, const char **error_r)
{
	return open_tables(cfg, USERDB_PASSWD, USERDB_PASSWD, error_r);
}

/* refresh_table - recompile if stale and reopen a replaced cdb */
static int
refresh_table(struct dbtable *tab)
{
	const char *why;
	int text_exists;

	if (tab->text == NULL)
		return 0;
	if (stale(tab, &text_exists))
		compile_table(tab);
	if (tab->t == NULL) {
		tab->t = table_open(tab->cdb, &why);
		if (tab->t != NULL)
			return 1;
		return errno == ENOENT ? 0 : -1;
	}
	return table_refresh(tab->t);
}

/* userdb_refresh - pick up recompiled tables; 1 if any changed */
int
userdb_refresh(struct userdb *db)
{
	int i, r, changed = 0, failed = 0;

	for (i = 0; i < 3; i++) {
		r = refresh_table(&db->tab[i]);
		if (r < 0)
			failed = 1;
		else if (r > 0)
			changed = 1;
	}
	if (failed)
		return -1;
	return changed;
}

/* userdb_close - release both tables */
void
userdb_close(struct userdb *db)
{
	int i;

	if (db == NULL)
		return;
	for (i = 0; i < 3; i++) {
		table_close(db->tab[i].t);
		free(db->tab[i].text);
		free(db->tab[i].cdb);
	}
	free(db);
}

/* userdb_local_ok - 1 if local is safe as a lookup key and folder name */
int
userdb_local_ok(const char *local)
{
	size_t len = strnlen(local, ADDR_LOCAL_MAX + 1), i;

	if (len == 0 || len > ADDR_LOCAL_MAX || local[0] == '.' ||
	    strstr(local, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' ||
		    c == '@')
			return 0;
	}
	return 1;
}

/* userdb_list_free - release a list of addresses */
void
userdb_list_free(struct userdb_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* list_add - append a copy of s */
static void
list_add(struct userdb_list *l, const char *s)
{
	l->v = alloc_reallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = alloc_strdup(s);
}

/* userdb_parse_address - one address to canonical "local@domain" */
int
userdb_parse_address(const char *s, size_t len, char *out, size_t size,
    const char **error_r)
{
	char path[ADDR_PATH_MAX + 3];
	struct addr a;
	size_t end;

	if (len == 0 || len > ADDR_PATH_MAX - 2 ||
	    memchr(s, '\0', len) != NULL) {
		*error_r = len == 0 ? "empty address" : "address too long";
		errno = EINVAL;
		return -1;
	}
	path[0] = '<';
	memcpy(path + 1, s, len);
	path[len + 1] = '>';
	path[len + 2] = '\0';
	if (addr_parse_path(path, len + 2, ADDR_ALLOW_UTF8, &a, &end,
	    error_r) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (end != len + 2 || a.domain[0] == '\0') {
		*error_r = "not an address of the form local@domain";
		errno = EINVAL;
		return -1;
	}
	if (addr_format(&a, out, size) < 0) {
		*error_r = "address too long";
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* userdb_parse_targets - "a@b, c@d" into a list of canonical addresses */
int
userdb_parse_targets(const char *value, struct userdb_list *l,
    const char **error_r)
{
	char one[USERDB_ADDR_MAX + 1];
	const char *p = value;

	l->v = NULL;
	l->n = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma != NULL ? comma : p + strlen(p);

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (l->n >= USERDB_TARGETS_MAX) {
			*error_r = "too many targets";
			goto fail;
		}
		if (userdb_parse_address(p, (size_t)(end - p), one,
		    sizeof(one), error_r) < 0)
			goto fail;
		list_add(l, one);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
fail:
	userdb_list_free(l);
	errno = EINVAL;
	return -1;
}

/* userdb_user_free - release a user record's lists */
void
userdb_user_free(struct userdb_user *u)
{
	userdb_list_free(&u->forwards);
}

/* userdb_parse_user - "HASH [quota=SIZE] [forward=ADDR,...]" */
int
userdb_parse_user(const char *value, struct userdb_user *u,
    const char **error_r)
{
	char copy[TABLE_LINE_MAX + 1];
	char *fields[3];
	int n, i, have_quota = 0, have_forward = 0;

	u->hash[0] = '\0';
	u->quota = 0;
	u->forwards.v = NULL;
	u->forwards.n = 0;
	u->implicit = 0;
	if (str_copy(copy, sizeof(copy), value) < 0) {
		*error_r = "users entry too long";
		goto bad;
	}
	n = str_split_ws(copy, fields, 3);
	if (n < 1) {
		*error_r = n == 0 ? "users entry without a password hash" :
		    "users entry with too many fields";
		goto bad;
	}
	if (str_copy(u->hash, sizeof(u->hash), fields[0]) < 0) {
		*error_r = "password hash too long";
		goto bad;
	}
	for (i = 1; i < n; i++) {
		if (strncmp(fields[i], "quota=", 6) == 0 && !have_quota) {
			have_quota = 1;
			if (quota_parse_size(fields[i] + 6, &u->quota) < 0) {
				*error_r = "bad quota= size";
				goto bad;
			}
		} else if (strncmp(fields[i], "forward=", 8) == 0 &&
		    !have_forward) {
			have_forward = 1;
			if (userdb_parse_targets(fields[i] + 8, &u->forwards,
			    error_r) < 0)
				goto bad;
			if (u->forwards.n > USERDB_FORWARDS_MAX) {
				*error_r = "too many forward= addresses";
				goto bad;
			}
		} else {
			*error_r = "unknown or repeated option in users entry";
			goto bad;
		}
	}
	return 0;
bad:
	userdb_user_free(u);
	errno = EINVAL;
	return -1;
}

/* lookup - 1 and the value if key is in table which, 0 if not */
static int
lookup(struct userdb *db, int which, const char *key, struct buf *value)
{
	if (db->tab[which].t == NULL)
		return 0;
	return table_lookup(db->tab[which].t, key, strlen(key), value);
}

/* make_key - "local@domain" folded to lower case into out */
static int
make_key(const char *local, size_t llen, const char *domain, char *out,
    size_t size)
{
	size_t dlen = strlen(domain);

	/* UNSAFE: llen + 1 + dlen < size is checked before the copies. */
	if (llen + 1 + dlen >= size)
		return -1;
	memcpy(out, local, llen);
	out[llen] = '@';
	memcpy(out + llen + 1, domain, dlen + 1);
	fold(out);
	return 0;
}

/* set_user - fill r->user from key and its value */
static int
set_user(struct userdb_result *r, const char *key, const char *value,
    const char **error_r)
{
	const char *at = strrchr(key, '@');

	if (userdb_parse_user(value, &r->user, error_r) < 0)
		return -1;
	(void)str_copy(r->user.address, sizeof(r->user.address), key);
	(void)str_copy_n(r->user.local, sizeof(r->user.local), key,
	    (size_t)(at - key));
	(void)str_copy(r->user.domain, sizeof(r->user.domain), at + 1);
	r->kind = USERDB_USER;
	return 0;
}

/* try_key - look local@domain up in aliases, then users */
static int
try_key(struct userdb *db, const char *local, size_t llen,
    const char *domain, struct userdb_result *r, const char **error_r)
{
	struct buf value = BUF_INIT(TABLE_LINE_MAX);
	char key[USERDB_ADDR_MAX + 1];
	int found;

	if (llen > ADDR_LOCAL_MAX ||
	    make_key(local, llen, domain, key, sizeof(key)) < 0)
		return 0;
	found = lookup(db, USERDB_ALIASES, key, &value);
	if (found > 0) {
		if (userdb_parse_targets(buf_cstr(&value), &r->targets,
		    error_r) < 0) {
			*error_r = "bad entry in the aliases table";
			found = -1;
		} else
			r->kind = USERDB_ALIAS;
	} else if (found == 0) {
		found = lookup(db, USERDB_USERS, key, &value);
		if (found > 0 && set_user(r, key, buf_cstr(&value),
		    error_r) < 0) {
			*error_r = "bad entry in the users table";
			found = -1;
		}
	}
	if (found < 0 && errno != EINVAL)
		*error_r = "cannot read the users or aliases table";
	buf_free(&value);
	if (found > 0)
		(void)str_copy(r->key, sizeof(r->key), key);
	return found;
}

/* implicit_postmaster - the built-in postmaster of domain */
static void
implicit_postmaster(struct userdb *db, const char *domain,
    struct userdb_result *r)
{
	const char *first = db->cfg->domains.v[0];
	char addr[USERDB_ADDR_MAX + 1];

	(void)make_key("postmaster", 10, domain, r->key, sizeof(r->key));
	if (!str_eq_nocase(domain, first)) {
		(void)make_key("postmaster", 10, first, addr, sizeof(addr));
		list_add(&r->targets, addr);
		r->kind = USERDB_ALIAS;
		return;
	}
	(void)str_copy(r->user.address, sizeof(r->user.address), r->key);
	(void)str_copy(r->user.local, sizeof(r->user.local), "postmaster");
	(void)str_copy(r->user.domain, sizeof(r->user.domain), first);
	fold(r->user.domain);
	(void)str_copy(r->user.hash, sizeof(r->user.hash), "*");
	r->user.implicit = 1;
	r->kind = USERDB_USER;
}

/* userdb_resolve - what local@domain is, by the rules in userdb.h */
int
userdb_resolve(struct userdb *db, const char *local, const char *domain,
    struct userdb_result *r, const char **error_r)
{
	char dom[ADDR_DOMAIN_MAX + 1], key[USERDB_ADDR_MAX + 1];
	const char *plus;
	size_t base_len;
	int found;

	memset(r, 0, sizeof(*r));
	r->kind = USERDB_NONE;
	if (str_copy(dom, sizeof(dom), domain) < 0)
		return 0;
	fold(dom);
	if (!config_is_local_domain(db->cfg, dom) || !userdb_local_ok(local))
		return 0;
	found = try_key(db, local, strlen(local), dom, r, error_r);
	if (found != 0)
		goto out;
	plus = strchr(local, USERDB_DETAIL_SEP);
	base_len = plus != NULL ? (size_t)(plus - local) : strlen(local);
	if (plus != NULL && base_len > 0) {
		found = try_key(db, local, base_len, dom, r, error_r);
		if (found < 0)
			goto out;
		(void)str_copy(r->detail, sizeof(r->detail), plus + 1);
		if (found > 0) {
			r->via = USERDB_VIA_DETAIL;
			goto out;
		}
	}
	if (base_len == 10 && str_eq_nocase_n(local, "postmaster", 10)) {
		implicit_postmaster(db, dom, r);
		r->via = USERDB_VIA_POSTMASTER;
		return 0;
	}
	r->detail[0] = '\0';
	if (make_key("", 0, dom, key, sizeof(key)) == 0) {
		struct buf value = BUF_INIT(TABLE_LINE_MAX);

		found = lookup(db, USERDB_ALIASES, key, &value);
		if (found > 0 && userdb_parse_targets(buf_cstr(&value),
		    &r->targets, error_r) < 0) {
			*error_r = "bad catch-all in the aliases table";
			found = -1;
		} else if (found > 0) {
			r->kind = USERDB_ALIAS;
			r->via = USERDB_VIA_CATCHALL;
			(void)str_copy(r->key, sizeof(r->key), key);
		} else if (found < 0)
			*error_r = "cannot read the aliases table";
		buf_free(&value);
	}
out:
	if (found < 0) {
		int e = errno;

		userdb_result_free(r);
		r->kind = USERDB_NONE;
		errno = e;
		return -1;
	}
	if (found == 0)
		r->detail[0] = '\0';
	return 0;
}

/* userdb_rcpt_kind - USERDB_NONE, USERDB_USER, USERDB_ALIAS, or -1 */
int
userdb_rcpt_kind(struct userdb *db, const char *local, const char *domain)
{
	struct userdb_result r;
	const char *why;
	int kind;

	if (userdb_resolve(db, local, domain, &r, &why) < 0)
		return -1;
	kind = r.kind;
	userdb_result_free(&r);
	return kind;
}

/* userdb_result_free - release what userdb_resolve() allocated */
void
userdb_result_free(struct userdb_result *r)
{
	userdb_list_free(&r->targets);
	userdb_user_free(&r->user);
}

/* userdb_user_lookup - the user with exactly this address; 1, 0 or -1 */
int
userdb_user_lookup(struct userdb *db, const char *address,
    struct userdb_user *u, const char **error_r)
{
	struct userdb_result r;
	const char *at = strrchr(address, '@');
	char key[USERDB_ADDR_MAX + 1];
	struct buf value = BUF_INIT(TABLE_LINE_MAX);
	int found;

	memset(u, 0, sizeof(*u));
	if (at == NULL || at == address || at[1] == '\0' ||
	    str_copy(key, sizeof(key), address) < 0)
		return 0;
	fold(key);
	key[at - address] = '\0';
	if (!userdb_local_ok(key) ||
	    !config_is_local_domain(db->cfg, key + (at - address) + 1))
		return 0;
	key[at - address] = '@';
	if (db->tab[USERDB_PASSWD].text != NULL) {
		found = lookup(db, USERDB_PASSWD, key, &value);
		if (found > 0 && str_copy(u->hash, sizeof(u->hash),
		    buf_cstr(&value)) < 0) {
			*error_r = "bad entry in the password table";
			errno = EINVAL;
			found = -1;
		} else if (found > 0) {
			(void)str_copy(u->address, sizeof(u->address), key);
			(void)str_copy_n(u->local, sizeof(u->local), key,
			    (size_t)(at - address));
			(void)str_copy(u->domain, sizeof(u->domain),
			    key + (at - address) + 1);
		} else if (found < 0)
			*error_r = "cannot read the password table";
		buf_free(&value);
		return found;
	}
	found = lookup(db, USERDB_USERS, key, &value);
	if (found > 0) {
		memset(&r, 0, sizeof(r));
		if (set_user(&r, key, buf_cstr(&value), error_r) < 0) {
			*error_r = "bad entry in the users table";
			found = -1;
		} else
			*u = r.user;
	} else if (found < 0)
		*error_r = "cannot read the users table";
	buf_free(&value);
	return found;
}

/* domain_ok - 1 if domain is safe as a folder name */
static int
domain_ok(const char *domain)
{
	size_t len = strnlen(domain, ADDR_DOMAIN_MAX + 1), i;

	if (len == 0 || len > ADDR_DOMAIN_MAX || domain[0] == '.' ||
	    strstr(domain, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return 0;
	}
	return 1;
}

/* give - chown dir_fd/name (and its Maildir parts) to uid:gid */
static void
give(int dir_fd, const char *name, uid_t uid, gid_t gid)
{
	static const char *const parts[] = { "tmp", "new", "cur",
	    "maildirfolder", NULL };
	size_t i;
	int fd;

	if (fchownat(dir_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if ((fd = openat(dir_fd, name, OPEN_DIR_FLAGS)) < 0)
		return;
	for (i = 0; parts[i] != NULL; i++)
		if (fchownat(fd, parts[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno != ENOENT)
			break;
	(void)close(fd);
}

/* owned_by_me - 0 if fd belongs to the effective uid, else -1/EPERM */
static int
owned_by_me(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* create_mailbox - make the Maildir and its default folders in dom_fd */
static int
create_mailbox(int dom_fd, const char *local, int chown_it, uid_t uid,
    gid_t gid, const char **error_r)
{
	int md_fd, i, r = 0;

	if (maildir_create(dom_fd, local, MAILBOX_MODE, error_r) < 0)
		return -1;
	if ((md_fd = openat(dom_fd, local, OPEN_DIR_FLAGS)) < 0) {
		*error_r = "cannot open the new Maildir";
		return -1;
	}
	for (i = 0; userdb_default_folders[i] != NULL && r == 0; i++) {
		r = maildir_create_folder(md_fd, userdb_default_folders[i],
		    MAILBOX_MODE, error_r);
		if (r == 0 && chown_it)
			give(md_fd, userdb_default_folders[i], uid, gid);
	}
	if (r == 0 && chown_it)
		give(dom_fd, local, uid, gid);
	i = errno;
	(void)close(md_fd);
	errno = i;
	return r;
}

/* userdb_maildir_open - open (and make) MAIL_DIR/DOMAIN/LOCAL safely */
int
userdb_maildir_open(int mail_dir_fd, const struct userdb_user *u,
    int flags, struct maildir *md, const char **error_r)
{
	struct stat st;
	int dom_fd, e, chown_it = 0;
	uid_t uid = 0;
	gid_t gid = 0;

	md->fd = md->tmp_fd = md->new_fd = md->cur_fd = -1;
	if (!domain_ok(u->domain) || !userdb_local_ok(u->local)) {
		*error_r = "mailbox name not allowed";
		errno = EINVAL;
		return -1;
	}
	if ((flags & USERDB_MD_CREATE) && geteuid() == 0) {
		if (fstatat(mail_dir_fd, u->domain, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 && fstat(mail_dir_fd, &st) < 0) {
			*error_r = "cannot stat the mail folder";
			return -1;
		}
		chown_it = 1;
		uid = st.st_uid;
		gid = st.st_gid;
	}
	dom_fd = openat(mail_dir_fd, u->domain, OPEN_DIR_FLAGS);
	if (dom_fd < 0 && errno == ENOENT && (flags & USERDB_MD_CREATE)) {
		if (mkdirat(mail_dir_fd, u->domain, MAILBOX_MODE) == 0) {
			if (chown_it)
				give(mail_dir_fd, u->domain, uid, gid);
			(void)fsync(mail_dir_fd);
		}
		dom_fd = openat(mail_dir_fd, u->domain, OPEN_DIR_FLAGS);
	}
	if (dom_fd < 0) {
		*error_r = "cannot open the domain's mail folder";
		return -1;
	}
	if (maildir_open(dom_fd, u->local, md, error_r) < 0 &&
	    errno == ENOENT && (flags & USERDB_MD_CREATE)) {
		if (create_mailbox(dom_fd, u->local, chown_it, uid, gid,
		    error_r) == 0)
			(void)maildir_open(dom_fd, u->local, md, error_r);
	}
	e = errno;
	(void)close(dom_fd);
	if (md->fd < 0) {
		errno = e;
		return -1;
	}
	if ((flags & USERDB_MD_OWNER) && (owned_by_me(md->fd) < 0 ||
	    owned_by_me(md->tmp_fd) < 0 || owned_by_me(md->new_fd) < 0 ||
	    owned_by_me(md->cur_fd) < 0)) {
		e = errno;
		maildir_close(md);
		*error_r = e == EPERM ? "mailbox owned by another user" :
		    "cannot stat the mailbox";
		errno = e;
		return -1;
	}
	return 0;
}
