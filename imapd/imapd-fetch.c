/*
 * NAME
 *	imapd-fetch - FETCH and UID FETCH
 *
 * SYNOPSIS
 *	void imapd_cmd_fetch(struct imapd *d, int uid);
 *
 * DESCRIPTION
 *	FETCH set attributes: FLAGS, UID, INTERNALDATE, RFC822.SIZE,
 *	ENVELOPE, BODYSTRUCTURE, BODY, BODY[section]<partial>, BODY.PEEK,
 *	RFC822, RFC822.HEADER, RFC822.TEXT and the macros ALL, FAST, FULL.
 *	A message's text is read (as CRLF text) only when an attribute
 *	needs it, and parsed with mime.h only when an attribute needs its
 *	structure (not for BODY[], BINARY[] or RFC822 alone). A literal of
 *	4 kB or more goes to the client without a copy into the reply.
 *	ENVELOPE also keeps Subject and From in the folder's SEARCH cache
 *	(imapd-cache.c). BODY[...] without .PEEK, RFC822 and RFC822.TEXT set
 *	\Seen (not in an EXAMINEd mailbox) and report the new FLAGS. A part
 *	that does not exist is the empty string. Messages whose files went
 *	away since the last report are skipped.
 *
 *	BINARY[section]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516):
 *	the part's body decoded from its Content-Transfer-Encoding
 *	(decode.h); BINARY[] is the whole message as it is. The data is a
 *	literal8 ("~{n}") only if it holds a NUL octet. BINARY without
 *	.PEEK sets \Seen like BODY. A part whose encoding is unknown or
 *	cannot be decoded makes the command end "NO [UNKNOWN-CTE]"; that
 *	message is left out of the replies (and its \Seen unchanged).
 *	MODSEQ is parsed but answered with NO: CONDSTORE is not offered.
 *
 * DIAGNOSTICS
 *	A message that cannot be read is logged and left out; the command
 *	ends "NO [UNAVAILABLE]" then. A BINARY section that cannot be
 *	decoded ends it "NO [UNKNOWN-CTE]" (that takes precedence).
 *
 * SECURITY
 *	Output sizes are the message's; nothing is interpreted but MIME
 *	structure (mime.h, bounded) and transfer encodings (decode.h, whose
 *	output is never larger than its input).
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

#define CTE_NAME_MAX	64	/* longer Content-Transfer-Encodings: unknown */

