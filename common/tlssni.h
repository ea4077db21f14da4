/*
 * NAME
 *	tlssni.h - the tls_sni table: which certificate for which name
 *
 * DESCRIPTION
 *	tlssni_load() reads the text table that the tls_sni key of
 *	mailstack.conf(5) names; tlssni_match() picks the entry for a
 *	server name a client sent (SNI, RFC 6066 section 3). Building the
 *	OpenSSL contexts is tls.c's business. See tlssni.c.
 */
#ifndef TLSSNI_H
#define TLSSNI_H

#include <stddef.h>

#include "buf.h"

#define TLSSNI_LINE_MAX		4096	/* octets a line, LF not counted */
#define TLSSNI_FILE_MAX		(256 * 1024)	/* octets a table */
#define TLSSNI_ENTRIES_MAX	1000	/* lines with an entry */
#define TLSSNI_NAME_MAX		253	/* a host name, no trailing dot */

struct tlssni_entry {
	char *name;		/* lower case; ".suffix" for names below it */
	char *cert;		/* PEM chain, absolute or as the table said */
	char *key;		/* PEM private key */
	unsigned long line;	/* where it was given */
};

struct tlssni_table {
	char *path;		/* the table, as given */
	struct tlssni_entry *v;
	size_t n;
};

int tlssni_load(const char *path, struct tlssni_table *t, struct buf *err);
void tlssni_free(struct tlssni_table *t);
int tlssni_match(const struct tlssni_table *t, const char *name);

#endif
