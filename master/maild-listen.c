/*
 * NAME
 *	maild-listen - listening sockets and the sessions they start
 *
 * SYNOPSIS
 *	void listeners_init(struct maild *m);
 *	int listeners_check_programs(struct maild *m, struct buf *err);
 *	int listeners_open(struct maild *m, struct buf *err);
 *	void listeners_reload(struct maild *m);
 *	void listeners_close(struct maild *m);
 *	void listeners_accept(struct maild *m, int i);
 *	int sessions_reap(struct maild *m, pid_t pid, int status);
 *	void sessions_kill(struct maild *m, int sig);
 *
 * DESCRIPTION
 *	Each listen_* key that is set becomes one listening socket (IPv6
 *	sockets are IPV6_V6ONLY, so [::]:25 and 0.0.0.0:25 may both be set).
 *	Each accepted connection becomes one child process running the
 *	listener's program ("smtpd -c CONFIG -m smtp", ...) with the
 *	connection on its fd 0 and 1. Before that, three limits are checked:
 *	max_sessions on the listener, max_sessions_per_ip for the client's
 *	address on it, and max_connection_rate, its new connections in a
 *	minute (maild-rate.c). A client over a limit gets the listener's
 *	polite refusal (421 4.7.0, -ERR [SYS/TEMP], * BYE [UNAVAILABLE];
 *	nothing on an implicit-TLS port, where plaintext would be noise) and
 *	is disconnected; the refusal and the reason are logged.
 *
 *	listeners_reload() compares the listeners with a freshly loaded
 *	config: one whose address changed or that was unset is closed, a new
 *	one is bound; sessions already running are left alone.
 *
 * DIAGNOSTICS
 *	listeners_open: -1 with the first failure in err ("listen_smtp:
 *	cannot bind 127.0.0.1:25: Address already in use"), temporary.
 *	listeners_check_programs: -1 when a listener's program is not
 *	installed (a configuration error). Accept failures are logged and
 *	the listener stays open.
 *
 * SECURITY
 *	Runs in maild, which never reads from a connection: it only counts
 *	it, writes one fixed line when refusing it, and hands it on.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "maild.h"
#include "progpath.h"

static const struct {
	const char *key, *program, *mode, *busy_reply;
} services[MAILD_LISTENERS] = {
	{ "listen_smtp", "smtpd", "smtp",
	    "421 4.7.0 Too many connections, try again later\r\n" },
	{ "listen_submission", "smtpd", "submission",
	    "421 4.7.0 Too many connections, try again later\r\n" },
	{ "listen_submissions", "smtpd", "submissions", NULL },
	{ "listen_pop3", "pop3d", "pop3",
	    "-ERR [SYS/TEMP] Too many connections, try again later\r\n" },
	{ "listen_pop3s", "pop3d", "pop3s", NULL },
	{ "listen_imap", "imapd", "imap",
	    "* BYE [UNAVAILABLE] Too many connections, try again later\r\n" },
	{ "listen_imaps", "imapd", "imaps", NULL },
};

/* listen_conf - the config's listener for slot i (same order as services) */
static const struct config_listen *
listen_conf(const struct config *cfg, int i)
{
	const char *key = NULL;
	const struct config_listen *l = config_listener(cfg, (size_t)i, &key);

	if (l == NULL || key == NULL || strcmp(key, services[i].key) != 0)
		return NULL;	/* config.c changed its order: treat as unset */
	return l;
}

/* listeners_init - every listener closed */
void
listeners_init(struct maild *m)
{
	int i;

	for (i = 0; i < MAILD_LISTENERS; i++) {
		m->listeners[i].key = services[i].key;
		m->listeners[i].program = services[i].program;
		m->listeners[i].mode = services[i].mode;
		m->listeners[i].busy_reply = services[i].busy_reply;
		m->listeners[i].fd = -1;
		m->listeners[i].addrlen = 0;
	}
}

/* listeners_check_programs - every configured listener's program exists */
int
listeners_check_programs(struct maild *m, struct buf *err)
{
	struct buf path = BUF_INIT(4096);
	int i, r = 0;

	for (i = 0; i < MAILD_LISTENERS && r == 0; i++) {
		const struct config_listen *l = listen_conf(&m->cfg, i);

		if (l == NULL || !l->set)
			continue;
		if (progpath_sibling(services[i].program, &path) < 0 ||
		    access(buf_cstr(&path), X_OK) < 0) {
			buf_reset(err);
			(void)buf_printf(err, "%s: %s is set but %s is not "
			    "installed (%s)", m->config_path, services[i].key,
			    services[i].program, buf_cstr(&path));
			r = -1;
		}
	}
	buf_free(&path);
	return r;
}

/* bind_one - open listener i on l; -1 with err set */
static int
bind_one(struct maild *m, int i, const struct config_listen *l,
    struct buf *err)
{
	struct maild_listener *ml = &m->listeners[i];
	int fd, on = 1;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (l->addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		    sizeof(on));
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0 ||
	    listen(fd, 256) < 0) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
		goto fail;
	}
	ml->fd = fd;
	memcpy(&ml->addr, &l->addr, sizeof(ml->addr));
	ml->addrlen = l->addrlen;
	log_event(LOG_INFO, "event=listen service=%s address=%s port=%u",
	    ml->key, l->host, l->port);
	return 0;
fail:
	buf_reset(err);
	(void)buf_printf(err, "%s: cannot listen on %s port %u: %s", ml->key,
	    l->host, l->port, strerror(errno));
	return -1;
}

