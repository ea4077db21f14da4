/*
 * NAME
 *	fuzz-addr - libFuzzer target for addr(3)
 *
 * SYNOPSIS
 *	fuzz-addr [libFuzzer options] [corpus ...]
 *
 * DESCRIPTION
 *	Feeds each input to addr_parse_path() with every combination of
 *	ADDR_ALLOW_NULL, ADDR_ALLOW_POSTMASTER and ADDR_ALLOW_UTF8, to
 *	addr_parse_domain(), and to addr_parse_header() with max_addrs 1000,
 *	and aborts when an invariant breaks:
 *
 *	- a parsed path fits its limits (local 64, domain 255, path 256),
 *	  end_r lies inside the input and points just past a '>', and the
 *	  fields hold no control character, no 8-bit octet without
 *	  ADDR_ALLOW_UTF8 and only valid UTF-8 with it;
 *	- the canonical form, written back as "<" addr_format() ">", parses
 *	  again to the very same local part and domain (so the canonical
 *	  form never changes where mail goes);
 *	- a header list holds at most max_addrs entries, each field at most
 *	  ADDR_HDR_FIELD_MAX octets with no NUL or control character (but
 *	  a tab inside quotes outside the name), and
 *	  groups open and close in pairs when the parse completes.
 *
 * DIAGNOSTICS
 *	abort() on a broken invariant; the sanitizers report the rest.
 *
 * SECURITY
 *	Test code; no privileges.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "utf8.h"

#define FUZZ_MAX_ADDRS	1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CHECK - abort, naming the invariant, unless cond */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz-addr: %s:%d: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* clean - no control character; 8-bit only if allowed, then valid UTF-8 */
static void
clean(const char *s, size_t n, int utf8)
{
	size_t i;
	int ascii = 1;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		CHECK(c >= 0x20 && c != 0x7f);
		if (c >= 0x80)
			ascii = 0;
	}
	if (!ascii) {
		CHECK(utf8);
		CHECK(utf8_valid(s, n));
	}
}

/* fuzz_path - one addr_parse_path() call and its invariants */
static void
fuzz_path(const uint8_t *data, size_t size, int flags)
{
	struct addr a, b;
	const char *err = NULL;
	char out[ADDR_PATH_MAX + 8];
	size_t end = (size_t)-1, end2, ll, dl, n;

	if (addr_parse_path((const char *)data, size, flags, &a, &end,
	    &err) < 0) {
		CHECK(err != NULL);
		CHECK(end == (size_t)-1);
		CHECK(a.local[0] == '\0' && a.domain[0] == '\0');
		return;
	}
	ll = strnlen(a.local, sizeof(a.local));
	dl = strnlen(a.domain, sizeof(a.domain));
	CHECK(ll <= ADDR_LOCAL_MAX);
	CHECK(dl <= ADDR_DOMAIN_MAX);
	CHECK(end >= 2 && end <= size && end <= ADDR_PATH_MAX);
	CHECK(data[0] == '<' && data[end - 1] == '>');
	clean(a.local, ll, flags & ADDR_ALLOW_UTF8);
	clean(a.domain, dl, flags & ADDR_ALLOW_UTF8);
	if (a.flags & ADDR_F_NULL) {
		CHECK(flags & ADDR_ALLOW_NULL);
		CHECK(ll == 0 && dl == 0 && end == 2);
	} else if (dl == 0) {
		CHECK(flags & ADDR_ALLOW_POSTMASTER);
		CHECK(strcmp(a.local, "postmaster") == 0);
	} else
		CHECK(ll > 0);
	if ((a.flags & ADDR_F_LITERAL) != 0)
		CHECK(a.domain[0] == '[' && a.domain[dl - 1] == ']');

	/* the canonical form parses again to itself */
	out[0] = '<';
	CHECK(addr_format(&a, out + 1, sizeof(out) - 2) == 0);
	n = strlen(out);
	out[n++] = '>';
	CHECK(n <= end || (a.flags & ADDR_F_NULL));
	CHECK(addr_parse_path(out, n, flags, &b, &end2, &err) == 0);
	CHECK(end2 == n);
	CHECK(strcmp(a.local, b.local) == 0);
	CHECK(strcmp(a.domain, b.domain) == 0);
	CHECK((a.flags & ~ADDR_F_ROUTE) == b.flags);
}

/* fuzz_header - one addr_parse_header() call and its invariants */
static void
fuzz_header(const uint8_t *data, size_t size)
{
	struct addr_hdr_list l = ADDR_HDR_LIST_INIT;
	const char *err = NULL;
	size_t k;
	int r, open = 0;

	r = addr_parse_header((const char *)data, size, FUZZ_MAX_ADDRS, &l,
	    &err);
	CHECK(r == 0 || r == -1);
	CHECK(l.n <= FUZZ_MAX_ADDRS);
	if (r < 0)
		CHECK(l.n == FUZZ_MAX_ADDRS && err != NULL);
	for (k = 0; k < l.n; k++) {
		const struct addr_hdr *e = &l.v[k];
		const struct buf *f[4] = { &e->name, &e->route, &e->local,
		    &e->domain };
		size_t j, i;

		for (j = 0; j < 4; j++) {
			CHECK(f[j]->len <= ADDR_HDR_FIELD_MAX);
			for (i = 0; i < f[j]->len; i++) {
				unsigned char c = (unsigned char)f[j]->data[i];

				/* a tab only as written in quotes */
				CHECK((c >= 0x20 && c != 0x7f) ||
				    (c == '\t' && j > 0));
			}
		}
		CHECK(e->valid == 0 || e->valid == 1);
		switch (e->kind) {
		case ADDR_HDR_GROUP_START:
			CHECK(!open);
			open = 1;
			break;
		case ADDR_HDR_GROUP_END:
			CHECK(open);
			open = 0;
			break;
		default:
			CHECK(e->kind == ADDR_HDR_MAILBOX);
			if (e->valid)
				CHECK(e->local.len > 0 && e->domain.len > 0);
			break;
		}
	}
	if (r == 0)
		CHECK(!open);
	addr_hdr_list_free(&l);
}

/* LLVMFuzzerTestOneInput - one input through every parser */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dom[ADDR_DOMAIN_MAX + 1];
	const char *err = NULL;
	int flags, aflags;

	for (flags = 0; flags < 8; flags++)
		fuzz_path(data, size, flags);
	for (flags = 0; flags <= ADDR_ALLOW_UTF8; flags += ADDR_ALLOW_UTF8) {
		if (addr_parse_domain((const char *)data, size, flags, dom,
		    &aflags, &err) == 0) {
			CHECK(strlen(dom) == size);
			clean(dom, size, flags);
		} else
			CHECK(dom[0] == '\0' && err != NULL);
	}
	fuzz_header(data, size);
	return 0;
}
