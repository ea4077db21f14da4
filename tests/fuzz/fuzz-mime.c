/*
 * fuzz-mime - the MIME parser, ENVELOPE and BODYSTRUCTURE
 *
 * The input is a stored message. mime_parse() must give a tree whose
 * parts all lie inside the text with sane links; ENVELOPE and
 * BODYSTRUCTURE (both forms) of every part must be written; every part
 * number path of up to three levels must resolve or fail cleanly; header
 * field selection must work (SECURITY I7, I8). Any inconsistency aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "From", "Subject", "Content-Type" };
	static const size_t lens[] = { 4, 7, 12 };
	struct mime_msg m;
	struct buf b = BUF_INIT(64 << 20);
	const char *text = (const char *)data;
	uint32_t path[3];
	size_t i;
	int part;

	mime_parse(text, size, &m);
	if (m.n == 0 || m.n > MIME_PARTS_MAX)
		abort();
	for (i = 0; i < m.n; i++) {
		const struct mime_part *p = &m.v[i];

		if (p->hdr_off > size || p->hdr_len > size - p->hdr_off ||
		    p->body_off > size || p->body_len > size - p->body_off ||
		    p->child >= (int)m.n || p->next >= (int)m.n ||
		    p->depth > MIME_DEPTH_MAX + 1)
			abort();
		buf_reset(&b);
		if (mime_write_bodystructure(&m, (int)i, 1, &b) < 0)
			abort();
		buf_reset(&b);
		(void)mime_write_bodystructure(&m, (int)i, 0, &b);
		buf_reset(&b);
		(void)mime_write_envelope(text + p->hdr_off, p->hdr_len, &b);
		buf_reset(&b);
		(void)mime_header_fields(text + p->hdr_off, p->hdr_len, names,
		    lens, 3, (int)(i & 1), &b);
		{
			char cs[64];

			if (mime_part_charset(&m, (int)i, cs, sizeof(cs)) == 0 &&
			    (cs[0] == '\0' || memchr(cs, '\0',
			    sizeof(cs)) == NULL))
				abort();
		}
	}
	for (path[0] = 1; path[0] <= 3; path[0]++)
		for (path[1] = 1; path[1] <= 3; path[1]++)
			for (path[2] = 1; path[2] <= 2; path[2]++)
				for (i = 1; i <= 3; i++)
					if (mime_find_part(&m, path, i,
					    &part) == 0 && (part < 0 ||
					    (size_t)part >= m.n))
						abort();
	mime_free(&m);
	buf_free(&b);
	return 0;
}
