/*
 * NAME
 *	dns - MX and address lookups with c-ares, and the answers' parser
 *
 * SYNOPSIS
 *	struct dns *dns_open(const struct config_servers *servers,
 *	    int timeout_ms, int tries, const char **error_r);
 *	void dns_close(struct dns *d);
 *	int dns_run(struct dns *d, struct dns_query *q, size_t n,
 *	    int limit_ms);
 *	void dns_query_clear(struct dns_query *q);
 *	int dns_parse_answer(const unsigned char *msg, size_t len,
 *	    const char *qname, int qtype, struct dns_answer *ans,
 *	    const char **error_r);
 *	void dns_mx_order(struct dns_mx *mx, size_t n,
 *	    uint32_t (*rnd)(uint32_t bound));
 *	int dns_is_hostname(const char *name);
 *	int dns_name_eq(const char *a, const char *b);
 *	int dns_addr_format(const struct dns_addr *a, char *out,
 *	    size_t size);
 *
 * DESCRIPTION
 *	dns_open() makes one c-ares channel. With servers (the config's
 *	dns_servers) not empty, queries go to those addresses and ports
 *	only; otherwise to the resolvers of /etc/resolv.conf. timeout_ms is
 *	the wait for one attempt (c-ares doubles it for each round over the
 *	servers), tries the attempts per server. EDNS0 is asked for, and a
 *	truncated UDP answer is asked again over TCP (c-ares does both).
 *
 *	dns_run() starts the n queries at once (class IN, recursion desired,
 *	no search list: every name is taken as complete) and runs c-ares
 *	with poll(2) until every query has its answer or limit_ms have
 *	passed; queries still open then are cancelled and end DNS_TEMP
 *	("DNS timed out"). For each query it sets status, error and, for
 *	DNS_OK and DNS_NODATA, ans (the parsed answer; free it with
 *	dns_query_clear()). c-ares's own statuses map as: success with
 *	records of the type asked for DNS_OK, success without them and
 *	ENODATA DNS_NODATA, ENOTFOUND (NXDOMAIN) DNS_NXDOMAIN, EBADNAME
 *	DNS_BADNAME, anything else (ETIMEOUT, ESERVFAIL, EREFUSED,
 *	ECONNREFUSED, EFORMERR, ENOTIMP, EBADRESP, ECANCELLED, ENOMEM)
 *	DNS_TEMP, as is an answer that does not parse or whose CNAME chain
 *	does not end within DNS_CNAME_MAX links.
 *
 *	dns_parse_answer() reads a whole DNS message (RFC 1035 4.1): the
 *	header, the question section (skipped) and at most DNS_RR_MAX
 *	records of the answer section; the authority and additional
 *	sections are never looked at, so nothing a server volunteers beyond
 *	the answer is used. Names may be compressed; a pointer must point
 *	backwards (to an earlier offset than the one that holds it), which
 *	rules out loops, and a name is at most 255 octets on the wire. A
 *	record is skipped, and counted in ans->malformed, when its data does
 *	not fit its type: an A that is not 4 octets, an AAAA not 16, an MX
 *	shorter than 3 octets or whose name does not end exactly at the end
 *	of its data, a CNAME or MX target that is not a host name (letters,
 *	digits, '-' and '_' in labels of 1 to 63 octets) or that looks like
 *	an IPv4 address (RFC 5321 5.1: MX names a host, not an address); a
 *	null MX target (the root, RFC 7505) is kept as "". A record whose
 *	owner name is not such a host name is ignored. Parsing stops at the
 *	first record whose header or data runs past the end of the message;
 *	the records read until then are kept. Class other than IN is
 *	ignored. Starting from qname, CNAME records are followed inside the
 *	answer (RFC 5321 5.1: "the resulting name is processed as if it were
 *	the initial name"), and only records of qtype owned by the last name
 *	of the chain are kept: MX in ans->mx (host lower-cased), A and AAAA
 *	in ans->addr, at most DNS_MX_MAX and DNS_ADDR_MAX of them.
 *
 *	dns_mx_order() sorts by preference, lowest first, and puts records
 *	of equal preference in random order, using rnd (a uniform number
 *	below bound) or arc4random_uniform(3) when rnd is NULL.
 *	dns_is_hostname() checks the host name syntax above; dns_name_eq()
 *	compares two names ignoring ASCII case and one final dot;
 *	dns_addr_format() writes an address as text (inet_ntop(3)).
 *
 * DIAGNOSTICS
 *	dns_open: NULL with errno (ENOMEM, EINVAL) and a static reason.
 *	dns_run: 0, or -1 with errno when poll(2) fails (every open query is
 *	then cancelled: DNS_TEMP). dns_parse_answer: 0, or -1/EPROTO with a
 *	static reason when the header or question does not parse or the
 *	message is not a response. Every DNS failure that is not NXDOMAIN or
 *	a bad name is temporary.
 *
 * SECURITY
 *	No privileges. Answers come from the network: every offset and
 *	length is checked against the message before use, names are bounded
 *	and never hold an octet outside the host name alphabet, and every
 *	loop (pointers, CNAME chains, record counts) has a fixed bound.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "alloc.h"
#include "config.h"
#include "dns.h"
#include "str.h"

#define WIRE_NAME_MAX	255	/* octets of a name on the wire */
#define POINTERS_MAX	64	/* compression pointers in one name */

