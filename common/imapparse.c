/*
 * NAME
 *	imapparse - the IMAP command grammar: arguments, sequence sets,
 *	FETCH attributes, SEARCH keys, dates, modified UTF-7
 *
 * SYNOPSIS
 *	int imap_parse(char *text, size_t len, struct imap_cmd *c,
 *	    const char **error_r);
 *	int imap_parse_tag(const char *text, size_t len, char *tag,
 *	    size_t size);
 *	int imap_literal_announce(const char *line, size_t len,
 *	    uint64_t *n_r, int *plus_r, size_t *start_r);
 *	int imap_seqset_parse(const char *s, size_t len,
 *	    struct imap_seqset *set, const char **error_r);
 *	int imap_fetch_parse(const struct imap_cmd *c, size_t i,
 *	    struct imap_fetch *f, const char **error_r);
 *	int imap_search_parse(const struct imap_cmd *c, size_t i,
 *	    struct imap_search *s, const char **error_r);
 *	(and the helpers declared in imapparse.h)
 *
 * DESCRIPTION
 *	imap_parse() reads one command, "tag SP name [SP args]", from text
 *	(len octets, no final CRLF; a literal's CRLF and octets are inline).
 *	Quoted strings are unescaped in place, so text is modified and the
 *	arguments point into it. imap_literal_announce() tells whether a
 *	line ends with "{n}" or "{n+}" and where the announcement starts;
 *	imapd uses it while it assembles a command.
 *
 *	The other parsers interpret arguments of an already parsed command
 *	and keep pointers into it: the command must outlive their result.
 *
 * DIAGNOSTICS
 *	Every parser returns 0, or -1 with a static reason in *error_r and
 *	errno EINVAL (syntax) or E2BIG (a limit of imapparse.h was hit).
 *	Nothing here is temporary except out of memory (alloc.h).
 *
 * SECURITY
 *	The input is the network's. Every loop is bounded by the input
 *	length or a limit of imapparse.h; recursion depth is bounded by
 *	IMAP_DEPTH_MAX and IMAP_SEARCH_DEPTH_MAX (SECURITY.md I4), sequence
 *	sets by IMAP_SEQ_RANGES_MAX and never expanded (I5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "imapparse.h"
#include "str.h"

#define FAIL(why, e) do { *error_r = (why); errno = (e); return -1; } while (0)

struct parser {
	char *p, *end;
	struct imap_cmd *c;
	const char *error;
	int err;
};

/* is_atom_char - ATOM-CHAR plus the list wildcards and ']' */
static int
is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch == 0x7f)
		return 0;
	return ch != '(' && ch != ')' && ch != '{' && ch != '"';
}

/* is_tag_char - a tag is any ASTRING-CHAR but '+' (and no wildcards) */
static int
is_tag_char(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' &&
	    ch != '{' && ch != '"' && ch != '\\' && ch != '%' && ch != '*' &&
	    ch != '+';
}

/* imap_parse_tag - copy a valid tag from the start of text; 0 or -1 */
int
imap_parse_tag(const char *text, size_t len, char *tag, size_t size)
{
	size_t i;

	for (i = 0; i < len && is_tag_char((unsigned char)text[i]); i++)
		;
	if (i == 0 || i > IMAP_TAG_MAX || i >= size)
		return -1;
	memcpy(tag, text, i);
	tag[i] = '\0';
	return (int)i;
}

/* new_arg - one more argument slot; NULL at IMAP_ARGS_MAX */
static struct imap_arg *
new_arg(struct parser *ps, size_t *index_r)
{
	struct imap_cmd *c = ps->c;

	if (c->nargs >= IMAP_ARGS_MAX) {
		ps->error = "too many arguments";
		ps->err = E2BIG;
		return NULL;
	}
	if (c->nargs == c->cap) {
		size_t cap = c->cap == 0 ? 16 : c->cap * 2;

		if (cap > IMAP_ARGS_MAX)
			cap = IMAP_ARGS_MAX;
		c->args = alloc_reallocarray(c->args, cap, sizeof(*c->args));
		c->cap = cap;
	}
	*index_r = c->nargs;
	memset(&c->args[c->nargs], 0, sizeof(c->args[0]));
	return &c->args[c->nargs++];
}

/* parse_quoted - a quoted string, unescaped in place */
static int
parse_quoted(struct parser *ps, struct imap_arg *a)
{
	char *w;

	a->type = IMAP_ARG_QUOTED;
	ps->p++;
	a->s = w = ps->p;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char ch = (unsigned char)*ps->p;

		if (ch == '\\') {
			if (ps->p + 1 >= ps->end || (ps->p[1] != '\\' &&
			    ps->p[1] != '"')) {
				ps->error = "bad escape in quoted string";
				return -1;
			}
			ps->p++;
			ch = (unsigned char)*ps->p;
		} else if (ch == '\r' || ch == '\n' || ch == '\0') {
			ps->error = "control character in quoted string";
			return -1;
		}
		*w++ = (char)ch;
		ps->p++;
	}
	if (ps->p >= ps->end) {
		ps->error = "unterminated quoted string";
		return -1;
	}
	a->len = (size_t)(w - a->s);
	ps->p++;
	return 0;
}

/* parse_literal - "{n}" or "{n+}", CRLF, n octets */
static int
parse_literal(struct parser *ps, struct imap_arg *a)
{
	uint64_t n = 0;
	char *q = ps->p + 1;
	int digits = 0;

	while (q < ps->end && *q >= '0' && *q <= '9') {
		if (n > UINT32_MAX) {
			ps->error = "literal too long";
			ps->err = E2BIG;
			return -1;
		}
		n = n * 10 + (uint64_t)(*q - '0');
		q++;
		digits++;
	}
	if (digits == 0) {
		ps->error = "bad literal";
		return -1;
	}
	if (q < ps->end && *q == '+')
		q++;
	if (q >= ps->end || *q != '}') {
		ps->error = "bad literal";
		return -1;
	}
	q++;
	if (q < ps->end && *q == '\r')
		q++;
	if (q >= ps->end || *q != '\n') {
		ps->error = "literal not followed by CRLF";
		return -1;
	}
	q++;
	if ((uint64_t)(ps->end - q) < n) {
		ps->error = "literal shorter than announced";
		return -1;
	}
	a->type = IMAP_ARG_LITERAL;
	a->s = q;
	a->len = (size_t)n;
	ps->p = q + n;
	return 0;
}

