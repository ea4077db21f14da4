/*
 * NAME
 *	cidr - lists of IPv4 and IPv6 networks, and matching against them
 *
 * SYNOPSIS
 *	int cidr_parse(const char *text, struct cidr *c, struct buf *err);
 *	int cidr_list_parse(struct cidr_list *l, const char *text,
 *	    struct buf *err);
 *	void cidr_list_free(struct cidr_list *l);
 *	int cidr_contains(const struct cidr *c, int family, const void *addr);
 *	int cidr_match(const struct cidr_list *l, const struct sockaddr *sa);
 *	int cidr_format(const struct cidr *c, char *out, size_t size);
 *
 * DESCRIPTION
 *	cidr_parse() reads one network: ADDRESS/PREFIX or a bare ADDRESS
 *	(/32 or /128). Addresses are read with inet_pton(3), so IPv4 must be
 *	four dotted decimal parts ("1.2.3/8" is refused) and IPv6 must not
 *	carry a zone ("fe80::1%eth0" is refused). The prefix is decimal,
 *	0..32 or 0..128. Host bits set beyond the prefix are an error. A
 *	network inside ::ffff:0:0/96 with a prefix of 96 or more is stored
 *	as the IPv4 network it maps.
 *
 *	cidr_list_parse() appends every network of a list separated by
 *	spaces or tabs; an empty list is valid. cidr_list_free() empties it.
 *
 *	cidr_contains() says whether one address (4 or 16 bytes, by family)
 *	lies in one network. cidr_match() says whether a socket address lies
 *	in any network of a list; an IPv4-mapped IPv6 address is compared as
 *	IPv4, and addresses only match networks of their own family.
 *
 *	cidr_format() writes a network back as text, ADDRESS/PREFIX.
 *
 * DIAGNOSTICS
 *	cidr_parse, cidr_list_parse: 0, or -1 with errno EINVAL and a reason
 *	in err ("bad prefix length '33' in '10.0.0.0/33' (0-32)"): a
 *	permanent error in the configuration. On failure cidr_list_parse
 *	leaves the list as it was. cidr_match, cidr_contains: 1 or 0; they
 *	cannot fail. cidr_format: 0, or -1/ENAMETOOLONG.
 *
 * SECURITY
 *	No privileges. The text is the operator's configuration; the socket
 *	address comes from accept(2) and is checked for its family and
 *	length before use.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "cidr.h"
#include "str.h"

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* seterr - put a formatted reason in err (if any) and fail with EINVAL */
static int __attribute__((format(printf, 2, 3)))
seterr(struct buf *err, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		buf_reset(err);
		va_start(ap, fmt);
		(void)buf_vprintf(err, fmt, ap);
		va_end(ap);
	}
	errno = EINVAL;
	return -1;
}

/* addr_len - bytes in an address of this family */
static size_t
addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* host_bits_set - 1 if addr has a bit set beyond the first prefix bits */
static int
host_bits_set(const unsigned char *addr, size_t len, unsigned prefix)
{
	size_t i;

	for (i = prefix / 8; i < len; i++) {
		unsigned char mask = 0xff;

		if (i == prefix / 8)
			mask = (unsigned char)(0xff >> (prefix % 8));
		if ((addr[i] & mask) != 0)
			return 1;
	}
	return 0;
}

/* clear_host_bits - zero every bit of addr beyond the first prefix bits */
static void
clear_host_bits(unsigned char *addr, size_t len, unsigned prefix)
{
	size_t i;

	for (i = prefix / 8; i < len; i++) {
		if (i == prefix / 8)
			addr[i] &= (unsigned char)~(0xff >> (prefix % 8));
		else
			addr[i] = 0;
	}
}

