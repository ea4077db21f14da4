/*
 * NAME
 *	smtpd-policy - the relay decision of smtpd(8)
 *
 * SYNOPSIS
 *	int policy_rcpt(const struct config *cfg, const struct addr *rcpt,
 *	    const struct sockaddr *peer, int authenticated);
 *	int policy_sender(const char *auth_user, const struct addr *sender);
 *
 * DESCRIPTION
 *	policy_rcpt() decides where a recipient, as addr_parse_path() left
 *	it, goes: POLICY_LOCAL when its domain is one of the config's
 *	domains (or it is the bare <Postmaster> of RFC 5321 4.5.1), else
 *	POLICY_RELAY when the session is authenticated or the client's
 *	address is in relay_networks, else POLICY_DENIED. The decision uses
 *	the domain after the last '@' outside quotes and nothing else: the
 *	parser already dropped any source route (RFC 5321 4.1.1.3 and C.1),
 *	and '%', '!' and a quoted '@' stay in the local part, where they
 *	only ever make a local lookup fail (SECURITY O1, O2). An address
 *	literal is never local, whatever address it names, and a domain
 *	with a trailing dot or an all-numeric last label never reaches here
 *	(the parser refuses both), so the decision is the one routing will
 *	make (O3). The sender plays no part: no MAIL FROM grants relay.
 *
 *	policy_sender() says whether an authenticated user may use sender
 *	as the reverse path by itself: the null path, or the user's own
 *	address (ASCII case ignored). Aliases the user owns are checked
 *	against the tables by users_sender_owned() in smtpd-users.c.
 *
 * DIAGNOSTICS
 *	Pure functions; they cannot fail.
 *
 * SECURITY
 *	No privileges. This is the open-relay door: keep it this small.
 */
#include <sys/socket.h>

#include <stddef.h>
#include <string.h>

#include "addr.h"
#include "cidr.h"
#include "config.h"
#include "str.h"

#include "smtpd.h"

/* policy_rcpt - POLICY_LOCAL, POLICY_RELAY or POLICY_DENIED */
int
policy_rcpt(const struct config *cfg, const struct addr *rcpt,
    const struct sockaddr *peer, int authenticated)
{
	if (rcpt->domain[0] == '\0')
		return (rcpt->flags & ADDR_F_NULL) ? POLICY_DENIED :
		    POLICY_LOCAL;	/* <Postmaster> */
	if (!(rcpt->flags & ADDR_F_LITERAL) &&
	    config_is_local_domain(cfg, rcpt->domain))
		return POLICY_LOCAL;
	if (authenticated)
		return POLICY_RELAY;
	if (peer != NULL && cidr_match(&cfg->relay_networks, peer))
		return POLICY_RELAY;
	return POLICY_DENIED;
}

/* policy_sender - 1 if an authenticated user may send as sender alone */
int
policy_sender(const char *auth_user, const struct addr *sender)
{
	char text[ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1];

	if (sender->flags & ADDR_F_NULL)
		return 1;
	if (auth_user == NULL || *auth_user == '\0' ||
	    addr_format(sender, text, sizeof(text)) < 0)
		return 0;
	return str_eq_nocase(text, auth_user);
}
