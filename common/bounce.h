/*
 * NAME
 *	bounce.h - delivery status notifications (RFC 3464)
 *
 * DESCRIPTION
 *	bounce_build() writes one notice (a failure, delay or success DSN)
 *	as a complete RFC 5322 message with LF line ends:
 *	multipart/report; report-type=delivery-status, holding a text/plain
 *	explanation, a message/delivery-status part and the original as
 *	message/rfc822 (the whole message) or text/rfc822-headers. When
 *	the original was SMTPUTF8 mail, or an address or the returned
 *	header holds UTF-8, the notice takes RFC 6533's form instead:
 *	message/global-delivery-status, message/global or
 *	message/global-headers, and "utf-8" address types.
 *	smtpq(8) sends it with the null sender through inject(8).
 */
#ifndef BOUNCE_H
#define BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define BOUNCE_MAX	(64 * 1024 * 1024)	/* octets in one notice */
#define BOUNCE_STATUS_MAX	15		/* "X.YYY.ZZZ" */

enum bounce_kind {
	BOUNCE_FAILURE,		/* Action: failed */
	BOUNCE_DELAY,		/* Action: delayed */
	BOUNCE_SUCCESS,		/* Action: delivered */
	BOUNCE_RELAYED,		/* Action: relayed (next hop without DSN) */
};

/* bounce_build() *flags_r */
#define BOUNCE_8BIT	0x01	/* octets above 0x7f: send as 8BITMIME */
#define BOUNCE_UTF8	0x02	/* RFC 6533 form: send with SMTPUTF8 */

struct bounce_rcpt {
	const char *addr;	/* the recipient as in the envelope */
	const char *orcpt;	/* DSN ORCPT "type;address", or NULL */
	const char *text;	/* the last result, "X.Y.Z text"; a remote
				   server's reply reads "X.Y.Z host PEER
				   said: NNN text (STAGE)" (remote(8)) */
	int64_t last_try;	/* 0: never tried */
};

struct bounce {
	enum bounce_kind kind;
	const char *hostname;	/* Reporting-MTA and the From: domain */
	const char *qid;	/* the original's queue id */
	const char *envid;	/* DSN ENVID of the original, or NULL */
	const char *sender;	/* the original's sender ("" for <>) */
	const char *to;		/* where the notice goes */
	int64_t arrival;	/* when the original was queued */
	int64_t now;		/* Date: of the notice */
	int64_t retry_until;	/* delay notices: Will-Retry-Until */
	const char *original;	/* the original message, or its start */
	size_t original_len;
	int headers_only;	/* return text/rfc822-headers */
	int smtputf8;		/* the original was SMTPUTF8 mail */
	const struct bounce_rcpt *rcpts;
	size_t n_rcpts;
};

int bounce_build(const struct bounce *b, struct buf *out, int *flags_r);
size_t bounce_header_end(const char *msg, size_t len);
void bounce_status(const char *text, enum bounce_kind kind,
    char status[BOUNCE_STATUS_MAX + 1], const char **rest_r);
int bounce_date(int64_t t, char *out, size_t size);

#endif
