/*
 * NAME
 *	throttle.h - login throttling per client address, shared on disk
 *
 * DESCRIPTION
 *	Every server that checks passwords (pop3d, imapd, smtpd's AUTH) runs
 *	one process per connection, so what it remembers about failed logins
 *	lives in a small file that all of them share: a fixed table of
 *	THROTTLE_SLOTS records, one per client key, updated under flock(2).
 *
 *	The key of a client is its IPv4 address, or the /64 prefix of its
 *	IPv6 address (one host gets a whole /64), as 16 octets.
 *
 *	Policy. Each failed login counts one failure for the key; failures
 *	are forgotten THROTTLE_FORGET_SECS after the last one, and a
 *	successful login forgets them at once. After failure n the server
 *	waits throttle_delay_ms(n) before it answers (THROTTLE_DELAY_MIN_MS
 *	doubling up to THROTTLE_DELAY_MAX_MS). Once a key has THROTTLE_LIMIT
 *	failures, every login from it is refused without looking at the
 *	password until the failures are forgotten (THROTTLE_FORGET_SECS
 *	after the last counted failure; refused attempts are not counted).
 *
 *	File format (native byte order; the file never leaves the host):
 *
 *	    header  "MSTHROT1" (8) | salt (8) | slots (4) | zero (12)
 *	    record  key (16) | failures (4) | in use (4) | last failure,
 *	            seconds since the epoch (8)
 *
 *	A record lives at slot hash(salt, key) or one of the THROTTLE_PROBE
 *	slots after it; when they are all taken, the one whose last failure
 *	is oldest is reused. A file that does not have this form is
 *	rewritten empty.
 */
#ifndef THROTTLE_H
#define THROTTLE_H

#include <sys/socket.h>

#include <stdint.h>
#include <time.h>

#define THROTTLE_SLOTS		4096
#define THROTTLE_PROBE		16
#define THROTTLE_KEY_LEN	16
#define THROTTLE_LIMIT		10	/* failures, then refusal */
#define THROTTLE_FORGET_SECS	(15 * 60)
#define THROTTLE_DELAY_MIN_MS	250	/* after the first failure */
#define THROTTLE_DELAY_MAX_MS	4000
#define THROTTLE_LOCK_WAIT_MS	2000	/* longest wait for the file lock */

struct throttle;

/* The table smtpd, pop3d and imapd share, in state_dir. */
#define THROTTLE_FILE	"login-throttle"

struct throttle *throttle_open(const char *path, const char **error_r);
struct throttle *throttle_open_state(const char *state_dir,
    const char **error_r);
void throttle_close(struct throttle *t);
int throttle_peer(int fd, char *text, size_t size,
    unsigned char key[THROTTLE_KEY_LEN]);
int throttle_key(const struct sockaddr *sa, socklen_t len,
    unsigned char key[THROTTLE_KEY_LEN]);
int throttle_check(struct throttle *t, const unsigned char *key, time_t now,
    unsigned *failures_r);
int throttle_fail(struct throttle *t, const unsigned char *key, time_t now,
    unsigned *failures_r);
int throttle_success(struct throttle *t, const unsigned char *key,
    time_t now);
unsigned throttle_delay_ms(unsigned failures);
void throttle_pause_ms(unsigned ms);

#endif
