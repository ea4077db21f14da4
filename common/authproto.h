/*
 * NAME
 *	authproto.h - the authd request and reply lines
 *
 * DESCRIPTION
 *	authd(8) answers one reply line for each request line on a Unix
 *	stream socket (STATE_DIR/auth/socket). Fields are separated by one
 *	TAB; a line ends in LF (a CR before it is not allowed) and is at
 *	most AUTHPROTO_LINE_MAX octets with its LF. The whole protocol
 *	(also in master/AUTHD.md):
 *
 *	    PASS TAB service TAB client-ip TAB user TAB base64(password)
 *	        -> OK TAB canonical-user TAB ticket
 *	        -> NO TAB auth|throttled TAB seconds-to-wait TAB text
 *	        -> TEMP TAB text
 *	    TICKET TAB service TAB ticket
 *	        -> OK TAB canonical-user
 *	        -> NO TAB auth TAB 0 TAB text
 *	        -> TEMP TAB text
 *
 *	service: 1-AUTHPROTO_SERVICE_MAX of a-z 0-9 . _ - (smtpd, pop3d,
 *	imapd, ...). client-ip: an IPv4 or IPv6 address as text (hex
 *	digits, '.', ':'), or "-" when there is none; at most
 *	AUTHPROTO_IP_MAX octets. user: 1-AUTH_USER_MAX octets, no control
 *	character (TAB included). password: strict base64 (RFC 4648, with
 *	padding) of 0-AUTHPROTO_PASSWORD_MAX octets of any value; a
 *	password longer than AUTH_PASSWORD_MAX never matches, so a client
 *	sends at most one octet more than that. ticket: AUTHPROTO_TICKET_LEN
 *	lower-case hex digits. text: 0-AUTHPROTO_TEXT_MAX octets, no
 *	control character. seconds-to-wait: a decimal number, 0-86400.
 *
 *	The parsers are strict: a line that does not have exactly this form
 *	is refused (EINVAL). The formatters refuse a field that would not
 *	parse back, so whatever they write the parsers accept unchanged.
 */
#ifndef AUTHPROTO_H
#define AUTHPROTO_H

#include <stddef.h>

#include "auth.h"
#include "buf.h"

#define AUTHPROTO_LINE_MAX	2048	/* octets of a line, LF included */
#define AUTHPROTO_SERVICE_MAX	32
#define AUTHPROTO_IP_MAX	45	/* INET6_ADDRSTRLEN less its NUL */
#define AUTHPROTO_PASSWORD_MAX	(AUTH_PASSWORD_MAX + 1)
#define AUTHPROTO_TICKET_LEN	32
#define AUTHPROTO_TEXT_MAX	200
#define AUTHPROTO_WAIT_MAX	86400	/* seconds */

#define AUTHPROTO_PASS		1	/* request types */
#define AUTHPROTO_TICKET	2

#define AUTHPROTO_OK		1	/* reply kinds */
#define AUTHPROTO_NO		2
#define AUTHPROTO_TEMP		3

struct authproto_request {
	int type;				/* AUTHPROTO_PASS/TICKET */
	char service[AUTHPROTO_SERVICE_MAX + 1];
	char ip[AUTHPROTO_IP_MAX + 1];		/* PASS */
	char user[AUTH_USER_MAX + 1];		/* PASS */
	char password[AUTHPROTO_PASSWORD_MAX];	/* PASS; not NUL ended */
	size_t password_len;
	char ticket[AUTHPROTO_TICKET_LEN + 1];	/* TICKET */
};

struct authproto_reply {
	int kind;				/* AUTHPROTO_OK/NO/TEMP */
	char user[AUTH_USER_MAX + 1];		/* OK */
	char ticket[AUTHPROTO_TICKET_LEN + 1];	/* OK to PASS; else "" */
	int throttled;				/* NO: 1 throttled, 0 auth */
	unsigned wait;				/* NO: seconds */
	char text[AUTHPROTO_TEXT_MAX + 1];	/* NO, TEMP */
};

int authproto_parse_request(const char *line, size_t len,
    struct authproto_request *r, const char **error_r);
int authproto_format_request(const struct authproto_request *r,
    struct buf *out);
int authproto_parse_reply(const char *line, size_t len,
    struct authproto_reply *r, const char **error_r);
int authproto_format_reply(const struct authproto_reply *r, struct buf *out);
void authproto_request_wipe(struct authproto_request *r);
int authproto_service_ok(const char *s);
int authproto_ticket_ok(const char *s, size_t len);

#endif
