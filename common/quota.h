/*
 * NAME
 *	quota.h - Maildir++ quotas: the maildirsize file
 *
 * DESCRIPTION
 *	A mailbox with a quota keeps "maildirsize" in its top Maildir, in the
 *	Maildir++ format that Courier and Dovecot's maildir quota also use:
 *
 *	    LIMIT "S" [ "," COUNT "C" ] LF	the quota: bytes (and messages)
 *	    BYTES SP COUNT LF			one line per change, signed
 *
 *	The first line is the quota the file was made for; every later line
 *	adds BYTES and COUNT to the usage (a delivery appends "+size 1", a
 *	reader that expunges appends "-size -1"). The usage is the sum of
 *	the lines. The file is recalculated, by summing the sizes of every
 *	message in new/ and cur/ of the Maildir and of each ".Folder" (the
 *	,S= size in the name, or the file's size), and atomically replaced
 *	(written in tmp/, fsynced, renamed) when it is missing, does not
 *	parse, names another quota than the user's, has grown to
 *	QUOTA_FILE_MAX octets or more, or says the mailbox is over quota
 *	while older than QUOTA_STALE_SECS. Lines are appended with one
 *	write(2) on an O_APPEND descriptor, so concurrent deliveries never
 *	mix their lines. Usage may lag the truth by what concurrent writers
 *	are doing; a caller refusing a message for quota recalculates first
 *	(quota_recalc) so that drift never refuses mail wrongly.
 *
 *	quota_parse_size() reads a size as written in tables: decimal bytes
 *	with an optional k, M, G or T suffix (1024 based, case ignored).
 */
#ifndef QUOTA_H
#define QUOTA_H

#include <stddef.h>
#include <stdint.h>

#define QUOTA_FILE		"maildirsize"
#define QUOTA_FILE_MAX		5120	/* octets; recalculate beyond */
#define QUOTA_STALE_SECS	(15 * 60)
#define QUOTA_SIZE_MAX		((uint64_t)1 << 60)	/* largest quota */
#define QUOTA_SCAN_MAX		1000000	/* files a recalculation counts */
#define QUOTA_FOLDERS_MAX	10000	/* folders a recalculation visits */

struct quota_usage {
	int64_t bytes;		/* bytes in the mailbox */
	int64_t count;		/* messages in the mailbox */
};

int quota_parse_size(const char *s, uint64_t *bytes_r);
int quota_parse(const char *text, size_t len, uint64_t *limit_r,
    struct quota_usage *u);
int quota_get(int maildir_fd, uint64_t limit, struct quota_usage *u,
    const char **error_r);
int quota_recalc(int maildir_fd, uint64_t limit, struct quota_usage *u,
    const char **error_r);
int quota_update(int maildir_fd, int64_t bytes, int64_t count,
    const char **error_r);
int quota_exceeded(uint64_t limit, const struct quota_usage *u,
    uint64_t size);

#endif
