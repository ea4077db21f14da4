/*
 * NAME
 *	imapd-search - SEARCH and UID SEARCH
 *
 * SYNOPSIS
 *	void imapd_cmd_search(struct imapd *d, int uid);
 *
 * DESCRIPTION
 *	Every RFC 3501 search key (imapparse.h parses them) with CHARSET
 *	UTF-8 or US-ASCII. Strings match as case-insensitive substrings of
 *	the decoded text, in UTF-8: ASCII letters and the Latin-1 letters
 *	(U+00C0-U+00DE) fold to lower case. HEADER, FROM, TO, CC, BCC and
 *	SUBJECT look at the unfolded value of the first field of that name
 *	with its RFC 2047 encoded words decoded (decode_words()), kept per
 *	folder and field once read (imapd-cache.c), so that the next SEARCH
 *	on that field reads no message it has seen. BODY
 *	looks at the bodies of the text parts (text/..., or no
 *	Content-Type), each decoded from its Content-Transfer-Encoding and
 *	converted from its charset (UTF-8, US-ASCII, ISO-8859-1; a part in
 *	another charset is searched as it is), and at the decoded headers
 *	of attached messages (message/rfc822); other parts (images,
 *	application/...) are not searched. TEXT is the decoded header of
 *	the message and BODY's text. A part whose body does not decode is
 *	searched as it is stored. BEFORE, ON and SINCE compare the internal
 *	date, SENT* the Date: field, by day in UTC. The text of a message
 *	is read, parsed and decoded only when a key needs it, once per
 *	message: when no key is BODY or TEXT only its header block is read
 *	(up to the first empty line) and it is not MIME-parsed; the keys of
 *	an AND that need only the index (flags, UID, dates, sizes) are
 *	tried before those that read the file.
 *
 *	Results: "* SEARCH n..." (RFC 3501), or "* ESEARCH (TAG "t") [UID]
 *	[MIN n] [MAX n] [ALL set] [COUNT n]" (RFC 4731) when RETURN (...)
 *	was given or the session ENABLEd IMAP4rev2 (then SEARCH without
 *	RETURN is RETURN (ALL)). RETURN (SAVE) (RFC 5182) keeps the UIDs
 *	found (only the MIN and MAX ones if MIN or MAX come without ALL or
 *	COUNT) as "$" for later commands, until the next SAVE or the
 *	mailbox is closed; SAVE alone answers no ESEARCH, a SEARCH with SAVE
 *	that fails leaves "$" empty. "$" as a search
 *	key (or UID $) matches the saved messages.
 *
 * DIAGNOSTICS
 *	"NO [BADCHARSET (UTF-8 US-ASCII)]" for another charset; BAD for
 *	syntax and "[LIMIT]" for the limits of imapparse.h.
 *
 * SECURITY
 *	Substring search is memmem() on folded copies: linear. Decoding
 *	never grows text by more than twice (decode.h), and MIME structure
 *	is bounded by mime.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "decode.h"
#include "imapd.h"
#include "log.h"
#include "mime.h"
#include "str.h"

#define SEARCH_CACHES	4	/* header fields with a cache, a SEARCH */

struct sctx {
	struct imapd *d;
	struct imap_search *s;
	size_t seq;		/* 1-based */
	struct imapd_msg *m;
	struct buf text;
	int loaded;		/* text read (1) or unreadable (-1) */
	int head_only;		/* no key needs more than the header */
	const char *hdr;	/* the top-level header block, once loaded */
	size_t hdr_len;
	struct mime_msg mm;	/* the parts (not when head_only) */
	unsigned char *reads;	/* per node: it (or a child) reads the file */
	struct buf *needles;	/* per node: its string, folded */
	struct buf fbody;	/* BODY's decoded text, folded */
	struct buf fhdr;	/* TEXT's decoded header, folded */
	int body_done, hdr_done;
	struct fcache cache[SEARCH_CACHES];	/* per header field */
	size_t ncache;
	int *cache_of;		/* per node: its cache, or -1 */
};

