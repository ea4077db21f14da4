/*
 * NAME
 *	imapd-mailbox - the selected state: SELECT, EXAMINE, CLOSE,
 *	UNSELECT, EXPUNGE, STORE, COPY, MOVE, APPEND and untagged updates
 *
 * SYNOPSIS
 *	void imapd_cmd_select(struct imapd *d, int examine);
 *	void imapd_cmd_close(struct imapd *d, int expunge);
 *	void imapd_cmd_expunge(struct imapd *d, int uid);
 *	void imapd_cmd_store(struct imapd *d, int uid);
 *	void imapd_cmd_copy(struct imapd *d, int uid, int move);
 *	void imapd_cmd_append(struct imapd *d);
 *	void imapd_updates(struct imapd *d, int expunges);
 *	int imapd_msgset(struct imapd *d, const struct imap_arg *a, int uid,
 *	    struct imap_seqset *set);
 *	int imapd_parse_flags(struct imapd *d, const struct imap_cmd *c,
 *	    size_t i, struct imapd_box *b, uint8_t *flags_r, uint32_t *kw_r,
 *	    int create);
 *	int imapd_read_message(struct imapd *d, struct imapd_msg *m,
 *	    struct buf *out);
 *	int imapd_read_header(struct imapd *d, struct imapd_msg *m,
 *	    struct buf *out);
 *
 * DESCRIPTION
 *	The selected folder is an index view (imapd-index.c). imapd_updates()
 *	syncs it and tells the client what changed: EXPUNGE for messages
 *	whose files went away (only where RFC 9051 7.5.1 allows them, that
 *	is not during FETCH, STORE and SEARCH), FETCH FLAGS for flags that
 *	another session or program changed, EXISTS and RECENT for new mail.
 *	After ENABLE IMAP4rev2 (RFC 9051) there is no RECENT and no \Recent
 *	in FLAGS, and SELECT / EXAMINE send a LIST line for the mailbox
 *	instead of RECENT and the UNSEEN code.
 *
 *	"$" as a message set is the SEARCHRES saved result (RFC 5182): the
 *	messages of the view whose UIDs SEARCH RETURN (SAVE) kept; closing
 *	the mailbox forgets it.
 *
 *	Sequence sets are never expanded: each message of the view is tested
 *	against the sorted ranges, so "1:4294967295" costs what the folder
 *	holds (SECURITY I5). A message sequence number above the number of
 *	messages is BAD.
 *
 *	Messages are stored with LF line ends (as deliver(8) writes them):
 *	APPEND turns CR LF into LF, and reading turns every bare LF back
 *	into CR LF, so RFC822.SIZE is the ",W=" size. The file is read in
 *	large reads straight into the result and widened in place;
 *	imapd_read_header() reads only up to the first empty line (SEARCH
 *	on header fields). COPY and MOVE write new files through maildir.h
 *	(tmp, fsync, rename) with the flags and keywords of the original;
 *	APPEND and COPY answer with APPENDUID and COPYUID (RFC 4315).
 *
 * DIAGNOSTICS
 *	"NO [TRYCREATE]" for a missing target mailbox, "NO [READ-ONLY]" for
 *	a change in an EXAMINEd one, "NO [UNAVAILABLE]" for file system
 *	failures (logged).
 *
 * SECURITY
 *	Message content is only copied, never interpreted here.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "imapd.h"
#include "log.h"
#include "str.h"

/* imapd_updates - sync the selected folder and report its changes */
void
imapd_updates(struct imapd *d, int expunges)
{
	struct imapd_box *b = &d->box;
	const char *error;
	size_t i, o;

	if (!d->have_box)
		return;
	if (index_sync(b, 0, &error) < 0)
		imapd_log(d, LOG_WARNING, "sync-failed", " error=\"%s\"",
		    error);
	if (expunges) {
		size_t gone = 0;

		/* Highest first, so every number is right when sent. */
		for (i = b->n; i > 0; i--)
			if (b->v[i - 1].gone && i <= d->exists) {
				imapd_printf(d, "* %zu EXPUNGE\r\n", i);
				gone++;
			}
		for (i = 0, o = 0; i < b->n; i++)
			if (!b->v[i].gone || i >= d->exists)
				b->v[o++] = b->v[i];
		b->n = o;
		d->exists -= gone;
	}
	for (i = 0; i < b->n && i < d->exists; i++)
		if (b->v[i].changed && !b->v[i].gone) {
			b->v[i].changed = 0;
			imapd_fetch_flags(d, i + 1, 1);
		}
	if (b->n != d->exists && b->n > d->exists) {
		for (i = d->exists; i < b->n; i++)
			b->v[i].changed = 0;
		d->exists = b->n;
		imapd_printf(d, "* %zu EXISTS\r\n", b->n);
	}
	if (b->recent != d->recent_sent && !d->rev2) {
		d->recent_sent = b->recent;
		imapd_printf(d, "* %u RECENT\r\n", (unsigned)b->recent);
	}
}

