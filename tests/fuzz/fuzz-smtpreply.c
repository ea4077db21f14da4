/*
 * fuzz-smtpreply - what an SMTP server can send remote(8), and what remote
 * sends it: the reply parser (smtpreply.c) and the DATA encoder
 * (smtpq/remote-data.c, compiled in).
 *
 * The first octet picks the target:
 *   even: the input is a server's byte stream, cut at each LF (a CR
 *         before it dropped) as remote's line reader does; each line goes
 *         to smtpreply_line(); a complete reply is described, its status
 *         and capabilities read. Checks: every bound of smtpreply.h holds,
 *         the description is printable ASCII within its limit, a code is
 *         200..559.
 *   odd:  the input is a stored message, fed to the encoder in pieces
 *         whose sizes come from the second octet. Checks: CR LF lines
 *         only, none longer than 998 octets, the only "." line the last
 *         one (SECURITY.md R2), and the same output as one piece.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpq/remote-data.c"
#include "smtpreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_reply - the invariants of a complete reply */
static void
check_reply(const struct smtpreply *r)
{
	struct buf d = BUF_INIT(4096);
	struct smtpcaps caps;
	char st[SMTPREPLY_STATUS_MAX + 1];
	size_t i, used;

	if (!r->done || r->code < 200 || r->code > 559 || r->code % 100 > 59 ||
	    r->lines == 0 || r->lines > SMTPREPLY_LINES_MAX ||
	    r->text.len > SMTPREPLY_LINES_MAX * (SMTPREPLY_LINE_MAX + 1))
		abort();
	if (r->status[0] != '\0' && (r->status[0] != '0' + r->code / 100 ||
	    smtpreply_parse_status(r->status, strlen(r->status), &used) < 0 ||
	    used != strlen(r->status)))
		abort();
	smtpreply_status(r, "4.7.8", st);
	if (st[0] != '0' + r->code / 100 && !(r->code / 100 == 3 &&
	    st[0] == '4'))
		abort();
	if (smtpreply_describe(r, &d, 500) < 0 || d.len > 500)
		abort();
	for (i = 0; i < d.len; i++)
		if ((unsigned char)d.data[i] < 0x20 ||
		    (unsigned char)d.data[i] >= 0x7f)
			abort();
	smtpreply_caps(r, &caps);
	buf_free(&d);
}

/* replies - the stream as lines, through the parser */
static void
replies(const uint8_t *data, size_t size)
{
	struct smtpreply r;
	const char *p = (const char *)data, *end = p + size, *nl, *why;
	size_t n;
	int k;

	smtpreply_init(&r);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		k = smtpreply_line(&r, p, n, &why);
		if (k == SMTPREPLY_DONE) {
			check_reply(&r);
			smtpreply_reset(&r);
		} else if (k < 0) {
			if (why == NULL)
				abort();
			smtpreply_reset(&r);
		} else if (r.lines > SMTPREPLY_LINES_MAX)
			abort();
		p += nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (nl == NULL)
			break;
	}
	smtpreply_free(&r);
}

/* wire_check - valid DATA, as described above */
static void
wire_check(const char *out, size_t n)
{
	size_t i, col = 0, start = 0;

	if (n < 3 || memcmp(out + n - 3, ".\r\n", 3) != 0)
		abort();
	for (i = 0; i < n; i++) {
		if (out[i] == '\r') {
			if (i + 1 >= n || out[i + 1] != '\n')
				abort();
			if (i - start == 1 && out[start] == '.' && i + 2 != n)
				abort();
			i++;
			col = 0;
			start = i + 1;
		} else if (out[i] == '\n' || ++col > REMOTE_DATA_LINE)
			abort();
	}
}

/* encode - the message through the encoder, in pieces and whole */
static void
encode(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT(4 * 65536 + 16), b = BUF_INIT(4 * 65536 + 16);
	struct dataenc e, f;
	size_t piece, i, k;

	if (size < 1)
		return;
	piece = 1 + data[0];
	data++;
	size--;
	data_init(&e);
	for (i = 0; i < size; i += k) {
		k = size - i < piece ? size - i : piece;
		if (data_feed(&e, (const char *)data + i, k, &a) < 0)
			abort();
	}
	if (data_end(&e, &a) < 0)
		abort();
	wire_check(a.data, a.len);
	data_init(&f);
	if (data_feed(&f, (const char *)data, size, &b) < 0 ||
	    data_end(&f, &b) < 0)
		abort();
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0 ||
	    e.wire != f.wire || e.wire > a.len)
		abort();
	buf_free(&a);
	buf_free(&b);
}

/* LLVMFuzzerTestOneInput - the first octet picks the target */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 60000)
		return 0;
	if (data[0] & 1)
		encode(data + 1, size - 1);
	else
		replies(data + 1, size - 1);
	return 0;
}
