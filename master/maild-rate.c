/*
 * NAME
 *	maild-rate - how fast one client address may open connections
 *
 * SYNOPSIS
 *	int rate_allow(struct maild *m, int listener,
 *	    const struct sockaddr_storage *peer, time_t now);
 *
 * DESCRIPTION
 *	max_connection_rate bounds the new connections one client address
 *	may open on one listener in a minute (fixed one-minute windows per
 *	address; 0: no bound). rate_allow() counts the connection and says
 *	whether it is within the bound; the caller refuses it politely
 *	otherwise. IPv6 clients are counted by their /64, like the login
 *	throttle, so one host cannot step around the bound by changing
 *	its interface identifier.
 *
 *	The counts live in a fixed table of RATE_SLOTS entries. A probe
 *	looks at RATE_PROBE slots; when all are taken by other addresses
 *	the one whose window is oldest is reused, so a flood of addresses
 *	costs bounded memory and time and at worst forgets an old count.
 *
 * DIAGNOSTICS
 *	None: the table never fails.
 */
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "maild.h"

#define RATE_SLOTS	4096
#define RATE_PROBE	16
#define RATE_WINDOW	60	/* seconds */

struct rate_slot {
	unsigned char key[17];	/* listener, then 16 address octets */
	int used;
	time_t window;		/* start of the current window */
	uint64_t count;		/* connections in it */
};

static struct rate_slot slots[RATE_SLOTS];

/* make_key - the listener and the client's address (IPv6: its /64) */
static void
make_key(int listener, const struct sockaddr_storage *peer,
    unsigned char key[17])
{
	memset(key, 0, 17);
	key[0] = (unsigned char)listener;
	if (peer->ss_family == AF_INET)
		memcpy(key + 1,
		    &((const struct sockaddr_in *)peer)->sin_addr, 4);
	else if (peer->ss_family == AF_INET6)
		memcpy(key + 1,
		    &((const struct sockaddr_in6 *)peer)->sin6_addr, 8);
}

/* hash - FNV-1a of the key */
static uint32_t
hash(const unsigned char key[17])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/* rate_allow - count a connection; 1 if within max_connection_rate */
int
rate_allow(struct maild *m, int listener,
    const struct sockaddr_storage *peer, time_t now)
{
	unsigned char key[17];
	struct rate_slot *s, *victim = NULL;
	uint32_t h;
	int i;

	if (m->cfg.max_connection_rate == 0)
		return 1;
	make_key(listener, peer, key);
	h = hash(key);
	for (i = 0; i < RATE_PROBE; i++) {
		s = &slots[(h + (uint32_t)i) % RATE_SLOTS];
		if (s->used && memcmp(s->key, key, sizeof(key)) == 0)
			break;
		if (victim == NULL || !s->used ||
		    (victim->used && s->window < victim->window))
			victim = s;
		s = NULL;
	}
	if (s == NULL) {
		s = victim;
		memcpy(s->key, key, sizeof(key));
		s->used = 1;
		s->window = now;
		s->count = 0;
	}
	if (now - s->window >= RATE_WINDOW || now < s->window) {
		s->window = now;
		s->count = 0;
	}
	s->count++;
	return s->count <= m->cfg.max_connection_rate;
}
