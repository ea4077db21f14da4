/*
 * NAME
 *	smtpd-received - trace and fix-up header fields written by smtpd
 *
 * SYNOPSIS
 *	int received_header(const struct received_info *ri, struct buf *out);
 *	const char *received_protocol(const char *protocol, int smtputf8);
 *	int received_date(time_t when, struct buf *out);
 *	int received_msgid(const char *hostname, struct buf *out);
 *	void received_comment(const char *s, size_t n, struct buf *out);
 *
 * DESCRIPTION
 *	received_header() appends the Received: field of RFC 5321 4.4 in
 *	the queue's form (lines ended by LF, continuation lines starting
 *	with a tab):
 *
 *	    Received: from HELO ([IP])
 *	    	by HOSTNAME (mailstack smtpd) with PROTOCOL (TLS)
 *	    	(authenticated user USER)
 *	    	for <RCPT>; DATE
 *
 *	HELO is written as the client gave it only when it is a valid
 *	domain or address literal; otherwise the field says "from [IP]"
 *	(or "from unknown") and puts the HELO text inside a comment, where
 *	'(', ')' and '\' are escaped as quoted pairs (received_comment), so
 *	no HELO can close the comment or forge a clause (SECURITY A4; it is
 *	printable ASCII already, smtp_parse_helo). The TLS clause is the
 *	protocol and cipher from io_tls_describe(); the user line appears
 *	after AUTH; the "for" clause only with a single recipient, so a
 *	message to several people does not tell each of them the others.
 *	The protocol is one of RFC 3848's: SMTP, ESMTP, ESMTPS, ESMTPA,
 *	ESMTPSA; for a message sent with SMTPUTF8 (ri->smtputf8) the
 *	ESMTP names become RFC 6531 3.7.3's UTF8SMTP, UTF8SMTPS,
 *	UTF8SMTPA and UTF8SMTPSA (received_protocol).
 *
 *	received_date() appends "Date: " and an RFC 5322 date-time in local
 *	time with its numeric zone, and LF. received_msgid() appends
 *	"Message-ID: <SECONDS.PID.RANDOM@HOSTNAME>" and LF, with 64 random
 *	bits from getentropy(3).
 *
 * DIAGNOSTICS
 *	0, or -1/ENOBUFS when out is full; received_msgid also -1 with the
 *	errno of getentropy (temporary).
 *
 * SECURITY
 *	No privileges. HELO, user and recipient come from the client; they
 *	have been checked before, and are escaped here where it matters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"

#include "smtpd.h"

/* received_comment - s as comment text: '(' ')' '\' become quoted pairs */
void
received_comment(const char *s, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			(void)buf_append_char(out, '?');
			continue;
		}
		if (c == '(' || c == ')' || c == '\\')
			(void)buf_append_char(out, '\\');
		(void)buf_append_char(out, (char)c);
	}
}

/* ip_literal - "[IP]" or "[IPv6:IP]" for a client address text */
static void
ip_literal(const char *ip, struct buf *out)
{
	unsigned char a[16];

	if (ip == NULL || *ip == '\0') {
		(void)buf_append_str(out, "unknown");
		return;
	}
	if (inet_pton(AF_INET6, ip, a) == 1)
		(void)buf_printf(out, "[IPv6:%s]", ip);
	else
		(void)buf_printf(out, "[%s]", ip);
}

/* date_text - RFC 5322 date-time of when into out */
static int
date_text(time_t when, char *out, size_t size)
{
	struct tm tm;

	if (localtime_r(&when, &tm) == NULL)
		return -1;
	if (strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	return 0;
}

/* received_protocol - the WITH protocol name, UTF8SMTP* for SMTPUTF8 */
const char *
received_protocol(const char *protocol, int smtputf8)
{
	static const char *const names[][2] = {
		{ "ESMTP", "UTF8SMTP" },
		{ "ESMTPA", "UTF8SMTPA" },
		{ "ESMTPS", "UTF8SMTPS" },
		{ "ESMTPSA", "UTF8SMTPSA" },
	};
	size_t i;

	if (!smtputf8 || protocol == NULL)
		return protocol;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(protocol, names[i][0]) == 0)
			return names[i][1];
	return protocol;	/* SMTP: SMTPUTF8 needs EHLO, never here */
}

/* received_header - the Received: field, LF line ends */
int
received_header(const struct received_info *ri, struct buf *out)
{
	char dom[ADDR_DOMAIN_MAX + 1], date[64];
	size_t start = out->len;
	int aflags;
	const char *why;

	if (date_text(ri->when, date, sizeof(date)) < 0)
		memcpy(date, "Thu, 01 Jan 1970 00:00:00 +0000", 32);
	(void)buf_append_str(out, "Received: from ");
	if (ri->helo != NULL && *ri->helo != '\0' &&
	    addr_parse_domain(ri->helo, strlen(ri->helo), 0, dom, &aflags,
	    &why) == 0) {
		(void)buf_append_str(out, ri->helo);
		(void)buf_append_str(out, " (");
		ip_literal(ri->client_ip, out);
		(void)buf_append_str(out, ")");
	} else {
		ip_literal(ri->client_ip, out);
		if (ri->helo != NULL && *ri->helo != '\0') {
			(void)buf_append_str(out, " (helo=");
			received_comment(ri->helo, strlen(ri->helo), out);
			(void)buf_append_str(out, ")");
		}
	}
	(void)buf_printf(out, "\n\tby %s (mailstack smtpd) with %s",
	    ri->hostname, received_protocol(ri->protocol, ri->smtputf8));
	if (ri->tls != NULL) {
		(void)buf_append_str(out, " (");
		received_comment(ri->tls, strlen(ri->tls), out);
		(void)buf_append_str(out, ")");
	}
	if (ri->auth_user != NULL) {
		(void)buf_append_str(out, "\n\t(authenticated user ");
		received_comment(ri->auth_user, strlen(ri->auth_user), out);
		(void)buf_append_str(out, ")");
	}
	if (ri->rcpt != NULL)
		(void)buf_printf(out, "\n\tfor <%s>", ri->rcpt);
	if (buf_printf(out, "; %s\n", date) < 0) {
		buf_truncate(out, start);
		errno = ENOBUFS;
		return -1;
	}
	return 0;
}

/* received_date - "Date: DATE-TIME" and LF */
int
received_date(time_t when, struct buf *out)
{
	char date[64];

	if (date_text(when, date, sizeof(date)) < 0) {
		errno = EINVAL;
		return -1;
	}
	return buf_printf(out, "Date: %s\n", date);
}

/* received_msgid - "Message-ID: <...@HOSTNAME>" and LF */
int
received_msgid(const char *hostname, struct buf *out)
{
	uint64_t r;

	if (getentropy(&r, sizeof(r)) < 0)
		return -1;
	return buf_printf(out, "Message-ID: <%lld.%ld.%016llx@%s>\n",
	    (long long)time(NULL), (long)getpid(), (unsigned long long)r,
	    hostname);
}