/* parse_atom - an atom, with "[...]" parts taken whole */
static int
parse_atom(struct parser *ps, struct imap_arg *a)
{
	a->type = IMAP_ARG_ATOM;
	a->s = ps->p;
	while (ps->p < ps->end) {
		unsigned char ch = (unsigned char)*ps->p;

		if (ch == '[') {
			while (ps->p < ps->end && *ps->p != ']') {
				if (*ps->p == '\r' || *ps->p == '\n' ||
				    *ps->p == '\0') {
					ps->error = "control character in atom";
					return -1;
				}
				ps->p++;
			}
			if (ps->p >= ps->end) {
				ps->error = "missing ']'";
				return -1;
			}
			ps->p++;
			continue;
		}
		if (!is_atom_char(ch))
			break;
		ps->p++;
	}
	a->len = (size_t)(ps->p - a->s);
	if (a->len == 0) {
		ps->error = "bad character";
		return -1;
	}
	return 0;
}

/* parse_list - arguments up to ')' (inside a list) or the end */
static int
parse_list(struct parser *ps, int depth, size_t *count_r)
{
	size_t count = 0, idx;
	struct imap_arg *a;

	*count_r = 0;
	for (;;) {
		if (ps->p >= ps->end) {
			if (depth > 0) {
				ps->error = "missing ')'";
				return -1;
			}
			break;
		}
		if (*ps->p == ')') {
			if (depth == 0) {
				ps->error = "unexpected ')'";
				return -1;
			}
			ps->p++;
			break;
		}
		if (count > 0 || depth == 0) {
			/* Arguments are separated by SP. */
			if (*ps->p != ' ') {
				ps->error = "expected a space";
				return -1;
			}
			while (ps->p < ps->end && *ps->p == ' ')
				ps->p++;
			if (ps->p >= ps->end || *ps->p == ')')
				continue;
		}
		if ((a = new_arg(ps, &idx)) == NULL)
			return -1;
		count++;
		switch (*ps->p) {
		case '(':
			if (depth + 1 > IMAP_DEPTH_MAX) {
				ps->error = "too deeply nested";
				ps->err = E2BIG;
				return -1;
			}
			ps->p++;
			ps->c->args[idx].type = IMAP_ARG_LIST;
			ps->c->args[idx].s = ps->p;
			{
				size_t sub;

				if (parse_list(ps, depth + 1, &sub) < 0)
					return -1;
				/* Count every argument made below idx. */
				ps->c->args[idx].sub = ps->c->nargs - idx - 1;
			}
			break;
		case '"':
			if (parse_quoted(ps, a) < 0)
				return -1;
			break;
		case '{':
			if (parse_literal(ps, a) < 0)
				return -1;
			break;
		default:
			if (parse_atom(ps, a) < 0)
				return -1;
			break;
		}
		if (ps->p < ps->end && *ps->p != ' ' && *ps->p != ')') {
			ps->error = "expected a space";
			return -1;
		}
	}
	*count_r = count;
	return 0;
}

/* imap_parse - tag, command name and argument tree of one command */
int
imap_parse(char *text, size_t len, struct imap_cmd *c, const char **error_r)
{
	struct parser ps;
	size_t i, n, count;
	size_t t;

	c->nargs = 0;
	c->tag = NULL;
	c->name[0] = '\0';
	for (i = 0; i < len && is_tag_char((unsigned char)text[i]); i++)
		;
	if (i == 0 || i > IMAP_TAG_MAX || i >= len || text[i] != ' ')
		FAIL("bad tag", EINVAL);
	t = i;
	c->tag = text;
	text[t] = '\0';		/* the space becomes the tag's NUL */
	i++;
	for (n = 0; i + n < len && text[i + n] != ' ' && n < sizeof(c->name);
	    n++) {
		unsigned char ch = (unsigned char)text[i + n];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
			FAIL("bad command name", EINVAL);
		c->name[n] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
	}
	if (n == 0 || n >= sizeof(c->name))
		FAIL("bad command name", EINVAL);
	c->name[n] = '\0';
	ps.p = text + i + n;
	ps.end = text + len;
	ps.c = c;
	ps.error = "syntax error";
	ps.err = EINVAL;
	if (parse_list(&ps, 0, &count) < 0)
		FAIL(ps.error, ps.err);
	return 0;
}

/* imap_cmd_free - release the argument array */
void
imap_cmd_free(struct imap_cmd *c)
{
	free(c->args);
	c->args = NULL;
	c->nargs = c->cap = 0;
}

/* imap_arg_next - index of the sibling after args[i] */
size_t
imap_arg_next(const struct imap_cmd *c, size_t i)
{
	return i + 1 + c->args[i].sub;
}

/* imap_cmd_count - the number of top-level arguments */
size_t
imap_cmd_count(const struct imap_cmd *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->nargs; i = imap_arg_next(c, i))
		n++;
	return n;
}

/* imap_arg_is_string - an astring: atom, quoted or literal */
int
imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	    a->type == IMAP_ARG_LITERAL;
}

/* imap_arg_is_atom - an atom equal to word, case ignored */
int
imap_arg_is_atom(const struct imap_arg *a, const char *word)
{
	size_t n = strlen(word);

	return a->type == IMAP_ARG_ATOM && a->len == n &&
	    str_eq_nocase_n(a->s, word, n);
}

/* imap_arg_is_nil - the atom NIL */
int
imap_arg_is_nil(const struct imap_arg *a)
{
	return imap_arg_is_atom(a, "NIL");
}

/* imap_arg_u64 - an atom of digits */
int
imap_arg_u64(const struct imap_arg *a, uint64_t *n_r)
{
	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
		return -1;
	return str_parse_u64(a->s, a->len, UINT64_MAX, n_r);
}

/* imap_arg_number - an nz-number of 32 bits */
int
imap_arg_number(const struct imap_arg *a, uint32_t *n_r)
{
	uint64_t v;

	if (imap_arg_u64(a, &v) < 0 || v == 0 || v > UINT32_MAX)
		return -1;
	*n_r = (uint32_t)v;
	return 0;
}

/*
 * imap_literal_announce - 1 if line ends with "{n}" or "{n+}" (n in *n_r,
 * the '{' at *start_r), 0 if not, -1 if n is out of range (E2BIG) or
 * malformed
 */
