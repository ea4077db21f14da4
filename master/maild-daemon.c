/*
 * NAME
 *	maild-daemon - the long-lived services maild keeps running
 *
 * SYNOPSIS
 *	int daemons_init(struct maild *m, struct buf *err);
 *	void daemons_start_due(struct maild *m);
 *	int daemons_reap(struct maild *m, pid_t pid, int status);
 *	int daemons_next_restart(const struct maild *m);
 *	void daemons_signal(struct maild *m, int sig);
 *	int daemons_running(const struct maild *m);
 *
 * DESCRIPTION
 *	smtpq (the queue manager) runs for as long as maild does. When it
 *	exits for any reason other than maild stopping, it is started again
 *	after a back-off: 1 second after a first quick death, doubling up to
 *	60 seconds while it keeps dying within a minute of its start, so a
 *	broken installation logs a line a minute instead of spinning. A
 *	daemon that ran for more than a minute is restarted at once.
 *
 *	daemons_next_restart() says how many milliseconds the main loop may
 *	sleep before a restart is due (-1: none pending).
 *
 * DIAGNOSTICS
 *	daemons_init: -1 with err set when a daemon the config needs is not
 *	installed (smtpq, whenever an SMTP listener is set). A failed start
 *	is logged and retried like a death.
 *
 * SECURITY
 *	Runs in maild. The daemons get the config path and nothing else.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "maild.h"
#include "progpath.h"

#define RESTART_MAX	60	/* seconds */
#define QUICK_DEATH	60	/* a daemon dying sooner than this is failing */

static const char *const daemon_programs[] = { "smtpq", "authd" };

/* installed - 1 if program is beside maild and executable */
static int
installed(const char *program)
{
	struct buf path = BUF_INIT(4096);
	int ok = progpath_sibling(program, &path) == 0 &&
	    access(buf_cstr(&path), X_OK) == 0;

	buf_free(&path);
	return ok;
}

/* daemons_init - the daemons this config needs; -1 if one is missing */
int
daemons_init(struct maild *m, struct buf *err)
{
	size_t i, n = sizeof(daemon_programs) / sizeof(daemon_programs[0]);
	int smtp = m->cfg.listen_smtp.set || m->cfg.listen_submission.set ||
	    m->cfg.listen_submissions.set;

	m->daemons = alloc_calloc(n, sizeof(*m->daemons));
	m->n_daemons = 0;
	for (i = 0; i < n; i++) {
		const char *p = daemon_programs[i];

		if (!installed(p)) {
			if (strcmp(p, "smtpq") == 0 && smtp) {
				buf_reset(err);
				(void)buf_printf(err, "%s: SMTP listeners are "
				    "set but the queue manager %s is not "
				    "installed", m->config_path, p);
				return -1;
			}
			continue;
		}
		m->daemons[m->n_daemons].program = p;
		m->daemons[m->n_daemons].restart_at = 1;	/* start now */
		m->n_daemons++;
	}
	return 0;
}

/* daemons_start_due - start every daemon whose (re)start time has come */
void
daemons_start_due(struct maild *m)
{
	time_t now = time(NULL);
	size_t i;

	if (m->stopping)
		return;
	for (i = 0; i < m->n_daemons; i++) {
		struct maild_daemon *d = &m->daemons[i];

		if (d->pid != 0 || d->restart_at == 0 || d->restart_at > now)
			continue;
		d->restart_at = 0;
		d->started = now;
		d->pid = maild_spawn(m, d->program, NULL, -1);
		if (d->pid > 0)
			log_event(LOG_INFO, "event=start program=%s pid=%ld",
			    d->program, (long)d->pid);
		else {
			d->pid = 0;
			d->failures++;
			d->restart_at = now + RESTART_MAX;
		}
	}
}

/* daemons_reap - note the death of daemon pid if it is one; 1 if it was */
int
daemons_reap(struct maild *m, pid_t pid, int status)
{
	time_t now = time(NULL);
	unsigned delay;
	char how[64];
	size_t i;

	for (i = 0; i < m->n_daemons; i++) {
		struct maild_daemon *d = &m->daemons[i];

		if (d->pid != pid)
			continue;
		d->pid = 0;
		maild_describe_status(status, how, sizeof(how));
		if (m->stopping) {
			log_event(LOG_INFO, "event=stopped program=%s pid=%ld "
			    "status=\"%s\"", d->program, (long)pid, how);
			return 1;
		}
		if (now - d->started < QUICK_DEATH)
			d->failures++;
		else
			d->failures = 0;
		delay = d->failures == 0 ? 0 : 1u << (d->failures < 7 ?
		    d->failures - 1 : 6);
		if (delay > RESTART_MAX)
			delay = RESTART_MAX;
		d->restart_at = now + delay;
		if (d->restart_at == 0)
			d->restart_at = 1;
		log_event(LOG_WARNING, "event=died program=%s pid=%ld "
		    "status=\"%s\" restart_in=%us", d->program, (long)pid, how,
		    delay);
		return 1;
	}
	return 0;
}

/* daemons_next_restart - ms until the next pending restart, -1 if none */
int
daemons_next_restart(const struct maild *m)
{
	time_t now = time(NULL);
	long best = -1;
	size_t i;

	if (m->stopping)
		return -1;
	for (i = 0; i < m->n_daemons; i++) {
		const struct maild_daemon *d = &m->daemons[i];
		long ms;

		if (d->pid != 0 || d->restart_at == 0)
			continue;
		ms = d->restart_at <= now ? 0 : (long)(d->restart_at - now) *
		    1000;
		if (best < 0 || ms < best)
			best = ms;
	}
	return (int)best;
}

/* daemons_signal - send sig to every running daemon */
void
daemons_signal(struct maild *m, int sig)
{
	size_t i;

	for (i = 0; i < m->n_daemons; i++)
		if (m->daemons[i].pid > 0)
			(void)kill(m->daemons[i].pid, sig);
}

/* daemons_running - how many daemons are running */
int
daemons_running(const struct maild *m)
{
	size_t i;
	int n = 0;

	for (i = 0; i < m->n_daemons; i++)
		if (m->daemons[i].pid > 0)
			n++;
	return n;
}
