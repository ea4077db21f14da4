/*
 * NAME
 *	mailctl-queue - the "queue" commands of mailctl: list, show, flush,
 *	delete
 *
 * SYNOPSIS
 *	int mailctl_queue(const struct config *cfg, int argc, char **argv);
 *
 * DESCRIPTION
 *	mailctl queue            every queued message: id, age, size, sender,
 *	                         and each recipient with its state, attempts,
 *	                         next try and last result
 *	mailctl queue show ID    one message: envelope, every recipient slot,
 *	                         and the message's header
 *	mailctl queue flush      ask smtpq to retry everything now (trigger
 *	                         byte F)
 *	mailctl queue delete ID  ask smtpq to delete a message: a file
 *	                         queue/delete/ID and trigger byte D
 *
 *	mailctl only reads the queue. Changes go through smtpq, the only
 *	program that changes or removes entries (smtpq/QUEUE.md): delete
 *	leaves a request that smtpq carries out as soon as no delivery of
 *	the message is running, or at its next start when it is not running,
 *	so mailctl and smtpq never race on an entry. delete waits up to five
 *	seconds for the entry to go and says which happened.
 *
 * DIAGNOSTICS
 *	Exit 0 done; 64 usage; 65 a malformed queue id; 67 no such message;
 *	75 temporary (the queue cannot be read, smtpq is not running for a
 *	flush); 78 the queue folders are unsafe.
 *
 * SECURITY
 *	Run by the administrator (root or the queue user). Opens the queue
 *	folders O_NOFOLLOW and refuses unsafe ones; entries are parsed by
 *	queue_read(), which checks them fully; text from entries is printed
 *	with control characters escaped, so a hostile header cannot drive
 *	the terminal.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bounce.h"
#include "buf.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "mailctl.h"
#include "queue.h"

#define SHOW_HEADER_MAX	(64 * 1024)
#define DELETE_WAIT_MS	5000

/* put_safe - print s with control and non-ASCII octets as \xNN */
static void
put_safe(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 0x20 && c < 0x7f) || c == '\t')
			putchar(c);
		else if (c == '\n')
			putchar('\n');
		else
			printf("\\x%02x", c);
	}
}

/* put_str - put_safe for a C string */
static void
put_str(const char *s)
{
	put_safe(s, strlen(s));
}

/* state_name - a slot state in words */
static const char *
state_name(char state)
{
	switch (state) {
	case QUEUE_S_PENDING:
		return "pending";
	case QUEUE_S_DELIVERED:
		return "delivered";
	case QUEUE_S_SUCCESS:
		return "delivered (success notice due)";
	case QUEUE_S_FAILED:
		return "failed (bounce due)";
	case QUEUE_S_BOUNCED:
		return "bounced";
	default:
		return "?";
	}
}

/* duration - seconds as "3d4h", "2h13m", "5m2s" or "7s" */
static void
duration(int64_t s, char *out, size_t size)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		(void)snprintf(out, size, "%lldd%lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		(void)snprintf(out, size, "%lldh%lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else if (s >= 60)
		(void)snprintf(out, size, "%lldm%llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		(void)snprintf(out, size, "%llds", (long long)s);
}

/* open_queue - the queue folders, read-only use; an exit status on error */
static int
open_queue(const struct config *cfg, struct queue_dirs *qd, int *empty_r)
{
	const char *error = NULL;

	*empty_r = 0;
	if (queue_dirs_open(cfg->state_dir, 0, qd, &error) == 0)
		return MAILCTL_EX_OK;
	if (errno == ENOENT) {
		*empty_r = 1;
		return MAILCTL_EX_OK;
	}
	fprintf(stderr, "mailctl: %s/%s: %s (%s)\n", cfg->state_dir,
	    QUEUE_DIR, error, strerror(errno));
	return errno == EPERM ? MAILCTL_EX_CONFIG : MAILCTL_EX_TEMPFAIL;
}

/* read_entry - entry id from new/ or cur/; the folder it was in */
static int
read_entry(const struct queue_dirs *qd, const char *id,
    struct queue_entry *e, int *fd_r, const char **folder_r,
    const char **error_r)
{
	static const enum queue_folder order[] = { QUEUE_CUR, QUEUE_NEW,
	    QUEUE_CUR };
	size_t i;

	/* cur/, then new/, then cur/ again: smtpq may move it meanwhile. */
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (queue_read(qd->fd[order[i]], id, qd->owner, 0, e, fd_r,
		    error_r) == 0) {
			*folder_r = queue_folder_name(order[i]);
			return 0;
		}
		if (errno != ENOENT)
			return -1;
	}
	errno = ENOENT;
	return -1;
}

