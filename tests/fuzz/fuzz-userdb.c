/*
 * NAME
 *	fuzz-userdb - libFuzzer target for the table value and maildirsize
 *	parsers (userdb(3), quota(3))
 *
 * SYNOPSIS
 *	fuzz-userdb [libFuzzer options] [corpus ...]
 *
 * DESCRIPTION
 *	Feeds each input (up to its first NUL, as the tables never hold one)
 *	to userdb_parse_user(), userdb_parse_targets(), userdb_local_ok() and
 *	quota_parse_size(), and the whole input to quota_parse(), and aborts
 *	when an invariant breaks:
 *
 *	- a parsed users value has a non-empty hash without blanks, a quota
 *	  no larger than QUOTA_SIZE_MAX, at most USERDB_FORWARDS_MAX
 *	  forwards, each a canonical address that parses again to itself;
 *	- parsed alias targets are 1..USERDB_TARGETS_MAX such addresses;
 *	- a local part userdb_local_ok() accepts holds no '/', '\', '@',
 *	  control character, leading '.' or "..";
 *	- quota_parse() fails cleanly (usage zero) or succeeds with a limit
 *	  no larger than QUOTA_SIZE_MAX.
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

#include "quota.h"
#include "table.h"
#include "userdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CHECK - abort, naming the invariant, unless cond */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz-userdb: %s:%d: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* canonical - addr parses again to exactly itself */
static void
canonical(const char *addr)
{
	char again[USERDB_ADDR_MAX + 1];
	const char *why;

	CHECK(userdb_parse_address(addr, strlen(addr), again, sizeof(again),
	    &why) == 0);
	CHECK(strcmp(addr, again) == 0);
	CHECK(strchr(addr, '@') != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userdb_user u;
	struct userdb_list l;
	struct quota_usage qu;
	const char *why;
	char text[TABLE_LINE_MAX + 1];
	uint64_t v;
	size_t n = strnlen((const char *)data, size), i;

	if (n > TABLE_LINE_MAX)
		n = TABLE_LINE_MAX;
	memcpy(text, data, n);
	text[n] = '\0';

	if (userdb_parse_user(text, &u, &why) == 0) {
		CHECK(u.hash[0] != '\0');
		CHECK(strpbrk(u.hash, " \t") == NULL);
		CHECK(u.quota <= QUOTA_SIZE_MAX);
		CHECK(u.forwards.n <= USERDB_FORWARDS_MAX);
		for (i = 0; i < u.forwards.n; i++)
			canonical(u.forwards.v[i]);
		userdb_user_free(&u);
	} else
		CHECK(u.forwards.n == 0 && u.forwards.v == NULL);

	if (userdb_parse_targets(text, &l, &why) == 0) {
		CHECK(l.n >= 1 && l.n <= USERDB_TARGETS_MAX);
		for (i = 0; i < l.n; i++)
			canonical(l.v[i]);
		userdb_list_free(&l);
	} else
		CHECK(l.n == 0 && l.v == NULL);

	if (userdb_local_ok(text)) {
		CHECK(n >= 1 && n <= ADDR_LOCAL_MAX);
		CHECK(text[0] != '.' && strstr(text, "..") == NULL);
		CHECK(strpbrk(text, "/\\@") == NULL);
		for (i = 0; i < n; i++)
			CHECK((unsigned char)text[i] >= 0x20 &&
			    text[i] != 0x7f);
	}

	if (quota_parse_size(text, &v) == 0)
		CHECK(v <= QUOTA_SIZE_MAX);
	if (quota_parse((const char *)data, size, &v, &qu) == 0)
		CHECK(v <= QUOTA_SIZE_MAX);
	else
		CHECK(qu.bytes == 0 && qu.count == 0);
	return 0;
}
