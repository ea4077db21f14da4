/*
 * fuzz-smtp-data - smtpd's DATA/BDAT byte machine, in-process, against a
 * reference model and against itself fed in other pieces.
 *
 * Input: a selector byte, a limit byte, then the bytes the client sends
 * after "354" (DATA) or the concatenated chunks (BDAT). Selector bits:
 * 0 BDAT mode, 1 Date:/Message-ID: fix-ups, 2 the DATA line ended in a
 * bare LF, 3-7 the seed of the piece sizes. The limit byte picks the
 * message size limit (0: none to speak of).
 *
 * Checked: feeding the input in one piece and in random pieces gives the
 * same bytes used, end, errors, size and output; without fix-ups, the end
 * is exactly the first CR LF "." CR LF (the DATA line's CR LF counting
 * as the first CR LF), and the errors, size and output are those of a
 * plain reference written the obvious, slow way; an accepted message has
 * no CR, no NUL and no line over 998 octets (S1, S2, A7).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "../../smtpd/smtpd-data.c"

#define FUZZ_MAX_INPUT	(256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct buf out;
	size_t used;
	int done, errors;
	uint64_t size;
	unsigned received;
};

/* collect - the sink: append to a buf */
static int
collect(void *ctx, const char *p, size_t n)
{
	if (buf_append(ctx, p, n) < 0)
		abort();
	return 0;
}

/* run_machine - feed in pieces chosen by seed (0: one piece) */
static void
run_machine(const char *in, size_t n, int mode, int fix, int midline,
    uint64_t limit, unsigned seed, struct run *r)
{
	static struct smtp_data d;
	size_t pos = 0, k, used;

	buf_init(&r->out, 8 * FUZZ_MAX_INPUT);
	smtp_data_init(&d, mode, limit, 1000, collect, &r->out);
	if (fix)
		smtp_data_fixups(&d, "Date: x\n", "Message-ID: <y>\n");
	if (midline)
		smtp_data_mid_line(&d);
	while (pos < n && !d.done) {
		k = n - pos;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % 37;
			if (k > n - pos)
				k = n - pos;
		}
		used = smtp_data_feed(&d, in + pos, k);
		if (used > k || (used < k && !d.done))
			abort();
		if (mode == SMTP_DATA_MODE_BDAT && used != k)
			abort();
		pos += used;
	}
	r->used = pos;
	r->done = d.done;
	r->errors = smtp_data_end(&d);
	r->size = d.size;
	r->received = d.received;
	if (mode == SMTP_DATA_MODE_BDAT && d.done)
		abort();
}

/* find_end - DATA: bytes up to and including the end, or 0 if none */
static size_t
find_end(const char *in, size_t n, int midline)
{
	size_t i;

	if (!midline && n >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= n; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* reference - the obvious model of the machine, on a whole message */
static void
reference(const char *in, size_t n, int bdat, uint64_t limit,
    struct buf *out, int *errors_r, uint64_t *size_r)
{
	uint64_t sz = 0;
	size_t i = 0, linelen = 0;
	int bol = 1, e = 0;

#define GROW(k) do { \
	if (!(e & SMTP_DATA_E_TOO_BIG)) { \
		if ((uint64_t)(k) > limit || sz > limit - (k)) \
			e |= SMTP_DATA_E_TOO_BIG; \
		else \
			sz += (k); \
	} \
} while (0)
#define TEXT(ch) do { \
	if ((ch) == '\0') \
		e |= SMTP_DATA_E_NUL; \
	if (++linelen > SMTPD_TEXT_LINE_MAX) \
		e |= SMTP_DATA_E_LONG_LINE; \
	GROW(1); \
	(void)buf_append_char(out, (ch)); \
} while (0)

	while (i < n) {
		char c = in[i];

		if (!bdat && bol && c == '.') {
			i++;
			bol = 0;
			continue;
		}
		bol = 0;
		if (c == '\r' && i + 1 < n && in[i + 1] == '\n') {
			GROW(2);
			linelen = 0;
			(void)buf_append_char(out, '\n');
			bol = 1;
			i += 2;
			continue;
		}
		if (c == '\r') {
			e |= SMTP_DATA_E_BARE_CR;
			TEXT('\r');
		} else if (c == '\n') {
			e |= SMTP_DATA_E_BARE_LF;
			linelen = 0;
			GROW(1);
		} else
			TEXT(c);
		i++;
	}
	if (bdat && linelen > 0)
		(void)buf_append_char(out, '\n');
	*errors_r = e;
	*size_r = sz;
#undef GROW
#undef TEXT
}

/* LLVMFuzzerTestOneInput - one message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { UINT64_MAX - 1, 0, 1, 10, 100,
	    1000, 4096, 65536 };
	struct run one, many;
	struct buf ref = BUF_INIT(8 * FUZZ_MAX_INPUT);
	const char *in;
	size_t n, end, i, line;
	uint64_t limit, rsize;
	unsigned seed;
	int mode, fix, midline, rerr;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return 0;
	mode = (data[0] & 1) ? SMTP_DATA_MODE_BDAT : SMTP_DATA_MODE_DATA;
	fix = (data[0] >> 1) & 1;
	midline = (data[0] >> 2) & 1;
	seed = 1u + (data[0] >> 3);
	limit = limits[data[1] % 8];
	in = (const char *)data + 2;
	n = size - 2;

	run_machine(in, n, mode, fix, midline, limit, 0, &one);
	run_machine(in, n, mode, fix, midline, limit, seed, &many);
	if (one.used != many.used || one.done != many.done ||
	    one.errors != many.errors || one.size != many.size ||
	    one.received != many.received || one.out.len != many.out.len ||
	    (one.out.len > 0 && memcmp(one.out.data, many.out.data,
	    one.out.len) != 0))
		abort();

	if (mode == SMTP_DATA_MODE_DATA) {
		end = find_end(in, n, midline);
		if (end == 0 ? (one.done || one.used != n) :
		    (!one.done || one.used != end))
			abort();
	}
	if (one.errors == 0) {
		for (i = 0, line = 0; i < one.out.len; i++) {
			char c = one.out.data[i];

			if (c == '\r' || c == '\0')
				abort();
			line = c == '\n' ? 0 : line + 1;
			if (line > SMTPD_TEXT_LINE_MAX)
				abort();
		}
	}
	if (!fix && !midline && (mode == SMTP_DATA_MODE_BDAT || one.done)) {
		size_t body = mode == SMTP_DATA_MODE_BDAT ? n : one.used - 3;

		reference(in, body, mode == SMTP_DATA_MODE_BDAT, limit, &ref,
		    &rerr, &rsize);
		if (rerr != (one.errors & ~SMTP_DATA_E_LOOP) ||
		    rsize != one.size)
			abort();
		if (one.errors == 0 && (ref.len != one.out.len ||
		    (ref.len > 0 && memcmp(ref.data, one.out.data,
		    ref.len) != 0)))
			abort();
	}
	buf_free(&ref);
	buf_free(&one.out);
	buf_free(&many.out);
	return 0;
}
