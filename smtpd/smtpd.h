/*
 * NAME
 *	smtpd.h - private interfaces between the files of smtpd(8)
 *
 * DESCRIPTION
 *	smtpd is split by concern; each group below belongs to one file:
 *
 *	smtpd.c		main, arguments, die_*() helpers
 *	smtpd-cmd.c	command line parser: verb, HELO/MAIL/RCPT/BDAT
 *			arguments (pure, no I/O; fuzz-smtp-cmd drives it)
 *	smtpd-param.c	ESMTP parameters and xtext (pure)
 *	smtpd-data.c	DATA/BDAT byte machine and header filter (pure;
 *			fuzz-smtp-data drives it)
 *	smtpd-in.c	the input layer: command lines, raw bytes, pending
 *	smtpd-session.c	the session state machine and its replies
 *	smtpd-auth.c	AUTH PLAIN and LOGIN, SASL decoding
 *	smtpd-inject.c	running inject(8) and reading its report
 *	smtpd-received.c Received:, Date: and Message-ID: text
 *	smtpd-policy.c	relay decision and sender ownership (pure)
 *	smtpd-users.c	recipient and password checks (userdb, auth)
 *
 *	The pure files include nothing from the others but this header and
 *	common/, so that unit tests and fuzz targets can include them alone.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "buf.h"
#include "sasl.h"
#include "envelope.h"
#include "io.h"

/* --- limits (RFC 5321 4.5.3.1 and the extensions' additions) ------------ */

/*
 * Command lines, counted in octets of text without the CR LF (so the
 * RFC's 512 with CR LF is 510 here). MAIL and RCPT after EHLO get the
 * room the extensions add: SIZE 26 (RFC 1870), RET/ENVID 100 and
 * NOTIFY/ORCPT 500 (RFC 3461), AUTH= 500 (RFC 4954), SMTPUTF8 10 and
 * BODY= 15. AUTH lines and SASL responses may be as long as RFC 4954
 * section 4 asks servers to take.
 */
#define SMTPD_CMD_TEXT_MAX	510
#define SMTPD_MAIL_TEXT_MAX	(510 + 26 + 100 + 500 + 10 + 15)
#define SMTPD_RCPT_TEXT_MAX	(510 + 500)
#define SMTPD_AUTH_TEXT_MAX	12288
#define SMTPD_READ_TEXT_MAX	SMTPD_AUTH_TEXT_MAX

/* An over-long line is skipped up to its LF; past this, hang up (A6). */
#define SMTPD_DISCARD_MAX	((uint64_t)16 * 1024 * 1024)

/* Text lines in DATA/BDAT: 1000 octets with CR LF (RFC 5321 4.5.3.1.6). */
#define SMTPD_TEXT_LINE_MAX	998

/* A HELO/EHLO argument; decoded ENVID and ORCPT (RFC 3461 4.4, 4.2). */
#define SMTPD_HELO_MAX		255
#define SMTPD_ENVID_MAX		100
#define SMTPD_ORCPT_MAX		500
#define SMTPD_AUTHPARAM_MAX	(ADDR_PATH_MAX + 2)	/* MAIL AUTH= */

/*
 * Session defaults, each a candidate configuration key: timeouts in ms
 * (a command line, each wait inside DATA/BDAT, a whole TLS handshake,
 * inject's writes and report), the minimum data rate in octets a second,
 * recipients per message (RFC 5321 4.5.3.1.8), the error, unknown
 * command, junk command (NOOP, RSET, VRFY, HELP, ...) and failed AUTH
 * counts that end a session with 421, the first AUTH failure delay
 * (doubling), and the most Received: fields a message may leave with,
 * ours included.
 */
#define SMTPD_TIMEOUT_MS	300000
#define SMTPD_DATA_TIMEOUT_MS	180000
#define SMTPD_TLS_TIMEOUT_MS	60000
#define SMTPD_INJECT_TIMEOUT_MS	300000
#define SMTPD_MIN_DATA_RATE	500
#define SMTPD_MAX_RCPTS		100
#define SMTPD_MAX_ERRORS	20
#define SMTPD_MAX_UNKNOWN	10
#define SMTPD_MAX_JUNK		100
#define SMTPD_MAX_AUTH_FAIL	3
#define SMTPD_AUTH_DELAY_MS	250
#define SMTPD_HOPS_MAX		100

