/*
 * NAME
 *	fuzz-authd - libFuzzer target for the authd request and reply lines
 *	(authproto(3))
 *
 * SYNOPSIS
 *	fuzz-authd [libFuzzer options] [corpus ...]
 *
 * DESCRIPTION
 *	Feeds each input, as one line, to authproto_parse_request() and
 *	authproto_parse_reply(), and aborts when an invariant breaks:
 *
 *	- a parsed request formats again, within AUTHPROTO_LINE_MAX, into a
 *	  line that parses to the same request (every field, every password
 *	  octet);
 *	- its fields keep their limits: a service of a-z 0-9 . _ -, a user
 *	  without control characters, a password of at most
 *	  AUTHPROTO_PASSWORD_MAX octets, a ticket of 32 lower-case hex;
 *	- a parsed reply formats again into a line that parses to the same
 *	  reply;
 *	- nothing parses from a line of AUTHPROTO_LINE_MAX octets or more.
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

#include "authproto.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CHECK - abort, naming the invariant, unless cond */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz-authd: %s:%d: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* check_request - the invariants of one parsed request */
static void
check_request(const struct authproto_request *r)
{
	struct authproto_request back;
	struct buf out = BUF_INIT(2 * AUTHPROTO_LINE_MAX);
	const char *why;
	size_t i;

	CHECK(authproto_service_ok(r->service));
	if (r->type == AUTHPROTO_PASS) {
		CHECK(r->password_len <= AUTHPROTO_PASSWORD_MAX);
		CHECK(r->user[0] != '\0');
		for (i = 0; r->user[i] != '\0'; i++)
			CHECK((unsigned char)r->user[i] >= 0x20 &&
			    r->user[i] != 0x7f);
	} else {
		CHECK(r->type == AUTHPROTO_TICKET);
		CHECK(authproto_ticket_ok(r->ticket, strlen(r->ticket)));
	}
	CHECK(authproto_format_request(r, &out) == 0);
	CHECK(out.len <= AUTHPROTO_LINE_MAX && out.data[out.len - 1] == '\n');
	CHECK(authproto_parse_request(out.data, out.len - 1, &back,
	    &why) == 0);
	CHECK(back.type == r->type);
	CHECK(strcmp(back.service, r->service) == 0);
	CHECK(strcmp(back.ip, r->ip) == 0);
	CHECK(strcmp(back.user, r->user) == 0);
	CHECK(strcmp(back.ticket, r->ticket) == 0);
	CHECK(back.password_len == r->password_len);
	CHECK(memcmp(back.password, r->password, r->password_len) == 0);
	buf_free(&out);
}

/* check_reply - the invariants of one parsed reply */
static void
check_reply(const struct authproto_reply *r)
{
	struct authproto_reply back;
	struct buf out = BUF_INIT(2 * AUTHPROTO_LINE_MAX);
	const char *why;

	CHECK(authproto_format_reply(r, &out) == 0);
	CHECK(authproto_parse_reply(out.data, out.len - 1, &back, &why) == 0);
	CHECK(back.kind == r->kind && back.throttled == r->throttled &&
	    back.wait == r->wait);
	CHECK(strcmp(back.user, r->user) == 0);
	CHECK(strcmp(back.ticket, r->ticket) == 0);
	CHECK(strcmp(back.text, r->text) == 0);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authproto_request req;
	struct authproto_reply rep;
	const char *line = (const char *)data, *why;

	if (authproto_parse_request(line, size, &req, &why) == 0) {
		CHECK(size < AUTHPROTO_LINE_MAX);
		check_request(&req);
	}
	if (authproto_parse_reply(line, size, &rep, &why) == 0) {
		CHECK(size < AUTHPROTO_LINE_MAX);
		check_reply(&rep);
	}
	return 0;
}
