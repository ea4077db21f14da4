/*
 * NAME
 *	authproto - the authd request and reply lines
 *
 * SYNOPSIS
 *	int authproto_parse_request(const char *line, size_t len,
 *	    struct authproto_request *r, const char **error_r);
 *	int authproto_format_request(const struct authproto_request *r,
 *	    struct buf *out);
 *	int authproto_parse_reply(const char *line, size_t len,
 *	    struct authproto_reply *r, const char **error_r);
 *	int authproto_format_reply(const struct authproto_reply *r,
 *	    struct buf *out);
 *	void authproto_request_wipe(struct authproto_request *r);
 *	int authproto_service_ok(const char *s);
 *	int authproto_ticket_ok(const char *s, size_t len);
 *
 * DESCRIPTION
 *	The format is in authproto.h. The parsers take one line without its
 *	LF (len octets, which may hold NUL bytes: they are refused) and fill
 *	a request or reply; the formatters append one line with its LF to
 *	out. authproto_request_wipe() clears a request (the password) with
 *	explicit_bzero(). authproto_service_ok() and authproto_ticket_ok()
 *	check one field.
 *
 * DIAGNOSTICS
 *	Parsers: 0, or -1 with errno EINVAL and a static reason in *error_r.
 *	Formatters: 0, or -1 with errno EINVAL (a field that would not
 *	parse) or ENOBUFS (out is full). All permanent: the input is wrong.
 *
 * SECURITY
 *	No privileges, no I/O. Requests come from any local process: every
 *	field is checked against its limit before it is copied.
 */
#include <errno.h>
#include <string.h>

#include "authproto.h"
#include "buf.h"
#include "sasl.h"
#include "str.h"

#define FIELDS_MAX	6	/* one more than any line has */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A field of a line: where it starts and how long it is. */
struct field {
	const char *p;
	size_t len;
};

/* split - cut line at TABs into at most FIELDS_MAX fields; the count */
static int
split(const char *line, size_t len, struct field *f)
{
	size_t start = 0, i;
	int n = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		if (n == FIELDS_MAX)
			return FIELDS_MAX + 1;
		f[n].p = line + start;
		f[n].len = i - start;
		n++;
		start = i + 1;
	}
	return n;
}

/* is - 1 if field f is exactly the word s */
static int
is(const struct field *f, const char *s)
{
	return f->len == strlen(s) && memcmp(f->p, s, f->len) == 0;
}

