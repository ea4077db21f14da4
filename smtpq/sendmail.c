/*
 * NAME
 *	sendmail - local mail submission, the classic command line
 *
 * SYNOPSIS
 *	sendmail [-C FILE] [-t] [-i | -oi] [-f FROM] [-F NAME] [-N NOTIFY]
 *	    [-R RET] [-V ENVID] [--] [RCPT...]
 *	sendmail -bp | mailq        sendmail -q        sendmail -bi | newaliases
 *
 * DESCRIPTION
 *	Reads a message on standard input and queues it through inject(8)
 *	(smtpq/INJECT.md): so cron jobs, scripts and local programs can send
 *	mail. Line ends are made LF (CR LF becomes LF). Without -i (or -oi) a
 *	line holding only "." ends the message, as in sendmail.
 *
 *	The recipients are the arguments and, with -t, the addresses of the
 *	To:, Cc: and Bcc: fields (read with addr_parse_header); -t removes
 *	Bcc: from the message. An address without '@' gets "@" and the
 *	first of the config's domains (the host name when there is none).
 *	The sender is -f (or -r; "<>" for the null sender), else the login
 *	name at that domain.
 *
 *	The header gets a "Received: by HOST (mailstack sendmail, from
 *	userid UID)" field first, and From:, Date: and Message-ID: when they
 *	are missing (From: is -F NAME and the sender). A header that ends at
 *	a line that is neither a field nor a continuation gets its empty
 *	line there.
 *
 *	The envelope says protocol "local", the login name as the
 *	authenticated user, BODY=8BITMIME when an octet above 0x7f was seen,
 *	SMTPUTF8 when an address is not ASCII, and -N, -R, -V as DSN NOTIFY,
 *	RET and ENVID.
 *
 *	-bp (and the name mailq) runs "mailctl -c FILE queue"; -q runs
 *	"mailctl -c FILE queue flush"; -bi (and newaliases) has nothing to
 *	do: mailctl compiles the aliases table whenever it changes it. -bm,
 *	-oXXX, -v, -U, -m, -n, -B TYPE are accepted and ignored.
 *
 * DIAGNOSTICS
 *	sysexits(3): 0 queued; 64 usage (unknown option, no recipient);
 *	65 data (a malformed address, no recipient found with -t, a header
 *	over 1 MiB, a message over message_size_limit); 70 internal error
 *	(inject refused the envelope); 75 temporary (inject answered
 *	temporary, could not run, or died: try again later); 78 the config
 *	cannot be read. One line on standard error says what happened.
 *
 * SECURITY
 *	Runs as the user who calls it, with nothing special; inject is the
 *	part that may write into the queue (set-uid to the queue user) and
 *	trusts nothing sendmail sends. sendmail runs inject and mailctl from
 *	its own folder (progpath) with argument lists; it reads only the
 *	config and standard input.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "addr.h"
#include "alloc.h"
#include "bounce.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "progpath.h"
#include "queue.h"
#include "str.h"

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"
#define HEADER_MAX	(1024 * 1024)
#define CHUNK		65536

#define EX_OK		0
#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_SOFTWARE	70
#define EX_TEMPFAIL	75
#define EX_CONFIG	78

extern char **environ;

static int saw_8bit;


/* die - one line on stderr, then exit with a sysexits status */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}

/* die_oom - out of memory: try again later */
static void
die_oom(void)
{
	die(EX_TEMPFAIL, "out of memory");
}

/*
 * The input filter: CR LF to LF, and (without -i) a lone "." line ends
 * the message. It keeps at most two octets back across reads.
 */
struct filter {
	int ignore_dots;
	int bol;		/* at the start of a line */
	int cr;			/* a CR is held back */
	int dot;		/* a "." at line start is held back */
	int ended;		/* the "." line was seen */
};

/* filter_out - one octet of output */
static void
filter_out(struct buf *out, char c)
{
	if ((unsigned char)c & 0x80)
		saw_8bit = 1;
	if (buf_append_char(out, c) < 0)
		die(EX_TEMPFAIL, "out of memory");
}

