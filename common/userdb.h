/*
 * NAME
 *	userdb.h - the users and aliases tables: who gets mail here
 *
 * DESCRIPTION
 *	Two text tables named by the config keys "users" and "aliases"
 *	(formats in etc/users and etc/aliases, and below) are compiled with
 *	TABLE_FOLD_KEYS into STATE_DIR/tables/users.cdb and
 *	STATE_DIR/tables/aliases.cdb, which every reader maps.
 *
 *	Password hashes. The users text holds each user's hash, but
 *	users.cdb does not: its values have "*" where the text has the
 *	hash, so smtpd, deliver and the rest read quota= and forward= from
 *	it without ever seeing a hash. The hashes go to a table of their
 *	own, STATE_DIR/auth/passwd.cdb (key: the address, value: the hash
 *	alone, "*" for an entry without one), mode 0600; when compiled by
 *	root it belongs to the account named by the config key user_auth
 *	(root if there is none), and so does STATE_DIR/auth (mode 0755).
 *	Only authd(8), and auth_login()'s stand-alone fallback, open it
 *	(userdb_open_passwd()). userdb_compile_users() compiles both from
 *	one users text (mailctl); userdb_open() compiles users.cdb alone,
 *	userdb_open_passwd() passwd.cdb alone, each when stale.
 *
 *	    users:    ADDRESS HASH [quota=SIZE] [forward=ADDR[,ADDR...]]
 *	    aliases:  ADDRESS TARGET[,TARGET...]      (blanks after commas ok)
 *	              @DOMAIN TARGET[,TARGET...]      (the domain's catch-all)
 *
 *	Keys are compared ignoring ASCII case; the canonical form of an
 *	address is the key folded to lower case. SIZE is bytes with an
 *	optional k, M, G or T suffix (1024 based); quota=0 means no quota.
 *
 *	Compiling. userdb_open() compiles a table when its cdb is missing or
 *	older (mtime) than the text, so a hand edit takes effect at the next
 *	open or refresh. table_compile() replaces the cdb atomically, so
 *	concurrent compiles by several readers are harmless. If compiling
 *	fails (no write access to STATE_DIR/tables, or an error in the text)
 *	and a cdb exists, the old cdb stays in use; without any cdb the open
 *	fails (temporary). A table whose key is unset in the config, or
 *	whose text file does not exist and was never compiled, is empty.
 *	mailctl(8) edits the text (temporary file, fsync, rename) and
 *	recompiles at once. userdb_refresh() does the same staleness check
 *	and reopens a recompiled cdb, so long-running readers pick changes
 *	up without a restart. STATE_DIR and STATE_DIR/tables are created
 *	(mode 0755) when missing. When run as root, users.cdb and
 *	aliases.cdb get the owner and group of their text file.
 *
 *	Resolving a recipient, userdb_resolve(), in this order; the first
 *	rule that matches wins:
 *
 *	 0. the domain must be one of the config's domains, and the local
 *	    part must pass userdb_local_ok() (no '/', '\', '@', control
 *	    character or NUL, no leading '.', no "..", 1-64 octets): an unsafe
 *	    local part matches nothing, not even a catch-all (SECURITY.md D1);
 *	 1. LOCAL@DOMAIN in aliases, then in users;
 *	 2. sub-addressing: for LOCAL = BASE+DETAIL (the first '+', BASE not
 *	    empty), BASE@DOMAIN in aliases, then in users; detail is DETAIL
 *	    (deliver files the message into folder ".DETAIL" when it exists);
 *	 3. postmaster (any case, also with +DETAIL) always exists, RFC 5321
 *	    4.5.1: postmaster@D of a domain D other than the first of the
 *	    config's domains is an implicit alias to postmaster@FIRST; and
 *	    postmaster@FIRST, when neither table names it, is an implicit
 *	    user with hash "*" (no login) and no quota, whose Maildir
 *	    MAIL_DIR/FIRST/postmaster/ deliver creates on first use. Name
 *	    postmaster@FIRST in either table to send it elsewhere;
 *	 4. the catch-all "@DOMAIN" in aliases;
 *	 5. otherwise no such address.
 *
 *	Mailboxes. A user's Maildir is MAIL_DIR/DOMAIN/LOCAL/ with DOMAIN and
 *	LOCAL taken from the user's canonical address (the users table key),
 *	never from the recipient as written. userdb_maildir_open() opens it
 *	from a descriptor of MAIL_DIR, one component at a time with
 *	O_NOFOLLOW (maildir_open() does the same for tmp/, new/, cur/), after
 *	checking both names (userdb_local_ok(); for DOMAIN the same rules up
 *	to 255 octets). With USERDB_MD_CREATE it makes what is missing:
 *	DOMAIN/ (mode 0700), the Maildir (0700) and the Maildir++ folders of
 *	userdb_default_folders (.Sent .Drafts .Trash .Junk .Archive; IMAP
 *	servers give them the SPECIAL-USE attribute of the same name); when
 *	run as root it gives them the owner and group of DOMAIN/ if that
 *	exists, else of MAIL_DIR (the mail owner). With USERDB_MD_OWNER the
 *	Maildir and its tmp/, new/ and cur/ must belong to the effective uid
 *	(EPERM otherwise: SECURITY.md D2).
 *
 *	userdb_user_lookup() on a handle from userdb_open_passwd() reads the
 *	password table: it fills address, local, domain and hash only.
 *
 *	userdb_resolve() and userdb_user_lookup() start by clearing their
 *	result, so userdb_result_free() / userdb_user_free() may be called
 *	after any return (failure included), and more than once.
 *
 * DIAGNOSTICS
 *	userdb_maildir_open: 0, or -1 with errno and *error_r: EINVAL a name
 *	that is not safe, ELOOP/ENOTDIR a link or file where a folder should
 *	be, EPERM a Maildir of another uid, others from the system calls.
 *	userdb_open: the handle, or NULL with errno and a reason in *error_r
 *	(temporary: the caller defers). userdb_rcpt_kind and userdb_resolve:
 *	-1 is temporary (I/O error, damaged cdb, or an entry that does not
 *	parse: EINVAL, fix the table). The parsers return -1/EINVAL with a
 *	static reason.
 *
 * SECURITY
 *	The tables are the operator's; lookup keys come from the network and
 *	are only ever cdb keys. The users text holds password hashes (keep
 *	it 0600; maild takes others' access away); users.cdb holds no hash
 *	and is always 0644, for every service; passwd.cdb is 0600, for
 *	authd alone.
 *	Nothing here builds a path from a local part; see deliver(8).
 */