/* --- smtpd-cmd.c ------------------------------------------------------ */

enum smtp_verb {
	SMTP_UNKNOWN = 0,
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_BDAT,
	SMTP_RSET,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_TURN,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_HTTP,		/* GET, POST, ...: a web client, hang up */
};

/* A reply chosen by a parser: code, enhanced status, text. */
struct smtp_reply {
	int code;
	const char *status;
	const char *text;
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *name;	/* canonical verb name, for logs */
	const char *arg;	/* after the verb and its spaces; may be "" */
	size_t arglen;
};

/* ESMTP parameter flags for the parsers */
#define SMTP_P_ESMTP	0x01	/* EHLO was used: parameters allowed */
#define SMTP_P_AUTH	0x02	/* AUTH is offered: AUTH= allowed */
#define SMTP_P_UTF8	0x04	/* SMTPUTF8 given on MAIL */

#define SMTP_BODY_NONE		0
#define SMTP_BODY_7BIT		1
#define SMTP_BODY_8BITMIME	2

#define SMTP_RET_NONE		0
#define SMTP_RET_FULL		1
#define SMTP_RET_HDRS		2

struct smtp_mail_params {
	int has_size;
	uint64_t size;
	int body;			/* SMTP_BODY_* */
	int smtputf8;
	int ret;			/* SMTP_RET_* */
	int has_envid;
	char envid[SMTPD_ENVID_MAX + 1];	/* decoded */
	int has_auth;
	char auth[SMTPD_AUTHPARAM_MAX + 1];	/* decoded; "<>" possible */
};

struct smtp_rcpt_params {
	int notify;			/* envelope_notify bits; 0 none */
	int has_orcpt;
	char orcpt[SMTPD_ORCPT_MAX + 32];	/* "type;decoded" */
};

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);
size_t smtp_cmd_text_max(enum smtp_verb verb, int esmtp);
int smtp_check_line(const char *line, size_t len, const struct smtp_cmd *cmd,
    struct smtp_reply *err);
int smtp_parse_helo(const char *arg, size_t len, char *out, size_t outsize,
    struct smtp_reply *err);
int smtp_parse_mail(const char *arg, size_t len, int flags,
    uint64_t size_limit, struct addr *a, struct smtp_mail_params *p,
    struct smtp_reply *err);
int smtp_parse_rcpt(const char *arg, size_t len, int flags, struct addr *a,
    struct smtp_rcpt_params *p, struct smtp_reply *err);
int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
    int *last_r);
int smtp_parse_vrfy(const char *arg, size_t len, int flags, struct addr *a);

/* --- smtpd-param.c ---------------------------------------------------- */

int smtp_xtext_decode(const char *s, size_t n, int utf8, char *out,
    size_t outsize, size_t *outlen_r);
int smtp_xtext_encode(const char *s, size_t n, struct buf *out);
int smtp_mail_params(const char *s, size_t n, int flags,
    uint64_t size_limit, struct smtp_mail_params *p, struct smtp_reply *err);
int smtp_rcpt_params(const char *s, size_t n, int flags,
    struct smtp_rcpt_params *p, struct smtp_reply *err);

/* --- smtpd-data.c ----------------------------------------------------- */

#define SMTP_DATA_MODE_DATA	0	/* dot-stuffed, ends at CRLF.CRLF */
#define SMTP_DATA_MODE_BDAT	1	/* opaque chunks, ends at LAST */

/* Why a message is refused; more than one may be set. */
#define SMTP_DATA_E_BARE_LF	0x01
#define SMTP_DATA_E_BARE_CR	0x02
#define SMTP_DATA_E_NUL		0x04
#define SMTP_DATA_E_LONG_LINE	0x08
#define SMTP_DATA_E_TOO_BIG	0x10
#define SMTP_DATA_E_LOOP	0x20
#define SMTP_DATA_E_SINK	0x40	/* the sink failed (temporary) */

#define SMTP_DATA_NAME_MAX	64	/* header field name held back */
#define SMTP_DATA_OUT_MAX	8192	/* output batched for the sink */

typedef int smtp_data_sink(void *ctx, const char *p, size_t n);

