/*
 * test-smtp-policy - smtpd's relay decision, SASL decoding and the
 * Received: header
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "cidr.h"
#include "config.h"
#include "test.h"

#include "../../smtpd/smtpd-policy.c"
#include "../../smtpd/smtpd-received.c"
#include "../../smtpd/smtpd-sasl.c"

static struct config cfg;
static struct sockaddr_storage peer4, peer6, mapped;

/* rc - parse a RCPT path and decide; -1 if it does not parse */
static int
rc(const char *path, const struct sockaddr_storage *peer, int auth)
{
	struct addr a;
	size_t end;

	if (addr_parse_path(path, strlen(path), ADDR_ALLOW_POSTMASTER |
	    ADDR_ALLOW_UTF8, &a, &end, NULL) < 0 || end != strlen(path))
		return -1;
	return policy_rcpt(&cfg, &a, (const struct sockaddr *)peer, auth);
}

/* sender - policy_sender on a MAIL path */
static int
sender(const char *user, const char *path)
{
	struct addr a;
	size_t end;

	if (addr_parse_path(path, strlen(path), ADDR_ALLOW_NULL, &a, &end,
	    NULL) < 0)
		return -1;
	return policy_sender(user, &a);
}

/* set_peer - an address into a sockaddr_storage */
static void
set_peer(struct sockaddr_storage *ss, int family, const char *ip)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		(void)inet_pton(AF_INET, ip, &in->sin_addr);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		(void)inet_pton(AF_INET6, ip, &in6->sin6_addr);
	}
}

/* b64 - decode a C string; -1 or the length, result in out */
static long
b64(const char *s, struct buf *out)
{
	buf_reset(out);
	return sasl_b64_decode(s, strlen(s), out) < 0 ? -1 : (long)out->len;
}

