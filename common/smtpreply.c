/*
 * NAME
 *	smtpreply - SMTP replies as a client reads them (RFC 5321 4.2)
 *
 * SYNOPSIS
 *	void smtpreply_init(struct smtpreply *r);
 *	void smtpreply_reset(struct smtpreply *r);
 *	void smtpreply_free(struct smtpreply *r);
 *	int smtpreply_line(struct smtpreply *r, const char *line, size_t len,
 *	    const char **error_r);
 *	int smtpreply_class(const struct smtpreply *r);
 *	void smtpreply_caps(const struct smtpreply *r, struct smtpcaps *caps);
 *	void smtpreply_status(const struct smtpreply *r, const char *fallback,
 *	    char out[SMTPREPLY_STATUS_MAX + 1]);
 *	int smtpreply_describe(const struct smtpreply *r, struct buf *out,
 *	    size_t max);
 *	int smtpreply_parse_status(const char *s, size_t len, size_t *used_r);
 *
 * DESCRIPTION
 *	The grammar (RFC 5321 4.2, with 4.5.3.1.5 for the length):
 *
 *	    reply  = *( code "-" [ text ] CRLF ) code [ SP [ text ] ] CRLF
 *	    code   = %x32-35 %x30-35 %x30-39	(200 to 559)
 *
 *	smtpreply_line() is given one line without its line end (the
 *	caller's line reader accepts CR LF or a bare LF) and returns
 *	SMTPREPLY_MORE after a continuation line and SMTPREPLY_DONE after
 *	the last one. Every line of a reply must carry the same code. A
 *	bare "250" (no text) is a valid last line, so "250-a" then "250"
 *	is a complete reply; "25", "2500 x", "250x", "150 x" and "650 x"
 *	are not replies at all. In the kept text (struct smtpreply.text,
 *	one line per reply line, LF between) every control octet but the
 *	tab is replaced by '?'; octets above 0x7f are kept as they came.
 *
 *	The enhanced status code (RFC 3463) is taken from the start of the
 *	first line's text when its class matches the reply's first digit
 *	("X.Y.Z" with X the class and Y, Z one to three digits each);
 *	otherwise there is none. smtpreply_status() gives it, or, when the
 *	reply has none, fallback if that is of the reply's class, else
 *	"C.0.0" for the reply's class C.
 *
 *	smtpreply_caps() reads an EHLO reply: its first line is the
 *	server's name, every other line a keyword (any case) with
 *	parameters. Known: PIPELINING, STARTTLS, SIZE [limit], 8BITMIME,
 *	SMTPUTF8, DSN, ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME and AUTH
 *	with its mechanisms (also the old "AUTH=" form); PLAIN and LOGIN
 *	are noted. A SIZE value that is not a number, or 0, means no limit.
 *
 *	smtpreply_describe() appends "CODE text", the lines joined by one
 *	space, every octet outside printable ASCII written as '?', cut at
 *	max octets (the cut ends in "..."): one line fit for a bounce's
 *	Diagnostic-Code and a result line.
 *
 * DIAGNOSTICS
 *	smtpreply_line: SMTPREPLY_MORE, SMTPREPLY_DONE, or -1 with errno
 *	EPROTO and a static reason in *error_r: a line longer than
 *	SMTPREPLY_LINE_MAX, a NUL octet, a malformed code, a separator other
 *	than SP or '-', a code that changes within the reply, more than
 *	SMTPREPLY_LINES_MAX lines, a line after the last one; or ENOMEM
 *	(never in practice: the text is bounded). The caller should treat
 *	every one as a temporary failure of the session and close it (R1).
 *	smtpreply_describe: 0, or -1/ENOBUFS when out is full.
 *	smtpreply_parse_status: 0 with the length used, or -1/EINVAL.
 *
 * SECURITY
 *	No privileges. The input comes from the network: every length is
 *	checked before it is used, and no text is kept unbounded.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "smtpreply.h"
#include "str.h"

/* Room for the kept text: every line at its longest, plus separators. */
#define TEXT_MAX	(SMTPREPLY_LINES_MAX * (SMTPREPLY_LINE_MAX + 1))

/* fail - set errno EPROTO and the reason; -1 */
static int
fail(const char **error_r, const char *why)
{
	if (error_r != NULL)
		*error_r = why;
	errno = EPROTO;
	return -1;
}

