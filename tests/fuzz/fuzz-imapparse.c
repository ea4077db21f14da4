/*
 * fuzz-imapparse - the IMAP command parser and its interpreters
 *
 * The input is one assembled command (lines and literals, as imapd hands
 * it over). imap_parse() must accept or refuse it without reading outside
 * it; what it accepts is walked as a tree (every sub count must stay in
 * the array), then the sequence-set, FETCH, SEARCH, date, modified UTF-7
 * and literal-announcement parsers run over its arguments (SECURITY I2,
 * I4, I5). Any inconsistency aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imapparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one command */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_cmd c = { 0 };
	struct imap_seqset set;
	struct imap_fetch f;
	struct imap_search s;
	struct buf b = BUF_INIT(1 << 20);
	const char *error;
	char *text = malloc(size + 1);
	uint64_t n;
	size_t i, st;
	int plus;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)imap_literal_announce(text, size, &n, &plus, &st);
	if (imap_parse(text, size, &c, &error) == 0) {
		for (i = 0; i < c.nargs; i++) {
			const struct imap_arg *a = &c.args[i];

			if (i + a->sub >= c.nargs && a->sub != 0)
				abort();
			if (a->type != IMAP_ARG_LIST &&
			    (a->s < text || a->s + a->len > text + size))
				abort();
			if (imap_arg_is_string(a)) {
				if (imap_seqset_parse(a->s, a->len, &set,
				    &error) == 0) {
					imap_seqset_resolve(&set, 100);
					(void)imap_seqset_contains(&set, 50);
					imap_seqset_free(&set);
				}
				buf_reset(&b);
				(void)imap_mutf7_to_utf8(a->s, a->len, &b);
				{
					time_t t;

					(void)imap_parse_date(a->s, a->len, &t);
					(void)imap_parse_datetime(a->s, a->len,
					    &t);
				}
			}
		}
		for (i = 0; i < c.nargs; i = imap_arg_next(&c, i)) {
			if (imap_fetch_parse(&c, i, &f, &error) == 0) {
				size_t k;

				for (k = 0; k < f.n; k++) {
					buf_reset(&b);
					(void)imap_fetch_section_name(&f.v[k],
					    &b);
				}
				imap_fetch_free(&f);
			}
			if (imap_search_parse(&c, i, &s, &error) == 0)
				imap_search_free(&s);
		}
	}
	imap_cmd_free(&c);
	buf_free(&b);
	free(text);
	return 0;
}
