/*
 * NAME
 *	queue - queue folders, ids, the entry format and status slots
 *
 * SYNOPSIS
 *	const char *queue_folder_name(enum queue_folder f);
 *	int queue_id_new(char qid[QUEUE_ID_LEN + 1]);
 *	int queue_id_valid(const char *s);
 *	uint64_t queue_slot_offset(size_t i);
 *	uint64_t queue_msg_offset(size_t n_rcpts, uint64_t env_len);
 *	int queue_state_final(char state);
 *	void queue_slot_init(struct queue_slot *s);
 *	void queue_slot_set_text(struct queue_slot *s, const char *text);
 *	int queue_slot_format(const struct queue_slot *s,
 *	    char out[QUEUE_SLOT_SIZE]);
 *	int queue_slot_parse(const char *p, struct queue_slot *s);
 *	void queue_entry_init(struct queue_entry *e);
 *	void queue_entry_free(struct queue_entry *e);
 *	int queue_head_build(const struct queue_entry *e, const char *env,
 *	    size_t env_len, struct buf *out);
 *	int queue_header_parse(const char *p, size_t len,
 *	    struct queue_entry *e, const char **error_r);
 *	int queue_parse(const char *p, size_t len, uint64_t file_size,
 *	    struct queue_entry *e, const char **error_r);
 *	int queue_dirs_open(const char *state_dir, int flags,
 *	    struct queue_dirs *d, const char **error_r);
 *	void queue_dirs_close(struct queue_dirs *d);
 *	int queue_read(int dirfd, const char *qid, uid_t owner, int writable,
 *	    struct queue_entry *e, int *fd_r, const char **error_r);
 *	int queue_slot_write(int fd, size_t i, const struct queue_slot *s);
 *	int queue_poke(const struct queue_dirs *d, char what);
 *
 * DESCRIPTION
 *	The entry format is described in queue.h and smtpq/QUEUE.md; this
 *	file is the only code that knows it.
 *
 *	queue_id_new() makes a fresh id: 13 hex digits of the real time in
 *	microseconds, 6 of the pid and 5 random ones. queue_id_valid() says
 *	whether s is exactly one (24 characters 0-9 A-F), which also makes
 *	it safe as a file name.
 *
 *	queue_head_build() writes everything before the message (header,
 *	slots, envelope, padding: exactly e->msg_off octets) for inject; e
 *	must have qid, arrival, hops, n_rcpts, env_len, msg_off, msg_len and
 *	slots set. queue_header_parse() reads the header alone (so that a
 *	reader knows how much more to read); queue_parse() reads the first
 *	len = e->msg_off octets of an entry whose file has file_size octets,
 *	header included, and fills e (slots and envelope).
 *
 *	queue_dirs_open() opens state_dir/queue and its folders, refusing
 *	symlinks, a group/other write bit, and folders not owned by the
 *	owner of queue/ (which must be our euid with QUEUE_DIRS_MINE). With
 *	QUEUE_DIRS_CREATE it makes what is missing, mode 0700.
 *
 *	queue_read() opens entry qid in the folder dirfd (read-only, or
 *	read-write for smtpq), checks that it is a regular file with one link
 *	owned by owner, and parses it. With fd_r it hands back the open file
 *	(the caller closes it); otherwise it closes it.
 *
 *	queue_slot_write() rewrites slot i of an open entry in place (one
 *	pwrite, no fsync: the caller decides). queue_poke() writes one byte
 *	into the trigger FIFO without blocking.
 *
 * DIAGNOSTICS
 *	queue_parse, queue_header_parse, queue_slot_parse: 0, or -1 with
 *	errno EBADMSG (the entry is corrupt: quarantine it) and a static
 *	reason in *error_r (queue_slot_parse has none).
 *	queue_read: 0; -1/ENOENT when the entry is gone; -1/EBADMSG when it
 *	is corrupt or unsafe (symlink, hard link, foreign owner, not a
 *	regular file); any other errno is a temporary I/O failure.
 *	queue_dirs_open: 0, or -1 with *error_r; errno EPERM when a folder
 *	is unsafe (Q4, permanent until the operator fixes it), else the
 *	errno of the failing call.
 *	queue_poke: 0 when the byte was written, 1 when smtpq is not running
 *	(no FIFO, or no reader), -1 with errno otherwise (EAGAIN: the FIFO is
 *	full, smtpq has wake-ups pending anyway).
 *	queue_head_build, queue_slot_format: -1/EINVAL for a field out of
 *	range, -1/ENOBUFS when out is full.
 *
 * SECURITY
 *	Entries are input: a broken or hostile file must never crash a
 *	reader or make it read past what it allocated. Every field has a
 *	fixed width and range, every length is checked against the file
 *	size before anything is read, and the envelope goes through
 *	envelope_decode(). Files are opened O_NOFOLLOW|O_NONBLOCK (a planted
 *	FIFO cannot block the reader), and created by inject only with
 *	O_EXCL|O_NOFOLLOW (see inject.c).
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "envelope.h"
#include "queue.h"
#include "str.h"

static const char *const folder_names[QUEUE_N_FOLDERS] = {
	"tmp", "new", "cur", "corrupt", "delete",
};

static const char hexdigits[] = "0123456789ABCDEF";

/* queue_folder_name - the name of a folder under queue/ */
const char *
queue_folder_name(enum queue_folder f)
{
	return (unsigned)f < QUEUE_N_FOLDERS ? folder_names[f] : "?";
}