struct dns {
	ares_channel channel;
};

/* One query in flight: its slot in the caller's array. */
struct pending {
	struct dns_query *q;
	int done;
};

/* A record of the answer section, as found. */
struct rr {
	char owner[DNS_NAME_MAX + 1];
	int type;
	size_t rdata;		/* offset of the data in the message */
	size_t rdlen;
	int bad;		/* the data does not fit the type */
	unsigned pref;		/* MX */
	char target[DNS_NAME_MAX + 1];	/* MX, CNAME */
};

/* lower - ASCII lower case of c */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* label_ok - 1 if the n octets at p are a host name label */
static int
label_ok(const unsigned char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		    p[i] == '_'))
			return 0;
	return 1;
}

/* looks_ipv4 - 1 if every label of name is digits (an IPv4 address) */
static int
looks_ipv4(const char *name)
{
	const char *p;
	int labels = 1;

	if (*name == '\0')
		return 0;
	for (p = name; *p != '\0'; p++) {
		if (*p == '.')
			labels++;
		else if (*p < '0' || *p > '9')
			return 0;
	}
	return labels == 4;
}

/* dns_is_hostname - 1 if name is a host name we will look up */
int
dns_is_hostname(const char *name)
{
	const char *p = name, *dot;
	size_t n, total = strlen(name);

	if (total > 0 && name[total - 1] == '.')
		total--;
	if (total == 0 || total > DNS_NAME_MAX)
		return 0;
	while (p < name + total) {
		dot = memchr(p, '.', (size_t)(name + total - p));
		n = dot != NULL ? (size_t)(dot - p) :
		    (size_t)(name + total - p);
		if (!label_ok((const unsigned char *)p, n))
			return 0;
		p += n + (dot != NULL);
		if (dot != NULL && p == name + total)
			return 0;	/* "a..": an empty last label */
	}
	return 1;
}

/* dns_name_eq - a and b name the same node (ASCII case, final dot) */
int
dns_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/*
 * get_name - the name at off into out (text, no final dot, "" for the
 * root); *next_r the offset after it where it started. -1 if it does
 * not parse; *clean_r 0 if some label is not a host name label.
 */
