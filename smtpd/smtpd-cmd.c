/*
 * NAME
 *	smtpd-cmd - the SMTP command line parser of smtpd(8)
 *
 * SYNOPSIS
 *	int smtp_cmd_parse(const char *line, size_t len,
 *	    struct smtp_cmd *cmd);
 *	size_t smtp_cmd_text_max(enum smtp_verb verb, int esmtp);
 *	int smtp_check_line(const char *line, size_t len,
 *	    const struct smtp_cmd *cmd, struct smtp_reply *err);
 *	int smtp_parse_helo(const char *arg, size_t len, char *out,
 *	    size_t outsize, struct smtp_reply *err);
 *	int smtp_parse_mail(const char *arg, size_t len, int flags,
 *	    uint64_t size_limit, struct addr *a, struct smtp_mail_params *p,
 *	    struct smtp_reply *err);
 *	int smtp_parse_rcpt(const char *arg, size_t len, int flags,
 *	    struct addr *a, struct smtp_rcpt_params *p,
 *	    struct smtp_reply *err);
 *	int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
 *	    int *last_r);
 *	int smtp_parse_vrfy(const char *arg, size_t len, int flags,
 *	    struct addr *a);
 *
 * DESCRIPTION
 *	A command line is the text of one line without its CR LF; len is
 *	authoritative (the text may hold NUL). smtp_cmd_parse() finds the
 *	verb, a run of ASCII letters matched without regard to case and
 *	followed by the end of the line or a space, and the argument after
 *	the spaces that follow it, with trailing spaces dropped. Anything
 *	else is SMTP_UNKNOWN. GET, POST, HEAD, PUT, CONNECT and OPTIONS are
 *	SMTP_HTTP, so that a web client confused into talking to us (or a
 *	cross-protocol attack) can be dropped at once.
 *
 *	smtp_check_line() refuses what no command may hold: NUL (501 5.5.2
 *	for a known verb, 500 5.5.2 otherwise: the text is never cut at the
 *	NUL, SECURITY A4), other control characters (tab and a bare CR
 *	included), and octets that are not valid UTF-8 (500 5.5.2, A9).
 *	Valid UTF-8 is left to MAIL, RCPT, VRFY and EXPN, whose addresses
 *	may need it (SMTPUTF8); any other command with 8-bit text gets 501
 *	5.5.2. smtp_cmd_text_max() says how long the text of a command may
 *	be: 510 octets (512 with CR LF), more for MAIL and RCPT after EHLO
 *	and for AUTH (see smtpd.h).
 *
 *	smtp_parse_helo() checks a HELO/EHLO argument: 1 to 255 octets of
 *	printable ASCII without spaces. It does not require a valid domain
 *	(clients send bare host names and worse), but nothing else ever gets
 *	into a Received: header or a log (A4).
 *
 *	smtp_parse_mail() and smtp_parse_rcpt() read "FROM:" / "TO:" (any
 *	case, spaces after the colon tolerated), the path with
 *	addr_parse_path() and the ESMTP parameters with smtpd-param.c. The
 *	path is parsed permitting UTF-8, and refused afterwards with 553
 *	5.6.7 when SMTPUTF8 is not in effect, since SMTPUTF8 may come after
 *	the path. Paths are never rewritten here: a source route is dropped
 *	by addr_parse_path() and nothing in a local part means routing.
 *
 *	smtp_parse_bdat() reads "SIZE" or "SIZE LAST" exactly; a malformed
 *	or overflowing size is an error the caller must hang up on, since
 *	the length of the chunk that follows is unknown (SECURITY S4).
 *
 *	smtp_parse_vrfy() reads a VRFY/EXPN argument as a path, with or
 *	without its angle brackets.
 *
 * DIAGNOSTICS
 *	Parsers return 0, or -1 with *err set to the reply: 501 5.5.4 for
 *	argument syntax, 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT) for a bad or
 *	too long address (RFC 5321 4.5.3.1.10: "501 Path too long"), 553
 *	5.6.7 for UTF-8 without SMTPUTF8, 555 5.5.4 for a parameter that is
 *	not supported here, 552 5.3.4 for a SIZE above the limit. Everything
 *	is a permanent refusal of that one command; the session goes on.
 *
 * SECURITY
 *	No privileges, no I/O. Input is hostile: every read is bounded by
 *	len and nothing recurses. Addresses are only ever parsed, never
 *	expanded or passed on to anything that interprets them (A1, A2).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "str.h"
#include "utf8.h"

#include "smtpd.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO },
	{ "EHLO", SMTP_EHLO },
	{ "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT },
	{ "DATA", SMTP_DATA },
	{ "BDAT", SMTP_BDAT },
	{ "RSET", SMTP_RSET },
	{ "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN },
	{ "HELP", SMTP_HELP },
	{ "NOOP", SMTP_NOOP },
	{ "QUIT", SMTP_QUIT },
	{ "TURN", SMTP_TURN },
	{ "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH },
	{ "GET", SMTP_HTTP },
	{ "POST", SMTP_HTTP },
	{ "HEAD", SMTP_HTTP },
	{ "PUT", SMTP_HTTP },
	{ "CONNECT", SMTP_HTTP },
	{ "OPTIONS", SMTP_HTTP },
};

/* set_err - fill *err and return -1 */
static int
set_err(struct smtp_reply *err, int code, const char *status,
    const char *text)
{
	err->code = code;
	err->status = status;
	err->text = text;
	return -1;
}

