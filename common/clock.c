/*
 * NAME
 *	clock - the wall clock of the queue, movable for tests
 *
 * SYNOPSIS
 *	int64_t clock_now(void);
 *	int64_t clock_offset(void);
 *	int64_t clock_mono_ms(void);
 *
 * DESCRIPTION
 *	clock_now() returns time(NULL) plus clock_offset(), the value of
 *	MAILSTACK_NOW_OFFSET (see clock.h). The offset is read on the first
 *	call and kept.
 *
 * DIAGNOSTICS
 *	None: a malformed or out-of-range offset is 0.
 *
 * SECURITY
 *	The environment is untrusted in a set-id program: secure_getenv()
 *	returns NULL there, so a local user cannot back-date a queue entry
 *	through a set-uid inject.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "str.h"

/* Ten years either way is plenty for any test. */
#define CLOCK_OFFSET_MAX	((uint64_t)10 * 366 * 24 * 3600)

static int offset_read;
static int64_t offset;

/* clock_offset - seconds added to the real time (0 normally) */
int64_t
clock_offset(void)
{
	const char *s;
	uint64_t v;
	int neg = 0;

	if (offset_read)
		return offset;
	offset_read = 1;
	offset = 0;
	s = secure_getenv(CLOCK_ENV);
	if (s == NULL)
		return 0;
	if (s[0] == '-') {
		neg = 1;
		s++;
	}
	if (str_parse_u64(s, strlen(s), CLOCK_OFFSET_MAX, &v) < 0)
		return 0;
	offset = neg ? -(int64_t)v : (int64_t)v;
	return offset;
}

/* clock_now - the queue's idea of the current time, in seconds */
int64_t
clock_now(void)
{
	return (int64_t)time(NULL) + clock_offset();
}

/* clock_mono_ms - CLOCK_MONOTONIC in milliseconds */
int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