/* put_hex - write v as exactly n upper-case hex digits */
static void
put_hex(char *out, uint64_t v, size_t n)
{
	while (n > 0) {
		out[--n] = hexdigits[v & 0xf];
		v >>= 4;
	}
}

/* queue_id_new - a fresh queue id (time, pid, random) */
int
queue_id_new(char qid[QUEUE_ID_LEN + 1])
{
	static unsigned counter;
	struct timespec ts;
	uint32_t rnd = 0;
	uint64_t usec;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -1;
	usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)(ts.tv_nsec ^ (long)getpid()) + counter * 7919u;
	counter++;
	put_hex(qid, usec, 13);
	put_hex(qid + 13, (uint64_t)getpid(), 6);
	put_hex(qid + 19, rnd, 5);
	qid[QUEUE_ID_LEN] = '\0';
	return 0;
}

/* queue_id_valid - 1 if s is a queue id: 24 characters 0-9 A-F */
int
queue_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return s[QUEUE_ID_LEN] == '\0';
}

/* queue_slot_offset - where slot i starts in the file */
uint64_t
queue_slot_offset(size_t i)
{
	return QUEUE_HEADER_SIZE + (uint64_t)QUEUE_SLOT_SIZE * i;
}

/* queue_msg_offset - where the message starts, given the head's sizes */
uint64_t
queue_msg_offset(size_t n_rcpts, uint64_t env_len)
{
	uint64_t end = queue_slot_offset(n_rcpts) + env_len;

	return (end + QUEUE_PAGE - 1) / QUEUE_PAGE * QUEUE_PAGE;
}

/* queue_state_final - 1 for a state nothing more happens to */
int
queue_state_final(char state)
{
	return state == QUEUE_S_DELIVERED || state == QUEUE_S_BOUNCED;
}

/* queue_slot_init - a pending slot, never tried */
void
queue_slot_init(struct queue_slot *s)
{
	memset(s, 0, sizeof(*s));
	s->state = QUEUE_S_PENDING;
	s->flags = QUEUE_F_NONE;
}

/* queue_slot_set_text - store text as printable ASCII, cut to fit */
void
queue_slot_set_text(struct queue_slot *s, const char *text)
{
	size_t i;

	for (i = 0; i < QUEUE_TEXT_MAX && text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)text[i];

		s->text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	s->text[i] = '\0';
}

/* valid_state - 1 for a known slot state */
static int
valid_state(char c)
{
	return c == QUEUE_S_PENDING || c == QUEUE_S_DELIVERED ||
	    c == QUEUE_S_SUCCESS || c == QUEUE_S_FAILED ||
	    c == QUEUE_S_BOUNCED;
}

/* put_dec - write v as exactly n decimal digits; -1 if it does not fit */
static int
put_dec(char *out, uint64_t v, size_t n)
{
	while (n > 0) {
		out[--n] = (char)('0' + v % 10);
		v /= 10;
	}
	return v == 0 ? 0 : -1;
}

/* get_dec - exactly n decimal digits at p */
static int
get_dec(const char *p, size_t n, uint64_t max, uint64_t *v_r)
{
	return str_parse_u64(p, n, max, v_r);
}