static int
get_name(const unsigned char *msg, size_t len, size_t off, char *out,
    size_t *next_r, int *clean_r)
{
	size_t pos = off, o = 0, wire = 0, next = 0;
	int jumps = 0, jumped = 0;
	unsigned n;

	*clean_r = 1;
	out[0] = '\0';
	for (;;) {
		if (pos >= len)
			return -1;
		n = msg[pos];
		if ((n & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len || ++jumps > POINTERS_MAX)
				return -1;
			to = ((size_t)(n & 0x3f) << 8) | msg[pos + 1];
			if (to >= pos)
				return -1;	/* only backwards: no loops */
			if (!jumped) {
				next = pos + 2;
				jumped = 1;
			}
			pos = to;
			continue;
		}
		if (n & 0xc0)
			return -1;	/* extended label types */
		if (n == 0) {
			wire++;
			if (!jumped)
				next = pos + 1;
			break;
		}
		if (pos + 1 + n > len)
			return -1;
		wire += 1 + n;
		if (wire > WIRE_NAME_MAX - 1)
			return -1;
		if (!label_ok(msg + pos + 1, n))
			*clean_r = 0;
		/* UNSAFE: wire <= 254 keeps o + n + 1 within out. */
		if (o > 0)
			out[o++] = '.';
		if (o + n > DNS_NAME_MAX)
			return -1;
		memcpy(out + o, msg + pos + 1, n);
		o += n;
		out[o] = '\0';
		pos += 1 + n;
	}
	if (!*clean_r)
		out[0] = '\0';	/* never hand on an odd name */
	*next_r = next;
	return 0;
}

