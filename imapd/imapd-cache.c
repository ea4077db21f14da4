/*
 * NAME
 *	imapd-cache - the header fields SEARCH has read, kept per folder
 *
 * SYNOPSIS
 *	void fcache_open(struct fcache *c, struct imapd_box *b,
 *	    const char *field, size_t len);
 *	int fcache_get(const struct fcache *c, uint32_t uid,
 *	    const char **value_r, size_t *len_r);
 *	void fcache_put(struct fcache *c, uint32_t uid, int present,
 *	    const char *value, size_t len);
 *	void fcache_close(struct fcache *c, struct imapd_box *b);
 *	int fcache_value(const char *hdr, size_t hdr_len, const char *name,
 *	    size_t len, struct buf *out);
 *	void fcache_fill_open(struct fcache set[FCACHE_FILL],
 *	    struct imapd_box *b);
 *	void fcache_fill(struct fcache set[FCACHE_FILL], uint32_t uid,
 *	    const char *hdr, size_t hdr_len);
 *	void fcache_fill_close(struct fcache set[FCACHE_FILL],
 *	    struct imapd_box *b);
 *	int imapd_fold(struct buf *out, const char *s, size_t n);
 *	void imapd_fold_words(const char *s, size_t n, struct buf *out);
 *
 * DESCRIPTION
 *	A SEARCH on a header field (HEADER, SUBJECT, FROM, TO, CC, BCC)
 *	compares the field's value as imapd-search.c prepares it (the first
 *	field of that name, unfolded, encoded words decoded, case folded).
 *	Messages never change, so that value is kept, per folder and per
 *	field, in the file "imapd.cache.FIELD" (FIELD in lower case; only
 *	names of letters, digits and '-', at most FCACHE_NAME_MAX): the next
 *	SEARCH on that field reads one file instead of the header of every
 *	message. Native byte order, no padding:
 *
 *	    magic "MSIMAPC1" (8) | uidvalidity u32 | records u32
 *	    record: uid u32 | len u32 | len octets of value
 *
 *	records in strictly ascending UID order; len FCACHE_ABSENT means
 *	the message has no such field. Values longer than FCACHE_VALUE_MAX
 *	are not kept (those messages are read each time).
 *
 *	fcache_open() reads the file when it is there, whole, and checks it:
 *	a file of another UIDVALIDITY, or damaged in any way (short, records
 *	out of order or past the end), counts as empty. fcache_get() finds a
 *	UID: 1 with the value (NULL when absent), 0 when not kept.
 *	fcache_put() notes a value found by reading the message.
 *	fcache_close() writes the file again when values were added, at
 *	least FCACHE_WRITE_MIN or an eighth of those kept (the kept ones
 *	still in the folder's view, and the new ones), under the
 *	folder lock, through a temporary file and rename(2), and frees c.
 *	fcache_value() is the value itself, from a header block.
 *
 *	FETCH ENVELOPE has each message's header in hand: fcache_fill*()
 *	keep Subject and From on the way (as Dovecot's cache keeps what a
 *	FETCH asked for), so that a SEARCH on them after it reads no message
 *	at all. imapd_fold() and imapd_fold_words() are the folding
 *	SEARCH uses for every string it compares.
 *
 * DIAGNOSTICS
 *	None: a cache that cannot be read is empty, one that cannot be
 *	written is not written; SEARCH then reads the messages, as always.
 *
 * SECURITY
 *	The file lies in the user's Maildir: it is checked field by field
 *	and bounded (FCACHE_FILE_MAX) before use. It holds only what the
 *	user's own messages say.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "decode.h"
#include "imapd.h"
#include "mime.h"

#define FCACHE_MAGIC	"MSIMAPC1"
#define FCACHE_HDR	16
#define FCACHE_ABSENT	UINT32_MAX
#define FCACHE_WRITE_MIN	256	/* new values worth a rewrite */

