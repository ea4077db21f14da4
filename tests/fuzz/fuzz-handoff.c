/*
 * fuzz-handoff - handoff_parse() on any octets; what it accepts must
 * encode again to the same octets (the format has one spelling).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct handoff h;
	struct buf again = BUF_INIT(HANDOFF_MAX + 64);
	const char *error = NULL;

	if (handoff_parse((const char *)data, size, &h, &error) < 0) {
		if (error == NULL)
			abort();
		return 0;
	}
	if (h.pending_len > sizeof(h.pending) ||
	    strlen(h.ticket) >= sizeof(h.ticket) ||
	    strlen(h.tag) >= sizeof(h.tag))
		abort();
	/* Leading zeros in the count are the only other spelling. */
	if (handoff_encode(&h, &again) < 0)
		abort();
	if (again.len == size && memcmp(again.data, data, size) != 0)
		abort();
	buf_free(&again);
	return 0;
}