/* u16 - the big-endian 16-bit number at p */
static unsigned
u16(const unsigned char *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

/* rdata_name - a name that must end exactly at end; 0, or -1 */
static int
rdata_name(const unsigned char *msg, size_t len, size_t off, size_t end,
    char *out)
{
	size_t next;
	int clean;

	if (get_name(msg, len, off, out, &next, &clean) < 0 || next != end ||
	    !clean)
		return -1;
	if (out[0] != '\0' && (!dns_is_hostname(out) || looks_ipv4(out)))
		return -1;
	str_lower(out);
	return 0;
}

/* read_rr - one record of the answer at *off; 0, or -1: stop parsing */
static int
read_rr(const unsigned char *msg, size_t len, size_t *off, struct rr *rr)
{
	size_t next, end;
	int clean;

	if (get_name(msg, len, *off, rr->owner, &next, &clean) < 0 ||
	    next + 10 > len)
		return -1;
	rr->type = (int)u16(msg + next);
	rr->rdlen = u16(msg + next + 8);
	rr->rdata = next + 10;
	if (rr->rdata + rr->rdlen > len)
		return -1;
	end = rr->rdata + rr->rdlen;
	*off = end;
	rr->bad = 0;
	rr->target[0] = '\0';
	if (!clean || u16(msg + next + 2) != 1) {	/* class IN only */
		rr->type = -1;
		return 0;
	}
	switch (rr->type) {
	case DNS_TYPE_A:
		rr->bad = rr->rdlen != 4;
		break;
	case DNS_TYPE_AAAA:
		rr->bad = rr->rdlen != 16;
		break;
	case DNS_TYPE_MX:
		if (rr->rdlen < 3) {
			rr->bad = 1;
			break;
		}
		rr->pref = u16(msg + rr->rdata);
		rr->bad = rdata_name(msg, len, rr->rdata + 2, end,
		    rr->target) < 0;
		break;
	case DNS_TYPE_CNAME:
		rr->bad = rdata_name(msg, len, rr->rdata, end,
		    rr->target) < 0 || rr->target[0] == '\0';
		break;
	default:
		break;
	}
	return 0;
}

/* perr - set errno EPROTO and the reason; -1 */
static int
perr(const char **error_r, const char *why)
{
	if (error_r != NULL)
		*error_r = why;
	errno = EPROTO;
	return -1;
}

/* dns_parse_answer - the records of qtype for qname, CNAMEs followed */
int
dns_parse_answer(const unsigned char *msg, size_t len, const char *qname,
    int qtype, struct dns_answer *ans, const char **error_r)
{
	struct rr *rrs;
	size_t off, next, i, n_rr = 0, qd, an;
	char cur[DNS_NAME_MAX + 1], scratch[DNS_NAME_MAX + 1];
	int clean, hop, found;

	memset(ans, 0, sizeof(*ans));
	if (len < 12)
		return perr(error_r, "DNS message shorter than its header");
	if (!(msg[2] & 0x80))
		return perr(error_r, "DNS message is not a response");
	qd = u16(msg + 4);
	an = u16(msg + 6);
	off = 12;
	for (i = 0; i < qd; i++) {
		if (get_name(msg, len, off, scratch, &next, &clean) < 0 ||
		    next + 4 > len)
			return perr(error_r, "DNS question does not parse");
		off = next + 4;
	}
	if (str_copy(cur, sizeof(cur), qname) < 0)
		return perr(error_r, "name too long");
	if (cur[0] != '\0' && cur[strlen(cur) - 1] == '.')
		cur[strlen(cur) - 1] = '\0';
	rrs = alloc_calloc(an < DNS_RR_MAX ? (an > 0 ? an : 1) : DNS_RR_MAX,
	    sizeof(*rrs));
	for (i = 0; i < an && n_rr < DNS_RR_MAX; i++) {
		if (read_rr(msg, len, &off, &rrs[n_rr]) < 0) {
			ans->malformed += an - i;	/* the rest is lost */
			break;
		}
		if (rrs[n_rr].type < 0)
			continue;
		if (rrs[n_rr].bad &&
		    (rrs[n_rr].type == qtype ||
		    rrs[n_rr].type == DNS_TYPE_CNAME))
			ans->malformed++;
		n_rr++;
	}
	/* Follow the CNAME chain from qname, a bounded number of links. */
	for (hop = 0;; hop++) {
		found = 0;
		for (i = 0; i < n_rr; i++)
			if (rrs[i].type == DNS_TYPE_CNAME && !rrs[i].bad &&
			    dns_name_eq(rrs[i].owner, cur)) {
				found = 1;
				break;
			}
		if (!found)
			break;
		if (hop == DNS_CNAME_MAX) {
			ans->cname_loop = 1;
			break;
		}
		(void)str_copy(cur, sizeof(cur), rrs[i].target);
		ans->cnames++;
	}
	(void)str_copy(ans->name, sizeof(ans->name), cur);
	str_lower(ans->name);
	for (i = 0; i < n_rr && !ans->cname_loop; i++) {
		struct rr *r = &rrs[i];

		if (r->type != qtype || r->bad || !dns_name_eq(r->owner, cur))
			continue;
		if (qtype == DNS_TYPE_MX && ans->n_mx < DNS_MX_MAX) {
			ans->mx[ans->n_mx].pref = r->pref;
			(void)str_copy(ans->mx[ans->n_mx].host,
			    sizeof(ans->mx[0].host), r->target);
			ans->n_mx++;
		} else if ((qtype == DNS_TYPE_A || qtype == DNS_TYPE_AAAA) &&
		    ans->n_addr < DNS_ADDR_MAX) {
			struct dns_addr *a = &ans->addr[ans->n_addr++];

			a->family = qtype == DNS_TYPE_A ? AF_INET : AF_INET6;
			memcpy(a->a, msg + r->rdata, r->rdlen);
		}
	}
	free(rrs);
	return 0;
}

/* default_rnd - a uniform number below bound */
static uint32_t
default_rnd(uint32_t bound)
{
	return arc4random_uniform(bound);
}

/* dns_mx_order - by preference; equal preferences in random order */
void
dns_mx_order(struct dns_mx *mx, size_t n, uint32_t (*rnd)(uint32_t bound))
{
	struct dns_mx tmp;
	size_t i, j, start;

	if (rnd == NULL)
		rnd = default_rnd;
	/* Insertion sort: stable, and n is at most DNS_MX_MAX. */
	for (i = 1; i < n; i++) {
		tmp = mx[i];
		for (j = i; j > 0 && mx[j - 1].pref > tmp.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n && mx[i].pref == mx[start].pref; i++)
			;
		/* Fisher-Yates over mx[start..i). */
		for (j = i - start; j > 1; j--) {
			size_t k = rnd((uint32_t)j);

			if (k >= j)
				k = j - 1;
			tmp = mx[start + j - 1];
			mx[start + j - 1] = mx[start + k];
			mx[start + k] = tmp;
		}
	}
}

/* dns_addr_format - the address as text into out */
int
dns_addr_format(const struct dns_addr *a, char *out, size_t size)
{
	if (inet_ntop(a->family, a->a, out, (socklen_t)size) == NULL)
		return -1;
	return 0;
}

/* dns_open - a c-ares channel on the given or the system's resolvers */
struct dns *
dns_open(const struct config_servers *servers, int timeout_ms, int tries,
    const char **error_r)
{
	struct ares_options opt;
	struct ares_addr_port_node *nodes = NULL;
	struct dns *d;
	size_t i;
	int r;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		*error_r = "cannot initialise c-ares";
		errno = ENOMEM;
		return NULL;
	}
	memset(&opt, 0, sizeof(opt));
	opt.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
	opt.timeout = timeout_ms > 0 ? timeout_ms : 5000;
	opt.tries = tries > 0 ? tries : 2;
	d = alloc_calloc(1, sizeof(*d));
	r = ares_init_options(&d->channel, &opt, ARES_OPT_FLAGS |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (r != ARES_SUCCESS) {
		*error_r = ares_strerror(r);
		free(d);
		ares_library_cleanup();
		errno = r == ARES_ENOMEM ? ENOMEM : EINVAL;
		return NULL;
	}
	if (servers == NULL || servers->n == 0)
		return d;
	nodes = alloc_calloc(servers->n, sizeof(*nodes));
	for (i = 0; i < servers->n; i++) {
		const struct config_server *s = &servers->v[i];

		nodes[i].next = i + 1 < servers->n ? &nodes[i + 1] : NULL;
		nodes[i].family = s->family;
		if ((s->family == AF_INET && inet_pton(AF_INET, s->host,
		    &nodes[i].addr.addr4) != 1) ||
		    (s->family == AF_INET6 && inet_pton(AF_INET6, s->host,
		    &nodes[i].addr.addr6) != 1) ||
		    (s->family != AF_INET && s->family != AF_INET6)) {
			*error_r = "bad DNS server address";
			free(nodes);
			dns_close(d);
			errno = EINVAL;
			return NULL;
		}
		nodes[i].udp_port = (int)s->port;
		nodes[i].tcp_port = (int)s->port;
	}
	r = ares_set_servers_ports(d->channel, nodes);
	free(nodes);
	if (r != ARES_SUCCESS) {
		*error_r = ares_strerror(r);
		dns_close(d);
		errno = r == ARES_ENOMEM ? ENOMEM : EINVAL;
		return NULL;
	}
	return d;
}

/* dns_close - destroy the channel (open queries end DNS_TEMP) */
void
dns_close(struct dns *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->channel);
	ares_library_cleanup();
	free(d);
}