/* file_name - "imapd.cache.field" in out; 0, or -1 if field is unusable */
static int
file_name(const char *field, size_t len, char *out, size_t size)
{
	size_t i;

	if (len == 0 || len > FCACHE_NAME_MAX ||
	    FCACHE_PREFIX_LEN + len + 1 > size)
		return -1;
	memcpy(out, FCACHE_PREFIX, FCACHE_PREFIX_LEN);
	for (i = 0; i < len; i++) {
		char ch = field[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-'))
			return -1;
		out[FCACHE_PREFIX_LEN + i] = ch;
	}
	out[FCACHE_PREFIX_LEN + len] = '\0';
	return 0;
}

/* get32 - a u32 at p */
static uint32_t
get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* load - read and check the file; records into c->recs; 0 or -1 */
static int
load(struct fcache *c, struct imapd_box *b)
{
	struct stat st;
	size_t off, n, i;
	ssize_t r;
	int fd;

	fd = openat(b->fd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < FCACHE_HDR || st.st_size > FCACHE_FILE_MAX ||
	    buf_reserve(&c->data, (size_t)st.st_size) < 0) {
		(void)close(fd);
		return -1;
	}
	while (c->data.len < (size_t)st.st_size) {
		r = read(fd, c->data.data + c->data.len,
		    (size_t)st.st_size - c->data.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		c->data.len += (size_t)r;
	}
	(void)close(fd);
	if (c->data.len != (size_t)st.st_size ||
	    memcmp(c->data.data, FCACHE_MAGIC, 8) != 0 ||
	    get32(c->data.data + 8) != b->uidvalidity)
		return -1;
	n = get32(c->data.data + 12);
	if (n > (c->data.len - FCACHE_HDR) / 8)
		return -1;
	c->recs = alloc_reallocarray(NULL, n + 1, sizeof(*c->recs));
	for (i = 0, off = FCACHE_HDR; i < n; i++) {
		uint32_t uid, len;

		if (c->data.len - off < 8)
			return -1;
		uid = get32(c->data.data + off);
		len = get32(c->data.data + off + 4);
		off += 8;
		if ((i > 0 && uid <= c->recs[i - 1].uid) ||
		    (len != FCACHE_ABSENT && (len > FCACHE_VALUE_MAX ||
		    len > c->data.len - off)))
			return -1;
		c->recs[i].uid = uid;
		c->recs[i].off = off;
		c->recs[i].len = len;
		if (len != FCACHE_ABSENT)
			off += len;
	}
	if (off != c->data.len)
		return -1;
	c->nrecs = n;
	return 0;
}

/* fcache_open - see above; c is usable (perhaps empty) afterwards */
void
fcache_open(struct fcache *c, struct imapd_box *b, const char *field,
    size_t len)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->data, FCACHE_FILE_MAX);
	buf_init(&c->add, FCACHE_FILE_MAX);
	if (file_name(field, len, c->name, sizeof(c->name)) < 0)
		return;		/* c->name empty: never kept */
	if (load(c, b) < 0) {
		free(c->recs);
		c->recs = NULL;
		c->nrecs = 0;
		buf_reset(&c->data);
	}
}

/* find - index of uid in recs[0..n-1], or -1 */
static long
find(const struct fcache_rec *recs, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (recs[mid].uid < uid)
			lo = mid + 1;
		else if (recs[mid].uid > uid)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

/* fcache_get - 1 and the value (NULL: no such field), or 0: not kept */
int
fcache_get(const struct fcache *c, uint32_t uid, const char **value_r,
    size_t *len_r)
{
	long k = find(c->recs, c->nrecs, uid);
	const struct fcache_rec *r;
	const char *base;

	if (k >= 0) {
		r = &c->recs[k];
		base = c->data.data;
	} else if ((k = find(c->new, c->nnew, uid)) >= 0) {
		r = &c->new[k];
		base = c->add.data;
	} else
		return 0;
	*value_r = r->len == FCACHE_ABSENT ? NULL : base + r->off;
	*len_r = r->len == FCACHE_ABSENT ? 0 : r->len;
	return 1;
}

/* fcache_put - note uid's value (present 0: no such field) */
void
fcache_put(struct fcache *c, uint32_t uid, int present, const char *value,
    size_t len)
{
	struct fcache_rec *r;

	if (c->name[0] == '\0' || (present && len > FCACHE_VALUE_MAX) ||
	    (c->nnew > 0 && uid <= c->new[c->nnew - 1].uid))
		return;		/* not kept; SEARCH goes in UID order */
	if (present && buf_append(&c->add, value, len) < 0)
		return;
	if (c->nnew == c->capnew) {
		c->capnew = c->capnew ? c->capnew * 2 : 256;
		c->new = alloc_reallocarray(c->new, c->capnew,
		    sizeof(*c->new));
	}
	r = &c->new[c->nnew++];
	r->uid = uid;
	r->len = present ? (uint32_t)len : FCACHE_ABSENT;
	r->off = present ? c->add.len - len : 0;
}

/* in_view - uid is a message of the folder's view, not expunged */
static int
in_view(const struct imapd_box *b, uint32_t uid)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->v[mid].uid < uid)
			lo = mid + 1;
		else if (b->v[mid].uid > uid)
			hi = mid;
		else
			return !b->v[mid].gone;
	}
	return 0;
}

/* put_rec - one record into out; 0 or -1 */
static int
put_rec(struct buf *out, const struct fcache_rec *r, const char *base)
{
	uint32_t v[2] = { r->uid, r->len };

	if (buf_append(out, v, sizeof(v)) < 0)
		return -1;
	if (r->len != FCACHE_ABSENT &&
	    buf_append(out, base + r->off, r->len) < 0)
		return -1;
	return 0;
}