int
imap_literal_announce(const char *line, size_t len, uint64_t *n_r,
    int *plus_r, size_t *start_r)
{
	size_t i, digits = 0;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	i = len - 1;
	*plus_r = 0;
	if (line[i - 1] == '+') {
		*plus_r = 1;
		i--;
	}
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') {
		i--;
		digits++;
	}
	if (i == 0 || line[i - 1] != '{')
		return 0;
	*start_r = i - 1;
	if (digits == 0)
		return 0;
	if (digits > 19 || str_parse_u64(line + i, digits, UINT64_MAX,
	    n_r) < 0) {
		*n_r = UINT64_MAX;
		errno = E2BIG;
		return -1;
	}
	return 1;
}

/* --- sequence sets ------------------------------------------------------ */

/* seq_number - one seq-number: nz-number or "*" (0) */
static int
seq_number(const char **p, const char *end, uint32_t *n_r)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s < end && *s == '*') {
		*p = s + 1;
		*n_r = 0;
		return 0;
	}
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	if (s == *p || v == 0)
		return -1;
	*p = s;
	*n_r = (uint32_t)v;
	return 0;
}

/* imap_seqset_parse - "1,3:5,7:*" into ranges (not expanded) */
int
imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set,
    const char **error_r)
{
	const char *p = s, *end = s + len;
	size_t cap = 0;

	set->v = NULL;
	set->n = 0;
	set->cap = 0;
	if (len == 0)
		FAIL("empty sequence set", EINVAL);
	while (p < end) {
		struct imap_range r;

		if (seq_number(&p, end, &r.lo) < 0)
			goto bad;
		r.hi = r.lo;
		if (p < end && *p == ':') {
			p++;
			if (seq_number(&p, end, &r.hi) < 0)
				goto bad;
		}
		if (set->n >= IMAP_SEQ_RANGES_MAX) {
			imap_seqset_free(set);
			FAIL("sequence set too long", E2BIG);
		}
		if (set->n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			set->v = alloc_reallocarray(set->v, cap,
			    sizeof(*set->v));
		}
		set->v[set->n++] = r;
		set->cap = cap;
		if (p < end) {
			if (*p != ',' || p + 1 == end)
				goto bad;
			p++;
		}
	}
	return 0;
bad:
	imap_seqset_free(set);
	FAIL("bad sequence set", EINVAL);
}