/* dns_query_clear - free a query's answer */
void
dns_query_clear(struct dns_query *q)
{
	free(q->ans);
	q->ans = NULL;
}

/* answered - c-ares callback: set the query's status and answer */
static void
answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct pending *p = arg;
	struct dns_query *q = p->q;
	struct dns_answer *ans;
	const char *why;

	(void)timeouts;
	if (p->done)
		return;
	p->done = 1;
	q->error = NULL;
	switch (status) {
	case ARES_SUCCESS:
		if (abuf == NULL || alen <= 0) {
			q->status = DNS_TEMP;
			q->error = "empty DNS answer";
			return;
		}
		ans = alloc_malloc(sizeof(*ans));
		if (dns_parse_answer(abuf, (size_t)alen, q->name, q->type, ans,
		    &why) < 0) {
			free(ans);
			q->status = DNS_TEMP;
			q->error = why;
			return;
		}
		if (ans->cname_loop) {
			free(ans);
			q->status = DNS_TEMP;
			q->error = "CNAME chain too long";
			return;
		}
		q->ans = ans;
		q->status = ans->n_mx > 0 || ans->n_addr > 0 ? DNS_OK :
		    DNS_NODATA;
		if (q->status == DNS_NODATA && ans->malformed > 0)
			q->error = "only malformed records";
		return;
	case ARES_ENODATA:
		q->ans = alloc_calloc(1, sizeof(*q->ans));
		q->status = DNS_NODATA;
		return;
	case ARES_ENOTFOUND:
		q->status = DNS_NXDOMAIN;
		q->error = "no such domain";
		return;
	case ARES_EBADNAME:
		q->status = DNS_BADNAME;
		q->error = "not a valid DNS name";
		return;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		q->status = DNS_TEMP;
		q->error = "DNS timed out";
		return;
	default:
		q->status = DNS_TEMP;
		q->error = ares_strerror(status);
		return;
	}
}

