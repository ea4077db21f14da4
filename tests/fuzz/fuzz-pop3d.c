/*
 * fuzz-pop3d - pop3d's command parser, SASL decoding and message output
 *
 * The input is cut into lines at LF, as pop3d_read_line() does (a CR
 * before the LF is dropped); each line goes through pop3d_parse(), and
 * through the base64 decoder and the PLAIN splitter as an AUTH response
 * would. Whatever the parser accepts is checked against the grammar it
 * promises (keyword set, argument bounds, numbers, pointers inside the
 * line). Then the whole input is sent through the RETR/TOP converter,
 * once in one piece and once in pieces, and the text must be the same
 * both times, hold CR and LF only as CR LF pairs, end with the one
 * terminator, and count as many octets as mailbox_crlf_count() says
 * (SECURITY.md P2, P4). Any difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../pop3d/pop3d-cmd.c"
#include "../../pop3d/pop3d-output.c"
#include "mailbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* inside - 1 if p[0..n) lies within line[0..len) */
static int
inside(const char *line, size_t len, const char *p, size_t n)
{
	return p >= line && n <= len && (size_t)(p - line) <= len - n;
}

/* check_cmd - what pop3d_parse accepted must fit its grammar */
static void
check_cmd(const char *line, size_t len, int r, const struct pop3d_cmd *c)
{
	struct buf b = BUF_INIT(POP3D_SASL_LINE_MAX);
	const char *z, *a, *p;
	size_t zl, al, pl;

	if (r != POP3D_PARSE_OK && r != POP3D_PARSE_UNKNOWN &&
	    r != POP3D_PARSE_SYNTAX && r != POP3D_PARSE_RANGE)
		abort();
	if (r == POP3D_PARSE_UNKNOWN && c->id != POP3D_CMD_UNKNOWN)
		abort();
	if (r != POP3D_PARSE_OK)
		return;
	if (c->id == POP3D_CMD_UNKNOWN || len < 3)
		abort();
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL)
		abort();
	if (c->nnum < 0 || c->nnum > 2)
		abort();
	switch (c->id) {
	case POP3D_CMD_RETR:
	case POP3D_CMD_DELE:
		if (c->nnum != 1)
			abort();
		break;
	case POP3D_CMD_TOP:
		if (c->nnum != 2)
			abort();
		break;
	case POP3D_CMD_LIST:
	case POP3D_CMD_UIDL:
		if (c->nnum > 1)
			abort();
		break;
	default:
		if (c->nnum != 0)
			abort();
	}
	if (c->id == POP3D_CMD_USER || c->id == POP3D_CMD_PASS) {
		if (c->arg == NULL || c->arg_len == 0 ||
		    c->arg_len > POP3D_ARG_MAX ||
		    !inside(line, len, c->arg, c->arg_len))
			abort();
	}
	if (c->id == POP3D_CMD_USER && memchr(c->arg, ' ', c->arg_len) != NULL)
		abort();
	if (c->arg != NULL && !inside(line, len, c->arg, c->arg_len))
		abort();
	if (c->arg2 != NULL) {
		if (c->arg == NULL || !inside(line, len, c->arg2, c->arg2_len))
			abort();
		/* As an initial response: decode, then split as PLAIN. */
		if (pop3d_base64_decode(c->arg2, c->arg2_len, &b) == 0 &&
		    b.len > 0 && pop3d_sasl_plain(b.data, b.len, &z, &zl, &a,
		    &al, &p, &pl) == 0 && (al == 0 || pl == 0 ||
		    zl + al + pl + 2 != b.len))
			abort();
	}
	buf_free(&b);
}

/* check_sasl - a line as a SASL response */
static void
check_sasl(const char *line, size_t len)
{
	struct buf b = BUF_INIT(POP3D_SASL_LINE_MAX);
	const char *z, *a, *p;
	size_t zl, al, pl;

	if (pop3d_base64_decode(line, len, &b) == 0) {
		if (b.len > len)
			abort();
		if (pop3d_sasl_plain(b.data != NULL ? b.data : "", b.len, &z,
		    &zl, &a, &al, &p, &pl) == 0 &&
		    (memchr(a, '\0', al) != NULL ||
		    memchr(p, '\0', pl) != NULL))
			abort();
	}
	buf_free(&b);
}

/* check_output - the converter's text for the whole input */
static void
check_output(const uint8_t *data, size_t size, int limited, uint64_t lines)
{
	struct buf whole = BUF_INIT(2 * 65536 + 64);
	struct buf parts = BUF_INIT(2 * 65536 + 64);
	struct mailbox_crlf cc = { 0, 0 };
	struct pop3d_out o, o2;
	size_t i, step;

	pop3d_out_init(&o, limited, lines);
	if (pop3d_out_feed(&o, data, size, &whole) < 0 ||
	    pop3d_out_end(&o, &whole) < 0)
		abort();
	pop3d_out_init(&o2, limited, lines);
	step = size > 0 ? (size_t)data[0] % 7 + 1 : 1;
	for (i = 0; i < size; i += step) {
		size_t n = size - i < step ? size - i : step;

		if (pop3d_out_feed(&o2, data + i, n, &parts) < 0)
			abort();
	}
	if (pop3d_out_end(&o2, &parts) < 0)
		abort();
	if (whole.len != parts.len || o.octets != o2.octets ||
	    memcmp(whole.data, parts.data, whole.len) != 0)
		abort();
	/* CR and LF only as CR LF; the terminator only at the end. */
	for (i = 0; i < whole.len; i++) {
		if (whole.data[i] == '\r' &&
		    (i + 1 == whole.len || whole.data[i + 1] != '\n'))
			abort();
		if (whole.data[i] == '\n' &&
		    (i == 0 || whole.data[i - 1] != '\r'))
			abort();
		if (whole.data[i] == '.' && (i == 0 ||
		    whole.data[i - 1] == '\n') && i + 3 <= whole.len &&
		    memcmp(whole.data + i, ".\r\n", 3) == 0 &&
		    i + 3 != whole.len)
			abort();
	}
	if (whole.len < 3 ||
	    memcmp(whole.data + whole.len - 3, ".\r\n", 3) != 0)
		abort();
	if (!limited) {
		mailbox_crlf_count(&cc, data, size);
		if (cc.octets != o.octets)
			abort();
	}
	buf_free(&whole);
	buf_free(&parts);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct pop3d_cmd c;
	size_t pos = 0, end, len;
	int r;

	if (size > 60000)
		return 0;
	while (pos < size) {
		const char *nl = memchr(s + pos, '\n', size - pos);

		end = nl != NULL ? (size_t)(nl - s) : size;
		len = end - pos;
		if (len > 0 && s[pos + len - 1] == '\r')
			len--;
		if (len <= POP3D_SASL_LINE_MAX) {
			r = pop3d_parse(s + pos, len, &c);
			check_cmd(s + pos, len, r, &c);
			check_sasl(s + pos, len);
		}
		pos = end + 1;
	}
	check_output(data, size, 0, 0);
	check_output(data, size, 1, size > 0 ? data[size - 1] % 5 : 0);
	return 0;
}
