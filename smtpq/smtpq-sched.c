/*
 * NAME
 *	smtpq-sched - entries, destinations and passes of the queue manager
 *
 * SYNOPSIS
 *	void sched_init(void);
 *	struct entry *sched_lookup(const char *qid);
 *	struct entry *sched_add(const char *qid, int64_t due);
 *	void sched_forget(struct entry *e);
 *	void sched_run_due(int64_t now);
 *	void sched_dispatch(void);
 *	void sched_flush(int64_t now);
 *	int64_t sched_next_due(void);
 *	void sched_pass_end(struct entry *e);
 *	void sched_delete(struct entry *e);
 *	void sched_dest_done(struct dest *d);
 *	int sched_entry_finished(const struct entry *e);
 *	void sched_sync_if_needed(struct entry *e);
 *
 * DESCRIPTION
 *	Every entry of cur/ is known by its id (a hash) and is either in
 *	the heap, ordered by the time it is next due, or in a pass. A pass
 *	(sched_run_due) loads the entry, turns its due pending recipients
 *	into requests queued on their destination, and ends
 *	(sched_pass_end) when none of them is waiting or running: notices
 *	are sent, a finished entry is unlinked, any other goes back to the
 *	heap, unloaded, with its next due time.
 *
 *	sched_dispatch() starts jobs while there is room: at most
 *	queue_concurrency in all, queue_destination_concurrency for one
 *	destination, destinations served round robin, requests of one
 *	destination in the order they came.
 *
 * DIAGNOSTICS
 *	Failures to read an entry are logged; a corrupt entry is
 *	quarantined, an unreadable one is tried again a minute later.
 *
 * SECURITY
 *	Runs as the queue user. Entries are read with queue_read(), which
 *	checks them completely; recipient domains are only compared, never
 *	used as paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "smtpq.h"
#include "str.h"

#define EHASH_SIZE	65536
#define DHASH_SIZE	4096

static struct entry **ehash;
static struct dest **dhash;
static struct entry **heap;
static size_t heap_n, heap_cap;

/* hash - FNV-1a of a string */
static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* sched_init - empty tables */
void
sched_init(void)
{
	ehash = alloc_calloc(EHASH_SIZE, sizeof(*ehash));
	dhash = alloc_calloc(DHASH_SIZE, sizeof(*dhash));
}

/* heap_swap - exchange two heap places */
static void
heap_swap(size_t a, size_t b)
{
	struct entry *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_idx = a;
	heap[b]->heap_idx = b;
}

