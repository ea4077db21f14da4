/*
 * NAME
 *	cidr.h - lists of IPv4 and IPv6 networks, and matching against them
 *
 * DESCRIPTION
 *	A network is written ADDRESS/PREFIX (192.0.2.0/24, 2001:db8::/32) or
 *	as a bare ADDRESS, which means /32 for IPv4 and /128 for IPv6. Bits
 *	set beyond the prefix are an error (192.0.2.1/24 is refused, with a
 *	hint naming 192.0.2.0/24), since they usually mean a typing mistake.
 *	An IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) is stored as the
 *	IPv4 network it names (10.0.0.0/8).
 *
 *	cidr_match() turns an IPv4-mapped IPv6 peer (::ffff:127.0.0.1, as
 *	seen on a dual-stack socket) into its IPv4 address first, then
 *	compares it only with networks of the same family: an IPv4 peer
 *	never matches an IPv6 network such as ::/0.
 */
#ifndef CIDR_H
#define CIDR_H

#include <sys/socket.h>

#include <stddef.h>

#include "buf.h"

/* Longest text cidr_format() writes, with the NUL ("ffff:...:ffff/128"). */
#define CIDR_TEXT_MAX	(46 + 4)

struct cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* host bits zero; IPv4: first 4 */
	unsigned prefix;		/* 0..32 or 0..128 */
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

#define CIDR_LIST_INIT { NULL, 0 }

int cidr_parse(const char *text, struct cidr *c, struct buf *err);
int cidr_list_parse(struct cidr_list *l, const char *text, struct buf *err);
void cidr_list_free(struct cidr_list *l);
int cidr_contains(const struct cidr *c, int family, const void *addr);
int cidr_match(const struct cidr_list *l, const struct sockaddr *sa);
int cidr_format(const struct cidr *c, char *out, size_t size);

#endif
