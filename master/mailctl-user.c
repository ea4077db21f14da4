/*
 * NAME
 *	mailctl-user - the "user" and "alias" command groups of mailctl
 *
 * SYNOPSIS
 *	int mailctl_user(const struct config *cfg, int argc, char **argv);
 *	int mailctl_alias(const struct config *cfg, int argc, char **argv);
 *
 *	mailctl -c FILE user add ADDR [quota=SIZE] [forward=ADDR[,ADDR...]]
 *	mailctl -c FILE user passwd ADDR
 *	mailctl -c FILE user del ADDR
 *	mailctl -c FILE user list
 *	mailctl -c FILE alias add ADDR TARGET...
 *	mailctl -c FILE alias del ADDR
 *	mailctl -c FILE alias list
 *
 * DESCRIPTION
 *	These keep the users and aliases text tables (userdb.h) and their
 *	compiled cdb files. An edit takes the table's lock (a file
 *	STATE_DIR/tables/NAME.lock, flock(2), waited for up to 10 seconds),
 *	reads the whole text, changes one line and keeps every other line
 *	byte for byte, writes the result to TEXT.tmp.PID in the same folder
 *	(same mode and owner as the old file; a new users file is 0640 and
 *	gets MAIL_DIR's group, a new aliases file 0644), fsyncs it, compiles
 *	it to the cdb (which checks the whole table: if another line is
 *	broken nothing changes and the error names it), renames it over the
 *	text and fsyncs the folder. Readers see the old or the new table.
 *	The users text compiles to two cdbs (userdb_compile_users()):
 *	STATE_DIR/auth/passwd.cdb with the hashes, for authd alone (0600),
 *	then STATE_DIR/tables/users.cdb without them; a running authd sees
 *	the change at its next request, no restart needed.
 *
 *	ADDR is local@domain with domain one of the config's domains; it is
 *	stored folded to lower case. A user's local part must be a safe
 *	folder name (userdb_local_ok()) without '+' (the sub-address
 *	separator) and not quoted; an alias may also be "@DOMAIN", the
 *	domain's catch-all. An address is a user or an alias, never both.
 *
 *	user add reads the password, one line, from standard input (without
 *	echo on a terminal), stores only its yescrypt hash, and creates the
 *	Maildir MAIL_DIR/DOMAIN/LOCAL/ with its Maildir++ folders
 *	(userdb_maildir_open(), owned by MAIL_DIR's owner when run as root);
 *	an existing Maildir is kept. user passwd replaces the hash and keeps
 *	the options. user del removes the line and keeps the Maildir (it
 *	says where). The list commands print one entry per line, without
 *	hashes.
 *
 *	alias add takes one or more targets (each argument may hold several,
 *	comma separated); a local target that does not exist yet is allowed
 *	with a warning. The whole line must fit TABLE_LINE_MAX octets: split
 *	longer lists into sub-lists.
 *
 * DIAGNOSTICS
 *	One line on stderr per error; exit 0 done, 64 usage, 65 bad input
 *	(address, password, option, duplicate entry), 67 no such user or
 *	alias, 75 temporary (lock busy, I/O error), 78 the config or a table
 *	is wrong (no users/aliases key, a broken line elsewhere).
 *
 * SECURITY
 *	Run by the administrator. Never stores or prints a clear-text
 *	password; the password buffer is wiped. Writes only the table text,
 *	its cdb, the lock file and the new Maildir.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "mailctl.h"
#include "quota.h"
#include "str.h"
#include "table.h"
#include "userdb.h"

#define TEXT_MAX	(64 * 1024 * 1024)	/* octets of a table text */
#define LOCK_WAIT_MS	10000

/* One table being edited. */
struct tab {
	int which;			/* USERDB_USERS or USERDB_ALIASES */
	const char *name;		/* "users" or "aliases" */
	struct buf text_path, cdb_path;
	struct buf text;		/* the whole file */
	struct stat st;			/* of the file, when it exists */
	int exists;
	int lock_fd;
};