/* filter_feed - run n input octets through f into out */
static void
filter_feed(struct filter *f, const char *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n && !f->ended; i++) {
		char c = p[i];

		if (f->cr) {
			f->cr = 0;
			if (c == '\n') {
				if (f->dot) {
					f->ended = 1;
					return;
				}
				filter_out(out, '\n');
				f->bol = 1;
				continue;
			}
			if (f->dot) {
				filter_out(out, '.');
				f->dot = 0;
			}
			filter_out(out, '\r');
			f->bol = 0;
		}
		if (c == '\r') {
			f->cr = 1;
			continue;
		}
		if (f->dot) {
			f->dot = 0;
			if (c == '\n') {
				f->ended = 1;
				return;
			}
			filter_out(out, '.');
			f->bol = 0;
		}
		if (f->bol && c == '.' && !f->ignore_dots) {
			f->dot = 1;
			continue;
		}
		filter_out(out, c);
		f->bol = c == '\n';
	}
}

/* filter_end - flush what is held back at end of input */
static void
filter_end(struct filter *f, struct buf *out)
{
	if (f->ended)
		return;
	if (f->dot && !f->cr) {
		/* "." then end of input: that is the end line too. */
		f->dot = 0;
		return;
	}
	if (f->dot)
		filter_out(out, '.');
	if (f->cr)
		filter_out(out, '\r');
	f->dot = f->cr = 0;
}

/* read_more - one read of standard input through the filter; 0 at EOF */
static int
read_more(struct filter *f, struct buf *out)
{
	char chunk[CHUNK];
	ssize_t n;

	if (f->ended)
		return 0;
	do
		n = read(0, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die(EX_TEMPFAIL, "cannot read the message: %s",
		    strerror(errno));
	if (n == 0) {
		filter_end(f, out);
		return 0;
	}
	filter_feed(f, chunk, (size_t)n, out);
	return 1;
}

/* A header field: its name and where its text is in the header buffer. */
struct field {
	size_t start, len;	/* the whole field, continuations and LF */
	size_t name_len;
	int drop;		/* left out of the message (Bcc: with -t) */
};

/*
 * What main() builds lives here, reachable until exit, so that leak
 * checkers see no leak on any of the die() paths.
 */
static struct config cfg;
static struct buf err, in, hdr, wire, path;
static struct field *fields;
static struct rcpts {
	char **v;
	size_t n, cap;
	int utf8;
} rc;
static struct envelope env;

/* field_is - 1 if the field's name is name (any case) */
static int
field_is(const struct buf *h, const struct field *fl, const char *name)
{
	return fl->name_len == strlen(name) &&
	    str_eq_nocase_n(h->data + fl->start, name, fl->name_len);
}

/* is_field_start - the length of the name if line p[0..n) starts a field */
static size_t
is_field_start(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':')
			return i > 0 ? i : 0;
		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return 0;
}

/* split_header - the header's fields in text; where the body starts */
/*
 * The header ends at an empty line (consumed) or at a line that is no
 * field (kept as body). -1: text has no end of the header yet.
 */
static long
split_header(const struct buf *text, int at_eof, struct field **flp,
    size_t *n_fields)
{
	size_t pos = 0, cap = 0;

	*n_fields = 0;
	while (pos < text->len) {
		const char *p = text->data + pos;
		const char *nl = memchr(p, '\n', text->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - p) + 1 :
		    text->len - pos;
		size_t name;

		if (nl == NULL && !at_eof)
			return -1;
		if (len == 1 && p[0] == '\n')
			return (long)(pos + 1);
		if ((p[0] == ' ' || p[0] == '\t') && *n_fields > 0) {
			(*flp)[*n_fields - 1].len += len;
			pos += len;
			continue;
		}
		name = is_field_start(p, len);
		if (name == 0)
			return (long)pos;	/* body starts here */
		if (*n_fields == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			*flp = alloc_reallocarray(*flp, cap,
			    sizeof(**flp));
		}
		(*flp)[*n_fields].start = pos;
		(*flp)[*n_fields].len = len;
		(*flp)[*n_fields].name_len = name;
		(*flp)[*n_fields].drop = 0;
		(*n_fields)++;
		pos += len;
	}
	return at_eof ? (long)pos : -1;
}

/* The recipients so far: struct rcpts, above. */

/* has_8bit - 1 if s holds an octet above 0x7f */
static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s & 0x80)
			return 1;
	return 0;
}

