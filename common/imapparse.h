/*
 * NAME
 *	imapparse.h - the IMAP4rev1/IMAP4rev2 command grammar
 *
 * DESCRIPTION
 *	imapd(8) assembles one whole command in memory (its lines with
 *	their literals, see imapd-session.c) and hands it to imap_parse(),
 *	which cuts it into a tag, a command name and a tree of arguments
 *	(RFC 3501 / RFC 9051 section 9: atoms, quoted strings, literals
 *	"{n}" and "{n+}" (RFC 7888) with their octets inline after CRLF,
 *	parenthesised lists). A FETCH attribute such as
 *	BODY[HEADER.FIELDS (From To)]<0.100> is one atom: from '[' to
 *	the matching ']' spaces and parentheses are part of it.
 *
 *	Arguments are stored in pre-order in one array: a list's children
 *	follow it, and arg.sub counts the arguments below an argument, so
 *	the next sibling of args[i] is args[i + 1 + args[i].sub].
 *
 *	The interpreting parsers of the commands that need them are here
 *	too, so that one fuzz target covers them: sequence sets
 *	(imap_seqset_*), FETCH attributes (imap_fetch_parse), SEARCH keys
 *	(imap_search_parse), dates, and modified UTF-7 mailbox names.
 *
 *	Limits (each failure is a distinct error and becomes a BAD): at
 *	most IMAP_DEPTH_MAX nested lists, IMAP_ARGS_MAX arguments,
 *	IMAP_SEQ_RANGES_MAX ranges in a sequence set, IMAP_SEARCH_DEPTH_MAX
 *	nested NOT/OR/lists and IMAP_SEARCH_NODES_MAX keys in a search.
 *	Numbers are 32-bit nz-numbers: 0 and values above 4294967295 are
 *	errors.
 */
#ifndef IMAPPARSE_H
#define IMAPPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define IMAP_DEPTH_MAX		32	/* nested parenthesised lists */
#define IMAP_ARGS_MAX		10000	/* arguments in one command */
#define IMAP_TAG_MAX		64	/* octets in a tag */
#define IMAP_SEQ_RANGES_MAX	16384	/* ranges in a sequence set */
#define IMAP_SEARCH_DEPTH_MAX	32	/* nested NOT / OR / ( ) */
#define IMAP_SEARCH_NODES_MAX	1000	/* keys in one SEARCH */
#define IMAP_FETCH_ITEMS_MAX	64	/* attributes in one FETCH */
#define IMAP_SECTION_DEPTH_MAX	32	/* numbers in a section 1.2.3 */
#define IMAP_FIELDS_MAX		128	/* names in HEADER.FIELDS ( ) */
#define IMAP_FIELD_MAX		200	/* octets in one field name */

enum imap_arg_type {
	IMAP_ARG_ATOM = 1,	/* includes NIL, numbers, "[...]" parts */
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	int type;		/* IMAP_ARG_* */
	char *s;		/* text (unescaped for QUOTED), NOT NUL-ended */
	size_t len;
	size_t sub;		/* arguments below this one (lists) */
};

struct imap_cmd {
	char *tag;		/* NUL-ended copy inside the command */
	char name[32];		/* the command name, upper case */
	struct imap_arg *args;	/* pre-order, see above */
	size_t nargs;
	size_t cap;
};

int imap_parse(char *text, size_t len, struct imap_cmd *c,
    const char **error_r);
int imap_parse_tag(const char *text, size_t len, char *tag, size_t size);
void imap_cmd_free(struct imap_cmd *c);
size_t imap_arg_next(const struct imap_cmd *c, size_t i);
size_t imap_cmd_count(const struct imap_cmd *c);
int imap_arg_is_string(const struct imap_arg *a);
int imap_arg_is_atom(const struct imap_arg *a, const char *word);
int imap_arg_is_nil(const struct imap_arg *a);
int imap_arg_number(const struct imap_arg *a, uint32_t *n_r);
int imap_arg_u64(const struct imap_arg *a, uint64_t *n_r);
int imap_literal_announce(const char *line, size_t len, uint64_t *n_r,
    int *plus_r, size_t *start_r);

/* Sequence sets: 0 stands for "*" until imap_seqset_resolve(). */
struct imap_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_range *v;
	size_t n;
	size_t cap;		/* imap_seqset_add()'s room; 0: exactly n */
};

int imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set,
    const char **error_r);
void imap_seqset_resolve(struct imap_seqset *set, uint32_t star);
int imap_seqset_contains(const struct imap_seqset *set, uint32_t v);
void imap_seqset_free(struct imap_seqset *set);
void imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi);
int imap_seqset_write(const struct imap_seqset *set, struct buf *out);

/* Dates: "1-Feb-1994" (day), and date-time "01-Feb-1994 10:00:00 +0100". */
int imap_parse_date(const char *s, size_t len, time_t *day_r);
int imap_parse_datetime(const char *s, size_t len, time_t *t_r);