/* imapd_msgset - a sequence set (or UID set) argument, resolved */
int
imapd_msgset(struct imapd *d, const struct imap_arg *a, int uid,
    struct imap_seqset *set)
{
	const char *error;
	size_t i;

	if (a->type == IMAP_ARG_ATOM && a->len == 1 && a->s[0] == '$') {
		/* SEARCHRES (RFC 5182): the saved UIDs, of messages left. */
		memset(set, 0, sizeof(*set));
		for (i = 0; i < d->box.n && i < d->exists; i++)
			if (imap_seqset_contains(&d->saved, d->box.v[i].uid))
				imap_seqset_add(set, uid ? d->box.v[i].uid :
				    (uint32_t)(i + 1), uid ? d->box.v[i].uid :
				    (uint32_t)(i + 1));
		imap_seqset_resolve(set, 0);
		return 0;
	}
	if (a->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(a->s, a->len, set, &error) < 0) {
		imapd_bad(d, "Invalid message set");
		return -1;
	}
	if (uid) {
		uint32_t star = d->box.n > 0 ? d->box.v[d->box.n - 1].uid : 0;

		imap_seqset_resolve(set, star);
		return 0;
	}
	for (i = 0; i < set->n; i++)
		if (set->v[i].lo > d->exists || set->v[i].hi > d->exists ||
		    ((set->v[i].lo == 0 || set->v[i].hi == 0) &&
		    d->exists == 0)) {
			imap_seqset_free(set);
			imapd_bad(d, "Invalid message sequence number");
			return -1;
		}
	imap_seqset_resolve(set, (uint32_t)d->exists);
	return 0;
}

/* in_set - message i (0-based) of the view is in the resolved set */
static int
in_set(struct imapd *d, const struct imap_seqset *set, size_t i, int uid)
{
	return uid ? imap_seqset_contains(set, d->box.v[i].uid) :
	    imap_seqset_contains(set, (uint32_t)(i + 1));
}

/* imapd_parse_flags - a flag list (or one flag) at args[i] */
int
imapd_parse_flags(struct imapd *d, const struct imap_cmd *c, size_t i,
    struct imapd_box *b, uint8_t *flags_r, uint32_t *kw_r, int create)
{
	static const struct {
		const char *name;
		uint8_t bit;
	} sys[] = {
		{ "\\Seen", IMAP_FL_SEEN }, { "\\Answered", IMAP_FL_ANSWERED },
		{ "\\Flagged", IMAP_FL_FLAGGED },
		{ "\\Deleted", IMAP_FL_DELETED }, { "\\Draft", IMAP_FL_DRAFT },
	};
	size_t j, k, end, start;