/* queue_slot_format - the QUEUE_SLOT_SIZE octets of a slot */
int
queue_slot_format(const struct queue_slot *s, char out[QUEUE_SLOT_SIZE])
{
	size_t i, n = strlen(s->text);

	if (!valid_state(s->state) || (s->flags != QUEUE_F_NONE &&
	    s->flags != QUEUE_F_WARNED) || s->attempts > QUEUE_ATTEMPTS_MAX ||
	    s->next_try < 0 || s->next_try > QUEUE_TIME_MAX ||
	    s->last_try < 0 || s->last_try > QUEUE_TIME_MAX ||
	    n > QUEUE_TEXT_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s->text[i] < 0x20 ||
		    (unsigned char)s->text[i] >= 0x7f) {
			errno = EINVAL;
			return -1;
		}
	memset(out, 0, QUEUE_SLOT_SIZE);
	out[0] = s->state;
	out[1] = ' ';
	out[2] = s->flags;
	out[3] = ' ';
	(void)put_dec(out + 4, s->attempts, 5);
	out[9] = ' ';
	(void)put_dec(out + 10, (uint64_t)s->next_try, 12);
	out[22] = ' ';
	(void)put_dec(out + 23, (uint64_t)s->last_try, 12);
	out[35] = ' ';
	memcpy(out + 36, s->text, n);
	out[QUEUE_SLOT_SIZE - 1] = '\n';
	return 0;
}

/* queue_slot_parse - read the octets of a slot; -1/EBADMSG if bad */
int
queue_slot_parse(const char *p, struct queue_slot *s)
{
	uint64_t v;
	size_t i, n;

	memset(s, 0, sizeof(*s));
	if (!valid_state(p[0]) || p[1] != ' ' ||
	    (p[2] != QUEUE_F_NONE && p[2] != QUEUE_F_WARNED) || p[3] != ' ' ||
	    p[9] != ' ' || p[22] != ' ' || p[35] != ' ' ||
	    p[QUEUE_SLOT_SIZE - 1] != '\n')
		goto bad;
	s->state = p[0];
	s->flags = p[2];
	if (get_dec(p + 4, 5, QUEUE_ATTEMPTS_MAX, &v) < 0)
		goto bad;
	s->attempts = (unsigned)v;
	if (get_dec(p + 10, 12, (uint64_t)QUEUE_TIME_MAX, &v) < 0)
		goto bad;
	s->next_try = (int64_t)v;
	if (get_dec(p + 23, 12, (uint64_t)QUEUE_TIME_MAX, &v) < 0)
		goto bad;
	s->last_try = (int64_t)v;
	/* Text: printable ASCII, then only NUL up to the LF. */
	for (n = 0; n < QUEUE_TEXT_MAX && p[36 + n] != '\0'; n++) {
		unsigned char c = (unsigned char)p[36 + n];

		if (c < 0x20 || c >= 0x7f)
			goto bad;
	}
	for (i = n; i < QUEUE_TEXT_MAX; i++)
		if (p[36 + i] != '\0')
			goto bad;
	memcpy(s->text, p + 36, n);
	s->text[n] = '\0';
	return 0;
bad:
	memset(s, 0, sizeof(*s));
	errno = EBADMSG;
	return -1;
}

/* queue_entry_init - an empty entry */
void
queue_entry_init(struct queue_entry *e)
{
	memset(e, 0, sizeof(*e));
	envelope_init(&e->env);
}

/* queue_entry_free - release slots and envelope; e is empty afterwards */
void
queue_entry_free(struct queue_entry *e)
{
	free(e->slots);
	envelope_free(&e->env);
	queue_entry_init(e);
}

/* header_format - the 256 octets of the header */
static int
header_format(const struct queue_entry *e, char *out)
{
	char *p = out;

	if (!queue_id_valid(e->qid) || e->arrival < 0 ||
	    e->arrival > QUEUE_TIME_MAX || e->n_rcpts == 0 ||
	    e->n_rcpts > ENVELOPE_RCPT_MAX || e->hops > QUEUE_HOPS_MAX ||
	    e->env_len == 0 || e->env_len > ENVELOPE_WIRE_MAX ||
	    e->msg_off != queue_msg_offset(e->n_rcpts, e->env_len) ||
	    e->msg_len > QUEUE_MSG_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, QUEUE_HEADER_SIZE);
	memcpy(p, "MSQ1 ", 5);
	memcpy(p + 5, e->qid, QUEUE_ID_LEN);
	p[29] = ' ';
	(void)put_dec(p + 30, (uint64_t)e->arrival, 12);
	p[42] = ' ';
	(void)put_dec(p + 43, e->hops, 5);
	p[48] = ' ';
	(void)put_dec(p + 49, e->n_rcpts, 5);
	p[54] = ' ';
	(void)put_dec(p + 55, e->env_len, 10);
	p[65] = ' ';
	(void)put_dec(p + 66, e->msg_off, 12);
	p[78] = ' ';
	(void)put_dec(p + 79, e->msg_len, 12);
	p[91] = '\n';
	return 0;
}

