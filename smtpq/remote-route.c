/*
 * NAME
 *	remote-route - where remote(8) connects: transport, relayhost, MX
 *
 * SYNOPSIS
 *	void route_find(struct job *j, struct route *r);
 *	int route_parse_hostport(const char *s, size_t len, char *host,
 *	    size_t hostsize, unsigned *port_r);
 *	int route_is_self(const struct config *cfg, const struct target *t);
 *	void route_order_addrs(struct target *t);
 *	int route_table_open(const struct config *cfg, const char *text,
 *	    const char *name, struct table **t_r, const char **error_r);
 *	int route_table_lookup(struct table *t, const char *domain,
 *	    struct buf *value);
 *
 * DESCRIPTION
 *	route_find() turns the job's recipient domain into a list of hosts,
 *	each with its addresses, to try in order. The first rule that
 *	applies wins:
 *
 *	 1. the transport table (config "transport", text lines
 *	    "DOMAIN HOST[:PORT]", compiled to STATE_DIR/tables/transport.cdb
 *	    whenever the text is newer, like the users table): the domain,
 *	    then ".PARENT" for each parent domain ("a.b.example" looks up
 *	    "a.b.example", ".b.example", ".example"). HOST is a name, an
 *	    IPv4 address, or an address in brackets ([192.0.2.1],
 *	    [2001:db8::1]); PORT defaults to 25. No MX lookup is made: a
 *	    name is looked up for A and AAAA records.
 *	 2. the relayhost (config "relayhost"), the same way.
 *	 3. an address literal domain ("user@[192.0.2.1]",
 *	    "user@[IPv6:2001:db8::1]"): that address, port 25.
 *	 4. the domain's MX records (RFC 5321 5.1), sorted by preference,
 *	    equal preferences shuffled (dns_mx_order), at most
 *	    REMOTE_HOSTS_MAX of them; a null MX ("MX 0 .", RFC 7505) alone
 *	    is a permanent 5.1.10; MX records that did not parse are skipped
 *	    (and when every one of them was bad the result is a temporary
 *	    4.4.4: falling back to the domain's address would be wrong
 *	    while MX records exist). No MX at all: the domain itself, with
 *	    its A and AAAA records, is the one host (implicit MX). CNAMEs
 *	    are followed for the MX query and for every address query.
 *
 *	All address queries (A and AAAA for every host) go out at once.
 *	Each host's addresses are tried IPv6 first, then IPv4, each family
 *	in the order DNS gave (route_order_addrs). For MX and implicit MX
 *	routes, route_is_self() finds hosts that are this very server: the
 *	config's hostname, or an address one of our listeners is bound to
 *	(every address of the machine, getifaddrs(3), for a listener on
 *	0.0.0.0 or [::]; an IPv4-mapped IPv6 address counts as the IPv4
 *	address). As RFC 5321 5.1 says, every MX host with a preference
 *	equal to or higher than ours is dropped; when none is left (or the
 *	implicit MX or literal is ourselves) the result is the permanent
 *	5.4.6 "mail loops back to myself" (SECURITY.md R3). Transport and
 *	relayhost routes are the operator's explicit choice and are not
 *	checked.
 *
 *	Failures (r->fail, r->fail_text): DNS timeout, SERVFAIL or any
 *	other temporary DNS failure 4.4.3; NXDOMAIN or a bad name for the
 *	domain 5.1.2; a domain with neither MX nor address 5.4.4 (the same
 *	when every MX host has no address, 4.4.3 when some lookup failed
 *	temporarily); anything that goes wrong with a transport entry or
 *	the relayhost (unreadable table 4.3.0, bad entry 4.3.5, host not
 *	found 4.4.3) is temporary, since only the operator can fix it.
 *
 *	route_table_open() opens a table named by a config key (NULL: no
 *	table, *t_r NULL) as STATE_DIR/tables/NAME.cdb, compiling it first
 *	when the text is newer or the cdb missing (userdb_compile); when the
 *	text does not exist and was never compiled the table is empty.
 *	route_table_lookup() looks a domain up, then its parents as above.
 *
 * DIAGNOSTICS
 *	route_find never fails as such: it fills r->fail. route_parse_hostport:
 *	0, or -1/EINVAL. route_table_open: 0, or -1 with a static reason
 *	(temporary). route_table_lookup: 1, 0 not found, -1 error.
 *
 * SECURITY
 *	No privileges. The domain comes from the envelope (checked by
 *	envelope_decode); DNS answers are parsed by dns.c, bounded.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "config.h"
#include "dns.h"
#include "log.h"
#include "remote.h"
#include "str.h"
#include "table.h"
#include "userdb.h"

#define DNS_TRIES	2

/* route_parse_hostport - HOST[:PORT], [HOST][:PORT] or a bare IPv6 */
int
route_parse_hostport(const char *s, size_t len, char *host, size_t hostsize,
    unsigned *port_r)
{
	const char *hend, *colon;
	size_t hlen;
	uint64_t port = 25;
	unsigned char a[16];

	if (len == 0)
		goto bad;
	if (s[0] == '[') {
		hend = memchr(s, ']', len);
		if (hend == NULL)
			goto bad;
		if (str_copy_n(host, hostsize, s + 1,
		    (size_t)(hend - s - 1)) < 0)
			goto bad;
		hend++;
		if (hend < s + len) {
			if (*hend != ':' || str_parse_u64(hend + 1,
			    (size_t)(s + len - hend - 1), 65535, &port) < 0 ||
			    port == 0)
				goto bad;
		}
		if (inet_pton(AF_INET, host, a) != 1 &&
		    inet_pton(AF_INET6, host, a) != 1 && !dns_is_hostname(host))
			goto bad;
		*port_r = (unsigned)port;
		return 0;
	}
	colon = memchr(s, ':', len);
	if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + len -
	    colon - 1)) != NULL) {
		/* Two colons: a bare IPv6 address, no port. */
		if (str_copy_n(host, hostsize, s, len) < 0 ||
		    inet_pton(AF_INET6, host, a) != 1)
			goto bad;
		*port_r = 25;
		return 0;
	}
	hlen = colon != NULL ? (size_t)(colon - s) : len;
	if (str_copy_n(host, hostsize, s, hlen) < 0)
		goto bad;
	if (colon != NULL && (str_parse_u64(colon + 1, (size_t)(s + len -
	    colon - 1), 65535, &port) < 0 || port == 0))
		goto bad;
	if (inet_pton(AF_INET, host, a) != 1 && !dns_is_hostname(host))
		goto bad;
	*port_r = (unsigned)port;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* stale - 1 if text exists and cdb is missing or older */
