/*
 * fuzz-smtp-cmd - smtpd's command parser, ESMTP parameters, xtext, SASL
 * decoding and the Received: header, driven in-process without sockets.
 *
 * Input: one flags byte (bit 0 ESMTP, bit 1 AUTH offered, bit 2
 * SMTPUTF8 in effect), then one command line without CR LF. Besides
 * memory safety it checks what the session relies on: whatever a parser
 * accepts fits in the envelope (no NUL, no control character, valid
 * UTF-8, within ENVELOPE_RECORD_MAX), xtext decodes and re-encodes to the
 * same text, the HELO text cannot break the Received: header's folding,
 * and a parsed BDAT size prints back as the digits given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "envelope.h"

#include "../../smtpd/smtpd-cmd.c"
#include "../../smtpd/smtpd-param.c"
#include "../../smtpd/smtpd-received.c"
#include "../../smtpd/smtpd-sasl.c"

#define FUZZ_MAX_INPUT	(SMTPD_READ_TEXT_MAX + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* text_ok - 1 if s is fit for an envelope record */
static int
text_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n > ENVELOPE_RECORD_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return utf8_valid(s, n);
}

/* envelope_accepts - encode an envelope holding these values */
static void
envelope_accepts(const struct addr *from, const char *envid,
    const struct addr *to, const char *orcpt, int notify)
{
	struct envelope env;
	struct buf out = BUF_INIT(ENVELOPE_WIRE_MAX);
	char f[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	char t[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];

	envelope_init(&env);
	if (addr_format(from, f, sizeof(f)) < 0)
		abort();
	if (addr_format(to, t, sizeof(t)) < 0)
		abort();
	env.sender = alloc_strdup(f);
	if (envid != NULL)
		env.envid = alloc_strdup(envid);
	if (envelope_add_rcpt(&env, t[0] != '\0' ? t : "postmaster", orcpt,
	    notify) < 0 || envelope_encode(&env, &out) < 0)
		abort();
	envelope_free(&env);
	buf_free(&out);
}

/* xtext_roundtrip - decode, re-encode and decode again must agree */
static void
xtext_roundtrip(const char *s, size_t n, int utf8)
{
	char a[1024], b[1024];
	size_t alen, blen;
	struct buf enc = BUF_INIT(4096);

	if (smtp_xtext_decode(s, n, utf8, a, sizeof(a), &alen) < 0)
		return;
	if (!text_ok(a) || strlen(a) != alen)
		abort();
	if (smtp_xtext_encode(a, alen, &enc) < 0)
		abort();
	if (smtp_xtext_decode(enc.data != NULL ? enc.data : "", enc.len, 1,
	    b, sizeof(b), &blen) < 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
	buf_free(&enc);
}

/* received_ok - every line of the header but the first starts with TAB */
static void
received_ok(const char *helo)
{
	struct received_info ri;
	struct buf out = BUF_INIT(8192);
	size_t i;

	memset(&ri, 0, sizeof(ri));
	ri.helo = helo;
	ri.client_ip = "192.0.2.1";
	ri.hostname = "mx.example";
	ri.protocol = "ESMTP";
	ri.when = 0;
	if (received_header(&ri, &out) < 0)
		abort();
	if (out.len == 0 || out.data[out.len - 1] != '\n')
		abort();
	for (i = 0; i + 1 < out.len; i++) {
		unsigned char c = (unsigned char)out.data[i];

		if (c == '\n' && out.data[i + 1] != '\t')
			abort();
		if (c == '\r' || c == '\0' || (c < 0x20 && c != '\t' &&
		    c != '\n'))
			abort();
	}
	buf_free(&out);
}

/* LLVMFuzzerTestOneInput - one command line */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd cmd;
	struct smtp_reply err;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	struct addr a, b;
	struct buf dec = BUF_INIT(SMTPD_READ_TEXT_MAX);
	char helo[SMTPD_HELO_MAX + 1], digits[32], user[SASL_USER_MAX + 1];
	char pass[SASL_PASS_MAX + 1];
	const char *line;
	uint64_t bsize;
	size_t n, plen;
	int flags, last, len;

	if (size == 0 || size > FUZZ_MAX_INPUT)
		return 0;
	flags = data[0] & (SMTP_P_ESMTP | SMTP_P_AUTH | SMTP_P_UTF8);
	line = (const char *)data + 1;
	n = size - 1;

	(void)smtp_cmd_parse(line, n, &cmd);
	if (cmd.verb != SMTP_UNKNOWN && (cmd.arg < line ||
	    cmd.arg + cmd.arglen > line + n))
		abort();
	if (smtp_cmd_text_max(cmd.verb, flags & SMTP_P_ESMTP) >
	    SMTPD_READ_TEXT_MAX)
		abort();
	memset(&err, 0, sizeof(err));
	if (smtp_check_line(line, n, &cmd, &err) < 0) {
		if (err.code < 500 || err.code > 599 || err.status == NULL ||
		    err.status[0] != '5')
			abort();
		return 0;
	}
	if (n > 0 && memchr(line, '\0', n) != NULL)
		abort();	/* smtp_check_line must refuse NUL */

	switch (cmd.verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		if (smtp_parse_helo(cmd.arg, cmd.arglen, helo, sizeof(helo),
		    &err) == 0) {
			if (strlen(helo) != cmd.arglen || !text_ok(helo))
				abort();
			received_ok(helo);
		}
		break;
	case SMTP_MAIL:
		if (smtp_parse_mail(cmd.arg, cmd.arglen, flags, 1000000, &a,
		    &mp, &err) < 0) {
			if (err.code < 500 || err.status[0] != '5')
				abort();
			break;
		}
		if ((a.flags & ADDR_F_UTF8) && !mp.smtputf8)
			abort();
		if (!(flags & SMTP_P_ESMTP) && (mp.has_size || mp.body ||
		    mp.smtputf8 || mp.ret || mp.has_envid || mp.has_auth))
			abort();
		if (mp.has_auth && (!(flags & SMTP_P_AUTH) ||
		    !text_ok(mp.auth)))
			abort();
		if (mp.has_size && mp.size > 1000000)
			abort();
		memset(&b, 0, sizeof(b));
		memcpy(b.local, "u", 2);
		memcpy(b.domain, "d.example", 10);
		envelope_accepts(&a, mp.has_envid ? mp.envid : NULL, &b, NULL,
		    0);
		break;
	case SMTP_RCPT:
		if (smtp_parse_rcpt(cmd.arg, cmd.arglen, flags, &a, &rp,
		    &err) < 0) {
			if (err.code < 500 || err.status[0] != '5')
				abort();
			break;
		}
		if ((a.flags & ADDR_F_UTF8) && !(flags & SMTP_P_UTF8))
			abort();
		if (a.flags & ADDR_F_NULL)
			abort();
		memset(&b, 0, sizeof(b));
		b.flags = ADDR_F_NULL;
		envelope_accepts(&b, NULL, &a, rp.has_orcpt ? rp.orcpt : NULL,
		    rp.notify);
		break;
	case SMTP_BDAT:
		if (smtp_parse_bdat(cmd.arg, cmd.arglen, &bsize, &last) == 0) {
			size_t z = 0;

			len = snprintf(digits, sizeof(digits), "%llu",
			    (unsigned long long)bsize);
			if (len <= 0 || (size_t)len > cmd.arglen)
				abort();
			/* The digits given, less leading zeros, print back. */
			while (z + 1 < cmd.arglen && cmd.arg[z] == '0' &&
			    cmd.arg[z + 1] >= '0' && cmd.arg[z + 1] <= '9')
				z++;
			if (cmd.arglen - z < (size_t)len ||
			    memcmp(cmd.arg + z, digits, (size_t)len) != 0)
				abort();
		}
		break;
	case SMTP_VRFY:
	case SMTP_EXPN:
		(void)smtp_parse_vrfy(cmd.arg, cmd.arglen, flags, &a);
		break;
	case SMTP_AUTH:
		if (sasl_b64_decode(cmd.arg, cmd.arglen, &dec) == 0 &&
		    sasl_plain_split(dec.data != NULL ? dec.data : "", dec.len,
		    user, sizeof(user), pass, sizeof(pass), &plen) == 0) {
			if (!text_ok(user) || plen == 0 || plen != strlen(pass))
				abort();
		}
		break;
	default:
		break;
	}
	xtext_roundtrip(cmd.arg, cmd.arglen, 0);
	xtext_roundtrip(cmd.arg, cmd.arglen, 1);
	buf_free(&dec);
	return 0;
}