/* FETCH attributes. */
enum imap_fetch_kind {
	IMAP_F_FLAGS = 1, IMAP_F_UID, IMAP_F_INTERNALDATE, IMAP_F_SIZE,
	IMAP_F_ENVELOPE, IMAP_F_BODYSTRUCTURE, IMAP_F_BODY,
	IMAP_F_SECTION,		/* BODY[...], BODY.PEEK[...] */
	IMAP_F_BINARY,		/* BINARY[...], BINARY.PEEK[...] */
	IMAP_F_BINARY_SIZE,
	IMAP_F_RFC822, IMAP_F_RFC822_HEADER, IMAP_F_RFC822_TEXT,
	IMAP_F_MODSEQ,
};

enum imap_section_what {
	IMAP_S_ALL = 0,		/* BODY[] or BODY[1.2] */
	IMAP_S_HEADER, IMAP_S_FIELDS, IMAP_S_FIELDS_NOT, IMAP_S_TEXT,
	IMAP_S_MIME,
};

struct imap_field {
	const char *s;
	size_t len;
};

struct imap_fetch_item {
	int kind;		/* IMAP_F_* */
	int peek;
	uint32_t part[IMAP_SECTION_DEPTH_MAX];
	size_t nparts;
	int what;		/* IMAP_S_* */
	struct imap_field *fields;	/* allocated; HEADER.FIELDS names */
	size_t nfields;
	int partial;
	uint32_t p_off, p_len;
};

struct imap_fetch {
	struct imap_fetch_item *v;
	size_t n;
	int changedsince;	/* room for CONDSTORE */
	uint64_t modseq;
};

int imap_fetch_parse(const struct imap_cmd *c, size_t i,
    struct imap_fetch *f, const char **error_r);
void imap_fetch_free(struct imap_fetch *f);
int imap_fetch_section_name(const struct imap_fetch_item *it,
    struct buf *out);

/* SEARCH keys. */
enum imap_search_key {
	IMAP_K_AND = 1,		/* children: all must match (also ALL) */
	IMAP_K_OR, IMAP_K_NOT, IMAP_K_SEQ, IMAP_K_UID,
	IMAP_K_FLAG,		/* flag: IMAP_FL_* in num */
	IMAP_K_UNFLAG,
	IMAP_K_KEYWORD, IMAP_K_UNKEYWORD,
	IMAP_K_NEW, IMAP_K_OLD,
	IMAP_K_BEFORE, IMAP_K_ON, IMAP_K_SINCE,
	IMAP_K_SENTBEFORE, IMAP_K_SENTON, IMAP_K_SENTSINCE,
	IMAP_K_LARGER, IMAP_K_SMALLER,
	IMAP_K_HEADER,		/* hdr + str; FROM, TO, CC, BCC, SUBJECT too */
	IMAP_K_BODY, IMAP_K_TEXT,
	IMAP_K_SAVED,		/* "$": the saved result (SEARCHRES) */
};

/* System flags as bits. */
#define IMAP_FL_SEEN		0x01
#define IMAP_FL_ANSWERED	0x02
#define IMAP_FL_FLAGGED		0x04
#define IMAP_FL_DELETED		0x08
#define IMAP_FL_DRAFT		0x10
#define IMAP_FL_RECENT		0x20

struct imap_search_node {
	int key;		/* IMAP_K_* */
	int child;		/* first child, -1 if none */
	int next;		/* next sibling, -1 if none */
	uint64_t num;
	time_t date;
	const char *hdr;
	size_t hdr_len;
	const char *str;
	size_t str_len;
	struct imap_seqset set;
};

struct imap_search {
	struct imap_search_node *v;
	size_t n;
	int utf8;		/* CHARSET UTF-8 given */
	int ret_uid;		/* room for ESEARCH */
	int ret_given;		/* RETURN (...) given: answer ESEARCH */
	unsigned ret;		/* IMAP_RET_* (RETURN () is ALL) */
};

/* ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) result options. */
#define IMAP_RET_MIN		0x01
#define IMAP_RET_MAX		0x02
#define IMAP_RET_ALL		0x04
#define IMAP_RET_COUNT		0x08
#define IMAP_RET_SAVE		0x10

int imap_search_parse(const struct imap_cmd *c, size_t i,
    struct imap_search *s, const char **error_r);
void imap_search_free(struct imap_search *s);

/* Mailbox names in modified UTF-7 (RFC 3501 5.1.3). */
int imap_mutf7_valid(const char *s, size_t len);
int imap_mutf7_to_utf8(const char *s, size_t len, struct buf *out);
int imap_utf8_to_mutf7(const char *s, size_t len, struct buf *out);

/* Output helpers. */
int imap_write_string(struct buf *out, const char *s, size_t len);
int imap_write_nstring(struct buf *out, const char *s, size_t len);

#endif
