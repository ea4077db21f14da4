/*
 * NAME
 *	throttle - login throttling per client address, shared on disk
 *
 * SYNOPSIS
 *	struct throttle *throttle_open(const char *path,
 *	    const char **error_r);
 *	struct throttle *throttle_open_state(const char *state_dir,
 *	    const char **error_r);
 *	void throttle_close(struct throttle *t);
 *	int throttle_peer(int fd, char *text, size_t size,
 *	    unsigned char key[THROTTLE_KEY_LEN]);
 *	int throttle_key(const struct sockaddr *sa, socklen_t len,
 *	    unsigned char key[THROTTLE_KEY_LEN]);
 *	int throttle_check(struct throttle *t, const unsigned char *key,
 *	    time_t now, unsigned *failures_r);
 *	int throttle_fail(struct throttle *t, const unsigned char *key,
 *	    time_t now, unsigned *failures_r);
 *	int throttle_success(struct throttle *t, const unsigned char *key,
 *	    time_t now);
 *	unsigned throttle_delay_ms(unsigned failures);
 *	void throttle_pause_ms(unsigned ms);
 *
 * DESCRIPTION
 *	The policy and the file format are in throttle.h.
 *
 *	throttle_open() opens (creating it, mode 0600) the table file at
 *	path, and makes it the right size and form under the lock.
 *	throttle_open_state() opens the one table smtpd, pop3d and imapd
 *	share, THROTTLE_FILE in state_dir (made if missing).
 *	throttle_key() turns a client address into its key; throttle_peer()
 *	does it for the peer of socket fd and also writes the address as
 *	text ("unknown" when fd is not an IP socket: it then returns 0,
 *	else 1 when key was set).
 *	throttle_check() says whether the key is refused now (1) or may try
 *	(0), and how many failures it has. throttle_fail() counts one failure
 *	and gives the new count; throttle_success() forgets the key.
 *	throttle_delay_ms() is the wait after failure number n (0 for 0);
 *	throttle_pause_ms() waits that long, resuming after signals.
 *
 *	Each call takes the file lock (flock LOCK_EX), waiting at most
 *	THROTTLE_LOCK_WAIT_MS, reads and writes at most THROTTLE_PROBE
 *	records, and lets go: no call holds the lock while it waits on a
 *	peer.
 *
 * DIAGNOSTICS
 *	throttle_open: NULL with errno and a static reason. The others: -1
 *	with errno (EWOULDBLOCK when the lock did not come in time, an I/O
 *	errno otherwise), all temporary. A caller decides whether to let a
 *	login through when the table cannot be used (pop3d does, and logs).
 *
 * SECURITY
 *	The file is the servers' own (state_dir); keys come from
 *	getpeername(2), never from what a peer says. The hash is salted per
 *	file so that nobody can choose addresses that fall in one slot run.
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "str.h"
#include "throttle.h"

#define MAGIC		"MSTHROT1"
#define HEADER_LEN	32
#define RECORD_LEN	32
#define FILE_LEN	(HEADER_LEN + (off_t)THROTTLE_SLOTS * RECORD_LEN)
#define FAILURES_MAX	1000000

struct throttle {
	int fd;
	unsigned char salt[8];
};

struct record {
	unsigned char key[THROTTLE_KEY_LEN];
	uint32_t failures;
	uint32_t used;
	int64_t last;
};

/* lock - flock the file, waiting at most THROTTLE_LOCK_WAIT_MS */
static int
lock(struct throttle *t)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int waited;

	for (waited = 0; waited <= THROTTLE_LOCK_WAIT_MS; waited += 10) {
		if (flock(t->fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		(void)nanosleep(&ts, NULL);
	}
	errno = EWOULDBLOCK;
	return -1;
}

/* unlock - let go of the file lock */
static void
unlock(struct throttle *t)
{
	(void)flock(t->fd, LOCK_UN);
}

/* read_all - pread exactly n bytes at off */
static int
read_all(int fd, void *p, size_t n, off_t off)
{
	ssize_t r;

	while (n > 0) {
		r = pread(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p = (char *)p + r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* write_all - pwrite exactly n bytes at off */
static int
write_all(int fd, const void *p, size_t n, off_t off)
{
	ssize_t r;

	while (n > 0) {
		r = pwrite(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p = (const char *)p + r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* load_header - read the salt if the file has our form; 1 ok, 0 not */
static int
load_header(struct throttle *t)
{
	unsigned char h[HEADER_LEN];
	struct stat st;
	uint32_t slots;

	if (fstat(t->fd, &st) < 0)
		return -1;
	if (st.st_size != FILE_LEN)
		return 0;
	if (read_all(t->fd, h, sizeof(h), 0) < 0)
		return -1;
	memcpy(&slots, h + 16, sizeof(slots));
	if (memcmp(h, MAGIC, 8) != 0 || slots != THROTTLE_SLOTS)
		return 0;
	memcpy(t->salt, h + 8, sizeof(t->salt));
	return 1;
}

/* format - make the file an empty table with a new salt */
static int
format(struct throttle *t)
{
	unsigned char h[HEADER_LEN];
	uint32_t slots = THROTTLE_SLOTS;

	if (getrandom(t->salt, sizeof(t->salt), 0) != (ssize_t)sizeof(t->salt))
		return -1;
	memset(h, 0, sizeof(h));
	memcpy(h, MAGIC, 8);
	memcpy(h + 8, t->salt, sizeof(t->salt));
	memcpy(h + 16, &slots, sizeof(slots));
	if (ftruncate(t->fd, 0) < 0 || ftruncate(t->fd, FILE_LEN) < 0 ||
	    write_all(t->fd, h, sizeof(h), 0) < 0)
		return -1;
	return 0;
}

/* throttle_open_state - the table all login services share, in state_dir */
struct throttle *
throttle_open_state(const char *state_dir, const char **error_r)
{
	struct buf path = BUF_INIT(4096);
	struct throttle *t = NULL;

	(void)mkdir(state_dir, 0755);
	if (buf_printf(&path, "%s/%s", state_dir, THROTTLE_FILE) < 0)
		*error_r = "throttle table path too long";
	else
		t = throttle_open(buf_cstr(&path), error_r);
	buf_free(&path);
	return t;
}

/* throttle_open - open (or create) the table file */
struct throttle *
throttle_open(const char *path, const char **error_r)
{
	struct throttle *t = alloc_calloc(1, sizeof(*t));
	int r, saved;

	t->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (t->fd < 0) {
		*error_r = "cannot open the throttle table";
		goto fail;
	}
	if (lock(t) < 0) {
		*error_r = "cannot lock the throttle table";
		goto fail;
	}
	r = load_header(t);
	if (r == 0)
		r = format(t) < 0 ? -1 : 1;
	saved = errno;
	unlock(t);
	errno = saved;
	if (r < 0) {
		*error_r = "cannot read the throttle table";
		goto fail;
	}
	return t;
fail:
	saved = errno;
	throttle_close(t);
	errno = saved;
	return NULL;
}

/* throttle_close - close the table */
void
throttle_close(struct throttle *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0)
		(void)close(t->fd);
	free(t);
}

/* throttle_key - the key of a client address: IPv4, or IPv6 /64 */
int
throttle_key(const struct sockaddr *sa, socklen_t len,
    unsigned char key[THROTTLE_KEY_LEN])
{
	memset(key, 0, THROTTLE_KEY_LEN);
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;
		const unsigned char *a = in6->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(a, mapped, sizeof(mapped)) == 0)
			memcpy(key, a, 16);	/* an IPv4 client */
		else
			memcpy(key, a, 8);	/* its /64 */
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

/* hash - the first slot for a key (FNV-1a over salt and key) */
static uint32_t
hash(const struct throttle *t, const unsigned char *key)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < sizeof(t->salt); i++)
		h = (h ^ t->salt[i]) * 1099511628211ULL;
	for (i = 0; i < THROTTLE_KEY_LEN; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (uint32_t)(h % THROTTLE_SLOTS);
}

/* slot_off - file offset of slot i */
static off_t
slot_off(uint32_t i)
{
	return HEADER_LEN + (off_t)i * RECORD_LEN;
}

/* get - read slot i */
static int
get(struct throttle *t, uint32_t i, struct record *r)
{
	unsigned char b[RECORD_LEN];

	if (read_all(t->fd, b, sizeof(b), slot_off(i)) < 0)
		return -1;
	memcpy(r->key, b, THROTTLE_KEY_LEN);
	memcpy(&r->failures, b + 16, 4);
	memcpy(&r->used, b + 20, 4);
	memcpy(&r->last, b + 24, 8);
	return 0;
}

/* put - write slot i */
static int
put(struct throttle *t, uint32_t i, const struct record *r)
{
	unsigned char b[RECORD_LEN];

	memcpy(b, r->key, THROTTLE_KEY_LEN);
	memcpy(b + 16, &r->failures, 4);
	memcpy(b + 20, &r->used, 4);
	memcpy(b + 24, &r->last, 8);
	return write_all(t->fd, b, sizeof(b), slot_off(i));
}

/* fresh - 1 if a record's failures still count at now */
static int
fresh(const struct record *r, time_t now)
{
	return r->used && r->failures > 0 &&
	    (int64_t)now - r->last <= THROTTLE_FORGET_SECS;
}

/*
 * find - the slot of key: 1 found, 0 not (then *slot_r is where it would
 * go), -1 error
 */
static int
find(struct throttle *t, const unsigned char *key, time_t now,
    uint32_t *slot_r, struct record *r)
{
	uint32_t h = hash(t, key), i, idx, spare = 0, oldest = 0;
	int have_spare = 0;
	int64_t oldest_last = INT64_MAX;
	struct record cur;

	for (i = 0; i < THROTTLE_PROBE; i++) {
		idx = (h + i) % THROTTLE_SLOTS;
		if (get(t, idx, &cur) < 0)
			return -1;
		if (cur.used && memcmp(cur.key, key, THROTTLE_KEY_LEN) == 0) {
			*slot_r = idx;
			*r = cur;
			return 1;
		}
		if (!have_spare && !fresh(&cur, now)) {
			spare = idx;
			have_spare = 1;
		}
		if (cur.last < oldest_last) {
			oldest_last = cur.last;
			oldest = idx;
		}
	}
	*slot_r = have_spare ? spare : oldest;
	memset(r, 0, sizeof(*r));
	return 0;
}

/* throttle_check - 1 if key is refused now, 0 if it may try; -1 error */
int
throttle_check(struct throttle *t, const unsigned char *key, time_t now,
    unsigned *failures_r)
{
	struct record r;
	uint32_t slot;
	int found, saved;

	*failures_r = 0;
	if (lock(t) < 0)
		return -1;
	found = find(t, key, now, &slot, &r);
	saved = errno;
	unlock(t);
	if (found < 0) {
		errno = saved;
		return -1;
	}
	if (found == 0 || !fresh(&r, now))
		return 0;
	*failures_r = r.failures;
	return r.failures >= THROTTLE_LIMIT;
}

/* throttle_fail - count one failure for key; the count in *failures_r */
int
throttle_fail(struct throttle *t, const unsigned char *key, time_t now,
    unsigned *failures_r)
{
	struct record r;
	uint32_t slot;
	int found, rc = 0, saved;

	*failures_r = 0;
	if (lock(t) < 0)
		return -1;
	found = find(t, key, now, &slot, &r);
	if (found < 0)
		rc = -1;
	else {
		if (found == 0 || !fresh(&r, now)) {
			memset(&r, 0, sizeof(r));
			memcpy(r.key, key, THROTTLE_KEY_LEN);
			r.used = 1;
		}
		if (r.failures < FAILURES_MAX)
			r.failures++;
		r.last = (int64_t)now;
		if (put(t, slot, &r) < 0)
			rc = -1;
		*failures_r = r.failures;
	}
	saved = errno;
	unlock(t);
	errno = saved;
	return rc;
}

/* throttle_success - forget the failures of key */
int
throttle_success(struct throttle *t, const unsigned char *key, time_t now)
{
	struct record r;
	uint32_t slot;
	int found, rc = 0, saved;

	if (lock(t) < 0)
		return -1;
	found = find(t, key, now, &slot, &r);
	if (found < 0)
		rc = -1;
	else if (found > 0) {
		memset(&r, 0, sizeof(r));
		if (put(t, slot, &r) < 0)
			rc = -1;
	}
	saved = errno;
	unlock(t);
	errno = saved;
	return rc;
}

/* throttle_delay_ms - the wait after failure number n */
unsigned
throttle_delay_ms(unsigned failures)
{
	unsigned ms = THROTTLE_DELAY_MIN_MS;

	if (failures == 0)
		return 0;
	while (--failures > 0 && ms < THROTTLE_DELAY_MAX_MS)
		ms *= 2;
	return ms < THROTTLE_DELAY_MAX_MS ? ms : THROTTLE_DELAY_MAX_MS;
}

/* throttle_pause_ms - wait ms milliseconds, resuming after signals */
void
throttle_pause_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* throttle_peer - fd's peer address as text (or "unknown"), and its key */
int
throttle_peer(int fd, char *text, size_t size,
    unsigned char key[THROTTLE_KEY_LEN])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *a = NULL;

	(void)str_copy(text, size, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (a == NULL || size > (size_t)INT_MAX ||
	    inet_ntop(ss.ss_family, a, text, (socklen_t)size) == NULL) {
		(void)str_copy(text, size, "unknown");
		return 0;
	}
	return throttle_key((struct sockaddr *)&ss, len, key) == 0;
}
