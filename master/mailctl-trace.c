/*
 * NAME
 *	mailctl-trace - the eight steps of one message, from the logs
 *
 * SYNOPSIS
 *	int mailctl_trace(const struct config *cfg, int argc, char **argv);
 *
 *	mailctl trace ID [LOGFILE]
 *
 * DESCRIPTION
 *	ID is a queue id or a Message-ID (with or without its angle
 *	brackets). The log (LOGFILE, or the file the config's "log" names;
 *	"-" is standard input) is read once: every line whose qid= is ID, or
 *	whose msgid= is ID, is kept, and so is every line of a queue id
 *	found that way, so a Message-ID finds each queue entry the message
 *	had on this host. The lines are printed in log order, each with the
 *	step it says it is (step=N, named as in the eight-step table), its
 *	time, its program and its other fields; then a summary of which of
 *	the eight steps this host saw.
 *
 *	Lines are read as common/log.h writes them ("TIME PROGRAM[PID]:
 *	FIELDS") and as syslog stores them ("MON DD HH:MM:SS HOST
 *	PROGRAM[PID]: FIELDS"). A line that is neither is skipped.
 *
 * DIAGNOSTICS
 *	0 when some line matched; 67 when none did; 64 usage; 75 when the
 *	log cannot be read; 78 when the log goes to syslog or stderr and no
 *	file was named.
 *
 * SECURITY
 *	Reads the log; values in it may come from peers, and are printed
 *	as log_kv() escaped them, never unescaped onto the terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "mailctl.h"
#include "str.h"

#define TRACE_LINE_MAX	(LOG_LINE_MAX * 2)
#define TRACE_FIELDS	64
#define TRACE_IDS	64
#define TRACE_LINES	100000

static const char *const step_names[9] = {
	"",
	"the sender writes the message",
	"the sender's client hands it to its server",
	"server to server (SMTP)",
	"the server hands it to the delivery agent",
	"the delivery agent stores it in the mailbox",
	"the access agent takes it out of the mailbox",
	"it travels to the reader's client",
	"the reader reads it",
};

struct field {
	const char *key;	/* into the line */
	size_t key_len;
	const char *val;	/* as written: bare, or quoted with escapes */
	size_t val_len;
};

struct logline {
	char *text;		/* the whole line, owned */
	const char *time, *prog;
	size_t time_len, prog_len;
	struct field f[TRACE_FIELDS];
	size_t n;
	int step;		/* 0 when none */
};

/* field_is - 1 if field f has key key */
static int
field_is(const struct field *f, const char *key)
{
	return f->key_len == strlen(key) && memcmp(f->key, key, f->key_len) == 0;
}

/* value_unquoted - the value's text if bare, or its quoted text unescaped */
static void
value_unquoted(const struct field *f, struct buf *out)
{
	size_t i;

	buf_reset(out);
	if (f->val_len < 2 || f->val[0] != '"') {
		(void)buf_append(out, f->val, f->val_len);
		return;
	}
	for (i = 1; i + 1 < f->val_len; i++) {
		char c = f->val[i];

		if (c == '\\' && i + 2 < f->val_len) {
			c = f->val[++i];
			if (c == 'x' && i + 2 < f->val_len) {
				char hex[3] = { f->val[i + 1], f->val[i + 2], 0 };

				c = (char)strtol(hex, NULL, 16);
				i += 2;
			}
		}
		(void)buf_append_char(out, c);
	}
}

/* parse_fields - split "k=v k=\"v w\" ..." into fields; count, or -1 */
static int
parse_fields(const char *s, struct field *f, size_t max)
{
	size_t n = 0;

	while (*s != '\0') {
		const char *eq;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		if (n == max)
			return -1;
		eq = s;
		while (*eq != '\0' && *eq != '=' && *eq != ' ')
			eq++;
		if (*eq != '=' || eq == s)
			return -1;
		f[n].key = s;
		f[n].key_len = (size_t)(eq - s);
		s = eq + 1;
		f[n].val = s;
		if (*s == '"') {
			s++;
			while (*s != '\0' && *s != '"') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				s++;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s != '\0' && *s != ' ')
				s++;
		}
		f[n].val_len = (size_t)(s - f[n].val);
		n++;
	}
	return (int)n;
}

/* parse_line - split one log line; 0, or -1 if it is not one of ours */
static int
parse_line(struct logline *l)
{
	char *colon = strstr(l->text, "]: ");
	char *open, *sp;
	int n;
	size_t i;

	if (colon == NULL)
		return -1;
	*colon = '\0';
	open = strrchr(l->text, '[');
	if (open == NULL)
		return -1;
	sp = open;
	while (sp > l->text && sp[-1] != ' ')
		sp--;
	l->prog = sp;
	l->prog_len = (size_t)(open - sp);
	l->time = l->text;
	l->time_len = sp > l->text ? (size_t)(sp - l->text - 1) : 0;
	/* syslog puts the host name before the program: drop it */
	if (l->time_len > 0) {
		const char *h = l->text + l->time_len;

		while (h > l->text && h[-1] != ' ')
			h--;
		if (h > l->text && strchr(l->text, 'T') == NULL)
			l->time_len = (size_t)(h - l->text - 1);
	}
	n = parse_fields(colon + 3, l->f, TRACE_FIELDS);
	if (n < 0)
		return -1;
	l->n = (size_t)n;
	l->step = 0;
	for (i = 0; i < l->n; i++) {
		if (field_is(&l->f[i], "step") && l->f[i].val_len == 1 &&
		    l->f[i].val[0] >= '1' && l->f[i].val[0] <= '8')
			l->step = l->f[i].val[0] - '0';
	}
	return 0;
}

