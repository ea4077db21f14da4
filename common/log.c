/*
 * NAME
 *	log - one-line key=value event logging
 *
 * SYNOPSIS
 *	int log_open(const char *program, const char *target,
 *	    const char **error_r);
 *	int log_reopen(const char **error_r);
 *	void log_close(void);
 *	void log_event(int level, const char *fmt, ...);
 *	void log_eventv(int level, const char *fmt, va_list ap);
 *	int log_kv(struct buf *b, const char *key, const char *value,
 *	    size_t len);
 *	int log_kv_str(struct buf *b, const char *key, const char *value);
 *
 * DESCRIPTION
 *	The line format is described in log.h.
 *
 *	log_open() names the program (1 to LOG_PROGRAM_MAX octets of
 *	letters, digits, ".", "_", "-") and chooses where events go:
 *	"syslog" (openlog(3) with LOG_MAIL and LOG_PID), "stderr", or the
 *	path of a file, opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC with mode
 *	0640. A relative path is taken as it is (config(3) has already made
 *	paths absolute). Calling it again replaces the previous target.
 *	Before log_open() events go to stderr as program "mailstack".
 *
 *	log_reopen() opens the file target again by name (after the file was
 *	rotated); for other targets it does nothing. log_close() closes the
 *	target and goes back to the stderr default.
 *
 *	log_event() formats one event (fmt builds the FIELDS text), drops
 *	leading blanks, escapes any control byte the text still holds as
 *	\xNN (so even a careless format cannot split the line), adds the
 *	prefix and hands the line to the target with a single write(2): with
 *	O_APPEND, lines from many processes sharing one file never
 *	interleave. It keeps errno unchanged, so a caller may log and then
 *	look at errno. It allocates nothing.
 *
 *	log_kv() appends " key=value" to b, quoting and escaping the value as
 *	log.h describes. The value is bare when it is non-empty and made
 *	only of printable ASCII other than space, '"', '\' and '='; otherwise
 *	it is quoted, '\' and '"' are written \\ and \", a well-formed UTF-8
 *	character above U+009F is written as itself (so a UTF-8 address or
 *	reply stays readable), and every other byte that is a control byte,
 *	NUL, 0x7f or above is written \xNN: invalid or truncated UTF-8, C1
 *	controls, and the line separators and bidirectional controls
 *	(U+2028, U+2029, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) that
 *	could break or disguise a line. The output never holds CR or LF.
 *	log_kv_str() does the same for a C string (NULL is the empty value).
 *	A line cut to LOG_LINE_MAX is cut before a UTF-8 sequence it would
 *	otherwise split.
 *
 * DIAGNOSTICS
 *	log_open, log_reopen: 0, or -1 with errno and a static reason in
 *	*error_r (EINVAL bad program name or empty target: permanent; an
 *	open(2) errno for the file: usually temporary). On failure of
 *	log_reopen the old file stays in use.
 *	log_event never fails its caller: when the file or stderr cannot be
 *	written, the line goes to stderr instead, and if that fails too it
 *	is lost silently.
 *	log_kv: 0, or -1 with EINVAL (bad key) or ENOBUFS (b is full); b is
 *	then unchanged.
 *
 * SECURITY
 *	No privileges beyond opening the log file, which is created 0640.
 *	Values are treated as hostile: nothing a peer sends can make a log
 *	line end early or add a field. Not async-signal-safe (it reads the
 *	clock through gmtime_r and may call syslog); do not call it from a
 *	signal handler.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "str.h"
#include "utf8.h"

enum target {
	TARGET_STDERR,
	TARGET_SYSLOG,
	TARGET_FILE,
};

static enum target log_target = TARGET_STDERR;
static char log_program[LOG_PROGRAM_MAX + 1] = "mailstack";
static char *log_path;		/* TARGET_FILE: the file's name */
static int log_fd = -1;		/* TARGET_FILE: the open file */

static const char hexdigits[] = "0123456789abcdef";

/* valid_program - 1 if s is a usable program name */
static int
valid_program(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0 && n <= LOG_PROGRAM_MAX;
}

/* open_file - open a log file for appending */
static int
open_file(const char *path)
{
	int fd;

	struct stat st;
	int fl;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOCTTY, 0640);
	while (fd < 0 && errno == EINTR);
	/*
	 * A service user may not open the file; maild (root) passes it
	 * open for appending as descriptor 2 to every child it starts.
	 */
	if (fd < 0 && (errno == EACCES || errno == EPERM) &&
	    fstat(2, &st) == 0 && S_ISREG(st.st_mode) &&
	    (fl = fcntl(2, F_GETFL)) >= 0 && (fl & O_APPEND))
		fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	return fd;
}

