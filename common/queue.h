/*
 * NAME
 *	queue.h - queue entries: folders, ids, the entry format, status slots
 *
 * DESCRIPTION
 *	The queue lives in state_dir/queue (see smtpq/QUEUE.md for the whole
 *	design). One entry is one file named by its queue id:
 *
 *	    offset 0             header    QUEUE_HEADER_SIZE octets
 *	    offset 256           slots     QUEUE_SLOT_SIZE octets a recipient
 *	    offset 256 + 128 n   envelope  envelope.h wire format, ENVLEN octets
 *	                         padding   NUL octets up to MSGOFF
 *	    offset MSGOFF        message   MSGLEN octets, to the end of the file
 *
 *	MSGOFF is the end of the envelope rounded up to QUEUE_PAGE. The
 *	header is one line of fixed-width fields, then NUL octets:
 *
 *	    MSQ1 QID ARRIVAL HOPS NRCPT ENVLEN MSGOFF MSGLEN LF
 *	    (4, 24, 12, 5, 5, 10, 12, 12 characters, one space between)
 *
 *	A slot is one line of QUEUE_SLOT_SIZE octets:
 *
 *	    S SP F SP ATTEMPTS(5) SP NEXTTRY(12) SP LASTTRY(12) SP TEXT(219) LF
 *
 *	with S a state (QUEUE_S_*), F a flag (QUEUE_F_*), the numbers in
 *	decimal with leading zeros and TEXT printable ASCII padded with NUL.
 *	Everything but the slots is written once by inject(8); only smtpq(8)
 *	rewrites slots, with queue_slot_write().
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"

#define QUEUE_ID_LEN		24
#define QUEUE_HEADER_SIZE	256
#define QUEUE_HEADER_LINE	92	/* the header line, LF included */
#define QUEUE_SLOT_SIZE		256
#define QUEUE_PAGE		4096
#define QUEUE_TEXT_MAX		219	/* octets of text in a slot */
#define QUEUE_ATTEMPTS_MAX	99999
#define QUEUE_HOPS_MAX		99999
#define QUEUE_TIME_MAX		INT64_C(999999999999)
#define QUEUE_MSG_MAX		UINT64_C(999999999999)
/* The most a reader reads before the message: header, slots, envelope. */
#define QUEUE_HEAD_MAX		(QUEUE_HEADER_SIZE + \
	QUEUE_SLOT_SIZE * ENVELOPE_RCPT_MAX + ENVELOPE_WIRE_MAX + QUEUE_PAGE)

/* Slot states; K and B are final. */
#define QUEUE_S_PENDING		'P'	/* not delivered yet */
#define QUEUE_S_DELIVERED	'K'	/* delivered */
#define QUEUE_S_SUCCESS		'S'	/* delivered, success DSN owed */
#define QUEUE_S_FAILED		'F'	/* failed, failure DSN owed */
#define QUEUE_S_BOUNCED		'B'	/* failed, DSN sent or not wanted */

/* Slot flags. */
#define QUEUE_F_NONE		'-'
#define QUEUE_F_WARNED		'W'	/* a delay DSN was sent */

/* What a trigger byte asks of smtpq. */
#define QUEUE_POKE_NEW		'N'	/* scan new/ */
#define QUEUE_POKE_FLUSH	'F'	/* retry everything now */
#define QUEUE_POKE_DELETE	'D'	/* look at delete/ */

#define QUEUE_DIR		"queue"
#define QUEUE_TRIGGER		"trigger"
#define QUEUE_LOCK		"lock"

enum queue_folder {
	QUEUE_TMP,
	QUEUE_NEW,
	QUEUE_CUR,
	QUEUE_CORRUPT,
	QUEUE_DELETE,
	QUEUE_N_FOLDERS
};

/* queue_dirs_open() flags */
#define QUEUE_DIRS_CREATE	0x01	/* make missing folders (mode 0700) */
#define QUEUE_DIRS_MINE		0x02	/* the queue must belong to our euid */

struct queue_dirs {
	int root;			/* state_dir/queue */
	int fd[QUEUE_N_FOLDERS];
	uid_t owner;			/* owner of root */
};

struct queue_slot {
	char state;			/* QUEUE_S_* */
	char flags;			/* QUEUE_F_* */
	unsigned attempts;
	int64_t next_try;		/* not before; 0: at once */
	int64_t last_try;		/* 0: never tried */
	char text[QUEUE_TEXT_MAX + 1];	/* "X.Y.Z text" or "" */
};

struct queue_entry {
	char qid[QUEUE_ID_LEN + 1];
	int64_t arrival;
	unsigned hops;			/* Received: fields counted by inject */
	size_t n_rcpts;
	uint64_t env_len, msg_off, msg_len;
	struct queue_slot *slots;	/* n_rcpts of them */
	struct envelope env;
};

const char *queue_folder_name(enum queue_folder f);
int queue_id_new(char qid[QUEUE_ID_LEN + 1]);
int queue_id_valid(const char *s);

uint64_t queue_slot_offset(size_t i);
uint64_t queue_msg_offset(size_t n_rcpts, uint64_t env_len);
int queue_state_final(char state);
void queue_slot_init(struct queue_slot *s);
void queue_slot_set_text(struct queue_slot *s, const char *text);
int queue_slot_format(const struct queue_slot *s, char out[QUEUE_SLOT_SIZE]);
int queue_slot_parse(const char *p, struct queue_slot *s);

void queue_entry_init(struct queue_entry *e);
void queue_entry_free(struct queue_entry *e);
int queue_head_build(const struct queue_entry *e, const char *env,
    size_t env_len, struct buf *out);
int queue_header_parse(const char *p, size_t len, struct queue_entry *e,
    const char **error_r);
int queue_parse(const char *p, size_t len, uint64_t file_size,
    struct queue_entry *e, const char **error_r);

int queue_dirs_open(const char *state_dir, int flags, struct queue_dirs *d,
    const char **error_r);
void queue_dirs_close(struct queue_dirs *d);
int queue_read(int dirfd, const char *qid, uid_t owner, int writable,
    struct queue_entry *e, int *fd_r, const char **error_r);
int queue_slot_write(int fd, size_t i, const struct queue_slot *s);
int queue_poke(const struct queue_dirs *d, char what);

#endif