/* range_cmp - order ranges by their low end */
static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* imap_seqset_resolve - "*" becomes star; sort and merge the ranges */
void
imap_seqset_resolve(struct imap_seqset *set, uint32_t star)
{
	size_t i, n = 0;

	for (i = 0; i < set->n; i++) {
		struct imap_range *r = &set->v[i];
		uint32_t t;

		if (r->lo == 0)
			r->lo = star;
		if (r->hi == 0)
			r->hi = star;
		if (r->lo > r->hi) {
			t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
	if (set->n == 0)
		return;
	qsort(set->v, set->n, sizeof(*set->v), range_cmp);
	for (i = 1; i < set->n; i++) {
		if (set->v[i].lo <= set->v[n].hi ||
		    set->v[i].lo - 1 == set->v[n].hi) {
			if (set->v[i].hi > set->v[n].hi)
				set->v[n].hi = set->v[i].hi;
		} else
			set->v[++n] = set->v[i];
	}
	set->n = n + 1;
}

/* imap_seqset_contains - v in a resolved set (binary search) */
int
imap_seqset_contains(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < set->v[mid].lo)
			hi = mid;
		else if (v > set->v[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/*
 * imap_seqset_add - append the range lo:hi (extending the last range when
 * it follows on); call imap_seqset_resolve() before searching the set
 */
void
imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	if (set->n > 0 && set->v[set->n - 1].hi != UINT32_MAX &&
	    set->v[set->n - 1].hi + 1 == lo) {
		set->v[set->n - 1].hi = hi;
		return;
	}
	if (set->n >= set->cap) {
		set->cap = set->n < 8 ? 16 : 2 * set->n;
		set->v = alloc_reallocarray(set->v, set->cap, sizeof(*set->v));
	}
	set->v[set->n].lo = lo;
	set->v[set->n].hi = hi;
	set->n++;
}

/* imap_seqset_write - a resolved set as "1:3,7" */
int
imap_seqset_write(const struct imap_seqset *set, struct buf *out)
{
	size_t i;
	int r = 0;

	for (i = 0; i < set->n; i++) {
		r |= buf_printf(out, i > 0 ? ",%u" : "%u",
		    (unsigned)set->v[i].lo);
		if (set->v[i].hi != set->v[i].lo)
			r |= buf_printf(out, ":%u", (unsigned)set->v[i].hi);
	}
	return r < 0 ? -1 : 0;
}

/* imap_seqset_free - release the ranges */
void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
	set->cap = 0;
}

/* --- dates ---------------------------------------------------------------- */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* digits - n decimal digits at s */
static int
digits(const char *s, size_t n, int *v_r)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* parse_dmy - "d-Mon-yyyy" with a day of dl digits, exactly len octets */
static int
parse_dmy(const char *s, size_t len, size_t dl, struct tm *tm)
{
	size_t i;
	int day, year;

	if (len != dl + 9 || digits(s, dl, &day) < 0 || s[dl] != '-' ||
	    s[dl + 4] != '-' || digits(s + dl + 5, 4, &year) < 0)
		return -1;
	for (i = 0; i < 12; i++)
		if (str_eq_nocase_n(s + dl + 1, months[i], 3))
			break;
	if (i == 12 || day < 1 || day > 31 || year < 1900 || year > 9999)
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = (int)i;
	tm->tm_year = year - 1900;
	return 0;
}

/* imap_parse_date - a SEARCH date: midnight UTC of that day */
int
imap_parse_date(const char *s, size_t len, time_t *day_r)
{
	struct tm tm;

	if (parse_dmy(s, len, len == 10 ? 1 : 2, &tm) < 0)
		return -1;
	*day_r = timegm(&tm);
	return 0;
}

/* imap_parse_datetime - an APPEND date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" */
int
imap_parse_datetime(const char *s, size_t len, time_t *t_r)
{
	char d[11];
	struct tm tm;
	int h, m, sec, zh, zm, off;

	if (len != 26)
		return -1;
	memcpy(d, s, 11);
	if (d[0] == ' ')
		d[0] = '0';
	if (parse_dmy(d, 11, 2, &tm) < 0)
		return -1;
	s += 11;
	if (s[0] != ' ' || digits(s + 1, 2, &h) < 0 || s[3] != ':' ||
	    digits(s + 4, 2, &m) < 0 || s[6] != ':' ||
	    digits(s + 7, 2, &sec) < 0 || s[9] != ' ' ||
	    (s[10] != '+' && s[10] != '-') || digits(s + 11, 2, &zh) < 0 ||
	    digits(s + 13, 2, &zm) < 0 || h > 23 || m > 59 || sec > 60 ||
	    zm > 59)
		return -1;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	off = (zh * 60 + zm) * 60;
	*t_r = timegm(&tm) - (s[10] == '-' ? -off : off);
	return 0;
}

/* --- FETCH attributes ------------------------------------------------------ */

/* add_item - one more attribute */
static struct imap_fetch_item *
add_item(struct imap_fetch *f, const char **error_r)
{
	if (f->n >= IMAP_FETCH_ITEMS_MAX) {
		*error_r = "too many FETCH attributes";
		errno = E2BIG;
		return NULL;
	}
	f->v = alloc_reallocarray(f->v, f->n + 1, sizeof(*f->v));
	memset(&f->v[f->n], 0, sizeof(f->v[0]));
	return &f->v[f->n++];
}

/* parse_fields - "(name name ...)" inside a section */
static int
parse_fields(const char *p, const char *end, struct imap_fetch_item *it,
    const char **error_r)
{
	if (p >= end || *p != '(')
		FAIL("expected '(' after HEADER.FIELDS", EINVAL);
	p++;
	for (;;) {
		const char *s;
		size_t n;

		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == ')')
			break;
		if (p >= end)
			FAIL("missing ')' in HEADER.FIELDS", EINVAL);
		if (*p == '"') {
			s = ++p;
			while (p < end && *p != '"' && *p != '\\')
				p++;
			if (p >= end || *p != '"')
				FAIL("bad field name", EINVAL);
			n = (size_t)(p - s);
			p++;
		} else {
			s = p;
			while (p < end && *p != ' ' && *p != ')' &&
			    (unsigned char)*p > 0x20 && *p != ':' &&
			    (unsigned char)*p < 0x7f && *p != '(')
				p++;
			n = (size_t)(p - s);
			if (p < end && *p != ' ' && *p != ')')
				FAIL("bad field name", EINVAL);
		}
		if (n == 0 || n > IMAP_FIELD_MAX)
			FAIL("bad field name", EINVAL);
		if (it->nfields >= IMAP_FIELDS_MAX)
			FAIL("too many header fields", E2BIG);
		it->fields = alloc_reallocarray(it->fields, it->nfields + 1,
		    sizeof(*it->fields));
		it->fields[it->nfields].s = s;
		it->fields[it->nfields].len = n;
		it->nfields++;
	}
	if (it->nfields == 0)
		FAIL("empty HEADER.FIELDS list", EINVAL);
	if (p + 1 != end)
		FAIL("junk after HEADER.FIELDS list", EINVAL);
	return 0;
}

/* parse_section - what is between '[' and ']' */
static int
parse_section(const char *p, const char *end, struct imap_fetch_item *it,
    int binary, const char **error_r)
{
	for (;;) {
		uint64_t v = 0;
		const char *s = p;

		if (p >= end || *p < '0' || *p > '9')
			break;
		while (p < end && *p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > UINT32_MAX)
				FAIL("bad section number", EINVAL);
			p++;
		}
		if (v == 0 || p == s)
			FAIL("bad section number", EINVAL);
		if (it->nparts >= IMAP_SECTION_DEPTH_MAX)
			FAIL("section too deep", E2BIG);
		it->part[it->nparts++] = (uint32_t)v;
		if (p < end && *p == '.')
			p++;
		else
			break;
	}
	if (p == end) {
		if (it->nparts > 0 && p[-1] == '.')
			FAIL("bad section", EINVAL);
		return 0;
	}
	if (binary)
		FAIL("BINARY takes part numbers only", EINVAL);
	if ((size_t)(end - p) == 6 && str_eq_nocase_n(p, "HEADER", 6))
		it->what = IMAP_S_HEADER;
	else if ((size_t)(end - p) == 4 && str_eq_nocase_n(p, "TEXT", 4))
		it->what = IMAP_S_TEXT;
	else if ((size_t)(end - p) == 4 && str_eq_nocase_n(p, "MIME", 4)) {
		if (it->nparts == 0)
			FAIL("MIME needs a part number", EINVAL);
		it->what = IMAP_S_MIME;
	} else if ((size_t)(end - p) > 18 &&
	    str_eq_nocase_n(p, "HEADER.FIELDS.NOT ", 18)) {
		it->what = IMAP_S_FIELDS_NOT;
		return parse_fields(p + 18, end, it, error_r);
	} else if ((size_t)(end - p) > 14 &&
	    str_eq_nocase_n(p, "HEADER.FIELDS ", 14)) {
		it->what = IMAP_S_FIELDS;
		return parse_fields(p + 14, end, it, error_r);
	} else
		FAIL("bad section", EINVAL);
	return 0;
}

/* parse_partial - "<origin.length>" (length may be absent in rev2 use) */
static int
parse_partial(const char *p, const char *end, struct imap_fetch_item *it,
    const char **error_r)
{
	uint64_t a = 0, b = 0;
	const char *s;

	if (p >= end || *p != '<' || end[-1] != '>')
		FAIL("bad partial", EINVAL);
	p++;
	end--;
	s = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == s || p - s > 10 || str_parse_u64(s, (size_t)(p - s),
	    UINT32_MAX, &a) < 0)
		FAIL("bad partial", EINVAL);
	if (p >= end || *p != '.')
		FAIL("bad partial", EINVAL);
	s = ++p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p != end || p == s || p - s > 10 ||
	    str_parse_u64(s, (size_t)(p - s), UINT32_MAX, &b) < 0 || b == 0)
		FAIL("bad partial", EINVAL);
	it->partial = 1;
	it->p_off = (uint32_t)a;
	it->p_len = (uint32_t)b;
	return 0;
}

