/*
 * NAME
 *	authd-limit - failure counts per client address and per user
 *
 * SYNOPSIS
 *	void authd_limit_init(const struct authd_policy *p);
 *	unsigned authd_limit_check(const char *key, int64_t now_ms,
 *	    unsigned limit, unsigned *failures_r);
 *	unsigned authd_limit_fail(const char *key, int64_t now_ms);
 *	void authd_limit_forget(const char *key);
 *
 * DESCRIPTION
 *	The policy of throttle.h (the on-disk table smtpd, pop3d and imapd
 *	share), kept in authd's memory: authd is one process, so it needs
 *	neither the file nor its lock. A key is a string: "a:" and the
 *	client's throttle_key() in hex (an IPv4 address, or the /64 of an
 *	IPv6 one) or "u:" and the user name folded to lower case (see
 *	authd-serve.c). Failures are forgotten forget_ms after the last
 *	one; a success forgets the key at once.
 *
 *	The table has AUTHD_LIMIT_SLOTS records. A key lives at slot
 *	hash(salt, key) or one of the THROTTLE_PROBE after it; when they
 *	are all taken, the record whose last failure is oldest is reused,
 *	forgotten ones first. The hash is salted from getrandom(2) at start
 *	so nobody can pick keys that collide.
 *
 *	authd_limit_check() says how many failures key has now (in
 *	*failures_r) and, when they reach limit, how many milliseconds are
 *	left until they are forgotten (0: not refused). authd_limit_fail()
 *	counts one failure and returns the new count.
 *
 * DIAGNOSTICS
 *	None: the table cannot fail (a full table forgets its oldest).
 *
 * SECURITY
 *	Keys come from authd-serve.c, made from checked request fields; they
 *	are compared, never interpreted.
 */
#include <sys/random.h>

#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "authd.h"
#include "daemon.h"
#include "throttle.h"

#define KEY_MAX		(2 + AUTH_USER_MAX)

struct slot {
	char key[KEY_MAX + 1];		/* "": free */
	unsigned failures;
	int64_t last_ms;
};

static struct slot *slots;
static uint64_t salt;
static unsigned forget_ms;

/* authd_limit_init - an empty table with a fresh salt */
void
authd_limit_init(const struct authd_policy *p)
{
	if (slots == NULL)
		slots = alloc_calloc(AUTHD_LIMIT_SLOTS, sizeof(*slots));
	if (getrandom(&salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		salt = (uint64_t)clock_mono_ms() * 0x9e3779b97f4a7c15ULL;
	forget_ms = p->forget_ms;
}

/* hash - FNV-1a of the salt and key */
static size_t
hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ salt;
	const unsigned char *p = (const unsigned char *)key;

	for (; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	return (size_t)(h % AUTHD_LIMIT_SLOTS);
}

/* forgotten - 1 if s holds nothing that still counts at now */
static int
forgotten(const struct slot *s, int64_t now_ms)
{
	return s->key[0] == '\0' || s->failures == 0 ||
	    now_ms - s->last_ms >= (int64_t)forget_ms;
}

/* find - key's slot, or NULL (make: a slot for it, reusing the oldest) */
static struct slot *
find(const char *key, int64_t now_ms, int make)
{
	size_t h = hash(key), i;
	struct slot *victim = NULL;

	for (i = 0; i < THROTTLE_PROBE; i++) {
		struct slot *s = &slots[(h + i) % AUTHD_LIMIT_SLOTS];

		if (s->key[0] != '\0' && strcmp(s->key, key) == 0)
			return s;
		if (!make)
			continue;
		if (victim == NULL || (forgotten(s, now_ms) &&
		    !forgotten(victim, now_ms)) ||
		    (forgotten(s, now_ms) == forgotten(victim, now_ms) &&
		    s->last_ms < victim->last_ms))
			victim = s;
	}
	if (victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	if (strlen(key) > KEY_MAX)	/* never: keys are checked fields */
		return NULL;
	memcpy(victim->key, key, strlen(key) + 1);
	return victim;
}

/* authd_limit_check - failures of key now; ms until forgotten if limited */
unsigned
authd_limit_check(const char *key, int64_t now_ms, unsigned limit,
    unsigned *failures_r)
{
	struct slot *s = find(key, now_ms, 0);

	*failures_r = 0;
	if (s == NULL || forgotten(s, now_ms))
		return 0;
	*failures_r = s->failures;
	if (s->failures < limit)
		return 0;
	return (unsigned)(s->last_ms + forget_ms - now_ms);
}

/* authd_limit_fail - count one failure of key; the new count */
unsigned
authd_limit_fail(const char *key, int64_t now_ms)
{
	struct slot *s = find(key, now_ms, 1);

	if (s == NULL)
		return 1;
	if (forgotten(s, now_ms))
		s->failures = 0;
	if (s->failures < 1000000)
		s->failures++;
	s->last_ms = now_ms;
	return s->failures;
}

/* authd_limit_forget - drop key's failures (a successful login) */
void
authd_limit_forget(const char *key)
{
	struct slot *s = find(key, 0, 0);

	if (s != NULL)
		memset(s, 0, sizeof(*s));
}