	(void)d;
	*flags_r = 0;
	*kw_r = 0;
	if (c->args[i].type == IMAP_ARG_LIST) {
		start = i + 1;
		end = imap_arg_next(c, i);
	} else {
		start = i;
		end = i + 1;
	}
	for (j = start; j < end; j = imap_arg_next(c, j)) {
		const struct imap_arg *a = &c->args[j];
		int kw;

		if (a->type != IMAP_ARG_ATOM)
			return -1;
		for (k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
			if (imap_arg_is_atom(a, sys[k].name))
				break;
		if (k < sizeof(sys) / sizeof(sys[0])) {
			*flags_r |= sys[k].bit;
			continue;
		}
		if (a->s[0] == '\\') {
			if (imap_arg_is_atom(a, "\\Recent"))
				continue;
			return -1;
		}
		for (k = 0; k < a->len; k++)
			if (strchr("(){%*\"\\]", a->s[k]) != NULL ||
			    (unsigned char)a->s[k] > 0x7e)
				return -1;
		kw = index_keyword(b, a->s, a->len, create);
		if (kw < 0) {
			if (create)
				return -2;
			continue;
		}
		*kw_r |= 1U << kw;
	}
	return 0;
}

/*
 * Reading a message. Files hold LF (deliver(8)) or, rarely, CR LF line
 * ends; IMAP wants CR LF. The file is read straight into the output
 * buffer in large reads, then every bare LF is widened to CR LF in place,
 * from the end backwards, so each octet is copied once. A header-only read
 * stops at the first empty line ("\n" or "\r\n" at a line start), which is
 * where mime.h's header block ends too.
 */
#define IMAPD_READ_HEAD		8192	/* first read of a header-only read */
#define IMAPD_READ_CHUNK	(256 * 1024)	/* later reads, at most */

/* header_end - offset after the raw header's empty line, or 0 if not yet */
static size_t
header_end(const char *t, size_t len, size_t *pos, int *bol)
{
	const char *nl;
	size_t p = *pos;

	while (p < len) {
		if (*bol) {
			if (t[p] == '\n')
				return p + 1;
			if (t[p] == '\r') {
				if (p + 1 == len)
					break;	/* its LF may come next */
				if (t[p + 1] == '\n')
					return p + 2;
			}
			*bol = 0;
		}
		if ((nl = memchr(t + p, '\n', len - p)) == NULL) {
			p = len;
			break;
		}
		p = (size_t)(nl - t) + 1;
		*bol = 1;
	}
	*pos = p;
	return 0;
}

/* widen_lf - turn every bare LF of out into CR LF, in place; -1 if full */
static int
widen_lf(struct buf *out)
{
	const char *p, *end, *nl;
	size_t bare = 0, s, dst, lim, i, n;

	if (out->len == 0)
		return 0;
	p = out->data;
	end = p + out->len;
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl == out->data || nl[-1] != '\r')
			bare++;
		p = nl + 1;
	}
	if (bare == 0)
		return 0;
	if (buf_reserve(out, bare) < 0)
		return -1;
	/*
	 * UNSAFE: dst - s is the number of bare LFs left in [0, s), so each
	 * move writes at or after s and never over octets still to be read.
	 */
	s = lim = out->len;
	dst = out->len + bare;
	while (dst > s) {
		nl = memrchr(out->data, '\n', lim);
		if (nl == NULL)
			break;		/* cannot happen: bare was counted */
		i = (size_t)(nl - out->data);
		lim = i;
		if (i > 0 && out->data[i - 1] == '\r')
			continue;
		n = s - i - 1;
		memmove(out->data + dst - n, out->data + i + 1, n);
		dst -= n;
		out->data[--dst] = '\n';
		out->data[--dst] = '\r';
		s = i;
	}
	out->len += bare;
	out->data[out->len] = '\0';
	return 0;
}

/* read_text - the message (or its header) as CRLF text; -1 with errno */
static int
read_text(struct imapd *d, struct imapd_msg *m, struct buf *out, int head)
{
	struct stat st;
	size_t want = 0, pos = 0, hend = 0;
	ssize_t r;
	int fd, bol = 1, e;

	buf_reset(out);
	out->max = (size_t)d->cfg->message_size_limit * 2 + 65536;
	if ((fd = index_open_msg(&d->box, m)) < 0)
		return -1;
	if (!head && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0) {
		want = (size_t)st.st_size;
		/* RFC822.SIZE is what it grows to: reserve that at once. */
		if (m->vsize < out->max && m->vsize > want)
			(void)buf_reserve(out, (size_t)m->vsize);
	}
	for (;;) {
		size_t room;

		if (head)	/* 8 kB, then doubling, in steps of 256 kB */
			room = out->len < IMAPD_READ_HEAD ? IMAPD_READ_HEAD :
			    out->len < IMAPD_READ_CHUNK ? out->len :
			    IMAPD_READ_CHUNK;
		else
			room = want > out->len ? want - out->len :
			    IMAPD_READ_CHUNK;
		if (room > out->max - out->len)
			room = out->max - out->len;
		if (room == 0 || buf_reserve(out, room) < 0) {
			e = ENOBUFS;
			goto fail;
		}
		r = read(fd, out->data + out->len, room);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto fail;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		out->data[out->len] = '\0';
		if (head && (hend = header_end(out->data, out->len, &pos,
		    &bol)) > 0) {
			buf_truncate(out, hend);
			break;
		}
		/* A Maildir file does not change: its size says it is all. */
		if (!head && want > 0 && out->len == want)
			break;
	}
	(void)close(fd);
	if (widen_lf(out) < 0) {
		buf_reset(out);
		errno = ENOBUFS;
		return -1;
	}
	return 0;
fail:
	(void)close(fd);
	buf_reset(out);
	errno = e;
	return -1;
}