struct smtp_data {
	int mode;
	int state;		/* byte machine state */
	int hstate;		/* header filter state */
	int done;		/* DATA: the end was seen */
	int errors;		/* SMTP_DATA_E_* */
	uint64_t size;		/* message octets, CR LF as two */
	uint64_t limit;		/* refuse above this */
	size_t linelen;		/* text octets in the current line */
	unsigned hops_max;	/* refuse at this many Received: */
	unsigned received;	/* Received: fields seen */
	unsigned fields;	/* header fields seen */
	int have_date, have_msgid, fixed;
	const char *fix_date;	/* "Date: ...\n" to add, or NULL */
	const char *fix_msgid;	/* "Message-ID: ...\n" likewise */
	size_t holdlen;
	int hold_wsp;		/* blank seen after the held name */
	char hold[SMTP_DATA_NAME_MAX + 1];
	smtp_data_sink *sink;
	void *sink_ctx;
	size_t outlen;
	char out[SMTP_DATA_OUT_MAX];
};

void smtp_data_init(struct smtp_data *d, int mode, uint64_t limit,
    unsigned hops_max, smtp_data_sink *sink, void *ctx);
void smtp_data_fixups(struct smtp_data *d, const char *date_line,
    const char *msgid_line);
void smtp_data_mid_line(struct smtp_data *d);
size_t smtp_data_feed(struct smtp_data *d, const char *p, size_t n);
int smtp_data_end(struct smtp_data *d);
void smtp_data_discard(struct smtp_data *d);

/* --- smtpd-policy.c --------------------------------------------------- */

struct config;

#define POLICY_LOCAL	0	/* one of our domains (or Postmaster) */
#define POLICY_RELAY	1	/* elsewhere, and relaying is allowed */
#define POLICY_DENIED	2	/* elsewhere, relay denied */

int policy_rcpt(const struct config *cfg, const struct addr *rcpt,
    const struct sockaddr *peer, int authenticated);
int policy_sender(const char *auth_user, const struct addr *sender);

/* --- smtpd-received.c ------------------------------------------------- */

struct received_info {
	const char *helo;	/* checked printable ASCII, or "" */
	const char *client_ip;	/* text, or "" when unknown */
	const char *hostname;
	const char *protocol;	/* SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA */
	const char *tls;	/* "TLSv1.3 CIPHER" or NULL */
	const char *auth_user;	/* or NULL */
	const char *rcpt;	/* the one recipient, or NULL */
	int smtputf8;		/* MAIL FROM had SMTPUTF8 (RFC 6531) */
	time_t when;
};

int received_header(const struct received_info *ri, struct buf *out);
const char *received_protocol(const char *protocol, int smtputf8);
int received_date(time_t when, struct buf *out);
int received_msgid(const char *hostname, struct buf *out);
void received_comment(const char *s, size_t n, struct buf *out);

/* --- smtpd-auth.c (SASL decoding is pure) ----------------------------- */

#define SASL_USER_MAX	255
#define SASL_PASS_MAX	1024

int sasl_plain_split(const char *p, size_t n, char *user, size_t usize,
    char *pass, size_t psize, size_t *passlen_r);

/* --- smtpd-in.c ------------------------------------------------------- */

struct smtp_in {
	struct io *io;
	size_t pos, len;	/* unread bytes are buf[pos..len) */
	uint64_t bytes;		/* read from io in all */
	char buf[IO_BUFSIZE];
};

void in_init(struct smtp_in *in, struct io *io);
int in_line(struct smtp_in *in, struct buf *line, size_t max, int *flags_r);
int in_avail(struct smtp_in *in, const char **p_r, size_t *n_r);
void in_consume(struct smtp_in *in, size_t n);
size_t in_buffered(const struct smtp_in *in);
int in_pending(struct smtp_in *in);
void in_discard(struct smtp_in *in);

/* --- smtpd-inject.c --------------------------------------------------- */

struct inject {
	pid_t pid;		/* -1 when none */
	int msg_fd, env_fd, rep_fd;
	int timeout_ms;
	int failed;		/* errno of the first failed write, or 0 */
	struct io *msg;		/* the message pipe */
};

struct inject_result {
	int kind;		/* 'K', 'Z', 'D', or 0: no valid report */
	int exit_status;	/* waitpid status, -1 if killed or lost */
	char qid[64];		/* kind K */
	char status[16];	/* kind Z and D: "4.3.0" */
	char text[256];		/* kind Z and D, printable */
};

