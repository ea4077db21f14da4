/* fuzz-envelope - envelope records as inject(8) reads them from a pipe */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - decode, and re-encode what decoded */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope env, again;
	struct buf wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	const char *err = NULL;
	size_t used = 0, used2 = 0;

	envelope_init(&env);
	if (envelope_decode((const char *)data, size, &env, &used, &err) == 0) {
		if (used > size)
			abort();
		/* What decodes must encode, and decode to the same thing. */
		if (envelope_encode(&env, &wire) < 0)
			abort();
		envelope_init(&again);
		if (envelope_decode(wire.data, wire.len, &again, &used2,
		    &err) < 0 || used2 != wire.len ||
		    again.n_rcpts != env.n_rcpts ||
		    strcmp(again.sender, env.sender) != 0)
			abort();
		envelope_free(&again);
	}
	envelope_free(&env);
	buf_free(&wire);
	return 0;
}
