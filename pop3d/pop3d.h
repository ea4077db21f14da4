/*
 * NAME
 *	pop3d.h - the POP3 server's parts: parser, output, session, maildrop
 *
 * DESCRIPTION
 *	pop3d.c holds main() and the die_*() helpers; pop3d-cmd.c parses
 *	command lines and SASL data (no I/O: the fuzz target and the unit
 *	tests drive it in-process); pop3d-output.c turns a stored message
 *	into CRLF text with dot-stuffing; pop3d-session.c is the state
 *	machine (AUTHORIZATION, TRANSACTION, UPDATE); pop3d-auth.c checks
 *	credentials (USER/PASS, AUTH PLAIN and LOGIN) with login
 *	throttling; pop3d-maildrop.c opens, locks and confines the user's
 *	Maildir after login and commits the session at QUIT.
 */
#ifndef POP3D_H
#define POP3D_H

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "config.h"
#include "io.h"
#include "mailbox.h"
#include "maildir.h"
#include "throttle.h"
#include "userdb.h"

/* Limits (RFC 1939, RFC 2449, RFC 5034) and timeouts. */
#define POP3D_LINE_MAX		512	/* a command, no CRLF: 255 + margin */
#define POP3D_SASL_LINE_MAX	8192	/* a SASL response line */
#define POP3D_DISCARD_MAX	65536	/* a longer line ends the session */
#define POP3D_ARG_MAX		255	/* USER name, PASS password */
#define POP3D_NUMBER_MAX	4294967295U	/* message numbers, TOP lines */
/*
 * The timeouts are pop3_idle_timeout, pop3_tls_timeout and
 * pop3_min_send_rate in mailstack.conf(5), kept in struct pop3d; these
 * are their defaults (POP3D_IDLE_SECS is also RFC 1939's floor).
 */
#define POP3D_IDLE_SECS		600	/* RFC 1939: at least 10 minutes */
#define POP3D_TLS_SECS		60	/* a whole TLS handshake */
#define POP3D_MIN_RATE		1024	/* octets/s a client must take */
#define POP3D_TEST_MS_MAX	3600000	/* -t MS: at most an hour */
#define POP3D_BAD_PREAUTH_MAX	5	/* bad commands before login */
#define POP3D_BAD_MAX		20	/* bad commands after login */
#define POP3D_AUTH_FAILS_MAX	3	/* failed logins on one connection */
#define POP3D_MSGID_MAX		250	/* Message-ID octets kept for logs */
#define POP3D_IMPLEMENTATION	"mailstack-pop3d"
#define POP3D_LOCK_FILE		"pop3d.lock"

/* What the parser recognises. */
enum pop3d_cmd_id {
	POP3D_CMD_UNKNOWN = 0,
	POP3D_CMD_USER, POP3D_CMD_PASS, POP3D_CMD_QUIT, POP3D_CMD_STAT,
	POP3D_CMD_LIST, POP3D_CMD_RETR, POP3D_CMD_DELE, POP3D_CMD_NOOP,
	POP3D_CMD_RSET, POP3D_CMD_TOP, POP3D_CMD_UIDL, POP3D_CMD_CAPA,
	POP3D_CMD_STLS, POP3D_CMD_AUTH,
};

/* pop3d_parse() results. */
#define POP3D_PARSE_OK		0
#define POP3D_PARSE_UNKNOWN	1	/* no such keyword (or not offered) */
#define POP3D_PARSE_SYNTAX	2	/* bad arguments */
#define POP3D_PARSE_RANGE	3	/* a number above POP3D_NUMBER_MAX */

struct pop3d_cmd {
	enum pop3d_cmd_id id;
	int nnum;		/* numbers given (LIST UIDL RETR DELE TOP) */
	uint32_t num[2];
	int bad_num;		/* POP3D_PARSE_RANGE: which number (0 or 1) */
	const char *arg;	/* USER name, PASS password, AUTH mechanism */
	size_t arg_len;
	const char *arg2;	/* AUTH initial response, or NULL */
	size_t arg2_len;
};