/* drop_target - close the current target, back to the stderr default */
static void
drop_target(void)
{
	if (log_target == TARGET_SYSLOG)
		closelog();
	if (log_fd >= 0)
		(void)close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	log_target = TARGET_STDERR;
}

/* log_open - name the program and choose syslog, stderr or a file */
int
log_open(const char *program, const char *target, const char **error_r)
{
	int fd;

	if (program == NULL || !valid_program(program)) {
		*error_r = "bad program name for the log";
		errno = EINVAL;
		return -1;
	}
	if (target == NULL || target[0] == '\0') {
		*error_r = "empty log target";
		errno = EINVAL;
		return -1;
	}
	if (strcmp(target, "syslog") != 0 && strcmp(target, "stderr") != 0) {
		fd = open_file(target);
		if (fd < 0) {
			*error_r = "cannot open the log file";
			return -1;
		}
		drop_target();
		log_fd = fd;
		log_path = alloc_strdup(target);
		log_target = TARGET_FILE;
	} else {
		drop_target();
		if (strcmp(target, "syslog") == 0)
			log_target = TARGET_SYSLOG;
	}
	/* UNSAFE: valid_program() checked the length against the array. */
	(void)str_copy(log_program, sizeof(log_program), program);
	if (log_target == TARGET_SYSLOG)
		openlog(log_program, LOG_PID | LOG_NDELAY, LOG_MAIL);
	return 0;
}

/* log_reopen - open the log file again by name, after rotation */
int
log_reopen(const char **error_r)
{
	int fd;

	if (log_target != TARGET_FILE)
		return 0;
	fd = open_file(log_path);
	if (fd < 0) {
		*error_r = "cannot open the log file";
		return -1;
	}
	(void)close(log_fd);
	log_fd = fd;
	return 0;
}

/* log_close - close the target; later events go to stderr */
void
log_close(void)
{
	drop_target();
	(void)str_copy(log_program, sizeof(log_program), "mailstack");
}

/* level_name - the level= value for a syslog level, NULL for info */
static const char *
level_name(int level)
{
	switch (level & LOG_PRIMASK) {
	case LOG_EMERG:
		return "emerg";
	case LOG_ALERT:
		return "alert";
	case LOG_CRIT:
		return "crit";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_DEBUG:
		return "debug";
	case LOG_INFO:
	default:
		return NULL;
	}
}

/* write_all - one write(2) of the line; -1 unless it all went out */
static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	do
		r = write(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r >= 0 && (size_t)r == n ? 0 : -1;
}

/* utf8_cut - len, less a UTF-8 sequence the cut left unfinished */
static size_t
utf8_cut(const char *line, size_t len)
{
	size_t k = len, back = 0, need;
	unsigned char c;

	while (k > 0 && back < 3 &&
	    ((unsigned char)line[k - 1] & 0xc0) == 0x80) {
		k--;
		back++;
	}
	if (k == 0)
		return len;
	c = (unsigned char)line[k - 1];
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (need > back)
		return k - 1;	/* the lead byte goes too */
	return len;
}

/* log_eventv - log_event with a va_list */
void
log_eventv(int level, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];
	char line[LOG_LINE_MAX];
	const char *lname;
	size_t len = 0, tlen, i, start, room;
	int saved = errno, n, cut = 0;

	/* The prefix: timestamp and program[pid] for stderr and files. */
	if (log_target != TARGET_SYSLOG) {
		struct timespec ts;
		struct tm tm;

		if (clock_gettime(CLOCK_REALTIME, &ts) < 0 ||
		    gmtime_r(&ts.tv_sec, &tm) == NULL) {
			memset(&tm, 0, sizeof(tm));
			ts.tv_nsec = 0;
		}
		len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + len, sizeof(line) - len,
		    ".%03ldZ %s[%ld]: ", (long)(ts.tv_nsec / 1000000),
		    log_program, (long)getpid());
		/* UNSAFE: at most ~90 octets, far below LOG_LINE_MAX. */
		if (n > 0)
			len += (size_t)n;
	}
	lname = level_name(level);
	if (lname != NULL) {
		n = snprintf(line + len, sizeof(line) - len, "level=%s ",
		    lname);
		if (n > 0)
			len += (size_t)n;
	}

	/* The caller's text, cut to fit; control bytes escaped. */
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		n = 0;
	tlen = (size_t)n;
	if (tlen >= sizeof(text)) {
		tlen = sizeof(text) - 1;
		cut = 1;
	}
	start = 0;
	while (start < tlen && (text[start] == ' ' || text[start] == '\t'))
		start++;
	room = sizeof(line) - 4;	/* keep room for "...\n" */
	for (i = start; i < tlen; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f) {
			if (len + 4 > room) {
				cut = 1;
				break;
			}
			line[len++] = '\\';
			line[len++] = 'x';
			line[len++] = hexdigits[c >> 4];
			line[len++] = hexdigits[c & 0xf];
		} else {
			if (len + 1 > room) {
				cut = 1;
				break;
			}
			line[len++] = (char)c;
		}
	}
	if (cut) {
		len = utf8_cut(line, len);
		memcpy(line + len, "...", 3);
		len += 3;
	}

	if (log_target == TARGET_SYSLOG) {
		line[len] = '\0';
		syslog(level, "%s", line);
	} else {
		int fd = log_target == TARGET_FILE ? log_fd : 2;

		line[len++] = '\n';
		if (write_all(fd, line, len) < 0 && fd != 2)
			(void)write_all(2, line, len);
	}
	errno = saved;
}

