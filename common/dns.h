/*
 * NAME
 *	dns.h - MX and address lookups with c-ares, and the answers' parser
 *
 * DESCRIPTION
 *	dns_open() makes a c-ares channel (the system's resolvers, or the
 *	ones given: the config's dns_servers); dns_run() sends any number of
 *	queries at once and waits for all of them, within a time limit.
 *	Each answer is parsed here, from the raw message, by
 *	dns_parse_answer(): a record that does not parse (an MX whose data
 *	is one octet, a name that runs past its data, a non-hostname
 *	target) is skipped and counted, never fatal, and a CNAME chain is
 *	followed inside the answer up to DNS_CNAME_MAX links (SECURITY.md
 *	R3). dns_mx_order() sorts MX records by preference and shuffles
 *	the ones of equal preference (RFC 5321 5.1).
 *
 *	Status of one query: DNS_OK (records of the type asked for),
 *	DNS_NODATA (the name exists, no such records), DNS_NXDOMAIN (no such
 *	name: permanent), DNS_BADNAME (not a name DNS can carry: permanent),
 *	DNS_TEMP (timeout, SERVFAIL, REFUSED, no reply, an answer that does
 *	not parse, a CNAME loop: try again later).
 */
#ifndef DNS_H
#define DNS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DNS_NAME_MAX	253	/* octets of a name's text, no final dot */
#define DNS_MX_MAX	32	/* MX records kept from one answer */
#define DNS_ADDR_MAX	32	/* addresses kept from one answer */
#define DNS_CNAME_MAX	8	/* CNAME links followed in one answer */
#define DNS_RR_MAX	256	/* answer records looked at in one message */

#define DNS_TYPE_A	1
#define DNS_TYPE_CNAME	5
#define DNS_TYPE_MX	15
#define DNS_TYPE_AAAA	28

enum dns_status {
	DNS_OK = 0,
	DNS_NODATA,
	DNS_NXDOMAIN,
	DNS_BADNAME,
	DNS_TEMP,
};

struct dns_mx {
	unsigned pref;			/* 0..65535 */
	char host[DNS_NAME_MAX + 1];	/* lower case; "": the root (null MX) */
};

struct dns_addr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char a[16];		/* 4 or 16 octets, network order */
};

struct dns_answer {
	char name[DNS_NAME_MAX + 1];	/* the records' owner, after CNAMEs */
	struct dns_mx mx[DNS_MX_MAX];
	size_t n_mx;
	struct dns_addr addr[DNS_ADDR_MAX];
	size_t n_addr;
	size_t malformed;		/* records skipped as malformed */
	size_t cnames;			/* CNAME links followed */
	int cname_loop;			/* the chain went past DNS_CNAME_MAX */
};

struct dns_query {
	const char *name;		/* in: the name, no final dot needed */
	int type;			/* in: DNS_TYPE_MX, _A or _AAAA */
	enum dns_status status;		/* out */
	const char *error;		/* out: a static reason, or NULL */
	struct dns_answer *ans;		/* out: DNS_OK and DNS_NODATA; free() */
};

struct dns;

struct dns *dns_open(const struct config_servers *servers, int timeout_ms,
    int tries, const char **error_r);
void dns_close(struct dns *d);
int dns_run(struct dns *d, struct dns_query *q, size_t n, int limit_ms);
void dns_query_clear(struct dns_query *q);

int dns_parse_answer(const unsigned char *msg, size_t len, const char *qname,
    int qtype, struct dns_answer *ans, const char **error_r);
void dns_mx_order(struct dns_mx *mx, size_t n,
    uint32_t (*rnd)(uint32_t bound));
int dns_is_hostname(const char *name);
int dns_name_eq(const char *a, const char *b);
int dns_addr_format(const struct dns_addr *a, char *out, size_t size);

#endif
