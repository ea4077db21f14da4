/* test-queue - queue ids, slots, the entry format, folders, reading (Q4, Q5) */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "envelope.h"
#include "qconf.h"
#include "queue.h"
#include "test.h"

static char base[] = "/tmp/test-queue.XXXXXX";

/* make_entry - a complete entry (head and message) for n recipients */
static void
make_entry(const char *qid, size_t n, const char *msg, struct buf *out,
    struct queue_entry *e)
{
	struct envelope env;
	struct buf wire = BUF_INIT(ENVELOPE_WIRE_MAX);
	char addr[64];
	size_t i;

	envelope_init(&env);
	env.sender = strdup("alice@example.test");
	env.envid = strdup("ENV-1");
	for (i = 0; i < n; i++) {
		(void)snprintf(addr, sizeof(addr), "user%zu@example.test", i);
		(void)envelope_add_rcpt(&env, addr, i == 0 ?
		    "rfc822;x@y.test" : NULL, i == 0 ?
		    ENVELOPE_NOTIFY_DELAY : 0);
	}
	(void)envelope_encode(&env, &wire);
	queue_entry_init(e);
	(void)snprintf(e->qid, sizeof(e->qid), "%s", qid);
	e->arrival = 1700000000;
	e->hops = 3;
	e->n_rcpts = n;
	e->env_len = wire.len;
	e->msg_off = queue_msg_offset(n, wire.len);
	e->msg_len = strlen(msg);
	e->slots = calloc(n, sizeof(*e->slots));
	for (i = 0; i < n; i++)
		queue_slot_init(&e->slots[i]);
	buf_reset(out);
	(void)queue_head_build(e, wire.data, wire.len, out);
	(void)buf_append_str(out, msg);
	free(e->slots);
	e->slots = NULL;
	buf_free(&wire);
	envelope_free(&env);
}

