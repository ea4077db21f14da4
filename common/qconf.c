/*
 * NAME
 *	qconf - the queue's settings
 *
 * SYNOPSIS
 *	void qconf_defaults(struct qconf *q);
 *	void qconf_from_config(const struct config *cfg, struct qconf *q);
 *	uint64_t qconf_backoff(const struct qconf *q, unsigned failures);
 *
 * DESCRIPTION
 *	qconf_defaults() fills q with the defaults of qconf.h (the same as
 *	config(3)'s). qconf_from_config() takes the queue keys of the loaded
 *	config (queue_retry_min, queue_retry_max, queue_lifetime,
 *	queue_delay_warning, queue_concurrency,
 *	queue_destination_concurrency, deliver_timeout, remote_timeout,
 *	bounce_size_limit), keeping retry_max >= retry_min and the counts
 *	between 1 and 100000.
 *
 *	qconf_backoff() is the wait after the n-th consecutive temporary
 *	failure (n >= 1): retry_min doubled n-1 times, at most retry_max.
 *
 * DIAGNOSTICS
 *	None; these cannot fail.
 *
 * SECURITY
 *	No privileges, no input beyond the loaded config.
 */
#include "config.h"
#include "qconf.h"

/* qconf_defaults - every setting at its default */
void
qconf_defaults(struct qconf *q)
{
	q->retry_min = QCONF_RETRY_MIN;
	q->retry_max = QCONF_RETRY_MAX;
	q->lifetime = QCONF_LIFETIME;
	q->delay_warning = QCONF_DELAY_WARNING;
	q->concurrency = QCONF_CONCURRENCY;
	q->dest_concurrency = QCONF_DEST_CONCURRENCY;
	q->deliver_timeout = QCONF_DELIVER_TIMEOUT;
	q->remote_timeout = QCONF_REMOTE_TIMEOUT;
	q->bounce_size_limit = QCONF_BOUNCE_SIZE;
	q->hop_limit = QCONF_HOP_LIMIT;
}

/* clamp_count - a config count as an unsigned, at least 1 */
static unsigned
clamp_count(uint64_t v)
{
	if (v == 0)
		return 1;
	return v > 100000 ? 100000 : (unsigned)v;
}

/* qconf_from_config - the settings the config file gives (or defaults) */
void
qconf_from_config(const struct config *cfg, struct qconf *q)
{
	qconf_defaults(q);
	q->retry_min = cfg->queue_retry_min;
	q->retry_max = cfg->queue_retry_max < cfg->queue_retry_min ?
	    cfg->queue_retry_min : cfg->queue_retry_max;
	q->lifetime = cfg->queue_lifetime;
	q->delay_warning = cfg->queue_delay_warning;
	q->concurrency = clamp_count(cfg->queue_concurrency);
	q->dest_concurrency = clamp_count(cfg->queue_destination_concurrency);
	q->deliver_timeout = cfg->deliver_timeout;
	q->remote_timeout = cfg->remote_timeout;
	q->bounce_size_limit = cfg->bounce_size_limit;
	q->hop_limit = clamp_count(cfg->hop_limit);
}

/* qconf_backoff - seconds to wait after the n-th temporary failure */
uint64_t
qconf_backoff(const struct qconf *q, unsigned failures)
{
	uint64_t wait = q->retry_min > 0 ? q->retry_min : 1;
	unsigned i;

	for (i = 1; i < failures && wait < q->retry_max; i++)
		wait *= 2;
	return wait < q->retry_max ? wait : q->retry_max;
}