/* print_rcpt_line - one recipient of the list */
static void
print_rcpt_line(const struct queue_entry *e, size_t i, int64_t now)
{
	const struct queue_slot *s = &e->slots[i];
	char d[32];

	printf("    %-9s <", s->state == QUEUE_S_PENDING ? "pending" :
	    s->state == QUEUE_S_DELIVERED ? "delivered" :
	    s->state == QUEUE_S_SUCCESS ? "delivered" :
	    s->state == QUEUE_S_FAILED ? "failed" : "bounced");
	put_str(e->env.rcpts[i].addr);
	printf(">");
	if (s->attempts > 0)
		printf(" attempts=%u", s->attempts);
	if (s->state == QUEUE_S_PENDING && s->next_try > now) {
		duration(s->next_try - now, d, sizeof(d));
		printf(" next=%s", d);
	}
	if (s->text[0] != '\0') {
		printf("  ");
		put_str(s->text);
	}
	printf("\n");
}

/* collect - append the queue ids in folder f to names */
static int
collect(const struct queue_dirs *qd, enum queue_folder f, char ***names,
    size_t *n, size_t *cap)
{
	int dupfd = fcntl(qd->fd[f], F_DUPFD_CLOEXEC, 3);
	DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (dupfd >= 0)
			(void)close(dupfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (*n == *cap) {
			*cap = *cap == 0 ? 256 : *cap * 2;
			*names = alloc_reallocarray(*names, *cap,
			    sizeof(**names));
		}
		(*names)[(*n)++] = alloc_strdup(de->d_name);
	}
	(void)closedir(d);
	return 0;
}

/* cmp_names - qsort order of two ids (ids sort by creation time) */
static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* print_entry - one message of the list */
static int
print_entry(const struct queue_dirs *qd, const char *id, int64_t now)
{
	struct queue_entry e;
	const char *error = NULL, *folder;
	char age[32];
	size_t i;

	queue_entry_init(&e);
	if (read_entry(qd, id, &e, NULL, &folder, &error) < 0) {
		if (errno != ENOENT)
			printf("%s  (unreadable: %s)\n", id,
			    error != NULL ? error : strerror(errno));
		return 0;
	}
	duration(now - e.arrival, age, sizeof(age));
	printf("%s  %-7s %10llu  <", e.qid, age,
	    (unsigned long long)e.msg_len);
	put_str(e.env.sender);
	printf(">\n");
	for (i = 0; i < e.n_rcpts; i++)
		print_rcpt_line(&e, i, now);
	queue_entry_free(&e);
	return 1;
}

