/*
 * NAME
 *	envelope.h - the envelope: who sent a message, to whom, and how
 *
 * DESCRIPTION
 *	The envelope travels from smtpd(8) and sendmail(1) to inject(8) on a
 *	pipe, and lives in the queue entry. On the wire it is a list of
 *	records, each one type letter followed by its text and a NUL byte,
 *	ended by an empty record (a lone NUL):
 *
 *	  V1		format version; first
 *	  Fsender	reverse path, "" for the null sender <>; exactly once
 *	  Eenvid	DSN ENVID (RFC 3461), decoded from xtext
 *	  Rret		DSN RET: FULL or HDRS
 *	  Bbody		BODY: 7BIT, 8BITMIME or BINARYMIME
 *	  U		SMTPUTF8 was requested (empty text)
 *	  Hhelo		the client's HELO/EHLO argument
 *	  Iip		the client's address ("" for local submission)
 *	  Nname		the client's verified reverse name, if any
 *	  Auser		the authenticated user, if any
 *	  Pproto	Received: protocol (RFC 3848): SMTP, ESMTP, ESMTPS,
 *			ESMTPA, ESMTPSA, or "local"
 *	  Trecipient	a forward path; one record per recipient, at least one
 *	  Oorcpt	DSN ORCPT of the last T: "addr-type;address" (decoded)
 *	  Dnotify	DSN NOTIFY of the last T: "NEVER" or a comma list of
 *			SUCCESS, FAILURE, DELAY
 *
 *	Records other than T, O and D appear at most once, O and D at most
 *	once per T, and only after one. No record text may contain a NUL;
 *	text is at most ENVELOPE_RECORD_MAX octets and holds no control
 *	characters. The decoder refuses anything else: a writer that breaks
 *	the format is a bug or an attack, and the message is refused.
 */
#ifndef ENVELOPE_H
#define ENVELOPE_H

#include <stddef.h>

#include "buf.h"

#define ENVELOPE_RECORD_MAX	1024
#define ENVELOPE_RCPT_MAX	10000
#define ENVELOPE_WIRE_MAX	(ENVELOPE_RCPT_MAX * 3 * (ENVELOPE_RECORD_MAX + 2) + 16 * 1024)

enum envelope_notify {
	ENVELOPE_NOTIFY_DEFAULT = 0,	/* no NOTIFY given: FAILURE (and DELAY) */
	ENVELOPE_NOTIFY_NEVER = 1,
	ENVELOPE_NOTIFY_SUCCESS = 2,
	ENVELOPE_NOTIFY_FAILURE = 4,
	ENVELOPE_NOTIFY_DELAY = 8,
};

struct envelope_rcpt {
	char *addr;		/* as given in RCPT TO, without <> */
	char *orcpt;		/* NULL if none */
	int notify;		/* enum envelope_notify bits */
};

struct envelope {
	char *sender;		/* "" for <> */
	char *envid, *ret, *body, *helo, *client_ip, *client_name;
	char *auth_user, *protocol;	/* each NULL when absent */
	int smtputf8;
	struct envelope_rcpt *rcpts;
	size_t n_rcpts, cap_rcpts;
};

void envelope_init(struct envelope *env);
void envelope_free(struct envelope *env);
int envelope_add_rcpt(struct envelope *env, const char *addr,
    const char *orcpt, int notify);
int envelope_encode(const struct envelope *env, struct buf *out);
int envelope_decode(const char *p, size_t len, struct envelope *env,
    size_t *used_r, const char **error_r);
int envelope_notify_parse(const char *s, int *notify_r);
int envelope_notify_format(int notify, struct buf *out);

#endif
