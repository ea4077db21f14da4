/*
 * NAME
 *	deliver-expand - a recipient to mailboxes and remote addresses
 *
 * SYNOPSIS
 *	int expand(struct ctx *c, const char *local, const char *domain,
 *	    struct expansion *x, struct result *res);
 *	void expansion_free(struct expansion *x);
 *
 * DESCRIPTION
 *	expand() resolves the recipient with userdb_resolve() and follows
 *	aliases depth first, collecting the targets in x: T_MAILBOX for a
 *	user (with the +DETAIL it was reached with), T_REMOTE for an address
 *	outside the local domains. Nothing is written yet, so any failure
 *	here leaves no trace. The rules:
 *
 *	- the recipient itself must exist (else 5.1.1, exit 67);
 *	- an alias target in a local domain that does not exist is skipped
 *	  and logged (a stale list member does not bounce the whole list);
 *	  if nothing else remains, 5.1.1;
 *	- an alias reached again below itself is a loop: 5.4.6 for the whole
 *	  recipient, nothing delivered (one bounce, at once); an alias
 *	  reached twice by different paths is expanded once, and a mailbox or
 *	  remote address reached twice gets one copy;
 *	- more than DELIVER_ALIAS_DEPTH levels: 5.4.6; more than
 *	  DELIVER_TARGETS_MAX targets or DELIVER_LOOKUPS_MAX lookups: 5.5.3;
 *	- a target (alias or user) whose address the message already names
 *	  in a Delivered-To: field has had this message: it is skipped; if
 *	  every target is skipped so, 5.4.6 (a forwarding loop);
 *	- a table that cannot be read, or an entry that does not parse:
 *	  4.3.0 (the operator fixes the table; nothing bounces meanwhile).
 *
 * DIAGNOSTICS
 *	0 with the targets in x, or -1 with the status in res.
 *
 * SECURITY
 *	Only table lookups; addresses are compared, never used as paths.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "alloc.h"
#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "str.h"
#include "userdb.h"

/* log_skip - one line about a target left out */
static void
log_skip(struct ctx *c, const char *what, const char *addr, const char *via)
{
	struct buf b = BUF_INIT(LOG_LINE_MAX);

	(void)log_kv_str(&b, "qid", c->qid);
	(void)log_kv_str(&b, "step", "5");
	(void)log_kv_str(&b, "to", c->rcpt);
	(void)log_kv_str(&b, "event", what);
	(void)log_kv_str(&b, "target", addr);
	(void)log_kv_str(&b, "via", via);
	log_event(LOG_WARNING, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* seen_before - 1 if the list holds addr (case ignored) */
static int
seen_before(const struct userdb_list *l, const char *addr)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (str_eq_nocase(l->v[i], addr))
			return 1;
	return 0;
}

/* add_target - append a target unless an equal one is there; 1 if added */
static int
add_target(struct expansion *x, enum target_kind kind, const char *addr,
    const struct userdb_user *u, const char *detail, struct result *res)
{
	struct target *t;
	size_t i;

	for (i = 0; i < x->n; i++) {
		t = &x->v[i];
		if (t->kind != kind)
			continue;
		if (kind == T_REMOTE && str_eq_nocase(t->addr, addr))
			return 0;
		if (kind == T_MAILBOX && strcmp(t->user.address,
		    u->address) == 0 && str_eq_nocase(t->detail, detail))
			return 0;
	}
	if (x->n >= DELIVER_TARGETS_MAX) {
		result_set(res, DS_DATAERR,
		    "5.5.3 too many recipients after alias expansion");
		return -1;
	}
	if (x->n == x->cap) {
		x->cap = x->cap == 0 ? 16 : x->cap * 2;
		x->v = alloc_reallocarray(x->v, x->cap, sizeof(*x->v));
	}
	t = &x->v[x->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->addr = alloc_strdup(addr);
	if (kind == T_MAILBOX) {
		t->user = *u;	/* its forwards list now belongs to t */
		(void)str_copy(t->detail, sizeof(t->detail), detail);
	}
	return 1;
}

/* split - "local@domain" at its last '@' into the two arrays */
static int
split(const char *addr, char *local, size_t lsize, char *domain,
    size_t dsize)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL || str_copy_n(local, lsize, addr,
	    (size_t)(at - addr)) < 0 || str_copy(domain, dsize, at + 1) < 0)
		return -1;
	return 0;
}

