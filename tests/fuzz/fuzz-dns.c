/*
 * fuzz-dns - DNS answers as remote(8) gets them from the network
 *
 * The input is a whole DNS message; the first octet picks the question
 * type (MX, A, AAAA or CNAME) and the name asked is fixed. Checks: the
 * parser returns, every kept MX host is a host name or the root, at most
 * DNS_MX_MAX and DNS_ADDR_MAX records are kept, every address has a
 * family, the CNAME count stays within DNS_CNAME_MAX; then the MX list is
 * ordered and must come out sorted by preference with nothing lost.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* counter - a deterministic "random" source */
static uint32_t
counter(uint32_t bound)
{
	static uint32_t n;

	return n++ % bound;
}

/* LLVMFuzzerTestOneInput - parse, check, order */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[4] = { DNS_TYPE_MX, DNS_TYPE_A, DNS_TYPE_AAAA,
	    DNS_TYPE_CNAME };
	static struct dns_answer ans;
	const char *why = NULL;
	unsigned prev = 0;
	size_t i, n_before;
	int type;

	if (size < 1 || size > 65535)
		return 0;
	type = types[data[0] & 3];
	if (dns_parse_answer(data + 1, size - 1, "example.test", type, &ans,
	    &why) < 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (ans.n_mx > DNS_MX_MAX || ans.n_addr > DNS_ADDR_MAX ||
	    ans.cnames > DNS_CNAME_MAX || strlen(ans.name) > DNS_NAME_MAX)
		abort();
	if (type != DNS_TYPE_MX && ans.n_mx != 0)
		abort();
	if (type != DNS_TYPE_A && type != DNS_TYPE_AAAA && ans.n_addr != 0)
		abort();
	for (i = 0; i < ans.n_mx; i++)
		if (ans.mx[i].host[0] != '\0' &&
		    !dns_is_hostname(ans.mx[i].host))
			abort();
	for (i = 0; i < ans.n_addr; i++)
		if (ans.addr[i].family != (type == DNS_TYPE_A ? AF_INET :
		    AF_INET6))
			abort();
	n_before = ans.n_mx;
	dns_mx_order(ans.mx, ans.n_mx, counter);
	for (i = 0; i < n_before; i++) {
		if (ans.mx[i].pref < prev)
			abort();
		prev = ans.mx[i].pref;
	}
	return 0;
}