/* tab_init - name the table's files; 0, or an exit status */
static int
tab_init(const struct config *cfg, int which, struct tab *t)
{
	memset(t, 0, sizeof(*t));
	t->which = which;
	t->name = which == USERDB_USERS ? "users" : "aliases";
	t->lock_fd = -1;
	buf_init(&t->text_path, 4096);
	buf_init(&t->cdb_path, 4096);
	buf_init(&t->text, TEXT_MAX);
	if (userdb_table_paths(cfg, which, &t->text_path, &t->cdb_path) < 0) {
		fprintf(stderr, "mailctl: %s: the config sets no \"%s\" "
		    "table\n", cfg->path, t->name);
		return MAILCTL_EX_CONFIG;
	}
	return 0;
}

/* tab_free - release the table's buffers and lock */
static void
tab_free(struct tab *t)
{
	if (t->lock_fd >= 0)
		(void)close(t->lock_fd);
	buf_free(&t->text_path);
	buf_free(&t->cdb_path);
	buf_free(&t->text);
}

/* mkdir_ok - mkdir that accepts an existing folder */
static int
mkdir_ok(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* tab_lock - take the table's lock; 0, or an exit status */
static int
tab_lock(const struct config *cfg, struct tab *t)
{
	struct buf path = BUF_INIT(4096);
	int waited = 0;

	if (mkdir_ok(cfg->state_dir) < 0 ||
	    buf_printf(&path, "%s/tables", cfg->state_dir) < 0 ||
	    mkdir_ok(buf_cstr(&path)) < 0 ||
	    buf_printf(&path, "/%s.lock", t->name) < 0 ||
	    (t->lock_fd = open(buf_cstr(&path), O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "mailctl: cannot open the lock %s: %s\n",
		    buf_cstr(&path), strerror(errno));
		buf_free(&path);
		return MAILCTL_EX_TEMPFAIL;
	}
	buf_free(&path);
	while (flock(t->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "mailctl: cannot lock the %s table: "
			    "%s\n", t->name, strerror(errno));
			return MAILCTL_EX_TEMPFAIL;
		}
		if (waited >= LOCK_WAIT_MS) {
			fprintf(stderr, "mailctl: the %s table is locked by "
			    "another mailctl; try again\n", t->name);
			return MAILCTL_EX_TEMPFAIL;
		}
		(void)nanosleep(&ts, NULL);
		waited += 100;
	}
	return 0;
}

/* tab_load - read the whole text (missing: empty); 0 or an exit status */
static int
tab_load(struct tab *t)
{
	char chunk[65536];
	int fd;

	buf_reset(&t->text);
	fd = open(buf_cstr(&t->text_path), O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		t->exists = 0;
		return 0;
	}
	if (fd < 0 || fstat(fd, &t->st) < 0) {
		fprintf(stderr, "mailctl: %s: cannot open: %s\n",
		    buf_cstr(&t->text_path), strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return MAILCTL_EX_TEMPFAIL;
	}
	t->exists = 1;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && buf_append(&t->text, chunk,
		    (size_t)n) < 0)) {
			fprintf(stderr, "mailctl: %s: cannot read: %s\n",
			    buf_cstr(&t->text_path), n < 0 ? strerror(errno) :
			    "file too large");
			(void)close(fd);
			return MAILCTL_EX_TEMPFAIL;
		}
		if (n == 0)
			break;
	}
	(void)close(fd);
	return 0;
}

/* A line of a table text: [start, end) with its LF, and its fields. */
struct line {
	size_t start, end;
	char key[TABLE_LINE_MAX + 1];
	char value[TABLE_LINE_MAX + 1];
};

/* next_entry - the next entry line at or after *pos; 1, or 0 at the end */
static int
next_entry(const struct buf *text, size_t *pos, struct line *l)
{
	while (*pos < text->len) {
		const char *p = text->data + *pos;
		const char *nl = memchr(p, '\n', text->len - *pos);
		size_t len = nl != NULL ? (size_t)(nl - p) : text->len - *pos;
		char tmp[TABLE_LINE_MAX + 1], *k, *v;

		l->start = *pos;
		l->end = *pos + len + (nl != NULL ? 1 : 0);
		*pos = l->end;
		if (len > TABLE_LINE_MAX)
			continue;	/* compile refuses it; not ours */
		memcpy(tmp, p, len);
		tmp[len] = '\0';
		if (len > 0 && tmp[len - 1] == '\r')
			tmp[len - 1] = '\0';
		k = str_trim(tmp);
		if (*k == '\0' || *k == '#')
			continue;
		for (v = k; *v != '\0' && *v != ' ' && *v != '\t'; v++)
			;
		if (*v != '\0')
			*v++ = '\0';
		(void)str_copy(l->key, sizeof(l->key), k);
		(void)str_copy(l->value, sizeof(l->value), str_trim(v));
		return 1;
	}
	return 0;
}

