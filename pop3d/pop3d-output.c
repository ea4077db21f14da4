/*
 * NAME
 *	pop3d-output - a stored message as POP3 multi-line text
 *
 * SYNOPSIS
 *	void pop3d_out_init(struct pop3d_out *o, int limited,
 *	    uint64_t max_lines);
 *	int pop3d_out_feed(struct pop3d_out *o, const void *p, size_t n,
 *	    struct buf *out);
 *	int pop3d_out_end(struct pop3d_out *o, struct buf *out);
 *
 * DESCRIPTION
 *	Messages are stored as delivered, usually with LF line ends, and may
 *	hold bare LF, bare CR, or lines that are just ".". The client must
 *	get CRLF lines and a terminating ".\r\n" that nothing in the message
 *	can imitate (RFC 1939 section 3, SECURITY P4). pop3d_out_feed()
 *	turns the octets of the file, fed in pieces of any size, into that
 *	text, appended to out:
 *
 *	    CR LF, a bare LF, a bare CR   ->  CR LF (one line end each)
 *	    "." at the start of a line    ->  ".."
 *	    any other octet               ->  itself
 *
 *	so every CR and LF sent is part of a CR LF pair and no line of the
 *	message can be the terminator. o->octets counts the text without
 *	the stuffed dots, which is what mailbox_crlf_count() counts, so the
 *	size LIST gave is the size RETR sends. pop3d_out_end() ends the last
 *	line if the message did not, and adds ".\r\n".
 *
 *	TOP (limited): the header, the blank line after it, and max_lines
 *	lines of the body; then o->done is set and the rest is ignored. A
 *	message without a blank line is all header.
 *
 *	While the header passes, the value of its Message-ID field (unfolded,
 *	at most POP3D_MSGID_MAX octets) is kept in o->msgid for the log.
 *
 * DIAGNOSTICS
 *	0, or -1 with ENOBUFS when out is full; out then holds a part of the
 *	text and the caller gives up on the message. One call adds at most
 *	2 * n + 2 octets to out.
 *
 * SECURITY
 *	The message is untrusted data; it is copied, never interpreted
 *	beyond line ends and the header's end.
 */
#include <string.h>

#include "pop3d.h"

static const char msgid_field[] = "message-id:";

/* pop3d_out_init - start a message; limited for TOP with max_lines */
void
pop3d_out_init(struct pop3d_out *o, int limited, uint64_t max_lines)
{
	memset(o, 0, sizeof(*o));
	o->limited = limited;
	o->max_lines = max_lines;
	o->bol = 1;
	o->in_header = 1;
}

/* end_line - send CR LF for the line end just read */
static int
end_line(struct pop3d_out *o, struct buf *out)
{
	if (buf_append(out, "\r\n", 2) < 0)
		return -1;
	o->octets += 2;
	if (o->in_header) {
		if (o->bol)
			o->in_header = 0;	/* the blank line after it */
	} else
		o->body_lines++;
	o->bol = 1;
	if (o->limited && !o->in_header && o->body_lines >= o->max_lines)
		o->done = 1;
	return 0;
}

/* header_octet - follow the header for the Message-ID field */
static void
header_octet(struct pop3d_out *o, unsigned char ch, int first)
{
	if (first) {
		if (ch == ' ' || ch == '\t') {
			/* A folded line continues the field before it. */
			o->hdr_match = 0;
		} else {
			o->in_msgid = 0;
			o->hdr_match = 1;
			o->hdr_pos = 0;
		}
	}
	if (o->hdr_match) {
		unsigned char lc = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;

		if (lc != (unsigned char)msgid_field[o->hdr_pos]) {
			o->hdr_match = 0;
			return;
		}
		if (++o->hdr_pos == sizeof(msgid_field) - 1) {
			o->hdr_match = 0;
			o->in_msgid = 1;
			o->msgid_len = 0;	/* the last one counts */
		}
		return;
	}
	if (!o->in_msgid)
		return;
	if ((ch == ' ' || ch == '\t') && o->msgid_len == 0)
		return;
	if (o->msgid_len < POP3D_MSGID_MAX) {
		o->msgid[o->msgid_len++] = (char)ch;
		o->msgid[o->msgid_len] = '\0';
	}
}

/* pop3d_out_feed - convert n octets of the message into out */
int
pop3d_out_feed(struct pop3d_out *o, const void *p, size_t n,
    struct buf *out)
{
	const unsigned char *s = p;
	size_t i, run;

	if (buf_reserve(out, 2 * n + 2) < 0)
		return -1;
	for (i = 0; i < n && !o->done; i++) {
		if (s[i] == '\r') {
			if (end_line(o, out) < 0)
				return -1;
			o->skip_lf = 1;
			continue;
		}
		if (s[i] == '\n') {
			if (o->skip_lf)
				o->skip_lf = 0;
			else if (end_line(o, out) < 0)
				return -1;
			continue;
		}
		o->skip_lf = 0;
		if (o->bol && s[i] == '.' && buf_append(out, ".", 1) < 0)
			return -1;
		if (o->in_header)
			header_octet(o, s[i], o->bol);
		o->bol = 0;
		/* The rest of the line up to CR or LF in one append. */
		for (run = 1; i + run < n && s[i + run] != '\r' &&
		    s[i + run] != '\n'; run++)
			if (o->in_header)
				header_octet(o, s[i + run], 0);
		if (buf_append(out, s + i, run) < 0)
			return -1;
		o->octets += run;
		i += run - 1;
	}
	return 0;
}

/* pop3d_out_end - end the last line if needed, then the terminator */
int
pop3d_out_end(struct pop3d_out *o, struct buf *out)
{
	if (!o->bol && buf_append(out, "\r\n", 2) < 0)
		return -1;
	return buf_append(out, ".\r\n", 3);
}