/* queue_head_build - header, slots, envelope and padding: msg_off octets */
int
queue_head_build(const struct queue_entry *e, const char *env,
    size_t env_len, struct buf *out)
{
	size_t i, start = out->len;

	if (env_len != e->env_len || e->slots == NULL) {
		errno = EINVAL;
		return -1;
	}
	/* UNSAFE: msg_off <= QUEUE_HEAD_MAX, checked by header_format. */
	if (buf_reserve(out, e->msg_off) < 0)
		return -1;
	if (header_format(e, out->data + out->len) < 0)
		return -1;
	out->len += QUEUE_HEADER_SIZE;
	for (i = 0; i < e->n_rcpts; i++) {
		if (queue_slot_format(&e->slots[i], out->data + out->len) < 0) {
			buf_truncate(out, start);
			return -1;
		}
		out->len += QUEUE_SLOT_SIZE;
	}
	memcpy(out->data + out->len, env, env_len);
	out->len += env_len;
	memset(out->data + out->len, 0, start + e->msg_off - out->len);
	out->len = start + e->msg_off;
	out->data[out->len] = '\0';
	return 0;
}

/* corrupt - fail with EBADMSG and a reason */
static int
corrupt(const char **error_r, const char *why)
{
	*error_r = why;
	errno = EBADMSG;
	return -1;
}

/* queue_header_parse - the header's fields into e (nothing else) */
int
queue_header_parse(const char *p, size_t len, struct queue_entry *e,
    const char **error_r)
{
	static const size_t spaces[] = { 4, 29, 42, 48, 54, 65, 78 };
	uint64_t v;
	size_t i;

	if (len < QUEUE_HEADER_SIZE)
		return corrupt(error_r, "entry shorter than its header");
	if (memcmp(p, "MSQ1", 4) != 0)
		return corrupt(error_r, "bad magic");
	for (i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++)
		if (p[spaces[i]] != ' ')
			return corrupt(error_r, "bad header layout");
	if (p[QUEUE_HEADER_LINE - 1] != '\n')
		return corrupt(error_r, "bad header layout");
	for (i = QUEUE_HEADER_LINE; i < QUEUE_HEADER_SIZE; i++)
		if (p[i] != '\0')
			return corrupt(error_r, "bad header padding");
	memcpy(e->qid, p + 5, QUEUE_ID_LEN);
	e->qid[QUEUE_ID_LEN] = '\0';
	if (!queue_id_valid(e->qid))
		return corrupt(error_r, "bad queue id in header");
	if (get_dec(p + 30, 12, (uint64_t)QUEUE_TIME_MAX, &v) < 0)
		return corrupt(error_r, "bad arrival time");
	e->arrival = (int64_t)v;
	if (get_dec(p + 43, 5, QUEUE_HOPS_MAX, &v) < 0)
		return corrupt(error_r, "bad hop count");
	e->hops = (unsigned)v;
	if (get_dec(p + 49, 5, ENVELOPE_RCPT_MAX, &v) < 0 || v == 0)
		return corrupt(error_r, "bad recipient count");
	e->n_rcpts = (size_t)v;
	if (get_dec(p + 55, 10, ENVELOPE_WIRE_MAX, &v) < 0 || v == 0)
		return corrupt(error_r, "bad envelope length");
	e->env_len = v;
	if (get_dec(p + 66, 12, QUEUE_HEAD_MAX, &v) < 0 ||
	    v != queue_msg_offset(e->n_rcpts, e->env_len))
		return corrupt(error_r, "bad message offset");
	e->msg_off = v;
	if (get_dec(p + 79, 12, QUEUE_MSG_MAX, &v) < 0)
		return corrupt(error_r, "bad message length");
	e->msg_len = v;
	return 0;
}

/* queue_parse - the whole head of an entry (len == msg_off octets) */
int
queue_parse(const char *p, size_t len, uint64_t file_size,
    struct queue_entry *e, const char **error_r)
{
	const char *env;
	size_t i, used = 0;
	uint64_t env_off;

