/*
 * test-userdb - users and aliases tables: parsing, resolving, compiling,
 * refreshing, and opening mailboxes safely
 *
 * Run with no argument it is a unit test. Run as
 *
 *	test-userdb --reader CONFIG
 *
 * it is a long-running reader for the integration tests: it opens the
 * tables once and answers one line per command read on stdin:
 * "rcpt LOCAL DOMAIN" (the kind: none, user, alias or -1), "refresh"
 * (userdb_refresh's result), "auth USER PASSWORD" (auth_password's
 * result), "quit".
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "maildir.h"
#include "str.h"
#include "table.h"
#include "test.h"
#include "userdb.h"

static char dir[] = "/tmp/test-userdb.XXXXXX";
static struct config cfg;

/* path - dir/name in a static buffer (two may be used at a time) */
static const char *
path(const char *name)
{
	static char p[2][512];
	static int which;

	which = !which;
	(void)snprintf(p[which], sizeof(p[which]), "%s/%s", dir, name);
	return p[which];
}

/* write_file - make dir/name hold text */
static int
write_file(const char *name, const char *text)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	(void)close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* bump - set dir/name's mtime to now + secs (secs < 0: an older file) */
static void
bump(const char *name, int secs)
{
	struct timespec ts[2];

	(void)clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec += secs;
	ts[1] = ts[0];
	(void)utimensat(AT_FDCWD, path(name), ts, 0);
}

/* load_config - the test config (users and aliases in dir) */
static int
load_config(const char *extra)
{
	struct buf text = BUF_INIT(4096), err = BUF_INIT(1024);
	int r;

	(void)buf_printf(&text, "hostname = mx.truc.test\n"
	    "domains = truc.test other.test\n"
	    "mail_dir = mail\nlog = stderr\n%s%s", extra,
	    strstr(extra, "state_dir") == NULL ? "state_dir = state\n" : "");
	r = write_file("mailstack.conf", buf_cstr(&text));
	config_free(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	if (r == 0)
		r = config_load(path("mailstack.conf"), &cfg, &err);
	if (r < 0)
		printf("  config: %s\n", buf_cstr(&err));
	buf_free(&text);
	buf_free(&err);
	return r;
}

/* kind_of - userdb_rcpt_kind for "local@domain" */
static int
kind_of(struct userdb *db, const char *local, const char *domain)
{
	return userdb_rcpt_kind(db, local, domain);
}

static void
test_local_ok(void)
{
	TEST_BEGIN("userdb: local parts safe as names (D1)");
	TEST_ASSERT(userdb_local_ok("fred"));
	TEST_ASSERT(userdb_local_ok("fred.smith"));
	TEST_ASSERT(userdb_local_ok("fred+tag"));
	TEST_ASSERT(userdb_local_ok("\xc3\xa9lodie"));
	TEST_ASSERT(!userdb_local_ok(""));
	TEST_ASSERT(!userdb_local_ok("."));
	TEST_ASSERT(!userdb_local_ok(".."));
	TEST_ASSERT(!userdb_local_ok(".hidden"));
	TEST_ASSERT(!userdb_local_ok("../../etc/x"));
	TEST_ASSERT(!userdb_local_ok("a/b"));
	TEST_ASSERT(!userdb_local_ok("a..b"));
	TEST_ASSERT(!userdb_local_ok("a\\b"));
	TEST_ASSERT(!userdb_local_ok("a@b"));
	TEST_ASSERT(!userdb_local_ok("a\x01" "b"));
	TEST_ASSERT(!userdb_local_ok("a\x7f"));
	TEST_ASSERT(!userdb_local_ok("a\nb"));
	TEST_ASSERT(userdb_local_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));		/* 64 */
	TEST_ASSERT(!userdb_local_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));	/* 65 */
	TEST_END();
}

