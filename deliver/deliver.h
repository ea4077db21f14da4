/*
 * NAME
 *	deliver.h - the parts of deliver(8), shared between its files
 *
 * DESCRIPTION
 *	deliver.c runs the program (arguments, privileges, the message, the
 *	result line); deliver-header.c scans the message's header for
 *	Delivered-To: fields; deliver-expand.c turns the recipient into
 *	mailboxes and remote addresses through the aliases; deliver-mailbox.c
 *	writes one copy into one Maildir; deliver-inject.c hands copies for
 *	remote addresses (and forwards) back to the queue through inject(8).
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "userdb.h"

#define DELIVER_TIMEOUT		600	/* seconds for the whole run */
#define DELIVER_ALIAS_DEPTH	10	/* alias levels followed */
#define DELIVER_TARGETS_MAX	1000	/* mailboxes + remote addresses */
#define DELIVER_LOOKUPS_MAX	5000	/* table lookups of one expansion */
#define DELIVER_HDR_SCAN_MAX	(1024 * 1024)	/* header octets scanned */
#define DELIVER_DT_MAX		100	/* Delivered-To: fields kept */
#define DELIVER_DT_VALUE_MAX	1024	/* octets of one kept value */
#define DELIVER_MESSAGE_MAX	CONFIG_SIZE_MAX	/* octets of a message */
#define DELIVER_STATUS_MAX	512	/* octets of a result line */
#define DELIVER_RCPTS_MAX	1000	/* recipients of one run */
#define DELIVER_LINE_MAX	1000	/* "K X.Y.Z text" (several rcpts) */

/* What became of a recipient or of one target; the exit status. */
enum dstatus {
	DS_OK = 0,		/* exit 0 */
	DS_TEMP,		/* exit 75: 4.x.x */
	DS_NOUSER,		/* exit 67: 5.1.x */
	DS_DATAERR,		/* exit 65: other 5.x.x */
	DS_CANTCREAT,		/* exit 73: 5.2.x, 5.3.x about the mailbox */
};

struct result {
	enum dstatus st;
	char text[DELIVER_STATUS_MAX];	/* "5.1.1 no such user: x@y" */
};

/* The header scanner (deliver-header.c). */
struct hdrscan {
	int state;
	size_t scanned;		/* octets looked at */
	int lines;		/* lines started */
	int starts_with_field;	/* the first line is a header field */
	int starts_with_blank;	/* the first line is empty */
	int crlf;		/* the first line ends in CR LF */
	int done;		/* end of header, or scan limit */
	int truncated;		/* stopped at DELIVER_HDR_SCAN_MAX */
	int too_many;		/* more than DELIVER_DT_MAX Delivered-To: */
	char name[16];		/* the field name being read */
	size_t name_len;	/* its length (may exceed sizeof(name)) */
	char prev;		/* the octet before the current one */
	int in_dt;		/* reading a Delivered-To: value */
	int value_long;		/* that value overflowed */
	struct buf value;	/* that value so far */
	char **dt;		/* the Delivered-To: values kept */
	size_t n_dt;
};

int deliver_serve_begin(void);
char **deliver_serve(int ctl, size_t *n_r);

void hdrscan_init(struct hdrscan *h);
void hdrscan_feed(struct hdrscan *h, const char *p, size_t n);
void hdrscan_finish(struct hdrscan *h);
int hdrscan_has(const struct hdrscan *h, const char *addr);
void hdrscan_free(struct hdrscan *h);

/* One place a copy goes (deliver-expand.c). */
enum target_kind { T_MAILBOX, T_REMOTE };

struct target {
	enum target_kind kind;
	char *addr;		/* the address that led here (to re-inject) */
	struct userdb_user user;	/* T_MAILBOX: the mailbox */
	char detail[ADDR_LOCAL_MAX + 1];	/* T_MAILBOX: +DETAIL or "" */
	struct result res;	/* T_MAILBOX: what writing it gave */
	int done;		/* T_MAILBOX: written */
};

struct expansion {
	struct target *v;
	size_t n, cap;
	size_t lookups;		/* table lookups made */
	size_t pruned;		/* targets skipped: already Delivered-To */
	size_t missing;		/* alias targets that do not exist */
	struct userdb_list seen;	/* aliases expanded already */
};

/* What the program holds while it runs. */
struct ctx {
	struct config cfg;
	struct userdb *db;
	int mail_dir_fd;
	const char *qid;	/* "-" when not given */
	const char *sender;	/* "" for <> */
	char rcpt[USERDB_ADDR_MAX + 1];	/* canonical recipient */
	int msg_fd;		/* the message: stdin or a copy */
	off_t msg_off;		/* where it starts in msg_fd */
	uint64_t msg_len;	/* its length */
	struct hdrscan hdr;	/* what its header says */
	struct buf added;	/* Return-Path: and Delivered-To: */
};

void result_set(struct result *r, enum dstatus st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int expand(struct ctx *c, const char *local, const char *domain,
    struct expansion *x, struct result *res);
void expansion_free(struct expansion *x);

int mailbox_deliver(struct ctx *c, struct target *t);

int reinject(struct ctx *c, const char *header, size_t header_len,
    char *const *rcpts, size_t n, struct result *res);

int message_copy(struct ctx *c, int (*put)(void *, const void *, size_t),
    void *arg);

#endif
