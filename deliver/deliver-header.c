/*
 * NAME
 *	deliver-header - scan a message's header for what deliver needs
 *
 * SYNOPSIS
 *	void hdrscan_init(struct hdrscan *h);
 *	void hdrscan_feed(struct hdrscan *h, const char *p, size_t n);
 *	void hdrscan_finish(struct hdrscan *h);
 *	int hdrscan_has(const struct hdrscan *h, const char *addr);
 *	void hdrscan_free(struct hdrscan *h);
 *
 * DESCRIPTION
 *	A streaming scanner, fed the message in pieces of any size, that
 *	learns three things from the header (the lines before the first
 *	empty line, RFC 5322):
 *
 *	- whether the message starts with a header field ("Name:" with a
 *	  name of printable ASCII other than ':'), with an empty line (no
 *	  header, body follows), or with anything else (no header at all:
 *	  deliver then ends its own fields with an empty line);
 *	- whether the first line ends in CR LF (deliver's fields then do);
 *	- the values of the Delivered-To: fields (name matched ignoring
 *	  case, folded lines unfolded, blanks and one pair of <> around the
 *	  value removed), at most DELIVER_DT_MAX of them, each at most
 *	  DELIVER_DT_VALUE_MAX octets (a longer one is dropped: it cannot be
 *	  one of our addresses); one more sets too_many.
 *
 *	A line that is not a field inside the header (no colon, a name with
 *	a space) is skipped, as mail readers do. Lines end at LF; a CR
 *	before it is dropped; a bare CR elsewhere is an ordinary octet. The
 *	scan stops at the end of the header, at the end of the message
 *	(hdrscan_finish), or after DELIVER_HDR_SCAN_MAX octets (truncated:
 *	a Delivered-To: further down is not seen; the message is still
 *	delivered whole).
 *
 *	hdrscan_has() says whether a kept Delivered-To: value equals addr,
 *	ignoring ASCII case.
 *
 * DIAGNOSTICS
 *	None: the scanner never fails; memory is bounded by the limits
 *	above (out of memory exits through alloc(3)).
 *
 * SECURITY
 *	The message is untrusted: every octet is looked at once, nothing is
 *	kept beyond the limits, and a value is compared, never interpreted.
 *	tests/fuzz/fuzz-deliver-header.c runs this file under libFuzzer.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "deliver.h"
#include "str.h"

enum {
	S_LINE_START,	/* at the start of a line */
	S_CR_START,	/* the line began with CR */
	S_NAME,		/* reading a field name */
	S_VALUE,	/* in a field's value (kept when in_dt) */
	S_SKIP,		/* in a line that is not a field */
	S_DONE,
};

static const char dt_name[] = "delivered-to";
#define DT_NAME_LEN	(sizeof(dt_name) - 1)

/* hdrscan_init - a scanner at the start of a message */
void
hdrscan_init(struct hdrscan *h)
{
	memset(h, 0, sizeof(*h));
	h->state = S_LINE_START;
	buf_init(&h->value, DELIVER_DT_VALUE_MAX);
}

/* hdrscan_free - release the kept values */
void
hdrscan_free(struct hdrscan *h)
{
	size_t i;

	for (i = 0; i < h->n_dt; i++)
		free(h->dt[i]);
	free(h->dt);
	h->dt = NULL;
	h->n_dt = 0;
	buf_free(&h->value);
}

