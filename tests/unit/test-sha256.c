/* test-sha256 - our SHA-256 against the standard's examples and OpenSSL */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sha256.h"
#include "test.h"

/* hex - out as lower-case hex into s (65 octets) */
static void
hex(const uint8_t *out, char *s)
{
	int i;

	for (i = 0; i < SHA256_LEN; i++)
		(void)snprintf(s + 2 * i, 3, "%02x", out[i]);
}

int
main(void)
{
	static uint8_t data[1000];
	uint8_t ours[SHA256_LEN], theirs[EVP_MAX_MD_SIZE];
	unsigned len, n, i, bad = 0, seed = 12345;
	char s[2 * SHA256_LEN + 1];

	TEST_BEGIN("sha256: the empty message");
	sha256("", 0, ours);
	hex(ours, s);
	TEST_ASSERT_STR(s, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	    "a495991b7852b855");
	TEST_END();
	TEST_BEGIN("sha256: \"abc\" (FIPS 180-4 example)");
	sha256("abc", 3, ours);
	hex(ours, s);
	TEST_ASSERT_STR(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
	    "b410ff61f20015ad");
	TEST_END();
	TEST_BEGIN("sha256: the two-block example of 448 bits");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    ours);
	hex(ours, s);
	TEST_ASSERT_STR(s, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167"
	    "f6ecedd419db06c1");
	TEST_END();
	TEST_BEGIN("sha256: every length 0..1000 agrees with OpenSSL");
	for (i = 0; i < sizeof(data); i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (uint8_t)(seed >> 16);
	}
	for (n = 0; n <= sizeof(data); n++) {
		sha256(data, n, ours);
		if (EVP_Digest(data, n, theirs, &len, EVP_sha256(), NULL) != 1 ||
		    len != SHA256_LEN || memcmp(ours, theirs, SHA256_LEN) != 0)
			bad++;
	}
	TEST_ASSERT_INT(bad, 0);
	TEST_END();
	return test_summary("test-sha256");
}