/* is_alpha - 1 for an ASCII letter */
static int
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* smtp_cmd_parse - split a line into verb and argument */
int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t i = 0, k, vlen;

	cmd->verb = SMTP_UNKNOWN;
	cmd->name = "unknown";
	cmd->arg = "";
	cmd->arglen = 0;
	while (i < len && is_alpha((unsigned char)line[i]))
		i++;
	vlen = i;
	if (vlen == 0 || (i < len && line[i] != ' '))
		return 0;
	for (k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++) {
		if (strlen(verbs[k].name) == vlen &&
		    str_eq_nocase_n(line, verbs[k].name, vlen)) {
			cmd->verb = verbs[k].verb;
			cmd->name = verbs[k].name;
			break;
		}
	}
	if (cmd->verb == SMTP_UNKNOWN)
		return 0;
	while (i < len && line[i] == ' ')
		i++;
	while (len > i && line[len - 1] == ' ')
		len--;
	cmd->arg = line + i;
	cmd->arglen = len - i;
	return 0;
}

/* smtp_cmd_text_max - longest text (no CR LF) a command may have */
size_t
smtp_cmd_text_max(enum smtp_verb verb, int esmtp)
{
	switch (verb) {
	case SMTP_MAIL:
		return esmtp ? SMTPD_MAIL_TEXT_MAX : SMTPD_CMD_TEXT_MAX;
	case SMTP_RCPT:
		return esmtp ? SMTPD_RCPT_TEXT_MAX : SMTPD_CMD_TEXT_MAX;
	case SMTP_AUTH:
		return SMTPD_AUTH_TEXT_MAX;
	default:
		return SMTPD_CMD_TEXT_MAX;
	}
}

/* smtp_check_line - refuse NUL, control characters and bad UTF-8 */
int
smtp_check_line(const char *line, size_t len, const struct smtp_cmd *cmd,
    struct smtp_reply *err)
{
	int known = cmd->verb != SMTP_UNKNOWN, eight = 0;
	size_t i;

	if (len > 0 && memchr(line, '\0', len) != NULL)
		return set_err(err, known ? 501 : 500, "5.5.2",
		    "Syntax error: NUL character in command");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			return set_err(err, known ? 501 : 500, "5.5.2",
			    "Syntax error: control character in command");
		if (c >= 0x80)
			eight = 1;
	}
	if (!eight)
		return 0;
	if (!utf8_valid(line, len))
		return set_err(err, 500, "5.5.2",
		    "Syntax error: invalid UTF-8 in command");
	switch (cmd->verb) {
	case SMTP_MAIL:
	case SMTP_RCPT:
	case SMTP_VRFY:
	case SMTP_EXPN:
		return 0;
	case SMTP_UNKNOWN:
		return set_err(err, 500, "5.5.2",
		    "Error: command not recognized");
	default:
		return set_err(err, 501, "5.5.2",
		    "Syntax error: 8-bit characters in command");
	}
}

/* smtp_parse_helo - check a HELO/EHLO argument and copy it to out */
int
smtp_parse_helo(const char *arg, size_t len, char *out, size_t outsize,
    struct smtp_reply *err)
{
	size_t i;

	if (len == 0)
		return set_err(err, 501, "5.5.4", "Syntax: EHLO hostname");
	if (len > SMTPD_HELO_MAX)
		return set_err(err, 501, "5.5.4",
		    "Syntax error: hostname too long");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];

		if (c <= 0x20 || c >= 0x7f)
			return set_err(err, 501, "5.5.4",
			    "Syntax error: invalid hostname");
	}
	if (str_copy_n(out, outsize, arg, len) < 0)
		return set_err(err, 501, "5.5.4",
		    "Syntax error: hostname too long");
	return 0;
}

/* skip_prefix - after "WORD:" (any case) and spaces; -1 if absent */
static int
skip_prefix(const char *arg, size_t len, const char *word, size_t *i_r)
{
	size_t n = strlen(word), i;

	if (len < n || !str_eq_nocase_n(arg, word, n))
		return -1;
	i = n;
	while (i < len && arg[i] == ' ')
		i++;
	*i_r = i;
	return 0;
}

/* path_err - the reply for an addr_parse_path() failure */
static int
path_err(int e, const char *why, const char *status, struct smtp_reply *err)
{
	if (e == EILSEQ)
		return set_err(err, 553, "5.6.7",
		    "Error: address needs SMTPUTF8");
	return set_err(err, 501, status, why != NULL ? why :
	    "Syntax error in address");
}

