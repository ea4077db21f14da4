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
 *	void imapd_list_selected(struct imapd *d);
 *	int imapd_mailbox_in(struct imapd *d, const char *s, size_t len,
 *	    char *out, size_t size);
 *	int imapd_write_mailbox(struct imapd *d, struct buf *out,
 *	    const char *name);
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
 *	INBOX empty (RFC 3501 6.3.5). After ENABLE IMAP4rev2 names travel in
 *	UTF-8 (imapd_mailbox_in() and imapd_write_mailbox() convert).
 *
 *	LIST takes the RFC 5258 LIST-EXTENDED form too: selection options
 *	SUBSCRIBED, REMOTE, RECURSIVEMATCH and SPECIAL-USE, several patterns,
 *	return options SUBSCRIBED, CHILDREN, SPECIAL-USE and STATUS (RFC
 *	5819: a STATUS line after the LIST line of every mailbox that
 *	exists). Subscribed names without a mailbox are \NonExistent; under
 *	IMAP4rev2 so are levels that exist only as parents (\Noselect in
 *	IMAP4rev1).
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

/* The RFC 6154 attributes, in folder_special_use()'s order. */
static const char *const special_attr[] = { "\\Sent", "\\Drafts",
    "\\Trash", "\\Junk", "\\Archive" };

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

/*
 * imapd_mailbox_in - a mailbox name (or LIST pattern) from the client as a
 * C string in the form the folders use: modified UTF-7. After ENABLE
 * IMAP4rev2 names come in UTF-8 (RFC 9051 5.1) and are converted. 0, or
 * -1 when it holds a NUL, is not valid UTF-8 or does not fit in size.
 */
int
imapd_mailbox_in(struct imapd *d, const char *s, size_t len, char *out,
    size_t size)
{
	struct buf b = BUF_INIT(size);
	int r = 0;

	if (memchr(s, '\0', len) != NULL)
		return -1;
	if (d->rev2)
		r = imap_utf8_to_mutf7(s, len, &b);
	else
		r = len == 0 ? 0 : buf_append(&b, s, len);
	if (r == 0 && b.len < size) {
		if (b.len > 0)
			memcpy(out, b.data, b.len);
		out[b.len] = '\0';
	} else
		r = -1;
	buf_free(&b);
	return r;
}

/*
 * imapd_write_mailbox - a folder's name as the client reads it: modified
 * UTF-7, or UTF-8 after ENABLE IMAP4rev2
 */
int
imapd_write_mailbox(struct imapd *d, struct buf *out, const char *name)
{
	struct buf u = BUF_INIT(4 * IMAPD_NAME_MAX + 16);
	int r;

	if (d->rev2 && imap_mutf7_to_utf8(name, strlen(name), &u) == 0)
		r = imap_write_string(out, u.data != NULL ? u.data : "",
		    u.len);
	else
		r = imap_write_string(out, name, strlen(name));
	buf_free(&u);
	return r;
}

/* name_arg - the mailbox name argument args[i] as a C string; 0 or -1 */
static int
name_arg(struct imapd *d, size_t i, char *out, size_t size)
{
	const struct imap_arg *a;

	if (i >= d->cmd.nargs || !imap_arg_is_string(a = &d->cmd.args[i]))
		return -1;
	if (imapd_mailbox_in(d, a->s, a->len, out, size) < 0)
		return -2;
	return 0;
}

static int status_items_check(struct imapd *, size_t, size_t);
static int status_reply(struct imapd *, const char *, size_t, size_t, int);

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

/*
 * match - IMAP LIST pattern: '*' anything, '%' anything but '.'. Row by
 * row over the pattern (dynamic programming): O(pattern x name) steps
 * whatever the wildcards, so "*a*a*a...b" cannot make LIST run away.
 */
