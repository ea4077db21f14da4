/*
 * NAME
 *	smtpreply.h - SMTP replies as a client reads them (RFC 5321 4.2)
 *
 * DESCRIPTION
 *	A reply is one or more lines "CODE-text" ended by one "CODE text"
 *	(or a bare "CODE"). smtpreply_line() takes one line at a time,
 *	without its line end, checks it and adds it to a struct smtpreply;
 *	it says when the reply is complete. Everything is bounded: a line is
 *	at most SMTPREPLY_LINE_MAX octets, a reply at most SMTPREPLY_LINES_MAX
 *	lines (SECURITY.md R1, CVE-2020-8794); anything that breaks the
 *	grammar is an error that the client treats as a temporary failure.
 *
 *	smtpreply_caps() reads the capabilities of an EHLO reply (RFC 5321
 *	4.1.1.1 and the extensions named below); smtpreply_status() gives the
 *	enhanced status code (RFC 3463, RFC 2034) a result should carry;
 *	smtpreply_describe() writes the reply as one printable line for a
 *	bounce and a log.
 */
#ifndef SMTPREPLY_H
#define SMTPREPLY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SMTPREPLY_LINE_MAX	510	/* octets a line, CR LF not counted */
#define SMTPREPLY_LINES_MAX	100	/* lines in one reply */
#define SMTPREPLY_STATUS_MAX	11	/* "X.YYY.ZZZ" and NUL, rounded up */

/* smtpreply_line() results */
#define SMTPREPLY_MORE	1	/* a continuation line: read the next one */
#define SMTPREPLY_DONE	0	/* the last line: the reply is complete */

struct smtpreply {
	int code;		/* 200..599 once the first line is in; else 0 */
	int done;		/* the last line was seen */
	unsigned lines;		/* lines so far */
	char status[SMTPREPLY_STATUS_MAX + 1];	/* enhanced code or "" */
	struct buf text;	/* each line's text after "CODE-", LF between */
};

/* EHLO capabilities (smtpreply_caps) */
#define SMTPCAP_PIPELINING	0x0001	/* RFC 2920 */
#define SMTPCAP_STARTTLS	0x0002	/* RFC 3207 */
#define SMTPCAP_SIZE		0x0004	/* RFC 1870 */
#define SMTPCAP_8BITMIME	0x0008	/* RFC 6152 */
#define SMTPCAP_SMTPUTF8	0x0010	/* RFC 6531 */
#define SMTPCAP_DSN		0x0020	/* RFC 3461 */
#define SMTPCAP_ENHANCED	0x0040	/* RFC 2034 ENHANCEDSTATUSCODES */
#define SMTPCAP_CHUNKING	0x0080	/* RFC 3030 */
#define SMTPCAP_BINARYMIME	0x0100	/* RFC 3030 */
#define SMTPCAP_AUTH		0x0200	/* RFC 4954, some mechanism */

/* AUTH mechanisms we can use */
#define SMTPCAP_AUTH_PLAIN	0x01
#define SMTPCAP_AUTH_LOGIN	0x02

struct smtpcaps {
	unsigned flags;		/* SMTPCAP_* */
	uint64_t size;		/* SIZE limit; 0: none given */
	unsigned auth;		/* SMTPCAP_AUTH_* */
};

void smtpreply_init(struct smtpreply *r);
void smtpreply_reset(struct smtpreply *r);
void smtpreply_free(struct smtpreply *r);
int smtpreply_line(struct smtpreply *r, const char *line, size_t len,
    const char **error_r);
int smtpreply_class(const struct smtpreply *r);
void smtpreply_caps(const struct smtpreply *r, struct smtpcaps *caps);
void smtpreply_status(const struct smtpreply *r, const char *fallback,
    char out[SMTPREPLY_STATUS_MAX + 1]);
int smtpreply_describe(const struct smtpreply *r, struct buf *out,
    size_t max);
int smtpreply_parse_status(const char *s, size_t len, size_t *used_r);

#endif