int inject_start(struct inject *inj, const char *prog, const char *config,
    int timeout_ms, const char **error_r);
int inject_write(struct inject *inj, const char *p, size_t n);
int inject_finish(struct inject *inj, const char *env, size_t envlen,
    struct inject_result *res);
void inject_abort(struct inject *inj);

/* --- the session (smtpd.c, smtpd-session.c, smtpd-auth.c) -------------- */

#define SMTPD_MODE_SMTP		0	/* port 25: from other MTAs */
#define SMTPD_MODE_SUBMISSION	1	/* port 587: STARTTLS, AUTH */
#define SMTPD_MODE_SUBMISSIONS	2	/* port 465: TLS first, AUTH */

struct smtpd_opts {
	int timeout_ms;		/* each wait for a command line */
	int data_timeout_ms;	/* each wait inside DATA/BDAT */
	int tls_timeout_ms;	/* a whole TLS handshake */
	int inject_timeout_ms;	/* inject's writes and report */
	unsigned min_data_rate;	/* octets/s in DATA/BDAT; 0: none */
	unsigned max_rcpts;
	unsigned max_errors;
	unsigned max_unknown;
	unsigned max_junk;
	unsigned max_auth_fail;
	unsigned auth_delay_ms;
	unsigned hops_max;
	int vrfy_auth;		/* VRFY answers authenticated clients */
};

struct userdb;
struct throttle;


struct session {
	const struct config *cfg;
	const struct smtpd_opts *opt;
	int mode;		/* SMTPD_MODE_* */
	int step;		/* 2 (submission) or 3 (MX), for logs */
	struct io *io;
	struct smtp_in in;
	SSL_CTX *tls_ctx;	/* NULL: no TLS here */
	struct userdb *udb;	/* opened on first use */
	struct throttle *thr;	/* opened at the first AUTH, or NULL */
	int thr_tried;
	struct sockaddr_storage peer;
	int have_peer;
	char client_ip[64];	/* "" when unknown */

	/* session state */
	int helo_done;		/* HELO or EHLO since the start or TLS */
	int esmtp;		/* it was EHLO */
	int tls;
	char helo[SMTPD_HELO_MAX + 1];
	char tls_desc[128];
	int authenticated;
	char auth_user[SASL_USER_MAX + 1];
	unsigned auth_failures;

	/* the mail transaction */
	int in_mail;
	struct addr sender;
	struct smtp_mail_params mp;
	struct envelope env;
	unsigned rcpt_tried;	/* RCPT commands in this transaction */
	int bdat;		/* a BDAT message is open */
	int inj_running;
	struct inject inj;
	struct smtp_data data;
	struct buf fix_date, fix_msgid;

	/* counters */
	int last_code;		/* code of the last reply */
	int last_uncounted;	/* that reply is not an error (452 4.5.3) */
	unsigned errors, unknown, junk;
	unsigned long commands, messages, rcpts;
	struct buf line;	/* the command line */
	struct buf tmp;		/* scratch */
};

void session_run(struct session *s);
void session_reply(struct session *s, int code, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void session_log(struct session *s, int level, const char *event, ...)
    __attribute__((sentinel));
void session_reset_txn(struct session *s);
void session_end(struct session *s, const char *why);
int session_read_line(struct session *s, size_t max, int timeout_ms,
    int *flags_r);
void session_auth(struct session *s, const struct smtp_cmd *cmd);

/* smtpd.c: the ways out; each logs, replies when it can, and exits. */
void die_temp(struct session *s, const char *what, const char *detail)
    __attribute__((noreturn));
void die_timeout(struct session *s) __attribute__((noreturn));
void die_hangup(struct session *s, int code, const char *status,
    const char *text, const char *why) __attribute__((noreturn));
void die_gone(struct session *s, const char *why) __attribute__((noreturn));

/* smtpd-users.c */
int users_rcpt(struct session *s, const struct addr *a);
int users_sender_owned(struct session *s, const struct addr *sender);
int users_expn(struct session *s, const struct addr *a, struct buf *out);
int users_password(struct session *s, const char *user, const char *pass,
    size_t passlen);
int users_throttled(struct session *s);
unsigned users_failed(struct session *s);
void users_succeeded(struct session *s);
void users_close(struct session *s);

#endif
