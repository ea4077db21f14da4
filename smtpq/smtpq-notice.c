/*
 * NAME
 *	smtpq-notice - failure, delay and success notices (DSN) for an entry
 *
 * SYNOPSIS
 *	void notice_send_all(struct entry *e);
 *
 * DESCRIPTION
 *	At the end of a pass (no job of e running), notice_send_all() sends
 *	at most one notice of each kind for e (QUEUE.md, "Notices"):
 *
 *	    F slots  -> failure notice to the sender, then B
 *	                (NOTIFY=NEVER or without FAILURE: B at once;
 *	                sender <>: a double bounce to the postmaster;
 *	                a failing double bounce: dropped, B)
 *	    S slots  -> success notice to the sender, then K: "delivered"
 *	                for local recipients, "relayed" for remote ones
 *	                (remote reported that the next hop did not take
 *	                the DSN request, so NOTIFY=SUCCESS ends here)
 *	    P slots with NOTIFY=DELAY past queue_delay_warning, flag '-'
 *	             -> delay notice to the sender, then flag W
 *
 *	The notice is built by bounce_build() and queued by running inject
 *	(the sibling program) with the null sender, protocol "local" and
 *	ENVID mailstack.KIND.QID; the slots change only once inject said
 *	"K". A refused notice leaves them as they were, for the next pass.
 *	It is 8BITMIME when it holds 8-bit octets, and SMTPUTF8 mail when it
 *	took RFC 6533's internationalized form (the original was SMTPUTF8,
 *	or an address or the returned header is UTF-8; bounce.c).
 *
 * DIAGNOSTICS
 *	Logged: notice=KIND notice_qid=QID for each notice queued,
 *	status=notice-failed when inject refuses or cannot run,
 *	status=discarded for a dropped double bounce.
 *
 * SECURITY
 *	Runs as the queue user. inject gets an argument list and pipes; the
 *	original message is copied as opaque bytes into the notice
 *	(bounce_build picks a boundary it does not contain).
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "addr.h"
#include "alloc.h"
#include "bounce.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "progpath.h"
#include "queue.h"
#include "smtpq.h"
#include "str.h"

#define NOTICE_TIMEOUT_MS	60000
#define NOTICE_HEAD_MAX		(256 * 1024)	/* header returned, at most */
#define DOUBLE_PREFIX		"mailstack.double."


/* run_inject - queue msg for env through inject; 0 and qid_r when "K" */
static int
run_inject(const struct buf *msg, const struct envelope *env,
    char qid_r[QUEUE_ID_LEN + 1])
{
	struct buf path = BUF_INIT(4096), wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	char *argv[4], rep[128];
	int m[2] = { -1, -1 }, en[2] = { -1, -1 }, rp[2] = { -1, -1 };
	int rc, status = 0, ok = -1, fds[SMTPQ_SPAWN_FDS];
	size_t got = 0;
	pid_t pid;

	if (progpath_sibling("inject", &path) < 0 ||
	    envelope_encode(env, &wire) < 0 || pipe2(m, O_CLOEXEC) < 0 ||
	    pipe2(en, O_CLOEXEC) < 0 || pipe2(rp, O_CLOEXEC) < 0) {
		log_event(LOG_ERR, "status=notice-failed error=\"%s\"",
		    strerror(errno));
		goto out;
	}
	argv[0] = (char *)(uintptr_t)buf_cstr(&path);
	argv[1] = (char *)(uintptr_t)"-c";
	argv[2] = g.cfg.path;
	argv[3] = NULL;
	fds[0] = m[0];
	fds[1] = en[0];
	fds[2] = -1;
	fds[3] = rp[1];
	rc = smtpq_spawn(buf_cstr(&path), argv, fds, 0, &pid);
	(void)close(m[0]);
	(void)close(en[0]);
	(void)close(rp[1]);
	m[0] = en[0] = rp[1] = -1;
	if (rc != 0) {
		log_event(LOG_ERR, "status=notice-failed error=\"cannot run "
		    "inject: %s\"", strerror(rc));
		goto out;
	}
	/* Message first, then the envelope (INJECT.md). */
	if (fd_write_all(m[1], msg->data, msg->len) == 0) {
		(void)close(m[1]);
		m[1] = -1;
		(void)fd_write_all(en[1], wire.data, wire.len);
	}
	if (m[1] >= 0)
		(void)close(m[1]);
	(void)close(en[1]);
	m[1] = en[1] = -1;
	for (;;) {
		struct pollfd p = { rp[0], POLLIN, 0 };
		ssize_t n;
		int r = poll(&p, 1, NOTICE_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			(void)kill(pid, SIGKILL);
			break;
		}
		n = read(rp[0], rep + got, sizeof(rep) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(rep) - 1 || memchr(rep, '\n', got) != NULL)
			break;
	}
	rep[got] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    got >= 2 + QUEUE_ID_LEN && rep[0] == 'K' && rep[1] == ' ') {
		memcpy(qid_r, rep + 2, QUEUE_ID_LEN);
		qid_r[QUEUE_ID_LEN] = '\0';
		if (queue_id_valid(qid_r))
			ok = 0;
	}
	if (ok < 0) {
		char *nl = strchr(rep, '\n');

		if (nl != NULL)
			*nl = '\0';
		log_event(LOG_WARNING, "status=notice-failed reply=\"%s\"",
		    got > 0 ? rep : "(none)");
	}
