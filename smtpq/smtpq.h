/*
 * NAME
 *	smtpq.h - the queue manager's shared state (smtpq*.c only)
 *
 * DESCRIPTION
 *	smtpq.c runs the event loop (trigger FIFO, signals, child output),
 *	scans the folders and carries out delete and flush requests.
 *	smtpq-sched.c keeps the entries (a hash by id and a heap by due
 *	time), the destinations and the passes over an entry.
 *	smtpq-job.c starts deliver and remote jobs and applies their results.
 *	smtpq-notice.c builds the DSNs and queues them through inject.
 *	See QUEUE.md for the behaviour.
 */
#ifndef SMTPQ_H
#define SMTPQ_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "qconf.h"
#include "queue.h"

#define SMTPQ_LOADED_MAX	10000	/* entries in memory at once */
#define SMTPQ_REMOTE_RCPTS	100	/* recipients in one remote job */
#define SMTPQ_LOCAL_RCPTS	50	/* recipients in one deliver job */
#define SMTPQ_LINE_MAX		1000	/* one result line */
#define SMTPQ_RESCAN_SECS	60	/* look at new/ and delete/ anyway */
#define SMTPQ_TMP_MAX_AGE	(36 * 3600)	/* a crashed inject's file */
#define SMTPQ_STOP_GRACE_MS	3000	/* SIGTERM: jobs may finish */

struct entry;
struct dest;

/* A delivery waiting for a job slot: some recipients of one entry. */
struct req {
	struct entry *e;
	struct dest *d;
	size_t *rcpts;
	size_t n;
	struct req *next;
};

/* A destination: one domain (local or remote). */
struct dest {
	char *name;			/* lower case; "" for no domain */
	int local;
	unsigned running;		/* jobs now */
	unsigned fails;			/* consecutive dead remote jobs */
	int64_t dead_until;		/* 0: alive */
	struct req *head, *tail;	/* waiting requests */
	int in_rr;			/* on the round-robin list */
	struct dest *rr_next;
	struct dest *hnext;
};

/* A job: one deliver or remote process. */
struct job {
	pid_t pid;
	struct entry *e;
	struct dest *d;
	size_t *rcpts;
	size_t n;
	int out_fd;			/* its stdout, -1 once closed */
	struct buf out;
	int64_t deadline_ms;		/* monotonic */
	int timed_out;
	unsigned served;		/* the deliver server's (its generation) */
	struct job *next;
};

/* A queue entry smtpq knows (in cur/). */
struct entry {
	char qid[QUEUE_ID_LEN + 1];
	int64_t due;			/* next look, clock_now() seconds */
	size_t heap_idx;		/* SIZE_MAX: not in the heap */
	int loaded;			/* in a pass: q and fd are valid */
	struct queue_entry q;
	int fd;				/* O_RDWR */
	unsigned busy;			/* requests and jobs outstanding */
	int flushed;			/* next pass: everything is due */
	int deleting;			/* the operator asked to delete it */
	struct entry *hnext;
};

struct smtpq {
	struct config cfg;
	struct qconf qc;
	struct queue_dirs qd;
	int trigger_fd;
	unsigned loaded;		/* entries in a pass */
	unsigned running;		/* jobs now */
	unsigned n_entries;
	int stopping;
	struct job *jobs;
	struct dest *rr_head, *rr_tail;
};

extern struct smtpq g;

/* smtpq.c */
void smtpq_quarantine(int dirfd, const char *name, const char *why);
void smtpq_log_rcpt(const struct entry *e, size_t i, const char *relay,
    int step, const char *status, const char *text);

/* smtpq-sched.c */
void sched_init(void);
struct entry *sched_lookup(const char *qid);
struct entry *sched_add(const char *qid, int64_t due);
void sched_forget(struct entry *e);
void sched_run_due(int64_t now);
void sched_dispatch(void);
void sched_flush(int64_t now);
int64_t sched_next_due(void);
void sched_pass_end(struct entry *e);
void sched_delete(struct entry *e);
void sched_dest_done(struct dest *d);
int sched_entry_finished(const struct entry *e);
void sched_sync_if_needed(struct entry *e);

/* smtpq-job.c */
int job_start(struct req *r);
void job_reaped(pid_t pid, int status);
void job_ended(struct job *j, int status);
void job_read(struct job *j);
void job_timeouts(int64_t now_ms);
void job_kill_all(void);
void job_result_temp(struct entry *e, size_t i, const char *text,
    const char *relay, int step);

/* smtpq-spawn.c */
#define SMTPQ_SPAWN_FDS	4	/* descriptors 0..3 may be given */
int smtpq_spawn(const char *prog, char *const argv[],
    const int fds[SMTPQ_SPAWN_FDS], int own_group, pid_t *pid_r);

/* smtpq-dserver.c */
int dserver_submit(struct job *j, const char *prog, int msgfd, int outfd);
int dserver_fd(void);
void dserver_read(void);
void dserver_reload(void);
void dserver_hung(void);
void dserver_stop(void);

/* smtpq-notice.c */
void notice_send_all(struct entry *e);

#endif