	queue_entry_free(e);
	if (queue_header_parse(p, len, e, error_r) < 0)
		goto fail;
	if (len != e->msg_off) {
		corrupt(error_r, "head length does not match the header");
		goto fail;
	}
	if (file_size != e->msg_off + e->msg_len) {
		corrupt(error_r, "file size does not match the header");
		goto fail;
	}
	e->slots = alloc_reallocarray(NULL, e->n_rcpts, sizeof(*e->slots));
	for (i = 0; i < e->n_rcpts; i++)
		if (queue_slot_parse(p + queue_slot_offset(i),
		    &e->slots[i]) < 0) {
			corrupt(error_r, "bad status slot");
			goto fail;
		}
	env_off = queue_slot_offset(e->n_rcpts);
	env = p + env_off;
	if (envelope_decode(env, e->env_len, &e->env, &used, error_r) < 0) {
		errno = EBADMSG;
		goto fail;
	}
	if (used != e->env_len) {
		corrupt(error_r, "bytes after the envelope terminator");
		goto fail;
	}
	if (e->env.n_rcpts != e->n_rcpts) {
		corrupt(error_r, "recipient count does not match the envelope");
		goto fail;
	}
	for (i = env_off + e->env_len; i < len; i++)
		if (p[i] != '\0') {
			corrupt(error_r, "bad padding before the message");
			goto fail;
		}
	return 0;
fail:
	queue_entry_free(e);
	errno = EBADMSG;
	return -1;
}

/* check_dir - fstat a folder: ours (or owner's), no group/other write */
static int
check_dir(int fd, int mine, uid_t *owner, const char **error_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*error_r = "cannot stat a queue folder";
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = "a queue folder is not a folder";
		errno = EPERM;
		return -1;
	}
	if (mine && st.st_uid != geteuid()) {
		*error_r = "a queue folder is owned by another user";
		errno = EPERM;
		return -1;
	}
	if (!mine && *owner != (uid_t)-1 && st.st_uid != *owner) {
		*error_r = "a queue folder is owned by another user";
		errno = EPERM;
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		*error_r = "a queue folder is group or world writable";
		errno = EPERM;
		return -1;
	}
	*owner = st.st_uid;
	return 0;
}

/* open_dir - open name in parent, never through a symlink; make it */
static int
open_dir(int parent, const char *name, int create, const char **error_r)
{
	int fd, tries;

	for (tries = 0; tries < 2; tries++) {
		fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == ELOOP || errno == ENOTDIR) {
			*error_r = "a queue folder is a symlink or not a "
			    "folder";
			errno = EPERM;
			return -1;
		}
		if (errno != ENOENT || !create)
			break;
		if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST) {
			*error_r = "cannot create a queue folder";
			return -1;
		}
	}
	*error_r = "cannot open a queue folder";
	return -1;
}

/* queue_dirs_open - open (and make) state_dir/queue and its folders */
int
queue_dirs_open(const char *state_dir, int flags, struct queue_dirs *d,
    const char **error_r)
{
	int sd, i, create = (flags & QUEUE_DIRS_CREATE) != 0;
	int save;

	d->root = -1;
	d->owner = (uid_t)-1;
	for (i = 0; i < QUEUE_N_FOLDERS; i++)
		d->fd[i] = -1;
	sd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sd < 0 && errno == ENOENT && create) {
		if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
			*error_r = "cannot create state_dir";
			return -1;
		}
		sd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (sd < 0) {
		*error_r = "cannot open state_dir";
		return -1;
	}
	d->root = open_dir(sd, QUEUE_DIR, create, error_r);
	save = errno;
	(void)close(sd);
	errno = save;
	if (d->root < 0)
		return -1;
	if (check_dir(d->root, (flags & QUEUE_DIRS_MINE) != 0, &d->owner,
	    error_r) < 0)
		goto fail;
	for (i = 0; i < QUEUE_N_FOLDERS; i++) {
		d->fd[i] = open_dir(d->root, folder_names[i], create, error_r);
		if (d->fd[i] < 0 ||
		    check_dir(d->fd[i], 0, &d->owner, error_r) < 0)
			goto fail;
	}
	return 0;
fail:
	save = errno;
	queue_dirs_close(d);
	errno = save;
	return -1;
}

