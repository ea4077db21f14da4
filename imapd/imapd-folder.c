/*
 * NAME
 *	imapd-folder - mailbox names and Maildir++ folders: LIST, LSUB,
 *	STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE
 *
 * SYNOPSIS
 *	int folder_name_check(const char *name, size_t len, char *disk,
 *	    size_t size, const char **error_r);
 *	int folder_open(struct imapd *d, const char *name, size_t len,
 *	    int *fd_r, const char **error_r);
 *	int folder_special_use(const char *name);
 *	void imapd_cmd_list(struct imapd *d, int lsub);
 *	void imapd_cmd_create(struct imapd *d);
 *	void imapd_cmd_delete(struct imapd *d);
 *	void imapd_cmd_rename(struct imapd *d);
 *	void imapd_cmd_subscribe(struct imapd *d, int on);
 *	void imapd_cmd_status(struct imapd *d);
 *
 * DESCRIPTION
 *	Mailbox names use "." as the hierarchy delimiter and map to the
 *	Maildir++ layout Dovecot uses: INBOX (any case) is the Maildir
 *	itself, NAME is the folder ".NAME" in it ("Work.2024" is
 *	".Work.2024"). A name must be canonical modified UTF-7 (RFC 3501
 *	5.1.3) of printable ASCII, at most IMAPD_NAME_MAX octets, without
 *	'/', '\', '%', '*', a leading '~', an empty level (a leading, double
 *	or trailing '.') or a NUL; anything else is "NO [CANNOT]" and never
 *	reaches the filesystem (SECURITY I6). Folders are opened relative
 *	to the Maildir with O_NOFOLLOW; symbolic links are not folders.
 *
 *	Sent, Drafts, Trash, Junk and Archive carry the RFC 6154 attribute
 *	of the same name. Subscriptions are the "subscriptions" file of the
 *	Maildir, one name per line (Courier and Dovecot keep the same).
 *	RENAME of INBOX moves its messages into the new folder and leaves
 *	INBOX empty (RFC 3501 6.3.5).
 *
 * DIAGNOSTICS
 *	File system failures are "NO [SERVERBUG]"-free: "NO [UNAVAILABLE]"
 *	for temporary ones, "NO [NONEXISTENT]", "NO [ALREADYEXISTS]" and
 *	"NO [CANNOT]" for the rest.
 *
 * SECURITY
 *	The process is confined to the Maildir already (imapd-auth.c); the
 *	name checks are a second wall.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "imapd.h"
#include "log.h"
#include "str.h"

#define DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* is_inbox - the name INBOX, any case */
static int
is_inbox(const char *name, size_t len)
{
	return len == 5 && str_eq_nocase_n(name, "INBOX", 5);
}

/* folder_name_check - a safe name; disk gets ".NAME" or "." for INBOX */
int
folder_name_check(const char *name, size_t len, char *disk, size_t size,
    const char **error_r)
{
	size_t i;

	if (len == 0 || len > IMAPD_NAME_MAX || len + 2 > size) {
		*error_r = "Bad mailbox name length";
		return -1;
	}
	if (is_inbox(name, len)) {
		(void)str_copy(disk, size, ".");
		return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x20 || ch > 0x7e || ch == '/' || ch == '\\' ||
		    ch == '%' || ch == '*') {
			*error_r = "Mailbox name holds a character not allowed";
			return -1;
		}
		if (ch == '.' && (i == 0 || i + 1 == len ||
		    name[i + 1] == '.')) {
			*error_r = "Mailbox name has an empty level";
			return -1;
		}
	}
	if (name[0] == '~') {
		*error_r = "Mailbox name may not start with ~";
		return -1;
	}
	if (!imap_mutf7_valid(name, len)) {
		*error_r = "Mailbox name is not valid modified UTF-7";
		return -1;
	}
	disk[0] = '.';
	memcpy(disk + 1, name, len);
	disk[len + 1] = '\0';
	return 0;
}

