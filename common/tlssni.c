/*
 * NAME
 *	tlssni - the tls_sni table: which certificate for which name
 *
 * SYNOPSIS
 *	int tlssni_load(const char *path, struct tlssni_table *t,
 *	    struct buf *err);
 *	void tlssni_free(struct tlssni_table *t);
 *	int tlssni_match(const struct tlssni_table *t, const char *name);
 *
 * DESCRIPTION
 *	The table that the tls_sni key of mailstack.conf(5) names is text,
 *	one entry a line:
 *
 *	    NAME CERT KEY
 *
 *	NAME is a host name ("mail.example.test"), or a name with a leading
 *	dot (".example.test") that stands for every name below it, at any
 *	depth, but not for the name itself. Names are DNS names as in
 *	mailstack.conf(5) (labels of letters, digits and '-', at most
 *	TLSSNI_NAME_MAX octets, no trailing dot), compared without regard
 *	to ASCII case, and each is given once. CERT is a PEM certificate
 *	chain, leaf first, and KEY its PEM private key; a relative path is
 *	taken from the folder of the table. Fields are separated by blanks
 *	(spaces, tabs); a line whose first non-blank octet is '#' is a
 *	comment, blank lines are ignored, a CR before the LF is dropped. A
 *	line is at most TLSSNI_LINE_MAX octets, the file at most
 *	TLSSNI_FILE_MAX, with at most TLSSNI_ENTRIES_MAX entries.
 *
 *	tlssni_load() reads the whole table into t (cleared first), or
 *	leaves t empty on failure; it does not open the certificates (tls.c
 *	does, and mailctl check). tlssni_free() releases t and may be called
 *	twice. tlssni_match() returns the index in t->v of the entry for the
 *	server name a client asked for: an exact NAME first, else the
 *	longest ".suffix" the name ends with; -1 when none fits (the caller
 *	then uses its default certificate). A trailing dot on the name is
 *	ignored.
 *
 * DIAGNOSTICS
 *	tlssni_load: 0, or -1 with errno and one line in err that starts
 *	with the file name: the errno of open(2) or read(2) for a table that
 *	cannot be read ("FILE: cannot open: REASON"; temporary), EFBIG for
 *	a file over TLSSNI_FILE_MAX, EINVAL for bad content, with the line:
 *
 *	    FILE:LINE: expected 'NAME CERT KEY'
 *	    FILE:LINE: bad name 'foo_bar'
 *	    FILE:LINE: name 'a.test' given twice (first on line 2)
 *
 *	(permanent until the table is fixed).
 *
 * SECURITY
 *	No privileges. The table is trusted configuration, but it is read
 *	with bounds everywhere; names from clients reach tlssni_match()
 *	only, which copies at most TLSSNI_NAME_MAX + 1 octets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "str.h"
#include "tlssni.h"

/* State of one tlssni_load(). */
struct loader {
	struct tlssni_table *t;
	const char *path;
	struct buf *err;
	size_t dirlen;		/* octets of path up to its last '/', or 0 */
};

/* fail - "FILE:LINE: ..." (or "FILE: ..." for line 0) in err; EINVAL */
static int __attribute__((format(printf, 3, 4)))
fail(struct loader *ld, unsigned long line, const char *fmt, ...)
{
	va_list ap;

	if (ld->err != NULL) {
		buf_reset(ld->err);
		if (line > 0)
			(void)buf_printf(ld->err, "%s:%lu: ", ld->path, line);
		else
			(void)buf_printf(ld->err, "%s: ", ld->path);
		va_start(ap, fmt);
		(void)buf_vprintf(ld->err, fmt, ap);
		va_end(ap);
	}
	errno = EINVAL;
	return -1;
}

/* read_table - the whole file into data; -1 with errno and err set */
static int
read_table(struct loader *ld, struct buf *data)
{
	char chunk[8192];
	ssize_t n;
	int fd, e;

	fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		(void)fail(ld, 0, "cannot open: %s", strerror(e));
		errno = e;
		return -1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			(void)close(fd);
			(void)fail(ld, 0, "cannot read: %s", strerror(e));
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		if (buf_append(data, chunk, (size_t)n) < 0) {
			(void)close(fd);
			(void)fail(ld, 0, "file larger than %d octets",
			    TLSSNI_FILE_MAX);
			errno = EFBIG;
			return -1;
		}
	}
	(void)close(fd);
	return 0;
}

/* valid_name - 1 for a DNS name as in the header (the dot stripped) */
static int
valid_name(const char *s)
{
	size_t i, label = 0, total = strlen(s);
	int digits_only = 1;
	char prev = '.';

	if (total == 0 || total > TLSSNI_NAME_MAX)
		return 0;
	for (i = 0; i < total; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
			digits_only = 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			if ((c == '-' && label == 0) || ++label > 63)
				return 0;
			if (c < '0' || c > '9')
				digits_only = 0;
		} else
			return 0;
		prev = c;
	}
	return label > 0 && prev != '-' && !digits_only;
}