/* log_event - log one event: fmt builds the key=value text */
void
log_event(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_eventv(level, fmt, ap);
	va_end(ap);
}

/* valid_key - 1 if key is 1+ octets of a-z 0-9 _ . - */
static int
valid_key(const char *key)
{
	const char *p;

	for (p = key; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '.' || *p == '-'))
			return 0;
	return p != key;
}

/*
 * utf8_char - the length (2 to 4) of the well-formed UTF-8 character at
 * v[0..len) when it may stand in a log line as itself, else 0. Never
 * passed: C1 controls (U+0080-U+009F), the line and paragraph separators
 * (U+2028, U+2029) and the bidirectional controls (U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069), which could break or disguise a line.
 */
static size_t
utf8_char(const unsigned char *v, size_t len)
{
	size_t n;
	unsigned cp;

	if (v[0] >= 0xc2 && v[0] <= 0xdf)
		n = 2;
	else if (v[0] >= 0xe0 && v[0] <= 0xef)
		n = 3;
	else if (v[0] >= 0xf0 && v[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len || !utf8_valid(v, n))
		return 0;
	if (n == 2 && v[0] == 0xc2 && v[1] < 0xa0)
		return 0;		/* C1 controls */
	if (n == 3) {
		cp = ((unsigned)(v[0] & 0x0f) << 12) |
		    ((unsigned)(v[1] & 0x3f) << 6) | (unsigned)(v[2] & 0x3f);
		if (cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			return 0;
	}
	return n;
}

/* needs_quotes - 1 if the value cannot be written bare */
static int
needs_quotes(const unsigned char *v, size_t len)
{
	size_t i;

	if (len == 0)
		return 1;
	for (i = 0; i < len; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '"' ||
		    v[i] == '\\' || v[i] == '=')
			return 1;
	return 0;
}

/* log_kv - append " key=value", quoted and escaped as log.h says */
int
log_kv(struct buf *b, const char *key, const char *value, size_t len)
{
	const unsigned char *v = (const unsigned char *)value;
	size_t old = b->len, i, u;
	int r;

	if (key == NULL || !valid_key(key) || (value == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	r = buf_append_char(b, ' ');
	if (r == 0)
		r = buf_append_str(b, key);
	if (r == 0)
		r = buf_append_char(b, '=');
	if (r == 0 && !needs_quotes(v, len)) {
		r = buf_append(b, v, len);
	} else if (r == 0) {
		r = buf_append_char(b, '"');
		for (i = 0; r == 0 && i < len; i++) {
			char esc[4];

			if (v[i] == '"' || v[i] == '\\') {
				esc[0] = '\\';
				esc[1] = (char)v[i];
				r = buf_append(b, esc, 2);
			} else if (v[i] >= 0x80 &&
			    (u = utf8_char(v + i, len - i)) > 0) {
				r = buf_append(b, v + i, u);
				i += u - 1;
			} else if (v[i] < 0x20 || v[i] >= 0x7f) {
				esc[0] = '\\';
				esc[1] = 'x';
				esc[2] = hexdigits[v[i] >> 4];
				esc[3] = hexdigits[v[i] & 0xf];
				r = buf_append(b, esc, 4);
			} else
				r = buf_append_char(b, (char)v[i]);
		}
		if (r == 0)
			r = buf_append_char(b, '"');
	}
	if (r < 0) {
		buf_truncate(b, old);
		errno = ENOBUFS;
		return -1;
	}
	return 0;
}

/* log_kv_str - log_kv for a C string; NULL is the empty value */
int
log_kv_str(struct buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return log_kv(b, key, "", 0);
	return log_kv(b, key, value, strlen(value));
}