/* folder_special_use - RFC 6154 attribute index for a name, -1 if none */
int
folder_special_use(const char *name)
{
	static const char *const names[] = { "Sent", "Drafts", "Trash",
	    "Junk", "Archive" };
	size_t i;

	for (i = 0; i < 5; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

/* folder_open - open a mailbox's folder; 0, or -1 with a reply text */
int
folder_open(struct imapd *d, const char *name, size_t len, int *fd_r,
    const char **error_r)
{
	char disk[IMAPD_NAME_MAX + 3];

	if (folder_name_check(name, len, disk, sizeof(disk), error_r) < 0) {
		errno = EINVAL;
		return -1;
	}
	*fd_r = openat(d->root_fd, disk, DIR_FLAGS);
	if (*fd_r < 0) {
		*error_r = errno == ENOENT || errno == ELOOP ||
		    errno == ENOTDIR ? "[NONEXISTENT] No such mailbox" :
		    "[UNAVAILABLE] Cannot open mailbox";
		if (errno == ELOOP || errno == ENOTDIR)
			errno = ENOENT;
		return -1;
	}
	return 0;
}

/* name_arg - the mailbox name argument args[i] as a C string; 0 or -1 */
static int
name_arg(struct imapd *d, size_t i, char *out, size_t size)
{
	const struct imap_arg *a;

	if (i >= d->cmd.nargs || !imap_arg_is_string(a = &d->cmd.args[i]))
		return -1;
	if (a->len >= size || memchr(a->s, '\0', a->len) != NULL)
		return -2;
	memcpy(out, a->s, a->len);
	out[a->len] = '\0';
	return 0;
}

/* --- listing ---------------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

/* names_add - one more name (copied) */
static void
names_add(struct names *l, const char *s, size_t len)
{
	l->v = alloc_reallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = alloc_strndup(s, len);
}

/* names_free - release */
static void
names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* names_has - name in the list */
static int
names_has(const struct names *l, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0)
			return 1;
	return 0;
}

/* list_folders - every folder name in the Maildir (no INBOX) */
static void
list_folders(struct imapd *d, struct names *l)
{
	struct dirent *e;
	DIR *dir;
	int fd = openat(d->root_fd, ".", DIR_FLAGS);

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL && l->n < IMAPD_FOLDERS_MAX) {
		const char *err;
		char disk[IMAPD_NAME_MAX + 3];
		struct stat st;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] != '.' || len < 2 || e->d_name[1] == '.')
			continue;
		if (e->d_type != DT_DIR && (e->d_type != DT_UNKNOWN ||
		    fstatat(d->root_fd, e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
			continue;
		if (folder_name_check(e->d_name + 1, len - 1, disk,
		    sizeof(disk), &err) < 0 || is_inbox(e->d_name + 1,
		    len - 1))
			continue;
		names_add(l, e->d_name + 1, len - 1);
	}
	(void)closedir(dir);
}

/* match - IMAP LIST pattern: '*' anything, '%' anything but '.' */
static int
match(const char *pat, const char *s, int depth)
{
	if (depth > 64)
		return 0;
	for (; *pat != '\0'; pat++, s++) {
		if (*pat == '*' || *pat == '%') {
			for (;; s++) {
				if (match(pat + 1, s, depth + 1))
					return 1;
				if (*s == '\0' || (*pat == '%' && *s == '.'))
					return 0;
			}
		}
		if (*s != *pat)
			return 0;
	}
	return *s == '\0';
}

/* match_name - the pattern, with INBOX matched in any case */
static int
match_name(const char *pat, const char *name)
{
	if (strcmp(name, "INBOX") == 0 && strlen(pat) == 5 &&
	    str_eq_nocase(pat, "INBOX"))
		return 1;
	return match(pat, name, 0);
}

/* has_children - some name in l is below name */
static int
has_children(const struct names *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++)
		if (strncmp(l->v[i], name, n) == 0 && l->v[i][n] == '.')
			return 1;
	return 0;
}

/* read_subscriptions - the subscriptions file into l */
static void
read_subscriptions(struct imapd *d, struct names *l)
{
	struct buf data = BUF_INIT(1024 * 1024);
	char chunk[4096];
	ssize_t r;
	char *p, *end;
	int fd = openat(d->root_fd, IMAPD_SUBSCRIPTIONS, O_RDONLY |
	    O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&data, chunk, (size_t)r) < 0)
			break;
	(void)close(fd);
	p = data.data;
	end = p + data.len;
	while (p != NULL && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			nl = end;
		if (nl > p && nl - p <= IMAPD_NAME_MAX &&
		    !names_has(l, p, (size_t)(nl - p)))
			names_add(l, p, (size_t)(nl - p));
		p = nl + 1;
	}
	buf_free(&data);
}

