/*
 * NAME
 *	bounce - delivery status notifications (RFC 3464)
 *
 * SYNOPSIS
 *	int bounce_build(const struct bounce *b, struct buf *out,
 *	    int *eight_bit_r);
 *	size_t bounce_header_end(const char *msg, size_t len);
 *	void bounce_status(const char *text, enum bounce_kind kind,
 *	    char status[BOUNCE_STATUS_MAX + 1], const char **rest_r);
 *	int bounce_date(int64_t t, char *out, size_t size);
 *
 * DESCRIPTION
 *	bounce_build() appends one notice to out (see bounce.h):
 *
 *	    From: Mail Delivery System <MAILER-DAEMON@HOSTNAME>
 *	    To: <TO>
 *	    Subject: Undelivered Mail Returned to Sender   (or delay/success)
 *	    Date, Message-ID, Auto-Submitted: auto-replied, MIME-Version
 *	    Content-Type: multipart/report; report-type=delivery-status
 *	      1. text/plain: what happened, one line per recipient
 *	      2. message/delivery-status: a per-message block
 *	         (Reporting-MTA, X-Mailstack-Queue-ID, Original-Envelope-Id,
 *	         Arrival-Date) and one block per recipient (Final-Recipient,
 *	         Original-Recipient, Action, Status, Diagnostic-Code,
 *	         Last-Attempt-Date, Will-Retry-Until)
 *	      3. message/rfc822 with the original, or text/rfc822-headers
 *	         with its header when b->headers_only
 *
 *	The MIME boundary is chosen so that it occurs nowhere in the
 *	original. *eight_bit_r says whether the notice holds octets above
 *	0x7f (then it must travel as 8BITMIME). Lines end in LF, like every
 *	message in the queue.
 *
 *	bounce_header_end() is the length of the header section of msg,
 *	the empty line that ends it included (len when there is none).
 *	bounce_status() splits a result text "X.Y.Z text" into its status
 *	code (checked: class 2, 4 or 5 and two numbers of 1-3 digits) and
 *	the rest; when the text has no code, the status is 5.0.0, 4.0.0 or
 *	2.0.0 by kind and the rest is the whole text. bounce_date() writes
 *	an RFC 5322 date in UTC, independent of the locale.
 *
 * DIAGNOSTICS
 *	bounce_build: 0, or -1 with ENOBUFS (out is full) or EINVAL (a
 *	field missing). bounce_date: -1/ENOBUFS if size is too small.
 *
 * SECURITY
 *	No privileges. The original message is untrusted: it is copied as
 *	opaque bytes, and the boundary is checked against it so that it
 *	cannot end the report early. Addresses and texts come from a
 *	checked queue entry (no control characters).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "buf.h"

/* bounce_date - RFC 5322 date-time of t in UTC */
int
bounce_date(int64_t t, char *out, size_t size)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;
	time_t tt = (time_t)t;
	int n;

	if (gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		(void)gmtime_r(&tt, &tm);
	}
	n = snprintf(out, size, "%s, %d %s %d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= size) {
		errno = ENOBUFS;
		return -1;
	}
	return 0;
}

