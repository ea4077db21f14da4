/*
 * NAME
 *	bounce - delivery status notifications (RFC 3464)
 *
 * SYNOPSIS
 *	int bounce_build(const struct bounce *b, struct buf *out,
 *	    int *flags_r);
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
 *	    Subject: Undelivered Mail Returned to Sender
 *	             (or delay, success, relayed)
 *	    Date, Message-ID, Auto-Submitted: auto-replied, MIME-Version
 *	    Content-Type: multipart/report; report-type=delivery-status
 *	      1. text/plain: what happened, one line per recipient
 *	      2. message/delivery-status: a per-message block
 *	         (Reporting-MTA, X-Mailstack-Queue-ID, Original-Envelope-Id,
 *	         Arrival-Date) and one block per recipient (Final-Recipient,
 *	         Original-Recipient, Action, Status, Remote-MTA,
 *	         Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until)
 *	      3. message/rfc822 with the original, or text/rfc822-headers
 *	         with its header when b->headers_only
 *
 *	Action is failed, delayed, delivered or relayed (RFC 3464 2.3.3;
 *	relayed: the next hop took the message but not the DSN request,
 *	RFC 3461 5.2.2). A result text in remote(8)'s form for a server's
 *	reply, "X.Y.Z host NAME[IP] said: NNN text (in reply to STAGE)",
 *	gives "Remote-MTA: dns; NAME" and "Diagnostic-Code: smtp; NNN
 *	text" (the reply as the server gave it, RFC 3464 2.3.6); any other
 *	text is one of our own and gives "Diagnostic-Code: X-Mailstack;
 *	text".
 *
 *	Internationalized form (RFC 6533), taken when b->smtputf8, when
 *	b->to, a recipient or an ORCPT address is not ASCII, or when the
 *	returned header holds UTF-8: part 2 is
 *	message/global-delivery-status, part 3 message/global (the whole
 *	message) or message/global-headers, both 8bit, a non-ASCII address
 *	is written with the "utf-8" address type ("Final-Recipient: utf-8;
 *	ADDR"), and the text part is charset utf-8. Otherwise the notice is
 *	exactly RFC 3464's.
 *
 *	The MIME boundary is chosen so that it occurs nowhere in the
 *	original. *flags_r gets BOUNCE_8BIT when the notice holds octets
 *	above 0x7f (then it must travel as 8BITMIME) and BOUNCE_UTF8 when
 *	it took the internationalized form (then it is sent as SMTPUTF8
 *	mail: its To: may hold a UTF-8 address). Lines end in LF, like
 *	every message in the queue.
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
#include <strings.h>
#include <time.h>

#include "bounce.h"
#include "buf.h"
#include "utf8.h"

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
	case BOUNCE_RELAYED:
		r |= buf_append_str(out,
		    "Your message was relayed to the recipients below. The "
		    "next mail server does\nnot support delivery status "
		    "notifications (DSN): you asked to be told of\nthe "
		    "delivery, but this is the last notice you will get "
		    "about it.\n\n");
		break;
	}
	for (i = 0; i < b->n_rcpts; i++)
		r |= buf_printf(out, "<%s>: %s\n", b->rcpts[i].addr,
		    b->rcpts[i].text[0] != '\0' ? b->rcpts[i].text :
		    "(no details)");
	return r != 0 ? -1 : 0;
}

/* addr_type - "utf-8" for a non-ASCII address (RFC 6533), else "rfc822" */
static const char *
addr_type(const char *addr)
{
	return has_8bit(addr, strlen(addr)) ? "utf-8" : "rfc822";
}

/*
 * orcpt_value - "type;addr" as "type; addr"; an rfc822 address that is
 * not ASCII (an SMTPUTF8 client's ORCPT) is given the utf-8 type
 */
