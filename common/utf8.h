/*
 * NAME
 *	utf8.h - UTF-8 validation
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

int utf8_valid(const void *p, size_t len);
int utf8_is_ascii(const void *p, size_t len);

#endif
