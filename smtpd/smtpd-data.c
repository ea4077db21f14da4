/*
 * NAME
 *	smtpd-data - the DATA and BDAT byte machine of smtpd(8)
 *
 * SYNOPSIS
 *	void smtp_data_init(struct smtp_data *d, int mode, uint64_t limit,
 *	    unsigned hops_max, smtp_data_sink *sink, void *ctx);
 *	void smtp_data_fixups(struct smtp_data *d, const char *date_line,
 *	    const char *msgid_line);
 *	void smtp_data_mid_line(struct smtp_data *d);
 *	size_t smtp_data_feed(struct smtp_data *d, const char *p, size_t n);
 *	int smtp_data_end(struct smtp_data *d);
 *	void smtp_data_discard(struct smtp_data *d);
 *
 * DESCRIPTION
 *	The machine reads the message exactly as it arrives, in pieces of
 *	any size, and writes it to a sink in the queue's form: lines ended
 *	by a single LF, dot-stuffing removed. It does no I/O of its own, so
 *	the session and the fuzz target drive it the same way.
 *
 *	DATA mode (RFC 5321 4.1.1.4, 4.5.2). The data ends only at the
 *	sequence CR LF "." CR LF, where the first CR LF may be the one that
 *	ended the DATA command (the machine starts as if it had just seen
 *	it). smtp_data_feed() returns how many bytes it used and sets done
 *	when it used the last byte of that end; it never reads past it, so
 *	what follows is the next command. A line that starts with "." and
 *	is not the end loses that first ".". Nothing else ends the data:
 *	LF "." LF, CR "." CR, LF "." CR LF, CR LF "." LF, CR LF "." CR CR LF,
 *	CR LF NUL "." CR LF and the like are text (SECURITY S1, S2) - and a
 *	message holding a bare LF or a bare CR is refused as a whole, so no
 *	sequence that some other server might take for the end can ever be
 *	stored and passed on. A "." is only special right after CR LF: after
 *	a bare LF the machine is not at the start of a line, and
 *	smtp_data_mid_line() says the DATA command itself ended in a bare
 *	LF, so that its line end does not count as the first CR LF.
 *
 *	BDAT mode (RFC 3030). The chunks are the message; nothing in them is
 *	special, and every byte given is used. smtp_data_end() ends the
 *	message (BDAT LAST): a last line without CR LF gets its LF, a CR at
 *	the very end is a bare CR.
 *
 *	In both modes the message is refused (errors, and nothing more goes
 *	to the sink, while the machine still finds the end) for a bare LF
 *	(E_BARE_LF), a bare CR (E_BARE_CR), a NUL (E_NUL), a text line over
 *	998 octets, not counting CR LF or a stuffing dot (E_LONG_LINE, RFC
 *	5321 4.5.3.1.6: lines are never split, so no new line can begin
 *	with "."), more than limit octets (E_TOO_BIG; octets as sent, CR LF
 *	counted as two, stuffing dots not counted), or hops_max Received:
 *	header fields (E_LOOP; with ours the message would carry more than
 *	hops_max). The counters are 64-bit and a message over limit stops
 *	counting there, so nothing can wrap.
 *
 *	The header filter sits between the machine and the sink. It reads
 *	the header section (up to the first empty line, or the first line
 *	that is neither a field "name:" nor a continuation), counts Received:
 *	fields and notes Date: and Message-ID:. smtp_data_fixups() gives it
 *	complete lines (each ending in LF) to add at the end of the header
 *	section when those fields are missing (submission). Field names
 *	longer than SMTP_DATA_NAME_MAX end the header section.
 *
 *	The sink gets the output in pieces of up to SMTP_DATA_OUT_MAX bytes.
 *	smtp_data_discard() stops all further output (the caller gave up).
 *
 * DIAGNOSTICS
 *	smtp_data_end() returns the error bits (0: the message is fine).
 *	E_SINK (the sink returned -1) is temporary; the others permanent.
 *
 * SECURITY
 *	No privileges, no I/O. Input is hostile: linear time, no recursion,
 *	fixed memory (the struct), every counter checked before it grows.
 */
#include <stdint.h>
#include <string.h>

#include "str.h"

#include "smtpd.h"

/* Byte machine states. */
enum {
	D_BOL,		/* right after CR LF (or at the start of DATA) */
	D_TEXT,		/* inside a line */
	D_CR,		/* a CR, waiting for the LF */
	D_DOT,		/* DATA: "." at the start of a line */
	D_DOT_CR,	/* DATA: "." CR at the start of a line */
};

/* Header filter states. */
enum {
	H_BOL,		/* start of a line in the header section */
	H_NAME,		/* holding what may be a field name */
	H_PASS,		/* inside a field: pass to the end of the line */
	H_BODY,		/* past the header section */
};