/* smtpreply_init - an empty reply */
void
smtpreply_init(struct smtpreply *r)
{
	r->code = 0;
	r->done = 0;
	r->lines = 0;
	r->status[0] = '\0';
	buf_init(&r->text, TEXT_MAX);
}

/* smtpreply_reset - empty the reply for the next one, keeping memory */
void
smtpreply_reset(struct smtpreply *r)
{
	r->code = 0;
	r->done = 0;
	r->lines = 0;
	r->status[0] = '\0';
	buf_reset(&r->text);
}

/* smtpreply_free - release the reply's memory */
void
smtpreply_free(struct smtpreply *r)
{
	buf_free(&r->text);
	r->code = 0;
	r->done = 0;
	r->lines = 0;
	r->status[0] = '\0';
}

/* digits - count of leading decimal digits in s[0..len), at most max+1 */
static size_t
digits(const char *s, size_t len, size_t max)
{
	size_t i;

	for (i = 0; i < len && i <= max; i++)
		if (s[i] < '0' || s[i] > '9')
			break;
	return i;
}

/* smtpreply_parse_status - an enhanced code "X.Y.Z" at s, then SP or end */
int
smtpreply_parse_status(const char *s, size_t len, size_t *used_r)
{
	size_t i = 0, n;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.') {
		errno = EINVAL;
		return -1;
	}
	i = 2;
	n = digits(s + i, len - i, 3);
	if (n == 0 || n > 3) {
		errno = EINVAL;
		return -1;
	}
	i += n;
	if (i >= len || s[i] != '.') {
		errno = EINVAL;
		return -1;
	}
	i++;
	n = digits(s + i, len - i, 3);
	if (n == 0 || n > 3) {
		errno = EINVAL;
		return -1;
	}
	i += n;
	if (i < len && s[i] != ' ') {
		errno = EINVAL;
		return -1;
	}
	*used_r = i;
	return 0;
}

/* keep_text - append line text, control octets (tab aside) as '?' */
static int
keep_text(struct buf *b, const char *p, size_t n)
{
	size_t i, start = b->len;

	if (buf_append(b, p, n) < 0)
		return -1;
	for (i = start; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			b->data[i] = '?';
	}
	return 0;
}

/* smtpreply_line - add one line; SMTPREPLY_MORE, SMTPREPLY_DONE or -1 */
int
smtpreply_line(struct smtpreply *r, const char *line, size_t len,
    const char **error_r)
{
	const char *text;
	size_t tlen, used;
	int code, last;

	if (r->done)
		return fail(error_r, "line after the end of the reply");
	if (len > SMTPREPLY_LINE_MAX)
		return fail(error_r, "reply line too long");
	if (len > 0 && memchr(line, '\0', len) != NULL)
		return fail(error_r, "NUL octet in reply");
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return fail(error_r, "malformed reply code");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3) {
		last = 1;
		text = line + 3;
		tlen = 0;
	} else if (line[3] == ' ' || line[3] == '-') {
		last = line[3] == ' ';
		text = line + 4;
		tlen = len - 4;
	} else
		return fail(error_r, "malformed reply separator");
	if (r->lines > 0 && code != r->code)
		return fail(error_r, "reply code changes within a reply");
	if (r->lines >= SMTPREPLY_LINES_MAX)
		return fail(error_r, "reply has too many lines");
	if (r->lines == 0) {
		r->code = code;
		r->status[0] = '\0';
		if (smtpreply_parse_status(text, tlen, &used) == 0 &&
		    text[0] == line[0])
			(void)str_copy_n(r->status, sizeof(r->status), text,
			    used);
	} else if (buf_append_char(&r->text, '\n') < 0)
		return -1;
	if (keep_text(&r->text, text, tlen) < 0)
		return -1;
	r->lines++;
	if (last) {
		r->done = 1;
		return SMTPREPLY_DONE;
	}
	return SMTPREPLY_MORE;
}

/* smtpreply_class - 2, 3, 4 or 5 for a complete reply; 0 otherwise */
int
smtpreply_class(const struct smtpreply *r)
{
	if (!r->done)
		return 0;
	return r->code / 100;
}

/* word_eq - the n octets at p equal word, ignoring ASCII case */
static int
word_eq(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && str_eq_nocase_n(p, word, n);
}