static int
stale(const char *text, const char *cdb, int *text_exists_r)
{
	struct stat ts, cs;

	*text_exists_r = stat(text, &ts) == 0;
	if (!*text_exists_r)
		return 0;
	if (stat(cdb, &cs) < 0)
		return 1;
	if (cs.st_mtim.tv_sec != ts.st_mtim.tv_sec)
		return cs.st_mtim.tv_sec < ts.st_mtim.tv_sec;
	return cs.st_mtim.tv_nsec < ts.st_mtim.tv_nsec;
}

/* route_table_open - a table by config key text, compiled when stale */
int
route_table_open(const struct config *cfg, const char *text,
    const char *name, struct table **t_r, const char **error_r)
{
	struct buf cdb = BUF_INIT(4096), err = BUF_INIT(1024);
	int exists, rc = 0;

	*t_r = NULL;
	if (text == NULL)
		return 0;
	if (buf_printf(&cdb, "%s/tables/%s.cdb", cfg->state_dir, name) < 0) {
		*error_r = "table path too long";
		buf_free(&cdb);
		return -1;
	}
	if (stale(text, buf_cstr(&cdb), &exists) &&
	    userdb_compile(text, buf_cstr(&cdb), &err) < 0)
		log_event(LOG_WARNING, "event=table-compile-failed table=%s "
		    "error=\"%s\"", name, errno == EINVAL ?
		    "the text has errors (see mailctl check)" :
		    strerror(errno));
	*t_r = table_open(buf_cstr(&cdb), error_r);
	if (*t_r == NULL && !(errno == ENOENT && !exists))
		rc = -1;
	buf_free(&cdb);
	buf_free(&err);
	return rc;
}