static int
orcpt_value(struct buf *out, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	size_t tlen;

	if (semi == NULL)
		return buf_printf(out, "%s; %s", addr_type(orcpt), orcpt);
	tlen = (size_t)(semi - orcpt);
	if (tlen == 6 && strncasecmp(orcpt, "rfc822", 6) == 0)
		return buf_printf(out, "%s; %s", addr_type(semi + 1), semi + 1);
	if (buf_append(out, orcpt, tlen) < 0)
		return -1;
	return buf_printf(out, "; %s", semi + 1);
}

/* ends_with - 1 if s[0..n) ends with suffix */
static int
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/*
 * remote_reply - split remote(8)'s "host NAME[IP] said: NNN text (in
 * reply to STAGE)" (rest: the result text after its status code) into
 * NAME and "NNN text"; 0, or -1 when rest is not a server's reply
 */
static int
remote_reply(const char *rest, const char **host_r, size_t *host_len_r,
    const char **reply_r, size_t *reply_len_r)
{
	const char *said, *h, *br, *p, *last = NULL;
	size_t n;

	if (strncmp(rest, "host ", 5) != 0)
		return -1;
	h = rest + 5;
	said = strstr(h, " said: ");
	if (said == NULL || said == h)
		return -1;
	br = memchr(h, '[', (size_t)(said - h));
	*host_r = h;
	*host_len_r = (size_t)((br != NULL ? br : said) - h);
	if (*host_len_r == 0 || memchr(h, ' ', (size_t)(said - h)) != NULL)
		return -1;
	said += 7;
	if (said[0] < '2' || said[0] > '5' || said[1] < '0' ||
	    said[1] > '9' || said[2] < '0' || said[2] > '9' ||
	    (said[3] != ' ' && said[3] != '\0'))
		return -1;
	n = strlen(said);
	/* Drop the stage remote added (or what a cut text kept of it). */
	if (ends_with(said, n, " (as its greeting)"))
		n -= strlen(" (as its greeting)");
	else {
		for (p = said; (p = strstr(p, " (in reply to ")) != NULL; p++)
			last = p;
		if (last != NULL && strchr(last + 2, '(') == NULL)
			n = (size_t)(last - said);
	}
	*reply_r = said;
	*reply_len_r = n;
	return 0;
}

/* diagnostic - Remote-MTA and Diagnostic-Code for a result's text */
static int
diagnostic(struct buf *out, const char *rest)
{
	const char *host, *reply;
	size_t host_len, reply_len;
	int r = 0;

	if (rest[0] == '\0')
		return 0;
	if (remote_reply(rest, &host, &host_len, &reply, &reply_len) == 0) {
		r |= buf_append_str(out, "Remote-MTA: dns; ");
		r |= buf_append(out, host, host_len);
		r |= buf_append_str(out, "\nDiagnostic-Code: smtp; ");
		r |= buf_append(out, reply, reply_len);
		r |= buf_append_char(out, '\n');
		return r != 0 ? -1 : 0;
	}
	return buf_printf(out, "Diagnostic-Code: X-Mailstack; %s\n", rest);
}

/* status_part - the message/delivery-status body */
static int
status_part(const struct bounce *b, struct buf *out)
{
	static const char *const actions[] = { "failed", "delayed",
	    "delivered", "relayed" };
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
		r |= buf_printf(out, "\nFinal-Recipient: %s; %s\n",
		    addr_type(rc->addr), rc->addr);
		if (rc->orcpt != NULL) {
			r |= buf_append_str(out, "Original-Recipient: ");
			r |= orcpt_value(out, rc->orcpt);
			r |= buf_append_char(out, '\n');
		}
		r |= buf_printf(out, "Action: %s\nStatus: %s\n",
		    actions[b->kind], status);
		r |= diagnostic(out, rest);
		if (rc->last_try > 0 &&
		    bounce_date(rc->last_try, date, sizeof(date)) == 0)
			r |= buf_printf(out, "Last-Attempt-Date: %s\n", date);
		if (b->kind == BOUNCE_DELAY && b->retry_until > 0 &&
		    bounce_date(b->retry_until, date, sizeof(date)) == 0)
			r |= buf_printf(out, "Will-Retry-Until: %s\n", date);
	}
	return r != 0 ? -1 : 0;
}