#define SEARCH_TEXT_MAX	IMAPD_FOLD_MAX	/* decoded text */

/*
 * load - the message's text and top-level parts, once; only its header
 * block (read up to the first empty line, not parsed) when head_only
 */
static int
load(struct sctx *x)
{
	int r;

	if (x->loaded != 0)
		return x->loaded;
	r = x->head_only ? imapd_read_header(x->d, x->m, &x->text) :
	    imapd_read_message(x->d, x->m, &x->text);
	x->m = &x->d->box.v[x->seq - 1];	/* opening may have synced */
	if (r < 0) {
		x->loaded = -1;
		return -1;
	}
	x->loaded = 1;
	x->hdr = x->text.data != NULL ? x->text.data : "";
	x->hdr_len = x->text.len;
	if (!x->head_only) {
		(void)mime_parse(x->hdr, x->text.len, &x->mm);
		x->hdr_len = x->mm.v[0].hdr_len;
	}
	return 1;
}

/* reads_file - does node k (or a node under it) need the message file? */
static int
reads_file(const struct imap_search *s, int k, int *body_r)
{
	const struct imap_search_node *n = &s->v[k];
	int c, r = 0;

	switch (n->key) {
	case IMAP_K_AND:
	case IMAP_K_OR:
	case IMAP_K_NOT:
		for (c = n->child; c >= 0; c = s->v[c].next)
			r |= reads_file(s, c, body_r);
		return r;
	case IMAP_K_BODY:
	case IMAP_K_TEXT:
		*body_r = 1;
		return 1;
	case IMAP_K_HEADER:
	case IMAP_K_SENTBEFORE:
	case IMAP_K_SENTON:
	case IMAP_K_SENTSINCE:
		return 1;
	default:
		return 0;
	}
}

/* contains_mem - the folded needle in the folded hay[0..n-1] */
static int
contains_mem(const char *hay, size_t n, const struct buf *needle)
{
	if (needle->len == 0)
		return 1;
	if (hay == NULL || needle->len > n)
		return 0;
	return memmem(hay, n, needle->data, needle->len) != NULL;
}

/* contains - the folded needle in the folded hay */
static int
contains(const struct buf *hay, const struct buf *needle)
{
	return contains_mem(hay->data, hay->len, needle);
}

/*
 * header_match - node k's field, decoded, contains its folded needle; the
 * value from the folder's cache when kept there, else read and kept
 */
static int
header_match(struct sctx *x, int k)
{
	const struct imap_search_node *n = &x->s->v[k];
	struct fcache *c = x->cache_of[k] >= 0 ? &x->cache[x->cache_of[k]] :
	    NULL;
	struct buf u = BUF_INIT(2 * MIME_FIELD_MAX + 16);
	const char *v;
	size_t vl;
	int r;

	if (c != NULL && fcache_get(c, x->m->uid, &v, &vl) == 1)
		return v != NULL && contains_mem(v, vl, &x->needles[k]);
	if (load(x) < 0)
		return 0;
	r = fcache_value(x->hdr, x->hdr_len, n->hdr, n->hdr_len, &u);
	if (c != NULL && r >= 0)
		fcache_put(c, x->m->uid, r, u.data != NULL ? u.data : "",
		    u.len);
	r = r > 0 && contains(&u, &x->needles[k]);
	buf_free(&u);
	return r;
}