#define REFUSED	(SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR | \
	SMTP_DATA_E_NUL | SMTP_DATA_E_LONG_LINE | SMTP_DATA_E_TOO_BIG | \
	SMTP_DATA_E_LOOP | SMTP_DATA_E_SINK)

/* smtp_data_init - a machine for one message */
void
smtp_data_init(struct smtp_data *d, int mode, uint64_t limit,
    unsigned hops_max, smtp_data_sink *sink, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->state = D_BOL;
	d->hstate = H_BOL;
	d->limit = limit;
	d->hops_max = hops_max;
	d->sink = sink;
	d->sink_ctx = ctx;
}

/* smtp_data_mid_line - not at the start of a line: no CR LF came first */
void
smtp_data_mid_line(struct smtp_data *d)
{
	d->state = D_TEXT;
}

/* smtp_data_fixups - header lines to add when Date:/Message-ID: lack */
void
smtp_data_fixups(struct smtp_data *d, const char *date_line,
    const char *msgid_line)
{
	d->fix_date = date_line;
	d->fix_msgid = msgid_line;
}

/* out_flush - hand the batched output to the sink */
static void
out_flush(struct smtp_data *d)
{
	if (d->outlen > 0 && d->sink != NULL && (d->errors & REFUSED) == 0 &&
	    d->sink(d->sink_ctx, d->out, d->outlen) < 0)
		d->errors |= SMTP_DATA_E_SINK;
	d->outlen = 0;
}

/* out_put - add n bytes to the output (dropped once refused) */
static void
out_put(struct smtp_data *d, const char *p, size_t n)
{
	size_t k;

	if (d->errors & REFUSED)
		return;
	while (n > 0) {
		if (d->outlen == sizeof(d->out)) {
			out_flush(d);
			if (d->errors & REFUSED)
				return;
		}
		k = sizeof(d->out) - d->outlen;
		if (k > n)
			k = n;
		memcpy(d->out + d->outlen, p, k);
		d->outlen += k;
		p += k;
		n -= k;
	}
}

/* out_str - add a C string to the output */
static void
out_str(struct smtp_data *d, const char *s)
{
	out_put(d, s, strlen(s));
}

/* end_headers - the header section is over: add the fix-ups */
static void
end_headers(struct smtp_data *d)
{
	if (!d->fixed) {
		d->fixed = 1;
		if (d->fix_date != NULL && !d->have_date)
			out_str(d, d->fix_date);
		if (d->fix_msgid != NULL && !d->have_msgid)
			out_str(d, d->fix_msgid);
	}
	d->hstate = H_BODY;
}

/* is_ftext - 1 for a byte that may be in a field name (RFC 5322 2.2) */
static int
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* classify - count and note the held field name */
static void
classify(struct smtp_data *d)
{
	size_t n = d->holdlen;

	while (n > 0 && (d->hold[n - 1] == ' ' || d->hold[n - 1] == '\t'))
		n--;
	if (n == 8 && str_eq_nocase_n(d->hold, "Received", 8)) {
		if (d->received < UINT32_MAX)
			d->received++;
		if (d->received >= d->hops_max)
			d->errors |= SMTP_DATA_E_LOOP;
	} else if (n == 4 && str_eq_nocase_n(d->hold, "Date", 4))
		d->have_date = 1;
	else if (n == 10 && str_eq_nocase_n(d->hold, "Message-ID", 10))
		d->have_msgid = 1;
}

/* hdr_byte - one output byte through the header filter */
static void
hdr_byte(struct smtp_data *d, char ch)
{
	unsigned char c = (unsigned char)ch;

	switch (d->hstate) {
	case H_BODY:
		out_put(d, &ch, 1);
		return;
	case H_PASS:
		if (c == '\n')
			d->hstate = H_BOL;
		out_put(d, &ch, 1);
		return;
	case H_BOL:
		if ((c == ' ' || c == '\t') && d->fields > 0) {
			d->hstate = H_PASS;
			out_put(d, &ch, 1);
		} else if (is_ftext(c)) {
			d->hold[0] = ch;
			d->holdlen = 1;
			d->hold_wsp = 0;
			d->hstate = H_NAME;
		} else {
			end_headers(d);
			out_put(d, &ch, 1);
		}
		return;
	default:		/* H_NAME */
		if (c == ':') {
			classify(d);
			if (d->fields < UINT32_MAX)
				d->fields++;
			out_put(d, d->hold, d->holdlen);
			out_put(d, &ch, 1);
			d->hstate = H_PASS;
			return;
		}
		if (d->holdlen < SMTP_DATA_NAME_MAX &&
		    ((c == ' ' || c == '\t') ||
		    (is_ftext(c) && !d->hold_wsp))) {
			if (c == ' ' || c == '\t')
				d->hold_wsp = 1;
			d->hold[d->holdlen++] = ch;
			return;
		}
		/* Not a field: the header section ended before this line. */
		end_headers(d);
		out_put(d, d->hold, d->holdlen);
		out_put(d, &ch, 1);
		return;
	}
}

