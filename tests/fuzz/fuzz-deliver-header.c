/*
 * NAME
 *	fuzz-deliver-header - libFuzzer target for deliver's header scanner
 *
 * SYNOPSIS
 *	fuzz-deliver-header [libFuzzer options] [corpus ...]
 *
 * DESCRIPTION
 *	Feeds each input, as a message, to deliver/deliver-header.c (built
 *	into this target from its source: the fuzz rule links only common/):
 *	once whole, and once in pieces whose sizes come from the input's
 *	first octet, and aborts when an invariant breaks:
 *
 *	- both scans learn exactly the same things (the scanner does not
 *	  depend on how the message is cut into reads);
 *	- at most DELIVER_DT_MAX values are kept, each 1..DELIVER_DT_VALUE_MAX
 *	  octets, without LF, without blanks or <> at their ends, and each
 *	  is found again by hdrscan_has();
 *	- at most DELIVER_HDR_SCAN_MAX octets are looked at, and "starts with
 *	  a field" and "starts with an empty line" never hold together.
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

#include "../../deliver/deliver-header.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CHECK - abort, naming the invariant, unless cond */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz-deliver-header: %s:%d: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* check_one - the invariants of one finished scan */
static void
check_one(const struct hdrscan *h)
{
	size_t i, n;

	CHECK(h->done);
	CHECK(h->n_dt <= DELIVER_DT_MAX);
	CHECK(h->scanned <= DELIVER_HDR_SCAN_MAX);
	CHECK(!(h->starts_with_field && h->starts_with_blank));
	for (i = 0; i < h->n_dt; i++) {
		const char *v = h->dt[i];

		n = strlen(v);
		CHECK(n >= 1 && n <= DELIVER_DT_VALUE_MAX);
		CHECK(strchr(v, '\n') == NULL);
		CHECK(v[0] != ' ' && v[0] != '\t');
		CHECK(v[n - 1] != ' ' && v[n - 1] != '\t');
		CHECK(hdrscan_has(h, v));
	}
}

/* same - two scans learned the same */
static void
same(const struct hdrscan *a, const struct hdrscan *b)
{
	size_t i;

	CHECK(a->starts_with_field == b->starts_with_field);
	CHECK(a->starts_with_blank == b->starts_with_blank);
	CHECK(a->crlf == b->crlf);
	CHECK(a->truncated == b->truncated);
	CHECK(a->too_many == b->too_many);
	CHECK(a->scanned == b->scanned);
	CHECK(a->n_dt == b->n_dt);
	for (i = 0; i < a->n_dt; i++)
		CHECK(strcmp(a->dt[i], b->dt[i]) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdrscan whole, cut;
	const char *p = (const char *)data;
	size_t step, off = 0;

	hdrscan_init(&whole);
	hdrscan_feed(&whole, p, size);
	hdrscan_finish(&whole);
	check_one(&whole);

	step = size > 0 ? (size_t)(data[0] % 13) + 1 : 1;
	hdrscan_init(&cut);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		hdrscan_feed(&cut, p + off, n);
		off += n;
		step = step % 7 + 1;
	}
	hdrscan_feed(&cut, p, 0);
	hdrscan_finish(&cut);
	check_one(&cut);
	same(&whole, &cut);
	hdrscan_free(&whole);
	hdrscan_free(&cut);
	return 0;
}