/* find_entry - the line whose key is key (case ignored); 1 or 0 */
static int
find_entry(const struct tab *t, const char *key, struct line *l)
{
	size_t pos = 0;

	while (next_entry(&t->text, &pos, l))
		if (str_eq_nocase(l->key, key))
			return 1;
	return 0;
}

/* replace_in - err with every "from" written as "to" */
static void
replace_in(struct buf *err, const char *from, const char *to)
{
	struct buf out = BUF_INIT(8192);
	const char *p = buf_cstr(err), *hit;
	size_t flen = strlen(from);

	while ((hit = strstr(p, from)) != NULL) {
		(void)buf_append(&out, p, (size_t)(hit - p));
		(void)buf_append_str(&out, to);
		p = hit + flen;
	}
	(void)buf_append_str(&out, p);
	(void)buf_set(err, out.data, out.len);
	buf_free(&out);
}

/* sync_parent - fsync the folder holding path */
static void
sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (slash == NULL)
		dir = alloc_strdup(".");
	else if (slash == path)
		dir = alloc_strdup("/");
	else
		dir = alloc_strndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd >= 0) {
		(void)fsync(fd);
		(void)close(fd);
	}
}

/* tab_store - write the new text, compile it, put it in place */
static int
tab_store(const struct config *cfg, struct tab *t)
{
	struct buf tmp = BUF_INIT(4096), err = BUF_INIT(8192);
	const char *text = buf_cstr(&t->text_path);
	mode_t mode = t->which == USERDB_USERS ? 0640 : 0644;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct stat md;
	size_t off = 0;
	int fd, status = MAILCTL_EX_TEMPFAIL;

	if (t->exists) {
		mode = t->st.st_mode & 07777;
		uid = t->st.st_uid;
		gid = t->st.st_gid;
	} else if (t->which == USERDB_USERS && stat(cfg->mail_dir, &md) == 0)
		gid = md.st_gid;	/* the mail owner's group reads it */
	if (buf_printf(&tmp, "%s.tmp.%ld", text, (long)getpid()) < 0) {
		fprintf(stderr, "mailctl: %s: name too long\n", text);
		goto out;
	}
	(void)unlink(buf_cstr(&tmp));	/* a leftover of a dead mailctl */
	fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "mailctl: %s: cannot create: %s\n",
		    buf_cstr(&tmp), strerror(errno));
		goto out;
	}
	while (off < t->text.len) {
		ssize_t n = write(fd, t->text.data + off, t->text.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off < t->text.len || fchmod(fd, mode) < 0 ||
	    (geteuid() == 0 && fchown(fd, uid, gid) < 0) || fsync(fd) < 0) {
		fprintf(stderr, "mailctl: %s: cannot write: %s\n",
		    buf_cstr(&tmp), strerror(errno));
		(void)close(fd);
		(void)unlink(buf_cstr(&tmp));
		goto out;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "mailctl: %s: cannot write: %s\n",
		    buf_cstr(&tmp), strerror(errno));
		(void)unlink(buf_cstr(&tmp));
		goto out;
	}
	/* Compile first: a broken table changes nothing. The users text
	   makes two: users.cdb without hashes, and authd's passwd.cdb. */
	if ((t->which == USERDB_USERS ? userdb_compile_users(cfg,
	    buf_cstr(&tmp), &err) : userdb_compile(buf_cstr(&tmp),
	    buf_cstr(&t->cdb_path), &err)) < 0) {
		int e = errno;

		replace_in(&err, buf_cstr(&tmp), text);
		fprintf(stderr, "mailctl: %s\n", buf_cstr(&err));
		(void)unlink(buf_cstr(&tmp));
		status = e == EINVAL ? MAILCTL_EX_CONFIG : MAILCTL_EX_TEMPFAIL;
		goto out;
	}
	if (rename(buf_cstr(&tmp), text) < 0) {
		fprintf(stderr, "mailctl: %s: cannot rename: %s\n", text,
		    strerror(errno));
		(void)unlink(buf_cstr(&tmp));
		goto out;
	}
	sync_parent(text);
	status = MAILCTL_EX_OK;