/* imapd_read_message - the message as CRLF text; -1 with errno */
int
imapd_read_message(struct imapd *d, struct imapd_msg *m, struct buf *out)
{
	return read_text(d, m, out, 0);
}

/*
 * imapd_read_header - the message's header block as CRLF text, up to and
 * with the first empty line (all of the message if it has none); reads
 * only that far. -1 with errno.
 */
int
imapd_read_header(struct imapd *d, struct imapd_msg *m, struct buf *out)
{
	return read_text(d, m, out, 1);
}

/* flags_line - "* N FETCH (FLAGS (...))" for message seq */
void
imapd_fetch_flags(struct imapd *d, size_t seq, int with_uid)
{
	struct imapd_msg *m = &d->box.v[seq - 1];
	struct buf b = BUF_INIT(4096);

	(void)buf_printf(&b, "* %zu FETCH (", seq);
	if (with_uid)
		(void)buf_printf(&b, "UID %u ", (unsigned)m->uid);
	(void)buf_append_str(&b, "FLAGS ");
	(void)index_flags_string(&d->box, IMAPD_SHOWN_FLAGS(d, m->flags),
	    m->kw, &b);
	(void)buf_append_str(&b, ")\r\n");
	imapd_send(d, b.data, b.len);
	buf_free(&b);
}

/* close_box - leave the selected state */
static void
close_box(struct imapd *d)
{
	if (d->have_box)
		index_close(&d->box);
	d->have_box = 0;
	d->exists = 0;
	d->recent_sent = 0;
	d->box_name[0] = '\0';
	d->state = IMAPD_AUTH;
	imap_seqset_free(&d->saved);
}

/* imapd_cmd_select - SELECT / EXAMINE name */
void
imapd_cmd_select(struct imapd *d, int examine)
{
	struct imap_cmd *c = &d->cmd;
	struct imapd_box *b = &d->box;
	const char *error = NULL;
	struct buf fl = BUF_INIT(4096);
	char name[IMAPD_NAME_MAX + 1];
	size_t i;
	int fd;

	if (imap_cmd_count(c) != 1 || !imap_arg_is_string(&c->args[0])) {
		imapd_bad(d, "Syntax: %s name", examine ? "EXAMINE" : "SELECT");
		return;
	}
	close_box(d);
	if (imapd_mailbox_in(d, c->args[0].s, c->args[0].len, name,
	    sizeof(name)) < 0 ||
	    folder_open(d, name, strlen(name), &fd, &error) < 0) {
		imapd_no(d, "%s", error != NULL && errno != EINVAL ? error :
		    "[CANNOT] Bad mailbox name");
		return;
	}
	if (index_open(fd, b, examine ? IMAPD_OPEN_READONLY :
	    IMAPD_OPEN_RECENT, &error) < 0) {
		(void)close(fd);
		imapd_log(d, LOG_WARNING, "select-failed", " error=\"%s\"",
		    error);
		imapd_no(d, "[UNAVAILABLE] Cannot open mailbox");
		return;
	}
	(void)close(fd);
	d->have_box = 1;
	d->state = IMAPD_SELECTED;
	(void)str_copy(d->box_name, sizeof(d->box_name), name);
	if (str_eq_nocase(d->box_name, "INBOX"))
		(void)str_copy(d->box_name, sizeof(d->box_name), "INBOX");
	d->exists = b->n;
	d->recent_sent = b->recent;
	(void)buf_append_str(&fl, "\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft");
	for (i = 0; i < b->nkw; i++)
		if (b->kw[i] != NULL)
			(void)buf_printf(&fl, " %s", b->kw[i]);
	imapd_printf(d, "* FLAGS (%s)\r\n", buf_cstr(&fl));
	imapd_printf(d, "* OK [PERMANENTFLAGS (%s%s)] Flags permitted\r\n",
	    examine ? "" : buf_cstr(&fl), examine ? "" : " \\*");
	imapd_printf(d, "* %zu EXISTS\r\n", b->n);
	if (d->rev2)
		imapd_list_selected(d);
	else
		imapd_printf(d, "* %u RECENT\r\n", (unsigned)b->recent);
	/* IMAP4rev2 dropped the UNSEEN response code (RFC 9051 E). */
	for (i = 0; i < b->n && !d->rev2; i++)
		if (!(b->v[i].flags & IMAP_FL_SEEN)) {
			imapd_printf(d, "* OK [UNSEEN %zu] First unseen\r\n",
			    i + 1);
			break;
		}
	imapd_printf(d, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
	    (unsigned)b->uidvalidity);
	imapd_printf(d, "* OK [UIDNEXT %u] Predicted next UID\r\n",
	    (unsigned)b->uidnext);
	buf_free(&fl);
	{
		struct buf k = BUF_INIT(1024);

		(void)log_kv_str(&k, "mailbox", d->box_name);
		imapd_log(d, LOG_INFO, "select", " step=6%s messages=%zu "
		    "readonly=%s", buf_cstr(&k), b->n, examine ? "yes" : "no");
		buf_free(&k);
	}
	imapd_ok(d, "[READ-%s] %s completed", examine ? "ONLY" : "WRITE",
	    examine ? "Examine" : "Select");
}

