/*
 * NAME
 *	config - the mailstack.conf reader
 *
 * SYNOPSIS
 *	int config_load(const char *path, struct config *cfg,
 *	    struct buf *err);
 *	void config_free(struct config *cfg);
 *	int config_is_local_domain(const struct config *cfg,
 *	    const char *domain);
 *	const struct config_listen *config_listener(const struct config *cfg,
 *	    size_t i, const char **key_r);
 *
 * DESCRIPTION
 *	The file is a list of lines, each one of:
 *
 *	    key = value		an assignment
 *	    # text		a comment (the first non-blank octet is '#')
 *				a blank line
 *
 *	Blanks (spaces, tabs) around the key, around '=' and at the ends of
 *	the value are dropped. In a value, a '#' that follows a blank (or
 *	comes first) starts a trailing comment: "log = syslog # default".
 *	A '#' with no blank before it belongs to the value ("a#b"). A CR
 *	before the LF is dropped, so files saved with CRLF load. A line is
 *	at most CONFIG_LINE_MAX octets, LF not counted; a file at most
 *	CONFIG_FILE_MAX. Keys are lower case and matched exactly.
 *
 *	Every key is one row of the keys[] table below: its name, its value
 *	type, where it lives in struct config, flags (required, may be left
 *	empty, needs TLS) and its default as text. Adding a key is one row
 *	in keys[] and one field in struct config. Value types:
 *
 *	    hostname	a DNS name: labels of letters, digits and '-',
 *			1-63 octets each, at most 253 in all, no trailing
 *			dot, the last label not all digits; lower-cased
 *	    domains	a list of such names separated by blanks; each once
 *	    path	a file or folder; relative to the config file's folder
 *	    log		"syslog", "stderr" or a path
 *	    listen	IPV4:PORT or [IPV6]:PORT, an address literal
 *			(0.0.0.0 or [::] for every address; "*" and host
 *			names are refused) and a port 1-65535
 *	    hostport	HOST[:PORT] or [HOST][:PORT]: a name or an address
 *			literal (IPv6 in brackets), port 25 if left out
 *	    servers	a list of IPV4[:PORT], IPV6, [IPV6][:PORT]; port 53
 *	    cidrs	a list of networks, see cidr(3)
 *	    size	bytes: digits with an optional suffix k, M or G
 *			(1024-based, either case), 1 to CONFIG_SIZE_MAX
 *	    bool	yes/no, true/false, on/off, 1/0 (any case)
 *	    username	a system user name: 1-32 of a-z, 0-9, '_', '-',
 *			not starting with '-' (whether it exists is for
 *			maild to check, only when it runs as root)
 *
 *	An empty value ("relayhost =") leaves an optional key unset (or its
 *	list empty); a required key or a key with a default refuses it.
 *
 *	After the file is read: state_dir and mail_dir must be present;
 *	hostname defaults to gethostname(2), log to syslog,
 *	message_size_limit to 52428800, allow_plaintext_auth to no; a
 *	listener left unset is not opened. tls_cert and tls_key go together;
 *	listen_submissions, listen_pop3s, listen_imaps and tls_sni need
 *	them. pop3_idle_timeout is at least 10m (RFC 1939). No two
 *	listeners may share a port on the same address, or on the same port
 *	where one of them is the wildcard (0.0.0.0, or [::]) of the same
 *	family; [::] and 0.0.0.0 may share a port, since maild binds IPv6
 *	listeners with IPV6_V6ONLY.
 *
 *	Paths are checked for syntax only: whether the file exists is left
 *	to the program that opens it (and to mailctl check), so a config can
 *	be loaded before its folders are made. Relative paths are resolved
 *	against the folder of the config file, made absolute with getcwd(3)
 *	when the file was named by a relative path, and "." components and
 *	repeated slashes are dropped; ".." is kept as written.
 *
 *	config_load() fills cfg (which it clears first) or, on failure,
 *	leaves it empty. config_free() releases it and may be called twice.
 *	config_is_local_domain() compares a domain with the domains list,
 *	ignoring ASCII case; the caller strips any trailing dot first.
 *	config_listener() returns the i-th listener field in a fixed order
 *	(smtp, submission, submissions, pop3, pop3s, imap, imaps), set or
 *	not, with its key name, and NULL past the last.
 *
 * DIAGNOSTICS
 *	config_load: 0, or -1 with errno and one line in err, always
 *	starting with the file name. A file that cannot be opened or read
 *	keeps the errno of open(2)/read(2) (ENOENT, EACCES, EIO:
 *	temporary) and says "FILE: cannot open: REASON". Anything wrong in
 *	the content gives EINVAL (permanent until the file is fixed), EFBIG
 *	for a file over CONFIG_FILE_MAX, and names the line:
 *
 *	    FILE:LINE: unknown key 'foo'
 *	    FILE:LINE: key 'hostname' given twice (first on line 3)
 *	    FILE:LINE: missing '=' (expected 'key = value')
 *	    FILE:LINE: listen_smtp: port out of range '99999'
 *	    FILE:LINE: line longer than 4096 octets
 *	    FILE: missing required key 'mail_dir'
 *
 * SECURITY
 *	No privileges; maild reads the file as root before it drops them,
 *	so the reader is bounded everywhere (line and file size caps, no
 *	recursion, no includes). The file is trusted to say what the
 *	operator wants, but not to be well formed: NUL and control octets
 *	are refused, so no value holds one.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cidr.h"
#include "config.h"
#include "str.h"

enum ctype {
	T_STRING,		/* any text (no key uses it yet) */
	T_USERNAME,		/* a system user name */
	T_HOSTNAME,
	T_DOMAINS,
	T_PATH,
	T_LOG,
	T_LISTEN,
	T_HOSTPORT,
	T_SERVERS,
	T_CIDRS,
	T_SIZE,
	T_BOOL,
	T_COUNT,		/* a whole number 0..CONFIG_COUNT_MAX */
	T_DURATION,		/* seconds, or a number with s, m, h or d */
};

