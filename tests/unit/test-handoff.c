/* test-handoff - the handoff a login process gives a post-login process */
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "str.h"
#include "test.h"

static struct handoff h, back;
static const char minus[] = "mailstack-handoff 1\nt\nc\nm\ng\n1\n-1\n";

/* fill - a typical handoff */
static void
fill(struct handoff *x)
{
	memset(x, 0, sizeof(*x));
	(void)str_copy(x->ticket, sizeof(x->ticket),
	    "0123456789abcdef0123456789abcdef");
	(void)str_copy(x->client, sizeof(x->client), "192.0.2.7");
	(void)str_copy(x->method, sizeof(x->method), "plain");
	(void)str_copy(x->tag, sizeof(x->tag), "a001");
	x->tls = 1;
	memcpy(x->pending, "a002 SELECT INBOX\r\n", 19);
	x->pending_len = 19;
}

int
main(void)
{
	struct buf b = BUF_INIT(HANDOFF_MAX + 64);
	const char *error = NULL;
	char big[200];
	int fds[2];

	TEST_BEGIN("handoff: what is encoded parses back the same");
		fill(&h);
		TEST_ASSERT(handoff_encode(&h, &b) == 0);
		TEST_ASSERT(handoff_parse(b.data, b.len, &back, &error) == 0);
		TEST_ASSERT(strcmp(back.ticket, h.ticket) == 0);
		TEST_ASSERT(strcmp(back.client, "192.0.2.7") == 0);
		TEST_ASSERT(strcmp(back.method, "plain") == 0);
		TEST_ASSERT(strcmp(back.tag, "a001") == 0);
		TEST_ASSERT(back.tls == 1 && back.pending_len == 19);
		TEST_ASSERT(memcmp(back.pending, "a002 SELECT INBOX\r\n", 19) == 0);
	TEST_END();
	TEST_BEGIN("handoff: a field with a line feed is not encoded");
		fill(&h);
		(void)str_copy(h.tag, sizeof(h.tag), "a\nb");
		buf_reset(&b);
		TEST_ASSERT(handoff_encode(&h, &b) < 0);
	TEST_END();
	TEST_BEGIN("handoff: cut short, padded, or a wrong count is refused");
		fill(&h);
		buf_reset(&b);
		TEST_ASSERT(handoff_encode(&h, &b) == 0);
		TEST_ASSERT(handoff_parse(b.data, b.len - 1, &back, &error) < 0);
		TEST_ASSERT(buf_append(&b, "x", 1) == 0);
		TEST_ASSERT(handoff_parse(b.data, b.len, &back, &error) < 0);
		TEST_ASSERT(handoff_parse(minus, strlen(minus), &back,
		    &error) < 0);
		TEST_ASSERT(handoff_parse("hello", 5, &back, &error) < 0 &&
		    strcmp(error, "no handoff") == 0);
	TEST_END();
	TEST_BEGIN("handoff: a ticket longer than its field is refused");
		memset(big, 'a', sizeof(big));
		buf_reset(&b);
		TEST_ASSERT(buf_printf(&b, "mailstack-handoff 1\n%.100s\nc\nm\ng\n0\n0\n",
		    big) == 0);
		TEST_ASSERT(handoff_parse(b.data, b.len, &back, &error) < 0);
	TEST_END();
	TEST_BEGIN("handoff: handoff_recv reads a pipe to its end");
		fill(&h);
		buf_reset(&b);
		TEST_ASSERT(handoff_encode(&h, &b) == 0);
		TEST_ASSERT(pipe(fds) == 0);
		TEST_ASSERT(write(fds[1], b.data, b.len) == (ssize_t)b.len);
		(void)close(fds[1]);
		TEST_ASSERT(handoff_recv(fds[0], &back, &error) == 0);
		TEST_ASSERT(strcmp(back.tag, "a001") == 0);
		(void)close(fds[0]);
	TEST_END();
	buf_free(&b);
	return test_summary("test-handoff");
}
