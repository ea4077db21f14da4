/*
 * NAME
 *	qconf.h - the queue's settings: retry, lifetime, concurrency
 *
 * DESCRIPTION
 *	The queue keys of mailstack.conf(5) (see smtpq/QUEUE.md), as
 *	numbers, with their defaults. qconf_from_config() is the one place
 *	that maps the config file onto them. Durations are seconds.
 */
#ifndef QCONF_H
#define QCONF_H

#include <stdint.h>

#include "config.h"

#define QCONF_RETRY_MIN		300		/* 5 minutes */
#define QCONF_RETRY_MAX		(4 * 3600)	/* 4 hours */
#define QCONF_LIFETIME		(5 * 86400)	/* 5 days */
#define QCONF_DELAY_WARNING	(4 * 3600)	/* 4 hours; 0 = never */
#define QCONF_CONCURRENCY	20
#define QCONF_DEST_CONCURRENCY	10
#define QCONF_DELIVER_TIMEOUT	600
#define QCONF_REMOTE_TIMEOUT	3600
#define QCONF_BOUNCE_SIZE	102400

#define QCONF_HOP_LIMIT		100	/* Received: fields (RFC 5321 6.3) */

struct qconf {
	uint64_t retry_min, retry_max, lifetime, delay_warning;
	unsigned concurrency, dest_concurrency;
	uint64_t deliver_timeout, remote_timeout;
	uint64_t bounce_size_limit;
	unsigned hop_limit;
};

void qconf_defaults(struct qconf *q);
void qconf_from_config(const struct config *cfg, struct qconf *q);
uint64_t qconf_backoff(const struct qconf *q, unsigned failures);

#endif