#define F_REQUIRED	0x01	/* the file must give it */
#define F_EMPTY_OK	0x02	/* "key =" leaves it unset or empty */
#define F_TLS		0x04	/* listener needs tls_cert, tls_key */
#define F_SYSHOST	0x08	/* default: the system's host name */
#define F_NONZERO	0x10	/* a count or duration of at least 1 */

struct key {
	const char *name;
	enum ctype type;
	size_t offset;		/* of the field in struct config */
	int flags;
	const char *def;	/* default, parsed like a value; NULL: none */
};

#define KEY(field, type, flags, def) \
	{ #field, (type), offsetof(struct config, field), (flags), (def) }

static const struct key keys[] = {
	KEY(hostname, T_HOSTNAME, F_SYSHOST, NULL),
	KEY(domains, T_DOMAINS, F_EMPTY_OK, NULL),
	KEY(state_dir, T_PATH, F_REQUIRED, NULL),
	KEY(mail_dir, T_PATH, F_REQUIRED, NULL),
	KEY(users, T_PATH, F_EMPTY_OK, NULL),
	KEY(aliases, T_PATH, F_EMPTY_OK, NULL),
	KEY(log, T_LOG, 0, "syslog"),
	KEY(listen_smtp, T_LISTEN, F_EMPTY_OK, NULL),
	KEY(listen_submission, T_LISTEN, F_EMPTY_OK, NULL),
	KEY(listen_submissions, T_LISTEN, F_EMPTY_OK | F_TLS, NULL),
	KEY(listen_pop3, T_LISTEN, F_EMPTY_OK, NULL),
	KEY(listen_pop3s, T_LISTEN, F_EMPTY_OK | F_TLS, NULL),
	KEY(listen_imap, T_LISTEN, F_EMPTY_OK, NULL),
	KEY(listen_imaps, T_LISTEN, F_EMPTY_OK | F_TLS, NULL),
	KEY(tls_cert, T_PATH, F_EMPTY_OK, NULL),
	KEY(tls_key, T_PATH, F_EMPTY_OK, NULL),
	KEY(tls_sni, T_PATH, F_EMPTY_OK, NULL),
	KEY(relay_networks, T_CIDRS, F_EMPTY_OK, NULL),
	KEY(relayhost, T_HOSTPORT, F_EMPTY_OK, NULL),
	KEY(transport, T_PATH, F_EMPTY_OK, NULL),
	KEY(dns_servers, T_SERVERS, F_EMPTY_OK, NULL),
	KEY(message_size_limit, T_SIZE, 0, "52428800"),
	KEY(allow_plaintext_auth, T_BOOL, 0, "no"),
	KEY(max_sessions, T_COUNT, 0, "500"),
	KEY(max_sessions_per_ip, T_COUNT, 0, "20"),
	KEY(max_connection_rate, T_COUNT, 0, "600"),
	KEY(shutdown_grace, T_DURATION, 0, "10s"),
	KEY(queue_retry_min, T_DURATION, F_NONZERO, "5m"),
	KEY(queue_retry_max, T_DURATION, F_NONZERO, "4h"),
	KEY(queue_lifetime, T_DURATION, F_NONZERO, "5d"),
	KEY(queue_delay_warning, T_DURATION, 0, "4h"),
	KEY(queue_concurrency, T_COUNT, F_NONZERO, "20"),
	KEY(queue_destination_concurrency, T_COUNT, F_NONZERO, "10"),
	KEY(deliver_timeout, T_DURATION, F_NONZERO, "10m"),
	KEY(remote_timeout, T_DURATION, F_NONZERO, "1h"),
	KEY(bounce_size_limit, T_SIZE, 0, "100k"),
	KEY(hop_limit, T_COUNT, F_NONZERO, "100"),
	KEY(smtpd_timeout, T_DURATION, F_NONZERO, "5m"),
	KEY(smtpd_data_timeout, T_DURATION, F_NONZERO, "3m"),
	KEY(smtpd_tls_timeout, T_DURATION, F_NONZERO, "1m"),
	KEY(smtpd_min_data_rate, T_COUNT, 0, "500"),
	KEY(smtpd_max_recipients, T_COUNT, 0, "100"),
	KEY(smtpd_max_errors, T_COUNT, F_NONZERO, "20"),
	KEY(smtpd_max_unknown_commands, T_COUNT, F_NONZERO, "10"),
	KEY(smtpd_max_junk_commands, T_COUNT, F_NONZERO, "100"),
	KEY(smtpd_max_auth_failures, T_COUNT, F_NONZERO, "3"),
	KEY(smtpd_vrfy_authenticated, T_BOOL, 0, "no"),
	KEY(imap_max_sessions_per_user_ip, T_COUNT, F_NONZERO, "10"),
	KEY(imap_idle_timeout, T_DURATION, F_NONZERO, "30m"),
	KEY(imap_login_timeout, T_DURATION, F_NONZERO, "1m"),
	KEY(imap_command_timeout, T_DURATION, F_NONZERO, "5m"),
	KEY(imap_literal_max, T_SIZE, 0, "64k"),
	KEY(pop3_idle_timeout, T_DURATION, F_NONZERO, "10m"),
	KEY(pop3_tls_timeout, T_DURATION, F_NONZERO, "1m"),
	KEY(pop3_min_send_rate, T_COUNT, 0, "1024"),
	KEY(tls_policy, T_PATH, F_EMPTY_OK, NULL),
	KEY(remote_tls_ca_file, T_PATH, F_EMPTY_OK, NULL),
	KEY(remote_credentials, T_PATH, F_EMPTY_OK, NULL),
	KEY(remote_connect_timeout, T_DURATION, F_NONZERO, "30s"),
	KEY(remote_greeting_timeout, T_DURATION, F_NONZERO, "5m"),
	KEY(remote_mail_timeout, T_DURATION, F_NONZERO, "5m"),
	KEY(remote_rcpt_timeout, T_DURATION, F_NONZERO, "5m"),
	KEY(remote_data_timeout, T_DURATION, F_NONZERO, "2m"),
	KEY(remote_block_timeout, T_DURATION, F_NONZERO, "3m"),
	KEY(remote_dot_timeout, T_DURATION, F_NONZERO, "10m"),
	KEY(dns_timeout, T_DURATION, F_NONZERO, "5s"),
	KEY(privilege_separation, T_BOOL, 0, "yes"),
	KEY(user_smtpd, T_USERNAME, 0, "mailsmtpd"),
	KEY(user_queue, T_USERNAME, 0, "mailq"),
	KEY(user_remote, T_USERNAME, 0, "mailremote"),
	KEY(user_auth, T_USERNAME, 0, "mailauth"),
	KEY(user_login, T_USERNAME, 0, "maillogin"),
	KEY(user_mail, T_USERNAME, 0, "vmail"),
};

#define N_KEYS	(sizeof(keys) / sizeof(keys[0]))

/* The state of one config_load(). */
struct loader {
	struct config *cfg;
	const char *path;
	struct buf *err;
	unsigned long line[N_KEYS];	/* where each key was set; 0: not */
};

/* fail - set err to "FILE:LINE: ..." (or "FILE: ..." for line 0), EINVAL */
static int __attribute__((format(printf, 3, 4)))
fail(struct loader *ld, unsigned long line, const char *fmt, ...)
{
	va_list ap;

	if (ld->err != NULL) {
		buf_reset(ld->err);
		if (line > 0)
			(void)buf_printf(ld->err, "%s:%lu: ", ld->path, line);
		else
			(void)buf_printf(ld->err, "%s: ", ld->path);
		va_start(ap, fmt);
		(void)buf_vprintf(ld->err, fmt, ap);
		va_end(ap);
	}
	errno = EINVAL;
	return -1;
}

/* why - set the reason a value is bad, and fail */
static int __attribute__((format(printf, 2, 3)))
why(struct buf *w, const char *fmt, ...)
{
	va_list ap;

	buf_reset(w);
	va_start(ap, fmt);
	(void)buf_vprintf(w, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

/* field - the address of a key's field in cfg */
static void *
field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

/* key_index - the row of a key by name, or -1 */
static int
key_index(const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* valid_domain - 1 if s is a DNS name as described in the header */
static int
valid_domain(const char *s)
{
	size_t i, label = 0, total = strlen(s);
	int digits_only = 1;
	char prev = '.';

	if (total == 0 || total > 253)
		return 0;
	for (i = 0; i < total; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
			digits_only = 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			if (c == '-' && label == 0)
				return 0;
			if (++label > 63)
				return 0;
			if (c < '0' || c > '9')
				digits_only = 0;
		} else
			return 0;
		prev = c;
	}
	return label > 0 && prev != '-' && !digits_only;
}

/* clean_path - drop "." components and repeated slashes, in place */
static void
clean_path(char *p)
{
	char *r = p, *w = p + 1;

	/* p starts with '/' */
	while (*r != '\0') {
		char *start;
		size_t len;

		while (*r == '/')
			r++;
		if (*r == '\0')
			break;
		start = r;
		while (*r != '\0' && *r != '/')
			r++;
		len = (size_t)(r - start);
		if (len == 1 && start[0] == '.')
			continue;
		if (w > p + 1)
			*w++ = '/';
		memmove(w, start, len);
		w += len;
	}
	*w = '\0';
}

/* resolve_path - value as an absolute path, relative ones against dir */
static int
resolve_path(const char *dir, const char *value, char **path_r,
    struct buf *w)
{
	struct buf b = BUF_INIT(2 * PATH_MAX + CONFIG_LINE_MAX);

	if (value[0] != '/') {
		(void)buf_append_str(&b, dir);
		(void)buf_append_char(&b, '/');
	}
	(void)buf_append_str(&b, value);
	clean_path(b.data);
	if (strlen(b.data) >= PATH_MAX) {
		buf_free(&b);
		return why(w, "path too long '%s'", value);
	}
	*path_r = alloc_strdup(b.data);
	buf_free(&b);
	return 0;
}

/* parse_port - a decimal port 1-65535 */
static int
parse_port(const char *s, unsigned *port_r, struct buf *w)
{
	uint64_t v;

	if (str_parse_u64(s, strlen(s), 65535, &v) < 0) {
		if (errno == ERANGE)
			return why(w, "port out of range '%s'", s);
		return why(w, "bad port '%s'", s);
	}
	if (v == 0)
		return why(w, "port out of range '%s'", s);
	*port_r = (unsigned)v;
	return 0;
}

/*
 * split_host_port - cut s into host and port (NULL if none)
 *
 * "[h]:p", "[h]", "h:p" and "h"; a host with two or more colons and no
 * brackets is a bare IPv6 address and has no port (*bare6_r = 1).
 */
static int
split_host_port(char *s, const char *orig, char **host_r, char **port_r,
    int *bracket_r, int *bare6_r, struct buf *w)
{
	char *colon;

	*port_r = NULL;
	*bracket_r = 0;
	*bare6_r = 0;
	if (s[0] == '[') {
		char *close = strchr(s, ']');

		if (close == NULL)
			return why(w, "missing ']' in '%s'", orig);
		*close = '\0';
		*host_r = s + 1;
		*bracket_r = 1;
		if (close[1] == ':')
			*port_r = close + 2;
		else if (close[1] != '\0')
			return why(w, "unexpected text after ']' in '%s'",
			    orig);
		return 0;
	}
	*host_r = s;
	colon = strchr(s, ':');
	if (colon == NULL)
		return 0;
	if (strchr(colon + 1, ':') != NULL) {
		*bare6_r = 1;
		return 0;
	}
	*colon = '\0';
	*port_r = colon + 1;
	return 0;
}

/* parse_listen - IPV4:PORT or [IPV6]:PORT into a listener */
static int
parse_listen(char *s, struct config_listen *l, struct buf *w)
{
	char *orig = alloc_strdup(s), *host, *port;
	int bracket, bare6, r = -1;
	struct config_listen n;

	memset(&n, 0, sizeof(n));
	if (split_host_port(s, orig, &host, &port, &bracket, &bare6, w) < 0)
		goto out;
	if (bare6) {
		why(w, "IPv6 address needs brackets in '%s' "
		    "(use [ADDRESS]:PORT)", orig);
		goto out;
	}
	if (port == NULL) {
		why(w, "missing port in '%s' (use ADDRESS:PORT)", orig);
		goto out;
	}
	if (bracket) {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
			why(w, "bad IPv6 address in '%s'", orig);
			goto out;
		}
		sin6.sin6_family = AF_INET6;
		memcpy(&n.addr, &sin6, sizeof(sin6));
		n.addrlen = sizeof(sin6);
	} else {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
			why(w, "host must be an IP address in '%s' "
			    "(0.0.0.0 or [::] for every address)", orig);
			goto out;
		}
		sin.sin_family = AF_INET;
		memcpy(&n.addr, &sin, sizeof(sin));
		n.addrlen = sizeof(sin);
	}
	if (parse_port(port, &n.port, w) < 0)
		goto out;
	if (n.addr.ss_family == AF_INET6) {
		struct sockaddr_in6 *p6 = (struct sockaddr_in6 *)&n.addr;

		p6->sin6_port = htons((uint16_t)n.port);
		(void)inet_ntop(AF_INET6, &p6->sin6_addr, n.host,
		    sizeof(n.host));
	} else {
		struct sockaddr_in *p4 = (struct sockaddr_in *)&n.addr;

		p4->sin_port = htons((uint16_t)n.port);
		(void)inet_ntop(AF_INET, &p4->sin_addr, n.host,
		    sizeof(n.host));
	}
	n.set = 1;
	*l = n;
	r = 0;
out:
	free(orig);
	return r;
}

/* parse_hostport - HOST[:PORT] or [HOST][:PORT], port 25 by default */
static int
parse_hostport(char *s, struct config_hostport *hp, struct buf *w)
{
	char *orig = alloc_strdup(s), *host, *port;
	unsigned char a[16];
	unsigned p = 25;
	int bracket, bare6, r = -1;

	if (split_host_port(s, orig, &host, &port, &bracket, &bare6, w) < 0)
		goto out;
	if (bare6) {
		why(w, "IPv6 address needs brackets in '%s' "
		    "(use [ADDRESS]:PORT)", orig);
		goto out;
	}
	if (!(bracket && inet_pton(AF_INET6, host, a) == 1) &&
	    inet_pton(AF_INET, host, a) != 1 && !valid_domain(host)) {
		why(w, "bad host '%s'", orig);
		goto out;
	}
	if (port != NULL && parse_port(port, &p, w) < 0)
		goto out;
	hp->host = alloc_strdup(host);
	str_lower(hp->host);
	hp->port = p;
	r = 0;
out:
	free(orig);
	return r;
}

/* parse_server - one of dns_servers: IPV4[:PORT], IPV6, [IPV6][:PORT] */
static int
parse_server(char *s, struct config_server *sv, struct buf *w)
{
	char *orig = alloc_strdup(s), *host, *port;
	unsigned char a[16];
	int bracket, bare6, r = -1;

	memset(sv, 0, sizeof(*sv));
	sv->port = 53;
	if (split_host_port(s, orig, &host, &port, &bracket, &bare6, w) < 0)
		goto out;
	if (bracket || bare6) {
		if (inet_pton(AF_INET6, host, a) != 1) {
			why(w, "bad IPv6 address in '%s'", orig);
			goto out;
		}
		sv->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, host, a) != 1) {
			why(w, "not an IP address '%s'", orig);
			goto out;
		}
		sv->family = AF_INET;
	}
	if (port != NULL && parse_port(port, &sv->port, w) < 0)
		goto out;
	(void)inet_ntop(sv->family, a, sv->host, sizeof(sv->host));
	r = 0;
