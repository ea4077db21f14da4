/*
 * NAME
 *	mailbox.h - reading a Maildir: list, open, flag and remove messages
 *
 * DESCRIPTION
 *	The reader's side of a Maildir (maildir.h is the writer's): what
 *	pop3d and imapd need to see one folder (new/ and cur/) as a list of
 *	messages, each with its size on disk, its size as CRLF text (what
 *	POP3 LIST and IMAP RFC822.SIZE report), and a stable unique id.
 *
 *	The unique id of a message is its Maildir base name, the unique part
 *	of the file name before the first ',' or ':' (maildir_name_parse's
 *	base_len). Delivery makes it unique; moving new/ -> cur/ and
 *	changing flags keep it. pop3d gives it as the UIDL; imapd's index
 *	maps it to the IMAP UID, so the same string names the same message in
 *	both protocols. An id that is not 1..MAILBOX_UID_MAX octets of
 *	0x21-0x7e (RFC 1939 unique-id) is replaced by "H" and the SHA-256 of
 *	the base name in hex (65 octets), which is just as stable.
 *
 *	Sizes as CRLF text: every line end (LF, CR LF, or a CR not followed
 *	by LF) counts as two octets, every other octet as one; the count of
 *	mailbox_crlf_count() and what pop3d sends agree exactly. ",W=" in
 *	the name (written by deliver, which counts bare LF) is trusted when
 *	present; otherwise the file is read once to count.
 *
 *	The sync lock: imapd holds an exclusive flock(2) on the folder's
 *	MAILBOX_SYNC_LOCK file while it lists the folder, assigns UIDs,
 *	moves files from new/ to cur/ and renames them for flags. Another
 *	reader takes the same lock (mailbox_sync_lock) around its own scan
 *	and renames, so that neither sees a file in the middle of a rename.
 *	It is advisory and waited for at most MAILBOX_SYNC_WAIT_MS: readers
 *	follow renamed files anyway (mailbox_open_msg).
 */
#ifndef MAILBOX_H
#define MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "maildir.h"

#define MAILBOX_UID_MAX		70	/* RFC 1939 unique-id: 1*70 octets */
#define MAILBOX_SYNC_LOCK	"imapd.lock"	/* imapd's folder lock */
#define MAILBOX_SYNC_WAIT_MS	5000	/* longest wait for it */
#define MAILBOX_SCAN_MAX	1000000	/* messages one folder may list */

struct mailbox_msg {
	char *name;		/* file name in its folder, allocated */
	size_t base_len;	/* its unique part: name[0 .. base_len) */
	int in_new;		/* 1: in new/; 0: in cur/ */
	uint64_t size;		/* octets on disk */
	uint64_t vsize;		/* octets as CRLF text */
	char uid[MAILBOX_UID_MAX + 1];	/* the unique id, printable */
};

struct mailbox_list {
	struct mailbox_msg *v;	/* oldest first */
	size_t n;
	uint64_t vsize;		/* sum of the messages' vsize */
};

/* Counting CRLF text across several calls. */
struct mailbox_crlf {
	int skip_lf;		/* the last octet was CR: a next LF pairs it */
	uint64_t octets;
};

int mailbox_scan(const struct maildir *md, size_t max,
    struct mailbox_list *l, const char **error_r);
void mailbox_list_free(struct mailbox_list *l);
int mailbox_open_msg(const struct maildir *md, struct mailbox_msg *m,
    const char **error_r);
int mailbox_add_flag(const struct maildir *md, struct mailbox_msg *m,
    char flag, const char **error_r);
int mailbox_remove(const struct maildir *md, struct mailbox_msg *m,
    const char **error_r);
int mailbox_uid(const char *name, size_t base_len,
    char out[MAILBOX_UID_MAX + 1]);
int mailbox_sync_lock(const struct maildir *md, int wait_ms);
void mailbox_sync_unlock(int fd);
void mailbox_crlf_count(struct mailbox_crlf *c, const void *p, size_t n);
int mailbox_vsize_fd(int fd, uint64_t *size_r, uint64_t *vsize_r);

#endif