/* open_caches - a cache for each header field the search names */
static void
open_caches(struct sctx *x)
{
	const struct imap_search_node *n;
	size_t i, j;

	for (i = 0; i < x->s->n; i++) {
		x->cache_of[i] = -1;
		n = &x->s->v[i];
		if (n->key != IMAP_K_HEADER)
			continue;
		for (j = 0; j < x->ncache; j++)
			if (strlen(x->cache[j].name) == FCACHE_PREFIX_LEN +
			    n->hdr_len && str_eq_nocase_n(x->cache[j].name +
			    FCACHE_PREFIX_LEN, n->hdr, n->hdr_len))
				break;
		if (j == x->ncache) {
			if (x->ncache == SEARCH_CACHES)
				continue;
			fcache_open(&x->cache[j], &x->d->box, n->hdr,
			    n->hdr_len);
			if (x->cache[j].name[0] == '\0') {
				fcache_close(&x->cache[j], &x->d->box);
				continue;
			}
			x->ncache++;
		}
		x->cache_of[i] = (int)j;
	}
}

/* is_text - a leaf part BODY searches: text/..., or no Content-Type */
static int
is_text(const struct mime_part *pt)
{
	return pt->defaulted || strcmp(pt->type, "text") == 0;
}

/* part_text - append a leaf part's body, decoded to UTF-8 when we can */
static void
part_text(struct sctx *x, int part, struct buf *out)
{
	const struct mime_part *pt = &x->mm.v[part];
	const char *body = x->mm.text + pt->body_off, *v;
	struct buf dec = BUF_INIT(SEARCH_TEXT_MAX);
	char cte[64], cs[64];
	size_t vl;

	cte[0] = '\0';
	if (mime_header_find(x->mm.text + pt->hdr_off, pt->hdr_len,
	    "Content-Transfer-Encoding", &v, &vl) == 0 &&
	    str_copy_n(cte, sizeof(cte), v, vl) < 0)
		cte[0] = '\0';
	if (decode_cte(cte, body, pt->body_len, &dec, NULL) < 0) {
		buf_reset(&dec);
		(void)buf_append(&dec, body, pt->body_len);
	}
	if (mime_part_charset(&x->mm, part, cs, sizeof(cs)) < 0)
		cs[0] = '\0';
	{
		struct buf u = BUF_INIT(SEARCH_TEXT_MAX);

		if (decode_charset(cs, strlen(cs), dec.data != NULL ?
		    dec.data : "", dec.len, &u) < 0) {
			buf_reset(&u);
			(void)buf_append(&u, dec.data != NULL ? dec.data : "",
			    dec.len);
		}
		(void)imapd_fold(out, u.data != NULL ? u.data : "", u.len);
		(void)buf_append_char(out, '\n');
		buf_free(&u);
	}
	buf_free(&dec);
}

/* walk_body - BODY's text of part and everything below it */
static void
walk_body(struct sctx *x, int part, int depth)
{
	const struct mime_part *pt = &x->mm.v[part];
	int c;

	if (depth > MIME_DEPTH_MAX + 2)
		return;
	if (mime_is_message(&x->mm, part)) {
		c = pt->child;
		imapd_fold_words(x->mm.text + x->mm.v[c].hdr_off,
		    x->mm.v[c].hdr_len, &x->fbody);
		walk_body(x, c, depth + 1);
		return;
	}
	if (pt->child >= 0) {
		for (c = pt->child; c >= 0; c = x->mm.v[c].next)
			walk_body(x, c, depth + 1);
		return;
	}
	if (is_text(pt))
		part_text(x, part, &x->fbody);
}

/* body_text - the message's BODY text, built once */
static const struct buf *
body_text(struct sctx *x)
{
	if (!x->body_done && load(x) > 0) {
		walk_body(x, 0, 0);
		x->body_done = 1;
	}
	return &x->fbody;
}

/* header_text - the message's header, decoded and folded, built once */
static const struct buf *
header_text(struct sctx *x)
{
	if (!x->hdr_done && load(x) > 0) {
		imapd_fold_words(x->mm.text, x->mm.v[0].hdr_len, &x->fhdr);
		x->hdr_done = 1;
	}
	return &x->fhdr;
}