out:
	free(orig);
	return r;
}

/* next_word - the next blank-separated word of *sp, NUL-terminated */
static char *
next_word(char **sp)
{
	char *s = *sp, *word;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	word = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return word;
}

/* parse_domains - a blank-separated list of domain names */
static int
parse_domains(char *s, struct config_strings *l, struct buf *w)
{
	struct config_strings n = { NULL, 0 };
	char *word;
	size_t i;

	while ((word = next_word(&s)) != NULL) {
		if (!valid_domain(word)) {
			why(w, "bad domain name '%s'", word);
			goto bad;
		}
		str_lower(word);
		for (i = 0; i < n.n; i++)
			if (strcmp(n.v[i], word) == 0) {
				why(w, "domain '%s' listed twice", word);
				goto bad;
			}
		n.v = alloc_reallocarray(n.v, n.n + 1, sizeof(*n.v));
		n.v[n.n++] = alloc_strdup(word);
	}
	*l = n;
	return 0;
bad:
	for (i = 0; i < n.n; i++)
		free(n.v[i]);
	free(n.v);
	errno = EINVAL;
	return -1;
}

/* parse_servers - a blank-separated list of resolver addresses */
static int
parse_servers(char *s, struct config_servers *l, struct buf *w)
{
	struct config_servers n = { NULL, 0 };
	char *word;

	while ((word = next_word(&s)) != NULL) {
		n.v = alloc_reallocarray(n.v, n.n + 1, sizeof(*n.v));
		if (parse_server(word, &n.v[n.n], w) < 0) {
			free(n.v);
			errno = EINVAL;
			return -1;
		}
		n.n++;
	}
	*l = n;
	return 0;
}

