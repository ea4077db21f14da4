/*
 * NAME
 *	mime.h - MIME structure of a message for IMAP: parts, ENVELOPE,
 *	BODYSTRUCTURE
 *
 * DESCRIPTION
 *	mime_parse() reads a message (CRLF text, what IMAP clients see) into
 *	a tree of parts that point into the text: each part's header block
 *	and body, its Content-Type and other MIME fields. multipart parts
 *	have children (split at their boundary); a message/rfc822 part has
 *	one child, the encapsulated message. Nothing ever fails on bad
 *	MIME: a missing boundary, a missing blank line, a bad header all
 *	give some structure, as Dovecot's parser does; beyond MIME_DEPTH_MAX
 *	levels or MIME_PARTS_MAX parts the rest is an opaque body
 *	(SECURITY I7), beyond MIME_PARAMS_MAX parameters the rest is dropped
 *	(I8).
 *
 *	mime_write_envelope() and mime_write_bodystructure() append the
 *	IMAP forms (RFC 3501 7.4.2); encoded words are left as they are.
 *	mime_header_find() gets a header field's value, mime_header_fields()
 *	copies the fields named (or not named) in a list, for
 *	BODY[HEADER.FIELDS (...)].
 */
#ifndef MIME_H
#define MIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MIME_DEPTH_MAX		20	/* nested multipart / message */
#define MIME_PARTS_MAX		2000	/* parts in one message */
#define MIME_PARAMS_MAX		64	/* parameters of one field */
#define MIME_BOUNDARY_MAX	70	/* RFC 2046 */
#define MIME_ADDRS_MAX		1000	/* addresses of one ENVELOPE field */
#define MIME_FIELD_MAX		(64 * 1024)	/* octets of one field used */

struct mime_param {
	const char *name, *value;
	size_t name_len, value_len;
	int quoted;		/* value was a quoted string (unescape) */
};

struct mime_part {
	size_t hdr_off, hdr_len;	/* header block, blank line included */
	size_t body_off, body_len;
	char type[32], subtype[64];	/* lower case; "text"/"plain" default */
	char wtype[32], wsubtype[64];	/* the same as written, for IMAP */
	int defaulted;		/* no usable Content-Type */
	size_t lines;		/* CRLFs in the body */
	int child, next;	/* first child, next sibling (-1: none) */
	int depth;
};

struct mime_msg {
	const char *text;
	size_t len;
	struct mime_part *v;
	size_t n;
};

int mime_parse(const char *text, size_t len, struct mime_msg *m);
void mime_free(struct mime_msg *m);
int mime_header_find(const char *hdr, size_t len, const char *name,
    const char **value_r, size_t *value_len_r);
int mime_header_fields(const char *hdr, size_t len, const char *const *names,
    const size_t *lens, size_t n, int not, struct buf *out);
int mime_write_envelope(const char *hdr, size_t len, struct buf *out);
int mime_write_bodystructure(const struct mime_msg *m, int part,
    int extended, struct buf *out);
int mime_find_part(const struct mime_msg *m, const uint32_t *path,
    size_t n, int *part_r);
int mime_is_message(const struct mime_msg *m, int part);
int mime_part_charset(const struct mime_msg *m, int part, char *out,
    size_t size);

#endif