/* cidr_parse - one network, ADDRESS/PREFIX or a bare ADDRESS */
int
cidr_parse(const char *text, struct cidr *c, struct buf *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hlen;
	uint64_t prefix;
	unsigned maxp;
	struct cidr n;

	memset(&n, 0, sizeof(n));
	slash = strchr(text, '/');
	hlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (hlen == 0)
		return seterr(err, "missing address in '%s'", text);
	if (str_copy_n(host, sizeof(host), text, hlen) < 0)
		return seterr(err, "bad address in '%s'", text);
	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, n.addr) != 1)
			return seterr(err, "bad IPv6 address in '%s'", text);
		n.family = AF_INET6;
		maxp = 128;
	} else {
		if (inet_pton(AF_INET, host, n.addr) != 1)
			return seterr(err, "bad IPv4 address in '%s'", text);
		n.family = AF_INET;
		maxp = 32;
	}
	if (slash == NULL)
		prefix = maxp;
	else if (str_parse_u64(slash + 1, strlen(slash + 1), maxp,
	    &prefix) < 0) {
		return seterr(err, "bad prefix length '%s' in '%s' (0-%u)",
		    slash + 1, text, maxp);
	}
	n.prefix = (unsigned)prefix;
	if (host_bits_set(n.addr, addr_len(n.family), n.prefix)) {
		char hint[CIDR_TEXT_MAX];

		clear_host_bits(n.addr, addr_len(n.family), n.prefix);
		if (cidr_format(&n, hint, sizeof(hint)) < 0)
			hint[0] = '\0';
		return seterr(err, "host bits set in '%s' (network is %s)",
		    text, hint);
	}
	if (n.family == AF_INET6 && n.prefix >= 96 &&
	    memcmp(n.addr, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(n.addr, n.addr + 12, 4);
		memset(n.addr + 4, 0, 12);
		n.family = AF_INET;
		n.prefix -= 96;
	}
	*c = n;
	return 0;
}

/* cidr_list_parse - append every network of a blank-separated list */
int
cidr_list_parse(struct cidr_list *l, const char *text, struct buf *err)
{
	char *copy, *p;
	struct cidr *v = NULL;
	size_t n = 0;

	copy = alloc_strdup(text);
	p = copy;
	for (;;) {
		char *word;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		word = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
		v = alloc_reallocarray(v, n + 1, sizeof(*v));
		if (cidr_parse(word, &v[n], err) < 0) {
			free(v);
			free(copy);
			errno = EINVAL;
			return -1;
		}
		n++;
	}
	free(copy);
	if (n > 0) {
		l->v = alloc_reallocarray(l->v, l->n + n, sizeof(*l->v));
		memcpy(l->v + l->n, v, n * sizeof(*v));
		l->n += n;
	}
	free(v);
	return 0;
}

/* cidr_list_free - release the list and leave it empty */
void
cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* cidr_contains - 1 if the address (4 or 16 bytes, by family) is in c */
int
cidr_contains(const struct cidr *c, int family, const void *addr)
{
	const unsigned char *a = addr;
	unsigned whole = c->prefix / 8, rest = c->prefix % 8;

	if (family != c->family)
		return 0;
	if (memcmp(a, c->addr, whole) != 0)
		return 0;
	if (rest != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));

		if ((a[whole] & mask) != c->addr[whole])
			return 0;
	}
	return 1;
}

/* cidr_match - 1 if the socket address is in any network of the list */
int
cidr_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;
	size_t i;

	if (l == NULL || sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		memcpy(addr, &sin.sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(addr, &sin6.sin6_addr, 16);
		family = AF_INET6;
		if (memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else
		return 0;
	for (i = 0; i < l->n; i++)
		if (cidr_contains(&l->v[i], family, addr))
			return 1;
	return 0;
}

/* cidr_format - the network as ADDRESS/PREFIX text in out[size] */
int
cidr_format(const struct cidr *c, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (inet_ntop(c->family, c->addr, host, sizeof(host)) == NULL)
		return -1;
	n = snprintf(out, size, "%s/%u", host, c->prefix);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
