/*
 * NAME
 *	clock.h - the wall clock of the queue, movable for tests
 *
 * DESCRIPTION
 *	clock_now() is time(NULL) plus the offset in seconds given by the
 *	environment variable MAILSTACK_NOW_OFFSET (an optional '-' then
 *	decimal digits), read once. The variable is ignored in a set-id
 *	process (secure_getenv), and a malformed value counts as 0. Every
 *	queue time (arrival, next try, lifetime, delay warning) comes from
 *	here, so tests move time by restarting a program with a larger
 *	offset instead of sleeping for hours.
 *
 *	clock_mono_ms() is CLOCK_MONOTONIC in milliseconds, for timeouts
 *	and deadlines (never moved by the offset or by the wall clock).
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

#define CLOCK_ENV	"MAILSTACK_NOW_OFFSET"

int64_t clock_now(void);
int64_t clock_offset(void);
int64_t clock_mono_ms(void);

#endif