/* after_path - split off the parameters after '>'; -1 on bad syntax */
static int
after_path(const char *arg, size_t len, size_t end, const char **params_r,
    size_t *plen_r, struct smtp_reply *err)
{
	size_t i = end;

	*params_r = arg + len;
	*plen_r = 0;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return set_err(err, 501, "5.5.4",
		    "Syntax error: junk after address");
	while (i < len && arg[i] == ' ')
		i++;
	*params_r = arg + i;
	*plen_r = len - i;
	return 0;
}

/* smtp_parse_mail - "FROM:<path> [params]" */
int
smtp_parse_mail(const char *arg, size_t len, int flags, uint64_t size_limit,
    struct addr *a, struct smtp_mail_params *p, struct smtp_reply *err)
{
	const char *why = NULL, *params;
	size_t i, end, plen;

	memset(p, 0, sizeof(*p));
	memset(a, 0, sizeof(*a));
	if (skip_prefix(arg, len, "FROM:", &i) < 0)
		return set_err(err, 501, "5.5.4",
		    "Syntax: MAIL FROM:<address>");
	if (addr_parse_path(arg + i, len - i, ADDR_ALLOW_NULL |
	    ADDR_ALLOW_UTF8, a, &end, &why) < 0)
		return path_err(errno, why, "5.1.7", err);
	if (after_path(arg, len, i + end, &params, &plen, err) < 0)
		return -1;
	if (plen > 0 && !(flags & SMTP_P_ESMTP))
		return set_err(err, 555, "5.5.4",
		    "Error: parameters need EHLO");
	if (smtp_mail_params(params, plen, flags, size_limit, p, err) < 0)
		return -1;
	if ((a->flags & ADDR_F_UTF8) && !p->smtputf8)
		return set_err(err, 553, "5.6.7",
		    "Error: address needs SMTPUTF8");
	return 0;
}

/* smtp_parse_rcpt - "TO:<path> [params]" */
int
smtp_parse_rcpt(const char *arg, size_t len, int flags, struct addr *a,
    struct smtp_rcpt_params *p, struct smtp_reply *err)
{
	const char *why = NULL, *params;
	size_t i, end, plen;

	memset(p, 0, sizeof(*p));
	memset(a, 0, sizeof(*a));
	if (skip_prefix(arg, len, "TO:", &i) < 0)
		return set_err(err, 501, "5.5.4", "Syntax: RCPT TO:<address>");
	if (addr_parse_path(arg + i, len - i, ADDR_ALLOW_POSTMASTER |
	    ADDR_ALLOW_UTF8, a, &end, &why) < 0)
		return path_err(errno, why, "5.1.3", err);
	if (after_path(arg, len, i + end, &params, &plen, err) < 0)
		return -1;
	if (plen > 0 && !(flags & SMTP_P_ESMTP))
		return set_err(err, 555, "5.5.4",
		    "Error: parameters need EHLO");
	if (smtp_rcpt_params(params, plen, flags, p, err) < 0)
		return -1;
	if ((a->flags & ADDR_F_UTF8) && !(flags & SMTP_P_UTF8))
		return set_err(err, 553, "5.6.7",
		    "Error: address needs SMTPUTF8");
	return 0;
}

/* smtp_parse_bdat - "SIZE [LAST]"; -1 when malformed */
int
smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, int *last_r)
{
	size_t i = 0, j;

	while (i < len && arg[i] >= '0' && arg[i] <= '9')
		i++;
	if (i == 0 || i > 20)
		return -1;
	if (str_parse_u64(arg, i, UINT64_MAX, size_r) < 0)
		return -1;
	*last_r = 0;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return -1;
	j = i;
	while (j < len && arg[j] == ' ')
		j++;
	if (len - j != 4 || !str_eq_nocase_n(arg + j, "LAST", 4))
		return -1;
	*last_r = 1;
	return 0;
}

/* smtp_parse_vrfy - a VRFY/EXPN argument as a path, brackets optional */
int
smtp_parse_vrfy(const char *arg, size_t len, int flags, struct addr *a)
{
	char tmp[ADDR_PATH_MAX + 3];
	size_t end;
	int aflags = ADDR_ALLOW_POSTMASTER;

	if (flags & SMTP_P_UTF8)
		aflags |= ADDR_ALLOW_UTF8;
	if (len > 0 && arg[0] == '<')
		return addr_parse_path(arg, len, aflags, a, &end, NULL) < 0 ||
		    end != len ? -1 : 0;
	if (len == 0 || len > ADDR_PATH_MAX)
		return -1;
	tmp[0] = '<';
	memcpy(tmp + 1, arg, len);
	tmp[len + 1] = '>';
	if (addr_parse_path(tmp, len + 2, aflags, a, &end, NULL) < 0 ||
	    end != len + 2)
		return -1;
	return 0;
}