/* fetch_att - one attribute atom */
static int
fetch_att(const struct imap_arg *a, struct imap_fetch *f,
    const char **error_r)
{
	static const struct {
		const char *name;
		int kind;
	} simple[] = {
		{ "FLAGS", IMAP_F_FLAGS }, { "UID", IMAP_F_UID },
		{ "INTERNALDATE", IMAP_F_INTERNALDATE },
		{ "RFC822.SIZE", IMAP_F_SIZE }, { "ENVELOPE", IMAP_F_ENVELOPE },
		{ "BODYSTRUCTURE", IMAP_F_BODYSTRUCTURE },
		{ "BODY", IMAP_F_BODY }, { "RFC822", IMAP_F_RFC822 },
		{ "RFC822.HEADER", IMAP_F_RFC822_HEADER },
		{ "RFC822.TEXT", IMAP_F_RFC822_TEXT },
		{ "MODSEQ", IMAP_F_MODSEQ },
	};
	struct imap_fetch_item *it;
	const char *p = a->s, *end = a->s + a->len, *lb, *rb;
	size_t i, nl;
	int binary = 0;

	if (a->type != IMAP_ARG_ATOM)
		FAIL("bad FETCH attribute", EINVAL);
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (imap_arg_is_atom(a, simple[i].name)) {
			if ((it = add_item(f, error_r)) == NULL)
				return -1;
			it->kind = simple[i].kind;
			return 0;
		}
	if ((lb = memchr(p, '[', a->len)) == NULL)
		FAIL("unknown FETCH attribute", EINVAL);
	nl = (size_t)(lb - p);
	if ((it = add_item(f, error_r)) == NULL)
		return -1;
	if (nl == 4 && str_eq_nocase_n(p, "BODY", 4))
		it->kind = IMAP_F_SECTION;
	else if (nl == 9 && str_eq_nocase_n(p, "BODY.PEEK", 9)) {
		it->kind = IMAP_F_SECTION;
		it->peek = 1;
	} else if (nl == 6 && str_eq_nocase_n(p, "BINARY", 6)) {
		it->kind = IMAP_F_BINARY;
		binary = 1;
	} else if (nl == 11 && str_eq_nocase_n(p, "BINARY.PEEK", 11)) {
		it->kind = IMAP_F_BINARY;
		it->peek = 1;
		binary = 1;
	} else if (nl == 11 && str_eq_nocase_n(p, "BINARY.SIZE", 11)) {
		it->kind = IMAP_F_BINARY_SIZE;
		binary = 1;
	} else
		FAIL("unknown FETCH attribute", EINVAL);
	if ((rb = memchr(lb, ']', (size_t)(end - lb))) == NULL)
		FAIL("missing ']'", EINVAL);
	if (parse_section(lb + 1, rb, it, binary, error_r) < 0)
		return -1;
	if (rb + 1 < end) {
		if (it->kind == IMAP_F_BINARY_SIZE)
			FAIL("BINARY.SIZE takes no partial", EINVAL);
		return parse_partial(rb + 1, end, it, error_r);
	}
	return 0;
}

/* imap_fetch_parse - the attribute argument(s) of FETCH from args[i] */
int
imap_fetch_parse(const struct imap_cmd *c, size_t i, struct imap_fetch *f,
    const char **error_r)
{
	const struct imap_arg *a;
	size_t j, end;

	memset(f, 0, sizeof(*f));
	if (i >= c->nargs)
		FAIL("missing FETCH attributes", EINVAL);
	a = &c->args[i];
	if (imap_arg_is_atom(a, "ALL") || imap_arg_is_atom(a, "FAST") ||
	    imap_arg_is_atom(a, "FULL")) {
		static const int fast[] = { IMAP_F_FLAGS, IMAP_F_INTERNALDATE,
		    IMAP_F_SIZE, IMAP_F_ENVELOPE, IMAP_F_BODY };
		size_t n = imap_arg_is_atom(a, "FAST") ? 3 :
		    imap_arg_is_atom(a, "ALL") ? 4 : 5;

		for (j = 0; j < n; j++)
			add_item(f, error_r)->kind = fast[j];
	} else if (a->type == IMAP_ARG_LIST) {
		end = imap_arg_next(c, i);
		for (j = i + 1; j < end; j = imap_arg_next(c, j))
			if (fetch_att(&c->args[j], f, error_r) < 0)
				goto bad;
		if (f->n == 0) {
			*error_r = "empty FETCH attribute list";
			errno = EINVAL;
			goto bad;
		}
	} else if (fetch_att(a, f, error_r) < 0)
		goto bad;
	i = imap_arg_next(c, i);
	if (i < c->nargs) {
		/* (CHANGEDSINCE n) is CONDSTORE: parsed, not yet offered. */
		*error_r = "unexpected argument after FETCH attributes";
		errno = EINVAL;
		goto bad;
	}
	return 0;
bad:
	imap_fetch_free(f);
	return -1;
}

/* imap_fetch_free - release the attributes */
void
imap_fetch_free(struct imap_fetch *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->v[i].fields);
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

/* imap_fetch_section_name - "BODY[1.2.HEADER.FIELDS (A B)]<0>" for replies */
int
imap_fetch_section_name(const struct imap_fetch_item *it, struct buf *out)
{
	static const char *what[] = { "", "HEADER", "HEADER.FIELDS",
	    "HEADER.FIELDS.NOT", "TEXT", "MIME" };
	size_t i;
	int r = 0;

	r |= buf_append_str(out, it->kind == IMAP_F_BINARY ? "BINARY[" :
	    it->kind == IMAP_F_BINARY_SIZE ? "BINARY.SIZE[" : "BODY[");
	for (i = 0; i < it->nparts; i++)
		r |= buf_printf(out, "%s%u", i > 0 ? "." : "",
		    (unsigned)it->part[i]);
	if (it->what != IMAP_S_ALL)
		r |= buf_printf(out, "%s%s", it->nparts > 0 ? "." : "",
		    what[it->what]);
	if (it->what == IMAP_S_FIELDS || it->what == IMAP_S_FIELDS_NOT) {
		r |= buf_append_str(out, " (");
		for (i = 0; i < it->nfields; i++) {
			size_t k;

			if (i > 0)
				r |= buf_append_char(out, ' ');
			for (k = 0; k < it->fields[i].len; k++) {
				char ch = it->fields[i].s[k];

				r |= buf_append_char(out, ch >= 'a' &&
				    ch <= 'z' ? (char)(ch - 32) : ch);
			}
		}
		r |= buf_append_char(out, ')');
	}
	r |= buf_append_char(out, ']');
	if (it->partial)
		r |= buf_printf(out, "<%u>", (unsigned)it->p_off);
	return r < 0 ? -1 : 0;
}

/* --- SEARCH keys -------------------------------------------------------- */

struct sparser {
	const struct imap_cmd *c;
	struct imap_search *s;
	const char *error;
	int err;
};

