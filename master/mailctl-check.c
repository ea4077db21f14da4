/*
 * NAME
 *	mailctl-check - say what is wrong with a configuration, and where
 *
 * SYNOPSIS
 *	int mailctl_check(const struct config *cfg, int argc, char **argv);
 *
 *	mailctl -c FILE check
 *
 * DESCRIPTION
 *	The config file itself was loaded by mailctl.c (a syntax error never
 *	gets here). check then reads what the config names, the way the
 *	programs will:
 *
 *	  - every line of the users table: the address (in a local domain),
 *	    the password hash (a crypt(3) hash or "*"), quota= and forward=;
 *	  - every line of the aliases table: the address or "@DOMAIN"
 *	    catch-all (in a local domain) and its targets;
 *	  - that each table (users, aliases, transport, tls_policy) compiles:
 *	    no duplicate keys, no over-long or broken lines;
 *	  - that authd's password table STATE_DIR/auth/passwd.cdb exists
 *	    once users.cdb does, opens as a cdb, and is readable by its
 *	    owner alone (mode 0600);
 *	  - that tls_cert and tls_key load and belong together;
 *	  - every line of the tls_sni table, and that each CERT and KEY it
 *	    names load with OpenSSL and belong together ("TABLE:LINE: ...");
 *	  - that state_dir and mail_dir exist, are folders, and that
 *	    mail_dir does not belong to root (deliver never writes as root).
 *
 *	Each problem is one line on standard error, "FILE:LINE: what", or
 *	"FILE: what". Nothing is changed: tables are compiled into a
 *	temporary folder that is removed afterwards.
 *
 * DIAGNOSTICS
 *	0 when nothing is wrong; 78 when something is (the count is said);
 *	75 when check itself could not run (no temporary folder).
 *
 * SECURITY
 *	Run by the administrator; reads the config's files, writes only in
 *	its own temporary folder.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "mailctl.h"
#include "str.h"
#include "table.h"
#include "tls.h"
#include "tlssni.h"
#include "userdb.h"

#define CHECK_LINE_MAX	TABLE_LINE_MAX

struct check {
	unsigned problems;
	char tmpdir[64];
};

/* problem - report one thing that is wrong */
static void __attribute__((format(printf, 4, 5)))
problem(struct check *c, const char *file, unsigned long line,
    const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		fprintf(stderr, "%s:%lu: ", file, line);
	else
		fprintf(stderr, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->problems++;
}

/* domain_of_local - 1 if address (or "@DOMAIN") is in a local domain */
static int
domain_of_local(const struct config *cfg, const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL && config_is_local_domain(cfg, at + 1);
}

/* check_user_line - one users entry: address and value */
static void
check_user_line(struct check *c, const struct config *cfg, const char *file,
    unsigned long n, const char *key, const char *value)
{
	char address[USERDB_ADDR_MAX + 1];
	struct userdb_user u;
	const char *why = NULL;

	if (userdb_parse_address(key, strlen(key), address, sizeof(address),
	    &why) < 0) {
		problem(c, file, n, "bad address '%s': %s", key, why);
		return;
	}
	if (!domain_of_local(cfg, address))
		problem(c, file, n, "'%s' is not in a local domain (domains "
		    "in %s)", address, cfg->path);
	memset(&u, 0, sizeof(u));
	if (userdb_parse_user(value, &u, &why) < 0)
		problem(c, file, n, "%s: %s", address, why);
	else if (strcmp(u.hash, "*") != 0 && u.hash[0] != '$')
		problem(c, file, n, "%s: the password is not a crypt(3) hash "
		    "(set it with: mailctl user passwd %s)", address, address);
	userdb_user_free(&u);
}

/* check_alias_line - one aliases entry: address or catch-all, targets */
static void
check_alias_line(struct check *c, const struct config *cfg, const char *file,
    unsigned long n, const char *key, const char *value)
{
	char address[USERDB_ADDR_MAX + 1];
	struct userdb_list targets = { NULL, 0 };
	const char *why = NULL;

	if (key[0] == '@') {
		if (!config_is_local_domain(cfg, key + 1))
			problem(c, file, n, "catch-all '%s' is not for a local "
			    "domain", key);
	} else if (userdb_parse_address(key, strlen(key), address,
	    sizeof(address), &why) < 0)
		problem(c, file, n, "bad address '%s': %s", key, why);
	else if (!domain_of_local(cfg, address))
		problem(c, file, n, "'%s' is not in a local domain", address);
	if (userdb_parse_targets(value, &targets, &why) < 0)
		problem(c, file, n, "%s: %s", key, why);
	userdb_list_free(&targets);
}

/* check_entries - read a table's text and check each entry */
static void
check_entries(struct check *c, const struct config *cfg, const char *file,
    void (*each)(struct check *, const struct config *, const char *,
    unsigned long, const char *, const char *))
{
	char line[CHECK_LINE_MAX + 2];
	unsigned long n = 0;
	FILE *f = fopen(file, "r");

	if (f == NULL) {
		if (errno != ENOENT)
			problem(c, file, 0, "cannot read: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && n < 10000000) {
		char *fields[2], *s;
		size_t len = strlen(line);

		n++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f))
			continue;	/* over-long: table_compile says so */
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		s = str_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		fields[0] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
		fields[1] = str_trim(s);
		each(c, cfg, file, n, fields[0], fields[1]);
	}
	fclose(f);
}

