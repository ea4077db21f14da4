/*
 * NAME
 *	imapd.h - the IMAP server's parts
 *
 * DESCRIPTION
 *	imapd.c holds main() and the die_*() helpers; imapd-session.c reads
 *	commands (lines and literals, with every limit), dispatches them and
 *	runs the commands of any state (CAPABILITY, NOOP, LOGOUT, STARTTLS,
 *	ID, ENABLE, NAMESPACE, IDLE); imapd-auth.c checks logins and opens
 *	and confines the user's Maildir; imapd-index.c is the per-folder
 *	UID index (format and locking rules at its top); imapd-folder.c
 *	maps mailbox names to Maildir++ folders (LIST, LSUB, STATUS, CREATE,
 *	DELETE, RENAME, SUBSCRIBE); imapd-mailbox.c is the selected state
 *	(SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, STORE, COPY, MOVE,
 *	APPEND, untagged updates); imapd-fetch.c answers FETCH and
 *	imapd-search.c SEARCH.
 */
#ifndef IMAPD_H
#define IMAPD_H

#include <netinet/in.h>
#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "config.h"
#include "imapparse.h"
#include "io.h"
#include "maildir.h"
#include "throttle.h"

/*
 * Limits and timeouts (see imapd(8)). imap_literal_max, imap_idle_timeout,
 * imap_login_timeout, imap_command_timeout and
 * imap_max_sessions_per_user_ip come from mailstack.conf(5): struct
 * imapd_limits.
 */
#define IMAPD_LINE_MAX		65536	/* one line of a command */
#define IMAPD_CMD_MAX		(1024 * 1024)	/* a command, literals too */
#define IMAPD_PREAUTH_LITERAL_MAX 1024	/* a literal before login */
#define IMAPD_LITERALS_MAX	64	/* literals in one command */
#define IMAPD_TLS_SECS		60	/* a whole TLS handshake */
#define IMAPD_BAD_PREAUTH_MAX	10	/* bad commands before login */
#define IMAPD_BAD_MAX		50	/* bad commands after login */
#define IMAPD_AUTH_FAILS_MAX	3	/* failed logins per connection */
#define IMAPD_IDLE_LINE_MAX	512	/* what may come during IDLE */
#define IMAPD_KEYWORDS_MAX	26	/* Maildir keyword letters a..z */
#define IMAPD_MESSAGES_MAX	2000000	/* messages in one folder */
#define IMAPD_NAME_MAX		200	/* octets of a mailbox name */
#define IMAPD_FOLDERS_MAX	10000	/* folders LIST looks at */
#define IMAPD_IMPLEMENTATION	"mailstack-imapd"
#define IMAPD_USER_PROGRAM	"imapd-user"	/* after login (handoff.h) */
#define IMAPD_INDEX_FILE	"imapd.index"
#define IMAPD_LOCK_FILE		"imapd.lock"
#define IMAPD_KEYWORDS_FILE	"dovecot-keywords"
#define IMAPD_SUBSCRIPTIONS	"subscriptions"

/* States (RFC 9051 3). */
#define IMAPD_NOTAUTH		0
#define IMAPD_AUTH		1
#define IMAPD_SELECTED		2
#define IMAPD_LOGOUT		3

/* One message of the selected folder, as this session sees it. */
struct imapd_msg {
	uint32_t uid;
	uint32_t kw;		/* keyword bits (a = bit 0) */
	uint32_t name;		/* file name: offset in the names arena */
	uint8_t flags;		/* IMAP_FL_* */
	uint8_t in_new;		/* the file is in new/ */
	uint8_t gone;		/* its file vanished: EXPUNGE to report */
	uint8_t changed;	/* flags changed by someone: FETCH to report */
	uint64_t vsize;		/* RFC822.SIZE */
	int64_t idate;		/* INTERNALDATE, seconds */
};

/*
 * A directory (new/ or cur/) as a listing saw it: its inode and mtime
 * before the listing, and when that listing started (imapd-index.c: the
 * mtime is only trusted when scan is well after it).
 */
struct imapd_dirstamp {
	struct timespec mtime;
	struct timespec scan;
	ino_t ino;
};