/* node - a new node, linked nowhere yet; -1 at the limit */
static int
node(struct sparser *sp, int key)
{
	struct imap_search *s = sp->s;

	if (s->n >= IMAP_SEARCH_NODES_MAX) {
		sp->error = "too many search keys";
		sp->err = E2BIG;
		return -1;
	}
	s->v = alloc_reallocarray(s->v, s->n + 1, sizeof(*s->v));
	memset(&s->v[s->n], 0, sizeof(s->v[0]));
	s->v[s->n].key = key;
	s->v[s->n].child = s->v[s->n].next = -1;
	return (int)s->n++;
}

static int search_key(struct sparser *, size_t *, size_t, int);

/* need - one more argument of the right kind must follow */
static const struct imap_arg *
need(struct sparser *sp, size_t *i, size_t end, int string)
{
	const struct imap_arg *a;

	if (*i >= end) {
		sp->error = "missing search argument";
		return NULL;
	}
	a = &sp->c->args[*i];
	if (string ? !imap_arg_is_string(a) : a->type != IMAP_ARG_ATOM) {
		sp->error = "bad search argument";
		return NULL;
	}
	*i = imap_arg_next(sp->c, *i);
	return a;
}

/* search_and - keys from args[*i] to end, as children of an AND node */
static int
search_and(struct sparser *sp, size_t *i, size_t end, int depth)
{
	int n = node(sp, IMAP_K_AND), prev = -1, k;

	if (n < 0)
		return -1;
	while (*i < end) {
		if ((k = search_key(sp, i, end, depth)) < 0)
			return -1;
		if (prev < 0)
			sp->s->v[n].child = k;
		else
			sp->s->v[prev].next = k;
		prev = k;
	}
	return n;
}

/* search_key - one search key (with its arguments) at args[*i] */
static int
search_key(struct sparser *sp, size_t *i, size_t end, int depth)
{
	static const struct {
		const char *name;
		int key;
		uint64_t num;
	} flags[] = {
		{ "ANSWERED", IMAP_K_FLAG, IMAP_FL_ANSWERED },
		{ "DELETED", IMAP_K_FLAG, IMAP_FL_DELETED },
		{ "DRAFT", IMAP_K_FLAG, IMAP_FL_DRAFT },
		{ "FLAGGED", IMAP_K_FLAG, IMAP_FL_FLAGGED },
		{ "SEEN", IMAP_K_FLAG, IMAP_FL_SEEN },
		{ "RECENT", IMAP_K_FLAG, IMAP_FL_RECENT },
		{ "UNANSWERED", IMAP_K_UNFLAG, IMAP_FL_ANSWERED },
		{ "UNDELETED", IMAP_K_UNFLAG, IMAP_FL_DELETED },
		{ "UNDRAFT", IMAP_K_UNFLAG, IMAP_FL_DRAFT },
		{ "UNFLAGGED", IMAP_K_UNFLAG, IMAP_FL_FLAGGED },
		{ "UNSEEN", IMAP_K_UNFLAG, IMAP_FL_SEEN },
		{ "NEW", IMAP_K_NEW, 0 }, { "OLD", IMAP_K_OLD, 0 },
	};
	static const struct {
		const char *name;
		int key;
	} dates[] = {
		{ "BEFORE", IMAP_K_BEFORE }, { "ON", IMAP_K_ON },
		{ "SINCE", IMAP_K_SINCE }, { "SENTBEFORE", IMAP_K_SENTBEFORE },
		{ "SENTON", IMAP_K_SENTON }, { "SENTSINCE", IMAP_K_SENTSINCE },
	};
	static const char *const hdrs[] = { "FROM", "TO", "CC", "BCC",
	    "SUBJECT" };
	const struct imap_cmd *c = sp->c;
	const struct imap_arg *a = &c->args[*i], *v, *h;
	struct imap_search_node *nd;
	size_t k, sub_end;
	int n, x, y;

	if (depth > IMAP_SEARCH_DEPTH_MAX) {
		sp->error = "search keys too deeply nested";
		sp->err = E2BIG;
		return -1;
	}
	if (a->type == IMAP_ARG_LIST) {
		sub_end = imap_arg_next(c, *i);
		(*i)++;
		if (*i == sub_end) {
			sp->error = "empty search list";
			return -1;
		}
		n = search_and(sp, i, sub_end, depth + 1);
		*i = sub_end;
		return n;
	}
	if (a->type != IMAP_ARG_ATOM) {
		sp->error = "bad search key";
		return -1;
	}
	*i = imap_arg_next(c, *i);
	if (imap_arg_is_atom(a, "ALL"))
		return node(sp, IMAP_K_AND);
	for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		if (imap_arg_is_atom(a, flags[k].name)) {
			if ((n = node(sp, flags[k].key)) >= 0)
				sp->s->v[n].num = flags[k].num;
			return n;
		}
	for (k = 0; k < sizeof(dates) / sizeof(dates[0]); k++)
		if (imap_arg_is_atom(a, dates[k].name)) {
			time_t t;

			if ((v = need(sp, i, end, 1)) == NULL)
				return -1;
			if (imap_parse_date(v->s, v->len, &t) < 0) {
				sp->error = "bad date";
				return -1;
			}
			if ((n = node(sp, dates[k].key)) >= 0)
				sp->s->v[n].date = t;
			return n;
		}
	for (k = 0; k < sizeof(hdrs) / sizeof(hdrs[0]); k++)
		if (imap_arg_is_atom(a, hdrs[k])) {
			if ((v = need(sp, i, end, 1)) == NULL ||
			    (n = node(sp, IMAP_K_HEADER)) < 0)
				return -1;
			nd = &sp->s->v[n];
			nd->hdr = hdrs[k];
			nd->hdr_len = strlen(hdrs[k]);
			nd->str = v->s;
			nd->str_len = v->len;
			return n;
		}
	if (imap_arg_is_atom(a, "HEADER")) {
		if ((h = need(sp, i, end, 1)) == NULL ||
		    (v = need(sp, i, end, 1)) == NULL)
			return -1;
		if (h->len == 0 || h->len > IMAP_FIELD_MAX ||
		    memchr(h->s, ':', h->len) != NULL ||
		    memchr(h->s, '\0', h->len) != NULL) {
			sp->error = "bad header name";
			return -1;
		}
		if ((n = node(sp, IMAP_K_HEADER)) < 0)
			return -1;
		nd = &sp->s->v[n];
		nd->hdr = h->s;
		nd->hdr_len = h->len;
		nd->str = v->s;
		nd->str_len = v->len;
		return n;
	}
	if (imap_arg_is_atom(a, "BODY") || imap_arg_is_atom(a, "TEXT") ||
	    imap_arg_is_atom(a, "KEYWORD") || imap_arg_is_atom(a, "UNKEYWORD")) {
		int key = imap_arg_is_atom(a, "BODY") ? IMAP_K_BODY :
		    imap_arg_is_atom(a, "TEXT") ? IMAP_K_TEXT :
		    imap_arg_is_atom(a, "KEYWORD") ? IMAP_K_KEYWORD :
		    IMAP_K_UNKEYWORD;

		if ((v = need(sp, i, end, key == IMAP_K_BODY ||
		    key == IMAP_K_TEXT)) == NULL || (n = node(sp, key)) < 0)
			return -1;
		sp->s->v[n].str = v->s;
		sp->s->v[n].str_len = v->len;
		return n;
	}
	if (imap_arg_is_atom(a, "LARGER") || imap_arg_is_atom(a, "SMALLER")) {
		uint64_t num;
		int key = imap_arg_is_atom(a, "LARGER") ? IMAP_K_LARGER :
		    IMAP_K_SMALLER;

		if ((v = need(sp, i, end, 0)) == NULL)
			return -1;
		if (imap_arg_u64(v, &num) < 0 || num > UINT32_MAX) {
			sp->error = "bad number";
			return -1;
		}
		if ((n = node(sp, key)) >= 0)
			sp->s->v[n].num = num;
		return n;
	}
	if (imap_arg_is_atom(a, "NOT")) {
		if (*i >= end) {
			sp->error = "NOT needs a key";
			return -1;
		}
		if ((n = node(sp, IMAP_K_NOT)) < 0 ||
		    (x = search_key(sp, i, end, depth + 1)) < 0)
			return -1;
		sp->s->v[n].child = x;
		return n;
	}
	if (imap_arg_is_atom(a, "OR")) {
		if (*i >= end) {
			sp->error = "OR needs two keys";
			return -1;
		}
		if ((n = node(sp, IMAP_K_OR)) < 0 ||
		    (x = search_key(sp, i, end, depth + 1)) < 0)
			return -1;
		if (*i >= end) {
			sp->error = "OR needs two keys";
			return -1;
		}
		if ((y = search_key(sp, i, end, depth + 1)) < 0)
			return -1;
		sp->s->v[n].child = x;
		sp->s->v[x].next = y;
		return n;
	}
	if (imap_arg_is_atom(a, "UID")) {
		if ((v = need(sp, i, end, 0)) == NULL)
			return -1;
		if (v->len == 1 && v->s[0] == '$')
			return node(sp, IMAP_K_SAVED);
		if ((n = node(sp, IMAP_K_UID)) < 0)
			return -1;
		if (imap_seqset_parse(v->s, v->len, &sp->s->v[n].set,
		    &sp->error) < 0) {
			sp->err = errno;
			return -1;
		}
		return n;
	}
	/* SEARCHRES (RFC 5182): "$" is the saved result. */
	if (a->len == 1 && a->s[0] == '$')
		return node(sp, IMAP_K_SAVED);
	/* A sequence set. */
	if (a->len > 0 && ((a->s[0] >= '0' && a->s[0] <= '9') ||
	    a->s[0] == '*')) {
		if ((n = node(sp, IMAP_K_SEQ)) < 0)
			return -1;
		if (imap_seqset_parse(a->s, a->len, &sp->s->v[n].set,
		    &sp->error) < 0) {
			sp->err = errno;
			return -1;
		}
		return n;
	}
	sp->error = "unknown search key";
	return -1;
}