/* parse_size - bytes, with an optional k/M/G suffix */
static int
parse_size(const char *s, uint64_t *v_r, struct buf *w)
{
	size_t len = strlen(s);
	uint64_t mult = 1, v;
	int r;

	if (len > 0) {
		switch (s[len - 1]) {
		case 'k': case 'K':
			mult = 1024;
			break;
		case 'm': case 'M':
			mult = 1024 * 1024;
			break;
		case 'g': case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		}
		if (mult != 1)
			len--;
	}
	r = str_parse_u64(s, len, CONFIG_SIZE_MAX / mult, &v);
	if (r < 0) {
		if (errno == ERANGE)
			return why(w, "too large '%s' (at most %llu, 2G)", s,
			    (unsigned long long)CONFIG_SIZE_MAX);
		return why(w, "bad size '%s' (bytes, or a number with "
		    "k, M or G)", s);
	}
	if (v == 0)
		return why(w, "must be at least 1 byte '%s'", s);
	*v_r = v * mult;
	return 0;
}

/* parse_count - a whole number from 0 to CONFIG_COUNT_MAX */
static int
parse_count(const char *s, uint64_t *v_r, struct buf *w)
{
	if (str_parse_u64(s, strlen(s), CONFIG_COUNT_MAX, v_r) < 0) {
		if (errno == ERANGE)
			return why(w, "too large '%s' (at most %llu)", s,
			    (unsigned long long)CONFIG_COUNT_MAX);
		return why(w, "bad number '%s'", s);
	}
	return 0;
}