/* auth_mechs - note PLAIN and LOGIN among blank-separated mechanisms */
static unsigned
auth_mechs(const char *p, size_t n)
{
	unsigned m = 0;
	size_t i = 0, start;

	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		start = i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		if (word_eq(p + start, i - start, "PLAIN"))
			m |= SMTPCAP_AUTH_PLAIN;
		else if (word_eq(p + start, i - start, "LOGIN"))
			m |= SMTPCAP_AUTH_LOGIN;
	}
	return m;
}

/* cap_line - note the capability one EHLO line names */
static void
cap_line(const char *p, size_t n, struct smtpcaps *caps)
{
	static const struct {
		const char *word;
		unsigned flag;
	} words[] = {
		{ "PIPELINING", SMTPCAP_PIPELINING },
		{ "STARTTLS", SMTPCAP_STARTTLS },
		{ "8BITMIME", SMTPCAP_8BITMIME },
		{ "SMTPUTF8", SMTPCAP_SMTPUTF8 },
		{ "DSN", SMTPCAP_DSN },
		{ "ENHANCEDSTATUSCODES", SMTPCAP_ENHANCED },
		{ "CHUNKING", SMTPCAP_CHUNKING },
		{ "BINARYMIME", SMTPCAP_BINARYMIME },
	};
	size_t k = 0, i, rest;
	uint64_t v;

	while (k < n && p[k] != ' ' && p[k] != '\t' && p[k] != '=')
		k++;
	rest = k < n ? k + 1 : n;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (word_eq(p, k, words[i].word)) {
			caps->flags |= words[i].flag;
			return;
		}
	if (word_eq(p, k, "SIZE")) {
		caps->flags |= SMTPCAP_SIZE;
		caps->size = 0;
		if (rest < n && str_parse_u64(p + rest, n - rest, UINT64_MAX,
		    &v) == 0)
			caps->size = v;
	} else if (word_eq(p, k, "AUTH")) {
		caps->flags |= SMTPCAP_AUTH;
		caps->auth |= auth_mechs(p + rest, n - rest);
	}
}

/* smtpreply_caps - the capabilities an EHLO reply lists */
void
smtpreply_caps(const struct smtpreply *r, struct smtpcaps *caps)
{
	const char *p, *end, *nl;

	caps->flags = 0;
	caps->size = 0;
	caps->auth = 0;
	if (r->text.len == 0)
		return;
	p = r->text.data;
	end = p + r->text.len;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		return;		/* the server's name alone */
	for (p = nl + 1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		cap_line(p, (size_t)(nl - p), caps);
	}
}

/* smtpreply_status - the enhanced code for a result from reply r */
void
smtpreply_status(const struct smtpreply *r, const char *fallback,
    char out[SMTPREPLY_STATUS_MAX + 1])
{
	char c = (char)('0' + (r->code / 100) % 10);
	size_t used;

	if (r->status[0] != '\0') {
		(void)str_copy(out, SMTPREPLY_STATUS_MAX + 1, r->status);
		return;
	}
	if (fallback != NULL && fallback[0] == c &&
	    smtpreply_parse_status(fallback, strlen(fallback), &used) == 0 &&
	    fallback[used] == '\0' &&
	    str_copy(out, SMTPREPLY_STATUS_MAX + 1, fallback) == 0)
		return;
	out[0] = c == '2' || c == '4' || c == '5' ? c : '4';
	out[1] = '\0';
	(void)str_copy(out + 1, SMTPREPLY_STATUS_MAX, ".0.0");
}

/* smtpreply_describe - append "CODE text" as one printable line */
int
smtpreply_describe(const struct smtpreply *r, struct buf *out, size_t max)
{
	size_t i, keep;
	char code[4];
	int cut;

	if (max < 8) {
		errno = ENOBUFS;
		return -1;
	}
	if (r->code >= 200 && r->code <= 599) {
		code[0] = (char)('0' + r->code / 100);
		code[1] = (char)('0' + r->code / 10 % 10);
		code[2] = (char)('0' + r->code % 10);
	} else
		code[0] = code[1] = code[2] = '?';
	if (buf_append(out, code, 3) < 0)
		return -1;
	if (r->text.len == 0)
		return 0;
	/* "CODE " takes 4 of max; a cut text leaves room for "...". */
	cut = r->text.len > max - 4;
	keep = cut ? max - 4 - 3 : r->text.len;
	if (buf_append_char(out, ' ') < 0)
		return -1;
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)r->text.data[i];

		if (c == '\n' || c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		if (buf_append_char(out, (char)c) < 0)
			return -1;
	}
	if (cut && buf_append(out, "...", 3) < 0)
		return -1;
	return 0;
}