/* strip_brackets - "<a@b>" -> "a@b" into out */
static void
strip_brackets(const char *s, size_t len, struct buf *out)
{
	buf_reset(out);
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	(void)buf_append(out, s, len);
}

struct idset {
	char *v[TRACE_IDS];
	size_t n;
};

/* idset_has - 1 if id is in the set */
static int
idset_has(const struct idset *ids, const char *id)
{
	size_t i;

	for (i = 0; i < ids->n; i++)
		if (strcmp(ids->v[i], id) == 0)
			return 1;
	return 0;
}

/* idset_add - add id unless present or the set is full */
static void
idset_add(struct idset *ids, const char *id)
{
	if (ids->n < TRACE_IDS && !idset_has(ids, id))
		ids->v[ids->n++] = alloc_strdup(id);
}

/* matches - 1 if line l is about the message (and note its queue id) */
static int
matches(const struct logline *l, const char *want, struct idset *qids,
    struct buf *tmp)
{
	const char *qid = NULL;
	size_t i;
	int hit = 0;

	for (i = 0; i < l->n; i++) {
		if (field_is(&l->f[i], "qid")) {
			value_unquoted(&l->f[i], tmp);
			if (strcmp(buf_cstr(tmp), want) == 0 ||
			    idset_has(qids, buf_cstr(tmp)))
				hit = 1;
			qid = l->f[i].val;
		} else if (field_is(&l->f[i], "msgid")) {
			struct buf v = BUF_INIT(LOG_LINE_MAX);

			value_unquoted(&l->f[i], &v);
			strip_brackets(v.data, v.len, tmp);
			if (strcmp(buf_cstr(tmp), want) == 0)
				hit = 2;
			buf_free(&v);
		}
	}
	if (hit == 2 && qid != NULL) {
		for (i = 0; i < l->n; i++)
			if (field_is(&l->f[i], "qid")) {
				value_unquoted(&l->f[i], tmp);
				idset_add(qids, buf_cstr(tmp));
			}
	}
	return hit != 0;
}

/* put_safe - print n bytes with control characters as \xNN */
static void
put_safe(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* print_line - one kept line: step, time, program, other fields */
static void
print_line(const struct logline *l)
{
	size_t i;

	if (l->step > 0)
		printf("step %d  ", l->step);
	else
		printf("        ");
	put_safe(l->time, l->time_len);
	printf("  ");
	put_safe(l->prog, l->prog_len);
	for (i = 0; i < l->n; i++) {
		if (field_is(&l->f[i], "step"))
			continue;
		putchar(' ');
		put_safe(l->f[i].key, l->f[i].key_len);
		putchar('=');
		put_safe(l->f[i].val, l->f[i].val_len);
	}
	printf("\n");
}

/* read_lines - every line of f that parses, up to TRACE_LINES */
static size_t
read_lines(FILE *f, struct logline **out)
{
	struct logline *v = NULL;
	size_t n = 0, cap = 0;
	char line[TRACE_LINE_MAX];

	while (n < TRACE_LINES && fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			int c;

			/* over-long: skip the rest of it */
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			v = alloc_reallocarray(v, cap, sizeof(*v));
		}
		v[n].text = alloc_strndup(line, len);
		if (parse_line(&v[n]) < 0) {
			free(v[n].text);
			continue;
		}
		n++;
	}
	*out = v;
	return n;
}

/* mailctl_trace - print what the log says of one message */
int
mailctl_trace(const struct config *cfg, int argc, char **argv)
{
	struct buf want = BUF_INIT(1024), tmp = BUF_INIT(LOG_LINE_MAX);
	struct idset qids = { { NULL }, 0 };
	struct logline *lines = NULL;
	const char *path;
	int seen[9] = { 0 }, pass, status, s;
	size_t n, i, kept = 0;
	FILE *f;

	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: mailctl trace ID [LOGFILE]\n");
		return MAILCTL_EX_USAGE;
	}
	path = argc == 2 ? argv[1] : cfg->log;
	if (argc == 1 && (strcmp(path, "syslog") == 0 ||
	    strcmp(path, "stderr") == 0)) {
		fprintf(stderr, "mailctl: trace: the log goes to %s; name the "
		    "file it ends up in: mailctl trace %s /var/log/mail.log\n",
		    path, argv[0]);
		return MAILCTL_EX_CONFIG;
	}
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "mailctl: trace: cannot read %s: %s\n", path,
		    strerror(errno));
		return MAILCTL_EX_TEMPFAIL;
	}
	n = read_lines(f, &lines);
	if (f != stdin)
		fclose(f);
	strip_brackets(argv[0], strlen(argv[0]), &want);
	/* Twice: a Message-ID may name queue ids met later in the log. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++)
			(void)matches(&lines[i], buf_cstr(&want), &qids, &tmp);
	for (i = 0; i < n; i++) {
		if (!matches(&lines[i], buf_cstr(&want), &qids, &tmp))
			continue;
		if (kept++ == 0)
			printf("Message %s, as the log of this host tells it:\n\n",
			    argv[0]);
		print_line(&lines[i]);
		seen[lines[i].step] = 1;
	}
	if (kept == 0) {
		fprintf(stderr, "mailctl: trace: nothing in %s about %s\n",
		    path, argv[0]);
		status = MAILCTL_EX_NOUSER;
	} else {
		printf("\nThe eight steps:\n");
		for (s = 1; s <= 8; s++)
			printf("  %s %d  %s\n", seen[s] ? "[x]" : "[ ]", s,
			    step_names[s]);
		status = MAILCTL_EX_OK;
	}
	for (i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	for (i = 0; i < qids.n; i++)
		free(qids.v[i]);
	buf_free(&want);
	buf_free(&tmp);
	return status;
}