/* listeners_open - bind every configured listener */
int
listeners_open(struct maild *m, struct buf *err)
{
	int i;

	for (i = 0; i < MAILD_LISTENERS; i++) {
		const struct config_listen *l = listen_conf(&m->cfg, i);

		if (l != NULL && l->set && bind_one(m, i, l, err) < 0)
			return -1;
	}
	return 0;
}

/* close_one - close listener i */
static void
close_one(struct maild *m, int i)
{
	if (m->listeners[i].fd >= 0) {
		(void)close(m->listeners[i].fd);
		log_event(LOG_INFO, "event=unlisten service=%s",
		    m->listeners[i].key);
	}
	m->listeners[i].fd = -1;
	m->listeners[i].addrlen = 0;
}

/* listeners_reload - follow the (new) config: close, keep or bind each */
void
listeners_reload(struct maild *m)
{
	struct buf err = BUF_INIT(512);
	int i;

	for (i = 0; i < MAILD_LISTENERS; i++) {
		const struct config_listen *l = listen_conf(&m->cfg, i);
		struct maild_listener *ml = &m->listeners[i];
		int same = l != NULL && l->set && ml->fd >= 0 &&
		    l->addrlen == ml->addrlen &&
		    memcmp(&l->addr, &ml->addr, l->addrlen) == 0;

		if (same)
			continue;
		close_one(m, i);
		if (l != NULL && l->set && bind_one(m, i, l, &err) < 0)
			log_event(LOG_ERR, "event=reload error=\"%s\"",
			    buf_cstr(&err));
	}
	buf_free(&err);
}

/* listeners_close - close every listener (stop accepting) */
void
listeners_close(struct maild *m)
{
	int i;

	for (i = 0; i < MAILD_LISTENERS; i++)
		close_one(m, i);
}

/* same_host - 1 if a and b are the same IP address */
static int
same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 0;
}

/* peer_text - the client's address as text, for logs */
static void
peer_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	const void *a = NULL;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (a == NULL || inet_ntop(ss->ss_family, a, out, (socklen_t)size) ==
	    NULL)
		(void)snprintf(out, size, "unknown");
}

/* refuse - tell a client over a limit to come back later, and hang up */
static void
refuse(struct maild *m, int i, int fd, const char *client, const char *why)
{
	const char *reply = m->listeners[i].busy_reply;

	if (reply != NULL)
		(void)!send(fd, reply, strlen(reply),
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)close(fd);
	log_event(LOG_WARNING, "event=refused service=%s client=%s reason=%s",
	    m->listeners[i].key, client, why);
}

/* add_session - remember a running session */
static void
add_session(struct maild *m, pid_t pid, int i,
    const struct sockaddr_storage *peer)
{
	struct maild_session *s;

	if (m->n_sessions == m->cap_sessions) {
		m->cap_sessions = m->cap_sessions == 0 ? 64 :
		    m->cap_sessions * 2;
		m->sessions = alloc_reallocarray(m->sessions, m->cap_sessions,
		    sizeof(*m->sessions));
	}
	s = &m->sessions[m->n_sessions++];
	s->pid = pid;
	s->listener = i;
	memcpy(&s->peer, peer, sizeof(s->peer));
}

/* accept_one - take one connection from listener i; 0 when none waits */
static int
accept_one(struct maild *m, int i)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	uint64_t on_listener = 0, from_peer = 0;
	char client[INET6_ADDRSTRLEN];
	size_t k;
	pid_t pid;
	int fd;

	fd = accept4(m->listeners[i].fd, (struct sockaddr *)&peer, &len,
	    SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_event(LOG_ERR, "event=accept service=%s error=\"%s\"",
			    m->listeners[i].key, strerror(errno));
		return 0;
	}
	peer_text(&peer, client, sizeof(client));
	for (k = 0; k < m->n_sessions; k++) {
		if (m->sessions[k].listener != i)
			continue;
		on_listener++;
		if (same_host(&m->sessions[k].peer, &peer))
			from_peer++;
	}
	if (on_listener >= m->cfg.max_sessions)
		refuse(m, i, fd, client, "max_sessions");
	else if (from_peer >= m->cfg.max_sessions_per_ip)
		refuse(m, i, fd, client, "max_sessions_per_ip");
	else if (!rate_allow(m, i, &peer, time(NULL)))
		refuse(m, i, fd, client, "max_connection_rate");
	else {
		pid = maild_spawn(m, m->listeners[i].program,
		    m->listeners[i].mode, fd);
		(void)close(fd);
		if (pid > 0)
			add_session(m, pid, i, &peer);
	}
	return 1;
}

/* listeners_accept - take the connections waiting on listener i (bounded) */
void
listeners_accept(struct maild *m, int i)
{
	int n;

	for (n = 0; n < 64 && m->listeners[i].fd >= 0; n++)
		if (!accept_one(m, i))
			break;
}

/* sessions_reap - forget session pid if it is one; 1 if it was */
int
sessions_reap(struct maild *m, pid_t pid, int status)
{
	size_t k;

	for (k = 0; k < m->n_sessions; k++) {
		if (m->sessions[k].pid != pid)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGKILL) {
			char how[64];

			maild_describe_status(status, how, sizeof(how));
			log_event(LOG_WARNING, "event=session-died service=%s "
			    "program=%s pid=%ld status=\"%s\"",
			    m->listeners[m->sessions[k].listener].key,
			    m->listeners[m->sessions[k].listener].program,
			    (long)pid, how);
		}
		m->sessions[k] = m->sessions[--m->n_sessions];
		return 1;
	}
	return 0;
}

/* sessions_kill - send sig to every running session */
void
sessions_kill(struct maild *m, int sig)
{
	size_t k;

	for (k = 0; k < m->n_sessions; k++)
		(void)kill(m->sessions[k].pid, sig);
}