/* sent_day - the day of the Date: field, midnight UTC; -1 if none */
static time_t
sent_day(struct sctx *x)
{
	static const char mon[12][4] = { "jan", "feb", "mar", "apr", "may",
	    "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
	const char *v;
	size_t vl, i = 0, k;
	int day = 0, year = 0, month = -1, nd = 0;
	struct tm tm;

	if (load(x) < 0 || mime_header_find(x->hdr, x->hdr_len, "Date", &v,
	    &vl) < 0)
		return -1;
	/* [ day-name "," ] day month year ... */
	for (k = 0; k < vl && k < 20; k++)
		if (v[k] == ',') {
			i = k + 1;
			break;
		}
	while (i < vl && (v[i] == ' ' || v[i] == '\t'))
		i++;
	while (i < vl && v[i] >= '0' && v[i] <= '9' && nd < 2) {
		day = day * 10 + (v[i++] - '0');
		nd++;
	}
	while (i < vl && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (vl - i < 3)
		return -1;
	for (k = 0; k < 12; k++)
		if (str_eq_nocase_n(v + i, mon[k], 3))
			month = (int)k;
	i += 3;
	while (i < vl && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (nd = 0; i < vl && v[i] >= '0' && v[i] <= '9' && nd < 4; nd++)
		year = year * 10 + (v[i++] - '0');
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	if (day < 1 || day > 31 || month < 0 || year < 1900)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	tm.tm_mon = month;
	tm.tm_year = year - 1900;
	return timegm(&tm);
}

/* eval - does the message match node k? */
static int
eval(struct sctx *x, int k)
{
	const struct imap_search_node *n = &x->s->v[k];
	const struct buf *needle = &x->needles[k];
	const struct imapd_msg *m = x->m;
	time_t day;
	int c, kw;

	switch (n->key) {
	case IMAP_K_AND:
		/* Keys on the index first: a miss there saves the read. */
		for (c = n->child; c >= 0; c = x->s->v[c].next)
			if (!x->reads[c] && !eval(x, c))
				return 0;
		for (c = n->child; c >= 0; c = x->s->v[c].next)
			if (x->reads[c] && !eval(x, c))
				return 0;
		return 1;
	case IMAP_K_OR:
		return eval(x, n->child) || eval(x, x->s->v[n->child].next);
	case IMAP_K_NOT:
		return !eval(x, n->child);
	case IMAP_K_SEQ:
		return imap_seqset_contains(&n->set, (uint32_t)x->seq);
	case IMAP_K_UID:
		return imap_seqset_contains(&n->set, m->uid);
	case IMAP_K_FLAG:
		return (m->flags & n->num) != 0;
	case IMAP_K_UNFLAG:
		return (m->flags & n->num) == 0;
	case IMAP_K_KEYWORD:
	case IMAP_K_UNKEYWORD:
		kw = index_keyword(&x->d->box, n->str, n->str_len, 0);
		c = kw >= 0 && (m->kw & (1U << kw)) != 0;
		return n->key == IMAP_K_KEYWORD ? c : !c;
	case IMAP_K_NEW:
		return (m->flags & IMAP_FL_RECENT) &&
		    !(m->flags & IMAP_FL_SEEN);
	case IMAP_K_OLD:
		return !(m->flags & IMAP_FL_RECENT);
	case IMAP_K_BEFORE:
		return m->idate < n->date;
	case IMAP_K_ON:
		return m->idate >= n->date && m->idate < n->date + 86400;
	case IMAP_K_SINCE:
		return m->idate >= n->date;
	case IMAP_K_SENTBEFORE:
	case IMAP_K_SENTON:
	case IMAP_K_SENTSINCE:
		if ((day = sent_day(x)) == (time_t)-1)
			return 0;
		return n->key == IMAP_K_SENTBEFORE ? day < n->date :
		    n->key == IMAP_K_SENTON ? day == n->date : day >= n->date;
	case IMAP_K_LARGER:
		return m->vsize > n->num;
	case IMAP_K_SMALLER:
		return m->vsize < n->num;
	case IMAP_K_HEADER:
		return header_match(x, k);
	case IMAP_K_BODY:
		if (load(x) < 0)
			return 0;
		return contains(body_text(x), needle);
	case IMAP_K_TEXT:
		if (load(x) < 0)
			return 0;
		return contains(header_text(x), needle) ||
		    contains(body_text(x), needle);
	case IMAP_K_SAVED:
		return imap_seqset_contains(&x->d->saved, m->uid);
	}
	return 0;
}

/* reset_msg - forget what was loaded for the last message */
static void
reset_msg(struct sctx *x)
{
	if (x->loaded > 0 && !x->head_only)
		mime_free(&x->mm);
	x->loaded = 0;
	x->body_done = x->hdr_done = 0;
	buf_reset(&x->fbody);
	buf_reset(&x->fhdr);
}

/* esearch - "* ESEARCH (TAG ..) [UID] ..." for the results in hits */
static void
esearch(struct imapd *d, const struct imap_search *s, int uid,
    const struct imap_seqset *hits, size_t count)
{
	struct buf out = BUF_INIT((size_t)-1 / 2);

	(void)buf_append_str(&out, "* ESEARCH (TAG ");
	(void)imap_write_string(&out, d->tag, strlen(d->tag));
	(void)buf_append_char(&out, ')');
	if (uid)
		(void)buf_append_str(&out, " UID");
	if (count > 0 && (s->ret & IMAP_RET_MIN))
		(void)buf_printf(&out, " MIN %u", (unsigned)hits->v[0].lo);
	if (count > 0 && (s->ret & IMAP_RET_MAX))
		(void)buf_printf(&out, " MAX %u",
		    (unsigned)hits->v[hits->n - 1].hi);
	if (count > 0 && (s->ret & IMAP_RET_ALL)) {
		(void)buf_append_str(&out, " ALL ");
		(void)imap_seqset_write(hits, &out);
	}
	if (s->ret & IMAP_RET_COUNT)
		(void)buf_printf(&out, " COUNT %zu", count);
	(void)buf_append_str(&out, "\r\n");
	imapd_send(d, out.data, out.len);
	buf_free(&out);
}

/* save_result - SEARCHRES: keep the UIDs found (or just MIN / MAX) */
static void
save_result(struct imapd *d, const struct imap_search *s,
    const struct imap_seqset *uids)
{
	imap_seqset_free(&d->saved);
	if ((s->ret & (IMAP_RET_ALL | IMAP_RET_COUNT)) == 0 &&
	    (s->ret & (IMAP_RET_MIN | IMAP_RET_MAX)) != 0) {
		if (uids->n == 0)
			return;
		if (s->ret & IMAP_RET_MIN)
			imap_seqset_add(&d->saved, uids->v[0].lo,
			    uids->v[0].lo);
		if (s->ret & IMAP_RET_MAX)
			imap_seqset_add(&d->saved, uids->v[uids->n - 1].hi,
			    uids->v[uids->n - 1].hi);
	} else {
		size_t i;

		for (i = 0; i < uids->n; i++)
			imap_seqset_add(&d->saved, uids->v[i].lo,
			    uids->v[i].hi);
	}
	imap_seqset_resolve(&d->saved, 0);
}

/* asks_save - the command starts "RETURN (... SAVE ...)" */
static int
asks_save(const struct imap_cmd *c)
{
	size_t k, end;

	if (c->nargs < 2 || !imap_arg_is_atom(&c->args[0], "RETURN") ||
	    c->args[1].type != IMAP_ARG_LIST)
		return 0;
	end = imap_arg_next(c, 1);
	for (k = 2; k < end; k = imap_arg_next(c, k))
		if (imap_arg_is_atom(&c->args[k], "SAVE"))
			return 1;
	return 0;
}

/* imapd_cmd_search - SEARCH [RETURN (..)] [CHARSET c] keys; UID SEARCH */
void
imapd_cmd_search(struct imapd *d, int uid)
{
	struct imap_search s;
	struct sctx x;
	struct imap_seqset hits = { NULL, 0, 0 }, uids = { NULL, 0, 0 };
	struct buf out = BUF_INIT((size_t)-1 / 2);
	const char *error;
	uint32_t star = d->box.n > 0 ? d->box.v[d->box.n - 1].uid : 0;
	size_t i, count = 0;
	int ext, body;

	if (imap_search_parse(&d->cmd, 0, &s, &error) < 0) {
		/* RFC 5182 2.1: a failed SEARCH ... SAVE empties "$". */
		if (asks_save(&d->cmd))
			imap_seqset_free(&d->saved);
		if (errno == ENOENT)
			imapd_no(d, "%s", error);
		else
			imapd_bad(d, "%s%s", errno == E2BIG ? "[LIMIT] " : "",
			    error);
		return;
	}
	ext = s.ret_given || d->rev2;
	if (!s.ret_given)
		s.ret = IMAP_RET_ALL;
	memset(&x, 0, sizeof(x));
	x.d = d;
	x.s = &s;
	buf_init(&x.text, 0);
	buf_init(&x.fbody, SEARCH_TEXT_MAX);
	buf_init(&x.fhdr, SEARCH_TEXT_MAX);
	x.needles = alloc_calloc(s.n > 0 ? s.n : 1, sizeof(*x.needles));
	x.reads = alloc_calloc(s.n > 0 ? s.n : 1, sizeof(*x.reads));
	body = 0;
	for (i = 0; i < s.n; i++)
		x.reads[i] = (unsigned char)reads_file(&s, (int)i, &body);
	x.head_only = !body;
	x.cache_of = alloc_calloc(s.n > 0 ? s.n : 1, sizeof(*x.cache_of));
	open_caches(&x);
	for (i = 0; i < s.n; i++) {
		buf_init(&x.needles[i], (size_t)-1 / 2);
		if (s.v[i].str != NULL)
			(void)imapd_fold(&x.needles[i], s.v[i].str,
			    s.v[i].str_len);
		if (s.v[i].key == IMAP_K_SEQ)
			imap_seqset_resolve(&s.v[i].set, (uint32_t)d->exists);
		else if (s.v[i].key == IMAP_K_UID)
			imap_seqset_resolve(&s.v[i].set, star);
	}
	(void)buf_append_str(&out, "* SEARCH");
	for (i = 0; i < d->box.n && i < d->exists; i++) {
		x.m = &d->box.v[i];
		x.seq = i + 1;
		if (!x.m->gone && eval(&x, 0)) {
			uint32_t v = uid ? d->box.v[i].uid : (uint32_t)(i + 1);

			if (!ext)
				(void)buf_printf(&out, " %u", (unsigned)v);
			imap_seqset_add(&hits, v, v);
			imap_seqset_add(&uids, d->box.v[i].uid,
			    d->box.v[i].uid);
			count++;
		}
		reset_msg(&x);
	}
	(void)buf_append_str(&out, "\r\n");
	if (!ext)
		imapd_send(d, out.data, out.len);
	else if (s.ret != IMAP_RET_SAVE)
		esearch(d, &s, uid, &hits, count);
	if (s.ret & IMAP_RET_SAVE)
		save_result(d, &s, &uids);
	buf_free(&out);
	buf_free(&x.text);
	buf_free(&x.fbody);
	buf_free(&x.fhdr);
	for (i = 0; i < s.n; i++)
		buf_free(&x.needles[i]);
	free(x.needles);
	free(x.reads);
	for (i = 0; i < x.ncache; i++)
		fcache_close(&x.cache[i], &d->box);
	free(x.cache_of);
	imap_seqset_free(&hits);
	imap_seqset_free(&uids);
	imap_search_free(&s);
	imapd_updates(d, uid);
	imapd_ok(d, "Search completed");
}