out:
	buf_free(&tmp);
	buf_free(&err);
	return status;
}

/* tab_append - add a line (after an LF if the text lacks a final one) */
static void
tab_append(struct tab *t, const char *line)
{
	if (t->text.len > 0 && t->text.data[t->text.len - 1] != '\n')
		(void)buf_append_char(&t->text, '\n');
	(void)buf_append_str(&t->text, line);
	(void)buf_append_char(&t->text, '\n');
}

/* tab_replace - replace [l->start, l->end) by line (NULL: remove it) */
static void
tab_replace(struct tab *t, const struct line *l, const char *line)
{
	struct buf out = BUF_INIT(TEXT_MAX);

	(void)buf_append(&out, t->text.data, l->start);
	if (line != NULL) {
		(void)buf_append_str(&out, line);
		(void)buf_append_char(&out, '\n');
	}
	(void)buf_append(&out, t->text.data + l->end, t->text.len - l->end);
	(void)buf_set(&t->text, out.data, out.len);
	buf_free(&out);
}

/* check_address - ADDR (or "@DOMAIN" with catchall) to canonical form;
   0, or an exit status */
static int
check_address(const struct config *cfg, const char *arg, int catchall,
    int user, char *out, size_t size)
{
	char canon[USERDB_ADDR_MAX + 1], *at;
	const char *why;

	if (catchall && arg[0] == '@') {
		if (str_copy(canon, sizeof(canon), arg) < 0) {
			fprintf(stderr, "mailctl: bad address '%s': too long\n",
			    arg);
			return MAILCTL_EX_DATAERR;
		}
		str_lower(canon);
		if (!config_is_local_domain(cfg, canon + 1)) {
			fprintf(stderr, "mailctl: '%s' is not one of the "
			    "local domains of %s\n", canon + 1, cfg->path);
			return MAILCTL_EX_DATAERR;
		}
		(void)str_copy(out, size, canon);
		return 0;
	}
	if (userdb_parse_address(arg, strlen(arg), canon, sizeof(canon),
	    &why) < 0) {
		fprintf(stderr, "mailctl: bad address '%s': %s\n", arg, why);
		return MAILCTL_EX_DATAERR;
	}
	str_lower(canon);
	at = strrchr(canon, '@');
	*at = '\0';
	if (canon[0] == '"' || !userdb_local_ok(canon) ||
	    (user && strchr(canon, USERDB_DETAIL_SEP) != NULL)) {
		fprintf(stderr, "mailctl: bad address '%s': %s\n", arg,
		    canon[0] == '"' ? "quoted local parts are not supported" :
		    user && strchr(canon, USERDB_DETAIL_SEP) != NULL ?
		    "'+' is the sub-address separator" :
		    "local part not allowed as a mailbox name");
		return MAILCTL_EX_DATAERR;
	}
	if (!config_is_local_domain(cfg, at + 1)) {
		fprintf(stderr, "mailctl: '%s' is not one of the local "
		    "domains of %s\n", at + 1, cfg->path);
		return MAILCTL_EX_DATAERR;
	}
	*at = '@';
	(void)str_copy(out, size, canon);
	return 0;
}

/* echo_off - turn terminal echo off (1) or back on (0) for fd 0 */
static void
echo_off(int off, struct termios *saved)
{
	struct termios t;

	if (off) {
		if (tcgetattr(0, saved) < 0)
			return;
		t = *saved;
		t.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(0, TCSAFLUSH, &t);
	} else
		(void)tcsetattr(0, TCSAFLUSH, saved);
}

