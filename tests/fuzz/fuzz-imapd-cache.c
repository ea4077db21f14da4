/*
 * fuzz-imapd-cache - imapd's SEARCH cache file, read back and rewritten
 *
 * The input is the content of an "imapd.cache.subject" file in a folder
 * whose UIDVALIDITY is the one the input names (so that both the
 * rejecting and the accepting paths are taken) and whose view holds the
 * UIDs 1..VIEW. fcache_open() must accept it or drop it whole; every
 * value fcache_get() returns must lie inside what was read; new values
 * are added, the file written again (the real rename path in a
 * temporary folder) and read back: each UID of the view that was found
 * or added must come back with the same value. The input is also read
 * as a header block by fcache_value(). Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../imapd/imapd-cache.c"

#define VIEW	64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dir_fd = -1;
static char dir_name[] = "/tmp/fuzz-imapd-cache-XXXXXX";

/* index_lock, index_unlock, index_write_file - imapd-index.c's, enough
   of them for one process and one folder */
int
index_lock(struct imapd_box *b)
{
	(void)b;
	return 0;
}

void
index_unlock(struct imapd_box *b)
{
	(void)b;
}

int
index_write_file(struct imapd_box *b, const char *name,
    const struct buf *d)
{
	FILE *f;
	int fd = openat(b->fd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		abort();
	if (d->len > 0 && fwrite(d->data, 1, d->len, f) != d->len)
		abort();
	if (fclose(f) != 0)
		abort();
	return 0;
}

/* cleanup - remove the temporary folder at exit */
static void
cleanup(void)
{
	(void)unlinkat(dir_fd, "imapd.cache.subject", 0);
	(void)unlinkat(dir_fd, "imapd.cache.subject.tmp", 0);
	(void)rmdir(dir_name);
}

/* setup - a temporary folder, once */
static void
setup(void)
{
	if (dir_fd >= 0)
		return;
	if (mkdtemp(dir_name) == NULL ||
	    (dir_fd = open(dir_name, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
	(void)atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct imapd_msg view[VIEW];
	struct imapd_box b;
	struct fcache c;
	struct buf u = BUF_INIT(2 * MIME_FIELD_MAX + 16);
	char want[VIEW][24];
	size_t wlen[VIEW];
	int have[VIEW];
	const char *v;
	size_t vl, i;

	setup();
	memset(&b, 0, sizeof(b));
	b.fd = dir_fd;
	b.v = view;
	b.n = VIEW;
	for (i = 0; i < VIEW; i++)
		view[i].uid = (uint32_t)(i + 1);
	if (size >= 12)
		memcpy(&b.uidvalidity, data + 8, sizeof(b.uidvalidity));
	index_write_file(&b, "imapd.cache.subject",
	    &(struct buf){ .data = (char *)(uintptr_t)data, .len = size });

	fcache_open(&c, &b, "Subject", 7);
	for (i = 0; i < VIEW; i++) {
		have[i] = 0;
		if (fcache_get(&c, (uint32_t)(i + 1), &v, &vl) != 1)
			continue;
		if (v != NULL && (v < c.data.data || vl > c.data.len ||
		    (size_t)(v - c.data.data) > c.data.len - vl))
			abort();
		/* Remember short values to compare after the rewrite. */
		if (v != NULL && vl < sizeof(want[i])) {
			memcpy(want[i], v, vl);
			wlen[i] = vl;
			have[i] = 1;
		}
	}
	/* New values for every other UID not kept, ascending. */
	for (i = 0; i < VIEW; i += 2)
		if (fcache_get(&c, (uint32_t)(i + 1), &v, &vl) == 0) {
			wlen[i] = (size_t)snprintf(want[i], sizeof(want[i]),
			    "v%zu", i);
			fcache_put(&c, (uint32_t)(i + 1), 1, want[i],
			    wlen[i]);
			have[i] = 1;
		}
	fcache_close(&c, &b);

	fcache_open(&c, &b, "subject", 7);
	for (i = 0; i < VIEW; i++) {
		if (!have[i])
			continue;
		/* Not rewritten (too few new values): the old file stands. */
		if (fcache_get(&c, (uint32_t)(i + 1), &v, &vl) != 1)
			continue;
		if (v == NULL || vl != wlen[i] || memcmp(v, want[i], vl) != 0)
			abort();
	}
	fcache_close(&c, &b);

	(void)fcache_value((const char *)data, size, "Subject", 7, &u);
	buf_free(&u);
	return 0;
}