/* all_done - 1 when every pending query has its answer */
static int
all_done(const struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!p[i].done)
			return 0;
	return 1;
}

/* dns_run - run n queries at once, for at most limit_ms */
int
dns_run(struct dns *d, struct dns_query *q, size_t n, int limit_ms)
{
	struct pending *p;
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct timeval tv, maxtv, *tvp;
	int64_t end, left;
	int bits, i, k, r, ms, saved = 0, failed = 0;
	size_t j;

	if (n == 0)
		return 0;
	p = alloc_calloc(n, sizeof(*p));
	end = clock_mono_ms() + (limit_ms > 0 ? limit_ms : 1);
	for (j = 0; j < n; j++) {
		p[j].q = &q[j];
		q[j].ans = NULL;
		q[j].error = NULL;
		q[j].status = DNS_TEMP;
	}
	for (j = 0; j < n; j++)
		ares_query(d->channel, q[j].name, 1 /* C_IN */, q[j].type,
		    answered, &p[j]);
	while (!all_done(p, n)) {
		left = end - clock_mono_ms();
		if (left <= 0)
			break;
		bits = ares_getsock(d->channel, socks, ARES_GETSOCK_MAXNUM);
		k = 0;
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;

			/* c-ares's macros shift a signed 1 by up to 31. */
			if ((unsigned)bits & (1u << i))
				ev |= POLLIN;
			if ((unsigned)bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[k].fd = socks[i];
			pfd[k].events = ev;
			pfd[k].revents = 0;
			k++;
		}
		maxtv.tv_sec = (time_t)(left / 1000);
		maxtv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		tvp = ares_timeout(d->channel, &maxtv, &tv);
		ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
		if (ms < 0)
			ms = 0;
		r = poll(pfd, (nfds_t)k, ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			failed = 1;
			break;
		}
		if (r == 0) {
			ares_process_fd(d->channel, ARES_SOCKET_BAD,
			    ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < k; i++) {
			if (pfd[i].revents == 0)
				continue;
			ares_process_fd(d->channel,
			    (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			    pfd[i].fd : ARES_SOCKET_BAD,
			    (pfd[i].revents & POLLOUT) ? pfd[i].fd :
			    ARES_SOCKET_BAD);
		}
	}
	if (!all_done(p, n))
		ares_cancel(d->channel);	/* calls back: DNS_TEMP */
	for (j = 0; j < n; j++)
		if (!p[j].done) {
			q[j].status = DNS_TEMP;
			q[j].error = "DNS timed out";
		}
	free(p);
	if (failed) {
		errno = saved;
		return -1;
	}
	return 0;
}