/* write_file - name in dir with p[0..n) */
static int
write_file(int dir, const char *name, const char *p, size_t n)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	if (write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int
main(void)
{
	struct queue_entry e, back;
	struct queue_slot s, t;
	struct queue_dirs qd;
	struct buf file = BUF_INIT(QUEUE_HEAD_MAX + 65536);
	char qid[QUEUE_ID_LEN + 1], ids[200][QUEUE_ID_LEN + 1];
	char slot[QUEUE_SLOT_SIZE];
	const char *err = NULL;
	size_t i, j;
	int ok, fd, r;
	char path[QUEUE_TEXT_MAX + 200];
	uid_t me = geteuid();

	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	TEST_BEGIN("queue: ids are valid, unique and sort by time");
	ok = 1;
	for (i = 0; i < 200; i++) {
		if (queue_id_new(ids[i]) < 0 || !queue_id_valid(ids[i]))
			ok = 0;
		for (j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				ok = 0;
		if (i > 0 && strncmp(ids[i - 1], ids[i], 13) > 0)
			ok = 0;
	}
	TEST_ASSERT(ok);
	TEST_ASSERT(!queue_id_valid("0123456789abcdef01234567"));
	TEST_ASSERT(!queue_id_valid("0123456789ABCDEF0123456"));
	TEST_ASSERT(!queue_id_valid("0123456789ABCDEF012345678"));
	TEST_ASSERT(!queue_id_valid("../../../../../etc/passwd"));
	TEST_ASSERT(!queue_id_valid(""));
	TEST_ASSERT(queue_id_valid("0123456789ABCDEF01234567"));
	TEST_END();

	TEST_BEGIN("queue: a slot formats and parses back");
	queue_slot_init(&s);
	s.state = QUEUE_S_PENDING;
	s.flags = QUEUE_F_WARNED;
	s.attempts = 42;
	s.next_try = 1700000300;
	s.last_try = 1700000000;
	queue_slot_set_text(&s, "4.4.1 no answer\r\n\x01" "from \xc3\xa9 host");
	TEST_ASSERT_STR(s.text, "4.4.1 no answer???from ?? host");
	TEST_ASSERT_INT(queue_slot_format(&s, slot), 0);
	TEST_ASSERT(memcmp(slot, "P W 00042 001700000300 001700000000 4.4.1",
	    41) == 0);
	TEST_ASSERT(slot[QUEUE_SLOT_SIZE - 1] == '\n');
	TEST_ASSERT_INT(queue_slot_parse(slot, &t), 0);
	TEST_ASSERT(t.state == 'P' && t.flags == 'W' && t.attempts == 42);
	TEST_ASSERT_INT(t.next_try, 1700000300);
	TEST_ASSERT_INT(t.last_try, 1700000000);
	TEST_ASSERT_STR(t.text, s.text);
	TEST_END();

	TEST_BEGIN("queue: text is cut at QUEUE_TEXT_MAX octets; bad slots refused");
	memset(path, 'x', QUEUE_TEXT_MAX + 100);
	path[QUEUE_TEXT_MAX + 100] = '\0';
	queue_slot_set_text(&s, path);
	TEST_ASSERT_INT(strlen(s.text), QUEUE_TEXT_MAX);
	TEST_ASSERT_INT(queue_slot_format(&s, slot), 0);
	TEST_ASSERT_INT(queue_slot_parse(slot, &t), 0);
	TEST_ASSERT_INT(strlen(t.text), QUEUE_TEXT_MAX);
	s.state = 'Q';
	TEST_ASSERT_INT(queue_slot_format(&s, slot), -1);
	s.state = 'K';
	s.attempts = 100000;
	TEST_ASSERT_INT(queue_slot_format(&s, slot), -1);
	s.attempts = 1;
	(void)queue_slot_format(&s, slot);
	for (i = 0; i < QUEUE_SLOT_SIZE; i++) {
		char save = slot[i];
		static const char bad[] = { 'Q', '\0', '\n', 'a', '\x7f' };

		for (j = 0; j < sizeof(bad); j++) {
			int text = i >= 36 && i < QUEUE_SLOT_SIZE - 1;
			int want_ok;

			if (bad[j] == save)
				continue;
			/* Text: printable, or NUL at its (full) end. */
			want_ok = text && (bad[j] == 'Q' || bad[j] == 'a' ||
			    (bad[j] == '\0' && i == QUEUE_SLOT_SIZE - 2));
			slot[i] = bad[j];
			r = queue_slot_parse(slot, &t);
			if ((r == 0) != want_ok)
				printf("  slot octet %zu = %d: %d\n", i,
				    bad[j], r);
			TEST_ASSERT((r == 0) == want_ok);
		}
		slot[i] = save;
	}
	TEST_ASSERT_INT(queue_slot_parse(slot, &t), 0);
	TEST_END();

	TEST_BEGIN("queue: head builds and parses back (QUEUE.md layout)");
	make_entry("0123456789ABCDEF01234567", 3, "Subject: x\n\nbody\n", &file,
	    &e);
	TEST_ASSERT_INT(e.msg_off, 4096);
	TEST_ASSERT_INT(file.len, 4096 + strlen("Subject: x\n\nbody\n"));
	TEST_ASSERT(memcmp(file.data, "MSQ1 0123456789ABCDEF01234567 "
	    "001700000000 00003 00003 ", 55) == 0);
	queue_entry_init(&back);
	TEST_ASSERT_INT(queue_parse(file.data, e.msg_off, file.len, &back,
	    &err), 0);
	TEST_ASSERT_STR(back.qid, "0123456789ABCDEF01234567");
	TEST_ASSERT_INT(back.arrival, 1700000000);
	TEST_ASSERT_INT(back.hops, 3);
	TEST_ASSERT_INT(back.n_rcpts, 3);
	TEST_ASSERT_STR(back.env.sender, "alice@example.test");
	TEST_ASSERT_STR(back.env.rcpts[2].addr, "user2@example.test");
	TEST_ASSERT_STR(back.env.rcpts[0].orcpt, "rfc822;x@y.test");
	TEST_ASSERT_INT(back.env.rcpts[0].notify, ENVELOPE_NOTIFY_DELAY);
	TEST_ASSERT(back.slots[1].state == QUEUE_S_PENDING);
	queue_entry_free(&back);
	queue_entry_free(&e);
	TEST_END();

	TEST_BEGIN("queue: a big head pushes the message to the next page");
	make_entry("0123456789ABCDEF01234568", 100, "m", &file, &e);
	TEST_ASSERT(e.msg_off > 4096 && e.msg_off % 4096 == 0);
	TEST_ASSERT_INT(queue_parse(file.data, e.msg_off, file.len, &back,
	    &err), 0);
	TEST_ASSERT_INT(back.n_rcpts, 100);
	queue_entry_free(&back);
	queue_entry_free(&e);
	TEST_END();

	TEST_BEGIN("queue: every truncation and every octet flip is handled");
	make_entry("0123456789ABCDEF01234569", 2, "Subject: y\n\nz\n", &file,
	    &e);
	ok = 1;
	for (i = 0; i < e.msg_off; i++) {
		queue_entry_init(&back);
		if (queue_parse(file.data, i, file.len, &back, &err) == 0 ||
		    errno != EBADMSG)
			ok = 0;
		queue_entry_free(&back);
	}
	TEST_ASSERT(ok);
	/* The file size must match exactly. */
	TEST_ASSERT_INT(queue_parse(file.data, e.msg_off, file.len + 1, &back,
	    &err), -1);
	TEST_ASSERT_INT(queue_parse(file.data, e.msg_off, file.len - 1, &back,
	    &err), -1);
	/* Flip each octet of the head: no crash; header and padding refuse. */
	for (i = 0; i < e.msg_off; i++) {
		char save = file.data[i];
		static const char vals[] = { '\0', '\n', '9', 'A', '\xff' };

		for (j = 0; j < sizeof(vals); j++) {
			if (vals[j] == save)
				continue;
			file.data[i] = vals[j];
			queue_entry_init(&back);
			r = queue_parse(file.data, e.msg_off, file.len, &back,
			    &err);
			if (r == 0 && i < QUEUE_HEADER_SIZE && !(i >= 5 &&
			    i < 91 && vals[j] == '9' && save >= '0' &&
			    save <= '9') && !(i >= 5 && i < 29 &&
			    (vals[j] == 'A' || vals[j] == '9'))) {
				printf("  header octet %zu = %d accepted\n", i,
				    vals[j]);
				ok = 0;
			}
			queue_entry_free(&back);
		}
		file.data[i] = save;
	}
	TEST_ASSERT(ok);
	queue_entry_free(&e);
	TEST_END();

	TEST_BEGIN("queue: folders are made 0700; unsafe ones refused (Q4)");
	(void)snprintf(path, sizeof(path), "%s/state", base);
	TEST_ASSERT_INT(queue_dirs_open(path, QUEUE_DIRS_CREATE |
	    QUEUE_DIRS_MINE, &qd, &err), 0);
	{
		struct stat st;

		TEST_ASSERT(fstat(qd.fd[QUEUE_NEW], &st) == 0 &&
		    (st.st_mode & 0777) == 0700);
	}
	queue_dirs_close(&qd);
	(void)snprintf(path, sizeof(path), "%s/state/queue/cur", base);
	(void)chmod(path, 0777);
	(void)snprintf(path, sizeof(path), "%s/state", base);
	TEST_ASSERT_INT(queue_dirs_open(path, QUEUE_DIRS_MINE, &qd, &err), -1);
	TEST_ASSERT_INT(errno, EPERM);
	(void)snprintf(path, sizeof(path), "%s/state/queue/cur", base);
	(void)chmod(path, 0700);
	(void)snprintf(path, sizeof(path), "%s/state/queue/delete", base);
	(void)rmdir(path);
	TEST_ASSERT_INT(symlink("/tmp", path), 0);
	(void)snprintf(path, sizeof(path), "%s/state", base);
	TEST_ASSERT_INT(queue_dirs_open(path, QUEUE_DIRS_CREATE, &qd, &err),
	    -1);
	TEST_ASSERT_INT(errno, EPERM);
	(void)snprintf(path, sizeof(path), "%s/state/queue/delete", base);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/state", base);
	TEST_ASSERT_INT(queue_dirs_open(path, QUEUE_DIRS_CREATE |
	    QUEUE_DIRS_MINE, &qd, &err), 0);
	TEST_END();

	TEST_BEGIN("queue: queue_read checks the file before trusting it");
	make_entry("0123456789ABCDEF0123456A", 1, "Subject: r\n\nok\n", &file,
	    &e);
	TEST_ASSERT_INT(write_file(qd.fd[QUEUE_CUR], e.qid, file.data,
	    file.len), 0);
	queue_entry_init(&back);
	fd = -1;
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], e.qid, me, 1, &back, &fd,
	    &err), 0);
	TEST_ASSERT(fd >= 0);
	/* A slot update in place leaves the file size alone. */
	back.slots[0].state = QUEUE_S_DELIVERED;
	back.slots[0].attempts = 1;
	queue_slot_set_text(&back.slots[0], "2.0.0 ok");
	TEST_ASSERT_INT(queue_slot_write(fd, 0, &back.slots[0]), 0);
	close(fd);
	queue_entry_free(&back);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], e.qid, me, 0, &back, NULL,
	    &err), 0);
	TEST_ASSERT(back.slots[0].state == QUEUE_S_DELIVERED);
	TEST_ASSERT_STR(back.slots[0].text, "2.0.0 ok");
	queue_entry_free(&back);
	/* Missing: ENOENT. Bad name: EBADMSG. */
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], "0123456789ABCDEF0123456B",
	    me, 0, &back, NULL, &err), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], "../../x", me, 0, &back,
	    NULL, &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	/* Wrong owner. */
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], e.qid, me + 1, 0, &back,
	    NULL, &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	/* The name and the id inside disagree. */
	TEST_ASSERT_INT(renameat(qd.fd[QUEUE_CUR], e.qid, qd.fd[QUEUE_CUR],
	    "0123456789ABCDEF0123456C"), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], "0123456789ABCDEF0123456C",
	    me, 0, &back, NULL, &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	/* A hard link. */
	TEST_ASSERT_INT(renameat(qd.fd[QUEUE_CUR], "0123456789ABCDEF0123456C",
	    qd.fd[QUEUE_CUR], e.qid), 0);
	TEST_ASSERT_INT(linkat(qd.fd[QUEUE_CUR], e.qid, qd.fd[QUEUE_TMP],
	    "link", 0), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_CUR], e.qid, me, 0, &back, NULL,
	    &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	TEST_ASSERT_INT(unlinkat(qd.fd[QUEUE_TMP], "link", 0), 0);
	/* A symlink, and a FIFO (must not block). */
	TEST_ASSERT_INT(symlinkat("/etc/passwd", qd.fd[QUEUE_NEW],
	    "0123456789ABCDEF0123456D"), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_NEW], "0123456789ABCDEF0123456D",
	    me, 1, &back, NULL, &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	TEST_ASSERT_INT(mkfifoat(qd.fd[QUEUE_NEW], "0123456789ABCDEF0123456E",
	    0600), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_NEW], "0123456789ABCDEF0123456E",
	    me, 0, &back, NULL, &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	/* Truncated. */
	TEST_ASSERT_INT(write_file(qd.fd[QUEUE_NEW], e.qid, file.data,
	    file.len - 3), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_NEW], e.qid, me, 0, &back, NULL,
	    &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	TEST_ASSERT_INT(write_file(qd.fd[QUEUE_NEW], e.qid, file.data, 100), 0);
	TEST_ASSERT_INT(queue_read(qd.fd[QUEUE_NEW], e.qid, me, 0, &back, NULL,
	    &err), -1);
	TEST_ASSERT_INT(errno, EBADMSG);
	queue_entry_free(&e);
	TEST_END();

	TEST_BEGIN("queue: O_EXCL|O_NOFOLLOW never writes through a link");
	(void)snprintf(path, sizeof(path), "%s/victim", base);
	TEST_ASSERT_INT(write_file(AT_FDCWD, path, "precious", 8), 0);
	TEST_ASSERT_INT(queue_id_new(qid), 0);
	TEST_ASSERT_INT(symlinkat(path, qd.fd[QUEUE_TMP], qid), 0);
	fd = openat(qd.fd[QUEUE_TMP], qid, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW, 0600);
	TEST_ASSERT(fd < 0 && errno == EEXIST);
	{
		char got[16] = "";
		int v = open(path, O_RDONLY);

		TEST_ASSERT(v >= 0 && read(v, got, sizeof(got)) == 8);
		TEST_ASSERT(memcmp(got, "precious", 8) == 0);
		close(v);
	}
	TEST_END();

	TEST_BEGIN("queue: poke says whether smtpq listens");
	TEST_ASSERT_INT(queue_poke(&qd, QUEUE_POKE_NEW), 1);	/* no FIFO */
	TEST_ASSERT_INT(mkfifoat(qd.root, QUEUE_TRIGGER, 0600), 0);
	TEST_ASSERT_INT(queue_poke(&qd, QUEUE_POKE_NEW), 1);	/* no reader */
	fd = openat(qd.root, QUEUE_TRIGGER, O_RDONLY | O_NONBLOCK);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT_INT(queue_poke(&qd, QUEUE_POKE_FLUSH), 0);
	{
		char c = 0;

		TEST_ASSERT(read(fd, &c, 1) == 1 && c == QUEUE_POKE_FLUSH);
	}
	close(fd);
	TEST_ASSERT_INT(unlinkat(qd.root, QUEUE_TRIGGER, 0), 0);
	TEST_ASSERT_INT(write_file(qd.root, QUEUE_TRIGGER, "x", 1), 0);
	TEST_ASSERT_INT(queue_poke(&qd, QUEUE_POKE_NEW), -1);
	TEST_ASSERT_INT(errno, EPERM);
	queue_dirs_close(&qd);
	TEST_END();

	TEST_BEGIN("qconf: back-off doubles from 5 minutes up to 4 hours");
	{
		struct qconf q;

		qconf_defaults(&q);
		TEST_ASSERT_INT(qconf_backoff(&q, 0), 300);
		TEST_ASSERT_INT(qconf_backoff(&q, 1), 300);
		TEST_ASSERT_INT(qconf_backoff(&q, 2), 600);
		TEST_ASSERT_INT(qconf_backoff(&q, 3), 1200);
		TEST_ASSERT_INT(qconf_backoff(&q, 6), 9600);
		TEST_ASSERT_INT(qconf_backoff(&q, 7), 14400);
		TEST_ASSERT_INT(qconf_backoff(&q, 99999), 14400);
		TEST_ASSERT_INT(q.lifetime, 5 * 86400);
		TEST_ASSERT_INT(q.delay_warning, 4 * 3600);
		q.retry_min = 0;
		TEST_ASSERT_INT(qconf_backoff(&q, 1), 1);
	}
	TEST_END();

	buf_free(&file);
	/* Remove the scratch folder (an argument list, no shell). */
	if (strncmp(base, "/tmp/test-queue.", 16) == 0) {
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", base, (char *)NULL);
			_exit(1);
		}
		if (pid > 0)
			(void)waitpid(pid, NULL, 0);
	}
	return test_summary("test-queue");
}