static void
test_parse_user(void)
{
	struct userdb_user u;
	const char *why;

	TEST_BEGIN("userdb: users entries parse, bad ones are refused");
	TEST_ASSERT_INT(userdb_parse_user("$y$j9T$salt$hash", &u, &why), 0);
	TEST_ASSERT_STR(u.hash, "$y$j9T$salt$hash");
	TEST_ASSERT_INT(u.quota, 0);
	TEST_ASSERT_INT(u.forwards.n, 0);
	userdb_user_free(&u);
	TEST_ASSERT_INT(userdb_parse_user("*  quota=10M\tforward=a@b.test,"
	    "C@D.TEST", &u, &why), 0);
	TEST_ASSERT_STR(u.hash, "*");
	TEST_ASSERT_INT(u.quota, 10 * 1024 * 1024);
	TEST_ASSERT_INT(u.forwards.n, 2);
	if (u.forwards.n == 2) {
		TEST_ASSERT_STR(u.forwards.v[0], "a@b.test");
		TEST_ASSERT_STR(u.forwards.v[1], "C@d.test");
	}
	userdb_user_free(&u);
	TEST_ASSERT_INT(userdb_parse_user("forward=a@b.test quota=1k", &u,
	    &why), 0);	/* the hash is whatever comes first */
	userdb_user_free(&u);
	TEST_ASSERT_INT(userdb_parse_user("", &u, &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h quota=10X", &u, &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h quota=", &u, &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h quota=1 quota=2", &u, &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h color=red", &u, &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h forward=nodomain", &u, &why),
	    -1);
	TEST_ASSERT_INT(userdb_parse_user("h forward=a@b.test,,c@d.test", &u,
	    &why), -1);
	TEST_ASSERT_INT(userdb_parse_user("h quota=1 forward=a@b.test x", &u,
	    &why), -1);
	TEST_END();
}

static void
test_parse_targets(void)
{
	struct userdb_list l;
	char out[USERDB_ADDR_MAX + 1];
	const char *why;

	TEST_BEGIN("userdb: alias targets parse to canonical addresses");
	TEST_ASSERT_INT(userdb_parse_targets("a@b.test", &l, &why), 0);
	TEST_ASSERT_INT(l.n, 1);
	userdb_list_free(&l);
	TEST_ASSERT_INT(userdb_parse_targets(" Fred@Truc.Test ,\tx@Y.test ",
	    &l, &why), 0);
	TEST_ASSERT_INT(l.n, 2);
	if (l.n == 2) {
		TEST_ASSERT_STR(l.v[0], "Fred@truc.test");
		TEST_ASSERT_STR(l.v[1], "x@y.test");
	}
	userdb_list_free(&l);
	TEST_ASSERT_INT(userdb_parse_targets("", &l, &why), -1);
	TEST_ASSERT_INT(userdb_parse_targets("a@b.test,", &l, &why), -1);
	TEST_ASSERT_INT(userdb_parse_targets("<a@b.test>", &l, &why), -1);
	TEST_ASSERT_INT(userdb_parse_targets("a b@c.test", &l, &why), -1);
	TEST_ASSERT_INT(userdb_parse_targets("postmaster", &l, &why), -1);
	TEST_ASSERT_INT(userdb_parse_address("\"a\"@b.test", 10, out,
	    sizeof(out), &why), 0);
	TEST_ASSERT_STR(out, "a@b.test");
	TEST_END();
}

/* setup_tables - users and aliases texts for the resolve tests */
static int
setup_tables(void)
{
	return write_file("users",
	    "# users\n"
	    "fred@truc.test $y$j9T$x$y quota=1M forward=f@else.test\n"
	    "Bob@Truc.Test *\n"
	    "carol@other.test $6$salt$hash\n") < 0 ||
	    write_file("aliases",
	    "team@truc.test fred@truc.test, bob@truc.test, x@remote.test\n"
	    "@other.test fred@truc.test\n") < 0 ||
	    load_config("users = users\naliases = aliases\n") < 0 ? -1 : 0;
}

static void
test_resolve(void)
{
	struct userdb_result r;
	struct userdb_user u;
	struct userdb *db;
	const char *why;
	struct stat st;

	TEST_BEGIN("userdb: open compiles the tables into state/tables");
	TEST_ASSERT_INT(setup_tables(), 0);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db != NULL);
	TEST_ASSERT_INT(stat(path("state/tables/users.cdb"), &st), 0);
	TEST_ASSERT_INT(stat(path("state/tables/aliases.cdb"), &st), 0);
	TEST_END();
	if (db == NULL)
		return;

	TEST_BEGIN("userdb: exact users and aliases, any case");
	TEST_ASSERT_INT(kind_of(db, "fred", "truc.test"), USERDB_USER);
	TEST_ASSERT_INT(kind_of(db, "FRED", "Truc.TEST"), USERDB_USER);
	TEST_ASSERT_INT(kind_of(db, "bob", "truc.test"), USERDB_USER);
	TEST_ASSERT_INT(kind_of(db, "team", "truc.test"), USERDB_ALIAS);
	TEST_ASSERT_INT(kind_of(db, "nobody", "truc.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "fred", "else.test"), USERDB_NONE);
	TEST_ASSERT_INT(userdb_resolve(db, "FRED", "truc.test", &r, &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_USER);
	TEST_ASSERT_INT(r.via, USERDB_VIA_EXACT);
	TEST_ASSERT_STR(r.user.address, "fred@truc.test");
	TEST_ASSERT_STR(r.user.local, "fred");
	TEST_ASSERT_STR(r.user.domain, "truc.test");
	TEST_ASSERT_INT(r.user.quota, 1024 * 1024);
	TEST_ASSERT_INT(r.user.forwards.n, 1);
	userdb_result_free(&r);
	TEST_ASSERT_INT(userdb_resolve(db, "team", "truc.test", &r, &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_ALIAS);
	TEST_ASSERT_INT(r.targets.n, 3);
	TEST_ASSERT_STR(r.key, "team@truc.test");
	userdb_result_free(&r);
	TEST_END();

	TEST_BEGIN("userdb: +detail sub-addressing");
	TEST_ASSERT_INT(userdb_resolve(db, "fred+News", "truc.test", &r,
	    &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_USER);
	TEST_ASSERT_INT(r.via, USERDB_VIA_DETAIL);
	TEST_ASSERT_STR(r.detail, "News");
	TEST_ASSERT_STR(r.user.address, "fred@truc.test");
	userdb_result_free(&r);
	TEST_ASSERT_INT(userdb_resolve(db, "fred+", "truc.test", &r, &why),
	    0);
	TEST_ASSERT_INT(r.kind, USERDB_USER);
	TEST_ASSERT_STR(r.detail, "");
	userdb_result_free(&r);
	TEST_ASSERT_INT(kind_of(db, "team+x", "truc.test"), USERDB_ALIAS);
	TEST_ASSERT_INT(kind_of(db, "+fred", "truc.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "nobody+x", "truc.test"), USERDB_NONE);
	TEST_END();

	TEST_BEGIN("userdb: postmaster always exists (RFC 5321 4.5.1)");
	TEST_ASSERT_INT(userdb_resolve(db, "PostMaster", "truc.test", &r,
	    &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_USER);
	TEST_ASSERT_INT(r.via, USERDB_VIA_POSTMASTER);
	TEST_ASSERT(r.user.implicit);
	TEST_ASSERT_STR(r.user.hash, "*");
	TEST_ASSERT_STR(r.user.address, "postmaster@truc.test");
	userdb_result_free(&r);
	TEST_ASSERT_INT(userdb_resolve(db, "postmaster", "other.test", &r,
	    &why), 0);	/* before the catch-all */
	TEST_ASSERT_INT(r.kind, USERDB_ALIAS);
	TEST_ASSERT_INT(r.via, USERDB_VIA_POSTMASTER);
	TEST_ASSERT_INT(r.targets.n, 1);
	if (r.targets.n == 1)
		TEST_ASSERT_STR(r.targets.v[0], "postmaster@truc.test");
	userdb_result_free(&r);
	TEST_ASSERT_INT(userdb_resolve(db, "postmaster+x", "truc.test", &r,
	    &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_USER);
	TEST_ASSERT_STR(r.detail, "x");
	userdb_result_free(&r);
	TEST_END();

	TEST_BEGIN("userdb: the catch-all, and never for an unsafe local part");
	TEST_ASSERT_INT(userdb_resolve(db, "anything", "other.test", &r,
	    &why), 0);
	TEST_ASSERT_INT(r.kind, USERDB_ALIAS);
	TEST_ASSERT_INT(r.via, USERDB_VIA_CATCHALL);
	TEST_ASSERT_STR(r.key, "@other.test");
	userdb_result_free(&r);
	TEST_ASSERT_INT(kind_of(db, "carol", "other.test"), USERDB_USER);
	TEST_ASSERT_INT(kind_of(db, "a/b", "other.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "../../etc/x", "other.test"),
	    USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, ".hidden", "other.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "a\x01", "other.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "u+../../x", "truc.test"), USERDB_NONE);
	TEST_ASSERT_INT(kind_of(db, "", "other.test"), USERDB_NONE);
	TEST_END();

	TEST_BEGIN("userdb: login lookups take exact users only");
	TEST_ASSERT_INT(userdb_user_lookup(db, "FRED@truc.test", &u, &why), 1);
	TEST_ASSERT_STR(u.hash, "*");	/* users.cdb holds no hash */
	userdb_user_free(&u);
	{
		struct userdb *pw = userdb_open_passwd(&cfg, &why);
		struct stat pst;

		TEST_ASSERT(pw != NULL);
		if (pw != NULL) {
			TEST_ASSERT_INT(userdb_user_lookup(pw,
			    "FRED@truc.test", &u, &why), 1);
			TEST_ASSERT_STR(u.hash, "$y$j9T$x$y");
			TEST_ASSERT_STR(u.address, "fred@truc.test");
			userdb_user_free(&u);
			TEST_ASSERT_INT(userdb_user_lookup(pw,
			    "fred+x@truc.test", &u, &why), 0);
			TEST_ASSERT_INT(userdb_user_lookup(pw,
			    "team@truc.test", &u, &why), 0);
		}
		userdb_close(pw);
		TEST_ASSERT_INT(stat(path("state/auth/passwd.cdb"), &pst), 0);
		TEST_ASSERT_INT(pst.st_mode & 07777, 0600);
	}
	TEST_ASSERT_INT(userdb_user_lookup(db, "fred+x@truc.test", &u, &why),
	    0);
	TEST_ASSERT_INT(userdb_user_lookup(db, "team@truc.test", &u, &why), 0);
	TEST_ASSERT_INT(userdb_user_lookup(db, "postmaster@truc.test", &u,
	    &why), 0);
	TEST_ASSERT_INT(userdb_user_lookup(db, "fred", &u, &why), 0);
	TEST_ASSERT_INT(userdb_user_lookup(db, "fred@else.test", &u, &why), 0);
	TEST_END();

	TEST_BEGIN("userdb: a hand edit is compiled and seen by refresh");
	TEST_ASSERT_INT(userdb_refresh(db), 0);
	TEST_ASSERT_INT(write_file("users", "dave@truc.test *\n"), 0);
	bump("state/tables/users.cdb", -20);
	TEST_ASSERT_INT(userdb_refresh(db), 1);
	TEST_ASSERT_INT(kind_of(db, "dave", "truc.test"), USERDB_USER);
	TEST_ASSERT_INT(kind_of(db, "fred", "truc.test"), USERDB_NONE);
	TEST_ASSERT_INT(userdb_refresh(db), 0);
	TEST_END();

	TEST_BEGIN("userdb: a broken edit keeps the old table in use");
	TEST_ASSERT_INT(write_file("users", "dave@truc.test *\n"
	    "dave@truc.test *\n"), 0);
	bump("state/tables/users.cdb", -40);
	TEST_ASSERT(userdb_refresh(db) >= 0);
	TEST_ASSERT_INT(kind_of(db, "dave", "truc.test"), USERDB_USER);
	userdb_close(db);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db != NULL);	/* the old cdb stays */
	if (db != NULL)
		TEST_ASSERT_INT(kind_of(db, "dave", "truc.test"), USERDB_USER);
	userdb_close(db);
	TEST_END();

	TEST_BEGIN("userdb: a broken table with no cdb cannot be opened");
	TEST_ASSERT_INT(unlink(path("state/tables/users.cdb")), 0);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db == NULL);
	userdb_close(db);
	TEST_END();

	TEST_BEGIN("userdb: a bad entry is a temporary failure, not a bounce");
	TEST_ASSERT_INT(write_file("users", "eve@truc.test h quota=lots\n"), 0);
	bump("state/tables/users.cdb", -60);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db != NULL);
	if (db != NULL) {
		TEST_ASSERT_INT(kind_of(db, "eve", "truc.test"), -1);
		TEST_ASSERT_INT(kind_of(db, "nobody", "truc.test"),
		    USERDB_NONE);
	}
	userdb_close(db);
	TEST_END();
}

static void
test_missing_tables(void)
{
	struct userdb *db;
	const char *why;

	TEST_BEGIN("userdb: unset or never written tables are empty");
	TEST_ASSERT_INT(load_config(""), 0);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db != NULL);
	if (db != NULL) {
		TEST_ASSERT_INT(kind_of(db, "fred", "truc.test"),
		    USERDB_NONE);
		TEST_ASSERT_INT(kind_of(db, "postmaster", "truc.test"),
		    USERDB_USER);
		TEST_ASSERT_INT(userdb_refresh(db), 0);
	}
	userdb_close(db);
	TEST_ASSERT_INT(load_config("users = nousers\naliases = noaliases\n"
	    "state_dir = state2\n"), 0);
	db = userdb_open(&cfg, &why);
	TEST_ASSERT(db != NULL);
	if (db != NULL) {
		TEST_ASSERT_INT(kind_of(db, "fred", "truc.test"),
		    USERDB_NONE);
		/* the text appears later: refresh compiles and opens it */
		TEST_ASSERT_INT(write_file("nousers", "fred@truc.test *\n"),
		    0);
		TEST_ASSERT_INT(userdb_refresh(db), 1);
		TEST_ASSERT_INT(kind_of(db, "fred", "truc.test"),
		    USERDB_USER);
	}
	userdb_close(db);
	TEST_END();
}

static void
test_maildir_open(void)
{
	struct userdb_user u;
	struct maildir md;
	const char *why;
	struct stat st;
	int fd, i;

	memset(&u, 0, sizeof(u));
	(void)mkdir(path("mail"), 0755);
	fd = open(path("mail"), O_RDONLY | O_DIRECTORY);

	TEST_BEGIN("userdb: a mailbox is created with its Maildir++ folders");
	(void)snprintf(u.local, sizeof(u.local), "fred");
	(void)snprintf(u.domain, sizeof(u.domain), "truc.test");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, 0, &md, &why), -1);
	TEST_ASSERT_INT(errno, ENOENT);
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE |
	    USERDB_MD_OWNER, &md, &why), 0);
	maildir_close(&md);
	for (i = 0; userdb_default_folders[i] != NULL; i++) {
		char p[256];

		(void)snprintf(p, sizeof(p), "mail/truc.test/fred/%s/"
		    "maildirfolder", userdb_default_folders[i]);
		TEST_ASSERT_INT(stat(path(p), &st), 0);
	}
	TEST_ASSERT_INT(stat(path("mail/truc.test/fred/new"), &st), 0);
	TEST_ASSERT_INT(st.st_mode & 0777, 0700);
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_OWNER, &md,
	    &why), 0);
	maildir_close(&md);
	TEST_END();

	TEST_BEGIN("userdb: unsafe mailbox names are refused (D1)");
	(void)snprintf(u.local, sizeof(u.local), "..");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md,
	    &why), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	(void)snprintf(u.local, sizeof(u.local), "a/b");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md,
	    &why), -1);
	(void)snprintf(u.local, sizeof(u.local), "fred");
	(void)snprintf(u.domain, sizeof(u.domain), "../x");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md,
	    &why), -1);
	TEST_ASSERT_INT(errno, EINVAL);
	TEST_END();

	TEST_BEGIN("userdb: a symlinked domain or Maildir is refused (D2)");
	(void)mkdir(path("elsewhere"), 0755);
	TEST_ASSERT_INT(symlink(path("elsewhere"), path("mail/evil.test")), 0);
	(void)snprintf(u.domain, sizeof(u.domain), "evil.test");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md,
	    &why), -1);
	TEST_ASSERT(errno == ELOOP || errno == ENOTDIR);
	TEST_ASSERT_INT(symlink(path("elsewhere"),
	    path("mail/truc.test/link")), 0);
	(void)snprintf(u.domain, sizeof(u.domain), "truc.test");
	(void)snprintf(u.local, sizeof(u.local), "link");
	TEST_ASSERT_INT(userdb_maildir_open(fd, &u, USERDB_MD_CREATE, &md,
	    &why), -1);
	TEST_ASSERT(errno == ELOOP || errno == ENOTDIR);
	TEST_ASSERT_INT(stat(path("elsewhere/tmp"), &st), -1);
	TEST_END();
	(void)close(fd);
}

