/*
 * NAME
 *	alloc - memory allocation wrappers
 *
 * SYNOPSIS
 *	void *alloc_malloc(size_t size);
 *	void *alloc_calloc(size_t n, size_t size);
 *	void *alloc_realloc(void *ptr, size_t size);
 *	void *alloc_reallocarray(void *ptr, size_t n, size_t size);
 *	char *alloc_strdup(const char *s);
 *	char *alloc_strndup(const char *s, size_t n);
 *	void alloc_set_oom_handler(void (*handler)(void));
 *
 * DESCRIPTION
 *	These never return NULL. Out of memory is a temporary failure of the
 *	whole process: the handler (by default: a line on stderr and
 *	_exit(111)) runs and the caller never sees the failure, so callers do
 *	not handle it one by one. A program may install its own handler, for
 *	instance to send "421 4.3.0" first; the handler must not return.
 *	Size products are checked for overflow, which counts as out of memory.
 *
 * DIAGNOSTICS
 *	Out of memory: exit 111 (temporary).
 *
 * SECURITY
 *	No privileges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fail.h"

static void (*oom_handler)(void);

/* out_of_memory - run the handler, or say so and exit temporary */
static void
out_of_memory(void)
{
	static const char msg[] = "fatal: out of memory\n";

	if (oom_handler != NULL)
		oom_handler();
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(FAIL_EXIT_TEMP);
}

/* alloc_set_oom_handler - run handler (which must not return) on OOM */
void
alloc_set_oom_handler(void (*handler)(void))
{
	oom_handler = handler;
}

/* alloc_malloc - malloc that never returns NULL */
void *
alloc_malloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		out_of_memory();
	return p;
}

/* alloc_calloc - zeroed allocation of n * size, overflow checked */
void *
alloc_calloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		out_of_memory();
	return p;
}

/* alloc_realloc - realloc that never returns NULL */
void *
alloc_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
		out_of_memory();
	return p;
}

/* alloc_reallocarray - realloc of n * size bytes, overflow checked */
void *
alloc_reallocarray(void *ptr, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		out_of_memory();
	return alloc_realloc(ptr, n * size);
}

/* alloc_strdup - copy of a NUL-terminated string */
char *
alloc_strdup(const char *s)
{
	return alloc_strndup(s, strlen(s));
}

/* alloc_strndup - copy of at most n bytes of s, NUL-terminated */
char *
alloc_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p;

	if (len == SIZE_MAX)
		out_of_memory();
	p = alloc_malloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