/* wants_global - 1 if the notice takes RFC 6533's form (see above) */
static int
wants_global(const struct bounce *b, size_t head_len)
{
	size_t i;

	if (b->smtputf8 || has_8bit(b->to, strlen(b->to)))
		return 1;
	for (i = 0; i < b->n_rcpts; i++)
		if (has_8bit(b->rcpts[i].addr, strlen(b->rcpts[i].addr)) ||
		    (b->rcpts[i].orcpt != NULL && has_8bit(b->rcpts[i].orcpt,
		    strlen(b->rcpts[i].orcpt))))
			return 1;
	/* A UTF-8 header (RFC 6532), not just any 8-bit junk. */
	return head_len > 0 && has_8bit(b->original, head_len) &&
	    utf8_valid(b->original, head_len);
}

/* bounce_build - append a complete notice to out */
int
bounce_build(const struct bounce *b, struct buf *out, int *flags_r)
{
	static const char *const subjects[] = {
		"Undelivered Mail Returned to Sender",
		"Delayed Mail (still being retried)",
		"Successful Mail Delivery Report",
		"Relayed Mail Report (no further notice will come)",
	};
	static const char *const tags[] = { "bounce", "delay", "success",
	    "relayed" };
	struct buf boundary = BUF_INIT(256);
	size_t i, start = out->len, orig_len;
	char date[64];
	unsigned n;
	int r = 0, eight, global;

	if (b->hostname == NULL || b->qid == NULL || b->to == NULL ||
	    b->sender == NULL || b->n_rcpts == 0 ||
	    (unsigned)b->kind > BOUNCE_RELAYED ||
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
	global = wants_global(b,
	    bounce_header_end(b->original, b->original_len));
	eight = global || has_8bit(b->original, orig_len);
	for (i = 0; i < b->n_rcpts; i++)
		if (has_8bit(b->rcpts[i].text, strlen(b->rcpts[i].text)))
			eight = 1;
	if (bounce_date(b->now, date, sizeof(date)) < 0)
		goto nobufs;
	r |= buf_printf(out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>\n", b->hostname);
	r |= buf_printf(out, "To: <%s>\n", b->to);
	r |= buf_printf(out, "Subject: %s\n", subjects[b->kind]);
	r |= buf_printf(out, "Date: %s\n", date);
	r |= buf_printf(out, "Message-ID: <%s.%s.%lld@%s>\n", b->qid,
	    tags[b->kind], (long long)b->now, b->hostname);
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
	    global ? "utf-8" : "us-ascii");
	if (r != 0 || text_part(b, out) < 0)
		goto nobufs;

	r |= buf_printf(out, "\n--%s\nContent-Description: Delivery report\n"
	    "Content-Type: message/%sdelivery-status\n%s\n",
	    buf_cstr(&boundary), global ? "global-" : "",
	    global ? "Content-Transfer-Encoding: 8bit\n" : "");
	if (r != 0 || status_part(b, out) < 0)
		goto nobufs;

	r |= buf_printf(out, "\n--%s\n", buf_cstr(&boundary));
	if (b->headers_only)
		r |= buf_printf(out, "Content-Description: Headers of the "
		    "original message\nContent-Type: %s\n", global ?
		    "message/global-headers" : "text/rfc822-headers");
	else
		r |= buf_printf(out, "Content-Description: The original "
		    "message\nContent-Type: %s\n", global ? "message/global" :
		    "message/rfc822");
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
	if (flags_r != NULL)
		*flags_r = (eight ? BOUNCE_8BIT : 0) | (global ? BOUNCE_UTF8 : 0);
	return 0;
nobufs:
	buf_free(&boundary);
	buf_truncate(out, start);
	errno = ENOBUFS;
	return -1;
}
