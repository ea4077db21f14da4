/*
 * NAME
 *	addr.h - mail addresses: SMTP paths (RFC 5321) and header address
 *	lists (RFC 5322)
 *
 * DESCRIPTION
 *	addr_parse_path() reads the <...> argument of MAIL FROM and RCPT TO
 *	strictly by the RFC 5321 grammar (with RFC 6531 when SMTPUTF8 was
 *	negotiated) into a struct addr of fixed-size, NUL-terminated fields.
 *	A source route is checked and dropped; nothing in this module ever
 *	treats any part of a local part ('%', '!', quoted '@') as routing.
 *	The local part is canonical: a quoted string whose content is a valid
 *	Dot-string is unquoted ("gerard" becomes gerard); any other quoted
 *	local part keeps its quotes with only '"' and '\' escaped, and sets
 *	ADDR_F_QUOTED. The case of the local part is kept. The domain is
 *	lower-cased (ASCII only); an address literal keeps its brackets, with
 *	the tag written "IPv6:" and its hex digits in lower case.
 *
 *	addr_parse_domain() reads a Domain or address-literal alone (an EHLO
 *	argument, or one piece of configuration) by the same rules.
 *
 *	addr_parse_header() reads an RFC 5322 address-list (the body of a
 *	From:, To:, Cc: ... field, after the colon) liberally, as a mail
 *	reader must: it never fails on bad syntax, it keeps every entry it
 *	finds with what could be recovered and marks the ones it could not
 *	parse cleanly. See addr.c for the exact recovery rules.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

#include "buf.h"

/* RFC 5321 4.5.3.1 limits, in octets as on the wire. */
#define ADDR_LOCAL_MAX	64	/* local part, quotes included */
#define ADDR_DOMAIN_MAX	255	/* domain, or literal with its brackets */
#define ADDR_PATH_MAX	256	/* the whole <...>, brackets and route too */
#define ADDR_LABEL_MAX	63	/* one domain label (RFC 1035) */

/* addr_parse_path() and addr_parse_domain() flags */
#define ADDR_ALLOW_NULL		0x01	/* "<>" accepted (MAIL FROM) */
#define ADDR_ALLOW_POSTMASTER	0x02	/* bare "<Postmaster>" (RCPT TO) */
#define ADDR_ALLOW_UTF8		0x04	/* SMTPUTF8 was negotiated: UTF-8 */

/* struct addr flags */
#define ADDR_F_NULL	0x01	/* the null path "<>" */
#define ADDR_F_QUOTED	0x02	/* local holds a quoted string */
#define ADDR_F_LITERAL	0x04	/* domain is an address literal */
#define ADDR_F_ROUTE	0x08	/* a source route was present and dropped */
#define ADDR_F_UTF8	0x10	/* a non-ASCII octet is present */

struct addr {
	char local[ADDR_LOCAL_MAX + 1];	/* canonical local part */
	char domain[ADDR_DOMAIN_MAX + 1];	/* "" for <> and <Postmaster> */
	int flags;			/* ADDR_F_* */
};

int addr_parse_path(const char *s, size_t len, int flags, struct addr *a,
    size_t *end_r, const char **error_r);
int addr_parse_domain(const char *s, size_t len, int flags,
    char domain_r[ADDR_DOMAIN_MAX + 1], int *aflags_r, const char **error_r);
int addr_format(const struct addr *a, char *out, size_t size);
int addr_domain_is(const struct addr *a, const char *domain);

/*
 * Header addresses. s is a field body (what follows "To:"), folded or
 * not. Entries are appended to out, which starts as ADDR_HDR_LIST_INIT
 * and may already hold entries of other fields; out->n never exceeds
 * max_addrs. Returns 0, or -1/E2BIG ("too many addresses") when one more
 * entry was found with out->n == max_addrs; parsing stops there.
 *
 * Every buf is limited to ADDR_HDR_FIELD_MAX octets: a longer field is
 * cut there (never inside a UTF-8 sequence) and its entry is marked
 * valid = 0 (truncate-and-mark, not an error). No buf ever holds a NUL,
 * CR, LF or other control character, except a tab written inside a
 * quoted string of local (or, in an invalid entry, route or domain);
 * every run of white space in name is one space.
 */
#define ADDR_HDR_FIELD_MAX	998	/* octets in each buf of an entry */
#define ADDR_HDR_COMMENT_DEPTH	32	/* deeper comment text is skipped */

#define ADDR_HDR_MAILBOX	0	/* an address */
#define ADDR_HDR_GROUP_START	1	/* "name:"; name is the group's */
#define ADDR_HDR_GROUP_END	2	/* ";", or the end of an open group */

struct addr_hdr {
	struct buf name;	/* display name, or the first comment if none */
	struct buf route;	/* obsolete route "@a,@b", else empty */
	struct buf local;	/* as written, quotes kept, CFWS removed */
	struct buf domain;	/* as written, CFWS removed */
	int kind;		/* ADDR_HDR_* */
	int valid;		/* 0 if it could not be parsed cleanly */
};

struct addr_hdr_list {
	struct addr_hdr *v;
	size_t n;
	size_t cap;
};

#define ADDR_HDR_LIST_INIT	{ NULL, 0, 0 }

int addr_parse_header(const char *s, size_t len, size_t max_addrs,
    struct addr_hdr_list *out, const char **error_r);
void addr_hdr_list_free(struct addr_hdr_list *l);

#endif