/* imapd_cmd_close - CLOSE (expunge silently) or UNSELECT */
void
imapd_cmd_close(struct imapd *d, int expunge)
{
	size_t i;

	if (imap_cmd_count(&d->cmd) != 0) {
		imapd_bad(d, "%s takes no arguments", expunge ? "CLOSE" :
		    "UNSELECT");
		return;
	}
	if (expunge && !d->box.readonly)
		for (i = 0; i < d->box.n; i++)
			if (d->box.v[i].flags & IMAP_FL_DELETED)
				(void)index_expunge(&d->box, &d->box.v[i]);
	close_box(d);
	imapd_ok(d, "%s completed", expunge ? "Close" : "Unselect");
}

/* imapd_cmd_expunge - EXPUNGE, and UID EXPUNGE set (UIDPLUS) */
void
imapd_cmd_expunge(struct imapd *d, int uid)
{
	struct imap_seqset set = { NULL, 0, 0 };
	size_t i, failed = 0;

	if (imap_cmd_count(&d->cmd) != (uid ? 1u : 0u)) {
		imapd_bad(d, "Syntax: %sEXPUNGE%s", uid ? "UID " : "",
		    uid ? " set" : "");
		return;
	}
	if (uid && imapd_msgset(d, &d->cmd.args[0], 1, &set) < 0)
		return;
	if (d->box.readonly) {
		imap_seqset_free(&set);
		imapd_no(d, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	for (i = 0; i < d->box.n; i++)
		if ((d->box.v[i].flags & IMAP_FL_DELETED) &&
		    (!uid || in_set(d, &set, i, 1)) &&
		    index_expunge(&d->box, &d->box.v[i]) < 0)
			failed++;
	imap_seqset_free(&set);
	imapd_updates(d, 1);
	if (failed > 0)
		imapd_no(d, "[UNAVAILABLE] Some messages were not expunged");
	else
		imapd_ok(d, "Expunge completed");
}

/* imapd_cmd_store - STORE set (+|-)FLAGS[.SILENT] flags */
void
imapd_cmd_store(struct imapd *d, int uid)
{
	struct imap_cmd *c = &d->cmd;
	struct imap_seqset set;
	const struct imap_arg *op;
	const char *error = NULL;
	uint8_t flags;
	uint32_t kw;
	size_t i, failed = 0;
	int mode, silent, r;

	if (imap_cmd_count(c) < 3 || c->args[1].type != IMAP_ARG_ATOM) {
		imapd_bad(d, "Syntax: STORE set (+|-)FLAGS[.SILENT] flags");
		return;
	}
	op = &c->args[1];
	if (imap_arg_is_atom(op, "FLAGS") ||
	    imap_arg_is_atom(op, "FLAGS.SILENT"))
		mode = 0;
	else if (imap_arg_is_atom(op, "+FLAGS") ||
	    imap_arg_is_atom(op, "+FLAGS.SILENT"))
		mode = 1;
	else if (imap_arg_is_atom(op, "-FLAGS") ||
	    imap_arg_is_atom(op, "-FLAGS.SILENT"))
		mode = -1;
	else {
		imapd_bad(d, "Unknown STORE item");
		return;
	}
	silent = op->len > 7 && op->s[op->len - 7] == '.';
	if (imap_arg_next(c, 2) != c->nargs && c->args[2].type ==
	    IMAP_ARG_LIST) {
		imapd_bad(d, "Syntax error in STORE flags");
		return;
	}
	if (imapd_msgset(d, &c->args[0], uid, &set) < 0)
		return;
	if (d->box.readonly) {
		imap_seqset_free(&set);
		imapd_no(d, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	/* Several bare flags are a list without parentheses (RFC 3501). */
	r = 0;
	flags = 0;
	kw = 0;
	for (i = 2; i < c->nargs && r == 0; i = imap_arg_next(c, i)) {
		uint8_t f;
		uint32_t k;

		r = imapd_parse_flags(d, c, i, &d->box, &f, &k, mode >= 0);
		flags |= f;
		kw |= k;
	}
	if (r < 0) {
		imap_seqset_free(&set);
		if (r == -2)
			imapd_no(d, "[LIMIT] Too many keywords");
		else
			imapd_bad(d, "Invalid flag");
		return;
	}
	for (i = 0; i < d->box.n && i < d->exists; i++) {
		struct imapd_msg *m = &d->box.v[i];
		uint8_t nf;
		uint32_t nk;

		if (!in_set(d, &set, i, uid) || m->gone)
			continue;
		nf = mode == 0 ? flags : mode > 0 ? (uint8_t)(m->flags |
		    flags) : (uint8_t)(m->flags & ~flags);
		nk = mode == 0 ? kw : mode > 0 ? m->kw | kw : m->kw & ~kw;
		nf &= (uint8_t)~IMAP_FL_RECENT;
		if (nf != (m->flags & ~IMAP_FL_RECENT) || nk != m->kw) {
			if (index_set_flags(&d->box, m, nf, nk, &error) < 0) {
				failed++;
				continue;
			}
		}
		m = &d->box.v[i];
		m->changed = 0;
		if (!silent || uid)
			imapd_fetch_flags(d, i + 1, uid);
	}
	imap_seqset_free(&set);
	imapd_updates(d, 0);
	if (failed > 0)
		imapd_no(d, "[EXPUNGEISSUED] Some messages could not be "
		    "changed");
	else
		imapd_ok(d, "Store completed");
}

/* write_message - text (CRLF or LF) into folder b as a new file */
static int
write_message(struct imapd_box *b, const char *text, size_t len,
    uint8_t flags, uint32_t kw, time_t date, struct buf *name_r,
    const char **error_r)
{
	struct maildir_msg *m = alloc_malloc(sizeof(*m));
	char letters[64];
	size_t i, s = 0;
	int r;

	imapd_info_letters("", flags, kw, letters, sizeof(letters));
	if (maildir_msg_begin(&b->md, m, error_r) < 0) {
		free(m);
		return -1;
	}
	/* CR LF becomes LF. */
	for (i = 0; i + 1 < len; i++)
		if (text[i] == '\r' && text[i + 1] == '\n') {
			if (maildir_msg_write(m, text + s, i - s) < 0)
				goto fail;
			s = i + 1;
		}
	if (maildir_msg_write(m, text + s, len - s) < 0)
		goto fail;
	r = maildir_msg_commit(m, 1, letters, name_r, error_r);
	free(m);
	if (r < 0)
		return -1;
	if (date != (time_t)-1) {
		struct timespec ts[2];

		ts[0].tv_sec = ts[1].tv_sec = date;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void)utimensat(b->md.cur_fd, buf_cstr(name_r), ts,
		    AT_SYMLINK_NOFOLLOW);
	}
	return 0;
fail:
	*error_r = "cannot write message";
	maildir_msg_abort(m);
	free(m);
	return -1;
}

/* uid_of - the UID a synced box gave the file name (search from the end) */
static uint32_t
uid_of(const struct imapd_box *b, const char *name)
{
	size_t i, blen = strcspn(name, ",:");

	for (i = b->n; i > 0; i--) {
		const char *n = index_name(b, &b->v[i - 1]);

		if (strncmp(n, name, blen) == 0 && (n[blen] == ',' ||
		    n[blen] == ':' || n[blen] == '\0'))
			return b->v[i - 1].uid;
	}
	return 0;
}

/* uid_set - append "a:b,c" for a list of ascending-ish UIDs */
static void
uid_set(struct buf *out, const uint32_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			(void)buf_append_char(out, ',');
		if (j > i)
			(void)buf_printf(out, "%u:%u", (unsigned)v[i],
			    (unsigned)v[j]);
		else
			(void)buf_printf(out, "%u", (unsigned)v[i]);
		i = j + 1;
	}
}

/* open_target - the folder a COPY or APPEND writes to */
static int
open_target(struct imapd *d, const struct imap_arg *a, struct imapd_box *t)
{
	const char *error = NULL;
	char name[IMAPD_NAME_MAX + 1];
	int fd;

	if (!imap_arg_is_string(a) || imapd_mailbox_in(d, a->s, a->len, name,
	    sizeof(name)) < 0 || folder_open(d, name, strlen(name), &fd,
	    &error) < 0) {
		if (error == NULL || errno == EINVAL)
			imapd_no(d, "[CANNOT] Bad mailbox name");
		else if (errno == ENOENT)
			imapd_no(d, "[TRYCREATE] No such mailbox");
		else
			imapd_no(d, "%s", error);
		return -1;
	}
	if (index_open(fd, t, 0, &error) < 0) {
		(void)close(fd);
		imapd_log(d, LOG_WARNING, "open-failed", " error=\"%s\"",
		    error);
		imapd_no(d, "[UNAVAILABLE] Cannot open mailbox");
		return -1;
	}
	(void)close(fd);
	return 0;
}

/* map_keywords - keyword bits of box from translated into box to */
static uint32_t
map_keywords(struct imapd_box *from, struct imapd_box *to, uint32_t kw)
{
	uint32_t out = 0;
	size_t i;
	int k;

	for (i = 0; i < IMAPD_KEYWORDS_MAX; i++)
		if ((kw & (1U << i)) && i < from->nkw && from->kw[i] != NULL &&
		    (k = index_keyword(to, from->kw[i], strlen(from->kw[i]),
		    1)) >= 0)
			out |= 1U << k;
	return out;
}

/* imapd_cmd_copy - COPY / MOVE set mailbox (and the UID forms) */
void
imapd_cmd_copy(struct imapd *d, int uid, int move)
{
	struct imap_cmd *c = &d->cmd;
	struct imap_seqset set;
	struct imapd_box t;
	struct buf text = BUF_INIT(0), name = BUF_INIT(MAILDIR_NAME_MAX);
	struct buf resp = BUF_INIT(1024 * 1024);
	char **names = NULL;
	uint32_t *src = NULL, *dst = NULL;
	const char *error = NULL;
	size_t i, n = 0, k;
	int failed = 0;

	if (imap_cmd_count(c) != 2) {
		imapd_bad(d, "Syntax: %s set mailbox", move ? "MOVE" : "COPY");
		return;
	}
	if (imapd_msgset(d, &c->args[0], uid, &set) < 0)
		return;
	if (move && d->box.readonly) {
		imap_seqset_free(&set);
		imapd_no(d, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (open_target(d, &c->args[1], &t) < 0) {
		imap_seqset_free(&set);
		return;
	}
	for (i = 0; i < d->box.n && i < d->exists && !failed; i++) {
		struct imapd_msg *m = &d->box.v[i];
		uint32_t kw;

		if (!in_set(d, &set, i, uid) || m->gone)
			continue;
		kw = map_keywords(&d->box, &t, m->kw);
		m = &d->box.v[i];
		if (imapd_read_message(d, m, &text) < 0 ||
		    write_message(&t, text.data != NULL ? text.data : "",
		    text.len, m->flags & (uint8_t)~IMAP_FL_RECENT, kw,
		    (time_t)d->box.v[i].idate, &name, &error) < 0) {
			failed = 1;
			break;
		}
		names = alloc_reallocarray(names, n + 1, sizeof(*names));
		src = alloc_reallocarray(src, n + 1, sizeof(*src));
		names[n] = alloc_strdup(buf_cstr(&name));
		src[n] = d->box.v[i].uid;
		n++;
	}
	buf_free(&text);
	buf_free(&name);
	if (!failed && n > 0 && index_sync(&t, 1, &error) == 0) {
		dst = alloc_reallocarray(NULL, n, sizeof(*dst));
		for (k = 0; k < n; k++)
			if ((dst[k] = uid_of(&t, names[k])) == 0)
				break;
		if (k == n) {
			(void)buf_printf(&resp, "[COPYUID %u ",
			    (unsigned)t.uidvalidity);
			uid_set(&resp, src, n);
			(void)buf_append_char(&resp, ' ');
			uid_set(&resp, dst, n);
			(void)buf_append_str(&resp, "] ");
		}
	}
	index_close(&t);
	if (failed) {
		imapd_log(d, LOG_WARNING, "copy-failed", " error=\"%s\"",
		    error != NULL ? error : "cannot read message");
		imapd_no(d, "[UNAVAILABLE] Cannot copy messages");
	} else if (move) {
		if (resp.len > 0)
			imapd_printf(d, "* OK %sMoved\r\n", buf_cstr(&resp));
		for (i = 0; i < d->box.n && i < d->exists; i++)
			if (in_set(d, &set, i, uid))
				(void)index_expunge(&d->box, &d->box.v[i]);
		imapd_updates(d, 1);
		imapd_ok(d, "Move completed");
	} else {
		imapd_updates(d, 0);
		imapd_ok(d, "%sCopy completed", buf_cstr(&resp));
	}
	for (k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(src);
	free(dst);
	buf_free(&resp);
	imap_seqset_free(&set);
}

/* imapd_cmd_append - APPEND mailbox [(flags)] [date-time] literal */
void
imapd_cmd_append(struct imapd *d)
{
	struct imap_cmd *c = &d->cmd;
	struct imapd_box t;
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX);
	const struct imap_arg *msg;
	const char *error = NULL;
	time_t date = (time_t)-1;
	uint8_t flags = 0;
	uint32_t kw = 0, uid;
	size_t i = 1;
	int have_flags = 0;

	if (imap_cmd_count(c) < 2) {
		imapd_bad(d, "Syntax: APPEND mailbox [(flags)] [date] message");
		return;
	}
	if (c->args[i].type == IMAP_ARG_LIST) {
		have_flags = 1;
		i = imap_arg_next(c, i);
	}
	if (i < c->nargs && c->args[i].type == IMAP_ARG_QUOTED) {
		if (imap_parse_datetime(c->args[i].s, c->args[i].len,
		    &date) < 0) {
			imapd_bad(d, "Invalid date-time");
			return;
		}
		i++;
	}
	if (i + 1 != c->nargs || c->args[i].type != IMAP_ARG_LITERAL) {
		imapd_bad(d, "Syntax: APPEND mailbox [(flags)] [date] {n}");
		return;
	}
	msg = &c->args[i];
	if (msg->len > d->cfg->message_size_limit) {
		imapd_no(d, "[TOOBIG] Message too large");
		return;
	}
	if (open_target(d, &c->args[0], &t) < 0)
		return;
	if (have_flags) {
		int r = imapd_parse_flags(d, c, 1, &t, &flags, &kw, 1);

		if (r < 0) {
			index_close(&t);
			if (r == -2)
				imapd_no(d, "[LIMIT] Too many keywords");
			else
				imapd_bad(d, "Invalid flag");
			return;
		}
	}
	if (write_message(&t, msg->s, msg->len, flags, kw, date, &name,
	    &error) < 0) {
		index_close(&t);
		buf_free(&name);
		imapd_log(d, LOG_WARNING, "append-failed", " error=\"%s\"",
		    error);
		imapd_no(d, "[UNAVAILABLE] Cannot store message");
		return;
	}
	if (index_sync(&t, 1, &error) < 0 ||
	    (uid = uid_of(&t, buf_cstr(&name))) == 0) {
		index_close(&t);
		buf_free(&name);
		imapd_updates(d, 0);
		imapd_ok(d, "Append completed");
		return;
	}
	imapd_updates(d, 0);
	imapd_ok(d, "[APPENDUID %u %u] Append completed",
	    (unsigned)t.uidvalidity, (unsigned)uid);
	index_close(&t);
	buf_free(&name);
}