/* count_corrupt - entries quarantined in corrupt/ */
static size_t
count_corrupt(const struct queue_dirs *qd)
{
	int dupfd = fcntl(qd->fd[QUEUE_CORRUPT], F_DUPFD_CLOEXEC, 3);
	DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
	struct dirent *de;
	size_t n = 0;

	if (d == NULL) {
		if (dupfd >= 0)
			(void)close(dupfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	(void)closedir(d);
	return n;
}

/* queue_list - every queued message */
static int
queue_list(const struct config *cfg)
{
	struct queue_dirs qd;
	char **names = NULL;
	size_t i, n = 0, cap = 0, count = 0, corrupt;
	int64_t now = clock_now();
	int st, empty;

	st = open_queue(cfg, &qd, &empty);
	if (st != MAILCTL_EX_OK)
		return st;
	if (empty) {
		printf("queue is empty\n");
		return MAILCTL_EX_OK;
	}
	/* new/ first: an entry moving to cur/ meanwhile is found there. */
	if (collect(&qd, QUEUE_NEW, &names, &n, &cap) < 0 ||
	    collect(&qd, QUEUE_CUR, &names, &n, &cap) < 0) {
		fprintf(stderr, "mailctl: cannot read the queue: %s\n",
		    strerror(errno));
		st = MAILCTL_EX_TEMPFAIL;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			count += (size_t)print_entry(&qd, names[i], now);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (count == 0)
		printf("queue is empty\n");
	else
		printf("%zu message%s\n", count, count == 1 ? "" : "s");
	corrupt = count_corrupt(&qd);
	if (corrupt > 0)
		printf("%zu quarantined entr%s in %s/%s/corrupt\n", corrupt,
		    corrupt == 1 ? "y" : "ies", cfg->state_dir, QUEUE_DIR);
	queue_dirs_close(&qd);
	return st;
}

/* show_opt - one optional envelope field */
static void
show_opt(const char *name, const char *value)
{
	if (value == NULL)
		return;
	printf("%s: ", name);
	put_str(value);
	printf("\n");
}

/* show_time - a time field, with how far from now */
static void
show_time(const char *name, int64_t t, int64_t now)
{
	char date[64], d[32];

	if (t <= 0 || bounce_date(t, date, sizeof(date)) < 0)
		return;
	duration(t > now ? t - now : now - t, d, sizeof(d));
	printf("%s%s (%s %s)\n", name, date, d, t > now ? "from now" : "ago");
}

/* queue_show - one message in detail */
static int
queue_show(const struct config *cfg, const char *id)
{
	struct queue_dirs qd;
	struct queue_entry e;
	struct buf notify = BUF_INIT(64), head = BUF_INIT(SHOW_HEADER_MAX);
	const char *error = NULL, *folder = NULL;
	int64_t now = clock_now();
	size_t i, want;
	int st, empty, fd = -1;

	if (!queue_id_valid(id)) {
		fprintf(stderr, "mailctl: '%s' is not a queue id\n", id);
		return MAILCTL_EX_DATAERR;
	}
	st = open_queue(cfg, &qd, &empty);
	if (st != MAILCTL_EX_OK)
		return st;
	if (empty) {
		fprintf(stderr, "mailctl: no message %s in the queue\n", id);
		return MAILCTL_EX_NOUSER;
	}
	queue_entry_init(&e);
	if (read_entry(&qd, id, &e, &fd, &folder, &error) < 0) {
		if (errno == ENOENT) {
			fprintf(stderr, "mailctl: no message %s in the queue\n",
			    id);
			st = MAILCTL_EX_NOUSER;
		} else {
			fprintf(stderr, "mailctl: %s: %s\n", id, error);
			st = MAILCTL_EX_TEMPFAIL;
		}
		queue_dirs_close(&qd);
		return st;
	}
	printf("id: %s\nfolder: %s\n", e.qid, folder);
	show_time("arrival: ", e.arrival, now);
	printf("size: %llu\nhops: %u\nsender: <",
	    (unsigned long long)e.msg_len, e.hops);
	put_str(e.env.sender);
	printf(">\n");
	show_opt("envid", e.env.envid);
	show_opt("ret", e.env.ret);
	show_opt("body", e.env.body);
	if (e.env.smtputf8)
		printf("smtputf8: yes\n");
	show_opt("helo", e.env.helo);
	show_opt("client", e.env.client_ip);
	show_opt("client_name", e.env.client_name);
	show_opt("user", e.env.auth_user);
	show_opt("protocol", e.env.protocol);
	for (i = 0; i < e.n_rcpts; i++) {
		const struct queue_slot *s = &e.slots[i];
		const struct envelope_rcpt *rc = &e.env.rcpts[i];

		printf("recipient %zu: <", i + 1);
		put_str(rc->addr);
		printf(">\n  state: %s%s\n  attempts: %u\n",
		    state_name(s->state), s->flags == QUEUE_F_WARNED ?
		    ", delay notice sent" : "", s->attempts);
		if (rc->orcpt != NULL) {
			printf("  orcpt: ");
			put_str(rc->orcpt);
			printf("\n");
		}
		buf_reset(&notify);
		if (rc->notify != ENVELOPE_NOTIFY_DEFAULT &&
		    envelope_notify_format(rc->notify, &notify) == 0)
			printf("  notify: %s\n", buf_cstr(&notify));
		show_time("  last try: ", s->last_try, now);
		if (s->state == QUEUE_S_PENDING)
			show_time("  next try: ", s->next_try > 0 ?
			    s->next_try : now, now);
		if (s->text[0] != '\0') {
			printf("  last result: ");
			put_str(s->text);
			printf("\n");
		}
	}
	want = e.msg_len < SHOW_HEADER_MAX ? (size_t)e.msg_len :
	    SHOW_HEADER_MAX;
	if (buf_reserve(&head, want) == 0) {
		ssize_t n = pread(fd, head.data, want, (off_t)e.msg_off);

		if (n > 0) {
			head.len = (size_t)n;
			head.len = bounce_header_end(head.data, head.len);
			printf("header:\n");
			put_safe(head.data, head.len);
			if (head.len > 0 && head.data[head.len - 1] != '\n')
				printf("\n");
		}
	}
	(void)close(fd);
	buf_free(&head);
	buf_free(&notify);
	queue_entry_free(&e);
	queue_dirs_close(&qd);
	return MAILCTL_EX_OK;
}

/* poke - one trigger byte, retried while the FIFO is full */
static int
poke(const struct queue_dirs *qd, char what)
{
	int i, r = -1;

	for (i = 0; i < 100; i++) {
		r = queue_poke(qd, what);
		if (r >= 0 || errno != EAGAIN)
			break;
		(void)usleep(20000);
	}
	return r;
}

/* queue_flush - ask smtpq to retry everything now */
static int
queue_flush(const struct config *cfg)
{
	struct queue_dirs qd;
	int st, empty, r;

	st = open_queue(cfg, &qd, &empty);
	if (st != MAILCTL_EX_OK)
		return st;
	if (empty) {
		printf("queue is empty\n");
		return MAILCTL_EX_OK;
	}
	r = poke(&qd, QUEUE_POKE_FLUSH);
	queue_dirs_close(&qd);
	if (r == 1) {
		fprintf(stderr, "mailctl: smtpq is not running; queued "
		    "messages are tried when it starts\n");
		return MAILCTL_EX_TEMPFAIL;
	}
	if (r < 0) {
		fprintf(stderr, "mailctl: cannot reach smtpq: %s\n",
		    strerror(errno));
		return MAILCTL_EX_TEMPFAIL;
	}
	printf("flush requested\n");
	return MAILCTL_EX_OK;
}

/* exists - 1 if entry id is in new/ or cur/ */
static int
exists(const struct queue_dirs *qd, const char *id)
{
	struct stat st;

	return fstatat(qd->fd[QUEUE_NEW], id, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(qd->fd[QUEUE_CUR], id, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* queue_delete - ask smtpq to remove one message */
static int
queue_delete(const struct config *cfg, const char *id)
{
	struct queue_dirs qd;
	int st, empty, fd, r, waited;

	if (!queue_id_valid(id)) {
		fprintf(stderr, "mailctl: '%s' is not a queue id\n", id);
		return MAILCTL_EX_DATAERR;
	}
	st = open_queue(cfg, &qd, &empty);
	if (st != MAILCTL_EX_OK)
		return st;
	if (empty || !exists(&qd, id)) {
		fprintf(stderr, "mailctl: no message %s in the queue\n", id);
		if (!empty)
			queue_dirs_close(&qd);
		return MAILCTL_EX_NOUSER;
	}
	fd = openat(qd.fd[QUEUE_DELETE], id, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		fprintf(stderr, "mailctl: cannot ask smtpq to delete %s: %s\n",
		    id, strerror(errno));
		queue_dirs_close(&qd);
		return MAILCTL_EX_TEMPFAIL;
	}
	if (fd >= 0)
		(void)close(fd);
	r = poke(&qd, QUEUE_POKE_DELETE);
	if (r == 1) {
		printf("%s marked for deletion; smtpq removes it when it "
		    "starts\n", id);
		queue_dirs_close(&qd);
		return MAILCTL_EX_OK;
	}
	for (waited = 0; waited < DELETE_WAIT_MS && exists(&qd, id);
	    waited += 20)
		(void)usleep(20000);
	if (exists(&qd, id))
		printf("%s marked for deletion; smtpq removes it when its "
		    "deliveries end\n", id);
	else
		printf("%s deleted\n", id);
	queue_dirs_close(&qd);
	return MAILCTL_EX_OK;
}

/* mailctl_queue - dispatch "queue [list|show ID|flush|delete ID]" */
int
mailctl_queue(const struct config *cfg, int argc, char **argv)
{
	if (argc == 0 || (argc == 1 && strcmp(argv[0], "list") == 0))
		return queue_list(cfg);
	if (argc == 2 && strcmp(argv[0], "show") == 0)
		return queue_show(cfg, argv[1]);
	if (argc == 1 && strcmp(argv[0], "flush") == 0)
		return queue_flush(cfg);
	if (argc == 2 && strcmp(argv[0], "delete") == 0)
		return queue_delete(cfg, argv[1]);
	fprintf(stderr, "usage: mailctl queue [list]\n"
	    "       mailctl queue show ID\n"
	    "       mailctl queue flush\n"
	    "       mailctl queue delete ID\n");
	return MAILCTL_EX_USAGE;
}
