/*
 * NAME
 *	buf - bounded growable byte buffers
 *
 * SYNOPSIS
 *	void buf_init(struct buf *b, size_t max);
 *	void buf_free(struct buf *b);
 *	void buf_reset(struct buf *b);
 *	int buf_reserve(struct buf *b, size_t extra);
 *	int buf_append(struct buf *b, const void *p, size_t n);
 *	int buf_append_str(struct buf *b, const char *s);
 *	int buf_append_char(struct buf *b, char c);
 *	int buf_printf(struct buf *b, const char *fmt, ...);
 *	int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
 *	int buf_set(struct buf *b, const void *p, size_t n);
 *	void buf_truncate(struct buf *b, size_t len);
 *	void buf_consume(struct buf *b, size_t n);
 *	const char *buf_cstr(const struct buf *b);
 *	int buf_has_nul(const struct buf *b);
 *
 * DESCRIPTION
 *	See buf.h. Capacity doubles as the buffer grows, so appending n bytes
 *	one at a time costs O(n) overall. buf_consume() drops bytes from the
 *	front (for input buffers); buf_truncate() drops them from the end.
 *
 * DIAGNOSTICS
 *	Functions that add bytes return 0, or -1 with errno ENOBUFS when the
 *	result would exceed max; the buffer is then unchanged (buf_printf
 *	included). ENOBUFS is the caller's "too long" case, which is usually
 *	a permanent failure of that input. Out of memory exits 111 through
 *	alloc(3).
 *
 * SECURITY
 *	Every size computation is checked against max before it is made, and
 *	max itself is below SIZE_MAX / 2, so no addition here can overflow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"

/* Largest max we accept: keeps cap * 2 and len + n + 1 far from overflow. */
#define BUF_MAX_LIMIT	(SIZE_MAX / 4)

/* buf_init - an empty buffer that may grow to max bytes */
void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max > BUF_MAX_LIMIT ? BUF_MAX_LIMIT : max;
}

/* buf_free - release the memory; the buffer may be used again */
void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* buf_reset - make the buffer empty, keeping its memory */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* buf_reserve - make room for extra more bytes; -1/ENOBUFS past max */
int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (b->max > BUF_MAX_LIMIT)
		b->max = BUF_MAX_LIMIT;
	if (extra > b->max - b->len) {
		errno = ENOBUFS;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1 && need <= b->max + 1)
		cap = b->max + 1;
	b->data = alloc_realloc(b->data, cap);
	b->cap = cap;
	return 0;
}

/* buf_append - add n bytes; -1/ENOBUFS (buffer unchanged) past max */
int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* buf_append_str - add a NUL-terminated string */
int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* buf_append_char - add one byte */
int
buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

/* buf_vprintf - add formatted text; -1/ENOBUFS (buffer unchanged) past max */
int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	/* UNSAFE: buf_reserve made room for n bytes and the NUL. */
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

/* buf_printf - add formatted text; -1/ENOBUFS (buffer unchanged) past max */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

/* buf_set - replace the contents with n bytes */
int
buf_set(struct buf *b, const void *p, size_t n)
{
	if (n > b->max) {
		errno = ENOBUFS;
		return -1;
	}
	buf_reset(b);
	return buf_append(b, p, n);
}

/* buf_truncate - keep only the first len bytes (no-op if already shorter) */
void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* buf_consume - drop the first n bytes (all of them if n >= len) */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* buf_cstr - the contents as a C string ("" for an unused buffer) */
const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

/* buf_has_nul - 1 if the contents hold a NUL byte (so buf_cstr lies) */
int
buf_has_nul(const struct buf *b)
{
	return b->len > 0 && memchr(b->data, '\0', b->len) != NULL;
}
