/*
 * NAME
 *	mime - MIME structure, ENVELOPE and BODYSTRUCTURE for IMAP
 *
 * SYNOPSIS
 *	int mime_parse(const char *text, size_t len, struct mime_msg *m);
 *	void mime_free(struct mime_msg *m);
 *	int mime_header_find(const char *hdr, size_t len, const char *name,
 *	    const char **value_r, size_t *value_len_r);
 *	int mime_header_fields(const char *hdr, size_t len,
 *	    const char *const *names, const size_t *lens, size_t n, int not,
 *	    struct buf *out);
 *	int mime_write_envelope(const char *hdr, size_t len, struct buf *out);
 *	int mime_write_bodystructure(const struct mime_msg *m, int part,
 *	    int extended, struct buf *out);
 *	int mime_find_part(const struct mime_msg *m, const uint32_t *path,
 *	    size_t n, int *part_r);
 *	int mime_is_message(const struct mime_msg *m, int part);
 *	int mime_part_charset(const struct mime_msg *m, int part, char *out,
 *	    size_t size);
 *
 * DESCRIPTION
 *	See mime.h. A header block ends at the first empty line (or the end
 *	of the part); a line that starts with a blank continues the field
 *	before it. A multipart body is split at lines that start with
 *	"--BOUNDARY" (the CRLF before such a line belongs to it); a missing
 *	close delimiter ends the last part at the end of the body; a
 *	multipart without a boundary parameter or without any delimiter is
 *	all preamble and gets one empty text/plain part (as in Dovecot).
 *	Types, subtypes and parameter names are compared in lower case and
 *	written as the message has them. In ENVELOPE a Sender or Reply-To
 *	that is absent or empty is the From list (RFC 3501 7.4.2), and an
 *	address without a local part or domain gets "MISSING_MAILBOX" or
 *	"MISSING_DOMAIN" (a NIL host would start a group). message/rfc822
 *	(and the parts of multipart/digest, whose default type it is) get
 *	their body parsed as a message. Part numbers (mime_find_part) are
 *	those of RFC 3501 6.4.5: a non-multipart message has one part, 1,
 *	its body.
 *
 * DIAGNOSTICS
 *	mime_parse() returns 0 (or -1/ENOMEM through alloc.h's handler);
 *	the writers -1 only when out is full. mime_find_part() -1 for a
 *	part that does not exist.
 *
 * SECURITY
 *	The text is a stored message, written by anybody. Recursion depth is
 *	bounded by MIME_DEPTH_MAX, parts by MIME_PARTS_MAX, parameters by
 *	MIME_PARAMS_MAX, addresses by MIME_ADDRS_MAX, and each field used by
 *	MIME_FIELD_MAX octets; every scan is linear in the part it scans.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "imapparse.h"
#include "mime.h"
#include "str.h"

struct ctx {
	struct mime_msg *m;
	size_t cap;
};

/* is_wsp - SP or HTAB */
static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* line_end - offset just after the LF ending the line at off (or end) */
static size_t
line_end(const char *t, size_t off, size_t end)
{
	const char *nl = memchr(t + off, '\n', end - off);

	return nl != NULL ? (size_t)(nl - t) + 1 : end;
}

/* header_len - length of the header block at off, blank line included */
static size_t
header_len(const char *t, size_t off, size_t end)
{
	size_t p = off;

	while (p < end) {
		size_t e = line_end(t, p, end);

		if (t[p] == '\n' || (t[p] == '\r' && p + 1 < end &&
		    t[p + 1] == '\n'))
			return e - off;
		p = e;
	}
	return end - off;
}

/* mime_header_find - the value of the first field called name; 0 or -1 */
int
mime_header_find(const char *hdr, size_t len, const char *name,
    const char **value_r, size_t *value_len_r)
{
	size_t p = 0, nlen = strlen(name);

	while (p < len) {
		size_t e = line_end(hdr, p, len), v, ve;

		if (hdr[p] == '\r' || hdr[p] == '\n')
			break;
		if (is_wsp(hdr[p]) || e - p <= nlen || hdr[p + nlen] != ':' ||
		    !str_eq_nocase_n(hdr + p, name, nlen)) {
			p = e;
			continue;
		}
		v = p + nlen + 1;
		ve = e;
		while (ve < len && is_wsp(hdr[ve]))
			ve = line_end(hdr, ve, len);
		/* Without the final CRLF. */
		while (ve > v && (hdr[ve - 1] == '\n' || hdr[ve - 1] == '\r'))
			ve--;
		if (ve - v > MIME_FIELD_MAX)
			ve = v + MIME_FIELD_MAX;
		*value_r = hdr + v;
		*value_len_r = ve - v;
		return 0;
	}
	return -1;
}

