/*
 * NAME
 *	test-mailbox - reading a Maildir: scan, sizes, ids, flags, removal
 *
 * DESCRIPTION
 *	Builds a Maildir in a temporary folder with messages in new/ and
 *	cur/, with and without ",S="/",W=", a message present in both
 *	folders, and things that are not messages (a dot file, a symbolic
 *	link, a FIFO, a folder), then checks what mailbox_scan() lists and
 *	what the other calls do, including files renamed behind its back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbox.h"
#include "test.h"

static char root[] = "/tmp/test-mailbox.XXXXXX";
static struct maildir md;

/* put - write file folder/name holding text */
static void
put(const char *folder, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/mb/%s/%s", root, folder, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	(void)fputs(text, f);
	(void)fclose(f);
}

/* exists - 1 if folder/name exists */
static int
exists(const char *folder, const char *name)
{
	char path[512];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/mb/%s/%s", root, folder, name);
	return lstat(path, &st) == 0;
}

/* find - the listed message with base name base, or NULL */
static struct mailbox_msg *
find(struct mailbox_list *l, const char *base)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].uid, base) == 0)
			return &l->v[i];
	return NULL;
}

/* rm_one - nftw callback: remove one entry */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

int
main(void)
{
	struct mailbox_list l;
	struct mailbox_msg *m;
	const char *error = NULL;
	char path[512], uid[MAILBOX_UID_MAX + 1], longname[200];
	int rfd, fd;
	uint64_t size, vsize;
	char b[64];
	ssize_t n;

	if (mkdtemp(root) == NULL)
		return 2;
	rfd = open(root, O_RDONLY | O_DIRECTORY);
	if (rfd < 0 || maildir_create(rfd, "mb", 0700, &error) < 0 ||
	    maildir_open(rfd, "mb", &md, &error) < 0) {
		perror("maildir");
		return 2;
	}

	/* Three real messages, out of order on purpose. */
	put("new", "1700000300.M1P1Q1.h,S=4,W=6", "a\nb\n");
	put("new", "1700000100.M1P1Q1.h", "x\r\ny\nz\r");
	put("cur", "1700000200.M1P1Q1.h,S=2,W=3:2,RT", "q\n");
	/* The same message in both folders (a reader moving it). */
	put("new", "1700000400.M9P9Q9.h,S=1,W=1", "m");
	put("cur", "1700000400.M9P9Q9.h,S=1,W=1:2,", "m");
	/* Not messages. */
	put("new", ".hidden", "x");
	(void)snprintf(path, sizeof(path), "%s/mb/new/1700000500.link", root);
	(void)!symlink("/etc/passwd", path);
	(void)snprintf(path, sizeof(path), "%s/mb/new/1700000600.fifo", root);
	(void)mkfifo(path, 0600);
	(void)snprintf(path, sizeof(path), "%s/mb/cur/1700000700.dir", root);
	(void)mkdir(path, 0700);

	TEST_BEGIN("scan lists messages once, oldest first");
	TEST_ASSERT_INT(mailbox_scan(&md, 100, &l, &error), 0);
	TEST_ASSERT_INT(l.n, 4);
	if (l.n == 4) {
		TEST_ASSERT_STR(l.v[0].uid, "1700000100.M1P1Q1.h");
		TEST_ASSERT_STR(l.v[1].uid, "1700000200.M1P1Q1.h");
		TEST_ASSERT_STR(l.v[2].uid, "1700000300.M1P1Q1.h");
		TEST_ASSERT_STR(l.v[3].uid, "1700000400.M9P9Q9.h");
		TEST_ASSERT_INT(l.v[3].in_new, 0);
		TEST_ASSERT_INT(l.v[0].in_new, 1);
	}
	TEST_END();

	TEST_BEGIN("within one second, the microseconds order them");
	{
		struct mailbox_list l2;
		struct maildir md2;
		int rfd2;

		(void)snprintf(path, sizeof(path), "%s", root);
		rfd2 = open(path, O_RDONLY | O_DIRECTORY);
		TEST_ASSERT(maildir_create(rfd2, "mb2", 0700, &error) == 0);
		TEST_ASSERT(maildir_open(rfd2, "mb2", &md2, &error) == 0);
		(void)snprintf(path, sizeof(path),
		    "%s/mb2/new/1700000900.M100000P1Q2.h", root);
		(void)close(open(path, O_WRONLY | O_CREAT, 0600));
		(void)snprintf(path, sizeof(path),
		    "%s/mb2/new/1700000900.M99999P1Q1.h", root);
		(void)close(open(path, O_WRONLY | O_CREAT, 0600));
		TEST_ASSERT_INT(mailbox_scan(&md2, 10, &l2, &error), 0);
		TEST_ASSERT_INT(l2.n, 2);
		if (l2.n == 2)
			TEST_ASSERT_STR(l2.v[0].uid,
			    "1700000900.M99999P1Q1.h");
		mailbox_list_free(&l2);
		maildir_close(&md2);
		(void)close(rfd2);
	}
	TEST_END();

	TEST_BEGIN("sizes from the name, or counted as CRLF text");
	m = find(&l, "1700000100.M1P1Q1.h");
	TEST_ASSERT(m != NULL);
	if (m != NULL) {
		TEST_ASSERT_INT(m->size, 7);
		TEST_ASSERT_INT(m->vsize, 9);	/* x CRLF y CRLF z CRLF */
	}
	m = find(&l, "1700000300.M1P1Q1.h");
	TEST_ASSERT(m != NULL && m->size == 4 && m->vsize == 6);
	TEST_ASSERT_INT(l.vsize, 9 + 3 + 6 + 1);
	TEST_END();

	TEST_BEGIN("too many messages is E2BIG");
	{
		struct mailbox_list l2;

		TEST_ASSERT_INT(mailbox_scan(&md, 3, &l2, &error), -1);
		TEST_ASSERT_INT(errno, E2BIG);
	}
	TEST_END();

	TEST_BEGIN("open follows a file another reader renamed");
	m = find(&l, "1700000100.M1P1Q1.h");
	(void)snprintf(path, sizeof(path), "%s/mb/new/%s", root, m->name);
	{
		char to[512];

		(void)snprintf(to, sizeof(to), "%s/mb/cur/%s:2,F", root,
		    m->name);
		TEST_ASSERT_INT(rename(path, to), 0);
	}
	fd = mailbox_open_msg(&md, m, &error);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT_INT(m->in_new, 0);
	TEST_ASSERT_STR(m->name, "1700000100.M1P1Q1.h:2,F");
	if (fd >= 0) {
		n = read(fd, b, sizeof(b));
		TEST_ASSERT_INT(n, 7);
		(void)close(fd);
	}
	TEST_END();

	TEST_BEGIN("flags: new to cur with :2,S; letters stay in order");
	m = find(&l, "1700000300.M1P1Q1.h");
	TEST_ASSERT_INT(mailbox_add_flag(&md, m, 'S', &error), 0);
	TEST_ASSERT(exists("cur", "1700000300.M1P1Q1.h,S=4,W=6:2,S"));
	TEST_ASSERT(!exists("new", "1700000300.M1P1Q1.h,S=4,W=6"));
	m = find(&l, "1700000200.M1P1Q1.h");
	TEST_ASSERT_INT(mailbox_add_flag(&md, m, 'S', &error), 0);
	TEST_ASSERT(exists("cur", "1700000200.M1P1Q1.h,S=2,W=3:2,RST"));
	TEST_ASSERT_INT(mailbox_add_flag(&md, m, 'S', &error), 0);
	TEST_ASSERT(exists("cur", "1700000200.M1P1Q1.h,S=2,W=3:2,RST"));
	m = find(&l, "1700000100.M1P1Q1.h");
	TEST_ASSERT_INT(mailbox_add_flag(&md, m, 'S', &error), 0);
	TEST_ASSERT(exists("cur", "1700000100.M1P1Q1.h:2,FS"));
	TEST_END();

	TEST_BEGIN("remove, also after a rename, and when already gone");
	m = find(&l, "1700000200.M1P1Q1.h");
	(void)snprintf(path, sizeof(path), "%s/mb/cur/%s", root, m->name);
	{
		char to[512];

		(void)snprintf(to, sizeof(to),
		    "%s/mb/cur/1700000200.M1P1Q1.h,S=2,W=3:2,DRST", root);
		TEST_ASSERT_INT(rename(path, to), 0);
	}
	TEST_ASSERT_INT(mailbox_remove(&md, m, &error), 1);
	TEST_ASSERT(!exists("cur", "1700000200.M1P1Q1.h,S=2,W=3:2,DRST"));
	TEST_ASSERT_INT(mailbox_remove(&md, m, &error), 0);
	m = find(&l, "1700000400.M9P9Q9.h");
	TEST_ASSERT_INT(mailbox_remove(&md, m, &error), 1);
	TEST_ASSERT(!exists("cur", "1700000400.M9P9Q9.h,S=1,W=1:2,"));
	TEST_ASSERT_INT(mailbox_open_msg(&md, m, &error), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_END();

	TEST_BEGIN("unique ids: the base name, or a hash of it");
	TEST_ASSERT_INT(mailbox_uid("1.M2P3.host,S=1:2,S", 11, uid), 0);
	TEST_ASSERT_STR(uid, "1.M2P3.host");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	TEST_ASSERT_INT(mailbox_uid(longname, 71, uid), 1);
	TEST_ASSERT_INT(strlen(uid), 65);
	TEST_ASSERT(uid[0] == 'H');
	TEST_ASSERT_INT(mailbox_uid(longname, 70, uid), 0);
	TEST_ASSERT_INT(strlen(uid), 70);
	TEST_ASSERT_INT(mailbox_uid("a b", 3, uid), 1);
	{
		char again[MAILBOX_UID_MAX + 1];

		(void)mailbox_uid("a b", 3, again);
		TEST_ASSERT_STR(again, uid);
	}
	TEST_END();

	TEST_BEGIN("the sync lock: exclusive, bounded wait");
	{
		int a = mailbox_sync_lock(&md, 0), b2;

		TEST_ASSERT(a >= 0);
		TEST_ASSERT(exists("", MAILBOX_SYNC_LOCK));
		b2 = mailbox_sync_lock(&md, 50);
		TEST_ASSERT_INT(b2, -1);
		TEST_ASSERT_INT(errno, EWOULDBLOCK);
		mailbox_sync_unlock(a);
		b2 = mailbox_sync_lock(&md, 0);
		TEST_ASSERT(b2 >= 0);
		mailbox_sync_unlock(b2);
	}
	TEST_END();

	TEST_BEGIN("CRLF size of a descriptor");
	put("tmp", "x", "a\r\n\r\n.\rb\n");
	(void)snprintf(path, sizeof(path), "%s/mb/tmp/x", root);
	fd = open(path, O_RDONLY);
	TEST_ASSERT_INT(mailbox_vsize_fd(fd, &size, &vsize), 0);
	TEST_ASSERT_INT(size, 9);
	TEST_ASSERT_INT(vsize, 11);
	(void)close(fd);
	TEST_END();

	mailbox_list_free(&l);
	maildir_close(&md);
	(void)close(rfd);
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return test_summary("test-mailbox");
}