/* heap_up - move place i up to where it belongs */
static void
heap_up(size_t i)
{
	while (i > 0 && heap[(i - 1) / 2]->due > heap[i]->due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* heap_down - move place i down to where it belongs */
static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_n && heap[l]->due < heap[m]->due)
			m = l;
		if (r < heap_n && heap[r]->due < heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

/* heap_push - add e, due at e->due */
static void
heap_push(struct entry *e)
{
	if (heap_n == heap_cap) {
		heap_cap = heap_cap == 0 ? 1024 : heap_cap * 2;
		heap = alloc_reallocarray(heap, heap_cap, sizeof(*heap));
	}
	heap[heap_n] = e;
	e->heap_idx = heap_n++;
	heap_up(e->heap_idx);
}

/* heap_remove - take e out of the heap */
static void
heap_remove(struct entry *e)
{
	size_t i = e->heap_idx;

	if (i == SIZE_MAX)
		return;
	heap_n--;
	if (i != heap_n) {
		heap[i] = heap[heap_n];
		heap[i]->heap_idx = i;
		heap_up(i);
		heap_down(heap[i]->heap_idx);
	}
	e->heap_idx = SIZE_MAX;
}

/* sched_lookup - the entry with id qid, or NULL */
struct entry *
sched_lookup(const char *qid)
{
	struct entry *e;

	for (e = ehash[hash(qid) % EHASH_SIZE]; e != NULL; e = e->hnext)
		if (strcmp(e->qid, qid) == 0)
			return e;
	return NULL;
}

/* sched_add - a new entry of cur/, due at due */
struct entry *
sched_add(const char *qid, int64_t due)
{
	struct entry *e = alloc_calloc(1, sizeof(*e));
	uint32_t h = hash(qid) % EHASH_SIZE;

	(void)str_copy(e->qid, sizeof(e->qid), qid);
	e->due = due;
	e->fd = -1;
	e->heap_idx = SIZE_MAX;
	queue_entry_init(&e->q);
	e->hnext = ehash[h];
	ehash[h] = e;
	heap_push(e);
	g.n_entries++;
	return e;
}

/* unload - close and free what a pass needed */
static void
unload(struct entry *e)
{
	if (!e->loaded)
		return;
	if (e->fd >= 0)
		(void)close(e->fd);
	e->fd = -1;
	queue_entry_free(&e->q);
	e->loaded = 0;
	g.loaded--;
}

/* sched_forget - drop e from every table and free it */
void
sched_forget(struct entry *e)
{
	struct entry **pp;

	heap_remove(e);
	unload(e);
	for (pp = &ehash[hash(e->qid) % EHASH_SIZE]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	g.n_entries--;
	free(e);
}

/* rr_update - put d on the round-robin list if it can start a job */
static void
rr_update(struct dest *d)
{
	if (d->in_rr || d->head == NULL ||
	    d->running >= g.qc.dest_concurrency)
		return;
	d->in_rr = 1;
	d->rr_next = NULL;
	if (g.rr_tail != NULL)
		g.rr_tail->rr_next = d;
	else
		g.rr_head = d;
	g.rr_tail = d;
}

/* sched_dest_done - a job of d ended: it may start another */
void
sched_dest_done(struct dest *d)
{
	rr_update(d);
}

/*
 * dest_get - the destination for a domain, made on first use; whether it
 * is local follows the config in force (a reload may change it)
 */
static struct dest *
dest_get(const char *domain, int local)
{
	uint32_t h = hash(domain) % DHASH_SIZE;
	struct dest *d;

	for (d = dhash[h]; d != NULL; d = d->hnext)
		if (strcmp(d->name, domain) == 0) {
			d->local = local;
			return d;
		}
	d = alloc_calloc(1, sizeof(*d));
	d->name = alloc_strdup(domain);
	d->local = local;
	d->hnext = dhash[h];
	dhash[h] = d;
	return d;
}

/* route - the destination of a recipient: its domain, local or not */
static struct dest *
route(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	char domain[ADDR_DOMAIN_MAX + 1];
	size_t n;

	if (at == NULL)
		return dest_get("", 1);
	n = strlen(at + 1);
	if (n > 0 && at[n] == '.')
		n--;
	if (n > ADDR_DOMAIN_MAX)
		n = ADDR_DOMAIN_MAX;
	memcpy(domain, at + 1, n);
	domain[n] = '\0';
	str_lower(domain);
	return dest_get(domain, config_is_local_domain(&g.cfg, domain));
}

/* enqueue - put a request at the end of its destination's queue */
static void
enqueue(struct req *r)
{
	struct dest *d = r->d;

	r->next = NULL;
	if (d->tail != NULL)
		d->tail->next = r;
	else
		d->head = r;
	d->tail = r;
	r->e->busy++;
	rr_update(d);
}

/* sched_entry_finished - 1 if every recipient is delivered or bounced */
int
sched_entry_finished(const struct entry *e)
{
	size_t i;

	for (i = 0; i < e->q.n_rcpts; i++)
		if (!queue_state_final(e->q.slots[i].state))
			return 0;
	return 1;
}

/* sched_sync_if_needed - fdatasync e unless it is about to be unlinked */
void
sched_sync_if_needed(struct entry *e)
{
	if (sched_entry_finished(e))
		return;	/* QUEUE.md: the finishing result is not synced */
	if (fdatasync(e->fd) < 0)
		log_event(LOG_ERR, "qid=%s status=sync-failed error=\"%s\"",
		    e->qid, strerror(errno));
}

/* hop_check - Q1: too many Received: fields fail every pending rcpt */
static void
hop_check(struct entry *e, int64_t now)
{
	char text[QUEUE_TEXT_MAX + 1];
	size_t i;
	int changed = 0;

	if (e->q.hops <= g.qc.hop_limit)
		return;
	(void)snprintf(text, sizeof(text),
	    "5.4.6 hop limit exceeded (%u Received: header fields)",
	    e->q.hops);
	for (i = 0; i < e->q.n_rcpts; i++) {
		struct queue_slot *s = &e->q.slots[i];

		if (s->state != QUEUE_S_PENDING)
			continue;
		s->state = QUEUE_S_FAILED;
		s->last_try = now;
		queue_slot_set_text(s, text);
		if (queue_slot_write(e->fd, i, s) < 0)
			log_event(LOG_ERR, "qid=%s status=write-failed "
			    "error=\"%s\"", e->qid, strerror(errno));
		smtpq_log_rcpt(e, i, "smtpq", 0, "bounced", text);
		changed = 1;
	}
	if (changed)
		sched_sync_if_needed(e);
}

/* pass_start - load e and queue requests for its due recipients */
static void
pass_start(struct entry *e, int64_t now)
{
	struct req *reqs = NULL, *r;
	const char *error = NULL;
	int64_t expiry;
	size_t i, cap;
	int flushed;

	if (e->deleting) {
		sched_delete(e);
		return;
	}
	if (queue_read(g.qd.fd[QUEUE_CUR], e->qid, g.qd.owner, 1, &e->q,
	    &e->fd, &error) < 0) {
		if (errno == ENOENT) {
			log_event(LOG_WARNING, "qid=%s status=vanished",
			    e->qid);
			sched_forget(e);
		} else if (errno == EBADMSG) {
			smtpq_quarantine(g.qd.fd[QUEUE_CUR], e->qid, error);
			sched_forget(e);
		} else {
			log_event(LOG_ERR, "qid=%s status=read-failed "
			    "error=\"%s\"", e->qid, strerror(errno));
			e->due = now + 60;
			heap_push(e);
		}
		return;
	}
	e->loaded = 1;
	g.loaded++;
	expiry = e->q.arrival + (int64_t)g.qc.lifetime;
	hop_check(e, now);
	flushed = e->flushed;
	e->flushed = 0;
	for (i = 0; i < e->q.n_rcpts; i++) {
		const struct queue_slot *s = &e->q.slots[i];
		struct dest *d;

		if (s->state != QUEUE_S_PENDING)
			continue;
		if (!flushed && s->next_try > now)
			continue;
		d = route(e->q.env.rcpts[i].addr);
		/* A dead destination waits, but not past the expiry. */
		if (!d->local && d->dead_until > now && !flushed &&
		    now < expiry)
			continue;
		/* Local: up to 50 in one deliver. Remote: up to 100 a
		   domain. */
		cap = d->local ? SMTPQ_LOCAL_RCPTS : SMTPQ_REMOTE_RCPTS;
		for (r = reqs; r != NULL; r = r->next)
			if (r->d == d && r->n < cap)
				break;
		if (r == NULL) {
			r = alloc_calloc(1, sizeof(*r));
			r->e = e;
			r->d = d;
			r->rcpts = alloc_reallocarray(NULL, cap,
			    sizeof(*r->rcpts));
			r->next = reqs;
			reqs = r;
		}
		r->rcpts[r->n++] = i;
	}
	/* reqs is newest first: queue them oldest first. */
	{
		struct req *rev = NULL, *next;

		for (r = reqs; r != NULL; r = next) {
			next = r->next;
			r->next = rev;
			rev = r;
		}
		for (r = rev; r != NULL; r = next) {
			next = r->next;
			enqueue(r);
		}
	}
	if (e->busy == 0)
		sched_pass_end(e);
}

/* next_due - when e must be looked at again */
static int64_t
next_due(const struct entry *e, int64_t now)
{
	int64_t due = INT64_MAX;
	int64_t expiry = e->q.arrival + (int64_t)g.qc.lifetime;
	size_t i;

	for (i = 0; i < e->q.n_rcpts; i++) {
		const struct queue_slot *s = &e->q.slots[i];
		int64_t t;

		if (s->state == QUEUE_S_FAILED || s->state == QUEUE_S_SUCCESS) {
			/* A notice could not be queued: try again later. */
			t = now + (int64_t)g.qc.retry_min;
		} else if (s->state == QUEUE_S_PENDING) {
			struct dest *d = route(e->q.env.rcpts[i].addr);

			t = s->next_try;
			if (!d->local && d->dead_until > t)
				t = d->dead_until < expiry ? d->dead_until :
				    (expiry > t ? expiry : t);
			if (s->flags == QUEUE_F_NONE &&
			    g.qc.delay_warning > 0 &&
			    (e->q.env.rcpts[i].notify &
			    ENVELOPE_NOTIFY_DELAY) &&
			    e->q.env.sender[0] != '\0') {
				int64_t w = e->q.arrival +
				    (int64_t)g.qc.delay_warning;

				if (w < t)
					t = w;
			}
		} else
			continue;
		if (t < due)
			due = t;
	}
	if (due <= now)
		due = now + 1;
	return due;
}

/* sched_pass_end - notices, then unlink a finished entry or reschedule */
void
sched_pass_end(struct entry *e)
{
	int64_t now = clock_now();

	if (e->deleting) {
		sched_delete(e);
		return;
	}
	notice_send_all(e);
	if (sched_entry_finished(e)) {
		if (unlinkat(g.qd.fd[QUEUE_CUR], e->qid, 0) < 0 &&
		    errno != ENOENT) {
			log_event(LOG_ERR, "qid=%s status=unlink-failed "
			    "error=\"%s\"", e->qid, strerror(errno));
			e->due = now + 60;
			unload(e);
			heap_push(e);
			return;
		}
		log_event(LOG_INFO, "qid=%s status=removed", e->qid);
		sched_forget(e);
		return;
	}
	e->due = next_due(e, now);
	unload(e);
	heap_push(e);
}

/* drop_requests - remove every waiting request of e */
static void
drop_requests(struct entry *e)
{
	size_t h;

	for (h = 0; h < DHASH_SIZE; h++) {
		struct dest *d;

		for (d = dhash[h]; d != NULL; d = d->hnext) {
			struct req **pp = &d->head, *last = NULL;

			while (*pp != NULL) {
				struct req *r = *pp;

				if (r->e == e) {
					*pp = r->next;
					e->busy--;
					free(r->rcpts);
					free(r);
				} else {
					last = r;
					pp = &r->next;
				}
			}
			d->tail = last;
		}
	}
}

/* sched_delete - the operator's delete: now, or when its jobs end */
void
sched_delete(struct entry *e)
{
	e->deleting = 1;
	drop_requests(e);
	if (e->busy > 0)
		return;
	if (unlinkat(g.qd.fd[QUEUE_CUR], e->qid, 0) < 0 && errno != ENOENT)
		log_event(LOG_ERR, "qid=%s status=unlink-failed error=\"%s\"",
		    e->qid, strerror(errno));
	else
		log_event(LOG_NOTICE, "qid=%s status=deleted "
		    "reason=\"by the operator\"", e->qid);
	(void)unlinkat(g.qd.fd[QUEUE_DELETE], e->qid, 0);
	sched_forget(e);
}

/* sched_run_due - start a pass for every entry that is due */
void
sched_run_due(int64_t now)
{
	while (heap_n > 0 && heap[0]->due <= now && !g.stopping &&
	    g.loaded < SMTPQ_LOADED_MAX) {
		struct entry *e = heap[0];

		heap_remove(e);
		pass_start(e, now);
	}
}

/* sched_dispatch - start jobs while the limits allow */
void
sched_dispatch(void)
{
	while (!g.stopping && g.running < g.qc.concurrency &&
	    g.rr_head != NULL) {
		struct dest *d = g.rr_head;
		struct req *r;

		g.rr_head = d->rr_next;
		if (g.rr_head == NULL)
			g.rr_tail = NULL;
		d->in_rr = 0;
		r = d->head;
		if (r == NULL)
			continue;
		d->head = r->next;
		if (d->head == NULL)
			d->tail = NULL;
		(void)job_start(r);
		rr_update(d);
	}
}

/* sched_flush - everything due now, destinations alive again */
void
sched_flush(int64_t now)
{
	size_t i;

	for (i = 0; i < heap_n; i++) {
		heap[i]->due = now;
		heap[i]->flushed = 1;
	}
	for (i = 0; i < EHASH_SIZE; i++) {
		struct entry *e;

		for (e = ehash[i]; e != NULL; e = e->hnext)
			e->flushed = 1;
	}
	for (i = 0; i < DHASH_SIZE; i++) {
		struct dest *d;

		for (d = dhash[i]; d != NULL; d = d->hnext) {
			d->dead_until = 0;
			d->fails = 0;
		}
	}
}

/* sched_next_due - the earliest due time in the heap (INT64_MAX: none) */
int64_t
sched_next_due(void)
{
	if (g.loaded >= SMTPQ_LOADED_MAX)
		return INT64_MAX;
	return heap_n > 0 ? heap[0]->due : INT64_MAX;
}