/* read_password - one line from stdin into hash_r as a yescrypt hash */
static int
read_password(struct buf *hash_r)
{
	char pw[AUTH_PASSWORD_MAX + 2];
	struct termios saved;
	const char *why;
	size_t len = 0;
	int tty = isatty(0), status = MAILCTL_EX_OK, ended = 0;

	if (tty) {
		fprintf(stderr, "Password: ");
		fflush(stderr);
		echo_off(1, &saved);
	}
	while (len < sizeof(pw) && !ended) {
		ssize_t n = read(0, pw + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "mailctl: cannot read the password: "
			    "%s\n", strerror(errno));
			status = MAILCTL_EX_TEMPFAIL;
			break;
		}
		if (n == 0 || pw[len] == '\n')
			ended = 1;
		else
			len++;
	}
	if (tty) {
		echo_off(0, &saved);
		fprintf(stderr, "\n");
	}
	if (status == MAILCTL_EX_OK) {
		if (len > 0 && pw[len - 1] == '\r')
			len--;
		if (!ended || len > AUTH_PASSWORD_MAX) {
			fprintf(stderr, "mailctl: password longer than %d "
			    "octets\n", AUTH_PASSWORD_MAX);
			status = MAILCTL_EX_DATAERR;
		} else if (len == 0) {
			fprintf(stderr, "mailctl: empty password (give it "
			    "as one line on standard input)\n");
			status = MAILCTL_EX_DATAERR;
		} else if (auth_hash_password(pw, len, hash_r, &why) < 0) {
			fprintf(stderr, "mailctl: %s\n", why);
			status = errno == EINVAL ? MAILCTL_EX_DATAERR :
			    MAILCTL_EX_TEMPFAIL;
		}
	}
	explicit_bzero(pw, sizeof(pw));
	return status;
}

/* user_options - check quota= and forward= arguments into line */
static int
user_options(int argc, char **argv, const char *addr, struct buf *line)
{
	struct userdb_list fw;
	uint64_t q;
	const char *why;
	int i, have_q = 0, have_f = 0;
	size_t j;

	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "quota=", 6) == 0 && !have_q) {
			have_q = 1;
			if (quota_parse_size(argv[i] + 6, &q) < 0) {
				fprintf(stderr, "mailctl: bad quota '%s' "
				    "(bytes, or with k, M, G, T)\n",
				    argv[i] + 6);
				return MAILCTL_EX_DATAERR;
			}
			(void)buf_printf(line, " quota=%llu",
			    (unsigned long long)q);
		} else if (strncmp(argv[i], "forward=", 8) == 0 && !have_f) {
			have_f = 1;
			if (userdb_parse_targets(argv[i] + 8, &fw, &why) < 0 ||
			    fw.n > USERDB_FORWARDS_MAX) {
				fprintf(stderr, "mailctl: bad forward= list: "
				    "%s\n", fw.n > USERDB_FORWARDS_MAX ?
				    "too many addresses" : why);
				userdb_list_free(&fw);
				return MAILCTL_EX_DATAERR;
			}
			(void)buf_append_str(line, " forward=");
			for (j = 0; j < fw.n; j++) {
				if (str_eq_nocase(fw.v[j], addr)) {
					fprintf(stderr, "mailctl: a user "
					    "cannot forward to itself\n");
					userdb_list_free(&fw);
					return MAILCTL_EX_DATAERR;
				}
				(void)buf_printf(line, "%s%s", j > 0 ? "," :
				    "", fw.v[j]);
			}
			userdb_list_free(&fw);
		} else {
			fprintf(stderr, "mailctl: unknown or repeated option "
			    "'%s' (quota=SIZE, forward=ADDR,...)\n", argv[i]);
			return MAILCTL_EX_USAGE;
		}
	}
	return 0;
}