/* in_dir - a path from the table: absolute as is, else in its folder */
static char *
in_dir(const struct loader *ld, const char *p)
{
	struct buf b = BUF_INIT(TLSSNI_LINE_MAX + 4096);

	if (p[0] == '/' || ld->dirlen == 0)
		return alloc_strdup(p);
	if (buf_append(&b, ld->path, ld->dirlen) < 0 ||
	    buf_append_str(&b, p) < 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data;		/* buf's storage, NUL-terminated */
}

/* parse_line - one line of the table; 0 or -1 with err set */
static int
parse_line(struct loader *ld, char *s, size_t len, unsigned long lineno)
{
	struct tlssni_table *t = ld->t;
	struct tlssni_entry *e;
	char *f[3];
	const char *name;
	size_t i;
	int n;

	if (len > TLSSNI_LINE_MAX)
		return fail(ld, lineno, "line longer than %d octets",
		    TLSSNI_LINE_MAX);
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if (memchr(s, '\0', len) != NULL)
		return fail(ld, lineno, "NUL octet in the line");
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return fail(ld, lineno, "control octet in the line");
	s = str_trim(s);
	if (*s == '\0' || *s == '#')
		return 0;
	n = str_split_ws(s, f, 3);
	if (n != 3)
		return fail(ld, lineno, "expected 'NAME CERT KEY'");
	name = f[0][0] == '.' ? f[0] + 1 : f[0];
	if (!valid_name(name))
		return fail(ld, lineno, "bad name '%.*s'", 300, f[0]);
	str_lower(f[0]);
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, f[0]) == 0)
			return fail(ld, lineno, "name '%s' given twice (first "
			    "on line %lu)", f[0], t->v[i].line);
	if (t->n >= TLSSNI_ENTRIES_MAX)
		return fail(ld, lineno, "more than %d entries",
		    TLSSNI_ENTRIES_MAX);
	t->v = alloc_reallocarray(t->v, t->n + 1, sizeof(*t->v));
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	e->line = lineno;
	e->name = alloc_strdup(f[0]);
	t->n++;
	e->cert = in_dir(ld, f[1]);
	e->key = in_dir(ld, f[2]);
	if (e->cert == NULL || e->key == NULL)
		return fail(ld, lineno, "path too long");
	return 0;
}

/* tlssni_load - read the table at path into t */
int
tlssni_load(const char *path, struct tlssni_table *t, struct buf *err)
{
	struct loader ld;
	struct buf data = BUF_INIT(TLSSNI_FILE_MAX);
	const char *slash;
	unsigned long lineno = 0;
	char *p, *end;
	int e;

	memset(t, 0, sizeof(*t));
	memset(&ld, 0, sizeof(ld));
	ld.t = t;
	ld.path = path;
	ld.err = err;
	slash = strrchr(path, '/');
	ld.dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	t->path = alloc_strdup(path);
	if (read_table(&ld, &data) < 0)
		goto bad;
	p = data.len > 0 ? data.data : NULL;
	end = data.len > 0 ? data.data + data.len : NULL;
	while (p != NULL && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		lineno++;
		p[len] = '\0';	/* the LF, or the buf's own NUL */
		if (parse_line(&ld, p, len, lineno) < 0)
			goto bad;
		p += len + 1;
	}
	buf_free(&data);
	return 0;
bad:
	e = errno;
	buf_free(&data);
	tlssni_free(t);
	errno = e;
	return -1;
}

/* tlssni_free - release the table and clear it */
void
tlssni_free(struct tlssni_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].cert);
		free(t->v[i].key);
	}
	free(t->v);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

/* tlssni_match - the entry for a client's server name, or -1 */
int
tlssni_match(const struct tlssni_table *t, const char *name)
{
	char host[TLSSNI_NAME_MAX + 2];
	size_t i, len, nlen, best_len = 0;
	int best = -1;

	if (name == NULL || str_copy(host, sizeof(host), name) < 0)
		return -1;
	len = strlen(host);
	if (len > 0 && host[len - 1] == '.')
		host[--len] = '\0';
	if (len == 0)
		return -1;
	for (i = 0; i < t->n; i++)
		if (str_eq_nocase(t->v[i].name, host))
			return (int)i;
	for (i = 0; i < t->n; i++) {
		const char *n = t->v[i].name;

		nlen = strlen(n);
		if (n[0] != '.' || nlen >= len || nlen <= best_len)
			continue;
		/* ".b.test" fits "a.b.test": the name ends with it. */
		if (str_eq_nocase(host + (len - nlen), n)) {
			best = (int)i;
			best_len = nlen;
		}
	}
	return best;
}
