/*
 * NAME
 *	imapd-search - SEARCH and UID SEARCH
 *
 * SYNOPSIS
 *	void imapd_cmd_search(struct imapd *d, int uid);
 *
 * DESCRIPTION
 *	Every RFC 3501 search key (imapparse.h parses them) with CHARSET
 *	UTF-8 or US-ASCII. Strings match as case-insensitive (ASCII)
 *	substrings. HEADER, FROM, TO, CC, BCC and SUBJECT look at the
 *	unfolded value of the first field of that name; BODY looks at the
 *	body and TEXT at the whole message, as stored (no decoding of
 *	base64, quoted-printable or encoded words yet: see imapd(8)).
 *	BEFORE, ON and SINCE compare the internal date, SENT* the Date:
 *	field, by day in UTC. The text of a message is read only when a
 *	key needs it.
 *
 * DIAGNOSTICS
 *	"NO [BADCHARSET (UTF-8 US-ASCII)]" for another charset; BAD for
 *	syntax and "[LIMIT]" for the limits of imapparse.h.
 *
 * SECURITY
 *	Substring search is memmem() on lower-cased copies: linear.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imapd.h"
#include "log.h"
#include "mime.h"
#include "str.h"

struct sctx {
	struct imapd *d;
	struct imap_search *s;
	size_t seq;		/* 1-based */
	struct imapd_msg *m;
	struct buf text;
	int loaded;		/* text read (1) or unreadable (-1) */
	struct mime_msg mm;
};

/* load - the message's text and top-level parts, once */
static int
load(struct sctx *x)
{
	if (x->loaded == 0) {
		if (imapd_read_message(x->d, x->m, &x->text) < 0)
			x->loaded = -1;
		else {
			x->loaded = 1;
			(void)mime_parse(x->text.data != NULL ? x->text.data :
			    "", x->text.len, &x->mm);
		}
	}
	return x->loaded;
}

/* contains - needle in hay, ASCII case ignored */
static int
contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
	char *h, *n;
	size_t i;
	int r;

	if (nn == 0)
		return 1;
	if (nn > hn)
		return 0;
	h = malloc(hn);
	n = malloc(nn);
	if (h == NULL || n == NULL) {
		free(h);
		free(n);
		return 0;
	}
	for (i = 0; i < hn; i++)
		h[i] = (char)(hay[i] >= 'A' && hay[i] <= 'Z' ? hay[i] + 32 :
		    hay[i]);
	for (i = 0; i < nn; i++)
		n[i] = (char)(needle[i] >= 'A' && needle[i] <= 'Z' ?
		    needle[i] + 32 : needle[i]);
	r = memmem(h, hn, n, nn) != NULL;
	free(h);
	free(n);
	return r;
}

/* header_match - the named field contains str (unfolded) */
static int
header_match(struct sctx *x, const char *name, size_t nlen, const char *str,
    size_t slen)
{
	char field[IMAP_FIELD_MAX + 1];
	struct buf u = BUF_INIT(MIME_FIELD_MAX);
	const char *v;
	size_t vl, i;
	int r;

	if (load(x) < 0 || nlen > IMAP_FIELD_MAX)
		return 0;
	memcpy(field, name, nlen);
	field[nlen] = '\0';
	if (mime_header_find(x->mm.text, x->mm.v[0].hdr_len, field, &v,
	    &vl) < 0)
		return 0;
	for (i = 0; i < vl; i++)
		if (v[i] != '\r' && v[i] != '\n')
			(void)buf_append_char(&u, v[i]);
	r = contains(u.data != NULL ? u.data : "", u.len, str, slen);
	buf_free(&u);
	return r;
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

	if (load(x) < 0 || mime_header_find(x->mm.text, x->mm.v[0].hdr_len,
	    "Date", &v, &vl) < 0)
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
	const struct imapd_msg *m = x->m;
	time_t day;
	int c, kw;

	switch (n->key) {
	case IMAP_K_AND:
		for (c = n->child; c >= 0; c = x->s->v[c].next)
			if (!eval(x, c))
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
		return header_match(x, n->hdr, n->hdr_len, n->str, n->str_len);
	case IMAP_K_BODY:
		if (load(x) < 0)
			return 0;
		return contains(x->mm.text + x->mm.v[0].body_off,
		    x->mm.v[0].body_len, n->str, n->str_len);
	case IMAP_K_TEXT:
		if (load(x) < 0)
			return 0;
		return contains(x->mm.text, x->mm.len, n->str, n->str_len);
	}
	return 0;
}

/* imapd_cmd_search - SEARCH [CHARSET c] keys; UID SEARCH */
void
imapd_cmd_search(struct imapd *d, int uid)
{
	struct imap_search s;
	struct sctx x;
	struct buf out = BUF_INIT((size_t)-1 / 2);
	const char *error;
	uint32_t star = d->box.n > 0 ? d->box.v[d->box.n - 1].uid : 0;
	size_t i;

	if (imap_search_parse(&d->cmd, 0, &s, &error) < 0) {
		if (errno == ENOENT)
			imapd_no(d, "%s", error);
		else
			imapd_bad(d, "%s%s", errno == E2BIG ? "[LIMIT] " : "",
			    error);
		return;
	}
	for (i = 0; i < s.n; i++) {
		if (s.v[i].key == IMAP_K_SEQ)
			imap_seqset_resolve(&s.v[i].set, (uint32_t)d->exists);
		else if (s.v[i].key == IMAP_K_UID)
			imap_seqset_resolve(&s.v[i].set, star);
	}
	memset(&x, 0, sizeof(x));
	x.d = d;
	x.s = &s;
	buf_init(&x.text, 0);
	(void)buf_append_str(&out, "* SEARCH");
	for (i = 0; i < d->box.n && i < d->exists; i++) {
		x.m = &d->box.v[i];
		x.seq = i + 1;
		x.loaded = 0;
		if (!x.m->gone && eval(&x, 0))
			(void)buf_printf(&out, " %u", uid ?
			    (unsigned)d->box.v[i].uid : (unsigned)(i + 1));
		if (x.loaded > 0)
			mime_free(&x.mm);
	}
	(void)buf_append_str(&out, "\r\n");
	imapd_send(d, out.data, out.len);
	buf_free(&out);
	buf_free(&x.text);
	imap_search_free(&s);
	imapd_updates(d, uid);
	imapd_ok(d, "Search completed");
}