#ifndef USERDB_H
#define USERDB_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "maildir.h"

#define USERDB_NONE	0
#define USERDB_USER	1
#define USERDB_ALIAS	2

/* How userdb_resolve() matched (struct userdb_result.via). */
#define USERDB_VIA_EXACT	0
#define USERDB_VIA_DETAIL	1	/* BASE of BASE+DETAIL */
#define USERDB_VIA_POSTMASTER	2	/* the implicit postmaster */
#define USERDB_VIA_CATCHALL	3	/* "@DOMAIN" */

#define USERDB_ADDR_MAX		(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX)
#define USERDB_HASH_MAX		512	/* octets in a crypt(3) hash */
#define USERDB_TARGETS_MAX	1000	/* targets of one alias */
#define USERDB_FORWARDS_MAX	100	/* forward= addresses of one user */
#define USERDB_DETAIL_SEP	'+'

#define USERDB_USERS		0	/* userdb_table_paths() which */
#define USERDB_ALIASES		1
#define USERDB_PASSWD		2	/* the users text, hashes only */

struct userdb;

/* A list of canonical addresses ("local@domain", domain lower case). */
struct userdb_list {
	char **v;
	size_t n;
};

struct userdb_user {
	char address[USERDB_ADDR_MAX + 1];	/* canonical, lower case */
	char local[ADDR_LOCAL_MAX + 1];		/* its local part */
	char domain[ADDR_DOMAIN_MAX + 1];	/* its domain */
	char hash[USERDB_HASH_MAX + 1];		/* crypt(3) hash, or "*" */
	uint64_t quota;				/* bytes; 0: no quota */
	struct userdb_list forwards;		/* forward= addresses */
	int implicit;				/* the implicit postmaster */
};

struct userdb_result {
	int kind;				/* USERDB_NONE/USER/ALIAS */
	int via;				/* USERDB_VIA_* */
	char key[USERDB_ADDR_MAX + 1];		/* the entry that matched */
	char detail[ADDR_LOCAL_MAX + 1];	/* DETAIL of BASE+DETAIL */
	struct userdb_user user;		/* kind USERDB_USER */
	struct userdb_list targets;		/* kind USERDB_ALIAS */
};

/* Opening and lookups; cfg must outlive the handle. */
struct userdb *userdb_open(const struct config *cfg, const char **error_r);
struct userdb *userdb_open_passwd(const struct config *cfg,
    const char **error_r);
int userdb_rcpt_kind(struct userdb *db, const char *local,
    const char *domain);
int userdb_resolve(struct userdb *db, const char *local, const char *domain,
    struct userdb_result *r, const char **error_r);
int userdb_user_lookup(struct userdb *db, const char *address,
    struct userdb_user *u, const char **error_r);
int userdb_refresh(struct userdb *db);
void userdb_close(struct userdb *db);
void userdb_result_free(struct userdb_result *r);
void userdb_user_free(struct userdb_user *u);

/* Mailboxes. */
#define USERDB_MD_CREATE	0x01	/* create what is missing */
#define USERDB_MD_OWNER		0x02	/* must belong to geteuid() */

extern const char *const userdb_default_folders[];	/* NULL ended */

int userdb_maildir_open(int mail_dir_fd, const struct userdb_user *u,
    int flags, struct maildir *md, const char **error_r);

/* Table files, and compiling them (mailctl). */
int userdb_table_paths(const struct config *cfg, int which,
    struct buf *text_r, struct buf *cdb_r);
int userdb_compile(const char *text_path, const char *cdb_path,
    struct buf *err);
int userdb_compile_users(const struct config *cfg, const char *text_path,
    struct buf *err);
void userdb_auth_owner(const struct config *cfg, uid_t *uid_r,
    gid_t *gid_r);

/* Parsers, shared with mailctl and the tests. */
int userdb_local_ok(const char *local);
int userdb_parse_user(const char *value, struct userdb_user *u,
    const char **error_r);
int userdb_parse_targets(const char *value, struct userdb_list *l,
    const char **error_r);
int userdb_parse_address(const char *s, size_t len, char *out, size_t size,
    const char **error_r);
void userdb_list_free(struct userdb_list *l);

#endif