int pop3d_parse(const char *line, size_t len, struct pop3d_cmd *c);
int pop3d_base64_decode(const char *in, size_t len, struct buf *out);
int pop3d_sasl_plain(const char *data, size_t len, const char **authz_r,
    size_t *authz_len_r, const char **authc_r, size_t *authc_len_r,
    const char **pass_r, size_t *pass_len_r);

/* Output of one message (RETR, TOP). */
struct pop3d_out {
	int limited;		/* TOP: stop after max_lines body lines */
	uint64_t max_lines;
	uint64_t body_lines;
	int done;		/* the TOP limit was reached */
	int bol;		/* the next octet starts a line */
	int skip_lf;		/* the last octet was CR */
	int in_header;
	int hdr_match;		/* still matching "Message-ID:" */
	size_t hdr_pos;
	int in_msgid;		/* in the Message-ID field's value */
	uint64_t octets;	/* CRLF text sent, dot-stuffing excluded */
	size_t msgid_len;
	char msgid[POP3D_MSGID_MAX + 1];
};

void pop3d_out_init(struct pop3d_out *o, int limited, uint64_t max_lines);
int pop3d_out_feed(struct pop3d_out *o, const void *p, size_t n,
    struct buf *out);
int pop3d_out_end(struct pop3d_out *o, struct buf *out);

/* Session states (RFC 1939). */
#define POP3D_AUTHORIZATION	0
#define POP3D_TRANSACTION	1
#define POP3D_UPDATE		2

struct pop3d {
	const struct config *cfg;
	struct io *io;
	SSL_CTX *tls_ctx;	/* NULL: no TLS */
	int implicit_tls;	/* -m pop3s */
	int handed_off;		/* pop3d-user: no greeting, logged in */
	int idle_ms;		/* pop3_idle_timeout: a command, autologout */
	int tls_ms;		/* pop3_tls_timeout: a whole TLS handshake */
	uint64_t min_rate;	/* pop3_min_send_rate, octets/s; 0: none */
	char client[INET6_ADDRSTRLEN];
	unsigned char tkey[THROTTLE_KEY_LEN];
	int have_tkey;
	struct throttle *throttle;

	int state;
	unsigned bad;		/* bad commands */
	unsigned auth_fails;	/* failed logins on this connection */
	int have_user;
	char user[POP3D_ARG_MAX + 1];	/* from USER */
	const char *method;	/* how the login happened */

	/* TRANSACTION */
	char address[USERDB_ADDR_MAX + 1];	/* canonical, lower case */
	int have_md;		/* 0: no Maildir yet (empty maildrop) */
	struct maildir md;
	int lock_fd;
	struct mailbox_list list;
	unsigned char *deleted;	/* one per message */
	unsigned char *retrieved;
	size_t n_deleted;
	uint64_t deleted_vsize;
	uint64_t retr_count, retr_octets, top_count, top_octets;
};

/* pop3d.c */
void die_temp(struct pop3d *p, const char *reply, const char *why)
    __attribute__((noreturn));
void die_io(struct pop3d *p, const char *what) __attribute__((noreturn));
void pop3d_reply(struct pop3d *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pop3d_flush(struct pop3d *p);
void pop3d_log_user(struct pop3d *p, int level, const char *event,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* pop3d-session.c */
void pop3d_session(struct pop3d *p) __attribute__((noreturn));
int pop3d_read_line(struct pop3d *p, struct buf *line, size_t max,
    int *toolong_r);
int pop3d_login_allowed(const struct pop3d *p);
void pop3d_bad(struct pop3d *p, const char *reply);
void pop3d_summary(const struct pop3d *p, struct buf *b);

/* pop3d-auth.c */
void pop3d_cmd_user(struct pop3d *p, const struct pop3d_cmd *c);
void pop3d_cmd_pass(struct pop3d *p, const struct pop3d_cmd *c);
void pop3d_cmd_auth(struct pop3d *p, const struct pop3d_cmd *c);
struct handoff;
void pop3d_handed_login(struct pop3d *p, const struct handoff *h);
#define POP3D_USER_PROGRAM	"pop3d-user"	/* after login (handoff.h) */

/* pop3d-maildrop.c */
int pop3d_maildrop_open(struct pop3d *p, const char *local,
    const char *domain);
void pop3d_maildrop_update(struct pop3d *p);

#endif
