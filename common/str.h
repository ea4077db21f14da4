/*
 * NAME
 *	str.h - bounded string helpers
 */
#ifndef STR_H
#define STR_H

#include <stddef.h>
#include <stdint.h>

int str_copy(char *dst, size_t size, const char *src);
int str_copy_n(char *dst, size_t size, const char *src, size_t n);
int str_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r);
int str_eq_nocase(const char *a, const char *b);
int str_eq_nocase_n(const char *a, const char *b, size_t n);
int str_has_prefix_nocase(const char *s, const char *prefix);
void str_lower(char *s);
char *str_trim(char *s);
int str_split_ws(char *s, char **fields, int max);

#endif