static int
match(const char *pat, const char *s)
{
	size_t n = strlen(s), j;
	unsigned char *row = alloc_calloc(n + 1, 1);
	unsigned char *next = alloc_calloc(n + 1, 1);
	unsigned char *t;
	int r;

	row[0] = 1;		/* the empty pattern matches the empty name */
	for (; *pat != '\0'; pat++) {
		int any = 0;

		for (j = 0; j <= n; j++) {
			if (*pat == '*' || *pat == '%') {
				/* '%' stops at a level: it never takes a '.' */
				if (*pat == '%' && j > 0 && s[j - 1] == '.')
					any = 0;
				any |= row[j];
				next[j] = (unsigned char)any;
			} else
				next[j] = j > 0 && row[j - 1] &&
				    s[j - 1] == *pat;
		}
		t = row;
		row = next;
		next = t;
	}
	r = row[n];
	free(row);
	free(next);
	return r;
}

/* match_name - the pattern, with INBOX matched in any case */
static int
match_name(const char *pat, const char *name)
{
	if (strcmp(name, "INBOX") == 0 && strlen(pat) == 5 &&
	    str_eq_nocase(pat, "INBOX"))
		return 1;
	return match(pat, name);
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

/* list_line - one "* LIST (attrs) "." name[ extra]" line */
static void
list_line(struct imapd *d, const char *cmd, const char *attrs,
    const char *name, const char *extra)
{
	struct buf b = BUF_INIT(4096);

	(void)buf_printf(&b, "* %s (%s) \".\" ", cmd, attrs);
	(void)imapd_write_mailbox(d, &b, name);
	if (extra != NULL)
		(void)buf_append_str(&b, extra);
	(void)buf_append(&b, "\r\n", 2);
	imapd_send(d, b.data, b.len);
	buf_free(&b);
}

/* LIST-EXTENDED (RFC 5258) selection and return options */
#define SEL_SUBSCRIBED	0x01
#define SEL_REMOTE	0x02
#define SEL_RECURSIVE	0x04
#define SEL_SPECIAL	0x08
#define RET_SUBSCRIBED	0x10
#define RET_CHILDREN	0x20
#define RET_SPECIAL	0x40
#define RET_STATUS	0x80

struct listreq {
	unsigned opts;
	size_t status_at, status_end;	/* STATUS items in d->cmd.args */
	struct names pats;		/* reference + pattern, each */
	int empty;			/* one pattern, "": the delimiter */
};

/* list_options - the atoms of the list at args[i] into opts; 0 or -1 */
static int
list_options(struct imapd *d, size_t i, int ret, struct listreq *q)
{
	static const struct {
		const char *name;
		unsigned sel, ret;
	} words[] = {
		{ "SUBSCRIBED", SEL_SUBSCRIBED, RET_SUBSCRIBED },
		{ "REMOTE", SEL_REMOTE, 0 },
		{ "RECURSIVEMATCH", SEL_RECURSIVE, 0 },
		{ "SPECIAL-USE", SEL_SPECIAL, RET_SPECIAL },
		{ "CHILDREN", 0, RET_CHILDREN },
	};
	struct imap_cmd *c = &d->cmd;
	size_t k, w, end = imap_arg_next(c, i);

	for (k = i + 1; k < end; k = imap_arg_next(c, k)) {
		if (ret && imap_arg_is_atom(&c->args[k], "STATUS")) {
			k = imap_arg_next(c, k);
			if (k >= end || c->args[k].type != IMAP_ARG_LIST ||
			    c->args[k].sub == 0)
				return -1;
			q->opts |= RET_STATUS;
			q->status_at = k + 1;
			q->status_end = imap_arg_next(c, k);
			continue;
		}
		for (w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			if (imap_arg_is_atom(&c->args[k], words[w].name) &&
			    (ret ? words[w].ret : words[w].sel) != 0)
				break;
		if (w == sizeof(words) / sizeof(words[0]))
			return -1;
		q->opts |= ret ? words[w].ret : words[w].sel;
	}
	return 0;
}

/* has_sub_below - some subscribed name lies below name */
static int
has_sub_below(const struct names *subs, const char *name)
{
	return has_children(subs, name);
}

/*
 * list_request - parse "LIST [(sel)] ref (pat | (pats)) [RETURN (ret)]";
 * 0, or -1 after a BAD reply
 */
static int
list_request(struct imapd *d, struct listreq *q)
{
	struct imap_cmd *c = &d->cmd;
	char ref[IMAPD_NAME_MAX + 1], pat[IMAPD_NAME_MAX + 1];
	size_t i = 0, k, pend;

	if (c->nargs > 0 && c->args[0].type == IMAP_ARG_LIST) {
		if (list_options(d, 0, 0, q) < 0 ||
		    ((q->opts & SEL_RECURSIVE) &&
		    !(q->opts & (SEL_SUBSCRIBED | SEL_SPECIAL)))) {
			imapd_bad(d, "Bad LIST selection options");
			return -1;
		}
		i = imap_arg_next(c, 0);
	}
	if (name_arg(d, i, ref, sizeof(ref)) != 0 || i + 1 >= c->nargs) {
		imapd_bad(d, "Syntax: LIST [(options)] reference pattern");
		return -1;
	}
	i++;
	pend = imap_arg_next(c, i);
	if (c->args[i].type == IMAP_ARG_LIST) {
		if (c->args[i].sub == 0) {
			imapd_bad(d, "Empty pattern list");
			return -1;
		}
		k = i + 1;
	} else {
		k = i;
		q->empty = imap_arg_is_string(&c->args[i]) &&
		    c->args[i].len == 0;
	}
	for (; k < pend; k = imap_arg_next(c, k)) {
		struct buf full = BUF_INIT(2 * IMAPD_NAME_MAX + 2);

		if (name_arg(d, k, pat, sizeof(pat)) != 0) {
			imapd_bad(d, "Bad LIST pattern");
			return -1;
		}
		(void)buf_printf(&full, "%s%s", ref, pat);
		names_add(&q->pats, full.data != NULL ? full.data : "",
		    full.len);
		buf_free(&full);
	}
	i = pend;
	if (i < c->nargs) {
		if (!imap_arg_is_atom(&c->args[i], "RETURN") ||
		    i + 1 >= c->nargs || c->args[i + 1].type != IMAP_ARG_LIST ||
		    imap_arg_next(c, i + 1) != c->nargs ||
		    list_options(d, i + 1, 1, q) < 0) {
			imapd_bad(d, "Bad LIST return options");
			return -1;
		}
	}
	if ((q->opts & RET_STATUS) && status_items_check(d, q->status_at,
	    q->status_end) < 0) {
		imapd_bad(d, "Unknown STATUS item");
		return -1;
	}
	return 0;
}

/* pattern_safe - a pattern that can name something in the Maildir */
static int
pattern_safe(const char *p)
{
	return strchr(p, '/') == NULL && strstr(p, "..") == NULL &&
	    p[0] != '~';
}

/* match_any - the name matches one of the patterns */
static int
match_any(const struct names *pats, const char *name)
{
	size_t i;

	for (i = 0; i < pats->n; i++)
		if (pattern_safe(pats->v[i]) && match_name(pats->v[i], name))
			return 1;
	return 0;
}

/* list_lsub - LSUB reference pattern (RFC 3501 6.3.9) */
static void
list_lsub(struct imapd *d, const struct names *pats, const struct names *all)
{
	struct names subs = { NULL, 0 };
	size_t i;

	read_subscriptions(d, &subs);
	for (i = 0; i < subs.n; i++)
		if (match_any(pats, subs.v[i]))
			list_line(d, "LSUB", names_has(all, subs.v[i],
			    strlen(subs.v[i])) ? "" : "\\Noselect", subs.v[i],
			    NULL);
	names_free(&subs);
}

/* imapd_cmd_list - LIST (RFC 3501, RFC 5258, RFC 5819); LSUB */
void
imapd_cmd_list(struct imapd *d, int lsub)
{
	struct names all = { NULL, 0 }, subs = { NULL, 0 }, show = { NULL, 0 };
	struct names uni = { NULL, 0 };
	struct listreq q;
	const char *cmdname = lsub ? "LSUB" : "LIST";
	size_t i;

	memset(&q, 0, sizeof(q));
	if (lsub && (imap_cmd_count(&d->cmd) != 2 ||
	    d->cmd.args[0].type == IMAP_ARG_LIST ||
	    d->cmd.args[1].type == IMAP_ARG_LIST)) {
		imapd_bad(d, "Syntax: LSUB reference pattern");
		return;
	}
	if (list_request(d, &q) < 0) {
		names_free(&q.pats);
		return;
	}
	if (!lsub && q.empty) {
		/* LIST "ref" "": the hierarchy delimiter. */
		list_line(d, "LIST", "\\Noselect", "", NULL);
		names_free(&q.pats);
		imapd_ok(d, "List completed");
		return;
	}
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
		list_lsub(d, &q.pats, &all);
		goto done;
	}
	if (q.opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED))
		read_subscriptions(d, &subs);
	for (i = 0; i < all.n; i++)
		names_add(&uni, all.v[i], strlen(all.v[i]));
	for (i = 0; i < show.n; i++)
		names_add(&uni, show.v[i], strlen(show.v[i]));
	if (q.opts & SEL_SUBSCRIBED) {
		/* Subscribed names, and the levels above them. */
		for (i = 0; i < subs.n; i++) {
			const char *n = subs.v[i], *dot;

			if (!names_has(&uni, n, strlen(n)))
				names_add(&uni, n, strlen(n));
			for (dot = strchr(n, '.'); dot != NULL;
			    dot = strchr(dot + 1, '.'))
				if (!names_has(&uni, n, (size_t)(dot - n)))
					names_add(&uni, n, (size_t)(dot - n));
		}
	}
	for (i = 0; i < uni.n; i++) {
		const char *n = uni.v[i];
		size_t len = strlen(n);
		int exists = names_has(&all, n, len);
		int parent = names_has(&show, n, len);
		int sub = names_has(&subs, n, len);
		int sp = exists ? folder_special_use(n) : -1;
		int selected = 1, childinfo = 0;
		struct buf attrs = BUF_INIT(256);

		if (!match_any(&q.pats, n))
			continue;
		if ((q.opts & SEL_SUBSCRIBED) && !sub)
			selected = 0;
		if ((q.opts & SEL_SPECIAL) && sp < 0)
			selected = 0;
		if (!(q.opts & (SEL_SUBSCRIBED | SEL_SPECIAL)) && !exists &&
		    !parent)
			selected = 0;
		if ((q.opts & SEL_RECURSIVE) && (q.opts & SEL_SUBSCRIBED) &&
		    has_sub_below(&subs, n))
			childinfo = 1;
		if (!selected && !childinfo)
			continue;
		if (!exists)
			(void)buf_append_str(&attrs, parent && !d->rev2 ?
			    "\\Noselect " : "\\NonExistent ");
		(void)buf_append_str(&attrs, has_children(&all, n) ?
		    "\\HasChildren" : "\\HasNoChildren");
		if (sp >= 0)
			(void)buf_printf(&attrs, " %s", special_attr[sp]);
		if ((q.opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED)) && sub)
			(void)buf_append_str(&attrs, " \\Subscribed");
		list_line(d, "LIST", buf_cstr(&attrs), n, childinfo ?
		    " (\"CHILDINFO\" (\"SUBSCRIBED\"))" : NULL);
		buf_free(&attrs);
		if ((q.opts & RET_STATUS) && exists)
			(void)status_reply(d, n, q.status_at, q.status_end,
			    1);
	}
