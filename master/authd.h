/*
 * NAME
 *	authd.h - what the parts of authd share
 *
 * DESCRIPTION
 *	authd.c runs the socket and the poll loop; authd-serve.c answers one
 *	request; authd-limit.c keeps the failure counts (throttling) and
 *	authd-ticket.c the one-time tickets, both in memory. See authd(8)
 *	and master/AUTHD.md.
 */
#ifndef AUTHD_H
#define AUTHD_H

#include <stddef.h>
#include <stdint.h>

#include "authproto.h"
#include "buf.h"
#include "config.h"

#define AUTHD_CONN_MAX		256	/* clients at once */
#define AUTHD_IDLE_MS		(60 * 1000)	/* idle client timeout */
#define AUTHD_TICKETS_MAX	4096	/* tickets not yet redeemed */
#define AUTHD_TICKET_SECS	30	/* a ticket's life */
#define AUTHD_USER_LIMIT_FACTOR	3	/* user limit: this times address's */
#define AUTHD_LIMIT_SLOTS	8192	/* failure records kept */
#define AUTHD_TEST_ENV		"MAILSTACK_AUTHD_TEST"

/* Times and limits, from the defaults or the test knob. */
struct authd_policy {
	unsigned ticket_ms;		/* a ticket's life */
	unsigned forget_ms;		/* failures forgotten after this */
	unsigned delay_min_ms;		/* the first failure's delay */
	unsigned delay_max_ms;
	unsigned addr_limit;		/* failures before refusal */
	unsigned user_limit;
};

/* One answer: the reply line and when it may go out. */
struct authd_answer {
	struct authproto_reply reply;
	unsigned delay_ms;		/* hold the reply this long */
};

/* authd.c */

/* authd-serve.c */
void authd_policy_init(struct authd_policy *p);
int authd_serve_init(const struct config *cfg,
    const struct authd_policy *p);
void authd_serve_reload(const struct config *cfg);
void authd_serve(const char *line, size_t len, struct authd_answer *a);

/* authd-limit.c */
void authd_limit_init(const struct authd_policy *p);
unsigned authd_limit_check(const char *key, int64_t now_ms,
    unsigned limit, unsigned *failures_r);
unsigned authd_limit_fail(const char *key, int64_t now_ms);
void authd_limit_forget(const char *key);

/* authd-ticket.c */
void authd_ticket_init(const struct authd_policy *p);
int authd_ticket_issue(const char *service, const char *user,
    int64_t now_ms, char ticket_r[AUTHPROTO_TICKET_LEN + 1]);
int authd_ticket_redeem(const char *service, const char *ticket,
    int64_t now_ms, char *user_r, size_t size);

#endif
