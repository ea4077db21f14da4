/*
 * NAME
 *	maildir.h - Maildir primitives: open, create, deliver, parse names
 *
 * DESCRIPTION
 *	A Maildir is a folder holding tmp/, new/ and cur/. A message is
 *	written to tmp/ under a unique name, fsynced, and renamed into new/
 *	(or cur/), after which the folder is fsynced: a reader sees the whole
 *	message or nothing. Maildir++ subfolders are ".Name" folders inside
 *	the top Maildir holding an empty "maildirfolder" file.
 *
 *	Unique names: TIME.MUSECPPIDQCOUNT.HOST in tmp/, and in new/ the same
 *	with ",S=SIZE,W=RFC822SIZE" appended (SIZE = bytes on disk; W = size
 *	with every lone LF and lone CR counted as CRLF, what POP3/IMAP
 *	clients are sent). In
 *	cur/ an info suffix ":2,FLAGS" follows (flags in ASCII order).
 *	HOST has '/' written as \057 and ':' as \072.
 */
#ifndef MAILDIR_H
#define MAILDIR_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define MAILDIR_NAME_MAX	255

struct maildir {
	int fd;			/* the Maildir itself */
	int tmp_fd, new_fd, cur_fd;
};

struct maildir_msg {
	struct maildir *md;
	int fd;				/* the file in tmp/, -1 when none */
	char base[MAILDIR_NAME_MAX + 1];	/* its name in tmp/ */
	uint64_t size;			/* bytes written so far */
	uint64_t bare_lf;		/* LFs not preceded by CR */
	uint64_t bare_cr;		/* CRs not followed by LF */
	int last_cr;			/* the last byte written was CR */
	size_t wlen;			/* bytes waiting in wbuf */
	char wbuf[16384];
};

struct maildir_name {
	uint64_t size;		/* from ,S= (0 and has_size=0 if absent) */
	uint64_t vsize;		/* from ,W= */
	int has_size, has_vsize;
	char flags[32];		/* the letters after ":2," ("" if none) */
	size_t base_len;	/* length of the unique part before ',' or ':' */
};

int maildir_create(int parent_fd, const char *name, mode_t mode,
    const char **error_r);
int maildir_create_folder(int maildir_fd, const char *folder, mode_t mode,
    const char **error_r);
int maildir_open(int parent_fd, const char *name, struct maildir *md,
    const char **error_r);
void maildir_close(struct maildir *md);
int maildir_msg_begin(struct maildir *md, struct maildir_msg *m,
    const char **error_r);
int maildir_msg_write(struct maildir_msg *m, const void *p, size_t n);
int maildir_msg_commit(struct maildir_msg *m, int to_cur, const char *flags,
    struct buf *name_r, const char **error_r);
void maildir_msg_abort(struct maildir_msg *m);
int maildir_host_escape(const char *host, char *out, size_t size);
int maildir_name_parse(const char *name, struct maildir_name *out);

#endif