/* write_date - INTERNALDATE "dd-Mon-yyyy hh:mm:ss +0000" */
static void
write_date(struct buf *b, int64_t t)
{
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"",
	    tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

#define FETCH_DIRECT_MIN	4096	/* longer literals skip the reply buf */

/*
 * literal - "{n}\r\n" and the octets; a long literal is sent straight
 * after what b holds (b is sent and emptied), not copied into b first
 */
static void
literal(struct imapd *d, struct buf *b, const char *p, size_t n)
{
	(void)buf_printf(b, "{%zu}\r\n", n);
	d->sent_octets += n;
	if (n >= FETCH_DIRECT_MIN) {
		imapd_send(d, b->data, b->len);
		buf_reset(b);
		imapd_send(d, p, n);
		return;
	}
	(void)buf_append(b, p, n);
}

/* whole_text - the item needs the message's text but not its structure */
static int
whole_text(const struct imap_fetch_item *it)
{
	switch (it->kind) {
	case IMAP_F_RFC822:
		return 1;
	case IMAP_F_SECTION:
		return it->nparts == 0 && it->what == IMAP_S_ALL;
	case IMAP_F_BINARY:
	case IMAP_F_BINARY_SIZE:
		return it->nparts == 0;
	default:
		return 0;
	}
}

/* literal8 - "~{n}\r\n" and the octets if they hold a NUL, else literal() */
static void
literal8(struct imapd *d, struct buf *b, const char *p, size_t n)
{
	if (n > 0 && memchr(p, '\0', n) != NULL) {
		(void)buf_printf(b, "~{%zu}\r\n", n);
		(void)buf_append(b, p, n);
		d->sent_octets += n;
	} else
		literal(d, b, p, n);
}

/*
 * binary_section - the octets a BINARY[...] item names, decoded, into dec;
 * -1 with errno and *error_r if the part's encoding is unknown or its body
 * cannot be decoded
 */
static int
binary_section(const struct mime_msg *mm, const struct imap_fetch_item *it,
    struct buf *dec, const char **error_r)
{
	const struct mime_part *pt;
	const char *v;
	char cte[CTE_NAME_MAX];
	size_t vl;
	int part = 0;

	buf_reset(dec);
	if (it->nparts == 0) {
		if (mm->len > 0 && buf_append(dec, mm->text, mm->len) < 0) {
			*error_r = "Message too large";
			return -1;
		}
		return 0;
	}
	if (mime_find_part(mm, it->part, it->nparts, &part) < 0)
		return 0;
	pt = &mm->v[part];
	cte[0] = '\0';
	if (mime_header_find(mm->text + pt->hdr_off, pt->hdr_len,
	    "Content-Transfer-Encoding", &v, &vl) == 0 &&
	    str_copy_n(cte, sizeof(cte), v, vl) < 0)
		(void)str_copy(cte, sizeof(cte), "x-too-long");
	return decode_cte(cte, mm->text + pt->body_off, pt->body_len, dec,
	    error_r);
}

/* section - the octets a BODY[...] item names */
static void
section(const struct mime_msg *mm, const struct imap_fetch_item *it,
    struct buf *tmp, const char **p_r, size_t *n_r)
{
	const char *t = mm->text;
	const struct mime_part *pt;
	const char **names;
	size_t *lens, k;
	int part = 0, msg = 0;

	*p_r = "";
	*n_r = 0;
	if (it->nparts > 0) {
		if (mime_find_part(mm, it->part, it->nparts, &part) < 0)
			return;
		if (it->what == IMAP_S_MIME) {
			*p_r = t + mm->v[part].hdr_off;
			*n_r = mm->v[part].hdr_len;
			return;
		}
		if (it->what == IMAP_S_ALL) {
			*p_r = t + mm->v[part].body_off;
			*n_r = mm->v[part].body_len;
			return;
		}
		if (!mime_is_message(mm, part))
			return;
		msg = mm->v[part].child;
	} else if (it->what == IMAP_S_ALL) {
		*p_r = t;
		*n_r = mm->len;
		return;
	}
	pt = &mm->v[msg];
	switch (it->what) {
	case IMAP_S_HEADER:
		*p_r = t + pt->hdr_off;
		*n_r = pt->hdr_len;
		break;
	case IMAP_S_TEXT:
		*p_r = t + pt->body_off;
		*n_r = pt->body_len;
		break;
	case IMAP_S_FIELDS:
	case IMAP_S_FIELDS_NOT:
		names = calloc(it->nfields, sizeof(*names));
		lens = calloc(it->nfields, sizeof(*lens));
		if (names == NULL || lens == NULL) {
			free(names);
			free(lens);
			return;
		}
		for (k = 0; k < it->nfields; k++) {
			names[k] = it->fields[k].s;
			lens[k] = it->fields[k].len;
		}
		buf_reset(tmp);
		(void)mime_header_fields(t + pt->hdr_off, pt->hdr_len, names,
		    lens, it->nfields, it->what == IMAP_S_FIELDS_NOT, tmp);
		free(names);
		free(lens);
		*p_r = tmp->data != NULL ? tmp->data : "";
		*n_r = tmp->len;
		break;
	default:
		break;
	}
}

/* imapd_cmd_fetch - FETCH set items; UID FETCH */
void
imapd_cmd_fetch(struct imapd *d, int uid)
{
	struct imap_cmd *c = &d->cmd;
	struct imap_fetch f;
	struct imap_seqset set;
	struct buf text = BUF_INIT(0), out = BUF_INIT((size_t)-1 / 2);
	struct buf tmp = BUF_INIT(16 * 1024 * 1024);
	struct buf *dec = NULL;	/* per item: its BINARY section, decoded */
	const char *error, *cte_error = NULL;
	size_t i, k;
	int need_text = 0, need_mime = 0, need_binary = 0, failed = 0;
	int fill = 0;
	struct fcache fc[FCACHE_FILL];
	int want_uid = uid;

	if (c->nargs < 2) {
		imapd_bad(d, "Syntax: FETCH set items");
		return;
	}
	if (imap_fetch_parse(c, 1, &f, &error) < 0) {
		imapd_bad(d, "%s%s", errno == E2BIG ? "[LIMIT] " : "", error);
		return;
	}
	for (k = 0; k < f.n; k++) {
		switch (f.v[k].kind) {
		case IMAP_F_UID:
			want_uid = 1;
			break;
		case IMAP_F_ENVELOPE:
			fill = 1;
			/* FALLTHROUGH */
		case IMAP_F_BODYSTRUCTURE:
		case IMAP_F_BODY:
		case IMAP_F_SECTION:
		case IMAP_F_RFC822:
		case IMAP_F_RFC822_HEADER:
		case IMAP_F_RFC822_TEXT:
			need_text = 1;
			need_mime |= !whole_text(&f.v[k]);
			break;
		case IMAP_F_BINARY:
		case IMAP_F_BINARY_SIZE:
			need_text = need_binary = 1;
			need_mime |= !whole_text(&f.v[k]);
			break;
		case IMAP_F_MODSEQ:
			imap_fetch_free(&f);
			imapd_no(d, "[CANNOT] MODSEQ is not supported");
			return;
		default:
			break;
		}
	}
	if (imapd_msgset(d, &c->args[0], uid, &set) < 0) {
		imap_fetch_free(&f);
		return;
	}
	if (fill)
		fcache_fill_open(fc, &d->box);
	if (need_binary) {
		dec = alloc_calloc(f.n, sizeof(*dec));
		for (k = 0; k < f.n; k++)
			buf_init(&dec[k], (size_t)-1 / 2);
	}
	for (i = 0; i < d->box.n && i < d->exists; i++) {
		struct imapd_msg *m = &d->box.v[i];
		struct mime_msg mm;
		int set_seen = 0, first = 1, flags_done = 0;

		if (!(uid ? imap_seqset_contains(&set, m->uid) :
		    imap_seqset_contains(&set, (uint32_t)(i + 1))) || m->gone)
			continue;
		memset(&mm, 0, sizeof(mm));
		if (need_text) {
			if (imapd_read_message(d, m, &text) < 0) {
				if (errno != ENOENT) {
					imapd_log(d, LOG_WARNING,
					    "read-failed", " uid=%u error=%s",
					    (unsigned)m->uid, strerror(errno));
					failed = 1;
				}
				continue;
			}
			m = &d->box.v[i];
			mm.text = text.data != NULL ? text.data : "";
			mm.len = text.len;
			if (need_mime)
				(void)mime_parse(mm.text, mm.len, &mm);
			if (fill && mm.n > 0)
				fcache_fill(fc, m->uid, mm.text,
				    mm.v[0].hdr_len);
		}
		/*
		 * Every BINARY section must decode before anything changes;
		 * what is decoded here is what is sent below.
		 */
		for (k = 0; need_binary && k < f.n; k++) {
			const struct imap_fetch_item *it = &f.v[k];

			if ((it->kind == IMAP_F_BINARY ||
			    it->kind == IMAP_F_BINARY_SIZE) &&
			    binary_section(&mm, it, &dec[k], &error) < 0) {
				cte_error = error;
				break;
			}
		}
		if (need_binary && k < f.n) {
			imapd_log(d, LOG_INFO, "binary-failed",
			    " uid=%u error=%s", (unsigned)m->uid, cte_error);
			mime_free(&mm);
			continue;
		}
		for (k = 0; k < f.n; k++) {
			const struct imap_fetch_item *it = &f.v[k];

			if (((it->kind == IMAP_F_SECTION ||
			    it->kind == IMAP_F_BINARY) && !it->peek) ||
			    it->kind == IMAP_F_RFC822 ||
			    it->kind == IMAP_F_RFC822_TEXT)
				set_seen = 1;
		}
		if (set_seen && !d->box.readonly &&
		    !(m->flags & IMAP_FL_SEEN)) {
			if (index_set_flags(&d->box, m, (uint8_t)(m->flags |
			    IMAP_FL_SEEN), m->kw, &error) < 0)
				set_seen = 0;
			m = &d->box.v[i];
		} else
			set_seen = 0;
		buf_reset(&out);
		(void)buf_printf(&out, "* %zu FETCH (", i + 1);
		if (want_uid) {
			(void)buf_printf(&out, "UID %u", (unsigned)m->uid);
			first = 0;
		}
		for (k = 0; k < f.n; k++) {
			const struct imap_fetch_item *it = &f.v[k];
			const char *p;
			size_t n;

			if (it->kind == IMAP_F_UID)
				continue;
			if (it->kind == IMAP_F_FLAGS && flags_done)
				continue;
			if (!first)
				(void)buf_append_char(&out, ' ');
			first = 0;
			switch (it->kind) {
			case IMAP_F_FLAGS:
				(void)buf_append_str(&out, "FLAGS ");
				(void)index_flags_string(&d->box,
				    IMAPD_SHOWN_FLAGS(d, m->flags),
				    m->kw, &out);
				flags_done = 1;
				break;
			case IMAP_F_INTERNALDATE:
				(void)buf_append_str(&out, "INTERNALDATE ");
				write_date(&out, m->idate);
				break;
			case IMAP_F_SIZE:
				(void)buf_printf(&out, "RFC822.SIZE %llu",
				    (unsigned long long)(need_text ? text.len :
				    m->vsize));
				break;
			case IMAP_F_ENVELOPE:
				(void)buf_append_str(&out, "ENVELOPE ");
				(void)mime_write_envelope(mm.text,
				    mm.v[0].hdr_len, &out);
				break;
			case IMAP_F_BODYSTRUCTURE:
			case IMAP_F_BODY:
				(void)buf_append_str(&out, it->kind ==
				    IMAP_F_BODY ? "BODY " : "BODYSTRUCTURE ");
				(void)mime_write_bodystructure(&mm, 0,
				    it->kind == IMAP_F_BODYSTRUCTURE, &out);
				break;
			case IMAP_F_RFC822:
				(void)buf_append_str(&out, "RFC822 ");
				literal(d, &out, mm.text, mm.len);
				d->sent_msgs++;
				break;
			case IMAP_F_RFC822_HEADER:
				(void)buf_append_str(&out, "RFC822.HEADER ");
				literal(d, &out, mm.text, mm.v[0].hdr_len);
				break;
			case IMAP_F_RFC822_TEXT:
				(void)buf_append_str(&out, "RFC822.TEXT ");
				literal(d, &out, mm.text + mm.v[0].body_off,
				    mm.v[0].body_len);
				break;
			case IMAP_F_SECTION:
				(void)imap_fetch_section_name(it, &out);
				(void)buf_append_char(&out, ' ');
				section(&mm, it, &tmp, &p, &n);
				if (it->partial) {
					if (it->p_off >= n)
						n = 0;
					else {
						p += it->p_off;
						n -= it->p_off;
						if (n > it->p_len)
							n = it->p_len;
					}
				}
				literal(d, &out, p, n);
				if (it->nparts == 0 && it->what ==
				    IMAP_S_ALL && !it->partial)
					d->sent_msgs++;
				break;
			case IMAP_F_BINARY:
				(void)imap_fetch_section_name(it, &out);
				(void)buf_append_char(&out, ' ');
				p = dec[k].data != NULL ? dec[k].data : "";
				n = dec[k].len;
				if (it->partial) {
					if (it->p_off >= n)
						n = 0;
					else {
						p += it->p_off;
						n -= it->p_off;
						if (n > it->p_len)
							n = it->p_len;
					}
				}
				literal8(d, &out, p, n);
				break;
			case IMAP_F_BINARY_SIZE:
				(void)imap_fetch_section_name(it, &out);
				(void)buf_printf(&out, " %zu", dec[k].len);
				break;
			default:
				break;
			}
		}
		if (set_seen && !flags_done) {
			(void)buf_append_str(&out, first ? "FLAGS " :
			    " FLAGS ");
			(void)index_flags_string(&d->box,
			    IMAPD_SHOWN_FLAGS(d, m->flags), m->kw,
			    &out);
		}
		(void)buf_append_str(&out, ")\r\n");
		imapd_send(d, out.data, out.len);
		m->changed = 0;
		mime_free(&mm);
	}
	imap_seqset_free(&set);
	if (fill)
		fcache_fill_close(fc, &d->box);
	for (k = 0; dec != NULL && k < f.n; k++)
		buf_free(&dec[k]);
	free(dec);
	imap_fetch_free(&f);
	buf_free(&text);
	buf_free(&out);
	buf_free(&tmp);
	imapd_updates(d, uid);
	if (cte_error != NULL)
		imapd_no(d, "[UNKNOWN-CTE] %s", cte_error);
	else if (failed)
		imapd_no(d, "[UNAVAILABLE] Some messages could not be read");
	else
		imapd_ok(d, "Fetch completed");
}