/* walk - expand one address found at depth below the aliases in path */
static int
walk(struct ctx *c, struct expansion *x, const char *local,
    const char *domain, const char *addr, size_t depth, char **path,
    struct result *res)
{
	struct userdb_result r;
	const char *why = "cannot read the users or aliases table";
	char l[ADDR_LOCAL_MAX + 1], d[ADDR_DOMAIN_MAX + 1];
	size_t i;
	int rc = 0;

	if (++x->lookups > DELIVER_LOOKUPS_MAX) {
		result_set(res, DS_DATAERR,
		    "5.5.3 too many recipients after alias expansion");
		return -1;
	}
	if (userdb_resolve(c->db, local, domain, &r, &why) < 0) {
		result_set(res, DS_TEMP, "4.3.0 %s", why);
		return -1;
	}
	if (r.kind == USERDB_NONE) {
		if (depth == 0) {
			result_set(res, DS_NOUSER, "5.1.1 no such user: %s",
			    c->rcpt);
			return -1;
		}
		x->missing++;
		log_skip(c, "alias-target-missing", addr, path[depth - 1]);
		return 0;
	}
	for (i = 0; i < depth; i++)
		if (str_eq_nocase(path[i], r.key)) {
			result_set(res, DS_DATAERR,
			    "5.4.6 alias loop for %s (through %s)", c->rcpt,
			    r.key);
			userdb_result_free(&r);
			return -1;
		}
	if (hdrscan_has(&c->hdr, r.key) || hdrscan_has(&c->hdr, addr)) {
		x->pruned++;
		log_skip(c, "already-delivered", r.key,
		    depth > 0 ? path[depth - 1] : c->rcpt);
		userdb_result_free(&r);
		return 0;
	}
	if (r.kind == USERDB_USER) {
		rc = add_target(x, T_MAILBOX, addr, &r.user, r.detail, res);
		if (rc > 0) {	/* the target took the forwards list */
			r.user.forwards.v = NULL;
			r.user.forwards.n = 0;
			rc = 0;
		}
		userdb_result_free(&r);
		return rc;
	}
	/* an alias */
	if (seen_before(&x->seen, r.key)) {
		userdb_result_free(&r);
		return 0;
	}
	if (depth + 1 > DELIVER_ALIAS_DEPTH) {
		result_set(res, DS_DATAERR,
		    "5.4.6 aliases nested more than %d deep for %s",
		    DELIVER_ALIAS_DEPTH, c->rcpt);
		userdb_result_free(&r);
		return -1;
	}
	x->seen.v = alloc_reallocarray(x->seen.v, x->seen.n + 1,
	    sizeof(*x->seen.v));
	x->seen.v[x->seen.n++] = alloc_strdup(r.key);
	path[depth] = x->seen.v[x->seen.n - 1];
	for (i = 0; i < r.targets.n && rc == 0; i++) {
		const char *t = r.targets.v[i];

		if (split(t, l, sizeof(l), d, sizeof(d)) < 0) {
			result_set(res, DS_TEMP,
			    "4.3.0 bad target in the aliases table");
			rc = -1;
		} else if (!config_is_local_domain(&c->cfg, d))
			rc = add_target(x, T_REMOTE, t, NULL, "", res) < 0 ?
			    -1 : 0;
		else
			rc = walk(c, x, l, d, t, depth + 1, path, res);
	}
	userdb_result_free(&r);
	return rc;
}

/* expand - the recipient's mailboxes and remote addresses */
int
expand(struct ctx *c, const char *local, const char *domain,
    struct expansion *x, struct result *res)
{
	char *path[DELIVER_ALIAS_DEPTH + 1];

	memset(x, 0, sizeof(*x));
	if (walk(c, x, local, domain, c->rcpt, 0, path, res) < 0)
		return -1;
	if (x->n > 0)
		return 0;
	if (x->pruned > 0)
		result_set(res, DS_DATAERR,
		    "5.4.6 mail forwarding loop for %s", c->rcpt);
	else
		result_set(res, DS_NOUSER,
		    "5.1.1 no such user: %s (no alias target exists)",
		    c->rcpt);
	return -1;
}

/* expansion_free - release the targets */
void
expansion_free(struct expansion *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free(x->v[i].addr);
		userdb_user_free(&x->v[i].user);
	}
	free(x->v);
	userdb_list_free(&x->seen);
	memset(x, 0, sizeof(*x));
}
