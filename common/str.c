/*
 * NAME
 *	str - bounded string helpers
 *
 * SYNOPSIS
 *	int str_copy(char *dst, size_t size, const char *src);
 *	int str_copy_n(char *dst, size_t size, const char *src, size_t n);
 *	int str_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r);
 *	int str_eq_nocase(const char *a, const char *b);
 *	int str_eq_nocase_n(const char *a, const char *b, size_t n);
 *	int str_has_prefix_nocase(const char *s, const char *prefix);
 *	void str_lower(char *s);
 *	char *str_trim(char *s);
 *	int str_split_ws(char *s, char **fields, int max);
 *
 * DESCRIPTION
 *	str_copy() and str_copy_n() copy into a fixed array and fail rather
 *	than truncate. str_parse_u64() reads exactly len decimal digits, with
 *	no sign, no space and no leading "+", and refuses values above max:
 *	the replacement for atoi() and strtoul() on untrusted input.
 *	The case-insensitive functions fold ASCII only, never by locale, so
 *	"I" and "i" compare equal in every locale and no non-ASCII byte ever
 *	folds onto an ASCII one. str_trim() strips spaces and tabs at both
 *	ends, in place. str_split_ws() splits at runs of spaces and tabs, in
 *	place, into at most max fields.
 *
 * DIAGNOSTICS
 *	str_copy, str_copy_n: 0, or -1/ENAMETOOLONG (dst holds "") when the
 *	source does not fit. str_parse_u64: 0, or -1/EINVAL for a malformed
 *	number, -1/ERANGE above max. str_split_ws: the number of fields, or
 *	-1/E2BIG when there are more than max.
 *
 * SECURITY
 *	No privileges. Meant for untrusted input; every length is explicit.
 */
#include <errno.h>
#include <string.h>

#include "str.h"

/* str_copy - copy src into dst[size]; -1/ENAMETOOLONG if it would not fit */
int
str_copy(char *dst, size_t size, const char *src)
{
	return str_copy_n(dst, size, src, strlen(src));
}

/* str_copy_n - copy n bytes of src into dst[size] with a NUL; fail, never truncate */
int
str_copy_n(char *dst, size_t size, const char *src, size_t n)
{
	if (size == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (n >= size) {
		dst[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* str_parse_u64 - len decimal digits to a number no larger than max */
int
str_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9') {
			errno = EINVAL;
			return -1;
		}
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + d;
	}
	*val_r = v;
	return 0;
}

/* lower - ASCII lower case of one byte */
static int
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* str_eq_nocase - 1 if a and b are equal ignoring ASCII case */
int
str_eq_nocase(const char *a, const char *b)
{
	while (*a != '\0' && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

/* str_eq_nocase_n - 1 if the first n bytes of a and b match ignoring ASCII case */
int
str_eq_nocase_n(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
		if (a[i] == '\0')
			return 1;
	}
	return 1;
}

/* str_has_prefix_nocase - 1 if s starts with prefix ignoring ASCII case */
int
str_has_prefix_nocase(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strnlen(s, n) == n && str_eq_nocase_n(s, prefix, n);
}

/* str_lower - fold ASCII upper case to lower case in place */
void
str_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)lower((unsigned char)*s);
}

/* str_trim - strip spaces and tabs at both ends, in place */
char *
str_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* str_split_ws - split s at runs of blanks into at most max fields */
int
str_split_ws(char *s, char **fields, int max)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (*s == '\0')
			return n;
		if (n == max) {
			errno = E2BIG;
			return -1;
		}
		fields[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
	}
}