/* write_subscriptions - replace the subscriptions file */
static int
write_subscriptions(struct imapd *d, const struct names *l)
{
	static const char tmp[] = IMAPD_SUBSCRIPTIONS ".tmp";
	struct buf data = BUF_INIT(1024 * 1024);
	size_t i;
	int fd, r = -1;

	for (i = 0; i < l->n; i++)
		(void)buf_printf(&data, "%s\n", l->v[i]);
	(void)unlinkat(d->root_fd, tmp, 0);
	fd = openat(d->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, data.data != NULL ? data.data : "", data.len) ==
		    (ssize_t)data.len && fsync(fd) == 0 && close(fd) == 0 &&
		    renameat(d->root_fd, tmp, d->root_fd,
		    IMAPD_SUBSCRIPTIONS) == 0)
			r = 0;
		else
			(void)unlinkat(d->root_fd, tmp, 0);
	}
	buf_free(&data);
	return r;
}

/* list_line - one "* LIST (attrs) "." name" line */
static void
list_line(struct imapd *d, const char *cmd, const char *attrs,
    const char *name)
{
	struct buf b = BUF_INIT(4096);

	(void)buf_printf(&b, "* %s (%s) \".\" ", cmd, attrs);
	(void)imap_write_string(&b, name, strlen(name));
	(void)buf_append(&b, "\r\n", 2);
	imapd_send(d, b.data, b.len);
	buf_free(&b);
}

/* imapd_cmd_list - LIST reference pattern; LSUB the same way */
void
imapd_cmd_list(struct imapd *d, int lsub)
{
	static const char *const su[] = { "\\Sent", "\\Drafts", "\\Trash",
	    "\\Junk", "\\Archive" };
	struct imap_cmd *c = &d->cmd;
	char ref[IMAPD_NAME_MAX + 1], pat[IMAPD_NAME_MAX + 1];
	char full[2 * IMAPD_NAME_MAX + 2];
	struct names all = { NULL, 0 }, subs = { NULL, 0 }, show = { NULL, 0 };
	const char *cmdname = lsub ? "LSUB" : "LIST";
	size_t i;

	if (imap_cmd_count(c) != 2 || name_arg(d, 0, ref, sizeof(ref)) != 0 ||
	    name_arg(d, 1, pat, sizeof(pat)) != 0) {
		imapd_bad(d, "Syntax: %s reference pattern", cmdname);
		return;
	}
	if (!lsub && pat[0] == '\0') {
		list_line(d, "LIST", "\\Noselect", "");
		imapd_ok(d, "List completed");
		return;
	}
	if (strlen(ref) + strlen(pat) + 1 >= sizeof(full) ||
	    strchr(ref, '/') != NULL || strchr(pat, '/') != NULL ||
	    strstr(ref, "..") != NULL || strstr(pat, "..") != NULL ||
	    ref[0] == '~' || pat[0] == '~') {
		/* Nothing outside the Maildir has a name here. */
		imapd_ok(d, "%s completed", cmdname);
		return;
	}
	memcpy(full, ref, strlen(ref));
	memcpy(full + strlen(ref), pat, strlen(pat) + 1);

	list_folders(d, &all);
	names_add(&all, "INBOX", 5);
	/* Levels that exist only as parents are \Noselect. */
	for (i = 0; i < all.n; i++) {
		char *dot;
		size_t k;

		for (k = 0; (dot = strchr(all.v[i] + k, '.')) != NULL;
		    k = (size_t)(dot - all.v[i]) + 1)
			if (!names_has(&all, all.v[i], (size_t)(dot -
			    all.v[i])) && !names_has(&show, all.v[i],
			    (size_t)(dot - all.v[i])))
				names_add(&show, all.v[i], (size_t)(dot -
				    all.v[i]));
	}
	if (lsub) {
		read_subscriptions(d, &subs);
		for (i = 0; i < subs.n; i++)
			if (match_name(full, subs.v[i]))
				list_line(d, "LSUB", names_has(&all, subs.v[i],
				    strlen(subs.v[i])) ? "" : "\\Noselect",
				    subs.v[i]);
	} else {
		for (i = 0; i < all.n + show.n; i++) {
			const char *n = i < all.n ? all.v[i] :
			    show.v[i - all.n];
			struct buf attrs = BUF_INIT(256);
			int sp;

			if (!match_name(full, n))
				continue;
			if (i >= all.n)
				(void)buf_append_str(&attrs, "\\Noselect ");
			(void)buf_append_str(&attrs, has_children(&all, n) ?
			    "\\HasChildren" : "\\HasNoChildren");
			if ((sp = folder_special_use(n)) >= 0)
				(void)buf_printf(&attrs, " %s", su[sp]);
			list_line(d, "LIST", buf_cstr(&attrs), n);
			buf_free(&attrs);
		}
	}
	names_free(&all);
	names_free(&subs);
	names_free(&show);
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "%s completed", cmdname);
}