/* check_compiles - the table compiles (into our temporary folder) */
static void
check_compiles(struct check *c, const char *key, const char *text, int fold)
{
	struct buf cdb = BUF_INIT(4096), err = BUF_INIT(4096);

	if (text == NULL)
		return;
	if (access(text, F_OK) < 0) {
		problem(c, text, 0, "%s names a file that does not exist", key);
		return;
	}
	(void)buf_printf(&cdb, "%s/%s.cdb", c->tmpdir, key);
	if (table_compile(text, buf_cstr(&cdb), fold ? TABLE_FOLD_KEYS : 0,
	    &err) < 0) {
		fprintf(stderr, "%s\n", buf_cstr(&err));
		c->problems++;
	}
	(void)unlink(buf_cstr(&cdb));
	buf_free(&cdb);
	buf_free(&err);
}

/* check_folder - path exists and is a folder; for mail_dir not root's */
static void
check_folder(struct check *c, const struct config *cfg, const char *key,
    const char *path, int not_root)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		problem(c, cfg->path, 0, "%s %s: %s", key, path,
		    strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode))
		problem(c, cfg->path, 0, "%s %s is not a folder", key, path);
	else if (not_root && st.st_uid == 0)
		problem(c, cfg->path, 0, "%s %s belongs to root: deliver never "
		    "writes as root; chown it to the mail user", key, path);
}

/* check_sni - the tls_sni table, and each certificate and key it names */
static void
check_sni(struct check *c, const char *path)
{
	struct tlssni_table t;
	struct buf err = BUF_INIT(CHECK_LINE_MAX);
	const char *why = NULL;
	size_t i;

	if (tlssni_load(path, &t, &err) < 0) {
		/* err already says "FILE:LINE: what" */
		fprintf(stderr, "%s\n", buf_cstr(&err));
		c->problems++;
		buf_free(&err);
		return;
	}
	buf_free(&err);
	for (i = 0; i < t.n; i++) {
		SSL_CTX *ctx = tls_server_ctx_new(t.v[i].cert, t.v[i].key,
		    &why);

		if (ctx == NULL)
			problem(c, t.path, t.v[i].line, "%s: %s", t.v[i].name,
			    why);
		else
			tls_ctx_free(ctx);
	}
	tlssni_free(&t);
}

/* check_passwd - authd's password table: present, readable, 0600 */
static void
check_passwd(struct check *c, const struct config *cfg)
{
	struct buf cdb = BUF_INIT(4096), users = BUF_INIT(4096);
	struct table *t;
	struct stat st;
	const char *why = NULL;

	if (userdb_table_paths(cfg, USERDB_PASSWD, NULL, &cdb) < 0 ||
	    userdb_table_paths(cfg, USERDB_USERS, NULL, &users) < 0)
		goto out;
	if (lstat(buf_cstr(&cdb), &st) < 0) {
		if (errno == ENOENT && stat(buf_cstr(&users), &st) == 0)
			problem(c, buf_cstr(&cdb), 0, "missing, so authd cannot "
			    "check passwords: compile it with mailctl user "
			    "passwd, or start maild as root");
		else if (errno != ENOENT)
			problem(c, buf_cstr(&cdb), 0, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(c, buf_cstr(&cdb), 0, "not a regular file");
		goto out;
	}
	if ((st.st_mode & 077) != 0)
		problem(c, buf_cstr(&cdb), 0, "password hashes readable by "
		    "others (mode %04o, want 0600)", (unsigned)(st.st_mode &
		    07777));
	if ((t = table_open(buf_cstr(&cdb), &why)) == NULL)
		problem(c, buf_cstr(&cdb), 0, "unreadable: %s (%s)", why,
		    strerror(errno));
	table_close(t);
out:
	buf_free(&cdb);
	buf_free(&users);
}

/* mailctl_check - everything the config names, checked */
int
mailctl_check(const struct config *cfg, int argc, char **argv)
{
	struct check c;
	const char *why = NULL;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: mailctl check\n");
		return MAILCTL_EX_USAGE;
	}
	memset(&c, 0, sizeof(c));
	if (str_copy(c.tmpdir, sizeof(c.tmpdir), "/tmp/mailctl-check.XXXXXX")
	    < 0 || mkdtemp(c.tmpdir) == NULL) {
		fprintf(stderr, "mailctl: check: cannot make a temporary "
		    "folder: %s\n", strerror(errno));
		return MAILCTL_EX_TEMPFAIL;
	}
	if (cfg->users != NULL) {
		check_compiles(&c, "users", cfg->users, 1);
		check_entries(&c, cfg, cfg->users, check_user_line);
		check_passwd(&c, cfg);
	}
	if (cfg->aliases != NULL) {
		check_compiles(&c, "aliases", cfg->aliases, 1);
		check_entries(&c, cfg, cfg->aliases, check_alias_line);
	}
	check_compiles(&c, "transport", cfg->transport, 1);
	check_compiles(&c, "tls_policy", cfg->tls_policy, 1);
	if (cfg->tls_cert != NULL) {
		SSL_CTX *ctx = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key,
		    &why);

		if (ctx == NULL)
			problem(&c, cfg->path, 0, "tls_cert/tls_key: %s", why);
		else
			tls_ctx_free(ctx);
	}
	if (cfg->tls_sni != NULL)
		check_sni(&c, cfg->tls_sni);
	check_folder(&c, cfg, "state_dir", cfg->state_dir, 0);
	check_folder(&c, cfg, "mail_dir", cfg->mail_dir, 1);
	(void)rmdir(c.tmpdir);
	if (c.problems > 0) {
		fprintf(stderr, "mailctl: check: %u problem%s\n", c.problems,
		    c.problems == 1 ? "" : "s");
		return MAILCTL_EX_CONFIG;
	}
	printf("%s: ok\n", cfg->path);
	return MAILCTL_EX_OK;
}
