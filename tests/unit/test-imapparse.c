/*
 * NAME
 *	test-imapparse - the IMAP command grammar and the MIME parser
 *
 * DESCRIPTION
 *	Commands with atoms, quoted strings, literals, lists and sections;
 *	the nesting, sequence-set and search limits (SECURITY I4, I5);
 *	FETCH attributes; modified UTF-7; MIME part numbers, ENVELOPE and
 *	BODYSTRUCTURE of a small multipart message, and hostile nesting
 *	(I7).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imapparse.h"
#include "mime.h"
#include "test.h"

/* parse - run imap_parse on a copy of s; result code */
static int
parse(const char *s, struct imap_cmd *c, char *copy, size_t size)
{
	const char *error;
	size_t n = strlen(s);

	if (n >= size)
		return -2;
	memcpy(copy, s, n + 1);
	return imap_parse(copy, n, c, &error);
}

int
main(void)
{
	static char copy[300000];
	struct imap_cmd c = { 0 };
	struct imap_seqset set;
	struct imap_fetch f;
	struct imap_search s;
	struct buf b = BUF_INIT(1 << 20);
	const char *error;
	char *big;
	size_t i;

	TEST_BEGIN("atoms, quoted, literal, list");
	TEST_ASSERT_INT(parse("a1 APPEND \"in\\\"box\" (\\Seen x) {3}\r\nabc",
	    &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_STR(c.tag, "a1");
	TEST_ASSERT_STR(c.name, "APPEND");
	TEST_ASSERT_INT(imap_cmd_count(&c), 3);
	TEST_ASSERT_INT(c.args[0].type, IMAP_ARG_QUOTED);
	TEST_ASSERT(c.args[0].len == 6 && memcmp(c.args[0].s, "in\"box", 6) == 0);
	TEST_ASSERT_INT(c.args[1].type, IMAP_ARG_LIST);
	TEST_ASSERT_INT(c.args[1].sub, 2);
	TEST_ASSERT_INT(c.args[4].type, IMAP_ARG_LITERAL);
	TEST_ASSERT(c.args[4].len == 3 && memcmp(c.args[4].s, "abc", 3) == 0);
	TEST_END();

	TEST_BEGIN("sections stay one atom");
	TEST_ASSERT_INT(parse("t FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.10>"
	    " UID)", &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_fetch_parse(&c, 1, &f, &error), 0);
	TEST_ASSERT_INT(f.n, 2);
	TEST_ASSERT_INT(f.v[0].kind, IMAP_F_SECTION);
	TEST_ASSERT_INT(f.v[0].peek, 1);
	TEST_ASSERT_INT(f.v[0].what, IMAP_S_FIELDS);
	TEST_ASSERT_INT(f.v[0].nfields, 2);
	TEST_ASSERT_INT(f.v[0].p_len, 10);
	buf_reset(&b);
	TEST_ASSERT_INT(imap_fetch_section_name(&f.v[0], &b), 0);
	TEST_ASSERT_STR(buf_cstr(&b), "BODY[HEADER.FIELDS (FROM TO)]<0>");
	imap_fetch_free(&f);
	TEST_ASSERT_INT(parse("t FETCH 1 BODY[1.2.MIME]", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_fetch_parse(&c, 1, &f, &error), 0);
	TEST_ASSERT_INT(f.v[0].nparts, 2);
	TEST_ASSERT_INT(f.v[0].what, IMAP_S_MIME);
	imap_fetch_free(&f);
	TEST_ASSERT_INT(parse("t FETCH 1 BODY[0]", &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_fetch_parse(&c, 1, &f, &error), -1);
	TEST_END();

	TEST_BEGIN("syntax errors");
	TEST_ASSERT_INT(parse("", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a+ NOOP", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a NOOP \"x", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a NOOP (x", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a NOOP x)", &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(parse("a NOOP {5}\r\nab", &c, copy, sizeof(copy)), -1);
	TEST_END();

	TEST_BEGIN("nesting limit (I4)");
	big = malloc(10000);
	memcpy(big, "a NOOP ", 7);
	for (i = 0; i < 4000; i++) {
		big[7 + i] = '(';
		big[7 + 4000 + i] = ')';
	}
	big[8007] = '\0';
	TEST_ASSERT_INT(parse(big, &c, copy, sizeof(copy)), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	free(big);
	TEST_END();

	TEST_BEGIN("literal announcements");
	{
		uint64_t n;
		int plus;
		size_t st;

		TEST_ASSERT_INT(imap_literal_announce("a LOGIN {5}", 11, &n,
		    &plus, &st), 1);
		TEST_ASSERT_INT(n, 5);
		TEST_ASSERT_INT(plus, 0);
		TEST_ASSERT_INT(imap_literal_announce("x {4294967296+}", 15, &n,
		    &plus, &st), 1);
		TEST_ASSERT(n == 4294967296ULL && plus == 1);
		TEST_ASSERT_INT(imap_literal_announce(
		    "x {18446744073709551616}", 24, &n, &plus, &st), -1);
		TEST_ASSERT_INT(imap_literal_announce("x y}", 4, &n, &plus,
		    &st), 0);
	}
	TEST_END();

	TEST_BEGIN("sequence sets (I5)");
	TEST_ASSERT_INT(imap_seqset_parse("1:4294967295", 12, &set, &error), 0);
	imap_seqset_resolve(&set, 10);
	TEST_ASSERT(imap_seqset_contains(&set, 5));
	imap_seqset_free(&set);
	TEST_ASSERT_INT(imap_seqset_parse("0", 1, &set, &error), -1);
	TEST_ASSERT_INT(imap_seqset_parse("4294967296", 10, &set, &error), -1);
	TEST_ASSERT_INT(imap_seqset_parse("1,", 2, &set, &error), -1);
	TEST_ASSERT_INT(imap_seqset_parse("5:*,2,3:1", 9, &set, &error), 0);
	imap_seqset_resolve(&set, 7);
	TEST_ASSERT_INT(set.n, 2);
	TEST_ASSERT(set.v[0].lo == 1 && set.v[0].hi == 3);
	TEST_ASSERT(set.v[1].lo == 5 && set.v[1].hi == 7);
	TEST_ASSERT(!imap_seqset_contains(&set, 4));
	imap_seqset_free(&set);
	TEST_END();

	TEST_BEGIN("search keys and limits");
	TEST_ASSERT_INT(parse("s SEARCH CHARSET UTF-8 OR (FROM a NOT SEEN) "
	    "UID 1:* SINCE 1-Feb-1994", &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), 0);
	TEST_ASSERT_INT(s.v[0].key, IMAP_K_AND);
	imap_search_free(&s);
	TEST_ASSERT_INT(parse("s SEARCH CHARSET KOI8-R ALL", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	big = malloc(5000);
	memcpy(big, "s SEARCH ", 9);
	for (i = 0; i < 100; i++)
		memcpy(big + 9 + 4 * i, "NOT ", 4);
	memcpy(big + 409, "ALL", 4);
	TEST_ASSERT_INT(parse(big, &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	free(big);
	TEST_END();

	TEST_BEGIN("ESEARCH RETURN options and SEARCHRES $");
	TEST_ASSERT_INT(parse("s SEARCH RETURN (MIN MAX COUNT) UNSEEN", &c,
	    copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), 0);
	TEST_ASSERT_INT(s.ret_given, 1);
	TEST_ASSERT_INT(s.ret, IMAP_RET_MIN | IMAP_RET_MAX | IMAP_RET_COUNT);
	imap_search_free(&s);
	TEST_ASSERT_INT(parse("s SEARCH RETURN () CHARSET UTF-8 ALL", &c,
	    copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), 0);
	TEST_ASSERT_INT(s.ret, IMAP_RET_ALL);
	TEST_ASSERT_INT(s.utf8, 1);
	imap_search_free(&s);
	TEST_ASSERT_INT(parse("s SEARCH RETURN (SAVE) FLAGGED", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), 0);
	TEST_ASSERT_INT(s.ret, IMAP_RET_SAVE);
	imap_search_free(&s);
	TEST_ASSERT_INT(parse("s SEARCH RETURN (PARTIAL 1:5) ALL", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(parse("s SEARCH RETURN ALL", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_ASSERT_INT(parse("s SEARCH RETURN (ALL)", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_ASSERT_INT(parse("s SEARCH $ OR UID $ 1:3", &c, copy,
	    sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), 0);
	TEST_ASSERT_INT(s.v[s.v[0].child].key, IMAP_K_SAVED);
	TEST_ASSERT_INT(s.v[s.v[s.v[s.v[0].child].next].child].key,
	    IMAP_K_SAVED);
	imap_search_free(&s);
	TEST_ASSERT_INT(parse("s SEARCH $$", &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(imap_search_parse(&c, 0, &s, &error), -1);
	TEST_END();

	TEST_BEGIN("sequence sets built and written");
	memset(&set, 0, sizeof(set));
	for (i = 1; i <= 5; i++)
		imap_seqset_add(&set, (uint32_t)i, (uint32_t)i);
	imap_seqset_add(&set, 9, 9);
	imap_seqset_add(&set, 4294967295U, 4294967295U);
	imap_seqset_resolve(&set, 0);
	buf_reset(&b);
	TEST_ASSERT_INT(imap_seqset_write(&set, &b), 0);
	TEST_ASSERT_STR(buf_cstr(&b), "1:5,9,4294967295");
	imap_seqset_free(&set);
	for (i = 0; i < 40; i++)
		imap_seqset_add(&set, (uint32_t)(2 * i + 1),
		    (uint32_t)(2 * i + 1));
	TEST_ASSERT_INT(set.n, 40);
	TEST_ASSERT(imap_seqset_contains(&set, 79));
	TEST_ASSERT(!imap_seqset_contains(&set, 78));
	imap_seqset_free(&set);
	TEST_END();

	TEST_BEGIN("LIST-EXTENDED syntax");
	TEST_ASSERT_INT(parse("l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" "
	    "(\"INBOX\" \"Work.*\") RETURN (CHILDREN STATUS (MESSAGES SIZE))",
	    &c, copy, sizeof(copy)), 0);
	TEST_ASSERT_INT(c.args[0].type, IMAP_ARG_LIST);
	TEST_ASSERT_INT(c.args[0].sub, 2);
	TEST_ASSERT_INT(imap_cmd_count(&c), 5);
	TEST_ASSERT(imap_arg_is_atom(&c.args[imap_arg_next(&c,
	    imap_arg_next(&c, imap_arg_next(&c, 0)))], "RETURN"));
	TEST_END();

	TEST_BEGIN("modified UTF-7");
	TEST_ASSERT(imap_mutf7_valid("Entw&APw-rfe", 12));
	TEST_ASSERT(!imap_mutf7_valid("&AGE", 4));
	TEST_ASSERT(!imap_mutf7_valid("&AGE-", 5));	/* 'a' encoded */
	TEST_ASSERT(imap_mutf7_valid("a&-b", 4));
	TEST_END();

	TEST_BEGIN("UTF-8 names to modified UTF-7 (IMAP4rev2)");
	{
		static const char *const pairs[][2] = {
			{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
			{ "A&B", "A&-B" },
			{ "plain", "plain" },
			{ "\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-" },
			{ "\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail" },
			{ "\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-" },
		};
		struct buf back = BUF_INIT(1024);

		for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
			buf_reset(&b);
			TEST_ASSERT_INT(imap_utf8_to_mutf7(pairs[i][0],
			    strlen(pairs[i][0]), &b), 0);
			TEST_ASSERT_STR(buf_cstr(&b), pairs[i][1]);
			TEST_ASSERT(imap_mutf7_valid(b.data, b.len));
			buf_reset(&back);
			TEST_ASSERT_INT(imap_mutf7_to_utf8(b.data, b.len,
			    &back), 0);
			TEST_ASSERT_STR(buf_cstr(&back), pairs[i][0]);
		}
		buf_free(&back);
		buf_reset(&b);
		TEST_ASSERT_INT(imap_utf8_to_mutf7("a\xc3", 2, &b), -1);
		TEST_ASSERT_INT(imap_utf8_to_mutf7("\xc0\xaf", 2, &b), -1);
		TEST_ASSERT_INT(imap_utf8_to_mutf7("a\tb", 3, &b), -1);
		TEST_ASSERT_INT(imap_utf8_to_mutf7("\xed\xa0\x80", 3, &b),
		    -1);
	}
	TEST_END();

	TEST_BEGIN("dates");
	{
		time_t t;

		TEST_ASSERT_INT(imap_parse_date("1-Feb-1994", 10, &t), 0);
		TEST_ASSERT_INT(t, 760060800);
		TEST_ASSERT_INT(imap_parse_datetime("07-Feb-1994 21:52:25 -0800",
		    26, &t), 0);
		TEST_ASSERT_INT(t, 760686745);
		TEST_ASSERT_INT(imap_parse_date("32-Feb-1994", 11, &t), -1);
	}
	TEST_END();

	TEST_BEGIN("MIME structure");
	{
		static const char msg[] =
		    "From: A <a@b.c>\r\nSubject: s\r\nContent-Type: multipart/"
		    "mixed; boundary=\"XX\"\r\n\r\npre\r\n--XX\r\nContent-Type: "
		    "text/plain; charset=utf-8\r\n\r\nhello\r\n--XX\r\n"
		    "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n"
		    "inner\r\n--XX--\r\n";
		struct mime_msg mm;
		uint32_t path[2] = { 2, 1 };
		int part;

		mime_parse(msg, sizeof(msg) - 1, &mm);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_bodystructure(&mm, 0, 0, &b), 0);
		TEST_ASSERT_STR(buf_cstr(&b), "((\"text\" \"plain\" (\"charset\" "
		    "\"utf-8\") NIL NIL \"7bit\" 5 0)(\"message\" \"rfc822\" NIL "
		    "NIL NIL \"7bit\" 20 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL "
		    "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		    "\"7bit\" 5 0) 2) \"mixed\")");
		TEST_ASSERT_INT(mime_find_part(&mm, path, 1, &part), 0);
		TEST_ASSERT(mime_is_message(&mm, part));
		TEST_ASSERT_INT(mime_find_part(&mm, path, 2, &part), 0);
		TEST_ASSERT(mm.v[part].body_len == 5);
		path[0] = 3;
		TEST_ASSERT_INT(mime_find_part(&mm, path, 1, &part), -1);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_envelope(msg, mm.v[0].hdr_len, &b), 0);
		TEST_ASSERT_STR(buf_cstr(&b), "(NIL \"s\" ((\"A\" NIL \"a\" "
		    "\"b.c\")) ((\"A\" NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" "
		    "\"b.c\")) NIL NIL NIL NIL NIL)");
		mime_free(&mm);
	}
	TEST_END();

	TEST_BEGIN("MIME: broken MIME and ENVELOPE as Dovecot has them");
	{
		static const char nob[] = "Subject:\r\n folded\r\n"
		    "Reply-To: \r\nFrom: a@b.c\r\nTo: nodomain, \"open "
		    "<u@x.y>\r\nContent-Type: Multipart/Mixed\r\n\r\nbody\r\n";
		static const char lang[] = "Content-Type: TEXT/Plain; "
		    "CHARSET=us-ascii\r\nContent-Language: en, (c) fr\r\n"
		    "\r\nx\r\n";
		static const char absent[] = "Content-Type: multipart/mixed; "
		    "boundary=zz\r\n\r\nno delimiter\r\n";
		struct mime_msg mm;
		uint32_t path[1] = { 1 };
		int part;

		/* no boundary: one empty text/plain part, as written case */
		mime_parse(nob, sizeof(nob) - 1, &mm);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_bodystructure(&mm, 0, 1, &b), 0);
		TEST_ASSERT_STR(buf_cstr(&b), "((\"text\" \"plain\" "
		    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
		    "NIL NIL) \"Mixed\" NIL NIL NIL NIL)");
		TEST_ASSERT_INT(mime_find_part(&mm, path, 1, &part), 0);
		TEST_ASSERT(mm.v[part].body_len == 0 &&
		    mm.v[part].hdr_len == 0);
		/* subject unfolded and trimmed; an empty Reply-To is From;
		 * a NIL host would start a group: MISSING_* instead */
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_envelope(nob, mm.v[0].hdr_len, &b),
		    0);
		TEST_ASSERT_STR(buf_cstr(&b), "(NIL \"folded\" ((NIL NIL "
		    "\"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL "
		    "\"a\" \"b.c\")) ((NIL NIL \"nodomain\" "
		    "\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" "
		    "\"MISSING_DOMAIN\")) NIL NIL NIL NIL)");
		mime_free(&mm);

		/* a boundary that never comes: the same */
		mime_parse(absent, sizeof(absent) - 1, &mm);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_bodystructure(&mm, 0, 0, &b), 0);
		TEST_ASSERT_STR(buf_cstr(&b), "((\"text\" \"plain\" "
		    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
		    "\"mixed\")");
		mime_free(&mm);

		/* Content-Language as a list; names and types as written */
		mime_parse(lang, sizeof(lang) - 1, &mm);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_bodystructure(&mm, 0, 1, &b), 0);
		TEST_ASSERT_STR(buf_cstr(&b), "(\"TEXT\" \"Plain\" "
		    "(\"CHARSET\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL "
		    "(\"en\" \"fr\") NIL)");
		mime_free(&mm);
	}
	TEST_END();

	TEST_BEGIN("MIME depth and part limits (I7)");
	{
		struct buf m = BUF_INIT(8 << 20);
		struct mime_msg mm;

		(void)buf_append_str(&m, "Content-Type: multipart/mixed; "
		    "boundary=b\r\n\r\n");
		for (i = 0; i < 5000; i++)
			(void)buf_append_str(&m, "--b\r\nContent-Type: "
			    "multipart/mixed; boundary=b\r\n\r\n");
		mime_parse(m.data, m.len, &mm);
		TEST_ASSERT(mm.n <= MIME_PARTS_MAX);
		buf_reset(&b);
		TEST_ASSERT_INT(mime_write_bodystructure(&mm, 0, 1, &b), 0);
		mime_free(&mm);
		buf_reset(&m);
		(void)buf_append_str(&m, "Content-Type: multipart/mixed; "
		    "boundary=s\r\n\r\n");
		for (i = 0; i < 100000; i++)
			(void)buf_append_str(&m, "--s\r\n\r\nx\r\n");
		mime_parse(m.data, m.len, &mm);
		TEST_ASSERT(mm.n == MIME_PARTS_MAX);
		mime_free(&mm);
		buf_free(&m);
	}
	TEST_END();

	imap_cmd_free(&c);
	buf_free(&b);
	return test_summary("test-imapparse");
}
