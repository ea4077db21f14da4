/* test-maildir - Maildir creation, atomic delivery, names, link attacks */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildir.h"
#include "test.h"

/* count_entries - files in dir (not . and ..), -1 if it cannot be read */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* read_file - whole file into out (NUL-terminated); length or -1 */
static long
read_file(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

/* deliver_one - deliver text into md; 0 on success */
static int
deliver_one(struct maildir *md, const char *text, int to_cur,
    const char *flags, struct buf *name)
{
	struct maildir_msg m;
	const char *err = NULL;

	if (maildir_msg_begin(md, &m, &err) < 0)
		return -1;
	if (maildir_msg_write(&m, text, strlen(text)) < 0) {
		maildir_msg_abort(&m);
		return -1;
	}
	return maildir_msg_commit(&m, to_cur, flags, name, &err);
}

int
main(void)
{
	char top[] = "/tmp/test-maildir.XXXXXX";
	char path[512], content[256];
	struct maildir md;
	struct maildir_name mn;
	struct maildir_msg m;
	struct buf name = BUF_INIT(MAILDIR_NAME_MAX);
	const char *err = NULL;
	char esc[32];
	int topfd, i, ok;
	pid_t kids[4];

	if (mkdtemp(top) == NULL)
		return 1;
	topfd = open(top, O_RDONLY | O_DIRECTORY);

	TEST_BEGIN("maildir: create makes tmp, new, cur and is idempotent");
	TEST_ASSERT_INT(maildir_create(topfd, "u", 0700, &err), 0);
	TEST_ASSERT_INT(maildir_create(topfd, "u", 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/u/cur", top);
	TEST_ASSERT_INT(count_entries(path), 0);
	TEST_ASSERT_INT(maildir_create(topfd, "a/b", 0700, &err), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_END();

	TEST_BEGIN("maildir: a delivered message is whole in new/ with S= and W=");
	TEST_ASSERT_INT(maildir_open(topfd, "u", &md, &err), 0);
	TEST_ASSERT_INT(deliver_one(&md, "Subject: t\n\nhi\r\nthere\n", 0, NULL,
	    &name), 0);
	snprintf(path, sizeof(path), "%s/u/tmp", top);
	TEST_ASSERT_INT(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/u/new/%s", top, buf_cstr(&name));
	TEST_ASSERT_INT(read_file(path, content, sizeof(content)), 22);
	TEST_ASSERT_STR(content, "Subject: t\n\nhi\r\nthere\n");
	TEST_ASSERT_INT(maildir_name_parse(buf_cstr(&name), &mn), 0);
	TEST_ASSERT(mn.has_size && mn.size == 22);
	TEST_ASSERT(mn.has_vsize && mn.vsize == 25);	/* 3 bare LFs */
	TEST_ASSERT_STR(mn.flags, "");
	TEST_ASSERT(strstr(buf_cstr(&name), ".M") != NULL);
	TEST_END();

	TEST_BEGIN("maildir: W= counts lone CRs as CR LF too, even split or last");
	TEST_ASSERT_INT(maildir_msg_begin(&md, &m, &err), 0);
	TEST_ASSERT_INT(maildir_msg_write(&m, "a\rb\r", 4), 0);	/* 1 lone */
	TEST_ASSERT_INT(maildir_msg_write(&m, "\nc\n\r", 4), 0);	/* CR LF, LF */
	TEST_ASSERT_INT(maildir_msg_commit(&m, 0, NULL, &name, &err), 0);
	TEST_ASSERT_INT(maildir_name_parse(buf_cstr(&name), &mn), 0);
	/* 8 bytes; lone: CR after a, LF after c, CR at the end -> +3 */
	TEST_ASSERT(mn.size == 8 && mn.vsize == 11);
	TEST_END();

	TEST_BEGIN("maildir: delivery into cur/ carries the :2, flags");
	TEST_ASSERT_INT(deliver_one(&md, "x\n", 1, "FS", &name), 0);
	TEST_ASSERT(strstr(buf_cstr(&name), ":2,FS") != NULL);
	TEST_ASSERT_INT(maildir_name_parse(buf_cstr(&name), &mn), 0);
	TEST_ASSERT_STR(mn.flags, "FS");
	TEST_ASSERT(mn.size == 2 && mn.vsize == 3);
	TEST_END();

	TEST_BEGIN("maildir: a big message written in pieces keeps every byte");
	TEST_ASSERT_INT(maildir_msg_begin(&md, &m, &err), 0);
	for (i = 0, ok = 0; i < 10000 && ok == 0; i++)
		ok = maildir_msg_write(&m, "0123456789abcdef0123456789abcde\n", 32);
	TEST_ASSERT_INT(ok, 0);
	TEST_ASSERT_INT(maildir_msg_commit(&m, 0, NULL, &name, &err), 0);
	TEST_ASSERT_INT(maildir_name_parse(buf_cstr(&name), &mn), 0);
	TEST_ASSERT(mn.size == 320000 && mn.vsize == 330000);
	snprintf(path, sizeof(path), "%s/u/new/%s", top, buf_cstr(&name));
	{
		struct stat st;

		TEST_ASSERT_INT(stat(path, &st), 0);
		TEST_ASSERT_INT(st.st_size, 320000);
		TEST_ASSERT_INT(st.st_mode & 0777, 0600);
	}
	TEST_END();

	TEST_BEGIN("maildir: abort leaves nothing in tmp/ or new/");
	snprintf(path, sizeof(path), "%s/u/new", top);
	i = count_entries(path);
	TEST_ASSERT_INT(maildir_msg_begin(&md, &m, &err), 0);
	TEST_ASSERT_INT(maildir_msg_write(&m, "partial", 7), 0);
	maildir_msg_abort(&m);
	TEST_ASSERT_INT(count_entries(path), i);
	snprintf(path, sizeof(path), "%s/u/tmp", top);
	TEST_ASSERT_INT(count_entries(path), 0);
	TEST_END();

	TEST_BEGIN("maildir: 4 processes x 250 deliveries, none lost, no collision");
	TEST_ASSERT_INT(maildir_create(topfd, "busy", 0700, &err), 0);
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct maildir cmd;
			int k, bad = 0;

			if (maildir_open(topfd, "busy", &cmd, &err) < 0)
				_exit(2);
			for (k = 0; k < 250; k++)
				bad |= deliver_one(&cmd, "m\n", 0, NULL, NULL);
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0, ok = 1; i < 4; i++) {
		int st;

		if (kids[i] < 0 || waitpid(kids[i], &st, 0) < 0 ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	TEST_ASSERT(ok);
	snprintf(path, sizeof(path), "%s/busy/new", top);
	TEST_ASSERT_INT(count_entries(path), 1000);
	TEST_END();

	TEST_BEGIN("maildir: tmp/ as a symlink to another folder is refused (D2)");
	snprintf(path, sizeof(path), "%s/evil", top);
	TEST_ASSERT_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/evil/new", top);
	TEST_ASSERT_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/evil/cur", top);
	TEST_ASSERT_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/evil/tmp", top);
	TEST_ASSERT_INT(symlink("/tmp", path), 0);
	TEST_ASSERT_INT(maildir_open(topfd, "evil", &md, &err), -1);
	TEST_ASSERT(errno == ELOOP || errno == ENOTDIR);
	snprintf(path, sizeof(path), "%s/linked", top);
	TEST_ASSERT_INT(symlink("u", path), 0);
	TEST_ASSERT_INT(maildir_open(topfd, "linked", &md, &err), -1);
	TEST_END();

	TEST_BEGIN("maildir: folder names are checked (D1, I6)");
	TEST_ASSERT_INT(maildir_open(topfd, "u", &md, &err), 0);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".Sent", 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/u/.Sent/maildirfolder", top);
	TEST_ASSERT_INT(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/u/.Sent/new", top);
	TEST_ASSERT_INT(count_entries(path), 0);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, "Sent", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, "..", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".a..b", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".a/b", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".x\n", 0700, &err), -1);
	TEST_ASSERT_INT(maildir_create_folder(md.fd, ".Trash.", 0700, &err), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	maildir_close(&md);
	TEST_END();

	TEST_BEGIN("maildir: host names are escaped (D4)");
	TEST_ASSERT_INT(maildir_host_escape("a/b:c", esc, sizeof(esc)), 0);
	TEST_ASSERT_STR(esc, "a\\057b\\072c");
	TEST_ASSERT_INT(maildir_host_escape("a/b", esc, 6), -1);	/* needs 7 */
	TEST_ASSERT_INT(maildir_host_escape("a/b", esc, 7), 0);
	TEST_END();

	TEST_BEGIN("maildir: name parsing of foreign and odd names");
	TEST_ASSERT_INT(maildir_name_parse("1.2.host", &mn), 0);
	TEST_ASSERT(!mn.has_size && mn.base_len == 8);
	TEST_ASSERT_INT(maildir_name_parse("1.2.h,S=12:2,RS", &mn), 0);
	TEST_ASSERT(mn.has_size && mn.size == 12 && !mn.has_vsize);
	TEST_ASSERT_STR(mn.flags, "RS");
	TEST_ASSERT_INT(maildir_name_parse("1.2.h,S=x,W=9", &mn), 0);
	TEST_ASSERT(!mn.has_size && mn.has_vsize && mn.vsize == 9);
	TEST_ASSERT_INT(maildir_name_parse("1.h,S=99999999999999999999999", &mn), 0);
	TEST_ASSERT(!mn.has_size);
	TEST_ASSERT_INT(maildir_name_parse(":2,S", &mn), -1);
	TEST_END();

	buf_free(&name);
	close(topfd);
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", top, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	return test_summary("test-maildir");
}
