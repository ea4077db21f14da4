/*
 * NAME
 *	authd-ticket - one-time login tickets
 *
 * SYNOPSIS
 *	void authd_ticket_init(const struct authd_policy *p);
 *	int authd_ticket_issue(const char *service, const char *user,
 *	    int64_t now_ms, char ticket_r[AUTHPROTO_TICKET_LEN + 1]);
 *	int authd_ticket_redeem(const char *service, const char *ticket,
 *	    int64_t now_ms, char *user_r, size_t size);
 *
 * DESCRIPTION
 *	A ticket stands for one successful password check: 16 octets from
 *	getrandom(2) written as 32 lower-case hex digits, bound to the user
 *	and the service it was issued for, valid ticket_ms (30 seconds) and
 *	good for one redemption. pop3d and imapd give it to the process that
 *	runs after login, which redeems it instead of seeing the password.
 *
 *	The store is a fixed array of AUTHD_TICKETS_MAX entries; when it is
 *	full the entry closest to expiry is dropped. authd_ticket_redeem()
 *	compares the ticket with every live entry in constant time; a match
 *	is used up whether or not service is the one it was issued for (a
 *	ticket shown to the wrong service is refused and destroyed), and an
 *	expired one is refused.
 *
 * DIAGNOSTICS
 *	authd_ticket_issue: 0, or -1 when getrandom(2) fails (temporary).
 *	authd_ticket_redeem: 1 with the user in user_r, or 0.
 *
 * SECURITY
 *	Tickets are secrets: they are never logged. Entries are wiped when
 *	used up or dropped.
 */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "authd.h"
#include "str.h"

struct ticket {
	char hex[AUTHPROTO_TICKET_LEN + 1];	/* "": free */
	char service[AUTHPROTO_SERVICE_MAX + 1];
	char user[AUTH_USER_MAX + 1];
	int64_t expires_ms;
};

static struct ticket *tickets;
static unsigned life_ms;

/* authd_ticket_init - an empty store */
void
authd_ticket_init(const struct authd_policy *p)
{
	if (tickets == NULL)
		tickets = alloc_calloc(AUTHD_TICKETS_MAX, sizeof(*tickets));
	life_ms = p->ticket_ms;
}

/* equal_ct - 1 if the two tickets are equal; time independent of content */
static int
equal_ct(const char *a, const char *b)
{
	volatile unsigned char diff = 0;
	size_t i;

	for (i = 0; i < AUTHPROTO_TICKET_LEN; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* authd_ticket_issue - a new ticket for user at service */
int
authd_ticket_issue(const char *service, const char *user, int64_t now_ms,
    char ticket_r[AUTHPROTO_TICKET_LEN + 1])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char rnd[AUTHPROTO_TICKET_LEN / 2];
	struct ticket *slot = NULL;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	for (i = 0; i < AUTHD_TICKETS_MAX; i++) {
		struct ticket *t = &tickets[i];

		if (t->hex[0] == '\0' || t->expires_ms <= now_ms) {
			slot = t;
			break;
		}
		if (slot == NULL || t->expires_ms < slot->expires_ms)
			slot = t;
	}
	explicit_bzero(slot, sizeof(*slot));
	for (i = 0; i < sizeof(rnd); i++) {
		slot->hex[2 * i] = hexd[rnd[i] >> 4];
		slot->hex[2 * i + 1] = hexd[rnd[i] & 15];
	}
	explicit_bzero(rnd, sizeof(rnd));
	(void)str_copy(slot->service, sizeof(slot->service), service);
	(void)str_copy(slot->user, sizeof(slot->user), user);
	slot->expires_ms = now_ms + life_ms;
	memcpy(ticket_r, slot->hex, sizeof(slot->hex));
	return 0;
}

/* authd_ticket_redeem - use ticket up; 1 and its user if valid here */
int
authd_ticket_redeem(const char *service, const char *ticket, int64_t now_ms,
    char *user_r, size_t size)
{
	struct ticket *found = NULL;
	size_t i;
	int ok;

	for (i = 0; i < AUTHD_TICKETS_MAX; i++)
		if (tickets[i].hex[0] != '\0' &&
		    equal_ct(tickets[i].hex, ticket))
			found = &tickets[i];
	if (found == NULL)
		return 0;
	ok = found->expires_ms > now_ms &&
	    strcmp(found->service, service) == 0 &&
	    str_copy(user_r, size, found->user) == 0;
	explicit_bzero(found, sizeof(*found));
	return ok;
}
