/* fuzz-queue - queue entries as smtpq and mailctl read them (SECURITY Q5) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "buf.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - parse an entry; what parses must rebuild exactly */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *err = NULL, *rest;
	struct queue_entry e, hdr;
	struct queue_slot s;
	struct buf again = BUF_INIT(QUEUE_HEAD_MAX);
	char status[BOUNCE_STATUS_MAX + 1], text[QUEUE_TEXT_MAX + 2];
	size_t i;

	/* Every slot-sized piece as a slot: parse, and round trip. */
	for (i = 0; i + QUEUE_SLOT_SIZE <= size && i < 8 * QUEUE_SLOT_SIZE;
	    i += QUEUE_SLOT_SIZE) {
		char out[QUEUE_SLOT_SIZE];

		if (queue_slot_parse(p + i, &s) == 0 &&
		    (queue_slot_format(&s, out) < 0 ||
		    memcmp(out, p + i, QUEUE_SLOT_SIZE) != 0))
			abort();
	}
	/* The text helpers see the input too. */
	if (size > 0) {
		size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

		memcpy(text, p, n);
		text[n] = '\0';
		bounce_status(text, BOUNCE_FAILURE, status, &rest);
		if (strlen(status) > BOUNCE_STATUS_MAX)
			abort();
		queue_slot_init(&s);
		queue_slot_set_text(&s, text);
		if (strlen(s.text) > QUEUE_TEXT_MAX)
			abort();
		if (bounce_header_end(p, size) > size)
			abort();
	}

	queue_entry_init(&hdr);
	queue_entry_init(&e);
	if (queue_header_parse(p, size, &hdr, &err) == 0 &&
	    hdr.msg_off <= size &&
	    queue_parse(p, (size_t)hdr.msg_off, size, &e, &err) == 0) {
		/* Parsed: the fields are in range and the head rebuilds. */
		if (e.n_rcpts == 0 || e.n_rcpts != e.env.n_rcpts ||
		    e.msg_off + e.msg_len != size || e.env.sender == NULL)
			abort();
		if (queue_head_build(&e, p + queue_slot_offset(e.n_rcpts),
		    (size_t)e.env_len, &again) < 0 ||
		    again.len != e.msg_off ||
		    memcmp(again.data, p, again.len) != 0)
			abort();
	}
	queue_entry_free(&e);
	queue_entry_free(&hdr);
	buf_free(&again);
	return 0;
}