/* parse_duration - seconds, with an optional s/m/h/d/w suffix */
static int
parse_duration(const char *s, uint64_t *v_r, struct buf *w)
{
	size_t len = strlen(s);
	uint64_t mult = 1, v;

	if (len > 0) {
		switch (s[len - 1]) {
		case 's':
			mult = 1;
			len--;
			break;
		case 'm':
			mult = 60;
			len--;
			break;
		case 'h':
			mult = 3600;
			len--;
			break;
		case 'd':
			mult = 86400;
			len--;
			break;
		case 'w':
			mult = 7 * 86400;
			len--;
			break;
		}
	}
	if (str_parse_u64(s, len, CONFIG_DURATION_MAX / mult, &v) < 0) {
		if (errno == ERANGE)
			return why(w, "too long '%s' (at most %llu seconds)", s,
			    (unsigned long long)CONFIG_DURATION_MAX);
		return why(w, "bad duration '%s' (seconds, or a number with "
		    "s, m, h, d or w)", s);
	}
	*v_r = v * mult;
	return 0;
}

/* parse_bool - yes/no, true/false, on/off, 1/0 */
static int
parse_bool(const char *s, int *v_r, struct buf *w)
{
	if (str_eq_nocase(s, "yes") || str_eq_nocase(s, "true") ||
	    str_eq_nocase(s, "on") || strcmp(s, "1") == 0)
		*v_r = 1;
	else if (str_eq_nocase(s, "no") || str_eq_nocase(s, "false") ||
	    str_eq_nocase(s, "off") || strcmp(s, "0") == 0)
		*v_r = 0;
	else
		return why(w, "expected yes or no, not '%s'", s);
	return 0;
}

/* valid_username - 1-32 of [a-z0-9_-], not starting with '-' */
static int
valid_username(const char *s)
{
	size_t n;

	if (s[0] == '-')
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= 32 || !((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
		    s[n] == '-'))
			return 0;
	return n > 0;
}

