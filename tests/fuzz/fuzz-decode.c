/*
 * fuzz-decode - the Content-Transfer-Encoding decoders
 *
 * The first octet picks the encoding (base64, quoted-printable, 8bit or
 * an unknown one) and the output limit; the rest is the encoded data.
 * Decoding must succeed or fail with EILSEQ / ENOBUFS / EINVAL and an
 * error message, never produce more octets than the input, never pass
 * the buf's limit, and decoding the same input twice must agree. Any
 * inconsistency aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one selector octet, then encoded data */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ctes[] = { "base64", "quoted-printable",
	    "8bit", "x-unknown" };
	struct buf a, b;
	const char *in, *error = NULL, *cte;
	size_t len, max;
	int r, r2, e;

	if (size < 1)
		return 0;
	cte = ctes[data[0] & 3];
	max = (data[0] & 4) ? 16 : 1 << 20;
	in = (const char *)data + 1;
	len = size - 1;
	buf_init(&a, max);
	buf_init(&b, max);
	errno = 0;
	r = decode_cte(cte, in, len, &a, &error);
	e = errno;
	if (r == 0) {
		if (a.len > len || a.len > max)
			abort();
		if ((data[0] & 3) == 2 && (a.len != len ||
		    (len > 0 && memcmp(a.data, in, len) != 0)))
			abort();
	} else {
		if (r != -1 || error == NULL)
			abort();
		if (e != EILSEQ && e != ENOBUFS && e != EINVAL && e != ENOMEM)
			abort();
		if (e == EINVAL && (data[0] & 3) != 3)
			abort();
		if (a.len > max)
			abort();
	}
	r2 = decode_cte(cte, in, len, &b, NULL);
	if (r2 != r || (r == 0 && (a.len != b.len ||
	    (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))))
		abort();
	/* RFC 2047 words: never more than twice the input, never fails
	 * but for the output limit. */
	buf_reset(&a);
	r = decode_words(in, len, &a);
	if ((r == 0 && a.len > 2 * len) || (r < 0 && max > 2 * len) ||
	    a.len > max)
		abort();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
