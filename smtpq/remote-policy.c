/*
 * NAME
 *	remote-policy - the per-destination TLS policy of remote(8)
 *
 * SYNOPSIS
 *	int policy_lookup(struct job *j, const char *key,
 *	    enum tls_level *level_r, const char **error_r);
 *	int policy_parse(const char *value, size_t len,
 *	    enum tls_level *level_r);
 *	const char *policy_name(enum tls_level level);
 *	SSL_CTX *policy_ctx(struct job *j, int verify, const char **error_r);
 *
 * DESCRIPTION
 *	The table named by the config key tls_policy holds lines
 *
 *	    DOMAIN POLICY
 *
 *	DOMAIN is a domain, or ".PARENT" for every domain below PARENT (see
 *	route_table_lookup()); POLICY is one word:
 *
 *	    none	never STARTTLS, even when offered
 *	    may		STARTTLS whenever the server offers it; the
 *			certificate is not checked (RFC 7435 opportunistic
 *			TLS). The default for every destination.
 *	    encrypt	TLS is required, the certificate is not checked;
 *			without TLS nothing is sent (4.7.4 / 4.7.5)
 *	    require	TLS is required and the server's certificate must
 *			chain to remote_tls_ca_file (or the system's trust
 *			store) and name the host connected to (the MX host
 *			name, or the transport/relayhost name or address)
 *
 *	The table is compiled to STATE_DIR/tables/tls_policy.cdb when its
 *	text is newer (route_table_open()). A word that is not one of these
 *	is an error, never a silent "may": DANE and MTA-STS will be new words
 *	here, and an older remote must not downgrade a policy it does not
 *	know.
 *
 *	policy_lookup() looks key (a recipient domain, or a next hop's host
 *	name) up; policy_ctx() gives the client SSL_CTX for unverified
 *	(verify 0) or verified (verify 1) TLS, made once per run.
 *
 * DIAGNOSTICS
 *	policy_lookup: 1 found, 0 not found, -1 with a static reason (the
 *	table cannot be read, or an entry is not a policy word): the caller
 *	defers with 4.3.5. policy_parse: 0, or -1/EINVAL. policy_ctx: NULL
 *	with a reason (a CA file that cannot be loaded).
 *
 * SECURITY
 *	No privileges. The table and the CA file are the operator's.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "remote.h"
#include "str.h"
#include "table.h"
#include "tls.h"

static struct table *policy_table;
static int policy_opened;

static const char *const names[] = { "none", "may", "encrypt", "require" };

/* policy_name - the word for a level */
const char *
policy_name(enum tls_level level)
{
	if ((unsigned)level < sizeof(names) / sizeof(names[0]))
		return names[level];
	return "?";
}

/* policy_parse - one policy word, blanks around it allowed */
int
policy_parse(const char *value, size_t len, enum tls_level *level_r)
{
	size_t i, s = 0, e = len;

	while (s < e && (value[s] == ' ' || value[s] == '\t'))
		s++;
	while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
		e--;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == e - s &&
		    str_eq_nocase_n(value + s, names[i], e - s)) {
			*level_r = (enum tls_level)i;
			return 0;
		}
	errno = EINVAL;
	return -1;
}

/* policy_lookup - the policy for key (a domain or host); 1, 0 or -1 */
int
policy_lookup(struct job *j, const char *key, enum tls_level *level_r,
    const char **error_r)
{
	struct buf value = BUF_INIT(TABLE_LINE_MAX);
	int r;

	if (!policy_opened) {
		policy_opened = 1;
		if (route_table_open(j->cfg, j->set.tls_policy, "tls_policy",
		    &policy_table, error_r) < 0) {
			policy_opened = 0;
			return -1;
		}
	}
	r = route_table_lookup(policy_table, key, &value);
	if (r < 0) {
		*error_r = "cannot read the tls_policy table";
	} else if (r > 0 && policy_parse(value.data, value.len, level_r) < 0) {
		*error_r = "bad tls_policy entry (none, may, encrypt, require)";
		r = -1;
	}
	buf_free(&value);
	return r;
}

/* policy_ctx - the client TLS context, unverified or verified */
SSL_CTX *
policy_ctx(struct job *j, int verify, const char **error_r)
{
	verify = verify != 0;
	if (j->ctx[verify] == NULL)
		j->ctx[verify] = tls_client_ctx_new(verify,
		    verify ? j->set.tls_ca_file : NULL, error_r);
	return j->ctx[verify];
}