/* canon - an address as given to a checked "local@domain"; -1 if bad */
static int
canon(const char *given, const char *domain, int allow_null, char *out,
    size_t size, const char **error_r)
{
	struct buf b = BUF_INIT(ADDR_PATH_MAX + 16);
	struct addr a;
	size_t end = 0, n = strlen(given);
	int r;

	if (n >= 2 && given[0] == '<' && given[n - 1] == '>') {
		given++;
		n -= 2;
	}
	if (buf_append_char(&b, '<') < 0 || buf_append(&b, given, n) < 0 ||
	    (n > 0 && memchr(given, '@', n) == NULL &&
	    buf_printf(&b, "@%s", domain) < 0) ||
	    buf_append_char(&b, '>') < 0) {
		buf_free(&b);
		*error_r = "address too long";
		return -1;
	}
	r = addr_parse_path(b.data, b.len, ADDR_ALLOW_UTF8 |
	    (allow_null ? ADDR_ALLOW_NULL : 0), &a, &end, error_r);
	if (r == 0 && end != b.len) {
		*error_r = "junk after the address";
		r = -1;
	}
	if (r == 0 && addr_format(&a, out, size) < 0) {
		*error_r = "address too long";
		r = -1;
	}
	buf_free(&b);
	return r;
}

/* rcpt_add - check, complete and add one recipient (once); -1 if bad */
static int
rcpt_add(struct rcpts *r, const char *given, const char *domain,
    const char **error_r)
{
	char addr[ADDR_PATH_MAX + 1];
	size_t i;

	if (canon(given, domain, 0, addr, sizeof(addr), error_r) < 0)
		return -1;
	for (i = 0; i < r->n; i++)
		if (str_eq_nocase(r->v[i], addr))
			return 0;
	if (r->n >= ENVELOPE_RCPT_MAX) {
		*error_r = "too many recipients";
		return -1;
	}
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->v = alloc_reallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n++] = alloc_strdup(addr);
	if (has_8bit(addr))
		r->utf8 = 1;
	return 0;
}

/* field_rcpts - add the addresses of one To:, Cc: or Bcc: field */
static void
field_rcpts(const struct buf *h, const struct field *fl, struct rcpts *r,
    const char *domain)
{
	struct addr_hdr_list l = ADDR_HDR_LIST_INIT;
	struct buf a = BUF_INIT(2048);
	const char *error = NULL;
	const char *body = h->data + fl->start + fl->name_len + 1;
	size_t j;

	(void)addr_parse_header(body, fl->len - fl->name_len - 1,
	    ENVELOPE_RCPT_MAX, &l, &error);
	for (j = 0; j < l.n; j++) {
		const struct addr_hdr *x = &l.v[j];
		char shown[201];

		if (x->kind != ADDR_HDR_MAILBOX || x->local.len == 0)
			continue;
		buf_reset(&a);
		(void)buf_append(&a, x->local.data, x->local.len);
		if (x->domain.len > 0) {
			(void)buf_append_char(&a, '@');
			(void)buf_append(&a, x->domain.data, x->domain.len);
		}
		/* A bare "user" is marked invalid: it is one of ours. */
		if ((!x->valid && x->domain.len > 0) ||
		    rcpt_add(r, buf_cstr(&a), domain, &error) < 0) {
			if (!x->valid && x->domain.len > 0)
				error = "cannot be parsed";
			(void)snprintf(shown, sizeof(shown), "%s",
			    buf_cstr(&a));
			addr_hdr_list_free(&l);
			buf_free(&a);
			die(EX_DATAERR, "bad recipient address '%s' in the "
			    "header: %s", shown, error);
		}
	}
	addr_hdr_list_free(&l);
	buf_free(&a);
}

/* header_rcpts - -t: the addresses of To:, Cc: and Bcc: (dropped) */
static void
header_rcpts(struct buf *h, struct field *fl, size_t n, struct rcpts *r,
    const char *domain)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (field_is(h, &fl[i], "bcc"))
			fl[i].drop = 1;
		else if (!field_is(h, &fl[i], "to") &&
		    !field_is(h, &fl[i], "cc"))
			continue;
		field_rcpts(h, &fl[i], r, domain);
	}
}

/* message_id - a fresh Message-ID value */
static void
message_id(struct buf *out, const char *host)
{
	char qid[QUEUE_ID_LEN + 1];

	if (queue_id_new(qid) < 0)
		(void)buf_printf(out, "<%lld.%ld@%s>", (long long)time(NULL),
		    (long)getpid(), host);
	else
		(void)buf_printf(out, "<%s@%s>", qid, host);
}