/* parse_value - read value into the field of key k */
static int
parse_value(struct loader *ld, const struct key *k, char *value,
    struct buf *w)
{
	void *f = field(ld->cfg, k);

	switch (k->type) {
	case T_STRING:
		*(char **)f = alloc_strdup(value);
		return 0;
	case T_USERNAME:
		if (!valid_username(value))
			return why(w, "bad user name '%s' (1-32 of a-z 0-9 _ -,"
			    " not starting with '-')", value);
		*(char **)f = alloc_strdup(value);
		return 0;
	case T_HOSTNAME:
		if (!valid_domain(value))
			return why(w, "bad host name '%s'", value);
		*(char **)f = alloc_strdup(value);
		str_lower(*(char **)f);
		return 0;
	case T_DOMAINS:
		return parse_domains(value, f, w);
	case T_PATH:
		return resolve_path(ld->cfg->dir, value, f, w);
	case T_LOG:
		if (strcmp(value, "syslog") == 0 ||
		    strcmp(value, "stderr") == 0) {
			*(char **)f = alloc_strdup(value);
			return 0;
		}
		return resolve_path(ld->cfg->dir, value, f, w);
	case T_LISTEN:
		return parse_listen(value, f, w);
	case T_HOSTPORT:
		return parse_hostport(value, f, w);
	case T_SERVERS:
		return parse_servers(value, f, w);
	case T_CIDRS:
		return cidr_list_parse(f, value, w);
	case T_SIZE:
		return parse_size(value, f, w);
	case T_BOOL:
		return parse_bool(value, f, w);
	case T_COUNT:
	case T_DURATION:
		if ((k->type == T_COUNT ? parse_count(value, f, w) :
		    parse_duration(value, f, w)) < 0)
			return -1;
		if ((k->flags & F_NONZERO) && *(uint64_t *)f == 0)
			return why(w, "must be at least 1 '%s'", value);
		return 0;
	}
	return why(w, "internal error: unknown type");
}

/* free_value - release the field of key k */
static void
free_value(struct config *cfg, const struct key *k)
{
	void *f = field(cfg, k);
	size_t i;

	switch (k->type) {
	case T_STRING:
	case T_USERNAME:
	case T_HOSTNAME:
	case T_PATH:
	case T_LOG:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case T_DOMAINS: {
		struct config_strings *l = f;

		for (i = 0; i < l->n; i++)
			free(l->v[i]);
		free(l->v);
		l->v = NULL;
		l->n = 0;
		break;
	}
	case T_HOSTPORT: {
		struct config_hostport *hp = f;

		free(hp->host);
		hp->host = NULL;
		break;
	}
	case T_SERVERS: {
		struct config_servers *l = f;

		free(l->v);
		l->v = NULL;
		l->n = 0;
		break;
	}
	case T_CIDRS:
		cidr_list_free(f);
		break;
	case T_LISTEN:
	case T_SIZE:
	case T_BOOL:
	case T_COUNT:
	case T_DURATION:
		break;
	}
}

/* parse_line - one line of the file (NUL-terminated at len) */
static int
parse_line(struct loader *ld, char *line, size_t len, unsigned long lineno,
    struct buf *w)
{
	char *s, *eq, *key, *value, *q;
	const struct key *k;
	size_t i;
	int idx;

	if (len > CONFIG_LINE_MAX)
		return fail(ld, lineno, "line longer than %d octets",
		    CONFIG_LINE_MAX);
	if (memchr(line, '\0', len) != NULL)
		return fail(ld, lineno, "NUL byte in line");
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f)
			return fail(ld, lineno, "control character in line");
	s = str_trim(line);
	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (eq == NULL)
		return fail(ld, lineno, "missing '=' (expected 'key = value')");
	*eq = '\0';
	key = str_trim(s);
	value = eq + 1;
	for (q = value; *q != '\0'; q++)
		if (*q == '#' &&
		    (q == value || q[-1] == ' ' || q[-1] == '\t')) {
			*q = '\0';
			break;
		}
	value = str_trim(value);
	if (*key == '\0')
		return fail(ld, lineno, "missing key before '='");
	idx = key_index(key);
	if (idx < 0)
		return fail(ld, lineno, "unknown key '%s'", key);
	k = &keys[idx];
	if (ld->line[idx] != 0)
		return fail(ld, lineno, "key '%s' given twice (first on line "
		    "%lu)", key, ld->line[idx]);
	ld->line[idx] = lineno;
	if (*value == '\0') {
		if (k->flags & F_EMPTY_OK)
			return 0;
		return fail(ld, lineno, "%s: empty value", key);
	}
	if (parse_value(ld, k, value, w) < 0)
		return fail(ld, lineno, "%s: %s", key, buf_cstr(w));
	return 0;
}

/* read_file - the whole file into data */
static int
read_file(struct loader *ld, struct buf *data)
{
	char chunk[8192];
	ssize_t n;
	int fd, e;

	fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		if (ld->err != NULL) {
			buf_reset(ld->err);
			(void)buf_printf(ld->err, "%s: cannot open: %s",
			    ld->path, strerror(e));
		}
		errno = e;
		return -1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			(void)close(fd);
			if (ld->err != NULL) {
				buf_reset(ld->err);
				(void)buf_printf(ld->err, "%s: cannot read: %s",
				    ld->path, strerror(e));
			}
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		if (buf_append(data, chunk, (size_t)n) < 0) {
			(void)close(fd);
			fail(ld, 0, "file larger than %d octets",
			    CONFIG_FILE_MAX);
			errno = EFBIG;
			return -1;
		}
	}
	(void)close(fd);
	return 0;
}

