/*
 * NAME
 *	remote-conf - remote(8)'s settings from the config
 *
 * SYNOPSIS
 *	void settings_load(const struct config *cfg,
 *	    struct remote_settings *s);
 *
 * DESCRIPTION
 *	The one place that maps mailstack.conf(5) onto what remote uses:
 *	the TLS policy table, the CA file for verified TLS, the credentials
 *	file, and the per-stage timeouts of RFC 5321 4.5.3.2 (see
 *	smtpq/REMOTE-CONFIG-KEYS.txt). Durations become milliseconds, capped
 *	at one day so that they fit an int.
 *
 * DIAGNOSTICS
 *	None: every value was checked by config_load().
 *
 * SECURITY
 *	No privileges; the config is the operator's.
 */
#include <stdint.h>

#include "config.h"
#include "remote.h"

#define DAY_MS	(86400 * 1000)

/* ms - seconds to milliseconds, within 1 ms and one day */
static int
ms(uint64_t seconds)
{
	if (seconds == 0)
		return 1000;
	if (seconds > DAY_MS / 1000)
		return DAY_MS;
	return (int)seconds * 1000;
}

/* settings_load - remote's settings, from cfg or the defaults */
void
settings_load(const struct config *cfg, struct remote_settings *s)
{
	s->tls_policy = cfg->tls_policy;
	s->tls_ca_file = cfg->remote_tls_ca_file;
	s->credentials = cfg->remote_credentials;
	s->connect_ms = ms(cfg->remote_connect_timeout);
	s->greeting_ms = ms(cfg->remote_greeting_timeout);
	s->mail_ms = ms(cfg->remote_mail_timeout);
	s->rcpt_ms = ms(cfg->remote_rcpt_timeout);
	s->data_ms = ms(cfg->remote_data_timeout);
	s->block_ms = ms(cfg->remote_block_timeout);
	s->dot_ms = ms(cfg->remote_dot_timeout);
	s->dns_ms = ms(cfg->dns_timeout);
}