/* field_listed - the field at hdr[p] is one of names */
static int
field_listed(const char *hdr, size_t p, size_t e, const char *const *names,
    const size_t *lens, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (e - p > lens[i] && hdr[p + lens[i]] == ':' &&
		    str_eq_nocase_n(hdr + p, names[i], lens[i]))
			return 1;
	return 0;
}

/* mime_header_fields - the fields named (not named) in names, then CRLF */
int
mime_header_fields(const char *hdr, size_t len, const char *const *names,
    const size_t *lens, size_t n, int not, struct buf *out)
{
	size_t p = 0;
	int keep = 0;

	while (p < len) {
		size_t e = line_end(hdr, p, len);

		if (hdr[p] == '\r' || hdr[p] == '\n')
			break;
		if (!is_wsp(hdr[p]))
			keep = field_listed(hdr, p, e, names, lens, n) != not &&
			    memchr(hdr + p, ':', e - p) != NULL;
		if (keep && buf_append(out, hdr + p, e - p) < 0)
			return -1;
		p = e;
	}
	return buf_append(out, "\r\n", 2);
}

/* skip_cfws - blanks, line ends and (nested) comments */
static size_t
skip_cfws(const char *s, size_t i, size_t n)
{
	int depth = 0;

	while (i < n) {
		if (depth > 0) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')')
				depth--;
			i++;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (!is_wsp(s[i]) && s[i] != '\r' && s[i] != '\n')
			break;
		i++;
	}
	return i;
}

/* is_tspecial - RFC 2045 tspecials, blanks and controls */
static int
is_tspecial(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* token - a token at s[i]; its length */
static size_t
token(const char *s, size_t i, size_t n)
{
	size_t k = i;

	while (k < n && !is_tspecial((unsigned char)s[k]))
		k++;
	return k - i;
}

/*
 * parse_params - "; name=value" list after a value; up to max entries,
 * the rest dropped
 */
static size_t
parse_params(const char *s, size_t i, size_t n, struct mime_param *p,
    size_t max)
{
	size_t np = 0;

	for (;;) {
		size_t nl, vs;

		i = skip_cfws(s, i, n);
		if (i >= n || s[i] != ';')
			break;
		i = skip_cfws(s, i + 1, n);
		if ((nl = token(s, i, n)) == 0)
			break;
		p[np].name = s + i;
		p[np].name_len = nl;
		i = skip_cfws(s, i + nl, n);
		if (i >= n || s[i] != '=')
			break;
		i = skip_cfws(s, i + 1, n);
		if (i < n && s[i] == '"') {
			vs = ++i;
			while (i < n && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			p[np].value = s + vs;
			p[np].value_len = i - vs;
			p[np].quoted = 1;
			if (i < n)
				i++;
		} else {
			size_t tl = token(s, i, n);

			p[np].value = s + i;
			p[np].value_len = tl;
			p[np].quoted = 0;
			i += tl;
		}
		if (++np >= max)
			break;
	}
	return np;
}

/* unquote - a parameter value without quoting backslashes */
static void
unquote(const struct mime_param *p, struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = 0; i < p->value_len; i++) {
		if (p->quoted && p->value[i] == '\\' && i + 1 < p->value_len)
			i++;
		if (p->value[i] != '\r' && p->value[i] != '\n')
			(void)buf_append_char(out, p->value[i]);
	}
}

/* copy_lower - a token into a fixed array, lower case; 0 if it fits */
static int
copy_lower(char *dst, size_t size, const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= size)
		return -1;
	for (i = 0; i < n; i++)
		dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	dst[n] = '\0';
	return 0;
}