/* set_dir - the absolute folder of the config file */
static int
set_dir(struct loader *ld)
{
	const char *slash = strrchr(ld->path, '/');
	struct buf b = BUF_INIT(2 * PATH_MAX);
	char cwd[PATH_MAX];

	if (ld->path[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			int e = errno;

			fail(ld, 0, "cannot find the current folder: %s",
			    strerror(e));
			errno = e;
			return -1;
		}
		(void)buf_append_str(&b, cwd);
		(void)buf_append_char(&b, '/');
	}
	if (slash != NULL)
		(void)buf_append(&b, ld->path, (size_t)(slash - ld->path) + 1);
	if (b.len == 0)
		(void)buf_append_char(&b, '/');
	clean_path(b.data);
	ld->cfg->dir = alloc_strdup(b.data);
	buf_free(&b);
	return 0;
}

/* system_hostname - the default hostname: gethostname(2) */
static int
system_hostname(struct loader *ld)
{
	char h[256];

	memset(h, 0, sizeof(h));
	if (gethostname(h, sizeof(h) - 1) < 0) {
		int e = errno;

		fail(ld, 0, "hostname not set, and gethostname failed: %s",
		    strerror(e));
		return -1;
	}
	if (!valid_domain(h))
		return fail(ld, 0, "hostname not set, and the system's host "
		    "name '%s' is not a valid DNS name", h);
	ld->cfg->hostname = alloc_strdup(h);
	str_lower(ld->cfg->hostname);
	return 0;
}

/* apply_defaults - default every key the file left out */
static int
apply_defaults(struct loader *ld, struct buf *w)
{
	char *copy;
	size_t i;
	int r;

	for (i = 0; i < N_KEYS; i++)
		if (ld->line[i] == 0 && (keys[i].flags & F_REQUIRED))
			return fail(ld, 0, "missing required key '%s'",
			    keys[i].name);
	for (i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];

		if (ld->line[i] != 0)
			continue;
		if (k->flags & F_SYSHOST) {
			if (system_hostname(ld) < 0)
				return -1;
		} else if (k->def != NULL) {
			copy = alloc_strdup(k->def);
			r = parse_value(ld, k, copy, w);
			free(copy);
			if (r < 0)
				return fail(ld, 0, "%s: bad default: %s",
				    k->name, buf_cstr(w));
		}
	}
	return 0;
}

/* listen_text - "ADDRESS:PORT" or "[ADDRESS]:PORT" for messages */
static void
listen_text(const struct config_listen *l, char *out, size_t size)
{
	if (l->addr.ss_family == AF_INET6)
		(void)snprintf(out, size, "[%s]:%u", l->host, l->port);
	else
		(void)snprintf(out, size, "%s:%u", l->host, l->port);
}

/* is_wildcard - 1 if the listener is on 0.0.0.0 or [::] */
static int
is_wildcard(const struct config_listen *l)
{
	return strcmp(l->host, "0.0.0.0") == 0 || strcmp(l->host, "::") == 0;
}

/* check_listeners - no two listeners on one address and port */
static int
check_listeners(struct loader *ld)
{
	size_t i, j;

	for (i = 0; i < N_KEYS; i++) {
		const struct config_listen *a = field(ld->cfg, &keys[i]);

		if (keys[i].type != T_LISTEN || !a->set)
			continue;
		for (j = i + 1; j < N_KEYS; j++) {
			const struct config_listen *b;
			size_t first = i, later = j;
			char ta[64], tb[64];

			b = field(ld->cfg, &keys[j]);
			if (keys[j].type != T_LISTEN || !b->set)
				continue;
			if (a->port != b->port ||
			    a->addr.ss_family != b->addr.ss_family)
				continue;
			if (ld->line[j] < ld->line[i]) {
				first = j;
				later = i;
			}
			listen_text(field(ld->cfg, &keys[first]), ta,
			    sizeof(ta));
			listen_text(field(ld->cfg, &keys[later]), tb,
			    sizeof(tb));
			if (strcmp(a->host, b->host) == 0)
				return fail(ld, ld->line[later], "%s: address "
				    "%s already used by %s (line %lu)",
				    keys[later].name, tb, keys[first].name,
				    ld->line[first]);
			if (is_wildcard(a) || is_wildcard(b))
				return fail(ld, ld->line[later], "%s: address "
				    "%s overlaps %s = %s (line %lu)",
				    keys[later].name, tb, keys[first].name, ta,
				    ld->line[first]);
		}
	}
	return 0;
}

/* check_tls - tls_cert and tls_key together; TLS listeners, tls_sni need them */
static int
check_tls(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	int ic = key_index("tls_cert"), ik = key_index("tls_key");
	size_t i;

	if (cfg->tls_cert != NULL && cfg->tls_key == NULL)
		return fail(ld, ld->line[ic], "tls_cert is set but tls_key "
		    "is not");
	if (cfg->tls_cert == NULL && cfg->tls_key != NULL)
		return fail(ld, ld->line[ik], "tls_key is set but tls_cert "
		    "is not");
	if (cfg->tls_sni != NULL && cfg->tls_cert == NULL)
		return fail(ld, ld->line[key_index("tls_sni")], "tls_sni "
		    "needs tls_cert and tls_key (the default certificate)");
	for (i = 0; i < N_KEYS; i++) {
		const struct config_listen *l = field(cfg, &keys[i]);

		if (keys[i].type == T_LISTEN && (keys[i].flags & F_TLS) &&
		    l->set && cfg->tls_cert == NULL)
			return fail(ld, ld->line[i], "%s needs tls_cert and "
			    "tls_key", keys[i].name);
	}
	return 0;
}

