/* test-log - key=value escaping, line format, truncation, file target */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "str.h"
#include "test.h"
#include "utf8.h"

static char dir[] = "/tmp/test-log.XXXXXX";

/* kv - the text log_kv appends for key and len bytes of value */
static const char *
kv(const char *key, const char *value, size_t len)
{
	static struct buf b = BUF_INIT(4096);

	buf_reset(&b);
	if (log_kv(&b, key, value, len) < 0)
		return "(failed)";
	return buf_cstr(&b);
}

/* slurp - the whole file into b (reset first); -1 on error */
static int
slurp(const char *path, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd;

	buf_reset(b);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(b, chunk, (size_t)n) < 0)
			break;
	(void)close(fd);
	return n == 0 ? 0 : -1;
}

/* digits - 1 if s holds n ASCII digits */
static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * line_ok - 1 if line (no LF) is "YYYY-MM-DDTHH:MM:SS.mmmZ PROG[PID]: REST"
 * and sets *rest_r to REST
 */
static int
line_ok(const char *line, const char *prog, long pid, const char **rest_r)
{
	char want[64];
	size_t n;

	if (strlen(line) < 25)
		return 0;
	if (!digits(line, 4) || line[4] != '-' || !digits(line + 5, 2) ||
	    line[7] != '-' || !digits(line + 8, 2) || line[10] != 'T' ||
	    !digits(line + 11, 2) || line[13] != ':' ||
	    !digits(line + 14, 2) || line[16] != ':' ||
	    !digits(line + 17, 2) || line[19] != '.' ||
	    !digits(line + 20, 3) || line[23] != 'Z' || line[24] != ' ')
		return 0;
	(void)snprintf(want, sizeof(want), "%s[%ld]: ", prog, pid);
	n = strlen(want);
	if (strncmp(line + 25, want, n) != 0)
		return 0;
	*rest_r = line + 25 + n;
	return 1;
}

/* nth_line - copy line i (0-based, without LF) of text into out */
static const char *
nth_line(const char *text, int i, struct buf *out)
{
	const char *nl;

	while (i-- > 0) {
		nl = strchr(text, '\n');
		if (nl == NULL)
			return NULL;
		text = nl + 1;
	}
	nl = strchr(text, '\n');
	if (nl == NULL)
		return NULL;
	buf_reset(out);
	if (buf_append(out, text, (size_t)(nl - text)) < 0)
		return NULL;
	return buf_cstr(out);
}

/* count_lines - LFs in b */
static size_t
count_lines(const struct buf *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->len; i++)
		if (b->data[i] == '\n')
			n++;
	return n;
}