/* fcache_close - write the file again when there is more; free c */
void
fcache_close(struct fcache *c, struct imapd_box *b)
{
	struct buf out = BUF_INIT(FCACHE_FILE_MAX);
	size_t i = 0, j = 0;
	uint32_t n = 0, hdr[2];
	int r = 0;

	/* Worth a rewrite: a few new values to a big file are read again
	   next time rather than copying the whole file now. */
	if (c->nnew > 0 &&
	    (c->nnew >= FCACHE_WRITE_MIN || c->nnew * 8 >= c->nrecs)) {
		hdr[0] = b->uidvalidity;
		hdr[1] = 0;
		r = buf_append(&out, FCACHE_MAGIC, 8) < 0 ||
		    buf_append(&out, hdr, sizeof(hdr)) < 0 ? -1 : 0;
		while (r == 0 && (i < c->nrecs || j < c->nnew)) {
			const struct fcache_rec *rec;
			const char *base;

			if (j >= c->nnew || (i < c->nrecs &&
			    c->recs[i].uid < c->new[j].uid)) {
				rec = &c->recs[i++];
				base = c->data.data;
			} else {
				if (i < c->nrecs &&
				    c->recs[i].uid == c->new[j].uid)
					i++;	/* the same, found again */
				rec = &c->new[j++];
				base = c->add.data;
			}
			if (!in_view(b, rec->uid))
				continue;
			r = put_rec(&out, rec, base);
			n++;
		}
		if (r == 0) {
			memcpy(out.data + 12, &n, sizeof(n));
			if (index_lock(b) == 0) {
				(void)index_write_file(b, c->name, &out);
				index_unlock(b);
			}
		}
	}
	buf_free(&out);
	buf_free(&c->data);
	buf_free(&c->add);
	free(c->recs);
	free(c->new);
	memset(c, 0, sizeof(*c));
}

/*
 * imapd_fold - append s folded for matching: ASCII A-Z and the UTF-8
 * Latin-1 capitals U+00C0-U+00DE (but U+00D7) to lower case; 0 or -1
 */
int
imapd_fold(struct buf *out, const char *s, size_t n)
{
	size_t i;

	if (buf_reserve(out, n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch + 32);
		else if (ch == 0xc3 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9e &&
		    (unsigned char)s[i + 1] != 0x97) {
			out->data[out->len++] = (char)ch;
			ch = (unsigned char)(s[++i] + 0x20);
		}
		out->data[out->len++] = (char)ch;
	}
	return 0;
}

/* imapd_fold_words - a header block or value, encoded words decoded,
   folded, appended to out */
void
imapd_fold_words(const char *s, size_t n, struct buf *out)
{
	struct buf dec = BUF_INIT(IMAPD_FOLD_MAX);

	if (decode_words(s, n, &dec) < 0) {
		buf_reset(&dec);
		(void)buf_append(&dec, s, n);
	}
	(void)imapd_fold(out, dec.data != NULL ? dec.data : "", dec.len);
	buf_free(&dec);
}

/*
 * fcache_value - the value SEARCH compares for a field of the header
 * block hdr: the first field of that name, unfolded, decoded, folded,
 * into out; 1, 0 when there is no such field, -1 for a name too long
 */
int
fcache_value(const char *hdr, size_t hdr_len, const char *name, size_t len,
    struct buf *out)
{
	char field[IMAP_FIELD_MAX + 1];
	const char *v;
	size_t vl;

	buf_reset(out);
	if (len > IMAP_FIELD_MAX)
		return -1;
	memcpy(field, name, len);
	field[len] = '\0';
	if (mime_header_find(hdr, hdr_len, field, &v, &vl) < 0)
		return 0;
	if (vl > MIME_FIELD_MAX)
		vl = MIME_FIELD_MAX;
	imapd_fold_words(v, vl, out);
	return 1;
}

/*
 * fcache_fill_open, fcache_fill, fcache_fill_close - FETCH ENVELOPE
 * reads the header of every message it answers for: keep the fields
 * SEARCH is most often asked for (Subject, From) on the way
 */
static const char *const fill_fields[FCACHE_FILL] = { "Subject", "From" };

void
fcache_fill_open(struct fcache *set, struct imapd_box *b)
{
	size_t i;

	for (i = 0; i < FCACHE_FILL; i++)
		fcache_open(&set[i], b, fill_fields[i],
		    strlen(fill_fields[i]));
}

void
fcache_fill(struct fcache *set, uint32_t uid, const char *hdr,
    size_t hdr_len)
{
	struct buf u = BUF_INIT(2 * MIME_FIELD_MAX + 16);
	const char *v;
	size_t i, vl;
	int r;

	for (i = 0; i < FCACHE_FILL; i++) {
		if (fcache_get(&set[i], uid, &v, &vl) == 1)
			continue;
		r = fcache_value(hdr, hdr_len, fill_fields[i],
		    strlen(fill_fields[i]), &u);
		if (r >= 0)
			fcache_put(&set[i], uid, r,
			    u.data != NULL ? u.data : "", u.len);
	}
	buf_free(&u);
}

void
fcache_fill_close(struct fcache *set, struct imapd_box *b)
{
	size_t i;

	for (i = 0; i < FCACHE_FILL; i++)
		fcache_close(&set[i], b);
}