/* rm_one - nftw callback: remove one entry */
static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* rm_tree - remove the test folder */
static void
rm_tree(const char *top)
{
	if (nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		printf("cannot remove %s: %s\n", top, strerror(errno));
}

/* reader - the --reader mode for the integration tests */
static int
reader(const char *conf)
{
	struct buf err = BUF_INIT(1024);
	struct userdb *db;
	const char *why;
	char line[2048];

	if (config_load(conf, &cfg, &err) < 0) {
		fprintf(stderr, "test-userdb: %s\n", buf_cstr(&err));
		return 1;
	}
	if ((db = userdb_open(&cfg, &why)) == NULL) {
		fprintf(stderr, "test-userdb: %s\n", why);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *f[4];
		int n;

		line[strcspn(line, "\n")] = '\0';
		n = str_split_ws(line, f, 4);
		if (n == 3 && strcmp(f[0], "rcpt") == 0) {
			int k = userdb_rcpt_kind(db, f[1], f[2]);

			printf("%s\n", k == USERDB_USER ? "user" :
			    k == USERDB_ALIAS ? "alias" : k == 0 ? "none" :
			    "-1");
		} else if (n == 1 && strcmp(f[0], "refresh") == 0)
			printf("%d\n", userdb_refresh(db));
		else if (n == 3 && strcmp(f[0], "auth") == 0)
			printf("%d\n", auth_password(&cfg, f[1], f[2],
			    strlen(f[2]), "127.0.0.1", &why));
		else if (n == 1 && strcmp(f[0], "quit") == 0)
			break;
		else
			printf("?\n");
	}
	userdb_close(db);
	config_free(&cfg);
	buf_free(&err);
	return 0;
}

int
main(int argc, char **argv)
{
	int r;

	if (argc == 3 && strcmp(argv[1], "--reader") == 0)
		return reader(argv[2]);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_local_ok();
	test_parse_user();
	test_parse_targets();
	test_resolve();
	test_missing_tables();
	test_maildir_open();
	config_free(&cfg);
	r = test_summary("test-userdb");
	rm_tree(dir);
	return r;
}