/*
 * search_return - "RETURN (opts)" at args[*i] (RFC 4731 MIN MAX ALL COUNT,
 * RFC 5182 SAVE); "RETURN ()" means ALL. -1 EINVAL for anything else.
 */
static int
search_return(const struct imap_cmd *c, size_t *i, struct imap_search *s,
    const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_RET_MIN }, { "MAX", IMAP_RET_MAX },
		{ "ALL", IMAP_RET_ALL }, { "COUNT", IMAP_RET_COUNT },
		{ "SAVE", IMAP_RET_SAVE },
	};
	size_t k, end;

	if (*i + 1 >= c->nargs || c->args[*i + 1].type != IMAP_ARG_LIST) {
		*error_r = "RETURN needs a list of options";
		errno = EINVAL;
		return -1;
	}
	end = imap_arg_next(c, *i + 1);
	for (k = *i + 2; k < end; k = imap_arg_next(c, k)) {
		size_t o;

		for (o = 0; o < sizeof(opts) / sizeof(opts[0]); o++)
			if (imap_arg_is_atom(&c->args[k], opts[o].name))
				break;
		if (o == sizeof(opts) / sizeof(opts[0])) {
			*error_r = "unknown RETURN option";
			errno = EINVAL;
			return -1;
		}
		s->ret |= opts[o].bit;
	}
	/* RFC 4731 3.1: "()" is ALL; SAVE alone answers nothing. */
	if (s->ret == 0)
		s->ret = IMAP_RET_ALL;
	s->ret_given = 1;
	*i = end;
	return 0;
}

/* imap_search_parse - [RETURN (..)] [CHARSET x] keys..., from args[i] */
int
imap_search_parse(const struct imap_cmd *c, size_t i, struct imap_search *s,
    const char **error_r)
{
	struct sparser sp;

	memset(s, 0, sizeof(*s));
	sp.c = c;
	sp.s = s;
	sp.error = "syntax error";
	sp.err = EINVAL;
	if (i < c->nargs && imap_arg_is_atom(&c->args[i], "RETURN")) {
		if (search_return(c, &i, s, error_r) < 0)
			return -1;
	}
	if (i < c->nargs && imap_arg_is_atom(&c->args[i], "CHARSET")) {
		const struct imap_arg *cs;

		if (i + 1 >= c->nargs ||
		    !imap_arg_is_string(cs = &c->args[i + 1])) {
			*error_r = "bad CHARSET";
			errno = EINVAL;
			return -1;
		}
		if ((cs->len == 5 && str_eq_nocase_n(cs->s, "UTF-8", 5)) ||
		    (cs->len == 8 && str_eq_nocase_n(cs->s, "US-ASCII", 8)))
			s->utf8 = 1;
		else {
			*error_r = "[BADCHARSET (UTF-8 US-ASCII)] charset "
			    "not supported";
			errno = ENOENT;
			return -1;
		}
		i += 2;
	}
	if (i >= c->nargs) {
		*error_r = "missing search keys";
		errno = EINVAL;
		return -1;
	}
	if (search_and(&sp, &i, c->nargs, 0) < 0) {
		imap_search_free(s);
		*error_r = sp.error;
		errno = sp.err;
		return -1;
	}
	return 0;
}