/* imapd_cmd_create - CREATE name */
void
imapd_cmd_create(struct imapd *d)
{
	char name[IMAPD_NAME_MAX + 2], disk[IMAPD_NAME_MAX + 3];
	const char *error = NULL;
	size_t len;
	int r;

	if (imap_cmd_count(&d->cmd) != 1 || (r = name_arg(d, 0, name,
	    sizeof(name))) == -1) {
		imapd_bad(d, "Syntax: CREATE name");
		return;
	}
	len = r == 0 ? strlen(name) : 0;
	if (len > 1 && name[len - 1] == '.')
		name[--len] = '\0';	/* "a." announces a hierarchy */
	if (r < 0 || folder_name_check(name, len, disk, sizeof(disk),
	    &error) < 0) {
		imapd_no(d, "[CANNOT] %s", error != NULL ? error :
		    "Bad mailbox name");
		return;
	}
	if (is_inbox(name, len) || faccessat(d->root_fd, disk, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		imapd_no(d, "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (maildir_create_folder(d->root_fd, disk, 0700, &error) < 0) {
		imapd_log(d, LOG_WARNING, "create-failed", " error=\"%s\"",
		    error);
		imapd_no(d, "[UNAVAILABLE] Cannot create mailbox");
		return;
	}
	imapd_ok(d, "Create completed");
}

/* remove_dir - remove the files of a folder's subfolder, then it */
static int
remove_dir(int parent, const char *name)
{
	struct dirent *e;
	DIR *dir;
	int fd = openat(parent, name, DIR_FLAGS), r = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if ((dir = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, e->d_name, 0) < 0)
			r = -1;
	}
	(void)closedir(dir);
	if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0)
		r = -1;
	return r;
}

/* remove_folder - a Maildir++ folder and its own files */
static int
remove_folder(int root, const char *disk)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	struct dirent *e;
	DIR *dir;
	size_t i;
	int fd = openat(root, disk, DIR_FLAGS), r = 0;

	if (fd < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (remove_dir(fd, subs[i]) < 0)
			r = -1;
	if ((dir = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, e->d_name, 0) < 0)
			r = -1;
	}
	(void)closedir(dir);
	if (r == 0 && unlinkat(root, disk, AT_REMOVEDIR) < 0)
		r = -1;
	return r;
}