out:
	if (m[1] >= 0)
		(void)close(m[1]);
	if (en[1] >= 0)
		(void)close(en[1]);
	if (rp[0] >= 0)
		(void)close(rp[0]);
	if (m[0] >= 0)
		(void)close(m[0]);
	if (en[0] >= 0)
		(void)close(en[0]);
	if (rp[1] >= 0)
		(void)close(rp[1]);
	buf_free(&path);
	buf_free(&wire);
	return ok;
}

/* read_original - the message, or its header, from the entry */
static int
read_original(struct entry *e, int headers_only, struct buf *out)
{
	uint64_t want = e->q.msg_len;
	size_t got = 0;

	if (headers_only && want > NOTICE_HEAD_MAX)
		want = NOTICE_HEAD_MAX;
	if (buf_reserve(out, (size_t)want) < 0)
		return -1;
	while (got < want) {
		ssize_t n = pread(e->fd, out->data + got, (size_t)want - got,
		    (off_t)(e->q.msg_off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	out->len = got;
	out->data[got] = '\0';
	if (headers_only)
		buf_truncate(out, bounce_header_end(out->data, out->len));
	return 0;
}

/* postmaster - where double bounces go */
static void
postmaster(struct buf *out)
{
	buf_reset(out);
	if (g.cfg.domains.n > 0)
		(void)buf_printf(out, "postmaster@%s", g.cfg.domains.v[0]);
	else
		(void)buf_append_str(out, "postmaster");
}

/* send_notice - build and queue one notice of kind for slots idx[0..n) */
static int
send_notice(struct entry *e, enum bounce_kind kind, const char *to,
    const size_t *idx, size_t n, const char *envid_kind)
{
	struct bounce b;
	struct bounce_rcpt *rc = alloc_calloc(n, sizeof(*rc));
	struct buf orig = BUF_INIT(QUEUE_MSG_MAX), msg = BUF_INIT(BOUNCE_MAX);
	struct buf envid = BUF_INIT(128), logb = BUF_INIT(LOG_LINE_MAX);
	struct envelope env;
	char qid[QUEUE_ID_LEN + 1];
	int flags = 0, r = -1, headers_only;
	size_t i;

	headers_only = kind != BOUNCE_FAILURE ||
	    (e->q.env.ret != NULL && strcmp(e->q.env.ret, "HDRS") == 0) ||
	    (e->q.env.body != NULL &&
	    strcmp(e->q.env.body, "BINARYMIME") == 0) ||
	    e->q.msg_len > g.qc.bounce_size_limit;
	if (read_original(e, headers_only, &orig) < 0) {
		log_event(LOG_ERR, "qid=%s status=notice-failed error=\"cannot "
		    "read the original\"", e->qid);
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc[i].addr = e->q.env.rcpts[idx[i]].addr;
		rc[i].orcpt = e->q.env.rcpts[idx[i]].orcpt;
		rc[i].text = e->q.slots[idx[i]].text;
		rc[i].last_try = e->q.slots[idx[i]].last_try;
	}
	memset(&b, 0, sizeof(b));
	b.kind = kind;
	b.hostname = g.cfg.hostname;
	b.qid = e->qid;
	b.envid = e->q.env.envid;
	b.sender = e->q.env.sender;
	b.to = to;
	b.arrival = e->q.arrival;
	b.now = clock_now();
	b.retry_until = e->q.arrival + (int64_t)g.qc.lifetime;
	b.original = orig.data != NULL ? orig.data : "";
	b.original_len = orig.len;
	b.headers_only = headers_only;
	b.smtputf8 = e->q.env.smtputf8;
	b.rcpts = rc;
	b.n_rcpts = n;
	if (bounce_build(&b, &msg, &flags) < 0) {
		log_event(LOG_ERR, "qid=%s status=notice-failed error=\"cannot "
		    "build the notice\"", e->qid);
		goto out;
	}
	(void)buf_printf(&envid, "mailstack.%s.%s", envid_kind, e->qid);
	envelope_init(&env);
	env.sender = (char *)(uintptr_t)"";
	env.envid = (char *)(uintptr_t)buf_cstr(&envid);
	env.protocol = (char *)(uintptr_t)"local";
	env.body = (flags & BOUNCE_8BIT) ? (char *)(uintptr_t)"8BITMIME" :
	    NULL;
	env.smtputf8 = (flags & BOUNCE_UTF8) != 0;
	if (envelope_add_rcpt(&env, to, NULL, 0) == 0)
		r = run_inject(&msg, &env, qid);
	free(env.rcpts[0].addr);
	free(env.rcpts);
	if (r == 0) {
		(void)buf_printf(&logb, "qid=%s status=notice notice=%s "
		    "notice_qid=%s nrcpt=%zu", e->qid, envid_kind, qid, n);
		{
			struct buf v = BUF_INIT(ENVELOPE_RECORD_MAX + 3);

			(void)buf_printf(&v, "<%s>", to);
			(void)log_kv(&logb, "to", v.data, v.len);
			buf_free(&v);
		}
		log_event(LOG_INFO, "%s", buf_cstr(&logb));
	}
out:
	free(rc);
	buf_free(&orig);
	buf_free(&msg);
	buf_free(&envid);
	buf_free(&logb);
	return r;
}

/* set_state - change slot i and write it */
static void
set_state(struct entry *e, size_t i, char state, char flags)
{
	struct queue_slot *s = &e->q.slots[i];

	s->state = state;
	s->flags = flags;
	if (queue_slot_write(e->fd, i, s) < 0)
		log_event(LOG_ERR, "qid=%s status=write-failed error=\"%s\"",
		    e->qid, strerror(errno));
}

/* wants_failure - 1 if recipient i asked for failure notices */
static int
wants_failure(const struct entry *e, size_t i)
{
	int notify = e->q.env.rcpts[i].notify;

	return notify == ENVELOPE_NOTIFY_DEFAULT ||
	    (notify & ENVELOPE_NOTIFY_FAILURE);
}

/* failures - the failure notice (or double bounce, or nothing) */
static int
failures(struct entry *e, size_t *idx)
{
	const char *sender = e->q.env.sender, *envid = e->q.env.envid;
	struct buf pm = BUF_INIT(512);
	size_t i, n = 0;
	int changed = 0;

	for (i = 0; i < e->q.n_rcpts; i++) {
		if (e->q.slots[i].state != QUEUE_S_FAILED)
			continue;
		if (sender[0] == '\0' || wants_failure(e, i))
			idx[n++] = i;
		else {
			/* NOTIFY=NEVER or without FAILURE: no notice. */
			set_state(e, i, QUEUE_S_BOUNCED, e->q.slots[i].flags);
			changed = 1;
		}
	}
	if (n == 0)
		return changed;
	if (sender[0] == '\0' && envid != NULL &&
	    strncmp(envid, DOUBLE_PREFIX, strlen(DOUBLE_PREFIX)) == 0) {
		/* A double bounce that failed: never a loop. */
		log_event(LOG_WARNING, "qid=%s status=discarded nrcpt=%zu "
		    "reason=\"undeliverable double bounce\"", e->qid, n);
	} else if (sender[0] == '\0') {
		postmaster(&pm);
		if (send_notice(e, BOUNCE_FAILURE, buf_cstr(&pm), idx, n,
		    "double") < 0) {
			buf_free(&pm);
			return changed;
		}
	} else if (send_notice(e, BOUNCE_FAILURE, sender, idx, n,
	    "bounce") < 0)
		return changed;
	buf_free(&pm);
	for (i = 0; i < n; i++)
		set_state(e, idx[i], QUEUE_S_BOUNCED,
		    e->q.slots[idx[i]].flags);
	return 1;
}

/*
 * is_local - 1 if rcpt is delivered here (smtpq routes it to deliver:
 * no domain, or one of the config's domains), 0 if it went to remote
 */
static int
is_local(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	char domain[ADDR_DOMAIN_MAX + 1];
	size_t n;

	if (at == NULL)
		return 1;
	n = strlen(at + 1);
	if (n > 0 && at[n] == '.')
		n--;
	if (n > ADDR_DOMAIN_MAX)
		n = ADDR_DOMAIN_MAX;
	memcpy(domain, at + 1, n);
	domain[n] = '\0';
	str_lower(domain);
	return config_is_local_domain(&g.cfg, domain);
}

/*
 * successes - the success notices for S slots: "delivered" for local
 * recipients (local 1), "relayed" for remote ones (local 0)
 */
static int
successes(struct entry *e, size_t *idx, int local)
{
	size_t i, n = 0;

	for (i = 0; i < e->q.n_rcpts; i++)
		if (e->q.slots[i].state == QUEUE_S_SUCCESS &&
		    is_local(e->q.env.rcpts[i].addr) == local)
			idx[n++] = i;
	if (n == 0)
		return 0;
	if (e->q.env.sender[0] != '\0' && send_notice(e, local ?
	    BOUNCE_SUCCESS : BOUNCE_RELAYED, e->q.env.sender, idx, n,
	    local ? "success" : "relayed") < 0)
		return 0;
	for (i = 0; i < n; i++)
		set_state(e, idx[i], QUEUE_S_DELIVERED,
		    e->q.slots[idx[i]].flags);
	return 1;
}

/* delays - the delay notice for long-pending recipients that want it */
static int
delays(struct entry *e, size_t *idx)
{
	int64_t now = clock_now();
	size_t i, n = 0;

	if (g.qc.delay_warning == 0 || e->q.env.sender[0] == '\0' ||
	    now < e->q.arrival + (int64_t)g.qc.delay_warning)
		return 0;
	for (i = 0; i < e->q.n_rcpts; i++) {
		const struct queue_slot *s = &e->q.slots[i];

		if (s->state == QUEUE_S_PENDING && s->flags == QUEUE_F_NONE &&
		    e->q.env.rcpts[i].notify != ENVELOPE_NOTIFY_NEVER &&
		    (e->q.env.rcpts[i].notify & ENVELOPE_NOTIFY_DELAY))
			idx[n++] = i;
	}
	if (n == 0 || send_notice(e, BOUNCE_DELAY, e->q.env.sender, idx, n,
	    "delay") < 0)
		return 0;
	for (i = 0; i < n; i++)
		set_state(e, idx[i], QUEUE_S_PENDING, QUEUE_F_WARNED);
	return 1;
}

/* notice_send_all - every notice e owes, then the slots that say so */
void
notice_send_all(struct entry *e)
{
	size_t *idx = alloc_reallocarray(NULL, e->q.n_rcpts, sizeof(*idx));
	int changed = 0;

	changed |= failures(e, idx);
	changed |= successes(e, idx, 1);
	changed |= successes(e, idx, 0);
	changed |= delays(e, idx);
	if (changed)
		sched_sync_if_needed(e);
	free(idx);
}