/* imap_search_free - release the keys */
void
imap_search_free(struct imap_search *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		imap_seqset_free(&s->v[i].set);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* --- modified UTF-7 ----------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* b64val - value of a modified base64 character, -1 if none */
static int
b64val(unsigned char ch)
{
	const char *p;

	if (ch == 0)
		return -1;
	p = strchr(b64, ch);
	return p != NULL ? (int)(p - b64) : -1;
}

/* put_utf8 - one code point as UTF-8 */
static int
put_utf8(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, u, n);
}

/*
 * imap_mutf7_to_utf8 - decode a modified UTF-7 name (RFC 3501 5.1.3);
 * -1/EINVAL if it is not in canonical form (so "&AGE" is refused)
 */
int
imap_mutf7_to_utf8(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		uint32_t bits = 0, hi = 0;
		int nbits = 0, units = 0, v;

		if (ch < 0x20 || ch > 0x7e)
			goto bad;
		if (ch != '&') {
			if (buf_append_char(out, (char)ch) < 0)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			if (buf_append_char(out, '&') < 0)
				return -1;
			i++;
			continue;
		}
		while (i < len && s[i] != '-') {
			if ((v = b64val((unsigned char)s[i])) < 0)
				goto bad;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			i++;
			if (nbits >= 16) {
				uint32_t u = (bits >> (nbits - 16)) & 0xffff;

				nbits -= 16;
				bits &= (1U << nbits) - 1;
				units++;
				if (hi != 0) {
					if (u < 0xdc00 || u > 0xdfff)
						goto bad;
					u = 0x10000 + ((hi - 0xd800) << 10) +
					    (u - 0xdc00);
					hi = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					hi = u;
					continue;
				} else if (u >= 0xdc00 && u <= 0xdfff)
					goto bad;
				/* Printable ASCII must not be encoded. */
				if (u >= 0x20 && u <= 0x7e)
					goto bad;
				if (put_utf8(out, u) < 0)
					return -1;
			}
		}
		if (i >= len || units == 0 || hi != 0 || nbits >= 6 ||
		    bits != 0)
			goto bad;
		i++;		/* the '-' */
	}
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* imap_mutf7_valid - 1 if s is canonical modified UTF-7 */
int
imap_mutf7_valid(const char *s, size_t len)
{
	struct buf b = BUF_INIT(len * 4 + 16);
	int r = imap_mutf7_to_utf8(s, len, &b) == 0;

	buf_free(&b);
	return r;
}

/* get_utf8 - one code point from s[*i..len); -1 if not valid UTF-8 */
static int32_t
get_utf8(const unsigned char *s, size_t len, size_t *i)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t n, k;

	if (s[*i] < 0x80)
		return s[(*i)++];
	if (s[*i] >= 0xc2 && s[*i] <= 0xdf) {
		n = 1;
		cp = s[*i] & 0x1f;
	} else if (s[*i] >= 0xe0 && s[*i] <= 0xef) {
		n = 2;
		cp = s[*i] & 0x0f;
	} else if (s[*i] >= 0xf0 && s[*i] <= 0xf4) {
		n = 3;
		cp = s[*i] & 0x07;
	} else
		return -1;
	if (len - *i <= n)
		return -1;
	for (k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return (int32_t)cp;
}

/* flush_b64 - close a "&...-" run of UTF-16 units */
static int
flush_b64(struct buf *out, const uint16_t *u, size_t n)
{
	uint32_t bits = 0;
	int nbits = 0, r = 0;
	size_t k;

	if (n == 0)
		return 0;
	r |= buf_append_char(out, '&');
	for (k = 0; k < n; k++) {
		bits = (bits << 16) | u[k];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			r |= buf_append_char(out, b64[(bits >> nbits) & 0x3f]);
		}
		bits &= (1U << nbits) - 1;
	}
	if (nbits > 0)
		r |= buf_append_char(out, b64[(bits << (6 - nbits)) & 0x3f]);
	r |= buf_append_char(out, '-');
	return r < 0 ? -1 : 0;
}

/*
 * imap_utf8_to_mutf7 - a UTF-8 mailbox name (IMAP4rev2, RFC 9051 5.1) in
 * canonical modified UTF-7; -1/EINVAL if it is not valid UTF-8 or holds a
 * control character
 */
int
imap_utf8_to_mutf7(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	uint16_t *units;
	size_t i = 0, nu = 0;
	int r = 0;

	/* No code point takes more UTF-16 units than UTF-8 octets. */
	units = alloc_reallocarray(NULL, len + 1, sizeof(*units));
	while (i < len && r == 0) {
		int32_t cp = get_utf8(p, len, &i);

		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			errno = EINVAL;
			r = -1;
		} else if (cp <= 0x7e) {
			r = flush_b64(out, units, nu);
			nu = 0;
			if (r == 0)
				r = cp == '&' ? buf_append(out, "&-", 2) :
				    buf_append_char(out, (char)cp);
		} else if (cp >= 0x10000) {
			units[nu++] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
			units[nu++] = (uint16_t)(0xdc00 + ((cp - 0x10000) &
			    0x3ff));
		} else
			units[nu++] = (uint16_t)cp;
	}
	if (r == 0)
		r = flush_b64(out, units, nu);
	free(units);
	return r;
}

/* --- output --------------------------------------------------------------- */

/* imap_write_string - s as a quoted string, or a literal if it must be */
int
imap_write_string(struct buf *out, const char *s, size_t len)
{
	size_t i;
	int lit = len > 1024;

	for (i = 0; i < len && !lit; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r' || ch == '\n' || ch == '\0' || ch >= 0x80)
			lit = 1;
	}
	if (lit) {
		if (buf_printf(out, "{%zu}\r\n", len) < 0)
			return -1;
		return buf_append(out, s, len);
	}
	if (buf_append_char(out, '"') < 0)
		return -1;
	for (i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') &&
		    buf_append_char(out, '\\') < 0)
			return -1;
		if (buf_append_char(out, s[i]) < 0)
			return -1;
	}
	return buf_append_char(out, '"');
}

/* imap_write_nstring - NIL for NULL, else imap_write_string */
int
imap_write_nstring(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		return buf_append_str(out, "NIL");
	return imap_write_string(out, s, len);
}