/* display_name - NAME as a quoted-string, or nothing if it cannot be */
static void
display_name(struct buf *out, const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0')
		return;
	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return;	/* not plain ASCII: leave the name out */
	(void)buf_append_char(out, '"');
	for (p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			(void)buf_append_char(out, '\\');
		(void)buf_append_char(out, *p);
	}
	(void)buf_append_str(out, "\" ");
}

/* build_header - Received: first, the fields kept, the ones missing */
static void
build_header(struct buf *out, const struct buf *h, const struct field *f,
    size_t n, const struct config *c, const char *from_addr,
    const char *full_name)
{
	char date[64];
	int have_from = 0, have_date = 0, have_msgid = 0;
	size_t i;

	if (bounce_date(time(NULL), date, sizeof(date)) < 0)
		date[0] = '\0';
	(void)buf_printf(out, "Received: by %s (mailstack sendmail, from "
	    "userid %lu);\n\t%s\n", c->hostname, (unsigned long)getuid(),
	    date);
	for (i = 0; i < n; i++) {
		if (field_is(h, &f[i], "from"))
			have_from = 1;
		else if (field_is(h, &f[i], "date"))
			have_date = 1;
		else if (field_is(h, &f[i], "message-id"))
			have_msgid = 1;
		if (f[i].drop)
			continue;
		(void)buf_append(out, h->data + f[i].start, f[i].len);
		if (h->data[f[i].start + f[i].len - 1] != '\n')
			(void)buf_append_char(out, '\n');
	}
	if (!have_from) {
		(void)buf_append_str(out, "From: ");
		display_name(out, full_name);
		(void)buf_printf(out, "<%s>\n", from_addr);
	}
	if (!have_date)
		(void)buf_printf(out, "Date: %s\n", date);
	if (!have_msgid) {
		(void)buf_append_str(out, "Message-ID: ");
		message_id(out, c->hostname);
		(void)buf_append_char(out, '\n');
	}
	(void)buf_append_char(out, '\n');
}

/* run_sibling - exec another program of the stack (mailq, sendmail -q) */
static void __attribute__((noreturn))
run_sibling(const char *prog, const char *config, const char *a1,
    const char *a2)
{
	char *argv[6];
	int n = 0;

	if (progpath_sibling(prog, &path) < 0)
		die(EX_TEMPFAIL, "cannot find %s: %s", prog, strerror(errno));
	argv[n++] = (char *)(uintptr_t)buf_cstr(&path);
	argv[n++] = (char *)(uintptr_t)"-c";
	argv[n++] = (char *)(uintptr_t)config;
	argv[n++] = (char *)(uintptr_t)a1;
	if (a2 != NULL)
		argv[n++] = (char *)(uintptr_t)a2;
	argv[n] = NULL;
	execve(buf_cstr(&path), argv, environ);
	die(EX_TEMPFAIL, "cannot run %s: %s", prog, strerror(errno));
}

/* opt_value - the value of an option: attached ("-fX") or the next arg */
static const char *
opt_value(int argc, char **argv, int *i, size_t skip)
{
	if (argv[*i][skip] != '\0')
		return argv[*i] + skip;
	if (*i + 1 >= argc)
		die(EX_USAGE, "option %s needs a value", argv[*i]);
	return argv[++*i];
}