/* imapd_cmd_delete - DELETE name */
void
imapd_cmd_delete(struct imapd *d)
{
	char name[IMAPD_NAME_MAX + 1], disk[IMAPD_NAME_MAX + 3];
	const char *error = NULL;
	int r;

	if (imap_cmd_count(&d->cmd) != 1 || (r = name_arg(d, 0, name,
	    sizeof(name))) == -1) {
		imapd_bad(d, "Syntax: DELETE name");
		return;
	}
	if (r < 0 || folder_name_check(name, strlen(name), disk, sizeof(disk),
	    &error) < 0) {
		imapd_no(d, "[CANNOT] %s", error != NULL ? error :
		    "Bad mailbox name");
		return;
	}
	if (is_inbox(name, strlen(name))) {
		imapd_no(d, "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (faccessat(d->root_fd, disk, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		imapd_no(d, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (d->have_box && strcmp(d->box_name, name) == 0) {
		index_close(&d->box);
		d->have_box = 0;
		d->state = IMAPD_AUTH;
		imapd_printf(d, "* OK [CLOSED] Mailbox deleted\r\n");
	}
	if (remove_folder(d->root_fd, disk) < 0) {
		imapd_no(d, "[UNAVAILABLE] Cannot delete mailbox");
		return;
	}
	imapd_ok(d, "Delete completed");
}

/* move_inbox - RENAME INBOX: its messages go to folder disk */
static int
move_inbox(struct imapd *d, const char *disk)
{
	static const char *const subs[] = { "new", "cur" };
	const char *error;
	size_t i;
	int fd, r = 0;

	if (maildir_create_folder(d->root_fd, disk, 0700, &error) < 0 ||
	    (fd = openat(d->root_fd, disk, DIR_FLAGS)) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		int from = openat(d->root_fd, subs[i], DIR_FLAGS);
		int to = openat(fd, subs[i], DIR_FLAGS);
		struct dirent *e;
		DIR *dir;

		if (from < 0 || to < 0 || (dir = fdopendir(from)) == NULL) {
			if (from >= 0)
				(void)close(from);
			if (to >= 0)
				(void)close(to);
			r = -1;
			continue;
		}
		while ((e = readdir(dir)) != NULL)
			if (e->d_name[0] != '.' && renameat(from, e->d_name, to,
			    e->d_name) < 0)
				r = -1;
		(void)closedir(dir);
		(void)close(to);
	}
	(void)close(fd);
	return r;
}

/* imapd_cmd_rename - RENAME old new (and the folders below old) */
void
imapd_cmd_rename(struct imapd *d)
{
	char from[IMAPD_NAME_MAX + 1], to[IMAPD_NAME_MAX + 1];
	char dfrom[IMAPD_NAME_MAX + 3], dto[IMAPD_NAME_MAX + 3];
	struct names all = { NULL, 0 };
	const char *error = NULL;
	size_t i, fl;
	int r1, r2;

	if (imap_cmd_count(&d->cmd) != 2 || (r1 = name_arg(d, 0, from,
	    sizeof(from))) == -1 || (r2 = name_arg(d, 1, to,
	    sizeof(to))) == -1) {
		imapd_bad(d, "Syntax: RENAME old new");
		return;
	}
	if (r1 < 0 || r2 < 0 || folder_name_check(from, strlen(from), dfrom,
	    sizeof(dfrom), &error) < 0 || folder_name_check(to, strlen(to),
	    dto, sizeof(dto), &error) < 0) {
		imapd_no(d, "[CANNOT] %s", error != NULL ? error :
		    "Bad mailbox name");
		return;
	}
	if (is_inbox(to, strlen(to)) || faccessat(d->root_fd, dto, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		imapd_no(d, "[ALREADYEXISTS] Target mailbox exists");
		return;
	}
	if (is_inbox(from, strlen(from))) {
		if (move_inbox(d, dto) < 0)
			imapd_no(d, "[UNAVAILABLE] Cannot move all messages");
		else
			imapd_ok(d, "Rename completed");
		return;
	}
	fl = strlen(from);
	if (strncmp(to, from, fl) == 0 && to[fl] == '.') {
		imapd_no(d, "[CANNOT] Cannot move a mailbox below itself");
		return;
	}
	if (faccessat(d->root_fd, dfrom, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		imapd_no(d, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (renameat(d->root_fd, dfrom, d->root_fd, dto) < 0) {
		imapd_no(d, "[UNAVAILABLE] Cannot rename mailbox");
		return;
	}
	list_folders(d, &all);
	for (i = 0; i < all.n; i++) {
		struct buf a = BUF_INIT(600), b = BUF_INIT(600);

		if (strncmp(all.v[i], from, fl) == 0 && all.v[i][fl] == '.' &&
		    buf_printf(&a, ".%s", all.v[i]) == 0 &&
		    buf_printf(&b, ".%s%s", to, all.v[i] + fl) == 0 &&
		    b.len <= IMAPD_NAME_MAX + 1)
			(void)renameat(d->root_fd, buf_cstr(&a), d->root_fd,
			    buf_cstr(&b));
		buf_free(&a);
		buf_free(&b);
	}
	names_free(&all);
	imapd_ok(d, "Rename completed");
}

/* imapd_cmd_subscribe - SUBSCRIBE / UNSUBSCRIBE name */
void
imapd_cmd_subscribe(struct imapd *d, int on)
{
	char name[IMAPD_NAME_MAX + 1], disk[IMAPD_NAME_MAX + 3];
	struct names subs = { NULL, 0 }, keep = { NULL, 0 };
	const char *error = NULL;
	size_t i;
	int r;

	if (imap_cmd_count(&d->cmd) != 1 || (r = name_arg(d, 0, name,
	    sizeof(name))) == -1) {
		imapd_bad(d, "Syntax: %sSUBSCRIBE name", on ? "" : "UN");
		return;
	}
	if (r < 0 || folder_name_check(name, strlen(name), disk, sizeof(disk),
	    &error) < 0) {
		imapd_no(d, "[CANNOT] %s", error != NULL ? error :
		    "Bad mailbox name");
		return;
	}
	if (is_inbox(name, strlen(name)))
		(void)str_copy(name, sizeof(name), "INBOX");
	read_subscriptions(d, &subs);
	for (i = 0; i < subs.n; i++)
		if (strcmp(subs.v[i], name) != 0)
			names_add(&keep, subs.v[i], strlen(subs.v[i]));
	if (on)
		names_add(&keep, name, strlen(name));
	r = write_subscriptions(d, &keep);
	names_free(&subs);
	names_free(&keep);
	if (r < 0)
		imapd_no(d, "[UNAVAILABLE] Cannot update subscriptions");
	else
		imapd_ok(d, "%sSUBSCRIBE completed", on ? "" : "UN");
}

/* imapd_cmd_status - STATUS name (items) */
void
imapd_cmd_status(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;
	char name[IMAPD_NAME_MAX + 1];
	const char *error = NULL;
	struct buf b = BUF_INIT(4096);
	uint32_t uidvalidity, uidnext;
	size_t messages, unseen, recent, deleted, i, end;
	uint64_t size;
	int fd, r;

	if (imap_cmd_count(c) != 2 ||
	    (r = name_arg(d, 0, name, sizeof(name))) == -1 ||
	    c->args[1].type != IMAP_ARG_LIST || c->args[1].sub == 0) {
		imapd_bad(d, "Syntax: STATUS name (items)");
		return;
	}
	end = imap_arg_next(c, 1);
	for (i = 2; i < end; i = imap_arg_next(c, i)) {
		const struct imap_arg *a = &c->args[i];

		if (!imap_arg_is_atom(a, "MESSAGES") &&
		    !imap_arg_is_atom(a, "RECENT") &&
		    !imap_arg_is_atom(a, "UIDNEXT") &&
		    !imap_arg_is_atom(a, "UIDVALIDITY") &&
		    !imap_arg_is_atom(a, "UNSEEN") &&
		    !imap_arg_is_atom(a, "DELETED") &&
		    !imap_arg_is_atom(a, "SIZE")) {
			imapd_bad(d, "Unknown STATUS item");
			return;
		}
	}
	if (r < 0 || folder_open(d, name, strlen(name), &fd, &error) < 0) {
		imapd_no(d, "%s", errno == EINVAL || r < 0 ?
		    "[CANNOT] Bad mailbox name" : error);
		return;
	}
	r = index_status(fd, &uidvalidity, &uidnext, &messages, &unseen,
	    &recent, &size, &deleted, &error);
	(void)close(fd);
	if (r < 0) {
		imapd_log(d, LOG_WARNING, "status-failed", " error=\"%s\"",
		    error);
		imapd_no(d, "[UNAVAILABLE] Cannot read mailbox");
		return;
	}
	if (is_inbox(name, strlen(name)))
		(void)str_copy(name, sizeof(name), "INBOX");
	(void)buf_append_str(&b, "* STATUS ");
	(void)imap_write_string(&b, name, strlen(name));
	(void)buf_append_str(&b, " (");
	for (i = 2; i < end; i = imap_arg_next(c, i)) {
		const struct imap_arg *a = &c->args[i];

		if (i > 2)
			(void)buf_append_char(&b, ' ');
		if (imap_arg_is_atom(a, "MESSAGES"))
			(void)buf_printf(&b, "MESSAGES %zu", messages);
		else if (imap_arg_is_atom(a, "RECENT"))
			(void)buf_printf(&b, "RECENT %zu", recent);
		else if (imap_arg_is_atom(a, "UIDNEXT"))
			(void)buf_printf(&b, "UIDNEXT %u", (unsigned)uidnext);
		else if (imap_arg_is_atom(a, "UIDVALIDITY"))
			(void)buf_printf(&b, "UIDVALIDITY %u",
			    (unsigned)uidvalidity);
		else if (imap_arg_is_atom(a, "UNSEEN"))
			(void)buf_printf(&b, "UNSEEN %zu", unseen);
		else if (imap_arg_is_atom(a, "DELETED"))
			(void)buf_printf(&b, "DELETED %zu", deleted);
		else
			(void)buf_printf(&b, "SIZE %llu",
			    (unsigned long long)size);
	}
	(void)buf_append_str(&b, ")\r\n");
	imapd_send(d, b.data, b.len);
	buf_free(&b);
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "Status completed");
}