/* route_table_lookup - domain, then ".parent" for each parent */
int
route_table_lookup(struct table *t, const char *domain, struct buf *value)
{
	const char *p;
	int r;

	if (t == NULL)
		return 0;
	r = table_lookup(t, domain, strlen(domain), value);
	if (r != 0)
		return r;
	for (p = strchr(domain, '.'); p != NULL; p = strchr(p + 1, '.')) {
		r = table_lookup(t, p, strlen(p), value);
		if (r != 0)
			return r;
	}
	return 0;
}

/* route_order_addrs - IPv6 addresses first, each family in DNS order */
void
route_order_addrs(struct target *t)
{
	struct dns_addr tmp[REMOTE_ADDRS_MAX];
	size_t i, k = 0;

	for (i = 0; i < t->n_addr; i++)
		if (t->addr[i].family == AF_INET6)
			tmp[k++] = t->addr[i];
	for (i = 0; i < t->n_addr; i++)
		if (t->addr[i].family != AF_INET6)
			tmp[k++] = t->addr[i];
	memcpy(t->addr, tmp, k * sizeof(tmp[0]));
}

/* normalise - an IPv4-mapped IPv6 address as IPv4, into out */
static void
normalise(const struct dns_addr *a, struct dns_addr *out)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };

	*out = *a;
	if (a->family == AF_INET6 && memcmp(a->a, mapped, 12) == 0) {
		out->family = AF_INET;
		memmove(out->a, a->a + 12, 4);
		memset(out->a + 4, 0, 12);
	}
}