/* An open folder and its index (imapd-index.c). */
struct imapd_box {
	int fd;			/* the folder (INBOX: the Maildir itself) */
	struct maildir md;
	int lock_fd;		/* IMAPD_LOCK_FILE, flock()ed while syncing */
	int readonly;
	int claim_recent;	/* read-write SELECT: takes \\Recent */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;	/* room for CONDSTORE; always 1 today */
	struct imapd_msg *v;	/* by ascending UID */
	size_t n, cap;
	struct buf names;	/* file names, NUL-ended */
	char *kw[IMAPD_KEYWORDS_MAX];
	size_t nkw;
	uint32_t recent;	/* messages with \Recent */
	/* what the last sync saw, to skip a sync when nothing changed */
	struct imapd_dirstamp new_st, cur_st;
	struct timespec idx_mtime, kw_mtime;
	ino_t idx_ino, kw_ino;
	off_t idx_size;
	int synced;
};

/* The limits mailstack.conf(5) sets (imapd.c, limits_from_config()). */
struct imapd_limits {
	int login_ms;		/* imap_login_timeout */
	int idle_ms;		/* imap_idle_timeout (>= 30 min) */
	int cmd_ms;		/* imap_command_timeout */
	uint64_t literal_max;	/* imap_literal_max */
	unsigned sessions;	/* imap_max_sessions_per_user_ip (I9) */
};

struct imapd {
	const struct config *cfg;
	struct imapd_limits lim;
	struct io *io;
	SSL_CTX *tls_ctx;
	int implicit_tls;
	int handed_off;		/* imapd-user: no greeting, logged in */
	char client[INET6_ADDRSTRLEN];
	unsigned char tkey[THROTTLE_KEY_LEN];
	int have_tkey;
	struct throttle *throttle;

	int state;
	unsigned bad;
	unsigned auth_fails;
	int utf8;		/* ENABLE UTF8=ACCEPT: room for it */
	int rev2;		/* ENABLE IMAP4rev2 */
	const char *method;

	char address[320];	/* canonical user address after login */
	int root_fd;		/* the user's Maildir */

	struct imapd_box box;	/* SELECTED */
	char box_name[IMAPD_NAME_MAX + 1];
	int have_box;
	size_t exists;		/* messages the client knows of */
	uint32_t recent_sent;	/* the last RECENT count sent */
	struct imap_seqset saved;	/* SEARCHRES "$": UIDs, resolved */

	uint64_t sent_msgs, sent_octets;	/* step 7 */
	struct imap_cmd cmd;
	struct buf cmdbuf;
	const char *tag;
};

/* imapd.c */
void die_temp(struct imapd *d, const char *why) __attribute__((noreturn));
void die_io(struct imapd *d, const char *what) __attribute__((noreturn));
void die_bye(struct imapd *d, const char *text, const char *why)
    __attribute__((noreturn));