/* text_ok - 1 if p[0..len) holds no control character (or NUL) */
static int
text_ok(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* service_ok_n - 1 if p[0..len) is a service name */
static int
service_ok_n(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > AUTHPROTO_SERVICE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* authproto_service_ok - 1 if s is a service name */
int
authproto_service_ok(const char *s)
{
	return service_ok_n(s, strnlen(s, AUTHPROTO_SERVICE_MAX + 1));
}

/* ip_ok - 1 if p[0..len) is "-" or made of hex digits, '.' and ':' */
static int
ip_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 1 && p[0] == '-')
		return 1;
	if (len == 0 || len > AUTHPROTO_IP_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F') || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* authproto_ticket_ok - 1 if s[0..len) is a ticket: 32 lower-case hex */
int
authproto_ticket_ok(const char *s, size_t len)
{
	size_t i;

	if (len != AUTHPROTO_TICKET_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* user_ok - 1 if p[0..len) may be a user name on the wire */
static int
user_ok(const char *p, size_t len)
{
	return len > 0 && len <= AUTH_USER_MAX && text_ok(p, len);
}

/* copy_field - f into out (size > f->len) as a C string */
static void
copy_field(char *out, size_t size, const struct field *f)
{
	/* UNSAFE: every caller checked f->len < size first. */
	if (f->len >= size) {
		out[0] = '\0';
		return;
	}
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
}

/* bad - fail with EINVAL and why */
static int
bad(const char **error_r, const char *why)
{
	*error_r = why;
	errno = EINVAL;
	return -1;
}

/* authproto_request_wipe - clear a request, password included */
void
authproto_request_wipe(struct authproto_request *r)
{
	explicit_bzero(r, sizeof(*r));
}

/* decode_password - strict base64 of f into r->password */
static int
decode_password(const struct field *f, struct authproto_request *r)
{
	struct buf out = BUF_INIT(AUTHPROTO_PASSWORD_MAX);
	int ok;

	/* UNSAFE: 4 * ceil(MAX / 3) bounds the encoded length. */
	if (f->len > 4 * ((AUTHPROTO_PASSWORD_MAX + 2) / 3))
		return -1;
	ok = sasl_b64_decode(f->p, f->len, &out) == 0 &&
	    out.len <= sizeof(r->password);
	if (ok) {
		if (out.len > 0)
			memcpy(r->password, out.data, out.len);
		r->password_len = out.len;
	}
	if (out.data != NULL)
		explicit_bzero(out.data, out.cap);
	buf_free(&out);
	return ok ? 0 : -1;
}

/* authproto_parse_request - one request line (without LF) into r */
int
authproto_parse_request(const char *line, size_t len,
    struct authproto_request *r, const char **error_r)
{
	struct field f[FIELDS_MAX];
	int n;

	memset(r, 0, sizeof(*r));
	if (len >= AUTHPROTO_LINE_MAX)
		return bad(error_r, "line too long");
	if (memchr(line, '\0', len) != NULL)
		return bad(error_r, "NUL in line");
	n = split(line, len, f);
	if (n >= 1 && is(&f[0], "PASS")) {
		if (n != 5)
			return bad(error_r, "PASS takes 4 fields");
		if (!service_ok_n(f[1].p, f[1].len))
			return bad(error_r, "bad service");
		if (!ip_ok(f[2].p, f[2].len))
			return bad(error_r, "bad client address");
		if (!user_ok(f[3].p, f[3].len))
			return bad(error_r, "bad user name");
		if (decode_password(&f[4], r) < 0) {
			authproto_request_wipe(r);
			return bad(error_r, "bad password field");
		}
		r->type = AUTHPROTO_PASS;
		copy_field(r->service, sizeof(r->service), &f[1]);
		copy_field(r->ip, sizeof(r->ip), &f[2]);
		copy_field(r->user, sizeof(r->user), &f[3]);
		return 0;
	}
	if (n >= 1 && is(&f[0], "TICKET")) {
		if (n != 3)
			return bad(error_r, "TICKET takes 2 fields");
		if (!service_ok_n(f[1].p, f[1].len))
			return bad(error_r, "bad service");
		if (!authproto_ticket_ok(f[2].p, f[2].len))
			return bad(error_r, "bad ticket");
		r->type = AUTHPROTO_TICKET;
		copy_field(r->service, sizeof(r->service), &f[1]);
		copy_field(r->ticket, sizeof(r->ticket), &f[2]);
		return 0;
	}
	return bad(error_r, "unknown request");
}

/* b64_append - append the base64 of p[0..n) to out */
static int
b64_append(struct buf *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned long w = (unsigned long)p[i] << 16;
		char o[4];

		if (i + 1 < n)
			w |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			w |= p[i + 2];
		o[0] = b64_alphabet[(w >> 18) & 63];
		o[1] = b64_alphabet[(w >> 12) & 63];
		o[2] = i + 1 < n ? b64_alphabet[(w >> 6) & 63] : '=';
		o[3] = i + 2 < n ? b64_alphabet[w & 63] : '=';
		if (buf_append(out, o, 4) < 0)
			return -1;
	}
	return 0;
}

/* finish_line - end the line at start in out; ENOBUFS if too long */
static int
finish_line(struct buf *out, size_t start)
{
	if (buf_append_char(out, '\n') < 0)
		return -1;
	if (out->len - start > AUTHPROTO_LINE_MAX) {
		buf_truncate(out, start);
		errno = ENOBUFS;
		return -1;
	}
	return 0;
}

/* invalid - errno EINVAL, -1 */
static int
invalid(void)
{
	errno = EINVAL;
	return -1;
}

/* authproto_format_request - r as one line, appended to out */
int
authproto_format_request(const struct authproto_request *r, struct buf *out)
{
	size_t start = out->len;

	if (!authproto_service_ok(r->service))
		return invalid();
	if (r->type == AUTHPROTO_PASS) {
		if (!ip_ok(r->ip, strnlen(r->ip, sizeof(r->ip))) ||
		    !user_ok(r->user, strnlen(r->user, sizeof(r->user))) ||
		    r->password_len > sizeof(r->password))
			return invalid();
		if (buf_printf(out, "PASS\t%s\t%s\t%s\t", r->service, r->ip,
		    r->user) < 0 || b64_append(out,
		    (const unsigned char *)r->password, r->password_len) < 0) {
			buf_truncate(out, start);
			return -1;
		}
	} else if (r->type == AUTHPROTO_TICKET) {
		if (!authproto_ticket_ok(r->ticket, strnlen(r->ticket,
		    sizeof(r->ticket))))
			return invalid();
		if (buf_printf(out, "TICKET\t%s\t%s", r->service,
		    r->ticket) < 0) {
			buf_truncate(out, start);
			return -1;
		}
	} else
		return invalid();
	return finish_line(out, start);
}

/* parse_wait - a decimal 0..AUTHPROTO_WAIT_MAX */
static int
parse_wait(const struct field *f, unsigned *wait_r)
{
	uint64_t v;

	if (f->len == 0 || f->len > 5 ||
	    str_parse_u64(f->p, f->len, AUTHPROTO_WAIT_MAX, &v) < 0)
		return -1;
	*wait_r = (unsigned)v;
	return 0;
}

/* authproto_parse_reply - one reply line (without LF) into r */
int
authproto_parse_reply(const char *line, size_t len,
    struct authproto_reply *r, const char **error_r)
{
	struct field f[FIELDS_MAX];
	int n;

	memset(r, 0, sizeof(*r));
	if (len >= AUTHPROTO_LINE_MAX)
		return bad(error_r, "line too long");
	if (memchr(line, '\0', len) != NULL)
		return bad(error_r, "NUL in line");
	n = split(line, len, f);
	if (n >= 1 && is(&f[0], "OK")) {
		if (n != 2 && n != 3)
			return bad(error_r, "OK takes 1 or 2 fields");
		if (!user_ok(f[1].p, f[1].len))
			return bad(error_r, "bad user name");
		if (n == 3 && !authproto_ticket_ok(f[2].p, f[2].len))
			return bad(error_r, "bad ticket");
		r->kind = AUTHPROTO_OK;
		copy_field(r->user, sizeof(r->user), &f[1]);
		if (n == 3)
			copy_field(r->ticket, sizeof(r->ticket), &f[2]);
		return 0;
	}
	if (n >= 1 && is(&f[0], "NO")) {
		if (n != 4)
			return bad(error_r, "NO takes 3 fields");
		if (is(&f[1], "throttled"))
			r->throttled = 1;
		else if (!is(&f[1], "auth"))
			return bad(error_r, "bad refusal kind");
		if (parse_wait(&f[2], &r->wait) < 0)
			return bad(error_r, "bad wait");
		if (f[3].len > AUTHPROTO_TEXT_MAX || !text_ok(f[3].p, f[3].len))
			return bad(error_r, "bad text");
		r->kind = AUTHPROTO_NO;
		copy_field(r->text, sizeof(r->text), &f[3]);
		return 0;
	}
	if (n >= 1 && is(&f[0], "TEMP")) {
		if (n != 2)
			return bad(error_r, "TEMP takes 1 field");
		if (f[1].len > AUTHPROTO_TEXT_MAX || !text_ok(f[1].p, f[1].len))
			return bad(error_r, "bad text");
		r->kind = AUTHPROTO_TEMP;
		copy_field(r->text, sizeof(r->text), &f[1]);
		return 0;
	}
	return bad(error_r, "unknown reply");
}

/* authproto_format_reply - r as one line, appended to out */
int
authproto_format_reply(const struct authproto_reply *r, struct buf *out)
{
	size_t start = out->len, tlen = strnlen(r->text, sizeof(r->text));
	int e;

	if (r->kind == AUTHPROTO_OK) {
		size_t klen = strnlen(r->ticket, sizeof(r->ticket));

		if (!user_ok(r->user, strnlen(r->user, sizeof(r->user))) ||
		    (klen > 0 && !authproto_ticket_ok(r->ticket, klen)))
			return invalid();
		e = buf_printf(out, "OK\t%s%s%s", r->user, klen > 0 ? "\t" :
		    "", r->ticket);
	} else if (r->kind == AUTHPROTO_NO) {
		if (tlen > AUTHPROTO_TEXT_MAX || !text_ok(r->text, tlen) ||
		    r->wait > AUTHPROTO_WAIT_MAX)
			return invalid();
		e = buf_printf(out, "NO\t%s\t%u\t%s", r->throttled ?
		    "throttled" : "auth", r->wait, r->text);
	} else if (r->kind == AUTHPROTO_TEMP) {
		if (tlen > AUTHPROTO_TEXT_MAX || !text_ok(r->text, tlen))
			return invalid();
		e = buf_printf(out, "TEMP\t%s", r->text);
	} else
		return invalid();
	if (e < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return finish_line(out, start);
}