/* make_mailbox - create the user's Maildir and folders */
static int
make_mailbox(const struct config *cfg, const char *addr)
{
	struct userdb_user u;
	struct maildir md;
	const char *why, *at = strrchr(addr, '@');
	int fd;

	memset(&u, 0, sizeof(u));
	(void)str_copy_n(u.local, sizeof(u.local), addr, (size_t)(at - addr));
	(void)str_copy(u.domain, sizeof(u.domain), at + 1);
	fd = open(cfg->mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mkdir(cfg->mail_dir, 0755) == 0)
		fd = open(cfg->mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mailctl: %s: cannot open: %s\n",
		    cfg->mail_dir, strerror(errno));
		return MAILCTL_EX_TEMPFAIL;
	}
	if (userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md, &why) < 0) {
		fprintf(stderr, "mailctl: %s/%s/%s: %s: %s\n", cfg->mail_dir,
		    u.domain, u.local, why, strerror(errno));
		(void)close(fd);
		return MAILCTL_EX_TEMPFAIL;
	}
	maildir_close(&md);
	(void)close(fd);
	return 0;
}

/* other_table_has - 1 if the other table already names addr */
static int
other_table_has(const struct config *cfg, int which, const char *addr)
{
	struct tab o;
	struct line l;
	int r = 0;

	if (tab_init(cfg, which, &o) == 0 && tab_load(&o) == 0)
		r = find_entry(&o, addr, &l);
	tab_free(&o);
	return r;
}