void imapd_send(struct imapd *d, const void *p, size_t n);
void imapd_printf(struct imapd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imapd_flush(struct imapd *d);
void imapd_log(struct imapd *d, int level, const char *event,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* imapd-session.c */
void imapd_session(struct imapd *d) __attribute__((noreturn));
void imapd_ok(struct imapd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imapd_no(struct imapd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imapd_bad(struct imapd *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int imapd_read_line(struct imapd *d, struct buf *line, size_t max);
void imapd_capability(struct imapd *d, struct buf *out);

/* imapd-auth.c */
void imapd_cmd_login(struct imapd *d);
void imapd_cmd_authenticate(struct imapd *d);
int imapd_login_allowed(const struct imapd *d);
struct handoff;
void imapd_handed_login(struct imapd *d, const struct handoff *h);

/* imapd-index.c */
#define IMAPD_OPEN_READONLY	0x01
#define IMAPD_OPEN_RECENT	0x02	/* claim \Recent (read-write SELECT) */
#define IMAPD_SYNC_FULL		2	/* index_sync force: list new/ and cur/ */
int index_open(int fd, struct imapd_box *b, int flags, const char **error_r);
int index_sync(struct imapd_box *b, int force, const char **error_r);
void imapd_info_letters(const char *old, uint8_t flags, uint32_t kw, char *out,
    size_t size);
void index_close(struct imapd_box *b);
const char *index_name(const struct imapd_box *b, const struct imapd_msg *m);
int index_lock(struct imapd_box *b);
void index_unlock(struct imapd_box *b);
int index_set_flags(struct imapd_box *b, struct imapd_msg *m, uint8_t flags,
    uint32_t kw, const char **error_r);
int index_keyword(struct imapd_box *b, const char *name, size_t len,
    int create);
int index_open_msg(struct imapd_box *b, struct imapd_msg *m);
int index_expunge(struct imapd_box *b, struct imapd_msg *m);
int index_status(int fd, uint32_t *uidvalidity_r, uint32_t *uidnext_r,
    size_t *messages_r, size_t *unseen_r, size_t *recent_r,
    uint64_t *size_r, size_t *deleted_r, const char **error_r);
int index_flags_string(const struct imapd_box *b, uint8_t flags, uint32_t kw,
    struct buf *out);
int index_append_uid(struct imapd_box *b, const char *file, uint32_t *uid_r,
    const char **error_r);
int index_write_file(struct imapd_box *b, const char *name,
    const struct buf *data);

/* imapd-cache.c: header field values SEARCH has read, per folder */
#define FCACHE_PREFIX		"imapd.cache."	/* then the field name */
#define FCACHE_PREFIX_LEN	(sizeof(FCACHE_PREFIX) - 1)
#define FCACHE_NAME_MAX		32		/* octets of a field name */
#define FCACHE_VALUE_MAX	4096		/* octets of a value kept */
#define FCACHE_FILE_MAX		(64 * 1024 * 1024)

struct fcache_rec {
	uint32_t uid;
	uint32_t len;		/* UINT32_MAX: no such field */
	size_t off;		/* of the value, in data or add */
};

struct fcache {
	char name[64];		/* "imapd.cache.field"; empty: not kept */
	struct buf data;	/* the file as read */
	struct fcache_rec *recs;
	size_t nrecs;
	struct buf add;		/* values found by this SEARCH */
	struct fcache_rec *new;
	size_t nnew, capnew;
};

void fcache_open(struct fcache *c, struct imapd_box *b, const char *field,
    size_t len);
int fcache_get(const struct fcache *c, uint32_t uid, const char **value_r,
    size_t *len_r);
void fcache_put(struct fcache *c, uint32_t uid, int present,
    const char *value, size_t len);
void fcache_close(struct fcache *c, struct imapd_box *b);
int fcache_value(const char *hdr, size_t hdr_len, const char *name,
    size_t len, struct buf *out);
#define FCACHE_FILL		2	/* Subject, From */
void fcache_fill_open(struct fcache *set, struct imapd_box *b);
void fcache_fill(struct fcache *set, uint32_t uid, const char *hdr,
    size_t hdr_len);
void fcache_fill_close(struct fcache *set, struct imapd_box *b);
#define IMAPD_FOLD_MAX		((size_t)256 * 1024 * 1024)
int imapd_fold(struct buf *out, const char *s, size_t n);
void imapd_fold_words(const char *s, size_t n, struct buf *out);

/* imapd-folder.c */
int folder_open(struct imapd *d, const char *name, size_t len, int *fd_r,
    const char **error_r);
int folder_name_check(const char *name, size_t len, char *disk,
    size_t size, const char **error_r);
int folder_special_use(const char *name);
void imapd_cmd_list(struct imapd *d, int lsub);
void imapd_cmd_create(struct imapd *d);
void imapd_cmd_delete(struct imapd *d);
void imapd_cmd_rename(struct imapd *d);
void imapd_cmd_subscribe(struct imapd *d, int on);
void imapd_cmd_status(struct imapd *d);
void imapd_list_selected(struct imapd *d);
int imapd_mailbox_in(struct imapd *d, const char *s, size_t len, char *out,
    size_t size);
int imapd_write_mailbox(struct imapd *d, struct buf *out, const char *name);

/* imapd-mailbox.c */
void imapd_cmd_select(struct imapd *d, int examine);
void imapd_cmd_close(struct imapd *d, int expunge);
void imapd_cmd_expunge(struct imapd *d, int uid);
void imapd_cmd_store(struct imapd *d, int uid);
void imapd_cmd_copy(struct imapd *d, int uid, int move);
void imapd_cmd_append(struct imapd *d);
void imapd_updates(struct imapd *d, int expunges);
int imapd_msgset(struct imapd *d, const struct imap_arg *a, int uid,
    struct imap_seqset *set);
int imapd_parse_flags(struct imapd *d, const struct imap_cmd *c, size_t i,
    struct imapd_box *b, uint8_t *flags_r, uint32_t *kw_r, int create);
int imapd_read_message(struct imapd *d, struct imapd_msg *m, struct buf *out);
int imapd_read_header(struct imapd *d, struct imapd_msg *m, struct buf *out);

/* The flags a FETCH shows: no \Recent after ENABLE IMAP4rev2. */
#define IMAPD_SHOWN_FLAGS(d, f) \
	((uint8_t)((d)->rev2 ? ((f) & ~IMAP_FL_RECENT) : (f)))

/* imapd-fetch.c */
void imapd_cmd_fetch(struct imapd *d, int uid);
void imapd_fetch_flags(struct imapd *d, size_t seq, int with_uid);

/* imapd-search.c */
void imapd_cmd_search(struct imapd *d, int uid);

#endif