/* from_sockaddr - a struct dns_addr from a socket address; 0 or -1 */
static int
from_sockaddr(const struct sockaddr *sa, struct dns_addr *out)
{
	struct dns_addr a;

	memset(&a, 0, sizeof(a));
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		a.family = AF_INET;
		memcpy(a.a, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		a.family = AF_INET6;
		memcpy(a.a, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
	} else
		return -1;
	normalise(&a, out);
	return 0;
}

/* same_addr - a and b are the same address */
static int
same_addr(const struct dns_addr *a, const struct dns_addr *b)
{
	return a->family == b->family && memcmp(a->a, b->a,
	    a->family == AF_INET ? 4 : 16) == 0;
}

/* is_wildcard - the address is 0.0.0.0 or :: */
static int
is_wildcard(const struct dns_addr *a)
{
	static const unsigned char zero[16];

	return memcmp(a->a, zero, a->family == AF_INET ? 4 : 16) == 0;
}

/* local_addr - 1 if a is an address of this machine's interfaces */
static int
local_addr(const struct dns_addr *a, int family)
{
	struct ifaddrs *ifs, *p;
	struct dns_addr x;
	int found = 0;

	if (getifaddrs(&ifs) < 0)
		return 0;
	for (p = ifs; p != NULL && !found; p = p->ifa_next)
		if (p->ifa_addr != NULL && p->ifa_addr->sa_family == family &&
		    from_sockaddr(p->ifa_addr, &x) == 0 && same_addr(&x, a))
			found = 1;
	freeifaddrs(ifs);
	return found;
}

/* addr_is_self - 1 if a listener of ours is bound to address a */
static int
addr_is_self(const struct config *cfg, const struct dns_addr *a)
{
	const struct config_listen *l;
	struct dns_addr n, la;
	const char *key;
	size_t i;

	normalise(a, &n);
	for (i = 0; (l = config_listener(cfg, i, &key)) != NULL; i++) {
		if (!l->set || from_sockaddr((const struct sockaddr *)
		    (const void *)&l->addr, &la) < 0)
			continue;
		if (is_wildcard(&la)) {
			if (local_addr(&n, n.family))
				return 1;
		} else if (same_addr(&la, &n))
			return 1;
	}
	return 0;
}

/* route_is_self - 1 if target t is this server */
int
route_is_self(const struct config *cfg, const struct target *t)
{
	size_t i;

	if (t->is_name && cfg->hostname != NULL &&
	    dns_name_eq(t->host, cfg->hostname))
		return 1;
	for (i = 0; i < t->n_addr; i++)
		if (addr_is_self(cfg, &t->addr[i]))
			return 1;
	return 0;
}

/* fail - no target: kind and text */
static void __attribute__((format(printf, 3, 4)))
fail(struct route *r, char kind, const char *fmt, ...)
{
	va_list ap;

	r->fail = kind;
	va_start(ap, fmt);
	(void)vsnprintf(r->fail_text, sizeof(r->fail_text), fmt, ap);
	va_end(ap);
	r->n = 0;
}

/* set_literal - target t is the IP address text host; 0, or -1 */
static int
set_literal(struct target *t, const char *host, unsigned port)
{
	memset(t, 0, sizeof(*t));
	if (inet_pton(AF_INET, host, t->addr[0].a) == 1)
		t->addr[0].family = AF_INET;
	else if (inet_pton(AF_INET6, host, t->addr[0].a) == 1)
		t->addr[0].family = AF_INET6;
	else
		return -1;
	t->n_addr = 1;
	(void)str_copy(t->host, sizeof(t->host), host);
	t->port = port;
	return 0;
}

/* add_addrs - the addresses of a finished A or AAAA query to t */
static void
add_addrs(struct target *t, const struct dns_query *q)
{
	size_t i;

	if (q->status != DNS_OK || q->ans == NULL)
		return;
	for (i = 0; i < q->ans->n_addr && t->n_addr < REMOTE_ADDRS_MAX; i++)
		t->addr[t->n_addr++] = q->ans->addr[i];
}

/*
 * resolve_hosts - A and AAAA for each of the n named targets at once;
 * hosts that end with no address are dropped. Returns the number of
 * hosts whose lookups failed temporarily; *error_r one such reason.
 */
static size_t
resolve_hosts(struct job *j, struct dns *d, struct target *t, size_t *n,
    const char **error_r)
{
	struct dns_query q[2 * REMOTE_HOSTS_MAX];
	size_t i, k, temp = 0, nq = 0;

	memset(q, 0, sizeof(q));
	for (i = 0; i < *n; i++) {
		if (!t[i].is_name)
			continue;
		q[2 * i].name = t[i].host;
		q[2 * i].type = DNS_TYPE_AAAA;
		q[2 * i + 1].name = t[i].host;
		q[2 * i + 1].type = DNS_TYPE_A;
	}
	/* Compact the queries of named hosts; remember where each went. */
	for (i = 0; i < 2 * *n; i++)
		if (q[i].name != NULL)
			q[nq++] = q[i];
	if (dns_run(d, q, nq, j->set.dns_ms * 8) < 0)
		*error_r = "DNS failed";
	nq = 0;
	for (i = 0, k = 0; i < *n; i++) {
		if (t[i].is_name) {
			struct dns_query *six = &q[nq], *four = &q[nq + 1];

			const char *why = "no address";

			nq += 2;
			add_addrs(&t[i], six);
			add_addrs(&t[i], four);
			if (t[i].n_addr == 0 && (six->status == DNS_TEMP ||
			    four->status == DNS_TEMP)) {
				temp++;
				why = six->status == DNS_TEMP ? six->error :
				    four->error;
				if (why == NULL)
					why = "temporary failure";
				*error_r = why;
			}
			if (t[i].n_addr == 0)
				remote_log(LOG_NOTICE, j, "host-unusable",
				    "host", t[i].host, "error", why,
				    (char *)NULL);
			dns_query_clear(six);
			dns_query_clear(four);
		}
		if (t[i].n_addr == 0)
			continue;
		route_order_addrs(&t[i]);
		if (k != i)
			t[k] = t[i];
		k++;
	}
	*n = k;
	return temp;
}

/* override - a transport or relayhost next hop: host:port, no MX */
static void
override(struct job *j, struct dns *d, struct route *r, const char *host,
    unsigned port, const char *what)
{
	const char *why = NULL;
	struct target *t = &r->t[0];

	if (set_literal(t, host, port) == 0) {
		r->n = 1;
		return;
	}
	memset(t, 0, sizeof(*t));
	(void)str_copy(t->host, sizeof(t->host), host);
	str_lower(t->host);
	t->is_name = 1;
	t->port = port;
	r->n = 1;
	if (d == NULL) {
		fail(r, 'Z', "4.4.3 cannot start the DNS resolver");
		return;
	}
	if (resolve_hosts(j, d, r->t, &r->n, &why) > 0)
		fail(r, 'Z', "4.4.3 DNS lookup of %s %s failed: %s", what,
		    host, why != NULL ? why : "temporary failure");
	else if (r->n == 0)
		fail(r, 'Z', "4.4.3 %s %s has no address", what, host);
}

/* literal_domain - "[1.2.3.4]" or "[IPv6:...]" to a target */
static void
literal_domain(struct job *j, struct route *r)
{
	char host[ADDR_DOMAIN_MAX + 1];
	const char *p = j->domain + 1;
	size_t len = strlen(j->domain);

	r->kind = ROUTE_LITERAL;
	if (len < 3 || j->domain[len - 1] != ']') {
		fail(r, 'D', "5.1.2 bad address literal %s", j->domain);
		return;
	}
	len -= 2;
	if (len > 5 && str_eq_nocase_n(p, "IPv6:", 5)) {
		p += 5;
		len -= 5;
	}
	if (str_copy_n(host, sizeof(host), p, len) < 0 ||
	    set_literal(&r->t[0], host, 25) < 0) {
		fail(r, 'D', "5.1.2 bad address literal %s", j->domain);
		return;
	}
	r->n = 1;
	if (route_is_self(j->cfg, &r->t[0]))
		fail(r, 'D', "5.4.6 mail for %s loops back to myself",
		    j->domain);
}

/*
 * trim_self - drop MX hosts at or above our own preference (RFC 5321
 * 5.1). self_pref is the lowest preference of a host already known to
 * be ourselves by name (-1: none), found before hosts without an address
 * were dropped.
 */
static void
trim_self(struct job *j, struct route *r, long self_pref)
{
	size_t i, k = 0;
	long best = self_pref;

	for (i = 0; i < r->n; i++)
		if (route_is_self(j->cfg, &r->t[i]) && (best < 0 ||
		    (long)r->t[i].pref < best))
			best = (long)r->t[i].pref;
	if (best < 0)
		return;
	for (i = 0; i < r->n; i++)
		if ((long)r->t[i].pref < best)
			r->t[k++] = r->t[i];
	remote_log(LOG_INFO, j, "mx-self", "domain", j->domain, "kept",
	    k > 0 ? "lower preferences" : "none", (char *)NULL);
	r->n = k;
	if (k == 0)
		fail(r, 'D', "5.4.6 mail for %s loops back to myself",
		    j->domain);
}

/* self_by_name - the lowest preference of a host named like us, or -1 */
static long
self_by_name(const struct job *j, const struct route *r)
{
	long best = -1;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->t[i].is_name && j->cfg->hostname != NULL &&
		    dns_name_eq(r->t[i].host, j->cfg->hostname) &&
		    (best < 0 || (long)r->t[i].pref < best))
			best = (long)r->t[i].pref;
	return best;
}