/* grow - count n more message octets; E_TOO_BIG past the limit */
static void
grow(struct smtp_data *d, uint64_t n)
{
	if (d->errors & SMTP_DATA_E_TOO_BIG)
		return;
	if (n > d->limit || d->size > d->limit - n) {
		d->errors |= SMTP_DATA_E_TOO_BIG;
		return;		/* size stays at most limit */
	}
	d->size += n;
}

/* text_byte - one octet of a line's text */
static void
text_byte(struct smtp_data *d, char c)
{
	if (c == '\0')
		d->errors |= SMTP_DATA_E_NUL;
	if (d->linelen < SIZE_MAX)
		d->linelen++;
	if (d->linelen > SMTPD_TEXT_LINE_MAX)
		d->errors |= SMTP_DATA_E_LONG_LINE;
	grow(d, 1);
	hdr_byte(d, c);
}

/* bare_lf - a LF without its CR */
static void
bare_lf(struct smtp_data *d)
{
	d->errors |= SMTP_DATA_E_BARE_LF;
	d->linelen = 0;
	grow(d, 1);
	d->state = D_TEXT;	/* not the start of a line: "." is text */
}

/* bare_cr - a CR without its LF: it is text (and refused) */
static void
bare_cr(struct smtp_data *d)
{
	d->errors |= SMTP_DATA_E_BARE_CR;
	text_byte(d, '\r');
}

/* in_text - one byte inside a line (state D_TEXT) */
static void
in_text(struct smtp_data *d, char c)
{
	if (c == '\r')
		d->state = D_CR;
	else if (c == '\n')
		bare_lf(d);
	else {
		text_byte(d, c);
		d->state = D_TEXT;
	}
}

/* fast_text - copy a run of plain text in the body; returns bytes used */
static size_t
fast_text(struct smtp_data *d, const char *p, size_t n)
{
	size_t room, k = 0;

	if (d->linelen >= SMTPD_TEXT_LINE_MAX || (d->errors & REFUSED))
		return 0;
	room = SMTPD_TEXT_LINE_MAX - d->linelen;
	if (room > n)
		room = n;
	if (d->limit - d->size < room)
		room = (size_t)(d->limit - d->size);
	while (k < room && p[k] != '\r' && p[k] != '\n' && p[k] != '\0')
		k++;
	if (k == 0)
		return 0;
	d->linelen += k;
	d->size += k;
	out_put(d, p, k);
	return k;
}

/* smtp_data_feed - use bytes of p[0..n); stops after the end of DATA */
size_t
smtp_data_feed(struct smtp_data *d, const char *p, size_t n)
{
	size_t i = 0, k;
	char c;

	while (i < n && !d->done) {
		if (d->state == D_TEXT && (d->hstate == H_BODY ||
		    d->hstate == H_PASS) && (k = fast_text(d, p + i,
		    n - i)) > 0) {
			i += k;
			continue;
		}
		c = p[i++];
		switch (d->state) {
		case D_BOL:
			if (c == '.' && d->mode == SMTP_DATA_MODE_DATA) {
				d->state = D_DOT;
				break;
			}
			in_text(d, c);
			break;
		case D_TEXT:
			in_text(d, c);
			break;
		case D_CR:
			if (c == '\n') {
				d->linelen = 0;
				grow(d, 2);
				hdr_byte(d, '\n');
				d->state = D_BOL;
				break;
			}
			bare_cr(d);
			in_text(d, c);
			break;
		case D_DOT:
			/* The stuffing dot goes; c is the line's first byte. */
			if (c == '\r')
				d->state = D_DOT_CR;
			else
				in_text(d, c);
			break;
		default:	/* D_DOT_CR */
			if (c == '\n') {
				d->done = 1;
				break;
			}
			bare_cr(d);
			in_text(d, c);
			break;
		}
	}
	return i;
}

/* smtp_data_end - finish the message; returns the error bits */
int
smtp_data_end(struct smtp_data *d)
{
	if (d->mode == SMTP_DATA_MODE_BDAT) {
		if (d->state == D_CR)
			bare_cr(d);
		if (d->state != D_BOL && d->linelen > 0) {
			/* A last line without CR LF gets its LF. */
			d->linelen = 0;
			hdr_byte(d, '\n');
		}
		d->state = D_BOL;
	}
	if (d->hstate == H_NAME) {
		end_headers(d);
		out_put(d, d->hold, d->holdlen);
		out_put(d, "\n", 1);
	} else if (d->hstate != H_BODY)
		end_headers(d);
	out_flush(d);
	return d->errors;
}

/* smtp_data_discard - no more output: the caller has given up */
void
smtp_data_discard(struct smtp_data *d)
{
	d->sink = NULL;
	d->outlen = 0;
}