/* check_queue - the retry back-off must be able to grow */
static int
check_queue(struct loader *ld)
{
	int imin = key_index("queue_retry_min"), imax = key_index("queue_retry_max");

	if (ld->cfg->queue_retry_max < ld->cfg->queue_retry_min)
		return fail(ld, ld->line[imax] > 0 ? ld->line[imax] :
		    ld->line[imin], "queue_retry_max (%llus) is shorter than "
		    "queue_retry_min (%llus)",
		    (unsigned long long)ld->cfg->queue_retry_max,
		    (unsigned long long)ld->cfg->queue_retry_min);
	return 0;
}

/* check_smtpd - RFC 5321 4.5.3.1.8: at least 100 recipients a message */
static int
check_smtpd(struct loader *ld)
{
	int i = key_index("smtpd_max_recipients");

	if (ld->cfg->smtpd_max_recipients < 100)
		return fail(ld, ld->line[i], "smtpd_max_recipients must be at "
		    "least 100 (RFC 5321 4.5.3.1.8), not %llu",
		    (unsigned long long)ld->cfg->smtpd_max_recipients);
	return 0;
}

/*
 * check_imapd - RFC 9051 5.4: an autologout timer after login runs for
 * at least 30 minutes; session slots are files, so at most 1000 of them
 */
static int
check_imapd(struct loader *ld)
{
	int i = key_index("imap_idle_timeout");
	int j = key_index("imap_max_sessions_per_user_ip");

	if (ld->cfg->imap_idle_timeout < 1800)
		return fail(ld, ld->line[i], "imap_idle_timeout must be at "
		    "least 30m (RFC 9051 5.4), not %llus",
		    (unsigned long long)ld->cfg->imap_idle_timeout);
	if (ld->cfg->imap_max_sessions_per_user_ip > 1000)
		return fail(ld, ld->line[j], "imap_max_sessions_per_user_ip "
		    "must be at most 1000, not %llu",
		    (unsigned long long)ld->cfg->imap_max_sessions_per_user_ip);
	return 0;
}

/* check_pop3d - RFC 1939 3: the autologout timer is at least 10 minutes */
static int
check_pop3d(struct loader *ld)
{
	int i = key_index("pop3_idle_timeout");

	if (ld->cfg->pop3_idle_timeout < 600)
		return fail(ld, ld->line[i], "pop3_idle_timeout must be at "
		    "least 10m (RFC 1939 3), not %llus",
		    (unsigned long long)ld->cfg->pop3_idle_timeout);
	return 0;
}

/* config_load - read the file at path into cfg */
int
config_load(const char *path, struct config *cfg, struct buf *err)
{
	struct loader ld;
	struct buf data = BUF_INIT(CONFIG_FILE_MAX);
	struct buf w = BUF_INIT(2 * CONFIG_LINE_MAX);
	unsigned long lineno = 0;
	char *p, *end;
	int e;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.path = path;
	ld.err = err;
	cfg->path = alloc_strdup(path);
	if (read_file(&ld, &data) < 0 || set_dir(&ld) < 0)
		goto bad;
	p = data.len > 0 ? data.data : NULL;
	end = data.len > 0 ? data.data + data.len : NULL;
	while (p != NULL && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		lineno++;
		p[len] = '\0';	/* the LF, or the buf's own NUL */
		if (parse_line(&ld, p, len, lineno, &w) < 0)
			goto bad;
		p += len + 1;
	}
	if (apply_defaults(&ld, &w) < 0 || check_tls(&ld) < 0 ||
	    check_listeners(&ld) < 0 || check_queue(&ld) < 0 ||
	    check_smtpd(&ld) < 0 || check_imapd(&ld) < 0 ||
	    check_pop3d(&ld) < 0)
		goto bad;
	buf_free(&data);
	buf_free(&w);
	return 0;
bad:
	e = errno;
	buf_free(&data);
	buf_free(&w);
	config_free(cfg);
	errno = e;
	return -1;
}

/* config_free - release everything cfg holds and clear it */
void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		free_value(cfg, &keys[i]);
	free(cfg->path);
	free(cfg->dir);
	memset(cfg, 0, sizeof(*cfg));
}

/* config_is_local_domain - 1 if domain is in domains (ASCII case ignored) */
int
config_is_local_domain(const struct config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->domains.n; i++)
		if (str_eq_nocase(cfg->domains.v[i], domain))
			return 1;
	return 0;
}

/* config_listener - the i-th listener field and its key, NULL past the end */
const struct config_listen *
config_listener(const struct config *cfg, size_t i, const char **key_r)
{
	size_t k;

	for (k = 0; k < N_KEYS; k++) {
		if (keys[k].type != T_LISTEN)
			continue;
		if (i-- == 0) {
			if (key_r != NULL)
				*key_r = keys[k].name;
			return (const struct config_listen *)
			    ((const char *)cfg + keys[k].offset);
		}
	}
	return NULL;
}