done:
	names_free(&all);
	names_free(&subs);
	names_free(&show);
	names_free(&uni);
	names_free(&q.pats);
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "%s completed", cmdname);
}

/* imapd_list_selected - the LIST line SELECT sends under IMAP4rev2 */
void
imapd_list_selected(struct imapd *d)
{
	struct names all = { NULL, 0 };
	struct buf attrs = BUF_INIT(256);
	int sp = folder_special_use(d->box_name);

	list_folders(d, &all);
	(void)buf_append_str(&attrs, has_children(&all, d->box_name) ?
	    "\\HasChildren" : "\\HasNoChildren");
	if (sp >= 0)
		(void)buf_printf(&attrs, " %s", special_attr[sp]);
	list_line(d, "LIST", buf_cstr(&attrs), d->box_name, NULL);
	buf_free(&attrs);
	names_free(&all);
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

/* status_items_check - the STATUS items args[i..end) are known; 0 or -1 */
static int
status_items_check(struct imapd *d, size_t i, size_t end)
{
	struct imap_cmd *c = &d->cmd;

	for (; i < end; i = imap_arg_next(c, i)) {
		const struct imap_arg *a = &c->args[i];

		if (!imap_arg_is_atom(a, "MESSAGES") &&
		    !(imap_arg_is_atom(a, "RECENT") && !d->rev2) &&
		    !imap_arg_is_atom(a, "UIDNEXT") &&
		    !imap_arg_is_atom(a, "UIDVALIDITY") &&
		    !imap_arg_is_atom(a, "UNSEEN") &&
		    !imap_arg_is_atom(a, "DELETED") &&
		    !imap_arg_is_atom(a, "SIZE"))
			return -1;
	}
	return 0;
}

/*
 * status_reply - "* STATUS name (items)" for the items args[at..end);
 * 0, or -1 with *error_r (from LIST, quiet: a mailbox that cannot be
 * read is skipped there and logged)
 */
static int
status_reply(struct imapd *d, const char *name, size_t at, size_t end,
    int quiet)
{
	struct imap_cmd *c = &d->cmd;
	const char *error = NULL;
	struct buf b = BUF_INIT(4096);
	uint32_t uidvalidity, uidnext;
	size_t messages, unseen, recent, deleted, i;
	uint64_t size;
	int fd, r;

	if (folder_open(d, name, strlen(name), &fd, &error) < 0) {
		if (!quiet)
			imapd_no(d, "%s", errno == EINVAL ?
			    "[CANNOT] Bad mailbox name" : error);
		return -1;
	}
	r = index_status(fd, &uidvalidity, &uidnext, &messages, &unseen,
	    &recent, &size, &deleted, &error);
	(void)close(fd);
	if (r < 0) {
		imapd_log(d, LOG_WARNING, "status-failed", " error=\"%s\"",
		    error);
		if (!quiet)
			imapd_no(d, "[UNAVAILABLE] Cannot read mailbox");
		return -1;
	}
	(void)buf_append_str(&b, "* STATUS ");
	(void)imapd_write_mailbox(d, &b, is_inbox(name, strlen(name)) ?
	    "INBOX" : name);
	(void)buf_append_str(&b, " (");
	for (i = at; i < end; i = imap_arg_next(c, i)) {
		const struct imap_arg *a = &c->args[i];

		if (i > at)
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
	return 0;
}

/* imapd_cmd_status - STATUS name (items) */
void
imapd_cmd_status(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;
	char name[IMAPD_NAME_MAX + 1];
	int r;

	if (imap_cmd_count(c) != 2 ||
	    (r = name_arg(d, 0, name, sizeof(name))) == -1 ||
	    c->args[1].type != IMAP_ARG_LIST || c->args[1].sub == 0) {
		imapd_bad(d, "Syntax: STATUS name (items)");
		return;
	}
	if (status_items_check(d, 2, imap_arg_next(c, 1)) < 0) {
		imapd_bad(d, "Unknown STATUS item");
		return;
	}
	if (r < 0) {
		imapd_no(d, "[CANNOT] Bad mailbox name");
		return;
	}
	if (status_reply(d, name, 2, imap_arg_next(c, 1), 0) < 0)
		return;
	if (d->state == IMAPD_SELECTED)
		imapd_updates(d, 1);
	imapd_ok(d, "Status completed");
}