/* usage - the options, to stderr */
static void __attribute__((noreturn))
usage(const char *why)
{
	fprintf(stderr, "sendmail: %s\nusage: sendmail [-C FILE] [-t] [-i] "
	    "[-f FROM] [-F NAME] [-N NOTIFY] [-R RET] [-V ENVID] "
	    "[RCPT...]\n       sendmail -bp | -q | -bi\n", why);
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *from = NULL, *full_name = NULL;
	const char *notify = NULL, *ret = NULL, *envid = NULL, *error = NULL;
	const char *me = strrchr(argv[0], '/') != NULL ?
	    strrchr(argv[0], '/') + 1 : argv[0];
	struct filter f = { 0, 1, 0, 0, 0 };
	struct passwd *pw;
	char sender[ADDR_PATH_MAX + 1], login[256], rep[256];
	const char *domain;
	int extract = 0, mode = 'm', i, notify_bits = 0, status = 0;
	int m[2], en[2], rp[2], rc_spawn, eof = 0, reader_gone = 0;
	size_t n_fields = 0, got = 0;
	long body;
	posix_spawn_file_actions_t fa;
	char *iargv[4];
	pid_t pid;

	(void)signal(SIGPIPE, SIG_IGN);
	alloc_set_oom_handler(die_oom);
	buf_init(&err, 1024);
	buf_init(&in, HEADER_MAX + CHUNK);
	buf_init(&hdr, 2 * HEADER_MAX + 8192);
	buf_init(&wire, ENVELOPE_WIRE_MAX);
	buf_init(&path, 4096);
	envelope_init(&env);
	if (strcmp(me, "mailq") == 0)
		mode = 'p';
	else if (strcmp(me, "newaliases") == 0)
		mode = 'i';
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		switch (a[1]) {
		case 't':
			if (a[2] != '\0')
				usage("unknown option");
			extract = 1;
			break;
		case 'i':
			if (a[2] != '\0')
				usage("unknown option");
			f.ignore_dots = 1;
			break;
		case 'o':
			if (a[2] == 'i' && a[3] == '\0')
				f.ignore_dots = 1;
			else if (a[2] == '\0')
				(void)opt_value(argc, argv, &i, 2);
			break;	/* -odb, -oem, ...: accepted, ignored */
		case 'f':
		case 'r':
			from = opt_value(argc, argv, &i, 2);
			break;
		case 'F':
			full_name = opt_value(argc, argv, &i, 2);
			break;
		case 'C':
			config = opt_value(argc, argv, &i, 2);
			break;
		case 'N':
			notify = opt_value(argc, argv, &i, 2);
			break;
		case 'R':
			ret = opt_value(argc, argv, &i, 2);
			break;
		case 'V':
			envid = opt_value(argc, argv, &i, 2);
			break;
		case 'B':
			(void)opt_value(argc, argv, &i, 2);
			break;
		case 'b':
			if (strcmp(a, "-bm") == 0)
				mode = 'm';
			else if (strcmp(a, "-bp") == 0)
				mode = 'p';
			else if (strcmp(a, "-bi") == 0)
				mode = 'i';
			else
				usage("only -bm, -bp and -bi are supported");
			break;
		case 'q':
			mode = 'q';
			break;
		case 'v':
		case 'U':
		case 'm':
		case 'n':
			break;
		default:
			usage("unknown option");
		}
	}
	if (mode == 'i') {
		printf("newaliases: nothing to do; mailctl compiles the "
		    "aliases table whenever it changes it\n");
		return EX_OK;
	}
	if (config_load(config, &cfg, &err) < 0)
		die(EX_CONFIG, "%s", buf_cstr(&err));
	if (mode == 'p')
		run_sibling("mailctl", config, "queue", NULL);
	if (mode == 'q')
		run_sibling("mailctl", config, "queue", "flush");

	domain = cfg.domains.n > 0 ? cfg.domains.v[0] : cfg.hostname;
	pw = getpwuid(getuid());
	if (pw != NULL && pw->pw_name != NULL &&
	    str_copy(login, sizeof(login), pw->pw_name) == 0) {
		if (full_name == NULL && pw->pw_gecos != NULL) {
			char *comma = strchr(pw->pw_gecos, ',');

			if (comma != NULL)
				*comma = '\0';
			full_name = pw->pw_gecos;
		}
	} else
		(void)snprintf(login, sizeof(login), "uid%lu",
		    (unsigned long)getuid());
	if (from == NULL)
		from = login;
	if (strcmp(from, "<>") == 0 || from[0] == '\0')
		sender[0] = '\0';
	else if (canon(from, domain, 0, sender, sizeof(sender), &error) < 0)
		die(EX_DATAERR, "bad sender address '%s': %s", from, error);
	if (notify != NULL && envelope_notify_parse(notify, &notify_bits) < 0)
		die(EX_USAGE, "bad -N value '%s'", notify);
	if (ret != NULL) {
		if (str_eq_nocase(ret, "full"))
			ret = "FULL";
		else if (str_eq_nocase(ret, "hdrs"))
			ret = "HDRS";
		else
			die(EX_USAGE, "bad -R value '%s' (FULL or HDRS)", ret);
	}
	for (; i < argc; i++)
		if (rcpt_add(&rc, argv[i], domain, &error) < 0)
			die(EX_DATAERR, "bad recipient address '%s': %s",
			    argv[i], error);

	/* Read until the header is complete. */
	for (;;) {
		body = split_header(&in, eof, &fields, &n_fields);
		if (body >= 0)
			break;
		if (in.len > HEADER_MAX)
			die(EX_DATAERR, "message header longer than 1 MiB");
		if (!read_more(&f, &in))
			eof = 1;
	}
	if (extract)
		header_rcpts(&in, fields, n_fields, &rc, domain);
	if (rc.n == 0) {
		if (extract)
			die(EX_DATAERR, "no recipient addresses found in the "
			    "message header");
		usage("no recipients given");
	}
	build_header(&hdr, &in, fields, n_fields, &cfg,
	    sender[0] != '\0' ? sender : login, full_name);

	/* Run inject: message on 0, envelope on 1, report on 3. */
	if (progpath_sibling("inject", &path) < 0)
		die(EX_TEMPFAIL, "cannot find inject: %s", strerror(errno));
	if (pipe2(m, O_CLOEXEC) < 0 || pipe2(en, O_CLOEXEC) < 0 ||
	    pipe2(rp, O_CLOEXEC) < 0)
		die(EX_TEMPFAIL, "cannot make pipes: %s", strerror(errno));
	iargv[0] = (char *)(uintptr_t)buf_cstr(&path);
	iargv[1] = (char *)(uintptr_t)"-c";
	iargv[2] = (char *)(uintptr_t)config;
	iargv[3] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, m[0], 0);
	posix_spawn_file_actions_adddup2(&fa, en[0], 1);
	posix_spawn_file_actions_adddup2(&fa, rp[1], 3);
	rc_spawn = posix_spawn(&pid, buf_cstr(&path), &fa, NULL, iargv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	(void)close(m[0]);
	(void)close(en[0]);
	(void)close(rp[1]);
	if (rc_spawn != 0)
		die(EX_TEMPFAIL, "cannot run inject: %s", strerror(rc_spawn));

	if (fd_write_all(m[1], hdr.data, hdr.len) < 0 ||
	    fd_write_all(m[1], in.data + body, in.len - (size_t)body) < 0)
		reader_gone = 1;
	buf_free(&hdr);
	while (!reader_gone && !eof) {
		buf_reset(&in);
		if (!read_more(&f, &in))
			eof = 1;
		if (in.len > 0 && fd_write_all(m[1], in.data, in.len) < 0)
			reader_gone = 1;
	}
	(void)close(m[1]);

	if (!reader_gone) {
		env.sender = sender;
		env.envid = (char *)(uintptr_t)envid;
		env.ret = (char *)(uintptr_t)ret;
		env.body = saw_8bit ? (char *)(uintptr_t)"8BITMIME" : NULL;
		env.smtputf8 = rc.utf8 || has_8bit(sender);
		env.client_ip = (char *)(uintptr_t)"";
		env.auth_user = login;
		env.protocol = (char *)(uintptr_t)"local";
		for (i = 0; (size_t)i < rc.n; i++)
			(void)envelope_add_rcpt(&env, rc.v[i], NULL,
			    notify_bits);
		if (envelope_encode(&env, &wire) < 0) {
			(void)close(en[1]);
			(void)kill(pid, SIGTERM);
			(void)waitpid(pid, NULL, 0);
			die(EX_DATAERR, "cannot encode the envelope (a field "
			    "holds a control character or is too long)");
		}
		(void)fd_write_all(en[1], wire.data, wire.len);
	}
	(void)close(en[1]);
	for (;;) {
		ssize_t n = read(rp[0], rep + got, sizeof(rep) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(rep) - 1)
			break;
	}
	rep[got] = '\0';
	if (got > 0 && rep[got - 1] == '\n')
		rep[got - 1] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && rep[0] == 'K')
		return EX_OK;
	if (rep[0] == 'D') {
		if (strncmp(rep, "D 5.3.4", 7) == 0)
			die(EX_DATAERR, "message refused: %s", rep + 2);
		die(EX_SOFTWARE, "message refused: %s", rep + 2);
	}
	if (rep[0] == 'Z')
		die(EX_TEMPFAIL, "temporary failure, try again later: %s",
		    rep + 2);
	die(EX_TEMPFAIL, "inject failed without a report (status %d)", status);
}
