/*
 * NAME
 *	table.h - key/value tables: a text source compiled to cdb
 *
 * DESCRIPTION
 *	The text format, one entry per line:
 *
 *	    KEY VALUE...
 *
 *	KEY is the first field (up to the first space or tab); VALUE is the
 *	rest of the line with blanks trimmed at both ends, and may be empty.
 *	A line whose first non-blank octet is '#' is a comment; blank lines
 *	are ignored; a CR before the LF is dropped. A line is at most
 *	TABLE_LINE_MAX octets, not counting its LF. A key appears once.
 *	What VALUE means belongs to the table's user (users, aliases,
 *	transport: see etc/users, etc/aliases and mailstack.conf(5)).
 *
 *	table_compile() turns the text into a cdb(5) file that daemons read
 *	with table_open() / table_lookup(), and replaces it atomically.
 *	table_compile_with() does the same with a mode and owner of its own
 *	and a function that rewrites each value (the users table keeps its
 *	password hashes out of the cdb everyone reads this way).
 */
#ifndef TABLE_H
#define TABLE_H

#include <sys/types.h>

#include <stddef.h>

#include "buf.h"

#define TABLE_LINE_MAX	4096	/* octets a line, LF not counted */

#define TABLE_FOLD_KEYS	0x01	/* keys are ASCII case-insensitive */

struct table;

/* What table_compile_with() does beyond table_compile(). */
struct table_compile_opts {
	int flags;		/* TABLE_FOLD_KEYS */
	int mode;		/* the cdb's permission bits; -1: the text's */
	uid_t uid;		/* owner given before the rename; -1: none */
	gid_t gid;
	/* The value to store for key (folded) in out; -1 with a static
	   *why rejects the line (EINVAL). NULL: the value as written. */
	int (*value)(const char *key, const char *value, struct buf *out,
	    const char **why);
};

int table_compile(const char *text_path, const char *cdb_path, int flags,
    struct buf *err);
int table_compile_with(const char *text_path, const char *cdb_path,
    const struct table_compile_opts *opts, struct buf *err);
struct table *table_open(const char *cdb_path, const char **error_r);
int table_lookup(struct table *t, const char *key, size_t keylen,
    struct buf *value);
int table_refresh(struct table *t);
void table_close(struct table *t);

#endif