/* trim - move *v and *end past blanks at both ends */
static void
trim(char **v, char **end)
{
	while (*v < *end && (**v == ' ' || **v == '\t'))
		(*v)++;
	while (*end > *v && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

/* end_field - keep the Delivered-To: value just read, if any */
static void
end_field(struct hdrscan *h)
{
	char *v, *end;

	if (!h->in_dt)
		return;
	h->in_dt = 0;
	if (h->value_long) {
		h->value_long = 0;
		buf_reset(&h->value);
		return;
	}
	if (h->value.data == NULL)	/* an empty value: nothing to keep */
		return;
	v = h->value.data;
	v[h->value.len] = '\0';
	end = v + strlen(v);
	trim(&v, &end);
	if (end - v >= 2 && *v == '<' && end[-1] == '>') {
		v++;
		end--;
		trim(&v, &end);
	}
	if (h->n_dt >= DELIVER_DT_MAX)
		h->too_many = 1;
	else if (end > v) {
		h->dt = alloc_reallocarray(h->dt, h->n_dt + 1,
		    sizeof(*h->dt));
		h->dt[h->n_dt++] = alloc_strndup(v, (size_t)(end - v));
	}
	buf_reset(&h->value);
}

/* finish - the header ends here */
static void
finish(struct hdrscan *h)
{
	end_field(h);
	h->state = S_DONE;
	h->done = 1;
}

/* name_char - 1 for an octet allowed in a field name */
static int
name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* keep - add one octet to the Delivered-To: value being read */
static void
keep(struct hdrscan *h, char c)
{
	if (h->in_dt && !h->value_long && buf_append_char(&h->value, c) < 0)
		h->value_long = 1;
}

/* not_a_field - a line that is no header field */
static void
not_a_field(struct hdrscan *h, unsigned char c)
{
	if (h->lines == 1) {
		finish(h);	/* no header at all */
		return;
	}
	h->state = c == '\n' ? S_LINE_START : S_SKIP;
}

/* line_end - an LF in a field's value or a skipped line */
static void
line_end(struct hdrscan *h, char prev)
{
	if (h->lines == 1)
		h->crlf = prev == '\r';
	if (h->in_dt && h->value.len > 0 &&
	    h->value.data[h->value.len - 1] == '\r')
		buf_truncate(&h->value, h->value.len - 1);
	h->state = S_LINE_START;
}

/* step - one octet; prev is the octet before it */
static void
step(struct hdrscan *h, unsigned char c, char prev)
{
	switch (h->state) {
	case S_LINE_START:
		h->lines++;
		if (c == '\n') {
			h->starts_with_blank = h->lines == 1;
			finish(h);
		} else if (c == '\r')
			h->state = S_CR_START;
		else if (c == ' ' || c == '\t') {
			if (h->lines == 1)
				finish(h);
			else {
				keep(h, (char)c);
				h->state = S_VALUE;
			}
		} else {
			end_field(h);
			if (name_char(c)) {
				h->name_len = 1;
				h->name[0] = (char)c;
				h->state = S_NAME;
			} else
				not_a_field(h, c);
		}
		break;
	case S_CR_START:
		if (c == '\n') {
			if (h->lines == 1) {
				h->starts_with_blank = 1;
				h->crlf = 1;
			}
			finish(h);
		} else {
			end_field(h);
			not_a_field(h, c);
		}
		break;
	case S_NAME:
		if (c == ':') {
			if (h->lines == 1)
				h->starts_with_field = 1;
			h->in_dt = h->name_len == DT_NAME_LEN &&
			    str_eq_nocase_n(h->name, dt_name, DT_NAME_LEN);
			buf_reset(&h->value);
			h->value_long = 0;
			h->state = S_VALUE;
		} else if (name_char(c)) {
			if (h->name_len < sizeof(h->name))
				h->name[h->name_len] = (char)c;
			h->name_len++;
		} else
			not_a_field(h, c);
		break;
	case S_VALUE:
		if (c == '\n')
			line_end(h, prev);
		else
			keep(h, (char)c);
		break;
	case S_SKIP:
		if (c == '\n')
			line_end(h, prev);
		break;
	default:
		break;
	}
}

/* hdrscan_feed - scan n more octets of the message */
void
hdrscan_feed(struct hdrscan *h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !h->done; i++) {
		if (h->scanned >= DELIVER_HDR_SCAN_MAX) {
			h->in_dt = 0;	/* an unfinished value: drop it */
			h->truncated = 1;
			finish(h);
			break;
		}
		h->scanned++;
		step(h, (unsigned char)p[i], h->prev);
		h->prev = p[i];
	}
}

/* hdrscan_finish - the message ended */
void
hdrscan_finish(struct hdrscan *h)
{
	if (!h->done)
		finish(h);
}

/* hdrscan_has - 1 if a Delivered-To: value equals addr (case ignored) */
int
hdrscan_has(const struct hdrscan *h, const char *addr)
{
	size_t i;

	for (i = 0; i < h->n_dt; i++)
		if (str_eq_nocase(h->dt[i], addr))
			return 1;
	return 0;
}
