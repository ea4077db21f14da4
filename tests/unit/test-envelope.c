/* test-envelope - envelope records: round trip, limits, hostile input */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "test.h"

/* decode_bytes - decode p[0..n) into a fresh env; decode's result */
static int
decode_bytes(const char *p, size_t n, struct envelope *env, const char **err)
{
	size_t used = 0;

	envelope_init(env);
	return envelope_decode(p, n, env, &used, err);
}

int
main(void)
{
	struct envelope env, back;
	struct buf wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	struct buf text = BUF_INIT(100);
	const char *err = NULL;
	size_t used = 0, i;
	int notify = 0, r;

	TEST_BEGIN("envelope: encode then decode gives the same envelope");
	envelope_init(&env);
	env.sender = strdup("fred@truc.test");
	env.envid = strdup("QQ314159");
	env.ret = strdup("HDRS");
	env.body = strdup("8BITMIME");
	env.smtputf8 = 1;
	env.helo = strdup("client.truc.test");
	env.client_ip = strdup("127.0.0.2");
	env.auth_user = strdup("fred@truc.test");
	env.protocol = strdup("ESMTPSA");
	TEST_ASSERT_INT(envelope_add_rcpt(&env, "marc@machin.test",
	    "rfc822;marc@machin.test", ENVELOPE_NOTIFY_SUCCESS |
	    ENVELOPE_NOTIFY_FAILURE), 0);
	TEST_ASSERT_INT(envelope_add_rcpt(&env, "j\xc3\xa9r\xc3\xb4me@machin.test",
	    NULL, ENVELOPE_NOTIFY_NEVER), 0);
	TEST_ASSERT_INT(envelope_add_rcpt(&env, "x@y.test", NULL, 0), 0);
	TEST_ASSERT_INT(envelope_encode(&env, &wire), 0);
	envelope_init(&back);
	TEST_ASSERT_INT(envelope_decode(wire.data, wire.len, &back, &used, &err), 0);
	TEST_ASSERT_INT(used, wire.len);
	TEST_ASSERT_STR(back.sender, "fred@truc.test");
	TEST_ASSERT_STR(back.envid, "QQ314159");
	TEST_ASSERT_STR(back.ret, "HDRS");
	TEST_ASSERT_STR(back.body, "8BITMIME");
	TEST_ASSERT_INT(back.smtputf8, 1);
	TEST_ASSERT_STR(back.helo, "client.truc.test");
	TEST_ASSERT_STR(back.protocol, "ESMTPSA");
	TEST_ASSERT(back.client_name == NULL);
	TEST_ASSERT_INT(back.n_rcpts, 3);
	TEST_ASSERT_STR(back.rcpts[0].orcpt, "rfc822;marc@machin.test");
	TEST_ASSERT_INT(back.rcpts[0].notify,
	    ENVELOPE_NOTIFY_SUCCESS | ENVELOPE_NOTIFY_FAILURE);
	TEST_ASSERT_STR(back.rcpts[1].addr, "j\xc3\xa9r\xc3\xb4me@machin.test");
	TEST_ASSERT_INT(back.rcpts[1].notify, ENVELOPE_NOTIFY_NEVER);
	TEST_ASSERT(back.rcpts[2].orcpt == NULL && back.rcpts[2].notify == 0);
	envelope_free(&back);
	TEST_END();

	TEST_BEGIN("envelope: the null sender survives the round trip");
	free(env.sender);
	env.sender = strdup("");
	buf_reset(&wire);
	TEST_ASSERT_INT(envelope_encode(&env, &wire), 0);
	TEST_ASSERT_INT(decode_bytes(wire.data, wire.len, &back, &err), 0);
	TEST_ASSERT_STR(back.sender, "");
	envelope_free(&back);
	TEST_END();

	TEST_BEGIN("envelope: a field with a control character is not encoded");
	TEST_ASSERT_INT(envelope_add_rcpt(&env, "a\r\nb@c", NULL, 0), 0);
	buf_reset(&wire);
	TEST_ASSERT_INT(envelope_encode(&env, &wire), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(wire.len, 0);
	envelope_free(&env);
	TEST_END();

	TEST_BEGIN("envelope: a short read asks for more (EAGAIN)");
	TEST_ASSERT_INT(decode_bytes("V1\0Fa@b\0Tc@d\0", 13, &back, &err), -1);
	TEST_ASSERT_INT(errno, EAGAIN);
	envelope_free(&back);
	TEST_ASSERT_INT(decode_bytes("V1\0Fa@b\0Tc@", 11, &back, &err), -1);
	TEST_ASSERT_INT(errno, EAGAIN);
	envelope_free(&back);
	TEST_ASSERT_INT(decode_bytes("V1\0Fa@b\0Tc@d\0\0", 14, &back, &err), 0);
	envelope_free(&back);
	TEST_END();

	TEST_BEGIN("envelope: malformed envelopes are refused (EINVAL)");
	{
		static const struct {
			const char *p;
			size_t n;
		} bad[] = {
			{ "Fa@b\0Tc@d\0\0", 11 },		/* no version */
			{ "V2\0Fa@b\0Tc@d\0\0", 14 },		/* version 2 */
			{ "V1\0Tc@d\0\0", 9 },			/* no sender */
			{ "V1\0Fa@b\0\0", 9 },			/* no recipient */
			{ "V1\0Fa@b\0Fx@y\0Tc@d\0\0", 19 },	/* two senders */
			{ "V1\0Fa@b\0Oz\0Tc@d\0\0", 17 },	/* O before T */
			{ "V1\0Fa@b\0Tc@d\0DSOMETIMES\0\0", 26 },	/* bad notify */
			{ "V1\0Fa@b\0Tc@d\0DNEVER\0DNEVER\0\0", 28 },
			{ "V1\0Fa@b\0RALL\0Tc@d\0\0", 19 },	/* bad RET */
			{ "V1\0Fa@b\0Xq\0Tc@d\0\0", 17 },	/* unknown record */
			{ "V1\0Fa\nb\0Tc@d\0\0", 14 },		/* control char */
			{ "V1\0F\xc0\xaf\0Tc@d\0\0", 13 },	/* bad UTF-8 */
			{ "V1\0Fa@b\0T\0\0", 10 },		/* empty recipient */
			{ "V1\0Fa@b\0Tc@d\0U\0U\0\0", 18 },	/* U twice */
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			r = decode_bytes(bad[i].p, bad[i].n, &back, &err);
			if (r != -1 || errno != EINVAL)
				printf("  case %zu: r=%d errno=%d\n", i, r, errno);
			TEST_ASSERT(r == -1 && errno == EINVAL);
			envelope_free(&back);
		}
	}
	TEST_END();

	TEST_BEGIN("envelope: record length at and over the limit");
	buf_reset(&wire);
	buf_append(&wire, "V1\0Fa@b\0T", 9);
	for (i = 0; i < ENVELOPE_RECORD_MAX; i++)
		buf_append_char(&wire, 'x');
	buf_append(&wire, "\0\0", 2);
	TEST_ASSERT_INT(decode_bytes(wire.data, wire.len, &back, &err), 0);
	envelope_free(&back);
	buf_truncate(&wire, wire.len - 2);
	buf_append(&wire, "x\0\0", 3);
	TEST_ASSERT_INT(decode_bytes(wire.data, wire.len, &back, &err), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	envelope_free(&back);
	TEST_END();

	TEST_BEGIN("envelope: recipient count capped");
	envelope_init(&env);
	for (i = 0, r = 0; i < ENVELOPE_RCPT_MAX && r == 0; i++)
		r = envelope_add_rcpt(&env, "a@b", NULL, 0);
	TEST_ASSERT_INT(r, 0);
	TEST_ASSERT_INT(envelope_add_rcpt(&env, "a@b", NULL, 0), -1);
	TEST_ASSERT_INT(errno, E2BIG);
	envelope_free(&env);
	TEST_END();

	TEST_BEGIN("envelope: NOTIFY parsing and formatting");
	TEST_ASSERT_INT(envelope_notify_parse("never", &notify), 0);
	TEST_ASSERT_INT(notify, ENVELOPE_NOTIFY_NEVER);
	TEST_ASSERT_INT(envelope_notify_parse("delay,Success", &notify), 0);
	TEST_ASSERT_INT(notify, ENVELOPE_NOTIFY_DELAY | ENVELOPE_NOTIFY_SUCCESS);
	TEST_ASSERT_INT(envelope_notify_parse("NEVER,SUCCESS", &notify), -1);
	TEST_ASSERT_INT(envelope_notify_parse("SUCCESS,", &notify), -1);
	TEST_ASSERT_INT(envelope_notify_parse("SUCCESS,SUCCESS", &notify), -1);
	TEST_ASSERT_INT(envelope_notify_parse("", &notify), -1);
	TEST_ASSERT_INT(envelope_notify_format(ENVELOPE_NOTIFY_DELAY |
	    ENVELOPE_NOTIFY_FAILURE, &text), 0);
	TEST_ASSERT_STR(buf_cstr(&text), "FAILURE,DELAY");
	TEST_END();

	buf_free(&wire);
	buf_free(&text);
	return test_summary("test-envelope");
}
