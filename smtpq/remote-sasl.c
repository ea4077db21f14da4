/*
 * NAME
 *	remote-sasl - credentials for a smarthost, and AUTH PLAIN/LOGIN
 *
 * SYNOPSIS
 *	int sasl_find(const char *path, const char *host, unsigned port,
 *	    struct cred *c, const char **error_r);
 *	int sasl_plain(const struct cred *c, struct buf *out);
 *	int sasl_base64(const char *p, size_t n, struct buf *out);
 *
 * DESCRIPTION
 *	The credentials file (config key remote_credentials) holds lines
 *
 *	    HOST[:PORT] USERNAME PASSWORD...
 *
 *	HOST is the relayhost's or a transport entry's host exactly as
 *	configured (any case; an IPv6 address in brackets when a port
 *	follows), PASSWORD the rest of the line with the blanks around it
 *	removed. Blank lines and lines starting with '#' are skipped. A line
 *	with the same HOST and PORT wins over one with HOST alone.
 *	sasl_find() reads the file (at most 64 KB, opened without following
 *	a symbolic link) and refuses it when it is not a regular file or
 *	when others have any permission on it: a password file anyone can
 *	read is a mistake to stop at, not to use.
 *
 *	sasl_plain() appends the RFC 4616 initial response,
 *	base64("\0USERNAME\0PASSWORD"); sasl_base64() appends the base64
 *	form of n octets (RFC 4648, with padding), as AUTH LOGIN wants for
 *	each of its two answers.
 *
 * DIAGNOSTICS
 *	sasl_find: 1 found, 0 no line for this host, -1 with a static
 *	reason (cannot open or read, EPERM for a file others can read,
 *	EINVAL for a line that does not parse or is too long): the caller
 *	defers (4.3.5 / 4.7.x). sasl_plain, sasl_base64: 0, or -1/ENOBUFS.
 *
 * SECURITY
 *	Reads a secret: every copy of it in memory is wiped before it is
 *	freed, and it is never logged. remote runs as the queue's user, so
 *	the file must be readable by that user (mode 0600 owned by it, or
 *	0640 with its group).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "remote.h"
#include "str.h"

#define CRED_FILE_MAX	65536

/* read_file - the whole file into b, checked; 0, or -1 */
static int
read_file(const char *path, struct buf *b, const char **error_r)
{
	struct stat st;
	char tmp[4096];
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*error_r = "cannot open the credentials file";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		*error_r = "the credentials file is not a regular file";
		errno = EINVAL;
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IXOTH)) {
		(void)close(fd);
		*error_r = "the credentials file is open to others "
		    "(chmod o-rwx)";
		errno = EPERM;
		return -1;
	}
	for (;;) {
		r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf_append(b, tmp, (size_t)r) < 0) {
			r = -1;
			errno = EFBIG;
			break;
		}
	}
	explicit_bzero(tmp, sizeof(tmp));
	(void)close(fd);
	if (r < 0) {
		*error_r = errno == EFBIG ? "the credentials file is too big" :
		    "cannot read the credentials file";
		return -1;
	}
	return 0;
}

/* has_port - 1 if the key HOST[:PORT] names a port */
static int
has_port(const char *key, size_t n)
{
	const char *c;

	if (key[0] == '[') {
		c = memchr(key, ']', n);
		return c != NULL && c + 1 < key + n && c[1] == ':';
	}
	c = memchr(key, ':', n);
	if (c == NULL)
		return 0;
	/* One colon is HOST:PORT; more is a bare IPv6 address. */
	return memchr(c + 1, ':', (size_t)(key + n - c - 1)) == NULL;
}

/* key_matches - 1 exact HOST:PORT, 2 HOST alone, 0 no */
static int
key_matches(const char *key, size_t klen, const char *host, unsigned port)
{
	char h[DNS_NAME_MAX + 3];
	unsigned p;

	if (route_parse_hostport(key, klen, h, sizeof(h), &p) < 0 ||
	    !str_eq_nocase(h, host))
		return 0;
	if (!has_port(key, klen))
		return 2;
	return p == port ? 1 : 0;
}

/* field - the next blank-separated field at *p (before end) */
static int
field(const char **p, const char *end, const char **f, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	*f = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *f);
	return *n > 0;
}

/* sasl_find - the credentials for host:port; 1, 0 or -1 */
int
sasl_find(const char *path, const char *host, unsigned port, struct cred *c,
    const char **error_r)
{
	struct buf b = BUF_INIT(CRED_FILE_MAX);
	const char *p, *end, *nl, *k, *u, *pw, *pe;
	size_t kn, un;
	int m, best = 0, rc = -1;

	memset(c, 0, sizeof(*c));
	if (read_file(path, &b, error_r) < 0)
		goto out;
	p = b.data != NULL ? b.data : "";
	end = p + b.len;
	for (; p < end && best != 1; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (!field(&p, nl, &k, &kn) || k[0] == '#')
			continue;
		m = key_matches(k, kn, host, port);
		if (m == 0 || (best != 0 && m >= best))
			continue;
		pe = nl;
		if (pe > p && pe[-1] == '\r')
			pe--;
		if (!field(&p, pe, &u, &un)) {
			*error_r = "credentials line without a user name";
			errno = EINVAL;
			goto out;
		}
		while (p < pe && (*p == ' ' || *p == '\t'))
			p++;
		pw = p;
		while (pe > pw && (pe[-1] == ' ' || pe[-1] == '\t'))
			pe--;
		if (pe == pw ||
		    str_copy_n(c->user, sizeof(c->user), u, un) < 0 ||
		    str_copy_n(c->pass, sizeof(c->pass), pw,
		    (size_t)(pe - pw)) < 0) {
			*error_r = "credentials line without a password, or "
			    "too long";
			errno = EINVAL;
			goto out;
		}
		best = m;
	}
	rc = best != 0;
out:
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (rc <= 0)
		explicit_bzero(c, sizeof(*c));
	return rc;
}

/* sasl_base64 - append base64 of n octets at p */
int
sasl_base64(const char *p, size_t n, struct buf *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)p;
	char q[4];
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = abc[(v >> 18) & 63];
		q[1] = abc[(v >> 12) & 63];
		q[2] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? abc[v & 63] : '=';
		if (buf_append(out, q, 4) < 0)
			return -1;
	}
	return 0;
}

/* sasl_plain - append the AUTH PLAIN initial response */
int
sasl_plain(const struct cred *c, struct buf *out)
{
	struct buf raw = BUF_INIT(2 * REMOTE_CRED_MAX + 2);
	int r;

	r = buf_append_char(&raw, '\0');
	if (r == 0)
		r = buf_append_str(&raw, c->user);
	if (r == 0)
		r = buf_append_char(&raw, '\0');
	if (r == 0)
		r = buf_append_str(&raw, c->pass);
	if (r == 0)
		r = sasl_base64(raw.data, raw.len, out);
	if (raw.data != NULL)
		explicit_bzero(raw.data, raw.cap);
	buf_free(&raw);
	return r;
}