/* user_add - "user add ADDR [options]" */
static int
user_add(const struct config *cfg, struct tab *t, int argc, char **argv)
{
	char addr[USERDB_ADDR_MAX + 1];
	struct buf hash = BUF_INIT(USERDB_HASH_MAX);
	struct buf line = BUF_INIT(TABLE_LINE_MAX);
	struct buf opts = BUF_INIT(TABLE_LINE_MAX);
	struct line l;
	int status;

	if ((status = check_address(cfg, argv[0], 0, 1, addr,
	    sizeof(addr))) != 0 ||
	    (status = user_options(argc - 1, argv + 1, addr, &opts)) != 0 ||
	    (status = tab_lock(cfg, t)) != 0 ||
	    (status = tab_load(t)) != 0)
		goto out;
	if (find_entry(t, addr, &l)) {
		fprintf(stderr, "mailctl: user %s exists already\n", addr);
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	if (other_table_has(cfg, USERDB_ALIASES, addr)) {
		fprintf(stderr, "mailctl: %s is an alias; remove it first "
		    "(mailctl alias del %s)\n", addr, addr);
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	if ((status = read_password(&hash)) != 0 ||
	    (status = make_mailbox(cfg, addr)) != 0)
		goto out;
	if (buf_printf(&line, "%s %s%s", addr, buf_cstr(&hash),
	    buf_cstr(&opts)) < 0) {
		fprintf(stderr, "mailctl: the entry is too long\n");
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	tab_append(t, buf_cstr(&line));
	if ((status = tab_store(cfg, t)) == 0)
		printf("added user %s (Maildir %s/%s/%.*s)\n", addr,
		    cfg->mail_dir, strchr(addr, '@') + 1,
		    (int)(strchr(addr, '@') - addr), addr);
out:
	buf_free(&hash);
	buf_free(&line);
	buf_free(&opts);
	return status;
}

/* user_passwd - "user passwd ADDR": a new hash, the options kept */
static int
user_passwd(const struct config *cfg, struct tab *t, const char *arg)
{
	char addr[USERDB_ADDR_MAX + 1], *fields[3];
	struct buf hash = BUF_INIT(USERDB_HASH_MAX);
	struct buf line = BUF_INIT(TABLE_LINE_MAX);
	struct line l;
	int status, n, i;

	if ((status = check_address(cfg, arg, 0, 1, addr,
	    sizeof(addr))) != 0 ||
	    (status = tab_lock(cfg, t)) != 0 ||
	    (status = tab_load(t)) != 0)
		goto out;
	if (!find_entry(t, addr, &l)) {
		fprintf(stderr, "mailctl: no such user: %s\n", addr);
		status = MAILCTL_EX_NOUSER;
		goto out;
	}
	if ((status = read_password(&hash)) != 0)
		goto out;
	n = str_split_ws(l.value, fields, 3);
	(void)buf_printf(&line, "%s %s", l.key, buf_cstr(&hash));
	for (i = 1; i < n; i++)
		(void)buf_printf(&line, " %s", fields[i]);
	tab_replace(t, &l, buf_cstr(&line));
	if ((status = tab_store(cfg, t)) == 0)
		printf("changed the password of %s\n", addr);
out:
	buf_free(&hash);
	buf_free(&line);
	return status;
}

/* del_entry - "user del ADDR" / "alias del ADDR" */
static int
del_entry(const struct config *cfg, struct tab *t, const char *arg)
{
	char addr[USERDB_ADDR_MAX + 1];
	struct line l;
	int status;

	if ((status = check_address(cfg, arg, t->which == USERDB_ALIASES,
	    0, addr, sizeof(addr))) != 0 ||
	    (status = tab_lock(cfg, t)) != 0 ||
	    (status = tab_load(t)) != 0)
		return status;
	if (!find_entry(t, addr, &l)) {
		fprintf(stderr, "mailctl: no such %s: %s\n",
		    t->which == USERDB_USERS ? "user" : "alias", addr);
		return MAILCTL_EX_NOUSER;
	}
	tab_replace(t, &l, NULL);
	if ((status = tab_store(cfg, t)) != 0)
		return status;
	if (t->which == USERDB_USERS)
		printf("deleted user %s; its Maildir %s/%s/%.*s was kept\n",
		    addr, cfg->mail_dir, strchr(addr, '@') + 1,
		    (int)(strchr(addr, '@') - addr), addr);
	else
		printf("deleted alias %s\n", addr);
	return 0;
}

/* list_entries - "user list" / "alias list" */
static int
list_entries(struct tab *t)
{
	size_t pos = 0;
	struct line l;
	int status;

	if ((status = tab_load(t)) != 0)
		return status;
	while (next_entry(&t->text, &pos, &l)) {
		char *fields[3];
		int n, i;

		if (t->which == USERDB_ALIASES) {
			printf("%s %s\n", l.key, l.value);
			continue;
		}
		n = str_split_ws(l.value, fields, 3);
		printf("%s", l.key);
		for (i = 1; i < n; i++)
			printf(" %s", fields[i]);
		if (n >= 1 && fields[0][0] != '$')
			printf(" (no login)");
		printf("\n");
	}
	return 0;
}

/* alias_targets - every target argument into one canonical list */
static int
alias_targets(const struct config *cfg, const char *addr, int argc,
    char **argv, struct buf *out)
{
	struct userdb_list all = { NULL, 0 };
	struct userdb *db;
	const char *why;
	size_t i, j;
	int a, status = 0;

	for (a = 0; a < argc && status == 0; a++) {
		struct userdb_list one;

		if (userdb_parse_targets(argv[a], &one, &why) < 0) {
			fprintf(stderr, "mailctl: bad target '%s': %s\n",
			    argv[a], why);
			status = MAILCTL_EX_DATAERR;
			break;
		}
		for (i = 0; i < one.n; i++) {
			for (j = 0; j < all.n; j++)
				if (str_eq_nocase(all.v[j], one.v[i]))
					break;
			if (str_eq_nocase(one.v[i], addr)) {
				fprintf(stderr, "mailctl: %s cannot be its "
				    "own target\n", addr);
				status = MAILCTL_EX_DATAERR;
			} else if (j == all.n) {
				all.v = alloc_reallocarray(all.v, all.n + 1,
				    sizeof(*all.v));
				all.v[all.n++] = alloc_strdup(one.v[i]);
			}
		}
		userdb_list_free(&one);
	}
	if (status == 0 && all.n > USERDB_TARGETS_MAX) {
		fprintf(stderr, "mailctl: more than %d targets\n",
		    USERDB_TARGETS_MAX);
		status = MAILCTL_EX_DATAERR;
	}
	db = status == 0 ? userdb_open(cfg, &why) : NULL;
	for (i = 0; status == 0 && i < all.n; i++) {
		char *at = strrchr(all.v[i], '@');

		*at = '\0';
		if (db != NULL && config_is_local_domain(cfg, at + 1) &&
		    userdb_rcpt_kind(db, all.v[i], at + 1) == USERDB_NONE)
			fprintf(stderr, "mailctl: warning: %s@%s does not "
			    "exist (yet)\n", all.v[i], at + 1);
		*at = '@';
		(void)buf_printf(out, "%s%s", i > 0 ? ", " : "", all.v[i]);
	}
	userdb_close(db);
	userdb_list_free(&all);
	return status;
}

/* alias_add - "alias add ADDR TARGET..." */
static int
alias_add(const struct config *cfg, struct tab *t, int argc, char **argv)
{
	char addr[USERDB_ADDR_MAX + 1];
	struct buf targets = BUF_INIT(TABLE_LINE_MAX * 4);
	struct buf line = BUF_INIT(TABLE_LINE_MAX * 4);
	struct line l;
	int status;

	if ((status = check_address(cfg, argv[0], 1, 0, addr,
	    sizeof(addr))) != 0 ||
	    (status = alias_targets(cfg, addr, argc - 1, argv + 1,
	    &targets)) != 0)
		goto out;
	if (buf_printf(&line, "%s %s", addr, buf_cstr(&targets)) < 0 ||
	    line.len > TABLE_LINE_MAX) {
		fprintf(stderr, "mailctl: the alias line would be longer than "
		    "%d octets: split the list into sub-lists (aliases of "
		    "aliases)\n", TABLE_LINE_MAX);
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	if ((status = tab_lock(cfg, t)) != 0 || (status = tab_load(t)) != 0)
		goto out;
	if (find_entry(t, addr, &l)) {
		fprintf(stderr, "mailctl: alias %s exists already (alias del "
		    "it first)\n", addr);
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	if (addr[0] != '@' && other_table_has(cfg, USERDB_USERS, addr)) {
		fprintf(stderr, "mailctl: %s is a user; an address is a user "
		    "or an alias, not both\n", addr);
		status = MAILCTL_EX_DATAERR;
		goto out;
	}
	tab_append(t, buf_cstr(&line));
	if ((status = tab_store(cfg, t)) == 0)
		printf("added alias %s\n", addr);
out:
	buf_free(&targets);
	buf_free(&line);
	return status;
}

/* group - run one command of the user or alias group */
static int
group(const struct config *cfg, int which, int argc, char **argv)
{
	const char *g = which == USERDB_USERS ? "user" : "alias";
	struct tab t;
	int status;

	if (argc < 1) {
		fprintf(stderr, "usage: mailctl %s add|%sdel|list ...\n", g,
		    which == USERDB_USERS ? "passwd|" : "");
		return MAILCTL_EX_USAGE;
	}
	if ((status = tab_init(cfg, which, &t)) != 0) {
		tab_free(&t);
		return status;
	}
	if (strcmp(argv[0], "list") == 0 && argc == 1)
		status = list_entries(&t);
	else if (strcmp(argv[0], "del") == 0 && argc == 2)
		status = del_entry(cfg, &t, argv[1]);
	else if (strcmp(argv[0], "add") == 0 && which == USERDB_USERS &&
	    argc >= 2)
		status = user_add(cfg, &t, argc - 1, argv + 1);
	else if (strcmp(argv[0], "add") == 0 && which == USERDB_ALIASES &&
	    argc >= 3)
		status = alias_add(cfg, &t, argc - 1, argv + 1);
	else if (strcmp(argv[0], "passwd") == 0 && which == USERDB_USERS &&
	    argc == 2)
		status = user_passwd(cfg, &t, argv[1]);
	else {
		if (which == USERDB_USERS)
			fprintf(stderr, "usage: mailctl user add ADDR "
			    "[quota=SIZE] [forward=ADDR,...]\n"
			    "       mailctl user passwd ADDR\n"
			    "       mailctl user del ADDR\n"
			    "       mailctl user list\n");
		else
			fprintf(stderr, "usage: mailctl alias add ADDR "
			    "TARGET...\n"
			    "       mailctl alias del ADDR\n"
			    "       mailctl alias list\n");
		status = MAILCTL_EX_USAGE;
	}
	tab_free(&t);
	return status;
}

/* mailctl_user - the "user" group */
int
mailctl_user(const struct config *cfg, int argc, char **argv)
{
	return group(cfg, USERDB_USERS, argc, argv);
}

/* mailctl_alias - the "alias" group */
int
mailctl_alias(const struct config *cfg, int argc, char **argv)
{
	return group(cfg, USERDB_ALIASES, argc, argv);
}