/* new_part - one more part; -1 past MIME_PARTS_MAX */
static int
new_part(struct ctx *c)
{
	struct mime_msg *m = c->m;

	if (m->n >= MIME_PARTS_MAX)
		return -1;
	if (m->n == c->cap) {
		c->cap = c->cap == 0 ? 8 : c->cap * 2;
		m->v = alloc_reallocarray(m->v, c->cap, sizeof(*m->v));
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	m->v[m->n].child = m->v[m->n].next = -1;
	return (int)m->n++;
}

static void parse_part(struct ctx *, int, size_t, size_t, int, int);

/*
 * set_type - a part's type and subtype, lower case and as written; 0, or
 * -1 when they do not fit (the part is then text/plain)
 */
static int
set_type(struct mime_part *pt, const char *t, size_t tl, const char *s,
    size_t sl)
{
	if (copy_lower(pt->type, sizeof(pt->type), t, tl) == 0 &&
	    copy_lower(pt->subtype, sizeof(pt->subtype), s, sl) == 0) {
		memcpy(pt->wtype, t, tl);
		pt->wtype[tl] = '\0';
		memcpy(pt->wsubtype, s, sl);
		pt->wsubtype[sl] = '\0';
		return 0;
	}
	(void)set_type(pt, "text", 4, "plain", 5);
	return -1;
}

/*
 * empty_child - a multipart without its boundary (none given, or never
 * found) gets one empty text/plain part at the end of its body, the
 * whole body being preamble, as Dovecot has it
 */
static void
empty_child(struct ctx *c, int idx)
{
	struct mime_part *k;
	int i;

	if ((i = new_part(c)) < 0)
		return;
	c->m->v[idx].child = i;
	k = &c->m->v[i];
	k->hdr_off = k->body_off = c->m->v[idx].body_off +
	    c->m->v[idx].body_len;
	k->hdr_len = k->body_len = k->lines = 0;
	(void)set_type(k, "text", 4, "plain", 5);
	k->defaulted = 1;
	k->depth = c->m->v[idx].depth + 1;
}

/* split_multipart - children of multipart part idx at boundary b */
static void
split_multipart(struct ctx *c, int idx, const char *b, size_t blen,
    int digest)
{
	const char *t = c->m->text;
	size_t p = c->m->v[idx].body_off;
	size_t end = p + c->m->v[idx].body_len, start = 0;
	int have = 0, prev = -1, k;

	while (p < end) {
		size_t e = line_end(t, p, end);

		if (e - p >= blen + 2 && t[p] == '-' && t[p + 1] == '-' &&
		    memcmp(t + p + 2, b, blen) == 0) {
			int close = e - p >= blen + 4 &&
			    t[p + 2 + blen] == '-' && t[p + 3 + blen] == '-';

			if (have) {
				/* The CRLF before the delimiter is its own. */
				size_t pe = p;

				if (pe > start && t[pe - 1] == '\n')
					pe--;
				if (pe > start && t[pe - 1] == '\r')
					pe--;
				if ((k = new_part(c)) < 0)
					return;
				if (prev < 0)
					c->m->v[idx].child = k;
				else
					c->m->v[prev].next = k;
				prev = k;
				parse_part(c, k, start, pe,
				    c->m->v[idx].depth + 1, digest);
			}
			if (close)
				return;
			have = 1;
			start = e;
		}
		p = e;
	}
	if (have) {
		if ((k = new_part(c)) < 0)
			return;
		if (prev < 0)
			c->m->v[idx].child = k;
		else
			c->m->v[prev].next = k;
		parse_part(c, k, start, end, c->m->v[idx].depth + 1, digest);
	} else
		empty_child(c, idx);
}

/* count_lines - LFs in the body */
static size_t
count_lines(const char *t, size_t off, size_t len)
{
	size_t n = 0;
	const char *p = t + off, *e = t + off + len;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* parse_part - header, type and children of part idx at [off, end) */
static void
parse_part(struct ctx *c, int idx, size_t off, size_t end, int depth,
    int in_digest)
{
	const char *t = c->m->text, *v;
	struct mime_part *pt = &c->m->v[idx];
	struct mime_param params[MIME_PARAMS_MAX];
	char boundary[MIME_BOUNDARY_MAX + 1];
	size_t vl, i, np, tl, sl, hl;
	int have_b = 0, k;

	pt->depth = depth;
	pt->hdr_off = off;
	hl = header_len(t, off, end);
	pt->hdr_len = hl;
	pt->body_off = off + hl;
	pt->body_len = end - off - hl;
	pt->defaulted = 1;
	if (in_digest)
		(void)set_type(pt, "message", 7, "rfc822", 6);
	else
		(void)set_type(pt, "text", 4, "plain", 5);
	if (mime_header_find(t + off, hl, "Content-Type", &v, &vl) == 0) {
		i = skip_cfws(v, 0, vl);
		tl = token(v, i, vl);
		if (tl > 0 && i + tl < vl && v[i + tl] == '/') {
			size_t s = i + tl + 1;

			sl = token(v, s, vl);
			if (sl > 0 && set_type(pt, v + i, tl, v + s,
			    sl) == 0) {
				pt->defaulted = 0;
				np = parse_params(v, s + sl, vl, params,
				    MIME_PARAMS_MAX);
				for (k = 0; (size_t)k < np; k++)
					if (params[k].name_len == 8 &&
					    str_eq_nocase_n(params[k].name,
					    "boundary", 8) &&
					    params[k].value_len > 0 &&
					    params[k].value_len <=
					    MIME_BOUNDARY_MAX &&
					    !memchr(params[k].value, '\\',
					    params[k].value_len)) {
						memcpy(boundary,
						    params[k].value,
						    params[k].value_len);
						boundary[params[k].value_len] =
						    '\0';
						have_b = 1;
					}
			} else
				(void)set_type(pt, "text", 4, "plain", 5);
		}
	}
	pt->lines = count_lines(t, pt->body_off, pt->body_len);
	if (depth >= MIME_DEPTH_MAX)
		return;		/* deeper: an opaque body */
	if (strcmp(pt->type, "multipart") == 0) {
		if (!have_b) {
			empty_child(c, idx);
			return;
		}
		split_multipart(c, idx, boundary, strlen(boundary),
		    strcmp(pt->subtype, "digest") == 0);
	} else if (strcmp(pt->type, "message") == 0 &&
	    strcmp(pt->subtype, "rfc822") == 0) {
		size_t bo = pt->body_off, bl = pt->body_len;

		if ((k = new_part(c)) < 0)
			return;
		c->m->v[idx].child = k;
		parse_part(c, k, bo, bo + bl, depth + 1, 0);
	}
}

/* mime_parse - the part tree of a message */
int
mime_parse(const char *text, size_t len, struct mime_msg *m)
{
	struct ctx c;

	memset(m, 0, sizeof(*m));
	m->text = text;
	m->len = len;
	c.m = m;
	c.cap = 0;
	(void)new_part(&c);
	parse_part(&c, 0, 0, len, 0, 0);
	return 0;
}

/* mime_free - release the parts */
void
mime_free(struct mime_msg *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* mime_is_message - part is message/rfc822 with its message parsed */
int
mime_is_message(const struct mime_msg *m, int part)
{
	return strcmp(m->v[part].type, "message") == 0 &&
	    strcmp(m->v[part].subtype, "rfc822") == 0 && m->v[part].child >= 0;
}

/*
 * mime_find_part - the part a section path names (RFC 3501 6.4.5),
 * starting from the message; -1 if none
 */
int
mime_find_part(const struct mime_msg *m, const uint32_t *path, size_t n,
    int *part_r)
{
	int msg = 0, cur = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (cur >= 0) {
			/* Going below a part: into its message, if it is one. */
			if (mime_is_message(m, cur))
				msg = m->v[cur].child;
			else if (strcmp(m->v[cur].type, "multipart") == 0) {
				int k = m->v[cur].child;
				uint32_t j;

				for (j = 1; j < path[i] && k >= 0; j++)
					k = m->v[k].next;
				if (k < 0)
					return -1;
				cur = k;
				continue;
			} else
				return -1;
		}
		if (strcmp(m->v[msg].type, "multipart") == 0 &&
		    m->v[msg].child >= 0) {
			int k = m->v[msg].child;
			uint32_t j;

			for (j = 1; j < path[i] && k >= 0; j++)
				k = m->v[k].next;
			if (k < 0)
				return -1;
			cur = k;
		} else {
			if (path[i] != 1)
				return -1;
			cur = msg;
		}
	}
	*part_r = cur;
	return cur >= 0 ? 0 : -1;
}

/* --- writers ------------------------------------------------------------ */

/* write_unfolded - an nstring of a field value without CR/LF, trimmed */
static int
write_unfolded(struct buf *out, const char *v, size_t len)
{
	struct buf t = BUF_INIT(MIME_FIELD_MAX);
	size_t i = 0;
	int r;

	for (; i < len; i++)
		if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
			(void)buf_append_char(&t, v[i]);
	for (i = 0; i < t.len && is_wsp(t.data[i]); i++)
		;
	while (t.len > i && is_wsp(t.data[t.len - 1]))
		t.len--;
	r = imap_write_string(out, t.data != NULL ? t.data + i : "",
	    t.len - i);
	buf_free(&t);
	return r;
}

/* write_field - a field's unfolded value, or NIL */
static int
write_field(const char *hdr, size_t len, const char *name, struct buf *out)
{
	const char *v;
	size_t vl;

	if (mime_header_find(hdr, len, name, &v, &vl) < 0)
		return buf_append_str(out, "NIL");
	return write_unfolded(out, v, vl);
}

/* nstr - a buf as nstring (NIL when empty) */
static int
nstr(struct buf *out, const struct buf *s)
{
	if (s->len == 0)
		return buf_append_str(out, "NIL");
	return imap_write_string(out, s->data, s->len);
}

/* write_addrs - an ENVELOPE address list, or NIL */
static int
write_addrs(const char *hdr, size_t len, const char *name, struct buf *out)
{
	struct addr_hdr_list l = ADDR_HDR_LIST_INIT;
	const char *v, *error;
	size_t vl, i;
	int r = 0, any = 0;

	if (mime_header_find(hdr, len, name, &v, &vl) < 0)
		return buf_append_str(out, "NIL");
	(void)addr_parse_header(v, vl, MIME_ADDRS_MAX, &l, &error);
	for (i = 0; i < l.n; i++) {
		const struct addr_hdr *a = &l.v[i];

		if (a->kind == ADDR_HDR_MAILBOX && a->local.len == 0 &&
		    a->domain.len == 0 && a->name.len == 0)
			continue;
		if (!any)
			r |= buf_append_char(out, '(');
		any = 1;
		r |= buf_append_char(out, '(');
		if (a->kind == ADDR_HDR_GROUP_START) {
			r |= buf_append_str(out, "NIL NIL ");
			r |= nstr(out, &a->name);
			r |= buf_append_str(out, " NIL");
		} else if (a->kind == ADDR_HDR_GROUP_END)
			r |= buf_append_str(out, "NIL NIL NIL NIL");
		else {
			r |= nstr(out, &a->name);
			r |= buf_append_char(out, ' ');
			r |= nstr(out, &a->route);
			r |= buf_append_char(out, ' ');
			/* NIL host would start a group: say what is missing */
			if (a->local.len == 0 || (a->local.data[0] == '"' &&
			    (a->local.len < 2 ||
			    a->local.data[a->local.len - 1] != '"')))
				r |= buf_append_str(out, "\"MISSING_MAILBOX\"");
			else
				r |= nstr(out, &a->local);
			r |= buf_append_char(out, ' ');
			if (a->domain.len == 0)
				r |= buf_append_str(out, "\"MISSING_DOMAIN\"");
			else
				r |= nstr(out, &a->domain);
		}
		r |= buf_append_char(out, ')');
	}
	r |= buf_append_str(out, any ? ")" : "NIL");
	addr_hdr_list_free(&l);
	return r < 0 ? -1 : 0;
}

/*
 * write_or_from - Sender or Reply-To; absent or empty, the From list
 * (RFC 3501 7.4.2)
 */
static int
write_or_from(const char *hdr, size_t len, const char *name,
    struct buf *out)
{
	size_t at = out->len;

	if (write_addrs(hdr, len, name, out) < 0)
		return -1;
	if (out->len - at == 3 && memcmp(out->data + at, "NIL", 3) == 0) {
		out->len = at;
		return write_addrs(hdr, len, "From", out);
	}
	return 0;
}

/* mime_write_envelope - the ENVELOPE of a message's header */
int
mime_write_envelope(const char *hdr, size_t len, struct buf *out)
{
	int r = 0;

	r |= buf_append_char(out, '(');
	r |= write_field(hdr, len, "Date", out);
	r |= buf_append_char(out, ' ');
	r |= write_field(hdr, len, "Subject", out);
	r |= buf_append_char(out, ' ');
	r |= write_addrs(hdr, len, "From", out);
	r |= buf_append_char(out, ' ');
	r |= write_or_from(hdr, len, "Sender", out);
	r |= buf_append_char(out, ' ');
	r |= write_or_from(hdr, len, "Reply-To", out);
	r |= buf_append_char(out, ' ');
	r |= write_addrs(hdr, len, "To", out);
	r |= buf_append_char(out, ' ');
	r |= write_addrs(hdr, len, "Cc", out);
	r |= buf_append_char(out, ' ');
	r |= write_addrs(hdr, len, "Bcc", out);
	r |= buf_append_char(out, ' ');
	r |= write_field(hdr, len, "In-Reply-To", out);
	r |= buf_append_char(out, ' ');
	r |= write_field(hdr, len, "Message-ID", out);
	r |= buf_append_char(out, ')');
	return r < 0 ? -1 : 0;
}

/* write_params - "(name value ...)" of a field's parameters, or NIL */
static int
write_params(struct buf *out, const struct mime_param *p, size_t np,
    int skip_boundary)
{
	struct buf v = BUF_INIT(MIME_FIELD_MAX);
	size_t i;
	int r = 0, any = 0;

	for (i = 0; i < np; i++) {
		if (skip_boundary && p[i].name_len == 8 &&
		    str_eq_nocase_n(p[i].name, "boundary", 8))
			continue;
		r |= buf_append_str(out, any ? " " : "(");
		any = 1;
		buf_reset(&v);
		r |= imap_write_string(out, p[i].name, p[i].name_len);
		r |= buf_append_char(out, ' ');
		unquote(&p[i], &v);
		r |= imap_write_string(out, v.data != NULL ? v.data : "",
		    v.len);
	}
	r |= buf_append_str(out, any ? ")" : "NIL");
	buf_free(&v);
	return r < 0 ? -1 : 0;
}

/* type_params - the Content-Type parameters of a part */
static size_t
type_params(const struct mime_msg *m, int part, struct mime_param *p)
{
	const struct mime_part *pt = &m->v[part];
	const char *v;
	size_t vl, i, tl, sl;

	if (pt->defaulted || mime_header_find(m->text + pt->hdr_off,
	    pt->hdr_len, "Content-Type", &v, &vl) < 0)
		return 0;
	i = skip_cfws(v, 0, vl);
	tl = token(v, i, vl);
	sl = token(v, i + tl + 1, vl);
	return parse_params(v, i + tl + 1 + sl, vl, p, MIME_PARAMS_MAX);
}

/*
 * write_language - Content-Language (RFC 3282): NIL, one tag as a string,
 * or a list of the tags
 */
static int
write_language(struct buf *out, const char *h, size_t hl)
{
	struct buf l = BUF_INIT(MIME_FIELD_MAX);
	const char *v;
	size_t vl, i = 0, tl, n = 0;
	int r = 0;

	if (mime_header_find(h, hl, "Content-Language", &v, &vl) < 0)
		return buf_append_str(out, "NIL");
	while (n < MIME_PARAMS_MAX) {
		i = skip_cfws(v, i, vl);
		if (i < vl && v[i] == ',') {
			i++;
			continue;
		}
		if ((tl = token(v, i, vl)) == 0)
			break;
		r |= buf_append_str(&l, n > 0 ? " " : "");
		r |= imap_write_string(&l, v + i, tl);
		n++;
		i += tl;
	}
	if (n == 0)
		r |= buf_append_str(out, "NIL");
	else if (n == 1)
		r |= buf_append(out, l.data, l.len);
	else {
		r |= buf_append_char(out, '(');
		r |= buf_append(out, l.data, l.len);
		r |= buf_append_char(out, ')');
	}
	buf_free(&l);
	return r < 0 ? -1 : 0;
}

/* write_extension - disposition, language, location of a part */
static int
write_extension(const struct mime_msg *m, int part, struct buf *out)
{
	const struct mime_part *pt = &m->v[part];
	const char *h = m->text + pt->hdr_off, *v;
	struct mime_param p[MIME_PARAMS_MAX];
	size_t hl = pt->hdr_len, vl, i, tl, np;
	int r = 0;

	r |= buf_append_char(out, ' ');
	if (mime_header_find(h, hl, "Content-Disposition", &v, &vl) == 0 &&
	    (tl = token(v, (i = skip_cfws(v, 0, vl)), vl)) > 0) {
		r |= buf_append_char(out, '(');
		r |= imap_write_string(out, v + i, tl);
		r |= buf_append_char(out, ' ');
		np = parse_params(v, i + tl, vl, p, MIME_PARAMS_MAX);
		r |= write_params(out, p, np, 0);
		r |= buf_append_char(out, ')');
	} else
		r |= buf_append_str(out, "NIL");
	r |= buf_append_char(out, ' ');
	r |= write_language(out, h, hl);
	r |= buf_append_char(out, ' ');
	r |= mime_header_find(h, hl, "Content-Location", &v, &vl) == 0 ?
	    write_unfolded(out, v, vl) : buf_append_str(out, "NIL");
	return r < 0 ? -1 : 0;
}

/* write_body - BODYSTRUCTURE (or BODY) of one part, recursively */
static int
write_body(const struct mime_msg *m, int part, int ext, struct buf *out)
{
	const struct mime_part *pt = &m->v[part];
	const char *h = m->text + pt->hdr_off, *v;
	struct mime_param p[MIME_PARAMS_MAX];
	size_t hl = pt->hdr_len, vl, np, i, tl;
	int r = 0, k;

	np = type_params(m, part, p);
	r |= buf_append_char(out, '(');
	if (strcmp(pt->type, "multipart") == 0 && pt->child >= 0) {
		for (k = pt->child; k >= 0; k = m->v[k].next)
			r |= write_body(m, k, ext, out);
		r |= buf_append_char(out, ' ');
		r |= imap_write_string(out, pt->wsubtype,
		    strlen(pt->wsubtype));
		if (ext) {
			r |= buf_append_char(out, ' ');
			r |= write_params(out, p, np, 0);
			r |= write_extension(m, part, out);
		}
		r |= buf_append_char(out, ')');
		return r < 0 ? -1 : 0;
	}
	r |= imap_write_string(out, pt->wtype, strlen(pt->wtype));
	r |= buf_append_char(out, ' ');
	r |= imap_write_string(out, pt->wsubtype, strlen(pt->wsubtype));
	r |= buf_append_char(out, ' ');
	if (np == 0 && strcmp(pt->type, "text") == 0)
		r |= buf_append_str(out, "(\"charset\" \"us-ascii\")");
	else
		r |= write_params(out, p, np, 0);
	r |= buf_append_char(out, ' ');
	r |= write_field(h, hl, "Content-ID", out);
	r |= buf_append_char(out, ' ');
	r |= write_field(h, hl, "Content-Description", out);
	r |= buf_append_char(out, ' ');
	if (mime_header_find(h, hl, "Content-Transfer-Encoding", &v,
	    &vl) == 0 && (tl = token(v, (i = skip_cfws(v, 0, vl)), vl)) > 0)
		r |= imap_write_string(out, v + i, tl);
	else
		r |= buf_append_str(out, "\"7bit\"");
	r |= buf_printf(out, " %zu", pt->body_len);
	if (mime_is_message(m, part)) {
		const struct mime_part *c = &m->v[pt->child];

		r |= buf_append_char(out, ' ');
		r |= mime_write_envelope(m->text + c->hdr_off, c->hdr_len, out);
		r |= buf_append_char(out, ' ');
		r |= write_body(m, pt->child, ext, out);
		r |= buf_printf(out, " %zu", pt->lines);
	} else if (strcmp(pt->type, "text") == 0)
		r |= buf_printf(out, " %zu", pt->lines);
	if (ext) {
		r |= buf_append_char(out, ' ');
		r |= write_field(h, hl, "Content-MD5", out);
		r |= write_extension(m, part, out);
	}
	r |= buf_append_char(out, ')');
	return r < 0 ? -1 : 0;
}

/* mime_write_bodystructure - BODYSTRUCTURE (extended) or BODY of a part */
int
mime_write_bodystructure(const struct mime_msg *m, int part, int extended,
    struct buf *out)
{
	if (part < 0 || (size_t)part >= m->n)
		return -1;
	return write_body(m, part, extended, out);
}

/*
 * mime_part_charset - the charset parameter of a part's Content-Type into
 * out (NUL-ended); 0, or -1 when there is none or it does not fit
 */
int
mime_part_charset(const struct mime_msg *m, int part, char *out, size_t size)
{
	struct mime_param p[MIME_PARAMS_MAX];
	struct buf v = BUF_INIT(256);
	size_t np, k;
	int r = -1;

	np = type_params(m, part, p);
	for (k = 0; k < np; k++)
		if (p[k].name_len == 7 && str_eq_nocase_n(p[k].name,
		    "charset", 7)) {
			unquote(&p[k], &v);
			if (v.len > 0 && v.len < size) {
				memcpy(out, v.data, v.len);
				out[v.len] = '\0';
				r = 0;
			}
			break;
		}
	buf_free(&v);
	return r;
}