/* queue_dirs_close - close every folder */
void
queue_dirs_close(struct queue_dirs *d)
{
	int i;

	if (d->root >= 0)
		(void)close(d->root);
	d->root = -1;
	d->owner = (uid_t)-1;
	for (i = 0; i < QUEUE_N_FOLDERS; i++) {
		if (d->fd[i] >= 0)
			(void)close(d->fd[i]);
		d->fd[i] = -1;
	}
}

/* read_at - exactly n octets at off; -1/EBADMSG if the file is shorter */
static int
read_at(int fd, char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EBADMSG;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* queue_read - open, check and parse entry qid in folder dirfd */
int
queue_read(int dirfd, const char *qid, uid_t owner, int writable,
    struct queue_entry *e, int *fd_r, const char **error_r)
{
	struct buf head = BUF_INIT(QUEUE_HEAD_MAX);
	struct stat st;
	int fd, save;

	queue_entry_free(e);
	if (!queue_id_valid(qid))
		return corrupt(error_r, "not a queue id");
	fd = openat(dirfd, qid, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			return corrupt(error_r, "entry is a symlink");
		*error_r = errno == ENOENT ? "entry is gone" :
		    "cannot open entry";
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = "cannot stat entry";
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		corrupt(error_r, "entry is not a regular file");
		goto fail;
	}
	if (st.st_nlink != 1) {
		corrupt(error_r, "entry has more than one link");
		goto fail;
	}
	if (st.st_uid != owner) {
		corrupt(error_r, "entry is owned by another user");
		goto fail;
	}
	if (buf_reserve(&head, QUEUE_HEADER_SIZE) < 0) {
		*error_r = "out of memory";
		goto fail;
	}
	if (read_at(fd, head.data, QUEUE_HEADER_SIZE, 0) < 0) {
		*error_r = errno == EBADMSG ? "entry shorter than its header" :
		    "cannot read entry";
		goto fail;
	}
	head.len = QUEUE_HEADER_SIZE;
	if (queue_header_parse(head.data, head.len, e, error_r) < 0)
		goto fail;
	if (strcmp(e->qid, qid) != 0) {
		corrupt(error_r, "queue id does not match the file name");
		goto fail;
	}
	if ((uint64_t)st.st_size != e->msg_off + e->msg_len) {
		corrupt(error_r, "file size does not match the header");
		goto fail;
	}
	/* UNSAFE: msg_off <= QUEUE_HEAD_MAX, checked by the header parse. */
	if (buf_reserve(&head, e->msg_off - QUEUE_HEADER_SIZE) < 0) {
		*error_r = "out of memory";
		goto fail;
	}
	if (read_at(fd, head.data + QUEUE_HEADER_SIZE,
	    e->msg_off - QUEUE_HEADER_SIZE, QUEUE_HEADER_SIZE) < 0) {
		*error_r = errno == EBADMSG ? "entry is truncated" :
		    "cannot read entry";
		goto fail;
	}
	head.len = e->msg_off;
	if (queue_parse(head.data, head.len, (uint64_t)st.st_size, e,
	    error_r) < 0)
		goto fail;
	buf_free(&head);
	if (fd_r != NULL)
		*fd_r = fd;
	else
		(void)close(fd);
	return 0;
fail:
	save = errno;
	buf_free(&head);
	queue_entry_free(e);
	(void)close(fd);
	errno = save;
	return -1;
}

/* queue_slot_write - rewrite slot i of an open entry (no fsync) */
int
queue_slot_write(int fd, size_t i, const struct queue_slot *s)
{
	char out[QUEUE_SLOT_SIZE];
	ssize_t r;

	if (queue_slot_format(s, out) < 0)
		return -1;
	do
		r = pwrite(fd, out, sizeof(out), (off_t)queue_slot_offset(i));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if ((size_t)r != sizeof(out)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* queue_poke - one byte into the trigger FIFO, never blocking */
int
queue_poke(const struct queue_dirs *d, char what)
{
	struct stat st;
	ssize_t r;
	int fd, save;

	fd = openat(d->root, QUEUE_TRIGGER,
	    O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENXIO || errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		(void)close(fd);
		errno = EPERM;
		return -1;
	}
	do
		r = write(fd, &what, 1);
	while (r < 0 && errno == EINTR);
	save = errno;
	(void)close(fd);
	if (r == 1)
		return 0;
	errno = r < 0 ? save : EIO;
	return -1;
}
