/*
 * NAME
 *	handoff.h - a login process hands its client to a post-login process
 *
 * DESCRIPTION
 *	pop3d and imapd start as a login process: it speaks to the client
 *	until a login succeeds, as a user that can read no mail (maild's
 *	user_login). authd then gives it a ticket, and the login process
 *	starts PROG-user (pop3d-user, imapd-user: the same program, made
 *	set-uid to the mail user by make install) with the connection on
 *	descriptors 0 and 1 and the handoff on descriptor HANDOFF_FD. That
 *	process redeems the ticket with authd (so a login process cannot
 *	lie about who logged in), opens the one user's Maildir and goes on
 *	with the session.
 *
 *	Without TLS the login process becomes PROG-user in place (execv):
 *	the client's socket simply changes hands. With TLS the encryption
 *	state lives in the login process, so it forks PROG-user on one end
 *	of a socket pair and stays as a plain relay between the TLS stream
 *	and the pair until either side closes (handoff_start() returns
 *	then; the caller exits).
 *
 *	The handoff, written once into a pipe and read to its end:
 *
 *	    mailstack-handoff 1 LF
 *	    ticket LF  client LF  method LF  tag LF  tls(0|1) LF
 *	    pending-octets LF  <that many octets>
 *
 *	tag is the IMAP command tag to answer (empty for POP3); pending
 *	octets are what the client sent after its login command and the
 *	login process had already read (plaintext only; HANDOFF_PENDING_MAX).
 *
 * DIAGNOSTICS
 *	handoff_start: returns only with TLS, 0 when the relay has ended;
 *	otherwise -1 with *error_r (nothing was started, or the exec failed:
 *	the caller ends the session with a temporary error).
 *	handoff_encode: 0, or -1 when a field holds a LF or it is too long.
 *	handoff_parse (what handoff_recv does with what it read): 0, or -1
 *	with *error_r for a missing, short, long or malformed handoff. handoff_take() is the receiving side whole: it
 *	reads the handoff from HANDOFF_FD, closes it, and returns the
 *	connection on 0 and 1 (marked secure when the login process holds
 *	its TLS, with the pending octets in front), or NULL with *error_r.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include "buf.h"
#include "io.h"

#define HANDOFF_FD		3
#define HANDOFF_PENDING_MAX	IO_BUFSIZE
#define HANDOFF_MAX		(HANDOFF_PENDING_MAX + 1024)

struct handoff {
	char ticket[40];
	char client[64];
	char method[16];
	char tag[128];
	int tls;
	char pending[HANDOFF_PENDING_MAX];
	size_t pending_len;
};

int handoff_start(struct io *io, const char *program,
    const char *config_path, const char *mode, struct handoff *h,
    const char **error_r);
int handoff_encode(const struct handoff *h, struct buf *out);
int handoff_parse(const char *data, size_t len, struct handoff *h,
    const char **error_r);
int handoff_recv(int fd, struct handoff *h, const char **error_r);
struct io *handoff_take(struct handoff *h, int timeout_ms,
    const char **error_r);

#endif