/* main - run the cases */
int
main(void)
{
	static char *domains[] = { "local.example", "other.example" };
	struct buf b = BUF_INIT(4096), err = BUF_INIT(256);
	struct received_info ri;
	char user[SASL_USER_MAX + 1], pass[SASL_PASS_MAX + 1];
	size_t plen;
	int i;

	cfg.domains.v = domains;
	cfg.domains.n = 2;
	set_peer(&peer4, AF_INET, "192.0.2.7");
	set_peer(&peer6, AF_INET6, "2001:db8::7");
	set_peer(&mapped, AF_INET6, "::ffff:192.0.2.7");

	TEST_BEGIN("local recipients, whoever asks");
	TEST_ASSERT(rc("<u@local.example>", &peer4, 0) == POLICY_LOCAL);
	TEST_ASSERT(rc("<u@OTHER.example>", &peer4, 0) == POLICY_LOCAL);
	TEST_ASSERT(rc("<Postmaster>", &peer4, 0) == POLICY_LOCAL);
	TEST_ASSERT(rc("<v%victim.example@local.example>", &peer4, 0) ==
	    POLICY_LOCAL);
	TEST_ASSERT(rc("<\"v@victim.example\"@local.example>", &peer4, 0) ==
	    POLICY_LOCAL);
	TEST_END();

	TEST_BEGIN("elsewhere: denied without relay_networks or AUTH (O1-O3)");
	TEST_ASSERT(rc("<v@victim.example>", &peer4, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@victim.example>", NULL, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<@local.example:v@victim.example>", &peer4, 0) ==
	    POLICY_DENIED);
	TEST_ASSERT(rc("<v%local.example@victim.example>", &peer4, 0) ==
	    POLICY_DENIED);
	TEST_ASSERT(rc("<v@[192.0.2.1]>", &peer4, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@[IPv6:::1]>", &peer4, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@sub.local.example>", &peer4, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@local.example.>", &peer4, 0) == -1);
	TEST_ASSERT(rc("<v@192.0.2.1>", &peer4, 0) == -1);
	TEST_ASSERT(rc("<victim.example!v>", &peer4, 0) == -1);
	TEST_ASSERT(rc("<victim.example!v@[192.0.2.1]>", &peer4, 0) ==
	    POLICY_DENIED);
	TEST_END();

	TEST_BEGIN("relay for AUTH and relay_networks, v4-mapped included");
	TEST_ASSERT(rc("<v@victim.example>", &peer4, 1) == POLICY_RELAY);
	TEST_ASSERT(cidr_list_parse(&cfg.relay_networks, "192.0.2.0/24",
	    &err) == 0);
	TEST_ASSERT(rc("<v@victim.example>", &peer4, 0) == POLICY_RELAY);
	TEST_ASSERT(rc("<v@victim.example>", &mapped, 0) == POLICY_RELAY);
	TEST_ASSERT(rc("<v@victim.example>", &peer6, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@victim.example>", NULL, 0) == POLICY_DENIED);
	cidr_list_free(&cfg.relay_networks);
	TEST_ASSERT(cidr_list_parse(&cfg.relay_networks, "::/0", &err) == 0);
	TEST_ASSERT(rc("<v@victim.example>", &peer4, 0) == POLICY_DENIED);
	TEST_ASSERT(rc("<v@victim.example>", &peer6, 0) == POLICY_RELAY);
	cidr_list_free(&cfg.relay_networks);
	TEST_END();

	TEST_BEGIN("the authenticated user's own sender");
	TEST_ASSERT(sender("alice@local.example",
	    "<alice@local.example>") == 1);
	TEST_ASSERT(sender("alice@local.example", "<Alice@LOCAL.example>") ==
	    1);
	TEST_ASSERT(sender("alice@local.example", "<>") == 1);
	TEST_ASSERT(sender("alice@local.example", "<bob@local.example>") == 0);
	TEST_ASSERT(sender("alice@local.example",
	    "<@x.example:alice@local.example>") == 1);
	TEST_ASSERT(sender("", "<alice@local.example>") == 0);
	TEST_END();

	TEST_BEGIN("strict base64");
	TEST_ASSERT(b64("", &b) == 0);
	TEST_ASSERT(b64("YQ==", &b) == 1 && b.data[0] == 'a');
	TEST_ASSERT(b64("YWI=", &b) == 2);
	TEST_ASSERT(b64("YWJj", &b) == 3);
	TEST_ASSERT(b64("====", &b) == -1);
	TEST_ASSERT(b64("YQ=", &b) == -1);
	TEST_ASSERT(b64("Y===", &b) == -1);
	TEST_ASSERT(b64("YQ=a", &b) == -1);
	TEST_ASSERT(b64("YR==", &b) == -1);	/* padding bits set */
	TEST_ASSERT(b64("YQ==YQ==", &b) == -1);
	TEST_ASSERT(b64("Y Q=", &b) == -1);
	TEST_ASSERT(b64("YQ\r\n", &b) == -1);
	TEST_END();

	TEST_BEGIN("PLAIN: authzid must be empty or the user (U1)");
	TEST_ASSERT(sasl_plain_split("\0u@x\0pw", 7, user, sizeof(user), pass,
	    sizeof(pass), &plen) == 0 && strcmp(user, "u@x") == 0 &&
	    plen == 2 && strcmp(pass, "pw") == 0);
	TEST_ASSERT(sasl_plain_split("U@X\0u@x\0pw", 10, user, sizeof(user),
	    pass, sizeof(pass), &plen) == 0);
	TEST_ASSERT(sasl_plain_split("bob\0u@x\0pw", 10, user, sizeof(user),
	    pass, sizeof(pass), &plen) < 0 && errno == EPERM);
	TEST_ASSERT(sasl_plain_split("\0u@x\0", 5, user, sizeof(user), pass,
	    sizeof(pass), &plen) < 0 && errno == EINVAL);
	TEST_ASSERT(sasl_plain_split("\0\0pw", 4, user, sizeof(user), pass,
	    sizeof(pass), &plen) < 0);
	TEST_ASSERT(sasl_plain_split("\0u\0p\0w", 6, user, sizeof(user), pass,
	    sizeof(pass), &plen) < 0);
	TEST_ASSERT(sasl_plain_split("u\0pw", 4, user, sizeof(user), pass,
	    sizeof(pass), &plen) < 0);
	TEST_ASSERT(sasl_plain_split("\0u\x01\0pw", 6, user, sizeof(user),
	    pass, sizeof(pass), &plen) < 0);
	TEST_END();

	TEST_BEGIN("Received: clauses and escaping (A4)");
	memset(&ri, 0, sizeof(ri));
	ri.helo = "client.example";
	ri.client_ip = "192.0.2.7";
	ri.hostname = "mx.example";
	ri.protocol = "ESMTPSA";
	ri.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
	ri.auth_user = "alice@local.example";
	ri.rcpt = "bob@local.example";
	ri.when = 0;
	buf_reset(&b);
	TEST_ASSERT(received_header(&ri, &b) == 0);
	TEST_ASSERT(strncmp(buf_cstr(&b), "Received: from client.example "
	    "([192.0.2.7])\n\tby mx.example (mailstack smtpd) with ESMTPSA "
	    "(TLSv1.3 TLS_AES_256_GCM_SHA384)\n\t(authenticated user "
	    "alice@local.example)\n\tfor <bob@local.example>; ", 168) == 0);
	ri.helo = "x)(y\\";
	ri.client_ip = "2001:db8::7";
	ri.tls = NULL;
	ri.auth_user = NULL;
	ri.rcpt = NULL;
	buf_reset(&b);
	TEST_ASSERT(received_header(&ri, &b) == 0);
	TEST_ASSERT(strncmp(buf_cstr(&b), "Received: from [IPv6:2001:db8::7] "
	    "(helo=x\\)\\(y\\\\)\n\tby mx.example", 62) == 0);
	TEST_ASSERT(strstr(buf_cstr(&b), "for <") == NULL);
	for (i = 0; i + 1 < (int)b.len; i++)
		if (b.data[i] == '\n')
			TEST_ASSERT(b.data[i + 1] == '\t');
	buf_reset(&b);
	TEST_ASSERT(received_msgid("mx.example", &b) == 0 &&
	    strncmp(buf_cstr(&b), "Message-ID: <", 13) == 0 &&
	    strstr(buf_cstr(&b), "@mx.example>\n") != NULL);
	buf_reset(&b);
	TEST_ASSERT(received_date(86400 * 365, &b) == 0 &&
	    strncmp(buf_cstr(&b), "Date: ", 6) == 0);
	TEST_END();

	buf_free(&b);
	buf_free(&err);
	return test_summary("test-smtp-policy");
}
