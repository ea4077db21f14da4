/*
 * NAME
 *	buf.h - bounded growable byte buffers
 *
 * DESCRIPTION
 *	A struct buf holds len bytes at data, which may include NUL bytes,
 *	and is always followed by one NUL byte that is not counted, so that
 *	buf_cstr() can hand text to functions that want a C string. It grows
 *	as needed up to max bytes and then fails with ENOBUFS: it never
 *	overflows and never truncates silently. A buf that has never been
 *	written to holds no memory; buf_free() releases it.
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;		/* len bytes, then a NUL; NULL until first use */
	size_t len;		/* bytes in use */
	size_t cap;		/* bytes allocated (including the NUL) */
	size_t max;		/* hard limit on len */
};

#define BUF_INIT(limit) { NULL, 0, 0, (limit) }

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int buf_set(struct buf *b, const void *p, size_t n);
void buf_truncate(struct buf *b, size_t len);
void buf_consume(struct buf *b, size_t n);
const char *buf_cstr(const struct buf *b);
int buf_has_nul(const struct buf *b);

#endif