/* bounce_header_end - length of the header section, empty line included */
size_t
bounce_header_end(const char *msg, size_t len)
{
	size_t i;

	if (len > 0 && msg[0] == '\n')
		return 1;
	if (len > 1 && msg[0] == '\r' && msg[1] == '\n')
		return 2;
	for (i = 0; i + 1 < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (msg[i + 1] == '\n')
			return i + 2;
		if (msg[i + 1] == '\r' && i + 2 < len && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* digits - count of decimal digits at p (stops at a non-digit) */
static size_t
digits(const char *p)
{
	size_t n = 0;

	while (p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/* bounce_status - split "X.Y.Z text" into code and text */
void
bounce_status(const char *text, enum bounce_kind kind,
    char status[BOUNCE_STATUS_MAX + 1], const char **rest_r)
{
	const char *p = text;
	size_t a, b;

	if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
		a = digits(p + 2);
		if (a >= 1 && a <= 3 && p[2 + a] == '.') {
			b = digits(p + 3 + a);
			if (b >= 1 && b <= 3 && (p[3 + a + b] == ' ' ||
			    p[3 + a + b] == '\0')) {
				memcpy(status, p, 3 + a + b);
				status[3 + a + b] = '\0';
				p += 3 + a + b;
				while (*p == ' ')
					p++;
				*rest_r = p;
				return;
			}
		}
	}
	(void)snprintf(status, BOUNCE_STATUS_MAX + 1, "%s",
	    kind == BOUNCE_SUCCESS ? "2.0.0" :
	    kind == BOUNCE_DELAY ? "4.0.0" : "5.0.0");
	*rest_r = text;
}

/* has_8bit - 1 if p[0..n) holds an octet above 0x7f */
static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return 1;
	return 0;
}

/* contains - 1 if needle occurs in hay[0..n) */
static int
contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* text_part - the human-readable explanation */
static int
text_part(const struct bounce *b, struct buf *out)
{
	size_t i;
	int r = 0;

	r |= buf_printf(out, "This is the mail system at host %s.\n\n",
	    b->hostname);
	switch (b->kind) {
	case BOUNCE_FAILURE:
		if (b->sender[0] == '\0')
			r |= buf_append_str(out,
			    "A message sent with the null sender <> (itself a "
			    "delivery notice) could not\nbe delivered. It is "
			    "reported to the postmaster instead of its "
			    "sender.\n\n");
		else
			r |= buf_append_str(out,
			    "I'm sorry to have to inform you that your message "
			    "could not be delivered\nto one or more "
			    "recipients. It is attached below.\n\n");
		break;
	case BOUNCE_DELAY:
		r |= buf_append_str(out,
		    "####### THIS IS A WARNING ONLY. YOU DO NOT NEED TO "
		    "RESEND YOUR MESSAGE. #######\n\nYour message could not be "
		    "delivered yet to the recipients below.\nThe mail system "
		    "will keep trying");
		if (b->retry_until > 0) {
			char d[64];

			if (bounce_date(b->retry_until, d, sizeof(d)) == 0)
				r |= buf_printf(out, " until %s", d);
		}
		r |= buf_append_str(out, ".\n\n");
		break;
	case BOUNCE_SUCCESS:
		r |= buf_append_str(out,
		    "Your message was successfully delivered to the "
		    "recipients below.\n\n");
		break;
	}
	for (i = 0; i < b->n_rcpts; i++)
		r |= buf_printf(out, "<%s>: %s\n", b->rcpts[i].addr,
		    b->rcpts[i].text[0] != '\0' ? b->rcpts[i].text :
		    "(no details)");
	return r != 0 ? -1 : 0;
}

/* orcpt_value - "type;addr" as "type; addr" (already has a type) */
static int
orcpt_value(struct buf *out, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');

	if (semi == NULL)
		return buf_printf(out, "rfc822; %s", orcpt);
	if (buf_append(out, orcpt, (size_t)(semi - orcpt)) < 0)
		return -1;
	return buf_printf(out, "; %s", semi + 1);
}

/* status_part - the message/delivery-status body */
static int
status_part(const struct bounce *b, struct buf *out)
{
	static const char *const actions[] = { "failed", "delayed",
	    "delivered" };
	char date[64];
	size_t i;
	int r = 0;

	r |= buf_printf(out, "Reporting-MTA: dns; %s\n", b->hostname);
	r |= buf_printf(out, "X-Mailstack-Queue-ID: %s\n", b->qid);
	if (b->envid != NULL && b->envid[0] != '\0')
		r |= buf_printf(out, "Original-Envelope-Id: %s\n", b->envid);
	if (bounce_date(b->arrival, date, sizeof(date)) == 0)
		r |= buf_printf(out, "Arrival-Date: %s\n", date);
	for (i = 0; i < b->n_rcpts; i++) {
		const struct bounce_rcpt *rc = &b->rcpts[i];
		char status[BOUNCE_STATUS_MAX + 1];
		const char *rest;

		bounce_status(rc->text, b->kind, status, &rest);
		/* A failure after temporary errors keeps its 4.x.x code. */
		r |= buf_printf(out, "\nFinal-Recipient: rfc822; %s\n",
		    rc->addr);
		if (rc->orcpt != NULL) {
			r |= buf_append_str(out, "Original-Recipient: ");
			r |= orcpt_value(out, rc->orcpt);
			r |= buf_append_char(out, '\n');
		}
		r |= buf_printf(out, "Action: %s\nStatus: %s\n",
		    actions[b->kind], status);
		if (rest[0] != '\0')
			r |= buf_printf(out, "Diagnostic-Code: X-Mailstack; "
			    "%s\n", rest);
		if (rc->last_try > 0 &&
		    bounce_date(rc->last_try, date, sizeof(date)) == 0)
			r |= buf_printf(out, "Last-Attempt-Date: %s\n", date);
		if (b->kind == BOUNCE_DELAY && b->retry_until > 0 &&
		    bounce_date(b->retry_until, date, sizeof(date)) == 0)
			r |= buf_printf(out, "Will-Retry-Until: %s\n", date);
	}
	return r != 0 ? -1 : 0;
}

/* bounce_build - append a complete notice to out */
int
bounce_build(const struct bounce *b, struct buf *out, int *eight_bit_r)
{
	static const char *const subjects[] = {
		"Undelivered Mail Returned to Sender",
		"Delayed Mail (still being retried)",
		"Successful Mail Delivery Report",
	};
	struct buf boundary = BUF_INIT(256);
	size_t i, start = out->len, orig_len;
	char date[64];
	unsigned n;
	int r = 0, eight, utf8;

	if (b->hostname == NULL || b->qid == NULL || b->to == NULL ||
	    b->sender == NULL || b->n_rcpts == 0 ||
	    (unsigned)b->kind > BOUNCE_SUCCESS ||
	    (b->original == NULL && b->original_len > 0)) {
		errno = EINVAL;
		return -1;
	}
	orig_len = b->headers_only ?
	    bounce_header_end(b->original, b->original_len) : b->original_len;
	/* A boundary the original does not contain. */
	for (n = 0;; n++) {
		buf_reset(&boundary);
		if (buf_printf(&boundary, "%s.%u.%lld/%s", b->qid, n,
		    (long long)b->now, b->hostname) < 0)
			goto nobufs;
		if (orig_len == 0 || !contains(b->original, orig_len,
		    buf_cstr(&boundary)))
			break;
	}
	utf8 = has_8bit(b->to, strlen(b->to));
	for (i = 0; i < b->n_rcpts; i++)
		if (has_8bit(b->rcpts[i].addr, strlen(b->rcpts[i].addr)) ||
		    (b->rcpts[i].orcpt != NULL && has_8bit(b->rcpts[i].orcpt,
		    strlen(b->rcpts[i].orcpt))))
			utf8 = 1;
	eight = utf8 || has_8bit(b->original, orig_len);
	if (bounce_date(b->now, date, sizeof(date)) < 0)
		goto nobufs;
	r |= buf_printf(out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>\n", b->hostname);
	r |= buf_printf(out, "To: <%s>\n", b->to);
	r |= buf_printf(out, "Subject: %s\n", subjects[b->kind]);
	r |= buf_printf(out, "Date: %s\n", date);
	r |= buf_printf(out, "Message-ID: <%s.%s.%lld@%s>\n", b->qid,
	    b->kind == BOUNCE_FAILURE ? "bounce" :
	    b->kind == BOUNCE_DELAY ? "delay" : "success",
	    (long long)b->now, b->hostname);
	r |= buf_append_str(out, "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n");
	r |= buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\"%s\"\n",
	    buf_cstr(&boundary));
	r |= buf_printf(out, "Content-Transfer-Encoding: %s\n\n",
	    eight ? "8bit" : "7bit");
	r |= buf_append_str(out, "This is a MIME-encapsulated message.\n\n");

	r |= buf_printf(out, "--%s\nContent-Description: Notification\n"
	    "Content-Type: text/plain; charset=%s\n\n", buf_cstr(&boundary),
	    utf8 ? "utf-8" : "us-ascii");
	if (r != 0 || text_part(b, out) < 0)
		goto nobufs;

	r |= buf_printf(out, "\n--%s\nContent-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n", buf_cstr(&boundary));
	if (r != 0 || status_part(b, out) < 0)
		goto nobufs;

	r |= buf_printf(out, "\n--%s\n", buf_cstr(&boundary));
	if (b->headers_only)
		r |= buf_append_str(out, "Content-Description: Headers of the "
		    "original message\nContent-Type: text/rfc822-headers\n");
	else
		r |= buf_append_str(out, "Content-Description: The original "
		    "message\nContent-Type: message/rfc822\n");
	if (eight)
		r |= buf_append_str(out, "Content-Transfer-Encoding: 8bit\n");
	r |= buf_append_char(out, '\n');
	if (orig_len > 0)
		r |= buf_append(out, b->original, orig_len);
	if (orig_len > 0 && b->original[orig_len - 1] != '\n')
		r |= buf_append_char(out, '\n');
	r |= buf_printf(out, "\n--%s--\n", buf_cstr(&boundary));
	if (r != 0)
		goto nobufs;
	buf_free(&boundary);
	if (eight_bit_r != NULL)
		*eight_bit_r = eight;
	return 0;
nobufs:
	buf_free(&boundary);
	buf_truncate(out, start);
	errno = ENOBUFS;
	return -1;
}
