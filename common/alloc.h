/*
 * NAME
 *	alloc.h - memory allocation that never returns NULL
 */
#ifndef ALLOC_H
#define ALLOC_H

#include <stddef.h>

void *alloc_malloc(size_t size);
void *alloc_calloc(size_t n, size_t size);
void *alloc_realloc(void *ptr, size_t size);
void *alloc_reallocarray(void *ptr, size_t n, size_t size);
char *alloc_strdup(const char *s);
char *alloc_strndup(const char *s, size_t n);
void alloc_set_oom_handler(void (*handler)(void));

#endif