int
main(void)
{
	struct buf b = BUF_INIT(8 << 20), line = BUF_INIT(8192);
	struct buf path = BUF_INIT(512), path2 = BUF_INIT(512);
	const char *error = NULL, *rest = NULL;
	char big[5000];
	long pid = (long)getpid();
	int saved_stderr, fd, i;

	if (mkdtemp(dir) == NULL) {
		printf("mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	(void)buf_printf(&path, "%s/mail.log", dir);
	(void)buf_printf(&path2, "%s/mail.log.1", dir);

	TEST_BEGIN("log_kv: bare values stay bare");
	TEST_ASSERT_STR(kv("qid", "1A2B3C", 6), " qid=1A2B3C");
	TEST_ASSERT_STR(kv("from", "<a@b.example>", 13), " from=<a@b.example>");
	TEST_ASSERT_STR(kv("step", "2", 1), " step=2");
	TEST_END();

	TEST_BEGIN("log_kv: quoting and escaping");
	TEST_ASSERT_STR(kv("helo", "a b", 3), " helo=\"a b\"");
	TEST_ASSERT_STR(kv("helo", "a\"b", 3), " helo=\"a\\\"b\"");
	TEST_ASSERT_STR(kv("helo", "a\\b", 3), " helo=\"a\\\\b\"");
	TEST_ASSERT_STR(kv("helo", "x=y", 3), " helo=\"x=y\"");
	TEST_ASSERT_STR(kv("helo", "", 0), " helo=\"\"");
	TEST_ASSERT_STR(kv("helo", NULL, 0), " helo=\"\"");
	TEST_ASSERT_STR(kv("helo", "a\rb", 3), " helo=\"a\\x0db\"");
	TEST_ASSERT_STR(kv("helo", "a\nb", 3), " helo=\"a\\x0ab\"");
	TEST_ASSERT_STR(kv("helo", "a\0b", 3), " helo=\"a\\x00b\"");
	TEST_ASSERT_STR(kv("helo", "\x1b[31m", 5), " helo=\"\\x1b[31m\"");
	TEST_ASSERT_STR(kv("helo", "\xff", 1), " helo=\"\\xff\"");
	TEST_ASSERT_STR(kv("helo", "\x7f", 1), " helo=\"\\x7f\"");
	TEST_ASSERT_STR(kv("helo", "\t", 1), " helo=\"\\x09\"");
	TEST_ASSERT_STR(kv("reply", "250 ok", 6), " reply=\"250 ok\"");
	TEST_END();

	TEST_BEGIN("log_kv: valid UTF-8 is logged as UTF-8, the rest escaped");
	/* é, a Chinese and an emoji character pass as themselves */
	TEST_ASSERT_STR(kv("helo", "\xc3\xa9", 2), " helo=\"\xc3\xa9\"");
	TEST_ASSERT_STR(kv("to", "<\xe7\x94\xa8@ex>", 8),
	    " to=\"<\xe7\x94\xa8@ex>\"");
	TEST_ASSERT_STR(kv("t", "a \xf0\x9f\x98\x80", 6),
	    " t=\"a \xf0\x9f\x98\x80\"");
	/* a lone lead byte, a lone continuation byte, a truncated sequence */
	TEST_ASSERT_STR(kv("t", "\xc3x", 2), " t=\"\\xc3x\"");
	TEST_ASSERT_STR(kv("t", "\xa9", 1), " t=\"\\xa9\"");
	TEST_ASSERT_STR(kv("t", "\xe7\x94", 2), " t=\"\\xe7\\x94\"");
	/* overlong, surrogate, above U+10FFFF */
	TEST_ASSERT_STR(kv("t", "\xc0\xaf", 2), " t=\"\\xc0\\xaf\"");
	TEST_ASSERT_STR(kv("t", "\xed\xa0\x80", 3),
	    " t=\"\\xed\\xa0\\x80\"");
	TEST_ASSERT_STR(kv("t", "\xf4\x90\x80\x80", 4),
	    " t=\"\\xf4\\x90\\x80\\x80\"");
	/* C1 control NEL (U+0085), line separator U+2028, bidi U+202E */
	TEST_ASSERT_STR(kv("t", "\xc2\x85", 2), " t=\"\\xc2\\x85\"");
	TEST_ASSERT_STR(kv("t", "\xe2\x80\xa8", 3),
	    " t=\"\\xe2\\x80\\xa8\"");
	TEST_ASSERT_STR(kv("t", "\xe2\x80\xae", 3),
	    " t=\"\\xe2\\x80\\xae\"");
	/* U+00A0 is the first character that passes */
	TEST_ASSERT_STR(kv("t", "\xc2\xa0", 2), " t=\"\xc2\xa0\"");
	/* UTF-8 with a newline: the character stays, the newline does not */
	TEST_ASSERT_STR(kv("t", "\xc3\xa9\n\xc3\xa9", 5),
	    " t=\"\xc3\xa9\\x0a\xc3\xa9\"");
	TEST_END();

	TEST_BEGIN("log_kv: a hostile value cannot forge a line or a field");
	{
		const char *evil = "x\r\nsmtpd[1]: qid=FAKE step=5 status=sent";
		const char *out = kv("helo", evil, strlen(evil));

		TEST_ASSERT(strchr(out, '\n') == NULL);
		TEST_ASSERT(strchr(out, '\r') == NULL);
		TEST_ASSERT_STR(out, " helo=\"x\\x0d\\x0asmtpd[1]: qid=FAKE "
		    "step=5 status=sent\"");
		out = kv("helo", "a\" qid=FAKE", 11);
		TEST_ASSERT_STR(out, " helo=\"a\\\" qid=FAKE\"");
	}
	TEST_END();

	TEST_BEGIN("log_kv: bad keys and a full buffer leave the buffer alone");
	{
		struct buf s = BUF_INIT(16);

		TEST_ASSERT_INT(log_kv(&s, "qid", "abc", 3), 0);
		TEST_ASSERT_INT(log_kv(&s, "Bad Key", "x", 1), -1);
		TEST_ASSERT_INT(errno, EINVAL);
		TEST_ASSERT_INT(log_kv(&s, "", "x", 1), -1);
		TEST_ASSERT_INT(log_kv(&s, "k=", "x", 1), -1);
		TEST_ASSERT_INT(log_kv(&s, "msg", "0123456789abc", 13), -1);
		TEST_ASSERT_INT(errno, ENOBUFS);
		TEST_ASSERT_STR(buf_cstr(&s), " qid=abc");
		TEST_ASSERT_INT(log_kv_str(&s, "to", "x y"), -1);
		TEST_ASSERT_STR(buf_cstr(&s), " qid=abc");
		TEST_ASSERT_INT(log_kv_str(&s, "a", "b"), 0);
		TEST_ASSERT_STR(buf_cstr(&s), " qid=abc a=b");
		buf_free(&s);
	}
	TEST_END();

	TEST_BEGIN("log_open: bad program names and targets are refused");
	TEST_ASSERT_INT(log_open("", "stderr", &error), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_ASSERT_INT(log_open("a b", "stderr", &error), -1);
	TEST_ASSERT_INT(log_open("a\nb", "stderr", &error), -1);
	TEST_ASSERT_INT(log_open("0123456789012345678901234567890123",
	    "stderr", &error), -1);
	TEST_ASSERT_INT(log_open("smtpd", "", &error), -1);
	TEST_ASSERT_INT(log_open("smtpd", "/nonexistent/dir/x.log", &error),
	    -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_STR(error, "cannot open the log file");
	TEST_END();

	TEST_BEGIN("log: a file target receives whole timestamped lines");
	TEST_ASSERT_INT(log_open("smtpd", buf_cstr(&path), &error), 0);
	{
		struct buf f = BUF_INIT(1024);
		struct stat st;

		(void)log_kv_str(&f, "qid", "Q1");
		(void)log_kv_str(&f, "helo", "evil\r\nsmtpd[1]: x=y");
		log_event(LOG_INFO, "%s", buf_cstr(&f));
		log_event(LOG_INFO, "qid=%s step=%d", "Q2", 2);
		log_event(LOG_WARNING, "qid=Q3 error=%s", "disk");
		log_event(LOG_ERR, "msg=x");
		log_event(LOG_DEBUG, "msg=d");
		log_event(LOG_NOTICE, "msg=n");
		log_event(LOG_INFO, "raw=%s", "a\nb\rc\x1b");
		errno = EAGAIN;
		log_event(LOG_INFO, "keeps=errno");
		TEST_ASSERT_INT(errno, EAGAIN);
		buf_free(&f);
		TEST_ASSERT_INT(stat(buf_cstr(&path), &st), 0);
		TEST_ASSERT_INT(st.st_mode & 0777,
		    0640 & ~(unsigned)umask(022));
	}
	TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
	TEST_ASSERT_INT(count_lines(&b), 8);
	TEST_ASSERT(b.len > 0 && b.data[b.len - 1] == '\n');
	TEST_ASSERT(nth_line(buf_cstr(&b), 0, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "qid=Q1 helo=\"evil\\x0d\\x0asmtpd[1]: x=y\"");
	TEST_ASSERT(nth_line(buf_cstr(&b), 1, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "qid=Q2 step=2");
	TEST_ASSERT(nth_line(buf_cstr(&b), 2, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "level=warning qid=Q3 error=disk");
	TEST_ASSERT(nth_line(buf_cstr(&b), 3, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "level=error msg=x");
	TEST_ASSERT(nth_line(buf_cstr(&b), 4, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "level=debug msg=d");
	TEST_ASSERT(nth_line(buf_cstr(&b), 5, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "level=notice msg=n");
	TEST_ASSERT(nth_line(buf_cstr(&b), 6, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "raw=a\\x0ab\\x0dc\\x1b");
	TEST_END();

	TEST_BEGIN("log: an over-long event is cut to one line ending in ...");
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	TEST_ASSERT_INT(log_open("smtpd", buf_cstr(&path), &error), 0);
	log_event(LOG_INFO, "msg=%s", big);
	log_event(LOG_INFO, "after=1");
	TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
	TEST_ASSERT_INT(count_lines(&b), 10);
	TEST_ASSERT(nth_line(buf_cstr(&b), 8, &line) != NULL);
	TEST_ASSERT_INT(line.len + 1, LOG_LINE_MAX);	/* with its LF */
	TEST_ASSERT(line.len > 3 &&
	    strcmp(line.data + line.len - 3, "...") == 0);
	TEST_ASSERT(line_ok(buf_cstr(&line), "smtpd", pid, &rest) &&
	    strncmp(rest, "msg=aaaa", 8) == 0);
	TEST_ASSERT(nth_line(buf_cstr(&b), 9, &line) != NULL &&
	    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
	TEST_ASSERT_STR(rest, "after=1");
	/* escapes that would cross the cap are not split */
	memset(big, '\n', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	log_event(LOG_WARNING, "msg=%s", big);
	TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
	TEST_ASSERT_INT(count_lines(&b), 11);
	TEST_ASSERT(nth_line(buf_cstr(&b), 10, &line) != NULL);
	TEST_ASSERT(line.len + 1 <= LOG_LINE_MAX);
	TEST_ASSERT(line.len > 7 &&
	    strcmp(line.data + line.len - 7, "\\x0a...") == 0);
	TEST_END();

	TEST_BEGIN("log: UTF-8 values stay one line, cut on a character");
	{
		struct buf f = BUF_INIT(LOG_LINE_MAX);
		static char wide[3 * 1000 + 1];
		size_t k;

		(void)log_kv_str(&f, "qid", "Q4");
		(void)log_kv_str(&f, "text", "5.1.1 <j\xc3\xb6rg@b\xc3\xbc" "cher."
		    "example>: no such user\r\nqid=FAKE");
		log_event(LOG_INFO, "%s", buf_cstr(&f));
		buf_free(&f);
		/* 1000 three-octet characters: the cut may not split one. */
		for (k = 0; k < 1000; k++)
			memcpy(wide + 3 * k, "\xe7\x94\xa8", 3);
		log_event(LOG_INFO, "msg=%s", wide);
		TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
		TEST_ASSERT_INT(count_lines(&b), 13);
		TEST_ASSERT(nth_line(buf_cstr(&b), 11, &line) != NULL &&
		    line_ok(buf_cstr(&line), "smtpd", pid, &rest));
		TEST_ASSERT_STR(rest, "qid=Q4 text=\"5.1.1 <j\xc3\xb6rg@"
		    "b\xc3\xbc" "cher.example>: no such user\\x0d\\x0aqid=FAKE\"");
		TEST_ASSERT(nth_line(buf_cstr(&b), 12, &line) != NULL);
		TEST_ASSERT(line.len + 1 <= LOG_LINE_MAX);
		TEST_ASSERT(line.len > 3 &&
		    strcmp(line.data + line.len - 3, "...") == 0);
		TEST_ASSERT(utf8_valid(line.data, line.len));
		TEST_ASSERT(line.len + 1 > LOG_LINE_MAX - 3);
	}
	TEST_END();

	TEST_BEGIN("log: several processes append whole lines, never mixed");
	TEST_ASSERT_INT(unlink(buf_cstr(&path)), 0);
	TEST_ASSERT_INT(log_open("deliver", buf_cstr(&path), &error), 0);
	for (i = 0; i < 4; i++) {
		pid_t child = fork();

		if (child == 0) {
			int j;

			for (j = 0; j < 300; j++)
				log_event(LOG_INFO, "child=%d n=%d pad=%.*s",
				    i, j, 200 + i * 50, big);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++)
		(void)wait(NULL);
	TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
	TEST_ASSERT_INT(count_lines(&b), 1200);
	{
		const char *p = buf_cstr(&b);
		int good = 0;

		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			const char *r, *pad;

			if (nl == NULL)
				break;
			buf_reset(&line);
			(void)buf_append(&line, p, (size_t)(nl - p));
			/* pid differs per child: check the program name */
			r = strstr(buf_cstr(&line), "deliver[");
			pad = strstr(buf_cstr(&line), " pad=");
			if (r == buf_cstr(&line) + 25 && pad != NULL &&
			    strncmp(pad, " pad=\\x0a", 9) == 0)
				good++;
			p = nl + 1;
		}
		TEST_ASSERT_INT(good, 1200);
	}
	TEST_END();

	TEST_BEGIN("log_reopen: after rotation, events go to the new file");
	TEST_ASSERT_INT(log_open("smtpq", buf_cstr(&path), &error), 0);
	log_event(LOG_INFO, "before=rotation");
	TEST_ASSERT_INT(rename(buf_cstr(&path), buf_cstr(&path2)), 0);
	log_event(LOG_INFO, "still=old");
	TEST_ASSERT_INT(log_reopen(&error), 0);
	log_event(LOG_INFO, "after=rotation");
	TEST_ASSERT_INT(slurp(buf_cstr(&path), &b), 0);
	TEST_ASSERT_INT(count_lines(&b), 1);
	TEST_ASSERT(strstr(buf_cstr(&b), "smtpq[") != NULL &&
	    strstr(buf_cstr(&b), "after=rotation\n") != NULL);
	TEST_ASSERT_INT(slurp(buf_cstr(&path2), &b), 0);
	TEST_ASSERT(strstr(buf_cstr(&b), "still=old\n") != NULL);
	TEST_END();

	TEST_BEGIN("log: stderr target; stderr again when a file fails");
	(void)buf_printf(&path2, ".stderr");
	saved_stderr = dup(2);
	fd = open(buf_cstr(&path2), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	TEST_ASSERT(fd >= 0 && saved_stderr >= 0);
	(void)dup2(fd, 2);
	(void)close(fd);
	TEST_ASSERT_INT(log_open("imapd", "stderr", &error), 0);
	log_event(LOG_INFO, "to=stderr");
	if (access("/dev/full", W_OK) == 0) {
		TEST_ASSERT_INT(log_open("pop3d", "/dev/full", &error), 0);
		log_event(LOG_ERR, "file=full");
	}
	log_close();
	log_event(LOG_INFO, "after=close");
	(void)dup2(saved_stderr, 2);
	(void)close(saved_stderr);
	TEST_ASSERT_INT(slurp(buf_cstr(&path2), &b), 0);
	TEST_ASSERT(nth_line(buf_cstr(&b), 0, &line) != NULL &&
	    line_ok(buf_cstr(&line), "imapd", pid, &rest));
	TEST_ASSERT_STR(rest, "to=stderr");
	if (access("/dev/full", W_OK) == 0) {
		TEST_ASSERT(nth_line(buf_cstr(&b), 1, &line) != NULL &&
		    line_ok(buf_cstr(&line), "pop3d", pid, &rest));
		TEST_ASSERT_STR(rest, "level=error file=full");
		TEST_ASSERT(nth_line(buf_cstr(&b), 2, &line) != NULL &&
		    line_ok(buf_cstr(&line), "mailstack", pid, &rest));
	} else
		TEST_ASSERT(nth_line(buf_cstr(&b), 1, &line) != NULL &&
		    line_ok(buf_cstr(&line), "mailstack", pid, &rest));
	TEST_ASSERT_STR(rest, "after=close");
	TEST_END();

	TEST_BEGIN("log: syslog target opens and logs without failing");
	TEST_ASSERT_INT(log_open("test-log", "syslog", &error), 0);
	log_event(LOG_DEBUG, "test=syslog");
	log_close();
	TEST_END();

	(void)unlink(buf_cstr(&path));
	(void)unlink(buf_cstr(&path2));
	buf_truncate(&path2, path2.len - strlen(".stderr"));
	(void)unlink(buf_cstr(&path2));
	if (rmdir(dir) < 0)
		printf("rmdir %s: %s\n", dir, strerror(errno));
	buf_free(&b);
	buf_free(&line);
	buf_free(&path);
	buf_free(&path2);
	return test_summary("test-log");
}