/* mx_route - the domain's MX hosts, or the domain itself */
static void
mx_route(struct job *j, struct dns *d, struct route *r)
{
	struct dns_query q;
	struct dns_mx *mx;
	const char *why = NULL;
	size_t i, n = 0, temp;
	long self;

	r->kind = ROUTE_MX;
	if (d == NULL) {
		fail(r, 'Z', "4.4.3 cannot start the DNS resolver");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.name = j->domain;
	q.type = DNS_TYPE_MX;
	(void)dns_run(d, &q, 1, j->set.dns_ms * 8);
	switch (q.status) {
	case DNS_TEMP:
		fail(r, 'Z', "4.4.3 DNS lookup of MX for %s failed: %s",
		    j->domain, q.error != NULL ? q.error : "temporary failure");
		goto out;
	case DNS_NXDOMAIN:
	case DNS_BADNAME:
		fail(r, 'D', "5.1.2 domain %s does not exist (%s)", j->domain,
		    q.status == DNS_NXDOMAIN ? "NXDOMAIN" : "not a valid name");
		goto out;
	case DNS_NODATA:
		if (q.ans != NULL && q.ans->malformed > 0) {
			fail(r, 'Z', "4.4.4 no usable MX record for %s "
			    "(%zu malformed)", j->domain, q.ans->malformed);
			goto out;
		}
		/* Implicit MX: the domain itself (RFC 5321 5.1). */
		r->kind = ROUTE_IMPLICIT;
		memset(&r->t[0], 0, sizeof(r->t[0]));
		(void)str_copy(r->t[0].host, sizeof(r->t[0].host), j->domain);
		r->t[0].is_name = 1;
		r->t[0].port = 25;
		r->n = 1;
		break;
	case DNS_OK:
		mx = q.ans->mx;
		if (q.ans->n_mx == 1 && mx[0].host[0] == '\0') {
			fail(r, 'D', "5.1.10 domain %s accepts no mail "
			    "(null MX, RFC 7505)", j->domain);
			goto out;
		}
		if (q.ans->malformed > 0)
			remote_log(LOG_NOTICE, j, "mx-malformed", "domain",
			    j->domain, "skipped", "yes", (char *)NULL);
		dns_mx_order(mx, q.ans->n_mx, NULL);
		for (i = 0; i < q.ans->n_mx && n < REMOTE_HOSTS_MAX; i++) {
			if (mx[i].host[0] == '\0')
				continue;	/* "." beside real MX */
			memset(&r->t[n], 0, sizeof(r->t[n]));
			(void)str_copy(r->t[n].host, sizeof(r->t[n].host),
			    mx[i].host);
			r->t[n].is_name = 1;
			r->t[n].pref = mx[i].pref;
			r->t[n].port = 25;
			n++;
		}
		r->n = n;
		if (n == 0) {
			fail(r, 'Z', "4.4.4 no usable MX record for %s",
			    j->domain);
			goto out;
		}
		break;
	default:
		fail(r, 'Z', "4.4.3 DNS lookup of MX for %s failed", j->domain);
		goto out;
	}
	self = self_by_name(j, r);
	temp = resolve_hosts(j, d, r->t, &r->n, &why);
	if (r->n == 0 && self >= 0) {
		fail(r, 'D', "5.4.6 mail for %s loops back to myself",
		    j->domain);
		goto out;
	}
	if (r->n == 0) {
		if (temp > 0)
			fail(r, 'Z', "4.4.3 DNS lookup of the address of %s "
			    "failed: %s", r->kind == ROUTE_IMPLICIT ?
			    j->domain : "every MX host", why != NULL ? why :
			    "temporary failure");
		else if (r->kind == ROUTE_IMPLICIT)
			fail(r, 'D', "5.4.4 domain %s has no MX and no address",
			    j->domain);
		else
			fail(r, 'D', "5.4.4 no MX host of %s has an address",
			    j->domain);
		goto out;
	}
	trim_self(j, r, self);
out:
	dns_query_clear(&q);
}

/* route_find - the hosts to try for the job's domain, or why none */
void
route_find(struct job *j, struct route *r)
{
	struct buf value = BUF_INIT(TABLE_LINE_MAX);
	struct table *tab = NULL;
	struct dns *d = NULL;
	char host[DNS_NAME_MAX + 1];
	const char *why = NULL;
	unsigned port;
	int found;

	memset(r, 0, sizeof(*r));
	if (route_table_open(j->cfg, j->cfg->transport, "transport", &tab,
	    &why) < 0) {
		fail(r, 'Z', "4.3.0 cannot read the transport table: %s", why);
		goto out;
	}
	found = route_table_lookup(tab, j->domain, &value);
	if (found < 0) {
		fail(r, 'Z', "4.3.0 cannot read the transport table");
		goto out;
	}
	d = dns_open(&j->cfg->dns_servers, j->set.dns_ms, DNS_TRIES, &why);
	if (d == NULL)
		remote_log(LOG_ERR, j, "dns-failed", "error", why,
		    (char *)NULL);
	if (found) {
		r->kind = ROUTE_TRANSPORT;
		if (route_parse_hostport(value.data, value.len, host,
		    sizeof(host), &port) < 0) {
			fail(r, 'Z', "4.3.5 bad transport entry for %s",
			    j->domain);
			goto out;
		}
		override(j, d, r, host, port, "transport host");
	} else if (j->cfg->relayhost.host != NULL) {
		r->kind = ROUTE_RELAYHOST;
		override(j, d, r, j->cfg->relayhost.host,
		    j->cfg->relayhost.port, "relayhost");
	} else if (j->domain[0] == '[')
		literal_domain(j, r);
	else
		mx_route(j, d, r);
out:
	dns_close(d);
	table_close(tab);
	buf_free(&value);
}
